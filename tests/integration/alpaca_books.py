"""Helpers of tests/integration/test_alpaca_run.py: the fake Alpaca as a
process and as the oracle, `dto run` against it, and both sides' books
normalised into plain Python values (Decimal amounts) to compare.

The fake's /_fake/state is the truth: its orders (by client order id, with
status, filled qty and avg fill price), its FILL activities (mapped to
client order ids through order ids) and its positions.  dto's side is read
from the journal (the SQLite store's orders, fills and positions tables),
which survives a SIGKILL, and from a process's --out folder.

Every wait here is bounded; every process started here is stopped by its
pid (stop_proc), never by name.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal as D
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fakes" / "alpaca" / "fake_alpaca.py"
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable
KEY, SECRET = "E2EKEYID", "E2E-SECRET-never-printed-42"
SCALE = D(10) ** 8
SYMBOLS = ("AAPL", "MSFT", "SPY")

# the fake's order status -> dto's order state (orders.csv `state`, the
# journal's orders.state), for an order both have at the end
STATUS_TO_STATE = {
    "filled": "filled",
    "canceled": "canceled",
    "expired": "expired",
    "done_for_day": "expired",
    "rejected": "rejected",
    "replaced": "replaced",
    "new": "accepted",
    "accepted": "accepted",
    "pending_new": "pending_new",
    "partially_filled": "partially_filled",
}
TERMINAL_STATES = {"filled", "canceled", "rejected", "expired", "replaced"}


# ------------------------------------------------------------ market data
def write_bars(folder, dates, seed, symbols=SYMBOLS):
    """One-minute bars of the regular session (09:30-16:00 New York) of
    each date, a seeded random walk per symbol, as the fake's --bars CSV
    files (FOLDER/SYMBOL.csv); the paths.  The dates must be trading days
    of dto's us_equity calendar (the fake does not know holidays)."""
    import random
    from datetime import date, timedelta
    from zoneinfo import ZoneInfo
    ny = ZoneInfo("America/New_York")
    rng = random.Random(seed)
    paths = []
    for sym in symbols:
        px = D(rng.randint(50, 300))
        rows = ["time,open,high,low,close,volume"]
        for d in dates:
            d = date.fromisoformat(d)
            t = datetime(d.year, d.month, d.day, 9, 30, tzinfo=ny)
            for _ in range(390):
                o = px
                c = max(D("1.00"), o + D(rng.randint(-25, 25)) / 100)
                h = max(o, c) + D(rng.randint(0, 15)) / 100
                lo = max(D("0.50"), min(o, c) - D(rng.randint(0, 15)) / 100)
                v = rng.randint(500, 20000)
                rows.append("%s,%s,%s,%s,%s,%d" % (
                    t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    o, h, lo, c, v))
                t += timedelta(minutes=1)
                px = c
        p = Path(folder) / f"{sym}.csv"
        p.write_text("\n".join(rows) + "\n")
        paths.append(p)
    return paths


# ------------------------------------------------------------ processes
class FakeProc:
    def __init__(self, port, proc, stderr_path):
        self.port, self.proc, self.stderr_path = port, proc, stderr_path
        self.url = "http://127.0.0.1:%d" % port
        self.ws_url = "ws://127.0.0.1:%d" % port

    # control API -------------------------------------------------------
    def call(self, method, path, body=None, timeout=20):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
        return json.loads(text) if text else None

    def state(self):
        return self.call("GET", "/_fake/state")

    def log(self):
        return self.call("GET", "/_fake/log")

    def step(self, n=1):
        return self.call("POST", "/_fake/step", {"n": n})

    def auto(self, interval_ms):
        return self.call("POST", "/_fake/auto", {"interval_ms": interval_ms})

    def faults(self, **kw):
        return self.call("POST", "/_fake/faults", kw)


def dump_fake(fake, folder):
    """The fake's state and request log as JSON files in folder (for the
    post-mortem of a failed test); nothing when the fake is gone."""
    if fake is None or fake.proc.poll() is not None:
        return
    try:
        for name, what in (("fake_state.json", fake.state),
                           ("fake_log.json", fake.log)):
            (Path(folder) / name).write_text(json.dumps(what(), indent=0))
    except (OSError, ValueError, urllib.error.URLError):
        pass


