/* fuzz_alpaca_json.c - libFuzzer harness for the Alpaca REST parsers
 * (broker/alpaca_json.c): orders, positions, fill activities, account,
 * clock, assets, REST bar pages, and the scalar readers alpaca_decimal and
 * alpaca_time.
 *
 * The input goes, as exactly its own bytes in a heap copy of that size (so
 * ASan sees any read past the end), to every parser.  None may crash or trip
 * the sanitizers; each returns 0 or one of its documented codes with a
 * terminated message; every string it fills is terminated within its
 * buffer; a parsed decimal survives fx_format and parsing again.
 */
#include "core/prelude.h"

#include "broker/alpaca_json.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool code_ok(int rc) {
  return rc == 0 || rc == DTO_EPARSE || rc == DTO_ERANGE ||
         rc == DTO_EUNSUPPORTED || rc == DTO_EFULL || rc == DTO_ETOOBIG;
}

static void check_err(int rc, const char *err, size_t cap) {
  DTO_ASSERT(code_ok(rc));
  DTO_ASSERT(strnlen(err, cap) < cap);
  if (rc)
    DTO_ASSERT(err[0] != '\0');
}

#define TERMINATED(a) DTO_ASSERT(memchr((a), '\0', sizeof(a)) != NULL)

static void check_scalars(const char *s, size_t n) {
  fx v = 0x5a5a5a5a;
  int rc = alpaca_decimal(s, n, &v);
  DTO_ASSERT(rc == 0 || rc == DTO_EPARSE || rc == DTO_ERANGE);
  if (rc) {
    DTO_ASSERT(v == 0x5a5a5a5a);
  } else {
    char buf[FX_STRLEN];
    size_t len = fx_format(v, buf, sizeof buf);
    fx back = 0;
    DTO_ASSERT(alpaca_decimal(buf, len, &back) == 0 && back == v);
  }
  dto_time t = 0x5a5a5a5a;
  rc = alpaca_time(s, n, &t);
  DTO_ASSERT(rc == 0 || rc == DTO_EPARSE || rc == DTO_ERANGE);
  if (rc)
    DTO_ASSERT(t == 0x5a5a5a5a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size ? size : 1);
  DTO_ASSERT(s);
  if (size)
    memcpy(s, data, size);
  char err[200];
  check_scalars(s, size);

  alpaca_order o;
  err[0] = '\0';
  int rc = alpaca_order_parse(s, size, &o, err, sizeof err);
  check_err(rc, err, sizeof err);
  if (rc == 0) {
    TERMINATED(o.id);
    TERMINATED(o.client_order_id);
    TERMINATED(o.symbol);
    DTO_ASSERT(o.nlegs <= ALPACA_LEGS_MAX);
    DTO_ASSERT((unsigned)o.status < ALPACA_OS_COUNT);
    broker_open_order b;
    rc = alpaca_order_to_open(&o, &b, err, sizeof err);
    DTO_ASSERT(rc == 0 || rc == DTO_EUNSUPPORTED);
    if (rc == 0)
      DTO_ASSERT(!strcmp(b.cloid, o.client_order_id));
  }

  alpaca_position p;
  rc = alpaca_position_parse(s, size, &p, err, sizeof err);
  check_err(rc, err, sizeof err);
  if (rc == 0)
    DTO_ASSERT(p.side == ALPACA_SHORT ? p.qty <= 0 : p.qty >= 0);

  alpaca_fill_activity f;
  rc = alpaca_fill_activity_parse(s, size, &f, err, sizeof err);
  check_err(rc, err, sizeof err);
  if (rc == 0)
    DTO_ASSERT(f.qty > 0 && f.price > 0 && (unsigned)f.side < SIDE_COUNT);

  alpaca_account a;
  rc = alpaca_account_parse(s, size, &a, err, sizeof err);
  check_err(rc, err, sizeof err);
  alpaca_clock k;
  rc = alpaca_clock_parse(s, size, &k, err, sizeof err);
  check_err(rc, err, sizeof err);
  alpaca_asset as;
  rc = alpaca_asset_parse(s, size, &as, err, sizeof err);
  check_err(rc, err, sizeof err);

  alpaca_bar_row rows[8];
  size_t n = 99;
  char tok[32];
  rc = alpaca_bars_parse(s, size, DTO_NS_PER_MIN, rows, 8, &n, tok, sizeof tok,
                         err, sizeof err);
  check_err(rc, err, sizeof err);
  DTO_ASSERT(n <= 8);
  TERMINATED(tok);
  for (size_t i = 0; rc == 0 && i < n; i++)
    TERMINATED(rows[i].symbol);
  free(s);
  return 0;
}
