/* test_risk_engine.c - the risk gate through the engine, with the paper
 * exchange (next-bar-open fills, no fees, no slippage), three US equities on
 * the us_equity calendar and 1-minute bars of 2025 sessions:
 *   - a property test: seeded random order streams against random limits
 *     never produce a position, an exposure or an open-order count beyond a
 *     limit, and every refusal names a breach the test recomputes from the
 *     engine's own state;
 *   - the pattern day trader rule over a scripted week;
 *   - the daily loss limit over a scripted losing day;
 *   - the kill switch with 1,000 working orders;
 *   - the end-of-day flatten and no new entries before the close;
 *   - the fill-loop guard and the consecutive-loss limit.
 * The test's strategy does nothing by itself: the property test trades
 * from its on_bar, the scripted tests submit through the strategy handle it
 * captured at on_start, between bars, as an API user would. */
#include "core/prelude.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "broker/paper.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "market/calendar.h"

#define NSYM 3

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

/* ---- the world ----------------------------------------------------------- */

typedef struct alert_rec {
  char code[32];
  int scope;
  uint32_t index;
} alert_rec;

typedef struct world world;
typedef void (*bar_fn)(world *w, const bar *b);
typedef void (*decision_fn)(world *w, const order *o, const risk_decision *d);

struct world {
  instrument_table ins;
  sim_clock sim;
  dto_clock clock;
  matcher *m;
  engine *e;
  engine_account acct;
  strat *s; /* the test strategy, captured at on_start */
  /* the risk configuration, set before world_start */
  uint32_t sacct[1];
  risk_order_limits acct_ol[1], strat_ol[1], sym_ol[NSYM];
  risk_account_limits al[1];
  risk_strategy_limits sl[1];
  risk_config rc;
  /* recorders */
  alert_rec alerts[16];
  size_t nalerts;
  uint64_t decisions, refused[RISK_REASON_COUNT];
  risk_decision last;
  /* the property test's hooks */
  bar_fn on_bar;
  decision_fn on_decision;
  void *user;
};

static const param_spec world_params[] = {
    {"world", PARAM_INT, "0", 0, 0, NULL, "the test's world (a pointer)"},
};

static world *W(const strat *s) {
  return (world *)(intptr_t)strat_param(s, 0)->u.i;
}

static int ts_on_start(strat *s, void *st) {
  (void)st;
  W(s)->s = s;
  return 0;
}

static void ts_on_bar(strat *s, void *st, void *ss, const bar *b) {
  (void)st;
  (void)ss;
  world *w = W(s);
  if (w->on_bar)
    w->on_bar(w, b);
}

static const strategy_def test_def = {
    .name = "risktest",
    .summary = "trades what the test says",
    .params = world_params,
    .nparams = 1,
    .state_size = 8,
    .sym_state_size = 8,
    .on_start = ts_on_start,
    .on_bar = ts_on_bar,
};

static void hook_decision(void *ctx, const order *o, const risk_decision *d) {
  world *w = ctx;
  w->decisions++;
  w->last = *d;
  if ((unsigned)d->reason < RISK_REASON_COUNT)
    w->refused[d->reason]++;
  if (w->on_decision)
    w->on_decision(w, o, d);
}

static void hook_alert(void *ctx, const char *code, int scope, uint32_t index,
                       const char *msg) {
  world *w = ctx;
  assert_non_null(msg);
  assert_true(w->nalerts < DTO_ARRAY_LEN(w->alerts));
  alert_rec *a = &w->alerts[w->nalerts++];
  snprintf(a->code, sizeof a->code, "%s", code);
  a->scope = scope;
  a->index = index;
}

/* Every limit off; the test sets what it needs, then calls world_start. */
static world *world_new(const char *cash) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  instruments_init(&w->ins);
  const char *syms[NSYM] = {"AAA", "BBB", "CCC"};
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
  w->acct = (engine_account){"ACC", F(cash)};
  risk_account_limits_init(&w->al[0]);
  risk_strategy_limits_init(&w->sl[0]);
  w->rc.naccounts = 1;
  w->rc.nstrategies = 1;
  w->rc.nsyms = NSYM;
  w->rc.strategy_account = w->sacct;
  w->rc.account_orders = w->acct_ol;
  w->rc.strategy_orders = w->strat_ol;
  w->rc.symbol_orders = w->sym_ol;
  w->rc.accounts = w->al;
  w->rc.strategies = w->sl;
  return w;
}

static void world_start(world *w, dto_time t0) {
  clock_sim_init(&w->clock, &w->sim, t0);
  match_config mc;
  match_config_init(&mc);
  w->m = matcher_new(&mc, &w->ins, &w->clock);
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &w->ins;
  ec.clock = &w->clock;
  ec.broker = &paper_broker_ops;
  ec.broker_ctx = paper_ctx(w->m);
  ec.accounts = &w->acct;
  ec.naccounts = 1;
  ec.hooks = (engine_hooks){w, NULL, NULL, NULL, hook_decision, hook_alert};
  ec.risk = &w->rc;
  w->e = engine_new(&ec);
  param_value pv;
  memset(&pv, 0, sizeof pv);
  pv.u.i = (int64_t)(intptr_t)w;
  sym_id mine[NSYM] = {0, 1, 2};
  engine_strategy es = {&test_def, "strat", 0, mine, NSYM, F("1000000"), &pv};
  assert_int_equal(engine_add_strategy(w->e, &es), 0);
  assert_int_equal(engine_start(w->e), 0);
  assert_non_null(w->s);
}

static void world_free(world *w) {
  engine_free(w->e);
  matcher_free(w->m);
  instruments_release(&w->ins);
  free(w);
}

/* The regular session of a date. */
static session day(int y, int m, int d) {
  session s;
  if (!calendar_session(calendar_us_equity(), days_from_civil(y, m, d), &s))
    fail_msg("%d-%02d-%02d is no trading day", y, m, d);
  return s;
}

/* One 1-minute bar starting at ts, driven as the runner does. */
static void feed(world *w, sym_id sym, dto_time ts, fx o, fx h, fx l, fx c) {
  bar b = {ts, DTO_NS_PER_MIN, o, h, l, c, F("1000000"), 0};
  b.sym = sym;
  assert_null(bar_check(&b));
  sim_clock_set(&w->sim, b.ts);
  engine_bar_open(w->e, &b);
  sim_clock_set(&w->sim, bar_end(&b));
  engine_on_bar(w->e, &b);
}

/* A flat bar at price p. */
static void feed_flat(world *w, sym_id sym, dto_time ts, fx p) {
  feed(w, sym, ts, p, p, p, p);
}

/* Submit through the strategy now (between bars) and collect reports.
 * Returns strat_submit's code; w->last holds the decision. */
