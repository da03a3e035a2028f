/* test_bar_agg.c - session-aligned bar aggregation: OHLCV from trades,
 * alignment to the open, cuts at the close, early closes, daily bars, DST,
 * crypto midnight, out-of-order refusal and bars from bars. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "market/bar_agg.h"

#define SEC DTO_NS_PER_SEC
#define MIN DTO_NS_PER_MIN
#define HOUR DTO_NS_PER_HOUR
#define SYM 7

static int64_t D(int y, int m, int d) { return days_from_civil(y, m, d); }

/* A UTC instant. */
static dto_time U(int y, int m, int d, int h, int mi) {
  return D(y, m, d) * DTO_NS_PER_DAY + h * HOUR + mi * MIN;
}

/* New York wall time on date y-m-d. */
static dto_time NY(int y, int m, int d, int h, int mi) {
  return tz_new_york_to_utc(D(y, m, d), h * 3600 + mi * 60);
}

/* price in cents, size in whole units */
static trade T(dto_time ts, int64_t cents, int64_t size) {
  return (trade){.ts = ts,
                 .price = cents * (FX_ONE / 100),
                 .size = fx_from_int(size),
                 .sym = SYM};
}

static bar_agg *mk(const calendar *c, const char *iv, bool extended) {
  dto_time interval;
  assert_int_equal(interval_parse(iv, &interval), 0);
  bar_agg *a = NULL;
  assert_int_equal(bar_agg_new(c, interval, extended, SYM, &a), 0);
  assert_non_null(a);
  return a;
}

/* Feed a trade that must not complete a bar. */
static void feed_quiet(bar_agg *a, trade t) {
  bar out[1];
  size_t n = 99;
  assert_int_equal(bar_agg_add_trade(a, &t, out, 1, &n), 0);
  assert_int_equal(n, 0);
}

/* Feed a trade that must complete exactly one bar; return it. */
static bar feed_emit(bar_agg *a, trade t) {
  bar out[1];
  size_t n = 99;
  assert_int_equal(bar_agg_add_trade(a, &t, out, 1, &n), 0);
  assert_int_equal(n, 1);
  return out[0];
}

static bar flush_all(bar_agg *a) {
  bar out[1];
  size_t n = 99;
  assert_int_equal(bar_agg_flush(a, INT64_MAX, out, 1, &n), 0);
  assert_int_equal(n, 1);
  return out[0];
}

static void assert_ohlcv(const bar *b, int64_t o, int64_t h, int64_t l,
                         int64_t c, int64_t v) {
  const fx cent = FX_ONE / 100;
  assert_int_equal(b->open, o * cent);
  assert_int_equal(b->high, h * cent);
  assert_int_equal(b->low, l * cent);
  assert_int_equal(b->close, c * cent);
  assert_int_equal(b->volume, fx_from_int(v));
  assert_int_equal(b->sym, SYM);
  assert_null(bar_check(b));
}

static void test_interval_parse(void **state) {
  (void)state;
  static const struct {
    const char *s;
    dto_time v;
  } ok[] = {{"1s", SEC},       {"5s", 5 * SEC},   {"1m", MIN},
            {"5m", 5 * MIN},   {"15m", 15 * MIN}, {"1h", HOUR},
            {"1d", 24 * HOUR}, {"90s", 90 * SEC}, {"86400s", 24 * HOUR}};
  for (size_t i = 0; i < DTO_ARRAY_LEN(ok); i++) {
    dto_time v = 0;
    assert_int_equal(interval_parse(ok[i].s, &v), 0);
    assert_int_equal(v, ok[i].v);
  }
  static const struct {
    const char *s;
    int rc;
  } bad[] = {{"", DTO_EPARSE},
             {"m", DTO_EPARSE},
             {"5", DTO_EPARSE},
             {"1ms", DTO_EPARSE},
             {"1us", DTO_EPARSE},
             {"1.5m", DTO_EPARSE},
             {"1min", DTO_EPARSE},
             {"5 m", DTO_EPARSE},
             {"0s", DTO_ERANGE},
             {"2d", DTO_ERANGE},
             {"86401s", DTO_ERANGE},
             {"-1m", DTO_ERANGE},
             {"111111111111111111111111111111111s", DTO_EPARSE}};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    dto_time v = 12345;
    if (interval_parse(bad[i].s, &v) != bad[i].rc)
      fail_msg("interval_parse(\"%s\") should give %s", bad[i].s,
               dto_errname(bad[i].rc));
    assert_int_equal(v, 12345);
  }
  dto_time v;
  assert_int_equal(interval_parse(NULL, &v), DTO_EINVAL);
}

