// SPDX-License-Identifier: LGPL-2.1-or-later
// gjs: the library's async methods awaited (the gjs override of Sa gives
// them a promise form), operations written in JavaScript, GIO errors
// as GLib.Error with their domain and code, JavaScript errors as themselves.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
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

const dispatcher = Sa.Dispatcher.get_default();
const [tmp, stream] = Gio.File.new_tmp('sa-js-XXXXXX');
stream.get_output_stream().write_all(new TextEncoder().encode('twelve chars'), null);
stream.close(null);

// Sync caller: a blocking operation written in JS.
const double = Sa.blocking('double', () => ({doubled: 21 * 2}));
check(dispatcher.call_sync(double, null).doubled === 42, 'blocking JS operation, call_sync from a script');

// Any JavaScript object comes back as itself: one with no GType of its own
// travels in a carrier (Sa.toValue()), which call_sync() and call_finish()
// unwrap.
class Point {
    constructor(x) {
        this.x = x;
    }
}
const objects = () => [
    ['a plain object', {n: 1}], ['an array', [1, 2]], ['an array that starts with true', [true, 5]],
    ['a Uint8Array', new Uint8Array([1, 2])], ['a Date', new Date(0)], ['a Map', new Map([[1, 2]])],
    ['a class instance', new Point(3)], ['a GObject', new Gio.Cancellable()],
    ['new Boolean(false)', new Boolean(false)], ['new Number(5)', new Number(5)],
    ['new String("abc")', new String('abc')], ['an object with its own constructor', {constructor: Number}],
    ['an object made from String.prototype', Object.create(String.prototype)],
    ['an object of no prototype', Object.create(null)],
];
const makers = [['blocking', Sa.blocking], ['nonBlocking', Sa.nonBlocking]];
for (const [name, make] of makers) {
    for (const [what, v] of objects()) {
        check(dispatcher.call_sync(make('same', () => v), null) === v,
            `Sa.${name}() returning ${what}: call_sync gives it back`);
    }
}
{
    const v = [1, 2];
    const [ok, got] = dispatcher.call_sync_value(Sa.blocking('same', () => v), null);
    check(ok && got === v, 'call_sync_value() gives an array back');
    check(Sa.fromValue(Sa.toValue(v)) === v && Sa.fromValue(7) === 7,
        'Sa.fromValue() unwraps what Sa.toValue() carries, and nothing else');
    const denied = () => {
        throw new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.PERMISSION_DENIED, 'nope');
    };
    for (const [name, call] of [
        ['dispatcher', op => dispatcher.call_sync_value(op, null)],
        ['lock', op => Sa.Lock.new(null).call_sync_value('k', op, null)],
    ]) {
        try {
            call(Sa.blocking('denied', denied));
            check(false, `${name}.call_sync_value() of a failing operation`);
        } catch (e) {
            check(e instanceof GLib.Error && e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.PERMISSION_DENIED),
                `${name}.call_sync_value() throws the operation's GLib.Error`);
        }
    }
}
check(dispatcher.call_sync(Sa.blocking('bigint', () => 2n ** 52n), null) === 2 ** 52,
    'a BigInt within Number.MAX_SAFE_INTEGER comes back as that Number');
try {
    dispatcher.call_sync(Sa.blocking('bigint', () => 2n ** 53n + 1n), null);
    check(false, 'a BigInt beyond Number.MAX_SAFE_INTEGER');
} catch (e) {
    check(e instanceof RangeError, 'a BigInt beyond Number.MAX_SAFE_INTEGER fails with a RangeError');
}

const loadLength = path => Sa.nonBlocking('load-length', async cancellable => {
    const [data] = await Gio.File.new_for_path(path).load_contents_async(cancellable);
    return {length: data.length};
});

