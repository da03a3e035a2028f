/* oms.c - order table and validated state transitions. */
#include "engine/oms_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "engine/snapshot.h"

oms *oms_new(oms_observer obs, void *ctx) {
  oms *m = xcalloc(1, sizeof *m);
  m->obs = obs;
  m->ctx = ctx;
  m->keep = OMS_KEEP_DEFAULT;
  m->ring = xcalloc(m->keep, sizeof *m->ring);
  return m;
}

void oms_free(oms *m) {
  if (!m)
    return;
  free(m->slots);
  free(m->free_slots);
  free(m->slot_of);
  free(m->open);
  free(m->ring);
  free(m);
}

void oms_set_keep(oms *m, size_t keep) {
  DTO_ASSERT(m->nids == 0 && keep > 0);
  free(m->ring);
  m->keep = keep;
  m->ring = xcalloc(keep, sizeof *m->ring);
}

static void forget(oms *m, order_id id) {
  uint32_t slot = m->slot_of[id];
  m->slot_of[id] = OMS__SLOT_NONE;
  if (m->nfree >= m->freecap) /* xgrow's test, without the call */
    m->free_slots =
        xgrow(m->free_slots, &m->freecap, m->nfree + 1, sizeof *m->free_slots);
  m->free_slots[m->nfree++] = slot;
}

/* o just became terminal: out of the open list, into the ring. */
static void retire(oms *m, const order *o) {
  size_t lo = 0, hi = m->nopen;
  while (lo < hi) { /* binary search: open ids are ascending */
    size_t mid = (lo + hi) / 2;
    if (m->open[mid] < o->id)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < m->nopen && m->open[lo] == o->id) {
    if (lo + 1 < m->nopen)
      memmove(m->open + lo, m->open + lo + 1,
              (m->nopen - lo - 1) * sizeof *m->open);
    m->nopen--;
  }
  if (m->ring_n == m->keep) {
    forget(m, m->ring[m->ring_head]);
    m->ring_head = (m->ring_head + 1) % m->keep;
    m->ring_n--;
  }
  m->ring[(m->ring_head + m->ring_n) % m->keep] = o->id;
  m->ring_n++;
}

/* The slot the next order goes into, grown when none is free. */
static order *next_slot(oms *m) {
  if (!m->nfree) {
    m->slots = xgrow(m->slots, &m->slotcap, m->nslots + 1, sizeof *m->slots);
    if (m->nfree >= m->freecap) /* xgrow's test, without the call */
      m->free_slots = xgrow(m->free_slots, &m->freecap, m->nfree + 1,
                            sizeof *m->free_slots);
    m->free_slots[m->nfree++] = (uint32_t)m->nslots++;
  }
  return &m->slots[m->free_slots[m->nfree - 1]];
}

/* o, in the slot next_slot gave, becomes order number nids: state NEW,
 * indexed, open, and told to the observer. */
static order *enter(oms *m, order *o, dto_time t) {
  DTO_ASSERT(m->nids < ORDER_NONE);
  if (m->nids >= m->idcap)
    m->slot_of = xgrow(m->slot_of, &m->idcap, m->nids + 1, sizeof *m->slot_of);
  order_id id = (order_id)m->nids++;
  m->slot_of[id] = m->free_slots[--m->nfree];
  if (m->nopen >= m->opencap)
    m->open = xgrow(m->open, &m->opencap, m->nopen + 1, sizeof *m->open);
  m->open[m->nopen++] = id;
  o->id = id;
  o->state = OS_NEW;
  m->entered[OS_NEW]++;
  o->created = o->updated = t;
  if (m->obs)
    m->obs(m->ctx, o, OS_NEW, OS_NEW, true);
  return o;
}

order *oms_create(oms *m, const order *tmpl, const char *cloid, dto_time t) {
  order *o = next_slot(m);
  memcpy(o, tmpl, sizeof *o); /* every byte, so tables compare with memcmp */
  size_t n = strnlen(cloid, sizeof o->cloid - 1);
  memcpy(o->cloid, cloid, n);
  memset(o->cloid + n, 0, sizeof o->cloid - n);
  return enter(m, o, t);
}

order *oms_begin(oms *m) {
  order *o = next_slot(m);
  order_init(o);
  return o;
}

