/* binfile.c - dto's binary bar file: atomic writer and validating,
 * memory-mapped reader (format in binfile.h).  Integers are encoded byte by
 * byte, so the file is the same on any host; the compiler turns the helpers
 * into plain loads and stores on little-endian machines. */
#include "market/binfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "market/instrument.h"

struct binfile {
  const unsigned char *map; /* the whole file, read-only */
  size_t size;
  size_t count, nsymbols;
  dto_time dur;
  const unsigned char *recs;
};

/* ---- little-endian helpers ------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static int64_t get_i64(const unsigned char *p) { return (int64_t)get_u64(p); }

static void seterr(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t cap, const char *fmt, ...) {
  if (!err || cap == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

bool binfile_sniff(const void *head, size_t len) {
  return len >= BINFILE_MAGIC_LEN &&
         !memcmp(head, BINFILE_MAGIC, BINFILE_MAGIC_LEN);
}

/* ---- writing ----------------------------------------------------------- */

static int cmp_strp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Check the symbol table: valid names, no duplicates. */
static int check_symbols(const char *const *symbols, size_t n, char *err,
                         size_t errcap) {
  if (n == 0 || n > BINFILE_MAX_SYMBOLS) {
    seterr(err, errcap, "need 1 to %d symbols, got %zu", BINFILE_MAX_SYMBOLS,
           n);
    return DTO_EINVAL;
  }
  for (size_t i = 0; i < n; i++)
    if (!symbols[i] || !symbol_valid(symbols[i])) {
      seterr(err, errcap, "symbol %zu: not a valid symbol", i);
      return DTO_EINVAL;
    }
  const char **sorted = xmalloc(n * sizeof *sorted);
  memcpy(sorted, symbols, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_strp);
  int rc = 0;
  for (size_t i = 1; i < n; i++)
    if (!strcmp(sorted[i - 1], sorted[i])) {
      seterr(err, errcap, "symbol '%s' appears twice", sorted[i]);
      rc = DTO_EINVAL;
      break;
    }
  free(sorted);
  return rc;
}

/* Check the bars as binfile_open will: one duration, index in range,
 * bar_check, global time order, strictly increasing per symbol. */
static int check_bars(const bar *bars, size_t n, size_t nsymbols, char *err,
                      size_t errcap) {
  if (n == 0)
    return 0;
  dto_time dur = bars[0].dur, prev = INT64_MIN;
  if (dur <= 0) {
    seterr(err, errcap, "bar 0: duration must be positive");
    return DTO_EINVAL;
  }
  dto_time *last = xmalloc(nsymbols * sizeof *last);
  for (size_t s = 0; s < nsymbols; s++)
    last[s] = INT64_MIN;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const bar *b = &bars[i];
    const char *why;
    if (b->sym >= nsymbols) {
      seterr(err, errcap, "bar %zu: symbol index %u out of range (%zu symbols)",
             i, (unsigned)b->sym, nsymbols);
      rc = DTO_EINVAL;
    } else if (b->dur != dur) {
      seterr(err, errcap, "bar %zu: duration differs from the first bar's", i);
      rc = DTO_EINVAL;
    } else if ((why = bar_check(b)) != NULL) {
      seterr(err, errcap, "bar %zu: %s", i, why);
      rc = DTO_EINVAL;
    } else if (b->ts < prev) {
      seterr(err, errcap, "bar %zu: not in time order", i);
      rc = DTO_EINVAL;
    } else if (b->ts <= last[b->sym]) {
      seterr(err, errcap, "bar %zu: duplicate time for its symbol", i);
      rc = DTO_EINVAL;
    } else {
      prev = b->ts;
      last[b->sym] = b->ts;
    }
  }
  free(last);
  return rc;
}

typedef struct wbuf {
  int fd;
  unsigned char *p;
  size_t len, cap;
  int err; /* errno of the first failure */
} wbuf;

static void wflush(wbuf *w) {
  size_t off = 0;
  while (off < w->len && !w->err) {
    ssize_t k = write(w->fd, w->p + off, w->len - off);
    if (k < 0) {
      if (errno != EINTR)
        w->err = errno;
    } else {
      off += (size_t)k;
    }
  }
  w->len = 0;
}