static int submit(world *w, sym_id sym, enum order_side side,
                  enum order_type type, enum tif tif, const char *qty,
                  const char *px, order_id *id) {
  order_req r;
  memset(&r, 0, sizeof r);
  r.sym = sym;
  r.side = side;
  r.type = type;
  r.tif = tif;
  r.qty = F(qty);
  if (px)
    r.limit_price = F(px);
  int rc = strat_submit(w->s, &r, id);
  engine_pump(w->e);
  return rc;
}
#define MKT_BUY(w, q) submit(w, 0, SIDE_BUY, ORD_MARKET, TIF_DAY, q, NULL, NULL)
#define MKT_SELL(w, q)                                                         \
  submit(w, 0, SIDE_SELL, ORD_MARKET, TIF_DAY, q, NULL, NULL)

static fx pos(const world *w, sym_id sym) {
  return portfolio_account_pos(engine_portfolio(w->e), 0, sym)->qty;
}

static bool has_alert(const world *w, const char *code, int scope,
                      uint32_t index) {
  for (size_t i = 0; i < w->nalerts; i++)
    if (!strcmp(w->alerts[i].code, code) && w->alerts[i].scope == scope &&
        w->alerts[i].index == index)
      return true;
  return false;
}

/* ---- the property test --------------------------------------------------- */

#define SEEDS 20
#define ORDERS_PER_SEED 5000

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static int64_t rnd(uint64_t *s, int64_t n) {
  return (int64_t)(rng_next(s) % (uint64_t)n);
}

typedef struct prop {
  uint64_t rng;
  uint64_t seed;
  fx base[NSYM], px[NSYM];
  int orders, cancels;
  /* recorded per reason over all seeds */
  uint64_t *seen;
  uint64_t opening_ok, reducing_ok;
  /* no reducing order accepted since the last opening one (see
   * prop_invariants) */
  bool net_bounded;
} prop;

/* The account's state as the test sees it: straight from the portfolio and
 * the OMS, not through the engine's risk input. */
typedef struct view {
  fx pos[NSYM], last[NSYM], ob[NSYM], os[NSYM];
  fx cb[NSYM], cs[NSYM]; /* the part of ob, os with a cancel pending */
  fx obv;                /* working buys valued at limit or last price */
  int nopen;
} view;

static void view_of(world *w, order_id skip, view *v) {
  memset(v, 0, sizeof *v);
  const portfolio *pf = engine_portfolio(w->e);
  for (sym_id y = 0; y < NSYM; y++) {
    v->pos[y] = portfolio_account_pos(pf, 0, y)->qty;
    v->last[y] = portfolio_last(pf, y);
  }
  size_t n;
  const oms *om = engine_oms(w->e);
  const order_id *ids = oms_open_ids(om, &n);
  for (size_t i = 0; i < n; i++) {
    const order *x = oms_cget(om, ids[i]);
    if (!x || x->id == skip || !order_is_working(x->state))
      continue;
    v->nopen++;
    fx leaves = order_leaves(x);
    if (x->state == OS_PENDING_CANCEL)
      *(x->side == SIDE_BUY ? &v->cb[x->sym] : &v->cs[x->sym]) += leaves;
    if (x->side == SIDE_BUY) {
      v->ob[x->sym] += leaves;
      fx p = x->limit_price ? x->limit_price : v->last[x->sym], val;
      assert_int_equal(fx_mul(leaves, p, &val), 0);
      v->obv += val;
    } else {
      v->os[x->sym] += leaves;
    }
  }
}

static fx mul(fx a, fx b) {
  fx r;
  assert_int_equal(fx_mul(a, b, &r), 0);
  return r;
}

/* Worst-case gross and the two net extremes, with extra buy (> 0) or sell
 * (< 0) quantity added to symbol sym's working orders. */
static void exposure(const view *v, sym_id sym, fx extra, fx *gross, fx *net) {
  fx g = 0, lng = 0, sht = 0;
  for (sym_id y = 0; y < NSYM; y++) {
    fx lq = v->pos[y] + v->ob[y], sq = v->pos[y] - v->os[y];
    if (y == sym && extra > 0)
      lq += extra;
    if (y == sym && extra < 0)
      sq += extra;
    fx lv = mul(lq, v->last[y]), sv = mul(sq, v->last[y]);
    g += fx_max(fx_abs(lv), fx_abs(sv));
    lng += lv;
    sht += sv;
  }
  *gross = g;
  *net = fx_max(fx_abs(lng), fx_abs(sht));
}

static void fmt_fail(const char *what, const order *o, const risk_decision *d,
                     fx want) {
  char v[FX_STRLEN], l[FX_STRLEN], x[FX_STRLEN];
  fx_format(d->value, v, sizeof v);
  fx_format(d->limit, l, sizeof l);
  fx_format(want, x, sizeof x);
  fail_msg("%s: order %u (%s %s sym %u qty %" PRId64 ") refused %s value %s "
           "limit %s, recomputed %s",
           what, o->id, order_side_name(o->side), order_type_name(o->type),
           o->sym, o->qty, risk_reason_name(d->reason), v, l, x);
}

/* Every decision: a refusal must name a real breach (the value it reports
 * is what the test recomputes, and it is beyond the limit); an acceptance
 * must keep every limit (or, for a reducing order, not make things worse). */
