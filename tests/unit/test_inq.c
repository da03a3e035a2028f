/* test_inq.c - the service's inbound queue: FIFO order, the full queue and
 * its timeouts per delivery class, conflation counted exactly (expected
 * sequences written out by hand), the consumer's wait, and a flood of
 * millions of events from 4 producer threads checked against what the
 * producers themselves recorded.  Every wait in here is bounded. */
#include "core/prelude.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

#include <cmocka.h>

#include "core/error.h"
#include "app/inq.h"

#define MS (1000000LL)
#define LONG_WAIT (30LL * DTO_NS_PER_SEC) /* bounds, never expected */

/* An event of kind k from producer src carrying key in a field of its own
 * payload, so the test can tell events apart. */
static inq_event mk(enum inq_kind k, uint32_t src, uint32_t sym, int64_t key) {
  inq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = k;
  ev.src = src;
  switch (k) {
  case INQ_BAR:
    ev.u.bar.sym = sym;
    ev.u.bar.ts = key;
    ev.u.bar.volume = key;
    break;
  case INQ_TRADE:
    ev.u.trade.sym = sym;
    ev.u.trade.size = key;
    break;
  case INQ_QUOTE:
    ev.u.quote.sym = sym;
    ev.u.quote.bid = key;
    break;
  case INQ_REPORT:
    ev.u.report.id = (order_id)key;
    break;
  case INQ_COMMAND:
    ev.u.command.id = (uint64_t)key;
    break;
  case INQ_TIMER:
    ev.u.timer.at = key;
    break;
  default:
    break;
  }
  return ev;
}

static int64_t key_of(const inq_event *ev) {
  switch (ev->kind) {
  case INQ_BAR:
    return ev->u.bar.volume;
  case INQ_TRADE:
    return ev->u.trade.size;
  case INQ_QUOTE:
    return ev->u.quote.bid;
  case INQ_REPORT:
    return ev->u.report.id;
  case INQ_COMMAND:
    return (int64_t)ev->u.command.id;
  case INQ_TIMER:
    return ev->u.timer.at;
  default:
    return -1;
  }
}

static uint32_t sym_of(const inq_event *ev) {
  switch (ev->kind) {
  case INQ_BAR:
    return ev->u.bar.sym;
  case INQ_TRADE:
    return ev->u.trade.sym;
  case INQ_QUOTE:
    return ev->u.quote.sym;
  default:
    return SYM_NONE;
  }
}

static inq *mkq(size_t cap, size_t hw, uint32_t nsyms, bool conflate) {
  inq_config c = {
      .capacity = cap, .high_water = hw, .nsyms = nsyms, .conflate = conflate};
  inq *q = NULL;
  assert_int_equal(inq_new(&c, &q), 0);
  assert_non_null(q);
  return q;
}

static void push_ok(inq *q, inq_event ev) {
  int rc = inq_push(q, &ev, 0);
  if (rc)
    fail_msg("push %s key %lld: %s", inq_kind_name(ev.kind),
             (long long)key_of(&ev), dto_errname(rc));
}

/* The next event must be kind k, sym, key. */
static void expect_ev(const inq_event *ev, enum inq_kind k, uint32_t sym,
                      int64_t key) {
  if (ev->kind != k || key_of(ev) != key ||
      (sym != SYM_NONE && sym_of(ev) != sym))
    fail_msg("got %s sym %u key %lld, want %s sym %u key %lld",
             inq_kind_name(ev->kind), sym_of(ev), (long long)key_of(ev),
             inq_kind_name(k), sym, (long long)key);
}

