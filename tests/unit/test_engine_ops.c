/* test_engine_ops.c - a person's actions on the engine (engine.h, "operator
 * actions"): cancel one order, cancel all in a scope, flatten a scope,
 * pause and resume a strategy, maintenance.
 *
 * The world is the paper exchange (next-bar-open fills, no fees, no
 * slippage), one account, two strategies that trade what the test says
 * (both on AAA and BBB, us_equity calendar) and 1-minute bars of a 2025
 * session, driven as the runner does.  Outcomes are read from the OMS, the
 * portfolio, the matcher's book and the log the engine writes, not from
 * the return codes alone: a cancel must end the order CANCELED at the
 * exchange, a flatten must leave the position 0 after the next bar.
 * Maintenance is also checked at the gate's snapshot format, written by
 * hand here (a second implementation of the layout in risk.c). */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "broker/paper.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "market/calendar.h"

#define NSYM 2
#define NSTRAT 2

static fx F(const char *s) {
  fx v;
  if (fx_parse_cstr(s, &v))
    fail_msg("bad fx literal %s", s);
  return v;
}

/* ---- the world ----------------------------------------------------------- */

typedef struct world {
  instrument_table ins;
  sim_clock sim;
  dto_clock clock;
  dto_log log;
  FILE *logf;
  matcher *m;
  engine *e;
  engine_account acct;
  strat *s[NSTRAT]; /* captured at on_start, in the order added */
  size_t ns;
  uint32_t sacct[NSTRAT];
  risk_config rc;
  risk_decision last; /* the last decision of the gate */
  session d;          /* the trading day */
  int minute;         /* bars fed so far */
} world;

static const param_spec world_params[] = {
    {"world", PARAM_INT, "0", 0, 0, NULL, "the test's world (a pointer)"},
};

static int ts_on_start(strat *s, void *st) {
  (void)st;
  world *w = (world *)(intptr_t)strat_param(s, 0)->u.i;
  assert_true(w->ns < NSTRAT);
  w->s[w->ns++] = s;
  return 0;
}

static const strategy_def test_def = {
    .name = "opstest",
    .summary = "trades what the test says",
    .params = world_params,
    .nparams = 1,
    .state_size = 8,
    .sym_state_size = 8,
    .on_start = ts_on_start,
};

static void hook_decision(void *ctx, const order *o, const risk_decision *d) {
  (void)o;
  ((world *)ctx)->last = *d;
}

/* A started engine, the clock an hour before the open of 2025-02-03 and no
 * limit set: what refuses an order in these tests is the action under
 * test. */
static world *world_new(void) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  instruments_init(&w->ins);
  const char *syms[NSYM] = {"AAA", "BBB"};
  for (int i = 0; i < NSYM; i++) {
    instrument in;
    memset(&in, 0, sizeof in);
    snprintf(in.symbol, sizeof in.symbol, "%s", syms[i]);
    in.asset_class = ASSET_EQUITY;
    in.tick = F("0.01");
    in.lot = FX_ONE;
    snprintf(in.currency, sizeof in.currency, "%s", "USD");
    in.cal = calendar_us_equity();
    in.shortable = true;
    assert_int_equal(instruments_add(&w->ins, &in, NULL), 0);
  }
  if (!calendar_session(calendar_us_equity(), days_from_civil(2025, 2, 3),
                        &w->d))
    fail_msg("2025-02-03 is no trading day");
  w->acct = (engine_account){"ACC", F("1000000")};
  w->rc.naccounts = 1;
  w->rc.nstrategies = NSTRAT;
  w->rc.nsyms = NSYM;
  w->rc.strategy_account = w->sacct;
  clock_sim_init(&w->clock, &w->sim, w->d.open - DTO_NS_PER_HOUR);
  w->logf = tmpfile();
  assert_non_null(w->logf);
  log_init(&w->log, w->logf, &w->clock, LOG_INFO);
  match_config mc;
  match_config_init(&mc);
  w->m = matcher_new(&mc, &w->ins, &w->clock);
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &w->ins;
  ec.clock = &w->clock;
  ec.log = &w->log;
  ec.broker = &paper_broker_ops;
  ec.broker_ctx = paper_ctx(w->m);
  ec.accounts = &w->acct;
  ec.naccounts = 1;
  ec.hooks = (engine_hooks){w, NULL, NULL, NULL, hook_decision, NULL};
  ec.risk = &w->rc;
  w->e = engine_new(&ec);
  param_value pv;
  memset(&pv, 0, sizeof pv);
  pv.u.i = (int64_t)(intptr_t)w;
  sym_id mine[NSYM] = {0, 1};
  const char *ids[NSTRAT] = {"s0", "s1"};
  for (int i = 0; i < NSTRAT; i++) {
    engine_strategy es = {&test_def, ids[i], 0, mine, NSYM, F("500000"), &pv};
    assert_int_equal(engine_add_strategy(w->e, &es), 0);
  }
  assert_int_equal(engine_start(w->e), 0);
  assert_int_equal(w->ns, NSTRAT);
  return w;
}

