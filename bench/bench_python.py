#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Python on the same machine, in the same run as bench.c: the mechanisms
the Python smartasync library uses (stdlib only), then the Sa binding's own
decorated calls in both contexts. Prints table rows and
`figure <name> <value> us` lines, medians of the rounds."""

import asyncio
import statistics
import sys
import time

QUICK = "--quick" in sys.argv
TINY = "--tiny" in sys.argv
ROUNDS = 1 if TINY else 5
SCALE = 0.01 if TINY else (0.25 if QUICK else 1.0)


def n_of(n):
    return max(1, int(n * SCALE))


async def trivial():
    return 1


def blocking():
    return 1


def asyncio_run(n):
    start = time.perf_counter()
    for _ in range(n):
        asyncio.run(trivial())
    return (time.perf_counter() - start) / n * 1e6


def persistent_loop(n):
    loop = asyncio.new_event_loop()
    try:
        start = time.perf_counter()
        for _ in range(n):
            loop.run_until_complete(trivial())
        return (time.perf_counter() - start) / n * 1e6
    finally:
        loop.close()


def to_thread(n):
    async def main():
        start = time.perf_counter()
        for _ in range(n):
            await asyncio.to_thread(blocking)
        return (time.perf_counter() - start) / n * 1e6

    return asyncio.run(main())


CASES = [
    ("py-asyncio-run", "Python asyncio.run() of a trivial coroutine", asyncio_run, 2000),
    ("py-persistent-loop", "Python loop.run_until_complete() on a kept loop", persistent_loop, 20000),
    ("py-to-thread", "Python asyncio.to_thread() round trip", to_thread, 4000),
]

try:
    import gi

    gi.require_version("Sa", "1")
    from gi.repository import GLib, Sa

    @Sa.smartasync
    def sa_blocking():
        return 1

    @Sa.smartasync
    async def sa_coroutine():
        return 1

    def binding_sync_blocking(n):
        start = time.perf_counter()
        for _ in range(n):
            sa_blocking()
        return (time.perf_counter() - start) / n * 1e6

    def binding_sync_coroutine(n):
        start = time.perf_counter()
        for _ in range(n):
            sa_coroutine()
        return (time.perf_counter() - start) / n * 1e6

    def binding_in_loop(func, n):
        loop = GLib.MainLoop()
        box = {}

        def step(i=[0]):
            if i[0] == n:
                box["end"] = time.perf_counter()
                loop.quit()
                return
            i[0] += 1
            func().add_done_callback(lambda p: step())

        def begin():
            box["start"] = time.perf_counter()
            step()
            return GLib.SOURCE_REMOVE

        GLib.idle_add(begin)
        loop.run()
        return (box["end"] - box["start"]) / n * 1e6

    CASES += [
        ("py-sa-sync-blocking", "Python @Sa.smartasync def, sync caller", binding_sync_blocking, 20000),
        ("py-sa-sync-coroutine", "Python @Sa.smartasync async def, sync caller", binding_sync_coroutine, 20000),
        ("py-sa-loop-blocking", "Python @Sa.smartasync def, in a GLib loop (offload)",
         lambda n: binding_in_loop(sa_blocking, n), 4000),
        ("py-sa-loop-coroutine", "Python @Sa.smartasync async def, in a GLib loop",
         lambda n: binding_in_loop(sa_coroutine, n), 20000),
    ]
except (ImportError, ValueError) as error:
    print("# the Sa binding is not importable here (%s): its cases are left out" % error)

values = {name: [] for name, _, _, _ in CASES}
for _ in range(ROUNDS):
    for name, _, func, n in CASES:  # interleaved: one of each per round
        values[name].append(func(n_of(n)))

for name, title, _, _ in CASES:
    v = values[name]
    print("| %-52s | %12.3f | %12.3f | %12.3f | %-6s |" % (
        title, statistics.median(v), min(v), max(v), "us"))
for name, _, _, _ in CASES:
    print("figure %s %.4f us" % (name, statistics.median(values[name])))
