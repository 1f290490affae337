#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# smartasync as a meson subproject of a small downstream project
# (tests/downstream/), with default_library=static and then both: the
# subproject builds the library and nothing else (no test, example or
# bench target; -Dintrospection=disabled with -Ddocumentation=true sets
# up), and the program links and runs.
set -euo pipefail

source=$1
tmp=$(mktemp -d /tmp/sa-downstream-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
ok () { n=$((n + 1)); echo "ok $n $*"; }
fail () { n=$((n + 1)); echo "not ok $n $*"; echo "1..$n"; exit 1; }

cp -r "$source/tests/downstream" "$tmp/project"
mkdir -p "$tmp/project/subprojects"
ln -s "$source" "$tmp/project/subprojects/smartasync"

for lib in static both; do
  build=$tmp/build-$lib
  if ! meson setup "$build" "$tmp/project" -Ddefault_library=$lib >"$tmp/setup.log" 2>&1; then
    sed 's/^/# /' "$tmp/setup.log"; fail "default_library=$lib: setup"
  fi
  if ! meson compile -C "$build" >"$tmp/compile.log" 2>&1; then
    sed 's/^/# /' "$tmp/compile.log"; fail "default_library=$lib: build"
  fi
  extra=$(meson introspect "$build" --targets | /usr/bin/python3 -c 'import json, sys
names = [t["name"] for t in json.load(sys.stdin)]
print(" ".join(n for n in names if n != "app" and not n.startswith("smartasync-1") and "sa-enum-types" not in n))')
  [ -z "$extra" ] || fail "default_library=$lib: only the library is built, not: $extra"
  ok "default_library=$lib: the subproject builds the library alone"
  out=$("$build/app") || fail "default_library=$lib: the program runs"
  [ "$out" = "smartasync 1.0.0: 42" ] || fail "default_library=$lib: the program says '$out'"
  ok "default_library=$lib: the program links and runs ($out)"
done
echo "1..$n"
