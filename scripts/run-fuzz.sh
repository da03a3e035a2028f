#!/bin/sh
# run-fuzz.sh MODE N HARNESS... - run libFuzzer harnesses.
#   smoke N: each harness runs N inputs (bounded; used by make check)
#   long N:  each harness runs for N seconds (make fuzz)
# Seeds come from tests/fuzz/corpus/<name>/; new inputs go to build/fuzz/corpus/<name>/.
set -eu
fd=${FUZZ_DIR:-build/fuzz}
mode=$1
n=$2
shift 2
for h in "$@"; do
  name=$(basename "$h")
  seeds="tests/fuzz/corpus/$name"
  work="$fd/corpus/$name"
  mkdir -p "$work" "$seeds"
  if [ "$mode" = smoke ]; then
    "$h" -runs="$n" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      "$work" "$seeds" >"$fd/$name.log" 2>&1 ||
      { tail -40 "$fd/$name.log"; echo "fuzz: $name FAILED"; exit 1; }
    echo "fuzz: $name ok ($n runs)"
  else
    "$h" -max_total_time="$n" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
      "$work" "$seeds"
  fi
done
