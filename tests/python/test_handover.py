# SPDX-License-Identifier: LGPL-2.1-or-later
"""The hand-over of a plain function to a worker and back, and the kept
loop of a script's coroutine: whichever side ends first (the worker
before its caller has the GIL back, or the caller before the worker),
the caller gets the same outcome the same way; calls issued together run
side by side; a kept loop run without its poll behaves as run_forever()
would."""

import asyncio
import contextvars
import threading

from gi.repository import Sa

import pytest

from conftest import collect, in_glib_loop

N_CALLS = 200
seen = contextvars.ContextVar("seen", default="unset")


class Boom(Exception):
    pass


@Sa.smartasync
def echo(value):
    """Ends at once: its worker often ends before its caller goes on."""
    if isinstance(value, BaseException):
        raise value
    return value, seen.get()


def test_asyncio_one_by_one_gets_each_outcome():
    async def main():
        seen.set("caller's")
        got = []
        for i in range(N_CALLS):
            value = object()
            result, var = await echo(value)
            assert result is value and var == "caller's"
            error = Boom(i)
            with pytest.raises(Boom) as info:
                await echo(error)
            assert info.value is error
            got.append(i)
        return got

    assert asyncio.run(main()) == list(range(N_CALLS))


def test_glib_pendings_complete_after_the_call():
    def body(loop):
        pendings = []
        for i in range(N_CALLS):
            pending = echo(i)
            assert not pending.done()  # never completed inside the call
            pendings.append(pending)
        return collect(loop, pendings)

    assert [r[0] for r in in_glib_loop(body)] == list(range(N_CALLS))


N_TOGETHER = 4


def meet(barrier):
    # Each call waits for all the others: calls run one after the other
    # break the barrier (BrokenBarrierError) instead of meeting there.
    return barrier.wait()


def test_asyncio_gather_runs_side_by_side():
    barrier = threading.Barrier(N_TOGETHER, timeout=20)
    call = Sa.smartasync(meet)

    async def main():
        for _ in range(3):
            await echo(0)  # a worker just back from an outcome its caller took
            indices = await asyncio.gather(*[call(barrier) for _ in range(N_TOGETHER)])
            assert sorted(indices) == list(range(N_TOGETHER))
            barrier.reset()

    asyncio.run(main())


def test_glib_calls_run_side_by_side():
    barrier = threading.Barrier(N_TOGETHER, timeout=20)
    call = Sa.smartasync(meet)

    def body(loop):
        return collect(loop, [call(barrier) for _ in range(N_TOGETHER)])

    assert sorted(in_glib_loop(body)) == list(range(N_TOGETHER))


# --- a script's coroutine on the kept loop ---------------------------------------

@Sa.smartasync
async def stops_its_loop():
    await asyncio.sleep(0)
    asyncio.get_running_loop().stop()
    return "done"


@Sa.smartasync
async def sleeps(seconds):
    await asyncio.sleep(seconds)
    return seconds


def test_a_loop_stopped_by_a_completed_coroutine_runs_the_next_call():
    assert stops_its_loop() == "done"
    # A stop() left pending would end the next run_forever() at once.
    assert sleeps(0.01) == 0.01


@Sa.smartasync
async def waits_for_a_thread():
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    threading.Thread(target=loop.call_soon_threadsafe,
                     args=(future.set_result, "from a thread")).start()
    while not future.done():
        await asyncio.sleep(0)
    return future.result()


@Sa.smartasync
async def spawns():
    child = asyncio.get_running_loop().create_task(asyncio.sleep(0, "child"))
    await asyncio.sleep(0)
    return await child


def test_a_coroutine_that_only_yields_sees_other_threads_and_tasks():
    for _ in range(20):
        assert waits_for_a_thread() == "from a thread"
        assert spawns() == "child"
