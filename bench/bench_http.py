#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench_http.py BUILDDIR [--quick|--tiny] [--report FILE]

Loads the HTTP service of examples/http-service with wrk, on loopback
only, each run bounded in time:

- C, light (/item/ID, a primary-key lookup) and heavy (/scan/CATEGORY, a
  scan) endpoints, random IDs and categories: the smartasync handler
  (sa_dispatcher_call, with and without SaLock) beside the same handler
  written with g_task_run_in_thread() and the naive one that queries on
  the loop thread. Rounds interleaved, the order rotated every round.
- Stampede: 100 identical heavy requests sent at once on connections
  opened beforehand, with and without SaLock: queries run, total time.
- Python: http_service.py with @Sa.smartasync beside the same server with
  a ThreadPoolExecutor and GLib.idle_add.

Prints a table, `figure` and `ratio` lines and the targets; with --report,
writes its own section into FILE (between markers, replaced on each run).
"""

import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BEGIN = "<!-- bench_http.py: begin -->"
END = "<!-- bench_http.py: end -->"

WRK_SCRIPT = r"""
local mode, kind, high
init = function (args)
  mode, kind, high = args[1], args[2], tonumber (args[3])
  math.randomseed (os.time () + tonumber (tostring ({}):sub (8), 16))
end
request = function ()
  return wrk.format ("GET", mode .. "/" .. kind .. "/" .. math.random (1, high))
end
done = function (summary, latency, requests)
  local e = summary.errors
  io.write (string.format ("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
                           latency:percentile (50), latency:percentile (99),
                           e.connect + e.read + e.write + e.timeout, e.status))
end
"""


class Server:
    """A service in a process of its own; stopped (SIGTERM) on exit."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"{argv[0]} did not start: {line!r} {self.proc.stderr.read()}")
        self.url = line.split()[-1].rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])

    def stats(self):
        import urllib.request
        with urllib.request.urlopen(self.url + "/stats", timeout=30) as r:
            return json.load(r)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wrk(url, mode, kind, high, seconds, connections, script):
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", script, url, "--", mode, kind, str(high)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    for line in out.splitlines():
        if line.startswith("RESULT "):
            n, duration_us, p50, p99, errors, status = map(int, line.split()[1:])
            return {"rps": n / (duration_us / 1e6), "p50": p50 / 1000, "p99": p99 / 1000,
                    "errors": errors + status}
    raise RuntimeError(f"wrk gave no result: {out}")


