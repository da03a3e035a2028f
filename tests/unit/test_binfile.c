/* test_binfile.c - dto's binary bar file: round trips (CSV -> binary ->
 * bars), the checks of the writer, a corrupt or truncated file caught on
 * open with a message that says what is wrong, every single-byte flip
 * caught by the checksums, and version 1 files (refused, but readable for
 * conversion).  Checksums are recomputed here with libxxhash from the
 * format's description, as an independent oracle. */
#include "core/prelude.h"

#include "core/error.h"
#include "core/fx.h"
#include "core/timeutil.h"
#include "market/binfile.h"
#include "market/reader.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cmocka.h>

typedef struct fixture {
  char dir[64];
  char path[128]; /* dir/bars.dtob */
} fixture;

static int setup(void **state) {
  fixture *F = calloc(1, sizeof *F);
  snprintf(F->dir, sizeof F->dir, "/tmp/dto_test_binfile_XXXXXX");
  if (!mkdtemp(F->dir))
    return -1;
  snprintf(F->path, sizeof F->path, "%s/bars.dtob", F->dir);
  *state = F;
  return 0;
}

/* Number of entries in dir (without . and ..), removing them when rm. */
static int dir_entries(const char *dir, bool rm) {
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    n++;
    if (rm) {
      char p[512];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  }
  closedir(d);
  return n;
}

static int teardown(void **state) {
  fixture *F = *state;
  dir_entries(F->dir, true);
  rmdir(F->dir);
  free(F);
  return 0;
}

static const char *const SYMS[] = {"AAPL", "MSFT"};

static const char CSV[] =
    "time,open,high,low,close,volume,symbol\n"
    "2025-01-06T14:30:00Z,243.10,243.50,242.90,243.25,120034,AAPL\n"
    "2025-01-06T14:30:00Z,421.00,421.75,420.50,421.10,80000.5,MSFT\n"
    "2025-01-06T14:31:00Z,243.25,243.26,243.00,243.01,99000,AAPL\n"
    "2025-01-06T14:31:00Z,421.10,421.20,421.00,421.00,0,MSFT\n"
    "2025-01-06T14:32:00Z,243.01,244.00,243.01,243.99,150000,AAPL\n";

static void make_table(instrument_table *t) {
  instruments_init(t);
  for (size_t i = 0; i < DTO_ARRAY_LEN(SYMS); i++) {
    instrument ins = {.tick = FX_ONE / 100, .lot = FX_ONE};
    snprintf(ins.symbol, sizeof ins.symbol, "%s", SYMS[i]);
    assert_int_equal(instruments_add(t, &ins, NULL), 0);
  }
}

static void read_csv(bar_vec *v) {
  instrument_table t;
  make_table(&t);
  read_opts o;
  read_opts_init(&o);
  o.quiet = true;
  o.instruments = &t;
  read_result r;
  assert_int_equal(read_bars_csv_mem("in.csv", CSV, strlen(CSV), &o, v, &r),
                   0);
  instruments_release(&t);
}

static void assert_bars_equal(const bar *a, const bar *b) {
  assert_true(a->ts == b->ts);
  assert_true(a->dur == b->dur);
  assert_true(a->open == b->open);
  assert_true(a->high == b->high);
  assert_true(a->low == b->low);
  assert_true(a->close == b->close);
  assert_true(a->volume == b->volume);
  assert_int_equal(a->sym, b->sym);
}

static void write_ok(const fixture *F, const bar_vec *v) {
  char err[256];
  int rc = binfile_write(F->path, v->v, v->n, SYMS, 2, err, sizeof err);
  if (rc)
    fail_msg("binfile_write: %s", err);
}

