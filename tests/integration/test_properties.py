"""The two properties of `dto run` with a journal, against an oracle that
does not use the code under test: the same session run without a store and
without interruption, read from its --out reports.

1. Journal on == journal off: with `run.store`, a session makes exactly the
   orders, fills, positions and cash it makes without one; and the journal's
   own tables hold exactly those books.
2. Restart == never stopped: a session stopped anywhere (--max-bars at
   random bars, SIGTERM, SIGKILL at random moments) and restarted until the
   end of the feed ends with the journal holding the same orders, fills and
   positions as the uninterrupted run's reports, and the same cash, equity,
   realised P&L, fees, risk modes, kill switch and working orders.

Operator actions (kill switch on and off, a reload of the limits) are given
to the oracle as `--at-bar N:ACTION`, so they happen at the same feed step
in every run; across restarts they are the real thing: a stop, then
`dto kill [--release]` or an edited configuration, then a restart.

Everything is bounded: generated data of a few days, speed 0 except where a
signal must land while the session runs.
"""
import json
import random
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from books import (D, cash_from_positions, compare_books, end_state,
                   read_journal, read_out, replay_fills)

START_CASH = D(100000)

STRATEGIES = {
    "ma": """\
  - id: mac
    type: ma_crossover
    symbols: [AAPL, MSFT]
    allocation: 40000
    params: {fast: 3, slow: 8, allow_short: true}
""",
    "orb": """\
  - id: orb
    type: orb
    symbols: [AAPL, MSFT]
    allocation: 30000
    params: {range: 10m, rr: 1.5, allow_short: true}
""",
    "vwap": """\
  - id: vwr
    type: vwap_reversion
    symbols: [AAPL, MSFT]
    allocation: 30000
    params: {band_pct: 0.05, stop_pct: 0.2, warmup: 10m, allow_short: true}
""",
}
IDS = {"ma": "mac", "orb": "orb", "vwap": "vwr"}


def make_config(path, data, calendar, strategies, *, store=None,
                partial=True, flatten=True, max_qty=None, on_stop=None):
    """A configuration of the strategies named (keys of STRATEGIES) on the
    generated data; store: a sqlite path or None."""
    asset = "crypto" if calendar == "crypto" else "equity"
    text = f"""\
log_level: info
accounts:
  - id: paper
    cash: {START_CASH}
    allow_short: true
instruments:
  - symbol: AAPL
    asset_class: {asset}
    shortable: true
  - symbol: MSFT
    asset_class: {asset}
    shortable: true
data:
  - path: {data}/AAPL.csv
  - path: {data}/MSFT.csv
strategies:
"""
    text += "".join(STRATEGIES[s] for s in strategies)
    # partial fills: a small share of each bar's volume per fill
    text += "fill:\n  max_volume_share: {}\n".format(
        "0.0005" if partial else "1")
    text += "fees:\n  per_share: 0.005\n  min_per_order: 1\n"
    text += "risk:\n  defaults:\n    max_order_qty: {}\n".format(
        max_qty if max_qty is not None else 100000)
    if flatten:
        # the risk gate's end-of-day flatten, 20 minutes before the close,
        # on the first strategy (the others exit by their own rule)
        text += "  strategies:\n    {}:\n      flatten_before_close: 20m\n" \
            .format(IDS[strategies[0]])
    text += "run:\n  feed: replay\n  speed: 0\n"
    text += f"  state_dir: {Path(path).parent / 'state'}\n"
    if store:
        text += f"  store: sqlite:{store}\n"
    if on_stop:
        text += f"  on_stop: {on_stop}\n"
    Path(path).write_text(text)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory, run):
    """Generated bars: 3 US equity sessions and 2 days of 24/7 crypto."""
    out = {}
    for cal, days in (("us_equity", 3), ("crypto", 2)):
        d = tmp_path_factory.mktemp(cal)
        r = run("data", "generate", "--out", d, "--symbols", "AAPL,MSFT",
                "--days", days, "--start", "2025-01-06", "--seed", "21",
                "--calendar", cal, "--quiet")
        assert r.returncode == 0, r.stderr
        out[cal] = d
    return out


