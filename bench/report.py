#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reads the output of bench.c and bench_python.py (one run), adds the
ratios against Python, checks each ratio against its target, draws the
charts (with matplotlib, when it is there) and writes docs/performance.md.
Prints the added lines to stdout."""

import os
import platform
import re
import subprocess
import sys

output_path, command, doc_path = sys.argv[1:4]
text = open(output_path, encoding="utf-8").read()
doc_dir = os.path.dirname(doc_path) or "."
bench_source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench.c")

figures = {m.group(1): float(m.group(2)) for m in re.finditer(r"^figure (\S+) (\S+)", text, re.M)}
ratios = {m.group(1): float(m.group(2)) for m in re.finditer(r"^ratio (\S+) (\S+)", text, re.M)}
# The timed table's rows, by title: (median, min, max, unit).
rows = {}
for m in re.finditer(r"^\| (.+?) +\| +([-\d.]+) \| +([-\d.]+) \| +([-\d.]+) \| (\S+) +\|$", text, re.M):
    rows[m.group(1)] = tuple(float(m.group(i)) for i in (2, 3, 4)) + (m.group(5),)
have_libdex = "4 libdex fiber on its thread pool" in rows

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


# Lines of code of each way of case 9: the lines between its loc markers
# in bench.c, blank lines and comments left out.
def lines_of_code(name):
    try:
        source = open(bench_source, encoding="utf-8").read()
    except OSError:
        return None
    m = re.search(r"/\* loc %s \{ \*/\n(.*?)/\* loc %s \} \*/" % (re.escape(name), re.escape(name)), source, re.S)
    if not m:
        return None
    return sum(1 for line in m.group(1).splitlines()
               if line.strip() and not line.strip().startswith(("/*", "*")))


for way in ("sa", "dex"):
    loc = lines_of_code("two-step-" + way)
    if loc is not None:
        figures["loc-two-step-" + way] = loc
        extra.append("figure loc-two-step-%s %d lines" % (way, loc))

# Case 7: the worst round of every smartasync row, at every N, is the stall.
nested_sa = [k for k in figures if re.match(r"nested-(b|gio)-(default|pool)-n\d+-worst$", k)]
nested_worst = max((figures[k] for k in nested_sa), default=None)
nested_worst_key = max(nested_sa, key=lambda k: figures[k]) if nested_sa else None
if nested_worst is not None:
    extra.append("figure nested-sa-worst %.3f ms (%s)" % (nested_worst, nested_worst_key))

# A round trip's fastest round, and the processor time that spinning
# spends beside the wake-ups it saves.
round_trip_floor = ""
rt_rows = [("the default dispatcher", "4 async caller, blocking, round trip"),
           ("`max-threads` 4", "4 the same, max-threads 4"),
           ("`g_task_run_in_thread()`", "4 raw g_task_run_in_thread + callback")]
cpu_rows = [("the default dispatcher", "4 processor time per round trip, all threads"),
            ("`g_task_run_in_thread()`", "4 the same, raw g_task_run_in_thread")]
if all(title in rows for _, title in rt_rows):
    raw_min = rows[rt_rows[2][1]][1]
    round_trip_floor = (
        "\n\nA round trip of a short body on smartasync's pool is two thread\n"
        "wake-ups, the pool thread's for the call and the caller's for the\n"
        "reply, and nothing spins unless `busy-wait` is set (see\n"
        "[threading](threading.md)); `g_task_run_in_thread()` takes four to\n"
        "six, which on this machine (two virtual processors, cpuidle\n"
        "`haltpoll` with guest polling off) the host may take tens of\n"
        "microseconds each to do. The fastest round of each: %s." % "; ".join(
            "%s %.2f us%s" % (name, rows[title][1],
                              "" if title == rt_rows[2][1] else " (%.2fx faster than `g_task_run_in_thread()`)"
                              % (raw_min / rows[title][1]))
            for name, title in rt_rows))
    if all(title in rows for _, title in cpu_rows):
        round_trip_floor += (
            " Processor time per round trip, every thread of the process,\n"
            "user and system, median of the rounds: %s." % "; ".join(
                "%s %.2f us" % (name, rows[title][0]) for name, title in cpu_rows))

# Case 6: what a waiter costs beside the hand-written singleflight's.
lock_reading = ""
lock_rows = {"sa": "6 SaLock: time per waiter",
             "gio": "6 SaLock, sa_lock_call_async(): time per waiter",
             "sf": "6 hand-written singleflight: time per waiter",
             "sa_mem": "6 SaLock: heap bytes per waiter",
             "sf_mem": "6 hand-written singleflight: heap bytes per waiter",
             "chain_mem": "6 chained singleflight: heap bytes per waiter"}
if all(title in rows for title in lock_rows.values()):
    m = {k: rows[title][0] for k, title in lock_rows.items()}
    lock_reading = (
        "\n\nCase 6 gives each waiter a `GTask`, as the hand-written singleflight\n"
        "does, and a `GTask` takes 192 B: the chained singleflight, which keeps\n"
        "nothing else per waiter, measures %.1f B. A list of the waiters' own\n"
        "holds a pointer for each, 8 B at least, so SaLock measures %.1f B and the\n"
        "hand-written singleflight %.1f B. A SaLock waiter also does what the\n"
        "hand-written one does not: `sa_lock_call()` detects its caller, the lock\n"
        "is the task's source object (a reference, and its release when the task\n"
        "is freed), the caller gets a reference of its own beside the one the\n"
        "lock keeps, the task is tagged for its finish functions, and the waiters\n"
        "share one outcome. The hand-written waiter looks its key up in a hash\n"
        "table, which SaLock skips for a run of one key. Time per waiter: SaLock\n"
        "%.3f us (%.2fx), `sa_lock_call_async()`, which returns no task and\n"
        "detects nothing, %.3f us (%.2fx), the hand-written singleflight %.3f us."
        % (m["chain_mem"], m["sa_mem"], m["sf_mem"], m["sa"], m["sa"] / m["sf"],
           m["gio"], m["gio"] / m["sf"], m["sf"]))

T = []


def target(title, key, value, wanted, check):
    T.append((title, key, value, wanted, check))


target("detection per call", "figure 1-detection--sa_caller_is_async", figures.get("1-detection--sa_caller_is_async"), "<= 50 ns", lambda v: v <= 50)
target("case 2 vs a reused context returned in dispatch (fair)", "ratio sync-vs-dispatched-context", ratios.get("sync-vs-dispatched-context"), "<= 1.2", lambda v: v <= 1.2)
target("case 2 vs reused private context", "ratio sync-vs-reused-context", ratios.get("sync-vs-reused-context"), "<= 1.2", lambda v: v <= 1.2)
target("case 2: new context per call is slower by", "ratio new-context-vs-sync", ratios.get("new-context-vs-sync"), ">= 1.5", lambda v: v >= 1.5)
target("case 3 vs raw GTask", "ratio async-nb-vs-raw-gtask", ratios.get("async-nb-vs-raw-gtask"), "<= 1.1", lambda v: v <= 1.1)
target("case 4 default vs raw g_task_run_in_thread (time)", "ratio async-b-vs-raw-run-in-thread", ratios.get("async-b-vs-raw-run-in-thread"), "<= 1.1", lambda v: v <= 1.1)
target("case 4 round trip, max-threads 4: faster than g_task_run_in_thread by", "ratio rt-speedup-pool-vs-gtask", ratios.get("rt-speedup-pool-vs-gtask"), ">= 1.4", lambda v: v >= 1.4)
target("case 4 round trip, default: faster than g_task_run_in_thread by", "ratio rt-speedup-default-vs-gtask", ratios.get("rt-speedup-default-vs-gtask"), ">= 1.4", lambda v: v >= 1.4)
target("case 4 round trip, default vs the same dispatcher on GTask's pool (gtask-pool): faster by", "ratio rt-speedup-default-vs-gtask-pool", ratios.get("rt-speedup-default-vs-gtask-pool"), ">= 1.0", lambda v: v >= 1.0)
target("case 5 burst, max-threads 4, throughput vs raw GTask", "ratio burst-max-threads-4-vs-raw", ratios.get("burst-max-threads-4-vs-raw"), ">= 1.0", lambda v: v >= 1.0)
target("case 5 burst, max-threads 4, moonshot", "ratio burst-max-threads-4-vs-raw", ratios.get("burst-max-threads-4-vs-raw"), ">= 2.0", lambda v: v >= 2.0)
target("case 5 burst, max-threads 4, throughput vs libdex fibers", "ratio burst-max-threads-4-vs-libdex", ratios.get("burst-max-threads-4-vs-libdex"), ">= 1.0", lambda v: v >= 1.0)
target("case 5 burst, max-threads 4, throughput vs libdex work items", "ratio burst-max-threads-4-vs-libdex-push", ratios.get("burst-max-threads-4-vs-libdex-push"), ">= 1.0", lambda v: v >= 1.0)
target("case 5 burst, max-threads 4, bytes per call vs raw GTask", "ratio burst-pool-bytes-vs-raw", ratios.get("burst-pool-bytes-vs-raw"), "<= 1.1", lambda v: v <= 1.1)
target("case 5 burst, default, throughput vs raw GTask", "ratio burst-throughput-vs-raw", ratios.get("burst-throughput-vs-raw"), ">= 1.0", lambda v: v >= 1.0)
target("case 5 burst, default, throughput vs libdex fibers", "ratio burst-throughput-vs-libdex", ratios.get("burst-throughput-vs-libdex"), ">= 1.0", lambda v: v >= 1.0)
target("case 5 burst, default vs the same dispatcher on GTask's pool (gtask-pool)", "ratio burst-default-vs-gtask-pool", ratios.get("burst-default-vs-gtask-pool"), ">= 1.0", lambda v: v >= 1.0)
target("case 5 burst, default, bytes per call vs raw GTask", "ratio burst-bytes-vs-raw", ratios.get("burst-bytes-vs-raw"), "<= 1.1", lambda v: v <= 1.1)
target("case 6 executions", "figure lock-executions", figures.get("lock-executions"), "== 1", lambda v: v == 1)
target("case 6 time per waiter", "figure 6-salock--time-per-waiter", figures.get("6-salock--time-per-waiter"), "<= 1 us", lambda v: v <= 1)
target("case 6 bytes per waiter", "figure 6-salock--heap-bytes-per-waiter", figures.get("6-salock--heap-bytes-per-waiter"), "<= 200 B", lambda v: v <= 200)
target("case 6 time vs hand-written singleflight", "ratio lock-time-vs-singleflight", ratios.get("lock-time-vs-singleflight"), "<= 1.0", lambda v: v <= 1.0)
for body in ("0us", "busy20us", "sleep200us"):
    for n in (1, 8):
        key = "matrix-%s-%d-cpu-sa-vs-gtask" % (body, n)
        target("case 12, %s body, %d in flight: processor time per call vs g_task_run_in_thread" % (body, n),
               "ratio " + key, ratios.get(key), "<= 1.0", lambda v: v <= 1.0)
target("case 7: worst batch of any smartasync row, any N (no stall)", "figure nested-*-worst", nested_worst, "< 100 ms", lambda v: v < 100)
target("asyncio.run() slower than case 2 by", "ratio py-asyncio-run-vs-sync", ratios.get("py-asyncio-run-vs-sync"), ">= 50", lambda v: v >= 50)
target("a persistent loop slower than case 2 by", "ratio py-persistent-loop-vs-sync", ratios.get("py-persistent-loop-vs-sync"), ">= 5", lambda v: v >= 5)
target("asyncio.to_thread() slower than case 4 by", "ratio py-to-thread-vs-offload", ratios.get("py-to-thread-vs-offload"), ">= 2.5", lambda v: v >= 2.5)
target("Python: decorated plain function from a script vs the seed's wrapper", "ratio script-blocking", ratios.get("script-blocking"), "<= 2.0", lambda v: v <= 2.0)
target("Python: async def from a script vs a kept loop's run_until_complete()", "ratio script-coroutine", ratios.get("script-coroutine"), "<= 1.0", lambda v: v <= 1.0)
target("Python: offload from asyncio vs asyncio.to_thread(), one by one", "ratio asyncio-offload", ratios.get("asyncio-offload"), "<= 0.67", lambda v: v <= 0.67)
target("Python: offload from asyncio vs asyncio.to_thread(), gather of 100", "ratio asyncio-offload-gather", ratios.get("asyncio-offload-gather"), "<= 0.67", lambda v: v <= 0.67)
target("Python: offload from a GLib loop vs ThreadPoolExecutor + GLib.idle_add()", "ratio glib-offload", ratios.get("glib-offload"), "<= 1.0", lambda v: v <= 1.0)

lines = ["| target | measured | wanted | met |", "|---|---|---|---|"]
for title, key, value, wanted, check in T:
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
load_average = re.search(r"^load-average (\S+ \S+ \S+)", text, re.M)
machine = [
    "- command: `%s`" % command,
    "- nproc: %s; CPU: %s" % (sh("nproc"), cpu or "?"),
    "- CPU time taken by the host for others during the run (steal): %s%%"
    % ("%.1f" % figures["steal-percent"] if "steal-percent" in figures else "?"),
    "- load average (1, 5, 15 min) of the machine as the timed part ended, other"
    " work included: %s" % (load_average.group(1) if load_average else "?"),
    "- GLib %s, %s %s, Python %s" % (sh("pkg-config --modversion glib-2.0"), platform.system(),
                                    platform.release(), sh("/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])'")),
    "- libdex: %s" % ("1.0.0, built by `bench/run` (see below)" if have_libdex
                      else "not built (its source was not beside the checkout): its rows are left out"),
]

# Two tables: the timed one (bench.c's header, then bench_python.py's rows
# under it) and, when bench/profile ran, the instruction counts.
timed, counted = [], []
current = timed
for line in text.splitlines():
    header = re.match(r"\| case +\|", line)
    if header and "smartasync" in line:
        current = counted
    elif header:
        current = timed
    elif line.startswith("| target"):
        current = []   # a report's own table, in the output of an earlier one
    if line.startswith("|"):
        current.append(line)
tables = "\n".join(timed)
if counted:
    tables += """