static void test_new_args(void **state) {
  (void)state;
  bar_agg *a = NULL;
  const calendar *c = calendar_us_equity();
  assert_int_equal(bar_agg_new(NULL, MIN, false, SYM, &a), DTO_EINVAL);
  assert_int_equal(bar_agg_new(c, MIN, false, SYM, NULL), DTO_EINVAL);
  assert_int_equal(bar_agg_new(c, SEC - 1, false, SYM, &a), DTO_ERANGE);
  assert_int_equal(bar_agg_new(c, 24 * HOUR + 1, false, SYM, &a), DTO_ERANGE);
  assert_null(a);
  bar_agg_free(NULL);
}

/* Trades to 1m bars: OHLCV exact, [start, end) boundaries. */
static void test_trades_to_1m(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "1m", false);
  dto_time m0 = U(2024, 1, 10, 14, 30); /* 09:30 EST */
  feed_quiet(a, T(m0 + SEC / 2, 10000, 10));
  feed_quiet(a, T(m0 + 10 * SEC, 10100, 5));
  feed_quiet(a, T(m0 + 20 * SEC, 9950, 3));
  feed_quiet(a, T(m0 + MIN - 1, 10010, 1));
  bar b = feed_emit(a, T(m0 + MIN, 10025, 2));
  assert_int_equal(b.ts, m0);
  assert_int_equal(b.dur, MIN);
  assert_ohlcv(&b, 10000, 10100, 9950, 10010, 19);
  /* A gap: no bar for the empty minutes, the next bar starts at 09:34. */
  b = feed_emit(a, T(m0 + 4 * MIN + 30 * SEC, 10050, 4));
  assert_int_equal(b.ts, m0 + MIN);
  assert_ohlcv(&b, 10025, 10025, 10025, 10025, 2);
  b = flush_all(a);
  assert_int_equal(b.ts, m0 + 4 * MIN);
  assert_int_equal(b.dur, MIN);
  assert_ohlcv(&b, 10050, 10050, 10050, 10050, 4);
  /* Nothing left. */
  bar out[1];
  size_t n = 99;
  assert_int_equal(bar_agg_flush(a, INT64_MAX, out, 1, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(bar_agg_ignored(a), 0);
  bar_agg_free(a);
}

/* 5m buckets start at 09:30, not at some clock multiple of the interval
 * (9 minutes makes the difference visible: 09:30, 09:39, 09:48 ...). */
static void test_5m_alignment(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  dto_time s, e;
  assert_int_equal(
      bar_bucket(c, 5 * MIN, false, NY(2024, 1, 10, 9, 34) + 59 * SEC, &s, &e),
      0);
  assert_int_equal(s, NY(2024, 1, 10, 9, 30));
  assert_int_equal(e, NY(2024, 1, 10, 9, 35));
  assert_int_equal(
      bar_bucket(c, 9 * MIN, false, NY(2024, 1, 10, 9, 50), &s, &e), 0);
  assert_int_equal(s, NY(2024, 1, 10, 9, 48));
  assert_int_equal(e, NY(2024, 1, 10, 9, 57));
  /* The last 9-minute bucket is cut at 16:00 (390 = 43*9 + 3). */
  assert_int_equal(
      bar_bucket(c, 9 * MIN, false, NY(2024, 1, 10, 15, 58), &s, &e), 0);
  assert_int_equal(s, NY(2024, 1, 10, 15, 57));
  assert_int_equal(e, NY(2024, 1, 10, 16, 0));
  /* Closed: before the open, after the close, weekend; bad interval. */
  assert_int_equal(
      bar_bucket(c, 5 * MIN, false, NY(2024, 1, 10, 9, 30) - 1, &s, &e),
      DTO_ECLOSED);
  assert_int_equal(
      bar_bucket(c, 5 * MIN, false, NY(2024, 1, 10, 16, 0), &s, &e),
      DTO_ECLOSED);
  assert_int_equal(bar_bucket(c, 5 * MIN, true, NY(2024, 1, 13, 12, 0), &s, &e),
                   DTO_ECLOSED);
  assert_int_equal(bar_bucket(c, 0, false, NY(2024, 1, 10, 12, 0), &s, &e),
                   DTO_ERANGE);

  bar_agg *a = mk(c, "5m", false);
  feed_quiet(a, T(NY(2024, 1, 10, 9, 30), 5000, 1));
  feed_quiet(a, T(NY(2024, 1, 10, 9, 34) + 59 * SEC, 5010, 1));
  bar b = feed_emit(a, T(NY(2024, 1, 10, 9, 35), 5020, 1));
  assert_int_equal(b.ts, NY(2024, 1, 10, 9, 30));
  assert_int_equal(b.dur, 5 * MIN);
  assert_ohlcv(&b, 5000, 5010, 5000, 5010, 2);
  b = flush_all(a);
  assert_int_equal(b.ts, NY(2024, 1, 10, 9, 35));
  bar_agg_free(a);
}

/* 1h buckets: 09:30-10:30 ... 14:30-15:30, then 15:30-16:00 cut. */
static void test_1h_cut_at_close(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "1h", false);
  static const int hm[][2] = {{9, 45},  {10, 29}, {10, 30}, {11, 40},
                              {12, 50}, {13, 55}, {15, 0},  {15, 59}};
  bar got[DTO_ARRAY_LEN(hm) + 1];
  size_t ng = 0;
  for (size_t i = 0; i < DTO_ARRAY_LEN(hm); i++) {
    trade t = T(NY(2024, 7, 10, hm[i][0], hm[i][1]), 20000 + (int64_t)i, 1);
    bar out[1];
    size_t n;
    assert_int_equal(bar_agg_add_trade(a, &t, out, 1, &n), 0);
    if (n)
      got[ng++] = out[0];
  }
  got[ng++] = flush_all(a);
  assert_int_equal(ng, 7);
  for (size_t i = 0; i < ng; i++) {
    assert_int_equal(got[i].ts, NY(2024, 7, 10, 9 + (int)i, 30));
    assert_int_equal(got[i].dur, i + 1 < ng ? HOUR : 30 * MIN);
  }
  assert_int_equal(got[0].ts, U(2024, 7, 10, 13, 30)); /* EDT */
  assert_ohlcv(&got[0], 20000, 20001, 20000, 20001, 2);
  assert_ohlcv(&got[1], 20002, 20002, 20002, 20002, 1);
  assert_ohlcv(&got[5], 20006, 20006, 20006, 20006, 1); /* 15:00 trade */
  assert_ohlcv(&got[6], 20007, 20007, 20007, 20007, 1); /* 15:59 trade */
  assert_int_equal(bar_end(&got[6]), NY(2024, 7, 10, 16, 0));
  bar_agg_free(a);
}