static void test_round_trip(void **state) {
  fixture *F = *state;
  bar_vec v = {0};
  read_csv(&v);
  assert_int_equal(v.n, 5);
  write_ok(F, &v);

  /* No temporary file is left behind. */
  assert_int_equal(dir_entries(F->dir, false), 1);

  /* 64 + 2 x 16 + 5 x 56 + one block checksum of 8. */
  struct stat st;
  assert_int_equal(stat(F->path, &st), 0);
  assert_int_equal(st.st_size, 64 + 2 * 16 + 5 * 56 + 8);

  binfile *f;
  char err[256];
  assert_int_equal(binfile_open(F->path, &f, err, sizeof err), 0);
  assert_int_equal(binfile_version(f), 2);
  assert_int_equal(binfile_count(f), 5);
  assert_int_equal(binfile_nsymbols(f), 2);
  assert_string_equal(binfile_symbol(f, 0), "AAPL");
  assert_string_equal(binfile_symbol(f, 1), "MSFT");
  assert_true(binfile_dur(f) == 60 * DTO_NS_PER_SEC);
  for (size_t i = 0; i < v.n; i++) {
    bar b;
    binfile_get(f, i, &b);
    assert_bars_equal(&b, &v.v[i]);
  }
  binfile_free(f);
  binfile_free(NULL);

  /* Through read_bars_file with a table in another order: symbols are
   * mapped by name. */
  instrument_table t;
  instruments_init(&t);
  instrument ins = {.symbol = "MSFT", .tick = 1, .lot = 1};
  assert_int_equal(instruments_add(&t, &ins, NULL), 0);
  snprintf(ins.symbol, sizeof ins.symbol, "AAPL");
  assert_int_equal(instruments_add(&t, &ins, NULL), 0);
  read_opts o;
  read_opts_init(&o);
  o.quiet = true;
  o.instruments = &t;
  bar_vec w = {0};
  read_result r;
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), 0);
  assert_int_equal(r.rows, 5);
  assert_int_equal(w.n, 5);
  for (size_t i = 0; i < v.n; i++) {
    bar want = v.v[i];
    want.sym = want.sym == 0 ? 1 : 0;
    assert_bars_equal(&w.v[i], &want);
  }
  bar_vec_release(&w);

  /* The window and an explicit duration. */
  assert_int_equal(time_parse_cstr("2025-01-06T14:31:00Z", &o.from), 0);
  o.dur = 5 * DTO_NS_PER_MIN;
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), 0);
  assert_int_equal(w.n, 3);
  assert_true(w.v[0].dur == 5 * DTO_NS_PER_MIN);
  bar_vec_release(&w);
  instruments_release(&t);

  /* Learn mode builds the table from the file. */
  instruments_init(&t);
  read_opts_init(&o);
  o.quiet = true;
  assert_int_equal(read_bars_file_learn(F->path, &o, NULL, &t, &w, &r), 0);
  assert_int_equal(t.n, 2);
  assert_string_equal(t.v[1].symbol, "MSFT");
  for (size_t i = 0; i < v.n; i++)
    assert_bars_equal(&w.v[i], &v.v[i]);
  bar_vec_release(&w);
  instruments_release(&t);
  bar_vec_release(&v);
}

/* binstream gives the records binfile_get gives, whatever the batch size,
 * across checksum blocks (one record each here, so that every stream of
 * this file is read ahead on its own thread while three blocks are left),
 * and stops cleanly when freed at any point; at most four streams read
 * ahead at once; a damaged block reaches the caller through the reader
 * with binfile_open's message. */
static void test_stream(void **state) {
  fixture *F = *state;
  bar_vec v = {0};
  read_csv(&v);
  char err[256];
  assert_int_equal(
      binfile_write_blocks(F->path, v.v, v.n, SYMS, 2, 1, err, sizeof err), 0);
  assert_true(v.n >= 3); /* enough blocks to read ahead */
  binfile *f;
  assert_int_equal(binfile_open(F->path, &f, err, sizeof err), 0);
  for (size_t batch = 1; batch <= 6; batch++) {
    binstream *s;
    assert_int_equal(binstream_open(F->path, 0, &s, err, sizeof err), 0);
    const binfile *h = binstream_header(s);
    assert_int_equal(binfile_count(h), v.n);
    assert_int_equal(binfile_nsymbols(h), 2);
    assert_string_equal(binfile_symbol(h, 1), "MSFT");
    assert_true(binfile_dur(h) == binfile_dur(f));
    size_t i = 0;
    bar got[6];
    long k;
    while ((k = binstream_read(s, got, batch, err, sizeof err)) > 0) {
      for (long j = 0; j < k; j++, i++) {
        bar want;
        binfile_get(f, i, &want);
        assert_bars_equal(&got[j], &want);
      }
    }
    assert_int_equal(k, 0);
    assert_int_equal(i, v.n);
    assert_true(binstream_reads_ahead(s));
    binstream_free(s);
  }
  /* freed before the end: the read-ahead stops, whether it is waiting for
   * a slot or reading */
  for (size_t stop = 0; stop < v.n; stop++) {
    binstream *s;
    assert_int_equal(binstream_open(F->path, 0, &s, err, sizeof err), 0);
    bar got[1];
    for (size_t i = 0; i < stop; i++) {
      assert_int_equal(binstream_read(s, got, 1, err, sizeof err), 1);
      bar want;
      binfile_get(f, i, &want);
      assert_bars_equal(&got[0], &want);
    }
    binstream_free(s);
  }
  /* more streams at once than read ahead (the others read in the caller's
   * thread), read in turns: each gives every record */
  enum { NS = 6 };
  binstream *ss[NS];
  for (int j = 0; j < NS; j++)
    assert_int_equal(binstream_open(F->path, 0, &ss[j], err, sizeof err), 0);
  for (size_t i = 0; i < v.n; i++) {
    for (int j = 0; j < NS; j++) {
      bar got, want;
      assert_int_equal(binstream_read(ss[j], &got, 1, err, sizeof err), 1);
      binfile_get(f, i, &want);
      assert_bars_equal(&got, &want);
    }
    if (i == 0) { /* each reader waits for a slot: four places taken */
      int ahead = 0;
      for (int j = 0; j < NS; j++)
        ahead += binstream_reads_ahead(ss[j]);
      assert_int_equal(ahead, 4);
    }
  }
  for (int j = 0; j < NS; j++) {
    bar got;
    assert_int_equal(binstream_read(ss[j], &got, 1, err, sizeof err), 0);
    binstream_free(ss[j]);
  }
  binfile_free(f);
  /* a byte of block 3 flipped: binfile_open's message, through the reader
   * (which has the block long before the caller reaches it) */
  FILE *fp = fopen(F->path, "r+b");
  assert_non_null(fp);
  long at = BINFILE_HEADER_SIZE + 2 * BINFILE_SYMBOL_SIZE +
            3 * BINFILE_RECORD_SIZE + 40;
  assert_int_equal(fseek(fp, at, SEEK_SET), 0);
  int c = fgetc(fp);
  assert_int_equal(fseek(fp, at, SEEK_SET), 0);
  fputc(c ^ 1, fp);
  fclose(fp);
  char want[512], got[512];
  f = NULL;
  assert_int_equal(binfile_open(F->path, &f, want, sizeof want), DTO_EPARSE);
  binstream *s;
  assert_int_equal(binstream_open(F->path, 0, &s, got, sizeof got), 0);
  bar b[8];
  long k, total = 0;
  while ((k = binstream_read(s, b, 1, got, sizeof got)) > 0)
    total += k;
  assert_true(binstream_reads_ahead(s));
  assert_int_equal(k, DTO_EPARSE);
  assert_int_equal(total, 3);
  assert_string_equal(got, want);
  assert_non_null(strstr(got, "block 3"));
  /* asked again: the same error */
  assert_int_equal(binstream_read(s, b, 1, got, sizeof got), DTO_EPARSE);
  assert_string_equal(got, want);
  binstream_free(s);
  bar_vec_release(&v);
}

