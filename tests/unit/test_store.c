/* test_store.c - the storage conformance suite.
 *
 * One set of tests runs against every back-end: SQLite always (files in a
 * temporary folder), PostgreSQL when DTO_TEST_PG_URL names a server (each
 * database is a fresh schema selected through the URL's search_path;
 * scripts/pg-test.sh starts a throwaway server, `make test-store-pg` runs
 * this program under it).  A few tests are back-end specific: SQLite's
 * reopen + integrity check, PostgreSQL's pool under several threads.
 */
#include "core/prelude.h"

#include <dirent.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/store.h"
#include "store/store_int.h"

/* ---- fixtures ----------------------------------------------------------- */

typedef struct backend {
  const char *name;
  bool pg;
} backend;

static const backend BK_SQLITE = {"sqlite", false};
static const backend BK_PG = {"postgres", true};

#define MAX_DBS 64

typedef struct env {
  const backend *bk;
  bool skip;
  /* PostgreSQL */
  char base[1024];
  PGconn *admin;
  char schema[64];
  char schemas[MAX_DBS][64];
  int nschemas;
  /* SQLite */
  char dir[256];
  char path[512];
  int n;          /* databases made */
  char url[2048]; /* the current database */
} env;

static void pg_admin_exec(env *v, const char *sql) {
  PGresult *r = PQexec(v->admin, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK &&
      PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("postgres: %s: %s", sql, PQerrorMessage(v->admin));
  PQclear(r);
}

/* Make a new empty database and point v->url at it. */
static void fresh(env *v) {
  v->n++;
  if (v->bk->pg) {
    assert_true(v->nschemas < MAX_DBS);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(v->schema, sizeof v->schema, "dto_t%ld_%d_%ld", (long)getpid(),
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
    snprintf(v->dir, sizeof v->dir, "%s/dto-test-store.XXXXXX",
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

/* The env of a test; skips the test when its back-end is not available. */
static env *ENV(void **state) {
  env *v = *state;
  if (v->skip)
    skip();
  return v;
}

static store *open_opt(env *v, bool require_current, int pool_min,
                       int pool_max) {
  store_options o = {.require_current = require_current,
                     .create = true,
                     .pg_pool_min = pool_min,
                     .pg_pool_max = pool_max,
                     .connect_timeout_s = 1};
  store *s = NULL;
  char err[512];
  int rc = store_open(v->url, &o, &s, err, sizeof err);
  if (rc)
    fail_msg("store_open %s: %s (%s)", v->url, err, dto_errname(rc));
  assert_string_equal(store_backend(s), v->bk->name);
  return s;
}

static store *open_raw(env *v) { return open_opt(v, false, 1, 4); }

static store *open_migrated(env *v) {
  store *s = open_raw(v);
  assert_int_equal(store_migrate_to(s, -1, NULL, NULL), 0);
  return s;
}

/* Run SQL on the current database outside the store. */
static void raw_exec(env *v, const char *sql) {
  if (v->bk->pg) {
    char set[128];
    snprintf(set, sizeof set, "SET search_path TO %s", v->schema);
    pg_admin_exec(v, set);
    pg_admin_exec(v, sql);
    pg_admin_exec(v, "SET search_path TO DEFAULT");
  } else {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(v->path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
      fail_msg("sqlite: %s: %s", sql, msg);
    sqlite3_close(db);
  }
}

#define ERRMSG(s) store_errmsg((s), (char[STORE_ERR_MAX]){0}, STORE_ERR_MAX)

static int64_t count_of(store *s, enum store_table t) {
  int64_t n = -1;
  int rc = store_count(s, t, &n);
  if (rc)
    fail_msg("count %s: %s", store_table_name(t), ERRMSG(s));
  return n;
}

static store_event EV(const char *type, const char *payload) {
  return (store_event){.time = 1700000000LL * DTO_NS_PER_SEC,
                       .type = type,
                       .account = "main",
                       .strategy = "sma",
                       .payload = payload,
                       .payload_len = payload ? strlen(payload) : 0};
}

static store_order ORDER(const char *cloid) {
  store_order o = {0};
  snprintf(o.cloid, sizeof o.cloid, "%s", cloid);
  snprintf(o.account, sizeof o.account, "main");
  snprintf(o.strategy, sizeof o.strategy, "sma");
  snprintf(o.symbol, sizeof o.symbol, "AAPL");
  snprintf(o.side, sizeof o.side, "buy");
  snprintf(o.type, sizeof o.type, "limit");
  snprintf(o.tif, sizeof o.tif, "day");
  snprintf(o.state, sizeof o.state, "pending_new");
  o.qty = 100 * FX_ONE;
  o.limit_price = 18725000000; /* 187.25 */
  o.created = o.updated = 1700000000LL * DTO_NS_PER_SEC;
  return o;
}

/* Collect events read back. */
typedef struct got {
  int n;
  int64_t seq[4096];
  char type[4096][STORE_EVENT_TYPE_MAX + 1];
  size_t payload_len[4096];
  char first_payload[128];
  int stop_at; /* return 7 at this event number (1-based), 0: never */
} got;

static int collect(void *arg, const store_event *ev) {
  got *g = arg;
  assert_true(g->n < 4096);
  g->seq[g->n] = ev->seq;
  snprintf(g->type[g->n], sizeof g->type[0], "%s", ev->type);
  g->payload_len[g->n] = ev->payload_len;
  if (g->n == 0)
    snprintf(g->first_payload, sizeof g->first_payload, "%.*s",
             (int)ev->payload_len, ev->payload);
  assert_int_equal(strlen(ev->payload), ev->payload_len);
  assert_string_equal(ev->account, "main");
  assert_string_equal(ev->strategy, "sma");
  assert_int_equal(ev->time, 1700000000LL * DTO_NS_PER_SEC);
  g->n++;
  return g->stop_at && g->n == g->stop_at ? 7 : 0;
}

/* ---- migrations ------------------------------------------------------------
 */

typedef struct applied {
  int n;
  int versions[16];
} applied;

static void on_migrated(void *arg, const store_migration *m) {
  applied *a = arg;
  assert_true(a->n < 16);
  a->versions[a->n++] = m->version;
}

static void test_migrate_empty(void **state) {
  env *v = ENV(state);
  store *s = open_raw(v);
  int latest = store_latest_version(s);
  assert_true(latest >= 2);
  int ver = -1;
  assert_int_equal(store_schema_version(s, &ver), 0);
  assert_int_equal(ver, 0);
  char err[256];
  assert_int_equal(store_check_version(s, err, sizeof err), DTO_ESTATE);
  char want[256];
  snprintf(want, sizeof want,
           "database schema is at version 0, this dto needs %d: run 'dto "
           "migrate up'",
           latest);
  assert_string_equal(err, want);

  applied a = {0};
  assert_int_equal(store_migrate_to(s, -1, on_migrated, &a), 0);
  assert_int_equal(a.n, latest);
  for (int i = 0; i < latest; i++)
    assert_int_equal(a.versions[i], i + 1);
  assert_int_equal(store_schema_version(s, &ver), 0);
  assert_int_equal(ver, latest);
  assert_int_equal(store_check_version(s, err, sizeof err), 0);
  for (int t = 0; t < STORE_T_COUNT; t++)
    assert_int_equal(count_of(s, (enum store_table)t), 0);
  /* Again: nothing to do. */
  a.n = 0;
  assert_int_equal(store_migrate_to(s, -1, on_migrated, &a), 0);
  assert_int_equal(a.n, 0);
  /* No way down, no way past the latest. */
  assert_int_equal(store_migrate_to(s, 1, NULL, NULL), DTO_EUNSUPPORTED);
  assert_non_null(strstr(ERRMSG(s), "not supported"));
  assert_int_equal(store_migrate_to(s, latest + 1, NULL, NULL), DTO_ERANGE);
  assert_non_null(strstr(ERRMSG(s), "beyond the latest"));
  /* Not inside a transaction. */
  store_close(s);

  fresh(v);
  s = open_raw(v);
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_migrate_to(s, -1, NULL, NULL), DTO_ESTATE);
  assert_int_equal(store_rollback(s), 0);
  assert_int_equal(store_schema_version(s, &ver), 0);
  assert_int_equal(ver, 0);
  store_close(s);
}

/* From every earlier version to the latest, keeping the data. */
static void test_migrate_from_each_version(void **state) {
  env *v = ENV(state);
  store *s = open_raw(v);
  int latest = store_latest_version(s);
  store_close(s);
  for (int from = 0; from < latest; from++) {
    fresh(v);
    s = open_raw(v);
    applied a = {0};
    assert_int_equal(store_migrate_to(s, from, on_migrated, &a), 0);
    assert_int_equal(a.n, from);
    int ver = -1;
    assert_int_equal(store_schema_version(s, &ver), 0);
    assert_int_equal(ver, from);
    if (from >= 1) {
      store_event ev[2] = {EV("a", "{}"), EV("b", "{\"x\":1}")};
      assert_int_equal(store_append(s, ev, 2, NULL), 0);
      /* The store writes the current schema only (dto refuses to run on
       * an older one); before 0005's jseq, the row goes in as SQL. */
      if (from >= 5 || v->bk->pg) {
        store_order o = ORDER("main-sma-20250106-1");
        assert_int_equal(store_upsert_order(s, &o), 0);
      } else {
        raw_exec(v, "INSERT INTO orders VALUES ('main-sma-20250106-1', '', "
                    "'main', 'sma', 'AAPL', 'buy', 'limit', 'day', 1, 1, 0, "
                    "'new', 0, 0, 0, 1, 1)");
      }
      /* The API's tokens come with version 3, the alert history with 4. */
      int64_t n;
      if (from < 3)
        assert_int_not_equal(store_count(s, STORE_T_API_TOKENS, &n), 0);
      if (from < 4)
        assert_int_not_equal(store_count(s, STORE_T_ALERT_HISTORY, &n), 0);
    }
    a.n = 0;
    assert_int_equal(store_migrate_to(s, -1, on_migrated, &a), 0);
    assert_int_equal(a.n, latest - from);
    assert_int_equal(a.versions[0], from + 1);
    assert_int_equal(store_schema_version(s, &ver), 0);
    assert_int_equal(ver, latest);
    assert_int_equal(count_of(s, STORE_T_EVENTS), from >= 1 ? 2 : 0);
    assert_int_equal(count_of(s, STORE_T_ORDERS), from >= 1 ? 1 : 0);
    assert_int_equal(count_of(s, STORE_T_USERS), 0);
    assert_int_equal(count_of(s, STORE_T_API_TOKENS), 0);
    assert_int_equal(count_of(s, STORE_T_ALERT_HISTORY), 0);
    /* and the store writes the migrated rows */
    if (from >= 1) {
      store_order o = ORDER("main-sma-20250106-1");
      assert_int_equal(store_upsert_order(s, &o), 0);
    }
    store_close(s);
  }
}

static void test_require_current(void **state) {
  env *v = ENV(state);
  store_options o = {.require_current = true,
                     .create = true,
                     .pg_pool_min = 1,
                     .pg_pool_max = 2};
  store *s = NULL;
  char err[512];
  int latest;
  {
    store *r = open_raw(v);
    latest = store_latest_version(r);
    store_close(r);
  }
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), DTO_ESTATE);
  assert_null(s);
  char want[256];
  snprintf(want, sizeof want,
           "database schema is at version 0, this dto needs %d: run 'dto "
           "migrate up'",
           latest);
  assert_string_equal(err, want);

  store *r = open_raw(v);
  assert_int_equal(store_migrate_to(r, 1, NULL, NULL), 0);
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), DTO_ESTATE);
  snprintf(want, sizeof want,
           "database schema is at version 1, this dto needs %d: run 'dto "
           "migrate up'",
           latest);
  assert_string_equal(err, want);
  assert_int_equal(store_migrate_to(r, -1, NULL, NULL), 0);
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), 0);
  store_close(s);

  /* A newer dto migrated this database to version 7. */
  raw_exec(v, "INSERT INTO schema_migrations (version, name, applied_at) "
              "VALUES (7, '0007_future', 0)");
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), DTO_ESTATE);
  snprintf(want, sizeof want,
           "database schema version 7 is newer than this dto knows (%d)",
           latest);
  assert_string_equal(err, want);
  assert_int_equal(store_migrate_to(r, -1, NULL, NULL), DTO_ESTATE);
  assert_string_equal(ERRMSG(r), want);
  store_close(r);
}

/* The embedded migrations are the .sql files, byte for byte. */
static void test_migrations_embedded(void **state) {
  env *v = ENV(state);
  char root[512];
  snprintf(root, sizeof root, "%s", __FILE__);
  char *p = strstr(root, "tests/unit/test_store.c");
  assert_non_null(p);
  *p = '\0';
  store *s = open_raw(v);
  const store_migration *m = store_migrations(s);
  int n = 0;
  for (; m[n].version; n++) {
    assert_int_equal(m[n].version, n + 1);
    char path[1024];
    snprintf(path, sizeof path, "%ssrc/store/migrations/%s/%s.sql",
             root[0] ? root : "./", v->bk->pg ? "postgres" : "sqlite",
             m[n].name);
    FILE *f = fopen(path, "rb");
    if (!f)
      fail_msg("%s: cannot open (run the test from the repository root)", path);
    char *buf = xmalloc(1 << 20);
    size_t len = fread(buf, 1, (1 << 20) - 1, f);
    buf[len] = '\0';
    fclose(f);
    if (strcmp(buf, m[n].sql) != 0)
      fail_msg("%s differs from the embedded copy: run make (or "
               "scripts/embed-migrations.sh src/store/migrations_gen.c)",
               path);
    free(buf);
  }
  assert_int_equal(n, store_latest_version(s));
  /* And no .sql file is missing from the binary. */
  char dir[1024];
  snprintf(dir, sizeof dir, "%ssrc/store/migrations/%s", root[0] ? root : "./",
           v->bk->pg ? "postgres" : "sqlite");
  DIR *d = opendir(dir);
  assert_non_null(d);
  int files = 0;
  for (struct dirent *de; (de = readdir(d));) {
    size_t l = strlen(de->d_name);
    files += l > 4 && !strcmp(de->d_name + l - 4, ".sql");
  }
  closedir(d);
  if (files != n)
    fail_msg("%s has %d .sql files, the binary %d: run make", dir, files, n);
  store_close(s);
}

/* ---- journal ---------------------------------------------------------------
 */

static void test_append_read(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  int64_t max = -1, last = -1;
  assert_int_equal(store_max_seq(s, &max), 0);
  assert_int_equal(max, 0);

  store_event a[3] = {EV("order.new", "{\"qty\":\"100\"}"),
                      EV("order.sent", "{\"q\":\"caf\xc3\xa9 \\\" \\n\"}"),
                      EV("order.ack", "")};
  assert_int_equal(store_append(s, a, 3, &last), 0);
  assert_true(a[0].seq > 0);
  assert_true(a[1].seq > a[0].seq);
  assert_true(a[2].seq > a[1].seq);
  assert_int_equal(last, a[2].seq);

  store_event b[2] = {EV("fill", "{}"), EV("position", "[1,2]")};
  assert_int_equal(store_append(s, b, 2, NULL), 0);
  assert_true(b[0].seq > a[2].seq);
  assert_true(b[1].seq > b[0].seq);
  assert_int_equal(store_max_seq(s, &max), 0);
  assert_int_equal(max, b[1].seq);

  got *g = xcalloc(1, sizeof *g);
  assert_int_equal(store_read_events(s, 0, 0, collect, g), 0);
  assert_int_equal(g->n, 5);
  const char *types[5] = {"order.new", "order.sent", "order.ack", "fill",
                          "position"};
  int64_t seqs[5] = {a[0].seq, a[1].seq, a[2].seq, b[0].seq, b[1].seq};
  for (int i = 0; i < 5; i++) {
    assert_string_equal(g->type[i], types[i]);
    assert_int_equal(g->seq[i], seqs[i]);
  }
  assert_string_equal(g->first_payload, "{\"qty\":\"100\"}");
  assert_int_equal(g->payload_len[1], strlen(a[1].payload));
  assert_int_equal(g->payload_len[2], 0);

  /* After a seq, with a limit. */
  memset(g, 0, sizeof *g);
  assert_int_equal(store_read_events(s, a[1].seq, 2, collect, g), 0);
  assert_int_equal(g->n, 2);
  assert_int_equal(g->seq[0], a[2].seq);
  assert_int_equal(g->seq[1], b[0].seq);
  /* The callback stops the read and its value comes back. */
  memset(g, 0, sizeof *g);
  g->stop_at = 2;
  assert_int_equal(store_read_events(s, 0, 0, collect, g), 7);
  assert_int_equal(g->n, 2);
  /* Past the end. */
  memset(g, 0, sizeof *g);
  assert_int_equal(store_read_events(s, max, 0, collect, g), 0);
  assert_int_equal(g->n, 0);

  /* A big batch: more than one pipeline chunk and one read batch. */
  enum { BIG = 2500 };
  store_event *big = xcalloc(BIG, sizeof *big);
  for (int i = 0; i < BIG; i++)
    big[i] = EV(i % 2 ? "odd" : "even", "{\"i\":1}");
  assert_int_equal(store_append(s, big, BIG, &last), 0);
  for (int i = 1; i < BIG; i++)
    assert_true(big[i].seq > big[i - 1].seq);
  assert_int_equal(last, big[BIG - 1].seq);
  memset(g, 0, sizeof *g);
  assert_int_equal(store_read_events(s, max, 0, collect, g), 0);
  assert_int_equal(g->n, BIG);
  for (int i = 0; i < BIG; i++) {
    assert_int_equal(g->seq[i], big[i].seq);
    assert_string_equal(g->type[i], i % 2 ? "odd" : "even");
  }
  assert_int_equal(count_of(s, STORE_T_EVENTS), 5 + BIG);
  free(big);
  free(g);
  store_close(s);
}

