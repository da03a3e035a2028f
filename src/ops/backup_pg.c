/* backup_pg.c - full backups of a PostgreSQL store with PostgreSQL's own
 * tools, in dto's archive (see backup.h).
 *
 * A consistent export: one REPEATABLE READ transaction reads the facts the
 * manifest records (schema version, events, seq range, orders, fills) and
 * exports its snapshot; pg_dump --snapshot dumps exactly that snapshot in
 * its custom format (uncompressed: the archive compresses with zstd), while
 * dto goes on writing.  Restoring is pg_restore into a database the
 * operator created, checked against the manifest; verifying is the same
 * into a scratch database made on the live store's server and dropped.
 * Incremental and log backups are not dto's on PostgreSQL: its WAL
 * archiving does that (docs/operations.md).
 *
 * No password ever appears in a URL (the store refuses one); libpq and the
 * tools take it from PGPASSWORD or ~/.pgpass, inherited.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "ops/backup.h"
#include "ops/backup_int.h"

#define PG_FILE "store.pgdump"
#define PG_TIMEOUT_S (24 * 3600)

bool bk_is_pg(const char *url) {
  return url && (!strncmp(url, "postgres://", 11) ||
                 !strncmp(url, "postgresql://", 13));
}

/* A libpq conninfo string ("host='h' port='5432' ...") of url with dbname
 * replaced by db (when not NULL), into b. */
static int conninfo(const char *url, const char *db, dbuf *b, char *err,
                    size_t cap) {
  char *perr = NULL;
  PQconninfoOption *opts = PQconninfoParse(url, &perr);
  if (!opts) {
    dto_seterr(err, cap, "the store URL cannot be read: %s",
               perr ? perr : "out of memory");
    PQfreemem(perr);
    return DTO_EINVAL;
  }
  bool had_db = false;
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    const char *v = o->val;
    if (!strcmp(o->keyword, "dbname")) {
      had_db = true;
      if (db)
        v = db;
    }
    if (!v || !*v || !strcmp(o->keyword, "password"))
      continue;
    dbuf_adds(b, o->keyword);
    dbuf_adds(b, "='");
    for (const char *p = v; *p; p++) {
      if (*p == '\'' || *p == '\\')
        dbuf_addc(b, '\\');
      dbuf_addc(b, *p);
    }
    dbuf_adds(b, "' ");
  }
  if (db && !had_db) {
    dbuf_adds(b, "dbname='");
    dbuf_adds(b, db);
    dbuf_adds(b, "' ");
  }
  PQconninfoFree(opts);
  return 0;
}

static PGconn *pg_connect(const char *info, char *err, size_t cap) {
  PGconn *c = PQconnectdb(info);
  if (!c || PQstatus(c) != CONNECTION_OK) {
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    char one[256];
    snprintf(one, sizeof one, "%s", m);
    char *nl = strchr(one, '\n');
    if (nl)
      *nl = '\0';
    dto_seterr(err, cap, "cannot connect to PostgreSQL: %s", one);
    PQfinish(c);
    return NULL;
  }
  return c;
}

static int pg_exec(PGconn *c, const char *sql, char *err, size_t cap) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType s = PQresultStatus(r);
  int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : DTO_EIO;
  if (rc)
    dto_seterr(err, cap, "PostgreSQL: %s", PQresultErrorMessage(r));
  PQclear(r);
  return rc;
}

/* One row of integers from sql into out[0..n). */
static int pg_ints(PGconn *c, const char *sql, int64_t *out, int n, char *err,
                   size_t cap) {
  PGresult *r = PQexec(c, sql);
  int rc = DTO_EIO;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
      PQnfields(r) == n) {
    rc = 0;
    for (int i = 0; i < n; i++)
      out[i] = strtoll(PQgetvalue(r, 0, i), NULL, 10);
  } else {
    char one[256];
    snprintf(one, sizeof one, "%s", PQresultErrorMessage(r));
    char *nl = strchr(one, '\n');
    if (nl)
      *nl = '\0';
    dto_seterr(err, cap, "PostgreSQL: %s", one[0] ? one : "unexpected answer");
  }
  PQclear(r);
  return rc;
}

