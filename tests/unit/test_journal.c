/* test_journal.c - the journal writer: group commit, faults, back-pressure.
 *
 * Every test runs on SQLite (files in a temporary folder) and, when
 * DTO_TEST_PG_URL names a server, on PostgreSQL (a fresh schema per
 * database, as in test_store.c; `make test-store-pg`, part of `make check`,
 * runs it under scripts/pg-test.sh).  A "spy" store wraps the real one to count
 * transactions, to hold the writer at a gate, or to report a commit as
 * failed after it landed.  Sessions put a deterministic mix of items tagged
 * with a name, so what reached the store can be checked against a model:
 * every event exactly once and in put order, the last value of every upserted
 * row, and the row counts of the insert-only tables.
 */
#include "core/prelude.h"

#include <ftw.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "store/journal.h"
#include "store/store.h"

/* ---- fixtures (as test_store.c) --------------------------------------------
 */

typedef struct backend {
  const char *name;
  bool pg;
} backend;

static const backend BK_SQLITE = {"sqlite", false};
static const backend BK_PG = {"postgres", true};

#define MAX_DBS 16

typedef struct env {
  const backend *bk;
  bool skip;
  char base[1024];
  PGconn *admin;
  char schema[64];
  char schemas[MAX_DBS][64];
  int nschemas;
  char dir[256];
  char path[512];
  int n;
  char url[2048];
} env;

static void pg_admin_exec(env *v, const char *sql) {
  PGresult *r = PQexec(v->admin, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK &&
      PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("postgres: %s: %s", sql, PQerrorMessage(v->admin));
  PQclear(r);
}

/* A new empty database; v->url names it. */
static void fresh(env *v) {
  v->n++;
  if (v->bk->pg) {
    assert_true(v->nschemas < MAX_DBS);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(v->schema, sizeof v->schema, "dto_j%ld_%d_%ld", (long)getpid(),
             v->n, (long)(ts.tv_nsec % 100000));
    snprintf(v->schemas[v->nschemas++], sizeof v->schemas[0], "%s", v->schema);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", v->schema);
    pg_admin_exec(v, sql);
    snprintf(v->url, sizeof v->url, "%s%soptions=-csearch_path%%3D%s", v->base,
             strchr(v->base, '?') ? "&" : "?", v->schema);
  } else {
    snprintf(v->path, sizeof v->path, "%s/db%d.sqlite", v->dir, v->n);
    snprintf(v->url, sizeof v->url, "sqlite:%s", v->path);
  }
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
    snprintf(v->base, sizeof v->base, "%s", u);
    v->admin = PQconnectdb(u);
    if (PQstatus(v->admin) != CONNECTION_OK) {
      fprintf(stderr, "cannot connect to DTO_TEST_PG_URL: %s",
              PQerrorMessage(v->admin));
      return -1;
    }
    PGresult *r = PQexec(v->admin, "SET client_min_messages = warning");
    PQclear(r);
  } else {
    snprintf(v->dir, sizeof v->dir, "%s/dto-test-journal.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(v->dir))
      return -1;
  }
  fresh(v);
  return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  DTO_UNUSED(sb);
  DTO_UNUSED(flag);
  DTO_UNUSED(ftw);
  return remove(path);
}

static int teardown(void **state) {
  env *v = *state;
  if (v->admin) {
    for (int i = 0; i < v->nschemas; i++) {
      char sql[128];
      snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE",
               v->schemas[i]);
      PGresult *r = PQexec(v->admin, sql);
      PQclear(r);
    }
    PQfinish(v->admin);
  }
  if (v->dir[0])
    nftw(v->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(v);
  return 0;
}

static env *ENV(void **state) {
  env *v = *state;
  if (v->skip)
    skip();
  return v;
}

#define ERRMSG(s) store_errmsg((s), (char[STORE_ERR_MAX]){0}, STORE_ERR_MAX)

/* Open the current database (migrated).  normal: synchronous=NORMAL, for
 * the walks that open hundreds of sessions (durability is not what they
 * test: a crash of the test is not simulated). */
static store *open_db(env *v, bool normal) {
  store_options o = {.create = true,
                     .pg_pool_min = 1,
                     .pg_pool_max = 4,
                     .connect_timeout_s = 2,
                     .sqlite_synchronous =
                         normal ? STORE_SYNC_NORMAL : STORE_SYNC_FULL};
  store *s = NULL;
  char err[512];
  int rc = store_open(v->url, &o, &s, err, sizeof err);
  if (rc)
    fail_msg("store_open %s: %s (%s)", v->url, err, dto_errname(rc));
  rc = store_migrate_to(s, -1, NULL, NULL);
  if (rc)
    fail_msg("migrate: %s", ERRMSG(s));
  return s;
}

static int64_t count_of(store *s, enum store_table t) {
  int64_t n = -1;
  if (store_count(s, t, &n))
    fail_msg("count %s: %s", store_table_name(t), ERRMSG(s));
  return n;
}

/* ---- a spy store: counts, a gate, a lying commit
 * ----------------------------- */

typedef struct spy {
  store *inner; /* owned until close */
  atomic_int begins, commits, appends, rows, rollbacks;
  atomic_int lie_commits; /* commit inner, then report DTO_EIO, this often */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool gate_closed; /* begin waits while set */
  int at_gate;      /* begins waiting at the gate */
  atomic_bool closed;
} spy;

static int spy_rc(spy *p, int rc, store_err *e) {
  if (rc)
    snprintf(e->msg, sizeof e->msg, "spy: %s", ERRMSG(p->inner));
  return rc;
}

static void spy_close(void *ctx) {
  spy *p = ctx;
  store_close(p->inner);
  p->inner = NULL;
  atomic_store(&p->closed, true);
}

static const store_migration *spy_migrations(void *ctx) {
  return store_migrations(((spy *)ctx)->inner);
}

static int spy_begin(void *ctx, store_err *e) {
  spy *p = ctx;
  pthread_mutex_lock(&p->mu);
  p->at_gate++;
  pthread_cond_broadcast(&p->cv);
  while (p->gate_closed)
    pthread_cond_wait(&p->cv, &p->mu);
  p->at_gate--;
  pthread_mutex_unlock(&p->mu);
  atomic_fetch_add(&p->begins, 1);
  return spy_rc(p, store_begin(p->inner), e);
}

static int spy_commit(void *ctx, store_err *e) {
  spy *p = ctx;
  int rc = store_commit(p->inner);
  if (rc == 0)
    atomic_fetch_add(&p->commits, 1);
  if (rc == 0 && atomic_load(&p->lie_commits) > 0) {
    atomic_fetch_sub(&p->lie_commits, 1);
    snprintf(e->msg, sizeof e->msg, "spy: connection lost during commit");
    return DTO_EIO;
  }
  return spy_rc(p, rc, e);
}

static int spy_rollback(void *ctx, store_err *e) {
  spy *p = ctx;
  atomic_fetch_add(&p->rollbacks, 1);
  return spy_rc(p, store_rollback(p->inner), e);
}

static int spy_append(void *ctx, store_event *ev, size_t n, int64_t *last,
                      store_err *e) {
  spy *p = ctx;
  atomic_fetch_add(&p->appends, 1);
  return spy_rc(p, store_append(p->inner, ev, n, last), e);
}

static int spy_read_events(void *ctx, int64_t after, int64_t limit,
                           store_event_fn fn, void *arg, store_err *e) {
  spy *p = ctx;
  return spy_rc(p, store_read_events(p->inner, after, limit, fn, arg), e);
}

static int spy_max_seq(void *ctx, int64_t *seq, store_err *e) {
  spy *p = ctx;
  return spy_rc(p, store_max_seq(p->inner, seq), e);
}

#define SPY_ROW(name, type, call)                                              \
  static int spy_##name(void *ctx, const type *r, store_err *e) {              \
    spy *p = ctx;                                                              \
    atomic_fetch_add(&p->rows, 1);                                             \
    return spy_rc(p, call, e);                                                 \
  }
