/* bench_indicators.c - dto's SMA, EMA and RSI next to Tulip Indicators.
 *
 * One series of N values (default 10,000,000): a seeded random walk of
 * fixed-point prices in whole cents around 100 (steps of 1 to 50 cents up
 * or down, kept above 1.00), converted once with fx_to_double() because
 * dto's indicators (market/indicators.h) take doubles.  Every contender
 * reads that same array of doubles and writes one output per value from its
 * first ready one into an array of doubles, faulted in before the clock
 * starts.
 *
 *   - dto: the typed API as a user calls it, value by value:
 *     ind_X_update(), then ind_X_ready() and ind_X_value() into the output.
 *   - Tulip: ti_sma / ti_ema / ti_rsi of Tulip Indicators (C, LGPL-3.0),
 *     one call over the whole series, from the shared library bench/tulip.sh
 *     builds from the npm package `tulind` at bench time (path given as the
 *     third argument; loaded with dlopen, so Tulip is never linked into dto).
 *   - loop: the same algorithms as Tulip's, written out here (a running-sum
 *     SMA; an EMA with alpha 2/(n+1) seeded with the first value; Wilder's
 *     RSI seeded with the means of the first n gains and losses).  When
 *     Tulip cannot be loaded these loops are the reference, and every line
 *     says so.
 *
 * Each figure is the best of RUNS passes (default 7), the contenders taking
 * turns within a pass; ns per input value.  Then the outputs are compared:
 *
 *   - SMA: every value, relative difference.  Tulip's plain running sum
 *     drifts slowly; dto's sum is compensated and renewed every n values.
 *   - EMA: the seeds differ (Tulip: the first value; dto and TTR: the mean
 *     of the first n), so the first outputs differ; the difference shrinks
 *     by (1 - alpha) a value and is compared from value 40n on.
 *   - RSI: the same seed as dto and TTR; every value.  On a flat window
 *     (no gains and no losses) Tulip gives NaN (0/0) and dto 50; they are
 *     counted, not compared.
 *
 * A relative difference above 1e-9 is a failure (exit 1).  An FNV-1a hash
 * of each of dto's output arrays (its bits) is printed, so a change to
 * market/indicators.c can be checked to leave every value identical.
 *
 * usage: bench_indicators [N] [RUNS] [LIBTULIP]
 */
#include "core/prelude.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "core/alloc.h"
#include "core/fx.h"
#include "market/indicators.h"

#define SMA_N 20
#define EMA_N 20
#define RSI_N 14
#define TOLERANCE 1e-9

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static void make_series(double *x, size_t n) {
  uint64_t seed = 0x9E3779B97F4A7C15ULL;
  const fx cent = FX_SCALE / 100;
  fx p = 100 * FX_SCALE;
  for (size_t i = 0; i < n; i++) {
    uint64_t r = rng_next(&seed);
    fx step = (fx)(1 + (r >> 33) % 50) * cent;
    p += (r & 1) ? step : -step;
    if (p < FX_SCALE)
      p += 2 * step;
    x[i] = fx_to_double(p);
  }
}

static uint64_t hash_doubles(const double *v, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    uint64_t b;
    memcpy(&b, &v[i], sizeof b);
    for (int k = 0; k < 8; k++) {
      h ^= (b >> (8 * k)) & 0xff;
      h *= 0x100000001b3ULL;
    }
  }
  return h;
}

/* ---- dto, as a user calls it ------------------------------------------- */

static size_t dto_sma(const double *x, size_t n, int p, double *out) {
  static ind_sma s; /* 8 KB of ring: not on the stack */
  ind_sma_init(&s, p);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    ind_sma_update(&s, x[i]);
    if (ind_sma_ready(&s))
      out[k++] = ind_sma_value(&s);
  }
  return k;
}

static size_t dto_ema(const double *x, size_t n, int p, double *out) {
  ind_ema s;
  ind_ema_init(&s, p);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    ind_ema_update(&s, x[i]);
    if (ind_ema_ready(&s))
      out[k++] = ind_ema_value(&s);
  }
  return k;
}

