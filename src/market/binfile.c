/* binfile.c - dto's binary bar file: atomic writer and validating,
 * memory-mapped reader (format in binfile.h).  Integers are encoded byte by
 * byte, so the file is the same on any host; the compiler turns the helpers
 * into plain loads and stores on little-endian machines.  Checksums are
 * XXH3-64 (libxxhash), whose output is fixed since xxHash 0.8.0, so a file
 * is byte-identical whoever writes it. */
#include "market/binfile.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__)
/* Debian's libxxhash on x86-64 also exports XXH3's dispatching entry
 * points, which pick the widest vector unit the processor has (AVX2,
 * AVX-512) instead of the SSE2 baseline the library is compiled for; this
 * header maps XXH3_64bits and XXH3_64bits_withSeed to them.  XXH3's output
 * does not depend on the variant (tests/unit/test_binfile.c checks files
 * against the plain functions). */
#include <xxh_x86dispatch.h>
#endif

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/timeutil.h"
#include "market/bounds.h"
#include "market/instrument.h"

struct binfile {
  const unsigned char *map; /* the whole file, read-only */
  size_t size;
  bool mapped; /* map is ours to munmap (not caller memory) */
  unsigned version;
  size_t count, nsymbols;
  size_t block; /* records per checksum block (version 2) */
  dto_time dur;
  uint64_t off; /* of the first record */
  const unsigned char *recs;
  const unsigned char *sums; /* block checksums (version 2) */
};

/* Byte offsets in the header. */
#define H_VERSION 8
#define H_RECSIZE 12
#define H_COUNT 16
#define H_DUR 24
#define H_NSYM 32
#define H_BLOCK 36
#define H_OFFSET 40
#define H_RESERVED 48
#define H_CHECKSUM 56

/* ---- little-endian helpers ------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

/* Fixed-width loads: one unaligned load and a byte swap on big-endian
 * hosts (a no-op here), instead of assembling bytes one by one. */
static inline uint32_t get_u32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return le32toh(v);
}

static inline uint64_t get_u64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return le64toh(v);
}

static inline int64_t get_i64(const unsigned char *p) {
  return (int64_t)get_u64(p);
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
    dto_seterr(err, errcap, "need 1 to %d symbols, got %zu", BINFILE_MAX_SYMBOLS,
           n);
    return DTO_EINVAL;
  }
  for (size_t i = 0; i < n; i++)
    if (!symbols[i] || !symbol_valid(symbols[i])) {
      dto_seterr(err, errcap, "symbol %zu: not a valid symbol", i);
      return DTO_EINVAL;
    }
  const char **sorted = xmalloc(n * sizeof *sorted);
  memcpy(sorted, symbols, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_strp);
  int rc = 0;
  for (size_t i = 1; i < n; i++)
    if (!strcmp(sorted[i - 1], sorted[i])) {
      dto_seterr(err, errcap, "symbol '%s' appears twice", sorted[i]);
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
    dto_seterr(err, errcap, "bar 0: duration must be positive");
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
      dto_seterr(err, errcap, "bar %zu: symbol index %u out of range (%zu symbols)",
             i, (unsigned)b->sym, nsymbols);
      rc = DTO_EINVAL;
    } else if (b->dur != dur) {
      dto_seterr(err, errcap, "bar %zu: duration differs from the first bar's", i);
      rc = DTO_EINVAL;
    } else if ((why = bar_check(b)) != NULL) {
      dto_seterr(err, errcap, "bar %zu: %s", i, why);
      rc = DTO_EINVAL;
    } else if ((why = market_bar_over(b)) != NULL) {
      dto_seterr(err, errcap, "bar %zu: %s above the largest accepted value %s",
             i, why, MARKET_VALUE_MAX_TEXT);
      rc = DTO_EINVAL;
    } else if (b->ts < prev) {
      dto_seterr(err, errcap, "bar %zu: not in time order", i);
      rc = DTO_EINVAL;
    } else if (b->ts <= last[b->sym]) {
      dto_seterr(err, errcap, "bar %zu: duplicate time for its symbol", i);
      rc = DTO_EINVAL;
    } else {
      prev = b->ts;
      last[b->sym] = b->ts;
    }
  }
  free(last);
  return rc;
}

/* The header checksum: XXH3-64 of the symbol table, seeded with the
 * XXH3-64 of the first 56 header bytes (everything but the checksum). */
static uint64_t header_sum(const unsigned char *h, const unsigned char *symtab,
                           size_t nsym) {
  uint64_t seed = XXH3_64bits(h, H_CHECKSUM);
  return XXH3_64bits_withSeed(symtab, nsym * BINFILE_SYMBOL_SIZE, seed);
}

static uint64_t block_sum(const unsigned char *p, size_t len, size_t b) {
  return XXH3_64bits_withSeed(p, len, (uint64_t)b);
}

