"""dto backup / dto restore on a SQLite store: full backups taken while
`dto run` trades (replay), list, verify, restore, and the failures an
operator must see (a damaged archive, a wrong key, an existing store, a
secondary folder that cannot be written).

The oracle is the live store itself, read with Python's sqlite3: the
restored journal is the live journal cut at the manifest's seq_last, and a
backup taken after dto stopped restores every table exactly."""
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

KEY = "0123456789abcdef" * 4
OTHER_KEY = "fedcba9876543210" * 4

CONFIG = """\
accounts:
  - id: paper
    cash: 1000000
instruments:
  - symbol: AAPL
    asset_class: crypto
  - symbol: MSFT
    asset_class: crypto
strategies:
  - id: fast
    type: ma_crossover
    symbols: [AAPL, MSFT]
    allocation: 50000
    params: {{ fast: 2, slow: 5 }}
run:
  feed: replay
  speed: 300
  state_dir: state
  store: sqlite:dto.db
data:
  - path: {data}/AAPL.csv
  - path: {data}/MSFT.csv
backup:
  dir: bk
  secondary_dir: {secondary}
  level: 3
  retention: {{daily: 30, weekly: 12, monthly: 12, keep_recent: 24h}}
"""

TABLES = ("events", "orders", "fills", "positions", "risk_decisions",
          "daily_pnl")


class Env:
    def __init__(self, dto_bin, tmp):
        self.bin, self.tmp = str(dto_bin), Path(tmp)
        self.cfg = self.tmp / "c.yaml"
        self.db = self.tmp / "dto.db"
        self.proc = None

    def cli(self, *args, key=KEY, timeout=120):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.pop("DTO_BACKUP_KEY", None)
        if key is not None:
            env["DTO_BACKUP_KEY"] = key
        return subprocess.run([self.bin, *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, cwd=self.tmp,
                              env=env)

    def write_config(self, secondary="bk2", name="c.yaml"):
        p = self.tmp / name
        p.write_text(CONFIG.format(data=self.tmp / "data",
                                   secondary=secondary))
        return p

    def start(self):
        r = self.cli("data", "generate", "--out", self.tmp / "data",
                     "--symbols", "AAPL,MSFT", "--days", "2", "--start",
                     "2025-01-06", "--seed", "21", "--calendar", "crypto",
                     "--quiet")
        assert r.returncode == 0, r.stderr
        self.write_config()
        r = self.cli("migrate", "up", "--store", f"sqlite:{self.db}")
        assert r.returncode == 0, r.stderr
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.err = open(self.tmp / "run.err", "w")
        self.proc = subprocess.Popen(
            [self.bin, "run", "--config", self.cfg, "--log",
             self.tmp / "run.log"], cwd=self.tmp, stdout=subprocess.DEVNULL,
            stderr=self.err, env=env)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc:
            self.err.close()

    def count(self, table):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True,
                              timeout=10)
        try:
            return con.execute(f"select count(*) from {table}").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
        finally:
            con.close()


def rows(db, table, where=""):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return sorted(con.execute(f"select * from {table} {where}").fetchall(),
                      key=repr)
    finally:
        con.close()


def listing(env, cfg="c.yaml"):
    r = env.cli("backup", "list", "-c", cfg)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines()[1:]:
        f = line.split()
        first, last = f[4].split("..")
        out[f[0]] = dict(kind=f[1], time=f[2], size=int(f[3]),
                         seq_first=int(first), seq_last=int(last))
    return out


def full(env, cfg="c.yaml"):
    r = env.cli("backup", "full", "-c", cfg)
    assert r.returncode == 0, r.stderr
    bid = r.stdout.strip()
    assert bid.startswith("full-")
    return bid


@pytest.fixture(scope="module")
def env(dto_bin, tmp_path_factory):
    e = Env(dto_bin, tmp_path_factory.mktemp("backup"))
    e.start()
    yield e
    e.stop()


