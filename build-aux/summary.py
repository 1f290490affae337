#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Adds up meson test logs: every TAP subtest, every pytest test, and every
other test as one. Arguments: a label, then the logs of that label, and so
on (an argument that is not a file is a label; a .json log that is
missing counts as one failure). A log given as LOG::TEST counts the test
TEST of LOG alone, under its label, and that test is then left out of
LOG wherever LOG is given whole: each test counts once. Prints one line
per label, then the closing total line."""

import json
import os
import re
import sys


def count(path, only=None, leave_out=()):
    passed = failed = 0
    with open(path, encoding="utf-8") as log:
        for line in log:
            test = json.loads(line)
            # meson names a test "project:suite / name".
            name = test.get("name", "").rpartition(" / ")[2]
            if (only is not None and name != only) or name in leave_out:
                continue
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


def split(arg):
    """(path, test or None) of a log argument."""
    path, sep, test = arg.rpartition("::")
    if sep and path.endswith(".json"):
        return path, test
    return arg, None


# The tests counted alone, left out of their log counted whole.
alone = {}
for arg in sys.argv[1:]:
    path, test = split(arg)
    if test is not None:
        alone.setdefault(path, set()).add(test)

groups = []
for arg in sys.argv[1:]:
    path, test = split(arg)
    if path.endswith(".json") and not os.path.isfile(path):
        print(f"summary: no log {path}")
        if not groups:
            groups.append(["", 0, 0])
        groups[-1][2] += 1
    elif os.path.isfile(path):
        if not groups:
            groups.append(["", 0, 0])
        if test is None:
            p, f = count(path, leave_out=alone.get(path, ()))
        else:
            p, f = count(path, only=test)
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
