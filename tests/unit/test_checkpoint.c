/* test_checkpoint.c - restart == never stopped, and journal on == off,
 * through the runner that `dto run` uses.
 *
 * The oracle is the same session run once, uninterrupted and without a
 * store.  Each case runs the session with a SQLite journal, stops it cleanly
 * after bar k (for many k, on an exchange calendar, with ma_crossover,
 * bracket entries from orb, flatten_before_close, and guards whose state
 * must survive: the daily loss limit, PDT counts, order rates, the
 * duplicate window, consecutive losses, the fill-loop guard), opens the
 * store again
 * in a new runner, recovers, and plays the rest of the feed.  At the end
 * the whole trading state must equal the oracle's: the engine's checkpoint
 * bytes (every order with its id, prices, peer and state, every position,
 * cash, the risk state, the strategies' state, timers), the paper
 * exchange's book, and the counts of orders and fills.  A damaged
 * checkpoint is refused with a message, never trusted.
 */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <unistd.h>

#include "app/config.h"
#include "app/recovery.h"
#include "app/runner.h"
#include "core/error.h"
#include "core/snap.h"
#include "engine/oms.h"
#include "market/gen.h"
#include "engine/strategy.h"
#include "store/store.h"

static const char cfg_yaml[] =
    "log_level: error\n"
    "accounts:\n"
    "  - id: main\n"
    "    cash: 1000000\n"
    "instruments:\n"
    "  - symbol: AAA\n"
    "    calendar: us_equity\n"
    "  - symbol: BBB\n"
    "    calendar: us_equity\n"
    "strategies:\n"
    "  - id: mac\n"
    "    type: ma_crossover\n"
    "    symbols: [AAA, BBB]\n"
    "    params: {fast: 2, slow: 5}\n"
    "  - id: orb\n"
    "    type: orb\n"
    "    symbols: [AAA, BBB]\n"
    "    params: {range: 5m}\n"
    "  - id: vwap\n"
    "    type: vwap_reversion\n"
    "    symbols: [AAA, BBB]\n"
    "risk:\n"
    "  accounts:\n"
    "    main: {max_daily_loss: 3000, pdt: true, pdt_min_equity: 2000000,\n"
    "           pdt_max_day_trades: 40, max_orders_per_minute: 40}\n"
    "  strategies:\n"
    "    orb: {flatten_before_close: 10m, duplicate_window: 10m}\n"
    "    mac: {max_consecutive_losses: 3, fill_loop_count: 9,\n"
    "          fill_loop_window: 5m}\n"
    "run:\n"
    "  state_dir: %s\n";

typedef struct fixture {
  PGconn *admin; /* DTO_TEST_PG_URL's server, for schemas of our own */
  int nschemas;
  char dir[256];
  char yaml[2048];
  dto_config cfg;
  bar_vec bars;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/dto-test-ckpt-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->yaml, sizeof f->yaml, cfg_yaml, f->dir);
  char err[CFG_ERR_MAX];
  if (config_load_mem("t.yaml", f->yaml, strlen(f->yaml), NULL, &f->cfg, err,
                      sizeof err)) {
    fprintf(stderr, "config: %s\n", err);
    return -1;
  }
  static const char *const syms[] = {"AAA", "BBB"};
  gen_opts go;
  gen_opts_init(&go);
  go.seed = 11;
  go.symbols = syms;
  go.nsymbols = 2;
  go.days = 2;
  if (gen_bars(&go, &f->bars))
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (f->admin) {
    for (int i = 0; i < f->nschemas; i++) {
      char sql[128];
      snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS dto_ck%ld_%d CASCADE",
               (long)getpid(), i);
      PQclear(PQexec(f->admin, sql));
    }
    PQfinish(f->admin);
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd)) {
  }
  bar_vec_release(&f->bars);
  config_release(&f->cfg);
  free(f);
  return 0;
}

/* Everything the session holds at the end, for comparison. */
typedef struct outcome {
  dbuf engine, book;
  size_t orders;
  uint64_t fills, refusals;
} outcome;

