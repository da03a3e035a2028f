/* test_match.c - the paper exchange's matching rules: each fill model,
 * order type and time in force, slippage, the volume cap, latency, the
 * trading session, cancel/replace and bracket peers.  One instrument (tick
 * 0.01, lot 1, us_equity calendar) and 1-minute bars in the regular session
 * of Monday 2025-01-06 (EST: open 14:30Z, close 21:00Z, extended hours
 * 09:00Z-01:00Z), driven by a simulated clock the way the engine drives it:
 *   clock := bar.ts; matcher_on_time; matcher_on_bar; clock := bar_end. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "engine/match.h"
#include "market/calendar.h"

/* ---- helpers ------------------------------------------------------------ */

static fx F(const char *s) {
  fx v;
  if (fx_parse_cstr(s, &v))
    fail_msg("bad fx literal %s", s);
  return v;
}

/* A UTC instant on 2025-01-06 + dd days. */
static dto_time UD(int dd, int h, int mi, int sec) {
  return (days_from_civil(2025, 1, 6) + dd) * DTO_NS_PER_DAY +
         h * DTO_NS_PER_HOUR + mi * DTO_NS_PER_MIN + sec * DTO_NS_PER_SEC;
}
static dto_time U(int h, int mi) { return UD(0, h, mi, 0); }

typedef struct fixture {
  instrument_table ins;
  sim_clock sim;
  dto_clock clock;
  matcher *m;
  broker_report rep[64];
  size_t nrep;
} fixture;

static fixture *setup(const match_config *cfg) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  instruments_init(&f->ins);
  instrument in;
  memset(&in, 0, sizeof in);
  snprintf(in.symbol, sizeof in.symbol, "%s", "TEST");
  in.asset_class = ASSET_EQUITY;
  in.tick = F("0.01");
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "%s", "USD");
  in.cal = calendar_us_equity();
  in.shortable = true;
  assert_int_equal(instruments_add(&f->ins, &in, NULL), 0);
  clock_sim_init(&f->clock, &f->sim, UD(-3, 0, 0, 0));
  f->m = matcher_new(cfg, &f->ins, &f->clock);
  return f;
}

static fixture *setup_default(void) {
  match_config c;
  match_config_init(&c);
  return setup(&c);
}

static void teardown(fixture *f) {
  matcher_free(f->m);
  instruments_release(&f->ins);
  free(f);
}

/* Take every pending report into f->rep (replacing what was there). */
static size_t drain(fixture *f) {
  f->nrep = matcher_poll(f->m, f->rep, DTO_ARRAY_LEN(f->rep));
  broker_report extra;
  assert_int_equal(matcher_poll(f->m, &extra, 1), 0);
  return f->nrep;
}

static void at(fixture *f, dto_time t) { sim_clock_set(&f->sim, t); }

static bar mkbar(dto_time ts, const char *o, const char *h, const char *l,
                 const char *c, const char *vol) {
  bar b = {ts, DTO_NS_PER_MIN, F(o), F(h), F(l), F(c), F(vol), 0};
  assert_null(bar_check(&b));
  return b;
}

/* Show a bar as the engine does and collect what it produced. */
static size_t show(fixture *f, const bar *b) {
  at(f, b->ts);
  matcher_on_time(f->m, b->ts);
  matcher_on_bar(f->m, b);
  at(f, bar_end(b));
  return drain(f);
}

typedef struct ospec {
  enum order_side side;
  enum order_type type;
  enum tif tif;
  const char *qty, *limit, *stop, *trail;
  bool ext;
} ospec;

static order mkorder(order_id id, const ospec *s) {
  order o;
  memset(&o, 0, sizeof o);
  o.id = id;
  o.sym = 0;
  o.side = s->side;
  o.type = s->type;
  o.tif = s->tif;
  o.qty = F(s->qty);
  o.limit_price = s->limit ? F(s->limit) : 0;
  o.stop_price = s->stop ? F(s->stop) : 0;
  o.trail = s->trail ? F(s->trail) : 0;
  o.extended_hours = s->ext;
  o.parent = o.peer = o.replaces = o.replaced_by = ORDER_NONE;
  return o;
}

static void submit(fixture *f, order_id id, ospec s) {
  order o = mkorder(id, &s);
  assert_int_equal(matcher_submit(f->m, &o), 0);
}

/* Submit and check that exactly one ACCEPTED report came back, at now. */
static void submit_ok(fixture *f, order_id id, ospec s) {
  submit(f, id, s);
  assert_int_equal(drain(f), 1);
  assert_int_equal(f->rep[0].kind, REP_ACCEPTED);
  assert_int_equal(f->rep[0].id, id);
  assert_int_equal(f->rep[0].ts, clock_now(&f->clock));
}

#define BUY SIDE_BUY
#define SELL SIDE_SELL
#define MKT(side, q) ((ospec){side, ORD_MARKET, TIF_DAY, q, 0, 0, 0, false})
#define LMT(side, q, px) ((ospec){side, ORD_LIMIT, TIF_DAY, q, px, 0, 0, false})
#define STP(side, q, px) ((ospec){side, ORD_STOP, TIF_DAY, q, 0, px, 0, false})

static void expect_rep_at(const fixture *f, size_t i, enum report_kind kind,
                          order_id id, const char *qty, const char *px,
                          dto_time ts, int reason, int line) {
  if (i >= f->nrep)
    fail_msg("line %d: report %zu missing (%zu reports)", line, i, f->nrep);
  const broker_report *r = &f->rep[i];
  char a[FX_STRLEN], b[FX_STRLEN], ta[40], tb[40];
  fx_format(r->qty, a, sizeof a);
  fx_format(r->price, b, sizeof b);
  time_format(r->ts, ta, sizeof ta);
  time_format(ts, tb, sizeof tb);
  if (r->kind != kind || r->id != id || r->qty != (qty ? F(qty) : 0) ||
      r->price != (px ? F(px) : 0) || r->ts != ts || r->reason != reason)
    fail_msg("line %d: report %zu is %s id %u qty %s px %s ts %s reason %s;"
             " want %s id %u qty %s px %s ts %s reason %s",
             line, i, report_kind_name(r->kind), r->id, a, b, ta,
             broker_reason_name(r->reason), report_kind_name(kind), id,
             qty ? qty : "0", px ? px : "0", tb, broker_reason_name(reason));
}
#define expect_rep(f, i, k, id, q, px, ts, why)                                \
  expect_rep_at(f, i, k, id, q, px, ts, why, __LINE__)

