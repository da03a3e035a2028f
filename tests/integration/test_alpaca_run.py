"""`dto run` trading through Alpaca, end to end, against the fake Alpaca
(tests/fakes/alpaca) on loopback: the acceptance of issue 9.

- test_session_with_every_fault: a session of more than 1,000 orders while
  every fault of the fake is injected at spread-out moments; at the end
  dto's orders, fills and positions equal the fake's exactly, no client
  order id was submitted twice, and no order left while a reconciliation
  was pending.
- test_crash_and_restart: dto SIGKILLed mid-session, the fake fills its
  working orders while it is down, dto restarted on the same journal: it
  reconciles and trades on, no duplicate order, no lost fill, the same
  books as the fake's.
- test_refused_configurations: missing keys and `run.feed: replay` with an
  Alpaca account are refused before anything is sent.
- test_start_without_history: a market with no bar yet (nothing to warm
  up on) starts and trades.
- test_fill_between_reconciliation_queries: an order that fills between
  the queries of one reconciliation counts once and is not adopted.

Beyond equal books the session tests check invariants of the strategy and
of the protocol: the long-only strategy never holds a short position at
the broker, a 429's Retry-After is honoured before the order is sent
again, and dto's log has no error, alert or failed reconciliation.

The fake is the oracle (its /_fake/state and /_fake/log).  The test drives
the simulated market itself, one bar every STEP_MS, so that each fault is
injected at a known bar.  Every wait is bounded, the fake runs with
--max-seconds, and every process is stopped in a finally.
"""
import signal
import time
from decimal import Decimal as D

from alpaca_books import (SECRET, Dto, Market, books_differences,
                          duplicate_submits, dto_env, dump_fake, event_name,
                          fake_books, first_short, is_reconcile_ok,
                          journal_books, log_time, market_args, migrate,
                          out_books, posts_by_cloid, settle, start_fake,
                          stop_proc, wait_ready, wait_until, write_config)

# five trading days without a holiday (the fake's own generated bars
# would include 2025-01-09, a day the NYSE was closed, so dto rightly
# sends nothing on it): 1950 bars of 3 symbols, ~1,400 orders
DATES = ("2025-01-13", "2025-01-14", "2025-01-15", "2025-01-16",
         "2025-01-17")
HISTORY = "2025-01-10"      # a day of the past the fake serves by REST
SEED = 11
STEP_MS = 20                # one bar every 20 ms
MIN_ORDERS = 1000
RETRY_AFTER = 1             # seconds, in the 429 answers


def assert_no_trouble(lines, what):
    """No error line, no alert and no failed reconciliation in a dto log:
    every injected fault is one dto is built to ride through.  A position
    that disagrees for a moment while the market moves between the
    queries of a reconciliation (reconcile.position and its "unreconciled"
    alert) is allowed as long as the reconciliation then succeeds: dto
    asks again."""
    def bad(e):
        name = event_name(e)
        if name in ("reconcile.failed", "risk.instrument_halted"):
            return True
        if name == "alert":
            return e.get("code") != "unreconciled"
        return e.get("level") == "error" and name != "reconcile.position"
    found = [e for e in lines if bad(e)]
    assert not found, f"{what}: {len(found)} error/alert lines, the " \
        "first:\n  " + "\n  ".join(str(e) for e in found[:5])


def fake_args(tmp_path, days=len(DATES), history=True):
    """The fake's options: bars of the first `days` dates, after a day of
    history (dto warms its strategies on it: alpaca.warmup_bars)."""
    return market_args(tmp_path, DATES[:days], HISTORY if history else None,
                       SEED)


# ------------------------------------------------------------ assertions
def assert_books_equal(fake_state, dto_books, what):
    diffs = books_differences(fake_books(fake_state), dto_books)
    assert not diffs, f"{what} differ from the fake's:\n  " + \
        "\n  ".join(diffs)


def assert_no_double_submit(log, dto_books):
    bad = duplicate_submits(log)
    assert not bad, "client order ids submitted twice:\n  " + \
        "\n  ".join(bad[:10])
    posts = posts_by_cloid(log)
    # orders the fake never took: refused before sending, or refused by
    # the fake (every POST of them answered with an error)
    fake_ok = {c for c, ps in posts.items()
               if any(200 <= (p[1] or 0) < 300 for p in ps)}
    for c, o in dto_books["orders"].items():
        if c not in fake_ok:
            assert o["state"] in ("rejected", "canceled") and \
                o["filled"] == 0, (c, o, posts.get(c))


