/* test_gen.c - the synthetic feed: determinism (and a recorded hash, so a
 * change to the output is a conscious one), consistency of every bar,
 * sessions only, the volume U-shape, overnight gaps, volatility
 * clustering, and option checks. */
#include "core/prelude.h"

#include "core/error.h"
#include "core/fx.h"
#include "core/timeutil.h"
#include "market/calendar.h"
#include "market/gen.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

static const char *const SYMS[] = {"AAPL", "MSFT", "SPY", "QQQ", "NVDA"};

/* FNV-1a over the fields in a fixed byte order (not the struct, whose
 * padding is unspecified). */
static uint64_t hash_bars(const bar_vec *v) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < v->n; i++) {
    const bar *b = &v->v[i];
    int64_t f[8] = {b->ts,  b->dur,   b->open,       b->high,
                    b->low, b->close, b->volume, (int64_t)b->sym};
    for (int k = 0; k < 8; k++)
      for (int j = 0; j < 8; j++) {
        h ^= (uint64_t)(f[k] >> (8 * j)) & 0xff;
        h *= 1099511628211ULL;
      }
  }
  return h;
}

static void gen_default(bar_vec *v, size_t nsyms, int days) {
  gen_opts o;
  gen_opts_init(&o);
  o.symbols = SYMS;
  o.nsymbols = nsyms;
  o.days = days;
  assert_int_equal(gen_bars(&o, v), 0);
}

static void test_defaults(void **state) {
  (void)state;
  gen_opts o;
  gen_opts_init(&o);
  assert_true(o.seed == 42);
  assert_true(o.start_day == days_from_civil(2025, 1, 6));
  assert_int_equal(o.days, 5);
  assert_true(o.bar_dur == 60 * DTO_NS_PER_SEC);
  assert_null(o.cal);
  assert_null(o.symbols);
}

static void test_determinism(void **state) {
  (void)state;
  bar_vec a = {0}, b = {0};
  gen_default(&a, 5, 5);
  gen_default(&b, 5, 5);
  assert_int_equal(a.n, b.n);
  assert_true(hash_bars(&a) == hash_bars(&b));
  /* Recorded once, on the crypto calendar (whole UTC days, no holiday
   * table): a different value means the generator's output changed.  It
   * must be the same with gcc or clang, at any optimisation level, on any
   * machine. */
  gen_opts o;
  gen_opts_init(&o);
  o.symbols = SYMS;
  o.nsymbols = 5;
  o.cal = calendar_crypto();
  o.days = 2;
  bar_vec e = {0};
  assert_int_equal(gen_bars(&o, &e), 0);
  assert_int_equal(e.n, 2 * 1440 * 5);
  uint64_t h = hash_bars(&e);
  if (h != 0x35ff8b482eda6a91ULL)
    fail_msg("hash of the recorded feed is 0x%016llxULL",
             (unsigned long long)h);
  bar_vec_release(&e);

  /* Another seed gives another feed. */
  gen_opts_init(&o);
  o.symbols = SYMS;
  o.nsymbols = 5;
  o.seed = 43;
  bar_vec c = {0};
  assert_int_equal(gen_bars(&o, &c), 0);
  assert_int_equal(c.n, a.n);
  assert_true(hash_bars(&c) != hash_bars(&a));

  /* A symbol's stream depends on its index only: AAPL alone equals AAPL in
   * the five-symbol feed. */
  bar_vec d = {0};
  gen_default(&d, 1, 5);
  assert_int_equal(d.n * 5, a.n);
  for (size_t i = 0; i < d.n; i++) {
    const bar *x = &d.v[i], *y = &a.v[i * 5];
    assert_int_equal(y->sym, 0);
    assert_true(x->ts == y->ts && x->open == y->open &&
                x->close == y->close && x->volume == y->volume);
  }
  bar_vec_release(&a);
  bar_vec_release(&b);
  bar_vec_release(&c);
  bar_vec_release(&d);
}

