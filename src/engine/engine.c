/* engine.c - event dispatch, strategy host, order flow and report handling. */
#include "engine/engine.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

typedef struct timer {
  dto_time at;
  uint64_t seq; /* ties broken by creation order: deterministic */
  uint32_t strat;
  uint64_t tag;
} timer;

typedef struct sub {
  uint32_t strat;
  uint32_t slot; /* index into the strategy's symbol list */
} sub;

typedef struct symsubs {
  sub *v;
  size_t n, cap;
  uint32_t working; /* working orders in this instrument */
  fx ref_price;      /* reference price for risk: last trade, close or mid */
  dto_time ref_time;
  dto_time day_from, day_until; /* the current exchange day, UTC */
  bool flatten; /* some subscriber has flatten_before_close */
  session sess;
  bool have_sess;
} symsubs;

struct strat {
  engine *e;
  const strategy_def *def;
  const char *id;
  uint32_t index, account;
  sym_id *syms;
  size_t nsyms;
  fx allocation;
  param_value *params;
  void *state;
  char *sym_state; /* nsyms * def->sym_state_size */
  uint32_t seq;    /* client order id sequence for cloid_day */
  int64_t cloid_day;
  uint32_t *open_per_sym; /* working orders per slot */
  uint32_t open_total;
  int64_t *flattened_day; /* per slot: the day flatten_before_close ran */
  fx day_start, day_peak; /* equity at the day's start and its peak */
};

struct engine {
  engine_config cfg;
  strat *st;
  size_t nst, stcap;
  symsubs *subs; /* per instrument */
  oms *oms;
  risk *risk;
  portfolio *pf;
  timer *timers; /* binary min-heap */
  size_t ntimers, tcap;
  uint64_t tseq;
  size_t working;
  uint64_t fills;
  bool started;
  broker_report rep[64];
  order_id *scratch; /* a copy of the open ids while walking them */
  size_t scap;
  /* Broker calls only when they can matter (see broker.h): */
  bool touched;    /* a call since the last poll may have made reports */
  bool poll_always; /* the broker reports on its own (live brokers) */
  bool idle_bars;   /* the broker wants bars even without working orders */
  bool stopping;    /* engine_stop: no new exits for canceled entries */
  /* per account: working orders, day P&L tracking */
  uint32_t *acct_open;
  fx *acct_day_start, *acct_day_peak;
  int64_t day; /* exchange day of the latest event */
  bool pnl_limits; /* some daily loss or drawdown limit is set */
  /* risk_input_for's per-instrument scratch: the account's working buys
   * and sells (leaves, and leaves valued at limit or reference price) */
  fx *wk_buy, *wk_sell, *wk_buy_v, *wk_sell_v;
};

static void on_round_trip(void *ctx, const trade_rec *t);
static void alert(engine *e, const char *code, int scope, uint32_t index,
                  const char *msg);
static void new_day(engine *e, int64_t day);
static void check_pnl(engine *e, sym_id sym);
static void flatten_due_slow(engine *e, sym_id sym, dto_time t,
                             dto_time ahead);
static void update_flatten_flags(engine *e);

/* Flatten before the close, when some subscriber of sym asks for it. */
#define flatten_due(e, sym, t, ahead)                                          \
  do {                                                                         \
    if (DTO_UNLIKELY((e)->subs[(sym)].flatten))                                \
      flatten_due_slow((e), (sym), (t), (ahead));                              \
  } while (0)

/* ---- observers ----------------------------------------------------------- */

static void on_transition(void *ctx, const order *o, enum order_state from,
                          enum order_state to, bool legal) {
  engine *e = ctx;
  if (legal) {
    bool was = order_is_working(from), is = order_is_working(to);
    if (was != is) {
      strat *s = &e->st[o->strategy];
      size_t slot = 0;
      while (slot < s->nsyms && s->syms[slot] != o->sym)
        slot++;
      int d = is ? 1 : -1;
      e->working += (size_t)d;
      e->subs[o->sym].working += (uint32_t)d;
      e->acct_open[o->account] += (uint32_t)d;
      s->open_total += (uint32_t)d;
      if (slot < s->nsyms)
        s->open_per_sym[slot] += (uint32_t)d;
    }
  } else {
    log_line l;
    if (log_begin(&l, e->cfg.log, LOG_ERROR, "order.illegal_transition")) {
      log_str(&l, "cloid", o->cloid);
      log_str(&l, "from", order_state_name(from));
      log_str(&l, "to", order_state_name(to));
      log_end(&l);
    }
  }
  if (e->cfg.hooks.order_changed)
    e->cfg.hooks.order_changed(e->cfg.hooks.ctx, o, from, to, legal);
}

/* ---- set-up -------------------------------------------------------------- */

engine *engine_new(const engine_config *cfg) {
  engine *e = xcalloc(1, sizeof *e);
  e->cfg = *cfg;
  e->subs = xcalloc(cfg->instruments->n ? cfg->instruments->n : 1,
                    sizeof *e->subs);
  e->oms = oms_new(on_transition, e);
  e->poll_always = !cfg->broker->sync_reports;
  e->idle_bars = !cfg->broker->needs_idle_bars ||
                 cfg->broker->needs_idle_bars(cfg->broker_ctx);
  e->touched = true;
  e->acct_open = xcalloc(cfg->naccounts ? cfg->naccounts : 1, sizeof(uint32_t));
  e->acct_day_start = xcalloc(cfg->naccounts ? cfg->naccounts : 1, sizeof(fx));
  e->acct_day_peak = xcalloc(cfg->naccounts ? cfg->naccounts : 1, sizeof(fx));
  e->day = INT64_MIN;
  size_t ni = cfg->instruments->n ? cfg->instruments->n : 1;
  e->wk_buy = xcalloc(ni, sizeof(fx));
  e->wk_sell = xcalloc(ni, sizeof(fx));
  e->wk_buy_v = xcalloc(ni, sizeof(fx));
  e->wk_sell_v = xcalloc(ni, sizeof(fx));
  return e;
}

void engine_free(engine *e) {
  if (!e)
    return;
  for (size_t i = 0; i < e->nst; i++) {
    strat *s = &e->st[i];
    free(s->syms);
    free(s->params);
    free(s->state);
    free(s->sym_state);
    free(s->open_per_sym);
    free(s->flattened_day);
  }
  free(e->st);
  for (size_t i = 0; i < e->cfg.instruments->n; i++)
    free(e->subs[i].v);
  free(e->subs);
  free(e->timers);
  free(e->scratch);
  free(e->acct_open);
  free(e->acct_day_start);
  free(e->acct_day_peak);
  free(e->wk_buy);
  free(e->wk_sell);
  free(e->wk_buy_v);
  free(e->wk_sell_v);
  oms_free(e->oms);
  risk_free(e->risk);
  portfolio_free(e->pf);
  free(e);
}

int engine_add_strategy(engine *e, const engine_strategy *d) {
  if (e->started || !d->def || d->account >= e->cfg.naccounts ||
      d->nsyms == 0)
    return DTO_EINVAL;
  for (size_t i = 0; i < d->nsyms; i++)
    if (d->syms[i] >= e->cfg.instruments->n)
      return DTO_EINVAL;
  e->st = xgrow(e->st, &e->stcap, e->nst + 1, sizeof *e->st);
  strat *s = &e->st[e->nst];
  memset(s, 0, sizeof *s);
  s->index = (uint32_t)e->nst;
  s->def = d->def;
  s->id = d->id;
  s->account = d->account;
  s->nsyms = d->nsyms;
  s->syms = xcalloc(d->nsyms, sizeof *s->syms);
  memcpy(s->syms, d->syms, d->nsyms * sizeof *s->syms);
  s->allocation = d->allocation;
  s->params = xcalloc(d->def->nparams ? d->def->nparams : 1,
                      sizeof *s->params);
  if (d->def->nparams)
    memcpy(s->params, d->params, d->def->nparams * sizeof *s->params);
  s->state = xcalloc(1, d->def->state_size ? d->def->state_size : 1);
  s->sym_state = xcalloc(d->nsyms, d->def->sym_state_size
                                       ? d->def->sym_state_size
                                       : 1);
  s->open_per_sym = xcalloc(d->nsyms, sizeof *s->open_per_sym);
  s->flattened_day = xcalloc(d->nsyms, sizeof *s->flattened_day);
  for (size_t k = 0; k < d->nsyms; k++)
    s->flattened_day[k] = INT64_MIN;
  s->cloid_day = -1;
  e->nst++;
  return 0;
}