int binfile_write(const char *path, const bar *bars, size_t n,
                  const char *const *symbols, size_t nsymbols, char *err,
                  size_t errcap) {
  return binfile_write_blocks(path, bars, n, symbols, nsymbols,
                              BINFILE_BLOCK_RECORDS, err, errcap);
}

int binfile_write_blocks(const char *path, const bar *bars, size_t n,
                         const char *const *symbols, size_t nsymbols,
                         size_t block, char *err, size_t errcap) {
  if (block < 1 || block > BINFILE_MAX_BLOCK) {
    dto_seterr(err, errcap, "records per block must be 1 to %d, got %zu",
           BINFILE_MAX_BLOCK, block);
    return DTO_EINVAL;
  }
  int rc = check_symbols(symbols, nsymbols, err, errcap);
  if (rc)
    return rc;
  if ((rc = check_bars(bars, n, nsymbols, err, errcap)) != 0)
    return rc;

  unsigned char h[BINFILE_HEADER_SIZE];
  memset(h, 0, sizeof h);
  memcpy(h, BINFILE_MAGIC, BINFILE_MAGIC_LEN);
  put_u32(h + H_VERSION, BINFILE_VERSION);
  put_u32(h + H_RECSIZE, BINFILE_RECORD_SIZE);
  put_u64(h + H_COUNT, (uint64_t)n);
  put_u64(h + H_DUR, (uint64_t)(n ? bars[0].dur : DTO_NS_PER_MIN));
  put_u32(h + H_NSYM, (uint32_t)nsymbols);
  put_u32(h + H_BLOCK, (uint32_t)block);
  put_u64(h + H_OFFSET,
          BINFILE_HEADER_SIZE + BINFILE_SYMBOL_SIZE * (uint64_t)nsymbols);
  unsigned char *symtab = xcalloc(nsymbols, BINFILE_SYMBOL_SIZE);
  for (size_t i = 0; i < nsymbols; i++) /* < 16 bytes: symbol_valid */
    memcpy(symtab + i * BINFILE_SYMBOL_SIZE, symbols[i], strlen(symbols[i]));
  put_u64(h + H_CHECKSUM, header_sum(h, symtab, nsymbols));

  fileio_atomic *w;
  if ((rc = fileio_atomic_open(path, 0644, &w, err, errcap)) != 0) {
    free(symtab);
    return rc;
  }
  fileio_atomic_write(w, h, sizeof h);
  fileio_atomic_write(w, symtab, nsymbols * BINFILE_SYMBOL_SIZE);
  free(symtab);

  size_t nblocks = n / block + (n % block != 0);
  unsigned char *sums = xcalloc(nblocks ? nblocks : 1, BINFILE_CHECKSUM_SIZE);
  unsigned char *buf = xmalloc(block * BINFILE_RECORD_SIZE);
  for (size_t k = 0; k < nblocks; k++) {
    size_t first = k * block, m = n - first < block ? n - first : block;
    for (size_t j = 0; j < m; j++) {
      const bar *b = &bars[first + j];
      unsigned char *r = buf + j * BINFILE_RECORD_SIZE;
      put_u64(r, (uint64_t)b->ts);
      put_u64(r + 8, (uint64_t)b->open);
      put_u64(r + 16, (uint64_t)b->high);
      put_u64(r + 24, (uint64_t)b->low);
      put_u64(r + 32, (uint64_t)b->close);
      put_u64(r + 40, (uint64_t)b->volume);
      put_u32(r + 48, b->sym);
      put_u32(r + 52, 0);
    }
    size_t len = m * BINFILE_RECORD_SIZE;
    put_u64(sums + k * BINFILE_CHECKSUM_SIZE, block_sum(buf, len, k));
    fileio_atomic_write(w, buf, len);
  }
  fileio_atomic_write(w, sums, nblocks * BINFILE_CHECKSUM_SIZE);
  free(buf);
  free(sums);
  return fileio_atomic_commit(w, err, errcap);
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
      dto_seterr(err, errcap, "%s: corrupt: symbol %zu: not a valid symbol name",
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
      dto_seterr(err, errcap, "%s: corrupt: symbol '%s' appears twice", path,
             sorted[i]);
      rc = DTO_EPARSE;
      break;
    }
  free(sorted);
  return rc;
}

/* Decode the record at r into *b and check it (symbol index, padding,
 * bar_check, bounds, time order against *prev and last[]); a static or
 * tmp-held reason, or NULL. */
