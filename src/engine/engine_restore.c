/* engine_restore.c - restart: restored positions and orders, client order
 * ids, reconciliation with the broker. */
#include "engine/engine_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

/* ---- restart ------------------------------------------------------------- */

int engine__find_strategy(const engine *e, const char *id) {
  for (size_t i = 0; i < e->nst; i++)
    if (!strcmp(e->st[i].id, id))
      return (int)i;
  return -1;
}

int engine__find_account(const engine *e, const char *id) {
  for (size_t i = 0; i < e->cfg.naccounts; i++)
    if (!strcmp(e->cfg.accounts[i].id, id))
      return (int)i;
  return -1;
}

int engine_restore_position(engine *e, const char *account,
                            const char *strategy, sym_id sym,
                            const position *pos) {
  int a = engine__find_account(e, account);
  if (a < 0)
    return DTO_ENOENT;
  int s = -1;
  if (strategy && *strategy && (s = engine__find_strategy(e, strategy)) < 0)
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
int engine__parse_cloid(const engine *e, const char *cloid, int *strategy,
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
  if ((*strategy = engine__find_strategy(e, sid)) < 0)
    return DTO_ENOENT;
  *day = days_from_civil(y, mo, dd);
  *seq = (uint32_t)v;
  return 0;
}

int engine_note_cloid(engine *e, const char *cloid) {
  int s;
  int64_t day;
  uint32_t seq;
  int rc = engine__parse_cloid(e, cloid, &s, &day, &seq);
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
order_id engine__track_working(engine *e, order *t, const char *cloid) {
  if (t->sym >= e->cfg.instruments->n || t->qty <= 0 || t->filled < 0 ||
      t->filled >= t->qty)
    return ORDER_NONE;
  engine_note_cloid(e, cloid);
  t->parent = t->replaces = t->replaced_by = ORDER_NONE; /* peer: as given */
  dto_time tm = engine__now(e);
  order *o = oms_create(e->oms, t, cloid, tm);
  order_id id = o->id;
  oms_transition(e->oms, o, OS_PENDING_NEW, tm);
  oms_transition(e->oms, oms_get(e->oms, id),
                 t->filled > 0 ? OS_PARTIALLY_FILLED : OS_ACCEPTED, tm);
  return id;
}

int engine_restore_order(engine *e, const char *account, const char *strategy,
                         const char *cloid, const order *tmpl) {
  int a = engine__find_account(e, account),
      s = engine__find_strategy(e, strategy);
  if (a < 0 || s < 0)
    return DTO_ENOENT;
  order t = *tmpl;
  t.strategy = (uint32_t)s;
  t.account = (uint32_t)a;
  if (t.peer != ORDER_NONE)
    t.role = t.type == ORD_STOP ? BR_STOP_LOSS : BR_TAKE_PROFIT;
  order_id id = engine__track_working(e, &t, cloid);
  if (id == ORDER_NONE)
    return DTO_EINVAL;
  /* the (paper) broker gets what is left; its reports cap at the leaves */
  order w = *oms_get(e->oms, id);
  w.qty = order_leaves(&w);
  w.filled = w.notional = w.fees = 0;
  e->touched = true;
  int rc = e->cfg.broker->submit(e->cfg.broker_ctx, &w);
  engine__log_order(e, rc ? "order.restore_failed" : "order.restored",
                    oms_get(e->oms, id));
  return rc;
}

/* ---- reconciliation with the broker -------------------------------------- */

static void unreconciled(engine *e, reconcile_result *res, int err,
                         const char *msg) {
  risk_unreconciled(e->risk, true);
  res->error = err;
  engine__alert(e, "unreconciled", 3, 0, msg);
}

/* Adopt an order the broker has and the engine does not: tracked like our
 * own, so positions and risk count it. */
static order_id adopt(engine *e, const broker_open_order *b) {
  /* the strategy named in the client order id, else the first one */
  int s = 0;
  int64_t day;
  uint32_t seq;
  if (engine__parse_cloid(e, b->cloid, &s, &day, &seq))
    s = 0;
  if ((size_t)s >= e->nst)
    return ORDER_NONE;
  order t;
  engine__init_order(&t);
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
  order_id id = engine__track_working(e, &t, b->cloid);
  if (id != ORDER_NONE)
    engine__log_order(e, "reconcile.adopted", oms_get(e->oms, id));
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
      broker_report rep = {REP_FILL,    id,       ORDER_NONE, bf[k].qty,
                           bf[k].price, bf[k].ts, 0};
      order *o = oms_get(e->oms, id);
      fx before = o->filled;
      engine__apply_fill(e, o, &rep);
      if (oms_cget(e->oms, id)->filled > before)
        res->fills_applied++;
    }
    free(bf);
  }
  /* our working orders the broker does not have */
  size_t nopen = engine__open_snapshot(e);
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
    oms_transition(e->oms, o, OS_CANCELED, engine__now(e));
    engine__log_order(e, "reconcile.missing", o);
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
