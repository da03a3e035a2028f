/* test_fx.c - fixed-point money: parsing, shortest formatting, arithmetic
 * with every rounding mode, tick/lot rounding and conversion from double.
 * Expected values are written out by hand, never computed with fx itself. */
#include "core/prelude.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/fx.h"

/* Parse text that must be valid. */
static fx P(const char *s) {
  fx v = 0;
  int rc = fx_parse_cstr(s, &v);
  if (rc)
    fail_msg("fx_parse(\"%s\") = %s", s, dto_errname(rc));
  return v;
}

static void expect_parse(const char *s, fx want) {
  fx v = 12345;
  int rc = fx_parse_cstr(s, &v);
  if (rc || v != want)
    fail_msg("fx_parse(\"%s\"): rc %s value %lld, want %lld", s,
             dto_errname(rc), (long long)v, (long long)want);
}

static void expect_parse_err(const char *s, int want) {
  fx v = 12345;
  int rc = fx_parse_cstr(s, &v);
  if (rc != want)
    fail_msg("fx_parse(\"%s\"): rc %s, want %s", s, dto_errname(rc),
             dto_errname(want));
  assert_int_equal(v, 12345); /* output untouched on failure */
}

static void test_parse_integers(void **state) {
  (void)state;
  expect_parse("0", 0);
  expect_parse("1", 100000000);
  expect_parse("123", 12300000000LL);
  expect_parse("-7", -700000000);
  expect_parse("+1", 100000000);
  expect_parse("-0", 0);
  expect_parse("0000000000000000000000042", 4200000000LL);
  expect_parse("92233720368", 9223372036800000000LL);
  expect_parse("-92233720368", -9223372036800000000LL);
}

static void test_parse_decimals(void **state) {
  (void)state;
  expect_parse("12.5", 1250000000);
  expect_parse("-0.5", -50000000);
  expect_parse(".5", 50000000);
  expect_parse("-.5", -50000000);
  expect_parse("5.", 500000000);
  expect_parse("0.00000001", 1);
  expect_parse("-0.00000001", -1);
  expect_parse("12.34567891", 1234567891);
  expect_parse("0.10", 10000000);
  expect_parse("1.00000000", 100000000);
  expect_parse("92233720368.54775807", INT64_MAX);
  expect_parse("-92233720368.54775807", -INT64_MAX);
  expect_parse("92233720368.547758074999", INT64_MAX);
}

static void test_parse_rounding(void **state) {
  (void)state;
  /* Past the 8th decimal: half away from zero. */
  expect_parse("0.000000005", 1);
  expect_parse("0.0000000049999999", 0);
  expect_parse("-0.000000005", -1);
  expect_parse("-0.0000000049999999", 0);
  expect_parse("1.123456785", 112345679);
  expect_parse("1.1234567849", 112345678);
  expect_parse("-1.123456785", -112345679);
  expect_parse("-1.123456784", -112345678);
  expect_parse("0.000000015", 2);
  expect_parse("0.000000025", 3);
  expect_parse("-0.000000025", -3);
  /* The carry runs into the integer part. */
  expect_parse("0.999999995", 100000000);
  expect_parse("-0.999999995", -100000000);
  expect_parse("9.999999999999999999999", 1000000000);
  /* Only the 9th digit decides. */
  expect_parse("1.00000000499999999999", 100000000);
  expect_parse("1.00000000500000000000", 100000001);
  expect_parse("1.000000009", 100000001);
}

static void test_parse_rejects(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",   "-",    "+",   ".",   "-.",  "+.",  "1e3", "1E3",  "1.2.3",
      " 1", "1 ",   "abc", "1,5", "--1", "+-1", "-+1", "0x10", "1..2",
      "1-", "1.5-", "1.a", "inf", "nan", "\t1", "1\n", "١",    "1_000",
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_parse_err(bad[i], DTO_EPARSE);
}

static void test_parse_overflow(void **state) {
  (void)state;
  expect_parse_err("92233720368.54775808", DTO_EOVERFLOW);
  expect_parse_err("-92233720368.54775808", DTO_EOVERFLOW); /* FX_MIN is -MAX */
  expect_parse_err("92233720368.547758075", DTO_EOVERFLOW); /* rounds over */
  expect_parse_err("92233720369", DTO_EOVERFLOW);
  expect_parse_err("-92233720369", DTO_EOVERFLOW);
  expect_parse_err("100000000000", DTO_EOVERFLOW);
  expect_parse_err("99999999999999999999999999999999999999999", DTO_EOVERFLOW);
  expect_parse_err("-99999999999999999999999999999999999999999.5",
                   DTO_EOVERFLOW);
  /* Malformed beats too big. */
  expect_parse_err("99999999999999999999999x", DTO_EPARSE);
  expect_parse_err("99999999999999999999999.5.", DTO_EPARSE);
}

