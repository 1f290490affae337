# SPDX-License-Identifier: LGPL-2.1-or-later
"""Sa.smartasync under the seed's own names: its four cases from a script,
asyncio and a GLib loop, methods and __slots__, inline use, errors,
detection per call and per thread, the mode overrides, nested mixed calls,
the reset, and sqlite3 offloaded while the loop runs."""

import asyncio
import os
import sqlite3
import threading
import time

from gi.repository import Gio, GLib, Sa

import pytest

from conftest import collect, in_glib_loop, wait_until


@Sa.smartasync
def add(a, b):
    return a + b


@Sa.smartasync
async def add_later(a, b):
    await asyncio.sleep(0)
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
    async def plus_later(self, x):
        await asyncio.sleep(0)
        return self.base + x


# --- the four cases ------------------------------------------------------------

def test_script_plain_function_is_a_direct_call():
    seen = []

    @Sa.smartasync
    def where():
        seen.append(threading.get_ident())
        return "here"

    assert not Sa.is_async_context()
    assert where() == "here"
    assert seen == [threading.get_ident()]


def test_script_coroutine_function_returns_its_result(text_file):
    assert add_later(2, 3) == 5
    assert read_text(text_file) == "hello from a file"
    # asyncio code works inside: the thread's kept loop runs it.
    loops = set()

    @Sa.smartasync
    async def sleeper():
        loops.add(asyncio.get_running_loop())
        await asyncio.sleep(0.01)
        return "slept"

    assert sleeper() == "slept" and sleeper() == "slept"
    assert len(loops) == 1  # kept from call to call, as the seed's pool does
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()  # and not left running


def test_script_coroutine_first_step_is_in_its_task():
    """A script's coroutine runs in a Task from its first line: what needs
    the current task (asyncio.timeout(), cancel scopes) works there, and a
    context variable it sets there is still set after it suspends."""
    import contextvars

    var = contextvars.ContextVar("var", default="unset")

    @Sa.smartasync
    async def first_line_needs_a_task(suspend):
        task = asyncio.current_task()
        async with asyncio.timeout(10):
            var.set("set")
            if suspend:
                await asyncio.sleep(0)
            return task is asyncio.current_task() is not None, var.get()

    assert first_line_needs_a_task(False) == (True, "set")
    assert first_line_needs_a_task(True) == (True, "set")
    assert var.get() == "unset"  # the caller's context is its own


def test_asyncio_coroutine_function_runs_on_the_callers_loop():
    @Sa.smartasync
    async def on_which_loop():
        await asyncio.sleep(0.01)
        return asyncio.get_running_loop()

    async def main():
        coroutine = on_which_loop()
        assert asyncio.iscoroutine(coroutine)  # the seed's (True, True) case
        return await coroutine is asyncio.get_running_loop()

    assert asyncio.run(main())


def test_asyncio_plain_function_is_offloaded():
    caller = threading.get_ident()

    @Sa.smartasync
    def where():
        return threading.get_ident()

    async def main():
        return await where()

    assert asyncio.run(main()) != caller


def test_glib_loop_gets_pendings(text_file):
    def body(loop):
        assert Sa.is_async_context()
        pendings = [add(1, 2), read_text(text_file), Slotted(1).plus(1), add_later(2, 2)]
        assert all(isinstance(p, Sa.Pending) for p in pendings)
        assert not any(p.done() for p in pendings)  # never completed inside the call
        return collect(loop, pendings)

    assert in_glib_loop(body) == [3, "hello from a file", 2, 4]


def test_methods_slots_and_inline():
    assert Service(3).scale(5) == 15
    assert Service(3).scale_later(5) == 16
    assert Slotted(10).plus(1) == 11
    assert Slotted(10).plus_later(2) == 12

    def negate(x):
        return -x

    assert Sa.smartasync(negate)(4) == -4
    wrapped = Sa.smartasync(add_later.__wrapped__)
    assert wrapped(1, 1) == 2 and wrapped(2, 2) == 4
    assert add.__name__ == "add" and add.__smartasync__

    async def main():
        return await Service(2).scale(3), await Slotted(1).plus_later(1)

    assert asyncio.run(main()) == (6, 2)


# --- errors ------------------------------------------------------------------------

class Boom(Exception):
    pass


def raise_boom(message):
    try:
        {}["missing"]
    except KeyError as cause:
        raise Boom(message) from cause


@Sa.smartasync
def explode(message):
    raise_boom(message)


@Sa.smartasync
async def explode_later(message):
    await asyncio.sleep(0)
    raise_boom(message)


def raising_frames(exc):
    tb, names = exc.__traceback__, []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


@pytest.mark.parametrize("func", [explode, explode_later])
def test_errors_script(func):
    with pytest.raises(Boom, match="script") as info:
        func("script")
    assert isinstance(info.value.__cause__, KeyError)
    assert "raise_boom" in raising_frames(info.value)


