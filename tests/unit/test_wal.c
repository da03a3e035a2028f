/* test_wal.c - the write-ahead broker wrapper: orders wait for the journal,
 * and are never sent when it cannot write. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "app/wal.h"
#include "core/error.h"

typedef struct inner {
  int submits, replaces, cancels;
  order_id last;
  broker_report q[16];
  size_t nq;
} inner;

static int i_submit(void *ctx, const order *o) {
  inner *b = ctx;
  b->submits++;
  b->last = o->id;
  b->q[b->nq++] = (broker_report){REP_ACCEPTED, o->id, ORDER_NONE, 0, 0, 1, 0};
  return 0;
}
static int i_cancel(void *ctx, order_id id) {
  inner *b = ctx;
  b->cancels++;
  b->last = id;
  return 0;
}
static int i_replace(void *ctx, order_id old_id, const order *nw) {
  inner *b = ctx;
  (void)nw;
  b->replaces++;
  b->last = old_id;
  return 0;
}
static size_t i_poll(void *ctx, broker_report *out, size_t max) {
  inner *b = ctx;
  size_t n = b->nq < max ? b->nq : max;
  memcpy(out, b->q, n * sizeof *out);
  memmove(b->q, b->q + n, (b->nq - n) * sizeof *b->q);
  b->nq -= n;
  return n;
}
static const broker_ops inner_ops = {.name = "inner",
                                     .submit = i_submit,
                                     .cancel = i_cancel,
                                     .replace = i_replace,
                                     .poll = i_poll};

typedef struct barrier_state {
  int rc, calls;
} barrier_state;

static int barrier(void *ctx) {
  barrier_state *b = ctx;
  b->calls++;
  return b->rc;
}

static order mk(order_id id) {
  order o;
  memset(&o, 0, sizeof o);
  o.id = id;
  o.qty = FX_ONE;
  o.updated = 1000 + id;
  return o;
}

static void test_hold_then_release(void **state) {
  (void)state;
  inner b = {0};
  barrier_state bs = {0, 0};
  wal *w = wal_new(&inner_ops, &b, barrier, &bs);
  const broker_ops *ops = wal_ops(w);
  order o1 = mk(1), o2 = mk(2);
  assert_int_equal(ops->submit(wal_ctx(w), &o1), 0);
  assert_int_equal(ops->submit(wal_ctx(w), &o2), 0);
  /* nothing reaches the broker before the barrier */
  assert_int_equal(b.submits, 0);
  assert_int_equal(wal_held(w), 2);
  broker_report r[8];
  assert_int_equal(ops->poll(wal_ctx(w), r, 8), 0);
  assert_int_equal(wal_release(w), 2);
  assert_int_equal(bs.calls, 1);
  assert_int_equal(b.submits, 2);
  assert_int_equal(b.last, 2); /* in order */
  assert_int_equal(wal_held(w), 0);
  assert_int_equal(ops->poll(wal_ctx(w), r, 8), 2);
  /* cancels are held too, in sequence, but alone they only reduce risk:
   * no barrier */
  assert_int_equal(ops->cancel(wal_ctx(w), 1), 0);
  assert_int_equal(b.cancels, 0);
  assert_int_equal(wal_release(w), 1);
  assert_int_equal(b.cancels, 1);
  assert_int_equal(bs.calls, 1);
  /* nothing held: no barrier needed */
  assert_int_equal(wal_release(w), 0);
  assert_int_equal(bs.calls, 1);
  wal_free(w);
}

static void test_journal_failure_sends_nothing(void **state) {
  (void)state;
  inner b = {0};
  barrier_state bs = {DTO_ENOSPC, 0};
  wal *w = wal_new(&inner_ops, &b, barrier, &bs);
  const broker_ops *ops = wal_ops(w);
  order o1 = mk(7), o2 = mk(8);
  ops->submit(wal_ctx(w), &o1);
  ops->replace(wal_ctx(w), 3, &o2);
  assert_int_equal(wal_release(w), DTO_ENOSPC);
  assert_int_equal(b.submits, 0);
  assert_int_equal(b.replaces, 0);
  broker_report r[8];
  assert_int_equal(ops->poll(wal_ctx(w), r, 8), 2);
  assert_int_equal(r[0].kind, REP_REJECTED);
  assert_int_equal(r[0].id, 7);
  assert_int_equal(r[0].reason, BRR_STORAGE);
  assert_int_equal(r[0].ts, 1007);
  assert_int_equal(r[1].kind, REP_CANCEL_REJECT);
  assert_int_equal(r[1].id, 3);
  assert_string_equal(broker_reason_name(BRR_STORAGE), "storage_fault");
  /* writes work again: new orders flow */
  bs.rc = 0;
  ops->submit(wal_ctx(w), &o1);
  assert_int_equal(wal_release(w), 1);
  assert_int_equal(b.submits, 1);
  wal_free(w);
}

