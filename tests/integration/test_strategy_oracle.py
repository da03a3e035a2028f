"""The built-in strategies against an independent re-implementation.

Each strategy's rules are re-implemented here in Python from its header
comment (src/strategy/*.c) and docs/configuration.md, with exact arithmetic
(fractions), a calendar computed with the system time-zone database
(zoneinfo) instead of dto's own daylight-saving rule, and a small model of
the paper exchange's documented fills (src/engine/match.h: market orders at
the next bar's open; limits at the open when through, else at the limit;
stops the same way; day orders expire at the session's close; bracket exits
are GTC, placed when the entry fills, one cancels the other).  The oracle
replays the same bars and must send the same orders as `dto backtest` on
the same bars: same creation time, side, type, quantity and prices, and the
same final state, filled quantity and average price (orders.csv).

Data: real daily bars of one stock (the TTR `ttrc` set in DTO_SHARED/data)
laid out as 30-minute bars on the 2025 NYSE calendar, generated 1-minute
equity bars, and generated 1-minute spot-FX bars (Thursday to Monday, across
a weekend and the March daylight-saving switch).
"""
import csv
import datetime as dt
import os
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

try:
    from zoneinfo import ZoneInfo
    NY = ZoneInfo("America/New_York")
except Exception:  # pragma: no cover - no tz database on this machine
    NY = None

pytestmark = pytest.mark.skipif(NY is None,
                                reason="needs the system tz database")

SHARED = Path(os.environ.get("DTO_SHARED",
                             Path(__file__).resolve().parents[3] / "shared"))
REAL = SHARED / "data" / "ttrc_indicators_reference.csv"

ONE = Fraction(1)

# ---- calendars (written from docs/internals/calendar.md) ------------------

# NYSE full holidays and early closes (13:00) of 2025.
HOLIDAYS_2025 = {dt.date(2025, 1, 1), dt.date(2025, 1, 9),
                 dt.date(2025, 1, 20), dt.date(2025, 2, 17),
                 dt.date(2025, 4, 18), dt.date(2025, 5, 26),
                 dt.date(2025, 6, 19), dt.date(2025, 7, 4),
                 dt.date(2025, 9, 1), dt.date(2025, 11, 27),
                 dt.date(2025, 12, 25)}
EARLY_2025 = {dt.date(2025, 7, 3), dt.date(2025, 11, 28),
              dt.date(2025, 12, 24)}


def ny_instant(day, hh, mm):
    """Epoch seconds of New York wall time hh:mm on date day."""
    return int(dt.datetime(day.year, day.month, day.day, hh, mm,
                           tzinfo=NY).timestamp())


def ny_datetime(t):
    return dt.datetime.fromtimestamp(t, NY)


class Calendar:
    """Sessions as (open, close) in epoch seconds, by exchange day."""

    def __init__(self, kind):
        self.kind = kind

    def exchange_day(self, t):
        local = ny_datetime(t)
        if self.kind == "fx" and local.hour >= 17:
            return local.date() + dt.timedelta(days=1)
        return local.date()

    def session(self, day):
        if day.weekday() >= 5:
            return None
        if self.kind == "fx":
            return (ny_instant(day - dt.timedelta(days=1), 17, 0),
                    ny_instant(day, 17, 0))
        if day in HOLIDAYS_2025:
            return None
        close = (13, 0) if day in EARLY_2025 else (16, 0)
        return ny_instant(day, 9, 30), ny_instant(day, *close)

    def containing(self, t):
        """The regular session whose [open, close) holds t, or None."""
        s = self.session(self.exchange_day(t))
        return s if s and s[0] <= t < s[1] else None

    def next_close(self, t):
        """Close of the first session that closes after t."""
        day = self.exchange_day(t)
        for i in range(31):
            s = self.session(day + dt.timedelta(days=i))
            if s and s[1] > t:
                return s[1]
        return None


# ---- data -------------------------------------------------------------------