/* Early close: the last bucket ends at 13:00; after-hours trades are
 * ignored without extended hours but still complete the bar. */
static void test_early_close_cut(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "1h", false);
  feed_quiet(a, T(NY(2024, 11, 29, 12, 45), 30000, 2));
  feed_quiet(a, T(NY(2024, 11, 29, 12, 59), 30100, 3));
  bar b = feed_emit(a, T(NY(2024, 11, 29, 13, 0), 30200, 1)); /* post */
  assert_int_equal(b.ts, NY(2024, 11, 29, 12, 30));
  assert_int_equal(b.dur, 30 * MIN);
  assert_int_equal(bar_end(&b), U(2024, 11, 29, 18, 0));
  assert_ohlcv(&b, 30000, 30100, 30000, 30100, 5);
  assert_int_equal(bar_agg_ignored(a), 1);
  feed_quiet(a, T(NY(2024, 11, 29, 16, 30), 30200, 1)); /* post, ignored */
  assert_int_equal(bar_agg_ignored(a), 2);
  bar_agg_free(a);

  /* A daily bar on the early-close day lasts 3.5 hours. */
  a = mk(calendar_us_equity(), "1d", false);
  feed_quiet(a, T(NY(2024, 11, 29, 9, 30), 100, 1));
  feed_quiet(a, T(NY(2024, 11, 29, 12, 59), 120, 1));
  b = flush_all(a);
  assert_int_equal(b.ts, NY(2024, 11, 29, 9, 30));
  assert_int_equal(b.dur, 3 * HOUR + 30 * MIN);
  bar_agg_free(a);
}

/* 1d bars: one per session [open, close), across a weekend and a DST switch
 * (Friday 2024-03-08 EST, Monday 2024-03-11 EDT). */