/* ---- every command in the order it was given ----------------------------- */

typedef struct seq_inner {
  char log[64];
  size_t n;
  bool known[16]; /* orders the broker has */
  int refused;    /* cancels of unknown orders */
} seq_inner;

static int s_submit(void *ctx, const order *o) {
  seq_inner *b = ctx;
  b->log[b->n++] = 'S';
  b->known[o->id] = true;
  return 0;
}
static int s_cancel(void *ctx, order_id id) {
  seq_inner *b = ctx;
  b->log[b->n++] = 'C';
  if (!b->known[id]) /* as the paper exchange: unknown order */
    b->refused++;
  return 0;
}
static int s_replace(void *ctx, order_id old_id, const order *nw) {
  seq_inner *b = ctx;
  (void)old_id;
  b->log[b->n++] = 'R';
  b->known[nw->id] = true;
  return 0;
}
static size_t s_poll(void *ctx, broker_report *out, size_t max) {
  (void)ctx;
  (void)out;
  (void)max;
  return 0;
}
static const broker_ops seq_ops = {.name = "seq",
                                   .submit = s_submit,
                                   .cancel = s_cancel,
                                   .replace = s_replace,
                                   .poll = s_poll,
                                   .sync_reports = true};

/* An entry submitted and canceled in one step (a flatten right after a
 * signal): the broker sees the submit first, so the cancel finds it. */
static void test_cancel_after_submit_same_step(void **state) {
  (void)state;
  seq_inner b = {0};
  barrier_state bs = {0, 0};
  wal *w = wal_new(&seq_ops, &b, barrier, &bs);
  const broker_ops *ops = wal_ops(w);
  assert_true(ops->sync_reports); /* follows the inner broker */
  order o1 = mk(1), o2 = mk(2), o3 = mk(3);
  ops->submit(wal_ctx(w), &o1);
  ops->cancel(wal_ctx(w), 1);
  ops->submit(wal_ctx(w), &o2);
  ops->replace(wal_ctx(w), 2, &o3);
  ops->cancel(wal_ctx(w), 3);
  assert_int_equal(b.n, 0);
  assert_int_equal(wal_release(w), 5);
  assert_memory_equal(b.log, "SCSRC", 5);
  assert_int_equal(b.refused, 0);
  wal_free(w);
}

/* The journal fails: submits are refused by the wrapper, a cancel of an
 * order refused in the same release is dropped (the order never existed),
 * a cancel of an older order still goes out (it only reduces risk). */
static void test_failure_keeps_cancels_of_sent_orders(void **state) {
  (void)state;
  seq_inner b = {0};
  b.known[5] = true; /* sent in an earlier step */
  barrier_state bs = {DTO_EIO, 0};
  wal *w = wal_new(&seq_ops, &b, barrier, &bs);
  const broker_ops *ops = wal_ops(w);
  order o1 = mk(1);
  ops->submit(wal_ctx(w), &o1);
  ops->cancel(wal_ctx(w), 1);
  ops->cancel(wal_ctx(w), 5);
  assert_int_equal(wal_release(w), DTO_EIO);
  assert_int_equal(b.n, 1);
  assert_int_equal(b.log[0], 'C');
  assert_int_equal(b.refused, 0);
  broker_report r[4];
  assert_int_equal(ops->poll(wal_ctx(w), r, 4), 1);
  assert_int_equal(r[0].kind, REP_REJECTED);
  assert_int_equal(r[0].id, 1);
  wal_free(w);
}

/* Without a journal the wrapper only orders and releases per step. */
static void test_no_barrier(void **state) {
  (void)state;
  seq_inner b = {0};
  wal *w = wal_new(&seq_ops, &b, NULL, NULL);
  const broker_ops *ops = wal_ops(w);
  order o1 = mk(1);
  ops->submit(wal_ctx(w), &o1);
  ops->cancel(wal_ctx(w), 1);
  assert_int_equal(b.n, 0);
  assert_int_equal(wal_release(w), 2);
  assert_memory_equal(b.log, "SC", 2);
  wal_free(w);
}

/* ---- every slot of broker_ops reaches the inner broker ------------------- */

