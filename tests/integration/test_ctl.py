"""`dto ctl`: every command end to end against a running `dto run` with a
journal, each one journaled; bad commands refused with a clear error and
nothing changed; the socket closed to other users; SIGTERM and `dto ctl
stop` drain within run.drain_timeout, and a stop that overruns it exits
non-zero with the journal consistent."""
import json
import threading
import os
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

from test_recovery import check_books, prepare


def add_run(cfg, line):
    """Add a key to the configuration's run section."""
    text = cfg.read_text()
    anchor = "  store: sqlite:dto.db\n"
    assert anchor in text
    cfg.write_text(text.replace(anchor, anchor + f"  {line}\n"))


def start(dto_bin, cfg, tmp_path, *extra):
    p = subprocess.Popen([dto_bin, "run", "--config", cfg, "--log",
                          tmp_path / "run.log", *extra], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    return p


def ctl(run, cfg, *args):
    r = run("ctl", "--config", cfg, "--json", *args, timeout=30)
    assert r.stdout.strip(), (args, r.returncode, r.stderr)
    return r.returncode, json.loads(r.stdout.strip().splitlines()[-1])


def wait_status(run, cfg, p, pred=lambda s: True, timeout=20):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        assert p.poll() is None, p.stderr.read()
        r = run("ctl", "--config", cfg, "--json", "status", timeout=30)
        if r.returncode == 0:
            last = json.loads(r.stdout)["result"]
            if pred(last):
                return last
        time.sleep(0.1)
    raise AssertionError(f"status never matched; last: {last}")


def raw(sock_path, payload, timeout=10):
    """Send bytes, read answer lines until the server closes or answers
    one line per request line."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock_path))
    s.sendall(payload)
    want = max(payload.count(b"\n"), 1)
    buf = b""
    try:
        while buf.count(b"\n") < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return [json.loads(l) for l in buf.decode().splitlines() if l.strip()]


def journal_commands(db):
    con = sqlite3.connect(db)
    rows = [json.loads(p) for (p,) in con.execute(
        "select payload from events where type = 'command' order by seq")]
    con.close()
    return rows


def stop(run, cfg, p, timeout=15):
    rc, ans = ctl(run, cfg, "stop")
    assert rc == 0 and ans["ok"], ans
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err
    return out, err


def test_every_command(dto_bin, run, tmp_path):
    cfg = prepare(run, tmp_path, speed=120, days=2, calendar="crypto")
    p = start(dto_bin, cfg, tmp_path)
    try:
        st = wait_status(run, cfg, p, lambda s: s["counters"]["bars"] > 5)
        assert st["state"] == "ready" and st["clock"] == "simulated"
        assert [a["id"] for a in st["accounts"]] == ["paper"]
        assert {s["id"] for s in st["strategies"]} == {"fast", "orb"}
        assert {i["symbol"] for i in st["instruments"]} == {"AAPL", "MSFT"}
        assert all(i["last_event"] for i in st["instruments"])
        sent = []

        def ok(*args):
            rc, ans = ctl(run, cfg, *args)
            assert rc == 0 and ans["ok"], (args, ans)
            sent.append(args[0])
            return ans["result"]

        ok("pause", "fast")
        st = wait_status(run, cfg, p)
        fast = next(s for s in st["strategies"] if s["id"] == "fast")
        assert fast["paused"] and fast["mode"] == "reducing"
        ok("resume", "fast")
        st = wait_status(run, cfg, p)
        fast = next(s for s in st["strategies"] if s["id"] == "fast")
        assert not fast["paused"] and fast["mode"] == "active"

        ok("set-limit", "max_order_qty", "5")
        ok("set-limit", "max_daily_loss", "5000", "--account", "paper")
        ok("set-limit", "max_consecutive_losses", "9", "--strategy", "orb")

        ok("maintenance", "on")
        st = wait_status(run, cfg, p)
        assert st["state"] == "maintenance" and st["maintenance"]
        ok("maintenance", "off")
        st = wait_status(run, cfg, p)
        assert st["state"] == "ready" and not st["maintenance"]

        # a working order to cancel, when the strategies leave one working
        st = wait_status(run, cfg, p)
        if st["orders"]:
            o = st["orders"][0]
            rc, ans = ctl(run, cfg, "cancel", str(o["id"]))
            sent.append("cancel")
            assert ans["ok"] or ans["error"]["code"] in ("refused",
                                                         "conflict"), ans
        rc, ans = ctl(run, cfg, "cancel", "987654321")
        sent.append("cancel")
        assert rc == 1 and ans["error"]["code"] == "not_found"
        assert ans["error"]["field"] == "order"

        res = ok("cancel-all", "--strategy", "orb")
        assert res["count"] >= 0
        ok("cancel-all")
        res = ok("flatten", "--account", "paper", "--symbol", "AAPL")
        ok("flatten")

        res = ok("kill")
        st = wait_status(run, cfg, p)
        assert st["kill_switch"] and st["state"] == "halted"
        # the state file says so too: `dto kill` and a restart see it
        state = (tmp_path / "state" / "dto.state").read_text()
        assert "kill_switch=1" in state and "by=ctl uid=0" in state
        ok("release")
        st = wait_status(run, cfg, p)
        assert not st["kill_switch"] and st["state"] == "ready"
        ok("reload")
        # the service goes on trading after all of it
        bars = st["counters"]["bars"]
        wait_status(run, cfg, p, lambda s: s["counters"]["bars"] > bars)
        sent.append("stop")
        stop(run, cfg, p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # every command is in the journal: who, what, outcome, in order
    cmds = journal_commands(tmp_path / "dto.db")
    names = {"set-limit": "set_limit", "cancel-all": "cancel_all",
             "maintenance": None}
    want = []
    for c in sent:
        if c == "maintenance":
            continue
        want.append(names.get(c, c))
    got = [c["op"] for c in cmds if not c["op"].startswith("maintenance")]
    assert got == want, (got, want)
    assert [c["op"] for c in cmds if c["op"].startswith("maintenance")] == \
        ["maintenance_on", "maintenance_off"]
    for c in cmds:
        assert c["who"].startswith("ctl uid="), c
        assert c["outcome"] in ("ok", "not_found", "refused", "conflict")
        assert c["at"]
    nf = [c for c in cmds if c["outcome"] == "not_found"]
    assert nf and nf[0]["args"]["order"] == "987654321"
    check_books(tmp_path / "dto.db")


def test_bad_commands_change_nothing(dto_bin, run, tmp_path):
    cfg = prepare(run, tmp_path, speed=60, days=1, calendar="crypto")
    p = start(dto_bin, cfg, tmp_path)
    sock = tmp_path / "state" / "dto.sock"
    try:
        wait_status(run, cfg, p)
        before = journal_commands(tmp_path / "dto.db")
        bad = [
            (b'{"cmd":"launch"}\n', "bad_request", "cmd"),
            (b'{"cmd":"pause",\n', "bad_request", None),
            (b'not json\n', "bad_request", None),
            (b'[1,2]\n', "bad_request", None),
            (b'{"cmd":"pause","strategy":5}\n', "bad_request", "strategy"),
            (b'{"cmd":"pause"}\n', "bad_request", "strategy"),
            (b'{"cmd":"kill","force":true}\n', "bad_request", "force"),
            (b'{"cmd":"set_limit","limit":"max_order_qty","value":5}\n',
             "bad_request", "value"),
            (b'{"cmd":"cancel","order":"' + b"x" * 500 + b'"}\n',
             "bad_request", "order"),
        ]
        for line, code, field in bad:
            ans = raw(sock, line)
            assert len(ans) == 1 and ans[0]["ok"] is False, (line, ans)
            assert ans[0]["error"]["code"] == code, (line, ans)
            if field:
                assert ans[0]["error"].get("field") == field, (line, ans)
            msg = ans[0]["error"]["message"]
            assert msg and "/" not in msg.replace("\\/", ""), msg
        # engine-side refusals: understood, then refused; journaled as such
        for line, code, field in [
                (b'{"cmd":"pause","strategy":"nope"}\n', "not_found",
                 "strategy"),
                (b'{"cmd":"set_limit","limit":"max_order_qty",'
                 b'"value":"-3"}\n', "bad_request", "value"),
                (b'{"cmd":"set_limit","limit":"warp","value":"1"}\n',
                 "bad_request", "limit"),
                (b'{"cmd":"flatten","symbol":"ZZZZ"}\n', "not_found",
                 "symbol")]:
            ans = raw(sock, line)
            assert ans[0]["error"]["code"] == code, (line, ans)
            assert ans[0]["error"]["field"] == field, (line, ans)
        # an oversized line: refused, the connection closed
        ans = raw(sock, b'{"cmd":"status","x":"' + b"a" * 70000 + b'"}\n')
        assert ans and ans[0]["error"]["code"] == "too_large", ans
        # nothing changed
        st = wait_status(run, cfg, p)
        assert not st["kill_switch"] and not st["maintenance"]
        assert st["state"] == "ready"
        assert all(not s["paused"] and s["mode"] == "active"
                   for s in st["strategies"])
        # two requests on one connection: two answers, in order
        ans = raw(sock, b'{"cmd":"status","id":"a"}\n{"cmd":"bogus",'
                        b'"id":"b"}\n')
        assert [a["id"] for a in ans] == ["a", "b"]
        assert ans[0]["ok"] and not ans[1]["ok"]
        stop(run, cfg, p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    after = journal_commands(tmp_path / "dto.db")
    new = after[len(before):]
    # only what reached the engine: the four refused there, and the stop
    assert [c["outcome"] for c in new] == ["not_found", "bad_request",
                                           "bad_request", "not_found", "ok"]
    assert new[-1]["op"] == "stop"


def test_socket_closed_to_other_users(dto_bin, run, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    cfg = prepare(run, tmp_path, speed=60, days=1, calendar="crypto")
    # a folder every user may enter, so that only the socket's own mode
    # keeps them out
    d = tempfile.mkdtemp(prefix="dto-ctl-")
    os.chmod(d, 0o755)
    sock = os.path.join(d, "dto.sock")
    add_run(cfg, f"ctl_socket: {sock}")
    p = start(dto_bin, cfg, tmp_path)
    try:
        wait_status(run, cfg, p)
        assert os.stat(sock).st_mode & 0o777 == 0o600
        r = subprocess.run(
            ["runuser", "-u", "nobody", "--", dto_bin, "ctl", "--socket",
             sock, "kill"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
        assert "cannot connect" in r.stderr
        st = wait_status(run, cfg, p)
        assert not st["kill_switch"]
        stop(run, cfg, p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert not os.path.exists(sock)
    assert journal_commands(tmp_path / "dto.db")[-1]["op"] == "stop"


def test_sigterm_drains_within_bound(dto_bin, run, tmp_path):
    cfg = prepare(run, tmp_path, speed=120, days=2, calendar="crypto")
    p = start(dto_bin, cfg, tmp_path)
    try:
        wait_status(run, cfg, p, lambda s: s["counters"]["bars"] > 20)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=15)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert took < 10, took
    assert "stopped by signal" in out
    cmds = journal_commands(tmp_path / "dto.db")
    assert cmds[-1]["op"] == "stop" and cmds[-1]["who"] == "signal"
    check_books(tmp_path / "dto.db")


def test_drain_past_bound_exits_nonzero(dto_bin, run, tmp_path):
    cfg = prepare(run, tmp_path, speed=0, days=1, calendar="crypto")
    add_run(cfg, "drain_timeout: 1s")
    # the engine stands still for 6 s at bar 300: a SIGTERM then cannot be
    # carried out within the 1 s bound
    p = start(dto_bin, cfg, tmp_path, "--at-bar", "300:stall=6000")
    try:
        deadline = time.monotonic() + 20
        log = tmp_path / "run.log"
        while time.monotonic() < deadline:
            if log.exists() and "session.start" in log.read_text():
                break
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the stall
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=15)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 4, (p.returncode, err)
    assert "drain_timeout" in err
    assert took < 4, took
    # what the journal holds is whole: the books agree, and a restart
    # resumes from it
    check_books(tmp_path / "dto.db")
    r = run("run", "--config", cfg, "--log", tmp_path / "run2.log",
            timeout=120)
    assert r.returncode == 0, r.stderr
    check_books(tmp_path / "dto.db")


def test_queue_overflow_halts_and_loses_nothing(dto_bin, run, tmp_path):
    """A queue of 16 events and an engine that stands still for 5 s: the
    feed fills the market data's share, commands take the rest, and those
    that find it full for 2 s are answered busy, never taken; the service
    then halts trading with a queue_overflow alert.  Every command answered
    ok was carried out and journaled; none answered busy was."""
    cfg = prepare(run, tmp_path, speed=0, days=1, calendar="crypto")
    add_run(cfg, "queue_capacity: 16")
    # (and stands still again at bar 800, so that the halt can be seen
    # while the session runs)
    p = start(dto_bin, cfg, tmp_path, "--at-bar", "400:stall=5000",
              "--at-bar", "800:stall=4000")
    sock = tmp_path / "state" / "dto.sock"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not sock.exists():
            time.sleep(0.02)
        time.sleep(0.5)  # inside the stall: the feed is far ahead
        answers = [None] * 12

        def send(i):
            line = json.dumps({"cmd": "set_limit", "limit": "max_order_qty",
                               "value": str(1000 + i), "id": str(i)})
            answers[i] = raw(sock, (line + "\n").encode(), timeout=30)[0]

        ts = [threading.Thread(target=send, args=(i,)) for i in range(12)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert all(a is not None for a in answers), answers
        codes = [a["error"]["code"] if not a["ok"] else "ok" for a in answers]
        assert "busy" in codes and "ok" in codes, codes
        assert set(codes) <= {"ok", "busy"}, codes
        for a in answers:
            if not a["ok"]:
                assert "queue is full" in a["error"]["message"], a
        st = wait_status(run, cfg, p, lambda s: s["kill_switch"])
        assert st["state"] == "halted"
        assert st["counters"]["commands"] >= codes.count("ok")
        # at speed 0 the rest of the feed may already be played: the
        # session then ended by itself (the kill switch stays engaged)
        r = run("ctl", "--config", cfg, "stop", timeout=30)
        assert r.returncode in (0, 3), r.stderr
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    log = [json.loads(l) for l in (tmp_path / "run.log").read_text()
           .splitlines() if l.strip()]
    assert any(e.get("event") == "alert" and e.get("code") ==
               "queue_overflow" for e in log)
    taken = {c["args"]["value"] for c in journal_commands(tmp_path / "dto.db")
             if c["op"] == "set_limit"}
    ok_values = {str(1000 + int(a["id"])) for a in answers if a["ok"]}
    assert taken == ok_values, (taken, ok_values)
    check_books(tmp_path / "dto.db")


def test_status_job_on_the_scheduler(dto_bin, run, tmp_path):
    """run.status_log: a job on the scheduler's thread writes a status line
    from the read snapshots at each firing, in the session's (simulated)
    time: every 5 minutes of the replayed market."""
    cfg = prepare(run, tmp_path, speed=600, days=1, calendar="crypto")
    add_run(cfg, 'status_log: "every 5m"')
    p = start(dto_bin, cfg, tmp_path)
    try:
        wait_status(run, cfg, p, lambda s: s["counters"]["bars"] > 60,
                    timeout=30)
        stop(run, cfg, p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    log = [json.loads(l) for l in (tmp_path / "run.log").read_text()
           .splitlines() if l.strip()]
    st = [e for e in log if e.get("event") == "status"]
    assert len(st) >= 3, st
    dues = [e["due"] for e in st]
    assert dues == sorted(dues) and len(set(dues)) == len(dues)
    for d in dues:  # on the 5-minute grid of the market's clock
        assert d[14:16] in ("00", "05", "10", "15", "20", "25", "30", "35",
                            "40", "45", "50", "55") and d[17:19] == "00", d
    bars = [e["bars"] for e in st]
    assert bars == sorted(bars) and bars[-1] > bars[0]
    assert all(e["state"] == "ready" and e["kill_switch"] == "off"
               for e in st)
    assert all("equity.paper" in e for e in st)
    # a bad schedule is refused at start, naming the field
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text().replace('"every 5m"', '"every 5 parsecs"'))
    r = run("run", "--config", bad, timeout=30)
    assert r.returncode != 0 and "status_log" in r.stderr, r.stderr


@pytest.mark.parametrize("broker,ok,msg", [
    ("paper", True, ""),
    # Alpaca's accounts take Alpaca's market data, not a generated feed
    ("alpaca", False, "'feed': accounts that trade through Alpaca take "
                      "Alpaca's live market data"),
    ("nyse-direct", False, "'broker': unknown broker 'nyse-direct'"),
])
def test_account_broker(run, tmp_path, broker, ok, msg):
    """The broker of each account comes from the configuration; the paper
    exchange is the default, and a broker dto does not have is refused at
    start with the line of the configuration."""
    cfg = prepare(run, tmp_path, speed=0, days=1, calendar="crypto")
    text = cfg.read_text().replace("    cash: 100000\n",
                                   f"    cash: 100000\n    broker: {broker}\n")
    cfg.write_text(text)
    r = run("run", "--config", cfg, "--max-bars", "10", timeout=60)
    if ok:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode != 0 and msg in r.stderr, r.stderr
        assert "c.yaml:" in r.stderr, r.stderr
        if broker != "alpaca":
            assert "c.yaml:4:" in r.stderr, r.stderr
