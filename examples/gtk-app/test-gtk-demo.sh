#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-gtk-demo.sh DEMO BUILDDIR SRCDIR: the command-line mode, then the
# window on a virtual display (xvfb-run), which must give the same lines.
# Exit 77 (skipped) where there is neither a display nor xvfb-run.
set -eu

demo=$1
builddir=$2
srcdir=$3
data="$builddir/data"
shot="$builddir/gtk-demo-screenshot.png"
mkdir -p "$data"

echo "# command line"
"$demo" --cli --data-dir "$data" --list-dir "$srcdir" | tee "$builddir/cli.txt"

export GSK_RENDERER=cairo GDK_BACKEND=x11 GTK_A11Y=none NO_AT_BRIDGE=1 GSETTINGS_BACKEND=memory
if command -v xvfb-run >/dev/null 2>&1; then
  run="xvfb-run -a -s -noreset"
elif [ -n "${DISPLAY:-}" ]; then
  run=""
else
  echo "# no X display and no xvfb-run: skipped"
  exit 77
fi

echo "# window"
rm -f "$shot"
$run "$demo" --data-dir "$data" --list-dir "$srcdir" --self-test "$shot" | tee "$builddir/gui.txt"
grep '^result ' "$builddir/gui.txt" > "$builddir/gui-results.txt"
if ! diff -u "$builddir/cli.txt" "$builddir/gui-results.txt"; then
  echo "not ok - the window and the command line disagree"
  exit 1
fi
test -s "$shot"
echo "ok - the window and the command line give the same results; screenshot: $shot"
