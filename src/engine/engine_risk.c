/* engine_risk.c - risk state: day baselines, P&L limits, the end-of-day
 * flatten, modes, the kill switch and alerts. */
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

/* End-of-day flatten: strategies with flatten_before_close cancel their
 * working orders and close their positions in sym once per day, at the
 * first event at or after that long before the session's close (t: the
 * end of the bar, or the trade's or quote's time).  An event must fall in
 * that period: with bars longer than flatten_before_close nothing does. */
/* t: now; ahead: how long until the next event of sym is expected (a bar's
 * length).  Flattening starts at close - before, or earlier when the next
 * event would come too late for the closing orders to fill before the
 * close (bars longer than the window). */
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

/* Cancel the working orders of a scope (3: all). */
size_t engine__cancel_scope(engine *e, int scope, uint32_t index) {
  size_t n = engine__open_snapshot(e), canceled = 0;
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
  engine__alert(
      e, "kill_switch", 3, 0,
      "kill switch engaged: working orders canceled, new orders blocked "
      "until a person releases it");
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

int engine_reload_risk(engine *e, const risk_config *cfg) {
  int rc = risk_reload(e->risk, cfg);
  if (rc == 0)
    engine__update_flatten_flags(e);
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
}

void engine_poll_broker(engine *e) {
  e->touched = true;
  engine_pump(e);
}