static void test_append_limits(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  char *big = xmalloc(STORE_PAYLOAD_MAX + 2);
  memset(big, 'x', STORE_PAYLOAD_MAX + 1);
  big[0] = '"';
  big[STORE_PAYLOAD_MAX - 1] = '"';
  big[STORE_PAYLOAD_MAX + 1] = '\0';

  /* Exactly at the cap: fine, and it comes back whole. */
  store_event ok = EV("big", big);
  ok.payload_len = STORE_PAYLOAD_MAX;
  assert_int_equal(store_append(s, &ok, 1, NULL), 0);
  got *g = xcalloc(1, sizeof *g);
  assert_int_equal(store_read_events(s, 0, 0, collect, g), 0);
  assert_int_equal(g->n, 1);
  assert_int_equal(g->payload_len[0], STORE_PAYLOAD_MAX);

  /* One past it, second of a batch: the whole batch is refused. */
  store_event two[2] = {EV("a", "{}"), EV("big", big)};
  two[1].payload_len = STORE_PAYLOAD_MAX + 1;
  assert_int_equal(store_append(s, two, 2, NULL), DTO_ETOOBIG);
  assert_non_null(strstr(ERRMSG(s), "event[1].payload"));
  assert_int_equal(count_of(s, STORE_T_EVENTS), 1);

  struct {
    store_event ev;
    int rc;
    const char *msg;
  } bad[] = {
      {EV("", "{}"), DTO_EINVAL, "event[0].type: must not be empty"},
      {EV(NULL, "{}"), DTO_EINVAL, "event[0].type: must not be empty"},
      {EV("a-type-that-is-much-longer-than-forty-eight-bytes-long", "{}"),
       DTO_ETOOBIG, "event[0].type: longer than 48 bytes"},
      {EV("a", "\xff\xfe"), DTO_EINVAL, "event[0].payload: not valid UTF-8"},
      {EV("a", "\xed\xa0\x80"), DTO_EINVAL, "not valid UTF-8"}, /* surrogate */
      {EV("a", "\xc0\xaf"), DTO_EINVAL, "not valid UTF-8"},     /* overlong */
      {EV("\xe2\x82", "{}"), DTO_EINVAL, "event[0].type: not valid UTF-8"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    assert_int_equal(store_append(s, &bad[i].ev, 1, NULL), bad[i].rc);
    if (!strstr(ERRMSG(s), bad[i].msg))
      fail_msg("case %zu: '%s' does not hold '%s'", i, ERRMSG(s), bad[i].msg);
  }
  store_event nul = EV("a", "{}");
  nul.payload = "{\0}";
  nul.payload_len = 3;
  assert_int_equal(store_append(s, &nul, 1, NULL), DTO_EINVAL);
  assert_non_null(strstr(ERRMSG(s), "NUL"));
  char account[STORE_ID_MAX + 2];
  memset(account, 'a', sizeof account - 1);
  account[sizeof account - 1] = '\0';
  store_event longacct = EV("a", "{}");
  longacct.account = account;
  assert_int_equal(store_append(s, &longacct, 1, NULL), DTO_ETOOBIG);
  assert_non_null(strstr(ERRMSG(s), "event[0].account"));
  assert_int_equal(store_append(s, &ok, 0, NULL), DTO_EINVAL);
  assert_int_equal(store_append(s, NULL, 1, NULL), DTO_EINVAL);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 1);
  free(g);
  free(big);
  store_close(s);
}

/* A batch that fails halfway in the database leaves nothing behind. */
static void test_append_atomic(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  if (v->bk->pg)
    raw_exec(v, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN IF NEW.type = 'boom' THEN RAISE EXCEPTION 'boom'; "
                "END IF; RETURN NEW; END $$; CREATE TRIGGER boom BEFORE "
                "INSERT ON events FOR EACH ROW EXECUTE FUNCTION boom()");
  else
    raw_exec(v, "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.type = "
                "'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
  store_event one = EV("ok", "{}");
  assert_int_equal(store_append(s, &one, 1, NULL), 0);
  store_event ev[600];
  for (int i = 0; i < 600; i++)
    ev[i] = EV(i == 599 ? "boom" : "ok", "{}");
  /* Outside a transaction: the batch is all or nothing. */
  assert_int_not_equal(store_append(s, ev, 600, NULL), 0);
  assert_non_null(strstr(ERRMSG(s), "boom"));
  assert_int_equal(ev[0].seq, 0);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 1);
  /* Inside one: the transaction fails and rolls back whole. */
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_append(s, &one, 1, NULL), 0);
  assert_int_not_equal(store_append(s, ev, 600, NULL), 0);
  assert_int_equal(store_commit(s), DTO_ESTATE);
  assert_int_equal(store_rollback(s), 0);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 1);
  assert_int_equal(store_append(s, ev, 599, NULL), 0);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 600);
  store_close(s);
}

/* ---- transactions -------------------------------------------------------- */

static void test_transactions(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  int64_t max0, max1;
  assert_int_equal(store_commit(s), DTO_ESTATE);
  assert_int_equal(store_rollback(s), DTO_ESTATE);

  /* Committed: everything visible. */
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_begin(s), DTO_ESTATE);
  store_event ev[2] = {EV("a", "{}"), EV("b", "{}")};
  assert_int_equal(store_append(s, ev, 2, NULL), 0);
  store_order o = ORDER("c1");
  assert_int_equal(store_upsert_order(s, &o), 0);
  store_order back;
  assert_int_equal(store_get_order(s, "c1", &back), 0); /* own writes */
  assert_int_equal(store_commit(s), 0);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 2);
  assert_int_equal(store_max_seq(s, &max0), 0);
  assert_int_equal(max0, ev[1].seq);

  /* Rolled back: nothing left. */
  assert_int_equal(store_begin(s), 0);
  store_event ev2[3] = {EV("c", "{}"), EV("d", "{}"), EV("e", "{}")};
  assert_int_equal(store_append(s, ev2, 3, NULL), 0);
  o = ORDER("c2");
  assert_int_equal(store_upsert_order(s, &o), 0);
  store_fill f = {.fill_id = "x1", .cloid = "c2", .qty = FX_ONE};
  assert_int_equal(store_insert_fill(s, &f, NULL), 0);
  assert_int_equal(store_snapshot_put(s, 5, 1, "abc", 3), 0);
  assert_int_equal(store_rollback(s), 0);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 2);
  assert_int_equal(count_of(s, STORE_T_ORDERS), 1);
  assert_int_equal(count_of(s, STORE_T_FILLS), 0);
  assert_int_equal(count_of(s, STORE_T_SNAPSHOTS), 0);
  assert_int_equal(store_get_order(s, "c2", &back), DTO_ENOENT);
  assert_int_equal(store_max_seq(s, &max1), 0);
  assert_int_equal(max1, max0);
  /* Seqs keep increasing after a rollback. */
  store_event ev3 = EV("f", "{}");
  assert_int_equal(store_append(s, &ev3, 1, NULL), 0);
  assert_true(ev3.seq > max0);
  store_close(s);
}

/* A statement that fails inside a transaction poisons it until rollback. */
static void test_failed_transaction(void **state) {
  env *v = ENV(state);
  store *s = open_raw(v);
  assert_int_equal(store_migrate_to(s, 1, NULL, NULL), 0); /* no users */
  assert_int_equal(store_begin(s), 0);
  store_event ev = EV("a", "{}");
  assert_int_equal(store_append(s, &ev, 1, NULL), 0);
  int64_t n;
  assert_int_not_equal(store_count(s, STORE_T_USERS, &n), 0);
  assert_non_null(strstr(ERRMSG(s), "users"));
  assert_int_equal(store_append(s, &ev, 1, NULL), DTO_ESTATE);
  assert_non_null(strstr(ERRMSG(s), "roll it back"));
  assert_int_equal(store_commit(s), DTO_ESTATE);
  assert_int_equal(store_rollback(s), 0);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 0);
  /* And the store works again. */
  assert_int_equal(store_append(s, &ev, 1, NULL), 0);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 1);
  store_close(s);
}

/* ---- orders, fills, positions, P&L, risk --------------------------------- */

static void assert_order_equal(const store_order *a, const store_order *b) {
  assert_string_equal(a->cloid, b->cloid);
  assert_string_equal(a->broker_id, b->broker_id);
  assert_string_equal(a->account, b->account);
  assert_string_equal(a->strategy, b->strategy);
  assert_string_equal(a->symbol, b->symbol);
  assert_string_equal(a->side, b->side);
  assert_string_equal(a->type, b->type);
  assert_string_equal(a->tif, b->tif);
  assert_string_equal(a->state, b->state);
  assert_int_equal(a->qty, b->qty);
  assert_int_equal(a->limit_price, b->limit_price);
  assert_int_equal(a->stop_price, b->stop_price);
  assert_int_equal(a->filled, b->filled);
  assert_int_equal(a->avg_price, b->avg_price);
  assert_int_equal(a->fees, b->fees);
  assert_int_equal(a->created, b->created);
  assert_int_equal(a->updated, b->updated);
}

static void test_orders(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  store_order o = ORDER("main-sma-20250106-1"), back;
  assert_int_equal(store_get_order(s, o.cloid, &back), DTO_ENOENT);
  assert_int_equal(store_upsert_order(s, &o), 0);
  assert_int_equal(store_get_order(s, o.cloid, &back), 0);
  assert_order_equal(&back, &o);

  /* Update: every column but cloid and created. */
  store_order u = o;
  snprintf(u.broker_id, sizeof u.broker_id, "b-42");
  snprintf(u.state, sizeof u.state, "partially_filled");
  u.filled = 40 * FX_ONE;
  u.avg_price = 18720000000;
  u.fees = 123456789;
  u.stop_price = FX_MAX; /* extremes round-trip exactly */
  u.qty = FX_MIN;
  u.created = 5; /* ignored */
  u.updated = o.updated + DTO_NS_PER_SEC;
  assert_int_equal(store_upsert_order(s, &u), 0);
  assert_int_equal(store_get_order(s, o.cloid, &back), 0);
  u.created = o.created;
  assert_order_equal(&back, &u);
  assert_int_equal(count_of(s, STORE_T_ORDERS), 1);

  /* Bad input names the field. */
  store_order bad = o;
  bad.state[0] = '\0';
  assert_int_equal(store_upsert_order(s, &bad), DTO_EINVAL);
  assert_string_equal(ERRMSG(s), "o.state: must not be empty");
  bad = o;
  memset(bad.cloid, 'c', sizeof bad.cloid); /* no NUL inside the array */
  assert_int_equal(store_upsert_order(s, &bad), DTO_ETOOBIG);
  assert_string_equal(ERRMSG(s), "o.cloid: longer than 96 bytes");
  bad = o;
  snprintf(bad.symbol, sizeof bad.symbol, "\xc3");
  assert_int_equal(store_upsert_order(s, &bad), DTO_EINVAL);
  assert_int_equal(store_get_order(s, "", &back), DTO_EINVAL);
  store_close(s);
}

static void test_fills_positions_pnl_risk(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  store_fill f = {.fill_id = "exec-1",
                  .cloid = "c1",
                  .qty = 10 * FX_ONE,
                  .price = 18725000000,
                  .fee = 5000000,
                  .time = 99};
  bool ins = false;
  assert_int_equal(store_insert_fill(s, &f, &ins), 0);
  assert_true(ins);
  f.qty = 999; /* the same fill again: kept as it was */
  assert_int_equal(store_insert_fill(s, &f, &ins), 0);
  assert_false(ins);
  snprintf(f.fill_id, sizeof f.fill_id, "exec-2");
  assert_int_equal(store_insert_fill(s, &f, &ins), 0);
  assert_true(ins);
  assert_int_equal(count_of(s, STORE_T_FILLS), 2);
  f.fill_id[0] = '\0';
  assert_int_equal(store_insert_fill(s, &f, &ins), DTO_EINVAL);

  store_position p = {.account = "main",
                      .strategy = "sma",
                      .symbol = "AAPL",
                      .qty = 10 * FX_ONE,
                      .cost = 1872500000000,
                      .realized = -12345,
                      .fees = 5000000,
                      .updated = 7};
  store_position pb;
  assert_int_equal(store_get_position(s, "main", "sma", "AAPL", &pb),
                   DTO_ENOENT);
  assert_int_equal(store_upsert_position(s, &p), 0);
  p.qty = -3 * FX_ONE;
  p.updated = 8;
  assert_int_equal(store_upsert_position(s, &p), 0);
  assert_int_equal(store_get_position(s, "main", "sma", "AAPL", &pb), 0);
  assert_string_equal(pb.symbol, "AAPL");
  assert_int_equal(pb.qty, -3 * FX_ONE);
  assert_int_equal(pb.cost, p.cost);
  assert_int_equal(pb.realized, -12345);
  assert_int_equal(pb.fees, p.fees);
  assert_int_equal(pb.updated, 8);
  p.strategy[0] = '\0'; /* an account-level position */
  assert_int_equal(store_upsert_position(s, &p), 0);
  assert_int_equal(store_get_position(s, "main", NULL, "AAPL", &pb), 0);
  assert_int_equal(count_of(s, STORE_T_POSITIONS), 2);

  store_daily_pnl d = {.account = "main",
                       .strategy = "sma",
                       .day = 20250106,
                       .realized = 100,
                       .unrealized = -50,
                       .fees = 3,
                       .trades = 4,
                       .updated = 9};
  store_daily_pnl db;
  assert_int_equal(store_upsert_daily_pnl(s, &d), 0);
  d.realized = 200;
  d.trades = 5;
  assert_int_equal(store_upsert_daily_pnl(s, &d), 0);
  assert_int_equal(store_get_daily_pnl(s, "main", "sma", 20250106, &db), 0);
  assert_int_equal(db.day, 20250106);
  assert_int_equal(db.realized, 200);
  assert_int_equal(db.unrealized, -50);
  assert_int_equal(db.trades, 5);
  assert_int_equal(store_get_daily_pnl(s, "main", "sma", 20250107, &db),
                   DTO_ENOENT);
  d.day = 20251301;
  assert_int_equal(store_upsert_daily_pnl(s, &d), DTO_EINVAL);
  assert_non_null(strstr(ERRMSG(s), "day"));
  assert_int_equal(count_of(s, STORE_T_DAILY_PNL), 1);

  store_risk_decision r = {.time = 1,
                           .account = "main",
                           .strategy = "sma",
                           .cloid = "c1",
                           .symbol = "AAPL",
                           .check = "max_position",
                           .accepted = false,
                           .reason = "position would exceed 1000 shares"};
  assert_int_equal(store_insert_risk_decision(s, &r), 0);
  r.accepted = true;
  r.check[0] = '\0';
  assert_int_equal(store_insert_risk_decision(s, &r), 0);
  assert_int_equal(count_of(s, STORE_T_RISK_DECISIONS), 2);
  store_close(s);
}

/* ---- recovery reads: listings and the journal's end ----------------------
 */

/* Rows a listing handed to its callback. */
typedef struct olist {
  int n;
  store_order o[512];
  int stop_at; /* return 9 at this row (1-based), 0: never */
} olist;

static int collect_order(void *arg, const store_order *o) {
  olist *l = arg;
  assert_true(l->n < (int)DTO_ARRAY_LEN(l->o));
  l->o[l->n++] = *o;
  return l->stop_at && l->n == l->stop_at ? 9 : 0;
}

typedef struct plist {
  int n;
  store_position p[64];
  int stop_at;
} plist;

static int collect_position(void *arg, const store_position *p) {
  plist *l = arg;
  assert_true(l->n < (int)DTO_ARRAY_LEN(l->p));
  l->p[l->n++] = *p;
  return l->stop_at && l->n == l->stop_at ? 9 : 0;
}

/* List the orders into a fresh *l; returns the listing's result. */
static int list_orders(store *s, bool open_only, olist *l, int stop_at) {
  memset(l, 0, sizeof *l);
  l->stop_at = stop_at;
  return store_list_orders(s, open_only, collect_order, l);
}

static int list_positions(store *s, plist *l, int stop_at) {
  memset(l, 0, sizeof *l);
  l->stop_at = stop_at;
  return store_list_positions(s, collect_position, l);
}

/* The order the listings promise: created, then cloid bytewise (strcmp
 * compares as unsigned char). */
