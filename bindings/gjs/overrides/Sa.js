// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The gjs override of Sa: gjs runs it when a program imports Sa
// (`import Sa from 'gi://Sa'`), as it does its own overrides of GLib and
// Gio. Installed as <datadir>/gjs-1.0/overrides/Sa.js, which gjs searches
// for every directory of XDG_DATA_DIRS (so /usr and /usr/local need
// nothing) and of GJS_PATH (set GJS_PATH=<prefix>/share/gjs-1.0 for any
// other prefix).
//
// It adds:
// - Sa.Dispatcher and Sa.Lock call_async() return a promise when given no
//   callback;
// - Sa.nonBlocking(name, fn) and Sa.blocking(name, fn): operations made of
//   JavaScript functions, which return their value or fail at once with a
//   GLib.Error naming the reason, for every caller;
// - calls that would run JavaScript on a worker thread (a JavaScript
//   blocking body for an async caller, run_in_thread(), an SaLock
//   execution started by a sync caller) fail at once with
//   G_IO_ERROR_NOT_SUPPORTED, naming the reason;
// - a result that is a JavaScript object with no GType of its own travels
//   in a carrier (Sa.toValue()), which call_sync() and call_finish() of
//   Sa unwrap (Sa.fromValue()): gjs does not keep such an object alive
//   inside a GValue;
// - a JavaScript exception thrown by such an operation reaches a
//   JavaScript caller as itself (same type, message and stack), and any
//   other caller as Sa.Error.FAILED with the message "TypeName: message".
//
// gjs runs JavaScript on the main thread only, and settles promises only
// while the global default main context is iterated. Hence the two rules
// below; docs/gjs.md explains them.

const {GLib, GObject, Gio} = imports.gi;

// A JavaScript error, by the message of the GError that carries it, for
// the JavaScript callers that read that GError. Bounded: the oldest go.
const thrown = new Map();
const MAX_THROWN = 64;

function errorName(e) {
    if (e !== null && typeof e === 'object' && typeof e.name === 'string')
        return e.name;
    return typeof e;
}

function errorMessage(e) {
    if (e !== null && typeof e === 'object' && 'message' in e)
        return `${e.message}`;
    return `${e}`;
}

function returnError(Sa, task, e) {
    if (e instanceof GLib.Error) {
        task.return_error(e);
        return;
    }
    const message = `${errorName(e)}: ${errorMessage(e)}`;
    thrown.delete(message);
    thrown.set(message, e);
    if (thrown.size > MAX_THROWN)
        thrown.delete(thrown.keys().next().value);
    task.return_error(new GLib.Error(Sa.error_quark(), Sa.Error.FAILED, message));
}

function unwrap(Sa, e) {
    if (e instanceof GLib.Error && e.matches(Sa.error_quark(), Sa.Error.FAILED) &&
        thrown.has(e.message))
        return thrown.get(e.message);
    return e;
}

// gjs puts a JavaScript object that has no GType of its own in a GValue as
// a "JSObject" box, which its garbage collector does not trace (gjs 1.74):
// the object can be collected, or moved, while a task still holds it, and
// reading it then crashes. A carrier is a GObject whose JavaScript wrapper
// holds the object, and gjs keeps a subclass's wrapper alive for as long as
// C holds a reference: the task's GValue holds the carrier, never the
// object itself.
const Carrier = GObject.registerClass({
    GTypeName: 'SaJsValue',
}, class Carrier extends GObject.Object {});

const JSOBJECT_GTYPE = Object.$gtype;

// Told by the prototype, not by own properties (an own `constructor` says
// nothing): GObjects, variants and boxed values go in as themselves, any
// other object (new Boolean(false) among them) in a carrier.
function needsCarrier(v) {
    if (v === null || typeof v !== 'object' || v instanceof GObject.Object ||
        v instanceof GLib.Variant)
        return false;
    const gtype = Object.getPrototypeOf(v)?.constructor?.$gtype;
    return gtype === undefined || gtype === JSOBJECT_GTYPE ||
        !GObject.type_is_a(gtype, GObject.TYPE_BOXED);
}

/**
 * What Gio.Task.return_value() is handed for a JavaScript result: gjs
 * turns strings, numbers, booleans, GObjects, boxed values and variants
 * into a GValue that comes back unchanged on the JavaScript side; any
 * other object (a plain object, an array, a typed array, an instance of a
 * JavaScript class) is held by an object of type SaJsValue, which
 * Sa.fromValue() and the call_sync()/call_finish() methods of Sa unwrap;
 * null and undefined come back as null. A BigInt comes back as a Number,
 * so one beyond Number.MAX_SAFE_INTEGER is refused (a RangeError).
 *
 * @param {*} v the result
 * @returns {*} something Gio.Task.return_value() accepts
 */
