/* test_engine.c - the engine's order flow end to end: a scripted test
 * strategy, the paper broker (or a fake one), the OMS, risk and the
 * portfolio.  Bars are driven the way engine.h documents:
 *   clock := bar.ts; engine_on_time; engine_broker_bar;
 *   clock := bar_end(bar); engine_on_bar.
 * All bars are 1-minute bars of Monday 2025-01-06 from 14:30Z (09:30 New
 * York, the regular open); the paper exchange fills at the next bar's open
 * unless a test says otherwise.  Fees: 0.005 per share + 1 per order,
 * minimum 1. */
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

#define assert_fx(got, text)                                                   \
  do {                                                                         \
    fx got_ = (got), want_ = F(text);                                          \
    if (got_ != want_) {                                                       \
      char gb_[FX_STRLEN];                                                     \
      fx_format(got_, gb_, sizeof gb_);                                        \
      fail_msg("%s is %s, want %s", #got, gb_, text);                          \
    }                                                                          \
  } while (0)

static dto_time UD(int dd, int h, int mi, int sec) {
  return (days_from_civil(2025, 1, 6) + dd) * DTO_NS_PER_DAY +
         h * DTO_NS_PER_HOUR + mi * DTO_NS_PER_MIN + sec * DTO_NS_PER_SEC;
}
/* The start of bar k (from 1): 14:30Z + k - 1 minutes. */
static dto_time BT(int k) { return UD(0, 14, 29 + k, 0); }

/* ---- the scripted strategy ---------------------------------------------- */

typedef struct script script;
typedef void (*step_fn)(strat *s, script *sc, const bar *b);

struct script {
  step_fn step;
  int bar;          /* the bar on_bar is showing, from 1 */
  int rc[24];       /* return codes the steps saw */
  order_id id[24];  /* order ids they got */
  int notified[64]; /* on_order calls per order id */
  int timer_bar;    /* bar count when on_timer ran */
  uint64_t timer_tag;
  bool stopped;
  fx pos, avg, cash, equity; /* strategy queries, read by a step */
  size_t open, open_all;
  strat *s; /* the strategy handle, from its first bar on */
};

/* The test hands the strategy its script through an integer parameter
 * holding a pointer: the engine copies parameters and nothing else. */
static const param_spec script_params[] = {
    {"script", PARAM_INT, "0", 0, 0, NULL, "the test's script (a pointer)"},
};

static script *S(const strat *s) {
  return (script *)(intptr_t)strat_param(s, 0)->u.i;
}

static void sc_on_bar(strat *s, void *st, void *ss, const bar *b) {
  (void)st;
  (void)ss;
  script *sc = S(s);
  sc->s = s;
  sc->bar++;
  if (sc->step)
    sc->step(s, sc, b);
}

static void sc_on_order(strat *s, void *st, const order *o) {
  (void)st;
  script *sc = S(s);
  if (o->id < DTO_ARRAY_LEN(sc->notified))
    sc->notified[o->id]++;
}

static void sc_on_timer(strat *s, void *st, uint64_t tag) {
  (void)st;
  script *sc = S(s);
  sc->timer_bar = sc->bar;
  sc->timer_tag = tag;
}

static void sc_on_stop(strat *s, void *st) {
  (void)st;
  S(s)->stopped = true;
}

static const strategy_def script_def = {
    .name = "script",
    .summary = "follows the test's script",
    .params = script_params,
    .nparams = 1,
    .state_size = 8,
    .sym_state_size = 8,
    .on_bar = sc_on_bar,
    .on_order = sc_on_order,
    .on_timer = sc_on_timer,
    .on_stop = sc_on_stop,
};

static order_req req(enum order_side side, enum order_type type, enum tif tif,
                     const char *qty, const char *limit) {
  order_req r;
  memset(&r, 0, sizeof r);
  r.sym = 0;
  r.side = side;
  r.type = type;
  r.tif = tif;
  r.qty = F(qty);
  r.limit_price = limit ? F(limit) : 0;
  return r;
}

/* ---- the world: instruments, clock, broker, engine, recorders ------------ */

typedef struct trans {
  order_id id;
  enum order_state from, to;
  bool legal;
  dto_time t; /* o->updated after the call */
  /* the order's fields after the call: amendments (from == to) change
   * these, and the observer must see them */
  fx qty, filled, tp, sl;
  order_id peer, replaced_by;
} trans;

typedef struct fillrec {
  order_id id;
  fx qty, price, fee;
  dto_time t;
} fillrec;

/* A broker whose reports the test writes by hand. */
typedef struct fake {
  broker_report q[32];
  size_t n;
  int submits, cancels, replaces;
  int fail_submit;
} fake;

typedef struct world {
  instrument_table ins;
  sim_clock sim;
  dto_clock clock;
  matcher *m;
  fake fk;
  engine *e;
  engine_account acct;
  trans tr[256];
  size_t ntr;
  fillrec fills[64];
  size_t nfills;
  script sc;
  char alerts[32][48]; /* alert codes, in order */
  size_t nalerts;
  char last_alert[512];
} world;

static void hook_alert(void *ctx, const char *code, int scope, uint32_t index,
                       const char *msg) {
  world *w = ctx;
  (void)scope;
  (void)index;
  assert_true(w->nalerts < DTO_ARRAY_LEN(w->alerts));
  snprintf(w->alerts[w->nalerts++], sizeof w->alerts[0], "%s", code);
  snprintf(w->last_alert, sizeof w->last_alert, "%s", msg);
}

static size_t count_alerts(const world *w, const char *code) {
  size_t n = 0;
  for (size_t i = 0; i < w->nalerts; i++)
    n += !strcmp(w->alerts[i], code);
  return n;
}

static void hook_changed(void *ctx, const order *o, enum order_state from,
                         enum order_state to, bool legal) {
  world *w = ctx;
  assert_true(w->ntr < DTO_ARRAY_LEN(w->tr));
  w->tr[w->ntr++] = (trans){o->id,        from,      to,
                            legal,        o->updated, o->qty,
                            o->filled,    o->tp_price, o->sl_price,
                            o->peer,      o->replaced_by};
}


static void hook_fill(void *ctx, const order *o, fx qty, fx price, fx fee,
                      dto_time t) {
  world *w = ctx;
  assert_true(w->nfills < DTO_ARRAY_LEN(w->fills));
  w->fills[w->nfills++] = (fillrec){o->id, qty, price, fee, t};
}

static int fk_submit(void *ctx, const order *o) {
  fake *f = ctx;
  (void)o;
  f->submits++;
  return f->fail_submit ? DTO_EIO : 0;
}
static int fk_cancel(void *ctx, order_id id) {
  (void)id;
  ((fake *)ctx)->cancels++;
  return 0;
}
static int fk_replace(void *ctx, order_id old_id, const order *nw) {
  (void)old_id;
  (void)nw;
  ((fake *)ctx)->replaces++;
  return 0;
}
static size_t fk_poll(void *ctx, broker_report *out, size_t max) {
  fake *f = ctx;
  size_t n = f->n < max ? f->n : max;
  memcpy(out, f->q, n * sizeof *out);
  memmove(f->q, f->q + n, (f->n - n) * sizeof *f->q);
  f->n -= n;
  return n;
}
static const broker_ops fake_ops = {
    .name = "fake",
    .submit = fk_submit,
    .cancel = fk_cancel,
    .replace = fk_replace,
    .poll = fk_poll,
};

static void fk_push(world *w, enum report_kind k, order_id id, const char *qty,
                    const char *px, dto_time ts, int reason) {
  assert_true(w->fk.n < DTO_ARRAY_LEN(w->fk.q));
  w->fk.q[w->fk.n++] = (broker_report){
      k, id, ORDER_NONE, qty ? F(qty) : 0, px ? F(px) : 0, ts, reason};
}

/* mc NULL: the fake broker; rc NULL: every risk limit off. */
static world *boot_rc(const match_config *mc, step_fn step,
                      const risk_config *rc) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  instruments_init(&w->ins);
  const char *syms[] = {"TEST", "OTHER"};
  for (int i = 0; i < 2; i++) {
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
  clock_sim_init(&w->clock, &w->sim, UD(0, 9, 0, 0));
  w->acct = (engine_account){"ACC", 100000 * FX_ONE};
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &w->ins;
  ec.clock = &w->clock;
  ec.log = NULL;
  if (mc) {
    w->m = matcher_new(mc, &w->ins, &w->clock);
    ec.broker = &paper_broker_ops;
    ec.broker_ctx = paper_ctx(w->m);
  } else {
    ec.broker = &fake_ops;
    ec.broker_ctx = &w->fk;
  }
  ec.fees.per_share = F("0.005");
  ec.fees.per_order = F("1");
  ec.fees.min_per_order = F("1");
  ec.accounts = &w->acct;
  ec.naccounts = 1;
  ec.hooks =
      (engine_hooks){w, hook_changed, hook_fill, NULL, NULL, hook_alert};
  ec.risk = rc;
  w->e = engine_new(&ec);
  w->sc.step = step;
  param_value pv;
  memset(&pv, 0, sizeof pv);
  pv.u.i = (int64_t)(intptr_t)&w->sc;
  sym_id mine[1] = {0};
  engine_strategy es = {&script_def, "strat", 0, mine, 1, 100000 * FX_ONE, &pv};
  assert_int_equal(engine_add_strategy(w->e, &es), 0);
  assert_int_equal(engine_start(w->e), 0);
  return w;
}

static world *boot(const match_config *mc, step_fn step) {
  return boot_rc(mc, step, NULL);
}

static void shutdown(world *w) {
  engine_free(w->e);
  matcher_free(w->m);
  instruments_release(&w->ins);
  free(w);
}

typedef struct ohlc {
  const char *o, *h, *l, *c;
} ohlc;

/* The default path: up 5 cents a bar, range +-10 to 15 cents. */
static const ohlc path[] = {
    {"10.00", "10.10", "9.90", "10.05"},  {"10.05", "10.20", "10.00", "10.15"},
    {"10.20", "10.30", "10.10", "10.25"}, {"10.25", "10.40", "10.20", "10.35"},
    {"10.35", "10.55", "10.30", "10.45"}, {"10.50", "10.60", "10.40", "10.55"},
    {"10.55", "10.65", "10.45", "10.60"}, {"10.60", "10.70", "10.50", "10.65"},
};

static bar mkbar(int k, const ohlc *p, const char *vol) {
  bar b = {BT(k),   DTO_NS_PER_MIN, F(p->o), F(p->h),
           F(p->l), F(p->c),        F(vol),  0};
  assert_null(bar_check(&b));
  return b;
}

/* Drive bar k (from 1) as engine.h documents. */
static void drive(world *w, int k, const ohlc *p, const char *vol) {
  bar b = mkbar(k, p, vol);
  sim_clock_set(&w->sim, b.ts);
  engine_on_time(w->e, b.ts);
  engine_broker_bar(w->e, &b);
  sim_clock_set(&w->sim, bar_end(&b));
  engine_on_bar(w->e, &b);
}

static void drive_path(world *w, const ohlc *p, int n, const char *vol) {
  for (int k = 1; k <= n; k++)
    drive(w, k, &p[k - 1], vol);
}

static const order *O(const world *w, order_id id) {
  const order *o = oms_cget(engine_oms(w->e), id);
  if (!o)
    fail_msg("no order %u", id);
  return o;
}

/* Check the transitions recorded from index `from` on. */
static void expect_trans_at(const world *w, size_t from, const trans *want,
                            size_t n, int line) {
  if (w->ntr < from + n)
    fail_msg("line %d: %zu transitions, want at least %zu", line, w->ntr,
             from + n);
  for (size_t i = 0; i < n; i++) {
    const trans *g = &w->tr[from + i], *x = &want[i];
    char tg[40], tx[40];
    time_format(g->t, tg, sizeof tg);
    time_format(x->t, tx, sizeof tx);
    if (g->id != x->id || g->from != x->from || g->to != x->to ||
        g->legal != x->legal || g->t != x->t)
      fail_msg("line %d: transition %zu is %u %s->%s%s at %s; want %u "
               "%s->%s%s at %s",
               line, from + i, g->id, order_state_name(g->from),
               order_state_name(g->to), g->legal ? "" : " (refused)", tg, x->id,
               order_state_name(x->from), order_state_name(x->to),
               x->legal ? "" : " (refused)", tx);
  }
}
#define expect_trans(w, from, arr)                                             \
  expect_trans_at(w, from, arr, DTO_ARRAY_LEN(arr), __LINE__)

#define NEW OS_NEW
#define PN OS_PENDING_NEW
#define ACC OS_ACCEPTED
#define PF OS_PARTIALLY_FILLED
#define FIL OS_FILLED
#define PC OS_PENDING_CANCEL
#define CAN OS_CANCELED
#define REJ OS_REJECTED
#define REPL OS_REPLACED
/* an expected observer call (the fields after it are checked apart) */
#define TR(id_, from_, to_, t_)                                                \
  (trans) { .id = (id_), .from = (from_), .to = (to_), .legal = true, .t = (t_) }

static match_config paper_config(void) {
  match_config c;
  match_config_init(&c);
  return c;
}

/* ---- buy, hold, sell ---------------------------------------------------- */

static void step_basic(strat *s, script *sc, const bar *b) {
  (void)b;
  if (sc->bar == 2) {
    order_req r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "100", NULL);
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
    /* wakes up at the first event at or after 14:33:30: bar 5 (14:34) */
    sc->rc[2] = strat_set_timer(s, UD(0, 14, 33, 30), 7);
  } else if (sc->bar == 4) {
    sc->pos = strat_position(s, 0);
    sc->avg = strat_avg_price(s, 0);
    sc->cash = strat_cash(s);
    sc->equity = strat_equity(s);
    sc->open = strat_open_orders(s, 0);
  } else if (sc->bar == 5) {
    order_req r = req(SIDE_SELL, ORD_MARKET, TIF_DAY, "100", NULL);
    sc->rc[1] = strat_submit(s, &r, &sc->id[1]);
    sc->open = strat_open_orders(s, 0);
    sc->open_all = strat_open_orders(s, SYM_NONE);
  }
}