static int by_created_cloid(const void *a, const void *b) {
  const store_order *x = a, *y = b;
  if (x->created != y->created)
    return x->created < y->created ? -1 : 1;
  return strcmp(x->cloid, y->cloid);
}

static bool is_terminal(const char *state) {
  static const char *const t[] = {"filled", "canceled", "rejected", "expired",
                                  "replaced"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(t); i++)
    if (!strcmp(state, t[i]))
      return true;
  return false;
}

/* Every order state the engine uses (engine/order.c), and one it does not:
 * states are matched exactly, so "FILLED" is not terminal. */
static const char *const ALL_STATES[] = {
    "new",     "pending_new",    "accepted", "partially_filled",
    "filled",  "pending_cancel", "canceled", "rejected",
    "expired", "replaced",       "FILLED"};
static const char *const TERMINAL[] = {"filled", "canceled", "rejected",
                                       "expired", "replaced"};

/* On PostgreSQL, give a column a collation that does not sort bytewise
 * ("a" < "B"), when the server has one: the listings must not depend on
 * the database's collation.  Returns whether it did. */
static bool pg_icu_column(env *v, const char *table, const char *column) {
  if (!v->bk->pg)
    return false;
  PGresult *r = PQexec(v->admin, "SELECT 1 FROM pg_collation WHERE collname "
                                 "= 'und-x-icu'");
  bool has = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
  PQclear(r);
  if (!has)
    return false;
  char sql[256];
  snprintf(sql, sizeof sql,
           "ALTER TABLE %s ALTER COLUMN %s TYPE text COLLATE \"und-x-icu\"",
           table, column);
  raw_exec(v, sql);
  return true;
}

static void test_list_orders(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  if (pg_icu_column(v, "orders", "cloid"))
    print_message("orders.cloid has collation und-x-icu\n");
  olist *l = xcalloc(1, sizeof *l);
  /* Empty: fn is never called. */
  assert_int_equal(list_orders(s, false, l, 0), 0);
  assert_int_equal(l->n, 0);
  assert_int_equal(list_orders(s, true, l, 0), 0);
  assert_int_equal(l->n, 0);

  /* One order per state, created in a shuffled order, every field set. */
  const dto_time t0 = 1700000000LL * DTO_NS_PER_SEC;
  enum { NS = DTO_ARRAY_LEN(ALL_STATES) };
  store_order want[NS + 4];
  int n = 0;
  for (int i = 0; i < NS; i++) {
    char cloid[32];
    snprintf(cloid, sizeof cloid, "o%02d-%s", i, ALL_STATES[i]);
    store_order o = ORDER(cloid);
    snprintf(o.state, sizeof o.state, "%s", ALL_STATES[i]);
    snprintf(o.broker_id, sizeof o.broker_id, "b%d", i);
    snprintf(o.symbol, sizeof o.symbol, i % 2 ? "MSFT" : "AAPL");
    snprintf(o.side, sizeof o.side, i % 3 ? "buy" : "sell");
    o.created = t0 + ((i * 7) % NS) * DTO_NS_PER_SEC; /* a permutation */
    o.updated = o.created + i;
    o.qty = (i + 1) * FX_ONE;
    o.filled = i * FX_ONE / 2;
    o.avg_price = 18700000000 + i;
    o.fees = -i;
    o.stop_price = i == 3 ? FX_MAX : 0;
    want[n++] = o;
  }
  /* Equal created: cloids bytewise ("B" < "a-1" < "b"), whatever the
   * insertion order; an earlier created wins over any cloid. */
  const char *ties[] = {"b", "B", "a-1"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(ties); i++) {
    store_order o = ORDER(ties[i]);
    snprintf(o.state, sizeof o.state, "accepted");
    o.created = o.updated = t0 + 100 * DTO_NS_PER_SEC;
    want[n++] = o;
  }
  store_order first = ORDER("zzz-first");
  first.created = first.updated = t0 - DTO_NS_PER_SEC;
  want[n++] = first;
  for (int i = 0; i < n; i++)
    assert_int_equal(store_upsert_order(s, &want[i]), 0);
  qsort(want, (size_t)n, sizeof want[0], by_created_cloid);
  assert_string_equal(want[0].cloid, "zzz-first");
  assert_string_equal(want[n - 3].cloid, "B");

  /* All of them, in order, every field as stored. */
  assert_int_equal(list_orders(s, false, l, 0), 0);
  assert_int_equal(l->n, n);
  for (int i = 0; i < n; i++)
    assert_order_equal(&l->o[i], &want[i]);

  /* Open only: the same order, without the five terminal states. */
  assert_int_equal(list_orders(s, true, l, 0), 0);
  assert_int_equal(l->n, n - (int)DTO_ARRAY_LEN(TERMINAL));
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (is_terminal(want[i].state))
      continue;
    assert_true(k < l->n);
    assert_order_equal(&l->o[k++], &want[i]);
  }
  assert_int_equal(k, l->n);
  bool seen_upper = false;
  for (int i = 0; i < l->n; i++) {
    assert_false(is_terminal(l->o[i].state));
    seen_upper |= !strcmp(l->o[i].state, "FILLED");
  }
  assert_true(seen_upper);

  /* Each terminal state on its own: an open order moved to it leaves the
   * open list, and comes back when moved to an open state. */
  int open_n = l->n;
  store_order mv = ORDER("b");
  mv.created = t0 + 100 * DTO_NS_PER_SEC;
  for (size_t t = 0; t < DTO_ARRAY_LEN(TERMINAL); t++) {
    snprintf(mv.state, sizeof mv.state, "%s", TERMINAL[t]);
    assert_int_equal(store_upsert_order(s, &mv), 0);
    assert_int_equal(list_orders(s, true, l, 0), 0);
    assert_int_equal(l->n, open_n - 1);
    for (int i = 0; i < l->n; i++)
      assert_string_not_equal(l->o[i].cloid, "b");
    assert_int_equal(list_orders(s, false, l, 0), 0);
    assert_int_equal(l->n, n);
    snprintf(mv.state, sizeof mv.state, "pending_cancel");
    assert_int_equal(store_upsert_order(s, &mv), 0);
    assert_int_equal(list_orders(s, true, l, 0), 0);
    assert_int_equal(l->n, open_n);
  }

  /* fn stops the listing; its value comes back. */
  assert_int_equal(list_orders(s, false, l, 3), 9);
  assert_int_equal(l->n, 3);
  for (int i = 0; i < 3; i++)
    assert_string_equal(l->o[i].cloid, want[i].cloid);
  assert_int_equal(list_orders(s, true, l, 1), 9);
  assert_int_equal(l->n, 1);
  assert_string_equal(l->o[0].cloid, "zzz-first");
  assert_int_equal(store_list_orders(s, false, NULL, NULL), DTO_EINVAL);
  assert_string_equal(ERRMSG(s), "list_orders: no callback");

  /* Inside a transaction: its own writes, gone after the rollback. */
  assert_int_equal(store_begin(s), 0);
  store_order early = ORDER("in-txn");
  early.created = t0 - 2 * DTO_NS_PER_SEC;
  assert_int_equal(store_upsert_order(s, &early), 0);
  assert_int_equal(list_orders(s, true, l, 0), 0);
  assert_int_equal(l->n, open_n + 1);
  assert_string_equal(l->o[0].cloid, "in-txn");
  assert_int_equal(store_rollback(s), 0);
  assert_int_equal(list_orders(s, false, l, 0), 0);
  assert_int_equal(l->n, n);
  assert_string_equal(l->o[0].cloid, "zzz-first");
  free(l);
  store_close(s);
}

/* Many rows through one connection: a listing stopped early leaves the
 * connection (and a transaction on it) usable. */
static void test_list_orders_many(void **state) {
  env *v = ENV(state);
  store *s = open_opt(v, false, 1, 1);
  assert_int_equal(store_migrate_to(s, -1, NULL, NULL), 0);
  enum { N = 400 };
  const dto_time t0 = 1700000000LL * DTO_NS_PER_SEC;
  assert_int_equal(store_begin(s), 0);
  for (int i = 0; i < N; i++) {
    char cloid[32];
    snprintf(cloid, sizeof cloid, "c%03d", (i * 151) % N); /* shuffled */
    store_order o = ORDER(cloid);
    o.created = t0 + (i % 7) * DTO_NS_PER_SEC; /* many ties */
    snprintf(o.state, sizeof o.state, "%s", i % 4 ? "accepted" : "filled");
    assert_int_equal(store_upsert_order(s, &o), 0);
  }
  assert_int_equal(store_commit(s), 0);
  olist *l = xcalloc(1, sizeof *l);
  assert_int_equal(list_orders(s, false, l, 0), 0);
  assert_int_equal(l->n, N);
  for (int i = 1; i < N; i++)
    assert_true(by_created_cloid(&l->o[i - 1], &l->o[i]) < 0);
  assert_int_equal(list_orders(s, true, l, 0), 0);
  assert_int_equal(l->n, N - N / 4);
  for (int i = 0; i < l->n; i++)
    assert_string_equal(l->o[i].state, "accepted");

  assert_int_equal(list_orders(s, false, l, 150), 9);
  assert_int_equal(l->n, 150);
  int64_t max = -1;
  assert_int_equal(store_max_seq(s, &max), 0);
  assert_int_equal(max, 0);
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(list_orders(s, true, l, 2), 9);
  store_order more = ORDER("c999");
  assert_int_equal(store_upsert_order(s, &more), 0);
  assert_int_equal(store_commit(s), 0);
  assert_int_equal(count_of(s, STORE_T_ORDERS), N + 1);
  free(l);
  store_close(s);
}

static void test_list_positions(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  if (pg_icu_column(v, "positions", "account"))
    print_message("positions.account has collation und-x-icu\n");
  plist *l = xcalloc(1, sizeof *l);
  assert_int_equal(list_positions(s, l, 0), 0);
  assert_int_equal(l->n, 0);

  /* Inserted in this order; listed bytewise by account, strategy, symbol
   * ("" first, capitals before small letters). */
  const char *rows[][3] = {
      {"main", "sma", "MSFT"}, {"main", "", "AAPL"},   {"alt", "sma", "AAPL"},
      {"main", "sma", "AAPL"}, {"main", "Sma", "ZZZ"}, {"main", "sma", "BRK.B"},
      {"Main", "sma", "AAPL"},
  };
  const int order[] = {6, 2, 1, 4, 3, 5, 0}; /* rows[] index of each row */
  enum { NP = DTO_ARRAY_LEN(rows) };
  store_position p[NP];
  for (int i = 0; i < NP; i++) {
    p[i] = (store_position){.qty = (i + 1) * FX_ONE,
                            .cost = (i + 1) * 18725000000,
                            .realized = -i,
                            .fees = i * 1000,
                            .updated = 1000 - i}; /* not the order */
    snprintf(p[i].account, sizeof p[i].account, "%s", rows[i][0]);
    snprintf(p[i].strategy, sizeof p[i].strategy, "%s", rows[i][1]);
    snprintf(p[i].symbol, sizeof p[i].symbol, "%s", rows[i][2]);
    assert_int_equal(store_upsert_position(s, &p[i]), 0);
  }
  /* A replaced row is listed once, with its new values. */
  p[3].qty = -5 * FX_ONE;
  p[3].updated = 2000;
  assert_int_equal(store_upsert_position(s, &p[3]), 0);

  assert_int_equal(list_positions(s, l, 0), 0);
  assert_int_equal(l->n, NP);
  for (int i = 0; i < NP; i++) {
    const store_position *w = &p[order[i]], *g = &l->p[i];
    assert_string_equal(g->account, w->account);
    assert_string_equal(g->strategy, w->strategy);
    assert_string_equal(g->symbol, w->symbol);
    assert_int_equal(g->qty, w->qty);
    assert_int_equal(g->cost, w->cost);
    assert_int_equal(g->realized, w->realized);
    assert_int_equal(g->fees, w->fees);
    assert_int_equal(g->updated, w->updated);
  }
  assert_int_equal(l->p[4].qty, -5 * FX_ONE);

  assert_int_equal(list_positions(s, l, 2), 9);
  assert_int_equal(l->n, 2);
  assert_string_equal(l->p[0].account, "Main");
  assert_string_equal(l->p[1].account, "alt");
  assert_int_equal(store_list_positions(s, NULL, NULL), DTO_EINVAL);
  assert_string_equal(ERRMSG(s), "list_positions: no callback");
  free(l);
  store_close(s);
}

static void test_last_event(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  int64_t seq = -1;
  dto_time t = -1;
  assert_int_equal(store_last_event(s, &seq, &t), 0);
  assert_int_equal(seq, 0);
  assert_int_equal(t, 0);
  seq = -1;
  assert_int_equal(store_last_event(s, &seq, NULL), 0);
  assert_int_equal(seq, 0);

  /* The highest seq, not the latest time. */
  const dto_time t0 = 1700000000LL * DTO_NS_PER_SEC;
  store_event ev[3] = {EV("a", "{}"), EV("b", "{}"), EV("c", "{}")};
  ev[0].time = t0 + 30;
  ev[1].time = t0 + 10;
  ev[2].time = t0 + 20;
  assert_int_equal(store_append(s, ev, 3, NULL), 0);
  assert_int_equal(store_last_event(s, &seq, &t), 0);
  assert_int_equal(seq, ev[2].seq);
  assert_int_equal(t, t0 + 20);
  int64_t max;
  assert_int_equal(store_max_seq(s, &max), 0);
  assert_int_equal(seq, max);

  store_event one = EV("d", "{}");
  one.time = 5; /* earlier than all */
  assert_int_equal(store_append(s, &one, 1, NULL), 0);
  assert_int_equal(store_last_event(s, &seq, &t), 0);
  assert_int_equal(seq, one.seq);
  assert_int_equal(t, 5);

  /* A transaction sees its own append; after a rollback the end is back. */
  assert_int_equal(store_begin(s), 0);
  store_event two = EV("e", "{}");
  two.time = t0 + 99;
  assert_int_equal(store_append(s, &two, 1, NULL), 0);
  assert_int_equal(store_last_event(s, &seq, &t), 0);
  assert_int_equal(seq, two.seq);
  assert_int_equal(t, t0 + 99);
  assert_int_equal(store_rollback(s), 0);
  assert_int_equal(store_last_event(s, &seq, &t), 0);
  assert_int_equal(seq, one.seq);
  assert_int_equal(t, 5);

  assert_int_equal(store_last_event(s, NULL, &t), DTO_EINVAL);
  assert_string_equal(ERRMSG(s), "last_event: seq is NULL");
  store_close(s);
}

/* ---- snapshots and idempotency keys ---------------------------------------
 */

static void test_snapshots(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  int64_t seq;
  dto_time t;
  void *blob;
  size_t len;
  assert_int_equal(store_snapshot_latest(s, &seq, &t, &blob, &len), DTO_ENOENT);
  assert_null(blob);
  const char data[] = {'s', 0, 'n', (char)0xff, 'p'};
  assert_int_equal(store_snapshot_put(s, 10, 100, "old", 3), 0);
  assert_int_equal(store_snapshot_put(s, 20, 200, data, sizeof data), 0);
  assert_int_equal(store_snapshot_put(s, 15, 150, "mid", 3), 0);
  assert_int_equal(store_snapshot_latest(s, &seq, &t, &blob, &len), 0);
  assert_int_equal(seq, 20);
  assert_int_equal(t, 200);
  assert_int_equal(len, sizeof data);
  assert_memory_equal(blob, data, sizeof data);
  free(blob);
  /* The same seq again replaces it; an empty blob is fine. */
  assert_int_equal(store_snapshot_put(s, 20, 201, NULL, 0), 0);
  assert_int_equal(store_snapshot_latest(s, &seq, &t, &blob, &len), 0);
  assert_int_equal(len, 0);
  assert_non_null(blob);
  assert_int_equal(t, 201);
  free(blob);
  int64_t deleted = -1;
  assert_int_equal(store_snapshot_prune(s, 1, &deleted), 0);
  assert_int_equal(deleted, 2);
  assert_int_equal(count_of(s, STORE_T_SNAPSHOTS), 1);
  assert_int_equal(store_snapshot_prune(s, 0, NULL), DTO_EINVAL);
  assert_int_equal(store_snapshot_put(s, -1, 0, "x", 1), DTO_EINVAL);
  /* A larger blob, byte for byte. */
  size_t big = 3 * 1024 * 1024 + 7;
  unsigned char *b = xmalloc(big);
  for (size_t i = 0; i < big; i++)
    b[i] = (unsigned char)(i * 131 + 7);
  assert_int_equal(store_snapshot_put(s, 30, 300, b, big), 0);
  assert_int_equal(store_snapshot_latest(s, &seq, &t, &blob, &len), 0);
  assert_int_equal(seq, 30);
  assert_int_equal(len, big);
  assert_memory_equal(blob, b, big);
  free(blob);
  free(b);
  store_close(s);
}

