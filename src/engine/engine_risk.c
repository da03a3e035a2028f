/* engine_risk.c - risk state: day baselines, P&L limits, the end-of-day
 * flatten, modes, the kill switch and alerts, and a person's other actions
 * (cancels, flattens, pause, maintenance).  Like the kill switch, none of
 * them takes the protective exits from a position without closing it. */
#include "engine/engine_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

/* An alert event: to the log and to the hook (the notifiers later). */
void engine__alert(engine *e, const char *code, int scope, uint32_t index,
                   const char *msg) {
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_WARN, "alert")) {
    log_str(&l, "code", code);
    log_str(&l, "scope",
            scope == 1   ? "account"
            : scope == 2 ? "strategy"
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

void engine_alert(engine *e, const char *code, int scope, uint32_t index,
                  const char *msg) {
  if ((scope == 1 && index >= e->cfg.naccounts) ||
      (scope == 2 && index >= e->nst))
    return;
  engine__alert(e, code, scope == 1 || scope == 2 ? scope : 3,
                scope == 1 || scope == 2 ? index : 0, msg);
}

/* ---- risk state: days, P&L, flattening, modes, the kill switch ----------- */

void engine__new_day(engine *e, int64_t day) {
  e->day = day;
  for (size_t a = 0; a < e->cfg.naccounts; a++)
    e->acct_day_start[a] = e->acct_day_peak[a] =
        portfolio_account_equity(e->pf, (uint32_t)a);
  for (size_t i = 0; i < e->nst; i++) {
    strat *s = &e->st[i];
    s->day_start = s->day_peak = portfolio_strategy_equity(e->pf, (uint32_t)i);
  }
  risk_new_day(e->risk);
}

/* Daily loss and drawdown of the scopes trading sym, after a new price. */
void engine__check_pnl(engine *e, sym_id sym) {
  symsubs *ss = &e->subs[sym];
  for (size_t k = 0; k < ss->n; k++) {
    strat *s = &e->st[ss->v[k].strat];
    fx se = portfolio_strategy_equity(e->pf, s->index);
    if (se > s->day_peak)
      s->day_peak = se;
    enum risk_reason why =
        risk_on_pnl(e->risk, 2, s->index, se - s->day_start, s->day_peak - se);
    if (why != RISK_OK)
      engine__alert(
          e, risk_reason_name(why), 2, s->index,
          "daily limit crossed: only orders that reduce positions pass "
          "until the next trading day");
    uint32_t a = s->account;
    fx ae = portfolio_account_equity(e->pf, a);
    if (ae > e->acct_day_peak[a])
      e->acct_day_peak[a] = ae;
    why = risk_on_pnl(e->risk, 1, a, ae - e->acct_day_start[a],
                      e->acct_day_peak[a] - ae);
    if (why != RISK_OK)
      engine__alert(
          e, risk_reason_name(why), 1, a,
          "daily limit crossed: only orders that reduce positions pass "
          "until the next trading day");
  }
}

/* Why engine__flatten refused, for logs and alerts: the risk check, or
 * broker_refused when the risk gate passed the closing order (RISK_OK) and
 * the broker did not take it. */
static const char *flatten_refusal_name(enum risk_reason why) {
  return why == RISK_OK ? "broker_refused" : risk_reason_name(why);
}

/* End-of-day flatten: strategies with flatten_before_close cancel their
 * working orders and close their positions in sym, from the first event at
 * or after that long before the session's close (t: the end of the bar, or
 * the trade's or quote's time; ahead: how long until the next event of sym
 * is expected, a bar's length: flattening starts earlier when the next
 * event would come too late for the closing order to fill before the
 * close).  A slot counts as flattened for the day (flattened_day) only when
 * its closing order went out or there was nothing to close; a refusal
 * raises an alert (flatten_refused, again only when the reason changes) and
 * the flatten is tried again at the next event.  A closing order that ends
 * without closing the position (rejected, canceled, expired) is retried
 * too, as is a position opened again after the flatten. */
void engine__flatten_due_slow(engine *e, sym_id sym, dto_time t,
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
        (t < se.close - before && t + ahead < se.close))
      continue;
    flat_state *fs = &s->flat[slot];
    if (s->flattened_day[slot] == se.day) {
      const order *c =
          fs->oid != ORDER_NONE ? oms__cget(e->oms, fs->oid) : NULL;
      if (portfolio__strategy_pos(e->pf, s->index, sym)->qty == 0 ||
          (c && order_is_working(c->state)))
        continue; /* flat, or its closing order still works */
    }
    order_id closing = ORDER_NONE;
    enum risk_reason why = RISK_OK;
    int rc = engine__flatten(s, sym, &closing, &why);
    log_line l;
    if (rc == 0) {
      s->flattened_day[slot] = se.day;
      fs->oid = closing;
      fs->why = 0;
      if (log_begin(&l, e->cfg.log, LOG_INFO, "risk.flatten")) {
        log_str(&l, "strategy", s->id);
        log_str(&l, "symbol", ins->symbol);
        log_end(&l);
      }
      continue;
    }
    fs->oid = ORDER_NONE;
    /* RISK_OK: the broker did not take the closing order */
    int w = why == RISK_OK ? FLAT_WHY_BROKER : (int)why;
    const char *wn = flatten_refusal_name(why);
    if (log_begin(&l, e->cfg.log, LOG_WARN, "risk.flatten_refused")) {
      log_str(&l, "strategy", s->id);
      log_str(&l, "symbol", ins->symbol);
      log_str(&l, "check", wn);
      log_end(&l);
    }
    if (fs->why != w || fs->day != se.day) { /* once a day and reason */
      fs->why = w;
      fs->day = se.day;
      char msg[256];
      snprintf(msg, sizeof msg,
               "the flatten before the close of %s could not close the "
               "position (%s): it stays open; retrying at the next event",
               ins->symbol, wn);
      engine__alert(e, "flatten_refused", 2, s->index, msg);
    }
  }
}

