/* test_indicators.c - indicators against TTR's reference values, warm-up,
 * edge cases and the spec parser.
 *
 * The reference file (tests/data/ttrc_indicators_reference.csv: 1,500 daily
 * bars and TTR's indicator values) is parsed here rather than through
 * market/reader, which refuses its extra columns.  It is looked up relative
 * to the current directory (the repo root) and then to $DTO_SRCDIR.
 */
#include "core/prelude.h"

#include "core/error.h"
#include "core/fx.h"
#include "core/timeutil.h"
#include "market/indicators.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#define REF_PATH "tests/data/ttrc_indicators_reference.csv"
#define REF_MAX_ROWS 2000
#define REF_NCOLS 16 /* date, o, h, l, c, v, then 10 indicator columns */
#define REF_FIRST_IND 6

static const char *const ref_header[REF_NCOLS] = {
    "date",          "open",       "high",          "low",
    "close",         "volume",     "sma_20",        "ema_20",
    "rsi_14",        "atr_14",     "bb_lower_20_2", "bb_middle_20_2",
    "bb_upper_20_2", "macd_12_26", "macd_signal_9", "vwap_20"};

typedef struct ref_data {
  size_t n;
  bar bars[REF_MAX_ROWS];
  double close[REF_MAX_ROWS];
  /* indicator columns; NAN where the cell is empty */
  double col[REF_MAX_ROWS][REF_NCOLS - REF_FIRST_IND];
} ref_data;

/* ---- helpers ------------------------------------------------------------ */

static bool near(double got, double want) {
  double d = fabs(got - want);
  return d <= 1e-9 * fabs(want) || d <= 1e-12;
}

/* Split line (modified in place) on commas into at most cap fields. */
static size_t split_csv(char *line, char **field, size_t cap) {
  size_t n = 0;
  char *p = line;
  while (n < cap) {
    field[n++] = p;
    char *c = strchr(p, ',');
    if (!c)
      break;
    *c = '\0';
    p = c + 1;
  }
  return n;
}

static FILE *open_reference(void) {
  FILE *f = fopen(REF_PATH, "r");
  const char *dir = getenv("DTO_SRCDIR");
  if (!f && dir) {
    char path[4096];
    int len = snprintf(path, sizeof path, "%s/%s", dir, REF_PATH);
    if (len > 0 && (size_t)len < sizeof path)
      f = fopen(path, "r");
  }
  return f;
}

static int load_reference(void **state) {
  ref_data *r = calloc(1, sizeof *r);
  char line[1024];
  char *field[REF_NCOLS + 1];
  FILE *f = open_reference();
  if (!r || !f) {
    fprintf(stderr,
            "cannot open %s (run from the repo root or set "
            "DTO_SRCDIR)\n",
            REF_PATH);
    free(r);
    if (f)
      fclose(f);
    return -1;
  }
  size_t lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    size_t nf = split_csv(line, field, DTO_ARRAY_LEN(field));
    if (nf != REF_NCOLS || (lineno > 1 && r->n >= REF_MAX_ROWS)) {
      fprintf(stderr, "%s:%zu: expected %d fields\n", REF_PATH, lineno,
              REF_NCOLS);
      goto bad;
    }
    if (lineno == 1) {
      for (size_t i = 0; i < REF_NCOLS; i++)
        if (strcmp(field[i], ref_header[i]) != 0) {
          fprintf(stderr, "%s:1: column %zu is '%s', expected '%s'\n", REF_PATH,
                  i + 1, field[i], ref_header[i]);
          goto bad;
        }
      continue;
    }
    bar *b = &r->bars[r->n];
    fx *px[5] = {&b->open, &b->high, &b->low, &b->close, &b->volume};
    memset(b, 0, sizeof *b);
    if (time_parse_cstr(field[0], &b->ts) < 0) {
      fprintf(stderr, "%s:%zu: bad date\n", REF_PATH, lineno);
      goto bad;
    }
    b->dur = DTO_NS_PER_DAY;
    for (size_t i = 0; i < 5; i++)
      if (fx_parse_cstr(field[1 + i], px[i]) < 0) {
        fprintf(stderr, "%s:%zu: bad %s\n", REF_PATH, lineno,
                ref_header[1 + i]);
        goto bad;
      }
    r->close[r->n] = strtod(field[4], NULL);
    for (size_t i = REF_FIRST_IND; i < REF_NCOLS; i++)
      r->col[r->n][i - REF_FIRST_IND] =
          field[i][0] ? strtod(field[i], NULL) : NAN;
    r->n++;
  }
  fclose(f);
  if (r->n < 100) {
    fprintf(stderr, "%s: only %zu rows\n", REF_PATH, r->n);
    free(r);
    return -1;
  }
  *state = r;
  return 0;
bad:
  fclose(f);
  free(r);
  return -1;
}

static int free_reference(void **state) {
  free(*state);
  return 0;
}

