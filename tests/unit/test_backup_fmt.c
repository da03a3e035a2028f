/* test_backup_fmt.c - the backup archive (ops/backup_fmt.h).
 *
 * Oracles independent of the code under test: every SHA-256 is computed
 * here with GnuTLS (the module uses libsodium's); the documented layout is
 * read back by a second reader written in this file straight from the
 * header comment (libsodium's secretstream and zstd's one-shot API, no
 * backup_fmt code), and hostile archives are built by a second writer of
 * the same layout, so a record can be made wrong while its cryptography
 * is right.
 *
 * Covered: a round trip of several files (empty, small, a few MiB of
 * random bytes, 20 MiB of compressible text) byte-identical with checksums
 * equal to GnuTLS's; each tamper case (truncation at several offsets, the
 * final chunk missing, chunks swapped or dropped, a flipped byte in the
 * header, a chunk and the last byte, data appended, a wrong key) fails with
 * its own message and leaves nothing in the destination folder; hostile
 * declared sizes fail fast; key loading and generation (modes, bad text,
 * the key never in a message); the writer's abort, a crash, a failed
 * writer.  DTO_BACKUP_SEED_DIR=DIR also writes the fuzz seeds there.
 */
#include "core/prelude.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "ops/backup_fmt.h"

#define T_CREATED (1796688000LL * DTO_NS_PER_SEC) /* 2026-12-08T00:00:00Z */
#define HDR 56
#define ABYTES 17
#define FUZZ_KEY(i) ((uint8_t)((i)*7 + 1)) /* as tests/fuzz/fuzz_backup.c */

/* ---- helpers ------------------------------------------------------------- */

typedef struct fx_dir {
  char dir[64];
} fx_dir;

static int rm_entry(const char *p, const struct stat *s, int flag,
                    struct FTW *f) {
  (void)s;
  (void)f;
  return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int setup_dir(void **state) {
  fx_dir *d = calloc(1, sizeof *d);
  snprintf(d->dir, sizeof d->dir, "/tmp/dto-bak-XXXXXX");
  if (!d || !mkdtemp(d->dir))
    return -1;
  *state = d;
  return 0;
}

static int teardown_dir(void **state) {
  fx_dir *d = *state;
  nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(d);
  return 0;
}

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...) {
  static char bufs[8][512];
  static int next;
  char *b = bufs[next++ % 8];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, 512, fmt, ap);
  va_end(ap);
  return b;
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  assert_int_equal(fchmod(fd, mode), 0);
  const uint8_t *b = p;
  while (n) {
    ssize_t k = write(fd, b, n);
    assert_true(k > 0);
    b += k;
    n -= (size_t)k;
  }
  close(fd);
}

static uint8_t *read_file(const char *path, size_t *n) {
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  uint8_t *b = malloc((size_t)st.st_size + 1);
  assert_non_null(b);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t k = read(fd, b + got, (size_t)st.st_size - got);
    assert_true(k > 0);
    got += (size_t)k;
  }
  close(fd);
  *n = got;
  return b;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

static bool exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* The oracle: GnuTLS's SHA-256. */
static void sha256(const void *p, size_t n, uint8_t out[32]) {
  assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, p, n, out), 0);
}

static void hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void sha256_hex(const void *p, size_t n, char out[65]) {
  uint8_t h[32];
  sha256(p, n, h);
  hex(h, 32, out);
}

