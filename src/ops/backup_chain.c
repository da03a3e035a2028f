/* backup_chain.c - incremental and log backups of a SQLite store and
 * point-in-time restore over a chain of backups (see backup.h and
 * docs/internals/backup.md).
 *
 * A delta (an incremental or a log backup) is a small SQLite file,
 * delta.db, read from the live store in one read transaction (one
 * consistent snapshot, taken while `dto run` writes):
 *
 *   events                      seq in (A, P]
 *   orders, fills, positions,   rows with jseq >= A (migration 0005: the
 *   daily_pnl                   journal's seq when the row was written)
 *   audit_log, alert_history,   rows whose key is above the parent's
 *   backup_log, risk_decisions  ("keys" in the manifests)
 *   snapshots                   the newest checkpoint (the one the commit
 *                               that ended at P wrote last)
 *   every other table           whole (users, tokens, sessions, accounts,
 *                               idempotency keys, the migrations record)
 *
 * where A is the parent's point (its seq_last) and P the store's last seq.
 * Restoring applies each delta of the chain, in order, onto the full
 * backup's store, in one transaction per delta: the result is the store as
 * it was at P, the commit that ended there.  The journal commits whole
 * steps, each ended by a checkpoint, so P is a point dto can resume from.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/timeutil.h"
#include "ops/backup.h"
#include "ops/backup_int.h"

/* Tables copied by an increasing integer key. */
static const struct {
  const char *table, *key;
} append_tables[] = {
    {"audit_log", "seq"},
    {"alert_history", "seq"},
    {"backup_log", "seq"},
    {"risk_decisions", "id"},
};

/* Tables whose rows carry jseq. */
static const char *const jseq_tables[] = {"orders", "fills", "positions",
                                          "daily_pnl"};

static const char *append_key(const char *t) {
  for (size_t i = 0; i < DTO_ARRAY_LEN(append_tables); i++)
    if (!strcmp(append_tables[i].table, t))
      return append_tables[i].key;
  return NULL;
}

static bool is_jseq(const char *t) {
  for (size_t i = 0; i < DTO_ARRAY_LEN(jseq_tables); i++)
    if (!strcmp(jseq_tables[i], t))
      return true;
  return false;
}

static int db_fail(sqlite3 *h, const char *what, char *err, size_t cap) {
  dto_seterr(err, cap, "%s: %s", what, h ? sqlite3_errmsg(h) : "out of memory");
  return DTO_EIO;
}

/* One integer from sql (no parameters) on h: 0, or an error. */
static int one_int(sqlite3 *h, const char *sql, int64_t *out, char *err,
                   size_t cap) {
  sqlite3_stmt *st = NULL;
  int rc = DTO_EIO;
  if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      *out = sqlite3_column_int64(st, 0);
      rc = 0;
    } else if (r == SQLITE_DONE) {
      *out = 0;
      rc = 0;
    }
  }
  if (rc)
    db_fail(h, sql, err, cap);
  sqlite3_finalize(st);
  return rc;
}

static bool has_table(sqlite3 *h, const char *schema, const char *t) {
  char *sql = sqlite3_mprintf(
      "SELECT 1 FROM \"%w\".sqlite_master WHERE type = 'table' AND name = %Q",
      schema, t);
  sqlite3_stmt *st = NULL;
  bool yes = sql && sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  sqlite3_free(sql);
  return yes;
}

/* The greatest key of each append table of schema on h, as a JSON object
 * (absent tables are left out). */
static int append_keys(sqlite3 *h, const char *schema, json_t **out, char *err,
                       size_t cap) {
  json_t *o = json_object();
  for (size_t i = 0; i < DTO_ARRAY_LEN(append_tables); i++) {
    if (!has_table(h, schema, append_tables[i].table))
      continue;
    char *sql =
        sqlite3_mprintf("SELECT coalesce(max(\"%w\"), 0) FROM \"%w\".\"%w\"",
                        append_tables[i].key, schema, append_tables[i].table);
    int64_t v = 0;
    int rc = one_int(h, sql, &v, err, cap);
    sqlite3_free(sql);
    if (rc) {
      json_decref(o);
      return rc;
    }
    json_object_set_new(o, append_tables[i].table, json_integer(v));
  }
  *out = o;
  return 0;
}

