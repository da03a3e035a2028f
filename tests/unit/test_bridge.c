/* test_bridge.c - a broker on its own thread, through the bridge and the
 * engine's inbound queue: the engine trades a strategy while an I/O thread
 * (a stand-in for a live adapter) acknowledges and fills every order it is
 * sent; every report reaches the engine once, in order, and the books
 * match what the I/O thread did.  Also: a full request ring refuses the
 * order (rejected, never sent), and a report the queue will not take is
 * counted as an overflow.  Run under ThreadSanitizer too (TSAN_TESTS). */
#include "core/prelude.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>

#include <cmocka.h>

#include "app/bridge.h"
#include "app/inq.h"
#include "core/alloc.h"
#include "core/error.h"
#include "engine/engine.h"
#include "market/calendar.h"

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* A seeded random walk of 1-minute bars on a 24/7 instrument. */
static bar *make_bars(size_t n) {
  bar *v = xcalloc(n, sizeof *v);
  uint64_t s = 7;
  int64_t cents = 10000;
  dto_time t = 1735689600LL * DTO_NS_PER_SEC;
  for (size_t i = 0; i < n; i++) {
    int64_t step = (int64_t)(rng_next(&s) % 21) - 10;
    if (cents + step < 100)
      step = -step;
    int64_t o = cents, c = cents + step;
    int64_t hi = (o > c ? o : c) + 2, lo = (o < c ? o : c) - 2;
    v[i] = (bar){t,           60 * DTO_NS_PER_SEC, o * 1000000, hi * 1000000,
                 lo * 1000000, c * 1000000,        100000 * FX_ONE, 0};
    cents = c;
    t += 60 * DTO_NS_PER_SEC;
  }
  return v;
}

/* The stand-in adapter: acknowledges each submit, then fills it whole in
 * two reports at a price of its own; cancels and replaces are answered as
 * a broker would.  It records what it filled, for the books. */
typedef struct io {
  bridge *b;
  fx position;    /* signed, from its own fills */
  uint64_t fills; /* fill reports sent */
  uint64_t submits, cancels;
  uint64_t failed; /* bridge_report refused */
} io;

static void send(io *x, broker_report r) {
  if (bridge_report(x->b, &r))
    x->failed++;
}

static void *io_main(void *arg) {
  io *x = arg;
  bridge_req q;
  int rc;
  while ((rc = bridge_next(x->b, &q, 5 * DTO_NS_PER_SEC)) != DTO_ESTATE) {
    if (rc)
      continue;
    broker_report r;
    memset(&r, 0, sizeof r);
    r.id = q.id;
    if (q.op == BRIDGE_SUBMIT) {
      x->submits++;
      r.kind = REP_ACCEPTED;
      send(x, r);
      /* two partial fills: a quarter (in whole lots) then the rest */
      fx first = q.o.qty / 4 / FX_ONE * FX_ONE;
      fx parts[2] = {first, q.o.qty - first};
      for (int k = 0; k < 2; k++) {
        if (!parts[k])
          continue;
        r.kind = REP_FILL;
        r.qty = parts[k];
        r.price = 100 * FX_ONE;
        send(x, r);
        x->fills++;
        x->position += q.o.side == SIDE_BUY ? parts[k] : -parts[k];
      }
    } else if (q.op == BRIDGE_CANCEL) {
      x->cancels++;
      r.kind = REP_CANCEL_REJECT; /* already filled: too late to cancel */
      r.reason = BRR_UNKNOWN_ORDER;
      send(x, r);
    }
  }
  return NULL;
}

typedef struct rig {
  instrument_table ins;
  sim_clock sc;
  dto_clock clk;
  engine *e;
  inq *q;
  bridge *b;
  broker_ops ops;
  engine_account acct;
} rig;

