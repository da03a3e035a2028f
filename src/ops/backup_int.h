/* backup_int.h - helpers shared by backup.c (full backups, restore, list)
 * and backup_chain.c (incremental and log backups, point-in-time restore).
 * Not an interface: nothing outside src/ops/backup*.c includes it. */
#ifndef DTO_OPS_BACKUP_INT_H
#define DTO_OPS_BACKUP_INT_H

#include <jansson.h>

#include "ops/backup.h"

#define PATHCAP 4096
#define STORE_FILE "store.db"
#define CONFIG_FILE "config.yaml"
#define DELTA_FILE "delta.db"

/* The facts the manifest records of a store. */
typedef struct store_facts {
  int schema;
  int64_t seq_first, seq_last, events, orders, fills;
} store_facts;

dto_time bk_wall_now(void);
/* dir and its missing parents, each new one mode 0700. */
int bk_mkdir_private(const char *dir, char *err, size_t cap);
/* Remove every entry of dir (recursively), then dir. */
void bk_rm_flat(const char *dir);
/* A new private folder parent/prefix-XXXXXX, its path in out. */
int bk_make_scratch(const char *parent, const char *prefix, char *out,
                    size_t ocap, char *err, size_t cap);
bool bk_exists(const char *p);
/* The SQLite path of a store URL; DTO_EUNSUPPORTED for PostgreSQL. */
int bk_sqlite_path(const char *url, const char **path, char *err, size_t cap);
/* An integer member of m, -1 when absent. */
int64_t bk_jint(const json_t *m, const char *k);
int bk_read_facts(const char *db, store_facts *f, char *err, size_t cap);
/* PRAGMA integrity_check answers "ok". */
int bk_integrity(const char *db, char *err, size_t cap);
/* The store db (extracted from archive) against manifest m. */
int bk_check_store(const char *archive, const char *db, const json_t *m,
                   char *err, size_t cap);
/* A consistent copy of the live database src into the new file dst. */
int bk_snapshot(const char *src, const char *dst, char *err, size_t cap);
int bk_copy_file(const char *src, const char *dst, char *err, size_t cap);
/* dir/dto.pid names a live process. */
bool bk_live_pid(const char *dir);
int bk_write_archive(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                     const char *kind, const char *extra_json,
                     const backup_opts *opts, const char *const *names,
                     const char *const *srcs, size_t n, char *err, size_t cap);
int bk_new_id(const char *dir, const char *kind, dto_time now, char *id,
              size_t idcap, char *path, size_t pcap, char *err, size_t cap);
int bk_secondary(const char *path, const char *id, const backup_secondary *sec,
                 const uint8_t key[BACKUP_KEY_BYTES], char *err, size_t cap);

/* The greatest key of each table copied by key (audit_log, ...) of the
 * database file db, as a JSON object: the manifest's "keys". */
int bk_append_keys(const char *db, json_t **out, char *err, size_t cap);
/* Ready to_dir for a restore: created 0700, no live dto, no store unless
 * force. */
int bk_restore_prepare(const char *to_dir, bool force, char *err, size_t cap);
/* Rename the restored db into to_dir/name (stale -wal/-shm removed). */
int bk_restore_place(const char *db, const char *to_dir, const char *name,
                     bool force, char *restored, size_t rcap, char *err,
                     size_t cap);

/* Options for reading an archive: the progress hook, if one is set. */
const backup_opts *bk_read_opts(backup_opts *o);

/* ---- PostgreSQL stores (backup_pg.c) ---- */
bool bk_is_pg(const char *url);
/* A full backup: the facts and pg_dump of one exported snapshot. */
int bk_pg_full(const char *url, const char *dir, const backup_secondary *sec,
               int level, const uint8_t key[BACKUP_KEY_BYTES],
               const char *config_path, backup_progress_fn *progress,
               void *progress_ctx, char *id_out, size_t idcap, char *err,
               size_t cap);
/* Restore the extracted dump of archive (manifest m) into a scratch
 * database on the manifest's server, check it, drop it. */
int bk_pg_verify(const char *archive, const char *dump, const json_t *m,
                 char *err, size_t cap);
/* The live events beyond seq_last and the seconds they span. */
int bk_pg_rpo(const char *url, int64_t seq_last, int64_t *events,
              double *seconds, char *err, size_t cap);
int bk_pg_record(const char *url, const char *kind, bool ok, dto_time at,
                 const char *detail_json);
/* Run argv without a shell (backup.c). */
int bk_run_command(char **argv, int timeout_s, char *err, size_t cap);

#endif