const loop = new GLib.MainLoop(null, false);
let done = false;
GLib.idle_add(GLib.PRIORITY_DEFAULT, () => {
    main();
    return GLib.SOURCE_REMOVE;
});
async function main() {
    try {
        check(Sa.caller_is_async(), 'inside the loop, an async caller');
        const v = await dispatcher.call_async(loadLength(tmp.get_path()), null);
        check(v.length === 12, 'await dispatcher.call_async() of a JS operation');

        const lock = Sa.Lock.new(null);
        const op = loadLength(tmp.get_path());
        const all = await Promise.all([1, 2, 3, 4].map(() => lock.call_async('len', op, null)));
        check(all.every(r => r.length === 12), 'await lock.call_async() from four callers');
        check(lock.get_n_executions() === 1 && lock.get_n_coalesced() === 3, 'one execution for the four');

        for (const [name, make] of makers) {
            for (const [what, v] of objects()) {
                check(await dispatcher.call_async(make('same', () => v), null) === v,
                    `Sa.${name}() returning ${what}: call_async gives it back`);
            }
        }

        // Whatever an operation throws rejects the promise with it.
        for (const [what, thrown] of [['undefined', undefined], ['null', null], ['a string', 'oops'],
            ['a frozen Error', Object.freeze(new Error('frozen'))]]) {
            let rejected = false, same = false;
            try {
                await dispatcher.call_async(Sa.blocking('throws', () => {
                    throw thrown;
                }), null);
            } catch (e) {
                rejected = true;
                same = e === thrown;
            }
            check(rejected && same, `an operation that throws ${what} rejects call_async with it`);
        }
        {
            let error = null;
            await new Promise(resolve => dispatcher.call_async(Sa.blocking('denied', () => {
                throw new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.PERMISSION_DENIED, 'nope');
            }), null, (source, result) => {
                try {
                    source.call_finish_value(result);
                } catch (e) {
                    error = e;
                }
                resolve();
            }));
            check(error instanceof GLib.Error && error.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.PERMISSION_DENIED),
                'call_finish_value() throws the operation\'s GLib.Error');
        }

        // Results held by their tasks while the collector runs, each large
        // enough to make it run: every one is intact when read.
        for (const [name, make] of makers) {
            const big = make('big', () => ({data: new Uint8Array(4 << 20).fill(7)}));
            let intact = true;
            for (let round = 0; round < 8; round++) {
                const all = await Promise.all(Array.from({length: 16},
                    () => dispatcher.call_async(big, null)));
                intact &&= all.every(r => r.data.length === 4 << 20 && r.data[5] === 7);
                imports.system.gc();
            }
            check(intact, `Sa.${name}(): 128 results of 4 MiB awaited 16 at a time, with GC between`);
        }

        // The plain GIO form, with a callback: no promise, one callback each.
        for (const [name, start] of [
            ['lock', cb => lock.call_async('len', op, null, cb)],
            ['dispatcher', cb => dispatcher.call_async(op, null, cb)],
        ]) {
            let returned;
            const length = await new Promise((resolve, reject) => {
                returned = start((source, res) => {
                    try {
                        resolve(source.call_finish(res).length);
                    } catch (e) {
                        reject(e);
                    }
                });
            });
            check(length === 12 && returned === undefined,
                `${name}.call_async() with a callback calls it and returns no promise`);
        }

        try {
            await dispatcher.call_async(loadLength('/nonexistent/sa-js'), null);
            check(false, 'a GIO error reaches JS');
        } catch (e) {
            check(e instanceof GLib.Error && e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_FOUND),
                'a GIO error reaches JS as GLib.Error, domain and code intact');
        }
        try {
            await dispatcher.call_async(Sa.nonBlocking('throws', () => {
                throw new Error('thrown in JS');
            }), null);
            check(false, 'a JS exception reaches the caller');
        } catch (e) {
            check(e instanceof Error && e.message === 'thrown in JS',
                'a JS exception reaches the JS caller as itself');
        }
        const cancellable = new Gio.Cancellable();
        cancellable.cancel();
        try {
            await dispatcher.call_async(loadLength(tmp.get_path()), cancellable);
            check(false, 'cancelled');
        } catch (e) {
            check(e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED), 'a cancelled call rejects with CANCELLED');
        }
    } catch (e) {
        check(false, `unexpected: ${e}`);
    }
    done = true;
    loop.quit();
}
loop.run();
check(done, 'the loop ran the async function to its end');

tmp.delete(null);
print(`1..${count}`);
if (failures > 0)
    imports.system.exit(1);