static void test_parse_len(void **state) {
  (void)state;
  fx v = 0;
  /* Exactly len bytes: the rest of the string is not looked at. */
  assert_int_equal(fx_parse("12345", 3, &v), 0);
  assert_int_equal(v, 12300000000LL);
  assert_int_equal(fx_parse("1.5xyz", 3, &v), 0);
  assert_int_equal(v, 150000000);
  /* An embedded NUL is not the end of the input. */
  assert_int_equal(fx_parse("1\0", 2, &v), DTO_EPARSE);
  assert_int_equal(fx_parse("7", 0, &v), DTO_EPARSE);
}

static void expect_format(fx v, const char *want) {
  char buf[FX_STRLEN];
  size_t n = fx_format(v, buf, sizeof buf);
  assert_string_equal(buf, want);
  assert_int_equal(n, strlen(want));
}

static void test_format(void **state) {
  (void)state;
  expect_format(0, "0");
  expect_format(1, "0.00000001");
  expect_format(-1, "-0.00000001");
  expect_format(100000000, "1");
  expect_format(-100000000, "-1");
  expect_format(1250000000, "12.5");
  expect_format(-50000000, "-0.5");
  expect_format(10000000000LL, "100");
  expect_format(1234567891, "12.34567891");
  expect_format(10000001, "0.10000001");
  expect_format(FX_MAX, "92233720368.54775807");
  expect_format(FX_MIN, "-92233720368.54775807");
  expect_format(INT64_MIN, "-92233720368.54775808");
}

static void test_format_small_buffer(void **state) {
  (void)state;
  char buf[8];
  memset(buf, 'x', sizeof buf);
  assert_int_equal(fx_format(1250000000, buf, 4), 3);
  assert_string_equal(buf, "12.");
  assert_int_equal(buf[4], 'x'); /* nothing past cap */
  assert_int_equal(fx_format(-1, buf, 1), 0);
  assert_string_equal(buf, "");
  buf[0] = 'x';
  assert_int_equal(fx_format(-1, buf, 0), 0); /* nothing written */
  assert_int_equal(buf[0], 'x');
}

/* Shortest form: no trailing zeros after the point, no bare point, no "-0". */
static void check_roundtrip(fx v) {
  char buf[FX_STRLEN];
  size_t n = fx_format(v, buf, sizeof buf);
  assert_int_equal(n, strlen(buf));
  assert_true(n > 0 && n < FX_STRLEN);
  const char *dot = strchr(buf, '.');
  if (dot) {
    assert_true(buf[n - 1] != '0' && buf[n - 1] != '.');
    assert_true(strlen(dot + 1) <= FX_DIGITS);
  }
  if (v == 0)
    assert_string_equal(buf, "0");
  fx back = 0;
  int rc = fx_parse(buf, n, &back);
  if (rc || back != v)
    fail_msg("round trip of %lld via \"%s\": rc %s got %lld", (long long)v, buf,
             dto_errname(rc), (long long)back);
}

static void test_format_roundtrip(void **state) {
  (void)state;
  for (int64_t k = -2000; k <= 2000; k++)
    check_roundtrip(k);
  for (int64_t p = 1;; p *= 10) { /* every power of ten that fits */
    check_roundtrip(p);
    check_roundtrip(-p);
    check_roundtrip(p - 1);
    check_roundtrip(-(p - 1));
    check_roundtrip(p + 1);
    check_roundtrip(-(p + 1));
    if (p > INT64_MAX / 10)
      break;
  }
  check_roundtrip(FX_MAX);
  check_roundtrip(FX_MIN);
  check_roundtrip(FX_MAX - 1);
  check_roundtrip(FX_MIN + 1);
  check_roundtrip(FX_MAX / 2);
  /* A deterministic spread over every magnitude (xorshift64). */
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 50000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int64_t v = (int64_t)(x >> (x % 63)) * ((x & 1) ? -1 : 1);
    if (v == INT64_MIN)
      continue;
    check_roundtrip(v);
  }
}

struct mcase {
  const char *a, *b;
  const char *want[4]; /* NEAREST, DOWN, UP, ZERO */
};

