import gi
gi.require_version("Sa", "1")
from gi.repository import GLib, Gio, Sa


@Sa.smartasync
def word_count(path):                 # blocking: a thread for loop callers
    with open(path) as f:
        return len(f.read().split())


@Sa.smartasync
async def first_line(path):           # non-blocking: driven on GLib
    _, data, _ = await Sa.run_gio(Gio.File.new_for_path(path), "load_contents")
    return data.decode().splitlines()[0]


# A script is a sync caller: results come back directly.
print(word_count("/etc/os-release"), first_line("/etc/os-release"))

# Inside a GLib main loop the same calls return an Sa.Pending.
loop = GLib.MainLoop()


def start():
    first_line("/etc/os-release").add_done_callback(
        lambda pending: (print(pending.result()), loop.quit()))


GLib.idle_add(start)
loop.run()
