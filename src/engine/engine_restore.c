/* engine_restore.c - restart: restored positions and orders, client order
 * ids, reconciliation with the broker. */
#include "engine/engine_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "engine/snapshot.h"

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
  char acct[CLOID_MAX], sid[CLOID_MAX];
  if (cloid_parse(cloid, acct, sizeof acct, sid, sizeof sid, day, seq))
    return DTO_EINVAL;
  if ((*strategy = engine__find_strategy(e, sid)) < 0)
    return DTO_ENOENT;
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
  oms_transition(e->oms, oms__get(e->oms, id),
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
  order w = *oms__get(e->oms, id);
  w.qty = order_leaves(&w);
  w.filled = w.notional = w.fees = 0;
  e->touched = true;
  int rc = e->cfg.broker->submit(e->cfg.broker_ctx, &w);
  engine__log_order(e, rc ? "order.restore_failed" : "order.restored",
                    oms__get(e->oms, id));
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
  order_init(&t);
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
    engine__log_order(e, "reconcile.adopted", oms__get(e->oms, id));
  return id;
}

/* The broker's fills of one working order (idx: indexes into bf, oldest
 * first) against what the engine counted (o->filled, o->notional): find
 * the fills the engine has, by quantity and value (a subset whose sums
 * match; the stream may have lost, repeated or reordered events, so it
 * need not be a prefix), and apply the others in the broker's order.
 * Exact: no time window, no rounding.  DTO_ESTATE when no subset matches
 * (the engine counted a fill the broker does not list). */
#define RECONCILE_SUBSET_MAX 20
static int apply_order_fills(engine *e, order_id id, const broker_fill *bf,
                             const size_t *idx, size_t k,
                             reconcile_result *res) {
  const order *o = oms__cget(e->oms, id);
  fx want_q = o->filled, want_v = o->notional;
  uint32_t have = 0; /* bit i: the engine has fill idx[i] */
  bool found = false;
  if (want_q == 0) {
    found = true;
  } else if (k <= RECONCILE_SUBSET_MAX) {
    for (uint32_t m = 1; m < (1u << k) && !found; m++) {
      fx q = 0, v = 0, x;
      bool ok = true;
      for (size_t i = 0; i < k && ok; i++)
        if (m & (1u << i)) {
          ok = !fx_add(q, bf[idx[i]].qty, &q) &&
               !fx_mul(bf[idx[i]].qty, bf[idx[i]].price, &x) &&
               !fx_add(v, x, &v);
        }
      if (ok && q == want_q && v == want_v) {
        have = m;
        found = true;
      }
    }
  }
  if (!found) {
    log_line l;
    if (log_begin(&l, e->cfg.log, LOG_ERROR, "reconcile.fills")) {
      log_str(&l, "cloid", o->cloid);
      log_fx(&l, "counted_qty", want_q);
      log_int(&l, "broker_fills", (int64_t)k);
      log_end(&l);
    }
    return DTO_ESTATE;
  }
  for (size_t i = 0; i < k; i++) {
    if (have & (1u << i))
      continue;
    order *w = oms__get(e->oms, id);
    if (!w || !order_is_working(w->state))
      break;
    const broker_fill *f = &bf[idx[i]];
    broker_report rep = {REP_FILL, id, ORDER_NONE, f->qty, f->price, f->ts, 0};
    fx before = w->filled;
    engine__apply_fill(e, w, &rep);
    if (oms__cget(e->oms, id)->filled > before)
      res->fills_applied++;
  }
  return 0;
}

