/* test_runner_store.c - dto run's journal path end to end, through a full
 * disk and back.
 *
 * A runner with a SQLite store behind the fault-injecting wrapper trades a
 * generated day of two symbols (ma_crossover 2/5 trades often).  Healthy: every
 * order, fill and risk decision is in the store after a barrier, read back
 * through a second handle.  Disk full (the wrapper fails every call with
 * DTO_ENOSPC): the runner notices within a bounded number of bars, logs
 * store.fault and a storage_fault alert, refuses new orders (risk
 * storage_fault), and no order created meanwhile reaches the paper exchange.
 * Space freed: the journal's retry commits what it kept, the runner logs
 * store.recovered and a storage_recovered alert, orders pass again, and after
 * the journal is closed a fresh handle holds every order in its final state,
 * every fill exactly once, every risk decision and both alerts, and SQLite's
 * integrity check passes.
 *
 * The test runs on SQLite (a file in a temporary folder) and, when
 * DTO_TEST_PG_URL names a server, on PostgreSQL (a fresh schema selected
 * through the URL's search_path, as in test_store.c; `make test-store-pg`
 * runs it under scripts/pg-test.sh).
 */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include <ftw.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "app/config.h"
#include "app/runner.h"
#include "app/wal.h"
#include "broker/broker.h"
#include "core/alloc.h"
#include "core/error.h"
#include "engine/oms.h"
#include "market/gen.h"
#include "store/journal.h"
#include "store/store.h"

static const char cfg_yaml[] = "log_level: info\n"
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
                               "    params: {fast: 2, slow: 5}\n";

/* Bars of the healthy phase at least (two symbols, so 60 minutes), before
 * the fault is armed; bars driven while the fault lasts after it was
 * noticed. */
#define HEALTHY_BARS 120
#define DETECT_MAX_BARS 100
#define FAULT_BARS 80

/* ---- fixtures (as test_store.c) ------------------------------------------ */

typedef struct backend {
  const char *name;
  bool pg;
} backend;

static const backend BK_SQLITE = {"sqlite", false};
static const backend BK_PG = {"postgres", true};

typedef struct env {
  const backend *bk;
  bool skip;
  /* PostgreSQL: an admin connection and the test's schema */
  PGconn *admin;
  char schema[64];
  /* SQLite */
  char dir[256];
  char path[300];
  char url[2048];
} env;

