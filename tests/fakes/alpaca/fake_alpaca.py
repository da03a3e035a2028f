#!/usr/bin/python3
"""A fake of Alpaca's Trading API v2, trade_updates stream and Market Data v2
(WebSocket stream and historical bars), for dto's tests.  Loopback only.

Run: /usr/bin/python3 fake_alpaca.py --port 0 --port-file PATH [--bars CSV ...]
See README.md next to this file for the control API (/_fake/...) and for the
Alpaca documentation pages each behaviour follows.
"""
import argparse
import asyncio
import base64
import csv
import datetime as dt
import ipaddress
import json
import os
import random
import signal
import sys
import time
import uuid
from decimal import Decimal, ROUND_DOWN, ROUND_HALF_UP, localcontext

from aiohttp import web, WSMsgType

try:
    from zoneinfo import ZoneInfo
    NY = ZoneInfo("America/New_York")
except Exception:  # pragma: no cover - tzdata missing
    NY = dt.timezone(dt.timedelta(hours=-5))

D0 = Decimal(0)
NS = 1_000_000_000
TRADING_WS = "/stream"
DATA_WS = ("/v2/iex", "/v2/sip")
OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled",
                 "held", "accepted_for_bidding", "pending_replace",
                 "pending_cancel", "stopped", "calculated", "suspended",
                 "done_for_day"}
WORKING = {"new", "accepted", "partially_filled", "pending_new"}


# ---------------------------------------------------------------- helpers
def dec(x):
    """Decimal from a JSON value (string or number); None stays None."""
    if x is None:
        return None
    if isinstance(x, bool):
        raise ValueError("bool")
    if isinstance(x, float):
        x = repr(x)
    d = Decimal(str(x).strip())
    if not d.is_finite():
        raise ValueError("not finite")
    return d


def fmt(d):
    """Decimal -> string as Alpaca sends it ("10", "105.8988475")."""
    if d is None:
        return None
    if d == 0:
        return "0"
    d = d.quantize(Decimal("1e-9"), rounding=ROUND_HALF_UP) \
        if d.as_tuple().exponent < -9 else d
    s = format(d.normalize(), "f")
    return s


def num(d):
    """Decimal -> JSON number (market data sends numbers)."""
    i = int(d)
    return i if d == i else float(d)