/* ---- fill models: market orders ----------------------------------------- */

static void test_market_next_bar_open(void **state) {
  (void)state;
  fixture *f = setup_default();
  bar b0 = mkbar(U(14, 30), "10.00", "10.20", "9.90", "10.10", "1000");
  assert_int_equal(show(f, &b0), 0); /* nothing working */
  /* at 14:31 (the end of the first bar) a strategy buys and sells */
  submit_ok(f, 0, MKT(BUY, "100"));
  submit_ok(f, 1, MKT(SELL, "30"));
  assert_int_equal(matcher_working(f->m), 2);
  /* both fill at the open of the next bar, at its start */
  bar b1 = mkbar(U(14, 31), "10.12", "10.30", "10.05", "10.25", "1000");
  assert_int_equal(show(f, &b1), 2);
  expect_rep(f, 0, REP_FILL, 0, "100", "10.12", U(14, 31), 0);
  expect_rep(f, 1, REP_FILL, 1, "30", "10.12", U(14, 31), 0);
  assert_int_equal(matcher_working(f->m), 0);
  teardown(f);
}

static void test_market_bar_close(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.model = FILL_BAR_CLOSE;
  fixture *f = setup(&c);
  bar b0 = mkbar(U(14, 30), "10.00", "10.20", "9.90", "10.10", "1000");
  assert_int_equal(show(f, &b0), 0);
  /* sent right at the bar's close: fills at that close, at once */
  submit(f, 0, MKT(BUY, "100"));
  submit(f, 1, MKT(SELL, "40"));
  assert_int_equal(drain(f), 4);
  expect_rep(f, 0, REP_ACCEPTED, 0, 0, 0, U(14, 31), 0);
  expect_rep(f, 1, REP_FILL, 0, "100", "10.10", U(14, 31), 0);
  expect_rep(f, 2, REP_ACCEPTED, 1, 0, 0, U(14, 31), 0);
  expect_rep(f, 3, REP_FILL, 1, "40", "10.10", U(14, 31), 0);
  /* sent inside a bar: fills at the close of that bar */
  at(f, UD(0, 14, 31, 30));
  submit_ok(f, 2, MKT(BUY, "10"));
  bar b1 = mkbar(U(14, 31), "10.12", "10.30", "10.05", "10.25", "1000");
  assert_int_equal(show(f, &b1), 1);
  expect_rep(f, 0, REP_FILL, 2, "10", "10.25", U(14, 32), 0);
  teardown(f);
}

static void test_market_trade_model(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.model = FILL_TRADE;
  fixture *f = setup(&c);
  at(f, U(14, 31));
  submit_ok(f, 0, MKT(BUY, "100"));
  submit_ok(f, 1, MKT(SELL, "50"));
  /* a print before the orders are active does nothing: none here; the
   * next trade fills both at its price */
  trade t = {UD(0, 14, 31, 5), F("10.05"), F("500"), 0};
  at(f, t.ts);
  matcher_on_trade(f->m, &t);
  assert_int_equal(drain(f), 2);
  expect_rep(f, 0, REP_FILL, 0, "100", "10.05", t.ts, 0);
  expect_rep(f, 1, REP_FILL, 1, "50", "10.05", t.ts, 0);
  /* quotes: buys lift the ask, sells hit the bid */
  submit_ok(f, 2, MKT(BUY, "100"));
  submit_ok(f, 3, MKT(SELL, "100"));
  quote q = {UD(0, 14, 32, 1), F("10.00"), F("10.02"), F("300"), F("300"), 0};
  at(f, q.ts);
  matcher_on_quote(f->m, &q);
  assert_int_equal(drain(f), 2);
  expect_rep(f, 0, REP_FILL, 2, "100", "10.02", q.ts, 0);
  expect_rep(f, 1, REP_FILL, 3, "100", "10.00", q.ts, 0);
  /* a one-sided quote (no bid) is ignored */
  submit_ok(f, 4, MKT(SELL, "10"));
  quote q1 = {UD(0, 14, 32, 2), 0, F("10.02"), 0, F("300"), 0};
  at(f, q1.ts);
  matcher_on_quote(f->m, &q1);
  assert_int_equal(drain(f), 0);
  /* with bars only it behaves as next_bar_open */
  bar b = mkbar(U(14, 33), "10.07", "10.10", "10.00", "10.05", "1000");
  assert_int_equal(show(f, &b), 1);
  expect_rep(f, 0, REP_FILL, 4, "10", "10.07", U(14, 33), 0);
  teardown(f);
}

/* ---- limit orders ------------------------------------------------------- */

static void test_limit_next_bar_open(void **state) {
  (void)state;
  fixture *f = setup_default();
  at(f, U(14, 31));
  submit_ok(f, 0, LMT(BUY, "10", "10.00"));  /* touched: low 9.98 */
  submit_ok(f, 1, LMT(BUY, "10", "10.10"));  /* open 10.05 is through it */
  submit_ok(f, 2, LMT(BUY, "10", "9.97"));   /* low 9.98 stays above */
  submit_ok(f, 3, LMT(SELL, "10", "10.00")); /* open 10.05 is through it */
  submit_ok(f, 4, LMT(SELL, "10", "10.08")); /* touched: high 10.10 */
  submit_ok(f, 5, LMT(SELL, "10", "10.11")); /* high 10.10 stays below */
  bar b = mkbar(U(14, 31), "10.05", "10.10", "9.98", "10.02", "1000");
  assert_int_equal(show(f, &b), 4);
  /* through at the open: the open price, at the bar's start; touched
   * inside the bar: the limit, stamped with the bar's start (the clock) */
  expect_rep(f, 0, REP_FILL, 0, "10", "10.00", U(14, 31), 0);
  expect_rep(f, 1, REP_FILL, 1, "10", "10.05", U(14, 31), 0);
  expect_rep(f, 2, REP_FILL, 3, "10", "10.05", U(14, 31), 0);
  expect_rep(f, 3, REP_FILL, 4, "10", "10.08", U(14, 31), 0);
  assert_int_equal(matcher_working(f->m), 2);
  /* the next bar reaches both remaining limits exactly */
  bar b1 = mkbar(U(14, 32), "10.00", "10.11", "9.97", "10.00", "1000");
  assert_int_equal(show(f, &b1), 2);
  expect_rep(f, 0, REP_FILL, 2, "10", "9.97", U(14, 32), 0);
  expect_rep(f, 1, REP_FILL, 5, "10", "10.11", U(14, 32), 0);
  assert_int_equal(matcher_working(f->m), 0);
  teardown(f);
}