static int ref_col(const char *name) {
  for (int i = REF_FIRST_IND; i < REF_NCOLS; i++)
    if (!strcmp(ref_header[i], name))
      return i - REF_FIRST_IND;
  fail_msg("no reference column %s", name);
  return -1;
}

/* Heap-allocated because an indicator is large. */
static indicator *parse_ok(const char *spec) {
  indicator *ind = malloc(sizeof *ind);
  char err[128] = "";
  assert_non_null(ind);
  int rc = indicator_parse(spec, ind, err, sizeof err);
  if (rc != 0)
    fail_msg("indicator_parse(\"%s\") = %d: %s", spec, rc, err);
  return ind;
}

/* ---- against the reference ---------------------------------------------- */

static const struct {
  const char *spec;
  size_t out;
  const char *column;
} ref_checks[] = {
    {"sma:20", 0, "sma_20"},
    {"ema:20", 0, "ema_20"},
    {"rsi:14", 0, "rsi_14"},
    {"atr:14", 0, "atr_14"},
    {"bb:20:2", 0, "bb_lower_20_2"},
    {"bb:20:2", 1, "bb_middle_20_2"},
    {"bb:20:2", 2, "bb_upper_20_2"},
    {"macd:12:26:9", 0, "macd_12_26"},
    {"macd:12:26:9", 1, "macd_signal_9"},
    {"vwap:20", 0, "vwap_20"},
};

static void test_reference_columns(void **state) {
  const ref_data *r = *state;
  for (size_t c = 0; c < DTO_ARRAY_LEN(ref_checks); c++) {
    indicator *ind = parse_ok(ref_checks[c].spec);
    int col = ref_col(ref_checks[c].column);
    size_t out = ref_checks[c].out, first = SIZE_MAX, checked = 0;
    for (size_t i = 0; i < r->n; i++) {
      indicator_update(ind, &r->bars[i]);
      double want = r->col[i][col], got = NAN;
      bool ready = indicator_value(ind, out, &got);
      if (isnan(want)) {
        if (ready)
          fail_msg("%s row %zu: value %.17g during the reference's warm-up",
                   ref_checks[c].column, i + 2, got);
        continue;
      }
      if (!ready)
        fail_msg("%s row %zu: not ready, reference has %.17g",
                 ref_checks[c].column, i + 2, want);
      if (!near(got, want))
        fail_msg("%s row %zu: got %.17g, want %.17g (rel %.3g)",
                 ref_checks[c].column, i + 2, got, want,
                 fabs(got - want) / fabs(want));
      if (first == SIZE_MAX)
        first = i;
      checked++;
    }
    assert_true(checked > r->n - 40);
    /* indicator_warmup() agrees with where the reference starts. */
    assert_int_equal(indicator_warmup(ind, out), (int)first + 1);
    free(ind);
  }
}

/* The histogram is not in the reference: it is macd - signal. */
static void test_reference_macd_hist(void **state) {
  const ref_data *r = *state;
  indicator *ind = parse_ok("macd:12:26:9");
  int cm = ref_col("macd_12_26"), cs = ref_col("macd_signal_9");
  size_t seen = 0;
  for (size_t i = 0; i < r->n; i++) {
    double h = NAN;
    indicator_update(ind, &r->bars[i]);
    bool ready = indicator_value(ind, 2, &h);
    assert_int_equal(ready, !isnan(r->col[i][cs]));
    if (ready) {
      double want = r->col[i][cm] - r->col[i][cs];
      /* The difference of two values good to 1e-9 relative. */
      assert_true(fabs(h - want) <=
                  1e-9 * (fabs(r->col[i][cm]) + fabs(r->col[i][cs])) + 1e-15);
      seen++;
    }
  }
  assert_int_equal(seen, r->n - 33);
  free(ind);
}

/* The typed API directly, on doubles parsed by strtod (the generic layer
 * goes through fx): same answers. */
static void test_reference_typed_api(void **state) {
  const ref_data *r = *state;
  ind_sma *sma = malloc(sizeof *sma);
  ind_ema ema;
  ind_rsi rsi;
  assert_non_null(sma);
  assert_int_equal(ind_sma_init(sma, 20), 0);
  assert_int_equal(ind_ema_init(&ema, 20), 0);
  assert_int_equal(ind_rsi_init(&rsi, 14), 0);
  int cs = ref_col("sma_20"), ce = ref_col("ema_20"), cr = ref_col("rsi_14");
  for (size_t i = 0; i < r->n; i++) {
    ind_sma_update(sma, r->close[i]);
    ind_ema_update(&ema, r->close[i]);
    ind_rsi_update(&rsi, r->close[i]);
    assert_int_equal(ind_sma_ready(sma), !isnan(r->col[i][cs]));
    assert_int_equal(ind_ema_ready(&ema), !isnan(r->col[i][ce]));
    assert_int_equal(ind_rsi_ready(&rsi), !isnan(r->col[i][cr]));
    if (ind_sma_ready(sma))
      assert_true(near(ind_sma_value(sma), r->col[i][cs]));
    if (ind_ema_ready(&ema))
      assert_true(near(ind_ema_value(&ema), r->col[i][ce]));
    if (ind_rsi_ready(&rsi))
      assert_true(near(ind_rsi_value(&rsi), r->col[i][cr]));
  }
  free(sma);
}

