/* test_strategies.c - the built-in strategies driven through the engine and
 * the paper exchange on short hand-computed bar sequences.
 *
 * Every expected order below (bar, side, type, quantity) is worked out by
 * hand from the rules in the strategies' header comments; the comments next
 * to the data show the arithmetic.  One instrument TEST (tick 0.01, lot 1,
 * us_equity calendar unless a test picks fx), one account with 100000 and
 * no fees, no risk limits, a strategy with
 * the whole 100000 as its allocation and position_pct 0.2 unless a test says
 * otherwise, fills at the next bar's open with no volume cap.  Times are New
 * York wall-clock times on Monday 2025-01-06 (EST: 09:30 is 14:30 UTC, the
 * close 16:00 is 21:00 UTC).  Bars are driven as engine.h documents:
 *   clock := bar.ts; engine_bar_open; clock := bar_end(bar); engine_on_bar.
 */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "broker/paper.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "market/calendar.h"

/* ---- helpers ------------------------------------------------------------ */

static fx F(const char *s) {
  fx v;
  if (fx_parse_cstr(s, &v))
    fail_msg("bad fx literal %s", s);
  return v;
}

/* New York wall time hh:mm on 2025-01-06 + dd days (EST, UTC-5), as UTC. */
static dto_time NYD(int dd, int h, int mi) {
  return (days_from_civil(2025, 1, 6) + dd) * DTO_NS_PER_DAY +
         (h + 5) * DTO_NS_PER_HOUR + mi * DTO_NS_PER_MIN;
}
/* The same on Monday 2025-01-06. */
static dto_time NY(int h, int mi) { return NYD(0, h, mi); }

typedef struct seen {
  int bar; /* the bar (from 1) after which the order existed first */
  order_id id;
} seen;

typedef struct world {
  instrument_table ins;
  sim_clock sim;
  dto_clock clock;
  matcher *m;
  engine *e;
  engine_account acct;
  int bars;
  seen orders[64];
  size_t norders;
} world;

/* A world running one strategy of `type` with the parameters given as
 * name/value text pairs (NULL-terminated), parsed as the config loader
 * does; TEST trades on calendar cal. */
static world *boot_cal(const char *type, const char *const *kv,
                       const calendar *cal) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  instruments_init(&w->ins);
  instrument in;
  memset(&in, 0, sizeof in);
  snprintf(in.symbol, sizeof in.symbol, "%s", "TEST");
  in.asset_class = ASSET_EQUITY;
  in.tick = F("0.01");
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "%s", "USD");
  in.cal = cal;
  in.shortable = true;
  assert_int_equal(instruments_add(&w->ins, &in, NULL), 0);
  clock_sim_init(&w->clock, &w->sim, NY(8, 0) - DTO_NS_PER_DAY);
  match_config mc;
  match_config_init(&mc); /* next bar's open, no slippage, no volume cap */
  w->m = matcher_new(&mc, &w->ins, &w->clock);
  w->acct = (engine_account){"acc", 100000 * FX_ONE};
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &w->ins;
  ec.clock = &w->clock;
  ec.broker = &paper_broker_ops;
  ec.broker_ctx = paper_ctx(w->m);
  ec.accounts = &w->acct;
  ec.naccounts = 1;
  w->e = engine_new(&ec);

  const strategy_def *def = strategy_find(type);
  assert_non_null(def);
  param_value pv[16];
  assert_true(def->nparams <= DTO_ARRAY_LEN(pv));
  assert_int_equal(param_defaults(def->params, def->nparams, pv), -1);
  for (size_t i = 0; kv && kv[i]; i += 2) {
    int k = param_find(def->params, def->nparams, kv[i]);
    if (k < 0)
      fail_msg("%s has no parameter %s", type, kv[i]);
    char why[128];
    if (param_parse(&def->params[k], kv[i + 1], &pv[k], why, sizeof why))
      fail_msg("%s: %s: %s", kv[i], kv[i + 1], why);
  }
  if (def->validate)
    assert_null(def->validate(pv));
  sym_id mine[1] = {0};
  engine_strategy es = {def, "s", 0, mine, 1, 100000 * FX_ONE, pv};
  assert_int_equal(engine_add_strategy(w->e, &es), 0);
  assert_int_equal(engine_start(w->e), 0);
  return w;
}

static world *boot(const char *type, const char *const *kv) {
  return boot_cal(type, kv, calendar_us_equity());
}