RECONCILE_QUERIES = (("GET", "/v2/orders"), ("GET", "/v2/positions"),
                     ("GET", "/v2/account/activities/FILL"))


def assert_no_order_before_reconcile(log, dto_lines):
    """After every trading stream connection (the first included), dto
    reconciled before its next order POST: the fake got the queries of a
    reconciliation (open orders, positions, fills) after the connection,
    and dto logged reconcile.ok after them and before that POST.  The
    fake's log and dto's are both on the wall clock.  How many connections
    were followed by an order."""
    conns = [e for e in log if e["path"] == "/stream"]
    assert conns, "dto never connected the trading stream"
    oks = sorted(log_time(e) for e in dto_lines if is_reconcile_ok(e))
    posts = [e for e in log
             if e["method"] == "POST" and e["path"] == "/v2/orders"]
    checked = 0
    for c in conns:
        nxt = next((p for p in posts if p["seq"] > c["seq"]), None)
        if nxt is None:
            continue
        checked += 1
        between = [e for e in log if c["seq"] < e["seq"] < nxt["seq"]]
        first = {}
        for e in between:
            first.setdefault((e["method"], e["path"]), e)
        missing = [q for q in RECONCILE_QUERIES if q not in first]
        assert not missing, (
            f"order {nxt['client_order_id']} POSTed (log seq {nxt['seq']}) "
            f"after the trading stream connection at log seq {c['seq']} "
            f"with no {missing} in between")
        began = max(first[q]["time"] for q in RECONCILE_QUERIES)
        ok = [t for t in oks if began <= t <= nxt["time"]]
        assert ok, (f"order {nxt['client_order_id']} POSTed at "
                    f"{nxt['time']:.6f} after the trading stream "
                    f"connection at {c['time']:.6f} (log seq {c['seq']}) "
                    f"and the reconciliation queries from {began:.6f}, "
                    f"with no reconcile.ok in between (reconcile.ok at: "
                    f"{[t for t in oks if t >= c['time'] - 5][:5]})")
    return checked


def assert_faults_hit(fake_state, log, injected):
    """Every injected fault really happened."""
    ev = fake_state["events"]
    drops = sum(1 for _, f in FAULTS if f.get("drop_trading_stream"))
    assert sum(1 for e in log if e["path"] == "/stream") >= 1 + drops, \
        "the trading stream was not reconnected after each drop"
    drops = sum(1 for _, f in FAULTS if f.get("drop_data_stream"))
    assert sum(1 for e in log if e["path"] == "/v2/iex") >= 1 + drops, \
        "the data stream was not reconnected after each drop"
    faulted = [e for e in log if e.get("fault")]
    assert any(e["status"] == 500 and e["method"] == "POST" for e in faulted)
    assert any(e["status"] == 429 and e["method"] == "POST" for e in faulted)
    assert any(e["lost"] for e in ev), "no fill event was lost"
    assert any(e["duplicated"] for e in ev), "no event was duplicated"
    assert any(e["reordered"] for e in ev), "no event was reordered"
    assert any(e["method"] == "POST" and e["path"] == "/v2/orders" and
               e["status"] == 403 for e in log), "no order was rejected"
    assert any(e["event"] == "rejected" for e in ev), \
        "no order was rejected on the stream"
    on = [t for _, f, t in injected if f.get("delay_ms")]
    off = [t for _, f, t in injected if f.get("delay_ms") == 0]
    assert on and off and any(on[0] < e["time"] < off[0] for e in log), \
        "no request was delayed"
    f = fake_state["faults"]
    assert not f["http"] and f["reject_next_orders"] == 0 and \
        f["lose_fill_events"] == 0, f"faults left unused: {f}"


def assert_429_honoured(log):
    """After a 429 on an order POST with Retry-After: S, no order POST
    arrives for S seconds."""
    posts = [e for e in log
             if e["method"] == "POST" and e["path"] == "/v2/orders"]
    n = 0
    for i, e in enumerate(posts):
        if e["status"] != 429:
            continue
        n += 1
        nxt = posts[i + 1] if i + 1 < len(posts) else None
        if nxt is not None:
            gap = nxt["time"] - e["time"]
            assert gap >= RETRY_AFTER - 0.05, (
                f"429 with Retry-After: {RETRY_AFTER} on the POST of "
                f"{e['client_order_id']} (log seq {e['seq']}), and the next "
                f"order POST ({nxt['client_order_id']}, seq {nxt['seq']}) "
                f"came {gap * 1000:.1f} ms later")
    return n


