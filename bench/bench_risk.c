/* bench_risk.c - the pre-trade risk check and the kill switch.
 *
 *   1. One complete risk_check() with every check on: every order limit
 *      (size, value, both collars, reference age, position quantity and
 *      value, the duplicate window), every account limit (gross, net,
 *      concentration, buying power with credit, open orders, throttles per
 *      second and per minute, daily loss, drawdown, the pattern day trader
 *      rule, no extended hours) and every strategy limit (open orders,
 *      throttles, daily loss, drawdown, trading window, no new entries).
 *      The orders pass, so every check runs; the simulated time moves 20 ms
 *      per order, which keeps the throttles (4096 a second and a minute)
 *      from tripping, and the duplicate window (100 ms) always has entries
 *      to compare.  Timed in batches of 1000 checks; the figure is the
 *      median over batches, in ns per check, next to two references timed
 *      the same way in the same run: a bare function doing the same
 *      comparisons on the same inputs with none of the gate's bookkeeping,
 *      and the empty loop (the timing overhead).  Budget 200 ns.
 *   2. The kill switch: 1,000 working limit orders at the paper exchange;
 *      the time from engine_kill(e, true) until every order is canceled
 *      and a new order is refused.  Median of several runs.  Budget 100 ms.
 *
 * usage: bench_risk [N_CHECKS] (default 1000000, at least 10000)
 */
#include "core/prelude.h"

#include <inttypes.h>

#include "broker/paper.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "market/calendar.h"

#define BATCH 1000
#define KILL_ORDERS 1000
#define KILL_RUNS 7

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int64_t median_i64(int64_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_i64);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- 1. the check -------------------------------------------------------- */

static fx X(int64_t units, int64_t hundredths) {
  return units * FX_ONE + hundredths * (FX_ONE / 100);
}

static risk *gate_all_on(void) {
  static const uint32_t sacct[1] = {0};
  risk_order_limits ol;
  memset(&ol, 0, sizeof ol);
  ol.max_order_qty = X(1000, 0);
  ol.max_order_notional = X(200000, 0);
  ol.collar_pct = X(5, 0);
  ol.collar_ticks = 100;
  ol.ref_max_age = 5 * DTO_NS_PER_SEC;
  ol.max_pos_qty = X(5000, 0);
  ol.max_pos_notional = X(500000, 0);
  ol.dup_window = 100 * DTO_NS_PER_SEC / 1000;
  ol.set = RL_ALL;
  risk_account_limits al;
  risk_account_limits_init(&al);
  al.max_gross = X(1000000, 0);
  al.max_net = X(1000000, 0);
  al.max_concentration_pct = X(60, 0);
  al.check_buying_power = true;
  al.credit = X(10000, 0);
  al.max_open_orders = 1000;
  al.max_orders_per_sec = 4096;
  al.max_orders_per_min = 4096;
  al.max_daily_loss = X(1000, 0);
  al.max_drawdown = X(2000, 0);
  al.pdt = true;
  al.allow_short = false;
  al.allow_extended_hours = false;
  risk_strategy_limits sl;
  risk_strategy_limits_init(&sl);
  sl.max_open_orders = 1000;
  sl.max_orders_per_sec = 4096;
  sl.max_orders_per_min = 4096;
  sl.max_daily_loss = X(500, 0);
  sl.max_drawdown = X(800, 0);
  sl.max_consecutive_losses = 5;
  sl.fill_loop_count = 50;
  sl.fill_loop_window = DTO_NS_PER_SEC;
  sl.window_start = 9 * 60 + 35;
  sl.window_end = 15 * 60 + 50;
  sl.no_new_entries = 5 * DTO_NS_PER_MIN;
  risk_config c;
  memset(&c, 0, sizeof c);
  c.naccounts = c.nstrategies = 1;
  c.nsyms = 1;
  c.strategy_account = sacct;
  c.defaults = ol;
  c.account_orders = &ol;
  c.strategy_orders = &ol;
  c.symbol_orders = &ol;
  c.accounts = &al;
  c.strategies = &sl;
  risk *r = NULL;
  if (risk_new(&c, &r)) {
    fprintf(stderr, "bench_risk: bad risk configuration\n");
    exit(1);
  }
  return r;
}

/* A long position, working orders, day P&L inside every limit; the order
 * (a buy limit near the reference) passes every check. */