static void test_mul_modes(void **state) {
  (void)state;
  static const struct mcase cases[] = {
      /* 0.5e-8: a tie. */
      {"0.00000001", "0.5", {"0.00000001", "0", "0.00000001", "0"}},
      {"-0.00000001", "0.5", {"-0.00000001", "-0.00000001", "0", "0"}},
      {"0.00000001", "-0.5", {"-0.00000001", "-0.00000001", "0", "0"}},
      {"-0.00000001", "-0.5", {"0.00000001", "0", "0.00000001", "0"}},
      /* 0.3e-8 and 0.7e-8. */
      {"0.00000001", "0.3", {"0", "0", "0.00000001", "0"}},
      {"-0.00000001", "0.3", {"0", "-0.00000001", "0", "0"}},
      {"0.00000001", "0.7", {"0.00000001", "0", "0.00000001", "0"}},
      {"-0.00000001", "0.7", {"-0.00000001", "-0.00000001", "0", "0"}},
      /* 1.23456789 * 1.1 = 1.358024679 */
      {"1.23456789",
       "1.1",
       {"1.35802468", "1.35802467", "1.35802468", "1.35802467"}},
      {"-1.23456789",
       "1.1",
       {"-1.35802468", "-1.35802468", "-1.35802467", "-1.35802467"}},
      /* Exact products are the same in every mode. */
      {"454", "11.5", {"5221", "5221", "5221", "5221"}},
      {"-454", "11.5", {"-5221", "-5221", "-5221", "-5221"}},
      {"0.01", "0.01", {"0.0001", "0.0001", "0.0001", "0.0001"}},
      {"100.25", "-4", {"-401", "-401", "-401", "-401"}},
      {"0", "-123.45", {"0", "0", "0", "0"}},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++) {
    for (int m = 0; m < 4; m++) {
      fx out = 0;
      int rc =
          fx_mul_round(P(cases[i].a), P(cases[i].b), (enum fx_round)m, &out);
      if (rc || out != P(cases[i].want[m]))
        fail_msg("%s * %s mode %d: rc %d got %lld want %s", cases[i].a,
                 cases[i].b, m, rc, (long long)out, cases[i].want[m]);
    }
    fx out = 0;
    assert_int_equal(fx_mul(P(cases[i].a), P(cases[i].b), &out), 0);
    assert_int_equal(out, P(cases[i].want[0]));
  }
}

static void test_mul_overflow(void **state) {
  (void)state;
  fx out = 777;
  assert_int_equal(fx_mul(FX_MAX, 2 * FX_ONE, &out), DTO_EOVERFLOW);
  assert_int_equal(fx_mul(P("1000000"), P("1000000"), &out), DTO_EOVERFLOW);
  assert_int_equal(fx_mul(P("-1000000"), P("1000000"), &out), DTO_EOVERFLOW);
  assert_int_equal(fx_mul(FX_MIN, FX_MIN, &out), DTO_EOVERFLOW);
  assert_int_equal(out, 777);
  assert_int_equal(fx_mul(FX_MAX, FX_ONE, &out), 0);
  assert_int_equal(out, FX_MAX);
  assert_int_equal(fx_mul(FX_MAX, -FX_ONE, &out), 0);
  assert_int_equal(out, FX_MIN);
  /* 303700.0497 squared is just under the limit. */
  assert_int_equal(fx_mul(P("303700"), P("303700"), &out), 0);
  assert_int_equal(out, P("92233690000"));
}

/* A slow, obviously right a*b/10^8 in 128 bits, to check fx_mul_round's
 * split-multiply against. */
static int ref_mul(fx a, fx b, enum fx_round mode, fx *out) {
  __int128 n = (__int128)a * b, q = n / FX_SCALE, r = n % FX_SCALE;
  if (r) {
    __int128 ar = r < 0 ? -r : r;
    switch (mode) {
    case FX_ROUND_NEAREST:
      if (2 * ar >= FX_SCALE)
        q += n < 0 ? -1 : 1;
      break;
    case FX_ROUND_DOWN:
      if (n < 0)
        q -= 1;
      break;
    case FX_ROUND_UP:
      if (n > 0)
        q += 1;
      break;
    case FX_ROUND_ZERO:
      break;
    }
  }
  if (q > FX_MAX || q < FX_MIN)
    return DTO_EOVERFLOW;
  *out = (fx)q;
  return 0;
}

static void test_mul_reference(void **state) {
  (void)state;
  static const fx edge[] = {0,
                            1,
                            -1,
                            FX_SCALE - 1,
                            FX_SCALE,
                            FX_SCALE + 1,
                            FX_SCALE / 2,
                            303700049997LL, /* ~sqrt(FX_MAX) in fx */
                            303700049998LL,
                            FX_MAX,
                            FX_MAX - 1,
                            FX_MAX / FX_SCALE,
                            INT64_MIN,
                            FX_MIN};
  uint64_t x = 0x853c49e6748fea9bULL;
  for (int i = 0; i < 200000; i++) {
    fx a, b;
    if (i < (int)(DTO_ARRAY_LEN(edge) * DTO_ARRAY_LEN(edge))) {
      a = edge[i % DTO_ARRAY_LEN(edge)];
      b = edge[i / DTO_ARRAY_LEN(edge)];
      if (i & 1)
        a = a == INT64_MIN ? a : -a;
    } else {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      a = (fx)(x >> (x % 64));
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b = (fx)(x >> (x % 64));
      if ((x & 0x300) == 0x100 && a != INT64_MIN) /* every sign pairing */
        a = -a;
      else if ((x & 0x300) == 0x200 && b != INT64_MIN)
        b = -b;
      else if ((x & 0x300) == 0x300 && a != INT64_MIN && b != INT64_MIN) {
        a = -a;
        b = -b;
      }
    }
    for (int m = 0; m < 4; m++) {
      fx got = 777, want = 777;
      int rc = fx_mul_round(a, b, (enum fx_round)m, &got);
      int wrc = ref_mul(a, b, (enum fx_round)m, &want);
      if (rc != wrc || got != want)
        fail_msg("fx_mul_round(%lld, %lld, mode %d): rc %d got %lld, want rc "
                 "%d %lld",
                 (long long)a, (long long)b, m, rc, (long long)got, wrc,
                 (long long)want);
    }
  }
}