static void pg_admin_exec(env *v, const char *sql) {
  PGresult *r = PQexec(v->admin, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK &&
      PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("postgres: %s: %s", sql, PQerrorMessage(v->admin));
  PQclear(r);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  DTO_UNUSED(sb);
  DTO_UNUSED(flag);
  DTO_UNUSED(ftw);
  return remove(path);
}

static int setup(void **state) {
  const backend *bk = *state;
  env *v = xcalloc(1, sizeof *v);
  v->bk = bk;
  *state = v;
  if (bk->pg) {
    const char *u = getenv("DTO_TEST_PG_URL");
    if (!u || !*u) {
      v->skip = true;
      return 0;
    }
    v->admin = PQconnectdb(u);
    if (PQstatus(v->admin) != CONNECTION_OK) {
      fprintf(stderr, "cannot connect to DTO_TEST_PG_URL: %s",
              PQerrorMessage(v->admin));
      return -1;
    }
    PGresult *r = PQexec(v->admin, "SET client_min_messages = warning");
    PQclear(r);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(v->schema, sizeof v->schema, "dto_r%ld_%ld", (long)getpid(),
             (long)(ts.tv_nsec % 100000));
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", v->schema);
    pg_admin_exec(v, sql);
    snprintf(v->url, sizeof v->url, "%s%soptions=-csearch_path%%3D%s", u,
             strchr(u, '?') ? "&" : "?", v->schema);
    return 0;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(v->dir, sizeof v->dir, "%s/dto-test-runner-store.XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(v->dir)) {
    free(v);
    return -1;
  }
  snprintf(v->path, sizeof v->path, "%s/dto.db", v->dir);
  snprintf(v->url, sizeof v->url, "sqlite:%s", v->path);
  return 0;
}

static int teardown(void **state) {
  env *v = *state;
  if (v->admin) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", v->schema);
    PGresult *r = PQexec(v->admin, sql);
    PQclear(r);
    PQfinish(v->admin);
  }
  if (v->dir[0])
    nftw(v->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(v);
  return 0;
}

/* ---- helpers -------------------------------------------------------------
 */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Wait (at most limit_ms of real time) until the journal's state hook has
 * told the runner want_fault (true: any error; false: healthy).  Returns
 * the milliseconds waited, or -1 on time out. */
static int64_t wait_jfault(runner *r, bool want_fault, int limit_ms) {
  int64_t t0 = mono_ms();
  for (;;) {
    bool f = atomic_load(&r->jfault) != 0;
    if (f == want_fault)
      return mono_ms() - t0;
    if (mono_ms() - t0 > limit_ms)
      return -1;
    sleep_ms(1);
  }
}

/* The whole log so far, NUL-terminated (the caller frees it). */
static char *slurp(FILE *f) {
  fflush(f);
  long end = ftell(f);
  assert_true(end >= 0);
  char *s = xmalloc((size_t)end + 1);
  rewind(f);
  size_t n = fread(s, 1, (size_t)end, f);
  assert_int_equal(n, (size_t)end);
  s[n] = '\0';
  fseek(f, 0, SEEK_END);
  return s;
}

/* Lines of the log containing needle. */
static int log_count(FILE *f, const char *needle) {
  char *s = slurp(f);
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  free(s);
  return n;
}

static store *open_store(const env *v, bool create) {
  store_options o = {.create = create,
                     .pg_pool_min = 1,
                     .pg_pool_max = 4,
                     .connect_timeout_s = 5};
  store *s = NULL;
  char err[512];
  int rc = store_open(v->url, &o, &s, err, sizeof err);
  if (rc)
    fail_msg("store_open %s: %s (%s)", v->url, err, dto_errname(rc));
  return s;
}

static int64_t count_of(store *s, enum store_table t) {
  int64_t n = -1;
  if (store_count(s, t, &n)) {
    char m[STORE_ERR_MAX];
    fail_msg("count %s: %s", store_table_name(t), store_errmsg(s, m, sizeof m));
  }
  return n;
}

/* The order as the store has it must be the order as the engine has it. */
static void assert_stored(store *s, const order *o) {
  store_order so;
  int rc = store_get_order(s, o->cloid, &so);
  if (rc)
    fail_msg("order %s (id %u) is not in the store: %s", o->cloid,
             (unsigned)o->id, dto_errname(rc));
  if (strcmp(so.state, order_state_name(o->state)) || so.filled != o->filled ||
      so.qty != o->qty)
    fail_msg("order %s: store has %s filled %" PRId64 " qty %" PRId64
             ", engine %s filled %" PRId64 " qty %" PRId64,
             o->cloid, so.state, so.filled, so.qty, order_state_name(o->state),
             o->filled, o->qty);
}

/* Every order the engine created is stored exactly as the engine has it. */
static void assert_all_stored(const env *v, runner *r) {
  store *rd = open_store(v, false);
  const oms *m = engine_oms(r->e);
  size_t n = oms_count(m);
  for (order_id id = 0; id < n; id++) {
    const order *o = oms_cget(m, id);
    assert_non_null(o); /* fewer orders than the OMS keeps */
    assert_stored(rd, o);
  }
  assert_int_equal(count_of(rd, STORE_T_ORDERS), (int64_t)n);
  assert_int_equal(count_of(rd, STORE_T_FILLS),
                   (int64_t)engine_fill_count(r->e));
  assert_int_equal(count_of(rd, STORE_T_RISK_DECISIONS),
                   (int64_t)risk_checked(engine_risk(r->e)));
  store_close(rd);
}

/* An order created while the store could not write: refused by the risk
 * gate (storage_fault) or answered by the write-ahead wrapper (never sent),
 * and never filled. */
static bool refused_for_storage(const order *o) {
  return o->state == OS_REJECTED && o->filled == 0 &&
         (o->risk == RISK_STORE_FAULT ||
          (o->risk == 0 && o->reason == BRR_STORAGE));
}

typedef struct event_tally {
  int64_t fills, orders, alert_fault, alert_recovered;
} event_tally;

static int tally_event(void *arg, const store_event *ev) {
  event_tally *t = arg;
  if (!strcmp(ev->type, "fill"))
    t->fills++;
  else if (!strcmp(ev->type, "order"))
    t->orders++;
  else if (!strcmp(ev->type, "alert")) {
    /* the payload is not NUL-terminated */
    char p[512];
    size_t n = ev->payload_len < sizeof p - 1 ? ev->payload_len : sizeof p - 1;
    memcpy(p, ev->payload, n);
    p[n] = '\0';
    t->alert_fault += strstr(p, "\"code\":\"storage_fault\"") != NULL;
    t->alert_recovered += strstr(p, "\"code\":\"storage_recovered\"") != NULL;
  }
  return 0;
}

/* ---- the test --------------------------------------------------------------
 */

/* The stored fills of one order: their count and the sum of their
 * quantities, read outside the store (SQL on the database itself). */
static void fills_of(env *v, const char *cloid, int64_t *sum, int64_t *count) {
  if (v->bk->pg) {
    char set[128];
    snprintf(set, sizeof set, "SET search_path TO %s", v->schema);
    pg_admin_exec(v, set);
    const char *params[1] = {cloid};
    PGresult *r = PQexecParams(v->admin,
                               "SELECT COALESCE(SUM(qty), 0), COUNT(*) FROM "
                               "fills WHERE cloid = $1",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
      fail_msg("postgres: fills of %s: %s", cloid, PQerrorMessage(v->admin));
    *sum = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *count = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    pg_admin_exec(v, "SET search_path TO DEFAULT");
    return;
  }
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(v->path, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT COALESCE(SUM(qty), 0), COUNT(*) "
                                      "FROM fills WHERE cloid = ?1",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, cloid, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  *sum = sqlite3_column_int64(st, 0);
  *count = sqlite3_column_int64(st, 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void test_disk_full_and_back(void **state) {
  env *v = *state;
  if (v->skip)
    skip();
  char err[CFG_ERR_MAX];

  dto_config cfg;
  int rc = config_load_mem("t.yaml", cfg_yaml, strlen(cfg_yaml), NULL, &cfg,
                           err, sizeof err);
  if (rc)
    fail_msg("config: %s", err);

  static const char *const syms[] = {"AAA", "BBB"};
  gen_opts go;
  gen_opts_init(&go);
  go.seed = 7;
  go.symbols = syms;
  go.nsymbols = 2;
  go.days = 1;
  bar_vec bars = {0};
  assert_int_equal(gen_bars(&go, &bars), 0);

  /* A run without a store finds the first bar after the healthy phase at
   * which the strategy places an order: the disk fills just before it, so
   * that order is held by the write-ahead wrapper when the write fails. */
  runner dry;
  rc = runner_init(&dry, &cfg, NULL, bars.v[0].ts, NULL, err, sizeof err);
  if (rc)
    fail_msg("runner_init: %s", err);
  size_t arm_bar = 0, dry_orders_at_arm = 0;
  uint64_t dry_fills_at_arm = 0;
  for (size_t i = 0; i < bars.n && !arm_bar; i++) {
    size_t before = oms_count(engine_oms(dry.e));
    uint64_t fills_before = engine_fill_count(dry.e);
    runner_bar(&dry, &bars.v[i]);
    if (i >= HEALTHY_BARS && oms_count(engine_oms(dry.e)) > before) {
      arm_bar = i;
      dry_orders_at_arm = before;
      dry_fills_at_arm = fills_before;
    }
  }
  runner_release(&dry);
  assert_true(arm_bar >= HEALTHY_BARS);
  assert_true(bars.n > arm_bar + DETECT_MAX_BARS + FAULT_BARS + 100);

  /* the store: migrated, behind the wrapper (not armed) */
  store *inner = open_store(v, true);
  assert_int_equal(store_migrate_to(inner, -1, NULL, NULL), 0);
  store *fs = store_faulty_new(inner, 0, DTO_ENOSPC);

  FILE *logf = tmpfile();
  assert_non_null(logf);
  runner r;
  rc = runner_init(&r, &cfg, logf, bars.v[0].ts, fs, err, sizeof err);
  if (rc)
    fail_msg("runner_init: %s", err);
  assert_non_null(r.j);
  assert_non_null(r.w);
  const oms *om = engine_oms(r.e);
  const risk *rk = engine_risk(r.e);
  size_t bi = 0;

  /* ---- 1. healthy: orders go out, fill, and are all in the store ---- */
  for (; bi < arm_bar; bi++) {
    runner_bar(&r, &bars.v[bi]);
    assert_int_equal(wal_held(r.w), 0);
  }
  assert_false(r.store_faulted);
  size_t healthy_orders = oms_count(om);
  uint64_t healthy_fills = engine_fill_count(r.e);
  /* write-ahead changes nothing in the trading */
  assert_int_equal(healthy_orders, dry_orders_at_arm);
  assert_int_equal(healthy_fills, dry_fills_at_arm);
  assert_true(healthy_orders >= 4);
  assert_true(healthy_fills >= 2);
  size_t reached = 0; /* orders the paper exchange has seen */
  for (order_id id = 0; id < healthy_orders; id++) {
    const order *o = oms_cget(om, id);
    assert_non_null(o);
    assert_int_equal(o->risk, 0);
    reached += o->state != OS_REJECTED;
  }
  assert_true(reached >= 4);
  /* steps that sent nothing wait for the next checkpoint: end one here */
  assert_int_equal(runner_checkpoint(&r), 0);
  assert_int_equal(journal_barrier(r.j, r.ckpt_ticket, 2000), 0);
  assert_all_stored(v, &r);
  assert_int_equal(log_count(logf, "\"event\":\"store."), 0);

  /* ---- 2. disk full ---- */
  /* everything put so far is durable: the hooks' items and whatever the
   * runner journals after them in the same step (its checkpoint) */
  journal_stats js0;
  assert_int_equal(runner_checkpoint(&r), 0);
  journal_stats_get(r.j, &js0);
  assert_int_equal(journal_barrier(r.j, js0.put, 2000), 0);
  uint64_t durable0 = journal_durable(r.j);
  assert_int_equal(durable0, js0.put);
  assert_true(durable0 >= r.jh.last);
  size_t working0 = matcher_working(r.m);
  size_t fault_from = oms_count(om); /* the first id created in the fault */
  assert_int_equal(risk_refusals(rk, RISK_STORE_FAULT), 0);
  store_faulty_sticky(fs, true);
  store_faulty_arm(fs, 1, DTO_ENOSPC);

  /* The runner learns of the fault at the first write after it.  Each bar
   * that queued something waits until the writer has tried it, so the
   * number of bars does not depend on thread timing. */
  size_t detect_bars = 0;
  while (!r.store_faulted && detect_bars < DETECT_MAX_BARS) {
    runner_bar(&r, &bars.v[bi++]);
    detect_bars++;
    assert_int_equal(wal_held(r.w), 0);
    assert_true(matcher_working(r.m) <= working0);
    journal_stats js;
    journal_stats_get(r.j, &js);
    if (js.queued > 0 && !r.store_faulted)
      assert_true(wait_jfault(&r, true, 2000) >= 0);
  }
  assert_true(r.store_faulted);
  /* the writer fails at the held order's barrier; the runner acts on it at
   * that bar or the next (when its state hook ran) */
  assert_true(detect_bars <= 2);
  /* the runner may have acted on journal_error() before the writer's state
   * hook ran (it runs on the writer thread): wait for it, bounded */
  assert_true(wait_jfault(&r, true, 2000) >= 0);
  assert_int_equal(atomic_load(&r.jfault), DTO_ENOSPC);
  assert_int_equal(journal_error(r.j), DTO_ENOSPC);
  assert_int_equal(log_count(logf, "\"event\":\"store.fault\""), 1);
  assert_int_equal(
      log_count(logf, "\"event\":\"alert\",\"code\":\"storage_fault\""), 1);

  /* the fault lasts: orders are refused, nothing reaches the exchange, the
   * writer keeps retrying without acknowledging anything */
  for (size_t k = 0; k < FAULT_BARS; k++) {
    runner_bar(&r, &bars.v[bi++]);
    assert_int_equal(wal_held(r.w), 0);
    assert_true(matcher_working(r.m) <= working0);
    assert_true(r.store_faulted);
    if (k == FAULT_BARS / 2)
      sleep_ms(60); /* let a few retries fail */
  }
  assert_true(risk_refusals(rk, RISK_STORE_FAULT) > 0);
  assert_true(log_count(logf, "\"check\":\"storage_fault\"") > 0);
  journal_stats js;
  journal_stats_get(r.j, &js);
  assert_true(js.failures >= 2);
  assert_int_equal(js.durable, durable0);
  assert_int_equal(journal_durable(r.j), durable0);
  assert_int_equal(js.refused, 0); /* kept, not dropped */
  assert_true(js.queued > 0);
  size_t fault_to = oms_count(om);
  assert_true(fault_to > fault_from);
  uint64_t refused_in_fault = risk_refusals(rk, RISK_STORE_FAULT);

  /* ---- 3. space freed ---- */
  store_faulty_arm(fs, 0, DTO_ENOSPC);
  int64_t waited = wait_jfault(&r, false, 3000);
  assert_true(waited >= 0);
  /* the next retry comes within the back-off, which is at most 1 s (the
   * margin is for a loaded machine) */
  assert_true(waited < 2500);
  /* still refusing until the runner syncs */
  assert_true(r.store_faulted);
  runner_bar(&r, &bars.v[bi++]);
  assert_false(r.store_faulted);
  assert_int_equal(log_count(logf, "\"event\":\"store.recovered\""), 1);
  assert_int_equal(
      log_count(logf, "\"event\":\"alert\",\"code\":\"storage_recovered\""), 1);
  /* every order created while the store failed: refused or never sent */
  size_t recovered_from = oms_count(om);
  size_t by_risk = 0, by_wal = 0;
  for (order_id id = (order_id)fault_from; id < recovered_from; id++) {
    const order *o = oms_cget(om, id);
    assert_non_null(o);
    if (!refused_for_storage(o))
      fail_msg("order %s created during the fault: state %s risk %d reason "
               "%d filled %" PRId64,
               o->cloid, order_state_name(o->state), o->risk, o->reason,
               o->filled);
    by_risk += o->risk == RISK_STORE_FAULT;
    by_wal += o->risk == 0;
  }
  assert_int_equal(by_risk, risk_refusals(rk, RISK_STORE_FAULT));
  assert_true(by_risk > 0);
  /* the order of the bar the disk filled at was held, its barrier failed,
   * and the wrapper answered it without sending it */
  assert_true(by_wal >= 1);
  assert_int_equal(oms_cget(om, (order_id)fault_from)->reason, BRR_STORAGE);
  assert_true(log_count(logf, "\"event\":\"order.rejected\"") >=
              (int)(by_risk + by_wal));

  /* what the journal kept through the fault is durable now */
  assert_int_equal(runner_checkpoint(&r), 0);
  assert_int_equal(journal_barrier(r.j, r.ckpt_ticket, 2000), 0);
  assert_int_equal(journal_error(r.j), 0);
  assert_all_stored(v, &r);

  /* trading resumes to the end of the day */
  for (; bi < bars.n; bi++) {
    runner_bar(&r, &bars.v[bi]);
    assert_int_equal(wal_held(r.w), 0);
  }
  runner_finish(&r);
  assert_false(r.store_faulted);
  assert_int_equal(risk_refusals(rk, RISK_STORE_FAULT), refused_in_fault);
  size_t norders = oms_count(om);
  size_t passed = 0;
  for (order_id id = (order_id)recovered_from; id < norders; id++) {
    const order *o = oms_cget(om, id);
    assert_non_null(o);
    assert_int_not_equal(o->risk, RISK_STORE_FAULT);
    assert_int_not_equal(o->reason, BRR_STORAGE);
    passed += o->risk == 0 && o->filled > 0;
  }
  assert_true(passed >= 2);
  assert_int_equal(engine_working_orders(r.e), 0);
  assert_int_equal(r.jh.refused, 0);
  assert_true(norders <= OMS_KEEP_DEFAULT);

  /* keep what the engine knows, then close the journal */
  order *fin = xcalloc(norders, sizeof *fin); /* past runner_release() */
  for (order_id id = 0; id < norders; id++) {
    const order *o = oms_cget(om, id);
    assert_non_null(o);
    assert_true(o->state == OS_FILLED || o->state == OS_CANCELED ||
                o->state == OS_REJECTED || o->state == OS_EXPIRED);
    fin[id] = *o;
  }
  uint64_t nfills = engine_fill_count(r.e);
  uint64_t nchecked = risk_checked(rk);
  position apos[2];
  for (sym_id s = 0; s < 2; s++)
    apos[s] = *portfolio_account_pos(engine_portfolio(r.e), 0, s);
  print_message("orders %zu (healthy %zu, during fault %zu: %zu by risk, %zu "
                "by the write-ahead wrapper), fills %" PRIu64
                ", detected after %zu bars, recovered after %" PRId64 " ms\n",
                norders, healthy_orders, recovered_from - fault_from, by_risk,
                by_wal, nfills, detect_bars, waited);
  runner_release(&r); /* closes the journal and the store */

  /* ---- a fresh handle sees the final state ---- */
  store *rd = open_store(v, false);
  for (size_t i = 0; i < norders; i++)
    assert_stored(rd, &fin[i]);
  assert_int_equal(count_of(rd, STORE_T_ORDERS), (int64_t)norders);
  assert_int_equal(count_of(rd, STORE_T_FILLS), (int64_t)nfills);
  assert_int_equal(count_of(rd, STORE_T_RISK_DECISIONS), (int64_t)nchecked);
  for (sym_id s = 0; s < 2; s++) {
    store_position sp;
    assert_int_equal(store_get_position(rd, "main", "", syms[s], &sp), 0);
    assert_int_equal(sp.qty, apos[s].qty);
    assert_int_equal(sp.realized, apos[s].realized);
    assert_int_equal(sp.fees, apos[s].fees);
  }
  event_tally t = {0};
  assert_int_equal(store_read_events(rd, 0, 0, tally_event, &t), 0);
  assert_int_equal(t.fills, (int64_t)nfills);
  assert_int_equal(t.alert_fault, 1);
  assert_int_equal(t.alert_recovered, 1);
  assert_true(t.orders >= (int64_t)norders);
  store_close(rd);

  /* each fill once: per order, the stored fills add up to what it filled */
  int64_t sum_count = 0;
  for (size_t i = 0; i < norders; i++) {
    int64_t sum = 0, count = 0;
    fills_of(v, fin[i].cloid, &sum, &count);
    if (sum != fin[i].filled)
      fail_msg("order %s: stored fills add up to %" PRId64
               ", engine filled %" PRId64,
               fin[i].cloid, sum, fin[i].filled);
    sum_count += count;
  }
  assert_int_equal(sum_count,
                   (int64_t)nfills); /* no fill of an unknown order */
  if (!v->bk->pg) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(v->path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
  }

  free(fin);
  fclose(logf);
  bar_vec_release(&bars);
  config_release(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_prestate_setup_teardown(test_disk_full_and_back, setup,
                                               teardown, (void *)&BK_SQLITE),
      cmocka_unit_test_prestate_setup_teardown(test_disk_full_and_back, setup,
                                               teardown, (void *)&BK_PG),
  };
  if (!getenv("DTO_TEST_PG_URL"))
    fprintf(stderr, "test_runner_store: DTO_TEST_PG_URL not set: the "
                    "PostgreSQL run is skipped (make test-store-pg runs it)\n");
  return cmocka_run_group_tests(tests, NULL, NULL);
}
