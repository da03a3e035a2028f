"""dto backtest, black-box: reports, determinism, errors."""
import csv
import hashlib
import json
import re
from pathlib import Path

from conftest import write_config

STRATS = [
    "  - id: mac",
    "    type: ma_crossover",
    "    symbols: [AAPL, MSFT]",
    "    allocation: 40000",
    "    params: { fast: 5, slow: 20 }",
    "  - id: orb",
    "    type: orb",
    "    symbols: [SPY]",
    "    allocation: 30000",
    "  - id: vwap",
    "    type: vwap_reversion",
    "    symbols: [AAPL, SPY]",
    "    allocation: 30000",
    "    params: { band_pct: 0.2 }",
]

FILES = ["summary.json", "trades.csv", "orders.csv", "equity.csv",
         "events.jsonl"]

# The demo's reports (config/demo.yaml on data/sample) as the build before
# the backtest speed work (553cd9f, before issue 12's first change) wrote
# them: the SHA-256 of each file, the summary's dto_version left out.
DEMO_SHA256 = {
    "summary.json":
        "d0cb41cbc7ba8c7cc9b5ad2cc4754beefee35c065d0aa83381fa362dbd05364c",
    "trades.csv":
        "ceb1dfac4303b45df2af431de2d15f64b987f7d29a3b86d0bda71cd29c849b6b",
    "orders.csv":
        "4505871d0ef9d5f021d4d3fd334346d3c798d64d560a4308c0cef0a7d3c9260d",
    "fills.csv":
        "dc281e06e913531dce2704460a64fbf89e806c2a0003dc1997bc49ea87c37b29",
    "equity.csv":
        "3661fa0969b66ca1e121f94842d3b28aa714d27e5ea2cdcd0f7caf324778051d",
    "events.jsonl":
        "611d89ee43aa343fda7458b64a5b20a28a76a3ab5ab922eb5c2bb456f2603396",
}


