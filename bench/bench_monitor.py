#!/usr/bin/env python3
"""bench_monitor.py DTO_BIN WORKDIR - monitoring: how long a GET /metrics
takes with 100 instruments, and how long from a threshold crossing to the
notification at a local webhook receiver.

`dto run` (paper exchange, a replay of 100 symbols, a SQLite store, the
API on 127.0.0.1 in plain HTTP, monitoring.interval at its default 1 s,
one signed webhook channel to a receiver on loopback).

- Scrape: BENCH_MON_SCRAPES (300) GET /metrics one after another, each on
  a new connection as Prometheus's scraper makes them; p50, p99 and the
  size.  The reference in the same run: nginx serving a static file of the
  same size to the same loop.  And wrk -c4 on both for throughput.
- Alert: BENCH_MON_ALERTS (20) times, the kill switch engaged through the
  API (the KillSwitchEngaged rule: dto_kill_switch_engaged == 1) and,
  separately, maintenance mode switched on (a rule of the configuration:
  dto_maintenance == 1); the time from just before the request is sent to
  the receiver's arrival time of the firing notification.  Then released,
  and the resolved notification awaited.  The reference: the same receiver
  answering a POST sent straight from here.  Budget (DESIGN.md): 1 s.
"""
import http.client
import json
import os
import statistics
import subprocess
import sys
import time

import benchlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from receivers import start_http  # noqa: E402

dto, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
n_scrapes = int(os.environ.get("BENCH_MON_SCRAPES", "300"))
n_alerts = int(os.environ.get("BENCH_MON_ALERTS", "20"))
os.makedirs(work, exist_ok=True)
SYMS = [f"S{i:03d}" for i in range(100)]
SECRET = "bench-monitor-secret"


def config(hook_port):
    ins = "".join(f"  - symbol: {s}\n    asset_class: crypto\n" for s in SYMS)
    data = "".join(f"  - path: {work}/data/{s}.csv\n" for s in SYMS)
    return f"""log_level: warn
accounts:
  - id: paper
    cash: 1000000
instruments:
{ins}strategies:
  - id: mac
    type: ma_crossover
    symbols: [S000, S001]
    params: {{ fast: 2, slow: 5 }}
run:
  feed: replay
  speed: 10
  state_dir: {work}/state
  store: sqlite:{work}/mon.db
data:
{data}api:
  listen: 127.0.0.1:0
  rate_limit_per_s: 1000000
  rate_limit_burst: 1000000
  ip_rate_limit_per_s: 1000000
  ip_rate_limit_burst: 1000000
alerts:
  rules:
    - name: MaintenanceOn
      expr: dto_maintenance == 1
      severity: warning
      summary: maintenance mode is on
  channels:
    - name: hook
      type: webhook
      url: http://127.0.0.1:{hook_port}/hook
      secret_env: DTO_BENCH_HOOK
      timeout: 2s
"""


