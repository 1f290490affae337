# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyGObject overrides for Sa: the smartasync library for Python, on the C
library's detection, private contexts, SaLock and max-threads bound.

    from gi.repository import Sa

    @Sa.smartasync
    def query(sql):                 # a blocking function
        ...

    @Sa.smartasync
    async def fetch(path):          # a coroutine function
        ...

Who runs what, by caller (the thread that makes the call):

- a script (no loop running on the thread): a plain function is called
  directly; a coroutine function runs to completion on the thread's own
  asyncio loop, kept from call to call. The result comes back directly.
- a running asyncio loop: a coroutine function returns its coroutine, which
  runs on that loop; a plain function runs on a worker thread and its
  result comes back with one loop.call_soon_threadsafe(), or is set before
  the call returns when the worker ended first. The caller awaits.
- a running GLib main loop (the thread owns its thread-default main
  context): the call returns an Sa.Pending, completed on that context; a
  plain function runs on a worker thread, a coroutine function on the
  context itself, awaiting other Pendings.
- gi.events (PyGObject 3.50), asyncio on the GLib main loop: a call made
  inside an asyncio task is an asyncio caller's; any other (a GLib
  callback) a GLib caller's, whose coroutine function runs as a task of
  the loop.

Workers are Python threads, kept from call to call, at most
Sa.Dispatcher:max-threads of them (a default bound when it is 0). Results
and exceptions stay Python objects: the caller gets the very object the
function returned or raised.
"""

import asyncio
import collections
import contextvars
import ctypes
import errno
import functools
import inspect
import os
import sys
import threading
import time
import traceback
import weakref

from gi.repository import GLib, GObject, Gio

from ..module import get_introspection_module
from ..overrides import override

Sa = get_introspection_module("Sa")

__all__ = []


def _export(obj):
    __all__.append(obj.__name__)
    return obj


_get_running_loop = asyncio._get_running_loop
_set_running_loop = asyncio._set_running_loop


def _c_function(name, restype):
    """A C function of the process, called through ctypes.PyDLL: with the
    GIL held, as suits a call of a few nanoseconds. A worker waiting for
    the GIL would otherwise take it at every such call of the caller's,
    and each time the caller would wait for it back. None if the symbol
    is not visible to the process."""
    try:
        func = getattr(ctypes.PyDLL(None), name)
    except (AttributeError, OSError):
        return None
    func.restype = restype
    func.argtypes = []
    return func


# The detection, sa_caller_is_async(); the introspected one if need be.
_caller_is_async = _c_function("sa_caller_is_async", ctypes.c_int) or Sa.caller_is_async
# Whether the thread-default context is not the global default one.
_has_thread_default = (_c_function("g_main_context_get_thread_default", ctypes.c_void_p)
                       or GLib.MainContext.get_thread_default)
# The processor this thread runs on; None where libc has no sched_getcpu().
_getcpu = _c_function("sched_getcpu", ctypes.c_int)
# g_idle_add_full() itself, without the override's keyword handling.
_idle_add = get_introspection_module("GLib").idle_add
_PRIORITY_DEFAULT = GLib.PRIORITY_DEFAULT
def _iscoroutinefunction(func):
    """Whether calling func gives a coroutine: a coroutine function, or an
    object whose __call__ is one (a class is called to make an object)."""
    if inspect.iscoroutinefunction(func):
        return True
    if isinstance(func, type) or inspect.isroutine(func):
        return False
    return inspect.iscoroutinefunction(getattr(func, "__call__", None))


_local = threading.local()

# What a call decides, besides "sync" (None) and an asyncio loop.
_GLIB = "glib"
_SYNC = "sync"
_ASYNC = "async"
_MODE_NAMES = {Sa.CallMode.AUTO: None, Sa.CallMode.SYNC: _SYNC, Sa.CallMode.ASYNC: _ASYNC}

# The scoped override of set_sync() / set_async(): None, _SYNC or _ASYNC.
_forced = contextvars.ContextVar("smartasync_forced_mode", default=None)
_forced_get = _forced.get

# Keyword arguments a call may pass to smartasync itself.
_CALL_KEYWORDS = frozenset(("_sa_mode", "_sa_cancellable"))


def _pop_call_keywords(kwargs, call_mode):
    """Takes the call's own keywords out of kwargs: (call mode, cancellable)."""
    call_mode = _MODE_NAMES[kwargs.pop("_sa_mode", Sa.CallMode.AUTO)] or call_mode
    return call_mode, kwargs.pop("_sa_cancellable", None)


def _cancelled_error():
    return GLib.Error.new_literal(Gio.io_error_quark(), "Operation was cancelled",
                                  Gio.IOErrorEnum.CANCELLED)


def _timed_out_error():
    return GLib.Error.new_literal(Gio.io_error_quark(), "Operation timed out",
                                  Gio.IOErrorEnum.TIMED_OUT)


def _is_cancelled_error(error):
    return (isinstance(error, GLib.Error)
            and error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED))


def _report(message):
    """Prints the exception being handled, as an unhandled one would be."""
    print(message, file=sys.stderr)
    traceback.print_exc()


# --- a dispatcher's settings, read once and followed through notify ---------

class _Settings:
    """What the Python side needs of an Sa.Dispatcher at every call."""

    # fast: no mode and no timeout, so that a script's call is a direct one.
    __slots__ = ("mode", "timeout", "fast", "pool", "__weakref__")

    def __init__(self, dispatcher):
        self.pool = _Pool(dispatcher.get_max_threads())
        _on_notify_mode(dispatcher, None, self)
        dispatcher.connect("notify::mode", _on_notify_mode, self)
        dispatcher.connect("notify::timeout", _on_notify_mode, self)
        dispatcher.connect("notify::max-threads", _on_notify_max_threads, self)


def _on_notify_mode(dispatcher, pspec, settings):
    settings.mode = _MODE_NAMES[dispatcher.get_mode()]
    settings.timeout = dispatcher.get_timeout() / 1000.0
    settings.fast = settings.mode is None and not settings.timeout


def _on_notify_max_threads(dispatcher, pspec, settings):
    settings.pool.set_bound(dispatcher.get_max_threads())


_settings_lock = threading.Lock()


def _settings_of(dispatcher):
    try:
        return dispatcher._sa_settings
    except AttributeError:
        pass
    with _settings_lock:
        try:
            return dispatcher._sa_settings
        except AttributeError:
            settings = dispatcher._sa_settings = _Settings(dispatcher)
            return settings



# gi.events (PyGObject 3.50): asyncio loop classes that run on a GLib main
# context, by class seen; True for gi.events.GLibEventLoop.
_glib_loop_classes = {}
_current_task = asyncio.current_task


def _is_glib_loop(loop):
    """Whether loop is gi.events' asyncio loop on a GLib main context."""
    cls = loop.__class__
    known = _glib_loop_classes.get(cls)
    if known is None:
        events = sys.modules.get("gi.events")
        known = _glib_loop_classes[cls] = (events is not None
                                           and issubclass(cls, events.GLibEventLoop))
    return known


def _decide(call_mode, settings):
    """None for a sync caller, the running asyncio loop, or _GLIB. On a
    gi.events loop, a call made inside an asyncio task is an asyncio
    caller's, any other (a GLib callback, a loop callback) a GLib
    caller's: nobody awaits what it gets."""
    mode = _forced_get() or call_mode or settings.mode
    if mode is _SYNC:
        return None
    loop = _get_running_loop()
    if loop is not None:
        if _is_glib_loop(loop) and _current_task(loop) is None:
            return _GLIB
        return loop
    if mode is None:
        return _GLIB if _caller_is_async() else None
    return _GLIB


def _caller_context():
    """The GLib context a GLib caller's results come back on: the one of
    the running gi.events loop, or the thread-default one (None for the
    global default context)."""
    loop = _get_running_loop()
    if loop is not None and _is_glib_loop(loop):
        context = loop._context
        # The global default context is None: its results come back
        # through g_idle_add(), the cheaper way.
        return None if hash(context) == _default_context_address else context
    return _thread_default_context()


def _thread_default_context():
    """The thread-default GLib context, None for the global default one."""
    return GLib.MainContext.get_thread_default() if _has_thread_default() else None


_default_context_address = hash(GLib.MainContext.default())


# --- one call of a function, as the workers see it ---------------------------

_cancel_lock = threading.Lock()