static void prop_decision(world *w, const order *o, const risk_decision *d) {
  prop *p = w->user;
  const risk *rk = engine_risk(w->e);
  const risk_order_limits *ol = risk_effective(rk, 0, o->sym);
  const risk_account_limits *al = risk_account(rk, 0);
  const risk_strategy_limits *sl = risk_strategy(rk, 0);
  view v;
  view_of(w, o->id, &v);
  sym_id y = o->sym;
  bool buy = o->side == SIDE_BUY;
  /* reducing: opposite the position and, with the same side's working
   * orders that are not being canceled, no larger than it */
  fx pos0 = v.pos[y], same = buy ? v.ob[y] - v.cb[y] : v.os[y] - v.cs[y];
  bool reducing =
      pos0 != 0 && (pos0 > 0) == !buy && o->qty + same <= fx_abs(pos0);
  fx proj = buy ? pos0 + v.ob[y] + o->qty : pos0 - v.os[y] - o->qty;
  fx g0, n0, g1, n1;
  bool priced = v.last[y] > 0;
  if (priced) {
    exposure(&v, y, 0, &g0, &n0);
    exposure(&v, y, buy ? o->qty : -o->qty, &g1, &n1);
  } else {
    g0 = n0 = g1 = n1 = 0;
  }
  fx px = o->limit_price ? o->limit_price : v.last[y];
  p->seen[d->reason]++;
  switch (d->reason) {
  case RISK_OK:
    if (ol->max_order_qty > 0 && o->qty > ol->max_order_qty)
      fmt_fail("accepted beyond max_order_qty", o, d, o->qty);
    if (al->max_open_orders > 0 && v.nopen + 1 > al->max_open_orders)
      fmt_fail("accepted beyond max_open_orders", o, d,
               fx_from_int(v.nopen + 1));
    if (sl->max_open_orders > 0 && v.nopen + 1 > sl->max_open_orders)
      fmt_fail("accepted beyond strategy max_open_orders", o, d,
               fx_from_int(v.nopen + 1));
    assert_true(priced);
    if (reducing) {
      /* it cannot grow the position or gross exposure, once the pending
       * cancels have gone through (the paper exchange never fails one) */
      view vc = v;
      for (sym_id k = 0; k < NSYM; k++) {
        vc.ob[k] -= vc.cb[k];
        vc.os[k] -= vc.cs[k];
      }
      fx rg0, rn0, rg1, rn1;
      exposure(&vc, y, 0, &rg0, &rn0);
      exposure(&vc, y, buy ? o->qty : -o->qty, &rg1, &rn1);
      fx rproj = buy ? pos0 + vc.ob[y] + o->qty : pos0 - vc.os[y] - o->qty;
      p->reducing_ok++;
      p->net_bounded = false;
      if (fx_abs(rproj) > fx_abs(pos0) || rg1 > rg0)
        fmt_fail("a reducing order grows exposure", o, d, rg1);
    } else {
      p->opening_ok++;
      p->net_bounded = true;
      if (ol->max_pos_qty > 0 && fx_abs(proj) > ol->max_pos_qty)
        fmt_fail("accepted beyond max_pos_qty", o, d, fx_abs(proj));
      if (al->max_gross > 0 && g1 > al->max_gross)
        fmt_fail("accepted beyond max_gross", o, d, g1);
      if (al->max_net > 0 && n1 > al->max_net)
        fmt_fail("accepted beyond max_net", o, d, n1);

      if (!al->allow_short && proj < 0)
        fmt_fail("accepted a short sale", o, d, proj);
      if (al->check_buying_power &&
          mul(o->qty, px) > portfolio_account_cash(engine_portfolio(w->e), 0) +
                                al->credit - v.obv)
        fmt_fail("accepted beyond buying power", o, d, mul(o->qty, px));
    }
    break;
  case RISK_MAX_ORDER_QTY:
    if (d->value != o->qty || d->limit != ol->max_order_qty ||
        d->value <= d->limit)
      fmt_fail("max_order_qty", o, d, o->qty);
    break;
  case RISK_NO_REF_PRICE:
    if (v.last[y] > 0 || d->value != v.last[y])
      fmt_fail("no_reference_price", o, d, v.last[y]);
    break;
  case RISK_PRICE_COLLAR: {
    fx dev = fx_abs(o->limit_price - v.last[y]), lim;
    assert_int_equal(fx_muldiv(v.last[y], ol->collar_pct, 100 * FX_SCALE,
                               FX_ROUND_DOWN, &lim),
                     0);
    if (d->value != dev || d->limit != lim || dev <= lim)
      fmt_fail("price_collar", o, d, dev);
    break;
  }
  case RISK_MAX_POS_QTY:
    if (reducing || d->value != fx_abs(proj) || d->limit != ol->max_pos_qty ||
        d->value <= d->limit)
      fmt_fail("max_position_qty", o, d, fx_abs(proj));
    break;
  case RISK_MAX_GROSS:
    if (reducing || d->value != g1 || d->limit != al->max_gross ||
        d->value <= d->limit)
      fmt_fail("max_gross", o, d, g1);
    break;
  case RISK_MAX_NET:
    if (reducing || d->value != n1 || d->limit != al->max_net ||
        d->value <= d->limit)
      fmt_fail("max_net", o, d, n1);
    break;
  case RISK_CONCENTRATION: {
    fx lq = pos0 + v.ob[y] + (buy ? o->qty : 0);
    fx sq = pos0 - v.os[y] - (buy ? 0 : o->qty);
    fx symv = fx_max(fx_abs(mul(lq, v.last[y])), fx_abs(mul(sq, v.last[y])));
    fx lim;
    assert_int_equal(
        fx_muldiv(portfolio_account_equity(engine_portfolio(w->e), 0),
                  al->max_concentration_pct, 100 * FX_SCALE, FX_ROUND_DOWN,
                  &lim),
        0);
    if (reducing || d->value != symv || d->limit != lim || symv <= lim)
      fmt_fail("max_concentration", o, d, symv);
    break;
  }
  case RISK_BUYING_POWER: {
    fx bp =
        portfolio_account_cash(engine_portfolio(w->e), 0) + al->credit - v.obv;
    if (reducing || d->value != mul(o->qty, px) || d->limit != bp ||
        d->value <= d->limit)
      fmt_fail("buying_power", o, d, bp);
    break;
  }
  case RISK_MAX_OPEN_ORDERS: {
    int lim = d->scope == 1 ? al->max_open_orders : sl->max_open_orders;
    if (d->value != fx_from_int(v.nopen + 1) || d->limit != fx_from_int(lim) ||
        v.nopen + 1 <= lim)
      fmt_fail("max_open_orders", o, d, fx_from_int(v.nopen + 1));
    break;
  }
  case RISK_SHORT_NOT_ALLOWED: {
    /* sells being canceled are taken as gone for the short-sale check */
    fx ps = pos0 - (v.os[y] - v.cs[y]) - o->qty;
    if (al->allow_short || buy || d->value != ps || ps >= 0)
      fmt_fail("short_not_allowed", o, d, ps);
    break;
  }
  case RISK_MARKET_CLOSED:
    if (calendar_is_open(calendar_us_equity(), strat_now(w->s), false))
      fmt_fail("market_closed while open", o, d, 0);
    break;
  default:
    fmt_fail("unexpected refusal", o, d, 0);
  }
}

/* After every bar: positions, open orders and exposure within the limits;
 * exposure may exceed its limit only by what prices moved since the last
 * accepted opening order was checked.  Each price stays within +-5% of its
 * symbol's base, so moves by at most 10/95 of the price it was checked at:
 * gross (all terms positive) grows by at most that share, to 105/95 of its
 * limit; net, whose terms may offset, by at most 10/95 of the gross then
 * checked (gross is always limited here).  Reducing orders are not
 * exposure checked: they never raise gross exposure, but closing one leg of
 * a hedge raises net exposure, so the net bound holds until the next
 * reducing order is accepted (and |net| <= gross always). */
