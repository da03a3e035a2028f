/* fx.c - fixed-point arithmetic with explicit rounding and overflow checks. */
#include "core/fx.h"

#include <math.h>

#include "core/error.h"

typedef __int128 i128;

/* Divide n by d (d > 0) with a rounding mode. */
static i128 div_round(i128 n, i128 d, enum fx_round mode) {
  i128 q = n / d, r = n % d;
  if (r == 0)
    return q;
  switch (mode) {
  case FX_ROUND_NEAREST: {
    i128 ar = r < 0 ? -r : r;
    if (2 * ar >= d)
      q += (n < 0) ? -1 : 1;
    return q;
  }
  case FX_ROUND_DOWN:
    return n < 0 ? q - 1 : q;
  case FX_ROUND_UP:
    return n > 0 ? q + 1 : q;
  case FX_ROUND_ZERO:
  default:
    return q;
  }
}

static int fit(i128 v, fx *out) {
  if (v > (i128)FX_MAX || v < (i128)FX_MIN)
    return DTO_EOVERFLOW;
  *out = (fx)v;
  return 0;
}

/* a*b/10^8 without a 128-bit division (which compiles to a slow library
 * call): with a = ah*S + al and b = bh*S + bl (S = 10^8, al, bl < S),
 * a*b/S = ah*b + al*bh + al*bl/S, where only the last term, below 10^16,
 * has a fraction.  Computed on magnitudes, then signed and rounded. */
int fx_mul_round(fx a, fx b, enum fx_round mode, fx *out) {
  bool neg = (a < 0) != (b < 0);
  uint64_t ua = a < 0 ? -(uint64_t)a : (uint64_t)a;
  uint64_t ub = b < 0 ? -(uint64_t)b : (uint64_t)b;
  const uint64_t S = (uint64_t)FX_SCALE;
  uint64_t ah = ua / S, al = ua % S, bh = ub / S, bl = ub % S;
  uint64_t low = al * bl, t1, t2, q;
  uint64_t frac = low % S;
  if (__builtin_mul_overflow(ah, ub, &t1) ||
      __builtin_mul_overflow(al, bh, &t2) ||
      __builtin_add_overflow(t1, t2, &q) ||
      __builtin_add_overflow(q, low / S, &q))
    return DTO_EOVERFLOW;
  if (frac) {
    bool up;
    switch (mode) {
    case FX_ROUND_NEAREST:
      up = 2 * frac >= S;
      break;
    case FX_ROUND_DOWN:
      up = neg;
      break;
    case FX_ROUND_UP:
      up = !neg;
      break;
    default:
      up = false;
    }
    if (up && __builtin_add_overflow(q, 1, &q))
      return DTO_EOVERFLOW;
  }
  if (q > (uint64_t)FX_MAX)
    return DTO_EOVERFLOW;
  *out = neg ? -(fx)q : (fx)q;
  return 0;
}


int fx_div_round(fx a, fx b, enum fx_round mode, fx *out) {
  if (b == 0)
    return DTO_EINVAL;
  i128 n = (i128)a * FX_SCALE, d = b;
  if (d < 0) {
    n = -n;
    d = -d;
  }
  return fit(div_round(n, d, mode), out);
}

int fx_div(fx a, fx b, fx *out) {
  return fx_div_round(a, b, FX_ROUND_NEAREST, out);
}


int fx_muldiv(fx a, int64_t n, int64_t d, enum fx_round mode, fx *out) {
  if (d == 0)
    return DTO_EINVAL;
  i128 num = (i128)a * n, den = d;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  return fit(div_round(num, den, mode), out);
}

int fx_round_to(fx v, fx step, enum fx_round mode, fx *out) {
  if (step <= 0)
    return DTO_EINVAL;
  /* 64-bit arithmetic: v and step fit, so do v / step and v % step */
  int64_t q = v / step, r = v % step;
  if (r != 0) {
    switch (mode) {
    case FX_ROUND_NEAREST: {
      int64_t ar = r < 0 ? -r : r;
      if (ar >= step - ar)
        q += v < 0 ? -1 : 1;
      break;
    }
    case FX_ROUND_DOWN:
      if (v < 0)
        q--;
      break;
    case FX_ROUND_UP:
      if (v > 0)
        q++;
      break;
    default:
      break;
    }
  }
  int64_t res;
  if (__builtin_mul_overflow(q, step, &res) || res < FX_MIN)
    return DTO_EOVERFLOW;
  *out = res;
  return 0;
}

bool fx_is_multiple(fx v, fx step) { return step > 0 && v % step == 0; }