static void test_buy_sell(void **state) {
  (void)state;
  match_config mc = paper_config();
  world *w = boot(&mc, step_basic);
  drive_path(w, path, 3, "10000");
  script *sc = &w->sc;
  assert_int_equal(sc->rc[0], 0);
  assert_int_equal(sc->id[0], 0);
  /* bought 100 at bar 3's open, 10.20, at 14:32; fee 0.5 + 1 = 1.50;
   * cash 100000 - 1020 - 1.50 = 98978.50; marked at bar 3's close 10.25:
   * equity 98978.50 + 1025 = 100003.50 */
  const portfolio *pf = engine_portfolio(w->e);
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "100");
  assert_fx(portfolio_account_cash(pf, 0), "98978.5");
  assert_fx(portfolio_account_equity(pf, 0), "100003.5");
  assert_int_equal(engine_fill_count(w->e), 1);
  drive(w, 4, &path[3], "10000");
  /* what the strategy saw at bar 4's close (10.35): */
  assert_fx(sc->pos, "100");
  assert_fx(sc->avg, "10.2");
  assert_fx(sc->cash, "98978.5");
  assert_fx(sc->equity, "100013.5"); /* 98978.50 + 1035 */
  assert_int_equal(sc->open, 0);
  drive(w, 5, &path[4], "10000");
  assert_int_equal(sc->timer_bar, 4);
  assert_int_equal(sc->timer_tag, 7);
  assert_int_equal(sc->rc[1], 0);
  assert_int_equal(sc->id[1], 1);
  assert_int_equal(sc->open, 1); /* the sell, pending */
  assert_int_equal(sc->open_all, 1);
  assert_int_equal(engine_working_orders(w->e), 1);
  drive(w, 6, &path[5], "10000");
  drive(w, 7, &path[6], "10000");
  /* sold 100 at bar 6's open, 10.50, at 14:35; fee 1.50;
   * realised 100 x (10.50 - 10.20) = 30; fees 3;
   * cash 98978.50 + 1050 - 1.50 = 100027 = equity (flat) */
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "0");
  assert_fx(portfolio_account_realized(pf, 0), "30");
  assert_fx(portfolio_account_fees(pf, 0), "3");
  assert_fx(portfolio_account_cash(pf, 0), "100027");
  assert_fx(portfolio_account_equity(pf, 0), "100027");
  assert_fx(portfolio_strategy_equity(pf, 0), "100027");
  assert_int_equal(engine_fill_count(w->e), 2);
  assert_int_equal(engine_working_orders(w->e), 0);
  size_t ntr;
  const trade_rec *tr = portfolio_trades(pf, &ntr);
  assert_int_equal(ntr, 1);
  assert_fx(tr[0].pnl, "30");
  assert_fx(tr[0].fees, "3");

  /* the orders */
  const order *o0 = O(w, 0), *o1 = O(w, 1);
  assert_string_equal(o0->cloid, "ACC-strat-20250106-1");
  assert_string_equal(o1->cloid, "ACC-strat-20250106-2");
  assert_int_equal(o0->state, FIL);
  assert_fx(o0->filled, "100");
  assert_fx(o0->notional, "1020");
  assert_fx(o0->fees, "1.5");
  assert_false(o0->reducing);
  assert_int_equal(o0->created, BT(3));
  assert_int_equal(o0->updated, BT(3));
  assert_int_equal(o1->state, FIL);
  assert_fx(o1->notional, "1050");
  assert_true(o1->reducing);
  assert_int_equal(o1->side, SIDE_SELL);
  assert_int_equal(sc->notified[0], 2); /* accepted, filled */
  assert_int_equal(sc->notified[1], 2);

  /* every transition the hooks saw, in order */
  const trans want[] = {
      TR(0, NEW, NEW, BT(3)), TR(0, NEW, PN, BT(3)),
      TR(0, PN, ACC, BT(3)),  TR(0, ACC, FIL, BT(3)),
      TR(1, NEW, NEW, BT(6)), TR(1, NEW, PN, BT(6)),
      TR(1, PN, ACC, BT(6)),  TR(1, ACC, FIL, BT(6)),
  };
  assert_int_equal(w->ntr, DTO_ARRAY_LEN(want));
  expect_trans(w, 0, want);
  assert_int_equal(w->nfills, 2);
  assert_int_equal(w->fills[0].id, 0);
  assert_fx(w->fills[0].qty, "100");
  assert_fx(w->fills[0].price, "10.2");
  assert_fx(w->fills[0].fee, "1.5");
  assert_int_equal(w->fills[0].t, BT(3));
  assert_int_equal(w->fills[1].id, 1);
  assert_fx(w->fills[1].price, "10.5");
  assert_int_equal(w->fills[1].t, BT(6));

  engine_stop(w->e);
  assert_true(sc->stopped);
  assert_int_equal(w->ntr, DTO_ARRAY_LEN(want)); /* nothing to cancel */
  assert_int_equal(oms_illegal_count(engine_oms(w->e)), 0);
  assert_int_equal(engine_nstrategies(w->e), 1);
  assert_string_equal(engine_strategy_id(w->e, 0), "strat");
  assert_null(engine_strategy_id(w->e, 1));
  assert_string_equal(engine_account_id(w->e, 0), "ACC");
  shutdown(w);
}