class Bar:
    __slots__ = ("ts", "dur", "o", "h", "l", "c", "v")

    def __init__(self, ts, dur, o, h, l, c, v):
        self.ts, self.dur = ts, dur
        self.o, self.h, self.l, self.c, self.v = o, h, l, c, v

    @property
    def end(self):
        return self.ts + self.dur


def exact(text):
    return Fraction(Decimal(text))


def iso(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def read_bars(path):
    rows = list(csv.DictReader(open(path)))
    ts = [int(dt.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc).timestamp()) for r in rows]
    dur = min(b - a for a, b in zip(ts, ts[1:]) if b > a)  # as dto infers it
    return [Bar(t, dur, exact(r["open"]), exact(r["high"]), exact(r["low"]),
                exact(r["close"]), exact(r["volume"]))
            for t, r in zip(ts, rows)]


def real_bars_file(tmp_path):
    """The 1,500 real daily bars, in order, as 30-minute bars of the 2025
    NYSE sessions (13 a day, 09:30 to 16:00 New York)."""
    rows = list(csv.DictReader(open(REAL)))
    cal = Calendar("us_equity")
    out = ["time,open,high,low,close,volume"]
    day = dt.date(2025, 1, 2)
    i = 0
    while i < len(rows):
        s = cal.session(day)
        day += dt.timedelta(days=1)
        if not s:
            continue
        for k in range(13):
            if i == len(rows):
                break
            r = rows[i]
            out.append(",".join([iso(s[0] + k * 1800), r["open"], r["high"],
                                 r["low"], r["close"], r["volume"]]))
            i += 1
    assert day < dt.date(2025, 7, 3)  # before the first early close
    p = tmp_path / "REAL.csv"
    p.write_text("\n".join(out) + "\n")
    return p


# ---- the paper exchange and the books, as documented ----------------------


class Order:
    def __init__(self, oid, t, side, typ, qty, tif="day", limit=0, stop=0,
                 tp=0, sl=0):
        self.id, self.created, self.side, self.type = oid, t, side, typ
        self.qty, self.tif, self.limit, self.stop = qty, tif, limit, stop
        self.tp, self.sl = tp, sl
        self.filled, self.notional = Fraction(0), Fraction(0)
        self.state, self.live, self.triggered = "accepted", True, False
        self.peer, self.exits_placed = None, False
        self.active = t
        self.expire = None


