#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reads the output of bench.c and bench_python.py (one run), adds the
ratios against Python, checks each ratio against its target and writes
docs/performance.md. Prints the added lines to stdout."""

import platform
import re
import subprocess
import sys

output_path, command, doc_path = sys.argv[1:4]
text = open(output_path, encoding="utf-8").read()

figures = {m.group(1): float(m.group(2)) for m in re.finditer(r"^figure (\S+) (\S+)", text, re.M)}
ratios = {m.group(1): float(m.group(2)) for m in re.finditer(r"^ratio (\S+) (\S+)", text, re.M)}

sync_us = figures.get("2-sync-caller--non-blocking--sa_dispatcher_call")
offload_us = figures.get("4-async-caller--blocking--round-trip")
extra = []
if sync_us and "py-asyncio-run" in figures:
    ratios["py-asyncio-run-vs-sync"] = figures["py-asyncio-run"] / sync_us
    ratios["py-persistent-loop-vs-sync"] = figures["py-persistent-loop"] / sync_us
    extra += ["ratio py-asyncio-run-vs-sync %.3f" % ratios["py-asyncio-run-vs-sync"],
              "ratio py-persistent-loop-vs-sync %.3f" % ratios["py-persistent-loop-vs-sync"]]
if offload_us and "py-to-thread" in figures:
    ratios["py-to-thread-vs-offload"] = figures["py-to-thread"] / offload_us
    extra.append("ratio py-to-thread-vs-offload %.3f" % ratios["py-to-thread-vs-offload"])

nested_ok = all(figures.get("nested-sa-n%d" % n, 1e9) < 100 for n in (5, 10, 20, 30))
targets = [
    ("detection per call", "figure 1-detection--sa_caller_is_async", figures.get("1-detection--sa_caller_is_async"), "<= 50 ns", lambda v: v <= 50),
    ("case 2 vs reused private context", "ratio sync-vs-reused-context", ratios.get("sync-vs-reused-context"), "<= 1.2", lambda v: v <= 1.2),
    ("case 2: new context per call is slower by", "ratio new-context-vs-sync", ratios.get("new-context-vs-sync"), ">= 1.5", lambda v: v >= 1.5),
    ("case 3 vs raw GTask", "ratio async-nb-vs-raw-gtask", ratios.get("async-nb-vs-raw-gtask"), "<= 1.1", lambda v: v <= 1.1),
    ("case 4 vs raw g_task_run_in_thread", "ratio async-b-vs-raw-run-in-thread", ratios.get("async-b-vs-raw-run-in-thread"), "<= 1.1", lambda v: v <= 1.1),
    ("case 5 throughput vs raw burst", "ratio burst-throughput-vs-raw", ratios.get("burst-throughput-vs-raw"), ">= 1.0", lambda v: v >= 1.0),
    ("case 5 bytes per call vs raw burst", "ratio burst-bytes-vs-raw", ratios.get("burst-bytes-vs-raw"), "<= 1.1", lambda v: v <= 1.1),
    ("case 6 executions", "figure lock-executions", figures.get("lock-executions"), "== 1", lambda v: v == 1),
    ("case 6 time per waiter", "figure 6-salock--time-per-waiter", figures.get("6-salock--time-per-waiter"), "<= 1 us", lambda v: v <= 1),
    ("case 6 bytes per waiter", "figure 6-salock--heap-bytes-per-waiter", figures.get("6-salock--heap-bytes-per-waiter"), "<= 200 B", lambda v: v <= 200),
    ("case 6 time vs hand-written singleflight", "ratio lock-time-vs-singleflight", ratios.get("lock-time-vs-singleflight"), "<= 1.0", lambda v: v <= 1.0),
    ("case 7: no 100 ms stall at any N", "figure nested-sa-n*", max(figures.get("nested-sa-n%d" % n, 0) for n in (5, 10, 20, 30)), "< 100 ms", lambda v: nested_ok),
    ("asyncio.run() slower than case 2 by", "ratio py-asyncio-run-vs-sync", ratios.get("py-asyncio-run-vs-sync"), ">= 50", lambda v: v >= 50),
    ("a persistent loop slower than case 2 by", "ratio py-persistent-loop-vs-sync", ratios.get("py-persistent-loop-vs-sync"), ">= 5", lambda v: v >= 5),
    ("asyncio.to_thread() slower than case 4 by", "ratio py-to-thread-vs-offload", ratios.get("py-to-thread-vs-offload"), ">= 2.5", lambda v: v >= 2.5),
    ("Python: decorated plain function from a script vs the seed's wrapper", "ratio script-blocking", ratios.get("script-blocking"), "<= 2.0", lambda v: v <= 2.0),
    ("Python: async def from a script vs a kept loop's run_until_complete()", "ratio script-coroutine", ratios.get("script-coroutine"), "<= 1.0", lambda v: v <= 1.0),
    ("Python: offload from asyncio vs asyncio.to_thread(), one by one", "ratio asyncio-offload", ratios.get("asyncio-offload"), "<= 0.67", lambda v: v <= 0.67),
    ("Python: offload from asyncio vs asyncio.to_thread(), gather of 100", "ratio asyncio-offload-gather", ratios.get("asyncio-offload-gather"), "<= 0.67", lambda v: v <= 0.67),
    ("Python: offload from a GLib loop vs ThreadPoolExecutor + GLib.idle_add()", "ratio glib-offload", ratios.get("glib-offload"), "<= 1.0", lambda v: v <= 1.0),
]

lines = ["| target | measured | wanted | met |", "|---|---|---|---|"]
for title, key, value, wanted, check in targets:
    if value is None:
        lines.append("| %s | not measured | %s | - |" % (title, wanted))
    else:
        lines.append("| %s (`%s`) | %.3f | %s | %s |" % (title, key, value, wanted, "yes" if check(value) else "**no**"))

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"

cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
machine = [
    "- command: `%s`" % command,
    "- nproc: %s; CPU: %s" % (sh("nproc"), cpu or "?"),
    "- CPU time taken by the host for others during the run (steal): %s%%"
    % ("%.1f" % figures["steal-percent"] if "steal-percent" in figures else "?"),
    "- GLib %s, %s %s, Python %s" % (sh("pkg-config --modversion glib-2.0"), platform.system(),
                                    platform.release(), sh("/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])'")),
]
# Two tables: the timed one (bench.c's header, then bench_python.py's rows
# under it) and, when bench/profile ran, the instruction counts.
timed, counted = [], []
for line in text.splitlines():
    if line.startswith("| case") and "smartasync" in line:
        current = counted
    elif line.startswith("| case"):
        current = timed
    if line.startswith("|"):
        current.append(line)
tables = "\n".join(timed)
if counted:
    tables += """

