/* backup.c - full backups of a SQLite store, their verification, listing,
 * pruning and restore (see backup.h).  The archive format is backup_fmt's;
 * this file decides what goes in and checks what comes out. */
#define _POSIX_C_SOURCE 200809L
#include "ops/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/timeutil.h"
#include "store/store.h"

#define PATHCAP 4096
#define STORE_FILE "store.db"
#define CONFIG_FILE "config.yaml"

/* ---- small helpers ---------------------------------------------------------
 */

static dto_time wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (dto_time)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

/* Make dir and its missing parents, each new one mode 0700. */
static int mkdir_private(const char *dir, char *err, size_t cap) {
  char p[PATHCAP];
  size_t n = strlen(dir);
  if (!n || n >= sizeof p) {
    dto_seterr(err, cap, "%s: bad folder name", dir);
    return DTO_EINVAL;
  }
  memcpy(p, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0')
      continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0700) && errno != EEXIST) {
      int e = errno;
      dto_seterr(err, cap, "%s: cannot create: %s", p, strerror(e));
      return dto_from_errno(e);
    }
    p[i] = c;
  }
  struct stat st;
  if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
    dto_seterr(err, cap, "%s: not a folder", dir);
    return DTO_EINVAL;
  }
  return 0;
}

/* Remove every entry of dir (flat), then dir. */
static void rm_flat(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[PATHCAP];
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      if (unlink(p) && errno == EISDIR)
        rm_flat(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

static int make_scratch(const char *parent, const char *prefix, char *out,
                        size_t ocap, char *err, size_t cap) {
  int rc = mkdir_private(parent, err, cap);
  if (rc)
    return rc;
  if ((size_t)snprintf(out, ocap, "%s/%s-XXXXXX", parent, prefix) >= ocap) {
    dto_seterr(err, cap, "%s: path too long", parent);
    return DTO_EINVAL;
  }
  if (!mkdtemp(out)) {
    int e = errno;
    dto_seterr(err, cap, "%s: cannot create a scratch folder: %s", parent,
               strerror(e));
    return dto_from_errno(e);
  }
  return 0;
}

static bool exists(const char *p) {
  struct stat st;
  return lstat(p, &st) == 0;
}

/* The SQLite path of a store URL, or DTO_EUNSUPPORTED for PostgreSQL. */
static int sqlite_path(const char *url, const char **path, char *err,
                       size_t cap) {
  if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
    dto_seterr(err, cap,
               "dto backup: PostgreSQL stores are not supported yet "
               "(use pg_dump)");
    return DTO_EUNSUPPORTED;
  }
  if (!strncmp(url, "sqlite://", 9))
    url += 9;
  else if (!strncmp(url, "sqlite:", 7))
    url += 7;
  if (!*url) {
    dto_seterr(err, cap, "dto backup: empty store path");
    return DTO_EINVAL;
  }
  *path = url;
  return 0;
}

static int64_t jint(const json_t *m, const char *k) {
  const json_t *v = json_object_get(m, k);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* The facts the manifest records of the store at db. */
typedef struct store_facts {
  int schema;
  int64_t seq_first, seq_last, events, orders, fills;
} store_facts;

static int read_facts(const char *db, store_facts *f, char *err, size_t cap) {
  char url[PATHCAP + 8], serr[STORE_ERR_MAX];
  store_options o = {.must_exist = true};
  store *s = NULL;
  snprintf(url, sizeof url, "sqlite:%s", db);
  int rc = store_open(url, &o, &s, serr, sizeof serr);
  if (rc) {
    dto_seterr(err, cap, "%s", serr);
    return rc;
  }
  memset(f, 0, sizeof *f);
  if ((rc = store_schema_version(s, &f->schema)) ||
      (rc = store_count(s, STORE_T_EVENTS, &f->events)) ||
      (rc = store_count(s, STORE_T_ORDERS, &f->orders)) ||
      (rc = store_count(s, STORE_T_FILLS, &f->fills)) ||
      (rc = store_max_seq(s, &f->seq_last)))
    dto_seterr(err, cap, "%s: %s", db, store_errmsg(s, serr, sizeof serr));
  store_close(s);
  if (rc)
    return rc;
  sqlite3 *h = NULL;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, "SELECT coalesce(min(seq), 0) FROM events", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      f->seq_first = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return 0;
}

/* PRAGMA integrity_check must answer "ok". */
static int integrity(const char *db, char *err, size_t cap) {
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  int rc = DTO_EPARSE;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    dto_seterr(err, cap, "%s: cannot open: %s", db,
               h ? sqlite3_errmsg(h) : "out of memory");
    sqlite3_close(h);
    return DTO_EIO;
  }
  if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    if (t && !strcmp(t, "ok"))
      rc = 0;
    else
      dto_seterr(err, cap, "%s: integrity_check: %.200s", db, t ? t : "?");
  } else {
    dto_seterr(err, cap, "%s: integrity_check failed: %s", db,
               sqlite3_errmsg(h));
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rc;
}

/* The store at db (extracted from archive) against manifest m. */
static int check_store(const char *archive, const char *db, const json_t *m,
                       char *err, size_t cap) {
  store_facts f;
  char e2[BACKUP_ERR_MAX];
  int rc = integrity(db, e2, sizeof e2);
  if (!rc)
    rc = read_facts(db, &f, e2, sizeof e2);
  if (rc) {
    dto_seterr(err, cap, "backup %s: %s", archive, e2);
    return rc;
  }
  if (f.schema != jint(m, "schema_version") || f.events != jint(m, "events") ||
      f.seq_last != jint(m, "seq_last")) {
    dto_seterr(err, cap,
               "backup %s: the store does not match the manifest (schema %d, "
               "%lld events, last seq %lld; the manifest says %lld, %lld, "
               "%lld)",
               archive, f.schema, (long long)f.events, (long long)f.seq_last,
               (long long)jint(m, "schema_version"),
               (long long)jint(m, "events"), (long long)jint(m, "seq_last"));
    return DTO_EPARSE;
  }
  return 0;
}

/* ---- the snapshot ----------------------------------------------------------
 */

/* Copy the live database src into the new file dst with the online backup
 * API, in one step so the copy is one consistent snapshot, then make dst a
 * single file (journal_mode DELETE). */
static int snapshot(const char *src, const char *dst, char *err, size_t cap) {
  sqlite3 *s = NULL, *d = NULL;
  int rc = 0, sr;
  if (!exists(src)) {
    dto_seterr(err, cap, "%s: no such store", src);
    return DTO_ENOENT;
  }
  if (sqlite3_open_v2(src, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
      sqlite3_open_v2(dst, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK) {
    dto_seterr(err, cap, "%s: cannot open: %s", s ? src : dst,
               sqlite3_errmsg(d ? d : s));
    rc = DTO_EIO;
    goto out;
  }
  sqlite3_busy_timeout(s, 5000);
  sqlite3_busy_timeout(d, 5000);
  sqlite3_backup *b = sqlite3_backup_init(d, "main", s, "main");
  if (!b) {
    dto_seterr(err, cap, "%s: backup: %s", src, sqlite3_errmsg(d));
    rc = DTO_EIO;
    goto out;
  }
  for (int tries = 0;; tries++) {
    sr = sqlite3_backup_step(b, -1);
    if (sr == SQLITE_DONE)
      break;
    if ((sr == SQLITE_BUSY || sr == SQLITE_LOCKED) && tries < 200) {
      sqlite3_sleep(50);
      continue;
    }
    break;
  }
  sqlite3_backup_finish(b);
  if (sr != SQLITE_DONE) {
    dto_seterr(err, cap, "%s: backup: %s", src, sqlite3_errstr(sr));
    rc = DTO_EIO;
    goto out;
  }
  if (sqlite3_exec(d, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) !=
      SQLITE_OK) {
    dto_seterr(err, cap, "%s: %s", dst, sqlite3_errmsg(d));
    rc = DTO_EIO;
  }
out:
  sqlite3_close(d);
  sqlite3_close(s);
  return rc;
}

/* Copy the archive src to dst (which must not exist), atomically, 0600. */
static int copy_file(const char *src, const char *dst, char *err, size_t cap) {
  int fd, rc;
  if (exists(dst)) {
    dto_seterr(err, cap, "%s: exists already", dst);
    return DTO_EEXIST;
  }
  if ((rc = fileio_open_regular(src, &fd, NULL, err, cap)))
    return rc;
  fileio_atomic *a = NULL;
  if ((rc = fileio_atomic_open(dst, 0600, &a, err, cap))) {
    close(fd);
    return rc;
  }
  char buf[65536];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0)
    fileio_atomic_write(a, buf, (size_t)r);
  int e = errno;
  close(fd);
  if (r < 0) {
    fileio_atomic_abort(a);
    dto_seterr(err, cap, "%s: read: %s", src, strerror(e));
    return dto_from_errno(e);
  }
  return fileio_atomic_commit(a, err, cap);
}

/* ---- full ------------------------------------------------------------------
 */

int backup_full(const char *store_url, const char *dir,
                const char *secondary_dir, int level,
                const uint8_t key[BACKUP_KEY_BYTES], const char *config_path,
                backup_progress_fn *progress, void *progress_ctx, char *id_out,
                size_t idcap, char *err, size_t cap) {
  const char *src;
  char scratch[PATHCAP], snap[PATHCAP + 16], id[RET_ID_MAX + 1];
  char path[PATHCAP + 80], e2[BACKUP_ERR_MAX];
  int rc = sqlite_path(store_url, &src, err, cap);
  if (rc)
    return rc;
  if ((rc = make_scratch(dir, ".scratch", scratch, sizeof scratch, err, cap)))
    return rc;
  snprintf(snap, sizeof snap, "%s/" STORE_FILE, scratch);
  store_facts f;
  if ((rc = snapshot(src, snap, err, cap)) ||
      (rc = read_facts(snap, &f, err, cap)))
    goto out;

  /* the name: full-YYYYMMDDTHHMMSSZ[-N].dtobak, never an existing one */
  dto_time now = wall_now();
  time_t secs = (time_t)(now / DTO_NS_PER_SEC);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  for (int k = 1;; k++) {
    if (k == 1)
      snprintf(id, sizeof id, "full-%s", stamp);
    else
      snprintf(id, sizeof id, "full-%s-%d", stamp, k);
    snprintf(path, sizeof path, "%s/%s" BACKUP_EXT, dir, id);
    if (!exists(path))
      break;
    if (k > 1000) {
      dto_seterr(err, cap, "%s: too many backups this second", dir);
      rc = DTO_EEXIST;
      goto out;
    }
  }

  const char *base = strrchr(src, '/');
  base = base ? base + 1 : src;
  json_t *extra =
      json_pack("{s:i, s:I, s:I, s:I, s:I, s:I}", "schema_version", f.schema,
                "seq_first", (json_int_t)f.seq_first, "seq_last",
                (json_int_t)f.seq_last, "events", (json_int_t)f.events,
                "orders", (json_int_t)f.orders, "fills", (json_int_t)f.fills);
  if (backup_name_ok(base, strlen(base)))
    json_object_set_new(extra, "store_name", json_string(base));
  char *ej = json_dumps(extra, JSON_COMPACT);
  json_decref(extra);
  struct stat st;
  uint64_t total = stat(snap, &st) ? 0 : (uint64_t)st.st_size;
  backup_opts o = {.level = level,
                   .created = (now / DTO_NS_PER_SEC) * DTO_NS_PER_SEC,
                   .total = total,
                   .progress = progress,
                   .progress_ctx = progress_ctx};
  backup_writer *w = NULL;
  rc = backup_writer_open(path, key, "full", ej, &o, &w, err, cap);
  free(ej);
  if (rc)
    goto out;
  if ((rc = backup_writer_add_file(w, STORE_FILE, snap, err, cap)) ||
      (config_path &&
       (rc = backup_writer_add_file(w, CONFIG_FILE, config_path, err, cap)))) {
    backup_writer_abort(w);
    goto out;
  }
  if ((rc = backup_writer_close(w, err, cap)))
    goto out;
  chmod(path, 0600);
  if ((rc = backup_verify(path, key, NULL, NULL, err, cap))) {
    unlink(path);
    goto out;
  }
  if (id_out && idcap)
    snprintf(id_out, idcap, "%s", id);

  if (secondary_dir) {
    char copy[PATHCAP + 80];
    snprintf(copy, sizeof copy, "%s/%s" BACKUP_EXT, secondary_dir, id);
    rc = mkdir_private(secondary_dir, e2, sizeof e2);
    if (!rc && !(rc = copy_file(path, copy, e2, sizeof e2)) &&
        (rc = backup_verify(copy, key, NULL, NULL, e2, sizeof e2)))
      unlink(copy);
    if (rc) {
      dto_seterr(err, cap,
                 "secondary %s: %s (the primary backup %s is in place and "
                 "verified)",
                 secondary_dir, e2, path);
      rc = BACKUP_ESECONDARY;
    }
  }
out:
  rm_flat(scratch);
  return rc;
}

/* ---- verify ----------------------------------------------------------------
 */

int backup_verify_one(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                      const char *scratch, json_t **manifest, char *err,
                      size_t cap) {
  char dir[PATHCAP], db[PATHCAP + 16];
  json_t *m = NULL;
  if (manifest)
    *manifest = NULL;
  int rc = make_scratch(scratch, ".verify", dir, sizeof dir, err, cap);
  if (rc)
    return rc;
  if ((rc = backup_extract(path, key, dir, NULL, &m, err, cap)))
    goto out;
  snprintf(db, sizeof db, "%s/" STORE_FILE, dir);
  if ((rc = check_store(path, db, m, err, cap)))
    goto out;
  if (manifest) {
    *manifest = m;
    m = NULL;
  }
out:
  json_decref(m);
  rm_flat(dir);
  return rc;
}

/* ---- list ------------------------------------------------------------------
 */

static int info_cmp(const void *a, const void *b) {
  const backup_info *x = a, *y = b;
  if (x->time != y->time)
    return x->time < y->time ? -1 : 1;
  return strcmp(x->id, y->id);
}

int backup_list(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                backup_info **out, size_t *n, char *err, size_t cap) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT)
      return 0;
    int e = errno;
    dto_seterr(err, cap, "%s: cannot list: %s", dir, strerror(e));
    return dto_from_errno(e);
  }
  backup_info *v = NULL;
  size_t len = 0;
  struct dirent *e;
  size_t el = strlen(BACKUP_EXT);
  while ((e = readdir(d))) {
    size_t nl = strlen(e->d_name);
    if (e->d_name[0] == '.' || nl <= el || nl - el > RET_ID_MAX ||
        strcmp(e->d_name + nl - el, BACKUP_EXT))
      continue;
    v = xrealloc(v, (len + 1) * sizeof *v);
    backup_info *b = &v[len++];
    memset(b, 0, sizeof *b);
    memcpy(b->id, e->d_name, nl - el);
    snprintf(b->path, sizeof b->path, "%s/%s", dir, e->d_name);
    snprintf(b->kind, sizeof b->kind, "?");
    struct stat st;
    if (!stat(b->path, &st)) {
      b->size = (uint64_t)st.st_size;
      b->time = (dto_time)st.st_mtime * DTO_NS_PER_SEC;
    }
    if (!key) {
      snprintf(b->err, sizeof b->err, "no key");
      continue;
    }
    json_t *m = NULL;
    if (backup_read_manifest(b->path, key, NULL, &m, b->err, sizeof b->err))
      continue;
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *created = json_string_value(json_object_get(m, "created"));
    dto_time t;
    if (kind)
      snprintf(b->kind, sizeof b->kind, "%s", kind);
    if (created && !time_parse_cstr(created, &t))
      b->time = t;
    b->seq_first = jint(m, "seq_first");
    b->seq_last = jint(m, "seq_last");
    b->ok = true;
    json_decref(m);
  }
  closedir(d);
  if (len)
    qsort(v, len, sizeof *v, info_cmp);
  *out = v;
  *n = len;
  return 0;
}

