# SPDX-License-Identifier: LGPL-2.1-or-later
"""Called from a running GLib main loop: Sa.Pending like an asyncio future,
callbacks on the caller's context, cancellation, SaLock (SmartLock), and
the seed's smartawait and smartcontinuation."""

import asyncio
import threading
import time

from gi.repository import Gio, GLib, Sa

import pytest

from conftest import GI_EVENTS, collect, in_glib_loop, wait_until


@Sa.smartasync
def add(a, b):
    return a + b


@Sa.smartasync
async def add_later(a, b):
    return await add(a, b)


def test_offload_keeps_the_loop_running():
    ticks = []
    caller = threading.get_ident()
    threads = []

    @Sa.smartasync
    def slow_square(n):
        threads.append(threading.get_ident())
        time.sleep(0.05)
        return n * n

    def body(loop):
        GLib.timeout_add(5, lambda: ticks.append(1) or True)
        return collect(loop, [slow_square(n) for n in range(6)])

    assert in_glib_loop(body) == [0, 1, 4, 9, 16, 25]
    assert caller not in threads
    assert len(ticks) >= 3  # the loop ran its timer while the workers slept


def test_callbacks_run_on_the_callers_context():
    """A thread running its own loop on its own context gets its results
    there, not on the default context."""
    box = {}

    def thread_main():
        context = GLib.MainContext.new()
        context.push_thread_default()
        loop = GLib.MainLoop.new(context, False)

        def start():
            p = add(1, 2)
            q = add_later(3, 4)
            def done(_):
                box.setdefault("threads", []).append(threading.get_ident())
                if len(box["threads"]) == 2:
                    loop.quit()

            p.add_done_callback(done)
            q.add_done_callback(done)
            box["pendings"] = (p, q)
            return GLib.SOURCE_REMOVE

        source = GLib.idle_source_new()
        source.set_callback(lambda *_: start())
        source.attach(context)
        loop.run()
        context.pop_thread_default()
        box["me"] = threading.get_ident()

    t = threading.Thread(target=thread_main)
    t.start()
    t.join(30)
    p, q = box["pendings"]
    assert (p.result(), q.result()) == (3, 7)
    assert box["threads"] == [box["me"]] * 2


def test_pending_like_an_asyncio_future():
    gate = threading.Event()

    @Sa.smartasync
    def slow():
        gate.wait(20)
        return "late"

    def body(loop):
        p = slow()
        with pytest.raises(asyncio.InvalidStateError):
            p.result()
        with pytest.raises(asyncio.InvalidStateError):
            p.exception()
        calls = []

        def first(_):
            calls.append("first")

        p.add_done_callback(first)
        p.add_done_callback(first)
        assert p.remove_done_callback(first) == 2
        assert p.remove_done_callback(first) == 0
        assert p.cancel() and p.cancelled() and p.done()
        assert not p.cancel()
        err = p.exception()
        assert err.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
        with pytest.raises(GLib.Error):
            p.result()
        # Added after it is done: called in a later iteration, not now.
        p.add_done_callback(lambda _: (calls.append("after"), loop.quit()))
        assert calls == []
        gate.set()

    in_glib_loop(body)


def test_cancel_reaches_the_body():
    seen = {}
    started = threading.Event()

    @Sa.smartasync
    def wait_for_cancel():
        cancellable = Sa.current_cancellable()
        started.set()
        fired = threading.Event()
        cancellable.connect(lambda *_: fired.set())
        seen["fired"] = fired.wait(20)

    def body(loop):
        p = wait_for_cancel()
        started.wait(20)
        p.cancel()
        return collect(loop, [p])

    (err,) = in_glib_loop(body)
    assert err.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
    wait_until(lambda: "fired" in seen)
    assert seen["fired"]


def test_cancel_a_coroutine_cancels_what_it_awaits():
    proc = Gio.Subprocess.new(["sleep", "30"], Gio.SubprocessFlags.NONE)
    seen = {}

    @Sa.smartasync
    async def wait_child():
        try:
            return await Sa.run_gio(proc, "wait_check")
        except (GLib.Error, asyncio.CancelledError) as error:
            seen["inner"] = error
            raise

    def body(loop):
        p = wait_child()
        GLib.timeout_add(50, lambda: p.cancel() and False)

        def seen_inner():
            if "inner" not in seen:
                return GLib.SOURCE_CONTINUE
            loop.quit()
            return GLib.SOURCE_REMOVE

        GLib.timeout_add(5, seen_inner)
        return p

    start = time.monotonic()
    p = in_glib_loop(body)
    assert time.monotonic() - start < 20
    assert p.cancelled()
    if GI_EVENTS:
        # The coroutine is an asyncio task there: cancelled as tasks are.
        assert isinstance(seen["inner"], asyncio.CancelledError)
    else:
        assert seen["inner"].matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
    proc.force_exit()
    proc.wait(None)