static size_t dto_rsi(const double *x, size_t n, int p, double *out) {
  ind_rsi s;
  ind_rsi_init(&s, p);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    ind_rsi_update(&s, x[i]);
    if (ind_rsi_ready(&s))
      out[k++] = ind_rsi_value(&s);
  }
  return k;
}

/* The series API: one call, out[i] for every x[i] (NAN during warm-up);
 * returns the number of values from the first ready one, which the caller
 * finds at out + n - count. */
static size_t dto_series(int ind, const double *x, size_t n, int p,
                         double *out) {
  static ind_sma sma;
  ind_ema ema;
  ind_rsi rsi;
  switch (ind) {
  case 0:
    ind_sma_init(&sma, p);
    ind_sma_series(&sma, x, n, out);
    return n - (size_t)(p - 1);
  case 1:
    ind_ema_init(&ema, p);
    ind_ema_series(&ema, x, n, out);
    return n - (size_t)(p - 1);
  default:
    ind_rsi_init(&rsi, p);
    ind_rsi_series(&rsi, x, n, out);
    return n - (size_t)p;
  }
}

/* ---- the equivalent loops: Tulip's algorithms, written out ------------- */

static size_t loop_sma(const double *x, size_t n, int p, double *out) {
  if (n < (size_t)p)
    return 0;
  double scale = 1.0 / p, sum = 0;
  for (int i = 0; i < p; i++)
    sum += x[i];
  size_t k = 0;
  out[k++] = sum * scale;
  for (size_t i = (size_t)p; i < n; i++) {
    sum += x[i];
    sum -= x[i - (size_t)p];
    out[k++] = sum * scale;
  }
  return k;
}

static size_t loop_ema(const double *x, size_t n, int p, double *out) {
  if (n == 0)
    return 0;
  double alpha = 2.0 / (p + 1.0), v = x[0];
  out[0] = v;
  for (size_t i = 1; i < n; i++) {
    v = (x[i] - v) * alpha + v;
    out[i] = v;
  }
  return n;
}

static size_t loop_rsi(const double *x, size_t n, int p, double *out) {
  if (n <= (size_t)p)
    return 0;
  double per = 1.0 / p, up = 0, down = 0;
  for (int i = 1; i <= p; i++) {
    up += x[i] > x[i - 1] ? x[i] - x[i - 1] : 0;
    down += x[i] < x[i - 1] ? x[i - 1] - x[i] : 0;
  }
  up /= p;
  down /= p;
  size_t k = 0;
  out[k++] = 100.0 * (up / (up + down));
  for (size_t i = (size_t)p + 1; i < n; i++) {
    double u = x[i] > x[i - 1] ? x[i] - x[i - 1] : 0;
    double d = x[i] < x[i - 1] ? x[i - 1] - x[i] : 0;
    up = (u - up) * per + up;
    down = (d - down) * per + down;
    out[k++] = 100.0 * (up / (up + down));
  }
  return k;
}

/* ---- Tulip, loaded at run time ------------------------------------------ */

typedef int (*ti_fn)(int size, const double *const *inputs,
                     const double *options, double *const *outputs);
typedef int (*ti_start_fn)(const double *options);

typedef struct tulip {
  ti_fn fn[3];
  ti_start_fn start[3];
} tulip;

static const char *const ti_names[3] = {"ti_sma", "ti_ema", "ti_rsi"};
static const char *const ti_start_names[3] = {"ti_sma_start", "ti_ema_start",
                                              "ti_rsi_start"};

/* Load Tulip's three functions from path; false (with the reason printed)
 * when that is not possible. */