static void world_free(world *w) {
  engine_free(w->e);
  matcher_free(w->m);
  log_close(&w->log);
  fclose(w->logf);
  instruments_release(&w->ins);
  free(w);
}

/* The next 1-minute bar of the session, flat at p, for every instrument;
 * working orders fill at its open. */
static void feed(world *w, const char *p) {
  dto_time ts = w->d.open + (dto_time)w->minute++ * DTO_NS_PER_MIN;
  for (sym_id y = 0; y < NSYM; y++) {
    bar b = {ts, DTO_NS_PER_MIN, F(p), F(p), F(p), F(p), F("1000000"), 0};
    b.sym = y;
    assert_null(bar_check(&b));
    sim_clock_set(&w->sim, b.ts);
    engine_bar_open(w->e, &b);
    sim_clock_set(&w->sim, bar_end(&b));
    engine_on_bar(w->e, &b);
  }
}

/* Strategy k submits now (between bars), as an API user would; the
 * broker's reports are collected.  px: the limit (NULL: a market order);
 * tp, sl: a bracket's exits (NULL: none). */
static int submit(world *w, int k, sym_id sym, enum order_side side,
                  const char *qty, const char *px, const char *tp,
                  const char *sl, order_id *id) {
  order_req r;
  memset(&r, 0, sizeof r);
  r.sym = sym;
  r.side = side;
  r.type = px ? ORD_LIMIT : ORD_MARKET;
  r.tif = px ? TIF_GTC : TIF_DAY;
  r.qty = F(qty);
  if (px)
    r.limit_price = F(px);
  if (tp)
    r.take_profit = F(tp);
  if (sl)
    r.stop_loss = F(sl);
  memset(&w->last, 0, sizeof w->last);
  int rc = strat_submit(w->s[k], &r, id);
  engine_pump(w->e);
  return rc;
}
#define BUY(w, k, q, px, id) submit(w, k, 0, SIDE_BUY, q, px, NULL, NULL, id)
#define SELL(w, k, q, px, id) submit(w, k, 0, SIDE_SELL, q, px, NULL, NULL, id)

static const order *O(const world *w, order_id id) {
  const order *o = oms_cget(engine_oms(w->e), id);
  assert_non_null(o);
  return o;
}

#define assert_state(w, id, st)                                                \
  do {                                                                         \
    enum order_state got_ = O(w, id)->state;                                   \
    if (got_ != (st))                                                          \
      fail_msg("order %u is %s, want %s", (unsigned)(id),                      \
               order_state_name(got_), order_state_name(st));                  \
  } while (0)

static fx spos(const world *w, int k, sym_id sym) {
  return portfolio_strategy_pos(engine_portfolio(w->e), (uint32_t)k, sym)->qty;
}

/* Strategy k's working exit of a role (ORDER_NONE when none). */
static order_id exit_of(const world *w, int k, enum bracket_role role) {
  size_t n;
  const oms *om = engine_oms(w->e);
  const order_id *ids = oms_open_ids(om, &n);
  for (size_t i = 0; i < n; i++) {
    const order *o = oms_cget(om, ids[i]);
    if (o && o->strategy == (uint32_t)k && o->role == role &&
        order_is_working(o->state))
      return o->id;
  }
  return ORDER_NONE;
}

/* How many log lines have this event name (read back from the file). */
static int logged(world *w, const char *event) {
  log_flush(&w->log);
  fflush(w->logf);
  rewind(w->logf);
  char want[96], line[LOG_LINE_MAX];
  snprintf(want, sizeof want, "\"event\":\"%s\"", event);
  int n = 0;
  while (fgets(line, sizeof line, w->logf))
    n += strstr(line, want) != NULL;
  fseek(w->logf, 0, SEEK_END);
  return n;
}

