#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The tour in Python: four functions decorated once, called from a plain
script, from a GLib main loop and from asyncio."""

import asyncio
import hashlib
import os
import subprocess
import tempfile
import time

import gi

gi.require_version("Sa", "1")
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib, Sa  # noqa: E402


@Sa.smartasync
async def load_file(path):
    _, data, _ = await Sa.run_gio(Gio.File.new_for_path(path), "load_contents")
    return "%d bytes" % len(data)


@Sa.smartasync
async def resolve_localhost():
    addresses = await Sa.run_gio(Gio.Resolver.get_default(), "lookup_by_name", "localhost")
    return addresses[0].to_string()


@Sa.smartasync
def sha256_of_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


@Sa.smartasync
def uname():
    return subprocess.run(["uname", "-sr"], capture_output=True, text=True, check=True).stdout.strip()


def main():
    fd, path = tempfile.mkstemp(prefix="smartasync-tour-")
    os.write(fd, b"Write an operation once; call it from any caller.\n")
    os.close(fd)
    calls = [("load file", load_file, (path,)), ("resolve localhost", resolve_localhost, ()),
             ("sha256 of file", sha256_of_file, (path,)), ("run uname -sr", uname, ())]

    print("sync caller (a plain script: each call returns the result):")
    for name, func, args in calls:
        start = time.monotonic()
        value = func(*args)
        print("  %-18s %7.0f us  -> %s" % (name, (time.monotonic() - start) * 1e6, value))

    print("async caller (inside a GLib main loop: each call returns an Sa.Pending):")
    loop = GLib.MainLoop()
    left = [len(calls)]

    def start_all():
        for name, func, args in calls:
            started = time.monotonic()
            pending = func(*args)

            def done(p, name=name, started=started):
                print("  %-18s %7.0f us  -> %s" % (name, (time.monotonic() - started) * 1e6, p.result()))
                left[0] -= 1
                if left[0] == 0:
                    loop.quit()

            pending.add_done_callback(done)
        return GLib.SOURCE_REMOVE

    GLib.idle_add(start_all)
    loop.run()

    print("asyncio caller (inside asyncio.run(): each call returns an awaitable):")

    async def with_asyncio():
        results = await asyncio.gather(*(func(*args) for _, func, args in calls))
        for (name, _, _), value in zip(calls, results):
            print("  %-18s -> %s" % (name, value))

    asyncio.run(with_asyncio())
    os.unlink(path)


if __name__ == "__main__":
    main()
