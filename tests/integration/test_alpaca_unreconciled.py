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
import subprocess
import time

from alpaca_books import LiveRun
from test_alpaca_feed import GEN


def test_kill_cancels_while_unreconciled(dto_bin, tmp_path):
    with LiveRun(dto_bin, tmp_path, GEN, reconcile_interval="1s",
                 alpaca_extra="  warmup_bars: 50\n") as r:
        def posts():
            return [e for e in r.fake.log()
                    if e["method"] == "POST" and e["path"] == "/v2/orders"]

        r.wait_ready()
        # step until an order of dto's is working at the fake
        working = []
        for _ in range(100):
            r.fake.step()
            time.sleep(0.3)
            working = [o for o in r.fake.state()["orders"]
                       if o["status"] in ("new", "accepted")]
            if working:
                break
        assert working, "no order of dto's stayed working"
        order = working[0]
        r.fake.faults(http_error={"status": 500, "count": 100000,
                                  "path": "/v2/positions", "method": "GET"})
        r.wait(lambda: r.events("reconcile.failed"),
               "a failed reconciliation")
        n_posts = len(posts())
        k = subprocess.run([dto_bin, "ctl", "--config", str(r.cfg), "kill"],
                           capture_output=True, text=True, timeout=30)
        assert k.returncode == 0, k.stdout + k.stderr
        r.wait(lambda: [o for o in r.fake.state()["orders"]
                        if o["id"] == order["id"] and
                        o["status"] == "canceled"],
               "the working order canceled at the broker", 15)
        assert [e for e in r.fake.log()
                if e["method"] == "DELETE" and order["id"] in e["path"]], \
            "no DELETE of the working order reached the fake"
        # the market moves on: nothing new leaves while unreconciled
        for _ in range(6):
            r.fake.step()
            time.sleep(0.3)
        assert len(posts()) == n_posts
        assert any(l.get("code") == "unreconciled"
                   for l in r.events("alert"))
        assert r.dto.stop() == 0