@pytest.mark.parametrize("func", [explode, explode_later])
def test_errors_asyncio(func):
    async def main():
        with pytest.raises(Boom, match="asyncio") as info:
            await func("asyncio")
        return info.value

    exc = asyncio.run(main())
    assert isinstance(exc.__cause__, KeyError)
    assert "raise_boom" in raising_frames(exc)


def test_errors_glib_same_object():
    def body(loop):
        return collect(loop, [explode("glib"), explode_later("glib later")])

    first, second = in_glib_loop(body)
    for exc in (first, second):
        assert type(exc) is Boom and isinstance(exc.__cause__, KeyError)
        assert "raise_boom" in raising_frames(exc)
    with pytest.raises(GLib.Error) as info:
        read_text("/nonexistent/sa-python")
    assert info.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND)


def test_error_is_the_raised_object():
    raised = []

    @Sa.smartasync
    def keep_and_raise():
        exc = Boom("the one")
        raised.append(exc)
        raise exc

    async def main():
        try:
            await keep_and_raise()
        except Boom as exc:
            return exc

    assert asyncio.run(main()) is raised[0]
    raised.clear()


# --- detection per call and per thread ---------------------------------------------

def test_detection_is_per_call():
    """The seed caches "async" per function forever; here a function used
    from asyncio first still returns a result to a script afterwards."""
    async def main():
        return await add(1, 1)

    assert asyncio.run(main()) == 2
    assert add(2, 2) == 4
    assert asyncio.run(main()) == 2


def test_detection_is_per_thread():
    """One decorated function used at once from an asyncio thread and from
    plain threads: each caller gets what its own context needs."""
    errors = []
    stop = threading.Event()

    def script_thread():
        try:
            while not stop.is_set():
                assert add(1, 2) == 3
                assert add_later(1, 2) == 3
        except BaseException as exc:  # noqa: B902 - reported below
            errors.append(exc)

    async def main():
        for _ in range(200):
            assert await add(1, 2) == 3
            assert await add_later(1, 2) == 3

    threads = [threading.Thread(target=script_thread) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        asyncio.run(main())
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []


# --- modes -----------------------------------------------------------------------------

def test_set_sync_and_set_async_are_scoped():
    async def main():
        assert Sa.is_async_context()
        with Sa.set_sync():
            assert not Sa.is_async_context()
            # Results directly inside a running loop, which is not re-entered.
            assert add(20, 22) == 42
            assert add_later(1, 1) == 2
            with Sa.set_async():
                assert asyncio.isfuture(add(1, 1))
                assert await add(1, 1) == 2
            assert add(1, 2) == 3
        assert asyncio.isfuture(add(0, 0))
        await add(0, 0)

    asyncio.run(main())
    assert not Sa.is_async_context()
    with Sa.set_async():
        assert Sa.is_async_context()
        pending = add(1, 1)  # a script forced async: a Pending on its context
    assert isinstance(pending, Sa.Pending)
    while not pending.done():
        GLib.MainContext.default().iteration(True)
    assert pending.result() == 2


def test_mode_of_decorator_and_of_call():
    forced = Sa.smartasync(mode=Sa.CallMode.SYNC)(lambda: "always sync")

    def body(loop):
        assert forced() == "always sync"
        assert add(20, 22, _sa_mode=Sa.CallMode.SYNC) == 42
        assert add_later(1, 1, _sa_mode=Sa.CallMode.SYNC) == 2
        loop.quit()

    in_glib_loop(body)
    pending = add(1, 1, _sa_mode=Sa.CallMode.ASYNC)
    assert isinstance(pending, Sa.Pending)
    while not pending.done():
        GLib.MainContext.default().iteration(True)
    assert pending.result() == 2


def test_body_run_in_sync_mode_calls_as_a_sync_caller():
    # A plain function forced to SYNC on a loop's thread runs there, as a
    # blocking body run by the library: its own calls are a sync caller's.
    @Sa.smartasync
    def outer(x):
        assert not Sa.is_async_context()
        return add(x, 1)

    forced = Sa.smartasync(mode=Sa.CallMode.SYNC)(outer.__wrapped__)
    results = []

    def body(loop):
        results.append(outer(1, _sa_mode=Sa.CallMode.SYNC))
        results.append(forced(2))
        assert Sa.is_async_context()
        loop.quit()

    in_glib_loop(body)

    async def main():
        return outer(3, _sa_mode=Sa.CallMode.SYNC)

    results.append(asyncio.run(main()))
    assert results == [2, 3, 4]


def test_coroutine_run_for_a_sync_caller_awaits_as_an_asyncio_caller():
    # A sync caller's set_sync() scope, or a body run in SYNC mode, does not
    # reach into a coroutine it runs on the thread's kept loop: the calls
    # the coroutine awaits there are that loop's.
    @Sa.smartasync
    async def inner():
        await asyncio.sleep(0.01)
        return 42

    @Sa.smartasync
    async def middle():
        return await inner()

    @Sa.smartasync(mode=Sa.CallMode.SYNC)
    def outer():
        return middle()

    assert outer() == 42
    assert middle(_sa_mode=Sa.CallMode.SYNC) == 42
    with Sa.set_sync():
        assert middle() == 42
    results = []

    def body(loop):
        results.append(outer())
        loop.quit()

    in_glib_loop(body)
    assert results == [42]


def test_dispatcher_mode_is_followed():
    dispatcher = Sa.Dispatcher.new()
    func = Sa.smartasync(dispatcher=dispatcher)(lambda: 7)
    assert func() == 7
    dispatcher.set_mode(Sa.CallMode.ASYNC)
    try:
        assert isinstance(func(), Sa.Pending)
    finally:
        dispatcher.set_mode(Sa.CallMode.AUTO)
    assert func() == 7


# --- nesting ---------------------------------------------------------------------------

def test_nested_mixed_calls(text_file):
    """async caller -> plain function on a worker -> coroutine function,
    which runs to completion on the worker's own kept loop (the seed's
    "nested mixed calls")."""
    seen = {}

    @Sa.smartasync
    def blocking_outer(path):
        seen["thread"] = threading.get_ident()
        seen["is_async"] = Sa.is_async_context()
        return read_text(path).upper() + str(add_later(1, 1))

    async def main():
        return await blocking_outer(text_file)

    assert asyncio.run(main()) == "HELLO FROM A FILE2"
    assert seen["thread"] != threading.get_ident() and seen["is_async"] is False

    def body(loop):
        return collect(loop, [blocking_outer(text_file)])

    assert in_glib_loop(body) == ["HELLO FROM A FILE2"]
    assert blocking_outer(text_file) == "HELLO FROM A FILE2"


def test_nesting_never_waits_for_its_own_workers():
    """Every worker of a one-thread dispatcher busy with a body that
    offloads again: the nested call runs rather than wait for itself."""
    dispatcher = Sa.Dispatcher.new()
    dispatcher.set_max_threads(1)

    @Sa.smartasync(dispatcher=dispatcher)
    def leaf(x):
        return x + 1

    @Sa.smartasync(dispatcher=dispatcher)
    async def middle(x):
        return await leaf(x)

    @Sa.smartasync(dispatcher=dispatcher)
    def outer(x):
        return middle(x) * 10  # on the worker: a sync caller of middle()

    async def main():
        return await asyncio.wait_for(asyncio.gather(*[outer(i) for i in range(4)]), 30)

    assert asyncio.run(main()) == [10, 20, 30, 40]


# --- reset -------------------------------------------------------------------------------

def fd_count():
    return len(os.listdir("/proc/self/fd"))


def test_reset_smartasync_cache(text_file):
    n_contexts = Sa.get_n_contexts()
    before = fd_count()
    assert add_later(1, 1) == 2  # the thread's kept loop: a few fds
    assert read_text(text_file) == "hello from a file"
    assert fd_count() > before
    Sa.reset_smartasync_cache()
    assert fd_count() == before
    # This thread's contexts are gone; one an earlier test's thread let go
    # with a source pending stays counted until the drain thread frees it.
    wait_until(lambda: Sa.get_n_contexts() <= n_contexts, 60)
    assert add_later(2, 2) == 4  # and it works afterwards
    Sa.reset_smartasync_cache()


# --- sqlite3 offloaded while the loop keeps running -------------------------------------

@pytest.fixture
def users_db(tmp_path):
    db = str(tmp_path / "app.db")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO users (name) VALUES (?)",
                         [("user%d" % i,) for i in range(100)])
    conn.close()
    return db