static void test_idempotency(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  const dto_time t0 = 1700000000LL * DTO_NS_PER_SEC, H = DTO_NS_PER_HOUR;
  store_idem r = {.key = "user1:abc",
                  .request_hash = "h1",
                  .status = 201,
                  .body = "{\"id\":\"o1\"}",
                  .body_len = 11,
                  .created = t0};
  store_idem out;
  assert_int_equal(store_idem_get(s, "user1:abc", t0, &out), DTO_ENOENT);
  assert_int_equal(store_idem_put(s, &r), 0);
  /* A second request with the key: the first response stays. */
  store_idem r2 = r;
  snprintf(r2.request_hash, sizeof r2.request_hash, "h2");
  r2.body = "{}";
  r2.body_len = 2;
  r2.created = t0 + H;
  assert_int_equal(store_idem_put(s, &r2), DTO_EEXIST);
  assert_int_equal(store_idem_get(s, "user1:abc", t0 + 23 * H, &out), 0);
  assert_string_equal(out.key, "user1:abc");
  assert_string_equal(out.request_hash, "h1");
  assert_int_equal(out.status, 201);
  assert_int_equal(out.body_len, 11);
  assert_string_equal(out.body, "{\"id\":\"o1\"}");
  assert_int_equal(out.created, t0);
  store_idem_release(&out);
  assert_null(out.body);
  /* 24 hours later it is gone, and the key can be used again. */
  assert_int_equal(store_idem_get(s, "user1:abc", t0 + 24 * H, &out),
                   DTO_ENOENT);
  r2.created = t0 + 24 * H;
  assert_int_equal(store_idem_put(s, &r2), 0);
  assert_int_equal(store_idem_get(s, "user1:abc", t0 + 25 * H, &out), 0);
  assert_string_equal(out.request_hash, "h2");
  assert_string_equal(out.body, "{}");
  store_idem_release(&out);

  store_idem r3 = r;
  snprintf(r3.key, sizeof r3.key, "user2:zzz");
  r3.created = t0 + 30 * H;
  r3.body = NULL;
  r3.body_len = 0;
  assert_int_equal(store_idem_put(s, &r3), 0);
  /* Purge at t0+48h: r2 (created t0+24h) is expired, r3 is not. */
  int64_t purged = -1;
  assert_int_equal(store_idem_purge(s, t0 + 48 * H, &purged), 0);
  assert_int_equal(purged, 1);
  assert_int_equal(count_of(s, STORE_T_IDEMPOTENCY), 1);
  assert_int_equal(store_idem_purge(s, t0 + 54 * H, &purged), 0);
  assert_int_equal(purged, 1);
  assert_int_equal(count_of(s, STORE_T_IDEMPOTENCY), 0);

  r.status = 42;
  assert_int_equal(store_idem_put(s, &r), DTO_EINVAL);
  assert_non_null(strstr(ERRMSG(s), "status"));
  r.status = 200;
  r.key[0] = '\0';
  assert_int_equal(store_idem_put(s, &r), DTO_EINVAL);
  store_close(s);
}

/* ---- users, sessions, API tokens, the audit log ---------------------------
 */

/* The hex SHA-256 of text, as src/api keeps secrets. */
static void sha_hex(const char *text, char out[STORE_SHA_HEX + 1]) {
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, (const unsigned char *)text, strlen(text));
  sodium_bin2hex(out, STORE_SHA_HEX + 1, d, sizeof d);
}

static store_user USER(const char *name, const char *role) {
  store_user u;
  memset(&u, 0, sizeof u);
  snprintf(u.name, sizeof u.name, "%s", name);
  snprintf(u.role, sizeof u.role, "%s", role);
  snprintf(u.password_hash, sizeof u.password_hash,
           "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$%s", name);
  u.created = u.updated = u.password_changed = 1700000000LL * DTO_NS_PER_SEC;
  return u;
}

static void assert_user_equal(const store_user *a, const store_user *b) {
  assert_int_equal(a->id, b->id);
  assert_string_equal(a->name, b->name);
  assert_string_equal(a->role, b->role);
  assert_string_equal(a->password_hash, b->password_hash);
  assert_string_equal(a->totp_secret, b->totp_secret);
  assert_string_equal(a->totp_pending, b->totp_pending);
  assert_int_equal(a->totp_last_step, b->totp_last_step);
  assert_int_equal(a->failures, b->failures);
  assert_int_equal(a->locked_until, b->locked_until);
  assert_int_equal(a->disabled, b->disabled);
  assert_int_equal(a->password_changed, b->password_changed);
  assert_int_equal(a->created, b->created);
  assert_int_equal(a->updated, b->updated);
}

typedef struct names {
  int n;
  int stop_at; /* return 5 at this row (1-based), 0: never */
  char name[16][STORE_USER_MAX + 1];
  int64_t id[16];
} names;

static int collect_user(void *arg, const store_user *u) {
  names *l = arg;
  assert_true(l->n < 16);
  snprintf(l->name[l->n], sizeof l->name[0], "%s", u->name);
  l->id[l->n++] = u->id;
  return l->stop_at && l->n == l->stop_at ? 5 : 0;
}

