"""Tests of the Alpaca fake itself (tests/fakes/alpaca/fake_alpaca.py).

Plain HTTP and WebSocket clients (aiohttp) against the fake on loopback.
Every wait is bounded; every fake process is stopped in a finally.
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

aiohttp = pytest.importorskip("aiohttp")

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fakes" / "alpaca" / "fake_alpaca.py"
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
KEY, SECRET = "TESTKEY", "TESTSECRET"
AUTH = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}

AAPL = """time,open,high,low,close,volume
2025-01-06T14:30:00Z,100,101,99,100.5,1000
2025-01-06T14:31:00Z,100.5,102,100,101.5,1000
2025-01-06T14:32:00Z,101.5,103,101,102.5,1000
2025-01-06T14:33:00Z,102.5,103,98,99,1000
2025-01-06T14:34:00Z,99,100,97,98,1000
2025-01-07T14:30:00Z,98,99,96,97,1000
2025-01-07T14:31:00Z,97,98,95,96,1000
2025-01-07T14:32:00Z,96,100,96,99,1000
"""
# a file with a symbol column, as dto's reader also accepts
OTHER = "time,symbol,open,high,low,close,volume\n" + "".join(
    "2025-01-0%dT14:3%d:00Z,MSFT,50,51,49,50,500\n" % (d, m)
    for d, ms in ((6, range(5)), (7, range(3))) for m in ms)


class Fake:
    def __init__(self, port, proc):
        self.port, self.proc = port, proc
        self.url = "http://127.0.0.1:%d" % port
        self.ws_url = "ws://127.0.0.1:%d" % port


def start_fake(tmp_path, *extra):
    (tmp_path / "AAPL.csv").write_text(AAPL)
    (tmp_path / "other.csv").write_text(OTHER)
    pf = tmp_path / "port"
    proc = subprocess.Popen(
        [PY, str(FAKE), "--host", "127.0.0.1", "--port", "0",
         "--port-file", str(pf), "--bars", str(tmp_path / "AAPL.csv"),
         str(tmp_path / "other.csv"), "--key", KEY, "--secret", SECRET,
         "--max-seconds", "60", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        if pf.exists() and pf.read_text().strip():
            return Fake(int(pf.read_text()), proc)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    out, errs = proc.communicate(timeout=5)
    pytest.fail("fake did not start: %s" % errs.decode())


def stop_fake(f):
    if f.proc.poll() is None:
        f.proc.send_signal(signal.SIGTERM)
        try:
            f.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            f.proc.kill()
            f.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def shared_fake(tmp_path_factory):
    f = start_fake(tmp_path_factory.mktemp("fake_alpaca"))
    try:
        yield f
    finally:
        stop_fake(f)


@pytest.fixture
def fake(shared_fake):
    """The module's fake, reset to its start state for each test."""
    async def reset():
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10)) as s:
            async with s.post(shared_fake.url + "/_fake/reset") as r:
                assert r.status == 200
    assert shared_fake.proc.poll() is None
    run(reset())
    return shared_fake


def run(coro, timeout=15):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Client:
    """A tiny async REST client for the fake."""

    def __init__(self, fake, session, headers=AUTH):
        self.f, self.s, self.h = fake, session, headers

    async def req(self, method, path, body=None, headers=None, **params):
        async with self.s.request(
                method, self.f.url + path, json=body, params=params or None,
                headers=self.h if headers is None else headers) as r:
            text = await r.text()
            data = json.loads(text) if text else None
            return r.status, data, r.headers

    async def get(self, path, **params):
        return await self.req("GET", path, **params)

    async def post(self, path, body):
        return await self.req("POST", path, body)

    async def order(self, **body):
        body.setdefault("time_in_force", "day")
        body.setdefault("type", "market")
        body.setdefault("symbol", "AAPL")
        return await self.post("/v2/orders", body)

    async def step(self, n=1):
        st, data, _ = await self.req("POST", "/_fake/step", {"n": n},
                                     headers={})
        assert st == 200
        return data

    async def state(self):
        return (await self.req("GET", "/_fake/state", headers={}))[1]

    async def faults(self, **body):
        st, data, _ = await self.req("POST", "/_fake/faults", body,
                                     headers={})
        assert st == 200, data
        return data


async def session_for(fake):
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))


async def recv_json(ws, timeout=3):
    m = await asyncio.wait_for(ws.receive(), timeout)
    if m.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
        return json.loads(m.data), m.type
    return None, m.type


