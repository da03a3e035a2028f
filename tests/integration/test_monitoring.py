"""Monitoring of a running dto: /metrics, /healthz, /readyz, alerts through
real receivers, a real Prometheus and a real Alertmanager.

Each figure of /metrics that can be told without dto is checked against an
independent source (the process's /proc files read here, the API's own
answers, promtool's parser); each alert path ends at a real receiver.
"""
import hashlib
import http.client
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

from api_env import start_dto, wait_for
from receivers import start_http

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = (shutil.which("prometheus-alertmanager")
                or shutil.which("alertmanager"))
SECRET = "hook-secret-9f1c2a"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def parse_metrics(text):
    """{(name, frozenset(labels)): value} from the exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|'
                                      r'\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(metrics, name, **labels):
    want = set(labels.items())
    hits = [v for (n, ls), v in metrics.items() if n == name and want <= ls]
    assert hits, f"no sample {name}{labels}"
    return hits[0]


def hook_channels(port, name="hook", extra=""):
    return f"""
    - name: {name}
      type: webhook
      url: http://127.0.0.1:{port}/hook
      secret_env: DTO_HOOK_SECRET
      timeout: 2s
      retries: 1
      backoff: 100ms
{extra}"""


def alerts_conf(channels, more=""):
    return f"""monitoring:
  interval: 200ms