/* ---- cancel one order ---------------------------------------------------- */

/* A working limit order ends CANCELED at the exchange; a finished one is
 * DTO_ESTATE, an unknown one DTO_ENOENT, and nothing else is touched. */
static void test_cancel_order(void **state) {
  (void)state;
  world *w = world_new();
  feed(w, "100");
  order_id lim, other, mkt;
  assert_int_equal(BUY(w, 0, "10", "90", &lim), 0);
  assert_int_equal(BUY(w, 1, "10", "91", &other), 0);
  assert_int_equal(BUY(w, 0, "5", NULL, &mkt), 0);
  feed(w, "100"); /* the market order fills, the limits stay */
  assert_state(w, mkt, OS_FILLED);
  assert_state(w, lim, OS_ACCEPTED);
  assert_int_equal(matcher_working(w->m), 2);

  assert_int_equal(engine_cancel_order(w->e, lim, "alice"), 0);
  assert_state(w, lim, OS_CANCELED); /* the exchange acknowledged it */
  assert_int_equal(matcher_working(w->m), 1);
  assert_state(w, other, OS_ACCEPTED);
  assert_int_equal(engine_working_orders(w->e), 1);

  assert_int_equal(engine_cancel_order(w->e, lim, "alice"), DTO_ESTATE);
  assert_int_equal(engine_cancel_order(w->e, mkt, "alice"), DTO_ESTATE);
  order_id none = (order_id)oms_count(engine_oms(w->e)) + 7;
  assert_int_equal(engine_cancel_order(w->e, none, "alice"), DTO_ENOENT);
  assert_int_equal(engine_working_orders(w->e), 1);
  assert_int_equal(logged(w, "ops.cancel"), 4);
  /* the canceled order stays canceled when the price reaches its limit */
  feed(w, "89");
  assert_state(w, lim, OS_CANCELED);
  assert_state(w, other, OS_FILLED);
  assert_int_equal(spos(w, 0, 0), F("5"));
  world_free(w);
}

/* The exits of a bracket position cannot be canceled one by one: the
 * position would stay open without its stop. */
static void test_cancel_protective_refused(void **state) {
  (void)state;
  world *w = world_new();
  feed(w, "100");
  order_id entry;
  assert_int_equal(submit(w, 0, 0, SIDE_BUY, "10", NULL, "110", "90", &entry),
                   0);
  feed(w, "100");
  assert_state(w, entry, OS_FILLED);
  order_id tp = exit_of(w, 0, BR_TAKE_PROFIT), sl = exit_of(w, 0, BR_STOP_LOSS);
  assert_int_not_equal(tp, ORDER_NONE);
  assert_int_not_equal(sl, ORDER_NONE);
  assert_int_equal(engine_cancel_order(w->e, tp, "alice"), DTO_EREJECT);
  assert_int_equal(engine_cancel_order(w->e, sl, "alice"), DTO_EREJECT);
  assert_state(w, tp, OS_ACCEPTED);
  assert_state(w, sl, OS_ACCEPTED);
  assert_int_equal(matcher_working(w->m), 2);
  /* and the stop still does its work */
  feed(w, "89");
  assert_state(w, sl, OS_FILLED);
  assert_int_equal(spos(w, 0, 0), 0);
  world_free(w);
}

/* ---- cancel all in a scope ----------------------------------------------- */

/* By strategy: the other strategy's orders and the protective exits of the
 * strategy's own bracket position stay; by instrument: only that one. */
