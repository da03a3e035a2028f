"""`dto run` under systemd (Type=notify): the lifecycle states, READY=1 only
once the books are reconciled, WATCHDOG=1 while the loop turns, STOPPING=1
on SIGTERM, and a unit file that systemd accepts.  The systemd side is a
datagram socket of the test's own (NOTIFY_SOCKET), as sd_notify(3)
documents it."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from test_recovery import prepare

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _events(path):
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def _notify_run(dto_bin, cfg, tmp_path, env_extra, until, timeout=30):
    """Run dto with a NOTIFY_SOCKET; collect datagrams until until(msgs)
    holds, then SIGTERM; returns (messages, returncode)."""
    sock_path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(sock_path)
    srv.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, **env_extra)
    p = subprocess.Popen([dto_bin, "run", "--config", cfg, "--log",
                          tmp_path / "run.log"], env=env, cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    msgs, t_end, termed = [], time.monotonic() + timeout, False
    try:
        while time.monotonic() < t_end:
            try:
                msgs.append(srv.recv(4096).decode())
            except socket.timeout:
                pass
            if not termed and until(msgs):
                p.send_signal(signal.SIGTERM)
                termed = True
            if termed and p.poll() is not None:
                break
        # what was sent before the exit
        srv.settimeout(0.05)
        while True:
            try:
                msgs.append(srv.recv(4096).decode())
            except socket.timeout:
                break
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        srv.close()
    return msgs, p.returncode, termed


def test_notify_ready_watchdog_stopping(dto_bin, run, tmp_path):
    cfg = prepare(run, tmp_path, speed=300, days=1, calendar="crypto")
    msgs, rc, termed = _notify_run(
        dto_bin, cfg, tmp_path, {"WATCHDOG_USEC": "200000"},
        lambda m: sum("WATCHDOG=1" in x for x in m) >= 3)
    assert termed, f"not enough watchdog pings: {msgs}"
    assert rc == 0
    flat = [line for m in msgs for line in m.split("\n")]
    assert "READY=1" in flat and "STOPPING=1" in flat
    ready = flat.index("READY=1")
    assert flat.index("STOPPING=1") > ready
    assert flat.count("READY=1") == 1
    # the pings come while the loop turns, after READY
    assert all(i > ready for i, x in enumerate(flat) if x == "WATCHDOG=1")
    # the log has every state, in the table's order
    states = [(e["from"], e["to"]) for e in _events(tmp_path / "run.log")
              if e["event"] == "lifecycle"]
    assert states == [("starting", "reconciling"), ("reconciling", "ready"),
                      ("ready", "draining"), ("draining", "stopped")], states
    assert not [e for e in _events(tmp_path / "run.log")
                if e["event"] == "lifecycle.refused"]


def test_restart_recovers_then_ready_and_journals_it(dto_bin, run, tmp_path):
    cfg = prepare(run, tmp_path, speed=0, days=1, calendar="crypto")
    r = run("run", "--config", cfg, "--max-bars", "200", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # the second start resumes the journal: recovering, then reconciling
    msgs, rc, _ = _notify_run(dto_bin, cfg, tmp_path, {},
                              lambda m: any("READY=1" in x for x in m))
    assert rc == 0
    states = [(e["from"], e["to"]) for e in _events(tmp_path / "run.log")
              if e["event"] == "lifecycle"]
    assert states[:3] == [("starting", "recovering"),
                          ("recovering", "reconciling"),
                          ("reconciling", "ready")], states
    import sqlite3
    con = sqlite3.connect(tmp_path / "dto.db")
    got = [json.loads(p)["to"] for (p,) in con.execute(
        "select payload from events where type = 'lifecycle' order by seq")]
    # the first run's life, then the second's, each change once
    first = ["reconciling", "ready", "draining", "stopped"]
    second = ["recovering", "reconciling", "ready", "draining", "stopped"]
    assert got == first + second, got


def test_kill_switch_at_start_is_halted_but_started(dto_bin, run, tmp_path):
    cfg = prepare(run, tmp_path, speed=300, days=1, calendar="crypto")
    r = run("kill", "--config", cfg, "--reason", "test", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    msgs, rc, _ = _notify_run(dto_bin, cfg, tmp_path, {},
                              lambda m: any("READY=1" in x for x in m))
    flat = [line for m in msgs for line in m.split("\n")]
    assert "READY=1" in flat and "STATUS=halted" in flat
    states = [e["to"] for e in _events(tmp_path / "run.log")
              if e["event"] == "lifecycle"]
    assert states[:2] == ["reconciling", "halted"], states


@pytest.mark.skipif(not shutil.which("systemd-analyze"),
                    reason="systemd-analyze is not installed")
def test_unit_file_verifies(dto_bin, tmp_path):
    unit = open(os.path.join(ROOT, "deploy", "dto.service")).read()
    assert "Type=notify" in unit and "WatchdogSec=" in unit
    # systemd checks that ExecStart's binary exists: point it at ours
    path = tmp_path / "dto.service"
    path.write_text(unit.replace("/usr/local/bin/dto", dto_bin))
    r = subprocess.run(["systemd-analyze", "verify", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "dto.service" not in r.stderr, r.stderr


def test_watchdog_stops_while_the_loop_stalls(dto_bin, run, tmp_path):
    """The pings come from the loop itself: a loop that stands still (the
    `stall` drill, 1.5 s at bar 100) sends none, so systemd would restart
    it; afterwards they come again."""
    cfg = prepare(run, tmp_path, speed=600, days=1, calendar="crypto")
    sock_path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(sock_path)
    srv.settimeout(0.05)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="100000")
    p = subprocess.Popen([dto_bin, "run", "--config", cfg, "--log",
                          tmp_path / "run.log", "--at-bar", "100:stall=1500",
                          "--at-bar", "200:stop"],
                         env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    pings, end = [], time.monotonic() + 60
    try:
        while time.monotonic() < end and p.poll() is None:
            try:
                if srv.recv(4096) == b"WATCHDOG=1":
                    pings.append(time.monotonic())
            except socket.timeout:
                pass
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        srv.close()
    assert p.returncode == 0
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert len(pings) >= 10, pings
    # one gap as long as the stall; the others about 50 ms (and never the
    # long one twice)
    assert max(gaps) >= 1.4, gaps
    assert sum(g >= 1.0 for g in gaps) == 1, gaps
    # pings resumed after the stall
    assert pings[-1] - pings[gaps.index(max(gaps))] > 1.4


def test_stall_usage(run, tmp_path):
    cfg = prepare(run, tmp_path, speed=0, days=1, calendar="crypto")
    for bad in ("5:stall", "5:stall=0", "5:stall=x", "5:stall=700000"):
        r = run("run", "--config", cfg, "--at-bar", bad, cwd=tmp_path)
        assert r.returncode == 2 and "stall" in r.stderr, (bad, r.stderr)