class Book:
    """One strategy trading one symbol through the paper exchange."""

    def __init__(self, cal, cash, share=ONE):
        self.cal, self.cash, self.share = cal, Fraction(cash), share
        self.pos, self.cost, self.mark = Fraction(0), Fraction(0), None
        self.orders = []

    # strategy API -----------------------------------------------------------
    def equity(self):
        return self.cash + self.pos * (self.mark or 0)

    def avg_price(self):
        # |cost| / |qty| rounded to 10^-8 (fx_div)
        a = abs(self.cost) / abs(self.pos)
        return Fraction(round_half_away(a * 10**8), 10**8)

    def open_orders(self):
        return sum(1 for o in self.orders if o.live)

    def size(self, pct, price):
        budget = min(self.equity() * pct, self.cash)
        if budget <= 0:
            return Fraction(0)
        return Fraction(int(budget / price))  # lot 1, rounded down

    def submit(self, t, side, typ, qty, **kw):
        o = Order(len(self.orders), t, side, typ, qty, **kw)
        if o.tif == "day":
            o.expire = self.cal.next_close(t)
        self.orders.append(o)
        return o

    def flatten(self, t):
        for o in self.orders:
            if o.live:
                self.retire(o, "canceled")
        if self.pos:
            self.submit(t, "sell" if self.pos > 0 else "buy", "market",
                        abs(self.pos))

    def close_out(self, t):
        if self.pos or self.open_orders():
            self.flatten(t)

    # exchange -----------------------------------------------------------------
    def retire(self, o, state):
        o.live, o.state = False, state

    def on_time(self, t):
        for o in self.orders:
            if o.live and o.expire is not None and o.expire <= t:
                self.retire(o, "expired")

    def fill(self, o, q, px):
        o.filled += q
        o.notional += q * px
        sq = q if o.side == "buy" else -q
        self.cash -= sq * px
        # portfolio: reduce at cost, or open at the fill price
        if self.pos and (self.pos > 0) != (sq > 0):
            close = min(abs(sq), abs(self.pos))
            self.cost -= self.cost * close / abs(self.pos)
            self.pos += close if sq > 0 else -close
            rest = abs(sq) - close
            if rest:
                self.pos += rest if sq > 0 else -rest
                self.cost = (rest if sq > 0 else -rest) * px
        else:
            self.pos += sq
            self.cost += sq * px
        if o.filled >= o.qty:
            self.retire(o, "filled")
        else:
            o.state = "partially_filled"
        if o.peer is not None and o.peer.live:
            o.peer.qty -= q
            if o.peer.qty <= o.peer.filled:
                self.retire(o.peer, "canceled")

    def on_bar(self, b):
        self.used = Fraction(0)
        due = [o for o in self.orders if o.live and o.active <= b.ts]
        for o in due:
            if not o.live:
                continue
            buy = o.side == "buy"
            px = None
            if o.type == "market":
                px = b.o
            elif o.type == "limit":
                if (b.o <= o.limit) if buy else (b.o >= o.limit):
                    px = b.o
                elif (b.l <= o.limit) if buy else (b.h >= o.limit):
                    px = o.limit
            elif o.type == "stop":
                if o.triggered:
                    px = b.o
                elif (b.o >= o.stop) if buy else (b.o <= o.stop):
                    px = b.o
                elif (b.h >= o.stop) if buy else (b.l <= o.stop):
                    px = o.stop
                if px is not None:
                    o.triggered = True
            if px is None:
                continue
            avail = Fraction(int(b.v * self.share)) - self.used
            q = min(o.qty - o.filled, avail)
            if q > 0:
                self.used += q
                self.fill(o, q, px)
        # bracket exits of entries that are done with a filled quantity
        for o in due:
            if (o.tp or o.sl) and not o.live and o.filled and \
                    not o.exits_placed:
                o.exits_placed = True
                side = "sell" if o.side == "buy" else "buy"
                tp = self.submit(b.ts, side, "limit", o.filled, tif="gtc",
                                 limit=o.tp)
                sl = self.submit(b.ts, side, "stop", o.filled, tif="gtc",
                                 stop=o.sl)
                tp.peer, sl.peer = sl, tp


def round_half_away(x):
    """x (a Fraction) to the nearest integer, halves away from zero."""
    n = abs(x)
    q = int(n)
    if n - q >= Fraction(1, 2):
        q += 1
    return q if x >= 0 else -q


def can_trade(cal, sess, b):
    """strategy/common.h: the market is open at the bar's end, when the
    order would be sent: before the close, or in the next session when it
    opens at that instant."""
    return b.end < sess[1] or cal.containing(b.end) is not None


def near_close(sess, b, before):
    """strategy/common.h: the bar ends within `before` of the close, or the
    next bar of the same length would end at or after it."""
    if before <= 0:
        return False
    return b.end >= sess[1] - before or b.end + b.dur >= sess[1]


# ---- the strategies, from their header comments ---------------------------