int engine_start(engine *e) {
  /* subscriptions (pointers into e->st are stable from here on) */
  for (size_t i = 0; i < e->nst; i++) {
    strat *s = &e->st[i];
    s->e = e;
    for (size_t k = 0; k < s->nsyms; k++) {
      symsubs *ss = &e->subs[s->syms[k]];
      ss->v = xgrow(ss->v, &ss->cap, ss->n + 1, sizeof *ss->v);
      ss->v[ss->n++] = (sub){(uint32_t)i, (uint32_t)k};
    }
  }
  fx *cash = xcalloc(e->cfg.naccounts ? e->cfg.naccounts : 1, sizeof *cash);
  uint32_t *sacct = xcalloc(e->nst ? e->nst : 1, sizeof *sacct);
  fx *salloc = xcalloc(e->nst ? e->nst : 1, sizeof *salloc);
  for (size_t i = 0; i < e->cfg.naccounts; i++)
    cash[i] = e->cfg.accounts[i].cash;
  for (size_t i = 0; i < e->nst; i++) {
    sacct[i] = e->st[i].account;
    salloc[i] = e->st[i].allocation;
  }
  portfolio_config pc = {0};
  pc.naccounts = e->cfg.naccounts;
  pc.account_cash = cash;
  pc.nstrategies = e->nst;
  pc.strategy_account = sacct;
  pc.strategy_alloc = salloc;
  pc.nsyms = e->cfg.instruments->n;
  pc.on_trade = on_round_trip;
  pc.trade_ctx = e;
  e->pf = portfolio_new(&pc);
  free(cash);
  free(sacct);
  free(salloc);
  /* the risk gate: the configured limits, or every limit off */
  risk_config rc0 = {0};
  const risk_config *rcfg = e->cfg.risk;
  uint32_t *racct = NULL;
  if (!rcfg) {
    racct = xcalloc(e->nst ? e->nst : 1, sizeof *racct);
    for (size_t i = 0; i < e->nst; i++)
      racct[i] = e->st[i].account;
    rc0.naccounts = e->cfg.naccounts;
    rc0.nstrategies = e->nst;
    rc0.nsyms = e->cfg.instruments->n;
    rc0.strategy_account = racct;
    rcfg = &rc0;
  }
  int rrc = rcfg->nstrategies == e->nst && rcfg->naccounts == e->cfg.naccounts &&
                    rcfg->nsyms == e->cfg.instruments->n
                ? risk_new(rcfg, &e->risk)
                : DTO_EINVAL;
  free(racct);
  if (rrc)
    return rrc;
  for (size_t i = 0; i < e->cfg.naccounts; i++) {
    const risk_account_limits *al = risk_account(e->risk, (uint32_t)i);
    e->pnl_limits |= al->max_daily_loss > 0 || al->max_drawdown > 0;
  }
  for (size_t i = 0; i < e->nst; i++) {
    const risk_strategy_limits *sl = risk_strategy(e->risk, (uint32_t)i);
    e->pnl_limits |= sl->max_daily_loss > 0 || sl->max_drawdown > 0;
  }
  update_flatten_flags(e);
  e->started = true;
  for (size_t i = 0; i < e->nst; i++) {
    strat *s = &e->st[i];
    if (s->def->on_start) {
      int rc = s->def->on_start(s, s->state);
      if (rc)
        return rc;
    }
  }
  engine_pump(e);
  return 0;
}

/* ---- timers -------------------------------------------------------------- */

static bool timer_less(const timer *a, const timer *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void timer_push(engine *e, timer t) {
  e->timers = xgrow(e->timers, &e->tcap, e->ntimers + 1, sizeof *e->timers);
  size_t i = e->ntimers++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!timer_less(&t, &e->timers[p]))
      break;
    e->timers[i] = e->timers[p];
    i = p;
  }
  e->timers[i] = t;
}

static timer timer_pop(engine *e) {
  timer top = e->timers[0], last = e->timers[--e->ntimers];
  size_t i = 0, n = e->ntimers;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && timer_less(&e->timers[c + 1], &e->timers[c]))
      c++;
    if (!timer_less(&e->timers[c], &last))
      break;
    e->timers[i] = e->timers[c];
    i = c;
  }
  if (n)
    e->timers[i] = last;
  return top;
}

static void fire_timers(engine *e, dto_time t) {
  while (e->ntimers && e->timers[0].at <= t) {
    timer tm = timer_pop(e);
    strat *s = &e->st[tm.strat];
    if (s->def->on_timer)
      s->def->on_timer(s, s->state, tm.tag);
    engine_pump(e);
  }
}

void engine_on_time(engine *e, dto_time t) {
  fire_timers(e, t);
  if (e->cfg.broker->on_time) {
    e->touched = true;
    e->cfg.broker->on_time(e->cfg.broker_ctx, t);
    engine_pump(e);
  }
}

/* A new exchange day (of sym's calendar) starts the day's P&L baselines
 * and lifts the daily limits' modes.  Every market-data entry point calls
 * it, so live feeds of trades or quotes roll days as bars do. */
/* A new exchange day for sym at t?  The end of sym's current local day is
 * cached, so the common case is one comparison. */
static void day_roll_slow(engine *e, sym_id sym, dto_time t) {
  symsubs *ss = &e->subs[sym];
  const instrument *ins = &e->cfg.instruments->v[sym];
  int64_t day = ins->cal ? calendar_local_day(ins->cal, t)
                         : floordiv64(t, DTO_NS_PER_DAY);
  ss->day_from = ins->cal ? calendar_day_start(ins->cal, day)
                          : day * DTO_NS_PER_DAY;
  ss->day_until = ins->cal ? calendar_day_start(ins->cal, day + 1)
                           : (day + 1) * DTO_NS_PER_DAY;
  if (DTO_UNLIKELY(day > e->day))
    new_day(e, day);
}

static inline void day_roll(engine *e, sym_id sym, dto_time t) {
  const symsubs *ss = &e->subs[sym];
  if (DTO_UNLIKELY(t < ss->day_from || t >= ss->day_until))
    day_roll_slow(e, sym, t);
}

void engine_bar_open(engine *e, const bar *b) {
  day_roll(e, b->sym, b->ts);
  fire_timers(e, b->ts);
  const broker_ops *br = e->cfg.broker;
  /* A simulating broker has nothing to do on a bar of an instrument
   * without working orders, or with time when no order works at all. */
  if (br->on_time && e->working) {
    e->touched = true;
    br->on_time(e->cfg.broker_ctx, b->ts);
  }
  if (br->on_bar && (e->idle_bars || e->subs[b->sym].working)) {
    e->touched = true;
    br->on_bar(e->cfg.broker_ctx, b);
  }
  engine_pump(e);
}

/* ---- market data --------------------------------------------------------- */

void engine_broker_bar(engine *e, const bar *b) {
  day_roll(e, b->sym, b->ts);
  if (e->cfg.broker->on_bar) {
    e->touched = true;
    e->cfg.broker->on_bar(e->cfg.broker_ctx, b);
    engine_pump(e);
  }
}

void engine_on_bar(engine *e, const bar *b) {
  portfolio_mark(e->pf, b->sym, b->close);
  symsubs *ss = &e->subs[b->sym];
  ss->ref_price = b->close;
  ss->ref_time = bar_end(b);
  if (DTO_UNLIKELY(e->pnl_limits))
    check_pnl(e, b->sym);
  flatten_due(e, b->sym, bar_end(b), b->dur);
  for (size_t i = 0; i < ss->n; i++) {
    strat *s = &e->st[ss->v[i].strat];
    if (s->def->on_bar)
      s->def->on_bar(s, s->state,
                     s->sym_state + ss->v[i].slot * s->def->sym_state_size, b);
  }
  engine_pump(e);
}

void engine_on_trade(engine *e, const trade *t) {
  day_roll(e, t->sym, t->ts);
  if (e->cfg.broker->on_trade) {
    e->touched = true;
    e->cfg.broker->on_trade(e->cfg.broker_ctx, t);
    engine_pump(e);
  }
  portfolio_mark(e->pf, t->sym, t->price);
  symsubs *ss = &e->subs[t->sym];
  ss->ref_price = t->price;
  ss->ref_time = t->ts;
  /* daily limits and the end-of-day flatten follow trades as they follow
   * bars */
  if (DTO_UNLIKELY(e->pnl_limits))
    check_pnl(e, t->sym);
  flatten_due(e, t->sym, t->ts, 0);
  for (size_t i = 0; i < ss->n; i++) {
    strat *s = &e->st[ss->v[i].strat];
    if (s->def->on_trade)
      s->def->on_trade(s, s->state,
                       s->sym_state + ss->v[i].slot * s->def->sym_state_size,
                       t);
  }
  engine_pump(e);
}

void engine_on_quote(engine *e, const quote *q) {
  day_roll(e, q->sym, q->ts);
  if (e->cfg.broker->on_quote) {
    e->touched = true;
    e->cfg.broker->on_quote(e->cfg.broker_ctx, q);
    engine_pump(e);
  }
  symsubs *ss = &e->subs[q->sym];
  if (q->bid > 0 && q->ask >= q->bid) {
    ss->ref_price = q->bid + (q->ask - q->bid) / 2;
    ss->ref_time = q->ts;
  }
  flatten_due(e, q->sym, q->ts, 0);
  for (size_t i = 0; i < ss->n; i++) {
    strat *s = &e->st[ss->v[i].strat];
    if (s->def->on_quote)
      s->def->on_quote(s, s->state,
                       s->sym_state + ss->v[i].slot * s->def->sym_state_size,
                       q);
  }
  engine_pump(e);
}

