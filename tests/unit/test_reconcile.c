/* test_reconcile.c - the books against the broker after a restart: never
 * "flat" on a failed answer, missing and unknown orders, positions. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "broker/broker.h"
#include "core/error.h"
#include "engine/engine.h"

#define F(s) fx_(s)
static fx fx_(const char *s) {
  fx v;
  assert_int_equal(fx_parse_cstr(s, &v), 0);
  return v;
}

typedef struct fake {
  int query_rc;      /* what open_orders returns */
  broker_open_order orders[4];
  size_t norders;
  broker_position pos[4];
  size_t npos;
  broker_fill fills[4];
  size_t nfills;
  dto_time asked_since;
  order_id canceled[8];
  size_t ncanceled;
  int submits;
  broker_report reps[4]; /* what poll hands out next */
  size_t nreps;
} fake;

static int f_submit(void *ctx, const order *o) {
  (void)o;
  ((fake *)ctx)->submits++;
  return 0;
}
static int f_cancel(void *ctx, order_id id) {
  fake *f = ctx;
  f->canceled[f->ncanceled++] = id;
  return 0;
}
static int f_replace(void *ctx, order_id id, const order *o) {
  (void)ctx, (void)id, (void)o;
  return 0;
}
static size_t f_poll(void *ctx, broker_report *out, size_t max) {
  fake *f = ctx;
  size_t n = f->nreps < max ? f->nreps : max;
  memcpy(out, f->reps, n * sizeof *out);
  f->nreps = 0;
  return n;
}
static int f_open(void *ctx, broker_open_order *out, size_t max, size_t *n) {
  fake *f = ctx;
  if (f->query_rc)
    return f->query_rc;
  for (size_t i = 0; i < f->norders && i < max; i++)
    out[i] = f->orders[i];
  *n = f->norders;
  return f->norders > max ? DTO_EFULL : 0;
}
static int f_pos(void *ctx, broker_position *out, size_t max, size_t *n) {
  fake *f = ctx;
  for (size_t i = 0; i < f->npos && i < max; i++)
    out[i] = f->pos[i];
  *n = f->npos;
  return 0;
}
static int f_fills(void *ctx, dto_time since, broker_fill *out, size_t max,
                   size_t *n) {
  fake *f = ctx;
  f->asked_since = since;
  for (size_t i = 0; i < f->nfills && i < max; i++)
    out[i] = f->fills[i];
  *n = f->nfills;
  return 0;
}

static const broker_ops with_queries = {.name = "fake",
                                        .submit = f_submit,
                                        .cancel = f_cancel,
                                        .replace = f_replace,
                                        .poll = f_poll,
                                        .open_orders = f_open,
                                        .positions = f_pos,
                                        .fills_since = f_fills};
static const broker_ops without_queries = {.name = "fake-mute",
                                           .submit = f_submit,
                                           .cancel = f_cancel,
                                           .replace = f_replace,
                                           .poll = f_poll};

typedef struct world {
  instrument_table ins;
  sim_clock sim;
  dto_clock clk;
  engine_account acct;
  engine *e;
  fake f;
  param_value pv[16];
} world;

static world *boot(const broker_ops *ops) {
  world *w = calloc(1, sizeof *w);
  instruments_init(&w->ins);
  instrument in;
  memset(&in, 0, sizeof in);
  snprintf(in.symbol, sizeof in.symbol, "AAA");
  in.tick = F("0.01");
  in.lot = F("1");
  snprintf(in.currency, sizeof in.currency, "USD");
  in.shortable = true; /* no calendar: always open */
  assert_int_equal(instruments_add(&w->ins, &in, NULL), 0);
  clock_sim_init(&w->clk, &w->sim, 1736173800LL * DTO_NS_PER_SEC);
  w->acct = (engine_account){"acct", F("100000")};
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &w->ins;
  ec.clock = &w->clk;
  ec.broker = ops;
  ec.broker_ctx = &w->f;
  ec.accounts = &w->acct;
  ec.naccounts = 1;
  w->e = engine_new(&ec);
  const strategy_def *def = strategy_find("ma_crossover");
  param_defaults(def->params, def->nparams, w->pv);
  sym_id sym = 0;
  engine_strategy es = {def, "s1", 0, &sym, 1, F("50000"), w->pv};
  assert_int_equal(engine_add_strategy(w->e, &es), 0);
  assert_int_equal(engine_start(w->e), 0);
  return w;
}

