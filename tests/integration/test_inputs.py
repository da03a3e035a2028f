"""Outside input at the edges, black-box: data files, the state file, the
single-instance lock.

Every bad input must give a clear error that names the file (and line or
record, or the configuration line) and a non-zero exit, never a crash and
never a hang: every subprocess here has a timeout, and a FIFO is never
opened for writing, so a blocking reader would hit the timeout.
"""
import os
import signal
import struct
import subprocess
import time
from pathlib import Path

HDR = "time,open,high,low,close,volume\n"
ROWS = ["2025-01-06T14:30:00Z,100,101,99,100.5,1000",
        "2025-01-06T14:31:00Z,100.5,102,100,101,1200",
        "2025-01-06T14:32:00Z,101,101.5,100.2,100.8,900"]

STRATEGY = """\
strategies:
  - id: mac
    type: ma_crossover
    symbols: [AAPL]
    allocation: 50000
    params: { fast: 2, slow: 3 }
"""


def config(tmp_path, data_lines, extra=""):
    """A config with instrument AAPL and the given data: lines."""
    text = ("accounts:\n  - id: main\n    cash: 100000\n"
            "instruments:\n  - symbol: AAPL\n"
            "data:\n" + "".join(l + "\n" for l in data_lines) + STRATEGY +
            f"run:\n  state_dir: {tmp_path / 'var'}\n" + extra)
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def no_crash(r):
    """Exited by itself (no signal, no sanitizer report)."""
    assert r.returncode > 0, (r.returncode, r.stderr)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr


# ---- #3: a file without a symbol column whose name is no instrument -----

def test_no_symbol_column_and_unknown_name(run, tmp_path):
    data = tmp_path / "zzz.csv"
    data.write_text(HDR + "\n".join(ROWS) + "\n")
    cfg = config(tmp_path, [f"  - path: {data}"])
    want = (f"{data}: the file has no symbol column and its name ('ZZZ') "
            "is not a configured instrument")
    r = run("backtest", "--config", cfg, "--out", tmp_path / "o", "--quiet",
            timeout=60)
    no_crash(r)
    assert want in r.stderr
    assert "c.yaml:7:11:" in r.stderr  # the data entry's path
    r = run("run", "--config", cfg, "--speed", "0", "--max-bars", "10",
            timeout=60)
    no_crash(r)
    assert want in r.stderr
    # given with --data instead of in the configuration
    good = tmp_path / "aapl.csv"
    good.write_text(HDR + "\n".join(ROWS) + "\n")
    cfg2 = config(tmp_path, [f"  - path: {good}"])
    r = run("backtest", "--config", cfg2, "--data", data, "--out",
            tmp_path / "o2", "--quiet", timeout=60)
    no_crash(r)
    assert want in r.stderr
    # the same file named after an instrument is fine
    r = run("backtest", "--config", cfg2, "--out", tmp_path / "o3", "--quiet",
            timeout=60)
    assert r.returncode == 0, r.stderr


# ---- #23: prices beyond what the engine's sums carry -------------------

def test_price_bound(run, tmp_path):
    ok = "2025-01-06T14:33:00Z,92233720.36854775,92233720.36854775,1,1,1"
    over = "2025-01-06T14:33:00Z,1,92233720.36854776,1,1,1"
    data = tmp_path / "aapl.csv"
    data.write_text(HDR + "\n".join(ROWS + [ok]) + "\n")
    cfg = config(tmp_path, [f"  - path: {data}"])
    r = run("data", "info", data, timeout=60)
    assert r.returncode == 0, r.stderr
    data.write_text(HDR + "\n".join(ROWS + [over]) + "\n")
    r = run("backtest", "--config", cfg, "--out", tmp_path / "o", "--quiet",
            timeout=60)
    no_crash(r)
    assert (f"{data}:5: column 'high': above the largest accepted value "
            "92233720.36854775: '92233720.36854776'") in r.stderr
    r = run("data", "convert", "--in", data, "--out", tmp_path / "x.dtob",
            "--quiet", timeout=60)
    no_crash(r)
    assert f"{data}:5: column 'high'" in r.stderr


# ---- #25: .dtob checksums, and version 1 files --------------------------

def test_dtob_damage_is_detected(run, tmp_path):
    data = tmp_path / "aapl.csv"
    data.write_text(HDR + "\n".join(ROWS) + "\n")
    dtob = tmp_path / "aapl.dtob"
    r = run("data", "convert", "--in", data, "--out", dtob, "--quiet")
    assert r.returncode == 0, r.stderr
    raw = bytearray(dtob.read_bytes())
    assert len(raw) == 64 + 16 + 3 * 56 + 8
    raw[64 + 16 + 56 + 9] ^= 0x04  # record 1's open
    dtob.write_bytes(bytes(raw))
    cfg = config(tmp_path, [f"  - path: {dtob}"])
    for args in (("backtest", "--config", cfg, "--out", tmp_path / "o",
                  "--quiet"), ("data", "info", dtob)):
        r = run(*args, timeout=60)
        no_crash(r)
        assert (f"{dtob}: corrupt: block 0 (records 0 to 2): checksum "
                "mismatch") in r.stderr