static void test_limit_bar_close(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.model = FILL_BAR_CLOSE;
  fixture *f = setup(&c);
  at(f, UD(0, 14, 31, 10));
  submit_ok(f, 0, LMT(BUY, "10", "10.00"));
  submit_ok(f, 1, LMT(SELL, "10", "10.00"));
  /* only the close counts: a low below the limit is not a fill */
  bar b = mkbar(U(14, 31), "10.05", "10.10", "9.90", "10.01", "1000");
  assert_int_equal(show(f, &b), 1);
  expect_rep(f, 0, REP_FILL, 1, "10", "10.01", U(14, 32), 0);
  bar b1 = mkbar(U(14, 32), "10.05", "10.10", "9.90", "9.99", "1000");
  assert_int_equal(show(f, &b1), 1);
  expect_rep(f, 0, REP_FILL, 0, "10", "9.99", U(14, 33), 0);
  teardown(f);
}

static void test_limit_trade_model(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.model = FILL_TRADE;
  fixture *f = setup(&c);
  at(f, U(14, 31));
  submit_ok(f, 0, LMT(BUY, "10", "10.00"));
  submit_ok(f, 1, LMT(SELL, "10", "10.05"));
  trade t = {UD(0, 14, 31, 1), F("10.01"), F("100"), 0};
  at(f, t.ts);
  matcher_on_trade(f->m, &t);
  assert_int_equal(drain(f), 0);
  trade t2 = {UD(0, 14, 31, 2), F("9.99"), F("100"), 0};
  at(f, t2.ts);
  matcher_on_trade(f->m, &t2);
  assert_int_equal(drain(f), 1);
  expect_rep(f, 0, REP_FILL, 0, "10", "9.99", t2.ts, 0);
  /* the sell limit trades against the bid */
  quote q = {UD(0, 14, 31, 3), F("10.04"), F("10.06"), F("50"), F("50"), 0};
  at(f, q.ts);
  matcher_on_quote(f->m, &q);
  assert_int_equal(drain(f), 0);
  quote q2 = {UD(0, 14, 31, 4), F("10.06"), F("10.07"), F("50"), F("50"), 0};
  at(f, q2.ts);
  matcher_on_quote(f->m, &q2);
  assert_int_equal(drain(f), 1);
  expect_rep(f, 0, REP_FILL, 1, "10", "10.06", q2.ts, 0);
  teardown(f);
}

/* ---- stops -------------------------------------------------------------- */

static void test_stops_with_slippage(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.slippage_bps = F("5"); /* 0.05% */
  fixture *f = setup(&c);
  at(f, U(14, 31));
  submit_ok(f, 0, STP(BUY, "10", "10.10"));  /* high 10.12: intrabar */
  submit_ok(f, 1, STP(SELL, "10", "9.90"));  /* low 9.88: intrabar */
  submit_ok(f, 2, STP(BUY, "10", "9.95"));   /* open 10.00 above: gap */
  submit_ok(f, 3, STP(SELL, "10", "10.05")); /* open 10.00 below: gap */
  submit_ok(f, 4, STP(BUY, "10", "10.50"));  /* never reached */
  submit_ok(f, 5, STP(SELL, "10", "9.50"));  /* never reached */
  submit_ok(f, 6, MKT(BUY, "10"));
  submit_ok(f, 7, MKT(SELL, "10"));
  bar b = mkbar(U(14, 31), "10.00", "10.12", "9.88", "10.00", "1000");
  assert_int_equal(show(f, &b), 6);
  /* slippage 5 bps, rounded to the tick against the trader:
   *   10.10 + 0.00505  = 10.10505 -> up   10.11 (at the bar's end)
   *    9.90 - 0.00495  =  9.89505 -> down  9.89 (at the bar's end)
   *   10.00 + 0.005    = 10.005   -> up   10.01 (gap: at the open)
   *   10.00 - 0.005    =  9.995   -> down  9.99 (gap: at the open)
   * and the market orders pay the same at the open. */
  expect_rep(f, 0, REP_FILL, 0, "10", "10.11", U(14, 31), 0);
  expect_rep(f, 1, REP_FILL, 1, "10", "9.89", U(14, 31), 0);
  expect_rep(f, 2, REP_FILL, 2, "10", "10.01", U(14, 31), 0);
  expect_rep(f, 3, REP_FILL, 3, "10", "9.99", U(14, 31), 0);
  expect_rep(f, 4, REP_FILL, 6, "10", "10.01", U(14, 31), 0);
  expect_rep(f, 5, REP_FILL, 7, "10", "9.99", U(14, 31), 0);
  assert_int_equal(matcher_working(f->m), 2);
  teardown(f);
}

static void test_stop_limit(void **state) {
  (void)state;
  fixture *f = setup_default();
  at(f, U(14, 31));
  /* triggered inside the bar at 10.10, the limit 10.15 allows it */
  submit_ok(f, 0,
            ((ospec){BUY, ORD_STOP_LIMIT, TIF_DAY, "10", "10.15", "10.10", 0,
                     false}));
  /* triggered at 10.10 but the limit 10.05 is below: waits */
  submit_ok(f, 1,
            ((ospec){BUY, ORD_STOP_LIMIT, TIF_DAY, "10", "10.05", "10.10", 0,
                     false}));
  /* gap through the stop at the open: acts as a limit at 9.95 this bar */
  submit_ok(
      f, 2,
      ((ospec){BUY, ORD_STOP_LIMIT, TIF_DAY, "10", "9.95", "9.90", 0, false}));
  /* sell: triggered at 9.98, limit 9.96 allows it */
  submit_ok(
      f, 3,
      ((ospec){SELL, ORD_STOP_LIMIT, TIF_DAY, "10", "9.96", "9.98", 0, false}));
  bar b = mkbar(U(14, 31), "10.00", "10.20", "9.95", "10.10", "1000");
  assert_int_equal(show(f, &b), 3);
  expect_rep(f, 0, REP_FILL, 0, "10", "10.10", U(14, 31), 0);
  expect_rep(f, 1, REP_FILL, 2, "10", "9.95", U(14, 31), 0);
  expect_rep(f, 2, REP_FILL, 3, "10", "9.98", U(14, 31), 0);
  /* order 1 stays triggered and fills as a limit on a later open */
  bar b1 = mkbar(U(14, 32), "10.06", "10.08", "10.06", "10.07", "1000");
  assert_int_equal(show(f, &b1), 0);
  bar b2 = mkbar(U(14, 33), "10.04", "10.08", "10.01", "10.07", "1000");
  assert_int_equal(show(f, &b2), 1);
  expect_rep(f, 0, REP_FILL, 1, "10", "10.04", U(14, 33), 0);
  teardown(f);
}