static void prop_invariants(world *w) {
  const risk *rk = engine_risk(w->e);
  const risk_account_limits *al = risk_account(rk, 0);
  const risk_strategy_limits *sl = risk_strategy(rk, 0);
  view v;
  view_of(w, ORDER_NONE, &v);
  for (sym_id y = 0; y < NSYM; y++) {
    fx lim = risk_effective(rk, 0, y)->max_pos_qty;
    if (lim > 0 &&
        (fx_abs(v.pos[y]) > lim || fx_abs(v.pos[y] + v.ob[y]) > lim ||
         fx_abs(v.pos[y] - v.os[y]) > lim))
      fail_msg("symbol %u: position %" PRId64 " (+%" PRId64 " -%" PRId64
               " working) beyond max_pos_qty %" PRId64,
               y, v.pos[y], v.ob[y], v.os[y], lim);
    if (!al->allow_short && v.pos[y] - v.os[y] < 0)
      fail_msg("symbol %u: short %" PRId64 " without short sales", y,
               v.pos[y] - v.os[y]);
  }
  assert_int_equal((size_t)v.nopen, engine_working_orders(w->e));
  if (al->max_open_orders > 0)
    assert_true(v.nopen <= al->max_open_orders);
  if (sl->max_open_orders > 0)
    assert_true(v.nopen <= sl->max_open_orders);
  fx g, n;
  exposure(&v, 0, 0, &g, &n);
  if (al->max_gross > 0 && (__int128)g * 95 > (__int128)al->max_gross * 105)
    fail_msg("gross %" PRId64 " beyond max_gross %" PRId64 " x 105/95", g,
             al->max_gross);
  assert_true(n <= g);
  prop *p = w->user;
  if (al->max_net > 0 && p->net_bounded &&
      (__int128)n * 95 >
          (__int128)al->max_net * 95 + (__int128)al->max_gross * 10)
    fail_msg("net %" PRId64 " beyond max_net %" PRId64
             " + 10/95 x gross %" PRId64,
             n, al->max_net, al->max_gross);
}

/* The strategy: on each bar, now and then a cancel, then 0-2 random orders
 * on random symbols (which see the canceled order still pending). */
static void prop_bar(world *w, const bar *b) {
  (void)b;
  prop *p = w->user;
  strat *s = w->s;
  if (rnd(&p->rng, 100) < 15 && strat_open_orders(s, SYM_NONE) > 0) {
    size_t n;
    const order_id *ids = oms_open_ids(engine_oms(w->e), &n);
    order_id pick = ids[rnd(&p->rng, (int64_t)n)];
    const order *o = oms_cget(engine_oms(w->e), pick);
    if (o && order_is_working(o->state) && o->state != OS_PENDING_CANCEL) {
      assert_int_equal(strat_cancel(s, pick), 0);
      p->cancels++;
    }
  }
  int k = (int)rnd(&p->rng, 3);
  const risk_order_limits *ol0 = risk_effective(engine_risk(w->e), 0, 0);
  int64_t qmax = ol0->max_order_qty / FX_ONE;
  for (int i = 0; i < k; i++) {
    order_req r;
    memset(&r, 0, sizeof r);
    r.sym = (sym_id)rnd(&p->rng, NSYM);
    r.side = rnd(&p->rng, 2) ? SIDE_BUY : SIDE_SELL;
    r.tif = rnd(&p->rng, 10) < 7 ? TIF_DAY : TIF_GTC;
    r.qty = fx_from_int(1 + rnd(&p->rng, qmax * 6 / 5));
    fx ref = strat_last(s, r.sym);
    int64_t t = rnd(&p->rng, 100);
    if (ref <= 0 || (t >= 55 && t < 85)) {
      r.type = ORD_MARKET;
    } else if (t < 55) {
      r.type = ORD_LIMIT;
      fx v;
      assert_int_equal(fx_muldiv(ref, 10000 + rnd(&p->rng, 1601) - 800, 10000,
                                 FX_ROUND_NEAREST, &v),
                       0);
      r.limit_price = strat_round_tick(s, r.sym, v, FX_ROUND_NEAREST);
    } else {
      r.type = ORD_STOP;
      fx v;
      int64_t bp = 1 + rnd(&p->rng, 300);
      assert_int_equal(fx_muldiv(ref,
                                 r.side == SIDE_BUY ? 10000 + bp : 10000 - bp,
                                 10000, FX_ROUND_NEAREST, &v),
                       0);
      r.stop_price = strat_round_tick(s, r.sym, v, FX_ROUND_NEAREST);
    }
    int rc = strat_submit(s, &r, NULL);
    if (rc != 0 && rc != DTO_EREJECT)
      fail_msg("seed %" PRIu64 ": submit returned %s", p->seed,
               dto_errname(rc));
    p->orders++;
  }
}

/* Random limits for a seed. */
static void prop_limits(world *w, uint64_t *g) {
  risk_order_limits *a = &w->acct_ol[0];
  a->max_order_qty = fx_from_int(50 + rnd(g, 250));
  a->max_pos_qty = fx_from_int(100 + rnd(g, 500));
  a->set = RL_MAX_ORDER_QTY | RL_MAX_POS_QTY;
  if (rnd(g, 2)) { /* a symbol of its own */
    risk_order_limits *s2 = &w->sym_ol[2];
    s2->max_pos_qty = fx_from_int(20 + rnd(g, 200));
    s2->max_order_qty = fx_from_int(10 + rnd(g, 100));
    s2->set = RL_MAX_POS_QTY | RL_MAX_ORDER_QTY;
  }
  if (rnd(g, 2)) {
    w->sym_ol[1].collar_pct = fx_from_int(3 + rnd(g, 5));
    w->sym_ol[1].set |= RL_COLLAR_PCT;
  }
  w->al[0].max_gross = fx_from_int(5000 + rnd(g, 60000));
  if (rnd(g, 2))
    w->al[0].max_net = fx_from_int(3000 + rnd(g, 40000));
  w->al[0].max_open_orders = 2 + (int)rnd(g, 30);
  if (rnd(g, 2))
    w->sl[0].max_open_orders = 2 + (int)rnd(g, 30);
  w->al[0].allow_short = rnd(g, 4) != 0;
  if (rnd(g, 10) < 3) {
    w->al[0].check_buying_power = true;
    w->al[0].credit = fx_from_int(rnd(g, 20000));
  }
  if (rnd(g, 10) < 3)
    w->al[0].max_concentration_pct = fx_from_int(1 + rnd(g, 10));
}

static void prop_seed(uint64_t seed, uint64_t *seen, uint64_t *orders,
                      uint64_t *opening_ok) {
  prop p;
  memset(&p, 0, sizeof p);
  p.seed = seed;
  p.rng = seed * 7919 + 1;
  p.seen = seen;
  uint64_t g = seed ^ 0xabcdef12345ULL;
  char cash[32];
  snprintf(cash, sizeof cash, "%d", 5000 + (int)rnd(&g, 60000));
  world *w = world_new(cash);
  prop_limits(w, &g);
  const char *bases[NSYM] = {"20", "50", "100"};
  for (int i = 0; i < NSYM; i++)
    p.base[i] = p.px[i] = F(bases[i]);
  w->user = &p;
  w->on_bar = prop_bar;
  w->on_decision = prop_decision;
  session se = day(2025, 3, 3);
  world_start(w, se.open - DTO_NS_PER_HOUR);
  while (p.orders < ORDERS_PER_SEED) {
    for (dto_time t = se.open; t < se.close && p.orders < ORDERS_PER_SEED;
         t += DTO_NS_PER_MIN)
      for (sym_id y = 0; y < NSYM; y++) {
        fx b = p.base[y], lo = b / 100 * 95, hi = b / 100 * 105;
        fx o = p.px[y];
        fx c = o + (fx)(rnd(&p.rng, 41) - 20) * (b / 2000);
        c = c < lo ? lo : c > hi ? hi : c;
        fx step = F("0.01");
        c = c / step * step;
        fx h = fx_min(fx_max(o, c) + rnd(&p.rng, 5) * step, hi);
        fx l = fx_max(fx_min(o, c) - rnd(&p.rng, 5) * step, lo);
        p.px[y] = c;
        feed(w, y, t, o, h, l, c);
        prop_invariants(w);
      }
    dto_time next = se.close;
    assert_true(calendar_next_session(calendar_us_equity(), next, &se));
  }
  *orders += (uint64_t)p.orders;
  *opening_ok += p.opening_ok;
  assert_true(p.opening_ok > 0 && p.reducing_ok > 0 && p.cancels > 0);
  world_free(w);
}