static void shut(world *w) {
  engine_free(w->e);
  instruments_release(&w->ins);
  free(w);
}

static broker_open_order bo(const char *cloid, const char *qty) {
  broker_open_order b;
  memset(&b, 0, sizeof b);
  snprintf(b.cloid, sizeof b.cloid, "%s", cloid);
  b.side = SIDE_BUY;
  b.type = ORD_LIMIT;
  b.tif = TIF_GTC;
  b.qty = F(qty);
  b.limit_price = F("9");
  return b;
}

/* A new order is refused by the engine's risk gate while unreconciled,
 * with that reason. */
static void assert_blocked(world *w, bool blocked) {
  uint64_t before = risk_refusals(engine_risk(w->e), RISK_UNRECONCILED);
  order t;
  memset(&t, 0, sizeof t);
  t.qty = F("1");
  t.type = ORD_LIMIT;
  t.limit_price = F("9");
  risk_input in;
  memset(&in, 0, sizeof in);
  in.session = RISK_SESS_REGULAR;
  in.ref_price = F("9");
  risk_decision d;
  enum risk_reason why = risk_check(engine_risk_mut(w->e), &t, &in, &d);
  assert_int_equal(why == RISK_UNRECONCILED, blocked);
  if (blocked)
    assert_int_equal(risk_refusals(engine_risk(w->e), RISK_UNRECONCILED),
                     before + 1);
}

static void test_mute_broker_is_not_flat(void **state) {
  (void)state;
  world *w = boot(&without_queries);
  reconcile_opts o = {true, 0, 0, NULL, NULL};
  reconcile_result r;
  assert_int_equal(engine_reconcile(w->e, &o, &r), DTO_EUNSUPPORTED);
  assert_true(risk_is_unreconciled(engine_risk(w->e)));
  assert_blocked(w, true);
  shut(w);
}

static void test_failed_answer_is_not_flat(void **state) {
  (void)state;
  world *w = boot(&with_queries);
  w->f.query_rc = DTO_EIO;
  reconcile_opts o = {true, 0, 0, NULL, NULL};
  reconcile_result r;
  assert_int_equal(engine_reconcile(w->e, &o, &r), DTO_EIO);
  assert_true(risk_is_unreconciled(engine_risk(w->e)));
  assert_blocked(w, true);
  /* the broker answers again: a new reconciliation clears it */
  w->f.query_rc = 0;
  assert_int_equal(engine_reconcile(w->e, &o, &r), 0);
  assert_false(risk_is_unreconciled(engine_risk(w->e)));
  assert_blocked(w, false);
  shut(w);
}