void engine__on_round_trip(void *ctx, const trade_rec *t) {
  engine *e = ctx;
  if (risk_on_round_trip(e->risk, t->strategy, t->pnl - t->fees))
    engine__alert(
        e, "consecutive_losses", 2, t->strategy,
        "consecutive-loss limit reached: only orders that reduce positions "
        "pass until a person re-enables the strategy");
  if (e->cfg.hooks.trade_closed)
    e->cfg.hooks.trade_closed(e->cfg.hooks.ctx, t);
}

/* Cancel the working orders of a scope (1 account, 2 strategy, else all)
 * in sym (< 0: every instrument) but the protective exits of bracket
 * positions: the kill switch, halts and a person's cancel-all stop trading,
 * they do not take the stops away from what is held
 * (docs/internals/risk.md). */
static size_t cancel_where(engine *e, int scope, uint32_t index, int32_t sym) {
  size_t n = engine__open_snapshot(e), canceled = 0;
  for (size_t i = 0; i < n; i++) {
    const order *o = oms__cget(e->oms, e->scratch[i]);
    if (!o || !order_is_working(o->state) || o->state == OS_PENDING_CANCEL)
      continue;
    if ((scope == 1 && o->account != index) ||
        (scope == 2 && o->strategy != index) ||
        (sym >= 0 && o->sym != (sym_id)sym))
      continue;
    if (engine__protective(e, o))
      continue;
    if (engine__cancel(e, o->id) == 0)
      canceled++;
  }
  return canceled;
}

size_t engine__cancel_scope(engine *e, int scope, uint32_t index) {
  return cancel_where(e, scope, index, -1);
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
  engine__alert(
      e, "kill_switch", 3, 0,
      "kill switch engaged: working orders canceled (the protective exits of "
      "open positions stay), new orders blocked until a person releases it");
  size_t n = engine__cancel_scope(e, 3, 0);
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
    engine__cancel_scope(e, scope, index);
    engine_pump(e);
  }
  return 0;
}