static void shutdown(world *w) {
  engine_free(w->e);
  matcher_free(w->m);
  instruments_release(&w->ins);
  free(w);
}

/* Show one bar and note the orders that appeared meanwhile. */
static void bar_at(world *w, dto_time ts, dto_time dur, const char *o,
                   const char *h, const char *l, const char *c,
                   const char *vol) {
  bar b = {ts, dur, F(o), F(h), F(l), F(c), F(vol), 0};
  assert_null(bar_check(&b));
  sim_clock_set(&w->sim, b.ts);
  engine_bar_open(w->e, &b);
  sim_clock_set(&w->sim, bar_end(&b));
  engine_on_bar(w->e, &b);
  w->bars++;
  const oms *om = engine_oms(w->e);
  for (size_t id = w->norders; id < oms_count(om); id++) { /* ids from 0 */
    assert_true(w->norders < DTO_ARRAY_LEN(w->orders));
    w->orders[w->norders++] = (seen){w->bars, (order_id)id};
  }
}

/* A flat 1-minute bar (open = high = low = close = px). */
static void flat1(world *w, dto_time ts, const char *px, const char *vol) {
  bar_at(w, ts, DTO_NS_PER_MIN, px, px, px, px, vol);
}

typedef struct want {
  int bar;
  enum order_side side;
  enum order_type type;
  const char *qty;
} want;

static void expect_orders(const world *w, const want *x, size_t n) {
  const oms *om = engine_oms(w->e);
  for (size_t i = 0; i < w->norders && i < n; i++) {
    const order *o = oms_cget(om, w->orders[i].id);
    assert_non_null(o);
    if (w->orders[i].bar != x[i].bar || o->side != x[i].side ||
        o->type != x[i].type || o->qty != F(x[i].qty)) {
      char q[FX_STRLEN];
      fx_format(o->qty, q, sizeof q);
      fail_msg("order %zu: bar %d %s %s %s, want bar %d %s %s %s", i + 1,
               w->orders[i].bar, order_side_name(o->side),
               order_type_name(o->type), q, x[i].bar,
               order_side_name(x[i].side), order_type_name(x[i].type),
               x[i].qty);
    }
  }
  if (w->norders != n)
    fail_msg("%zu orders, want %zu", w->norders, n);
}

static const order *nth(const world *w, size_t i) {
  assert_true(i < w->norders);
  return oms_cget(engine_oms(w->e), w->orders[i].id);
}

/* ---- ma_crossover ------------------------------------------------------- */

/* The brief's sequence.  SMA 1 vs SMA 3 of the closes:
 *   bar 3: 10 vs 11 -> -1 (first sign: remembered, no trade)
 *   bar 4: 13 vs 34/3 -> +1: up cross, buy floor(20000 / 13) = 1538
 *   bar 5: 12 vs 35/3 -> +1 (the buy fills at 12)
 *   bar 6: 12.5 vs 37.5/3 = 12.5 -> 0: a tie, remembered sign stays +1
 *   bar 7: 11 vs 35.5/3 -> -1: down cross through the tie, sell 1538
 *   bars 8-10: -1, no more crosses. */
static void test_ma_cross_through_tie(void **state) {
  (void)state;
  static const char *const p[] = {"fast", "1", "slow", "3", NULL};
  world *w = boot("ma_crossover", p);
  static const char *const c[] = {"12",   "11", "10", "13", "12",
                                  "12.5", "11", "10", "9",  "8"};
  for (int i = 0; i < 10; i++)
    flat1(w, NY(10, i), c[i], "100000");
  static const want x[] = {{4, SIDE_BUY, ORD_MARKET, "1538"},
                           {7, SIDE_SELL, ORD_MARKET, "1538"}};
  expect_orders(w, x, 2);
  assert_int_equal(nth(w, 1)->state, OS_FILLED); /* flat again */
  shutdown(w);
}

/* No position is taken on the first sign after the warm-up, only on a
 * change of sign.  SMA 1/3 of 10 11 12 13 14 9 15:
 *   bar 3: 12 vs 11 -> +1 (first sign, no trade); bars 4, 5: +1
 *   bar 6: 9 vs 12 -> -1: down cross, flat and no shorting: nothing
 *   bar 7: 15 vs 38/3 -> +1: up cross, buy floor(20000 / 15) = 1333. */
