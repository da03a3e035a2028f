/* engine_brackets.c - brackets: the exits that protect what bracket entries
 * opened.
 *
 * The bracket invariant: the position a bracket's entries opened (the sum
 * of their fills, replacements and fills reported after a cancel included,
 * minus the fills of its exits) is covered by working exits for exactly
 * that quantity: take-profits for all of it when the entry asked for one,
 * stop-losses for all of it when it asked for one.  When that cannot be
 * (the journal cannot write, the books are unreconciled, the broker refused
 * or lost an exit), an alert says why (bracket_unprotected, once per
 * reason) and the engine tries again at the next event of the instrument,
 * once per event, until the exits are back (bracket_protected).
 *
 * Exits come in pairs, one take-profit and one stop-loss for the same
 * quantity, peers of each other (one cancels the other, as the broker's
 * OCO).  A pair never grows: each batch of entry fills that is not covered
 * yet gets a new pair for what is missing, so a partly filled day entry is
 * protected from its first fill on.  A pair that lost one of its two exits
 * (rejected, canceled or expired by the broker) is canceled and replaced by
 * a whole pair; exits that cover more than is open (a fill reported after a
 * cancel) are canceled and placed again at the right size.  Nothing new is
 * placed while an exit of the bracket has a cancel pending: it can still
 * fill.
 *
 * Exits do not pass risk_check: they can only close what the bracket
 * opened, and refusing them leaves a position without its stop.  They pass
 * the kill switch, halts and reducing modes too; only a journal fault
 * (storage_fault: an order the journal does not have must not leave) and
 * unreconciled books hold them.  The kill switch and halts keep them
 * working (engine__cancel_scope).  See docs/internals/engine.md.
 *
 * Not for: the exits' own OCO reduction (engine_reports.c), flattening
 * (engine_orders.c).
 */
#include "engine/engine_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/snap.h"

/* Why a bracket is not covered; the alert repeats only when this changes. */
enum problem {
  BP_NONE,
  BP_STORE,        /* the journal cannot write */
  BP_UNRECONCILED, /* the books disagree with the broker */
  BP_SUBMIT,       /* the broker did not take an exit */
  BP_LOST,         /* the broker rejected, canceled or expired one exit */
  BP_OVER,         /* exits cover more than is open */
  BP_OVERFILLED,   /* exits filled more than the entries */
  BP_CANCEL        /* a cancel the fix needs could not be sent */
};

static const char *problem_code(int p) {
  static const char *const codes[] = {
      "",     "storage_fault", "unreconciled", "submit",
      "lost", "over",          "overfilled",   "cancel"};
  return (unsigned)p < DTO_ARRAY_LEN(codes) ? codes[p] : "?";
}

static const char *problem_text(int p) {
  switch (p) {
  case BP_STORE:
    return "the journal cannot write (storage_fault)";
  case BP_UNRECONCILED:
    return "the books are not reconciled with the broker (unreconciled)";
  case BP_SUBMIT:
    return "the broker did not take an exit";
  case BP_LOST:
    return "the broker rejected, canceled or expired one exit of a pair; "
           "the pair is replaced";
  case BP_OVER:
    return "exits cover more than is open (a fill reported late); they are "
           "placed again";
  case BP_OVERFILLED:
    return "exits filled more than the entries: a person must check the "
           "position";
  case BP_CANCEL:
    return "a cancel needed to fix the exits could not be sent";
  default:
    return "";
  }
}

/* ---- the table ----------------------------------------------------------- */

