#!/usr/bin/env python3
"""bench_api.py DTO_BIN WORKDIR - the HTTP API under load, next to nginx.

`dto run` (paper exchange, a replay of 2 symbols slow enough to stay up,
a SQLite store) with its API on 127.0.0.1, plain HTTP (the loopback mode,
behind a proxy); a viewer's API token; wrk (Debian's) sends authenticated
GET /api/v1/positions for DURATION seconds over CONNS connections from 2
threads.  The reference, in the same run: nginx (Debian's nginx-light,
worker_processes auto) serving a static file of the same size as dto's
answer to the same wrk command.  Printed: requests/s, p50 and p99 latency
of each, and the ratios.

Every request is authenticated as users' scripts are: the token is hashed
(SHA-256) and looked up in the store, the snapshot read, the answer
written with its security headers.  The API's per-token and per-address
rate limits are set far above the load here (they would answer 429).

Environment: BENCH_API_SECONDS (10), BENCH_API_CONNS (16,64: a run each).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import benchlib

dto, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
secs = int(os.environ.get("BENCH_API_SECONDS", "10"))
conns_list = [int(c) for c in
              os.environ.get("BENCH_API_CONNS", "16,64").split(",")]
os.makedirs(work, exist_ok=True)

CFG = """log_level: warn
accounts:
  - id: paper
    cash: 1000000
instruments:
  - symbol: AAA
  - symbol: BBB
strategies:
  - id: mac
    type: ma_crossover
    symbols: [AAA, BBB]
    params: {{ fast: 2, slow: 5 }}
run:
  feed: replay
  speed: 60
  state_dir: {work}/state
  store: sqlite:{work}/api.db
data:
  - path: {work}/data/AAA.csv
  - path: {work}/data/BBB.csv
api:
  listen: 127.0.0.1:0
  max_connections: 1024
  max_per_ip: 1024
  rate_limit_per_s: 1000000
  rate_limit_burst: 1000000
  ip_rate_limit_per_s: 1000000
  ip_rate_limit_burst: 1000000
"""


def wrk(url, conns, token=None):
    return benchlib.wrk(url, conns, secs, work, token)


def start_dto():
    subprocess.run([dto, "data", "generate", "--out", f"{work}/data",
                    "--symbols", "AAA,BBB", "--days", "5", "--start",
                    "2025-01-06", "--seed", "7", "--quiet"], check=True)
    cfg = os.path.join(work, "api.yaml")
    with open(cfg, "w") as f:
        f.write(CFG.format(work=work))
    subprocess.run([dto, "migrate", "up", "--store", f"sqlite:{work}/api.db"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([dto, "user", "add", "bench", "--role", "viewer",
                    "--password-stdin", "--config", cfg],
                   input="bench api password\n", text=True, check=True,
                   stdout=subprocess.DEVNULL)
    r = subprocess.run([dto, "token", "create", "--user", "bench",
                        "--config", cfg], capture_output=True, text=True,
                       check=True)
    token = r.stdout.strip().splitlines()[-1]
    log = os.path.join(work, "run.out")
    p = subprocess.Popen([dto, "run", "--config", cfg],
                         stdout=open(log, "w"), stderr=subprocess.STDOUT)
    port = None
    for _ in range(600):
        if os.path.exists(log):
            m = re.search(r"HTTP API on \S+ \(port (\d+)\)", open(log).read())
            if m:
                port = int(m.group(1))
                break
        time.sleep(0.05)
    if not port:
        p.kill()
        sys.exit("bench_api: dto's API did not start")
    time.sleep(2)  # some bars, some positions
    return p, port, token


def start_nginx(size):
    return benchlib.start_nginx(work, "positions.json", size)


def main():
    if not shutil.which("wrk") or not shutil.which("nginx"):
        sys.exit("bench_api: wrk and nginx are needed (scripts/deps.sh bench)")
    p, port, token = start_dto()
    ng = None
    try:
        url = f"http://127.0.0.1:{port}/api/v1/positions"
        req = urllib.request.Request(url, headers={
            "Authorization": "Bearer " + token})
        # measure with positions open (the answer users read most)
        for _ in range(150):
            body = urllib.request.urlopen(req, timeout=5).read()
            n = len(json.loads(body)["positions"])
            if n >= 2:
                break
            time.sleep(0.1)
        ng, ngport = start_nginx(len(body))
        print(f"answer: {len(body)} bytes ({n} positions); wrk -t2 "
              f"-d{secs}s; plain HTTP on loopback")
        for conns in conns_list:
            d = wrk(url, conns, token)
            r = wrk(f"http://127.0.0.1:{ngport}/positions.json", conns)
            for label, x in ((f"dto GET /api/v1/positions, -c{conns}", d),
                             (f"nginx, same size static file, -c{conns}", r)):
                print(f"{label:42s} {x['rps']:10.0f} req/s  p50 "
                      f"{x['p50_ms']:.2f} ms  p99 {x['p99_ms']:.2f} ms"
                      f"{'  non-2xx ' + str(x['non2xx']) if x['non2xx'] else ''}")
            print(f"ratio nginx/dto at -c{conns}: {r['rps'] / d['rps']:.2f}x "
                  f"throughput, dto p99 / nginx p99 "
                  f"{d['p99_ms'] / r['p99_ms']:.2f}x")
        print(f"dto peak RSS {benchlib.peak_rss_mib(p.pid):.1f} MiB")
    finally:
        benchlib.stop(p, ng)


if __name__ == "__main__":
    main()
