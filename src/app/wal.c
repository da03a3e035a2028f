/* wal.c - hold orders until the journal has them. */
#include "app/wal.h"

#include "core/alloc.h"
#include "core/error.h"

enum cmd_kind { CMD_SUBMIT, CMD_REPLACE };

typedef struct cmd {
  enum cmd_kind kind;
  order_id old_id; /* replace */
  order o;         /* a copy: the engine's order table may move */
} cmd;

struct wal {
  const broker_ops *inner;
  void *ictx;
  wal_barrier_fn barrier;
  void *bctx;
  cmd *held;
  size_t nheld, heldcap;
  broker_report *own; /* reports the wrapper makes itself */
  size_t nown, owncap;
};

wal *wal_new(const broker_ops *inner, void *inner_ctx, wal_barrier_fn barrier,
             void *barrier_ctx) {
  wal *w = xcalloc(1, sizeof *w);
  w->inner = inner;
  w->ictx = inner_ctx;
  w->barrier = barrier;
  w->bctx = barrier_ctx;
  return w;
}

void wal_free(wal *w) {
  if (!w)
    return;
  free(w->held);
  free(w->own);
  free(w);
}

size_t wal_held(const wal *w) { return w->nheld; }

static void hold(wal *w, enum cmd_kind k, order_id old_id, const order *o) {
  w->held = xgrow(w->held, &w->heldcap, w->nheld + 1, sizeof *w->held);
  cmd *c = &w->held[w->nheld++];
  c->kind = k;
  c->old_id = old_id;
  c->o = *o;
}

static void own_report(wal *w, enum report_kind k, order_id id, dto_time ts) {
  w->own = xgrow(w->own, &w->owncap, w->nown + 1, sizeof *w->own);
  broker_report *r = &w->own[w->nown++];
  memset(r, 0, sizeof *r);
  r->kind = k;
  r->id = id;
  r->new_id = ORDER_NONE;
  r->ts = ts;
  r->reason = BRR_STORAGE;
}

int wal_release(wal *w) {
  if (w->nheld == 0)
    return 0;
  int rc = w->barrier(w->bctx);
  size_t n = w->nheld;
  w->nheld = 0;
  for (size_t i = 0; i < n; i++) {
    cmd *c = &w->held[i];
    if (rc) { /* not durable: never sent; tell the engine */
      if (c->kind == CMD_SUBMIT)
        own_report(w, REP_REJECTED, c->o.id, c->o.updated);
      else
        own_report(w, REP_CANCEL_REJECT, c->old_id, c->o.updated);
      continue;
    }
    if (c->kind == CMD_SUBMIT)
      w->inner->submit(w->ictx, &c->o);
    else
      w->inner->replace(w->ictx, c->old_id, &c->o);
  }
  return rc ? rc : (int)n;
}

/* ---- broker_ops ---------------------------------------------------------- */

static int w_submit(void *ctx, const order *o) {
  hold(ctx, CMD_SUBMIT, ORDER_NONE, o);
  return 0;
}
static int w_cancel(void *ctx, order_id id) {
  wal *w = ctx;
  return w->inner->cancel(w->ictx, id);
}
static int w_replace(void *ctx, order_id old_id, const order *nw) {
  hold(ctx, CMD_REPLACE, old_id, nw);
  return 0;
}
static void w_bar(void *ctx, const bar *b) {
  wal *w = ctx;
  if (w->inner->on_bar)
    w->inner->on_bar(w->ictx, b);
}
static void w_trade(void *ctx, const trade *t) {
  wal *w = ctx;
  if (w->inner->on_trade)
    w->inner->on_trade(w->ictx, t);
}
static void w_quote(void *ctx, const quote *q) {
  wal *w = ctx;
  if (w->inner->on_quote)
    w->inner->on_quote(w->ictx, q);
}
static void w_time(void *ctx, dto_time t) {
  wal *w = ctx;
  if (w->inner->on_time)
    w->inner->on_time(w->ictx, t);
}
static size_t w_poll(void *ctx, broker_report *out, size_t max) {
  wal *w = ctx;
  size_t n = w->nown < max ? w->nown : max;
  if (n) {
    memcpy(out, w->own, n * sizeof *out);
    memmove(w->own, w->own + n, (w->nown - n) * sizeof *w->own);
    w->nown -= n;
  }
  return n + w->inner->poll(w->ictx, out + n, max - n);
}

static int w_open_orders(void *ctx, broker_open_order *out, size_t max,
                         size_t *n) {
  wal *w = ctx;
  if (!w->inner->open_orders)
    return DTO_EUNSUPPORTED;
  return w->inner->open_orders(w->ictx, out, max, n);
}
static int w_positions(void *ctx, broker_position *out, size_t max,
                       size_t *n) {
  wal *w = ctx;
  if (!w->inner->positions)
    return DTO_EUNSUPPORTED;
  return w->inner->positions(w->ictx, out, max, n);
}

/* Reports are not synchronous through the wrapper: released commands make
 * reports outside the engine's calls, so the engine polls every step. */
const broker_ops wal_broker_ops = {
    .name = "write-ahead",
    .submit = w_submit,
    .cancel = w_cancel,
    .replace = w_replace,
    .on_bar = w_bar,
    .on_trade = w_trade,
    .on_quote = w_quote,
    .on_time = w_time,
    .poll = w_poll,
    .open_orders = w_open_orders,
    .positions = w_positions,
};