def test_backtest_writes_reports(run, sample_data, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", sample_data, STRATS)
    out = tmp_path / "out"
    r = run("backtest", "--config", cfg, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "TOTAL" in r.stdout and "reports:" in r.stdout
    for f in FILES:
        assert (out / f).exists(), f
    s = json.loads((out / "summary.json").read_text())
    assert s["bars"] == 3 * 3 * 390
    assert s["orders"] > 0 and s["fills"] > 0
    for k in ("total_return", "annual_return", "sharpe", "sortino",
              "max_drawdown", "max_drawdown_duration_s", "win_rate",
              "profit_factor", "avg_win", "avg_loss", "exposure", "trades",
              "fees"):
        assert k in s["total"], k
    assert [x["id"] for x in s["strategies"]] == ["mac", "orb", "vwap"]
    orders = list(csv.DictReader((out / "orders.csv").open()))
    assert len(orders) == s["orders"]
    ids = [o["client_order_id"] for o in orders]
    assert len(set(ids)) == len(ids), "client order ids must be unique"
    assert all(o["state"] in ("filled", "canceled", "expired", "rejected",
                              "replaced") for o in orders)
    # intraday strategies flatten before the close: every trade is closed
    trades = list(csv.DictReader((out / "trades.csv").open()))
    assert trades
    for t in trades:
        assert t["entry_time"][:10] == t["exit_time"][:10]
    # net P&L in the summary is the sum of trade P&L net of fees
    net = sum(float(t["net_pnl"]) for t in trades)
    assert abs(float(s["total"]["net_pnl"]) - net) < 1e-6
    # no strategy here sells short, and shorting is off: bracket exits (one
    # cancels the other) and closing sells must never look like short sales
    assert s["risk_refusals"]["short_not_allowed"] == 0
    assert any(o["type"] == "stop" for o in orders), "bracket stop-losses"


def test_backtest_is_byte_identical(run, sample_data, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", sample_data, STRATS)
    outs = []
    for i in range(2):
        out = tmp_path / f"out{i}"
        r = run("backtest", "--config", cfg, "--out", out, "--quiet")
        assert r.returncode == 0, r.stderr
        outs.append(out)
    for f in FILES:
        a = (outs[0] / f).read_bytes()
        b = (outs[1] / f).read_bytes()
        assert a == b, f"{f} differs between two identical runs"
        assert len(a) > 0


def test_rerun_replaces_reports_whole(run, sample_data, tmp_path):
    """A run into the folder of an earlier one replaces each report with
    exactly what a run into an empty folder writes; a run that fails leaves
    the earlier reports as they were; no temporary file is left behind."""
    cfg = write_config(tmp_path / "c.yaml", sample_data, STRATS)
    fresh, out = tmp_path / "fresh", tmp_path / "out"
    r = run("backtest", "--config", cfg, "--out", fresh, "--quiet")
    assert r.returncode == 0, r.stderr
    # the earlier run: another window, so every report differs
    r = run("backtest", "--config", cfg, "--out", out, "--quiet",
            "--from", "2025-01-07", "--to", "2025-01-08")
    assert r.returncode == 0, r.stderr
    for f in FILES:
        if f != "events.jsonl":
            assert (out / f).read_bytes() != (fresh / f).read_bytes(), f
    r = run("backtest", "--config", cfg, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    for f in FILES:
        assert (out / f).read_bytes() == (fresh / f).read_bytes(), f
    kept = {f: (out / f).read_bytes() for f in FILES}
    # a run that fails late: a bad row far into one file (rows are read as
    # the run goes, so the reports are being written when it fails)
    d = tmp_path / "data"
    d.mkdir()
    for sym in ("AAPL", "MSFT", "SPY"):
        (d / f"{sym}.csv").write_bytes(
            (sample_data / f"{sym}.csv").read_bytes())
    lines = (d / "MSFT.csv").read_text().splitlines()
    k = len(lines) * 3 // 4
    lines[k] = lines[k].split(",")[0] + ",abc,1,1,1,100"
    (d / "MSFT.csv").write_text("\n".join(lines) + "\n")
    bad = write_config(tmp_path / "bad.yaml", d, STRATS)
    r = run("backtest", "--config", bad, "--out", out, "--quiet")
    assert r.returncode == 1
    assert f"MSFT.csv:{k + 1}:" in r.stderr
    for f in FILES:
        assert (out / f).read_bytes() == kept[f], f
    assert not list(out.glob("*.tmp")), list(out.glob("*.tmp"))


def test_from_to_window(run, sample_data, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", sample_data, STRATS)
    out = tmp_path / "out"
    r = run("backtest", "--config", cfg, "--out", out, "--quiet",
            "--from", "2025-01-07", "--to", "2025-01-08")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["bars"] == 3 * 390
    assert s["from"].startswith("2025-01-07")


def test_unknown_strategy_error_has_location(run, sample_data, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", sample_data, [
        "  - id: x", "    type: moonshot", "    symbols: [AAPL]"])
    r = run("backtest", "--config", cfg, "--quiet")
    assert r.returncode == 1
    assert "c.yaml:" in r.stderr
    assert "unknown strategy 'moonshot'" in r.stderr
    assert "ma_crossover" in r.stderr  # lists the known ones


def test_bad_config_value_has_line_and_column(run, sample_data, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", sample_data, [
        "  - id: x", "    type: ma_crossover", "    symbols: [AAPL]",
        "    params: { fast: 50, slow: 20 }"])
    r = run("backtest", "--config", cfg, "--quiet")
    assert r.returncode == 1
    assert "fast" in r.stderr and "slow" in r.stderr
    text = Path(cfg).read_text().splitlines()
    line = next(i for i, l in enumerate(text, 1) if "params:" in l)
    assert f"c.yaml:{line}:" in r.stderr


def test_bad_csv_row_names_file_and_line(run, sample_data, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    for s in ("AAPL", "MSFT", "SPY"):
        (d / f"{s}.csv").write_bytes((sample_data / f"{s}.csv").read_bytes())
    lines = (d / "MSFT.csv").read_text().splitlines()
    lines[10] = lines[10].split(",")[0] + ",abc,1,1,1,100"
    (d / "MSFT.csv").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path / "c.yaml", d, STRATS)
    r = run("backtest", "--config", cfg, "--out", tmp_path / "o", "--quiet")
    assert r.returncode == 1
    assert "MSFT.csv:11:" in r.stderr
    assert "open" in r.stderr
    r = run("backtest", "--config", cfg, "--out", tmp_path / "o", "--quiet",
            "--skip-bad-rows")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["bad_rows"] == 1


def test_missing_data_file(run, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", tmp_path / "nowhere", STRATS)
    r = run("backtest", "--config", cfg, "--quiet")
    assert r.returncode == 1
    assert "nowhere" in r.stderr
    assert "AddressSanitizer" not in r.stderr


def test_demo_reports_as_before_the_speed_work(run, tmp_path):
    """make demo's backtest (its sample data generated as scripts/demo.sh
    does) writes, byte for byte, what it wrote before the
    streaming and speed changes of issue 12, whether the sample data comes
    as the five CSVs, as one .dtob of them, or as one CSV and a .dtob of
    the other four."""
    root = Path(__file__).resolve().parents[2]
    sample = tmp_path / "sample"  # as scripts/demo.sh makes data/sample
    r = run("data", "generate", "--out", sample, "--days", "5", "--start",
            "2025-01-06", "--seed", "42", "--quiet")
    assert r.returncode == 0, r.stderr
    syms = ["AAPL", "MSFT", "SPY", "QQQ", "NVDA"]
    r = run("data", "convert", *[a for s in syms
                                 for a in ("--in", sample / f"{s}.csv")],
            "--out", tmp_path / "all.dtob", "--quiet")
    assert r.returncode == 0, r.stderr
    r = run("data", "convert", *[a for s in syms[1:]
                                 for a in ("--in", sample / f"{s}.csv")],
            "--out", tmp_path / "four.dtob", "--quiet")
    assert r.returncode == 0, r.stderr
    demo = (root / "config" / "demo.yaml").read_text()
    layouts = {
        "csv": [sample / f"{s}.csv" for s in syms],
        "dtob": [tmp_path / "all.dtob"],
        "mixed": [sample / "AAPL.csv", tmp_path / "four.dtob"],
    }
    for name, files in layouts.items():
        data = "data:\n" + "".join(f"  - path: {p}\n" for p in files)
        cfg = re.sub(r"data:\n(  - path: .*\n)+", lambda _: data, demo)
        assert cfg != demo
        (tmp_path / f"{name}.yaml").write_text(cfg)
        out = tmp_path / name
        r = run("backtest", "--config", tmp_path / f"{name}.yaml", "--out",
                out, "--quiet")
        assert r.returncode == 0, r.stderr
        for f, want in DEMO_SHA256.items():
            b = (out / f).read_bytes()
            if f == "summary.json":
                b = re.sub(rb'"dto_version":"[^"]*"', b'"dto_version":""', b)
            assert hashlib.sha256(b).hexdigest() == want, f"{name}: {f}"