/* ---- order flow ---------------------------------------------------------- */

static dto_time now(const engine *e) { return clock_now(e->cfg.clock); }

static int64_t exchange_day(const engine *e, sym_id sym, dto_time t) {
  const instrument *in = &e->cfg.instruments->v[sym];
  if (in->cal)
    return calendar_local_day(in->cal, t);
  return floordiv64(t, DTO_NS_PER_DAY);
}

static void notify(engine *e, const order *o) {
  strat *s = &e->st[o->strategy];
  if (s->def->on_order)
    s->def->on_order(s, s->state, o);
}

static void log_order(engine *e, const char *ev, const order *o) {
  log_line l;
  if (!log_begin(&l, e->cfg.log, LOG_INFO, ev))
    return;
  log_str(&l, "cloid", o->cloid);
  log_str(&l, "symbol", e->cfg.instruments->v[o->sym].symbol);
  log_str(&l, "side", order_side_name(o->side));
  log_str(&l, "type", order_type_name(o->type));
  log_str(&l, "tif", tif_name(o->tif));
  log_fx(&l, "qty", o->qty);
  if (o->limit_price)
    log_fx(&l, "limit", o->limit_price);
  if (o->stop_price)
    log_fx(&l, "stop", o->stop_price);
  log_str(&l, "state", order_state_name(o->state));
  /* the gate's decision: "pass", or the check that refused the order */
  log_str(&l, "risk", o->risk ? risk_reason_name((enum risk_reason)o->risk)
                              : "pass");
  log_end(&l);
}

/* Validate a request against the instrument; DTO_EINVAL on error. */
static int check_req(const engine *e, const strat *s, const order_req *r) {
  if (r->sym >= e->cfg.instruments->n || (unsigned)r->side >= SIDE_COUNT ||
      (unsigned)r->type >= ORD_TYPE_COUNT || (unsigned)r->tif >= TIF_COUNT)
    return DTO_EINVAL;
  bool mine = false;
  for (size_t i = 0; i < s->nsyms; i++)
    mine |= s->syms[i] == r->sym;
  if (!mine)
    return DTO_EINVAL;
  const instrument *in = &e->cfg.instruments->v[r->sym];
  if (r->qty <= 0 || !fx_is_multiple(r->qty, in->lot))
    return DTO_EINVAL;
  if ((r->type == ORD_LIMIT || r->type == ORD_STOP_LIMIT) &&
      (r->limit_price <= 0 || !fx_is_multiple(r->limit_price, in->tick)))
    return DTO_EINVAL;
  if ((r->type == ORD_STOP || r->type == ORD_STOP_LIMIT) &&
      (r->stop_price <= 0 || !fx_is_multiple(r->stop_price, in->tick)))
    return DTO_EINVAL;
  if (r->type == ORD_TRAILING_STOP && r->trail <= 0)
    return DTO_EINVAL;
  if (r->take_profit < 0 || r->stop_loss < 0)
    return DTO_EINVAL; /* 0 means "none"; a negative exit is a mistake */
  if ((r->take_profit || r->stop_loss) &&
      (r->type != ORD_MARKET && r->type != ORD_LIMIT))
    return DTO_EINVAL;
  if ((r->take_profit && !fx_is_multiple(r->take_profit, in->tick)) ||
      (r->stop_loss && !fx_is_multiple(r->stop_loss, in->tick)))
    return DTO_EINVAL;
  return 0;
}

/* An alert event: to the log and to the hook (the notifiers later). */
static void alert(engine *e, const char *code, int scope, uint32_t index,
                  const char *msg) {
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_WARN, "alert")) {
    log_str(&l, "code", code);
    log_str(&l, "scope", scope == 1 ? "account" : scope == 2 ? "strategy"
                                                             : "global");
    if (scope == 1)
      log_str(&l, "account", e->cfg.accounts[index].id);
    else if (scope == 2)
      log_str(&l, "strategy", e->st[index].id);
    log_str(&l, "msg", msg);
    log_end(&l);
  }
  if (e->cfg.hooks.alert)
    e->cfg.hooks.alert(e->cfg.hooks.ctx, code, scope, index, msg);
}

/* a+b saturated at +-FX_MAX: exposure sums must not wrap. */
static fx sat_add(fx a, fx b) {
  fx r;
  if (fx_add(a, b, &r) == 0)
    return r;
  return a > 0 ? FX_MAX : -FX_MAX;
}

static fx account_equity(const engine *e, uint32_t a) {
  return portfolio_account_equity(e->pf, a);
}

/* Everything the risk gate needs to know about order o, from engine state.
 * Aggregates are O(symbols + working orders). */
static void risk_input_for(engine *e, const order *o, risk_input *in) {
  const portfolio *pf = e->pf;
  const instrument *ins = &e->cfg.instruments->v[o->sym];
  symsubs *sy = &e->subs[o->sym];
  dto_time t = now(e);
  memset(in, 0, sizeof *in);
  in->now = t;
  in->ref_price = sy->ref_price;
  in->ref_time = sy->ref_time;
  in->tick = ins->tick;
  in->shortable = ins->shortable;
  in->acct_pos = portfolio_account_pos(pf, o->account, o->sym)->qty;
  in->strat_pos = portfolio_strategy_pos(pf, o->strategy, o->sym)->qty;
  in->acct_equity = account_equity(e, o->account);
  in->acct_cash = portfolio_account_cash(pf, o->account);
  /* the account's working orders per instrument */
  size_t nins = e->cfg.instruments->n;
  memset(e->wk_buy, 0, nins * sizeof(fx));
  memset(e->wk_sell, 0, nins * sizeof(fx));
  memset(e->wk_buy_v, 0, nins * sizeof(fx));
  memset(e->wk_sell_v, 0, nins * sizeof(fx));
  size_t nopen;
  const order_id *open = oms_open_ids(e->oms, &nopen);
  for (size_t i = 0; i < nopen; i++) {
    const order *w = oms_cget(e->oms, open[i]);
    /* the order itself, the one it replaces and its bracket peer do not
     * count: one of two exits that cancel each other can ever fill */
    if (!w || w->account != o->account || w->id == o->id ||
        w->id == o->replaces || (o->peer != ORDER_NONE && w->id == o->peer) ||
        !order_is_working(w->state))
      continue;
    if (w->peer != ORDER_NONE && w->peer < w->id) { /* a pair counts once */
      const order *p = oms_cget(e->oms, w->peer);
      if (p && order_is_working(p->state) && p->id != o->id)
        continue;
    }
    fx leaves = order_leaves(w);
    fx px = w->limit_price ? w->limit_price : e->subs[w->sym].ref_price;
    fx v = 0;
    if (fx_mul(leaves, px, &v))
      v = FX_MAX;
    if (w->state == OS_PENDING_CANCEL && w->sym == o->sym) {
      if (w->side == SIDE_BUY)
        in->acct_canceling_buy = sat_add(in->acct_canceling_buy, leaves);
      else
        in->acct_canceling_sell = sat_add(in->acct_canceling_sell, leaves);
    }
    if (w->side == SIDE_BUY) {
      e->wk_buy[w->sym] = sat_add(e->wk_buy[w->sym], leaves);
      e->wk_buy_v[w->sym] = sat_add(e->wk_buy_v[w->sym], v);
      in->acct_open_buy_value = sat_add(in->acct_open_buy_value, v);
    } else {
      e->wk_sell[w->sym] = sat_add(e->wk_sell[w->sym], leaves);
      e->wk_sell_v[w->sym] = sat_add(e->wk_sell_v[w->sym], v);
    }
  }
  in->acct_open_buy = e->wk_buy[o->sym];
  in->acct_open_sell = e->wk_sell[o->sym];
  /* exposure of the other symbols, working orders filled in the worse
   * direction, at reference prices (the mark when there is none yet; the
   * orders' own prices when there is neither) */
  fx gross = 0, lng = 0, sht = 0;
  for (size_t y = 0; y < nins; y++) {
    if (y == o->sym)
      continue;
    fx q = portfolio_account_pos(pf, o->account, (sym_id)y)->qty;
    if (!q && !e->wk_buy[y] && !e->wk_sell[y])
      continue;
    fx py = e->subs[y].ref_price > 0 ? e->subs[y].ref_price
                                     : portfolio_last(pf, (sym_id)y);
    fx lv, sv;
    if (py > 0) {
      fx lq = sat_add(q, e->wk_buy[y]), sq = sat_add(q, -e->wk_sell[y]);
      if (fx_mul(lq, py, &lv))
        lv = lq > 0 ? FX_MAX : -FX_MAX;
      if (fx_mul(sq, py, &sv))
        sv = sq > 0 ? FX_MAX : -FX_MAX;
    } else { /* no price: no position either, only limit orders */
      lv = e->wk_buy_v[y];
      sv = -e->wk_sell_v[y];
    }
    gross = sat_add(gross, fx_max(fx_abs(lv), fx_abs(sv)));
    lng = sat_add(lng, lv);
    sht = sat_add(sht, sv);
  }
  in->acct_other_gross = gross;
  in->acct_other_long = lng;
  in->acct_other_short = sht;
  in->acct_open_orders = (int)e->acct_open[o->account];
  in->strat_open_orders = (int)e->st[o->strategy].open_total;
  if (o->replaces != ORDER_NONE) { /* the replaced order goes away */
    in->acct_open_orders -= in->acct_open_orders > 0;
    in->strat_open_orders -= in->strat_open_orders > 0;
  }
  session ss;
  in->session = RISK_SESS_REGULAR;
  if (ins->cal) {
    int64_t day = calendar_local_day(ins->cal, t);
    if (!calendar_session(ins->cal, day, &ss) || t < ss.pre_open ||
        t >= ss.post_close)
      in->session = RISK_SESS_CLOSED;
    else if (t < ss.open || t >= ss.close)
      in->session = RISK_SESS_EXTENDED;
    if (in->session != RISK_SESS_CLOSED)
      in->session_close = ss.close;
    in->minute_of_day = calendar_minute_of_day(ins->cal, t);
    const position *ap = portfolio_account_pos(pf, o->account, o->sym);
    in->would_day_trade = ap->qty != 0 && ap->open_day == day &&
                          ((ap->qty > 0) != (o->side == SIDE_BUY));
    in->day_trades = portfolio_day_trades_since(
        pf, o->account, calendar_trading_days_back(ins->cal, day, 5));
  }
  in->acct_day_pnl = in->acct_equity - e->acct_day_start[o->account];
  in->acct_drawdown = e->acct_day_peak[o->account] > in->acct_equity
                          ? e->acct_day_peak[o->account] - in->acct_equity
                          : 0;
  const strat *s = &e->st[o->strategy];
  fx se = portfolio_strategy_equity(pf, o->strategy);
  in->strat_day_pnl = se - s->day_start;
  in->strat_drawdown = s->day_peak > se ? s->day_peak - se : 0;
}

