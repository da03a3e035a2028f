/* match.c - paper exchange matching: fills against bars, trades, quotes. */
#include "engine/match.h"

#include "engine/snapshot.h"

#include "core/alloc.h"
#include "core/error.h"
#include "market/calendar.h"

typedef struct morder {
  order o;         /* the matcher's copy */
  dto_time active; /* when the order starts to work */
  dto_time expire; /* day end for DAY/OPG/CLS; INT64_MAX for GTC */
  bool live;
} morder;

typedef struct symbook {
  order_id *ids; /* working orders, arrival order */
  size_t n, cap;
  session sess; /* cached session for bar checks */
  bool have_sess;
  /* cached calendar_next_session(next_from): the same session answers for
   * every t from next_from up to its close (see session_end_for) */
  session next;
  dto_time next_from;
  bool have_next;
  bar last; /* last bar seen (bar_close model) */
  bool have_last;
  fx used; /* volume used in the current bar/print */
  dto_time used_ts;
} symbook;

struct matcher {
  match_config cfg;
  const instrument_table *ins;
  const dto_clock *clock;
  morder *pool; /* working orders; slots are reused */
  size_t npool, poolcap;
  uint32_t *free_slots;
  size_t nfree, freecap;
  uint32_t *slot_of; /* order id -> pool slot, SLOT_NONE when not working */
  size_t nslot_of, slot_cap;
  symbook *books; /* one per instrument */
  size_t nworking;
  dto_time next_expire;
  order_id *scratch; /* snapshot of a book while matching */
  size_t scap;
  broker_report *q; /* pending reports */
  size_t qhead, qlen, qcap;
  uint64_t rng;
  fx *pos; /* net filled quantity per instrument */
  /* Bracket exits reach the matcher one after the other: a take-profit
   * may fill when it arrives, before its stop-loss (its peer) does.  What
   * such a fill takes from the peer is owed here until the peer arrives. */
  order_id max_id;      /* the highest order id submitted so far */
  struct owed {
    order_id id;
    fx qty;
  } *owed;
  size_t nowed, owedcap;
};

static const char *const model_names[FILL_MODEL_COUNT] = {"next_bar_open",
                                                          "bar_close", "trade"};

void match_config_init(match_config *c) {
  memset(c, 0, sizeof *c);
  c->model = FILL_NEXT_BAR_OPEN;
  c->max_volume_share = FX_ONE;
  c->seed = 1;
}

const char *fill_model_name(enum fill_model m) {
  return (unsigned)m < FILL_MODEL_COUNT ? model_names[m] : "?";
}

int fill_model_parse(const char *s, enum fill_model *out) {
  if (!s)
    return DTO_EINVAL;
  for (int i = 0; i < FILL_MODEL_COUNT; i++)
    if (!strcmp(s, model_names[i])) {
      *out = (enum fill_model)i;
      return 0;
    }
  return DTO_EINVAL;
}

matcher *matcher_new(const match_config *cfg, const instrument_table *ins,
                     const dto_clock *clock) {
  matcher *m = xcalloc(1, sizeof *m);
  m->cfg = *cfg;
  m->ins = ins;
  m->clock = clock;
  m->books = xcalloc(ins->n ? ins->n : 1, sizeof *m->books);
  m->next_expire = INT64_MAX;
  m->pos = xcalloc(ins->n ? ins->n : 1, sizeof *m->pos);
  m->rng = cfg->seed ? cfg->seed : 0x9E3779B97F4A7C15ULL;
  return m;
}

void matcher_free(matcher *m) {
  if (!m)
    return;
  for (size_t i = 0; i < m->ins->n; i++)
    free(m->books[i].ids);
  free(m->books);
  free(m->pool);
  free(m->free_slots);
  free(m->slot_of);
  free(m->q);
  free(m->scratch);
  free(m->pos);
  free(m->owed);
  free(m);
}

size_t matcher_working(const matcher *m) { return m->nworking; }
enum fill_model matcher_model(const matcher *m) { return m->cfg.model; }

int matcher_open_orders(const matcher *m, broker_open_order *out, size_t max,
                        size_t *n) {
  size_t k = 0;
  for (size_t y = 0; y < m->ins->n; y++) {
    const symbook *bk = &m->books[y];
    for (size_t i = 0; i < bk->n; i++, k++) {
      if (k >= max)
        continue;
      const morder *mo = &m->pool[m->slot_of[bk->ids[i]]];
      broker_open_order *b = &out[k];
      memset(b, 0, sizeof *b);
      memcpy(b->cloid, mo->o.cloid, sizeof b->cloid);
      b->sym = mo->o.sym;
      b->side = mo->o.side;
      b->type = mo->o.type;
      b->tif = mo->o.tif;
      b->qty = mo->o.qty;
      b->filled = mo->o.filled;
      b->limit_price = mo->o.limit_price;
      b->stop_price = mo->o.stop_price;
    }
  }
  *n = k;
  return k > max ? DTO_EFULL : 0;
}

