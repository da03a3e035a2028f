/* test_reports.c - broker reports are outside input (engine_reports.c).
 *
 * Every kind of bad report, one at a time, against a fake broker whose
 * reports the test writes: the report is refused before anything changes
 * (the order, byte for byte; positions, cash, the fill count), it is
 * logged with its fields, an alert (broker_report_invalid) is raised and
 * the instrument is halted: opening orders in it are refused
 * (instrument_halted), reducing orders and protective exits pass, other
 * instruments trade on, and only a person clears the halt.  Reports that
 * only repeat what is known are ignored without a halt, fills reported
 * after a cancel count, and a broker that never stops reporting does not
 * abort the process. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "engine/engine.h"

#define Q(n) ((fx)(n)*FX_ONE)

typedef struct world {
  instrument_table ins;
  sim_clock sim;
  dto_clock clock;
  engine *e;
  engine_account acct;
  strat *s;
  broker_report q[64];
  size_t nq;
  bool flood; /* poll never ends */
  int submits;
  dto_log log;
  FILE *logf;
  char codes[32][48]; /* alert codes, in order */
  size_t nalerts;
  char last_msg[512];
} world;

static int fk_submit(void *ctx, const order *o) {
  (void)o;
  ((world *)ctx)->submits++;
  return 0;
}
static int fk_cancel(void *ctx, order_id id) {
  (void)ctx;
  (void)id;
  return 0;
}
static int fk_replace(void *ctx, order_id old_id, const order *nw) {
  (void)ctx;
  (void)old_id;
  (void)nw;
  return 0;
}
static size_t fk_poll(void *ctx, broker_report *out, size_t max) {
  world *w = ctx;
  if (w->flood && max > 0) { /* the same stale acknowledgement, forever */
    out[0] = (broker_report){REP_ACCEPTED, 0, ORDER_NONE, 0, 0, 0, 0};
    return 1;
  }
  size_t n = w->nq < max ? w->nq : max;
  memcpy(out, w->q, n * sizeof *out);
  memmove(w->q, w->q + n, (w->nq - n) * sizeof *w->q);
  w->nq -= n;
  return n;
}
static const broker_ops fake_ops = {
    .name = "fake",
    .submit = fk_submit,
    .cancel = fk_cancel,
    .replace = fk_replace,
    .poll = fk_poll,
};

static void hook_alert(void *ctx, const char *code, int scope, uint32_t index,
                       const char *msg) {
  world *w = ctx;
  (void)scope;
  (void)index;
  assert_true(w->nalerts < DTO_ARRAY_LEN(w->codes));
  snprintf(w->codes[w->nalerts++], sizeof w->codes[0], "%s", code);
  snprintf(w->last_msg, sizeof w->last_msg, "%s", msg);
}

static int ts_on_start(strat *s, void *st) {
  (void)st;
  world *w = (world *)(intptr_t)strat_param(s, 0)->u.i;
  w->s = s;
  return 0;
}
static const param_spec world_params[] = {
    {"world", PARAM_INT, "0", 0, 0, NULL, "the test's world (a pointer)"},
};
static const strategy_def test_def = {
    .name = "reporttest",
    .summary = "trades what the test says",
    .params = world_params,
    .nparams = 1,
    .state_size = 8,
    .sym_state_size = 8,
    .on_start = ts_on_start,
};

static world *boot(fx cash, const fee_schedule *fees) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  instruments_init(&w->ins);
  const char *syms[] = {"TEST", "OTHER"};
  for (int i = 0; i < 2; i++) {
    instrument in;
    memset(&in, 0, sizeof in);
    snprintf(in.symbol, sizeof in.symbol, "%s", syms[i]);
    in.asset_class = ASSET_EQUITY;
    in.tick = FX_ONE / 100;
    in.lot = FX_ONE;
    snprintf(in.currency, sizeof in.currency, "%s", "USD");
    in.shortable = true;
    assert_int_equal(instruments_add(&w->ins, &in, NULL), 0);
  }
  dto_time t0 =
      days_from_civil(2025, 1, 6) * DTO_NS_PER_DAY + 15 * DTO_NS_PER_HOUR;
  clock_sim_init(&w->clock, &w->sim, t0);
  w->logf = tmpfile();
  assert_non_null(w->logf);
  log_init(&w->log, w->logf, &w->clock, LOG_DEBUG);
  w->acct = (engine_account){"acc", cash};
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &w->ins;
  ec.clock = &w->clock;
  ec.log = &w->log;
  ec.broker = &fake_ops;
  ec.broker_ctx = w;
  if (fees)
    ec.fees = *fees;
  ec.accounts = &w->acct;
  ec.naccounts = 1;
  ec.hooks = (engine_hooks){w, NULL, NULL, NULL, NULL, hook_alert};
  w->e = engine_new(&ec);
  param_value pv;
  memset(&pv, 0, sizeof pv);
  pv.u.i = (int64_t)(intptr_t)w;
  sym_id mine[2] = {0, 1};
  engine_strategy es = {&test_def, "strat", 0, mine, 2, cash, &pv};
  assert_int_equal(engine_add_strategy(w->e, &es), 0);
  assert_int_equal(engine_start(w->e), 0);
  for (sym_id y = 0; y < 2; y++) { /* reference prices */
    trade tr = {t0, Q(10), Q(1), y};
    engine_on_trade(w->e, &tr);
  }
  return w;
}