/* The series API on TTR's closes: the same answers (NAN where TTR has
 * none). */
static void test_reference_series_api(void **state) {
  const ref_data *r = *state;
  ind_sma *sma = malloc(sizeof *sma);
  double *out = malloc(3 * r->n * sizeof *out);
  ind_ema ema;
  ind_rsi rsi;
  assert_non_null(sma);
  assert_non_null(out);
  assert_int_equal(ind_sma_init(sma, 20), 0);
  assert_int_equal(ind_ema_init(&ema, 20), 0);
  assert_int_equal(ind_rsi_init(&rsi, 14), 0);
  ind_sma_series(sma, r->close, r->n, out);
  ind_ema_series(&ema, r->close, r->n, out + r->n);
  ind_rsi_series(&rsi, r->close, r->n, out + 2 * r->n);
  int col[3] = {ref_col("sma_20"), ref_col("ema_20"), ref_col("rsi_14")};
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < r->n; i++) {
      double got = out[k * r->n + i], want = r->col[i][col[k]];
      assert_int_equal(isnan(got), isnan(want));
      if (!isnan(want))
        assert_true(near(got, want));
    }
  free(out);
  free(sma);
}

/* ---- series API: the same bits as value-by-value updates ---------------- */

/* Fill x with one of several shapes: a price walk, a walk with spikes
 * larger than a window's sum, values of both signs, a flat stretch. */
static void series_data(double *x, size_t n, int shape) {
  uint64_t r = 0x9E3779B97F4A7C15ULL + (uint64_t)shape;
  double p = 100;
  for (size_t i = 0; i < n; i++) {
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    double step = (double)(r % 2001) / 100.0 - 10.0;
    switch (shape) {
    case 0:
      p += step / 10;
      if (p < 1)
        p = 50;
      x[i] = p;
      break;
    case 1:
      p += step / 10;
      if (p < 1)
        p = 50;
      x[i] = (r >> 40) % 97 == 0 ? p * 1e6 : p;
      break;
    case 2:
      x[i] = step * ((r >> 32) % 3 == 0 ? 1e8 : 1.0);
      break;
    default:
      x[i] = (i / 500) % 2 ? 42.25 : 1e-300 * (double)(i % 7);
      break;
    }
  }
}