static void test_div_modes(void **state) {
  (void)state;
  static const struct mcase cases[] = {
      {"1", "3", {"0.33333333", "0.33333333", "0.33333334", "0.33333333"}},
      {"2", "3", {"0.66666667", "0.66666666", "0.66666667", "0.66666666"}},
      {"-2", "3", {"-0.66666667", "-0.66666667", "-0.66666666", "-0.66666666"}},
      {"2", "-3", {"-0.66666667", "-0.66666667", "-0.66666666", "-0.66666666"}},
      {"-2", "-3", {"0.66666667", "0.66666666", "0.66666667", "0.66666666"}},
      {"1", "-3", {"-0.33333333", "-0.33333334", "-0.33333333", "-0.33333333"}},
      /* Ties. */
      {"0.00000001", "2", {"0.00000001", "0", "0.00000001", "0"}},
      {"-0.00000001", "2", {"-0.00000001", "-0.00000001", "0", "0"}},
      {"0.00000001", "-2", {"-0.00000001", "-0.00000001", "0", "0"}},
      /* Exact. */
      {"5221", "11.5", {"454", "454", "454", "454"}},
      {"-5221", "11.5", {"-454", "-454", "-454", "-454"}},
      {"1", "0.00000001", {"100000000", "100000000", "100000000", "100000000"}},
      {"0", "-7", {"0", "0", "0", "0"}},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++) {
    for (int m = 0; m < 4; m++) {
      fx out = 0;
      int rc =
          fx_div_round(P(cases[i].a), P(cases[i].b), (enum fx_round)m, &out);
      if (rc || out != P(cases[i].want[m]))
        fail_msg("%s / %s mode %d: rc %d got %lld want %s", cases[i].a,
                 cases[i].b, m, rc, (long long)out, cases[i].want[m]);
    }
    fx out = 0;
    assert_int_equal(fx_div(P(cases[i].a), P(cases[i].b), &out), 0);
    assert_int_equal(out, P(cases[i].want[0]));
  }
}

static void test_div_errors(void **state) {
  (void)state;
  fx out = 777;
  assert_int_equal(fx_div(FX_ONE, 0, &out), DTO_EINVAL);
  assert_int_equal(fx_div_round(0, 0, FX_ROUND_UP, &out), DTO_EINVAL);
  assert_int_equal(fx_div(FX_MAX, P("0.5"), &out), DTO_EOVERFLOW);
  assert_int_equal(fx_div(P("1000000"), P("0.00000001"), &out), DTO_EOVERFLOW);
  assert_int_equal(fx_div(FX_MIN, 1, &out), DTO_EOVERFLOW);
  assert_int_equal(out, 777);
  assert_int_equal(fx_div(FX_MAX, FX_ONE, &out), 0);
  assert_int_equal(out, FX_MAX);
  assert_int_equal(fx_div(FX_MAX, -FX_ONE, &out), 0);
  assert_int_equal(out, FX_MIN);
}

/* Division by whole numbers of units (fx_div_round's 64-bit path) against
 * the rule worked out in 128 bits here: a x 10^8 / b, rounded by mode,
 * refused outside [FX_MIN, FX_MAX]; random and extreme dividends, divisors
 * of every size and sign, every mode. */
static int div_reference(fx a, fx b, enum fx_round mode, fx *out) {
  __int128 n = (__int128)a * FX_SCALE, d = b;
  if (d < 0) {
    n = -n;
    d = -d;
  }
  __int128 q = n / d, r = n % d;
  if (r != 0) {
    __int128 ar = r < 0 ? -r : r;
    if (mode == FX_ROUND_NEAREST && 2 * ar >= d)
      q += n < 0 ? -1 : 1;
    else if (mode == FX_ROUND_DOWN && n < 0)
      q -= 1;
    else if (mode == FX_ROUND_UP && n > 0)
      q += 1;
  }
  if (q > FX_MAX || q < FX_MIN)
    return DTO_EOVERFLOW;
  *out = (fx)q;
  return 0;
}