static void test_property_random_streams(void **state) {
  (void)state;
  uint64_t seen[RISK_REASON_COUNT] = {0}, orders = 0, opening_ok = 0;
  for (uint64_t seed = 1; seed <= SEEDS; seed++)
    prop_seed(seed, seen, &orders, &opening_ok);
  assert_true(orders >= 100000);
  /* the stream exercised the limits it is about */
  enum risk_reason must[] = {
      RISK_OK,           RISK_MAX_ORDER_QTY,     RISK_MAX_POS_QTY,
      RISK_MAX_GROSS,    RISK_MAX_NET,           RISK_MAX_OPEN_ORDERS,
      RISK_PRICE_COLLAR, RISK_SHORT_NOT_ALLOWED, RISK_MARKET_CLOSED,
      RISK_BUYING_POWER, RISK_CONCENTRATION};
  for (size_t i = 0; i < DTO_ARRAY_LEN(must); i++)
    if (seen[must[i]] == 0)
      fail_msg("no decision %s in %" PRIu64 " orders",
               risk_reason_name(must[i]), orders);
  print_message("property: %" PRIu64 " orders, %" PRIu64
                " accepted opening; refusals: qty %" PRIu64 " pos %" PRIu64
                " gross %" PRIu64 " net %" PRIu64 " open %" PRIu64 "\n",
                orders, opening_ok, seen[RISK_MAX_ORDER_QTY],
                seen[RISK_MAX_POS_QTY], seen[RISK_MAX_GROSS],
                seen[RISK_MAX_NET], seen[RISK_MAX_OPEN_ORDERS]);
}

/* ---- pattern day trader -------------------------------------------------- */

/* A round trip from minute m0 of the session: after bar m0, buy 10 (fills
 * at the next bar's open); after bar m0 + 2, sell 10 (a day trade, fills at
 * bar m0 + 3).  want_refused: the sell is refused by the PDT rule. */
static void pdt_day(world *w, const session *se, int m0, bool want_refused) {
  fx p = F("10");
  dto_time t = se->open + m0 * DTO_NS_PER_MIN;
  feed_flat(w, 0, t, p);
  assert_int_equal(MKT_BUY(w, "10"), 0);
  feed_flat(w, 0, t + DTO_NS_PER_MIN, p);
  feed_flat(w, 0, t + 2 * DTO_NS_PER_MIN, p);
  {
    int rc = MKT_SELL(w, "10");
    if (want_refused) {
      assert_int_equal(rc, DTO_EREJECT);
      assert_int_equal(w->last.reason, RISK_PDT);
      assert_fx(w->last.value, "4");
      assert_fx(w->last.limit, "3");
      assert_int_equal(w->last.scope, 1);
    } else {
      assert_int_equal(rc, 0);
    }
  }
  feed_flat(w, 0, t + 3 * DTO_NS_PER_MIN, p);
}

static void run_pdt(const char *cash, bool small) {
  world *w = world_new(cash);
  w->al[0].pdt = true;
  session d[6] = {day(2025, 2, 3), day(2025, 2, 4), day(2025, 2, 5),
                  day(2025, 2, 6), day(2025, 2, 7), day(2025, 2, 10)};
  world_start(w, d[0].open - DTO_NS_PER_HOUR);
  pdt_day(w, &d[0], 0, false); /* Mon: day trade 1 */
  pdt_day(w, &d[1], 0, false); /* Tue: 2 */
  pdt_day(w, &d[2], 0, false); /* Wed: 3 */
  pdt_day(w, &d[3], 0, small); /* Thu: the 4th in 5 days */
  const portfolio *pf = engine_portfolio(w->e);
  assert_int_equal(portfolio_day_trades_total(pf, 0), small ? 3 : 4);
  assert_fx(pos(w, 0), small ? "10" : "0");
  if (small) {
    /* Fri: selling Thursday's position is no day trade */
    feed_flat(w, 0, d[4].open, F("10"));
    assert_int_equal(MKT_SELL(w, "10"), 0);
    feed_flat(w, 0, d[4].open + DTO_NS_PER_MIN, F("10"));
    assert_fx(pos(w, 0), "0");
    /* ...but another round trip is: still 3 in Mon-Fri */
    pdt_day(w, &d[4], 2, true);
    assert_fx(pos(w, 0), "10");
    feed_flat(w, 0, d[5].open, F("10"));
    assert_int_equal(MKT_SELL(w, "10"), 0); /* opened Friday */
    /* next Monday: Monday's trade has left the window (Tue-Mon: 2) */
    pdt_day(w, &d[5], 1, false);
    assert_fx(pos(w, 0), "0");
    assert_int_equal(portfolio_day_trades_total(pf, 0), 4);
    assert_int_equal(risk_refusals(engine_risk(w->e), RISK_PDT), 2);
  } else {
    pdt_day(w, &d[4], 0, false);
    pdt_day(w, &d[5], 0, false);
    assert_int_equal(portfolio_day_trades_total(pf, 0), 6);
    assert_int_equal(risk_refusals(engine_risk(w->e), RISK_PDT), 0);
  }
  world_free(w);
}

static void test_pdt_20k(void **state) {
  (void)state;
  run_pdt("20000", true);
}

static void test_pdt_30k(void **state) {
  (void)state;
  run_pdt("30000", false);
}

/* ---- daily loss ---------------------------------------------------------- */

/* Long 1000 from 10.00; every bar closes 5 cents lower: the loss is 50 x
 * (k - 1) after bar k, and reaches the 500 limit at bar 11. */
