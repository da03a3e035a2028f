/* test_order.c - the order state machine (every pair of states against an
 * explicit matrix), order_transition(), the OMS and its observer, the name
 * tables and their parsers, and deterministic client order ids. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "engine/oms.h"
#include "engine/order.h"

/* The specification: legal transitions, written out by hand.  Rows are
 * `from`, columns `to`, in enum order:
 *   new pending_new accepted partially_filled filled pending_cancel canceled
 *   rejected expired replaced */
/* clang-format off */
static const unsigned char spec[OS_COUNT][OS_COUNT] = {
  /*                       new pnew acc  pf fill pcan can  rej  exp repl */
  [OS_NEW]              = { 0,  1,   0,   0,  0,   0,   0,   1,   0,   0 },
  [OS_PENDING_NEW]      = { 0,  0,   1,   1,  1,   1,   1,   1,   1,   0 },
  [OS_ACCEPTED]         = { 0,  0,   0,   1,  1,   1,   1,   1,   1,   1 },
  [OS_PARTIALLY_FILLED] = { 0,  0,   0,   1,  1,   1,   1,   0,   1,   1 },
  [OS_FILLED]           = { 0,  0,   0,   0,  0,   0,   0,   0,   0,   0 },
  [OS_PENDING_CANCEL]   = { 0,  0,   1,   1,  1,   0,   1,   0,   1,   1 },
  [OS_CANCELED]         = { 0,  0,   0,   0,  0,   0,   0,   0,   0,   0 },
  [OS_REJECTED]         = { 0,  0,   0,   0,  0,   0,   0,   0,   0,   0 },
  [OS_EXPIRED]          = { 0,  0,   0,   0,  0,   0,   0,   0,   0,   0 },
  [OS_REPLACED]         = { 0,  0,   0,   0,  0,   0,   0,   0,   0,   0 },
};
/* clang-format on */

static const char *const state_text[OS_COUNT] = {
    "new",     "pending_new",    "accepted", "partially_filled",
    "filled",  "pending_cancel", "canceled", "rejected",
    "expired", "replaced"};

/* An order with every field set to something recognisable. */
static void sample_order(order *o, enum order_state st) {
  memset(o, 0, sizeof *o);
  o->id = 7;
  snprintf(o->cloid, sizeof o->cloid, "%s", "acct-strat-20250106-7");
  o->strategy = 2;
  o->account = 1;
  o->sym = 3;
  o->side = SIDE_SELL;
  o->type = ORD_LIMIT;
  o->tif = TIF_GTC;
  o->state = st;
  o->qty = fx_from_int(100);
  o->filled = fx_from_int(40);
  o->notional = fx_from_int(400);
  o->limit_price = fx_from_int(10);
  o->parent = o->peer = o->replaces = o->replaced_by = ORDER_NONE;
  o->created = 1000;
  o->updated = 2000;
  o->reason = 5;
}

static void test_matrix(void **state) {
  (void)state;
  int legal_count = 0;
  for (int f = 0; f < OS_COUNT; f++)
    for (int t = 0; t < OS_COUNT; t++) {
      bool got =
          order_transition_legal((enum order_state)f, (enum order_state)t);
      if (got != (spec[f][t] != 0))
        fail_msg("%s -> %s: legal=%d, spec says %d", state_text[f],
                 state_text[t], got, spec[f][t]);
      legal_count += got;
    }
  /* 2 + 7 + 7 + 6 + 6 legal moves in the specification. */
  assert_int_equal(legal_count, 28);
  /* Out-of-range states are never legal, in either position. */
  for (int s = 0; s < OS_COUNT; s++) {
    assert_false(order_transition_legal((enum order_state)s, OS_COUNT));
    assert_false(order_transition_legal(OS_COUNT, (enum order_state)s));
    assert_false(
        order_transition_legal((enum order_state)s, (enum order_state) - 1));
  }
}

static void test_transition(void **state) {
  (void)state;
  for (int f = 0; f < OS_COUNT; f++)
    for (int t = 0; t < OS_COUNT; t++) {
      order o, before;
      sample_order(&o, (enum order_state)f);
      before = o;
      int rc = order_transition(&o, (enum order_state)t, 5000);
      if (spec[f][t]) {
        if (rc != 0)
          fail_msg("%s -> %s refused: %d", state_text[f], state_text[t], rc);
        assert_int_equal(o.state, t);
        assert_int_equal(o.updated, 5000);
        /* nothing else moves */
        o.state = before.state;
        o.updated = before.updated;
        assert_memory_equal(&o, &before, sizeof o);
      } else {
        if (rc != DTO_ESTATE)
          fail_msg("%s -> %s: rc %d, want DTO_ESTATE", state_text[f],
                   state_text[t], rc);
        assert_memory_equal(&o, &before, sizeof o);
      }
    }
}