static void take(runner *r, outcome *o) {
  dbuf_init(&o->engine, SIZE_MAX / 2);
  dbuf_init(&o->book, SIZE_MAX / 2);
  assert_int_equal(engine_snapshot(r->e, &o->engine), 0);
  matcher_snapshot(r->m, &o->book);
  o->orders = oms_count(engine_oms(r->e));
  o->fills = engine_fill_count(r->e);
  o->refusals = 0;
  for (int k = 1; k < RISK_REASON_COUNT; k++)
    o->refusals += risk_refusals(engine_risk(r->e), (enum risk_reason)k);
}

static void release(outcome *o) {
  dbuf_release(&o->engine);
  dbuf_release(&o->book);
}

static void same(const outcome *a, const outcome *b, const char *what) {
  if (a->orders != b->orders || a->fills != b->fills ||
      a->engine.len != b->engine.len ||
      memcmp(a->engine.ptr, b->engine.ptr, a->engine.len) ||
      a->book.len != b->book.len ||
      memcmp(a->book.ptr, b->book.ptr, a->book.len))
    fail_msg("%s: orders %zu/%zu fills %llu/%llu engine %zu/%zu bytes%s "
             "book %zu/%zu bytes%s",
             what, a->orders, b->orders, (unsigned long long)a->fills,
             (unsigned long long)b->fills, a->engine.len, b->engine.len,
             a->engine.len == b->engine.len &&
                     !memcmp(a->engine.ptr, b->engine.ptr, a->engine.len)
                 ? " (same)"
                 : " (differ)",
             a->book.len, b->book.len,
             a->book.len == b->book.len &&
                     !memcmp(a->book.ptr, b->book.ptr, a->book.len)
                 ? " (same)"
                 : " (differ)");
}

/* The uninterrupted session; with db, journaled. */
static void oracle(fixture *f, const char *db, outcome *out) {
  char err[512];
  store *st = NULL;
  if (db) {
    store_options so;
    memset(&so, 0, sizeof so);
    so.create = true;
    assert_int_equal(store_open(db, &so, &st, err, sizeof err), 0);
    assert_int_equal(store_migrate_to(st, -1, NULL, NULL), 0);
  }
  runner r;
  int rc = runner_init_session(&r, &f->cfg, NULL, f->bars.v[0].ts, st, err,
                               sizeof err);
  if (rc)
    fail_msg("runner: %s", err);
  r.keep_curve = r.keep_orders = false;
  for (size_t i = 0; i < f->bars.n; i++)
    runner_bar(&r, &f->bars.v[i]);
  take(&r, out);
  assert_int_equal(runner_release(&r), 0);
}

/* The session stopped cleanly after bar k and restarted from its store. */
static void restarted(fixture *f, const char *db, size_t k, outcome *out) {
  char err[512];
  store_options so;
  memset(&so, 0, sizeof so);
  so.create = true;
  store *st;
  assert_int_equal(store_open(db, &so, &st, err, sizeof err), 0);
  assert_int_equal(store_migrate_to(st, -1, NULL, NULL), 0);
  runner r;
  if (runner_init_session(&r, &f->cfg, NULL, f->bars.v[0].ts, st, err,
                          sizeof err))
    fail_msg("runner: %s", err);
  for (size_t i = 0; i < k; i++)
    runner_bar(&r, &f->bars.v[i]);
  assert_int_equal(runner_release(&r), 0); /* a clean stop keeps orders */

  assert_int_equal(store_open(db, &so, &st, err, sizeof err), 0);
  recovery rec;
  if (recovery_load(st, &rec, err, sizeof err))
    fail_msg("recovery_load: %s", err);
  /* nothing journaled yet (no order before bar k): the restart starts over,
   * which is exact since nothing left the process */
  assert_true(rec.ckpt != NULL || rec.last_seq == 0);
  if (runner_init_session(&r, &f->cfg, NULL, rec.last_time, st, err,
                          sizeof err))
    fail_msg("runner: %s", err);
  if (rec.last_seq > 0 && recovery_apply(&r, &rec, err, sizeof err))
    fail_msg("recovery_apply after bar %zu: %s", k, err);
  size_t first;
  if (recovery_resume_at(&r, &rec, f->bars.v, f->bars.n, &first, err,
                         sizeof err))
    fail_msg("resume: %s", err);
  assert_true(rec.warm || rec.ckpt == NULL);
  bool warm = rec.warm;
  recovery_release(&rec);
  /* the last checkpoint may be a few bars back (bars that journaled
   * nothing write none): those bars are played again */
  assert_true(first <= k);
  if (!warm)
    assert_int_equal(first, 0);
  for (size_t i = first; i < f->bars.n; i++)
    runner_bar(&r, &f->bars.v[i]);
  take(&r, out);
  assert_int_equal(runner_release(&r), 0);
}