static inline const char *decode_record(const unsigned char *r, size_t nsym,
                                        dto_time dur, bar *b, dto_time *prev,
                                        dto_time *last, char *tmp,
                                        size_t cap) {
  uint32_t sym = get_u32(r + 48);
  if (sym >= nsym) {
    snprintf(tmp, cap, "symbol index %u out of range (%zu symbols)",
             (unsigned)sym, nsym);
    return tmp;
  }
  if (get_u32(r + 52) != 0)
    return "padding is not zero";
  b->ts = get_i64(r);
  b->dur = dur;
  b->open = get_i64(r + 8);
  b->high = get_i64(r + 16);
  b->low = get_i64(r + 24);
  b->close = get_i64(r + 32);
  b->volume = get_i64(r + 40);
  b->sym = sym;
  const char *why = bar_check(b);
  if (why)
    return why;
  if ((why = market_bar_over(b)) != NULL) {
    snprintf(tmp, cap, "%s above the largest accepted value %s", why,
             MARKET_VALUE_MAX_TEXT);
    return tmp;
  }
  if (b->ts < *prev)
    return "time goes backward";
  if (b->ts <= last[sym])
    return "duplicate or backward time for its symbol";
  *prev = b->ts;
  last[sym] = b->ts;
  return NULL;
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* decode_one copies a record's bytes 8 to 55 (open .. volume, the symbol
 * index, the zero padding) over a bar's open .. sym and its tail padding. */
_Static_assert(offsetof(bar, high) == offsetof(bar, open) + 8 &&
                   offsetof(bar, low) == offsetof(bar, open) + 16 &&
                   offsetof(bar, close) == offsetof(bar, open) + 24 &&
                   offsetof(bar, volume) == offsetof(bar, open) + 32 &&
                   offsetof(bar, sym) == offsetof(bar, open) + 40 &&
                   sizeof(bar) == offsetof(bar, open) + 48,
               "bar's open .. sym must be laid out as in a record");
#endif

/* Record *j of the records at rec into out[*j] when decode_record would
 * accept it, with fewer comparisons (the stream's hot path):
 *   - the u64 at byte 48 is the symbol index plus 2^32 times the padding,
 *     so it is below nsym (at most BINFILE_MAX_SYMBOLS < 2^32) exactly when
 *     the index is in range and the padding is zero;
 *   - bar_check and market_bar_over ask o, h, l, c > 0, l <= h, l <= o <= h,
 *     l <= c <= h, 0 <= v and each of o, h, l, c, v <= MARKET_VALUE_MAX.
 *     With l <= o <= h and l <= c <= h, the four prices are positive when
 *     l is, at most the bound when h is, and l <= h holds; 0 <= v <= bound
 *     is one unsigned comparison (a negative v converts to 2^63 or more);
 *   - decode_record asks ts >= prev and ts > last[sym].  prev is the
 *     largest time accepted so far, so last[sym] <= prev, and ts > prev
 *     implies both: last[sym] is read only when ts == prev (after the
 *     symbol index is known to be in range).  With one symbol (one_symbol,
 *     nsym == 1), last[0] == prev: the test is ts > prev, and the caller
 *     sets last[0] once, at the end.
 * An accepted record advances *j and *prev (and last[sym]) and gives true.
 * A refused one gives false and changes nothing but out[*j].dur (out[*j]
 * is the room for it, and is not handed out), so asking again refuses it
 * again.  out[*j].dur is stored before the checks, apart from ts: gcc
 * would pair the two stores into a vector store built from two registers,
 * one instruction more per record.  Inlined with one_symbol constant. */
static inline bool decode_one(const unsigned char *rec, size_t nsym,
                              bool one_symbol, dto_time dur, bar *out,
                              size_t *j, dto_time *prev, dto_time *last) {
  const unsigned char *r = rec + *j * BINFILE_RECORD_SIZE;
  bar *b = &out[*j];
  b->dur = dur;
  uint64_t sym = get_u64(r + 48);
  dto_time ts = get_i64(r), p = *prev;
  fx o = get_i64(r + 8), h = get_i64(r + 16), l = get_i64(r + 24);
  fx c = get_i64(r + 32), v = get_i64(r + 40);
  if (one_symbol && ts <= p)
    return false;
  if (sym >= nsym || l <= 0 || o < l || h < o || c < l || h < c ||
      h > MARKET_VALUE_MAX || (uint64_t)v > (uint64_t)MARKET_VALUE_MAX)
    return false;
  if (!one_symbol && (ts < p || (ts == p && ts <= last[sym])))
    return false;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* the record's bytes as they are: fewer loads and stores than fields */
  memcpy((unsigned char *)b + offsetof(bar, open), r + 8, 48);
#else
  b->open = o;
  b->high = h;
  b->low = l;
  b->close = c;
  b->volume = v;
  b->sym = (sym_id)sym;
#endif
  b->ts = ts;
  *prev = ts;
  if (!one_symbol)
    last[sym] = ts;
  (*j)++;
  return true;
}