/* Run the gate on o; on refusal the order is rejected and recorded. */
static enum risk_reason gate(engine *e, order *o) {
  risk_input in;
  risk_decision d;
  risk_input_for(e, o, &in);
  enum risk_reason why = risk_check(e->risk, o, &in, &d);
  if (e->cfg.hooks.risk_decision)
    e->cfg.hooks.risk_decision(e->cfg.hooks.ctx, o, &d);
  if (why != RISK_OK) {
    log_line l;
    if (log_begin(&l, e->cfg.log, LOG_INFO, "risk.refused")) {
      log_str(&l, "cloid", o->cloid);
      log_str(&l, "check", risk_reason_name(why));
      log_fx(&l, "value", d.value);
      log_fx(&l, "limit", d.limit);
      log_end(&l);
    }
  }
  return why;
}

/* Create, risk-check and send an order built from tmpl. */
/* Create an order from tmpl with the strategy's next client order id and
 * pass it through the risk gate: refused, it is recorded as rejected and
 * DTO_EREJECT returned; accepted, it is pending_new and *out points to it.
 * *id (may be NULL) gets its id either way. */
static int create_gated(engine *e, strat *s, order *tmpl, dto_time t,
                        order **out, order_id *id) {
  int64_t day = exchange_day(e, tmpl->sym, t);
  if (day != s->cloid_day) {
    s->cloid_day = day;
    s->seq = 0;
  }
  char cloid[CLOID_MAX];
  oms_cloid(cloid, sizeof cloid, e->cfg.accounts[s->account].id, s->id, day,
            ++s->seq);
  tmpl->strategy = s->index;
  tmpl->account = s->account;
  const position *p = portfolio_account_pos(e->pf, s->account, tmpl->sym);
  tmpl->reducing = p->qty != 0 && ((p->qty > 0) != (tmpl->side == SIDE_BUY));
  order *o = oms_create(e->oms, tmpl, cloid, t);
  if (id)
    *id = o->id;
  enum risk_reason why = gate(e, o);
  if (why != RISK_OK) {
    o->risk = (int)why;
    oms_transition(e->oms, o, OS_REJECTED, t);
    log_order(e, "order.rejected", o);
    notify(e, o);
    return DTO_EREJECT;
  }
  oms_transition(e->oms, o, OS_PENDING_NEW, t);
  *out = o;
  return 0;
}

static int send_order(engine *e, strat *s, order *tmpl, order_id *out) {
  dto_time t = now(e);
  order *o;
  int rc = create_gated(e, s, tmpl, t, &o, out);
  if (rc)
    return rc;
  order_id id = o->id;
  log_order(e, "order.sent", o);
  e->touched = true;
  rc = e->cfg.broker->submit(e->cfg.broker_ctx, o);
  if (rc) {
    o = oms_get(e->oms, id);
    o->reason = BRR_INVALID;
    oms_transition(e->oms, o, OS_REJECTED, t);
    notify(e, o);
    return DTO_EREJECT;
  }
  return 0;
}

static void init_order(order *o) {
  memset(o, 0, sizeof *o);
  o->parent = o->peer = o->replaces = o->replaced_by = ORDER_NONE;
}

int strat_submit(strat *s, const order_req *r, order_id *id) {
  engine *e = s->e;
  int rc = check_req(e, s, r);
  if (rc)
    return rc;
  order t;
  init_order(&t);
  t.sym = r->sym;
  t.side = r->side;
  t.type = r->type;
  t.tif = r->tif;
  t.qty = r->qty;
  t.limit_price = r->limit_price;
  t.stop_price = r->stop_price;
  t.trail = r->trail;
  t.extended_hours = r->extended_hours;
  if (r->take_profit || r->stop_loss) {
    t.role = BR_ENTRY;
    t.tp_price = r->take_profit;
    t.sl_price = r->stop_loss;
  }
  return send_order(e, s, &t, id);
}

/* Place the exits of a bracket entry that finished with filled > 0. */
static void place_exits(engine *e, order_id entry_id) {
  if (e->stopping)
    return; /* a stop cancels entries; their exits would reopen risk */
  order *en = oms_get(e->oms, entry_id);
  strat *s = &e->st[en->strategy];
  order tp, sl;
  fx qty = en->filled;
  enum order_side side = en->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY;
  order_id tp_id = ORDER_NONE, sl_id = ORDER_NONE;
  bool have_tp = en->tp_price > 0, have_sl = en->sl_price > 0;
  sym_id sym = en->sym;
  fx tpp = en->tp_price, slp = en->sl_price;
  if (have_tp) {
    init_order(&tp);
    tp.sym = sym;
    tp.side = side;
    tp.type = ORD_LIMIT;
    tp.tif = TIF_GTC;
    tp.qty = qty;
    tp.limit_price = tpp;
    tp.role = BR_TAKE_PROFIT;
    tp.parent = entry_id;
    /* peer is known only after both exist; set it before sending */
    tp.peer = have_sl ? (order_id)(oms_count(e->oms) + 1) : ORDER_NONE;
    send_order(e, s, &tp, &tp_id);
  }
  if (have_sl) {
    init_order(&sl);
    sl.sym = sym;
    sl.side = side;
    sl.type = ORD_STOP;
    sl.tif = TIF_GTC;
    sl.qty = qty;
    sl.stop_price = slp;
    sl.role = BR_STOP_LOSS;
    sl.parent = entry_id;
    sl.peer = tp_id;
    send_order(e, s, &sl, &sl_id);
  }
  if (have_tp && have_sl && tp_id != ORDER_NONE) {
    /* the ids are dense, so the stop-loss got the id reserved above */
    DTO_ASSERT(sl_id == oms_cget(e->oms, tp_id)->peer);
  }
}

int strat_cancel(strat *s, order_id id) {
  engine *e = s->e;
  order *o = oms_get(e->oms, id);
  if (!o || o->strategy != s->index)
    return DTO_ENOENT;
  if (o->state == OS_PENDING_CANCEL)
    return 0;
  if (!order_is_working(o->state))
    return DTO_ESTATE;
  int rc = oms_transition(e->oms, o, OS_PENDING_CANCEL, now(e));
  if (rc)
    return rc;
  e->touched = true;
  return e->cfg.broker->cancel(e->cfg.broker_ctx, id);
}