int fx_parse(const char *s, size_t len, fx *out) {
  size_t i = 0;
  bool neg = false;
  if (len == 0)
    return DTO_EPARSE;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i++;
  }
  i128 ip = 0;
  bool idigits = false, big = false;
  int fdigits = 0; /* counts to FX_DIGITS + 1, then stays */
  i128 fp = 0;
  bool round_up = false;
  /* Scan to the end even when the value is already too big, so that
   * malformed text is reported as malformed, not as an overflow. */
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    if (!big) {
      ip = ip * 10 + (s[i] - '0');
      big = ip > (i128)FX_MAX / FX_SCALE + 1;
    }
    idigits = true;
  }
  if (i < len && s[i] == '.') {
    i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
      if (fdigits < FX_DIGITS)
        fp = fp * 10 + (s[i] - '0');
      else if (fdigits == FX_DIGITS)
        round_up = s[i] >= '5';
      if (fdigits <= FX_DIGITS)
        fdigits++;
    }
  }
  if (i != len || (!idigits && fdigits == 0))
    return DTO_EPARSE;
  if (big)
    return DTO_EOVERFLOW;
  for (int k = fdigits; k < FX_DIGITS; k++)
    fp *= 10;
  i128 v = ip * FX_SCALE + fp + (round_up ? 1 : 0);
  if (neg)
    v = -v;
  return fit(v, out);
}

int fx_parse_cstr(const char *s, fx *out) { return fx_parse(s, strlen(s), out); }

static const char digit_pairs[201] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of v (>= 1 digit). */
static inline int ndigits(uint64_t v) {
  int n = 1;
  while (v >= 10000) {
    v /= 10000;
    n += 4;
  }
  if (v >= 100) {
    v /= 100;
    n += 2;
  }
  return n + (v >= 10);
}

/* The w = 4 digits of v < 10000 at p. */
static inline void put4(char *p, unsigned v) {
  memcpy(p, digit_pairs + 2 * (v / 100), 2);
  memcpy(p + 2, digit_pairs + 2 * (v % 100), 2);
}

/* Reports format an fx per field: the digits are stored in place, from
 * the right, two at a time (test_fx checks the text against snprintf). */
size_t fx_format_raw(fx v, char out[FX_STRLEN]) {
  /* |v| without overflow for INT64_MIN */
  uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
  uint64_t ip = u / FX_SCALE;
  uint32_t fp = (uint32_t)(u % FX_SCALE);
  size_t n = 0;
  if (v < 0)
    out[n++] = '-';
  int nd = ndigits(ip);
  char *q = out + n + nd;
  n += (size_t)nd;
  while (ip > UINT32_MAX) { /* two digits a step, from the right */
    unsigned k = (unsigned)(ip % 100) * 2;
    ip /= 100;
    q -= 2;
    memcpy(q, digit_pairs + k, 2);
  }
  uint32_t x = (uint32_t)ip; /* the rest in 32-bit arithmetic: cheaper */
  while (x >= 100) {
    unsigned k = (x % 100) * 2;
    x /= 100;
    q -= 2;
    memcpy(q, digit_pairs + k, 2);
  }
  if (x >= 10)
    memcpy(q - 2, digit_pairs + x * 2, 2);
  else
    q[-1] = (char)('0' + x);
  if (fp) {
    /* 8 fraction digits as two groups of four, the trailing zeros
     * dropped */
    char *f = out + n;
    *f++ = '.';
    unsigned hi = fp / 10000, lo = fp % 10000, last;
    put4(f, hi);
    if (lo) {
      put4(f + 4, lo);
      last = lo;
      n += 9;
    } else {
      last = hi;
      n += 5;
    }
    if (last % 100 == 0) { /* at most 3 zeros: last < 10000 */
      last /= 100;
      n -= 2;
    }
    if (last % 10 == 0)
      n--;
  }
  return n;
}

size_t fx_format(fx v, char *buf, size_t cap) {
  char tmp[FX_STRLEN];
  size_t n = fx_format_raw(v, tmp);
  if (cap == 0)
    return 0; /* nothing written */
  size_t w = n < cap - 1 ? n : cap - 1;
  memcpy(buf, tmp, w);
  buf[w] = '\0';
  return w;
}

int fx_from_double(double d, fx *out) {
  if (!isfinite(d))
    return DTO_EOVERFLOW;
  double s = d * (double)FX_SCALE;
  if (s >= 9.2e18 || s <= -9.2e18)
    return DTO_EOVERFLOW;
  *out = (fx)llround(s);
  return 0;
}