static void test_users(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  store_user out;
  assert_int_equal(store_user_get(s, "alice", &out), DTO_ENOENT);
  assert_non_null(strstr(ERRMSG(s), "alice"));
  assert_int_equal(store_user_get_id(s, 1, &out), DTO_ENOENT);

  store_user bob = USER("bob", "trader"), alice = USER("alice", "admin");
  snprintf(bob.totp_secret, sizeof bob.totp_secret, "JBSWY3DPEHPK3PXP");
  bob.totp_last_step = 56666666;
  bob.failures = 2;
  bob.locked_until = 1700000900LL * DTO_NS_PER_SEC;
  bob.updated = 1700000500LL * DTO_NS_PER_SEC;
  assert_int_equal(store_user_add(s, &bob), 0);
  assert_int_equal(bob.id, 1);
  assert_int_equal(store_user_add(s, &alice), 0);
  assert_int_equal(alice.id, 2);
  store_user dup = USER("alice", "viewer");
  assert_int_equal(store_user_add(s, &dup), DTO_EEXIST);
  assert_int_equal(count_of(s, STORE_T_USERS), 2);

  assert_int_equal(store_user_get(s, "bob", &out), 0);
  assert_user_equal(&out, &bob);
  assert_int_equal(store_user_get_id(s, 2, &out), 0);
  assert_user_equal(&out, &alice);

  /* Every field is written, the name too. */
  store_user alicia = alice;
  snprintf(alicia.name, sizeof alicia.name, "alicia");
  snprintf(alicia.role, sizeof alicia.role, "auditor");
  snprintf(alicia.password_hash, sizeof alicia.password_hash, "$argon2id$x");
  snprintf(alicia.totp_pending, sizeof alicia.totp_pending, "GEZDGNBVGY3TQOJQ");
  alicia.totp_last_step = 7;
  alicia.failures = 5;
  alicia.locked_until = 42;
  alicia.disabled = true;
  alicia.password_changed = 43;
  alicia.created = 44;
  alicia.updated = 45;
  assert_int_equal(store_user_update(s, &alicia), 0);
  assert_int_equal(store_user_get(s, "alice", &out), DTO_ENOENT);
  assert_int_equal(store_user_get(s, "alicia", &out), 0);
  assert_user_equal(&out, &alicia);
  assert_int_equal(store_user_get_id(s, alicia.id, &out), 0);
  assert_user_equal(&out, &alicia);
  /* Renamed to a name taken, or no such user. */
  store_user clash = alicia;
  snprintf(clash.name, sizeof clash.name, "bob");
  assert_int_equal(store_user_update(s, &clash), DTO_EEXIST);
  assert_int_equal(store_user_get_id(s, alicia.id, &out), 0);
  assert_string_equal(out.name, "alicia");
  store_user ghost = USER("ghost", "viewer");
  ghost.id = 999;
  assert_int_equal(store_user_update(s, &ghost), DTO_ENOENT);
  assert_int_equal(count_of(s, STORE_T_USERS), 2);

  /* Listed by name, bytewise: upper case first, UTF-8 after ASCII. */
  store_user more[3] = {USER("\xc3\xa9mile", "viewer"), USER("Zed", "viewer"),
                        USER("carol", "trader")};
  for (int i = 0; i < 3; i++)
    assert_int_equal(store_user_add(s, &more[i]), 0);
  /* Increasing (PostgreSQL may skip the id the refused duplicate drew). */
  assert_true(more[0].id > alice.id);
  assert_true(more[1].id > more[0].id && more[2].id > more[1].id);
  names *l = xcalloc(1, sizeof *l);
  assert_int_equal(store_user_list(s, collect_user, l), 0);
  const char *want[5] = {"Zed", "alicia", "bob", "carol", "\xc3\xa9mile"};
  assert_int_equal(l->n, 5);
  for (int i = 0; i < 5; i++)
    assert_string_equal(l->name[i], want[i]);
  assert_int_equal(l->id[2], bob.id);
  memset(l, 0, sizeof *l);
  l->stop_at = 2;
  assert_int_equal(store_user_list(s, collect_user, l), 5);
  assert_int_equal(l->n, 2);
  free(l);

  /* Refused before the back-end sees them. */
  store_user bad = USER("x", "viewer");
  memset(bad.name, 'n', sizeof bad.name); /* 65 bytes, no NUL */
  assert_int_equal(store_user_add(s, &bad), DTO_ETOOBIG);
  assert_non_null(strstr(ERRMSG(s), "u.name: longer than 64 bytes"));
  char name65[STORE_USER_MAX + 2];
  memset(name65, 'n', sizeof name65 - 1);
  name65[sizeof name65 - 1] = '\0';
  assert_int_equal(store_user_get(s, name65, &out), DTO_ETOOBIG);
  struct {
    store_user u;
    const char *msg;
  } refused[] = {
      {USER("", "viewer"), "u.name: must not be empty"},
      {USER("x", ""), "u.role: must not be empty"},
      {USER("\xff\xfe", "viewer"), "u.name: not valid UTF-8"},
      {USER("x", "\xc0\xaf"), "u.role: not valid UTF-8"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(refused); i++) {
    assert_int_equal(store_user_add(s, &refused[i].u), DTO_EINVAL);
    if (!strstr(ERRMSG(s), refused[i].msg))
      fail_msg("case %zu: '%s' does not hold '%s'", i, ERRMSG(s),
               refused[i].msg);
  }
  bad = USER("x", "viewer");
  bad.password_hash[0] = '\0';
  assert_int_equal(store_user_add(s, &bad), DTO_EINVAL);
  assert_non_null(strstr(ERRMSG(s), "u.password_hash: must not be empty"));
  bad = USER("x", "viewer");
  bad.totp_secret[0] = '\xe2';
  assert_int_equal(store_user_add(s, &bad), DTO_EINVAL);
  bad = USER("x", "viewer"); /* update needs the id */
  assert_int_equal(store_user_update(s, &bad), DTO_EINVAL);
  assert_int_equal(store_user_add(s, NULL), DTO_EINVAL);
  assert_int_equal(store_user_get(s, "", &out), DTO_EINVAL);
  assert_int_equal(store_user_get(s, NULL, &out), DTO_EINVAL);
  assert_int_equal(store_user_get(s, "\xc3", &out), DTO_EINVAL);
  assert_int_equal(store_user_get_id(s, 0, &out), DTO_EINVAL);
  assert_int_equal(store_user_get_id(s, -3, &out), DTO_EINVAL);
  assert_int_equal(store_user_list(s, NULL, NULL), DTO_EINVAL);
  assert_int_equal(count_of(s, STORE_T_USERS), 5);
  store_close(s);
}

static store_session SESSION(const char *secret, int64_t user_id) {
  store_session ses;
  memset(&ses, 0, sizeof ses);
  char csrf[64];
  snprintf(csrf, sizeof csrf, "csrf-%s", secret);
  sha_hex(secret, ses.id_hash);
  sha_hex(csrf, ses.csrf_hash);
  ses.user_id = user_id;
  ses.created = ses.last_seen = 1700000000LL * DTO_NS_PER_SEC;
  ses.expires = ses.created + 12 * DTO_NS_PER_HOUR;
  snprintf(ses.address, sizeof ses.address, "192.0.2.7");
  return ses;
}

static void test_sessions(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  store_user u1 = USER("u1", "trader"), u2 = USER("u2", "viewer");
  assert_int_equal(store_user_add(s, &u1), 0);
  assert_int_equal(store_user_add(s, &u2), 0);
  store_session a = SESSION("a", u1.id), b = SESSION("b", u1.id),
                c = SESSION("c", u2.id), out;
  c.address[0] = '\0';
  assert_int_equal(store_session_get(s, a.id_hash, &out), DTO_ENOENT);
  assert_int_equal(store_session_put(s, &a), 0);
  assert_int_equal(store_session_put(s, &b), 0);
  assert_int_equal(store_session_put(s, &c), 0);
  assert_int_equal(store_session_put(s, &a), DTO_EEXIST);
  store_session orphan = SESSION("d", 999); /* no such user */
  assert_int_equal(store_session_put(s, &orphan), DTO_ENOENT);
  assert_int_equal(count_of(s, STORE_T_SESSIONS), 3);

  assert_int_equal(store_session_get(s, a.id_hash, &out), 0);
  assert_string_equal(out.id_hash, a.id_hash);
  assert_string_equal(out.csrf_hash, a.csrf_hash);
  assert_int_equal(out.user_id, u1.id);
  assert_int_equal(out.created, a.created);
  assert_int_equal(out.last_seen, a.last_seen);
  assert_int_equal(out.expires, a.expires);
  assert_string_equal(out.address, "192.0.2.7");
  assert_int_equal(store_session_get(s, c.id_hash, &out), 0);
  assert_string_equal(out.address, "");

  /* touch moves last_seen only */
  assert_int_equal(store_session_touch(s, a.id_hash, a.created + 60), 0);
  assert_int_equal(store_session_get(s, a.id_hash, &out), 0);
  assert_int_equal(out.last_seen, a.created + 60);
  assert_int_equal(out.created, a.created);
  assert_int_equal(out.expires, a.expires);
  assert_int_equal(store_session_touch(s, orphan.id_hash, 1), DTO_ENOENT);

  assert_int_equal(store_session_delete(s, b.id_hash), 0);
  assert_int_equal(store_session_delete(s, b.id_hash), DTO_ENOENT);
  assert_int_equal(store_session_get(s, b.id_hash, &out), DTO_ENOENT);
  b = SESSION("b2", u1.id);
  assert_int_equal(store_session_put(s, &b), 0);
  int64_t n = -1;
  assert_int_equal(store_session_delete_user(s, u1.id, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(store_session_delete_user(s, u1.id, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(store_session_delete_user(s, 999, NULL), 0);
  assert_int_equal(count_of(s, STORE_T_SESSIONS), 1);
  assert_int_equal(store_session_get(s, c.id_hash, &out), 0);

  /* Hashes are exactly 64 lower-case hex digits. */
  char upper[STORE_SHA_HEX + 1], shorter[STORE_SHA_HEX + 1];
  snprintf(upper, sizeof upper, "%s", c.id_hash);
  for (char *p = upper; *p; p++)
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 'a' + 'A');
  snprintf(shorter, sizeof shorter, "%.63s", c.id_hash);
  const char *bad_hash[] = {upper, shorter, "", NULL,
                            "zz00000000000000000000000000000000000000000000"
                            "000000000000000000"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad_hash); i++) {
    assert_int_equal(store_session_get(s, bad_hash[i], &out), DTO_EINVAL);
    assert_non_null(strstr(ERRMSG(s), "hex digits"));
    assert_int_equal(store_session_touch(s, bad_hash[i], 1), DTO_EINVAL);
    assert_int_equal(store_session_delete(s, bad_hash[i]), DTO_EINVAL);
  }
  store_session bad = SESSION("e", u2.id);
  snprintf(bad.csrf_hash, sizeof bad.csrf_hash, "%s", upper);
  assert_int_equal(store_session_put(s, &bad), DTO_EINVAL);
  assert_non_null(strstr(ERRMSG(s), "ses.csrf_hash"));
  bad = SESSION("e", 0);
  assert_int_equal(store_session_put(s, &bad), DTO_EINVAL);
  bad = SESSION("e", u2.id);
  memset(bad.address, 'a', sizeof bad.address);
  assert_int_equal(store_session_put(s, &bad), DTO_ETOOBIG);
  bad = SESSION("e", u2.id);
  bad.address[0] = '\xff';
  assert_int_equal(store_session_put(s, &bad), DTO_EINVAL);
  assert_int_equal(store_session_put(s, NULL), DTO_EINVAL);
  assert_int_equal(store_session_delete_user(s, 0, &n), DTO_EINVAL);
  assert_int_equal(count_of(s, STORE_T_SESSIONS), 1);
  store_close(s);
}

static store_token TOKEN(const char *secret, int64_t user_id,
                         const char *name) {
  store_token t;
  memset(&t, 0, sizeof t);
  sha_hex(secret, t.hash);
  t.user_id = user_id;
  snprintf(t.name, sizeof t.name, "%s", name);
  snprintf(t.scope, sizeof t.scope, "read trade");
  t.created = 1700000000LL * DTO_NS_PER_SEC;
  t.expires = t.created + 90 * 24 * DTO_NS_PER_HOUR;
  return t;
}

static void assert_token_equal(const store_token *a, const store_token *b) {
  assert_int_equal(a->id, b->id);
  assert_string_equal(a->hash, b->hash);
  assert_int_equal(a->user_id, b->user_id);
  assert_string_equal(a->name, b->name);
  assert_string_equal(a->scope, b->scope);
  assert_int_equal(a->created, b->created);
  assert_int_equal(a->expires, b->expires);
  assert_int_equal(a->revoked, b->revoked);
  assert_int_equal(a->last_used, b->last_used);
}

typedef struct tokens {
  int n;
  int stop_at;
  int64_t id[16];
} tokens;

static int collect_token(void *arg, const store_token *t) {
  tokens *l = arg;
  assert_true(l->n < 16);
  l->id[l->n++] = t->id;
  return l->stop_at && l->n == l->stop_at ? 6 : 0;
}

static void test_tokens(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  store_user u1 = USER("u1", "trader"), u2 = USER("u2", "viewer");
  assert_int_equal(store_user_add(s, &u1), 0);
  assert_int_equal(store_user_add(s, &u2), 0);
  store_token t1 = TOKEN("s1", u1.id, "ci"), t2 = TOKEN("s2", u2.id, ""),
              t3 = TOKEN("s3", u1.id, "bot"), out;
  assert_int_equal(store_token_get(s, 1, &out), DTO_ENOENT);
  assert_int_equal(store_token_add(s, &t1), 0);
  assert_int_equal(store_token_add(s, &t2), 0);
  assert_int_equal(store_token_add(s, &t3), 0);
  assert_int_equal(t1.id, 1);
  assert_int_equal(t2.id, 2);
  assert_int_equal(t3.id, 3);
  store_token dup = TOKEN("s1", u2.id, "again");
  assert_int_equal(store_token_add(s, &dup), DTO_EEXIST);
  store_token orphan = TOKEN("s4", 999, "x");
  assert_int_equal(store_token_add(s, &orphan), DTO_ENOENT);
  assert_int_equal(count_of(s, STORE_T_API_TOKENS), 3);

  assert_int_equal(store_token_get(s, t2.id, &out), 0);
  assert_token_equal(&out, &t2);
  assert_int_equal(store_token_get_hash(s, t3.hash, &out), 0);
  assert_token_equal(&out, &t3);
  assert_int_equal(store_token_get_hash(s, orphan.hash, &out), DTO_ENOENT);
  assert_int_equal(store_token_get(s, 99, &out), DTO_ENOENT);

  /* update writes revoked, expires, last_used, name and scope only */
  store_token up = t1;
  up.revoked = t1.created + 5;
  up.expires = t1.created + 6;
  up.last_used = t1.created + 4;
  snprintf(up.name, sizeof up.name, "ci-old");
  snprintf(up.scope, sizeof up.scope, "read");
  store_token sent = up;
  sha_hex("other", sent.hash);
  sent.user_id = u2.id;
  sent.created = 1;
  assert_int_equal(store_token_update(s, &sent), 0);
  assert_int_equal(store_token_get(s, t1.id, &out), 0);
  assert_token_equal(&out, &up);
  sent.id = 99;
  assert_int_equal(store_token_update(s, &sent), DTO_ENOENT);

  tokens *l = xcalloc(1, sizeof *l);
  assert_int_equal(store_token_list(s, u1.id, collect_token, l), 0);
  assert_int_equal(l->n, 2);
  assert_int_equal(l->id[0], t1.id);
  assert_int_equal(l->id[1], t3.id);
  memset(l, 0, sizeof *l);
  assert_int_equal(store_token_list(s, 0, collect_token, l), 0);
  assert_int_equal(l->n, 3);
  for (int i = 0; i < 3; i++)
    assert_int_equal(l->id[i], i + 1);
  memset(l, 0, sizeof *l);
  assert_int_equal(store_token_list(s, 999, collect_token, l), 0);
  assert_int_equal(l->n, 0);
  l->stop_at = 2;
  assert_int_equal(store_token_list(s, 0, collect_token, l), 6);
  assert_int_equal(l->n, 2);
  assert_int_equal(store_token_list(s, -1, collect_token, l), DTO_EINVAL);
  assert_int_equal(store_token_list(s, 0, NULL, NULL), DTO_EINVAL);
  free(l);

  store_token bad = TOKEN("s5", u1.id, "x");
  bad.hash[10] = 'G';
  assert_int_equal(store_token_add(s, &bad), DTO_EINVAL);
  assert_non_null(strstr(ERRMSG(s), "t.hash"));
  bad = TOKEN("s5", 0, "x");
  assert_int_equal(store_token_add(s, &bad), DTO_EINVAL);
  bad = TOKEN("s5", u1.id, "x");
  memset(bad.scope, 's', sizeof bad.scope);
  assert_int_equal(store_token_add(s, &bad), DTO_ETOOBIG);
  bad = TOKEN("s5", u1.id, "\xed\xa0\x80");
  assert_int_equal(store_token_add(s, &bad), DTO_EINVAL);
  bad = t2;
  bad.id = 0;
  assert_int_equal(store_token_update(s, &bad), DTO_EINVAL);
  assert_int_equal(store_token_get(s, 0, &out), DTO_EINVAL);
  assert_int_equal(store_token_get_hash(s, "abc", &out), DTO_EINVAL);
  assert_int_equal(count_of(s, STORE_T_API_TOKENS), 3);
  store_close(s);
}

/* The test's audit chain: hash = SHA-256 over prev_hash and every field
 * (an independent recomputation checks what the store kept). */
static void audit_digest(const store_audit *a, char out[STORE_SHA_HEX + 1]) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  char nums[64];
  snprintf(nums, sizeof nums, "%lld/%lld", (long long)a->seq,
           (long long)a->time);
  const char *parts[] = {a->prev_hash, nums,      a->actor,   a->address,
                         a->action,    a->target, a->outcome, a->detail};
  for (size_t i = 0; i < DTO_ARRAY_LEN(parts); i++)
    crypto_hash_sha256_update(&st, (const unsigned char *)parts[i],
                              strlen(parts[i]) + 1); /* with the NUL */
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, d);
  sodium_bin2hex(out, STORE_SHA_HEX + 1, d, sizeof d);
}

typedef struct chain_log {
  int calls;
  bool had_prev[8];
  int64_t prev_seq[8];
  char prev_hash[8][STORE_SHA_HEX + 1];
  int misbehave; /* 1: fail with DTO_EIO, 2: a bad hash, 3: change seq */
} chain_log;

static int chain(void *arg, const store_audit *prev, store_audit *a) {
  chain_log *log = arg;
  if (log) {
    int i = log->calls++ % 8;
    log->had_prev[i] = prev != NULL;
    log->prev_seq[i] = prev ? prev->seq : 0;
    snprintf(log->prev_hash[i], sizeof log->prev_hash[i], "%s",
             prev ? prev->hash : "");
    if (log->misbehave == 1)
      return DTO_EIO;
  }
  snprintf(a->prev_hash, sizeof a->prev_hash, "%s", prev ? prev->hash : "");
  audit_digest(a, a->hash);
  if (log && log->misbehave == 2)
    a->hash[0] = 'X';
  if (log && log->misbehave == 3)
    a->seq++;
  return 0;
}

static store_audit AUDIT(const char *actor, const char *action,
                         const char *detail) {
  store_audit a;
  memset(&a, 0, sizeof a);
  a.time = 1700000000LL * DTO_NS_PER_SEC;
  snprintf(a.actor, sizeof a.actor, "%s", actor);
  snprintf(a.address, sizeof a.address, "2001:db8::1");
  snprintf(a.action, sizeof a.action, "%s", action);
  snprintf(a.target, sizeof a.target, "user:%s", actor);
  snprintf(a.outcome, sizeof a.outcome, "ok");
  snprintf(a.detail, sizeof a.detail, "%s", detail);
  return a;
}

typedef struct audits {
  int n, cap;
  int stop_at;
  store_audit *a;
} audits;

static int collect_audit(void *arg, const store_audit *a) {
  audits *l = arg;
  assert_true(l->n < l->cap);
  l->a[l->n++] = *a;
  return l->stop_at && l->n == l->stop_at ? 8 : 0;
}

static audits *audits_new(int cap) {
  audits *l = xcalloc(1, sizeof *l);
  l->cap = cap;
  l->a = xcalloc((size_t)cap, sizeof *l->a);
  return l;
}

static void audits_free(audits *l) {
  free(l->a);
  free(l);
}

/* Every record of the log: seqs 1..n without gaps, each chained to the one
 * before, each hash the test's own recomputation.  Returns how many. */
static int check_chain(store *s) {
  int n = (int)count_of(s, STORE_T_AUDIT_LOG);
  audits *l = audits_new(n + 1);
  assert_int_equal(store_audit_read(s, 0, 0, collect_audit, l), 0);
  assert_int_equal(l->n, n);
  for (int i = 0; i < n; i++) {
    const store_audit *a = &l->a[i];
    assert_int_equal(a->seq, i + 1);
    assert_string_equal(a->prev_hash, i ? l->a[i - 1].hash : "");
    char h[STORE_SHA_HEX + 1];
    audit_digest(a, h);
    assert_string_equal(a->hash, h);
  }
  audits_free(l);
  return n;
}

static void test_audit(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  chain_log log = {0};
  store_audit r[3] = {AUDIT("alice", "auth.login", "{\"mfa\":true}"),
                      AUDIT("alice", "order.place", ""),
                      AUDIT("bob", "auth.login", "{\"why\":\"caf\xc3\xa9\"}")};
  r[2].actor[0] = '\0'; /* an unknown actor */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(store_audit_append(s, &r[i], chain, &log), 0);
    assert_int_equal(r[i].seq, i + 1);
  }
  assert_string_equal(r[1].detail, "{}"); /* "" is kept as "{}" */
  assert_int_equal(log.calls, 3);
  assert_false(log.had_prev[0]);
  for (int i = 1; i < 3; i++) {
    assert_true(log.had_prev[i]);
    assert_int_equal(log.prev_seq[i], i);
    assert_string_equal(log.prev_hash[i], r[i - 1].hash);
  }
  assert_int_equal(check_chain(s), 3);

  audits *l = audits_new(8);
  assert_int_equal(store_audit_read(s, 0, 0, collect_audit, l), 0);
  assert_int_equal(l->n, 3);
  for (int i = 0; i < 3; i++) {
    const store_audit *a = &l->a[i], *b = &r[i];
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->time, b->time);
    assert_string_equal(a->actor, b->actor);
    assert_string_equal(a->address, b->address);
    assert_string_equal(a->action, b->action);
    assert_string_equal(a->target, b->target);
    assert_string_equal(a->outcome, b->outcome);
    assert_string_equal(a->detail, b->detail);
    assert_string_equal(a->prev_hash, b->prev_hash);
    assert_string_equal(a->hash, b->hash);
  }
  memset(l->a, 0, 8 * sizeof *l->a);
  l->n = 0;
  assert_int_equal(store_audit_read(s, 1, 1, collect_audit, l), 0);
  assert_int_equal(l->n, 1);
  assert_int_equal(l->a[0].seq, 2);
  l->n = 0;
  assert_int_equal(store_audit_read(s, 3, 0, collect_audit, l), 0);
  assert_int_equal(l->n, 0);
  l->stop_at = 2;
  assert_int_equal(store_audit_read(s, 0, 0, collect_audit, l), 8);
  assert_int_equal(l->n, 2);
  audits_free(l);

  /* A failing or misbehaving chain function: nothing is written, and the
   * next record still gets the next seq. */
  store_audit x = AUDIT("carol", "token.create", "{}");
  log.misbehave = 1;
  assert_int_equal(store_audit_append(s, &x, chain, &log), DTO_EIO);
  assert_non_null(strstr(ERRMSG(s), "chain function failed"));
  log.misbehave = 2;
  assert_int_equal(store_audit_append(s, &x, chain, &log), DTO_EINVAL);
  assert_non_null(strstr(ERRMSG(s), "a.hash"));
  log.misbehave = 3;
  assert_int_equal(store_audit_append(s, &x, chain, &log), DTO_EINVAL);
  assert_non_null(strstr(ERRMSG(s), "seq"));
  assert_int_equal(count_of(s, STORE_T_AUDIT_LOG), 3);
  log.misbehave = 0;
  assert_int_equal(store_audit_append(s, &x, chain, &log), 0);
  assert_int_equal(x.seq, 4);
  assert_string_equal(x.prev_hash, r[2].hash);

  /* It takes its own transaction: not inside the caller's. */
  assert_int_equal(store_begin(s), 0);
  store_audit y = AUDIT("carol", "token.revoke", "{}");
  assert_int_equal(store_audit_append(s, &y, chain, &log), DTO_ESTATE);
  assert_int_equal(store_rollback(s), 0);
  assert_int_equal(store_audit_append(s, &y, chain, &log), 0);
  assert_int_equal(y.seq, 5);

  /* Refused inputs. */
  store_audit bad = AUDIT("a", "", "{}");
  assert_int_equal(store_audit_append(s, &bad, chain, NULL), DTO_EINVAL);
  assert_non_null(strstr(ERRMSG(s), "a.action: must not be empty"));
  bad = AUDIT("a", "x", "{\"a\":\"\xff\"}");
  assert_int_equal(store_audit_append(s, &bad, chain, NULL), DTO_EINVAL);
  bad = AUDIT("a", "x", "{}");
  memset(bad.actor, 'a', sizeof bad.actor);
  assert_int_equal(store_audit_append(s, &bad, chain, NULL), DTO_ETOOBIG);
  bad = AUDIT("a", "x", "{}");
  assert_int_equal(store_audit_append(s, &bad, NULL, NULL), DTO_EINVAL);
  assert_int_equal(store_audit_append(s, NULL, chain, NULL), DTO_EINVAL);
  assert_int_equal(store_audit_read(s, 0, 0, NULL, NULL), DTO_EINVAL);

  /* Through the fault wrapper: one call, failed before the inner store. */
  store *w = store_faulty_new(s, 1, DTO_EIO);
  bad = AUDIT("a", "x", "{}");
  assert_int_equal(store_audit_append(w, &bad, chain, NULL), DTO_EIO);
  assert_int_equal(store_faulty_calls(w), 1);
  assert_int_equal(store_audit_append(w, &bad, chain, NULL), 0);
  assert_int_equal(bad.seq, 6);
  assert_int_equal(check_chain(w), 6);
  store_close(w);
}

typedef struct appender {
  env *v;
  store *s;
  int rc;
  char msg[STORE_ERR_MAX];
  int64_t seqs[200];
} appender;

static void *append_audits(void *arg) {
  appender *p = arg;
  for (int i = 0; i < 200 && !p->rc; i++) {
    store_audit a = AUDIT("t", "test.append", "{}");
    a.time += i;
    if ((p->rc = store_audit_append(p->s, &a, chain, NULL)))
      store_errmsg(p->s, p->msg, sizeof p->msg);
    p->seqs[i] = a.seq;
  }
  return NULL;
}

/* Two handles on one database append at once (as two processes would):
 * the log ends with seqs 1..400, one chain, no fork. */
static void test_audit_concurrent(void **state) {
  env *v = ENV(state);
  store *m = open_migrated(v);
  appender p[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    p[i] = (appender){.v = v, .s = open_opt(v, true, 1, 2)};
    assert_int_equal(pthread_create(&th[i], NULL, append_audits, &p[i]), 0);
  }
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  bool seen[401] = {false};
  for (int i = 0; i < 2; i++) {
    if (p[i].rc)
      fail_msg("appender %d: %s: %s", i, dto_errname(p[i].rc), p[i].msg);
    for (int k = 0; k < 200; k++) {
      int64_t q = p[i].seqs[k];
      assert_true(q >= 1 && q <= 400 && !seen[q]);
      seen[q] = true;
      if (k)
        assert_true(q > p[i].seqs[k - 1]);
    }
    store_close(p[i].s);
  }
  assert_int_equal(check_chain(m), 400);
  store_close(m);
}

/* A version-2 database (with its never-used users, sessions and audit_log
 * tables) migrates to 3 and keeps its journal. */
static void test_migrate_api_auth(void **state) {
  env *v = ENV(state);
  store *s = open_raw(v);
  assert_int_equal(store_migrate_to(s, 2, NULL, NULL), 0);
  store_event ev = EV("a", "{}");
  assert_int_equal(store_append(s, &ev, 1, NULL), 0);
  raw_exec(v, "INSERT INTO users (name, password_hash, role, created, "
              "updated) VALUES ('old', 'x', 'admin', 1, 1)");
  int64_t n;
  assert_int_equal(count_of(s, STORE_T_USERS), 1);
  assert_int_not_equal(store_count(s, STORE_T_API_TOKENS, &n), 0);
  applied a = {0};
  assert_int_equal(store_migrate_to(s, 3, on_migrated, &a), 0);
  assert_int_equal(a.n, 1);
  assert_int_equal(a.versions[0], 3);
  int ver = 0;
  assert_int_equal(store_schema_version(s, &ver), 0);
  assert_int_equal(ver, 3);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 1);
  assert_int_equal(count_of(s, STORE_T_USERS), 0);
  assert_int_equal(count_of(s, STORE_T_API_TOKENS), 0);
  store_user u = USER("new", "admin");
  assert_int_equal(store_user_add(s, &u), 0);
  assert_int_equal(u.id, 1);
  store_session ses = SESSION("x", u.id);
  assert_int_equal(store_session_put(s, &ses), 0);
  store_token t = TOKEN("y", u.id, "t");
  assert_int_equal(store_token_add(s, &t), 0);
  store_audit r = AUDIT("new", "auth.login", "{}");
  assert_int_equal(store_audit_append(s, &r, chain, NULL), 0);
  assert_int_equal(r.seq, 1);
  store_close(s);
}

