# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs pytest with the arguments given, on the interpreter named by
$SA_TEST_PYTHON (a virtual environment with another PyGObject), or on
this one."""

import os
import sys

python = os.environ.get("SA_TEST_PYTHON") or sys.executable
os.execv(python, [python, "-m", "pytest"] + sys.argv[1:])