function toValue(v) {
    if (typeof v === 'bigint' &&
        (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)))
        throw new RangeError('Sa: a BigInt beyond Number.MAX_SAFE_INTEGER would come back rounded: ' +
            'return it as a string');
    if (v === null || v === undefined) {
        const value = new GObject.Value();
        value.init(GObject.TYPE_STRING);
        value.set_string(null);
        return value;
    }
    if (needsCarrier(v)) {
        const carrier = new Carrier();
        carrier._value = v;
        return carrier;
    }
    return v;
}

/**
 * A result as the operation returned it: the object a carrier of
 * Sa.toValue() holds, or @v itself. For a result read other than through
 * Sa's call_sync() and call_finish() methods (Gio.Task.propagate_value(),
 * say).
 *
 * @param {*} v a value read from a task
 * @returns {*} the JavaScript value
 */
function fromValue(v) {
    return v instanceof Carrier ? v._value : v;
}

// Completes @task with the function's result @v, or with the error of a
// result that cannot be a GValue: the caller hears of it either way.
function returnResult(Sa, task, v) {
    try {
        task.return_value(toValue(v));
    } catch (e) {
        returnError(Sa, task, e);
    }
}

function isThenable(v) {
    return v !== null && (typeof v === 'object' || typeof v === 'function') &&
        typeof v.then === 'function';
}

function isAsyncFunction(fn) {
    const name = Object.getPrototypeOf(fn)?.constructor?.name;
    return name === 'AsyncFunction' || name === 'AsyncGeneratorFunction';
}

// Promise jobs run from the global default main context only; an operation
// started with another thread-default context (a sync caller's private
// one) would wait for them for ever.
function promisesSettleHere() {
    return GLib.MainContext.get_thread_default() === null;
}

