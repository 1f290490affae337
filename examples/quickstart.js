import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Sa from 'gi://Sa';

Gio._promisify(Gio.File.prototype, 'load_contents_async', 'load_contents_finish');

const firstLine = path => Sa.nonBlocking('first-line', async cancellable => {
    const [data] = await Gio.File.new_for_path(path).load_contents_async(cancellable);
    return new TextDecoder().decode(data).split('\n')[0];
});

const dispatcher = Sa.Dispatcher.get_default();
const loop = new GLib.MainLoop(null, false);
GLib.idle_add(GLib.PRIORITY_DEFAULT, () => {
    dispatcher.call_async(firstLine('/etc/os-release'), null).then(line => {
        print(line);
        loop.quit();
    });
    return GLib.SOURCE_REMOVE;
});
loop.run();