int backup_find(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                const char *ref, char *path, size_t pcap, char *err,
                size_t cap) {
  if (ref) {
    if (strchr(ref, '/'))
      snprintf(path, pcap, "%s", ref);
    else {
      size_t nl = strlen(ref), el = strlen(BACKUP_EXT);
      bool ext = nl > el && !strcmp(ref + nl - el, BACKUP_EXT);
      snprintf(path, pcap, "%s/%s%s", dir, ref, ext ? "" : BACKUP_EXT);
    }
    if (!exists(path)) {
      dto_seterr(err, cap, "no backup '%s' in %s", ref, dir);
      return DTO_ENOENT;
    }
    return 0;
  }
  backup_info *v;
  size_t n;
  int rc = backup_list(dir, key, &v, &n, err, cap);
  if (rc)
    return rc;
  rc = DTO_ENOENT;
  for (size_t i = n; i-- > 0;)
    if (v[i].ok && !strcmp(v[i].kind, "full")) {
      snprintf(path, pcap, "%s", v[i].path);
      rc = 0;
      break;
    }
  if (rc)
    dto_seterr(err, cap, "no readable full backup in %s", dir);
  free(v);
  return rc;
}

/* ---- restore ---------------------------------------------------------------
 */

static bool live_pid(const char *dir) {
  char p[PATHCAP + 16], *data = NULL;
  size_t len;
  snprintf(p, sizeof p, "%s/dto.pid", dir);
  if (fileio_read_small(p, 64, &data, &len, NULL, 0))
    return false;
  long pid = strtol(data, NULL, 10);
  free(data);
  return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int backup_restore(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                   const char *to_dir, bool force, char *restored, size_t rcap,
                   char *err, size_t cap) {
  char tmp[PATHCAP], db[PATHCAP + 16], dst[PATHCAP + 160], p[PATHCAP + 200];
  json_t *m = NULL;
  int rc = mkdir_private(to_dir, err, cap);
  if (rc)
    return rc;
  if (live_pid(to_dir)) {
    dto_seterr(err, cap,
               "%s: a running dto uses this folder (dto.pid); stop "
               "it first",
               to_dir);
    return DTO_EBUSY;
  }
  static const char *const names[] = {"dto.db", STORE_FILE};
  for (size_t i = 0; i < DTO_ARRAY_LEN(names) && !force; i++) {
    snprintf(p, sizeof p, "%s/%s", to_dir, names[i]);
    if (exists(p)) {
      dto_seterr(err, cap,
                 "%s: a store is there already; use --force to "
                 "replace it",
                 p);
      return DTO_EEXIST;
    }
  }
  if ((rc = make_scratch(to_dir, ".restore", tmp, sizeof tmp, err, cap)))
    return rc;
  if ((rc = backup_extract(path, key, tmp, NULL, &m, err, cap)))
    goto out;
  snprintf(db, sizeof db, "%s/" STORE_FILE, tmp);
  if ((rc = check_store(path, db, m, err, cap)))
    goto out;
  const char *name = json_string_value(json_object_get(m, "store_name"));
  if (!name || !backup_name_ok(name, strlen(name)))
    name = STORE_FILE;
  snprintf(dst, sizeof dst, "%s/%s", to_dir, name);
  if (exists(dst) && !force) {
    dto_seterr(err, cap,
               "%s: a store is there already; use --force to "
               "replace it",
               dst);
    rc = DTO_EEXIST;
    goto out;
  }
  /* a stale WAL beside the old file would be replayed into the new one */
  static const char *const sfx[] = {"-wal", "-shm", "-journal"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(sfx); i++) {
    snprintf(p, sizeof p, "%s%s", dst, sfx[i]);
    unlink(p);
  }
  if (rename(db, dst)) {
    int e = errno;
    dto_seterr(err, cap, "%s: cannot rename into place: %s", dst, strerror(e));
    rc = dto_from_errno(e);
    goto out;
  }
  fileio_sync_dir(dst);
  if (restored && rcap)
    snprintf(restored, rcap, "%s", dst);
out:
  json_decref(m);
  rm_flat(tmp);
  return rc;
}

/* ---- prune -----------------------------------------------------------------
 */

int backup_prune(const char *dir, const uint8_t key[BACKUP_KEY_BYTES],
                 const ret_policy *policy, dto_time now, bool dry_run,
                 FILE *out, char *err, size_t cap) {
  backup_info *v;
  size_t n;
  int rc = backup_list(dir, key, &v, &n, err, cap);
  if (rc)
    return rc;
  ret_backup *rb = xcalloc(n ? n : 1, sizeof *rb);
  size_t *idx = xcalloc(n ? n : 1, sizeof *idx);
  bool *keep = xcalloc(n ? n : 1, sizeof *keep);
  ret_why *why = xcalloc(n ? n : 1, sizeof *why);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (!v[i].ok || strcmp(v[i].kind, "full")) {
      fprintf(out, "keep   %s (unreadable or not a full backup: %s)\n", v[i].id,
              v[i].ok ? v[i].kind : v[i].err);
      continue;
    }
    snprintf(rb[m].id, sizeof rb[m].id, "%s", v[i].id);
    rb[m].kind = RET_FULL;
    rb[m].time = v[i].time;
    idx[m++] = i;
  }
  rc = ret_plan(rb, m, policy, now, keep, why, err, cap);
  if (rc >= 0) {
    rc = 0;
    for (size_t j = 0; j < m; j++) {
      const backup_info *b = &v[idx[j]];
      if (keep[j]) {
        fprintf(out, "keep   %s (%s)\n", b->id, why[j].text);
        continue;
      }
      fprintf(out, "%s %s (outside every retention window)\n",
              dry_run ? "would delete" : "delete", b->id);
      if (!dry_run && unlink(b->path)) {
        int e = errno;
        dto_seterr(err, cap, "%s: cannot delete: %s", b->path, strerror(e));
        rc = dto_from_errno(e);
      }
    }
    if (!dry_run && n)
      fileio_sync_dir(v[0].path); /* the folder that holds them */
  }
  free(why);
  free(keep);
  free(idx);
  free(rb);
  free(v);
  return rc;
}