static int pg_facts(PGconn *c, store_facts *f, char *err, size_t cap) {
  int64_t v[3];
  memset(f, 0, sizeof *f);
  if (pg_ints(c, "SELECT coalesce(max(version), 0) FROM schema_migrations", v,
              1, err, cap))
    return DTO_EIO;
  f->schema = (int)v[0];
  if (pg_ints(c,
              "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) "
              "FROM events",
              v, 3, err, cap))
    return DTO_EIO;
  f->events = v[0];
  f->seq_first = v[1];
  f->seq_last = v[2];
  if (pg_ints(c, "SELECT count(*) FROM orders", v, 1, err, cap))
    return DTO_EIO;
  f->orders = v[0];
  if (pg_ints(c, "SELECT count(*) FROM fills", v, 1, err, cap))
    return DTO_EIO;
  f->fills = v[0];
  return 0;
}

int bk_pg_full(const char *url, const char *dir, const backup_secondary *sec,
               int level, const uint8_t key[BACKUP_KEY_BYTES],
               const char *config_path, backup_progress_fn *progress,
               void *progress_ctx, char *id_out, size_t idcap, char *err,
               size_t cap) {
  char scratch[PATHCAP], dump[PATHCAP + 16], id[RET_ID_MAX + 1];
  char path[PATHCAP + 80], snapid[128];
  dbuf info;
  dbuf_init(&info, 8192);
  PGconn *c = NULL;
  int rc = conninfo(url, NULL, &info, err, cap);
  if (rc) {
    dbuf_release(&info);
    return rc;
  }
  if ((rc = bk_make_scratch(dir, ".scratch", scratch, sizeof scratch, err,
                            cap))) {
    dbuf_release(&info);
    return rc;
  }
  snprintf(dump, sizeof dump, "%s/" PG_FILE, scratch);
  store_facts f;
  if (!(c = pg_connect(info.ptr, err, cap))) {
    rc = DTO_EIO;
    goto out;
  }
  /* the facts and the dump of one snapshot */
  if ((rc = pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err,
                    cap)))
    goto out;
  PGresult *r = PQexec(c, "SELECT pg_export_snapshot()");
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    dto_seterr(err, cap, "PostgreSQL: %s", PQresultErrorMessage(r));
    PQclear(r);
    rc = DTO_EIO;
    goto out;
  }
  snprintf(snapid, sizeof snapid, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  if ((rc = pg_facts(c, &f, err, cap)))
    goto out;
  {
    char snaparg[160], dbarg[8300], filearg[PATHCAP + 32];
    snprintf(snaparg, sizeof snaparg, "--snapshot=%s", snapid);
    snprintf(filearg, sizeof filearg, "--file=%s", dump);
    snprintf(dbarg, sizeof dbarg, "--dbname=%s", info.ptr);
    char *argv[] = {"pg_dump",
                    "--format=custom",
                    "--compress=0",
                    "--no-owner",
                    "--no-privileges",
                    snaparg,
                    filearg,
                    dbarg,
                    NULL};
    if ((rc = bk_run_command(argv, PG_TIMEOUT_S, err, cap)))
      goto out;
  }
  pg_exec(c, "COMMIT", NULL, 0);
  PQfinish(c);
  c = NULL;

  dto_time now = bk_wall_now();
  if ((rc = bk_new_id(dir, "full", now, id, sizeof id, path, sizeof path, err,
                      cap)))
    goto out;
  json_t *extra =
      json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:s}", "backend",
                "postgresql", "schema_version", f.schema, "seq_first",
                (json_int_t)f.seq_first, "seq_last", (json_int_t)f.seq_last,
                "events", (json_int_t)f.events, "orders", (json_int_t)f.orders,
                "fills", (json_int_t)f.fills, "store_url", url);
  char *ej = json_dumps(extra, JSON_COMPACT);
  json_decref(extra);
  struct stat st;
  backup_opts o = {.level = level,
                   .created = (now / DTO_NS_PER_SEC) * DTO_NS_PER_SEC,
                   .total = stat(dump, &st) ? 0 : (uint64_t)st.st_size,
                   .progress = progress,
                   .progress_ctx = progress_ctx};
  const char *names[] = {PG_FILE, CONFIG_FILE}, *srcs[] = {dump, config_path};
  rc = bk_write_archive(path, key, "full", ej, &o, names, srcs, 2, err, cap);
  free(ej);
  if (rc)
    goto out;
  if (id_out && idcap)
    snprintf(id_out, idcap, "%s", id);
  if (sec)
    rc = bk_secondary(path, id, sec, key, err, cap);
