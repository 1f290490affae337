# SPDX-License-Identifier: LGPL-2.1-or-later
"""Smoke test: an operation written in Python, called through the C
dispatcher in every cell that a Python caller can reach. Results are read
with call_finish_value()/call_sync_value() (an out caller-allocates
GValue, which PyGObject frees), not through the transfer-full GValue of
call_finish()/call_sync(), which PyGObject 3.42 never frees."""

import os
import tempfile

import gi

gi.require_version("Sa", "1")
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib, GObject, Sa  # noqa: E402

import pytest  # noqa: E402


class Square(Sa.Operation):
    """A blocking operation written in Python."""

    def __init__(self, n):
        super().__init__(kind=Sa.OperationKind.BLOCKING, name="square")
        self.n = n
        self.threads = []

    def do_run(self, task, cancellable):
        import threading

        self.threads.append(threading.get_ident())
        task.return_value(self.n * self.n)


class LoadText(Sa.Operation):
    """A non-blocking operation wrapping a real GIO _async/_finish pair."""

    def __init__(self, path):
        super().__init__(kind=Sa.OperationKind.NON_BLOCKING, name="load-text")
        self.file = Gio.File.new_for_path(path)

    def do_start(self, task, cancellable):
        def done(file, result):
            try:
                _, data, _ = file.load_contents_finish(result)
            except GLib.Error as error:
                task.return_error(error)
                return
            task.return_value(data.decode())

        self.file.load_contents_async(cancellable, done)


class Denied(Sa.Operation):
    def do_run(self, task, cancellable):
        task.return_error(GLib.Error.new_literal(
            Gio.io_error_quark(), "no entry", Gio.IOErrorEnum.PERMISSION_DENIED))


@pytest.fixture
def text_file():
    fd, path = tempfile.mkstemp(prefix="sa-py-")
    os.write(fd, b"written by python")
    os.close(fd)
    yield path
    os.unlink(path)


def sync_value(dispatcher, operation):
    ok, value = dispatcher.call_sync_value(operation, None)
    assert ok
    return value


def test_sync_blocking():
    dispatcher = Sa.Dispatcher.get_default()
    op = Square(7)
    before = dispatcher.get_n_calls(Sa.Cell.SYNC_BLOCKING)
    assert sync_value(dispatcher, op) == 49
    assert dispatcher.get_n_calls(Sa.Cell.SYNC_BLOCKING) == before + 1


def test_sync_non_blocking(text_file):
    dispatcher = Sa.Dispatcher.get_default()
    assert not Sa.caller_is_async()
    assert dispatcher.choose_cell(LoadText(text_file), Sa.CallMode.AUTO) == \
        Sa.Cell.SYNC_NON_BLOCKING
    assert sync_value(dispatcher, LoadText(text_file)) == "written by python"


def test_error_crosses_unchanged():
    dispatcher = Sa.Dispatcher.get_default()
    with pytest.raises(GLib.Error) as info:
        sync_value(dispatcher, Denied(kind=Sa.OperationKind.BLOCKING))
    assert info.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.PERMISSION_DENIED)
    assert info.value.message == "no entry"


def test_async_blocking_from_loop():
    import threading

    dispatcher = Sa.Dispatcher.get_default()
    loop = GLib.MainLoop()
    op = Square(12)
    results = []

    def done(source, result):
        results.append(source.call_finish_value(result)[1])
        loop.quit()

    def start():
        assert Sa.caller_is_async()
        dispatcher.call(op, Sa.CallMode.AUTO, None, done)
        assert results == []  # never called back from inside the call
        return GLib.SOURCE_REMOVE

    GLib.idle_add(start)
    loop.run()
    assert results == [144]
    assert op.threads and op.threads[0] != threading.get_ident()


class Counted(Sa.Operation):
    """A non-blocking operation in Python that completes from a timeout, so
    that callers issued meanwhile join it."""

    def __init__(self):
        super().__init__(kind=Sa.OperationKind.NON_BLOCKING, name="counted")
        self.runs = 0

    def do_start(self, task, cancellable):
        self.runs += 1

        def later():
            task.return_value("shared %d" % self.runs)
            return GLib.SOURCE_REMOVE

        GLib.timeout_add(50, later)


def test_lock_coalesces_python_operation():
    lock = Sa.Lock.new(None)
    op = Counted()
    loop = GLib.MainLoop()
    results = []

    def done(source, result):
        results.append(source.call_finish_value(result)[1])
        if len(results) == 5:
            loop.quit()

    def start():
        for _ in range(5):
            lock.call("py-key", op, Sa.CallMode.AUTO, None, done)
        return GLib.SOURCE_REMOVE

    GLib.idle_add(start)
    loop.run()
    assert results == ["shared 1"] * 5
    assert op.runs == 1
    assert lock.get_n_executions() == 1
    assert lock.get_n_coalesced() == 4


def test_lock_sync_caller():
    lock = Sa.Lock.new(None)
    task = lock.call(None, Square(4), Sa.CallMode.SYNC, None, None)
    assert lock.call_finish_value(task)[1] == 16
    assert lock.props.n_executions == 1


class Payload(Sa.Operation):
    """A blocking operation whose result is a large Python object."""

    def do_run(self, task, cancellable):
        task.return_value(GObject.Value(GObject.TYPE_PYOBJECT, Big()))


class Big:
    def __init__(self):
        self.data = bytearray(1 << 20)


def test_value_forms_free_their_result():
    import gc
    import weakref

    dispatcher = Sa.Dispatcher.get_default()
    refs = []
    gc.disable()
    try:
        for _ in range(50):
            value = sync_value(dispatcher, Payload(kind=Sa.OperationKind.BLOCKING))
            refs.append(weakref.ref(value))
            del value
    finally:
        gc.enable()
    assert sum(r() is not None for r in refs) == 0