static bool tulip_load(const char *path, tulip *t) {
  if (!path || !*path) {
    printf("Tulip: no library given (bench/tulip.sh could not build one)\n");
    return false;
  }
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    printf("Tulip: cannot load %s: %s\n", path, dlerror());
    return false;
  }
  for (int i = 0; i < 3; i++) {
    void *f = dlsym(h, ti_names[i]), *s = dlsym(h, ti_start_names[i]);
    if (!f || !s) {
      printf("Tulip: %s has no %s\n", path, ti_names[i]);
      return false;
    }
    memcpy(&t->fn[i], &f, sizeof f);
    memcpy(&t->start[i], &s, sizeof s);
  }
  return true;
}

static size_t tulip_run(const tulip *t, int which, const double *x, size_t n,
                        int p, double *out) {
  double opt = p;
  const double *in[1] = {x};
  double *outs[1] = {out};
  int start = t->start[which](&opt);
  if (t->fn[which]((int)n, in, &opt, outs) != 0) {
    fprintf(stderr, "%s failed\n", ti_names[which]);
    exit(1);
  }
  return (size_t)start < n ? n - (size_t)start : 0;
}

/* ---- comparison ---------------------------------------------------------- */

typedef struct cmp_result {
  double max_rel;  /* largest relative difference compared */
  size_t compared; /* values compared */
  size_t flat;     /* dto 50 where the reference is NaN (flat window) */
  size_t bad;      /* NaN elsewhere, or a count mismatch */
} cmp_result;

/* Compare dto's outputs a[0..na) with the reference's b[0..nb), aligned at
 * their ends (both end at the last input value), skipping the first `skip`
 * of a. */
static cmp_result compare(const double *a, size_t na, const double *b,
                          size_t nb, size_t skip) {
  cmp_result r = {0, 0, 0, 0};
  if (na > nb) {
    r.bad = na - nb;
    return r;
  }
  const double *bb = b + (nb - na);
  for (size_t i = skip; i < na; i++) {
    if (isnan(bb[i])) {
      if (a[i] == 50.0)
        r.flat++;
      else
        r.bad++;
      continue;
    }
    double d = fabs(a[i] - bb[i]), m = fabs(bb[i]) > 1 ? fabs(bb[i]) : 1;
    if (!(d / m <= r.max_rel))
      r.max_rel = d / m;
    r.compared++;
  }
  return r;
}

/* ---- main ---------------------------------------------------------------- */

enum { C_SERIES, C_STREAM, C_TULIP, C_LOOP, C_COUNT };

