-- 0005_backup_points: what incremental and log backups need.
--
-- jseq: the journal's seq when the row was last written (the greatest
-- event seq at that moment; 0 for rows written before this migration).
-- The journal writer appends a step's events before its rows, in one
-- transaction, so a row changed after a backup that ended at seq A has
-- jseq >= A: an incremental or log backup from A takes the rows with
-- jseq >= A (docs/internals/backup.md).
ALTER TABLE orders ADD COLUMN jseq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fills ADD COLUMN jseq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE positions ADD COLUMN jseq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE daily_pnl ADD COLUMN jseq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_jseq ON orders (jseq);
CREATE INDEX fills_jseq ON fills (jseq);
CREATE INDEX positions_jseq ON positions (jseq);
CREATE INDEX daily_pnl_jseq ON daily_pnl (jseq);

-- The outcome of every backup, verification and drill (dto backup,
-- dto drill, and their scheduled jobs): kind is "full", "incremental",
-- "log", "config", "verify" or "drill"; detail a JSON object (the backup
-- id, its seq range, RTO and RPO of a drill, the error).  seq is
-- max(seq) + 1, given by store_backup_log_put() under the write lock.
CREATE TABLE backup_log (
  seq    INTEGER PRIMARY KEY,
  time   INTEGER NOT NULL,
  kind   TEXT NOT NULL CHECK (kind <> ''),
  ok     INTEGER NOT NULL,
  detail TEXT NOT NULL
) STRICT;
CREATE INDEX backup_log_kind ON backup_log (kind, seq);
