"""dto run with broker: alpaca warms its strategies on Alpaca's history.

The fake Alpaca serves its first 100 minutes as history (--start-index) and
its clock stands at the 100th.  A new session with alpaca.warmup_bars: 50
fetches the last 50 bars of each of its three instruments (150, logged as
`warmup`), makes no order from them (the fake receives no order POST before
its market moves), then trades on 8 live bars.  The oracle is a hand
computation of ma_crossover's rule (SMA 2/3, long only) over the closes the
fake published: the bar of each symbol's first buy, once for a strategy
that saw the 50 history bars first and once (warmup_bars: 0) for one that
saw only live bars.  dto must match both, and the two must differ (the
seed is chosen so), so the test fails if the history does not reach the
strategy or reaches it wrongly.
"""
import json
import os
import signal
import subprocess
import time
import urllib.request

from test_fake_alpaca import PY, FAKE, KEY, SECRET

SYMS = ("AAPL", "MSFT", "SPY")


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _post(url, body=None):
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _start_fake(tmp_path):
    pf = tmp_path / "port"
    proc = subprocess.Popen(
        [PY, str(FAKE), "--host", "127.0.0.1", "--port", "0", "--port-file",
         str(pf), "--symbols", ",".join(SYMS), "--days", "1", "--seed", "7",
         "--start-index", "100", "--key", KEY, "--secret", SECRET,
         "--max-seconds", "90"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.time() + 10
    while time.time() < end:
        if pf.exists() and pf.read_text().strip():
            return proc, int(pf.read_text())
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the fake did not start")


def _config(tmp_path, port, warmup):
    url = "http://127.0.0.1:%d" % port
    text = f"""accounts:
  - id: live
    broker: alpaca
    cash: 100000
instruments:
{"".join(f"  - symbol: {s}{chr(10)}" for s in SYMS)}strategies:
  - id: mac
    type: ma_crossover
    symbols: [{", ".join(SYMS)}]
    allocation: 90000
    params: {{ fast: 2, slow: 3 }}
alpaca:
  trading_url: {url}
  data_url: {url}
  data_stream_url: ws://127.0.0.1:{port}/v2/iex
  rate_limit_per_min: 10000
  warmup_bars: {warmup}
"""
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def _env():
    env = dict(os.environ)
    env.pop("APCA_API_BASE_URL", None)
    env.pop("APCA_API_DATA_URL", None)
    env["APCA_API_KEY_ID"] = KEY
    env["APCA_API_SECRET_KEY"] = SECRET
    return env


def _log(path):
    out = []
    for line in open(path):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


LIVE = 8  # live bars stepped


def _bars(base, sym):
    """Every bar of sym the fake has published (history and live), oldest
    first, as (time, close) strings."""
    req = urllib.request.Request(
        base + "/v2/stocks/%s/bars?timeframe=1Min&limit=10000" % sym,
        headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
    with urllib.request.urlopen(req, timeout=10) as r:
        doc = json.loads(r.read())
    return [(b["t"], b["c"]) for b in doc["bars"]]


def _first_buy(closes, start):
    """The index (into closes) of the first bar at or after start where
    ma_crossover with SMA 2/3, flat and long only, buys: a golden cross,
    i.e. sign(fast - slow) turns +1 from a remembered -1 (the rule in
    src/strategy/ma_crossover.c's header), in exact decimals.  Signals
    before start only set the memory (history, when warmed)."""
    from decimal import Decimal as D
    c = [D(x) for x in closes]
    last = 0
    for i in range(2, len(c)):
        f = (c[i - 1] + c[i]) / 2
        s = (c[i - 2] + c[i - 1] + c[i]) / 3
        sign = (f > s) - (f < s)
        if i >= start and sign > 0 and last < 0:
            return i
        if sign:
            last = sign
    return None


def _session(dto_bin, tmp_path, warmup):
    """A new dto session against a fresh fake: ready, then LIVE bars
    stepped one at a time; returns dto's log, the fake's orders and log,
    and each symbol's published closes."""
    proc, port = _start_fake(tmp_path)
    base = "http://127.0.0.1:%d" % port
    dto = None
    try:
        cfg = _config(tmp_path, port, warmup)
        logf = tmp_path / "dto.log"
        dto = subprocess.Popen([dto_bin, "run", "--config", str(cfg),
                                "--log", str(logf)], env=_env(),
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        end = time.time() + 30
        while time.time() < end:
            assert dto.poll() is None, dto.stderr.read().decode()
            lines = _log(logf) if logf.exists() else []
            if any(l.get("event") == "reconcile.ok" for l in lines) and \
                    any(l.get("event") == "feed.state" and
                        l.get("state") == "streaming" for l in lines):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("dto did not reconcile and subscribe in 30 s")
        posts_before = [e for e in _get(base + "/_fake/log")
                        if e["method"] == "POST" and e["path"] == "/v2/orders"]
        for _ in range(LIVE):
            _post(base + "/_fake/step", {"n": 1})
            time.sleep(0.4)  # the bar reaches dto, its order the fake
        state = _get(base + "/_fake/state")
        closes = {s: _bars(base, s) for s in SYMS}
        dto.send_signal(signal.SIGTERM)
        assert dto.wait(timeout=20) == 0, dto.stderr.read().decode()
        return _log(logf), state["orders"], posts_before, closes
    finally:
        if dto and dto.poll() is None:
            dto.kill()
            dto.wait()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def _first_orders(orders, closes):
    """Per symbol, the index of the bar whose order dto sent first: an
    order is submitted during the step that published its bar, so it is
    the last bar published at or before its submission time."""
    out = {}
    for o in sorted(orders, key=lambda o: o["submitted_at"]):
        sym = o["symbol"]
        if sym in out:
            continue
        times = [t for t, _ in closes[sym]]
        # bar times and submitted_at are RFC 3339 UTC: comparable as text
        # once both carry the same precision; compare as datetimes instead
        from datetime import datetime
        def ts(x):
            x = x.rstrip("Z")
            if "." in x:
                x, frac = x.split(".")
                x += "." + frac[:6]
            return datetime.fromisoformat(x)
        sub = ts(o["submitted_at"])
        idx = max(i for i, t in enumerate(times) if ts(t) <= sub)
        out[sym] = idx
    return out


def test_warmup_on_history(dto_bin, tmp_path):
    results = {}
    for warm in (50, 0):
        d = tmp_path / ("warm%d" % warm)
        d.mkdir()
        log, orders, posts_before, closes = _session(dto_bin, d, warm)
        ev = [l for l in log if l.get("event") == "warmup"]
        if warm:
            assert ev and ev[0]["bars"] == 3 * warm, ev
        else:
            assert not ev
        # history makes no order: nothing was posted before the market moved
        assert posts_before == []
        for sym in SYMS:
            assert len(closes[sym]) == 100 + LIVE
        got = _first_orders(orders, closes)
        want = {}
        for sym in SYMS:
            c = [x for _, x in closes[sym]]
            # warmed: the strategy saw closes[50:100] first; cold: only live
            seen_from = 100 - warm
            i = _first_buy(c[seen_from:], warm)
            if i is not None:
                want[sym] = seen_from + i
        assert got == want, (warm, got, want)
        results[warm] = want
    # the seed is chosen so that the warm-up changes what happens: a
    # check that would pass without warm-up proves nothing
    assert results[50] != results[0], results


def test_bars_missed_while_reconnecting_are_backfilled(dto_bin, tmp_path):
    """The data stream drops; three minutes pass before dto is back (its
    first reconnect waits at least half a second); it then fetches the bars
    it missed by REST before the stream's own, so its strategies see every
    bar once: 8 steps x 3 symbols, counted by dto itself at the stop."""
    proc, port = _start_fake(tmp_path)
    base = "http://127.0.0.1:%d" % port
    dto = None
    try:
        cfg = _config(tmp_path, port, 0)
        logf = tmp_path / "dto.log"
        dto = subprocess.Popen([dto_bin, "run", "--config", str(cfg),
                                "--log", str(logf)], env=_env(),
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)

        def streaming(n):
            lines = _log(logf) if logf.exists() else []
            return any(l.get("event") == "feed.state" and
                       l.get("state") == "streaming" and
                       l.get("subscriptions", 0) >= n for l in lines)

        def wait(pred, what):
            end = time.time() + 30
            while not pred():
                assert dto.poll() is None, dto.stderr.read()
                assert time.time() < end, what
                time.sleep(0.05)

        wait(lambda: streaming(1), "dto to subscribe")
        for _ in range(3):
            _post(base + "/_fake/step", {"n": 1})
            time.sleep(0.3)
        _post(base + "/_fake/faults", {"drop_data_stream": True})
        for _ in range(3):  # while dto waits to reconnect
            _post(base + "/_fake/step", {"n": 1})
        wait(lambda: streaming(2), "dto to subscribe again")
        for _ in range(2):
            time.sleep(0.3)
            _post(base + "/_fake/step", {"n": 1})
        time.sleep(0.5)
        dto.send_signal(signal.SIGTERM)
        out, err = dto.communicate(timeout=20)
        assert dto.returncode == 0, err
        assert "bars 24," in out, out
    finally:
        if dto and dto.poll() is None:
            dto.kill()
            dto.wait()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
