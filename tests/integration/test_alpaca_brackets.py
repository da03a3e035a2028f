"""Brackets through Alpaca: dto's exit pair (a take-profit limit and a
stop-loss stop for the same quantity, one cancels the other) leaves as one
Alpaca `oco` order, and the stop leg Alpaca creates (with a client order id
of its own) is dto's stop-loss in every report, reconciliation and restart.

- test_bracket_session: the opening-range breakout strategy (every entry a
  bracket) for eight days against the fake, with stream drops, lost,
  duplicated and reordered events and failed POSTs on the way.  At the end
  dto's orders, fills and positions equal the fake's (its stop legs named
  by dto's stop-loss ids, from the links in dto's journal); every pair left
  as one oco POST and no stop-loss was ever posted on its own; the
  long-only strategy never went short at the broker (both exits of a pair
  never filled together); and exits were really taken on both sides.
- test_bracket_crash_and_restart: exits held overnight, dto SIGKILLed while
  pairs are working, the fake fills exits (stop legs among them) while dto
  is down, restart on the same journal: dto finds each stop leg through its
  take-profit, counts every fill once, posts nothing twice, and ends with
  the fake's books.

The fake is the oracle (its /_fake/state and /_fake/log); every process is
bounded in time and stopped in a finally.
"""
import signal
import time
from decimal import Decimal as D

from alpaca_books import (Dto, Market, dump_fake, duplicate_submits,
                          event_name, fake_books, first_short, journal_books,
                          market_args, migrate, oco_leg_names, settle,
                          start_fake, stop_proc, wait_ready, wait_until,
                          write_config, books_differences)

# trading days (2025-01-20 was a holiday): about one breakout a day in
# two of the three symbols
DATES = ("2025-01-13", "2025-01-14", "2025-01-15", "2025-01-16",
         "2025-01-17", "2025-01-21", "2025-01-22", "2025-01-23")
HISTORY = "2025-01-10"
SEED = 23
STEP_MS = 15
# a short range and a near target: both exits are reached within the day
ORB = "range: 10m, rr: 1, position_pct: 0.2"

FAULTS = [
    (0.10, {"drop_trading_stream": True}),
    (0.20, {"http_errors": [{"status": 500, "count": 2, "path": "/v2/orders",
                             "method": "POST"}]}),
    (0.30, {"lose_fill_events": 3}),
    (0.45, {"duplicate_events": 10}),
    (0.60, {"reorder_events": 8}),
    (0.75, {"drop_trading_stream": True, "lose_fill_events": 2}),
]


def sl_cloids(db):
    """dto's stop-loss and take-profit client order ids, from the journal."""
    import json
    import sqlite3
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        roles = {}
        for (p,) in con.execute(
                "select payload from events where type = 'order'"):
            p = json.loads(p)
            roles[p["cloid"]] = p["role"]
    finally:
        con.close()
    return ({c for c, r in roles.items() if r == "stop_loss"},
            {c for c, r in roles.items() if r == "take_profit"})


def assert_pairs_as_oco(state, log, db):
    """Every exit pair went as one oco: each take-profit POSTed with
    order_class oco, no stop-loss POSTed at all, and each oco at the fake
    has its stop leg named by a stop-loss of dto's.  The number of pairs."""
    sls, tps = sl_cloids(db)
    posts = [e for e in log
             if e["method"] == "POST" and e["path"] == "/v2/orders"]
    alone = [e["client_order_id"] for e in posts
             if e["client_order_id"] in sls]
    assert not alone, f"stop-losses posted on their own: {alone[:5]}"
    for e in posts:
        if e["client_order_id"] in tps:
            assert e["order_class"] == "oco", e
    names = oco_leg_names(state, db)
    ocos = [o for o in state["orders"]
            if o["order_class"] == "oco" and o.get("parent_id") is None]
    assert ocos, "no oco order reached the fake"
    legs = {o["parent_id"] for o in state["orders"]
            if o["id"] in names}
    unnamed = [o["client_order_id"] for o in ocos if o["id"] not in legs]
    assert not unnamed, f"oco orders whose stop leg dto does not name: " \
        f"{unnamed[:5]}"
    return len(ocos)


def exits_filled(state, names):
    """How many take-profits (oco parents) and stop legs filled."""
    tp = sum(1 for o in state["orders"] if o["order_class"] == "oco" and
             o.get("parent_id") is None and D(o["filled_qty"]) > 0)
    sl = sum(1 for o in state["orders"] if o["id"] in names and
             D(o["filled_qty"]) > 0)
    return tp, sl


def assert_no_bracket_trouble(lines, what):
    """No failed reconciliation and no refused fill; a bracket that lost
    its cover (a reordered stream can bring the take-profit's OCO cancel
    before the stop leg's fill) has it back later in the log."""
    bad = [e for e in lines if event_name(e) == "reconcile.failed" or
           (event_name(e) == "alert" and e.get("code") == "fill_refused")]
    assert not bad, f"{what}:\n  " + "\n  ".join(str(e) for e in bad[:5])
    open_ = {}
    for e in lines:
        if event_name(e) != "alert" or not e.get("code", "").startswith(
                "bracket_"):
            continue
        b = e["msg"].split()[1]
        if e["code"] == "bracket_unprotected":
            open_.setdefault(b, e)
        elif e["code"] == "bracket_protected":
            open_.pop(b, None)
    assert not open_, f"{what}: brackets left unprotected:\n  " + \
        "\n  ".join(str(e) for e in list(open_.values())[:5])


