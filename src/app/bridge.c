/* bridge.c - requests to a broker's I/O thread, its reports through the
 * engine's queue. */
#define _POSIX_C_SOURCE 200809L
#include "app/bridge.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"

struct bridge {
  bridge_config cfg;
  /* requests: a ring under mu (orders are rare next to market data; a
   * mutex keeps it simple and the I/O thread sleeps on cv) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bridge_req *ring;
  size_t head, len; /* oldest at head */
  bool closed;
  /* told after each request is queued (bridge_set_wake) */
  void (*wake)(void *ctx);
  void *wake_ctx;
  /* reports handed back by the engine thread, for poll (engine thread
   * only: no lock) */
  broker_report *in;
  size_t in_head, in_len, in_cap;
  atomic_uint_fast64_t requests, refused, reports, lost, delivered;
};

int bridge_new(const bridge_config *c, bridge **out) {
  *out = NULL;
  if (!c || !c->q || c->capacity < 1 || c->capacity > ((size_t)1 << 24) ||
      c->report_timeout_ns < 0)
    return DTO_EINVAL;
  bridge *b = xcalloc(1, sizeof *b);
  b->cfg = *c;
  b->ring = xcalloc(c->capacity, sizeof *b->ring);
  pthread_mutex_init(&b->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&b->cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&b->requests, 0);
  atomic_init(&b->refused, 0);
  atomic_init(&b->reports, 0);
  atomic_init(&b->lost, 0);
  atomic_init(&b->delivered, 0);
  *out = b;
  return 0;
}

void bridge_free(bridge *b) {
  if (!b)
    return;
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  free(b->ring);
  free(b->in);
  free(b);
}

/* ---- the engine's side --------------------------------------------------- */

static int put(bridge *b, const bridge_req *r) {
  pthread_mutex_lock(&b->mu);
  int rc = 0;
  if (b->closed) {
    rc = DTO_ESTATE;
  } else if (b->len == b->cfg.capacity) {
    rc = DTO_EAGAIN;
  } else {
    b->ring[(b->head + b->len) % b->cfg.capacity] = *r;
    b->len++;
    pthread_cond_signal(&b->cv);
  }
  pthread_mutex_unlock(&b->mu);
  atomic_fetch_add(rc ? &b->refused : &b->requests, 1);
  if (!rc && b->wake)
    b->wake(b->wake_ctx);
  return rc;
}

size_t bridge_drop_orders(bridge *b, int reason, dto_time ts) {
  size_t dropped = 0, kept = 0;
  broker_report *out = NULL;
  pthread_mutex_lock(&b->mu);
  if (b->len)
    out = xcalloc(b->len, sizeof *out);
  for (size_t i = 0; i < b->len; i++) {
    bridge_req *r = &b->ring[(b->head + i) % b->cfg.capacity];
    if (r->op == BRIDGE_CANCEL) {
      b->ring[(b->head + kept++) % b->cfg.capacity] = *r;
      continue;
    }
    broker_report *p = &out[dropped++];
    memset(p, 0, sizeof *p);
    p->kind = r->op == BRIDGE_SUBMIT ? REP_REJECTED : REP_CANCEL_REJECT;
    p->id = r->id;
    p->new_id = ORDER_NONE;
    p->ts = ts;
    p->reason = reason;
  }
  b->len = kept;
  pthread_mutex_unlock(&b->mu);
  for (size_t i = 0; i < dropped; i++)
    bridge_deliver(b, &out[i]);
  free(out);
  return dropped;
}

bool bridge_queued(bridge *b, order_id id) {
  bool found = false;
  pthread_mutex_lock(&b->mu);
  for (size_t i = 0; i < b->len && !found; i++) {
    const bridge_req *r = &b->ring[(b->head + i) % b->cfg.capacity];
    found = (r->op == BRIDGE_SUBMIT || r->op == BRIDGE_REPLACE) &&
            r->o.id == id;
  }
  pthread_mutex_unlock(&b->mu);
  return found;
}

void bridge_set_wake(bridge *b, void (*fn)(void *ctx), void *ctx) {
  b->wake = fn;
  b->wake_ctx = ctx;
}

static int br_submit(void *ctx, const order *o) {
  bridge_req r;
  memset(&r, 0, sizeof r);
  r.op = BRIDGE_SUBMIT;
  r.id = o->id;
  r.o = *o;
  return put(ctx, &r);
}

static int br_cancel(void *ctx, order_id id) {
  bridge_req r;
  memset(&r, 0, sizeof r);
  r.op = BRIDGE_CANCEL;
  r.id = id;
  return put(ctx, &r);
}

static int br_replace(void *ctx, order_id old_id, const order *nw) {
  bridge_req r;
  memset(&r, 0, sizeof r);
  r.op = BRIDGE_REPLACE;
  r.id = old_id;
  r.o = *nw;
  return put(ctx, &r);
}