/* Fills the broker made on our working orders that the engine missed. */
static int apply_missed_fills(engine *e, const broker_fill *bf, size_t nf,
                              reconcile_result *res) {
  size_t nopen = engine__open_snapshot(e);
  /* a copy: applying a fill runs strategies, which may use the scratch */
  order_id *ids = xcalloc(nopen ? nopen : 1, sizeof *ids);
  if (nopen)
    memcpy(ids, e->scratch, nopen * sizeof *ids);
  size_t *idx = xcalloc(nf ? nf : 1, sizeof *idx);
  bool *mine = xcalloc(nf ? nf : 1, sizeof *mine);
  int rc = 0;
  for (size_t i = 0; i < nopen && !rc; i++) {
    const order *o = oms__cget(e->oms, ids[i]);
    if (!o || !order_is_working(o->state))
      continue;
    size_t k = 0;
    for (size_t j = 0; j < nf; j++)
      if (!strcmp(bf[j].cloid, o->cloid)) {
        idx[k++] = j;
        mine[j] = true;
      }
    if (k)
      rc = apply_order_fills(e, o->id, bf, idx, k, res);
  }
  for (size_t j = 0; j < nf; j++)
    res->unknown_fills += !mine[j];
  free(ids);
  free(idx);
  free(mine);
  return rc;
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
    rc = apply_missed_fills(e, bf, nf, res);
    if (rc) {
      free(bf);
      free(bo);
      free(bp);
      unreconciled(e, res, rc,
                   "the broker's fills of an order do not contain the ones "
                   "dto counted: no trading until a person checks the books");
      return rc;
    }
    free(bf);
  }
  /* our working orders the broker does not have */
  size_t nopen = engine__open_snapshot(e);
  for (size_t i = 0; i < nopen; i++) {
    order *o = oms__get(e->oms, e->scratch[i]);
    if (!o || !order_is_working(o->state) ||
        (opt->unsent && opt->unsent(opt->unsent_ctx, o->id)))
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
      const order *o = oms__cget(e->oms, ids[i]);
      found = o && !strcmp(o->cloid, bo[k].cloid);
    }
    /* one of ours that has just ended (a fill between the broker's two
     * answers: open then, filled now) is not unknown */
    for (size_t i = oms_count(e->oms); i-- > 0 && !found;) {
      const order *o = oms__cget(e->oms, (order_id)i);
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
      const order *o = oms__cget(e->oms, id);
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
      ours += portfolio__account_pos(e->pf, (uint32_t)a, (sym_id)y)->qty;
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

/* ---- checkpoints ---------------------------------------------------------- */

#define CKPT_MAGIC "dto-engine-checkpoint"
#define CKPT_VERSION 1

/* What the engine is made of: a checkpoint is only read back into an
 * engine built from the same accounts, instruments and strategies. */
static void snap_shape(const engine *e, dbuf *b) {
  snap_u64(b, e->cfg.naccounts);
  for (size_t i = 0; i < e->cfg.naccounts; i++)
    snap_str(b, e->cfg.accounts[i].id);
  snap_u64(b, e->cfg.instruments->n);
  for (size_t i = 0; i < e->cfg.instruments->n; i++)
    snap_str(b, e->cfg.instruments->v[i].symbol);
  snap_u64(b, e->nst);
  for (size_t i = 0; i < e->nst; i++) {
    const strat *s = &e->st[i];
    snap_str(b, s->id);
    snap_str(b, s->def->name);
    snap_u32(b, s->account);
    snap_u64(b, s->def->state_size);
    snap_u64(b, s->def->sym_state_size);
    snap_u64(b, s->nsyms);
    for (size_t k = 0; k < s->nsyms; k++)
      snap_u32(b, s->syms[k]);
  }
}

int engine_snapshot(const engine *e, dbuf *b) {
  size_t start = b->len;
  snap_str(b, CKPT_MAGIC);
  snap_u32(b, CKPT_VERSION);
  snap_shape(e, b);
  snap_i64(b, e->day);
  snap_u64(b, e->fills);
  snap_u64(b, e->tseq);
  for (size_t a = 0; a < e->cfg.naccounts; a++) {
    snap_i64(b, e->acct_day_start[a]);
    snap_i64(b, e->acct_day_peak[a]);
  }
  for (size_t i = 0; i < e->nst; i++) {
    const strat *s = &e->st[i];
    snap_u32(b, s->seq);
    snap_i64(b, s->cloid_day);
    snap_i64(b, s->day_start);
    snap_i64(b, s->day_peak);
    for (size_t k = 0; k < s->nsyms; k++) {
      snap_i64(b, s->flattened_day[k]);
      snap_u32(b, s->flat[k].oid);
      snap_u32(b, (uint32_t)s->flat[k].why);
      snap_i64(b, s->flat[k].day);
    }
    snap_blob(b, s->state, s->def->state_size);
    snap_blob(b, s->sym_state, s->nsyms * s->def->sym_state_size);
  }
  snap_u64(b, e->ntimers); /* the heap's array as it is: still a heap */
  for (size_t i = 0; i < e->ntimers; i++) {
    snap_i64(b, e->timers[i].at);
    snap_u64(b, e->timers[i].seq);
    snap_u32(b, e->timers[i].strat);
    snap_u64(b, e->timers[i].tag);
  }
  for (size_t y = 0; y < e->cfg.instruments->n; y++) {
    const symsubs *ss = &e->subs[y];
    snap_i64(b, ss->ref_price);
    snap_i64(b, ss->ref_time);
    snap_i64(b, ss->day_from);
    snap_i64(b, ss->day_until);
    snap_bool(b, ss->have_sess);
    snap_session(b, &ss->sess);
    snap_bool(b, ss->halted);
  }
  engine__brackets_snapshot(e, b);
  oms_snapshot(e->oms, b);
  portfolio_snapshot(e->pf, b);
  size_t at = b->len;
  snap_u64(b, 0); /* the risk snapshot's length, set below */
  size_t nr = risk_snapshot(e->risk, b);
  if (nr == 0 || b->len != at + 8 + nr) {
    b->len = start;
    return DTO_ENOMEM;
  }
  for (int i = 0; i < 8; i++)
    b->ptr[at + i] = (char)((uint64_t)nr >> (8 * i));
  return 0;
}

/* Counters that follow from the open orders (on_transition keeps them). */
static void recount_working(engine *e) {
  e->working = 0;
  for (size_t y = 0; y < e->cfg.instruments->n; y++)
    e->subs[y].working = 0;
  for (size_t a = 0; a < e->cfg.naccounts; a++)
    e->acct_open[a] = 0;
  for (size_t i = 0; i < e->nst; i++) {
    e->st[i].open_total = 0;
    memset(e->st[i].open_per_sym, 0,
           e->st[i].nsyms * sizeof *e->st[i].open_per_sym);
  }
  size_t n;
  const order_id *ids = oms_open_ids(e->oms, &n);
  for (size_t i = 0; i < n; i++) {
    const order *o = oms__cget(e->oms, ids[i]);
    if (!o || !order_is_working(o->state))
      continue;
    strat *s = &e->st[o->strategy];
    e->working++;
    e->subs[o->sym].working++;
    e->acct_open[o->account]++;
    s->open_total++;
    for (size_t k = 0; k < s->nsyms; k++)
      if (s->syms[k] == o->sym) {
        s->open_per_sym[k]++;
        break;
      }
  }
}

int engine_restore_snapshot(engine *e, const void *p, size_t n, char *err,
                            size_t cap) {
  if (!e->started || oms_count(e->oms) != 0 || e->fills != 0) {
    snprintf(err, cap, "a checkpoint is restored right after the start");
    return DTO_ESTATE;
  }
  snap_reader rd, *r = &rd;
  snap_reader_init(r, p, n);
  snap_expect_str(r, CKPT_MAGIC);
  uint32_t version = snap_get_u32(r);
  if (!snap_ok(r) || version != CKPT_VERSION) {
    snprintf(err, cap, "the checkpoint is damaged or of another dto version "
                       "(format %u, this dto reads %d)",
             version, CKPT_VERSION);
    return DTO_EINVAL;
  }
  dbuf shape;
  dbuf_init(&shape, SIZE_MAX / 2);
  snap_shape(e, &shape);
  size_t shape_len = shape.len;
  bool same = shape.len <= n - r->off &&
              !memcmp(r->p + r->off, shape.ptr, shape.len);
  dbuf_release(&shape);
  if (!same) {
    snprintf(err, cap,
             "the checkpoint was written with other accounts, instruments or "
             "strategies: restore it with the configuration that wrote it");
    return DTO_EINVAL;
  }
  r->off += shape_len;
  /* Decode everything into scratch first: e changes only when the whole
   * checkpoint is sound. */
  int64_t day = snap_get_i64(r);
  uint64_t fills = snap_get_u64(r), tseq = snap_get_u64(r);
  size_t na = e->cfg.naccounts, ni = e->cfg.instruments->n;
  fx *ads = xcalloc(na + 1, sizeof *ads), *adp = xcalloc(na + 1, sizeof *adp);
  for (size_t a = 0; a < na; a++) {
    ads[a] = snap_get_i64(r);
    adp[a] = snap_get_i64(r);
  }
  typedef struct sv {
    uint32_t seq;
    int64_t cloid_day;
    fx day_start, day_peak;
    int64_t *flattened;
    flat_state *flat;
    void *state, *sym_state;
  } sv;
  sv *svs = xcalloc(e->nst + 1, sizeof *svs);
  for (size_t i = 0; i < e->nst; i++) {
    const strat *s = &e->st[i];
    sv *v = &svs[i];
    v->seq = snap_get_u32(r);
    v->cloid_day = snap_get_i64(r);
    v->day_start = snap_get_i64(r);
    v->day_peak = snap_get_i64(r);
    v->flattened = xcalloc(s->nsyms, sizeof *v->flattened);
    v->flat = xcalloc(s->nsyms, sizeof *v->flat);
    for (size_t k = 0; k < s->nsyms; k++) {
      v->flattened[k] = snap_get_i64(r);
      v->flat[k].oid = snap_get_u32(r);
      v->flat[k].why = (int)snap_get_u32(r);
      v->flat[k].day = snap_get_i64(r);
      snap_check(r, (v->flat[k].why >= 0 && v->flat[k].why < RISK_REASON_COUNT) ||
                         v->flat[k].why == FLAT_WHY_BROKER);
    }
    v->state = xcalloc(1, s->def->state_size ? s->def->state_size : 1);
    snap_get_blob(r, v->state, s->def->state_size);
    v->sym_state = xcalloc(s->nsyms, s->def->sym_state_size
                                         ? s->def->sym_state_size
                                         : 1);
    snap_get_blob(r, v->sym_state, s->nsyms * s->def->sym_state_size);
  }
  size_t nt = snap_get_count(r, (size_t)1 << 24);
  timer *tv = xcalloc(nt + 1, sizeof *tv);
  for (size_t i = 0; i < nt; i++) {
    tv[i].at = snap_get_i64(r);
    tv[i].seq = snap_get_u64(r);
    tv[i].strat = snap_get_u32(r);
    tv[i].tag = snap_get_u64(r);
    snap_check(r, tv[i].strat < e->nst);
  }
  symsubs *subv = xcalloc(ni + 1, sizeof *subv);
  for (size_t y = 0; y < ni; y++) {
    subv[y].ref_price = snap_get_i64(r);
    subv[y].ref_time = snap_get_i64(r);
    subv[y].day_from = snap_get_i64(r);
    subv[y].day_until = snap_get_i64(r);
    subv[y].have_sess = snap_get_bool(r);
    snap_get_session(r, &subv[y].sess);
    subv[y].halted = snap_get_bool(r);
  }
  bracket_table brt;
  memset(&brt, 0, sizeof brt);
  int rc = snap_ok(r) ? engine__brackets_decode(e, r, &brt) : DTO_EINVAL;
  /* the OMS, the portfolio and the risk state check themselves; each is
   * restored only when everything before it was sound */
  oms *om = oms_new(NULL, NULL);
  if (!rc)
    rc = oms_restore_snapshot(om, r);
  if (!rc) {
    size_t norders;
    const order_id *ids = oms_open_ids(om, &norders);
    for (size_t i = 0; i < norders && !rc; i++) {
      const order *o = oms__cget(om, ids[i]);
      if (o->strategy >= e->nst || o->account >= na || o->sym >= ni ||
          e->st[o->strategy].account != o->account)
        rc = DTO_EINVAL;
    }
  }
  if (!rc) {
    rc = portfolio_restore_snapshot(e->pf, r);
  }
  size_t nr = 0;
  if (!rc) {
    nr = snap_get_count(r, n);
    snap_check(r, nr <= n - r->off);
    rc = snap_ok(r) ? risk_restore_snapshot(e->risk, r->p + r->off, nr)
                    : DTO_EINVAL;
    r->off += snap_ok(r) ? nr : 0;
  }
  if (!rc && r->off != n)
    rc = DTO_EINVAL;
  if (!rc) {
    /* the OMS: keep the engine's observer on the restored table */
    oms_free(e->oms);
    e->oms = om;
    oms_set_observer(e->oms, engine__on_transition, e);
    om = NULL;
    e->day = day;
    e->fills = fills;
    e->tseq = tseq;
    memcpy(e->acct_day_start, ads, na * sizeof *ads);
    memcpy(e->acct_day_peak, adp, na * sizeof *adp);
    for (size_t i = 0; i < e->nst; i++) {
      strat *s = &e->st[i];
      s->seq = svs[i].seq;
      s->cloid_day = svs[i].cloid_day;
      s->day_start = svs[i].day_start;
      s->day_peak = svs[i].day_peak;
      memcpy(s->flattened_day, svs[i].flattened,
             s->nsyms * sizeof *s->flattened_day);
      memcpy(s->flat, svs[i].flat, s->nsyms * sizeof *s->flat);
      memcpy(s->state, svs[i].state, s->def->state_size);
      memcpy(s->sym_state, svs[i].sym_state,
             s->nsyms * s->def->sym_state_size);
    }
    e->timers = xgrow(e->timers, &e->tcap, nt + 1, sizeof *e->timers);
    memcpy(e->timers, tv, nt * sizeof *tv);
    e->ntimers = nt;
    for (size_t y = 0; y < ni; y++) {
      symsubs *ss = &e->subs[y];
      ss->ref_price = subv[y].ref_price;
      ss->ref_time = subv[y].ref_time;
      ss->day_from = subv[y].day_from;
      ss->day_until = subv[y].day_until;
      ss->have_sess = subv[y].have_sess;
      ss->sess = subv[y].sess;
      ss->halted = subv[y].halted;
    }
    engine__brackets_install(e, &brt);
    recount_working(e);
    engine__update_flatten_flags(e);
    e->touched = true;
  } else {
    snprintf(err, cap, "the checkpoint is damaged (it does not decode)");
  }
  oms_free(om);
  engine__brackets_table_release(&brt);
  for (size_t i = 0; i < e->nst; i++) {
    free(svs[i].flattened);
    free(svs[i].flat);
    free(svs[i].state);
    free(svs[i].sym_state);
  }
  free(svs);
  free(tv);
  free(subv);
  free(ads);
  free(adp);
  return rc;
}