Instructions per call, counted by callgrind (`bench/profile`): each case
runs at two sizes and the difference is divided by the difference in
calls. The machine's noise cannot reach these figures; waits, cache misses
and contention, which the timed table holds, do not show in them.

""" + "\n".join(counted)
with open(doc_path, "w", encoding="utf-8") as doc:
    doc.write("""Title: Performance
Slug: performance

# Performance

smartasync beside the raw GLib patterns it replaces and the Python
mechanisms of the original library, measured in one run on one machine.
Each line is the median of the rounds, with their min and max; the rounds
of compared cases are interleaved, in slices, so that the drift of a
shared machine hits them alike. Ratios are computed from figures of the
same run. The baselines are written out in `bench/bench.c` and
`bench/bench_python.py`. The async-caller cases (3 to 7) call from a
callback of the default context's loop, where an application's calls are
made; cases 3 and 5 are also timed from a thread that acquired the
context outside any callback, where the detection has to ask the context.

%s

## Tables

%s

## Targets

%s

## Reading the figures

Cases 3 and 5 stand beside a bare `GTask` doing the same work with nothing
around it, and the library's call is that `GTask` plus what it decides
and carries: the caller's detection, the dispatcher's entry and counters,
the operation carried to the worker and its virtual function. The
instruction table gives the size of that addition. An offload of the
default dispatcher runs on the same GTask thread pool as its baseline, so
its burst throughput can come close to the raw burst's but not pass it; a
dispatcher with `max-threads` set runs on a pool of its own (the "max-threads
4" rows). The timed ratios of these cases move by several percent from run
to run on a shared machine; the instruction counts do not move.
""" % ("\n".join(machine), tables, "\n".join(lines)))

for line in extra:
    print(line)
print()
print("\n".join(lines))