order *oms_commit(oms *m, order *o, dto_time t) {
  DTO_ASSERT(m->nfree && o == &m->slots[m->free_slots[m->nfree - 1]]);
  return enter(m, o, t);
}

order *oms_get(oms *m, order_id id) { return oms__get(m, id); }
const order *oms_cget(const oms *m, order_id id) { return oms__cget(m, id); }
size_t oms_count(const oms *m) { return m->nids; }
uint64_t oms_illegal_count(const oms *m) { return m->illegal; }
uint64_t oms_entered(const oms *m, enum order_state st) {
  return (unsigned)st < OS_COUNT ? m->entered[st] : 0;
}

const order_id *oms_open_ids(const oms *m, size_t *n) {
  *n = m->nopen;
  return m->open;
}

int oms_transition(oms *m, order *o, enum order_state to, dto_time t) {
  enum order_state from = o->state;
  int rc = order_transition(o, to, t);
  if (rc)
    m->illegal++;
  else
    m->entered[to]++;
  if (!rc && order_is_terminal(to))
    retire(m, o);
  if (m->obs)
    m->obs(m->ctx, o, from, to, rc == 0);
  return rc;
}

static void told(oms *m, const order *o) {
  if (m->obs)
    m->obs(m->ctx, o, o->state, o->state, true);
}

int oms_amend(oms *m, order *o, const order_amend *a, dto_time t) {
  uint32_t w = a->what;
  if (w == 0 || (w & ~(uint32_t)OA_ALL))
    return DTO_EINVAL;
  if (order_is_terminal(o->state) &&
      (w & (OA_QTY | OA_LIMIT | OA_STOP | OA_TRAIL)))
    return DTO_ESTATE;
  if ((w & OA_QTY) &&
      (a->qty < o->filled || a->qty < 0 || (a->qty == 0 && o->filled)))
    return DTO_EINVAL;
  if (((w & OA_LIMIT) && a->limit_price < 0) ||
      ((w & OA_STOP) && a->stop_price < 0) ||
      ((w & OA_TRAIL) && a->trail < 0) ||
      ((w & OA_EXITS) && (a->tp_price < 0 || a->sl_price < 0)))
    return DTO_EINVAL;
  if (w & OA_QTY)
    o->qty = a->qty;
  if (w & OA_PEER)
    o->peer = a->peer;
  if (w & OA_LIMIT)
    o->limit_price = a->limit_price;
  if (w & OA_STOP)
    o->stop_price = a->stop_price;
  if (w & OA_TRAIL) {
    o->trail = a->trail;
    o->water = a->water;
    o->triggered = a->triggered;
  }
  if (w & OA_REPLACED_BY)
    o->replaced_by = a->replaced_by;
  if (w & OA_EXITS) {
    o->tp_price = a->tp_price;
    o->sl_price = a->sl_price;
  }
  o->updated = t;
  told(m, o);
  return 0;
}

int oms_fill(oms *m, order *o, fx qty, fx value, fx fee, dto_time t) {
  if (qty <= 0 || qty > order_leaves(o) || value <= 0 || fee < 0)
    return DTO_EINVAL;
  enum order_state from = o->state;
  if (from == OS_NEW || from == OS_REJECTED || from == OS_FILLED)
    return DTO_ESTATE;
  fx filled, notional, fees;
  if (fx_add(o->filled, qty, &filled) ||
      fx_add(o->notional, value, &notional) || fx_add(o->fees, fee, &fees))
    return DTO_EOVERFLOW;
  enum order_state to = filled >= o->qty ? OS_FILLED : OS_PARTIALLY_FILLED;
  if (order_is_terminal(from) || (from == OS_PENDING_CANCEL && to != OS_FILLED))
    to = from; /* late, or still waiting for the cancel */
  if (to != from && !order_transition_legal(from, to))
    return DTO_ESTATE;
  o->filled = filled;
  o->notional = notional;
  o->fees = fees;
  o->updated = t;
  if (to == from) {
    told(m, o);
    return 0;
  }
  o->state = to;
  m->entered[to]++;
  if (order_is_terminal(to))
    retire(m, o);
  if (m->obs)
    m->obs(m->ctx, o, from, to, true);
  return 0;
}

