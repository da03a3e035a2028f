"""dto run with a journal: the schema must be current, every order, fill
and risk decision lands in the store, and orders wait for it."""
import json
import sqlite3

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
  gen_seed: 9
  gen_days: 1
  speed: 0
  state_dir: state
  store: sqlite:{db}
"""


def test_run_refuses_unmigrated_store(run, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(db="dto.db"))
    r = run("run", "--config", tmp_path / "c.yaml", "--max-bars", "10",
            "--log", tmp_path / "l.log")
    assert r.returncode == 1
    assert "dto migrate up" in r.stderr


def test_run_journals_everything(run, tmp_path):
    db = tmp_path / "dto.db"
    (tmp_path / "c.yaml").write_text(CONFIG.format(db="dto.db"))
    r = run("migrate", "up", "--store", f"sqlite:{db}")
    assert r.returncode == 0, r.stderr
    log = tmp_path / "l.log"
    r = run("run", "--config", tmp_path / "c.yaml", "--max-bars", "780",
            "--log", log)
    assert r.returncode == 0, r.stderr
    events = [json.loads(l) for l in open(log) if l.strip()]
    sent = {e["cloid"] for e in events if e["event"] == "order.sent"}
    fills = [e for e in events if e["event"] == "order.fill"]
    assert sent and fills
    con = sqlite3.connect(db)
    rows = dict(con.execute("select cloid, state from orders").fetchall())
    # every order the engine sent is in the store, in its final state
    assert sent <= set(rows)
    assert all(rows[c] in ("filled", "canceled", "expired", "rejected")
               for c in sent)
    nfills = con.execute("select count(*) from fills").fetchone()[0]
    assert nfills == len(fills)
    kinds = dict(con.execute(
        "select type, count(*) from events group by type").fetchall())
    assert kinds.get("fill") == len(fills)
    assert kinds.get("order", 0) >= 3 * len(sent)  # new, pending_new, ...
    pos = con.execute("select count(*) from positions").fetchone()[0]
    assert pos >= 2
    ndec = con.execute("select count(*) from risk_decisions").fetchone()[0]
    assert ndec == len(sent) + sum(1 for e in events
                                   if e["event"] == "risk.refused")
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
