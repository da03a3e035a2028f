/* state.c - the kill switch file, the pid file and the single-instance lock
 * of `dto run`. */
#define _POSIX_C_SOURCE 200809L
#include "app/state.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"

#define PATH_CAP 4200

void state_dir(const dto_config *cfg, char *buf, size_t cap) {
  if (cfg->run.state_dir)
    snprintf(buf, cap, "%s", cfg->run.state_dir);
  else
    snprintf(buf, cap, "%s/var", cfg->dir ? cfg->dir : ".");
}

static int ensure_dir(const char *dir, char *err, size_t cap) {
  if (mkdir(dir, 0700) == 0 || errno == EEXIST)
    return 0;
  int e = errno;
  dto_seterr(err, cap, "cannot create state folder %s: %s", dir, strerror(e));
  return dto_from_errno(e);
}

/* Copy at most n bytes of a value, keeping printable ASCII only (the file
 * is line-based). */
static void copy_clean(char *dst, size_t cap, const char *src, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && src[i] && k + 1 < cap; i++)
    if (src[i] >= 0x20 && src[i] < 0x7f)
      dst[k++] = src[i];
  dst[k] = '\0';
}

/* ---- the state file ---------------------------------------------------- */

static bool key_is(const char *k, size_t n, const char *want) {
  return n == strlen(want) && !memcmp(k, want, n);
}

/* Parse; on failure err is set and the caller fails closed. */
static int parse(const char *name, const char *text, size_t len, run_state *st,
                 char *err, size_t cap) {
  if (len == 0) {
    dto_seterr(err, cap, "%s: empty file", name);
    return DTO_EPARSE;
  }
  if (len > STATE_FILE_MAX) {
    dto_seterr(err, cap, "%s: larger than %d bytes", name, STATE_FILE_MAX);
    return DTO_EPARSE;
  }
  int lineno = 1;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == '\n')
      lineno++;
    else if (c != '\t' && c != '\r' && (c < 0x20 || c >= 0x7f)) {
      dto_seterr(err, cap, "%s:%d: not a state file (byte 0x%02x)", name, lineno,
             c);
      return DTO_EPARSE;
    }
  }
  if (text[len - 1] != '\n') {
    dto_seterr(err, cap, "%s: truncated (the last line has no end)", name);
    return DTO_EPARSE;
  }
  bool seen = false;
  lineno = 0;
  for (size_t pos = 0; pos < len;) {
    const char *line = text + pos;
    const char *nl = memchr(line, '\n', len - pos);
    size_t n = (size_t)(nl - line); /* every line ends: checked above */
    pos += n + 1;
    lineno++;
    if (n && line[n - 1] == '\r')
      n--;
    if (n == 0 || line[0] == '#')
      continue;
    const char *eq = memchr(line, '=', n);
    if (!eq) {
      dto_seterr(err, cap, "%s:%d: expected key=value", name, lineno);
      return DTO_EPARSE;
    }
    size_t kn = (size_t)(eq - line), vn = n - kn - 1;
    const char *v = eq + 1;
    if (key_is(line, kn, "kill_switch")) {
      if (seen) {
        dto_seterr(err, cap, "%s:%d: a second kill_switch line", name, lineno);
        return DTO_EPARSE;
      }
      if (vn != 1 || (v[0] != '0' && v[0] != '1')) {
        dto_seterr(err, cap, "%s:%d: kill_switch must be 0 or 1", name, lineno);
        return DTO_EPARSE;
      }
      seen = true;
      st->killed = v[0] == '1';
    } else if (key_is(line, kn, "by")) {
      copy_clean(st->by, sizeof st->by, v, vn);
    } else if (key_is(line, kn, "at")) {
      copy_clean(st->at, sizeof st->at, v, vn);
    } else if (key_is(line, kn, "reason")) {
      copy_clean(st->reason, sizeof st->reason, v, vn);
    } /* unknown keys: written by a newer dto; ignored */
  }
  if (!seen) {
    dto_seterr(err, cap, "%s: no kill_switch line (truncated or damaged)", name);
    return DTO_EPARSE;
  }
  return 0;
}

int state_parse(const char *name, const char *text, size_t len, run_state *st,
                char *err, size_t cap) {
  memset(st, 0, sizeof *st);
  int rc = parse(name, text, len, st, err, cap);
  if (rc) {
    memset(st, 0, sizeof *st);
    st->killed = true; /* fail closed: a damaged file keeps trading off */
  }
  return rc;
}

size_t state_format(const run_state *st, char *buf, size_t cap) {
  char by[sizeof st->by], at[sizeof st->at], reason[sizeof st->reason];
  copy_clean(by, sizeof by, st->by, sizeof st->by);
  copy_clean(at, sizeof at, st->at, sizeof st->at);
  copy_clean(reason, sizeof reason, st->reason, sizeof st->reason);
  int n = snprintf(buf, cap,
                   "# dto run state; written by dto, change with 'dto kill'\n"
                   "kill_switch=%d\nby=%s\nat=%s\nreason=%s\n",
                   st->killed ? 1 : 0, by, at, reason);
  if (n < 0 || (size_t)n >= cap) {
    if (cap)
      buf[0] = '\0';
    return 0;
  }
  return (size_t)n;
}