static void test_symbols_without_table(void **state) {
  fixture *F = *state;
  bar_vec v = {0};
  read_csv(&v);
  write_ok(F, &v);
  read_opts o;
  read_opts_init(&o);
  o.quiet = true;
  bar_vec w = {0};
  read_result r;
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), DTO_EPARSE);
  char want[512];
  snprintf(want, sizeof want,
           "%s: holds 2 symbols (AAPL, MSFT, ...); several symbols need an "
           "instrument table",
           F->path);
  assert_string_equal(r.err, want);
  bar_vec_release(&w);

  /* One symbol: every bar gets o.sym. */
  const char *one[] = {"AAPL"};
  bar b[2] = {v.v[0], v.v[2]};
  char err[256];
  assert_int_equal(binfile_write(F->path, b, 2, one, 1, err, sizeof err), 0);
  o.sym = 4;
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), 0);
  assert_int_equal(w.n, 2);
  assert_int_equal(w.v[1].sym, 4);
  assert_true(w.v[1].close == v.v[2].close);
  bar_vec_release(&w);

  /* A symbol missing from the table is a bad row per bar. */
  instrument_table t;
  instruments_init(&t);
  instrument ins = {.symbol = "MSFT", .tick = 1, .lot = 1};
  assert_int_equal(instruments_add(&t, &ins, NULL), 0);
  o.instruments = &t;
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), DTO_EPARSE);
  snprintf(want, sizeof want,
           "%s: record 0: symbol 'AAPL' is not in the instrument table",
           F->path);
  assert_string_equal(r.err, want);
  o.skip_bad_rows = true;
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), DTO_EPARSE);
  assert_int_equal(r.bad_rows, 2);
  write_ok(F, &v);
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), 0);
  assert_int_equal(r.rows, 2);
  assert_int_equal(r.bad_rows, 3);
  assert_int_equal(w.v[0].sym, 0);
  bar_vec_release(&w);
  instruments_release(&t);
  bar_vec_release(&v);
}

static void expect_write_err(const fixture *F, const bar *b, size_t n,
                             const char *const *syms, size_t nsyms,
                             const char *msg) {
  char err[256];
  assert_int_equal(binfile_write(F->path, b, n, syms, nsyms, err, sizeof err),
                   DTO_EINVAL);
  assert_string_equal(err, msg);
  assert_int_equal(access(F->path, F_OK), -1);
}

