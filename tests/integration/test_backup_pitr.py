"""Point-in-time recovery: a trading session of more than 10,000 orders is
backed up while `dto run` trades (a full backup, then log and incremental
backups taken as it goes), restored at several points, and each restored
store is compared with an independent replay of the live journal up to the
point the restore reports:

- the journal: the restored events are exactly the live events up to seq P;
- orders: each order's state, quantity and filled quantity are those of its
  last "order" event at or before P;
- fills: exactly the "fill" events at or before P;
- positions: each (account, strategy, symbol) quantity is the signed sum of
  those fills (an independent computation: nothing is read from the
  positions table of the live store);
- cash: the initial cash less the signed notional of those fills and their
  fees equals what the restored positions say (realized - cost - fees),
  within the engine's rounding of each fill's notional to 1e-8.

And a restored mid-session point is a store dto can resume from: `dto run`
on it finishes the session with the same orders, fills and positions as
the uninterrupted live session.

The scheduled jobs (full, incremental, log, config, verification, drill)
run inside `dto run` on the replay's clock, and their outcome reaches the
metrics, the status file and the store's backup_log."""
import json
import os
import shutil
import sqlite3
import subprocess
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

KEY = "0123456789abcdef" * 4
SYMBOLS = ["A1", "A2", "A3", "A4", "A5", "A6"]
CASH = 10_000_000

CONFIG = """\
accounts:
  - id: paper
    cash: {cash}
instruments:
{instruments}
strategies:
  - id: fast
    type: ma_crossover
    symbols: [{symbols}]
    allocation: 50000
    params: {{ fast: 2, slow: 3 }}
run:
  feed: replay
  speed: 0
  state_dir: state
  store: sqlite:dto.db
data:
{data}
backup:
  dir: bk
{extra}"""


def config_text(datadir, extra=""):
    return CONFIG.format(
        cash=CASH,
        instruments="\n".join(f"  - {{symbol: {s}, asset_class: crypto}}"
                              for s in SYMBOLS),
        symbols=", ".join(SYMBOLS),
        data="\n".join(f"  - path: {datadir}/{s}.csv" for s in SYMBOLS),
        extra=extra)


def fx(s):
    return int(Decimal(s) * 10**8)


class Env:
    def __init__(self, dto_bin, tmp):
        self.bin, self.tmp = str(dto_bin), Path(tmp)

    def cli(self, *args, cwd=None, timeout=300):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env["DTO_BACKUP_KEY"] = KEY
        return subprocess.run([self.bin, *map(str, args)], capture_output=True,
                              text=True, timeout=timeout,
                              cwd=cwd or self.tmp, env=env)

    def popen_run(self, cwd, log="run.log"):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env["DTO_BACKUP_KEY"] = KEY
        err = open(Path(cwd) / "run.err", "w")
        return subprocess.Popen([self.bin, "run", "--config", "c.yaml",
                                 "--log", log], cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=err,
                                env=env)


def q(db, sql):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def events(db):
    return q(db, "SELECT seq, time, type, account, strategy, payload FROM "
                 "events ORDER BY seq")


def oracle(evs, upto):
    """The state a replay of the journal up to seq `upto` gives."""
    orders, fills, side, sym, pos = {}, {}, {}, {}, {}
    cash = Fraction(CASH * 10**8)
    nf = 0
    for seq, _t, typ, acct, strat, payload in evs:
        if seq > upto:
            break
        p = json.loads(payload)
        if typ == "order":
            orders[p["cloid"]] = (p["to"], fx(p["qty"]), fx(p["filled"]))
            side[p["cloid"]], sym[p["cloid"]] = p["side"], p["symbol"]
        elif typ == "fill":
            qty, price, fee = fx(p["qty"]), fx(p["price"]), fx(p["fee"])
            fills[p["fill_id"]] = (p["cloid"], qty, price, fee)
            sg = 1 if side[p["cloid"]] == "buy" else -1
            for k in ((acct, strat, sym[p["cloid"]]),
                      (acct, "", sym[p["cloid"]])):
                pos[k] = pos.get(k, 0) + sg * qty
            cash -= Fraction(sg * qty * price, 10**8) + fee
            nf += 1
    return orders, fills, {k: v for k, v in pos.items() if v}, cash, nf