static void test_trailing_stop(void **state) {
  (void)state;
  fixture *f = setup_default();
  at(f, U(14, 31));
  submit_ok(
      f, 0,
      ((ospec){SELL, ORD_TRAILING_STOP, TIF_DAY, "10", 0, 0, "0.20", false}));
  /* bar 1: starts at the open (stop 10.00 - 0.20 = 9.80), low 9.95 does
   * not reach it, the high 10.30 moves it to 10.10 */
  bar b1 = mkbar(U(14, 31), "10.00", "10.30", "9.95", "10.25", "1000");
  assert_int_equal(show(f, &b1), 0);
  /* bar 2: low 10.15 above 10.10; high 10.40 moves the stop to 10.20 */
  bar b2 = mkbar(U(14, 32), "10.25", "10.40", "10.15", "10.35", "1000");
  assert_int_equal(show(f, &b2), 0);
  /* bar 3: a lower high leaves it at 10.20; the low 10.10 triggers it */
  bar b3 = mkbar(U(14, 33), "10.35", "10.38", "10.10", "10.20", "1000");
  assert_int_equal(show(f, &b3), 1);
  expect_rep(f, 0, REP_FILL, 0, "10", "10.20", U(14, 33), 0);

  /* the mirror: a buy trailing stop follows the low */
  submit_ok(
      f, 1,
      ((ospec){BUY, ORD_TRAILING_STOP, TIF_DAY, "10", 0, 0, "0.20", false}));
  /* starts at 10.00 + 0.20 = 10.20; high 10.05; low 9.70 -> stop 9.90 */
  bar b4 = mkbar(U(14, 34), "10.00", "10.05", "9.70", "9.75", "1000");
  assert_int_equal(show(f, &b4), 0);
  /* gaps above the stop at the open: fills at the open */
  bar b5 = mkbar(U(14, 35), "9.93", "9.99", "9.80", "9.85", "1000");
  assert_int_equal(show(f, &b5), 1);
  expect_rep(f, 0, REP_FILL, 1, "10", "9.93", U(14, 35), 0);
  teardown(f);
}

/* ---- volume cap, IOC, FOK ----------------------------------------------- */

static void test_partial_fills(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.max_volume_share = F("0.1");
  fixture *f = setup(&c);
  at(f, U(14, 31));
  submit_ok(f, 0, MKT(BUY, "120"));
  /* 10% of 500 = 50 per bar: 50, 50, 20 */
  static const char *const opens[] = {"10.00", "10.10", "10.20"};
  static const char *const qtys[] = {"50", "50", "20"};
  for (int k = 0; k < 3; k++) {
    bar b = mkbar(U(14, 31 + k), opens[k], "10.30", "9.90", "10.00", "500");
    assert_int_equal(show(f, &b), 1);
    expect_rep(f, 0, REP_FILL, 0, qtys[k], opens[k], U(14, 31 + k), 0);
    assert_int_equal(matcher_working(f->m), k < 2 ? 1 : 0);
  }
  /* Orders share the bar's volume in arrival order: 30, then 20 of 40;
   * 10% of 509 = 50.9, rounded down to the lot: 50. */
  submit_ok(f, 1, MKT(SELL, "30"));
  submit_ok(f, 2, MKT(SELL, "40"));
  bar b = mkbar(U(14, 34), "10.00", "10.30", "9.90", "10.00", "509");
  assert_int_equal(show(f, &b), 2);
  expect_rep(f, 0, REP_FILL, 1, "30", "10.00", U(14, 34), 0);
  expect_rep(f, 1, REP_FILL, 2, "20", "10.00", U(14, 34), 0);
  /* a bar too thin for one lot fills nothing */
  bar thin = mkbar(U(14, 35), "10.00", "10.30", "9.90", "10.00", "9");
  assert_int_equal(show(f, &thin), 0);
  bar b2 = mkbar(U(14, 36), "10.00", "10.30", "9.90", "10.00", "500");
  assert_int_equal(show(f, &b2), 1);
  expect_rep(f, 0, REP_FILL, 2, "20", "10.00", U(14, 36), 0);
  teardown(f);
}

static void test_ioc_fok(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.max_volume_share = F("0.1");
  fixture *f = setup(&c);
  at(f, U(14, 31));
  submit_ok(f, 0, ((ospec){BUY, ORD_MARKET, TIF_IOC, "120", 0, 0, 0, false}));
  submit_ok(f, 1,
            ((ospec){BUY, ORD_LIMIT, TIF_IOC, "10", "9.00", 0, 0, false}));
  bar b = mkbar(U(14, 31), "10.00", "10.30", "9.90", "10.00", "500");
  assert_int_equal(show(f, &b), 3);
  expect_rep(f, 0, REP_FILL, 0, "50", "10.00", U(14, 31), 0);
  expect_rep(f, 1, REP_CANCELED, 0, 0, 0, U(14, 31), BRR_IOC_REMAINDER);
  expect_rep(f, 2, REP_CANCELED, 1, 0, 0, U(14, 31), BRR_IOC_REMAINDER);
  assert_int_equal(matcher_working(f->m), 0);

  /* FOK: 120 cannot fill whole from 50: canceled, nothing filled; 40 can */
  submit_ok(f, 2, ((ospec){BUY, ORD_MARKET, TIF_FOK, "120", 0, 0, 0, false}));
  submit_ok(f, 3, ((ospec){BUY, ORD_MARKET, TIF_FOK, "40", 0, 0, 0, false}));
  submit_ok(f, 4,
            ((ospec){SELL, ORD_LIMIT, TIF_FOK, "10", "11.00", 0, 0, false}));
  bar b1 = mkbar(U(14, 32), "10.00", "10.30", "9.90", "10.00", "500");
  assert_int_equal(show(f, &b1), 3);
  expect_rep(f, 0, REP_CANCELED, 2, 0, 0, U(14, 32), BRR_FOK_UNFILLED);
  expect_rep(f, 1, REP_FILL, 3, "40", "10.00", U(14, 32), 0);
  expect_rep(f, 2, REP_CANCELED, 4, 0, 0, U(14, 32), BRR_FOK_UNFILLED);
  assert_int_equal(matcher_working(f->m), 0);
  teardown(f);
}