/* Room for need more bytes (need <= cap); returns where to write them. */
static unsigned char *wreserve(wbuf *w, size_t need) {
  if (w->cap - w->len < need)
    wflush(w);
  unsigned char *p = w->p + w->len;
  w->len += need;
  return p;
}

static void fsync_dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) {
    dir[0] = '.';
    dir[1] = '\0';
  } else {
    size_t n = (size_t)(slash - path);
    if (n == 0)
      n = 1; /* "/file" */
    if (n >= sizeof dir)
      return;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd); /* best effort: the rename is already done */
    close(fd);
  }
}

int binfile_write(const char *path, const bar *bars, size_t n,
                  const char *const *symbols, size_t nsymbols, char *err,
                  size_t errcap) {
  int rc = check_symbols(symbols, nsymbols, err, errcap);
  if (rc)
    return rc;
  if ((rc = check_bars(bars, n, nsymbols, err, errcap)) != 0)
    return rc;

  char tmp[4096];
  int k = snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (k < 0 || (size_t)k >= sizeof tmp) {
    seterr(err, errcap, "path too long");
    return DTO_EINVAL;
  }
  wbuf w = {.fd = -1, .cap = 1 << 20};
  w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w.fd < 0) {
    int e = errno;
    seterr(err, errcap, "%s: cannot create: %s", tmp, strerror(e));
    return dto_from_errno(e);
  }
  w.p = xmalloc(w.cap);

  unsigned char *h = wreserve(&w, BINFILE_HEADER_SIZE);
  memset(h, 0, BINFILE_HEADER_SIZE);
  memcpy(h, BINFILE_MAGIC, BINFILE_MAGIC_LEN);
  put_u32(h + 8, BINFILE_VERSION);
  put_u32(h + 12, BINFILE_RECORD_SIZE);
  put_u64(h + 16, (uint64_t)n);
  put_u64(h + 24, (uint64_t)(n ? bars[0].dur : DTO_NS_PER_MIN));
  put_u32(h + 32, (uint32_t)nsymbols);
  put_u64(h + 40, BINFILE_HEADER_SIZE + BINFILE_SYMBOL_SIZE * (uint64_t)nsymbols);
  for (size_t i = 0; i < nsymbols; i++) {
    unsigned char *s = wreserve(&w, BINFILE_SYMBOL_SIZE);
    memset(s, 0, BINFILE_SYMBOL_SIZE);
    memcpy(s, symbols[i], strlen(symbols[i])); /* < 16: symbol_valid */
  }
  for (size_t i = 0; i < n && !w.err; i++) {
    const bar *b = &bars[i];
    unsigned char *r = wreserve(&w, BINFILE_RECORD_SIZE);
    put_u64(r, (uint64_t)b->ts);
    put_u64(r + 8, (uint64_t)b->open);
    put_u64(r + 16, (uint64_t)b->high);
    put_u64(r + 24, (uint64_t)b->low);
    put_u64(r + 32, (uint64_t)b->close);
    put_u64(r + 40, (uint64_t)b->volume);
    put_u32(r + 48, b->sym);
    put_u32(r + 52, 0);
  }
  wflush(&w);
  free(w.p);
  if (!w.err && fsync(w.fd) != 0)
    w.err = errno;
  if (close(w.fd) != 0 && !w.err)
    w.err = errno;
  if (!w.err && rename(tmp, path) != 0)
    w.err = errno;
  if (w.err) {
    seterr(err, errcap, "%s: cannot write: %s", path, strerror(w.err));
    unlink(tmp);
    return dto_from_errno(w.err);
  }
  fsync_dir_of(path);
  return 0;
}

/* ---- reading ----------------------------------------------------------- */