def wait_for(cond, secs, what):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_backups_while_trading_then_restore(env):
    wait_for(lambda: env.proc.poll() is None and env.count("fills") > 0, 60,
             "dto run to trade")
    a = full(env)
    wait_for(lambda: env.count("fills") > 0, 5, "more trading")
    time.sleep(0.5)
    b = full(env)
    assert env.proc.poll() is None, "dto run died during the backups"
    assert a != b
    ls = listing(env)
    assert set(ls) == {a, b}
    assert ls[a]["kind"] == ls[b]["kind"] == "full"
    assert 0 < ls[a]["seq_last"] <= ls[b]["seq_last"]
    for bid in (a, b):
        assert (env.tmp / "bk" / f"{bid}.dtobak").stat().st_mode & 0o777 \
            == 0o600
        assert (env.tmp / "bk2" / f"{bid}.dtobak").exists()
    assert (env.tmp / "bk").stat().st_mode & 0o777 == 0o700
    r = env.cli("backup", "verify", "--all", "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("ok ") == 2

    env.stop()
    r = env.cli("restore", "--to", "new", "--latest", "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    restored = env.tmp / "new" / "dto.db"
    seq_last = ls[b]["seq_last"]
    con = sqlite3.connect(restored)
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert con.execute("select max(seq) from events").fetchone()[0] == seq_last
    con.close()
    # the journal is append-only: the restored one is the live one cut there
    assert rows(restored, "events") == rows(env.db, "events",
                                            f"where seq <= {seq_last}")
    # every fill restored is a live fill, identical
    live_fills = set(rows(env.db, "fills"))
    assert set(rows(restored, "fills")) <= live_fills
    assert {r[0] for r in rows(restored, "orders")} <= \
        {r[0] for r in rows(env.db, "orders")}

    # a backup after dto stopped restores every table exactly
    c = full(env)
    r = env.cli("restore", "--to", "new2", "--backup", c, "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    for t in TABLES:
        assert rows(env.tmp / "new2" / "dto.db", t) == rows(env.db, t), t

    # an existing store is refused without --force, replaced with it
    r = env.cli("restore", "--to", "new", "--backup", c, "-c", "c.yaml")
    assert r.returncode == 1
    assert "--force" in r.stderr
    r = env.cli("restore", "--to", "new", "--backup", c, "--force", "-c",
                "c.yaml")
    assert r.returncode == 0, r.stderr
    assert rows(restored, "orders") == rows(env.db, "orders")
    # nothing but the store (and the WAL files sqlite3 made reading it)
    assert {n for n in os.listdir(env.tmp / "new")
            if not n.startswith("dto.db")} == set()


def damaged(env, how):
    src = sorted((env.tmp / "bk").glob("*.dtobak"))[-1]
    data = bytearray(src.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x01
    elif how == "truncate":
        data = data[:len(data) - 1000]
    dst = env.tmp / "bad" / f"{how}.dtobak"
    dst.parent.mkdir(exist_ok=True)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("how,key,words", [
    ("flip", KEY, "authentication"),
    ("truncate", KEY, "truncated"),
    ("none", OTHER_KEY, "wrong key"),
])
def test_damage_is_refused(env, how, key, words):
    env.stop()
    if not list((env.tmp / "bk").glob("*.dtobak")):
        full(env)
    path = damaged(env, how)
    r = env.cli("backup", "verify", path, "-c", "c.yaml", key=key)
    assert r.returncode == 1
    assert words in r.stderr, r.stderr
    to = env.tmp / f"to-{how}"
    r = env.cli("restore", "--to", to, "--backup", path, "-c", "c.yaml",
                key=key)
    assert r.returncode == 1
    assert words in r.stderr, r.stderr
    assert not to.exists() or os.listdir(to) == []


def test_no_key_and_usage(env):
    r = env.cli("backup", "list", "-c", "c.yaml", key=None)
    assert r.returncode == 1
    assert "DTO_BACKUP_KEY" in r.stderr
    assert env.cli("backup", "bogus", "-c", "c.yaml").returncode == 2
    assert env.cli("restore", "-c", "c.yaml").returncode == 2
    r = env.cli("restore", "--to", "x", "--seq", "5", "-c", "c.yaml")
    assert r.returncode == 1
    assert "no readable backup at or before the point asked" in r.stderr
    r = env.cli("restore", "--to", "x", "--seq", "-5", "-c", "c.yaml")
    assert r.returncode == 2 and "--seq" in r.stderr
    r = env.cli("restore", "--to", "x", "--at", "yesterday", "-c", "c.yaml")
    assert r.returncode == 2 and "--at" in r.stderr
    r = env.cli("restore", "--to", "x", "--at", "2026-01-01T00:00:00Z",
                "--seq", "3", "-c", "c.yaml")
    assert r.returncode == 2
    r = env.cli("backup", "--help")
    assert r.returncode == 0 and "verify" in r.stdout
    r = env.cli("backup", "prune", "--dry-run", "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    assert "keep" in r.stdout


def test_secondary_failure_keeps_primary(env):
    env.stop()
    (env.tmp / "afile").write_text("not a folder\n")
    cfg = env.write_config(secondary="afile/sub", name="c2.yaml")
    before = set(os.listdir(env.tmp / "bk"))
    r = env.cli("backup", "full", "-c", cfg)
    assert r.returncode == 1
    assert "secondary" in r.stderr and "afile/sub" in r.stderr, r.stderr
    new = set(os.listdir(env.tmp / "bk")) - before
    assert len(new) == 1, new
    bid = new.pop()
    assert bid == r.stdout.strip() + ".dtobak"
    r = env.cli("backup", "verify", bid[:-len(".dtobak")], "-c", cfg)
    assert r.returncode == 0, r.stderr


# ---- dto drill ---------------------------------------------------------------

@pytest.fixture(scope="module")
def denv(dto_bin, tmp_path_factory):
    e = Env(dto_bin, tmp_path_factory.mktemp("drill"))
    e.start()
    yield e
    e.stop()


def drill(env, *args, key=KEY):
    r = env.cli("drill", "--json", "-c", "c.yaml", *args, key=key)
    lines = r.stdout.strip().splitlines()
    assert lines, r.stderr
    return r, json.loads(lines[-1])


def status(env):
    return json.loads((env.tmp / "bk" / ".dto-backup-status.json")
                      .read_text())


def test_drill_while_trading(denv):
    wait_for(lambda: denv.proc.poll() is None and denv.count("fills") > 0,
             60, "dto run to trade")
    r, d = drill(denv)
    assert r.returncode == 0, r.stderr
    assert denv.proc.poll() is None, "dto run died during the drill"
    assert d["ok"] is True and d["error"] is None
    # the drill restores a point of a chain: a full backup and a log on it
    assert d["backup"].startswith("log-")
    assert (denv.tmp / "bk" / f"{d['backup']}.dtobak").exists()
    assert d["rto_seconds"] > 0
    assert d["rto_seconds"] >= d["restore_seconds"]
    assert d["rpo_events"] >= 0 and d["rpo_seconds"] >= 0
    st = status(denv)
    assert st["drill"]["ok"] is True
    assert st["drill"]["backup"] == d["backup"]
    assert st["full"]["ok"] is True  # the drill's backup is noted too
    # the scratch folder is gone
    assert not [n for n in os.listdir(denv.tmp / "bk")
                if n.startswith(".drill")]
    r = denv.cli("drill", "-c", "c.yaml")  # human text
    assert r.returncode == 0, r.stderr
    assert "RTO" in r.stdout and "RPO" in r.stdout and "passed" in r.stdout


def test_drill_after_stop_and_keep(denv):
    denv.stop()
    r, d = drill(denv, "--keep", "kept")
    assert r.returncode == 0, r.stderr
    assert d["ok"] and d["rpo_events"] == 0 and d["rpo_seconds"] == 0
    kept = denv.tmp / "kept" / "dto.db"
    assert kept.exists()
    assert rows(kept, "events") == rows(denv.db, "events")
    # --keep needs a new folder: the restore step fails, and it is recorded
    full_before = status(denv)["full"]
    r, d = drill(denv, "--keep", "kept")
    assert r.returncode == 1
    assert d["ok"] is False and d["error"].startswith("restore:")
    assert "restore:" in r.stderr
    st = status(denv)
    assert st["drill"]["ok"] is False
    assert st["drill"]["error"].startswith("restore:")
    assert st["full"]["ok"] is True and st["full"] != full_before


def test_drill_without_key_fails_at_backup(denv):
    denv.stop()
    r, d = drill(denv, key=None)
    assert r.returncode == 1
    assert d["ok"] is False and d["error"].startswith("backup:")
    assert "DTO_BACKUP_KEY" in d["error"]
    st = status(denv)
    assert st["drill"]["ok"] is False and "backup:" in st["drill"]["error"]
    assert "full" in st  # kept intact


def test_drill_usage(denv):
    r = denv.cli("drill", "--help")
    assert r.returncode == 0 and "RTO" in r.stdout
    assert denv.cli("drill", "--bogus", "-c", "c.yaml").returncode == 2
    assert denv.cli("drill").returncode == 2
    assert denv.cli("drill", "extra", "-c", "c.yaml").returncode == 2
