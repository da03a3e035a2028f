"""dto run: paper trading on a generated feed in simulated real time."""
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from books import D, read_out, replay_fills

CONFIG = """\
accounts:
  - id: paper
    cash: 100000
instruments:
  - symbol: AAPL
  - symbol: MSFT
strategies:
  - id: fast
    type: ma_crossover
    symbols: [AAPL, MSFT]
    allocation: 50000
    params: {{ fast: 2, slow: 5 }}
run:
  feed: generate
  gen_seed: 3
  gen_days: 2
  speed: {speed}
"""


def _lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def test_run_stops_cleanly_on_sigint(dto_bin, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=6000))
    log = tmp_path / "run.log"
    p = subprocess.Popen([dto_bin, "run", "--config", tmp_path / "c.yaml",
                          "--log", log], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        # wait until it has traded, then interrupt it
        while time.time() < deadline:
            if log.exists() and "order.fill" in log.read_text():
                break
            time.sleep(0.1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "stopped by signal" in out
    assert "working orders 0" in out
    every = _lines(log)
    # the service's state changes frame the session (test_service.py)
    assert [e["to"] for e in every if e["event"] == "lifecycle"] == [
        "reconciling", "ready", "draining", "stopped"]
    events = [e for e in every if e["event"] != "lifecycle"]
    names = [e["event"] for e in events]
    assert names[0] == "session.start"
    assert names[-1] == "session.stop"
    assert events[-1]["reason"] == "signal"
    assert "order.sent" in names and "order.fill" in names
    fill = next(e for e in events if e["event"] == "order.fill")
    for k in ("ts", "level", "cloid", "symbol", "side", "qty", "price", "fee"):
        assert k in fill




def test_run_sigterm(dto_bin, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=1))
    p = subprocess.Popen([dto_bin, "run", "--config", tmp_path / "c.yaml",
                          "--log", tmp_path / "l.log"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert "stopped by signal" in out


def _stop_event(log):
    return [e for e in _lines(log) if e["event"] == "session.stop"][-1]


def test_run_to_end_of_feed(run, tmp_path):
    # gen_days 2 of two symbols: 2 x 2 x 390 bars
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=0))
    r = run("run", "--config", tmp_path / "c.yaml", "--log", tmp_path / "l.log",
            "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "ended (end of feed)" in r.stdout
    assert "bars 1560" in r.stdout
    assert _stop_event(tmp_path / "l.log")["reason"] == "end_of_feed"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stop_reason"] == "end_of_feed"
    assert summary["bars"] == 1560
    # --max-bars equal to the feed's length is still the end of the feed
    r = run("run", "--config", tmp_path / "c.yaml", "--max-bars", "1560",
            "--log", tmp_path / "l2.log")
    assert r.returncode == 0, r.stderr
    assert "ended (end of feed)" in r.stdout
    assert _stop_event(tmp_path / "l2.log")["reason"] == "end_of_feed"


def test_max_bars_is_not_end_of_feed(run, tmp_path):
    """#26: a run stopped by --max-bars says so, in the summary line, the
    session.stop event and summary.json."""
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=0))
    r = run("run", "--config", tmp_path / "c.yaml", "--max-bars", "500",
            "--log", tmp_path / "l.log", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "stopped (--max-bars reached)" in r.stdout
    assert "end of feed" not in r.stdout
    assert "bars 500" in r.stdout
    stop = _stop_event(tmp_path / "l.log")
    assert stop["reason"] == "max_bars" and stop["bars"] == 500
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stop_reason"] == "max_bars" and summary["bars"] == 500


def test_sigterm_stop_reason_in_reports(dto_bin, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=2000))
    p = subprocess.Popen([dto_bin, "run", "--config", tmp_path / "c.yaml",
                          "--log", tmp_path / "l.log", "--out",
                          tmp_path / "out"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "stopped by signal" in out
    assert _stop_event(tmp_path / "l.log")["reason"] == "signal"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stop_reason"] == "signal"


@pytest.mark.parametrize("speed", ["nan", "NaN", "inf", "-inf", "infinity",
                                   "-1", "1e10", "1x", ""])
def test_speed_must_be_a_finite_number(run, tmp_path, speed):
    """#24: strtod accepts nan and inf; dto run does not."""
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=0))
    r = run("run", "--config", tmp_path / "c.yaml", "--speed", speed,
            "--max-bars", "5", "--log", tmp_path / "l.log")
    assert r.returncode == 2, (speed, r.stdout, r.stderr)
    assert "--speed" in r.stderr


def test_at_bar_usage_errors(run, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=0))
    for bad in ("kill", "3:explode", "x:kill", "3:reload="):
        r = run("run", "--config", tmp_path / "c.yaml", "--at-bar", bad)
        assert r.returncode == 2, bad
        assert "--at-bar" in r.stderr


REPLAY = """\
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
    allocation: 50000
    params: {{ range: 5m }}
  - id: fast
    type: ma_crossover
    symbols: [AAPL, MSFT]
    allocation: 40000
    params: {{ fast: 2, slow: 5 }}
fill:
  max_volume_share: 0.001
fees:
  per_share: 0.01
run:
  feed: replay
  speed: 0
  state_dir: state
{run}
data:
  - path: {data}/AAPL.csv
  - path: {data}/MSFT.csv
"""


@pytest.fixture(scope="module")
def replay_data(tmp_path_factory, run):
    d = tmp_path_factory.mktemp("replay")
    r = run("data", "generate", "--out", d, "--symbols", "AAPL,MSFT",
            "--days", "2", "--start", "2025-01-06", "--seed", "5", "--quiet")
    assert r.returncode == 0, r.stderr
    return d