static void test_daily_loss(void **state) {
  (void)state;
  world *w = world_new("100000");
  w->al[0].max_daily_loss = F("500");
  session d1 = day(2025, 2, 3), d2 = day(2025, 2, 4);
  world_start(w, d1.open - DTO_NS_PER_HOUR);
  const risk *rk = engine_risk(w->e);
  fx step = F("0.05"), p = F("10");
  feed_flat(w, 0, d1.open, p);
  assert_int_equal(MKT_BUY(w, "1000"), 0);
  for (int k = 2; k <= 10; k++, p -= step)
    feed(w, 0, d1.open + (k - 1) * DTO_NS_PER_MIN, p, p, p - step, p - step);
  assert_fx(pos(w, 0), "1000");
  assert_fx(portfolio_account_equity(engine_portfolio(w->e), 0), "99550");
  assert_int_equal(risk_mode_of(rk, 1, 0), MODE_ACTIVE);
  assert_int_equal(w->nalerts, 0);
  assert_int_equal(MKT_BUY(w, "1"), 0); /* still open: 450 lost */
  feed(w, 0, d1.open + 10 * DTO_NS_PER_MIN, p, p, p - step, p - step);
  p -= step;
  /* bar 11 closed at 9.50: 1000 x 0.50 + 1 x 0.05 lost, the limit crossed */
  assert_int_equal(risk_mode_of(rk, 1, 0), MODE_REDUCING);
  assert_int_equal(risk_mode_reason(rk, 1, 0), RISK_DAILY_LOSS);
  assert_true(has_alert(w, "max_daily_loss", 1, 0));
  assert_int_equal(w->nalerts, 1);
  /* opening orders are refused, naming the daily loss */
  assert_int_equal(MKT_BUY(w, "1"), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_DAILY_LOSS);
  assert_int_equal(w->last.scope, 1);
  assert_int_equal(submit(w, 0, SIDE_BUY, ORD_LIMIT, TIF_DAY, "5", "9", NULL),
                   DTO_EREJECT);
  assert_int_equal(submit(w, 1, SIDE_SELL, ORD_LIMIT, TIF_DAY, "5", "9", NULL),
                   DTO_EREJECT);
  /* selling more than is held would open a short: refused */
  assert_int_equal(MKT_SELL(w, "1002"), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_DAILY_LOSS);
  /* a closing order passes and fills */
  assert_int_equal(MKT_SELL(w, "600"), 0);
  assert_int_equal(w->last.reason, RISK_OK);
  feed_flat(w, 0, d1.open + 11 * DTO_NS_PER_MIN, p);
  assert_fx(pos(w, 0), "401");
  /* ...and so does the rest, but no more */
  assert_int_equal(MKT_SELL(w, "401"), 0);
  assert_int_equal(MKT_SELL(w, "1"), DTO_EREJECT);
  feed_flat(w, 0, d1.open + 12 * DTO_NS_PER_MIN, p);
  assert_fx(pos(w, 0), "0");
  assert_int_equal(risk_mode_of(rk, 1, 0), MODE_REDUCING);
  assert_int_equal(w->nalerts, 1); /* one alert per crossing */
  /* the next trading day it is ACTIVE again */
  feed_flat(w, 0, d2.open, p);
  assert_int_equal(risk_mode_of(rk, 1, 0), MODE_ACTIVE);
  assert_int_equal(MKT_BUY(w, "100"), 0);
  assert_int_equal(w->last.reason, RISK_OK);
  world_free(w);
}

/* The same through the strategy's own limit and a trade feed: the day rolls
 * and the limit trips on trades as on bars. */
static void test_daily_loss_strategy_trades(void **state) {
  (void)state;
  world *w = world_new("100000");
  w->sl[0].max_daily_loss = F("100");
  session d1 = day(2025, 2, 3), d2 = day(2025, 2, 4);
  world_start(w, d1.open - DTO_NS_PER_HOUR);
  const risk *rk = engine_risk(w->e);
  feed_flat(w, 0, d1.open, F("10"));
  assert_int_equal(MKT_BUY(w, "100"), 0);
  feed_flat(w, 0, d1.open + DTO_NS_PER_MIN, F("10"));
  assert_fx(pos(w, 0), "100");
  trade t = {d1.open + 3 * DTO_NS_PER_MIN, F("9.01"), F("100"), 0};
  sim_clock_set(&w->sim, t.ts);
  engine_on_trade(w->e, &t);
  assert_int_equal(risk_mode_of(rk, 2, 0), MODE_ACTIVE);
  t.ts += DTO_NS_PER_SEC;
  t.price = F("9");
  sim_clock_set(&w->sim, t.ts);
  engine_on_trade(w->e, &t);
  assert_int_equal(risk_mode_of(rk, 2, 0), MODE_REDUCING);
  assert_true(has_alert(w, "max_daily_loss", 2, 0));
  assert_int_equal(MKT_BUY(w, "1"), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_DAILY_LOSS);
  assert_int_equal(w->last.scope, 2);
  /* the next day's first trade lifts it */
  t.ts = d2.open + DTO_NS_PER_SEC;
  sim_clock_set(&w->sim, t.ts);
  engine_on_trade(w->e, &t);
  assert_int_equal(risk_mode_of(rk, 2, 0), MODE_ACTIVE);
  assert_int_equal(MKT_BUY(w, "1"), 0);
  world_free(w);
}

/* ---- kill switch ----------------------------------------------------------
 */

static void test_kill_switch(void **state) {
  (void)state;
  world *w = world_new("10000000");
  session d1 = day(2025, 2, 3);
  world_start(w, d1.open - DTO_NS_PER_HOUR);
  feed_flat(w, 0, d1.open, F("10"));
  for (int i = 0; i < 1000; i++) {
    char px[16];
    snprintf(px, sizeof px, "%d.%02d", 1 + (i % 400) / 100, i % 100);
    assert_int_equal(submit(w, (sym_id)(i % NSYM), SIDE_BUY, ORD_LIMIT,
                            i % 2 ? TIF_GTC : TIF_DAY, "1", px, NULL),
                     0);
  }
  assert_int_equal(engine_working_orders(w->e), 1000);
  assert_int_equal(matcher_working(w->m), 1000);
  assert_int_equal(engine_kill(w->e, true, "test"), 1000);
  engine_pump(w->e);
  assert_int_equal(engine_working_orders(w->e), 0);
  assert_int_equal(matcher_working(w->m), 0);
  assert_true(engine_killed(w->e));
  assert_true(has_alert(w, "kill_switch", 3, 0));
  /* new orders are refused, closing ones included */
  assert_int_equal(MKT_BUY(w, "1"), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_KILL_SWITCH);
  assert_int_equal(w->last.scope, 3);
  assert_int_equal(submit(w, 2, SIDE_SELL, ORD_LIMIT, TIF_GTC, "1", "11", NULL),
                   DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_KILL_SWITCH);
  /* a reload of the limits does not release it; a bad one changes nothing */
  w->al[0].max_open_orders = 5;
  assert_int_equal(engine_reload_risk(w->e, &w->rc), 0);
  assert_true(engine_killed(w->e));
  w->al[0].max_open_orders = -1;
  assert_int_equal(engine_reload_risk(w->e, &w->rc), DTO_EINVAL);
  assert_int_equal(risk_account(engine_risk(w->e), 0)->max_open_orders, 5);
  /* time passes: still blocked, nothing works */
  feed_flat(w, 0, d1.open + DTO_NS_PER_MIN, F("10"));
  assert_int_equal(MKT_BUY(w, "1"), DTO_EREJECT);
  assert_int_equal(engine_working_orders(w->e), 0);
  /* a person releases it */
  assert_int_equal(engine_kill(w->e, false, "test"), 0);
  assert_false(engine_killed(w->e));
  assert_int_equal(submit(w, 0, SIDE_BUY, ORD_LIMIT, TIF_DAY, "1", "5", NULL),
                   0);
  assert_int_equal(w->last.reason, RISK_OK);
  assert_int_equal(engine_working_orders(w->e), 1);
  assert_int_equal(risk_refusals(engine_risk(w->e), RISK_KILL_SWITCH), 3);
  world_free(w);
}