static void test_config_errors(void **state) {
  (void)state;
  inq *q = (inq *)1;
  inq_config c = {.capacity = 1};
  assert_int_equal(inq_new(&c, &q), DTO_EINVAL);
  assert_null(q);
  c = (inq_config){.capacity = 8, .high_water = 9};
  assert_int_equal(inq_new(&c, &q), DTO_EINVAL);
  c = (inq_config){.capacity = 8, .conflate = true, .nsyms = 0};
  assert_int_equal(inq_new(&c, &q), DTO_EINVAL);
  c = (inq_config){.capacity = SIZE_MAX / 2};
  assert_int_equal(inq_new(&c, &q), DTO_EINVAL);
  c = (inq_config){.capacity = 2};
  assert_int_equal(inq_new(&c, &q), 0);
  inq_free(q);
  inq_free(NULL);
}

static void test_bad_events(void **state) {
  (void)state;
  inq *q = mkq(8, 4, 3, true);
  inq_event ev = mk(INQ_QUOTE, 0, 3, 1); /* sym 3 of 3 */
  assert_int_equal(inq_push(q, &ev, 0), DTO_EINVAL);
  ev = mk(INQ_BAR, 0, SYM_NONE, 1);
  assert_int_equal(inq_push(q, &ev, 0), DTO_EINVAL);
  ev = mk(INQ_REPORT, 0, 0, 1);
  ev.kind = INQ_KIND_COUNT;
  assert_int_equal(inq_push(q, &ev, 0), DTO_EINVAL);
  inq_event out[4];
  assert_int_equal(inq_pop_batch(q, out, 4), 0);
  assert_string_equal(inq_kind_name(INQ_COMMAND), "command");
  assert_string_equal(inq_kind_name(INQ_KIND_COUNT), "unknown");
  inq_free(q);
}

static void test_fifo(void **state) {
  (void)state;
  /* Without conflation, every kind in push order, across batch borders and
   * across the ring's wrap (capacity 5 rounds the ring up to 8). */
  inq *q = mkq(5, 5, 0, false);
  static const enum inq_kind ks[] = {INQ_REPORT, INQ_BAR,   INQ_QUOTE,
                                     INQ_TRADE,  INQ_TIMER, INQ_COMMAND};
  inq_event out[3];
  int64_t next_pop = 0, next_push = 0;
  for (int round = 0; round < 40; round++) {
    while (next_push - next_pop < 5) {
      enum inq_kind k = ks[next_push % 6];
      push_ok(q, mk(k, 7, 2, next_push));
      next_push++;
    }
    size_t want = (size_t)(round % 3) + 1;
    size_t n = inq_pop_batch(q, out, want);
    assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++) {
      expect_ev(&out[i], ks[next_pop % 6], SYM_NONE, next_pop);
      assert_int_equal(out[i].src, 7);
      next_pop++;
    }
  }
  while (inq_pop_batch(q, out, 1) == 1) {
    expect_ev(&out[0], ks[next_pop % 6], SYM_NONE, next_pop);
    next_pop++;
  }
  assert_int_equal(next_pop, next_push);
  inq_stats st;
  inq_get_stats(q, &st);
  uint64_t sum = 0;
  for (int k = 0; k < INQ_KIND_COUNT; k++)
    sum += st.delivered[k];
  assert_int_equal(sum, (uint64_t)next_push);
  assert_int_equal(st.conflated, 0);
  assert_int_equal(st.depth, 0);
  assert_int_equal(st.max_depth, 5);
  inq_free(q);
}