def restored_state(db):
    orders = {c: (s, qt, f) for c, s, qt, f in
              q(db, "SELECT cloid, state, qty, filled FROM orders")}
    fills = {i: (c, qt, p, fe) for i, c, qt, p, fe in
             q(db, "SELECT fill_id, cloid, qty, price, fee FROM fills")}
    pos = {(a, s, y): qt for a, s, y, qt in
           q(db, "SELECT account, strategy, symbol, qty FROM positions")
           if qt}
    r, c, f = q(db, "SELECT coalesce(sum(realized), 0), coalesce(sum(cost), "
                    "0), coalesce(sum(fees), 0) FROM positions WHERE "
                    "strategy = ''")[0]
    return orders, fills, pos, CASH * 10**8 + r - c - f


def backups(env, cfgdir=None):
    r = env.cli("backup", "list", "-c", "c.yaml", cwd=cfgdir)
    assert r.returncode == 0, r.stderr
    out = []
    for ln in r.stdout.splitlines()[1:]:
        f = ln.split()
        lo, hi = f[4].split("..")
        out.append({"id": f[0], "kind": f[1], "time": f[2],
                    "seq_last": int(hi), "parent": f[5]})
    return out


@pytest.fixture(scope="module")
def session(dto_bin, tmp_path_factory):
    env = Env(dto_bin, tmp_path_factory.mktemp("pitr"))
    r = env.cli("data", "generate", "--out", env.tmp / "data", "--symbols",
                ",".join(SYMBOLS), "--days", "4", "--start", "2025-01-06",
                "--seed", "5", "--calendar", "crypto", "--quiet")
    assert r.returncode == 0, r.stderr
    (env.tmp / "c.yaml").write_text(config_text(env.tmp / "data"))
    assert env.cli("migrate", "up", "--store", "sqlite:dto.db").returncode == 0
    proc = env.popen_run(env.tmp)
    db = env.tmp / "dto.db"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and \
                q(db, "SELECT count(*) FROM events")[0][0] == 0:
            time.sleep(0.05)
        r = env.cli("backup", "full", "-c", "c.yaml")
        assert r.returncode == 0, r.stderr
        # logs while it trades, an incremental every fourth time
        n = 0
        while proc.poll() is None and time.monotonic() < deadline:
            n += 1
            kind = "incremental" if n % 4 == 0 else "log"
            r = env.cli("backup", kind, "-c", "c.yaml")
            assert r.returncode == 0, r.stderr
            time.sleep(0.8)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    r = env.cli("backup", "log", "-c", "c.yaml")  # the session's end
    assert r.returncode == 0, r.stderr
    env.db = db
    env.evs = events(db)
    env.list = backups(env)
    return env


def check_point(env, to, point):
    db = to / "dto.db"
    got_evs = events(db)
    assert got_evs == [e for e in env.evs if e[0] <= point]
    orders, fills, pos, cash, nf = oracle(env.evs, point)
    r_orders, r_fills, r_pos, r_cash = restored_state(db)
    assert r_orders == orders
    assert r_fills == fills
    assert r_pos == pos
    # the engine rounds each fill's notional to 1e-8: at most half a unit
    assert abs(Fraction(r_cash) - cash) <= nf
    return len(orders)


def test_session_is_big_enough(session):
    orders = q(session.db, "SELECT count(*) FROM orders")[0][0]
    assert orders >= 10_000, orders
    kinds = {b["kind"] for b in session.list}
    assert kinds == {"full", "log", "incremental"}, session.list
    assert len(session.list) >= 6
    # every delta continues its parent
    by = {b["id"]: b for b in session.list}
    for b in session.list:
        if b["kind"] != "full":
            assert b["parent"] in by
            if b["kind"] == "incremental":
                assert by[b["parent"]]["kind"] in ("full", "incremental")