/* ---- a person's actions ------------------------------------------------- */

/* Does (scope, index, sym) name something (see engine.h)? */
static bool ops_scope_ok(const engine *e, int scope, uint32_t index,
                         int32_t sym) {
  if (sym >= 0 && (size_t)sym >= e->cfg.instruments->n)
    return false;
  return scope == 0 ||
         (scope == RISK_SCOPE_ACCOUNT && index < e->cfg.naccounts) ||
         (scope == RISK_SCOPE_STRATEGY && index < e->nst);
}

/* The scope's fields of an ops.* log line. */
static void log_ops_scope(log_line *l, const engine *e, int scope,
                          uint32_t index, int32_t sym) {
  if (scope == RISK_SCOPE_ACCOUNT && index < e->cfg.naccounts)
    log_str(l, "account", e->cfg.accounts[index].id);
  else if (scope == RISK_SCOPE_STRATEGY && index < e->nst)
    log_str(l, "strategy", e->st[index].id);
  else
    log_str(l, "scope", scope == 0 ? "all" : "?");
  if (sym >= 0 && (size_t)sym < e->cfg.instruments->n)
    log_str(l, "symbol", e->cfg.instruments->v[sym].symbol);
}

int engine_cancel_order(engine *e, order_id id, const char *by) {
  const order *o = oms__cget(e->oms, id);
  int rc;
  if (!o)
    rc = DTO_ENOENT;
  else if (!order_is_working(o->state))
    rc = DTO_ESTATE;
  else if (o->state == OS_PENDING_CANCEL)
    rc = 0;
  else if (engine__protective(e, o))
    rc = DTO_EREJECT; /* the position would stay open, unprotected */
  else
    rc = engine__cancel(e, id);
  o = oms__cget(e->oms, id); /* the broker call may have moved the table */
  log_line l;
  if (log_begin(&l, e->cfg.log, rc ? LOG_WARN : LOG_INFO, "ops.cancel")) {
    if (o)
      log_str(&l, "cloid", o->cloid);
    else
      log_int(&l, "order", id);
    log_str(&l, "by", by ? by : "");
    log_str(&l, "result", rc ? dto_strerror(rc) : "ok");
    log_end(&l);
  }
  if (rc == 0)
    engine_pump(e);
  return rc;
}

size_t engine_cancel_all(engine *e, int scope, uint32_t index, int32_t sym,
                         const char *by) {
  bool ok = ops_scope_ok(e, scope, index, sym);
  size_t n = ok ? cancel_where(e, scope, index, sym) : 0;
  log_line l;
  if (log_begin(&l, e->cfg.log, ok ? LOG_INFO : LOG_WARN, "ops.cancel_all")) {
    log_ops_scope(&l, e, scope, index, sym);
    log_str(&l, "by", by ? by : "");
    log_int(&l, "canceled", (int64_t)n);
    if (!ok)
      log_str(&l, "result", dto_strerror(DTO_EINVAL));
    log_end(&l);
  }
  if (n)
    engine_pump(e);
  return n;
}