static void test_terminal_working(void **state) {
  (void)state;
  for (int s = 0; s < OS_COUNT; s++) {
    bool terminal = s == OS_FILLED || s == OS_CANCELED || s == OS_REJECTED ||
                    s == OS_EXPIRED || s == OS_REPLACED;
    bool working = s == OS_PENDING_NEW || s == OS_ACCEPTED ||
                   s == OS_PARTIALLY_FILLED || s == OS_PENDING_CANCEL;
    assert_int_equal(order_is_terminal((enum order_state)s), terminal);
    assert_int_equal(order_is_working((enum order_state)s), working);
    /* A terminal state has no way out; every other state has one. */
    bool any = false;
    for (int t = 0; t < OS_COUNT; t++)
      any |= spec[s][t] != 0;
    assert_int_equal(any, !terminal);
  }
  order o;
  sample_order(&o, OS_PARTIALLY_FILLED);
  assert_int_equal(order_leaves(&o), fx_from_int(60));
}

/* ---- OMS and its observer ----------------------------------------------- */

typedef struct seen {
  order_id id;
  enum order_state from, to, state_after;
  bool legal;
} seen;

typedef struct rec {
  seen v[64];
  size_t n;
} rec;

static void observe(void *ctx, const order *o, enum order_state from,
                    enum order_state to, bool legal) {
  rec *r = ctx;
  assert_true(r->n < DTO_ARRAY_LEN(r->v));
  r->v[r->n++] = (seen){o->id, from, to, o->state, legal};
}

static void test_oms_observer(void **state) {
  (void)state;
  for (int f = 0; f < OS_COUNT; f++)
    for (int t = 0; t < OS_COUNT; t++) {
      rec r = {0};
      oms *m = oms_new(observe, &r);
      order tmpl;
      sample_order(&tmpl, OS_FILLED); /* state and times are overridden */
      order *o = oms_create(m, &tmpl, "A-S-20250106-1", 100);
      assert_non_null(o);
      assert_int_equal(o->id, 0);
      assert_int_equal(o->state, OS_NEW);
      assert_int_equal(o->created, 100);
      assert_int_equal(o->updated, 100);
      assert_string_equal(o->cloid, "A-S-20250106-1");
      assert_int_equal(o->qty, tmpl.qty);
      /* creation is reported as new -> new */
      assert_int_equal(r.n, 1);
      assert_int_equal(r.v[0].from, OS_NEW);
      assert_int_equal(r.v[0].to, OS_NEW);
      assert_true(r.v[0].legal);

      o->state = (enum order_state)f; /* put it where the pair starts */
      int rc = oms_transition(m, o, (enum order_state)t, 200);
      assert_int_equal(r.n, 2);
      assert_int_equal(r.v[1].id, 0);
      assert_int_equal(r.v[1].from, f);
      assert_int_equal(r.v[1].to, t);
      assert_int_equal(r.v[1].legal, spec[f][t] != 0);
      if (spec[f][t]) {
        assert_int_equal(rc, 0);
        assert_int_equal(r.v[1].state_after, t);
        assert_int_equal(o->updated, 200);
        assert_int_equal(oms_illegal_count(m), 0);
      } else {
        assert_int_equal(rc, DTO_ESTATE);
        assert_int_equal(r.v[1].state_after, f); /* unchanged */
        assert_int_equal(o->updated, 100);
        assert_int_equal(oms_illegal_count(m), 1);
      }
      oms_free(m);
    }
}

/* ---- changes beside the state: oms_amend and oms_fill -------------------- */

/* What the observer saw: the whole order after each call. */
typedef struct copies {
  order o[16];
  enum order_state from[16], to[16];
  bool legal[16];
  size_t n;
} copies;

static void observe_copy(void *ctx, const order *o, enum order_state from,
                         enum order_state to, bool legal) {
  copies *c = ctx;
  assert_true(c->n < DTO_ARRAY_LEN(c->o));
  c->o[c->n] = *o;
  c->from[c->n] = from;
  c->to[c->n] = to;
  c->legal[c->n] = legal;
  c->n++;
}

/* A working order (accepted, 100, 40 filled) in a fresh OMS. */
static order *working_order(oms **m, copies *c) {
  *m = oms_new(observe_copy, c);
  order tmpl;
  sample_order(&tmpl, OS_NEW);
  order *o = oms_create(*m, &tmpl, "A-S-20250106-1", 100);
  assert_int_equal(oms_transition(*m, o, OS_PENDING_NEW, 100), 0);
  assert_int_equal(oms_transition(*m, o, OS_ACCEPTED, 100), 0);
  c->n = 0;
  return o;
}

/* The last observer call was an amendment of o (from == to == its state)
 * showing the order as it is now. */
static void saw_amend(const copies *c, const order *o) {
  assert_true(c->n > 0);
  size_t i = c->n - 1;
  assert_int_equal(c->from[i], o->state);
  assert_int_equal(c->to[i], o->state);
  assert_true(c->legal[i]);
  assert_memory_equal(&c->o[i], o, sizeof *o);
}

