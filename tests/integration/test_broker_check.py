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