SLOW_QUERY = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
              "SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM users)")


def test_sqlite_offloaded_loop_not_blocked(users_db):
    seen = {}
    ticks = []

    @Sa.smartasync
    def query(limit):
        first = len(ticks)
        conn = sqlite3.connect(users_db)  # one connection per call, in the thread using it
        try:
            rows = conn.execute(SLOW_QUERY, (limit,)).fetchall()
        finally:
            conn.close()
        # Offloaded, the loop went on meanwhile: its 5 ms ticker moves while
        # this thread waits (it never would, were the body blocking the loop).
        if threading.current_thread() is not threading.main_thread():
            wait_until(lambda: len(ticks) >= first + 3)
        seen["thread"] = threading.get_ident()
        return rows

    async def ticker():
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    async def main():
        tick = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        rows = await query(2_000_000)
        tick.cancel()
        return rows

    assert asyncio.run(main()) == [(2_000_000, 100)]
    assert seen["thread"] != threading.get_ident()
    assert query(10) == [(10, 100)]  # from the script: a direct call, here
    assert seen["thread"] == threading.get_ident()


def test_sqlite_connection_is_thread_bound(users_db):
    """Why the docs say not to capture a thread-bound object: offloaded,
    the function runs on a worker, where sqlite3 refuses the caller's
    connection."""
    conn = sqlite3.connect(users_db)

    @Sa.smartasync
    def count():
        return conn.execute("SELECT count(*) FROM users").fetchone()[0]

    try:
        assert count() == 100  # a script: same thread, fine

        async def main():
            return await count()

        with pytest.raises(sqlite3.ProgrammingError, match="thread"):
            asyncio.run(main())
    finally:
        conn.close()
