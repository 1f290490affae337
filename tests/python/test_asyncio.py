# SPDX-License-Identifier: LGPL-2.1-or-later
"""Called from a running asyncio loop: coroutine functions run on it,
plain functions come back with one call_soon_threadsafe() (or settled in
the call, when the worker ended first: test_handover.py), cancelling the
task cancels the call's GCancellable, run_once() coalesces, a lock reset
gives CancelledError, and a loop that closes first hears nothing."""

import asyncio
import threading
import time

from gi.repository import Gio, GLib, Sa

import pytest

from conftest import wait_until


class CountingLoop(asyncio.SelectorEventLoop):
    """An asyncio loop that counts the calls other threads make into it."""

    def __init__(self):
        super().__init__()
        self.n_threadsafe = 0

    def call_soon_threadsafe(self, *args, **kwargs):
        self.n_threadsafe += 1
        return super().call_soon_threadsafe(*args, **kwargs)


def run_counting(main):
    loop = CountingLoop()
    try:
        return loop.run_until_complete(main(loop)), loop.n_threadsafe
    finally:
        loop.close()


def test_offload_is_one_call_soon_threadsafe():
    # The bodies wait until every call has returned: a result ready during
    # its call is handed over in the call (test_handover.py), not counted.
    gate = threading.Event()

    @Sa.smartasync
    def double(x):
        gate.wait(10)
        return 2 * x

    async def main(loop):
        first = double(1)
        gate.set()
        one = await first
        gate.clear()
        before = loop.n_threadsafe
        calls = [double(i) for i in range(50)]
        gate.set()
        many = await asyncio.gather(*calls)
        return one, many, loop.n_threadsafe - before

    (one, many, n), total = run_counting(main)
    assert one == 2 and many == [2 * i for i in range(50)]
    assert n == 50 and total == 51


def test_coroutine_function_awaits_anything_asyncio_can():
    @Sa.smartasync
    async def uses_asyncio():
        await asyncio.sleep(0.01)
        queue = asyncio.Queue()
        asyncio.get_running_loop().call_later(0.01, queue.put_nowait, "queued")
        async with asyncio.timeout(10):
            return await queue.get(), asyncio.current_task() is not None

    async def main(loop):
        return await uses_asyncio()

    (value, n) = run_counting(main)
    assert value == ("queued", True) and n == 0  # no other thread involved


def test_cancelling_the_task_cancels_the_call():
    started = threading.Event()
    seen = {}

    @Sa.smartasync
    def wait_for_cancel():
        cancellable = Sa.current_cancellable()
        seen["cancellable"] = cancellable
        started.set()
        fired = threading.Event()
        cancellable.connect(lambda *_: fired.set())
        seen["fired"] = fired.wait(20)
        return "late"

    async def main():
        task = asyncio.ensure_future(wait_for_cancel())
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 20)
        task.cancel()
        start = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - start

    waited = asyncio.run(main())
    wait_until(lambda: "fired" in seen)
    assert seen["fired"] is True
    assert seen["cancellable"].is_cancelled()
    assert waited < 10  # at once, not when the body returned


def test_cancelled_before_it_runs_does_not_run():
    ran = []
    gate = threading.Event()
    dispatcher = Sa.Dispatcher.new()
    dispatcher.set_max_threads(1)

    @Sa.smartasync(dispatcher=dispatcher)
    def blocker():
        gate.wait(20)

    @Sa.smartasync(dispatcher=dispatcher)
    def never():
        ran.append(1)

    async def main():
        first = asyncio.ensure_future(blocker())
        second = asyncio.ensure_future(never())
        await asyncio.sleep(0)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        gate.set()
        await first

    asyncio.run(main())
    assert ran == []


def test_callers_cancellable():
    cancellable = Gio.Cancellable()
    gate = threading.Event()

    @Sa.smartasync
    def slow():
        gate.wait(20)
        return "done"

    async def main():
        call = slow(_sa_cancellable=cancellable)
        asyncio.get_running_loop().call_later(0.01, cancellable.cancel)
        with pytest.raises(asyncio.CancelledError):
            await call
        gate.set()
        # Already cancelled: the call fails at once and the body never runs.
        with pytest.raises(asyncio.CancelledError):
            await slow(_sa_cancellable=cancellable)

    asyncio.run(main())


def test_run_once_coalesces_in_one_step():
    lock = Sa.SmartLock()
    runs = []

    def load():
        runs.append(threading.get_ident())
        return {"loaded": len(runs)}

    @Sa.smartasync
    async def load_later():
        runs.append("coroutine")
        return "shared"

    async def main():
        first = await asyncio.gather(*[lock.run_once(load) for _ in range(100)])
        second = await asyncio.gather(*[lock.run_once(load_later) for _ in range(100)])
        return first, second

    first, second = asyncio.run(main())
    assert first == [{"loaded": 1}] * 100 and all(r is first[0] for r in first)
    assert second == ["shared"] * 100
    assert len(runs) == 2
    assert lock.lock.props.n_executions == 2