static void test_ma_first_sign_is_not_a_cross(void **state) {
  (void)state;
  static const char *const p[] = {"fast", "1", "slow", "3", NULL};
  world *w = boot("ma_crossover", p);
  static const char *const c[] = {"10", "11", "12", "13", "14", "9", "15"};
  for (int i = 0; i < 7; i++)
    flat1(w, NY(10, i), c[i], "100000");
  static const want x[] = {{7, SIDE_BUY, ORD_MARKET, "1333"}};
  expect_orders(w, x, 1);
  shutdown(w);
}

/* EMA 1 vs EMA 3 (alpha 1/2, seeded with the mean of 3) through a tie:
 *   bar 3: slow = (12 + 11 + 10) / 3 = 11, fast 10 -> -1
 *   bar 4: slow = 11 + 2 x (13 - 11) / 4 = 12, fast 13 -> +1: buy 1538
 *   bar 5: slow = 12 + 2 x (12 - 12) / 4 = 12, fast 12 -> 0
 *   bar 6: slow = 12 + 2 x (11 - 12) / 4 = 11.5, fast 11 -> -1: sell. */
static void test_ma_ema_through_tie(void **state) {
  (void)state;
  static const char *const p[] = {"fast", "1",   "slow", "3",
                                  "kind", "ema", NULL};
  world *w = boot("ma_crossover", p);
  static const char *const c[] = {"12", "11", "10", "13", "12", "11"};
  for (int i = 0; i < 6; i++)
    flat1(w, NY(10, i), c[i], "100000");
  static const want x[] = {{4, SIDE_BUY, ORD_MARKET, "1538"},
                           {6, SIDE_SELL, ORD_MARKET, "1538"}};
  expect_orders(w, x, 2);
  shutdown(w);
}

/* EMA 2 vs EMA 3 where every step rounds: alpha 2/3 and 1/2.
 *   bar 2: fast = (10 + 10.01) / 2 = 10.005
 *   bar 3: fast = 10.005 + 2 x (10.02 - 10.005) / 3 = 10.015,
 *          slow = (10 + 10.01 + 10.02) / 3 = 10.01 -> +1 (first sign)
 *   bar 4: fast = 10.015 + 2 x (10 - 10.015) / 3 = 10.005,
 *          slow = 10.01 + 2 x (10 - 10.01) / 4 = 10.005 -> 0 (a tie)
 *   bar 5: close 10.01: fast = 10.005 + 2 x 0.005 / 3 = 10.00833333(33...)
 *          rounds to 10.00833333; slow = 10.005 + 2 x 0.005 / 4 = 10.0075
 *          -> +1: no cross (the remembered sign is +1)
 *   bar 6: close 9.99: fast = 10.00833333 + 2 x (9.99 - 10.00833333) / 3
 *          = 10.00833333 - 0.01222222(0) = 9.99611111,
 *          slow = 10.0075 + 2 x (9.99 - 10.0075) / 4 = 9.99875 -> -1: a
 *          down cross, but flat and no shorting: nothing.
 *   bar 7: close 10.03: fast = 9.99611111 + 2 x 0.03388889 / 3 = 9.99611111
 *          + 0.02259259(3) = 10.0187037, slow = 9.99875 + 2 x 0.03125 / 4
 *          = 10.014375 -> +1: buy floor(20000 / 10.03) = 1994. */
static void test_ma_ema_rounding(void **state) {
  (void)state;
  static const char *const p[] = {"fast", "2",   "slow", "3",
                                  "kind", "ema", NULL};
  world *w = boot("ma_crossover", p);
  static const char *const c[] = {"10",    "10.01", "10.02", "10",
                                  "10.01", "9.99",  "10.03"};
  for (int i = 0; i < 7; i++)
    flat1(w, NY(10, i), c[i], "100000");
  static const want x[] = {{7, SIDE_BUY, ORD_MARKET, "1994"}};
  expect_orders(w, x, 1);
  shutdown(w);
}

/* Reversals with allow_short; sizes from the equity and cash of the bar:
 *   bar 4 (13 vs 34/3): buy floor(20000 / 13) = 1538, filled at bar 5's 12
 *     (cash 100000 - 18456 = 81544)
 *   bar 7 (11 vs 35.5/3): equity = 81544 + 1538 x 11 = 98462; size =
 *     floor(min(19692.4, 81544) / 11) = 1790; sell 1538 + 1790 = 3328,
 *     filled at bar 8's 10 (cash 81544 + 33280 = 114824, short 1790)
 *   bars 8-10 (10, 9, 8): -1
 *   bar 11 (20 vs 37/3): equity = 114824 - 1790 x 20 = 79024; size =
 *     floor(min(15804.8, 114824) / 20) = 790; buy 1790 + 790 = 2580. */