static void key_id_hex(const uint8_t key[32], char out[17]) {
  uint8_t h[32];
  sha256(key, 32, h);
  hex(h, 8, out);
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static void test_key(uint8_t key[32], uint8_t seed) {
  for (int i = 0; i < 32; i++)
    key[i] = (uint8_t)(seed + 13 * i);
}

/* No message may hold the key, as hex in either case or as raw bytes. */
static void assert_no_key(const char *msg, const uint8_t key[32]) {
  char h[65], up[65];
  hex(key, 32, h);
  for (int i = 0; i < 65; i++)
    up[i] = (char)((h[i] >= 'a' && h[i] <= 'f') ? h[i] - 32 : h[i]);
  for (int i = 0; i + 8 <= 64; i += 8) { /* not even a piece of it */
    char piece[9];
    memcpy(piece, h + i, 8);
    piece[8] = '\0';
    assert_null(strstr(msg, piece));
    memcpy(piece, up + i, 8);
    assert_null(strstr(msg, piece));
  }
  assert_null(memmem(msg, strlen(msg), key, 8));
}

/* ---- a second writer and reader of the documented layout ----------------- */

/* Seal plain (n bytes) as the header comment says: header, chunks of cs
 * with AD = header || u64 index, the last zero-padded and TAG_FINAL.
 * Optionally with a chosen chunk size field (cs_field) and a correct check. */
static uint8_t *hand_seal(const uint8_t key[32], uint32_t cs, uint32_t cs_field,
                          const void *plain, size_t n, size_t *outlen) {
  size_t nchunks = n / cs + 1; /* the final chunk holds the rest (maybe 0) */
  if (n && n % cs == 0)
    nchunks = n / cs;
  size_t total = HDR + nchunks * (cs + ABYTES);
  uint8_t *out = calloc(1, total);
  assert_non_null(out);
  uint8_t ad[HDR + 8];
  memcpy(ad, "DTOBAK1\0", 8);
  ad[8] = 1, ad[9] = 0, ad[10] = 0, ad[11] = 0;
  put32(ad + 12, cs_field);
  uint8_t h[32];
  sha256(key, 32, h);
  memcpy(ad + 16, h, 8);
  crypto_secretstream_xchacha20poly1305_state st;
  crypto_secretstream_xchacha20poly1305_init_push(&st, ad + 24, key);
  sha256(ad, 48, h);
  memcpy(ad + 48, h, 8);
  memcpy(out, ad, HDR);
  uint8_t *chunk = malloc(cs);
  const uint8_t *p = plain;
  for (size_t i = 0; i < nchunks; i++) {
    size_t k = n - i * cs < cs ? n - i * cs : cs;
    memset(chunk, 0, cs);
    if (k)
      memcpy(chunk, p + i * cs, k);
    put64(ad + HDR, i);
    unsigned char tag = i + 1 == nchunks
                            ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                            : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    crypto_secretstream_xchacha20poly1305_push(
        &st, out + HDR + i * (cs + ABYTES), NULL, chunk, cs, ad, sizeof ad,
        tag);
  }
  free(chunk);
  *outlen = total;
  return out;
}

/* A plaintext stream being built: records appended by hand. */
static void rec(dbuf *b, char type, const void *p, uint32_t n) {
  uint8_t h[5];
  h[0] = (uint8_t)type;
  put32(h + 1, n);
  assert_int_equal(dbuf_add(b, h, 5), 0);
  if (n)
    assert_int_equal(dbuf_add(b, p, n), 0);
}

static void rec_len(dbuf *b, char type, uint32_t claimed) {
  uint8_t h[5];
  h[0] = (uint8_t)type;
  put32(h + 1, claimed);
  assert_int_equal(dbuf_add(b, h, 5), 0);
}

#define GOOD_MANIFEST                                                          \
  "{\"format\":1,\"kind\":\"t\",\"created\":\"2026-01-01T00:00:00Z\","         \
  "\"dto_version\":\"x\"}"

static void rec_manifest(dbuf *b) {
  rec(b, 'M', GOOD_MANIFEST, (uint32_t)strlen(GOOD_MANIFEST));
}

static void rec_file_start(dbuf *b, const char *name, uint64_t size) {
  uint8_t f[8 + 200];
  put64(f, size);
  memcpy(f + 8, name, strlen(name));
  rec(b, 'F', f, (uint32_t)(8 + strlen(name)));
}

/* A whole file: F, one D (zstd one-shot), E. */
static void rec_file(dbuf *b, const char *name, const void *p, size_t n,
                     char sha_hex_out[65]) {
  rec_file_start(b, name, n);
  size_t bound = ZSTD_compressBound(n);
  uint8_t *z = malloc(bound);
  size_t zn = ZSTD_compress(z, bound, p, n, 3);
  assert_false(ZSTD_isError(zn));
  rec(b, 'D', z, (uint32_t)zn);
  free(z);
  uint8_t e[40];
  put64(e, n);
  sha256(p, n, e + 8);
  rec(b, 'E', e, 40);
  hex(e + 8, 32, sha_hex_out);
}

static void rec_trailer1(dbuf *b, const char *name, size_t size,
                         const char *sha_hex) {
  char t[400];
  int n =
      snprintf(t, sizeof t,
               "{\"files\":[{\"name\":\"%s\",\"size\":%zu,\"sha256\":\"%s\"}]}",
               name, size, sha_hex);
  rec(b, 'T', t, (uint32_t)n);
}

/* The second reader: check the header fields and decrypt every chunk with
 * libsodium directly; returns the plaintext stream (caller frees). */
static uint8_t *doc_open(const uint8_t *a, size_t alen, const uint8_t key[32],
                         size_t *plen) {
  assert_true(alen >= HDR);
  assert_memory_equal(a, "DTOBAK1\0", 8);
  assert_int_equal(a[8] | a[9] << 8, 1);
  assert_int_equal(a[10] | a[11] << 8, 0);
  uint32_t cs = get32(a + 12);
  uint8_t h[32];
  sha256(key, 32, h);
  assert_memory_equal(a + 16, h, 8);
  sha256(a, 48, h);
  assert_memory_equal(a + 48, h, 8);
  assert_int_equal((alen - HDR) % (cs + ABYTES), 0);
  size_t n = (alen - HDR) / (cs + ABYTES);
  crypto_secretstream_xchacha20poly1305_state st;
  assert_int_equal(
      crypto_secretstream_xchacha20poly1305_init_pull(&st, a + 24, key), 0);
  uint8_t *plain = malloc(n * cs);
  uint8_t ad[HDR + 8];
  memcpy(ad, a, HDR);
  for (size_t i = 0; i < n; i++) {
    put64(ad + HDR, i);
    unsigned char tag;
    unsigned long long ml;
    assert_int_equal(crypto_secretstream_xchacha20poly1305_pull(
                         &st, plain + i * cs, &ml, &tag,
                         a + HDR + i * (cs + ABYTES), cs + ABYTES, ad,
                         sizeof ad),
                     0);
    assert_int_equal(ml, cs);
    assert_int_equal(
        tag, i + 1 == n ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                        : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  }
  *plen = n * cs;
  return plain;
}

/* ---- the round trip ------------------------------------------------------ */

typedef struct prog_rec {
  int calls;
  uint64_t last_done, last_total;
} prog_rec;

static void on_progress(void *ctx, uint64_t done, uint64_t total) {
  prog_rec *p = ctx;
  assert_true(done >= p->last_done);
  p->calls++;
  p->last_done = done;
  p->last_total = total;
}

#define RAND_N (3u << 20)
#define TEXT_N (20u << 20)

static uint8_t *make_text(size_t n) {
  uint8_t *t = malloc(n);
  size_t off = 0;
  for (unsigned i = 0; off < n; i++) {
    char line[96];
    int k = snprintf(
        line, sizeof line,
        "2026-12-08T14:30:%02u.%06uZ AAPL fill qty=%u px=%u.%02u seq=%08u\n",
        i % 60, i % 1000000, 100 + i % 7, 180 + i % 13, i % 100, i);
    size_t c = n - off < (size_t)k ? n - off : (size_t)k;
    memcpy(t + off, line, c);
    off += c;
  }
  return t;
}

static void check_manifest_files(json_t *m, const char *const *names,
                                 const uint8_t *const *data,
                                 const size_t *sizes, int n) {
  json_t *files = json_object_get(m, "files");
  assert_true(json_is_array(files));
  assert_int_equal(json_array_size(files), n);
  for (int i = 0; i < n; i++) {
    json_t *f = json_array_get(files, (size_t)i);
    char want[65];
    sha256_hex(data[i], sizes[i], want);
    assert_string_equal(json_string_value(json_object_get(f, "name")),
                        names[i]);
    assert_int_equal(json_integer_value(json_object_get(f, "size")), sizes[i]);
    assert_string_equal(json_string_value(json_object_get(f, "sha256")), want);
  }
}

/* Files whose size is a multiple of the reader's 64 KiB output buffer,
 * with contents that compress (the shape of a SQLite store: pages of mostly
 * zeros with some structure): the decoder's last output fills the buffer
 * exactly.  The reader once asked the decoder again after the frame had
 * ended and read its nonzero hint as "the compressed data ends early"
 * (found by dto backup full on a 196,608-byte store). */
static void test_sizes_on_buffer_boundaries(void **state) {
  fx_dir *d = *state;
  uint8_t key[32];
  test_key(key, 9);
  char err[512] = "";
  for (size_t k = 1; k <= 4; k++) {
    for (int shape = 0; shape < 3; shape++) {
      size_t n = k * 65536;
      uint8_t *buf = calloc(n, 1);
      assert_non_null(buf);
      for (size_t i = 0; i < n; i++) {
        if (shape == 1 && i % 4096 < 100) /* page headers */
          buf[i] = (uint8_t)(i * 7 + i / 4096);
        else if (shape == 2)
          buf[i] = (uint8_t)("store page "[i % 11]);
      }
      char *arch = pathf("%s/b%zu-%d.dtob", d->dir, k, shape);
      backup_opts o = {.created = T_CREATED};
      backup_writer *w;
      assert_int_equal(
          backup_writer_open(arch, key, "full", NULL, &o, &w, err, sizeof err),
          0);
      assert_int_equal(
          backup_writer_add_bytes(w, "store.db", buf, n, err, sizeof err), 0);
      assert_int_equal(backup_writer_close(w, err, sizeof err), 0);
      json_t *m = NULL;
      if (backup_verify(arch, key, NULL, &m, err, sizeof err))
        fail_msg("size %zu shape %d: %s", n, shape, err);
      json_decref(m);
      free(buf);
    }
  }
}

/* backup_read_head: the manifest from the first chunks only, for listing:
 * the same manifest (without "files"), a damaged first chunk or a wrong key
 * refused, damage further on not seen (verify sees it). */
static void test_read_head(void **state) {
  fx_dir *d = *state;
  uint8_t key[32], other[32];
  test_key(key, 3);
  test_key(other, 4);
  char err[512] = "";
  size_t n = 5 * 65536 + 123;
  uint8_t *buf = malloc(n);
  assert_non_null(buf);
  randombytes_buf(buf, n); /* incompressible: several chunks */
  char *arch = pathf("%s/head.dtob", d->dir);
  backup_opts o = {.created = T_CREATED};
  backup_writer *w;
  assert_int_equal(backup_writer_open(arch, key, "log",
                                      "{\"parent\":\"full-x\",\"seq_last\":7}",
                                      &o, &w, err, sizeof err),
                   0);
  assert_int_equal(backup_writer_add_bytes(w, "delta.db", buf, n, err,
                                           sizeof err),
                   0);
  assert_int_equal(backup_writer_close(w, err, sizeof err), 0);
  json_t *h = NULL, *m = NULL;
  assert_int_equal(backup_read_head(arch, key, &h, err, sizeof err), 0);
  assert_int_equal(backup_verify(arch, key, NULL, &m, err, sizeof err), 0);
  assert_null(json_object_get(h, "files"));
  json_object_del(m, "files");
  assert_true(json_equal(h, m));
  assert_string_equal(json_string_value(json_object_get(h, "parent")),
                      "full-x");
  json_decref(h);
  json_decref(m);
  /* a wrong key */
  h = NULL;
  assert_int_equal(backup_read_head(arch, other, &h, err, sizeof err),
                   DTO_EREJECT);
  assert_null(h);
  /* damage in the last chunk: the head reads, verify refuses */
  struct stat st;
  assert_int_equal(stat(arch, &st), 0);
  FILE *f = fopen(arch, "r+b");
  assert_non_null(f);
  fseek(f, st.st_size - 100, SEEK_SET);
  int c = fgetc(f);
  fseek(f, st.st_size - 100, SEEK_SET);
  fputc(c ^ 1, f);
  fclose(f);
  assert_int_equal(backup_read_head(arch, key, &h, err, sizeof err), 0);
  json_decref(h);
  assert_int_equal(backup_verify(arch, key, NULL, NULL, err, sizeof err),
                   DTO_EPARSE);
  /* damage in the first chunk: the head refuses */
  f = fopen(arch, "r+b");
  assert_non_null(f);
  fseek(f, 56 + 200, SEEK_SET);
  c = fgetc(f);
  fseek(f, 56 + 200, SEEK_SET);
  fputc(c ^ 1, f);
  fclose(f);
  h = NULL;
  assert_int_equal(backup_read_head(arch, key, &h, err, sizeof err),
                   DTO_EPARSE);
  assert_non_null(strstr(err, "authentication"));
  assert_null(h);
  free(buf);
}

static void test_round_trip(void **state) {
  fx_dir *d = *state;
  uint8_t key[32];
  test_key(key, 1);
  static const uint8_t empty[1];
  const char *small = "hello, backup\n";
  uint8_t *rnd = malloc(RAND_N);
  randombytes_buf(rnd, RAND_N);
  uint8_t *text = make_text(TEXT_N);
  write_file(pathf("%s/rand.src", d->dir), rnd, RAND_N, 0644);
  write_file(pathf("%s/text.src", d->dir), text, TEXT_N, 0644);

  const char *names[] = {"empty", "small.txt", "random.bin", "journal.log"};
  const uint8_t *data[] = {empty, (const uint8_t *)small, rnd, text};
  size_t sizes[] = {0, strlen(small), RAND_N, TEXT_N};

  prog_rec wp = {0};
  backup_opts o = {.created = T_CREATED,
                   .total = RAND_N + TEXT_N + strlen(small),
                   .progress = on_progress,
                   .progress_ctx = &wp};
  char arch[512];
  snprintf(arch, sizeof arch, "%s/full.dtob", d->dir);
  char err[512] = "";
  backup_writer *w;
  assert_int_equal(
      backup_writer_open(arch, key, "full",
                         "{\"schema\":7,\"journal\":{\"from\":1,\"to\":99}}",
                         &o, &w, err, sizeof err),
      0);
  assert_false(exists(arch)); /* nothing at path until close */
  assert_int_equal(
      backup_writer_add_bytes(w, names[0], empty, 0, err, sizeof err), 0);
  assert_int_equal(
      backup_writer_add_bytes(w, names[1], small, sizes[1], err, sizeof err),
      0);
  assert_int_equal(backup_writer_add_file(w, names[2],
                                          pathf("%s/rand.src", d->dir), err,
                                          sizeof err),
                   0);
  assert_int_equal(backup_writer_add_file(w, names[3],
                                          pathf("%s/text.src", d->dir), err,
                                          sizeof err),
                   0);
  assert_int_equal(backup_writer_close(w, err, sizeof err), 0);
  assert_true(wp.calls >= 1 && wp.calls < 100);
  assert_int_equal(wp.last_done, o.total);

  struct stat st;
  assert_int_equal(stat(arch, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* compressed: the random part stays, the text nearly vanishes */
  assert_true((size_t)st.st_size < RAND_N + TEXT_N / 8);
  assert_int_equal((st.st_size - HDR) % (65536 + ABYTES), 0);
  assert_int_equal(count_entries(d->dir), 3); /* no temporary file left */

  /* verify: the manifest and GnuTLS's checksums */
  prog_rec rp = {0};
  backup_opts ro = {.progress = on_progress, .progress_ctx = &rp};
  json_t *m = NULL;
  assert_int_equal(backup_verify(arch, key, &ro, &m, err, sizeof err), 0);
  assert_int_equal(rp.last_done, (uint64_t)st.st_size);
  assert_int_equal(rp.last_total, (uint64_t)st.st_size);
  assert_int_equal(json_integer_value(json_object_get(m, "format")), 1);
  assert_string_equal(json_string_value(json_object_get(m, "kind")), "full");
  assert_string_equal(json_string_value(json_object_get(m, "created")),
                      "2026-12-08T00:00:00Z");
  assert_string_equal(json_string_value(json_object_get(m, "dto_version")),
                      DTO_VERSION);
  assert_int_equal(json_integer_value(json_object_get(m, "schema")), 7);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(m, "journal"), "to")),
      99);
  check_manifest_files(m, names, data, sizes, 4);

  json_t *m2 = NULL;
  assert_int_equal(backup_read_manifest(arch, key, NULL, &m2, err, sizeof err),
                   0);
  assert_true(json_equal(m, m2));
  json_decref(m2);

  /* extract: byte-identical files, 0600, nothing else in the folder */
  char dest[512];
  snprintf(dest, sizeof dest, "%s/restore", d->dir);
  assert_int_equal(mkdir(dest, 0755), 0);
  m2 = NULL;
  assert_int_equal(backup_extract(arch, key, dest, NULL, &m2, err, sizeof err),
                   0);
  assert_true(json_equal(m, m2));
  json_decref(m2);
  assert_int_equal(count_entries(dest), 4);
  for (int i = 0; i < 4; i++) {
    char *p = pathf("%s/%s", dest, names[i]);
    size_t n;
    uint8_t *got = read_file(p, &n);
    assert_int_equal(n, sizes[i]);
    if (n)
      assert_memory_equal(got, data[i], n);
    free(got);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
  }
  /* again into the same folder: nothing replaced, nothing left over */
  err[0] = '\0';
  m2 = (json_t *)1;
  assert_int_equal(backup_extract(arch, key, dest, NULL, &m2, err, sizeof err),
                   DTO_EEXIST);
  assert_null(m2);
  assert_non_null(strstr(err, "already exists"));
  assert_int_equal(count_entries(dest), 4);
  size_t n;
  uint8_t *got = read_file(pathf("%s/small.txt", dest), &n);
  assert_int_equal(n, strlen(small));
  free(got);
  assert_no_key(err, key);

  json_decref(m);
  free(rnd);
  free(text);
}

/* ---- the layout, read by the second reader ------------------------------- */

static void test_layout_matches_doc(void **state) {
  fx_dir *d = *state;
  uint8_t key[32];
  test_key(key, 2);
  size_t n1 = 70000;
  uint8_t *b1 = malloc(n1);
  randombytes_buf(b1, n1);
  const char *b2 = "second file";
  backup_opts o = {.chunk_size = 4096, .created = T_CREATED, .level = 19};
  char arch[512];
  snprintf(arch, sizeof arch, "%s/l.dtob", d->dir);
  char err[512];
  backup_writer *w;
  assert_int_equal(
      backup_writer_open(arch, key, "full", NULL, &o, &w, err, sizeof err), 0);
  assert_int_equal(backup_writer_add_bytes(w, "a.bin", b1, n1, err, sizeof err),
                   0);
  assert_int_equal(
      backup_writer_add_bytes(w, "b", b2, strlen(b2), err, sizeof err), 0);
  assert_int_equal(backup_writer_close(w, err, sizeof err), 0);

  size_t alen, plen;
  uint8_t *a = read_file(arch, &alen);
  assert_int_equal(get32(a + 12), 4096);
  uint8_t *p = doc_open(a, alen, key, &plen);

  /* the records, by hand */
  size_t off = 0;
  assert_int_equal(p[off], 'M');
  uint32_t ml = get32(p + off + 1);
  json_t *m = json_loadb((const char *)p + off + 5, ml, 0, NULL);
  assert_non_null(m);
  assert_string_equal(json_string_value(json_object_get(m, "created")),
                      "2026-12-08T00:00:00Z");
  json_decref(m);
  off += 5 + ml;
  const uint8_t *want[] = {b1, (const uint8_t *)b2};
  size_t wn[] = {n1, strlen(b2)};
  const char *wname[] = {"a.bin", "b"};
  for (int f = 0; f < 2; f++) {
    assert_int_equal(p[off], 'F');
    uint32_t fl = get32(p + off + 1);
    assert_int_equal(get64(p + off + 5), wn[f]);
    assert_int_equal(fl - 8, strlen(wname[f]));
    assert_memory_equal(p + off + 13, wname[f], fl - 8);
    off += 5 + fl;
    dbuf z;
    dbuf_init(&z, 1 << 20);
    while (p[off] == 'D') {
      uint32_t dl = get32(p + off + 1);
      assert_true(dl >= 1 && dl <= BACKUP_DATA_MAX);
      assert_int_equal(dbuf_add(&z, p + off + 5, dl), 0);
      off += 5 + dl;
    }
    uint8_t *out = malloc(wn[f] + 1);
    size_t on = ZSTD_decompress(out, wn[f] + 1, z.ptr, z.len);
    assert_false(ZSTD_isError(on));
    assert_int_equal(on, wn[f]);
    assert_memory_equal(out, want[f], on);
    free(out);
    dbuf_release(&z);
    assert_int_equal(p[off], 'E');
    assert_int_equal(get32(p + off + 1), 40);
    assert_int_equal(get64(p + off + 5), wn[f]);
    uint8_t h[32];
    sha256(want[f], wn[f], h);
    assert_memory_equal(p + off + 13, h, 32);
    off += 45;
  }
  assert_int_equal(p[off], 'T');
  uint32_t tl = get32(p + off + 1);
  json_t *t = json_loadb((const char *)p + off + 5, tl, 0, NULL);
  assert_non_null(t);
  assert_int_equal(json_array_size(json_object_get(t, "files")), 2);
  json_decref(t);
  off += 5 + tl;
  /* the trailer ends in the final chunk, zero padding after it */
  assert_true(plen - off < 4096);
  for (size_t i = off; i < plen; i++)
    assert_int_equal(p[i], 0);
  free(p);
  free(a);

  /* the other way round: an archive from the second writer verifies, and
   * so does one from backup__seal_mem (the fuzz harness's sealer) */
  dbuf s;
  dbuf_init(&s, 1 << 20);
  rec_manifest(&s);
  char shx[65];
  rec_file(&s, "x.db", b2, strlen(b2), shx);
  rec_trailer1(&s, "x.db", strlen(b2), shx);
  a = hand_seal(key, 256, 256, s.ptr, s.len, &alen);
  json_t *got = NULL;
  assert_int_equal(
      backup__verify_mem(a, alen, key, NULL, &got, err, sizeof err), 0);
  assert_string_equal(
      json_string_value(json_object_get(
          json_array_get(json_object_get(got, "files"), 0), "sha256")),
      shx);
  json_decref(got);
  free(a);
  dbuf sealed;
  dbuf_init(&sealed, 1 << 20);
  assert_int_equal(backup__seal_mem(key, 300, s.ptr, s.len, &sealed), 0);
  assert_int_equal((sealed.len - HDR) % (300 + ABYTES), 0);
  assert_int_equal(backup__verify_mem(sealed.ptr, sealed.len, key, NULL, NULL,
                                      err, sizeof err),
                   0);
  dbuf_release(&sealed);
  dbuf_release(&s);
  free(b1);
  char idh[17], want_id[17];
  backup_key_id_hex(key, idh);
  key_id_hex(key, want_id);
  assert_string_equal(idh, want_id);
}

/* ---- tampering ----------------------------------------------------------- */

typedef struct tcase {
  const char *what;
  uint8_t *data;
  size_t len;
  int rc;
  char want[96];
} tcase;

/* Each way of reading must fail with the expected message, and extraction
 * must leave the destination folder empty. */
static void expect_fail_m(fx_dir *d, const uint8_t key[32], const uint8_t *a,
                          size_t alen, int want_rc, const char *want, int m_rc,
                          const char *m_want, const char *what) {
  char arch[512];
  snprintf(arch, sizeof arch, "%s/bad.dtob", d->dir);
  unlink(arch);
  write_file(arch, a, alen, 0600);
  char dest[512];
  snprintf(dest, sizeof dest, "%s/dest", d->dir);
  mkdir(dest, 0700);
  char err[512];
  for (int how = 0; how < 4; how++) {
    err[0] = '\0';
    json_t *m = (json_t *)1;
    int rc;
    if (how == 0)
      rc = backup_extract(arch, key, dest, NULL, &m, err, sizeof err);
    else if (how == 1)
      rc = backup_verify(arch, key, NULL, &m, err, sizeof err);
    else if (how == 2)
      rc = backup__verify_mem(a, alen, key, NULL, &m, err, sizeof err);
    else
      rc = backup_read_manifest(arch, key, NULL, &m, err, sizeof err);
    int wrc = how == 3 ? m_rc : want_rc;
    const char *w = how == 3 ? m_want : want;
    if (rc != wrc || !strstr(err, w))
      fail_msg("%s (way %d): rc %s, err \"%s\"; wanted %s \"%s\"", what, how,
               dto_errname(rc), err, dto_errname(wrc), w);
    assert_null(m);
    assert_no_key(err, key);
    if (how != 2)
      assert_non_null(strstr(err, arch));
    assert_int_equal(count_entries(dest), 0);
  }
}

/* backup_read_manifest fails the same way (it decrypts everything too). */
static void expect_fail(fx_dir *d, const uint8_t key[32], const uint8_t *a,
                        size_t alen, int want_rc, const char *want,
                        const char *what) {
  expect_fail_m(d, key, a, alen, want_rc, want, want_rc, want, what);
}

static uint8_t *copy(const uint8_t *a, size_t n, size_t extra) {
  uint8_t *c = malloc(n + extra + 1);
  memcpy(c, a, n);
  return c;
}

static void test_tamper(void **state) {
  fx_dir *d = *state;
  uint8_t key[32];
  test_key(key, 3);
  size_t nr = 200 * 1024;
  uint8_t *rnd = malloc(nr);
  randombytes_buf(rnd, nr);
  char arch[512];
  snprintf(arch, sizeof arch, "%s/good.dtob", d->dir);
  char err[512];
  backup_writer *w;
  assert_int_equal(
      backup_writer_open(arch, key, "full", NULL, NULL, &w, err, sizeof err),
      0);
  assert_int_equal(
      backup_writer_add_bytes(w, "store.db", rnd, nr, err, sizeof err), 0);
  assert_int_equal(
      backup_writer_add_bytes(w, "journal", "j1\nj2\n", 6, err, sizeof err), 0);
  assert_int_equal(
      backup_writer_add_bytes(w, "nothing", "", 0, err, sizeof err), 0);
  assert_int_equal(backup_writer_close(w, err, sizeof err), 0);
  free(rnd);
  size_t alen;
  uint8_t *a = read_file(arch, &alen);
  const size_t C = 65536 + ABYTES;
  assert_int_equal((alen - HDR) % C, 0);
  size_t nch = (alen - HDR) / C;
  assert_true(nch >= 4);
  assert_int_equal(backup_verify(arch, key, NULL, NULL, err, sizeof err), 0);
  char buf[96];
  uint8_t *c;

  /* truncation at several offsets */
  struct {
    size_t at;
    const char *want;
  } cuts[] = {
      {0, "not a dto backup"},
      {5, "not a dto backup"},
      {30, "truncated (the header is cut short"},
      {HDR, "truncated (chunk 0 missing; the archive ends early)"},
      {HDR + 1000, "truncated (chunk 0 cut short"},
      {HDR + C, "truncated (chunk 1 missing"},
      {HDR + 2 * C + 17, "truncated (chunk 2 cut short"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cuts); i++)
    expect_fail(d, key, a, cuts[i].at, DTO_EPARSE, cuts[i].want, "cut");
  snprintf(buf, sizeof buf, "truncated (chunk %zu cut short", nch - 1);
  expect_fail(d, key, a, alen - 1, DTO_EPARSE, buf, "cut at the last byte");
  /* the final chunk missing */
  snprintf(buf, sizeof buf,
           "truncated (chunk %zu missing; the archive ends early)", nch - 1);
  expect_fail(d, key, a, alen - C, DTO_EPARSE, buf, "no final chunk");

  /* two chunks swapped; one dropped */
  c = copy(a, alen, 0);
  memcpy(c + HDR + C, a + HDR + 2 * C, C);
  memcpy(c + HDR + 2 * C, a + HDR + C, C);
  expect_fail(d, key, c, alen, DTO_EPARSE,
              "chunk 1 failed authentication (corrupt or tampered)", "swap");
  memmove(c, a, HDR + C);
  memcpy(c + HDR + C, a + HDR + 2 * C, alen - HDR - 2 * C);
  expect_fail(d, key, c, alen - C, DTO_EPARSE, "chunk 1 failed authentication",
              "drop");
  free(c);

  /* one flipped byte at several places */
  struct {
    size_t at;
    const char *want;
  } flips[] = {
      {0, "not a dto backup"},
      {8, "header damaged (corrupt or tampered)"}, /* version */
      {13, "header damaged"},                      /* chunk size */
      {20, "header damaged"},                      /* key id */
      {30, "header damaged"},                      /* secretstream header */
      {52, "header damaged"},                      /* the check itself */
      {HDR + 3, "chunk 0 failed authentication (corrupt or tampered)"},
      {HDR + 2 * C + 40000, "chunk 2 failed authentication"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(flips); i++) {
    c = copy(a, alen, 0);
    c[flips[i].at] ^= 0x20;
    expect_fail(d, key, c, alen, DTO_EPARSE, flips[i].want, "flip");
    free(c);
  }
  c = copy(a, alen, 0);
  c[alen - 1] ^= 1;
  snprintf(buf, sizeof buf, "chunk %zu failed authentication", nch - 1);
  expect_fail(d, key, c, alen, DTO_EPARSE, buf, "flip the last byte");
  free(c);

  /* data appended after the final chunk */
  c = copy(a, alen, C);
  c[alen] = 0;
  expect_fail(d, key, c, alen + 1, DTO_EPARSE, "data after the final chunk",
              "append a byte");
  memcpy(c + alen, a + alen - C, C);
  expect_fail(d, key, c, alen + C, DTO_EPARSE, "data after the final chunk",
              "append a chunk");
  free(c);

  /* a chunk from another archive under the same key */
  char arch2[512];
  snprintf(arch2, sizeof arch2, "%s/other.dtob", d->dir);
  assert_int_equal(
      backup_writer_open(arch2, key, "full", NULL, NULL, &w, err, sizeof err),
      0);
  uint8_t *zero = calloc(1, 300000);
  assert_int_equal(
      backup_writer_add_bytes(w, "store.db", zero, 300000, err, sizeof err), 0);
  free(zero);
  assert_int_equal(backup_writer_close(w, err, sizeof err), 0);
  size_t blen;
  uint8_t *b = read_file(arch2, &blen);
  c = copy(a, alen, 0);
  memcpy(c + HDR, b + HDR, C);
  expect_fail(d, key, c, alen, DTO_EPARSE, "chunk 0 failed authentication",
              "foreign chunk");
  free(c);
  free(b);

  /* the wrong key: told apart, both ids shown, never the key */
  uint8_t k2[32];
  test_key(k2, 99);
  char id1[17], id2[17];
  key_id_hex(key, id1);
  key_id_hex(k2, id2);
  snprintf(buf, sizeof buf, "wrong key (key id %s, the archive's is %s)", id2,
           id1);
  expect_fail(d, k2, a, alen, DTO_EREJECT, buf, "wrong key");
  char dest[512];
  snprintf(dest, sizeof dest, "%s/dest", d->dir);
  assert_int_equal(backup_extract(arch, k2, dest, NULL, NULL, err, sizeof err),
                   DTO_EREJECT);
  assert_no_key(err, key);

  /* not an archive at all */
  expect_fail(d, key, (const uint8_t *)"hello world, this is not a backup", 33,
              DTO_EPARSE, "not a dto backup", "text");
  /* the original still extracts, into the folder the failures left empty */
  assert_int_equal(backup_extract(arch, key, dest, NULL, NULL, err, sizeof err),
                   0);
  assert_int_equal(count_entries(dest), 3);
  free(a);
}

/* ---- hostile contents with good cryptography ----------------------------- */

static void seal_and_expect_m(fx_dir *d, const uint8_t key[32], dbuf *s,
                              int want_rc, const char *want, int m_rc,
                              const char *m_want, const char *what);

static void seal_and_expect(fx_dir *d, const uint8_t key[32], dbuf *s,
                            int want_rc, const char *want, const char *what) {
  seal_and_expect_m(d, key, s, want_rc, want, want_rc, want, what);
}

/* The same, when backup_read_manifest (no decompression, no checksums)
 * finds a different fault or none of its own. */
static void seal_and_expect_m(fx_dir *d, const uint8_t key[32], dbuf *s,
                              int want_rc, const char *want, int m_rc,
                              const char *m_want, const char *what) {
  size_t alen;
  uint8_t *a = hand_seal(key, 4096, 4096, s->ptr, s->len, &alen);
  expect_fail_m(d, key, a, alen, want_rc, want, m_rc, m_want, what);
  free(a);
  dbuf_reset(s);
}

static void test_hostile_sizes(void **state) {
  fx_dir *d = *state;
  uint8_t key[32];
  test_key(key, 4);
  dbuf s;
  dbuf_init(&s, 4 << 20);
  char shx[65];
  uint8_t zb4[256];

  rec_len(&s, 'M', 0xfffffff0u);
  seal_and_expect(d, key, &s, DTO_ETOOBIG,
                  "a manifest of 4294967280 bytes, above the limit", "M huge");

  rec_manifest(&s);
  rec_file_start(&s, "store.db", 1ull << 62);
  seal_and_expect(
      d, key, &s, DTO_ETOOBIG,
      "file 'store.db' declares 4611686018427387904 bytes, above the limit",
      "F huge");

  rec_manifest(&s);
  rec_file_start(&s, "store.db", 5);
  rec_len(&s, 'D', 0x7fffffffu);
  seal_and_expect(d, key, &s, DTO_ETOOBIG, "a data record of 2147483647 bytes",
                  "D huge");

  /* a zstd bomb: 16 declared bytes, 8 MiB inside */
  size_t bn = 8u << 20;
  uint8_t *zeros = calloc(1, bn);
  size_t zb = ZSTD_compressBound(bn);
  uint8_t *z = malloc(zb);
  size_t zn = ZSTD_compress(z, zb, zeros, bn, 3);
  assert_false(ZSTD_isError(zn));
  rec_manifest(&s);
  rec_file_start(&s, "store.db", 16);
  rec(&s, 'D', z, (uint32_t)zn);
  seal_and_expect_m(d, key, &s, DTO_EPARSE,
                    "file 'store.db' is larger than its declared 16 bytes",
                    DTO_EPARSE, "unknown record type 0x00", "bomb");
  free(z);
  free(zeros);

  /* fewer bytes than declared; a frame without its end (the content is
   * all there, its checksum is not) */
  rec_manifest(&s);
  rec_file_start(&s, "store.db", 100);
  zn = ZSTD_compress(zb4, sizeof zb4,
                     "fifty bytes of text, fifty bytes of text, fifty by", 50,
                     3);
  assert_false(ZSTD_isError(zn));
  rec(&s, 'D', zb4, (uint32_t)zn);
  uint8_t e[40] = {100};
  rec(&s, 'E', e, 40);
  seal_and_expect_m(
      d, key, &s, DTO_EPARSE,
      "file 'store.db' is shorter than declared (50 of 100 bytes)", DTO_EPARSE,
      "unknown record type 0x00", "short");
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
  zn = ZSTD_compress2(cc, zb4, sizeof zb4, "hello", 5);
  ZSTD_freeCCtx(cc);
  assert_false(ZSTD_isError(zn));
  rec_manifest(&s);
  rec_file_start(&s, "store.db", 5);
  rec(&s, 'D', zb4, (uint32_t)zn - 4);
  put64(e, 5);
  sha256("hello", 5, e + 8);
  rec(&s, 'E', e, 40);
  seal_and_expect_m(d, key, &s, DTO_EPARSE,
                    "file 'store.db': the compressed data ends early",
                    DTO_EPARSE, "unknown record type 0x00", "unfinished frame");

  /* the end record disagreeing with the start */
  rec_manifest(&s);
  rec_file(&s, "store.db", "hello", 5, shx);
  s.ptr[s.len - 40] = 6;
  seal_and_expect(d, key, &s, DTO_EPARSE,
                  "file 'store.db' ends with 6 bytes but started with 5", "E");

  rec_manifest(&s);
  rec_len(&s, 'T', 0xffffffffu);
  seal_and_expect(d, key, &s, DTO_ETOOBIG, "a trailer of 4294967295 bytes",
                  "T huge");

  /* a trailer within its byte budget for one file but full of values, and
   * one just over that budget */
  rec_manifest(&s);
  rec_file(&s, "a", "x", 1, shx);
  char tj[300];
  size_t tn = (size_t)snprintf(tj, sizeof tj, "{\"files\":[");
  for (int k = 0; k < 100; k++)
    tn += (size_t)snprintf(tj + tn, sizeof tj - tn, "0,");
  tn += (size_t)snprintf(tj + tn - 1, sizeof tj - tn + 1, "]}") - 1;
  assert_true(tn <= 16 + BACKUP_TRAILER_ENTRY_MAX);
  rec(&s, 'T', tj, (uint32_t)tn);
  seal_and_expect(d, key, &s, DTO_EPARSE,
                  "the trailer holds more JSON values than its files need",
                  "T values");
  rec_manifest(&s);
  rec_file(&s, "a", "x", 1, shx);
  memset(tj, ' ', sizeof tj);
  rec(&s, 'T', tj, 16 + BACKUP_TRAILER_ENTRY_MAX + 1);
  seal_and_expect(d, key, &s, DTO_ETOOBIG,
                  "a trailer of 273 bytes, above the limit of 272", "T budget");

  /* a checksum that does not match the bytes */
  rec_manifest(&s);
  rec_file(&s, "store.db", "hello", 5, shx);
  s.ptr[s.len - 1] ^= 1; /* the E record's SHA-256 */
  rec_trailer1(&s, "store.db", 5, shx);
  seal_and_expect_m(d, key, &s, DTO_EPARSE, "file 'store.db' checksum mismatch",
                    DTO_EPARSE, "does not match the files", "sha");

  /* a trailer naming a file that is not there, or a wrong size */
  rec_manifest(&s);
  rec_trailer1(&s, "ghost", 1, "00");
  seal_and_expect(d, key, &s, DTO_ETOOBIG,
                  "a trailer of 51 bytes, above the limit of 16", "ghost");
  rec_manifest(&s);
  rec_file(&s, "a", "x", 1, shx);
  rec_trailer1(&s, "ghost", 1, shx);
  seal_and_expect(d, key, &s, DTO_EPARSE, "does not match the files",
                  "ghost name");
  rec_manifest(&s);
  rec_file(&s, "a", "x", 1, shx);
  rec_trailer1(&s, "a", 2, shx);
  seal_and_expect(d, key, &s, DTO_EPARSE, "does not match the files",
                  "wrong size");

  /* a name that would climb out of the folder */
  rec_manifest(&s);
  rec_file_start(&s, "../etc", 0);
  seal_and_expect(d, key, &s, DTO_EPARSE, "a file name that is not allowed",
                  "name");

  /* the same file twice */
  rec_manifest(&s);
  rec_file(&s, "a", "x", 1, shx);
  rec_file(&s, "a", "x", 1, shx);
  seal_and_expect(d, key, &s, DTO_EPARSE, "file 'a' appears twice", "dup");

  /* no trailer: the padding is no record */
  rec_manifest(&s);
  seal_and_expect(d, key, &s, DTO_EPARSE, "unknown record type 0x00",
                  "no trailer");

  /* anything after the trailer: a byte in the padding; more chunks */
  rec_manifest(&s);
  rec(&s, 'T', "{\"files\":[]}", 12);
  assert_int_equal(dbuf_addc(&s, 'x'), 0);
  seal_and_expect(d, key, &s, DTO_EPARSE, "data after the trailer", "pad");
  rec_manifest(&s);
  rec(&s, 'T', "{\"files\":[]}", 12);
  static const uint8_t more[4096];
  assert_int_equal(dbuf_add(&s, more, sizeof more), 0);
  seal_and_expect(d, key, &s, DTO_EPARSE, "data after the trailer", "more");
  rec_manifest(&s); /* and the same trailer alone is fine */
  rec(&s, 'T', "{\"files\":[]}", 12);
  size_t alen;
  uint8_t *a = hand_seal(key, 4096, 4096, s.ptr, s.len, &alen);
  char err[512];
  assert_int_equal(
      backup__verify_mem(a, alen, key, NULL, NULL, err, sizeof err), 0);
  free(a);
  dbuf_reset(&s);

  /* a manifest without its fields; no manifest first */
  rec(&s, 'M', "{\"format\":2}", 12);
  seal_and_expect(d, key, &s, DTO_EPARSE, "the manifest lacks", "manifest");
  rec_file(&s, "a", "x", 1, shx);
  seal_and_expect(d, key, &s, DTO_EPARSE, "does not start with a manifest",
                  "no manifest");

  /* a record running past the end of the stream */
  rec_manifest(&s);
  rec_file_start(&s, "a", 1);
  rec_len(&s, 'D', 100000);
  seal_and_expect(d, key, &s, DTO_EPARSE, "the stream ends before its trailer",
                  "past the end");

  /* an unsupported chunk size behind a correct header check */
  rec_manifest(&s);
  a = hand_seal(key, 4096, 0x7fffffffu, s.ptr, s.len, &alen);
  expect_fail(d, key, a, alen, DTO_EUNSUPPORTED,
              "chunk size 2147483647 is not supported", "chunk size");
  free(a);
  dbuf_reset(&s);

  /* the reader's own limit on a file's size */
  rec_manifest(&s);
  uint8_t thousand[1000] = {0};
  rec_file(&s, "big", thousand, sizeof thousand, shx);
  rec_trailer1(&s, "big", sizeof thousand, shx);
  a = hand_seal(key, 4096, 4096, s.ptr, s.len, &alen);
  assert_int_equal(
      backup__verify_mem(a, alen, key, NULL, NULL, err, sizeof err), 0);
  backup_opts lim = {.max_file_size = 999};
  assert_int_equal(
      backup__verify_mem(a, alen, key, &lim, NULL, err, sizeof err),
      DTO_ETOOBIG);
  assert_non_null(strstr(err, "declares 1000 bytes, above the limit of 999"));
  free(a);
  dbuf_release(&s);
}

/* ---- keys ---------------------------------------------------------------- */

#define ENV "DTO_TEST_BACKUP_KEY"

static void test_keys(void **state) {
  fx_dir *d = *state;
  uint8_t key[32], got[32];
  test_key(key, 5);
  char h[66];
  hex(key, 32, h);
  char err[512];

  /* from the environment */
  setenv(ENV, h, 1);
  assert_int_equal(backup_key_load(ENV, NULL, got, err, sizeof err), 0);
  assert_memory_equal(got, key, 32);
  char t[80];
  for (int i = 0; i < 4; i++) {
    if (i == 0)
      snprintf(t, sizeof t, "%.63s", h); /* 63 digits */
    else if (i == 1)
      snprintf(t, sizeof t, "%s0", h); /* 65 */
    else if (i == 2)
      snprintf(t, sizeof t, "zz%.62s", h);
    else
      snprintf(t, sizeof t, "%s\n", h);
    setenv(ENV, t, 1);
    err[0] = '\0';
    assert_int_equal(backup_key_load(ENV, NULL, got, err, sizeof err),
                     DTO_EINVAL);
    assert_non_null(strstr(err, ENV));
    assert_no_key(err, key);
  }
  unsetenv(ENV);
  assert_int_equal(backup_key_load(ENV, NULL, got, err, sizeof err),
                   DTO_ENOENT);
  assert_non_null(strstr(err, ENV));

  /* from a file */
  char kf[512];
  snprintf(kf, sizeof kf, "%s/key", d->dir);
  char text[80];
  snprintf(text, sizeof text, "%s\n", h);
  write_file(kf, text, 65, 0600);
  memset(got, 0, 32);
  assert_int_equal(backup_key_load(ENV, kf, got, err, sizeof err), 0);
  assert_memory_equal(got, key, 32);
  write_file(kf, h, 64, 0400); /* no newline, read-only: fine */
  assert_int_equal(backup_key_load(NULL, kf, got, err, sizeof err), 0);
  assert_memory_equal(got, key, 32);
  unlink(kf);
  static const mode_t lax[] = {0644, 0640, 0604, 0660, 0602};
  for (size_t i = 0; i < DTO_ARRAY_LEN(lax); i++) {
    write_file(kf, text, 65, lax[i]);
    err[0] = '\0';
    assert_int_equal(backup_key_load(NULL, kf, got, err, sizeof err),
                     DTO_EINVAL);
    assert_non_null(strstr(err, kf));
    char mode[16];
    snprintf(mode, sizeof mode, "mode %04o", (unsigned)lax[i]);
    assert_non_null(strstr(err, mode));
    assert_non_null(strstr(err, "0600 or stricter"));
    assert_no_key(err, key);
    unlink(kf);
  }
  for (int i = 0; i < 4; i++) {
    if (i == 0)
      snprintf(text, sizeof text, "%.63s\n", h);
    else if (i == 1)
      snprintf(text, sizeof text, "%s\n\n", h);
    else if (i == 2)
      snprintf(text, sizeof text, "%s ", h);
    else
      snprintf(text, sizeof text, "x%s", h);
    write_file(kf, text, strlen(text), 0600);
    err[0] = '\0';
    assert_int_equal(backup_key_load(NULL, kf, got, err, sizeof err),
                     DTO_EINVAL);
    assert_non_null(strstr(err, kf));
    assert_no_key(err, key);
    unlink(kf);
  }
  assert_int_equal(backup_key_load(NULL, kf, got, err, sizeof err), DTO_ENOENT);
  assert_int_equal(backup_key_load(NULL, NULL, got, err, sizeof err),
                   DTO_ENOENT);

  /* the environment wins over the file */
  uint8_t other[32];
  test_key(other, 6);
  char oh[66];
  hex(other, 32, oh);
  write_file(kf, oh, 64, 0600);
  setenv(ENV, h, 1);
  assert_int_equal(backup_key_load(ENV, kf, got, err, sizeof err), 0);
  assert_memory_equal(got, key, 32);
  unsetenv(ENV);
  assert_int_equal(backup_key_load(ENV, kf, got, err, sizeof err), 0);
  assert_memory_equal(got, other, 32);

  /* generation: 0600 whatever the umask, never over an existing file */
  char gf[512];
  snprintf(gf, sizeof gf, "%s/gen.key", d->dir);
  mode_t old = umask(0077);
  uint8_t gk[32], gk2[32];
  assert_int_equal(backup_key_generate(gf, gk, err, sizeof err), 0);
  umask(old);
  struct stat st;
  assert_int_equal(stat(gf, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_size, 65);
  assert_int_equal(backup_key_load(NULL, gf, gk2, err, sizeof err), 0);
  assert_memory_equal(gk, gk2, 32);
  err[0] = '\0';
  assert_int_equal(backup_key_generate(gf, NULL, err, sizeof err), DTO_EEXIST);
  assert_non_null(strstr(err, "already exists"));
  assert_int_equal(backup_key_load(NULL, gf, gk2, err, sizeof err), 0);
  assert_memory_equal(gk, gk2, 32); /* untouched */
  assert_int_equal(backup_key_generate(kf, NULL, err, sizeof err), DTO_EEXIST);
  uint8_t gk3[32];
  old = umask(0);
  assert_int_equal(
      backup_key_generate(pathf("%s/gen2.key", d->dir), gk3, err, sizeof err),
      0);
  umask(old);
  assert_int_equal(stat(pathf("%s/gen2.key", d->dir), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_memory_not_equal(gk, gk3, 32);
  assert_int_equal(backup_key_generate(pathf("%s/no/such/dir", d->dir), NULL,
                                       err, sizeof err),
                   DTO_ENOENT);
}

/* ---- the writer's failures ----------------------------------------------- */

static void test_writer_abort_and_crash(void **state) {
  fx_dir *d = *state;
  uint8_t key[32];
  test_key(key, 7);
  char err[512];
  char arch[512];
  snprintf(arch, sizeof arch, "%s/a.dtob", d->dir);
  uint8_t *junk = calloc(1, 1 << 20);

  /* abort: nothing at path, no temporary file */
  backup_writer *w;
  assert_int_equal(
      backup_writer_open(arch, key, "full", NULL, NULL, &w, err, sizeof err),
      0);
  assert_int_equal(
      backup_writer_add_bytes(w, "x", junk, 1 << 20, err, sizeof err), 0);
  backup_writer_abort(w);
  backup_writer_abort(NULL);
  assert_false(exists(arch));
  assert_int_equal(count_entries(d->dir), 0);

  /* a crash (the process dies before close): nothing at path */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    backup_writer *cw;
    if (backup_writer_open(arch, key, "full", NULL, NULL, &cw, NULL, 0) ||
        backup_writer_add_bytes(cw, "x", junk, 1 << 20, NULL, 0))
      _exit(1);
    _exit(0);
  }
  int ws;
  assert_int_equal(waitpid(pid, &ws, 0), pid);
  assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  assert_false(exists(arch));

  /* never over an existing file */
  write_file(arch, "old", 3, 0600);
  assert_int_equal(
      backup_writer_open(arch, key, "full", NULL, NULL, &w, err, sizeof err),
      DTO_EEXIST);
  assert_non_null(strstr(err, "already exists"));
  unlink(arch);

  /* bad arguments */
  backup_opts o = {.level = 20};
  assert_int_equal(
      backup_writer_open(arch, key, "full", NULL, &o, &w, err, sizeof err),
      DTO_EINVAL);
  o = (backup_opts){.chunk_size = 100};
  assert_int_equal(
      backup_writer_open(arch, key, "full", NULL, &o, &w, err, sizeof err),
      DTO_EINVAL);
  assert_int_equal(
      backup_writer_open(arch, key, "full", "[1]", NULL, &w, err, sizeof err),
      DTO_EINVAL);
  assert_int_equal(backup_writer_open(arch, key, "full", "{\"files\":1}", NULL,
                                      &w, err, sizeof err),
                   DTO_EINVAL);
  assert_int_equal(backup_writer_open(arch, key, "full", "{\"kind\":1}", NULL,
                                      &w, err, sizeof err),
                   DTO_EINVAL);
  assert_int_equal(
      backup_writer_open(arch, key, "full", "{bad", NULL, &w, err, sizeof err),
      DTO_EINVAL);
  assert_int_equal(
      backup_writer_open(arch, key, "", NULL, NULL, &w, err, sizeof err),
      DTO_EINVAL);
  char *big = malloc(BACKUP_MANIFEST_MAX + 16);
  memset(big, 'x', BACKUP_MANIFEST_MAX + 15);
  memcpy(big, "{\"pad\":\"", 8);
  memcpy(big + BACKUP_MANIFEST_MAX + 13, "\"}", 3);
  assert_int_equal(
      backup_writer_open(arch, key, "full", big, NULL, &w, err, sizeof err),
      DTO_ETOOBIG);
  free(big);
  assert_false(exists(arch));

  /* errors before any byte went out leave the writer usable */
  assert_int_equal(
      backup_writer_open(arch, key, "full", NULL, NULL, &w, err, sizeof err),
      0);
  char longname[BACKUP_NAME_MAX + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  const char *bad_names[] = {"", ".hidden", "a/b", "../x", "a b", longname};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad_names); i++)
    assert_int_equal(
        backup_writer_add_bytes(w, bad_names[i], "x", 1, err, sizeof err),
        DTO_EINVAL);
  longname[BACKUP_NAME_MAX] = '\0'; /* exactly the maximum: fine */
  assert_int_equal(
      backup_writer_add_bytes(w, longname, "x", 1, err, sizeof err), 0);
  assert_int_equal(
      backup_writer_add_bytes(w, longname, "x", 1, err, sizeof err),
      DTO_EEXIST);
  assert_int_equal(backup_writer_add_file(w, "m", pathf("%s/missing", d->dir),
                                          err, sizeof err),
                   DTO_ENOENT);
  assert_non_null(strstr(err, "missing"));
  assert_int_equal(backup_writer_add_file(w, "m", d->dir, err, sizeof err),
                   DTO_EINVAL);
  assert_int_equal(backup_writer_add_bytes(w, "ok", "y", 1, err, sizeof err),
                   0);
  assert_int_equal(backup_writer_close(w, err, sizeof err), 0);
  json_t *m;
  assert_int_equal(backup_verify(arch, key, NULL, &m, err, sizeof err), 0);
  assert_int_equal(json_array_size(json_object_get(m, "files")), 2);
  json_decref(m);
  unlink(arch);

  /* a source that changes while being read (a /proc file says size 0 and
   * then has bytes) fails the writer for good; close leaves nothing */
  assert_int_equal(
      backup_writer_open(arch, key, "full", NULL, NULL, &w, err, sizeof err),
      0);
  assert_int_equal(
      backup_writer_add_file(w, "status", "/proc/self/status", err, sizeof err),
      DTO_EAGAIN);
  assert_non_null(strstr(err, "changed while being read"));
  assert_int_equal(backup_writer_add_bytes(w, "ok", "y", 1, err, sizeof err),
                   DTO_ESTATE);
  assert_non_null(strstr(err, "an earlier error"));
  assert_int_equal(backup_writer_close(w, err, sizeof err), DTO_EAGAIN);
  assert_false(exists(arch));
  free(junk);
}

/* ---- fuzz seeds (DTO_BACKUP_SEED_DIR) ------------------------------------ */

static void write_seed(const char *dir, const char *name, uint8_t mode,
                       const void *p, size_t n) {
  uint8_t *b = malloc(n + 1);
  b[0] = mode;
  memcpy(b + 1, p, n);
  assert_true(n + 1 < 4096);
  write_file(pathf("%s/%s", dir, name), b, n + 1, 0644);
  free(b);
}

static void test_write_seeds(void **state) {
  fx_dir *d = *state;
  const char *out = getenv("DTO_BACKUP_SEED_DIR");
  if (!out)
    skip();
  uint8_t key[32];
  for (int i = 0; i < 32; i++)
    key[i] = FUZZ_KEY(i);
  char err[512];
  backup_opts o = {.chunk_size = 256, .created = T_CREATED};
  const char *names[] = {"two", "empty"};
  for (int k = 0; k < 2; k++) {
    char arch[512];
    snprintf(arch, sizeof arch, "%s/seed%d", d->dir, k);
    backup_writer *w;
    assert_int_equal(backup_writer_open(arch, key, "full",
                                        k ? NULL : "{\"schema\":3}", &o, &w,
                                        err, sizeof err),
                     0);
    if (k == 0) {
      assert_int_equal(backup_writer_add_bytes(w, "store.db", "SQLite format 3",
                                               15, err, sizeof err),
                       0);
      assert_int_equal(backup_writer_add_bytes(
                           w, "journal", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 32,
                           err, sizeof err),
                       0);
    } else {
      assert_int_equal(
          backup_writer_add_bytes(w, "empty", "", 0, err, sizeof err), 0);
    }
    assert_int_equal(backup_writer_close(w, err, sizeof err), 0);
    size_t n;
    uint8_t *a = read_file(arch, &n);
    write_seed(out, pathf("archive_%s", names[k]), 0, a, n);
    free(a);
  }
  dbuf s;
  dbuf_init(&s, 1 << 16);
  char shx[65];
  rec_manifest(&s);
  rec_file(&s, "store.db", "hello hello hello", 17, shx);
  rec_trailer1(&s, "store.db", 17, shx);
  write_seed(out, "plain_stream", 1, s.ptr, s.len);
  dbuf_release(&s);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_sizes_on_buffer_boundaries,
                                      setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_read_head, setup_dir,
                                      teardown_dir),
      cmocka_unit_test_setup_teardown(test_layout_matches_doc, setup_dir,
                                      teardown_dir),
      cmocka_unit_test_setup_teardown(test_tamper, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_hostile_sizes, setup_dir,
                                      teardown_dir),
      cmocka_unit_test_setup_teardown(test_keys, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_writer_abort_and_crash, setup_dir,
                                      teardown_dir),
      cmocka_unit_test_setup_teardown(test_write_seeds, setup_dir,
                                      teardown_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