/* Decode the n records at r into out, with decode_record's checks, until
 * the first record it would refuse; returns how many were good (n when all
 * were).  A refused record is left to decode_record, which names the
 * reason.  Four records a round, for one test of the count per four (a
 * round cut short by a refused record ends the first loop, and the second
 * asks about that record again, which refuses it again). */
static inline size_t decode_loop(const unsigned char *r, size_t n, size_t nsym,
                                 bool one_symbol, dto_time dur, bar *out,
                                 dto_time *prev, dto_time *last) {
  dto_time p = *prev;
  size_t j = 0;
  while (n - j >= 4 &&
         decode_one(r, nsym, one_symbol, dur, out, &j, &p, last) &&
         decode_one(r, nsym, one_symbol, dur, out, &j, &p, last) &&
         decode_one(r, nsym, one_symbol, dur, out, &j, &p, last) &&
         decode_one(r, nsym, one_symbol, dur, out, &j, &p, last))
    ;
  while (j < n && decode_one(r, nsym, one_symbol, dur, out, &j, &p, last))
    ;
  *prev = p;
  if (one_symbol)
    last[0] = p;
  return j;
}

static size_t decode_records(const unsigned char *r, size_t n, size_t nsym,
                             dto_time dur, bar *out, dto_time *prev,
                             dto_time *last) {
  if (nsym == 1)
    return decode_loop(r, n, 1, true, dur, out, prev, last);
  return decode_loop(r, n, nsym, false, dur, out, prev, last);
}

/* The checks of record i of a mapped file. */
static const char *check_record(const binfile *f, size_t i, dto_time *prev,
                                dto_time *last, char *tmp, size_t cap) {
  bar b;
  return decode_record(f->recs + i * BINFILE_RECORD_SIZE, f->nsymbols, f->dur,
                       &b, prev, last, tmp, cap);
}

static int check_records(const char *path, const binfile *f, char *err,
                         size_t errcap) {
  dto_time *last = xmalloc(f->nsymbols * sizeof *last);
  for (size_t s = 0; s < f->nsymbols; s++)
    last[s] = INT64_MIN;
  dto_time prev = INT64_MIN;
  int rc = 0;
  size_t block = f->version >= 2 ? f->block : (f->count ? f->count : 1);
  for (size_t first = 0, k = 0; first < f->count && rc == 0;
       first += block, k++) {
    size_t m = f->count - first < block ? f->count - first : block;
    if (f->version >= 2) {
      uint64_t want = get_u64(f->sums + k * BINFILE_CHECKSUM_SIZE);
      uint64_t got = block_sum(f->recs + first * BINFILE_RECORD_SIZE,
                               m * BINFILE_RECORD_SIZE, k);
      if (got != want) {
        dto_seterr(err, errcap,
               "%s: corrupt: block %zu (records %zu to %zu): checksum "
               "mismatch",
               path, k, first, first + m - 1);
        rc = DTO_EPARSE;
        break;
      }
    }
    for (size_t i = first; i < first + m; i++) {
      char tmp[96];
      const char *why = check_record(f, i, &prev, last, tmp, sizeof tmp);
      if (why) {
        dto_seterr(err, errcap, "%s: corrupt: record %zu: %s", path, i, why);
        rc = DTO_EPARSE;
        break;
      }
    }
  }
  free(last);
  return rc;
}