def start_fake(tmp_path, *args, max_seconds=150):
    """The fake on a free loopback port; args are its options (bars)."""
    tmp_path = Path(tmp_path)
    pf = tmp_path / "fake.port"
    errp = tmp_path / "fake.stderr"
    with open(errp, "wb") as err:
        proc = subprocess.Popen(
            [PY, str(FAKE), "--host", "127.0.0.1", "--port", "0",
             "--port-file", str(pf), "--key", KEY, "--secret", SECRET,
             "--max-seconds", str(max_seconds), *map(str, args)],
            stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 15
    while time.time() < deadline:
        if pf.exists() and pf.read_text().strip():
            return FakeProc(int(pf.read_text()), proc, errp)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    stop_proc(proc)
    raise AssertionError("fake did not start: " + errp.read_text())


def stop_proc(proc, sig=signal.SIGTERM, timeout=15):
    """Stop one process we started, by its pid; its exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=5)
    return proc.returncode


def dto_env(key=KEY, secret=SECRET):
    env = dict(os.environ)
    for k in ("APCA_API_BASE_URL", "APCA_API_DATA_URL", "APCA_API_KEY_ID",
              "APCA_API_SECRET_KEY"):
        env.pop(k, None)
    if key is not None:
        env["APCA_API_KEY_ID"] = key
    if secret is not None:
        env["APCA_API_SECRET_KEY"] = secret
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    return env


def write_config(path, fake, store=None, reconcile_interval="2s",
                 feed=None, params="fast: 2, slow: 3", extra="",
                 alpaca_extra="", strategy="ma_crossover"):
    text = """\
log_level: info
accounts:
  - id: live
    broker: alpaca
    cash: 100000
instruments:
""" + "".join(f"  - symbol: {s}\n" for s in SYMBOLS) + f"""\
strategies:
  - id: mac
    type: {strategy}
    account: live
    symbols: [{", ".join(SYMBOLS)}]
    params: {{{params}}}
alpaca:
  trading_url: {fake.url if fake else "http://127.0.0.1:9"}
  data_url: {fake.url if fake else "http://127.0.0.1:9"}
  data_stream_url: {fake.ws_url if fake else "ws://127.0.0.1:9"}/v2/iex
  rate_limit_per_min: 10000
  reconcile_interval: {reconcile_interval}
{alpaca_extra}run:
  state_dir: state
"""
    if feed:
        text += f"  feed: {feed}\n"
    if store:
        text += f"  store: sqlite:{store}\n"
    text += extra
    Path(path).write_text(text)
    return Path(path)


class Dto:
    """One `dto run` process, its log file read as it grows."""

    def __init__(self, dto_bin, cfg, out, log, env=None):
        self.log_path = Path(log)
        self.out = Path(out)
        self.errp = Path(str(log) + ".stderr")
        self.started = time.time()
        with open(self.errp, "wb") as err:
            self.proc = subprocess.Popen(
                [dto_bin, "run", "--config", str(cfg), "--out", str(out),
                 "--log", str(log)],
                stdout=subprocess.DEVNULL, stderr=err,
                env=env or dto_env())

    def lines(self):
        return read_log(self.log_path)

    def stderr(self):
        return self.errp.read_text(errors="replace") \
            if self.errp.exists() else ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        return stop_proc(self.proc, sig, timeout)


def read_log(path):
    out = []
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line, object_pairs_hook=no_repeats))
        except ValueError:
            pass  # a line being written
    return out


def no_repeats(pairs):
    """A JSON object; a key repeated in one log line is a dto bug (a
    reader keeping the last value would see another time)."""
    d = {}
    for k, v in pairs:
        assert k not in d, "log line repeats key %r" % k
        d[k] = v
    return d


def event_name(e):
    return e.get("event") or e.get("msg") or ""


def log_time(e):
    """A log line's time, seconds since the epoch (float), or None."""
    ts = e.get("ts") or e.get("time")
    if ts is None:
        return None
    if isinstance(ts, (int, float)):
        return float(ts)
    return parse_rfc3339(ts)


def parse_rfc3339(s):
    s = s.strip()
    assert s.endswith("Z"), s
    s = s[:-1]
    frac = D(0)
    if "." in s:
        s, f = s.split(".")
        frac = D("0." + f)
    dt = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=timezone.utc)
    return float(D(int(dt.timestamp())) + frac)


