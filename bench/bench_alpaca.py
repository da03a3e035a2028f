#!/usr/bin/env python3
"""bench_alpaca.py DTO_BIN BENCH_CURL WORKDIR - market data to order, through
the fake Alpaca on loopback.

One fake Alpaca (tests/fakes/alpaca/fake_alpaca.py) serves every phase, reset
between them (POST /_fake/reset).  Its market is one symbol, AAPL, whose
1-minute closes go up, up, down, down, ... (3 sessions of 390 bars), so that
ma_crossover with SMAs 1 and 2 crosses on every other bar and, the fill of the
previous order being known one bar before, orders on every cross: one market
order per two bars.  The script steps the fake one bar at a time (POST
/_fake/step), INTERVAL ms apart, so each measurement is independent of the
previous one.

The latency of an order is taken on the fake's clock (time.monotonic_ns,
CLOCK_MONOTONIC): from the moment the step's data stream message, complete,
was handed to the WebSocket writer (GET /_fake/steps: send_ns; the bytes
reach the socket inside that call, which returns at sent_ns, a Python call
of tens of microseconds that a fast client outruns, so sent_ns would be too
late) to the moment the POST /v2/orders arrived in the fake's middleware
(GET /_fake/log: mono_ns).  Each POST belongs to the latest step taken
before it; steps before the 10th are not counted.  Phases:

  - dto run, no store: `dto run --config X` with `broker: alpaca` and
    `run.feed: alpaca`, the whole process as users run it; its peak RSS
    (VmHWM) is read before it is stopped;
  - dto run, SQLite journal: the same with `run.store: sqlite:...`
    (synchronous=FULL, the order journaled before it leaves);
  - the bare client (bench_curl react, the least a client can do: on one
    thread, dto's thin WebSocket client and a kept-alive libcurl handle;
    every bar message answered at once by a POST), measured the same way,
    plus its two one-way parts (fake sent -> client received; POST started
    -> arrived in the fake, both on CLOCK_MONOTONIC);
  - bench_curl rtt: a bare libcurl easy handle with keep-alive, N POST
    /v2/orders (limit buy far below the market) and N GET /v2/clock round
    trips, and the one-way time of those POSTs.

  - dto run, journal, API under load: the SQLite phase again with dto's
    HTTP API on, while wrk (one thread, 16 connections) sends authenticated
    GET /api/v1/positions the whole time (the API must not slow trading).

Environment: BENCH_ALPACA_ORDERS (300: samples wanted per phase),
BENCH_ALPACA_INTERVAL_MS (60), BENCH_ALPACA_STORE (1: run the SQLite phase),
BENCH_ALPACA_API (1: run the API phase; needs wrk).
"""
import bisect
import http.client
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "tests", "fakes", "alpaca", "fake_alpaca.py")
KEY, SECRET = "BENCHKEY", "BENCHSECRET"
WARMUP_STEPS = 10

dto, curl_bin, work = (os.path.abspath(a) for a in sys.argv[1:4])
orders_wanted = int(os.environ.get("BENCH_ALPACA_ORDERS", "300"))
interval = int(os.environ.get("BENCH_ALPACA_INTERVAL_MS", "60")) / 1000
with_store = os.environ.get("BENCH_ALPACA_STORE", "1") != "0"
with_api = os.environ.get("BENCH_ALPACA_API", "1") != "0" and \
    subprocess.run(["which", "wrk"], capture_output=True).returncode == 0
os.makedirs(work, exist_ok=True)