def stampede(port, path, n=100):
    """n identical requests on n connections opened beforehand, sent back
    to back; returns the seconds from the first byte sent to the last reply."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(n)]
    time.sleep(0.2)  # let the server accept them all
    sel = selectors.DefaultSelector()
    replies = {}
    start = time.perf_counter()
    for s in socks:
        s.sendall(request)
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        replies[s] = b""
    open_socks = n
    deadline = time.monotonic() + 120
    while open_socks and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            data = key.fileobj.recv(65536)
            if data:
                replies[key.fileobj] += data
            else:
                sel.unregister(key.fileobj)
                open_socks -= 1
    elapsed = time.perf_counter() - start
    for s in socks:
        s.close()
    ok = sum(1 for r in replies.values() if r.startswith(b"HTTP/1.1 200"))
    bodies = {r.split(b"\r\n\r\n", 1)[-1] for r in replies.values()}
    return elapsed, ok, len(bodies)


def summary(samples, key):
    values = [s[key] for s in samples]
    return statistics.median(values), min(values), max(values)


def main():
    args = sys.argv[1:]
    builddir = args.pop(0) if args and not args[0].startswith("--") else "_build"
    quick, tiny = "--quick" in args, "--tiny" in args
    report = args[args.index("--report") + 1] if "--report" in args else None

    if shutil.which("wrk") is None:
        print("wrk is not installed: no HTTP benchmark (apt-get install wrk)")
        return 77 if tiny else 0
    c_server = os.path.join(builddir, "examples", "http-service", "http-service")
    if not os.path.exists(c_server):
        print(f"{c_server} is not built (libsoup-3.0-dev, libsqlite3-dev): no HTTP benchmark")
        return 77 if tiny else 0

    rounds, seconds = (1, 1) if tiny else (3, 2) if quick else (8, 2)
    tmp = tempfile.mkdtemp(prefix="sa-bench-http-")
    script = os.path.join(tmp, "random.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT)
    db = os.path.join(tmp, "service.sqlite")
    lines, figures, targets = [], [], []

    def figure(name, value, unit):
        figures.append(f"figure {name} {value:.3f} {unit}")
        print(figures[-1], flush=True)

    def ratio(name, value):
        figures.append(f"ratio {name} {value:.3f}")
        print(figures[-1], flush=True)

    try:
        # --- C: four handlers, two endpoints, interleaved rounds ----------
        modes = [("sa", "smartasync, max-threads 4, + SaLock"),
                 ("nolock", "smartasync, max-threads 4"),
                 ("default", "smartasync, default dispatcher"),
                 ("gtask", "g_task_run_in_thread"), ("naive", "query on the loop thread")]
        endpoints = [("item", 100000, "light: /item/ID", 32), ("scan", 96, "heavy: /scan/CATEGORY", 8)]
        server = Server([c_server, "--db", db])
        samples = {(m, e): [] for m, _ in modes for e, *_ in endpoints}
        try:
            for r in range(rounds):
                order = modes[r % len(modes):] + modes[:r % len(modes)]
                for e, high, _, conns in endpoints:
                    for m, _ in order:
                        samples[(m, e)].append(wrk(server.url, "/" + m, e, high, seconds,
                                                   conns, script))
            c_stats = server.stats()
        finally:
            server.stop()

        rows = []
        for e, _, title, _ in endpoints:
            for m, name in modes:
                rps = summary(samples[(m, e)], "rps")
                p50 = summary(samples[(m, e)], "p50")
                p99 = summary(samples[(m, e)], "p99")
                errors = sum(s["errors"] for s in samples[(m, e)])
                rows.append((f"C {title}, {name}", rps, p50, p99, errors))
                figure(f"http-c-{e}-{m}-rps", rps[0], "req/s")
                figure(f"http-c-{e}-{m}-p99", p99[0], "ms")
        c_ratios = {}
        for e, *_ in endpoints:
            for m in ("nolock", "sa", "default"):
                c_ratios[(m, e)] = (summary(samples[(m, e)], "rps")[0]
                                    / summary(samples[("gtask", e)], "rps")[0])
                ratio(f"http-c-{e}-{m}-vs-gtask", c_ratios[(m, e)])
            ratio(f"http-c-{e}-naive-vs-gtask", summary(samples[("naive", e)], "rps")[0]
                  / summary(samples[("gtask", e)], "rps")[0])

        # --- stampede -----------------------------------------------------
        stampedes = {"sa": [], "nolock": []}
        server = Server([c_server, "--db", db])
        try:
            for r in range(max(rounds, 2)):
                for m in (("sa", "nolock") if r % 2 == 0 else ("nolock", "sa")):
                    before = server.stats()["queries"]
                    elapsed, ok, distinct = stampede(server.port, f"/{m}/scan/7")
                    queries = server.stats()["queries"] - before
                    stampedes[m].append({"time": elapsed * 1000, "queries": queries,
                                         "ok": ok, "distinct": distinct})
        finally:
            server.stop()
        for m in ("sa", "nolock"):
            t = summary(stampedes[m], "time")
            q = summary(stampedes[m], "queries")
            figure(f"http-stampede-{m}-queries", q[0], "queries")
            figure(f"http-stampede-{m}-time", t[0], "ms")
        ratio("http-stampede-nolock-vs-sa-time",
              summary(stampedes["nolock"], "time")[0] / summary(stampedes["sa"], "time")[0])

        # --- Python: @Sa.smartasync beside ThreadPoolExecutor -------------
        py_samples = {}
        py = "/usr/bin/python3"
        py_service = os.path.join(TOP, "examples", "http-service", "http_service.py")
        env = dict(os.environ,
                   GI_TYPELIB_PATH=os.path.join(os.path.abspath(builddir), "smartasync"),
                   LD_LIBRARY_PATH=os.path.join(os.path.abspath(builddir), "smartasync"),
                   PYTHONPATH=os.path.join(TOP, "bindings", "python"))
        py_modes = [("sa", "@Sa.smartasync"), ("tpe", "ThreadPoolExecutor + GLib.idle_add")]
        if os.path.exists(os.path.join(builddir, "smartasync", "Sa-1.typelib")):
            servers = {m: Server([py, py_service, "--db", db, "--executor", m], env=env)
                       for m, _ in py_modes}
            try:
                for m, _ in py_modes:
                    py_samples.update({(m, e): [] for e, *_ in endpoints})
                for r in range(rounds):
                    order = py_modes if r % 2 == 0 else py_modes[::-1]
                    for e, high, _, conns in endpoints:
                        for m, _ in order:
                            py_samples[(m, e)].append(wrk(servers[m].url, "", e, high, seconds,
                                                          min(conns, 16), script))
            finally:
                for s in servers.values():
                    s.stop()
            for e, _, title, _ in endpoints:
                for m, name in py_modes:
                    rps = summary(py_samples[(m, e)], "rps")
                    p50 = summary(py_samples[(m, e)], "p50")
                    p99 = summary(py_samples[(m, e)], "p99")
                    errors = sum(s["errors"] for s in py_samples[(m, e)])
                    rows.append((f"Python {title}, {name}", rps, p50, p99, errors))
                    figure(f"http-py-{e}-{m}-rps", rps[0], "req/s")
                ratio(f"http-py-{e}-sa-vs-tpe", summary(py_samples[("sa", e)], "rps")[0]
                      / summary(py_samples[("tpe", e)], "rps")[0])
        else:
            print("no typelib: the Python servers are not measured")

        # --- table and targets ---------------------------------------------
        head = "| server, endpoint, handler | req/s median | min | max | p50 ms | p99 ms (min-max) | errors |"
        lines += [head, "|---|---:|---:|---:|---:|---:|---:|"]
        for name, rps, p50, p99, errors in rows:
            lines.append(f"| {name} | {rps[0]:.0f} | {rps[1]:.0f} | {rps[2]:.0f} | {p50[0]:.2f} | "
                         f"{p99[0]:.2f} ({p99[1]:.2f}-{p99[2]:.2f}) | {errors} |")
        lines += ["", "| stampede: 100 identical /scan/7 at once | queries (per stampede) | total ms median | min | max | 200 OK | distinct bodies |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for m, name in (("sa", "with SaLock"), ("nolock", "without")):
            q = [s["queries"] for s in stampedes[m]]
            t = summary(stampedes[m], "time")
            lines.append(f"| {name} | {', '.join(map(str, q))} | {t[0]:.1f} | {t[1]:.1f} | {t[2]:.1f} | "
                         f"{min(s['ok'] for s in stampedes[m])} | {max(s['distinct'] for s in stampedes[m])} |")

        for e, _, title, _ in endpoints:
            for m, how in (("default", "default dispatcher"), ("nolock", "max-threads 4")):
                sa_rps, gt_rps = summary(samples[(m, e)], "rps"), summary(samples[("gtask", e)], "rps")
                sa_p99, gt_p99 = summary(samples[(m, e)], "p99"), summary(samples[("gtask", e)], "p99")
                met = c_ratios[(m, e)] >= 1.0
                within = not met and sa_rps[2] >= gt_rps[0]
                targets.append((f"C {title}: smartasync ({how}) vs g_task_run_in_thread, req/s",
                                f"{c_ratios[(m, e)]:.3f}", ">= 1.0",
                                "yes" if met else "within the spread" if within else "**no**"))
                p99_met = ("yes" if sa_p99[0] <= gt_p99[0] else
                           "within the spread" if sa_p99[0] <= gt_p99[2] else "**no**")
                targets.append((f"C {title}: p99, smartasync ({how}) vs g_task_run_in_thread",
                                f"{sa_p99[0]:.2f} vs {gt_p99[0]:.2f} ms "
                                f"(g_task_run_in_thread's rounds: {gt_p99[1]:.2f}-{gt_p99[2]:.2f})",
                                "no worse, or within the spread", p99_met))
        sa_queries = max(s["queries"] for s in stampedes["sa"])
        targets.append(("stampede with SaLock: queries run", str(sa_queries), "1",
                        "yes" if sa_queries == 1 else "**no**"))
        for e, _, title, _ in endpoints:
            if ("sa", e) in py_samples:
                r = summary(py_samples[("sa", e)], "rps")[0] / summary(py_samples[("tpe", e)], "rps")[0]
                targets.append((f"Python {title}: @Sa.smartasync vs ThreadPoolExecutor, req/s",
                                f"{r:.3f}", ">= 1.0", "yes" if r >= 1.0 else "**no**"))
        lines += ["", "| target | measured | wanted | met |", "|---|---|---|---|"]
        lines += [f"| {t} | {m} | {w} | {ok} |" for t, m, w, ok in targets]

        def rps(m, e):
            return summary(samples[(m, e)], "rps")[0]
        lines += ["", "Reading: on the light endpoint the query on the loop thread gives "
                  f"{rps('naive', 'item') / rps('gtask', 'item'):.2f} of g_task_run_in_thread's "
                  "requests/s (a primary-key lookup costs about what the hop to a worker "
                  "costs), on the heavy one "
                  f"{rps('naive', 'scan') / rps('gtask', 'scan'):.2f}, every request waiting "
                  "behind the scans on the loop. SaLock with random keys, where requests "
                  "seldom coincide, gives "
                  f"{rps('sa', 'item') / rps('nolock', 'item'):.2f} (light) and "
                  f"{rps('sa', 'scan') / rps('nolock', 'scan'):.2f} (heavy) of the same "
                  "handler without it; in the stampede it runs "
                  f"{max(s['queries'] for s in stampedes['sa'])} query where 100 run without it, "
                  f"in {summary(stampedes['sa'], 'time')[0]:.1f} ms against "
                  f"{summary(stampedes['nolock'], 'time')[0]:.1f} ms."]
        print("\n".join(lines))
        print(f"C server: {c_stats}")

        if report:
            write_report(report, lines, rounds, seconds, " ".join(sys.argv[1:]))
            print(f"written: section of {report}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def write_report(path, lines, rounds, seconds, argv):
    section = [BEGIN, "", "## The HTTP service under load", "",
               "`bench/bench_http.py` (run by `bench/run`) loads `examples/http-service` with",
               f"`wrk` on loopback: {rounds} rounds of {seconds} s per case, 32 connections",
               "on the light endpoint and 8 on the heavy one (16 and 8 for the Python",
               "servers), random IDs and categories, the",
               "cases of a round in an order rotated every round. Figures are the medians",
               "of the rounds. \"smartasync, max-threads 4\" is the handler through",
               "`sa_dispatcher_call()` on the service's own dispatcher, whose pool has 4",
               "threads (a database gets as many threads as it should run queries at",
               "once); \"+ SaLock\" the same through `sa_lock_call()` keyed by the query",
               "(identical requests in flight share one); \"default dispatcher\" the",
               "handler on `sa_dispatcher_get_default()`, on smartasync's own pool;",
               "\"g_task_run_in_thread\" the same body offloaded by hand, on GTask's",
               "shared pool, which grows while its threads are busy; \"query on the loop",
               "thread\" the naive handler, which answers on the loop as it goes.",
               "The stampede sends 100 identical heavy requests back to back on",
               "connections opened beforehand.", "",
               f"- command: `bench/bench_http.py {argv}`", ""] + lines + ["", END]
    text = open(path).read() if os.path.exists(path) else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + "\n".join(section) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
