/* fx.c - fixed-point arithmetic with explicit rounding and overflow checks. */
#include "core/fx.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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


/* The quotient q of v / d (d > 0), truncated, with its remainder r, moved
 * by mode: one rounding rule for the 64-bit divisions (fx_round_to's, and
 * fx_div_round's by whole units).  q moves by one only when r != 0. */
static inline int64_t round_quotient(int64_t v, int64_t d, int64_t q,
                                     int64_t r, enum fx_round mode) {
  if (r == 0)
    return q;
  switch (mode) {
  case FX_ROUND_NEAREST: {
    int64_t ar = r < 0 ? -r : r;
    return ar >= d - ar ? q + (v < 0 ? -1 : 1) : q;
  }
  case FX_ROUND_DOWN:
    return v < 0 ? q - 1 : q;
  case FX_ROUND_UP:
    return v > 0 ? q + 1 : q;
  case FX_ROUND_ZERO:
  default:
    return q;
  }
}

/* fx_div_round by a whole number k of units (b = k x S, S = 10^8, as the
 * quantities of orders in lots of one): (a x S) / (k x S) has the quotient
 * of a / k and a remainder S times a / k's, so the same rounding; in 64
 * bits.  |a| <= INT64_MAX, so the quotient fits, and it moves by one only
 * when |k| >= 2, where it is at most INT64_MAX / 2. */
static fx div_whole(fx a, int64_t k, enum fx_round mode) {
  if (k < 0) {
    a = -a;
    k = -k;
  }
  return round_quotient(a, k, a / k, a % k, mode);
}

int fx_div_round(fx a, fx b, enum fx_round mode, fx *out) {
  if (b == 0)
    return DTO_EINVAL;
  if (b % FX_SCALE == 0 && a != INT64_MIN) {
    *out = div_whole(a, b / FX_SCALE, mode);
    return 0;
  }
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
  int64_t q = round_quotient(v, step, v / step, v % step, mode);
  int64_t res;
  if (__builtin_mul_overflow(q, step, &res) || res < FX_MIN)
    return DTO_EOVERFLOW;
  *out = res;
  return 0;
}

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

/* The 8 decimal digits of x < 10^8 as one word: the most significant
 * digit in the lowest byte, so that stored little-endian they read in
 * order; each byte holds 0-9, not yet text.  The digits come in parallel
 * lanes, without a loop: x splits into two halves of 4 digits (32-bit
 * lanes), each half into two pairs (16-bit lanes), each pair into two
 * digits (bytes).  The divisions in the lanes are multiplications by
 * reciprocals, exact in these ranges (n / 100 == (n * 10486) >> 20 for
 * n < 10^4, n / 10 == (n * 103) >> 10 for n < 100: checked for every n by
 * test_fx), and no lane's product reaches the next lane's bits. */
static inline uint64_t digits8(uint32_t x) {
  uint64_t v = (x / 10000) | (uint64_t)(x % 10000) << 32;
  uint64_t q = (v * 10486 >> 20) & 0x0000007F0000007FULL;
  v = q | (v - q * 100) << 16;
  q = (v * 103 >> 10) & 0x000F000F000F000FULL;
  return q | (v - q * 10) << 8;
}

#define ASCII_ZEROS 0x3030303030303030ULL

/* The word's 8 bytes at p, the lowest first. */
static inline void store8(char *p, uint64_t w) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  memcpy(p, &w, 8);
}

/* digits8 of a and of b.  With SSE2 (part of every x86-64), both at once
 * in the lanes of one vector, by the same steps: each value split into
 * two groups of 4 digits (x / 10000 as (x x 0xd1b71759) >> 45, exact for
 * 32-bit x), each group into two of 2 digits (g / 100 as (g x 5243) >> 19,
 * the high half of a 16-bit product shifted by 3; exact for g < 10000),
 * each of those into two digits ((h x 103) >> 10, exact for h < 100); the
 * 16 digit bytes, most significant first, are the two words.
 * test_fx checks the reciprocals and the text against snprintf. */
static inline void digits8x2(uint32_t a, uint32_t b, uint64_t *da,
                             uint64_t *db) {
#ifdef __SSE2__
  __m128i v = _mm_set_epi64x((long long)b, (long long)a);
  __m128i hi = _mm_srli_epi64(
      _mm_mul_epu32(v, _mm_set1_epi32((int)0xd1b71759)), 45);
  __m128i lo = _mm_sub_epi64(v, _mm_mul_epu32(hi, _mm_set1_epi32(10000)));
  /* 32-bit lanes: the groups of 4, a's high, a's low, b's high, b's low */
  __m128i g = _mm_or_si128(hi, _mm_slli_epi64(lo, 32));
  __m128i q = _mm_srli_epi16(_mm_mulhi_epu16(g, _mm_set1_epi16(5243)), 3);
  __m128i r = _mm_sub_epi16(g, _mm_mullo_epi16(q, _mm_set1_epi16(100)));
  /* 16-bit lanes: the groups of 2, in order */
  __m128i h = _mm_or_si128(q, _mm_slli_epi32(r, 16));
  q = _mm_srli_epi16(_mm_mullo_epi16(h, _mm_set1_epi16(103)), 10);
  r = _mm_sub_epi16(h, _mm_mullo_epi16(q, _mm_set1_epi16(10)));
  __m128i d = _mm_or_si128(q, _mm_slli_epi16(r, 8)); /* bytes: the digits */
  uint64_t w[2]; /* x86 is little-endian: byte i of the text is byte i */
  _mm_storeu_si128((__m128i *)w, d);
  *da = w[0];
  *db = w[1];
#else
  *da = digits8(a);
  *db = digits8(b);
#endif
}

/* Reports format an fx per field: the integer part and the fraction are
 * each made 8 digits at a time (digits8x2) and stored as one word; the
 * integer part's leading zeros and the fraction's trailing ones are dropped
 * by counting zero bytes.  A word is stored whole, so bytes past the
 * returned length (within FX_STRLEN) may be written too.  test_fx checks
 * the text against snprintf. */
size_t fx_format_raw(fx v, char out[FX_STRLEN]) {
  if (v == 0) { /* a price or a quantity not set */
    out[0] = '0';
    return 1;
  }
  /* |v| without overflow for INT64_MIN */
  uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
  uint64_t ip = u / FX_SCALE;
  uint32_t fp = (uint32_t)(u % FX_SCALE);
  out[0] = '-';
  size_t n = v < 0;
  /* ip < 2^63 / 10^8 < 10^11: at most 3 digits above the low 8 */
  bool big = ip >= FX_SCALE;
  uint64_t d, f, low = 0;
  if (DTO_LIKELY(!big)) {
    digits8x2((uint32_t)ip, fp, &d, &f);
  } else {
    digits8x2((uint32_t)(ip / FX_SCALE), (uint32_t)(ip % FX_SCALE), &d, &low);
    f = digits8(fp);
  }
  /* the leading digits without their zeros; with the bit of the last
   * digit's byte set, an integer part of 0 is one digit "0" */
  unsigned lz = (unsigned)__builtin_ctzll(d | 1ULL << 56) / 8;
  store8(out + n, d >> 8 * lz | ASCII_ZEROS);
  n += 8 - lz;
  if (DTO_UNLIKELY(big)) { /* then all 8 digits of the low part */
    store8(out + n, low | ASCII_ZEROS);
    n += 8;
  }
  if (fp) { /* the fraction up to its last non-zero digit */
    out[n] = '.';
    store8(out + n + 1, f | ASCII_ZEROS);
    n += 2 + (unsigned)(63 - __builtin_clzll(f)) / 8;
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