static const char *const cname[C_COUNT] = {"dto series", "dto value by value",
                                           "Tulip", "equivalent loop"};

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 10000000;
  int runs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 7;
  const char *libpath = argc > 3 ? argv[3] : NULL;
  if (n < 1000 || n > INT32_MAX || runs < 1) {
    fprintf(stderr, "usage: bench_indicators [N >= 1000] [RUNS] [LIBTULIP]\n");
    return 2;
  }
  tulip t;
  bool have_tulip = tulip_load(libpath, &t);
  if (have_tulip)
    printf("Tulip: %s\n", libpath);
  else
    printf(
        "Tulip: NOT AVAILABLE; the reference below is the equivalent loop "
        "written in this bench (Tulip's algorithms), not Tulip's own code\n");

  double *x = xmalloc(n * sizeof *x);
  double *out[C_COUNT];
  for (int c = 0; c < C_COUNT; c++) {
    out[c] = xmalloc(n * sizeof *out[c]);
    memset(out[c], 0, n * sizeof *out[c]); /* fault the pages in */
  }
  make_series(x, n);
  printf("series: %zu values (fixed-point random walk in cents around 100, "
         "as doubles); best of %d runs; ns per input value\n",
         n, runs);

  static const char *const names[3] = {"SMA", "EMA", "RSI"};
  static const int periods[3] = {SMA_N, EMA_N, RSI_N};
  int failed = 0;
  for (int ind = 0; ind < 3; ind++) {
    int p = periods[ind];
    double best[C_COUNT];
    size_t cnt[C_COUNT] = {0, 0, 0, 0};
    for (int c = 0; c < C_COUNT; c++)
      best[c] = INFINITY;
    for (int r = 0; r < runs; r++) {
      for (int c = 0; c < C_COUNT; c++) {
        if (c == C_TULIP && !have_tulip)
          continue;
        double t0 = now_s();
        switch (c) {
        case C_SERIES:
          cnt[c] = dto_series(ind, x, n, p, out[c]);
          break;
        case C_STREAM:
          cnt[c] = ind == 0   ? dto_sma(x, n, p, out[c])
                   : ind == 1 ? dto_ema(x, n, p, out[c])
                              : dto_rsi(x, n, p, out[c]);
          break;
        case C_TULIP:
          cnt[c] = tulip_run(&t, ind, x, n, p, out[c]);
          break;
        default:
          cnt[c] = ind == 0   ? loop_sma(x, n, p, out[c])
                   : ind == 1 ? loop_ema(x, n, p, out[c])
                              : loop_rsi(x, n, p, out[c]);
          break;
        }
        double dt = now_s() - t0;
        if (dt < best[c])
          best[c] = dt;
      }
    }
    int ref = have_tulip ? C_TULIP : C_LOOP;
    double ns[C_COUNT];
    for (int c = 0; c < C_COUNT; c++)
      ns[c] = best[c] * 1e9 / (double)n;
    printf("%s(%d): dto %.2f ns/value (%s), %s %.2f ns/value: "
           "dto/%s %.2f, %s\n",
           names[ind], p, ns[C_SERIES], "series API", cname[ref], ns[ref],
           have_tulip ? "Tulip" : "loop", ns[C_SERIES] / ns[ref],
           ns[C_SERIES] <= ns[ref]          ? "dto as fast or faster"
           : ns[C_SERIES] <= 1.03 * ns[ref] ? "the same within 3%"
                                            : "dto SLOWER");
    printf("  also: dto value by value %.2f ns/value (%.2f x the reference)",
           ns[C_STREAM], ns[C_STREAM] / ns[ref]);
    if (have_tulip)
      printf(", equivalent loop %.2f ns/value", ns[C_LOOP]);
    printf("\n");

    /* dto's two APIs must give the same bits. */
    const double *ser = out[C_SERIES] + (n - cnt[C_SERIES]);
    if (cnt[C_SERIES] != cnt[C_STREAM] ||
        memcmp(ser, out[C_STREAM], cnt[C_STREAM] * sizeof *ser) != 0) {
      printf("  series and value-by-value outputs DIFFER\n");
      failed = 1;
    }
    size_t skip = ind == 1 ? (size_t)(40 * p) : 0;
    for (int c = C_TULIP; c < C_COUNT; c++) {
      if (c == C_TULIP && !have_tulip)
        continue;
      cmp_result cr = compare(ser, cnt[C_SERIES], out[c], cnt[c], skip);
      bool ok = cr.bad == 0 && cr.max_rel <= TOLERANCE;
      failed |= !ok;
      printf("  agreement with %s: %zu values compared%s, max relative "
             "difference %.2e%s",
             cname[c], cr.compared,
             skip ? " (from value 40n on: the seeds differ)" : "", cr.max_rel,
             ok ? "" : "  DISAGREE");
      if (cr.flat)
        printf(", %zu flat windows (dto 50, reference NaN)", cr.flat);
      if (ind == 1) {
        /* The first EMA output of each, to show the seeds. */
        const double *b = out[c] + (cnt[c] - cnt[C_SERIES]);
        printf("; first value %.6f (dto) vs %.6f", ser[0], b[0]);
      }
      printf("\n");
    }
    printf("  dto: %zu values from the first ready one, identical in both "
           "APIs; FNV-1a of their bits %016" PRIx64 "\n",
           cnt[C_SERIES], hash_doubles(ser, cnt[C_SERIES]));
  }
  for (int c = 0; c < C_COUNT; c++)
    free(out[c]);
  free(x);
  return failed ? 1 : 0;
}
