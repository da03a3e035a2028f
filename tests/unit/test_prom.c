/* test_prom.c - metric sets and the Prometheus text format: the exact text
 * of a hand-written set (labels and help texts with escapes, a histogram
 * whose buckets, sum and count are counted by hand, a family continued
 * when named again), value formatting (fixed cases, and the shortest
 * round-trip form checked against a brute-force search over every
 * precision), histogram quantiles against hand computations, exact counts
 * from two threads observing at once, reading samples back, reset and
 * reuse, the cap of the output buffer, and the time of a 2,000-sample
 * scrape. */
#include "core/prelude.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <time.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "ops/prom.h"

/* cmocka's assert_float_equal works in float: this one in double. */
#define assert_near(a, b, eps)                                                 \
  do {                                                                         \
    double a_ = (a), b_ = (b);                                                 \
    if (!(fabs(a_ - b_) <= (eps)))                                             \
      fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);                      \
  } while (0)

static const char *fmt(double v, char *buf) {
  mvalue_format(v, buf, MVALUE_STRLEN);
  return buf;
}

/* ---- the text format ----------------------------------------------------- */

/* Bounds 0.1 0.5 1; observations 0.05 0.1 0.3 0.7 2:
 *   le=0.1: 0.05 0.1          -> 2
 *   le=0.5: + 0.3             -> 3
 *   le=1:   + 0.7             -> 4
 *   +Inf:   + 2               -> 5 (= count)
 *   sum = 0.05+0.1+0.3+0.7+2  =  3.15 */
static void hand_hist(mhist *h) {
  static const double le[] = {0.1, 0.5, 1};
  mhist_init(h, le, 3);
  mhist_observe(h, 0.05);
  mhist_observe(h, 0.1); /* on the bound: le is inclusive */
  mhist_observe(h, 0.3);
  mhist_observe(h, 0.7);
  mhist_observe(h, 2);
}

static void hand_set(mset *m) {
  mset_family(m, "dto_orders_total", MT_COUNTER, "Orders sent.");
  mset_add(m, 12, "status", "filled", NULL);
  mset_add(m, 3, "status", "canceled", NULL);
  mset_family(m, "dto_uptime_seconds", MT_GAUGE,
              "Time since \"start\".\nIn seconds \\ wall clock.");
  mset_add(m, 42.5, NULL);
  /* label values copied: the buffer changes after the call */
  char path[64];
  snprintf(path, sizeof path, "C:\\dir \"x\"\nnext");
  mset_family(m, "dto_weird", MT_GAUGE, "Label escapes.");
  mset_add(m, -1, "path", path, "kind", "data", NULL);
  snprintf(path, sizeof path, "overwritten");
  mset_family(m, "dto_lat_seconds", MT_HISTOGRAM, "Latency.");
  mhist h;
  hand_hist(&h);
  mhist_snap s;
  mhist_read(&h, &s);
  const char *k[] = {"route"}, *v[] = {"/api"};
  mset_hist(m, &s, 1, k, v);
  /* named again: continues the first family, its type and help stay */
  mset_family(m, "dto_orders_total", MT_GAUGE, "Other help.");
  mset_add(m, 1, "status", "rejected", NULL);
  mset_family(m, "no_help", MT_GAUGE, NULL);
  mset_add(m, 0, NULL);
  mset_family(m, "empty_family", MT_GAUGE, "No samples.");
}

static const char hand_text[] =
    "# HELP dto_orders_total Orders sent.\n"
    "# TYPE dto_orders_total counter\n"
    "dto_orders_total{status=\"filled\"} 12\n"
    "dto_orders_total{status=\"canceled\"} 3\n"
    "dto_orders_total{status=\"rejected\"} 1\n"
    "# HELP dto_uptime_seconds Time since \"start\".\\nIn seconds \\\\ wall "
    "clock.\n"
    "# TYPE dto_uptime_seconds gauge\n"
    "dto_uptime_seconds 42.5\n"
    "# HELP dto_weird Label escapes.\n"
    "# TYPE dto_weird gauge\n"
    "dto_weird{path=\"C:\\\\dir \\\"x\\\"\\nnext\",kind=\"data\"} -1\n"
    "# HELP dto_lat_seconds Latency.\n"
    "# TYPE dto_lat_seconds histogram\n"
    "dto_lat_seconds_bucket{route=\"/api\",le=\"0.1\"} 2\n"
    "dto_lat_seconds_bucket{route=\"/api\",le=\"0.5\"} 3\n"
    "dto_lat_seconds_bucket{route=\"/api\",le=\"1\"} 4\n"
    "dto_lat_seconds_bucket{route=\"/api\",le=\"+Inf\"} 5\n"
    "dto_lat_seconds_sum{route=\"/api\"} 3.15\n"
    "dto_lat_seconds_count{route=\"/api\"} 5\n"
    "# TYPE no_help gauge\n"
    "no_help 0\n"
    "# HELP empty_family No samples.\n"
    "# TYPE empty_family gauge\n";

