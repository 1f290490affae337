import asyncio

import gi
gi.require_version("Sa", "1")
from gi.repository import GLib, Sa


@Sa.smartasync
def word_count(path):            # plain: runs on a worker for loop callers,
    with open(path) as f:        # so it opens what it uses itself
        return len(f.read().split())


@Sa.smartasync
async def first_line(path):      # coroutine: runs on the caller's loop
    await asyncio.sleep(0)
    with open(path) as f:
        return f.readline().strip()


# A script: results come back directly.
print(word_count("/etc/os-release"), first_line("/etc/os-release"))


# asyncio: the same calls are awaited; the loop is never blocked.
async def main():
    return await asyncio.gather(word_count("/etc/os-release"),
                                first_line("/etc/os-release"))

print(*asyncio.run(main()))

# A GLib main loop: an Sa.Pending, completed on the loop's context.
loop = GLib.MainLoop()


def start():
    word_count("/etc/os-release").add_done_callback(
        lambda pending: (print(pending.result()), loop.quit()))


GLib.idle_add(start)
loop.run()
