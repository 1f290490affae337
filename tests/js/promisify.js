// SPDX-License-Identifier: LGPL-2.1-or-later
// gjs: the library's async methods awaited after Gio._promisify (done by
// the gjs override of Sa), operations written in JavaScript, GIO errors
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

// A result that cannot be a GValue (an array) fails the call, which
// never waits for it.
check(dispatcher.call_sync(Sa.blocking('bigint', () => 2n ** 52n), null) === 2 ** 52,
    'a BigInt within Number.MAX_SAFE_INTEGER comes back as that Number');
try {
    dispatcher.call_sync(Sa.blocking('bigint', () => 2n ** 53n + 1n), null);
    check(false, 'a BigInt beyond Number.MAX_SAFE_INTEGER');
} catch (e) {
    check(e instanceof RangeError, 'a BigInt beyond Number.MAX_SAFE_INTEGER fails with a RangeError');
}
for (const [name, make] of [['blocking', Sa.blocking], ['nonBlocking', Sa.nonBlocking]]) {
    try {
        dispatcher.call_sync(make('array', () => [1, 2]), null);
        check(false, `Sa.${name}() returning an array, call_sync`);
    } catch (e) {
        check(e instanceof TypeError, `Sa.${name}() returning an array fails call_sync with a TypeError`);
    }
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

        for (const [name, make] of [['blocking', Sa.blocking], ['nonBlocking', Sa.nonBlocking]]) {
            try {
                await dispatcher.call_async(make('array', () => [1, 2]), null);
                check(false, `Sa.${name}() returning an array, call_async`);
            } catch (e) {
                check(e instanceof TypeError, `Sa.${name}() returning an array rejects call_async with a TypeError`);
            }
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