int strat_replace(strat *s, order_id id, fx qty, fx limit_price,
                  fx stop_price, order_id *new_id) {
  engine *e = s->e;
  order *o = oms_get(e->oms, id);
  if (!o || o->strategy != s->index)
    return DTO_ENOENT;
  if (o->state != OS_ACCEPTED && o->state != OS_PARTIALLY_FILLED)
    return DTO_ESTATE;
  const instrument *in = &e->cfg.instruments->v[o->sym];
  if (qty < 0 || limit_price < 0 || stop_price < 0)
    return DTO_EINVAL;
  order t;
  memcpy(&t, o, sizeof t); /* bytes, padding included: runs compare equal */
  t.qty = qty ? qty : order_leaves(o);
  if (qty && qty <= o->filled)
    return DTO_EINVAL;
  if (qty)
    t.qty = qty - o->filled; /* qty is the new total; the rest is new */
  if (limit_price)
    t.limit_price = limit_price;
  if (stop_price)
    t.stop_price = stop_price;
  if (!fx_is_multiple(t.qty, in->lot) ||
      (t.limit_price && !fx_is_multiple(t.limit_price, in->tick)) ||
      (t.stop_price && !fx_is_multiple(t.stop_price, in->tick)))
    return DTO_EINVAL;
  t.filled = t.notional = t.fees = 0;
  t.replaces = id;
  t.replaced_by = ORDER_NONE;
  t.triggered = false;
  dto_time tm = now(e);
  order *n;
  order_id nid = ORDER_NONE;
  int rc = create_gated(e, s, &t, tm, &n, &nid);
  if (new_id)
    *new_id = nid;
  if (rc)
    return rc;
  o = oms_get(e->oms, id);
  o->replaced_by = nid;
  oms_transition(e->oms, o, OS_PENDING_CANCEL, tm);
  e->touched = true;
  return e->cfg.broker->replace(e->cfg.broker_ctx, id, oms_get(e->oms, nid));
}

/* Copy the open order ids into e->scratch (cancels and new orders change
 * the OMS's own list while we walk it); returns the count. */
static size_t open_snapshot(engine *e) {
  size_t n;
  const order_id *ids = oms_open_ids(e->oms, &n);
  e->scratch = xgrow(e->scratch, &e->scap, n, sizeof *e->scratch);
  if (n)
    memcpy(e->scratch, ids, n * sizeof *ids);
  return n;
}

void strat_cancel_all(strat *s, sym_id sym) {
  engine *e = s->e;
  if (s->open_total == 0)
    return;
  size_t n = open_snapshot(e);
  for (size_t i = 0; i < n; i++) {
    order_id id = e->scratch[i];
    const order *o = oms_cget(e->oms, id);
    if (o && o->strategy == s->index && (sym == SYM_NONE || o->sym == sym) &&
        order_is_working(o->state) && o->state != OS_PENDING_CANCEL)
      strat_cancel(s, id);
  }
}

int strat_flatten(strat *s, sym_id sym) {
  if (sym == SYM_NONE) { /* every symbol of the strategy */
    int rc = 0;
    for (size_t i = 0; i < s->nsyms; i++) {
      int r = strat_flatten(s, s->syms[i]);
      if (r && !rc)
        rc = r;
    }
    return rc;
  }
  if (sym >= s->e->cfg.instruments->n)
    return DTO_EINVAL;
  /* A bracket entry canceled here must not place its exits once the
   * cancel is confirmed: they would reopen the position being closed. */
  engine *e = s->e;
  size_t n;
  const order_id *ids = oms_open_ids(e->oms, &n);
  for (size_t i = 0; i < n; i++) {
    order *o = oms_get(e->oms, ids[i]);
    if (o->strategy == s->index && o->sym == sym && o->role == BR_ENTRY &&
        order_is_working(o->state))
      o->tp_price = o->sl_price = 0;
  }
  strat_cancel_all(s, sym);
  fx q = portfolio_strategy_pos(s->e->pf, s->index, sym)->qty;
  if (q == 0)
    return 0;
  order_req r = {0};
  r.sym = sym;
  r.side = q > 0 ? SIDE_SELL : SIDE_BUY;
  r.type = ORD_MARKET;
  r.tif = TIF_DAY;
  r.qty = fx_abs(q);
  return strat_submit(s, &r, NULL);
}

/* ---- broker reports ------------------------------------------------------ */

static void apply_fill(engine *e, order *o, const broker_report *r) {
  fx qty = r->qty;
  if (qty > order_leaves(o))
    qty = order_leaves(o); /* never more than ordered */
  if (qty <= 0)
    return;
  bool first = o->filled == 0;
  fx fee = fee_compute(&e->cfg.fees, qty, r->price, first);
  int64_t day = exchange_day(e, o->sym, r->ts);
  portfolio_fill(e->pf, o, qty, r->price, fee, r->ts, day, NULL);
  fx v = 0;
  fx_mul(qty, r->price, &v);
  o->filled += qty;
  o->notional += v;
  o->fees += fee;
  e->fills++;
  enum order_state to =
      o->filled >= o->qty ? OS_FILLED : OS_PARTIALLY_FILLED;
  if (o->state == OS_PENDING_CANCEL && to == OS_PARTIALLY_FILLED) {
    /* still waiting for the cancel: stay pending, but record the fill */
  } else {
    oms_transition(e->oms, o, to, r->ts);
  }
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_INFO, "order.fill")) {
    log_str(&l, "cloid", o->cloid);
    log_str(&l, "symbol", e->cfg.instruments->v[o->sym].symbol);
    log_str(&l, "side", order_side_name(o->side));
    log_fx(&l, "qty", qty);
    log_fx(&l, "price", r->price);
    log_fx(&l, "fee", fee);
    log_fx(&l, "filled", o->filled);
    log_end(&l);
  }
  if (e->cfg.hooks.fill)
    e->cfg.hooks.fill(e->cfg.hooks.ctx, o, qty, r->price, fee, r->ts);
  /* bracket exits: a fill of one reduces its peer */
  if (o->peer != ORDER_NONE) {
    order *p = oms_get(e->oms, o->peer);
    if (p && !order_is_terminal(p->state))
      p->qty -= qty;
  }
  /* the fill-loop guard: too many fills too fast disables the strategy */
  if (risk_on_fill(e->risk, o->strategy, o->sym, r->ts)) {
    strat *s = &e->st[o->strategy];
    alert(e, "fill_loop", 2, s->index,
          "too many fills in a short window: strategy halted until a person "
          "re-enables it");
    strat_cancel_all(s, SYM_NONE);
  }
}

static void handle(engine *e, const broker_report *r) {
  order *o = oms_get(e->oms, r->id);
  if (!o) {
    log_line l;
    if (log_begin(&l, e->cfg.log, LOG_ERROR, "broker.unknown_order")) {
      log_int(&l, "id", r->id);
      log_str(&l, "kind", report_kind_name(r->kind));
      log_end(&l);
    }
    return;
  }
  order_id id = o->id;
  bool was_terminal = order_is_terminal(o->state);
  switch (r->kind) {
  case REP_ACCEPTED:
    if (o->state == OS_PENDING_NEW)
      oms_transition(e->oms, o, OS_ACCEPTED, r->ts);
    break;
  case REP_REJECTED:
    o->reason = r->reason;
    oms_transition(e->oms, o, OS_REJECTED, r->ts);
    log_order(e, "order.rejected", o);
    break;
  case REP_FILL:
    apply_fill(e, o, r);
    break;
  case REP_CANCELED:
    o->reason = r->reason;
    oms_transition(e->oms, o, OS_CANCELED, r->ts);
    break;
  case REP_EXPIRED:
    o->reason = r->reason;
    oms_transition(e->oms, o, OS_EXPIRED, r->ts);
    break;
  case REP_REPLACED:
    if (oms_transition(e->oms, o, OS_REPLACED, r->ts) == 0 &&
        o->peer != ORDER_NONE && o->replaced_by != ORDER_NONE) {
      /* a replaced bracket exit: its peer now cancels the replacement */
      order *p = oms_get(e->oms, o->peer);
      if (p && p->peer == id)
        p->peer = o->replaced_by;
    }
    break;
  case REP_CANCEL_REJECT:
    if (o->state == OS_PENDING_CANCEL)
      oms_transition(e->oms, o, o->filled ? OS_PARTIALLY_FILLED : OS_ACCEPTED,
                     r->ts);
    /* A refused replace: the replacement never existed at the broker.  The
     * old order may have filled meanwhile, so this does not depend on its
     * state. */
    if (o->replaced_by != ORDER_NONE) {
      order *n = oms_get(e->oms, o->replaced_by);
      o->replaced_by = ORDER_NONE;
      if (n && n->state == OS_PENDING_NEW) {
        n->reason = r->reason;
        oms_transition(e->oms, n, OS_REJECTED, r->ts);
        notify(e, n);
      }
    }
    break;
  default:
    break;
  }
  o = oms_get(e->oms, id);
  if (o->state == OS_PENDING_CANCEL && o->filled >= o->qty)
    oms_transition(e->oms, o, OS_FILLED, r->ts);
  notify(e, o);
  o = oms_get(e->oms, id); /* the strategy may have created orders */
  if (!o)
    return; /* forgotten meanwhile: only with a tiny oms keep */
  /* Exits are placed once, when the entry ends: a late or repeated report
   * about a finished entry must not place them again. */
  if (o->role == BR_ENTRY && !was_terminal && order_is_terminal(o->state) &&
      o->filled > 0 && o->state != OS_REPLACED)
    place_exits(e, id);
}

