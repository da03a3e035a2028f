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
  const broker_ops *ops = &wal_broker_ops;
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
  /* cancels go straight through */
  assert_int_equal(ops->cancel(wal_ctx(w), 1), 0);
  assert_int_equal(b.cancels, 1);
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
  const broker_ops *ops = &wal_broker_ops;
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hold_then_release),
      cmocka_unit_test(test_journal_failure_sends_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
