// SPDX-License-Identifier: LGPL-2.1-or-later
// "Write once" in gjs: every kind of operation that the gjs override of Sa
// makes, called by every kind of gjs caller (a script, with call_sync and
// the smart call; a running main loop, with call_async, the smart call and
// SYNC mode; an SaLock), returns its value or fails at once with a
// GLib.Error that names the reason. Never a hang (meson's timeout would
// end this test), never null. JavaScript exceptions reach JavaScript
// callers as themselves and other readers as "TypeName: message".

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import Sa from 'gi://Sa';

Gio._promisify(Gio.File.prototype, 'load_contents_async', 'load_contents_finish');

let count = 0;
let failures = 0;
function check(cond, what) {
    count++;
    print(`${cond ? 'ok' : 'not ok'} ${count} ${what}`);
    if (!cond)
        failures++;
}

const [tmp, stream] = Gio.File.new_tmp('sa-js-XXXXXX');
stream.get_output_stream().write_all(new TextEncoder().encode('seven c'), null);
stream.close(null);

// The operations, one of each kind.
const ops = {
    'blocking': () => Sa.blocking('blocking', () => ({n: 7})),
    'non-blocking, plain': () => Sa.nonBlocking('plain', () => ({n: 7})),
    'non-blocking, promise': () => Sa.nonBlocking('promise', async cancellable => {
        const [data] = await tmp.load_contents_async(cancellable);
        return {n: data.length};
    }),
};

const throwing = {
    'blocking': () => Sa.blocking('throws', () => {
        throw new TypeError('boom');
    }),
    'non-blocking, plain': () => Sa.nonBlocking('throws', () => {
        throw new RangeError('boom');
    }),
    'non-blocking, promise': () => Sa.nonBlocking('throws', async () => {
        await null;
        throw new SyntaxError('boom');
    }),
};
const expectedType = {
    'blocking': TypeError, 'non-blocking, plain': RangeError, 'non-blocking, promise': SyntaxError,
};

// Blocking operations whose body is JavaScript, made without the override's
// helpers: a subclass, and the C constructor given a JavaScript function.
const RawBlocking = GObject.registerClass(class RawBlocking extends Sa.Operation {
    _init() {
        super._init({kind: Sa.OperationKind.BLOCKING, name: 'raw'});
    }

    vfunc_run(task, _cancellable) {
        task.return_value(7);
    }
});
const raw = {
    'subclass': () => new RawBlocking(),
    'new_blocking()': () => Sa.Operation.new_blocking((op, task) => task.return_value(7)),
};
const isOnWorker = e => e instanceof GLib.Error &&
    e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_SUPPORTED) && e.message.includes('worker thread');

const dispatcher = Sa.Dispatcher.get_default();
const isNotSupported = e => e instanceof GLib.Error &&
    e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_SUPPORTED) &&
    e.message.includes('promise') && e.message.includes('sync caller');

// A script: a sync caller.
check(!Sa.caller_is_async(), 'a script is a sync caller');
for (const [kind, make] of Object.entries(ops)) {
    for (const [how, call] of [
        ['call_sync', op => dispatcher.call_sync(op, null)],
        ['smart call', op => dispatcher.call_finish(dispatcher.call(op, Sa.CallMode.AUTO, null, null))],
        ['lock call_sync', op => Sa.Lock.new(null).call_sync('k', op, null)],
    ]) {
        try {
            const v = call(make());
            check(kind !== 'non-blocking, promise' && v !== null && v.n === 7,
                `script, ${how}, ${kind}: the value`);
        } catch (e) {
            check(kind === 'non-blocking, promise' && isNotSupported(e),
                `script, ${how}, ${kind}: ${kind === 'non-blocking, promise'
                    ? 'fails at once, NOT_SUPPORTED naming the reason' : `unexpected ${e}`}`);
        }
    }
    if (kind === 'non-blocking, promise')
        continue;
    try {
        dispatcher.call_sync(throwing[kind](), null);
        check(false, `script, ${kind}: a JS exception`);
    } catch (e) {
        check(e instanceof expectedType[kind] && e.message === 'boom' &&
            typeof e.stack === 'string' && e.stack.includes('write-once.js'),
        `script, ${kind}: a JS exception reaches the caller as itself, type, message, stack`);
    }
}