void engine_pump(engine *e) {
  if (!e->touched && !e->poll_always)
    return; /* nothing can be waiting */
  e->touched = false;
  for (int guard = 0; guard < 1000000; guard++) {
    size_t n = e->cfg.broker->poll(e->cfg.broker_ctx, e->rep,
                                   DTO_ARRAY_LEN(e->rep));
    if (n == 0)
      return;
    for (size_t i = 0; i < n; i++)
      handle(e, &e->rep[i]);
  }
  DTO_ASSERT(!"broker report loop did not settle");
}

void engine_stop(engine *e) {
  e->stopping = true;
  for (size_t i = 0; i < e->nst; i++) {
    strat *s = &e->st[i];
    if (s->def->on_stop)
      s->def->on_stop(s, s->state);
  }
  engine_pump(e);
  size_t n = open_snapshot(e);
  for (size_t i = 0; i < n; i++) {
    order_id id = e->scratch[i];
    const order *o = oms_cget(e->oms, id);
    if (o && order_is_working(o->state) && o->state != OS_PENDING_CANCEL &&
        o->tif != TIF_GTC)
      strat_cancel(&e->st[o->strategy], id);
  }
  engine_pump(e);
}

/* ---- strategy queries ---------------------------------------------------- */

const char *strat_id(const strat *s) { return s->id; }
dto_time strat_now(const strat *s) { return now(s->e); }
const param_value *strat_param(const strat *s, size_t idx) {
  DTO_ASSERT(idx < s->def->nparams);
  return &s->params[idx];
}
size_t strat_nsyms(const strat *s) { return s->nsyms; }
sym_id strat_sym(const strat *s, size_t i) {
  return i < s->nsyms ? s->syms[i] : SYM_NONE;
}
const instrument *strat_instrument(const strat *s, sym_id sym) {
  return sym < s->e->cfg.instruments->n ? &s->e->cfg.instruments->v[sym]
                                        : NULL;
}
bool strat_session(const strat *s, sym_id sym, session *out) {
  engine *e = s->e;
  if (sym >= e->cfg.instruments->n)
    return false;
  symsubs *ss = &e->subs[sym];
  const instrument *in = &e->cfg.instruments->v[sym];
  dto_time t = now(e);
  if (!in->cal)
    return false;
  if (!ss->have_sess || t >= ss->sess.close) {
    if (!calendar_next_session(in->cal, t, &ss->sess))
      return false;
    ss->have_sess = true;
  }
  *out = ss->sess;
  return true;
}
fx strat_last(const strat *s, sym_id sym) {
  return portfolio_last(s->e->pf, sym);
}
fx strat_position(const strat *s, sym_id sym) {
  return portfolio_strategy_pos(s->e->pf, s->index, sym)->qty;
}
fx strat_avg_price(const strat *s, sym_id sym) {
  const position *p = portfolio_strategy_pos(s->e->pf, s->index, sym);
  fx avg = 0;
  if (p->qty)
    fx_div(fx_abs(p->cost), fx_abs(p->qty), &avg);
  return avg;
}
fx strat_cash(const strat *s) {
  return portfolio_strategy_cash(s->e->pf, s->index);
}
fx strat_equity(const strat *s) {
  return portfolio_strategy_equity(s->e->pf, s->index);
}
size_t strat_open_orders(const strat *s, sym_id sym) {
  if (sym == SYM_NONE)
    return s->open_total;
  for (size_t i = 0; i < s->nsyms; i++)
    if (s->syms[i] == sym)
      return s->open_per_sym[i];
  return 0;
}
const order *strat_order(const strat *s, order_id id) {
  const order *o = oms_cget(s->e->oms, id);
  return o && o->strategy == s->index ? o : NULL;
}
int strat_set_timer(strat *s, dto_time at, uint64_t tag) {
  engine *e = s->e;
  timer t = {at, e->tseq++, s->index, tag};
  timer_push(e, t);
  return 0;
}
fx strat_round_lot(const strat *s, sym_id sym, fx qty) {
  const instrument *in = strat_instrument(s, sym);
  fx r = 0;
  if (!in || fx_round_to(qty, in->lot, FX_ROUND_ZERO, &r))
    return 0;
  return r;
}
fx strat_round_tick(const strat *s, sym_id sym, fx price, enum fx_round mode) {
  const instrument *in = strat_instrument(s, sym);
  fx r = 0;
  if (!in || fx_round_to(price, in->tick, mode, &r))
    return 0;
  return r;
}
void strat_log(strat *s, const char *event, const char *msg) {
  log_line l;
  if (log_begin(&l, s->e->cfg.log, LOG_INFO, event)) {
    log_str(&l, "strategy", s->id);
    log_str(&l, "msg", msg);
    log_end(&l);
  }
}

/* ---- engine queries ------------------------------------------------------ */

const portfolio *engine_portfolio(const engine *e) { return e->pf; }
const oms *engine_oms(const engine *e) { return e->oms; }
const risk *engine_risk(const engine *e) { return e->risk; }
size_t engine_nstrategies(const engine *e) { return e->nst; }
const char *engine_strategy_id(const engine *e, size_t i) {
  return i < e->nst ? e->st[i].id : NULL;
}
const char *engine_account_id(const engine *e, size_t i) {
  return i < e->cfg.naccounts ? e->cfg.accounts[i].id : NULL;
}
size_t engine_working_orders(const engine *e) { return e->working; }
uint64_t engine_fill_count(const engine *e) { return e->fills; }

/* ---- risk state: days, P&L, flattening, modes, the kill switch ----------- */

static void new_day(engine *e, int64_t day) {
  e->day = day;
  for (size_t a = 0; a < e->cfg.naccounts; a++)
    e->acct_day_start[a] = e->acct_day_peak[a] =
        portfolio_account_equity(e->pf, (uint32_t)a);
  for (size_t i = 0; i < e->nst; i++) {
    strat *s = &e->st[i];
    s->day_start = s->day_peak =
        portfolio_strategy_equity(e->pf, (uint32_t)i);
  }
  risk_new_day(e->risk);
}

/* Daily loss and drawdown of the scopes trading sym, after a new price. */
static void check_pnl(engine *e, sym_id sym) {
  symsubs *ss = &e->subs[sym];
  for (size_t k = 0; k < ss->n; k++) {
    strat *s = &e->st[ss->v[k].strat];
    fx se = portfolio_strategy_equity(e->pf, s->index);
    if (se > s->day_peak)
      s->day_peak = se;
    enum risk_reason why =
        risk_on_pnl(e->risk, 2, s->index, se - s->day_start, s->day_peak - se);
    if (why != RISK_OK)
      alert(e, risk_reason_name(why), 2, s->index,
            "daily limit crossed: only orders that reduce positions pass "
            "until the next trading day");
    uint32_t a = s->account;
    fx ae = portfolio_account_equity(e->pf, a);
    if (ae > e->acct_day_peak[a])
      e->acct_day_peak[a] = ae;
    why = risk_on_pnl(e->risk, 1, a, ae - e->acct_day_start[a],
                      e->acct_day_peak[a] - ae);
    if (why != RISK_OK)
      alert(e, risk_reason_name(why), 1, a,
            "daily limit crossed: only orders that reduce positions pass "
            "until the next trading day");
  }
}

/* End-of-day flatten: strategies with flatten_before_close cancel their
 * working orders and close their positions in sym once per day, at the
 * first event at or after that long before the session's close (t: the
 * end of the bar, or the trade's or quote's time).  An event must fall in
 * that period: with bars longer than flatten_before_close nothing does. */
/* t: now; ahead: how long until the next event of sym is expected (a bar's
 * length).  Flattening starts at close - before, or earlier when the next
 * event would come too late for the closing orders to fill before the
 * close (bars longer than the window). */
static void flatten_due_slow(engine *e, sym_id sym, dto_time t,
                             dto_time ahead) {
  symsubs *ss = &e->subs[sym];
  const instrument *ins = &e->cfg.instruments->v[sym];
  for (size_t k = 0; k < ss->n; k++) {
    strat *s = &e->st[ss->v[k].strat];
    dto_time before = risk_strategy(e->risk, s->index)->flatten_before_close;
    if (DTO_LIKELY(before <= 0) || !ins->cal)
      continue;
    uint32_t slot = ss->v[k].slot;
    session se;
    if (!strat_session(s, sym, &se) ||
        (t < se.close - before && t + ahead < se.close) ||
        s->flattened_day[slot] == se.day)
      continue;
    s->flattened_day[slot] = se.day;
    log_line l;
    if (log_begin(&l, e->cfg.log, LOG_INFO, "risk.flatten")) {
      log_str(&l, "strategy", s->id);
      log_str(&l, "symbol", ins->symbol);
      log_end(&l);
    }
    strat_flatten(s, sym);
  }
}