int matcher_positions(const matcher *m, broker_position *out, size_t max,
                      size_t *n) {
  size_t k = 0;
  for (size_t y = 0; y < m->ins->n; y++) {
    if (!m->pos[y])
      continue;
    if (k < max)
      out[k] = (broker_position){(sym_id)y, m->pos[y]};
    k++;
  }
  *n = k;
  return k > max ? DTO_EFULL : 0;
}

void matcher_restore_position(matcher *m, sym_id sym, fx qty) {
  if (sym < m->ins->n)
    m->pos[sym] = qty;
}

#define SLOT_NONE UINT32_MAX

/* The working order with id, or NULL.  Pointers stay valid until the next
 * order is added. */
static morder *find(matcher *m, order_id id) {
  if (id >= m->nslot_of || m->slot_of[id] == SLOT_NONE)
    return NULL;
  return &m->pool[m->slot_of[id]];
}

/* A free pool slot for order id (which must not be working); the caller
 * sets every field. */
static morder *alloc_slot(matcher *m, order_id id) {
  if (id >= m->nslot_of) { /* the whole new capacity, not one id a time */
    m->slot_of =
        xgrow(m->slot_of, &m->slot_cap, (size_t)id + 1, sizeof *m->slot_of);
    while (m->nslot_of < m->slot_cap)
      m->slot_of[m->nslot_of++] = SLOT_NONE;
  }
  uint32_t slot;
  if (m->nfree) {
    slot = m->free_slots[--m->nfree];
  } else {
    m->pool = xgrow(m->pool, &m->poolcap, m->npool + 1, sizeof *m->pool);
    slot = (uint32_t)m->npool++;
  }
  m->slot_of[id] = slot;
  return &m->pool[slot];
}

