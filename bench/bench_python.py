#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Python on the same machine, in the same run as bench.c: each path of the
Sa binding's smartasync beside what a Python programmer writes by hand for
it, interleaved (one slice of every case per round, the order of each pair
alternating), medians of the rounds.

Prints table rows, `figure <name> <value> us` lines and, for every path,
`ratio <name> <Sa / baseline> (target <= T)`: the median over the rounds
of the ratio of each round's adjacent pair.
"""

import asyncio
import concurrent.futures
import statistics
import sys
import time

QUICK = "--quick" in sys.argv
# --gi-events: every row on gi.events' policy (PyGObject 3.50): asyncio on
# the GLib main loop, asyncio.run() replaced by the policy's loop of the
# default context (gi.events refuses asyncio.run() on the main thread).
GI_EVENTS = "--gi-events" in sys.argv
if GI_EVENTS:
    import gi.events

    asyncio.set_event_loop_policy(gi.events.GLibEventLoopPolicy())

    def _run_on_policy_loop(main):
        loop = asyncio.get_event_loop_policy().get_event_loop()
        return loop.run_until_complete(main)

    asyncio.run = _run_on_policy_loop
TINY = "--tiny" in sys.argv
ROUNDS = 1 if TINY else (5 if QUICK else 15)
SCALE = 0.01 if TINY else (0.25 if QUICK else 1.0)


def n_of(n):
    return max(1, int(n * SCALE))


def per_call(start, n):
    return (time.perf_counter() - start) / n * 1e6


# --- the seed's wrapper, as its technical overview gives it ------------------

def seed_smartasync(method):
    """The reference library's decorator: a cached "async context" flag,
    asyncio.get_running_loop() otherwise, then the four cases."""
    is_coro = asyncio.iscoroutinefunction(method)
    cached_has_loop = False

    def wrapper(*args, **kwargs):
        nonlocal cached_has_loop
        if cached_has_loop:
            async_context = True
        else:
            try:
                asyncio.get_running_loop()
                cached_has_loop = async_context = True
            except RuntimeError:
                async_context = False
        match (async_context, is_coro):
            case (False, True):
                return asyncio.run(method(*args, **kwargs))
            case (False, False):
                return method(*args, **kwargs)
            case (True, True):
                return method(*args, **kwargs)
            case (True, False):
                return asyncio.to_thread(method, *args, **kwargs)

    return wrapper


@seed_smartasync
def seed_blocking(x):
    return x


def blocking(x):
    return x


async def trivial(x):
    return x


async def yields_once(x):
    await asyncio.sleep(0)
    return x


# --- baselines -----------------------------------------------------------------

def base_seed_wrapper(n):
    start = time.perf_counter()
    for i in range(n):
        seed_blocking(i)
    return per_call(start, n)


def base_kept_loop(coro_func):
    def run(n):
        loop = asyncio.new_event_loop()
        try:
            start = time.perf_counter()
            for i in range(n):
                loop.run_until_complete(coro_func(i))
            return per_call(start, n)
        finally:
            loop.close()
    return run


def base_to_thread(n):
    async def main():
        start = time.perf_counter()
        for i in range(n):
            await asyncio.to_thread(blocking, i)
        return per_call(start, n)
    return asyncio.run(main())


def base_to_thread_gather(n):
    async def main():
        start = time.perf_counter()
        for _ in range(n):
            await asyncio.gather(*[asyncio.to_thread(blocking, i) for i in range(100)])
        return per_call(start, n * 100)
    return asyncio.run(main())


def glib_loop_run(n, issue):
    """Runs n calls one after the other inside a GLib main loop; issue(i,
    done) starts call i and arranges for done() to run on the loop."""
    loop = GLib.MainLoop()
    box = {}
    left = [n]

    def done(*_):
        left[0] -= 1
        if left[0] == 0:
            box["end"] = time.perf_counter()
            loop.quit()
        else:
            issue(left[0], done)
        return False

    def begin():
        box["start"] = time.perf_counter()
        issue(n, done)
        return False

    GLib.idle_add(begin)
    loop.run()
    return (box["end"] - box["start"]) / n * 1e6


_executor = concurrent.futures.ThreadPoolExecutor()


def base_executor_idle_add(n):
    def issue(i, done):
        def work():
            GLib.idle_add(done, blocking(i))
        _executor.submit(work)
    return glib_loop_run(n, issue)


# --- the binding -----------------------------------------------------------------

CASES = []   # (name, title, func, n)
RATIOS = []  # (name, sa case, baseline case, target)

try:
    import gi

    gi.require_version("Sa", "1")
    from gi.repository import GLib, Sa

    sa_blocking = Sa.smartasync(blocking)
    sa_trivial = Sa.smartasync(trivial)
    sa_yields_once = Sa.smartasync(yields_once)

    def sa_script_blocking(n):
        start = time.perf_counter()
        for i in range(n):
            sa_blocking(i)
        return per_call(start, n)

    def sa_script_coroutine(func):
        def run(n):
            start = time.perf_counter()
            for i in range(n):
                func(i)
            return per_call(start, n)
        return run

    def sa_asyncio_offload(n):
        async def main():
            start = time.perf_counter()
            for i in range(n):
                await sa_blocking(i)
            return per_call(start, n)
        return asyncio.run(main())

    def sa_asyncio_offload_gather(n):
        async def main():
            start = time.perf_counter()
            for _ in range(n):
                await asyncio.gather(*[sa_blocking(i) for i in range(100)])
            return per_call(start, n * 100)
        return asyncio.run(main())

    def sa_glib_offload(n):
        def issue(i, done):
            sa_blocking(i).add_done_callback(done)
        return glib_loop_run(n, issue)

    CASES += [
        ("py-seed-wrapper", "the seed's wrapper, plain function, script", base_seed_wrapper,
         200000),
        ("py-sa-script-blocking", "Sa, plain function, script", sa_script_blocking, 200000),
        ("py-persistent-loop", "kept loop run_until_complete(), no await",
         base_kept_loop(trivial), 20000),
        ("py-sa-script-coroutine", "Sa, async def, script, no await",
         sa_script_coroutine(sa_trivial), 20000),
        ("py-kept-loop-await", "kept loop run_until_complete(), one await",
         base_kept_loop(yields_once), 20000),
        ("py-sa-script-coroutine-await", "Sa, async def, script, one await",
         sa_script_coroutine(sa_yields_once), 20000),
        ("py-to-thread", "asyncio.to_thread(), one by one", base_to_thread, 4000),
        ("py-sa-asyncio-offload", "Sa, plain function, asyncio, one by one", sa_asyncio_offload,
         4000),
        ("py-to-thread-gather", "asyncio.to_thread(), gather of 100", base_to_thread_gather, 40),
        ("py-sa-asyncio-gather", "Sa, plain function, asyncio, gather of 100",
         sa_asyncio_offload_gather, 40),
        ("py-executor-idle-add", "ThreadPoolExecutor + GLib.idle_add(), GLib loop",
         base_executor_idle_add, 4000),
        ("py-sa-glib-offload", "Sa, plain function, GLib loop", sa_glib_offload, 4000),
    ]
    RATIOS += [
        ("script-blocking", "py-sa-script-blocking", "py-seed-wrapper", 2.0),
        ("script-coroutine", "py-sa-script-coroutine", "py-persistent-loop", 1.0),
        ("script-coroutine-await", "py-sa-script-coroutine-await", "py-kept-loop-await", 1.0),
        ("asyncio-offload", "py-sa-asyncio-offload", "py-to-thread", 0.67),
        ("asyncio-offload-gather", "py-sa-asyncio-gather", "py-to-thread-gather", 0.67),
        ("glib-offload", "py-sa-glib-offload", "py-executor-idle-add", 1.0),
    ]
except (ImportError, ValueError) as error:
    print("# the Sa binding is not importable here (%s): its cases are left out" % error)

# The stdlib figures the reference's own table speaks of.
CASES += [
    ("py-asyncio-run", "asyncio.run() of a trivial coroutine", lambda n: base_asyncio_run(n), 2000),
]


def base_asyncio_run(n):
    start = time.perf_counter()
    for i in range(n):
        asyncio.run(trivial(i))
    return per_call(start, n)


values = {name: [] for name, _, _, _ in CASES}
pairs = [CASES[i:i + 2] for i in range(0, len(CASES), 2)]
for r in range(ROUNDS):
    # One slice of every case per round; every other round, the pairs and
    # the cases of each pair run in the other order.
    for pair in (pairs if r % 2 == 0 else pairs[::-1]):
        for name, _, func, n in (pair if r % 2 == 0 else pair[::-1]):
            values[name].append(func(n_of(n)))

for name, title, _, _ in CASES:
    v = values[name]
    print("| Python: %-52s | %10.3f | %10.3f | %10.3f | %-2s |" % (
        title, statistics.median(v), min(v), max(v), "us"))
for name, _, _, _ in CASES:
    print("figure %s %.4f us" % (name, statistics.median(values[name])))
for name, sa, base, target in RATIOS:
    # Each round's pair ran side by side, under the same load: the ratio is
    # the median of the rounds' ratios.
    ratio = statistics.median(a / b for a, b in zip(values[sa], values[base]))
    print("ratio %s %.3f (target <= %.2f) %s" % (name, ratio, target,
                                                 "met" if ratio <= target else "MISSED"))
_executor.shutdown()
