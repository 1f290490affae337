# SPDX-License-Identifier: LGPL-2.1-or-later
"""The contract of tests/contract.tsv, the table shared with the C matrix
(tests/test-contract.c), in every Python cell: a script, a GLib loop, an
asyncio loop, and gi.events (a GLib callback and a task on its loop),
for a plain function, a coroutine function and Sa.Lock.run_once()."""

import asyncio
import gc
import os
import re
import threading
import time
import weakref

from gi.repository import Gio, GLib, Sa

import pytest

from conftest import GI_EVENTS, collect, in_glib_loop, wait_until

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_table():
    rows = {}
    with open(os.path.join(TESTS, "contract.tsv"), encoding="utf-8") as table:
        for line in table:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            rows[fields[0]] = fields[1:]
    return rows


TABLE = read_table()


def test_the_table_has_every_situation_of_the_c_matrix():
    with open(os.path.join(TESTS, "test-contract.c"), encoding="utf-8") as source:
        text = source.read()
    block = re.search(r"situations\[\] = \{(.*?)\n\};", text, re.S).group(1)
    c_situations = re.findall(r'\{ "([a-z-]+)",', block)
    assert c_situations and set(c_situations) <= set(TABLE)
    for name, (c, python, *why) in TABLE.items():
        # A Python column that is not the C one says why, or is n/a with a reason.
        assert python and (python != "n/a" or (why and why[0]))


def python_rows():
    return [name for name, (c, python, *why) in TABLE.items() if python != "n/a"]


def test_every_python_row_has_its_test():
    for name in python_rows():
        assert callable(globals().get("test_" + name.replace("-", "_"))), name


# --- the cells ------------------------------------------------------------------

try:
    import gi.events as gi_events
except ImportError:
    gi_events = None


class Cell:
    """Makes a call as its caller and gives ("ok", value) or ("error", exc)."""
    task = False     # an asyncio task's: cancelled is CancelledError

    def cancelled(self, outcome):
        kind, value = outcome
        if kind != "error":
            return False
        if self.task:
            return isinstance(value, asyncio.CancelledError)
        return isinstance(value, GLib.Error) and value.matches(
            Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)


class Script(Cell):
    name = "script"

    def run(self, start, during=None):
        if during is not None:
            threading.Thread(target=during, daemon=True).start()
        try:
            return "ok", start()
        except BaseException as exc:  # noqa: B902
            return "error", exc

    def held_after(self, start, n):
        held = 0
        for _ in range(n):
            ref = weakref.ref(self.run(start)[1])
            held += ref() is not None
        return held


class GLibLoop(Cell):
    name = "glib"

    def run(self, start, during=None):
        def body(loop):
            call = start()
            assert isinstance(call, Sa.Pending)
            if during is not None:
                threading.Thread(target=during, daemon=True).start()
            return collect(loop, [call])

        (value,) = in_glib_loop(body)
        return ("error", value) if isinstance(value, BaseException) else ("ok", value)

    def held_after(self, start, n):
        def body(loop):
            state = {"left": n, "held": 0, "ref": None}

            def step():
                if state["ref"] is not None:
                    state["held"] += state["ref"]() is not None
                if state["left"] == 0:
                    loop.quit()
                    return GLib.SOURCE_REMOVE
                state["left"] -= 1
                call = start()
                assert isinstance(call, Sa.Pending)
                call.add_done_callback(done)
                return GLib.SOURCE_REMOVE

            def done(call):
                # Read as callers do, with result(), which raises the
                # error; this frame keeps nothing of the call, so neither
                # does the error's traceback through it.
                box = [call]
                del call
                try:
                    state["ref"] = weakref.ref(box.pop().result())
                except BaseException as exc:  # noqa: B902
                    state["ref"] = weakref.ref(exc)
                GLib.idle_add(step)

            step()
            return state

        return in_glib_loop(body)["held"]


