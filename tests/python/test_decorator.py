# SPDX-License-Identifier: LGPL-2.1-or-later
"""The smartasync decorator of the Sa overrides: the Python library's whole
test list, on the C dispatcher, plus asyncio, SaLock and sqlite3."""

import asyncio
import gc
import os
import sqlite3
import tempfile
import threading
import time

import gi

gi.require_version("Sa", "1")
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib, Sa  # noqa: E402

import pytest  # noqa: E402


def in_loop(body, timeout_s=20):
    """Runs body(loop) inside a running GLib main loop (an async caller);
    body calls loop.quit() when done. Returns what body returned."""
    loop = GLib.MainLoop()
    box = {}

    def start():
        box["value"] = body(loop)
        return GLib.SOURCE_REMOVE

    def expire():
        box["expired"] = True
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.idle_add(start)
    guard = GLib.timeout_add_seconds(timeout_s, expire)
    loop.run()
    GLib.source_remove(guard) if "expired" not in box else None
    assert "expired" not in box, "the loop did not finish in time"
    return box.get("value")


def collect(loop, pendings):
    """Quits loop when every Pending is done; returns the list of results."""
    results = [None] * len(pendings)
    left = [len(pendings)]

    def done(i, p):
        results[i] = p.exception() or p.result()
        left[0] -= 1
        if left[0] == 0:
            loop.quit()

    for i, p in enumerate(pendings):
        p.add_done_callback(lambda p, i=i: done(i, p))
    return results


@pytest.fixture
def text_file():
    fd, path = tempfile.mkstemp(prefix="sa-py-")
    os.write(fd, b"hello from a file")
    os.close(fd)
    yield path
    os.unlink(path)


# --- functions and methods ------------------------------------------------

@Sa.smartasync
def add(a, b):
    return a + b


@Sa.smartasync
async def read_text(path):
    _, data, _ = await Sa.run_gio(Gio.File.new_for_path(path), "load_contents")
    return data.decode()


class Service:
    def __init__(self, factor):
        self.factor = factor

    @Sa.smartasync
    def scale(self, x):
        return x * self.factor

    @Sa.smartasync
    async def scale_later(self, x):
        value = await self.scale(x)
        return value + 1


class Slotted:
    __slots__ = ("base",)

    def __init__(self, base):
        self.base = base

    @Sa.smartasync
    def plus(self, x):
        return self.base + x

    @Sa.smartasync
    async def plus_async(self, x):
        return self.base + x


def test_sync_context_blocking_function():
    assert not Sa.caller_is_async()
    assert add(2, 3) == 5


def test_sync_context_coroutine_function(text_file):
    # An async def called with no loop: run to completion, result returned.
    assert read_text(text_file) == "hello from a file"


def test_standalone_function_inline():
    def plain(x):
        return -x

    assert Sa.smartasync(plain)(4) == -4


def test_methods_and_slots():
    assert Service(3).scale(5) == 15
    assert Service(3).scale_later(5) == 16
    assert Slotted(10).plus(1) == 11
    assert Slotted(10).plus_async(2) == 12


def test_async_context_returns_pending(text_file):
    def body(loop):
        assert Sa.caller_is_async()
        p1 = add(1, 2)
        p2 = read_text(text_file)
        p3 = Slotted(1).plus(1)
        assert all(isinstance(p, Sa.Pending) for p in (p1, p2, p3))
        assert not p1.done()  # never completed inside the call
        return collect(loop, [p1, p2, p3])

    assert in_loop(body) == [3, "hello from a file", 2]


class Boom(Exception):
    pass


@Sa.smartasync
def explode(message):
    raise Boom(message)


@Sa.smartasync
async def explode_later(message):
    await add(0, 0)
    raise KeyError(message)


def test_errors_sync_context():
    with pytest.raises(Boom, match="sync boom"):
        explode("sync boom")
    with pytest.raises(KeyError, match="later"):
        explode_later("later")
    with pytest.raises(GLib.Error) as info:
        read_text("/nonexistent/sa-python")
    assert info.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND)


def test_errors_async_context():
    def body(loop):
        return collect(loop, [explode("async boom"), explode_later("k")])

    first, second = in_loop(body)
    assert type(first) is Boom and str(first) == "async boom"
    assert type(second) is KeyError


def test_blocking_offloaded_in_order():
    """Several blocking calls in flight from a running loop: they run on
    worker threads, the loop goes on, and results come back in order."""
    main = threading.get_ident()
    threads = set()

    @Sa.smartasync
    def slow_square(n):
        threads.add(threading.get_ident())
        time.sleep(0.05)
        return n * n

    def body(loop):
        return collect(loop, [slow_square(n) for n in range(6)])

    assert in_loop(body) == [0, 1, 4, 9, 16, 25]
    assert main not in threads


def test_mode_override():
    def body(loop):
        # SYNC inside a running loop: the result, directly.
        assert add(20, 22, _sa_mode=Sa.CallMode.SYNC) == 42
        forced = Sa.smartasync(mode=Sa.CallMode.SYNC)(lambda: "always sync")
        assert forced() == "always sync"
        loop.quit()

    in_loop(body)
    # ASYNC from a sync caller: a Pending, completed by iterating.
    pending = add(1, 1, _sa_mode=Sa.CallMode.ASYNC)
    assert isinstance(pending, Sa.Pending)
    while not pending.done():
        GLib.MainContext.default().iteration(True)
    assert pending.result() == 2