static void test_full_and_timeouts(void **state) {
  (void)state;
  /* capacity 4, high-water 2: market data stops at 2, reports at 4. */
  inq *q = mkq(4, 2, 0, false);
  inq_event ev;
  push_ok(q, mk(INQ_TRADE, 0, 0, 1));
  push_ok(q, mk(INQ_BAR, 0, 0, 2));
  ev = mk(INQ_TRADE, 0, 0, 3);
  assert_int_equal(inq_push(q, &ev, 0), DTO_EAGAIN);
  ev = mk(INQ_QUOTE, 0, 0, 3); /* conflation off: waits like a trade */
  assert_int_equal(inq_push(q, &ev, 1 * MS), DTO_EAGAIN);
  push_ok(q, mk(INQ_REPORT, 0, 0, 4));
  push_ok(q, mk(INQ_COMMAND, 0, 0, 5));
  ev = mk(INQ_REPORT, 0, 0, 6);
  assert_int_equal(inq_push(q, &ev, 0), DTO_EAGAIN);
  ev = mk(INQ_TIMER, 0, 0, 6);
  assert_int_equal(inq_push(q, &ev, 2 * MS), DTO_EAGAIN);
  inq_stats st;
  inq_get_stats(q, &st);
  assert_int_equal(st.timeouts, 4);
  assert_int_equal(st.waits, 2);
  assert_int_equal(st.depth, 4);

  inq_event out[8];
  assert_int_equal(inq_pop_batch(q, out, 1), 1);
  expect_ev(&out[0], INQ_TRADE, 0, 1);
  /* Room for one report again, still none for market data (3 >= 2). */
  ev = mk(INQ_TRADE, 0, 0, 7);
  assert_int_equal(inq_push(q, &ev, 0), DTO_EAGAIN);
  push_ok(q, mk(INQ_REPORT, 0, 0, 8));
  assert_int_equal(inq_pop_batch(q, out, 8), 4);
  expect_ev(&out[0], INQ_BAR, 0, 2);
  expect_ev(&out[1], INQ_REPORT, SYM_NONE, 4);
  expect_ev(&out[2], INQ_COMMAND, SYM_NONE, 5);
  expect_ev(&out[3], INQ_REPORT, SYM_NONE, 8);
  push_ok(q, mk(INQ_TRADE, 0, 0, 9));
  assert_int_equal(inq_pop_batch(q, out, 8), 1);
  expect_ev(&out[0], INQ_TRADE, 0, 9);
  inq_free(q);
}

static void test_conflation_exact(void **state) {
  (void)state;
  enum { A = 0, B = 1 };
  inq *q = mkq(8, 2, 2, true);
  inq_event ev;
  push_ok(q, mk(INQ_QUOTE, 0, A, 1)); /* direct: 1 queued */
  push_ok(q, mk(INQ_QUOTE, 0, A, 2)); /* direct: 2 queued = high-water */
  push_ok(q, mk(INQ_QUOTE, 0, A, 3)); /* slot (A, quote) pending */
  push_ok(q, mk(INQ_QUOTE, 0, A, 4)); /* conflated 1 */
  push_ok(q, mk(INQ_QUOTE, 0, A, 5)); /* conflated 2 */
  push_ok(q, mk(INQ_BAR, 0, A, 1));   /* slot (A, bar) pending */
  push_ok(q, mk(INQ_QUOTE, 0, B, 1)); /* slot (B, quote) pending */
  push_ok(q, mk(INQ_REPORT, 0, 0, 1));
  push_ok(q, mk(INQ_QUOTE, 0, B, 2)); /* conflated 3 */
  push_ok(q, mk(INQ_BAR, 0, A, 2));   /* conflated 4 */
  ev = mk(INQ_TRADE, 0, A, 1);        /* never conflated: it would wait */
  assert_int_equal(inq_push(q, &ev, 0), DTO_EAGAIN);
  inq_stats st;
  inq_get_stats(q, &st);
  assert_int_equal(st.conflated, 4);
  assert_int_equal(st.depth, 6);

  inq_event out[16];
  assert_int_equal(inq_pop_batch(q, out, 16), 6);
  expect_ev(&out[0], INQ_QUOTE, A, 1);
  expect_ev(&out[1], INQ_QUOTE, A, 2);
  expect_ev(&out[2], INQ_QUOTE, A, 5); /* newest, at the place of 3 */
  expect_ev(&out[3], INQ_BAR, A, 2);
  expect_ev(&out[4], INQ_QUOTE, B, 2);
  expect_ev(&out[5], INQ_REPORT, SYM_NONE, 1);

  /* Below the high-water mark again: straight into the ring. */
  push_ok(q, mk(INQ_QUOTE, 0, A, 6));
  push_ok(q, mk(INQ_QUOTE, 0, A, 7));
  assert_int_equal(inq_pop_batch(q, out, 16), 2);
  expect_ev(&out[0], INQ_QUOTE, A, 6);
  expect_ev(&out[1], INQ_QUOTE, A, 7);
  inq_get_stats(q, &st);
  assert_int_equal(st.conflated, 4);
  /* 11 market events pushed and accepted = 7 delivered + 4 conflated. */
  assert_int_equal(st.delivered[INQ_QUOTE], 6);
  assert_int_equal(st.delivered[INQ_BAR], 1);
  assert_int_equal(st.delivered[INQ_REPORT], 1);
  assert_int_equal(st.timeouts, 1);
  inq_free(q);
}

