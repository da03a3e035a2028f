"""dto run: paper trading on a generated feed in simulated real time."""
import json
import os
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
  gen_seed: 3
  gen_days: 2
  speed: {speed}
"""


def _lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def test_run_stops_cleanly_on_sigint(dto_bin, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=6000))
    log = tmp_path / "run.log"
    p = subprocess.Popen([dto_bin, "run", "--config", tmp_path / "c.yaml",
                          "--log", log], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        # wait until it has traded, then interrupt it
        while time.time() < deadline:
            if log.exists() and "order.fill" in log.read_text():
                break
            time.sleep(0.1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "stopped by signal" in out
    assert "working orders 0" in out
    events = _lines(log)
    names = [e["event"] for e in events]
    assert names[0] == "session.start"
    assert names[-1] == "session.stop"
    assert events[-1]["reason"] == "signal"
    assert "order.sent" in names and "order.fill" in names
    fill = next(e for e in events if e["event"] == "order.fill")
    for k in ("ts", "level", "cloid", "symbol", "side", "qty", "price", "fee"):
        assert k in fill


def test_run_to_end_of_feed(run, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=0))
    r = run("run", "--config", tmp_path / "c.yaml", "--max-bars", "500",
            "--log", tmp_path / "l.log")
    assert r.returncode == 0, r.stderr
    assert "ended (end of feed)" in r.stdout
    assert "bars 500" in r.stdout


def test_run_sigterm(dto_bin, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(speed=1))
    p = subprocess.Popen([dto_bin, "run", "--config", tmp_path / "c.yaml",
                          "--log", tmp_path / "l.log"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert "stopped by signal" in out