static void shutdown(world *w) {
  engine_free(w->e);
  log_close(&w->log);
  fclose(w->logf);
  instruments_release(&w->ins);
  free(w);
}

/* The log so far, as text (static buffer). */
static const char *logtext(world *w) {
  static char buf[1 << 16];
  log_flush(&w->log);
  fflush(w->logf);
  long end = ftell(w->logf);
  rewind(w->logf);
  size_t n = fread(buf, 1, sizeof buf - 1, w->logf);
  buf[n] = '\0';
  fseek(w->logf, end, SEEK_SET);
  return buf;
}

static void push(world *w, enum report_kind k, order_id id, fx qty, fx px) {
  assert_true(w->nq < DTO_ARRAY_LEN(w->q));
  w->q[w->nq++] =
      (broker_report){k, id, ORDER_NONE, qty, px, clock_now(&w->clock), 0};
}

static order_id submit(world *w, sym_id sym, enum order_side side, fx qty,
                       fx tp, fx sl) {
  order_req r;
  memset(&r, 0, sizeof r);
  r.sym = sym;
  r.side = side;
  r.type = ORD_LIMIT;
  r.tif = TIF_DAY;
  r.qty = qty;
  r.limit_price = Q(10);
  r.take_profit = tp;
  r.stop_loss = sl;
  order_id id = ORDER_NONE;
  int rc = strat_submit(w->s, &r, &id);
  return rc == 0 ? id : ORDER_NONE;
}

/* A working order of qty in TEST, acknowledged. */
static order_id working(world *w, enum order_side side, fx qty) {
  order_id id = submit(w, 0, side, qty, 0, 0);
  assert_int_not_equal(id, ORDER_NONE);
  push(w, REP_ACCEPTED, id, 0, 0);
  engine_pump(w->e);
  assert_int_equal(oms_cget(engine_oms(w->e), id)->state, OS_ACCEPTED);
  return id;
}

static bool alerted(const world *w, const char *code) {
  for (size_t i = 0; i < w->nalerts; i++)
    if (!strcmp(w->codes[i], code))
      return true;
  return false;
}

/* The books before a report, to compare after it. */
typedef struct books {
  order o;
  bool have;
  position pos;
  fx cash;
  uint64_t fills;
} books;

static void books_of(world *w, order_id id, books *b) {
  memset(b, 0, sizeof *b);
  const order *o = oms_cget(engine_oms(w->e), id);
  if (o) {
    memcpy(&b->o, o, sizeof *o);
    b->have = true;
  }
  const portfolio *pf = engine_portfolio(w->e);
  b->pos = *portfolio_account_pos(pf, 0, 0);
  b->cash = portfolio_account_cash(pf, 0);
  b->fills = engine_fill_count(w->e);
}

/* Report r about id is refused: nothing changed, logged with its fields
 * and why, alerted, TEST halted (when the order is known). */
