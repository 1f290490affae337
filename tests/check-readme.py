#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""README.md's snippets must be the quick starts in examples/ as the tests
build and run them, so that each runs as written."""

import re
import sys

readme_path, examples_dir = sys.argv[1:3]
readme = open(readme_path, encoding="utf-8").read()

cases = [
    ("## Quick start (C)", "c", "quickstart.c", "#include <smartasync.h>"),
    ("## Python", "python", "quickstart.py", None),
    ("## JavaScript (gjs)", "js", "quickstart.js", None),
    ("## Vala", "vala", "quickstart.vala", None),
]
failed = 0
for n, (heading, lang, name, start) in enumerate(cases, 1):
    source = open("%s/%s" % (examples_dir, name), encoding="utf-8").read()
    expected = source[source.index(start):] if start else source
    section = readme.split(heading + "\n", 1)[1] if heading + "\n" in readme else ""
    match = re.search(r"```%s\n(.*?)```" % re.escape(lang), section, re.S)
    ok = match is not None and match.group(1) == expected
    print("%s %d README %s matches examples/%s" % ("ok" if ok else "not ok", n, heading[3:], name))
    failed += not ok
print("1..%d" % len(cases))
sys.exit(1 if failed else 0)