Instructions per call, counted by callgrind (`bench/profile`): each case
runs at two sizes and the difference is divided by the difference in
calls. Every thread counts, the pools' own included. The machine's noise
cannot reach these figures; waits, cache misses and contention, which the
timed table holds, do not show in them.

""" + "\n".join(counted)


# --- charts ----------------------------------------------------------------

def median_of(title):
    row = rows.get(title)
    return row[0] if row else None


def bar_chart(path, title, unit, bars, log=False):
    """bars: (label, value, colour key); the SVG's file name, or None."""
    bars = [b for b in bars if b[1] is not None]
    if not bars:
        return None
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "smartasync"   # the same figures, the same file
    import matplotlib.pyplot as plt

    colours = {"sa": "#3584e4", "raw": "#9a9996", "dex": "#e66100", "py": "#2ec27e"}
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(bars) + 1.2))
    labels = [b[0] for b in bars][::-1]
    values = [b[1] for b in bars][::-1]
    ax.barh(labels, values, color=[colours[b[2]] for b in bars][::-1])
    for y, v in enumerate(values):
        ax.text(v, y, " %s" % (("%.0f" % v) if v >= 100 else ("%.2f" % v)), va="center", fontsize=8)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(unit)
    ax.set_title(title, fontsize=10)
    ax.margins(x=0.15)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(os.path.join(doc_dir, path), format="svg", metadata={"Date": None})
    plt.close(fig)
    return path


