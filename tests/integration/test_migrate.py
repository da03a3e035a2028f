"""`dto migrate`: schema versions of a SQLite file, output and exit codes."""
import sqlite3
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(p.stem for p in (ROOT / "src/store/migrations/sqlite").glob("*.sql"))
LATEST = len(NAMES)


@pytest.fixture(autouse=True)
def _wired(run, monkeypatch):
    monkeypatch.delenv("DTO_STORE_URL", raising=False)
    r = run("migrate", "--help")
    if "is not a dto command" in r.stderr:
        pytest.skip("'migrate' is not in src/cli/main.c's command table yet")


def versions(db):
    con = sqlite3.connect(db)
    try:
        return [v for (v,) in con.execute(
            "SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        con.close()


def test_help(run):
    r = run("migrate", "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: dto migrate")
    assert "--store" in r.stdout and "DTO_STORE_URL" in r.stdout


def test_status_of_missing_file_creates_nothing(run, tmp_path):
    db = tmp_path / "dto.db"
    r = run("migrate", "status", "--store", f"sqlite:{db}")
    assert r.returncode == 1
    assert "no database there" in r.stderr
    assert "dto migrate up" in r.stderr
    assert not db.exists()


def test_to_up_status(run, tmp_path):
    assert LATEST >= 2
    db = tmp_path / "dto.db"
    r = run("migrate", "--to", "1", "--store", f"sqlite:{db}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"store: sqlite:{db}", f"applied {NAMES[0]}",
        f"schema version: 1 (latest known: {LATEST})"]
    assert versions(db) == [1]

    r = run("migrate", "--store", str(db))  # status is the default
    assert r.returncode == 0, r.stderr
    assert "schema version: 1\n" in r.stdout
    assert f"latest known: {LATEST}\n" in r.stdout
    for name in NAMES[1:]:
        assert f"pending: {name}\n" in r.stdout

    r = run("migrate", "up", "--store", f"sqlite:{db}")
    assert r.returncode == 0, r.stderr
    assert [ln for ln in r.stdout.splitlines() if ln.startswith("applied")] == \
        [f"applied {n}" for n in NAMES[1:]]
    assert f"schema version: {LATEST} (up to date)" in r.stdout
    assert versions(db) == list(range(1, LATEST + 1))

    r = run("migrate", "up", "--store", f"sqlite:{db}")
    assert r.returncode == 0, r.stderr
    assert "nothing to apply" in r.stdout
    r = run("migrate", "status", "--store", f"sqlite:{db}")
    assert r.returncode == 0, r.stderr
    assert "up to date" in r.stdout

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_v3_database_in_use_goes_to_v4(run, tmp_path):
    """A database at version 3 (the HTTP API's tables in use) is taken to
    version 4, the alert history, keeping its rows."""
    assert LATEST >= 4 and NAMES[3] == "0004_alert_history"
    db = tmp_path / "dto.db"
    r = run("migrate", "--to", "3", "--store", f"sqlite:{db}")
    assert r.returncode == 0, r.stderr
    assert versions(db) == [1, 2, 3]
    con = sqlite3.connect(db)
    con.execute("INSERT INTO users (name, role, password_hash, totp_secret, "
                "totp_pending, totp_last_step, failures, locked_until, "
                "disabled, password_changed, created, updated) VALUES "
                "('alice', 'admin', 'x', '', '', 0, 0, 0, 0, 1, 1, 1)")
    con.execute("INSERT INTO audit_log VALUES (1, 5, 'alice', '', "
                "'auth.login', '', 'ok', '{}', '', 'h')")
    con.commit()
    assert not con.execute("SELECT name FROM sqlite_master WHERE "
                           "name = 'alert_history'").fetchall()
    con.close()

    r = run("migrate", "status", "--store", f"sqlite:{db}")
    assert r.returncode == 0, r.stderr
    assert "schema version: 3\n" in r.stdout
    assert "pending: 0004_alert_history\n" in r.stdout

    r = run("migrate", "up", "--store", f"sqlite:{db}")
    assert r.returncode == 0, r.stderr
    assert [ln for ln in r.stdout.splitlines() if ln.startswith("applied")] == \
        [f"applied {n}" for n in NAMES[3:]]
    assert versions(db) == list(range(1, LATEST + 1))
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT name FROM users").fetchall() == [("alice",)]
        assert con.execute("SELECT seq, action FROM audit_log").fetchall() == \
            [(1, "auth.login")]
        cols = [c[1] for c in con.execute("PRAGMA table_info(alert_history)")]
        assert cols == ["seq", "time", "event", "alert_id", "name", "severity",
                        "fingerprint", "channel", "who", "detail"]
        assert con.execute("SELECT count(*) FROM alert_history").fetchone() \
            == (0,)
        idx = {i[1] for i in con.execute("PRAGMA index_list(alert_history)")}
        assert "alert_history_time" in idx
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


def test_no_downgrade_and_no_unknown_version(run, tmp_path):
    db = tmp_path / "dto.db"
    assert run("migrate", "up", "--store", db).returncode == 0
    r = run("migrate", "--to", "1", "--store", db)
    assert r.returncode == 1
    assert "not supported" in r.stderr
    r = run("migrate", "--to", "99", "--store", db)
    assert r.returncode == 2
    assert f"version 99 is beyond the latest this dto knows ({LATEST})" in r.stderr
    assert versions(db) == list(range(1, LATEST + 1))


def test_newer_schema_is_refused(run, tmp_path):
    db = tmp_path / "dto.db"
    assert run("migrate", "up", "--store", db).returncode == 0
    con = sqlite3.connect(db)
    con.execute("INSERT INTO schema_migrations VALUES (7, '0007_x', 0)")
    con.commit()
    con.close()
    r = run("migrate", "status", "--store", db)
    assert r.returncode == 1
    assert f"database schema version 7 is newer than this dto knows ({LATEST})" \
        in r.stderr
    r = run("migrate", "up", "--store", db)
    assert r.returncode == 1
    assert "newer than this dto knows" in r.stderr


def test_store_from_environment(run, tmp_path, monkeypatch):
    db = tmp_path / "env.db"
    monkeypatch.setenv("DTO_STORE_URL", f"sqlite:{db}")
    r = run("migrate", "up")
    assert r.returncode == 0, r.stderr
    assert versions(db) == list(range(1, LATEST + 1))


@pytest.mark.parametrize("args, message", [
    (["--store", "mysql://h/db"], "unsupported scheme 'mysql'"),
    (["--store", ""], "store URL is empty"),
    (["--store", "sqlite:"], "no file name"),
    ([], "--store is required (or set DTO_STORE_URL)"),
    (["--to", "abc", "--store", "x.db"], "--to: 'abc' is not a version number"),
    (["--to", "-1", "--store", "x.db"], "is not a version number"),
    (["status", "--to", "1", "--store", "x.db"], "not with 'status'"),
    (["sideways", "--store", "x.db"], "unknown subcommand 'sideways'"),
    (["up", "extra", "--store", "x.db"], "unexpected argument 'extra'"),
    (["--frobnicate"], "unknown option '--frobnicate'"),
    (["--store"], "--store needs a value"),
])
def test_usage_errors(run, tmp_path, args, message):
    r = run("migrate", *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "see 'dto migrate --help'" in r.stderr
    assert not (tmp_path / "x.db").exists()


def test_password_never_on_the_command_line_nor_printed(run, monkeypatch):
    r = run("migrate", "--store", "postgresql://dto:hunter2@127.0.0.1:1/db")
    assert r.returncode == 2
    assert "PGPASSWORD" in r.stderr
    assert "hunter2" not in r.stdout + r.stderr
    # From the environment it is used, and still never shown.
    monkeypatch.setenv("DTO_STORE_URL",
                       "postgresql://dto:hunter2@127.0.0.1:1/db?connect_timeout=2")
    r = run("migrate", "status")
    assert r.returncode == 1
    assert "hunter2" not in r.stdout + r.stderr
    assert "postgresql://dto:***@127.0.0.1:1/db" in r.stderr
