/* engine.c - set-up, timers, the exchange day, market data and queries;
 * see engine_int.h for how the engine is split. */
#include "engine/engine_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

/* ---- observers ----------------------------------------------------------- */

/* An illegal transition: logged, and told to the hook.  Out of line: its
 * log line would make every transition set up a large stack frame. */
static DTO_NOINLINE void on_illegal(engine *e, const order *o,
                                    enum order_state from,
                                    enum order_state to) {
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_ERROR, "order.illegal_transition")) {
    log_str(&l, "cloid", o->cloid);
    log_str(&l, "from", order_state_name(from));
    log_str(&l, "to", order_state_name(to));
    log_end(&l);
  }
  if (e->cfg.hooks.order_changed)
    e->cfg.hooks.order_changed(e->cfg.hooks.ctx, o, from, to, false);
}

void engine__on_transition(void *ctx, const order *o, enum order_state from,
                           enum order_state to, bool legal) {
  engine *e = ctx;
  if (DTO_UNLIKELY(!legal)) {
    on_illegal(e, o, from, to);
    return;
  }
  if (order_is_working(from) != order_is_working(to)) {
    int d = order_is_working(to) ? 1 : -1;
    strat *s = &e->st[o->strategy];
    size_t slot = 0;
    while (slot < s->nsyms && s->syms[slot] != o->sym)
      slot++;
    e->working += (size_t)d;
    e->subs[o->sym].working += (uint32_t)d;
    e->acct_open[o->account] += (uint32_t)d;
    s->open_total += (uint32_t)d;
    if (slot < s->nsyms)
      s->open_per_sym[slot] += (uint32_t)d;
  }
  if (e->cfg.hooks.order_changed)
    e->cfg.hooks.order_changed(e->cfg.hooks.ctx, o, from, to, true);
}

/* ---- set-up -------------------------------------------------------------- */

engine *engine_new(const engine_config *cfg) {
  engine *e = xcalloc(1, sizeof *e);
  e->cfg = *cfg;
  e->subs =
      xcalloc(cfg->instruments->n ? cfg->instruments->n : 1, sizeof *e->subs);
  e->oms = oms_new(engine__on_transition, e);
  e->poll_always = !cfg->broker->sync_reports;
  e->br_on_time = cfg->broker->on_time;
  e->br_on_bar = cfg->broker->on_bar;
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
    free(s->flat);
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
  free(e->br);
  oms_free(e->oms);
  risk_free(e->risk);
  portfolio_free(e->pf);
  free(e);
}