static void test_1d_and_dst(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "1d", false);
  feed_quiet(a, T(U(2024, 3, 8, 14, 30), 1000, 1));
  feed_quiet(a, T(U(2024, 3, 8, 17, 0), 1100, 2));
  feed_quiet(a, T(U(2024, 3, 8, 21, 0) - 1, 900, 3));
  /* A post-market trade is ignored but shows the day's bar is complete. */
  bar b = feed_emit(a, T(U(2024, 3, 8, 21, 0), 950, 50));
  assert_int_equal(b.ts, U(2024, 3, 8, 14, 30));
  assert_int_equal(b.dur, 6 * HOUR + 30 * MIN);
  assert_ohlcv(&b, 1000, 1100, 900, 900, 6);
  feed_quiet(a, T(U(2024, 3, 9, 15, 0), 950, 50)); /* Saturday, ignored */
  assert_int_equal(bar_agg_ignored(a), 2);
  feed_quiet(a, T(U(2024, 3, 11, 13, 30), 1200, 4));
  b = flush_all(a);
  assert_int_equal(b.ts, U(2024, 3, 11, 13, 30));
  assert_int_equal(b.dur, 6 * HOUR + 30 * MIN);
  bar_agg_free(a);

  /* 1m on the Monday after spring-forward: first bar at 13:30 UTC, and
   * 13:29 UTC (09:29 EDT) is pre-market. */
  a = mk(calendar_us_equity(), "1m", false);
  feed_quiet(a, T(U(2024, 3, 11, 13, 29), 500, 1));
  assert_int_equal(bar_agg_ignored(a), 1);
  feed_quiet(a, T(U(2024, 3, 11, 13, 30), 501, 1));
  b = feed_emit(a, T(U(2024, 3, 11, 13, 31), 502, 1));
  assert_int_equal(b.ts, U(2024, 3, 11, 13, 30));
  bar_agg_free(a);
}

/* Extended hours: pre-market aligned to 04:00 and cut at the open,
 * post-market aligned to the close. */
static void test_extended(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "1h", true);
  feed_quiet(a, T(NY(2024, 1, 10, 4, 0), 100, 1));
  bar b = feed_emit(a, T(NY(2024, 1, 10, 9, 15), 101, 1));
  assert_int_equal(b.ts, NY(2024, 1, 10, 4, 0));
  assert_int_equal(b.dur, HOUR);
  b = feed_emit(a, T(NY(2024, 1, 10, 9, 30), 102, 1));
  assert_int_equal(b.ts, NY(2024, 1, 10, 9, 0));
  assert_int_equal(b.dur, 30 * MIN); /* cut at the open */
  b = feed_emit(a, T(NY(2024, 1, 10, 16, 10), 103, 1));
  assert_int_equal(b.ts, NY(2024, 1, 10, 9, 30));
  b = feed_emit(a, T(NY(2024, 1, 10, 19, 59), 104, 1));
  assert_int_equal(b.ts, NY(2024, 1, 10, 16, 0));
  assert_int_equal(b.dur, HOUR);
  b = flush_all(a);
  assert_int_equal(b.ts, NY(2024, 1, 10, 19, 0));
  assert_int_equal(bar_end(&b), NY(2024, 1, 10, 20, 0));
  assert_int_equal(bar_agg_ignored(a), 0);
  /* 20:00 and 03:59 are outside even extended hours. */
  feed_quiet(a, T(NY(2024, 1, 10, 20, 0), 104, 1));
  feed_quiet(a, T(NY(2024, 1, 11, 3, 59), 104, 1));
  assert_int_equal(bar_agg_ignored(a), 2);
  bar_agg_free(a);
}

/* Crypto buckets align to UTC midnight, every day. */
static void test_crypto_midnight(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_crypto(), "4h", false);
  feed_quiet(a, T(U(2024, 3, 9, 23, 59), 6000000, 1)); /* Saturday */
  bar b = feed_emit(a, T(U(2024, 3, 10, 0, 0), 6000100, 1));
  assert_int_equal(b.ts, U(2024, 3, 9, 20, 0));
  assert_int_equal(b.dur, 4 * HOUR);
  b = feed_emit(a, T(U(2024, 3, 10, 4, 0), 6000200, 1));
  assert_int_equal(b.ts, U(2024, 3, 10, 0, 0));
  bar_agg_free(a);

  /* 7h does not divide the day: 00, 07, 14, 21-24 (cut at midnight). */
  dto_time s, e;
  assert_int_equal(bar_bucket(calendar_crypto(), 7 * HOUR, false,
                              U(2024, 12, 25, 23, 0), &s, &e),
                   0);
  assert_int_equal(s, U(2024, 12, 25, 21, 0));
  assert_int_equal(e, U(2024, 12, 26, 0, 0));

  a = mk(calendar_crypto(), "1d", false);
  feed_quiet(a, T(U(2024, 12, 25, 0, 0), 100, 1));
  b = feed_emit(a, T(U(2024, 12, 26, 0, 0), 100, 1));
  assert_int_equal(b.ts, U(2024, 12, 25, 0, 0));
  assert_int_equal(b.dur, 24 * HOUR);
  bar_agg_free(a);
}

