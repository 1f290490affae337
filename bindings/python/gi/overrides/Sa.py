# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyGObject overrides for Sa: the smartasync API of the Python library,
carried out by the C dispatcher.

    from gi.repository import Sa

    @Sa.smartasync
    def query(sql):                 # blocking: offloaded from a loop
        ...

    @Sa.smartasync
    async def fetch(path):          # non-blocking: driven on GLib
        ok, data, _ = await Sa.run_gio(Gio.File.new_for_path(path), "load_contents")
        return data

A call returns the result for a sync caller (no GLib main loop running on
this thread), a Sa.Pending for an async caller (inside a running GLib
main loop: take the result through a callback or await it from another
decorated coroutine), and an asyncio future inside a running asyncio
loop.
"""

import asyncio
import copy
import functools
import inspect
import itertools
import threading
import traceback

from gi.repository import GLib, GObject, Gio

from ..module import get_introspection_module
from ..overrides import override

Sa = get_introspection_module("Sa")

__all__ = []


def _export(obj):
    __all__.append(obj.__name__)
    return obj


# --- exceptions across the C side ------------------------------------------

# A Python exception raised by an operation crosses the C dispatcher as a
# GError (Sa.Error.FAILED) whose message carries a token; the caller's side
# raises the very same exception object again.
_TOKEN_MARK = " [sa-python-exception "
_exceptions = {}
_exceptions_lock = threading.Lock()
_tokens = itertools.count(1)
_MAX_KEPT = 4096


def _error_for(exc):
    # The kept exception must hold no frame: a finished frame keeps its
    # caller's frame (and so the task and its context) alive. The
    # operation's traceback, from the user's code down, becomes a note.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    if tb is not None and hasattr(exc, "add_note"):
        exc.add_note("Raised in a smartasync operation:\n" +
                     "".join(traceback.format_tb(tb)).rstrip())
    exc.__traceback__ = None
    del tb
    token = next(_tokens)
    with _exceptions_lock:
        _exceptions[token] = exc
        while len(_exceptions) > _MAX_KEPT:
            _exceptions.pop(next(iter(_exceptions)))
    message = "%s: %s%s%d]" % (type(exc).__name__, exc, _TOKEN_MARK, token)
    return GLib.Error.new_literal(Sa.error_quark(), message, Sa.Error.FAILED)


def _reraise(error):
    """Raises the Python exception a GLib.Error stands for, or the error."""
    if (isinstance(error, GLib.Error)
            and error.domain == GLib.quark_to_string(Sa.error_quark())
            and _TOKEN_MARK in error.message):
        token = int(error.message.rsplit(_TOKEN_MARK, 1)[1].rstrip("]"))
        with _exceptions_lock:
            exc = _exceptions.get(token)
        if exc is not None:
            # A copy per caller (several may share one result under a
            # lock): the kept original never gathers the frames, and their
            # locals, of later raises.
            try:
                again = copy.copy(exc)
            except Exception:  # noqa: BLE001 - an exception that cannot be copied
                again = exc
            raise again from None
    raise error


def _value(result):
    """Wraps any Python object for g_task_return_value()."""
    return GObject.Value(GObject.TYPE_PYOBJECT, result)


def _read(getter):
    try:
        return getter()
    except GLib.Error as error:
        _reraise(error)


# --- what an async caller gets ---------------------------------------------

@_export
class Pending:
    """A result that is not there yet, for a caller inside a GLib main loop.

    It completes on the caller's thread-default context. Take the result
    with add_done_callback(), or await it from a coroutine decorated with
    smartasync; cancel() cancels the operation behind it.
    """

    def __init__(self, cancellable=None):
        self.cancellable = cancellable or Gio.Cancellable()
        self._done = False
        self._result = None
        self._exception = None
        self._callbacks = []

    def done(self):
        return self._done

    def result(self):
        if not self._done:
            raise RuntimeError("the result is not there yet")
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self):
        return self._exception

    def cancel(self):
        self.cancellable.cancel()

    def add_done_callback(self, callback):
        """Calls callback(pending) once the result is there (at once if it is)."""
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def _settle(self, getter):
        try:
            self._result = _read(getter)
        except BaseException as exc:  # noqa: B902 - handed to the caller
            self._exception = exc
        self._done = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __await__(self):
        if not self._done:
            yield self
        return self.result()


# --- coroutines driven on GLib ---------------------------------------------

_current = threading.local()


def _drive(coroutine, on_result, on_exception, cancellable=None):
    """Runs a coroutine on the thread-default GLib context. It may await
    Pending objects (decorated calls, run_gio, Lock.run_once) and yield
    None to let the loop run."""
    def step(value=None, exc=None):
        outer = getattr(_current, "cancellable", None)
        _current.cancellable = cancellable
        try:
            yielded = coroutine.throw(exc) if exc is not None else coroutine.send(value)
        except StopIteration as stop:
            on_result(stop.value)
            return
        except BaseException as error:  # noqa: B902 - handed to the caller
            on_exception(error)
            return
        finally:
            _current.cancellable = outer
        if isinstance(yielded, Pending):
            yielded.add_done_callback(
                lambda p: step(exc=p.exception()) if p.exception() is not None
                else step(p.result()))
        elif yielded is None:
            # Steps run on the coroutine's context, which is thread-default
            # here; it is looked up, not kept, so that nothing in Python
            # holds a private context alive.
            source = GLib.idle_source_new()
            source.set_callback(lambda *a: step() or GLib.SOURCE_REMOVE)
            source.attach(GLib.MainContext.get_thread_default())
        else:
            step(exc=TypeError(
                "a coroutine run by smartasync awaits smartasync calls, Sa.run_gio() "
                "and Sa.Lock.run_once(), not %r" % (yielded,)))

    step()


class _FunctionOperation(Sa.Operation):
    """One call of a decorated function, as an Sa.Operation."""

    def __init__(self, func, args, kwargs):
        blocking = not inspect.iscoroutinefunction(func)
        super().__init__(kind=(Sa.OperationKind.BLOCKING if blocking
                               else Sa.OperationKind.NON_BLOCKING),
                         name=getattr(func, "__qualname__", repr(func)))
        self._call = (func, args, kwargs)

    def do_run(self, task, cancellable):
        func, args, kwargs = self._call
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:  # noqa: B902 - crosses to the caller
            task.return_error(_error_for(exc))
            return
        task.return_value(_value(result))

    def do_start(self, task, cancellable):
        func, args, kwargs = self._call
        try:
            coroutine = func(*args, **kwargs)
        except BaseException as exc:  # noqa: B902
            task.return_error(_error_for(exc))
            return
        _drive(coroutine,
               lambda result: task.return_value(_value(result)),
               lambda exc: task.return_error(_error_for(exc)),
               cancellable)


# --- the GLib side thread for asyncio callers -------------------------------

class _GLibThread:
    """A thread that runs a GLib main loop, on which asyncio callers' calls
    are made as async calls; results go back with call_soon_threadsafe()."""

    _instance = None
    _lock = threading.Lock()

    def __init__(self):
        self.context = GLib.MainContext.new()
        ready = threading.Event()

        def run():
            self.context.push_thread_default()
            loop = GLib.MainLoop.new(self.context, False)
            ready.set()
            loop.run()

        thread = threading.Thread(target=run, name="sa-glib-for-asyncio", daemon=True)
        thread.start()
        ready.wait()

    @classmethod
    def get(cls):
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def invoke(self, func):
        source = GLib.idle_source_new()
        source.set_callback(lambda *a: func() or GLib.SOURCE_REMOVE)
        source.attach(self.context)


def _caller(mode, dispatcher):
    """'sync', 'glib' or 'asyncio': what the calling thread wants back."""
    if mode == Sa.CallMode.AUTO:
        mode = dispatcher.get_mode()
    try:
        in_asyncio = asyncio.get_running_loop() is not None
    except RuntimeError:
        in_asyncio = False
    if mode == Sa.CallMode.SYNC:
        return "sync"
    if Sa.caller_is_async():
        return "glib"
    if in_asyncio:
        return "asyncio"
    return "glib" if mode == Sa.CallMode.ASYNC else "sync"


def _link(child, parent):
    """Cancels child when parent is cancelled."""
    if parent is None or parent is child:
        return
    # g_cancellable_connect(): runs at once when parent is cancelled already.
    parent.connect(lambda *args: child.cancel())


def _smart(begin, finish, mode, dispatcher, run_sync=None, cancellable=None):
    """Starts a call the way the caller needs it.

    begin(mode, cancellable, callback) starts it in ASYNC or SYNC mode;
    finish(source, result) reads its result (or raises). run_sync(), when
    given, is the sync path instead of begin() in SYNC mode."""
    kind = _caller(mode, dispatcher)

    if kind == "sync":
        if run_sync is not None:
            return _read(run_sync)
        box = []
        begin(Sa.CallMode.SYNC, cancellable, lambda source, result: box.append((source, result)))
        return _read(lambda: finish(*box[0]))

    if kind == "glib":
        pending = Pending(cancellable)
        # Inside a coroutine operation, its own cancellation reaches the
        # calls it awaits.
        _link(pending.cancellable, getattr(_current, "cancellable", None))
        begin(Sa.CallMode.ASYNC, pending.cancellable,
              lambda source, result: pending._settle(lambda: finish(source, result)))
        return pending

    loop = asyncio.get_running_loop()
    future = loop.create_future()
    cancellable = cancellable or Gio.Cancellable()

    def deliver(source, result):
        try:
            value = _read(lambda: finish(source, result))
        except BaseException as exc:  # noqa: B902
            loop.call_soon_threadsafe(_set_exception, future, exc)
        else:
            loop.call_soon_threadsafe(_set_result, future, value)

    _GLibThread.get().invoke(lambda: begin(Sa.CallMode.ASYNC, cancellable, deliver))
    future.add_done_callback(lambda f: f.cancelled() and cancellable.cancel())
    return future


def _set_result(future, value):
    if not future.done():
        future.set_result(value)


def _set_exception(future, exc):
    if not future.done():
        future.set_exception(exc)


# --- the API -----------------------------------------------------------------

@_export
def smartasync(func=None, *, mode=Sa.CallMode.AUTO, dispatcher=None):
    """Makes a function callable from any caller.

    A plain function is a blocking operation: called directly by a sync
    caller, on a worker thread for an async one. A coroutine function
    (async def) is a non-blocking operation, driven on the GLib context: run
    to completion on the thread's private context for a sync caller,
    started on the caller's context for an async one. Works on functions,
    methods (also of __slots__ classes) and inline: smartasync(f)(args).

    mode overrides the detection for every call; a call may pass
    _sa_mode=Sa.CallMode.SYNC (or ASYNC) to override it for that call, and
    _sa_cancellable=a Gio.Cancellable.
    """
    if func is None:
        return functools.partial(smartasync, mode=mode, dispatcher=dispatcher)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        call_mode = kwargs.pop("_sa_mode", mode)
        cancellable = kwargs.pop("_sa_cancellable", None)
        d = dispatcher or Sa.Dispatcher.get_default()
        operation = _FunctionOperation(func, args, kwargs)

        def begin(m, call_cancellable, callback):
            d.call(operation, m, call_cancellable, callback)

        return _smart(begin, lambda source, result: source.call_finish(result), call_mode, d,
                      cancellable=cancellable)

    wrapper.__smartasync__ = True
    return wrapper


@_export
def run_gio(source_object, name, *args, cancellable=None, mode=Sa.CallMode.AUTO):
    """Runs any GIO _async/_finish pair for the caller at hand.

    Calls source_object.<name>_async(*args, cancellable, callback), as GIO
    orders its arguments, and reads the result with
    source_object.<name>_finish(result): run_gio(file, "load_contents").
    A sync caller gets what the _finish method returns, run on the thread's
    private context (no GMainLoop needed); an async caller gets a Pending,
    an asyncio caller a future. Cancelling the Pending or the asyncio task,
    or the operation whose coroutine awaits it, cancels the GIO call.
    """
    async_method = getattr(source_object, name + "_async")
    finish = getattr(source_object, name + "_finish")

    def run_sync():
        bridge = Sa.Bridge.new(cancellable, 0)
        async_method(*args, bridge.get_cancellable(),
                     lambda source, result: bridge.complete(result))
        return finish(bridge.wait())

    def begin(m, call_cancellable, callback):
        async_method(*args, call_cancellable, callback)

    return _smart(begin, lambda source, result: finish(result), mode,
                  Sa.Dispatcher.get_default(), run_sync=run_sync,
                  cancellable=cancellable)


class Lock(Sa.Lock):
    def __init__(self, dispatcher=None):
        Sa.Lock.__init__(self, dispatcher=dispatcher or Sa.Dispatcher.get_default())

    def run_once(self, key, func, *args, _sa_mode=Sa.CallMode.AUTO, **kwargs):
        """Runs func(*args, **kwargs) once for all concurrent callers of key
        (the seeds' SmartLock.run_once); every caller gets the result the
        way its context needs it. func is a plain function (run on a worker
        for async callers) or a coroutine function."""
        operation = _FunctionOperation(func, args, kwargs)

        def begin(m, cancellable, callback):
            self.call(key, operation, m, cancellable, callback)

        return _smart(begin, lambda source, result: source.call_finish(result),
                      _sa_mode, self.get_dispatcher())


Lock = override(Lock)
__all__.append("Lock")


@_export
def reset():
    """Drops every thread's private context: the seeds'
    reset_smartasync_cache(), for tests."""
    Sa.reset_contexts()


reset_smartasync_cache = reset
__all__.append("reset_smartasync_cache")