static void test_consistent(void **state) {
  (void)state;
  bar_vec v = {0};
  gen_opts o;
  gen_opts_init(&o);
  o.symbols = SYMS;
  o.nsymbols = 5;
  o.days = 20;
  o.seed = 7;
  const calendar *cal = calendar_us_equity();
  assert_int_equal(gen_bars(&o, &v), 0);
  assert_true(v.n > 0);
  for (size_t i = 0; i < v.n; i++) {
    const bar *b = &v.v[i];
    const char *why = bar_check(b);
    if (why)
      fail_msg("bar %zu: %s", i, why);
    assert_true(fx_is_multiple(b->open, FX_ONE / 100));
    assert_true(fx_is_multiple(b->high, FX_ONE / 100));
    assert_true(fx_is_multiple(b->low, FX_ONE / 100));
    assert_true(fx_is_multiple(b->close, FX_ONE / 100));
    assert_true(fx_is_multiple(b->volume, FX_ONE));
    assert_true(b->volume >= FX_ONE);
    assert_true(b->dur == 60 * DTO_NS_PER_SEC);
    assert_true(b->sym < 5);
    /* Inside its day's regular session. */
    session s;
    assert_true(calendar_session(cal, calendar_local_day(cal, b->ts), &s));
    assert_true(b->ts >= s.open);
    assert_true(bar_end(b) <= s.close);
    /* Merged in time order, then symbol order. */
    if (i > 0) {
      const bar *p = &v.v[i - 1];
      assert_true(p->ts < b->ts || (p->ts == b->ts && p->sym < b->sym));
    }
  }
  bar_vec_release(&v);
}

/* Every session of the calendar is covered, holidays skipped, early closes
 * shortened. */
static void test_sessions(void **state) {
  (void)state;
  const calendar *cal = calendar_us_equity();
  gen_opts o;
  gen_opts_init(&o);
  o.symbols = SYMS;
  o.nsymbols = 1;
  o.start_day = days_from_civil(2025, 7, 3); /* early close, then July 4 */
  o.days = 2;
  bar_vec v = {0};
  assert_int_equal(gen_bars(&o, &v), 0);
  session s1, s2;
  assert_true(calendar_session(cal, o.start_day, &s1));
  assert_true(calendar_session(cal, days_from_civil(2025, 7, 7), &s2));
  size_t n1 = (size_t)((s1.close - s1.open) / DTO_NS_PER_MIN);
  size_t n2 = (size_t)((s2.close - s2.open) / DTO_NS_PER_MIN);
  assert_true(s1.early_close);
  assert_int_equal(n1, 210);
  assert_int_equal(n2, 390);
  assert_int_equal(v.n, n1 + n2);
  assert_true(v.v[0].ts == s1.open);
  assert_true(v.v[n1].ts == s2.open); /* Friday July 4 skipped */
  bar_vec_release(&v);

  /* A start on a weekend begins on Monday. */
  o.start_day = days_from_civil(2025, 1, 4);
  o.days = 1;
  assert_int_equal(gen_bars(&o, &v), 0);
  session mon;
  assert_true(calendar_session(cal, days_from_civil(2025, 1, 6), &mon));
  assert_true(v.v[0].ts == mon.open);
  bar_vec_release(&v);

  /* Crypto: whole UTC days; 5-minute bars. */
  o.cal = calendar_crypto();
  o.start_day = days_from_civil(2025, 1, 4);
  o.days = 2;
  o.bar_dur = 5 * DTO_NS_PER_MIN;
  assert_int_equal(gen_bars(&o, &v), 0);
  assert_int_equal(v.n, 2 * 288);
  assert_true(v.v[0].ts == o.start_day * DTO_NS_PER_DAY);
  assert_true(v.v[1].ts - v.v[0].ts == 5 * DTO_NS_PER_MIN);
  bar_vec_release(&v);
}

static void test_volume_u_shape(void **state) {
  (void)state;
  bar_vec v = {0};
  gen_default(&v, 5, 10);
  /* Regular 390-bar sessions: edges are bars 0-29 and 360-389, midday
   * 180-209, per symbol per day. */
  size_t per_day = 390 * 5;
  assert_int_equal(v.n % per_day, 0);
  for (size_t s = 0; s < 5; s++) {
    double edge = 0, mid = 0;
    for (size_t d = 0; d < v.n / per_day; d++)
      for (size_t k = 0; k < 390; k++) {
        const bar *b = &v.v[d * per_day + k * 5 + s];
        assert_int_equal(b->sym, s);
        double vol = fx_to_double(b->volume);
        if (k < 30 || k >= 360)
          edge += vol / 60.0;
        else if (k >= 180 && k < 210)
          mid += vol / 30.0;
      }
    if (!(edge > 2.0 * mid))
      fail_msg("symbol %zu: edge %.0f, midday %.0f", s, edge, mid);
  }
  bar_vec_release(&v);
}