static void test_ma_reversals(void **state) {
  (void)state;
  static const char *const p[] = {"fast",        "1",    "slow", "3",
                                  "allow_short", "true", NULL};
  world *w = boot("ma_crossover", p);
  static const char *const c[] = {"12", "11", "10", "13", "12", "12.5",
                                  "11", "10", "9",  "8",  "20"};
  for (int i = 0; i < 11; i++)
    flat1(w, NY(10, i), c[i], "100000");
  static const want x[] = {{4, SIDE_BUY, ORD_MARKET, "1538"},
                           {7, SIDE_SELL, ORD_MARKET, "3328"},
                           {11, SIDE_BUY, ORD_MARKET, "2580"}};
  expect_orders(w, x, 3);
  shutdown(w);
}

/* The session's last bar (15:59-16:00) belongs to that session, and with
 * exit_before_close 5m it is near the close: a cross there opens nothing.
 * SMA 1/3 of 10 10.5 11 9 8.9 8.8 8.7 8.6 8.5 12 on the last ten minutes,
 * no ties: bar 3 (11 vs 10.5) sets the sign +1, bar 4 (9 vs 10.17) crosses
 * down (flat, no shorting: nothing), bars 5-9 stay -1 and bar 10 (12 vs
 * 9.7) crosses up on the last bar.
 * Holding overnight (exit_before_close 0, written as a bare 0), nothing
 * either on us_equity: the bar ends at 16:00, the market is closed and a
 * day order would be refused.  On the fx calendar the same bars on
 * Thursday 16:50-17:00 New York end where Friday's session opens: the cross
 * buys floor(20000 / 12) = 1666; on Friday the market closes for the
 * weekend at 17:00: nothing. */
static void test_ma_no_entry_on_the_last_bar(void **state) {
  (void)state;
  static const char *const c[] = {"10",  "10.5", "11",  "9",   "8.9",
                                  "8.8", "8.7",  "8.6", "8.5", "12"};
  static const char *const p[] = {"fast", "1", "slow", "3", NULL};
  world *w = boot("ma_crossover", p);
  for (int i = 0; i < 10; i++)
    flat1(w, NY(15, 50 + i), c[i], "100000");
  expect_orders(w, NULL, 0);
  shutdown(w);

  static const char *const hold[] = {
      "fast", "1", "slow", "3", "exit_before_close", "0", NULL};
  w = boot("ma_crossover", hold);
  for (int i = 0; i < 10; i++)
    flat1(w, NY(15, 50 + i), c[i], "100000");
  expect_orders(w, NULL, 0);
  shutdown(w);

  w = boot_cal("ma_crossover", hold, calendar_fx());
  for (int i = 0; i < 10; i++) /* Thursday 2025-01-09 */
    flat1(w, NYD(3, 16, 50 + i), c[i], "100000");
  static const want x[] = {{10, SIDE_BUY, ORD_MARKET, "1666"}};
  expect_orders(w, x, 1);
  shutdown(w);

  w = boot_cal("ma_crossover", hold, calendar_fx());
  for (int i = 0; i < 10; i++) /* Friday 2025-01-10 */
    flat1(w, NYD(4, 16, 50 + i), c[i], "100000");
  expect_orders(w, NULL, 0);
  shutdown(w);
}

/* ---- orb ------------------------------------------------------------------
 */

/* 30-minute bars are longer than exit_before_close (5m): the position is
 * closed on the 15:00 bar, whose next bar would end at the close, so the
 * closing order fills at 15:30.
 *   bar 1 (09:30, ends 10:00 = open + range): range 99..101
 *   bar 2 (10:00): close 101.5 > 101: buy floor(20000 / 101.5) = 197 with
 *     stop-loss 99 and take-profit 101.5 + 2 x 2 = 105.5
 *   bar 3 (10:30): the entry fills at 101.5; the exits are placed
 *   bars 4-11: inside 101..102, no exit touched
 *   bar 12 (15:00-15:30): near the close: exits canceled, sell 197. */
