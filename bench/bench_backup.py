#!/usr/bin/env python3
"""bench_backup.py DTO_BIN WORKDIR - backups: `dto backup full`, `dto backup
verify` and `dto restore` on a SQLite store of about 1 GB.

- The store: `dto migrate up` (the real schema), then filled here with
  Python's sqlite3 (WAL, synchronous=OFF, big transactions): `events` rows
  with order-event JSON payloads of ~300-500 bytes (cloids, symbols,
  quantities, prices, varied so that zstd's ratio is a realistic one), and
  one `orders` and one `fills` row every 8 events, until the file reaches
  BENCH_BACKUP_MB (1024) MiB.
- dto: `dto backup full`, `dto backup verify --latest`, `dto restore --to
  DIR --latest` (DTO_BACKUP_KEY set), each timed (wall) with the child's
  peak RSS (os.wait4), and MB/s of the store's size.
- The reference in the same run, on the same file: `sqlite3 store.db
  ".backup ref.db"` then `zstd -3 -T1` (dto's level 3, one thread), and for
  the restore `zstd -d` then a copy into a fresh folder.
- The archive's size next to the .zst file's, and `dto drill`'s RTO when
  the command exists.
"""
import glob
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time

dto, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
target_mb = int(os.environ.get("BENCH_BACKUP_MB", "1024"))
os.makedirs(work, exist_ok=True)
KEY = "0123456789abcdef" * 4
MIB = 1024 * 1024
STORE = os.path.join(work, "store.db")
CFG = os.path.join(work, "c.yaml")


def env():
    e = dict(os.environ)
    e["DTO_BACKUP_KEY"] = KEY
    return e


def timed(argv, **kw):
    """(seconds, peak RSS in MiB, CompletedProcess-like (rc, out, err))."""
    # /usr/bin/time -f %M: the peak RSS of the command alone (the rusage
    # of a child forked from this process starts from this process's own
    # peak: Linux carries ru_maxrss across the exec)
    rssf = os.path.join(work, "rss.txt")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rssf, *argv],
                       capture_output=True, cwd=work, env=env(), **kw)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{argv} exited {p.returncode}:\n{p.stdout.decode()}"
                 f"{p.stderr.decode()}")
    with open(rssf) as f:
        rss = int(f.read().split()[-1]) / 1024
    return secs, rss, p.stdout.decode()


SYMS = [f"S{i:03d}" for i in range(200)] + ["AAPL", "MSFT", "NVDA", "TSLA",
                                            "BTC-USD", "ETH-USD", "SPY"]
STRATS = ["mac", "meanrev", "breakout", "pairs", "vwap"]
ACCTS = ["paper", "live-a", "live-b"]
TYPES = ["order.submitted", "order.accepted", "order.filled",
         "order.partially_filled", "order.cancelled", "risk.decision"]
STATES = {"order.submitted": "pending_new", "order.accepted": "new",
          "order.filled": "filled", "order.partially_filled":
          "partially_filled", "order.cancelled": "cancelled",
          "risk.decision": "new"}
REASONS = ["signal: fast MA crossed above slow", "signal: z-score -2.1",
           "signal: range breakout", "rebalance", "take profit",
           "stop loss", "end of session flatten", "manual"]


GEN = {"rnd": random.Random(7), "t": 1_796_000_000_000_000_000, "seq": 0}