static bool same_bits(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

static void test_series_identical(void **state) {
  (void)state;
  enum { N = 20000 };
  static const int periods[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 20, 26, 333, 1000};
  /* Cut points: the series is fed in pieces, so state carries over. */
  static const size_t cuts[] = {0, 1, 19, 777, 4097, 12000, N};
  double *x = malloc(N * sizeof *x), *out = malloc(N * sizeof *out);
  ind_sma *a = malloc(sizeof *a), *b = malloc(sizeof *b);
  assert_non_null(x);
  assert_non_null(out);
  assert_non_null(a);
  assert_non_null(b);
  for (int shape = 0; shape < 4; shape++) {
    series_data(x, N, shape);
    for (size_t pi = 0; pi < DTO_ARRAY_LEN(periods); pi++) {
      int p = periods[pi];
      ind_ema ea, eb;
      ind_rsi ra, rb;
      for (int kind = 0; kind < 3; kind++) {
        assert_int_equal(ind_sma_init(a, p), 0);
        assert_int_equal(ind_sma_init(b, p), 0);
        assert_int_equal(ind_ema_init(&ea, p), 0);
        assert_int_equal(ind_ema_init(&eb, p), 0);
        assert_int_equal(ind_rsi_init(&ra, p), 0);
        assert_int_equal(ind_rsi_init(&rb, p), 0);
        for (size_t c = 0; c + 1 < DTO_ARRAY_LEN(cuts); c++) {
          size_t lo = cuts[c], len = cuts[c + 1] - lo;
          if (kind == 0)
            ind_sma_series(a, x + lo, len, out + lo);
          else if (kind == 1)
            ind_ema_series(&ea, x + lo, len, out + lo);
          else
            ind_rsi_series(&ra, x + lo, len, out + lo);
        }
        for (size_t i = 0; i < N; i++) {
          double want;
          if (kind == 0) {
            ind_sma_update(b, x[i]);
            want = ind_sma_ready(b) ? ind_sma_value(b) : NAN;
          } else if (kind == 1) {
            ind_ema_update(&eb, x[i]);
            want = ind_ema_ready(&eb) ? ind_ema_value(&eb) : NAN;
          } else {
            ind_rsi_update(&rb, x[i]);
            want = ind_rsi_ready(&rb) ? ind_rsi_value(&rb) : NAN;
          }
          if (!same_bits(out[i], want))
            fail_msg("kind %d shape %d period %d value %zu: %a != %a", kind,
                     shape, p, i, out[i], want);
        }
      }
      /* The states end equal: later updates agree too. */
      ind_sma_update(a, 3.5);
      ind_sma_update(b, 3.5);
      assert_true(same_bits(ind_sma_value(a), ind_sma_value(b)));
      assert_memory_equal(a->ring, b->ring, (size_t)p * sizeof *a->ring);
    }
  }
  free(b);
  free(a);
  free(out);
  free(x);
}

/* ---- edge cases --------------------------------------------------------- */

static bar mkbar(double o, double h, double l, double c, double v) {
  bar b;
  memset(&b, 0, sizeof b);
  assert_int_equal(fx_from_double(o, &b.open), 0);
  assert_int_equal(fx_from_double(h, &b.high), 0);
  assert_int_equal(fx_from_double(l, &b.low), 0);
  assert_int_equal(fx_from_double(c, &b.close), 0);
  assert_int_equal(fx_from_double(v, &b.volume), 0);
  return b;
}

static void test_period_one(void **state) {
  (void)state;
  static const double closes[] = {10, 12, 11, 11, 15};
  indicator *sma = parse_ok("sma:1"), *ema = parse_ok("ema:1"),
            *rsi = parse_ok("rsi:1"), *bb = parse_ok("bb:1:2"),
            *vwap = parse_ok("vwap:1"), *atr = parse_ok("atr:1");
  double v;
  for (size_t i = 0; i < DTO_ARRAY_LEN(closes); i++) {
    double c = closes[i];
    bar b = mkbar(c, c + 1, c - 2, c, 100);
    indicator_update(sma, &b);
    indicator_update(ema, &b);
    indicator_update(rsi, &b);
    indicator_update(bb, &b);
    indicator_update(vwap, &b);
    indicator_update(atr, &b);
    assert_true(indicator_value(sma, 0, &v));
    assert_true(v == c);
    assert_true(indicator_value(ema, 0, &v));
    assert_true(v == c);
    assert_true(indicator_value(vwap, 0, &v));
    assert_true(v == c);
    for (size_t k = 0; k < 3; k++) {
      assert_true(indicator_value(bb, k, &v));
      assert_true(v == c);
    }
    if (i == 0) {
      /* RSI and ATR need a previous close. */
      assert_false(indicator_value(rsi, 0, &v));
      assert_false(indicator_value(atr, 0, &v));
      continue;
    }
    double d = c - closes[i - 1], pc = closes[i - 1];
    assert_true(indicator_value(rsi, 0, &v));
    assert_true(v == (d > 0 ? 100.0 : d < 0 ? 0.0 : 50.0));
    assert_true(indicator_value(atr, 0, &v));
    assert_true(v == fmax(c + 1, pc) - fmin(c - 2, pc));
  }
  free(sma);
  free(ema);
  free(rsi);
  free(bb);
  free(vwap);
  free(atr);
}

static void test_constant_series(void **state) {
  (void)state;
  indicator *rsi = parse_ok("rsi:14"), *bb = parse_ok("bb:20:2"),
            *atr = parse_ok("atr:5"), *macd = parse_ok("macd:3:6:4"),
            *ema = parse_ok("ema:10");
  bar b = mkbar(101.37, 101.5, 101.25, 101.37, 1000);
  double v, lo, mid, up;
  for (int i = 0; i < 200; i++) {
    indicator_update(rsi, &b);
    indicator_update(bb, &b);
    indicator_update(atr, &b);
    indicator_update(macd, &b);
    indicator_update(ema, &b);
  }
  /* RSI of a flat series is defined as 50. */
  assert_true(indicator_value(rsi, 0, &v));
  assert_true(v == 50.0);
  /* Bollinger width is exactly 0. */
  assert_true(indicator_value(bb, 0, &lo));
  assert_true(indicator_value(bb, 1, &mid));
  assert_true(indicator_value(bb, 2, &up));
  assert_true(lo == mid && mid == up);
  assert_true(near(mid, 101.37));
  assert_true(indicator_value(atr, 0, &v));
  assert_true(near(v, 0.25));
  assert_true(indicator_value(ema, 0, &v));
  assert_true(near(v, 101.37));
  for (size_t i = 0; i < 3; i++) {
    assert_true(indicator_value(macd, i, &v));
    assert_true(fabs(v) < 1e-12);
  }
  free(rsi);
  free(bb);
  free(atr);
  free(macd);
  free(ema);
}

/* A naive running sum keeps the rounding error of a huge value after it has
 * left the window; the renewed sum must not. */
static void test_sma_no_drift(void **state) {
  (void)state;
  enum { N = 20, STEPS = 200000 };
  ind_sma *s = malloc(sizeof *s);
  ind_bb *bb = malloc(sizeof *bb);
  assert_non_null(s);
  assert_non_null(bb);
  assert_int_equal(ind_sma_init(s, N), 0);
  assert_int_equal(ind_bb_init(bb, N, 2.0), 0);
  double *hist = malloc(STEPS * sizeof *hist);
  uint64_t seed = 42;
  assert_non_null(hist);
  for (int i = 0; i < STEPS; i++) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    double x = 1.0 + (double)(seed >> 40) / (double)(1ULL << 24);
    /* A spike every 1000 values.  It is never the last value of a block
     * of N (i % N == N - 1), which Bollinger uses to centre its sums: a
     * spike there would cost precision for one block. */
    if (i % 1000 == 7)
      x = 1e12;
    hist[i] = x;
    ind_sma_update(s, x);
    ind_bb_update(bb, x);
    if (i >= N && i % 101 == 0) {
      double sum = 0, sq = 0;
      for (int j = i - N + 1; j <= i; j++)
        sum += hist[j];
      double mean = sum / N;
      for (int j = i - N + 1; j <= i; j++)
        sq += (hist[j] - mean) * (hist[j] - mean);
      double sd = sqrt(sq / N), lo, mid, up;
      assert_true(near(ind_sma_value(s), mean));
      ind_bb_value(bb, &lo, &mid, &up);
      assert_true(near(mid, mean));
      /* Away from spikes the width is small next to the spikes' squares:
       * a sum of squares without compensation would be off by ~1e8. */
      if (sd < 1.0)
        assert_true(fabs((up - lo) - 4 * sd) <= 1e-9 * 4 * sd);
      else
        assert_true(near(up - lo, 4 * sd));
    }
  }
  free(hist);
  free(s);
  free(bb);
}