class _Call:
    """One call of a plain function on a worker thread. Its cancellable is
    made only when someone asks for it (Sa.current_cancellable())."""

    # race: for an asyncio or GLib caller, a list that starts as [None];
    # the side (caller or worker) that pops the None first hands nothing
    # over, the other hands the outcome over (see _offload_asyncio()).
    __slots__ = ("func", "args", "kwargs", "context", "deliver", "target", "where",
                 "_cancellable", "_cancelled", "_handler", "race")

    def __init__(self, func, args, kwargs, deliver, target, where, cancellable=None):
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.context = contextvars.copy_context()
        self.deliver = deliver
        self.target = target
        self.where = where
        self._cancellable = cancellable
        self._cancelled = False
        self._handler = 0
        self.race = None

    def cancellable(self):
        cancellable = self._cancellable
        if cancellable is None:
            made = Gio.Cancellable()
            with _cancel_lock:
                cancellable = self._cancellable
                if cancellable is None:
                    cancellable = self._cancellable = made
                    if self._cancelled:
                        made.cancel()
        return cancellable

    def cancel(self):
        with _cancel_lock:
            self._cancelled = True
            cancellable = self._cancellable
        if cancellable is not None:
            cancellable.cancel()

    def is_cancelled(self):
        return self._cancelled or (self._cancellable is not None
                                   and self._cancellable.is_cancelled())


def _run_body(func, args, kwargs):
    # Calls made by the body are a worker's: never under the caller's
    # set_sync() / set_async().
    _forced.set(None)
    return func(*args, **kwargs)


def _execute(call, pool=None):
    """Runs one call on this thread and hands its outcome over; a pool's
    worker counts itself as finishing before the hand-over."""
    outer = getattr(_local, "call", None)
    _local.call = call
    try:
        context = call.context
        if call._cancelled or (call._cancellable is not None
                               and call._cancellable.is_cancelled()):
            ok, value = False, _cancelled_error()
        elif context.get(_forced) is None:  # the body's calls are a worker's already
            value = context.run(call.func, *call.args, **call.kwargs)
            ok = True
        else:
            value = context.run(_run_body, call.func, call.args, call.kwargs)
            ok = True
    except BaseException as exc:  # noqa: B902 - the caller's to handle
        # From the user's frame down: this frame is no part of it.
        exc.__traceback__ = exc.__traceback__.tb_next
        ok, value = False, exc
    finally:
        _local.call = outer
    call.context = call.func = call.args = call.kwargs = None
    # The outcome travels in a box the receiver empties: once handed over,
    # this thread holds none of it, even while the hand-over still runs.
    # (A traceback may also keep this frame, as f_back of the user's.)
    outcome = _Box((ok, value))
    value = outer = context = None
    if pool is not None:
        pool.finishing(outcome)
    call.deliver(call, outcome)
    call = outcome = None


class _Box(list):
    """An outcome in transit, [ok, value, ...]: the receiver empties it."""

    __slots__ = ("__weakref__",)


def _unbox(outcome):
    ok, value = outcome
    outcome.clear()
    return ok, value


# --- the workers --------------------------------------------------------------

# The C pool's defaults (sa-pool.c): with max-threads 0, MAX (10, 2 x CPUs)
# workers; a worker idle for 15 s exits.
# (g_get_num_processors() counts the CPUs this process may run on.)
_DEFAULT_BOUND = max(10, 2 * (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                              else os.cpu_count() or 1))
_IDLE_SECONDS = 15.0


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _SemT(ctypes.Union):
    _fields_ = [("data", ctypes.c_char * 32), ("align", ctypes.c_long)]


def _semaphore_functions():
    """libc's sem_init(), sem_post(), sem_timedwait(), sem_destroy(),
    called through ctypes.CDLL, which releases the GIL around each call,
    and sem_post() through ctypes.PyDLL, with the GIL held; None where libc
    has no POSIX semaphores or their sem_t is larger."""
    if not sys.platform.startswith("linux"):  # sizeof (sem_t) is 32 on Linux
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        funcs = (libc.sem_init, libc.sem_post, libc.sem_timedwait, libc.sem_destroy,
                 ctypes.PyDLL(None).sem_post)
    except (AttributeError, OSError):
        return None
    for func in funcs:
        func.restype = ctypes.c_int
    funcs[0].argtypes = [ctypes.POINTER(_SemT), ctypes.c_int, ctypes.c_uint]
    funcs[1].argtypes = funcs[4].argtypes = [ctypes.POINTER(_SemT)]
    funcs[2].argtypes = [ctypes.POINTER(_SemT), ctypes.POINTER(_Timespec)]
    funcs[3].argtypes = [ctypes.POINTER(_SemT)]
    return funcs


_SEMAPHORE = _semaphore_functions()


class _Worker:
    """A worker thread's hand: the worker sleeps in sleep(); wake() hands
    over `call`.

    The hand-over is a POSIX semaphore, posted with the GIL released when
    the caller is about to wait: the woken worker, often run at once on
    the caller's CPU, finds the GIL free and runs the call to its end
    before the caller goes on. Posted with the GIL held (a threading.Lock
    released), the worker would wake only to wait for the GIL, then for
    the GIL's mutex, each wait a pair of context switches; but a caller
    that issues many calls at once issues them all before any runs.
    Where libc has no semaphores, a threading.Lock."""

    __slots__ = ("call", "cpu", "_sem", "_lock", "_deadline", "_deadline_ref")

    def __init__(self):
        self.call = None
        self.cpu = -1  # the processor it went idle on
        if _SEMAPHORE is not None:
            self._sem = ctypes.byref(_SemT())
            self._deadline = _Timespec()
            self._deadline_ref = ctypes.byref(self._deadline)
            if _SEMAPHORE[0](self._sem, 0, 0) == 0:
                self._lock = None
                return
        self._sem = None
        self._lock = threading.Lock()
        self._lock.acquire()

    def wake(self, release_gil):
        if self._sem is None:
            self._lock.release()
        elif release_gil:
            _SEMAPHORE[1](self._sem)
        else:
            _SEMAPHORE[4](self._sem)

    def sleep(self, timeout=None):
        """Waits for wake(); False if timeout (seconds) passed first."""
        if self._sem is None:
            return self._lock.acquire(timeout=-1 if timeout is None else timeout)
        deadline = None
        if timeout is not None:
            seconds, fraction = divmod(time.time() + timeout, 1.0)
            self._deadline.tv_sec = int(seconds)
            self._deadline.tv_nsec = int(fraction * 1e9)
            deadline = self._deadline_ref
        while _SEMAPHORE[2](self._sem, deadline) != 0:
            error = ctypes.get_errno()
            if error == errno.ETIMEDOUT:
                return False
            if error != errno.EINTR:
                raise OSError(error, os.strerror(error))
        return True

    def close(self):
        """Once nobody can wake it any more."""
        if self._sem is not None:
            _SEMAPHORE[3](self._sem)


def _no_box():
    return None


