#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Adds up the meson test logs given as arguments: every TAP subtest, every
pytest test, and every other test as one, into one closing line."""

import json
import re
import sys

passed = failed = 0
for path in sys.argv[1:]:
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

print(f"summary: {passed} passed, {failed} failed")
