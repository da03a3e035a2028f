/* engine_reports.c - broker reports: validated, then applied to orders,
 * positions and brackets.
 *
 * A broker is outside input.  Before a report changes anything it is
 * checked: the order must be known, the report kind must make sense for the
 * order's state, and a fill must be positive, no more than what is left of
 * the order, a multiple of the lot, at a positive price, and its value, fee
 * and the order's and the books' sums must fit in fx.  A report that fails
 * is refused: nothing changes, the report is logged with its fields
 * (broker.report_invalid), an alert is raised (broker_report_invalid) and
 * the instrument is halted for opening orders until a person clears it
 * (engine_halt_instrument).  Reports that only repeat what the order
 * already says (a late acknowledgement, a second cancel confirmation) are
 * logged and ignored.  Fills reported after a cancel, an expiry or a
 * replacement are real: they count.
 */
#include "engine/engine_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

/* ---- validation ---------------------------------------------------------- */

enum verdict { APPLY, STALE, INVALID };

/* May report r change order o (NULL: unknown)?  *why says why not. */
static enum verdict check(const order *o, const broker_report *r,
                          const char **why) {
  if (!o) {
    *why = "the report names an order dto does not know";
    return INVALID;
  }
  if ((unsigned)r->kind >= REP_KIND_COUNT) {
    *why = "unknown report kind";
    return INVALID;
  }
  enum order_state st = o->state;
  if (st == OS_NEW) {
    *why = "the order was never sent";
    return INVALID;
  }
  bool working = order_is_working(st);
  switch (r->kind) {
  case REP_ACCEPTED: /* acknowledgements race fills and cancels */
    return st == OS_PENDING_NEW ? APPLY : STALE;
  case REP_REJECTED:
    if (st == OS_PENDING_NEW)
      return APPLY;
    if (st == OS_REJECTED)
      return STALE;
    /* taken (acknowledged), then refused before any fill: a live broker
     * may do that (Alpaca: accepted, then rejected before routing) */
    if (st == OS_ACCEPTED && o->filled == 0)
      return APPLY;
    *why = "rejected after the broker had taken it";
    return INVALID;
  case REP_FILL:
    if (st == OS_REJECTED) {
      *why = "a fill for an order the broker rejected";
      return INVALID;
    }
    if (st == OS_FILLED) {
      *why = "a fill for an order already filled (overfill)";
      return INVALID;
    }
    return APPLY; /* amounts: engine__apply_fill */
  case REP_CANCELED:
  case REP_EXPIRED: {
    enum order_state to = r->kind == REP_CANCELED ? OS_CANCELED : OS_EXPIRED;
    if (working)
      return APPLY;
    if (st == to)
      return STALE;
    *why = r->kind == REP_CANCELED ? "canceled after the order had ended"
                                   : "expired after the order had ended";
    return INVALID;
  }
  case REP_REPLACED:
    if (st == OS_REPLACED)
      return STALE;
    if (o->replaced_by == ORDER_NONE) {
      *why = "replaced, but no replace was asked";
      return INVALID;
    }
    if (r->new_id != ORDER_NONE && r->new_id != o->replaced_by) {
      *why = "replaced by another order than the one dto sent";
      return INVALID;
    }
    if (!working || st == OS_PENDING_NEW) {
      *why = "replaced in a state that cannot be replaced";
      return INVALID;
    }
    return APPLY;
  case REP_CANCEL_REJECT:
    /* the cancel (or replace) we asked for lost a race, or a repeat */
    return st == OS_PENDING_CANCEL || o->replaced_by != ORDER_NONE ? APPLY
                                                                   : STALE;
  default:
    break;
  }
  *why = "unknown report kind";
  return INVALID;
}

static void log_report(log_line *l, const engine *e, const broker_report *r,
                       const order *o) {
  log_str(l, "kind", report_kind_name(r->kind));
  log_int(l, "id", r->id);
  if (o) {
    log_str(l, "cloid", o->cloid);
    log_str(l, "symbol", e->cfg.instruments->v[o->sym].symbol);
    log_str(l, "state", order_state_name(o->state));
  }
  if (r->new_id != ORDER_NONE)
    log_int(l, "new_id", r->new_id);
  log_fx(l, "qty", r->qty);
  log_fx(l, "price", r->price);
  log_time(l, "report_time", r->ts);
  log_str(l, "reason", broker_reason_name(r->reason));
}