static size_t br_poll(void *ctx, broker_report *out, size_t max) {
  bridge *b = ctx;
  size_t n = 0;
  while (n < max && b->in_len) {
    out[n++] = b->in[b->in_head];
    b->in_head = (b->in_head + 1) % b->in_cap;
    b->in_len--;
  }
  return n;
}

const broker_ops bridge_broker_ops = {
    .name = "bridge",
    .submit = br_submit,
    .cancel = br_cancel,
    .replace = br_replace,
    .poll = br_poll,
    .sync_reports = false,
};

void bridge_deliver(bridge *b, const broker_report *r) {
  if (b->in_len == b->in_cap) { /* grow, keeping the order */
    size_t cap = b->in_cap ? b->in_cap * 2 : 64;
    broker_report *v = xcalloc(cap, sizeof *v);
    for (size_t i = 0; i < b->in_len; i++)
      v[i] = b->in[(b->in_head + i) % b->in_cap];
    free(b->in);
    b->in = v;
    b->in_cap = cap;
    b->in_head = 0;
  }
  b->in[(b->in_head + b->in_len) % b->in_cap] = *r;
  b->in_len++;
  atomic_fetch_add(&b->delivered, 1);
}

/* ---- the I/O thread's side ----------------------------------------------- */

int bridge_next(bridge *b, bridge_req *out, int64_t timeout_ns) {
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  int64_t ns = (int64_t)dl.tv_nsec + (timeout_ns > 0 ? timeout_ns : 0);
  dl.tv_sec += (time_t)(ns / DTO_NS_PER_SEC);
  dl.tv_nsec = (long)(ns % DTO_NS_PER_SEC);
  pthread_mutex_lock(&b->mu);
  int rc = 0;
  while (!b->len && !b->closed && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&b->cv, &b->mu, &dl);
  if (b->len) {
    *out = b->ring[b->head];
    b->head = (b->head + 1) % b->cfg.capacity;
    b->len--;
    rc = 0;
  } else {
    rc = b->closed ? DTO_ESTATE : DTO_EAGAIN;
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int bridge_take_submit(bridge *b, order_id id, bridge_req *out,
                       int64_t timeout_ns) {
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  int64_t ns = (int64_t)dl.tv_nsec + (timeout_ns > 0 ? timeout_ns : 0);
  dl.tv_sec += (time_t)(ns / DTO_NS_PER_SEC);
  dl.tv_nsec = (long)(ns % DTO_NS_PER_SEC);
  size_t cap = b->cfg.capacity;
  pthread_mutex_lock(&b->mu);
  int rc = DTO_EAGAIN;
  bool last = false; /* the wait ran out: one more look */
  for (;;) {
    size_t i = 0;
    while (i < b->len && !(b->ring[(b->head + i) % cap].op == BRIDGE_SUBMIT &&
                           b->ring[(b->head + i) % cap].o.id == id))
      i++;
    if (i < b->len) {
      *out = b->ring[(b->head + i) % cap];
      for (size_t k = i; k + 1 < b->len; k++) /* close the gap */
        b->ring[(b->head + k) % cap] = b->ring[(b->head + k + 1) % cap];
      b->len--;
      rc = 0;
      break;
    }
    if (last || b->closed)
      break;
    last = pthread_cond_timedwait(&b->cv, &b->mu, &dl) == ETIMEDOUT;
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int bridge_report(bridge *b, const broker_report *r) {
  inq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = INQ_REPORT;
  ev.src = b->cfg.src;
  ev.u.report = *r;
  if (inq_push(b->cfg.q, &ev, b->cfg.report_timeout_ns) != 0) {
    atomic_fetch_add(&b->lost, 1);
    if (b->cfg.overflows)
      atomic_fetch_add(b->cfg.overflows, 1);
    return DTO_EAGAIN;
  }
  atomic_fetch_add(&b->reports, 1);
  return 0;
}

int bridge_signal(bridge *b, uint32_t id) {
  inq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = INQ_TIMER;
  ev.src = b->cfg.src;
  ev.u.timer.id = id;
  return inq_push(b->cfg.q, &ev, b->cfg.report_timeout_ns) ? DTO_EAGAIN : 0;
}

void bridge_close(bridge *b) {
  pthread_mutex_lock(&b->mu);
  b->closed = true;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

void bridge_get_stats(bridge *b, bridge_stats *out) {
  out->requests = atomic_load(&b->requests);
  out->refused = atomic_load(&b->refused);
  out->reports = atomic_load(&b->reports);
  out->lost = atomic_load(&b->lost);
  out->delivered = atomic_load(&b->delivered);
}