static void test_write_checks(void **state) {
  fixture *F = *state;
  bar_vec v = {0};
  read_csv(&v);
  bar b[3] = {v.v[0], v.v[1], v.v[2]};
  bar s[2] = {v.v[2], v.v[0]};
  expect_write_err(F, s, 2, SYMS, 2, "bar 1: not in time order");
  s[1] = v.v[2];
  expect_write_err(F, s, 2, SYMS, 2, "bar 1: duplicate time for its symbol");
  b[1].sym = 2;
  expect_write_err(F, b, 3, SYMS, 2,
                   "bar 1: symbol index 2 out of range (2 symbols)");
  b[1].sym = 1;
  b[2].dur = 1;
  expect_write_err(F, b, 3, SYMS, 2,
                   "bar 2: duration differs from the first bar's");
  b[2].dur = b[0].dur;
  b[2].low = b[2].high + 1;
  expect_write_err(F, b, 3, SYMS, 2, "bar 2: high below low");
  const char *dup[] = {"AAPL", "AAPL"};
  expect_write_err(F, v.v, 1, dup, 2, "symbol 'AAPL' appears twice");
  const char *badname[] = {"AAPL", "no good"};
  expect_write_err(F, v.v, 1, badname, 2, "symbol 1: not a valid symbol");
  expect_write_err(F, v.v, 1, SYMS, 0, "need 1 to 100000 symbols, got 0");

  /* An I/O failure names the path and leaves nothing behind. */
  char path[256], err[256];
  snprintf(path, sizeof path, "%s/no/such/dir/x.dtob", F->dir);
  assert_int_equal(binfile_write(path, v.v, v.n, SYMS, 2, err, sizeof err),
                   DTO_ENOENT);
  assert_non_null(
      strstr(err, "no/such/dir/x.dtob: cannot create a temporary file"));

  /* Values above 92233720.36854775 are not written (the readers would
   * refuse them); the bound itself is. */
  bar big = v.v[0];
  big.high = big.close = 9223372036854775LL;
  assert_int_equal(binfile_write(F->path, &big, 1, SYMS, 2, err, sizeof err),
                   0);
  assert_int_equal(unlink(F->path), 0);
  big.high = 9223372036854776LL;
  expect_write_err(F, &big, 1, SYMS, 2,
                   "bar 0: high above the largest accepted value "
                   "92233720.36854775");
  big = v.v[0];
  big.volume = 9223372036854776LL;
  expect_write_err(F, &big, 1, SYMS, 2,
                   "bar 0: volume above the largest accepted value "
                   "92233720.36854775");
  assert_int_equal(binfile_write_blocks(F->path, v.v, v.n, SYMS, 2, 0, err,
                                        sizeof err),
                   DTO_EINVAL);
  assert_string_equal(err, "records per block must be 1 to 65536, got 0");
  bar_vec_release(&v);
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p) {
  return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

/* Recompute the checksums of a version 2 file of n bytes after a mutation,
 * from the format's description (binfile.h): the header's at 56 covers
 * bytes 0..55 (seed) and the symbol table; one per block after the
 * records, seeded with the block number.  Parts the mutation made
 * unreadable are left alone. */
static void reseal(unsigned char *b, size_t n) {
  if (n < 64 || le32(b + 8) != 2)
    return;
  uint64_t nsym = le32(b + 32), count = le64(b + 16), block = le32(b + 36);
  if (64 + 16 * nsym > n)
    return;
  put_le64(b + 56, XXH3_64bits_withSeed(b + 64, 16 * nsym,
                                        XXH3_64bits(b, 56)));
  uint64_t off = 64 + 16 * nsym;
  if (block == 0 || count > (n - off) / 56)
    return;
  uint64_t nblocks = (count + block - 1) / block;
  if (off + count * 56 + nblocks * 8 != n)
    return;
  for (uint64_t k = 0; k < nblocks; k++) {
    uint64_t first = k * block, m = count - first < block ? count - first
                                                          : block;
    put_le64(b + off + count * 56 + 8 * k,
             XXH3_64bits_withSeed(b + off + first * 56, m * 56, k));
  }
}

/* Read the whole file, let mutate change it, recompute its checksums (so
 * that the check behind them is reached), write it back and expect
 * binfile_open to fail with code and a message containing want. */
static void corrupt(const fixture *F, void (*mutate)(unsigned char *, size_t *),
                    int code, const char *want) {
  bar_vec v = {0};
  read_csv(&v);
  write_ok(F, &v);
  bar_vec_release(&v);
  FILE *f = fopen(F->path, "rb");
  assert_non_null(f);
  unsigned char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 64, f);
  fclose(f);
  mutate(buf, &n);
  reseal(buf, n);
  f = fopen(F->path, "wb");
  assert_int_equal(fwrite(buf, 1, n, f), n);
  fclose(f);

  binfile *bf = (binfile *)1;
  char err[256];
  int rc = binfile_open(F->path, &bf, err, sizeof err);
  if (bf) {
    binfile_free(bf);
    fail_msg("opened a corrupt file; want '%s'", want);
  }
  if (rc != code || !strstr(err, want))
    fail_msg("got %s '%s', want %s '...%s...'", dto_errname(rc), err,
             dto_errname(code), want);
  char prefix[160];
  snprintf(prefix, sizeof prefix, "%s: ", F->path);
  assert_memory_equal(err, prefix, strlen(prefix));

  /* Streaming reports the same, at open or when the record is reached. */
  binstream *bs = NULL;
  char serr[256];
  int src = binstream_open(F->path, 0, &bs, serr, sizeof serr);
  if (src == 0) {
    bar tmp[8];
    long k;
    while ((k = binstream_read(bs, tmp, 3, serr, sizeof serr)) > 0)
      ;
    src = (int)k;
    binstream_free(bs);
  }
  if (src != code || strcmp(serr, err))
    fail_msg("binstream: got %s '%s', want %s '%s'", dto_errname(src), serr,
             dto_errname(code), err);

  /* The readers report the same. */
  read_opts o;
  read_opts_init(&o);
  o.quiet = true;
  read_result r;
  instrument_table t;
  make_table(&t);
  o.instruments = &t;
  bar_vec w = {0};
  if (n >= BINFILE_MAGIC_LEN && !memcmp(buf, BINFILE_MAGIC, 8)) {
    assert_int_equal(read_bars_file(F->path, &o, &w, &r), code);
    assert_string_equal(r.err, err);
  }
  instruments_release(&t);
  bar_vec_release(&w);
}