static void test_div_whole(void **state) {
  (void)state;
  static const fx ends[] = {0, 1, -1, INT64_MAX, INT64_MIN, INT64_MIN + 1,
                            FX_ONE / 2, -FX_ONE / 2, 3, -3};
  uint64_t s = 0x2545f4914f6cdd1dULL;
  for (int i = 0; i < 400000; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    fx a = i < 200 ? ends[i % DTO_ARRAY_LEN(ends)]
                   : (fx)(s >> (s % 64)) * ((s >> 8 & 1) ? -1 : 1);
    int64_t k = (int64_t)((s >> 20) % (i & 1 ? 7 : 92233720368LL)) + 1;
    if (s >> 63)
      k = -k;
    fx b = k * FX_SCALE;
    for (int m = FX_ROUND_NEAREST; m <= FX_ROUND_ZERO; m++) {
      fx got = 777, want = 777;
      int rg = fx_div_round(a, b, (enum fx_round)m, &got);
      int rw = div_reference(a, b, (enum fx_round)m, &want);
      if (rg != rw || got != want)
        fail_msg("fx_div_round(%lld, %lld, %d): rc %d %lld, reference rc %d "
                 "%lld",
                 (long long)a, (long long)b, m, rg, (long long)got, rw,
                 (long long)want);
    }
  }
}

static void test_add_sub(void **state) {
  (void)state;
  fx out = 0;
  assert_int_equal(fx_add(P("1.5"), P("-2.25"), &out), 0);
  assert_int_equal(out, P("-0.75"));
  assert_int_equal(fx_sub(P("1.5"), P("-2.25"), &out), 0);
  assert_int_equal(out, P("3.75"));
  assert_int_equal(fx_add(FX_MAX - 1, 1, &out), 0);
  assert_int_equal(out, FX_MAX);
  out = 777;
  assert_int_equal(fx_add(FX_MAX, 1, &out), DTO_EOVERFLOW);
  assert_int_equal(fx_sub(FX_MIN, 1, &out), DTO_EOVERFLOW);
  assert_int_equal(fx_sub(0, INT64_MIN, &out), DTO_EOVERFLOW);
  assert_int_equal(out, 777);
}

static void test_muldiv(void **state) {
  (void)state;
  fx out = 0;
  /* 25 bps of 100 = 0.25. */
  assert_int_equal(fx_muldiv(P("100"), 25, 10000, FX_ROUND_NEAREST, &out), 0);
  assert_int_equal(out, P("0.25"));
  /* 1e-8 / 3 */
  static const struct {
    fx a;
    int64_t n, d;
    fx want[4];
  } cases[] = {
      {1, 1, 3, {0, 0, 1, 0}},
      {-1, 1, 3, {0, -1, 0, 0}},
      {1, 2, 3, {1, 0, 1, 0}},
      {1, 1, 2, {1, 0, 1, 0}},
      {1, 1, -2, {-1, -1, 0, 0}},
      {-1, -1, -2, {-1, -1, 0, 0}},
      {-1, -1, 2, {1, 0, 1, 0}},
      {0, 0, 1, {0, 0, 0, 0}},
      {5, 0, -1, {0, 0, 0, 0}},
      {FX_MAX, INT64_MAX, INT64_MAX, {FX_MAX, FX_MAX, FX_MAX, FX_MAX}},
      {FX_MAX, INT64_MIN, INT64_MIN, {FX_MAX, FX_MAX, FX_MAX, FX_MAX}},
      {700, 3, 7, {300, 300, 300, 300}},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++)
    for (int m = 0; m < 4; m++) {
      out = 777;
      int rc =
          fx_muldiv(cases[i].a, cases[i].n, cases[i].d, (enum fx_round)m, &out);
      if (rc || out != cases[i].want[m])
        fail_msg("muldiv case %zu mode %d: rc %d got %lld want %lld", i, m, rc,
                 (long long)out, (long long)cases[i].want[m]);
    }
  out = 777;
  assert_int_equal(fx_muldiv(FX_ONE, 1, 0, FX_ROUND_NEAREST, &out), DTO_EINVAL);
  assert_int_equal(fx_muldiv(FX_MAX, 2, 1, FX_ROUND_NEAREST, &out),
                   DTO_EOVERFLOW);
  assert_int_equal(fx_muldiv(FX_MAX, INT64_MAX, 1, FX_ROUND_ZERO, &out),
                   DTO_EOVERFLOW);
  assert_int_equal(fx_muldiv(FX_MIN, 1, -1, FX_ROUND_ZERO, &out), 0);
  assert_int_equal(out, FX_MAX);
}

struct rcase {
  const char *v, *step;
  const char *want[4]; /* NEAREST, DOWN, UP, ZERO */
};