alerts:
  channels:{channels}
{more}"""


@pytest.fixture
def hook(tmp_path):
    r = start_http(tmp_path / "hook.jsonl", mode="ok")
    yield r
    r.stop()


def kill_bodies(recs, name="KillSwitchEngaged"):
    out = []
    for r in recs:
        b = json.loads(r["body"])
        if any(a["name"] == name for a in b["alerts"]):
            out.append(b)
    return out


# ---- /metrics, /healthz, /readyz ---------------------------------------------

def test_metrics_are_valid_and_true(dto_bin, tmp_path, hook):
    d = start_dto(dto_bin, tmp_path, extra=alerts_conf(hook_channels(
        hook.port)), env={"DTO_HOOK_SECRET": SECRET})
    try:
        tok = d.admin_token()
        # let the replay trade a little
        wait_for(lambda: json.loads(d.get("/orders?limit=1", token=tok)
                                    .body).get("orders"), 60,
                 what="an order")
        accts = json.loads(d.get("/accounts", token=tok).body)["accounts"]
        r = d.get("/metrics")
        assert r.status == 200
        assert r.header("Content-Type").startswith(
            "text/plain; version=0.0.4")
        text = r.body.decode()
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
        m = parse_metrics(text)
        # the process, read here from /proc independently
        pid = d.proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
        threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
        assert abs(value(m, "dto_process_threads") - threads) <= 2
        rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
        assert 0.5 * rss < value(m, "process_resident_memory_bytes") < 2 * rss
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        assert abs(value(m, "process_open_fds") - fds) <= 3
        stat = Path(f"/proc/{pid}/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        btime = int(re.search(r"^btime (\d+)", Path("/proc/stat").read_text(),
                              re.M).group(1))
        start = btime + start_ticks / os.sysconf("SC_CLK_TCK")
        assert abs(value(m, "process_start_time_seconds") - start) < 2
        st = os.statvfs(d.tmp / "state")
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        pct = used / (used + st.f_bavail * st.f_frsize) * 100
        assert abs(value(m, "dto_disk_percent", kind="data") - pct) < 1
        # trading, against the API's own answers (one snapshot apart: read
        # figures that move slowly, or bound them)
        eq = float(accts[0]["equity"])
        assert abs(value(m, "dto_equity", account="paper") - eq) < 0.02 * eq
        assert value(m, "dto_kill_switch_engaged") == 0
        assert value(m, "dto_store_up") == 1
        assert value(m, "dto_broker_connected", broker="paper") == 1
        assert value(m, "dto_orders_total") >= 1
        assert value(m, "dto_http_requests_total", route="/api/v1/accounts",
                     method="GET", code="200") >= 1
        assert value(m, "dto_alerts_firing", severity="critical") == 0
        for name in ("dto_system_cpu_percent", "dto_system_memory_percent",
                     "dto_http_error_ratio", "dto_store_query_max_seconds",
                     "dto_market_data_stale", "dto_order_failures_recent",
                     "dto_daily_loss_ratio", "dto_pnl_jump_ratio"):
            value(m, name)  # every rule's metric is there
        # health: no authentication, nothing sensitive
        for path in ("/healthz", "/readyz"):
            h = d.get(path)
            assert h.status == 200, h.body
            body = json.loads(h.body)
            assert body["status"] == "ok"
            assert str(d.tmp) not in h.body.decode()
            assert "dto.db" not in h.body.decode()
        assert set(json.loads(d.get("/readyz").body)["checks"]) == {
            "engine", "store", "broker", "market_data", "reconciliation",
            "maintenance", "lifecycle"}
        # maintenance makes it not ready, and back
        s = d.admin_session()
        assert d.patch("/risk", {"maintenance": True}, session=s).status == 200
        wait_for(lambda: d.get("/readyz").status == 503, 10,
                 what="not ready in maintenance")
        assert d.get("/healthz").status == 200  # alive all the same
        assert d.patch("/risk", {"maintenance": False},
                       session=s).status == 200
        wait_for(lambda: d.get("/readyz").status == 200, 10,
                 what="ready again")
    finally:
        d.stop()


def test_metrics_token(dto_bin, tmp_path):
    d = start_dto(dto_bin, tmp_path,
                  extra="monitoring:\n  metrics_token: true\n")
    try:
        assert d.get("/metrics").status == 401
        r = d.get("/metrics", token=d.admin_token())
        assert r.status == 200 and b"dto_uptime_seconds" in r.body
        assert d.get("/healthz").status == 200  # health stays open
    finally:
        d.stop()


# ---- alerts to receivers ------------------------------------------------------

def test_alert_to_webhook_signed_ack_and_resolve(dto_bin, tmp_path, hook):
    d = start_dto(dto_bin, tmp_path, extra=alerts_conf(hook_channels(
        hook.port)), env={"DTO_HOOK_SECRET": SECRET})
    try:
        s = d.admin_session()
        assert d.post("/risk/kill", session=s).status == 200
        recs = wait_for(lambda: kill_bodies(hook.records()), 10,
                        what="the kill switch alert at the receiver")
        body = recs[0]
        assert body["status"] == "firing"
        assert body["severity"] == "critical"
        # the signature over the raw body, checked here with Python's hmac
        raw = [r for r in hook.records()
               if "KillSwitchEngaged" in r["body"]][0]
        hdr = {k.lower(): v for k, v in raw["headers"].items()}
        want = hmac.new(SECRET.encode(), raw["body"].encode(),
                        hashlib.sha256).hexdigest()
        assert hdr["x-dto-signature"] == "sha256=" + want
        assert abs(int(hdr["x-dto-timestamp"]) - time.time()) < 60
        assert json.loads(raw["body"])["timestamp"] == int(
            hdr["x-dto-timestamp"])
        # listed, acknowledged through the API
        tok = d.admin_token()
        al = json.loads(d.get("/alerts", token=tok).body)["alerts"]
        ks = [a for a in al if a["name"] == "KillSwitchEngaged"]
        assert ks and ks[0]["state"] == "firing"
        r = d.post(f"/alerts/{ks[0]['id']}/ack", session=s)
        assert r.status == 200, r.body
        al = json.loads(d.get("/alerts", token=tok).body)["alerts"]
        assert [a for a in al if a["id"] == ks[0]["id"]][0]["acked_by"]
        assert d.post("/alerts/999999/ack", session=s).status == 404
        # a viewer may read, not acknowledge
        v = d.add_user("viewer-1", "viewer")
        vs = d.login(v)
        assert d.post(f"/alerts/{ks[0]['id']}/ack", session=vs).status == 403
        # released: resolved, and told
        assert d.request("DELETE", "/risk/kill", session=s).status == 200
        wait_for(lambda: [b for b in kill_bodies(hook.records())
                          if b["status"] == "resolved"], 10,
                 what="the resolution at the receiver")
        # the history in the store
        h = json.loads(d.get("/alerts/history?limit=200", token=tok).body)
        evs = {(x["event"], x["name"]) for x in h["history"]}
        for ev in ("firing", "notified", "acked", "resolved"):
            assert (ev, "KillSwitchEngaged") in evs, evs
        assert any(x["event"] == "delivered" and x["channel"] == "hook"
                   for x in h["history"])
        # the audit log has the acknowledgement
        au = json.loads(d.get("/audit", token=tok).body)
        assert any(e["action"] == "alert.ack" for e in au["records"]), au
    finally:
        d.stop()
    # no secret in the logs
    for f in ("run.log", "run.err", "run.out"):
        text = (d.tmp / f).read_text()
        assert SECRET not in text
        assert d.admin_token() not in text


def test_escalation_and_ctl_ack(dto_bin, tmp_path):
    a = start_http(tmp_path / "a.jsonl")
    b = start_http(tmp_path / "b.jsonl")
    chans = hook_channels(a.port, "first") + hook_channels(b.port, "second")
    more = """  escalate_after: 2s
  routes:
    critical: {channels: [first], escalate: [second]}