static void expect_refused(world *w, order_id id, const broker_report *r,
                           const char *why, int line) {
  books before, after;
  books_of(w, id, &before);
  size_t alerts = w->nalerts;
  w->q[w->nq++] = *r;
  engine_pump(w->e);
  books_of(w, id, &after);
  if (before.have != after.have ||
      (before.have && memcmp(&before.o, &after.o, sizeof before.o)) ||
      memcmp(&before.pos, &after.pos, sizeof before.pos) ||
      before.cash != after.cash || before.fills != after.fills)
    fail_msg("line %d: the refused report changed the books", line);
  if (w->nalerts != alerts + 1 ||
      strcmp(w->codes[alerts], "broker_report_invalid"))
    fail_msg("line %d: no broker_report_invalid alert", line);
  const char *log = logtext(w);
  const char *at = strstr(log, "\"event\":\"broker.report_invalid\"");
  const char *last = at;
  while (at && (at = strstr(at + 1, "\"event\":\"broker.report_invalid\"")))
    last = at;
  if (!last || !strstr(last, why))
    fail_msg("line %d: the log does not say '%s'", line, why);
  char kind[64];
  snprintf(kind, sizeof kind, "\"kind\":\"%s\"", report_kind_name(r->kind));
  if (!strstr(last, kind) || !strstr(last, "\"qty\":") ||
      !strstr(last, "\"price\":"))
    fail_msg("line %d: the log line lacks the report's fields", line);
  if (before.have && !engine_instrument_halted(w->e, before.o.sym))
    fail_msg("line %d: the instrument is not halted", line);
}
#define REFUSED(w, id, r, why) expect_refused(w, id, r, why, __LINE__)

static broker_report rep(world *w, enum report_kind k, order_id id, fx qty,
                         fx px) {
  return (broker_report){k, id, ORDER_NONE, qty, px, clock_now(&w->clock), 0};
}

/* ---- fills --------------------------------------------------------------- */

static void test_bad_fills(void **state) {
  (void)state;
  world *w = boot(Q(1000000), NULL);
  order_id id = working(w, SIDE_BUY, Q(100));
  broker_report r;
  r = rep(w, REP_FILL, id, 0, Q(10));
  REFUSED(w, id, &r, "not positive");
  engine_halt_instrument(w->e, 0, false, "test");
  r = rep(w, REP_FILL, id, -Q(5), Q(10));
  REFUSED(w, id, &r, "not positive");
  engine_halt_instrument(w->e, 0, false, "test");
  /* an overfill is refused, not cut to the leaves */
  r = rep(w, REP_FILL, id, Q(101), Q(10));
  REFUSED(w, id, &r, "overfill");
  engine_halt_instrument(w->e, 0, false, "test");
  /* a fill at price 0 neither fills the order nor leaves the position
   * behind */
  r = rep(w, REP_FILL, id, Q(10), 0);
  REFUSED(w, id, &r, "price is not positive");
  engine_halt_instrument(w->e, 0, false, "test");
  r = rep(w, REP_FILL, id, Q(10), -Q(1));
  REFUSED(w, id, &r, "price is not positive");
  engine_halt_instrument(w->e, 0, false, "test");
  r = rep(w, REP_FILL, id, FX_ONE / 2, Q(10));
  REFUSED(w, id, &r, "lot");
  engine_halt_instrument(w->e, 0, false, "test");
  /* quantity x price beyond fx: refused, the process goes on */
  r = rep(w, REP_FILL, id, Q(100), Q(1000000000));
  REFUSED(w, id, &r, "quantity x price does not fit");
  engine_halt_instrument(w->e, 0, false, "test");
  /* a valid fill still works afterwards */
  push(w, REP_FILL, id, Q(40), Q(10));
  engine_pump(w->e);
  const order *o = oms_cget(engine_oms(w->e), id);
  assert_int_equal(o->state, OS_PARTIALLY_FILLED);
  assert_true(o->filled == Q(40));
  assert_true(portfolio_account_pos(engine_portfolio(w->e), 0, 0)->qty ==
              Q(40));
  /* a repeated final fill is an overfill */
  push(w, REP_FILL, id, Q(60), Q(10));
  engine_pump(w->e);
  assert_int_equal(oms_cget(engine_oms(w->e), id)->state, OS_FILLED);
  r = rep(w, REP_FILL, id, Q(60), Q(10));
  REFUSED(w, id, &r, "already filled");
  shutdown(w);
}

/* The order's value and fee sums, the fee and the books' sums must fit. */
static void test_sums_overflow(void **state) {
  (void)state;
  world *w = boot(Q(1000000), NULL);
  /* two fills that each fit; their value sum does not */
  order_id id = working(w, SIDE_BUY, Q(2000000));
  push(w, REP_FILL, id, Q(1000000), Q(50000)); /* 5e10 */
  engine_pump(w->e);
  assert_true(oms_cget(engine_oms(w->e), id)->filled == Q(1000000));
  broker_report r = rep(w, REP_FILL, id, Q(1000000), Q(50000));
  REFUSED(w, id, &r, "filled value would not fit");
  shutdown(w);

  /* a fee beyond fx */
  fee_schedule f;
  memset(&f, 0, sizeof f);
  f.per_share = Q(1000000);
  w = boot(Q(1000000), &f);
  id = working(w, SIDE_BUY, Q(1000000));
  r = rep(w, REP_FILL, id, Q(1000000), Q(1));
  REFUSED(w, id, &r, "fee does not fit");
  shutdown(w);

  /* cash beyond fx: the books refuse, so does the engine */
  w = boot(FX_MAX - Q(5), NULL);
  id = working(w, SIDE_SELL, Q(10));
  r = rep(w, REP_FILL, id, Q(10), Q(10));
  REFUSED(w, id, &r, "position or cash would not fit");
  shutdown(w);
}

