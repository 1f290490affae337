#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The HTTP service in Python: libsoup-3 on loopback, sqlite3, @Sa.smartasync.

    http_service.py [--port N] [--db FILE] [--executor sa|tpe]
    http_service.py --db FILE --get /item/42 --get /scan/7

Serves /item/ID (a primary-key lookup) and /scan/CATEGORY (a scan) from the
same table as the C service. With --executor sa (the default) each request
calls lookup(), a plain function decorated with @Sa.smartasync: from the
server's loop it runs on a worker and the reply goes out from the loop;
from --get it runs right there. --executor tpe is the same service written
with a ThreadPoolExecutor and GLib.idle_add, the usual hand-made pattern.
The server prints "listening on http://127.0.0.1:PORT/" once it is up and
stops on SIGINT or SIGTERM.
"""

import argparse
import concurrent.futures
import json
import os
import queue
import signal
import sqlite3
import sys

import gi

gi.require_version("Sa", "1")
gi.require_version("Soup", "3.0")
from gi.repository import GLib, Gio, Soup, Sa  # noqa: E402

N_ITEMS = 100000
QUERIES = {
    "item": "SELECT name, category, price FROM items WHERE id = ?",
    "scan": "SELECT count(*), sum(price), max(name) FROM items WHERE category = ?",
}


def create_table(path):
    partial = path + ".partial"
    if os.path.exists(partial):
        os.unlink(partial)
    db = sqlite3.connect(partial)
    db.executescript(f"""
        PRAGMA journal_mode = OFF;
        PRAGMA synchronous = OFF;
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                            category INTEGER NOT NULL, price INTEGER NOT NULL);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N_ITEMS})
        INSERT INTO items SELECT i, printf('item-%08d', (i * 7919) % 1000003),
                                 i % 97, (i * 31) % 10007 FROM n;
    """)
    db.commit()
    db.close()
    os.rename(partial, path)


class Service:
    """The blocking work: a query on a pooled connection, its answer as JSON."""

    def __init__(self, path):
        if not os.path.exists(path):
            create_table(path)
        self.path = path
        self.connections = queue.SimpleQueue()
        self.n_queries = 0

    def query(self, kind, arg):
        try:
            db = self.connections.get_nowait()
        except queue.Empty:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        try:
            self.n_queries += 1
            row = db.execute(QUERIES[kind], (arg,)).fetchone()
        finally:
            self.connections.put(db)
        if kind == "item":
            if row is None:
                raise LookupError(f"No item {arg}")
            return json.dumps({"id": arg, "name": row[0], "category": row[1], "price": row[2]}) + "\n"
        return json.dumps({"category": arg, "count": row[0], "total": row[1] or 0,
                           "last": row[2] or ""}) + "\n"

    def close(self):
        while True:
            try:
                self.connections.get_nowait().close()
            except queue.Empty:
                return


def parse(path):
    parts = path.strip("/").split("/")
    if len(parts) == 3:       # /MODE/item/ID as the C service takes it
        parts = parts[1:]
    if len(parts) != 2 or parts[0] not in QUERIES or not parts[1].isdigit():
        raise LookupError(f"Not a path of this service: {path} (try /item/42 or /scan/7)")
    return parts[0], int(parts[1])


SERVICE = None


@Sa.smartasync
def lookup(path):
    """The handler, written once: blocking, so a worker runs it for the loop."""
    kind, arg = parse(path)
    return SERVICE.query(kind, arg)


def reply(msg, answer=None, error=None):
    if error is None:
        msg.set_status(Soup.Status.OK, None)
        msg.set_response("application/json", Soup.MemoryUse.COPY, answer.encode())
    else:
        status = Soup.Status.NOT_FOUND if isinstance(error, LookupError) else Soup.Status.INTERNAL_SERVER_ERROR
        msg.set_status(status, None)
        msg.set_response("text/plain", Soup.MemoryUse.COPY, f"{error}\n".encode())
    msg.unpause()


def handle_sa(server, msg, path, query):
    msg.pause()
    # The server's loop is running: lookup() returns an Sa.Pending.
    pending = lookup(path)

    def done(p):
        try:
            reply(msg, p.result())
        except Exception as error:  # noqa: BLE001 - becomes the HTTP status
            reply(msg, error=error)

    pending.add_done_callback(done)


EXECUTOR = None


def handle_tpe(server, msg, path, query):
    msg.pause()

    def work():
        kind, arg = parse(path)
        return SERVICE.query(kind, arg)

    def deliver(future):
        def on_loop():
            try:
                reply(msg, future.result())
            except Exception as error:  # noqa: BLE001 - becomes the HTTP status
                reply(msg, error=error)
            return GLib.SOURCE_REMOVE
        GLib.idle_add(on_loop)

    EXECUTOR.submit(work).add_done_callback(deliver)


def handle_stats(server, msg, path, query):
    body = json.dumps({"queries": SERVICE.n_queries}) + "\n"
    msg.set_status(Soup.Status.OK, None)
    msg.set_response("application/json", Soup.MemoryUse.COPY, body.encode())


def main():
    global SERVICE, EXECUTOR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", default=os.path.join(GLib.get_user_cache_dir(), "smartasync-demo",
                                                     "service.sqlite"))
    parser.add_argument("--executor", choices=["sa", "tpe"], default="sa")
    parser.add_argument("--get", action="append", metavar="PATH")
    args = parser.parse_args()

    os.makedirs(os.path.dirname(os.path.abspath(args.db)), exist_ok=True)
    SERVICE = Service(args.db)

    if args.get:
        # A script is a sync caller: lookup() returns the answer itself.
        status = 0
        for path in args.get:
            try:
                sys.stdout.write(lookup(path))
            except LookupError as error:
                print(f"{path}: {error}", file=sys.stderr)
                status = 1
        SERVICE.close()
        return status

    if args.executor == "tpe":
        EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() * 4)
    server = Soup.Server(server_header="smartasync-demo-py ")
    server.add_handler(None, handle_tpe if EXECUTOR else handle_sa)
    server.add_handler("/stats", handle_stats)
    sock = Gio.Socket.new(Gio.SocketFamily.IPV4, Gio.SocketType.STREAM, Gio.SocketProtocol.TCP)
    sock.set_listen_backlog(256)
    sock.bind(Gio.InetSocketAddress.new_from_string("127.0.0.1", args.port), True)
    sock.listen()
    server.listen_socket(sock, 0)
    print(f"listening on http://127.0.0.1:{sock.get_local_address().get_port()}/", flush=True)

    loop = GLib.MainLoop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, lambda *a: (loop.quit(), False)[1])
    loop.run()
    server.disconnect()
    if EXECUTOR:
        EXECUTOR.shutdown()
    SERVICE.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