/* Refuse report r about o (may be NULL): log, alert, halt the instrument. */
static void refuse(engine *e, const broker_report *r, const order *o,
                   const char *why) {
  log_line l;
  if (log_begin(&l, e->cfg.log, LOG_ERROR, "broker.report_invalid")) {
    log_report(&l, e, r, o);
    log_str(&l, "why", why);
    log_end(&l);
  }
  char msg[512];
  if (o) {
    const char *sym = e->cfg.instruments->v[o->sym].symbol;
    snprintf(msg, sizeof msg,
             "refused a broker report (%s for %s in %s): %s; nothing was "
             "applied and %s is halted for opening orders until a person "
             "clears it",
             report_kind_name(r->kind), o->cloid, sym, why, sym);
  } else {
    snprintf(msg, sizeof msg,
             "refused a broker report (%s for order id %u): %s; nothing was "
             "applied",
             report_kind_name(r->kind), (unsigned)r->id, why);
  }
  engine__alert(e, "broker_report_invalid", 3, 0, msg);
  if (o)
    engine__halt_instrument(e, o->sym, why);
}

/* The amounts of fill r on o; NULL when they can be applied, with the fill's
 * value and fee. */
static const char *fill_problem(const engine *e, const order *o,
                                const broker_report *r, fx *value, fx *fee) {
  const instrument *in = &e->cfg.instruments->v[o->sym];
  if (r->qty <= 0)
    return "the fill quantity is not positive";
  if (r->qty > order_leaves(o))
    return "the fill quantity exceeds what is left of the order (overfill)";
  if (in->lot > 0 && !fx_is_multiple(r->qty, in->lot))
    return "the fill quantity is not a multiple of the instrument's lot";
  if (r->price <= 0)
    return "the fill price is not positive";
  fx v, sum;
  if (fx_mul(r->qty, r->price, &v))
    return "quantity x price does not fit";
  if (fx_add(o->notional, v, &sum))
    return "the order's filled value would not fit";
  /* the fee's parts, checked before fee_compute adds them */
  const fee_schedule *f = &e->cfg.fees;
  fx a = 0, b = 0;
  if (fx_mul(r->qty, f->per_share, &a) ||
      (f->bps &&
       fx_muldiv(v, f->bps, FX_SCALE * 10000LL, FX_ROUND_NEAREST, &b)) ||
      fx_add(a, b, &sum) || fx_add(sum, f->per_order, &sum) ||
      fx_add(sum, f->min_per_order, &sum))
    return "the fee does not fit";
  /* v and a are qty x price and qty x per_share, which fee_compute would
   * compute again (they fit: saturating them changes nothing) */
  *fee = portfolio__fee(f, v, a, o->filled == 0);
  if (*fee < 0 || fx_add(o->fees, *fee, &sum))
    return "the order's fees would not fit";
  *value = v;
  return NULL;
}

/* ---- applying ------------------------------------------------------------ */

/* A fill of qty on bracket exit o reduces its peer (as the broker's OCO
 * does), and the peer's replacement when one is on its way. */
static void reduce_peer(engine *e, const order *o, fx qty, dto_time t) {
  if (o->peer == ORDER_NONE)
    return;
  order_id pid = o->peer;
  for (int k = 0; k < 2 && pid != ORDER_NONE; k++) {
    order *p = oms__get(e->oms, pid);
    if (!p)
      return;
    if (!order_is_terminal(p->state)) {
      order_amend a = {.what = OA_QTY, .qty = p->qty - qty};
      if (a.qty < p->filled)
        a.qty = p->filled;
      oms_amend(e->oms, p, &a, t);
    }
    pid = p->replaced_by;
  }
}

