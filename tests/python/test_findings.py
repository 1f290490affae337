# SPDX-License-Identifier: LGPL-2.1-or-later
"""Behaviours found missing by porting the peers' suites (asgiref,
anyio) and the seed's API: StopIteration, the raw API's results,
set_sync()/set_async() as plain calls, the lock's counters for asyncio
callers, callable objects with an async __call__, create_task() of a
decorated plain function, a result not held once dropped."""

import asyncio
import gc
import threading
import weakref

from gi.repository import GObject, Sa

import pytest

from conftest import in_glib_loop


class Result:
    """A result whose life a weak reference follows."""


# --- StopIteration from a plain function ---------------------------------------

@Sa.smartasync
def stops():
    raise StopIteration("from a plain function")


def test_stop_iteration_reaches_an_asyncio_caller():
    async def main():
        with pytest.raises(RuntimeError) as info:
            await asyncio.wait_for(stops(), 10)
        return info.value

    error = asyncio.run(main())
    assert isinstance(error.__cause__, StopIteration)
    assert error.__cause__.args == ("from a plain function",)


def test_stop_iteration_reaches_lock_callers():
    lock = Sa.Lock()

    def raises():
        raise StopIteration("under the lock")

    async def main():
        with pytest.raises(RuntimeError) as info:
            await asyncio.wait_for(lock.run_once("k", raises), 10)
        return info.value

    assert isinstance(asyncio.run(main()).__cause__, StopIteration)
    with pytest.raises(StopIteration):
        lock.run_once("k", raises)


# --- the raw API frees its results ----------------------------------------------

class MakesResult(Sa.Operation):
    """A blocking operation whose value is a fresh Result, weakly followed."""

    def __init__(self, refs):
        super().__init__(kind=Sa.OperationKind.BLOCKING, name="makes-result")
        self.refs = refs

    def do_run(self, task, cancellable):
        result = Result()
        self.refs.append(weakref.ref(result))
        task.return_value(GObject.Value(GObject.TYPE_PYOBJECT, result))


N_RAW = 500


def alive(refs):
    gc.collect()
    return sum(r() is not None for r in refs)


def raw_sync(refs):
    dispatcher = Sa.Dispatcher.get_default()
    for _ in range(N_RAW):
        assert isinstance(dispatcher.call_sync(MakesResult(refs), None), Result)


def raw_lock_sync(refs):
    lock = Sa.Lock()
    for i in range(N_RAW):
        assert isinstance(lock.call_sync(str(i), MakesResult(refs), None), Result)


def raw_lock_call_sync_mode(refs):
    lock = Sa.Lock()
    for i in range(N_RAW):
        task = lock.call(str(i), MakesResult(refs), Sa.CallMode.SYNC, None, None)
        assert isinstance(lock.call_finish(task), Result)


def raw_in_loop(start):
    def run(refs):
        def body(loop):
            left = [N_RAW]

            def done(source, result):
                assert isinstance(source.call_finish(result), Result)
                left[0] -= 1
                if left[0] == 0:
                    loop.quit()

            for i in range(N_RAW):
                start(i, MakesResult(refs), done)

        in_glib_loop(body)
    return run


_lock = Sa.Lock()


@pytest.mark.parametrize("form", [
    raw_sync,
    raw_in_loop(lambda i, op, done: Sa.Dispatcher.get_default().call(
        op, Sa.CallMode.AUTO, None, done)),
    raw_in_loop(lambda i, op, done: Sa.Dispatcher.get_default().call_async(op, None, done)),
    raw_lock_sync,
    raw_lock_call_sync_mode,
    raw_in_loop(lambda i, op, done: _lock.call(str(i), op, Sa.CallMode.AUTO, None, done)),
    raw_in_loop(lambda i, op, done: _lock.call_async(str(i), op, None, done)),
], ids=["call_sync", "call+call_finish", "call_async+call_finish", "lock.call_sync",
        "lock.call(SYNC)+call_finish", "lock.call+call_finish",
        "lock.call_async+call_finish"])
def test_raw_api_frees_its_results(form):
    refs = []
    form(refs)
    assert len(refs) == N_RAW
    assert alive(refs) == 0


# --- set_sync() / set_async() as the seed's plain calls ---------------------------

@Sa.smartasync
def where():
    return threading.get_ident()


def test_set_sync_and_set_async_are_plain_calls():
    async def main():
        try:
            Sa.set_sync()                  # the seed's: set_sync(active=True)
            assert not Sa.is_async_context()
            assert where() == threading.get_ident()   # the result, here
            Sa.set_sync(False)             # clears any override
            assert Sa.is_async_context()
            assert asyncio.isfuture(where())
            Sa.set_async(active=True)
            assert Sa.is_async_context()
            Sa.set_async(False)
        finally:
            Sa.set_sync(False)

    asyncio.run(main())
    assert not Sa.is_async_context()
    try:
        Sa.set_async()
        assert Sa.is_async_context()
    finally:
        Sa.set_async(False)
    assert not Sa.is_async_context()
    with Sa.set_async():               # still a scope when used as one
        assert Sa.is_async_context()
    assert not Sa.is_async_context()


# --- the lock counts asyncio callers that share an execution ------------------------

def test_lock_counts_asyncio_coalescing():
    lock = Sa.Lock()
    gate = threading.Event()

    def slow():
        gate.wait(20)
        return "shared"

    async def main():
        calls = [lock.run_once("k", slow) for _ in range(10)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == ["shared"] * 10
    assert lock.props.n_executions == 1
    assert lock.props.n_coalesced == 9


# --- smaller ----------------------------------------------------------------------

class AsyncCallable:
    async def __call__(self, x):
        await asyncio.sleep(0)
        return x * 3


def test_async_call_method_is_a_coroutine_function():
    f = Sa.smartasync(AsyncCallable())
    assert f(2) == 6   # a script: run to completion, not an unrun coroutine

    async def main():
        return await f(3)

    assert asyncio.run(main()) == 9


def test_create_task_of_a_plain_function():
    @Sa.smartasync
    def plain(x):
        return x + 1

    async def main():
        task = asyncio.create_task(plain(1))
        return await task, await asyncio.ensure_future(plain(2))

    assert asyncio.run(main()) == (2, 3)


# --- an interrupt in a script's coroutine call ----------------------------------

def test_an_interrupt_leaves_the_next_coroutine_calls_of_a_script_working():
    @Sa.smartasync
    async def interrupted():
        await asyncio.sleep(0.01)
        raise KeyboardInterrupt

    @Sa.smartasync
    async def later(i):
        await asyncio.sleep(0.01)
        return i

    def in_a_script():
        with pytest.raises(KeyboardInterrupt):
            interrupted()
        return [later(i) for i in range(3)]

    # A script's thread: no loop runs on it.
    results = []
    thread = threading.Thread(target=lambda: results.append(in_a_script()))
    thread.start()
    thread.join()
    assert results == [[0, 1, 2]]