// A task that the smart call returns complete: its GError, read in C,
// would say "TypeError: boom"; read from JavaScript, the exception itself.
{
    const task = dispatcher.call(throwing['blocking'](), Sa.CallMode.AUTO, null, null);
    check(task.get_completed() && task.had_error(), 'script, smart call: the task is complete, with an error');
    try {
        dispatcher.call_finish(task);
        check(false, 'call_finish of a JS exception');
    } catch (e) {
        check(e instanceof TypeError && e.message === 'boom', 'call_finish throws the JS exception itself');
    }
}
// A GError that no JavaScript operation raised passes through unchanged.
try {
    dispatcher.call_sync(Sa.blocking('gerror', () => {
        throw new GLib.Error(Sa.error_quark(), Sa.Error.FAILED, 'made in GLib');
    }), null);
} catch (e) {
    check(e instanceof GLib.Error && e.matches(Sa.error_quark(), Sa.Error.FAILED) &&
        e.message === 'made in GLib', 'a GLib.Error thrown by a JS operation reaches the caller as a GLib.Error');
}

for (const [how, make] of Object.entries(raw))
    check(dispatcher.call_sync(make(), null) === 7, `script, call_sync, raw blocking ${how}: the value`);

// A running loop: an async caller.
const loop = new GLib.MainLoop(null, false);
let done = false;
async function inLoop() {
    check(Sa.caller_is_async(), 'inside the loop, an async caller');
    for (const [how, make] of Object.entries(raw)) {
        try {
            await dispatcher.call_async(make(), null);
            check(false, `loop, call_async, raw blocking ${how}`);
        } catch (e) {
            check(isOnWorker(e), `loop, call_async, raw blocking ${how}: fails at once, NOT_SUPPORTED naming the reason`);
        }
        const viaCallback = await new Promise(resolve => {
            let inside = true;
            const task = dispatcher.call(make(), Sa.CallMode.AUTO, null, (source, result) => {
                try {
                    resolve({inside, v: source.call_finish(result)});
                } catch (e) {
                    resolve({inside, e, same: result === task});
                }
            });
            inside = false;
        });
        check(!viaCallback.inside && isOnWorker(viaCallback.e) && viaCallback.same,
            `loop, smart call, raw blocking ${how}: the callback, once, after the call, with NOT_SUPPORTED`);
        try {
            await Sa.Lock.new(null).call_async('k', make(), null);
            check(false, `loop, lock call_async, raw blocking ${how}`);
        } catch (e) {
            check(isOnWorker(e), `loop, lock call_async, raw blocking ${how}: fails at once, NOT_SUPPORTED`);
        }
    }
    const fromThread = await new Promise(resolve => {
        dispatcher.run_in_thread(() => 7, null, (source, result) => {
            try {
                resolve(source.call_finish(result));
            } catch (e) {
                resolve(e);
            }
        });
    });
    check(isOnWorker(fromThread), 'loop, run_in_thread() of a JS function: fails at once, NOT_SUPPORTED');
    for (const [kind, make] of Object.entries(ops)) {
        const v = await dispatcher.call_async(make(), null);
        check(v !== null && v.n === 7, `loop, call_async, ${kind}: the value`);

        const lock = Sa.Lock.new(null);
        const op = make();
        const all = await Promise.all([1, 2, 3].map(() => lock.call_async('k', op, null)));
        check(all.every(r => r !== null && r.n === 7), `loop, three SaLock waiters, ${kind}: the value`);

        const viaCallback = await new Promise(resolve => {
            dispatcher.call(make(), Sa.CallMode.AUTO, null, (source, result) => {
                try {
                    resolve(source.call_finish(result));
                } catch (e) {
                    resolve(e);
                }
            });
        });
        check(viaCallback !== null && viaCallback.n === 7, `loop, smart call with a callback, ${kind}: the value`);

        try {
            const w = dispatcher.call_finish(dispatcher.call(make(), Sa.CallMode.SYNC, null, null));
            check(kind !== 'non-blocking, promise' && w !== null && w.n === 7,
                `loop, SYNC mode, ${kind}: the value`);
        } catch (e) {
            check(kind === 'non-blocking, promise' && isNotSupported(e),
                `loop, SYNC mode, ${kind}: fails at once, NOT_SUPPORTED`);
        }

        try {
            await dispatcher.call_async(throwing[kind](), null);
            check(false, `loop, ${kind}: a JS exception`);
        } catch (e) {
            check(e instanceof expectedType[kind] && e.message === 'boom' &&
                typeof e.stack === 'string' && e.stack.includes('write-once.js'),
            `loop, ${kind}: a JS exception reaches the caller as itself, type, message, stack`);
        }
    }
}
GLib.idle_add(GLib.PRIORITY_DEFAULT, () => {
    inLoop().catch(e => check(false, `unexpected: ${e}\n${e.stack}`)).finally(() => {
        done = true;
        loop.quit();
    });
    return GLib.SOURCE_REMOVE;
});
loop.run();
check(done, 'the loop ran every call to its end');

tmp.delete(null);
print(`1..${count}`);
if (failures > 0)
    imports.system.exit(1);