def test_out_reports_agree_with_a_replay_of_the_fills(run, replay_data,
                                                     tmp_path):
    """--out: orders.csv has every order once (finished ones as they
    finish, then the working ones), fills.csv every fill, and positions.csv
    and summary.json equal a fold of fills.csv done here."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(REPLAY.format(run="", data=replay_data))
    r = run("run", "--config", cfg, "--max-bars", "1000", "--out",
            tmp_path / "out", "--log", tmp_path / "l.log")
    assert r.returncode == 0, r.stderr
    b = read_out(tmp_path / "out")
    header = (tmp_path / "out" / "orders.csv").read_text().splitlines()[0]
    assert header == ("client_order_id,strategy,symbol,side,type,tif,qty,"
                      "limit_price,stop_price,state,filled_qty,"
                      "avg_fill_price,fees,created,updated,reason")
    assert b["orders"] and b["fills"]
    # the log's orders are all in orders.csv, in their last state
    events = _lines(tmp_path / "l.log")
    sent = {e["cloid"] for e in events if e["event"] == "order.sent"}
    assert sent <= set(b["orders"])
    # every order's filled quantity, fees and average price are its fills'
    per = {}
    for c, q, px, fee, _ in b["fills"]:
        f = per.setdefault(c, [D(0), D(0), D(0)])
        f[0] += q
        f[1] += q * px
        f[2] += fee
    for c, o in b["orders"].items():
        q, value, fees = per.get(c, [D(0), D(0), D(0)])
        assert o["filled"] == q and o["fees"] == fees, c
        if q:
            assert abs(o["avg"] - value / q) <= D("0.00000001"), c
    # positions and cash: an independent fold of the fills
    qty, flow = replay_fills(b["orders"], b["fills"])
    for key, q in qty.items():
        assert b["positions"][key][0] == q, key
    assert set(b["positions"]) == set(qty)
    acct = b["summary"]["accounts"][0]
    assert D(acct["cash"]) == D(100000) + flow["paper"]
    assert b["summary"]["fills"] == len(b["fills"])
    assert b["summary"]["working_orders"] == sum(
        1 for o in b["orders"].values()
        if o["state"] not in ("filled", "canceled", "rejected", "expired",
                              "replaced"))
    # no temporary file is left behind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "fills.csv", "orders.csv", "positions.csv", "summary.json"]


WORKING = ("new", "pending_new", "accepted", "partially_filled",
           "pending_cancel")


def _working(out):
    b = read_out(out)
    return [o for o in b["orders"].values() if o["state"] in WORKING]


@pytest.mark.parametrize("policy", ["keep", "cancel", None])
def test_on_stop_policy(run, replay_data, tmp_path, policy):
    """run.on_stop: a stop before the end of the feed keeps working orders
    (keep: the default with a store) or cancels the day orders (cancel: the
    default without one); the end of the feed always cancels them."""
    extra = f"  on_stop: {policy}" if policy else ""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(REPLAY.format(run=extra, data=replay_data))
    keep = policy == "keep"  # no store here: the default is cancel
    # bars chosen so that slowly filling day orders are working at the stop
    r = run("run", "--config", cfg, "--max-bars", "601", "--out",
            tmp_path / "a", "--log", tmp_path / "a.log")
    assert r.returncode == 0, r.stderr
    working = _working(tmp_path / "a")
    day = [o for o in working if o["tif"] == "day"]
    stop = _stop_event(tmp_path / "a.log")
    assert stop["on_stop"] == ("keep" if keep else "cancel")
    if keep:
        assert day, "no day order was working at the stop"
    else:
        assert not day
        # and the run without the policy does have them working: the
        # comparison is not vacuous
        cfg2 = tmp_path / "k.yaml"
        cfg2.write_text(REPLAY.format(run="  on_stop: keep",
                                      data=replay_data))
        r = run("run", "--config", cfg2, "--max-bars", "601", "--out",
                tmp_path / "k", "--log", tmp_path / "k.log")
        assert r.returncode == 0, r.stderr
        assert [o for o in _working(tmp_path / "k") if o["tif"] == "day"]
    # the end of the feed cancels whatever the policy
    r = run("run", "--config", cfg, "--out", tmp_path / "b", "--log",
            tmp_path / "b.log")
    assert r.returncode == 0, r.stderr
    assert not [o for o in _working(tmp_path / "b") if o["tif"] == "day"]
    assert _stop_event(tmp_path / "b.log")["on_stop"] == "cancel"


def test_on_stop_keep_is_the_default_with_a_store(run, replay_data, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(REPLAY.format(run="  store: sqlite:dto.db",
                                 data=replay_data))
    r = run("migrate", "up", "--store", f"sqlite:{tmp_path / 'dto.db'}")
    assert r.returncode == 0, r.stderr
    r = run("run", "--config", cfg, "--max-bars", "601", "--log",
            tmp_path / "a.log", "--out", tmp_path / "a")
    assert r.returncode == 0, r.stderr
    assert _stop_event(tmp_path / "a.log")["on_stop"] == "keep"
    working = {c for c, o in read_out(tmp_path / "a")["orders"].items()
               if o["state"] in WORKING}
    assert working
    con = sqlite3.connect(tmp_path / "dto.db")
    rows = dict(con.execute("select cloid, state from orders"))
    assert all(rows[c] not in ("canceled", "filled") for c in working)
    # the restart restores them
    r = run("run", "--config", cfg, "--max-bars", "5", "--log",
            tmp_path / "b.log")
    assert r.returncode == 0, r.stderr
    rec = [e for e in _lines(tmp_path / "b.log") if e["event"] == "recovery"]
    assert rec and rec[0]["working_orders"] == len(working)