def test_bracket_session(dto_bin, tmp_path):
    fake = dto = None
    db = tmp_path / "journal.db"
    try:
        fake = start_fake(tmp_path, *market_args(tmp_path, DATES, HISTORY,
                                                 SEED), max_seconds=150)
        migrate(dto_bin, db)
        cfg = write_config(tmp_path / "c.yaml", fake, store=db,
                           strategy="orb", params=ORB)
        dto = Dto(dto_bin, cfg, tmp_path / "out", tmp_path / "dto.log")
        wait_ready(dto, fake)
        market = Market(fake, FAULTS, STEP_MS)
        market.step_to(market.total)
        fake.faults(clear=True)
        settle(dto, fake, db, market.last_step,
               names=lambda st: oco_leg_names(st, db))
        rc = dto.stop(signal.SIGTERM)
        assert rc == 0, f"dto exited with {rc}:\n{dto.stderr()[-3000:]}"

        state, log = fake.state(), fake.log()
        names = oco_leg_names(state, db)
        diffs = books_differences(fake_books(state, names),
                                  journal_books(db))
        assert not diffs, "\n  ".join(diffs)
        pairs = assert_pairs_as_oco(state, log, db)
        assert not duplicate_submits(log)
        short = first_short(state)
        assert short is None, "both exits of a pair filled: " + short
        tp, sl = exits_filled(state, names)
        assert pairs >= 10 and tp >= 2 and sl >= 2, (pairs, tp, sl)
        assert_no_bracket_trouble(dto.lines(), "dto's log")
        ev = state["events"]
        assert any(e["lost"] for e in ev) and \
            any(e["duplicated"] for e in ev) and \
            any(e["reordered"] for e in ev)
        print(f"\nbrackets: {pairs} oco pairs, {tp} take-profits and {sl} "
              f"stop legs filled, {len(state['orders'])} orders")
    finally:
        if dto is not None:
            dto.stop(signal.SIGTERM)
        dump_fake(fake, tmp_path)
        if fake is not None:
            stop_proc(fake.proc)


def test_bracket_crash_and_restart(dto_bin, tmp_path):
    fake = dto = dto2 = None
    db = tmp_path / "journal.db"
    try:
        fake = start_fake(tmp_path, *market_args(tmp_path, DATES, HISTORY,
                                                 SEED), max_seconds=150)
        migrate(dto_bin, db)
        # exits held overnight: pairs work across the kill
        cfg = write_config(tmp_path / "c.yaml", fake, store=db,
                           strategy="orb",
                           params=ORB + ", exit_before_close: 0s")
        dto = Dto(dto_bin, cfg, tmp_path / "out1", tmp_path / "dto1.log")
        wait_ready(dto, fake)
        market = Market(fake, (), STEP_MS)
        names = {}

        def working_pairs():
            st = fake.state()
            names.update(oco_leg_names(st, db))
            return sum(1 for o in st["orders"] if o["id"] in names and
                       o["status"] == "held") >= 2
        market.step_to(market.total, stop_when=working_pairs)
        assert not market.done(), "no two pairs worked at once"
        assert dto.stop(signal.SIGKILL) == -signal.SIGKILL
        t_kill = time.time()
        held = {o["id"] for o in fake.state()["orders"]
                if o["id"] in names and o["status"] == "held"}

        # the market goes on without dto until a stop leg it held fills
        def leg_filled():
            return any(o["id"] in held and D(o["filled_qty"]) > 0
                       for o in fake.state()["orders"])
        market.step_to(market.total, stop_when=leg_filled)
        assert leg_filled(), "no stop leg filled while dto was down"
        assert not any(e["method"] == "POST" and e["time"] > t_kill
                       for e in fake.log())

        dto2 = Dto(dto_bin, cfg, tmp_path / "out2", tmp_path / "dto2.log")
        wait_ready(dto2, fake)
        market.step_to(market.total)
        settle(dto2, fake, db, market.last_step,
               names=lambda st: oco_leg_names(st, db))
        rc = dto2.stop(signal.SIGTERM)
        assert rc == 0, f"dto exited with {rc}:\n{dto2.stderr()[-3000:]}"

        state, log = fake.state(), fake.log()
        names = oco_leg_names(state, db)
        diffs = books_differences(fake_books(state, names),
                                  journal_books(db))
        assert not diffs, "\n  ".join(diffs)
        assert_pairs_as_oco(state, log, db)
        assert not duplicate_submits(log)
        assert first_short(state) is None
        # the stop legs that filled while dto was down are filled in its
        # books, by dto's stop-loss ids
        jb = journal_books(db)
        for o in state["orders"]:
            if o["id"] in held and D(o["filled_qty"]) > 0:
                assert jb["orders"][names[o["id"]]]["filled"] == \
                    D(o["filled_qty"])
        assert_no_bracket_trouble(dto2.lines(), "the log after the restart")
    finally:
        for d in (dto, dto2):
            if d is not None:
                d.stop(signal.SIGTERM)
        dump_fake(fake, tmp_path)
        if fake is not None:
            stop_proc(fake.proc)
