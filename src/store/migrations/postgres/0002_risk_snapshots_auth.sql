-- 0002_risk_snapshots_auth: daily P&L, risk decisions, engine snapshots,
-- idempotency keys, and room for users, sessions and the audit log.

CREATE TABLE daily_pnl (
  account    text NOT NULL,
  strategy   text NOT NULL,
  day        integer NOT NULL, -- YYYYMMDD, exchange date
  realized   bigint NOT NULL,
  unrealized bigint NOT NULL,
  fees       bigint NOT NULL,
  trades     bigint NOT NULL,
  updated    bigint NOT NULL,
  PRIMARY KEY (account, strategy, day)
);

CREATE TABLE risk_decisions (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time       bigint NOT NULL,
  account    text NOT NULL,
  strategy   text NOT NULL,
  cloid      text NOT NULL,
  symbol     text NOT NULL,
  check_name text NOT NULL,
  accepted   boolean NOT NULL,
  reason     text NOT NULL
);
CREATE INDEX risk_decisions_time ON risk_decisions (time);

CREATE TABLE snapshots (
  seq  bigint PRIMARY KEY, -- the last journal event the snapshot includes
  time bigint NOT NULL,
  data bytea NOT NULL
);

CREATE TABLE idempotency_keys (
  key          text PRIMARY KEY,
  request_hash text NOT NULL,
  status       integer NOT NULL,
  body         text NOT NULL,
  created      bigint NOT NULL
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);

CREATE TABLE users (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name          text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  role          text NOT NULL,
  totp_secret   text NOT NULL DEFAULT '',
  disabled      boolean NOT NULL DEFAULT false,
  created       bigint NOT NULL,
  updated       bigint NOT NULL
);

CREATE TABLE sessions (
  id        text PRIMARY KEY, -- a hash of the session token, never the token
  user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created   bigint NOT NULL,
  expires   bigint NOT NULL,
  last_seen bigint NOT NULL,
  address   text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE audit_log (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time    bigint NOT NULL,
  actor   text NOT NULL,  -- user name, token id or "system"
  action  text NOT NULL,
  target  text NOT NULL DEFAULT '',
  detail  text NOT NULL DEFAULT '{}', -- JSON
  address text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_time ON audit_log (time);
