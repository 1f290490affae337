#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""README.md's C quick start must be examples/quickstart.c as it is built
and run by the tests, so that it compiles as written."""

import re
import sys

readme_path, quickstart_path = sys.argv[1:3]
readme = open(readme_path, encoding="utf-8").read()
quickstart = open(quickstart_path, encoding="utf-8").read()

section = readme.split("## Quick start (C)", 1)[1]
block = re.search(r"```c\n(.*?)```", section, re.S).group(1)
expected = quickstart[quickstart.index("#include <smartasync.h>"):]

if block != expected:
    print("not ok 1 README quick start matches examples/quickstart.c")
    sys.exit(1)
print("ok 1 README quick start matches examples/quickstart.c")
print("1..1")
