/* bench_store.c - durable journal appends per second through the store.
 *
 * Appends N events (a ~100-byte JSON payload each) in batches of B, one
 * transaction per batch, with synchronous=FULL (an fsync per commit):
 *   1. through the SQLite store (store_append);
 *   2. the same rows into the same table on the same disk with the plain
 *      sqlite3 API (same pragmas, one prepared INSERT, BEGIN/COMMIT per
 *      batch): the ceiling;
 *   3. reading every event back through store_read_events (the journal
 *      replay a restart does).
 * When DTO_TEST_PG_URL is set, the same for PostgreSQL: the store next to
 * bare libpq (the same prepared INSERT pipelined per batch).  Each figure
 * is the median of R runs on fresh files / schemas.
 *
 * usage: bench_store [N_EVENTS [BATCH [DIR [RUNS]]]]
 *        (default 200000 1000 $TMPDIR-or-/tmp 3)
 */
#include "core/prelude.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/store.h"

#define MAX_RUNS 9

typedef struct row {
  char payload[160];
  size_t len;
} row;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static _Noreturn void die(const char *what, const char *msg) {
  fprintf(stderr, "bench_store: %s: %s\n", what, msg);
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

static row *make_rows(size_t n) {
  row *r = xcalloc(n, sizeof *r);
  for (size_t i = 0; i < n; i++) {
    int len = snprintf(r[i].payload, sizeof r[i].payload,
                       "{\"cloid\":\"main-sma-20250106-%zu\",\"symbol\":"
                       "\"AAPL\",\"side\":\"buy\",\"qty\":\"100\",\"price\":"
                       "\"187.25\"}",
                       i);
    r[i].len = (size_t)len;
  }
  return r;
}

static const dto_time T0 = 1736173800LL * DTO_NS_PER_SEC;

/* ---- through the store ------------------------------------------------- */

static store *open_store(const char *url, bool create) {
  store_options o = {.create = create, .pg_pool_min = 1, .pg_pool_max = 2};
  store *s;
  char err[1024];
  if (store_open(url, &o, &s, err, sizeof err))
    die("open", err);
  if (store_migrate_to(s, -1, NULL, NULL))
    die("migrate", store_errmsg(s, err, sizeof err));
  return s;
}

static double store_append_run(store *s, const row *r, size_t n, size_t batch) {
  store_event *ev = xcalloc(batch, sizeof *ev);
  char err[STORE_ERR_MAX];
  double t = now_s();
  for (size_t i = 0; i < n; i += batch) {
    size_t m = n - i < batch ? n - i : batch;
    for (size_t k = 0; k < m; k++)
      ev[k] = (store_event){.time = T0 + (dto_time)(i + k),
                            .type = "order.sent",
                            .account = "main",
                            .strategy = "sma",
                            .payload = r[i + k].payload,
                            .payload_len = r[i + k].len};
    if (store_append(s, ev, m, NULL))
      die("append", store_errmsg(s, err, sizeof err));
  }
  t = now_s() - t;
  free(ev);
  return (double)n / t;
}

static int count_event(void *arg, const store_event *ev) {
  int64_t *n = arg;
  *n += ev->payload_len > 0;
  return 0;
}

static double store_read_run(store *s, size_t n) {
  int64_t got = 0;
  char err[STORE_ERR_MAX];
  double t = now_s();
  if (store_read_events(s, 0, 0, count_event, &got))
    die("read", store_errmsg(s, err, sizeof err));
  t = now_s() - t;
  if ((size_t)got != n)
    die("read", "wrong number of events");
  return (double)n / t;
}

/* ---- bare SQLite -----------------------------------------------------------
 */

static void sq_check(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    die(what, sqlite3_errmsg(db));
}

static double bare_sqlite_run(const char *path, const row *r, size_t n,
                              size_t batch) {
  /* The same schema, made by the store's own migration. */
  char url[4200];
  snprintf(url, sizeof url, "sqlite:%s", path);
  store_close(open_store(url, true));
  sqlite3 *db;
  sq_check(NULL, sqlite3_open(path, &db), "open");
  sq_check(db, sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL),
           "wal");
  sq_check(db, sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL),
           "synchronous");
  sqlite3_stmt *ins, *begin, *commit;
  sq_check(db,
           sqlite3_prepare_v2(db,
                              "INSERT INTO events (time, type, account, "
                              "strategy, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
                              -1, &ins, NULL),
           "prepare");
  sq_check(db, sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL),
           "prepare");
  sq_check(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), "prepare");
  double t = now_s();
  for (size_t i = 0; i < n; i += batch) {
    size_t m = n - i < batch ? n - i : batch;
    sq_check(db, sqlite3_step(begin), "begin");
    sqlite3_reset(begin);
    for (size_t k = 0; k < m; k++) {
      sqlite3_bind_int64(ins, 1, T0 + (dto_time)(i + k));
      sqlite3_bind_text(ins, 2, "order.sent", -1, SQLITE_STATIC);
      sqlite3_bind_text(ins, 3, "main", -1, SQLITE_STATIC);
      sqlite3_bind_text(ins, 4, "sma", -1, SQLITE_STATIC);
      sqlite3_bind_text(ins, 5, r[i + k].payload, (int)r[i + k].len,
                        SQLITE_STATIC);
      sq_check(db, sqlite3_step(ins), "insert");
      sqlite3_reset(ins);
    }
    sq_check(db, sqlite3_step(commit), "commit");
    sqlite3_reset(commit);
  }
  t = now_s() - t;
  sqlite3_finalize(ins);
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_close(db);
  return (double)n / t;
}