static void test_missing_and_unknown_orders(void **state) {
  (void)state;
  world *w = boot(&with_queries);
  /* we restored two working orders; the broker knows only the first, and
   * one more we never heard of */
  order t;
  memset(&t, 0, sizeof t);
  t.sym = 0;
  t.side = SIDE_BUY;
  t.type = ORD_LIMIT;
  t.tif = TIF_GTC;
  t.qty = F("10");
  t.limit_price = F("9");
  t.peer = ORDER_NONE;
  assert_int_equal(
      engine_restore_order(w->e, "acct", "s1", "acct-s1-20250106-1", &t), 0);
  assert_int_equal(
      engine_restore_order(w->e, "acct", "s1", "acct-s1-20250106-2", &t), 0);
  w->f.orders[0] = bo("acct-s1-20250106-1", "10");
  w->f.orders[1] = bo("acct-s1-20250106-9", "5");
  /* a nonsense answer (filled in full yet "open") is not adopted */
  w->f.orders[2] = bo("acct-s1-20250106-11", "5");
  w->f.orders[2].filled = F("5");
  w->f.norders = 3;
  reconcile_opts o = {true, 0, 0, NULL, NULL};
  reconcile_result r;
  assert_int_equal(engine_reconcile(w->e, &o, &r), 0);
  assert_int_equal(r.missing, 1);
  assert_int_equal(r.unknown, 2);
  assert_int_equal(r.adopted, 1);
  assert_int_equal(r.canceled, 1);
  const oms *m = engine_oms(w->e);
  assert_int_equal(oms_cget(m, 0)->state, OS_ACCEPTED);
  assert_int_equal(oms_cget(m, 1)->state, OS_CANCELED);
  assert_int_equal(oms_cget(m, 1)->reason, BRR_UNKNOWN_ORDER);
  /* the adopted order got id 2, and a cancel went to the broker for it */
  assert_string_equal(oms_cget(m, 2)->cloid, "acct-s1-20250106-9");
  assert_int_equal(w->f.ncanceled, 1);
  assert_int_equal(w->f.canceled[0], 2);
  assert_int_equal(oms_cget(m, 2)->state, OS_PENDING_CANCEL);
  assert_false(risk_is_unreconciled(engine_risk(w->e)));
  shut(w);
}

static void test_positions(void **state) {
  (void)state;
  world *w = boot(&with_queries);
  position p = {F("100"), F("1000"), 0, 0, -1};
  assert_int_equal(engine_restore_position(w->e, "acct", "", 0, &p), 0);
  reconcile_opts o = {true, F("0.5"), 0, NULL, NULL};
  reconcile_result r;
  /* the broker says flat: beyond the tolerance, no trading */
  assert_int_equal(engine_reconcile(w->e, &o, &r), DTO_ESTATE);
  assert_int_equal(r.pos_mismatch, 1);
  assert_blocked(w, true);
  /* the broker says 100.4: within 0.5 */
  w->f.pos[0] = (broker_position){0, F("100.4")};
  w->f.npos = 1;
  assert_int_equal(engine_reconcile(w->e, &o, &r), 0);
  assert_blocked(w, false);
  /* 100.6: beyond again */
  w->f.pos[0].qty = F("100.6");
  assert_int_equal(engine_reconcile(w->e, &o, &r), DTO_ESTATE);
  shut(w);
}

/* Restore a working GTC limit buy of 10 at limit under cloid. */
static void restore_buy(world *w, const char *cloid, const char *limit) {
  order t;
  memset(&t, 0, sizeof t);
  t.side = SIDE_BUY;
  t.type = ORD_LIMIT;
  t.tif = TIF_GTC;
  t.qty = F("10");
  t.limit_price = fx_(limit);
  t.peer = ORDER_NONE;
  assert_int_equal(engine_restore_order(w->e, "acct", "s1", cloid, &t), 0);
}

/* Fills the broker made while we were down are applied before anything
 * else: a partly filled order stays working with the right quantity, an
 * order filled in full is filled (not "missing"), positions then agree. */