static void m_magic(unsigned char *b, size_t *n) {
  (void)n;
  b[7] = '2';
}
static void m_short_header(unsigned char *b, size_t *n) {
  (void)b;
  *n = 40;
}
static void m_truncated(unsigned char *b, size_t *n) {
  (void)b;
  *n -= 10;
}
static void m_trailing(unsigned char *b, size_t *n) {
  memset(b + *n, 0, 56);
  *n += 56;
}
static void m_version(unsigned char *b, size_t *n) {
  (void)n;
  b[8] = 3;
}
static void m_block(unsigned char *b, size_t *n) {
  (void)n;
  memset(b + 36, 0, 4);
}
static void m_recsize(unsigned char *b, size_t *n) {
  (void)n;
  b[12] = 48;
}
static void m_count(unsigned char *b, size_t *n) {
  (void)n;
  b[16] = 6;
}
static void m_huge_count(unsigned char *b, size_t *n) {
  (void)n;
  memset(b + 16, 0xff, 8);
}
static void m_dur(unsigned char *b, size_t *n) {
  (void)n;
  memset(b + 24, 0, 8);
}
static void m_nsym(unsigned char *b, size_t *n) {
  (void)n;
  memset(b + 32, 0, 4);
}
static void m_offset(unsigned char *b, size_t *n) {
  (void)n;
  b[40] = 200;
}
static void m_reserved(unsigned char *b, size_t *n) {
  (void)n;
  b[50] = 1;
}
static void m_toobig(unsigned char *b, size_t *n) {
  (void)n;
  /* record 2's volume: one unit of 10^-8 above 92233720.36854775 */
  put_le64(b + 96 + 56 * 2 + 40, 9223372036854776ULL);
}
static void m_symname(unsigned char *b, size_t *n) {
  (void)n;
  b[64 + 16 + 1] = 's'; /* MSFT -> MsFT */
}
static void m_symdup(unsigned char *b, size_t *n) {
  (void)n;
  memcpy(b + 64 + 16, "AAPL", 4);
}
static void m_symidx(unsigned char *b, size_t *n) {
  (void)n;
  b[96 + 56 * 2 + 48] = 7; /* record 2 */
}
static void m_padding(unsigned char *b, size_t *n) {
  (void)n;
  b[96 + 56 * 1 + 53] = 1;
}
static void m_hilo(unsigned char *b, size_t *n) {
  (void)n;
  memset(b + 96 + 56 * 3 + 24, 0x7f, 8); /* record 3: low huge */
}
static void m_order(unsigned char *b, size_t *n) {
  (void)n;
  memcpy(b + 96 + 56 * 4, b + 96, 8); /* record 4 gets record 0's time */
}

static void test_corrupt(void **state) {
  fixture *F = *state;
  corrupt(F, m_magic, DTO_EPARSE, "not a dto bar file (bad magic)");
  corrupt(F, m_short_header, DTO_EPARSE,
          "truncated: 40 bytes, the header needs 64");
  corrupt(F, m_truncated, DTO_EPARSE,
          "truncated: the header says 5 records but the file holds 4");
  corrupt(F, m_trailing, DTO_EPARSE, "corrupt: 56 bytes after the last of 5");
  corrupt(F, m_version, DTO_EUNSUPPORTED,
          "unsupported version 3 (this dto reads 2)");
  corrupt(F, m_block, DTO_EPARSE, "corrupt: 0 records per block (1 to 65536)");
  corrupt(F, m_recsize, DTO_EPARSE, "corrupt: record size 48 (expected 56)");
  corrupt(F, m_count, DTO_EPARSE,
          "truncated: the header says 6 records but the file holds 5");
  corrupt(F, m_huge_count, DTO_EPARSE,
          "truncated: the header says 18446744073709551615 records");
  corrupt(F, m_dur, DTO_EPARSE, "corrupt: bar duration 0");
  corrupt(F, m_nsym, DTO_EPARSE, "corrupt: symbol count 0");
  corrupt(F, m_offset, DTO_EPARSE, "corrupt: records at offset 200");
  corrupt(F, m_reserved, DTO_EPARSE, "reserved header bytes are not zero");
  corrupt(F, m_symname, DTO_EPARSE, "corrupt: symbol 1: not a valid symbol");
  corrupt(F, m_symdup, DTO_EPARSE, "corrupt: symbol 'AAPL' appears twice");
  corrupt(F, m_symidx, DTO_EPARSE,
          "corrupt: record 2: symbol index 7 out of range (2 symbols)");
  corrupt(F, m_padding, DTO_EPARSE, "corrupt: record 1: padding is not zero");
  corrupt(F, m_hilo, DTO_EPARSE, "corrupt: record 3: high below low");
  corrupt(F, m_order, DTO_EPARSE, "corrupt: record 4: time goes backward");
  corrupt(F, m_toobig, DTO_EPARSE,
          "corrupt: record 2: volume above the largest accepted value "
          "92233720.36854775");
}

