/* fuzz_binfile.c - libFuzzer harness for the .dtob reader (binfile_open_mem,
 * the same validation binfile_open runs on a mapped file).
 *
 * The first input byte picks the mode: bit 0 also accepts version 1 files;
 * bit 1 "seals" the rest first, recomputing the header and block checksums
 * from the format's description, so mutations reach the structural checks
 * behind the checksums instead of stopping at a mismatch.  The reader must
 * never crash, leak or read past the input (held in a buffer of exactly its
 * size).  On success every record is consistent: symbol index in range,
 * bar_check, the value bound, time order (per symbol strictly increasing),
 * the file's duration; on failure the message is one printable line that
 * starts with the name.
 */
#include "core/prelude.h"

#include <xxhash.h>

#include "core/alloc.h"
#include "core/error.h"
#include "market/binfile.h"
#include "market/bounds.h"
#include "market/instrument.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void put_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

/* Recompute the checksums of a version 2 file where its layout allows. */
static void seal(unsigned char *b, size_t n) {
  if (n < 64 || le(b + 8, 4) != 2)
    return;
  uint64_t nsym = le(b + 32, 4), count = le(b + 16, 8), block = le(b + 36, 4);
  if (nsym > 100000 || 64 + 16 * nsym > n)
    return;
  put_le64(b + 56, XXH3_64bits_withSeed(b + 64, 16 * nsym, XXH3_64bits(b, 56)));
  uint64_t off = 64 + 16 * nsym;
  if (block == 0 || count > (n - off) / 56)
    return;
  uint64_t nblocks = (count + block - 1) / block;
  if (off + count * 56 + nblocks * 8 != n)
    return;
  for (uint64_t k = 0; k < nblocks; k++) {
    uint64_t first = k * block;
    uint64_t m = count - first < block ? count - first : block;
    put_le64(b + off + count * 56 + 8 * k,
             XXH3_64bits_withSeed(b + off + first * 56, m * 56, k));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  unsigned mode = data[0];
  size_t n = size - 1;
  unsigned char *buf = xmalloc(n ? n : 1);
  if (n)
    memcpy(buf, data + 1, n);
  if (mode & 2)
    seal(buf, n);

  binfile *f = (binfile *)1;
  char err[512];
  int rc =
      binfile_open_mem("fuzz.dtob", buf, n, (mode & 1) ? BINFILE_OPEN_V1 : 0,
                       &f, err, sizeof err);
  if (rc == 0) {
    DTO_ASSERT(f != NULL);
    size_t count = binfile_count(f), nsym = binfile_nsymbols(f);
    DTO_ASSERT(nsym >= 1 && nsym <= BINFILE_MAX_SYMBOLS);
    DTO_ASSERT(binfile_version(f) == 2 ||
               (binfile_version(f) == 1 && (mode & 1)));
    DTO_ASSERT(binfile_dur(f) > 0);
    for (size_t i = 0; i < nsym; i++)
      DTO_ASSERT(symbol_valid(binfile_symbol(f, i)));
    dto_time *last = xmalloc(nsym * sizeof *last);
    for (size_t i = 0; i < nsym; i++)
      last[i] = INT64_MIN;
    dto_time prev = INT64_MIN;
    for (size_t i = 0; i < count; i++) {
      bar b;
      binfile_get(f, i, &b);
      DTO_ASSERT(b.sym < nsym);
      DTO_ASSERT(bar_check(&b) == NULL);
      DTO_ASSERT(market_bar_over(&b) == NULL);
      DTO_ASSERT(b.dur == binfile_dur(f));
      DTO_ASSERT(b.ts >= prev && b.ts > last[b.sym]);
      prev = last[b.sym] = b.ts;
    }
    free(last);
    binfile_free(f);
  } else {
    DTO_ASSERT(rc < 0 && f == NULL);
    DTO_ASSERT(!strncmp(err, "fuzz.dtob: ", 11));
    size_t len = strnlen(err, sizeof err);
    DTO_ASSERT(len < sizeof err);
    for (size_t i = 0; i < len; i++)
      DTO_ASSERT((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
  }
  free(buf);
  return 0;
}
