-- 0001_journal: the event journal, orders, fills, positions, accounts.
-- Money, prices and quantities are fixed-point integers (value * 1e8);
-- times are nanoseconds since the Unix epoch, UTC.

CREATE TABLE events (
  seq      INTEGER PRIMARY KEY AUTOINCREMENT,
  time     INTEGER NOT NULL,
  type     TEXT NOT NULL,
  account  TEXT NOT NULL,
  strategy TEXT NOT NULL,
  payload  TEXT NOT NULL
) STRICT;

CREATE TABLE orders (
  cloid       TEXT PRIMARY KEY,
  broker_id   TEXT NOT NULL,
  account     TEXT NOT NULL,
  strategy    TEXT NOT NULL,
  symbol      TEXT NOT NULL,
  side        TEXT NOT NULL,
  type        TEXT NOT NULL,
  tif         TEXT NOT NULL,
  qty         INTEGER NOT NULL,
  limit_price INTEGER NOT NULL,
  stop_price  INTEGER NOT NULL,
  state       TEXT NOT NULL,
  filled      INTEGER NOT NULL,
  avg_price   INTEGER NOT NULL,
  fees        INTEGER NOT NULL,
  created     INTEGER NOT NULL,
  updated     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX orders_account ON orders (account, strategy, state);

CREATE TABLE fills (
  fill_id TEXT PRIMARY KEY,
  cloid   TEXT NOT NULL,
  qty     INTEGER NOT NULL,
  price   INTEGER NOT NULL,
  fee     INTEGER NOT NULL,
  time    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX fills_cloid ON fills (cloid);
CREATE INDEX fills_time ON fills (time);

CREATE TABLE positions (
  account  TEXT NOT NULL,
  strategy TEXT NOT NULL,
  symbol   TEXT NOT NULL,
  qty      INTEGER NOT NULL,
  cost     INTEGER NOT NULL,
  realized INTEGER NOT NULL,
  fees     INTEGER NOT NULL,
  updated  INTEGER NOT NULL,
  PRIMARY KEY (account, strategy, symbol)
) STRICT, WITHOUT ROWID;

CREATE TABLE accounts (
  id       TEXT PRIMARY KEY,
  name     TEXT NOT NULL DEFAULT '',
  broker   TEXT NOT NULL DEFAULT '',
  currency TEXT NOT NULL DEFAULT 'USD',
  cash     INTEGER NOT NULL DEFAULT 0,
  created  INTEGER NOT NULL,
  updated  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
