-- 0001_journal: the event journal, orders, fills, positions, accounts.
-- Money, prices and quantities are fixed-point integers (value * 1e8);
-- times are nanoseconds since the Unix epoch, UTC.

CREATE TABLE events (
  seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time     bigint NOT NULL,
  type     text NOT NULL,
  account  text NOT NULL,
  strategy text NOT NULL,
  payload  text NOT NULL
);

CREATE TABLE orders (
  cloid       text PRIMARY KEY,
  broker_id   text NOT NULL,
  account     text NOT NULL,
  strategy    text NOT NULL,
  symbol      text NOT NULL,
  side        text NOT NULL,
  type        text NOT NULL,
  tif         text NOT NULL,
  qty         bigint NOT NULL,
  limit_price bigint NOT NULL,
  stop_price  bigint NOT NULL,
  state       text NOT NULL,
  filled      bigint NOT NULL,
  avg_price   bigint NOT NULL,
  fees        bigint NOT NULL,
  created     bigint NOT NULL,
  updated     bigint NOT NULL
);
CREATE INDEX orders_account ON orders (account, strategy, state);

CREATE TABLE fills (
  fill_id text PRIMARY KEY,
  cloid   text NOT NULL,
  qty     bigint NOT NULL,
  price   bigint NOT NULL,
  fee     bigint NOT NULL,
  time    bigint NOT NULL
);
CREATE INDEX fills_cloid ON fills (cloid);
CREATE INDEX fills_time ON fills (time);

CREATE TABLE positions (
  account  text NOT NULL,
  strategy text NOT NULL,
  symbol   text NOT NULL,
  qty      bigint NOT NULL,
  cost     bigint NOT NULL,
  realized bigint NOT NULL,
  fees     bigint NOT NULL,
  updated  bigint NOT NULL,
  PRIMARY KEY (account, strategy, symbol)
);

CREATE TABLE accounts (
  id       text PRIMARY KEY,
  name     text NOT NULL DEFAULT '',
  broker   text NOT NULL DEFAULT '',
  currency text NOT NULL DEFAULT 'USD',
  cash     bigint NOT NULL DEFAULT 0,
  created  bigint NOT NULL,
  updated  bigint NOT NULL
);
