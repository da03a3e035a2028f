/* fileio.c - opening outside files safely and replacing files atomically. */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

#define ATOMIC_BUF (64 * 1024)

static const char *kind_name(mode_t m) {
  if (S_ISDIR(m))
    return "a folder";
  if (S_ISFIFO(m))
    return "a FIFO";
  if (S_ISSOCK(m))
    return "a socket";
  if (S_ISCHR(m))
    return "a character device";
  if (S_ISBLK(m))
    return "a block device";
  return "an unknown kind of file";
}

int fileio_open_regular(const char *path, int *fd, struct stat *st, char *err,
                        size_t cap) {
  *fd = -1;
  int f;
  do
    f = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  while (f < 0 && errno == EINTR);
  if (f < 0) {
    int e = errno;
    dto_seterr(err, cap, "%s: cannot open: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  struct stat s;
  if (fstat(f, &s) != 0) {
    int e = errno;
    close(f);
    dto_seterr(err, cap, "%s: cannot stat: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  if (!S_ISREG(s.st_mode)) {
    close(f);
    dto_seterr(err, cap, "%s: not a regular file (%s)", path, kind_name(s.st_mode));
    return DTO_EINVAL;
  }
  int fl = fcntl(f, F_GETFL);
  if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0) {
    int e = errno;
    close(f);
    dto_seterr(err, cap, "%s: cannot open: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  if (st)
    *st = s;
  *fd = f;
  return 0;
}

int fileio_read_small(const char *path, size_t max, char **data, size_t *len,
                      char *err, size_t cap) {
  *data = NULL;
  *len = 0;
  int fd;
  struct stat st;
  int rc = fileio_open_regular(path, &fd, &st, err, cap);
  if (rc)
    return rc;
  if ((uint64_t)st.st_size > max) {
    close(fd);
    dto_seterr(err, cap, "%s: larger than %zu bytes", path, max);
    return DTO_ETOOBIG;
  }
  /* Read up to max + 1 bytes whatever fstat said: the file may grow. */
  char *buf = xmalloc(max + 2);
  size_t n = 0;
  while (n <= max) {
    ssize_t k = read(fd, buf + n, max + 1 - n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0) {
      int e = errno;
      close(fd);
      free(buf);
      dto_seterr(err, cap, "%s: cannot read: %s", path, strerror(e));
      return DTO_EIO;
    }
    if (k == 0)
      break;
    n += (size_t)k;
  }
  close(fd);
  if (n > max) {
    free(buf);
    dto_seterr(err, cap, "%s: larger than %zu bytes", path, max);
    return DTO_ETOOBIG;
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return 0;
}

/* ---- atomic replacement ------------------------------------------------ */

struct fileio_atomic {
  int fd;
  int err; /* errno of the first write failure */
  char *path, *tmp;
  unsigned char *buf;
  size_t len;
};

int fileio_sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir;
  if (!slash)
    dir = xstrdup(".");
  else if (slash == path)
    dir = xstrdup("/");
  else
    dir = xstrndup(path, (size_t)(slash - path));
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(dir);
  if (fd < 0)
    return dto_from_errno(errno);
  int rc = 0;
  if (fsync(fd) != 0 && errno != EINVAL) /* EINVAL: fs without dir fsync */
    rc = dto_from_errno(errno);
  close(fd);
  return rc;
}

int fileio_atomic_open(const char *path, mode_t mode, fileio_atomic **out,
                       char *err, size_t cap) {
  *out = NULL;
  size_t n = strlen(path);
  if (n == 0 || n > 4000) {
    dto_seterr(err, cap, "'%.80s': not a usable file name", path);
    return DTO_EINVAL;
  }
  char *tmp = xmalloc(n + 12);
  memcpy(tmp, path, n);
  memcpy(tmp + n, ".tmp.XXXXXX", 12);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    free(tmp);
    dto_seterr(err, cap, "%s: cannot create a temporary file: %s", path,
           strerror(e));
    return dto_from_errno(e);
  }
  if (fchmod(fd, mode) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    free(tmp);
    dto_seterr(err, cap, "%s: cannot create a temporary file: %s", path,
           strerror(e));
    return dto_from_errno(e);
  }
  fileio_atomic *a = xcalloc(1, sizeof *a);
  a->fd = fd;
  a->path = xstrdup(path);
  a->tmp = tmp;
  a->buf = xmalloc(ATOMIC_BUF);
  *out = a;
  return 0;
}

static void flush(fileio_atomic *a) {
  size_t off = 0;
  while (off < a->len && !a->err) {
    ssize_t k = write(a->fd, a->buf + off, a->len - off);
    if (k < 0) {
      if (errno != EINTR)
        a->err = errno;
    } else {
      off += (size_t)k;
    }
  }
  a->len = 0;
}

void fileio_atomic_write(fileio_atomic *a, const void *data, size_t n) {
  const unsigned char *p = data;
  while (n && !a->err) {
    if (a->len == ATOMIC_BUF)
      flush(a);
    size_t k = ATOMIC_BUF - a->len < n ? ATOMIC_BUF - a->len : n;
    memcpy(a->buf + a->len, p, k);
    a->len += k;
    p += k;
    n -= k;
  }
}

static void atomic_free(fileio_atomic *a) {
  free(a->path);
  free(a->tmp);
  free(a->buf);
  free(a);
}

void fileio_atomic_abort(fileio_atomic *a) {
  if (!a)
    return;
  if (a->fd >= 0)
    close(a->fd);
  unlink(a->tmp);
  atomic_free(a);
}

int fileio_atomic_commit(fileio_atomic *a, char *err, size_t cap) {
  flush(a);
  int e = a->err;
  if (!e && fsync(a->fd) != 0)
    e = errno;
  if (close(a->fd) != 0 && !e)
    e = errno;
  a->fd = -1;
  if (!e && rename(a->tmp, a->path) != 0)
    e = errno;
  if (e) {
    dto_seterr(err, cap, "%s: cannot write: %s", a->path, strerror(e));
    fileio_atomic_abort(a);
    return dto_from_errno(e);
  }
  int rc = fileio_sync_dir(a->path);
  if (rc)
    dto_seterr(err, cap, "%s: written, but its folder cannot be synced: %s",
           a->path, dto_strerror(rc));
  atomic_free(a);
  return rc;
}

int fileio_write_atomic(const char *path, const void *data, size_t len,
                        mode_t mode, char *err, size_t cap) {
  fileio_atomic *a;
  int rc = fileio_atomic_open(path, mode, &a, err, cap);
  if (rc)
    return rc;
  fileio_atomic_write(a, data, len);
  return fileio_atomic_commit(a, err, cap);
}

int fileio_mkdir_p(const char *dir) {
  char tmp[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof tmp)
    return DTO_EINVAL;
  memcpy(tmp, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (tmp[i] == '/' || tmp[i] == '\0') {
      char c = tmp[i];
      tmp[i] = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return dto_from_errno(errno);
      tmp[i] = c;
    }
  }
  return 0;
}