static void rm_db(const char *path) {
  char p[4200];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
}

/* ---- bare libpq -------------------------------------------------------------
 */

static void pq_ok(PGconn *c, PGresult *res, const char *what) {
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    die(what, PQerrorMessage(c));
  PQclear(res);
}

static double bare_pg_run(const char *url, const row *r, size_t n,
                          size_t batch) {
  store_close(open_store(url, false)); /* the schema */
  PGconn *c = PQconnectdb(url);
  if (PQstatus(c) != CONNECTION_OK)
    die("connect", PQerrorMessage(c));
  pq_ok(c,
        PQprepare(c, "ins",
                  "INSERT INTO events (time, type, account, strategy, "
                  "payload) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
                  5, NULL),
        "prepare");
  double t = now_s();
  for (size_t i = 0; i < n; i += batch) {
    size_t m = n - i < batch ? n - i : batch;
    pq_ok(c, PQexec(c, "BEGIN"), "begin");
    if (!PQenterPipelineMode(c))
      die("pipeline", PQerrorMessage(c));
    for (size_t k = 0; k < m; k++) {
      char tbuf[24];
      snprintf(tbuf, sizeof tbuf, "%lld", (long long)(T0 + (dto_time)(i + k)));
      const char *vals[5] = {tbuf, "order.sent", "main", "sma",
                             r[i + k].payload};
      if (!PQsendQueryPrepared(c, "ins", 5, vals, NULL, NULL, 0))
        die("send", PQerrorMessage(c));
      if ((k + 1) % 256 == 0 || k + 1 == m) {
        if (!PQpipelineSync(c))
          die("sync", PQerrorMessage(c));
        for (;;) {
          PGresult *res = PQgetResult(c);
          if (!res)
            continue;
          ExecStatusType st = PQresultStatus(res);
          PQclear(res);
          if (st == PGRES_PIPELINE_SYNC)
            break;
          if (st != PGRES_TUPLES_OK)
            die("insert", PQerrorMessage(c));
        }
      }
    }
    if (!PQexitPipelineMode(c))
      die("pipeline", PQerrorMessage(c));
    pq_ok(c, PQexec(c, "COMMIT"), "commit");
  }
  t = now_s() - t;
  PQfinish(c);
  return (double)n / t;
}