class Asyncio(Cell):
    name = "asyncio"
    task = True

    def run_main(self, main):
        return asyncio.run(main)

    def run(self, start, during=None):
        async def main():
            call = start()
            if during is not None:
                threading.Thread(target=during, daemon=True).start()
            try:
                return "ok", await call
            except BaseException as exc:  # noqa: B902
                return "error", exc

        return self.run_main(main())

    def held_after(self, start, n):
        async def main():
            held = 0
            for _ in range(n):
                try:
                    ref = weakref.ref(await start())
                except BaseException as exc:  # noqa: B902
                    ref = weakref.ref(exc)
                # asyncio's handle that woke this task holds the future
                # until the step ends: the caller's next step is its next
                # await.
                await asyncio.sleep(0)
                held += ref() is not None
            return held

        return self.run_main(main())


class GiEvents:
    """A cell of gi.events' policy, installed for the call."""

    def run(self, start, during=None):
        return self.on_policy(lambda: super(GiEvents, self).run(start, during))

    def held_after(self, start, n):
        return self.on_policy(lambda: super(GiEvents, self).held_after(start, n))

    def on_policy(self, func):
        if GI_EVENTS:
            return func()
        policy = gi_events.GLibEventLoopPolicy()
        asyncio.set_event_loop_policy(policy)
        try:
            return func()
        finally:
            asyncio.set_event_loop_policy(None)
            # A copy: the binding's GLib thread for asyncio callers may add
            # the loop of its own context meanwhile.
            for loop in list(policy._loops.values()):
                loop.close()


class GiEventsGLib(GiEvents, GLibLoop):
    name = "gi-events-glib"


class GiEventsTask(GiEvents, Asyncio):
    name = "gi-events-task"

    def run_main(self, main):
        return asyncio.get_event_loop_policy().get_event_loop().run_until_complete(main)


CELLS = [Script(), GLibLoop(), Asyncio()]
if gi_events is not None and not GI_EVENTS:
    # (Under SA_TEST_GI_EVENTS=1 the GLib and asyncio cells are gi.events'.)
    CELLS += [GiEventsGLib(), GiEventsTask()]


# --- the callees: a plain function, a coroutine function, a lock's ---------------

class Behaviour:
    """What the callee does, and what it saw."""

    def __init__(self, result=None, error=None, wait_cancel=False):
        self.result = result
        self.error = error
        self.wait_cancel = wait_cancel
        self.runs = 0
        self.started = threading.Event()
        self.saw_cancel = threading.Event()

    def body(self):
        self.runs += 1
        self.started.set()
        if self.wait_cancel:
            fired = threading.Event()
            Sa.current_cancellable().connect(lambda *_: fired.set())
            if fired.wait(20):
                self.saw_cancel.set()
            return "late"
        if self.error is not None:
            raise self.error
        return self.result


def callees(behaviour, dispatcher=None):
    """(kind, start(**call_kwargs)) for each kind of callee."""
    plain = Sa.smartasync(behaviour.body, dispatcher=dispatcher)

    async def coroutine_body():
        # The plain body, awaited as a nested call: cancellation reaches it.
        return await plain()

    coroutine = Sa.smartasync(coroutine_body, dispatcher=dispatcher)
    lock = Sa.Lock(dispatcher)

    def locked(**kwargs):
        return lock.run_once("key", behaviour.body, **kwargs)

    return {"plain": plain, "coroutine": coroutine, "lock": locked}


KINDS = ["plain", "coroutine", "lock"]


def cases(situation):
    return [pytest.param(cell, kind, id="%s-%s-%s" % (situation, cell.name, kind))
            for cell in CELLS for kind in KINDS]


class Result:
    pass


class Boom(Exception):
    pass


@pytest.mark.parametrize("cell,kind", cases("value"))
def test_value(cell, kind):
    made = Result()
    behaviour = Behaviour(result=made)
    outcome = cell.run(callees(behaviour)[kind])
    assert outcome == ("ok", made) and outcome[1] is made
    assert behaviour.runs == 1


@pytest.mark.parametrize("cell,kind", cases("error"))
def test_error(cell, kind):
    raised = Boom("the very one")
    behaviour = Behaviour(error=raised)
    kind_, value = cell.run(callees(behaviour)[kind])
    assert kind_ == "error" and value is raised
    assert behaviour.runs == 1


@pytest.mark.parametrize("cell,kind", cases("cancel-before"))
def test_cancel_before(cell, kind):
    behaviour = Behaviour(result="never")
    cancellable = Gio.Cancellable()
    cancellable.cancel()
    start = callees(behaviour)[kind]
    outcome = cell.run(lambda: start(_sa_cancellable=cancellable))
    assert cell.cancelled(outcome), outcome
    assert behaviour.runs == 0


