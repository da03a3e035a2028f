#!/bin/sh
# bench.sh BUILD_DIR - run dto's benchmarks and print their figures.
#
# Wall-clock figures are medians of several runs, each next to a reference
# measured in the same run.  When valgrind is installed, instruction counts
# per bar (callgrind) are printed too: unlike times they do not depend on
# what else the machine is doing.  Results are recorded in bench/README.md.
set -eu
b=$1
bars=${BENCH_BARS:-10000000}
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== backtest throughput and event-to-order latency; the runner path is backtest_run() on the same bars from a .dtob (bench_backtest $bars)"
"$b/bench/bench_backtest" "$bars" --keep
if command -v valgrind >/dev/null 2>&1; then
  n=1000000
  echo "== instructions per bar (callgrind, $n bars; bars generated outside the count)"
  for what in bare engine runner; do
    # total minus the cost of generating the bars alone (--only with no pass)
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" \
      "$b/bench/bench_backtest" "$n" --only "$what" --keep >/dev/null 2>&1
    total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
    pass=$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
      awk -v f="$what" '(f=="bare" && /:bare_loop /) || (f=="engine" && /:run_engine /) || (f=="runner" && /:backtest_run /) {gsub(",","",$1); print $1; exit}')
    rm -f "$out"
    echo "$what: $(awk -v p="$pass" -v n="$n" 'BEGIN {printf "%.1f", p / n}') instructions per bar (program total $total)"
  done
fi
# the whole process, as users run it; the 100 M bar run (a 5.6 GB file,
# about a minute or more) only with BENCH_HUGE=1
echo "== dto backtest, whole process, on generated .dtob files of $bars and 1,000,000 bars: bars/s and peak RSS (wait4), next to a bare C loop reading the same file (bench_backtest --process)"
"$b/bench/bench_backtest" "$bars" --process "$b/dto"
"$b/bench/bench_backtest" 1000000 --process "$b/dto"
rm -f /tmp/dto-bench-1000000.dtob /tmp/dto-bench-1000000.dtob.yaml
rm -rf /tmp/dto-bench-1000000.dtob.out "/tmp/dto-bench-$bars.dtob.out"
if [ "${BENCH_HUGE:-0}" = 1 ]; then
  echo "== the same on 100,000,000 bars (BENCH_HUGE=1; needs ~6 GB in /tmp)"
  "$b/bench/bench_backtest" 100000000 --process "$b/dto"
  rm -rf /tmp/dto-bench-100000000.dtob.out
fi
echo "== the service's inbound queue: throughput next to a bare ring buffer, push-to-pop latency (bench_inq)"
"$b/bench/bench_inq" "${BENCH_INQ_EVENTS:-6000000}"
echo "== the service path: bars through the queue to orders at the paper exchange, with snapshots; event-to-order latency (bench_service)"
"$b/bench/bench_service" "${BENCH_SERVICE_BARS:-1000000}" "${BENCH_SERVICE_LATENCY_BARS:-200000}"
echo "== indicators: SMA(20), EMA(20), RSI(14) next to Tulip Indicators' C code on the same 10 M values (bench_indicators; Tulip built by bench/tulip.sh)"
tulip=$(bench/tulip.sh "$b") || tulip=
"$b/bench/bench_indicators" "${BENCH_INDICATOR_VALUES:-10000000}" 7 "$tulip"
echo "== pre-trade risk check, all checks on, and the kill switch with 1,000 working orders (bench_risk)"
"$b/bench/bench_risk"
echo "== durable journal appends, synchronous=FULL, next to bare SQLite / libpq (bench_store; PostgreSQL: a throwaway server with fsync on)"
scripts/pg-test.sh run --durable "$b/bench/bench_store" "${BENCH_EVENTS:-200000}" 1000 "$b" 3
echo "== journal writer: group commit, synchronous=FULL SQLite, next to bare SQLite (bench_journal)" && "$b/bench/bench_journal" "${BENCH_JOURNAL_EVENTS:-500000}" "$b" 3
echo "== restart after a crash with 1,000,000 journaled events (bench_restart)"
"$b/bench/bench_restart" "${BENCH_RESTART_EVENTS:-1000000}" "$b"
echo "== dto run as users run it: whole process, 39,000 bars, next to dto backtest on the same data (bench_run.py)"
/usr/bin/python3 bench/bench_run.py "$b/dto" "$(mktemp -d)"
echo "== the Alpaca path on loopback: a market data message leaving the fake Alpaca to dto's order arriving there, next to a bare client and bare libcurl requests to the same fake (bench_alpaca.py)"
/usr/bin/python3 bench/bench_alpaca.py "$b/dto" "$b/bench/bench_curl" "$(mktemp -d)"
echo "== the HTTP API: authenticated GET /api/v1/positions under wrk, next to nginx serving a static file of the same size (bench_api.py)"
/usr/bin/python3 bench/bench_api.py "$b/dto" "$(mktemp -d)"
echo "== monitoring: GET /metrics with 100 instruments next to nginx serving the same bytes, and a threshold crossing to the notification at a loopback webhook (bench_monitor.py)"
/usr/bin/python3 bench/bench_monitor.py "$b/dto" "$(mktemp -d)"
echo "== backups: dto backup full / verify / restore of a ~1 GB SQLite store, next to sqlite3 .backup + zstd -3 -T1 and zstd -d + cp (bench_backup.py)"
w=$(mktemp -d); /usr/bin/python3 bench/bench_backup.py "$b/dto" "$w"; rm -rf "$w"