int bk_append_keys(const char *db, json_t **out, char *err, size_t cap) {
  sqlite3 *h = NULL;
  int rc;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    rc = db_fail(h, db, err, cap);
  else
    rc = append_keys(h, "main", out, err, cap);
  sqlite3_close(h);
  return rc;
}

static int exec(sqlite3 *h, const char *sql, char *err, size_t cap) {
  if (sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK)
    return 0;
  return db_fail(h, sql, err, cap);
}

/* ---- chains ----------------------------------------------------------------
 */

static const backup_info *by_id(const backup_info *v, size_t n,
                                const char *id) {
  for (size_t i = 0; i < n; i++)
    if (v[i].ok && !strcmp(v[i].id, id))
      return &v[i];
  return NULL;
}

/* The chain of b, full first, into chain (cap entries): its length, or 0
 * when a link is missing or unreadable, the kinds do not fit, or the seq
 * ranges do not join (why in err). */
static size_t chain_of(const backup_info *v, size_t n, const backup_info *b,
                       const backup_info **chain, size_t cap, char *err,
                       size_t ecap) {
  size_t len = 0;
  const backup_info *c = b;
  while (c) {
    if (len == cap) {
      dto_seterr(err, ecap, "backup %s: its chain is longer than %zu", b->id,
                 cap);
      return 0;
    }
    chain[len++] = c;
    if (!strcmp(c->kind, "full"))
      break;
    if (strcmp(c->kind, "incremental") && strcmp(c->kind, "log")) {
      dto_seterr(err, ecap, "backup %s: unknown kind '%s'", c->id, c->kind);
      return 0;
    }
    const backup_info *p = by_id(v, n, c->parent);
    if (!p) {
      const backup_info *bad = NULL;
      for (size_t i = 0; i < n && !bad; i++)
        if (!strcmp(v[i].id, c->parent))
          bad = &v[i];
      if (bad)
        dto_seterr(err, ecap,
                   "backup %s: it builds on %s, which cannot be "
                   "read: %s",
                   c->id, bad->id, bad->err);
      else
        dto_seterr(err, ecap, "backup %s: it builds on %s, which is missing",
                   c->id, c->parent[0] ? c->parent : "(nothing)");
      return 0;
    }
    if (!strcmp(c->kind, "incremental") && !strcmp(p->kind, "log")) {
      dto_seterr(err, ecap, "backup %s: an incremental cannot build on log %s",
                 c->id, p->id);
      return 0;
    }
    c = p;
  }
  for (size_t i = 0; i < len / 2; i++) {
    const backup_info *t = chain[i];
    chain[i] = chain[len - 1 - i];
    chain[len - 1 - i] = t;
  }
  return len;
}

#define CHAIN_MAX 4096

/* Newest readable backup of dir matching kinds ("full", "full,incremental"
 * or NULL: any), by time then id. */
static const backup_info *newest(const backup_info *v, size_t n,
                                 bool any_kind) {
  for (size_t i = n; i-- > 0;) {
    if (!v[i].ok)
      continue;
    if (any_kind || !strcmp(v[i].kind, "full") ||
        !strcmp(v[i].kind, "incremental"))
      return &v[i];
  }
  return NULL;
}

/* ---- taking a delta ---------------------------------------------------------
 */

/* Build scratch/delta.db from the live store src, relative to point a with
 * the parent's append keys pkeys; fills *point, *nev and *keys. */