/* ---- refusals ----------------------------------------------------------- */

static void step_refusals(strat *s, script *sc, const bar *b) {
  (void)b;
  order_req r;
  if (sc->bar == 1) {
    r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "0", NULL);
    sc->rc[0] = strat_submit(s, &r, NULL); /* qty 0 */
    r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "1.5", NULL);
    sc->rc[1] = strat_submit(s, &r, NULL); /* off the lot */
    r = req(SIDE_BUY, ORD_LIMIT, TIF_DAY, "10", "10.005");
    sc->rc[2] = strat_submit(s, &r, NULL); /* off the tick */
    r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "10", NULL);
    r.sym = 1;
    sc->rc[3] = strat_submit(s, &r, NULL); /* not subscribed */
    r = req(SIDE_BUY, ORD_STOP_LIMIT, TIF_DAY, "10", "10.00");
    r.stop_price = F("10.00");
    r.take_profit = F("11.00");
    sc->rc[4] = strat_submit(s, &r, NULL); /* bracket on a stop-limit */
    r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "10", NULL);
    r.stop_loss = F("-9.00");
    sc->rc[5] = strat_submit(s, &r, NULL); /* negative exit */
    r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "10", NULL);
    r.take_profit = F("11.005");
    sc->rc[6] = strat_submit(s, &r, NULL); /* exit off the tick */
    sc->rc[7] = strat_cancel(s, 99);
    r = req(SIDE_BUY, ORD_LIMIT, TIF_DAY, "100", "9.00");
    sc->rc[8] = strat_submit(s, &r, &sc->id[0]);
    sc->rc[9] = strat_replace(s, sc->id[0], 0, F("9.10"), 0, NULL);
    r = req(SIDE_BUY, ORD_TRAILING_STOP, TIF_DAY, "10", NULL);
    sc->rc[10] = strat_submit(s, &r, NULL); /* no trail */
    r = req(SIDE_BUY, ORD_STOP, TIF_DAY, "10", NULL);
    sc->rc[11] = strat_submit(s, &r, NULL); /* no stop */
  } else if (sc->bar == 2) {
    order_id id = sc->id[0];
    sc->rc[12] = strat_replace(s, id, 0, F("-9.00"), 0, NULL);
    sc->rc[13] = strat_replace(s, id, 0, F("9.005"), 0, NULL);
    sc->rc[14] = strat_replace(s, id, F("1.5"), 0, 0, NULL);
    sc->rc[15] = strat_replace(s, id, F("-5"), 0, 0, NULL);
    sc->rc[16] = strat_cancel(s, id);
    sc->rc[17] = strat_cancel(s, id); /* already pending */
  } else if (sc->bar == 3) {
    sc->rc[18] = strat_cancel(s, sc->id[0]); /* canceled by now */
    sc->rc[19] = strat_replace(s, sc->id[0], 0, F("9.10"), 0, NULL);
    sc->rc[20] = strat_flatten(s, 0); /* nothing to do */
  }
}

static void test_refusals(void **state) {
  (void)state;
  match_config mc = paper_config();
  world *w = boot(&mc, step_refusals);
  drive_path(w, path, 3, "10000");
  const int *rc = w->sc.rc;
  for (int i = 0; i <= 6; i++)
    if (rc[i] != DTO_EINVAL)
      fail_msg("rc[%d] = %s, want DTO_EINVAL", i, dto_errname(rc[i]));
  assert_int_equal(rc[7], DTO_ENOENT);
  assert_int_equal(rc[8], 0);
  assert_int_equal(rc[9], DTO_ESTATE); /* pending_new: not yet replaceable */
  assert_int_equal(rc[10], DTO_EINVAL);
  assert_int_equal(rc[11], DTO_EINVAL);
  for (int i = 12; i <= 15; i++)
    if (rc[i] != DTO_EINVAL)
      fail_msg("rc[%d] = %s, want DTO_EINVAL", i, dto_errname(rc[i]));
  assert_int_equal(rc[16], 0);
  assert_int_equal(rc[17], 0);
  assert_int_equal(rc[18], DTO_ESTATE);
  assert_int_equal(rc[19], DTO_ESTATE);
  assert_int_equal(rc[20], 0);
  /* Malformed requests never become orders and never reach risk. */
  const oms *m = engine_oms(w->e);
  assert_int_equal(oms_count(m), 1);
  assert_int_equal(O(w, 0)->state, CAN);
  assert_int_equal(O(w, 0)->reason, BRR_REQUESTED);
  const risk *rk = engine_risk(w->e);
  assert_int_equal(risk_refusals(rk, RISK_BAD_QTY), 0);
  assert_int_equal(risk_refusals(rk, RISK_BAD_PRICE), 0);
  assert_int_equal(engine_working_orders(w->e), 0);
  shutdown(w);

  /* The risk gate itself, for orders that get past the request checks
   * some other way: it refuses and counts. */
  uint32_t sacct = 0;
  risk_config rcfg = {1, 1, 1, &sacct, {0}, NULL, NULL, NULL, NULL, NULL};
  risk *r = NULL;
  assert_int_equal(risk_new(&rcfg, &r), 0);
  risk_input in;
  memset(&in, 0, sizeof in);
  in.session = RISK_SESS_REGULAR;
  in.ref_price = F("10");
  in.tick = F("0.01");
  order o;
  memset(&o, 0, sizeof o);
  o.type = ORD_MARKET;
  o.qty = 0;
  o.replaces = ORDER_NONE;
  assert_int_equal(risk_check(r, &o, &in, NULL), RISK_BAD_QTY);
  o.qty = F("10");
  assert_int_equal(risk_check(r, &o, &in, NULL), RISK_OK);
  o.type = ORD_LIMIT;
  assert_int_equal(risk_check(r, &o, &in, NULL), RISK_BAD_PRICE);
  o.type = ORD_STOP_LIMIT;
  o.limit_price = F("10");
  assert_int_equal(risk_check(r, &o, &in, NULL), RISK_BAD_PRICE);
  o.type = ORD_TRAILING_STOP;
  assert_int_equal(risk_check(r, &o, &in, NULL), RISK_BAD_PRICE);
  o.trail = F("0.1");
  assert_int_equal(risk_check(r, &o, &in, NULL), RISK_OK);
  assert_int_equal(risk_refusals(r, RISK_BAD_QTY), 1);
  assert_int_equal(risk_refusals(r, RISK_BAD_PRICE), 3);
  assert_int_equal(risk_refusals(r, RISK_OK), 0);
  assert_string_equal(risk_reason_name(RISK_BAD_QTY), "bad_qty");
  assert_string_equal(risk_reason_name(RISK_REASON_COUNT), "?");
  risk_free(r);
}