/* ---- time in force and the session -------------------------------------- */

static void test_opg_cls(void **state) {
  (void)state;
  fixture *f = setup_default();
  at(f, U(13, 0)); /* 08:00 New York, pre-market */
  submit_ok(f, 0, ((ospec){BUY, ORD_MARKET, TIF_OPG, "10", 0, 0, 0, false}));
  bar pre = mkbar(U(14, 0), "9.80", "9.90", "9.70", "9.85", "1000");
  assert_int_equal(show(f, &pre), 0);
  bar first = mkbar(U(14, 30), "10.00", "10.10", "9.90", "10.05", "1000");
  assert_int_equal(show(f, &first), 1);
  expect_rep(f, 0, REP_FILL, 0, "10", "10.00", U(14, 30), 0);
  /* an OPG order placed after the open missed the auction */
  submit_ok(f, 1, ((ospec){BUY, ORD_MARKET, TIF_OPG, "10", 0, 0, 0, false}));
  /* CLS orders wait for the session's last bar and fill at its close */
  submit_ok(f, 2, ((ospec){SELL, ORD_MARKET, TIF_CLS, "10", 0, 0, 0, false}));
  submit_ok(f, 3,
            ((ospec){SELL, ORD_LIMIT, TIF_CLS, "10", "12.00", 0, 0, false}));
  bar b1 = mkbar(U(14, 31), "10.05", "10.10", "10.00", "10.08", "1000");
  assert_int_equal(show(f, &b1), 1);
  expect_rep(f, 0, REP_EXPIRED, 1, 0, 0, U(14, 31), BRR_MARKET_CLOSED);
  bar b2 = mkbar(U(20, 58), "10.20", "10.30", "10.10", "10.25", "1000");
  assert_int_equal(show(f, &b2), 0);
  bar last = mkbar(U(20, 59), "10.25", "10.40", "10.20", "10.33", "1000");
  assert_int_equal(show(f, &last), 2);
  expect_rep(f, 0, REP_FILL, 2, "10", "10.33", U(21, 0), 0);
  expect_rep(f, 1, REP_EXPIRED, 3, 0, 0, U(21, 0), BRR_MARKET_CLOSED);
  assert_int_equal(matcher_working(f->m), 0);
  teardown(f);
}

static void test_day_gtc(void **state) {
  (void)state;
  fixture *f = setup_default();
  at(f, U(14, 31));
  submit_ok(f, 0, LMT(BUY, "10", "9.00"));
  submit_ok(f, 1,
            ((ospec){BUY, ORD_LIMIT, TIF_GTC, "10", "9.00", 0, 0, false}));
  matcher_on_time(f->m, U(20, 59));
  assert_int_equal(drain(f), 0);
  at(f, U(21, 0));
  matcher_on_time(f->m, U(21, 0));
  assert_int_equal(drain(f), 1);
  expect_rep(f, 0, REP_EXPIRED, 0, 0, 0, U(21, 0), BRR_DAY_END);
  assert_int_equal(matcher_working(f->m), 1);
  /* the GTC order works on the next day */
  bar b = mkbar(UD(1, 14, 30, 0), "9.10", "9.20", "8.90", "9.00", "1000");
  assert_int_equal(show(f, &b), 1);
  expect_rep(f, 0, REP_FILL, 1, "10", "9.00", UD(1, 14, 30, 0), 0);
  /* a day order sent after the close works (and expires) the next day */
  at(f, UD(1, 21, 5, 0));
  submit_ok(f, 2, LMT(SELL, "10", "20.00"));
  matcher_on_time(f->m, UD(1, 23, 0, 0));
  assert_int_equal(drain(f), 0);
  at(f, UD(2, 21, 0, 0));
  matcher_on_time(f->m, UD(2, 21, 0, 0));
  assert_int_equal(drain(f), 1);
  expect_rep(f, 0, REP_EXPIRED, 2, 0, 0, UD(2, 21, 0, 0), BRR_DAY_END);
  teardown(f);
}