static void test_oms_amend(void **state) {
  (void)state;
  copies c;
  memset(&c, 0, sizeof c);
  oms *m;
  order *o = working_order(&m, &c);
  order_amend a;
  /* each kind of change, seen by the observer with its new value */
  a = (order_amend){.what = OA_QTY, .qty = fx_from_int(60)};
  assert_int_equal(oms_amend(m, o, &a, 300), 0);
  assert_int_equal(o->qty, fx_from_int(60));
  assert_int_equal(o->updated, 300);
  saw_amend(&c, o);
  a = (order_amend){.what = OA_PEER, .peer = 9};
  assert_int_equal(oms_amend(m, o, &a, 301), 0);
  assert_int_equal(o->peer, 9);
  saw_amend(&c, o);
  a = (order_amend){.what = OA_LIMIT | OA_STOP,
                    .limit_price = fx_from_int(11),
                    .stop_price = fx_from_int(12)};
  assert_int_equal(oms_amend(m, o, &a, 302), 0);
  assert_int_equal(o->limit_price, fx_from_int(11));
  assert_int_equal(o->stop_price, fx_from_int(12));
  saw_amend(&c, o);
  a = (order_amend){.what = OA_TRAIL,
                    .trail = fx_from_int(1),
                    .water = fx_from_int(13),
                    .triggered = true};
  assert_int_equal(oms_amend(m, o, &a, 303), 0);
  assert_true(o->trail == fx_from_int(1) && o->water == fx_from_int(13) &&
              o->triggered);
  saw_amend(&c, o);
  a = (order_amend){.what = OA_REPLACED_BY, .replaced_by = 5};
  assert_int_equal(oms_amend(m, o, &a, 304), 0);
  assert_int_equal(o->replaced_by, 5);
  saw_amend(&c, o);
  a = (order_amend){.what = OA_EXITS,
                    .tp_price = fx_from_int(20),
                    .sl_price = fx_from_int(8)};
  assert_int_equal(oms_amend(m, o, &a, 305), 0);
  assert_true(o->tp_price == fx_from_int(20) && o->sl_price == fx_from_int(8));
  saw_amend(&c, o);
  assert_int_equal(c.n, 6);
  assert_int_equal(oms_illegal_count(m), 0);

  /* refused: nothing changes, the observer hears nothing */
  order before = *o;
  const order_amend bad[] = {
      {.what = 0},
      {.what = 1u << 20},
      {.what = OA_QTY, .qty = fx_from_int(39)}, /* below filled (40) */
      {.what = OA_QTY, .qty = -1},
      {.what = OA_LIMIT, .limit_price = -1},
      {.what = OA_STOP, .stop_price = -1},
      {.what = OA_TRAIL, .trail = -1},
      {.what = OA_EXITS, .tp_price = -1},
      {.what = OA_QTY | OA_PEER, .qty = 0, .peer = 3}, /* all or nothing */
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    if (oms_amend(m, o, &bad[i], 400) != DTO_EINVAL)
      fail_msg("bad amendment %zu accepted", i);
    assert_memory_equal(o, &before, sizeof before);
  }
  assert_int_equal(c.n, 6);
  /* down to the filled quantity (an OCO peer's fill): leaves 0 */
  a = (order_amend){.what = OA_QTY, .qty = fx_from_int(40)};
  assert_int_equal(oms_amend(m, o, &a, 401), 0);
  assert_int_equal(order_leaves(o), 0);

  /* a terminal order keeps its history, but links may change */
  assert_int_equal(oms_transition(m, o, OS_CANCELED, 500), 0);
  before = *o;
  a = (order_amend){.what = OA_QTY, .qty = fx_from_int(50)};
  assert_int_equal(oms_amend(m, o, &a, 501), DTO_ESTATE);
  a = (order_amend){.what = OA_LIMIT, .limit_price = 1};
  assert_int_equal(oms_amend(m, o, &a, 501), DTO_ESTATE);
  assert_memory_equal(o, &before, sizeof before);
  a = (order_amend){.what = OA_REPLACED_BY, .replaced_by = ORDER_NONE};
  assert_int_equal(oms_amend(m, o, &a, 502), 0);
  saw_amend(&c, o);
  assert_int_equal(o->state, OS_CANCELED);
  oms_free(m);

  /* an unfilled order may go to 0 (its OCO peer filled it all) */
  memset(&c, 0, sizeof c);
  o = working_order(&m, &c);
  o->filled = 0;
  a = (order_amend){.what = OA_QTY, .qty = 0};
  assert_int_equal(oms_amend(m, o, &a, 600), 0);
  assert_int_equal(o->qty, 0);
  oms_free(m);
}