class _Pool:
    """Python threads that run plain functions, kept while there is work;
    at most `bound` of them. A call goes to a worker that is handing an
    outcome over (it takes the call without sleeping), else to an idle
    worker (for a caller that waits, the last to go idle on the caller's
    processor; else the last to go idle, its thread the warmest), else to
    a new worker, else it waits in the backlog for the first worker done.
    A worker that submits while the bound is reached and none is idle runs
    the call itself: nested calls never wait for a worker their own kind
    holds."""

    __slots__ = ("_lock", "_bound", "_n_threads", "_n_finishing", "_idle", "_backlog",
                 "_last_outcome")

    def __init__(self, max_threads):
        self._lock = threading.Lock()
        self._bound = max_threads or _DEFAULT_BOUND
        self._n_threads = 0
        self._n_finishing = 0  # workers handing an outcome over, about to be free
        self._idle = []                       # of _Worker, the last idle on top
        self._backlog = collections.deque()   # of _Call
        # The box of the outcome handed over last (a weak reference): emptied
        # once its caller has it. Not empty, the caller is issuing calls
        # before it waits for them.
        self._last_outcome = _no_box

    def set_bound(self, max_threads):
        self._bound = max_threads or _DEFAULT_BOUND

    def submit(self, call):
        worker = None
        with self._lock:
            if self._n_finishing > len(self._backlog):
                # A worker that is handing its outcome over takes it next:
                # no thread is woken or made.
                self._backlog.append(call)
                return
            elif self._idle:
                # The caller waits for this call, unless the outcome handed
                # over last is still in the box (it issues calls first).
                waits = not self._last_outcome()
                worker = self._take_idle(waits)
                worker.call = call
            elif self._n_threads < self._bound:
                self._n_threads += 1
                worker = _Worker()
                worker.call = call
                threading.Thread(target=self._work, args=(worker,), name="sa-worker",
                                 daemon=True).start()
                return
            elif getattr(_local, "worker_of", None) is not self:
                self._backlog.append(call)
                return
        if worker is not None:
            worker.wake(waits)
        else:
            _execute(call)

    def _take_idle(self, waits):
        """Under the lock: for a caller that waits, the last worker to go
        idle on its processor, which the caller leaves to it, as the C pool
        wakes its threads; else the last to go idle."""
        idle = self._idle
        if waits and len(idle) > 1 and _getcpu is not None:
            cpu = _getcpu()
            for i in range(len(idle) - 1, -1, -1):
                if idle[i].cpu == cpu:
                    return idle.pop(i)
        return idle.pop()

    def finishing(self, outcome):
        with self._lock:
            self._n_finishing += 1
            self._last_outcome = weakref.ref(outcome)

    def _work(self, worker):
        _local.worker_of = self
        getcpu = _getcpu
        lock = self._lock
        idle = self._idle
        backlog = self._backlog
        call, worker.call = worker.call, None
        while True:
            _execute(call, self)
            with lock:
                self._n_finishing -= 1
                if backlog:
                    call = backlog.popleft()
                    continue
                if getcpu is not None:
                    worker.cpu = getcpu()
                idle.append(worker)
            call = None
            if not worker.sleep(_IDLE_SECONDS):
                with lock:
                    if worker in idle:  # still idle: the thread goes
                        idle.remove(worker)
                        self._n_threads -= 1
                        worker.close()
                        return
                worker.sleep()  # handed a call meanwhile
            call, worker.call = worker.call, None


# --- the raw API: results read into a GValue PyGObject frees ------------------

# PyGObject (3.42 to 3.50) never frees the transfer-full GValue that
# call_sync() and call_finish() return: the overrides read the result with
# the _value() variants, into an out GValue that PyGObject frees.

class Dispatcher(Sa.Dispatcher):
    def call_sync(self, operation, cancellable=None):
        """Runs operation for a sync caller and returns its value."""
        return Sa.Dispatcher.call_sync_value(self, operation, cancellable)[1]

    def call_finish(self, result):
        """The value of a call() or call_async() whose callback got result."""
        return Sa.Dispatcher.call_finish_value(self, result)[1]


Dispatcher = override(Dispatcher)
__all__.append("Dispatcher")

_default_settings = _settings_of(Sa.Dispatcher.get_default())


# --- what a caller inside a GLib main loop gets --------------------------------

_PENDING, _RESULT, _EXCEPTION = 0, 1, 2


@_export
class Pending:
    """A result that is not there yet, for a caller inside a GLib main loop.

    It completes on the caller's thread-default main context, like an
    asyncio future on its loop: take the result through add_done_callback()
    or await it from a coroutine function decorated with smartasync.
    Callbacks run on that context, never inside the call that adds them;
    each runs even if another raises. cancel() gives the caller
    G_IO_ERROR_CANCELLED at once and cancels the operation behind it.
    """

    # _asyncio_future_blocking: asyncio's mark of a future, so that an
    # asyncio task on gi.events' loop of the same context awaits a Pending.
    __slots__ = ("_state", "_value", "_callbacks", "_context", "_canceller",
                 "_cancellable", "_cancelled", "_timer", "_asyncio_future_blocking",
                 "__weakref__")

    def __init__(self, context=False):
        self._state = _PENDING
        self._value = None
        self._callbacks = []
        # None stands for the global default context.
        if context is False:
            context = _caller_context()
        self._context = context
        self._canceller = None
        self._cancellable = None
        self._cancelled = False
        self._timer = None
        self._asyncio_future_blocking = False

    def get_loop(self):
        """The running gi.events loop on the Pending's context, for asyncio
        tasks that await it there."""
        loop = _get_running_loop()
        if (loop is not None and _is_glib_loop(loop)
                # (hash() of a context is its address, as gi.events compares them)
                and hash(self._context or GLib.MainContext.default()) == hash(loop._context)):
            return loop
        raise RuntimeError("a Pending is awaited by asyncio only on gi.events' loop "
                           "of its own context")

    def done(self):
        return self._state != _PENDING

    def cancelled(self):
        return self._cancelled

    def result(self):
        state, value = self._state, self._value
        # The traceback keeps this frame: it must not keep the error.
        self = None
        try:
            return _outcome(state, value)
        finally:
            value = None

    def exception(self):
        if self._state == _PENDING:
            raise asyncio.InvalidStateError("the result is not there yet")
        return self._value if self._state == _EXCEPTION else None

    @property
    def cancellable(self):
        """A Gio.Cancellable that is cancelled with this Pending."""
        if self._cancellable is None:
            self._cancellable = Gio.Cancellable()
            if self._cancelled:
                self._cancellable.cancel()
        return self._cancellable

    def cancel(self, msg=None):
        """Cancels the operation; the caller gets G_IO_ERROR_CANCELLED.
        Returns False if the result is there already."""
        if self._state != _PENDING:
            return False
        self._cancelled = True
        canceller, self._canceller = self._canceller, None
        self._settle(False, _cancelled_error(), defer=True)
        if self._cancellable is not None:
            self._cancellable.cancel()
        if canceller is not None:
            canceller()
        return True

    def add_done_callback(self, callback, *, context=None):
        """Calls callback(pending) on the Pending's context once it is done
        (in the contextvars context given, if any)."""
        if context is not None:
            callback = _InContext(context, callback)
        if self._state == _PENDING:
            self._callbacks.append(callback)
        else:
            _later(self._context, _call_back, callback, self)

    def remove_done_callback(self, callback):
        """Removes every instance of callback; returns how many there were."""
        kept = [c for c in self._callbacks if c != callback]
        removed = len(self._callbacks) - len(kept)
        self._callbacks[:] = kept
        return removed

    def _settle(self, ok, value, defer=False):
        """Completes the Pending, on its context; a second outcome is dropped.
        Callbacks run now, or in a later iteration when defer is set (inside
        a call that the caller made)."""
        if self._state != _PENDING:
            return
        self._state = _RESULT if ok else _EXCEPTION
        self._value = value
        self._canceller = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        callbacks, self._callbacks = self._callbacks, None
        if not callbacks:
            return
        if defer:
            _later(self._context, _run_callbacks, callbacks, self)
            return
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # noqa: BLE001 - the other callbacks still run
                _report("Exception in a callback of %r:" % (self,))
        # An error a callback caught keeps its frame, and this one above
        # it (f_back): it must keep nothing.
        self = value = callbacks = callback = None

    def __await__(self):
        if self._state == _PENDING:
            self._asyncio_future_blocking = True
            try:
                yield self
            except BaseException as error:
                # An asyncio task took it (it clears the mark) and was
                # cancelled: as for an asyncio future, CancelledError.
                cancelled = (isinstance(error, GLib.Error) and self._cancelled
                             and not self._asyncio_future_blocking)
                self._asyncio_future_blocking = False
                # The traceback keeps this frame: it must not keep the
                # Pending, whose value is the error.
                self = None
                if cancelled:
                    raise asyncio.CancelledError() from None
                raise
            self._asyncio_future_blocking = False
        try:
            return self.result()
        finally:
            self = None  # the traceback keeps this frame: it must not keep the Pending


def _outcome(state, value):
    """A Pending's result, or its error raised."""
    if state == _RESULT:
        return value
    if state == _PENDING:
        raise asyncio.InvalidStateError("the result is not there yet")
    try:
        raise value
    finally:
        value = None  # the traceback keeps this frame: it must not keep the error


class _InContext:
    """A done callback run in a contextvars context; equal to the callback
    itself, for remove_done_callback()."""

    __slots__ = ("context", "callback")

    def __init__(self, context, callback):
        self.context = context
        self.callback = callback

    def __call__(self, pending):
        self.context.run(self.callback, pending)

    def __eq__(self, other):
        if isinstance(other, _InContext):
            other = other.callback
        return self.callback == other

    __hash__ = None


