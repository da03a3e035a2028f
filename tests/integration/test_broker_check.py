"""`dto broker check` against the fake Alpaca (tests/fakes/alpaca): the
account, clock, every configured instrument, the data API and both streams
checked without placing an order; wrong keys, an unknown symbol and a
missing key each reported with what to fix, and the secret never shown."""
import json
import os
import subprocess

import pytest

from test_fake_alpaca import KEY, SECRET, start_fake, stop_fake


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    f = start_fake(tmp_path_factory.mktemp("fake-alpaca"))
    yield f
    stop_fake(f)


def config(tmp_path, fake, symbols=("AAPL", "MSFT")):
    text = "accounts:\n  - id: live\n    cash: 100000\ninstruments:\n"
    text += "".join(f"  - symbol: {s}\n" for s in symbols)
    text += f"""alpaca:
  trading_url: {fake.url}
  data_url: {fake.url}
  data_stream_url: {fake.ws_url}/v2/iex
"""
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def check(dto_bin, cfg, key=KEY, secret=SECRET, *extra):
    env = dict(os.environ)
    env.pop("APCA_API_BASE_URL", None)
    env.pop("APCA_API_DATA_URL", None)
    if key is not None:
        env["APCA_API_KEY_ID"] = key
    else:
        env.pop("APCA_API_KEY_ID", None)
    env["APCA_API_SECRET_KEY"] = secret
    return subprocess.run([dto_bin, "broker", "check", "--config", str(cfg),
                           *extra], capture_output=True, text=True,
                          timeout=60, env=env)