/* Flip one bit of every byte of a file of 3 checksum blocks (2 records
 * each, the last short), in the low and the high bit: every flip must be
 * refused, and a flip in the records or in a block checksum must name that
 * block.  No byte of the format is unchecked, so no flip is harmless. */
static void test_every_flip_detected(void **state) {
  fixture *F = *state;
  bar_vec v = {0};
  read_csv(&v);
  char err[256];
  assert_int_equal(binfile_write_blocks(F->path, v.v, v.n, SYMS, 2, 2, err,
                                        sizeof err),
                   0);
  bar_vec_release(&v);
  unsigned char buf[1024];
  FILE *f = fopen(F->path, "rb");
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  const size_t off = 64 + 2 * 16, recs_end = off + 5 * 56;
  assert_int_equal(n, recs_end + 3 * 8);

  /* The writer's checksums agree with the oracle's. */
  unsigned char copy[1024];
  memcpy(copy, buf, n);
  reseal(copy, n);
  assert_memory_equal(copy, buf, n);
  binfile *bf;
  assert_int_equal(binfile_open_mem("m.dtob", buf, n, 0, &bf, err, sizeof err),
                   0);
  assert_int_equal(binfile_count(bf), 5);
  binfile_free(bf);

  size_t detected = 0, flips = 0;
  static const unsigned char masks[] = {0x01, 0x80};
  for (size_t i = 0; i < n; i++)
    for (size_t m = 0; m < DTO_ARRAY_LEN(masks); m++) {
      memcpy(copy, buf, n);
      copy[i] ^= masks[m];
      flips++;
      bf = (binfile *)1;
      int rc = binfile_open_mem("m.dtob", copy, n, 0, &bf, err, sizeof err);
      if (rc == 0) {
        binfile_free(bf);
        continue;
      }
      assert_null(bf);
      assert_memory_equal(err, "m.dtob: ", 8);
      detected++;
      size_t blk = SIZE_MAX;
      if (i >= off && i < recs_end)
        blk = (i - off) / 56 / 2;
      else if (i >= recs_end)
        blk = (i - recs_end) / 8;
      if (blk != SIZE_MAX) {
        char want[128];
        snprintf(want, sizeof want,
                 "m.dtob: corrupt: block %zu (records %zu to %zu): checksum "
                 "mismatch",
                 blk, blk * 2, blk == 2 ? (size_t)4 : blk * 2 + 1);
        assert_string_equal(err, want);
      }
    }
  assert_int_equal(flips, 2 * n);
  assert_int_equal(detected, flips);

  /* A flip in the header or the symbol table through the file reader. */
  buf[64 + 1] ^= 0x01; /* AAPL -> A@PL */
  f = fopen(F->path, "wb");
  assert_int_equal(fwrite(buf, 1, n, f), n);
  fclose(f);
  read_opts o;
  read_opts_init(&o);
  o.quiet = true;
  instrument_table t;
  make_table(&t);
  o.instruments = &t;
  bar_vec w = {0};
  read_result r;
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), DTO_EPARSE);
  char want[256];
  snprintf(want, sizeof want,
           "%s: corrupt: header checksum mismatch (the header or the symbol "
           "table is damaged)",
           F->path);
  assert_string_equal(r.err, want);
  assert_int_equal(w.n, 0);
  instruments_release(&t);
  bar_vec_release(&w);
}

static uint64_t next_rand(uint64_t *rng) {
  *rng ^= *rng << 13;
  *rng ^= *rng >> 7;
  *rng ^= *rng << 17;
  return *rng;
}

/* A value for a record field whose valid range is [lo, hi]: mostly base
 * (in it), sometimes one step outside it, its negation or one of the edges
 * of the checks (0, 1, -1, the bound and one past it, int64's extremes). */
static int64_t pick_value(uint64_t *rng, int64_t base, int64_t lo, int64_t hi) {
  static const int64_t edges[] = {0,
                                  1,
                                  -1,
                                  9223372036854775LL,
                                  9223372036854776LL,
                                  INT64_MIN,
                                  INT64_MAX,
                                  INT64_MIN + 1};
  uint64_t r = next_rand(rng);
  switch (r % 128) {
  case 0:
    return edges[(r >> 8) % DTO_ARRAY_LEN(edges)];
  case 1:
    return lo - 1;
  case 2:
    return hi + 1;
  case 3:
    return -base;
  default:
    return base;
  }
}

/* The stream's decoding (a fast path) accepts and refuses exactly the
 * records binfile_open's checks (decode_record, one check at a time)
 * accept and refuse, with the same message, on random files of one to
 * three symbols whose records are mostly valid and otherwise off by one
 * at an edge of a check (prices, bounds, volume, symbol index, padding,
 * time order, a symbol's time twice); the bars it gives before the first
 * bad record are the records decoded by hand, whatever the batch size. */