function _init() {
    const Sa = this;

    // call_sync() and call_finish() (and typed forms) throw a JavaScript
    // operation's own exception to a JavaScript caller, and return its
    // value out of its carrier.
    for (const klass of [Sa.Dispatcher, Sa.Lock]) {
        const proto = klass.prototype;
        for (const name of Object.getOwnPropertyNames(proto)) {
            if (!/^call_(sync|finish)/.test(name) || typeof proto[name] !== 'function')
                continue;
            const original = proto[name];
            proto[name] = function (...args) {
                let result;
                try {
                    result = original.apply(this, args);
                } catch (e) {
                    throw unwrap(Sa, e);
                }
                return fromValue(result);
            };
        }
        // gjs 1.74 reads an error of a function with a caller-allocated
        // GValue as "Don't know how to convert GType (null)", and never
        // frees the value it returns: the _value forms are the plain ones.
        proto.call_sync_value = function (...args) {
            return [true, this.call_sync(...args)];
        };
        proto.call_finish_value = function (result) {
            return [true, this.call_finish(result)];
        };
    }

    // A blocking operation whose body is JavaScript (a subclass overriding
    // run, or Sa.Operation.new_blocking() given a JavaScript function) runs
    // on a worker thread for an async caller, where gjs refuses to run it:
    // such a call fails at once, through a task of its own.
    const jsBodies = new WeakSet();
    const newBlocking = Sa.Operation.new_blocking;
    Sa.Operation.new_blocking = function (...args) {
        const op = newBlocking.apply(this, args);
        jsBodies.add(op);
        return op;
    };
    const isJsBlocking = op => op instanceof Sa.Operation &&
        op.kind === Sa.OperationKind.BLOCKING &&
        (jsBodies.has(op) || Object.getPrototypeOf(op) !== Sa.Operation.prototype);
    const onWorker = (owner, op, mode) => {
        if (!isJsBlocking(op))
            return null;
        const dispatcher = owner instanceof Sa.Dispatcher ? owner
            : owner.dispatcher ?? Sa.Dispatcher.get_default();
        if (dispatcher.choose_cell(op, mode) !== Sa.Cell.ASYNC_BLOCKING)
            return null;
        return new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_SUPPORTED,
            `operation '${op.get_name()}' is a blocking operation written in JavaScript, and ` +
            'an async caller\'s call runs it on a worker thread, where gjs cannot run ' +
            'JavaScript: make it with Sa.blocking(), which runs it on the calling thread.');
    };
    // Tasks made here to fail a call at once, and their errors.
    const refused = new WeakMap();
    const refuse = (owner, error, cancellable, callback) => {
        const task = Gio.Task.new(owner, cancellable, callback ?? null);
        refused.set(task, error);
        task.return_error(error);
        return task;
    };
    for (const klass of [Sa.Dispatcher, Sa.Lock]) {
        const proto = klass.prototype;
        const keyed = klass === Sa.Lock;
        const callAsync = proto.call_async;
        const withCallback = function (...args) {
            const op = args[keyed ? 1 : 0];
            const error = onWorker(this, op, Sa.CallMode.ASYNC);
            if (error === null)
                return callAsync.apply(this, args);
            const [cancellable, callback] = args.slice(keyed ? 2 : 1);
            refuse(this, error, cancellable, callback);
            return undefined;
        };
        // Without a callback, call_async() returns a promise. Not
        // Gio._promisify(), which drops the first item of an array result
        // that starts with true, and never settles for an exception that is
        // not an extensible object (it writes to its stack).
        const nBeforeCallback = keyed ? 3 : 2;   // [key,] op, cancellable
        proto.call_async = function (...args) {
            if (args.length > nBeforeCallback)
                return withCallback.apply(this, args);
            return new Promise((resolve, reject) => {
                withCallback.call(this, ...args, (source, result) => {
                    try {
                        resolve(this.call_finish(result));
                    } catch (e) {
                        reject(e);
                    }
                });
            });
        };
        const call = proto.call;
        proto.call = function (...args) {
            const [op, mode, cancellable, callback] = args.slice(keyed ? 1 : 0);
            const error = onWorker(this, op, mode);
            if (error === null)
                return call.apply(this, args);
            return refuse(this, error, cancellable, callback);
        };
        const finish = proto.call_finish;
        proto.call_finish = function (result, ...rest) {
            if (refused.has(result))
                throw refused.get(result);
            return finish.call(this, result, ...rest);
        };
    }
    // A JavaScript function given to run_in_thread() would run on a worker.
    Sa.Dispatcher.prototype.run_in_thread = function (func, cancellable, callback) {
        refuse(this, new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_SUPPORTED,
            'run_in_thread() runs its function on a worker thread, where gjs cannot run ' +
            'JavaScript: make an operation with Sa.blocking() and call it instead.'),
        cancellable, callback);
    };

    const notHere = name => new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_SUPPORTED,
        `operation '${name}' returns a promise, and a sync caller cannot wait for one: ` +
        'gjs settles promises only from the default main context, which a sync call ' +
        'never iterates. Call it with call_async() from a running GLib.MainLoop, or ' +
        'complete it from GIO callbacks without promises.');


    const JsNonBlocking = GObject.registerClass({
        GTypeName: 'SaJsNonBlocking',
    }, class JsNonBlocking extends Sa.Operation {
        _init(name, fn) {
            super._init({kind: Sa.OperationKind.NON_BLOCKING, name});
            this._fn = fn;
        }

        vfunc_start(task, cancellable) {
            const settles = promisesSettleHere();
            if (!settles && isAsyncFunction(this._fn)) {
                task.return_error(notHere(this.name));
                return;
            }
            let result;
            try {
                result = this._fn(cancellable);
            } catch (e) {
                returnError(Sa, task, e);
                return;
            }
            if (!isThenable(result)) {
                returnResult(Sa, task, result);
            } else if (settles) {
                result.then(v => returnResult(Sa, task, v), e => returnError(Sa, task, e));
            } else {
                result.then(null, () => {});
                task.return_error(notHere(this.name));
            }
        }
    });

    // JavaScript cannot run on a worker thread, where the dispatcher runs a
    // blocking operation for an async caller: this one tells the
    // dispatcher it is non-blocking (the construction it shares with
    // JsNonBlocking), and runs the function to its end on the calling
    // thread for every caller.
    const JsBlocking = GObject.registerClass({
        GTypeName: 'SaJsBlocking',
    }, class JsBlocking extends JsNonBlocking {
        vfunc_start(task, cancellable) {
            let result;
            try {
                result = this._fn(cancellable);
            } catch (e) {
                returnError(Sa, task, e);
                return;
            }
            if (isThenable(result)) {
                result.then(null, () => {});
                returnError(Sa, task, new TypeError(
                    `operation '${this.name}': Sa.blocking() was given a function that returns ` +
                    'a promise: use Sa.nonBlocking()'));
                return;
            }
            returnResult(Sa, task, result);
        }
    });

    /**
     * A non-blocking operation from a function, called with the call's
     * Gio.Cancellable (or null). A function that returns its value (or
     * completes from GIO callbacks) serves every caller; one that returns
     * a promise serves callers inside a running GLib.MainLoop on the
     * default context, and fails at once with G_IO_ERROR_NOT_SUPPORTED
     * for a sync caller.
     *
     * @param {string} name the operation's name, for traces and errors
     * @param {Function} fn the function
     * @returns {Sa.Operation} the operation
     */
    Sa.nonBlocking = (name, fn) => new JsNonBlocking(name, fn);

    /**
     * A blocking operation from a plain function: it runs to its end on
     * the calling thread (the only one that runs JavaScript) for every
     * caller, blocking a loop caller's loop while it runs.
     *
     * @param {string} name the operation's name, for traces and errors
     * @param {Function} fn called with the call's Gio.Cancellable (or null)
     * @returns {Sa.Operation} the operation
     */
    Sa.blocking = (name, fn) => new JsBlocking(name, fn);

    Sa.toValue = toValue;
    Sa.fromValue = fromValue;
}