def test_dtob_version1_refused_then_converted(run, tmp_path):
    # A version 1 file, built from the old layout: no checksums.
    hdr = bytearray(64)
    hdr[0:8] = b"DTOBARS1"
    struct.pack_into("<IIQqIIQ", hdr, 8, 1, 56, 1, 60 * 10**9, 1, 0, 80)
    rec = struct.pack("<qqqqqqII", 1736173800 * 10**9, 100 * 10**8,
                      101 * 10**8, 99 * 10**8, 100 * 10**8, 1000 * 10**8, 0, 0)
    old = tmp_path / "aapl1.dtob"
    old.write_bytes(bytes(hdr) + b"AAPL".ljust(16, b"\0") + rec)
    cfg = config(tmp_path, [f"  - path: {old}"])
    r = run("backtest", "--config", cfg, "--out", tmp_path / "o", "--quiet",
            timeout=60)
    no_crash(r)
    assert "format version 1 (without checksums) is no longer read" in r.stderr
    assert "dto data convert" in r.stderr
    new = tmp_path / "aapl.dtob"
    r = run("data", "convert", "--in", old, "--out", new, "--quiet")
    assert r.returncode == 0, r.stderr
    r = run("data", "info", new)
    assert r.returncode == 0, r.stderr
    assert "version 2" in r.stdout and "bars:      1" in r.stdout


# ---- #24: FIFOs, the same file in and out, missing data files ----------

def test_fifo_inputs_are_refused(run, tmp_path):
    fifo = tmp_path / "aapl.csv"
    os.mkfifo(fifo)
    cfg = config(tmp_path, [f"  - path: {fifo}"])
    r = run("backtest", "--config", cfg, "--out", tmp_path / "o", "--quiet",
            timeout=30)
    no_crash(r)
    assert f"c.yaml:7:11: data file {fifo}: not a regular file (a FIFO)" \
        in r.stderr
    r = run("backtest", "--config", cfg, "--data", fifo, "--out",
            tmp_path / "o", "--quiet", timeout=30)
    no_crash(r)
    assert f"{fifo}: not a regular file (a FIFO)" in r.stderr
    for args in (("data", "info", fifo),
                 ("data", "convert", "--in", fifo, "--out",
                  tmp_path / "x.dtob", "--quiet")):
        r = run(*args, timeout=30)
        no_crash(r)
        assert f"{fifo}: not a regular file (a FIFO)" in r.stderr
    # the configuration itself
    cfifo = tmp_path / "fifo.yaml"
    os.mkfifo(cfifo)
    for args in (("backtest", "--config", cfifo), ("kill", "--config", cfifo,
                                                    "--status")):
        r = run(*args, timeout=30)
        no_crash(r)
        assert f"{cfifo}: not a regular file (a FIFO)" in r.stderr


def test_convert_refuses_to_replace_its_input(run, tmp_path):
    data = tmp_path / "aapl.csv"
    text = HDR + "\n".join(ROWS) + "\n"
    data.write_text(text)
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    hard = tmp_path / "hard.csv"
    os.link(data, hard)
    sub = tmp_path / "sub"
    sub.mkdir()
    for out in (data, link, hard, sub / ".." / "aapl.csv"):
        r = run("data", "convert", "--in", data, "--out", out, "--quiet")
        no_crash(r)
        assert "converting would replace it" in r.stderr, out
        assert data.read_text() == text
    # relative spellings of the same path, from the file's folder
    r = run("data", "convert", "--in", "aapl.csv", "--out", "./aapl.csv",
            "--quiet", cwd=tmp_path)
    no_crash(r)
    assert "converting would replace it" in r.stderr
    assert data.read_text() == text
    r = run("data", "convert", "--in", data, "--out", tmp_path / "a.dtob",
            "--quiet")
    assert r.returncode == 0, r.stderr


def test_missing_data_file_names_the_config_line(run, tmp_path):
    good = tmp_path / "aapl.csv"
    good.write_text(HDR + "\n".join(ROWS) + "\n")
    missing = tmp_path / "nope" / "aapl.csv"
    # line 8, column 13: the value of the second entry's path
    cfg = config(tmp_path, [f"  - path: {good}", f"  - {{ path: {missing} }}"])
    assert cfg.read_text().splitlines()[7].index(str(missing)) + 1 == 13
    r = run("backtest", "--config", cfg, "--out", tmp_path / "o", "--quiet",
            timeout=60)
    no_crash(r)
    assert (f"{cfg}:8:13: data file {missing}: cannot open: No such file or "
            "directory") in r.stderr


