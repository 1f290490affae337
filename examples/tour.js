// SPDX-License-Identifier: LGPL-2.1-or-later
// The tour in JavaScript (gjs): operations written once in JS, called by a
// script with call_sync and from a GLib.MainLoop with await.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Sa from 'gi://Sa';

Gio._promisify(Gio.File.prototype, 'load_contents_async', 'load_contents_finish');
Gio._promisify(Gio.Resolver.prototype, 'lookup_by_name_async', 'lookup_by_name_finish');

const [tmp, stream] = Gio.File.new_tmp('smartasync-tour-XXXXXX');
stream.get_output_stream().write_all(new TextEncoder().encode('Write an operation once; call it from any caller.\n'), null);
stream.close(null);

const checksum = Sa.blocking('sha256 of file', () => {
    const [, data] = tmp.load_contents(null);
    return GLib.compute_checksum_for_data(GLib.ChecksumType.SHA256, data).slice(0, 16);
});
const loadFile = Sa.nonBlocking('load file', async cancellable => {
    const [data] = await tmp.load_contents_async(cancellable);
    return `${data.length} bytes`;
});
const resolve = Sa.nonBlocking('resolve localhost', async cancellable => {
    const [address] = await Gio.Resolver.get_default().lookup_by_name_async('localhost', cancellable);
    return address.to_string();
});

const dispatcher = Sa.Dispatcher.get_default();
print('sync caller (a script with no loop running: call_sync):');
print(`  ${checksum.name.padEnd(18)} -> ${dispatcher.call_sync(checksum, null)}`);

print('async caller (inside a GLib.MainLoop: await call_async):');
const loop = new GLib.MainLoop(null, false);
let failed = false;
GLib.idle_add(GLib.PRIORITY_DEFAULT, () => {
    (async () => {
        for (const op of [loadFile, resolve]) {
            const started = GLib.get_monotonic_time();
            const value = await dispatcher.call_async(op, null);
            print(`  ${op.name.padEnd(18)} ${String(GLib.get_monotonic_time() - started).padStart(7)} us  -> ${value}`);
        }
    })().catch(e => {
        printerr(e);
        failed = true;
    }).finally(() => loop.quit());
    return GLib.SOURCE_REMOVE;
});
loop.run();
tmp.delete(null);
if (failed)
    imports.system.exit(1);
