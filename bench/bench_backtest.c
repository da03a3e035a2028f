/* bench_backtest.c - backtest throughput and event-to-order latency.
 *
 * Builds N in-memory 1-minute bars (a seeded random walk on a 24/7
 * calendar), then:
 *   1. the ceiling: a bare C loop over the same bars computing the same
 *      moving-average crossover signals (two SMAs of closes, sign changes);
 *   2. the full path: every bar through the engine (strategy host with the
 *      built-in ma_crossover, risk gate, OMS, paper exchange, portfolio);
 *   3. latency: for every bar that makes an order, the time from handing
 *      the bar to the engine to the order reaching the paper broker.
 * Prints bars/s for 1 and 2, their ratio, and latency percentiles.
 *
 * usage: bench_backtest [N_BARS] (default 10000000)
 */
#include "core/prelude.h"

#include <inttypes.h>
#include <math.h>

#include "broker/paper.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "market/calendar.h"

#define FAST 10
#define SLOW 30

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static bar *make_bars(size_t n) {
  bar *v = xcalloc(n, sizeof *v);
  uint64_t s = 42;
  int64_t cents = 10000; /* 100.00 */
  dto_time t = 1735689600LL * DTO_NS_PER_SEC; /* 2025-01-01 */
  for (size_t i = 0; i < n; i++) {
    int64_t step = (int64_t)(rng_next(&s) % 21) - 10;
    if (cents + step < 100)
      step = -step;
    int64_t o = cents, c = cents + step;
    int64_t hi = (o > c ? o : c) + (int64_t)(rng_next(&s) % 5);
    int64_t lo = (o < c ? o : c) - (int64_t)(rng_next(&s) % 5);
    v[i] = (bar){t, 60 * DTO_NS_PER_SEC, o * 1000000, hi * 1000000,
                 lo * 1000000, c * 1000000,
                 (fx)(50000 + rng_next(&s) % 450000) * FX_ONE, 0};
    cents = c;
    t += 60 * DTO_NS_PER_SEC;
  }
  return v;
}

/* The ceiling: the same signals with no engine -- what a hand-written C
 * loop would do: exact integer running sums of the closes over two rings,
 * compared by cross-multiplication, counting crossovers. */
static uint64_t bare_loop(const bar *v, size_t n) {
  static fx rf[FAST], rs[SLOW];
  int64_t sf = 0, ss = 0;
  int last = 0;
  uint64_t crosses = 0;
  for (size_t i = 0; i < n; i++) {
    fx c = v[i].close;
    sf += c - (i >= FAST ? rf[i % FAST] : 0);
    ss += c - (i >= SLOW ? rs[i % SLOW] : 0);
    rf[i % FAST] = c;
    rs[i % SLOW] = c;
    if (i + 1 < SLOW)
      continue;
    __int128 l = (__int128)sf * SLOW, r = (__int128)ss * FAST;
    int sign = (l > r) - (l < r);
    if (sign != last && sign != 0 && last != 0)
      crosses++;
    if (sign != 0) /* a tie keeps the last sign, as ma_crossover does */
      last = sign;
  }
  return crosses;
}

/* A broker wrapper that timestamps submits, for the latency pass. */
typedef struct timed {
  matcher *m;
  int64_t last_submit;
} timed;

static int t_submit(void *ctx, const order *o) {
  timed *t = ctx;
  t->last_submit = clock_mono_ns();
  return matcher_submit(t->m, o);
}
static int t_cancel(void *ctx, order_id id) {
  return matcher_cancel(((timed *)ctx)->m, id);
}
static int t_replace(void *ctx, order_id id, const order *o) {
  return matcher_replace(((timed *)ctx)->m, id, o);
}
static void t_bar(void *ctx, const bar *b) { matcher_on_bar(((timed *)ctx)->m, b); }
static void t_time(void *ctx, dto_time t) { matcher_on_time(((timed *)ctx)->m, t); }
static size_t t_poll(void *ctx, broker_report *out, size_t max) {
  return matcher_poll(((timed *)ctx)->m, out, max);
}
static bool t_idle(void *ctx) {
  return matcher_model(((timed *)ctx)->m) == FILL_BAR_CLOSE;
}
static const broker_ops timed_ops = {.name = "timed-paper",
                                     .submit = t_submit,
                                     .cancel = t_cancel,
                                     .replace = t_replace,
                                     .on_bar = t_bar,
                                     .on_time = t_time,
                                     .poll = t_poll,
                                     .sync_reports = true,
                                     .needs_idle_bars = t_idle};

#define RUNS 5

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return v[n / 2];
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

typedef struct run_result {
  double secs;
  uint64_t orders, fills;
  int64_t *lat;
  size_t nlat;
} run_result;