def test_restore_at_several_points(session, tmp_path):
    pts = sorted({b["seq_last"] for b in session.list})
    assert pts[-1] == session.evs[-1][0]
    # every backup point, and between two points (the newest at or before)
    # (six of them, spread over the session, the last one included)
    some = sorted({pts[(len(pts) - 1) * k // 5] for k in range(6)})
    wanted = [(p, p) for p in some] + \
        [(a + (b - a) // 2, a) for a, b in zip(pts, pts[1:]) if b - a > 1][:3]
    seen_orders = set()
    for i, (ask, expect) in enumerate(wanted):
        to = tmp_path / f"r{i}"
        r = session.cli("restore", "--to", to, "--seq", ask, "-c", "c.yaml")
        assert r.returncode == 0, r.stderr
        assert f"point    seq {expect}," in r.stdout, r.stdout
        seen_orders.add(check_point(session, to, expect))
        assert not [n for n in os.listdir(to) if n.startswith(".restore")]
    assert len(seen_orders) >= 3  # points that differ
    # the last point is the live store itself, every table
    last = tmp_path / f"r{len(some) - 1}" / "dto.db"
    for t in ("orders", "fills", "positions", "daily_pnl", "risk_decisions"):
        assert q(last, f"SELECT * FROM {t} ORDER BY 1, 2") == \
            q(session.db, f"SELECT * FROM {t} ORDER BY 1, 2"), t
    # and its checkpoint is the live store's last one (a restored store
    # also keeps the older checkpoints its chain carried)
    newest = "SELECT * FROM snapshots ORDER BY seq DESC LIMIT 1"
    assert q(last, newest) == q(session.db, newest)


def test_restore_at_time_and_chain(session, tmp_path):
    incr = [b for b in session.list if b["kind"] == "incremental"]
    logs_after = [b for b in session.list if b["kind"] == "log" and incr
                  and b["parent"] == incr[0]["id"]]
    assert incr and logs_after
    target = logs_after[0]
    r = session.cli("restore", "--to", tmp_path / "t", "--backup",
                    target["id"], "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    chain = [ln for ln in r.stdout.splitlines() if ln.startswith("chain")][0]
    # full -> incremental -> log: the logs before the incremental skipped
    links = chain.split()[1:]
    links = [x for x in links if x != "->"]
    assert links[0].startswith("full-") and links[1] == incr[0]["id"] and \
        links[-1] == target["id"] and len(links) == 3
    check_point(session, tmp_path / "t", target["seq_last"])
    # --at: the newest point taken at or before that second
    at = target["time"]
    expect = max((b for b in session.list if b["time"] <= at),
                 key=lambda b: (b["seq_last"], b["time"]))
    r = session.cli("restore", "--to", tmp_path / "a", "--at", at, "-c",
                    "c.yaml")
    assert r.returncode == 0, r.stderr
    assert f"point    seq {expect['seq_last']}," in r.stdout
    check_point(session, tmp_path / "a", expect["seq_last"])


def test_resume_from_a_restored_point(session, tmp_path):
    """A mid-session point is a store dto resumes from: the session it
    finishes equals the uninterrupted one."""
    pts = sorted({b["seq_last"] for b in session.list})
    mid = pts[len(pts) // 2]
    to = tmp_path / "resume"
    r = session.cli("restore", "--to", to, "--seq", mid, "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    (to / "c.yaml").write_text(config_text(session.tmp / "data"))
    p = session.popen_run(to)
    assert p.wait(timeout=300) == 0, (to / "run.err").read_text()
    for t, cols in (("orders", "cloid, state, qty, filled, avg_price, fees"),
                    ("fills", "fill_id, cloid, qty, price, fee, time"),
                    ("positions", "account, strategy, symbol, qty, cost, "
                                  "realized, fees")):
        assert q(to / "dto.db", f"SELECT {cols} FROM {t} ORDER BY 1, 2, 3") \
            == q(session.db, f"SELECT {cols} FROM {t} ORDER BY 1, 2, 3"), t


def test_broken_chain_is_refused(session, tmp_path):
    """A missing link, or a damaged one, fails the restore with a message
    naming it; nothing is left in the destination."""
    bk = session.tmp / "bk"
    logs = [b for b in session.list if b["kind"] == "log"]
    victim, later = logs[0], None
    for b in session.list:
        if b["parent"] == victim["id"]:
            later = b
    assert later
    copy = tmp_path / "bk"
    shutil.copytree(bk, copy)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config_text(session.tmp / "data").replace(
        "  dir: bk", f"  dir: {copy}"))
    (copy / f"{victim['id']}.dtobak").unlink()
    r = session.cli("restore", "--to", tmp_path / "x", "--seq",
                    later["seq_last"], "-c", cfg)
    assert r.returncode == 1
    assert victim["id"] in r.stderr and "missing" in r.stderr, r.stderr
    assert not (tmp_path / "x" / "dto.db").exists()
    # damaged: one flipped byte in the middle of a link
    shutil.copy(bk / f"{victim['id']}.dtobak", copy)
    p = copy / f"{victim['id']}.dtobak"
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 1
    p.write_bytes(bytes(b))
    r = session.cli("restore", "--to", tmp_path / "y", "--seq",
                    later["seq_last"], "-c", cfg)
    assert r.returncode == 1
    assert victim["id"] in r.stderr, r.stderr
    assert not (tmp_path / "y" / "dto.db").exists()
    r = session.cli("backup", "verify", later["id"], "-c", cfg)
    assert r.returncode == 1 and victim["id"] in r.stderr


def test_verify_all_and_list(session):
    r = session.cli("backup", "verify", "--all", "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("ok ") == len(session.list)
    r = session.cli("backup", "list", "-c", "c.yaml")
    assert "never" not in r.stdout  # each shows its verification
    assert q(session.db, "SELECT count(*) FROM backup_log WHERE kind = "
                         "'verify' AND ok = 1")[0][0] >= len(session.list)


def test_scheduled_jobs(dto_bin, tmp_path):
    """Every job of the backup section inside dto run, on the replay's
    clock (a simulated minute passes in well under a second here)."""
    env = Env(dto_bin, tmp_path)
    r = env.cli("data", "generate", "--out", tmp_path / "data", "--symbols",
                ",".join(SYMBOLS), "--days", "1", "--start", "2025-01-06",
                "--seed", "7", "--calendar", "crypto", "--quiet")
    assert r.returncode == 0, r.stderr
    deploy = tmp_path / "deploy.service"
    deploy.write_text("[Service]\nExecStart=/usr/bin/dto run\n")
    keyfile = tmp_path / "backup.key"
    keyfile.write_text(KEY + "\n")
    keyfile.chmod(0o600)
    extra = f"""  secondary_dir: bk2
  schedule: every 6h
  incremental_schedule: every 2h
  log_schedule: every 15m
  config_schedule: every 12h
  config_files: [{deploy}]
  verify_schedule: every 8h
  verify_full_schedule: every 20h
  drill_schedule: every 23h
"""
    (tmp_path / "c.yaml").write_text(config_text(tmp_path / "data", extra)
                                     .replace("speed: 0", "speed: 3000"))
    assert env.cli("migrate", "up", "--store", "sqlite:dto.db").returncode == 0
    p = env.popen_run(tmp_path)
    assert p.wait(timeout=600) == 0, (tmp_path / "run.err").read_text()
    lst = backups(env)
    kinds = {b["kind"] for b in lst}
    assert {"full", "incremental", "log"} <= kinds, lst
    assert list((tmp_path / "bk" / "config").glob("config-*.dtobak"))
    assert list((tmp_path / "bk2" / "config").glob("config-*.dtobak"))
    for b in lst:  # every one copied to the secondary
        assert (tmp_path / "bk2" / f"{b['id']}.dtobak").exists()
    st = json.loads((tmp_path / "bk" / ".dto-backup-status.json").read_text())
    for k in ("full", "incremental", "log", "config"):
        assert st[k]["ok"] is True, (k, st[k])
    assert st["verify"]["ok"] is True
    assert st["drill"]["ok"] is True, st["drill"]
    logged = dict(q(tmp_path / "dto.db", "SELECT kind, count(*) FROM "
                                         "backup_log WHERE ok = 1 GROUP BY "
                                         "kind"))
    for k in ("full", "incremental", "log", "config", "verify", "drill"):
        assert logged.get(k, 0) >= 1, logged
    # nothing failed: a log due before the first full took a full instead
    assert q(tmp_path / "dto.db", "SELECT kind, detail FROM backup_log "
                                  "WHERE ok = 0") == []
    # the newest point restores, is the live journal up to its seq, and
    # is never more than log_schedule (15 minutes of the replay's clock)
    # behind the end of the session
    r = env.cli("restore", "--to", tmp_path / "r", "-c", "c.yaml")
    assert r.returncode == 0, r.stderr
    got, live = events(tmp_path / "r" / "dto.db"), events(tmp_path / "dto.db")
    assert got == live[:len(got)]
    assert live[-1][1] - got[-1][1] <= 15 * 60 * 10**9
    # a key file in config_files is refused: secrets are never backed up
    (tmp_path / "c2.yaml").write_text((tmp_path / "c.yaml").read_text()
                                      .replace(str(deploy), str(keyfile)))
    r = env.cli("backup", "config", "-c", "c2.yaml")
    assert r.returncode == 1 and "holds a key" in r.stderr
    assert KEY not in r.stderr


def test_upload_command_copies_and_verifies(session, tmp_path):
    """backup.upload_command copies each archive (here cp to a folder, as
    rsync or rclone would to a remote) and fetch_command brings it back for
    verification; a failing upload or fetch fails the command (exit 1) and
    keeps the primary archive."""
    remote = tmp_path / "remote"
    remote.mkdir()
    bk = tmp_path / "bk"
    shutil.copytree(session.tmp / "bk", bk)
    base = config_text(session.tmp / "data").replace("  dir: bk",
                                                     f"  dir: {bk}")
    base = base.replace("sqlite:dto.db", f"sqlite:{session.db}")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(base + f"""  upload_command: [cp, "{{file}}", "{remote}/"]
  fetch_command: [cp, "{remote}/{{name}}", "{{dest}}"]
""")
    r = session.cli("backup", "log", "-c", cfg)
    assert r.returncode == 0, r.stderr
    lid = r.stdout.strip()
    assert (remote / f"{lid}.dtobak").read_bytes() == \
        (bk / f"{lid}.dtobak").read_bytes()
    assert not [n for n in os.listdir(bk) if n.startswith(".fetch")]
    # the fetch finds nothing: the copy is not verified, exit 1
    cfg.write_text(base + f"""  upload_command: [cp, "{{file}}", "{remote}/"]
  fetch_command: [cp, "{tmp_path}/elsewhere/{{name}}", "{{dest}}"]
""")
    r = session.cli("backup", "log", "-c", cfg)
    assert r.returncode == 1
    lid = r.stdout.strip()
    assert "a copy failed" in r.stderr and "cp exited with status" in \
        r.stderr, r.stderr
    assert (bk / f"{lid}.dtobak").exists()
    st = json.loads((bk / ".dto-backup-status.json").read_text())
    assert st["log"]["ok"] is False and "upload" in st["log"]["error"]
    # a command that fails
    cfg.write_text(base + "  upload_command: [false]\n")
    r = session.cli("backup", "incremental", "-c", cfg)
    assert r.returncode == 1 and "false exited with status 1" in r.stderr
    assert (bk / f"{r.stdout.strip()}.dtobak").exists()
    # refused in the configuration: a fetch without an upload
    cfg.write_text(base + "  fetch_command: [cp, a, b]\n")
    r = session.cli("backup", "log", "-c", cfg)
    assert r.returncode == 1 and "fetch_command" in r.stderr


@pytest.mark.parametrize("how,words", [
    ("drop_final", "truncated"),
    ("swap", "authentication"),
    ("flip", "authentication"),
    ("cut", "truncated"),
])
def test_tampered_link_is_refused(session, tmp_path, how, words):
    """A link of a chain with its final chunk missing, two chunks swapped,
    one flipped byte or cut short: verify and restore fail with a message
    saying so, and nothing is left in the destination."""
    bk = tmp_path / "bk"
    shutil.copytree(session.tmp / "bk", bk)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config_text(session.tmp / "data").replace(
        "  dir: bk", f"  dir: {bk}"))
    # the biggest archive of the chain of the newest point
    arch = max(bk.glob("*.dtobak"), key=lambda p: p.stat().st_size)
    data = bytearray(arch.read_bytes())
    cs = 65536 + 17  # a chunk and its tag (backup_fmt.h)
    nchunks = (len(data) - 56) // cs
    assert (len(data) - 56) % cs == 0 and nchunks >= 3, len(data)
    if how == "drop_final":
        data = data[:56 + (nchunks - 1) * cs]
    elif how == "swap":
        a, b = data[56:56 + cs], data[56 + cs:56 + 2 * cs]
        data[56:56 + cs], data[56 + cs:56 + 2 * cs] = b, a
    elif how == "flip":
        data[56 + cs + 100] ^= 0x20
    else:
        data = data[:len(data) - 5000]
    arch.write_bytes(bytes(data))
    r = session.cli("backup", "verify", arch.stem, "-c", cfg)
    assert r.returncode == 1 and words in r.stderr, r.stderr
    r = session.cli("restore", "--to", tmp_path / "r", "-c", cfg)
    assert r.returncode == 1 and words in r.stderr, r.stderr
    assert not (tmp_path / "r").exists() or \
        os.listdir(tmp_path / "r") == []


def test_pruned_folder_still_restores(session, tmp_path):
    """Retention over real archives: after prune, every backup left
    verifies (its chain is whole) and the newest point still restores."""
    bk = tmp_path / "bk"
    shutil.copytree(session.tmp / "bk", bk)
    cfg = tmp_path / "c.yaml"
    text = config_text(session.tmp / "data").replace("  dir: bk",
                                                     f"  dir: {bk}")
    cfg.write_text(text + "  retention: {daily: 1, weekly: 0, monthly: 0, "
                          "keep_recent: 0s}\n")
    before = len(list(bk.glob("*.dtobak")))
    r = session.cli("backup", "prune", "-c", cfg)
    assert r.returncode == 0, r.stderr
    left = sorted(p.stem for p in bk.glob("*.dtobak"))
    assert 1 <= len(left) < before, (left, r.stdout)
    # exactly: the newest full (the day's), the newest point and its chain
    newest = session.list[-1]
    by = {b["id"]: b for b in session.list}
    chain, b = [], newest
    while True:
        chain.append(b["id"])
        if b["kind"] == "full":
            break
        b = by[b["parent"]]
    fulls = [b["id"] for b in session.list if b["kind"] == "full"]
    assert sorted(set(chain) | {fulls[-1]}) == left, (left, chain)
    r = session.cli("backup", "verify", "--all", "-c", cfg)
    assert r.returncode == 0, r.stderr
    r = session.cli("restore", "--to", tmp_path / "r", "-c", cfg)
    assert r.returncode == 0, r.stderr
    assert f"point    seq {newest['seq_last']}," in r.stdout
