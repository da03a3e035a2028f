/* test_metrics.c - the online performance figures: a sample's inline path
 * (under the peak, above the trough) against the full one, and the
 * drawdown and its duration worked out by hand. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "engine/metrics.h"

#define H(h) ((dto_time)(h)*DTO_NS_PER_HOUR)

/* Every field the samples change, and the figures they give. */
static void expect_same(const metrics_acc *a, const metrics_acc *b, int step) {
  if (a->n != b->n || a->first_t != b->first_t || a->last_t != b->last_t ||
      a->peak_t != b->peak_t || a->longest != b->longest ||
      a->peak != b->peak || a->last_eq != b->last_eq ||
      a->trough != b->trough || a->under != b->under || a->max_dd != b->max_dd)
    fail_msg("step %d: the inline and full samples differ", step);
  metrics ma, mb;
  metrics_acc_result(a, 0, 0, &ma);
  metrics_acc_result(b, 0, 0, &mb);
  if (ma.max_drawdown != mb.max_drawdown ||
      ma.max_dd_duration != mb.max_dd_duration ||
      ma.end_equity != mb.end_equity)
    fail_msg("step %d: the figures differ", step);
}

/* metrics_acc_sample against metrics__sample_slow over random walks that
 * set new peaks, new troughs and stay between them, from a start equity
 * and without one. */
static void test_sample_paths(void **state) {
  (void)state;
  uint64_t x = 0x2545F4914F6CDD1DULL;
  for (int run = 0; run < 20; run++) {
    metrics_acc a, b;
    metrics_acc_init(&a);
    metrics_acc_init(&b);
    fx eq = 1000000 * FX_ONE;
    if (run % 2) {
      metrics_acc_day(&a, eq);
      metrics_acc_day(&b, eq);
    }
    for (int i = 0; i < 20000; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      if (x % 7 != 0) /* often level: no position open */
        eq += (fx)(x >> 40 & 0xFFFFF) * 1000 - 524288000 + run * 1000;
      metrics_acc_sample(&a, H(i), eq);
      metrics__sample_slow(&b, H(i), eq);
      expect_same(&a, &b, i);
    }
  }
}

/* Peak 110 at hour 1, trough 88 at hour 3, back to 110 at hour 5: a
 * drawdown of 22 / 110 = 0.2 that lasted 4 hours; then under again to the
 * end (105 at hour 7: 5 / 115 from the peak 115 at hour 6). */
static void test_drawdown_by_hand(void **state) {
  (void)state;
  static const int64_t eq[] = {100, 110, 99, 88, 95, 110, 115, 105};
  metrics_acc a;
  metrics_acc_init(&a);
  metrics_acc_day(&a, 100 * FX_ONE);
  for (size_t i = 0; i < DTO_ARRAY_LEN(eq); i++)
    metrics_acc_sample(&a, H(i), eq[i] * FX_ONE);
  metrics m;
  metrics_acc_result(&a, 0, 0, &m);
  assert_true(m.max_drawdown > 0.2 - 1e-12 && m.max_drawdown < 0.2 + 1e-12);
  assert_int_equal(m.max_dd_duration, H(4));
  assert_int_equal(a.n, DTO_ARRAY_LEN(eq));
  assert_int_equal(a.peak, 115 * FX_ONE);
  assert_int_equal(m.end_equity, 105 * FX_ONE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample_paths),
      cmocka_unit_test(test_drawdown_by_hand),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
