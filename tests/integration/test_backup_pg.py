"""dto backup on a PostgreSQL store (a server started by the test with
scripts/pg-test.sh): a full backup taken while `dto run` trades is one
consistent snapshot (pg_dump of the snapshot the manifest's facts were
read in), verify restores it into a scratch database and drops it, restore
fills a database the operator made and refuses one that holds a store,
incremental and log backups are refused with the reason, drills run, and
every outcome is in the store's backup_log.

The oracle is psql reading the live and the restored databases: the
restored journal is the live journal cut at the manifest's seq_last."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = "0123456789abcdef" * 4


def psql(url, sql):
    r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v",
                        "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def pg():
    p = subprocess.run([ROOT / "scripts" / "pg-test.sh", "start"],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        pytest.skip("no PostgreSQL server: " + p.stderr[-300:])
    pgdir = p.stdout.strip().splitlines()[-1]
    url = Path(pgdir, "url").read_text().strip()
    yield url
    subprocess.run([ROOT / "scripts" / "pg-test.sh", "stop", pgdir],
                   timeout=60)


def db_url(url, name):
    return url.rsplit("/", 1)[0] + "/" + name


class Env:
    def __init__(self, dto_bin, tmp, url):
        self.bin, self.tmp, self.url = str(dto_bin), Path(tmp), url

    def cli(self, *args, timeout=300):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env["DTO_BACKUP_KEY"] = KEY
        return subprocess.run([self.bin, *map(str, args)],
                              capture_output=True, text=True,
                              timeout=timeout, cwd=self.tmp, env=env)


@pytest.fixture(scope="module")
def env(dto_bin, tmp_path_factory, pg):
    psql(pg, "CREATE DATABASE live")
    url = db_url(pg, "live")
    e = Env(dto_bin, tmp_path_factory.mktemp("bkpg"), url)
    r = e.cli("data", "generate", "--out", e.tmp / "data", "--symbols",
              "A1,A2,A3", "--days", "3", "--start", "2025-01-06", "--seed",
              "3", "--calendar", "crypto", "--quiet")
    assert r.returncode == 0, r.stderr
    (e.tmp / "c.yaml").write_text(f"""\
accounts:
  - id: paper
    cash: 1000000
instruments:
  - {{symbol: A1, asset_class: crypto}}
  - {{symbol: A2, asset_class: crypto}}
  - {{symbol: A3, asset_class: crypto}}
strategies:
  - id: fast
    type: ma_crossover
    symbols: [A1, A2, A3]
    allocation: 50000
    params: {{ fast: 2, slow: 3 }}
run:
  feed: replay
  speed: 0
  state_dir: state
  store: {url}
data:
  - path: data/A1.csv
  - path: data/A2.csv
  - path: data/A3.csv
backup:
  dir: bk
""")
    assert e.cli("migrate", "up", "--store", url).returncode == 0
    return e


def events(url, upto=None):
    where = f" WHERE seq <= {upto}" if upto is not None else ""
    return psql(url, "SELECT seq, time, type, account, strategy, payload "
                     f"FROM events{where} ORDER BY seq")


def manifest_of(env, bid):
    r = env.cli("backup", "list", "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    for ln in r.stdout.splitlines()[1:]:
        f = ln.split()
        if f[0] == bid:
            lo, hi = f[4].split("..")
            return int(lo), int(hi)
    raise AssertionError(r.stdout)


def test_full_backup_while_trading_restores_its_snapshot(env, pg):
    p = subprocess.Popen([env.bin, "run", "--config", "c.yaml", "--log",
                          "run.log"], cwd=env.tmp, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None and \
                int(psql(env.url, "SELECT count(*) FROM events") or 0) < 200:
            time.sleep(0.1)
        ids = []
        for _ in range(2):  # while it writes
            r = env.cli("backup", "full", "-c", "c.yaml")
            assert r.returncode == 0, r.stderr
            ids.append(r.stdout.strip())
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    live_last = int(psql(env.url, "SELECT max(seq) FROM events"))
    for i, bid in enumerate(ids):
        _, seq_last = manifest_of(env, bid)
        assert 0 < seq_last <= live_last
        r = env.cli("backup", "verify", bid, "-c", "c.yaml")
        assert r.returncode == 0, r.stderr
        target = f"restored{i}"
        psql(pg, f"CREATE DATABASE {target}")
        r = env.cli("restore", "--to", db_url(pg, target), "--backup", bid,
                    "-c", "c.yaml")
        assert r.returncode == 0, r.stderr
        # the restored journal is the live one cut at the manifest's point
        assert events(db_url(pg, target)) == events(env.url, seq_last)
        n = psql(db_url(pg, target), "SELECT count(*) FROM orders WHERE "
                                     "created > 0")
        assert int(n) > 0
    # the scratch databases of verify are gone
    names = psql(pg, "SELECT datname FROM pg_database").split()
    assert not [n for n in names if n.startswith("dto_verify_")]


def test_refusals(env, pg):
    r = env.cli("backup", "log", "-c", "c.yaml")
    assert r.returncode == 1 and "WAL archiving" in r.stderr, r.stderr
    r = env.cli("backup", "incremental", "-c", "c.yaml")
    assert r.returncode == 1 and "WAL archiving" in r.stderr
    # and dto run refuses a log schedule for it, before it trades
    cfg = env.tmp / "c-log.yaml"
    cfg.write_text((env.tmp / "c.yaml").read_text() +
                   "  log_schedule: every 15m\n")
    r = env.cli("run", "--config", cfg, timeout=60)
    assert r.returncode != 0
    assert "backup.log_schedule: a PostgreSQL store" in r.stderr, r.stderr
    # a database that holds a store already, without --force
    r = env.cli("restore", "--to", env.url, "--latest", "-c", "c.yaml")
    assert r.returncode == 1 and "--force" in r.stderr
    # a PostgreSQL backup into a folder
    r = env.cli("restore", "--to", env.tmp / "dir", "--latest", "-c",
                "c.yaml")
    assert r.returncode == 1 and "postgresql://" in r.stderr
    assert not (env.tmp / "dir" / "dto.db").exists()
    # --force replaces a store
    psql(pg, "CREATE DATABASE again")
    r = env.cli("restore", "--to", db_url(pg, "again"), "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    r = env.cli("restore", "--to", db_url(pg, "again"), "--force", "-c",
                "c.yaml")
    assert r.returncode == 0, r.stderr
    # a damaged archive is refused before anything reaches the database
    bk = sorted((env.tmp / "bk").glob("full-*.dtobak"))[-1]
    bad = env.tmp / "bad.dtobak"
    b = bytearray(bk.read_bytes())
    b[len(b) // 2] ^= 1
    bad.write_bytes(bytes(b))
    psql(pg, "CREATE DATABASE empty1")
    r = env.cli("restore", "--to", db_url(pg, "empty1"), "--backup", bad,
                "-c", "c.yaml")
    assert r.returncode == 1 and "authentication" in r.stderr
    assert psql(db_url(pg, "empty1"), "SELECT count(*) FROM pg_class WHERE "
                "relname = 'events'").strip() == "0"


def test_drill_and_records(env):
    r = env.cli("drill", "--json", "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["ok"] is True and d["rto_seconds"] > 0
    assert d["rpo_events"] == 0  # dto stopped
    kinds = psql(env.url, "SELECT kind, ok FROM backup_log ORDER BY seq")
    rows = [ln.split("|") for ln in kinds.split()]
    assert ["full", "t"] in rows and ["verify", "t"] in rows
    assert ["drill", "t"] in rows and ["log", "f"] in rows
    # no password or key in any of it
    assert KEY not in kinds