static void test_extended_hours(void **state) {
  (void)state;
  fixture *f = setup_default();
  at(f, U(13, 0));
  submit_ok(f, 0, MKT(BUY, "10"));
  submit_ok(f, 1, ((ospec){BUY, ORD_MARKET, TIF_DAY, "10", 0, 0, 0, true}));
  /* pre-market bar: only the extended-hours order fills */
  bar pre = mkbar(U(14, 0), "9.80", "9.90", "9.70", "9.85", "1000");
  assert_int_equal(show(f, &pre), 1);
  expect_rep(f, 0, REP_FILL, 1, "10", "9.80", U(14, 0), 0);
  bar first = mkbar(U(14, 30), "10.00", "10.10", "9.90", "10.05", "1000");
  assert_int_equal(show(f, &first), 1);
  expect_rep(f, 0, REP_FILL, 0, "10", "10.00", U(14, 30), 0);
  teardown(f);

  /* Post-market (16:30 New York), seen first by a fresh matcher: the same
   * rule. */
  f = setup_default();
  at(f, U(21, 25));
  submit_ok(f, 2, ((ospec){SELL, ORD_MARKET, TIF_DAY, "10", 0, 0, 0, true}));
  submit_ok(f, 3, ((ospec){SELL, ORD_MARKET, TIF_GTC, "10", 0, 0, 0, false}));
  bar post = mkbar(U(21, 30), "10.50", "10.60", "10.40", "10.45", "1000");
  assert_int_equal(show(f, &post), 1);
  expect_rep(f, 0, REP_FILL, 2, "10", "10.50", U(21, 30), 0);
  /* an extended day order sent in the post-market expires at the end of
   * extended hours (20:00 New York = 01:00Z) */
  submit_ok(f, 4,
            ((ospec){SELL, ORD_LIMIT, TIF_DAY, "10", "99.00", 0, 0, true}));
  at(f, UD(1, 0, 59, 0));
  matcher_on_time(f->m, UD(1, 0, 59, 0));
  assert_int_equal(drain(f), 0);
  at(f, UD(1, 1, 0, 0));
  matcher_on_time(f->m, UD(1, 1, 0, 0));
  assert_int_equal(drain(f), 1);
  expect_rep(f, 0, REP_EXPIRED, 4, 0, 0, UD(1, 1, 0, 0), BRR_DAY_END);
  /* the regular GTC order waits for the next regular session */
  bar pre2 = mkbar(UD(1, 13, 0, 0), "10.10", "10.20", "10.00", "10.15", "1000");
  assert_int_equal(show(f, &pre2), 0);
  bar tue = mkbar(UD(1, 14, 30, 0), "10.20", "10.30", "10.10", "10.25", "1000");
  assert_int_equal(show(f, &tue), 1);
  expect_rep(f, 0, REP_FILL, 3, "10", "10.20", UD(1, 14, 30, 0), 0);
  teardown(f);

  /* A weekend bar fills nothing, extended or not. */
  f = setup_default();
  at(f, UD(-2, 15, 0, 0)); /* Saturday 2025-01-04 */
  submit_ok(f, 5, ((ospec){BUY, ORD_MARKET, TIF_GTC, "10", 0, 0, 0, true}));
  bar sat = mkbar(UD(-2, 15, 1, 0), "10.00", "10.10", "9.90", "10.05", "1000");
  assert_int_equal(show(f, &sat), 0);
  bar mon = mkbar(U(9, 0), "10.00", "10.10", "9.90", "10.05", "1000");
  assert_int_equal(show(f, &mon), 1);
  expect_rep(f, 0, REP_FILL, 5, "10", "10.00", U(9, 0), 0);
  teardown(f);
}

/* bar_close: an order sent at the close of a pre-market bar must not fill
 * at that close unless it asked for extended hours. */
static void test_bar_close_session(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.model = FILL_BAR_CLOSE;
  fixture *f = setup(&c);
  bar pre = mkbar(U(14, 0), "9.80", "9.90", "9.70", "9.85", "1000");
  assert_int_equal(show(f, &pre), 0);
  submit_ok(f, 0, MKT(BUY, "10"));
  submit(f, 1, ((ospec){BUY, ORD_MARKET, TIF_DAY, "10", 0, 0, 0, true}));
  assert_int_equal(drain(f), 2);
  expect_rep(f, 0, REP_ACCEPTED, 1, 0, 0, U(14, 1), 0);
  expect_rep(f, 1, REP_FILL, 1, "10", "9.85", U(14, 1), 0);
  /* OPG orders never fill at a bar's close on arrival */
  submit_ok(f, 2, ((ospec){BUY, ORD_MARKET, TIF_OPG, "10", 0, 0, 0, false}));
  bar first = mkbar(U(14, 30), "10.00", "10.10", "9.90", "10.05", "1000");
  assert_int_equal(show(f, &first), 2);
  expect_rep(f, 0, REP_FILL, 0, "10", "10.05", U(14, 31), 0);
  expect_rep(f, 1, REP_FILL, 2, "10", "10.00", U(14, 30), 0);
  teardown(f);
}

/* ---- latency ------------------------------------------------------------ */

static void test_latency_fixed(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.latency = 2 * DTO_NS_PER_MIN;
  fixture *f = setup(&c);
  at(f, U(14, 31));
  submit(f, 0, MKT(BUY, "10"));
  assert_int_equal(drain(f), 1);
  expect_rep(f, 0, REP_ACCEPTED, 0, 0, 0, U(14, 33), 0);
  bar b1 = mkbar(U(14, 31), "10.00", "10.10", "9.90", "10.05", "1000");
  bar b2 = mkbar(U(14, 32), "10.05", "10.10", "9.90", "10.05", "1000");
  bar b3 = mkbar(U(14, 33), "10.07", "10.10", "9.90", "10.05", "1000");
  assert_int_equal(show(f, &b1), 0);
  assert_int_equal(show(f, &b2), 0);
  assert_int_equal(show(f, &b3), 1);
  expect_rep(f, 0, REP_FILL, 0, "10", "10.07", U(14, 33), 0);
  teardown(f);
}

/* Activation times of n orders under a random latency with seed. */
static void random_latencies(uint64_t seed, dto_time *out, size_t n) {
  match_config c;
  match_config_init(&c);
  c.latency_kind = LATENCY_RANDOM;
  c.latency = 1000;                    /* 1 us */
  c.latency_max = 10 * DTO_NS_PER_SEC; /* 10 s */
  c.seed = seed;
  fixture *f = setup(&c);
  at(f, U(14, 31));
  for (size_t i = 0; i < n; i++) {
    submit(f, (order_id)i, LMT(BUY, "10", "9.00"));
    assert_int_equal(drain(f), 1);
    assert_int_equal(f->rep[0].kind, REP_ACCEPTED);
    out[i] = f->rep[0].ts - U(14, 31);
    assert_true(out[i] >= 1000 && out[i] <= 10 * DTO_NS_PER_SEC);
  }
  teardown(f);
}