/* ---- report kinds and states --------------------------------------------- */

static void test_illegal_kinds(void **state) {
  (void)state;
  world *w = boot(Q(1000000), NULL);
  broker_report r;
  /* an order dto does not know: refused and alerted; no instrument known */
  r = rep(w, REP_FILL, 4242, Q(1), Q(10));
  REFUSED(w, 4242, &r, "does not know");
  assert_false(engine_instrument_halted(w->e, 0));
  assert_false(engine_instrument_halted(w->e, 1));

  /* taken, then refused before any fill (Alpaca: accepted, rejected):
   * applied; after a fill it is a contradiction */
  order_id a = working(w, SIDE_BUY, Q(10));
  push(w, REP_REJECTED, a, 0, 0);
  engine_pump(w->e);
  assert_int_equal(oms_cget(engine_oms(w->e), a)->state, OS_REJECTED);
  order_id id = working(w, SIDE_BUY, Q(10));
  push(w, REP_FILL, id, Q(1), Q(10));
  engine_pump(w->e);
  r = rep(w, REP_REJECTED, id, 0, 0);
  REFUSED(w, id, &r, "rejected after the broker had taken it");
  engine_halt_instrument(w->e, 0, false, "test");
  r = rep(w, REP_REPLACED, id, 0, 0);
  REFUSED(w, id, &r, "no replace was asked");
  engine_halt_instrument(w->e, 0, false, "test");
  r = rep(w, (enum report_kind)99, id, 0, 0);
  REFUSED(w, id, &r, "unknown report kind");
  engine_halt_instrument(w->e, 0, false, "test");
  /* a replace answered with an order dto did not send */
  order_id nid = ORDER_NONE;
  assert_int_equal(strat_replace(w->s, id, 0, Q(9), 0, &nid), 0);
  r = rep(w, REP_REPLACED, id, 0, 0);
  r.new_id = nid + 7;
  REFUSED(w, id, &r, "another order");
  engine_halt_instrument(w->e, 0, false, "test");
  /* filled, then canceled: contradictory */
  order_id f = working(w, SIDE_BUY, Q(5));
  push(w, REP_FILL, f, Q(5), Q(10));
  engine_pump(w->e);
  r = rep(w, REP_CANCELED, f, 0, 0);
  REFUSED(w, f, &r, "canceled after the order had ended");
  engine_halt_instrument(w->e, 0, false, "test");
  r = rep(w, REP_EXPIRED, f, 0, 0);
  REFUSED(w, f, &r, "expired after the order had ended");
  engine_halt_instrument(w->e, 0, false, "test");
  /* a fill for an order the broker rejected */
  order_id j = submit(w, 0, SIDE_BUY, Q(5), 0, 0);
  push(w, REP_REJECTED, j, 0, 0);
  engine_pump(w->e);
  assert_int_equal(oms_cget(engine_oms(w->e), j)->state, OS_REJECTED);
  r = rep(w, REP_FILL, j, Q(5), Q(10));
  REFUSED(w, j, &r, "rejected");
  shutdown(w);
}