class LiveRun:
    """A fake Alpaca (start_fake with fake_args) and one `dto run` against
    it (write_config with cfg), both stopped on leaving the with block."""

    def __init__(self, dto_bin, tmp_path, fake_args=(), **cfg):
        self.tmp = Path(tmp_path)
        self.fake = start_fake(self.tmp, *fake_args, max_seconds=90)
        try:
            self.cfg = write_config(self.tmp / "c.yaml", self.fake, **cfg)
            self.dto = Dto(dto_bin, self.cfg, self.tmp / "out",
                           self.tmp / "dto.log")
        except BaseException:
            stop_proc(self.fake.proc)
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.dto.stop(signal.SIGTERM)
        dump_fake(self.fake, self.tmp)
        stop_proc(self.fake.proc)

    def events(self, name):
        return [l for l in self.dto.lines() if event_name(l) == name]

    def wait(self, pred, what, timeout=30):
        """Until pred(), while dto lives."""
        def ok():
            assert self.dto.alive(), self.dto.stderr()[-3000:]
            return pred()
        return wait_until(ok, timeout, 0.05, what)

    def wait_ready(self):
        """dto reconciled and its market data subscribed."""
        self.wait(lambda: self.events("reconcile.ok") and any(
            l.get("state") == "streaming" for l in self.events("feed.state")),
            "dto to reconcile and subscribe")


