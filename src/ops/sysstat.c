/* sysstat.c - readers of /proc and statvfs.  See sysstat.h.
 *
 * Every file is read through a fixed buffer on the stack: a small file
 * (/proc/self/stat) whole, a list (/proc/meminfo, /proc/net/dev) line by
 * line.  A line longer than the buffer is skipped, not split: no field dto
 * reads lives on such a line, but /proc/stat's "intr" line, before btime,
 * runs to many kilobytes on a large machine.  Numbers are parsed by hand
 * (no sscanf), so a malformed file is DTO_EPARSE and never a wrong figure.
 */
#include "ops/sysstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/error.h"

#define PATH_CAP 512
#define LINE_CAP 4096
/* Give up on a file after this much (a /proc file that never ends). */
#define READ_LIMIT (1u << 20)

/* ---- reading ------------------------------------------------------------- */

static int make_path(char *out, const char *proc, const char *rel) {
  int n = snprintf(out, PATH_CAP, "%s/%s", proc ? proc : "/proc", rel);
  return n > 0 && n < PATH_CAP ? 0 : DTO_EIO;
}

static int open_rel(const char *proc, const char *rel) {
  char path[PATH_CAP];
  if (make_path(path, proc, rel) < 0)
    return -1;
  int fd;
  do
    fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  return fd;
}

static ssize_t read_some(int fd, char *p, size_t n) {
  ssize_t r;
  do
    r = read(fd, p, n);
  while (r < 0 && errno == EINTR);
  return r;
}

/* The whole of a small file into buf (NUL-terminated); DTO_EIO when it
 * cannot be read, DTO_EPARSE when it does not fit. */
