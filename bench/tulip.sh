#!/bin/sh
# tulip.sh BUILD_DIR - fetch Tulip Indicators' C source and build it for
# bench_indicators; print the path of the shared library it built.
#
# Tulip Indicators (https://tulipindicators.org, LGPL-3.0) is the reference
# bench_indicators measures dto's SMA, EMA and RSI against.  Its source is
# never committed to dto and never linked into dto: at bench time this script
# takes the npm package `tulind` (Tulip's Node.js binding, which carries the
# whole C library as one amalgamated file, external/tiamalgamation.c) with
# `npm pack`, and compiles that file alone into BUILD_DIR/tulip/libtulip.so,
# which bench_indicators loads with dlopen().  Nothing of the binding's
# JavaScript or C++ is built or run.  The library is built with the bench's
# optimisation flags (-O3 -DNDEBUG, so Tulip's asserts are off, as dto's
# are in the bench build).
#
# A second run reuses the library.  TULIND_VERSION picks the package version
# (default below; it carries Tulip Indicators 0.8.4).  When npm, the
# registry or the compiler is not available the script says why on stderr
# and exits 1; bench.sh then runs bench_indicators without Tulip, and it
# measures against its own equivalent loops instead (and says so).
set -eu
b=${1:?usage: tulip.sh BUILD_DIR}
ver=${TULIND_VERSION:-0.8.20}
cc=${CC:-cc}
dir=$b/tulip/$ver
lib=$dir/libtulip.so
if [ -s "$lib" ]; then
  echo "$lib"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "tulip.sh: npm not found" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && timeout 120 npm pack --silent "tulind@$ver" >pack.out 2>pack.err); then
  echo "tulip.sh: npm pack tulind@$ver failed: $(tail -n 3 "$tmp/pack.err" | tr '\n' ' ')" >&2
  exit 1
fi
tgz=$tmp/$(tail -n 1 "$tmp/pack.out")
tar -xzf "$tgz" -C "$tmp"
src=$tmp/package/external/tiamalgamation.c
[ -f "$src" ] || { echo "tulip.sh: $src not in tulind@$ver" >&2; exit 1; }
# Keep the license and the source next to the library, for reference.
cp "$tmp/package/LICENSE" "$src" "$tmp/package/external/indicators.h" "$dir/"
if ! "$cc" -std=c99 -O3 -DNDEBUG -fPIC -shared -w -o "$tmp/libtulip.so" "$src" -lm; then
  echo "tulip.sh: compiling Tulip's tiamalgamation.c failed" >&2
  exit 1
fi
mv "$tmp/libtulip.so" "$lib"
echo "$lib"
