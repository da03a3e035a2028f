"""dto indicators against the independent reference values."""
import csv
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REF = ROOT / "tests" / "data" / "ttrc_indicators_reference.csv"


def test_indicators_match_reference(run, tmp_path):
    rows = list(csv.DictReader(REF.open()))
    data = tmp_path / "ttrc.csv"
    with data.open("w") as f:
        f.write("date,open,high,low,close,volume\n")
        for r in rows:
            f.write(",".join(r[k] for k in ("date", "open", "high", "low",
                                            "close", "volume")) + "\n")
    r = run("indicators", "--data", data, "--indicator", "sma:20",
            "--indicator", "ema:20", "--indicator", "rsi:14",
            "--indicator", "atr:14", "--indicator", "bb:20:2",
            "--indicator", "vwap:20")
    assert r.returncode == 0, r.stderr
    out = list(csv.reader(r.stdout.splitlines()))
    header, body = out[0], out[1:]
    assert len(body) == len(rows)
    cols = {"sma_20": "sma_20", "ema_20": "ema_20", "rsi_14": "rsi_14",
            "atr_14": "atr_14", "bb_lower_20_2": "bb_lower_20_2",
            "bb_middle_20_2": "bb_middle_20_2",
            "bb_upper_20_2": "bb_upper_20_2", "vwap_20": "vwap_20"}
    checked = 0
    for name, ref in cols.items():
        i = header.index(name)
        for got, want in zip(body, rows):
            if want[ref] == "":
                assert got[i] == "", (name, got[0])
                continue
            g, w = float(got[i]), float(want[ref])
            assert abs(g - w) <= 1e-9 * max(1.0, abs(w)), (name, got[0], g, w)
            checked += 1
    assert checked > 10000


def test_indicators_bad_spec(run, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("time,open,high,low,close,volume\n"
                    "2025-01-06T14:30:00Z,1,1,1,1,1\n")
    r = run("indicators", "--data", data, "--indicator", "sma:0")
    assert r.returncode == 2
    assert "sma" in r.stderr