/* Append s to buf[*n] within cap (keeping room for the NUL). */
static void put(char *buf, size_t cap, size_t *n, const char *s, size_t len) {
  size_t room = cap - 1 - *n;
  if (len > room)
    len = room;
  memcpy(buf + *n, s, len);
  *n += len;
}

/* Hand-formatted: this runs for every order, and snprintf costs more than
 * the rest of order creation; the engine keeps each strategy's prefix for
 * the day and formats only the sequence. */
size_t oms_cloid_prefix(char *buf, size_t cap, const char *account,
                        const char *strategy, int64_t day) {
  int y, mo, d;
  civil_from_days(day, &y, &mo, &d);
  char date[16];
  size_t n = 0, dn = 0;
  if (y < 0 || y > 9999)
    y = 0;
  date[dn++] = (char)('0' + y / 1000);
  date[dn++] = (char)('0' + y / 100 % 10);
  date[dn++] = (char)('0' + y / 10 % 10);
  date[dn++] = (char)('0' + y % 10);
  date[dn++] = (char)('0' + mo / 10);
  date[dn++] = (char)('0' + mo % 10);
  date[dn++] = (char)('0' + d / 10);
  date[dn++] = (char)('0' + d % 10);
  put(buf, cap, &n, account, strlen(account));
  put(buf, cap, &n, "-", 1);
  put(buf, cap, &n, strategy, strlen(strategy));
  put(buf, cap, &n, "-", 1);
  put(buf, cap, &n, date, dn);
  put(buf, cap, &n, "-", 1);
  return n;
}

void oms_cloid_seq(char *buf, size_t cap, size_t n, uint32_t seq) {
  char num[10]; /* UINT32_MAX has 10 digits, written from the end */
  size_t k = sizeof num;
  do {
    num[--k] = (char)('0' + seq % 10);
    seq /= 10;
  } while (seq);
  put(buf, cap, &n, num + k, sizeof num - k);
  buf[n] = '\0';
}

void oms_cloid(char *buf, size_t cap, const char *account, const char *strategy,
               int64_t day, uint32_t seq) {
  if (cap == 0)
    return;
  oms_cloid_seq(buf, cap, oms_cloid_prefix(buf, cap, account, strategy, day),
                seq);
}

void oms_set_observer(oms *m, oms_observer obs, void *ctx) {
  m->obs = obs;
  m->ctx = ctx;
}

/* ---- checkpoints --------------------------------------------------------- */

void oms_snapshot(const oms *m, dbuf *b) {
  snap_u64(b, m->nids);
  snap_u64(b, m->illegal);
  snap_u64(b, m->nopen);
  for (size_t i = 0; i < m->nopen; i++)
    snap_order(b, oms_cget(m, m->open[i]));
}

int oms_restore_snapshot(oms *m, snap_reader *r) {
  if (m->nids != 0)
    return DTO_ESTATE;
  size_t nids = snap_get_count(r, ORDER_NONE - 1);
  uint64_t illegal = snap_get_u64(r);
  size_t nopen = snap_get_count(r, nids);
  if (!snap_ok(r))
    return DTO_EINVAL;
  order *v = xcalloc(nopen ? nopen : 1, sizeof *v);
  for (size_t i = 0; i < nopen && snap_ok(r); i++) {
    snap_get_order(r, &v[i]);
    snap_check(r, v[i].id < nids && !order_is_terminal(v[i].state) &&
                      (i == 0 || v[i].id > v[i - 1].id));
  }
  if (!snap_ok(r)) {
    free(v);
    return DTO_EINVAL;
  }
  m->slot_of = xgrow(m->slot_of, &m->idcap, nids ? nids : 1,
                     sizeof *m->slot_of);
  for (size_t i = 0; i < nids; i++)
    m->slot_of[i] = OMS__SLOT_NONE;
  m->nids = nids;
  m->illegal = illegal;
  m->slots = xgrow(m->slots, &m->slotcap, nopen ? nopen : 1, sizeof *m->slots);
  m->open = xgrow(m->open, &m->opencap, nopen ? nopen : 1, sizeof *m->open);
  for (size_t i = 0; i < nopen; i++) {
    m->slots[i] = v[i];
    m->slot_of[v[i].id] = (uint32_t)i;
    m->open[i] = v[i].id;
  }
  m->nslots = m->nopen = nopen;
  free(v);
  return 0;
}