charts = []
try:
    import matplotlib  # noqa: F401
    have_matplotlib = True
except ImportError:
    have_matplotlib = False

if have_matplotlib:
    c = bar_chart("perf-round-trip.svg", "Round trip of a blocking call from a loop (median, lower is better)", "us", [
        ("g_task_run_in_thread()", median_of("4 raw g_task_run_in_thread + callback"), "raw"),
        ("smartasync, default dispatcher", median_of("4 async caller, blocking, round trip"), "sa"),
        ("smartasync, max-threads 4", median_of("4 the same, max-threads 4"), "sa"),
        ("smartasync, gtask-pool", median_of("4 the same, gtask-pool (g_task_run_in_thread)"), "raw"),
        ("smartasync's pool alone", median_of("4 SaPool alone (elastic), GTask pushed to it"), "sa"),
        ("libdex fiber on its thread pool", median_of("4 libdex fiber on its thread pool"), "dex"),
        ("libdex work item + promise", median_of("4 libdex work item resolving a promise"), "dex"),
    ])
    if c:
        charts.append(("Round trip", c))
    c = bar_chart("perf-burst.svg", "A burst of blocking offloads (median, higher is better)",
                  "offloads per second", [
        ("g_task_run_in_thread()", median_of("5 raw GTask burst: per second"), "raw"),
        ("smartasync, default dispatcher", median_of("5 burst: offloads per second"), "sa"),
        ("smartasync, max-threads 4", median_of("5 burst, max-threads 4: per second"), "sa"),
        ("smartasync, gtask-pool", median_of("5 burst, gtask-pool: per second"), "raw"),
        ("smartasync's pool alone", median_of("5 burst, SaPool alone (elastic): per second"), "sa"),
        ("libdex fibers", median_of("5 libdex fibers burst: per second"), "dex"),
        ("libdex work items + promises", median_of("5 libdex work items burst: per second"), "dex"),
    ])
    if c:
        charts.append(("Burst", c))
    # The binding's paths in green, the stdlib mechanisms they stand beside
    # in grey.
    py = [(re.sub(r"^Python:? ", "", title), row[0], "py" if re.search(r"\bSa\b", title) else "raw")
          for title, row in rows.items() if title.startswith("Python")]
    if py:
        c_rows = [
            ("C: case 2, sync call, non-blocking", median_of("2 sync caller, non-blocking: sa_dispatcher_call"), "sa"),
            ("C: case 4, offload round trip", median_of("4 async caller, blocking, round trip"), "sa"),
        ]
        c = bar_chart("perf-python.svg", "Python paths and their baselines (median, lower is better)",
                      "us (log scale)", c_rows + py, log=True)
        if c:
            charts.append(("Python", c))