def _later(context, func, *data):
    """Calls func(*data) once, from context (None: the global default
    one), in a later iteration."""
    if context is None:
        _idle_add(_PRIORITY_DEFAULT, func, *data)
        return
    source = GLib.idle_source_new()
    source.set_priority(GLib.PRIORITY_DEFAULT)
    source.set_callback(_dispatch_idle, (func, data))
    source.attach(context)


# --- the dispatcher's timeout: one helper for every cell -----------------------

class _SourceTimer:
    """A GLib timeout source, stopped by cancel()."""

    __slots__ = ("source",)

    def __init__(self, seconds, fire, context):
        self.source = GLib.timeout_source_new(max(1, int(seconds * 1000)))
        self.source.set_callback(_dispatch_idle, (fire, ()))
        self.source.attach(context)

    def cancel(self):
        source, self.source = self.source, None
        if source is not None:
            source.destroy()


def _start_timeout(seconds, fire, where, context=None):
    """Calls fire() after seconds where the caller gets its outcome: on its
    asyncio loop (where), its GLib context (where is _GLIB), or a timer
    thread for a sync caller (where is None). The result's cancel()
    stops it."""
    if where is None:
        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        timer.start()
        return timer
    if where is _GLIB:
        return _SourceTimer(seconds, fire, context)
    return where.call_later(seconds, fire)


def _time_out_pending(pending, seconds):
    """Fails pending with G_IO_ERROR_TIMED_OUT after seconds, on its
    context, and cancels what it stands for."""
    pending._timer = _start_timeout(seconds, functools.partial(_fire_pending_timeout, pending),
                                    _GLIB, pending._context)


def _fire_pending_timeout(pending):
    if pending._state != _PENDING:
        return
    pending._timer = None
    canceller, pending._canceller = pending._canceller, None
    pending._settle(False, _timed_out_error())
    if pending._cancellable is not None:
        pending._cancellable.cancel()
    pending = None  # as in _settle(): callbacks ran below this frame
    if canceller is not None:
        canceller()


def _dispatch_idle(packed):
    func, data = packed
    func(*data)
    packed = data = None  # as in Pending._settle(): callbacks ran below this frame
    return GLib.SOURCE_REMOVE


def _call_back(callback, pending):
    try:
        callback(pending)
    except Exception:  # noqa: BLE001 - the other callbacks still run
        _report("Exception in a callback of %r:" % (pending,))
    callback = pending = None  # as in Pending._settle()


def _run_callbacks(callbacks, pending):
    for callback in callbacks:
        _call_back(callback, pending)
    callbacks = callback = pending = None  # as in Pending._settle()


def _deliver_glib(call, outcome):
    """On the worker: hands the outcome to the caller's context. The
    Pending travels in the box too: once handed over, the worker, which
    may wait for the GIL before it returns, holds none of it."""
    context = call.target._context
    outcome.append(call.target)
    call.target = None
    race, call.race = call.race, None
    if race is not None:
        race.append(outcome)
        if race.pop(0) is None:
            return  # the caller, still in its call, attaches the idle itself
    if context is None:
        _idle_add(_PRIORITY_DEFAULT, _settle_boxed, outcome)
    else:
        _later(context, _settle_boxed, outcome)


def _settle_boxed(outcome):
    ok, value, pending = outcome
    outcome.clear()
    pending._settle(ok, value)
    value = pending = None  # as in Pending._settle(): callbacks ran below this frame


# --- asyncio callers ----------------------------------------------------------

def _settle_future(future, ok, value):
    if not future.done():
        if ok:
            future.set_result(value)
        elif isinstance(value, StopIteration):
            # asyncio refuses it in a future; a coroutine that raises it
            # raises this instead (PEP 479).
            error = RuntimeError("the function raised StopIteration")
            error.__cause__ = value
            future.set_exception(error)
        else:
            future.set_exception(value)


def _deliver_asyncio(call, outcome):
    """On the worker: one call_soon_threadsafe() to the caller's loop; the
    future travels in the box, which the loop empties. If the caller is
    still in its smartasync call (the worker ran while it woke it), the
    box is left to it there."""
    loop = call.where
    outcome.append(call.target)
    call.target = call.where = None
    race, call.race = call.race, None
    if race is not None:
        # append() and pop(0) are atomic: the caller pops None, or the box.
        race.append(outcome)
        if race.pop(0) is None:
            return  # the caller, still in its call, takes the box
    try:
        loop.call_soon_threadsafe(_settle_future_boxed, outcome)
    except RuntimeError:
        outcome.clear()  # the loop closed first: nobody waits for this result


def _settle_future_boxed(outcome):
    ok, value, future = outcome
    outcome.clear()
    timer = future._sa_timer
    if timer is not None:
        future._sa_timer = None
        timer.cancel()
    _settle_future(future, ok, value)


class _CallFuture(asyncio.Future):
    """The future an asyncio caller awaits: cancelling it cancels the call
    at once, before the loop runs again. It is a coroutine as well (send(),
    throw(), close()), so that asyncio.create_task(f()) takes it, as it
    takes the call of a coroutine function."""

    # _sa_box: the box of an outcome set inside the call, [True] until
    # the future is awaited (the pool's sign of a caller issuing calls
    # before it waits for them), None otherwise.
    __slots__ = ("_sa_call", "_sa_timer", "_sa_steps", "_sa_box")

    def __await__(self):
        box = self._sa_box
        if box is not None:
            self._sa_box = None
            box.clear()
        return super().__await__()

    def send(self, value):
        steps = self._sa_steps
        if steps is None:
            steps = self._sa_steps = self.__await__()
        return steps.send(value)

    def throw(self, typ, value=None, traceback=None):
        steps = self._sa_steps
        if steps is None:
            steps = self._sa_steps = self.__await__()
        if value is None and traceback is None:
            return steps.throw(typ)
        return steps.throw(typ, value, traceback)

    def close(self):
        self._sa_steps = None

    def cancel(self, msg=None):
        if not super().cancel(msg):
            return False
        timer, self._sa_timer = self._sa_timer, None
        if timer is not None:
            timer.cancel()
        call, self._sa_call = self._sa_call, None
        if call is not None:
            call.cancel()
        return True

    def _time_out(self):
        """After the dispatcher's timeout: G_IO_ERROR_TIMED_OUT, and the
        call's cancellable fires."""
        self._sa_timer = None
        if self.done():
            return
        self.set_exception(_timed_out_error())
        call, self._sa_call = self._sa_call, None
        if call is not None:
            call.cancel()


# --- blocking calls -------------------------------------------------------------

def _call_blocking(func, args, kwargs, call_mode, settings):
    cancellable = None
    if kwargs and not _CALL_KEYWORDS.isdisjoint(kwargs):
        call_mode, cancellable = _pop_call_keywords(kwargs, call_mode)
    where = _decide(call_mode, settings)

    if where is None:
        if cancellable is not None and cancellable.is_cancelled():
            raise _cancelled_error()
        # The body of a blocking call run here: its own calls are a sync
        # caller's, even on a loop's thread (a call forced to SYNC there).
        token = _forced.set(_SYNC)
        try:
            if cancellable is None and not settings.timeout:
                return func(*args, **kwargs)
            return _call_here(func, args, kwargs, cancellable, settings.timeout)
        finally:
            _forced.reset(token)

    if where is _GLIB:
        return _offload_glib(func, args, kwargs, settings, Pending(), cancellable)
    return _offload_asyncio(func, args, kwargs, settings, where, cancellable)


def _offload_glib(func, args, kwargs, settings, pending, cancellable=None):
    """A GLib caller's call of a plain function: a worker runs it, pending
    gets its outcome."""
    call = _Call(func, args, kwargs, _deliver_glib, pending, pending._context, cancellable)
    pending._canceller = call.cancel
    if cancellable is not None:
        _link_cancellable(cancellable, pending)
    if settings.timeout:
        _time_out_pending(pending, settings.timeout)
    race = call.race = [None]
    settings.pool.submit(call)
    # The worker may have ended before this thread got the GIL back: the
    # outcome's idle is attached here, by the context's owner, which wakes
    # nobody (the Pending completes in a later iteration all the same).
    outcome = race.pop(0)
    if outcome is not None:
        _later(pending._context, _settle_boxed, outcome)
    return pending