static void test_latency_random(void **state) {
  (void)state;
  dto_time a[8], b[8], c[8];
  random_latencies(42, a, 8);
  random_latencies(42, b, 8);
  random_latencies(43, c, 8);
  assert_memory_equal(a, b, sizeof a); /* same seed, same delays */
  assert_memory_not_equal(a, c, sizeof a);
  bool varies = false;
  for (int i = 1; i < 8; i++)
    varies |= a[i] != a[0];
  assert_true(varies);
  /* an order is not active before its delay has passed */
  match_config cfg;
  match_config_init(&cfg);
  cfg.latency_kind = LATENCY_RANDOM;
  cfg.latency = 90 * DTO_NS_PER_SEC;
  cfg.latency_max = 100 * DTO_NS_PER_SEC;
  fixture *f = setup(&cfg);
  at(f, U(14, 31));
  submit(f, 0, MKT(BUY, "10"));
  assert_int_equal(drain(f), 1);
  assert_true(f->rep[0].ts > U(14, 32) && f->rep[0].ts <= U(14, 33));
  bar b1 = mkbar(U(14, 32), "10.00", "10.10", "9.90", "10.05", "1000");
  bar b2 = mkbar(U(14, 33), "10.07", "10.10", "9.90", "10.05", "1000");
  assert_int_equal(show(f, &b1), 0);
  assert_int_equal(show(f, &b2), 1);
  expect_rep(f, 0, REP_FILL, 0, "10", "10.07", U(14, 33), 0);
  teardown(f);
}

/* ---- cancel, replace, invalid orders ------------------------------------ */

static void test_cancel_replace(void **state) {
  (void)state;
  fixture *f = setup_default();
  at(f, U(14, 31));
  submit_ok(f, 0, LMT(BUY, "10", "9.00"));
  assert_int_equal(matcher_cancel(f->m, 0), 0);
  assert_int_equal(drain(f), 1);
  expect_rep(f, 0, REP_CANCELED, 0, 0, 0, U(14, 31), BRR_REQUESTED);
  assert_int_equal(matcher_working(f->m), 0);
  /* cancel of an order that is not working, or does not exist */
  assert_int_equal(matcher_cancel(f->m, 0), 0);
  assert_int_equal(matcher_cancel(f->m, 99), 0);
  assert_int_equal(drain(f), 2);
  expect_rep(f, 0, REP_CANCEL_REJECT, 0, 0, 0, U(14, 31), BRR_UNKNOWN_ORDER);
  expect_rep(f, 1, REP_CANCEL_REJECT, 99, 0, 0, U(14, 31), BRR_UNKNOWN_ORDER);

  /* replace 1 (limit 9.00) by 2 (limit 10.00) */
  submit_ok(f, 1, LMT(BUY, "10", "9.00"));
  order nw = mkorder(2, &LMT(BUY, "10", "10.00"));
  nw.replaces = 1;
  assert_int_equal(matcher_replace(f->m, 1, &nw), 0);
  assert_int_equal(drain(f), 2);
  expect_rep(f, 0, REP_REPLACED, 1, 0, 0, U(14, 31), 0);
  assert_int_equal(f->rep[0].new_id, 2);
  expect_rep(f, 1, REP_ACCEPTED, 2, 0, 0, U(14, 31), 0);
  assert_int_equal(matcher_working(f->m), 1);
  /* replace requests that are refused leave the order working */
  order bad = mkorder(3, &LMT(BUY, "10", "10.005")); /* off the tick */
  assert_int_equal(matcher_replace(f->m, 2, &bad), 0);
  order other_side = mkorder(4, &LMT(SELL, "10", "10.00"));
  assert_int_equal(matcher_replace(f->m, 2, &other_side), 0);
  order ok = mkorder(5, &LMT(BUY, "10", "10.00"));
  assert_int_equal(matcher_replace(f->m, 1, &ok), 0); /* 1 is gone */
  assert_int_equal(matcher_replace(f->m, 77, &ok), 0);
  assert_int_equal(drain(f), 4);
  expect_rep(f, 0, REP_CANCEL_REJECT, 2, 0, 0, U(14, 31), BRR_INVALID);
  expect_rep(f, 1, REP_CANCEL_REJECT, 2, 0, 0, U(14, 31), BRR_INVALID);
  expect_rep(f, 2, REP_CANCEL_REJECT, 1, 0, 0, U(14, 31), BRR_UNKNOWN_ORDER);
  expect_rep(f, 3, REP_CANCEL_REJECT, 77, 0, 0, U(14, 31), BRR_UNKNOWN_ORDER);
  assert_int_equal(matcher_working(f->m), 1);
  /* the replacement works at its own limit */
  bar b = mkbar(U(14, 31), "10.05", "10.10", "9.95", "10.00", "1000");
  assert_int_equal(show(f, &b), 1);
  expect_rep(f, 0, REP_FILL, 2, "10", "10.00", U(14, 31), 0);
  teardown(f);
}

static void test_invalid_orders(void **state) {
  (void)state;
  fixture *f = setup_default();
  at(f, U(14, 31));
  const ospec bad[] = {
      MKT(BUY, "1.5"),          /* not a whole lot */
      MKT(BUY, "0"),            /* no quantity */
      MKT(SELL, "-10"),         /* negative */
      LMT(BUY, "10", "10.005"), /* limit off the tick */
      LMT(BUY, "10", "0"),      /* no limit */
      STP(SELL, "10", "9.999"), /* stop off the tick */
      STP(SELL, "10", "0"),     /* no stop */
      {BUY, ORD_STOP_LIMIT, TIF_DAY, "10", 0, "10.00", 0, false},
      {BUY, ORD_STOP_LIMIT, TIF_DAY, "10", "10.00", 0, 0, false},
      {SELL, ORD_TRAILING_STOP, TIF_DAY, "10", 0, 0, 0, false},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    submit(f, (order_id)i, bad[i]);
    assert_int_equal(drain(f), 1);
    expect_rep(f, 0, REP_REJECTED, (order_id)i, 0, 0, U(14, 31), BRR_INVALID);
  }
  order o = mkorder(20, &MKT(BUY, "10"));
  o.sym = 1; /* no such instrument */
  assert_int_equal(matcher_submit(f->m, &o), 0);
  assert_int_equal(drain(f), 1);
  expect_rep(f, 0, REP_REJECTED, 20, 0, 0, U(14, 31), BRR_INVALID);
  assert_int_equal(matcher_working(f->m), 0);
  /* the same id twice while working */
  submit_ok(f, 30, LMT(BUY, "10", "9.00"));
  o = mkorder(30, &LMT(BUY, "10", "9.00"));
  assert_int_equal(matcher_submit(f->m, &o), DTO_EEXIST);
  assert_int_equal(matcher_working(f->m), 1);
  teardown(f);
}

/* ---- bracket peers ------------------------------------------------------ */