/* ---- brackets ----------------------------------------------------------- */

static void step_bracket(strat *s, script *sc, const bar *b) {
  (void)b;
  if (sc->bar == 2) {
    order_req r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "100", NULL);
    r.take_profit = F("10.50");
    r.stop_loss = F("9.80");
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
  } else if (sc->bar == 4) {
    sc->open = strat_open_orders(s, 0);
  }
}

static void test_bracket(void **state) {
  (void)state;
  match_config mc = paper_config();
  world *w = boot(&mc, step_bracket);
  drive_path(w, path, 4, "10000");
  assert_int_equal(w->sc.rc[0], 0);
  /* the entry filled at bar 3's open (10.20); both exits work, GTC */
  assert_int_equal(oms_count(engine_oms(w->e)), 3);
  const order *en = O(w, 0), *tp = O(w, 1), *sl = O(w, 2);
  assert_int_equal(en->role, BR_ENTRY);
  assert_int_equal(en->state, FIL);
  assert_int_equal(tp->role, BR_TAKE_PROFIT);
  assert_int_equal(tp->type, ORD_LIMIT);
  assert_int_equal(tp->tif, TIF_GTC);
  assert_int_equal(tp->side, SIDE_SELL);
  assert_fx(tp->limit_price, "10.5");
  assert_fx(tp->qty, "100");
  assert_int_equal(tp->parent, 0);
  assert_int_equal(tp->peer, 2);
  assert_true(tp->reducing);
  assert_int_equal(sl->role, BR_STOP_LOSS);
  assert_int_equal(sl->type, ORD_STOP);
  assert_int_equal(sl->tif, TIF_GTC);
  assert_fx(sl->stop_price, "9.8");
  assert_int_equal(sl->parent, 0);
  assert_int_equal(sl->peer, 1);
  assert_int_equal(tp->state, ACC);
  assert_int_equal(sl->state, ACC);
  assert_int_equal(w->sc.open, 2);
  assert_int_equal(engine_working_orders(w->e), 2);
  assert_string_equal(tp->cloid, "ACC-strat-20250106-2");
  assert_string_equal(sl->cloid, "ACC-strat-20250106-3");

  /* bar 5 reaches 10.55: the take-profit fills at 10.50 (at the bar's
   * end, 14:35) and cancels the stop-loss */
  drive(w, 5, &path[4], "10000");
  tp = O(w, 1);
  sl = O(w, 2);
  assert_int_equal(tp->state, FIL);
  assert_fx(tp->notional, "1050");
  assert_int_equal(sl->state, CAN);
  assert_int_equal(sl->reason, BRR_OCO);
  assert_fx(sl->filled, "0");
  const portfolio *pf = engine_portfolio(w->e);
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "0");
  /* realised 100 x (10.50 - 10.20) = 30, fees 1.50 + 1.50,
   * cash 100000 + 30 - 3 = 100027 */
  assert_fx(portfolio_account_realized(pf, 0), "30");
  assert_fx(portfolio_account_fees(pf, 0), "3");
  assert_fx(portfolio_account_cash(pf, 0), "100027");
  assert_int_equal(engine_working_orders(w->e), 0);

  /* every change, amendments (from == to) included */
  const trans want[] = {
      TR(0, NEW, NEW, BT(3)), TR(0, NEW, PN, BT(3)),
      TR(0, PN, ACC, BT(3)),  TR(0, ACC, FIL, BT(3)),
      TR(1, NEW, NEW, BT(3)), TR(1, NEW, PN, BT(3)),
      TR(2, NEW, NEW, BT(3)), TR(2, NEW, PN, BT(3)),
      TR(1, PN, PN, BT(3)), /* the take-profit learns its peer */
      TR(1, PN, ACC, BT(3)),  TR(2, PN, ACC, BT(3)),
      TR(1, ACC, FIL, BT(5)),
      TR(2, ACC, ACC, BT(5)), /* the fill shrinks the stop-loss (OCO) */
      TR(2, ACC, CAN, BT(5)),
  };
  assert_int_equal(w->ntr, DTO_ARRAY_LEN(want));
  expect_trans(w, 0, want);
  assert_int_equal(w->tr[7].peer, 1);         /* created with its peer */
  assert_int_equal(w->tr[5].peer, ORDER_NONE); /* not yet */
  assert_int_equal(w->tr[8].peer, 2);         /* the amendment */
  assert_fx(w->tr[8].qty, "100");
  assert_fx(w->tr[12].qty, "0");
  assert_fx(w->tr[11].filled, "100");
  /* nothing more happens afterwards, and stopping cancels nothing */
  drive(w, 6, &path[5], "10000");
  engine_stop(w->e);
  assert_int_equal(w->ntr, DTO_ARRAY_LEN(want));
  shutdown(w);
}

/* A stop-loss moved by cancel/replace stays tied to its take-profit. */
static void step_bracket_move_stop(strat *s, script *sc, const bar *b) {
  (void)b;
  if (sc->bar == 2) {
    order_req r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "100", NULL);
    r.take_profit = F("10.50");
    r.stop_loss = F("9.80");
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
  } else if (sc->bar == 3) {
    /* exits are 1 (take-profit) and 2 (stop-loss): raise the stop */
    sc->rc[1] = strat_replace(s, 2, 0, 0, F("10.00"), &sc->id[1]);
  }
}

static void test_bracket_move_stop(void **state) {
  (void)state;
  static const ohlc p[] = {
      {"10.00", "10.10", "9.90", "10.05"},
      {"10.05", "10.20", "10.00", "10.15"},
      {"10.20", "10.30", "10.10", "10.25"},
      {"10.25", "10.40", "10.20", "10.35"},
      {"10.35", "10.55", "10.30", "10.45"}, /* take-profit at 10.50 */
      {"10.40", "10.45", "9.90", "9.95"},   /* through the stop */
  };
  match_config mc = paper_config();
  world *w = boot(&mc, step_bracket_move_stop);
  drive_path(w, p, 4, "10000");
  assert_int_equal(w->sc.rc[1], 0);
  assert_int_equal(w->sc.id[1], 3);
  assert_int_equal(O(w, 2)->state, REPL);
  assert_int_equal(O(w, 2)->replaced_by, 3);
  assert_int_equal(O(w, 3)->replaces, 2);
  assert_int_equal(O(w, 3)->state, ACC);
  assert_fx(O(w, 3)->stop_price, "10");
  assert_int_equal(O(w, 3)->role, BR_STOP_LOSS);
  assert_int_equal(O(w, 3)->peer, 1);
  assert_int_equal(O(w, 1)->peer, 3); /* follows the replacement */
  /* through the OMS: the observer saw the take-profit's new peer */
  bool seen = false;
  for (size_t i = 0; i < w->ntr; i++)
    seen |= w->tr[i].id == 1 && w->tr[i].from == ACC && w->tr[i].to == ACC &&
            w->tr[i].peer == 3;
  assert_true(seen);
  /* a bracket exit's quantity follows its bracket: not the strategy's */
  order_id none = ORDER_NONE;
  assert_int_equal(strat_replace(w->sc.s, 3, F("50"), 0, 0, &none),
                   DTO_EINVAL);
  drive(w, 5, &p[4], "10000");
  drive(w, 6, &p[5], "10000");
  assert_int_equal(O(w, 1)->state, FIL);
  assert_int_equal(O(w, 3)->state, CAN);
  assert_int_equal(O(w, 3)->reason, BRR_OCO);
  const portfolio *pf = engine_portfolio(w->e);
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "0");
  assert_int_equal(engine_working_orders(w->e), 0);
  assert_int_equal(engine_fill_count(w->e), 2);
  shutdown(w);
}

/* An IOC bracket entry that fills only in part gets exits for that part. */
static void step_bracket_partial(strat *s, script *sc, const bar *b) {
  (void)b;
  if (sc->bar == 2) {
    order_req r = req(SIDE_BUY, ORD_MARKET, TIF_IOC, "100", NULL);
    r.take_profit = F("11.00");
    r.stop_loss = F("9.00");
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
  }
}

