/* wal.c - hold broker commands until the journal has them. */
#include "app/wal.h"

#include "core/alloc.h"
#include "core/error.h"
#include "engine/snapshot.h"

enum cmd_kind { CMD_SUBMIT, CMD_CANCEL, CMD_REPLACE };

typedef struct cmd {
  enum cmd_kind kind;
  order_id id; /* cancel: the order; replace: the old order */
  order o;     /* submit, replace: a copy (the engine's table may move) */
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

static void hold(wal *w, enum cmd_kind k, order_id id, const order *o) {
  w->held = xgrow(w->held, &w->heldcap, w->nheld + 1, sizeof *w->held);
  cmd *c = &w->held[w->nheld++];
  memset(c, 0, sizeof *c);
  c->kind = k;
  c->id = id;
  if (o)
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

/* Was a submit of id refused earlier in this release (cmds[0..i))? */
static bool refused_before(const cmd *cmds, size_t i, order_id id) {
  for (size_t k = 0; k < i; k++)
    if (cmds[k].kind == CMD_SUBMIT && cmds[k].o.id == id)
      return true;
  return false;
}

int wal_release(wal *w) {
  if (w->nheld == 0)
    return 0;
  /* Only what opens risk waits for the disk: a step that only cancels is
   * sent at once (in order; a cancel sent twice after a crash is refused
   * harmlessly by the broker). */
  bool opens = false;
  for (size_t i = 0; i < w->nheld && !opens; i++)
    opens = w->held[i].kind != CMD_CANCEL;
  int rc = opens && w->barrier ? w->barrier(w->bctx) : 0;
  /* brokers never call back into the wrapper (broker.h): the list stays
   * as it is while it is walked */
  size_t n = w->nheld;
  const cmd *cmds = w->held;
  for (size_t i = 0; i < n; i++) {
    const cmd *c = &cmds[i];
    if (rc) { /* not durable: never sent; tell the engine */
      if (c->kind == CMD_SUBMIT)
        own_report(w, REP_REJECTED, c->o.id, c->o.updated);
      else if (c->kind == CMD_REPLACE)
        own_report(w, REP_CANCEL_REJECT, c->id, c->o.updated);
      else if (!refused_before(cmds, i, c->id))
        w->inner->cancel(w->ictx, c->id);
      continue;
    }
    if (c->kind == CMD_SUBMIT)
      w->inner->submit(w->ictx, &c->o);
    else if (c->kind == CMD_CANCEL)
      w->inner->cancel(w->ictx, c->id);
    else
      w->inner->replace(w->ictx, c->id, &c->o);
  }
  w->nheld = 0;
  return rc ? rc : (int)n;
}

/* ---- broker_ops ---------------------------------------------------------- */

static int w_submit(void *ctx, const order *o) {
  hold(ctx, CMD_SUBMIT, o->id, o);
  return 0;
}
static int w_cancel(void *ctx, order_id id) {
  hold(ctx, CMD_CANCEL, id, NULL);
  return 0;
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
static bool w_needs_idle_bars(void *ctx) {
  wal *w = ctx;
  return !w->inner->needs_idle_bars || w->inner->needs_idle_bars(w->ictx);
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
static int w_fills_since(void *ctx, dto_time since, broker_fill *out,
                         size_t max, size_t *n) {
  wal *w = ctx;
  if (!w->inner->fills_since) { /* the inner cannot have missed fills */
    *n = 0;
    return 0;
  }
  return w->inner->fills_since(w->ictx, since, out, max, n);
}

#define WAL_OPS(sync)                                                          \
  {                                                                            \
    .name = "write-ahead", .submit = w_submit, .cancel = w_cancel,             \
    .replace = w_replace, .on_bar = w_bar, .on_trade = w_trade,                \
    .on_quote = w_quote, .on_time = w_time, .poll = w_poll,                    \
    .sync_reports = (sync), .needs_idle_bars = w_needs_idle_bars,              \
    .open_orders = w_open_orders, .positions = w_positions,                    \
    .fills_since = w_fills_since                                               \
  }

static const broker_ops wal_ops_sync = WAL_OPS(true);
static const broker_ops wal_ops_async = WAL_OPS(false);

const broker_ops *wal_ops(const wal *w) {
  return w->inner->sync_reports ? &wal_ops_sync : &wal_ops_async;
}

/* ---- checkpoints --------------------------------------------------------- */

void wal_snapshot(const wal *w, dbuf *b) {
  snap_u64(b, w->nheld);
  for (size_t i = 0; i < w->nheld; i++) {
    const cmd *c = &w->held[i];
    snap_u8(b, (uint8_t)c->kind);
    snap_u32(b, c->id);
    if (c->kind != CMD_CANCEL)
      snap_order(b, &c->o);
  }
}

int wal_restore_snapshot(wal *w, snap_reader *r) {
  if (w->nheld || w->nown)
    return DTO_ESTATE;
  size_t n = snap_get_count(r, (size_t)1 << 24);
  for (size_t i = 0; i < n && snap_ok(r); i++) {
    uint8_t k = snap_get_u8(r);
    order_id id = snap_get_u32(r);
    order o;
    memset(&o, 0, sizeof o);
    snap_check(r, k <= CMD_REPLACE);
    if (snap_ok(r) && k != CMD_CANCEL)
      snap_get_order(r, &o);
    if (snap_ok(r))
      hold(w, (enum cmd_kind)k, id, k == CMD_CANCEL ? NULL : &o);
  }
  if (!snap_ok(r)) {
    w->nheld = 0;
    return DTO_EINVAL;
  }
  return 0;
}