/* Large prices, tiny spread: the shifted sums keep the variance exact
 * enough. */
static void test_bb_large_level(void **state) {
  (void)state;
  enum { N = 50 };
  ind_bb *bb = malloc(sizeof *bb);
  double w[N];
  assert_non_null(bb);
  assert_int_equal(ind_bb_init(bb, N, 2.5), 0);
  for (int i = 0; i < 5000; i++) {
    double x = 1e7 + 0.01 * (double)(i % 7) + 1e-4 * (double)(i % 3);
    w[i % N] = x;
    ind_bb_update(bb, x);
  }
  double mean = 0, sq = 0, lo, mid, up;
  for (int j = 0; j < N; j++)
    mean += w[j] - 1e7;
  mean = mean / N;
  for (int j = 0; j < N; j++)
    sq += (w[j] - 1e7 - mean) * (w[j] - 1e7 - mean);
  double sd = sqrt(sq / N);
  ind_bb_value(bb, &lo, &mid, &up);
  assert_true(fabs(mid - (1e7 + mean)) < 1e-8);
  assert_true(fabs((up - lo) - 5 * sd) <= 1e-6 * 5 * sd);
  free(bb);
}

static void test_vwap_volume(void **state) {
  (void)state;
  ind_vwap *v = malloc(sizeof *v);
  assert_non_null(v);
  assert_int_equal(ind_vwap_init(v, 3), 0);
  ind_vwap_update(v, 10, 100);
  ind_vwap_update(v, 20, 300);
  assert_false(ind_vwap_ready(v));
  ind_vwap_update(v, 30, 0);
  assert_true(ind_vwap_ready(v));
  assert_true(near(ind_vwap_value(v), (10 * 100 + 20 * 300) / 400.0));
  ind_vwap_update(v, 40, 0); /* window: 20 x 300, 30 x 0, 40 x 0 */
  assert_true(ind_vwap_ready(v));
  assert_true(near(ind_vwap_value(v), 20.0));
  ind_vwap_update(v, 50, 0);
  /* A window without volume has no VWAP. */
  assert_false(ind_vwap_ready(v));
  ind_vwap_update(v, 60, 0);
  assert_false(ind_vwap_ready(v));
  ind_vwap_update(v, 70, 5);
  assert_true(ind_vwap_ready(v));
  assert_true(ind_vwap_value(v) == 70.0);
  free(v);
}

static void test_svwap_sessions(void **state) {
  (void)state;
  indicator *s = parse_ok("svwap");
  double v;
  assert_int_equal(indicator_warmup(s, 0), 1);
  assert_false(indicator_value(s, 0, &v));
  bar a = mkbar(10, 12, 9, 11, 100);  /* typical 32/3 */
  bar b = mkbar(11, 14, 11, 14, 300); /* typical 13 */
  bar z = mkbar(20, 20, 20, 20, 0);
  indicator_update(s, &a);
  assert_true(indicator_value(s, 0, &v));
  assert_true(near(v, 32.0 / 3.0));
  indicator_update(s, &b);
  indicator_update(s, &z); /* no volume: no effect */
  assert_true(indicator_value(s, 0, &v));
  assert_true(near(v, (32.0 / 3.0 * 100 + 13 * 300) / 400));
  indicator_session_start(s);
  assert_false(indicator_value(s, 0, &v));
  indicator_update(s, &z);
  assert_false(indicator_value(s, 0, &v));
  indicator_update(s, &b);
  assert_true(indicator_value(s, 0, &v));
  assert_true(near(v, 13.0));
  free(s);
}