static uint64_t next_rand(matcher *m) { /* splitmix64 */
  uint64_t z = (m->rng += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Room for one more report at the end of the queue: the pending ones move
 * to the front, or the queue grows. */
static DTO_NOINLINE void queue_room(matcher *m) {
  if (m->qhead > 0) {
    memmove(m->q, m->q + m->qhead, m->qlen * sizeof *m->q);
    m->qhead = 0;
  } else {
    m->q = xgrow(m->q, &m->qcap, m->qlen + 1, sizeof *m->q);
  }
}

static inline void report(matcher *m, enum report_kind k, order_id id, fx qty,
                          fx price, dto_time ts, int reason) {
  if (m->qhead + m->qlen >= m->qcap)
    queue_room(m);
  broker_report *r = &m->q[m->qhead + m->qlen++];
  r->kind = k;
  r->id = id;
  r->new_id = ORDER_NONE;
  r->qty = qty;
  r->price = price;
  r->ts = ts;
  r->reason = reason;
}

size_t matcher_poll(matcher *m, broker_report *out, size_t max) {
  size_t n = m->qlen < max ? m->qlen : max;
  if (n == 0)
    return 0;
  /* the paper exchange mostly has one report pending (an ack after a
   * submit, a fill after a bar): a struct copy, not a call to memcpy */
  if (n == 1)
    out[0] = m->q[m->qhead];
  else
    memcpy(out, m->q + m->qhead, n * sizeof *out);
  m->qhead += n;
  m->qlen -= n;
  if (m->qlen == 0)
    m->qhead = 0;
  return n;
}

static void book_remove(symbook *b, order_id id) {
  for (size_t i = 0; i < b->n; i++)
    if (b->ids[i] == id) {
      if (i + 1 < b->n)
        memmove(b->ids + i, b->ids + i + 1, (b->n - i - 1) * sizeof *b->ids);
      b->n--;
      return;
    }
}

static void retire(matcher *m, morder *mo) {
  if (!mo->live)
    return;
  mo->live = false;
  m->nworking--;
  if (m->nfree >= m->freecap)
    m->free_slots =
        xgrow(m->free_slots, &m->freecap, m->nfree + 1, sizeof *m->free_slots);
  m->free_slots[m->nfree++] = m->slot_of[mo->o.id];
  m->slot_of[mo->o.id] = SLOT_NONE;
  book_remove(&m->books[mo->o.sym], mo->o.id);
}

static bool valid_order(const matcher *m, const order *o) {
  if (o->sym >= m->ins->n || o->qty <= 0)
    return false;
  const instrument *in = &m->ins->v[o->sym];
  if (!fx_is_multiple(o->qty, in->lot))
    return false;
  bool need_limit = o->type == ORD_LIMIT || o->type == ORD_STOP_LIMIT;
  bool need_stop = o->type == ORD_STOP || o->type == ORD_STOP_LIMIT;
  if (need_limit &&
      (o->limit_price <= 0 || !fx_is_multiple(o->limit_price, in->tick)))
    return false;
  if (need_stop &&
      (o->stop_price <= 0 || !fx_is_multiple(o->stop_price, in->tick)))
    return false;
  if (o->type == ORD_TRAILING_STOP && o->trail <= 0)
    return false;
  return true;
}

/* The close of the session in which an order placed at t acts: the
 * regular close of the session in progress or the next one; for an
 * extended-hours order the end of extended hours, which may be today's even
 * after the regular close (an order sent in the post-market). */
static dto_time session_end_for(matcher *m, const order *o, dto_time t) {
  const instrument *in = &m->ins->v[o->sym];
  session s;
  if (!in->cal)
    return INT64_MAX;
  if (o->extended_hours &&
      calendar_session(in->cal, calendar_local_day(in->cal, t), &s) &&
      t < s.post_close)
    return s.post_close;
  /* calendar_next_session(t) is the first session to close after t,
   * searched over the 31 days from t's local day.  A later u before that
   * close gets the same answer: u's local day is not before t's (they do
   * not go back as time grows) nor after the session's (every session
   * lies inside its own day, and u is before its close), and no day
   * between holds a session closing after t, so none closing after u. */
  symbook *bk = &m->books[o->sym];
  if (!bk->have_next || t < bk->next_from || t >= bk->next.close) {
    if (!calendar_next_session(in->cal, t, &bk->next)) {
      bk->have_next = false;
      return INT64_MAX;
    }
    bk->next_from = t;
    bk->have_next = true;
  }
  return o->extended_hours ? bk->next.post_close : bk->next.close;
}

static int add_order(matcher *m, const order *o, dto_time now) {
  if (!valid_order(m, o)) {
    report(m, REP_REJECTED, o->id, 0, 0, now, BRR_INVALID);
    return 0;
  }
  if (find(m, o->id))
    return DTO_EEXIST;
  if (o->id > m->max_id || m->max_id == 0)
    m->max_id = o->id;
  fx owed = 0;
  for (size_t k = 0; k < m->nowed; k++)
    if (m->owed[k].id == o->id) {
      owed = m->owed[k].qty;
      m->owed[k] = m->owed[--m->nowed];
      break;
    }
  if (owed >= o->qty) { /* its peer filled all of it before it came */
    report(m, REP_ACCEPTED, o->id, 0, 0, now, 0);
    report(m, REP_CANCELED, o->id, 0, 0, now, BRR_OCO);
    return 0;
  }
  morder *mo = alloc_slot(m, o->id);
  mo->o = *o;
  mo->o.qty -= owed;
  mo->o.filled = 0;
  mo->o.triggered = false;
  dto_time lat = m->cfg.latency;
  if (m->cfg.latency_kind == LATENCY_RANDOM &&
      m->cfg.latency_max > m->cfg.latency)
    lat += (dto_time)(next_rand(m) %
                      (uint64_t)(m->cfg.latency_max - m->cfg.latency + 1));
  mo->active = now + lat;
  mo->expire = (o->tif == TIF_GTC || o->tif == TIF_IOC || o->tif == TIF_FOK)
                   ? INT64_MAX
                   : session_end_for(m, o, mo->active);
  mo->live = true;
  m->nworking++;
  if (mo->expire < m->next_expire)
    m->next_expire = mo->expire;
  symbook *b = &m->books[o->sym];
  if (b->n >= b->cap)
    b->ids = xgrow(b->ids, &b->cap, b->n + 1, sizeof *b->ids);
  b->ids[b->n++] = o->id;
  report(m, REP_ACCEPTED, o->id, 0, 0, mo->active,
         0); /* ack when the order arrives */
  return 0;
}

static void try_fill_bar(matcher *m, morder *mo, const bar *b, bool close_only);

/* Where a bar falls in its instrument's trading day. */
typedef struct bar_phase {
  bool regular;  /* starts inside the regular session */
  bool extended; /* starts inside extended hours (regular included) */
  bool first;    /* the session's first regular bar (opening auction) */
  bool last;     /* the session's last regular bar (closing auction) */
} bar_phase;

static bar_phase phase_of(matcher *m, const bar *b);

/* May mo trade on a bar in phase ph? */
static bool phase_allows(const bar_phase *ph, const morder *mo) {
  return ph->regular || (ph->extended && mo->o.extended_hours);
}

int matcher_submit(matcher *m, const order *o) {
  dto_time now = clock_now(m->clock);
  int rc = add_order(m, o, now);
  if (rc || !find(m, o->id))
    return rc;
  /* bar_close: an order sent right at a bar's close fills at that close,
   * under the same session rules as on the bar itself.  The auctions of
   * OPG and CLS orders are over by then: they wait for their bar. */
  symbook *b = &m->books[o->sym];
  morder *mo = find(m, o->id);
  if (m->cfg.model == FILL_BAR_CLOSE && b->have_last &&
      bar_end(&b->last) == now && mo->active <= now && o->tif != TIF_OPG &&
      o->tif != TIF_CLS) {
    bar_phase ph = phase_of(m, &b->last);
    if (phase_allows(&ph, mo))
      try_fill_bar(m, mo, &b->last, true);
  }
  return 0;
}

int matcher_cancel(matcher *m, order_id id) {
  dto_time now = clock_now(m->clock);
  morder *mo = find(m, id);
  if (!mo) {
    report(m, REP_CANCEL_REJECT, id, 0, 0, now, BRR_UNKNOWN_ORDER);
    return 0;
  }
  retire(m, mo);
  report(m, REP_CANCELED, id, 0, 0, now, BRR_REQUESTED);
  return 0;
}

int matcher_replace(matcher *m, order_id old_id, const order *nw) {
  dto_time now = clock_now(m->clock);
  morder *old = find(m, old_id);
  if (!old) {
    report(m, REP_CANCEL_REJECT, old_id, 0, 0, now, BRR_UNKNOWN_ORDER);
    return 0;
  }
  /* The replacement keeps symbol and side and needs an id of its own. */
  if (old->o.sym != nw->sym || old->o.side != nw->side || nw->id == old_id ||
      find(m, nw->id) || !valid_order(m, nw)) {
    report(m, REP_CANCEL_REJECT, old_id, 0, 0, now, BRR_INVALID);
    return 0;
  }
  /* a replaced bracket exit: its peer now cancels the replacement */
  morder *peer = find(m, old->o.peer);
  if (peer && peer->o.peer == old_id)
    peer->o.peer = nw->id;
  retire(m, old);
  broker_report *r;
  report(m, REP_REPLACED, old_id, 0, 0, now, 0);
  r = &m->q[m->qhead + m->qlen - 1];
  r->new_id = nw->id;
  return add_order(m, nw, now);
}

static fx slip(const matcher *m, const order *o, fx px) {
  if (m->cfg.slippage_bps <= 0)
    return px;
  const instrument *in = &m->ins->v[o->sym];
  fx adj = 0;
  fx_muldiv(px, m->cfg.slippage_bps, FX_SCALE * 10000LL, FX_ROUND_NEAREST,
            &adj);
  fx p = o->side == SIDE_BUY ? px + adj : px - adj;
  fx r;
  if (fx_round_to(p, in->tick,
                  o->side == SIDE_BUY ? FX_ROUND_UP : FX_ROUND_DOWN, &r))
    return px;
  return r > 0 ? r : in->tick;
}

/* Quantity available in a print of size `size` at time ts for sym. */
static fx available(matcher *m, sym_id sym, fx size, dto_time ts) {
  symbook *b = &m->books[sym];
  if (b->used_ts != ts) {
    b->used_ts = ts;
    b->used = 0;
  }
  fx cap = size;
  if (m->cfg.max_volume_share < FX_ONE)
    fx_mul_round(size, m->cfg.max_volume_share, FX_ROUND_DOWN, &cap);
  /* a multiple of the lot (or a lot fx_round_to refuses) stays as it is,
   * which is what fx_round_to would give: tested inline first */
  fx lot = m->ins->v[sym].lot, r;
  if (!fx_is_multiple(cap, lot) &&
      fx_round_to(cap, lot, FX_ROUND_DOWN, &r) == 0)
    cap = r;
  cap -= b->used;
  return cap > 0 ? cap : 0;
}

static void cancel_with(matcher *m, morder *mo, dto_time ts, int reason) {
  retire(m, mo);
  report(m, REP_CANCELED, mo->o.id, 0, 0, ts, reason);
}

/* Fill qty of mo at px; handles bracket peers. */
static void do_fill(matcher *m, morder *mo, fx qty, fx px, dto_time ts) {
  mo->o.filled += qty;
  m->pos[mo->o.sym] += mo->o.side == SIDE_BUY ? qty : -qty;
  m->books[mo->o.sym].used += qty;
  report(m, REP_FILL, mo->o.id, qty, px, ts, 0);
  if (mo->o.filled >= mo->o.qty)
    retire(m, mo);
  order_id pid = mo->o.peer;
  morder *peer = pid != ORDER_NONE ? find(m, pid) : NULL;
  if (peer) {
    peer->o.qty -= qty;
    if (peer->o.qty <= peer->o.filled)
      cancel_with(m, peer, ts, BRR_OCO);
  } else if (pid != ORDER_NONE && (pid > m->max_id || m->max_id == 0)) {
    /* the peer has not arrived yet: it comes smaller, or canceled */
    size_t k = 0;
    while (k < m->nowed && m->owed[k].id != pid)
      k++;
    if (k == m->nowed) {
      m->owed = xgrow(m->owed, &m->owedcap, m->nowed + 1, sizeof *m->owed);
      m->owed[m->nowed++] = (struct owed){pid, 0};
    }
    m->owed[k].qty += qty;
  }
}

/* Execute mo for up to `avail` at px; applies IOC/FOK rules. */
static void execute(matcher *m, morder *mo, fx px, fx avail, dto_time ts) {
  fx leaves = mo->o.qty - mo->o.filled;
  fx q = leaves < avail ? leaves : avail;
  if (mo->o.tif == TIF_FOK && q < leaves) {
    cancel_with(m, mo, ts, BRR_FOK_UNFILLED);
    return;
  }
  if (q > 0)
    do_fill(m, mo, q, px, ts);
  if (mo->live && mo->o.tif == TIF_IOC)
    cancel_with(m, mo, ts, BRR_IOC_REMAINDER);
}

/* Stop trigger check for a bar; returns the trigger price or 0. */
static fx stop_trigger(const order *o, fx ref_open, fx hi, fx lo) {
  fx sp = o->stop_price;
  if (o->side == SIDE_BUY) {
    if (ref_open >= sp)
      return ref_open;
    if (hi >= sp)
      return sp;
  } else {
    if (ref_open <= sp)
      return ref_open;
    if (lo <= sp)
      return sp;
  }
  return 0;
}

static void trail_update(const matcher *m, morder *mo, fx hi, fx lo) {
  order *o = &mo->o;
  fx tick = m->ins->v[o->sym].tick, r;
  if (o->side == SIDE_SELL) {
    if (o->water == 0 || hi > o->water)
      o->water = hi;
    if (fx_round_to(o->water - o->trail, tick, FX_ROUND_DOWN, &r) == 0)
      o->stop_price = r;
  } else {
    if (o->water == 0 || lo < o->water)
      o->water = lo;
    if (fx_round_to(o->water + o->trail, tick, FX_ROUND_UP, &r) == 0)
      o->stop_price = r;
  }
}

/* Evaluate mo against bar b.  close_only: only the close price is known
 * (bar_close model, or a CLS order).  Fills are stamped with the time the
 * bar is evaluated (its start, or its end when close_only): the engine's
 * clock, so reports never run ahead of it. */
static void try_fill_bar(matcher *m, morder *mo, const bar *b,
                         bool close_only) {
  order *o = &mo->o;
  fx op = close_only ? b->close : b->open;
  fx hi = close_only ? b->close : b->high;
  fx lo = close_only ? b->close : b->low;
  dto_time ts = close_only ? bar_end(b) : b->ts;
  fx avail = available(m, o->sym, b->volume, b->ts);
  bool buy = o->side == SIDE_BUY;

  if (o->type == ORD_TRAILING_STOP && o->stop_price == 0)
    trail_update(m, mo, op, op);
  switch (o->type) {
  case ORD_MARKET:
    execute(m, mo, slip(m, o, op), avail, ts);
    return;
  case ORD_LIMIT: {
    fx lp = o->limit_price;
    if (buy ? op <= lp : op >= lp)
      execute(m, mo, op, avail, ts);
    else if (buy ? lo <= lp : hi >= lp)
      execute(m, mo, lp, avail, ts);
    else if (o->tif == TIF_IOC || o->tif == TIF_FOK)
      cancel_with(m, mo, ts,
                  o->tif == TIF_IOC ? BRR_IOC_REMAINDER : BRR_FOK_UNFILLED);
    return;
  }
  case ORD_STOP:
  case ORD_TRAILING_STOP: {
    fx tp = o->triggered ? op : stop_trigger(o, op, hi, lo);
    if (tp) {
      o->triggered = true;
      execute(m, mo, slip(m, o, tp), avail, ts);
    } else if (o->type == ORD_TRAILING_STOP) {
      trail_update(m, mo, hi, lo);
    }
    return;
  }
  case ORD_STOP_LIMIT: {
    fx lp = o->limit_price;
    if (!o->triggered) {
      fx tp = stop_trigger(o, op, hi, lo);
      if (!tp)
        return;
      o->triggered = true;
      if (tp == op) { /* triggered at the open: act as a limit this bar */
        if (buy ? op <= lp : op >= lp)
          execute(m, mo, op, avail, ts);
        else if (buy ? lo <= lp : hi >= lp)
          execute(m, mo, lp, avail, ts);
      } else if (buy ? lp >= tp : lp <= tp) {
        /* triggered inside the bar at the stop, which the limit allows */
        execute(m, mo, tp, avail, ts);
      }
      return;
    }
    if (buy ? op <= lp : op >= lp)
      execute(m, mo, op, avail, ts);
    else if (buy ? lo <= lp : hi >= lp)
      execute(m, mo, lp, avail, ts);
    return;
  }
  default:
    return;
  }
}

/* The session of sym whose trading hours (extended included) contain t,
 * cached per symbol.  NULL when the market is closed at t: outside that
 * day's hours, or on a day without a session.  A session is looked up by
 * t's exchange-local day, not as "the next session to close", so that a
 * post-market instant belongs to the day it follows.  *always is set (and
 * NULL returned) for an instrument without a calendar, which is always
 * open. */
static const session *session_at(matcher *m, sym_id sym, dto_time t,
                                 bool *always) {
  symbook *bk = &m->books[sym];
  const instrument *in = &m->ins->v[sym];
  *always = in->cal == NULL;
  if (!in->cal)
    return NULL;
  if (bk->have_sess && t >= bk->sess.pre_open && t < bk->sess.post_close)
    return &bk->sess;
  session s;
  if (!calendar_session(in->cal, calendar_local_day(in->cal, t), &s) ||
      t < s.pre_open || t >= s.post_close)
    return NULL;
  bk->sess = s;
  bk->have_sess = true;
  return &bk->sess;
}

static bar_phase phase_of(matcher *m, const bar *b) {
  bar_phase ph = {false, false, false, false};
  bool always;
  const session *s = session_at(m, b->sym, b->ts, &always);
  if (always) {
    ph.regular = ph.extended = true;
    return ph;
  }
  if (!s)
    return ph;
  ph.extended = true;
  ph.regular = b->ts >= s->open && b->ts < s->close;
  ph.first = b->ts == s->open;
  ph.last = ph.regular && bar_end(b) >= s->close;
  return ph;
}

/* Evaluate one due order against bar b in phase ph. */
static void eval_bar(matcher *m, morder *mo, const bar *b, const bar_phase *ph,
                     bool close_model) {
  if (!phase_allows(ph, mo))
    return;
  switch (mo->o.tif) {
  case TIF_OPG:
    if (!ph->regular)
      return; /* the opening auction is at the regular open */
    if (ph->first)
      try_fill_bar(m, mo, b, false);
    if (mo->live) { /* missed or not filled at the opening auction */
      retire(m, mo);
      report(m, REP_EXPIRED, mo->o.id, 0, 0, b->ts, BRR_MARKET_CLOSED);
    }
    return;
  case TIF_CLS:
    if (!ph->last)
      return;
    try_fill_bar(m, mo, b, true);
    if (mo->live) {
      retire(m, mo);
      report(m, REP_EXPIRED, mo->o.id, 0, 0, bar_end(b), BRR_MARKET_CLOSED);
    }
    return;
  default:
    try_fill_bar(m, mo, b, close_model);
    /* IOC and FOK get one chance: a stop that did not trigger ends too */
    if (mo->live && (mo->o.tif == TIF_IOC || mo->o.tif == TIF_FOK))
      cancel_with(m, mo, close_model ? bar_end(b) : b->ts,
                  mo->o.tif == TIF_IOC ? BRR_IOC_REMAINDER : BRR_FOK_UNFILLED);
  }
}

/* Copy sym's book into m->scratch: fills and one-cancels-other retire
 * orders from the book while it is being walked. */
static size_t snapshot(matcher *m, sym_id sym) {
  symbook *bk = &m->books[sym];
  if (bk->n > m->scap)
    m->scratch = xgrow(m->scratch, &m->scap, bk->n, sizeof *m->scratch);
  memcpy(m->scratch, bk->ids, bk->n * sizeof *m->scratch);
  return bk->n;
}

void matcher_on_bar(matcher *m, const bar *b) {
  symbook *bk = &m->books[b->sym];
  bool close_model = m->cfg.model == FILL_BAR_CLOSE;
  if (close_model) {
    bk->last = *b;
    bk->have_last = true;
  }
  if (bk->n == 0)
    return;
  bar_phase ph = phase_of(m, b);
  size_t n = snapshot(m, b->sym);
  for (size_t k = 0; k < n; k++) {
    morder *mo = find(m, m->scratch[k]);
    if (!mo)
      continue;
    bool due = close_model ? mo->active <= bar_end(b) : mo->active <= b->ts;
    if (due)
      eval_bar(m, mo, b, &ph, close_model);
  }
}

static bool print_open(matcher *m, sym_id sym, dto_time t, const order *o) {
  bool always;
  const session *s = session_at(m, sym, t, &always);
  if (always)
    return true;
  if (!s)
    return false;
  if (t >= s->open && t < s->close)
    return true;
  return o->extended_hours;
}

static void on_print(matcher *m, sym_id sym, dto_time ts, fx buy_px, fx sell_px,
                     fx buy_size, fx sell_size) {
  size_t n = snapshot(m, sym);
  for (size_t k = 0; k < n; k++) {
    morder *mo = find(m, m->scratch[k]);
    if (mo && mo->active <= ts && print_open(m, sym, ts, &mo->o) &&
        mo->o.tif != TIF_OPG && mo->o.tif != TIF_CLS) {
      order *o = &mo->o;
      bool buy = o->side == SIDE_BUY;
      fx px = buy ? buy_px : sell_px;
      fx avail = available(m, sym, buy ? buy_size : sell_size, ts);
      switch (o->type) {
      case ORD_MARKET:
        execute(m, mo, slip(m, o, px), avail, ts);
        break;
      case ORD_LIMIT:
        if (buy ? px <= o->limit_price : px >= o->limit_price)
          execute(m, mo, px, avail, ts);
        else if (o->tif == TIF_IOC || o->tif == TIF_FOK)
          cancel_with(m, mo, ts,
                      o->tif == TIF_IOC ? BRR_IOC_REMAINDER : BRR_FOK_UNFILLED);
        break;
      case ORD_TRAILING_STOP:
      case ORD_STOP:
      case ORD_STOP_LIMIT:
        if (o->type == ORD_TRAILING_STOP && !o->triggered)
          trail_update(m, mo, px, px);
        if (!o->triggered && (buy ? px >= o->stop_price : px <= o->stop_price))
          o->triggered = true;
        if (o->triggered) {
          if (o->type == ORD_STOP_LIMIT) {
            if (buy ? px <= o->limit_price : px >= o->limit_price)
              execute(m, mo, px, avail, ts);
          } else {
            execute(m, mo, slip(m, o, px), avail, ts);
          }
        }
        break;
      default:
        break;
      }
    }
  }
}

void matcher_on_trade(matcher *m, const trade *t) {
  if (m->books[t->sym].n)
    on_print(m, t->sym, t->ts, t->price, t->price, t->size, t->size);
}

void matcher_on_quote(matcher *m, const quote *q) {
  if (m->books[q->sym].n && q->bid > 0 && q->ask > 0)
    on_print(m, q->sym, q->ts, q->ask, q->bid, q->ask_size, q->bid_size);
}

void matcher_on_time(matcher *m, dto_time t) {
  if (t < m->next_expire)
    return;
  /* Sweep the books (working orders only), in instrument then arrival
   * order, which keeps the reports deterministic. */
  dto_time next = INT64_MAX;
  for (size_t sym = 0; sym < m->ins->n; sym++) {
    symbook *bk = &m->books[sym];
    for (size_t i = 0; i < bk->n;) {
      morder *mo = find(m, bk->ids[i]);
      if (mo->expire <= t) {
        retire(m, mo); /* removes bk->ids[i] */
        report(m, REP_EXPIRED, mo->o.id, 0, 0, mo->expire, BRR_DAY_END);
        continue;
      }
      if (mo->expire < next)
        next = mo->expire;
      i++;
    }
  }
  m->next_expire = next;
}

/* ---- checkpoints --------------------------------------------------------- */

void matcher_snapshot(const matcher *m, dbuf *b) {
  snap_u64(b, m->ins->n);
  snap_u64(b, m->rng);
  snap_i64(b, m->next_expire);
  snap_u32(b, m->max_id);
  snap_u64(b, m->nowed);
  for (size_t i = 0; i < m->nowed; i++) {
    snap_u32(b, m->owed[i].id);
    snap_i64(b, m->owed[i].qty);
  }
  for (size_t y = 0; y < m->ins->n; y++) {
    const symbook *bk = &m->books[y];
    snap_i64(b, m->pos[y]);
    snap_bool(b, bk->have_sess);
    snap_session(b, &bk->sess);
    snap_bool(b, bk->have_last);
    snap_bar(b, &bk->last);
    snap_i64(b, bk->used);
    snap_i64(b, bk->used_ts);
    snap_u64(b, bk->n);
    for (size_t i = 0; i < bk->n; i++) {
      const morder *mo = &m->pool[m->slot_of[bk->ids[i]]];
      snap_order(b, &mo->o);
      snap_i64(b, mo->active);
      snap_i64(b, mo->expire);
    }
  }
  snap_u64(b, m->qlen);
  for (size_t i = 0; i < m->qlen; i++) {
    const broker_report *r = &m->q[m->qhead + i];
    snap_u32(b, (uint32_t)r->kind);
    snap_u32(b, r->id);
    snap_u32(b, r->new_id);
    snap_i64(b, r->qty);
    snap_i64(b, r->price);
    snap_i64(b, r->ts);
    snap_u32(b, (uint32_t)r->reason);
  }
}

int matcher_restore_snapshot(matcher *m, snap_reader *r) {
  if (m->nworking || m->qlen)
    return DTO_ESTATE;
  snap_check(r, snap_get_u64(r) == m->ins->n);
  uint64_t rng = snap_get_u64(r);
  dto_time next_expire = snap_get_i64(r);
  order_id max_id = snap_get_u32(r);
  size_t nowed = snap_get_count(r, (size_t)1 << 20);
  struct owed *owed = xcalloc(nowed + 1, sizeof *owed);
  for (size_t i = 0; i < nowed; i++) {
    owed[i].id = snap_get_u32(r);
    owed[i].qty = snap_get_i64(r);
  }
  if (!snap_ok(r)) {
    free(owed);
    return DTO_EINVAL;
  }
  free(m->owed);
  m->owed = owed;
  m->nowed = m->owedcap = nowed;
  if (nowed == 0)
    m->owedcap = 1;
  m->max_id = max_id;
  for (size_t y = 0; y < m->ins->n && snap_ok(r); y++) {
    symbook *bk = &m->books[y];
    m->pos[y] = snap_get_i64(r);
    bk->have_sess = snap_get_bool(r);
    snap_get_session(r, &bk->sess);
    bk->have_last = snap_get_bool(r);
    snap_get_bar(r, &bk->last);
    bk->used = snap_get_i64(r);
    bk->used_ts = snap_get_i64(r);
    size_t n = snap_get_count(r, (size_t)1 << 24);
    for (size_t i = 0; i < n && snap_ok(r); i++) {
      order o;
      snap_get_order(r, &o);
      dto_time active = snap_get_i64(r), expire = snap_get_i64(r);
      snap_check(r, o.sym == y && !find(m, o.id) && o.id != ORDER_NONE);
      if (!snap_ok(r))
        break;
      morder *mo = alloc_slot(m, o.id);
      mo->o = o;
      mo->active = active;
      mo->expire = expire;
      mo->live = true;
      m->nworking++;
      bk->ids = xgrow(bk->ids, &bk->cap, bk->n + 1, sizeof *bk->ids);
      bk->ids[bk->n++] = o.id;
    }
  }
  size_t nq = snap_get_count(r, (size_t)1 << 24);
  for (size_t i = 0; i < nq && snap_ok(r); i++) {
    uint32_t kind = snap_get_u32(r);
    order_id id = snap_get_u32(r), new_id = snap_get_u32(r);
    fx qty = snap_get_i64(r), price = snap_get_i64(r);
    dto_time ts = snap_get_i64(r);
    int reason = (int)snap_get_u32(r);
    snap_check(r, kind < REP_KIND_COUNT);
    if (snap_ok(r)) {
      report(m, (enum report_kind)kind, id, qty, price, ts, reason);
      m->q[m->qhead + m->qlen - 1].new_id = new_id;
    }
  }
  if (!snap_ok(r)) { /* back to empty: the caller refuses the checkpoint */
    for (size_t y = 0; y < m->ins->n; y++) {
      symbook *bk = &m->books[y];
      while (bk->n)
        retire(m, &m->pool[m->slot_of[bk->ids[bk->n - 1]]]);
      memset(&bk->sess, 0, sizeof bk->sess);
      bk->have_sess = bk->have_last = false;
      m->pos[y] = 0;
    }
    m->qhead = m->qlen = 0;
    return DTO_EINVAL;
  }
  m->rng = rng;
  m->next_expire = next_expire;
  return 0;
}