static void test_oms_fill(void **state) {
  (void)state;
  copies c;
  memset(&c, 0, sizeof c);
  oms *m;
  order *o = working_order(&m, &c); /* accepted, 100, 40 filled */
  fx not0 = o->notional, fee0 = o->fees;
  /* partly: accepted -> partially_filled */
  assert_int_equal(oms_fill(m, o, fx_from_int(10), fx_from_int(100), 50, 700),
                   0);
  assert_int_equal(o->state, OS_PARTIALLY_FILLED);
  assert_true(o->filled == fx_from_int(50) &&
              o->notional == not0 + fx_from_int(100) && o->fees == fee0 + 50);
  assert_int_equal(o->updated, 700);
  assert_int_equal(c.n, 1);
  assert_int_equal(c.from[0], OS_ACCEPTED);
  assert_int_equal(c.to[0], OS_PARTIALLY_FILLED);
  assert_memory_equal(&c.o[0], o, sizeof *o);
  /* again: partially_filled -> partially_filled */
  assert_int_equal(oms_fill(m, o, fx_from_int(10), fx_from_int(100), 0, 701),
                   0);
  saw_amend(&c, o);
  /* with a cancel pending: stays pending_cancel, the observer sees it */
  assert_int_equal(oms_transition(m, o, OS_PENDING_CANCEL, 702), 0);
  assert_int_equal(oms_fill(m, o, fx_from_int(10), fx_from_int(100), 0, 703),
                   0);
  assert_int_equal(o->state, OS_PENDING_CANCEL);
  saw_amend(&c, o);
  assert_true(o->filled == fx_from_int(70));
  /* refused: nothing changes, nobody told */
  order before = *o;
  size_t n = c.n;
  assert_int_equal(oms_fill(m, o, 0, fx_from_int(1), 0, 800), DTO_EINVAL);
  assert_int_equal(oms_fill(m, o, fx_from_int(31), fx_from_int(1), 0, 800),
                   DTO_EINVAL); /* more than the 30 left */
  assert_int_equal(oms_fill(m, o, fx_from_int(1), 0, 0, 800), DTO_EINVAL);
  assert_int_equal(oms_fill(m, o, fx_from_int(1), 1, -1, 800), DTO_EINVAL);
  o->notional = FX_MAX - 5;
  before.notional = FX_MAX - 5;
  assert_int_equal(oms_fill(m, o, fx_from_int(1), 10, 0, 800), DTO_EOVERFLOW);
  assert_memory_equal(o, &before, sizeof before);
  assert_int_equal(c.n, n);
  o->notional = 0;
  /* the cancel lands, then a fill reported after it: counted, the order
   * stays canceled (and out of the open list) */
  assert_int_equal(oms_transition(m, o, OS_CANCELED, 900), 0);
  size_t nopen;
  oms_open_ids(m, &nopen);
  assert_int_equal(nopen, 0);
  assert_int_equal(oms_fill(m, o, fx_from_int(5), fx_from_int(50), 0, 901), 0);
  assert_int_equal(o->state, OS_CANCELED);
  assert_true(o->filled == fx_from_int(75));
  saw_amend(&c, o);
  oms_open_ids(m, &nopen);
  assert_int_equal(nopen, 0);
  /* the rest fills a canceled order: it stays canceled, not filled */
  assert_int_equal(oms_fill(m, o, fx_from_int(25), fx_from_int(250), 0, 902),
                   0);
  assert_int_equal(o->state, OS_CANCELED);
  /* now nothing is left */
  assert_int_equal(oms_fill(m, o, fx_from_int(1), 10, 0, 903), DTO_EINVAL);
  oms_free(m);

  /* the last fill: filled, out of the open list; then no more fills */
  memset(&c, 0, sizeof c);
  o = working_order(&m, &c);
  assert_int_equal(oms_fill(m, o, fx_from_int(60), fx_from_int(600), 0, 1000),
                   0);
  assert_int_equal(o->state, OS_FILLED);
  assert_int_equal(c.to[c.n - 1], OS_FILLED);
  oms_open_ids(m, &nopen);
  assert_int_equal(nopen, 0);
  assert_int_equal(oms_fill(m, o, fx_from_int(1), 10, 0, 1001), DTO_EINVAL);
  oms_free(m);
  /* orders that never worked take no fills */
  memset(&c, 0, sizeof c);
  m = oms_new(observe_copy, &c);
  order tmpl;
  sample_order(&tmpl, OS_NEW);
  tmpl.filled = 0;
  o = oms_create(m, &tmpl, "A-S-20250106-2", 1);
  assert_int_equal(oms_fill(m, o, fx_from_int(1), 10, 0, 2), DTO_ESTATE);
  assert_int_equal(oms_transition(m, o, OS_REJECTED, 3), 0);
  assert_int_equal(oms_fill(m, o, fx_from_int(1), 10, 0, 4), DTO_ESTATE);
  oms_free(m);
}

/* The OMS keeps open orders and the last `keep` terminal ones; older
 * terminal orders are forgotten and their slots reused. */
