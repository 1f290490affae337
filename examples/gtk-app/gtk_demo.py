#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The GTK demo in Python: the same three operations, each written once.

    gtk_demo.py [--data-dir DIR] [--list-dir DIR]          the window
    gtk_demo.py --cli ...                                  no loop, results printed
    gtk_demo.py --self-test ...                            presses the buttons, checks

It reads the table and the file that gtk-demo (C) makes in DIR, and gives
the same lines. query() and hash_file() are plain functions under
@Sa.smartasync (blocking: a worker runs them for the window),
list_dir() an async def (non-blocking, driven on GLib).
"""

import argparse
import hashlib
import os
import sqlite3
import sys
import time

import gi

gi.require_version("Sa", "1")
gi.require_version("Gtk", "4.0")
from gi.repository import GLib, Gio, Gtk, Sa  # noqa: E402

JOBS = [("query", "Query a million rows (sqlite3, blocking)"),
        ("hash", "Hash a 64 MiB file (blocking)"),
        ("list", "List a directory (GIO, non-blocking)")]


@Sa.smartasync
def query(data_dir, cancellable=None):
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'items.sqlite')}?mode=ro", uri=True)
    # sqlite3 asks every thousand steps; a true answer interrupts the query.
    db.set_progress_handler(lambda: cancellable is not None and cancellable.is_cancelled(), 1000)
    try:
        prefix, count, total = db.execute(
            "SELECT substr (name, 6, 3) AS prefix, count (*), sum (price)"
            " FROM items GROUP BY prefix ORDER BY 3 DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError:
        if cancellable is not None and cancellable.is_cancelled():
            raise GLib.Error("Operation was cancelled", "g-io-error-quark",
                             Gio.IOErrorEnum.CANCELLED)
        raise
    finally:
        db.close()
    return f"busiest prefix {prefix}: {count} items, total price {total}"


@Sa.smartasync
def hash_file(data_dir, cancellable=None):
    checksum, total = hashlib.sha256(), 0
    with open(os.path.join(data_dir, "random.bin"), "rb") as f:
        while chunk := f.read(1 << 20):
            checksum.update(chunk)
            total += len(chunk)
    return f"sha256 {checksum.hexdigest()[:16]}... of {total >> 20} MiB"


@Sa.smartasync
async def list_dir(directory, cancellable=None):
    enumerator = await Sa.run_gio(Gio.File.new_for_path(directory), "enumerate_children",
                                  "standard::name,standard::type",
                                  Gio.FileQueryInfoFlags.NOFOLLOW_SYMLINKS,
                                  GLib.PRIORITY_DEFAULT, cancellable=cancellable)
    entries = directories = 0
    while infos := await Sa.run_gio(enumerator, "next_files", 64, GLib.PRIORITY_DEFAULT,
                                    cancellable=cancellable):
        entries += len(infos)
        directories += sum(i.get_file_type() == Gio.FileType.DIRECTORY for i in infos)
    return f"{entries} entries, {directories} directories"


def operation(name, args, cancellable=None):
    """Calls one of the three, the same way from the command line and the window."""
    if name == "query":
        return query(args.data_dir, cancellable, _sa_cancellable=cancellable)
    if name == "hash":
        return hash_file(args.data_dir, cancellable, _sa_cancellable=cancellable)
    return list_dir(args.list_dir, cancellable, _sa_cancellable=cancellable)


class Window(Gtk.ApplicationWindow):
    def __init__(self, application, args):
        super().__init__(application=application, title="smartasync demo (Python)")
        self.args = args
        self.cancellable = Gio.Cancellable()   # cancelled when the window closes
        self.outcomes, self.pending, self.times = {}, 0, {}
        self.connect("close-request", lambda w: self.cancellable.cancel() or False)
        grid = Gtk.Grid(row_spacing=12, column_spacing=12, margin_start=18, margin_end=18,
                        margin_top=18, margin_bottom=18)
        self.rows = {}
        for row, (name, title) in enumerate(JOBS):
            button, spinner, label = Gtk.Button(label=title), Gtk.Spinner(), Gtk.Label(label="—", xalign=0)
            button.connect("clicked", self.clicked, name)
            grid.attach(button, 0, row, 1, 1)
            grid.attach(spinner, 1, row, 1, 1)
            grid.attach(label, 2, row, 1, 1)
            self.rows[name] = (button, spinner, label)
        self.set_child(grid)

    def clicked(self, button, name):
        # A signal handler runs in the main loop: the call returns an Sa.Pending.
        pending = operation(name, self.args, self.cancellable)
        application = self.get_application()
        application.hold()   # no quitting under a pending call
        self.pending += 1
        self.times[name] = time.monotonic()
        button.set_sensitive(False)
        self.rows[name][1].start()
        self.rows[name][2].set_text("running...")

        def done(p):
            self.pending -= 1
            self.times[name] = time.monotonic() - self.times[name]
            try:
                self.outcomes[name] = p.result()
            except Exception as error:  # noqa: BLE001 - shown in the window
                self.outcomes[name] = error
            button.set_sensitive(True)
            self.rows[name][1].stop()
            self.rows[name][2].set_text(str(self.outcomes[name]))
            application.release()

        pending.add_done_callback(done)


def self_test(window, application):
    """Presses the buttons, checks the lines, measures the loop, closes mid-query."""
    state = {"last": 0, "gap": 0, "failed": False}

    def check(ok, what):
        print(f"{'ok' if ok else 'not ok'} - {what}", flush=True)
        state["failed"] |= not ok

    def tick():
        now = time.monotonic()
        if state["last"]:
            state["gap"] = max(state["gap"], now - state["last"])
        state["last"] = now
        return GLib.SOURCE_CONTINUE

    def shutdown(app):
        # The application was held until the cancelled call had answered.
        check(window.pending == 0, "no call pending when the application quits")
        check(isinstance(window.outcomes["query"], GLib.Error)
              and window.outcomes["query"].matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED),
              "closing the window cancelled the query in flight")
        app.exit_status = 1 if state["failed"] else 0

    def close():
        print("# closing the window with the query in flight", flush=True)
        window.close()
        return GLib.SOURCE_REMOVE

    def all_done():
        if window.pending:
            return GLib.SOURCE_CONTINUE
        for name, _ in JOBS:
            check(isinstance(window.outcomes.get(name), str), f"{name} gave a result")
            print(f"result {name}: {window.outcomes.get(name)}", flush=True)
        stall = (state["gap"] - 0.010) * 1000
        print(f"figure python-main-loop-longest-stall {stall:.1f} ms", flush=True)
        # As in gtk-demo.c: never half of what the query takes, 250 ms at least.
        bound = max(250, window.times["query"] * 1000 / 2)
        check(stall < bound, f"the main loop was never blocked for {bound:.0f} ms")
        del window.outcomes["query"]
        window.rows["query"][0].emit("clicked")
        check(window.pending == 1, "the query is pending")
        GLib.timeout_add(100, close)
        return GLib.SOURCE_REMOVE

    def press():
        for name, _ in JOBS:
            window.rows[name][0].emit("clicked")
        check(window.pending == len(JOBS), "three calls pending, none finished inside the click")
        GLib.timeout_add(50, all_done)
        return GLib.SOURCE_REMOVE

    application.connect("shutdown", shutdown)
    GLib.timeout_add(10, tick)
    GLib.timeout_add(300, press)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(GLib.get_user_cache_dir(), "smartasync-demo"))
    parser.add_argument("--list-dir", default="/usr/share")
    parser.add_argument("--cli", action="store_true")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()

    if args.cli:
        # A script is a sync caller: each call returns its line.
        for name, _ in JOBS:
            print(f"result {name}: {operation(name, args)}")
        return 0

    application = Gtk.Application(application_id="org.smartasync.DemoPy",
                                  flags=Gio.ApplicationFlags.NON_UNIQUE)
    application.exit_status = 0

    def activate(app):
        window = Window(app, args)
        window.present()
        if args.self_test:
            self_test(window, app)

    application.connect("activate", activate)
    status = application.run([sys.argv[0]])
    return status or application.exit_status


if __name__ == "__main__":
    sys.exit(main())