static void test_orb_long_bars_exit_before_close(void **state) {
  (void)state;
  static const char *const p[] = {"range", "30m", NULL};
  world *w = boot("orb", p);
  dto_time h = DTO_NS_PER_HOUR / 2;
  bar_at(w, NY(9, 30), h, "100", "101", "99", "100.5", "100000");
  bar_at(w, NY(10, 0), h, "100.5", "102", "100.4", "101.5", "100000");
  for (int k = 0; k < 10; k++) /* 10:30 .. 15:00 */
    bar_at(w, NY(10, 30) + k * h, h, "101.5", "102", "101", "101.5", "100000");
  bar_at(w, NY(15, 30), h, "101.5", "102", "101", "101.5", "100000");
  static const want x[] = {{2, SIDE_BUY, ORD_MARKET, "197"},
                           {3, SIDE_SELL, ORD_LIMIT, "197"},
                           {3, SIDE_SELL, ORD_STOP, "197"},
                           {12, SIDE_SELL, ORD_MARKET, "197"}};
  expect_orders(w, x, 4);
  assert_int_equal(nth(w, 0)->tp_price, F("105.5"));
  assert_int_equal(nth(w, 0)->sl_price, F("99"));
  assert_int_equal(nth(w, 1)->state, OS_CANCELED);
  assert_int_equal(nth(w, 2)->state, OS_CANCELED);
  assert_int_equal(nth(w, 3)->state, OS_FILLED);
  shutdown(w);
}

/* Holding overnight, a breakout on the session's last bar is an entry like
 * any other: that bar belongs to the session.  fx calendar, hourly bars of
 * Thursday 2025-01-09's session (Wednesday 17:00 to Thursday 17:00 New
 * York); the last one ends at 17:00, when Friday's session opens, so the
 * order may go. */
static void test_orb_last_bar_counts(void **state) {
  (void)state;
  static const char *const p[] = {"range", "1h", "exit_before_close", "0", "rr",
                                  "1.5",   NULL};
  world *w = boot_cal("orb", p, calendar_fx());
  dto_time h = DTO_NS_PER_HOUR;
  bar_at(w, NYD(2, 17, 0), h, "100", "101", "99", "100.5", "100000");
  for (int k = 1; k < 23; k++) /* inside the range */
    bar_at(w, NYD(2, 17, 0) + k * h, h, "100", "100.9", "99.5", "100",
           "100000");
  bar_at(w, NYD(3, 16, 0), h, "100", "101.6", "100", "101.51", "100000");
  /* floor(20000 / 101.51) = 197; take-profit 101.51 + 1.5 x 2 = 104.51 */
  static const want x[] = {{24, SIDE_BUY, ORD_MARKET, "197"}};
  expect_orders(w, x, 1);
  assert_int_equal(nth(w, 0)->tp_price, F("104.51"));
  assert_int_equal(nth(w, 0)->sl_price, F("99"));
  shutdown(w);
}

/* ---- vwap_reversion --------------------------------------------------------
 */

/* Holding overnight, the session's last bar still updates the VWAP and
 * exits.  fx calendar (the last bar ends when the next session opens, so
 * an order may go), flat 1-minute bars of volume 1000 from Thursday
 * 2025-01-09 16:55 New York (the strategy's first bar of the session
 * starts the VWAP), warmup 0:
 *   bar 1: 100, VWAP 100
 *   bar 2: 98, VWAP 99; 98 < 99 x 0.995 = 98.505: buy floor(20000/98) = 204
 *   bar 3: 98 (fill at 98), VWAP 296/3 = 98.66666667: not back; the stop
 *     98 x 0.99 = 97.02 not reached
 *   bar 4: 98.5, VWAP 98.625: not back
 *   bar 5 (16:59-17:00): 99, VWAP 98.7: back at the VWAP, sell 204. */
static void test_vwap_exits_on_the_last_bar(void **state) {
  (void)state;
  static const char *const p[] = {"warmup", "0", "exit_before_close", "0",
                                  NULL};
  world *w = boot_cal("vwap_reversion", p, calendar_fx());
  static const char *const c[] = {"100", "98", "98", "98.5", "99"};
  for (int i = 0; i < 5; i++)
    flat1(w, NYD(3, 16, 55 + i), c[i], "1000");
  static const want x[] = {{2, SIDE_BUY, ORD_MARKET, "204"},
                           {5, SIDE_SELL, ORD_MARKET, "204"}};
  expect_orders(w, x, 2);
  shutdown(w);
}

/* "Back at the VWAP" is exact: flat bars 100.04, 102.54, 101.29 (volume
 * 1000 each), band 1 %, allow_short:
 *   bar 2: VWAP 101.29; 102.54 > 101.29 x 1.01 = 102.3029: sell short
 *     floor(20000 / 102.54) = 195
 *   bar 3: the short fills at 101.29; VWAP = (100.04 + 102.54 + 101.29) / 3
 *     = 101.29 exactly = the close: buy 195 back.  (In binary floating
 *     point this VWAP is 101.28999999999998, below the close, and the short
 *     was never covered.) */