static void test_stream_checks_random(void **state) {
  fixture *F = *state;
  uint64_t rng = 0x9e3779b97f4a7c15u;
  size_t refused = 0, accepted = 0;
  for (int iter = 0; iter < 4000; iter++) {
    size_t nsym = 1 + next_rand(&rng) % 3, count = 1 + next_rand(&rng) % 12;
    size_t block = 1 + next_rand(&rng) % 8;
    unsigned char buf[1024];
    memset(buf, 0, sizeof buf);
    memcpy(buf, "DTOBARS1", 8);
    buf[8] = 2;
    buf[12] = 56;
    put_le64(buf + 16, count);
    put_le64(buf + 24, 60 * (uint64_t)DTO_NS_PER_SEC);
    buf[32] = (unsigned char)nsym;
    buf[36] = (unsigned char)block;
    size_t off = 64 + 16 * nsym;
    put_le64(buf + 40, off);
    for (size_t i = 0; i < nsym; i++)
      snprintf((char *)buf + 64 + 16 * i, 16, "S%zu", i);
    int64_t ts = 1736173800LL * DTO_NS_PER_SEC;
    for (size_t i = 0; i < count; i++) {
      unsigned char *r = buf + off + 56 * i;
      uint64_t u = next_rand(&rng);
      /* mostly the next minute; sometimes the same time or 1 ns back */
      ts += u % 16 == 0 ? 0 : u % 16 == 1 ? -1 : 60 * DTO_NS_PER_SEC;
      int64_t l = 100 * FX_ONE + (int64_t)(u >> 40) % FX_ONE;
      int64_t h = l + (int64_t)(u >> 20) % (2 * FX_ONE);
      int64_t o = l + (h - l) / 3, c = h - (h - l) / 4;
      int64_t vol = (int64_t)(u >> 33);
      put_le64(r, (uint64_t)ts);
      put_le64(r + 8, (uint64_t)pick_value(&rng, o, l, h));
      put_le64(r + 16, (uint64_t)pick_value(&rng, h, o, 9223372036854775LL));
      put_le64(r + 24, (uint64_t)pick_value(&rng, l, 1, o));
      put_le64(r + 32, (uint64_t)pick_value(&rng, c, l, h));
      put_le64(r + 40, (uint64_t)pick_value(&rng, vol, 0, 9223372036854775LL));
      u = next_rand(&rng);
      r[48] = (unsigned char)(u % 32 == 0 ? nsym : u % nsym); /* symbol */
      r[52] = u % 64 == 1;                                    /* padding */
    }
    size_t nblocks = (count + block - 1) / block;
    size_t n = off + 56 * count + 8 * nblocks;
    reseal(buf, n);
    FILE *f = fopen(F->path, "wb");
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);

    char err[256] = "", serr[256] = "";
    binfile *bf = NULL;
    int rc = binfile_open(F->path, &bf, err, sizeof err);
    binstream *bs = NULL;
    int src = binstream_open(F->path, 0, &bs, serr, sizeof serr);
    assert_int_equal(src, 0);
    size_t batch = 1 + next_rand(&rng) % 11, i = 0; /* rounds of 4 and not */
    bar got[12];
    long k;
    while ((k = binstream_read(bs, got, batch, serr, sizeof serr)) > 0)
      for (long j = 0; j < k; j++, i++) { /* the record, by hand */
        const unsigned char *r = buf + off + 56 * i;
        bar want = {.ts = (int64_t)le64(r),
                    .dur = 60 * DTO_NS_PER_SEC,
                    .open = (int64_t)le64(r + 8),
                    .high = (int64_t)le64(r + 16),
                    .low = (int64_t)le64(r + 24),
                    .close = (int64_t)le64(r + 32),
                    .volume = (int64_t)le64(r + 40),
                    .sym = le32(r + 48)};
        assert_bars_equal(&got[j], &want);
      }
    binstream_free(bs);
    if (rc != (int)k || strcmp(err, serr))
      fail_msg("iteration %d: binfile_open %s '%s', binstream %s '%s'", iter,
               dto_errname(rc), err, dto_errname((int)k), serr);
    if (rc == 0) {
      assert_int_equal(i, count);
      accepted++;
      binfile_free(bf);
    } else {
      assert_null(bf);
      refused++;
    }
  }
  /* both outcomes are well represented */
  assert_true(accepted > 400 && refused > 400);
}

/* Version 1 (no checksums, written by earlier dto): refused with advice,
 * read when asked for (dto data convert). */