def test_every_callback_runs_even_if_one_raises(capfd):
    """And a coroutine awaiting the same Pending goes on."""
    gate = threading.Event()

    @Sa.smartasync
    def slow():
        gate.wait(20)
        return 5

    calls = []

    def body(loop):
        p = slow()

        @Sa.smartasync
        async def awaits_it():
            return await p + 1

        def bad(_):
            calls.append("bad")
            raise ValueError("a callback that raises")

        p.add_done_callback(bad)
        p.add_done_callback(lambda _: calls.append("good"))
        q = awaits_it()
        gate.set()
        return collect(loop, [q])

    assert in_glib_loop(body) == [6]
    assert calls == ["bad", "good"]
    assert "a callback that raises" in capfd.readouterr().err


def test_run_gio_everywhere(text_file):
    """The same GIO pair from a script, a GLib loop and asyncio."""
    f = Gio.File.new_for_path(text_file)
    assert Sa.run_gio(f, "load_contents")[1] == b"hello from a file"

    def body(loop):
        return collect(loop, [Sa.run_gio(f, "load_contents")])

    assert in_glib_loop(body)[0][1] == b"hello from a file"

    async def main():
        return (await Sa.run_gio(f, "load_contents"))[1]

    assert asyncio.run(main()) == b"hello from a file"


# --- SmartLock ------------------------------------------------------------------------

def test_lock_coalesces_in_a_glib_loop():
    lock = Sa.Lock()
    runs = []

    @Sa.smartasync
    async def load():
        runs.append(1)
        await add(0, 0)
        return {"loaded": len(runs)}

    def body(loop):
        return collect(loop, [lock.run_once("config", load) for _ in range(5)])

    results = in_glib_loop(body)
    assert results == [{"loaded": 1}] * 5
    assert len(runs) == 1
    assert lock.props.n_executions == 1 and lock.props.n_coalesced == 4
    # A script: the result directly, from a new execution (not a cache).
    assert lock.run_once("config", load) == {"loaded": 2}
    assert lock.run_once("config", lambda: "plain") == "plain"


def test_smartlock_errors_reach_every_caller():
    lock = Sa.SmartLock()

    def fail():
        raise KeyError("shared failure")

    def body(loop):
        return collect(loop, [lock.run_once(fail) for _ in range(3)])

    errors = in_glib_loop(body)
    assert all(isinstance(e, KeyError) for e in errors)
    assert errors[0] is errors[1] is errors[2]
    with pytest.raises(KeyError):
        lock.run_once(fail)


def test_lock_one_caller_cancels_alone_and_reset_cancels_all():
    lock = Sa.Lock()
    gate = threading.Event()

    def slow():
        gate.wait(20)
        return "shared"

    def body(loop):
        mine = Gio.Cancellable()
        leaving = lock.run_once("k", slow, _sa_cancellable=mine)
        staying = lock.run_once("k", slow)
        mine.cancel()
        GLib.timeout_add(20, lambda: gate.set())
        return collect(loop, [leaving, staying])

    left, stayed = in_glib_loop(body)
    assert left.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
    assert stayed == "shared"

    gate.clear()

    def body2(loop):
        pendings = [lock.run_once("k", slow) for _ in range(3)]
        GLib.timeout_add(20, lambda: lock.reset())
        results = collect(loop, pendings)
        return results

    results = in_glib_loop(body2)
    gate.set()
    assert all(r.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED) for r in results)


# --- smartawait, smartcontinuation ----------------------------------------------------

def test_smartawait():
    async def inner():
        return 42

    async def outer():
        return inner()

    async def main():
        return (await Sa.smartawait(outer()), await Sa.smartawait(7),
                await Sa.smartawait(add(1, 1)))

    assert asyncio.run(main()) == (42, 7, 2)


def test_smartcontinuation():
    def name_of(user, suffix=""):
        return user["name"] + suffix

    assert Sa.smartcontinuation({"name": "Alice"}, name_of) == "Alice"

    @Sa.smartasync
    async def fetch_user():
        await asyncio.sleep(0)
        return {"name": "Bob"}

    async def main():
        continued = Sa.smartcontinuation(fetch_user(), name_of, suffix="!")
        assert asyncio.iscoroutine(continued)
        return await continued

    assert asyncio.run(main()) == "Bob!"
    # From a script, the decorated call gives the value: applied at once.
    assert Sa.smartcontinuation(fetch_user(), name_of) == "Bob"

    def body(loop):
        continued = Sa.smartcontinuation(add_later(1, 2), lambda v: v * 10)
        assert isinstance(continued, Sa.Pending)
        return collect(loop, [continued])

    assert in_glib_loop(body) == [30]


def test_done_callback_in_a_context_is_removable():
    """asyncio's future protocol: add_done_callback(context=) runs the
    callback in that context, and remove_done_callback() finds it."""
    import contextvars

    var = contextvars.ContextVar("var", default="outside")
    seen = []

    def callback(p):
        seen.append(var.get())

    def body(loop):
        p = add(1, 1)
        context = contextvars.copy_context()
        context.run(var.set, "inside")
        p.add_done_callback(callback, context=context)
        p.add_done_callback(lambda _: loop.quit())
        q = add(2, 2)
        q.add_done_callback(callback, context=context)
        assert q.remove_done_callback(callback) == 1
        return p

    in_glib_loop(body)
    assert seen == ["inside"]