def _offload_asyncio(func, args, kwargs, settings, loop, cancellable=None):
    """An asyncio caller's call of a plain function: a worker runs it, the
    future it awaits gets its outcome."""
    future = _CallFuture(loop=loop)
    future._sa_steps = future._sa_box = None
    call = future._sa_call = _Call(func, args, kwargs, _deliver_asyncio, future, loop,
                                   cancellable)
    future._sa_timer = (_start_timeout(settings.timeout, future._time_out, loop)
                        if settings.timeout else None)
    if cancellable is not None:
        if cancellable.is_cancelled():
            call.cancel()  # never runs, even before the loop cancels the future
        _link_cancellable(cancellable, future, loop)
        settings.pool.submit(call)
        return future
    race = call.race = [None]
    settings.pool.submit(call)
    # The worker woken by submit() may have run the call to its end before
    # this thread got the GIL back: then its outcome is here, and the
    # future is settled at once, on the loop's thread, with no wake-up of
    # the loop and no two iterations of it for the result.
    outcome = race.pop(0)
    if outcome is not None:
        _settle_future_boxed(outcome)
        # Not empty until the caller awaits: the next call's worker is
        # woken with the GIL held if it does not (a gather).
        outcome.append(True)
        future._sa_box = outcome
    return future


def _call_here(func, args, kwargs, cancellable, timeout):
    """A sync caller's call with a cancellable or a timeout: the body runs
    here and reaches the cancellable; at the timeout it fires, and the
    caller gets G_IO_ERROR_TIMED_OUT once the body returns."""
    call = _Call(None, None, None, None, None, None, cancellable)
    timer = None
    if timeout:
        timer = _start_timeout(timeout, call.cancel, None)
    outer = getattr(_local, "call", None)
    _local.call = call
    try:
        result = func(*args, **kwargs)
    finally:
        _local.call = outer
        if timer is not None:
            timer.cancel()
    if timer is not None and call._cancelled:
        raise _timed_out_error()
    if cancellable is not None and cancellable.is_cancelled():
        raise _cancelled_error()  # the caller cancelled: its result goes nowhere
    return result


def _link_cancellable(cancellable, target, loop=None):
    """Cancels target (a Pending or an asyncio future) when the caller's own
    cancellable fires, on target's context or loop; the link goes when
    target is done."""
    if cancellable.is_cancelled():
        if loop is None:
            target.cancel()
        else:
            loop.call_soon(target.cancel)
        return
    if loop is None:
        context = target._context

        def fire(*_):
            _later(context, _cancel_pending, target)
    else:
        def fire(*_):
            try:
                loop.call_soon_threadsafe(target.cancel)
            except RuntimeError:
                pass
    handler = cancellable.connect(fire)

    def unlink(_):
        cancellable.disconnect(handler)

    target.add_done_callback(unlink)


def _cancel_pending(pending):
    pending.cancel()
    return GLib.SOURCE_REMOVE


# --- coroutine functions --------------------------------------------------------

class _KeptLoop:
    """A thread's own asyncio loop for sync callers of coroutine functions,
    closed (its fds with it) when the thread exits or a reset drops it."""

    __slots__ = ("loop", "generation")

    def __init__(self):
        # asyncio's own loop, not the policy's: a sync caller's coroutine
        # needs no GLib context (gi.events' policy would make one).
        self.loop = asyncio.SelectorEventLoop()
        self.generation = _generation

    def close(self):
        loop, self.loop = self.loop, None
        if loop is not None and not loop.is_running():
            loop.close()

    def __del__(self):
        self.close()


_generation = 0


def _thread_loop():
    kept = getattr(_local, "kept", None)
    if kept is None or kept.generation != _generation:
        if kept is not None:
            kept.close()
        kept = _local.kept = _KeptLoop()
    return kept.loop


def _run_coroutine_sync(coroutine):
    """Runs a coroutine to completion for a sync caller, in a Task on the
    thread's kept asyncio loop. The Task's first step runs at once, taken
    from the loop's ready queue and run with the loop marked as running;
    a coroutine that completes there, scheduling nothing, never starts the
    loop."""
    outer = _get_running_loop()
    loop = _thread_loop()
    # The coroutine's own calls are made on the kept loop, which runs it:
    # a set_sync() scope of the caller does not reach into it (the Task
    # copies the context as it is made).
    if _forced_get() is None:
        task = loop.create_task(coroutine)
    else:
        token = _forced.set(None)
        try:
            task = loop.create_task(coroutine)
        finally:
            _forced.reset(token)
    coroutine = None
    ready = loop._ready
    first_step = ready.pop()  # scheduled last by the Task's creation
    _set_running_loop(loop)
    try:
        first_step._run()
    finally:
        _set_running_loop(outer)
    first_step = None
    if ready and not task.done() and _needs_no_poll(loop):
        _run_ready(loop, task, outer)
    try:
        if not task.done() or loop._ready:
            task.add_done_callback(_stop_loop)
            loop._sa_awaited = task
            _set_running_loop(None)
            try:
                loop.run_forever()
            except BaseException:
                # Ctrl-C or SystemExit left the loop: the task is cancelled
                # and run to its end, so that the kept loop holds nothing
                # of this call for the next one.
                _settle_after_interrupt(loop, task)
                raise
            finally:
                loop._sa_awaited = None
                _set_running_loop(outer)
            if not task.done():  # the loop was stopped from inside
                task.cancel()
                raise RuntimeError("the loop stopped before the coroutine completed")
        return task.result()
    finally:
        task = None  # a traceback keeps this frame: it keeps no outcome


def _needs_no_poll(loop):
    """Whether a poll of loop could find nothing but its self-pipe (whose
    wake-ups' callbacks are in the ready queue already) and no timer is
    due: no timer, no reader or writer of its own, no signal handler."""
    return (not loop._scheduled and not loop._debug and not loop._signal_handlers
            and len(loop._selector.get_map()) == 1)


def _run_ready(loop, task, outer):
    """The iterations of the kept loop that the task needs while they
    need no poll, without the poll: the ready callbacks of each, in
    order, with the loop marked as running. What is left (I/O, a timer)
    goes to run_forever()."""
    ready = loop._ready
    _set_running_loop(loop)
    try:
        while True:
            for _ in range(len(ready)):
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
            if loop._stopping:
                if task.done():  # as run_forever() leaves it: not stopping
                    loop._stopping = False
                break
            if task.done() or not ready or not _needs_no_poll(loop):
                break
    except BaseException:
        # Ctrl-C or SystemExit: as in run_forever() below.
        handle = None
        _set_running_loop(None)
        _settle_after_interrupt(loop, task)
        raise
    finally:
        handle = None
        _set_running_loop(outer)


def _stop_loop(task):
    loop = task.get_loop()
    # Only for the call that runs the loop now: one an interrupt ended
    # must not stop the next call's loop.
    if getattr(loop, "_sa_awaited", None) is task:
        loop.stop()


def _settle_after_interrupt(loop, task):
    if not task.done():
        task.cancel()
        try:
            loop.run_until_complete(task)
        except BaseException:  # noqa: B902 - the interrupt is re-raised by the caller
            pass
    if not task.cancelled():
        task.exception()  # retrieved: the caller gets the interrupt itself


class _Driver:
    """Runs a coroutine on a GLib main context: it awaits Pendings (and a
    bare yield lets the context run), and settles one Pending at the end."""

    __slots__ = ("coroutine", "pending", "awaiting")

    def __init__(self, coroutine, pending):
        self.coroutine = coroutine
        self.pending = pending
        self.awaiting = None

    def step(self, ok=True, value=None, first=False):
        """One step; the first runs inside the caller's call, so its
        outcome reaches callbacks in a later iteration."""
        coroutine = self.coroutine
        if coroutine is None:
            return
        try:
            yielded = coroutine.send(value) if ok else coroutine.throw(value)
        except StopIteration as stop:
            self._finish(True, stop.value, first)
        except BaseException as exc:  # noqa: B902 - the caller's to handle
            exc.__traceback__ = exc.__traceback__.tb_next
            self._finish(False, exc, first)
        else:
            if isinstance(yielded, Pending):
                self.awaiting = yielded
                yielded.add_done_callback(self._wake)
            elif yielded is None:
                _later(self.pending._context, _step_later, self)
            else:
                _later(self.pending._context, _throw_later, self, TypeError(
                    "a coroutine run on a GLib main loop awaits smartasync calls, "
                    "Sa.run_gio() and Sa.Lock.run_once(), not %r" % (yielded,)))
        # A traceback may keep this frame: it must keep nothing.
        self = coroutine = yielded = value = None

    def _wake(self, awaited):
        self.awaiting = None
        ok, value = awaited._state == _RESULT, awaited._value
        awaited = None
        self.step(ok, value)
        value = None  # as in Pending._settle(): the coroutine ran below this frame

    def _finish(self, ok, value, defer):
        pending, self.pending, self.coroutine = self.pending, None, None
        pending._settle(ok, value, defer)
        pending = value = None  # as in Pending._settle()

    def cancel(self):
        awaiting = self.awaiting
        if awaiting is not None:
            awaiting.cancel()