int engine_flatten_scope(engine *e, int scope, uint32_t index, int32_t sym,
                         const char *by, size_t *closing_orders) {
  size_t sent = 0, refused = 0;
  bool ok = ops_scope_ok(e, scope, index, sym);
  for (size_t i = 0; ok && i < e->nst; i++) {
    strat *s = &e->st[i];
    if ((scope == RISK_SCOPE_ACCOUNT && s->account != index) ||
        (scope == RISK_SCOPE_STRATEGY && s->index != index))
      continue;
    for (size_t k = 0; k < s->nsyms; k++) {
      sym_id y = s->syms[k];
      if (sym >= 0 && y != (sym_id)sym)
        continue;
      order_id closing = ORDER_NONE;
      enum risk_reason why = RISK_OK;
      if (engine__flatten(s, y, &closing, &why) == 0) {
        sent += closing != ORDER_NONE;
        continue;
      }
      refused++;
      log_line l;
      if (log_begin(&l, e->cfg.log, LOG_WARN, "ops.flatten_refused")) {
        log_str(&l, "strategy", s->id);
        log_str(&l, "symbol", e->cfg.instruments->v[y].symbol);
        log_str(&l, "check", flatten_refusal_name(why));
        log_end(&l);
      }
    }
  }
  int rc = !ok ? DTO_EINVAL : refused ? DTO_EREJECT : 0;
  log_line l;
  if (log_begin(&l, e->cfg.log, rc ? LOG_WARN : LOG_INFO, "ops.flatten")) {
    log_ops_scope(&l, e, scope, index, sym);
    log_str(&l, "by", by ? by : "");
    log_int(&l, "closing_orders", (int64_t)sent);
    log_int(&l, "refused", (int64_t)refused);
    log_str(&l, "result", rc ? dto_strerror(rc) : "ok");
    log_end(&l);
  }
  if (closing_orders)
    *closing_orders = sent;
  if (ok)
    engine_pump(e);
  return rc;
}

bool engine_strategy_paused(const engine *e, uint32_t strategy) {
  return strategy < e->nst &&
         risk_mode_of(e->risk, RISK_SCOPE_STRATEGY, strategy) ==
             MODE_REDUCING &&
         risk_mode_cause(e->risk, RISK_SCOPE_STRATEGY, strategy) ==
             RISK_CAUSE_PERSON;
}

int engine_pause_strategy(engine *e, uint32_t strategy, bool pause,
                          const char *by) {
  if (strategy >= e->nst)
    return DTO_EINVAL;
  enum risk_mode m = risk_mode_of(e->risk, RISK_SCOPE_STRATEGY, strategy);
  bool paused = engine_strategy_paused(e, strategy);
  int rc = 0;
  /* a pause never loosens a halt; a resume never releases what a limit or
   * a guard set (engine_set_mode is the deliberate way to) */
  if (pause ? m == MODE_HALTED : m != MODE_ACTIVE && !paused)
    rc = DTO_ESTATE;
  else if (pause != paused)
    rc =
        risk_transition(e->risk, RISK_SCOPE_STRATEGY, strategy,
                        pause ? MODE_REDUCING : MODE_ACTIVE, RISK_CAUSE_PERSON);
  log_line l;
  if (log_begin(&l, e->cfg.log, rc ? LOG_WARN : LOG_INFO,
                pause ? "ops.pause" : "ops.resume")) {
    log_str(&l, "strategy", e->st[strategy].id);
    log_str(&l, "by", by ? by : "");
    log_str(
        &l, "mode",
        risk_mode_name(risk_mode_of(e->risk, RISK_SCOPE_STRATEGY, strategy)));
    log_str(&l, "result", rc ? dto_strerror(rc) : "ok");
    log_end(&l);
  }
  return rc;
}

int engine_set_maintenance(engine *e, bool on, const char *by) {
  if (risk_maintenance(e->risk) == on)
    return 0;
  risk_set_maintenance(e->risk, on);
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_WARN, "ops.maintenance")) {
    log_str(&l, "state", on ? "on" : "off");
    log_str(&l, "by", by ? by : "");
    log_end(&l);
  }
  return 0;
}

bool engine_maintenance(const engine *e) { return risk_maintenance(e->risk); }

int engine_reload_risk(engine *e, const risk_config *cfg) {
  int rc = risk_reload(e->risk, cfg);
  if (rc == 0)
    engine__derive_limits(e);
  log_line l;
  if (log_begin(&l, e->cfg.log, rc ? LOG_ERROR : LOG_INFO,
                rc ? "risk.reload_refused" : "risk.reloaded")) {
    log_str(&l, "result", rc ? dto_strerror(rc) : "ok");
    log_end(&l);
  }
  return rc;
}