SPY_ROW(upsert_order, store_order, store_upsert_order(p->inner, r))
SPY_ROW(upsert_position, store_position, store_upsert_position(p->inner, r))
SPY_ROW(upsert_daily_pnl, store_daily_pnl, store_upsert_daily_pnl(p->inner, r))
SPY_ROW(insert_risk_decision, store_risk_decision,
        store_insert_risk_decision(p->inner, r))

static int spy_insert_fill(void *ctx, const store_fill *f, bool *inserted,
                           store_err *e) {
  spy *p = ctx;
  atomic_fetch_add(&p->rows, 1);
  return spy_rc(p, store_insert_fill(p->inner, f, inserted), e);
}

static int spy_check_identity(void *ctx, store_err *e) {
  spy *p = ctx;
  return spy_rc(p, store_check_identity(p->inner), e);
}

/* The ops the journal uses; the others are never called by it. */
static const store_ops spy_ops = {
    .name = "spy",
    .close = spy_close,
    .migrations = spy_migrations,
    .begin = spy_begin,
    .commit = spy_commit,
    .rollback = spy_rollback,
    .append = spy_append,
    .read_events = spy_read_events,
    .max_seq = spy_max_seq,
    .upsert_order = spy_upsert_order,
    .insert_fill = spy_insert_fill,
    .upsert_position = spy_upsert_position,
    .upsert_daily_pnl = spy_upsert_daily_pnl,
    .insert_risk_decision = spy_insert_risk_decision,
    .check_identity = spy_check_identity,
};

static spy *spy_make(store *inner) {
  spy *p = xcalloc(1, sizeof *p);
  p->inner = inner;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  return p;
}

