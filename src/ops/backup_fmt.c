/* backup_fmt.c - the backup archive: keys, the writer and the readers (the
 * layout is documented in backup_fmt.h). */
#include "ops/backup_fmt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/timeutil.h"

#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SS_HEADERBYTES crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define TAG_FINAL crypto_secretstream_xchacha20poly1305_TAG_FINAL

/* Header fields (offsets), see backup_fmt.h. */
enum {
  H_MAGIC = 0,
  H_VERSION = 8,
  H_FLAGS = 10,
  H_CHUNK = 12,
  H_KEYID = 16,
  H_SSHDR = 24,
  H_CHECK = 48
};
#define CHECK_BYTES 8
#define AD_BYTES (BACKUP_HEADER_BYTES + 8) /* the header, the chunk index */
#define REC_HDR 5                          /* type, u32 length */
#define FILE_REC_MIN 9                     /* u64 size, a 1-byte name */
#define END_REC 40                         /* u64 size, SHA-256 */
#define SHA_BYTES crypto_hash_sha256_BYTES
#define IO_BUF (64u << 10)
#define PROGRESS_EVERY_NS (250 * 1000000LL)
#define MSG_MAX 320

_Static_assert(BACKUP_KEY_BYTES ==
                   crypto_secretstream_xchacha20poly1305_KEYBYTES,
               "the backup key is a secretstream key");
_Static_assert(H_SSHDR + SS_HEADERBYTES == H_CHECK, "header layout");
_Static_assert(H_CHECK + CHECK_BYTES == BACKUP_HEADER_BYTES, "header layout");
_Static_assert(BACKUP_KEY_ID_BYTES == H_SSHDR - H_KEYID, "header layout");
_Static_assert(SS_ABYTES == 17, "chunk overhead as documented");
_Static_assert(IO_BUF <= BACKUP_DATA_MAX, "a data record holds one buffer");

static const uint8_t magic[8] = {'D', 'T', 'O', 'B', 'A', 'K', '1', '\0'};

enum rec_type {
  REC_MANIFEST = 'M',
  REC_FILE = 'F',
  REC_DATA = 'D',
  REC_END = 'E',
  REC_TRAILER = 'T'
};

/* ---- small helpers ------------------------------------------------------- */

/* libsodium must be initialised once before its CSPRNG is used. */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static void sodium_setup(void) { DTO_ASSERT(sodium_init() >= 0); }
static void need_sodium(void) { pthread_once(&sodium_once, sodium_setup); }

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) {
  return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

static void hex_encode(const uint8_t *p, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static void key_id(const uint8_t key[BACKUP_KEY_BYTES],
                   uint8_t id[BACKUP_KEY_ID_BYTES]) {
  uint8_t h[SHA_BYTES];
  crypto_hash_sha256(h, key, BACKUP_KEY_BYTES);
  memcpy(id, h, BACKUP_KEY_ID_BYTES);
}

static void header_check(const uint8_t *hdr, uint8_t out[CHECK_BYTES]) {
  uint8_t h[SHA_BYTES];
  crypto_hash_sha256(h, hdr, H_CHECK);
  memcpy(out, h, CHECK_BYTES);
}

void backup_key_id_hex(const uint8_t key[BACKUP_KEY_BYTES], char out[17]) {
  uint8_t id[BACKUP_KEY_ID_BYTES];
  key_id(key, id);
  hex_encode(id, sizeof id, out);
}

bool backup_name_ok(const char *name, size_t len) {
  if (len == 0 || len > BACKUP_NAME_MAX || name[0] == '.')
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

static int write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t k = write(fd, b, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return errno;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Read up to n bytes, short only at the end of the file; 0 or an errno. */
static int read_full(int fd, void *p, size_t n, size_t *got) {
  uint8_t *b = p;
  *got = 0;
  while (*got < n) {
    ssize_t k = read(fd, b + *got, n - *got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return errno;
    if (k == 0)
      break;
    *got += (size_t)k;
  }
  return 0;
}

/* ---- progress ------------------------------------------------------------ */

typedef struct prog {
  backup_progress_fn *fn;
  void *ctx;
  uint64_t done, total;
  int64_t last_ns;
} prog;

static void prog_init(prog *p, const backup_opts *o, uint64_t total) {
  memset(p, 0, sizeof *p);
  if (o && o->progress) {
    p->fn = o->progress;
    p->ctx = o->progress_ctx;
    p->last_ns = clock_mono_ns();
  }
  p->total = total;
}

static void prog_add(prog *p, uint64_t n) {
  p->done += n;
  if (!p->fn)
    return;
  int64_t now = clock_mono_ns();
  if (now - p->last_ns >= PROGRESS_EVERY_NS) {
    p->last_ns = now;
    p->fn(p->ctx, p->done, p->total);
  }
}

static void prog_end(prog *p) {
  if (p->fn)
    p->fn(p->ctx, p->done, p->total);
}

/* ---- keys ---------------------------------------------------------------- */

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Exactly 64 hex digits into key; key is written only on success. */
static bool parse_hex_key(const char *s, size_t n,
                          uint8_t key[BACKUP_KEY_BYTES]) {
  if (n != 2 * BACKUP_KEY_BYTES)
    return false;
  uint8_t k[BACKUP_KEY_BYTES];
  for (size_t i = 0; i < BACKUP_KEY_BYTES; i++) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      sodium_memzero(k, sizeof k);
      return false;
    }
    k[i] = (uint8_t)(hi << 4 | lo);
  }
  memcpy(key, k, sizeof k);
  sodium_memzero(k, sizeof k);
  return true;
}

int backup_key_load(const char *env_name, const char *file,
                    uint8_t key[BACKUP_KEY_BYTES], char *err, size_t cap) {
  if (env_name) {
    const char *v = getenv(env_name);
    if (v && *v) {
      if (!parse_hex_key(v, strlen(v), key)) {
        dto_seterr(err, cap,
                   "%s: not a backup key (it must be 64 hexadecimal digits)",
                   env_name);
        return DTO_EINVAL;
      }
      return 0;
    }
  }
  if (!file) {
    if (env_name)
      dto_seterr(err, cap,
                 "no backup key: %s is not set and no key file was given",
                 env_name);
    else
      dto_seterr(err, cap, "no backup key given");
    return DTO_ENOENT;
  }
  int fd;
  struct stat st;
  int rc = fileio_open_regular(file, &fd, &st, err, cap);
  if (rc)
    return rc;
  if (st.st_mode & 077) {
    close(fd);
    dto_seterr(err, cap,
               "%s: readable or writable by group or others (mode %04o); a "
               "backup key file must be mode 0600 or stricter (chmod 600 %s)",
               file, (unsigned)(st.st_mode & 07777), file);
    return DTO_EINVAL;
  }
  char buf[2 * BACKUP_KEY_BYTES + 8];
  size_t got;
  int e = read_full(fd, buf, sizeof buf, &got);
  close(fd);
  if (e) {
    dto_seterr(err, cap, "%s: cannot read: %s", file, strerror(e));
    return dto_from_errno(e);
  }
  size_t n = got;
  if (n && buf[n - 1] == '\n')
    n--;
  bool ok = parse_hex_key(buf, n, key);
  sodium_memzero(buf, sizeof buf);
  if (!ok) {
    dto_seterr(err, cap,
               "%s: not a backup key file (it must hold 64 hexadecimal digits "
               "and at most one newline)",
               file);
    return DTO_EINVAL;
  }
  return 0;
}

int backup_key_generate(const char *file, uint8_t key[BACKUP_KEY_BYTES],
                        char *err, size_t cap) {
  need_sodium();
  int fd =
      open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST)
      dto_seterr(err, cap,
                 "%s: already exists (a backup key is never replaced: it may "
                 "be the only way to read older backups)",
                 file);
    else
      dto_seterr(err, cap, "%s: cannot create: %s", file, strerror(e));
    return dto_from_errno(e);
  }
  uint8_t k[BACKUP_KEY_BYTES];
  char text[2 * BACKUP_KEY_BYTES + 2];
  randombytes_buf(k, sizeof k);
  hex_encode(k, sizeof k, text);
  text[2 * BACKUP_KEY_BYTES] = '\n';
  int e = 0;
  if (fchmod(fd, 0600) != 0) /* the umask may have taken bits away */
    e = errno;
  if (!e)
    e = write_all(fd, text, 2 * BACKUP_KEY_BYTES + 1);
  if (!e && fsync(fd) != 0)
    e = errno;
  if (close(fd) != 0 && !e)
    e = errno;
  sodium_memzero(text, sizeof text);
  int rc = e ? dto_from_errno(e) : fileio_sync_dir(file);
  if (rc) {
    unlink(file);
    sodium_memzero(k, sizeof k);
    dto_seterr(err, cap, "%s: cannot write: %s", file,
               e ? strerror(e) : dto_strerror(rc));
    return rc;
  }
  if (key)
    memcpy(key, k, sizeof k);
  sodium_memzero(k, sizeof k);
  return 0;
}

/* ---- sealing: plaintext in, header and chunks out ------------------------ */

typedef int emit_fn(void *ctx, const void *p, size_t n);

typedef struct sealer {
  crypto_secretstream_xchacha20poly1305_state st;
  uint8_t ad[AD_BYTES]; /* the header, then the chunk's index */
  uint32_t cs;
  uint8_t *pbuf, *cbuf;
  size_t plen;
  uint64_t chunk; /* index of the next chunk */
  emit_fn *emit;
  void *ctx;
  int rc; /* the first failure of emit */
} sealer;

static void sealer_init(sealer *s, const uint8_t key[BACKUP_KEY_BYTES],
                        uint32_t cs, emit_fn *emit, void *ctx) {
  DTO_ASSERT(cs >= BACKUP_CHUNK_MIN && cs <= BACKUP_CHUNK_MAX);
  need_sodium();
  memset(s, 0, sizeof *s);
  uint8_t *h = s->ad;
  memcpy(h + H_MAGIC, magic, sizeof magic);
  put16(h + H_VERSION, BACKUP_FORMAT_VERSION);
  put16(h + H_FLAGS, 0);
  put32(h + H_CHUNK, cs);
  key_id(key, h + H_KEYID);
  crypto_secretstream_xchacha20poly1305_init_push(&s->st, h + H_SSHDR, key);
  header_check(h, h + H_CHECK);
  s->cs = cs;
  s->pbuf = xmalloc(cs);
  s->cbuf = xmalloc((size_t)cs + SS_ABYTES);
  s->emit = emit;
  s->ctx = ctx;
  s->rc = emit(ctx, h, BACKUP_HEADER_BYTES);
}

static void seal_chunk(sealer *s, unsigned char tag) {
  unsigned long long clen = 0;
  put64(s->ad + BACKUP_HEADER_BYTES, s->chunk);
  crypto_secretstream_xchacha20poly1305_push(&s->st, s->cbuf, &clen, s->pbuf,
                                             s->cs, s->ad, AD_BYTES, tag);
  DTO_ASSERT(clen == (unsigned long long)s->cs + SS_ABYTES);
  if (!s->rc)
    s->rc = s->emit(s->ctx, s->cbuf, (size_t)clen);
  s->chunk++;
  s->plen = 0;
}

/* A chunk is sealed only when full and more bytes follow, so whatever is
 * added last always ends in the chunk sealer_finish marks final. */
static void sealer_add(sealer *s, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    if (s->plen == s->cs)
      seal_chunk(s, TAG_MESSAGE);
    size_t k = min_sz(s->cs - s->plen, n);
    memcpy(s->pbuf + s->plen, b, k);
    s->plen += k;
    b += k;
    n -= k;
  }
}