def _step_later(driver):
    driver.step()
    return GLib.SOURCE_REMOVE


def _throw_later(driver, error):
    driver.step(False, error)
    return GLib.SOURCE_REMOVE


def _run_as_task(loop, coroutine, pending):
    """Runs coroutine as a task of loop (gi.events' loop on the Pending's
    context) and settles pending with its outcome; cancelling pending
    cancels the task."""
    task = loop.create_task(coroutine)
    pending._canceller = task.cancel
    task.add_done_callback(functools.partial(_settle_from_task, pending))


def _settle_from_task(pending, task):
    if task.cancelled():
        pending._settle(False, _cancelled_error())
    elif task.exception() is not None:
        pending._settle(False, task.exception())
    else:
        pending._settle(True, task.result())
    pending = task = None  # as in Pending._settle(): callbacks ran below this frame


def _drive(coroutine, pending):
    driver = _Driver(coroutine, pending)
    pending._canceller = driver.cancel
    driver.step(first=True)


def _call_coroutine(func, args, kwargs, call_mode, settings):
    cancellable = None
    if kwargs and not _CALL_KEYWORDS.isdisjoint(kwargs):
        call_mode, cancellable = _pop_call_keywords(kwargs, call_mode)
    where = _decide(call_mode, settings)

    timeout = settings.timeout
    if where is None:
        if cancellable is not None and cancellable.is_cancelled():
            raise _cancelled_error()
        coroutine = func(*args, **kwargs)
        if cancellable is not None:
            coroutine = _cancellable_run(coroutine, cancellable, True)
        return _run_coroutine_sync(_timed(coroutine, timeout) if timeout else coroutine)
    if where is _GLIB:
        pending = Pending()
        if cancellable is not None:
            _link_cancellable(cancellable, pending)
        if timeout:
            _time_out_pending(pending, timeout)
        if pending._state == _PENDING:
            loop = _get_running_loop()
            if loop is not None:
                # gi.events: an asyncio loop runs on this context; the
                # coroutine runs there as a task, awaiting what asyncio can.
                _run_as_task(loop, func(*args, **kwargs), pending)
            else:
                _drive(func(*args, **kwargs), pending)
        return pending
    # An asyncio caller: the coroutine runs on its loop, awaited there.
    coroutine = func(*args, **kwargs)
    if cancellable is not None:
        coroutine = _cancellable_run(coroutine, cancellable, False)
    return _timed(coroutine, timeout) if timeout else coroutine


async def _cancellable_run(coroutine, cancellable, as_gerror):
    """Awaits coroutine in the task that awaits this, which the caller's
    cancellable cancels: CancelledError, or G_IO_ERROR_CANCELLED for a
    sync caller (as_gerror)."""
    if cancellable.is_cancelled():
        coroutine.close()
        raise _cancelled_error() if as_gerror else asyncio.CancelledError()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    handler = cancellable.connect(lambda *_: _post(loop, task.cancel))
    try:
        return await coroutine
    except asyncio.CancelledError:
        if as_gerror and cancellable.is_cancelled():
            raise _cancelled_error() from None
        raise
    finally:
        cancellable.disconnect(handler)
        task = None


async def _timed(coroutine, seconds):
    """Awaits coroutine; after seconds the task is cancelled and the caller
    gets G_IO_ERROR_TIMED_OUT."""
    task = asyncio.current_task()
    expired = []

    def fire():
        expired.append(True)
        task.cancel()

    timer = _start_timeout(seconds, fire, asyncio.get_running_loop())
    try:
        return await coroutine
    except asyncio.CancelledError:
        if expired and task.uncancel() == 0:
            raise _timed_out_error() from None
        raise
    finally:
        timer.cancel()
        task = None


# --- the seed's API --------------------------------------------------------------

