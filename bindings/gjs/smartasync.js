// SPDX-License-Identifier: LGPL-2.1-or-later
//
// smartasync for gjs: promisifies the library's async methods once, and
// makes operations out of plain JavaScript functions.
//
//     import * as smartasync from './smartasync.js';
//     const load = smartasync.nonBlocking('load', async cancellable => ...);
//     const value = await Sa.Dispatcher.get_default().call_async(load, null);
//
// gjs runs JavaScript on the main thread only, and settles promises from
// the default main context. So a blocking operation written here is for
// sync callers (call_sync from a script with no loop running: async callers
// run blocking operations on worker threads), and a non-blocking one whose
// function awaits promises is for async callers (inside a running
// GLib.MainLoop). A non-blocking operation that completes from GIO
// callbacks, without promises, works for both (see tests/js/smoke.js).

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import Gio from 'gi://Gio';
import Sa from 'gi://Sa';

Gio._promisify(Sa.Dispatcher.prototype, 'call_async', 'call_finish');
Gio._promisify(Sa.Lock.prototype, 'call_async', 'call_finish');

/**
 * What Gio.Task.return_value() is handed for a JavaScript result: gjs
 * turns strings, numbers, booleans, GObjects and plain objects into a
 * GValue that comes back unchanged on the JavaScript side; null and
 * undefined come back as null. Arrays, which gjs cannot put in a GValue,
 * are refused: wrap them in an object.
 *
 * @param {*} v the result
 * @returns {*} something Gio.Task.return_value() accepts
 */
export function toValue(v) {
    if (Array.isArray(v))
        throw new TypeError('smartasync: return an object, not an array: gjs cannot put an array in a GValue');
    if (v === null || v === undefined) {
        const value = new GObject.Value();
        value.init(GObject.TYPE_STRING);
        value.set_string(null);
        return value;
    }
    return v;
}

function fail(task, e) {
    if (e instanceof GLib.Error)
        task.return_error(e);
    else
        task.return_error(new GLib.Error(Sa.error_quark(), Sa.Error.FAILED, `${e}`));
}

const NonBlocking = GObject.registerClass(class SaJsNonBlocking extends Sa.Operation {
    _init(name, fn) {
        super._init({kind: Sa.OperationKind.NON_BLOCKING, name});
        this._fn = fn;
    }

    vfunc_start(task, cancellable) {
        Promise.resolve()
            .then(() => this._fn(cancellable))
            .then(v => task.return_value(toValue(v)))
            .catch(e => fail(task, e));
    }
});

const Blocking = GObject.registerClass(class SaJsBlocking extends Sa.Operation {
    _init(name, fn) {
        super._init({kind: Sa.OperationKind.BLOCKING, name});
        this._fn = fn;
    }

    vfunc_run(task, cancellable) {
        try {
            task.return_value(toValue(this._fn(cancellable)));
        } catch (e) {
            fail(task, e);
        }
    }
});

/**
 * A non-blocking operation from a function that may return a promise.
 *
 * @param {string} name the operation's name, for traces and errors
 * @param {Function} fn called with the call's Gio.Cancellable (or null)
 * @returns {Sa.Operation} the operation
 */
export function nonBlocking(name, fn) {
    return new NonBlocking(name, fn);
}

/**
 * A blocking operation from a plain function (for sync callers).
 *
 * @param {string} name the operation's name
 * @param {Function} fn called with the call's Gio.Cancellable (or null)
 * @returns {Sa.Operation} the operation
 */
export function blocking(name, fn) {
    return new Blocking(name, fn);
}