/* A person halts the strategy: its working orders go, nothing new passes. */
static void test_set_mode_halted(void **state) {
  (void)state;
  world *w = world_new("100000");
  session d1 = day(2025, 2, 3);
  world_start(w, d1.open - DTO_NS_PER_HOUR);
  feed_flat(w, 0, d1.open, F("10"));
  for (int i = 0; i < 5; i++)
    assert_int_equal(submit(w, 0, SIDE_BUY, ORD_LIMIT, TIF_GTC, "1", "9", NULL),
                     0);
  assert_int_equal(engine_set_mode(w->e, 2, 0, MODE_HALTED, "test"), 0);
  assert_int_equal(engine_working_orders(w->e), 0);
  assert_int_equal(MKT_BUY(w, "1"), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_HALTED);
  assert_int_equal(engine_set_mode(w->e, 3, 0, MODE_ACTIVE, "x"), DTO_EINVAL);
  assert_int_equal(engine_set_mode(w->e, 2, 1, MODE_ACTIVE, "x"), DTO_EINVAL);
  assert_int_equal(engine_set_mode(w->e, 2, 0, MODE_ACTIVE, "test"), 0);
  assert_int_equal(MKT_BUY(w, "1"), 0);
  world_free(w);
}

/* ---- end-of-day flatten -------------------------------------------------- */

typedef struct eod {
  session se;
  int entries_refused, entries_ok_late;
  int bars;
} eod;

/* The strategy's day: long AAA and short BBB from 10:00, each with a far
 * GTC exit on the closing side (a take-profit: the flatten must cancel it
 * and still close the position), a far GTC limit buy in CCC; in the last
 * minutes it keeps trying to add to AAA. */
static void eod_bar(world *w, const bar *b) {
  eod *x = w->user;
  if (b->sym != 0)
    return;
  x->bars++;
  dto_time end = bar_end(b);
  if (end == x->se.open + 30 * DTO_NS_PER_MIN) {
    assert_int_equal(strat_submit(w->s,
                                  &(order_req){.sym = 0,
                                               .side = SIDE_BUY,
                                               .type = ORD_MARKET,
                                               .tif = TIF_DAY,
                                               .qty = F("100")},
                                  NULL),
                     0);
    assert_int_equal(strat_submit(w->s,
                                  &(order_req){.sym = 1,
                                               .side = SIDE_SELL,
                                               .type = ORD_MARKET,
                                               .tif = TIF_DAY,
                                               .qty = F("50")},
                                  NULL),
                     0);
    assert_int_equal(strat_submit(w->s,
                                  &(order_req){.sym = 0,
                                               .side = SIDE_SELL,
                                               .type = ORD_LIMIT,
                                               .tif = TIF_GTC,
                                               .qty = F("100"),
                                               .limit_price = F("20")},
                                  NULL),
                     0);
    assert_int_equal(strat_submit(w->s,
                                  &(order_req){.sym = 1,
                                               .side = SIDE_BUY,
                                               .type = ORD_LIMIT,
                                               .tif = TIF_GTC,
                                               .qty = F("50"),
                                               .limit_price = F("1")},
                                  NULL),
                     0);
    assert_int_equal(strat_submit(w->s,
                                  &(order_req){.sym = 2,
                                               .side = SIDE_BUY,
                                               .type = ORD_LIMIT,
                                               .tif = TIF_GTC,
                                               .qty = F("10"),
                                               .limit_price = F("1")},
                                  NULL),
                     0);
  }
  if (end >= x->se.close - 6 * DTO_NS_PER_MIN && end < x->se.close) {
    order_req r = {.sym = 0,
                   .side = SIDE_BUY,
                   .type = ORD_LIMIT,
                   .tif = TIF_DAY,
                   .qty = F("1"),
                   .limit_price = F("9")};
    int rc = strat_submit(w->s, &r, NULL);
    if (end < x->se.close - 5 * DTO_NS_PER_MIN) {
      assert_int_equal(rc, 0); /* 6 minutes before: still fine */
      x->entries_ok_late++;
    } else {
      assert_int_equal(rc, DTO_EREJECT);
      assert_int_equal(w->last.reason, RISK_NO_NEW_ENTRIES);
      x->entries_refused++;
    }
  }
}

static void test_end_of_day_flatten(void **state) {
  (void)state;
  world *w = world_new("1000000");
  w->sl[0].flatten_before_close = 5 * DTO_NS_PER_MIN;
  eod x;
  memset(&x, 0, sizeof x);
  w->user = &x;
  w->on_bar = eod_bar;
  /* a normal day, Christmas Eve (closes at 13:00), and the day after */
  session days[3] = {day(2025, 12, 23), day(2025, 12, 24), day(2025, 12, 26)};
  world_start(w, days[0].open - DTO_NS_PER_HOUR);
  for (int i = 0; i < 3; i++) {
    x.se = days[i];
    x.bars = 0;
    int refused = x.entries_refused;
    for (dto_time t = x.se.open; t < x.se.close; t += DTO_NS_PER_MIN) {
      for (sym_id y = 0; y < NSYM; y++)
        feed_flat(w, y, t, F("10"));
      if (t == x.se.open + 45 * DTO_NS_PER_MIN) { /* holding */
        assert_fx(pos(w, 0), "100");
        assert_fx(pos(w, 1), "-50");
        assert_int_equal(engine_working_orders(w->e), 3);
      }
    }
    /* at the close: flat, nothing working (the GTC order too) */
    assert_int_equal(x.bars, (int)((x.se.close - x.se.open) / DTO_NS_PER_MIN));
    for (sym_id y = 0; y < NSYM; y++)
      assert_fx(pos(w, y), "0");
    assert_int_equal(engine_working_orders(w->e), 0);
    assert_int_equal(matcher_working(w->m), 0);
    assert_int_equal(x.entries_refused - refused, 5);
  }
  assert_int_equal(x.entries_ok_late, 3);
  assert_int_equal(risk_refusals(engine_risk(w->e), RISK_NO_NEW_ENTRIES), 15);
  world_free(w);
}

/* ---- fill-loop guard and consecutive losses -------------------------------
 */

/* Bars longer than the flatten window: flattening starts at the last bar
 * that still lets the closing order fill before the close. */