def write_bars(path):
    """3 sessions of 1-minute AAPL bars, closes up, up, down, down, ..."""
    import datetime as dt
    rows = ["time,open,high,low,close,volume"]
    p, k = 10000, 0  # cents
    for day in ("2025-01-06", "2025-01-07", "2025-01-08"):
        t = dt.datetime.fromisoformat(day + "T14:30:00+00:00")
        for i in range(390):
            o = p
            p += 10 * (1, 1, -1, -1)[k % 4]
            k += 1
            ts = (t + dt.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append(f"{ts},{o / 100:.2f},{(max(o, p) + 2) / 100:.2f},"
                        f"{(min(o, p) - 2) / 100:.2f},{p / 100:.2f},100000")
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")


class Fake:
    def __init__(self):
        bars = os.path.join(work, "AAPL.csv")
        write_bars(bars)
        pf = os.path.join(work, "fake.port")
        if os.path.exists(pf):
            os.unlink(pf)
        self.err = open(os.path.join(work, "fake.log"), "w")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", FAKE, "--host", "127.0.0.1", "--port", "0",
             "--port-file", pf, "--bars", bars, "--key", KEY, "--secret",
             SECRET, "--cash", "1000000", "--start-index", "30",
             "--max-seconds", "900"],
            stdout=self.err, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not (os.path.exists(pf) and open(pf).read().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("bench_alpaca: the fake did not start (see "
                         f"{self.err.name})")
            time.sleep(0.02)
        self.port = int(open(pf).read())
        self.url = f"http://127.0.0.1:{self.port}"
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=30)

    def call(self, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        self.conn.request(method, path, body=data,
                          headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        raw = r.read()
        if r.status != 200:
            sys.exit(f"bench_alpaca: {method} {path}: {r.status} {raw!r}")
        return json.loads(raw)

    def stop(self):
        self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def pct(v, p):
    """nearest rank"""
    v = sorted(v)
    k = max(1, min(len(v), -(-int(p * len(v)) // 100)))
    return v[k - 1]


def stats(v):
    return (f"n={len(v)}  min {min(v) / 1e3:7.1f} us  "
            f"p50 {pct(v, 50) / 1e3:7.1f} us  "
            f"p99 {pct(v, 99) / 1e3:7.1f} us  max {max(v) / 1e3:7.1f} us")


def step_loop(fake, nsteps):
    nxt = time.monotonic()
    for _ in range(nsteps):
        nxt += interval
        r = fake.call("POST", "/_fake/step", {"n": 1})
        if r["done"]:
            break
        time.sleep(max(0.0, nxt - time.monotonic()))
    time.sleep(max(0.5, interval * 4))  # the last orders arrive


def latencies(fake, coid_prefix=None):
    """(samples in ns by step, notes): for each step after the warm-up, the
    first POST /v2/orders taken after it, minus the step's send_ns."""
    steps = fake.call("GET", "/_fake/steps")
    log = fake.call("GET", "/_fake/log")
    starts = [s["step_ns"] for s in steps]
    posts = [e for e in log if e["method"] == "POST" and
             e["path"] == "/v2/orders" and
             (coid_prefix is None or
              str(e["client_order_id"]).startswith(coid_prefix))]
    coids = [e["client_order_id"] for e in posts]
    by_step, extra, before, late = {}, 0, 0, 0
    bad = sum(1 for e in posts if e["status"] != 200)
    for e in posts:
        i = bisect.bisect_right(starts, e["mono_ns"]) - 1
        if i < 0:
            before += 1
            continue
        if i < WARMUP_STEPS or not steps[i]["send_ns"]:
            continue
        if i in by_step:
            extra += 1
            continue
        d = e["mono_ns"] - steps[i]["send_ns"][0]
        if d > interval * 1e9:
            late += 1
        by_step[i] = (d, e)
    notes = {"posts": len(posts), "steps": len(steps), "non_200": bad,
             "second_post_in_step": extra, "before_first_step": before,
             "later_than_interval": late,
             "repeated_client_order_ids": len(coids) - len(set(coids)),
             "lookups": sum(1 for e in log if e["path"] ==
                            "/v2/orders:by_client_order_id")}
    other = {}
    for e in log:   # what else the client asked while the market moved
        if starts and e["mono_ns"] > starts[0] and not (
                e["method"] == "POST" and e["path"] == "/v2/orders"):
            k = e["method"] + " " + e["path"]
            other[k] = other.get(k, 0) + 1
    notes["other_requests"] = other
    return by_step, steps, log, notes


def wait_ready(fake, proc, timeout=30):
    """Both streams connected, then the REST log quiet for 0.5 s."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            return False
        c = fake.call("GET", "/_fake/state")["connections"]
        if c["trading"] >= 1 and c["data"] >= 1:
            break
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    n, quiet = -1, time.monotonic()
    while time.monotonic() - quiet < 0.5 and time.monotonic() < deadline:
        m = len(fake.call("GET", "/_fake/log"))
        if m != n:
            n, quiet = m, time.monotonic()
        time.sleep(0.05)
    return proc.poll() is None


CFG = """log_level: warn
accounts: [{{id: live, broker: alpaca, cash: 1000000}}]
instruments: [{{symbol: AAPL}}]
strategies:
  - id: mac
    type: ma_crossover
    symbols: [AAPL]
    params: {{fast: 1, slow: 2, position_pct: 0.001, exit_before_close: 0s}}
alpaca:
  trading_url: {url}
  data_url: {url}
  data_stream_url: ws://127.0.0.1:{port}/v2/iex
  rate_limit_per_min: 10000
run:
  feed: alpaca
  state_dir: {state}
{store}"""


def dto_env():
    env = dict(os.environ)
    env.pop("APCA_API_BASE_URL", None)
    env.pop("APCA_API_DATA_URL", None)
    env["APCA_API_KEY_ID"], env["APCA_API_SECRET_KEY"] = KEY, SECRET
    return env


API_CFG = """api:
  listen: 127.0.0.1:0
  max_per_ip: 1024
  rate_limit_per_s: 1000000
  rate_limit_burst: 1000000
  ip_rate_limit_per_s: 1000000
  ip_rate_limit_burst: 1000000
"""


def api_token(cfg):
    """A viewer and its API token, made with the CLI on the store."""
    subprocess.run([dto, "user", "add", "load", "--role", "viewer",
                    "--password-stdin", "--config", cfg],
                   input="bench load password\n", text=True, check=True,
                   stdout=subprocess.DEVNULL)
    r = subprocess.run([dto, "token", "create", "--user", "load", "--config",
                        cfg], capture_output=True, text=True, check=True)
    return r.stdout.strip().splitlines()[-1]


def api_load(out_path, token, seconds):
    """wrk on dto's GET /api/v1/positions for seconds, in the background
    (the port from dto's stdout)."""
    import re
    port = None
    for _ in range(200):
        m = re.search(r"HTTP API on \S+ \(port (\d+)\)",
                      open(out_path).read())
        if m:
            port = int(m.group(1))
            break
        time.sleep(0.05)
    if not port:
        sys.exit("bench_alpaca: dto's API did not start")
    lua = os.path.join(work, "auth.lua")
    with open(lua, "w") as f:
        f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % token)
    return subprocess.Popen(["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", lua,
                             f"http://127.0.0.1:{port}/api/v1/positions"],
                            stdout=subprocess.PIPE, text=True)


def run_dto(fake, name, store, with_api=False):
    state = os.path.join(work, name + "-state")
    subprocess.run(["rm", "-rf", state])
    st = ""
    if store:
        db = os.path.join(work, name + ".db")
        for sfx in ("", "-wal", "-shm"):
            if os.path.exists(db + sfx):
                os.unlink(db + sfx)
        subprocess.run([dto, "migrate", "up", "--store", "sqlite:" + db],
                       check=True, stdout=subprocess.DEVNULL)
        st = f"  store: sqlite:{db}\n"
    cfg = os.path.join(work, name + ".yaml")
    with open(cfg, "w") as f:
        f.write(CFG.format(url=fake.url, port=fake.port, state=state,
                           store=st) + (API_CFG if with_api else ""))
    token = api_token(cfg) if with_api else None
    out = open(os.path.join(work, name + ".out"), "w")
    p = subprocess.Popen([dto, "run", "--config", cfg], stdout=out,
                         stderr=subprocess.STDOUT, env=dto_env())
    if not wait_ready(fake, p):
        if p.poll() is None:
            p.kill()
        p.wait()
        out.close()
        tail = open(out.name).read().strip().splitlines()[-3:]
        return None, f"dto run did not get ready: {' | '.join(tail)}"
    nsteps = 2 * orders_wanted + WARMUP_STEPS + 20
    load = api_load(out.name, token, int(nsteps * interval) + 30) \
        if with_api else None
    step_loop(fake, nsteps)
    if load:
        load.send_signal(signal.SIGINT)  # wrk prints its figures and ends
        wout = load.communicate(timeout=30)[0]
    hwm = 0
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])  # kB
    p.send_signal(signal.SIGTERM)
    try:
        _, status, ru = os.wait4(p.pid, 0)
        rc = os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        rc = p.wait()
    out.close()
    by_step, _, _, notes = latencies(fake)
    notes["exit_status"] = rc
    notes["peak_rss_kib"] = hwm
    if load:
        import re
        m = re.search(r"([\d]+) requests in", wout)
        notes["api_requests_during"] = int(m.group(1)) if m else 0
    return (by_step, notes), None


def run_react(fake):
    times = os.path.join(work, "react.times")
    n = orders_wanted + 10
    p = subprocess.Popen([curl_bin, "react", fake.url,
                          f"ws://127.0.0.1:{fake.port}/v2/iex", str(n),
                          times], stdout=subprocess.PIPE, text=True,
                         env=dto_env())
    line = p.stdout.readline()
    if "subscribed" not in line:
        p.kill()
        sys.exit(f"bench_alpaca: bench_curl react did not start: {line}")
    step_loop(fake, n + WARMUP_STEPS)
    rest = p.communicate(timeout=30)[0]
    by_step, steps, log, notes = latencies(fake, "bench-react-")
    arrivals = {e["client_order_id"]: e["mono_ns"] for e in log
                if e["method"] == "POST" and e["path"] == "/v2/orders"}
    # one-way parts: sent -> received (by the step each order belongs to)
    md, post = [], []
    rows = {}
    for ln in open(times):
        coid, trecv, t0, _ = ln.split()
        rows[coid] = (int(trecv), int(t0))
    for i, (d, e) in by_step.items():
        trecv, t0 = rows[e["client_order_id"]]
        md.append(trecv - steps[i]["send_ns"][0])
        post.append(arrivals[e["client_order_id"]] - t0)
    notes["client"] = rest.strip()
    notes["fake_send_us_p50"] = pct([s["sent_ns"][0] - s["send_ns"][0]
                                     for s in steps if s["sent_ns"]],
                                    50) / 1e3
    return by_step, md, post, notes


def run_rtt(fake, kind, n):
    times = os.path.join(work, f"rtt-{kind}.times")
    r = subprocess.run([curl_bin, "rtt", fake.url, str(n), kind, times],
                       capture_output=True, text=True, env=dto_env())
    if r.returncode != 0:
        sys.exit(f"bench_alpaca: bench_curl rtt {kind}: {r.stderr}")
    log = fake.call("GET", "/_fake/log")
    rtt, oneway = [], []
    if kind == "order":
        arr = {e["client_order_id"]: e["mono_ns"] for e in log
               if e["path"] == "/v2/orders" and e["method"] == "POST"}
    else:
        arr = [e["mono_ns"] for e in log if e["path"] == "/v2/clock"]
        arr = arr[-n:]
    for k, ln in enumerate(open(times)):
        coid, t0, t1 = ln.split()
        rtt.append(int(t1) - int(t0))
        a = arr[coid] if kind == "order" else arr[k]
        oneway.append(a - int(t0))
    return rtt, oneway


def main():
    fake = Fake()
    results, failed = [], []
    try:
        print(f"fake Alpaca on 127.0.0.1:{fake.port} (python3 aiohttp, one "
              f"process); bars stepped {interval * 1000:.0f} ms apart; "
              f"ma_crossover 1/2 on AAPL, an order every 2nd bar")
        phases = [("dto run, no store", "plain", False, False)]
        if with_store:
            phases.append(("dto run, SQLite journal", "journal", True, False))
        if with_store and with_api:
            # the API must not slow trading: the same session while wrk
            # keeps its GET /api/v1/positions busy (16 connections)
            phases.append(("dto run, journal, API under load", "api", True,
                           True))
        for label, name, store, api in phases:
            fake.call("POST", "/_fake/reset")
            res, why = run_dto(fake, name, store, api)
            if res is None:
                failed.append(f"{label}: {why}")
                print(f"{label:34s} FAILED: {why}")
                continue
            by_step, notes = res
            v = [d for d, _ in by_step.values()]
            if not v:
                failed.append(f"{label}: no orders reached the fake")
                print(f"{label:34s} FAILED: no orders ({notes})")
                continue
            results.append((label, v))
            print(f"{label:34s} md -> order  {stats(v)}  "
                  f"peak RSS {notes['peak_rss_kib'] / 1024:5.1f} MiB")
            print(f"{'':34s} {json.dumps(notes)}")
        fake.call("POST", "/_fake/reset")
        by_step, md, post, notes = run_react(fake)
        bare = [d for d, _ in by_step.values()]
        print(f"{'bare client (ws.c + libcurl)':34s} md -> order  "
              f"{stats(bare)}")
        print(f"{'  fake sends -> client received':34s}              "
              f"{stats(md)}")
        print(f"{'  POST started -> arrived':34s}              {stats(post)}")
        print(f"{'':34s} {json.dumps(notes)}")
        fake.call("POST", "/_fake/reset")
        rtt_o, ow_o = run_rtt(fake, "order", orders_wanted)
        rtt_c, _ = run_rtt(fake, "clock", orders_wanted)
        print(f"{'curl POST /v2/orders round trip':34s}              "
              f"{stats(rtt_o)}")
        print(f"{'  POST started -> arrived':34s}              "
              f"{stats(ow_o)}")
        print(f"{'curl GET /v2/clock round trip':34s}              "
              f"{stats(rtt_c)}")
        for label, v in results:
            print(f"ratio {label} p50 / curl POST round trip p50: "
                  f"{pct(v, 50) / pct(rtt_o, 50):.2f}x; / bare client "
                  f"md -> order p50: {pct(v, 50) / pct(bare, 50):.2f}x")
    finally:
        fake.stop()
    if failed:
        sys.exit("bench_alpaca: " + "; ".join(failed))


main()