def successful_posts(log):
    return [e for e in log if e["method"] == "POST" and
            e["path"] == "/v2/orders" and 200 <= (e["status"] or 0) < 300]


# ------------------------------------------------------------ the tests
# (share of the session's bars, fault): every fault of the fake, spread out
FAULTS = [
    (0.05, {"drop_trading_stream": True}),
    (0.12, {"drop_data_stream": True}),
    # long enough for a periodic reconciliation to run delayed: the market
    # moves between its queries
    (0.16, {"delay_ms": 100}),
    (0.24, {"delay_ms": 0}),
    (0.26, {"http_errors": [{"status": 500, "count": 3, "path": "/v2/orders",
                             "method": "POST"}]}),
    (0.33, {"http_errors": [{"status": 429, "count": 2, "path": "/v2/orders",
                             "method": "POST", "retry_after": RETRY_AFTER}]}),
    (0.40, {"lose_fill_events": 6}),
    (0.47, {"duplicate_events": 20}),
    (0.54, {"reorder_events": 12}),
    (0.61, {"reject_next_order": True}),
    (0.66, {"reject_next_order": {"mode": "stream"}}),
    (0.72, {"drop_trading_stream": True, "lose_fill_events": 2}),
    (0.80, {"duplicate_events": 6, "reorder_events": 6,
            "http_errors": [{"status": 500, "count": 1}]}),
    (0.88, {"drop_data_stream": True, "drop_trading_stream": True}),
]


def test_session_with_every_fault(dto_bin, tmp_path):
    """Five days of three symbols, one bar every STEP_MS, every fault of
    the fake on the way; then the fake is the oracle."""
    t_start = time.time()
    fake = dto = None
    db = tmp_path / "journal.db"
    try:
        fake = start_fake(tmp_path, *fake_args(tmp_path), max_seconds=170)
        migrate(dto_bin, db)
        cfg = write_config(tmp_path / "c.yaml", fake, store=db)
        dto = Dto(dto_bin, cfg, tmp_path / "out", tmp_path / "dto.log")
        wait_ready(dto, fake)
        market = Market(fake, FAULTS, STEP_MS)
        market.step_to(market.total)
        assert market.done()
        fake.faults(clear=True)
        settle(dto, fake, db, market.last_step)
        rc = dto.stop(signal.SIGTERM)
        assert rc == 0, f"dto exited with {rc}:\n{dto.stderr()[-3000:]}"

        state, log, lines = fake.state(), fake.log(), dto.lines()
        assert len(state["orders"]) >= MIN_ORDERS, \
            f"only {len(state['orders'])} orders reached the fake"
        jb, ob = journal_books(db), out_books(tmp_path / "out")
        assert_books_equal(state, jb, "the journal's books")
        assert_books_equal(state, ob, "the --out reports")
        assert_no_double_submit(log, jb)
        n = assert_no_order_before_reconcile(log, lines)
        assert n >= 4, f"only {n} connections were followed by an order"
        assert assert_429_honoured(log) >= 1
        assert_no_trouble(lines, "dto's log")
        # a long-only strategy never holds a short position at the broker
        short = first_short(state)
        assert short is None, "the long-only strategy went short: " + short
        assert SECRET not in dto.stderr() + (tmp_path / "dto.log").read_text()
        assert_faults_hit(state, log, market.injected)
        # for the record (pytest -s): the session's size, and its time
        print("\nsession: %d orders at the fake, %d fills, %d trading "
              "stream connections, %.0f s" %
              (len(state["orders"]), len(state["activities"]), n,
               time.time() - t_start))
    finally:
        if dto is not None:
            dto.stop(signal.SIGTERM)
        dump_fake(fake, tmp_path)
        if fake is not None:
            stop_proc(fake.proc)


CRASH_DAYS = 3          # 1170 bars
CRASH_FAULTS = [
    (120, {"duplicate_events": 10, "reorder_events": 6}),
    (250, {"drop_trading_stream": True}),
    (700, {"lose_fill_events": 3}),
    (820, {"drop_trading_stream": True, "duplicate_events": 6}),
]
KILL_AT = 500           # bar at and after which dto is SIGKILLed (day 2)
DOWN_BARS = 120         # bars published while dto is down