static risk_input input_all_on(dto_time t) {
  risk_input in;
  memset(&in, 0, sizeof in);
  in.now = t;
  in.ref_price = X(100, 0);
  in.ref_time = t;
  in.tick = X(0, 1);
  in.shortable = true;
  in.acct_pos = in.strat_pos = X(50, 0);
  in.acct_open_buy = X(20, 0);
  in.acct_open_sell = X(10, 0);
  in.acct_equity = X(20000, 0); /* under 25000: the PDT rule applies */
  in.acct_cash = X(50000, 0);
  in.acct_other_gross = X(5000, 0);
  in.acct_other_long = X(5000, 0);
  in.acct_other_short = X(-2000, 0);
  in.acct_open_buy_value = X(2000, 0);
  in.acct_open_orders = in.strat_open_orders = 5;
  in.session = RISK_SESS_REGULAR;
  in.minute_of_day = 10 * 60;
  in.session_close = t + 5 * DTO_NS_PER_HOUR;
  in.day_trades = 2;
  in.would_day_trade = true; /* with 2 of 3 day trades: passes */
  in.acct_day_pnl = X(-100, 0);
  in.acct_drawdown = X(150, 0);
  in.strat_day_pnl = X(-50, 0);
  in.strat_drawdown = X(60, 0);
  return in;
}

/* The reference: the same comparisons on the same inputs, written out by
 * hand with no reasons, no counters, no rings and no resolution of the
 * limits (they are constants here). */
__attribute__((noinline)) static int bare_check(const order *o,
                                                const risk_input *in) {
  int bad = 0;
  bad |= o->qty <= 0;
  bad |= o->limit_price <= 0;
  bad |= in->session != RISK_SESS_REGULAR;
  bad |= in->minute_of_day < 575 || in->minute_of_day >= 950;
  bad |= in->now >= in->session_close - 5 * DTO_NS_PER_MIN;
  bad |= o->qty > X(1000, 0);
  bad |= in->ref_price <= 0;
  bad |= in->now - in->ref_time > 5 * DTO_NS_PER_SEC;
  fx value = o->qty / FX_ONE * o->limit_price;
  bad |= value > X(200000, 0);
  fx dev = fx_abs(o->limit_price - in->ref_price);
  bad |= dev > in->ref_price / 20;
  bad |= dev > 100 * in->tick;
  fx proj = in->acct_pos + in->acct_open_buy + o->qty;
  bad |= fx_abs(proj) > X(5000, 0);
  fx pv = proj / FX_ONE * in->ref_price;
  bad |= pv > X(500000, 0);
  fx sv = (in->acct_pos - in->acct_open_sell) / FX_ONE * in->ref_price;
  fx sym = fx_max(fx_abs(pv), fx_abs(sv));
  bad |= in->acct_other_gross + sym > X(1000000, 0);
  bad |= fx_max(fx_abs(in->acct_other_long + pv),
                fx_abs(in->acct_other_short + sv)) > X(1000000, 0);
  bad |= sym > in->acct_equity / 100 * 60;
  bad |= value > in->acct_cash + X(10000, 0) - in->acct_open_buy_value;
  bad |= in->acct_open_orders >= 1000 || in->strat_open_orders >= 1000;
  bad |= in->would_day_trade && in->acct_equity < X(25000, 0) &&
         in->day_trades >= 3;
  bad |= -in->acct_day_pnl >= X(1000, 0) || -in->strat_day_pnl >= X(500, 0);
  bad |= in->acct_drawdown >= X(2000, 0) || in->strat_drawdown >= X(800, 0);
  return bad;
}

__attribute__((noinline)) static int empty_check(const order *o,
                                                 const risk_input *in) {
  __asm__ volatile("" : : "r"(o), "r"(in) : "memory");
  return 0;
}

typedef struct check_figs {
  int64_t gate, bare, empty; /* median ns per 1000 checks */
  uint64_t refused;
} check_figs;