static void test_render_exact(void **state) {
  (void)state;
  mset *m = mset_new();
  hand_set(m);
  dbuf b;
  dbuf_init(&b, 1 << 20);
  assert_int_equal(mset_render(m, &b), 0);
  assert_string_equal(b.ptr, hand_text);
  /* appended, not replaced */
  assert_int_equal(mset_render(m, &b), 0);
  assert_int_equal(b.len, 2 * strlen(hand_text));
  dbuf_release(&b);
  mset_free(m);
  mset_free(NULL);
}

static void test_reset_reuse(void **state) {
  (void)state;
  mset *m = mset_new();
  dbuf b;
  dbuf_init(&b, 1 << 20);
  /* fill with something else and much more, then reset and redo */
  char name[32], val[64];
  for (int i = 0; i < 300; i++) {
    snprintf(name, sizeof name, "junk_%d", i);
    mset_family(m, name, MT_GAUGE, "junk");
    for (int j = 0; j < 20; j++) {
      snprintf(val, sizeof val, "value-%d-%d-padding-padding", i, j);
      mset_add(m, j, "a", val, NULL);
    }
  }
  assert_int_equal(mset_count(m), 300 * 20);
  for (int round = 0; round < 3; round++) {
    mset_reset(m);
    assert_int_equal(mset_count(m), 0);
    hand_set(m);
    dbuf_reset(&b);
    assert_int_equal(mset_render(m, &b), 0);
    assert_string_equal(b.ptr, hand_text);
  }
  /* after a reset the old families are gone: junk_0 is new again */
  mset_reset(m);
  mset_family(m, "junk_0", MT_COUNTER, "again");
  mset_add(m, 1, NULL);
  dbuf_reset(&b);
  assert_int_equal(mset_render(m, &b), 0);
  assert_string_equal(b.ptr, "# HELP junk_0 again\n"
                             "# TYPE junk_0 counter\n"
                             "junk_0 1\n");
  dbuf_release(&b);
  mset_free(m);
}

/* Many families, each continued later: the hash table grows and every
 * family still finds its own samples. */
static void test_many_families_continued(void **state) {
  (void)state;
  mset *m = mset_new();
  char name[32];
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < 500; i++) {
      snprintf(name, sizeof name, "f_%d", i);
      mset_family(m, name, MT_GAUGE, pass ? "second" : "first");
      mset_add(m, i * 10 + pass, NULL);
    }
  dbuf b;
  dbuf_init(&b, 1 << 20);
  assert_int_equal(mset_render(m, &b), 0);
  /* expected text built independently */
  dbuf want;
  dbuf_init(&want, 1 << 20);
  for (int i = 0; i < 500; i++)
    dbuf_printf(&want,
                "# HELP f_%d first\n# TYPE f_%d gauge\nf_%d %d\nf_%d %d\n", i,
                i, i, i * 10, i, i * 10 + 1);
  assert_string_equal(b.ptr, want.ptr);
  dbuf_release(&want);
  dbuf_release(&b);
  mset_free(m);
}

static void test_render_cap(void **state) {
  (void)state;
  mset *m = mset_new();
  hand_set(m);
  dbuf b;
  dbuf_init(&b, 100);
  dbuf_adds(&b, "kept");
  assert_int_equal(mset_render(m, &b), DTO_ETOOBIG);
  assert_string_equal(b.ptr, "kept");
  assert_int_equal(b.len, 4);
  dbuf_release(&b);
  /* exactly the size needed fits */
  dbuf_init(&b, strlen(hand_text));
  assert_int_equal(mset_render(m, &b), 0);
  assert_string_equal(b.ptr, hand_text);
  dbuf_release(&b);
  mset_free(m);
}

/* Label values longer than a line buffer, full of characters to escape,
 * next to short ones: the expected text is built here by hand. */