def test_nested_mixed_calls(text_file):
    """async caller -> blocking function on a worker -> coroutine function,
    which runs to completion on the worker's own private context."""
    seen = {}

    @Sa.smartasync
    def blocking_outer(path):
        seen["thread"] = threading.get_ident()
        seen["worker_is_async"] = Sa.caller_is_async()
        return read_text(path).upper()

    def body(loop):
        return collect(loop, [blocking_outer(text_file)])

    assert in_loop(body) == ["HELLO FROM A FILE"]
    assert seen["thread"] != threading.get_ident()
    assert seen["worker_is_async"] is False
    # And the sync version of the same nesting.
    assert blocking_outer(text_file) == "HELLO FROM A FILE"


def test_reset():
    add(1, 1)
    read_text(__file__)
    assert Sa.get_n_contexts() >= 1
    Sa.reset_smartasync_cache()
    gc.collect()
    deadline = time.monotonic() + 10
    while Sa.get_n_contexts() > 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert Sa.get_n_contexts() == 0
    assert read_text(__file__).startswith("# SPDX")


# --- asyncio ----------------------------------------------------------------

def test_asyncio_awaits_everything(text_file):
    lock = Sa.Lock()

    async def main():
        a = await add(2, 2)
        b = await read_text(text_file)
        c = await lock.run_once("k", add, 5, 5)
        _, data, _ = await Sa.run_gio(Gio.File.new_for_path(text_file), "load_contents")
        return a, b, c, data

    assert asyncio.run(main()) == (4, "hello from a file", 10, b"hello from a file")


def test_asyncio_errors():
    async def main():
        with pytest.raises(Boom, match="in asyncio"):
            await explode("in asyncio")
        return True

    assert asyncio.run(main())


def test_asyncio_cancel_cancels_gio():
    """Cancelling the asyncio task cancels the GIO operation."""
    proc = Gio.Subprocess.new(["sleep", "30"], Gio.SubprocessFlags.NONE)
    cancellable = Gio.Cancellable()
    seen = {}

    @Sa.smartasync
    async def wait_child(p):
        try:
            return await Sa.run_gio(p, "wait_check")
        except GLib.Error as error:
            seen["error"] = error
            raise

    async def main():
        direct = asyncio.ensure_future(Sa.run_gio(proc, "wait_check", cancellable=cancellable))
        nested = asyncio.ensure_future(wait_child(proc))
        await asyncio.sleep(0.1)
        direct.cancel()
        nested.cancel()
        for task in (direct, nested):
            with pytest.raises(asyncio.CancelledError):
                await task
        # The GIO call inside the coroutine operation reported the
        # cancellation, on the GLib side.
        deadline = time.monotonic() + 10
        while "error" not in seen and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return True

    start = time.monotonic()
    assert asyncio.run(main())
    assert cancellable.is_cancelled()
    assert seen["error"].matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
    assert time.monotonic() - start < 20
    proc.force_exit()
    proc.wait(None)


def test_run_gio_everywhere(text_file):
    """The same GIO pair from a plain script, a GLib loop and asyncio."""
    f = Gio.File.new_for_path(text_file)
    assert Sa.run_gio(f, "load_contents")[1] == b"hello from a file"

    def body(loop):
        return collect(loop, [Sa.run_gio(f, "load_contents")])

    assert in_loop(body)[0][1] == b"hello from a file"

    async def main():
        return (await Sa.run_gio(f, "load_contents"))[1]

    assert asyncio.run(main()) == b"hello from a file"


# --- SaLock -----------------------------------------------------------------

def test_lock_from_python():
    lock = Sa.Lock()
    runs = []

    @Sa.smartasync
    async def load():
        runs.append(1)
        await add(0, 0)  # yields to the loop: callers below join meanwhile
        return {"loaded": len(runs)}

    def body(loop):
        return collect(loop, [lock.run_once("config", load) for _ in range(5)])

    results = in_loop(body)
    assert results == [{"loaded": 1}] * 5
    assert len(runs) == 1
    assert lock.props.n_executions == 1 and lock.props.n_coalesced == 4
    # A sync caller: the result directly; a new execution (not a cache).
    assert lock.run_once("config", load) == {"loaded": 2}


# --- sqlite3, offloaded while the loop keeps running ------------------------

def test_sqlite_offloaded_loop_not_blocked(tmp_path):
    db = str(tmp_path / "app.db")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO users (name) VALUES (?)",
                         [("user%d" % i,) for i in range(100)])

    spent = {}

    @Sa.smartasync
    def query(limit):
        start = time.monotonic()
        conn = sqlite3.connect(db)
        try:
            # A deliberately long query: sqlite3 counts to `limit`, blocking.
            rows = conn.execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                "SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM users)",
                (limit,)).fetchall()
        finally:
            conn.close()
        spent["query"] = time.monotonic() - start
        return rows

    ticks = []

    def body(loop):
        GLib.timeout_add(5, lambda: ticks.append(time.monotonic()) or True)
        return collect(loop, [query(2_000_000)])

    (rows,) = in_loop(body)
    assert rows == [(2_000_000, 100)]
    # The query took a while, and the 5 ms timer kept firing on the loop
    # meanwhile: the loop was not blocked.
    assert spent["query"] > 0.1
    assert len(ticks) >= spent["query"] / 0.005 / 4