/* A fresh schema on the server at base; its URL goes to out. */
static void pg_schema(PGconn *admin, const char *base, int k, char *out,
                      size_t cap) {
  char sql[128], name[64];
  snprintf(name, sizeof name, "dto_bench_%ld_%d", (long)getpid(), k);
  snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", name);
  pq_ok(admin, PQexec(admin, sql), "drop schema");
  snprintf(sql, sizeof sql, "CREATE SCHEMA %s", name);
  pq_ok(admin, PQexec(admin, sql), "create schema");
  snprintf(out, cap, "%s%soptions=-csearch_path%%3D%s", base,
           strchr(base, '?') ? "&" : "?", name);
}

static void report(const char *name, double store_v[], double bare_v[],
                   double read_v[], int runs) {
  double sm = median(store_v, runs), bm = median(bare_v, runs),
         rm = median(read_v, runs);
  printf("%s store append: %.0f events/s\n", name, sm);
  printf("%s bare insert:  %.0f events/s\n", name, bm);
  printf("%s ratio bare/store: %.2fx\n", name, bm / sm);
  printf("%s read back through the store: %.0f events/s (%.2f s per "
         "million)\n",
         name, rm, 1e6 / rm);
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 200000;
  size_t batch = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 1000;
  const char *dir = argc > 3 ? argv[3] : getenv("TMPDIR");
  int runs = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 3;
  if (!dir || !*dir)
    dir = "/tmp";
  if (!n || !batch || batch > STORE_APPEND_MAX || runs < 1 || runs > MAX_RUNS) {
    fprintf(stderr,
            "usage: bench_store [N_EVENTS [BATCH (1..%d) [DIR [RUNS "
            "(1..%d)]]]]\n",
            STORE_APPEND_MAX, MAX_RUNS);
    return 2;
  }
  row *r = make_rows(n);
  printf("events: %zu, batch: %zu per transaction, synchronous=FULL, "
         "payload %zu bytes, dir %s, median of %d runs\n",
         n, batch, r[0].len, dir, runs);
  double sv[MAX_RUNS], bv[MAX_RUNS], rv[MAX_RUNS];
  char spath[4096], bpath[4096], url[4200];
  snprintf(spath, sizeof spath, "%s/bench-store-%ld.db", dir, (long)getpid());
  snprintf(bpath, sizeof bpath, "%s/bench-bare-%ld.db", dir, (long)getpid());
  for (int k = 0; k < runs; k++) {
    rm_db(spath);
    rm_db(bpath);
    /* Alternate the order so neither side always runs on a warmer disk. */
    if (k % 2)
      bv[k] = bare_sqlite_run(bpath, r, n, batch);
    snprintf(url, sizeof url, "sqlite:%s", spath);
    store *s = open_store(url, true);
    sv[k] = store_append_run(s, r, n, batch);
    rv[k] = store_read_run(s, n);
    store_close(s);
    if (!(k % 2))
      bv[k] = bare_sqlite_run(bpath, r, n, batch);
  }
  rm_db(spath);
  rm_db(bpath);
  report("sqlite", sv, bv, rv, runs);

  const char *pg = getenv("DTO_TEST_PG_URL");
  if (pg && *pg) {
    PGconn *admin = PQconnectdb(pg);
    if (PQstatus(admin) != CONNECTION_OK)
      die("connect", PQerrorMessage(admin));
    pq_ok(admin, PQexec(admin, "SET client_min_messages = warning"), "set");
    for (int k = 0; k < runs; k++) {
      pg_schema(admin, pg, 2 * k, url, sizeof url);
      store *s = open_store(url, false);
      sv[k] = store_append_run(s, r, n, batch);
      rv[k] = store_read_run(s, n);
      store_close(s);
      pg_schema(admin, pg, 2 * k + 1, url, sizeof url);
      bv[k] = bare_pg_run(url, r, n, batch);
    }
    for (int k = 0; k < 2 * runs; k++) {
      char sql[128];
      snprintf(sql, sizeof sql, "DROP SCHEMA dto_bench_%ld_%d CASCADE",
               (long)getpid(), k);
      pq_ok(admin, PQexec(admin, sql), "drop schema");
    }
    PQfinish(admin);
    report("postgres", sv, bv, rv, runs);
  } else {
    printf("postgres: skipped (DTO_TEST_PG_URL not set)\n");
  }
  free(r);
  return 0;
}