static void test_oms_retention(void **state) {
  (void)state;
  oms *m = oms_new(NULL, NULL);
  oms_set_keep(m, 4);
  order tmpl;
  sample_order(&tmpl, OS_NEW);
  char cloid[CLOID_MAX];
  for (uint32_t i = 0; i < 20; i++) {
    oms_cloid(cloid, sizeof cloid, "A", "S", 20094, i + 1);
    order *o = oms_create(m, &tmpl, cloid, i);
    assert_int_equal(oms_transition(m, o, OS_PENDING_NEW, i), 0);
    /* every third order stays open; the others finish at once */
    if (i % 3 != 0)
      assert_int_equal(oms_transition(m, o, OS_REJECTED, i), 0);
  }
  assert_int_equal(oms_count(m), 20);
  size_t n;
  const order_id *open = oms_open_ids(m, &n);
  assert_int_equal(n, 7); /* 0, 3, 6, ..., 18 */
  for (size_t k = 0; k < n; k++) {
    assert_int_equal(open[k], 3 * k);
    const order *o = oms_cget(m, open[k]);
    assert_non_null(o);
    assert_int_equal(o->state, OS_PENDING_NEW);
  }
  /* the last four terminal ids are 14, 16, 17, 19; 13 and older are gone */
  assert_non_null(oms_cget(m, 19));
  assert_non_null(oms_cget(m, 14));
  assert_null(oms_cget(m, 13));
  assert_null(oms_cget(m, 1));
  assert_int_equal(oms_cget(m, 14)->id, 14);
  /* finishing an open order removes it from the open list */
  assert_int_equal(oms_transition(m, oms_get(m, 3), OS_CANCELED, 30), 0);
  open = oms_open_ids(m, &n);
  assert_int_equal(n, 6);
  assert_int_equal(open[1], 6);
  assert_null(oms_cget(m, 14)); /* pushed out by order 3 */
  assert_int_equal(oms_cget(m, 3)->state, OS_CANCELED);
  oms_free(m);
}

static void test_oms_table(void **state) {
  (void)state;
  rec r = {0};
  oms *m = oms_new(observe, &r);
  assert_int_equal(oms_count(m), 0);
  assert_null(oms_get(m, 0));
  order tmpl;
  sample_order(&tmpl, OS_NEW);
  char cloid[CLOID_MAX];
  for (uint32_t i = 0; i < 40; i++) { /* forces the table to grow */
    oms_cloid(cloid, sizeof cloid, "A", "S", 20094, i + 1);
    tmpl.qty = fx_from_int(i + 1);
    order *o = oms_create(m, &tmpl, cloid, i);
    assert_int_equal(o->id, i);
  }
  assert_int_equal(oms_count(m), 40);
  for (uint32_t i = 0; i < 40; i++) {
    const order *o = oms_cget(m, i);
    assert_non_null(o);
    assert_ptr_equal(o, oms_get(m, i));
    assert_int_equal(o->qty, fx_from_int(i + 1));
    assert_int_equal(o->created, i);
  }
  assert_null(oms_get(m, 40));
  assert_null(oms_cget(m, ORDER_NONE));
  /* A whole legal life, then an illegal step: every call is seen. */
  order *o = oms_get(m, 3);
  r.n = 0;
  assert_int_equal(oms_transition(m, o, OS_PENDING_NEW, 10), 0);
  assert_int_equal(oms_transition(m, o, OS_ACCEPTED, 11), 0);
  assert_int_equal(oms_transition(m, o, OS_PARTIALLY_FILLED, 12), 0);
  assert_int_equal(oms_transition(m, o, OS_PARTIALLY_FILLED, 13), 0);
  assert_int_equal(oms_transition(m, o, OS_FILLED, 14), 0);
  assert_int_equal(oms_transition(m, o, OS_CANCELED, 15), DTO_ESTATE);
  assert_int_equal(r.n, 6);
  static const enum order_state want[6][2] = {
      {OS_NEW, OS_PENDING_NEW},
      {OS_PENDING_NEW, OS_ACCEPTED},
      {OS_ACCEPTED, OS_PARTIALLY_FILLED},
      {OS_PARTIALLY_FILLED, OS_PARTIALLY_FILLED},
      {OS_PARTIALLY_FILLED, OS_FILLED},
      {OS_FILLED, OS_CANCELED}};
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(r.v[i].id, 3);
    assert_int_equal(r.v[i].from, want[i][0]);
    assert_int_equal(r.v[i].to, want[i][1]);
    assert_int_equal(r.v[i].legal, i < 5);
  }
  assert_int_equal(o->state, OS_FILLED);
  assert_int_equal(o->updated, 14);
  assert_int_equal(oms_illegal_count(m), 1);
  oms_free(m);
  oms_free(NULL);

  /* Without an observer the OMS still validates and counts. */
  m = oms_new(NULL, NULL);
  o = oms_create(m, &tmpl, "x", 0);
  assert_int_equal(oms_transition(m, o, OS_FILLED, 1), DTO_ESTATE);
  assert_int_equal(oms_illegal_count(m), 1);
  assert_int_equal(o->state, OS_NEW);
  oms_free(m);
}

/* oms_begin/oms_commit build the same order, byte for byte, as oms_create
 * from a template built by hand (zeroed, no links, the same fields set), with
 * the same ids, observer calls and slots reused once orders are
 * forgotten. */