static void test_vwap_short_covered_at_exact_vwap(void **state) {
  (void)state;
  static const char *const p[] = {"warmup",      "0",    "band_pct", "1",
                                  "allow_short", "true", NULL};
  world *w = boot("vwap_reversion", p);
  flat1(w, NY(11, 0), "100.04", "1000");
  flat1(w, NY(11, 1), "102.54", "1000");
  flat1(w, NY(11, 2), "101.29", "1000");
  static const want x[] = {{2, SIDE_SELL, ORD_MARKET, "195"},
                           {3, SIDE_BUY, ORD_MARKET, "195"}};
  expect_orders(w, x, 2);
  shutdown(w);
}

/* 30-minute bars and exit_before_close 5m: closed on the 15:00 bar.
 *   bar 1 (09:30): 100 x 1000; bar 2 (10:00): 98 x 1000, VWAP 99:
 *     98 < 98.505: buy 204, filled at bar 3's 98
 *   bars 3-12 (10:30 .. 15:00): 98 x 1000, the VWAP stays above 98 (not
 *     back), the stop (97.02) is not reached
 *   bar 12 (15:00-15:30): the next bar would end at the close: sell 204. */
static void test_vwap_long_bars_exit_before_close(void **state) {
  (void)state;
  static const char *const p[] = {"warmup", "0", NULL};
  world *w = boot("vwap_reversion", p);
  dto_time h = DTO_NS_PER_HOUR / 2;
  bar_at(w, NY(9, 30), h, "100", "100", "100", "100", "1000");
  bar_at(w, NY(10, 0), h, "98", "98", "98", "98", "1000");
  for (int k = 0; k < 11; k++) /* 10:30 .. 15:30 */
    bar_at(w, NY(10, 30) + k * h, h, "98", "98", "98", "98", "1000");
  static const want x[] = {{2, SIDE_BUY, ORD_MARKET, "204"},
                           {12, SIDE_SELL, ORD_MARKET, "204"}};
  expect_orders(w, x, 2);
  assert_int_equal(nth(w, 1)->state, OS_FILLED);
  shutdown(w);
}

/* ---- parameters -------------------------------------------------------------
 */

/* exit_before_close: 0 (documented as "hold overnight") is accepted by every
 * strategy, as is 0s; a number without a unit other than 0 is not. */
static void test_exit_before_close_zero(void **state) {
  (void)state;
  static const char *const names[] = {"ma_crossover", "orb", "vwap_reversion"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(names); i++) {
    const strategy_def *d = strategy_find(names[i]);
    assert_non_null(d);
    int k = param_find(d->params, d->nparams, "exit_before_close");
    assert_true(k >= 0);
    param_value v;
    char why[128];
    assert_int_equal(param_parse(&d->params[k], "0", &v, why, sizeof why), 0);
    assert_int_equal(v.u.dur, 0);
    assert_true(v.set);
    assert_int_equal(param_parse(&d->params[k], "0s", &v, why, sizeof why), 0);
    assert_int_equal(v.u.dur, 0);
    assert_int_equal(param_parse(&d->params[k], "5", &v, why, sizeof why),
                     DTO_EPARSE);
    assert_string_equal(why, "expected a duration such as 30s, 5m or 1h");
    assert_int_equal(param_parse(&d->params[k], "-0", &v, why, sizeof why),
                     DTO_EPARSE);
    assert_int_equal(param_parse(&d->params[k], "-1s", &v, why, sizeof why),
                     DTO_ERANGE);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ma_cross_through_tie),
      cmocka_unit_test(test_ma_first_sign_is_not_a_cross),
      cmocka_unit_test(test_ma_ema_through_tie),
      cmocka_unit_test(test_ma_ema_rounding),
      cmocka_unit_test(test_ma_reversals),
      cmocka_unit_test(test_ma_no_entry_on_the_last_bar),
      cmocka_unit_test(test_orb_long_bars_exit_before_close),
      cmocka_unit_test(test_orb_last_bar_counts),
      cmocka_unit_test(test_vwap_exits_on_the_last_bar),
      cmocka_unit_test(test_vwap_short_covered_at_exact_vwap),
      cmocka_unit_test(test_vwap_long_bars_exit_before_close),
      cmocka_unit_test(test_exit_before_close_zero),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