static void test_round_to(void **state) {
  (void)state;
  static const struct rcase cases[] = {
      /* Price ticks. */
      {"1.234", "0.01", {"1.23", "1.23", "1.24", "1.23"}},
      {"1.235", "0.01", {"1.24", "1.23", "1.24", "1.23"}},
      {"1.236", "0.01", {"1.24", "1.23", "1.24", "1.23"}},
      {"-1.234", "0.01", {"-1.23", "-1.24", "-1.23", "-1.23"}},
      {"-1.235", "0.01", {"-1.24", "-1.24", "-1.23", "-1.23"}},
      {"1.23", "0.01", {"1.23", "1.23", "1.23", "1.23"}},
      {"-1.23", "0.01", {"-1.23", "-1.23", "-1.23", "-1.23"}},
      {"0.0001", "0.0005", {"0", "0", "0.0005", "0"}},
      {"10.37", "0.25", {"10.25", "10.25", "10.5", "10.25"}},
      /* Lots. */
      {"250", "100", {"300", "200", "300", "200"}},
      {"-250", "100", {"-300", "-300", "-200", "-200"}},
      {"249", "100", {"200", "200", "300", "200"}},
      {"0.5", "1", {"1", "0", "1", "0"}},
      {"-0.5", "1", {"-1", "-1", "0", "0"}},
      {"0", "100", {"0", "0", "0", "0"}},
      {"0.00000001",
       "0.00000001",
       {"0.00000001", "0.00000001", "0.00000001", "0.00000001"}},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++)
    for (int m = 0; m < 4; m++) {
      fx out = 0;
      int rc =
          fx_round_to(P(cases[i].v), P(cases[i].step), (enum fx_round)m, &out);
      if (rc || out != P(cases[i].want[m]))
        fail_msg("round_to(%s, %s) mode %d: rc %d got %lld want %s", cases[i].v,
                 cases[i].step, m, rc, (long long)out, cases[i].want[m]);
      assert_true(fx_is_multiple(out, P(cases[i].step)));
    }
}

static void test_round_to_errors(void **state) {
  (void)state;
  fx out = 777;
  assert_int_equal(fx_round_to(FX_ONE, 0, FX_ROUND_NEAREST, &out), DTO_EINVAL);
  assert_int_equal(fx_round_to(FX_ONE, -1, FX_ROUND_NEAREST, &out), DTO_EINVAL);
  assert_int_equal(fx_round_to(FX_ONE, FX_MIN, FX_ROUND_DOWN, &out),
                   DTO_EINVAL);
  /* 92233720368.54775807 up to a whole unit does not fit. */
  assert_int_equal(fx_round_to(FX_MAX, FX_ONE, FX_ROUND_UP, &out),
                   DTO_EOVERFLOW);
  assert_int_equal(fx_round_to(FX_MAX, FX_ONE, FX_ROUND_NEAREST, &out),
                   DTO_EOVERFLOW);
  assert_int_equal(fx_round_to(FX_MIN, FX_ONE, FX_ROUND_DOWN, &out),
                   DTO_EOVERFLOW);
  assert_int_equal(out, 777);
  assert_int_equal(fx_round_to(FX_MAX, FX_ONE, FX_ROUND_DOWN, &out), 0);
  assert_int_equal(out, P("92233720368"));
  assert_int_equal(fx_round_to(FX_MIN, FX_ONE, FX_ROUND_ZERO, &out), 0);
  assert_int_equal(out, P("-92233720368"));
  assert_int_equal(fx_round_to(FX_MAX, FX_MAX, FX_ROUND_UP, &out), 0);
  assert_int_equal(out, FX_MAX);
}

/* A multiple of step leaves fx_round_to as it came, in every mode, or is
 * refused: the paper exchange's volume cap skips the call for a multiple
 * of the lot (match.c, available), and a refusal keeps the cap unchanged
 * there too.  Random and extreme values and steps. */
static void test_round_to_multiple(void **state) {
  (void)state;
  static const fx ends[] = {0, 1, -1, INT64_MAX, INT64_MIN, INT64_MIN + 1,
                            FX_ONE, -FX_ONE, FX_MAX, FX_MIN};
  uint64_t s = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 400000; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    fx v = i < 200 ? ends[i % DTO_ARRAY_LEN(ends)]
                   : (fx)(s >> (s % 64)) * ((s >> 8 & 1) ? -1 : 1);
    fx step = i & 1 ? (fx)((s >> 16) % 1000) * (FX_ONE / 100)
                    : (fx)(s >> (32 + s % 32)) - 1;
    if (i % 3 == 0 && step > 0) /* make v a multiple */
      v = (v / step) * step;
    for (int m = FX_ROUND_NEAREST; m <= FX_ROUND_ZERO; m++) {
      fx r = 777;
      int rc = fx_round_to(v, step, (enum fx_round)m, &r);
      bool kept = rc != 0 || r == v; /* the cap the caller keeps */
      /* a multiple, in 128 bits: some integer times step is v */
      bool multiple =
          step > 0 && (__int128)v / step * step == (__int128)v;
      if (fx_is_multiple(v, step) != multiple ||
          (fx_is_multiple(v, step) && !kept))
        fail_msg("fx_round_to(%lld, %lld, %d): rc %d %lld", (long long)v,
                 (long long)step, m, rc, (long long)r);
    }
  }
}