static void test_conflation_keeps_report_room(void **state) {
  (void)state;
  /* Market data never takes the room above the high-water mark: after
   * 1,000 quotes of 4 instruments, 4 reports still fit without waiting. */
  inq *q = mkq(8, 4, 4, true);
  for (int i = 0; i < 1000; i++)
    push_ok(q, mk(INQ_QUOTE, 0, (uint32_t)(i % 4), i));
  for (int i = 0; i < 4; i++)
    push_ok(q, mk(INQ_REPORT, 0, 0, i));
  inq_stats st;
  inq_get_stats(q, &st);
  /* 4 direct (quotes 0-3), 4 pending slots (quotes 4-7), the rest merged. */
  assert_int_equal(st.conflated, 1000 - 8);
  inq_event out[16];
  assert_int_equal(inq_pop_batch(q, out, 16), 12);
  for (int i = 0; i < 4; i++)
    expect_ev(&out[i], INQ_QUOTE, (uint32_t)i, i);
  for (int i = 0; i < 4; i++) /* quotes 996..999 are the newest per sym */
    expect_ev(&out[4 + i], INQ_QUOTE, (uint32_t)i, 996 + i);
  for (int i = 0; i < 4; i++)
    expect_ev(&out[8 + i], INQ_REPORT, SYM_NONE, i);
  inq_free(q);
}

static void test_wait_empty(void **state) {
  (void)state;
  inq *q = mkq(4, 4, 0, false);
  assert_int_equal(inq_wait(q, 0), DTO_EAGAIN);
  assert_int_equal(inq_wait(q, 1 * MS), DTO_EAGAIN);
  push_ok(q, mk(INQ_TIMER, 0, 0, 1));
  assert_int_equal(inq_wait(q, 0), 0);
  assert_int_equal(inq_wait(q, LONG_WAIT), 0);
  inq_event out[1];
  assert_int_equal(inq_pop_batch(q, out, 1), 1);
  assert_int_equal(inq_wait(q, 0), DTO_EAGAIN);
  inq_free(q);
}

struct one_push {
  inq *q;
  inq_event ev;
  int rc;
};

static void *push_thread(void *arg) {
  struct one_push *p = arg;
  p->rc = inq_push(p->q, &p->ev, LONG_WAIT);
  return NULL;
}

/* Push once the consumer sleeps in inq_wait (or after ~30 s). */
static void *push_when_waiting(void *arg) {
  struct one_push *p = arg;
  struct timespec nap = {0, 1000000};
  inq_stats st;
  for (int i = 0; i < 30000; i++) {
    inq_get_stats(p->q, &st);
    if (st.consumer_waiting)
      break;
    nanosleep(&nap, NULL);
  }
  p->rc = inq_push(p->q, &p->ev, LONG_WAIT);
  return NULL;
}

static void test_wait_woken_by_producer(void **state) {
  (void)state;
  /* The push must wake the sleeping consumer (counted), not leave it to
   * find the event when its timeout runs out. */
  inq *q = mkq(4, 4, 0, false);
  struct one_push p = {.q = q, .ev = mk(INQ_COMMAND, 3, 0, 42), .rc = 1};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, push_when_waiting, &p), 0);
  assert_int_equal(inq_wait(q, LONG_WAIT), 0);
  inq_event out[2];
  assert_int_equal(inq_pop_batch(q, out, 2), 1);
  expect_ev(&out[0], INQ_COMMAND, SYM_NONE, 42);
  pthread_join(t, NULL);
  assert_int_equal(p.rc, 0);
  inq_stats st;
  inq_get_stats(q, &st);
  assert_int_equal(st.wakeups, 1);
  assert_false(st.consumer_waiting);
  inq_free(q);
}

