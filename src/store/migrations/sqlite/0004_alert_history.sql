-- 0004_alert_history: the alert history (ops/alert.h's records and the
-- notifier's outcomes): one row per event of an alert ("firing",
-- "resolved", "acked", "notified", "escalated", "silenced", "delivered",
-- "dead_letter").  Times are nanoseconds since the Unix epoch, UTC.

-- seq is assigned by store_alert_put() as max(seq) + 1 in the INSERT
-- itself, which SQLite runs under the database's write lock (one writer
-- at a time, across connections and processes): 1, 2, ... without gaps.
-- No AUTOINCREMENT: the value is always given.
CREATE TABLE alert_history (
  seq         INTEGER PRIMARY KEY,
  time        INTEGER NOT NULL,
  event       TEXT NOT NULL CHECK (event <> ''),
  alert_id    INTEGER NOT NULL,
  name        TEXT NOT NULL,
  severity    TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  channel     TEXT NOT NULL,
  who         TEXT NOT NULL,
  detail      TEXT NOT NULL -- JSON object, "{}" when there is nothing
) STRICT;
CREATE INDEX alert_history_time ON alert_history (time);
-- store_alert_recent() of one alert name: newest first by seq.
CREATE INDEX alert_history_name ON alert_history (name, seq);
