-- 0004_alert_history: the alert history (ops/alert.h's records and the
-- notifier's outcomes): one row per event of an alert ("firing",
-- "resolved", "acked", "notified", "escalated", "silenced", "delivered",
-- "dead_letter").  Times are nanoseconds since the Unix epoch, UTC.

-- seq is assigned by store_alert_put() as max(seq) + 1 while it holds an
-- exclusive lock on the table (readers do not wait for it): 1, 2, ...
-- without gaps, in commit order.  Not an identity column: a rolled-back
-- insert would leave a gap, and a reader of "seq > N" could miss a row
-- that commits after a larger seq.
CREATE TABLE alert_history (
  seq         bigint PRIMARY KEY,
  time        bigint NOT NULL,
  event       text NOT NULL CHECK (event <> ''),
  alert_id    bigint NOT NULL,
  name        text NOT NULL,
  severity    text NOT NULL,
  fingerprint text NOT NULL,
  channel     text NOT NULL,
  who         text NOT NULL,
  detail      text NOT NULL -- JSON object, "{}" when there is nothing
);
CREATE INDEX alert_history_time ON alert_history (time);
-- store_alert_recent() of one alert name: newest first by seq.
CREATE INDEX alert_history_name ON alert_history (name, seq);
