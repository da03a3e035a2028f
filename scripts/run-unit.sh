#!/bin/sh
# run-unit.sh - run each cmocka test program; print one summary line.
# Exit non-zero when any program fails.
set -u
pass=0
fail=0
failed=""
for t in "$@"; do
  if "$t"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    failed="$failed $(basename "$t")"
  fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "unit: failing programs:$failed"; exit 1; }