if charts:
    chart_md = "\n\n".join("![%s](%s)" % (name, path) for name, path in charts)
elif have_matplotlib:
    chart_md = "(no figures to draw in this run)"
else:
    chart_md = "(python3-matplotlib is not installed: no charts in this run, the tables below have every figure)"


# --- the libdex section ----------------------------------------------------

def pair(job, sa_title, dex_title, unit, higher_is_better=False, how=""):
    sa, dex = median_of(sa_title), median_of(dex_title)
    if sa is None or dex is None:
        return None
    if higher_is_better:
        ahead = "smartasync" if sa >= dex else "libdex"
        factor = max(sa, dex) / min(sa, dex)
    else:
        ahead = "smartasync" if sa <= dex else "libdex"
        factor = max(sa, dex) / min(sa, dex)
    fmt = "%.0f" if max(sa, dex) >= 1000 else "%.2f"
    return "| %s | %s %s | %s %s | %s, %.2fx | %s |" % (job, fmt % sa, unit, fmt % dex, unit, ahead, factor, how)


libdex_rows = [r for r in [
    pair("round trip of a blocking function from a loop", "4 the same, max-threads 4", "4 libdex fiber on its thread pool", "us",
         how="`sa_dispatcher_call()` of a blocking operation with `max-threads` 4, from a loop callback; a fiber spawned on `dex_thread_pool_scheduler_get_default()` with a `dex_future_finally()` block on the loop's thread (libdex's main scheduler)"),
    pair("the same, smartasync's default dispatcher", "4 async caller, blocking, round trip", "4 libdex fiber on its thread pool", "us",
         how="the default dispatcher as built in this run"),
    pair("the same, libdex's lightest way", "4 the same, max-threads 4", "4 libdex work item resolving a promise", "us",
         how="`dex_scheduler_push()` of a work item that resolves a `DexPromise` awaited by a block on the loop"),
    pair("burst of offloads: throughput", "5 burst, max-threads 4: per second", "5 libdex fibers burst: per second", "ops/s", True,
         how="all queued from one loop callback, then the loop iterated until every callback ran"),
    pair("burst: throughput, libdex work items", "5 burst, max-threads 4: per second", "5 libdex work items burst: per second", "ops/s", True,
         how="the same with `dex_scheduler_push()` and promises"),
    pair("burst: heap bytes per queued call", "5 burst, max-threads 4: heap bytes per queued call", "5 libdex fibers burst: heap bytes per queued call", "B",
         how="`mallinfo2()` with every call queued behind a closed gate; a queued fiber has no stack yet (it takes a pooled `mmap()` stack when it runs, outside the heap)"),
    pair("a plain thread waiting for a result", "8 plain thread: sync call, non-blocking operation", "8 plain thread: libdex dex_thread_wait_for", "us",
         how="smartasync runs the operation on the thread's private context; libdex runs a fiber on its pool and `dex_thread_wait_for()` blocks the thread"),
    pair("two GIO steps: load a file, query its info", "9 two GIO steps: smartasync non-blocking operation", "9 two GIO steps: libdex fiber", "us",
         how="both from a loop callback, on the loop's thread: a non-blocking operation chaining two GIO callbacks; a fiber awaiting `dex_file_load_contents_bytes()` then `dex_file_query_info()`"),
    pair("nested blocking work, N = 60", "7 blocking in blocking, max-threads 4, N=60", "7 libdex fiber awaiting a nested fiber, N=60", "ms",
         how="60 blocking bodies at once, each doing 1 ms of nested blocking work: smartasync calls it inline (a sync caller on the worker); a libdex fiber spawns a nested fiber on the pool and awaits it"),
] if r]

