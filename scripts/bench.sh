#!/bin/sh
# bench.sh BUILD_DIR - run dto's benchmarks and print their figures.
# Results are recorded by hand in bench/README.md with the machine and date.
set -eu
b=$1
echo "== machine"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== backtest throughput and latency (bench_backtest ${BENCH_BARS:-10000000})"
"$b/bench/bench_backtest" "${BENCH_BARS:-10000000}"