static void bench_check(size_t n, check_figs *out) {
  size_t nb = n / BATCH;
  int64_t *tg = xcalloc(nb, sizeof *tg), *tb = xcalloc(nb, sizeof *tb),
          *te = xcalloc(nb, sizeof *te);
  risk *r = gate_all_on();
  dto_time t0 = days_from_civil(2025, 3, 3) * DTO_NS_PER_DAY +
                15 * DTO_NS_PER_HOUR; /* 10:00 New York */
  /* the orders: 21 distinct (qty, price) pairs in turn, so the duplicate
   * window (5 orders deep at 20 ms apart) never matches */
  order ord[21];
  for (int k = 0; k < 21; k++) {
    memset(&ord[k], 0, sizeof ord[k]);
    ord[k].side = SIDE_BUY;
    ord[k].type = ORD_LIMIT;
    ord[k].tif = TIF_DAY;
    ord[k].qty = X(10 + k % 3, 0);
    ord[k].limit_price = X(100, k % 7);
    ord[k].replaces = ORDER_NONE;
  }
  risk_input in = input_all_on(t0);
  uint64_t refused = 0, bad = 0;
  size_t i = 0;
  for (size_t b = 0; b < nb; b++) {
    /* the three loops see the same inputs, batch by batch */
    dto_time tb0 = in.now;
    int64_t s = clock_mono_ns();
    for (int k = 0; k < BATCH; k++, i++) {
      in.now += 20 * DTO_NS_PER_SEC / 1000;
      in.ref_time = in.now;
      in.session_close = in.now + 5 * DTO_NS_PER_HOUR;
      risk_decision d;
      refused += risk_check(r, &ord[i % 21], &in, &d) != RISK_OK;
    }
    tg[b] = clock_mono_ns() - s;
    in.now = tb0;
    size_t j = i - BATCH;
    s = clock_mono_ns();
    for (int k = 0; k < BATCH; k++, j++) {
      in.now += 20 * DTO_NS_PER_SEC / 1000;
      in.ref_time = in.now;
      in.session_close = in.now + 5 * DTO_NS_PER_HOUR;
      bad += (uint64_t)bare_check(&ord[j % 21], &in);
    }
    tb[b] = clock_mono_ns() - s;
    in.now = tb0;
    j = i - BATCH;
    s = clock_mono_ns();
    for (int k = 0; k < BATCH; k++, j++) {
      in.now += 20 * DTO_NS_PER_SEC / 1000;
      in.ref_time = in.now;
      in.session_close = in.now + 5 * DTO_NS_PER_HOUR;
      bad += (uint64_t)empty_check(&ord[j % 21], &in);
    }
    te[b] = clock_mono_ns() - s;
  }
  if (bad) {
    fprintf(stderr, "bench_risk: the reference refused %" PRIu64 "\n", bad);
    exit(1);
  }
  out->gate = median_i64(tg, nb);
  out->bare = median_i64(tb, nb);
  out->empty = median_i64(te, nb);
  out->refused = refused;
  risk_free(r);
  free(tg);
  free(tb);
  free(te);
}

/* ---- 2. the kill switch -------------------------------------------------- */

typedef struct kworld {
  strat *s;
} kworld;

static const param_spec kw_params[] = {
    {"world", PARAM_INT, "0", 0, 0, NULL, "the bench's world (a pointer)"},
};

static int kw_start(strat *s, void *st) {
  (void)st;
  ((kworld *)(intptr_t)strat_param(s, 0)->u.i)->s = s;
  return 0;
}

static const strategy_def kw_def = {
    .name = "killbench",
    .summary = "holds working orders",
    .params = kw_params,
    .nparams = 1,
    .state_size = 8,
    .sym_state_size = 8,
    .on_start = kw_start,
};

/* One run: returns the ns from engine_kill to all canceled and a new order
 * refused, or -1 when that did not happen. */
