-- 0002_risk_snapshots_auth: daily P&L, risk decisions, engine snapshots,
-- idempotency keys, and room for users, sessions and the audit log.

CREATE TABLE daily_pnl (
  account    TEXT NOT NULL,
  strategy   TEXT NOT NULL,
  day        INTEGER NOT NULL, -- YYYYMMDD, exchange date
  realized   INTEGER NOT NULL,
  unrealized INTEGER NOT NULL,
  fees       INTEGER NOT NULL,
  trades     INTEGER NOT NULL,
  updated    INTEGER NOT NULL,
  PRIMARY KEY (account, strategy, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE risk_decisions (
  id       INTEGER PRIMARY KEY,
  time     INTEGER NOT NULL,
  account  TEXT NOT NULL,
  strategy TEXT NOT NULL,
  cloid    TEXT NOT NULL,
  symbol   TEXT NOT NULL,
  check_name TEXT NOT NULL,
  accepted INTEGER NOT NULL,
  reason   TEXT NOT NULL
) STRICT;
CREATE INDEX risk_decisions_time ON risk_decisions (time);

CREATE TABLE snapshots (
  seq  INTEGER PRIMARY KEY, -- the last journal event the snapshot includes
  time INTEGER NOT NULL,
  data BLOB NOT NULL
) STRICT;

CREATE TABLE idempotency_keys (
  key          TEXT PRIMARY KEY,
  request_hash TEXT NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT NOT NULL,
  created      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL,
  totp_secret   TEXT NOT NULL DEFAULT '',
  disabled      INTEGER NOT NULL DEFAULT 0,
  created       INTEGER NOT NULL,
  updated       INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
  id         TEXT PRIMARY KEY, -- a hash of the session token, never the token
  user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created    INTEGER NOT NULL,
  expires    INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL,
  address    TEXT NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY,
  time    INTEGER NOT NULL,
  actor   TEXT NOT NULL,  -- user name, token id or "system"
  action  TEXT NOT NULL,
  target  TEXT NOT NULL DEFAULT '',
  detail  TEXT NOT NULL DEFAULT '{}', -- JSON
  address TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_time ON audit_log (time);