static void rig_init(rig *g, size_t ring, size_t qcap) {
  memset(g, 0, sizeof *g);
  instruments_init(&g->ins);
  instrument in = {0};
  snprintf(in.symbol, sizeof in.symbol, "BTCUSD");
  in.asset_class = ASSET_CRYPTO;
  in.tick = FX_ONE / 100;
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "USD");
  in.cal = calendar_crypto();
  instruments_add(&g->ins, &in, NULL);
  clock_sim_init(&g->clk, &g->sc, 1735689600LL * DTO_NS_PER_SEC);
  inq_config qc = {qcap, 0, 1, false};
  assert_int_equal(inq_new(&qc, &g->q), 0);
  bridge_config bc = {ring, g->q, 7, 20 * 1000000LL, NULL};
  assert_int_equal(bridge_new(&bc, &g->b), 0);
  g->ops = bridge_broker_ops;
  g->acct = (engine_account){"live", fx_from_int(10000000)};
  engine_config ec = {0};
  ec.instruments = &g->ins;
  ec.clock = &g->clk;
  ec.broker = &g->ops;
  ec.broker_ctx = g->b;
  ec.accounts = &g->acct;
  ec.naccounts = 1;
  g->e = engine_new(&ec);
  const strategy_def *def = strategy_find("ma_crossover");
  param_value pv[16];
  param_defaults(def->params, def->nparams, pv);
  char why[128];
  size_t k = param_find(def->params, def->nparams, "fast");
  param_parse(&def->params[k], "2", &pv[k], why, sizeof why);
  k = param_find(def->params, def->nparams, "slow");
  param_parse(&def->params[k], "5", &pv[k], why, sizeof why);
  static sym_id sym = 0;
  engine_strategy es = {def, "mac", 0, &sym, 1, fx_from_int(1000000), pv};
  assert_int_equal(engine_add_strategy(g->e, &es), 0);
  assert_int_equal(engine_start(g->e), 0);
}

static void rig_free(rig *g) {
  engine_free(g->e);
  bridge_free(g->b);
  inq_free(g->q);
  instruments_release(&g->ins);
}

/* The service loop's part for reports: what the queue brought goes back to
 * the bridge, and the engine collects it.  Returns reports handled. */
static size_t take_reports(rig *g) {
  inq_event ev[64];
  size_t n, total = 0;
  while ((n = inq_pop_batch(g->q, ev, 64)) > 0) {
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(ev[i].kind, INQ_REPORT);
      assert_int_equal(ev[i].src, 7);
      bridge_deliver(g->b, &ev[i].u.report);
    }
    total += n;
    engine_pump(g->e);
  }
  return total;
}

static void test_engine_through_bridge(void **state) {
  (void)state;
  rig g;
  rig_init(&g, 256, 1024);
  io x = {g.b, 0, 0, 0, 0, 0};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, io_main, &x), 0);
  size_t nbars = 3000;
  bar *v = make_bars(nbars);
  for (size_t i = 0; i < nbars; i++) {
    sim_clock_set(&g.sc, v[i].ts);
    engine_bar_open(g.e, &v[i]);
    sim_clock_set(&g.sc, bar_end(&v[i]));
    engine_on_bar(g.e, &v[i]);
    /* as a live feed would: the next bar comes after the broker answered
     * (bounded), so the run does not depend on the threads' timing */
    take_reports(&g);
    for (int k = 0; k < 5000 && engine_working_orders(g.e); k++) {
      inq_wait(g.q, 2 * 1000000LL);
      take_reports(&g);
    }
  }
  /* the last reports: wait (bounded) until no order is working */
  for (int k = 0; k < 5000 && engine_working_orders(g.e); k++) {
    inq_wait(g.q, 2 * 1000000LL);
    take_reports(&g);
  }
  bridge_close(g.b);
  pthread_join(th, NULL);
  take_reports(&g);
  bridge_stats st;
  bridge_get_stats(g.b, &st);
  assert_true(x.submits > 50); /* it traded */
  assert_int_equal(x.failed, 0);
  assert_int_equal(st.lost, 0);
  assert_int_equal(st.refused, 0);
  assert_int_equal(st.reports, st.delivered); /* every report, once */
  assert_int_equal(engine_working_orders(g.e), 0);
  assert_int_equal(engine_fill_count(g.e), x.fills);
  /* the books are the I/O thread's fills, exactly */
  assert_int_equal(portfolio_account_pos(engine_portfolio(g.e), 0, 0)->qty,
                   x.position);
  const oms *om = engine_oms(g.e);
  size_t nopen;
  oms_open_ids(om, &nopen);
  assert_int_equal(nopen, 0);
  free(v);
  rig_free(&g);
}

static void test_full_ring_refuses(void **state) {
  (void)state;
  rig g;
  rig_init(&g, 1, 16);
  /* no I/O thread: the first request waits in the ring, the next ones are
   * refused and the engine rejects those orders (never sent) */
  order o;
  memset(&o, 0, sizeof o);
  o.id = 1;
  o.qty = FX_ONE;
  assert_int_equal(g.ops.submit(g.b, &o), 0);
  o.id = 2;
  assert_int_equal(g.ops.submit(g.b, &o), DTO_EAGAIN);
  assert_int_equal(g.ops.cancel(g.b, 1), DTO_EAGAIN);
  bridge_req q;
  assert_int_equal(bridge_next(g.b, &q, 0), 0);
  assert_int_equal(q.op, BRIDGE_SUBMIT);
  assert_int_equal(q.id, 1);
  assert_int_equal(bridge_next(g.b, &q, 1000000), DTO_EAGAIN);
  assert_int_equal(g.ops.cancel(g.b, 1), 0);
  bridge_close(g.b);
  assert_int_equal(g.ops.submit(g.b, &o), DTO_ESTATE);
  assert_int_equal(bridge_next(g.b, &q, 0), 0); /* what is left */
  assert_int_equal(q.op, BRIDGE_CANCEL);
  assert_int_equal(bridge_next(g.b, &q, 0), DTO_ESTATE);
  bridge_stats st;
  bridge_get_stats(g.b, &st);
  assert_int_equal(st.requests, 2);
  assert_int_equal(st.refused, 3);
  rig_free(&g);
}