static int64_t kill_run(void) {
  instrument_table ins;
  instruments_init(&ins);
  instrument in;
  memset(&in, 0, sizeof in);
  snprintf(in.symbol, sizeof in.symbol, "KILL");
  in.asset_class = ASSET_EQUITY;
  in.tick = X(0, 1);
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "USD");
  in.cal = calendar_us_equity();
  in.shortable = true;
  instruments_add(&ins, &in, NULL);
  session se;
  calendar_session(in.cal, days_from_civil(2025, 3, 3), &se);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, se.open);
  match_config mc;
  match_config_init(&mc);
  matcher *m = matcher_new(&mc, &ins, &clk);
  engine_account acct = {"ACC", X(100000000, 0)};
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &ins;
  ec.clock = &clk;
  ec.broker = &paper_broker_ops;
  ec.broker_ctx = paper_ctx(m);
  ec.accounts = &acct;
  ec.naccounts = 1;
  engine *e = engine_new(&ec);
  kworld kw = {NULL};
  param_value pv;
  memset(&pv, 0, sizeof pv);
  pv.u.i = (int64_t)(intptr_t)&kw;
  sym_id mine[1] = {0};
  engine_strategy es = {&kw_def, "s", 0, mine, 1, X(100000000, 0), &pv};
  int64_t dt = -1;
  if (engine_add_strategy(e, &es) || engine_start(e))
    goto out;
  bar b = {se.open,  DTO_NS_PER_MIN, X(10, 0),      X(10, 0),
           X(10, 0), X(10, 0),       X(1000000, 0), 0};
  engine_bar_open(e, &b);
  sim_clock_set(&sim, bar_end(&b));
  engine_on_bar(e, &b);
  for (int i = 0; i < KILL_ORDERS; i++) {
    order_req r;
    memset(&r, 0, sizeof r);
    r.side = SIDE_BUY;
    r.type = ORD_LIMIT;
    r.tif = TIF_GTC;
    r.qty = FX_ONE;
    r.limit_price = X(1 + i % 8, i % 100);
    if (strat_submit(kw.s, &r, NULL))
      goto out;
  }
  engine_pump(e);
  if (engine_working_orders(e) != KILL_ORDERS)
    goto out;
  order_req nr;
  memset(&nr, 0, sizeof nr);
  nr.side = SIDE_BUY;
  nr.type = ORD_LIMIT;
  nr.tif = TIF_GTC;
  nr.qty = FX_ONE;
  nr.limit_price = X(5, 0);
  int64_t t0 = clock_mono_ns();
  size_t sent = engine_kill(e, true, "bench");
  engine_pump(e);
  bool all = engine_working_orders(e) == 0 && matcher_working(m) == 0;
  int rc = strat_submit(kw.s, &nr, NULL);
  int64_t t1 = clock_mono_ns();
  if (sent == KILL_ORDERS && all && rc == DTO_EREJECT)
    dt = t1 - t0;
out:
  engine_free(e);
  matcher_free(m);
  instruments_release(&ins);
  return dt;
}

int main(int argc, char **argv) {
  size_t n = 1000000;
  if (argc > 1) {
    char *end = NULL;
    unsigned long long v = strtoull(argv[1], &end, 10);
    if (!end || *end || v < 10000 || v > 1000000000ULL) {
      fprintf(stderr, "usage: bench_risk [N_CHECKS >= 10000]\n");
      return 2;
    }
    n = (size_t)v;
  }
  check_figs f;
  bench_check(n, &f);
  if (f.refused) {
    fprintf(stderr, "bench_risk: %" PRIu64 " checks refused; all must pass\n",
            f.refused);
    return 1;
  }
  size_t nb = n / BATCH;
  printf("risk checks                  %zu, all checks on, all passed "
         "(median of %zu batches of %d)\n",
         nb * BATCH, nb, BATCH);
  printf("risk_check, complete         %.1f ns per check  (budget 200 ns: "
         "%s)\n",
         (double)f.gate / BATCH, f.gate <= 200 * BATCH ? "met" : "NOT met");
  printf("reference: bare comparisons  %.1f ns per check  (same inputs, "
         "no bookkeeping)\n",
         (double)f.bare / BATCH);
  printf("reference: empty loop        %.1f ns per check  (timing "
         "overhead)\n",
         (double)f.empty / BATCH);
  int64_t kt[KILL_RUNS];
  for (int k = 0; k < KILL_RUNS; k++) {
    kt[k] = kill_run();
    if (kt[k] < 0) {
      fprintf(stderr, "bench_risk: the kill switch run failed\n");
      return 1;
    }
  }
  int64_t km = median_i64(kt, KILL_RUNS);
  printf("kill switch, %d orders     %.3f ms to all canceled and a new "
         "order refused (median of %d; max %.3f ms; budget 100 ms: %s)\n",
         KILL_ORDERS, (double)km / 1e6, KILL_RUNS,
         (double)kt[KILL_RUNS - 1] / 1e6, km <= 100000000 ? "met" : "NOT met");
  return 0;
}