/* A new slot in broker_ops changes its size: this fails to compile until
 * the wrapper and this walk handle it. */
_Static_assert(sizeof(broker_ops) == 14 * sizeof(void *),
               "broker_ops changed: forward the new slot in every wrapper "
               "(src/app/wal.c) and add it to test_every_slot_forwarded");

enum { K_SUBMIT, K_CANCEL, K_REPLACE, K_BAR, K_TRADE, K_QUOTE, K_TIME,
       K_POLL, K_IDLE, K_OPEN, K_POS, K_FILLS, K_COUNT };
static int calls[K_COUNT];

static int a_submit(void *c, const order *o) { (void)c; (void)o; calls[K_SUBMIT]++; return 0; }
static int a_cancel(void *c, order_id id) { (void)c; (void)id; calls[K_CANCEL]++; return 0; }
static int a_replace(void *c, order_id id, const order *o) { (void)c; (void)id; (void)o; calls[K_REPLACE]++; return 0; }
static void a_bar(void *c, const bar *b) { (void)c; (void)b; calls[K_BAR]++; }
static void a_trade(void *c, const trade *t) { (void)c; (void)t; calls[K_TRADE]++; }
static void a_quote(void *c, const quote *q) { (void)c; (void)q; calls[K_QUOTE]++; }
static void a_time(void *c, dto_time t) { (void)c; (void)t; calls[K_TIME]++; }
static size_t a_poll(void *c, broker_report *o, size_t m) { (void)c; (void)o; (void)m; calls[K_POLL]++; return 0; }
static bool a_idle(void *c) { (void)c; calls[K_IDLE]++; return false; }
static int a_open(void *c, broker_open_order *o, size_t m, size_t *n) { (void)c; (void)o; (void)m; *n = 0; calls[K_OPEN]++; return 0; }
static int a_pos(void *c, broker_position *o, size_t m, size_t *n) { (void)c; (void)o; (void)m; *n = 0; calls[K_POS]++; return 0; }
static int a_fills(void *c, dto_time s, broker_fill *o, size_t m, size_t *n) { (void)c; (void)s; (void)o; (void)m; *n = 0; calls[K_FILLS]++; return 0; }

static void test_every_slot_forwarded(void **state) {
  (void)state;
  for (int sync = 0; sync < 2; sync++) {
    const broker_ops all = {.name = "all", .submit = a_submit,
                            .cancel = a_cancel, .replace = a_replace,
                            .on_bar = a_bar, .on_trade = a_trade,
                            .on_quote = a_quote, .on_time = a_time,
                            .poll = a_poll, .sync_reports = sync,
                            .needs_idle_bars = a_idle,
                            .open_orders = a_open, .positions = a_pos,
                            .fills_since = a_fills};
    memset(calls, 0, sizeof calls);
    wal *w = wal_new(&all, NULL, NULL, NULL);
    const broker_ops *ops = wal_ops(w);
    void *c = wal_ctx(w);
    order o = mk(1);
    bar b;
    trade t;
    quote q;
    memset(&b, 0, sizeof b);
    memset(&t, 0, sizeof t);
    memset(&q, 0, sizeof q);
    broker_report r[2];
    broker_open_order oo[1];
    broker_position pp[1];
    broker_fill ff[1];
    size_t n;
    ops->submit(c, &o);
    ops->cancel(c, 1);
    ops->replace(c, 1, &o);
    wal_release(w);
    ops->on_bar(c, &b);
    ops->on_trade(c, &t);
    ops->on_quote(c, &q);
    ops->on_time(c, 1);
    ops->poll(c, r, 2);
    assert_false(ops->needs_idle_bars(c)); /* the inner's answer */
    assert_int_equal(ops->open_orders(c, oo, 1, &n), 0);
    assert_int_equal(ops->positions(c, pp, 1, &n), 0);
    assert_int_equal(ops->fills_since(c, 0, ff, 1, &n), 0);
    assert_int_equal(ops->sync_reports, sync);
    assert_non_null(ops->name);
    for (int k = 0; k < K_COUNT; k++)
      assert_int_equal(calls[k], 1);
    wal_free(w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hold_then_release),
      cmocka_unit_test(test_journal_failure_sends_nothing),
      cmocka_unit_test(test_cancel_after_submit_same_step),
      cmocka_unit_test(test_failure_keeps_cancels_of_sent_orders),
      cmocka_unit_test(test_no_barrier),
      cmocka_unit_test(test_every_slot_forwarded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