"""
    d = start_dto(dto_bin, tmp_path, extra=alerts_conf(chans, more),
                  env={"DTO_HOOK_SECRET": SECRET})
    try:
        s = d.admin_session()
        assert d.post("/risk/kill", session=s).status == 200
        wait_for(lambda: kill_bodies(a.records()), 10, what="first channel")
        # nobody acknowledges: the second channel gets it, as an escalation
        esc = wait_for(lambda: kill_bodies(b.records()), 10,
                       what="the escalation")
        assert esc[0]["escalation"] is True
        assert d.request("DELETE", "/risk/kill", session=s).status == 200
        wait_for(lambda: [x for x in kill_bodies(a.records())
                          if x["status"] == "resolved"], 10,
                 what="resolved")
        n_b = len(kill_bodies(b.records()))
        # again, acknowledged with dto ctl this time: no escalation
        assert d.post("/risk/kill", session=s).status == 200
        wait_for(lambda: len([x for x in kill_bodies(a.records())
                              if x["status"] == "firing"]) >= 2, 10,
                 what="the second firing")
        r = d.cli("ctl", "alerts", "--config", d.cfg, "--json")
        assert r.returncode == 0, r.stderr
        al = json.loads(r.stdout)["result"]["alerts"]
        fid = [x["id"] for x in al if x["name"] == "KillSwitchEngaged"
               and x["state"] == "firing"][0]
        r = d.cli("ctl", "ack", str(fid), "--config", d.cfg, "--reason",
                  "on it")
        assert r.returncode == 0, r.stderr
        assert "acknowledged" in r.stdout
        r = d.cli("ctl", "ack", "987654", "--config", d.cfg)
        assert r.returncode == 1 and "no firing alert" in r.stderr
        time.sleep(4)  # twice the escalation time
        assert len(kill_bodies(b.records())) == n_b
    finally:
        d.stop()
        a.stop()
        b.stop()


def test_failing_receivers_dead_letter_engine_goes_on(dto_bin, tmp_path):
    hang = start_http(tmp_path / "hang.jsonl", mode="hang")
    fail = start_http(tmp_path / "fail.jsonl", mode="fail")
    chans = (hook_channels(hang.port, "hangs").replace("timeout: 2s",
                                                       "timeout: 500ms")
             + hook_channels(fail.port, "fails"))
    d = start_dto(dto_bin, tmp_path, extra=alerts_conf(chans),
                  env={"DTO_HOOK_SECRET": SECRET})
    try:
        s = d.admin_session()
        tok = d.admin_token()
        before = parse_metrics(d.get("/metrics").body.decode())
        assert d.post("/risk/kill", session=s).status == 200

        def dead():
            h = json.loads(d.get("/alerts/history?limit=500",
                                 token=tok).body)["history"]
            return {x["channel"]: x for x in h if x["event"] == "dead_letter"}
        dl = wait_for(lambda: len(dead()) == 2 and dead(), 20,
                      what="a dead letter per channel")
        assert dl["fails"]["detail"]["attempts"] == 2
        assert "500" in dl["fails"]["detail"]["error"]
        assert dl["hangs"]["detail"]["attempts"] == 2
        assert "KillSwitchEngaged" in json.dumps(
            dl["hangs"]["detail"]["payload"])
        assert SECRET not in json.dumps(dl)
        # the fail receiver saw both attempts
        assert len(fail.records()) >= 2
        # meanwhile the engine went on: commands are answered and the
        # replay plays
        r = d.cli("ctl", "status", "--config", d.cfg, "--json")
        assert r.returncode == 0
        after = parse_metrics(d.get("/metrics").body.decode())
        assert value(after, "dto_market_events_total", kind="bar") > value(
            before, "dto_market_events_total", kind="bar")
        assert value(after, "dto_notifications_total", channel="fails",
                     result="dead_letter") >= 1
        assert d.get("/healthz").status == 200
    finally:
        d.stop()
        hang.stop()
        fail.stop()


def test_silence_keeps_notification_back(dto_bin, tmp_path, hook):
    d = start_dto(dto_bin, tmp_path, extra=alerts_conf(hook_channels(
        hook.port)), env={"DTO_HOOK_SECRET": SECRET})
    try:
        s = d.admin_session()
        tok = d.admin_token()
        bad = d.post("/silences", {"matchers": {}, "duration": "1h",
                                   "comment": "x"}, session=s)
        assert bad.status == 400 and b"matchers" in bad.body
        bad = d.post("/silences", {"matchers": {"alertname": "X"},
                                   "duration": "-5m", "comment": "x"},
                     session=s)
        assert bad.status == 400 and b"duration" in bad.body
        r = d.post("/silences", {"matchers": {"alertname":
                                              "KillSwitchEngaged"},
                                 "duration": "1h", "comment": "drill"},
                   session=s)
        assert r.status == 201, r.body
        sid = json.loads(r.body)["id"]
        assert d.post("/risk/kill", session=s).status == 200
        time.sleep(2)
        assert not kill_bodies(hook.records())
        h = json.loads(d.get("/alerts/history?limit=200", token=tok).body)
        assert any(x["event"] == "silenced" for x in h["history"])
        assert d.request("DELETE", f"/silences/{sid}",
                         session=s).status == 204
        wait_for(lambda: kill_bodies(hook.records()), 10,
                 what="the alert once the silence ended")
    finally:
        d.stop()


def test_engine_risk_event_raises_alert(dto_bin, tmp_path, hook):
    d = start_dto(dto_bin, tmp_path, extra=alerts_conf(hook_channels(
        hook.port)), env={"DTO_HOOK_SECRET": SECRET})
    try:
        s = d.admin_session()
        r = d.patch("/risk", {"mode": "halted", "strategy": "fast"},
                    session=s)
        assert r.status == 200, r.body

        def halted():
            return [json.loads(x["body"]) for x in hook.records()
                    if "risk_halted" in x["body"]]
        got = wait_for(halted, 10, what="the risk_halted alert")
        a = got[0]["alerts"][0]
        assert a["labels"]["strategy"] == "fast"
        assert a["severity"] == "critical"
        r = d.patch("/risk", {"mode": "active", "strategy": "fast"},
                    session=s)
        assert r.status == 200, r.body
        wait_for(lambda: [b for b in halted() if b["status"] == "resolved"],
                 10, what="resolved when active again")
    finally:
        d.stop()


# ---- Prometheus and Alertmanager --------------------------------------------

def _get_json(url):
    with urlopen(url, timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.skipif(not PROMETHEUS, reason="prometheus is not installed")
def test_prometheus_scrapes_and_rules_agree(dto_bin, tmp_path):
    d = start_dto(dto_bin, tmp_path, extra="monitoring:\n  interval: 200ms\n")
    port = free_port()
    rules = ROOT / "deploy" / "prometheus" / "dto-rules.yml"
    conf = tmp_path / "prometheus.yml"
    conf.write_text(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{rules}"]
scrape_configs:
  - job_name: dto
    static_configs:
      - targets: ["127.0.0.1:{d.port}"]
""")
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={conf}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prom.err", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        def q(expr):
            try:
                r = _get_json(f"{base}/api/v1/query?query={expr}")
            except OSError:
                return None
            return r["data"]["result"]
        up = wait_for(lambda: q("up") or None, 60, step=0.5,
                      what="Prometheus scraping dto")
        assert up[0]["value"][1] == "1"
        eq = wait_for(lambda: q("dto_equity") or None, 30, step=0.5,
                      what="dto_equity in Prometheus")
        assert eq[0]["metric"]["account"] == "paper"
        # the same rule fires in Prometheus (deploy/) and in dto
        s = d.admin_session()
        assert d.post("/risk/kill", session=s).status == 200

        def firing():
            try:
                al = _get_json(f"{base}/api/v1/alerts")["data"]["alerts"]
            except OSError:
                return None
            return [a for a in al if a["labels"]["alertname"] ==
                    "KillSwitchEngaged" and a["state"] == "firing"] or \
                q('ALERTS{alertname="KillSwitchEngaged",alertstate="firing"}')
        try:
            wait_for(firing, 90, step=0.5,
                     what="Prometheus's KillSwitchEngaged")
        except AssertionError:
            rules = _get_json(f"{base}/api/v1/rules")["data"]["groups"]
            ks = [r for g in rules for r in g["rules"]
                  if r["name"] == "KillSwitchEngaged"]
            raise AssertionError(
                f"not firing: rule {ks}; value "
                f"{q('dto_kill_switch_engaged')}; dto "
                f"{d.get('/metrics').body.decode().count('kill_switch')}")
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        d.stop()