# ---- #22: the state file fails closed --------------------------------------

GEN = """\
run:
  feed: generate
  gen_seed: 5
  gen_days: 2
  speed: 0
  state_dir: {state}
"""


def gen_config(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("accounts:\n  - id: main\n    cash: 100000\n"
                 "instruments:\n  - symbol: AAPL\n" + STRATEGY +
                 GEN.format(state=tmp_path / "var"))
    return p


def test_empty_or_damaged_state_keeps_trading_off(run, tmp_path):
    cfg = gen_config(tmp_path)
    var = tmp_path / "var"
    var.mkdir()
    state = var / "dto.state"
    for text in ("", "# dto run state; written by dto\nkill_switch=0\nby=a",
                 "\x00\x01garbage\n"):
        state.write_text(text)
        r = run("kill", "--config", cfg, "--status", timeout=30)
        assert r.returncode == 1
        assert "kill switch: ENGAGED (the state file is not valid" in r.stdout
        log = tmp_path / "run.log"
        r = run("run", "--config", cfg, "--log", log, "--max-bars", "800",
                timeout=120)
        assert r.returncode == 0, r.stderr
        assert "trading stays off" in r.stderr and str(state) in r.stderr
        text_log = log.read_text()
        assert "risk.kill_switch" in text_log
        assert '"event":"order.sent"' not in text_log
    # a FIFO as the state file: refused at once, engaged
    state.unlink()
    os.mkfifo(state)
    r = run("kill", "--config", cfg, "--status", timeout=30)
    assert r.returncode == 1
    assert "ENGAGED" in r.stdout and "not a regular file (a FIFO)" in r.stdout
    state.unlink()
    # missing: released (the first start); a release rewrites a damaged file
    r = run("kill", "--config", cfg, "--status", timeout=30)
    assert r.returncode == 0 and "kill switch: released" in r.stdout
    state.write_text("")
    r = run("kill", "--config", cfg, "--release", timeout=30)
    assert r.returncode == 0, r.stderr
    r = run("kill", "--config", cfg, "--status", timeout=30)
    assert r.returncode == 0 and "kill switch: released" in r.stdout
    # the control: released, the same run does trade
    log = tmp_path / "run_released.log"
    r = run("run", "--config", cfg, "--log", log, "--max-bars", "800",
            timeout=120)
    assert r.returncode == 0, r.stderr
    assert '"event":"order.sent"' in log.read_text()


# ---- #12: one dto per state folder; never signal a stale pid --------------

def test_kill_never_signals_a_stale_pid(run, tmp_path):
    cfg = gen_config(tmp_path)
    var = tmp_path / "var"
    var.mkdir()
    # an unrelated live process whose pid a dead dto left in dto.pid
    other = subprocess.Popen(["sleep", "30"])
    try:
        (var / "dto.pid").write_text(f"{other.pid}\n")
        (var / "dto.lock").write_text(f"{other.pid}\n")
        r = run("kill", "--config", cfg, "--reason", "test", timeout=30)
        assert r.returncode == 0, r.stderr
        assert "no running dto found" in r.stdout
        time.sleep(0.2)
        assert other.poll() is None, "an unrelated process was signaled"
        r = run("kill", "--config", cfg, "--status", timeout=30)
        assert "running dto: none found" in r.stdout
    finally:
        other.kill()
        other.wait(timeout=10)


def test_second_run_on_the_same_state_folder_is_refused(dto_bin, run,
                                                        tmp_path):
    cfg = gen_config(tmp_path)
    text = cfg.read_text().replace("speed: 0", "speed: 200")
    cfg.write_text(text)
    log = tmp_path / "run.log"
    p = subprocess.Popen([dto_bin, "run", "--config", cfg, "--log", log],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            if log.exists() and "session.start" in log.read_text():
                break
            time.sleep(0.05)
        assert "session.start" in log.read_text()
        r = run("run", "--config", cfg, "--log", tmp_path / "run2.log",
                timeout=60)
        no_crash(r)
        assert f"another dto (pid {p.pid}) is running" in r.stderr
        st = run("kill", "--config", cfg, "--status", timeout=30)
        assert f"running dto: yes (pid {p.pid})" in st.stdout
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate(timeout=30)
    # the holder is gone: no lock is left behind
    st = run("kill", "--config", cfg, "--status", timeout=30)
    assert "running dto: none found" in st.stdout