static void run_engine(const bar *v, size_t n, bool measure, run_result *out) {
  instrument_table ins;
  instruments_init(&ins);
  instrument in = {0};
  snprintf(in.symbol, sizeof in.symbol, "BENCH");
  in.asset_class = ASSET_CRYPTO;
  in.tick = FX_ONE / 100;
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "USD");
  in.cal = calendar_crypto();
  instruments_add(&ins, &in, NULL);
  sim_clock sc;
  dto_clock clk;
  clock_sim_init(&clk, &sc, v[0].ts);
  match_config mc;
  match_config_init(&mc);
  matcher *m = matcher_new(&mc, &ins, &clk);
  timed td = {m, 0};
  engine_account acct = {"bench", fx_from_int(10000000)};
  engine_config ec = {0};
  ec.instruments = &ins;
  ec.clock = &clk;
  ec.broker = measure ? &timed_ops : &paper_broker_ops;
  ec.broker_ctx = measure ? (void *)&td : paper_ctx(m);
  ec.fees.per_share = FX_ONE / 200;
  ec.accounts = &acct;
  ec.naccounts = 1;
  engine *e = engine_new(&ec);
  const strategy_def *def = strategy_find("ma_crossover");
  param_value pv[16];
  param_defaults(def->params, def->nparams, pv);
  char rb[128];
  param_parse(&def->params[param_find(def->params, def->nparams, "exit_before_close")],
              "0s", &pv[param_find(def->params, def->nparams, "exit_before_close")],
              rb, sizeof rb);
  sym_id sym = 0;
  engine_strategy es = {def, "mac", 0, &sym, 1, fx_from_int(10000000), pv};
  engine_add_strategy(e, &es);
  engine_start(e);
  out->lat = measure ? xcalloc(n / 4 + 16, sizeof *out->lat) : NULL;
  out->nlat = 0;
  int64_t t0 = clock_mono_ns();
  for (size_t i = 0; i < n; i++) {
    const bar *b = &v[i];
    sim_clock_set(&sc, b->ts);
    engine_bar_open(e, b);
    sim_clock_set(&sc, bar_end(b));
    if (measure) {
      td.last_submit = 0;
      int64_t s = clock_mono_ns();
      engine_on_bar(e, b);
      if (td.last_submit && out->nlat < n / 4 + 16)
        out->lat[out->nlat++] = td.last_submit - s;
    } else {
      engine_on_bar(e, b);
    }
  }
  out->secs = (double)(clock_mono_ns() - t0) / 1e9;
  out->orders = oms_count(engine_oms(e));
  out->fills = engine_fill_count(e);
  engine_free(e);
  matcher_free(m);
  instruments_release(&ins);
}

int main(int argc, char **argv) {
  size_t n = 10000000;
  const char *only = NULL; /* "bare" or "engine": one pass, for callgrind */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
      if (strcmp(only, "bare") && strcmp(only, "engine")) {
        fprintf(stderr, "bench_backtest: --only takes bare or engine\n");
        return 2;
      }
      continue;
    }
    char *end;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (*end || v < 1000) {
      fprintf(stderr, "usage: bench_backtest [N_BARS >= 1000] "
                      "[--only bare|engine]\n");
      return 2;
    }
    n = (size_t)v;
  }
  bar *v = make_bars(n);
  if (only) { /* a single pass, e.g. under callgrind to count instructions */
    run_result r = {0};
    if (!strcmp(only, "bare"))
      printf("%" PRIu64 " crossovers\n", bare_loop(v, n));
    else {
      run_engine(v, n, false, &r);
      printf("%" PRIu64 " orders\n", r.orders);
    }
    free(v);
    return 0;
  }
  /* warm up: page in the bars */
  volatile uint64_t sink = bare_loop(v, n);
  (void)sink;

  /* Each figure is the median of RUNS runs; the machine is shared. */
  double bare_t[RUNS], eng_t[RUNS];
  uint64_t crosses = 0;
  run_result full = {0}, lat;
  for (int k = 0; k < RUNS; k++) {
    int64_t t0 = clock_mono_ns();
    crosses = bare_loop(v, n);
    bare_t[k] = (double)(clock_mono_ns() - t0) / 1e9;
    run_engine(v, n, false, &full);
    eng_t[k] = full.secs;
  }
  run_engine(v, n, true, &lat);
  qsort(lat.lat, lat.nlat, sizeof *lat.lat, cmp_i64);
  double bare = median(bare_t, RUNS), eng = median(eng_t, RUNS);
  double bare_rate = (double)n / bare, eng_rate = (double)n / eng;
  printf("bars                         %zu (1-minute, one symbol, "
         "ma_crossover %d/%d SMA)\n",
         n, FAST, SLOW);
  printf("bare loop (ceiling)          %.1f M bars/s  (median of %d: %.3f s; "
         "%" PRIu64 " crossovers)\n",
         bare_rate / 1e6, RUNS, bare, crosses);
  printf("engine, full path            %.1f M bars/s  (median of %d: %.3f s; "
         "%" PRIu64 " orders, %" PRIu64 " fills)\n",
         eng_rate / 1e6, RUNS, eng, full.orders, full.fills);
  printf("ratio bare/engine            %.2fx  (budget: engine >= 20 M bars/s; "
         "aim: ratio <= 3x)\n",
         bare_rate / eng_rate);
  printf("engine time per bar          %.1f ns (bare loop %.1f ns)\n",
         eng * 1e9 / (double)n, bare * 1e9 / (double)n);
  if (lat.nlat) {
    printf("event->order latency         p50 %" PRId64 " ns, p99 %" PRId64
           " ns, p99.9 %" PRId64 " ns  (%zu orders; budget p50 <= 1000, "
           "p99 <= 5000)\n",
           lat.lat[lat.nlat / 2], lat.lat[lat.nlat * 99 / 100],
           lat.lat[lat.nlat * 999 / 1000], lat.nlat);
  }
  free(lat.lat);
  free(v);
  return 0;
}