@pytest.mark.skipif(not ALERTMANAGER, reason="alertmanager is not installed")
def test_alertmanager_receives(dto_bin, tmp_path):
    port = free_port()
    conf = tmp_path / "am.yml"
    conf.write_text("""route:
  receiver: none
  group_wait: 0s
receivers:
  - name: none
""")
    am = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={conf}",
         f"--storage.path={tmp_path / 'am'}",
         f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "am.err", "w"))
    base = f"http://127.0.0.1:{port}"

    def alerts():
        try:
            return _get_json(f"{base}/api/v2/alerts")
        except OSError:
            return None
    try:
        wait_for(lambda: alerts() is not None, 30, step=0.3,
                 what="Alertmanager up")
        chans = f"""
    - name: am
      type: alertmanager
      url: http://127.0.0.1:{port}
      timeout: 2s
"""
        d = start_dto(dto_bin, tmp_path, extra=alerts_conf(chans))
        try:
            s = d.admin_session()
            assert d.post("/risk/kill", session=s).status == 200

            def ks():
                return [a for a in alerts() or []
                        if a["labels"].get("alertname") == "KillSwitchEngaged"]
            got = wait_for(ks, 20, step=0.3,
                           what="KillSwitchEngaged in Alertmanager")
            assert got[0]["labels"]["severity"] == "critical"
            assert got[0]["status"]["state"] == "active"
            assert "kill switch" in got[0]["annotations"]["summary"]
            assert d.request("DELETE", "/risk/kill", session=s).status == 200
            # resolved: Alertmanager no longer lists it as active
            wait_for(lambda: not [a for a in ks()
                                  if a["status"]["state"] == "active"], 20,
                     step=0.3, what="the alert resolved in Alertmanager")
        finally:
            d.stop()
    finally:
        am.terminate()
        am.wait(timeout=30)


