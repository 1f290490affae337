// SPDX-License-Identifier: LGPL-2.1-or-later
// Smoke test: an operation written in JavaScript, called through the C
// dispatcher in sync mode and from a main loop.

import Sa from 'gi://Sa';
import Gio from 'gi://Gio';
import GLib from 'gi://GLib';
import GObject from 'gi://GObject';

let failures = 0;
let count = 0;
function check(cond, what) {
    count++;
    if (cond) {
        print(`ok ${count} ${what}`);
    } else {
        print(`not ok ${count} ${what}`);
        failures++;
    }
}

function valueOf(type, v) {
    const value = new GObject.Value();
    value.init(type);
    if (type === GObject.TYPE_STRING)
        value.set_string(v);
    else
        value.set_int(v);
    return value;
}

const Square = GObject.registerClass(class Square extends Sa.Operation {
    _init(n) {
        super._init({kind: Sa.OperationKind.BLOCKING, name: 'js-square'});
        this.n = n;
    }

    vfunc_run(task, _cancellable) {
        task.return_value(valueOf(GObject.TYPE_INT, this.n * this.n));
    }
});

const LoadText = GObject.registerClass(class LoadText extends Sa.Operation {
    _init(path) {
        super._init({kind: Sa.OperationKind.NON_BLOCKING, name: 'js-load'});
        this.file = Gio.File.new_for_path(path);
    }

    vfunc_start(task, cancellable) {
        this.file.load_contents_async(cancellable, (file, result) => {
            try {
                const [, data] = file.load_contents_finish(result);
                task.return_value(valueOf(GObject.TYPE_STRING, new TextDecoder().decode(data)));
            } catch (e) {
                task.return_error(e);
            }
        });
    }
});

const dispatcher = Sa.Dispatcher.get_default();

// Sync caller: no loop is running.
check(!Sa.caller_is_async(), 'a script is a sync caller');
const squared = dispatcher.call_sync(new Square(9), null);
check(squared === 81, 'blocking JS operation in sync mode');

const [path, stream] = Gio.File.new_tmp('sa-js-XXXXXX');
stream.get_output_stream().write_all(new TextEncoder().encode('written by gjs'), null);
stream.close(null);
const text = dispatcher.call_sync(new LoadText(path.get_path()), null);
check(text === 'written by gjs', 'non-blocking JS operation in sync mode');

try {
    dispatcher.call_sync(new LoadText('/nonexistent/sa-js'), null);
    check(false, 'error reaches JS');
} catch (e) {
    check(e instanceof GLib.Error && e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_FOUND),
        'error reaches JS as GLib.Error with its domain and code');
}

// Async caller: inside a main loop. (gjs runs JavaScript on the main
// thread only, so a blocking operation written in JS is for sync callers;
// from a loop, JS implements non-blocking operations.)
const loop = new GLib.MainLoop(null, false);
GLib.idle_add(GLib.PRIORITY_DEFAULT, () => {
    check(Sa.caller_is_async(), 'inside a loop is an async caller');
    let called = false;
    dispatcher.call(new LoadText(path.get_path()), Sa.CallMode.AUTO, null, (source, result) => {
        called = true;
        const v = source.call_finish(result);
        check(v === 'written by gjs', 'non-blocking JS operation started on the loop');
        loop.quit();
    });
    check(!called, 'callback not run inside the call');
    return GLib.SOURCE_REMOVE;
});
loop.run();

// SaLock: five callers in a loop share one execution of a JS operation.
const Counted = GObject.registerClass(class Counted extends Sa.Operation {
    _init() {
        super._init({kind: Sa.OperationKind.NON_BLOCKING, name: 'js-counted'});
        this.runs = 0;
    }

    vfunc_start(task, _cancellable) {
        this.runs++;
        GLib.timeout_add(GLib.PRIORITY_DEFAULT, 50, () => {
            task.return_value(valueOf(GObject.TYPE_STRING, `shared ${this.runs}`));
            return GLib.SOURCE_REMOVE;
        });
    }
});

const lock = Sa.Lock.new(null);
const counted = new Counted();
const lockLoop = new GLib.MainLoop(null, false);
const shared = [];
GLib.idle_add(GLib.PRIORITY_DEFAULT, () => {
    for (let i = 0; i < 5; i++) {
        lock.call('js-key', counted, Sa.CallMode.AUTO, null, (source, result) => {
            shared.push(source.call_finish(result));
            if (shared.length === 5)
                lockLoop.quit();
        });
    }
    return GLib.SOURCE_REMOVE;
});
lockLoop.run();
check(shared.every(v => v === 'shared 1') && shared.length === 5, 'five lock callers got one result');
check(counted.runs === 1 && lock.get_n_executions() === 1 && lock.get_n_coalesced() === 4,
    'a JS operation under SaLock ran once');

path.delete(null);
print(`1..${count}`);
if (failures > 0)
    imports.system.exit(1);
