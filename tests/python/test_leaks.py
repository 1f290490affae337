# SPDX-License-Identifier: LGPL-2.1-or-later
"""Nothing is kept: large results, kept loops, private contexts and fds
are freed once the caller drops them, with the cyclic collector off.
Weak references say what is still alive. (A result or an exception
dropped by its caller, in every cell, is the release row of
test_contract.py.)"""

import asyncio
import gc
import os
import threading
import weakref

from gi.repository import Gio, GLib, Sa

import pytest

from conftest import in_glib_loop, wait_until


class Payload:
    """A result, or what an exception refers to: 1 MiB, weakly referenced."""

    def __init__(self):
        self.data = bytearray(1 << 20)


@pytest.fixture
def no_gc():
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_many_large_results_from_a_script(no_gc):
    """300 results of 1 MiB: the first finding of the Python review, where
    each one stayed in a GValue never freed."""
    @Sa.smartasync
    def big():
        return Payload()

    refs = [weakref.ref(big()) for _ in range(300)]
    assert sum(r() is not None for r in refs) == 0


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def test_threads_leave_no_loops_contexts_or_fds(no_gc, text_file):
    @Sa.smartasync
    async def read(path):
        await asyncio.sleep(0)
        return (await Sa.run_gio(Gio.File.new_for_path(path), "load_contents"))[1]

    @Sa.smartasync
    def twice(x):
        return 2 * x

    errors = []

    def work():
        try:
            for _ in range(20):
                assert read(text_file) == b"hello from a file"
                assert Sa.run_gio(Gio.File.new_for_path(text_file), "load_contents")[0]

                async def offload():
                    return await twice(2)

                assert asyncio.run(offload()) == 4
        except BaseException as exc:  # noqa: B902 - reported below
            errors.append(exc)

    warm = threading.Thread(target=work)
    warm.start()
    warm.join()
    wait_until(lambda: Sa.get_n_contexts() == 0)
    fds = fd_count()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(lambda: Sa.get_n_contexts() == 0 and fd_count() <= fds)
    assert errors == []
    assert fd_count() == fds


def test_sync_calls_of_coroutines_under_frequent_collection():
    """4 threads x 400 sync calls of a coroutine function while the
    collector runs all the time: no error, no critical."""
    @Sa.smartasync
    async def step(x):
        await asyncio.sleep(0)
        return x + 1

    errors = []

    def work():
        try:
            for i in range(400):
                assert step(i) == i + 1
        except BaseException as exc:  # noqa: B902 - reported below
            errors.append(exc)

    threshold = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        gc.set_threshold(*threshold)
    assert errors == []


def test_dropped_pending_is_freed(no_gc):
    """A Pending nobody waits for goes once its result has arrived."""
    gate = threading.Event()

    @Sa.smartasync
    def slow():
        gate.wait(20)
        return Payload()

    def body(loop):
        body.ref = weakref.ref(slow())
        gate.set()

        def gone():
            if body.ref() is not None:
                return GLib.SOURCE_CONTINUE
            loop.quit()
            return GLib.SOURCE_REMOVE

        GLib.timeout_add(5, gone)

    # Iterates until the Pending is gone (in_glib_loop() fails after 20 s).
    in_glib_loop(body)
    assert body.ref() is None