/* ---- status ---------------------------------------------------------------- */

#define STATUS_NAME ".dto-backup-status.json"

/* Set key to obj (stolen; NULL is out of memory) in dir's status file,
 * keeping its other keys (read-modify-write), and replace it atomically.
 * An unreadable file is started afresh. */
static int status_put(const char *dir, const char *key, json_t *obj) {
  char path[4200], err[256];
  if (!obj)
    return DTO_ENOMEM;
  snprintf(path, sizeof path, "%s/%s", dir, STATUS_NAME);
  json_error_t je;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!json_is_object(j)) {
    json_decref(j);
    j = json_object();
  }
  if (!j || json_object_set_new(j, key, obj)) {
    json_decref(j);
    return DTO_ENOMEM;
  }
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!text)
    return DTO_ENOMEM;
  int rc = fileio_write_atomic(path, text, strlen(text), 0600, err, sizeof err);
  free(text);
  return rc;
}

int backup_status_read(const char *dir, backup_status *out) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, STATUS_NAME);
  json_error_t je;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!j)
    return access(path, F_OK) ? DTO_ENOENT : DTO_EPARSE;
  json_t *f = json_object_get(j, "full");
  if (!f) { /* only a drill so far */
    json_decref(j);
    return DTO_ENOENT;
  }
  json_t *ls = json_object_get(f, "last_success");
  json_t *la = json_object_get(f, "last_attempt");
  json_t *ok = json_object_get(f, "ok");
  json_t *er = json_object_get(f, "error");
  if (!json_is_integer(ls) || !json_is_integer(la) || !json_is_boolean(ok) ||
      !json_is_string(er)) {
    json_decref(j);
    return DTO_EPARSE;
  }
  memset(out, 0, sizeof *out);
  out->last_success = json_integer_value(ls);
  out->last_attempt = json_integer_value(la);
  out->last_failed = !json_is_true(ok);
  snprintf(out->error, sizeof out->error, "%s", json_string_value(er));
  json_decref(j);
  return 0;
}

