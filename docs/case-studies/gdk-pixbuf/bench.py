#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs bench.c on the baseline and on the ported gdk-pixbuf, interleaved.

bench.py WORKDIR SMARTASYNC-LIBDIR [ROUNDS] [N]: ROUNDS rounds (default
10); in each, the round-trip cases on the baseline and on the port (as
it is, with SA_BUSY_WAIT=1, and with gtask-pool), in an order that
alternates from round to round, then the stream-loader cases on the
ported one. Prints each case's median time per call (and processor
time, all threads) and the ratio ported / baseline.
"""

import os
import statistics
import subprocess
import sys


def run(work, sa_libdir, lib, mode, n):
    env = dict(os.environ)
    env.pop("SA_BUSY_WAIT", None)
    if lib == "ported-gtask-pool":
        lib = "ported"
        env["BENCH_GTASK_POOL"] = "1"
    elif lib == "ported-busy-wait":
        lib = "ported"
        env["SA_BUSY_WAIT"] = "1"
    env["LD_LIBRARY_PATH"] = f"{work}/{lib}/_build/gdk-pixbuf:{sa_libdir}"
    env["GDK_PIXBUF_MODULE_FILE"] = f"{work}/{lib}/_build/gdk-pixbuf/loaders.cache"
    out = subprocess.run([f"{work}/bench", mode, str(n)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return {name: (float(us), float(cpu)) for name, us, cpu in
            (line.split() for line in out.splitlines())}


def main():
    work, sa_libdir = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    times = {}
    for r in range(rounds):
        libs = ("baseline", "ported", "ported-busy-wait", "ported-gtask-pool")
        for lib in (libs if r % 2 == 0 else libs[::-1]):
            for case, value in run(work, sa_libdir, lib, "round", n).items():
                times.setdefault((case, lib), []).append(value)
        for case, value in run(work, sa_libdir, "ported", "loader", n).items():
            times.setdefault((case, "ported"), []).append(value)

    def med(case, lib, i):
        return statistics.median(v[i] for v in times[(case, lib)])

    print(f"{rounds} rounds, interleaved; each the fastest of 5 batches; medians over the")
    print("rounds of us per call (processor us per call, all threads), and of the")
    print("round's ratio ported / baseline, with the lowest and highest")
    print(f"{'case':16} {'baseline':>18} {'ported':>18}   {'ported/baseline':>22}   {'cpu':>5}")
    for case in ("save-small", "animation-small", "save-large", "animation-large"):
        b, p = med(case, "baseline", 0), med(case, "ported", 0)
        bc, pc = med(case, "baseline", 1), med(case, "ported", 1)
        ratios = [p2[0] / b2[0] for b2, p2 in zip(times[(case, "baseline")],
                                                    times[(case, "ported")])]
        cpu = [p2[1] / b2[1] for b2, p2 in zip(times[(case, "baseline")],
                                                 times[(case, "ported")])]
        print(f"{case:16} {b:9.1f} ({bc:6.1f}) {p:9.1f} ({pc:6.1f})   "
              f"{statistics.median(ratios):5.2f} ({min(ratios):.2f} to {max(ratios):.2f})   "
              f"{statistics.median(cpu):5.2f}")
    for variant, title in (("ported-busy-wait", "the port, its pool threads spinning for the next call (SA_BUSY_WAIT=1):"),
                           ("ported-gtask-pool", "the port, its blocking work on GTask's pool (gtask-pool):")):
        print(title)
        for case in ("save-small", "animation-small", "save-large", "animation-large"):
            ratios = [g[0] / b[0] for b, g in zip(times[(case, "baseline")],
                                                  times[(case, variant)])]
            cpu = [g[1] / b[1] for b, g in zip(times[(case, "baseline")],
                                               times[(case, variant)])]
            print(f"{case:16} {med(case, variant, 0):9.1f} ({med(case, variant, 1):6.1f})   "
                  f"ratio to baseline {statistics.median(ratios):5.2f} "
                  f"({min(ratios):.2f} to {max(ratios):.2f}), cpu {statistics.median(cpu):5.2f}")
    print("stream loaders, sync caller: the hand-written sync twin against one")
    print("non-blocking operation over the _async, run on the private context")
    for what in ("memory-small", "memory-large", "file-large"):
        t = med(f"loader-twin-{what}", "ported", 0)
        o = med(f"loader-one-op-{what}", "ported", 0)
        tc = med(f"loader-twin-{what}", "ported", 1)
        oc = med(f"loader-one-op-{what}", "ported", 1)
        print(f"{what:20} twin {t:9.1f} ({tc:6.1f})  one op {o:9.1f} ({oc:6.1f})  "
              f"one op / twin {o / t:.2f}")


if __name__ == "__main__":
    main()