static void test_full_producer_released(void **state) {
  (void)state;
  /* A report pushed into a full queue waits, then goes in once the
   * consumer takes one: nothing lost, order kept. */
  inq *q = mkq(2, 1, 0, false);
  push_ok(q, mk(INQ_REPORT, 0, 0, 1));
  push_ok(q, mk(INQ_REPORT, 0, 0, 2));
  struct one_push p = {.q = q, .ev = mk(INQ_REPORT, 0, 0, 3), .rc = 1};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, push_thread, &p), 0);
  inq_stats st;
  struct timespec nap = {0, 1000000};
  for (int i = 0; i < 30000; i++) { /* at most ~30 s */
    inq_get_stats(q, &st);
    if (st.waits == 1)
      break;
    nanosleep(&nap, NULL);
  }
  assert_int_equal(st.waits, 1);
  inq_event out[4];
  assert_int_equal(inq_pop_batch(q, out, 1), 1);
  expect_ev(&out[0], INQ_REPORT, SYM_NONE, 1);
  pthread_join(t, NULL);
  assert_int_equal(p.rc, 0);
  assert_int_equal(inq_pop_batch(q, out, 4), 2);
  expect_ev(&out[0], INQ_REPORT, SYM_NONE, 2);
  expect_ev(&out[1], INQ_REPORT, SYM_NONE, 3);
  inq_get_stats(q, &st);
  assert_int_equal(st.timeouts, 0);
  inq_free(q);
}

/* ---- the flood ----------------------------------------------------------
 * 4 producers, each owning 4 instruments (sym = p * 4 + j).  Phase 1: each
 * pushes PHASE1 bars and quotes while the consumer has not started, so the
 * queue is far above its high-water mark and conflation must happen (at
 * least PHASE1 * NPROD - high_water - slots times, whatever the timing).
 * Phase 2: PHASE2 events each, a fixed mix of every kind, consumed as they
 * come.  Each producer numbers its events per class (reports, commands,
 * timers per producer; bars, quotes, trades per instrument) and records
 * what it pushed; the consumer checks against that. */
enum { NPROD = 4, SYMS_PER = 4, NSYMS = NPROD * SYMS_PER };
enum { PHASE1 = 20000, PHASE2 = 530000 };
enum { FCAP = 4096, FHW = 3072 };

struct producer {
  inq *q;
  uint32_t id;
  _Atomic int *phase1_done;
  int req_tag; /* the command's producer-owned pointer points here */
  /* What was pushed (written by the producer, read after join). */
  int64_t reports, commands, timers;
  int64_t bars[SYMS_PER], quotes[SYMS_PER], trades[SYMS_PER];
  int64_t failures;
};

static void prod_push(struct producer *p, inq_event ev) {
  int rc = inq_push(p->q, &ev, LONG_WAIT);
  if (rc)
    p->failures++;
}

static void prod_market(struct producer *p, int64_t i) {
  uint32_t j = (uint32_t)((i / 3) % SYMS_PER);
  uint32_t sym = p->id * SYMS_PER + j;
  if (i & 1)
    prod_push(p, mk(INQ_BAR, p->id, sym, ++p->bars[j]));
  else
    prod_push(p, mk(INQ_QUOTE, p->id, sym, ++p->quotes[j]));
}

