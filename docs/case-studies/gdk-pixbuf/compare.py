#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints gdk-pixbuf's test results, baseline and ported, side by side.

compare.py WORKDIR reads the meson test logs that `run` leaves in WORKDIR
(baseline.json, ported.json, and the -valgrind ones) and prints one row a
test program. Its last line counts the ported suite: "N passed, N failed".
It exits 1 when a ported program fails, or fails under valgrind where the
baseline's is clean.
"""

import json
import os
import re
import sys

PASSED = {"OK", "EXPECTEDFAIL"}
SKIPPED = {"SKIP"}


def results(path):
    """{program: (result, n ok subtests, n subtests)} from a testlog.json."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            test = json.loads(line)
            name = test["name"].split(" / ")[-1]
            stdout = test.get("stdout") or ""
            oks = len(re.findall(r"^ok \d+", stdout, re.M))
            total = oks + len(re.findall(r"^not ok \d+", stdout, re.M))
            out[name] = (test["result"], oks, total)
    return out


def count(res):
    passed = sum(1 for r, _, _ in res.values() if r in PASSED)
    skipped = sum(1 for r, _, _ in res.values() if r in SKIPPED)
    return passed, len(res) - passed - skipped, skipped


def cell(res, name):
    if name not in res:
        return "-"
    r, oks, total = res[name]
    return f"{r} {oks}/{total}" if total else r


def main():
    work = sys.argv[1]
    base = results(os.path.join(work, "baseline.json"))
    port = results(os.path.join(work, "ported.json"))
    base_vg = results(os.path.join(work, "baseline-valgrind.json"))
    port_vg = results(os.path.join(work, "ported-valgrind.json"))

    print(f"{'program':28} {'baseline':>12} {'ported':>12}   "
          f"{'valgrind: baseline':>18} {'ported':>8}")
    for name in sorted(set(base) | set(port)):
        print(f"{name:28} {cell(base, name):>12} {cell(port, name):>12}   "
              f"{(base_vg[name][0] if name in base_vg else '-'):>18} "
              f"{(port_vg[name][0] if name in port_vg else '-'):>8}")

    failed = []
    for label, res, vg in (("baseline", base, base_vg), ("ported", port, port_vg)):
        passed, n_failed, skipped = count(res)
        clean = sorted(n for n, (r, _, _) in vg.items() if r in PASSED)
        subtests = sum(oks for _, oks, _ in res.values())
        print(f"{label}: {passed} passed, {n_failed} failed, {skipped} skipped "
              f"({subtests} GTest cases passed); valgrind clean: {len(clean)} of {len(vg)}")
    regressions = sorted(n for n, (r, _, _) in base_vg.items()
                         if r in PASSED and port_vg.get(n, ("-",))[0] not in PASSED)
    fixed = sorted(n for n, (r, _, _) in port_vg.items()
                   if r in PASSED and base_vg.get(n, ("OK",))[0] not in PASSED)
    print("valgrind, unclean ported where the baseline is clean: "
          + (", ".join(regressions) or "none"))
    if fixed:
        print("valgrind, clean ported where the baseline is not: " + ", ".join(fixed))
    if regressions:
        failed.append("valgrind")

    passed, n_failed, _ = count(port)
    if n_failed or not port:
        failed.append("meson test")
        print(f"see {os.path.join(work, 'ported-test.log')}")
    print(f"{passed} passed, {n_failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