/* Validate the symbol table at p (nsym entries). */
static int check_symtab(const char *path, const unsigned char *p, size_t nsym,
                        char *err, size_t errcap) {
  for (size_t i = 0; i < nsym; i++) {
    const unsigned char *e = p + i * BINFILE_SYMBOL_SIZE;
    const unsigned char *nul = memchr(e, 0, BINFILE_SYMBOL_SIZE);
    bool ok = nul != NULL && symbol_valid((const char *)e);
    for (const unsigned char *q = nul; ok && q < e + BINFILE_SYMBOL_SIZE; q++)
      ok = *q == 0;
    if (!ok) {
      seterr(err, errcap, "%s: corrupt: symbol %zu: not a valid symbol name",
             path, i);
      return DTO_EPARSE;
    }
  }
  const char **sorted = xmalloc(nsym * sizeof *sorted);
  for (size_t i = 0; i < nsym; i++)
    sorted[i] = (const char *)(p + i * BINFILE_SYMBOL_SIZE);
  qsort(sorted, nsym, sizeof *sorted, cmp_strp);
  int rc = 0;
  for (size_t i = 1; i < nsym; i++)
    if (!strcmp(sorted[i - 1], sorted[i])) {
      seterr(err, errcap, "%s: corrupt: symbol '%s' appears twice", path,
             sorted[i]);
      rc = DTO_EPARSE;
      break;
    }
  free(sorted);
  return rc;
}

static int check_records(const char *path, const binfile *f, char *err,
                         size_t errcap) {
  dto_time *last = xmalloc(f->nsymbols * sizeof *last);
  for (size_t s = 0; s < f->nsymbols; s++)
    last[s] = INT64_MIN;
  dto_time prev = INT64_MIN;
  int rc = 0;
  for (size_t i = 0; i < f->count; i++) {
    const unsigned char *r = f->recs + i * BINFILE_RECORD_SIZE;
    uint32_t sym = get_u32(r + 48);
    bar b;
    const char *why = NULL;
    char tmp[64];
    if (sym >= f->nsymbols) {
      snprintf(tmp, sizeof tmp, "symbol index %u out of range (%zu symbols)",
               (unsigned)sym, f->nsymbols);
      why = tmp;
    } else if (get_u32(r + 52) != 0) {
      why = "padding is not zero";
    } else {
      binfile_get(f, i, &b);
      if ((why = bar_check(&b)) == NULL) {
        if (b.ts < prev)
          why = "time goes backward";
        else if (b.ts <= last[sym])
          why = "duplicate or backward time for its symbol";
        prev = b.ts;
        last[sym] = b.ts;
      }
    }
    if (why) {
      seterr(err, errcap, "%s: corrupt: record %zu: %s", path, i, why);
      rc = DTO_EPARSE;
      break;
    }
  }
  free(last);
  return rc;
}