loc_sa, loc_dex = figures.get("loc-two-step-sa"), figures.get("loc-two-step-dex")


def faster(sa_title, dex_title):
    sa, dex = median_of(sa_title), median_of(dex_title)
    return sa is not None and dex is not None and dex < sa


ahead_notes = ["""- **Lines of code.** A fiber awaits each step where it stands, so the two
  GIO steps read as straight-line code; a smartasync operation written
  with GIO callbacks chains one callback per step. What smartasync gives
  for those lines is that the one operation serves every caller (a
  command-line tool, a loop, a worker, Python, JavaScript) unchanged."""]
if (faster("4 the same, max-threads 4", "4 libdex fiber on its thread pool") or
        faster("4 async caller, blocking, round trip", "4 libdex fiber on its thread pool")):
    instr = ""
    if "instr-rt-sa" in figures and "instr-rt-dex" in figures:
        instr = ("Per call the two cost about as\n"
                 "  many instructions (%d and %d; `bench/profile`, every thread\n"
                 "  counted), so the difference is in the two thread wake-ups of a round\n"
                 "  trip, " % (figures["instr-rt-sa"], figures["instr-rt-dex"]))
    else:
        instr = "A round trip is two thread wake-ups, "
    ahead_notes.append("""- **The round trip, in this run.** %swhose cost depends on where the
  scheduler puts the threads: libdex's worker sleeps in its own main
  context and is woken through it; a smartasync pool thread sleeps on a
  condition variable of its own, and the last to go idle is woken
  first.""" % instr)