static void test_bracket_partial_entry(void **state) {
  (void)state;
  match_config mc = paper_config();
  mc.max_volume_share = F("0.01"); /* 1% of 4000 = 40 */
  world *w = boot(&mc, step_bracket_partial);
  drive_path(w, path, 3, "4000");
  const order *en = O(w, 0);
  assert_int_equal(en->state, CAN);
  assert_int_equal(en->reason, BRR_IOC_REMAINDER);
  assert_fx(en->filled, "40");
  assert_int_equal(oms_count(engine_oms(w->e)), 3);
  assert_fx(O(w, 1)->qty, "40");
  assert_fx(O(w, 2)->qty, "40");
  assert_int_equal(O(w, 1)->state, ACC);
  assert_int_equal(O(w, 2)->state, ACC);
  shutdown(w);
}

/* Flattening while a bracket entry is only partly filled: the exits of its
 * first fill and the entry are canceled and the position closed; no exits
 * may be placed afterwards for the bracket (they would open a new
 * position). */
static void step_flatten(strat *s, script *sc, const bar *b) {
  (void)b;
  if (sc->bar == 2) {
    order_req r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "100", NULL);
    r.take_profit = F("10.50");
    r.stop_loss = F("9.80");
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
  } else if (sc->bar == 3) {
    sc->pos = strat_position(s, 0);
    sc->rc[1] = strat_flatten(s, SYM_NONE); /* all of its symbols */
  }
}

static void test_flatten_partial_bracket(void **state) {
  (void)state;
  match_config mc = paper_config();
  mc.max_volume_share = F("0.01"); /* 1% of 4000 = 40 a bar */
  world *w = boot(&mc, step_flatten);
  drive_path(w, path, 5, "4000"); /* bar 5 reaches 10.55 */
  assert_fx(w->sc.pos, "40");
  assert_int_equal(w->sc.rc[1], 0);
  assert_int_equal(O(w, 0)->state, CAN);
  assert_fx(O(w, 0)->filled, "40");
  /* entry, the exits of its first 40, the sell */
  assert_int_equal(oms_count(engine_oms(w->e)), 4);
  assert_int_equal(O(w, 1)->role, BR_TAKE_PROFIT);
  assert_int_equal(O(w, 1)->state, CAN);
  assert_int_equal(O(w, 2)->role, BR_STOP_LOSS);
  assert_int_equal(O(w, 2)->state, CAN);
  assert_int_equal(O(w, 3)->role, BR_NONE);
  assert_int_equal(O(w, 3)->state, FIL);
  assert_fx(O(w, 3)->qty, "40");
  /* the entry, released, will not ask for exits again */
  assert_fx(O(w, 0)->tp_price, "0");
  assert_fx(O(w, 0)->sl_price, "0");
  assert_fx(portfolio_account_pos(engine_portfolio(w->e), 0, 0)->qty, "0");
  assert_int_equal(engine_working_orders(w->e), 0);
  shutdown(w);
}

/* ---- replace and cancel ------------------------------------------------- */

static void step_replace_cancel(strat *s, script *sc, const bar *b) {
  (void)b;
  if (sc->bar == 2) {
    order_req r = req(SIDE_BUY, ORD_LIMIT, TIF_DAY, "100", "9.00");
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
    r = req(SIDE_BUY, ORD_LIMIT, TIF_DAY, "50", "8.00");
    sc->rc[1] = strat_submit(s, &r, &sc->id[1]);
  } else if (sc->bar == 3) {
    sc->rc[2] = strat_replace(s, sc->id[0], 0, F("10.15"), 0, &sc->id[2]);
    sc->rc[3] = strat_cancel(s, sc->id[1]);
    sc->open = strat_open_orders(s, 0);
  }
}

static void test_replace_cancel(void **state) {
  (void)state;
  static const ohlc p[] = {
      {"10.00", "10.10", "9.90", "10.05"},
      {"10.05", "10.20", "10.00", "10.15"},
      {"10.20", "10.30", "10.10", "10.25"},
      {"10.25", "10.40", "10.10", "10.35"},
  };
  match_config mc = paper_config();
  world *w = boot(&mc, step_replace_cancel);
  drive_path(w, p, 3, "10000");
  const script *sc = &w->sc;
  assert_int_equal(sc->rc[2], 0);
  assert_int_equal(sc->rc[3], 0);
  assert_int_equal(sc->id[2], 2);
  /* seen right after the requests: the replacement pending and the old
   * order pending cancel, the canceled one pending cancel */
  assert_int_equal(sc->open, 3);
  assert_int_equal(O(w, 0)->state, REPL);
  assert_int_equal(O(w, 0)->replaced_by, 2);
  assert_int_equal(O(w, 2)->state, ACC);
  assert_int_equal(O(w, 2)->replaces, 0);
  assert_fx(O(w, 2)->qty, "100");
  assert_fx(O(w, 2)->limit_price, "10.15");
  assert_string_equal(O(w, 2)->cloid, "ACC-strat-20250106-3");
  assert_int_equal(O(w, 1)->state, CAN);
  assert_int_equal(O(w, 1)->reason, BRR_REQUESTED);
  assert_int_equal(engine_working_orders(w->e), 1);
  /* after bar 3's close (14:33) */
  const trans want[] = {
      TR(2, NEW, NEW, BT(4)), TR(2, NEW, PN, BT(4)),
      TR(0, ACC, ACC, BT(4)), /* the old order learns its replacement */
      TR(0, ACC, PC, BT(4)),  TR(1, ACC, PC, BT(4)),
      TR(0, PC, REPL, BT(4)), TR(2, PN, ACC, BT(4)),
      TR(1, PC, CAN, BT(4)),
  };
  expect_trans(w, w->ntr - DTO_ARRAY_LEN(want), want);
  assert_int_equal(w->tr[w->ntr - 6].replaced_by, 2);
  /* bar 4's low 10.10 reaches the new limit 10.15: filled, stamped with the
   * bar's start */
  drive(w, 4, &p[3], "10000");
  assert_int_equal(O(w, 2)->state, FIL);
  assert_int_equal(O(w, 2)->updated, BT(4));
  const portfolio *pf = engine_portfolio(w->e);
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "100");
  assert_fx(portfolio_account_pos(pf, 0, 0)->cost, "1015");
  /* cash 100000 - 1015 - 1.50 */
  assert_fx(portfolio_account_cash(pf, 0), "98983.5");
  assert_int_equal(engine_working_orders(w->e), 0);
  assert_int_equal(oms_illegal_count(engine_oms(w->e)), 0);
  shutdown(w);
}

/* ---- engine_stop -------------------------------------------------------- */

static void step_stop(strat *s, script *sc, const bar *b) {
  (void)b;
  if (sc->bar == 2) {
    order_req r = req(SIDE_BUY, ORD_LIMIT, TIF_DAY, "100", "9.00");
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
    r = req(SIDE_BUY, ORD_LIMIT, TIF_GTC, "100", "9.00");
    sc->rc[1] = strat_submit(s, &r, &sc->id[1]);
    r = req(SIDE_SELL, ORD_STOP, TIF_DAY, "10", NULL);
    r.stop_price = F("8.00");
    sc->rc[2] = strat_submit(s, &r, &sc->id[2]);
  }
}

static void test_stop(void **state) {
  (void)state;
  match_config mc = paper_config();
  world *w = boot(&mc, step_stop);
  drive_path(w, path, 3, "10000");
  assert_int_equal(engine_working_orders(w->e), 3);
  engine_stop(w->e);
  assert_true(w->sc.stopped);
  assert_int_equal(O(w, 0)->state, CAN);
  assert_int_equal(O(w, 0)->reason, BRR_REQUESTED);
  assert_int_equal(O(w, 1)->state, ACC); /* GTC survives */
  assert_int_equal(O(w, 2)->state, CAN);
  assert_int_equal(engine_working_orders(w->e), 1);
  assert_int_equal(matcher_working(w->m), 1);
  shutdown(w);
}

/* ---- partial fills ------------------------------------------------------ */

static void step_partial(strat *s, script *sc, const bar *b) {
  (void)b;
  if (sc->bar == 2) {
    order_req r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "120", NULL);
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
  }
  if (sc->bar >= 3 && sc->bar <= 5)
    sc->rc[sc->bar] = (int)strat_open_orders(s, 0);
}