static void test_gaps_and_clustering(void **state) {
  (void)state;
  bar_vec v = {0};
  gen_default(&v, 1, 60);
  /* Intraday a bar opens at the previous close; overnight it gaps. */
  size_t gaps = 0, days = 0, big = 0;
  double sum_abs = 0, sum_prod = 0, sum_a = 0, sum_b = 0, sum_a2 = 0,
         sum_b2 = 0;
  size_t npairs = 0;
  double prev_ar = -1;
  for (size_t i = 1; i < v.n; i++) {
    const bar *p = &v.v[i - 1], *b = &v.v[i];
    double r = fx_to_double(b->close) / fx_to_double(b->open) - 1.0;
    double ar = r < 0 ? -r : r;
    if (b->ts - p->ts > DTO_NS_PER_HOUR) {
      days++;
      double g = fx_to_double(b->open) / fx_to_double(p->close) - 1.0;
      g = g < 0 ? -g : g;
      gaps += g > 0;
      big += g > 0.005;
      sum_abs += g;
      prev_ar = -1;
      continue;
    }
    assert_true(b->open == p->close);
    if (prev_ar >= 0) {
      sum_a += prev_ar;
      sum_b += ar;
      sum_a2 += prev_ar * prev_ar;
      sum_b2 += ar * ar;
      sum_prod += prev_ar * ar;
      npairs++;
    }
    prev_ar = ar;
  }
  assert_int_equal(days, 59);
  assert_true(gaps >= 50);
  assert_true(big >= 5);
  /* Gaps are larger than a typical bar's move. */
  double mean_gap = sum_abs / (double)days;
  double mean_bar = sum_b / (double)npairs;
  if (!(mean_gap > 3.0 * mean_bar))
    fail_msg("mean gap %.5f, mean bar move %.5f", mean_gap, mean_bar);
  /* Clustering: consecutive absolute returns are positively correlated. */
  double n = (double)npairs;
  double cov = sum_prod / n - (sum_a / n) * (sum_b / n);
  double va = sum_a2 / n - (sum_a / n) * (sum_a / n);
  double vb = sum_b2 / n - (sum_b / n) * (sum_b / n);
  double corr = cov / sqrt(va * vb);
  if (!(corr > 0.05))
    fail_msg("abs-return autocorrelation %.3f", corr);
  bar_vec_release(&v);
}

static void test_errors(void **state) {
  (void)state;
  gen_opts o;
  bar_vec v = {0};
  gen_opts_init(&o);
  assert_int_equal(gen_bars(&o, &v), DTO_EINVAL); /* no symbols */
  o.symbols = SYMS;
  o.nsymbols = 1;
  o.days = 0;
  assert_int_equal(gen_bars(&o, &v), DTO_EINVAL);
  o.days = GEN_MAX_DAYS + 1;
  assert_int_equal(gen_bars(&o, &v), DTO_EINVAL);
  o.days = 1;
  o.bar_dur = 0;
  assert_int_equal(gen_bars(&o, &v), DTO_EINVAL);
  o.bar_dur = 1500 * 1000000LL; /* 1.5 s */
  assert_int_equal(gen_bars(&o, &v), DTO_EINVAL);
  o.bar_dur = 60 * DTO_NS_PER_SEC;
  const char *dup[] = {"AAPL", "AAPL"};
  o.symbols = dup;
  o.nsymbols = 2;
  assert_int_equal(gen_bars(&o, &v), DTO_EINVAL);
  const char *bad[] = {"aapl"};
  o.symbols = bad;
  o.nsymbols = 1;
  assert_int_equal(gen_bars(&o, &v), DTO_EINVAL);
  o.symbols = SYMS;
  o.days = GEN_MAX_DAYS;
  o.bar_dur = DTO_NS_PER_SEC;
  assert_int_equal(gen_bars(&o, &v), DTO_ETOOBIG);
  assert_int_equal(v.n, 0);
  bar_vec_release(&v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_consistent),
      cmocka_unit_test(test_sessions),
      cmocka_unit_test(test_volume_u_shape),
      cmocka_unit_test(test_gaps_and_clustering),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests_name("gen", tests, NULL, NULL);
}