if faster("9 two GIO steps: smartasync non-blocking operation", "9 two GIO steps: libdex fiber"):
    ahead_notes.append("""- **The two GIO steps, in this run**: the fiber's steps complete on the
  loop's thread without a task per step.""")
ahead_notes.append("""
Where smartasync is ahead: the burst (libdex allocates a fiber, a block
and a future per call, several times the bytes, and runs them on its
workers, one here), a plain thread that waits (smartasync runs the
operation on the thread itself; libdex hops to its pool and back), and
nested blocking work (a libdex fiber that blocks holds its worker;
smartasync calls nested blocking work inline, and lets one more thread run
while a body waits).""")
if libdex_rows:
    libdex_section = """## libdex beside smartasync

libdex 1.0.0 is built by `bench/run` from its release source
(`../shared/third-party/libdex-1.0.0.tar.xz`, beside the checkout) into a
private prefix under the build directory:

```sh
meson setup BUILD/libdex-1.0.0/build SRC --prefix=BUILD/libdex-1.0.0/prefix --libdir=lib \\
  -Dbuildtype=debugoptimized -Ddocs=false -Dexamples=false -Dvapi=false \\
  -Dintrospection=disabled -Dsysprof=false -Dtests=false -Dliburing=disabled
ninja -C BUILD/libdex-1.0.0/build install
```

and the bench is built a second time, from the same source, with its
libdex rows (`-DSA_BENCH_LIBDEX`). io_uring is left out so that the build
is the same on every machine; none of these cases does libdex's own
file I/O. libdex's thread pool has `MAX (1, nproc / 2)` workers
(one here); smartasync's pool runs up to `max-threads`, or, for the
default dispatcher's elastic policy, `MAX (10, 2 * nproc)` threads.

| job | smartasync | libdex | ahead | how the two were made to do the same job |
|---|---|---|---|---|
%s

Lines of code of the two GIO steps, counted between the `loc` markers of
`bench/bench.c` (blank lines and comments left out): smartasync's
non-blocking operation %s, libdex's fiber %s.

Where libdex is ahead, and why:

%s
""" % ("\n".join(libdex_rows),
       "%d lines" % loc_sa if loc_sa else "?", "%d lines" % loc_dex if loc_dex else "?",
       "\n".join(ahead_notes))
else:
    libdex_section = """## libdex beside smartasync

libdex was not built in this run (its release source,
`../shared/third-party/libdex-1.0.0.tar.xz`, was not beside the checkout),
so its rows are left out.
"""