out:
  PQfinish(c);
  dbuf_release(&info);
  bk_rm_flat(scratch);
  return rc;
}

/* pg_restore dump into the database of conninfo info, then its facts
 * against the manifest m. */
static int restore_into(const char *dump, const char *info, bool clean,
                        const json_t *m, char *err, size_t cap) {
  char dbarg[8300];
  snprintf(dbarg, sizeof dbarg, "--dbname=%s", info);
  char *argv[10];
  int k = 0;
  argv[k++] = "pg_restore";
  argv[k++] = "--no-owner";
  argv[k++] = "--no-privileges";
  argv[k++] = "--exit-on-error";
  argv[k++] = "--single-transaction";
  if (clean) {
    argv[k++] = "--clean";
    argv[k++] = "--if-exists";
  }
  argv[k++] = dbarg;
  argv[k++] = (char *)dump;
  argv[k] = NULL;
  int rc = bk_run_command(argv, PG_TIMEOUT_S, err, cap);
  if (rc)
    return rc;
  PGconn *c = pg_connect(info, err, cap);
  if (!c)
    return DTO_EIO;
  store_facts f;
  rc = pg_facts(c, &f, err, cap);
  PQfinish(c);
  if (rc)
    return rc;
  if (f.schema != bk_jint(m, "schema_version") ||
      f.events != bk_jint(m, "events") ||
      f.seq_last != bk_jint(m, "seq_last") ||
      f.orders != bk_jint(m, "orders") || f.fills != bk_jint(m, "fills")) {
    dto_seterr(err, cap,
               "the restored database does not match the manifest (schema %d, "
               "%lld events, last seq %lld, %lld orders, %lld fills; the "
               "manifest says %lld, %lld, %lld, %lld, %lld)",
               f.schema, (long long)f.events, (long long)f.seq_last,
               (long long)f.orders, (long long)f.fills,
               (long long)bk_jint(m, "schema_version"),
               (long long)bk_jint(m, "events"),
               (long long)bk_jint(m, "seq_last"),
               (long long)bk_jint(m, "orders"), (long long)bk_jint(m, "fills"));
    return DTO_EPARSE;
  }
  return 0;
}

int bk_pg_verify(const char *archive, const char *dump, const json_t *m,
                 char *err, size_t cap) {
  const char *url = json_string_value(json_object_get(m, "store_url"));
  if (!url || !bk_is_pg(url)) {
    dto_seterr(err, cap, "backup %s: the manifest names no PostgreSQL server",
               archive);
    return DTO_EPARSE;
  }
  /* a scratch database on the store's server */
  uint8_t rnd[6];
  randombytes_buf(rnd, sizeof rnd);
  char db[64], sql[160];
  snprintf(db, sizeof db, "dto_verify_%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
           rnd[2], rnd[3], rnd[4], rnd[5]);
  dbuf admin, target;
  dbuf_init(&admin, 8192);
  dbuf_init(&target, 8192);
  char e2[BACKUP_ERR_MAX];
  int rc = conninfo(url, NULL, &admin, e2, sizeof e2);
  if (!rc)
    rc = conninfo(url, db, &target, e2, sizeof e2);
  PGconn *c = NULL;
  if (!rc && !(c = pg_connect(admin.ptr, e2, sizeof e2)))
    rc = DTO_EIO;
  bool made = false;
  if (!rc) {
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    rc = pg_exec(c, sql, e2, sizeof e2);
    made = rc == 0;
    if (rc) {
      char tmp[BACKUP_ERR_MAX + 96];
      snprintf(tmp, sizeof tmp,
               "a scratch database to restore into: %s (the role needs "
               "CREATEDB)",
               e2);
      memcpy(e2, tmp, sizeof e2 - 1);
      e2[sizeof e2 - 1] = '\0';
    }
  }
  if (!rc)
    rc = restore_into(dump, target.ptr, false, m, e2, sizeof e2);
  if (made) {
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", db);
    pg_exec(c, sql, NULL, 0);
  }
  PQfinish(c);
  dbuf_release(&admin);
  dbuf_release(&target);
  if (rc)
    dto_seterr(err, cap, "backup %s: %s", archive, e2);
  return rc;
}