def ns_to_rfc(ns, nanos=True):
    sec, frac = divmod(ns, NS)
    base = dt.datetime.fromtimestamp(sec, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S")
    if not nanos:
        return base + "Z"
    return "%s.%09dZ" % (base, frac)


def parse_time(s):
    """RFC 3339 (any fraction, Z or offset) or YYYY-MM-DD -> ns since epoch."""
    s = s.strip()
    if len(s) == 10 and s[4] == "-":
        d = dt.datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=NY)
        return int(d.timestamp()) * NS
    frac = 0
    main = s
    tz = "Z"
    if s.endswith("Z") or s.endswith("z"):
        main = s[:-1]
    elif len(s) > 6 and s[-6] in "+-" and s[-3] == ":":
        main, tz = s[:-6], s[-6:]
    if "." in main:
        main, f = main.split(".", 1)
        frac = int((f + "000000000")[:9])
    d = dt.datetime.strptime(main.replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")
    if tz == "Z":
        d = d.replace(tzinfo=dt.timezone.utc)
    else:
        sign = 1 if tz[0] == "+" else -1
        d = d.replace(tzinfo=dt.timezone(sign * dt.timedelta(
            hours=int(tz[1:3]), minutes=int(tz[4:6]))))
    return int(d.timestamp()) * NS + frac


def parse_csv_time(s):
    s = s.strip().strip('"')
    if s.replace(".", "").isdigit():
        v = Decimal(s)
        if v > 10 ** 17:
            return int(v)
        if v > 10 ** 14:
            return int(v * 1000)
        if v > 10 ** 11:
            return int(v * 1_000_000)
        return int(v * NS)
    return parse_time(s)


class ApiError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(body.get("message", ""))
        self.status, self.body, self.headers = status, body, headers or {}


def err(status, code, message, **extra):
    body = {"code": code, "message": message}
    body.update(extra)
    return ApiError(status, body)


# ----------------------------------------------------------------- market
class Bar:
    __slots__ = ("sym", "t", "o", "h", "l", "c", "v")

    def __init__(self, sym, t, o, h, l, c, v):
        self.sym, self.t, self.o, self.h, self.l, self.c, self.v = \
            sym, t, o, h, l, c, v

    def vwap(self):
        return ((self.h + self.l + self.c) / 3).quantize(
            Decimal("0.000001"), rounding=ROUND_HALF_UP)

    def json(self):
        return {"t": ns_to_rfc(self.t, nanos=False), "o": num(self.o),
                "h": num(self.h), "l": num(self.l), "c": num(self.c),
                "v": int(self.v), "n": max(1, int(self.v) // 100),
                "vw": float(self.vwap())}


def load_bars(paths):
    out = {}
    for p in paths:
        default_sym = os.path.splitext(os.path.basename(p))[0].upper()
        with open(p, newline="") as f:
            rd = csv.reader(f)
            header = [h.strip().strip('"').lower() for h in next(rd)]
            col = {}
            for i, h in enumerate(header):
                if h in ("time", "date", "timestamp"):
                    col["t"] = i
                elif h in ("open", "high", "low", "close", "volume", "symbol"):
                    col[h] = i
            for row in rd:
                if not row or not "".join(row).strip():
                    continue
                sym = row[col["symbol"]].strip() if "symbol" in col \
                    else default_sym
                b = Bar(sym, parse_csv_time(row[col["t"]]),
                        dec(row[col["open"]]), dec(row[col["high"]]),
                        dec(row[col["low"]]), dec(row[col["close"]]),
                        Decimal(row[col["volume"]].strip()))
                out.setdefault(sym, []).append(b)
    for v in out.values():
        v.sort(key=lambda b: b.t)
    return out


def generate_bars(symbols, days, seed, start="2025-01-06"):
    rng = random.Random(seed)
    out = {}
    day = dt.date.fromisoformat(start)
    dates = []
    while len(dates) < days:
        if day.weekday() < 5:
            dates.append(day)
        day += dt.timedelta(days=1)
    for sym in symbols:
        px = Decimal(rng.randint(20, 400))
        bars = []
        for d in dates:
            open_ny = dt.datetime(d.year, d.month, d.day, 9, 30, tzinfo=NY)
            t0 = int(open_ny.timestamp()) * NS
            for m in range(390):
                o = px
                moves = [Decimal(rng.randint(-20, 20)) / 100 for _ in range(3)]
                c = max(Decimal("1.00"), o + moves[0])
                h = max(o, c) + abs(moves[1])
                l = max(Decimal("0.50"), min(o, c) - abs(moves[2]))
                v = Decimal(rng.randint(500, 20000))
                bars.append(Bar(sym, t0 + m * 60 * NS, o, h, l, c, v))
                px = c
        out[sym] = bars
    return out


# ------------------------------------------------------------------ state
class Order:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class StampedMsg(str):
    """A data stream message carrying its step's record (`step`), where
    the sender notes the monotonic time it went out."""


class Fake:
    def __init__(self, args):
        self.args = args
        self.orig_args = getattr(self, "orig_args", None)
        self.rng = random.Random(args.seed)
        if args.bars:
            self.bars = load_bars(args.bars)
        else:
            self.bars = generate_bars(args.symbols.split(","), args.days,
                                      args.seed)
        self.symbols = sorted(self.bars)
        self.by_time = {}
        for sym, bl in self.bars.items():
            for b in bl:
                self.by_time.setdefault(b.t, []).append(b)
        self.timeline = sorted(self.by_time)
        self.cursor = max(0, min(args.start_index, len(self.timeline)))
        self.last = {}              # symbol -> last published bar
        for t in self.timeline[:self.cursor]:
            for b in self.by_time[t]:
                self.last[b.sym] = b
        self.tick = 0               # ns counter keeping timestamps unique
        self.account_id = self.uid()
        self.created_ns = self.now_ns()
        self.cash = dec(args.cash)
        self.multiplier = dec(args.multiplier)
        self.fill_share = dec(args.fill_share)
        self.positions = {}         # sym -> {"qty": D, "cost": D}
        self.orders = {}            # id -> Order
        self.order_seq = []         # ids in submission order
        self.by_coid = {}
        self.activities = []
        self.events = []            # history of trade_updates events
        self.log = []
        self.steps = []             # per step: when its bars were sent
        self.asset_ids = {s: str(uuid.uuid5(uuid.NAMESPACE_DNS,
                                            "asset." + s)) for s in self.symbols}
        self.last_equity = self.cash
        # connections
        self.trade_conns = set()
        self.data_conns = set()
        # faults
        self.delay_ms = 0
        self.http_faults = []       # dicts: status,count,path,method,retry_after
        self.lose_fills = 0
        self.dup_events = 0
        self.reorder = 0
        self.held_event = None
        self.reject_next = []       # dicts: mode, status, body
        self.reject_cancels = 0
        self.reject_replaces = 0
        self.auto_task = None
        self.rate_window = (0, 0)   # (minute, count)

    # ids and time
    def uid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def base_ns(self):
        if self.cursor == 0:
            return self.timeline[0] - 60 * NS if self.timeline else \
                int(time.time()) * NS
        return self.timeline[self.cursor - 1] + 60 * NS - NS // 2

    def now_ns(self):
        self.tick += 1000
        return self.base_ns() + self.tick

    def now(self):
        return ns_to_rfc(self.now_ns())

    def price(self, sym):
        b = self.last.get(sym)
        if b is not None:
            return b.c
        bl = self.bars.get(sym)
        return bl[0].o if bl else None

    # accounting --------------------------------------------------------
    def pos_qty(self, sym):
        p = self.positions.get(sym)
        return p["qty"] if p else D0

    def market_values(self):
        lmv = smv = D0
        for sym, p in self.positions.items():
            mv = p["qty"] * self.price(sym)
            if mv > 0:
                lmv += mv
            else:
                smv += mv
        return lmv, smv

    def equity(self):
        lmv, smv = self.market_values()
        return self.cash + lmv + smv

    def reserved(self, exclude=None):
        r = D0
        for o in self.orders.values():
            if o.id == exclude or o.status not in WORKING:
                continue        # held legs reserve nothing until released
            if o.side == "buy" and self.pos_qty(o.symbol) >= 0 or \
                    o.side == "sell" and self.pos_qty(o.symbol) <= 0:
                rem = self.remaining(o)
                px = o.limit_price or o.stop_price or self.price(o.symbol)
                if o.notional is not None and o.qty is None:
                    r += o.notional
                else:
                    r += rem * px
        return r

    def buying_power(self, exclude=None):
        lmv, smv = self.market_values()
        bp = self.multiplier * self.equity() - lmv + smv - \
            self.reserved(exclude)
        return max(D0, bp)

    def held_qty(self, sym, side, exclude=None):
        """Shares held by working orders (a group of exit legs counts once)."""
        h = D0
        groups = {}
        for o in self.orders.values():
            if o.symbol != sym or o.side != side or o.id == exclude or \
                    o.status not in WORKING and not (o.status == "held"
                                                     and o.armed):
                continue
            if o.order_class in ("bracket", "oco", "oto") and \
                    (o.parent_id is not None or o.order_class == "oco"):
                g = o.parent_id or o.id
                groups[g] = max(groups.get(g, D0), self.remaining(o))
            else:
                h += self.remaining(o)
        return h + sum(groups.values(), D0)

    def remaining(self, o):
        if o.qty is None:
            return D0
        return o.qty - o.filled_qty

    # order json ----------------------------------------------------------
    def order_json(self, o, nested=False):
        j = {
            "id": o.id, "client_order_id": o.client_order_id,
            "created_at": o.created_at, "updated_at": o.updated_at,
            "submitted_at": o.submitted_at, "filled_at": o.filled_at,
            "expired_at": o.expired_at, "canceled_at": o.canceled_at,
            "failed_at": o.failed_at, "replaced_at": o.replaced_at,
            "replaced_by": o.replaced_by, "replaces": o.replaces,
            "asset_id": self.asset_ids.get(o.symbol, ""),
            "symbol": o.symbol, "asset_class": "us_equity",
            "notional": fmt(o.notional), "qty": fmt(o.qty),
            "filled_qty": fmt(o.filled_qty),
            "filled_avg_price": fmt(o.filled_avg_price),
            "order_class": o.order_class, "order_type": o.type,
            "type": o.type, "side": o.side,
            "position_intent": o.position_intent,
            "time_in_force": o.time_in_force,
            "limit_price": fmt(o.limit_price), "stop_price": fmt(o.stop_price),
            "status": o.status, "extended_hours": o.extended_hours,
            "legs": None, "trail_percent": fmt(o.trail_percent),
            "trail_price": fmt(o.trail_price), "hwm": fmt(o.hwm),
            "subtag": None, "source": None, "expires_at": None,
        }
        if nested and o.legs:
            j["legs"] = [self.order_json(self.orders[i]) for i in o.legs]
        return j

    # stream events -------------------------------------------------------
    def emit(self, event, o, **extra):
        data = {"event": event, "timestamp": extra.pop("timestamp", None)
                or o.updated_at, "order": self.order_json(o, nested=True)}
        if event in ("fill", "partial_fill"):
            data["execution_id"] = extra.pop("execution_id")
        for k, v in extra.items():
            data[k] = v
        msg = {"stream": "trade_updates", "data": data}
        rec = {"seq": len(self.events) + 1, "event": event, "order_id": o.id,
               "client_order_id": o.client_order_id,
               "execution_id": data.get("execution_id"), "lost": False,
               "duplicated": False, "reordered": False}
        self.events.append(rec)
        if event in ("fill", "partial_fill") and self.lose_fills > 0:
            self.lose_fills -= 1
            rec["lost"] = True
            return
        copies = 1
        if self.dup_events > 0:
            self.dup_events -= 1
            copies = 2
            rec["duplicated"] = True
        for _ in range(copies):
            self._send_ordered(msg, rec)

    def _send_ordered(self, msg, rec):
        if self.held_event is not None:
            held, self.held_event = self.held_event, None
            held[2].cancel()
            self._broadcast(msg)
            self._broadcast(held[0])
            return
        if self.reorder > 0:
            self.reorder -= 1
            rec["reordered"] = True
            h = asyncio.get_event_loop().call_later(0.5, self._flush_held)
            self.held_event = (msg, rec, h)
            return
        self._broadcast(msg)

    def _flush_held(self):
        if self.held_event is not None:
            msg = self.held_event[0]
            self.held_event = None
            self._broadcast(msg)

    def _broadcast(self, msg):
        raw = json.dumps(msg, separators=(",", ":"))
        for c in list(self.trade_conns):
            if c.listening:
                c.queue.put_nowait(raw)

    # orders ----------------------------------------------------------------
    def new_order(self, body, parent=None, leg_kind=None):
        o = Order()
        o.id = self.uid()
        o.client_order_id = None
        o.created_at = o.updated_at = o.submitted_at = self.now()
        o.filled_at = o.expired_at = o.canceled_at = o.failed_at = None
        o.replaced_at = o.replaced_by = o.replaces = None
        o.filled_qty = D0
        o.filled_avg_price = None
        o.fill_cost = D0
        o.fills = []
        o.legs = []
        o.parent_id = parent.id if parent else None
        o.hwm = None
        o.triggered = False
        o.armed = False      # a held stop-loss leg watched for its trigger
        o.notional = None
        o.extended_hours = bool(body.get("extended_hours") or False)
        o.position_intent = None
        o.trail_price = o.trail_percent = None
        return o

    def validate_and_create(self, body, replaces=None, announce=True):
        if not isinstance(body, dict):
            raise err(422, 40010001, "invalid request body")
        rej = None
        if self.reject_next and replaces is None:
            rej = self.reject_next.pop(0)
            if rej.get("mode", "http") == "http":
                raise ApiError(rej.get("status", 403), rej.get("body") or {
                    "code": 40310000, "message": "insufficient buying power"})
        sym = str(body.get("symbol") or "").upper()
        if not sym:
            raise err(422, 40010001, "symbol is required")
        if sym not in self.bars:
            raise err(422, 40010001, "asset \"%s\" not found" % sym)
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise err(422, 40010001, "invalid side")
        typ = body.get("type") or body.get("order_type")
        if typ not in ("market", "limit", "stop", "stop_limit",
                       "trailing_stop"):
            raise err(422, 40010001, "invalid order type")
        tif = body.get("time_in_force")
        if tif not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
            raise err(422, 40010001, "invalid time_in_force")
        oc = body.get("order_class", "")
        if oc is None:
            oc = ""
        if oc not in ("", "simple", "bracket", "oco", "oto"):
            raise err(422, 40010001, "invalid order_class")
        try:
            qty = dec(body.get("qty"))
            notional = dec(body.get("notional"))
            lp = dec(body.get("limit_price"))
            sp = dec(body.get("stop_price"))
            tp_ = dec(body.get("trail_price"))
            tpc = dec(body.get("trail_percent"))
            tp = body.get("take_profit") or None
            sl = body.get("stop_loss") or None
            tp_lp = dec(tp.get("limit_price")) if tp else None
            sl_sp = dec(sl.get("stop_price")) if sl else None
            sl_lp = dec(sl.get("limit_price")) if sl else None
        except Exception:
            raise err(422, 40010001, "invalid number format")
        if oc == "oco" and lp is None:
            lp = tp_lp          # the take-profit is the oco's limit order
        if (qty is None) == (notional is None):
            raise err(422, 40010001, "qty or notional is required"
                      if qty is None else "only one of qty or notional "
                      "may be specified")
        if qty is not None and qty <= 0:
            raise err(422, 40010001, "qty must be > 0")
        if notional is not None and (notional <= 0 or typ != "market"
                                     or tif != "day"):
            raise err(422, 40010001, "notional orders must be market/day "
                      "orders with notional > 0")
        if qty is not None and qty != qty.to_integral_value() and \
                (typ != "market" or tif != "day"):
            raise err(422, 40010001, "fractional orders must be DAY orders")
        if typ in ("limit", "stop_limit") and (lp is None or lp <= 0):
            raise err(422, 40010001, "limit_price is required")
        if typ in ("stop", "stop_limit") and (sp is None or sp <= 0):
            raise err(422, 40010001, "stop_price is required")
        if typ == "trailing_stop":
            if (tp_ is None) == (tpc is None):
                raise err(422, 40010001, "trail_price or trail_percent is "
                          "required")
            if (tp_ or tpc) <= 0:
                raise err(422, 40010001, "trail must be > 0")
            if oc not in ("", "simple"):
                raise err(422, 40010001, "trailing stop orders must be simple")
        if typ == "market" and lp is not None:
            raise err(422, 40010001, "limit_price is not allowed for market "
                      "orders")
        coid = body.get("client_order_id")
        if coid is not None:
            coid = str(coid)
            if len(coid) > 128:
                raise err(422, 40010001, "client_order_id must be no more "
                          "than 128 characters")
            if coid in self.by_coid:
                raise err(422, 40010001, "client_order_id must be unique")
        if oc in ("bracket", "oco", "oto"):
            if tif not in ("day", "gtc"):
                raise err(422, 40010001, "time_in_force must be day or gtc "
                          "for advanced orders")
            if oc == "bracket" and (tp_lp is None or sl_sp is None):
                raise err(422, 40010001, "bracket orders require take_profit"
                          ".limit_price and stop_loss.stop_price")
            if oc == "oco" and (tp_lp is None or sl_sp is None):
                raise err(422, 40010001, "oco orders require take_profit and "
                          "stop_loss")
            if oc == "oto" and (tp_lp is None) == (sl_sp is None):
                raise err(422, 40010001, "oto orders require exactly one of "
                          "take_profit or stop_loss")
            if oc == "oco" and typ != "limit":
                raise err(422, 40010001, "oco orders must be limit orders")
            if oc == "bracket":
                if side == "buy" and not tp_lp > sl_sp or \
                        side == "sell" and not tp_lp < sl_sp:
                    raise err(422, 40010001, "take_profit.limit_price must "
                              "be %s stop_loss.stop_price" %
                              (">" if side == "buy" else "<"))
            if qty is None:
                raise err(422, 40010001, "qty is required for advanced orders")
        # buying power / quantity checks
        pos = self.pos_qty(sym)
        px = lp or sp or self.price(sym)
        if qty is not None:
            opening = (side == "buy" and pos >= 0) or \
                (side == "sell" and pos <= 0)
            if not opening:
                avail = abs(pos) - self.held_qty(sym, side, exclude=replaces)
                if qty > avail:
                    raise ApiError(403, {
                        "available": fmt(max(avail, D0)), "code": 40310000,
                        "existing_qty": fmt(abs(pos)),
                        "held_for_orders": fmt(abs(pos) - max(avail, D0)),
                        "message": "insufficient qty available for order "
                        "(requested: %s, available: %s)" % (
                            fmt(qty), fmt(max(avail, D0))),
                        "related_orders": [
                            x.id for x in self.orders.values()
                            if x.symbol == sym and x.side == side
                            and x.status in WORKING],
                        "symbol": sym})
            elif oc != "oco":
                cost = qty * px
                bp = self.buying_power(exclude=replaces)
                if cost > bp:
                    raise ApiError(403, {
                        "buying_power": fmt(bp), "code": 40310000,
                        "cost_basis": fmt(cost),
                        "message": "insufficient buying power"})
        elif notional > self.buying_power():
            raise ApiError(403, {"code": 40310000,
                                 "message": "insufficient buying power"})
        # build
        o = self.new_order(body)
        o.client_order_id = coid or self.uid()
        o.symbol, o.side, o.type, o.time_in_force = sym, side, typ, tif
        o.order_class = oc
        o.qty, o.notional = qty, notional
        o.limit_price = lp if typ in ("limit", "stop_limit") else None
        o.stop_price = sp if typ in ("stop", "stop_limit") else None
        o.trail_price, o.trail_percent = tp_, tpc
        o.status = "accepted"
        o.position_intent = ("buy_to_open" if pos >= 0 else "buy_to_close") \
            if side == "buy" else ("sell_to_close" if pos > 0
                                   else "sell_to_open")
        if typ == "trailing_stop":
            o.hwm = self.price(sym)
            o.stop_price = self.trail_stop(o)
        self.register(o)
        legs = []
        if oc in ("bracket", "oto", "oco"):
            exit_side = "sell" if side == "buy" else "buy"
            if oc == "oco":
                exit_side = side
            specs = []
            if tp_lp is not None and oc != "oco":
                specs.append(("limit", tp_lp, None))
            if sl_sp is not None:
                specs.append(("stop_limit" if sl_lp is not None else "stop",
                              sl_lp, sl_sp))
            for (lt, llp, lsp) in specs:
                leg = self.new_order({}, parent=o)
                leg.client_order_id = self.uid()
                leg.symbol, leg.side, leg.type = sym, exit_side, lt
                leg.time_in_force, leg.order_class = tif, oc
                leg.qty = qty
                leg.limit_price, leg.stop_price = llp, lsp
                # the stop-loss leg stays "held" until its stop triggers
                leg.status = "held"
                leg.armed = oc == "oco"
                leg.position_intent = "sell_to_close" if exit_side == "sell" \
                    else "buy_to_close"
                self.register(leg)
                o.legs.append(leg.id)
                legs.append(leg)
        if replaces is not None:
            o.replaces = replaces
        resp = self.order_json(o, nested=True)
        # the order is routed right after the answer: "new" on the stream
        if rej is not None:
            o.status = "rejected"
            o.failed_at = o.updated_at = self.now()
            self.emit("rejected", o)
            for leg in legs:
                leg.status = "canceled"
                leg.canceled_at = leg.updated_at = o.updated_at
            return resp
        if self.args.pending_new and announce:
            o.status = "pending_new"
            o.updated_at = self.now()
            self.emit("pending_new", o)
        o.status = "new"
        o.updated_at = self.now()
        if announce:
            self.emit("new", o)
        return resp

    def register(self, o):
        self.orders[o.id] = o
        self.order_seq.append(o.id)
        self.by_coid[o.client_order_id] = o.id

    def trail_stop(self, o):
        if o.trail_price is not None:
            off = o.trail_price
        else:
            off = (o.hwm * o.trail_percent / 100)
        s = o.hwm - off if o.side == "sell" else o.hwm + off
        return s.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def get_order(self, oid):
        o = self.orders.get(oid)
        if o is None:
            raise err(404, 40410000, "order not found")
        return o

    def group(self, o):
        root = self.orders[o.parent_id] if o.parent_id else o
        return [root] + [self.orders[i] for i in root.legs]

    def cancel(self, o, event="canceled", user=False):
        if o.status not in OPEN_STATUSES:
            raise err(422, 42210000, "order is already in \"%s\" state"
                      % o.status)
        if user and o.status == "pending_replace":
            raise err(422, 42210000, "order is already in \"%s\" state"
                      % o.status)
        if user and self.reject_cancels > 0:
            # accepted (204) but refused downstream, as on the stream
            self.reject_cancels -= 1
            o.updated_at = self.now()
            self.emit("order_cancel_rejected", o)
            return
        if user and self.args.pending_cancel:
            prev = o.status
            o.status = "pending_cancel"
            o.updated_at = self.now()
            self.emit("pending_cancel", o)
            o.status = prev
        ts = self.now()
        for x in self.group(o) if o.order_class in ("bracket", "oco", "oto") \
                else [o]:
            if x.status in OPEN_STATUSES:
                x.status = event
                x.updated_at = ts
                if event == "canceled":
                    x.canceled_at = ts
                else:
                    x.expired_at = ts
                self.emit(event, x)

    def replace(self, o, body):
        if o.status not in ("new", "accepted", "partially_filled", "held"):
            raise err(422, 42210000, "order is already in \"%s\" state"
                      % o.status)
        if not isinstance(body, dict):
            raise err(422, 40010001, "invalid request body")
        try:
            qty = dec(body.get("qty"))
            lp = dec(body.get("limit_price"))
            sp = dec(body.get("stop_price"))
            trail = dec(body.get("trail"))
        except Exception:
            raise err(422, 40010001, "invalid number format")
        tif = body.get("time_in_force") or o.time_in_force
        if tif not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
            raise err(422, 40010001, "invalid time_in_force")
        if lp is not None and o.type not in ("limit", "stop_limit"):
            raise err(422, 40010001, "limit_price is only for limit orders")
        if sp is not None and o.type not in ("stop", "stop_limit"):
            raise err(422, 40010001, "stop_price is only for stop orders")
        if trail is not None and o.type != "trailing_stop":
            raise err(422, 40010001, "trail is only for trailing_stop orders")
        if qty is not None and qty <= 0:
            raise err(422, 40010001, "qty must be > 0")
        coid = body.get("client_order_id")
        if coid is not None and str(coid) in self.by_coid:
            raise err(422, 40010001, "client_order_id must be unique")
        nb = {"symbol": o.symbol, "side": o.side, "type": o.type,
              "time_in_force": tif,
              "qty": str(qty if qty is not None else self.remaining(o)),
              "limit_price": str(lp or o.limit_price)
              if o.type in ("limit", "stop_limit") else None,
              "stop_price": str(sp or o.stop_price)
              if o.type in ("stop", "stop_limit") else None,
              "client_order_id": coid, "extended_hours": o.extended_hours}
        if o.type == "trailing_stop":
            if o.trail_price is not None:
                nb["trail_price"] = str(trail or o.trail_price)
            else:
                nb["trail_percent"] = str(trail or o.trail_percent)
        is_leg = o.parent_id is not None or o.order_class == "oco"
        if is_leg or o.status == "held" or o.legs:
            # an order of an advanced group is replaced in place in the group
            n = self.new_order(nb)
            n.__dict__.update({k: v for k, v in o.__dict__.items() if k in (
                "symbol", "side", "type", "time_in_force", "order_class",
                "parent_id", "position_intent", "trail_price", "armed",
                "triggered",
                "trail_percent", "hwm", "notional", "extended_hours")})
            n.legs = list(o.legs)
            n.client_order_id = str(coid) if coid else self.uid()
            n.qty = dec(nb["qty"])
            n.limit_price = dec(nb["limit_price"])
            n.stop_price = dec(nb["stop_price"])
            n.time_in_force = tif
            n.status = o.status if o.status == "held" else "new"
            self.register(n)
            if o.parent_id:
                p = self.orders[o.parent_id]
                p.legs = [n.id if i == o.id else i for i in p.legs]
            for i in n.legs:
                self.orders[i].parent_id = n.id
        else:
            resp = self.validate_and_create(nb, replaces=o.id,
                                            announce=False)
            n = self.orders[resp["id"]]
        ts = self.now()
        n.replaces = o.id
        if self.args.pending_replace:
            prev = o.status
            o.status = "pending_replace"
            o.updated_at = ts
            self.emit("pending_replace", o)
            o.status = prev
        if self.reject_replaces > 0:
            # the replacement is refused downstream: the old order stays
            self.reject_replaces -= 1
            if o.parent_id:
                p = self.orders[o.parent_id]
                p.legs = [o.id if i == n.id else i for i in p.legs]
            for i in n.legs:
                self.orders[i].parent_id = o.id
            n.legs = []
            n.status = "rejected"
            n.failed_at = n.updated_at = ts
            o.updated_at = ts
            self.emit("order_replace_rejected", o)
            self.emit("rejected", n)
            return self.order_json(n, nested=True)
        o.status = "replaced"
        o.replaced_at = o.updated_at = ts
        o.replaced_by = n.id
        self.emit("replaced", o)
        self.emit("new", n)
        return self.order_json(n, nested=True)

    # fills ---------------------------------------------------------------
    def fill(self, o, qty, price, t_ns):
        if o.qty is None:           # notional order: qty known at fill
            o.qty = (o.notional / price).quantize(Decimal("1e-9"),
                                                  rounding=ROUND_DOWN)
            qty = o.qty
        qty = min(qty, self.remaining(o))
        if qty <= 0:
            return
        t_ns += self.tick_small()       # unique execution time
        ts = ns_to_rfc(t_ns)
        signed = qty if o.side == "buy" else -qty
        # position and cash
        p = self.positions.setdefault(o.symbol, {"qty": D0, "cost": D0})
        q0 = p["qty"]
        with localcontext() as ctx:
            ctx.prec = 60
            if q0 == 0 or (q0 > 0) == (signed > 0):
                p["cost"] += qty * price
                p["qty"] = q0 + signed
            else:
                close = min(qty, abs(q0))
                p["cost"] -= p["cost"] * close / abs(q0)
                p["qty"] = q0 + signed
                rest = qty - close
                if rest > 0:
                    p["cost"] = rest * price
                if p["qty"] == 0:
                    p["cost"] = D0
        if p["qty"] == 0:
            del self.positions[o.symbol]
        self.cash += -qty * price if o.side == "buy" else qty * price
        # order
        o.filled_qty += qty
        o.fill_cost += qty * price
        with localcontext() as ctx:
            ctx.prec = 40
            o.filled_avg_price = (o.fill_cost / o.filled_qty)
        done = o.filled_qty >= o.qty
        o.status = "filled" if done else "partially_filled"
        o.updated_at = ts
        if done:
            o.filled_at = ts
        exe = self.uid()
        o.fills.append({"execution_id": exe, "qty": fmt(qty),
                        "price": fmt(price), "timestamp": ts})
        act_id = "%s%03d::%s" % (
            dt.datetime.fromtimestamp(t_ns // NS, dt.timezone.utc).strftime(
                "%Y%m%d%H%M%S"), (t_ns // 1_000_000) % 1000, exe)
        self.activities.append({
            "id": act_id, "activity_type": "FILL",
            "transaction_time": ts, "type": "fill" if done else
            "partial_fill", "price": fmt(price), "qty": fmt(qty),
            "side": o.side, "symbol": o.symbol,
            "leaves_qty": fmt(o.qty - o.filled_qty),
            "order_id": o.id, "cum_qty": fmt(o.filled_qty),
            "order_status": o.status, "_ns": t_ns})
        self.emit("fill" if done else "partial_fill", o, timestamp=ts,
                  execution_id=exe, price=fmt(price), qty=fmt(qty),
                  position_qty=fmt(self.pos_qty(o.symbol)))
        self.after_fill(o, done)

    def tick_small(self):
        self.tick += 1000
        return self.tick % (30 * NS)

    def after_fill(self, o, done):
        if o.order_class not in ("bracket", "oco", "oto"):
            return
        if o.parent_id is None and o.order_class != "oco" and done:
            ts = self.now()
            for i in o.legs:
                leg = self.orders[i]
                if leg.status == "held" and leg.type == "limit":
                    leg.status = "new"
                    leg.updated_at = ts
                    self.emit("new", leg)
                elif leg.status == "held":
                    leg.armed = True
            return
        if o.parent_id is not None or o.order_class == "oco":
            # an exit leg traded: the other one is canceled (one cancels
            # other) once this one is done; partial fill shrinks the other
            for x in self.group(o):
                if x is o or x.status not in OPEN_STATUSES:
                    continue
                if o.order_class == "bracket" and x.parent_id is None:
                    continue      # the filled entry
                if o.order_class == "oto" and x.parent_id is None:
                    continue
                if done:
                    ts = self.now()
                    x.status = "canceled"
                    x.canceled_at = x.updated_at = ts
                    self.emit("canceled", x)
                else:
                    x.qty = o.qty - o.filled_qty + x.filled_qty

    # market step ---------------------------------------------------------
    def step(self, n=1):
        advanced = 0
        for _ in range(n):
            if self.cursor >= len(self.timeline):
                break
            t = self.timeline[self.cursor]
            prev_t = self.timeline[self.cursor - 1] if self.cursor else None
            session_open = prev_t is None or self.day(prev_t) != self.day(t)
            self.cursor += 1
            self.tick = 0
            bars = self.by_time[t]
            for b in bars:
                self.last[b.sym] = b
            rec = {"bar_index": self.cursor, "time": ns_to_rfc(t),
                   "step_ns": time.monotonic_ns(), "send_ns": [],
                   "sent_ns": []}
            self.steps.append(rec)
            self.publish(bars, rec)
            nxt = self.timeline[self.cursor] if self.cursor < len(
                self.timeline) else None
            session_close = nxt is None or self.day(nxt) != self.day(t)
            for b in bars:
                self.match(b, session_open, session_close)
            if session_close:
                self.end_session()
            advanced += 1
        return advanced

    @staticmethod
    def day(t):
        return dt.datetime.fromtimestamp(t // NS, NY).date()

    def match(self, b, session_open, session_close):
        # orders working when the bar starts; legs released by a fill in
        # this bar trade from the next bar on
        def live(o):
            return o.status in WORKING or (o.status == "held" and o.armed)
        ids = [i for i in self.order_seq if self.orders[i].symbol == b.sym
               and live(self.orders[i])]
        for i in ids:
            o = self.orders[i]
            if live(o):
                self.match_one(o, b, session_open, session_close)

    def match_one(self, o, b, session_open, session_close):
        tif = o.time_in_force
        if tif == "opg" and not session_open:
            return          # waits for the next session's opening bar
        if tif == "cls" and not session_close:
            return
        ref = b.c if tif == "cls" else b.o
        price = None
        if o.type == "market":
            price = ref
        elif o.type == "limit":
            lp = o.limit_price
            if o.side == "buy" and (b.l <= lp or (tif == "cls" and b.c <= lp)):
                price = min(ref, lp)
            elif o.side == "sell" and (b.h >= lp or (tif == "cls" and
                                                      b.c >= lp)):
                price = max(ref, lp)
        elif o.type in ("stop", "stop_limit", "trailing_stop"):
            sp = o.stop_price
            if not o.triggered:
                if o.side == "buy" and b.h >= sp or \
                        o.side == "sell" and b.l <= sp:
                    o.triggered = True
                    trig = max(b.o, sp) if o.side == "buy" else min(b.o, sp)
                    if o.status == "held":      # stop-loss leg released
                        o.status = "new"
                        o.updated_at = self.now()
                        self.emit("new", o)
                elif o.type == "trailing_stop":
                    if o.side == "sell" and b.h > o.hwm or \
                            o.side == "buy" and b.l < o.hwm:
                        o.hwm = b.h if o.side == "sell" else b.l
                        o.stop_price = self.trail_stop(o)
                        o.updated_at = self.now()
                    trig = None
                else:
                    trig = None
            else:
                trig = b.o
            if trig is not None:
                if o.type == "stop_limit":
                    lp = o.limit_price
                    if o.side == "buy" and b.l <= lp:
                        price = min(trig, lp)
                    elif o.side == "sell" and b.h >= lp:
                        price = max(trig, lp)
                else:
                    price = trig
        cap = self.cap(b, o)
        if price is not None:
            rem = self.remaining(o) if o.qty is not None else None
            if tif == "fok" and rem is not None and cap < rem:
                price = None
            else:
                q = rem if rem is not None else D0
                if rem is not None:
                    q = min(rem, cap)
                self.fill(o, q, price, b.t + 30 * NS)
        if o.status in WORKING and tif in ("ioc", "fok"):
            self.cancel(o, "canceled")
        elif o.status in WORKING and tif == "opg":
            self.cancel(o, "canceled")

    def cap(self, b, o):
        if self.fill_share <= 0:
            return D0
        c = (b.v * self.fill_share)
        whole = o.qty is None or o.qty == o.qty.to_integral_value()
        if whole:
            c = c.to_integral_value(rounding=ROUND_DOWN)
            return max(Decimal(1), c)
        return c

    def end_session(self):
        for i in list(self.order_seq):
            o = self.orders[i]
            if o.time_in_force not in ("day", "opg", "cls", "ioc", "fok"):
                continue
            if o.status in WORKING or o.status == "held":
                ts = self.now()
                if o.filled_qty > 0:
                    o.status = "done_for_day"
                    o.updated_at = ts
                    self.emit("done_for_day", o)
                o.status = "expired"
                o.expired_at = o.updated_at = ts
                self.emit("expired", o)
        self.last_equity = self.equity()

    def publish(self, bars, rec=None):
        for c in list(self.data_conns):
            if not c.authed:
                continue
            msgs = []
            for b in bars:
                if b.sym in c.subs["trades"] or "*" in c.subs["trades"]:
                    for k, (p, off) in enumerate(((b.o, 1), (b.l if b.c >= b.o
                                                  else b.h, 20),
                                                 (b.h if b.c >= b.o else b.l,
                                                  40), (b.c, 59))):
                        msgs.append({"T": "t", "S": b.sym,
                                     "i": (b.t // NS % 10 ** 9) * 10 + k,
                                     "x": "V", "p": num(p),
                                     "s": max(1, int(b.v) // 4),
                                     "t": ns_to_rfc(b.t + off * NS + 123),
                                     "c": ["@"], "z": "C"})
                if b.sym in c.subs["quotes"] or "*" in c.subs["quotes"]:
                    msgs.append({"T": "q", "S": b.sym, "bx": "V",
                                 "bp": num(b.c - Decimal("0.01")), "bs": 1,
                                 "ax": "V", "ap": num(b.c + Decimal("0.01")),
                                 "as": 1,
                                 "t": ns_to_rfc(b.t + 59 * NS + 500),
                                 "c": ["R"], "z": "C"})
            for b in bars:
                if b.sym in c.subs["bars"] or "*" in c.subs["bars"]:
                    m = {"T": "b", "S": b.sym}
                    m.update(b.json())
                    msgs.append(m)
            if msgs:
                raw = StampedMsg(json.dumps(msgs, separators=(",", ":")))
                raw.step = rec
                c.queue.put_nowait(raw)

    # state ---------------------------------------------------------------
    def position_json(self, sym):
        p = self.positions[sym]
        q = p["qty"]
        cur = self.price(sym)
        with localcontext() as ctx:
            ctx.prec = 40
            avg = p["cost"] / abs(q)
            mv = q * cur
            cb = p["cost"] if q > 0 else -p["cost"]
            upl = mv - cb
            plpc = upl / abs(cb) if cb else D0
        bl = self.bars[sym]
        lastday = bl[0].o
        last = self.last.get(sym)
        if last:
            d = self.day(last.t)
            prev = [x for x in bl if self.day(x.t) < d]
            lastday = prev[-1].c if prev else bl[0].o
        held = self.held_qty(sym, "sell" if q > 0 else "buy")
        return {"asset_id": self.asset_ids[sym], "symbol": sym,
                "exchange": "NASDAQ", "asset_class": "us_equity",
                "asset_marginable": True, "qty": fmt(q),
                "avg_entry_price": fmt(avg.quantize(Decimal("1e-9"))),
                "side": "long" if q > 0 else "short",
                "market_value": fmt(mv), "cost_basis": fmt(cb),
                "unrealized_pl": fmt(upl),
                "unrealized_plpc": fmt(plpc.quantize(Decimal("1e-10"))),
                "unrealized_intraday_pl": fmt(upl),
                "unrealized_intraday_plpc":
                    fmt(plpc.quantize(Decimal("1e-10"))),
                "current_price": fmt(cur), "lastday_price": fmt(lastday),
                "change_today": fmt(((cur - lastday) / lastday).quantize(
                    Decimal("1e-10"))),
                "qty_available": fmt(q - held if q > 0 else q + held)}

    def account_json(self):
        lmv, smv = self.market_values()
        eq = self.equity()
        bp = self.buying_power()
        return {"id": self.account_id, "account_number": "PA3FAKE000001",
                "status": "ACTIVE", "crypto_status": "INACTIVE",
                "currency": "USD", "buying_power": fmt(bp),
                "regt_buying_power": fmt(bp),
                "daytrading_buying_power": fmt(bp),
                "effective_buying_power": fmt(bp),
                "non_marginable_buying_power": fmt(max(D0, self.cash)),
                "bod_dtbp": "0", "cash": fmt(self.cash),
                "accrued_fees": "0", "pending_transfer_in": "0",
                "pending_transfer_out": "0",
                "portfolio_value": fmt(eq), "pattern_day_trader": False,
                "trading_blocked": False, "transfers_blocked": False,
                "account_blocked": False,
                "created_at": ns_to_rfc(self.created_ns),
                "trade_suspended_by_user": False, "multiplier":
                fmt(self.multiplier), "shorting_enabled": True,
                "equity": fmt(eq), "last_equity": fmt(self.last_equity),
                "long_market_value": fmt(lmv), "short_market_value": fmt(smv),
                "position_market_value": fmt(lmv - smv),
                "initial_margin": fmt(lmv - smv),
                "maintenance_margin": fmt(((lmv - smv) * Decimal("0.3"))
                                          .quantize(Decimal("0.01"))),
                "last_maintenance_margin": "0", "sma": "0",
                "daytrade_count": 0}

    def state(self):
        return {
            "cash": fmt(self.cash), "equity": fmt(self.equity()),
            "buying_power": fmt(self.buying_power()),
            "bar_index": self.cursor, "bars_total": len(self.timeline),
            "time": ns_to_rfc(self.base_ns()),
            "positions": [self.position_json(s) for s in
                          sorted(self.positions)],
            "orders": [dict(self.order_json(self.orders[i]),
                            fills=self.orders[i].fills,
                            parent_id=self.orders[i].parent_id)
                       for i in self.order_seq],
            "activities": [{k: v for k, v in a.items() if k != "_ns"}
                           for a in self.activities],
            "events": self.events,
            "connections": {"trading": len(self.trade_conns),
                            "data": len(self.data_conns)},
            "faults": {"delay_ms": self.delay_ms,
                       "http": self.http_faults,
                       "lose_fill_events": self.lose_fills,
                       "duplicate_events": self.dup_events,
                       "reorder_events": self.reorder,
                       "reject_next_orders": len(self.reject_next),
                       "reject_next_cancel": self.reject_cancels,
                       "reject_next_replace": self.reject_replaces},
        }


# -------------------------------------------------------------- HTTP app
def jresp(obj, status=200, headers=None):
    return web.Response(text=json.dumps(obj, separators=(",", ":")),
                        status=status, content_type="application/json",
                        headers=headers)


def q_int(req, name, default, lo, hi):
    v = req.query.get(name)
    if v is None or v == "":
        return default
    try:
        i = int(v)
    except ValueError:
        raise err(422, 40010001, "invalid %s" % name)
    if i < lo or i > hi:
        raise err(422, 40010001, "%s must be between %d and %d"
                  % (name, lo, hi))
    return i


def q_time(req, name):
    v = req.query.get(name)
    if not v:
        return None
    try:
        return parse_time(v)
    except Exception:
        raise err(422, 40010001, "invalid %s" % name)


def make_app(fake):
    args = fake.args

    @web.middleware
    async def mw(request, handler):
        mono_ns = time.monotonic_ns()
        path = request.path
        entry = {"seq": len(fake.log) + 1, "method": request.method,
                 "path": path, "query": request.query_string,
                 "client_order_id": None, "order_class": None,
                 "status": None, "time": time.time(), "mono_ns": mono_ns}
        if not path.startswith("/_fake/"):
            fake.log.append(entry)
            if request.method in ("POST", "PATCH") and request.can_read_body:
                try:
                    b = json.loads(await request.read() or b"null")
                    if isinstance(b, dict):
                        entry["client_order_id"] = b.get("client_order_id")
                        entry["order_class"] = b.get("order_class")
                except Exception:
                    pass
            if path == "/v2/orders:by_client_order_id":
                entry["client_order_id"] = request.query.get(
                    "client_order_id")
        is_ws = path == TRADING_WS or path in DATA_WS
        try:
            if path.startswith("/_fake/"):
                return await handler(request)
            if fake.delay_ms:
                await asyncio.sleep(fake.delay_ms / 1000)
            for f in fake.http_faults:
                if f["count"] <= 0:
                    continue
                if f.get("path"):
                    if not path.startswith(f["path"]):
                        continue
                elif is_ws:
                    continue
                if f.get("method") and f["method"].upper() != request.method:
                    continue
                f["count"] -= 1
                st = int(f.get("status", 500))
                hdr = {}
                if st == 429:
                    ra = int(f.get("retry_after", 1))
                    hdr = {"Retry-After": str(ra),
                           "X-RateLimit-Limit": str(args.rate_limit or 200),
                           "X-RateLimit-Remaining": "0",
                           "X-RateLimit-Reset": str(int(time.time()) + ra)}
                    body = {"code": 42910000, "message": "rate limit exceeded"}
                else:
                    body = {"code": 50010000,
                            "message": "internal server error occurred"}
                fake.http_faults = [x for x in fake.http_faults
                                    if x["count"] > 0]
                entry["status"] = st
                entry["fault"] = True
                return jresp(body, st, hdr)
            if not is_ws and not check_auth(request):
                hk = request.headers.get("APCA-API-KEY-ID")
                hs = request.headers.get("APCA-API-SECRET-KEY")
                if hk is None or hs is None or hk != args.key:
                    raise ApiError(401, {"message": "unauthorized"})
                raise ApiError(403, {"message": "forbidden."})
            # rate limit headers (and enforcement if --rate-limit)
            minute = int(time.time() // 60)
            m, cnt = fake.rate_window
            cnt = cnt + 1 if m == minute else 1
            fake.rate_window = (minute, cnt)
            limit = args.rate_limit or 200
            rl = {"X-RateLimit-Limit": str(limit),
                  "X-RateLimit-Remaining": str(max(0, limit - cnt)),
                  "X-RateLimit-Reset": str((minute + 1) * 60)}
            if args.rate_limit and cnt > args.rate_limit and not is_ws:
                rl["Retry-After"] = str((minute + 1) * 60 - int(time.time()))
                raise ApiError(429, {"code": 42910000,
                                     "message": "rate limit exceeded"}, rl)
            resp = await handler(request)
            if not is_ws:
                for k, v in rl.items():
                    resp.headers[k] = v
            entry["status"] = resp.status
            return resp
        except ApiError as e:
            entry["status"] = e.status
            return jresp(e.body, e.status, e.headers)
        except web.HTTPException as e:
            entry["status"] = e.status
            raise

    def check_auth(request):
        return request.headers.get("APCA-API-KEY-ID") == args.key and \
            request.headers.get("APCA-API-SECRET-KEY") == args.secret

    async def body_json(request):
        try:
            raw = await request.read()
            return json.loads(raw) if raw else {}
        except Exception:
            raise err(400, 40010000, "request body format is invalid")

    r = web.RouteTableDef()

    @r.get("/v2/account")
    async def account(request):
        return jresp(fake.account_json())

    @r.get("/v2/clock")
    async def clock(request):
        now = fake.base_ns()
        days = sessions(fake)
        is_open = any(o <= now < c for (_, o, c) in days)
        nxt_open = next((o for (_, o, c) in days if o > now), None)
        nxt_close = next((c for (_, o, c) in days if c > now), None)
        if nxt_open is None or nxt_close is None:
            # past the data: the next weekday's regular session
            d = fake.day(now) + dt.timedelta(days=1)
            while d.weekday() >= 5:
                d += dt.timedelta(days=1)
            o9 = int(dt.datetime(d.year, d.month, d.day, 9, 30,
                                 tzinfo=NY).timestamp()) * NS
            nxt_open = nxt_open or o9
            nxt_close = nxt_close or o9 + 390 * 60 * NS
        return jresp({"timestamp": ns_to_rfc(now), "is_open": is_open,
                      "next_open": ns_to_rfc(nxt_open or now, False),
                      "next_close": ns_to_rfc(nxt_close or now, False)})

    @r.get("/v2/calendar")
    async def calendar(request):
        """NYSE's published schedule (NYSE_CLOSED, NYSE_EARLY below), as
        Alpaca's calendar answers it: every weekday that is not a full
        closure, 09:30-16:00 or 09:30-13:00 on an early close.  It does not
        depend on the fake's bars (real Alpaca's does not either)."""
        try:
            start = dt.date.fromisoformat(request.query.get("start")[:10]) \
                if request.query.get("start") else dt.date(2024, 1, 1)
            end = dt.date.fromisoformat(request.query.get("end")[:10]) \
                if request.query.get("end") else dt.date(2026, 12, 31)
        except ValueError:
            raise err(400, 40010001, "invalid date")
        if (end - start).days > 3660:
            raise err(422, 40010001, "range too long")
        out = []
        d = start
        while d <= end:
            ds = d.isoformat()
            if d.weekday() < 5 and ds not in NYSE_CLOSED and \
                    ds not in (args.closed or []):
                out.append({"date": ds, "open": "09:30",
                            "close": "13:00" if ds in NYSE_EARLY
                            else "16:00",
                            "session_open": "0400", "session_close": "2000",
                            "settlement_date": (d + dt.timedelta(days=1))
                            .isoformat()})
            d += dt.timedelta(days=1)
        return jresp(out)

    def asset_json(sym):
        return {"id": fake.asset_ids[sym], "class": "us_equity",
                "exchange": "NASDAQ", "symbol": sym, "name": sym + " Inc.",
                "status": "active", "tradable": True, "marginable": True,
                "maintenance_margin_requirement": 30, "shortable": True,
                "easy_to_borrow": True, "fractionable": True,
                "min_order_size": "1", "min_trade_increment": "1",
                "price_increment": "0.01", "attributes": []}

    @r.get("/v2/assets")
    async def assets(request):
        return jresp([asset_json(s) for s in fake.symbols])

    @r.get("/v2/assets/{sym}")
    async def asset(request):
        s = request.match_info["sym"].upper()
        if s not in fake.asset_ids:
            s2 = next((k for k, v in fake.asset_ids.items()
                       if v == request.match_info["sym"]), None)
            if s2 is None:
                raise err(404, 40410000, "asset not found for %s" % s)
            s = s2
        return jresp(asset_json(s))

    @r.post("/v2/orders")
    async def post_order(request):
        body = await body_json(request)
        return jresp(fake.validate_and_create(body))

    @r.get("/v2/orders")
    async def list_orders(request):
        status = request.query.get("status", "open")
        if status not in ("open", "closed", "all"):
            raise err(422, 40010001, "invalid status")
        limit = q_int(request, "limit", 50, 1, 500)
        after, until = q_time(request, "after"), q_time(request, "until")
        direction = request.query.get("direction", "desc")
        nested = request.query.get("nested", "false").lower() == "true"
        syms = request.query.get("symbols")
        syms = set(s.strip().upper() for s in syms.split(",")) if syms \
            else None
        side = request.query.get("side")
        out = []
        for i in fake.order_seq:
            o = fake.orders[i]
            if nested and o.parent_id is not None:
                continue
            is_open = o.status in OPEN_STATUSES
            if status == "open" and not is_open or \
                    status == "closed" and is_open:
                continue
            t = parse_time(o.submitted_at)
            if after is not None and t <= after or \
                    until is not None and t >= until:
                continue
            if syms and o.symbol not in syms or side and o.side != side:
                continue
            out.append(o)
        if direction == "desc":
            out.reverse()
        return jresp([fake.order_json(o, nested=nested) for o in out[:limit]])

    @r.get("/v2/orders:by_client_order_id")
    async def by_coid(request):
        c = request.query.get("client_order_id")
        if c is None or c not in fake.by_coid:
            raise err(404, 40410000, "order not found")
        return jresp(fake.order_json(fake.orders[fake.by_coid[c]],
                                     nested=True))

    @r.get("/v2/orders/{oid}")
    async def get_order(request):
        o = fake.get_order(request.match_info["oid"])
        return jresp(fake.order_json(o, nested=True))

    @r.patch("/v2/orders/{oid}")
    async def patch_order(request):
        o = fake.get_order(request.match_info["oid"])
        body = await body_json(request)
        return jresp(fake.replace(o, body))

    @r.delete("/v2/orders/{oid}")
    async def delete_order(request):
        o = fake.get_order(request.match_info["oid"])
        fake.cancel(o, user=True)
        return web.Response(status=204)

    @r.delete("/v2/orders")
    async def delete_orders(request):
        out = []
        for i in list(fake.order_seq):
            o = fake.orders[i]
            if o.status in OPEN_STATUSES and o.parent_id is None:
                fake.cancel(o)
                out.append({"id": o.id, "status": 200,
                            "body": fake.order_json(o, nested=True)})
        return jresp(out, 207)

    @r.get("/v2/positions")
    async def positions(request):
        return jresp([fake.position_json(s) for s in sorted(fake.positions)])

    @r.get("/v2/positions/{sym}")
    async def position(request):
        s = request.match_info["sym"].upper()
        if s not in fake.positions:
            raise err(404, 40410000, "position does not exist")
        return jresp(fake.position_json(s))

    @r.delete("/v2/positions/{sym}")
    async def close_position(request):
        s = request.match_info["sym"].upper()
        if s not in fake.positions:
            raise err(404, 40410000, "position not found: %s" % s)
        q = fake.positions[s]["qty"]
        try:
            qty = dec(request.query.get("qty")) or abs(q)
            pct = dec(request.query.get("percentage"))
        except Exception:
            raise err(422, 40010001, "invalid qty")
        if pct is not None:
            qty = (abs(q) * pct / 100).quantize(Decimal("1e-9"),
                                                rounding=ROUND_DOWN)
        # close the position: cancel orders holding its qty first
        for o in list(fake.orders.values()):
            if o.symbol == s and o.status in OPEN_STATUSES and \
                    o.side == ("sell" if q > 0 else "buy") and \
                    o.parent_id is None:
                fake.cancel(o)
        return jresp(fake.validate_and_create({
            "symbol": s, "qty": str(qty), "side": "sell" if q > 0 else "buy",
            "type": "market", "time_in_force": "day"}))

    async def activities_common(request, types):
        if types is not None and not {"FILL"} & types and types:
            return jresp([])
        direction = request.query.get("direction", "desc")
        if direction not in ("asc", "desc"):
            raise err(422, 40010001, "invalid direction")
        size = q_int(request, "page_size", 100, 1, 100)
        after, until = q_time(request, "after"), q_time(request, "until")
        date = request.query.get("date")
        items = list(fake.activities)
        if date:
            items = [a for a in items
                     if fake.day(a["_ns"]).isoformat() == date[:10]]
        if after is not None:
            items = [a for a in items if a["_ns"] > after]
        if until is not None:
            items = [a for a in items if a["_ns"] < until]
        if direction == "desc":
            items.reverse()
        tok = request.query.get("page_token")
        if tok:
            ids = [a["id"] for a in items]
            if tok in ids:
                items = items[ids.index(tok) + 1:]
            else:
                raise err(422, 40010001, "invalid page_token")
        return jresp([{k: v for k, v in a.items() if k != "_ns"}
                      for a in items[:size]])

    @r.get("/v2/account/activities/{atype}")
    async def activities_one(request):
        t = request.match_info["atype"].upper()
        return await activities_common(request, {t})

    @r.get("/v2/account/activities")
    async def activities_many(request):
        t = request.query.get("activity_types")
        types = set(x.strip().upper() for x in t.split(",")) if t else None
        return await activities_common(request, types)

    # -------- market data REST
    def parse_tf(tf):
        import re
        m = re.fullmatch(r"(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)", tf or "")
        if not m:
            raise err(400, 40010001, "invalid timeframe")
        n, u = int(m.group(1)), m.group(2)
        u = {"T": "Min", "H": "Hour", "D": "Day", "W": "Week",
             "M": "Month"}.get(u, u)
        lim = {"Min": 59, "Hour": 23, "Day": 1, "Week": 1, "Month": 12}[u]
        if n < 1 or n > lim:
            raise err(400, 40010001, "invalid timeframe")
        return n, u

    def aggregate(bl, n, u):
        if u == "Min" and n == 1:
            return bl
        groups = {}
        order = []
        for b in bl:
            loc = dt.datetime.fromtimestamp(b.t // NS, NY)
            if u == "Min":
                k = b.t - (b.t % (n * 60 * NS))
            elif u == "Hour":
                k = b.t - (b.t % (n * 3600 * NS))
            else:
                d = loc.date()
                if u == "Week":
                    d = d - dt.timedelta(days=d.weekday())
                elif u == "Month":
                    d = d.replace(day=1)
                k = int(dt.datetime(d.year, d.month, d.day, tzinfo=NY)
                        .timestamp()) * NS
            if k not in groups:
                groups[k] = Bar(b.sym, k, b.o, b.h, b.l, b.c, b.v)
                order.append(k)
            else:
                g = groups[k]
                g.h, g.l, g.c, g.v = max(g.h, b.h), min(g.l, b.l), b.c, \
                    g.v + b.v
        return [groups[k] for k in order]

    def bars_query(request, syms):
        n, u = parse_tf(request.query.get("timeframe"))
        feed = request.query.get("feed", "iex")
        if feed not in ("iex", "sip", "otc"):
            raise err(400, 40010001, "invalid feed")
        limit = q_int(request, "limit", 1000, 1, 10000)
        start, end = q_time(request, "start"), q_time(request, "end")
        asc = request.query.get("sort", "asc") != "desc"
        published = fake.timeline[fake.cursor - 1] if fake.cursor else -1
        rows = []
        for s in syms:
            bl = [b for b in fake.bars.get(s, []) if b.t <= published]
            for b in aggregate(bl, n, u):
                if start is not None and b.t < start or \
                        end is not None and b.t > end:
                    continue
                rows.append((s, b))
        if not asc:
            rows.sort(key=lambda x: (x[0], -x[1].t))
        tok = request.query.get("page_token")
        if tok:
            try:
                ts, tt = base64.b64decode(tok).decode().split("|")
                tt = int(tt)
            except Exception:
                raise err(400, 40010001, "invalid page_token")
            keyf = (lambda s, t: (s, t)) if asc else (lambda s, t: (s, -t))
            k0 = keyf(ts, tt)
            rows = [x for x in rows if keyf(x[0], x[1].t) > k0]
        page, more = rows[:limit], len(rows) > limit
        nxt = None
        if more:
            s, b = page[-1]
            nxt = base64.b64encode(("%s|%d" % (s, b.t)).encode()).decode()
        return page, nxt

    @r.get("/v2/stocks/bars")
    async def multi_bars(request):
        s = request.query.get("symbols")
        if not s:
            raise err(400, 40010001, "symbols is required")
        syms = sorted(set(x.strip().upper() for x in s.split(",") if x))
        page, nxt = bars_query(request, syms)
        out = {}
        for sym, b in page:
            out.setdefault(sym, []).append(b.json())
        return jresp({"bars": out, "next_page_token": nxt})

    @r.get("/v2/stocks/{sym}/bars")
    async def one_bars(request):
        sym = request.match_info["sym"].upper()
        page, nxt = bars_query(request, [sym])
        return jresp({"bars": [b.json() for _, b in page], "symbol": sym,
                      "next_page_token": nxt})

    # -------- trading stream
    class Conn:
        def __init__(self, ws):
            self.ws, self.queue = ws, asyncio.Queue()
            self.authed = self.listening = False
            self.subs = {"trades": [], "quotes": [], "bars": []}

    async def sender(conn, binary):
        try:
            while True:
                raw = await conn.queue.get()
                if raw is None:
                    break
                rec = getattr(raw, "step", None)
                if rec is not None:
                    rec["send_ns"].append(time.monotonic_ns())
                if binary:
                    await conn.ws.send_bytes(raw.encode())
                else:
                    await conn.ws.send_str(raw)
                if rec is not None:
                    rec["sent_ns"].append(time.monotonic_ns())
        except Exception:
            pass

    @r.get(TRADING_WS)
    async def trading_ws(request):
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        c = Conn(ws)
        binary = args.stream_frames == "binary"
        task = asyncio.ensure_future(sender(c, binary))
        fake.trade_conns.add(c)

        def out(obj):
            c.queue.put_nowait(json.dumps(obj, separators=(",", ":")))
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    m = json.loads(msg.data)
                    action = m.get("action")
                except Exception:
                    out({"stream": "error",
                         "data": {"error_message": "invalid syntax"}})
                    continue
                if action in ("auth", "authenticate"):
                    d = m.get("data") or {}
                    key = m.get("key", d.get("key_id"))
                    sec = m.get("secret", d.get("secret_key"))
                    ok = key == args.key and sec == args.secret
                    c.authed = ok
                    out({"stream": "authorization",
                         "data": {"status": "authorized" if ok else
                                  "unauthorized", "action": "authenticate"}})
                elif action == "listen":
                    if not c.authed:
                        out({"stream": "authorization",
                             "data": {"status": "unauthorized",
                                      "action": "listen"}})
                        continue
                    streams = (m.get("data") or {}).get("streams") or []
                    ok = [s for s in streams if s == "trade_updates"]
                    c.listening = bool(ok)
                    out({"stream": "listening", "data": {"streams": ok}})
                else:
                    out({"stream": "error",
                         "data": {"error_message": "unrecognized action"}})
        finally:
            fake.trade_conns.discard(c)
            c.queue.put_nowait(None)
            await asyncio.wait([task], timeout=1)
        return ws

    # -------- market data stream
    async def data_ws(request):
        feed = request.path.rsplit("/", 1)[1]
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        c = Conn(ws)
        task = asyncio.ensure_future(sender(c, False))

        def out(obj):
            c.queue.put_nowait(json.dumps([obj], separators=(",", ":")))
        out({"T": "success", "msg": "connected"})
        closing = False

        async def auth_timeout():
            await asyncio.sleep(args.auth_timeout)
            if not c.authed:
                out({"T": "error", "code": 404, "msg": "auth timeout"})
                c.queue.put_nowait(None)
                await asyncio.sleep(0.2)
                await ws.close()
        at = asyncio.ensure_future(auth_timeout())
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    m = json.loads(msg.data)
                    action = m["action"]
                except Exception:
                    out({"T": "error", "code": 400, "msg": "invalid syntax"})
                    continue
                if action == "auth":
                    if c.authed:
                        out({"T": "error", "code": 403,
                             "msg": "already authenticated"})
                        continue
                    if m.get("key") != args.key or \
                            m.get("secret") != args.secret:
                        out({"T": "error", "code": 402, "msg": "auth failed"})
                        closing = True
                        break
                    if feed == "sip" and args.no_sip:
                        out({"T": "error", "code": 409,
                             "msg": "insufficient subscription"})
                        closing = True
                        break
                    if sum(1 for x in fake.data_conns if x.authed) >= \
                            args.data_conn_limit:
                        out({"T": "error", "code": 406,
                             "msg": "connection limit exceeded"})
                        closing = True
                        break
                    c.authed = True
                    fake.data_conns.add(c)
                    out({"T": "success", "msg": "authenticated"})
                elif action in ("subscribe", "unsubscribe"):
                    if not c.authed:
                        out({"T": "error", "code": 401,
                             "msg": "not authenticated"})
                        continue
                    new = {k: list(v) for k, v in c.subs.items()}
                    bad = False
                    for k in ("trades", "quotes", "bars"):
                        v = m.get(k) or []
                        if not isinstance(v, list):
                            bad = True
                            break
                        for s in v:
                            s = str(s).upper() if s != "*" else "*"
                            if action == "subscribe" and s not in new[k]:
                                new[k].append(s)
                            elif action == "unsubscribe" and s in new[k]:
                                new[k].remove(s)
                    if bad:
                        out({"T": "error", "code": 400,
                             "msg": "invalid syntax"})
                        continue
                    if feed == "iex" and len(set(new["trades"]) |
                                             set(new["quotes"])) > \
                            args.iex_symbol_limit:
                        out({"T": "error", "code": 405,
                             "msg": "symbol limit exceeded"})
                        continue
                    c.subs = new
                    out(dict({"T": "subscription"}, **new))
                else:
                    out({"T": "error", "code": 400, "msg": "invalid syntax"})
        finally:
            at.cancel()
            fake.data_conns.discard(c)
            c.queue.put_nowait(None)
            await asyncio.wait([task], timeout=1)
            if closing:
                await ws.close()
        return ws

    for p in DATA_WS:
        r.get(p)(data_ws)

    # -------- control API
    @r.post("/_fake/reset")
    async def reset(request):
        """Back to the start: market, account, orders, log, faults, options;
        every stream connection is closed."""
        if fake.auto_task:
            fake.auto_task.cancel()
        if fake.held_event is not None:
            fake.held_event[2].cancel()
        conns = list(fake.trade_conns) + list(fake.data_conns)
        vars(args).update(fake.orig_args)
        fake.__init__(args)
        for c in conns:
            await c.ws.close(code=1001)
        return jresp({"bar_index": fake.cursor})

    @r.get("/_fake/state")
    async def st(request):
        return jresp(fake.state())

    @r.get("/_fake/log")
    async def lg(request):
        return jresp(fake.log)

    @r.get("/_fake/steps")
    async def steps(request):
        """Every step: bar_index, the bar time, and time.monotonic_ns()
        when it was taken (step_ns) and when its data stream message was
        handed to each connection's socket (send_ns) and written (sent_ns);
        the log's mono_ns is the same clock (bench/bench_alpaca.py)."""
        return jresp(fake.steps)

    @r.post("/_fake/step")
    async def stp(request):
        b = await body_json(request)
        n = int((b or {}).get("n", 1))
        k = fake.step(n)
        await asyncio.sleep(0)
        return jresp({"advanced": k, "bar_index": fake.cursor,
                      "done": fake.cursor >= len(fake.timeline),
                      "time": ns_to_rfc(fake.base_ns())})

    @r.post("/_fake/auto")
    async def auto(request):
        b = await body_json(request)
        ms = (b or {}).get("interval_ms")
        if fake.auto_task:
            fake.auto_task.cancel()
            fake.auto_task = None
        if ms:
            async def run():
                while fake.cursor < len(fake.timeline):
                    await asyncio.sleep(ms / 1000)
                    fake.step(1)
            fake.auto_task = asyncio.ensure_future(run())
        return jresp({"interval_ms": ms or 0})

    @r.post("/_fake/config")
    async def cfg(request):
        b = await body_json(request)
        if "fill_share" in b:
            fake.fill_share = dec(b["fill_share"])
        if "stream_frames" in b:
            args.stream_frames = b["stream_frames"]
        for k in ("pending_new", "pending_cancel", "pending_replace"):
            if k in b:
                setattr(args, k, bool(b[k]))
        if "cash" in b:
            fake.cash = dec(b["cash"])
        return jresp({"fill_share": fmt(fake.fill_share),
                      "stream_frames": args.stream_frames,
                      "pending_new": args.pending_new,
                      "pending_cancel": args.pending_cancel,
                      "pending_replace": args.pending_replace})

    @r.post("/_fake/event")
    async def inject(request):
        """Send a less common event for an order (stopped, suspended,
        calculated, done_for_day, ...), optionally setting its status."""
        b = await body_json(request)
        o = fake.get_order(b.get("order_id") or
                           fake.by_coid.get(b.get("client_order_id"), ""))
        ev = b.get("event")
        if ev not in ("new", "fill", "partial_fill", "canceled", "expired",
                      "done_for_day", "replaced", "rejected", "pending_new",
                      "pending_cancel", "pending_replace", "stopped",
                      "suspended", "calculated", "order_cancel_rejected",
                      "order_replace_rejected"):
            raise err(422, 40010001, "unknown event")
        if b.get("status"):
            o.status = b["status"]
        o.updated_at = fake.now()
        extra = {}
        if ev in ("fill", "partial_fill"):
            extra = {"execution_id": fake.uid(), "timestamp": o.updated_at,
                     "price": fmt(o.filled_avg_price),
                     "qty": fmt(o.filled_qty),
                     "position_qty": fmt(fake.pos_qty(o.symbol))}
        fake.emit(ev, o, **extra)
        return jresp(fake.order_json(o, nested=True))

    @r.post("/_fake/faults")
    async def faults(request):
        b = await body_json(request)
        if b.get("drop_trading_stream"):
            for c in list(fake.trade_conns):
                fake.trade_conns.discard(c)
                await c.ws.close(code=1001)
        if b.get("drop_data_stream"):
            for c in list(fake.data_conns):
                fake.data_conns.discard(c)
                await c.ws.close(code=1001)
        if "delay_ms" in b:
            fake.delay_ms = int(b["delay_ms"] or 0)
        for f in ([b["http_error"]] if "http_error" in b else []) + \
                list(b.get("http_errors") or []):
            fake.http_faults.append({
                "status": int(f.get("status", 500)),
                "count": int(f.get("count", 1)), "path": f.get("path"),
                "method": f.get("method"),
                "retry_after": int(f.get("retry_after", 1))})
        if "lose_fill_events" in b:
            fake.lose_fills = int(b["lose_fill_events"])
        if "duplicate_events" in b:
            fake.dup_events = int(b["duplicate_events"])
        if "reorder_events" in b:
            fake.reorder = int(b["reorder_events"])
        rj = b.get("reject_next_order")
        if rj:
            if rj is True:
                rj = {}
            for _ in range(int(rj.get("count", 1))):
                fake.reject_next.append({
                    "mode": rj.get("mode", "http"),
                    "status": int(rj.get("status", 403)),
                    "body": rj.get("body")})
        if "reject_next_cancel" in b:
            fake.reject_cancels = int(b["reject_next_cancel"])
        if "reject_next_replace" in b:
            fake.reject_replaces = int(b["reject_next_replace"])
        if b.get("clear"):
            fake.reject_cancels = fake.reject_replaces = 0
            fake.delay_ms = 0
            fake.http_faults = []
            fake.lose_fills = fake.dup_events = fake.reorder = 0
            fake.reject_next = []
        return jresp(fake.state()["faults"])

    app = web.Application(middlewares=[mw])
    app.add_routes(r)
    return app


# NYSE's holidays and early closes (1 p.m.), from its published schedule
# (nyse.com "Holidays & Trading Hours"), 2024-2026, written here apart from
# dto's own calendar (src/market/calendar.c) so that `dto broker check` can
# compare the two.  2025-01-09: the national day of mourning for President
# Carter.
NYSE_CLOSED = {
    "2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27",
    "2024-06-19", "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25",
    "2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18",
    "2025-05-26", "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27",
    "2025-12-25",
    "2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25",
    "2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25",
}
NYSE_EARLY = {
    "2024-07-03", "2024-11-29", "2024-12-24",
    "2025-07-03", "2025-11-28", "2025-12-24",
    "2026-11-27", "2026-12-24",
}


def sessions(fake):
    out = []
    cur = None
    for t in fake.timeline:
        d = fake.day(t)
        if cur is None or cur[0] != d:
            cur = [d, t, t + 60 * NS]
            out.append(cur)
        else:
            cur[2] = t + 60 * NS
    return [tuple(x) for x in out]


# ------------------------------------------------------------------- main
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--bars", nargs="*", action="extend", default=[],
                    help="CSV files time,open,high,low,close,volume[,symbol]")
    ap.add_argument("--symbols", default="AAPL,MSFT,SPY",
                    help="symbols to generate when no --bars")
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--key", default="FAKEKEY")
    ap.add_argument("--secret", default="FAKESECRET")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cash", default="100000")
    ap.add_argument("--multiplier", default="1")
    ap.add_argument("--fill-share", default="1",
                    help="max share of a bar's volume one order fills per bar")
    ap.add_argument("--start-index", type=int, default=0,
                    help="bars already in the past at start (history)")
    ap.add_argument("--stream-frames", choices=("binary", "text"),
                    default="binary")
    ap.add_argument("--pending-new", action="store_true",
                    help="send pending_new before new")
    ap.add_argument("--pending-cancel", action="store_true",
                    help="send pending_cancel before canceled")
    ap.add_argument("--pending-replace", action="store_true",
                    help="send pending_replace before replaced")
    ap.add_argument("--auth-timeout", type=float, default=10.0)
    ap.add_argument("--data-conn-limit", type=int, default=1)
    ap.add_argument("--iex-symbol-limit", type=int, default=30)
    ap.add_argument("--no-sip", action="store_true")
    ap.add_argument("--rate-limit", type=int, default=0,
                    help="enforce N requests/minute (0: headers only)")
    ap.add_argument("--auto-ms", type=int, default=0)
    ap.add_argument("--closed", action="append", metavar="YYYY-MM-DD",
                    help="an unscheduled closure in /v2/calendar "
                         "(repeatable), as for a storm or a day of mourning")
    ap.add_argument("--max-seconds", type=float, default=600)
    return ap.parse_args(argv)


async def amain(args):
    fake = Fake(args)
    fake.orig_args = dict(vars(args))
    app = make_app(fake)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, shutdown_timeout=2.0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print("fake_alpaca listening on %s:%d" % (args.host, port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    loop.call_later(args.max_seconds, stop.set)
    if args.auto_ms:
        async def run():
            while fake.cursor < len(fake.timeline):
                await asyncio.sleep(args.auto_ms / 1000)
                fake.step(1)
        fake.auto_task = asyncio.ensure_future(run())
    await stop.wait()
    if fake.auto_task:
        fake.auto_task.cancel()
    for c in list(fake.trade_conns) + list(fake.data_conns):
        try:
            await c.ws.close(code=1001)
        except Exception:
            pass
    await runner.cleanup()


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    host = args.host
    try:
        loop_ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loop_ok = False
    if not loop_ok:
        print("fake_alpaca: refusing non-loopback --host %s" % host,
              file=sys.stderr)
        return 2
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
