#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Adds up meson test logs: every TAP subtest, every pytest test, and every
other test as one. Arguments: a label, then the logs of that label, and so
on (an argument that is not a file is a label; a .json log that is
missing counts as one failure). Prints one line per label,
then the closing total line."""

import json
import os
import re
import sys


def count(path):
    passed = failed = 0
    with open(path, encoding="utf-8") as log:
        for line in log:
            test = json.loads(line)
            stdout = test.get("stdout") or ""
            oks = len(re.findall(r"^ok \d+", stdout, re.M))
            not_oks = len(re.findall(r"^not ok \d+", stdout, re.M))
            pytest = re.search(r"^=+ (?:(\d+) failed, )?(\d+) passed.* in [\d.]+s =+$", stdout, re.M)
            if pytest and not (oks or not_oks):
                oks, not_oks = int(pytest.group(2)), int(pytest.group(1) or 0)
            if oks or not_oks:
                passed += oks
                failed += not_oks
            if test["result"] in ("OK", "EXPECTEDFAIL", "SKIP"):
                if not (oks or not_oks):
                    passed += 1
            elif not not_oks:
                failed += 1
    return passed, failed


groups = []
for arg in sys.argv[1:]:
    if arg.endswith(".json") and not os.path.isfile(arg):
        print(f"summary: no log {arg}")
        if not groups:
            groups.append(["", 0, 0])
        groups[-1][2] += 1
    elif os.path.isfile(arg):
        if not groups:
            groups.append(["", 0, 0])
        p, f = count(arg)
        groups[-1][1] += p
        groups[-1][2] += f
    else:
        groups.append([arg, 0, 0])

for label, p, f in groups:
    if label:
        print(f"summary ({label}): {p} passed, {f} failed")
total_passed = sum(g[1] for g in groups)
total_failed = sum(g[2] for g in groups)
print(f"summary: {total_passed} passed, {total_failed} failed")
