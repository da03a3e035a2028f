"""HTTP notification channels through `dto alert test` against the loopback
receiver of receivers.py: one test per kind checks the request dto sends
(method, path, Content-Type, the documented fields; the webhook's
signature recomputed here with hmac/hashlib), then the receiver's fail,
hang and flaky modes give the exit status and message they should, with
no secret in anything dto prints.  Backoffs are 10 ms; every run is
bounded in time."""
import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import pytest

from receivers import dto_alert_test, start_http, write_alert_config

SECRET = "SeCrEt-must-not-leak-42"


def one_request(rx):
    recs = rx.wait_records(1)
    assert len(recs) == 1, recs
    return recs[0]


def header(req, name):
    for k, v in req["headers"].items():
        if k.lower() == name.lower():
            return v
    raise AssertionError(f"no {name} header in {req['headers']}")


def run_ok(dto_bin, tmp_path, ch, env=None):
    cfg = write_alert_config(tmp_path / "c.yaml", [ch],
                             extra="monitoring:\n  instance: testhost\n")
    r = dto_alert_test(dto_bin, cfg, ch["name"], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(
        f"dto: test notification delivered to {ch['name']} (1 attempt, ")
    return r


def test_slack(dto_bin, tmp_path):
    with start_http(tmp_path / "rx.jsonl") as rx:
        url = f"http://127.0.0.1:{rx.port}/services/T1/B2/{SECRET}"
        ch = {"name": "chat", "type": "slack", "url_env": "TEST_SLACK_URL"}
        run_ok(dto_bin, tmp_path, ch, env={"TEST_SLACK_URL": url})
        req = one_request(rx)
    assert req["method"] == "POST"
    assert req["path"] == f"/services/T1/B2/{SECRET}"
    assert header(req, "Content-Type") == "application/json"
    body = json.loads(req["body"])
    assert body["text"].startswith(
        "[TEST] dto test notification from testhost")


def test_teams(dto_bin, tmp_path):
    with start_http(tmp_path / "rx.jsonl") as rx:
        url = f"http://127.0.0.1:{rx.port}/webhookb2/{SECRET}"
        ch = {"name": "teams", "type": "teams", "url_env": "TEST_TEAMS_URL"}
        run_ok(dto_bin, tmp_path, ch, env={"TEST_TEAMS_URL": url})
        req = one_request(rx)
    assert req["method"] == "POST"
    assert header(req, "Content-Type") == "application/json"
    card = json.loads(req["body"])
    assert card["@type"] == "MessageCard"
    assert card["@context"] == "https://schema.org/extensions"
    assert card["summary"] == card["title"] == \
        "[TEST] dto test notification from testhost"
    assert len(card["themeColor"]) == 6
    assert "teams" in card["text"]


def test_pagerduty(dto_bin, tmp_path):
    with start_http(tmp_path / "rx.jsonl", status=202) as rx:
        ch = {"name": "pd", "type": "pagerduty",
              "url": f"http://127.0.0.1:{rx.port}/v2/enqueue",
              "routing_key_env": "TEST_PD_KEY"}
        run_ok(dto_bin, tmp_path, ch, env={"TEST_PD_KEY": "R0UTE" + SECRET})
        req = one_request(rx)
    assert req["method"] == "POST" and req["path"] == "/v2/enqueue"
    assert header(req, "Content-Type") == "application/json"
    ev = json.loads(req["body"])
    assert ev["routing_key"] == "R0UTE" + SECRET
    assert ev["event_action"] == "trigger"
    assert ev["dedup_key"]
    p = ev["payload"]
    assert p["summary"] == "[TEST] dto test notification from testhost"
    assert p["source"] == "testhost"
    assert p["severity"] == "info"
    assert p["timestamp"].endswith("Z")


def test_sms(dto_bin, tmp_path):
    to = ["+15550002222", "+15550003333"]
    with start_http(tmp_path / "rx.jsonl", status=201) as rx:
        ch = {"name": "sms", "type": "sms",
              "url": f"http://127.0.0.1:{rx.port}",
              "account_sid": "AC0123abc", "auth_token_env": "TEST_TW_TOKEN",
              "from": "+15550001111", "to": to}
        run_ok(dto_bin, tmp_path, ch, env={"TEST_TW_TOKEN": "tok" + SECRET})
        reqs = rx.wait_records(2)
    assert len(reqs) == 2  # one request a recipient
    for req, number in zip(reqs, to):
        assert req["method"] == "POST"
        assert req["path"] == "/2010-04-01/Accounts/AC0123abc/Messages.json"
        assert header(req, "Content-Type") == \
            "application/x-www-form-urlencoded"
        form = urllib.parse.parse_qs(req["body"], strict_parsing=True)
        assert form["To"] == [number]
        assert form["From"] == ["+15550001111"]
        assert form["Body"][0].startswith("[TEST] dto test notification")
        assert len(form["Body"][0]) <= 1600
        scheme, _, cred = header(req, "Authorization").partition(" ")
        assert scheme == "Basic"
        assert base64.b64decode(cred).decode() == "AC0123abc:tok" + SECRET


def test_alertmanager(dto_bin, tmp_path):
    with start_http(tmp_path / "rx.jsonl") as rx:
        ch = {"name": "am", "type": "alertmanager",
              "url": f"http://127.0.0.1:{rx.port}"}
        run_ok(dto_bin, tmp_path, ch)
        req = one_request(rx)
    assert req["method"] == "POST" and req["path"] == "/api/v2/alerts"
    assert header(req, "Content-Type") == "application/json"
    alerts = json.loads(req["body"])
    assert isinstance(alerts, list) and len(alerts) == 1
    a = alerts[0]
    assert a["labels"]["alertname"] and a["labels"]["severity"] == "info"
    assert a["annotations"]["summary"].startswith("[TEST]")
    assert a["startsAt"].endswith("Z")
    assert "endsAt" not in a  # a firing alert has no end


def test_webhook_signature(dto_bin, tmp_path):
    key = "k" * 100 + SECRET  # longer than SHA-256's block
    with start_http(tmp_path / "rx.jsonl") as rx:
        ch = {"name": "hook", "type": "webhook",
              "url": f"http://127.0.0.1:{rx.port}/dto",
              "secret_env": "TEST_HOOK_KEY"}
        before = int(time.time())
        run_ok(dto_bin, tmp_path, ch, env={"TEST_HOOK_KEY": key})
        after = int(time.time())
        req = one_request(rx)
    assert req["method"] == "POST" and req["path"] == "/dto"
    assert header(req, "Content-Type") == "application/json"
    ts = int(header(req, "X-Dto-Timestamp"))
    assert before <= ts <= after
    want = hmac.new(key.encode(), req["body"].encode(),
                    hashlib.sha256).hexdigest()
    assert header(req, "X-Dto-Signature") == "sha256=" + want
    body = json.loads(req["body"])
    assert body["version"] == 1 and body["status"] == "test"
    assert body["timestamp"] == ts
    assert body["instance"] == "testhost"
    assert body["alerts"] == []


# ---- failures -------------------------------------------------------------------

def slack_with_token(port, **kw):
    ch = {"name": "chat", "type": "slack", "url_env": "TEST_SLACK_URL",
          "retries": 1, "backoff": "10ms", "max_backoff": "20ms"}
    ch.update(kw)
    env = {"TEST_SLACK_URL":
           f"http://127.0.0.1:{port}/services/{SECRET}?token={SECRET}"}
    return ch, env


def test_fail_mode(dto_bin, tmp_path):
    with start_http(tmp_path / "rx.jsonl", mode="fail") as rx:
        ch, env = slack_with_token(rx.port)
        cfg = write_alert_config(tmp_path / "c.yaml", [ch])
        r = dto_alert_test(dto_bin, cfg, "chat", env=env)
        assert len(rx.wait_records(2)) == 2  # 1 + retries
    assert r.returncode == 1
    assert "dto: chat: delivery failed: HTTP 500" in r.stderr
    assert "2 attempts" in r.stderr
    assert SECRET not in r.stdout + r.stderr


def test_hang_mode(dto_bin, tmp_path):
    with start_http(tmp_path / "rx.jsonl", mode="hang") as rx:
        ch, env = slack_with_token(rx.port, timeout="300ms", retries=0)
        cfg = write_alert_config(tmp_path / "c.yaml", [ch])
        t0 = time.monotonic()
        r = dto_alert_test(dto_bin, cfg, "chat", env=env, timeout=30)
        took = time.monotonic() - t0
    assert r.returncode == 1
    assert "dto: chat: delivery failed: timeout after 300 ms" in r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert took < 20


def test_flaky_mode(dto_bin, tmp_path):
    with start_http(tmp_path / "rx.jsonl", mode="flaky", fail_first=2) as rx:
        ch, env = slack_with_token(rx.port, retries=3)
        cfg = write_alert_config(tmp_path / "c.yaml", [ch])
        r = dto_alert_test(dto_bin, cfg, "chat", env=env)
        assert len(rx.wait_records(3)) == 3
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(
        "dto: test notification delivered to chat (3 attempts, ")
    assert SECRET not in r.stdout + r.stderr


def test_refused_connection(dto_bin, tmp_path):
    with start_http(tmp_path / "rx.jsonl") as rx:
        port = rx.port
    ch, env = slack_with_token(port, retries=0)  # nobody listens any more
    cfg = write_alert_config(tmp_path / "c.yaml", [ch])
    r = dto_alert_test(dto_bin, cfg, "chat", env=env)
    assert r.returncode == 1
    assert "dto: chat: delivery failed: connection refused" in r.stderr
    assert SECRET not in r.stdout + r.stderr


def test_unknown_channel(dto_bin, tmp_path):
    cfg = write_alert_config(tmp_path / "c.yaml", [
        {"name": "am", "type": "alertmanager", "url": "http://127.0.0.1:9"},
        {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9",
         "secret_env": "TEST_HOOK_KEY"}])
    r = dto_alert_test(dto_bin, cfg, "nope")
    assert r.returncode == 1
    assert "no channel 'nope'" in r.stderr
    assert "configured: am, hook" in r.stderr


@pytest.mark.parametrize("ch,env,field", [
    ({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9",
      "secret_env": "TEST_UNSET_KEY"}, {}, "secret_env"),
    ({"name": "hook", "type": "webhook", "url": "http://example.com/x",
      "secret_env": "TEST_HOOK_KEY"}, {"TEST_HOOK_KEY": SECRET}, "url"),
    ({"name": "chat", "type": "slack", "url_env": "TEST_SLACK_URL"},
     {"TEST_SLACK_URL": f"http://hooks.example.com/{SECRET}"}, "url_env"),
    ({"name": "pd", "type": "pagerduty", "routing_key_env": "TEST_PD_KEY"},
     {"TEST_PD_KEY": ""}, "routing_key_env"),
])
def test_check_refuses(dto_bin, tmp_path, ch, env, field):
    cfg = write_alert_config(tmp_path / "c.yaml", [ch])
    r = dto_alert_test(dto_bin, cfg, ch["name"], env=env)
    assert r.returncode == 1
    assert f"alerts.channels.{ch['name']}.{field}: " in r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert "hooks.example.com" not in r.stderr