/* Validate the header of a mapping of size bytes and fill f. */
static int check_header(const char *path, binfile *f, unsigned flags,
                        char *err, size_t errcap) {
  const unsigned char *h = f->map;
  if (f->size < BINFILE_MAGIC_LEN || !binfile_sniff(h, f->size)) {
    dto_seterr(err, errcap, "%s: not a dto bar file (bad magic)", path);
    return DTO_EPARSE;
  }
  if (f->size < BINFILE_HEADER_SIZE) {
    dto_seterr(err, errcap, "%s: truncated: %zu bytes, the header needs %d", path,
           f->size, BINFILE_HEADER_SIZE);
    return DTO_EPARSE;
  }
  uint32_t version = get_u32(h + H_VERSION);
  if (version == 1 && !(flags & BINFILE_OPEN_V1)) {
    dto_seterr(err, errcap,
           "%s: format version 1 (without checksums) is no longer read; "
           "re-convert it: dto data convert --in FILE --out NEW.dtob",
           path);
    return DTO_EUNSUPPORTED;
  }
  if (version != 1 && version != BINFILE_VERSION) {
    dto_seterr(err, errcap, "%s: unsupported version %u (this dto reads %d)", path,
           (unsigned)version, BINFILE_VERSION);
    return DTO_EUNSUPPORTED;
  }
  uint32_t nsym = get_u32(h + H_NSYM);
  if (nsym == 0 || nsym > BINFILE_MAX_SYMBOLS) {
    dto_seterr(err, errcap, "%s: corrupt: symbol count %u", path, (unsigned)nsym);
    return DTO_EPARSE;
  }
  uint64_t want_off = BINFILE_HEADER_SIZE + (uint64_t)nsym * BINFILE_SYMBOL_SIZE;
  if (f->size < want_off) {
    dto_seterr(err, errcap,
           "%s: truncated: %zu bytes, the symbol table ends at %llu", path,
           f->size, (unsigned long long)want_off);
    return DTO_EPARSE;
  }
  if (version >= 2 && get_u64(h + H_CHECKSUM) !=
                          header_sum(h, h + BINFILE_HEADER_SIZE, nsym)) {
    dto_seterr(err, errcap,
           "%s: corrupt: header checksum mismatch (the header or the symbol "
           "table is damaged)",
           path);
    return DTO_EPARSE;
  }
  uint32_t recsize = get_u32(h + H_RECSIZE);
  uint64_t count = get_u64(h + H_COUNT);
  int64_t dur = get_i64(h + H_DUR);
  uint64_t off = get_u64(h + H_OFFSET);
  uint32_t block = get_u32(h + H_BLOCK);
  if (recsize != BINFILE_RECORD_SIZE) {
    dto_seterr(err, errcap, "%s: corrupt: record size %u (expected %d)", path,
           (unsigned)recsize, BINFILE_RECORD_SIZE);
    return DTO_EPARSE;
  }
  if (dur <= 0) {
    dto_seterr(err, errcap, "%s: corrupt: bar duration %lld", path,
           (long long)dur);
    return DTO_EPARSE;
  }
  if (version >= 2 && (block < 1 || block > BINFILE_MAX_BLOCK)) {
    dto_seterr(err, errcap, "%s: corrupt: %u records per block (1 to %d)", path,
           (unsigned)block, BINFILE_MAX_BLOCK);
    return DTO_EPARSE;
  }
  bool reserved_ok = version >= 2 ? get_u64(h + H_RESERVED) == 0
                                  : get_u32(h + H_BLOCK) == 0;
  for (int i = H_RESERVED; version == 1 && i < BINFILE_HEADER_SIZE; i++)
    reserved_ok &= h[i] == 0;
  if (!reserved_ok) {
    dto_seterr(err, errcap, "%s: corrupt: reserved header bytes are not zero",
           path);
    return DTO_EPARSE;
  }
  if (off != want_off) {
    dto_seterr(err, errcap, "%s: corrupt: records at offset %llu (expected %llu)",
           path, (unsigned long long)off, (unsigned long long)want_off);
    return DTO_EPARSE;
  }
  /* Each record comes with 56 bytes, and (version 2) 8 more per block. */
  uint64_t room = (uint64_t)f->size - off;
  uint64_t nblocks = 0, per = BINFILE_RECORD_SIZE;
  if (version >= 2) {
    nblocks = count / block + (count % block != 0);
    per = (uint64_t)block * BINFILE_RECORD_SIZE + BINFILE_CHECKSUM_SIZE;
  }
  /* The largest count that fits in room bytes. */
  uint64_t fits = version >= 2
                      ? room / per * block +
                            (room % per >= BINFILE_RECORD_SIZE +
                                               BINFILE_CHECKSUM_SIZE
                                 ? (room % per - BINFILE_CHECKSUM_SIZE) /
                                       BINFILE_RECORD_SIZE
                                 : 0)
                      : room / BINFILE_RECORD_SIZE;
  if (count > fits) {
    dto_seterr(err, errcap,
           "%s: truncated: the header says %llu records but the file holds "
           "%llu",
           path, (unsigned long long)count, (unsigned long long)fits);
    return DTO_EPARSE;
  }
  uint64_t need = count * BINFILE_RECORD_SIZE + nblocks * BINFILE_CHECKSUM_SIZE;
  if (room != need) {
    dto_seterr(err, errcap,
           "%s: corrupt: %llu bytes after the last of %llu records", path,
           (unsigned long long)(room - need), (unsigned long long)count);
    return DTO_EPARSE;
  }
  f->version = version;
  f->count = (size_t)count;
  f->nsymbols = nsym;
  f->block = block;
  f->dur = dur;
  f->off = off;
  return check_symtab(path, h + BINFILE_HEADER_SIZE, nsym, err, errcap);
}

/* Validate f (map and size set) as binfile_open does. */
static int validate(const char *path, binfile *f, unsigned flags, char *err,
                    size_t errcap) {
  int rc = check_header(path, f, flags, err, errcap);
  if (rc == 0) {
    f->recs = f->map + f->off;
    f->sums = f->recs + f->count * BINFILE_RECORD_SIZE;
    rc = check_records(path, f, err, errcap);
  }
  return rc;
}

int binfile_open(const char *path, binfile **out, char *err, size_t errcap) {
  return binfile_open_flags(path, 0, out, err, errcap);
}