async def trade_stream(s, fake):
    ws = await s.ws_connect(fake.ws_url + "/stream")
    await ws.send_json({"action": "auth", "key": KEY, "secret": SECRET})
    msg, _ = await recv_json(ws)
    assert msg == {"stream": "authorization",
                   "data": {"status": "authorized", "action": "authenticate"}}
    await ws.send_json({"action": "listen",
                        "data": {"streams": ["trade_updates"]}})
    msg, _ = await recv_json(ws)
    assert msg == {"stream": "listening",
                   "data": {"streams": ["trade_updates"]}}
    return ws


async def events_until(ws, n, timeout=3):
    """Up to n trade_updates events, stopping at a quiet timeout."""
    out = []
    while len(out) < n:
        try:
            msg, _ = await recv_json(ws, timeout)
        except asyncio.TimeoutError:
            break
        if msg is None:
            break
        out.append(msg["data"])
    return out


# ------------------------------------------------------------------ tests
def test_refuses_non_loopback_and_stops_by_itself(tmp_path):
    r = subprocess.run([PY, str(FAKE), "--host", "0.0.0.0", "--port", "0"],
                       capture_output=True, timeout=20)
    assert r.returncode != 0 and b"loopback" in r.stderr
    f = start_fake(tmp_path, "--max-seconds", "1")
    try:
        f.proc.wait(timeout=10)
        assert f.proc.returncode == 0
    finally:
        stop_fake(f)