# ---- readiness when the store stops -------------------------------------------

def test_readyz_follows_the_store(dto_bin, tmp_path):
    pg = subprocess.run([ROOT / "scripts" / "pg-test.sh", "start"],
                        capture_output=True, text=True, timeout=120)
    if pg.returncode != 0:
        pytest.skip("no PostgreSQL server: " + pg.stderr[-300:])
    pgdir = pg.stdout.strip().splitlines()[-1]
    url = Path(pgdir, "url").read_text().strip()
    d = start_dto(dto_bin, tmp_path, store=url,
                  extra="monitoring:\n  interval: 200ms\n")
    try:
        wait_for(lambda: d.get("/readyz").status == 200, 20, what="ready")
        subprocess.run([ROOT / "scripts" / "pg-test.sh", "pause", pgdir],
                       check=True, timeout=60)
        r = wait_for(lambda: (lambda x: x.status == 503 and x)(
            d.get("/readyz")), 20, what="not ready without the store")
        checks = json.loads(r.body)["checks"]
        assert checks["store"]["status"] == "fail"
        assert "postgresql" not in r.body.decode()  # no URL, no detail
        assert d.get("/healthz").status == 200
        m = parse_metrics(d.get("/metrics").body.decode())
        assert value(m, "dto_store_up") == 0
        subprocess.run([ROOT / "scripts" / "pg-test.sh", "resume", pgdir],
                       check=True, timeout=60)
        wait_for(lambda: d.get("/readyz").status == 200, 60,
                 what="ready again with the store back")
    finally:
        d.stop()
        subprocess.run([ROOT / "scripts" / "pg-test.sh", "stop", pgdir],
                       timeout=60)


