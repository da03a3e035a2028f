/* fuzz_cloid.c - libFuzzer harness for client order ids: cloid_parse and
 * oms_cloid, each against the other.
 *
 * The input is tried as an id: cloid_parse must never crash or read past
 * it, and whatever it accepts, oms_cloid of the parts writes back byte for
 * byte (format(parse(s)) == s).  The input also builds an id's parts (ids
 * over a-z, 0-9 and '_', a day in years 1..9999, a sequence 1..UINT32_MAX):
 * parse(format(x)) == x.
 */
#include "core/prelude.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "engine/oms.h"
#include "engine/order.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789_";

/* An id of 1..31 characters from the input at *p. */
static void make_id(const uint8_t *data, size_t size, size_t *p, char *out) {
  size_t n = 1 + (*p < size ? data[(*p)++] % (CLOID_ID_MAX - 1) : 0);
  for (size_t i = 0; i < n; i++)
    out[i] = alphabet[(*p < size ? data[(*p)++] : i) % (sizeof alphabet - 1)];
  out[n] = '\0';
}

static uint64_t take(const uint8_t *data, size_t size, size_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v = (v << 8) | (*p < size ? data[(*p)++] : 0);
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The input as an id (NUL-terminated copy; an embedded NUL ends it). */
  char *s = xmalloc(size + 1);
  if (size)
    memcpy(s, data, size);
  s[size] = '\0';
  char a[CLOID_ID_MAX], st[CLOID_ID_MAX], back[CLOID_MAX];
  int64_t day;
  uint32_t seq;
  int rc = cloid_parse(s, a, sizeof a, st, sizeof st, &day, &seq);
  if (rc == 0) {
    DTO_ASSERT(seq >= 1);
    DTO_ASSERT(!strchr(a, '-') && !strchr(st, '-'));
    oms_cloid(back, sizeof back, a, st, day, seq);
    DTO_ASSERT(!strcmp(back, s));
  } else {
    DTO_ASSERT(rc == DTO_EINVAL);
  }
  free(s);

  /* Parts from the input, formatted, parsed back. */
  size_t p = 0;
  char xa[CLOID_ID_MAX], xs[CLOID_ID_MAX];
  make_id(data, size, &p, xa);
  make_id(data, size, &p, xs);
  int64_t lo = days_from_civil(1, 1, 1), hi = days_from_civil(9999, 12, 31);
  int64_t xday =
      lo + (int64_t)(take(data, size, &p, 3) % (uint64_t)(hi - lo + 1));
  uint32_t xseq = (uint32_t)take(data, size, &p, 4);
  if (xseq == 0)
    xseq = 1;
  char id[CLOID_MAX];
  oms_cloid(id, sizeof id, xa, xs, xday, xseq);
  DTO_ASSERT(cloid_parse(id, a, sizeof a, st, sizeof st, &day, &seq) == 0);
  DTO_ASSERT(!strcmp(a, xa) && !strcmp(st, xs));
  DTO_ASSERT(day == xday && seq == xseq);
  return 0;
}
