/* tour.vala: the tour in Vala: operations written once as Sa.Operation
 * subclasses, called with call_sync () from main () and with yield from a
 * main loop. Built with valac against smartasync-1.vapi and run by the
 * tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* Non-blocking: reads a file with GIO's asynchronous API. */
class LoadFile : Sa.Operation {
    public File file { get; construct; }

    public LoadFile (File file) {
        Object (kind: Sa.OperationKind.NON_BLOCKING, name: "load file", file: file);
    }

    public override void start (Task task, Cancellable? cancellable) {
        file.load_contents_async.begin (cancellable, (obj, res) => {
            try {
                uint8[] contents;
                file.load_contents_async.end (res, out contents, null);
                var value = Value (typeof (string));
                value.set_string ("%d bytes".printf (contents.length));
                task.return_value (value);
            } catch (Error e) {
                task.return_error (e);
            }
        });
    }
}

/* Blocking: checksums a file, synchronously. */
class Checksum : Sa.Operation {
    public File file { get; construct; }

    public Checksum (File file) {
        Object (kind: Sa.OperationKind.BLOCKING, name: "sha256 of file", file: file);
    }

    public override void run (Task task, Cancellable? cancellable) {
        try {
            uint8[] contents;
            file.load_contents (cancellable, out contents, null);
            var value = Value (typeof (string));
            value.set_string (GLib.Checksum.compute_for_data (ChecksumType.SHA256, contents).substring (0, 16));
            task.return_value (value);
        } catch (Error e) {
            task.return_error (e);
        }
    }
}

static string describe (Sa.Dispatcher d, Sa.Operation op, Sa.CallMode mode) {
    switch (d.choose_cell (op, mode)) {
    case Sa.Cell.SYNC_NON_BLOCKING: return "sync caller,  non-blocking op: private context";
    case Sa.Cell.SYNC_BLOCKING: return "sync caller,  blocking op:     direct call";
    case Sa.Cell.ASYNC_NON_BLOCKING: return "async caller, non-blocking op: caller's loop";
    default: return "async caller, blocking op:     worker thread";
    }
}

async void async_part (Sa.Dispatcher d, Sa.Operation[] ops, MainLoop loop) {
    print ("async caller (inside a MainLoop, with yield):\n");
    foreach (var op in ops) {
        try {
            var cell = describe (d, op, Sa.CallMode.ASYNC);
            var value = yield d.call_async (op, null);
            print ("  %-18s %-46s -> %s\n", op.name, cell, value.get_string ());
        } catch (Error e) {
            printerr ("  %s failed: %s\n", op.name, e.message);
            Process.exit (1);
        }
    }
    loop.quit ();
}

int main () {
    string path;
    try {
        FileUtils.close (FileUtils.open_tmp ("smartasync-vala-XXXXXX", out path));
        FileUtils.set_contents (path, "Write an operation once; call it from any caller.\n");
    } catch (Error e) {
        printerr ("%s\n", e.message);
        return 1;
    }
    var file = File.new_for_path (path);
    var d = Sa.Dispatcher.get_default ();
    Sa.Operation[] ops = { new LoadFile (file), new Checksum (file) };

    print ("sync caller (main (), no loop running, call_sync ()):\n");
    foreach (var op in ops) {
        try {
            var cell = describe (d, op, Sa.CallMode.AUTO);
            var value = d.call_sync (op, null);
            print ("  %-18s %-46s -> %s\n", op.name, cell, value.get_string ());
        } catch (Error e) {
            printerr ("  %s failed: %s\n", op.name, e.message);
            return 1;
        }
    }

    var loop = new MainLoop (null, false);
    async_part.begin (d, ops, loop);
    loop.run ();

    FileUtils.unlink (path);
    return 0;
}
