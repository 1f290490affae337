#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# meson install into a staging directory gives a usable library: the quick
# start, compiled with only `pkg-config --cflags --libs smartasync-1` from
# there, links and runs; the GIR and typelib are installed.
set -euo pipefail

builddir=$1
source=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

meson install -C "$builddir" --destdir "$stage" --no-rebuild --quiet >/dev/null

pcfile=$(find "$stage" -name smartasync-1.pc | head -n 1)
if [ -z "$pcfile" ]; then
  echo "not ok 1 smartasync-1.pc installed"; exit 1
fi
echo "ok 1 smartasync-1.pc installed"

# The staged .pc names the final prefix; point it at the staging copy.
mkdir -p "$stage/pc"
sed "s|^prefix=\(.*\)|prefix=$stage\1|" "$pcfile" > "$stage/pc/smartasync-1.pc"
export PKG_CONFIG_PATH=$stage/pc
cc -o "$stage/quickstart" "$source" $(pkg-config --cflags --libs smartasync-1)
echo "ok 2 quick start compiles against the installed pkg-config"

libdir=$(dirname "$(find "$stage" -name 'libsmartasync-1.so' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$stage/quickstart" >/dev/null
echo "ok 3 quick start runs against the installed library"

if find "$stage" -name Sa-1.gir | grep -q . && find "$stage" -name Sa-1.typelib | grep -q .; then
  echo "ok 4 Sa-1.gir and Sa-1.typelib installed"
else
  echo "not ok 4 Sa-1.gir and Sa-1.typelib installed"; exit 1
fi
echo "1..4"
