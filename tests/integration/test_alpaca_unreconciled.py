"""When the books cannot be reconciled with Alpaca, no new order leaves, but
the kill switch still cancels at the broker.

dto trades on the fake until one of its market orders is working there
(the fake fills it at the next bar, which the test holds back).  Then the
fake answers every GET /v2/positions with 500: the next periodic
reconciliation fails (reconcile.failed, unreconciled) and keeps failing.
`dto ctl kill` must then cancel the working order at the fake (a DELETE
that the fake's books show as canceled), and no order POST reaches the
fake after the failure.
"""
import json
import signal
import subprocess
import time
import urllib.request

from test_alpaca_warmup import _config, _env, _log, _post, _start_fake


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_kill_cancels_while_unreconciled(dto_bin, tmp_path):
    proc, port = _start_fake(tmp_path)
    base = "http://127.0.0.1:%d" % port
    dto = None
    try:
        cfg = _config(tmp_path, port, 50)
        sock = tmp_path / "dto.sock"
        cfg.write_text(cfg.read_text() + "  reconcile_interval: 1s\n"
                       f"run:\n  ctl_socket: {sock}\n")
        logf = tmp_path / "dto.log"
        dto = subprocess.Popen([dto_bin, "run", "--config", str(cfg),
                                "--log", str(logf)], env=_env(),
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)

        def events(name):
            lines = _log(logf) if logf.exists() else []
            return [l for l in lines if l.get("event") == name]

        def wait(pred, what, limit=30):
            end = time.time() + limit
            while not pred():
                assert dto.poll() is None, dto.stderr.read()
                assert time.time() < end, what
                time.sleep(0.05)

        def posts():
            return [e for e in _get(base + "/_fake/log")
                    if e["method"] == "POST" and e["path"] == "/v2/orders"]

        wait(lambda: events("reconcile.ok") and any(
            l.get("state") == "streaming" for l in events("feed.state")),
            "dto ready")
        # step until an order of dto's is working at the fake
        for _ in range(100):
            _post(base + "/_fake/step", {"n": 1})
            time.sleep(0.3)
            st = _get(base + "/_fake/state")
            working = [o for o in st["orders"]
                       if o["status"] in ("new", "accepted")]
            if working:
                break
        assert working, "no order of dto's stayed working"
        order = working[0]
        _post(base + "/_fake/faults", {"http_error": {
            "status": 500, "count": 100000, "path": "/v2/positions",
            "method": "GET"}})
        wait(lambda: events("reconcile.failed"), "a failed reconciliation")
        n_posts = len(posts())
        r = subprocess.run([dto_bin, "ctl", "--config", str(cfg), "kill"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr

        def canceled():
            st = _get(base + "/_fake/state")
            return [o for o in st["orders"] if o["id"] == order["id"] and
                    o["status"] == "canceled"]
        wait(canceled, "the working order canceled at the broker", 15)
        deletes = [e for e in _get(base + "/_fake/log")
                   if e["method"] == "DELETE" and order["id"] in e["path"]]
        assert deletes, "no DELETE of the working order reached the fake"
        # the market moves on: nothing new leaves while unreconciled
        for _ in range(6):
            _post(base + "/_fake/step", {"n": 1})
            time.sleep(0.3)
        assert len(posts()) == n_posts
        assert any(l.get("code") == "unreconciled" for l in events("alert"))
        dto.send_signal(signal.SIGTERM)
        assert dto.wait(timeout=20) == 0
    finally:
        if dto and dto.poll() is None:
            dto.kill()
            dto.wait()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