static void test_partial_fills(void **state) {
  (void)state;
  match_config mc = paper_config();
  mc.max_volume_share = F("0.01"); /* 1% of 5000 = 50 a bar */
  world *w = boot(&mc, step_partial);
  drive_path(w, path, 3, "5000");
  assert_int_equal(O(w, 0)->state, PF);
  assert_fx(O(w, 0)->filled, "50");
  assert_int_equal(engine_working_orders(w->e), 1);
  drive(w, 4, &path[3], "5000");
  assert_int_equal(O(w, 0)->state, PF);
  assert_fx(O(w, 0)->filled, "100");
  assert_int_equal(engine_working_orders(w->e), 1); /* still one order */
  drive(w, 5, &path[4], "5000");
  const order *o = O(w, 0);
  assert_int_equal(o->state, FIL);
  assert_int_equal(engine_working_orders(w->e), 0);
  assert_int_equal(w->sc.rc[3], 1);
  assert_int_equal(w->sc.rc[4], 1);
  assert_int_equal(w->sc.rc[5], 0);
  /* 50 @ 10.20 + 50 @ 10.25 + 20 @ 10.35 = 510 + 512.50 + 207 = 1229.50;
   * fees 0.25 + 1 (first fill), 0.25, 0.10 = 1.60 */
  assert_fx(o->notional, "1229.5");
  assert_fx(o->fees, "1.6");
  const portfolio *pf = engine_portfolio(w->e);
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "120");
  assert_fx(portfolio_account_pos(pf, 0, 0)->cost, "1229.5");
  assert_fx(portfolio_account_cash(pf, 0), "98768.9");
  assert_int_equal(engine_fill_count(w->e), 3);
  const trans want[] = {
      TR(0, PN, ACC, BT(3)),
      TR(0, ACC, PF, BT(3)),
      TR(0, PF, PF, BT(4)),
      TR(0, PF, FIL, BT(5)),
  };
  expect_trans(w, 2, want);
  shutdown(w);
}

/* ---- odd broker reports (fake broker) ----------------------------------- */

static void step_fake(strat *s, script *sc, const bar *b) {
  (void)b;
  order_req r;
  switch (sc->bar) {
  case 1: /* bracket entry */
    r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "100", NULL);
    r.take_profit = F("10.50");
    r.stop_loss = F("9.80");
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
    break;
  case 2: /* the broker cannot take it */
    r = req(SIDE_BUY, ORD_LIMIT, TIF_DAY, "10", "9.00");
    sc->rc[1] = strat_submit(s, &r, &sc->id[1]);
    break;
  case 3:
    r = req(SIDE_BUY, ORD_LIMIT, TIF_DAY, "10", "9.00");
    sc->rc[2] = strat_submit(s, &r, &sc->id[2]);
    break;
  case 4:
    sc->rc[3] = strat_replace(s, sc->id[2], 0, F("9.50"), 0, &sc->id[3]);
    break;
  case 5:
    r = req(SIDE_SELL, ORD_LIMIT, TIF_DAY, "10", "12.00");
    sc->rc[4] = strat_submit(s, &r, &sc->id[4]);
    break;
  case 6:
    sc->rc[5] = strat_cancel(s, sc->id[4]);
    break;
  default:
    break;
  }
}

static void test_fake_broker_reports(void **state) {
  (void)state;
  world *w = boot(NULL, step_fake);
  dto_time t1 = BT(2);
  drive(w, 1, &path[0], "10000");
  assert_int_equal(w->sc.rc[0], 0);
  assert_int_equal(w->fk.submits, 1);
  fk_push(w, REP_ACCEPTED, 0, NULL, NULL, t1, 0);
  fk_push(w, REP_FILL, 0, "100", "10.00", t1, 0);
  engine_pump(w->e);
  assert_int_equal(O(w, 0)->state, FIL);
  assert_int_equal(oms_count(engine_oms(w->e)), 3); /* exits placed */
  assert_int_equal(w->fk.submits, 3);
  /* a repeated fill (an overfill) and a late ack for the finished entry
   * change nothing: no second fill, no second pair of exits; the overfill
   * and a fill for an unknown order are refused with an alert, and the
   * instrument waits for a person (test_reports.c has the details) */
  fk_push(w, REP_FILL, 0, "100", "10.00", t1, 0);
  fk_push(w, REP_ACCEPTED, 0, NULL, NULL, t1, 0);
  fk_push(w, REP_FILL, 77, "5", "10.00", t1, 0); /* unknown order */
  engine_pump(w->e);
  assert_int_equal(oms_count(engine_oms(w->e)), 3);
  assert_int_equal(w->fk.submits, 3);
  assert_int_equal(engine_fill_count(w->e), 1);
  const portfolio *pf = engine_portfolio(w->e);
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "100");
  assert_int_equal(count_alerts(w, "broker_report_invalid"), 2);
  assert_true(engine_instrument_halted(w->e, 0));
  assert_int_equal(engine_halt_instrument(w->e, 0, false, "test"), 0);
  fk_push(w, REP_ACCEPTED, 1, NULL, NULL, t1, 0);
  fk_push(w, REP_ACCEPTED, 2, NULL, NULL, t1, 0);
  engine_pump(w->e);

  /* a broker that refuses to take an order: rejected at once */
  w->fk.fail_submit = 1;
  drive(w, 2, &path[1], "10000");
  w->fk.fail_submit = 0;
  assert_int_equal(w->sc.rc[1], DTO_EREJECT);
  assert_int_equal(w->sc.id[1], 3);
  assert_int_equal(O(w, 3)->state, REJ);
  assert_int_equal(O(w, 3)->reason, BRR_INVALID);
  assert_int_equal(engine_working_orders(w->e), 2); /* the two exits */

  /* a replace that the broker refuses after the old order filled: the
   * replacement must not stay pending forever */
  drive(w, 3, &path[2], "10000");
  order_id old = w->sc.id[2];
  fk_push(w, REP_ACCEPTED, old, NULL, NULL, BT(4), 0);
  engine_pump(w->e);
  drive(w, 4, &path[3], "10000");
  assert_int_equal(w->sc.rc[3], 0);
  assert_int_equal(w->fk.replaces, 1);
  order_id nw = w->sc.id[3];
  assert_int_equal(O(w, old)->state, PC);
  assert_int_equal(O(w, nw)->state, PN);
  fk_push(w, REP_FILL, old, "10", "9.00", BT(5), 0);
  fk_push(w, REP_CANCEL_REJECT, old, NULL, NULL, BT(5), BRR_UNKNOWN_ORDER);
  size_t at = w->ntr;
  engine_pump(w->e);
  assert_int_equal(O(w, old)->state, FIL);
  /* the observer saw the link to the replacement go */
  const trans want_unlink[] = {
      TR(old, PC, FIL, BT(5)), TR(old, FIL, FIL, BT(5)),
      TR(nw, PN, REJ, BT(5))};
  expect_trans(w, at, want_unlink);
  assert_int_equal(w->tr[at].replaced_by, nw);
  assert_int_equal(w->tr[at + 1].replaced_by, ORDER_NONE);
  assert_int_equal(O(w, nw)->state, REJ);
  assert_int_equal(O(w, nw)->reason, BRR_UNKNOWN_ORDER);
  assert_int_equal(O(w, old)->replaced_by, ORDER_NONE);
  assert_int_equal(w->sc.notified[nw], 1);

  /* a fill racing a cancel: recorded, the order stays pending cancel until
   * the broker confirms the cancel */
  drive(w, 5, &path[4], "10000");
  order_id c = w->sc.id[4];
  fk_push(w, REP_ACCEPTED, c, NULL, NULL, BT(6), 0);
  engine_pump(w->e);
  drive(w, 6, &path[5], "10000");
  assert_int_equal(w->sc.rc[5], 0);
  assert_int_equal(w->fk.cancels, 1);
  assert_int_equal(O(w, c)->state, PC);
  size_t mark = w->ntr;
  fk_push(w, REP_FILL, c, "4", "12.00", BT(7), 0);
  engine_pump(w->e);
  assert_int_equal(O(w, c)->state, PC);
  assert_fx(O(w, c)->filled, "4");
  /* no transition for that fill, but the observer (the journal) sees the
   * order's new filled quantity */
  assert_int_equal(w->ntr, mark + 1);
  const trans want_fill[] = {TR(c, PC, PC, BT(7))};
  expect_trans(w, mark, want_fill);
  assert_fx(w->tr[mark].filled, "4");
  fk_push(w, REP_CANCELED, c, NULL, NULL, BT(7), BRR_REQUESTED);
  engine_pump(w->e);
  assert_int_equal(O(w, c)->state, CAN);
  /* 100 bought, 10 more at 9.00, 4 sold at 12.00 */
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "106");
  assert_int_equal(oms_illegal_count(engine_oms(w->e)), 0);
  shutdown(w);
}

