-- 0003_api_auth: the HTTP API's users, sessions, API tokens and audit log.
-- Version 2 made room for users, sessions and audit_log, but nothing ever
-- wrote them: they are dropped and made again as the store reads them.
-- Sessions and tokens are kept by the SHA-256 (hex) of their secret, never
-- the secret.  Times are nanoseconds since the Unix epoch, UTC; 0 is
-- "none" (locked_until, revoked, last_used).

DROP TABLE sessions;
DROP TABLE audit_log;
DROP TABLE users;

-- Identity columns never hand out an id twice, so a deleted user's or
-- token's id cannot come back naming another.
CREATE TABLE users (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name             text NOT NULL UNIQUE,
  role             text NOT NULL,
  password_hash    text NOT NULL,
  totp_secret      text NOT NULL,
  totp_pending     text NOT NULL,
  totp_last_step   bigint NOT NULL,
  failures         bigint NOT NULL,
  locked_until     bigint NOT NULL,
  disabled         boolean NOT NULL,
  password_changed bigint NOT NULL,
  created          bigint NOT NULL,
  updated          bigint NOT NULL
);

CREATE TABLE sessions (
  id_hash   text PRIMARY KEY, -- SHA-256 of the session id
  csrf_hash text NOT NULL,    -- SHA-256 of its CSRF token
  user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created   bigint NOT NULL,
  last_seen bigint NOT NULL,
  expires   bigint NOT NULL,
  address   text NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  hash      text NOT NULL UNIQUE, -- SHA-256 of the token's secret
  user_id   bigint NOT NULL REFERENCES users (id),
  name      text NOT NULL,
  scope     text NOT NULL,
  created   bigint NOT NULL,
  expires   bigint NOT NULL,
  revoked   bigint NOT NULL,
  last_used bigint NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- seq is assigned by the appender under an exclusive lock on the table: 1,
-- 2, ... without gaps, each record chained to the one before by prev_hash.
CREATE TABLE audit_log (
  seq       bigint PRIMARY KEY,
  time      bigint NOT NULL,
  actor     text NOT NULL,
  address   text NOT NULL,
  action    text NOT NULL,
  target    text NOT NULL,
  outcome   text NOT NULL,
  detail    text NOT NULL, -- JSON
  prev_hash text NOT NULL,
  hash      text NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time);