static void test_macd_warmup(void **state) {
  (void)state;
  indicator *m = parse_ok("macd:2:4:3");
  double v;
  assert_int_equal(indicator_warmup(m, 0), 4);
  assert_int_equal(indicator_warmup(m, 1), 6);
  assert_int_equal(indicator_warmup(m, 2), 6);
  assert_int_equal(indicator_warmup(m, 3), 0);
  for (int i = 1; i <= 8; i++) {
    bar b = mkbar(i * i, i * i, i * i, i * i, 1);
    indicator_update(m, &b);
    assert_int_equal(indicator_value(m, 0, &v), i >= 4);
    assert_int_equal(indicator_value(m, 1, &v), i >= 6);
    assert_int_equal(indicator_value(m, 2, &v), i >= 6);
    assert_false(indicator_value(m, 3, &v));
  }
  free(m);
}

/* ---- names and the parser ----------------------------------------------- */

static void test_output_names(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    size_t outputs;
    const char *names[3];
  } cases[] = {
      {"sma:20", 1, {"sma_20"}},
      {"ema:5", 1, {"ema_5"}},
      {"rsi:14", 1, {"rsi_14"}},
      {"atr:14", 1, {"atr_14"}},
      {"vwap:20", 1, {"vwap_20"}},
      {"svwap", 1, {"svwap"}},
      {"bb:20:2", 3, {"bb_lower_20_2", "bb_middle_20_2", "bb_upper_20_2"}},
      {"bb:10:2.5",
       3,
       {"bb_lower_10_2.5", "bb_middle_10_2.5", "bb_upper_10_2.5"}},
      {"macd:12:26:9",
       3,
       {"macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9"}},
  };
  char buf[IND_NAME_MAX];
  for (size_t c = 0; c < DTO_ARRAY_LEN(cases); c++) {
    indicator *ind = parse_ok(cases[c].spec);
    assert_int_equal(indicator_outputs(ind), cases[c].outputs);
    for (size_t i = 0; i < cases[c].outputs; i++)
      assert_string_equal(indicator_output_name(ind, i, buf, sizeof buf),
                          cases[c].names[i]);
    assert_null(indicator_output_name(ind, cases[c].outputs, buf, sizeof buf));
    free(ind);
  }
  /* Truncation stays inside the buffer. */
  indicator *ind = parse_ok("macd:12:26:9");
  char small[6];
  assert_string_equal(indicator_output_name(ind, 2, small, sizeof small),
                      "macd_");
  assert_null(indicator_output_name(ind, 0, small, 0));
  free(ind);
}

static void test_parse_errors(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    int rc;
    const char *msg; /* expected substring of the reason */
  } cases[] = {
      {"", DTO_EPARSE, "empty"},
      {"sma:0", DTO_ERANGE, "period 0 is out of range; must be 1..1000"},
      {"sma:1001", DTO_ERANGE, "period 1001 is out of range"},
      {"sma:99999999999999999999", DTO_ERANGE, "out of range"},
      {"sma:abc", DTO_EPARSE, "period 'abc' is not an integer"},
      {"sma:-5", DTO_EPARSE, "'-5' is not an integer"},
      {"sma: 5", DTO_EPARSE, "not an integer"},
      {"sma:5x", DTO_EPARSE, "'5x' is not an integer"},
      {"sma:", DTO_EPARSE, "period is empty"},
      {"sma", DTO_EPARSE, "sma needs 1 parameter (sma:PERIOD), got 0"},
      {"sma:5:6", DTO_EPARSE, "sma needs 1 parameter (sma:PERIOD), got 2"},
      {"SMA:5", DTO_EPARSE, "unknown indicator 'SMA'"},
      {"bogus:3", DTO_EPARSE, "unknown indicator 'bogus' (known: sma, ema"},
      {":3", DTO_EPARSE, "unknown indicator ''"},
      {"bb:20", DTO_EPARSE, "bb needs 2 parameters (bb:PERIOD:K), got 1"},
      {"bb:20:0", DTO_ERANGE, "k 0 is out of range"},
      {"bb:20:101", DTO_ERANGE, "k 101 is out of range"},
      {"bb:20:x", DTO_EPARSE, "k 'x' is not a decimal number"},
      {"bb:20:1.2.3", DTO_EPARSE, "not a decimal number"},
      {"bb:20:1e1", DTO_EPARSE, "not a decimal number"},
      {"bb:20:.", DTO_EPARSE, "not a decimal number"},
      {"bb:2000:2", DTO_ERANGE, "period 2000 is out of range"},
      {"macd:12:26", DTO_EPARSE, "macd needs 3 parameters"},
      {"macd:26:12:9", DTO_ERANGE,
       "fast period 26 must be less than slow period 12"},
      {"macd:12:12:9", DTO_ERANGE, "must be less than"},
      {"macd:12:26:0", DTO_ERANGE, "signal period 0 is out of range"},
      {"macd:1:2:3:4:5:6", DTO_EPARSE, "got at least 4"},
      {"svwap:3", DTO_EPARSE, "svwap takes no parameters"},
      {"svwap:", DTO_EPARSE, "svwap takes no parameters"},
      {"vwap:1000000", DTO_ERANGE, "out of range"},
  };
  for (size_t c = 0; c < DTO_ARRAY_LEN(cases); c++) {
    indicator *ind = malloc(sizeof *ind);
    char err[160] = "";
    assert_non_null(ind);
    ind->kind = IND_KIND_COUNT; /* must be left untouched */
    int rc = indicator_parse(cases[c].spec, ind, err, sizeof err);
    if (rc != cases[c].rc || !strstr(err, cases[c].msg))
      fail_msg("\"%s\": rc %d (want %d), err \"%s\" (want \"%s\")",
               cases[c].spec, rc, cases[c].rc, err, cases[c].msg);
    assert_int_equal(ind->kind, IND_KIND_COUNT);
    /* A tiny or absent error buffer is fine. */
    char tiny[4];
    assert_int_equal(indicator_parse(cases[c].spec, ind, tiny, sizeof tiny),
                     cases[c].rc);
    assert_true(strlen(tiny) < sizeof tiny);
    assert_int_equal(indicator_parse(cases[c].spec, ind, NULL, 0), cases[c].rc);
    free(ind);
  }
  /* Too long: refused before anything else is looked at. */
  char spec[IND_SPEC_MAX + 2], err[128];
  memset(spec, '1', sizeof spec - 1);
  memcpy(spec, "sma:", 4);
  spec[sizeof spec - 1] = '\0';
  indicator *ind = malloc(sizeof *ind);
  assert_non_null(ind);
  assert_int_equal(indicator_parse(spec, ind, err, sizeof err), DTO_ETOOBIG);
  assert_string_equal(err, "indicator spec longer than 64 bytes");
  spec[IND_SPEC_MAX] = '\0'; /* exactly 64 bytes: parsed, then too large */
  assert_int_equal(indicator_parse(spec, ind, err, sizeof err), DTO_ERANGE);
  free(ind);
  /* Leading zeros are still a number. */
  ind = parse_ok("sma:020");
  assert_int_equal(indicator_warmup(ind, 0), 20);
  free(ind);
}