# ---- readiness when market data goes stale (the fake Alpaca) ------------------

def test_readyz_follows_market_data(dto_bin, tmp_path):
    from alpaca_books import SYMBOLS, LiveRun, migrate
    gen = ("--symbols", ",".join(SYMBOLS), "--days", "1", "--seed", "7",
           "--start-index", "100")
    db = tmp_path / "live.db"
    migrate(dto_bin, db)
    with LiveRun(dto_bin, tmp_path, gen, store=db,
                 alpaca_extra="  warmup_bars: 0\n  stale_after: 1s\n",
                 extra="api:\n  listen: 127.0.0.1:0\n"
                       "monitoring:\n  interval: 200ms\n") as r:
        r.wait_ready()
        port = r.wait(lambda: [e["port"] for e in r.events("api.listening")],
                      "the API")[0]

        def ready():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/readyz")
            x = c.getresponse()
            body = json.loads(x.read())
            c.close()
            return x.status, body
        # the market moves: ready, the broker's streams connected
        for _ in range(6):
            r.fake.step()
            time.sleep(0.2)
        st, body = ready()
        assert st == 200, body
        assert body["checks"]["broker"]["status"] == "ok"
        # no data while the market is open: not ready, and why
        st, body = r.wait(lambda: (lambda x: x[0] == 503 and x)(ready()),
                          "not ready with stale market data")
        assert body["checks"]["market_data"]["status"] == "fail"
        assert body["checks"]["engine"]["status"] == "ok"
        # data again: ready again
        r.fake.step()
        last = {}

        def again():  # the market moves again
            r.fake.step()
            st, last["body"] = ready()
            return st == 200
        try:
            r.wait(again, "ready again with fresh data")
        except AssertionError:
            raise AssertionError(f"still not ready: {last['body']}")


# ---- logs -------------------------------------------------------------------

