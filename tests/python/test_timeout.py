# SPDX-License-Identifier: LGPL-2.1-or-later
"""A dispatcher's timeout in every cell a Python call takes: the caller
gets G_IO_ERROR_TIMED_OUT, the body's cancellable fires; where the caller
is the thread running the body, it is answered when the body returns."""

import asyncio
import threading
import time

from gi.repository import Gio, GLib, Sa

import pytest

from conftest import collect, in_glib_loop, wait_until


@pytest.fixture
def dispatcher():
    d = Sa.Dispatcher.new()
    d.set_timeout(100)
    return d


@pytest.fixture
def patient():
    """A dispatcher whose timeout a quick call never reaches, even on a
    loaded machine."""
    d = Sa.Dispatcher.new()
    d.set_timeout(20000)
    return d


def is_timed_out(error):
    return (isinstance(error, GLib.Error)
            and error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT))


def waits_for_cancel(seen):
    """A plain function that waits (at most 20 s) for its cancellable."""
    def body():
        fired = threading.Event()
        Sa.current_cancellable().connect(lambda *_: fired.set())
        seen["fired"] = fired.wait(20)
        return "late"
    return body


def test_script_plain_function(dispatcher, patient):
    seen = {}
    func = Sa.smartasync(dispatcher=dispatcher)(waits_for_cancel(seen))
    start = time.monotonic()
    with pytest.raises(GLib.Error) as info:
        func()
    assert is_timed_out(info.value)
    assert seen["fired"] and time.monotonic() - start < 10
    # Quick enough: the result.
    assert Sa.smartasync(dispatcher=patient)(lambda: 5)() == 5


def test_asyncio_plain_function(dispatcher):
    seen = {}
    func = Sa.smartasync(dispatcher=dispatcher)(waits_for_cancel(seen))

    async def main():
        with pytest.raises(GLib.Error) as info:
            await func()
        return info.value

    assert is_timed_out(asyncio.run(main()))
    wait_until(lambda: "fired" in seen)
    assert seen["fired"]


def test_glib_plain_function(dispatcher):
    seen = {}
    func = Sa.smartasync(dispatcher=dispatcher)(waits_for_cancel(seen))
    (error,) = in_glib_loop(lambda loop: collect(loop, [func()]))
    assert is_timed_out(error)
    wait_until(lambda: "fired" in seen)
    assert seen["fired"]


def test_coroutine_function_everywhere(dispatcher, patient):
    @Sa.smartasync(dispatcher=dispatcher)
    async def sleeps_long():
        await asyncio.sleep(20)

    @Sa.smartasync(dispatcher=patient)
    async def quick():
        await asyncio.sleep(0)
        return "in time"

    start = time.monotonic()
    with pytest.raises(GLib.Error) as info:
        sleeps_long()
    assert is_timed_out(info.value)
    assert quick() == "in time"

    async def main():
        with pytest.raises(GLib.Error) as info:
            await sleeps_long()
        return info.value, await quick()

    error, value = asyncio.run(main())
    assert is_timed_out(error) and value == "in time"

    gate = threading.Event()

    @Sa.smartasync(dispatcher=dispatcher)
    async def awaits_a_slow_call():
        await Sa.smartasync(lambda: gate.wait(20))()

    (error,) = in_glib_loop(lambda loop: collect(loop, [awaits_a_slow_call()]))
    gate.set()
    assert is_timed_out(error)
    assert time.monotonic() - start < 30