/* ---- the alert history -----------------------------------------------------
 */

/* What the store must give back, written out by hand. */
typedef struct alert_want {
  int64_t seq;
  dto_time time;
  const char *event;
  int64_t alert_id;
  const char *name, *severity, *fingerprint, *channel, *who;
  const char *detail; /* as stored */
} alert_want;

#define FP1 "9f86d081884c7d659a2feaa0"
#define FP2 "60303ae22b998861bce3b28f"

static const alert_want ALERTS[] = {
    {1, 1700000000000000001, "firing", 7, "engine_down", "critical", FP1, "",
     "",
     "{\"labels\":{\"host\":\"a\"},\"summary\":\"engine down\",\"value\":3}"},
    {2, 1700000000000000002, "notified", 7, "engine_down", "critical", FP1,
     "slack", "", "{}"},
    {3, 1700000000000000003, "acked", 7, "engine_down", "critical", FP1, "",
     "alice", "{}"},
    {4, 1700000000000000004, "firing", 8, "disk_full", "warning", FP2, "", "",
     "{\"summary\":\"caf\xc3\xa9 disk\"}"},
    /* an older time after a newer one: order is by seq, not by time */
    {5, 1600000000000000000, "dead_letter", INT64_MAX, "disk_full", "warning",
     FP2, "email", "",
     "{\"attempts\":5,\"error\":\"timeout\",\"payload\":{\"a\":1}}"},
    {6, 1700000000000000006, "resolved", 7, "engine_down", "critical", FP1, "",
     "", "{\"value\":0}"},
};

/* The record to put for w (detail "" where w says "{}": stored as "{}"). */
static store_alert_rec alert_of(const alert_want *w) {
  store_alert_rec r;
  memset(&r, 0, sizeof r);
  r.seq = -7; /* the store sets it */
  r.time = w->time;
  snprintf(r.event, sizeof r.event, "%s", w->event);
  r.alert_id = w->alert_id;
  snprintf(r.name, sizeof r.name, "%s", w->name);
  snprintf(r.severity, sizeof r.severity, "%s", w->severity);
  snprintf(r.fingerprint, sizeof r.fingerprint, "%s", w->fingerprint);
  snprintf(r.channel, sizeof r.channel, "%s", w->channel);
  snprintf(r.who, sizeof r.who, "%s", w->who);
  snprintf(r.detail, sizeof r.detail, "%s",
           strcmp(w->detail, "{}") ? w->detail : "");
  return r;
}

static void assert_alert_is(const store_alert_rec *r, const alert_want *w) {
  assert_int_equal(r->seq, w->seq);
  assert_int_equal(r->time, w->time);
  assert_string_equal(r->event, w->event);
  assert_int_equal(r->alert_id, w->alert_id);
  assert_string_equal(r->name, w->name);
  assert_string_equal(r->severity, w->severity);
  assert_string_equal(r->fingerprint, w->fingerprint);
  assert_string_equal(r->channel, w->channel);
  assert_string_equal(r->who, w->who);
  assert_string_equal(r->detail, w->detail);
}

/* Field by field (not memcmp: the struct has padding). */
static void assert_alert_equal(const store_alert_rec *a,
                               const store_alert_rec *b) {
  assert_int_equal(a->seq, b->seq);
  assert_int_equal(a->time, b->time);
  assert_string_equal(a->event, b->event);
  assert_int_equal(a->alert_id, b->alert_id);
  assert_string_equal(a->name, b->name);
  assert_string_equal(a->severity, b->severity);
  assert_string_equal(a->fingerprint, b->fingerprint);
  assert_string_equal(a->channel, b->channel);
  assert_string_equal(a->who, b->who);
  assert_string_equal(a->detail, b->detail);
}

typedef struct alerts {
  int n, cap;
  int stop_at;
  store_alert_rec *r;
} alerts;

static int collect_alert(void *arg, const store_alert_rec *r) {
  alerts *l = arg;
  assert_true(l->n < l->cap);
  l->r[l->n++] = *r;
  return l->stop_at && l->n == l->stop_at ? 9 : 0;
}

static alerts *alerts_new(int cap) {
  alerts *l = xcalloc(1, sizeof *l);
  l->cap = cap;
  l->r = xcalloc((size_t)cap, sizeof *l->r);
  return l;
}

static void alerts_reset(alerts *l) {
  memset(l->r, 0, (size_t)l->cap * sizeof *l->r);
  l->n = 0;
  l->stop_at = 0;
}

static void alerts_free(alerts *l) {
  free(l->r);
  free(l);
}

/* The seqs l holds, as "1,2,3". */
static const char *alert_seqs(const alerts *l, char *buf, size_t cap) {
  size_t o = 0;
  buf[0] = '\0';
  for (int i = 0; i < l->n && o < cap; i++)
    o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "",
                          (long long)l->r[i].seq);
  return buf;
}

#define SEQS(l) alert_seqs((l), (char[512]){0}, 512)

static void test_alerts(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  alerts *l = alerts_new(64);
  assert_int_equal(store_alert_read(s, 0, 10, collect_alert, l), 0);
  assert_int_equal(l->n, 0);
  assert_int_equal(store_alert_recent(s, 10, NULL, collect_alert, l), 0);
  assert_int_equal(l->n, 0);

  for (size_t i = 0; i < DTO_ARRAY_LEN(ALERTS); i++) {
    store_alert_rec r = alert_of(&ALERTS[i]);
    store_alert_rec before = r;
    assert_int_equal(store_alert_put(s, &r), 0);
    assert_int_equal(r.seq, (int64_t)i + 1);
    before.seq = r.seq; /* the one field the put changes ("" stays "") */
    assert_alert_equal(&r, &before);
  }
  assert_int_equal(count_of(s, STORE_T_ALERT_HISTORY), 6);

  /* Everything, in seq order, every field as put. */
  assert_int_equal(store_alert_read(s, 0, 100, collect_alert, l), 0);
  assert_int_equal(l->n, 6);
  for (int i = 0; i < 6; i++)
    assert_alert_is(&l->r[i], &ALERTS[i]);
  /* after_seq and limit. */
  alerts_reset(l);
  assert_int_equal(store_alert_read(s, 2, 2, collect_alert, l), 0);
  assert_string_equal(SEQS(l), "3,4");
  assert_alert_is(&l->r[0], &ALERTS[2]);
  assert_alert_is(&l->r[1], &ALERTS[3]);
  alerts_reset(l);
  assert_int_equal(store_alert_read(s, -5, 1, collect_alert, l), 0);
  assert_string_equal(SEQS(l), "1");
  alerts_reset(l);
  assert_int_equal(store_alert_read(s, 6, 10, collect_alert, l), 0);
  assert_int_equal(l->n, 0);
  alerts_reset(l);
  l->stop_at = 2;
  assert_int_equal(store_alert_read(s, 0, 100, collect_alert, l), 9);
  assert_string_equal(SEQS(l), "1,2");

  /* The newest first, by seq (record 5 has the oldest time). */
  alerts_reset(l);
  assert_int_equal(store_alert_recent(s, 3, NULL, collect_alert, l), 0);
  assert_string_equal(SEQS(l), "6,5,4");
  assert_alert_is(&l->r[0], &ALERTS[5]);
  assert_alert_is(&l->r[1], &ALERTS[4]);
  assert_alert_is(&l->r[2], &ALERTS[3]);
  alerts_reset(l);
  assert_int_equal(store_alert_recent(s, 100, "", collect_alert, l), 0);
  assert_string_equal(SEQS(l), "6,5,4,3,2,1");
  for (int i = 0; i < 6; i++)
    assert_alert_is(&l->r[i], &ALERTS[5 - i]);
  /* One alert name. */
  alerts_reset(l);
  assert_int_equal(store_alert_recent(s, 2, "engine_down", collect_alert, l),
                   0);
  assert_string_equal(SEQS(l), "6,3");
  assert_alert_is(&l->r[0], &ALERTS[5]);
  assert_alert_is(&l->r[1], &ALERTS[2]);
  alerts_reset(l);
  assert_int_equal(store_alert_recent(s, 10, "engine_down", collect_alert, l),
                   0);
  assert_string_equal(SEQS(l), "6,3,2,1");
  alerts_reset(l);
  assert_int_equal(store_alert_recent(s, 10, "disk_full", collect_alert, l), 0);
  assert_string_equal(SEQS(l), "5,4");
  assert_alert_is(&l->r[0], &ALERTS[4]);
  assert_alert_is(&l->r[1], &ALERTS[3]);
  alerts_reset(l);
  assert_int_equal(store_alert_recent(s, 10, "Engine_down", collect_alert, l),
                   0); /* bytewise */
  assert_int_equal(l->n, 0);
  assert_int_equal(store_alert_recent(s, 10, "engine", collect_alert, l), 0);
  assert_int_equal(l->n, 0);
  l->stop_at = 1;
  assert_int_equal(store_alert_recent(s, 10, "disk_full", collect_alert, l), 9);
  assert_string_equal(SEQS(l), "5");

  /* Every text field at its longest; a name of 2-byte characters. */
  store_alert_rec big;
  memset(&big, 0, sizeof big);
  big.time = -1;
  big.alert_id = INT64_MIN;
  memset(big.event, 'e', STORE_ALERT_EVENT_MAX);
  for (int i = 0; i < STORE_ALERT_NAME_MAX; i += 2)
    memcpy(big.name + i, "\xc3\xa9", 2);
  memset(big.severity, 's', 16);
  memset(big.fingerprint, 'f', 24);
  memset(big.channel, 'c', STORE_ALERT_NAME_MAX);
  memset(big.who, 'w', STORE_USER_MAX);
  big.detail[0] = '{';
  memset(big.detail + 1, ' ', STORE_DETAIL_MAX - 2);
  big.detail[STORE_DETAIL_MAX - 1] = '}';
  assert_int_equal(store_alert_put(s, &big), 0);
  assert_int_equal(big.seq, 7);
  alerts_reset(l);
  assert_int_equal(store_alert_read(s, 6, 1, collect_alert, l), 0);
  assert_int_equal(l->n, 1);
  assert_alert_equal(&l->r[0], &big);
  assert_int_equal(strlen(l->r[0].name), 64);
  assert_int_equal(strlen(l->r[0].detail), 4096);
  alerts_reset(l);
  assert_int_equal(store_alert_recent(s, 1, big.name, collect_alert, l), 0);
  assert_string_equal(SEQS(l), "7");

  /* Inside a transaction: the put joins it.  Rolled back, nothing is kept
   * and the seq is drawn again (no gap); committed, it is kept. */
  store_alert_rec t = alert_of(&ALERTS[0]);
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_alert_put(s, &t), 0);
  assert_int_equal(t.seq, 8);
  alerts_reset(l);
  assert_int_equal(store_alert_recent(s, 1, NULL, collect_alert, l), 0);
  assert_string_equal(SEQS(l), "8");
  assert_int_equal(store_rollback(s), 0);
  assert_int_equal(count_of(s, STORE_T_ALERT_HISTORY), 7);
  assert_int_equal(store_begin(s), 0);
  t.seq = 0;
  assert_int_equal(store_alert_put(s, &t), 0);
  assert_int_equal(t.seq, 8);
  assert_int_equal(store_commit(s), 0);
  assert_int_equal(count_of(s, STORE_T_ALERT_HISTORY), 8);
  alerts_reset(l);
  assert_int_equal(store_alert_read(s, 7, 10, collect_alert, l), 0);
  assert_int_equal(l->n, 1);
  alert_want w8 = ALERTS[0];
  w8.seq = 8;
  assert_alert_is(&l->r[0], &w8);

  /* Through the fault wrapper: one counted call; an injected failure
   * writes nothing and the next put draws the next seq. */
  store *f = store_faulty_new(s, 1, DTO_EIO);
  t = alert_of(&ALERTS[1]);
  assert_int_equal(store_alert_put(f, &t), DTO_EIO);
  assert_int_equal(t.seq, -7);
  assert_int_equal(store_faulty_calls(f), 1);
  assert_int_equal(store_alert_put(f, &t), 0);
  assert_int_equal(t.seq, 9);
  store_faulty_arm(f, 1, DTO_EIO);
  alerts_reset(l);
  assert_int_equal(store_alert_read(f, 0, 100, collect_alert, l), DTO_EIO);
  assert_int_equal(store_alert_recent(f, 100, NULL, collect_alert, l), 0);
  assert_int_equal(l->n, 9);
  assert_int_equal(store_faulty_calls(f), 2);
  alerts_free(l);
  store_close(f);
}

/* Refused inputs: the right code, nothing written, r->seq untouched. */
static void test_alert_refused(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  store_alert_rec ok = alert_of(&ALERTS[0]);
  assert_int_equal(store_alert_put(s, &ok), 0);
  assert_int_equal(ok.seq, 1);

  store_alert_rec r = alert_of(&ALERTS[1]);
  r.event[0] = '\0';
  assert_int_equal(store_alert_put(s, &r), DTO_EINVAL);
  assert_string_equal(ERRMSG(s), "r.event: must not be empty");
  assert_int_equal(r.seq, -7);

  static const char *const not_objects[] = {"[1]",    "x",    " {}",
                                            "\"{}\"", "null", "1"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(not_objects); i++) {
    r = alert_of(&ALERTS[1]);
    snprintf(r.detail, sizeof r.detail, "%s", not_objects[i]);
    assert_int_equal(store_alert_put(s, &r), DTO_EINVAL);
    assert_non_null(strstr(ERRMSG(s), "r.detail: must be a JSON object"));
    assert_int_equal(r.seq, -7);
  }

  /* Each text field one byte too long: no NUL within its array. */
  struct {
    const char *what;
    size_t off, size;
  } fields[] = {
      {"r.event", offsetof(store_alert_rec, event), sizeof r.event},
      {"r.name", offsetof(store_alert_rec, name), sizeof r.name},
      {"r.severity", offsetof(store_alert_rec, severity), sizeof r.severity},
      {"r.fingerprint", offsetof(store_alert_rec, fingerprint),
       sizeof r.fingerprint},
      {"r.channel", offsetof(store_alert_rec, channel), sizeof r.channel},
      {"r.who", offsetof(store_alert_rec, who), sizeof r.who},
      {"r.detail", offsetof(store_alert_rec, detail), sizeof r.detail},
  };
  assert_int_equal(fields[0].size, 17);
  assert_int_equal(fields[2].size, 17);
  assert_int_equal(fields[3].size, 25);
  for (size_t i = 0; i < DTO_ARRAY_LEN(fields); i++) {
    r = alert_of(&ALERTS[1]);
    char *p = (char *)&r + fields[i].off;
    memset(p, '{', fields[i].size);
    assert_int_equal(store_alert_put(s, &r), DTO_ETOOBIG);
    char want[96];
    snprintf(want, sizeof want, "%s: longer than %zu bytes", fields[i].what,
             fields[i].size - 1);
    assert_string_equal(ERRMSG(s), want);
    assert_int_equal(r.seq, -7);
  }
  r = alert_of(&ALERTS[1]);
  snprintf(r.who, sizeof r.who, "b\xffob");
  assert_int_equal(store_alert_put(s, &r), DTO_EINVAL);
  assert_string_equal(ERRMSG(s), "r.who: not valid UTF-8");
  assert_int_equal(store_alert_put(s, NULL), DTO_EINVAL);

  /* Reads: a callback and a positive limit; a name that fits. */
  alerts *l = alerts_new(4);
  assert_int_equal(store_alert_read(s, 0, 0, collect_alert, l), DTO_EINVAL);
  assert_int_equal(store_alert_read(s, 0, -1, collect_alert, l), DTO_EINVAL);
  assert_int_equal(store_alert_read(s, 0, 1, NULL, NULL), DTO_EINVAL);
  assert_int_equal(store_alert_recent(s, 0, NULL, collect_alert, l),
                   DTO_EINVAL);
  assert_int_equal(store_alert_recent(s, 1, "x", NULL, NULL), DTO_EINVAL);
  char longname[STORE_ALERT_NAME_MAX + 2];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(store_alert_recent(s, 1, longname, collect_alert, l),
                   DTO_ETOOBIG);
  assert_int_equal(l->n, 0);
  alerts_free(l);

  /* Nothing of it was written; the next put is seq 2. */
  assert_int_equal(count_of(s, STORE_T_ALERT_HISTORY), 1);
  r = alert_of(&ALERTS[1]);
  assert_int_equal(store_alert_put(s, &r), 0);
  assert_int_equal(r.seq, 2);

  /* In a failed transaction: refused until rolled back. */
  assert_int_equal(store_begin(s), 0);
  store_user u = USER("x", "viewer");
  assert_int_equal(store_user_add(s, &u), 0);
  store_user dup = USER("x", "viewer");
  assert_int_equal(store_user_add(s, &dup), DTO_EEXIST);
  r = alert_of(&ALERTS[2]);
  assert_int_equal(store_alert_put(s, &r), DTO_ESTATE);
  assert_int_equal(r.seq, -7);
  assert_int_equal(store_rollback(s), 0);
  assert_int_equal(count_of(s, STORE_T_ALERT_HISTORY), 2);
  store_close(s);
}