class MaCrossover:
    def __init__(self, fast=10, slow=30, kind="sma", position_pct="0.2",
                 allow_short=False, exit_before_close=300):
        self.fast, self.slow, self.kind = fast, slow, kind
        self.pct = exact(position_pct)
        self.short, self.exit = allow_short, exit_before_close
        self.closes = []
        self.ema = {}
        self.last = 0

    def ema_update(self, n, x):
        # in 10^-8 units: seed = sum / n, then += 2 (x - e) / (n + 1), each
        # rounded to nearest, halves away from zero
        x = int(x * 10**8)
        st = self.ema.setdefault(n, {"count": 0, "sum": 0, "v": 0})
        if st["count"] == n:
            st["v"] += round_half_away(Fraction(2 * (x - st["v"]), n + 1))
        else:
            st["sum"] += x
            st["count"] += 1
            if st["count"] == n:
                st["v"] = round_half_away(Fraction(st["sum"], n))
        return st["count"] == n, st["v"]

    def on_bar(self, bk, b):
        if self.kind == "sma":
            self.closes.append(b.c)
            if len(self.closes) < self.slow:
                return
            f = sum(self.closes[-self.fast:]) / self.fast
            s = sum(self.closes[-self.slow:]) / self.slow
        else:
            self.ema_update(self.fast, b.c)
            ready, s = self.ema_update(self.slow, b.c)
            f = self.ema[self.fast]["v"]
            if not ready:
                return
        d = (f > s) - (f < s)
        cross = d != 0 and self.last != 0 and d != self.last
        if d:
            self.last = d
        sess = bk.cal.containing(b.ts)
        if not sess or not can_trade(bk.cal, sess, b):
            return
        if near_close(sess, b, self.exit):
            bk.close_out(b.end)
            return
        if not cross or bk.open_orders():
            return
        pos = bk.pos
        if d > 0:
            q = -pos if pos < 0 else 0
            if pos <= 0:
                q += bk.size(self.pct, b.c)
            if q > 0:
                bk.submit(b.end, "buy", "market", q)
        else:
            q = pos if pos > 0 else 0
            if self.short and pos >= 0:
                q += bk.size(self.pct, b.c)
            if q > 0:
                bk.submit(b.end, "sell", "market", q)


