/* oms.c - order table and validated state transitions. */
#include "engine/oms.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

struct oms {
  order *v;
  size_t n, cap;
  oms_observer obs;
  void *ctx;
  uint64_t illegal;
};

oms *oms_new(oms_observer obs, void *ctx) {
  oms *m = xcalloc(1, sizeof *m);
  m->obs = obs;
  m->ctx = ctx;
  return m;
}

void oms_free(oms *m) {
  if (!m)
    return;
  free(m->v);
  free(m);
}

order *oms_create(oms *m, const order *tmpl, const char *cloid, dto_time t) {
  DTO_ASSERT(m->n < ORDER_NONE);
  m->v = xgrow(m->v, &m->cap, m->n + 1, sizeof *m->v);
  order *o = &m->v[m->n];
  memcpy(o, tmpl, sizeof *o); /* every byte, so tables compare with memcmp */
  o->id = (order_id)m->n++;
  size_t n = strnlen(cloid, sizeof o->cloid - 1);
  memcpy(o->cloid, cloid, n);
  memset(o->cloid + n, 0, sizeof o->cloid - n); /* tables compare equal */
  o->state = OS_NEW;
  o->created = o->updated = t;
  if (m->obs)
    m->obs(m->ctx, o, OS_NEW, OS_NEW, true);
  return o;
}

order *oms_get(oms *m, order_id id) { return id < m->n ? &m->v[id] : NULL; }
const order *oms_cget(const oms *m, order_id id) {
  return id < m->n ? &m->v[id] : NULL;
}
size_t oms_count(const oms *m) { return m->n; }
uint64_t oms_illegal_count(const oms *m) { return m->illegal; }

int oms_transition(oms *m, order *o, enum order_state to, dto_time t) {
  enum order_state from = o->state;
  int rc = order_transition(o, to, t);
  if (rc)
    m->illegal++;
  if (m->obs)
    m->obs(m->ctx, o, from, to, rc == 0);
  return rc;
}

/* Append s to buf[*n] within cap (keeping room for the NUL). */
static void put(char *buf, size_t cap, size_t *n, const char *s, size_t len) {
  size_t room = cap - 1 - *n;
  if (len > room)
    len = room;
  memcpy(buf + *n, s, len);
  *n += len;
}

static size_t utoa(uint64_t v, char *out) {
  char tmp[24];
  size_t n = 0, i;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

/* Hand-formatted: this runs for every order, and snprintf costs more than
 * the rest of order creation. */
void oms_cloid(char *buf, size_t cap, const char *account,
               const char *strategy, int64_t day, uint32_t seq) {
  if (cap == 0)
    return;
  int y, mo, d;
  civil_from_days(day, &y, &mo, &d);
  char date[16], num[24];
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
  put(buf, cap, &n, num, utoa(seq, num));
  buf[n] = '\0';
}
