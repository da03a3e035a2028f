/* backup.h - `dto backup`, `dto restore` and `dto drill`: full,
 * incremental, log and configuration backups, their verification, listing,
 * pruning and restore (to the latest point or a point in time), drills.
 *
 * A full backup is a consistent copy of the live store made with SQLite's
 * online backup API (it works while `dto run` writes: WAL lets the copy read
 * one snapshot), packed into an encrypted archive (ops/backup_fmt.h) named
 * full-YYYYMMDDTHHMMSSZ.dtobak in the primary folder, verified, and copied
 * to the secondary folder when there is one.  The archive holds the file
 * store.db and, when given, config.yaml; its manifest says what the store
 * held (schema_version, seq_first, seq_last, events, orders, fills) so a
 * verification can check the restored database against it.
 *
 * Incremental and log backups and point-in-time restore are
 * backup_chain.c's, PostgreSQL stores (full backups with pg_dump)
 * backup_pg.c's; scheduling is the caller's (app/backup_jobs.h).  The key
 * is the caller's (backup_key_load).
 *
 * Errors: 0 or a DTO_E* code with one line in err (cap bytes; may be NULL
 * when cap is 0); no message holds key material.
 */
#ifndef DTO_OPS_BACKUP_H
#define DTO_OPS_BACKUP_H

#include "core/prelude.h"
#include "ops/backup_fmt.h"
#include "ops/retention.h"

#define BACKUP_EXT ".dtobak"
#define BACKUP_ERR_MAX 1024
/* Where every new archive is copied besides the primary folder: a second
 * folder, and/or an upload command (rsync, rclone, ...) run without a
 * shell with "{file}" in its arguments replaced by the archive's path and
 * "{name}" by its file name.  Each copy is verified: the folder's by
 * reading it back whole; the upload's by its exit status and, when fetch
 * is given, by running fetch ("{name}", and "{dest}": a scratch path) and
 * verifying what it brought back.  A command that runs past timeout_s is
 * killed.  NULL argv: none. */
typedef struct backup_secondary {
  const char *dir;
  char *const *upload; /* NULL-terminated argv */
  char *const *fetch;  /* NULL-terminated argv */
  int timeout_s;       /* 0: 600 */
} backup_secondary;

/* backup_full's result when the primary archive was written and verified
 * but the copy to the secondary folder failed (positive on purpose: the
 * backup exists, the redundancy does not). */
#define BACKUP_ESECONDARY 1

/* One archive of a folder, as backup_list sees it. */
typedef struct backup_info {
  char id[RET_ID_MAX + 1]; /* the file name without ".dtobak" */
  char path[4096];
  char kind[16];               /* the manifest's kind; "?" when unreadable */
  dto_time time;               /* the manifest's "created"; else the mtime */
  uint64_t size;               /* bytes of the archive */
  int64_t seq_first, seq_last; /* the journal's range; 0 when empty */
  char parent[RET_ID_MAX + 1]; /* what an incremental or log builds on */
  bool ok;                     /* the manifest was read */
  char err[256];               /* why not, when !ok */
} backup_info;

/* For a command-line process: every later read of an archive by restore
 * and verify reports its bytes through fn (NULL: none).  Not for threads:
 * `dto run`'s jobs never set it. */
void backup_set_progress(backup_progress_fn *fn, void *ctx);

/* Take a full backup of the SQLite store at store_url ("sqlite:PATH" or a
 * path) into dir (created 0700), as described at the top, then a copy
 * as sec says (may be NULL), with zstd level (1..19).  key is the
 * archive key; config_path (may be NULL) is added as config.yaml; progress
 * (may be NULL) sees the archive's bytes.  id_out (idcap bytes) gets the
 * new backup's id.  Returns 0, BACKUP_ESECONDARY (the primary archive is
 * in place and verified; err names the secondary folder), or a DTO_E*
 * code with nothing left in dir. */
int backup_full(const char *store_url, const char *dir,
                const backup_secondary *sec, int level,
                const uint8_t key[BACKUP_KEY_BYTES], const char *config_path,
                backup_progress_fn *progress, void *progress_ctx, char *id_out,
                size_t idcap, char *err, size_t cap);

/* Verify the archive at path completely: every byte authenticated and
 * checksummed, then store.db extracted into a new folder under scratch,
 * `PRAGMA integrity_check` ok, the schema version, events count and last
 * seq equal to the manifest's.  The folder is removed whatever happens.
 * *manifest (may be NULL) gets a new reference on success. */
int backup_verify_one(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                      const char *scratch, json_t **manifest, char *err,
                      size_t cap);

/* Every *.dtobak of dir, sorted by time then id, into *out (the caller
 * frees it; *n entries).  An archive whose manifest cannot be read is
 * listed with ok false.  A missing folder is an empty list.  key may be
 * NULL: then no manifest is read. */
