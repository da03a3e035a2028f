"""A store deleted while `dto run` works: trading halts with an alert, and a
restart refuses to start an empty journal in its place."""
import json
import os
import signal
import subprocess
import time

from test_recovery import prepare


def _events(path):
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a line being written
    return out


def _wait(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_deleted_store_halts_and_restart_refuses(dto_bin, run, tmp_path):
    # 24/7 bars at 600x: a bar every 0.1 s, so the run outlives the test's
    # actions; it is stopped by SIGTERM (bounded by the waits below)
    cfg = prepare(run, tmp_path, speed=600, days=2, calendar="crypto")
    log = tmp_path / "run.log"
    p = subprocess.Popen([dto_bin, "run", "--config", cfg, "--log", log],
                         cwd=tmp_path, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert _wait(lambda: any(e["event"] == "order.sent"
                                 for e in _events(log)), 60), \
            "no order before the deletion"
        for suffix in ("", "-wal", "-shm"):
            f = tmp_path / ("dto.db" + suffix)
            if f.exists():
                os.unlink(f)
        deleted_at = len(_events(log))

        def halted():
            return any(e["event"] == "alert" and
                       e.get("code") == "storage_fault"
                       for e in _events(log)[deleted_at:])
        assert _wait(halted, 60), "no storage_fault alert after the deletion"
        ev = _events(log)
        at = next(i for i, e in enumerate(ev) if i >= deleted_at and
                  e["event"] == "alert" and e.get("code") == "storage_fault")
        # let it run on for a while: nothing is sent any more
        n = len(ev)
        _wait(lambda: len(_events(log)) > n + 50, 10)
        later = _events(log)[at + 1:]
        assert not [e for e in later if e["event"] == "order.sent" and
                    e.get("risk") == "pass"], "orders sent after the fault"
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    assert p.returncode in (0, 1), p.stderr.read()
    # the restart does not quietly start a new, empty journal
    r = run("run", "--config", cfg, "--max-bars", "5", cwd=tmp_path)
    assert r.returncode != 0
    assert "a journal was written here before" in r.stderr, r.stderr
    assert not (tmp_path / "dto.db").exists()