static void test_version1(void **state) {
  fixture *F = *state;
  bar_vec v = {0};
  read_csv(&v);
  /* Build the version 1 file by hand from its description. */
  unsigned char buf[1024];
  memset(buf, 0, sizeof buf);
  memcpy(buf, "DTOBARS1", 8);
  buf[8] = 1;
  buf[12] = 56;
  buf[16] = 5;
  put_le64(buf + 24, 60 * (uint64_t)DTO_NS_PER_SEC);
  buf[32] = 2;
  put_le64(buf + 40, 96);
  memcpy(buf + 64, "AAPL", 4);
  memcpy(buf + 80, "MSFT", 4);
  for (size_t i = 0; i < 5; i++) {
    unsigned char *r = buf + 96 + 56 * i;
    const bar *b = &v.v[i];
    put_le64(r, (uint64_t)b->ts);
    put_le64(r + 8, (uint64_t)b->open);
    put_le64(r + 16, (uint64_t)b->high);
    put_le64(r + 24, (uint64_t)b->low);
    put_le64(r + 32, (uint64_t)b->close);
    put_le64(r + 40, (uint64_t)b->volume);
    r[48] = (unsigned char)b->sym;
  }
  size_t n = 96 + 5 * 56;
  FILE *f = fopen(F->path, "wb");
  assert_int_equal(fwrite(buf, 1, n, f), n);
  fclose(f);

  binfile *bf;
  char err[512], want[512];
  assert_int_equal(binfile_open(F->path, &bf, err, sizeof err),
                   DTO_EUNSUPPORTED);
  snprintf(want, sizeof want,
           "%s: format version 1 (without checksums) is no longer read; "
           "re-convert it: dto data convert --in FILE --out NEW.dtob",
           F->path);
  assert_string_equal(err, want);
  read_opts o;
  read_opts_init(&o);
  o.quiet = true;
  instrument_table t;
  make_table(&t);
  o.instruments = &t;
  bar_vec w = {0};
  read_result r;
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), DTO_EUNSUPPORTED);
  assert_string_equal(r.err, want);

  assert_int_equal(
      binfile_open_flags(F->path, BINFILE_OPEN_V1, &bf, err, sizeof err), 0);
  assert_int_equal(binfile_version(bf), 1);
  for (size_t i = 0; i < v.n; i++) {
    bar b;
    binfile_get(bf, i, &b);
    assert_bars_equal(&b, &v.v[i]);
  }
  binfile_free(bf);
  o.binfile_v1 = true;
  assert_int_equal(read_bars_file(F->path, &o, &w, &r), 0);
  assert_int_equal(w.n, 5);
  for (size_t i = 0; i < v.n; i++)
    assert_bars_equal(&w.v[i], &v.v[i]);
  /* Version 1 rules still hold: reserved bytes must be zero. */
  buf[36] = 1;
  assert_int_equal(binfile_open_mem("v1.dtob", buf, n, BINFILE_OPEN_V1, &bf,
                                    err, sizeof err),
                   DTO_EPARSE);
  assert_string_equal(err,
                      "v1.dtob: corrupt: reserved header bytes are not zero");
  instruments_release(&t);
  bar_vec_release(&w);
  bar_vec_release(&v);
}

static void test_open_errors(void **state) {
  fixture *F = *state;
  binfile *f;
  char err[256], want[256];
  assert_int_equal(binfile_open(F->path, &f, err, sizeof err), DTO_ENOENT);
  assert_null(f);
  assert_int_equal(binfile_open(F->dir, &f, err, sizeof err), DTO_EINVAL);
  snprintf(want, sizeof want, "%s: not a regular file (a folder)", F->dir);
  assert_string_equal(err, want);
  /* A FIFO is refused at once, not waited on (else SIGALRM fails the
   * program). */
  assert_int_equal(mkfifo(F->path, 0600), 0);
  alarm(10);
  assert_int_equal(binfile_open(F->path, &f, err, sizeof err), DTO_EINVAL);
  alarm(0);
  snprintf(want, sizeof want, "%s: not a regular file (a FIFO)", F->path);
  assert_string_equal(err, want);
  assert_int_equal(unlink(F->path), 0);
  FILE *fp = fopen(F->path, "w");
  fputs("DTO", fp);
  fclose(fp);
  assert_int_equal(binfile_open(F->path, &f, err, sizeof err), DTO_EPARSE);
  snprintf(want, sizeof want, "%s: not a dto bar file (3 bytes)", F->path);
  assert_string_equal(err, want);

  /* An empty bar file opens, but reading it finds no rows. */
  char e2[256];
  assert_int_equal(binfile_write(F->path, NULL, 0, SYMS, 1, e2, sizeof e2), 0);
  assert_int_equal(binfile_open(F->path, &f, err, sizeof err), 0);
  assert_int_equal(binfile_count(f), 0);
  binfile_free(f);
  read_opts o;
  read_opts_init(&o);
  o.quiet = true;
  bar_vec v = {0};
  read_result r;
  assert_int_equal(read_bars_file(F->path, &o, &v, &r), DTO_EPARSE);
  snprintf(want, sizeof want, "%s: no rows", F->path);
  assert_string_equal(r.err, want);
  assert_false(binfile_sniff("DTOBARS", 7));
  assert_true(binfile_sniff("DTOBARS1xx", 10));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_checks_random, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_symbols_without_table, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_write_checks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_every_flip_detected, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_version1, setup, teardown),
  };
  return cmocka_run_group_tests_name("binfile", tests, NULL, NULL);
}
