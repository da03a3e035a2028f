-- 0005_backup_points: what incremental and log backups need.
--
-- jseq: the journal's seq when the row was last written; the SQLite
-- back-end fills it (its incremental and log backups read it).  On
-- PostgreSQL it stays 0: point-in-time recovery there is PostgreSQL's own
-- (WAL archiving), docs/operations.md.
ALTER TABLE orders ADD COLUMN jseq bigint NOT NULL DEFAULT 0;
ALTER TABLE fills ADD COLUMN jseq bigint NOT NULL DEFAULT 0;
ALTER TABLE positions ADD COLUMN jseq bigint NOT NULL DEFAULT 0;
ALTER TABLE daily_pnl ADD COLUMN jseq bigint NOT NULL DEFAULT 0;

-- The outcome of every backup, verification and drill: kind is "full",
-- "incremental", "log", "config", "verify" or "drill"; detail a JSON
-- object.  seq is max(seq) + 1, given by store_backup_log_put() under an
-- exclusive lock on the table.
CREATE TABLE backup_log (
  seq    bigint PRIMARY KEY,
  time   bigint NOT NULL,
  kind   text NOT NULL CHECK (kind <> ''),
  ok     boolean NOT NULL,
  detail text NOT NULL
);
CREATE INDEX backup_log_kind ON backup_log (kind, seq);
