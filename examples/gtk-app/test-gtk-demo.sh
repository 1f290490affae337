#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-gtk-demo.sh DEMO BUILDDIR SRCDIR [PYTHON]: the command-line mode,
# then the window on a virtual display (xvfb-run), which must give the
# same lines; then the same for the Python twin, gtk_demo.py, with PYTHON.
# Exit 77 (skipped) where there is neither a display nor xvfb-run.
set -eu

demo=$1
builddir=$2
srcdir=$3
python=${4:-}
data="$builddir/data"
shot="$builddir/gtk-demo-screenshot.png"
mkdir -p "$data"

echo "# command line"
"$demo" --cli --data-dir "$data" --list-dir "$srcdir" > "$builddir/cli.txt"
cat "$builddir/cli.txt"

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
status=0
$run "$demo" --data-dir "$data" --list-dir "$srcdir" --self-test "$shot" > "$builddir/gui.txt" || status=$?
cat "$builddir/gui.txt"
grep '^result ' "$builddir/gui.txt" > "$builddir/gui-results.txt" || true
if [ "$status" -ne 0 ] || ! diff -u "$builddir/cli.txt" "$builddir/gui-results.txt"; then
  echo "not ok - the window and the command line disagree"
  exit 1
fi
test -s "$shot"
echo "ok - the window and the command line give the same results; screenshot: $shot"

if [ -z "$python" ] || ! "$python" -c 'import gi; gi.require_version("Gtk", "4.0"); gi.require_version("Sa", "1")' 2>/dev/null; then
  echo "# no PyGObject with GTK 4 and Sa: the Python twin is not tested"
  exit 0
fi
echo "# Python, command line"
"$python" "$srcdir/gtk_demo.py" --cli --data-dir "$data" --list-dir "$srcdir" > "$builddir/py-cli.txt"
cat "$builddir/py-cli.txt"
if ! diff -u "$builddir/cli.txt" "$builddir/py-cli.txt"; then
  echo "not ok - the Python twin's command line and the C one disagree"
  exit 1
fi
echo "# Python, window"
status=0
$run "$python" "$srcdir/gtk_demo.py" --self-test --data-dir "$data" --list-dir "$srcdir" > "$builddir/py-gui.txt" || status=$?
cat "$builddir/py-gui.txt"
grep '^result ' "$builddir/py-gui.txt" > "$builddir/py-gui-results.txt" || true
if [ "$status" -ne 0 ] || grep -q '^not ok' "$builddir/py-gui.txt" || \
   ! diff -u "$builddir/cli.txt" "$builddir/py-gui-results.txt"; then
  echo "not ok - the Python window"
  exit 1
fi
echo "ok - the Python twin gives the C lines, from its command line and its window"