static void *producer_main(void *arg) {
  struct producer *p = arg;
  for (int64_t i = 0; i < PHASE1; i++)
    prod_market(p, i);
  atomic_fetch_add(p->phase1_done, 1);
  for (int64_t i = 0; i < PHASE2; i++) {
    switch (i % 16) {
    case 0:
    case 8:
      prod_push(p, mk(INQ_REPORT, p->id, 0, ++p->reports));
      break;
    case 5: {
      inq_event ev = mk(INQ_COMMAND, p->id, 0, ++p->commands);
      ev.u.command.req = &p->req_tag;
      prod_push(p, ev);
      break;
    }
    case 9:
    case 14: {
      uint32_t j = (uint32_t)((i / 16) % SYMS_PER);
      prod_push(p, mk(INQ_TRADE, p->id, p->id * SYMS_PER + j, ++p->trades[j]));
      break;
    }
    case 13:
      prod_push(p, mk(INQ_TIMER, p->id, 0, ++p->timers));
      break;
    default:
      prod_market(p, i);
      break;
    }
  }
  return NULL;
}

struct seen {
  int64_t reports[NPROD], commands[NPROD], timers[NPROD];
  int64_t trades[NSYMS];
  int64_t bar_last[NSYMS], quote_last[NSYMS];
  int64_t market_delivered;
  int64_t errors;
  char first_error[200];
};

static void seen_error(struct seen *s, const char *what, const inq_event *ev) {
  if (!s->errors++)
    snprintf(s->first_error, sizeof s->first_error,
             "%s: %s from %u sym %u key %lld", what, inq_kind_name(ev->kind),
             ev->src, sym_of(ev), (long long)key_of(ev));
}

static void check_event(struct seen *s, struct producer *ps,
                        const inq_event *ev) {
  if (ev->src >= NPROD) {
    seen_error(s, "unknown producer", ev);
    return;
  }
  uint32_t p = ev->src;
  uint32_t sym = sym_of(ev);
  if (sym != SYM_NONE && sym / SYMS_PER != p) {
    seen_error(s, "instrument of another producer", ev);
    return;
  }
  int64_t key = key_of(ev);
  switch (ev->kind) {
  case INQ_REPORT:
    if (key != ++s->reports[p])
      seen_error(s, "report lost, repeated or out of order", ev);
    break;
  case INQ_COMMAND:
    if (key != ++s->commands[p] || ev->u.command.req != &ps[p].req_tag)
      seen_error(s, "command lost, repeated or out of order", ev);
    break;
  case INQ_TIMER:
    if (key != ++s->timers[p])
      seen_error(s, "timer lost, repeated or out of order", ev);
    break;
  case INQ_TRADE:
    s->market_delivered++;
    if (key != ++s->trades[sym])
      seen_error(s, "trade lost, repeated or out of order", ev);
    break;
  case INQ_BAR:
    s->market_delivered++;
    if (key <= s->bar_last[sym] || ev->u.bar.ts != key)
      seen_error(s, "bar older than one already seen", ev);
    s->bar_last[sym] = key;
    break;
  case INQ_QUOTE:
    s->market_delivered++;
    if (key <= s->quote_last[sym])
      seen_error(s, "quote older than one already seen", ev);
    s->quote_last[sym] = key;
    break;
  default:
    seen_error(s, "bad kind", ev);
  }
}