static void bracket(fixture *f, order_id tp, order_id sl, const char *qty) {
  order a = mkorder(tp, &LMT(SELL, qty, "10.50"));
  order b = mkorder(sl, &STP(SELL, qty, "9.50"));
  a.tif = b.tif = TIF_GTC;
  a.role = BR_TAKE_PROFIT;
  b.role = BR_STOP_LOSS;
  a.peer = sl;
  b.peer = tp;
  assert_int_equal(matcher_submit(f->m, &a), 0);
  assert_int_equal(matcher_submit(f->m, &b), 0);
  assert_int_equal(drain(f), 2);
}

static void test_bracket_peers(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.max_volume_share = F("0.1");
  fixture *f = setup(&c);
  at(f, U(14, 31));
  bracket(f, 0, 1, "100");
  /* the take-profit fills 50 (10% of 500): the stop-loss shrinks to 50 */
  bar b1 = mkbar(U(14, 31), "10.40", "10.60", "10.30", "10.45", "500");
  assert_int_equal(show(f, &b1), 1);
  expect_rep(f, 0, REP_FILL, 0, "50", "10.50", U(14, 31), 0);
  /* the stop-loss triggers and fills its 50; the take-profit is then
   * covered and canceled */
  bar b2 = mkbar(U(14, 32), "9.60", "9.70", "9.40", "9.45", "5000");
  assert_int_equal(show(f, &b2), 2);
  expect_rep(f, 0, REP_FILL, 1, "50", "9.50", U(14, 32), 0);
  expect_rep(f, 1, REP_CANCELED, 0, 0, 0, U(14, 32), BRR_OCO);
  assert_int_equal(matcher_working(f->m), 0);

  /* a full fill of one exit cancels the other at once */
  bracket(f, 2, 3, "10");
  bar b3 = mkbar(U(14, 33), "10.55", "10.60", "10.50", "10.55", "5000");
  assert_int_equal(show(f, &b3), 2);
  expect_rep(f, 0, REP_FILL, 2, "10", "10.55", U(14, 33), 0);
  expect_rep(f, 1, REP_CANCELED, 3, 0, 0, U(14, 33), BRR_OCO);
  assert_int_equal(matcher_working(f->m), 0);
  teardown(f);
}

/* Trade model: a fill that cancels an order earlier in the book must not
 * make the matcher skip the orders after it. */
static void test_trade_book_walk(void **state) {
  (void)state;
  match_config c;
  match_config_init(&c);
  c.model = FILL_TRADE;
  fixture *f = setup(&c);
  at(f, U(14, 31));
  order sl = mkorder(0, &STP(SELL, "10", "9.50"));
  order tp = mkorder(1, &LMT(SELL, "10", "10.50"));
  sl.peer = 1;
  tp.peer = 0;
  assert_int_equal(matcher_submit(f->m, &sl), 0);
  assert_int_equal(matcher_submit(f->m, &tp), 0);
  submit(f, 2, LMT(BUY, "10", "10.60"));
  submit(f, 3, MKT(BUY, "10"));
  assert_int_equal(drain(f), 4);
  trade t = {UD(0, 14, 31, 1), F("10.55"), F("1000"), 0};
  at(f, t.ts);
  matcher_on_trade(f->m, &t);
  assert_int_equal(drain(f), 4);
  expect_rep(f, 0, REP_FILL, 1, "10", "10.55", t.ts, 0);
  expect_rep(f, 1, REP_CANCELED, 0, 0, 0, t.ts, BRR_OCO);
  expect_rep(f, 2, REP_FILL, 2, "10", "10.55", t.ts, 0);
  expect_rep(f, 3, REP_FILL, 3, "10", "10.55", t.ts, 0);
  assert_int_equal(matcher_working(f->m), 0);
  teardown(f);
}

static void test_poll_and_names(void **state) {
  (void)state;
  fixture *f = setup_default();
  at(f, U(14, 31));
  for (order_id i = 0; i < 100; i++)
    submit(f, i, LMT(BUY, "1", "9.00"));
  /* reports come out in order, in as many polls as it takes */
  broker_report r[7];
  order_id next = 0;
  size_t n;
  while ((n = matcher_poll(f->m, r, DTO_ARRAY_LEN(r))) > 0)
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(r[i].kind, REP_ACCEPTED);
      assert_int_equal(r[i].id, next++);
    }
  assert_int_equal(next, 100);
  assert_int_equal(matcher_working(f->m), 100);
  teardown(f);

  enum fill_model m;
  for (int i = 0; i < FILL_MODEL_COUNT; i++) {
    assert_int_equal(fill_model_parse(fill_model_name((enum fill_model)i), &m),
                     0);
    assert_int_equal(m, i);
  }
  assert_string_equal(fill_model_name(FILL_BAR_CLOSE), "bar_close");
  assert_int_equal(fill_model_parse("next-bar-open", &m), DTO_EINVAL);
  assert_int_equal(fill_model_parse(NULL, &m), DTO_EINVAL);
  assert_string_equal(fill_model_name(FILL_MODEL_COUNT), "?");
  assert_string_equal(report_kind_name(REP_CANCEL_REJECT), "cancel_reject");
  assert_string_equal(broker_reason_name(BRR_OCO), "oco");
  assert_string_equal(broker_reason_name(-1), "?");
  matcher_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_market_next_bar_open),
      cmocka_unit_test(test_market_bar_close),
      cmocka_unit_test(test_market_trade_model),
      cmocka_unit_test(test_limit_next_bar_open),
      cmocka_unit_test(test_limit_bar_close),
      cmocka_unit_test(test_limit_trade_model),
      cmocka_unit_test(test_stops_with_slippage),
      cmocka_unit_test(test_stop_limit),
      cmocka_unit_test(test_trailing_stop),
      cmocka_unit_test(test_partial_fills),
      cmocka_unit_test(test_ioc_fok),
      cmocka_unit_test(test_opg_cls),
      cmocka_unit_test(test_day_gtc),
      cmocka_unit_test(test_extended_hours),
      cmocka_unit_test(test_bar_close_session),
      cmocka_unit_test(test_latency_fixed),
      cmocka_unit_test(test_latency_random),
      cmocka_unit_test(test_cancel_replace),
      cmocka_unit_test(test_invalid_orders),
      cmocka_unit_test(test_bracket_peers),
      cmocka_unit_test(test_trade_book_walk),
      cmocka_unit_test(test_poll_and_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