def test_auth_failures(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            st, body, _ = await c.req("GET", "/v2/account", headers={})
            assert st == 401 and body == {"message": "unauthorized"}
            st, body, _ = await c.req(
                "GET", "/v2/orders",
                headers={"APCA-API-KEY-ID": "nokey",
                         "APCA-API-SECRET-KEY": SECRET})
            assert st == 401
            st, body, _ = await c.req(
                "GET", "/v2/account",
                headers={"APCA-API-KEY-ID": KEY,
                         "APCA-API-SECRET-KEY": "wrong"})
            assert st == 403 and body == {"message": "forbidden."}
            st, body, _ = await c.get("/v2/account")
            assert st == 200 and body["cash"] == "100000"
            assert body["status"] == "ACTIVE"
    run(go())


def test_assets_clock_calendar(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            st, a, _ = await c.get("/v2/assets/AAPL")
            assert st == 200 and a["tradable"] and a["fractionable"]
            assert a["price_increment"] == "0.01"
            st, a, _ = await c.get("/v2/assets/NOPE")
            assert st == 404
            st, al, _ = await c.get("/v2/assets")
            assert sorted(x["symbol"] for x in al) == ["AAPL", "MSFT"]
            # NYSE's schedule, not the bars': the closure for President
            # Carter (Thursday 9 January) and the weekend are not sessions
            st, cal, _ = await c.get(
                "/v2/calendar?start=2025-01-06&end=2025-01-13")
            assert [x["date"] for x in cal] == [
                "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10",
                "2025-01-13"]
            assert cal[0]["open"] == "09:30" and cal[0]["close"] == "16:00"
            st, cal, _ = await c.get(
                "/v2/calendar?start=2025-12-24&end=2025-12-26")
            assert [(x["date"], x["close"]) for x in cal] == [
                ("2025-12-24", "13:00"), ("2025-12-26", "16:00")]
            await c.step(1)
            st, clk, _ = await c.get("/v2/clock")
            assert clk["is_open"] is True
            assert clk["timestamp"].startswith("2025-01-06T14:30:59.")
    run(go())


def test_market_order_lifecycle_and_duplicate_coid(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            st, o, _ = await c.order(qty="10", side="buy",
                                     client_order_id="dto-1")
            assert st == 200 and o["status"] == "accepted"
            assert o["qty"] == "10" and o["filled_qty"] == "0"
            # nanosecond RFC 3339 timestamps
            assert len(o["created_at"]) == len("2025-01-06T14:29:00.") + 10
            st, dup, _ = await c.order(qty="1", side="buy",
                                       client_order_id="dto-1")
            assert st == 422
            assert dup == {"code": 40010001,
                           "message": "client_order_id must be unique"}
            await c.step(1)
            st, o2, _ = await c.get("/v2/orders/" + o["id"])
            assert o2["status"] == "filled" and o2["filled_avg_price"] == "100"
            st, o3, _ = await c.get("/v2/orders:by_client_order_id",
                                    client_order_id="dto-1")
            assert o3["id"] == o["id"]
            st, pos, _ = await c.get("/v2/positions/AAPL")
            assert pos["qty"] == "10" and pos["avg_entry_price"] == "100"
            assert pos["side"] == "long"
            st, acct, _ = await c.get("/v2/account")
            assert acct["cash"] == "99000"
            st, p404, _ = await c.get("/v2/positions/MSFT")
            assert st == 404
            # a cancel of a filled order is refused as documented
            st, b, _ = await c.req("DELETE", "/v2/orders/" + o["id"])
            assert st == 422 and b["code"] == 42210000
            assert b["message"] == 'order is already in "filled" state'
            # closing the position: a market order filled at the next bar
            st, cl, _ = await c.req("DELETE", "/v2/positions/AAPL")
            assert st == 200 and cl["side"] == "sell" and cl["qty"] == "10"
            await c.step(1)
            stt = await c.state()
            assert stt["positions"] == []
            assert stt["cash"] == "100005"
            orders = {x["id"]: x for x in stt["orders"]}
            assert orders[cl["id"]]["fills"][0]["price"] == "100.5"
    run(go())


def test_invalid_and_insufficient(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            st, b, _ = await c.order(qty="10", side="buy", type="limit")
            assert st == 422 and b["code"] == 40010001
            st, b, _ = await c.order(qty="-1", side="buy")
            assert st == 422
            st, b, _ = await c.order(qty="5000", side="buy")
            assert st == 403 and b["code"] == 40310000
            assert b["message"] == "insufficient buying power"
            await c.order(qty="10", side="buy")
            await c.step(1)
            st, b, _ = await c.order(qty="11", side="sell")
            assert st == 403 and b["code"] == 40310000
            assert b["message"].startswith("insufficient qty available")
            assert b["existing_qty"] == "10"
    run(go())


def test_partial_fills_stream_and_activities_paging(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            st, cf, _ = await c.req("POST", "/_fake/config",
                                    {"fill_share": "0.004"}, headers={})
            assert cf["fill_share"] == "0.004"
            ws = await trade_stream(s, fake)
            st, o, _ = await c.order(qty="10", side="buy", type="limit",
                                     limit_price="101", time_in_force="gtc")
            ev = await events_until(ws, 1)
            assert ev[0]["event"] == "new" and ev[0]["order"]["id"] == o["id"]
            await c.step(3)
            ev = await events_until(ws, 3)
            assert [e["event"] for e in ev] == ["partial_fill",
                                                "partial_fill", "fill"]
            assert [e["qty"] for e in ev] == ["4", "4", "2"]
            assert [e["price"] for e in ev] == ["100", "100.5", "101"]
            assert [e["position_qty"] for e in ev] == ["4", "8", "10"]
            assert all(e["execution_id"] for e in ev)
            assert ev[-1]["order"]["filled_avg_price"] == "100.4"
            assert ev[-1]["order"]["status"] == "filled"
            acts = (await c.get("/v2/account/activities/FILL",
                                page_size="2"))[1]
            assert [a["qty"] for a in acts] == ["2", "4"]      # desc
            assert acts[0]["type"] == "fill"
            assert acts[1]["type"] == "partial_fill"
            more = (await c.get("/v2/account/activities/FILL", page_size="2",
                                page_token=acts[-1]["id"]))[1]
            assert [a["cum_qty"] for a in more] == ["4"]
            asc = (await c.get("/v2/account/activities",
                               activity_types="FILL", direction="asc"))[1]
            assert [a["cum_qty"] for a in asc] == ["4", "8", "10"]
            assert asc[0]["leaves_qty"] == "6"
            after = (await c.get("/v2/account/activities/FILL",
                                 after=asc[0]["transaction_time"],
                                 direction="asc"))[1]
            assert len(after) == 2
            st, acct, _ = await c.get("/v2/account")
            assert acct["cash"] == "98996"
            await ws.close()
    run(go())


def test_stream_auth_and_binary_frames(fake):
    async def go():
        async with await session_for(fake) as s:
            ws = await s.ws_connect(fake.ws_url + "/stream")
            await ws.send_json({"action": "listen",
                                "data": {"streams": ["trade_updates"]}})
            msg, typ = await recv_json(ws)
            assert msg["data"] == {"status": "unauthorized",
                                   "action": "listen"}
            assert typ == aiohttp.WSMsgType.BINARY
            await ws.send_json({"action": "authenticate",
                                "data": {"key_id": KEY,
                                         "secret_key": "bad"}})
            msg, _ = await recv_json(ws)
            assert msg["data"]["status"] == "unauthorized"
            await ws.send_json({"action": "authenticate",
                                "data": {"key_id": KEY,
                                         "secret_key": SECRET}})
            msg, _ = await recv_json(ws)
            assert msg["data"]["status"] == "authorized"
            await ws.close()
    run(go())


def test_bracket_legs(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            ws = await trade_stream(s, fake)
            st, o, _ = await c.order(
                qty="10", side="buy", order_class="bracket",
                time_in_force="gtc",
                take_profit={"limit_price": "104"},
                stop_loss={"stop_price": "98"})
            assert st == 200 and len(o["legs"]) == 2
            assert {x["status"] for x in o["legs"]} == {"held"}
            assert {x["type"] for x in o["legs"]} == {"limit", "stop"}
            st, flat, _ = await c.get("/v2/orders", status="all")
            assert len(flat) == 3
            st, nested, _ = await c.get("/v2/orders", status="all",
                                        nested="true")
            assert len(nested) == 1 and len(nested[0]["legs"]) == 2
            await c.step(1)
            st, p, _ = await c.get("/v2/orders/" + o["id"])
            assert p["status"] == "filled"
            # take-profit routed; stop-loss held until its stop triggers
            assert {x["type"]: x["status"] for x in p["legs"]} == \
                {"limit": "new", "stop": "held"}
            tp = next(x for x in p["legs"] if x["type"] == "limit")
            st, ntp, _ = await c.req("PATCH", "/v2/orders/" + tp["id"],
                                     {"limit_price": "102.5"})
            assert st == 200 and ntp["replaces"] == tp["id"]
            st, p, _ = await c.get("/v2/orders/" + o["id"])
            assert ntp["id"] in [x["id"] for x in p["legs"]]
            await c.step(2)
            st, p, _ = await c.get("/v2/orders/" + o["id"])
            legs = {x["type"]: x for x in p["legs"]}
            assert legs["limit"]["status"] == "filled"
            assert legs["limit"]["filled_avg_price"] == "102.5"
            assert legs["stop"]["status"] == "canceled"
            ev = [(e["event"], e["order"]["type"])
                  for e in await events_until(ws, 7)]
            assert ev == [("new", "market"), ("fill", "market"),
                          ("new", "limit"),
                          ("replaced", "limit"), ("new", "limit"),
                          ("fill", "limit"), ("canceled", "stop")]
            st, acct, _ = await c.get("/v2/account")
            assert acct["cash"] == "100025"
            assert (await c.get("/v2/positions"))[1] == []
            await ws.close()
    run(go())


def test_bracket_stop_loss_and_oco(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            ws = await trade_stream(s, fake)
            st, o, _ = await c.order(
                qty="10", side="buy", order_class="bracket",
                take_profit={"limit_price": "110"},
                stop_loss={"stop_price": "99.5", "limit_price": "99"})
            assert st == 200
            st, b, _ = await c.order(
                qty="1", side="buy", order_class="bracket",
                take_profit={"limit_price": "99"},
                stop_loss={"stop_price": "100"})
            assert st == 422 and b["code"] == 40010001
            await c.step(3)
            legs = {x["type"]: x for x in
                    (await c.get("/v2/orders/" + o["id"]))[1]["legs"]}
            assert legs["stop_limit"]["status"] == "held"
            await c.step(1)     # low 98: stop 99.5 triggers, limit 99 ok
            legs = {x["type"]: x for x in
                    (await c.get("/v2/orders/" + o["id"]))[1]["legs"]}
            assert legs["stop_limit"]["status"] == "filled"
            assert legs["stop_limit"]["filled_avg_price"] == "99.5"
            assert legs["limit"]["status"] == "canceled"
            ev = [(e["event"], e["order"]["type"])
                  for e in await events_until(ws, 6)]
            assert ev == [("new", "market"), ("fill", "market"),
                          ("new", "limit"), ("new", "stop_limit"),
                          ("fill", "stop_limit"), ("canceled", "limit")]
            assert (await c.get("/v2/positions"))[1] == []
            # oco exit for an existing position
            await c.order(qty="5", side="buy")
            await c.step(1)
            st, oco, _ = await c.order(
                qty="5", side="sell", type="limit", order_class="oco",
                time_in_force="gtc", take_profit={"limit_price": "99"},
                stop_loss={"stop_price": "90"})
            assert st == 200, oco
            assert oco["status"] == "accepted" and len(oco["legs"]) == 1
            await c.step(1)     # next day opens at 98, high 99: tp fills
            got = (await c.get("/v2/orders/" + oco["id"]))[1]
            assert got["status"] == "filled"
            assert got["legs"][0]["status"] == "canceled"
            await ws.close()
    run(go())


def test_replace_cancel_and_cancel_all(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            ws = await trade_stream(s, fake)
            st, o, _ = await c.order(qty="5", side="buy", type="limit",
                                     limit_price="90", client_order_id="r1")
            st, n, _ = await c.req("PATCH", "/v2/orders/" + o["id"],
                                   {"limit_price": "91", "qty": "6",
                                    "client_order_id": "r2"})
            assert st == 200 and n["replaces"] == o["id"]
            assert n["limit_price"] == "91" and n["qty"] == "6"
            assert n["client_order_id"] == "r2"
            old = (await c.get("/v2/orders/" + o["id"]))[1]
            assert old["status"] == "replaced" and old["replaced_by"] == n["id"]
            st, b, _ = await c.req("PATCH", "/v2/orders/" + n["id"],
                                   {"client_order_id": "r1"})
            assert st == 422
            st, _, _ = await c.req("DELETE", "/v2/orders/" + n["id"])
            assert st == 204
            st, b, _ = await c.req("DELETE", "/v2/orders/" + n["id"])
            assert st == 422
            ev = [(e["event"], e["order"]["client_order_id"])
                  for e in await events_until(ws, 4)]
            assert ev == [("new", "r1"), ("replaced", "r1"), ("new", "r2"),
                          ("canceled", "r2")]
            await c.order(qty="1", side="buy", type="limit",
                          limit_price="50")
            await c.order(qty="1", side="buy", type="limit",
                          limit_price="51")
            st, res, _ = await c.req("DELETE", "/v2/orders")
            assert st == 207 and len(res) == 2
            assert all(r["status"] == 200 for r in res)
            st, op, _ = await c.get("/v2/orders")
            assert op == []
            await ws.close()
    run(go())


def test_stops_trailing_and_day_expiry(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            ws = await trade_stream(s, fake)
            await c.order(qty="10", side="buy")
            await c.step(1)
            st, t, _ = await c.order(qty="10", side="sell",
                                     type="trailing_stop", trail_price="2",
                                     time_in_force="gtc")
            assert t["hwm"] == "100.5" and t["stop_price"] == "98.5"
            st, dl, _ = await c.order(qty="1", side="buy", type="limit",
                                      limit_price="50")
            st, gl, _ = await c.order(qty="1", side="buy", type="limit",
                                      limit_price="50", time_in_force="gtc")
            await c.step(2)
            t2 = (await c.get("/v2/orders/" + t["id"]))[1]
            assert t2["hwm"] == "103" and t2["stop_price"] == "101"
            await c.step(1)      # low 98 crosses 101: filled at 101
            t3 = (await c.get("/v2/orders/" + t["id"]))[1]
            assert t3["status"] == "filled"
            assert t3["filled_avg_price"] == "101"
            await c.step(1)      # last bar of the session
            d = (await c.get("/v2/orders/" + dl["id"]))[1]
            g = (await c.get("/v2/orders/" + gl["id"]))[1]
            assert d["status"] == "expired" and d["expired_at"]
            assert g["status"] == "new"
            evs = [(e["event"], e["order"]["id"])
                   for e in await events_until(ws, 10, timeout=1)]
            assert ("expired", dl["id"]) in evs
            assert ("fill", t["id"]) in evs
            st, stop, _ = await c.order(qty="1", side="buy", type="stop",
                                        stop_price="98.5")
            await c.step(1)     # next day: high 99 >= 98.5, opens at 98
            so = (await c.get("/v2/orders/" + stop["id"]))[1]
            assert so["status"] == "filled"
            assert so["filled_avg_price"] == "98.5"
            await ws.close()
    run(go())


def test_data_stream(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            ws = await s.ws_connect(fake.ws_url + "/v2/iex")
            msg, typ = await recv_json(ws)
            assert msg == [{"T": "success", "msg": "connected"}]
            assert typ == aiohttp.WSMsgType.TEXT
            await ws.send_json({"action": "subscribe", "bars": ["AAPL"]})
            assert (await recv_json(ws))[0] == [
                {"T": "error", "code": 401, "msg": "not authenticated"}]
            await ws.send_str("{not json")
            assert (await recv_json(ws))[0][0]["code"] == 400
            bad = await s.ws_connect(fake.ws_url + "/v2/sip")
            await recv_json(bad)
            await bad.send_json({"action": "auth", "key": KEY,
                                 "secret": "x"})
            assert (await recv_json(bad))[0] == [
                {"T": "error", "code": 402, "msg": "auth failed"}]
            m, typ = await recv_json(bad)
            assert typ in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                           aiohttp.WSMsgType.CLOSING)
            await ws.send_json({"action": "auth", "key": KEY,
                                "secret": SECRET})
            assert (await recv_json(ws))[0] == [
                {"T": "success", "msg": "authenticated"}]
            await ws.send_json({"action": "subscribe", "trades": ["AAPL"],
                                "quotes": ["AAPL"], "bars": ["*"]})
            assert (await recv_json(ws))[0] == [
                {"T": "subscription", "trades": ["AAPL"],
                 "quotes": ["AAPL"], "bars": ["*"]}]
            # a second authenticated connection is refused
            second = await s.ws_connect(fake.ws_url + "/v2/iex")
            await recv_json(second)
            await second.send_json({"action": "auth", "key": KEY,
                                    "secret": SECRET})
            assert (await recv_json(second))[0][0]["code"] == 406
            await c.step(1)
            batch, _ = await recv_json(ws)
            kinds = [m["T"] for m in batch]
            assert kinds.count("t") == 4 and kinds.count("q") == 1
            bars = [m for m in batch if m["T"] == "b"]
            assert {b["S"] for b in bars} == {"AAPL", "MSFT"}
            a = next(b for b in bars if b["S"] == "AAPL")
            assert (a["o"], a["h"], a["l"], a["c"], a["v"]) == \
                (100, 101, 99, 100.5, 1000)
            assert a["t"] == "2025-01-06T14:30:00Z"
            q = next(m for m in batch if m["T"] == "q")
            assert set(q) >= {"S", "bp", "bs", "ap", "as", "t"}
            tr = next(m for m in batch if m["T"] == "t")
            assert set(tr) >= {"S", "p", "s", "t", "i", "x"}
            await ws.send_json({"action": "unsubscribe", "bars": ["*"]})
            sub = (await recv_json(ws))[0][0]
            assert sub["bars"] == []
            await ws.close()
            await second.close()
            await bad.close()
    run(go())


def test_data_stream_auth_timeout(tmp_path):
    f = start_fake(tmp_path, "--auth-timeout", "0.3")
    try:
        async def go():
            async with await session_for(f) as s:
                ws = await s.ws_connect(f.ws_url + "/v2/iex")
                await recv_json(ws)
                assert (await recv_json(ws))[0] == [
                    {"T": "error", "code": 404, "msg": "auth timeout"}]
                await ws.close()
        run(go())
    finally:
        stop_fake(f)


def test_historical_bars_paging(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            await c.step(5)
            st, b, _ = await c.get("/v2/stocks/AAPL/bars", timeframe="1Min",
                                   limit="2", feed="iex")
            assert st == 200 and b["symbol"] == "AAPL"
            assert [x["o"] for x in b["bars"]] == [100, 100.5]
            assert b["next_page_token"]
            seen = list(b["bars"])
            while b["next_page_token"]:
                st, b, _ = await c.get(
                    "/v2/stocks/AAPL/bars", timeframe="1Min", limit="2",
                    page_token=b["next_page_token"])
                seen += b["bars"]
            assert len(seen) == 5     # only published bars
            st, b, _ = await c.get("/v2/stocks/AAPL/bars", timeframe="5Min")
            assert b["bars"][0]["h"] == 103 and b["bars"][0]["v"] == 5000
            st, m, _ = await c.get("/v2/stocks/bars", symbols="AAPL,MSFT",
                                   timeframe="1Min",
                                   start="2025-01-06T14:33:00Z")
            assert set(m["bars"]) == {"AAPL", "MSFT"}
            assert len(m["bars"]["AAPL"]) == 2
            assert m["next_page_token"] is None
            st, e, _ = await c.get("/v2/stocks/AAPL/bars", timeframe="7Years")
            assert st == 400
    run(go())


def test_faults_http_500_429_delay_and_log(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            await c.faults(http_errors=[
                {"status": 500, "count": 1, "path": "/v2/account"},
                {"status": 429, "count": 1, "path": "/v2/orders",
                 "method": "POST", "retry_after": 2}])
            st, b, _ = await c.get("/v2/account")
            assert st == 500 and b["code"] == 50010000
            st, b, _ = await c.get("/v2/account")
            assert st == 200
            st, b, h = await c.order(qty="1", side="buy",
                                     client_order_id="x-1")
            assert st == 429 and b["message"] == "rate limit exceeded"
            assert h["Retry-After"] == "2"
            assert h["X-RateLimit-Remaining"] == "0"
            assert int(h["X-RateLimit-Reset"]) >= int(time.time())
            assert h["X-RateLimit-Limit"]
            st, b, h = await c.order(qty="1", side="buy",
                                     client_order_id="x-1")
            assert st == 200 and "X-RateLimit-Remaining" in h
            await c.faults(delay_ms=300)
            t0 = time.monotonic()
            await c.get("/v2/clock")
            assert time.monotonic() - t0 >= 0.29
            await c.faults(clear=True)
            st, log, _ = await c.req("GET", "/_fake/log", headers={})
            posts = [e for e in log if e["method"] == "POST"
                     and e["path"] == "/v2/orders"]
            assert [(e["client_order_id"], e["status"]) for e in posts] == \
                [("x-1", 429), ("x-1", 200)]
    run(go())


def test_faults_reject_next_order(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            ws = await trade_stream(s, fake)
            await c.faults(reject_next_order=True)
            st, b, _ = await c.order(qty="1", side="buy")
            assert st == 403 and b["code"] == 40310000
            await c.faults(reject_next_order={"mode": "stream"})
            st, o, _ = await c.order(qty="1", side="buy",
                                     client_order_id="rej")
            assert st == 200
            ev = await events_until(ws, 1)
            assert ev[0]["event"] == "rejected"
            assert ev[0]["order"]["status"] == "rejected"
            st, o, _ = await c.order(qty="1", side="buy")
            assert st == 200 and (await events_until(ws, 1))[0]["event"] \
                == "new"
            await ws.close()
    run(go())


def test_faults_stream_drop_lost_duplicate_reorder(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            ws = await trade_stream(s, fake)
            dws = await s.ws_connect(fake.ws_url + "/v2/sip")
            await recv_json(dws)
            await dws.send_json({"action": "auth", "key": KEY,
                                 "secret": SECRET})
            await recv_json(dws)
            # lost fill: the fill happens, REST shows it, the stream does not
            await c.faults(lose_fill_events=1)
            st, o, _ = await c.order(qty="3", side="buy")
            await c.step(1)
            ev = await events_until(ws, 2, timeout=0.7)
            assert [e["event"] for e in ev] == ["new"]
            assert (await c.get("/v2/orders/" + o["id"]))[1]["status"] == \
                "filled"
            acts = (await c.get("/v2/account/activities/FILL"))[1]
            assert acts[0]["order_id"] == o["id"]
            stt = await c.state()
            assert [e["lost"] for e in stt["events"] if e["order_id"] ==
                    o["id"]] == [False, True]
            # duplicate: the next event arrives twice
            await c.faults(duplicate_events=1)
            st, o2, _ = await c.order(qty="1", side="buy")
            ev = await events_until(ws, 3, timeout=0.7)
            assert [(e["event"], e["order"]["id"]) for e in ev] == \
                [("new", o2["id"])] * 2
            await c.step(1)
            ev = await events_until(ws, 1)
            assert [e["event"] for e in ev] == ["fill"]
            # reorder: the next two events swap
            await c.faults(reorder_events=1)
            st, o3, _ = await c.order(qty="1", side="buy")
            st, o4, _ = await c.order(qty="1", side="buy")
            ev = await events_until(ws, 2)
            assert [e["order"]["id"] for e in ev] == [o4["id"], o3["id"]]
            # drop both streams
            await c.faults(drop_trading_stream=True, drop_data_stream=True)
            for w in (ws, dws):
                m, typ = await recv_json(w)
                assert typ in (aiohttp.WSMsgType.CLOSE,
                               aiohttp.WSMsgType.CLOSED,
                               aiohttp.WSMsgType.CLOSING)
            # reconnect works; the data stream accepts a new session
            ws2 = await trade_stream(s, fake)
            d2 = await s.ws_connect(fake.ws_url + "/v2/sip")
            await recv_json(d2)
            await d2.send_json({"action": "auth", "key": KEY,
                                "secret": SECRET})
            assert (await recv_json(d2))[0][0]["msg"] == "authenticated"
            await ws2.close()
            await d2.close()
    run(go())


def test_pending_events_rejected_cancel_replace_and_injection(tmp_path):
    f = start_fake(tmp_path, "--stream-frames", "text", "--pending-new",
                   "--pending-cancel")
    try:
        async def go():
            async with await session_for(f) as s:
                c = Client(f, s)
                ws = await trade_stream(s, f)
                st, o, _ = await c.order(qty="1", side="buy", type="limit",
                                         limit_price="90")
                m, typ = await recv_json(ws)
                assert typ == aiohttp.WSMsgType.TEXT
                assert m["data"]["event"] == "pending_new"
                assert (await events_until(ws, 1))[0]["event"] == "new"
                await c.faults(reject_next_cancel=1)
                st, _, _ = await c.req("DELETE", "/v2/orders/" + o["id"])
                assert st == 204
                ev = await events_until(ws, 1)
                assert ev[0]["event"] == "order_cancel_rejected"
                assert (await c.get("/v2/orders/" + o["id"]))[1]["status"] \
                    == "new"
                await c.faults(reject_next_replace=1)
                st, n, _ = await c.req("PATCH", "/v2/orders/" + o["id"],
                                       {"limit_price": "91"})
                assert st == 200
                ev = await events_until(ws, 2)
                assert [e["event"] for e in ev] == ["order_replace_rejected",
                                                    "rejected"]
                assert (await c.get("/v2/orders/" + o["id"]))[1]["status"] \
                    == "new"
                st, inj, _ = await c.req("POST", "/_fake/event",
                                         {"order_id": o["id"],
                                          "event": "suspended",
                                          "status": "suspended"}, headers={})
                assert st == 200 and inj["status"] == "suspended"
                assert (await events_until(ws, 1))[0]["event"] == "suspended"
                st, _, _ = await c.req("DELETE", "/v2/orders/" + o["id"])
                assert st == 204
                ev = await events_until(ws, 2)
                assert [e["event"] for e in ev] == ["pending_cancel",
                                                    "canceled"]
                # automatic advance, then stop it
                await c.req("POST", "/_fake/auto", {"interval_ms": 20},
                            headers={})
                deadline = time.monotonic() + 5
                while (await c.state())["bar_index"] < 3:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                await c.req("POST", "/_fake/auto", {"interval_ms": 0},
                            headers={})
                await ws.close()
        run(go())
    finally:
        stop_fake(f)


def test_list_orders_filters_and_reset(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            ids = []
            for i in range(4):
                st, o, _ = await c.order(qty="1", side="buy", type="limit",
                                         limit_price=str(90 + i),
                                         client_order_id="l%d" % i)
                ids.append(o)
            await c.req("DELETE", "/v2/orders/" + ids[0]["id"])
            st, op, _ = await c.get("/v2/orders")
            assert [o["client_order_id"] for o in op] == ["l3", "l2", "l1"]
            st, cl, _ = await c.get("/v2/orders", status="closed")
            assert [o["client_order_id"] for o in cl] == ["l0"]
            st, al, _ = await c.get("/v2/orders", status="all",
                                    direction="asc", limit="2")
            assert [o["client_order_id"] for o in al] == ["l0", "l1"]
            st, af, _ = await c.get("/v2/orders", status="all",
                                    direction="asc",
                                    after=ids[1]["submitted_at"],
                                    until=ids[3]["submitted_at"])
            assert [o["client_order_id"] for o in af] == ["l2"]
            st, b, _ = await c.get("/v2/orders", status="bogus")
            assert st == 422
            st, b, _ = await c.get("/v2/orders/nope")
            assert st == 404 and b["code"] == 40410000
            st, r, _ = await c.req("POST", "/_fake/reset", headers={})
            assert st == 200
            st, op, _ = await c.get("/v2/orders", status="all")
            assert op == []
            st, log, _ = await c.req("GET", "/_fake/log", headers={})
            assert [e["path"] for e in log] == ["/v2/orders"]
    run(go())


def test_replace_bracket_entry_keeps_legs(fake):
    async def go():
        async with await session_for(fake) as s:
            c = Client(fake, s)
            st, o, _ = await c.order(
                qty="2", side="buy", type="limit", limit_price="90",
                order_class="bracket", time_in_force="gtc",
                take_profit={"limit_price": "120"},
                stop_loss={"stop_price": "80"})
            st, n, _ = await c.req("PATCH", "/v2/orders/" + o["id"],
                                   {"limit_price": "100.5"})
            assert st == 200, n
            assert n["order_class"] == "bracket" and len(n["legs"]) == 2
            assert {x["id"] for x in n["legs"]} == \
                {x["id"] for x in o["legs"]}
            await c.step(1)     # low 99 <= 100.5: filled at the open, 100
            got = (await c.get("/v2/orders/" + n["id"]))[1]
            assert got["status"] == "filled"
            assert got["filled_avg_price"] == "100"
            assert {x["type"]: x["status"] for x in got["legs"]} == \
                {"limit": "new", "stop": "held"}
            st, pos, _ = await c.get("/v2/positions/AAPL")
            assert pos["qty"] == "2" and pos["qty_available"] == "0"
    run(go())