def nbars(folder):
    return sum(sum(1 for _ in open(f)) - 1 for f in Path(folder).glob("*.csv"))


def log_events(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def run_ok(run, *args, timeout=120):
    r = run("run", *args, timeout=timeout)
    assert r.returncode == 0, r.stderr
    assert "AddressSanitizer" not in r.stderr, r.stderr
    return r


def migrate(run, db):
    r = run("migrate", "up", "--store", f"sqlite:{db}")
    assert r.returncode == 0, r.stderr


def check_replay(books, summary):
    """The journal's positions and the reported cash equal an independent
    fold of the journal's fills."""
    qty, flow = replay_fills(books["orders"], books["fills"])
    for key, q in qty.items():
        assert books["positions"][key][0] == q, (key, q)
    acct = next(a for a in summary["accounts"] if a["id"] == "paper")
    assert D(acct["cash"]) == START_CASH + flow.get("paper", D(0)), \
        (acct["cash"], START_CASH + flow.get("paper", D(0)))


# ---- property 1: the journal changes nothing --------------------------------

def p1_cases():
    # every strategy alone on the calendar with closes, all of them together
    # (so each on both calendars) with the operator actions
    cases = []
    for s in ("ma", "orb", "vwap"):
        cases.append(pytest.param("us_equity", [s], {}, id=f"{s}-us_equity"))
    for cal in ("us_equity", "crypto"):
        cases.append(pytest.param(cal, ["orb", "ma", "vwap"],
                                  {"kill": True}, id=f"all-kill-{cal}"))
        cases.append(pytest.param(cal, ["vwap", "ma", "orb"],
                                  {"reload": True}, id=f"all-reload-{cal}"))
    cases.append(pytest.param("us_equity", ["orb", "ma"],
                              {"partial": False, "flatten": False},
                              id="orb-ma-whole-fills-us_equity"))
    return cases


@pytest.mark.parametrize("cal,strategies,opt", p1_cases())
def test_journal_changes_nothing(run, data, tmp_path, cal, strategies, opt):
    partial = opt.get("partial", True)
    flatten = opt.get("flatten", True)
    n = nbars(data[cal])
    actions = []
    if opt.get("kill"):
        actions += ["--at-bar", f"{n // 3}:kill",
                    "--at-bar", f"{n // 2}:release"]
    runs = {}
    for name, store in (("off", None), ("on", "dto.db")):
        d = tmp_path / name
        d.mkdir()
        cfg = make_config(d / "c.yaml", data[cal], cal, strategies,
                          store=store, partial=partial, flatten=flatten)
        acts = list(actions)
        if opt.get("reload"):
            # tighter limits from a third of the feed on, as SIGHUP would
            # read them from the edited file
            tight = make_config(d / "tight.yaml", data[cal], cal, strategies,
                                store=store, partial=partial,
                                flatten=flatten, max_qty=5)
            acts += ["--at-bar", f"{n // 3}:reload={tight}"]
        if store:
            migrate(run, d / "dto.db")
        r = run_ok(run, "--config", cfg, "--out", d / "out", "--log",
                   d / "run.log", *acts)
        assert "ended (end of feed)" in r.stdout
        runs[name] = d
    off, on = runs["off"], runs["on"]
    # the reports of the two runs are the same, byte for byte
    for f in ("orders.csv", "fills.csv", "positions.csv", "summary.json"):
        a, b = (off / "out" / f).read_text(), (on / "out" / f).read_text()
        assert a == b, f"{f} differs with the journal on"
    want = read_out(off / "out")
    # the journal's own tables hold the same books
    got = read_journal(on / "dto.db")
    compare_books(want, got, "journal vs the run without one")
    check_replay(got, want["summary"])

    # the case did exercise what it names
    assert want["orders"] and want["fills"]
    ev = log_events(off / "run.log")
    names = {e["event"] for e in ev}
    if "orb" in strategies:
        assert any(o["type"] in ("stop", "limit") and o["tif"] == "gtc"
                   for o in want["orders"].values()), "no bracket exits"
    if partial:
        per = {}
        for c, *_ in want["fills"]:
            per[c] = per.get(c, 0) + 1
        assert max(per.values()) >= 2, "no partial fills"
    if flatten and cal == "us_equity":
        assert "risk.flatten" in names, "the end-of-day flatten never ran"
    if opt.get("kill"):
        assert "risk.kill_switch" in names
        assert "risk.kill_switch_released" in names
    if opt.get("reload"):
        assert "risk.reloaded" in names
        assert any(e.get("check") == "max_order_qty" for e in ev)


def test_journal_positions_account_for_the_cash(run, data, tmp_path):
    """The journal keeps no cash: a cold restart (and anyone reading the
    journal) takes each account's cash as its start plus realised - cost -
    fees of its position rows.  That must be the cash the engine had, also
    with fractional quantities and positions that flip through zero
    (crypto, shorts allowed)."""
    d = tmp_path / "on"
    d.mkdir()
    cfg = make_config(d / "c.yaml", data["crypto"], "crypto", ["ma"],
                      store="dto.db")
    migrate(run, d / "dto.db")
    run_ok(run, "--config", cfg, "--out", d / "out", "--log", d / "run.log")
    got = read_journal(d / "dto.db")
    summary = read_out(d / "out")["summary"]
    check_replay(got, summary)
    acct = next(a for a in summary["accounts"] if a["id"] == "paper")
    cash = cash_from_positions(got["positions"], {"paper": START_CASH})
    assert cash["paper"] == D(acct["cash"]), (
        f"start + realized - cost - fees of the journal's position rows is "
        f"{cash['paper']}, the engine's cash {acct['cash']}")


# ---- property 2: a restart changes nothing ------------------------------------

P2_STRATS = ["orb", "ma", "vwap"]


def oracle(run, data, root, cal, actions=(), **kw):
    """The uninterrupted run without a journal: its --out books."""
    d = root / "oracle"
    d.mkdir()
    cfg = make_config(d / "c.yaml", data[cal], cal, P2_STRATS, **kw)
    r = run_ok(run, "--config", cfg, "--out", d / "out", "--log",
               d / "run.log", *actions)
    assert "ended (end of feed)" in r.stdout
    return read_out(d / "out")


def journaled(run, data, root, cal, **kw):
    d = root / "journal"
    d.mkdir()
    cfg = make_config(d / "c.yaml", data[cal], cal, P2_STRATS,
                      store=d / "dto.db", **kw)
    migrate(run, d / "dto.db")
    return d, cfg


def finish_and_compare(run, d, cfg, want, what):
    """Run to the end of the feed, then compare the journal and the end
    state with the oracle."""
    r = run_ok(run, "--config", cfg, "--speed", "0", "--out", d / "final",
               "--log", d / "final.log")
    assert "ended (end of feed)" in r.stdout
    got = read_journal(d / "dto.db")
    final = read_out(d / "final")
    compare_books(want, got, what)
    assert end_state(final["summary"]) == end_state(want["summary"]), what
    check_replay(got, final["summary"])


@pytest.mark.parametrize("cal,seed", [("us_equity", 1), ("us_equity", 2),
                                      ("crypto", 3)])
def test_restart_after_clean_stops(run, data, tmp_path, cal, seed):
    """Stopped with --max-bars at random bars (twice), restarted each time."""
    want = oracle(run, data, tmp_path, cal)
    d, cfg = journaled(run, data, tmp_path, cal)
    n = nbars(data[cal])
    rnd = random.Random(seed)
    a = rnd.randrange(1, n // 2)
    b = rnd.randrange(1, n - a - 1)
    for i, k in enumerate((a, b)):
        r = run_ok(run, "--config", cfg, "--max-bars", k, "--log",
                   d / f"run{i}.log")
        assert "stopped (--max-bars reached)" in r.stdout
    finish_and_compare(run, d, cfg, want,
                       f"{cal}: stopped after {a} and {a + b} bars")


def bars_up_to(folder, t):
    """How many bars of the feed start at or before t (ns)."""
    from books import parse_time
    n = 0
    for f in Path(folder).glob("*.csv"):
        for line in list(open(f))[1:]:
            n += parse_time(line.split(",")[0]) <= t
    return n


def test_restart_inside_a_bracket_entry(run, data, tmp_path):
    """Stopped while a bracket entry fills bit by bit (each fill places its
    own exits): after the restart the next fills place theirs too."""
    want = oracle(run, data, tmp_path, "us_equity")
    fills = {}
    for c, q, _, _, t in want["fills"]:
        fills.setdefault(c, []).append(t)
    entry = next(c for c, o in sorted(want["orders"].items())
                 if o["strategy"] == "orb" and o["type"] == "market"
                 and len(fills.get(c, ())) >= 3)
    k = bars_up_to(data["us_equity"], fills[entry][1])
    d, cfg = journaled(run, data, tmp_path, "us_equity")
    run_ok(run, "--config", cfg, "--max-bars", k, "--log", d / "a.log")
    finish_and_compare(run, d, cfg, want,
                       f"us_equity: stopped after {k} bars, between the "
                       f"2nd and 3rd fill of bracket entry {entry}")


def _stop_with(dto_bin, cfg, log, sig, when, speed):
    p = subprocess.Popen([dto_bin, "run", "--config", cfg, "--speed",
                          str(speed), "--log", log],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(when)
        if p.poll() is None:
            p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert "AddressSanitizer" not in err, err
    if sig == signal.SIGTERM:
        assert p.returncode == 0, err
    return out


def test_restart_after_sigterm(dto_bin, run, data, tmp_path):
    want = oracle(run, data, tmp_path, "us_equity")
    d, cfg = journaled(run, data, tmp_path, "us_equity")
    rnd = random.Random(7)
    for i in range(2):
        out = _stop_with(dto_bin, cfg, d / f"run{i}.log", signal.SIGTERM,
                         rnd.uniform(0.3, 1.5), 20000)
        assert "stopped by signal" in out or "ended" in out
    finish_and_compare(run, d, cfg, want, "us_equity: two SIGTERM stops")


def test_restart_after_sigkill(dto_bin, run, data, tmp_path):
    want = oracle(run, data, tmp_path, "us_equity")
    d, cfg = journaled(run, data, tmp_path, "us_equity")
    rnd = random.Random(11)
    for i in range(3):
        _stop_with(dto_bin, cfg, d / f"run{i}.log", signal.SIGKILL,
                   rnd.uniform(0.2, 1.2), 20000)
    finish_and_compare(run, d, cfg, want, "us_equity: three SIGKILLs")


@pytest.mark.parametrize("cal", ["us_equity", "crypto"])
def test_operator_actions_across_restarts(run, data, tmp_path, cal):
    """Kill switch on, off, and new limits, each applied at a stop: the
    session stops, a person acts (dto kill, dto kill --release, an edited
    configuration), and it restarts.  The oracle gets the same actions at
    the same bars with --at-bar."""
    n = nbars(data[cal])
    k, m, q = n // 4, n // 2, (3 * n) // 4
    d, cfg = journaled(run, data, tmp_path, cal)
    tight = make_config(d / "tight.yaml", data[cal], cal, P2_STRATS,
                        store=d / "dto.db", max_qty=5)
    want = oracle(run, data, tmp_path, cal, actions=(
        "--at-bar", f"{k}:kill", "--at-bar", f"{m}:release",
        "--at-bar", f"{q}:reload={tight}"))
    run_ok(run, "--config", cfg, "--max-bars", k, "--log", d / "a.log")
    r = run("kill", "--config", cfg, "--reason", "test")
    assert r.returncode == 0, r.stderr
    run_ok(run, "--config", cfg, "--max-bars", m - k, "--log", d / "b.log")
    r = run("kill", "--config", cfg, "--release", "--reason", "test")
    assert r.returncode == 0, r.stderr
    run_ok(run, "--config", cfg, "--max-bars", q - m, "--log", d / "c.log")
    Path(cfg).write_text(Path(tight).read_text())  # the edited file
    finish_and_compare(run, d, cfg, want,
                       f"{cal}: kill at {k}, release at {m}, reload at {q}")