int backup_list(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                backup_info **out, size_t *n, char *err, size_t cap);

/* Resolve ref (an id, an id with ".dtobak", or a path) in dir, or the
 * newest readable backup when ref is NULL, into path (cap bytes). */
int backup_find(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                const char *ref, char *path, size_t pcap, char *err,
                size_t cap);

/* Restore the full backup at path into to_dir (created 0700): the store is
 * verified as backup_verify_one does, then renamed into to_dir under the
 * live store's file name (the manifest's store_name, else store.db).
 * Refuses (DTO_EEXIST) when to_dir holds dto.db, store.db or that name,
 * unless force; always refuses (DTO_EBUSY) when to_dir/dto.pid names a
 * live process.  Nothing is left in to_dir on failure.  restored (rcap
 * bytes, may be NULL) gets the restored file's path. */
int backup_restore(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                   const char *to_dir, bool force, char *restored, size_t rcap,
                   char *err, size_t cap);

/* ---- incremental and log backups, point-in-time restore -------------------
 * An incremental backup holds what changed in the store since the newest
 * full or incremental backup of dir, a log backup what changed since the
 * newest backup of any kind (its parent, named in the manifest with the
 * seq range (seq_from, seq_last]).  Both read the live store in one read
 * transaction, so each is a consistent point: the store as it was at the
 * commit that ended at seq_last (backup_chain.c says what each holds).
 * Refused (DTO_ENOENT) without a full backup to build on, and (DTO_ESTATE)
 * when the store is not the one the chain was taken of, or was migrated
 * since.  Secondary copy and result as backup_full. */
int backup_delta(const char *store_url, const char *dir,
                 const backup_secondary *sec, int level,
                 const uint8_t key[BACKUP_KEY_BYTES], bool incremental,
                 char *id_out, size_t idcap, char *err, size_t cap);

/* Where a restore landed. */
typedef struct backup_point {
  char id[RET_ID_MAX + 1]; /* the last backup applied */
  int64_t seq;             /* the journal's last seq in the result */
  dto_time time;           /* when that backup was taken */
  size_t links;            /* backups applied, the full one included */
  char chain[1024];        /* "full-... -> incremental-... -> log-..." */
} backup_point;

/* Restore into to_dir (as backup_restore: refusals, nothing left behind
 * on failure) the store as it was at a point: the backup ref (an id or a
 * path) when given, else the newest backup of dir whose seq_last <= seq
 * and whose time <= at (INT64_MAX: no bound) and whose chain is whole.
 * The chain's full backup is extracted and checked, each incremental and
 * log applied in order (each must continue the one before: same schema,
 * its seq_from the previous seq_last), and the result checked against the
 * target's manifest (integrity, events, last seq).  *pt says where it
 * landed. */
int backup_restore_at(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                      const char *ref, int64_t seq, dto_time at,
                      const char *to_dir, bool force, backup_point *pt,
                      char *restored, size_t rcap, char *err, size_t cap);

/* The backup a restore at a point would take (backup_restore_at's choice:
 * ref, else the newest at or before seq and at) into path (pcap bytes). */
int backup_pick(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                const char *ref, int64_t seq, dto_time at, char *path,
                size_t pcap, char *err, size_t cap);

/* Restore the PostgreSQL full backup at path into the database of to_url
 * (a postgresql:// URL; the database must exist): pg_restore in one
 * transaction, then the schema version, events, last seq, orders and fills
 * against the manifest.  A database that holds a dto store already is
 * refused (DTO_EEXIST) unless force, which replaces its objects (--clean).
 * A SQLite backup is refused (DTO_EINVAL). */
int backup_restore_pg(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                      const char *to_url, bool force, char *err, size_t cap);

/* Verify an incremental or log backup (path, in its chain's folder): its
 * whole chain restored into a scratch folder under scratch and checked. */
int backup_verify_chain(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                        const char *scratch, char *err, size_t cap);

/* Apply the retention policy at now to the backups of dir: ret_plan over
 * the readable ones, then delete the others unless dry_run.  Each decision
 * is printed to out ("keep ID (reasons)" / "delete ID").  Unreadable
 * archives are kept and reported. */
int backup_prune(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                 const ret_policy *policy, dto_time now, bool dry_run,
                 FILE *out, char *err, size_t cap);

/* The outcome of the full backups of a folder, for the metrics and the
 * BackupFailed / BackupOverdue rules: DIR/.dto-backup-status.json, written
 * whole (atomically) after every attempt, by `dto backup full` and by the
 * scheduled job of `dto run` alike. */
typedef struct backup_status {
  dto_time last_success; /* 0: never */
  dto_time last_attempt;
  bool last_failed;
  char error[256]; /* the last failure's message ("" after success) */
} backup_status;

/* The same for each kind ("full", "incremental", "log", "config"): the
 * status file holds one object per kind. */