@pytest.mark.parametrize("cell,kind", cases("cancel-during"))
def test_cancel_during(cell, kind):
    behaviour = Behaviour(wait_cancel=True)
    cancellable = Gio.Cancellable()
    start = callees(behaviour)[kind]

    def cancel_once_started():
        behaviour.started.wait(20)
        cancellable.cancel()

    outcome = cell.run(lambda: start(_sa_cancellable=cancellable), cancel_once_started)
    assert cell.cancelled(outcome), outcome
    # The body saw its cancellable fire; its late result went nowhere.
    assert behaviour.saw_cancel.wait(20)
    assert behaviour.runs == 1


# (A lock call times out in the C lock itself, which test-lock.c checks.)
@pytest.mark.parametrize("cell,kind", [c for c in cases("timeout") if c.values[1] != "lock"])
def test_timeout(cell, kind):
    dispatcher = Sa.Dispatcher.new()
    dispatcher.set_timeout(100)
    behaviour = Behaviour(wait_cancel=True)
    kind_, value = cell.run(callees(behaviour, dispatcher)[kind])
    assert kind_ == "error" and isinstance(value, GLib.Error), value
    assert value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT)
    assert behaviour.saw_cancel.wait(20)


@pytest.mark.parametrize("cell,kind", cases("thread-default"))
def test_thread_default(cell, kind):
    """The outcome reaches the caller on its own thread, through its own
    context or loop: the cell's run() gets it there or not at all."""
    me = threading.get_ident()
    seen = []
    behaviour = Behaviour(result="here")
    start = callees(behaviour)[kind]

    def started():
        call = start()
        if isinstance(call, Sa.Pending):
            call.add_done_callback(lambda _: seen.append(threading.get_ident()))
        elif asyncio.isfuture(call):
            call.add_done_callback(lambda _: seen.append(threading.get_ident()))
        return call

    assert cell.run(started) == ("ok", "here")
    assert all(t == me for t in seen)


@pytest.mark.parametrize("cell,kind", cases("nesting"))
def test_nesting(cell, kind):
    @Sa.smartasync
    def inner():
        return threading.get_ident(), Sa.is_async_context()

    behaviour = Behaviour()
    behaviour.body = inner
    outcome = cell.run(callees(behaviour)[kind])
    assert outcome[0] == "ok", outcome
    thread, was_async = outcome[1]
    # A plain body that runs on a worker (or on the script's thread) calls
    # as a sync caller: inner ran directly, on that very thread.
    assert was_async is False


@pytest.mark.parametrize("cell,kind", cases("reset"))
def test_reset(cell, kind):
    behaviour = Behaviour(result="before")
    start = callees(behaviour)[kind]
    assert cell.run(start) == ("ok", "before")
    Sa.reset_smartasync_cache()
    behaviour.result = "after"
    assert cell.run(start) == ("ok", "after")


class Fresh(Behaviour):
    """A new result, or a new exception, at each run."""

    def __init__(self, fail):
        super().__init__()
        self.fail = fail

    def body(self):
        self.runs += 1
        time.sleep(0.002)  # the caller waits, and is woken as the body ends
        if self.fail:
            raise Boom(Result())
        return Result()


@pytest.mark.parametrize("fail", [False, True], ids=["value", "error"])
@pytest.mark.parametrize("cell,kind", cases("release"))
def test_release(cell, kind, fail):
    """Once the caller has its result (or exception) and drops it, nothing
    holds it: not a worker, a box, a call, a lock's group or its GLib
    thread. Checked at the caller's next step, with the collector off."""
    behaviour = Fresh(fail)
    start = callees(behaviour)[kind]
    gc.collect()
    gc.disable()
    try:
        held = cell.held_after(start, 30)
    finally:
        gc.enable()
    assert held == 0
    assert behaviour.runs == 30


def lock_cases(situation):
    return [pytest.param(cell, id="%s-%s" % (situation, cell.name)) for cell in CELLS]