def test_crash_and_restart(dto_bin, tmp_path):
    """SIGKILL just after an order left, the market fills it while dto is
    down, the same configuration and journal again: dto reconciles, trades
    on, and ends with the fake's books."""
    fake = dto = dto2 = None
    db = tmp_path / "journal.db"
    try:
        fake = start_fake(tmp_path, *fake_args(tmp_path, CRASH_DAYS),
                          max_seconds=150)
        migrate(dto_bin, db)
        cfg = write_config(tmp_path / "c.yaml", fake, store=db)
        dto = Dto(dto_bin, cfg, tmp_path / "out1", tmp_path / "dto1.log")
        wait_ready(dto, fake)
        market = Market(fake, CRASH_FAULTS, STEP_MS)
        market.step_to(KILL_AT)

        # kill just after dto sent an order that is still working
        def working_order():
            time.sleep(0.06)
            return any(o["status"] in ("new", "accepted")
                       for o in fake.state()["orders"])
        market.step_to(KILL_AT + 60, stop_when=working_order)
        killed_at = market.index
        assert dto.stop(signal.SIGKILL) == -signal.SIGKILL
        t_kill = time.time()
        at_kill = fake.state()
        open_at_kill = {o["client_order_id"] for o in at_kill["orders"]
                        if o["status"] in ("new", "accepted",
                                           "partially_filled")}
        assert open_at_kill, "no order was working when dto was killed"
        journal_at_kill = journal_books(db)

        # the market goes on without dto: its working orders fill
        market.step_to(killed_at + DOWN_BARS)
        down = fake.state()
        filled_while_down = [
            o["client_order_id"] for o in down["orders"]
            if o["client_order_id"] in open_at_kill and
            D(o["filled_qty"]) > 0]
        assert filled_while_down, "nothing filled while dto was down"
        assert sum(1 for e in fake.log()
                   if e["method"] == "POST" and e["time"] > t_kill) == 0

        t_restart = time.time()
        dto2 = Dto(dto_bin, cfg, tmp_path / "out2", tmp_path / "dto2.log")
        wait_ready(dto2, fake)
        # reconciled: the orders that filled while it was down are filled
        # in its books before the market moves on
        def caught_up():
            jb = journal_books(db)
            return all(c in jb["orders"] and jb["orders"][c]["filled"] >
                       journal_at_kill["orders"].get(
                           c, {"filled": D(0)})["filled"]
                       for c in filled_while_down)
        wait_until(caught_up, 10, 0.1,
                   "the fills made while dto was down in its journal")

        market.step_to(market.total)
        fake.faults(clear=True)
        settle(dto2, fake, db, market.last_step)
        rc = dto2.stop(signal.SIGTERM)
        assert rc == 0, f"dto exited with {rc}:\n{dto2.stderr()[-3000:]}"

        state, log = fake.state(), fake.log()
        jb = journal_books(db)
        assert_books_equal(state, jb, "the journal's books")
        assert_no_double_submit(log, jb)
        # no lost fill: every fill of the fake is one of dto's
        fb = fake_books(state)
        for c, fl in fb["fills"].items():
            assert jb["fills"].get(c) == fl, (c, fl, jb["fills"].get(c))
        # no duplicate order: one fake order per client order id, and the
        # journal's ids are unique (a dict) and cover the fake's
        assert set(fb["orders"]) <= set(jb["orders"])
        # dto traded again after the restart
        after = [e for e in successful_posts(log) if e["time"] > t_restart]
        assert len(after) >= 50, \
            f"only {len(after)} orders after the restart"
        n = assert_no_order_before_reconcile(
            [e for e in log if e["time"] > t_restart],
            dto2.lines())
        assert n >= 1
        assert_no_trouble(dto.lines(), "the log before the crash")
        assert_no_trouble(dto2.lines(), "the log after the restart")
        short = first_short(state)
        assert short is None, "the long-only strategy went short: " + short
        assert len(state["orders"]) >= 500
    finally:
        for d in (dto, dto2):
            if d is not None:
                d.stop(signal.SIGTERM)
        dump_fake(fake, tmp_path)
        if fake is not None:
            stop_proc(fake.proc)