static void test_long_labels(void **state) {
  (void)state;
  enum { LEN = 3000 };
  char *val = malloc(LEN + 1);
  assert_non_null(val);
  dbuf want;
  dbuf_init(&want, 1 << 20);
  dbuf_adds(&want, "# TYPE big gauge\nbig{a=\"x\",long=\"");
  for (int i = 0; i < LEN; i++) {
    static const char pick[] = "ab\\\"\n";
    char c = pick[i % 5];
    val[i] = c;
    if (c == '\\')
      dbuf_adds(&want, "\\\\");
    else if (c == '"')
      dbuf_adds(&want, "\\\"");
    else if (c == '\n')
      dbuf_adds(&want, "\\n");
    else
      dbuf_addc(&want, c);
  }
  val[LEN] = '\0';
  dbuf_adds(&want, "\"} 2.5\nbig{a=\"y\"} 3\n");
  mset *m = mset_new();
  mset_family(m, "big", MT_GAUGE, "");
  mset_add(m, 2.5, "a", "x", "long", val, NULL);
  mset_add(m, 3, "a", "y", NULL);
  dbuf b;
  dbuf_init(&b, 1 << 20);
  assert_int_equal(mset_render(m, &b), 0);
  assert_string_equal(b.ptr, want.ptr);
  free(val);
  dbuf_release(&b);
  dbuf_release(&want);
  mset_free(m);
}

/* ---- values -------------------------------------------------------------- */