risk *engine_risk_mut(engine *e) { return e->risk; }

void engine__derive_limits(engine *e) {
  bool was = e->pnl_limits;
  e->pnl_limits = false;
  for (size_t i = 0; i < e->cfg.naccounts; i++) {
    const risk_account_limits *al = risk_account(e->risk, (uint32_t)i);
    e->pnl_limits |= al->max_daily_loss > 0 || al->max_drawdown > 0;
  }
  for (size_t i = 0; i < e->nst; i++) {
    const risk_strategy_limits *sl = risk_strategy(e->risk, (uint32_t)i);
    e->pnl_limits |= sl->max_daily_loss > 0 || sl->max_drawdown > 0;
  }
  /* Peaks are tracked only while some P&L limit is on: limits that a
   * reload turns on start from the higher of the day's start and the
   * equity now (the day's baselines are always kept). */
  if (e->pnl_limits && !was && e->day != INT64_MIN) {
    for (size_t a = 0; a < e->cfg.naccounts; a++) {
      fx eq = portfolio_account_equity(e->pf, (uint32_t)a);
      if (eq > e->acct_day_peak[a])
        e->acct_day_peak[a] = eq;
    }
    for (size_t i = 0; i < e->nst; i++) {
      strat *s = &e->st[i];
      fx eq = portfolio_strategy_equity(e->pf, (uint32_t)i);
      if (eq > s->day_peak)
        s->day_peak = eq;
    }
  }
  engine__update_flatten_flags(e);
}

static void set_halt(engine *e, sym_id sym, bool on, const char *by,
                     bool alert);

void engine__halt_instrument(engine *e, sym_id sym, const char *why) {
  char by[160];
  snprintf(by, sizeof by, "broker report: %s", why ? why : "refused");
  set_halt(e, sym, true, by, false); /* broker_report_invalid says it */
}

/* The one setter of an instrument's halt: logged; alerted unless the
 * caller's own alert already says it (a refused broker report). */
static void set_halt(engine *e, sym_id sym, bool on, const char *by,
                     bool alert) {
  symsubs *ss = &e->subs[sym];
  if (ss->halted == on)
    return;
  ss->halted = on;
  const char *name = e->cfg.instruments->v[sym].symbol;
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_WARN,
                on ? "risk.instrument_halted" : "risk.instrument_released")) {
    log_str(&l, "symbol", name);
    log_str(&l, "by", by ? by : "");
    log_end(&l);
  }
  if (!alert)
    return;
  char msg[256];
  snprintf(msg, sizeof msg,
           on ? "%s halted: only orders that reduce positions pass"
              : "%s released: orders pass the risk gate again",
           name);
  engine__alert(e, on ? "instrument_halted" : "instrument_released", 3, 0, msg);
}

int engine_halt_instrument(engine *e, sym_id sym, bool on, const char *by) {
  if (sym >= e->cfg.instruments->n)
    return DTO_EINVAL;
  set_halt(e, sym, on, by, true);
  return 0;
}

bool engine_instrument_halted(const engine *e, sym_id sym) {
  return sym < e->cfg.instruments->n && e->subs[sym].halted;
}

/* Which instruments have a subscriber that flattens before the close (so
 * the per-event check costs one flag elsewhere). */
void engine__update_flatten_flags(engine *e) {
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
    engine__alert(
        e, "storage_fault", 3, 0,
        "the journal cannot write: no new orders until writes succeed");
  else
    engine__alert(e, "storage_recovered", 3, 0,
                  "the journal writes again: trading "
                  "resumes");
  if (!on) /* exits held back by the fault go out now */
    engine__brackets_retry_all(e);
}

void engine_poll_broker(engine *e) {
  e->touched = true;
  engine_pump(e);
}