# Sections that other benchmarks write into the page, between their own
# markers (bench_http.py's), are kept as they are.
kept = []
try:
    old = open(doc_path, encoding="utf-8").read()
except OSError:
    old = ""
for m in re.finditer(r"<!-- (\S+): begin -->.*?<!-- \1: end -->", old, re.S):
    kept.append(m.group(0))

with open(doc_path, "w", encoding="utf-8") as doc:
    doc.write("""Title: Performance
Slug: performance

# Performance

smartasync beside the raw GLib patterns it replaces, beside libdex, and
beside the Python mechanisms of the original library, measured in one run
on one machine. Each line is the median of the rounds, with their min and
max; the rounds of compared cases are interleaved, in slices, so that the
drift of a shared machine hits them alike. Ratios are computed from
figures of the same run. The baselines are written out in
`bench/bench.c` and `bench/bench_python.py`. The async-caller cases (3 to
7, 9) call from a callback of the default context's loop, where an
application's calls are made; cases 3 and 5 are also timed from a thread
that acquired the context outside any callback, where the detection has
to ask the context. Before each burst of case 5, the bench waits until no
thread of the process runs and hands the heap's free memory back to the
system (`malloc_trim()`), so that no burst starts in a heap that another
left behind.

%s

## Charts

%s

## Tables

%s

## Targets

%s

%s
## Reading the figures

Cases 3 and 5 stand beside a bare `GTask` doing the same work with nothing
around it, and the library's call is that `GTask` plus what it decides
and carries: the caller's detection, the dispatcher's entry and counters,
the operation carried to the worker and its virtual function. The
instruction table gives the size of that addition.

A dispatcher runs blocking work on smartasync's own pool (`sa-pool.c`):
the default one with an elastic policy (`MAX (10, 2 * nproc)` threads, the
size of GTask's pool, plus one for each thread that waits in a nested
call), one with `max-threads` set on that many threads. Its threads hand
work over without waking a thread per call: a push wakes at most one idle
thread, the most recently idle first, and only when no thread is already
on its way to the queue, so sequential round trips are served by one
thread, and a burst wakes threads one after another instead of one per
call. The "gtask-pool" rows
are the same dispatcher running blocking work with
`g_task_run_in_thread()` instead: beside them, the dispatcher's own work
cancels out. The rows "SaPool alone" push the raw case's `GTask` and
thread function to the pool, with the elastic policy: the pool without
the dispatcher. A `GTask` still completes through an idle source on the
caller's context, one per call, as in every row here.

Case 7 runs N blocking bodies at once, each doing nested work: blocking in
blocking (1 ms of blocking work, called through the dispatcher, which runs
it inline on the worker) or GIO in blocking (a body that smart-calls
`g_file_load_contents_async()`, which GIO carries out on the thread pool
of `g_task_run_in_thread()`). The worst round is the stall: on GTask's
shared pool, bodies that wait can hold every thread that the GIO work
they wait for needs.

The timed ratios move by several percent from run to run on a shared
machine, and a round trip by more (it is two thread wake-ups, whose cost
depends on where the scheduler puts the threads); the instruction counts
do not move.%s

Where a round trip's body runs is the scheduler's choice, and on a host
whose idle processors are slow to wake it decides the figure.
`bench/placement` (built beside the bench) runs round trips one at a time
in segments of 1,000, after a burst has given every pool several threads,
and prints each segment's mean and how many bodies ran on the caller's
processor. On a 2-vCPU guest with halt polling off, both vCPUs idle, in
four runs of six segments, each of the library's pools kept to one mode for most of a run:
the body on the caller's vCPU (80 to 100%% of calls, 13 to 33 us a round
trip) or on the other (11 to 26%%, 70 to 93 us); `g_task_run_in_thread()`,
whose pool wakes its threads in turn, ran 68 to 78%% of its bodies on the
caller's vCPU, at 36 to 64 us. Against it the default dispatcher was 2.77,
0.71, 0.49 and 0.59 times as fast, and `max-threads` 4 0.52, 4.15, 3.25
and 1.66: the same pool, in either mode, from run to run.

That was before a push woke the thread that went idle on the pushing
processor (below). On the guest of the run above (one shared L3, halt
polling on), in four runs of six segments each way, interleaved: before,
the default dispatcher ran 66 to 100%% of its bodies on the caller's vCPU,
at 8.9 to 19.8 us, 1.02 to 2.23 times as fast as `g_task_run_in_thread()`;
after, 83 to 100%%, at 8.0 to 12.7 us, 1.52 to 2.60 times as fast
(`g_task_run_in_thread()` 72 to 84%%, 18.9 to 21.4 us).

Its fourth row, the floor, is two threads handing a turn back and forth
with a `GMutex` and a `GCond`: two thread wake-ups and nothing else, which
every offload pays. On the guest of the run above (one shared L3, halt
polling on), in four runs of six segments, the floor was 21.3 to 25.5 us and
`g_task_run_in_thread()` 27.4 to 31.8 us, 1.24 to 1.44 times the floor;
the default dispatcher took 27.9 to 38.8 us and `max-threads` 4 22.4 to
36.4. There, a round trip 1.4 times as fast as GTask's would have to take
0.89 to 1.03 times the floor: below it in most runs, and no more than
3%% above it in any, which leaves nothing for a main loop's dispatch.

## Where the cost is decided

The choices below keep a call short; each names the code that keeps it.
The library's comments state what holds; the reasons in figures are here.

- **A push wakes the thread that went idle on its processor**
  (`take_idle()`, `sa-pool.c`), else the last to go idle: the kernel
  often runs a woken thread where it last ran when that processor is
  the caller's, which is about to wait, and a round trip then wakes no
  idle processor. With one thread to wake there is no choice, and the
  scheduler still puts it on either processor. On a guest where such a wake-up exits to the hypervisor,
  case 4's default round trip went from 0.66 to 1.55 times as fast as
  `g_task_run_in_thread()` to 1.27 to 2.81 (six runs each, interleaved).
- **A source tag without a name** (`_sa_task_set_tag()`,
  `sa-task-private.h`): GLib's `g_task_set_source_tag()` macro also names
  the task after its tag, a `g_strdup()` per task and a `g_strconcat()`
  per return to name the idle source, about a fifth of a short call.
- **A sync caller's body starts from the schedule source**
  (`_sa_context_schedule()`, `sa-context.c`): started inside a dispatch of
  its own context, a task completed at once calls back at once, without
  the idle source GTask would otherwise add and dispatch for each call.
  Readiness is a plain field read by `prepare()` and `check()`, not
  `g_source_set_ready_time()`, whose wakeup of the context is two system
  calls per call on its eventfd; the source sits above every descriptor
  of the context, so an iteration in which it is ready polls nothing: an
  operation that completes at once costs a sync call no system call.
- **A caller inside a callback is known without a lock**
  (`sa_caller_is_async()`): the source being dispatched says the thread
  owns the context, where `g_main_context_is_owner()` takes the context's
  lock, which every worker completing a task for that context contends
  for.
- **The blocking-body mark is a field of a thread-local struct**
  (`SaThreadStorage`): every call's detection reads it, one load where
  `g_private_get()` is a function call and a key lookup.
- **One task per call, and a small record for offloads** (`SaCall`, 40
  bytes, the pool's queue link included: the record is the queued job;
  a queued offload weighs 240 B with its task): no second task between
  the caller and the body, and no qdata on the task of a queued call
  without a guard until a pool thread takes it (`_sa_call_new_queued()`,
  `_sa_call_task_set_call()`).
- **A pool thread looks for a returned body's completion only while few
  calls wait** (`_sa_call_many_undelivered()`, 16): the look is a walk of
  the caller's context's sources; when many completions pile up there,
  each walk would cost as much as them all, so the caller's context
  confirms those calls instead, in batches (`sa-hand-back.c`): one source
  for a burst of calls, not one each.
- **Idle pool threads are woken last-idle-first, one at a time**
  (`sa-pool.c`): sequential round trips are served by one hot thread, and
  a burst wakes threads one after another rather than one per call.
- **`busy-wait`** (off by default): a pool thread spins up to 50 µs for the
  caller's next call, which saves a wake-up of a few microseconds per call
  in a stream of short calls (bodies up to about 20 µs) and costs up to
  50 µs of processor time each time no call comes.
""" % ("\n".join(machine), chart_md, tables, "\n".join(lines), libdex_section, round_trip_floor + lock_reading))
    for section in kept:
        doc.write("\n" + section + "\n")

for line in extra:
    print(line)
print()
print("\n".join(lines))