/* Repeats are ignored without a halt; late fills count. */
static void test_repeats_and_late_fills(void **state) {
  (void)state;
  world *w = boot(Q(1000000), NULL);
  order_id id = working(w, SIDE_BUY, Q(10));
  push(w, REP_FILL, id, Q(10), Q(10));
  push(w, REP_ACCEPTED, id, 0, 0); /* a late acknowledgement */
  order_id c = working(w, SIDE_BUY, Q(10));
  assert_int_equal(strat_cancel(w->s, c), 0);
  push(w, REP_CANCELED, c, 0, 0);
  push(w, REP_CANCELED, c, 0, 0); /* twice */
  push(w, REP_CANCEL_REJECT, id, 0, 0);
  engine_pump(w->e);
  assert_false(alerted(w, "broker_report_invalid"));
  assert_false(engine_instrument_halted(w->e, 0));
  assert_int_equal(oms_cget(engine_oms(w->e), c)->state, OS_CANCELED);
  /* a fill reported after the cancel confirmation */
  push(w, REP_FILL, c, Q(4), Q(10));
  engine_pump(w->e);
  assert_false(alerted(w, "broker_report_invalid"));
  assert_int_equal(oms_cget(engine_oms(w->e), c)->state, OS_CANCELED);
  assert_true(oms_cget(engine_oms(w->e), c)->filled == Q(4));
  assert_true(portfolio_account_pos(engine_portfolio(w->e), 0, 0)->qty ==
              Q(14));
  assert_int_equal(engine_fill_count(w->e), 2);
  shutdown(w);
}

/* ---- the halt ------------------------------------------------------------ */

static void test_halted_instrument(void **state) {
  (void)state;
  world *w = boot(Q(1000000), NULL);
  order_id entry = submit(w, 0, SIDE_BUY, Q(10), Q(11), Q(9));
  assert_int_not_equal(entry, ORDER_NONE);
  push(w, REP_ACCEPTED, entry, 0, 0);
  push(w, REP_FILL, entry, Q(6), Q(10));
  engine_pump(w->e);
  int submits = w->submits; /* the entry and a pair of exits */
  assert_int_equal(submits, 3);
  broker_report r = rep(w, REP_FILL, entry, Q(5), Q(10)); /* overfill */
  REFUSED(w, entry, &r, "overfill");
  assert_true(alerted(w, "broker_report_invalid"));
  assert_non_null(strstr(w->last_msg, "TEST is halted"));
  /* opening orders in TEST are refused, with their reason */
  assert_int_equal(submit(w, 0, SIDE_BUY, Q(1), 0, 0), ORDER_NONE);
  const oms *m = engine_oms(w->e);
  const order *last = oms_cget(m, (order_id)oms_count(m) - 1);
  assert_int_equal(last->risk, RISK_INSTRUMENT_HALTED);
  assert_int_equal(submit(w, 0, SIDE_SELL, Q(10), 0, 0), ORDER_NONE);
  /* the same entry's last fill still gets exits: protection passes */
  push(w, REP_FILL, entry, Q(4), Q(10));
  engine_pump(w->e);
  assert_int_equal(w->submits, submits + 2);
  /* a reducing order passes (the exits are canceled first: a flatten) */
  assert_int_equal(strat_flatten(w->s, 0), 0);
  last = oms_cget(m, (order_id)oms_count(m) - 1);
  assert_int_equal(last->state, OS_PENDING_NEW);
  assert_true(last->side == SIDE_SELL && last->qty == Q(10));
  /* another instrument trades on */
  assert_int_not_equal(submit(w, 1, SIDE_BUY, Q(1), 0, 0), ORDER_NONE);
  /* a person clears it */
  assert_int_equal(engine_halt_instrument(w->e, 0, false, "person"), 0);
  assert_true(alerted(w, "instrument_released"));
  assert_false(engine_instrument_halted(w->e, 0));
  assert_int_not_equal(submit(w, 0, SIDE_BUY, Q(1), 0, 0), ORDER_NONE);
  assert_int_equal(engine_halt_instrument(w->e, 5, true, "x"), DTO_EINVAL);
  assert_int_equal(engine_halt_instrument(w->e, 1, true, "person"), 0);
  assert_true(engine_instrument_halted(w->e, 1));
  assert_true(alerted(w, "instrument_halted"));
  shutdown(w);
}

/* A broker that never stops reporting: an alert, no abort. */
static void test_report_flood(void **state) {
  (void)state;
  world *w = boot(Q(1000000), NULL);
  order_id id = working(w, SIDE_BUY, Q(10));
  assert_int_equal(id, 0); /* the flood acknowledges order 0 */
  w->flood = true;
  engine_pump(w->e);
  assert_true(alerted(w, "broker_report_flood"));
  w->flood = false;
  engine_pump(w->e);
  assert_int_equal(oms_cget(engine_oms(w->e), id)->state, OS_ACCEPTED);
  shutdown(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_fills),
      cmocka_unit_test(test_sums_overflow),
      cmocka_unit_test(test_illegal_kinds),
      cmocka_unit_test(test_repeats_and_late_fills),
      cmocka_unit_test(test_halted_instrument),
      cmocka_unit_test(test_report_flood),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
