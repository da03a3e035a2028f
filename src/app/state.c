/* state.c - the kill switch file and the pid file of `dto run`. */
#define _POSIX_C_SOURCE 200809L
#include "app/state.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

void state_dir(const dto_config *cfg, char *buf, size_t cap) {
  if (cfg->run.state_dir)
    snprintf(buf, cap, "%s", cfg->run.state_dir);
  else
    snprintf(buf, cap, "%s/var", cfg->dir ? cfg->dir : ".");
}

static int ensure_dir(const char *dir, char *err, size_t cap) {
  if (mkdir(dir, 0700) == 0 || errno == EEXIST)
    return 0;
  snprintf(err, cap, "cannot create state folder %s: %s", dir,
           strerror(errno));
  return dto_from_errno(errno);
}

/* Copy a value, keeping printable ASCII only (the file is line-based). */
static void copy_clean(char *dst, size_t cap, const char *src) {
  size_t n = 0;
  for (; *src && n + 1 < cap; src++)
    if (*src >= 0x20 && *src < 0x7f)
      dst[n++] = *src;
  dst[n] = '\0';
}

int state_read(const char *dir, run_state *st, char *err, size_t cap) {
  char path[4200];
  memset(st, 0, sizeof *st);
  snprintf(path, sizeof path, "%s/dto.state", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT)
      return 0;
    snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
    return DTO_EIO;
  }
  char line[512];
  int lineno = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0] || line[0] == '#')
      continue;
    char *eq = strchr(line, '=');
    if (!eq) {
      snprintf(err, cap, "%s:%d: expected key=value", path, lineno);
      rc = DTO_EPARSE;
      break;
    }
    *eq = '\0';
    const char *k = line, *v = eq + 1;
    if (!strcmp(k, "kill_switch")) {
      if (strcmp(v, "0") && strcmp(v, "1")) {
        snprintf(err, cap, "%s:%d: kill_switch must be 0 or 1", path,
                 lineno);
        rc = DTO_EPARSE;
        break;
      }
      st->killed = v[0] == '1';
    } else if (!strcmp(k, "by")) {
      copy_clean(st->by, sizeof st->by, v);
    } else if (!strcmp(k, "at")) {
      copy_clean(st->at, sizeof st->at, v);
    } else if (!strcmp(k, "reason")) {
      copy_clean(st->reason, sizeof st->reason, v);
    } /* unknown keys: written by a newer dto; ignored */
  }
  fclose(f);
  if (rc)
    st->killed = true; /* fail closed: a damaged file keeps trading off */
  return rc;
}

int state_write(const char *dir, const run_state *st, char *err, size_t cap) {
  int rc = ensure_dir(dir, err, cap);
  if (rc)
    return rc;
  char path[4200], tmp[4300], by[64], at[40], reason[160];
  snprintf(path, sizeof path, "%s/dto.state", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  copy_clean(by, sizeof by, st->by);
  copy_clean(at, sizeof at, st->at);
  copy_clean(reason, sizeof reason, st->reason);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
    return dto_from_errno(errno);
  }
  char buf[512];
  int n = snprintf(buf, sizeof buf,
                   "# dto run state; written by dto, change with 'dto kill'\n"
                   "kill_switch=%d\nby=%s\nat=%s\nreason=%s\n",
                   st->killed ? 1 : 0, by, at, reason);
  bool ok = n > 0 && (size_t)n < sizeof buf &&
            write(fd, buf, (size_t)n) == (ssize_t)n && fsync(fd) == 0;
  int e = errno;
  ok &= close(fd) == 0;
  if (!ok || rename(tmp, path) != 0) {
    snprintf(err, cap, "cannot write %s: %s", path, strerror(ok ? errno : e));
    unlink(tmp);
    return DTO_EIO;
  }
  return 0;
}

int state_pid_write(const char *dir, char *err, size_t cap) {
  int rc = ensure_dir(dir, err, cap);
  if (rc)
    return rc;
  char path[4200];
  snprintf(path, sizeof path, "%s/dto.pid", dir);
  FILE *f = fopen(path, "w");
  if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
    snprintf(err, cap, "cannot write %s: %s", path, strerror(errno));
    return DTO_EIO;
  }
  return 0;
}

void state_pid_remove(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/dto.pid", dir);
  unlink(path);
}

long state_pid_read(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/dto.pid", dir);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  long pid = 0;
  if (fscanf(f, "%ld", &pid) != 1)
    pid = 0;
  fclose(f);
  if (pid <= 1 || kill((pid_t)pid, 0) != 0)
    return 0;
  return pid;
}