def add_rows(con, batch):
    """batch events (and an order and a fill every 8) in one transaction."""
    rnd, t, seq = GEN["rnd"], GEN["t"], GEN["seq"]
    rb, rc, rr = rnd.getrandbits, rnd.choice, rnd.randrange
    if True:
        events, orders, fills = [], [], []
        for _ in range(batch):
            seq += 1
            t += rr(1_000, 50_000_000)
            typ, sym, strat, acct = rc(TYPES), rc(SYMS), rc(STRATS), rc(ACCTS)
            cloid = f"dto-{strat}-{sym}-{seq:010d}-{rb(32):08x}"
            qty = rr(1, 100_000) * 1_000_000
            px = rr(100_000_000, 90_000_000_000)
            filled = qty if typ == "order.filled" else (
                qty // rr(2, 5) if typ == "order.partially_filled" else 0)
            side = "buy" if rb(1) else "sell"
            payload = (
                f'{{"cloid":"{cloid}","broker_id":"{rb(64):016x}-{rb(32):08x}",'
                f'"account":"{acct}","strategy":"{strat}","symbol":"{sym}",'
                f'"side":"{side}","type":"limit","tif":"day",'
                f'"qty":{qty},"limit_price":{px},"stop_price":0,'
                f'"state":"{STATES[typ]}","filled":{filled},'
                f'"avg_price":{px - rr(0, 5_000_000) if filled else 0},'
                f'"fees":{filled // 10_000 if filled else 0},'
                f'"reason":"{rc(REASONS)}","venue":"paper",'
                f'"latency_ns":{rr(20_000, 4_000_000)},'
                f'"risk":{{"decision":"{"reject" if rb(5) == 0 else "accept"}",'
                f'"exposure":{rr(0, 10**14)},"limit":{10**14},'
                f'"rule":"max_position_notional"}},'
                f'"bar":{{"open":{px + rr(-10**7, 10**7)},"high":{px + rr(0, 10**7)},'
                f'"low":{px - rr(0, 10**7)},"close":{px},"volume":{rr(0, 10**12)}}}}}')
            events.append((t, typ, acct, strat, payload))
            if seq % 8 == 0:
                # jseq: the journal's seq as dto's store writes it
                orders.append((cloid, f"{rb(64):016x}", acct, strat, sym,
                               side, "limit", "day", qty, px, 0, "filled",
                               qty, px, qty // 10_000, t, t + 1000, seq))
                fills.append((f"{rb(64):016x}{rb(32):08x}", cloid, qty, px,
                              qty // 10_000, t + 1000, seq))
        con.execute("BEGIN")
        con.executemany("INSERT INTO events (time, type, account, strategy,"
                        " payload) VALUES (?,?,?,?,?)", events)
        con.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,"
                        "?,?,?,?,?,?)", orders)
        con.executemany("INSERT INTO fills VALUES (?,?,?,?,?,?,?)", fills)
        con.execute("COMMIT")
    GEN["t"], GEN["seq"] = t, seq


def fill_store():
    r = subprocess.run([dto, "migrate", "up", "--store", "sqlite:" + STORE],
                       capture_output=True, text=True, cwd=work)
    if r.returncode != 0:
        sys.exit("dto migrate up: " + r.stdout + r.stderr)
    con = sqlite3.connect(STORE, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-200000")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    t0 = time.perf_counter()
    while True:
        add_rows(con, 40_000)
        if con.execute("PRAGMA page_count").fetchone()[0] * page \
                >= target_mb * MIB:
            break
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return GEN["seq"], time.perf_counter() - t0


def write_config():
    with open(CFG, "w") as f:
        f.write(f"""log_level: warn
accounts:
  - id: paper
    cash: 1000000
instruments:
  - symbol: AAPL
    asset_class: crypto
strategies:
  - id: mac
    type: ma_crossover
    symbols: [AAPL]
    params: {{ fast: 2, slow: 5 }}
run:
  feed: replay
  state_dir: {work}/state
  store: sqlite:{STORE}
backup:
  dir: {work}/bk
  level: 3
""")


def main():
    print(f"filling {STORE} to {target_mb} MiB ...", flush=True)
    rows, gen = fill_store()
    size = os.path.getsize(STORE)
    mb = size / MIB
    print(f"store: {mb:.0f} MiB, {rows:,} events, made in {gen:.0f} s",
          flush=True)
    write_config()

    res = {}
    res["backup"] = timed([dto, "backup", "full", "-c", CFG])
    arch = max(glob.glob(os.path.join(work, "bk", "**", "*.dtobak"),
                         recursive=True), key=os.path.getmtime)
    asize = os.path.getsize(arch)
    res["verify"] = timed([dto, "backup", "verify", "--latest", "-c", CFG])
    res["restore"] = timed([dto, "restore", "--to",
                            os.path.join(work, "restored"), "--latest",
                            "-c", CFG])
    rdb = os.path.join(work, "restored", "store.db")
    if os.path.exists(rdb):
        con = sqlite3.connect(rdb)
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
        con.close()
        assert n == rows, (n, rows)
    else:
        sys.exit("no restored store.db in " + os.path.join(work, "restored"))
    shutil.rmtree(os.path.join(work, "restored"))

    # a log backup of 100,000 new events (~7 % of the store), and the
    # restore of that point (the full backup and the log applied on it)
    con = sqlite3.connect(STORE, isolation_level=None)
    add_rows(con, 100_000)
    con.close()
    last = GEN["seq"]
    res["log"] = timed([dto, "backup", "log", "-c", CFG])
    larch = max(glob.glob(os.path.join(work, "bk", "log-*.dtobak")),
                key=os.path.getmtime)
    lsize = os.path.getsize(larch)
    res["restore_point"] = timed([dto, "restore", "--to",
                                  os.path.join(work, "restored"), "--seq",
                                  str(last), "-c", CFG])
    con = sqlite3.connect(os.path.join(work, "restored", "store.db"))
    n = con.execute("SELECT count(*), max(seq) FROM events").fetchone()
    con.close()
    assert n == (last, last), (n, last)
    shutil.rmtree(os.path.join(work, "restored"))
    lref = os.path.join(work, "log.zst")
    res["ref_log"] = timed(["sh", "-c",
                            f"sqlite3 {STORE} \"SELECT * FROM events WHERE "
                            f"seq > {rows}\" | zstd -3 -T1 -q -o {lref}"])
    os.unlink(lref)

    ref = os.path.join(work, "ref.db")
    res["ref_sqlite"] = timed(["sqlite3", STORE, f".backup {ref}"])
    res["ref_zstd"] = timed(["zstd", "-3", "-T1", "-q", ref, "-o",
                             ref + ".zst"])
    zsize = os.path.getsize(ref + ".zst")
    os.unlink(ref)
    res["ref_unzstd"] = timed(["zstd", "-d", "-q", ref + ".zst", "-o", ref])
    os.makedirs(os.path.join(work, "refrestore"))
    res["ref_copy"] = timed(["cp", ref, os.path.join(work, "refrestore",
                                                       "store.db")])
    shutil.rmtree(os.path.join(work, "refrestore"))
    os.unlink(ref)

    drill = None
    if subprocess.run([dto, "drill", "--help"], capture_output=True,
                      cwd=work).returncode == 0:
        secs, rss, out = timed([dto, "drill", "-c", CFG, "--json"])
        try:
            drill = (secs, rss, json.loads(out))
        except ValueError:
            drill = (secs, rss, out.strip())

    def row(label, a, b_secs, b_label):
        s, rss, _ = a
        print(f"| {label} | {s:.2f} s, {mb / s:.0f} MiB/s, peak RSS "
              f"{rss:.1f} MiB | {b_label}: {b_secs:.2f} s, "
              f"{mb / b_secs:.0f} MiB/s | {s / b_secs:.2f}x |")

    refb = res["ref_sqlite"][0] + res["ref_zstd"][0]
    refr = res["ref_unzstd"][0] + res["ref_copy"][0]
    print()
    print(f"store {mb:.0f} MiB ({size:,} bytes), {rows:,} events")
    print(f"reference parts: sqlite3 .backup {res['ref_sqlite'][0]:.2f} s, "
          f"zstd -3 -T1 {res['ref_zstd'][0]:.2f} s (peak RSS "
          f"{res['ref_zstd'][1]:.1f} MiB); zstd -d {res['ref_unzstd'][0]:.2f}"
          f" s, cp {res['ref_copy'][0]:.2f} s")
    print("| figure | dto | reference (same run) | ratio |")
    print("| --- | --- | --- | --- |")
    row("`dto backup full`", res["backup"], refb,
        "`sqlite3 .backup` + `zstd -3 -T1`")
    row("`dto restore --latest`", res["restore"], refr, "`zstd -d` + `cp`")
    row("`dto backup verify --latest`", res["verify"],
        res["ref_unzstd"][0], "`zstd -d`")
    print(f"| archive size | {asize / MIB:.1f} MiB ({size / asize:.2f}:1) | "
          f"`.zst` {zsize / MIB:.1f} MiB ({size / zsize:.2f}:1) | "
          f"{asize / zsize:.3f}x |")
    s, rss, _ = res["log"]
    print(f"| `dto backup log` (100,000 new events) | {s:.2f} s, peak RSS "
          f"{rss:.1f} MiB, archive {lsize / MIB:.1f} MiB | `sqlite3 SELECT "
          f"... WHERE seq > N` + `zstd -3 -T1`: {res['ref_log'][0]:.2f} s "
          f"| {s / res['ref_log'][0]:.2f}x |")
    s, rss, _ = res["restore_point"]
    print(f"| `dto restore --seq N` (full + log) | {s:.2f} s, peak RSS "
          f"{rss:.1f} MiB | `dto restore --latest` of the full alone: "
          f"{res['restore'][0]:.2f} s | {s / res['restore'][0]:.2f}x |")
    if drill:
        print(f"dto drill: {drill[0]:.2f} s wall, peak RSS {drill[1]:.1f} "
              f"MiB: {json.dumps(drill[2]) if not isinstance(drill[2], str) else drill[2]}")
    else:
        print("dto drill: not in this build")


main()