class Orb:
    def __init__(self, range=900, rr="2", position_pct="0.2",
                 allow_short=False, exit_before_close=300):
        self.range, self.rr, self.pct = range, exact(rr), exact(position_pct)
        self.short, self.exit = allow_short, exit_before_close
        self.sess = None

    def on_bar(self, bk, b):
        sess = bk.cal.containing(b.ts)
        if not sess:
            return
        if sess != self.sess:
            self.sess, self.hi, self.lo, self.traded = sess, b.h, b.l, False
        if not can_trade(bk.cal, sess, b):
            return
        if near_close(sess, b, self.exit):
            bk.close_out(b.end)
            return
        if b.end <= sess[0] + self.range:
            self.hi, self.lo = max(self.hi, b.h), min(self.lo, b.l)
            return
        if self.traded or bk.pos or bk.open_orders():
            return
        height = self.hi - self.lo
        if height <= 0:
            return
        tick = Fraction(1, 100)
        target = self.rr * height
        if b.c > self.hi:
            side = "buy"
            tp = -((-(b.c + target)) // tick) * tick  # up to the tick
            sl = (self.lo // tick) * tick
        elif b.c < self.lo and self.short:
            side = "sell"
            tp = ((b.c - target) // tick) * tick  # down to the tick
            sl = -((-self.hi) // tick) * tick
            if tp <= 0:
                return
        else:
            return
        q = bk.size(self.pct, b.c)
        if q <= 0:
            return
        self.traded = True
        bk.submit(b.end, side, "market", q, tp=tp, sl=sl)


class VwapReversion:
    def __init__(self, band_pct="0.5", stop_pct="1", warmup=900,
                 position_pct="0.2", allow_short=False,
                 exit_before_close=300):
        self.band, self.stop = exact(band_pct) / 100, exact(stop_pct) / 100
        self.warmup, self.pct = warmup, exact(position_pct)
        self.short, self.exit = allow_short, exit_before_close
        self.sess = None

    def on_bar(self, bk, b):
        sess = bk.cal.containing(b.ts)
        if not sess:
            return
        if sess != self.sess:
            self.sess, self.spv, self.sv = sess, Fraction(0), Fraction(0)
        self.spv += (b.h + b.l + b.c) * b.v
        self.sv += b.v
        if not can_trade(bk.cal, sess, b):
            return
        if near_close(sess, b, self.exit):
            bk.close_out(b.end)
            return
        if self.sv <= 0 or bk.open_orders():
            return
        # VWAP = S / 3V rounded to the nearest 10^-8, halves up
        w = Fraction(round_half_away(self.spv / (3 * self.sv) * 10**8),
                     10**8)
        c, pos = b.c, bk.pos
        if pos:
            entry = bk.avg_price()
            back = c >= w if pos > 0 else c <= w
            stopped = (c <= entry * (1 - self.stop) if pos > 0
                       else c >= entry * (1 + self.stop))
            if back or stopped:
                bk.submit(b.end, "sell" if pos > 0 else "buy", "market",
                          abs(pos))
            return
        if b.ts < sess[0] + self.warmup:
            return
        if c < w * (1 - self.band):
            q = bk.size(self.pct, c)
            if q > 0:
                bk.submit(b.end, "buy", "market", q)
        elif self.short and c > w * (1 + self.band):
            q = bk.size(self.pct, c)
            if q > 0:
                bk.submit(b.end, "sell", "market", q)


def oracle(strategy, bars, cal, cash):
    bk = Book(cal, cash)
    for b in bars:
        bk.on_time(b.ts)
        if cal.containing(b.ts):  # orders fill in the regular session only
            bk.on_bar(b)
        bk.mark = b.c
        strategy.on_bar(bk, b)
    # the end of the run cancels the working orders that are not GTC
    for o in bk.orders:
        if o.live and o.tif != "gtc":
            bk.retire(o, "canceled")
    return bk


# ---- running dto ------------------------------------------------------------

STRATS = {"ma_crossover": MaCrossover, "orb": Orb,
          "vwap_reversion": VwapReversion}
DURATIONS = {"range", "warmup", "exit_before_close"}


def yaml_params(params):
    out = []
    for k, v in params.items():
        if k in DURATIONS:
            out.append(f"{k}: {v}s" if v else f"{k}: 0")  # a bare 0 too
        elif isinstance(v, bool):
            out.append(f"{k}: {'true' if v else 'false'}")
        else:
            out.append(f"{k}: {v}")
    return "{ " + ", ".join(out) + " }"


def backtest(run, tmp_path, data, symbol, calendar, stype, params):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""accounts:
  - id: main
    cash: 100000
    allow_short: true
instruments:
  - {{symbol: {symbol}, calendar: {calendar}}}
data:
  - {{path: {data}, symbol: {symbol}}}
fill:
  max_volume_share: 1
strategies:
  - id: s
    type: {stype}
    symbols: [{symbol}]
    params: {yaml_params(params)}
""")
    out = tmp_path / "out"
    r = run("backtest", "--config", cfg, "--out", out, "--quiet", timeout=60)
    assert r.returncode == 0, r.stderr
    return list(csv.DictReader((out / "orders.csv").open()))


def creation_order(row):
    """orders.csv lists orders as they end; put them back in the order they
    were created: by time, then client order id (ACCOUNT-STRATEGY-DAY-SEQ)."""
    _, _, day, seq = row["client_order_id"].split("-")
    return row["created"], day, int(seq)


def compare(rows, bk):
    rows = sorted(rows, key=creation_order)
    got = [(r["created"], r["side"], r["type"], exact(r["qty"]),
            exact(r["limit_price"]), exact(r["stop_price"]), r["state"],
            exact(r["filled_qty"]), exact(r["avg_fill_price"]))
           for r in rows]
    want = [(iso(o.created), o.side, o.type, o.qty, Fraction(o.limit),
             Fraction(o.stop), o.state, o.filled,
             o.notional / o.filled if o.filled else Fraction(0))
            for o in bk.orders]
    for i, (g, w) in enumerate(zip(got, want)):
        # the average fill price is printed rounded to 10^-8
        same_avg = abs(g[8] - w[8]) <= Fraction(1, 2 * 10**8)
        assert g[:8] == w[:8] and same_avg, \
            f"order {i + 1}: dto {fmt(g)}\n     oracle {fmt(w)}"
    assert len(got) == len(want), f"dto sent {len(got)} orders, the " \
        f"oracle {len(want)}"


def fmt(t):
    return tuple(str(x) if isinstance(x, str) else float(x) for x in t)


# Each case: data set, strategy, parameters (durations in seconds).
CASES = [
    ("real", "ma_crossover", dict(fast=3, slow=8)),
    ("real", "ma_crossover", dict(fast=5, slow=13, kind="ema",
                                  allow_short=True, exit_before_close=0)),
    ("real", "orb", dict(range=1800, rr="1.5", allow_short=True)),
    ("real", "orb", dict(range=3600, exit_before_close=0)),
    ("real", "vwap_reversion", dict(band_pct="0.5", stop_pct="1",
                                    warmup=1800, allow_short=True)),
    ("real", "vwap_reversion", dict(band_pct="0.3", warmup=0,
                                    exit_before_close=0)),
    ("gen", "ma_crossover", dict(fast=5, slow=20, allow_short=True)),
    ("gen", "ma_crossover", dict(fast=4, slow=9, kind="ema",
                                 position_pct="0.35")),
    ("gen", "orb", dict(range=900, allow_short=True)),
    ("gen", "vwap_reversion", dict(band_pct="0.2", allow_short=True)),
    ("fx", "ma_crossover", dict(fast=10, slow=30, exit_before_close=1800)),
    ("fx", "orb", dict(range=3600, rr="1.5", allow_short=True)),
    ("fx", "vwap_reversion", dict(band_pct="0.1", warmup=600,
                                  exit_before_close=900)),
]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, run):
    d = tmp_path_factory.mktemp("oracle")
    sets = {}
    if REAL.exists():
        sets["real"] = (real_bars_file(d), "REAL", "us_equity")
    r = run("data", "generate", "--out", d / "gen", "--symbols", "GEN",
            "--days", "3", "--start", "2025-01-06", "--seed", "11",
            "--quiet")
    assert r.returncode == 0, r.stderr
    sets["gen"] = (d / "gen" / "GEN.csv", "GEN", "us_equity")
    # Thursday to Monday: Friday's 17:00 close, the weekend, the Sunday
    # open after the March switch to daylight time
    r = run("data", "generate", "--out", d / "fx", "--symbols", "FXA",
            "--days", "3", "--start", "2025-03-06", "--seed", "5",
            "--calendar", "fx", "--quiet")
    assert r.returncode == 0, r.stderr
    sets["fx"] = (d / "fx" / "FXA.csv", "FXA", "fx")
    return sets


@pytest.mark.parametrize("data,stype,params", CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in
                              enumerate(CASES)])
def test_same_orders_as_the_oracle(run, datasets, tmp_path, data, stype,
                                   params):
    if data not in datasets:
        pytest.skip(f"{REAL} is not there")
    path, symbol, calendar = datasets[data]
    rows = backtest(run, tmp_path, path, symbol, calendar, stype, params)
    bars = read_bars(path)
    bk = oracle(STRATS[stype](**params), bars, Calendar(calendar), 100000)
    assert len(bk.orders) >= 4, "a case that trades too little shows little"
    compare(rows, bk)


def test_fx_sessions_in_generated_data(datasets):
    """The generator lays fx bars from Sunday 17:00 to Friday 17:00 New
    York, 1,440 a day, and nothing at the weekend."""
    path, _, _ = datasets["fx"]
    bars = read_bars(path)
    cal = Calendar("fx")
    assert len(bars) == 3 * 1440
    assert all(cal.containing(b.ts) for b in bars)
    days = sorted({cal.exchange_day(b.ts) for b in bars})
    assert days == [dt.date(2025, 3, 6), dt.date(2025, 3, 7),
                    dt.date(2025, 3, 10)]
    # Friday's last bar ends at 17:00 EST (22:00 UTC); Monday's session
    # opens on Sunday at 17:00 EDT (21:00 UTC)
    fri = [b for b in bars if cal.exchange_day(b.ts) == dt.date(2025, 3, 7)]
    assert iso(fri[-1].end) == "2025-03-07T22:00:00Z"
    mon = [b for b in bars if cal.exchange_day(b.ts) == dt.date(2025, 3, 10)]
    assert iso(mon[0].ts) == "2025-03-09T21:00:00Z"