static int build_delta(const char *src, const char *delta, int64_t a,
                       const json_t *pkeys, int64_t *point, int64_t *nev,
                       int64_t *schema, json_t **keys, char *err, size_t cap) {
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  int rc = 0;
  char msg[BACKUP_ERR_MAX];
  *keys = NULL;
  if (!bk_exists(src)) {
    dto_seterr(err, cap, "%s: no such store", src);
    return DTO_ENOENT;
  }
  if (sqlite3_open_v2(delta, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK) {
    rc = db_fail(h, delta, err, cap);
    goto out;
  }
  sqlite3_busy_timeout(h, 10000);
  if (sqlite3_prepare_v2(h, "ATTACH DATABASE ?1 AS src", -1, &st, NULL) !=
          SQLITE_OK ||
      sqlite3_bind_text(st, 1, src, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_DONE) {
    rc = db_fail(h, src, err, cap);
    goto out;
  }
  sqlite3_finalize(st);
  st = NULL;
  /* one read transaction: every SELECT below sees the same snapshot */
  if ((rc = exec(h, "BEGIN", err, cap)))
    goto out;
  if ((rc = one_int(h, "SELECT coalesce(max(seq), 0) FROM src.events", point,
                    msg, sizeof msg))) {
    dto_seterr(err, cap, "%s: %s", src, msg);
    goto rollback;
  }
  if (*point < a) {
    dto_seterr(err, cap,
               "%s: its journal ends at seq %lld, before the previous "
               "backup's seq %lld: another or a restored store (take a full "
               "backup)",
               src, (long long)*point, (long long)a);
    rc = DTO_ESTATE;
    goto rollback;
  }
  if (a > 0) {
    char q[128];
    int64_t there = 0;
    snprintf(q, sizeof q, "SELECT count(*) FROM src.events WHERE seq = %lld",
             (long long)a);
    if ((rc = one_int(h, q, &there, err, cap)))
      goto rollback;
    if (!there) {
      dto_seterr(err, cap,
                 "%s: the journal has no event %lld, where the previous "
                 "backup ended: another store (take a full backup)",
                 src, (long long)a);
      rc = DTO_ESTATE;
      goto rollback;
    }
  }
  if ((rc = one_int(h,
                    "SELECT coalesce(max(version), 0) FROM "
                    "src.schema_migrations",
                    schema, err, cap)))
    goto rollback;
  /* the tables, by name */
  if (sqlite3_prepare_v2(h,
                         "SELECT name FROM src.sqlite_master WHERE type = "
                         "'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                         "ORDER BY name",
                         -1, &st, NULL) != SQLITE_OK) {
    rc = db_fail(h, "tables", err, cap);
    goto rollback;
  }
  char **names = NULL;
  size_t nn = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    names = xrealloc(names, (nn + 1) * sizeof *names);
    names[nn++] = xstrdup((const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  st = NULL;
  for (size_t i = 0; i < nn && !rc; i++) {
    const char *t = names[i], *k;
    char *sql;
    if (!strcmp(t, "events"))
      sql = sqlite3_mprintf("CREATE TABLE main.events AS SELECT * FROM "
                            "src.events WHERE seq > %lld AND seq <= %lld",
                            (long long)a, (long long)*point);
    else if (is_jseq(t))
      sql = sqlite3_mprintf(
          "CREATE TABLE main.\"%w\" AS SELECT * FROM src.\"%w\" WHERE jseq "
          ">= %lld",
          t, t, (long long)a);
    else if ((k = append_key(t))) {
      json_t *pk = json_object_get(pkeys, t);
      long long from = json_is_integer(pk) ? json_integer_value(pk) : 0;
      sql = sqlite3_mprintf("CREATE TABLE main.\"%w\" AS SELECT * FROM "
                            "src.\"%w\" WHERE \"%w\" > %lld",
                            t, t, k, from);
    } else if (!strcmp(t, "snapshots"))
      /* the checkpoint the point's commit ended with (its seq counts
       * checkpoints, not events) */
      sql = sqlite3_mprintf("CREATE TABLE main.snapshots AS SELECT * FROM "
                            "src.snapshots ORDER BY seq DESC LIMIT 1");
    else
      sql = sqlite3_mprintf(
          "CREATE TABLE main.\"%w\" AS SELECT * FROM src.\"%w\"", t, t);
    rc = exec(h, sql, err, cap);
    sqlite3_free(sql);
  }
  for (size_t i = 0; i < nn; i++)
    free(names[i]);
  free(names);
  if (rc)
    goto rollback;
  if ((rc = one_int(h, "SELECT count(*) FROM main.events", nev, err, cap)) ||
      (rc = append_keys(h, "src", keys, err, cap)))
    goto rollback;
  rc = exec(h, "COMMIT", err, cap);
  if (!rc)
    rc = exec(h, "DETACH DATABASE src", err, cap);
  goto out;
rollback:
  sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
out:
  sqlite3_finalize(st);
  sqlite3_close(h);
  if (rc) {
    json_decref(*keys);
    *keys = NULL;
  }
  return rc;
}

int backup_delta(const char *store_url, const char *dir,
                 const backup_secondary *sec, int level,
                 const uint8_t key[BACKUP_KEY_BYTES], bool incremental,
                 char *id_out, size_t idcap, char *err, size_t cap) {
  const char *src, *kind = incremental ? "incremental" : "log";
  char scratch[PATHCAP], delta[PATHCAP + 16], id[RET_ID_MAX + 1];
  char path[PATHCAP + 80], e2[BACKUP_ERR_MAX];
  int rc = bk_sqlite_path(store_url, &src, err, cap);
  if (rc)
    return rc;
  backup_info *v = NULL;
  size_t n = 0;
  if ((rc = backup_list(dir, key, &v, &n, err, cap)))
    return rc;
  const backup_info *parent = newest(v, n, !incremental);
  if (!parent) {
    dto_seterr(err, cap,
               "%s: no readable full backup to build on (run dto backup full "
               "first)",
               dir);
    free(v);
    return DTO_ENOENT;
  }
  const backup_info **chain = xcalloc(CHAIN_MAX, sizeof *chain);
  size_t len = chain_of(v, n, parent, chain, CHAIN_MAX, e2, sizeof e2);
  free(chain);
  if (!len) {
    dto_seterr(err, cap, "%s (take a full backup)", e2);
    free(v);
    return DTO_ESTATE;
  }
  /* the parent's append keys and schema, from its manifest */
  json_t *pm = NULL;
  if ((rc = backup_read_head(parent->path, key, &pm, err, cap))) {
    free(v);
    return rc;
  }
  int64_t a = parent->seq_last > 0 ? parent->seq_last : 0;
  char parent_id[RET_ID_MAX + 1];
  snprintf(parent_id, sizeof parent_id, "%s", parent->id);
  free(v);
  if ((rc = bk_make_scratch(dir, ".scratch", scratch, sizeof scratch, err,
                            cap))) {
    json_decref(pm);
    return rc;
  }
  snprintf(delta, sizeof delta, "%s/" DELTA_FILE, scratch);
  int64_t point = 0, nev = 0, schema = 0;
  json_t *keys = NULL;
  if ((rc = build_delta(src, delta, a, json_object_get(pm, "keys"), &point,
                        &nev, &schema, &keys, err, cap)))
    goto out;
  if (schema != bk_jint(pm, "schema_version")) {
    dto_seterr(err, cap,
               "%s: schema version %lld, but %s has %lld (a migration since: "
               "take a full backup)",
               src, (long long)schema, parent_id,
               (long long)bk_jint(pm, "schema_version"));
    rc = DTO_ESTATE;
    goto out;
  }
  /* the journal only grows: the parent's events and these (no count of
   * the whole live table) */
  int64_t total = bk_jint(pm, "events") + nev;
  store_facts f = {.schema = (int)schema};
  dto_time now = bk_wall_now();
  if ((rc = bk_new_id(dir, kind, now, id, sizeof id, path, sizeof path, err,
                      cap)))
    goto out;
  const char *base = strrchr(src, '/');
  base = base ? base + 1 : src;
  json_t *extra =
      json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:O}", "schema_version",
                f.schema, "parent", parent_id, "seq_from", (json_int_t)a,
                "seq_last", (json_int_t)point, "events", (json_int_t)total,
                "delta_events", (json_int_t)nev, "keys", keys);
  json_object_set_new(extra, "seq_first",
                      json_integer(nev ? (json_int_t)a + 1 : 0));
  if (backup_name_ok(base, strlen(base)))
    json_object_set_new(extra, "store_name", json_string(base));
  char *ej = json_dumps(extra, JSON_COMPACT);
  json_decref(extra);
  backup_opts o = {.level = level,
                   .created = (now / DTO_NS_PER_SEC) * DTO_NS_PER_SEC};
  const char *names[] = {DELTA_FILE}, *srcs[] = {delta};
  rc = bk_write_archive(path, key, kind, ej, &o, names, srcs, 1, err, cap);
  free(ej);
  if (rc)
    goto out;
  if (id_out && idcap)
    snprintf(id_out, idcap, "%s", id);
  if (sec)
    rc = bk_secondary(path, id, sec, key, err, cap);
out:
  json_decref(keys);
  json_decref(pm);
  bk_rm_flat(scratch);
  return rc;
}

/* ---- restoring a chain ------------------------------------------------------
 */

/* Apply the delta at ddb onto the store h (main), in one transaction. */
static int apply_delta(sqlite3 *h, const char *ddb, const char *id, char *err,
                       size_t cap) {
  sqlite3_stmt *st = NULL;
  int rc = 0;
  char msg[BACKUP_ERR_MAX];
  if (sqlite3_prepare_v2(h, "ATTACH DATABASE ?1 AS d", -1, &st, NULL) !=
          SQLITE_OK ||
      sqlite3_bind_text(st, 1, ddb, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_DONE) {
    sqlite3_finalize(st);
    return db_fail(h, id, err, cap);
  }
  sqlite3_finalize(st);
  st = NULL;
  if ((rc = exec(h, "BEGIN", msg, sizeof msg)))
    goto fail;
  if (sqlite3_prepare_v2(h,
                         "SELECT name FROM d.sqlite_master WHERE type = "
                         "'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                         "ORDER BY name",
                         -1, &st, NULL) != SQLITE_OK) {
    rc = db_fail(h, "tables", msg, sizeof msg);
    goto fail;
  }
  while (!rc && sqlite3_step(st) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    if (!has_table(h, "main", t)) {
      dto_seterr(msg, sizeof msg, "table %s is not in the store", t);
      rc = DTO_EPARSE;
      break;
    }
    char *sql;
    if (!strcmp(t, "events"))
      sql = sqlite3_mprintf("INSERT INTO main.events SELECT * FROM d.events "
                            "ORDER BY seq");
    else if (is_jseq(t) || append_key(t) || !strcmp(t, "snapshots"))
      sql = sqlite3_mprintf(
          "INSERT OR REPLACE INTO main.\"%w\" SELECT * FROM d.\"%w\"", t, t);
    else
      sql = sqlite3_mprintf("DELETE FROM main.\"%w\"; INSERT INTO "
                            "main.\"%w\" SELECT * FROM d.\"%w\"",
                            t, t, t);
    rc = exec(h, sql, msg, sizeof msg);
    sqlite3_free(sql);
  }
  sqlite3_finalize(st);
  st = NULL;
  if (!rc)
    rc = exec(h, "COMMIT", msg, sizeof msg);
  if (!rc)
    return exec(h, "DETACH DATABASE d", err, cap);
fail:
  sqlite3_finalize(st);
  sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_exec(h, "DETACH DATABASE d", NULL, NULL, NULL);
  dto_seterr(err, cap, "backup %s: cannot apply: %s", id, msg);
  return rc ? rc : DTO_EIO;
}

/* Pick the target of a restore in v: ref, else the newest point at or
 * before seq and at (INT64_MAX: no bound) whose chain is whole. */
static const backup_info *pick(const backup_info *v, size_t n, const char *dir,
                               const char *ref, int64_t seq, dto_time at,
                               char *err, size_t cap) {
  if (ref) {
    char want[RET_ID_MAX + 16];
    const char *r = strrchr(ref, '/');
    snprintf(want, sizeof want, "%s", r ? r + 1 : ref);
    size_t wl = strlen(want), el = strlen(BACKUP_EXT);
    if (wl > el && !strcmp(want + wl - el, BACKUP_EXT))
      want[wl - el] = '\0';
    for (size_t i = 0; i < n; i++)
      if (!strcmp(v[i].id, want)) {
        if (!v[i].ok) {
          dto_seterr(err, cap, "backup %s: %s", v[i].id, v[i].err);
          return NULL;
        }
        return &v[i];
      }
    dto_seterr(err, cap, "no backup '%s' in %s", ref, dir);
    return NULL;
  }
  const backup_info *best = NULL;
  for (size_t i = 0; i < n; i++) {
    const backup_info *b = &v[i];
    if (!b->ok || b->seq_last > seq || b->time > at)
      continue;
    if (best && (b->seq_last < best->seq_last ||
                 (b->seq_last == best->seq_last && b->time < best->time)))
      continue;
    best = b;
  }
  /* an unreadable backup newer than the choice may hold a later point:
   * never fall back past it without being told (--backup ID) */
  for (size_t i = 0; best && i < n; i++)
    if (!v[i].ok && v[i].time > best->time && v[i].time <= at) {
      dto_seterr(err, cap,
                 "backup %s cannot be read (%s) and may hold a later point "
                 "than %s; name the point with --backup ID to restore "
                 "without it",
                 v[i].id, v[i].err, best->id);
      return NULL;
    }
  if (!best) {
    if (seq != INT64_MAX || at != INT64_MAX)
      dto_seterr(err, cap,
                 "%s: no readable backup at or before the point asked (dto "
                 "backup list shows them)",
                 dir);
    else
      dto_seterr(err, cap, "%s: no readable backup to restore", dir);
  }
  return best;
}

int backup_restore_at(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                      const char *ref, int64_t seq, dto_time at,
                      const char *to_dir, bool force, backup_point *pt,
                      char *restored, size_t rcap, char *err, size_t cap) {
  backup_info *v = NULL;
  size_t n = 0;
  char tmp[PATHCAP], db[PATHCAP + 16], sub[PATHCAP + 32], ddb[PATHCAP + 64];
  json_t *m = NULL;
  sqlite3 *h = NULL;
  char refdir[PATHCAP];
  backup_opts ro;
  memset(pt, 0, sizeof *pt);
  if (ref && strchr(ref, '/')) {
    /* a path: its chain is in its own folder */
    snprintf(refdir, sizeof refdir, "%s", ref);
    *strrchr(refdir, '/') = '\0';
    dir = refdir[0] ? refdir : "/";
  }
  int rc = backup_list(dir, key, &v, &n, err, cap);
  if (rc)
    return rc;
  const backup_info *target = pick(v, n, dir, ref, seq, at, err, cap);
  if (!target) {
    free(v);
    return DTO_ENOENT;
  }
  const backup_info **chain = xcalloc(CHAIN_MAX, sizeof *chain);
  size_t len = chain_of(v, n, target, chain, CHAIN_MAX, err, cap);
  if (!len) {
    rc = DTO_ESTATE;
    goto done;
  }
  if ((rc = bk_restore_prepare(to_dir, force, err, cap)) ||
      (rc = bk_make_scratch(to_dir, ".restore", tmp, sizeof tmp, err, cap)))
    goto done;
  /* the full backup */
  {
    json_t *fm = NULL;
    if (backup_read_head(chain[0]->path, key, &fm, NULL, 0) == 0) {
      const char *be = json_string_value(json_object_get(fm, "backend"));
      if (be && !strcmp(be, "postgresql")) {
        dto_seterr(err, cap,
                   "backup %s: a PostgreSQL backup; restore it with --to "
                   "postgresql://HOST/DATABASE",
                   chain[0]->id);
        json_decref(fm);
        rc = DTO_EINVAL;
        goto out;
      }
    }
    json_decref(fm);
  }
  if ((rc = backup_extract(chain[0]->path, key, tmp, bk_read_opts(&ro), &m, err,
                           cap)))
    goto out;
  snprintf(db, sizeof db, "%s/" STORE_FILE, tmp);
  if ((rc = bk_check_store(chain[0]->path, db, m, err, cap)))
    goto out;
  int schema = (int)bk_jint(m, "schema_version");
  char name[BACKUP_NAME_MAX + 1] = STORE_FILE;
  const char *sn = json_string_value(json_object_get(m, "store_name"));
  if (sn && backup_name_ok(sn, strlen(sn)))
    snprintf(name, sizeof name, "%s", sn);
  int64_t point = chain[0]->seq_last;
  if (len > 1 &&
      sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    rc = db_fail(h, db, err, cap);
    goto out;
  }
  for (size_t i = 1; i < len; i++) {
    json_decref(m);
    m = NULL;
    snprintf(sub, sizeof sub, "%s/d%zu", tmp, i);
    if (mkdir(sub, 0700)) {
      rc = dto_from_errno(errno);
      dto_seterr(err, cap, "%s: %s", sub, strerror(errno));
      goto out;
    }
    if ((rc = backup_extract(chain[i]->path, key, sub, bk_read_opts(&ro), &m,
                             err, cap)))
      goto out;
    if (bk_jint(m, "schema_version") != schema ||
        bk_jint(m, "seq_from") != point) {
      dto_seterr(err, cap,
                 "backup %s: it does not continue %s (schema %lld from seq "
                 "%lld; the chain is at schema %d, seq %lld)",
                 chain[i]->id, chain[i - 1]->id,
                 (long long)bk_jint(m, "schema_version"),
                 (long long)bk_jint(m, "seq_from"), schema, (long long)point);
      rc = DTO_EPARSE;
      goto out;
    }
    snprintf(ddb, sizeof ddb, "%s/" DELTA_FILE, sub);
    if ((rc = bk_integrity(ddb, err, cap)) ||
        (rc = apply_delta(h, ddb, chain[i]->id, err, cap)))
      goto out;
    point = chain[i]->seq_last;
    bk_rm_flat(sub);
  }
  sqlite3_close(h);
  h = NULL;
  /* the result against the target's manifest: integrity, events, last seq */
  if ((rc = bk_check_store(target->path, db, m, err, cap)))
    goto out;
  if ((rc =
           bk_restore_place(db, to_dir, name, force, restored, rcap, err, cap)))
    goto out;
  snprintf(pt->id, sizeof pt->id, "%s", target->id);
  pt->seq = target->seq_last;
  pt->time = target->time;
  pt->links = len;
  size_t at_ = 0;
  for (size_t i = 0; i < len && at_ < sizeof pt->chain; i++) {
    int k = snprintf(pt->chain + at_, sizeof pt->chain - at_, "%s%s",
                     i ? " -> " : "", chain[i]->id);
    if (k < 0)
      break;
    at_ += (size_t)k;
  }
out:
  sqlite3_close(h);
  json_decref(m);
  bk_rm_flat(tmp);
done:
  free(chain);
  free(v);
  return rc;
}

int backup_verify_chain(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                        const char *scratch, char *err, size_t cap) {
  char dir[PATHCAP], to[PATHCAP];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  int rc = bk_make_scratch(scratch, ".verify", to, sizeof to, err, cap);
  if (rc)
    return rc;
  backup_point pt;
  rc = backup_restore_at(dir, key, path, INT64_MAX, INT64_MAX, to, true, &pt,
                         NULL, 0, err, cap);
  bk_rm_flat(to);
  return rc;
}

int backup_pick(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                const char *ref, int64_t seq, dto_time at, char *path,
                size_t pcap, char *err, size_t cap) {
  backup_info *v = NULL;
  size_t n = 0;
  char refdir[PATHCAP];
  if (ref && strchr(ref, '/')) {
    snprintf(refdir, sizeof refdir, "%s", ref);
    *strrchr(refdir, '/') = '\0';
    dir = refdir[0] ? refdir : "/";
  }
  int rc = backup_list(dir, key, &v, &n, err, cap);
  if (rc)
    return rc;
  const backup_info *b = pick(v, n, dir, ref, seq, at, err, cap);
  if (b)
    snprintf(path, pcap, "%s", b->path);
  free(v);
  return b ? 0 : DTO_ENOENT;
}