static void on_round_trip(void *ctx, const trade_rec *t) {
  engine *e = ctx;
  if (risk_on_round_trip(e->risk, t->strategy, t->pnl - t->fees))
    alert(e, "consecutive_losses", 2, t->strategy,
          "consecutive-loss limit reached: only orders that reduce positions "
          "pass until a person re-enables the strategy");
  if (e->cfg.hooks.trade_closed)
    e->cfg.hooks.trade_closed(e->cfg.hooks.ctx, t);
}

/* Cancel the working orders of a scope (3: all). */
static size_t cancel_scope(engine *e, int scope, uint32_t index) {
  size_t n = open_snapshot(e), canceled = 0;
  for (size_t i = 0; i < n; i++) {
    const order *o = oms_cget(e->oms, e->scratch[i]);
    if (!o || !order_is_working(o->state) || o->state == OS_PENDING_CANCEL)
      continue;
    if ((scope == 1 && o->account != index) ||
        (scope == 2 && o->strategy != index))
      continue;
    if (strat_cancel(&e->st[o->strategy], o->id) == 0)
      canceled++;
  }
  return canceled;
}

size_t engine_kill(engine *e, bool on, const char *by) {
  risk_kill(e->risk, on);
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_WARN,
                on ? "risk.kill_switch" : "risk.kill_switch_released")) {
    log_str(&l, "by", by ? by : "");
    log_end(&l);
  }
  if (!on)
    return 0;
  alert(e, "kill_switch", 3, 0,
        "kill switch engaged: working orders canceled, new orders blocked "
        "until a person releases it");
  size_t n = cancel_scope(e, 3, 0);
  engine_pump(e);
  return n;
}

bool engine_killed(const engine *e) { return risk_killed(e->risk); }

int engine_set_mode(engine *e, int scope, uint32_t index, enum risk_mode m,
                    const char *by) {
  if ((scope == 1 && index >= e->cfg.naccounts) ||
      (scope == 2 && index >= e->nst) || (scope != 1 && scope != 2) ||
      (unsigned)m >= RISK_MODE_COUNT)
    return DTO_EINVAL;
  risk_set_mode(e->risk, scope, index, m);
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_WARN, "risk.mode")) {
    log_str(&l, scope == 1 ? "account" : "strategy",
            scope == 1 ? e->cfg.accounts[index].id : e->st[index].id);
    log_str(&l, "mode", risk_mode_name(m));
    log_str(&l, "by", by ? by : "");
    log_end(&l);
  }
  if (m == MODE_HALTED) {
    cancel_scope(e, scope, index);
    engine_pump(e);
  }
  return 0;
}

int engine_reload_risk(engine *e, const risk_config *cfg) {
  int rc = risk_reload(e->risk, cfg);
  if (rc == 0)
    update_flatten_flags(e);
  log_line l;
  if (log_begin(&l, e->cfg.log, rc ? LOG_ERROR : LOG_INFO,
                rc ? "risk.reload_refused" : "risk.reloaded")) {
    log_str(&l, "result", rc ? dto_strerror(rc) : "ok");
    log_end(&l);
  }
  return rc;
}

risk *engine_risk_mut(engine *e) { return e->risk; }

/* Which instruments have a subscriber that flattens before the close (so
 * the per-event check costs one flag elsewhere). */
static void update_flatten_flags(engine *e) {
  for (size_t y = 0; y < e->cfg.instruments->n; y++) {
    symsubs *ss = &e->subs[y];
    ss->flatten = false;
    for (size_t k = 0; k < ss->n; k++)
      ss->flatten |=
          risk_strategy(e->risk, ss->v[k].strat)->flatten_before_close > 0;
  }
}

void engine_set_store_fault(engine *e, bool on, const char *why) {
  if (on == risk_store_faulted(e->risk))
    return;
  risk_store_fault(e->risk, on);
  log_line l;
  if (log_begin(&l, e->cfg.log, on ? LOG_ERROR : LOG_INFO,
                on ? "store.fault" : "store.recovered")) {
    log_str(&l, "reason", why ? why : "");
    log_end(&l);
  }
  if (on)
    alert(e, "storage_fault", 3, 0,
          "the journal cannot write: no new orders until writes succeed");
  else
    alert(e, "storage_recovered", 3, 0, "the journal writes again: trading "
                                        "resumes");
}

void engine_poll_broker(engine *e) {
  e->touched = true;
  engine_pump(e);
}

/* ---- restart ------------------------------------------------------------- */

static int find_strategy(const engine *e, const char *id) {
  for (size_t i = 0; i < e->nst; i++)
    if (!strcmp(e->st[i].id, id))
      return (int)i;
  return -1;
}

static int find_account(const engine *e, const char *id) {
  for (size_t i = 0; i < e->cfg.naccounts; i++)
    if (!strcmp(e->cfg.accounts[i].id, id))
      return (int)i;
  return -1;
}

int engine_restore_position(engine *e, const char *account,
                            const char *strategy, sym_id sym,
                            const position *pos) {
  int a = find_account(e, account);
  if (a < 0)
    return DTO_ENOENT;
  int s = -1;
  if (strategy && *strategy && (s = find_strategy(e, strategy)) < 0)
    return DTO_ENOENT;
  int rc = portfolio_restore(e->pf, (uint32_t)a, s, sym, pos);
  if (rc == 0 && s < 0) { /* the day's baselines include what is held */
    e->acct_day_start[a] = e->acct_day_peak[a] =
        portfolio_account_equity(e->pf, (uint32_t)a);
  } else if (rc == 0) {
    strat *st = &e->st[s];
    st->day_start = st->day_peak =
        portfolio_strategy_equity(e->pf, (uint32_t)s);
  }
  return rc;
}

/* "ACCOUNT-STRATEGY-YYYYMMDD-SEQ": keep the strategy's sequence beyond
 * seq for that day, so no client order id is ever issued twice. */
/* Split "ACCOUNT-STRATEGY-YYYYMMDD-SEQ": the strategy's index in this run,
 * the exchange day and the sequence.  DTO_EINVAL for an id that is not
 * dto's, DTO_ENOENT when it names no strategy of this run. */
static int parse_cloid(const engine *e, const char *cloid, int *strategy,
                       int64_t *day, uint32_t *seq) {
  const char *a = strchr(cloid, '-');
  const char *d = a ? strchr(a + 1, '-') : NULL;
  const char *q = d ? strchr(d + 1, '-') : NULL;
  if (!q || q - d != 9)
    return DTO_EINVAL;
  char sid[CLOID_MAX];
  size_t n = (size_t)(d - a - 1);
  if (n == 0 || n >= sizeof sid)
    return DTO_EINVAL;
  memcpy(sid, a + 1, n);
  sid[n] = '\0';
  int y = 0, mo = 0, dd = 0;
  for (int i = 1; i <= 8; i++) {
    char c = d[i];
    if (c < '0' || c > '9')
      return DTO_EINVAL;
    if (i <= 4)
      y = y * 10 + (c - '0');
    else if (i <= 6)
      mo = mo * 10 + (c - '0');
    else
      dd = dd * 10 + (c - '0');
  }
  if (!civil_valid(y, mo, dd))
    return DTO_EINVAL;
  char *end;
  unsigned long v = strtoul(q + 1, &end, 10);
  if (!q[1] || *end || v > UINT32_MAX)
    return DTO_EINVAL;
  if ((*strategy = find_strategy(e, sid)) < 0)
    return DTO_ENOENT;
  *day = days_from_civil(y, mo, dd);
  *seq = (uint32_t)v;
  return 0;
}

int engine_note_cloid(engine *e, const char *cloid) {
  int s;
  int64_t day;
  uint32_t seq;
  int rc = parse_cloid(e, cloid, &s, &day, &seq);
  if (rc)
    return rc;
  strat *st = &e->st[s];
  if (day > st->cloid_day || st->cloid_day < 0) {
    st->cloid_day = day;
    st->seq = seq;
  } else if (day == st->cloid_day && seq > st->seq) {
    st->seq = seq;
  }
  return 0;
}

/* Track an order that is already working at the broker (restored after a
 * restart, or adopted from the broker's answer): created through the state
 * machine so every counter follows, without the risk gate (it is not new).
 * t's strategy and account are set; returns its id, or ORDER_NONE when t
 * is not a working order. */