static void test_typed_init_range(void **state) {
  (void)state;
  ind_sma *sma = malloc(sizeof *sma);
  ind_bb *bb = malloc(sizeof *bb);
  ind_vwap *vw = malloc(sizeof *vw);
  ind_ema ema;
  ind_rsi rsi;
  ind_atr atr;
  ind_macd macd;
  assert_non_null(sma);
  assert_non_null(bb);
  assert_non_null(vw);
  static const int bad[] = {0, -1, IND_MAX_PERIOD + 1, INT32_MAX, INT32_MIN};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    assert_int_equal(ind_sma_init(sma, bad[i]), DTO_ERANGE);
    assert_int_equal(ind_ema_init(&ema, bad[i]), DTO_ERANGE);
    assert_int_equal(ind_rsi_init(&rsi, bad[i]), DTO_ERANGE);
    assert_int_equal(ind_atr_init(&atr, bad[i]), DTO_ERANGE);
    assert_int_equal(ind_bb_init(bb, bad[i], 2), DTO_ERANGE);
    assert_int_equal(ind_vwap_init(vw, bad[i]), DTO_ERANGE);
    assert_int_equal(ind_macd_init(&macd, 1, bad[i], 9), DTO_ERANGE);
  }
  assert_int_equal(ind_sma_init(sma, IND_MAX_PERIOD), 0);
  assert_int_equal(ind_bb_init(bb, 20, 0), DTO_ERANGE);
  assert_int_equal(ind_bb_init(bb, 20, NAN), DTO_ERANGE);
  assert_int_equal(ind_bb_init(bb, 20, INFINITY), DTO_ERANGE);
  assert_int_equal(ind_macd_init(&macd, 5, 5, 9), DTO_ERANGE);
  /* A full-size window works across several renewals. */
  for (int i = 0; i < 3 * IND_MAX_PERIOD + 7; i++)
    ind_sma_update(sma, (double)i);
  assert_true(ind_sma_ready(sma));
  assert_true(near(ind_sma_value(sma),
                   (3 * IND_MAX_PERIOD + 6) - (IND_MAX_PERIOD - 1) / 2.0));
  free(sma);
  free(bb);
  free(vw);
}

/* The fixed-point SMA is exact: its sum equals the naive sum of the window
 * at every step, its comparison equals the exact rational comparison, and
 * its value matches the double SMA of the same prices. */