def test_refused_configurations(dto_bin, tmp_path):
    """Refused before anything reaches the broker: no key in the
    environment (the variable named, the secret never shown), and an
    Alpaca account fed by the replay feed (the field named)."""
    fake = None
    try:
        fake = start_fake(tmp_path, *fake_args(tmp_path, 1), max_seconds=60)
        cfg = write_config(tmp_path / "c.yaml", fake)

        # no key in the environment (the secret is there): refused, the
        # variable named, the secret never shown
        for env, name in ((dto_env(key=None), "APCA_API_KEY_ID"),
                          (dto_env(secret=None), "APCA_API_SECRET_KEY")):
            log = tmp_path / f"{name}.log"
            d = Dto(dto_bin, cfg, tmp_path / "out", log, env)
            rc = d.proc.wait(timeout=30)
            text = d.stderr() + (log.read_text() if log.exists() else "")
            assert rc not in (0, None) and rc > 0, (rc, text)
            assert name in text, text
            assert SECRET not in text

        # an Alpaca account with the replay feed: refused, naming the field
        cfg2 = write_config(tmp_path / "r.yaml", fake, feed="replay")
        d = Dto(dto_bin, cfg2, tmp_path / "out", tmp_path / "r.log")
        rc = d.proc.wait(timeout=30)
        text = d.stderr()
        assert rc not in (0, None) and rc > 0, (rc, text)
        assert "feed" in text, text
        line = next(i for i, l in enumerate(
            cfg2.read_text().splitlines(), 1) if "feed:" in l)
        assert f"r.yaml:{line}:" in text, text
        assert SECRET not in text
        # nothing reached the fake
        assert fake.log() == []
    finally:
        dump_fake(fake, tmp_path)
        if fake is not None:
            stop_proc(fake.proc)


def test_start_without_history(dto_bin, tmp_path):
    """A broker with no history yet (the fake's market not started, no bar
    published): dto starts, reconciles, trades on the first bars and stops
    cleanly."""
    fake = dto = None
    try:
        fake = start_fake(tmp_path, *fake_args(tmp_path, 1, history=False),
                          max_seconds=60)
        cfg = write_config(tmp_path / "c.yaml", fake)
        dto = Dto(dto_bin, cfg, tmp_path / "out", tmp_path / "dto.log")
        wait_ready(dto, fake)
        market = Market(fake)
        market.step_to(60)
        wait_until(lambda: successful_posts(fake.log()), 10, 0.1,
                   "an order")
        rc = dto.stop(signal.SIGTERM)
        assert rc == 0, f"dto exited with {rc}:\n{dto.stderr()[-3000:]}"
    finally:
        if dto is not None:
            dto.stop(signal.SIGTERM)
        dump_fake(fake, tmp_path)
        if fake is not None:
            stop_proc(fake.proc)


def test_fill_between_reconciliation_queries(dto_bin, tmp_path):
    """The market moves while dto reconciles: an order open in the answer
    to GET /v2/orders has filled by the time the fills (activities) and
    positions are asked.  dto must count that fill once and must not take
    its own order for an unknown one (adopting it a second time and
    applying its fill again at the next reconciliation)."""
    fake = dto = None
    db = tmp_path / "journal.db"
    try:
        fake = start_fake(tmp_path, *fake_args(tmp_path, 1), max_seconds=60)
        migrate(dto_bin, db)
        cfg = write_config(tmp_path / "c.yaml", fake, store=db,
                           reconcile_interval="60s")
        dto = Dto(dto_bin, cfg, tmp_path / "out", tmp_path / "dto.log")
        wait_ready(dto, fake)
        market = Market(fake)

        def working():
            time.sleep(0.05)
            return [o["client_order_id"] for o in fake.state()["orders"]
                    if o["status"] in ("new", "accepted")]
        market.step_to(100, stop_when=working)
        assert working(), "no order to race with"
        n = len(fake.log())
        # a reconnect makes dto reconcile; every answer comes 300 ms late
        fake.faults(delay_ms=300, drop_trading_stream=True)
        wait_until(lambda: any(
            e["method"] == "GET" and e["path"] == "/v2/orders" and
            e["status"] for e in fake.log()[n:]), 10, 0.005,
            "the open orders query answered")
        fake.step(1)        # the open orders fill now
        wait_until(lambda: sum(is_reconcile_ok(e) or
                               event_name(e) == "reconcile.failed"
                               for e in dto.lines()) >= 2, 10, 0.05,
                   "the reconciliation")
        fake.faults(clear=True)
        # and once more: nothing may change
        n = len(dto.lines())
        fake.faults(drop_trading_stream=True)
        wait_until(lambda: any(is_reconcile_ok(e) or
                               event_name(e) == "reconcile.failed"
                               for e in dto.lines()[n:]), 10, 0.05,
                   "the second reconciliation")
        time.sleep(0.5)
        assert_no_trouble(dto.lines(), "dto's log")
        adopted = [e for e in dto.lines()
                   if event_name(e) == "reconcile.adopted"]
        assert not adopted, f"dto adopted its own orders: {adopted[:3]}"
        assert_books_equal(fake.state(), journal_books(db),
                           "the journal's books")
    finally:
        if dto is not None:
            dto.stop(signal.SIGTERM)
        dump_fake(fake, tmp_path)
        if fake is not None:
            stop_proc(fake.proc)