/* ---- determinism -------------------------------------------------------- */

static void step_mixed(strat *s, script *sc, const bar *b) {
  (void)b;
  order_req r;
  switch (sc->bar) {
  case 2:
    r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "100", NULL);
    r.take_profit = F("10.60");
    r.stop_loss = F("9.90");
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
    r = req(SIDE_BUY, ORD_LIMIT, TIF_DAY, "30", "10.00");
    sc->rc[1] = strat_submit(s, &r, &sc->id[1]);
    sc->rc[2] = strat_set_timer(s, UD(0, 14, 36, 0), 1);
    break;
  case 4:
    sc->rc[3] = strat_replace(s, sc->id[1], F("40"), F("10.30"), 0, &sc->id[2]);
    r = req(SIDE_SELL, ORD_LIMIT, TIF_GTC, "10", "11.00");
    sc->rc[4] = strat_submit(s, &r, &sc->id[3]);
    break;
  case 6:
    sc->rc[5] = strat_cancel(s, sc->id[3]);
    break;
  case 7:
    sc->rc[6] = strat_flatten(s, 0);
    break;
  default:
    break;
  }
}

/* The paper exchange of the mixed runs: a volume cap and random latency. */
static match_config mixed_config(void) {
  match_config mc = paper_config();
  mc.max_volume_share = F("0.01"); /* 1% of 3000 = 30 a bar */
  mc.latency_kind = LATENCY_RANDOM;
  mc.latency = 0;
  mc.latency_max = 30 * DTO_NS_PER_SEC;
  mc.seed = 1234;
  return mc;
}

static world *run_mixed(void) {
  match_config mc = mixed_config();
  world *w = boot(&mc, step_mixed);
  drive_path(w, path, 8, "3000");
  engine_stop(w->e);
  return w;
}

/* Two runs made the same orders, transitions, fills and positions. */
static void expect_same_runs(const world *a, const world *b) {
  const oms *ma = engine_oms(a->e), *mb = engine_oms(b->e);
  assert_int_equal(oms_count(ma), oms_count(mb));
  for (order_id i = 0; i < oms_count(ma); i++)
    if (memcmp(oms_cget(ma, i), oms_cget(mb, i), sizeof(order)) != 0)
      fail_msg("order %u differs between two identical runs", i);
  /* the recorders hold padding, so they are compared field by field */
  assert_int_equal(a->ntr, b->ntr);
  for (size_t i = 0; i < a->ntr; i++) {
    const trans *x = &a->tr[i], *y = &b->tr[i];
    assert_true(x->id == y->id && x->from == y->from && x->to == y->to &&
                x->legal == y->legal && x->t == y->t);
  }
  assert_int_equal(a->nfills, b->nfills);
  for (size_t i = 0; i < a->nfills; i++) {
    const fillrec *x = &a->fills[i], *y = &b->fills[i];
    assert_true(x->id == y->id && x->qty == y->qty && x->price == y->price &&
                x->fee == y->fee && x->t == y->t);
  }
  assert_memory_equal(a->sc.rc, b->sc.rc, sizeof a->sc.rc);
  assert_memory_equal(a->sc.id, b->sc.id, sizeof a->sc.id);
  assert_memory_equal(a->sc.notified, b->sc.notified, sizeof a->sc.notified);
  const portfolio *pa = engine_portfolio(a->e), *pb = engine_portfolio(b->e);
  assert_int_equal(portfolio_account_cash(pa, 0),
                   portfolio_account_cash(pb, 0));
  assert_int_equal(portfolio_account_equity(pa, 0),
                   portfolio_account_equity(pb, 0));
  assert_memory_equal(portfolio_account_pos(pa, 0, 0),
                      portfolio_account_pos(pb, 0, 0), sizeof(position));
  assert_int_equal(a->sc.bar, b->sc.bar);
  assert_int_equal(a->sc.timer_bar, b->sc.timer_bar);
}

static void test_determinism(void **state) {
  (void)state;
  world *a = run_mixed(), *b = run_mixed();
  expect_same_runs(a, b);
  const oms *ma = engine_oms(a->e);
  assert_true(oms_count(ma) >= 6);
  assert_true(a->nfills >= 4);
  /* the script did what it meant to */
  for (int i = 0; i <= 6; i++)
    if (a->sc.rc[i] != 0)
      fail_msg("step rc[%d] = %s", i, dto_errname(a->sc.rc[i]));
  assert_int_equal(a->sc.timer_bar, 6);
  assert_int_equal(oms_illegal_count(ma), 0);
  shutdown(a);
  shutdown(b);
}

/* A position held over quiet bars (no working order), then closed. */
static void step_hold(strat *s, script *sc, const bar *b) {
  (void)b;
  order_req r;
  if (sc->bar == 2) {
    r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "100", NULL);
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
  } else if (sc->bar == 9) {
    r = req(SIDE_SELL, ORD_MARKET, TIF_DAY, "100", NULL);
    sc->rc[1] = strat_submit(s, &r, &sc->id[1]);
  }
  sc->equity = strat_equity(s);
}

/* Script step driven bar by bar as a backtest does, in two worlds: with
 * engine_bar in the first, with the four steps engine.h says it stands for
 * in the second; the books compared after every bar. */
static void run_bars_both(step_fn step, world **pa, world **pb) {
  match_config mc = mixed_config();
  world *a = boot(&mc, step), *b = boot(&mc, step);
  for (int k = 1; k <= 12; k++) {
    bar x = mkbar(k, &path[(k - 1) % 8], "3000");
    engine_bar(a->e, &x, &a->sim);
    sim_clock_set(&b->sim, x.ts);
    engine_bar_open(b->e, &x);
    sim_clock_set(&b->sim, bar_end(&x));
    engine_on_bar(b->e, &x);
    assert_int_equal(a->sim.t, b->sim.t);
    assert_int_equal(a->sc.equity, b->sc.equity);
    const portfolio *qa = engine_portfolio(a->e), *qb = engine_portfolio(b->e);
    assert_int_equal(portfolio_account_equity(qa, 0),
                     portfolio_account_equity(qb, 0));
    assert_int_equal(portfolio_account_cash(qa, 0),
                     portfolio_account_cash(qb, 0));
  }
  engine_stop(a->e);
  engine_stop(b->e);
  expect_same_runs(a, b);
  assert_int_equal(a->sc.bar, 12);
  *pa = a;
  *pb = b;
}

/* engine_bar, which takes a short way on bars where nothing but the
 * strategy's on_bar has work (no timer, working order or waiting report),
 * does what its four steps do: with a timer, working orders, brackets and
 * fills (the mixed script), and with a position held over quiet bars,
 * whose marks make the equity. */
static void test_engine_bar_steps(void **state) {
  (void)state;
  world *a, *b;
  run_bars_both(step_mixed, &a, &b);
  assert_int_equal(a->sc.timer_bar, 6);
  shutdown(a);
  shutdown(b);
  run_bars_both(step_hold, &a, &b);
  assert_int_equal(a->sc.rc[0], 0);
  assert_int_equal(a->sc.rc[1], 0);
  assert_true(a->nfills >= 2);
  shutdown(a);
  shutdown(b);
}

/* ---- limits set by a reload ----------------------------------------------
 * A world with a risk configuration the test changes and reloads. */

typedef struct limits {
  uint32_t sacct[1];
  risk_account_limits al[1];
  risk_strategy_limits sl[1];
  risk_order_limits sym_ol[2];
  risk_config rc;
} limits;

static void limits_init(limits *l) {
  memset(l, 0, sizeof *l);
  risk_account_limits_init(&l->al[0]);
  risk_strategy_limits_init(&l->sl[0]);
  l->rc.naccounts = 1;
  l->rc.nstrategies = 1;
  l->rc.nsyms = 2;
  l->rc.strategy_account = l->sacct;
  l->rc.accounts = l->al;
  l->rc.strategies = l->sl;
  l->rc.symbol_orders = l->sym_ol;
}

static void step_buy_at_2(strat *s, script *sc, const bar *b) {
  (void)b;
  if (sc->bar == 2) {
    order_req r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "100", NULL);
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
  }
}

/* Started without a daily loss limit, reloaded with one: a loss then trips
 * it (alert, reducing mode) as it would have from the start. */
