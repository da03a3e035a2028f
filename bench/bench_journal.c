/* bench_journal.c - durable appends per second through the journal writer.
 *
 * SQLite with synchronous=FULL (an fsync per commit), WAL, on DIR's disk:
 *   1. journal, streaming: N events put as fast as the queue takes them,
 *      one barrier at the end (group commit cuts the batches);
 *   2. journal, write-ahead: M events with a barrier after every 100 puts
 *      (the engine waits for each order's event before sending it);
 *   3. bare SQLite: the same N rows into the same table with the plain
 *      sqlite3 API (same pragmas, one prepared INSERT, BEGIN IMMEDIATE /
 *      COMMIT per batch of 4096, the journal's default max batch): the
 *      ceiling.
 * The time of 1 and 2 runs from the first put to the barrier's return, so
 * it includes the copy into the queue, the writer thread and every fsync.
 * Each figure is the median of R runs on fresh files.
 *
 * usage: bench_journal [N_EVENTS [DIR [RUNS [WA_EVENTS]]]]
 *        (default 500000 $TMPDIR-or-/tmp 3 N/5)
 */
#include "core/prelude.h"

#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/journal.h"
#include "store/store.h"

#define MAX_RUNS 9
#define BARE_BATCH 4096
#define WA_EVERY 100

typedef struct row {
  char payload[160];
  size_t len;
} row;

static const dto_time T0 = 1736173800LL * DTO_NS_PER_SEC;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static _Noreturn void die(const char *what, const char *msg) {
  fprintf(stderr, "bench_journal: %s: %s\n", what, msg);
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

static void rm_db(const char *path) {
  char p[4200];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
}

static store *open_store(const char *path) {
  char url[4200], err[1024];
  snprintf(url, sizeof url, "sqlite:%s", path);
  store_options o = {.create = true}; /* synchronous=FULL by default */
  store *s;
  if (store_open(url, &o, &s, err, sizeof err))
    die("open", err);
  if (store_migrate_to(s, -1, NULL, NULL))
    die("migrate", store_errmsg(s, err, sizeof err));
  return s;
}

/* ---- through the journal --------------------------------------------------
 */

typedef struct jrun {
  double rate;  /* events per second */
  double batch; /* mean items per transaction */
} jrun;

static jrun journal_run(const char *path, const row *r, size_t n,
                        size_t every) {
  rm_db(path);
  journal *j = journal_new(open_store(path), NULL);
  journal_err err = {0};
  uint64_t t = 0;
  double t0 = now_s();
  for (size_t i = 0; i < n; i++) {
    store_event ev = {.time = T0 + (dto_time)i,
                      .type = "order.sent",
                      .account = "main",
                      .strategy = "sma",
                      .payload = r[i].payload,
                      .payload_len = r[i].len};
    t = journal_put_event(j, &ev, &err);
    if (!t)
      die("put", err.msg);
    if (every && (i + 1) % every == 0) {
      int rc = journal_barrier(j, t, -1);
      if (rc)
        die("barrier", dto_strerror(rc));
    }
  }
  int rc = journal_barrier(j, t, -1);
  if (rc)
    die("barrier", dto_strerror(rc));
  double dt = now_s() - t0;
  journal_stats st;
  journal_stats_get(j, &st);
  if (journal_close(j))
    die("close", "journal_close failed");
  /* Check that it is all there. */
  store *s = open_store(path);
  int64_t got = 0;
  if (store_count(s, STORE_T_EVENTS, &got) || (size_t)got != n)
    die("verify", "wrong number of events in the store");
  store_close(s);
  rm_db(path);
  return (jrun){(double)n / dt, (double)st.durable / (double)st.commits};
}

/* ---- bare SQLite ------------------------------------------------------------
 */

static void sq_check(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    die(what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static double bare_run(const char *path, const row *r, size_t n) {
  rm_db(path);
  store_close(open_store(path)); /* the same schema, by the migrations */
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
  for (size_t i = 0; i < n; i += BARE_BATCH) {
    size_t m = n - i < BARE_BATCH ? n - i : BARE_BATCH;
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
  rm_db(path);
  return (double)n / t;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 500000;
  const char *dir = argc > 2 ? argv[2] : getenv("TMPDIR");
  int runs = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 3;
  size_t wa = argc > 4 ? (size_t)strtoull(argv[4], NULL, 10) : n / 5;
  if (!dir || !*dir)
    dir = "/tmp";
  if (!n || runs < 1 || runs > MAX_RUNS || wa < WA_EVERY) {
    fprintf(stderr,
            "usage: bench_journal [N_EVENTS [DIR [RUNS (1..%d) [WA_EVENTS "
            "(>= %d)]]]]\n",
            MAX_RUNS, WA_EVERY);
    return 2;
  }
  size_t rows = n > wa ? n : wa;
  row *r = make_rows(rows);
  printf("journal: synchronous=FULL SQLite (WAL) in %s, payload %zu bytes, "
         "median of %d runs\n",
         dir, r[0].len, runs);
  double jv[MAX_RUNS], wv[MAX_RUNS], bv[MAX_RUNS], jb[MAX_RUNS], wb[MAX_RUNS];
  char jpath[4096], bpath[4096];
  snprintf(jpath, sizeof jpath, "%s/bench-journal-%ld.db", dir, (long)getpid());
  snprintf(bpath, sizeof bpath, "%s/bench-journal-bare-%ld.db", dir,
           (long)getpid());
  for (int k = 0; k < runs; k++) {
    /* Alternate the order so neither side always runs on a warmer disk. */
    if (k % 2)
      bv[k] = bare_run(bpath, r, n);
    jrun a = journal_run(jpath, r, n, 0);
    jrun b = journal_run(jpath, r, wa, WA_EVERY);
    if (!(k % 2))
      bv[k] = bare_run(bpath, r, n);
    jv[k] = a.rate;
    jb[k] = a.batch;
    wv[k] = b.rate;
    wb[k] = b.batch;
  }
  double jm = median(jv, runs), wm = median(wv, runs), bm = median(bv, runs);
  printf("journal, %zu events, one barrier at the end: %.0f events/s "
         "(mean batch %.0f)\n",
         n, jm, median(jb, runs));
  printf("journal, %zu events, a barrier every %d puts: %.0f events/s "
         "(mean batch %.0f)\n",
         wa, WA_EVERY, wm, median(wb, runs));
  printf("bare sqlite3, %zu rows, batches of %d: %.0f events/s\n", n,
         BARE_BATCH, bm);
  printf("ratio bare/journal: %.2fx streaming, %.2fx write-ahead\n", bm / jm,
         bm / wm);
  printf("budget >= 100000 events/s: streaming %s, write-ahead %s\n",
         jm >= 100000 ? "met" : "NOT met", wm >= 100000 ? "met" : "NOT met");
  free(r);
  return 0;
}