static void test_out_of_order(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "1m", false);
  dto_time m0 = NY(2024, 1, 10, 10, 0);
  feed_quiet(a, T(m0 + 30 * SEC, 100, 1));
  /* Earlier inside the same bucket: accepted (arrival order). */
  feed_quiet(a, T(m0 + 10 * SEC, 101, 1));
  bar b = feed_emit(a, T(m0 + 2 * MIN, 102, 1));
  assert_int_equal(b.ts, m0);
  assert_ohlcv(&b, 100, 101, 100, 101, 2);
  /* Older than the current bucket: refused, not applied. */
  trade old = T(m0 + MIN + 5 * SEC, 999, 100);
  bar out[1];
  size_t n = 99;
  assert_int_equal(bar_agg_add_trade(a, &old, out, 1, &n), DTO_EINVAL);
  assert_int_equal(n, 0);
  assert_non_null(strstr(bar_agg_error(a), "trade.ts"));
  assert_non_null(strstr(bar_agg_error(a), "out of order"));
  /* Also older than an already emitted bar. */
  old.ts = m0;
  assert_int_equal(bar_agg_add_trade(a, &old, out, 1, &n), DTO_EINVAL);
  feed_quiet(a, T(m0 + 2 * MIN + SEC, 103, 1));
  assert_string_equal(bar_agg_error(a), "");
  b = flush_all(a);
  assert_int_equal(b.ts, m0 + 2 * MIN);
  assert_ohlcv(&b, 102, 103, 102, 103, 2);
  /* After a flush the emitted bar's end is the floor. */
  old.ts = m0 + 3 * MIN - 1;
  assert_int_equal(bar_agg_add_trade(a, &old, out, 1, &n), DTO_EINVAL);
  bar_agg_free(a);
}

static void test_bad_trades(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "1m", false);
  dto_time t0 = NY(2024, 1, 10, 10, 0);
  bar out[1];
  size_t n;
  trade t = T(t0, 100, 1);
  t.sym = SYM + 1;
  assert_int_equal(bar_agg_add_trade(a, &t, out, 1, &n), DTO_EINVAL);
  assert_non_null(strstr(bar_agg_error(a), "trade.sym"));
  t = T(t0, 0, 1);
  assert_int_equal(bar_agg_add_trade(a, &t, out, 1, &n), DTO_EINVAL);
  assert_non_null(strstr(bar_agg_error(a), "trade.price"));
  t = T(t0, 100, -1);
  assert_int_equal(bar_agg_add_trade(a, &t, out, 1, &n), DTO_EINVAL);
  assert_non_null(strstr(bar_agg_error(a), "trade.size"));
  assert_int_equal(bar_agg_add_trade(a, NULL, out, 1, &n), DTO_EINVAL);
  assert_int_equal(bar_agg_add_trade(a, &t, NULL, 1, &n), DTO_EINVAL);
  assert_int_equal(bar_agg_add_trade(a, &t, out, 1, NULL), DTO_EINVAL);
  /* Volume overflow: refused, the bar keeps its volume. */
  t = T(t0, 100, 1);
  t.size = FX_MAX - 10;
  feed_quiet(a, t);
  t.size = 11;
  assert_int_equal(bar_agg_add_trade(a, &t, out, 1, &n), DTO_EOVERFLOW);
  /* No room for a finished bar: refused, nothing applied. */
  t = T(t0 + MIN, 200, 1);
  assert_int_equal(bar_agg_add_trade(a, &t, NULL, 0, &n), DTO_EFULL);
  assert_int_equal(bar_agg_flush(a, INT64_MAX, NULL, 0, &n), DTO_EFULL);
  bar b = flush_all(a);
  assert_int_equal(b.ts, t0);
  assert_int_equal(b.volume, FX_MAX - 10);
  assert_int_equal(b.close, 100 * (FX_ONE / 100));
  bar_agg_free(a);
}