static void test_journal_changes_nothing(void **state) {
  fixture *f = *state;
  outcome a, b;
  oracle(f, NULL, &a);
  assert_true(a.fills > 20); /* the session trades */
  assert_true(a.refusals > 0); /* and the guards refuse some orders */
  char db[400];
  snprintf(db, sizeof db, "sqlite:%s/on.db", f->dir);
  oracle(f, db, &b);
  same(&a, &b, "journal on vs off");
  release(&a);
  release(&b);
}

static void test_restart_changes_nothing(void **state) {
  fixture *f = *state;
  outcome a;
  oracle(f, NULL, &a);
  /* stops spread over the feed: both days, around opens and closes */
  size_t n = f->bars.n;
  size_t cuts[] = {1, 7, 23, 61, n / 4, n / 3, n / 2 - 1, n / 2, n / 2 + 1,
                   2 * n / 3, n - 31, n - 9, n - 1};
  for (size_t c = 0; c < DTO_ARRAY_LEN(cuts); c++) {
    char db[400];
    snprintf(db, sizeof db, "sqlite:%s/r%zu.db", f->dir, c);
    outcome b;
    restarted(f, db, cuts[c], &b);
    char what[64];
    snprintf(what, sizeof what, "restart after bar %zu of %zu", cuts[c], n);
    same(&a, &b, what);
    release(&b);
  }
  release(&a);
}

/* A fresh PostgreSQL schema on DTO_TEST_PG_URL's server, as a store URL;
 * false when no server is named (make check's test-store-pg names one). */
static bool pg_store(fixture *f, char *url, size_t cap) {
  const char *u = getenv("DTO_TEST_PG_URL");
  if (!u || !*u)
    return false;
  if (!f->admin) {
    f->admin = PQconnectdb(u);
    if (PQstatus(f->admin) != CONNECTION_OK)
      fail_msg("DTO_TEST_PG_URL: %s", PQerrorMessage(f->admin));
    PQclear(PQexec(f->admin, "SET client_min_messages = warning"));
  }
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE SCHEMA dto_ck%ld_%d", (long)getpid(),
           f->nschemas);
  PGresult *r = PQexec(f->admin, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(f->admin));
  PQclear(r);
  snprintf(url, cap, "%s%soptions=-csearch_path%%3Ddto_ck%ld_%d", u,
           strchr(u, '?') ? "&" : "?", (long)getpid(), f->nschemas);
  f->nschemas++;
  return true;
}

/* The same two properties with the journal on PostgreSQL. */
static void test_postgres(void **state) {
  fixture *f = *state;
  char url[1024];
  if (!pg_store(f, url, sizeof url)) {
    skip();
    return;
  }
  outcome a, b;
  oracle(f, NULL, &a);
  oracle(f, url, &b);
  same(&a, &b, "journal on PostgreSQL vs off");
  release(&b);
  size_t n = f->bars.n;
  size_t cuts[] = {n / 4, n / 2 + 1, n - 9};
  for (size_t c = 0; c < DTO_ARRAY_LEN(cuts); c++) {
    assert_true(pg_store(f, url, sizeof url));
    restarted(f, url, cuts[c], &b);
    char what[80];
    snprintf(what, sizeof what, "PostgreSQL: restart after bar %zu", cuts[c]);
    same(&a, &b, what);
    release(&b);
  }
  release(&a);
}

/* ---- replaces: a strategy that chases the price with limit orders ------- */

/* No built-in strategy replaces orders, so this one does: a limit buy 0.2 %
 * under the close, moved (replaced) to follow every bar while it works,
 * and once filled a limit sell 0.2 % over the close, chased the same way.
 * Its state is plain data: the working order's id. */
typedef struct chase_sym {
  order_id working;
} chase_sym;

