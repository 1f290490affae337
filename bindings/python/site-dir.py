#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints the first directory on this interpreter's module path that lies
under the prefix given (a site-packages or dist-packages directory), or
nothing: where gi/overrides/Sa.py must go for `import gi` to find it with
no PYTHONPATH."""

import os
import site
import sys

prefix = os.path.realpath(sys.argv[1])
paths = list(sys.path) + site.getsitepackages()
for entry in paths:
    if not entry or not os.path.isabs(entry):
        continue
    real = os.path.realpath(entry)
    if os.path.basename(real) not in ("site-packages", "dist-packages"):
        continue
    if os.path.commonpath([real, prefix]) != prefix:
        continue
    # lib/, lib64/, lib/x86_64-linux-gnu/ of this prefix: not local/lib/
    # of another one nested in it (/usr/local inside /usr).
    if not os.path.relpath(real, prefix).startswith("lib"):
        continue
    print(os.path.normpath(entry), end="")
    break