static void test_missed_fills(void **state) {
  (void)state;
  world *w = boot(&with_queries);
  restore_buy(w, "acct-s1-20250106-1", "9");
  restore_buy(w, "acct-s1-20250106-2", "9");
  w->f.orders[0] = bo("acct-s1-20250106-1", "10");
  w->f.orders[0].filled = F("4");
  w->f.norders = 1; /* the second filled in full: no longer open */
  w->f.fills[0] = (broker_fill){"acct-s1-20250106-1", F("4"), F("9"), 5};
  w->f.fills[1] = (broker_fill){"acct-s1-20250106-2", F("10"), F("8.5"), 6};
  w->f.fills[2] = (broker_fill){"acct-x-20250106-7", F("1"), F("9"), 7};
  w->f.nfills = 3;
  w->f.pos[0] = (broker_position){0, F("14")};
  w->f.npos = 1;
  reconcile_opts o = {true, 0, 4, NULL, NULL};
  reconcile_result r;
  assert_int_equal(engine_reconcile(w->e, &o, &r), 0);
  assert_int_equal(w->f.asked_since, 4);
  assert_int_equal(r.fills_applied, 2);
  assert_int_equal(r.unknown_fills, 1);
  assert_int_equal(r.missing, 0);
  const oms *m = engine_oms(w->e);
  assert_int_equal(oms_cget(m, 0)->state, OS_PARTIALLY_FILLED);
  assert_int_equal(oms_cget(m, 0)->filled, F("4"));
  assert_int_equal(oms_cget(m, 1)->state, OS_FILLED);
  assert_int_equal(
      portfolio_account_pos(engine_portfolio(w->e), 0, 0)->qty, F("14"));
  /* 100000 - 4 x 9 - 10 x 8.5 */
  assert_int_equal(portfolio_account_cash(engine_portfolio(w->e), 0),
                   F("99879"));
  assert_false(risk_is_unreconciled(engine_risk(w->e)));
  shut(w);
}

/* The stream lost one fill of an order and delivered a later one out of
 * order: the broker lists A, B, C; the engine counted B only.  By hand:
 * A and C are applied, B is not counted twice, and the order's value is
 * 2 x 9.00 + 3 x 9.10 + 5 x 9.20 = 91.30.  Asking again changes nothing. */
static void test_fills_matched_per_order(void **state) {
  (void)state;
  world *w = boot(&with_queries);
  const char *cl = "acct-s1-20250106-1";
  restore_buy(w, cl, "9.5");
  w->f.reps[0] = (broker_report){REP_FILL, 0, ORDER_NONE, F("3"), F("9.1"),
                                 6, 0};
  w->f.nreps = 1;
  engine_poll_broker(w->e);
  const oms *m = engine_oms(w->e);
  assert_int_equal(oms_cget(m, 0)->filled, F("3"));
  w->f.fills[0] = (broker_fill){"", F("2"), F("9"), 5};
  w->f.fills[1] = (broker_fill){"", F("3"), F("9.1"), 6};
  w->f.fills[2] = (broker_fill){"", F("5"), F("9.2"), 7};
  for (int i = 0; i < 3; i++)
    snprintf(w->f.fills[i].cloid, sizeof w->f.fills[i].cloid, "%s", cl);
  w->f.nfills = 3;
  w->f.norders = 0; /* filled: no longer open */
  w->f.pos[0] = (broker_position){0, F("10")};
  w->f.npos = 1;
  reconcile_opts o = {true, 0, 4, NULL, NULL};
  reconcile_result r;
  for (int round = 0; round < 2; round++) {
    assert_int_equal(engine_reconcile(w->e, &o, &r), 0);
    assert_int_equal(r.fills_applied, round == 0 ? 2 : 0);
    assert_int_equal(r.missing, 0);
    assert_int_equal(oms_cget(m, 0)->state, OS_FILLED);
    assert_int_equal(oms_cget(m, 0)->filled, F("10"));
    assert_int_equal(oms_cget(m, 0)->notional, F("91.3"));
    assert_int_equal(portfolio_account_cash(engine_portfolio(w->e), 0),
                     F("99908.7"));
  }
  shut(w);
}

/* The engine counted a fill the broker does not list: nothing is guessed,
 * trading stays off until a person looks. */