static order_id track_working(engine *e, order *t, const char *cloid) {
  if (t->sym >= e->cfg.instruments->n || t->qty <= 0 || t->filled < 0 ||
      t->filled >= t->qty)
    return ORDER_NONE;
  engine_note_cloid(e, cloid);
  t->parent = t->replaces = t->replaced_by = ORDER_NONE; /* peer: as given */
  dto_time tm = now(e);
  order *o = oms_create(e->oms, t, cloid, tm);
  order_id id = o->id;
  oms_transition(e->oms, o, OS_PENDING_NEW, tm);
  oms_transition(e->oms, oms_get(e->oms, id),
                 t->filled > 0 ? OS_PARTIALLY_FILLED : OS_ACCEPTED, tm);
  return id;
}

int engine_restore_order(engine *e, const char *account, const char *strategy,
                         const char *cloid, const order *tmpl) {
  int a = find_account(e, account), s = find_strategy(e, strategy);
  if (a < 0 || s < 0)
    return DTO_ENOENT;
  order t = *tmpl;
  t.strategy = (uint32_t)s;
  t.account = (uint32_t)a;
  if (t.peer != ORDER_NONE)
    t.role = t.type == ORD_STOP ? BR_STOP_LOSS : BR_TAKE_PROFIT;
  order_id id = track_working(e, &t, cloid);
  if (id == ORDER_NONE)
    return DTO_EINVAL;
  /* the (paper) broker gets what is left; its reports cap at the leaves */
  order w = *oms_get(e->oms, id);
  w.qty = order_leaves(&w);
  w.filled = w.notional = w.fees = 0;
  e->touched = true;
  int rc = e->cfg.broker->submit(e->cfg.broker_ctx, &w);
  log_order(e, rc ? "order.restore_failed" : "order.restored",
            oms_get(e->oms, id));
  return rc;
}

/* ---- reconciliation with the broker -------------------------------------- */

static void unreconciled(engine *e, reconcile_result *res, int err,
                         const char *msg) {
  risk_unreconciled(e->risk, true);
  res->error = err;
  alert(e, "unreconciled", 3, 0, msg);
}

/* Adopt an order the broker has and the engine does not: tracked like our
 * own, so positions and risk count it. */
static order_id adopt(engine *e, const broker_open_order *b) {
  /* the strategy named in the client order id, else the first one */
  int s = 0;
  int64_t day;
  uint32_t seq;
  if (parse_cloid(e, b->cloid, &s, &day, &seq))
    s = 0;
  if ((size_t)s >= e->nst)
    return ORDER_NONE;
  order t;
  init_order(&t);
  t.sym = b->sym;
  t.side = b->side;
  t.type = b->type;
  t.tif = b->tif;
  t.qty = b->qty;
  t.filled = b->filled;
  t.limit_price = b->limit_price;
  t.stop_price = b->stop_price;
  t.strategy = (uint32_t)s;
  t.account = e->st[s].account;
  order_id id = track_working(e, &t, b->cloid);
  if (id != ORDER_NONE)
    log_order(e, "reconcile.adopted", oms_get(e->oms, id));
  return id;
}

int engine_reconcile(engine *e, const reconcile_opts *opt,
                     reconcile_result *res) {
  memset(res, 0, sizeof *res);
  const broker_ops *br = e->cfg.broker;
  risk_unreconciled(e->risk, true); /* until the books agree */
  if (!br->open_orders || !br->positions) {
    unreconciled(e, res, DTO_EUNSUPPORTED,
                 "the broker cannot report open orders and positions: no "
                 "trading until a person checks the books");
    return res->error;
  }
  size_t cap = 256, n = 0;
  broker_open_order *bo = NULL;
  int rc;
  for (;;) {
    bo = xreallocarray(bo, cap, sizeof *bo);
    rc = br->open_orders(e->cfg.broker_ctx, bo, cap, &n);
    if (rc != DTO_EFULL || n <= cap)
      break;
    cap = n;
  }
  broker_position *bp = NULL;
  size_t np = 0;
  if (!rc) {
    cap = e->cfg.instruments->n + 1;
    bp = xcalloc(cap, sizeof *bp);
    rc = br->positions(e->cfg.broker_ctx, bp, cap, &np);
  }
  if (rc) { /* a failed answer is never "nothing open, flat" */
    free(bo);
    free(bp);
    unreconciled(e, res, rc,
                 "the broker did not answer for open orders and positions: "
                 "no trading until it does");
    return rc;
  }
  /* fills made while we were down: apply what we missed, per order, so
   * that our filled quantity reaches what the broker reports */
  if (br->fills_since) {
    size_t fcap = 256, nf = 0;
    broker_fill *bf = NULL;
    for (;;) {
      bf = xreallocarray(bf, fcap, sizeof *bf);
      rc = br->fills_since(e->cfg.broker_ctx, opt->since, bf, fcap, &nf);
      if (rc != DTO_EFULL || nf <= fcap)
        break;
      fcap = nf;
    }
    if (rc) {
      free(bf);
      free(bo);
      free(bp);
      unreconciled(e, res, rc,
                   "the broker did not answer for fills: no trading until it "
                   "does");
      return rc;
    }
    for (size_t k = 0; k < nf; k++) {
      size_t no;
      const order_id *ids = oms_open_ids(e->oms, &no);
      order_id id = ORDER_NONE;
      for (size_t i = 0; i < no && id == ORDER_NONE; i++) {
        const order *o = oms_cget(e->oms, ids[i]);
        if (o && !strcmp(o->cloid, bf[k].cloid))
          id = o->id;
      }
      if (id == ORDER_NONE) {
        res->unknown_fills++;
        continue;
      }
      broker_report rep = {REP_FILL, id, ORDER_NONE, bf[k].qty, bf[k].price,
                           bf[k].ts, 0};
      order *o = oms_get(e->oms, id);
      fx before = o->filled;
      apply_fill(e, o, &rep);
      if (oms_cget(e->oms, id)->filled > before)
        res->fills_applied++;
    }
    free(bf);
  }
  /* our working orders the broker does not have */
  size_t nopen = open_snapshot(e);
  for (size_t i = 0; i < nopen; i++) {
    order *o = oms_get(e->oms, e->scratch[i]);
    if (!o || !order_is_working(o->state))
      continue;
    bool found = false;
    for (size_t k = 0; k < n && !found; k++)
      found = !strcmp(bo[k].cloid, o->cloid);
    if (found)
      continue;
    o->reason = BRR_UNKNOWN_ORDER;
    oms_transition(e->oms, o, OS_CANCELED, now(e));
    log_order(e, "reconcile.missing", o);
    res->missing++;
  }
  /* the broker's orders we do not have: adopt, and cancel when asked */
  for (size_t k = 0; k < n; k++) {
    bool found = false;
    size_t no;
    const order_id *ids = oms_open_ids(e->oms, &no);
    for (size_t i = 0; i < no && !found; i++) {
      const order *o = oms_cget(e->oms, ids[i]);
      found = o && !strcmp(o->cloid, bo[k].cloid);
    }
    if (found)
      continue;
    res->unknown++;
    order_id id = adopt(e, &bo[k]);
    if (id == ORDER_NONE)
      continue;
    res->adopted++;
    if (opt->cancel_unknown) {
      const order *o = oms_cget(e->oms, id);
      if (strat_cancel(&e->st[o->strategy], id) == 0)
        res->canceled++;
    }
  }
  free(bo);
  engine_pump(e);
  /* positions: ours (all accounts) against the broker's, per instrument */
  for (size_t y = 0; y < e->cfg.instruments->n; y++) {
    fx ours = 0, theirs = 0;
    for (size_t a = 0; a < e->cfg.naccounts; a++)
      ours += portfolio_account_pos(e->pf, (uint32_t)a, (sym_id)y)->qty;
    for (size_t k = 0; k < np; k++)
      if (bp[k].sym == y)
        theirs += bp[k].qty;
    if (fx_abs(ours - theirs) > opt->position_tolerance) {
      res->pos_mismatch++;
      log_line l;
      if (log_begin(&l, e->cfg.log, LOG_ERROR, "reconcile.position")) {
        log_str(&l, "symbol", e->cfg.instruments->v[y].symbol);
        log_fx(&l, "ours", ours);
        log_fx(&l, "broker", theirs);
        log_end(&l);
      }
    }
  }
  free(bp);
  if (res->pos_mismatch) {
    unreconciled(e, res, DTO_ESTATE,
                 "positions disagree with the broker beyond the tolerance: "
                 "no trading until a person checks them");
    return res->error;
  }
  risk_unreconciled(e->risk, false);
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_INFO, "reconcile.ok")) {
    log_int(&l, "broker_orders", (int64_t)n);
    log_int(&l, "missing", (int64_t)res->missing);
    log_int(&l, "unknown", (int64_t)res->unknown);
    log_int(&l, "fills_applied", (int64_t)res->fills_applied);
    log_end(&l);
  }
  return 0;
}