def wait_until(pred, timeout, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def migrate(dto_bin, db):
    r = subprocess.run([dto_bin, "migrate", "up", "--store", f"sqlite:{db}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def is_reconcile_ok(e):
    """dto's log line of a finished, successful reconciliation."""
    return event_name(e) == "reconcile.ok"


def market_args(tmp_path, dates, history, seed):
    """The fake's options: bars of `dates` after a day of `history` (None:
    none; dto warms its strategies on it: alpaca.warmup_bars)."""
    bars = tmp_path / "bars"
    bars.mkdir(exist_ok=True)
    days = ((history,) if history else ()) + tuple(dates)
    return ("--seed", seed, "--start-index", 390 if history else 0,
            "--bars", *write_bars(bars, days, seed))


# ------------------------------------------------------------ the market
class Market:
    """Steps the fake one bar at a time and injects faults at given bars
    (a bar number from the first bar of the live market, or a share of
    them)."""

    def __init__(self, fake, faults=(), step_ms=20):
        self.fake = fake
        self.step_ms = step_ms
        st = fake.state()
        # bars are counted from the first one of the live market (the
        # history before it is never streamed)
        self.start = st["bar_index"]
        self.total = st["bars_total"] - self.start
        self.index = 0
        # a share of the session's bars -> that bar
        self.faults = sorted(((int(at * self.total) if at < 1 else at, f)
                              for at, f in faults), key=lambda f: f[0])
        self.injected = []      # (bar, fault, wall time)
        self.last_step = None

    def step_to(self, bar, stop_when=None):
        """Step until `bar` bars are published (or stop_when() is true
        after a step); faults due on the way are injected."""
        while self.index < min(bar, self.total):
            t0 = time.time()
            while self.faults and self.faults[0][0] <= self.index:
                at, f = self.faults.pop(0)
                self.fake.faults(**f)
                self.injected.append((self.index, f, time.time()))
            r = self.fake.step(1)
            self.index = r["bar_index"] - self.start
            self.last_step = time.time()
            if stop_when is not None and stop_when():
                return
            left = self.step_ms / 1000 - (time.time() - t0)
            if left > 0:
                time.sleep(left)

    def done(self):
        return self.index >= self.total


def wait_ready(dto, fake, timeout=30):
    """dto connected both streams and reconciled once."""
    def ready():
        assert dto.alive(), "dto exited: rc %s\n%s" % (
            dto.proc.returncode, dto.stderr()[-3000:])
        c = fake.state()["connections"]
        return c["trading"] >= 1 and c["data"] >= 1 and \
            any(is_reconcile_ok(e) for e in dto.lines())
    wait_until(ready, timeout, 0.1, "dto to connect and reconcile")


def settle(dto, fake, db, since, timeout=20, names=None):
    """After the last bar: wait for a successful reconciliation that began
    after `since` (wall clock), then for dto's journal to equal the fake's
    books (names: fake_books's, from the state); the last differences on a
    timeout."""
    def reconciled():
        assert dto.alive(), "dto exited: rc %s\n%s" % (
            dto.proc.returncode, dto.stderr()[-3000:])
        return any(is_reconcile_ok(e) and (log_time(e) or 0) > since
                   for e in dto.lines())
    try:
        wait_until(reconciled, timeout, 0.2,
                   "a reconciliation after the last fill")
    except AssertionError as e:
        failed = [x for x in dto.lines()
                  if event_name(x) == "reconcile.failed" or
                  (event_name(x) == "alert" and x.get("level") != "info")]
        raise AssertionError(f"{e}; dto's last failures:\n  " +
                             "\n  ".join(str(x) for x in failed[-4:]))
    last = []

    def equal():
        st = fake.state()
        last[:] = books_differences(
            fake_books(st, names(st) if names else None), journal_books(db))
        return not last
    try:
        wait_until(equal, timeout, 0.5, "dto's books to equal the fake's")
    except AssertionError as e:
        raise AssertionError(str(e) + ":\n  " + "\n  ".join(last))


# ---------------------------------------------------------------- books
def fake_books(state, names=None):
    """The fake's books: orders by client order id, fills per client order
    id as a sorted list of (qty, price), positions per symbol.  names: the
    client order id dto knows an order by, by the fake's order id, where it
    is not the order's own (the stop leg of an oco: oco_leg_names)."""
    orders, by_id = {}, {}
    for o in state["orders"]:
        c = (names or {}).get(o["id"], o["client_order_id"])
        assert c not in orders, "the fake has two orders with id %s" % c
        orders[c] = {
            "status": o["status"], "symbol": o["symbol"], "side": o["side"],
            "qty": D(o["qty"] or "0"), "filled": D(o["filled_qty"] or "0"),
            "avg": D(o["filled_avg_price"] or "0"), "id": o["id"],
            "oco": o["order_class"] == "oco",
            "submitted_at": o["submitted_at"]}
        by_id[o["id"]] = c
    fills = defaultdict(list)
    for a in state["activities"]:
        fills[by_id[a["order_id"]]].append((D(a["qty"]), D(a["price"])))
    positions = {p["symbol"]: D(p["qty"]) for p in state["positions"]
                 if D(p["qty"]) != 0}
    return {"orders": orders,
            "fills": {c: sorted(v) for c, v in fills.items()},
            "positions": positions}


def oco_leg_names(state, db):
    """The stop legs of the fake's oco orders by the client order ids of
    dto's stop-losses: Alpaca names a leg itself, dto's journal links each
    stop-loss to its take-profit (the oco's parent, dto's own id) in its
    order events.  {fake order id: dto client order id}."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        sl_of = {}
        for (payload,) in con.execute(
                "select payload from events where type = 'order'"):
            p = json.loads(payload)
            if p.get("role") == "stop_loss" and p.get("peer"):
                sl_of[p["peer"]] = p["cloid"]
    finally:
        con.close()
    by_id = {o["id"]: o for o in state["orders"]}
    out = {}
    for o in state["orders"]:
        parent = by_id.get(o.get("parent_id"))
        if parent and parent["order_class"] == "oco" and \
                parent["client_order_id"] in sl_of:
            out[o["id"]] = sl_of[parent["client_order_id"]]
    return out


def journal_books(db):
    """dto's books from the journal (read-only, may run beside dto)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        orders = {}
        for cloid, sym, side, q, st, filled, avg in con.execute(
                "select cloid, symbol, side, qty, state, filled, avg_price "
                "from orders"):
            orders[cloid] = {"state": st, "symbol": sym, "side": side,
                             "qty": D(q) / SCALE,
                             "filled": D(filled) / SCALE,
                             "avg": D(avg) / SCALE}
        fills = defaultdict(list)
        for c, q, p in con.execute("select cloid, qty, price from fills"):
            fills[c].append((D(q) / SCALE, D(p) / SCALE))
        positions = {}
        for a, s, y, q in con.execute(
                "select account, strategy, symbol, qty from positions"):
            if s == "" and D(q) != 0:
                positions[y] = D(q) / SCALE
    finally:
        con.close()
    return {"orders": orders,
            "fills": {c: sorted(v) for c, v in fills.items()},
            "positions": positions}


def out_books(folder):
    """dto's books from one process's --out folder (orders.csv, fills.csv,
    positions.csv)."""
    import csv
    folder = Path(folder)
    orders = {}
    with open(folder / "orders.csv", newline="") as f:
        for r in csv.DictReader(f):
            orders[r["client_order_id"]] = {
                "state": r["state"], "symbol": r["symbol"],
                "side": r["side"], "qty": D(r["qty"]),
                "filled": D(r["filled_qty"]),
                "avg": D(r["avg_fill_price"])}
    fills = defaultdict(list)
    with open(folder / "fills.csv", newline="") as f:
        for r in csv.DictReader(f):
            fills[r["client_order_id"]].append((D(r["qty"]), D(r["price"])))
    positions = {}
    p = folder / "positions.csv"
    if p.exists():
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                if r["strategy"] == "" and D(r["qty"]) != 0:
                    positions[r["symbol"]] = D(r["qty"])
    return {"orders": orders,
            "fills": {c: sorted(v) for c, v in fills.items()},
            "positions": positions}


def books_differences(fake, dto, limit=8):
    """Where dto's books differ from the fake's: a list of lines (empty when
    they agree)."""
    diffs = []
    fo, do = fake["orders"], dto["orders"]
    for c in sorted(fo):
        f = fo[c]
        d = do.get(c)
        if d is None:
            diffs.append(f"order {c}: at the fake ({f['status']}, filled "
                         f"{f['filled']}) but not in dto's books")
            continue
        want = STATUS_TO_STATE.get(f["status"], f["status"])
        if d["state"] != want:
            diffs.append(f"order {c}: fake status {f['status']} "
                         f"(dto {want}), dto state {d['state']}")
        if d["filled"] != f["filled"]:
            diffs.append(f"order {c}: fake filled {f['filled']}, dto "
                         f"{d['filled']}")
        if f["filled"] and d["avg"] != f["avg"]:
            diffs.append(f"order {c}: fake avg price {f['avg']}, dto "
                         f"{d['avg']}")
        # an exit whose peer filled: dto takes the fill off its quantity
        # (the OCO reduction), Alpaca cancels it as it stands
        qty = d["qty"] if not (f["oco"] and f["status"] == "canceled" and
                               d["qty"] == d["filled"]) else f["qty"]
        if (d["symbol"], d["side"], qty) != (f["symbol"], f["side"],
                                             f["qty"]):
            diffs.append(f"order {c}: fake {f['side']} {f['qty']} "
                         f"{f['symbol']}, dto {d['side']} {d['qty']} "
                         f"{d['symbol']}")
    for c in sorted(set(do) - set(fo)):
        d = do[c]
        if d["state"] not in ("rejected", "canceled") or d["filled"] != 0:
            diffs.append(f"order {c}: in dto's books ({d['state']}, filled "
                         f"{d['filled']}) but the fake never took it")
    for c in sorted(set(fake["fills"]) | set(dto["fills"])):
        f, d = fake["fills"].get(c, []), dto["fills"].get(c, [])
        if f != d:
            diffs.append(f"fills of {c}: fake {fmt_fills(f)}, dto "
                         f"{fmt_fills(d)}")
    for s in sorted(set(fake["positions"]) | set(dto["positions"])):
        f, d = fake["positions"].get(s, D(0)), dto["positions"].get(s, D(0))
        if f != d:
            diffs.append(f"position {s}: fake {f}, dto {d}")
    if len(diffs) > limit:
        diffs = diffs[:limit] + [f"... and {len(diffs) - limit} more"]
    return diffs


def fmt_fills(fl):
    q = sum((x[0] for x in fl), D(0))
    v = sum((x[0] * x[1] for x in fl), D(0))
    return f"{len(fl)} fills qty {q} value {v}"


# ----------------------------------------------------------- the log
def posts_by_cloid(log):
    """Order POSTs at the fake per client order id, in order of arrival:
    [(seq, status, time)]."""
    out = defaultdict(list)
    for e in log:
        if e["method"] == "POST" and e["path"] == "/v2/orders":
            out[e.get("client_order_id")].append(
                (e["seq"], e["status"], e["time"]))
    return out


def duplicate_submits(log):
    """Client order ids POSTed again after a successful POST, or with two
    successful POSTs: a list of descriptions."""
    bad = []
    for c, posts in posts_by_cloid(log).items():
        ok = [p for p in posts if p[1] is not None and 200 <= p[1] < 300]
        if len(ok) > 1:
            bad.append(f"{c}: {len(ok)} successful POSTs {posts}")
        elif ok:
            later = [p for p in posts if p[0] > ok[0][0]]
            if later:
                bad.append(f"{c}: POSTed again after a 2xx: {posts}")
    return bad


def first_short(state):
    """The strategy is long-only: the first fill at the fake that took a
    symbol's position below zero, as a description; None when none did."""
    cloid = {o["id"]: o["client_order_id"] for o in state["orders"]}
    pos = defaultdict(D)
    for a in state["activities"]:
        q = D(a["qty"])
        pos[a["symbol"]] += q if a["side"] == "buy" else -q
        if pos[a["symbol"]] < 0:
            return (f"{cloid.get(a['order_id'])} sold {q} {a['symbol']} at "
                    f"{a['transaction_time']}, leaving {pos[a['symbol']]}")
    return None