static void test_smafx_exact(void **state) {
  (void)state;
  ind_smafx a, b;
  ind_sma d;
  assert_int_equal(ind_smafx_init(&a, 0), DTO_ERANGE);
  assert_int_equal(ind_smafx_init(&a, IND_MAX_PERIOD + 1), DTO_ERANGE);
  assert_int_equal(ind_smafx_init(&a, 7), 0);
  assert_int_equal(ind_smafx_init(&b, 19), 0);
  assert_int_equal(ind_sma_init(&d, 19), 0);
  fx hist[4000];
  uint64_t x = 12345;
  for (int i = 0; i < 4000; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    /* prices from 0.01 to 100000.00 in cents, with big jumps */
    fx p = (fx)((x >> 33) % 10000000 + 1) * (FX_ONE / 100);
    hist[i] = p;
    ind_smafx_update(&a, p);
    ind_smafx_update(&b, p);
    ind_sma_update(&d, fx_to_double(p));
    assert_int_equal(ind_smafx_ready(&a), i >= 6);
    assert_int_equal(ind_smafx_ready(&b), i >= 18);
    if (i < 18)
      continue;
    int64_t sa = 0, sb = 0;
    for (int k = i - 6; k <= i; k++)
      sa += hist[k];
    for (int k = i - 18; k <= i; k++)
      sb += hist[k];
    assert_int_equal(a.sum, sa);
    assert_int_equal(b.sum, sb);
    __int128 l = (__int128)sa * 19, r = (__int128)sb * 7;
    assert_int_equal(ind_smafx_cmp(&a, &b), (l > r) - (l < r));
    assert_int_equal(ind_smafx_cmp(&a, &a), 0);
    double want = ind_sma_value(&d);
    assert_true(fabs(ind_smafx_value(&b) - want) <= 1e-12 * fabs(want));
  }
}

/* ind_smafx_cmp's 64-bit products give the 128-bit comparison's answer
 * whenever they fit, and say so when they do not: random sums of every
 * magnitude (up to the int64 range, either sign) and periods, many of them
 * near the edge where a product stops fitting, and ties. */
static void test_smafx_cmp64(void **state) {
  (void)state;
  uint64_t x = 987654321;
  int fits = 0, wide = 0, ties = 0;
  for (int i = 0; i < 200000; i++) {
    ind_smafx a = {0}, b = {0};
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    a.n = a.count = (int)((x >> 20) % IND_MAX_PERIOD) + 1;
    b.n = b.count = (int)((x >> 40) % IND_MAX_PERIOD) + 1;
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    /* the largest sums whose products fit, and steps around them */
    int64_t edge_a = INT64_MAX / b.count, edge_b = INT64_MAX / a.count;
    int64_t da = (int64_t)(x % 4) - 2, db = (int64_t)((x >> 8) % 4) - 2;
    switch (i % 4) {
    case 0: /* anywhere in the int64 range */
      a.sum = (int64_t)x;
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      b.sum = (int64_t)x;
      break;
    case 1: /* near the edge */
      a.sum = edge_a == INT64_MAX && da > 0 ? edge_a : edge_a + da;
      b.sum = edge_b == INT64_MAX && db > 0 ? edge_b : edge_b + db;
      break;
    case 2: /* the same, negative */
      a.sum = -edge_a - da;
      b.sum = -edge_b - db;
      break;
    default: /* prices' sums, ties included: b's mean equal to a's */
      a.sum = (int64_t)(x % 10000000 + 1) * a.count * (FX_ONE / 100);
      b.sum = x & 1 ? a.sum / a.count * b.count
                    : (int64_t)((x >> 24) % 10000000 + 1) * b.count *
                          (FX_ONE / 100);
      break;
    }
    int want = ind__smafx_cmp_wide(&a, &b), got = 2;
    __int128 l = (__int128)a.sum * b.count, r = (__int128)b.sum * a.count;
    bool fit =
        l >= INT64_MIN && l <= INT64_MAX && r >= INT64_MIN && r <= INT64_MAX;
    assert_int_equal(ind_smafx_cmp64(&a, &b, &got), fit);
    if (fit) {
      assert_int_equal(got, want);
      fits++;
    } else {
      assert_int_equal(got, 2); /* untouched */
      wide++;
    }
    assert_int_equal(ind_smafx_cmp(&a, &b), want);
    ties += want == 0;
  }
  assert_true(fits > 50000 && wide > 50000 && ties > 1000);
}

int main(void) {
  const struct CMUnitTest ref_tests[] = {
      cmocka_unit_test(test_smafx_exact),
      cmocka_unit_test(test_smafx_cmp64),
      cmocka_unit_test(test_reference_columns),
      cmocka_unit_test(test_reference_macd_hist),
      cmocka_unit_test(test_reference_typed_api),
      cmocka_unit_test(test_reference_series_api),
  };
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_series_identical),
      cmocka_unit_test(test_period_one),
      cmocka_unit_test(test_constant_series),
      cmocka_unit_test(test_sma_no_drift),
      cmocka_unit_test(test_bb_large_level),
      cmocka_unit_test(test_vwap_volume),
      cmocka_unit_test(test_svwap_sessions),
      cmocka_unit_test(test_macd_warmup),
      cmocka_unit_test(test_output_names),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_typed_init_range),
  };
  int fails = cmocka_run_group_tests_name("indicators_reference", ref_tests,
                                          load_reference, free_reference);
  fails += cmocka_run_group_tests_name("indicators", tests, NULL, NULL);
  return fails ? 1 : 0;
}
