"""Backtests on trade data: bars built from trades, fills on trades."""
import csv
import json
import random

CONFIG = """\
accounts:
  - id: acct
    cash: 100000
instruments:
  - symbol: TEST
data:
  - path: trades.csv
    symbol: TEST
    kind: trades
strategies:
  - id: s1
    type: ma_crossover
    symbols: [TEST]
    allocation: 50000
    params: {{ fast: 3, slow: 8, exit_before_close: 0s }}
fill:
  model: trade
  max_volume_share: 1
backtest:
  bar_interval: {interval}
  out_dir: {out}
"""


def write_trades(path, n=3000, seed=11):
    rnd = random.Random(seed)
    px = 5000  # cents
    t0 = 1736173800  # 2025-01-06T14:30:00Z
    prices = []
    with open(path, "w") as f:
        f.write("time,price,size\n")
        t = t0 * 1000
        for i in range(n):
            t += rnd.randint(200, 4000)  # ms
            px = max(100, px + rnd.randint(-5, 5))
            size = rnd.randint(1, 50) * 100
            f.write(f"{t},{px / 100:.2f},{size}\n")
            prices.append(f"{px / 100:.2f}".rstrip("0").rstrip("."))
    return set(prices)


def test_backtest_on_trades(run, tmp_path):
    prices = write_trades(tmp_path / "trades.csv")
    out = tmp_path / "out"
    (tmp_path / "c.yaml").write_text(CONFIG.format(interval="1m", out=out))
    r = run("backtest", "--config", tmp_path / "c.yaml", "--quiet")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["trade_events"] == 3000
    # ~3000 trades over ~1.8 hours: one bar per minute with trades
    assert 80 <= s["bars"] <= 140
    assert s["fills"] > 0
    orders = list(csv.DictReader((out / "orders.csv").open()))
    filled = [o for o in orders if o["state"] == "filled"]
    assert filled
    # the trade fill model fills market orders at trade prices
    for o in filled:
        assert o["avg_fill_price"] in prices, o
    # the same inputs, the same files
    out2 = tmp_path / "out2"
    (tmp_path / "c2.yaml").write_text(CONFIG.format(interval="1m", out=out2))
    r = run("backtest", "--config", tmp_path / "c2.yaml", "--quiet")
    assert r.returncode == 0, r.stderr
    for f in ("orders.csv", "trades.csv", "equity.csv"):
        assert (out / f).read_bytes() == (out2 / f).read_bytes(), f


def test_bad_bar_interval(run, tmp_path):
    write_trades(tmp_path / "trades.csv", n=10)
    (tmp_path / "c.yaml").write_text(CONFIG.format(interval="7ms",
                                                   out=tmp_path / "o"))
    r = run("backtest", "--config", tmp_path / "c.yaml", "--quiet")
    assert r.returncode == 1
    assert "c.yaml:20:17:" in r.stderr and "bar_interval" in r.stderr