/* Two handles on one database put in turn: each put draws the next seq
 * (1, 2, 3, ... in the order of the calls), whichever handle made it. */
static void test_alert_two_handles(void **state) {
  env *v = ENV(state);
  store *a = open_migrated(v);
  store *b = open_opt(v, true, 1, 2);
  for (int i = 0; i < 60; i++) {
    store_alert_rec r = alert_of(&ALERTS[i % 6]);
    snprintf(r.who, sizeof r.who, "%s", i % 2 ? "b" : "a");
    r.alert_id = i;
    assert_int_equal(store_alert_put(i % 2 ? b : a, &r), 0);
    assert_int_equal(r.seq, i + 1);
  }
  alerts *l = alerts_new(64);
  assert_int_equal(store_alert_read(b, 0, 100, collect_alert, l), 0);
  assert_int_equal(l->n, 60);
  for (int i = 0; i < 60; i++) {
    assert_int_equal(l->r[i].seq, i + 1);
    assert_int_equal(l->r[i].alert_id, i);
    assert_string_equal(l->r[i].who, i % 2 ? "b" : "a");
    assert_string_equal(l->r[i].event, ALERTS[i % 6].event);
  }
  alerts_reset(l);
  assert_int_equal(store_alert_recent(a, 2, NULL, collect_alert, l), 0);
  assert_string_equal(SEQS(l), "60,59");
  assert_string_equal(l->r[0].who, "b");
  alerts_free(l);
  store_close(b);
  store_close(a);
}

static void *put_alerts(void *arg) {
  appender *p = arg;
  for (int i = 0; i < 200 && !p->rc; i++) {
    store_alert_rec r = alert_of(&ALERTS[i % 6]);
    r.alert_id = i;
    if ((p->rc = store_alert_put(p->s, &r)))
      store_errmsg(p->s, p->msg, sizeof p->msg);
    p->seqs[i] = r.seq;
  }
  return NULL;
}

/* Two handles put at once (as two processes would): 400 distinct seqs,
 * increasing within each handle, 1..400 without a gap in the table. */
static void test_alert_concurrent(void **state) {
  env *v = ENV(state);
  store *m = open_migrated(v);
  appender p[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    p[i] = (appender){.v = v, .s = open_opt(v, true, 1, 2)};
    assert_int_equal(pthread_create(&th[i], NULL, put_alerts, &p[i]), 0);
  }
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  bool seen[401] = {false};
  for (int i = 0; i < 2; i++) {
    if (p[i].rc)
      fail_msg("writer %d: %s: %s", i, dto_errname(p[i].rc), p[i].msg);
    for (int k = 0; k < 200; k++) {
      int64_t q = p[i].seqs[k];
      assert_true(q >= 1 && q <= 400 && !seen[q]);
      seen[q] = true;
      if (k)
        assert_true(q > p[i].seqs[k - 1]);
    }
    store_close(p[i].s);
  }
  assert_int_equal(count_of(m, STORE_T_ALERT_HISTORY), 400);
  alerts *l = alerts_new(400);
  assert_int_equal(store_alert_read(m, 0, 1000, collect_alert, l), 0);
  assert_int_equal(l->n, 400);
  for (int i = 0; i < 400; i++)
    assert_int_equal(l->r[i].seq, i + 1);
  alerts_free(l);
  store_close(m);
}

/* A version-3 database in use (a user, a token, the audit log) migrates to
 * 4, keeps its rows, and its alert history starts at seq 1. */
static void test_migrate_alert_history(void **state) {
  env *v = ENV(state);
  store *s = open_raw(v);
  assert_int_equal(store_migrate_to(s, 3, NULL, NULL), 0);
  store_user u = USER("old", "admin");
  assert_int_equal(store_user_add(s, &u), 0);
  store_token t = TOKEN("y", u.id, "t");
  assert_int_equal(store_token_add(s, &t), 0);
  store_audit r = AUDIT("old", "auth.login", "{}");
  assert_int_equal(store_audit_append(s, &r, chain, NULL), 0);
  int64_t n;
  assert_int_not_equal(store_count(s, STORE_T_ALERT_HISTORY, &n), 0);
  store_alert_rec x = alert_of(&ALERTS[0]);
  assert_int_not_equal(store_alert_put(s, &x), 0);
  assert_int_equal(x.seq, -7);

  applied a = {0};
  assert_int_equal(store_migrate_to(s, 4, on_migrated, &a), 0);
  assert_int_equal(a.n, 1);
  assert_int_equal(a.versions[0], 4);
  int ver = 0;
  assert_int_equal(store_schema_version(s, &ver), 0);
  assert_int_equal(ver, 4);
  assert_int_equal(count_of(s, STORE_T_USERS), 1);
  assert_int_equal(count_of(s, STORE_T_API_TOKENS), 1);
  assert_int_equal(check_chain(s), 1);
  assert_int_equal(count_of(s, STORE_T_ALERT_HISTORY), 0);
  assert_int_equal(store_alert_put(s, &x), 0);
  assert_int_equal(x.seq, 1);
  store_close(s);
}

/* ---- fault injection -------------------------------------------------------
 */

/* What the script believes is durable: it counts only what a successful
 * commit (or a successful call outside a transaction) acknowledged. */
typedef struct model {
  int64_t events, orders, fills, positions, snapshots, idem;
} model;

/* A scripted session; stops at the first failure (rolling back an open
 * transaction).  Returns the first error, 0 if none. */
static int script(store *s, model *m) {
  int rc;
  store_event ev[3] = {EV("order.new", "{}"), EV("order.sent", "{}"),
                       EV("order.ack", "{}")};
  store_order o = ORDER("c1");
  store_fill f = {.fill_id = "e1", .cloid = "c1", .qty = FX_ONE};
  store_position p = {
      .account = "main", .strategy = "sma", .symbol = "AAPL", .qty = FX_ONE};
  if ((rc = store_begin(s)))
    return rc;
  if ((rc = store_append(s, ev, 3, NULL)) || (rc = store_upsert_order(s, &o)) ||
      (rc = store_insert_fill(s, &f, NULL)) ||
      (rc = store_upsert_position(s, &p)) || (rc = store_commit(s))) {
    store_rollback(s); /* may be refused after a failed commit: fine */
    return rc;
  }
  m->events += 3, m->orders++, m->fills++, m->positions++;
  store_event two[2] = {EV("fill", "{}"), EV("position", "{}")};
  if ((rc = store_append(s, two, 2, NULL)))
    return rc;
  m->events += 2;
  if ((rc = store_snapshot_put(s, two[1].seq, 1, "snap", 4)))
    return rc;
  m->snapshots++;
  store_idem r = {.key = "k", .request_hash = "h", .status = 200, .created = 1};
  if ((rc = store_idem_put(s, &r)))
    return rc;
  m->idem++;
  /* A transaction the session abandons itself. */
  store_event one = EV("x", "{}");
  if ((rc = store_begin(s)))
    return rc;
  if ((rc = store_append(s, &one, 1, NULL))) {
    store_rollback(s);
    return rc;
  }
  if ((rc = store_rollback(s)))
    return rc;
  int64_t max;
  return store_max_seq(s, &max);
}

static void assert_model(store *s, const model *m) {
  assert_int_equal(count_of(s, STORE_T_EVENTS), m->events);
  assert_int_equal(count_of(s, STORE_T_ORDERS), m->orders);
  assert_int_equal(count_of(s, STORE_T_FILLS), m->fills);
  assert_int_equal(count_of(s, STORE_T_POSITIONS), m->positions);
  assert_int_equal(count_of(s, STORE_T_SNAPSHOTS), m->snapshots);
  assert_int_equal(count_of(s, STORE_T_IDEMPOTENCY), m->idem);
}

static void test_faulty_walk(void **state) {
  env *v = ENV(state);
  /* Count the calls of a clean run. */
  store *s = store_faulty_new(open_migrated(v), 0, DTO_EIO);
  assert_string_equal(store_backend(s), "faulty");
  model m = {0};
  assert_int_equal(script(s, &m), 0);
  int total = store_faulty_calls(s);
  assert_true(total >= 12);
  assert_model(s, &(model){5, 1, 1, 1, 1, 1});
  store_close(s);

  for (int n = 1; n <= total; n++) {
    fresh(v);
    int err = n % 2 ? DTO_EIO : DTO_ENOSPC;
    s = store_faulty_new(open_migrated(v), n, err);
    memset(&m, 0, sizeof m);
    int rc = script(s, &m);
    if (rc != err)
      fail_msg("call %d: script returned %s, expected the injected %s", n,
               dto_errname(rc), dto_errname(err));
    assert_true(store_faulty_calls(s) >= n);
    /* What was acknowledged is there, nothing else (no partial batch). */
    store_faulty_arm(s, 0, 0);
    assert_model(s, &m);
    /* The store keeps working. */
    store_event ev = EV("after", "{}");
    assert_int_equal(store_append(s, &ev, 1, NULL), 0);
    store_close(s);
  }

  /* Sticky: a full disk until space is freed. */
  fresh(v);
  s = store_faulty_new(open_migrated(v), 3, DTO_ENOSPC);
  store_faulty_sticky(s, true);
  memset(&m, 0, sizeof m);
  assert_int_equal(script(s, &m), DTO_ENOSPC);
  store_event ev = EV("a", "{}");
  assert_int_equal(store_append(s, &ev, 1, NULL), DTO_ENOSPC);
  assert_non_null(strstr(ERRMSG(s), "injected DTO_ENOSPC"));
  int64_t max;
  assert_int_equal(store_max_seq(s, &max), DTO_ENOSPC);
  store_faulty_arm(s, 0, 0); /* space freed */
  assert_model(s, &m);
  assert_int_equal(store_append(s, &ev, 1, NULL), 0);
  assert_int_equal(store_faulty_calls(s), 7);
  memset(&m, 0, sizeof m);
  store_close(s);
}

/* The three recovery reads through the fault wrapper: one counted call per
 * listing (not per row), an injected failure reaches neither the inner
 * store nor fn, and leaves last_event's outputs alone. */
static void test_list_faulty(void **state) {
  env *v = ENV(state);
  store *s = store_faulty_new(open_migrated(v), 0, DTO_EIO);
  store_order o1 = ORDER("c1"), o2 = ORDER("c2");
  o2.created++;
  store_position p1 = {.account = "main", .strategy = "sma", .symbol = "AAPL"};
  store_position p2 = {.account = "main", .strategy = "sma", .symbol = "MSFT"};
  store_event ev[2] = {EV("a", "{}"), EV("b", "{}")};
  assert_int_equal(store_upsert_order(s, &o1), 0);
  assert_int_equal(store_upsert_order(s, &o2), 0);
  assert_int_equal(store_upsert_position(s, &p1), 0);
  assert_int_equal(store_upsert_position(s, &p2), 0);
  assert_int_equal(store_append(s, ev, 2, NULL), 0);
  olist *ol = xcalloc(1, sizeof *ol);
  plist *pl = xcalloc(1, sizeof *pl);
  int64_t seq;
  dto_time t;

  store_faulty_arm(s, 1, DTO_EIO);
  assert_int_equal(list_orders(s, false, ol, 0), DTO_EIO);
  assert_int_equal(ol->n, 0);
  assert_int_equal(store_faulty_calls(s), 1);
  assert_string_equal(ERRMSG(s), "faulty: list_orders (call 1): injected "
                                 "DTO_EIO");
  assert_int_equal(list_orders(s, true, ol, 0), 0);
  assert_int_equal(ol->n, 2);
  assert_string_equal(ol->o[0].cloid, "c1");
  assert_int_equal(store_faulty_calls(s), 2);

  store_faulty_arm(s, 2, DTO_ENOSPC);
  assert_int_equal(list_positions(s, pl, 0), 0);
  assert_int_equal(pl->n, 2);
  assert_int_equal(list_positions(s, pl, 0), DTO_ENOSPC);
  assert_int_equal(pl->n, 0);
  assert_string_equal(ERRMSG(s), "faulty: list_positions (call 2): injected "
                                 "DTO_ENOSPC");
  assert_int_equal(store_faulty_calls(s), 2);

  store_faulty_arm(s, 1, DTO_EIO);
  seq = 77, t = 88;
  assert_int_equal(store_last_event(s, &seq, &t), DTO_EIO);
  assert_int_equal(seq, 77);
  assert_int_equal(t, 88);
  assert_string_equal(ERRMSG(s), "faulty: last_event (call 1): injected "
                                 "DTO_EIO");
  assert_int_equal(store_last_event(s, &seq, &t), 0);
  assert_int_equal(seq, ev[1].seq);
  assert_int_equal(t, ev[1].time);
  assert_int_equal(store_faulty_calls(s), 2);

  /* A full disk fails reads too, until space is freed. */
  store_faulty_arm(s, 1, DTO_ENOSPC);
  store_faulty_sticky(s, true);
  assert_int_equal(list_orders(s, true, ol, 0), DTO_ENOSPC);
  assert_int_equal(list_positions(s, pl, 0), DTO_ENOSPC);
  assert_int_equal(store_last_event(s, &seq, &t), DTO_ENOSPC);
  assert_int_equal(ol->n + pl->n, 0);
  store_faulty_arm(s, 0, 0);
  assert_int_equal(list_orders(s, false, ol, 0), 0);
  assert_int_equal(ol->n, 2);
  assert_int_equal(list_positions(s, pl, 1), 9);
  assert_int_equal(store_faulty_calls(s), 2);
  free(ol);
  free(pl);
  store_close(s);
}

/* A back-end table written before the recovery reads existed (a fake in a
 * test): a clear error, directly and through the fault wrapper. */
static void bare_close(void *ctx) { DTO_UNUSED(ctx); }

static void test_list_unsupported(void **state) {
  DTO_UNUSED(state);
  static const store_ops bare = {.name = "bare", .close = bare_close};
  store *s = store_new(&bare, NULL);
  olist *ol = xcalloc(1, sizeof *ol);
  plist *pl = xcalloc(1, sizeof *pl);
  int64_t seq = 5;
  assert_int_equal(list_orders(s, false, ol, 0), DTO_EUNSUPPORTED);
  assert_string_equal(ERRMSG(s), "bare: list_orders is not supported");
  assert_int_equal(list_positions(s, pl, 0), DTO_EUNSUPPORTED);
  assert_string_equal(ERRMSG(s), "bare: list_positions is not supported");
  assert_int_equal(store_last_event(s, &seq, NULL), DTO_EUNSUPPORTED);
  assert_string_equal(ERRMSG(s), "bare: last_event is not supported");
  store_user u = USER("x", "viewer");
  assert_int_equal(store_user_add(s, &u), DTO_EUNSUPPORTED);
  assert_string_equal(ERRMSG(s), "bare: user_add is not supported");
  store_audit a = AUDIT("x", "y", "{}");
  assert_int_equal(store_audit_append(s, &a, chain, NULL), DTO_EUNSUPPORTED);
  assert_string_equal(ERRMSG(s), "bare: audit_append is not supported");
  store_alert_rec ar = alert_of(&ALERTS[0]);
  assert_int_equal(store_alert_put(s, &ar), DTO_EUNSUPPORTED);
  assert_string_equal(ERRMSG(s), "bare: alert_put is not supported");
  assert_int_equal(ar.seq, -7);
  assert_int_equal(seq, 5);
  s = store_faulty_new(s, 0, DTO_EIO);
  assert_int_equal(list_orders(s, true, ol, 0), DTO_EUNSUPPORTED);
  assert_string_equal(ERRMSG(s), "bare: list_orders is not supported");
  assert_int_equal(store_faulty_calls(s), 1);
  assert_int_equal(ol->n + pl->n, 0);
  free(ol);
  free(pl);
  store_close(s);
}

/* ---- identity and must_exist --------------------------------------------- */

/* The store deleted or replaced under an open handle: the health check
 * fails with a clear message; untouched (or put back), it passes; through
 * the fault wrapper too. */