def test_run_once_coroutine_runs_on_the_callers_loop():
    lock = Sa.Lock()

    async def which_loop():
        await asyncio.sleep(0.01)
        return asyncio.get_running_loop()

    async def main():
        return await lock.run_once("k", which_loop) is asyncio.get_running_loop()

    assert asyncio.run(main())


def test_lock_reset_gives_cancelled_error():
    lock = Sa.Lock()
    gate = threading.Event()

    def slow():
        gate.wait(20)
        return "too late"

    async def main():
        waiters = [asyncio.ensure_future(lock.run_once("k", slow)) for _ in range(3)]
        await asyncio.sleep(0.05)
        lock.reset()
        results = await asyncio.gather(*waiters, return_exceptions=True)
        gate.set()
        return results

    results = asyncio.run(main())
    assert all(isinstance(r, asyncio.CancelledError) for r in results)


def test_run_once_per_caller_cancellable():
    lock = Sa.Lock()
    gate = threading.Event()
    mine = Gio.Cancellable()

    def slow():
        gate.wait(20)
        return "shared"

    async def main():
        leaving = asyncio.ensure_future(lock.run_once("k", slow, _sa_cancellable=mine))
        staying = asyncio.ensure_future(lock.run_once("k", slow))
        await asyncio.sleep(0.02)
        mine.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        gate.set()
        return await staying

    assert asyncio.run(main()) == "shared"


def test_nothing_prints_when_the_loop_closes_first(capfd, text_file):
    gate = threading.Event()
    done = threading.Event()
    lock = Sa.Lock()

    @Sa.smartasync
    def slow():
        gate.wait(20)
        done.set()
        return "nobody listens"

    def slow_plain():
        gate.wait(20)
        return "nobody listens either"

    async def start():
        # Issued, never awaited: the loop closes with them in flight.
        return [slow(), lock.run_once("k", slow_plain),
                Sa.run_gio(Gio.File.new_for_path(text_file), "load_contents")]

    loop = asyncio.new_event_loop()
    futures = loop.run_until_complete(start())
    loop.close()
    gate.set()
    wait_until(done.is_set)
    wait_until(lambda: lock.get_n_in_flight() == 0)
    time.sleep(0.1)
    del futures
    out, err = capfd.readouterr()
    assert err == "" and out == ""


def test_run_gio_from_asyncio(text_file):
    proc = Gio.Subprocess.new(["sleep", "30"], Gio.SubprocessFlags.NONE)

    async def main():
        _, data, _ = await Sa.run_gio(Gio.File.new_for_path(text_file), "load_contents")
        wait = asyncio.ensure_future(Sa.run_gio(proc, "wait_check"))
        await asyncio.sleep(0.05)
        wait.cancel()
        with pytest.raises(asyncio.CancelledError):
            await wait
        return data

    start = time.monotonic()
    assert asyncio.run(main()) == b"hello from a file"
    assert time.monotonic() - start < 20
    proc.force_exit()
    proc.wait(None)


def test_run_gio_refuses_a_cancellable_among_the_arguments(text_file):
    # run_gio() passes the cancellable itself: one given among the
    # arguments would shift the callback, and the call would never end.
    f = Gio.File.new_for_path(text_file)
    for extra in (None, Gio.Cancellable()):
        with pytest.raises(TypeError, match="cancellable="):
            Sa.run_gio(f, "load_contents", extra)

        async def main():
            return Sa.run_gio(f, "load_contents", extra)

        with pytest.raises(TypeError, match="cancellable="):
            asyncio.run(main())
    _, data, _ = Sa.run_gio(f, "load_contents", cancellable=Gio.Cancellable())
    assert data == b"hello from a file"
    # Too few is refused the same way, before any call is made.
    with pytest.raises(TypeError, match="3 argument"):
        Sa.run_gio(f, "query_info", "standard::size")
    info = Sa.run_gio(f, "query_info", "standard::size", Gio.FileQueryInfoFlags.NONE,
                      GLib.PRIORITY_DEFAULT)
    assert info.get_size() == len(data)


def test_glib_errors_reach_asyncio():
    async def main():
        with pytest.raises(GLib.Error) as info:
            await Sa.run_gio(Gio.File.new_for_path("/nonexistent/sa"), "load_contents")
        return info.value

    assert asyncio.run(main()).matches(Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND)


def test_lock_forgets_a_closed_loop():
    lock = Sa.Lock()

    async def start():
        return lock.run_once("k", lambda: "for nobody")

    loop = asyncio.new_event_loop()
    future = loop.run_until_complete(start())
    loop.close()
    wait_until(lambda: lock.props.n_executions == 1 and lock.get_n_in_flight() == 0)
    del future

    async def again():
        return await lock.run_once("k", lambda: "for me")

    assert asyncio.run(again()) == "for me"
    assert lock._sa_groups == {}