static size_t lower(const engine *e, uint32_t id) {
  size_t lo = 0, hi = e->nbr;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (e->br[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static bracket *find(engine *e, uint32_t id) {
  size_t i = lower(e, id);
  return i < e->nbr && e->br[i].id == id ? &e->br[i] : NULL;
}

static const bracket *cfind(const engine *e, uint32_t id) {
  size_t i = lower(e, id);
  return i < e->nbr && e->br[i].id == id ? &e->br[i] : NULL;
}

uint32_t engine__bracket_next(engine *e) {
  if (e->br_seq == UINT32_MAX)
    e->br_seq = 0; /* after 4 billion brackets: wraps past 0 */
  return ++e->br_seq;
}

/* The record of entry o's bracket, made now (kept sorted by id: a record
 * forgotten while its entry still works is made again at its next fill,
 * out of id order).  Pointers into e->br move. */
static bracket *make(engine *e, const order *o) {
  size_t i = lower(e, o->bracket);
  e->br = xgrow(e->br, &e->brcap, e->nbr + 1, sizeof *e->br);
  memmove(e->br + i + 1, e->br + i, (e->nbr - i) * sizeof *e->br);
  e->nbr++;
  bracket *b = &e->br[i];
  memset(b, 0, sizeof *b);
  b->id = o->bracket;
  b->root = o->replaces != ORDER_NONE ? o->replaces : o->id;
  memcpy(b->cloid, o->cloid, sizeof b->cloid);
  b->strategy = o->strategy;
  b->account = o->account;
  b->sym = o->sym;
  b->side = o->side;
  b->tp = o->tp_price;
  b->sl = o->sl_price;
  return b;
}

static void set_retry(engine *e, bracket *b, bool on) {
  if (b->retry == on)
    return;
  b->retry = on;
  if (on)
    e->subs[b->sym].br_retry++;
  else
    e->subs[b->sym].br_retry--;
}

static void set_done(engine *e, bracket *b, bool on) {
  if (b->done == on)
    return;
  b->done = on;
  if (!on) {
    e->br_done--;
    return;
  }
  e->br_done++;
  if (e->br_done <= BRACKET_KEEP_DONE)
    return;
  /* forget the oldest finished one; a report about its orders after this
   * finds no bracket (as the OMS forgets old terminal orders) */
  uint32_t keep = b->id;
  for (size_t i = 0; i < e->nbr; i++) {
    if (e->br[i].done && e->br[i].id != keep) {
      memmove(e->br + i, e->br + i + 1, (e->nbr - i - 1) * sizeof *e->br);
      e->nbr--;
      e->br_done--;
      return;
    }
  }
}

/* ---- what the bracket has ------------------------------------------------ */

typedef struct scan {
  bool entry_working;
  bool exit_working; /* any exit working, including those with no leaves */
  bool pending;      /* an exit has a cancel pending (not a replace) */
  bool unacked;      /* an exit the broker has not acknowledged yet */
  size_t half;       /* working exits whose peer is gone */
  fx cov[2];         /* leaves of the working take-profits, stop-losses */
} scan;

static bool alive(const order *o) {
  return o && order_is_working(o->state) && order_leaves(o) > 0;
}

/* Is exit o a survivor: its pair should have two exits and its peer is
 * gone (or has nothing left, or names someone else)? */
static bool survivor(const engine *e, const bracket *b, const order *o) {
  if (b->tp <= 0 || b->sl <= 0)
    return false;
  const order *p = o->peer != ORDER_NONE ? oms__cget(e->oms, o->peer) : NULL;
  /* a replacement's peer names the order it replaces until the broker
   * confirms the replace */
  return !alive(p) || (p->peer != o->id && p->peer != o->replaces);
}

/* Does exit o count?  An exit being replaced counts through its
 * replacement; one with nothing left waits for its OCO cancel. */
static bool counts(const engine *e, const order *o) {
  if (!order_is_working(o->state) || order_leaves(o) <= 0)
    return false;
  if (o->replaced_by != ORDER_NONE && alive(oms__cget(e->oms, o->replaced_by)))
    return false;
  return true;
}

static bool is_exit(const order *o) {
  return o->role == BR_TAKE_PROFIT || o->role == BR_STOP_LOSS;
}

static void scan_bracket(const engine *e, const bracket *b, scan *sc) {
  memset(sc, 0, sizeof *sc);
  size_t n;
  const order_id *ids = oms_open_ids(e->oms, &n);
  for (size_t i = 0; i < n; i++) {
    const order *o = oms__cget(e->oms, ids[i]);
    if (!o || o->bracket != b->id || !order_is_working(o->state))
      continue;
    if (o->role == BR_ENTRY) {
      sc->entry_working = true;
      continue;
    }
    if (!is_exit(o))
      continue;
    sc->exit_working = true;
    if (!counts(e, o))
      continue;
    if (o->state == OS_PENDING_CANCEL)
      sc->pending = true;
    if (o->state == OS_PENDING_NEW)
      sc->unacked = true;
    sc->cov[o->role == BR_STOP_LOSS] += order_leaves(o);
    if (survivor(e, b, o))
      sc->half++;
  }
}

/* Cancel the bracket's working exits: all of them, or the survivors of
 * broken pairs.  Returns false when a cancel could not be sent. */
static bool cancel_exits(engine *e, const bracket *b, bool all) {
  bool ok = true;
  size_t n;
  const order_id *ids = oms_open_ids(e->oms, &n);
  /* cancels move orders to pending_cancel, which keeps them open: the
   * list does not change while we walk it */
  for (size_t i = 0; i < n; i++) {
    const order *o = oms__cget(e->oms, ids[i]);
    if (!o || o->bracket != b->id || !is_exit(o) ||
        !order_is_working(o->state) || o->state == OS_PENDING_CANCEL)
      continue;
    if (!all && !(counts(e, o) && survivor(e, b, o)))
      continue;
    if (engine__cancel(e, o->id) != 0)
      ok = false;
  }
  return ok;
}

/* ---- placing a pair ------------------------------------------------------ */

/* Create one exit of bracket b (pending_new, not sent yet): past the exit
 * gate, recorded as accepted by the risk hook. */
static order_id create_exit(engine *e, const bracket *b, enum bracket_role role,
                            fx qty, order_id peer, dto_time t) {
  order tm;
  order_init(&tm);
  tm.sym = b->sym;
  tm.side = b->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY;
  tm.tif = TIF_GTC;
  tm.qty = qty;
  tm.role = role;
  tm.parent = b->root;
  tm.peer = peer;
  tm.bracket = b->id;
  if (role == BR_TAKE_PROFIT) {
    tm.type = ORD_LIMIT;
    tm.limit_price = b->tp;
  } else {
    tm.type = ORD_STOP;
    tm.stop_price = b->sl;
  }
  order *o = engine__create_order(e, &e->st[b->strategy], &tm, t);
  if (e->cfg.hooks.risk_decision) {
    risk_decision d;
    memset(&d, 0, sizeof d);
    d.reason = RISK_OK;
    e->cfg.hooks.risk_decision(e->cfg.hooks.ctx, o, &d);
  }
  order_id id = o->id;
  oms_transition(e->oms, o, OS_PENDING_NEW, t);
  return id;
}

/* Place exits for qty more of bracket b: a pair (or the one exit it has).
 * Returns BP_NONE or why not. */
static int place(engine *e, uint32_t bid, fx qty) {
  /* the exit gate: what holds every order that must be journaled first */
  if (risk_store_faulted(e->risk))
    return BP_STORE;
  if (risk_is_unreconciled(e->risk))
    return BP_UNRECONCILED;
  dto_time t = engine__now(e);
  bracket *b = find(e, bid);
  bool has_tp = b->tp > 0, has_sl = b->sl > 0;
  order_id tp = ORDER_NONE, sl = ORDER_NONE;
  if (has_tp)
    tp = create_exit(e, b, BR_TAKE_PROFIT, qty, ORDER_NONE, t);
  if (has_sl)
    sl = create_exit(e, find(e, bid), BR_STOP_LOSS, qty, tp, t);
  if (has_tp && has_sl) { /* the take-profit learns its peer before it goes */
    order_amend a = {.what = OA_PEER, .peer = sl};
    oms_amend(e->oms, oms__get(e->oms, tp), &a, t);
  }
  if (has_tp && engine__send(e, tp, t) != 0) {
    if (has_sl) { /* its pair cannot go alone */
      order *o = oms__get(e->oms, sl);
      o->reason = BRR_OCO;
      oms_transition(e->oms, o, OS_REJECTED, t);
      engine__log_order(e, "order.rejected", o);
      engine__notify(e, o);
    }
    return BP_SUBMIT;
  }
  if (has_sl && engine__send(e, sl, t) != 0) {
    if (has_tp)
      engine__cancel(e, tp);
    return BP_SUBMIT;
  }
  return BP_NONE;
}

/* ---- the invariant ------------------------------------------------------- */

static void alert(engine *e, bracket *b, int problem, fx open, fx covered) {
  if (problem == b->alerted)
    return;
  b->alerted = problem;
  const instrument *in = &e->cfg.instruments->v[b->sym];
  char o[FX_STRLEN], c[FX_STRLEN], msg[512];
  fx_format(open, o, sizeof o);
  fx_format(covered, c, sizeof c);
  snprintf(msg, sizeof msg,
           "bracket %s in %s [%s]: %s open, %s covered by exits: %s; "
           "retrying at the next event",
           b->cloid, in->symbol, problem_code(problem), o, c,
           problem_text(problem));
  engine__alert(e, "bracket_unprotected", 2, b->strategy, msg);
}

/* retrying: called at an event of the instrument (or when a fault
 * cleared), not by a report: exits lost to the broker are placed again only
 * then. */
static void sync(engine *e, uint32_t bid, bool retrying) {
  bracket *b = find(e, bid);
  if (!b)
    return;
  if (retrying)
    b->lost = false;
  scan sc;
  scan_bracket(e, b, &sc);
  bool idle = !sc.entry_working && !sc.exit_working;
  if (b->released) {
    set_retry(e, b, false);
    set_done(e, b, idle);
    return;
  }
  fx open = b->entry_filled - b->exit_filled;
  bool has_tp = b->tp > 0, has_sl = b->sl > 0;
  fx cov = has_tp && has_sl ? fx_min(sc.cov[0], sc.cov[1])
           : has_tp         ? sc.cov[0]
                            : sc.cov[1];
  bool over = (has_tp && sc.cov[0] > open) || (has_sl && sc.cov[1] > open) ||
              (!has_tp && sc.cov[0] > 0) || (!has_sl && sc.cov[1] > 0) ||
              (has_tp && has_sl && !sc.half && sc.cov[0] != sc.cov[1]);
  int problem = BP_NONE;
  bool wait = false, placed = false;
  if (open < 0) {
    problem = BP_OVERFILLED;
    if (!cancel_exits(e, b, true))
      problem = BP_CANCEL;
  } else if (over) {
    problem = BP_OVER;
    if (!cancel_exits(e, b, true))
      problem = BP_CANCEL;
  } else if (sc.half) {
    problem = BP_LOST;
    if (!cancel_exits(e, b, false))
      problem = BP_CANCEL;
  } else if (sc.pending) {
    wait = true; /* a pending cancel can still fill: its report comes */
  } else if (open > cov && b->lost) {
    problem = BP_LOST; /* at the next event */
  } else if (open > cov) {
    problem = place(e, bid, open - cov);
    placed = problem == BP_NONE;
    b = find(e, bid);
  }
  if (problem != BP_NONE) {
    alert(e, b, problem, open, cov);
    set_retry(e, b, problem != BP_OVERFILLED);
    set_done(e, b, false);
    return;
  }
  if (wait) {
    set_retry(e, b, true);
    set_done(e, b, false);
    return;
  }
  /* after an alert, "protected" waits for the broker to take the exits:
   * one that refuses them again does not make the alert repeat */
  if (b->alerted && !placed && !sc.unacked) {
    b->alerted = BP_NONE;
    char o[FX_STRLEN], msg[256];
    fx_format(open, o, sizeof o);
    snprintf(msg, sizeof msg, "bracket %s in %s: exits cover the %s open again",
             b->cloid, e->cfg.instruments->v[b->sym].symbol, o);
    engine__alert(e, "bracket_protected", 2, b->strategy, msg);
  }
  set_retry(e, b, false);
  set_done(e, b, idle && open == 0);
}

void engine__bracket_sync(engine *e, uint32_t id) {
  if (id)
    sync(e, id, false);
}

void engine__bracket_exit_lost(engine *e, const order *o) {
  bracket *b = o->bracket ? find(e, o->bracket) : NULL;
  if (b && is_exit(o))
    b->lost = true;
}

void engine__bracket_open(engine *e, const order *entry) {
  if (entry->bracket && !find(e, entry->bracket))
    make(e, entry);
}

void engine__bracket_fill(engine *e, const order *o, fx qty) {
  if (!o->bracket)
    return;
  bracket *b = find(e, o->bracket);
  if (o->role == BR_ENTRY) {
    if (!b && o->tp_price <= 0 && o->sl_price <= 0)
      return; /* released before its first fill */
    if (!b)
      b = make(e, o);
    fx v;
    b->entry_filled = fx_add(b->entry_filled, qty, &v) ? FX_MAX : v;
  } else if (b && is_exit(o)) {
    fx v;
    b->exit_filled = fx_add(b->exit_filled, qty, &v) ? FX_MAX : v;
  }
  if (b)
    set_done(e, b, false);
}

void engine__brackets_retry(engine *e, sym_id sym) {
  /* the ids first: a retry can add records and move the table */
  for (size_t i = 0; i < e->nbr && e->subs[sym].br_retry; i++) {
    if (e->br[i].sym != sym || !e->br[i].retry)
      continue;
    uint32_t id = e->br[i].id;
    sync(e, id, true);
    i = lower(e, id); /* where it is now */
  }
}

void engine__brackets_retry_all(engine *e) {
  for (size_t i = 0; i < e->nbr; i++) {
    if (!e->br[i].retry)
      continue;
    uint32_t id = e->br[i].id;
    sync(e, id, true);
    i = lower(e, id);
  }
}

void engine__bracket_release(engine *e, uint32_t id, bool cancel) {
  if (!id)
    return;
  bracket *b = find(e, id);
  size_t n;
  const order_id *ids = oms_open_ids(e->oms, &n);
  /* entries: no exits any more, also if a record must be made again later
   * (amends keep the open list as it is) */
  for (size_t i = 0; i < n; i++) {
    order *o = oms__get(e->oms, ids[i]);
    if (!o || o->bracket != id || o->role != BR_ENTRY)
      continue;
    if (!b && (o->tp_price > 0 || o->sl_price > 0))
      b = make(e, o); /* no fill yet: the record says "released" */
    if (o->tp_price || o->sl_price) {
      order_amend a = {.what = OA_EXITS, .tp_price = 0, .sl_price = 0};
      oms_amend(e->oms, o, &a, engine__now(e));
    }
  }
  if (!b)
    return;
  bool was = b->released;
  b->released = true;
  set_retry(e, b, false);
  log_line l;
  if (!was && log_begin(&l, e->cfg.log, LOG_INFO, "bracket.released")) {
    log_str(&l, "bracket", b->cloid);
    log_str(&l, "symbol", e->cfg.instruments->v[b->sym].symbol);
    log_end(&l);
  }
  if (cancel)
    cancel_exits(e, b, true);
}

void engine__bracket_rearm(engine *e, uint32_t id) {
  bracket *b = find(e, id);
  if (!b || !b->released)
    return;
  b->released = false;
  set_done(e, b, false);
  sync(e, id, false);
}

bool engine__protective(const engine *e, const order *o) {
  if (!is_exit(o) || !order_is_working(o->state))
    return false;
  const bracket *b = o->bracket ? cfind(e, o->bracket) : NULL;
  return !b || !b->released;
}

void engine__bracket_exit_moved(engine *e, const order *nw) {
  bracket *b = nw ? find(e, nw->bracket) : NULL;
  if (!b)
    return;
  if (nw->role == BR_TAKE_PROFIT && nw->limit_price > 0)
    b->tp = nw->limit_price;
  else if (nw->role == BR_STOP_LOSS && nw->stop_price > 0)
    b->sl = nw->stop_price;
}

/* ---- checkpoints --------------------------------------------------------- */

void engine__brackets_snapshot(const engine *e, dbuf *b) {
  snap_u32(b, e->br_seq);
  snap_u64(b, e->nbr);
  for (size_t i = 0; i < e->nbr; i++) {
    const bracket *k = &e->br[i];
    snap_u32(b, k->id);
    snap_u32(b, k->root);
    snap_str(b, k->cloid);
    snap_u32(b, k->strategy);
    snap_u32(b, k->account);
    snap_u32(b, k->sym);
    snap_u8(b, (uint8_t)k->side);
    snap_i64(b, k->tp);
    snap_i64(b, k->sl);
    snap_i64(b, k->entry_filled);
    snap_i64(b, k->exit_filled);
    snap_bool(b, k->released);
    snap_bool(b, k->retry);
    snap_bool(b, k->done);
    snap_bool(b, k->lost);
    snap_u32(b, (uint32_t)k->alerted);
  }
}

int engine__brackets_decode(const engine *e, snap_reader *r, bracket_table *t) {
  memset(t, 0, sizeof *t);
  t->seq = snap_get_u32(r);
  size_t n = snap_get_count(r, (size_t)1 << 24);
  if (!snap_ok(r))
    return DTO_EINVAL;
  t->v = xcalloc(n ? n : 1, sizeof *t->v);
  for (size_t i = 0; i < n && snap_ok(r); i++) {
    bracket *k = &t->v[i];
    k->id = snap_get_u32(r);
    k->root = snap_get_u32(r);
    snap_get_str(r, k->cloid, sizeof k->cloid);
    k->strategy = snap_get_u32(r);
    k->account = snap_get_u32(r);
    k->sym = snap_get_u32(r);
    uint8_t side = snap_get_u8(r);
    k->side = (enum order_side)side;
    k->tp = snap_get_i64(r);
    k->sl = snap_get_i64(r);
    k->entry_filled = snap_get_i64(r);
    k->exit_filled = snap_get_i64(r);
    k->released = snap_get_bool(r);
    k->retry = snap_get_bool(r);
    k->done = snap_get_bool(r);
    k->lost = snap_get_bool(r);
    k->alerted = (int)snap_get_u32(r);
    snap_check(r, k->id != 0 && (i == 0 || k->id > t->v[i - 1].id) &&
                      k->strategy < e->nst &&
                      e->st[k->strategy].account == k->account &&
                      k->sym < e->cfg.instruments->n && side < SIDE_COUNT &&
                      k->tp >= 0 && k->sl >= 0 && k->entry_filled >= 0 &&
                      k->exit_filled >= 0 && k->alerted >= 0 &&
                      k->alerted <= BP_CANCEL);
    t->done += k->done;
  }
  if (!snap_ok(r)) {
    engine__brackets_table_release(t);
    return DTO_EINVAL;
  }
  t->n = n;
  return 0;
}

void engine__brackets_install(engine *e, bracket_table *t) {
  free(e->br);
  e->br = t->v;
  e->nbr = e->brcap = t->n;
  e->br_done = t->done;
  e->br_seq = t->seq;
  for (size_t y = 0; y < e->cfg.instruments->n; y++)
    e->subs[y].br_retry = 0;
  for (size_t i = 0; i < e->nbr; i++)
    if (e->br[i].retry)
      e->subs[e->br[i].sym].br_retry++;
  memset(t, 0, sizeof *t);
}

void engine__brackets_table_release(bracket_table *t) {
  free(t->v);
  memset(t, 0, sizeof *t);
}