static void test_oms_in_place(void **state) {
  (void)state;
  rec ra = {0}, rb = {0};
  oms *a = oms_new(observe, &ra), *b = oms_new(observe, &rb);
  oms_set_keep(a, 3);
  oms_set_keep(b, 3);
  for (uint32_t i = 0; i < 30; i++) {
    char cloid[CLOID_MAX];
    oms_cloid(cloid, sizeof cloid, "acct", "strat", 20094 + i / 7, i + 1);
    order tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.parent = tmpl.peer = tmpl.replaces = tmpl.replaced_by = ORDER_NONE;
    tmpl.sym = i % 3;
    tmpl.side = i % 2 ? SIDE_SELL : SIDE_BUY;
    tmpl.type = ORD_LIMIT;
    tmpl.qty = fx_from_int(i + 1);
    tmpl.limit_price = fx_from_int(100 + i);
    tmpl.strategy = 1;
    tmpl.reducing = i % 4 == 0;
    order *x = oms_create(a, &tmpl, cloid, 1000 + i);
    order *y = oms_begin(b); /* blank: no links, as tmpl's by hand */
    y->sym = i % 3;
    y->side = i % 2 ? SIDE_SELL : SIDE_BUY;
    y->type = ORD_LIMIT;
    y->qty = fx_from_int(i + 1);
    y->limit_price = fx_from_int(100 + i);
    y->strategy = 1;
    y->reducing = i % 4 == 0;
    oms_cloid(y->cloid, sizeof y->cloid, "acct", "strat", 20094 + i / 7, i + 1);
    y = oms_commit(b, y, 1000 + i);
    assert_int_equal(x->id, i);
    assert_memory_equal(x, y, sizeof *x);
    assert_int_equal(ra.n, rb.n);
    /* most orders finish at once, so their slots are reused */
    if (i % 5 != 0) {
      assert_int_equal(oms_transition(a, x, OS_REJECTED, 2000 + i), 0);
      assert_int_equal(oms_transition(b, y, OS_REJECTED, 2000 + i), 0);
    }
  }
  for (order_id id = 0; id < 30; id++) {
    const order *x = oms_cget(a, id), *y = oms_cget(b, id);
    assert_true((x == NULL) == (y == NULL));
    if (x)
      assert_memory_equal(x, y, sizeof *x);
  }
  for (size_t k = 0; k < ra.n; k++) {
    assert_int_equal(ra.v[k].id, rb.v[k].id);
    assert_int_equal(ra.v[k].from, rb.v[k].from);
    assert_int_equal(ra.v[k].to, rb.v[k].to);
    assert_int_equal(ra.v[k].legal, rb.v[k].legal);
  }
  oms_free(a);
  oms_free(b);
}

/* ---- names and parsers -------------------------------------------------- */

static void test_names(void **state) {
  (void)state;
  for (int s = 0; s < OS_COUNT; s++)
    assert_string_equal(order_state_name((enum order_state)s), state_text[s]);
  assert_string_equal(order_state_name(OS_COUNT), "?");

  static const char *const sides[] = {"buy", "sell"};
  static const char *const types[] = {"market", "limit", "stop", "stop_limit",
                                      "trailing_stop"};
  static const char *const tifs[] = {"day", "gtc", "ioc", "fok", "opg", "cls"};
  assert_int_equal(DTO_ARRAY_LEN(sides), SIDE_COUNT);
  assert_int_equal(DTO_ARRAY_LEN(types), ORD_TYPE_COUNT);
  assert_int_equal(DTO_ARRAY_LEN(tifs), TIF_COUNT);

  for (int i = 0; i < SIDE_COUNT; i++) {
    enum order_side v = SIDE_COUNT;
    assert_string_equal(order_side_name((enum order_side)i), sides[i]);
    assert_int_equal(order_side_parse(sides[i], &v), 0);
    assert_int_equal(v, i);
  }
  for (int i = 0; i < ORD_TYPE_COUNT; i++) {
    enum order_type v = ORD_TYPE_COUNT;
    assert_string_equal(order_type_name((enum order_type)i), types[i]);
    assert_int_equal(order_type_parse(types[i], &v), 0);
    assert_int_equal(v, i);
  }
  for (int i = 0; i < TIF_COUNT; i++) {
    enum tif v = TIF_COUNT;
    assert_string_equal(tif_name((enum tif)i), tifs[i]);
    assert_int_equal(tif_parse(tifs[i], &v), 0);
    assert_int_equal(v, i);
  }
  assert_string_equal(order_side_name(SIDE_COUNT), "?");
  assert_string_equal(order_type_name(ORD_TYPE_COUNT), "?");
  assert_string_equal(tif_name(TIF_COUNT), "?");

  /* Unknown text (wrong case, prefixes, empty, NULL) is refused and the
   * output is left alone. */
  static const char *const bad[] = {"BUY", "Buy",  "bu",   "buys",
                                    "",    " buy", "day ", "stop-limit",
                                    "gtd", "moc"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    enum order_side sd = SIDE_SELL;
    enum order_type ty = ORD_STOP;
    enum tif tf = TIF_FOK;
    assert_int_equal(order_side_parse(bad[i], &sd), DTO_EINVAL);
    assert_int_equal(order_type_parse(bad[i], &ty), DTO_EINVAL);
    assert_int_equal(tif_parse(bad[i], &tf), DTO_EINVAL);
    assert_int_equal(sd, SIDE_SELL);
    assert_int_equal(ty, ORD_STOP);
    assert_int_equal(tf, TIF_FOK);
  }
  enum order_side sd = SIDE_SELL;
  enum order_type ty = ORD_STOP;
  enum tif tf = TIF_FOK;
  assert_int_equal(order_side_parse(NULL, &sd), DTO_EINVAL);
  assert_int_equal(order_type_parse(NULL, &ty), DTO_EINVAL);
  assert_int_equal(tif_parse(NULL, &tf), DTO_EINVAL);
}