int binfile_open_flags(const char *path, unsigned flags, binfile **out,
                       char *err, size_t errcap) {
  *out = NULL;
  int fd;
  struct stat st;
  int rc = fileio_open_regular(path, &fd, &st, err, errcap);
  if (rc)
    return rc;
  if (st.st_size < BINFILE_MAGIC_LEN) {
    close(fd);
    dto_seterr(err, errcap, "%s: not a dto bar file (%lld bytes)", path,
           (long long)st.st_size);
    return DTO_EPARSE;
  }
  /* Pre-fault files up to 1 GiB: every byte is read (checksums, checks). */
  int mflags = MAP_PRIVATE;
  if (st.st_size <= ((off_t)1 << 30))
    mflags |= MAP_POPULATE;
  void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, mflags, fd, 0);
  int e = errno;
  close(fd); /* the mapping keeps the file */
  if (map == MAP_FAILED) {
    dto_seterr(err, errcap, "%s: cannot map: %s", path, strerror(e));
    return dto_from_errno(e);
  }
  binfile *f = xcalloc(1, sizeof *f);
  f->map = map;
  f->size = (size_t)st.st_size;
  f->mapped = true;
  if ((rc = validate(path, f, flags, err, errcap)) != 0) {
    binfile_free(f);
    return rc;
  }
  *out = f;
  return 0;
}

int binfile_open_mem(const char *name, const void *data, size_t len,
                     unsigned flags, binfile **out, char *err, size_t errcap) {
  *out = NULL;
  binfile *f = xcalloc(1, sizeof *f);
  f->map = data;
  f->size = len;
  f->mapped = false;
  int rc = validate(name, f, flags, err, errcap);
  if (rc) {
    binfile_free(f);
    return rc;
  }
  *out = f;
  return 0;
}

unsigned binfile_version(const binfile *f) { return f->version; }
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

/* ---- streaming --------------------------------------------------------- */

/* A stream with at least BINSTREAM_THREAD_BLOCKS blocks still to read is
 * read ahead by a thread of its own: it reads each block (records and
 * checksum) and checks its checksum into one of BINSTREAM_SLOTS buffers
 * while the caller decodes the one before, so the kernel's copy and the
 * checksum run on another core.  The caller decodes the blocks in order,
 * as before: a block's error (I/O, truncation, checksum) is reported when
 * the caller reaches it, with the message it had, and the reader stops
 * there.  At most BINSTREAM_MAX_READERS streams of a process read ahead at
 * once; a reader gives its place back when it ends (end of file, error or
 * stop), and a stream without one asks again at each block, so the files
 * of a long run take turns.  Without a place, or a thread, a stream is read
 * in the caller's thread. */
#define BINSTREAM_SLOTS 3
#define BINSTREAM_THREAD_BLOCKS 3
#define BINSTREAM_MAX_READERS 4

static atomic_int readers; /* read-ahead threads running now */

typedef struct bs_slot {
  unsigned char *buf; /* one block of records */
  size_t first, n;    /* the block's first record and record count */
  int rc;             /* 0, or why the block could not be had */
  char err[PATH_MAX + 160]; /* rc's message: the path and the reason */
  bool full;          /* the reader filled it; the caller has not done */
} bs_slot;

struct binstream {
  binfile f;     /* the header's fields; f.map holds header and symbols */
  char *path;    /* for messages */
  int fd;
  size_t block;  /* records per block as read (v1: BINFILE_BLOCK_RECORDS) */
  size_t next;   /* index of the next record */
  const unsigned char *cur;     /* the block being decoded */
  size_t blk_first, blk_n, pos; /* its records, and the position in it */
  dto_time prev;
  dto_time *last; /* per file symbol */
  bs_slot slot[BINSTREAM_SLOTS]; /* without a thread, slot[0] only */
  size_t taken; /* blocks the caller has had; slot taken % SLOTS is current */
  bool held;    /* the current block is in a slot the reader filled */
  /* the read-ahead thread, from block taken when it started; the slots'
   * full flags and stop under mu */
  bool threaded, stop;
  size_t rd_from;
  pthread_t thr;
  pthread_mutex_t mu;
  pthread_cond_t filled, freed;
};

/* pread exactly n bytes at off; 0, or an error code with a message. */
static int read_at(binstream *s, void *p, size_t n, uint64_t off, char *err,
                   size_t errcap) {
  unsigned char *q = p;
  while (n) {
    ssize_t k = pread(s->fd, q, n, (off_t)off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0) {
      int e = errno;
      dto_seterr(err, errcap, "%s: cannot read: %s", s->path, strerror(e));
      return dto_from_errno(e);
    }
    if (k == 0) {
      dto_seterr(err, errcap, "%s: truncated: the file shrank while read",
                 s->path);
      return DTO_EPARSE;
    }
    q += k;
    n -= (size_t)k;
    off += (uint64_t)k;
  }
  return 0;
}