static void test_check_identity(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  store_event ev = EV("a", "{}");
  assert_int_equal(store_append(s, &ev, 1, NULL), 0);
  assert_int_equal(store_check_identity(s), 0);
  assert_int_equal(store_check_identity(s), 0);
  store *w = store_faulty_new(s, 0, DTO_EIO);
  assert_int_equal(store_check_identity(w), 0);
  /* forwarded as a probe: not counted, never failed by the wrapper */
  assert_int_equal(store_faulty_calls(w), 0);
  store_faulty_arm(w, 1, DTO_EIO);
  assert_int_equal(store_check_identity(w), 0);
  store_faulty_arm(w, 0, 0);
  if (v->bk->pg) {
    /* the journal table dropped and made again: another table */
    raw_exec(v, "ALTER TABLE events RENAME TO events_gone");
    assert_int_equal(store_check_identity(w), DTO_ESTATE);
    assert_non_null(strstr(ERRMSG(w), "the store's database or journal "
                                      "table was dropped or replaced"));
    raw_exec(v, "CREATE TABLE events (seq bigint)");
    assert_int_equal(store_check_identity(w), DTO_ESTATE);
    /* the same table back under its name: the same journal */
    raw_exec(v, "DROP TABLE events");
    raw_exec(v, "ALTER TABLE events_gone RENAME TO events");
    assert_int_equal(store_check_identity(w), 0);
    store_close(w);
    return;
  }
  char away[600];
  snprintf(away, sizeof away, "%s.away", v->path);
  /* renamed away, another file put in its place */
  assert_int_equal(rename(v->path, away), 0);
  assert_int_equal(store_check_identity(w), DTO_ESTATE);
  assert_non_null(strstr(ERRMSG(w), "the store file was deleted or replaced"));
  FILE *f = fopen(v->path, "w");
  assert_non_null(f);
  fputs("another file", f);
  fclose(f);
  assert_int_equal(store_check_identity(w), DTO_ESTATE);
  assert_non_null(strstr(ERRMSG(w), "the store file was deleted or replaced"));
  /* put back: the same file again */
  assert_int_equal(rename(away, v->path), 0);
  assert_int_equal(store_check_identity(w), 0);
  /* deleted (a hard link elsewhere keeps the data, not the name) */
  assert_int_equal(link(v->path, away), 0);
  assert_int_equal(unlink(v->path), 0);
  assert_int_equal(store_check_identity(w), DTO_ESTATE);
  assert_non_null(strstr(ERRMSG(w), "the store file was deleted or replaced"));
  /* deleted for good: the path is gone */
  assert_int_equal(unlink(away), 0);
  assert_int_equal(store_check_identity(w), DTO_ESTATE);
  assert_non_null(strstr(ERRMSG(w), v->path));
  store_close(w);
}

/* must_exist: a store that holds no journal is refused (and a missing
 * SQLite file is not created), one that does opens. */
static void test_must_exist(void **state) {
  env *v = ENV(state);
  store_options o = {.create = true,
                     .must_exist = true,
                     .pg_pool_min = 1,
                     .connect_timeout_s = 1};
  store *s = NULL;
  char err[1024];
  /* empty: nothing there yet (SQLite: no file; PostgreSQL: a new schema) */
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), DTO_ENOENT);
  assert_null(s);
  if (!v->bk->pg) {
    assert_non_null(strstr(err, "dto migrate up")); /* the missing file */
    assert_int_equal(access(v->path, F_OK), -1);    /* and not created */
    /* an empty file in its place */
    FILE *f = fopen(v->path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), DTO_ENOENT);
    assert_null(s);
  }
  assert_non_null(strstr(err, "holds no journal, but one was expected"));
  /* with a schema it opens */
  store *m = open_migrated(v);
  store_close(m);
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), 0);
  assert_int_equal(store_check_identity(s), 0);
  store_close(s);
  /* without must_exist a fresh store is still made as before */
  fresh(v);
  o.must_exist = false;
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), 0);
  store_close(s);
}

/* The fault wrapper forwards every slot of the table: none of its slots is
 * NULL where the back-ends have one (a dropped slot would silently turn an
 * op, such as the identity check, into "not supported"). */
static void test_wrapper_slots(void **state) {
  env *v = ENV(state);
  store *inner = open_raw(v);
  const store_ops *in = store__ops(inner);
  store *s = store_faulty_new(inner, 0, DTO_EIO);
  const store_ops *out = store__ops(s);
  typedef void (*fnptr)(void);
  size_t first = offsetof(store_ops, close);
  size_t n = (sizeof(store_ops) - first) / sizeof(fnptr);
  assert_true(n >= 29);
  for (size_t i = 0; i < n; i++) {
    fnptr a, b;
    memcpy(&a, (const char *)in + first + i * sizeof(fnptr), sizeof a);
    memcpy(&b, (const char *)out + first + i * sizeof(fnptr), sizeof b);
    if (a && !b)
      fail_msg("the fault wrapper drops slot %zu of store_ops", i);
    if (!a)
      fail_msg("%s leaves slot %zu of store_ops empty", in->name, i);
  }
  store_close(s);
}

/* ---- back-end specific ------------------------------------------------------
 */

static void test_sqlite_reopen(void **state) {
  env *v = ENV(state);
  store *s = open_migrated(v);
  store_event ev[100];
  for (int i = 0; i < 100; i++)
    ev[i] = EV("e", "{\"n\":1}");
  assert_int_equal(store_append(s, ev, 100, NULL), 0);
  store_order o = ORDER("c1");
  assert_int_equal(store_upsert_order(s, &o), 0);
  assert_int_equal(store_snapshot_put(s, ev[99].seq, 5, "state", 5), 0);
  store_close(s);

  s = open_opt(v, true, 1, 1);
  assert_int_equal(count_of(s, STORE_T_EVENTS), 100);
  int64_t max;
  assert_int_equal(store_max_seq(s, &max), 0);
  assert_int_equal(max, ev[99].seq);
  store_order back;
  assert_int_equal(store_get_order(s, "c1", &back), 0);
  assert_order_equal(&back, &o);
  store_event more = EV("e", "{}");
  assert_int_equal(store_append(s, &more, 1, NULL), 0);
  assert_int_equal(more.seq, max + 1);
  store_close(s);

  sqlite3 *db;
  assert_int_equal(sqlite3_open(v->path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(
      sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void test_sqlite_open_errors(void **state) {
  env *v = ENV(state);
  store *s = NULL;
  char err[512];
  char url[600];
  snprintf(url, sizeof url, "sqlite:%s/missing.db", v->dir);
  assert_int_equal(store_open(url, NULL, &s, err, sizeof err), DTO_ENOENT);
  assert_null(s);
  assert_non_null(strstr(err, "missing.db"));
  assert_non_null(strstr(err, "dto migrate up"));
  /* A file that is not a database. */
  snprintf(url, sizeof url, "%s/junk.db", v->dir); /* a plain path */
  FILE *f = fopen(url, "w");
  assert_non_null(f);
  for (int i = 0; i < 200; i++)
    fputs("this is not an SQLite database file at all\n", f);
  fclose(f);
  assert_int_equal(store_open(url, NULL, &s, err, sizeof err), DTO_EIO);
  assert_null(s);
  assert_non_null(strstr(err, "junk.db"));
  /* Options. */
  store_options o = {.sqlite_synchronous = (enum store_sync)7};
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), DTO_EINVAL);
  assert_non_null(strstr(err, "synchronous"));
  o = (store_options){.create = true, .sqlite_synchronous = STORE_SYNC_NORMAL};
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), 0);
  store_close(s);
}

typedef struct worker {
  store *s;
  int id;
  int rc;
  int64_t seqs[40];
} worker;

static void *work(void *arg) {
  worker *w = arg;
  for (int i = 0; i < 20 && !w->rc; i++) {
    store_event ev = EV("t", "{}");
    if ((w->rc = store_append(w->s, &ev, 1, NULL)))
      break;
    w->seqs[2 * i] = ev.seq;
    /* And one in an explicit transaction on this thread. */
    if ((w->rc = store_begin(w->s)))
      break;
    store_event e2 = EV("u", "{}");
    if ((w->rc = store_append(w->s, &e2, 1, NULL)) ||
        (w->rc = store_commit(w->s))) {
      store_rollback(w->s);
      break;
    }
    w->seqs[2 * i + 1] = e2.seq;
  }
  return NULL;
}

static void test_pg_pool_threads(void **state) {
  env *v = ENV(state);
  store *s = open_opt(v, false, 2, 4);
  assert_int_equal(store_migrate_to(s, -1, NULL, NULL), 0);
  enum { T = 8 };
  worker w[T];
  pthread_t th[T];
  for (int i = 0; i < T; i++) {
    w[i] = (worker){.s = s, .id = i};
    assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < T; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < T; i++) {
    if (w[i].rc)
      fail_msg("worker %d: %s", i, dto_errname(w[i].rc));
    for (int k = 1; k < 40; k++)
      assert_true(w[i].seqs[k] > w[i].seqs[k - 1]);
  }
  assert_int_equal(count_of(s, STORE_T_EVENTS), T * 40);
  store_close(s);
}

typedef struct waiter {
  store *s;
  int rc;
  char msg[STORE_ERR_MAX];
} waiter;

static void *wait_for_pool(void *arg) {
  waiter *w = arg;
  int64_t n;
  w->rc = store_max_seq(w->s, &n);
  store_errmsg(w->s, w->msg, sizeof w->msg);
  return NULL;
}

/* A transaction pins the only connection: another thread waits for the
 * connect timeout, then gets DTO_EAGAIN (and its own error message). */
static void test_pg_pool_exhausted(void **state) {
  env *v = ENV(state);
  store *s = open_opt(v, false, 1, 1);
  assert_int_equal(store_migrate_to(s, -1, NULL, NULL), 0);
  assert_int_equal(store_commit(s), DTO_ESTATE); /* main's own message */
  assert_int_equal(store_begin(s), 0);
  waiter w = {.s = s};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, wait_for_pool, &w), 0);
  pthread_join(th, NULL);
  assert_int_equal(w.rc, DTO_EAGAIN);
  assert_non_null(strstr(w.msg, "busy"));
  assert_non_null(strstr(ERRMSG(s), "no transaction is open"));
  assert_int_equal(store_rollback(s), 0);
  int64_t n;
  assert_int_equal(store_max_seq(s, &n), 0);
  store_close(s);
}

static void test_pg_open_errors(void **state) {
  env *v = ENV(state);
  store *s = NULL;
  char err[1024];
  store_options o = {.pg_pool_min = 1, .connect_timeout_s = 2};
  /* A port nothing listens on; the password must not show. */
  const char *url = "postgresql://dto:s3cretpw@127.0.0.1:1/db?sslmode=disable";
  assert_int_equal(store_open(url, &o, &s, err, sizeof err), DTO_EIO);
  assert_null(s);
  assert_null(strstr(err, "s3cretpw"));
  assert_non_null(strstr(err, "postgresql://dto:***@127.0.0.1:1/db"));
  /* libpq quotes a malformed value in its message: still hidden. */
  url = "postgresql://dto:s3c%zzretpw@127.0.0.1:1/db";
  assert_int_equal(store_open(url, &o, &s, err, sizeof err), DTO_EIO);
  assert_null(strstr(err, "s3c"));
  assert_null(strstr(err, "retpw"));
  assert_non_null(strstr(err, "***"));
  o.pg_pool_min = 5;
  o.pg_pool_max = 2;
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), DTO_EINVAL);
  assert_non_null(strstr(err, "pool"));
  o = (store_options){.pg_pool_min = 1, .sslmode = "sometimes"};
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), DTO_EINVAL);
  assert_non_null(strstr(err, "sslmode"));
  o.sslmode = "disable";
  o.statement_timeout_ms = -1;
  assert_int_equal(store_open(v->url, &o, &s, err, sizeof err), 0);
  store_close(s);
}

/* ---- URLs (no back-end needed) ------------------------------------------- */

static void test_urls(void **state) {
  DTO_UNUSED(state);
  char out[256];
  struct {
    const char *in, *out;
  } red[] = {
      {"postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"},
      {"postgres://u@h/db", "postgres://u@h/db"},
      {"postgresql://u:p%40ss@h/db?password=x&sslmode=require",
       "postgresql://u:***@h/db?password=***&sslmode=require"},
      {"postgresql://h/db?sslmode=require&password=abc",
       "postgresql://h/db?sslmode=require&password=***"},
      {"postgresql://u:a/b@h/db", "postgresql://u:***@h/db"},
      {"postgresql://u:a@b@h/db", "postgresql://u:***@h/db"},
      {"postgresql://u:p?w@h/db", "postgresql://u:***@h/db"},
      {"postgresql://h/db?sslpassword=k", "postgresql://h/db?sslpassword=***"},
      {"sqlite:/tmp/x.db", "sqlite:/tmp/x.db"},
      {"/var/lib/dto/dto.db", "/var/lib/dto/dto.db"},
      {"", ""},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(red); i++) {
    assert_int_equal(store_url_redact(red[i].in, out, sizeof out), 0);
    assert_string_equal(out, red[i].out);
  }
  assert_int_equal(store_url_redact("postgresql://u:pw@host/db", out, 10),
                   DTO_ETOOBIG);
  assert_string_equal(out, "");
  assert_true(store_url_has_password("postgresql://u:pw@h/db"));
  assert_true(store_url_has_password("postgres://h/db?password=x"));
  assert_false(store_url_has_password("postgresql://u@h/db"));
  assert_false(store_url_has_password("sqlite:/x:y@z"));

  store *s = NULL;
  char err[512];
  assert_int_equal(store_open("mysql://u:pw@h/db", NULL, &s, err, sizeof err),
                   DTO_EUNSUPPORTED);
  assert_null(strstr(err, "pw"));
  assert_non_null(strstr(err, "unsupported"));
  assert_int_equal(store_open("redis://h", NULL, &s, err, sizeof err),
                   DTO_EUNSUPPORTED);
  assert_string_equal(err, "store URL: unsupported scheme 'redis' (use "
                           "sqlite:PATH or postgresql://...)");
  assert_int_equal(store_open("", NULL, &s, err, sizeof err), DTO_EINVAL);
  assert_string_equal(err, "store URL is empty");
  assert_int_equal(store_open("sqlite:", NULL, &s, err, sizeof err),
                   DTO_EINVAL);
  assert_non_null(strstr(err, "no file name"));
  assert_int_equal(store_open("sqlite:a\nb", NULL, &s, err, sizeof err),
                   DTO_EINVAL);
  assert_non_null(strstr(err, "control character"));
  assert_null(s);
  assert_string_equal(store_table_name(STORE_T_AUDIT_LOG), "audit_log");
  assert_string_equal(store_table_name(STORE_T_API_TOKENS), "api_tokens");
  assert_string_equal(store_table_name(STORE_T_ALERT_HISTORY), "alert_history");
  assert_null(store_table_name(STORE_T_COUNT));
}

#define BOTH(f)                                                                \
  cmocka_unit_test_prestate_setup_teardown(f, setup, teardown,                 \
                                           (void *)&BK_SQLITE),                \
      cmocka_unit_test_prestate_setup_teardown(f, setup, teardown,             \
                                               (void *)&BK_PG)
#define SQLITE_ONLY(f)                                                         \
  cmocka_unit_test_prestate_setup_teardown(f, setup, teardown,                 \
                                           (void *)&BK_SQLITE)
#define PG_ONLY(f)                                                             \
  cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)&BK_PG)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_urls),
      BOTH(test_migrate_empty),
      BOTH(test_migrate_from_each_version),
      BOTH(test_require_current),
      BOTH(test_migrations_embedded),
      BOTH(test_append_read),
      BOTH(test_append_limits),
      BOTH(test_append_atomic),
      BOTH(test_transactions),
      BOTH(test_failed_transaction),
      BOTH(test_orders),
      BOTH(test_fills_positions_pnl_risk),
      BOTH(test_list_orders),
      BOTH(test_list_orders_many),
      BOTH(test_list_positions),
      BOTH(test_last_event),
      BOTH(test_snapshots),
      BOTH(test_idempotency),
      BOTH(test_users),
      BOTH(test_sessions),
      BOTH(test_tokens),
      BOTH(test_audit),
      BOTH(test_audit_concurrent),
      BOTH(test_migrate_api_auth),
      BOTH(test_alerts),
      BOTH(test_alert_refused),
      BOTH(test_alert_two_handles),
      BOTH(test_alert_concurrent),
      BOTH(test_migrate_alert_history),
      BOTH(test_faulty_walk),
      BOTH(test_list_faulty),
      cmocka_unit_test(test_list_unsupported),
      BOTH(test_check_identity),
      BOTH(test_must_exist),
      BOTH(test_wrapper_slots),
      SQLITE_ONLY(test_sqlite_reopen),
      SQLITE_ONLY(test_sqlite_open_errors),
      PG_ONLY(test_pg_pool_threads),
      PG_ONLY(test_pg_pool_exhausted),
      PG_ONLY(test_pg_open_errors),
  };
  if (sodium_init() < 0)
    return 1;
  if (!getenv("DTO_TEST_PG_URL"))
    fprintf(stderr, "test_store: DTO_TEST_PG_URL not set: PostgreSQL tests "
                    "skipped (make test-store-pg runs them)\n");
  return cmocka_run_group_tests(tests, NULL, NULL);
}