def get(port, path, token=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Authorization": f"Bearer {token}"} if token else {}
    c.request("GET", path, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def call(port, method, path, token, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def timed_loop(port, path, n):
    lat = []
    size = 0
    for _ in range(n):
        t0 = time.perf_counter()
        st, body = get(port, path)
        lat.append((time.perf_counter() - t0) * 1000)
        assert st == 200, st
        size = len(body)
    return lat, size


def start_dto(hook_port):
    subprocess.run([dto, "data", "generate", "--out", f"{work}/data",
                    "--symbols", ",".join(SYMS), "--days", "2", "--start",
                    "2025-01-06", "--seed", "7", "--calendar", "crypto",
                    "--quiet"], check=True)
    cfg = os.path.join(work, "mon.yaml")
    with open(cfg, "w") as f:
        f.write(config(hook_port))
    subprocess.run([dto, "migrate", "up", "--store", f"sqlite:{work}/mon.db"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([dto, "user", "add", "bench", "--role", "admin",
                    "--password-stdin", "--config", cfg],
                   input="bench monitor password\n", text=True, check=True,
                   stdout=subprocess.DEVNULL)
    r = subprocess.run([dto, "token", "create", "--user", "bench",
                        "--config", cfg], capture_output=True, text=True,
                       check=True)
    token = r.stdout.strip().splitlines()[-1]
    log = os.path.join(work, "run.out")
    env = dict(os.environ, DTO_BENCH_HOOK=SECRET)
    p = subprocess.Popen([dto, "run", "--config", cfg], env=env,
                         stdout=open(log, "w"), stderr=subprocess.STDOUT)
    import re
    for _ in range(600):
        m = re.search(r"HTTP API on \S+ \(port (\d+)\)", open(log).read())
        if m:
            return p, int(m.group(1)), token
        time.sleep(0.05)
    p.kill()
    sys.exit("bench_monitor: dto's API did not start")


def wait_record(hook, pred, since, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for r in hook.records()[since:]:
            if pred(json.loads(r["body"])):
                return r
        time.sleep(0.002)
    sys.exit("bench_monitor: no notification within %ds" % timeout)


def alert_cycles(port, token, hook, name, on, off):
    lat = []
    for _ in range(n_alerts):
        since = len(hook.records())
        t0 = time.time()
        assert on() == 200
        r = wait_record(hook, lambda b: b["status"] == "firing" and any(
            a["name"] == name for a in b["alerts"]), since)
        lat.append((r["time"] - t0) * 1000)
        since = len(hook.records())
        assert off() == 200
        wait_record(hook, lambda b: b["status"] == "resolved" and any(
            a["name"] == name for a in b["alerts"]), since)
    return lat


def main():
    hook = start_http(os.path.join(work, "hook.jsonl"))
    p, port, token = start_dto(hook.port)
    ng = None
    try:
        time.sleep(2)  # some bars for every symbol
        lat, size = timed_loop(port, "/metrics", n_scrapes)
        st, body = get(port, "/metrics")
        series = sum(1 for ln in body.decode().splitlines()
                     if ln and not ln.startswith("#"))
        ng, ngport = benchlib.start_nginx(work, "metrics.txt", size)
        nlat, _ = timed_loop(ngport, "/metrics.txt", n_scrapes)
        print(f"GET /metrics with {len(SYMS)} instruments: {size} bytes, "
              f"{series} samples; {n_scrapes} scrapes, a connection each")
        for label, v in (("dto /metrics", lat),
                         ("nginx, same size static file", nlat)):
            print(f"  {label:32s} p50 {pct(v, 50):7.3f} ms  p99 "
                  f"{pct(v, 99):7.3f} ms  mean {statistics.mean(v):7.3f} ms")
        print(f"  ratio dto/nginx p50 {pct(lat, 50) / pct(nlat, 50):.2f}x")
        d = benchlib.wrk(f"http://127.0.0.1:{port}/metrics", 4, 5, work)
        r = benchlib.wrk(f"http://127.0.0.1:{ngport}/metrics.txt", 4, 5, work)
        print(f"  wrk -c4 5s: dto {d['rps']:.0f} scrapes/s (p99 "
              f"{d['p99_ms']:.2f} ms), nginx {r['rps']:.0f} req/s (p99 "
              f"{r['p99_ms']:.2f} ms)")
        # the reference: a POST straight to the receiver
        ref = []
        for _ in range(n_alerts):
            since = len(hook.records())
            t0 = time.time()
            c = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=5)
            c.request("POST", "/hook", body=b'{"status":"ref","alerts":[]}',
                      headers={"Content-Type": "application/json"})
            c.getresponse().read()
            c.close()
            rec = hook.records()[since]
            ref.append((rec["time"] - t0) * 1000)
        kill = alert_cycles(
            port, token, hook, "KillSwitchEngaged",
            lambda: call(port, "POST", "/api/v1/risk/kill", token),
            lambda: call(port, "DELETE", "/api/v1/risk/kill", token))
        maint = alert_cycles(
            port, token, hook, "MaintenanceOn",
            lambda: call(port, "PATCH", "/api/v1/risk", token,
                         {"maintenance": True}),
            lambda: call(port, "PATCH", "/api/v1/risk", token,
                         {"maintenance": False}))
        print(f"threshold crossing to delivery at a loopback webhook, "
              f"{n_alerts} times each (budget 1000 ms):")
        for label, v in (("kill switch -> KillSwitchEngaged", kill),
                         ("maintenance -> MaintenanceOn", maint),
                         ("reference: POST to the receiver", ref)):
            print(f"  {label:34s} p50 {pct(v, 50):7.2f} ms  p99 "
                  f"{pct(v, 99):7.2f} ms  max {max(v):7.2f} ms")
        print(f"dto peak RSS {benchlib.peak_rss_mib(p.pid):.1f} MiB")
    finally:
        benchlib.stop(p, ng)
        hook.stop()


if __name__ == "__main__":
    main()