@pytest.mark.parametrize("cell", lock_cases("lock-join"))
def test_lock_join(cell):
    lock = Sa.Lock()
    gate = threading.Event()
    runs = []

    def load():
        runs.append(1)
        gate.wait(20)
        return "shared"

    if isinstance(cell, Script):
        # Callers on other threads join the script's execution.
        others = []
        threads = [threading.Thread(target=lambda: others.append(lock.run_once("k", load)))
                   for _ in range(3)]

        def during():
            wait_until(lambda: runs)
            for t in threads:
                t.start()
            wait_until(lambda: lock.props.n_coalesced == 3)
            gate.set()

        assert cell.run(lambda: lock.run_once("k", load), during) == ("ok", "shared")
        for t in threads:
            t.join(20)
        assert others == ["shared"] * 3
    else:
        def start():
            calls = [lock.run_once("k", load) for _ in range(4)]
            if isinstance(calls[0], Sa.Pending):
                return smartgather(calls)
            return asyncio.gather(*calls)

        def during():
            wait_until(lambda: lock.props.n_coalesced == 3)
            gate.set()

        assert cell.run(start, during) == ("ok", ["shared"] * 4)
    assert len(runs) == 1 and lock.props.n_executions == 1
    assert lock.props.n_coalesced == 3


@pytest.mark.parametrize("cell", [c for c in lock_cases("lock-coroutine")
                                  if not isinstance(c.values[0], Script)])
def test_lock_runs_a_decorated_coroutine_function_as_an_undecorated_one(cell):
    """On a loop's or a GLib context's thread, a coroutine function given
    to run_once() runs there, decorated with smartasync or not."""
    def where():
        try:
            loop = id(asyncio.get_running_loop())
        except RuntimeError:
            loop = None
        return threading.get_ident(), loop

    async def undecorated():
        await Sa.smartasync(lambda: None)()  # a nested call, on any loop
        return where()

    decorated = Sa.smartasync(undecorated)
    lock = Sa.Lock()

    def start():
        calls = [lock.run_once("a", undecorated), lock.run_once("b", decorated)]
        if isinstance(calls[0], Sa.Pending):
            return smartgather(calls)
        return asyncio.gather(*calls)

    kind, (plain, wrapped) = cell.run(start)
    assert kind == "ok"
    assert wrapped == plain and plain[0] == threading.get_ident()


def smartgather(pendings):
    """A Pending of the results of pendings (GLib callers)."""
    gathered = Sa.Pending()
    results = [None] * len(pendings)
    left = [len(pendings)]

    def done(i, p):
        results[i] = p.result()
        left[0] -= 1
        if left[0] == 0:
            gathered._settle(True, results)

    for i, p in enumerate(pendings):
        p.add_done_callback(lambda p, i=i: done(i, p))
    return gathered


@pytest.mark.parametrize("cell", [c for c in lock_cases("lock-cancel-one")
                                  if not isinstance(c.values[0], Script)])
def test_lock_cancel_one(cell):
    lock = Sa.Lock()
    gate = threading.Event()
    mine = Gio.Cancellable()

    def load():
        gate.wait(20)
        return "shared"

    def start():
        leaving = lock.run_once("k", load, _sa_cancellable=mine)
        staying = lock.run_once("k", load)
        if isinstance(staying, Sa.Pending):
            return smartgather([staying, smartcatch(leaving)])
        return asyncio.gather(staying, leaving, return_exceptions=True)

    def during():
        wait_until(lambda: lock.props.n_coalesced == 1)
        mine.cancel()  # reaches the caller's context or loop before the result
        gate.set()

    kind, (value, left) = cell.run(start, during)
    assert (kind, value) == ("ok", "shared")
    assert cell.cancelled(("error", left))
    assert lock.props.n_executions == 1


def smartcatch(pending):
    """A Pending of what pending gives, its exception as a value."""
    caught = Sa.Pending()
    pending.add_done_callback(lambda p: caught._settle(True, p.exception() or p.result()))
    return caught


@pytest.mark.parametrize("cell", lock_cases("lock-reset"))
def test_lock_reset(cell):
    lock = Sa.Lock()
    gate = threading.Event()

    def load():
        gate.wait(20)
        return "never seen"

    def reset_once_running():
        wait_until(lambda: lock.get_n_in_flight() == 1)
        lock.reset()
        gate.set()

    outcome = cell.run(lambda: lock.run_once("k", load), reset_once_running)
    assert cell.cancelled(outcome), outcome