static void test_value_format(void **state) {
  (void)state;
  char buf[MVALUE_STRLEN];
  static const struct {
    double v;
    const char *text;
  } cases[] = {
      {0, "0"},
      {1, "1"},
      {-2.5, "-2.5"},
      {0.1, "0.1"},
      {1e-9, "1e-09"},
      {123456789, "123456789"},
      {-123456789012345, "-123456789012345"},
      {1e15, "1e+15"},
      {1e21, "1e+21"},
      {2.5e-5, "2.5e-05"},
      {0.0001, "0.0001"},
      {1234.5678, "1234.5678"},
      {-0.001, "-0.001"},
      {1.0 / 3, "0.3333333333333333"},
      {0.1 + 0.2, "0.30000000000000004"},
      {5e-324, "5e-324"},
      {-1e-310, "-1e-310"},
      {2.2250738585072014e-308, "2.2250738585072014e-308"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {NAN, "NaN"},
      {INFINITY, "+Inf"},
      {-INFINITY, "-Inf"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++)
    assert_string_equal(fmt(cases[i].v, buf), cases[i].text);
  /* a short buffer cuts */
  assert_int_equal(mvalue_format(123456, buf, 4), 3);
  assert_string_equal(buf, "123");
  assert_int_equal(mvalue_format(1, buf, 0), 0);
}

/* The shortest %.Pg (P from 1) that reads back as v: the oracle, by brute
 * force. */
static void shortest(double v, char *out, size_t cap) {
  for (int p = 1; p <= 17; p++) {
    snprintf(out, cap, "%.*g", p, v);
    if (strtod(out, NULL) == v)
      return;
  }
}

static void test_value_shortest_random(void **state) {
  (void)state;
  uint64_t x = 0x9E3779B97F4A7C15ull;
  char got[MVALUE_STRLEN], want[64];
  for (int i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v;
    if (i % 3 == 0) {
      /* few decimals: prices and ratios */
      static const double p10[] = {1,   10,  100, 1e3, 1e4, 1e5,
                                   1e6, 1e7, 1e8, 1e9, 1e10};
      v = (double)(int64_t)(x >> 20) / p10[x % 11];
      if (x & 2)
        v = -v;
    } else if (i % 1000 == 1) {
      /* subnormals: fewer significant bits than DBL_DIG promises */
      uint64_t bits = x >> 12;
      memcpy(&v, &bits, sizeof v);
    } else if (i % 2) {
      memcpy(&v, &x, sizeof v); /* any bit pattern */
      if (!isfinite(v))
        continue;
    } else {
      /* everyday magnitudes: prices, latencies, ratios */
      v = (double)(x >> 11) / 9007199254740992.0 * pow(10, (int)(x % 19) - 9);
      if (x & 1)
        v = -v;
    }
    mvalue_format(v, got, sizeof got);
    assert_true(strtod(got, NULL) == v);
    if (fabs(v) < 1e15 && v == trunc(v))
      continue; /* integers are written whole */
    shortest(v, want, sizeof want);
    if (strcmp(got, want) != 0)
      fail_msg("%.17g: got %s, shortest %s", v, got, want);
  }
}

/* ---- histograms ---------------------------------------------------------- */

static void test_hist_read(void **state) {
  (void)state;
  mhist h;
  hand_hist(&h);
  mhist_observe(&h, NAN); /* not counted */
  mhist_snap s;
  mhist_read(&h, &s);
  assert_int_equal(s.nb, 3);
  assert_true(s.le[0] == 0.1 && s.le[1] == 0.5 && s.le[2] == 1);
  assert_int_equal(s.cum[0], 2);
  assert_int_equal(s.cum[1], 3);
  assert_int_equal(s.cum[2], 4);
  assert_int_equal(s.cum[3], 5);
  assert_true(s.sum == 3.15);

  /* the default latency bounds */
  mhist_init_latency(&h);
  static const double lat[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  mhist_read(&h, &s);
  assert_int_equal(s.nb, 14);
  for (int i = 0; i < 14; i++)
    assert_true(s.le[i] == lat[i]);
  /* 1.5 ms lands in le=0.0025 (index 2); 10 s exactly in le=10 */
  mhist_observe_ns(&h, 1500000);
  mhist_observe_ns(&h, 10 * DTO_NS_PER_SEC);
  mhist_observe_ns(&h, 11 * DTO_NS_PER_SEC);
  mhist_read(&h, &s);
  assert_int_equal(s.cum[1], 0);
  assert_int_equal(s.cum[2], 1);
  assert_int_equal(s.cum[12], 1);
  assert_int_equal(s.cum[13], 2);
  assert_int_equal(s.cum[14], 3);
  assert_true(s.sum == 21.0015);
}

/* Bounds 0.1 0.2 0.5 1 and 100 observations: 50 at 0.05, 30 at 0.15,
 * 15 at 0.3, 4 at 0.7, 1 at 3.  Cumulative: 50 80 95 99 100.
 *   q=0.25: rank 25 in (0,0.1]: 0 + 0.1*25/50          = 0.05
 *   q=0.5:  rank 50 in (0,0.1]: 0.1*50/50              = 0.1
 *   q=0.6:  rank 60 in (0.1,0.2]: 0.1 + 0.1*(60-50)/30 = 0.1333...
 *   q=0.9:  rank 90 in (0.2,0.5]: 0.2 + 0.3*(90-80)/15 = 0.4
 *   q=0.99: rank 99 in (0.5,1]: 0.5 + 0.5*(99-95)/4    = 1
 *   q=0.995: rank 99.5, in +Inf: the highest bound      = 1
 * Then 10 more at 0.7: between the two copies all 10 are in (0.5,1]:
 *   q=0.5: rank 5: 0.5 + 0.5*5/10 = 0.75; q=0.1: 0.5 + 0.5*1/10 = 0.55. */
static void test_hist_quantile(void **state) {
  (void)state;
  static const double le[] = {0.1, 0.2, 0.5, 1};
  mhist h;
  mhist_init(&h, le, 4);
  mhist_snap s0, s1, s2;
  mhist_read(&h, &s0);
  assert_true(isnan(mhist_quantile(NULL, &s0, 0.5)));
  for (int i = 0; i < 50; i++)
    mhist_observe(&h, 0.05);
  for (int i = 0; i < 30; i++)
    mhist_observe(&h, 0.15);
  for (int i = 0; i < 15; i++)
    mhist_observe(&h, 0.3);
  for (int i = 0; i < 4; i++)
    mhist_observe(&h, 0.7);
  mhist_observe(&h, 3);
  mhist_read(&h, &s1);
  assert_int_equal(s1.cum[4], 100);
  assert_near(mhist_quantile(NULL, &s1, 0.25), 0.05, 1e-12);
  assert_near(mhist_quantile(NULL, &s1, 0.5), 0.1, 1e-12);
  assert_near(mhist_quantile(NULL, &s1, 0.6), 0.1 + 0.1 / 3, 1e-12);
  assert_near(mhist_quantile(NULL, &s1, 0.9), 0.4, 1e-12);
  assert_near(mhist_quantile(NULL, &s1, 0.99), 1, 1e-9);
  assert_near(mhist_quantile(NULL, &s1, 0.995), 1, 0);
  /* from the empty copy: the same */
  assert_near(mhist_quantile(&s0, &s1, 0.9), 0.4, 1e-12);
  /* nothing between equal copies */
  assert_true(isnan(mhist_quantile(&s1, &s1, 0.5)));
  for (int i = 0; i < 10; i++)
    mhist_observe(&h, 0.7);
  mhist_read(&h, &s2);
  assert_near(mhist_quantile(&s1, &s2, 0.5), 0.75, 1e-12);
  assert_near(mhist_quantile(&s1, &s2, 0.1), 0.55, 1e-12);
  /* since the start: 110 observations, p50 is rank 55 in (0.1,0.2]:
   * 0.1 + 0.1*(55-50)/30 */
  assert_near(mhist_quantile(NULL, &s2, 0.5), 0.1 + 0.1 * 5 / 30, 1e-12);
  /* out of range q, as PromQL */
  assert_true(mhist_quantile(NULL, &s1, -0.1) == -INFINITY);
  assert_true(mhist_quantile(NULL, &s1, 1.5) == INFINITY);
  assert_true(isnan(mhist_quantile(NULL, &s1, NAN)));

  /* every observation above the bounds: the highest bound */
  mhist_init(&h, le, 4);
  mhist_observe(&h, 50);
  mhist_read(&h, &s1);
  assert_near(mhist_quantile(NULL, &s1, 0.5), 1, 0);
  /* a first bound <= 0 is returned as it is (PromQL) */
  static const double neg[] = {-1, 0, 1};
  mhist_init(&h, neg, 3);
  mhist_observe(&h, -5);
  mhist_observe(&h, 0.5);
  mhist_read(&h, &s1);
  assert_near(mhist_quantile(NULL, &s1, 0.25), -1, 0);
  /* rank 1.5 of 2 in (0,1]: 0 + 1*(1.5-1)/1 */
  assert_near(mhist_quantile(NULL, &s1, 0.75), 0.5, 1e-12);
}

typedef struct observer {
  mhist *h;
  int n;
} observer;

/* Each thread observes the same four values in turn, so both hit the same
 * counters: 0.05 (le 0.1), 0.3 (le 0.5), 0.7 (le 1), 2 (+Inf). */
static void *observe_thread(void *arg) {
  observer *o = arg;
  static const double vals[4] = {0.05, 0.3, 0.7, 2};
  for (int i = 0; i < o->n; i++)
    mhist_observe(o->h, vals[i % 4]);
  return NULL;
}

static void test_hist_threads(void **state) {
  (void)state;
  static const double le[] = {0.1, 0.5, 1};
  mhist h;
  mhist_init(&h, le, 3);
  enum { N = 200000 }; /* per thread, a multiple of 4 */
  observer o = {&h, N};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, observe_thread, &o), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  mhist_snap s;
  mhist_read(&h, &s);
  /* 2N observations, a quarter in each bucket */
  assert_int_equal(s.cum[0], 2 * N / 4);
  assert_int_equal(s.cum[1], 2 * N / 4 * 2);
  assert_int_equal(s.cum[2], 2 * N / 4 * 3);
  assert_int_equal(s.cum[3], 2 * N);
  /* sum: N/2 of each value, in whole nanoseconds, so exact:
   * 100000 * (0.05 + 0.3 + 0.7 + 2) = 305000 */
  assert_true(s.sum == 305000.0);
}

/* ---- reading back -------------------------------------------------------- */

static void test_read_back(void **state) {
  (void)state;
  mset *m = mset_new();
  hand_set(m);
  /* 2 orders + uptime + weird + 4 buckets + sum + count + 1 order +
   * no_help */
  assert_int_equal(mset_count(m), 12);
  msample s;
  mset_at(m, 0, &s);
  assert_string_equal(s.family, "dto_orders_total");
  assert_string_equal(s.name, "dto_orders_total");
  assert_int_equal(s.nlabels, 1);
  assert_string_equal(s.keys[0], "status");
  assert_string_equal(s.vals[0], "filled");
  assert_string_equal(msample_label(&s, "status"), "filled");
  assert_null(msample_label(&s, "le"));
  assert_true(s.v == 12);

  mset_at(m, 2, &s);
  assert_string_equal(s.name, "dto_uptime_seconds");
  assert_int_equal(s.nlabels, 0);
  assert_null(msample_label(&s, "status"));
  assert_true(s.v == 42.5);

  mset_at(m, 3, &s);
  assert_string_equal(msample_label(&s, "path"), "C:\\dir \"x\"\nnext");
  assert_string_equal(msample_label(&s, "kind"), "data");
  assert_true(s.v == -1);

  static const char *const les[] = {"0.1", "0.5", "1", "+Inf"};
  static const double cums[] = {2, 3, 4, 5};
  for (int i = 0; i < 4; i++) {
    mset_at(m, 4 + (size_t)i, &s);
    assert_string_equal(s.family, "dto_lat_seconds");
    assert_string_equal(s.name, "dto_lat_seconds_bucket");
    assert_int_equal(s.nlabels, 2);
    assert_string_equal(msample_label(&s, "route"), "/api");
    assert_string_equal(msample_label(&s, "le"), les[i]);
    assert_true(s.v == cums[i]);
  }
  mset_at(m, 8, &s);
  assert_string_equal(s.name, "dto_lat_seconds_sum");
  assert_string_equal(s.family, "dto_lat_seconds");
  assert_null(msample_label(&s, "le"));
  assert_true(s.v == 3.15);
  mset_at(m, 9, &s);
  assert_string_equal(s.name, "dto_lat_seconds_count");
  assert_true(s.v == 5);
  /* the continued family's sample comes in the order it was added */
  mset_at(m, 10, &s);
  assert_string_equal(s.family, "dto_orders_total");
  assert_string_equal(msample_label(&s, "status"), "rejected");
  mset_at(m, 11, &s);
  assert_string_equal(s.name, "no_help");
  mset_free(m);
}

static void test_names_types(void **state) {
  (void)state;
  assert_string_equal(mtype_name(MT_GAUGE), "gauge");
  assert_string_equal(mtype_name(MT_COUNTER), "counter");
  assert_string_equal(mtype_name(MT_HISTOGRAM), "histogram");
  /* colons in family names, digits after the first character */
  mset *m = mset_new();
  mset_family(m, "job:rate5m_2", MT_GAUGE, "Recorded.");
  const char *k[] = {"_x1", "a"}, *v[] = {"", "b"};
  mset_addv(m, 1.5, 2, k, v);
  dbuf b;
  dbuf_init(&b, 4096);
  assert_int_equal(mset_render(m, &b), 0);
  assert_string_equal(b.ptr, "# HELP job:rate5m_2 Recorded.\n"
                             "# TYPE job:rate5m_2 gauge\n"
                             "job:rate5m_2{_x1=\"\",a=\"b\"} 1.5\n");
  dbuf_release(&b);
  mset_free(m);
}

/* ---- speed --------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A scrape of 2,000 samples (40 families of 50 series, three labels each,
 * values with fractions) built and rendered.  The bound is loose for the
 * sanitizer build; the optimised build takes a few hundred microseconds. */
static void test_speed(void **state) {
  (void)state;
  mset *m = mset_new();
  dbuf b;
  dbuf_init(&b, 1 << 24);
  char fam[40][40], sym[50][16];
  for (int f = 0; f < 40; f++)
    snprintf(fam[f], sizeof fam[f], "dto_family_%d_seconds", f);
  for (int i = 0; i < 50; i++)
    snprintf(sym[i], sizeof sym[i], "SYM%d", i);
  double best = 1e9;
  for (int round = 0; round < 5; round++) {
    double t0 = now_s();
    mset_reset(m);
    dbuf_reset(&b);
    for (int f = 0; f < 40; f++) {
      mset_family(m, fam[f], MT_GAUGE, "A family of the benchmark.");
      for (int i = 0; i < 50; i++)
        mset_add(m, (f * 50 + i) * 1.37, "symbol", sym[i], "account", "main",
                 "feed", "iex", NULL);
    }
    assert_int_equal(mset_render(m, &b), 0);
    double dt = now_s() - t0;
    if (dt < best)
      best = dt;
  }
  assert_int_equal(mset_count(m), 2000);
  print_message("2000-sample scrape: %.0f us (best of 5)\n", best * 1e6);
  assert_true(best < 0.02);
  dbuf_release(&b);
  mset_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_exact),
      cmocka_unit_test(test_reset_reuse),
      cmocka_unit_test(test_many_families_continued),
      cmocka_unit_test(test_render_cap),
      cmocka_unit_test(test_long_labels),
      cmocka_unit_test(test_value_format),
      cmocka_unit_test(test_value_shortest_random),
      cmocka_unit_test(test_hist_read),
      cmocka_unit_test(test_hist_quantile),
      cmocka_unit_test(test_hist_threads),
      cmocka_unit_test(test_read_back),
      cmocka_unit_test(test_names_types),
      cmocka_unit_test(test_speed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