int engine_add_strategy(engine *e, const engine_strategy *d) {
  if (e->started || !d->def || d->account >= e->cfg.naccounts || d->nsyms == 0)
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
  s->params = xcalloc(d->def->nparams ? d->def->nparams : 1, sizeof *s->params);
  if (d->def->nparams)
    memcpy(s->params, d->params, d->def->nparams * sizeof *s->params);
  s->state = xcalloc(1, d->def->state_size ? d->def->state_size : 1);
  s->sym_state =
      xcalloc(d->nsyms, d->def->sym_state_size ? d->def->sym_state_size : 1);
  s->open_per_sym = xcalloc(d->nsyms, sizeof *s->open_per_sym);
  s->flattened_day = xcalloc(d->nsyms, sizeof *s->flattened_day);
  s->flat = xcalloc(d->nsyms, sizeof *s->flat);
  for (size_t k = 0; k < d->nsyms; k++) {
    s->flattened_day[k] = INT64_MIN;
    s->flat[k].oid = ORDER_NONE;
  }
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
      ss->v[ss->n++] = (sub){
          .strat = (uint32_t)i,
          .slot = (uint32_t)k,
          .s = s,
          .def = s->def,
          .state = s->state,
          .sym_state = s->sym_state + k * s->def->sym_state_size,
          .on_bar = s->def->on_bar,
      };
    }
  }
  for (size_t i = 0; i < e->cfg.instruments->n; i++) {
    symsubs *ss = &e->subs[i];
    size_t nbar = 0;
    for (size_t k = 0; k < ss->n; k++)
      if (ss->v[k].on_bar && nbar++ == 0)
        ss->bar_sub = &ss->v[k];
    if (nbar != 1)
      ss->bar_sub = NULL;
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
  pc.on_trade = engine__on_round_trip;
  pc.trade_ctx = e;
  e->pf = portfolio_new(&pc);
  e->marks = portfolio__marks(e->pf);
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
  int rrc = rcfg->nstrategies == e->nst &&
                    rcfg->naccounts == e->cfg.naccounts &&
                    rcfg->nsyms == e->cfg.instruments->n
                ? risk_new(rcfg, &e->risk)
                : DTO_EINVAL;
  free(racct);
  if (rrc)
    return rrc;
  engine__derive_limits(e); /* P&L tracking, flatten flags (also reloads) */
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

int strat_set_timer(strat *s, dto_time at, uint64_t tag) {
  engine *e = s->e;
  timer t = {at, e->tseq++, s->index, tag};
  timer_push(e, t);
  return 0;
}

void engine__fire_timers_slow(engine *e, dto_time t) {
  while (e->ntimers && e->timers[0].at <= t) {
    timer tm = timer_pop(e);
    strat *s = &e->st[tm.strat];
    if (s->def->on_timer)
      s->def->on_timer(s, s->state, tm.tag);
    engine_pump(e);
  }
}

void engine_on_time(engine *e, dto_time t) {
  engine__fire_timers(e, t);
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
void engine__day_roll_slow(engine *e, sym_id sym, dto_time t) {
  symsubs *ss = &e->subs[sym];
  int64_t day = calendar_day_span(e->cfg.instruments->v[sym].cal, t,
                                  &ss->day_from, &ss->day_until);
  if (DTO_UNLIKELY(day > e->day))
    engine__new_day(e, day);
}

/* The two halves of a bar, without collecting reports: shared by
 * engine_bar_open, engine_on_bar and engine_bar.  ss is &e->subs[b->sym]
 * (e->subs never moves once made). */
static DTO_ALWAYS_INLINE void bar_open(engine *e, symsubs *ss, const bar *b) {
  if (DTO_UNLIKELY(b->ts < ss->day_from || b->ts >= ss->day_until))
    engine__day_roll_slow(e, b->sym, b->ts); /* engine__day_roll */
  engine__fire_timers(e, b->ts);
  /* A simulating broker has nothing to do on a bar of an instrument
   * without working orders, or with time when no order works at all.
   * (e->working is the sum of the instruments' counts: when it is 0 and
   * the broker wants no idle bars, neither call is made; one test.) */
  if (DTO_UNLIKELY(e->working || e->idle_bars)) {
    if (e->br_on_time && e->working) {
      e->touched = true;
      e->br_on_time(e->cfg.broker_ctx, b->ts);
    }
    if (e->br_on_bar && (e->idle_bars || ss->working)) {
      e->touched = true;
      e->br_on_bar(e->cfg.broker_ctx, b);
    }
  }
}

static DTO_ALWAYS_INLINE void bar_close(engine *e, symsubs *ss, const bar *b) {
  sym_id sym = b->sym;
  dto_time end = bar_end(b);
  e->marks[sym] = b->close; /* portfolio_mark */
  ss->ref_price = b->close;
  ss->ref_time = end;
  if (DTO_UNLIKELY(e->pnl_limits | ss->flatten | (ss->br_retry != 0))) {
    if (e->pnl_limits)
      engine__check_pnl(e, sym);
    if (ss->flatten) /* flatten_due, brackets_due */
      engine__flatten_due_slow(e, sym, end, b->dur);
    if (ss->br_retry)
      engine__brackets_retry(e, sym);
  }
  /* the subscriptions are fixed once the engine has started */
  for (const sub *u = ss->v, *last = u + ss->n; u < last; u++)
    if (u->on_bar)
      u->on_bar(u->s, u->state, u->sym_state, b);
}

void engine_bar_open(engine *e, const bar *b) {
  bar_open(e, &e->subs[b->sym], b);
  engine__pump(e);
}

/* engine_bar in full: any bar. */
static DTO_NOINLINE void bar_full(engine *e, symsubs *ss, const bar *b,
                                  sim_clock *sim) {
  sim_clock_set(sim, b->ts);
  bar_open(e, ss, b);
  engine__pump(e);
  sim_clock_set(sim, bar_end(b));
  bar_close(e, ss, b);
  engine__pump(e);
}

/* engine_bar's common case, told before anything is done: the bar is in
 * the instrument's cached exchange day, no timer is set, no order works,
 * the broker wants no idle bars, no reports can be waiting (touched and
 * poll_always false), no P&L limit, flatten or bracket retry concerns the
 * instrument, and one subscription has an on_bar.  Then bar_open does
 * nothing, both pumps do nothing, and bar_close marks the close and calls
 * that one on_bar, which is all this does; bar_full's steps in the same
 * order (nothing reads the clock between its two settings).  Out of the
 * common case, bar_full: the function's own frame stays small. */
void engine_bar(engine *e, const bar *b, sim_clock *sim) {
  symsubs *ss = &e->subs[b->sym];
  const sub *u = ss->bar_sub;
  dto_time ts = b->ts, end = bar_end(b);
  fx close = b->close;
  if (DTO_UNLIKELY(!u || ts < ss->day_from || ts >= ss->day_until ||
                   (e->ntimers | e->working) != 0 || e->touched ||
                   e->poll_always || e->idle_bars || e->pnl_limits ||
                   ss->flatten || ss->br_retry != 0)) {
    bar_full(e, ss, b, sim);
    return;
  }
  sim_clock_set(sim, ts);
  sim_clock_set(sim, end);
  e->marks[b->sym] = close; /* portfolio_mark */
  ss->ref_price = close;
  ss->ref_time = end;
  u->on_bar(u->s, u->state, u->sym_state, b);
  engine__pump(e);
}

/* ---- market data --------------------------------------------------------- */

void engine_broker_bar(engine *e, const bar *b) {
  engine__day_roll(e, b->sym, b->ts);
  if (e->cfg.broker->on_bar) {
    e->touched = true;
    e->cfg.broker->on_bar(e->cfg.broker_ctx, b);
    engine_pump(e);
  }
}

void engine_warm_bar(engine *e, const bar *b) {
  e->warming = true;
  engine_on_bar(e, b);
  e->warming = false;
}

void engine_on_bar(engine *e, const bar *b) {
  bar_close(e, &e->subs[b->sym], b);
  engine__pump(e);
}

void engine_on_trade(engine *e, const trade *t) {
  engine__day_roll(e, t->sym, t->ts);
  if (e->cfg.broker->on_trade) {
    e->touched = true;
    e->cfg.broker->on_trade(e->cfg.broker_ctx, t);
    engine_pump(e);
  }
  e->marks[t->sym] = t->price; /* portfolio_mark */
  symsubs *ss = &e->subs[t->sym];
  ss->ref_price = t->price;
  ss->ref_time = t->ts;
  /* daily limits and the end-of-day flatten follow trades as they follow
   * bars */
  if (DTO_UNLIKELY(e->pnl_limits))
    engine__check_pnl(e, t->sym);
  flatten_due(e, t->sym, t->ts, 0);
  brackets_due(e, t->sym);
  for (size_t i = 0; i < ss->n; i++) {
    const sub *u = &ss->v[i];
    if (u->def->on_trade)
      u->def->on_trade(u->s, u->state, u->sym_state, t);
  }
  engine_pump(e);
}

void engine_on_quote(engine *e, const quote *q) {
  engine__day_roll(e, q->sym, q->ts);
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
  brackets_due(e, q->sym);
  for (size_t i = 0; i < ss->n; i++) {
    const sub *u = &ss->v[i];
    if (u->def->on_quote)
      u->def->on_quote(u->s, u->state, u->sym_state, q);
  }
  engine_pump(e);
}

void engine_pump(engine *e) { engine__pump(e); }

DTO_NOINLINE void engine__pump_slow(engine *e) {
  e->touched = false;
  for (int guard = 0; guard < 1000000; guard++) {
    size_t n =
        e->cfg.broker->poll(e->cfg.broker_ctx, e->rep, DTO_ARRAY_LEN(e->rep));
    if (n == 0)
      return;
    for (size_t i = 0; i < n; i++)
      engine__handle(e, &e->rep[i]);
    /* A broker whose reports only arise inside calls into it had no more
     * than these when poll moved fewer than asked for (it moves up to max
     * pending reports), unless handling them called it again: the next
     * poll would find nothing. */
    if (!e->poll_always && !e->touched && n < DTO_ARRAY_LEN(e->rep))
      return;
  }
  /* a broker that never stops reporting is outside input: say so, never
   * abort; the next pump goes on */
  engine__alert(e, "broker_report_flood", 3, 0,
                "the broker kept reporting without end: reports left for the "
                "next step");
  e->touched = true;
}

void engine_stop(engine *e) {
  e->stopping = true;
  for (size_t i = 0; i < e->nst; i++) {
    strat *s = &e->st[i];
    if (s->def->on_stop)
      s->def->on_stop(s, s->state);
  }
  engine_pump(e);
  size_t n = engine__open_snapshot(e);
  for (size_t i = 0; i < n; i++) {
    order_id id = e->scratch[i];
    const order *o = oms__cget(e->oms, id);
    if (o && order_is_working(o->state) && o->state != OS_PENDING_CANCEL &&
        o->tif != TIF_GTC)
      engine__cancel(e, id);
  }
  engine_pump(e);
}

/* ---- engine queries ------------------------------------------------------ */

const portfolio *engine_portfolio(const engine *e) { return e->pf; }
const oms *engine_oms(const engine *e) { return e->oms; }
const risk *engine_risk(const engine *e) { return e->risk; }
size_t engine_nstrategies(const engine *e) { return e->nst; }
const char *engine_strategy_id(const engine *e, size_t i) {
  return i < e->nst ? e->st[i].id : NULL;
}
strat *engine_strategy_handle(engine *e, size_t i) {
  return i < e->nst ? &e->st[i] : NULL;
}
const char *engine_account_id(const engine *e, size_t i) {
  return i < e->cfg.naccounts ? e->cfg.accounts[i].id : NULL;
}
size_t engine_working_orders(const engine *e) { return e->working; }
uint64_t engine_fill_count(const engine *e) { return e->fills; }

fx engine_account_day_pnl(const engine *e, uint32_t account) {
  if (account >= e->cfg.naccounts)
    return 0;
  return portfolio_account_equity(e->pf, account) - e->acct_day_start[account];
}

fx engine_strategy_day_pnl(const engine *e, uint32_t strategy) {
  if (strategy >= e->nst)
    return 0;
  return portfolio_strategy_equity(e->pf, strategy) -
         e->st[strategy].day_start;
}