int binstream_open(const char *path, unsigned flags, binstream **out,
                   char *err, size_t errcap) {
  *out = NULL;
  int fd;
  struct stat st;
  int rc = fileio_open_regular(path, &fd, &st, err, errcap);
  if (rc)
    return rc;
  binstream *s = xcalloc(1, sizeof *s);
  s->fd = fd;
  s->path = xstrdup(path);
  s->f.size = (size_t)st.st_size;
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL); /* advice only */
  /* the header, then (once its symbol count is known) the symbol table */
  size_t want = s->f.size < BINFILE_HEADER_SIZE ? s->f.size
                                                : BINFILE_HEADER_SIZE;
  unsigned char *head = xcalloc(1, BINFILE_HEADER_SIZE);
  if ((rc = read_at(s, head, want, 0, err, errcap)))
    goto fail;
  if (want == BINFILE_HEADER_SIZE && binfile_sniff(head, want)) {
    uint32_t nsym = get_u32(head + H_NSYM);
    if (nsym >= 1 && nsym <= BINFILE_MAX_SYMBOLS) {
      uint64_t end = BINFILE_HEADER_SIZE + (uint64_t)nsym * BINFILE_SYMBOL_SIZE;
      if (end > s->f.size)
        end = s->f.size;
      head = xreallocarray(head, (size_t)end, 1);
      if ((rc = read_at(s, head + BINFILE_HEADER_SIZE,
                        (size_t)end - BINFILE_HEADER_SIZE, BINFILE_HEADER_SIZE,
                        err, errcap))) {
        s->f.map = head;
        goto fail;
      }
    }
  }
  s->f.map = head;
  if (s->f.size < BINFILE_MAGIC_LEN) {
    dto_seterr(err, errcap, "%s: not a dto bar file (%zu bytes)", path,
               s->f.size);
    rc = DTO_EPARSE;
    goto fail;
  }
  if ((rc = check_header(path, &s->f, flags, err, errcap)))
    goto fail;
  s->block = s->f.version >= 2 ? s->f.block : BINFILE_BLOCK_RECORDS;
  s->slot[0].buf = xmalloc(s->block * BINFILE_RECORD_SIZE);
  s->last = xmalloc(s->f.nsymbols * sizeof *s->last);
  for (size_t i = 0; i < s->f.nsymbols; i++)
    s->last[i] = INT64_MIN;
  s->prev = INT64_MIN;
  *out = s;
  return 0;
fail:
  binstream_free(s);
  return rc;
}

/* Read the block whose first record is first into buf, and check its
 * checksum; *n: its record count.  Reads only what binstream_open set. */
static int read_block(binstream *s, size_t first, unsigned char *buf,
                      size_t *n, char *err, size_t errcap) {
  size_t k = first / s->block;
  size_t m = s->f.count - first < s->block ? s->f.count - first : s->block;
  size_t len = m * BINFILE_RECORD_SIZE;
  int rc = read_at(s, buf, len, s->f.off + (uint64_t)first * BINFILE_RECORD_SIZE,
                   err, errcap);
  if (rc)
    return rc;
  if (s->f.version >= 2) {
    unsigned char sum[BINFILE_CHECKSUM_SIZE];
    uint64_t at = s->f.off + (uint64_t)s->f.count * BINFILE_RECORD_SIZE +
                  (uint64_t)k * BINFILE_CHECKSUM_SIZE;
    if ((rc = read_at(s, sum, sizeof sum, at, err, errcap)))
      return rc;
    if (get_u64(sum) != block_sum(buf, len, k)) {
      dto_seterr(err, errcap,
                 "%s: corrupt: block %zu (records %zu to %zu): checksum "
                 "mismatch",
                 s->path, k, first, first + m - 1);
      return DTO_EPARSE;
    }
  }
  *n = m;
  return 0;
}

/* The read-ahead thread: block after block into the free slots, in order,
 * until the end, an error (left in its slot) or stop. */
static void *reader_main(void *arg) {
  binstream *s = arg;
  for (size_t k = s->rd_from;; k++) {
    size_t first = k * s->block;
    if (first >= s->f.count)
      break;
    bs_slot *sl = &s->slot[k % BINSTREAM_SLOTS];
    pthread_mutex_lock(&s->mu);
    while (sl->full && !s->stop)
      pthread_cond_wait(&s->freed, &s->mu);
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    if (stop)
      break;
    /* the slot is the reader's until full is set */
    sl->first = first;
    sl->rc = read_block(s, first, sl->buf, &sl->n, sl->err, sizeof sl->err);
    pthread_mutex_lock(&s->mu);
    sl->full = true;
    pthread_cond_signal(&s->filled);
    pthread_mutex_unlock(&s->mu);
    if (sl->rc)
      break;
  }
  atomic_fetch_sub(&readers, 1); /* the place, for another stream */
  return NULL;
}

