#!/usr/bin/env python3
"""bench_run.py DTO_BIN WORKDIR - `dto run` measured as users run it.

The same generated feed (5 symbols x 20 trading days of 1-minute bars,
ma_crossover + orb + vwap_reversion, bracket exits, flatten_before_close)
through the whole process, replay speed 0:
  - `dto backtest` on the same data (the reference: same engine, no session),
  - `dto run` without a store,
  - `dto run` with a SQLite journal (write-ahead, a checkpoint per step that
    journals anything, synchronous=FULL),
  - a restart of that journaled session from its last checkpoint
    (`--max-bars 1`: open, restore, reconcile, one bar, close).
Each is run 3 times; the median wall time and the largest peak RSS
(wait4's ru_maxrss) are printed, with ratios to the reference.
"""
import os
import statistics
import subprocess
import sys
import time

dto, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
syms = "AAA,BBB,CCC,DDD,EEE"
data = os.path.join(work, "data")
subprocess.run([dto, "data", "generate", "--out", data, "--symbols", syms,
                "--days", "20", "--start", "2025-01-06", "--seed", "3",
                "--quiet"], check=True)
CFG = """log_level: warn
accounts:
  - id: paper
    cash: 1000000
instruments:
{ins}
strategies:
  - id: mac
    type: ma_crossover
    symbols: [{syms}]
    params: {{ fast: 5, slow: 20 }}
  - id: orb
    type: orb
    symbols: [{syms}]
    params: {{ range: 15m }}
  - id: vwap
    type: vwap_reversion
    symbols: [{syms}]
risk:
  strategies:
    orb: {{ flatten_before_close: 10m }}
run:
  feed: replay
  speed: 0
  state_dir: {state}
{store}
data:
{data}
"""


def cfg(name, store):
    p = os.path.join(work, name + ".yaml")
    with open(p, "w") as f:
        f.write(CFG.format(
            ins="\n".join(f"  - symbol: {s}" for s in syms.split(",")),
            syms=", ".join(syms.split(",")),
            state=os.path.join(work, name + "-state"),
            store=f"  store: sqlite:{os.path.join(work, name + '.db')}"
            if store else "",
            data="\n".join(f"  - path: {data}/{s}.csv"
                           for s in syms.split(","))))
    return p


def measure(args, before=None):
    times, rss = [], 0
    for _ in range(3):
        if before:
            before()
        t0 = time.monotonic()
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        times.append(time.monotonic() - t0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"failed: {' '.join(args)}")
        rss = max(rss, ru.ru_maxrss)
    return statistics.median(times), rss


def fresh_db(name):
    def f():
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(os.path.join(work, name + ".db" + suffix))
            except FileNotFoundError:
                pass
        subprocess.run(["rm", "-rf", os.path.join(work, name + "-state")])
        subprocess.run([dto, "migrate", "up", "--store",
                        "sqlite:" + os.path.join(work, name + ".db")],
                       check=True, stdout=subprocess.DEVNULL)
    return f


nbars = 5 * 20 * 390
plain, journaled = cfg("plain", False), cfg("journal", True)
rows = []
bt = measure([dto, "backtest", "--config", plain, "--out",
              os.path.join(work, "bt")])
rows.append(("dto backtest (reference)", bt))
rows.append(("dto run, no store", measure(
    [dto, "run", "--config", plain, "--out", os.path.join(work, "o1")],
    before=lambda: subprocess.run(["rm", "-rf",
                                   os.path.join(work, "plain-state")]))))
rows.append(("dto run, SQLite journal + checkpoints", measure(
    [dto, "run", "--config", journaled], before=fresh_db("journal"))))
# a restart from the journal the last run left (end of feed: the feed is
# replaced by one more bar so the restart has something to do)
rows.append(("restart from the checkpoint, 1 bar", measure(
    [dto, "run", "--config", journaled, "--max-bars", "1"])))
print(f"feed: {nbars} bars (5 symbols x 20 days), 3 strategies")
for name, (t, rss) in rows:
    print(f"{name:42s} {t * 1000:8.1f} ms  {nbars / t / 1e6:6.2f} M bars/s"
          f"  {t / bt[0]:5.2f}x reference  peak RSS {rss / 1024:6.1f} MiB")