static void chase_bar(strat *s, void *state, void *sym_state, const bar *b) {
  (void)state;
  chase_sym *cs = sym_state;
  sym_id sym = b->sym;
  const order *o = cs->working ? strat_order(s, cs->working - 1) : NULL;
  bool working = o && (o->state == OS_ACCEPTED ||
                       o->state == OS_PARTIALLY_FILLED);
  fx pos = strat_position(s, sym);
  enum order_side side = pos > 0 ? SIDE_SELL : SIDE_BUY;
  fx off = b->close / 500; /* 0.2 % */
  fx px = strat_round_tick(s, sym, side == SIDE_BUY ? b->close - off
                                                      : b->close + off,
                           FX_ROUND_NEAREST);
  if (px <= 0)
    return;
  if (working && o->side == side) {
    order_id nid;
    if (o->limit_price != px &&
        strat_replace(s, o->id, 0, px, 0, &nid) == 0)
      cs->working = nid + 1;
    return;
  }
  if (o && !order_is_terminal(o->state))
    return; /* pending: wait for the broker */
  order_req r = {0};
  r.sym = sym;
  r.side = side;
  r.type = ORD_LIMIT;
  r.tif = TIF_DAY;
  r.qty = pos > 0 ? pos : 10 * FX_ONE;
  r.limit_price = px;
  order_id id;
  if (strat_submit(s, &r, &id) == 0)
    cs->working = id + 1;
}

static const strategy_def chase_def = {
    .name = "chase",
    .summary = "test: limit orders replaced every bar",
    .sym_state_size = sizeof(chase_sym),
    .on_bar = chase_bar,
};

static void test_replaces(void **state) {
  fixture *f = *state;
  /* the first strategy becomes the chaser (it has no parameters) */
  f->cfg.strategies[0].def = &chase_def;
  outcome a, b;
  oracle(f, NULL, &a);
  assert_true(a.orders > 200); /* replaces make orders */
  print_message("chaser: %zu orders, %llu fills\n", a.orders,
                (unsigned long long)a.fills);
  char db[400];
  snprintf(db, sizeof db, "sqlite:%s/chase-on.db", f->dir);
  oracle(f, db, &b);
  same(&a, &b, "replaces: journal on vs off");
  release(&b);
  size_t n = f->bars.n;
  size_t cuts[] = {5, n / 3, n / 2, n - 2};
  for (size_t c = 0; c < DTO_ARRAY_LEN(cuts); c++) {
    snprintf(db, sizeof db, "sqlite:%s/chase%zu.db", f->dir, c);
    restarted(f, db, cuts[c], &b);
    char what[64];
    snprintf(what, sizeof what, "replaces: restart after bar %zu", cuts[c]);
    same(&a, &b, what);
    release(&b);
  }
  release(&a);
}

/* Every truncation and many byte flips of a checkpoint are refused or
 * decode to something whole; none crashes. */
static void test_damaged_checkpoint_refused(void **state) {
  fixture *f = *state;
  char err[512];
  runner r;
  assert_int_equal(runner_init_session(&r, &f->cfg, NULL, f->bars.v[0].ts,
                                       NULL, err, sizeof err),
                   0);
  for (size_t i = 0; i < f->bars.n / 2; i++)
    runner_bar(&r, &f->bars.v[i]);
  dbuf good;
  dbuf_init(&good, SIZE_MAX / 2);
  assert_int_equal(engine_snapshot(r.e, &good), 0);
  assert_int_equal(runner_release(&r), 0);
  size_t refused = 0, step = good.len / 200 + 1;
  for (size_t cut = 0; cut < good.len; cut += step) {
    runner t;
    assert_int_equal(runner_init_session(&t, &f->cfg, NULL, f->bars.v[0].ts,
                                         NULL, err, sizeof err),
                     0);
    err[0] = '\0';
    int rc = engine_restore_snapshot(t.e, good.ptr, cut, err, sizeof err);
    assert_int_not_equal(rc, 0);
    assert_true(err[0] != '\0');
    refused++;
    runner_release(&t);
  }
  assert_true(refused > 10);
  runner t;
  assert_int_equal(runner_init_session(&t, &f->cfg, NULL, f->bars.v[0].ts,
                                       NULL, err, sizeof err),
                   0);
  int grc = engine_restore_snapshot(t.e, good.ptr, good.len, err, sizeof err);
  if (grc)
    fail_msg("a sound checkpoint refused: %s", err);
  runner_release(&t);
  dbuf_release(&good);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_journal_changes_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_restart_changes_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_damaged_checkpoint_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_postgres, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replaces, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
