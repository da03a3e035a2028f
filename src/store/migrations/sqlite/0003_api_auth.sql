-- 0003_api_auth: the HTTP API's users, sessions, API tokens and audit log.
-- Version 2 made room for users, sessions and audit_log, but nothing ever
-- wrote them: they are dropped and made again as the store reads them.
-- Sessions and tokens are kept by the SHA-256 (hex) of their secret, never
-- the secret.  Times are nanoseconds since the Unix epoch, UTC; 0 is
-- "none" (locked_until, revoked, last_used).

DROP TABLE sessions;
DROP TABLE audit_log;
DROP TABLE users;

-- AUTOINCREMENT: an id is never reused, so a deleted user's or token's id
-- cannot come back naming another.
CREATE TABLE users (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  name             TEXT NOT NULL UNIQUE,
  role             TEXT NOT NULL,
  password_hash    TEXT NOT NULL,
  totp_secret      TEXT NOT NULL,
  totp_pending     TEXT NOT NULL,
  totp_last_step   INTEGER NOT NULL,
  failures         INTEGER NOT NULL,
  locked_until     INTEGER NOT NULL,
  disabled         INTEGER NOT NULL,
  password_changed INTEGER NOT NULL,
  created          INTEGER NOT NULL,
  updated          INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
  id_hash   TEXT PRIMARY KEY, -- SHA-256 of the session id
  csrf_hash TEXT NOT NULL,    -- SHA-256 of its CSRF token
  user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created   INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  expires   INTEGER NOT NULL,
  address   TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  hash      TEXT NOT NULL UNIQUE, -- SHA-256 of the token's secret
  user_id   INTEGER NOT NULL REFERENCES users (id),
  name      TEXT NOT NULL,
  scope     TEXT NOT NULL,
  created   INTEGER NOT NULL,
  expires   INTEGER NOT NULL,
  revoked   INTEGER NOT NULL,
  last_used INTEGER NOT NULL
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- seq is assigned by the appender under a write lock: 1, 2, ... without
-- gaps, each record chained to the one before by prev_hash.
CREATE TABLE audit_log (
  seq       INTEGER PRIMARY KEY,
  time      INTEGER NOT NULL,
  actor     TEXT NOT NULL,
  address   TEXT NOT NULL,
  action    TEXT NOT NULL,
  target    TEXT NOT NULL,
  outcome   TEXT NOT NULL,
  detail    TEXT NOT NULL, -- JSON
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_time ON audit_log (time);
