"""dto backtest streams its data and its reports (issue 12), black-box:
a .dtob and the same bars as CSV give the same files, also when the .dtob
is large enough to be read ahead on the stream's own thread; a damaged
block is refused by name and leaves no report; a CSV out of time
order is refused (file and line named) unless backtest.sort_input is set;
backtest.equity_interval samples equity.csv as documented; the summary's
drawdown, Sharpe and Sortino agree with an independent computation from
equity.csv."""
import csv
import json
import math
from pathlib import Path

import pytest

SYMS = ["AAPL", "MSFT", "SPY"]
STRATS = """strategies:
  - id: mac
    type: ma_crossover
    symbols: [AAPL, MSFT]
    allocation: 40000
    params: { fast: 5, slow: 20 }
  - id: orb
    type: orb
    symbols: [SPY]
    allocation: 30000
  - id: vwap
    type: vwap_reversion
    symbols: [AAPL, SPY]
    allocation: 30000
    params: { band_pct: 0.2 }
"""
REPORTS = ["summary.json", "trades.csv", "orders.csv", "fills.csv",
           "equity.csv", "events.jsonl"]


def generate(run, d, days, seed):
    """days trading days of SYMS from 2025-01-06 into d: per-symbol CSVs and
    all.dtob, the same bars converted."""
    r = run("data", "generate", "--out", d, "--symbols", ",".join(SYMS),
            "--days", str(days), "--start", "2025-01-06", "--seed",
            str(seed), "--quiet")
    assert r.returncode == 0, r.stderr
    args = []
    for s in SYMS:
        args += ["--in", d / f"{s}.csv"]
    r = run("data", "convert", *args, "--out", d / "all.dtob", "--quiet")
    assert r.returncode == 0, r.stderr
    return d


@pytest.fixture(scope="module")
def data(tmp_path_factory, run):
    """5 trading days of 3 symbols: per-symbol CSVs, one .dtob, and one CSV
    with a symbol column whose rows of one time come in reverse symbol
    order."""
    d = generate(run, tmp_path_factory.mktemp("stream"), 5, 11)
    rows = []
    for s in SYMS:
        with open(d / f"{s}.csv") as f:
            rd = csv.reader(f)
            header = next(rd)
            rows += [(x[0], s, x) for x in rd]
    rank = {s: -i for i, s in enumerate(SYMS)}
    with open(d / "multi.csv", "w") as f:
        f.write(",".join(header) + ",symbol\n")
        for t, s, x in sorted(rows, key=lambda r: (r[0], rank[r[1]])):
            f.write(",".join(x) + "," + s + "\n")
    # the same rows a symbol at a time: in time order per symbol only
    with open(d / "blocked.csv", "w") as f:
        f.write(",".join(header) + ",symbol\n")
        for t, s, x in rows:
            f.write(",".join(x) + "," + s + "\n")
    return d


@pytest.fixture(scope="module")
def big(tmp_path_factory, run):
    """11 trading days of 3 symbols, 12,870 bars: three full checksum blocks
    of 4,096 records and a part, so the .dtob is read ahead by its own
    thread (binstream); as per-symbol CSVs and one .dtob."""
    return generate(run, tmp_path_factory.mktemp("big"), 11, 12)


def config(path, files, extra=""):
    lines = ["log_level: info", "accounts:", "  - id: main",
             "    cash: 100000", "instruments:"]
    lines += [f"  - symbol: {s}" for s in SYMS]
    lines += ["data:"] + [f"  - path: {p}" for p in files]
    Path(path).write_text("\n".join(lines) + "\n" + STRATS + extra)
    return path


def backtest(run, tmp_path, name, files, extra=""):
    cfg = config(tmp_path / f"{name}.yaml", files, extra)
    out = tmp_path / name
    r = run("backtest", "--config", cfg, "--out", out, "--quiet")
    return r, out


def same_reports(a, b):
    for f in REPORTS:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_dtob_and_csv_give_the_same_reports(run, data, tmp_path):
    r, csv_out = backtest(run, tmp_path, "csv",
                          [data / f"{s}.csv" for s in SYMS])
    assert r.returncode == 0, r.stderr
    r, bin_out = backtest(run, tmp_path, "bin", [data / "all.dtob"])
    assert r.returncode == 0, r.stderr
    same_reports(csv_out, bin_out)
    # one CSV with every symbol, ties in reverse symbol order: merged in
    # (time, instrument) order all the same
    r, multi_out = backtest(run, tmp_path, "multi", [data / "multi.csv"])
    assert r.returncode == 0, r.stderr
    same_reports(csv_out, multi_out)
    # the same data twice is refused, from two files of different kinds too
    r, _ = backtest(run, tmp_path, "twice",
                    [data / "AAPL.csv", data / "all.dtob"])
    assert r.returncode != 0
    assert "two bars for AAPL at 2025-01-06T14:30:00Z" in r.stderr


def test_read_ahead_dtob_gives_the_csv_reports(run, big, tmp_path):
    r, csv_out = backtest(run, tmp_path, "csv",
                          [big / f"{s}.csv" for s in SYMS])
    assert r.returncode == 0, r.stderr
    r, bin_out = backtest(run, tmp_path, "bin", [big / "all.dtob"])
    assert r.returncode == 0, r.stderr
    assert json.loads((bin_out / "summary.json").read_text())["bars"] == \
        11 * 390 * len(SYMS)
    same_reports(csv_out, bin_out)


