#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-gtk-demo.sh DEMO BUILDDIR SRCDIR [PYTHON]: the command-line mode,
# then the window on a virtual display (xvfb-run), which must give the
# same lines; then the same for the Python twin, gtk_demo.py, with PYTHON.
# Exit 77 (skipped) where there is neither a display nor xvfb-run.
#
# Each run is judged on its own: a signal, a sanitizer report, an exit
# status and a result that differs are each reported as what they are.
set -eu

demo=$1
builddir=$2
srcdir=$3
python=${4:-}
data="$builddir/data"
shot="$builddir/gtk-demo-screenshot.png"
mkdir -p "$data"

# The desktop stack is pinned to what the demo needs, so that no run
# depends on the modules a machine happens to have: GL is off (the
# renderer is cairo's; otherwise GTK's X11 backend still loads a Mesa
# driver to choose a visual, and unloads it before exit, which leaves
# LeakSanitizer reports that point at no module), the input method is
# GTK's own, GIO uses no VFS or settings daemon, and no accessibility bus.
export GSK_RENDERER=cairo GDK_BACKEND=x11 GDK_DEBUG=gl-disable \
  GTK_IM_MODULE=gtk-im-context-simple GIO_USE_VFS=local GSETTINGS_BACKEND=memory \
  GTK_A11Y=none NO_AT_BRIDGE=1

# run NAME OUT ERR COMMAND...: runs COMMAND with its output in OUT and
# its standard error in ERR (both shown), and says how it ended when
# that was not a clean exit. Returns its exit status.
run () {
  name=$1 out=$2 err=$3
  shift 3
  status=0
  "$@" > "$out" 2> "$err" || status=$?
  cat "$out"
  cat "$err" >&2
  if grep -q -E '^==[0-9]+==ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$err"; then
    echo "not ok - $name: a sanitizer report (exit status $status), see its standard error above"
  elif [ "$status" -gt 128 ]; then
    echo "not ok - $name: killed by signal $((status - 128))"
  elif [ "$status" -ne 0 ]; then
    echo "not ok - $name: exit status $status"
  fi
  return "$status"
}

# same NAME EXPECTED OUTPUT: the result lines of OUTPUT are EXPECTED's.
same () {
  grep '^result ' "$3" > "$3.results" || true
  if ! diff -u "$2" "$3.results"; then
    echo "not ok - $1: the results differ from the command line's (diff above)"
    return 1
  fi
}

echo "# command line"
run "the command line" "$builddir/cli.txt" "$builddir/cli.err" \
  "$demo" --cli --data-dir "$data" --list-dir "$srcdir" || exit 1

if command -v xvfb-run >/dev/null 2>&1; then
  xrun="xvfb-run -a -s -noreset"
elif [ -n "${DISPLAY:-}" ]; then
  xrun=""
else
  echo "# no X display and no xvfb-run: skipped"
  exit 77
fi

echo "# window"
rm -f "$shot"
run "the window" "$builddir/gui.txt" "$builddir/gui.err" \
  $xrun "$demo" --data-dir "$data" --list-dir "$srcdir" --self-test "$shot" || exit 1
if grep -q '^not ok' "$builddir/gui.txt"; then
  echo "not ok - the window: a check of its own failed (above)"
  exit 1
fi
same "the window" "$builddir/cli.txt" "$builddir/gui.txt" || exit 1
if ! test -s "$shot"; then
  echo "not ok - the window saved no screenshot"
  exit 1
fi
echo "ok - the window and the command line give the same results; screenshot: $shot"

if [ -z "$python" ] || ! "$python" -c 'import gi; gi.require_version("Gtk", "4.0"); gi.require_version("Sa", "1")' 2>/dev/null; then
  echo "# no PyGObject with GTK 4 and Sa: the Python twin is not tested"
  exit 0
fi
echo "# Python, command line"
run "the Python command line" "$builddir/py-cli.txt" "$builddir/py-cli.err" \
  "$python" "$srcdir/gtk_demo.py" --cli --data-dir "$data" --list-dir "$srcdir" || exit 1
same "the Python command line" "$builddir/cli.txt" "$builddir/py-cli.txt" || exit 1
echo "# Python, window"
run "the Python window" "$builddir/py-gui.txt" "$builddir/py-gui.err" \
  $xrun "$python" "$srcdir/gtk_demo.py" --self-test --data-dir "$data" --list-dir "$srcdir" || exit 1
if grep -q '^not ok' "$builddir/py-gui.txt"; then
  echo "not ok - the Python window: a check of its own failed (above)"
  exit 1
fi
same "the Python window" "$builddir/cli.txt" "$builddir/py-gui.txt" || exit 1
echo "ok - the Python twin gives the C lines, from its command line and its window"