static void test_cancel_all(void **state) {
  (void)state;
  world *w = world_new();
  feed(w, "100");
  order_id entry, a0, b0, a1, b1;
  assert_int_equal(submit(w, 0, 0, SIDE_BUY, "10", NULL, "110", "90", &entry),
                   0);
  feed(w, "100");
  order_id tp = exit_of(w, 0, BR_TAKE_PROFIT), sl = exit_of(w, 0, BR_STOP_LOSS);
  assert_int_not_equal(tp, ORDER_NONE);
  assert_int_equal(BUY(w, 0, "1", "95", &a0), 0);
  assert_int_equal(submit(w, 0, 1, SIDE_BUY, "1", "95", NULL, NULL, &b0), 0);
  assert_int_equal(BUY(w, 1, "1", "95", &a1), 0);
  assert_int_equal(submit(w, 1, 1, SIDE_BUY, "1", "95", NULL, NULL, &b1), 0);
  assert_int_equal(engine_working_orders(w->e), 6);

  /* strategy 1, instrument BBB only */
  assert_int_equal(engine_cancel_all(w->e, RISK_SCOPE_STRATEGY, 1, 1, "bob"),
                   1);
  assert_state(w, b1, OS_CANCELED);
  assert_state(w, a1, OS_ACCEPTED);
  /* strategy 0, every instrument: its exits stay */
  assert_int_equal(engine_cancel_all(w->e, RISK_SCOPE_STRATEGY, 0, -1, "bob"),
                   2);
  assert_state(w, a0, OS_CANCELED);
  assert_state(w, b0, OS_CANCELED);
  assert_state(w, a1, OS_ACCEPTED);
  assert_state(w, tp, OS_ACCEPTED);
  assert_state(w, sl, OS_ACCEPTED);
  assert_int_equal(matcher_working(w->m), 3);
  /* nothing left to cancel there; a scope that does not exist cancels
   * nothing */
  assert_int_equal(engine_cancel_all(w->e, RISK_SCOPE_STRATEGY, 0, -1, "bob"),
                   0);
  assert_int_equal(engine_cancel_all(w->e, RISK_SCOPE_STRATEGY, 9, -1, "bob"),
                   0);
  assert_int_equal(engine_cancel_all(w->e, RISK_SCOPE_ACCOUNT, 1, -1, "bob"),
                   0);
  assert_int_equal(engine_cancel_all(w->e, 0, 0, NSYM, "bob"), 0);
  assert_int_equal(engine_working_orders(w->e), 3);
  /* the account: everything but the exits */
  assert_int_equal(engine_cancel_all(w->e, RISK_SCOPE_ACCOUNT, 0, -1, "bob"),
                   1);
  assert_state(w, a1, OS_CANCELED);
  assert_int_equal(engine_working_orders(w->e), 2);
  assert_int_equal(engine_cancel_all(w->e, 0, 0, -1, "bob"), 0);
  assert_state(w, tp, OS_ACCEPTED);
  assert_state(w, sl, OS_ACCEPTED);
  assert_int_equal(logged(w, "ops.cancel_all"), 8);
  world_free(w);
}

/* ---- flatten ------------------------------------------------------------- */

/* A strategy's positions close with market orders (its bracket exits go
 * with them); the other strategy keeps its own. */