static void spy_free(spy *p) {
  assert_true(atomic_load(&p->closed));
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

static void spy_gate(spy *p, bool closed) {
  pthread_mutex_lock(&p->mu);
  p->gate_closed = closed;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* Wait until the writer stands at the closed gate. */
static void spy_await_gate(spy *p) {
  pthread_mutex_lock(&p->mu);
  while (p->at_gate == 0)
    pthread_cond_wait(&p->cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

/* ---- the state hook
 * ---------------------------------------------------------- */

#define HOOK_MAX 16

typedef struct hook_log {
  pthread_mutex_t mu;
  int n;
  int err[HOOK_MAX];
  char msg[HOOK_MAX][STORE_ERR_MAX];
} hook_log;

static void on_state(void *ctx, int err, const char *msg) {
  hook_log *h = ctx;
  pthread_mutex_lock(&h->mu);
  if (h->n < HOOK_MAX) {
    h->err[h->n] = err;
    snprintf(h->msg[h->n], sizeof h->msg[0], "%s", msg);
  }
  h->n++;
  pthread_mutex_unlock(&h->mu);
}

static void hook_init(hook_log *h) {
  memset(h, 0, sizeof *h);
  pthread_mutex_init(&h->mu, NULL);
}

static int hook_count(hook_log *h) {
  pthread_mutex_lock(&h->mu);
  int n = h->n;
  pthread_mutex_unlock(&h->mu);
  return n;
}

/* The hook runs on the writer thread just after the state it reports is
 * published, so a barrier may return before it ran: wait for n calls (up
 * to 5 s), then check there were exactly n. */
static void await_hooks(hook_log *h, int n) {
  int64_t until = clock_mono_ns() + 5 * DTO_NS_PER_SEC;
  while (hook_count(h) < n && clock_mono_ns() < until) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(hook_count(h), n);
}

/* ---- a scripted session and its model
 * ------------------------------------------ */

static const dto_time T0 = 1736173800LL * DTO_NS_PER_SEC;

enum { I_EVENT, I_ORDER, I_FILL, I_POSITION, I_PNL, I_RISK };

/* The kind of the i-th item of a session: 40% events, the rest rows. */
static int kind_of(int i) {
  static const int k[10] = {I_EVENT, I_ORDER,    I_EVENT, I_FILL, I_EVENT,
                            I_ORDER, I_POSITION, I_EVENT, I_PNL,  I_RISK};
  return k[i % 10];
}

static void ev_payload(const char *tag, int i, char *out, size_t cap) {
  snprintf(out, cap, "{\"tag\":\"%s\",\"i\":%d,\"caf\\u00e9\":\"é\"}", tag, i);
}

static store_order order_of(const char *tag, int i) {
  store_order o = {0};
  snprintf(o.cloid, sizeof o.cloid, "%s-o%d", tag, i % 7);
  snprintf(o.broker_id, sizeof o.broker_id, "b%d", i);
  snprintf(o.account, sizeof o.account, "acct");
  snprintf(o.strategy, sizeof o.strategy, "%s", tag);
  snprintf(o.symbol, sizeof o.symbol, "AAPL");
  snprintf(o.side, sizeof o.side, i % 2 ? "buy" : "sell");
  snprintf(o.type, sizeof o.type, "limit");
  snprintf(o.tif, sizeof o.tif, "day");
  snprintf(o.state, sizeof o.state, "s%d", i);
  o.qty = (fx)i * 100000000;
  o.limit_price = 18725000000;
  o.filled = i;
  o.created = T0;
  o.updated = T0 + i;
  return o;
}

static store_fill fill_of(const char *tag, int i) {
  store_fill f = {0};
  snprintf(f.fill_id, sizeof f.fill_id, "%s-f%d", tag, i);
  snprintf(f.cloid, sizeof f.cloid, "%s-o%d", tag, i % 7);
  f.qty = i;
  f.price = 18725000000;
  f.time = T0 + i;
  return f;
}

static store_position position_of(const char *tag, int i) {
  store_position p = {0};
  snprintf(p.account, sizeof p.account, "acct");
  snprintf(p.strategy, sizeof p.strategy, "%s", tag);
  snprintf(p.symbol, sizeof p.symbol, "S%d", i % 3);
  p.qty = i;
  p.cost = (fx)i * 7;
  p.updated = T0 + i;
  return p;
}

static store_daily_pnl pnl_of(const char *tag, int i) {
  store_daily_pnl d = {0};
  snprintf(d.account, sizeof d.account, "acct");
  snprintf(d.strategy, sizeof d.strategy, "%s", tag);
  d.day = 20250106 + i % 2;
  d.realized = i;
  d.trades = i;
  d.updated = T0 + i;
  return d;
}

static store_risk_decision risk_of(const char *tag, int i) {
  store_risk_decision r = {0};
  r.time = T0 + i;
  snprintf(r.account, sizeof r.account, "acct");
  snprintf(r.strategy, sizeof r.strategy, "%s", tag);
  snprintf(r.cloid, sizeof r.cloid, "%s-r%d", tag, i);
  snprintf(r.symbol, sizeof r.symbol, "AAPL");
  r.accepted = i % 2;
  snprintf(r.reason, sizeof r.reason, "r%d", i);
  return r;
}

/* Put the i-th item of session tag; its ticket (0 when refused). */
static uint64_t put_item(journal *j, const char *tag, int i, journal_err *err) {
  switch (kind_of(i)) {
  case I_EVENT: {
    char payload[200];
    ev_payload(tag, i, payload, sizeof payload);
    store_event ev = {.time = T0 + i,
                      .type = "test.event",
                      .account = "acct",
                      .strategy = tag,
                      .payload = payload,
                      .payload_len = strlen(payload)};
    return journal_put_event(j, &ev, err);
  }
  case I_ORDER: {
    store_order o = order_of(tag, i);
    return journal_put_order(j, &o, err);
  }
  case I_FILL: {
    store_fill f = fill_of(tag, i);
    return journal_put_fill(j, &f, err);
  }
  case I_POSITION: {
    store_position p = position_of(tag, i);
    return journal_put_position(j, &p, err);
  }
  case I_PNL: {
    store_daily_pnl d = pnl_of(tag, i);
    return journal_put_daily_pnl(j, &d, err);
  }
  default: {
    store_risk_decision r = risk_of(tag, i);
    return journal_put_risk(j, &r, err);
  }
  }
}

static uint64_t put_ok(journal *j, const char *tag, int i) {
  journal_err err = {0};
  uint64_t t = put_item(j, tag, i, &err);
  if (!t)
    fail_msg("put %s #%d refused: %s (%s)", tag, i, err.msg,
             dto_errname(err.code));
  return t;
}

/* Wait until ticket is durable, riding out failures (as the engine does:
 * halt, wait, resume).  Fails the test after 10 s. */
static void barrier_eventually(journal *j, uint64_t ticket) {
  int64_t until = clock_mono_ns() + 10 * DTO_NS_PER_SEC;
  for (;;) {
    int rc = journal_barrier(j, ticket, 1000);
    if (rc == 0)
      return;
    if (rc != DTO_EIO && rc != DTO_ENOSPC && rc != DTO_EAGAIN)
      fail_msg("barrier: %s", dto_errname(rc));
    if (clock_mono_ns() > until)
      fail_msg("barrier: ticket %llu not durable after 10 s (%s)",
               (unsigned long long)ticket, dto_errname(rc));
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
  }
}

typedef struct ev_check {
  const char *tag;
  int next; /* the item index the next event must have */
  int n;    /* items in the session */
  int seen;
  char why[256];
} ev_check;

static int next_event_index(int from, int n) {
  for (int i = from; i < n; i++)
    if (kind_of(i) == I_EVENT)
      return i;
  return n;
}

static int ev_cb(void *arg, const store_event *ev) {
  ev_check *c = arg;
  if (strcmp(ev->strategy, c->tag))
    return 0;
  if (c->next >= c->n) {
    snprintf(c->why, sizeof c->why, "an extra event after the last (seq %lld)",
             (long long)ev->seq);
    return 1;
  }
  char want[200];
  ev_payload(c->tag, c->next, want, sizeof want);
  if (ev->payload_len != strlen(want) ||
      memcmp(ev->payload, want, ev->payload_len) || ev->time != T0 + c->next ||
      strcmp(ev->type, "test.event") || strcmp(ev->account, "acct")) {
    snprintf(c->why, sizeof c->why, "seq %lld: expected item %d, got %.*s",
             (long long)ev->seq, c->next, (int)ev->payload_len, ev->payload);
    return 1;
  }
  c->seen++;
  c->next = next_event_index(c->next + 1, c->n);
  return 0;
}

/* Rows of the insert-only tables before a session. */
typedef struct counts {
  int64_t fills, risks;
} counts;

static counts counts_now(store *r) {
  return (counts){count_of(r, STORE_T_FILLS),
                  count_of(r, STORE_T_RISK_DECISIONS)};
}

/* Check that items 0..n-1 of session tag are all in the store read through
 * r, exactly once, events in put order. */
static void verify_session(store *r, const char *tag, int n, counts before) {
  ev_check c = {.tag = tag, .n = n, .next = next_event_index(0, n)};
  int rc = store_read_events(r, 0, 0, ev_cb, &c);
  if (rc)
    fail_msg("session %s: events: %s", tag, c.why[0] ? c.why : ERRMSG(r));
  if (c.next != n)
    fail_msg("session %s: events end before item %d (%d seen)", tag, c.next,
             c.seen);
  int fills = 0, risks = 0;
  int last_order[7], last_pos[3], last_pnl[2];
  for (int k = 0; k < 7; k++)
    last_order[k] = -1;
  for (int k = 0; k < 3; k++)
    last_pos[k] = -1;
  last_pnl[0] = last_pnl[1] = -1;
  for (int i = 0; i < n; i++) {
    switch (kind_of(i)) {
    case I_ORDER:
      last_order[i % 7] = i;
      break;
    case I_FILL:
      fills++;
      break;
    case I_POSITION:
      last_pos[i % 3] = i;
      break;
    case I_PNL:
      last_pnl[i % 2] = i;
      break;
    case I_RISK:
      risks++;
      break;
    default:
      break;
    }
  }
  counts after = counts_now(r);
  if (after.fills - before.fills != fills ||
      after.risks - before.risks != risks)
    fail_msg("session %s: %lld fills and %lld risk decisions stored, %d and "
             "%d put",
             tag, (long long)(after.fills - before.fills),
             (long long)(after.risks - before.risks), fills, risks);
  for (int k = 0; k < 7; k++) {
    if (last_order[k] < 0)
      continue;
    store_order want = order_of(tag, last_order[k]), got;
    assert_int_equal(store_get_order(r, want.cloid, &got), 0);
    assert_string_equal(got.state, want.state);
    assert_string_equal(got.broker_id, want.broker_id);
    assert_int_equal(got.qty, want.qty);
    assert_int_equal(got.updated, want.updated);
  }
  for (int k = 0; k < 3; k++) {
    if (last_pos[k] < 0)
      continue;
    store_position want = position_of(tag, last_pos[k]), got;
    assert_int_equal(store_get_position(r, "acct", tag, want.symbol, &got), 0);
    assert_int_equal(got.qty, want.qty);
    assert_int_equal(got.cost, want.cost);
  }
  for (int k = 0; k < 2; k++) {
    if (last_pnl[k] < 0)
      continue;
    store_daily_pnl want = pnl_of(tag, last_pnl[k]), got;
    assert_int_equal(store_get_daily_pnl(r, "acct", tag, want.day, &got), 0);
    assert_int_equal(got.realized, want.realized);
  }
}

static void integrity_ok(const char *path) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(
      sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* ---- tests
 * ------------------------------------------------------------------- */

/* A few thousand mixed items, put as fast as possible, one barrier: all of
 * them land, events in put order, in far fewer transactions than items. */
static void test_group_commit(void **state) {
  env *v = ENV(state);
  spy *p = spy_make(open_db(v, false));
  journal *j =
      journal_new(store_new(&spy_ops, p), &(journal_options){.max_batch = 512});
  hook_log h;
  hook_init(&h);
  journal_on_state(j, on_state, &h);
  const int n = 3000;
  uint64_t last = 0;
  for (int i = 0; i < n; i++) {
    uint64_t t = put_ok(j, "gc", i);
    assert_int_equal(t, last + 1); /* tickets: 1, 2, 3, ... */
    last = t;
  }
  assert_int_equal(journal_barrier(j, last, 10000), 0);
  assert_int_equal(journal_durable(j), last);
  assert_int_equal(journal_barrier(j, last, 0), 0); /* already durable */
  assert_int_equal(journal_barrier(j, 0, 0), 0);
  assert_int_equal(journal_barrier(j, last + 1, 0), DTO_EINVAL);
  assert_int_equal(journal_error(j), 0);
  assert_string_equal(journal_errmsg(j, (char[64]){0}, 64), "");

  journal_stats st;
  journal_stats_get(j, &st);
  assert_int_equal(st.put, (uint64_t)n);
  assert_int_equal(st.durable, (uint64_t)n);
  assert_int_equal(st.queued, 0);
  assert_int_equal(st.queued_bytes, 0);
  assert_int_equal(st.failures, 0);
  assert_true(st.max_batch <= 512);
  int commits = atomic_load(&p->commits);
  assert_int_equal(st.commits, (uint64_t)commits);
  /* Group commit: at least 3000 / 512 transactions, far fewer than items. */
  assert_true(commits >= (n + 511) / 512);
  assert_true(commits < n / 10);
  assert_int_equal(atomic_load(&p->begins), commits);
  assert_true(atomic_load(&p->appends) <= commits); /* one append a batch */
  assert_int_equal(atomic_load(&p->rows), n - n * 4 / 10);

  /* The last event's seq is known once it is committed. */
  store *r = open_db(v, false);
  int64_t max = 0;
  assert_int_equal(store_max_seq(r, &max), 0);
  assert_int_equal(journal_last_seq(j), max);
  assert_int_equal(journal_close(j), 0);
  verify_session(r, "gc", n, (counts){0, 0});
  assert_int_equal(count_of(r, STORE_T_EVENTS), n * 4 / 10);
  store_close(r);
  assert_int_equal(hook_count(&h), 0);
  spy_free(p);
}

/* A scripted session: n items, a barrier every 10 (write-ahead). */
static void run_session(journal *j, const char *tag, int n) {
  for (int i = 0; i < n; i++) {
    uint64_t t = put_ok(j, tag, i);
    if ((i + 1) % 10 == 0 || i + 1 == n)
      barrier_eventually(j, t);
  }
}

/* FAULT WALK: fail store call N once, for every N of a scripted session.
 * The writer retries; every item lands exactly once; the hook hears
 * "unhealthy" then "healthy". */
static void test_fault_walk(void **state) {
  env *v = ENV(state);
  const int n = 100;
  /* The commit interval is long so batches are cut by the barriers only:
   * the same session makes the same store calls every time. */
  journal_options o = {
      .commit_interval_ms = 60000, .backoff_min_ms = 1, .backoff_max_ms = 4};
  store *r = open_db(v, true);

  store *f = store_faulty_new(open_db(v, true), 0, DTO_EIO);
  journal *j = journal_new(f, &o);
  counts before = counts_now(r);
  run_session(j, "w0", n);
  int total = store_faulty_calls(f);
  assert_int_equal(journal_close(j), 0);
  verify_session(r, "w0", n, before);
  /* max_seq, then 10 x (begin, append, commit) and the 60 rows (the
   * identity check after each commit is not counted: faulty.c) */
  assert_int_equal(total, 1 + 10 * 3 + 60);

  for (int k = 1; k <= total; k++) {
    char tag[16];
    snprintf(tag, sizeof tag, "w%d", k);
    int err = k % 3 ? DTO_EIO : DTO_ENOSPC;
    f = store_faulty_new(open_db(v, true), k, err);
    j = journal_new(f, &o);
    hook_log h;
    hook_init(&h);
    journal_on_state(j, on_state, &h);
    before = counts_now(r);
    run_session(j, tag, n);
    assert_int_equal(journal_error(j), 0);
    assert_true(store_faulty_calls(f) > total); /* the retry */
    journal_stats st;
    journal_stats_get(j, &st);
    assert_int_equal(st.failures, 1);
    assert_int_equal(journal_close(j), 0);
    if (hook_count(&h) != 2 || h.err[0] != err || h.err[1] != 0)
      fail_msg("call %d: hook heard %d transitions (%s, %s)", k, h.n,
               dto_errname(h.err[0]), dto_errname(h.err[1]));
    assert_non_null(strstr(h.msg[0], "injected"));
    verify_session(r, tag, n, before);
  }
  store_close(r);
}

/* DISK FULL: a sticky ENOSPC.  Barriers report it, nothing is acknowledged,
 * puts queue up to the bound and are then refused at once; when space is
 * freed everything lands and the file is sound. */
static void test_disk_full(void **state) {
  env *v = ENV(state);
  store *f = store_faulty_new(open_db(v, false), 0, DTO_ENOSPC);
  journal_options o = {.max_batch = 16,
                       .queue_max = 64,
                       .commit_interval_ms = 60000,
                       .backoff_min_ms = 1,
                       .backoff_max_ms = 8};
  journal *j = journal_new(f, &o);
  hook_log h;
  hook_init(&h);
  journal_on_state(j, on_state, &h);
  store_faulty_arm(f, 1, DTO_ENOSPC);
  store_faulty_sticky(f, true);

  uint64_t t = 0;
  for (int i = 0; i < 10; i++)
    t = put_ok(j, "df", i);
  assert_int_equal(journal_barrier(j, t, 5000), DTO_ENOSPC);
  assert_int_equal(journal_durable(j), 0);
  assert_int_equal(journal_error(j), DTO_ENOSPC);
  char msg[STORE_ERR_MAX];
  assert_non_null(strstr(journal_errmsg(j, msg, sizeof msg), "ENOSPC"));
  await_hooks(&h, 1);
  assert_int_equal(h.err[0], DTO_ENOSPC);

  /* Puts keep queueing, up to the bound. */
  for (int i = 10; i < 64; i++)
    t = put_ok(j, "df", i);
  journal_err err = {0};
  store_event ev = {.time = T0, .type = "test.refused", .strategy = "df"};
  int64_t t0 = clock_mono_ns();
  assert_int_equal(journal_put_event(j, &ev, &err), 0);
  assert_true(clock_mono_ns() - t0 < DTO_NS_PER_SEC); /* did not wait */
  assert_int_equal(err.code, DTO_EAGAIN);
  assert_non_null(strstr(err.msg, "queue full (64 items"));
  assert_non_null(strstr(err.msg, "ENOSPC"));
  assert_int_equal(journal_barrier(j, t, 50), DTO_ENOSPC);
  journal_stats st;
  journal_stats_get(j, &st);
  assert_int_equal(st.queued, 64);
  assert_int_equal(st.refused, 1);
  assert_int_equal(st.durable, 0);
  assert_true(st.failures >= 1);
  assert_int_equal(hook_count(&h), 1); /* told once, not at every retry */

  /* Space freed: the writer's next retry lands everything. */
  store_faulty_arm(f, 0, 0);
  barrier_eventually(j, t); /* errors until the next retry commits */
  assert_int_equal(journal_error(j), 0);
  assert_string_equal(journal_errmsg(j, msg, sizeof msg), "");
  await_hooks(&h, 2);
  assert_int_equal(h.err[1], 0);
  assert_int_equal(journal_close(j), 0);

  store *r = open_db(v, false);
  verify_session(r, "df", 64, (counts){0, 0});
  assert_int_equal(count_of(r, STORE_T_EVENTS), 64 * 4 / 10 + 1); /* 4 of 10 */
  store_close(r);
  if (!v->bk->pg)
    integrity_ok(v->path);
}

/* Close flushes what is queued, without any barrier; with a store that
 * keeps failing it gives up after its bounded wait. */
static void test_close(void **state) {
  env *v = ENV(state);
  journal *j = journal_new(open_db(v, false),
                           &(journal_options){.commit_interval_ms = 60000});
  for (int i = 0; i < 500; i++)
    put_ok(j, "cl", i);
  /* Nothing is written before the interval, a barrier, or close. */
  assert_int_equal(journal_durable(j), 0);
  assert_int_equal(journal_close(j), 0);
  store *r = open_db(v, false);
  verify_session(r, "cl", 500, (counts){0, 0});
  counts before = counts_now(r);

  store *f = store_faulty_new(open_db(v, false), 1, DTO_EIO);
  store_faulty_sticky(f, true);
  j = journal_new(f, &(journal_options){.commit_interval_ms = 1,
                                        .backoff_min_ms = 5,
                                        .backoff_max_ms = 10000,
                                        .close_timeout_ms = 200});
  hook_log h;
  hook_init(&h);
  journal_on_state(j, on_state, &h);
  for (int i = 0; i < 20; i++)
    put_ok(j, "cf", i);
  assert_int_equal(journal_barrier(j, 20, 5000), DTO_EIO);
  int64_t t0 = clock_mono_ns();
  assert_int_equal(journal_close(j), DTO_EIO);
  int64_t took = clock_mono_ns() - t0;
  assert_true(took >= 150 * 1000000LL);   /* it did try for its time */
  assert_true(took < 3 * DTO_NS_PER_SEC); /* and no longer */
  assert_int_equal(hook_count(&h), 1);
  counts after = counts_now(r);
  assert_int_equal(after.fills, before.fills);
  assert_int_equal(count_of(r, STORE_T_EVENTS), 200); /* cl's only */
  store_close(r);
  assert_int_equal(journal_close(NULL), 0);
}

/* A commit that landed but was reported failed (a connection lost after
 * the server committed) is recognised: the batch is not written twice. */
static void test_commit_lost_ack(void **state) {
  env *v = ENV(state);
  spy *p = spy_make(open_db(v, false));
  atomic_store(&p->lie_commits, 1);
  journal *j =
      journal_new(store_new(&spy_ops, p),
                  &(journal_options){.backoff_min_ms = 1, .backoff_max_ms = 4});
  hook_log h;
  hook_init(&h);
  journal_on_state(j, on_state, &h);
  run_session(j, "la", 50);
  await_hooks(&h, 2);
  assert_int_equal(h.err[0], DTO_EIO);
  assert_non_null(strstr(h.msg[0], "connection lost"));
  journal_stats st;
  journal_stats_get(j, &st);
  assert_int_equal(st.failures, 1);
  store *r = open_db(v, false);
  int64_t max = 0;
  assert_int_equal(store_max_seq(r, &max), 0);
  assert_int_equal(journal_last_seq(j), max);
  assert_int_equal(journal_close(j), 0);
  verify_session(r, "la", 50, (counts){0, 0});
  assert_int_equal(count_of(r, STORE_T_EVENTS), 20);
  store_close(r);
  /* The first batch committed once and was not retried. */
  assert_int_equal(atomic_load(&p->commits), atomic_load(&p->begins));
  spy_free(p);
}

/* Barrier timeouts and back-pressure on a healthy but slow store. */
static void test_slow_store(void **state) {
  env *v = ENV(state);
  spy *p = spy_make(open_db(v, false));
  spy_gate(p, true);
  journal *j = journal_new(
      store_new(&spy_ops, p),
      &(journal_options){.max_batch = 4, .queue_max = 4, .put_wait_ms = 50});
  for (int i = 0; i < 4; i++)
    put_ok(j, "sl", i);
  spy_await_gate(p); /* the writer holds a batch and waits to begin */
  assert_int_equal(journal_barrier(j, 4, 30), DTO_EAGAIN);
  assert_int_equal(journal_error(j), 0); /* slow is not failed */
  journal_err err = {0};
  int64_t t0 = clock_mono_ns();
  assert_int_equal(put_item(j, "sl", 4, &err), 0);
  assert_true(clock_mono_ns() - t0 >= 40 * 1000000LL);
  assert_int_equal(err.code, DTO_EAGAIN);
  assert_non_null(strstr(err.msg, "for 50 ms"));
  spy_gate(p, false);
  assert_int_equal(journal_barrier(j, 4, 10000), 0);
  /* Now there is room again. */
  assert_int_equal(put_ok(j, "sl", 4), 5);
  assert_int_equal(journal_barrier(j, 5, 10000), 0);
  assert_int_equal(journal_close(j), 0);
  store *r = open_db(v, false);
  verify_session(r, "sl", 5, (counts){0, 0});
  store_close(r);
  spy_free(p);
}

/* Bad items are refused at put time, naming the field, and never reach the
 * writer (where they would fail every retry). */
static void test_bad_items(void **state) {
  env *v = ENV(state);
  journal *j = journal_new(open_db(v, false), NULL);
  journal_err err;
  char big[STORE_PAYLOAD_MAX + 2];
  memset(big, 'x', sizeof big);

#define REFUSED(call, want, text)                                              \
  do {                                                                         \
    memset(&err, 0, sizeof err);                                               \
    assert_int_equal(call, 0);                                                 \
    assert_int_equal(err.code, want);                                          \
    if (!strstr(err.msg, text))                                                \
      fail_msg("message \"%s\" lacks \"%s\"", err.msg, text);                  \
  } while (0)

  store_event ev = {.time = T0, .type = "", .payload = "{}", .payload_len = 2};
  REFUSED(journal_put_event(j, &ev, &err), DTO_EINVAL,
          "event.type: must not be empty");
  ev.type = "t";
  char longid[STORE_ID_MAX + 2];
  memset(longid, 'a', STORE_ID_MAX + 1);
  longid[STORE_ID_MAX + 1] = '\0';
  char want[64];
  snprintf(want, sizeof want, "event.account: longer than %d bytes",
           STORE_ID_MAX);
  ev.account = longid;
  REFUSED(journal_put_event(j, &ev, &err), DTO_ETOOBIG, want);
  ev.account = "a";
  ev.payload = "{\"a\":\"\xff\"}";
  ev.payload_len = strlen(ev.payload);
  REFUSED(journal_put_event(j, &ev, &err), DTO_EINVAL,
          "event.payload: not valid UTF-8");
  ev.payload = "{}\0{}";
  ev.payload_len = 5;
  REFUSED(journal_put_event(j, &ev, &err), DTO_EINVAL,
          "event.payload: contains a NUL byte");
  ev.payload = big;
  ev.payload_len = STORE_PAYLOAD_MAX + 1;
  REFUSED(journal_put_event(j, &ev, &err), DTO_ETOOBIG,
          "event.payload: 65537 bytes, at most 65536");
  ev.payload = NULL;
  ev.payload_len = 3;
  REFUSED(journal_put_event(j, &ev, &err), DTO_EINVAL, "NULL with a length");
  REFUSED(journal_put_event(j, NULL, &err), DTO_EINVAL, "event: NULL");

  store_order o = order_of("bad", 1);
  o.state[0] = '\0';
  REFUSED(journal_put_order(j, &o, &err), DTO_EINVAL,
          "o.state: must not be empty");
  o = order_of("bad", 1);
  memset(o.cloid, 'c', sizeof o.cloid); /* no NUL inside the array */
  snprintf(want, sizeof want, "o.cloid: longer than %d bytes", STORE_ID_MAX);
  REFUSED(journal_put_order(j, &o, &err), DTO_ETOOBIG, want);
  store_fill fl = fill_of("bad", 1);
  fl.fill_id[0] = '\0';
  REFUSED(journal_put_fill(j, &fl, &err), DTO_EINVAL, "f.fill_id");
  store_position ps = position_of("bad", 1);
  snprintf(ps.symbol, sizeof ps.symbol, "\xc3\x28");
  REFUSED(journal_put_position(j, &ps, &err), DTO_EINVAL,
          "p.symbol: not valid UTF-8");
  store_daily_pnl d = pnl_of("bad", 1);
  d.day = 20251301;
  REFUSED(journal_put_daily_pnl(j, &d, &err), DTO_EINVAL,
          "d.day: 20251301 is not a YYYYMMDD date");
  store_risk_decision rk = risk_of("bad", 1);
  rk.account[0] = '\0';
  REFUSED(journal_put_risk(j, &rk, &err), DTO_EINVAL,
          "r.account: must not be empty");
  REFUSED(journal_put_risk(j, NULL, &err), DTO_EINVAL, "risk_decision: NULL");
  /* err may be NULL */
  assert_int_equal(journal_put_event(j, NULL, NULL), 0);

  journal_stats st;
  journal_stats_get(j, &st);
  assert_int_equal(st.put, 0);
  /* Edge values that are valid: an empty payload, the exact caps. */
  ev = (store_event){.time = T0, .type = "t"};
  assert_int_equal(journal_put_event(j, &ev, &err), 1);
  ev.payload = big;
  ev.payload_len = STORE_PAYLOAD_MAX;
  assert_int_equal(journal_put_event(j, &ev, &err), 2);
  assert_int_equal(journal_barrier(j, 2, 10000), 0);
  assert_int_equal(journal_error(j), 0);
  assert_int_equal(journal_close(j), 0);
  store *r = open_db(v, false);
  assert_int_equal(count_of(r, STORE_T_EVENTS), 2);
  store_close(r);
}

static int copy_cb(void *arg, const store_event *ev) {
  snprintf(arg, 64, "%s %.*s", ev->type, (int)ev->payload_len, ev->payload);
  return 0;
}

/* Puts from the item's caller memory are copied: changing or freeing the
 * caller's buffers after the put changes nothing. */
static void test_copied(void **state) {
  env *v = ENV(state);
  journal *j = journal_new(open_db(v, false),
                           &(journal_options){.commit_interval_ms = 60000});
  char *payload = xstrdup("{\"n\":1}");
  char *type = xstrdup("copied");
  store_event ev = {.time = T0,
                    .type = type,
                    .payload = payload,
                    .payload_len = strlen(payload)};
  uint64_t t = journal_put_event(j, &ev, NULL);
  store_order o = order_of("cp", 1);
  assert_int_equal(journal_put_order(j, &o, NULL), t + 1);
  memset(payload, 'z', strlen(payload));
  memset(type, 'z', strlen(type));
  free(payload);
  free(type);
  memset(&o, 0, sizeof o);
  assert_int_equal(journal_barrier(j, t + 1, 10000), 0);
  assert_int_equal(journal_close(j), 0);
  store *r = open_db(v, false);
  store_order got;
  assert_int_equal(store_get_order(r, "cp-o1", &got), 0);
  assert_string_equal(got.state, "s1");
  char seen[64] = "";
  assert_int_equal(store_read_events(r, 0, 0, copy_cb, seen), 0);
  assert_string_equal(seen, "copied {\"n\":1}");
  store_close(r);
}

#define BOTH(f)                                                                \
  cmocka_unit_test_prestate_setup_teardown(f, setup, teardown,                 \
                                           (void *)&BK_SQLITE),                \
      cmocka_unit_test_prestate_setup_teardown(f, setup, teardown,             \
                                               (void *)&BK_PG)

int main(void) {
  const struct CMUnitTest tests[] = {
      BOTH(test_group_commit),    BOTH(test_fault_walk),
      BOTH(test_disk_full),       BOTH(test_close),
      BOTH(test_commit_lost_ack), BOTH(test_slow_store),
      BOTH(test_bad_items),       BOTH(test_copied),
  };
  if (!getenv("DTO_TEST_PG_URL"))
    fprintf(stderr, "test_journal: DTO_TEST_PG_URL not set: PostgreSQL tests "
                    "skipped\n");
  return cmocka_run_group_tests(tests, NULL, NULL);
}