/* Validate the header of a mapping of size bytes and fill f. */
static int check_header(const char *path, binfile *f, char *err,
                        size_t errcap) {
  const unsigned char *h = f->map;
  if (f->size < BINFILE_MAGIC_LEN || !binfile_sniff(h, f->size)) {
    seterr(err, errcap, "%s: not a dto bar file (bad magic)", path);
    return DTO_EPARSE;
  }
  if (f->size < BINFILE_HEADER_SIZE) {
    seterr(err, errcap, "%s: truncated: %zu bytes, the header needs %d", path,
           f->size, BINFILE_HEADER_SIZE);
    return DTO_EPARSE;
  }
  uint32_t version = get_u32(h + 8);
  if (version != BINFILE_VERSION) {
    seterr(err, errcap, "%s: unsupported version %u (this dto reads %d)", path,
           (unsigned)version, BINFILE_VERSION);
    return DTO_EUNSUPPORTED;
  }
  uint32_t recsize = get_u32(h + 12);
  uint64_t count = get_u64(h + 16);
  int64_t dur = get_i64(h + 24);
  uint32_t nsym = get_u32(h + 32);
  uint64_t off = get_u64(h + 40);
  if (recsize != BINFILE_RECORD_SIZE) {
    seterr(err, errcap, "%s: corrupt: record size %u (expected %d)", path,
           (unsigned)recsize, BINFILE_RECORD_SIZE);
    return DTO_EPARSE;
  }
  if (dur <= 0) {
    seterr(err, errcap, "%s: corrupt: bar duration %lld", path,
           (long long)dur);
    return DTO_EPARSE;
  }
  if (nsym == 0 || nsym > BINFILE_MAX_SYMBOLS) {
    seterr(err, errcap, "%s: corrupt: symbol count %u", path, (unsigned)nsym);
    return DTO_EPARSE;
  }
  if (get_u32(h + 36) != 0) {
    seterr(err, errcap, "%s: corrupt: reserved header bytes are not zero",
           path);
    return DTO_EPARSE;
  }
  for (int i = 48; i < BINFILE_HEADER_SIZE; i++)
    if (h[i] != 0) {
      seterr(err, errcap, "%s: corrupt: reserved header bytes are not zero",
             path);
      return DTO_EPARSE;
    }
  uint64_t want_off = BINFILE_HEADER_SIZE + (uint64_t)nsym * BINFILE_SYMBOL_SIZE;
  if (off != want_off) {
    seterr(err, errcap, "%s: corrupt: records at offset %llu (expected %llu)",
           path, (unsigned long long)off, (unsigned long long)want_off);
    return DTO_EPARSE;
  }
  if (f->size < off) {
    seterr(err, errcap,
           "%s: truncated: %zu bytes, the symbol table ends at %llu", path,
           f->size, (unsigned long long)off);
    return DTO_EPARSE;
  }
  uint64_t room = (uint64_t)f->size - off;
  if (count > room / BINFILE_RECORD_SIZE) {
    seterr(err, errcap,
           "%s: truncated: the header says %llu records but the file holds "
           "%llu",
           path, (unsigned long long)count,
           (unsigned long long)(room / BINFILE_RECORD_SIZE));
    return DTO_EPARSE;
  }
  if (room != count * BINFILE_RECORD_SIZE) {
    seterr(err, errcap,
           "%s: corrupt: %llu bytes after the last of %llu records", path,
           (unsigned long long)(room - count * BINFILE_RECORD_SIZE),
           (unsigned long long)count);
    return DTO_EPARSE;
  }
  f->count = (size_t)count;
  f->nsymbols = nsym;
  f->dur = dur;
  f->recs = f->map + off;
  return check_symtab(path, h + BINFILE_HEADER_SIZE, nsym, err, errcap);
}

int binfile_open(const char *path, binfile **out, char *err, size_t errcap) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    seterr(err, errcap, "%s: cannot open: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    seterr(err, errcap, "%s: cannot stat: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    seterr(err, errcap, "%s: not a regular file", path);
    return DTO_EINVAL;
  }
  if (st.st_size < BINFILE_MAGIC_LEN) {
    close(fd);
    seterr(err, errcap, "%s: not a dto bar file (%lld bytes)", path,
           (long long)st.st_size);
    return DTO_EPARSE;
  }
  void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd); /* the mapping keeps the file */
  if (map == MAP_FAILED) {
    seterr(err, errcap, "%s: cannot map: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  binfile *f = xcalloc(1, sizeof *f);
  f->map = map;
  f->size = (size_t)st.st_size;
  int rc = check_header(path, f, err, errcap);
  if (rc == 0)
    rc = check_records(path, f, err, errcap);
  if (rc) {
    binfile_free(f);
    return rc;
  }
  *out = f;
  return 0;
}

size_t binfile_count(const binfile *f) { return f->count; }
size_t binfile_nsymbols(const binfile *f) { return f->nsymbols; }
dto_time binfile_dur(const binfile *f) { return f->dur; }

const char *binfile_symbol(const binfile *f, size_t i) {
  DTO_ASSERT(i < f->nsymbols);
  return (const char *)(f->map + BINFILE_HEADER_SIZE +
                        i * BINFILE_SYMBOL_SIZE);
}

void binfile_get(const binfile *f, size_t i, bar *out) {
  DTO_ASSERT(i < f->count);
  const unsigned char *r = f->recs + i * BINFILE_RECORD_SIZE;
  out->ts = get_i64(r);
  out->dur = f->dur;
  out->open = get_i64(r + 8);
  out->high = get_i64(r + 16);
  out->low = get_i64(r + 24);
  out->close = get_i64(r + 32);
  out->volume = get_i64(r + 40);
  out->sym = get_u32(r + 48);
}

void binfile_free(binfile *f) {
  if (!f)
    return;
  munmap((void *)f->map, f->size);
  free(f);
}