int backup_status_read_kind(const char *dir, const char *kind,
                            backup_status *out);
int backup_status_note_kind(const char *dir, const char *kind, bool ok,
                            dto_time at, const char *error);
/* A verification of the backup at path (in dir): kept per backup id (for
 * dto backup list) and as the folder's latest verification (metrics). */
int backup_verified_note(const char *dir, const char *path, bool ok,
                         dto_time at, const char *error);
/* The last verification of backup id: 0, or DTO_ENOENT (never). */
int backup_verified_read(const char *dir, const char *id, dto_time *at,
                         bool *ok);
/* The folder's latest verification: 0, or DTO_ENOENT (never). */
int backup_verify_last(const char *dir, dto_time *at, bool *ok);

/* Read it: 0, DTO_ENOENT (no attempt yet), or DTO_EPARSE. */
int backup_status_read(const char *dir, backup_status *out);
/* Note an attempt at `at`: ok, or failed with error.  0 or an error code
 * (the folder cannot be written). */
int backup_status_note(const char *dir, bool ok, dto_time at,
                       const char *error);

/* A configuration backup: config_path (as config.yaml) and files (by
 * their base names, which must be distinct and archive-safe) archived as
 * kind "config" into dir/config/config-YYYYMMDDTHHMMSSZ.dtobak, verified,
 * and copied as sec says (its folder's "config" subfolder).  A file holding a
 * private key (PEM) or a 64-hex-digit key is refused (DTO_EREJECT) before
 * anything is written: secrets are never in a configuration backup. */
int backup_config(const char *config_path, const char *const *files,
                  size_t nfiles, const char *dir, const backup_secondary *sec,
                  const uint8_t key[BACKUP_KEY_BYTES], char *id_out,
                  size_t idcap, char *err, size_t cap);

/* Record an outcome (kind "full", "incremental", "log", "config", "verify"
 * or "drill"; detail_json a JSON object, may be NULL) in the store's
 * backup_log table (migration 0005): 0, DTO_EUNSUPPORTED (not a SQLite
 * file), or an I/O error.  Best effort for the callers: the status file
 * is what the metrics read. */
int backup_record(const char *store_url, const char *kind, bool ok, dto_time at,
                  const char *detail_json);
/* The same with the detail {"id", "error"} of a backup or verification. */
int backup_record_outcome(const char *store_url, const char *kind, bool ok,
                          dto_time at, const char *id, const char *error);

/* ---- drills
 * ------------------------------------------------------------------ A
 * disaster-recovery drill (`dto drill`): a full backup of the live store,
 * restored into a scratch folder and checked as a restored dto would need
 * it, timed.  RTO is the seconds from the start of the restore to the end
 * of the checks; RPO is what the journal holds beyond the backup when the
 * drill ends (events with seq above the manifest's seq_last, and the
 * seconds between the newest live event and the newest backed-up one). */
typedef struct backup_drill {
  dto_time at; /* when the drill started */
  bool ok;
  double rto_s, rpo_s;
  int64_t rpo_events;
  char backup_id[64];         /* "" when the backup step failed */
  char error[256];            /* "STEP: why" when !ok, else "" */
  double restore_s, verify_s; /* the two parts of rto_s (not recorded) */
} backup_drill;

/* Run a drill: backup_full(store_url, dir, sec, level, key,
 * config_path) and a log backup on it (backup_delta), then
 * backup_restore_at that point (the chain full -> log) into keep_dir (which
 * must not exist; it is left in place) or, when keep_dir is NULL, into a new
 * folder under dir that is removed afterwards; then PRAGMA integrity_check,
 * store_open with the current schema, store_snapshot_latest (when the live
 * store had a snapshot the backup covers), events count and max seq equal to
 * the manifest's; then the RPO against the live store.  Fills *d whatever
 * happens.  Returns 0 when the drill passed, else the failing step's error
 * code (d->error names the step: "backup:", "restore:", "verify:",
 * "rpo:"). */
int backup_drill_run(const char *store_url, const char *dir,
                     const backup_secondary *sec, int level,
                     const uint8_t key[BACKUP_KEY_BYTES],
                     const char *config_path, const char *keep_dir,
                     backup_drill *d);

/* The end of a drill d of the store at store_url (may be NULL) with the
 * backups of dir: its backup step noted like any full backup, the outcome
 * in the store's backup_log and as the folder's last drill
 * (backup_drill_note's result). */
int backup_drill_finish(const char *store_url, const char *dir,
                        const backup_drill *d);

/* Record d as the last drill of dir under the "drill" key of the status
 * file (the "full" object is kept; the file is replaced atomically). */
int backup_drill_note(const char *dir, const backup_drill *d);
/* The last drill recorded in dir: 0, DTO_ENOENT (none yet) or DTO_EPARSE.
 * restore_s and verify_s are 0. */
int backup_drill_read(const char *dir, backup_drill *out);

#endif
