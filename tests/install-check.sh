#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installed, smartasync is found as a user finds it. Builds the library
# alone (no tests, examples or bench) into a prefix under /tmp, a prefix
# that no interpreter searches, installs it, then, from that prefix only:
# - C: the quick start, compiled with `pkg-config --cflags --libs
#   smartasync-1` from the installed .pc, links and runs;
# with introspection (argument 2: enabled):
# - Vala: the Vala quick start, compiled with valac --pkg smartasync-1
#   against the installed vapi (the .pc names version 1.0.0, which the
#   vapi's `since` attributes require), runs;
# - Python: `meson setup` printed the one PYTHONPATH to set; with it the
#   overrides load (without it they do not, which is why it is printed),
#   and the Python quick start runs;
# - gjs: with GJS_PATH=<prefix>/share/gjs-1.0 the override loads, and the
#   gjs quick start runs;
# - for the prefixes /usr/local and /usr, the Python overrides and the gjs
#   override are planned into directories that /usr/bin/python3 and gjs
#   search with no variable set, and setup asks for no PYTHONPATH;
# without introspection (disabled, with -Ddocumentation=true, which must
# not fail at setup): nothing of the bindings is installed.
set -euo pipefail

source=$1
introspection=$2
tmp=$(mktemp -d /tmp/sa-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
n=0
ok () { n=$((n + 1)); echo "ok $n $*"; }
fail () { n=$((n + 1)); echo "not ok $n $*"; echo "1..$n"; exit 1; }

opts=(-Dtests=false -Dexamples=false -Dbench=false -Dwerror=true "-Dintrospection=$introspection")
if [ "$introspection" = disabled ]; then
  opts+=(-Ddocumentation=true)
fi
if ! meson setup "$tmp/build" "$source" --prefix="$prefix" "${opts[@]}" >"$tmp/setup.log" 2>&1; then
  sed 's/^/# /' "$tmp/setup.log"; fail "meson setup ${opts[*]}"
fi
ok "meson setup ${opts[*]}"
meson compile -C "$tmp/build" >"$tmp/compile.log" 2>&1 || { sed 's/^/# /' "$tmp/compile.log"; fail "build"; }
meson install -C "$tmp/build" --quiet >/dev/null
ok "built and installed into $prefix"

pcfile=$(find "$prefix" -name smartasync-1.pc | head -n 1)
[ -n "$pcfile" ] || fail "smartasync-1.pc installed"
libdir=$(dirname "$(dirname "$pcfile")")
export PKG_CONFIG_PATH=$(dirname "$pcfile")
[ "$(pkg-config --modversion smartasync-1)" = 1.0.0 ] || fail "the .pc says 1.0.0"
ok "smartasync-1.pc installed, version 1.0.0"

cc -o "$tmp/quickstart" "$source/examples/quickstart.c" $(pkg-config --cflags --libs smartasync-1)
LD_LIBRARY_PATH=$libdir "$tmp/quickstart" >/dev/null || fail "C quick start runs"
ok "C quick start: compiled with the installed pkg-config, runs"

if [ "$introspection" = disabled ]; then
  for f in Sa-1.gir Sa-1.typelib smartasync-1.vapi Sa.py Sa.js; do
    if find "$prefix" -name "$f" | grep -q .; then
      fail "without introspection, $f is not installed"
    fi
  done
  ok "without introspection, no GIR, typelib, vapi or overrides installed"
  grep -q 'documentation=true' "$tmp/setup.log" || fail "setup says why the API reference is not built"
  ok "-Ddocumentation=true without introspection: setup warns, does not fail"
  echo "1..$n"
  exit 0
fi

typelib=$(find "$prefix" -name Sa-1.typelib | head -n 1)
[ -n "$typelib" ] && find "$prefix" -name Sa-1.gir | grep -q . || fail "Sa-1.gir and Sa-1.typelib installed"
ok "Sa-1.gir and Sa-1.typelib installed"
export GI_TYPELIB_PATH=$(dirname "$typelib") LD_LIBRARY_PATH=$libdir

# Vala, against the installed vapi only.
vapidir=$prefix/share/vala/vapi
[ -f "$vapidir/smartasync-1.vapi" ] || fail "smartasync-1.vapi installed"
if ! valac --vapidir "$vapidir" --pkg smartasync-1 --pkg gio-2.0 -X -w -d "$tmp" \
     -o "$tmp/quickstart-vala" "$source/examples/quickstart.vala" >"$tmp/valac.log" 2>&1; then
  sed 's/^/# /' "$tmp/valac.log"; fail "Vala quick start compiles against the installed vapi"
fi
out=$("$tmp/quickstart-vala") && [ -n "$out" ] || fail "Vala quick start runs"
ok "Vala quick start: valac --pkg smartasync-1 with the installed vapi and .pc, runs"

# Python: the one variable that setup printed.
pythonpath=$(sed -n 's/.*set PYTHONPATH=\([^ ]*\).*/\1/p' "$tmp/setup.log" | head -n 1)
[ -n "$pythonpath" ] && [ -f "$pythonpath/gi/overrides/Sa.py" ] || \
  fail "setup names the PYTHONPATH under which gi/overrides/Sa.py is installed"
ok "setup printed PYTHONPATH=$pythonpath, where gi/overrides/Sa.py is"
probe='import gi; gi.require_version("Sa", "1"); from gi.repository import Sa; print(hasattr(Sa, "smartasync"))'
[ "$(/usr/bin/python3 -c "$probe")" = False ] || fail "without PYTHONPATH the overrides are not loaded"
[ "$(PYTHONPATH=$pythonpath /usr/bin/python3 -c "$probe")" = True ] || fail "with PYTHONPATH the overrides load"
ok "Python: overrides load with that PYTHONPATH (and only with it)"
PYTHONPATH=$pythonpath /usr/bin/python3 "$source/examples/quickstart.py" >/dev/null || fail "Python quick start runs"
ok "Python quick start runs from the prefix"

# gjs: GJS_PATH names the prefix's gjs-1.0 directory.
[ -f "$prefix/share/gjs-1.0/overrides/Sa.js" ] || fail "share/gjs-1.0/overrides/Sa.js installed"
jsprobe="$tmp/probe.js"
echo "import Sa from 'gi://Sa'; print(typeof Sa.nonBlocking);" > "$jsprobe"
[ "$(GJS_PATH=$prefix/share/gjs-1.0 gjs -m "$jsprobe")" = function ] || fail "gjs loads the override with GJS_PATH"
ok "gjs: the override loads with GJS_PATH=$prefix/share/gjs-1.0"
GJS_PATH=$prefix/share/gjs-1.0 gjs -m "$source/examples/quickstart.js" >/dev/null || fail "gjs quick start runs"
ok "gjs quick start runs from the prefix"

# /usr/local and /usr: planned where /usr/bin/python3 and gjs look with
# no variable set.
for std in /usr/local /usr; do
  if ! meson setup "$tmp/build$std" "$source" --prefix=$std "${opts[@]}" >"$tmp/setup-std.log" 2>&1; then
    sed 's/^/# /' "$tmp/setup-std.log"; fail "meson setup --prefix=$std"
  fi
  meson introspect "$tmp/build$std" --installed > "$tmp/installed.json"
  planned () { /usr/bin/python3 -c 'import json, sys
for src, dst in json.load(open(sys.argv[1])).items():
    if dst.endswith(sys.argv[2]):
        print(dst)' "$tmp/installed.json" "$1"; }
  sa_py=$(planned /gi/overrides/Sa.py)
  sa_js=$(planned /overrides/Sa.js)
  if [ -n "$sa_py" ] && /usr/bin/python3 -c 'import os, sys
sys.exit(os.path.dirname(os.path.dirname(os.path.dirname(sys.argv[1]))) not in sys.path)' "$sa_py"; then
    ok "prefix $std: Sa.py goes to $sa_py, on /usr/bin/python3's path"
  else
    fail "prefix $std: Sa.py goes to '$sa_py', not on /usr/bin/python3's path"
  fi
  if [ -n "$sa_js" ] && env -u XDG_DATA_DIRS -u GJS_PATH gjs -c 'print(imports.searchPath.join("\n"))' | \
       grep -qx "$(dirname "$(dirname "$sa_js")")/*"; then
    ok "prefix $std: Sa.js goes to $sa_js, on gjs's default search path"
  else
    fail "prefix $std: Sa.js goes to '$sa_js', not on gjs's default search path"
  fi
  ! grep -q 'set PYTHONPATH' "$tmp/setup-std.log" || fail "prefix $std: setup asks for no PYTHONPATH"
done
echo "1..$n"
