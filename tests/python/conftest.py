# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers shared by the Python tests: a GLib main loop to call from, and
waits that iterate instead of sleeping and hoping."""

import os
import tempfile
import time

import gi

gi.require_version("Sa", "1")
gi.require_version("Gio", "2.0")
from gi.repository import GLib, Sa  # noqa: E402

import pytest  # noqa: E402

# SA_TEST_GI_EVENTS=1: the whole run on gi.events' policy (PyGObject 3.50),
# asyncio on the GLib main loop, as GNOME applications run it.
GI_EVENTS = os.environ.get("SA_TEST_GI_EVENTS") == "1"
if GI_EVENTS:
    import asyncio  # noqa: E402

    import gi.events  # noqa: E402

    asyncio.set_event_loop_policy(gi.events.GLibEventLoopPolicy())

    def _run_as_gnome_apps_do(main, *, debug=None):
        """asyncio.run() on the policy's loop of this thread's GLib context.
        gi.events refuses asyncio.run() itself on the main thread (its
        set_event_loop() finds the default context taken): applications run
        the context's loop, e.g. run_until_complete() or GLib.MainLoop.run()."""
        policy = asyncio.get_event_loop_policy()
        try:
            loop, made = policy.get_event_loop(), False
        except RuntimeError:  # a thread without a GLib context: one of its own
            loop, made = policy.new_event_loop(), True
            policy.set_event_loop(loop)
        try:
            return loop.run_until_complete(main)
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            if made:
                policy.set_event_loop(None)
                loop.close()

    asyncio.run = _run_as_gnome_apps_do


def pytest_report_header(config):
    return "PyGObject %s%s" % (gi.__version__,
                               ", gi.events.GLibEventLoopPolicy" if GI_EVENTS else "")


def in_glib_loop(body, timeout_s=20):
    """Runs body(loop) from a callback of a running GLib main loop on the
    default context (an async caller); body calls loop.quit() when done.
    Returns what body returned."""
    loop = GLib.MainLoop()
    box = {}

    def start():
        box["value"] = body(loop)
        return GLib.SOURCE_REMOVE

    def expire():
        box["expired"] = True
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.idle_add(start)
    guard = GLib.timeout_add_seconds(timeout_s, expire)
    loop.run()
    if "expired" not in box:
        GLib.source_remove(guard)
    assert "expired" not in box, "the loop did not finish in time"
    return box.get("value")


def collect(loop, pendings):
    """Quits loop once every Pending is done; returns the list that then
    holds each one's result or exception."""
    results = [None] * len(pendings)
    left = [len(pendings)]

    def done(i, p):
        results[i] = p.exception() if p.exception() is not None else p.result()
        left[0] -= 1
        if left[0] == 0:
            loop.quit()

    for i, p in enumerate(pendings):
        p.add_done_callback(lambda p, i=i: done(i, p))
    return results


def wait_until(predicate, timeout_s=10):
    """Polls predicate (something another thread changes) until it holds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.002)


@pytest.fixture
def text_file():
    fd, path = tempfile.mkstemp(prefix="sa-py-")
    os.write(fd, b"hello from a file")
    os.close(fd)
    yield path
    os.unlink(path)


@pytest.fixture(autouse=True)
def fresh_state():
    """Each test starts with no kept loops or private contexts."""
    Sa.reset_smartasync_cache()
    yield