static void test_flatten_strategy(void **state) {
  (void)state;
  world *w = world_new();
  feed(w, "100");
  order_id entry, rest;
  assert_int_equal(BUY(w, 0, "10", NULL, NULL), 0);
  assert_int_equal(submit(w, 0, 1, SIDE_SELL, "4", NULL, "90", "110", &entry),
                   0);
  assert_int_equal(BUY(w, 1, "7", NULL, NULL), 0);
  feed(w, "100");
  assert_int_equal(spos(w, 0, 0), F("10"));
  assert_int_equal(spos(w, 0, 1), F("-4"));
  assert_int_equal(spos(w, 1, 0), F("7"));
  order_id tp = exit_of(w, 0, BR_TAKE_PROFIT);
  assert_int_not_equal(tp, ORDER_NONE);
  assert_int_equal(BUY(w, 0, "1", "90", &rest), 0);

  size_t before = oms_count(engine_oms(w->e)), n = 99;
  assert_int_equal(
      engine_flatten_scope(w->e, RISK_SCOPE_STRATEGY, 0, -1, "carol", &n), 0);
  assert_int_equal(n, 2);
  /* the closing orders: market day orders for the whole positions */
  int closing = 0;
  for (size_t i = before; i < oms_count(engine_oms(w->e)); i++) {
    const order *o = O(w, (order_id)i);
    if (o->role != BR_NONE)
      continue;
    assert_int_equal(o->type, ORD_MARKET);
    assert_int_equal(o->strategy, 0);
    assert_int_equal(o->state, OS_ACCEPTED);
    if (o->sym == 0) {
      assert_int_equal(o->side, SIDE_SELL);
      assert_int_equal(o->qty, F("10"));
    } else {
      assert_int_equal(o->side, SIDE_BUY);
      assert_int_equal(o->qty, F("4"));
    }
    closing++;
  }
  assert_int_equal(closing, 2);
  assert_state(w, rest, OS_CANCELED);
  assert_state(w, tp, OS_CANCELED);
  feed(w, "100");
  assert_int_equal(spos(w, 0, 0), 0);
  assert_int_equal(spos(w, 0, 1), 0);
  assert_int_equal(spos(w, 1, 0), F("7"));
  assert_int_equal(engine_working_orders(w->e), 0);
  /* flat now: nothing to close, still 0 */
  assert_int_equal(
      engine_flatten_scope(w->e, RISK_SCOPE_STRATEGY, 0, -1, "carol", &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(logged(w, "ops.flatten"), 2);
  world_free(w);
}

/* Refused flattens are reported (DTO_EREJECT) and change nothing; a scope
 * that does not exist is DTO_EINVAL; the account scope and one instrument
 * reach exactly what they name. */
static void test_flatten_scopes(void **state) {
  (void)state;
  world *w = world_new();
  feed(w, "100");
  assert_int_equal(BUY(w, 0, "10", NULL, NULL), 0);
  assert_int_equal(submit(w, 0, 1, SIDE_BUY, "3", NULL, NULL, NULL, NULL), 0);
  assert_int_equal(BUY(w, 1, "7", NULL, NULL), 0);
  feed(w, "100");
  size_t n = 99;
  assert_int_equal(
      engine_flatten_scope(w->e, RISK_SCOPE_STRATEGY, 2, -1, "carol", &n),
      DTO_EINVAL);
  assert_int_equal(n, 0);
  assert_int_equal(
      engine_flatten_scope(w->e, RISK_SCOPE_ACCOUNT, 1, -1, "carol", &n),
      DTO_EINVAL);
  assert_int_equal(engine_flatten_scope(w->e, 0, 0, NSYM, "carol", &n),
                   DTO_EINVAL);
  /* under the kill switch nothing can pass: refused, positions stay */
  engine_kill(w->e, true, "test");
  n = 99;
  assert_int_equal(engine_flatten_scope(w->e, 0, 0, -1, "carol", &n),
                   DTO_EREJECT);
  assert_int_equal(n, 0);
  assert_int_equal(logged(w, "ops.flatten_refused"), 3);
  engine_kill(w->e, false, "test");
  feed(w, "100");
  assert_int_equal(spos(w, 0, 0), F("10"));
  /* the whole account, instrument AAA only */
  assert_int_equal(
      engine_flatten_scope(w->e, RISK_SCOPE_ACCOUNT, 0, 0, "carol", NULL), 0);
  feed(w, "100");
  assert_int_equal(spos(w, 0, 0), 0);
  assert_int_equal(spos(w, 1, 0), 0);
  assert_int_equal(spos(w, 0, 1), F("3"));
  /* everything */
  assert_int_equal(engine_flatten_scope(w->e, 0, 0, -1, "carol", &n), 0);
  assert_int_equal(n, 1);
  feed(w, "100");
  assert_int_equal(spos(w, 0, 1), 0);
  world_free(w);
}

/* ---- pause and resume ---------------------------------------------------- */

/* Paused: the strategy's new entries are refused (reducing_only), its exits
 * pass, the other strategy trades on; resumed, entries pass again. */
static void test_pause_resume(void **state) {
  (void)state;
  world *w = world_new();
  feed(w, "100");
  assert_int_equal(BUY(w, 0, "10", NULL, NULL), 0);
  feed(w, "100");
  assert_int_equal(spos(w, 0, 0), F("10"));
  order_id working;
  assert_int_equal(BUY(w, 0, "1", "90", &working), 0);

  assert_false(engine_strategy_paused(w->e, 0));
  assert_int_equal(engine_pause_strategy(w->e, 0, true, "dave"), 0);
  assert_true(engine_strategy_paused(w->e, 0));
  assert_false(engine_strategy_paused(w->e, 1));
  assert_int_equal(risk_mode_of(engine_risk(w->e), RISK_SCOPE_STRATEGY, 0),
                   MODE_REDUCING);
  assert_int_equal(engine_pause_strategy(w->e, 0, true, "dave"), 0); /* again */
  assert_state(w, working, OS_ACCEPTED); /* working orders stay */

  assert_int_equal(BUY(w, 0, "1", NULL, NULL), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_REDUCING_ONLY);
  assert_int_equal(w->last.scope, RISK_SCOPE_STRATEGY);
  assert_int_equal(submit(w, 0, 1, SIDE_SELL, "1", NULL, NULL, NULL, NULL),
                   DTO_EREJECT); /* a short entry is an entry too */
  assert_int_equal(SELL(w, 0, "4", NULL, NULL), 0); /* an exit */
  assert_int_equal(w->last.reason, RISK_OK);
  assert_int_equal(BUY(w, 1, "2", NULL, NULL), 0); /* the other strategy */
  feed(w, "100");
  assert_int_equal(spos(w, 0, 0), F("6"));
  assert_int_equal(spos(w, 1, 0), F("2"));

  assert_int_equal(engine_pause_strategy(w->e, 0, false, "dave"), 0);
  assert_false(engine_strategy_paused(w->e, 0));
  assert_int_equal(risk_mode_of(engine_risk(w->e), RISK_SCOPE_STRATEGY, 0),
                   MODE_ACTIVE);
  assert_int_equal(BUY(w, 0, "1", NULL, NULL), 0);
  assert_int_equal(engine_pause_strategy(w->e, 0, false, "dave"),
                   0); /* no-op */
  assert_int_equal(engine_pause_strategy(w->e, NSTRAT, true, "dave"),
                   DTO_EINVAL);
  assert_int_equal(logged(w, "ops.pause"), 2);
  assert_int_equal(logged(w, "ops.resume"), 2);
  world_free(w);
}

/* Resume releases only a person's pause: a halted strategy, or one a limit
 * made REDUCING, stays as it is; pausing never loosens a halt. */
static void test_pause_resume_refused(void **state) {
  (void)state;
  world *w = world_new();
  feed(w, "100");
  assert_int_equal(
      engine_set_mode(w->e, RISK_SCOPE_STRATEGY, 0, MODE_HALTED, "test"), 0);
  assert_int_equal(engine_pause_strategy(w->e, 0, false, "dave"), DTO_ESTATE);
  assert_int_equal(engine_pause_strategy(w->e, 0, true, "dave"), DTO_ESTATE);
  assert_int_equal(risk_mode_of(engine_risk(w->e), RISK_SCOPE_STRATEGY, 0),
                   MODE_HALTED);
  assert_false(engine_strategy_paused(w->e, 0));
  assert_int_equal(BUY(w, 0, "1", NULL, NULL), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_HALTED);
  assert_int_equal(
      engine_set_mode(w->e, RISK_SCOPE_STRATEGY, 0, MODE_ACTIVE, "test"), 0);

  /* the daily loss limit's REDUCING: not a pause, so no resume ... */
  risk *rk = engine_risk_mut(w->e);
  assert_int_equal(risk_transition(rk, RISK_SCOPE_STRATEGY, 1, MODE_REDUCING,
                                   RISK_CAUSE_DAILY_LOSS),
                   0);
  assert_false(engine_strategy_paused(w->e, 1));
  assert_int_equal(engine_pause_strategy(w->e, 1, false, "dave"), DTO_ESTATE);
  assert_int_equal(risk_mode_cause(rk, RISK_SCOPE_STRATEGY, 1),
                   RISK_CAUSE_DAILY_LOSS);
  /* ... but a pause over it: the person's now (the next day keeps it) */
  assert_int_equal(engine_pause_strategy(w->e, 1, true, "dave"), 0);
  assert_true(engine_strategy_paused(w->e, 1));
  risk_new_day(rk);
  assert_true(engine_strategy_paused(w->e, 1));
  assert_int_equal(engine_pause_strategy(w->e, 1, false, "dave"), 0);
  assert_int_equal(risk_mode_of(rk, RISK_SCOPE_STRATEGY, 1), MODE_ACTIVE);
  assert_int_equal(risk_illegal_transitions(rk), 0);
  world_free(w);
}

/* ---- maintenance --------------------------------------------------------- */

/* On: opening orders are refused everywhere (maintenance); reducing ones,
 * flattens and bracket exits pass; working orders stay.  Off: entries
 * pass again. */
static void test_maintenance(void **state) {
  (void)state;
  world *w = world_new();
  feed(w, "100");
  order_id entry, held;
  assert_int_equal(BUY(w, 0, "10", NULL, NULL), 0);
  assert_int_equal(submit(w, 1, 1, SIDE_BUY, "5", "100", "110", "90", &entry),
                   0);
  assert_int_equal(BUY(w, 1, "1", "80", &held), 0);

  assert_false(engine_maintenance(w->e));
  assert_int_equal(engine_set_maintenance(w->e, true, "erin"), 0);
  assert_true(engine_maintenance(w->e));
  assert_int_equal(engine_set_maintenance(w->e, true, "erin"), 0); /* no-op */
  assert_true(engine_maintenance(w->e));
  assert_int_equal(logged(w, "ops.maintenance"), 1);
  assert_state(w, held, OS_ACCEPTED);

  feed(w, "100"); /* the market buy and the bracket entry fill ... */
  assert_int_equal(spos(w, 0, 0), F("10"));
  assert_int_equal(spos(w, 1, 1), F("5"));
  /* ... and the entry gets its exits: they do not open anything */
  assert_int_not_equal(exit_of(w, 1, BR_TAKE_PROFIT), ORDER_NONE);
  assert_int_not_equal(exit_of(w, 1, BR_STOP_LOSS), ORDER_NONE);

  assert_int_equal(BUY(w, 0, "1", NULL, NULL), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_MAINTENANCE);
  assert_int_equal(w->last.scope, RISK_SCOPE_GLOBAL);
  assert_int_equal(BUY(w, 1, "1", "95", NULL), DTO_EREJECT); /* everywhere */
  assert_int_equal(w->last.reason, RISK_MAINTENANCE);
  assert_int_equal(SELL(w, 0, "11", NULL, NULL), DTO_EREJECT); /* flips */
  assert_int_equal(w->last.reason, RISK_MAINTENANCE);
  assert_int_equal(SELL(w, 0, "4", NULL, NULL), 0); /* reduces */
  assert_int_equal(w->last.reason, RISK_OK);
  assert_int_equal(risk_refusals(engine_risk(w->e), RISK_MAINTENANCE), 3);
  assert_string_equal(risk_reason_name(RISK_MAINTENANCE), "maintenance");
  feed(w, "100");
  assert_int_equal(spos(w, 0, 0), F("6"));
  /* a flatten passes */
  size_t n = 0;
  assert_int_equal(
      engine_flatten_scope(w->e, RISK_SCOPE_STRATEGY, 0, -1, "erin", &n), 0);
  assert_int_equal(n, 1);
  feed(w, "100");
  assert_int_equal(spos(w, 0, 0), 0);

  assert_int_equal(engine_set_maintenance(w->e, false, "erin"), 0);
  assert_false(engine_maintenance(w->e));
  assert_int_equal(BUY(w, 0, "1", NULL, NULL), 0);
  assert_int_equal(logged(w, "ops.maintenance"), 2);
  world_free(w);
}

/* Maintenance is part of the checkpoint: a fresh engine restored from it is
 * in maintenance; one restored from a checkpoint without it is not. */
static void test_maintenance_checkpoint(void **state) {
  (void)state;
  world *w = world_new();
  feed(w, "100");
  assert_int_equal(BUY(w, 0, "10", NULL, NULL), 0);
  feed(w, "100");
  dbuf off, on;
  dbuf_init(&off, SIZE_MAX / 2);
  dbuf_init(&on, SIZE_MAX / 2);
  assert_int_equal(engine_snapshot(w->e, &off), 0);
  assert_int_equal(engine_set_maintenance(w->e, true, "erin"), 0);
  assert_int_equal(engine_snapshot(w->e, &on), 0);
  assert_int_equal(on.len, off.len + 1); /* version 2: one byte more */

  char err[256] = "";
  world *t = world_new();
  assert_int_equal(
      engine_restore_snapshot(t->e, on.ptr, on.len, err, sizeof err), 0);
  assert_true(engine_maintenance(t->e));
  assert_int_equal(spos(t, 0, 0), F("10"));
  dbuf again;
  dbuf_init(&again, SIZE_MAX / 2);
  assert_int_equal(engine_snapshot(t->e, &again), 0);
  assert_int_equal(again.len, on.len);
  assert_memory_equal(again.ptr, on.ptr, on.len);
  /* it holds after the restart: an entry is refused, an exit passes */
  t->minute = w->minute;
  feed(t, "100");
  assert_int_equal(BUY(t, 0, "1", NULL, NULL), DTO_EREJECT);
  assert_int_equal(t->last.reason, RISK_MAINTENANCE);
  world_free(t);

  t = world_new();
  assert_int_equal(engine_set_maintenance(t->e, true, "erin"), 0);
  assert_int_equal(
      engine_restore_snapshot(t->e, off.ptr, off.len, err, sizeof err), 0);
  assert_false(engine_maintenance(t->e));
  world_free(t);
  dbuf_release(&again);
  dbuf_release(&off);
  dbuf_release(&on);
  world_free(w);
}

/* The gate's snapshot by hand: version 1 without maintenance (the layout
 * of before, which still reads and then means "off"), version 2 with the
 * maintenance byte 1 after the global mode while it is on; version 2 with
 * the byte 0 (a second encoding of version 1) and other versions are
 * refused. */
static void test_maintenance_snapshot_layout(void **state) {
  (void)state;
  risk_config c;
  memset(&c, 0, sizeof c);
  c.naccounts = c.nstrategies = c.nsyms = 1;
  risk *r = NULL, *t = NULL;
  assert_int_equal(risk_new(&c, &r), 0);
  assert_int_equal(risk_new(&c, &t), 0);
  dbuf v1, v2;
  dbuf_init(&v1, 1 << 20);
  dbuf_init(&v2, 1 << 20);
  assert_true(risk_snapshot(r, &v1) > 0);
  risk_set_maintenance(r, true);
  assert_true(risk_maintenance(r));
  assert_true(risk_snapshot(r, &v2) > 0);
  const unsigned char *a = (const unsigned char *)v1.ptr,
                      *b = (const unsigned char *)v2.ptr;
  assert_memory_equal(a, "DRSK\1\0\0\0", 8);
  assert_memory_equal(b, "DRSK\2\0\0\0", 8);
  /* sizes and the global mode as before, then the byte, then the rest */
  assert_int_equal(v2.len, v1.len + 1);
  assert_memory_equal(a + 8, b + 8, 14);
  assert_int_equal(b[22], 1);
  assert_memory_equal(a + 22, b + 23, v1.len - 22);

  assert_int_equal(risk_restore_snapshot(t, v2.ptr, v2.len), 0);
  assert_true(risk_maintenance(t));
  assert_int_equal(risk_restore_snapshot(t, v1.ptr, v1.len), 0);
  assert_false(risk_maintenance(t));
  unsigned char *p = malloc(v2.len);
  assert_non_null(p);
  memcpy(p, b, v2.len);
  p[22] = 0;
  assert_int_equal(risk_restore_snapshot(t, p, v2.len), DTO_EINVAL);
  p[22] = 2;
  assert_int_equal(risk_restore_snapshot(t, p, v2.len), DTO_EINVAL);
  p[22] = 1;
  p[4] = 3;
  assert_int_equal(risk_restore_snapshot(t, p, v2.len), DTO_EINVAL);
  assert_false(risk_maintenance(t)); /* as it was */
  /* the flag is the gate's: an opening order refused, a reducing one not */
  order o;
  memset(&o, 0, sizeof o);
  o.side = SIDE_BUY;
  o.type = ORD_MARKET;
  o.qty = F("1");
  risk_input in;
  memset(&in, 0, sizeof in);
  in.ref_price = F("100");
  in.session = RISK_SESS_REGULAR;
  risk_decision d;
  assert_int_equal(risk_check(r, &o, &in, &d), RISK_MAINTENANCE);
  in.acct_pos = in.strat_pos = F("-3");
  assert_int_equal(risk_check(r, &o, &in, &d), RISK_OK);
  free(p);
  dbuf_release(&v1);
  dbuf_release(&v2);
  risk_free(t);
  risk_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cancel_order),
      cmocka_unit_test(test_cancel_protective_refused),
      cmocka_unit_test(test_cancel_all),
      cmocka_unit_test(test_flatten_strategy),
      cmocka_unit_test(test_flatten_scopes),
      cmocka_unit_test(test_pause_resume),
      cmocka_unit_test(test_pause_resume_refused),
      cmocka_unit_test(test_maintenance),
      cmocka_unit_test(test_maintenance_checkpoint),
      cmocka_unit_test(test_maintenance_snapshot_layout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
