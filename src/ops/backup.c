/* backup.c - full backups of a SQLite store, their verification, listing,
 * pruning and restore (see backup.h).  The archive format is backup_fmt's;
 * this file decides what goes in and checks what comes out. */
#define _POSIX_C_SOURCE 200809L
#include "ops/backup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/timeutil.h"
#include "ops/backup_int.h"
#include "store/store.h"

/* ---- small helpers ---------------------------------------------------------
 */

dto_time bk_wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (dto_time)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

/* Make dir and its missing parents, each new one mode 0700. */
int bk_mkdir_private(const char *dir, char *err, size_t cap) {
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
void bk_rm_flat(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[PATHCAP];
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      if (unlink(p) && errno == EISDIR)
        bk_rm_flat(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

int bk_make_scratch(const char *parent, const char *prefix, char *out,
                    size_t ocap, char *err, size_t cap) {
  int rc = bk_mkdir_private(parent, err, cap);
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

bool bk_exists(const char *p) {
  struct stat st;
  return lstat(p, &st) == 0;
}

/* The SQLite path of a store URL, or DTO_EUNSUPPORTED for PostgreSQL. */
int bk_sqlite_path(const char *url, const char **path, char *err, size_t cap) {
  if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
    dto_seterr(err, cap,
               "a PostgreSQL store: dto takes its full backups (pg_dump of "
               "one snapshot); incremental and log backups are PostgreSQL's "
               "own WAL archiving (docs/operations.md)");
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

int64_t bk_jint(const json_t *m, const char *k) {
  const json_t *v = json_object_get(m, k);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* The facts the manifest records of the store at db. */

int bk_read_facts(const char *db, store_facts *f, char *err, size_t cap) {
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
int bk_integrity(const char *db, char *err, size_t cap) {
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
int bk_check_store(const char *archive, const char *db, const json_t *m,
                   char *err, size_t cap) {
  store_facts f;
  char e2[BACKUP_ERR_MAX];
  int rc = bk_integrity(db, e2, sizeof e2);
  if (!rc)
    rc = bk_read_facts(db, &f, e2, sizeof e2);
  if (rc) {
    dto_seterr(err, cap, "backup %s: %s", archive, e2);
    return rc;
  }
  if (f.schema != bk_jint(m, "schema_version") ||
      f.events != bk_jint(m, "events") ||
      f.seq_last != bk_jint(m, "seq_last")) {
    dto_seterr(err, cap,
               "backup %s: the store does not match the manifest (schema %d, "
               "%lld events, last seq %lld; the manifest says %lld, %lld, "
               "%lld)",
               archive, f.schema, (long long)f.events, (long long)f.seq_last,
               (long long)bk_jint(m, "schema_version"),
               (long long)bk_jint(m, "events"),
               (long long)bk_jint(m, "seq_last"));
    return DTO_EPARSE;
  }
  return 0;
}

/* ---- the snapshot ----------------------------------------------------------
 */

/* Copy the live database src into the new file dst with the online backup
 * API, in one step so the copy is one consistent snapshot, then make dst a
 * single file (journal_mode DELETE). */
int bk_snapshot(const char *src, const char *dst, char *err, size_t cap) {
  sqlite3 *s = NULL, *d = NULL;
  int rc = 0, sr;
  if (!bk_exists(src)) {
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
int bk_copy_file(const char *src, const char *dst, char *err, size_t cap) {
  int fd, rc;
  if (bk_exists(dst)) {
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

/* The progress hook of archive reads (backup_set_progress). */
static backup_progress_fn *read_progress;
static void *read_progress_ctx;

void backup_set_progress(backup_progress_fn *fn, void *ctx) {
  read_progress = fn;
  read_progress_ctx = ctx;
}

const backup_opts *bk_read_opts(backup_opts *o) {
  memset(o, 0, sizeof *o);
  o->progress = read_progress;
  o->progress_ctx = read_progress_ctx;
  return o;
}

/* A new backup's id, KIND-YYYYMMDDTHHMMSSZ[-N], and its path in dir: never
 * an existing one. */
int bk_new_id(const char *dir, const char *kind, dto_time now, char *id,
              size_t idcap, char *path, size_t pcap, char *err, size_t cap) {
  time_t secs = (time_t)(now / DTO_NS_PER_SEC);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  for (int k = 1; k <= 1000; k++) {
    if (k == 1)
      snprintf(id, idcap, "%s-%s", kind, stamp);
    else
      snprintf(id, idcap, "%s-%s-%d", kind, stamp, k);
    snprintf(path, pcap, "%s/%s" BACKUP_EXT, dir, id);
    if (!bk_exists(path))
      return 0;
  }
  dto_seterr(err, cap, "%s: too many backups this second", dir);
  return DTO_EEXIST;
}

/* argv with "{file}", "{name}" and "{dest}" replaced (a new array of new
 * strings, NULL-terminated; free with free_argv). */
static char **expand_argv(char *const *argv, const char *file, const char *name,
                          const char *dest) {
  size_t n = 0;
  while (argv[n])
    n++;
  char **out = xcalloc(n + 1, sizeof *out);
  for (size_t i = 0; i < n; i++) {
    dbuf b;
    dbuf_init(&b, 8192);
    for (const char *p = argv[i]; *p;) {
      if (!strncmp(p, "{file}", 6)) {
        dbuf_adds(&b, file);
        p += 6;
      } else if (!strncmp(p, "{name}", 6)) {
        dbuf_adds(&b, name);
        p += 6;
      } else if (!strncmp(p, "{dest}", 6) && dest) {
        dbuf_adds(&b, dest);
        p += 6;
      } else
        dbuf_addc(&b, *p++);
    }
    out[i] = xstrdup(b.ptr ? b.ptr : "");
    dbuf_release(&b);
  }
  return out;
}

static void free_argv(char **v) {
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

/* Run argv (no shell; stdin and stdout /dev/null, stderr kept: its first
 * line goes into the message) for at most timeout_s seconds.  0 when it
 * exited 0. */
int bk_run_command(char **argv, int timeout_s, char *err, size_t cap) {
  int pfd[2];
  if (pipe(pfd)) {
    dto_seterr(err, cap, "%s: pipe: %s", argv[0], strerror(errno));
    return DTO_EIO;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
  posix_spawn_file_actions_addclose(&fa, pfd[0]);
  pid_t pid;
  extern char **environ;
  int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pfd[1]);
  if (e) {
    close(pfd[0]);
    dto_seterr(err, cap, "%s: cannot run: %s", argv[0], strerror(e));
    return DTO_ENOENT;
  }
  fcntl(pfd[0], F_SETFL, O_NONBLOCK);
  char out[512];
  size_t got = 0;
  int status = 0;
  double deadline = (double)timeout_s * 1000;
  bool done = false;
  for (double waited = 0; !done; waited += 20) {
    ssize_t r;
    char sink[512];
    while ((r = read(pfd[0], got < sizeof out - 1 ? out + got : sink,
                     got < sizeof out - 1 ? sizeof out - 1 - got
                                          : sizeof sink)) > 0)
      if (got < sizeof out - 1)
        got += (size_t)r;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid)
      done = true;
    else if (waited >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      close(pfd[0]);
      dto_seterr(err, cap, "%s: still running after %d s: killed", argv[0],
                 timeout_s);
      return DTO_EAGAIN;
    } else
      usleep(20000);
  }
  close(pfd[0]);
  out[got] = '\0';
  char *nl = strchr(out, '\n');
  if (nl)
    *nl = '\0';
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (WIFEXITED(status))
    dto_seterr(err, cap, "%s exited with status %d%s%.200s", argv[0],
               WEXITSTATUS(status), out[0] ? ": " : "", out);
  else
    dto_seterr(err, cap, "%s was killed by signal %d", argv[0],
               WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return DTO_EIO;
}

/* Upload the archive path (file name name) with sec->upload, then fetch it
 * back with sec->fetch (when given) into a scratch folder of dir and
 * verify that copy. */
static int upload(const char *path, const char *name, const char *dir,
                  const backup_secondary *sec,
                  const uint8_t key[BACKUP_KEY_BYTES], char *err, size_t cap) {
  int t = sec->timeout_s > 0 ? sec->timeout_s : 600;
  char **argv = expand_argv(sec->upload, path, name, NULL);
  int rc = bk_run_command(argv, t, err, cap);
  free_argv(argv);
  if (rc || !sec->fetch)
    return rc;
  char scratch[PATHCAP], dest[PATHCAP + 80];
  if ((rc = bk_make_scratch(dir, ".fetch", scratch, sizeof scratch, err, cap)))
    return rc;
  snprintf(dest, sizeof dest, "%s/%s", scratch, name);
  argv = expand_argv(sec->fetch, path, name, dest);
  rc = bk_run_command(argv, t, err, cap);
  free_argv(argv);
  if (!rc && !bk_exists(dest)) {
    dto_seterr(err, cap, "%s brought nothing back to {dest}", sec->fetch[0]);
    rc = DTO_ENOENT;
  }
  if (!rc)
    rc = backup_verify(dest, key, NULL, NULL, err, cap);
  bk_rm_flat(scratch);
  return rc;
}

/* Copy the verified archive path (id) as sec says and verify each copy:
 * 0, or BACKUP_ESECONDARY with err naming what failed.  Both are tried. */
int bk_secondary(const char *path, const char *id, const backup_secondary *sec,
                 const uint8_t key[BACKUP_KEY_BYTES], char *err, size_t cap) {
  char copy[PATHCAP + 80], e2[BACKUP_ERR_MAX] = "", e3[BACKUP_ERR_MAX] = "";
  int rc = 0, rc2 = 0;
  if (sec->dir) {
    snprintf(copy, sizeof copy, "%s/%s" BACKUP_EXT, sec->dir, id);
    rc = bk_mkdir_private(sec->dir, e2, sizeof e2);
    if (!rc && !(rc = bk_copy_file(path, copy, e2, sizeof e2)) &&
        (rc = backup_verify(copy, key, NULL, NULL, e2, sizeof e2)))
      unlink(copy);
  }
  if (sec->upload && sec->upload[0]) {
    char name[RET_ID_MAX + 16], pdir[PATHCAP];
    snprintf(name, sizeof name, "%s" BACKUP_EXT, id);
    snprintf(pdir, sizeof pdir, "%s", path);
    char *slash = strrchr(pdir, '/');
    if (slash)
      *slash = '\0';
    else
      snprintf(pdir, sizeof pdir, ".");
    rc2 = upload(path, name, pdir, sec, key, e3, sizeof e3);
  }
  if (rc || rc2) {
    dto_seterr(err, cap,
               "%s%s%s%s%s%s (the primary backup %s is in place and "
               "verified)",
               rc ? "secondary " : "", rc ? sec->dir : "", rc ? ": " : "",
               rc ? e2 : "", rc && rc2 ? "; " : "", rc2 ? e3 : "", path);
    if (rc2 && !rc) {
      char tmp[BACKUP_ERR_MAX];
      snprintf(tmp, sizeof tmp, "upload: %s", err);
      dto_seterr(err, cap, "%s", tmp);
    }
    return BACKUP_ESECONDARY;
  }
  return 0;
}

/* Write the archive path (kind, the manifest's extra JSON, opts) holding
 * the files srcs[i] under names[i] (a NULL src is skipped), make it 0600
 * and verify it whole; a failed verification removes it.  The one way
 * every kind of backup is written. */
int bk_write_archive(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                     const char *kind, const char *extra_json,
                     const backup_opts *opts, const char *const *names,
                     const char *const *srcs, size_t n, char *err, size_t cap) {
  backup_writer *w = NULL;
  int rc = backup_writer_open(path, key, kind, extra_json, opts, &w, err, cap);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (srcs[i] &&
        (rc = backup_writer_add_file(w, names[i], srcs[i], err, cap))) {
      backup_writer_abort(w);
      return rc;
    }
  if ((rc = backup_writer_close(w, err, cap)))
    return rc;
  chmod(path, 0600);
  if ((rc = backup_verify(path, key, NULL, NULL, err, cap)))
    unlink(path);
  return rc;
}

/* ---- full ------------------------------------------------------------------
 */

int backup_full(const char *store_url, const char *dir,
                const backup_secondary *sec, int level,
                const uint8_t key[BACKUP_KEY_BYTES], const char *config_path,
                backup_progress_fn *progress, void *progress_ctx, char *id_out,
                size_t idcap, char *err, size_t cap) {
  const char *src;
  char scratch[PATHCAP], snap[PATHCAP + 16], id[RET_ID_MAX + 1];
  char path[PATHCAP + 80];
  if (bk_is_pg(store_url))
    return bk_pg_full(store_url, dir, sec, level, key, config_path, progress,
                      progress_ctx, id_out, idcap, err, cap);
  int rc = bk_sqlite_path(store_url, &src, err, cap);
  if (rc)
    return rc;
  if ((rc =
           bk_make_scratch(dir, ".scratch", scratch, sizeof scratch, err, cap)))
    return rc;
  snprintf(snap, sizeof snap, "%s/" STORE_FILE, scratch);
  store_facts f;
  if ((rc = bk_snapshot(src, snap, err, cap)) ||
      (rc = bk_read_facts(snap, &f, err, cap)))
    goto out;

  dto_time now = bk_wall_now();
  if ((rc = bk_new_id(dir, "full", now, id, sizeof id, path, sizeof path, err,
                      cap)))
    goto out;

  const char *base = strrchr(src, '/');
  base = base ? base + 1 : src;
  json_t *extra =
      json_pack("{s:i, s:I, s:I, s:I, s:I, s:I}", "schema_version", f.schema,
                "seq_first", (json_int_t)f.seq_first, "seq_last",
                (json_int_t)f.seq_last, "events", (json_int_t)f.events,
                "orders", (json_int_t)f.orders, "fills", (json_int_t)f.fills);
  if (backup_name_ok(base, strlen(base)))
    json_object_set_new(extra, "store_name", json_string(base));
  json_t *keys = NULL;
  if ((rc = bk_append_keys(snap, &keys, err, cap))) {
    json_decref(extra);
    goto out;
  }
  json_object_set_new(extra, "keys", keys);
  char *ej = json_dumps(extra, JSON_COMPACT);
  json_decref(extra);
  struct stat st;
  uint64_t total = stat(snap, &st) ? 0 : (uint64_t)st.st_size;
  backup_opts o = {.level = level,
                   .created = (now / DTO_NS_PER_SEC) * DTO_NS_PER_SEC,
                   .total = total,
                   .progress = progress,
                   .progress_ctx = progress_ctx};
  const char *names[] = {STORE_FILE, CONFIG_FILE},
             *srcs[] = {snap, config_path};
  rc = bk_write_archive(path, key, "full", ej, &o, names, srcs, 2, err, cap);
  free(ej);
  if (rc)
    goto out;
  if (id_out && idcap)
    snprintf(id_out, idcap, "%s", id);

  if (sec)
    rc = bk_secondary(path, id, sec, key, err, cap);
out:
  bk_rm_flat(scratch);
  return rc;
}

/* ---- verify ----------------------------------------------------------------
 */

int backup_verify_one(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                      const char *scratch, json_t **manifest, char *err,
                      size_t cap) {
  backup_opts ro;
  char dir[PATHCAP], db[PATHCAP + 16];
  json_t *m = NULL;
  if (manifest)
    *manifest = NULL;
  int rc = bk_make_scratch(scratch, ".verify", dir, sizeof dir, err, cap);
  if (rc)
    return rc;
  if ((rc = backup_extract(path, key, dir, bk_read_opts(&ro), &m, err, cap)))
    goto out;
  const char *kind = json_string_value(json_object_get(m, "kind"));
  const char *be = json_string_value(json_object_get(m, "backend"));
  if (be && !strcmp(be, "postgresql")) {
    /* restored into a scratch database on the store's server */
    snprintf(db, sizeof db, "%s/store.pgdump", dir);
    if ((rc = bk_pg_verify(path, db, m, err, cap)))
      goto out;
  } else if (kind && !strcmp(kind, "config")) {
    /* files only: every byte authenticated and checksummed above */
  } else if (kind && strcmp(kind, "full")) {
    /* an incremental or a log: restore its chain and check the result */
    if ((rc = backup_verify_chain(path, key, scratch, err, cap)))
      goto out;
  } else {
    snprintf(db, sizeof db, "%s/" STORE_FILE, dir);
    if ((rc = bk_check_store(path, db, m, err, cap)))
      goto out;
  }
  if (manifest) {
    *manifest = m;
    m = NULL;
  }
out:
  json_decref(m);
  bk_rm_flat(dir);
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
    /* the head only: listing a folder of many large archives must not
     * decrypt them all (restore and verify check each one whole) */
    if (backup_read_head(b->path, key, &m, b->err, sizeof b->err))
      continue;
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *created = json_string_value(json_object_get(m, "created"));
    dto_time t;
    if (kind)
      snprintf(b->kind, sizeof b->kind, "%s", kind);
    if (created && !time_parse_cstr(created, &t))
      b->time = t;
    b->seq_first = bk_jint(m, "seq_first");
    b->seq_last = bk_jint(m, "seq_last");
    const char *parent = json_string_value(json_object_get(m, "parent"));
    if (parent && strlen(parent) <= RET_ID_MAX)
      snprintf(b->parent, sizeof b->parent, "%s", parent);
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
    if (!bk_exists(path)) {
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
    if (v[i].ok) {
      snprintf(path, pcap, "%s", v[i].path);
      rc = 0;
      break;
    }
  if (rc)
    dto_seterr(err, cap, "no readable backup in %s", dir);
  free(v);
  return rc;
}

/* ---- restore ---------------------------------------------------------------
 */

bool bk_live_pid(const char *dir) {
  char p[PATHCAP + 16], *data = NULL;
  size_t len;
  snprintf(p, sizeof p, "%s/dto.pid", dir);
  if (fileio_read_small(p, 64, &data, &len, NULL, 0))
    return false;
  long pid = strtol(data, NULL, 10);
  free(data);
  return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int bk_restore_prepare(const char *to_dir, bool force, char *err, size_t cap) {
  char p[PATHCAP + 200];
  int rc = bk_mkdir_private(to_dir, err, cap);
  if (rc)
    return rc;
  if (bk_live_pid(to_dir)) {
    dto_seterr(err, cap,
               "%s: a running dto uses this folder (dto.pid); stop "
               "it first",
               to_dir);
    return DTO_EBUSY;
  }
  static const char *const names[] = {"dto.db", STORE_FILE};
  for (size_t i = 0; i < DTO_ARRAY_LEN(names) && !force; i++) {
    snprintf(p, sizeof p, "%s/%s", to_dir, names[i]);
    if (bk_exists(p)) {
      dto_seterr(err, cap,
                 "%s: a store is there already; use --force to "
                 "replace it",
                 p);
      return DTO_EEXIST;
    }
  }
  return 0;
}

int bk_restore_place(const char *db, const char *to_dir, const char *name,
                     bool force, char *restored, size_t rcap, char *err,
                     size_t cap) {
  char dst[PATHCAP + 160], p[PATHCAP + 200];
  snprintf(dst, sizeof dst, "%s/%s", to_dir, name);
  if (bk_exists(dst) && !force) {
    dto_seterr(err, cap,
               "%s: a store is there already; use --force to "
               "replace it",
               dst);
    return DTO_EEXIST;
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
    return dto_from_errno(e);
  }
  fileio_sync_dir(dst);
  if (restored && rcap)
    snprintf(restored, rcap, "%s", dst);
  return 0;
}

int backup_restore(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                   const char *to_dir, bool force, char *restored, size_t rcap,
                   char *err, size_t cap) {
  backup_opts ro;
  char tmp[PATHCAP], db[PATHCAP + 16];
  json_t *m = NULL;
  int rc = bk_restore_prepare(to_dir, force, err, cap);
  if (rc)
    return rc;
  if ((rc = bk_make_scratch(to_dir, ".restore", tmp, sizeof tmp, err, cap)))
    return rc;
  if ((rc = backup_extract(path, key, tmp, bk_read_opts(&ro), &m, err, cap)))
    goto out;
  snprintf(db, sizeof db, "%s/" STORE_FILE, tmp);
  if ((rc = bk_check_store(path, db, m, err, cap)))
    goto out;
  const char *name = json_string_value(json_object_get(m, "store_name"));
  if (!name || !backup_name_ok(name, strlen(name)))
    name = STORE_FILE;
  rc = bk_restore_place(db, to_dir, name, force, restored, rcap, err, cap);
out:
  json_decref(m);
  bk_rm_flat(tmp);
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
    enum ret_kind k = RET_KIND_COUNT;
    if (v[i].ok && (!strcmp(v[i].kind, "full") || !strcmp(v[i].kind, "config")))
      k = RET_FULL; /* a config backup stands alone, in its own folder */
    else if (v[i].ok && !strcmp(v[i].kind, "incremental"))
      k = RET_INCREMENTAL;
    else if (v[i].ok && !strcmp(v[i].kind, "log"))
      k = RET_LOG;
    if (k == RET_KIND_COUNT) {
      fprintf(out, "keep   %s (unreadable or of an unknown kind: %s)\n",
              v[i].id, v[i].ok ? v[i].kind : v[i].err);
      continue;
    }
    snprintf(rb[m].id, sizeof rb[m].id, "%s", v[i].id);
    snprintf(rb[m].parent, sizeof rb[m].parent, "%s",
             k == RET_FULL ? "" : v[i].parent);
    rb[m].kind = k;
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

/* ---- status ----------------------------------------------------------------
 */

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

int backup_status_read_kind(const char *dir, const char *kind,
                            backup_status *out) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, STATUS_NAME);
  json_error_t je;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!j)
    return access(path, F_OK) ? DTO_ENOENT : DTO_EPARSE;
  json_t *f = json_object_get(j, kind);
  if (!f) { /* no attempt of this kind so far */
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

int backup_status_read(const char *dir, backup_status *out) {
  return backup_status_read_kind(dir, "full", out);
}

int backup_status_note_kind(const char *dir, const char *kind, bool ok,
                            dto_time at, const char *error) {
  backup_status st;
  if (backup_status_read_kind(dir, kind, &st))
    memset(&st, 0, sizeof st);
  st.last_attempt = at;
  if (ok)
    st.last_success = at;
  json_t *f = json_pack("{s:I,s:I,s:b,s:s}", "last_success",
                        (json_int_t)st.last_success, "last_attempt",
                        (json_int_t)st.last_attempt, "ok", ok, "error",
                        ok || !error ? "" : error);
  return status_put(dir, kind, f);
}

int backup_status_note(const char *dir, bool ok, dto_time at,
                       const char *error) {
  return backup_status_note_kind(dir, "full", ok, at, error);
}

/* The id of a backup path: its file name without BACKUP_EXT. */
static void id_of(const char *path, char *id, size_t cap) {
  const char *b = strrchr(path, '/');
  snprintf(id, cap, "%s", b ? b + 1 : path);
  size_t n = strlen(id), el = strlen(BACKUP_EXT);
  if (n > el && !strcmp(id + n - el, BACKUP_EXT))
    id[n - el] = '\0';
}

int backup_verified_note(const char *dir, const char *path, bool ok,
                         dto_time at, const char *error) {
  char p[4200], id[RET_ID_MAX + 16];
  id_of(path, id, sizeof id);
  snprintf(p, sizeof p, "%s/%s", dir, STATUS_NAME);
  json_error_t je;
  json_t *j = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
  json_t *v =
      json_is_object(j) ? json_deep_copy(json_object_get(j, "verified")) : NULL;
  json_decref(j);
  if (!json_is_object(v)) {
    json_decref(v);
    v = json_object();
  }
  /* forget the backups that are gone, so the file does not grow */
  const char *k;
  json_t *x, *keep = json_object();
  json_object_foreach(v, k, x) {
    char bp[4400];
    snprintf(bp, sizeof bp, "%s/%s" BACKUP_EXT, dir, k);
    if (bk_exists(bp))
      json_object_set(keep, k, x);
  }
  json_decref(v);
  json_object_set_new(keep, id,
                      json_pack("{s:I,s:b}", "at", (json_int_t)at, "ok", ok));
  int rc = status_put(dir, "verified", keep);
  /* the latest verification, for the metrics */
  json_t *last = json_pack("{s:I,s:b,s:s,s:s}", "at", (json_int_t)at, "ok", ok,
                           "backup", id, "error", ok || !error ? "" : error);
  if (!rc)
    rc = status_put(dir, "verify", last);
  return rc;
}

int backup_verified_read(const char *dir, const char *id, dto_time *at,
                         bool *ok) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", dir, STATUS_NAME);
  json_error_t je;
  json_t *j = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
  json_t *e = json_object_get(json_object_get(j, "verified"), id);
  int rc = DTO_ENOENT;
  if (json_is_integer(json_object_get(e, "at")) &&
      json_is_boolean(json_object_get(e, "ok"))) {
    *at = json_integer_value(json_object_get(e, "at"));
    *ok = json_is_true(json_object_get(e, "ok"));
    rc = 0;
  }
  json_decref(j);
  return rc;
}

int backup_verify_last(const char *dir, dto_time *at, bool *ok) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", dir, STATUS_NAME);
  json_error_t je;
  json_t *j = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
  json_t *e = json_object_get(j, "verify");
  int rc = DTO_ENOENT;
  if (json_is_integer(json_object_get(e, "at")) &&
      json_is_boolean(json_object_get(e, "ok"))) {
    *at = json_integer_value(json_object_get(e, "at"));
    *ok = json_is_true(json_object_get(e, "ok"));
    rc = 0;
  }
  json_decref(j);
  return rc;
}

int backup_drill_note(const char *dir, const backup_drill *d) {
  json_t *o = json_pack(
      "{s:I,s:b,s:f,s:f,s:I,s:s,s:s}", "at", (json_int_t)d->at, "ok", d->ok,
      "rto_seconds", d->rto_s, "rpo_seconds", d->rpo_s, "rpo_events",
      (json_int_t)d->rpo_events, "backup", d->backup_id, "error", d->error);
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
  int rc = bk_integrity(db, e2, sizeof e2);
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
  int64_t seq_last = bk_jint(m, "seq_last");
  if (events != bk_jint(m, "events") || seq != seq_last) {
    dto_seterr(err, cap,
               "%lld events, max seq %lld; the manifest says %lld, %lld",
               (long long)events, (long long)seq,
               (long long)bk_jint(m, "events"), (long long)seq_last);
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
                     const backup_secondary *sec, int level,
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
  d->at = bk_wall_now();
  e2[0] = '\0';

  /* 1: the backup */
  bool pg = bk_is_pg(store_url);
  int rc = 0;
  if (pg && keep_dir) {
    dto_seterr(d->error, sizeof d->error,
               "restore: --keep is for SQLite stores (a PostgreSQL drill "
               "restores into a scratch database it drops)");
    return DTO_EINVAL;
  }
  if (!pg)
    rc = bk_sqlite_path(store_url, &live, e2, sizeof e2);
  if (!rc) {
    rc = backup_full(store_url, dir, sec, level, key, config_path, NULL, NULL,
                     d->backup_id, sizeof d->backup_id, e2, sizeof e2);
    if (rc == BACKUP_ESECONDARY)
      rc = 0; /* the primary archive is there and verified: drill on it */
  }
  if (rc) {
    dto_seterr(d->error, sizeof d->error, "backup: %s", e2);
    goto out;
  }
  if (pg) {
    /* restored into a scratch database on the store's server, checked
     * against the manifest, dropped; then what the live journal holds
     * beyond it */
    snprintf(archive, sizeof archive, "%s/%s" BACKUP_EXT, dir, d->backup_id);
    double t0 = mono_s();
    rc = backup_verify_one(archive, key, dir, &m, e2, sizeof e2);
    d->restore_s = d->rto_s = mono_s() - t0;
    if (rc) {
      dto_seterr(d->error, sizeof d->error, "restore: %s", e2);
      goto out;
    }
    if ((rc = bk_pg_rpo(store_url, bk_jint(m, "seq_last"), &d->rpo_events,
                        &d->rpo_s, e2, sizeof e2))) {
      dto_seterr(d->error, sizeof d->error, "rpo: %s", e2);
      goto out;
    }
    d->ok = true;
    goto out;
  }
  /* and a log backup on it: the drill restores a point of a chain, as a
   * point-in-time recovery does */
  rc = backup_delta(store_url, dir, sec, level, key, false, d->backup_id,
                    sizeof d->backup_id, e2, sizeof e2);
  if (rc == BACKUP_ESECONDARY)
    rc = 0;
  if (rc) {
    dto_seterr(d->error, sizeof d->error, "backup: log: %s", e2);
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
    if (bk_exists(keep_dir)) {
      dto_seterr(d->error, sizeof d->error,
                 "restore: %s exists already (--keep needs a new folder)",
                 keep_dir);
      rc = DTO_EEXIST;
      goto out;
    }
    to = keep_dir;
  } else {
    if ((rc = bk_make_scratch(dir, ".drill", scratch, sizeof scratch, e2,
                              sizeof e2))) {
      dto_seterr(d->error, sizeof d->error, "restore: %s", e2);
      goto out;
    }
    to = scratch;
  }
  made = true;
  backup_point pt;
  rc = backup_restore_at(dir, key, d->backup_id, INT64_MAX, INT64_MAX, to,
                         false, &pt, restored, sizeof restored, e2, sizeof e2);
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
  int64_t seq_last = bk_jint(m, "seq_last"), beyond[2] = {0, 0}, bt = 0;
  if ((rc = query_ints(live,
                       "SELECT count(*), coalesce(max(time), 0) FROM events "
                       "WHERE seq > ?",
                       seq_last, beyond, 2, e2, sizeof e2)) ||
      (rc = query_ints(restored, "SELECT coalesce(max(time), 0) FROM events", 0,
                       &bt, 1, e2, sizeof e2))) {
    dto_seterr(d->error, sizeof d->error, "rpo: %s", e2);
    goto out;
  }
  d->rpo_events = beyond[0];
  if (beyond[0] > 0 && beyond[1] > bt)
    d->rpo_s = (double)(beyond[1] - bt) / (double)DTO_NS_PER_SEC;
  d->ok = true;
out:
  if (made && !keep_dir)
    bk_rm_flat(scratch); /* --keep DIR stays, for a look at what failed */
  json_decref(m);
  return rc;
}

/* ---- the store's record -----------------------------------------------------
 */

int backup_record(const char *store_url, const char *kind, bool ok, dto_time at,
                  const char *detail_json) {
  const char *db;
  if (bk_is_pg(store_url))
    return bk_pg_record(store_url, kind, ok, at, detail_json);
  if (bk_sqlite_path(store_url, &db, NULL, 0) || !bk_exists(db))
    return DTO_EUNSUPPORTED;
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  int rc = DTO_EIO;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 5000);
    /* max(seq) + 1 inside the INSERT: SQLite runs it under the write lock */
    if (sqlite3_prepare_v2(h,
                           "INSERT INTO backup_log (seq, time, kind, ok, "
                           "detail) SELECT coalesce(max(seq), 0) + 1, ?1, ?2, "
                           "?3, ?4 FROM backup_log",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_int64(st, 1, at) == SQLITE_OK &&
        sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int(st, 3, ok ? 1 : 0) == SQLITE_OK &&
        sqlite3_bind_text(st, 4, detail_json ? detail_json : "{}", -1,
                          SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_DONE)
      rc = 0;
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rc;
}

/* ---- configuration backups
 * ---------------------------------------------------- */

/* A file that holds a private key or a dto key is never archived. */
static bool holds_secret(const char *path) {
  char *data = NULL;
  size_t len = 0;
  if (fileio_read_small(path, 1 << 20, &data, &len, NULL, 0))
    return false; /* too large or unreadable: the writer says why */
  bool yes = strstr(data, "PRIVATE KEY-----") != NULL;
  /* 64 hex digits alone (a backup key file) */
  size_t n = len;
  while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
    n--;
  if (n == 64) {
    bool hex = true;
    for (size_t i = 0; i < n && hex; i++)
      hex = isxdigit((unsigned char)data[i]) != 0;
    yes = yes || hex;
  }
  free(data);
  return yes;
}

int backup_config(const char *config_path, const char *const *files,
                  size_t nfiles, const char *dir, const backup_secondary *sec,
                  const uint8_t key[BACKUP_KEY_BYTES], char *id_out,
                  size_t idcap, char *err, size_t cap) {
  char cdir[PATHCAP], id[RET_ID_MAX + 1], path[PATHCAP + 80];
  char sdir[PATHCAP];
  snprintf(cdir, sizeof cdir, "%s/config", dir);
  int rc = bk_mkdir_private(cdir, err, cap);
  if (rc)
    return rc;
  /* every name flat and distinct, no secret: checked before writing */
  const char **names = xcalloc(nfiles + 1, sizeof *names);
  for (size_t i = 0; i < nfiles; i++) {
    const char *b = strrchr(files[i], '/');
    names[i] = b ? b + 1 : files[i];
    if (!backup_name_ok(names[i], strlen(names[i])) ||
        !strcmp(names[i], CONFIG_FILE)) {
      dto_seterr(err, cap,
                 "%s: a file name the archive cannot hold (letters, digits, "
                 ". _ -; not config.yaml)",
                 files[i]);
      free(names);
      return DTO_EINVAL;
    }
    for (size_t j = 0; j < i; j++)
      if (!strcmp(names[i], names[j])) {
        dto_seterr(err, cap, "%s: two files named %s", files[i], names[i]);
        free(names);
        return DTO_EINVAL;
      }
    if (holds_secret(files[i])) {
      dto_seterr(err, cap,
                 "%s: it holds a key; secrets are never backed up with the "
                 "configuration",
                 files[i]);
      free(names);
      return DTO_EREJECT;
    }
  }
  dto_time now = bk_wall_now();
  if ((rc = bk_new_id(cdir, "config", now, id, sizeof id, path, sizeof path,
                      err, cap)))
    goto out;
  backup_opts o = {.created = (now / DTO_NS_PER_SEC) * DTO_NS_PER_SEC};
  /* config.yaml first, then the files by their base names */
  const char **an = xcalloc(nfiles + 1, sizeof *an);
  const char **as = xcalloc(nfiles + 1, sizeof *as);
  an[0] = CONFIG_FILE;
  as[0] = config_path;
  for (size_t i = 0; i < nfiles; i++) {
    an[i + 1] = names[i];
    as[i + 1] = files[i];
  }
  rc = bk_write_archive(path, key, "config", "{}", &o, an, as, nfiles + 1, err,
                        cap);
  free(an);
  free(as);
  if (rc)
    goto out;
  if (id_out && idcap)
    snprintf(id_out, idcap, "%s", id);
  if (sec) {
    backup_secondary cs = *sec;
    if (sec->dir) {
      snprintf(sdir, sizeof sdir, "%s/config", sec->dir);
      cs.dir = sdir;
    }
    rc = bk_secondary(path, id, &cs, key, err, cap);
  }
out:
  free(names);
  return rc;
}

int backup_record_outcome(const char *store_url, const char *kind, bool ok,
                          dto_time at, const char *id, const char *error) {
  json_t *d = json_pack("{s:s,s:s}", "id", id ? id : "", "error",
                        !ok && error ? error : "");
  char *dj = d ? json_dumps(d, JSON_COMPACT) : NULL;
  int rc = dj ? backup_record(store_url, kind, ok, at, dj) : DTO_ENOMEM;
  free(dj);
  json_decref(d);
  return rc;
}

int backup_drill_finish(const char *store_url, const char *dir,
                        const backup_drill *d) {
  dto_time now = bk_wall_now();
  /* the drill's backups are backups like any other */
  if (d->backup_id[0] || !strncmp(d->error, "backup:", 7))
    (void)backup_status_note(dir, d->backup_id[0] != 0, now,
                             d->error + (d->backup_id[0] ? 0 : 8));
  json_t *dj =
      json_pack("{s:s,s:f,s:f,s:I,s:s}", "id", d->backup_id, "rto_seconds",
                d->rto_s, "rpo_seconds", d->rpo_s, "rpo_events",
                (json_int_t)d->rpo_events, "error", d->error);
  char *text = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
  if (store_url && text)
    (void)backup_record(store_url, "drill", d->ok, now, text);
  free(text);
  json_decref(dj);
  return backup_drill_note(dir, d);
}