int backup_restore_pg(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                      const char *to_url, bool force, char *err, size_t cap) {
  char tmp[PATHCAP], dump[PATHCAP + 16], e2[BACKUP_ERR_MAX];
  json_t *m = NULL;
  dbuf info;
  dbuf_init(&info, 8192);
  int rc = conninfo(to_url, NULL, &info, err, cap);
  if (rc) {
    dbuf_release(&info);
    return rc;
  }
  /* the archive first: its manifest must be a PostgreSQL full backup */
  char dir[PATHCAP];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  if ((rc = bk_make_scratch(dir, ".restore", tmp, sizeof tmp, err, cap))) {
    dbuf_release(&info);
    return rc;
  }
  backup_opts ro;
  if ((rc = backup_extract(path, key, tmp, bk_read_opts(&ro), &m, err, cap)))
    goto out;
  const char *be = json_string_value(json_object_get(m, "backend"));
  if (!be || strcmp(be, "postgresql")) {
    dto_seterr(err, cap, "backup %s: a SQLite backup; restore it with --to DIR",
               path);
    rc = DTO_EINVAL;
    goto out;
  }
  /* the target: reachable, and empty unless force */
  PGconn *c = pg_connect(info.ptr, err, cap);
  if (!c) {
    rc = DTO_EIO;
    goto out;
  }
  int64_t has = 0;
  rc = pg_ints(c,
               "SELECT count(*) FROM pg_class WHERE relname = 'events' "
               "AND relkind = 'r' AND pg_table_is_visible(oid)",
               &has, 1, err, cap);
  PQfinish(c);
  if (rc)
    goto out;
  if (has && !force) {
    dto_seterr(err, cap,
               "the target database holds a dto store already; use --force "
               "to replace it");
    rc = DTO_EEXIST;
    goto out;
  }
  snprintf(dump, sizeof dump, "%s/" PG_FILE, tmp);
  if ((rc = restore_into(dump, info.ptr, has != 0, m, e2, sizeof e2)))
    dto_seterr(err, cap, "backup %s: %s", path, e2);
out:
  json_decref(m);
  dbuf_release(&info);
  bk_rm_flat(tmp);
  return rc;
}

int bk_pg_rpo(const char *url, int64_t seq_last, int64_t *events,
              double *seconds, char *err, size_t cap) {
  dbuf info;
  dbuf_init(&info, 8192);
  int rc = conninfo(url, NULL, &info, err, cap);
  PGconn *c = rc ? NULL : pg_connect(info.ptr, err, cap);
  dbuf_release(&info);
  if (!c)
    return rc ? rc : DTO_EIO;
  char sql[256];
  int64_t v[3];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FILTER (WHERE seq > %lld), coalesce(max(time), "
           "0), coalesce(max(time) FILTER (WHERE seq <= %lld), 0) FROM events",
           (long long)seq_last, (long long)seq_last);
  rc = pg_ints(c, sql, v, 3, err, cap);
  PQfinish(c);
  if (rc)
    return rc;
  *events = v[0];
  *seconds = v[0] ? (double)(v[1] - v[2]) / 1e9 : 0;
  return 0;
}

int bk_pg_record(const char *url, const char *kind, bool ok, dto_time at,
                 const char *detail_json) {
  char err[256];
  dbuf info;
  dbuf_init(&info, 8192);
  int rc = conninfo(url, NULL, &info, err, sizeof err);
  PGconn *c = rc ? NULL : pg_connect(info.ptr, err, sizeof err);
  dbuf_release(&info);
  if (!c)
    return DTO_EIO;
  char atv[32];
  snprintf(atv, sizeof atv, "%lld", (long long)at);
  const char *vals[4] = {atv, kind, ok ? "true" : "false",
                         detail_json ? detail_json : "{}"};
  rc = pg_exec(c, "BEGIN", NULL, 0);
  if (!rc)
    rc = pg_exec(c, "LOCK TABLE backup_log IN EXCLUSIVE MODE", NULL, 0);
  if (!rc) {
    PGresult *r = PQexecParams(
        c,
        "INSERT INTO backup_log (seq, time, kind, ok, detail) SELECT "
        "coalesce(max(seq), 0) + 1, $1::bigint, $2, $3::boolean, $4 FROM "
        "backup_log",
        4, NULL, vals, NULL, NULL, 0);
    rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : DTO_EIO;
    PQclear(r);
  }
  pg_exec(c, rc ? "ROLLBACK" : "COMMIT", NULL, 0);
  PQfinish(c);
  return rc;
}