static void test_is_multiple(void **state) {
  (void)state;
  assert_true(fx_is_multiple(P("1.23"), P("0.01")));
  assert_false(fx_is_multiple(P("1.235"), P("0.01")));
  assert_true(fx_is_multiple(P("-1.23"), P("0.01")));
  assert_false(fx_is_multiple(P("-1.235"), P("0.01")));
  assert_true(fx_is_multiple(0, P("0.01")));
  assert_true(fx_is_multiple(P("300"), P("100")));
  assert_false(fx_is_multiple(P("301"), P("100")));
  assert_true(fx_is_multiple(INT64_MIN, 1));
  assert_true(fx_is_multiple(FX_MAX, FX_MAX));
  assert_false(fx_is_multiple(P("1"), 0));
  assert_false(fx_is_multiple(P("1"), -1));
  assert_false(fx_is_multiple(0, -FX_ONE));
}

static void test_from_double(void **state) {
  (void)state;
  static const struct {
    double d;
    fx want;
  } cases[] = {
      {0.0, 0},
      {-0.0, 0},
      {1.5, 150000000},
      {-1.5, -150000000},
      {0.1, 10000000},
      {1e-8, 1},
      {-1e-8, -1},
      {0.4e-8, 0},
      {0.6e-8, 1},
      {-0.6e-8, -1},
      {0.001953125, 195313}, /* 2^-9 * 1e8 = 195312.5 exactly: away */
      {-0.001953125, -195313},
      {3.0517578125e-05, 3052}, /* 3051.7578125 */
      {123.456789014, 12345678901},
      {91000000000.0, 9100000000000000000LL},
      {-91000000000.0, -9100000000000000000LL},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++) {
    fx out = 777;
    int rc = fx_from_double(cases[i].d, &out);
    if (rc || out != cases[i].want)
      fail_msg("fx_from_double(%.17g): rc %d got %lld want %lld", cases[i].d,
               rc, (long long)out, (long long)cases[i].want);
  }
  static const double bad[] = {NAN,           -NAN,           INFINITY,
                               -INFINITY,     1e11,           -1e11,
                               92233720368.6, -92233720368.6, 1e300};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    fx out = 777;
    assert_int_equal(fx_from_double(bad[i], &out), DTO_EOVERFLOW);
    assert_int_equal(out, 777);
  }
  assert_true(fx_to_double(P("12.5")) == 12.5);
  assert_true(fx_to_double(P("-0.25")) == -0.25);
}

/* fx_mul's inline path for whole quantities against the reference, over
 * whole a of every magnitude (overflows and the extremes included). */
static void test_mul_whole(void **state) {
  (void)state;
  uint64_t s = 12345;
  for (size_t i = 0; i < 1000000; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t z = s ^ (s >> 29);
    fx a = (fx)((z >> (i % 37 + 27)) * (uint64_t)FX_SCALE);
    fx b = (fx)(z >> (i % 50));
    if (i & 1)
      a = -a;
    if (i & 2)
      b = -b;
    if (i % 1000 == 0)
      b = i & 4 ? INT64_MIN : INT64_MAX;
    if (i % 1000 == 1)
      a = -92233720368 * FX_SCALE, b = FX_SCALE; /* near INT64_MIN */
    fx got = 7, want = 7;
    int rg = fx_mul(a, b, &got), rw = ref_mul(a, b, FX_ROUND_NEAREST, &want);
    if (rg != rw || (rg == 0 && got != want))
      fail_msg("fx_mul(%lld, %lld): rc %d %lld, reference rc %d %lld",
               (long long)a, (long long)b, rg, (long long)got, rw,
               (long long)want);
  }
}

/* fx_format against an independent reference written with snprintf:
 * integer part and 8 fraction digits, trailing zeros dropped, over random
 * values of the whole range (negatives, zero, the extremes). */
static void reference_fx(fx v, char *buf, size_t cap) {
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  int n = snprintf(buf, cap, "%s%llu.%08llu", v < 0 ? "-" : "",
                   (unsigned long long)(u / 100000000ULL),
                   (unsigned long long)(u % 100000000ULL));
  while (n > 0 && buf[n - 1] == '0')
    buf[--n] = '\0';
  if (n > 0 && buf[n - 1] == '.')
    buf[--n] = '\0';
}