static void test_reload_daily_loss(void **state) {
  (void)state;
  static const ohlc p[] = {
      {"10.00", "10.10", "9.90", "10.05"},
      {"10.05", "10.20", "10.00", "10.15"},
      {"10.20", "10.30", "10.10", "10.25"}, /* bought 100 at 10.20 */
      {"10.25", "10.25", "10.00", "10.05"}, /* equity 99983.50: -16.50 */
      {"10.05", "10.05", "9.90", "9.95"},   /* 99973.50: -26.50 */
  };
  limits l;
  limits_init(&l);
  match_config mc = paper_config();
  world *w = boot_rc(&mc, step_buy_at_2, &l.rc);
  drive_path(w, p, 3, "10000");
  assert_fx(portfolio_account_pos(engine_portfolio(w->e), 0, 0)->qty, "100");
  l.al[0].max_daily_loss = F("20");
  assert_int_equal(engine_reload_risk(w->e, &l.rc), 0);
  drive(w, 4, &p[3], "10000");
  assert_int_equal(count_alerts(w, "max_daily_loss"), 0);
  assert_int_equal(risk_mode_of(engine_risk(w->e), 1, 0), MODE_ACTIVE);
  drive(w, 5, &p[4], "10000");
  /* cash 100000 - 1020 - 1.50 = 98978.50; marked at 9.95: 99973.50 */
  assert_fx(portfolio_account_equity(engine_portfolio(w->e), 0), "99973.5");
  assert_int_equal(count_alerts(w, "max_daily_loss"), 1);
  assert_int_equal(risk_mode_of(engine_risk(w->e), 1, 0), MODE_REDUCING);
  shutdown(w);
}

/* Started without a drawdown limit, reloaded with one: the peak after the
 * reload is tracked, and falling from it trips the limit though the day is
 * still in profit. */
static void test_reload_drawdown(void **state) {
  (void)state;
  static const ohlc p[] = {
      {"10.00", "10.10", "9.90", "10.05"},
      {"10.05", "10.20", "10.00", "10.15"},
      {"10.20", "10.30", "10.10", "10.25"}, /* bought 100 at 10.20 */
      {"10.25", "10.85", "10.20", "10.80"}, /* equity 100058.50: the peak */
      {"10.80", "10.80", "10.40", "10.45"}, /* 100023.50: 35 below it */
      {"10.45", "10.50", "10.40", "10.45"},
  };
  limits l;
  limits_init(&l);
  match_config mc = paper_config();
  world *w = boot_rc(&mc, step_buy_at_2, &l.rc);
  drive_path(w, p, 3, "10000");
  l.al[0].max_drawdown = F("30");
  assert_int_equal(engine_reload_risk(w->e, &l.rc), 0);
  drive(w, 4, &p[3], "10000");
  assert_int_equal(count_alerts(w, "max_drawdown"), 0);
  drive(w, 5, &p[4], "10000");
  assert_fx(portfolio_account_equity(engine_portfolio(w->e), 0), "100023.5");
  assert_int_equal(count_alerts(w, "max_drawdown"), 1);
  assert_int_equal(risk_mode_of(engine_risk(w->e), 1, 0), MODE_REDUCING);
  /* an opening order is refused now; the day is in profit */
  order_req r = req(SIDE_BUY, ORD_LIMIT, TIF_DAY, "10", "10.00");
  assert_int_equal(strat_submit(w->sc.s, &r, NULL), DTO_EREJECT);
  /* and reloading without the limits turns the tracking off again */
  l.al[0].max_drawdown = 0;
  assert_int_equal(engine_reload_risk(w->e, &l.rc), 0);
  drive(w, 6, &p[5], "10000");
  assert_int_equal(count_alerts(w, "max_drawdown"), 1);
  shutdown(w);
}

/* ---- the end-of-day flatten ----------------------------------------------
 * 1-minute bars from 20:50Z; the session closes at 21:00Z (16:00 New
 * York); flatten_before_close 5 minutes: from the bar that ends at 20:55. */

static dto_time EOD(int mi) { return UD(0, 20, mi, 0); }

static void drive_at(world *w, dto_time ts) {
  static const ohlc flat = {"10.00", "10.05", "9.95", "10.00"};
  bar b = {ts,        DTO_NS_PER_MIN, F(flat.o), F(flat.h),
           F(flat.l), F(flat.c),      F("100000"), 0};
  sim_clock_set(&w->sim, b.ts);
  engine_on_time(w->e, b.ts);
  engine_broker_bar(w->e, &b);
  sim_clock_set(&w->sim, bar_end(&b));
  engine_on_bar(w->e, &b);
}

static void step_eod_bracket(strat *s, script *sc, const bar *b) {
  if (b->ts == EOD(50)) {
    order_req r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "100", NULL);
    r.take_profit = F("11.00");
    r.stop_loss = F("9.00");
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
  }
}

/* The kill switch refuses the flatten: the position and its stops stay, an
 * alert says so once, and the flatten is tried again at every event until
 * it can close the position. */
static void test_flatten_retried_after_refusal(void **state) {
  (void)state;
  limits l;
  limits_init(&l);
  l.sl[0].flatten_before_close = 5 * DTO_NS_PER_MIN;
  match_config mc = paper_config();
  world *w = boot_rc(&mc, step_eod_bracket, &l.rc);
  for (int mi = 50; mi < 53; mi++)
    drive_at(w, EOD(mi));
  const portfolio *pf = engine_portfolio(w->e);
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "100");
  assert_int_equal(engine_working_orders(w->e), 2); /* the exits */
  assert_int_equal(engine_kill(w->e, true, "test"), 0); /* exits kept */
  for (int mi = 53; mi < 56; mi++) /* flattens due from 20:55 */
    drive_at(w, EOD(mi));
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "100");
  assert_int_equal(engine_working_orders(w->e), 2);
  assert_int_equal(count_alerts(w, "flatten_refused"), 1);
  assert_non_null(strstr(w->last_alert, "kill_switch"));
  engine_kill(w->e, false, "test");
  drive_at(w, EOD(56)); /* flattens: the exits go, the sell goes out */
  drive_at(w, EOD(57)); /* the sell fills at the open */
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "0");
  assert_int_equal(engine_working_orders(w->e), 0);
  assert_int_equal(count_alerts(w, "flatten_refused"), 1);
  assert_int_equal(count_alerts(w, "bracket_unprotected"), 0);
  shutdown(w);
}

static void step_eod_two(strat *s, script *sc, const bar *b) {
  if (b->ts == EOD(50)) {
    order_req r = req(SIDE_BUY, ORD_MARKET, TIF_DAY, "50", NULL);
    sc->rc[0] = strat_submit(s, &r, &sc->id[0]);
    sc->rc[1] = strat_submit(s, &r, &sc->id[1]);
  }
}

/* The risk gate refuses the closing order (too large for max_order_qty):
 * not marked as flattened; after a reload that allows it, the next event
 * closes the position. */
static void test_flatten_refused_by_a_limit(void **state) {
  (void)state;
  limits l;
  limits_init(&l);
  l.sl[0].flatten_before_close = 5 * DTO_NS_PER_MIN;
  l.sym_ol[0].max_order_qty = F("50");
  l.sym_ol[0].set = RL_MAX_ORDER_QTY;
  match_config mc = paper_config();
  world *w = boot_rc(&mc, step_eod_two, &l.rc);
  for (int mi = 50; mi < 57; mi++)
    drive_at(w, EOD(mi));
  const portfolio *pf = engine_portfolio(w->e);
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "100");
  assert_int_equal(count_alerts(w, "flatten_refused"), 1);
  assert_non_null(strstr(w->last_alert, "max_order_qty"));
  l.sym_ol[0].max_order_qty = 0;
  l.sym_ol[0].set = 0;
  assert_int_equal(engine_reload_risk(w->e, &l.rc), 0);
  drive_at(w, EOD(57));
  drive_at(w, EOD(58));
  assert_fx(portfolio_account_pos(pf, 0, 0)->qty, "0");
  assert_int_equal(count_alerts(w, "flatten_refused"), 1);
  shutdown(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buy_sell),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_bracket),
      cmocka_unit_test(test_bracket_move_stop),
      cmocka_unit_test(test_bracket_partial_entry),
      cmocka_unit_test(test_flatten_partial_bracket),
      cmocka_unit_test(test_replace_cancel),
      cmocka_unit_test(test_stop),
      cmocka_unit_test(test_partial_fills),
      cmocka_unit_test(test_fake_broker_reports),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_engine_bar_steps),
      cmocka_unit_test(test_reload_daily_loss),
      cmocka_unit_test(test_reload_drawdown),
      cmocka_unit_test(test_flatten_retried_after_refusal),
      cmocka_unit_test(test_flatten_refused_by_a_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
