/* svc_snap.c - the engine's state into a read snapshot (engine thread). */
#include "app/svc.h"

#include "app/runner.h"
#include "core/alloc.h"

/* One allocation: the struct, then each array, each aligned for its type. */
static size_t take(size_t *off, size_t n, size_t size) {
  size_t a = _Alignof(max_align_t);
  size_t at = (*off + a - 1) / a * a;
  *off = at + n * size;
  return at;
}

svc_snap *svc_snap_build(const svc_snap_in *in) {
  const runner *r = in->r;
  const engine *e = r->e;
  const portfolio *p = engine_portfolio(e);
  const risk *rk = engine_risk(e);
  const oms *om = engine_oms(e);
  const instrument_table *ins = &r->cfg->instruments;
  size_t nacc = r->cfg->naccounts, nstr = engine_nstrategies(e);
  size_t nsym = ins->n, npos = 0, nopen = 0;
  for (size_t a = 0; a < nacc; a++)
    for (size_t y = 0; y < nsym; y++)
      npos += portfolio_account_pos(p, (uint32_t)a, (sym_id)y)->qty != 0;
  const order_id *open = oms_open_ids(om, &nopen);
  size_t off = sizeof(svc_snap);
  size_t oa = take(&off, nacc, sizeof(svc_snap_account));
  size_t op = take(&off, npos, sizeof(svc_snap_position));
  size_t oo = take(&off, nopen, sizeof(svc_snap_order));
  size_t os = take(&off, nstr, sizeof(svc_snap_strategy));
  size_t oi = take(&off, nsym, sizeof(svc_snap_instrument));
  char *mem = xcalloc(1, off);
  svc_snap *s = (svc_snap *)mem;
  s->accounts = (svc_snap_account *)(mem + oa);
  s->positions = (svc_snap_position *)(mem + op);
  s->orders_v = (svc_snap_order *)(mem + oo);
  s->strategies = (svc_snap_strategy *)(mem + os);
  s->instruments = (svc_snap_instrument *)(mem + oi);
  s->now = clock_now(&r->clock);
  s->real_now = in->now_real;
  s->clock = in->clock;
  s->state = in->state;
  s->killed = engine_killed(e);
  s->maintenance = in->maintenance;
  s->store_fault = risk_store_faulted(rk);
  s->unreconciled = risk_is_unreconciled(rk);
  s->events = in->events;
  s->bars = in->bars;
  s->trades = in->trades;
  s->quotes = in->quotes;
  s->reports = in->reports;
  s->commands = in->commands;
  s->orders = oms_count(om);
  s->fills = engine_fill_count(e);
  s->working = engine_working_orders(e);
  for (int why = 1; why < RISK_REASON_COUNT; why++) {
    s->refusal_by[why] = risk_refusals(rk, (enum risk_reason)why);
    s->refusals += s->refusal_by[why];
  }
  for (int st = 0; st < OS_COUNT; st++)
    s->order_states[st] = oms_entered(om, (enum order_state)st);
  if (in->q) {
    inq_stats qs;
    inq_get_stats(in->q, &qs);
    s->conflated = qs.conflated;
    s->queue_depth = qs.depth;
    s->queue_timeouts = qs.timeouts;
  }
  s->naccounts = nacc;
  for (size_t a = 0; a < nacc; a++) {
    svc_snap_account *x = &s->accounts[a];
    uint32_t ai = (uint32_t)a;
    snprintf(x->id, sizeof x->id, "%s", engine_account_id(e, a));
    x->cash = portfolio_account_cash(p, ai);
    x->equity = portfolio_account_equity(p, ai);
    x->day_pnl = engine_account_day_pnl(e, ai);
    x->realized = portfolio_account_realized(p, ai);
    x->fees = portfolio_account_fees(p, ai);
    x->mode = risk_mode_name(risk_mode_of(rk, RISK_SCOPE_ACCOUNT, ai));
    if (nsym && ins->v[0].cal) {
      int64_t day = calendar_local_day(ins->v[0].cal, s->now);
      x->day_trades = portfolio_day_trades_since(
          p, ai, calendar_trading_days_back(ins->v[0].cal, day, 5));
    }
    const risk_config *rc = &r->rcfg.rc;
    if (rc->accounts)
      x->lim = rc->accounts[a];
    else
      risk_account_limits_init(&x->lim);
    if (rc->account_orders)
      x->olim = rc->account_orders[a];
  }
  s->order_defaults = r->rcfg.rc.defaults;
  for (size_t a = 0; a < nacc; a++)
    for (size_t y = 0; y < nsym; y++) {
      const position *ps = portfolio_account_pos(p, (uint32_t)a, (sym_id)y);
      if (ps->qty == 0)
        continue;
      svc_snap_position *x = &s->positions[s->npositions++];
      x->account = (uint32_t)a;
      x->sym = (uint32_t)y;
      x->qty = ps->qty;
      x->cost = ps->cost;
      x->realized = ps->realized;
      x->last = portfolio_last(p, (sym_id)y);
      fx v;
      if (x->last && fx_mul(ps->qty, x->last, &v) == 0) {
        x->unrealized = v - ps->cost;
        fx g = v < 0 ? -v : v, sum;
        if (fx_add(s->accounts[a].exposure, g, &sum) == 0)
          s->accounts[a].exposure = sum;
      }
    }
  for (size_t i = 0; i < nopen; i++) {
    const order *o = oms_cget(om, open[i]);
    if (!o)
      continue;
    svc_snap_order *x = &s->orders_v[s->norders++];
    x->id = o->id;
    snprintf(x->cloid, sizeof x->cloid, "%s", o->cloid);
    x->account = o->account;
    x->strategy = o->strategy;
    x->sym = o->sym;
    x->side = order_side_name(o->side);
    x->type = order_type_name(o->type);
    x->tif = tif_name(o->tif);
    x->state = order_state_name(o->state);
    x->qty = o->qty;
    x->filled = o->filled;
    x->price = o->limit_price;
    x->stop = o->stop_price;
    x->created = o->created;
  }
  s->nstrategies = nstr;
  for (size_t i = 0; i < nstr; i++) {
    svc_snap_strategy *x = &s->strategies[i];
    uint32_t si = (uint32_t)i;
    snprintf(x->id, sizeof x->id, "%s", engine_strategy_id(e, i));
    x->account = r->rcfg.strategy_account[i];
    x->equity = portfolio_strategy_equity(p, si);
    x->day_pnl = engine_strategy_day_pnl(e, si);
    x->realized = portfolio_strategy_realized(p, si);
    x->fees = portfolio_strategy_fees(p, si);
    x->mode = risk_mode_name(risk_mode_of(rk, RISK_SCOPE_STRATEGY, si));
    x->paused = in->paused && in->paused[i];
    const risk_config *rc = &r->rcfg.rc;
    if (rc->strategies)
      x->lim = rc->strategies[i];
    else
      risk_strategy_limits_init(&x->lim);
    if (rc->strategy_orders)
      x->olim = rc->strategy_orders[i];
  }
  s->ninstruments = nsym;
  for (size_t y = 0; y < nsym; y++) {
    svc_snap_instrument *x = &s->instruments[y];
    snprintf(x->symbol, sizeof x->symbol, "%s", ins->v[y].symbol);
    x->last_event = in->last_event ? in->last_event[y] : 0;
    if (in->last_bar)
      x->last_bar = in->last_bar[y];
    if (in->last_quote)
      x->last_quote = in->last_quote[y];
    x->last = portfolio_last(p, (sym_id)y);
    x->halted = engine_instrument_halted(e, (sym_id)y);
  }
  return s;
}