int state_read(const char *dir, run_state *st, char *err, size_t cap) {
  char path[PATH_CAP];
  memset(st, 0, sizeof *st);
  snprintf(path, sizeof path, "%s/dto.state", dir);
  char *text;
  size_t len;
  int rc = fileio_read_small(path, STATE_FILE_MAX, &text, &len, err, cap);
  if (rc == DTO_ENOENT)
    return 0; /* the first start: released */
  if (rc) {
    st->killed = true; /* fail closed */
    return rc;
  }
  rc = state_parse(path, text, len, st, err, cap);
  free(text);
  return rc;
}

int state_write(const char *dir, const run_state *st, char *err, size_t cap) {
  int rc = ensure_dir(dir, err, cap);
  if (rc)
    return rc;
  char path[PATH_CAP], buf[512];
  snprintf(path, sizeof path, "%s/dto.state", dir);
  size_t n = state_format(st, buf, sizeof buf);
  DTO_ASSERT(n > 0); /* 512 bytes always hold the fields */
  return fileio_write_atomic(path, buf, n, 0600, err, cap);
}

/* ---- the pid file ------------------------------------------------------ */

int state_pid_write(const char *dir, char *err, size_t cap) {
  int rc = ensure_dir(dir, err, cap);
  if (rc)
    return rc;
  char path[PATH_CAP], buf[32];
  snprintf(path, sizeof path, "%s/dto.pid", dir);
  int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
  return fileio_write_atomic(path, buf, (size_t)n, 0644, err, cap);
}

void state_pid_remove(const char *dir) {
  char path[PATH_CAP];
  snprintf(path, sizeof path, "%s/dto.pid", dir);
  unlink(path);
}

/* ---- the single-instance lock ----------------------------------------- */

static void whole_file(struct flock *l, short type) {
  memset(l, 0, sizeof *l);
  l->l_type = type;
  l->l_whence = SEEK_SET;
  l->l_start = 0;
  l->l_len = 0; /* to the end, however long */
}

int state_lock(const char *dir, int *fd_out, char *err, size_t cap) {
  *fd_out = -1;
  int rc = ensure_dir(dir, err, cap);
  if (rc)
    return rc;
  char path[PATH_CAP];
  snprintf(path, sizeof path, "%s/dto.lock", dir);
  int fd =
      open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    dto_seterr(err, cap, "%s: cannot open: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    dto_seterr(err, cap, "%s: not a regular file", path);
    return DTO_EINVAL;
  }
  struct flock l;
  whole_file(&l, F_WRLCK);
  if (fcntl(fd, F_SETLK, &l) != 0) {
    int e = errno;
    if (e != EAGAIN && e != EACCES) {
      close(fd);
      dto_seterr(err, cap, "%s: cannot lock: %s", path, strerror(e));
      return dto_from_errno(e);
    }
    whole_file(&l, F_WRLCK);
    long pid =
        fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK ? (long)l.l_pid : 0;
    close(fd);
    if (pid > 0)
      dto_seterr(err, cap,
             "another dto (pid %ld) is running with the state folder %s "
             "(it holds %s)",
             pid, dir, path);
    else
      dto_seterr(err, cap,
             "another dto is running with the state folder %s (it holds %s)",
             dir, path);
    return DTO_EBUSY;
  }
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
    int e = errno;
    close(fd); /* releases the lock */
    dto_seterr(err, cap, "%s: cannot write: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  *fd_out = fd;
  return 0;
}

void state_unlock(int fd) {
  if (fd < 0)
    return;
  if (ftruncate(fd, 0) != 0) {
    /* only the informational pid stays behind; the lock goes with close */
  }
  close(fd);
}

int state_lock_holder(const char *dir, long *pid, char *err, size_t cap) {
  *pid = 0;
  char path[PATH_CAP];
  snprintf(path, sizeof path, "%s/dto.lock", dir);
  int fd;
  int rc = fileio_open_regular(path, &fd, NULL, err, cap);
  if (rc == DTO_ENOENT)
    return 0; /* no dto has ever run here */
  if (rc)
    return rc;
  struct flock l;
  whole_file(&l, F_WRLCK);
  if (fcntl(fd, F_GETLK, &l) != 0) {
    int e = errno;
    close(fd);
    dto_seterr(err, cap, "%s: cannot check the lock: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  close(fd);
  if (l.l_type == F_UNLCK)
    return 0;
  if (l.l_pid <= 0) {
    dto_seterr(err, cap, "%s: held by a process whose pid is not visible here",
           path);
    return DTO_EBUSY;
  }
  *pid = (long)l.l_pid;
  return 0;
}
