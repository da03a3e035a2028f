"""Kill switch, state across restarts, and limit reloads of `dto run`."""
import json
import signal
import subprocess
import time

CONFIG = """\
accounts:
  - id: paper
    cash: 100000
instruments:
  - symbol: AAPL
  - symbol: MSFT
strategies:
  - id: fast
    type: ma_crossover
    symbols: [AAPL, MSFT]
    allocation: 50000
    params: {{ fast: 2, slow: 5 }}
run:
  feed: generate
  gen_seed: 5
  gen_days: 3
  speed: {speed}
  state_dir: {state}
risk:
  defaults:
    max_order_qty: {max_qty}
"""


def events(path):
    out = []
    for line in open(path):
        if line.strip():
            out.append(json.loads(line))
    return out


def wait_for(pred, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def start(dto_bin, cfg, log):
    return subprocess.Popen([dto_bin, "run", "--config", cfg, "--log", log],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_kill_switch_cancels_blocks_and_persists(dto_bin, run, tmp_path):
    state = tmp_path / "state"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(speed=3000, state=state, max_qty=100000))
    log = tmp_path / "run.log"
    p = start(dto_bin, cfg, log)
    try:
        assert wait_for(lambda: log.exists() and "order.fill" in log.read_text())
        r = run("kill", "--config", cfg, "--reason", "test")
        assert r.returncode == 0, r.stderr
        assert "ENGAGED" in r.stdout and "running dto was told" in r.stdout
        assert wait_for(lambda: "risk.kill_switch" in log.read_text())
        # after the switch: no order is sent; crossings are refused
        assert wait_for(lambda: '"check":"kill_switch"' in log.read_text())
        evs = events(log)
        k = next(i for i, e in enumerate(evs) if e["event"] == "risk.kill_switch")
        assert not any(e["event"] == "order.sent" for e in evs[k + 1:])
        st = run("kill", "--config", cfg, "--status")
        assert "ENGAGED" in st.stdout and "running dto: yes" in st.stdout
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "working orders 0" in out
    # a restart keeps the switch: nothing is sent at all
    log2 = tmp_path / "run2.log"
    r = run("run", "--config", cfg, "--log", log2, "--max-bars", "600",
            "--speed", "0")
    assert r.returncode == 0, r.stderr
    evs = events(log2)
    assert any(e["event"] == "risk.kill_switch" for e in evs)
    assert not any(e["event"] == "order.sent" for e in evs)
    assert any(e.get("check") == "kill_switch" for e in evs)
    # a person releases it; the next run trades again
    r = run("kill", "--config", cfg, "--release")
    assert r.returncode == 0 and "released" in r.stdout
    log3 = tmp_path / "run3.log"
    r = run("run", "--config", cfg, "--log", log3, "--max-bars", "600",
            "--speed", "0")
    assert r.returncode == 0, r.stderr
    assert any(e["event"] == "order.sent" for e in events(log3))


def test_sigusr1_engages_and_only_release_lifts(dto_bin, run, tmp_path):
    state = tmp_path / "state"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(speed=3000, state=state, max_qty=100000))
    log = tmp_path / "run.log"
    p = start(dto_bin, cfg, log)
    try:
        assert wait_for(lambda: log.exists() and "session.start" in log.read_text())
        p.send_signal(signal.SIGUSR1)
        assert wait_for(lambda: "risk.kill_switch" in log.read_text())
        # a bare SIGUSR2 does not release: the state file still says killed
        p.send_signal(signal.SIGUSR2)
        time.sleep(0.3)
        assert "kill_switch_released" not in log.read_text()
        r = run("kill", "--config", cfg, "--release")
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: "risk.kill_switch_released" in log.read_text())
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0


def test_sighup_reloads_limits_and_refuses_bad_ones(dto_bin, tmp_path):
    state = tmp_path / "state"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(speed=2000, state=state, max_qty=100000))
    log = tmp_path / "run.log"
    p = start(dto_bin, cfg, log)
    try:
        assert wait_for(lambda: log.exists() and "session.start" in log.read_text())
        cfg.write_text(CONFIG.format(speed=2000, state=state, max_qty=1))
        p.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "risk.reloaded" in log.read_text())
        assert wait_for(lambda: '"check":"max_order_qty"' in log.read_text())
        cfg.write_text(CONFIG.format(speed=2000, state=state, max_qty=-5))
        p.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "risk.reload_refused" in log.read_text())
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0


def test_kill_usage_errors(run, tmp_path):
    r = run("kill")
    assert r.returncode == 2 and "--config is required" in r.stderr
    r = run("kill", "--config", tmp_path / "missing.yaml")
    assert r.returncode == 1 and "missing.yaml" in r.stderr


def test_clear_halt_is_applied_once(run, tmp_path):
    """`dto kill --clear-halt` leaves its request for the running dto or the
    next start, which applies it once and removes it; a symbol the
    configuration lacks is named, bad values are refused."""
    state = tmp_path / "state"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(speed=0, state=state, max_qty=1000000))
    r = run("kill", "--config", cfg, "--clear-halt", "ZZZ")
    assert r.returncode == 0, r.stderr
    assert "no running dto found" in r.stdout
    assert (state / "dto.clear").read_text() == "ZZZ\n"
    assert (state / "dto.clear").stat().st_mode & 0o777 == 0o600
    r = run("run", "--config", cfg, "--max-bars", "3")
    assert r.returncode == 0, r.stderr
    assert "'ZZZ' is not an instrument" in r.stderr
    assert not (state / "dto.clear").exists()
    r = run("kill", "--config", cfg, "--clear-halt", "AAPL")
    assert r.returncode == 0, r.stderr
    r = run("run", "--config", cfg, "--max-bars", "3")
    assert r.returncode == 0, r.stderr
    assert "not an instrument" not in r.stderr
    assert not (state / "dto.clear").exists()
    for bad in ("", "a\nb"):
        r = run("kill", "--config", cfg, "--clear-halt", bad)
        assert r.returncode == 2 and "--clear-halt" in r.stderr
    r = run("kill", "--config", cfg, "--clear-halt", "AAPL", "--release")
    assert r.returncode == 2 and "goes alone" in r.stderr
