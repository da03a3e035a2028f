"""A hand-computed backtest: a few bars, known fills, known fees.

ma_crossover with fast=1, slow=2 (SMA) is "close above the previous close".
Bars (2025-01-06, 1-minute, from 14:30Z = 09:30 New York):

  bar  open  close   signal                      action
  0    10    10      warming up
  1    11    11      up (first signal, no trade)
  2    10.5  10.5    down (flat, no short)
  3    11    11      up: golden cross           buy 454 (0.5 x 10000 / 11)
  4    11    12      up                          fill 454 @ 11.00 (bar 4 open)
  5    12    11      down: death cross           sell 454
  6    11.5  11      flat (no signal)            fill 454 @ 11.50 (bar 6 open)

Fees 0.01 per share: 4.54 per fill, 9.08 in all.
Realised P&L 454 x (11.50 - 11.00) = 227.00; net 217.92.
Account cash: 100000 - 4994 - 4.54 + 5221 - 4.54 = 100217.92.
"""
import csv
import json

BARS = [
    ("2025-01-06T14:30:00Z", "10", "10", "10", "10"),
    ("2025-01-06T14:31:00Z", "11", "11", "11", "11"),
    ("2025-01-06T14:32:00Z", "10.5", "10.5", "10.5", "10.5"),
    ("2025-01-06T14:33:00Z", "11", "11", "11", "11"),
    ("2025-01-06T14:34:00Z", "11", "12", "11", "12"),
    ("2025-01-06T14:35:00Z", "12", "12", "11", "11"),
    ("2025-01-06T14:36:00Z", "11.5", "11.5", "11", "11"),
]

CONFIG = """\
accounts:
  - id: acct
    cash: 100000
instruments:
  - symbol: TEST
data:
  - path: TEST.csv
strategies:
  - id: s1
    type: ma_crossover
    symbols: [TEST]
    allocation: 10000
    params: {{ fast: 1, slow: 2, kind: sma, position_pct: 0.5,
              exit_before_close: 0s }}
fill:
  model: next_bar_open
  max_volume_share: 1
fees:
  per_share: 0.01
backtest:
  out_dir: {out}
"""


def test_hand_computed_scenario(run, tmp_path):
    with open(tmp_path / "TEST.csv", "w") as f:
        f.write("time,open,high,low,close,volume\n")
        for t, o, h, l, c in BARS:
            f.write(f"{t},{o},{h},{l},{c},1000000\n")
    out = tmp_path / "out"
    (tmp_path / "c.yaml").write_text(CONFIG.format(out=out))
    r = run("backtest", "--config", tmp_path / "c.yaml", "--quiet")
    assert r.returncode == 0, r.stderr

    orders = list(csv.DictReader((out / "orders.csv").open()))
    assert [(o["side"], o["qty"], o["state"], o["avg_fill_price"], o["fees"])
            for o in orders] == [("buy", "454", "filled", "11", "4.54"),
                                 ("sell", "454", "filled", "11.5", "4.54")]
    assert orders[0]["client_order_id"] == "acct-s1-20250106-1"
    assert orders[1]["client_order_id"] == "acct-s1-20250106-2"

    trades = list(csv.DictReader((out / "trades.csv").open()))
    assert len(trades) == 1
    t = trades[0]
    assert (t["side"], t["qty"], t["entry_price"], t["exit_price"]) == \
        ("long", "454", "11", "11.5")
    assert (t["pnl"], t["fees"], t["net_pnl"]) == ("227", "9.08", "217.92")
    assert t["entry_time"] == "2025-01-06T14:34:00Z"
    assert t["exit_time"] == "2025-01-06T14:36:00Z"

    s = json.loads((out / "summary.json").read_text())
    assert s["total"]["start_equity"] == "100000"
    assert s["total"]["end_equity"] == "100217.92"
    assert s["total"]["net_pnl"] == "217.92"
    assert s["total"]["fees"] == "9.08"
    assert s["total"]["trades"] == 1 and s["total"]["wins"] == 1

    eq = list(csv.DictReader((out / "equity.csv").open()))
    assert len(eq) == len(BARS)
    # after bar 4 closes at 12: cash 100000 - 4994 - 4.54, plus 454 x 12
    assert eq[4]["equity"] == "100449.46"
    assert eq[-1]["equity"] == "100217.92"