int backup_status_note(const char *dir, bool ok, dto_time at,
                       const char *error) {
  backup_status st;
  if (backup_status_read(dir, &st))
    memset(&st, 0, sizeof st);
  st.last_attempt = at;
  if (ok)
    st.last_success = at;
  json_t *f = json_pack("{s:I,s:I,s:b,s:s}", "last_success",
                        (json_int_t)st.last_success, "last_attempt",
                        (json_int_t)st.last_attempt, "ok", ok, "error",
                        ok || !error ? "" : error);
  return status_put(dir, "full", f);
}

int backup_drill_note(const char *dir, const backup_drill *d) {
  json_t *o = json_pack("{s:I,s:b,s:f,s:f,s:I,s:s,s:s}", "at",
                        (json_int_t)d->at, "ok", d->ok, "rto_seconds",
                        d->rto_s, "rpo_seconds", d->rpo_s, "rpo_events",
                        (json_int_t)d->rpo_events, "backup", d->backup_id,
                        "error", d->error);
  return status_put(dir, "drill", o);
}

int backup_drill_read(const char *dir, backup_drill *out) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, STATUS_NAME);
  json_error_t je;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!j)
    return access(path, F_OK) ? DTO_ENOENT : DTO_EPARSE;
  json_t *o = json_object_get(j, "drill");
  if (!o) {
    json_decref(j);
    return DTO_ENOENT;
  }
  json_t *at = json_object_get(o, "at"), *ok = json_object_get(o, "ok");
  json_t *rto = json_object_get(o, "rto_seconds");
  json_t *rpo = json_object_get(o, "rpo_seconds");
  json_t *ev = json_object_get(o, "rpo_events");
  json_t *id = json_object_get(o, "backup"), *er = json_object_get(o, "error");
  if (!json_is_integer(at) || !json_is_boolean(ok) || !json_is_number(rto) ||
      !json_is_number(rpo) || !json_is_integer(ev) || !json_is_string(id) ||
      !json_is_string(er)) {
    json_decref(j);
    return DTO_EPARSE;
  }
  memset(out, 0, sizeof *out);
  out->at = json_integer_value(at);
  out->ok = json_is_true(ok);
  out->rto_s = json_number_value(rto);
  out->rpo_s = json_number_value(rpo);
  out->rpo_events = json_integer_value(ev);
  snprintf(out->backup_id, sizeof out->backup_id, "%s", json_string_value(id));
  snprintf(out->error, sizeof out->error, "%s", json_string_value(er));
  json_decref(j);
  return 0;
}