static void test_report_overflow_counted(void **state) {
  (void)state;
  rig g;
  rig_init(&g, 4, 2); /* a queue of two events that nobody pops */
  atomic_uint_fast64_t over;
  atomic_init(&over, 0);
  bridge_free(g.b);
  bridge_config bc = {4, g.q, 7, 5 * 1000000LL, &over};
  assert_int_equal(bridge_new(&bc, &g.b), 0);
  broker_report r;
  memset(&r, 0, sizeof r);
  r.kind = REP_ACCEPTED;
  int refused = 0;
  for (int i = 0; i < 4; i++) {
    r.id = (order_id)(i + 1);
    refused += bridge_report(g.b, &r) == DTO_EAGAIN;
  }
  assert_int_equal(refused, 2);
  assert_int_equal(atomic_load(&over), 2);
  bridge_stats st;
  bridge_get_stats(g.b, &st);
  assert_int_equal(st.reports, 2);
  assert_int_equal(st.lost, 2);
  /* the two taken come out in order, and poll returns them in order */
  inq_event ev[4];
  assert_int_equal(inq_pop_batch(g.q, ev, 4), 2);
  bridge_deliver(g.b, &ev[0].u.report);
  bridge_deliver(g.b, &ev[1].u.report);
  broker_report out[4];
  assert_int_equal(g.ops.poll(g.b, out, 4), 2);
  assert_int_equal(out[0].id, 1);
  assert_int_equal(out[1].id, 2);
  assert_int_equal(g.ops.poll(g.b, out, 4), 0);
  rig_free(&g);
}

/* A pair taken together: the submit of a given order comes out of the
 * middle of the FIFO (the rest keep their order), is waited for when it is
 * queued later by another thread, and a wait for one that never comes runs
 * out. */
typedef struct later {
  bridge *b;
  order_id id;
} later;

static void *queue_later(void *arg) {
  later *l = arg;
  struct timespec ts = {0, 20 * 1000000L};
  nanosleep(&ts, NULL);
  order o;
  memset(&o, 0, sizeof o);
  o.id = l->id;
  o.qty = FX_ONE;
  assert_int_equal(bridge_broker_ops.submit(l->b, &o), 0);
  return NULL;
}

static void test_take_submit(void **state) {
  (void)state;
  rig g;
  rig_init(&g, 8, 16);
  order o;
  memset(&o, 0, sizeof o);
  o.qty = FX_ONE;
  for (order_id id = 1; id <= 3; id++) {
    o.id = id;
    assert_int_equal(g.ops.submit(g.b, &o), 0);
  }
  assert_int_equal(g.ops.cancel(g.b, 9), 0);
  bridge_req q;
  /* a cancel of 9 is not a submit of 9 */
  assert_int_equal(bridge_take_submit(g.b, 9, &q, 1000000), DTO_EAGAIN);
  assert_int_equal(bridge_take_submit(g.b, 2, &q, 0), 0);
  assert_int_equal(q.op, BRIDGE_SUBMIT);
  assert_int_equal(q.o.id, 2);
  assert_false(bridge_queued(g.b, 2));
  order_id want[] = {1, 3, 9};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(bridge_next(g.b, &q, 0), 0);
    assert_int_equal(q.id, want[i]);
  }
  /* queued 20 ms later by another thread: waited for */
  later l = {g.b, 5};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, queue_later, &l), 0);
  assert_int_equal(bridge_take_submit(g.b, 5, &q, 5 * DTO_NS_PER_SEC), 0);
  assert_int_equal(q.o.id, 5);
  pthread_join(th, NULL);
  assert_int_equal(bridge_next(g.b, &q, 0), DTO_EAGAIN);
  rig_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_engine_through_bridge),
      cmocka_unit_test(test_full_ring_refuses),
      cmocka_unit_test(test_report_overflow_counted),
      cmocka_unit_test(test_take_submit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