/* A timer flush emits the bar only once its end has passed. */
static void test_flush_timer(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "5m", false);
  dto_time t0 = NY(2025, 6, 2, 11, 0);
  feed_quiet(a, T(t0 + MIN, 100, 1));
  bar out[1];
  size_t n = 99;
  assert_int_equal(bar_agg_flush(a, t0 + 5 * MIN - 1, out, 1, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(bar_agg_flush(a, t0 + 5 * MIN, out, 1, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].ts, t0);
  assert_int_equal(bar_agg_flush(a, t0 + 10 * MIN, out, 1, &n), 0);
  assert_int_equal(n, 0);
  bar_agg_free(a);
}

static bar B(dto_time ts, dto_time dur, int64_t o, int64_t h, int64_t l,
             int64_t c, int64_t v) {
  const fx cent = FX_ONE / 100;
  return (bar){.ts = ts,
               .dur = dur,
               .open = o * cent,
               .high = h * cent,
               .low = l * cent,
               .close = c * cent,
               .volume = fx_from_int(v),
               .sym = SYM};
}

/* Bars from bars: ten 1m bars 09:30-09:39 make two 5m bars. */
static void test_bars_from_bars(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "5m", false);
  dto_time m0 = NY(2024, 1, 10, 9, 30);
  bar got[3];
  size_t ng = 0;
  for (int i = 0; i < 10; i++) {
    int64_t p = 1000 + i * 10;
    bar in = B(m0 + i * MIN, MIN, p, p + 7, p - 3, p + 2, i + 1);
    bar out[1];
    size_t n;
    assert_int_equal(bar_agg_add_bar(a, &in, out, 1, &n), 0);
    if (n)
      got[ng++] = out[0];
  }
  got[ng++] = flush_all(a);
  assert_int_equal(ng, 2);
  assert_int_equal(got[0].ts, m0);
  assert_int_equal(got[0].dur, 5 * MIN);
  assert_ohlcv(&got[0], 1000, 1047, 997, 1042, 1 + 2 + 3 + 4 + 5);
  assert_int_equal(got[1].ts, m0 + 5 * MIN);
  assert_ohlcv(&got[1], 1050, 1097, 1047, 1092, 6 + 7 + 8 + 9 + 10);
  bar_agg_free(a);
}

static void test_bad_bars(void **state) {
  (void)state;
  bar_agg *a = mk(calendar_us_equity(), "5m", false);
  dto_time m0 = NY(2024, 1, 10, 10, 0);
  bar out[1];
  size_t n;
  /* A 2m bar 10:04-10:06 crosses the 10:05 bucket end. */
  bar in = B(m0 + 4 * MIN, 2 * MIN, 100, 100, 100, 100, 1);
  assert_int_equal(bar_agg_add_bar(a, &in, out, 1, &n), DTO_EINVAL);
  assert_non_null(strstr(bar_agg_error(a), "bar.dur"));
  /* Inconsistent OHLC. */
  in = B(m0, MIN, 100, 90, 95, 95, 1);
  assert_int_equal(bar_agg_add_bar(a, &in, out, 1, &n), DTO_EINVAL);
  assert_non_null(strstr(bar_agg_error(a), "bar: "));
  in = B(m0, -MIN, 100, 100, 100, 100, 1);
  assert_int_equal(bar_agg_add_bar(a, &in, out, 1, &n), DTO_EINVAL);
  /* Overlap with the previous input bar. */
  in = B(m0, 2 * MIN, 100, 100, 100, 100, 1);
  assert_int_equal(bar_agg_add_bar(a, &in, out, 1, &n), 0);
  in = B(m0 + MIN, MIN, 100, 100, 100, 100, 1);
  assert_int_equal(bar_agg_add_bar(a, &in, out, 1, &n), DTO_EINVAL);
  assert_non_null(strstr(bar_agg_error(a), "overlaps"));
  /* Refused bars were not applied. */
  bar b = flush_all(a);
  assert_ohlcv(&b, 100, 100, 100, 100, 1);
  bar_agg_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interval_parse),
      cmocka_unit_test(test_new_args),
      cmocka_unit_test(test_trades_to_1m),
      cmocka_unit_test(test_5m_alignment),
      cmocka_unit_test(test_1h_cut_at_close),
      cmocka_unit_test(test_early_close_cut),
      cmocka_unit_test(test_1d_and_dst),
      cmocka_unit_test(test_extended),
      cmocka_unit_test(test_crypto_midnight),
      cmocka_unit_test(test_out_of_order),
      cmocka_unit_test(test_bad_trades),
      cmocka_unit_test(test_flush_timer),
      cmocka_unit_test(test_bars_from_bars),
      cmocka_unit_test(test_bad_bars),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