static void test_format_vs_snprintf(void **state) {
  (void)state;
  uint64_t s = 987654321;
  static const fx fixed[] = {0, 1, -1, INT64_MAX, INT64_MIN, INT64_MIN + 1,
                             100000000, -100000000, 99999999, -50000000};
  for (size_t i = 0; i < 2000000; i++) {
    fx v;
    if (i < DTO_ARRAY_LEN(fixed)) {
      v = fixed[i];
    } else {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      uint64_t z = s ^ (s >> 31);
      v = (fx)(z >> (i % 40)); /* small and large magnitudes */
      static const fx p10[] = {1,         10,         100,
                               1000,      10000,      100000,
                               1000000,   10000000,   100000000};
      if (i % 3 == 0) /* fractions with trailing zeros */
        v -= v % p10[(i / 3) % 9];
      if (i & 1)
        v = -v;
    }
    char got[FX_STRLEN], want[40];
    size_t n = fx_format(v, got, sizeof got);
    reference_fx(v, want, sizeof want);
    if (strcmp(got, want) || n != strlen(want))
      fail_msg("fx_format(%lld) = '%s', snprintf says '%s'", (long long)v,
               got, want);
    /* the raw form stores whole words: within its FX_STRLEN bytes (the
     * sanitizers see a byte past them) */
    char raw[FX_STRLEN];
    n = fx_format_raw(v, raw);
    if (n != strlen(want) || memcmp(raw, want, n))
      fail_msg("fx_format_raw(%lld) = '%.*s', snprintf says '%s'", (long long)v,
               (int)n, raw, want);
  }
}

/* fx_format_raw divides inside the lanes of a word by multiplying with
 * reciprocals; they are exact over the ranges it uses them on. */
static void test_format_reciprocals(void **state) {
  (void)state;
  for (uint64_t n = 0; n < 10000; n++)
    if ((n * 10486 >> 20) != n / 100)
      fail_msg("%llu / 100", (unsigned long long)n);
  for (uint64_t n = 0; n < 100; n++)
    if ((n * 103 >> 10) != n / 10)
      fail_msg("%llu / 10", (unsigned long long)n);
  /* the vector form: the high half of a 16-bit product, shifted by 3 */
  for (uint64_t n = 0; n < 10000; n++)
    if (((n * 5243 >> 16) >> 3) != n / 100)
      fail_msg("%llu / 100 (vector)", (unsigned long long)n);
  /* x / 10000 of 32-bit x: at the ends of each quotient's range */
  for (uint64_t q = 0; q <= UINT32_MAX / 10000; q++)
    for (uint64_t n = q * 10000; n <= q * 10000 + 9999 && n <= UINT32_MAX;
         n += 9999)
      if ((n * 0xd1b71759ULL >> 45) != n / 10000)
        fail_msg("%llu / 10000", (unsigned long long)n);
}

/* Every integer part and fraction below 10^8 through fx_format_raw, in
 * steps that visit every digit in every position (a prime step), against
 * snprintf. */
static void test_format_digits(void **state) {
  (void)state;
  for (uint64_t x = 0; x < 100000000; x += 997) {
    fx vs[2] = {(fx)x * FX_SCALE + (fx)(99999999 - x),
                (fx)(x % 1000) * FX_SCALE + (fx)x};
    for (int k = 0; k < 2; k++) {
      char got[FX_STRLEN], want[40];
      reference_fx(vs[k], want, sizeof want);
      size_t n = fx_format_raw(vs[k], got);
      if (n != strlen(want) || memcmp(got, want, n))
        fail_msg("fx_format_raw(%lld) = '%.*s', snprintf says '%s'",
                 (long long)vs[k], (int)n, got, want);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_integers),
      cmocka_unit_test(test_parse_decimals),
      cmocka_unit_test(test_parse_rounding),
      cmocka_unit_test(test_parse_rejects),
      cmocka_unit_test(test_parse_overflow),
      cmocka_unit_test(test_parse_len),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_format_small_buffer),
      cmocka_unit_test(test_format_roundtrip),
      cmocka_unit_test(test_mul_modes),
      cmocka_unit_test(test_mul_overflow),
      cmocka_unit_test(test_mul_reference),
      cmocka_unit_test(test_mul_whole),
      cmocka_unit_test(test_div_modes),
      cmocka_unit_test(test_div_errors),
      cmocka_unit_test(test_div_whole),
      cmocka_unit_test(test_add_sub),
      cmocka_unit_test(test_muldiv),
      cmocka_unit_test(test_round_to),
      cmocka_unit_test(test_round_to_errors),
      cmocka_unit_test(test_round_to_multiple),
      cmocka_unit_test(test_is_multiple),
      cmocka_unit_test(test_from_double),
      cmocka_unit_test(test_format_vs_snprintf),
      cmocka_unit_test(test_format_reciprocals),
      cmocka_unit_test(test_format_digits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
