"""Restarts and crashes of `dto run` with a journal: nothing lost, nothing
done twice, books equal to a replay of the fills, and the end the same as
the same session's without a journal and without a stop.

The crash loop kills dto with SIGKILL at random moments and starts it
again; DTO_SOAK_KILLS sets the number of kills (20 here, 200 in make soak).
Its oracle is the uninterrupted run without a journal (its --out reports),
not the journal itself.
"""
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from decimal import ROUND_HALF_UP, Decimal

from books import compare_books, end_state, read_journal, read_out

CONFIG = """\
accounts:
  - id: paper
    cash: 100000
instruments:
  - symbol: AAPL
    asset_class: {asset}
  - symbol: MSFT
    asset_class: {asset}
strategies:
  - id: fast
    type: ma_crossover
    symbols: [AAPL, MSFT]
    allocation: 50000
    params: {{ fast: 2, slow: 5 }}
  - id: orb
    type: orb
    symbols: [AAPL, MSFT]
    allocation: 40000
    params: {{ range: 5m }}
run:
  feed: replay
  speed: {speed}
  state_dir: state
  store: sqlite:dto.db
data:
  - path: {data}/AAPL.csv
  - path: {data}/MSFT.csv
"""

D = Decimal


def prepare(run, tmp_path, speed=0, days=2, calendar="us_equity"):
    data = tmp_path / "data"
    r = run("data", "generate", "--out", data, "--symbols", "AAPL,MSFT",
            "--days", str(days), "--start", "2025-01-06", "--seed", "21",
            "--calendar", calendar, "--quiet")
    assert r.returncode == 0, r.stderr
    cfg = tmp_path / "c.yaml"
    asset = "crypto" if calendar == "crypto" else "equity"
    cfg.write_text(CONFIG.format(speed=speed, data=data, asset=asset))
    r = run("migrate", "up", "--store", f"sqlite:{tmp_path / 'dto.db'}")
    assert r.returncode == 0, r.stderr
    return cfg


def check_books(db):
    """Positions, cash and fills agree; no order overfilled; db intact."""
    con = sqlite3.connect(db)
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    orders = {c: (acct, strat, sym, side, D(q) / 10**8)
              for c, acct, strat, sym, side, q in con.execute(
                  "select cloid, account, strategy, symbol, side, qty "
                  "from orders")}
    pos = {}      # (account, strategy, symbol) -> qty from fills
    flow = D(0)   # cash flow of all fills
    filled = {}
    for cloid, q, px, fee in con.execute(
            "select cloid, qty, price, fee from fills"):
        q, px, fee = D(q) / 10**8, D(px) / 10**8, D(fee) / 10**8
        acct, strat, sym, side, oq = orders[cloid]
        sgn = 1 if side == "buy" else -1
        for key in ((acct, "", sym), (acct, strat, sym)):
            pos[key] = pos.get(key, D(0)) + sgn * q
        # the ledger rounds each fill's value to 1e-8, half away from zero
        value = (q * px).quantize(D("0.00000001"), rounding=ROUND_HALF_UP)
        flow += -sgn * value - fee
        filled[cloid] = filled.get(cloid, D(0)) + q
    for cloid, f in filled.items():
        assert f <= orders[cloid][4], f"{cloid} filled {f} > {orders[cloid][4]}"
    rows = {(a, s, y): (D(q) / 10**8, D(c) / 10**8, D(r) / 10**8,
                        D(f) / 10**8)
            for a, s, y, q, c, r, f in con.execute(
                "select account, strategy, symbol, qty, cost, realized, fees "
                "from positions")}
    for key, q in pos.items():
        assert rows[key][0] == q, (key, rows[key][0], q)
    # cash from the account rows equals the replayed cash flow
    acct_flow = sum(r - c - f for (a, s, y), (q, c, r, f) in rows.items()
                    if s == "")
    assert acct_flow == flow, (acct_flow, flow)
    return con


