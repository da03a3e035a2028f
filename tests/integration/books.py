"""The books of a `dto run`, read two independent ways, and compared.

- from a run's --out folder (orders.csv, fills.csv, positions.csv,
  summary.json), written by the process from its engine's hooks;
- from the journal (the SQLite store's orders, fills and positions tables),
  written by the journal's writer thread.

Both are normalised into the same plain Python values (Decimal amounts,
integer nanosecond times) so that a run without a journal, uninterrupted,
is the oracle for a run with one, and for a run stopped and restarted.
"""
import csv
import json
import sqlite3
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

D = Decimal
SCALE = D(10) ** 8

# columns compared between the journal and orders.csv (the journal has no
# `reason` and orders.csv no `account`: the client order id holds it)
ORDER_FIELDS = ("strategy", "symbol", "side", "type", "tif", "qty", "limit",
                "stop", "state", "filled", "avg", "fees", "created",
                "updated")


def parse_time(s):
    """'2025-01-06T14:36:00[.fffffffff]Z' -> integer ns since the epoch."""
    assert s.endswith("Z"), s
    s = s[:-1]
    frac = 0
    if "." in s:
        s, f = s.split(".")
        frac = int((f + "000000000")[:9])
    dt = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=timezone.utc)
    return int(dt.timestamp()) * 10**9 + frac


def fx(s):
    return D(s)


def read_out(folder):
    """The books of one process's --out folder."""
    folder = Path(folder)
    orders = {}
    with open(folder / "orders.csv", newline="") as f:
        for r in csv.DictReader(f):
            assert r["client_order_id"] not in orders, r
            orders[r["client_order_id"]] = {
                "strategy": r["strategy"], "symbol": r["symbol"],
                "side": r["side"], "type": r["type"], "tif": r["tif"],
                "qty": fx(r["qty"]), "limit": fx(r["limit_price"]),
                "stop": fx(r["stop_price"]), "state": r["state"],
                "filled": fx(r["filled_qty"]), "avg": fx(r["avg_fill_price"]),
                "fees": fx(r["fees"]), "created": parse_time(r["created"]),
                "updated": parse_time(r["updated"]), "reason": r["reason"]}
    fills = []
    with open(folder / "fills.csv", newline="") as f:
        for r in csv.DictReader(f):
            fills.append((r["client_order_id"], fx(r["qty"]), fx(r["price"]),
                          fx(r["fee"]), parse_time(r["time"])))
    positions = {}
    with open(folder / "positions.csv", newline="") as f:
        for r in csv.DictReader(f):
            key = (r["account"], r["strategy"], r["symbol"])
            assert key not in positions, key
            positions[key] = (fx(r["qty"]), fx(r["cost"]), fx(r["realized"]),
                              fx(r["fees"]))
    summary = json.loads((folder / "summary.json").read_text())
    return {"orders": orders, "fills": fills, "positions": positions,
            "summary": summary}


def read_journal(db):
    """The books of a journal (a SQLite store)."""
    con = sqlite3.connect(db)
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    orders = {}
    for (cloid, strat, sym, side, typ, tif, q, lp, sp, st, filled, avg, fees,
         created, updated) in con.execute(
            "select cloid, strategy, symbol, side, type, tif, qty, "
            "limit_price, stop_price, state, filled, avg_price, fees, "
            "created, updated from orders"):
        orders[cloid] = {
            "strategy": strat, "symbol": sym, "side": side, "type": typ,
            "tif": tif, "qty": D(q) / SCALE, "limit": D(lp) / SCALE,
            "stop": D(sp) / SCALE, "state": st, "filled": D(filled) / SCALE,
            "avg": D(avg) / SCALE, "fees": D(fees) / SCALE,
            "created": created, "updated": updated}
    fills = [(c, D(q) / SCALE, D(p) / SCALE, D(f) / SCALE, t)
             for c, q, p, f, t in con.execute(
                 "select cloid, qty, price, fee, time from fills")]
    positions = {(a, s, y): (D(q) / SCALE, D(c) / SCALE, D(r) / SCALE,
                             D(f) / SCALE)
                 for a, s, y, q, c, r, f in con.execute(
                     "select account, strategy, symbol, qty, cost, realized, "
                     "fees from positions")}
    con.close()
    return {"orders": orders, "fills": fills, "positions": positions}