def test_log_file_reopened_on_sighup(dto_bin, tmp_path):
    """log.output: file, moved away as logrotate does, SIGHUP: the lines go
    to the new file, none lost; every line has its component."""
    import signal
    logf = tmp_path / "dto.log"
    d = start_dto(dto_bin, tmp_path, extra=f"log:\n  output: file\n"
                                             f"  file: {logf}\n")
    # --log of the fixture wins over log.file: start one without it
    d.stop()
    d.proc = subprocess.Popen([d.bin, "run", "--config", d.cfg],
                              cwd=d.tmp, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        wait_for(lambda: logf.exists() and "api.listening" in
                 logf.read_text(), 30, what="the log file")
        rotated = tmp_path / "dto.log.1"
        logf.rename(rotated)
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: logf.exists() and "log.reopened" in
                 logf.read_text(), 10, what="the new log file")
        wait_for(lambda: '"order.' in logf.read_text(), 30,
                 what="trading lines in the new file")
        for f in (rotated, logf):
            for line in f.read_text().splitlines():
                e = json.loads(line)  # whole lines only
                if "." in e["event"]:
                    assert e["component"] == e["event"].split(".")[0], e
    finally:
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(timeout=30)


def test_log_to_journal(dto_bin, tmp_path):
    """log.output: journal writes to systemd's journal; where there is none
    (a container), dto refuses to start with a clear error."""
    d = start_dto(dto_bin, tmp_path)
    d.stop()
    cfg = Path(d.cfg)
    cfg.write_text(cfg.read_text() + "log:\n  output: journal\n")
    p = subprocess.run([d.bin, "run", "--config", cfg], cwd=d.tmp,
                       capture_output=True, text=True, timeout=30)
    if os.path.exists("/run/systemd/journal/stdout"):
        pytest.skip("a journal is running here: not a refusal to test")
    assert p.returncode != 0
    assert "log.output journal: cannot connect to the systemd journal" \
        in p.stderr, p.stderr


# ---- backups in dto run: metrics and alerts ------------------------------------

def test_scheduled_backups_metrics_and_alert(dto_bin, tmp_path, hook):
    """backup.schedule runs full backups inside dto run (the replay's clock:
    a simulated minute is a second here); their outcome is in /metrics, and
    a failing secondary copy raises BackupFailed at the receiver."""
    key = "ab" * 32
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    extra = alerts_conf(hook_channels(hook.port)) + f"""backup:
  dir: {tmp_path / 'backups'}
  secondary_dir: {blocker / 'copy'}
  schedule: every 1m
"""
    d = start_dto(dto_bin, tmp_path, extra=extra,
                  env={"DTO_HOOK_SECRET": SECRET, "DTO_BACKUP_KEY": key})
    try:
        def failed():
            m = parse_metrics(d.get("/metrics").body.decode())
            return [v for (n, ls), v in m.items()
                    if n == "dto_backup_last_failed"] == [1.0] and m
        m = wait_for(failed, 60, what="a scheduled backup noted as failed")
        assert value(m, "dto_backup_overdue") == 0
        # the primary archive was written and verifies, only the copy failed
        archives = list((tmp_path / "backups").glob("full-*.dtobak"))
        assert archives
        r = d.cli("backup", "verify", "--latest", "--config", d.cfg)
        assert r.returncode == 0, r.stderr
        got = wait_for(lambda: kill_bodies(hook.records(), "BackupFailed"),
                       20, what="BackupFailed at the receiver")
        assert got[0]["severity"] == "critical"
        # a drill while trading: its outcome is in the metrics
        r = d.cli("drill", "--config", d.cfg, "--json")
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        m = parse_metrics(d.get("/metrics").body.decode())
        assert value(m, "dto_drill_last_ok") == 1
        assert abs(value(m, "dto_drill_rto_seconds") - rep["rto_seconds"]) \
            < 1e-6
        assert value(m, "dto_drill_rpo_events") == rep["rpo_events"]
        assert key not in (d.tmp / "run.log").read_text()
    finally:
        d.stop()