/* Start the read-ahead thread at the caller's next block (with every
 * signal blocked: they are the main thread's); false without a place or a
 * thread. */
static bool start_reader(binstream *s) {
  if (atomic_fetch_add(&readers, 1) >= BINSTREAM_MAX_READERS) {
    atomic_fetch_sub(&readers, 1);
    return false;
  }
  for (int i = 1; i < BINSTREAM_SLOTS; i++)
    s->slot[i].buf = xmalloc(s->block * BINFILE_RECORD_SIZE);
  s->rd_from = s->taken;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->filled, NULL);
  pthread_cond_init(&s->freed, NULL);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&s->thr, NULL, reader_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) {
    pthread_cond_destroy(&s->freed);
    pthread_cond_destroy(&s->filled);
    pthread_mutex_destroy(&s->mu);
    for (int i = 1; i < BINSTREAM_SLOTS; i++) {
      free(s->slot[i].buf);
      s->slot[i].buf = NULL;
    }
    atomic_fetch_sub(&readers, 1);
    return false;
  }
  s->threaded = true;
  return true;
}

/* Make the next block current: the reader's next slot (the one before
 * given back), or one read here.  A stream without a reader starts one
 * while BINSTREAM_THREAD_BLOCKS blocks or more are left.  The caller's
 * next block is block taken: next is a multiple of block here. */
static int next_block(binstream *s, char *err, size_t errcap) {
  bs_slot *sl;
  size_t left = (s->f.count - s->next + s->block - 1) / s->block;
  if (!s->threaded && left >= BINSTREAM_THREAD_BLOCKS)
    (void)start_reader(s); /* or read here */
  if (s->threaded) {
    pthread_mutex_lock(&s->mu);
    if (s->held) { /* the block before is decoded: its slot is free (one
                    * read here, before the reader started, was no slot of
                    * the reader's, which may hold a later block now) */
      s->slot[(s->taken - 1) % BINSTREAM_SLOTS].full = false;
      s->held = false;
      pthread_cond_signal(&s->freed);
    }
    sl = &s->slot[s->taken % BINSTREAM_SLOTS];
    while (!sl->full)
      pthread_cond_wait(&s->filled, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (sl->rc) { /* the reader stopped here: the same error every time */
      dto_seterr(err, errcap, "%s", sl->err);
      return sl->rc;
    }
    s->held = true;
  } else {
    sl = &s->slot[0];
    sl->first = s->next;
    int rc = read_block(s, s->next, sl->buf, &sl->n, err, errcap);
    if (rc)
      return rc;
  }
  s->taken++;
  s->cur = sl->buf;
  s->blk_first = sl->first;
  s->blk_n = sl->n;
  s->pos = 0;
  return 0;
}

long binstream_read(binstream *s, bar *out, size_t max, char *err,
                    size_t errcap) {
  size_t n = 0;
  while (n < max && s->next < s->f.count) {
    if (s->pos == s->blk_n) {
      int rc = next_block(s, err, errcap);
      if (rc)
        return rc;
    }
    size_t take = s->blk_n - s->pos;
    if (take > max - n)
      take = max - n;
    const unsigned char *r = s->cur + s->pos * BINFILE_RECORD_SIZE;
    size_t good = decode_records(r, take, s->f.nsymbols, s->f.dur, out + n,
                                 &s->prev, s->last);
    if (good < take) {
      char tmp[96];
      bar b;
      const char *why =
          decode_record(r + good * BINFILE_RECORD_SIZE, s->f.nsymbols, s->f.dur,
                        &b, &s->prev, s->last, tmp, sizeof tmp);
      DTO_ASSERT(why != NULL);
      dto_seterr(err, errcap, "%s: corrupt: record %zu: %s", s->path,
                 s->blk_first + s->pos + good, why);
      return DTO_EPARSE;
    }
    s->pos += take;
    s->next += take;
    n += take;
  }
  return (long)n;
}

const binfile *binstream_header(const binstream *s) { return &s->f; }

bool binstream_reads_ahead(const binstream *s) { return s->threaded; }

void binstream_free(binstream *s) {
  if (!s)
    return;
  if (s->threaded) {
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thr, NULL);
    pthread_cond_destroy(&s->freed);
    pthread_cond_destroy(&s->filled);
    pthread_mutex_destroy(&s->mu);
  }
  if (s->fd >= 0)
    close(s->fd);
  free((void *)s->f.map);
  for (int i = 0; i < BINSTREAM_SLOTS; i++)
    free(s->slot[i].buf);
  free(s->last);
  free(s->path);
  free(s);
}

void binfile_free(binfile *f) {
  if (!f)
    return;
  if (f->mapped)
    munmap((void *)f->map, f->size);
  free(f);
}