@_export
def smartasync(func=None, *, mode=Sa.CallMode.AUTO, dispatcher=None):
    """Makes a function callable from any caller (see the module's doc).

    A plain function is called directly by a sync caller and runs on a
    worker thread for an async one, so it must not use objects bound to
    the caller's thread (a sqlite3 connection, a GTK widget). A coroutine
    function runs to completion on the thread's kept asyncio loop for a
    sync caller, on the caller's loop for an asyncio caller, on the GLib
    context for a GLib caller. Works on functions, methods (also of
    __slots__ classes) and inline: smartasync(f)(args).

    mode overrides the detection for every call (Sa.CallMode.SYNC or
    ASYNC); dispatcher names the Sa.Dispatcher whose mode and max-threads
    apply. A call may pass _sa_mode= to override the mode for itself and
    _sa_cancellable= a Gio.Cancellable.
    """
    if func is None:
        return functools.partial(smartasync, mode=mode, dispatcher=dispatcher)

    fixed = _MODE_NAMES[mode]
    settings = _default_settings if dispatcher is None else _settings_of(dispatcher)

    if _iscoroutinefunction(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            # The sync caller's cell, inline: detection and the thread's loop.
            if (_get_running_loop() is None and not _caller_is_async()
                    and fixed is None and settings.fast and _forced_get() is None
                    and (not kwargs or _CALL_KEYWORDS.isdisjoint(kwargs))):
                return _run_coroutine_sync(func(*args, **kwargs))
            return _call_coroutine(func, args, kwargs, fixed, settings)
    else:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            # Without a mode, a timeout or the call's own keywords, the
            # cells inline: one detection, then a direct call or an offload.
            if (fixed is None and settings.fast and _forced_get() is None
                    and (not kwargs or _CALL_KEYWORDS.isdisjoint(kwargs))):
                loop = _get_running_loop()
                if loop is None:
                    if not _caller_is_async():
                        return func(*args, **kwargs)
                    return _offload_glib(func, args, kwargs, settings,
                                         Pending(_thread_default_context()))
                if not _is_glib_loop(loop) or _current_task(loop) is not None:
                    return _offload_asyncio(func, args, kwargs, settings, loop)
            return _call_blocking(func, args, kwargs, fixed, settings)

    wrapper.__smartasync__ = True
    return wrapper


@_export
async def smartawait(value):
    """Awaits value, and what that gives, until it is not awaitable."""
    while inspect.isawaitable(value):
        value = await value
    return value


@_export
def smartcontinuation(value, on_resolved, *args, **kwargs):
    """Applies on_resolved(result, *args, **kwargs) to value: at once for a
    plain value, once it is resolved for an awaitable (a coroutine is
    returned) or a Pending (a Pending is returned)."""
    if isinstance(value, Pending):
        chained = Pending(value._context)
        chained._canceller = value.cancel

        def resolved(done):
            try:
                chained._settle(True, on_resolved(done.result(), *args, **kwargs))
            except BaseException as exc:  # noqa: B902 - the caller's to handle
                chained._settle(False, exc)
            done = None  # as in Pending._settle(): callbacks ran below this frame

        value.add_done_callback(resolved)
        return chained
    if inspect.isawaitable(value):
        async def continued():
            return on_resolved(await value, *args, **kwargs)

        return continued()
    return on_resolved(value, *args, **kwargs)


@_export
def is_async_context():
    """Whether a smartasync call made here would be an async caller's: a
    running asyncio loop, a GLib main context owned by this thread, or a
    set_async() scope (set_sync() makes it False)."""
    forced = _forced_get()
    if forced is not None:
        return forced is _ASYNC
    return _get_running_loop() is not None or _caller_is_async()


class _Forcing:
    """The override set by set_sync() / set_async() when called; as a with
    block, the one before it comes back at the block's end."""

    __slots__ = ("_token",)

    def __init__(self, mode):
        self._token = _forced.set(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _forced.reset(self._token)


@_export
def set_sync(active=True):
    """The seed's set_sync(): from now on, in the current context (this
    thread, or this asyncio task), smartasync calls behave as a sync
    caller's: the result comes back directly, even inside a running loop
    (which is not re-entered: a coroutine function runs on the thread's
    kept loop, a plain function on this thread). set_sync(False) clears
    any override. Also a with block: `with Sa.set_sync():`."""
    return _Forcing(_SYNC if active else None)


@_export
def set_async(active=True):
    """The seed's set_async(): from now on, in the current context,
    smartasync calls behave as an async caller's: an awaitable for
    asyncio, a Pending otherwise (whose context the caller must iterate).
    set_async(False) clears any override. Also a with block."""
    return _Forcing(_ASYNC if active else None)


@_export
def current_cancellable():
    """The Gio.Cancellable of the smartasync call whose plain function runs
    on this thread (made on demand), or None outside one. It fires when the
    caller cancels (an asyncio task, a Pending, a cancellable it passed)."""
    call = getattr(_local, "call", None)
    return None if call is None else call.cancellable()


@_export
def reset():
    """Drops every thread's private GLib context and kept asyncio loop (each
    thread closes its loop at its next call or when it exits): the seed's
    reset_smartasync_cache(), for tests."""
    global _generation
    _generation += 1
    kept = getattr(_local, "kept", None)
    if kept is not None:
        _local.kept = None
        kept.close()
    Sa.reset_contexts()


reset_smartasync_cache = reset
__all__.append("reset_smartasync_cache")


# --- a GLib thread for asyncio callers of GIO pairs and locks -------------------

class _GLibThread:
    """A thread that runs a GLib main loop, on which asyncio callers' GIO
    calls and lock calls are made; results go back with
    call_soon_threadsafe()."""

    _instance = None
    _lock = threading.Lock()

    def __init__(self):
        self.context = GLib.MainContext.new()
        ready = threading.Event()

        def run():
            # Iterated by hand: GLib.MainLoop.run() would add a signal
            # wake-up socket pair for as long as the thread lives.
            context = self.context
            context.push_thread_default()
            ready.set()
            while True:
                context.iteration(True)

        thread = threading.Thread(target=run, name="sa-glib-for-asyncio", daemon=True)
        thread.start()
        ready.wait()

    @classmethod
    def get(cls):
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def invoke(self, func, *data):
        _later(self.context, func, *data)


def _post(loop, func, *args):
    """call_soon_threadsafe(), silent when the loop has closed."""
    try:
        loop.call_soon_threadsafe(func, *args)
    except RuntimeError:
        pass


@functools.lru_cache(maxsize=256)
def _n_args_before_cancellable(klass, name):
    """How many arguments an introspected _async method of klass takes
    before its cancellable, (at least, at most): trailing ones that may be
    None may be left out. None when that cannot be told."""
    try:
        arguments = getattr(klass, name + "_async").get_arguments()
    except AttributeError:
        return None
    names = [arg.get_name() for arg in arguments]
    if "cancellable" not in names:
        return None
    most = least = names.index("cancellable")
    while least > 0 and arguments[least - 1].may_be_null():
        least -= 1
    return least, most


@_export
def run_gio(source_object, name, *args, cancellable=None, mode=Sa.CallMode.AUTO):
    """Runs any GIO _async/_finish pair for the caller at hand.

    Calls source_object.<name>_async(*args, cancellable, callback), as GIO
    orders its arguments, and reads the result with
    source_object.<name>_finish(result): run_gio(file, "load_contents").
    A sync caller gets what the _finish method returns, run on the thread's
    private context (no GMainLoop needed); a GLib caller gets a Pending, an
    asyncio caller a future (the call is made on a GLib thread of its
    own). Cancelling the Pending or the asyncio task cancels the GIO call.
    """
    async_method = getattr(source_object, name + "_async")
    finish = getattr(source_object, name + "_finish")
    counts = _n_args_before_cancellable(type(source_object), name)
    if counts is not None and not counts[0] <= len(args) <= counts[1]:
        raise TypeError("%s_async() takes %s argument(s) before its cancellable, %d given: "
                        "run_gio() passes the cancellable itself (give yours as cancellable=)"
                        % (name, counts[1] if counts[0] == counts[1] else "%d to %d" % counts,
                           len(args)))
    where = _decide(_MODE_NAMES[mode], _default_settings)

    if where is None:
        bridge = Sa.Bridge.new(cancellable, 0)
        async_method(*args, bridge.get_cancellable(),
                     lambda source, result: bridge.complete(result))
        return finish(bridge.wait())

    call_cancellable = Gio.Cancellable()
    if where is _GLIB:
        pending = Pending()
        pending._cancellable = call_cancellable
        if cancellable is not None:
            _link_cancellable(cancellable, pending)

        settling = [pending]  # (done() keeps nothing in its frame, as Pending._settle().)

        def done(source, result):
            try:
                value = finish(result)
            except BaseException as exc:  # noqa: B902
                settling.pop()._settle(False, exc)
            else:
                settling.pop()._settle(True, value)
            result = value = None

        async_method(*args, call_cancellable, done)
        return pending

    loop = where
    future = loop.create_future()
    if cancellable is not None:
        _link_cancellable(cancellable, future, loop)

    def deliver(source, result):
        try:
            value = finish(result)
        except BaseException as exc:  # noqa: B902
            _post(loop, _settle_future, future, False, exc)
        else:
            _post(loop, _settle_future, future, True, value)

    _GLibThread.get().invoke(async_method, *args, call_cancellable, deliver)
    future.add_done_callback(lambda f: f.cancelled() and call_cancellable.cancel())
    return future


# --- SaLock -----------------------------------------------------------------------

def _outcome_value(ok, value):
    return GObject.Value(GObject.TYPE_PYOBJECT, (ok, value))


def _read_outcome(lock, result):
    """(ok, value) of a lock caller's task, read with
    sa_lock_call_finish_value() into a GValue that PyGObject frees; a
    GLib.Error from the lock (a cancel, a reset, a timeout) comes back as
    (False, error)."""
    try:
        _, outcome = lock.call_finish_value(result)
    except GLib.Error as error:
        return False, error
    return outcome


def _deliver_task(call, outcome):
    """On the worker: the execution completes on the context it started
    on, in a later iteration, so that every caller issued before that
    context iterates joins it."""
    task, context = call.target, call.where
    call.target = call.where = None
    _later(context, _return_outcome, task, outcome)


def _return_outcome(task, outcome):
    task.return_value(_outcome_value(*_unbox(outcome)))


def _deliver_group_task(call, outcome):
    """On the worker, for an asyncio group's execution: the group closes on
    its loop first, so that every caller that joined it has made its own
    call on the lock (counted there) before the execution completes."""
    task, group = call.target, call.where
    call.target = call.where = None
    _close_group(group, task, outcome)


def _close_group(group, task, outcome):
    try:
        group.loop.call_soon_threadsafe(_closing, group, task, outcome)
    except RuntimeError:  # the loop closed: nobody joins any more
        _GLibThread.get().invoke(_return_outcome, task, outcome)


def _closing(group, task, outcome):
    """On the group's loop: callers from now on make a new group."""
    group.close()
    _GLibThread.get().invoke(_return_outcome, task, outcome)


class _LockOperation(Sa.Operation):
    """A function run under a Sa.Lock. Non-blocking to the C side: a plain
    function goes to the Python workers, a coroutine function runs on the
    asyncio loop of the callers that started it, or else on the context
    the lock starts it on; the task completes with (ok, value). With a
    group (asyncio callers), it completes once the group has closed."""

    def __init__(self, func, args, kwargs, settings, loop=None, group=None):
        super().__init__(kind=Sa.OperationKind.NON_BLOCKING,
                         name=getattr(func, "__qualname__", None))
        self._call = (func, args, kwargs, settings, loop, group)

    def do_start(self, task, cancellable):
        func, args, kwargs, settings, loop, group = self._call
        self._call = None
        if not _iscoroutinefunction(func):
            if group is None:
                call = _Call(func, args, kwargs, _deliver_task, task,
                             GLib.MainContext.get_thread_default(), cancellable)
            else:
                call = _Call(func, args, kwargs, _deliver_group_task, task, group,
                             cancellable)
            settings.pool.submit(call)
        elif loop is not None:
            try:
                loop.call_soon_threadsafe(_start_on_loop, loop, func, args, kwargs, task,
                                          cancellable, group)
            except RuntimeError:
                task.return_value(_outcome_value(False, _cancelled_error()))
        else:
            pending = Pending()
            pending.add_done_callback(
                lambda p: task.return_value(_outcome_value(p._state == _RESULT, p._value)))
            if cancellable is not None:
                _link_cancellable(cancellable, pending)
            _drive(func(*args, **kwargs), pending)


def _start_on_loop(loop, func, args, kwargs, task, cancellable, group=None):
    """On the asyncio loop: the execution of a coroutine function."""
    execution = loop.create_task(func(*args, **kwargs))

    def done(execution):
        if execution.cancelled():
            outcome = [False, _cancelled_error()]
        elif execution.exception() is not None:
            outcome = [False, execution.exception()]
        else:
            outcome = [True, execution.result()]
        if group is None:
            task.return_value(_outcome_value(*_unbox(outcome)))
        else:
            _closing(group, task, outcome)

    execution.add_done_callback(done)
    if cancellable is not None:
        _link_cancellable(cancellable, execution, loop)


class _Group:
    """The asyncio callers of one key on one loop that wait for one lock
    call, made on the GLib thread for all of them."""

    __slots__ = ("loop", "futures", "n_live", "cancellable", "done", "lock", "key")

    def __init__(self, loop, lock, key):
        self.loop = loop
        self.futures = []
        self.n_live = 0
        self.cancellable = Gio.Cancellable()
        self.done = False
        self.lock = lock
        self.key = key

    def close(self):
        """On the loop: the group takes no more callers."""
        lock, self.lock = self.lock, None
        if lock is not None:
            with lock._sa_groups_lock:
                if lock._sa_groups.get((self.loop, self.key)) is self:
                    del lock._sa_groups[(self.loop, self.key)]

    def join(self, cancellable):
        future = self.loop.create_future()
        self.futures.append(future)
        self.n_live += 1
        future.add_done_callback(self._left)
        if cancellable is not None:
            _link_cancellable(cancellable, future, self.loop)
        return future

    def _left(self, future):
        if future.cancelled():
            self.n_live -= 1
            if self.n_live == 0 and not self.done:
                self.cancellable.cancel()

    def resolve(self, ok, value):
        """On the loop: every caller gets the execution's outcome."""
        self.done = True
        futures, self.futures = self.futures, []
        if not ok and _is_cancelled_error(value):
            for future in futures:
                future.cancel()
            return
        for future in futures:
            _settle_future(future, ok, value)


def _ignore_outcome(source, result):
    _read_outcome(source, result)


class Lock(Sa.Lock):
    def __init__(self, dispatcher=None):
        Sa.Lock.__init__(self, dispatcher=dispatcher or Sa.Dispatcher.get_default())

    def call_sync(self, key, operation, cancellable=None):
        """Runs operation under key for a sync caller and returns its value
        (read into a GValue PyGObject frees, as Dispatcher.call_sync())."""
        return Sa.Lock.call_sync_value(self, key, operation, cancellable)[1]

    def call_finish(self, result):
        """The value of a call() or call_async() whose callback got result."""
        return Sa.Lock.call_finish_value(self, result)[1]

    def _groups(self):
        try:
            return self._sa_groups
        except AttributeError:
            self._sa_groups = {}
            self._sa_groups_lock = threading.Lock()
            return self._sa_groups

    def run_once(self, key, func, *args, _sa_mode=Sa.CallMode.AUTO, _sa_cancellable=None,
                 **kwargs):
        """Runs func(*args, **kwargs) once for all concurrent callers of key
        (the seed's SmartLock.run_once()); every caller gets the result the
        way its context needs it: directly, a Pending, or an awaitable.
        func is a plain function (run on a worker thread) or a coroutine
        function (run on the loop of the callers that started it).
        _sa_cancellable detaches this caller alone."""
        dispatcher = self.get_dispatcher()
        settings = _settings_of(dispatcher)
        where = _decide(_MODE_NAMES[_sa_mode], settings)
        cancellable = _sa_cancellable

        if where is not None and getattr(func, "__smartasync__", False):
            inner = getattr(func, "__wrapped__", None)
            if _iscoroutinefunction(inner):
                # A decorated coroutine function runs on its callers' loop
                # or context, as it does undecorated; a script's runs on
                # a worker, which calls it on that thread's kept loop.
                func = inner

        if where is None:
            operation = _LockOperation(func, args, kwargs, settings)
            task = self.call(key, operation, Sa.CallMode.SYNC, cancellable, None)
            ok, value = _read_outcome(self, task)
            if ok:
                return value
            try:
                raise value
            finally:
                value = None  # a traceback keeps this frame: no cycle through it

        if where is _GLIB:
            pending = Pending()
            call_cancellable = pending.cancellable
            if cancellable is not None:
                _link_cancellable(cancellable, pending)

            # (done() keeps nothing in its frame, as Pending._settle().)
            settling = [pending]

            def done(source, result):
                settling.pop()._settle(*_read_outcome(source, result))
                source = result = None

            # On gi.events' loop a coroutine function runs as its task.
            operation = _LockOperation(func, args, kwargs, settings, _get_running_loop())
            task = self.call(key, operation, Sa.CallMode.ASYNC, call_cancellable, done)
            del task
            return pending

        # asyncio: callers of one loop join one group, which makes one call.
        if cancellable is not None and cancellable.is_cancelled():
            future = where.create_future()
            future.cancel()
            return future
        groups = self._groups()
        with self._sa_groups_lock:
            group = groups.get((where, key))
            fresh = group is None
            if fresh:
                # A group whose loop closed before its outcome arrived is
                # dropped by the next one.
                for stale in [k for k, g in groups.items() if g.loop.is_closed()]:
                    del groups[stale]
                group = groups[(where, key)] = _Group(where, self, key)
        future = group.join(cancellable)
        # Every caller makes its own call on the lock (the first starts the
        # execution, the others join it there and are counted), in order
        # on the GLib thread; the execution completes after the group has
        # closed, so none of them starts another.
        operation = _LockOperation(func, args, kwargs, settings, where, group)
        _GLibThread.get().invoke(self._call_for_group, key, operation, group, fresh)
        return future

    def _call_for_group(self, key, operation, group, first):
        """On the GLib thread: the lock call of a caller of an asyncio
        group; the first one's outcome resolves the group."""
        if not first:
            task = self.call(key, operation, Sa.CallMode.ASYNC, group.cancellable,
                             _ignore_outcome)
            del task
            return

        def done(source, result):
            # Posted from a later dispatch, once this one has let the
            # lock's tasks go: the box, which the loop empties, is then
            # all that holds the outcome.
            _GLibThread.get().invoke(self._post_group_outcome, key, group,
                                     list(_read_outcome(source, result)))

        task = self.call(key, operation, Sa.CallMode.ASYNC, group.cancellable, done)
        del task

    def _post_group_outcome(self, key, group, box):
        """On the GLib thread: hands the group's outcome to its loop."""
        try:
            group.loop.call_soon_threadsafe(self._resolve_group, key, group, box)
        except RuntimeError:  # the loop closed first: only the table holds the group
            with self._sa_groups_lock:
                if self._sa_groups.get((group.loop, key)) is group:
                    del self._sa_groups[(group.loop, key)]

    def _resolve_group(self, key, group, box):
        """On the group's loop: callers that join until now share this
        outcome, as the callers issued in one GLib iteration do."""
        ok, value = box
        box.clear()
        with self._sa_groups_lock:
            if self._sa_groups.get((group.loop, key)) is group:
                del self._sa_groups[(group.loop, key)]
        group.resolve(ok, value)

    def reset(self):
        """Cancels every execution in flight; every caller still waiting gets
        G_IO_ERROR_CANCELLED (an asyncio caller: CancelledError)."""
        groups = self._groups()
        with self._sa_groups_lock:
            dropped = list(groups.values())
            groups.clear()
        for group in dropped:
            _post(group.loop, group.resolve, False, _cancelled_error())
        Sa.Lock.reset(self)


Lock = override(Lock)
__all__.append("Lock")


@_export
class SmartLock:
    """The seed's SmartLock: one Sa.Lock with the default key.

        lock = Sa.SmartLock()
        data = await lock.run_once(load)     # or lock.run_once(load) in a script
    """

    def __init__(self, dispatcher=None):
        self.lock = Lock(dispatcher)

    def run_once(self, func, *args, **kwargs):
        """Runs func once for every concurrent caller; see Sa.Lock.run_once()."""
        return self.lock.run_once(None, func, *args, **kwargs)

    def reset(self):
        """Cancels the execution in flight; its waiting callers get cancelled."""
        self.lock.reset()