static int read_small(const char *proc, const char *rel, char *buf,
                      size_t cap) {
  int fd = open_rel(proc, rel);
  if (fd < 0)
    return DTO_EIO;
  size_t len = 0;
  int rc = 0;
  for (;;) {
    if (len == cap - 1) {
      char extra;
      ssize_t r = read_some(fd, &extra, 1);
      rc = r == 0 ? 0 : r < 0 ? DTO_EIO : DTO_EPARSE;
      break;
    }
    ssize_t r = read_some(fd, buf + len, cap - 1 - len);
    if (r < 0) {
      rc = DTO_EIO;
      break;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  return rc;
}

/* Line-by-line reading through a fixed buffer. */
typedef struct lines {
  int fd;
  size_t start, len; /* unread bytes: buf[start, len) */
  size_t total;
  bool eof;
  char buf[LINE_CAP];
} lines;

static int lines_open(lines *r, const char *proc, const char *rel) {
  r->fd = open_rel(proc, rel);
  r->start = r->len = r->total = 0;
  r->eof = false;
  return r->fd < 0 ? DTO_EIO : 0;
}

static void lines_close(lines *r) {
  if (r->fd >= 0)
    close(r->fd);
  r->fd = -1;
}

/* Refill: move the unread bytes to the front and read more.  false at the
 * end of the file (or an error, or the read limit: *err tells). */
static bool lines_fill(lines *r, int *err) {
  if (r->eof)
    return false;
  if (r->start > 0) {
    memmove(r->buf, r->buf + r->start, r->len - r->start);
    r->len -= r->start;
    r->start = 0;
  }
  ssize_t n = read_some(r->fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
  if (n < 0) {
    *err = DTO_EIO;
    r->eof = true;
    return false;
  }
  r->total += (size_t)n;
  r->len += (size_t)n;
  if (n == 0 || r->total > READ_LIMIT) {
    r->eof = true;
    return n > 0;
  }
  return true;
}

/* The next line, NUL-terminated without its '\n', into *line: 1, or 0 at
 * the end, or a negative code.  Lines longer than the buffer are skipped;
 * a last line without '\n' counts. */
static int lines_next(lines *r, char **line) {
  int err = 0;
  bool skipping = false;
  for (;;) {
    char *s = r->buf + r->start;
    char *nl = memchr(s, '\n', r->len - r->start);
    if (nl) {
      *nl = '\0';
      r->start = (size_t)(nl + 1 - r->buf);
      if (skipping) {
        skipping = false;
        continue;
      }
      *line = s;
      return 1;
    }
    if (r->len - r->start == sizeof r->buf - 1) {
      /* a line longer than the buffer: drop what we have of it */
      r->start = r->len = 0;
      skipping = true;
    }
    if (!lines_fill(r, &err)) {
      if (err)
        return err;
      if (r->len > r->start && !skipping) {
        r->buf[r->len] = '\0';
        *line = r->buf + r->start;
        r->start = r->len;
        return 1;
      }
      return 0;
    }
  }
}

/* ---- parsing ------------------------------------------------------------- */

static const char *skip_blank(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* An unsigned decimal after optional blanks; *pp moves past it.  false
 * when there is none or it overflows. */
static bool next_u64(const char **pp, uint64_t *out) {
  const char *p = skip_blank(*pp);
  if (*p < '0' || *p > '9')
    return false;
  uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
      return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  /* a number ends at a blank or the end of the line */
  if (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
    return false;
  *out = v;
  *pp = p;
  return true;
}

/* Skip one field (any non-blank run) after optional blanks. */
static bool skip_field(const char **pp) {
  const char *p = skip_blank(*pp);
  if (*p == '\0' || *p == '\n')
    return false;
  while (*p && *p != ' ' && *p != '\t' && *p != '\n')
    p++;
  *pp = p;
  return true;
}

/* True when line starts with the word key followed by a blank. */
static bool starts_word(const char *line, const char *key) {
  size_t n = strlen(key);
  return !strncmp(line, key, n) && (line[n] == ' ' || line[n] == '\t');
}

/* ---- this process -------------------------------------------------------- */

static long clk_tck(void) {
  long t = sysconf(_SC_CLK_TCK);
  return t > 0 ? t : 100;
}

/* /proc/self/stat: the fields after comm, counted from 3 (state). */
static int read_self_stat(const char *proc, uint64_t *utime, uint64_t *stime,
                          uint64_t *threads, uint64_t *start, uint64_t *vsize,
                          uint64_t *rss) {
  char buf[2048];
  int rc = read_small(proc, "self/stat", buf, sizeof buf);
  if (rc < 0)
    return rc;
  /* comm (field 2) is in parentheses and may hold blanks and ')': the
   * fields go on after the last ')'. */
  const char *p = strrchr(buf, ')');
  if (!p || !strchr(buf, '('))
    return DTO_EPARSE;
  p++;
  if (*p != ' ')
    return DTO_EPARSE;
  /* field 3 (state) is a letter */
  if (!skip_field(&p))
    return DTO_EPARSE;
  /* Fields 4-24 are numbers; some may be negative (tpgid is -1 without a
   * terminal, a real-time priority is below 0).  Of those dto reads, only
   * rss is signed, and a negative count (never seen) reads as 0. */
  uint64_t f[25]; /* f[k]: field k, 4..24 */
  for (int k = 4; k <= 24; k++) {
    p = skip_blank(p);
    bool neg = *p == '-';
    if (neg)
      p++;
    if (!next_u64(&p, &f[k]))
      return DTO_EPARSE;
    if (neg) {
      if (k == 14 || k == 15 || k == 20 || k == 22 || k == 23)
        return DTO_EPARSE;
      f[k] = 0;
    }
  }
  *utime = f[14];
  *stime = f[15];
  *threads = f[20];
  *start = f[22];
  *vsize = f[23];
  *rss = f[24];
  return 0;
}

/* btime (boot time, UNIX seconds) from /proc/stat. */
static int read_btime(const char *proc, uint64_t *out) {
  lines r;
  int rc = lines_open(&r, proc, "stat");
  if (rc < 0)
    return rc;
  char *line;
  rc = DTO_EPARSE; /* unless found */
  int k;
  while ((k = lines_next(&r, &line)) == 1) {
    if (starts_word(line, "btime")) {
      const char *p = line + 5;
      uint64_t v;
      if (next_u64(&p, &v) && *skip_blank(p) == '\0') {
        *out = v;
        rc = 0;
      }
      break;
    }
  }
  if (k < 0)
    rc = k;
  lines_close(&r);
  return rc;
}

/* Entries of /proc/self/fd.  The descriptor of the listing itself is among
 * them when proc is the real /proc, as in client_golang's process
 * collector, whose process_open_fds counts it too. */
static int count_fds(const char *proc, int *out) {
  char path[PATH_CAP];
  if (make_path(path, proc, "self/fd") < 0)
    return DTO_EIO;
  DIR *d = opendir(path);
  if (!d)
    return DTO_EIO;
  int n = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' &&
        (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
      continue;
    n++;
  }
  int rc = errno ? DTO_EIO : 0;
  closedir(d);
  if (rc == 0)
    *out = n;
  return rc;
}

/* The soft limit of "Max open files" in /proc/self/limits. */
static int read_max_fds(const char *proc, int64_t *out) {
  lines r;
  int rc = lines_open(&r, proc, "self/limits");
  if (rc < 0)
    return rc;
  char *line;
  rc = DTO_EPARSE;
  int k;
  static const char key[] = "Max open files";
  while ((k = lines_next(&r, &line)) == 1) {
    if (strncmp(line, key, sizeof key - 1) != 0)
      continue;
    const char *p = skip_blank(line + sizeof key - 1);
    uint64_t v;
    if (!strncmp(p, "unlimited", 9) &&
        (p[9] == ' ' || p[9] == '\t' || p[9] == '\0')) {
      *out = -1;
      rc = 0;
    } else if (next_u64(&p, &v) && v <= INT64_MAX) {
      *out = (int64_t)v;
      rc = 0;
    }
    break;
  }
  if (k < 0)
    rc = k;
  lines_close(&r);
  return rc;
}

int sys_read_proc(const char *proc, sys_proc *out) {
  uint64_t ut, st, thr, start, vsize, rss, btime;
  int rc = read_self_stat(proc, &ut, &st, &thr, &start, &vsize, &rss);
  if (rc < 0)
    return rc;
  if ((rc = read_btime(proc, &btime)) < 0)
    return rc;
  sys_proc p;
  if ((rc = count_fds(proc, &p.open_fds)) < 0)
    return rc;
  if ((rc = read_max_fds(proc, &p.max_fds)) < 0)
    return rc;
  double tck = (double)clk_tck();
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0)
    page = 4096;
  if (thr > INT32_MAX || rss > UINT64_MAX / (uint64_t)page)
    return DTO_EPARSE;
  p.cpu_seconds = (double)(ut + st) / tck;
  p.rss_bytes = rss * (uint64_t)page;
  p.vsize_bytes = vsize;
  p.threads = (int)thr;
  p.start_time = (double)btime + (double)start / tck;
  *out = p;
  return 0;
}

/* ---- the machine --------------------------------------------------------- */

int sys_read_cpu(const char *proc, sys_cpu *out) {
  lines r;
  int rc = lines_open(&r, proc, "stat");
  if (rc < 0)
    return rc;
  char *line;
  int k = lines_next(&r, &line);
  rc = k < 0 ? k : DTO_EPARSE;
  if (k == 1 && starts_word(line, "cpu")) {
    /* user nice system idle iowait irq softirq steal (guest and
     * guest_nice are already inside user and nice).  Kernels before
     * 2.6.11 stop earlier: the missing ones are 0. */
    uint64_t f[8] = {0};
    const char *p = line + 3;
    int n = 0;
    while (n < 8 && next_u64(&p, &f[n]))
      n++;
    const char *rest = skip_blank(p);
    /* at least user..idle, and nothing but numbers after them */
    if (n >= 4 && (n == 8 || *rest == '\0')) {
      uint64_t busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
      out->busy = busy;
      out->total = busy + f[3] + f[4];
      rc = 0;
    }
  }
  lines_close(&r);
  return rc;
}

double sys_cpu_percent(const sys_cpu *older, const sys_cpu *newer) {
  if (newer->total <= older->total)
    return NAN;
  double dt = (double)(newer->total - older->total);
  double db =
      newer->busy >= older->busy ? (double)(newer->busy - older->busy) : 0;
  double pct = db / dt * 100.0;
  return pct > 100 ? 100 : pct;
}

int sys_ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 && n < INT32_MAX ? (int)n : 1;
}

/* "Key:   1234 kB" into bytes. */
static bool meminfo_value(const char *line, const char *key, uint64_t *out) {
  size_t n = strlen(key);
  if (strncmp(line, key, n) != 0 || line[n] != ':')
    return false;
  const char *p = line + n + 1;
  uint64_t v;
  if (!next_u64(&p, &v) || v > UINT64_MAX / 1024)
    return false;
  p = skip_blank(p);
  if (strcmp(p, "kB") != 0)
    return false;
  *out = v * 1024;
  return true;
}

int sys_read_mem(const char *proc, sys_mem *out) {
  lines r;
  int rc = lines_open(&r, proc, "meminfo");
  if (rc < 0)
    return rc;
  char *line;
  uint64_t total = 0, avail = 0;
  bool have_total = false, have_avail = false, bad = false;
  int k = 0;
  while (!(have_total && have_avail) && (k = lines_next(&r, &line)) == 1) {
    if (!strncmp(line, "MemTotal:", 9)) {
      have_total = meminfo_value(line, "MemTotal", &total);
      bad |= !have_total;
    } else if (!strncmp(line, "MemAvailable:", 13)) {
      have_avail = meminfo_value(line, "MemAvailable", &avail);
      bad |= !have_avail;
    }
    if (bad)
      break;
  }
  lines_close(&r);
  if (!bad && k < 0)
    return k;
  if (bad || !have_total || !have_avail || avail > total)
    return DTO_EPARSE;
  out->total = total;
  out->available = avail;
  return 0;
}

double sys_mem_percent(const sys_mem *m) {
  if (m->total == 0)
    return NAN;
  uint64_t used = m->available <= m->total ? m->total - m->available : 0;
  return (double)used / (double)m->total * 100.0;
}

int sys_read_disk(const char *path, sys_disk *out) {
  struct statvfs v;
  if (statvfs(path, &v) != 0)
    return DTO_EIO;
  uint64_t fr = v.f_frsize ? v.f_frsize : v.f_bsize;
  if (fr && (v.f_blocks > UINT64_MAX / fr))
    return DTO_EPARSE;
  out->total = (uint64_t)v.f_blocks * fr;
  out->free = (uint64_t)v.f_bfree * fr;
  out->avail = (uint64_t)v.f_bavail * fr;
  return 0;
}

double sys_disk_percent(const sys_disk *d) {
  uint64_t used = d->total >= d->free ? d->total - d->free : 0;
  double all = (double)used + (double)d->avail;
  if (all <= 0)
    return NAN;
  return (double)used / all * 100.0;
}

int sys_read_net(const char *proc, sys_net *out) {
  lines r;
  int rc = lines_open(&r, proc, "net/dev");
  if (rc < 0)
    return rc;
  sys_net n;
  n.n = 0;
  char *line;
  int k, lineno = 0;
  rc = 0;
  while ((k = lines_next(&r, &line)) == 1) {
    if (++lineno <= 2) {
      /* the two header lines: "Inter-|   Receive ...", " face |bytes ..." */
      if (!strchr(line, '|')) {
        rc = DTO_EPARSE;
        break;
      }
      continue;
    }
    const char *p = skip_blank(line);
    if (*p == '\0')
      continue;
    const char *colon = strchr(p, ':');
    if (!colon) {
      rc = DTO_EPARSE;
      break;
    }
    const char *end = colon;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
      end--;
    size_t len = (size_t)(end - p);
    if (len == 0 || len >= sizeof n.ifs[0].name) {
      rc = DTO_EPARSE;
      break;
    }
    uint64_t f[17];
    const char *q = colon + 1;
    int i = 1;
    while (i <= 16 && next_u64(&q, &f[i]))
      i++;
    if (i <= 16 || *skip_blank(q) != '\0') {
      rc = DTO_EPARSE;
      break;
    }
    if (n.n == SYS_NET_MAX)
      continue; /* more interfaces than we keep: the first ones */
    memcpy(n.ifs[n.n].name, p, len);
    n.ifs[n.n].name[len] = '\0';
    n.ifs[n.n].rx_bytes = f[1];
    n.ifs[n.n].rx_errs = f[3];
    n.ifs[n.n].tx_bytes = f[9];
    n.ifs[n.n].tx_errs = f[11];
    n.n++;
  }
  lines_close(&r);
  if (rc == 0 && k < 0)
    rc = k;
  if (rc == 0 && lineno < 2)
    rc = DTO_EPARSE;
  if (rc == 0)
    *out = n;
  return rc;
}