def cash_from_positions(positions, start_cash):
    """Each account's cash: its start plus what its positions' fills moved
    (realised - cost - fees of the account rows, strategy "")."""
    cash = dict(start_cash)
    for (acct, strat, _), (_, cost, realized, fees) in positions.items():
        if strat == "":
            cash[acct] = cash.get(acct, D(0)) + realized - cost - fees
    return cash


def replay_fills(orders, fills):
    """An independent fold of the fills: per (account, strategy, symbol)
    and (account, "", symbol) the signed quantity, and per account the cash
    flow (fills' values rounded to 1e-8 half away from zero, as the ledger
    does, and fees)."""
    qty, flow = {}, {}
    for cloid, q, px, fee, _ in fills:
        o = orders[cloid]
        acct = cloid.split("-")[0]
        sgn = 1 if o["side"] == "buy" else -1
        for key in ((acct, "", o["symbol"]), (acct, o["strategy"],
                                               o["symbol"])):
            qty[key] = qty.get(key, D(0)) + sgn * q
        value = (q * px).quantize(D("0.00000001"), rounding=ROUND_HALF_UP)
        flow[acct] = flow.get(acct, D(0)) - sgn * value - fee
    return qty, flow


def _fmt_order(cloid, o):
    if o is None:
        return f"{cloid}: missing"
    return f"{cloid}: " + ", ".join(f"{k}={o[k]}" for k in ORDER_FIELDS)


def first_order_difference(want, got):
    """None, or a description of the first order (by creation time, then
    client order id) that differs between want and got."""
    keys = set(want) | set(got)

    def when(c):
        o = want.get(c) or got.get(c)
        return (o["created"], c)

    for c in sorted(keys, key=when):
        w, g = want.get(c), got.get(c)
        if w is None or g is None or any(w[k] != g[k] for k in ORDER_FIELDS):
            fields = [] if w is None or g is None else [
                k for k in ORDER_FIELDS if w[k] != g[k]]
            return (f"first differing order ({len(want)} expected, "
                    f"{len(got)} found; fields {fields}):\n"
                    f"  expected {_fmt_order(c, w)}\n"
                    f"  found    {_fmt_order(c, g)}")
    return None


def first_fill_difference(want, got):
    w, g = sorted(want, key=lambda f: (f[4], f[0], f[1])), \
        sorted(got, key=lambda f: (f[4], f[0], f[1]))
    for i in range(max(len(w), len(g))):
        a = w[i] if i < len(w) else None
        b = g[i] if i < len(g) else None
        if a != b:
            return (f"first differing fill (#{i}; {len(w)} expected, "
                    f"{len(g)} found):\n  expected {a}\n  found    {b}")
    return None


def first_position_difference(want, got):
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k):
            return (f"first differing position {k} (qty, cost, realized, "
                    f"fees):\n  expected {want.get(k)}\n  found    "
                    f"{got.get(k)}")
    return None


def compare_books(want, got, what):
    """Assert that got's orders, fills and positions equal want's; the
    message names the first difference."""
    for diff in (first_order_difference(want["orders"], got["orders"]),
                 first_fill_difference(want["fills"], got["fills"]),
                 first_position_difference(want["positions"],
                                           got["positions"])):
        assert diff is None, f"{what}: {diff}"


def end_state(summary):
    """What must be equal at the end whatever the stops on the way: money,
    modes, the kill switch and the orders still working."""
    return {
        "kill_switch": summary["kill_switch"],
        "working_orders": summary["working_orders"],
        "accounts": [{k: a[k] for k in ("id", "cash", "equity", "realized",
                                         "fees", "mode")}
                     for a in summary["accounts"]],
        "strategies": [{k: s[k] for k in ("id", "cash", "equity", "realized",
                                           "fees", "mode")}
                       for s in summary["strategies"]],
    }