/* ---- client order ids --------------------------------------------------- */

static void test_cloid(void **state) {
  (void)state;
  char a[CLOID_MAX], b[CLOID_MAX];
  int64_t day = days_from_civil(2025, 1, 6);
  oms_cloid(a, sizeof a, "ACC1", "mac", day, 7);
  assert_string_equal(a, "ACC1-mac-20250106-7");
  oms_cloid(b, sizeof b, "ACC1", "mac", day, 7);
  assert_string_equal(a, b); /* deterministic */

  oms_cloid(a, sizeof a, "paper", "orb_1", days_from_civil(1999, 12, 31),
            4294967295u);
  assert_string_equal(a, "paper-orb_1-19991231-4294967295");
  oms_cloid(a, sizeof a, "x", "y", days_from_civil(2027, 2, 28), 1);
  assert_string_equal(a, "x-y-20270228-1");

  /* Unique over sequences, days, strategies and accounts. */
  enum { N = 200 };
  static char ids[4 * N][CLOID_MAX];
  size_t n = 0;
  const char *accts[] = {"A", "B"};
  const char *strats[] = {"s1", "s2"};
  for (int ac = 0; ac < 2; ac++)
    for (int st = 0; st < 2; st++)
      for (uint32_t k = 0; k < N; k++) {
        /* seq 1..100 on two consecutive days */
        oms_cloid(ids[n++], CLOID_MAX, accts[ac], strats[st],
                  day + (int64_t)(k / 100), k % 100 + 1);
      }
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (!strcmp(ids[i], ids[j]))
        fail_msg("duplicate cloid %s", ids[i]);

  /* A small buffer is filled and terminated, never overrun. */
  char small[8];
  memset(small, 'z', sizeof small);
  oms_cloid(small, sizeof small, "ACC1", "mac", day, 7);
  assert_string_equal(small, "ACC1-ma");
}

/* The engine's way: the prefix once per day, then the sequence.  Compared
 * with snprintf on random ids, days, sequences and buffer sizes (cut ids
 * included). */
static void test_cloid_prefix(void **state) {
  (void)state;
  uint64_t x = 88172645463325252ull;
  const char *ids[] = {"a", "paper", "acct_long_name_0123456789_abcde", "s1",
                       "orb_2"};
  for (int k = 0; k < 20000; k++) {
    x ^= x << 13; /* xorshift64 */
    x ^= x >> 7;
    x ^= x << 17;
    const char *acct = ids[x % 5], *strat = ids[(x >> 8) % 5];
    int64_t day = days_from_civil(1990, 1, 1) + (int64_t)((x >> 16) % 40000);
    uint32_t seq = (uint32_t)(x >> 32);
    if (k % 3 == 0)
      seq %= 1000;
    size_t cap = k % 4 ? CLOID_MAX : 1 + (size_t)((x >> 40) % CLOID_MAX);
    int y, mo, d;
    civil_from_days(day, &y, &mo, &d);
    char want[2 * CLOID_MAX], pre[CLOID_MAX], got[CLOID_MAX];
    snprintf(want, sizeof want, "%s-%s-%04d%02d%02d-%u", acct, strat, y, mo, d,
             (unsigned)seq);
    want[strlen(want) < cap - 1 ? strlen(want) : cap - 1] = '\0';
    size_t n = oms_cloid_prefix(pre, cap, acct, strat, day);
    memcpy(got, pre, n);
    oms_cloid_seq(got, cap, n, seq);
    assert_string_equal(got, want);
    oms_cloid(got, cap, acct, strat, day, seq);
    assert_string_equal(got, want);
  }
}

/* cloid_parse against ids written out by hand, and the round trip with
 * oms_cloid in both directions. */
