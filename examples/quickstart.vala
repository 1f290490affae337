class FirstLine : Sa.Operation {
    public string path { get; construct; }

    public FirstLine (string path) {
        Object (kind: Sa.OperationKind.NON_BLOCKING, path: path);
    }

    public override void start (Task task, Cancellable? cancellable) {
        File.new_for_path (path).load_contents_async.begin (cancellable, (obj, res) => {
            try {
                uint8[] data;
                ((File) obj).load_contents_async.end (res, out data, null);
                task.return_value (((string) data).split ("\n")[0]);
            } catch (Error e) {
                task.return_error (e);
            }
        });
    }
}

async void show (MainLoop loop) {
    try {
        var line = yield Sa.Dispatcher.get_default ().call_async (new FirstLine ("/etc/os-release"), null);
        print ("%s\n", line.get_string ());
    } catch (Error e) {
        printerr ("%s\n", e.message);
    }
    loop.quit ();
}

int main () {
    try {
        // main () is a sync caller: call_sync returns the result.
        var line = Sa.Dispatcher.get_default ().call_sync (new FirstLine ("/etc/os-release"), null);
        print ("%s\n", line.get_string ());
    } catch (Error e) {
        printerr ("%s\n", e.message);
        return 1;
    }
    // Inside a main loop: yield.
    var loop = new MainLoop ();
    show.begin (loop);
    loop.run ();
    return 0;
}