static void sealer_finish(sealer *s) {
  memset(s->pbuf + s->plen, 0, s->cs - s->plen);
  s->plen = s->cs;
  seal_chunk(s, TAG_FINAL);
}

static void sealer_release(sealer *s) {
  sodium_memzero(&s->st, sizeof s->st);
  if (s->pbuf)
    sodium_memzero(s->pbuf, s->cs);
  free(s->pbuf);
  free(s->cbuf);
  s->pbuf = s->cbuf = NULL;
}

static void seal_record(sealer *s, int type, const void *p, uint32_t n) {
  uint8_t h[REC_HDR];
  h[0] = (uint8_t)type;
  put32(h + 1, n);
  sealer_add(s, h, sizeof h);
  sealer_add(s, p, n);
}

static int emit_dbuf(void *ctx, const void *p, size_t n) {
  return dbuf_add(ctx, p, n);
}

int backup__seal_mem(const uint8_t key[BACKUP_KEY_BYTES], uint32_t cs,
                     const void *plain, size_t len, dbuf *out) {
  sealer s;
  sealer_init(&s, key, cs, emit_dbuf, out);
  sealer_add(&s, plain, len);
  sealer_finish(&s);
  int rc = s.rc;
  sealer_release(&s);
  return rc;
}

/* ---- the writer ---------------------------------------------------------- */

typedef struct entry {
  char name[BACKUP_NAME_MAX + 1];
  uint64_t size;
  uint8_t sha[SHA_BYTES];
} entry;

/* The writer's lifecycle; closing or aborting frees it. */
enum bw_state { BW_OPEN, BW_FAILED, BW_COUNT };

struct backup_writer {
  char *path;
  fileio_atomic *out;
  sealer s;
  ZSTD_CCtx *cctx;
  uint8_t *ibuf, *obuf;
  entry *files;
  size_t nfiles, capfiles;
  crypto_hash_sha256_state sha; /* of the file being added */
  uint64_t fsize, fgot;         /* its declared size, bytes fed so far */
  enum bw_state state;
  int rc;            /* BW_FAILED: the failure's code */
  char msg[MSG_MAX]; /* BW_FAILED: its message */
  prog p;
};

static int emit_atomic(void *ctx, const void *p, size_t n) {
  fileio_atomic_write(ctx, p, n); /* errors are kept for the commit */
  return 0;
}

/* The one transition: an error after bytes of a file went out leaves the
 * stream in a state no record can follow, so the writer is failed for
 * good.  Returns rc. */