def test_damaged_block_is_refused_and_leaves_no_report(run, big, tmp_path):
    """A checksum block damaged after three good ones (the reader thread has
    it long before the backtest gets there): refused when the backtest
    reaches it, by its number and records, and no report is left."""
    bad = tmp_path / "bad.dtob"
    raw = bytearray((big / "all.dtob").read_bytes())
    header, syms, rec = 64, 16 * len(SYMS), 56
    raw[header + syms + 12300 * rec + 40] ^= 0x01  # a volume in block 3
    bad.write_bytes(bytes(raw))
    r, out = backtest(run, tmp_path, "bad", [bad])
    assert r.returncode != 0
    last = 11 * 390 * len(SYMS) - 1
    assert (f"{bad}: corrupt: block 3 (records 12288 to {last}): "
            "checksum mismatch") in r.stderr, r.stderr
    # no report, whole or part (events.jsonl is the run's log, not a
    # report: what happened up to the error stays)
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not [n for n in left if n != "events.jsonl"], left


def test_out_of_order_csv_is_refused_unless_sorting(run, data, tmp_path):
    r, out = backtest(run, tmp_path, "blocked", [data / "blocked.csv"])
    assert r.returncode != 0
    # the file and its line: the first MSFT row (header, then 5 days of
    # 390 AAPL rows) is before the last AAPL row
    line = 1 + 5 * 390 + 1
    assert f"{data / 'blocked.csv'}:{line}: row out of time order" in r.stderr
    assert "backtest.sort_input: true" in r.stderr
    assert not (out / "summary.json").exists()
    r, sorted_out = backtest(run, tmp_path, "sorted", [data / "blocked.csv"],
                             "backtest:\n  sort_input: true\n")
    assert r.returncode == 0, r.stderr
    r, bin_out = backtest(run, tmp_path, "bin2", [data / "all.dtob"])
    assert r.returncode == 0, r.stderr
    same_reports(sorted_out, bin_out)


def read_equity(path):
    with open(path) as f:
        return [(r["time"], float(r["equity"]), float(r["drawdown"]))
                for r in csv.DictReader(f)]


def test_equity_interval(run, data, tmp_path):
    r, every = backtest(run, tmp_path, "every", [data / "all.dtob"],
                        "backtest:\n  equity_interval: bar\n")
    assert r.returncode == 0, r.stderr
    r, auto = backtest(run, tmp_path, "auto", [data / "all.dtob"])
    assert r.returncode == 0, r.stderr
    # a short run: "auto" is every bar
    assert (auto / "equity.csv").read_bytes() == \
        (every / "equity.csv").read_bytes()
    r, hourly = backtest(run, tmp_path, "hourly", [data / "all.dtob"],
                         "backtest:\n  equity_interval: 1h\n")
    assert r.returncode == 0, r.stderr
    full = read_equity(every / "equity.csv")
    rows = read_equity(hourly / "equity.csv")
    # By hand: the session is 14:30-21:00 UTC in January, bars end at
    # 14:31 .. 21:00; a row is written for the first sample of the run and
    # the first sample at or after each hour: 14:31, then 15:00 .. 21:00,
    # every day (the next day's 14:31 is a new hour).  The exchange was
    # closed on 2025-01-09 (a national day of mourning).
    days = ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10",
            "2025-01-13"]
    want = [f"{d}T{h}Z" for d in days
            for h in ["14:31:00"] + [f"{x}:00:00" for x in range(15, 22)]]
    assert [t for t, _, _ in rows] == want
    # each row is the every-bar curve's row at that time, drawdown
    # included (measured from the peak of every sample)
    at = {t: (e, dd) for t, e, dd in full}
    for t, e, dd in rows:
        assert (e, dd) == at[t], t
    # the summary does not depend on the sampling
    a = json.loads((every / "summary.json").read_text())
    b = json.loads((hourly / "summary.json").read_text())
    assert a == b


def test_summary_figures_match_an_oracle(run, data, tmp_path):
    r, out = backtest(run, tmp_path, "oracle", [data / "all.dtob"],
                      "backtest:\n  equity_interval: bar\n")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())["total"]
    rows = read_equity(out / "equity.csv")
    start = float(s["start_equity"])
    # max drawdown: over every sample, from the start equity
    peak, mdd = start, 0.0
    for _, e, _ in rows:
        peak = max(peak, e)
        if peak > 0:
            mdd = max(mdd, (peak - e) / peak)
    assert abs(s["max_drawdown"] - mdd) < 1e-9
    # Sharpe and Sortino: daily returns of the day-end equities (the last
    # sample of each day), after the start equity; sample deviation;
    # downside deviation over all days; sqrt(252)
    last = {}
    for t, e, _ in rows:
        last[t[:10]] = e
    daily = [start] + [last[d] for d in sorted(last)]
    ret = [b / a - 1 for a, b in zip(daily, daily[1:])]
    n = len(ret)
    assert n == 5 and s["days"] == 5
    mean = sum(ret) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in ret) / (n - 1))
    down = math.sqrt(sum(x * x for x in ret if x < 0) / n)
    assert abs(s["sharpe"] - mean / sd * math.sqrt(252)) < 2e-6
    if down > 0:
        assert abs(s["sortino"] - mean / down * math.sqrt(252)) < 2e-6
    assert abs(float(s["end_equity"]) - rows[-1][1]) < 1e-9