static void test_fill_broker_lacks(void **state) {
  (void)state;
  world *w = boot(&with_queries);
  const char *cl = "acct-s1-20250106-1";
  restore_buy(w, cl, "9.5");
  w->f.reps[0] = (broker_report){REP_FILL, 0, ORDER_NONE, F("1"), F("7"), 6,
                                 0};
  w->f.nreps = 1;
  engine_poll_broker(w->e);
  w->f.fills[0] = (broker_fill){"", F("2"), F("9"), 5};
  snprintf(w->f.fills[0].cloid, sizeof w->f.fills[0].cloid, "%s", cl);
  w->f.nfills = 1;
  w->f.orders[0] = bo(cl, "10");
  w->f.orders[0].filled = F("2");
  w->f.norders = 1;
  w->f.pos[0] = (broker_position){0, F("2")};
  w->f.npos = 1;
  reconcile_opts o = {true, 0, 4, NULL, NULL};
  reconcile_result r;
  assert_int_equal(engine_reconcile(w->e, &o, &r), DTO_ESTATE);
  assert_int_equal(r.fills_applied, 0);
  assert_int_equal(engine_oms(w->e) ? oms_cget(engine_oms(w->e), 0)->filled
                                    : 0,
                   F("1"));
  assert_true(risk_is_unreconciled(engine_risk(w->e)));
  shut(w);
}

/* engine_warm_bar: history reaches the strategies but makes no order.
 * ma_crossover with fast 1, slow 3 on closes 12 11 10 then 13 crosses up
 * at 13 (its own header's example): warmed on the first three, the live 13
 * buys at once; cold, 13 is its first bar and nothing can happen; a cross
 * inside the history makes no order. */
static size_t warm_then_live(const char *const *warm, size_t nw,
                             const char *live) {
  world *w = boot(&with_queries);
  const strategy_def *def = strategy_find("ma_crossover");
  char why[128];
  size_t k = param_find(def->params, def->nparams, "fast");
  assert_int_equal(param_parse(&def->params[k], "1", &w->pv[k], why,
                               sizeof why),
                   0);
  k = param_find(def->params, def->nparams, "slow");
  assert_int_equal(param_parse(&def->params[k], "3", &w->pv[k], why,
                               sizeof why),
                   0);
  /* a second engine with these parameters (boot's took the defaults) */
  engine_free(w->e);
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &w->ins;
  ec.clock = &w->clk;
  ec.broker = &with_queries;
  ec.broker_ctx = &w->f;
  ec.accounts = &w->acct;
  ec.naccounts = 1;
  w->e = engine_new(&ec);
  sym_id sym = 0;
  engine_strategy es = {def, "s1", 0, &sym, 1, F("50000"), w->pv};
  assert_int_equal(engine_add_strategy(w->e, &es), 0);
  assert_int_equal(engine_start(w->e), 0);
  dto_time t = 1736173800LL * DTO_NS_PER_SEC;
  for (size_t i = 0; i <= nw; i++) {
    const char *c = i < nw ? warm[i] : live;
    if (!c)
      break;
    bar b = {t, 60 * DTO_NS_PER_SEC, fx_(c), fx_(c), fx_(c), fx_(c),
             F("1000"), 0};
    sim_clock_set(&w->sim, t + 60 * DTO_NS_PER_SEC);
    if (i < nw)
      engine_warm_bar(w->e, &b);
    else
      engine_on_bar(w->e, &b);
    t += 60 * DTO_NS_PER_SEC;
  }
  size_t n = oms_count(engine_oms(w->e));
  if (n)
    assert_int_equal(oms_cget(engine_oms(w->e), 0)->side, SIDE_BUY);
  shut(w);
  return n;
}

static void test_warm_bars_make_no_orders(void **state) {
  (void)state;
  static const char *const h3[] = {"12", "11", "10"};
  static const char *const h4[] = {"12", "11", "10", "13"};
  assert_int_equal(warm_then_live(h3, 3, "13"), 1);   /* warmed: it buys */
  assert_int_equal(warm_then_live(NULL, 0, "13"), 0); /* cold: too early */
  assert_int_equal(warm_then_live(h4, 4, NULL), 0);   /* history: no order */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mute_broker_is_not_flat),
      cmocka_unit_test(test_failed_answer_is_not_flat),
      cmocka_unit_test(test_missing_and_unknown_orders),
      cmocka_unit_test(test_positions),
      cmocka_unit_test(test_missed_fills),
      cmocka_unit_test(test_fills_matched_per_order),
      cmocka_unit_test(test_fill_broker_lacks),
      cmocka_unit_test(test_warm_bars_make_no_orders),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
