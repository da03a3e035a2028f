/* engine_reports.c - broker reports: fills and state changes of orders. */
#include "engine/engine_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

/* ---- broker reports ------------------------------------------------------ */

void engine__apply_fill(engine *e, order *o, const broker_report *r) {
  fx qty = r->qty;
  if (qty > order_leaves(o))
    qty = order_leaves(o); /* never more than ordered */
  if (qty <= 0)
    return;
  bool first = o->filled == 0;
  fx fee = fee_compute(&e->cfg.fees, qty, r->price, first);
  int64_t day = engine__exchange_day(e, o->sym, r->ts);
  portfolio_fill(e->pf, o, qty, r->price, fee, r->ts, day, NULL);
  fx v = 0;
  fx_mul(qty, r->price, &v);
  o->filled += qty;
  o->notional += v;
  o->fees += fee;
  e->fills++;
  enum order_state to = o->filled >= o->qty ? OS_FILLED : OS_PARTIALLY_FILLED;
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
    engine__alert(
        e, "fill_loop", 2, s->index,
        "too many fills in a short window: strategy halted until a person "
        "re-enables it");
    strat_cancel_all(s, SYM_NONE);
  }
}

void engine__handle(engine *e, const broker_report *r) {
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
    engine__log_order(e, "order.rejected", o);
    break;
  case REP_FILL:
    engine__apply_fill(e, o, r);
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
        engine__notify(e, n);
      }
    }
    break;
  default:
    break;
  }
  o = oms_get(e->oms, id);
  if (o->state == OS_PENDING_CANCEL && o->filled >= o->qty)
    oms_transition(e->oms, o, OS_FILLED, r->ts);
  engine__notify(e, o);
  o = oms_get(e->oms, id); /* the strategy may have created orders */
  if (!o)
    return; /* forgotten meanwhile: only with a tiny oms keep */
  /* Exits are placed once, when the entry ends: a late or repeated report
   * about a finished entry must not place them again. */
  if (o->role == BR_ENTRY && !was_terminal && order_is_terminal(o->state) &&
      o->filled > 0 && o->state != OS_REPLACED)
    engine__place_exits(e, id);
}