static int writer_fail(backup_writer *w, int rc, char *err, size_t cap,
                       const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int writer_fail(backup_writer *w, int rc, char *err, size_t cap,
                       const char *fmt, ...) {
  char detail[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  DTO_ASSERT(w->state == BW_OPEN && rc < 0);
  dto_seterr(w->msg, sizeof w->msg, "backup %s: %s", w->path, detail);
  w->state = BW_FAILED;
  w->rc = rc;
  dto_seterr(err, cap, "%s", w->msg);
  return rc;
}

static void writer_free(backup_writer *w) {
  sealer_release(&w->s);
  ZSTD_freeCCtx(w->cctx);
  sodium_memzero(&w->sha, sizeof w->sha);
  free(w->ibuf);
  free(w->obuf);
  free(w->files);
  free(w->path);
  free(w);
}

static void put_rec(backup_writer *w, int type, const void *p, uint32_t n) {
  seal_record(&w->s, type, p, n);
}

static json_t *manifest_new(const char *kind, const char *extra_json,
                            dto_time created, char *why, size_t whycap) {
  json_t *m = json_object();
  json_t *k = json_string(kind);
  if (!k) {
    dto_seterr(why, whycap, "the kind is not UTF-8");
    json_decref(m);
    return NULL;
  }
  char ts[40];
  time_format(floordiv64(created, DTO_NS_PER_SEC) * DTO_NS_PER_SEC, ts,
              sizeof ts);
  json_object_set_new(m, "format", json_integer(BACKUP_FORMAT_VERSION));
  json_object_set_new(m, "kind", k);
  json_object_set_new(m, "created", json_string(ts));
  json_object_set_new(m, "dto_version", json_string(DTO_VERSION));
  if (!extra_json)
    return m;
  json_error_t je;
  json_t *x = json_loads(extra_json, JSON_REJECT_DUPLICATES, &je);
  if (!x || !json_is_object(x)) {
    dto_seterr(why, whycap, "the extra fields are not a JSON object%s%s",
               x ? "" : ": ", x ? "" : je.text);
    json_decref(x);
    json_decref(m);
    return NULL;
  }
  const char *key;
  json_t *v;
  json_object_foreach(x, key, v) {
    if (json_object_get(m, key) || !strcmp(key, "files")) {
      dto_seterr(why, whycap, "the extra field \"%.40s\" is reserved", key);
      json_decref(x);
      json_decref(m);
      return NULL;
    }
    json_object_set(m, key, v);
  }
  json_decref(x);
  return m;
}

int backup_writer_open(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                       const char *kind, const char *extra_json,
                       const backup_opts *opts, backup_writer **out, char *err,
                       size_t cap) {
  *out = NULL;
  backup_opts o = opts ? *opts : (backup_opts){0};
  int level = o.level ? o.level : BACKUP_LEVEL_DEFAULT;
  uint32_t cs = o.chunk_size ? o.chunk_size : BACKUP_CHUNK_DEFAULT;
  if (level < 1 || level > BACKUP_LEVEL_MAX) {
    dto_seterr(err, cap, "backup %s: compression level %d is outside 1..%d",
               path, level, BACKUP_LEVEL_MAX);
    return DTO_EINVAL;
  }
  if (cs < BACKUP_CHUNK_MIN || cs > BACKUP_CHUNK_MAX) {
    dto_seterr(err, cap, "backup %s: chunk size %u is outside %u..%u", path,
               (unsigned)cs, BACKUP_CHUNK_MIN, BACKUP_CHUNK_MAX);
    return DTO_EINVAL;
  }
  if (!kind || !*kind) {
    dto_seterr(err, cap, "backup %s: no kind given", path);
    return DTO_EINVAL;
  }
  struct stat st;
  if (lstat(path, &st) == 0) {
    dto_seterr(err, cap,
               "backup %s: already exists (a backup is never overwritten)",
               path);
    return DTO_EEXIST;
  }
  if (errno != ENOENT) {
    int e = errno;
    dto_seterr(err, cap, "backup %s: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  dto_time created = o.created;
  if (!created) {
    dto_clock c;
    clock_real_init(&c);
    created = clock_now(&c);
  }
  char why[200];
  json_t *m = manifest_new(kind, extra_json, created, why, sizeof why);
  if (!m) {
    dto_seterr(err, cap, "backup %s: %s", path, why);
    return DTO_EINVAL;
  }
  char *text = json_dumps(m, JSON_COMPACT);
  json_decref(m);
  DTO_ASSERT(text);
  size_t tlen = strlen(text);
  if (tlen > BACKUP_MANIFEST_MAX) {
    free(text);
    dto_seterr(err, cap, "backup %s: the manifest is larger than %u bytes",
               path, BACKUP_MANIFEST_MAX);
    return DTO_ETOOBIG;
  }
  fileio_atomic *a;
  char ferr[MSG_MAX];
  int rc = fileio_atomic_open(path, 0600, &a, ferr, sizeof ferr);
  if (rc) {
    free(text);
    dto_seterr(err, cap, "backup %s", ferr);
    return rc;
  }
  backup_writer *w = xcalloc(1, sizeof *w);
  w->path = xstrdup(path);
  w->out = a;
  w->cctx = ZSTD_createCCtx();
  DTO_ASSERT(w->cctx);
  DTO_ASSERT(!ZSTD_isError(
      ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level)));
  w->ibuf = xmalloc(IO_BUF);
  w->obuf = xmalloc(IO_BUF);
  w->state = BW_OPEN;
  prog_init(&w->p, &o, o.total);
  sealer_init(&w->s, key, cs, emit_atomic, a);
  put_rec(w, REC_MANIFEST, text, (uint32_t)tlen);
  free(text);
  *out = w;
  return 0;
}

/* Checks that fail nothing: the writer stays usable after them. */
static int writer_ready(backup_writer *w, const char *name, char *err,
                        size_t cap) {
  DTO_ASSERT(w && (unsigned)w->state < BW_COUNT);
  if (w->state == BW_FAILED) {
    dto_seterr(err, cap, "backup %s: an earlier error stopped this backup (%s)",
               w->path, w->msg);
    return DTO_ESTATE;
  }
  size_t nl = name ? strlen(name) : 0;
  if (!name || !backup_name_ok(name, nl)) {
    dto_seterr(err, cap,
               "backup %s: '%.*s' is not a usable file name (1..%d of A-Z a-z "
               "0-9 . _ -, not starting with '.')",
               w->path, (int)min_sz(nl, BACKUP_NAME_MAX + 8), name ? name : "",
               BACKUP_NAME_MAX);
    return DTO_EINVAL;
  }
  for (size_t i = 0; i < w->nfiles; i++)
    if (!strcmp(w->files[i].name, name)) {
      dto_seterr(err, cap, "backup %s: file '%s' added twice", w->path, name);
      return DTO_EEXIST;
    }
  if (w->nfiles == BACKUP_FILES_MAX) {
    dto_seterr(err, cap, "backup %s: more than %d files", w->path,
               BACKUP_FILES_MAX);
    return DTO_ETOOBIG;
  }
  return 0;
}

static void begin_file(backup_writer *w, const char *name, uint64_t size) {
  uint8_t f[8 + BACKUP_NAME_MAX];
  size_t nl = strlen(name);
  put64(f, size);
  memcpy(f + 8, name, nl);
  put_rec(w, REC_FILE, f, (uint32_t)(8 + nl));
  DTO_ASSERT(!ZSTD_isError(ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only)));
  DTO_ASSERT(!ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(w->cctx, size)));
  crypto_hash_sha256_init(&w->sha);
  w->fsize = size;
  w->fgot = 0;
}

/* Compress n bytes at p (end: ZSTD_e_continue, or ZSTD_e_end to finish the
 * frame), each full output buffer going out as a 'D' record. */
static int compress(backup_writer *w, const char *name, const void *p, size_t n,
                    ZSTD_EndDirective end, char *err, size_t cap) {
  ZSTD_inBuffer in = {p, n, 0};
  for (;;) {
    ZSTD_outBuffer o = {w->obuf, IO_BUF, 0};
    size_t left = ZSTD_compressStream2(w->cctx, &o, &in, end);
    if (ZSTD_isError(left))
      return writer_fail(w, DTO_EIO, err, cap,
                         "file '%s': compression failed: %s", name,
                         ZSTD_getErrorName(left));
    if (o.pos)
      put_rec(w, REC_DATA, w->obuf, (uint32_t)o.pos);
    if (end == ZSTD_e_end ? left == 0 : in.pos == in.size)
      return 0;
  }
}

static int feed(backup_writer *w, const char *name, const void *p, size_t n,
                char *err, size_t cap) {
  crypto_hash_sha256_update(&w->sha, p, n);
  w->fgot += n;
  prog_add(&w->p, n);
  return compress(w, name, p, n, ZSTD_e_continue, err, cap);
}

static int end_file(backup_writer *w, const char *name, char *err, size_t cap) {
  int rc = compress(w, name, NULL, 0, ZSTD_e_end, err, cap);
  if (rc)
    return rc;
  DTO_ASSERT(w->fgot == w->fsize);
  w->files = xgrow(w->files, &w->capfiles, w->nfiles + 1, sizeof *w->files);
  entry *f = &w->files[w->nfiles++];
  snprintf(f->name, sizeof f->name, "%s", name);
  f->size = w->fsize;
  crypto_hash_sha256_final(&w->sha, f->sha);
  uint8_t e[END_REC];
  put64(e, f->size);
  memcpy(e + 8, f->sha, SHA_BYTES);
  put_rec(w, REC_END, e, sizeof e);
  return 0;
}

int backup_writer_add_bytes(backup_writer *w, const char *name, const void *p,
                            size_t n, char *err, size_t cap) {
  int rc = writer_ready(w, name, err, cap);
  if (rc)
    return rc;
  begin_file(w, name, n);
  const uint8_t *b = p;
  while (n) {
    size_t k = min_sz(n, IO_BUF);
    if ((rc = feed(w, name, b, k, err, cap)))
      return rc;
    b += k;
    n -= k;
  }
  return end_file(w, name, err, cap);
}

int backup_writer_add_file(backup_writer *w, const char *name,
                           const char *src_path, char *err, size_t cap) {
  int rc = writer_ready(w, name, err, cap);
  if (rc)
    return rc;
  int fd;
  struct stat st;
  char ferr[MSG_MAX];
  if ((rc = fileio_open_regular(src_path, &fd, &st, ferr, sizeof ferr))) {
    dto_seterr(err, cap, "backup %s: file '%s': %s", w->path, name, ferr);
    return rc;
  }
  begin_file(w, name, (uint64_t)st.st_size);
  for (;;) {
    size_t got;
    int e = read_full(fd, w->ibuf, IO_BUF, &got);
    if (e) {
      close(fd);
      return writer_fail(w, dto_from_errno(e), err, cap,
                         "file '%s': cannot read %s: %s", name, src_path,
                         strerror(e));
    }
    if (got == 0)
      break;
    if (got > w->fsize - w->fgot) {
      close(fd);
      return writer_fail(w, DTO_EAGAIN, err, cap,
                         "file '%s': %s changed while being read (it grew; "
                         "back up a stable copy)",
                         name, src_path);
    }
    if ((rc = feed(w, name, w->ibuf, got, err, cap))) {
      close(fd);
      return rc;
    }
  }
  close(fd);
  if (w->fgot != w->fsize)
    return writer_fail(w, DTO_EAGAIN, err, cap,
                       "file '%s': %s changed while being read (it shrank; "
                       "back up a stable copy)",
                       name, src_path);
  return end_file(w, name, err, cap);
}

void backup_writer_abort(backup_writer *w) {
  if (!w)
    return;
  fileio_atomic_abort(w->out);
  writer_free(w);
}

int backup_writer_close(backup_writer *w, char *err, size_t cap) {
  DTO_ASSERT(w && (unsigned)w->state < BW_COUNT);
  if (w->state == BW_FAILED) {
    int rc = w->rc;
    dto_seterr(err, cap, "%s", w->msg);
    backup_writer_abort(w);
    return rc;
  }
  json_t *t = json_object(), *arr = json_array();
  for (size_t i = 0; i < w->nfiles; i++) {
    char hex[2 * SHA_BYTES + 1];
    hex_encode(w->files[i].sha, SHA_BYTES, hex);
    json_t *f = json_object();
    json_object_set_new(f, "name", json_string(w->files[i].name));
    json_object_set_new(f, "size", json_integer((json_int_t)w->files[i].size));
    json_object_set_new(f, "sha256", json_string(hex));
    json_array_append_new(arr, f);
  }
  json_object_set_new(t, "files", arr);
  char *text = json_dumps(t, JSON_COMPACT);
  json_decref(t);
  DTO_ASSERT(text);
  size_t tlen = strlen(text);
  /* names, sizes and counts are capped */
  DTO_ASSERT(tlen <= 16 + BACKUP_TRAILER_ENTRY_MAX * w->nfiles);
  put_rec(w, REC_TRAILER, text, (uint32_t)tlen);
  free(text);
  sealer_finish(&w->s);
  struct stat st;
  if (lstat(w->path, &st) == 0) { /* appeared since backup_writer_open */
    dto_seterr(err, cap,
               "backup %s: already exists (a backup is never overwritten)",
               w->path);
    backup_writer_abort(w);
    return DTO_EEXIST;
  }
  fileio_atomic *a = w->out;
  w->out = NULL;
  char ferr[MSG_MAX];
  int rc = fileio_atomic_commit(a, ferr, sizeof ferr);
  if (rc)
    dto_seterr(err, cap, "backup %s", ferr);
  else
    prog_end(&w->p);
  writer_free(w);
  return rc;
}

/* ---- reading ------------------------------------------------------------- */

/* Extraction: files go to dest/.partial-XXXXXX, then into dest. */
typedef struct ext {
  const char *dest;
  int dfd, pfd; /* dest, the partial folder; -1 until opened */
  char pname[24];
  int fd;        /* the file being written, or -1 */
  bool cur_made; /* the current file exists in the partial folder */
  size_t nmoved; /* files already renamed into dest */
} ext;

enum rd_state { RS_MANIFEST, RS_BETWEEN, RS_IN_FILE, RS_DONE, RS_COUNT };

typedef struct rd {
  const char *label; /* the archive's path, for messages */
  int fd;            /* the archive, or -1 when reading memory */
  const uint8_t *mem;
  size_t mlen, mpos;
  crypto_secretstream_xchacha20poly1305_state st;
  uint8_t ad[AD_BYTES]; /* the header, then the chunk's index */
  uint32_t cs;
  uint8_t *cbuf, *pbuf;
  size_t plen, ppos; /* plaintext of the current chunk, read so far */
  uint64_t chunk;    /* index of the next chunk */
  bool final;        /* the TAG_FINAL chunk was read */
  bool decode;       /* decompress and check the files */
  bool head;         /* stop after the manifest */
  uint64_t max_file;
  enum rd_state state;
  entry *files;
  size_t nfiles, capfiles;
  entry cur; /* RS_IN_FILE: the file being read */
  uint64_t got;
  size_t zret; /* the last ZSTD_decompressStream result, 0: frame done */
  crypto_hash_sha256_state sha;
  ZSTD_DCtx *dctx;
  uint8_t *ibuf, *obuf;
  json_t *manifest;
  ext *x; /* extraction, or NULL */
  prog p;
  char *err;
  size_t cap;
} rd;

static int rd_fail(rd *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rd_fail(rd *r, int rc, const char *fmt, ...) {
  char detail[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  dto_seterr(r->err, r->cap, "backup %s: %s", r->label, detail);
  return rc;
}

/* Authenticated bytes that do not follow the format: a bug in a writer, or
 * an archive made by someone holding the key. */
#define MALFORMED(r, ...) malformed_(r, DTO_EPARSE, __VA_ARGS__)
static int malformed_(rd *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int malformed_(rd *r, int rc, const char *fmt, ...) {
  char detail[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return rd_fail(r, rc, "malformed contents (%s)", detail);
}

static int src_read(rd *r, void *buf, size_t n, size_t *got) {
  if (r->fd < 0) {
    *got = min_sz(n, r->mlen - r->mpos);
    if (*got)
      memcpy(buf, r->mem + r->mpos, *got);
    r->mpos += *got;
  } else {
    int e = read_full(r->fd, buf, n, got);
    if (e)
      return rd_fail(r, dto_from_errno(e), "cannot read: %s", strerror(e));
  }
  prog_add(&r->p, *got);
  return 0;
}

static int read_header(rd *r, const uint8_t key[BACKUP_KEY_BYTES]) {
  uint8_t *h = r->ad;
  size_t got;
  int rc = src_read(r, h, BACKUP_HEADER_BYTES, &got);
  if (rc)
    return rc;
  if (got < sizeof magic || memcmp(h, magic, sizeof magic) != 0)
    return rd_fail(r, DTO_EPARSE, "not a dto backup");
  if (got < BACKUP_HEADER_BYTES)
    return rd_fail(
        r, DTO_EPARSE,
        "truncated (the header is cut short; the archive ends early)");
  uint8_t chk[CHECK_BYTES];
  header_check(h, chk);
  if (memcmp(chk, h + H_CHECK, CHECK_BYTES) != 0)
    return rd_fail(r, DTO_EPARSE, "header damaged (corrupt or tampered)");
  unsigned version = get16(h + H_VERSION), flags = get16(h + H_FLAGS);
  if (version != BACKUP_FORMAT_VERSION)
    return rd_fail(
        r, DTO_EUNSUPPORTED,
        "format version %u is not supported (this dto reads version %d)",
        version, BACKUP_FORMAT_VERSION);
  if (flags)
    return rd_fail(r, DTO_EUNSUPPORTED, "header flags 0x%04x are not supported",
                   flags);
  uint32_t cs = get32(h + H_CHUNK);
  if (cs < BACKUP_CHUNK_MIN || cs > BACKUP_CHUNK_MAX)
    return rd_fail(r, DTO_EUNSUPPORTED,
                   "chunk size %u is not supported (%u..%u)", (unsigned)cs,
                   BACKUP_CHUNK_MIN, BACKUP_CHUNK_MAX);
  uint8_t id[BACKUP_KEY_ID_BYTES];
  key_id(key, id);
  if (memcmp(id, h + H_KEYID, sizeof id) != 0) {
    char mine[17], theirs[17];
    hex_encode(id, sizeof id, mine);
    hex_encode(h + H_KEYID, sizeof id, theirs);
    return rd_fail(r, DTO_EREJECT, "wrong key (key id %s, the archive's is %s)",
                   mine, theirs);
  }
  if (crypto_secretstream_xchacha20poly1305_init_pull(&r->st, h + H_SSHDR,
                                                      key) != 0)
    return rd_fail(r, DTO_EPARSE, "header damaged (corrupt or tampered)");
  r->cs = cs;
  r->cbuf = xmalloc((size_t)cs + SS_ABYTES);
  r->pbuf = xmalloc(cs);
  return 0;
}

static int next_chunk(rd *r) {
  size_t want = (size_t)r->cs + SS_ABYTES, got;
  unsigned long long k = (unsigned long long)r->chunk;
  int rc = src_read(r, r->cbuf, want, &got);
  if (rc)
    return rc;
  if (got == 0)
    return rd_fail(r, DTO_EPARSE,
                   "truncated (chunk %llu missing; the archive ends early)", k);
  if (got < want)
    return rd_fail(r, DTO_EPARSE,
                   "truncated (chunk %llu cut short; the archive ends early)",
                   k);
  put64(r->ad + BACKUP_HEADER_BYTES, r->chunk);
  unsigned long long mlen = 0;
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(
          &r->st, r->pbuf, &mlen, &tag, r->cbuf, want, r->ad, AD_BYTES) != 0)
    return rd_fail(r, DTO_EPARSE,
                   "chunk %llu failed authentication (corrupt or tampered)", k);
  DTO_ASSERT(mlen == r->cs);
  if (tag == TAG_FINAL) {
    uint8_t b;
    if ((rc = src_read(r, &b, 1, &got)))
      return rc;
    if (got)
      return rd_fail(r, DTO_EPARSE,
                     "data after the final chunk %llu (corrupt or tampered)",
                     k);
    r->final = true;
  } else if (tag != TAG_MESSAGE) {
    return MALFORMED(r, "chunk %llu has the unknown tag %u", k, tag);
  }
  r->plen = r->cs;
  r->ppos = 0;
  r->chunk++;
  return 0;
}

/* The next n plaintext bytes into buf (NULL: skip them). */
static int rd_read(rd *r, void *buf, size_t n) {
  uint8_t *b = buf;
  while (n) {
    if (r->ppos == r->plen) {
      if (r->final)
        return MALFORMED(r, "the stream ends before its trailer");
      int rc = next_chunk(r);
      if (rc)
        return rc;
    }
    size_t k = min_sz(n, r->plen - r->ppos);
    if (b) {
      memcpy(b, r->pbuf + r->ppos, k);
      b += k;
    }
    r->ppos += k;
    n -= k;
  }
  return 0;
}

/* The JSON punctuation that separates or opens values: at most one more
 * value than this count can be in a text, so bounding it bounds what
 * jansson builds.  Strings are not skipped (a ',' in one only counts more). */
static size_t json_punct(const char *p, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    k += p[i] == ',' || p[i] == ':' || p[i] == '[' || p[i] == '{';
  return k;
}

/* Read a JSON object record of len bytes (at most max; with max_punct > 0,
 * at most that much punctuation) into *out. */
static int read_json(rd *r, uint32_t len, uint32_t max, size_t max_punct,
                     const char *what, json_t **out) {
  *out = NULL;
  if (len > max)
    return malformed_(r, DTO_ETOOBIG, "a %s of %u bytes, above the limit of %u",
                      what, (unsigned)len, (unsigned)max);
  if (len == 0)
    return MALFORMED(r, "an empty %s", what);
  dbuf b;
  dbuf_init(&b, max);
  while (len) { /* grows only as authenticated bytes arrive */
    size_t k = min_sz(len, IO_BUF);
    int rc = rd_read(r, r->ibuf, k);
    if (rc) {
      dbuf_release(&b);
      return rc;
    }
    DTO_ASSERT(dbuf_add(&b, r->ibuf, k) == 0);
    len -= (uint32_t)k;
  }
  if (max_punct && json_punct(b.ptr, b.len) > max_punct) {
    dbuf_release(&b);
    return MALFORMED(r, "the %s holds more JSON values than its files need",
                     what);
  }
  json_error_t je;
  json_t *v = json_loadb(b.ptr, b.len, JSON_REJECT_DUPLICATES, &je);
  dbuf_release(&b);
  if (!v || !json_is_object(v)) {
    json_decref(v);
    return MALFORMED(r, "the %s is not a JSON object", what);
  }
  *out = v;
  return 0;
}

static bool json_str_field(json_t *o, const char *k) {
  return json_is_string(json_object_get(o, k));
}

static int on_manifest(rd *r, uint32_t len) {
  json_t *m;
  int rc = read_json(r, len, BACKUP_MANIFEST_MAX, 0, "manifest", &m);
  if (rc)
    return rc;
  json_t *f = json_object_get(m, "format");
  if (!json_is_integer(f) || json_integer_value(f) != BACKUP_FORMAT_VERSION ||
      !json_str_field(m, "kind") || !json_str_field(m, "created") ||
      !json_str_field(m, "dto_version") || json_object_get(m, "files")) {
    json_decref(m);
    return MALFORMED(r, "the manifest lacks format 1, kind, created or "
                        "dto_version, or has files");
  }
  r->manifest = m;
  r->state = RS_BETWEEN;
  return 0;
}

/* ---- extraction sink ----------------------------------------------------- */

static int ext_begin(rd *r) {
  ext *x = r->x;
  x->dfd = open(x->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (x->dfd < 0) {
    int e = errno;
    return rd_fail(r, dto_from_errno(e), "cannot open the folder %s: %s",
                   x->dest, strerror(e));
  }
  size_t n = strlen(x->dest);
  char *tmpl = xmalloc(n + sizeof "/.partial-XXXXXX");
  memcpy(tmpl, x->dest, n);
  memcpy(tmpl + n, "/.partial-XXXXXX", sizeof "/.partial-XXXXXX");
  if (!mkdtemp(tmpl)) {
    int e = errno;
    free(tmpl);
    return rd_fail(r, dto_from_errno(e), "cannot create a folder in %s: %s",
                   x->dest, strerror(e));
  }
  snprintf(x->pname, sizeof x->pname, "%s", tmpl + n + 1);
  free(tmpl);
  int rc = 0;
  x->pfd = openat(x->dfd, x->pname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (x->pfd < 0) {
    int e = errno;
    rc = rd_fail(r, dto_from_errno(e), "cannot open %s/%s: %s", x->dest,
                 x->pname, strerror(e));
    unlinkat(x->dfd, x->pname, AT_REMOVEDIR);
    x->pname[0] = '\0';
    return rc;
  }
  return 0;
}

static int ext_open_file(rd *r) {
  ext *x = r->x;
  x->fd = openat(x->pfd, r->cur.name,
                 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (x->fd < 0) {
    int e = errno;
    return rd_fail(r, dto_from_errno(e), "cannot create %s/%s/%s: %s", x->dest,
                   x->pname, r->cur.name, strerror(e));
  }
  x->cur_made = true;
  return 0;
}

static int ext_write(rd *r, const void *p, size_t n) {
  int e = write_all(r->x->fd, p, n);
  if (e)
    return rd_fail(r, dto_from_errno(e), "cannot write %s/%s/%s: %s",
                   r->x->dest, r->x->pname, r->cur.name, strerror(e));
  return 0;
}

static int ext_close_file(rd *r) {
  ext *x = r->x;
  int e = fsync(x->fd) != 0 ? errno : 0;
  if (close(x->fd) != 0 && !e)
    e = errno;
  x->fd = -1;
  if (e)
    return rd_fail(r, dto_from_errno(e), "cannot write %s/%s/%s: %s", x->dest,
                   x->pname, r->cur.name, strerror(e));
  return 0;
}

/* Move every file into dest: none may exist there already. */
static int ext_commit(rd *r) {
  ext *x = r->x;
  for (size_t i = 0; i < r->nfiles; i++) {
    struct stat st;
    if (fstatat(x->dfd, r->files[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0)
      return rd_fail(r, DTO_EEXIST, "%s/%s already exists (not replaced)",
                     x->dest, r->files[i].name);
  }
  for (size_t i = 0; i < r->nfiles; i++) {
    const char *n = r->files[i].name;
    int rc = renameat2(x->pfd, n, x->dfd, n, RENAME_NOREPLACE);
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
      /* a file system without RENAME_NOREPLACE: link refuses to replace */
      rc = linkat(x->pfd, n, x->dfd, n, 0);
      if (rc == 0)
        unlinkat(x->pfd, n, 0);
    }
    if (rc != 0) {
      int e = errno;
      return rd_fail(r, dto_from_errno(e), "cannot move %s into %s: %s", n,
                     x->dest, strerror(e));
    }
    x->nmoved++;
  }
  close(x->pfd);
  x->pfd = -1;
  unlinkat(x->dfd, x->pname, AT_REMOVEDIR);
  x->pname[0] = '\0';
  if (fsync(x->dfd) != 0 && errno != EINVAL) {
    int e = errno;
    return rd_fail(r, dto_from_errno(e), "cannot sync the folder %s: %s",
                   x->dest, strerror(e));
  }
  return 0;
}

/* Remove everything this extraction wrote; x->dfd stays open. */
static void ext_undo(rd *r) {
  ext *x = r->x;
  if (x->fd >= 0)
    close(x->fd);
  x->fd = -1;
  for (size_t i = 0; i < x->nmoved; i++)
    unlinkat(x->dfd, r->files[i].name, 0);
  if (x->pfd >= 0) {
    for (size_t i = x->nmoved; i < r->nfiles; i++)
      unlinkat(x->pfd, r->files[i].name, 0);
    if (x->cur_made && r->state == RS_IN_FILE)
      unlinkat(x->pfd, r->cur.name, 0);
    close(x->pfd);
    x->pfd = -1;
  }
  if (x->pname[0])
    unlinkat(x->dfd, x->pname, AT_REMOVEDIR);
  x->pname[0] = '\0';
  if (x->nmoved)
    fsync(x->dfd);
}

/* ---- records ------------------------------------------------------------- */

static int on_file(rd *r, uint32_t len) {
  if (r->state != RS_BETWEEN)
    return MALFORMED(r, "a file starts inside another");
  if (len < FILE_REC_MIN || len > 8 + BACKUP_NAME_MAX)
    return MALFORMED(r, "a file record of %u bytes", (unsigned)len);
  uint8_t f[8 + BACKUP_NAME_MAX];
  int rc = rd_read(r, f, len);
  if (rc)
    return rc;
  const char *name = (const char *)f + 8;
  size_t nl = len - 8;
  if (!backup_name_ok(name, nl))
    return MALFORMED(r, "a file name that is not allowed");
  if (r->nfiles == BACKUP_FILES_MAX)
    return malformed_(r, DTO_ETOOBIG, "more than %d files", BACKUP_FILES_MAX);
  memset(&r->cur, 0, sizeof r->cur);
  memcpy(r->cur.name, name, nl);
  r->cur.size = get64(f);
  for (size_t i = 0; i < r->nfiles; i++)
    if (!strcmp(r->files[i].name, r->cur.name))
      return MALFORMED(r, "file '%s' appears twice", r->cur.name);
  if (r->cur.size > r->max_file)
    return malformed_(r, DTO_ETOOBIG,
                      "file '%s' declares %llu bytes, above the limit of %llu",
                      r->cur.name, (unsigned long long)r->cur.size,
                      (unsigned long long)r->max_file);
  r->state = RS_IN_FILE;
  r->got = 0;
  r->zret = 1;
  if (r->decode) {
    crypto_hash_sha256_init(&r->sha);
    DTO_ASSERT(
        !ZSTD_isError(ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only)));
  }
  if (r->x) {
    r->x->cur_made = false;
    if ((rc = ext_open_file(r)))
      return rc;
  }
  return 0;
}

static int inflate(rd *r, const uint8_t *p, size_t n) {
  ZSTD_inBuffer in = {p, n, 0};
  if (r->zret == 0) /* one frame per file, and it has ended */
    return MALFORMED(r, "file '%s': data after the end of its compressed data",
                     r->cur.name);
  for (;;) {
    ZSTD_outBuffer o = {r->obuf, IO_BUF, 0};
    size_t before = in.pos;
    size_t ret = ZSTD_decompressStream(r->dctx, &o, &in);
    if (ZSTD_isError(ret))
      return MALFORMED(r, "file '%s': the compressed data is damaged (%s)",
                       r->cur.name, ZSTD_getErrorName(ret));
    r->zret = ret;
    if (o.pos) {
      if (o.pos > r->cur.size - r->got)
        return MALFORMED(r, "file '%s' is larger than its declared %llu bytes",
                         r->cur.name, (unsigned long long)r->cur.size);
      crypto_hash_sha256_update(&r->sha, r->obuf, o.pos);
      r->got += o.pos;
      if (r->x) {
        int rc = ext_write(r, r->obuf, o.pos);
        if (rc)
          return rc;
      }
    }
    /* The frame is whole.  Never call the decoder again for this file: with
     * no input left it would start on a next frame and answer a nonzero
     * hint, which would read as "ends early" whenever the last output
     * exactly filled obuf (a file whose size is a multiple of IO_BUF). */
    if (ret == 0) {
      if (in.pos != in.size)
        return MALFORMED(r,
                         "file '%s': data after the end of its compressed "
                         "data",
                         r->cur.name);
      return 0;
    }
    if (in.pos == in.size && o.pos < o.size)
      return 0;
    if (in.pos == before && o.pos == 0) /* never expected: no endless loop */
      return MALFORMED(r, "file '%s': the decompressor is stuck", r->cur.name);
  }
}

static int on_data(rd *r, uint32_t len) {
  if (r->state != RS_IN_FILE)
    return MALFORMED(r, "data outside a file");
  if (len == 0 || len > BACKUP_DATA_MAX)
    return malformed_(r, DTO_ETOOBIG, "a data record of %u bytes (1..%u)",
                      (unsigned)len, BACKUP_DATA_MAX);
  if (!r->decode)
    return rd_read(r, NULL, len);
  while (len) {
    size_t k = min_sz(len, IO_BUF);
    int rc = rd_read(r, r->ibuf, k);
    if (!rc)
      rc = inflate(r, r->ibuf, k);
    if (rc)
      return rc;
    len -= (uint32_t)k;
  }
  return 0;
}

static int on_end(rd *r, uint32_t len) {
  if (r->state != RS_IN_FILE)
    return MALFORMED(r, "a file end outside a file");
  if (len != END_REC)
    return MALFORMED(r, "a file end record of %u bytes", (unsigned)len);
  uint8_t e[END_REC];
  int rc = rd_read(r, e, len);
  if (rc)
    return rc;
  if (get64(e) != r->cur.size)
    return MALFORMED(r, "file '%s' ends with %llu bytes but started with %llu",
                     r->cur.name, (unsigned long long)get64(e),
                     (unsigned long long)r->cur.size);
  memcpy(r->cur.sha, e + 8, SHA_BYTES);
  if (r->decode) {
    if (r->got != r->cur.size)
      return MALFORMED(
          r, "file '%s' is shorter than declared (%llu of %llu bytes)",
          r->cur.name, (unsigned long long)r->got,
          (unsigned long long)r->cur.size);
    if (r->zret != 0)
      return MALFORMED(r, "file '%s': the compressed data ends early",
                       r->cur.name);
    uint8_t sha[SHA_BYTES];
    crypto_hash_sha256_final(&r->sha, sha);
    if (memcmp(sha, r->cur.sha, SHA_BYTES) != 0)
      return rd_fail(r, DTO_EPARSE, "file '%s' checksum mismatch", r->cur.name);
  }
  if (r->x && (rc = ext_close_file(r)))
    return rc;
  r->files = xgrow(r->files, &r->capfiles, r->nfiles + 1, sizeof *r->files);
  r->files[r->nfiles++] = r->cur;
  r->state = RS_BETWEEN;
  return 0;
}

static bool trailer_matches(const rd *r, json_t *arr) {
  if (!json_is_array(arr) || json_array_size(arr) != r->nfiles)
    return false;
  for (size_t i = 0; i < r->nfiles; i++) {
    json_t *f = json_array_get(arr, i);
    json_t *name = json_object_get(f, "name");
    json_t *size = json_object_get(f, "size");
    json_t *sha = json_object_get(f, "sha256");
    char hex[2 * SHA_BYTES + 1];
    hex_encode(r->files[i].sha, SHA_BYTES, hex);
    if (!json_is_object(f) || json_object_size(f) != 3 ||
        !json_is_string(name) || !json_is_integer(size) ||
        !json_is_string(sha) ||
        strcmp(json_string_value(name), r->files[i].name) != 0 ||
        json_integer_value(size) < 0 ||
        (uint64_t)json_integer_value(size) != r->files[i].size ||
        strcmp(json_string_value(sha), hex) != 0)
      return false;
  }
  return true;
}

static int on_trailer(rd *r, uint32_t len) {
  if (r->state != RS_BETWEEN)
    return MALFORMED(r, "the trailer inside a file");
  /* Bounded by the files actually read (a valid trailer has 3 + 7 per file
   * of ",:[{"), so a hostile trailer cannot make jansson build more than
   * the archive's own records justify. */
  json_t *t;
  uint32_t max = 16 + BACKUP_TRAILER_ENTRY_MAX * (uint32_t)r->nfiles;
  int rc = read_json(r, len, max, 3 + 7 * r->nfiles, "trailer", &t);
  if (rc)
    return rc;
  json_t *arr = json_object_get(t, "files");
  if (json_object_size(t) != 1 || !trailer_matches(r, arr)) {
    json_decref(t);
    return MALFORMED(r,
                     "the trailer's table of files does not match the files");
  }
  json_object_set(r->manifest, "files", arr);
  json_decref(t);
  for (size_t i = r->ppos; i < r->plen; i++)
    if (r->pbuf[i])
      return MALFORMED(r, "data after the trailer");
  if (!r->final)
    return MALFORMED(r, "data after the trailer");
  r->state = RS_DONE;
  return 0;
}

static int read_records(rd *r) {
  while (r->state != RS_DONE) {
    uint8_t h[REC_HDR];
    int rc = rd_read(r, h, sizeof h);
    if (rc)
      return rc;
    uint32_t len = get32(h + 1);
    if (r->state == RS_MANIFEST && h[0] != REC_MANIFEST)
      return MALFORMED(r, "the stream does not start with a manifest");
    switch (h[0]) {
    case REC_MANIFEST:
      rc = r->state == RS_MANIFEST ? on_manifest(r, len)
                                   : MALFORMED(r, "a second manifest");
      if (!rc && r->head)
        return 0;
      break;
    case REC_FILE:
      rc = on_file(r, len);
      break;
    case REC_DATA:
      rc = on_data(r, len);
      break;
    case REC_END:
      rc = on_end(r, len);
      break;
    case REC_TRAILER:
      rc = on_trailer(r, len);
      break;
    default:
      rc = MALFORMED(r, "unknown record type 0x%02x", h[0]);
    }
    if (rc)
      return rc;
  }
  return 0;
}

static void rd_release(rd *r) {
  sodium_memzero(&r->st, sizeof r->st);
  sodium_memzero(&r->sha, sizeof r->sha);
  if (r->pbuf)
    sodium_memzero(r->pbuf, r->cs);
  free(r->pbuf);
  free(r->cbuf);
  free(r->ibuf);
  free(r->obuf);
  free(r->files);
  ZSTD_freeDCtx(r->dctx);
  json_decref(r->manifest);
}

/* Read the archive from fd (or mem when fd < 0) of total bytes. */
/* run()'s decode: false (authenticate only), true (decompress and check
 * the files too), or HEAD_ONLY (stop after the manifest). */
#define HEAD_ONLY 2

static int run(const char *label, int fd, const void *mem, size_t mlen,
               uint64_t total, const uint8_t key[BACKUP_KEY_BYTES],
               const backup_opts *opts, int decode, const char *dest,
               json_t **manifest, char *err, size_t cap) {
  need_sodium();
  rd r;
  memset(&r, 0, sizeof r);
  if (decode == HEAD_ONLY) {
    r.head = true;
    decode = false;
  }
  r.label = label;
  r.fd = fd;
  r.mem = mem;
  r.mlen = mlen;
  r.decode = decode != 0;
  r.max_file =
      opts && opts->max_file_size ? opts->max_file_size : BACKUP_FILE_SIZE_MAX;
  r.state = RS_MANIFEST;
  r.err = err;
  r.cap = cap;
  r.ibuf = xmalloc(IO_BUF);
  if (decode) {
    r.obuf = xmalloc(IO_BUF);
    r.dctx = ZSTD_createDCtx();
    DTO_ASSERT(r.dctx);
    DTO_ASSERT(!ZSTD_isError(ZSTD_DCtx_setParameter(r.dctx, ZSTD_d_windowLogMax,
                                                    BACKUP_WINDOW_LOG_MAX)));
  }
  prog_init(&r.p, opts, total);
  ext x = {.dest = dest, .dfd = -1, .pfd = -1, .fd = -1};
  int rc = read_header(&r, key);
  if (!rc && dest) {
    r.x = &x;
    rc = ext_begin(&r);
  }
  if (!rc)
    rc = read_records(&r);
  if (!rc && r.x)
    rc = ext_commit(&r);
  if (rc && r.x)
    ext_undo(&r);
  if (x.dfd >= 0)
    close(x.dfd);
  if (!rc) {
    prog_end(&r.p);
    if (manifest) {
      *manifest = r.manifest;
      r.manifest = NULL;
    }
  }
  rd_release(&r);
  return rc;
}

static int run_path(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                    const backup_opts *opts, int decode, const char *dest,
                    json_t **manifest, char *err, size_t cap) {
  if (manifest)
    *manifest = NULL;
  int fd;
  struct stat st;
  char ferr[MSG_MAX];
  int rc = fileio_open_regular(path, &fd, &st, ferr, sizeof ferr);
  if (rc) {
    dto_seterr(err, cap, "backup %s", ferr);
    return rc;
  }
  rc = run(path, fd, NULL, 0, (uint64_t)st.st_size, key, opts, decode, dest,
           manifest, err, cap);
  close(fd);
  return rc;
}

int backup_read_manifest(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                         const backup_opts *opts, json_t **manifest, char *err,
                         size_t cap) {
  return run_path(path, key, opts, false, NULL, manifest, err, cap);
}

int backup_read_head(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                     json_t **manifest, char *err, size_t cap) {
  return run_path(path, key, NULL, HEAD_ONLY, NULL, manifest, err, cap);
}

int backup_verify(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                  const backup_opts *opts, json_t **manifest, char *err,
                  size_t cap) {
  return run_path(path, key, opts, true, NULL, manifest, err, cap);
}

int backup_extract(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                   const char *dest_dir, const backup_opts *opts,
                   json_t **manifest, char *err, size_t cap) {
  DTO_ASSERT(dest_dir);
  return run_path(path, key, opts, true, dest_dir, manifest, err, cap);
}

int backup__verify_mem(const void *data, size_t len,
                       const uint8_t key[BACKUP_KEY_BYTES],
                       const backup_opts *opts, json_t **manifest, char *err,
                       size_t cap) {
  if (manifest)
    *manifest = NULL;
  return run("(memory)", -1, data, len, len, key, opts, true, NULL, manifest,
             err, cap);
}