static void test_flatten_long_bars(void **state) {
  (void)state;
  world *w = world_new("1000000");
  w->sl[0].flatten_before_close = 5 * DTO_NS_PER_MIN;
  session d = day(2025, 12, 23);
  world_start(w, d.open - DTO_NS_PER_HOUR);
  const dto_time q = 15 * DTO_NS_PER_MIN;
  for (dto_time t = d.open; t < d.close; t += q) {
    bar b = {t, q, F("10"), F("10"), F("10"), F("10"), F("1000000"), 0};
    sim_clock_set(&w->sim, b.ts);
    engine_bar_open(w->e, &b);
    sim_clock_set(&w->sim, bar_end(&b));
    engine_on_bar(w->e, &b);
    if (t == d.open) { /* buy at the first bar's end */
      assert_int_equal(strat_submit(w->s,
                                    &(order_req){.sym = 0,
                                                 .side = SIDE_BUY,
                                                 .type = ORD_MARKET,
                                                 .tif = TIF_DAY,
                                                 .qty = F("100")},
                                    NULL),
                       0);
      engine_pump(w->e);
    }
  }
  /* the 15:30-15:45 bar flattened; the 15:45 bar's open filled the sell */
  assert_fx(pos(w, 0), "0");
  assert_int_equal(engine_working_orders(w->e), 0);
  world_free(w);
}

static void test_fill_loop_guard(void **state) {
  (void)state;
  world *w = world_new("100000");
  w->sl[0].fill_loop_count = 5;
  w->sl[0].fill_loop_window = DTO_NS_PER_MIN;
  session d1 = day(2025, 2, 3), d2 = day(2025, 2, 4);
  world_start(w, d1.open - DTO_NS_PER_HOUR);
  const risk *rk = engine_risk(w->e);
  feed_flat(w, 0, d1.open, F("10"));
  /* 5 fills in a minute are fine */
  for (int i = 0; i < 5; i++)
    assert_int_equal(MKT_BUY(w, "1"), 0);
  feed_flat(w, 0, d1.open + DTO_NS_PER_MIN, F("10"));
  assert_fx(pos(w, 0), "5");
  assert_int_equal(risk_mode_of(rk, 2, 0), MODE_ACTIVE);
  /* 2 minutes later, 5 more in one bar plus a working limit in BBB */
  feed_flat(w, 0, d1.open + 2 * DTO_NS_PER_MIN, F("10"));
  for (int i = 0; i < 5; i++)
    assert_int_equal(MKT_BUY(w, "1"), 0);
  assert_int_equal(submit(w, 1, SIDE_BUY, ORD_LIMIT, TIF_GTC, "1", "5", NULL),
                   0);
  feed_flat(w, 0, d1.open + 3 * DTO_NS_PER_MIN, F("10"));
  assert_int_equal(risk_mode_of(rk, 2, 0), MODE_ACTIVE);
  assert_int_equal(w->nalerts, 0);
  /* a 6th fill within the minute of those (at its edge): the guard trips */
  assert_int_equal(MKT_BUY(w, "1"), 0);
  feed_flat(w, 0, d1.open + 4 * DTO_NS_PER_MIN, F("10"));
  assert_fx(pos(w, 0), "11");
  assert_int_equal(risk_mode_of(rk, 2, 0), MODE_HALTED);
  assert_int_equal(risk_mode_reason(rk, 2, 0), RISK_HALTED);
  assert_true(has_alert(w, "fill_loop", 2, 0));
  assert_int_equal(w->nalerts, 1);
  /* the strategy's working orders were canceled; nothing passes */
  assert_int_equal(engine_working_orders(w->e), 0);
  assert_int_equal(MKT_SELL(w, "1"), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_HALTED);
  /* until a person re-enables it: not the next day */
  feed_flat(w, 0, d2.open, F("10"));
  assert_int_equal(risk_mode_of(rk, 2, 0), MODE_HALTED);
  assert_int_equal(engine_set_mode(w->e, 2, 0, MODE_ACTIVE, "test"), 0);
  assert_int_equal(MKT_SELL(w, "1"), 0);
  world_free(w);
}

static void test_consecutive_losses(void **state) {
  (void)state;
  world *w = world_new("100000");
  w->sl[0].max_consecutive_losses = 2;
  session d1 = day(2025, 2, 3), d2 = day(2025, 2, 4);
  world_start(w, d1.open - DTO_NS_PER_HOUR);
  const risk *rk = engine_risk(w->e);
  /* prices fall 10 cents a bar: every round trip loses */
  fx p = F("20"), step = F("0.1");
  dto_time t = d1.open;
  int k = 0;
  for (int trip = 0; trip < 3; trip++) {
    feed_flat(w, 0, t + k++ * DTO_NS_PER_MIN, p -= step);
    if (trip == 2)
      break;
    assert_int_equal(MKT_BUY(w, "10"), 0);
    feed_flat(w, 0, t + k++ * DTO_NS_PER_MIN, p -= step);
    feed_flat(w, 0, t + k++ * DTO_NS_PER_MIN, p -= step);
    assert_int_equal(MKT_SELL(w, "10"), 0);
    feed_flat(w, 0, t + k++ * DTO_NS_PER_MIN, p -= step);
    assert_fx(pos(w, 0), "0");
    if (trip == 0) {
      assert_int_equal(risk_mode_of(rk, 2, 0), MODE_ACTIVE);
      assert_int_equal(w->nalerts, 0);
    }
  }
  assert_int_equal(portfolio_trades_total(engine_portfolio(w->e)), 2);
  assert_int_equal(risk_mode_of(rk, 2, 0), MODE_REDUCING);
  assert_int_equal(risk_mode_reason(rk, 2, 0), RISK_REDUCING_ONLY);
  assert_true(has_alert(w, "consecutive_losses", 2, 0));
  assert_int_equal(w->nalerts, 1);
  assert_int_equal(MKT_BUY(w, "1"), DTO_EREJECT);
  assert_int_equal(w->last.reason, RISK_REDUCING_ONLY);
  assert_int_equal(MKT_SELL(w, "1"), DTO_EREJECT); /* would open a short */
  /* the next day it still holds */
  feed_flat(w, 0, d2.open, F("10"));
  assert_int_equal(risk_mode_of(rk, 2, 0), MODE_REDUCING);
  assert_int_equal(MKT_BUY(w, "1"), DTO_EREJECT);
  assert_int_equal(engine_set_mode(w->e, 2, 0, MODE_ACTIVE, "test"), 0);
  assert_int_equal(MKT_BUY(w, "1"), 0);
  world_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_property_random_streams),
      cmocka_unit_test(test_pdt_20k),
      cmocka_unit_test(test_pdt_30k),
      cmocka_unit_test(test_daily_loss),
      cmocka_unit_test(test_daily_loss_strategy_trades),
      cmocka_unit_test(test_kill_switch),
      cmocka_unit_test(test_set_mode_halted),
      cmocka_unit_test(test_end_of_day_flatten),
      cmocka_unit_test(test_flatten_long_bars),
      cmocka_unit_test(test_fill_loop_guard),
      cmocka_unit_test(test_consecutive_losses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