def events(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def test_clean_restart_resumes(run, tmp_path):
    cfg = prepare(run, tmp_path)
    r = run("run", "--config", cfg, "--max-bars", "300",
            "--log", tmp_path / "a.log")
    assert r.returncode == 0, r.stderr
    con = check_books(tmp_path / "dto.db")
    first = {c for (c,) in con.execute("select cloid from orders")}
    assert first
    r = run("run", "--config", cfg, "--max-bars", "300",
            "--log", tmp_path / "b.log")
    assert r.returncode == 0, r.stderr
    ev = events(tmp_path / "b.log")
    rec = [e for e in ev if e["event"] == "recovery"]
    assert len(rec) == 1 and rec[0]["orders_known"] == len(first)
    sent = [e["cloid"] for e in ev if e["event"] == "order.sent"]
    assert sent, "the second run trades"
    assert not set(sent) & first, "no client order id is issued twice"
    # the second run continued in time: its first event is not before the
    # first run's last bar
    check_books(tmp_path / "dto.db")


CRASH_CONFIG = """\
accounts:
  - id: paper
    cash: 100000
instruments:
  - symbol: AAPL
  - symbol: MSFT
strategies:
  - id: orb
    type: orb
    symbols: [AAPL, MSFT]
    allocation: 40000
    params: {{ range: 10m }}
  - id: fast
    type: ma_crossover
    symbols: [AAPL, MSFT]
    allocation: 50000
    params: {{ fast: 3, slow: 8 }}
fill:
  max_volume_share: 0.002
fees:
  per_share: 0.005
risk:
  strategies:
    orb:
      flatten_before_close: 20m
run:
  feed: replay
  speed: {speed}
  state_dir: {state}
{store}
data:
  - path: {data}/AAPL.csv
  - path: {data}/MSFT.csv
"""


def test_crash_loop(dto_bin, run, tmp_path):
    """SIGKILL at random moments, restart each time, then run to the end of
    the feed: the journal must hold what the same session run without a
    journal and without a stop reports (orders, fills, positions), and the
    last run must end with its cash, P&L, modes and working orders.  On the
    US equity calendar, with bracket orders (orb), partial fills and the risk
    gate's end-of-day flatten."""
    kills = int(os.environ.get("DTO_SOAK_KILLS", "20"))
    days = 10 if kills <= 20 else 40
    data = tmp_path / "data"
    r = run("data", "generate", "--out", data, "--symbols", "AAPL,MSFT",
            "--days", str(days), "--start", "2025-01-06", "--seed", "21",
            "--calendar", "us_equity", "--quiet")
    assert r.returncode == 0, r.stderr
    # the oracle: no journal, no stop
    ocfg = tmp_path / "oracle.yaml"
    ocfg.write_text(CRASH_CONFIG.format(speed=0, state=tmp_path / "ostate",
                                        store="", data=data))
    r = run("run", "--config", ocfg, "--out", tmp_path / "oracle",
            "--log", tmp_path / "oracle.log", timeout=600)
    assert r.returncode == 0, r.stderr
    want = read_out(tmp_path / "oracle")
    assert want["fills"]
    # the session under test: at this speed the overnight wait is 63 ms
    # and the run is bound by its own work, so the kills land while it
    # trades, all along the feed
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CRASH_CONFIG.format(speed=1000000,
                                       state=tmp_path / "state",
                                       store="  store: sqlite:dto.db",
                                       data=data))
    r = run("migrate", "up", "--store", f"sqlite:{tmp_path / 'dto.db'}")
    assert r.returncode == 0, r.stderr
    rnd = random.Random(1234)
    killed = 0
    for i in range(kills):
        log = tmp_path / f"run{i}.log"
        p = subprocess.Popen([dto_bin, "run", "--config", cfg, "--log", log],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        try:
            if i % 2:
                # every other kill once the session trades: how long the
                # start-up takes (a loaded machine, sanitizers) must not
                # decide where the kills land
                end = time.time() + 20
                while p.poll() is None and time.time() < end and not (
                        log.exists() and '"session.start"' in
                        log.read_text()):
                    time.sleep(0.01)
                time.sleep(rnd.uniform(0.0, 0.3))
            else:
                time.sleep(rnd.uniform(0.05, 0.5))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed += 1
            _, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        assert "AddressSanitizer" not in err, err
        assert "assertion" not in err, err
        check_books(tmp_path / "dto.db")
    assert killed >= kills // 2
    # the kills hit the session at many places of the feed, not only at
    # its start-up
    resumed = {e["feed_position"] for i in range(kills)
               if (tmp_path / f"run{i}.log").exists()
               for e in events(tmp_path / f"run{i}.log")
               if e["event"] == "recovery"}
    assert len(resumed) >= min(5, kills // 4), sorted(resumed)
    # a last run to the end of the feed
    r = run("run", "--config", cfg, "--speed", "0", "--log",
            tmp_path / "last.log", "--out", tmp_path / "last", timeout=600)
    assert r.returncode == 0, r.stderr
    con = check_books(tmp_path / "dto.db")
    # every order the paper exchange filled is in the journal exactly once:
    # fills reference known orders (check_books) and fill ids are unique
    dup = con.execute("select count(*) - count(distinct fill_id) from fills"
                      ).fetchone()[0]
    assert dup == 0
    # and it is the session that was never stopped
    got = read_journal(tmp_path / "dto.db")
    compare_books(want, got, f"after {killed} kills")
    last = read_out(tmp_path / "last")["summary"]
    assert end_state(last) == end_state(want["summary"])