static void test_flood(void **state) {
  (void)state;
  inq *q = mkq(FCAP, FHW, NSYMS, true);
  _Atomic int phase1_done = 0;
  static struct producer ps[NPROD];
  static struct seen seen;
  memset(ps, 0, sizeof ps);
  memset(&seen, 0, sizeof seen);
  pthread_t th[NPROD];
  for (uint32_t p = 0; p < NPROD; p++) {
    ps[p].q = q;
    ps[p].id = p;
    ps[p].phase1_done = &phase1_done;
    assert_int_equal(pthread_create(&th[p], NULL, producer_main, &ps[p]), 0);
  }
  struct timespec nap = {0, 1000000};
  for (int i = 0; i < 60000 && atomic_load(&phase1_done) < NPROD; i++)
    nanosleep(&nap, NULL);
  assert_int_equal(atomic_load(&phase1_done), NPROD);

  /* Consume until every producer has finished and the queue is empty: a
   * producer can only finish once the consumer made room, and the number
   * of events is fixed, so this ends; 600 empty waits in a row (~60 s with
   * nothing arriving) would mean a lost wake-up or a hang. */
  static inq_event out[256];
  int idle = 0, joined = 0;
  for (;;) {
    size_t n = inq_pop_batch(q, out, DTO_ARRAY_LEN(out));
    for (size_t i = 0; i < n; i++)
      check_event(&seen, ps, &out[i]);
    if (n) {
      idle = 0;
      continue;
    }
    inq_stats st;
    inq_get_stats(q, &st);
    uint64_t total = 0;
    for (int k = 0; k < INQ_KIND_COUNT; k++)
      total += st.delivered[k];
    /* Every pushed event is delivered or conflated: stop when all are. */
    uint64_t expect = (uint64_t)NPROD * (PHASE1 + PHASE2);
    if (total + st.conflated == expect)
      break;
    if (inq_wait(q, 100 * MS) == DTO_EAGAIN && ++idle >= 600)
      break;
  }
  for (int p = 0; p < NPROD; p++)
    joined += pthread_join(th[p], NULL) == 0;
  assert_int_equal(joined, NPROD);
  if (seen.errors)
    fail_msg("%lld errors, first: %s", (long long)seen.errors,
             seen.first_error);

  inq_stats st;
  inq_get_stats(q, &st);
  int64_t produced_market = 0;
  for (uint32_t p = 0; p < NPROD; p++) {
    assert_int_equal(ps[p].failures, 0);
    /* Exactly once: as many as produced, and (above) each in order. */
    assert_int_equal(seen.reports[p], ps[p].reports);
    assert_int_equal(seen.commands[p], ps[p].commands);
    assert_int_equal(seen.timers[p], ps[p].timers);
    for (uint32_t j = 0; j < SYMS_PER; j++) {
      uint32_t sym = p * SYMS_PER + j;
      assert_int_equal(seen.trades[sym], ps[p].trades[j]);
      /* The newest value of each instrument arrives, and arrives last. */
      assert_int_equal(seen.bar_last[sym], ps[p].bars[j]);
      assert_int_equal(seen.quote_last[sym], ps[p].quotes[j]);
      produced_market += ps[p].bars[j] + ps[p].quotes[j] + ps[p].trades[j];
    }
  }
  /* Hand count of the mix: per 16 events 2 reports, 1 command, 2 trades,
   * 1 timer and 10 bars or quotes; PHASE2 = 530,000 = 33,125 * 16. */
  assert_int_equal(ps[0].reports, 66250);
  assert_int_equal(ps[0].commands, 33125);
  assert_int_equal(ps[0].timers, 33125);
  assert_int_equal(produced_market, (int64_t)NPROD * (PHASE1 + 33125 * 12));
  assert_int_equal(seen.market_delivered + (int64_t)st.conflated,
                   produced_market);
  assert_true(st.conflated >= (uint64_t)(NPROD * PHASE1 - FHW - 2 * NSYMS));
  assert_int_equal(st.timeouts, 0);
  assert_int_equal(st.depth, 0);
  assert_int_equal(st.delivered[INQ_REPORT], (uint64_t)NPROD * 66250);
  print_message("flood: %d events, %llu conflated, %llu waits, max depth "
                "%zu\n",
                NPROD * (PHASE1 + PHASE2), (unsigned long long)st.conflated,
                (unsigned long long)st.waits, st.max_depth);
  inq_free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_bad_events),
      cmocka_unit_test(test_fifo),
      cmocka_unit_test(test_full_and_timeouts),
      cmocka_unit_test(test_conflation_exact),
      cmocka_unit_test(test_conflation_keeps_report_room),
      cmocka_unit_test(test_wait_empty),
      cmocka_unit_test(test_wait_woken_by_producer),
      cmocka_unit_test(test_full_producer_released),
      cmocka_unit_test(test_flood),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