int engine__apply_fill(engine *e, order *o, const broker_report *r) {
  const char *why = NULL;
  fx v = 0, fee = 0;
  if (o->state == OS_NEW || o->state == OS_REJECTED || o->state == OS_FILLED)
    why = "a fill for an order that cannot have one";
  else
    why = fill_problem(e, o, r, &v, &fee);
  const session *sess;
  int64_t day = engine__order_day(e, o->sym, r->ts, &sess);
  if (!why && portfolio__fill(e->pf, o, r->qty, r->price, v, fee, r->ts, day,
                              NULL) != 0)
    why = "the position or cash would not fit";
  if (why) {
    refuse(e, r, o, why);
    return DTO_EINVAL;
  }
  order_id id = o->id;
  int rc = oms_fill(e->oms, o, r->qty, v, fee, r->ts);
  if (rc) { /* checked above: cannot happen */
    log_line l;
    if (log_begin(&l, e->cfg.log, LOG_ERROR, "order.fill_not_recorded")) {
      log_report(&l, e, r, o);
      log_str(&l, "error", dto_strerror(rc));
      log_end(&l);
    }
  }
  o = oms__get(e->oms, id);
  e->fills++;
  log_line l; /* no call without a log, as engine__log_order */
  if (e->cfg.log && log_begin(&l, e->cfg.log, LOG_INFO, "order.fill")) {
    log_str(&l, "cloid", o->cloid);
    log_str(&l, "symbol", e->cfg.instruments->v[o->sym].symbol);
    log_str(&l, "side", order_side_name(o->side));
    log_fx(&l, "qty", r->qty);
    log_fx(&l, "price", r->price);
    log_fx(&l, "fee", fee);
    log_fx(&l, "filled", o->filled);
    log_end(&l);
  }
  if (e->cfg.hooks.fill)
    e->cfg.hooks.fill(e->cfg.hooks.ctx, o, r->qty, r->price, fee, r->ts);
  o = oms__get(e->oms, id);
  reduce_peer(e, o, r->qty, r->ts);
  o = oms__get(e->oms, id);
  engine__bracket_fill(e, o, r->qty);
  /* the fill-loop guard: too many fills too fast halts the strategy; its
   * working orders go, but the protective exits of its positions stay */
  if (risk_on_fill(e->risk, o->strategy, o->sym, r->ts)) {
    uint32_t si = o->strategy;
    engine__alert(
        e, "fill_loop", 2, si,
        "too many fills in a short window: strategy halted until a person "
        "re-enables it");
    engine__cancel_scope(e, 2, si);
  }
  return 0;
}

void engine__handle(engine *e, const broker_report *r) {
  order *o = oms__get(e->oms, r->id);
  const char *why = NULL;
  enum verdict v = check(o, r, &why);
  if (v == INVALID) {
    refuse(e, r, o, why);
    return;
  }
  if (v == STALE) {
    log_line l;
    if (log_begin(&l, e->cfg.log, LOG_INFO, "broker.stale_report")) {
      log_report(&l, e, r, o);
      log_end(&l);
    }
    return;
  }
  order_id id = o->id;
  enum order_state before = o->state;
  switch (r->kind) {
  case REP_ACCEPTED:
    oms_transition(e->oms, o, OS_ACCEPTED, r->ts);
    break;
  case REP_REJECTED:
    o->reason = r->reason;
    oms_transition(e->oms, o, OS_REJECTED, r->ts);
    engine__log_order(e, "order.rejected", o);
    break;
  case REP_FILL:
    if (engine__apply_fill(e, o, r) != 0)
      return;
    break;
  case REP_CANCELED:
    o->reason = r->reason;
    oms_transition(e->oms, o, OS_CANCELED, r->ts);
    break;
  case REP_EXPIRED:
    o->reason = r->reason;
    oms_transition(e->oms, o, OS_EXPIRED, r->ts);
    break;
  case REP_REPLACED: {
    order_id nid = o->replaced_by;
    if (oms_transition(e->oms, o, OS_REPLACED, r->ts) != 0)
      break;
    if (o->peer != ORDER_NONE) {
      /* a replaced bracket exit: its peer now cancels the replacement */
      order *p = oms__get(e->oms, o->peer);
      if (p && p->peer == id) {
        order_amend a = {.what = OA_PEER, .peer = nid};
        oms_amend(e->oms, p, &a, r->ts);
      }
    }
    /* the bracket's later exits take the replacement's price */
    if (o->bracket)
      engine__bracket_exit_moved(e, oms__cget(e->oms, nid));
    break;
  }
  case REP_CANCEL_REJECT:
    if (o->state == OS_PENDING_CANCEL)
      oms_transition(e->oms, o, o->filled ? OS_PARTIALLY_FILLED : OS_ACCEPTED,
                     r->ts);
    /* A refused replace: the replacement never existed at the broker.  The
     * old order may have filled meanwhile, so this does not depend on its
     * state. */
    o = oms__get(e->oms, id);
    if (o->replaced_by != ORDER_NONE) {
      order_id nid = o->replaced_by;
      order_amend a = {.what = OA_REPLACED_BY, .replaced_by = ORDER_NONE};
      oms_amend(e->oms, o, &a, r->ts);
      order *n = oms__get(e->oms, nid);
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
  o = oms__get(e->oms, id);
  if (o->role != BR_ENTRY && o->role != BR_NONE &&
      order_is_terminal(o->state) && !order_is_terminal(before) &&
      before != OS_PENDING_CANCEL && o->state != OS_FILLED &&
      o->state != OS_REPLACED && o->reason != BRR_OCO)
    engine__bracket_exit_lost(e, o);
  engine__notify(e, o);
  o = oms__get(e->oms, id); /* the strategy may have created orders */
  if (!o)
    return; /* forgotten meanwhile: only with a tiny oms keep */
  if (o->bracket)
    engine__bracket_sync(e, o->bracket);
}
