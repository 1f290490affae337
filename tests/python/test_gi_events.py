# SPDX-License-Identifier: LGPL-2.1-or-later
"""gi.events (PyGObject 3.50 and later): asyncio on the GLib main loop.
Every row of the caller table holds: a GLib callback is a GLib caller (a
Pending, a coroutine run as a task of the loop), an asyncio task an
asyncio caller, a script a sync caller; cancellation, the lock, reset and
a silent exit. Skipped where PyGObject has no gi.events."""

import asyncio
import os
import subprocess
import sys
import textwrap
import threading

from gi.repository import Gio, GLib, Sa

import pytest

from conftest import GI_EVENTS, collect, in_glib_loop

events = pytest.importorskip("gi.events")


@pytest.fixture(autouse=True)
def policy():
    """gi.events' policy for the test (installed already for the whole run
    when SA_TEST_GI_EVENTS=1)."""
    if GI_EVENTS:
        yield
        return
    policy = events.GLibEventLoopPolicy()
    asyncio.set_event_loop_policy(policy)
    yield
    asyncio.set_event_loop_policy(None)
    for loop in policy._loops.values():
        loop.close()


def run_task(main):
    """Runs main() as a task of the policy's loop of the default context."""
    return asyncio.get_event_loop_policy().get_event_loop().run_until_complete(main())


@Sa.smartasync
def plain(x):
    return (x, threading.get_ident())


@Sa.smartasync
async def coro(x):
    await asyncio.sleep(0.001)  # asyncio's own: there is a loop here
    return (x, threading.get_ident())


def test_caller_table():
    me = threading.get_ident()
    # A script: the result.
    assert plain(1) == (1, me) and coro(2) == (2, me)

    # A GLib callback: Pendings, which run with nobody awaiting them.
    def body(loop):
        assert isinstance(asyncio.get_running_loop(), events.GLibEventLoop)
        pendings = [plain(3), coro(4)]
        assert all(isinstance(p, Sa.Pending) for p in pendings)
        return collect(loop, pendings)

    (three, t3), (four, t4) = in_glib_loop(body)
    assert (three, four) == (3, 4) and t3 != me and t4 == me

    # An asyncio task: awaitables, as on any asyncio loop.
    async def main():
        offload = plain(5)
        coroutine = coro(6)
        assert asyncio.isfuture(offload) and asyncio.iscoroutine(coroutine)
        return await offload, await coroutine, await asyncio.create_task(plain(7))

    (five, t5), (six, t6), (seven, _) = run_task(main)
    assert (five, six, seven) == (5, 6, 7) and t5 != me and t6 == me


def test_a_task_awaits_a_glib_callers_pending():
    box = {}

    def start():
        box["pending"] = coro(8)
        return GLib.SOURCE_REMOVE

    async def main():
        # (An idle would wait: gi.events' source, at a higher priority, is
        # ready at every sleep of this loop.)
        GLib.timeout_add(1, start)
        while "pending" not in box:
            await asyncio.sleep(0.001)
        return await box["pending"]

    assert run_task(main)[0] == 8


def test_cancellation():
    gate = threading.Event()

    @Sa.smartasync
    def waits():
        Sa.current_cancellable().connect(lambda *_: gate.set())
        gate.wait(20)
        return "late"

    @Sa.smartasync
    async def sleeps():
        await asyncio.sleep(30)

    # A GLib caller: G_IO_ERROR_CANCELLED, for either kind of function.
    def body(loop):
        pendings = [waits(), sleeps()]
        GLib.timeout_add(20, lambda: [p.cancel() for p in pendings] and False)
        return collect(loop, pendings)

    errors = in_glib_loop(body)
    assert all(e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED) for e in errors)
    assert gate.wait(20)  # the body's cancellable fired

    # A task: CancelledError, as asyncio gives.
    gate.clear()

    async def main():
        task = asyncio.ensure_future(waits())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return True

    assert run_task(main)
    assert gate.wait(20)


def test_lock_coalesces_glib_callers_and_tasks():
    lock = Sa.Lock()
    gate = threading.Event()
    runs = []

    def load():
        runs.append(1)
        gate.wait(20)
        return "loaded"

    async def one():
        return await lock.run_once("k", load)

    def body(loop):
        pendings = [lock.run_once("k", load) for _ in range(3)]
        tasks = [asyncio.ensure_future(one()) for _ in range(3)]

        def all_joined():
            if lock.props.n_coalesced < 5:
                return GLib.SOURCE_CONTINUE
            gate.set()
            return GLib.SOURCE_REMOVE

        GLib.timeout_add(5, all_joined)
        return collect(loop, pendings + tasks)

    assert in_glib_loop(body) == ["loaded"] * 6
    assert len(runs) == 1 and lock.props.n_executions == 1
    assert lock.props.n_coalesced == 5


def test_reset():
    lock = Sa.Lock()
    gate = threading.Event()

    def body(loop):
        pending = lock.run_once("k", gate.wait, 20)
        GLib.timeout_add(20, lambda: lock.reset() and False)
        return collect(loop, [pending])

    (error,) = in_glib_loop(body)
    gate.set()
    assert error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
    Sa.reset_smartasync_cache()
    assert coro(9)[0] == 9

    async def again():
        return await coro(10)

    assert run_task(again)[0] == 10


def test_exit_is_silent(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent('''
        import asyncio
        import gi
        gi.require_version("Sa", "1")
        import gi.events
        from gi.repository import GLib, Sa
        asyncio.set_event_loop_policy(gi.events.GLibEventLoopPolicy())

        @Sa.smartasync
        async def co(x):
            await asyncio.sleep(0.001)
            return x * 2

        @Sa.smartasync
        def plain(x):
            return x + 1

        assert co(2) == 4 and plain(2) == 3
        loop = GLib.MainLoop()
        def start():
            p = co(5)
            p.add_done_callback(lambda p: loop.quit())
        GLib.idle_add(start)
        loop.run()
        print("done")
    '''))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=os.environ, timeout=60)
    assert (out.stdout, out.stderr, out.returncode) == ("done\n", "", 0)
