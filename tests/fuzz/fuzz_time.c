/* fuzz_time.c - libFuzzer harness for the text parsers in core: time_parse,
 * fx_parse and duration_parse.
 *
 * The input goes as exactly its own bytes (in a heap copy of exactly that
 * size, so ASan sees any read past the end) to the length-taking parsers,
 * and NUL-terminated to the C-string ones.  None may crash or trip UBSan; each
 * returns only its documented codes, writes its output only on success, and
 * a success survives a format-and-parse-again round trip.
 */
#include "core/prelude.h"

#include "core/error.h"
#include "core/fx.h"
#include "core/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_time(const char *s, size_t n) {
  dto_time t = 0x5a5a5a5a;
  int rc = time_parse(s, n, &t);
  DTO_ASSERT(rc == 0 || rc == DTO_EPARSE || rc == DTO_ERANGE);
  if (rc) {
    DTO_ASSERT(t == 0x5a5a5a5a);
    return;
  }
  char buf[40], date[16];
  size_t len = time_format(t, buf, sizeof buf);
  DTO_ASSERT(len >= 20 && len < 32 && strlen(buf) == len);
  dto_time back = 0;
  DTO_ASSERT(time_parse(buf, len, &back) == 0 && back == t);
  DTO_ASSERT(time_format_date(t, date, sizeof date) == 10);
  DTO_ASSERT(memcmp(date, buf, 10) == 0);
}

static void check_fx(const char *s, size_t n) {
  fx v = 0x5a5a5a5a;
  int rc = fx_parse(s, n, &v);
  DTO_ASSERT(rc == 0 || rc == DTO_EPARSE || rc == DTO_EOVERFLOW);
  if (rc) {
    DTO_ASSERT(v == 0x5a5a5a5a);
    return;
  }
  DTO_ASSERT(v >= FX_MIN && v <= FX_MAX);
  char buf[FX_STRLEN];
  size_t len = fx_format(v, buf, sizeof buf);
  DTO_ASSERT(len > 0 && len < FX_STRLEN && strlen(buf) == len);
  fx back = 0;
  DTO_ASSERT(fx_parse(buf, len, &back) == 0 && back == v);
  /* Exercise the arithmetic on whatever came out, including extremes. */
  fx out;
  (void)fx_mul(v, v, &out);
  (void)fx_div(FX_ONE, v, &out);
  (void)fx_round_to(v, FX_ONE / 100, FX_ROUND_NEAREST, &out);
  (void)fx_muldiv(v, v, v | 1, FX_ROUND_UP, &out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *exact = malloc(size ? size : 1);
  char *cstr = malloc(size + 1);
  DTO_ASSERT(exact && cstr);
  if (size)
    memcpy(exact, data, size);
  memcpy(cstr, data, size);
  cstr[size] = '\0';
  size_t clen = strlen(cstr);

  check_time(exact, size);
  check_fx(exact, size);

  /* The C-string forms agree with the length forms on the same bytes. */
  dto_time t1 = 1, t2 = 2;
  int rc1 = time_parse_cstr(cstr, &t1), rc2 = time_parse(cstr, clen, &t2);
  DTO_ASSERT(rc1 == rc2 && (rc1 || t1 == t2));
  fx f1 = 1, f2 = 2;
  rc1 = fx_parse_cstr(cstr, &f1);
  rc2 = fx_parse(cstr, clen, &f2);
  DTO_ASSERT(rc1 == rc2 && (rc1 || f1 == f2));

  dto_time d = 0x5a5a5a5a;
  int rc = duration_parse(cstr, &d);
  DTO_ASSERT(rc == 0 || rc == DTO_EPARSE || rc == DTO_ERANGE);
  DTO_ASSERT(rc ? d == 0x5a5a5a5a : d >= 0);

  free(exact);
  free(cstr);
  return 0;
}