/* ---- drill -----------------------------------------------------------------
 */

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One row of integers from sql on the database at db (read-only): up to n
 * columns into v (NULL columns are 0). */
static int query_ints(const char *db, const char *sql, int64_t param,
                      int64_t *v, int n, char *err, size_t cap) {
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  int rc = DTO_EIO;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    dto_seterr(err, cap, "%s: cannot open: %s", db,
               h ? sqlite3_errmsg(h) : "out of memory");
    sqlite3_close(h);
    return DTO_EIO;
  }
  sqlite3_busy_timeout(h, 5000);
  if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_bind_parameter_count(st) <= 1 &&
      (sqlite3_bind_parameter_count(st) == 0 ||
       sqlite3_bind_int64(st, 1, param) == SQLITE_OK) &&
      sqlite3_step(st) == SQLITE_ROW) {
    for (int i = 0; i < n; i++)
      v[i] = sqlite3_column_int64(st, i);
    rc = 0;
  } else {
    dto_seterr(err, cap, "%s: %s", db, sqlite3_errmsg(h));
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rc;
}

/* Step 3: the restored store at db against the manifest m; live is the live
 * store's path (to see whether it has a snapshot the backup covers). */
static int drill_verify(const char *db, const char *live, const json_t *m,
                        char *err, size_t cap) {
  char e2[BACKUP_ERR_MAX], url[PATHCAP + 216];
  int rc = integrity(db, e2, sizeof e2);
  if (rc) {
    dto_seterr(err, cap, "integrity_check: %s", e2);
    return rc;
  }
  store_options o = {.must_exist = true, .require_current = true};
  store *s = NULL;
  snprintf(url, sizeof url, "sqlite:%s", db);
  if ((rc = store_open(url, &o, &s, e2, sizeof e2))) {
    dto_seterr(err, cap, "store_open with the current schema: %s", e2);
    return rc;
  }
  int64_t events = 0, seq = 0;
  if ((rc = store_count(s, STORE_T_EVENTS, &events)) ||
      (rc = store_max_seq(s, &seq))) {
    dto_seterr(err, cap, "%s: %s", db, store_errmsg(s, e2, sizeof e2));
    goto out;
  }
  int64_t seq_last = jint(m, "seq_last");
  if (events != jint(m, "events") || seq != seq_last) {
    dto_seterr(err, cap,
               "%lld events, max seq %lld; the manifest says %lld, %lld",
               (long long)events, (long long)seq, (long long)jint(m, "events"),
               (long long)seq_last);
    rc = DTO_EPARSE;
    goto out;
  }
  int64_t live_snaps = 0;
  if (query_ints(live, "SELECT count(*) FROM snapshots WHERE seq <= ?",
                 seq_last, &live_snaps, 1, e2, sizeof e2))
    live_snaps = 0; /* an older schema without snapshots */
  if (live_snaps > 0) {
    int64_t sseq = 0;
    dto_time stime = 0;
    void *blob = NULL;
    size_t len = 0;
    rc = store_snapshot_latest(s, &sseq, &stime, &blob, &len);
    free(blob);
    if (rc) {
      dto_seterr(err, cap,
                 "the live store has a checkpoint but the restored one "
                 "gives none: %s",
                 rc == DTO_ENOENT ? "none found"
                                  : store_errmsg(s, e2, sizeof e2));
      goto out;
    }
  }
out:
  store_close(s);
  return rc;
}