static void test_cloid_parse(void **state) {
  (void)state;
  char a[CLOID_ID_MAX], s[CLOID_ID_MAX];
  int64_t day;
  uint32_t seq;
  assert_int_equal(
      cloid_parse("main-mac_1-20250106-42", a, sizeof a, s, sizeof s, &day,
                  &seq),
      0);
  assert_string_equal(a, "main");
  assert_string_equal(s, "mac_1");
  assert_true(day == 20094); /* 2025-01-06: 55 years of days since 1970 */
  assert_int_equal(seq, 42);
  assert_int_equal(cloid_parse("a-b-00010101-4294967295", a, sizeof a, s,
                               sizeof s, &day, &seq),
                   0);
  assert_int_equal(seq, 4294967295u);
  assert_true(day == -719162); /* 0001-01-01 */
  assert_int_equal(cloid_parse("a-b-99991231-1", a, sizeof a, s, sizeof s,
                               &day, &seq),
                   0);
  assert_int_equal(cloid_parse("a-b-20240229-1", a, sizeof a, s, sizeof s,
                               &day, &seq),
                   0); /* leap day */

  /* Refused, outputs untouched. */
  static const char *const bad[] = {
      "",
      "main",
      "main-mac-20250106",
      "main-mac-20250106-",
      "-mac-20250106-1",
      "main--20250106-1",
      "main-mac-2025016-1",
      "main-mac-202501061-1",
      "main-mac-20250106-0",
      "main-mac-20250106-01",
      "main-mac-20250106-+1",
      "main-mac-20250106--1",
      "main-mac-20250106-1-2",
      "main-mac-20250106-4294967296",
      "main-mac-20250106-99999999999",
      "main-mac-20250106-1 ",
      "main-mac-20250106-1x",
      "main-mac-20250230-1",
      "main-mac-20251301-1",
      "main-mac-20250100-1",
      "main-mac-00000101-1",
      "main-mac-2025O106-1",
      "Main-mac-20250106-1",
      "main-m.c-20250106-1",
      "main-m c-20250106-1",
      "main-mac-x-20250106-1",
      "0123456789012345678901234567890123-mac-20250106-1", /* 34 > 31 */
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    day = 77;
    seq = 77;
    a[0] = s[0] = 'q';
    if (cloid_parse(bad[i], a, sizeof a, s, sizeof s, &day, &seq) !=
        DTO_EINVAL)
      fail_msg("accepted '%s'", bad[i]);
    assert_true(day == 77 && seq == 77 && a[0] == 'q' && s[0] == 'q');
  }
  assert_int_equal(cloid_parse(NULL, a, sizeof a, s, sizeof s, &day, &seq),
                   DTO_EINVAL);
  /* Exactly 31 characters per id is the longest. */
  const char *id31 = "abcdefghijklmnopqrstuvwxyz01234";
  char id[CLOID_MAX];
  snprintf(id, sizeof id, "%s-%s-20250106-7", id31, id31);
  assert_int_equal(cloid_parse(id, a, sizeof a, s, sizeof s, &day, &seq), 0);
  assert_string_equal(a, id31);
  assert_string_equal(s, id31);
  /* A buffer too small: DTO_ERANGE. */
  char tiny[4];
  assert_int_equal(cloid_parse("main-mac-20250106-1", tiny, sizeof tiny, s,
                               sizeof s, &day, &seq),
                   DTO_ERANGE);
  /* Longer than CLOID_MAX - 1. */
  char huge[CLOID_MAX + 8];
  memset(huge, '1', sizeof huge);
  memcpy(huge, "a-b-20250106-", 13);
  huge[sizeof huge - 1] = '\0';
  assert_int_equal(cloid_parse(huge, a, sizeof a, s, sizeof s, &day, &seq),
                   DTO_EINVAL);

  /* Round trips with oms_cloid. */
  static const char *const accts[] = {"main", "a", "acct_2"};
  const char *const strats[] = {"mac", "orb_fast", id31};
  static const uint32_t seqs[] = {1, 9, 10, 4294967295u, 1000000};
  int64_t d0 = days_from_civil(1, 1, 1), d1 = days_from_civil(9999, 12, 31);
  static const int64_t offs[] = {0, 1, 59, 60, 20094 + 719162};
  for (size_t i = 0; i < DTO_ARRAY_LEN(accts); i++)
    for (size_t j = 0; j < DTO_ARRAY_LEN(strats); j++)
      for (size_t k = 0; k < DTO_ARRAY_LEN(seqs); k++)
        for (size_t m = 0; m < DTO_ARRAY_LEN(offs) + 1; m++) {
          int64_t dd = m < DTO_ARRAY_LEN(offs) ? d0 + offs[m] : d1;
          char buf[CLOID_MAX], again[CLOID_MAX];
          oms_cloid(buf, sizeof buf, accts[i], strats[j], dd, seqs[k]);
          assert_int_equal(
              cloid_parse(buf, a, sizeof a, s, sizeof s, &day, &seq), 0);
          assert_string_equal(a, accts[i]);
          assert_string_equal(s, strats[j]);
          assert_true(day == dd);
          assert_int_equal(seq, seqs[k]);
          oms_cloid(again, sizeof again, a, s, day, seq);
          assert_string_equal(again, buf);
        }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matrix),
      cmocka_unit_test(test_transition),
      cmocka_unit_test(test_terminal_working),
      cmocka_unit_test(test_oms_observer),
      cmocka_unit_test(test_oms_amend),
      cmocka_unit_test(test_oms_fill),
      cmocka_unit_test(test_oms_table),
      cmocka_unit_test(test_oms_retention),
      cmocka_unit_test(test_oms_in_place),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_cloid),
      cmocka_unit_test(test_cloid_prefix),
      cmocka_unit_test(test_cloid_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
