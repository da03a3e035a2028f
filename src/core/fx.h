/* fx.h - fixed-point money, prices and quantities.
 *
 * Every amount in dto's ledger (price, quantity, cash, fee, P&L) is an fx:
 * an int64_t holding the value times 10^8.  Products and quotients go through
 * __int128 and are checked for overflow; rounding is explicit.  double is for
 * analytics only (indicators, Sharpe ratios) and never flows back into the
 * ledger except through fx_from_double() with an explicit rounding rule.
 */
#ifndef DTO_FX_H
#define DTO_FX_H

#include "core/prelude.h"
#include "core/error.h"

typedef int64_t fx;

#define FX_SCALE 100000000LL
#define FX_ONE FX_SCALE
#define FX_DIGITS 8
#define FX_MAX INT64_MAX
#define FX_MIN (-INT64_MAX)
/* Longest text fx_format() writes, with the terminating NUL. */
#define FX_STRLEN 24

enum fx_round {
  FX_ROUND_NEAREST, /* half away from zero */
  FX_ROUND_DOWN,    /* toward negative infinity */
  FX_ROUND_UP,      /* toward positive infinity */
  FX_ROUND_ZERO     /* toward zero (truncate) */
};

/* Whole units to fx.  The caller guarantees |v| < 9.2e10. */
static inline fx fx_from_int(int64_t v) { return v * FX_SCALE; }

/* a*b with an explicit rounding mode. */
int fx_mul_round(fx a, fx b, enum fx_round mode, fx *out);
/* a*b rounded to nearest; DTO_EOVERFLOW when the result does not fit.
 * Inline for its common case on the ledger's hot path, a whole quantity
 * (a a multiple of one unit): the product (a / FX_SCALE) x b is exact, no
 * rounding; anything else, an overflow included, is fx_mul_round's. */
static inline int fx_mul(fx a, fx b, fx *out) {
  fx r;
  if (a % FX_SCALE == 0 && !__builtin_mul_overflow(a / FX_SCALE, b, &r) &&
      r != INT64_MIN) {
    *out = r;
    return 0;
  }
  return fx_mul_round(a, b, FX_ROUND_NEAREST, out);
}
/* a/b rounded to nearest; DTO_EINVAL when b is 0, DTO_EOVERFLOW when the
 * result does not fit. */
int fx_div(fx a, fx b, fx *out);
int fx_div_round(fx a, fx b, enum fx_round mode, fx *out);
/* a+b and a-b, DTO_EOVERFLOW on overflow. */
static inline int fx_add(fx a, fx b, fx *out) {
  fx r;
  if (__builtin_add_overflow(a, b, &r) || r == INT64_MIN)
    return DTO_EOVERFLOW;
  *out = r;
  return 0;
}
static inline int fx_sub(fx a, fx b, fx *out) {
  fx r;
  if (__builtin_sub_overflow(a, b, &r) || r == INT64_MIN)
    return DTO_EOVERFLOW;
  *out = r;
  return 0;
}
/* a*n/d for integers-as-fx scaling, computed in 128 bits (used for bps). */
int fx_muldiv(fx a, int64_t n, int64_t d, enum fx_round mode, fx *out);

/* Round v to a multiple of step (a tick or lot size, > 0) with mode.
 * DTO_EINVAL when step <= 0, DTO_EOVERFLOW when the result does not fit. */
int fx_round_to(fx v, fx step, enum fx_round mode, fx *out);
/* True when v is an exact multiple of step (> 0).  Inline: order checks
 * call it several times per order. */
static inline bool fx_is_multiple(fx v, fx step) {
  return step > 0 && v % step == 0;
}

/* Parse a decimal number ("-12.5", "+3", ".5", "5.", "0.00000001"; "1e3",
 * blanks and an empty string are refused) of exactly len bytes.  Digits past
 * the 8th decimal are rounded half away from zero.  DTO_EPARSE on malformed
 * text (checked first), DTO_EOVERFLOW when the value is beyond
 * [FX_MIN, FX_MAX].  *out is written only on success. */
int fx_parse(const char *s, size_t len, fx *out);
/* Same for a NUL-terminated string. */
int fx_parse_cstr(const char *s, fx *out);

/* Write v in shortest exact decimal form ("12.5", "-0.00000001", "100") to
 * buf (cap >= FX_STRLEN is always enough; a shorter text is cut to cap - 1
 * bytes, and cap 0 writes nothing).  Returns the length written, without
 * the NUL. */
size_t fx_format(fx v, char *buf, size_t cap);
/* The same text without a NUL or a cap, into out (at most FX_STRLEN - 1
 * bytes); returns its length.  For writers that append many numbers: the
 * bytes of out past the text may be written too (all FX_STRLEN are the
 * function's). */
size_t fx_format_raw(fx v, char out[FX_STRLEN]);

/* For analytics only. */
static inline double fx_to_double(fx v) { return (double)v / (double)FX_SCALE; }
/* double to fx, rounded to nearest; DTO_EOVERFLOW for NaN, inf or too large. */
int fx_from_double(double d, fx *out);

static inline fx fx_abs(fx v) { return v < 0 ? -v : v; }
static inline fx fx_min(fx a, fx b) { return a < b ? a : b; }
static inline fx fx_max(fx a, fx b) { return a > b ? a : b; }

#endif