def test_everything_passes(dto_bin, fake, tmp_path):
    r = check(dto_bin, config(tmp_path, fake), KEY, SECRET, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    checks = {l["check"]: l for l in lines}
    for name in ("endpoint", "account", "clock", "calendar", "asset AAPL",
                 "asset MSFT", "data API", "trading stream", "data stream"):
        assert checks[name]["ok"], checks.get(name)
    assert "paper" in checks["endpoint"]["detail"]
    assert "ACTIVE" in checks["account"]["detail"]
    assert "tradable" in checks["asset AAPL"]["detail"]
    for name in ("account", "clock", "data API", "trading stream",
                 "data stream"):
        assert checks[name]["ms"] >= 0
    assert SECRET not in r.stdout + r.stderr


def test_problems_reported(dto_bin, fake, tmp_path):
    # an instrument the broker does not have
    r = check(dto_bin, config(tmp_path, fake, ("AAPL", "ZZZZ")))
    assert r.returncode == 1
    assert any(l.startswith("FAIL") and "asset ZZZZ" in l and
               "unknown to Alpaca" in l for l in r.stdout.splitlines()), \
        r.stdout
    # a wrong secret: the account and both streams refuse it
    r = check(dto_bin, config(tmp_path, fake), KEY, "not-the-secret")
    assert r.returncode == 1
    out = r.stdout
    assert "FAIL  account" in out and "APCA_API_SECRET_KEY" in out, out
    assert "FAIL  trading stream" in out and "FAIL  data stream" in out
    assert "not-the-secret" not in out + r.stderr
    # no key in the environment: refused before anything is sent
    r = check(dto_bin, config(tmp_path, fake), None, SECRET)
    assert r.returncode == 2 and "APCA_API_KEY_ID" in r.stderr, r.stderr
    # a key in the configuration file is refused, naming its line
    cfg = config(tmp_path, fake)
    cfg.write_text(cfg.read_text() + "  secret_key: abc\n")
    r = check(dto_bin, cfg)
    assert r.returncode == 2 and "c.yaml:" in r.stderr, r.stderr
    assert "abc" not in r.stderr
    # plain http to a host that is not loopback is refused
    cfg.write_text(config(tmp_path, fake).read_text().replace(
        fake.url, "http://example.com", 1))
    r = check(dto_bin, cfg)
    assert r.returncode == 2 and "loopback" in r.stderr, r.stderr


def test_calendar_disagreement(dto_bin, tmp_path):
    """Alpaca's calendar (the fake's NYSE table, written apart from dto's)
    agrees with dto's for the next 30 days, the closure for President
    Carter on 2025-01-09 and Martin Luther King day included; an
    unscheduled closure dto does not know fails the check, named."""
    (tmp_path / "f").mkdir()
    f = start_fake(tmp_path / "f", "--closed", "2025-01-15")
    try:
        r = check(dto_bin, config(tmp_path, f), KEY, SECRET)
        assert r.returncode == 1, r.stdout
        cal = [l for l in r.stdout.splitlines() if "calendar" in l]
        assert len(cal) == 1 and cal[0].startswith("FAIL"), r.stdout
        assert "2025-01-15 Alpaca closed, dto open" in cal[0], cal[0]
        assert "1 day(s)" in cal[0], cal[0]
    finally:
        stop_fake(f)


def _rest(fake, method, path, body=None):
    import urllib.request
    req = urllib.request.Request(
        fake.url + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            t = r.read()
            return json.loads(t) if t else None
    except urllib.error.HTTPError as e:
        return {"status": e.code}


def _state(fake):
    import urllib.request
    with urllib.request.urlopen(fake.url + "/_fake/state", timeout=10) as r:
        return json.loads(r.read())


def flatten(dto_bin, cfg, *extra):
    env = dict(os.environ)
    env.pop("APCA_API_BASE_URL", None)
    env.pop("APCA_API_DATA_URL", None)
    env["APCA_API_KEY_ID"], env["APCA_API_SECRET_KEY"] = KEY, SECRET
    return subprocess.run([dto_bin, "broker", "flatten", "--config",
                           str(cfg), *extra], capture_output=True, text=True,
                          timeout=60, env=env)


def test_flatten_at_the_broker(dto_bin, tmp_path):
    """`dto broker flatten`: without dto, the configured instruments' open
    orders are canceled and their positions closed at the broker; another
    symbol of the account is left alone; nothing happens without --yes;
    --all takes the whole account with Alpaca's cancel-all."""
    (tmp_path / "f").mkdir()
    f = start_fake(tmp_path / "f")
    try:
        cfg = config(tmp_path, f, symbols=("AAPL",))
        # a position in AAPL and in MSFT (filled at the first bar), and a
        # far limit order in each that stays open
        for sym in ("AAPL", "MSFT"):
            _rest(f, "POST", "/v2/orders", {
                "symbol": sym, "qty": "3", "side": "buy", "type": "market",
                "time_in_force": "day"})
        _rest(f, "POST", "/_fake/step", {"n": 1})
        for sym in ("AAPL", "MSFT"):
            _rest(f, "POST", "/v2/orders", {
                "symbol": sym, "qty": "1", "side": "buy", "type": "limit",
                "limit_price": "1", "time_in_force": "gtc"})
        st = _state(f)
        assert {p["symbol"]: p["qty"] for p in st["positions"]} == \
            {"AAPL": "3", "MSFT": "3"}
        # without --yes: refused, nothing sent
        r = flatten(dto_bin, cfg)
        assert r.returncode == 2 and "--yes" in r.stderr, r.stderr
        assert "paper" in r.stderr
        assert _state(f)["orders"] == st["orders"]
        r = flatten(dto_bin, cfg, "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "cancel" in r.stdout and "close" in r.stdout, r.stdout
        _rest(f, "POST", "/_fake/step", {"n": 1})  # the closing order fills
        st = _state(f)
        assert {p["symbol"]: p["qty"] for p in st["positions"]} == \
            {"MSFT": "3"}
        open_ = [(o["symbol"], o["status"]) for o in st["orders"]
                 if o["type"] == "limit"]
        assert sorted(open_) == [("AAPL", "canceled"), ("MSFT", "new")], \
            open_
        # the whole account, with cancel-all
        r = flatten(dto_bin, cfg, "--all", "--yes", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        checks = [json.loads(l)["check"] for l in r.stdout.splitlines()]
        assert checks[0] == "cancel all" and "close" in checks, checks
        _rest(f, "POST", "/_fake/step", {"n": 1})
        st = _state(f)
        assert st["positions"] == []
        assert all(o["status"] in ("filled", "canceled")
                   for o in st["orders"]), st["orders"]
        log = [e for e in json.loads(
            __import__("urllib.request").request.urlopen(
                f.url + "/_fake/log", timeout=10).read())]
        assert any(e["method"] == "DELETE" and e["path"] == "/v2/orders"
                   for e in log)
        assert SECRET not in r.stdout + r.stderr
    finally:
        stop_fake(f)


def test_flatten_refused_while_dto_runs(dto_bin, tmp_path):
    """A running dto holds its state folder: flatten behind its back is
    refused, pointing at dto ctl flatten."""
    cfg = config(tmp_path, type("F", (), {"url": "http://127.0.0.1:9",
                                          "ws_url": "ws://127.0.0.1:9"}))
    state = tmp_path / "var"
    state.mkdir()
    # hold the lock as dto run does (a write lock on dto.lock); the lock is
    # taken by a child so that the kernel names another pid
    child = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import fcntl,os,sys,time\n"
         "fd=os.open(sys.argv[1],os.O_RDWR|os.O_CREAT,0o600)\n"
         "fcntl.lockf(fd,fcntl.LOCK_EX)\n"
         "print('locked',flush=True)\n"
         "time.sleep(30)\n", str(state / "dto.lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        r = flatten(dto_bin, cfg, "--yes")
        assert r.returncode == 2, r.stdout + r.stderr
        assert "dto ctl flatten" in r.stderr and str(child.pid) in r.stderr
    finally:
        child.kill()
        child.wait()