int backup_drill_run(const char *store_url, const char *dir,
                     const char *secondary_dir, int level,
                     const uint8_t key[BACKUP_KEY_BYTES],
                     const char *config_path, const char *keep_dir,
                     backup_drill *d) {
  char e2[BACKUP_ERR_MAX], archive[PATHCAP + 80], scratch[PATHCAP];
  char restored[PATHCAP + 200];
  const char *live = NULL;
  const char *to = NULL;
  json_t *m = NULL;
  bool made = false;
  scratch[0] = '\0';
  memset(d, 0, sizeof *d);
  d->at = wall_now();
  e2[0] = '\0';

  /* 1: the backup */
  int rc = sqlite_path(store_url, &live, e2, sizeof e2);
  if (!rc) {
    rc = backup_full(store_url, dir, secondary_dir, level, key, config_path,
                     NULL, NULL, d->backup_id, sizeof d->backup_id, e2,
                     sizeof e2);
    if (rc == BACKUP_ESECONDARY)
      rc = 0; /* the primary archive is there and verified: drill on it */
  }
  if (rc) {
    dto_seterr(d->error, sizeof d->error, "backup: %s", e2);
    goto out;
  }
  snprintf(archive, sizeof archive, "%s/%s" BACKUP_EXT, dir, d->backup_id);
  if ((rc = backup_read_manifest(archive, key, NULL, &m, e2, sizeof e2))) {
    dto_seterr(d->error, sizeof d->error, "backup: %s", e2);
    goto out;
  }

  /* 2: the restore, into a folder nobody uses */
  double t0 = mono_s();
  if (keep_dir) {
    if (exists(keep_dir)) {
      dto_seterr(d->error, sizeof d->error,
                 "restore: %s exists already (--keep needs a new folder)",
                 keep_dir);
      rc = DTO_EEXIST;
      goto out;
    }
    to = keep_dir;
  } else {
    if ((rc = make_scratch(dir, ".drill", scratch, sizeof scratch, e2,
                           sizeof e2))) {
      dto_seterr(d->error, sizeof d->error, "restore: %s", e2);
      goto out;
    }
    to = scratch;
  }
  made = true;
  rc = backup_restore(archive, key, to, false, restored, sizeof restored, e2,
                      sizeof e2);
  double t1 = mono_s();
  d->restore_s = t1 - t0;
  if (rc) {
    dto_seterr(d->error, sizeof d->error, "restore: %s", e2);
    goto out;
  }

  /* 3: could a dto start on it? */
  rc = drill_verify(restored, live, m, e2, sizeof e2);
  double t2 = mono_s();
  d->verify_s = t2 - t1;
  d->rto_s = t2 - t0;
  if (rc) {
    dto_seterr(d->error, sizeof d->error, "verify: %s", e2);
    goto out;
  }

  /* 4: what the journal holds beyond the backup, now */
  int64_t seq_last = jint(m, "seq_last"), beyond[2] = {0, 0}, bt = 0;
  if ((rc = query_ints(live,
                       "SELECT count(*), coalesce(max(time), 0) FROM events "
                       "WHERE seq > ?",
                       seq_last, beyond, 2, e2, sizeof e2)) ||
      (rc = query_ints(restored, "SELECT coalesce(max(time), 0) FROM events",
                       0, &bt, 1, e2, sizeof e2))) {
    dto_seterr(d->error, sizeof d->error, "rpo: %s", e2);
    goto out;
  }
  d->rpo_events = beyond[0];
  if (beyond[0] > 0 && beyond[1] > bt)
    d->rpo_s = (double)(beyond[1] - bt) / (double)DTO_NS_PER_SEC;
  d->ok = true;
out:
  if (made && !keep_dir)
    rm_flat(scratch); /* --keep DIR stays, for a look at what failed */
  json_decref(m);
  return rc;
}
