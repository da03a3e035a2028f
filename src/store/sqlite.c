/* sqlite.c - the SQLite store back-end: one connection, WAL, prepared
 * statements cached for the connection's life.
 *
 * Durability: WAL with synchronous=FULL by default, so a commit is on disk
 * when it returns.  A batch append is one transaction; group commit (many
 * events per batch) is the caller's job.  Transactions start with BEGIN
 * IMMEDIATE so a writer never meets SQLITE_BUSY halfway through.  The
 * connection is not thread-safe: one thread at a time (see store.h).
 */
#include "core/prelude.h"

#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/store.h"
#include "store/store_int.h"

enum stmt_id {
  S_BEGIN,
  S_COMMIT,
  S_ROLLBACK,
  S_HAS_MIGRATIONS,
  S_VERSION,
  S_RECORD_MIGRATION,
  S_APPEND,
  S_READ,
  S_MAXSEQ,
  S_LAST_EVENT,
  S_ORDER_UPSERT,
  S_ORDER_GET,
  S_ORDER_LIST,
  S_ORDER_LIST_OPEN,
  S_FILL_INSERT,
  S_POS_UPSERT,
  S_POS_GET,
  S_POS_LIST,
  S_PNL_UPSERT,
  S_PNL_GET,
  S_RISK_INSERT,
  S_SNAP_PUT,
  S_SNAP_LATEST,
  S_SNAP_PRUNE,
  S_IDEM_PUT,
  S_IDEM_GET,
  S_IDEM_PURGE,
  S_COUNT0, /* one per table, in enum store_table order */
  S__COUNT = S_COUNT0 + STORE_T_COUNT
};

/* The columns order_row() and position_row() read, in their order. */
#define ORDER_COLS                                                             \
  "cloid, broker_id, account, strategy, symbol, side, type, tif, qty, "        \
  "limit_price, stop_price, state, filled, avg_price, fees, created, updated"
#define POSITION_COLS                                                          \
  "account, strategy, symbol, qty, cost, realized, fees, updated"

static const char *const sql_text[S__COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_HAS_MIGRATIONS] = "SELECT count(*) FROM sqlite_master WHERE type = "
                         "'table' AND name = 'schema_migrations'",
    [S_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_migrations",
    [S_RECORD_MIGRATION] =
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
        "(?1, ?2, CAST(strftime('%s', 'now') AS INTEGER) * 1000000000)",
    [S_APPEND] = "INSERT INTO events (time, type, account, strategy, payload) "
                 "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_READ] = "SELECT seq, time, type, account, strategy, payload FROM events "
               "WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [S_MAXSEQ] = "SELECT coalesce(max(seq), 0) FROM events",
    [S_LAST_EVENT] = "SELECT seq, time FROM events ORDER BY seq DESC LIMIT 1",
    [S_ORDER_UPSERT] =
        "INSERT INTO orders (cloid, broker_id, account, strategy, symbol, "
        "side, type, tif, qty, limit_price, stop_price, state, filled, "
        "avg_price, fees, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
        "ON CONFLICT (cloid) DO UPDATE SET broker_id = excluded.broker_id, "
        "account = excluded.account, strategy = excluded.strategy, "
        "symbol = excluded.symbol, side = excluded.side, type = excluded.type, "
        "tif = excluded.tif, qty = excluded.qty, "
        "limit_price = excluded.limit_price, stop_price = "
        "excluded.stop_price, state = excluded.state, filled = "
        "excluded.filled, avg_price = excluded.avg_price, fees = "
        "excluded.fees, updated = excluded.updated",
    [S_ORDER_GET] = "SELECT " ORDER_COLS " FROM orders WHERE cloid = ?1",
    /* BINARY collation: cloids compare bytewise, as on PostgreSQL. */
    [S_ORDER_LIST] =
        "SELECT " ORDER_COLS " FROM orders ORDER BY created, cloid",
    [S_ORDER_LIST_OPEN] =
        "SELECT " ORDER_COLS " FROM orders WHERE state "
        "NOT IN " STORE__TERMINAL_STATES_SQL " ORDER BY created, cloid",
    [S_FILL_INSERT] = "INSERT INTO fills (fill_id, cloid, qty, price, fee, "
                      "time) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                      "ON CONFLICT (fill_id) DO NOTHING",
    [S_POS_UPSERT] =
        "INSERT INTO positions (account, strategy, symbol, qty, cost, "
        "realized, fees, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
        "ON CONFLICT (account, strategy, symbol) DO UPDATE SET "
        "qty = excluded.qty, cost = excluded.cost, realized = "
        "excluded.realized, fees = excluded.fees, updated = excluded.updated",
    [S_POS_GET] = "SELECT " POSITION_COLS " FROM positions WHERE account = "
                  "?1 AND strategy = ?2 AND symbol = ?3",
    [S_POS_LIST] = "SELECT " POSITION_COLS " FROM positions ORDER BY "
                   "account, strategy, symbol",
    [S_PNL_UPSERT] =
        "INSERT INTO daily_pnl (account, strategy, day, realized, unrealized, "
        "fees, trades, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
        "ON CONFLICT (account, strategy, day) DO UPDATE SET "
        "realized = excluded.realized, unrealized = excluded.unrealized, "
        "fees = excluded.fees, trades = excluded.trades, "
        "updated = excluded.updated",
    [S_PNL_GET] = "SELECT account, strategy, day, realized, unrealized, fees, "
                  "trades, updated FROM daily_pnl WHERE account = ?1 AND "
                  "strategy = ?2 AND day = ?3",
    [S_RISK_INSERT] =
        "INSERT INTO risk_decisions (time, account, strategy, cloid, symbol, "
        "check_name, accepted, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
        "?8)",
    [S_SNAP_PUT] = "INSERT INTO snapshots (seq, time, data) VALUES (?1, ?2, "
                   "?3) ON CONFLICT (seq) DO UPDATE SET time = excluded.time, "
                   "data = excluded.data",
    [S_SNAP_LATEST] =
        "SELECT seq, time, data FROM snapshots ORDER BY seq DESC LIMIT 1",
    [S_SNAP_PRUNE] = "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM "
                     "snapshots ORDER BY seq DESC LIMIT ?1)",
    [S_IDEM_PUT] =
        "INSERT INTO idempotency_keys (key, request_hash, status, body, "
        "created) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO UPDATE SET "
        "request_hash = excluded.request_hash, status = excluded.status, "
        "body = excluded.body, created = excluded.created "
        "WHERE idempotency_keys.created <= ?6",
    [S_IDEM_GET] = "SELECT key, request_hash, status, body, created FROM "
                   "idempotency_keys WHERE key = ?1 AND created > ?2",
    [S_IDEM_PURGE] = "DELETE FROM idempotency_keys WHERE created <= ?1",
    [S_COUNT0 + STORE_T_EVENTS] = "SELECT count(*) FROM events",
    [S_COUNT0 + STORE_T_ORDERS] = "SELECT count(*) FROM orders",
    [S_COUNT0 + STORE_T_FILLS] = "SELECT count(*) FROM fills",
    [S_COUNT0 + STORE_T_POSITIONS] = "SELECT count(*) FROM positions",
    [S_COUNT0 + STORE_T_ACCOUNTS] = "SELECT count(*) FROM accounts",
    [S_COUNT0 + STORE_T_DAILY_PNL] = "SELECT count(*) FROM daily_pnl",
    [S_COUNT0 + STORE_T_RISK_DECISIONS] = "SELECT count(*) FROM risk_decisions",
    [S_COUNT0 + STORE_T_SNAPSHOTS] = "SELECT count(*) FROM snapshots",
    [S_COUNT0 + STORE_T_IDEMPOTENCY] = "SELECT count(*) FROM idempotency_keys",
    [S_COUNT0 + STORE_T_USERS] = "SELECT count(*) FROM users",
    [S_COUNT0 + STORE_T_SESSIONS] = "SELECT count(*) FROM sessions",
    [S_COUNT0 + STORE_T_AUDIT_LOG] = "SELECT count(*) FROM audit_log",
};

typedef struct sq {
  sqlite3 *db;
  sqlite3_stmt *st[S__COUNT]; /* prepared on first use */
  bool in_txn;                /* a caller's transaction is open */
  bool txn_failed;            /* ... and an op in it failed */
  /* The file opened, for sq_check_identity(): its absolute path (NULL for
   * an in-memory database) and its device and inode at open. */
  char *path;
  dev_t dev;
  ino_t ino;
} sq;

/* Map an SQLite result code to a DTO_E* code. */
static int map_rc(int rc) {
  switch (rc & 0xff) {
  case SQLITE_FULL:
    return DTO_ENOSPC;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return DTO_EAGAIN;
  case SQLITE_CONSTRAINT:
    return DTO_EEXIST;
  case SQLITE_TOOBIG:
    return DTO_ETOOBIG;
  case SQLITE_NOMEM:
    return DTO_ENOMEM;
  case SQLITE_INTERRUPT:
    return DTO_EINTERRUPTED;
  default:
    return DTO_EIO;
  }
}

/* Fail op `what` after SQLite said rc; marks a caller's transaction failed. */
static int sq_fail(sq *q, int rc, const char *what, store_err *e) {
  if (q->in_txn)
    q->txn_failed = true;
  int code = map_rc(rc);
  const char *msg = q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc);
  return store__fail(e, code, "sqlite: %s: %s", what, msg);
}

static int prep(sq *q, enum stmt_id id, sqlite3_stmt **out, store_err *e) {
  if (!q->st[id]) {
    int rc = sqlite3_prepare_v3(q->db, sql_text[id], -1,
                                SQLITE_PREPARE_PERSISTENT, &q->st[id], NULL);
    if (rc != SQLITE_OK) {
      q->st[id] = NULL;
      return sq_fail(q, rc, "prepare", e);
    }
  }
  *out = q->st[id];
  return 0;
}

/* Ops that must not run in a failed transaction call this first. */
static int guard(sq *q, store_err *e) {
  if (q->in_txn && q->txn_failed)
    return store__fail(e, DTO_ESTATE,
                       "sqlite: an earlier statement of this transaction "
                       "failed: roll it back");
  return 0;
}

/* Step a statement that returns no rows, then reset it. */
static int run(sq *q, sqlite3_stmt *st, const char *what, store_err *e) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return sq_fail(q, rc, what, e);
  return 0;
}

/* Run a statement with no parameters (BEGIN, COMMIT, ROLLBACK). */
static int run_id(sq *q, enum stmt_id id, const char *what, store_err *e) {
  sqlite3_stmt *st = NULL;
  int rc = prep(q, id, &st, e);
  return rc ? rc : run(q, st, what, e);
}

/* Step a one-row, one-integer query. */
static int query_i64(sq *q, enum stmt_id id, int64_t *out, const char *what,
                     store_err *e) {
  sqlite3_stmt *st = NULL;
  int rc = prep(q, id, &st, e);
  if (rc)
    return rc;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  if (rc != SQLITE_ROW)
    return sq_fail(q, rc, what, e);
  return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s) {
  sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t cap) {
  store__copy(dst, cap, (const char *)sqlite3_column_text(st, i),
              (size_t)sqlite3_column_bytes(st, i));
}

/* ---- lifecycle -------------------------------------------------------- */

static void sq_close(void *ctx) {
  sq *q = ctx;
  if (!q)
    return;
  if (q->in_txn)
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
  for (size_t i = 0; i < S__COUNT; i++)
    sqlite3_finalize(q->st[i]);
  sqlite3_close(q->db);
  free(q->path);
  free(q);
}

static const store_migration *sq_migrations(void *ctx) {
  DTO_UNUSED(ctx);
  return store__sqlite_migrations;
}

/* ---- schema ------------------------------------------------------------ */

static int sq_schema_version(void *ctx, int *version, store_err *e) {
  sq *q = ctx;
  int64_t has = 0, v = 0;
  int rc = guard(q, e);
  if (!rc)
    rc = query_i64(q, S_HAS_MIGRATIONS, &has, "schema version", e);
  if (!rc && has)
    rc = query_i64(q, S_VERSION, &v, "schema version", e);
  if (!rc)
    *version = (int)v;
  return rc;
}

static int sq_migrate_step(void *ctx, const store_migration *m, store_err *e) {
  sq *q = ctx;
  if (q->in_txn)
    return store__fail(e, DTO_ESTATE,
                       "sqlite: cannot migrate inside a transaction");
  int rc = run_id(q, S_BEGIN, "migrate: begin", e);
  if (rc)
    return rc;
  char *msg = NULL;
  int src = sqlite3_exec(q->db,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                         "applied_at INTEGER NOT NULL) STRICT",
                         NULL, NULL, &msg);
  sqlite3_free(msg);
  msg = NULL;
  if (src != SQLITE_OK) {
    rc = sq_fail(q, src, "migrate", e);
    goto rollback;
  }
  int64_t cur = 0;
  if ((rc = query_i64(q, S_VERSION, &cur, "migrate", e)))
    goto rollback;
  if (cur >= m->version) { /* someone else applied it meanwhile */
    run_id(q, S_ROLLBACK, "migrate: rollback", NULL);
    return 0;
  }
  if (cur != m->version - 1) {
    rc = store__fail(e, DTO_ESTATE,
                     "migrate %s: the schema is at version %lld, not %d",
                     m->name, (long long)cur, m->version - 1);
    goto rollback;
  }
  src = sqlite3_exec(q->db, m->sql, NULL, NULL, &msg);
  if (src != SQLITE_OK) {
    rc = store__fail(e, map_rc(src), "sqlite: migration %s failed: %s", m->name,
                     msg ? msg : sqlite3_errstr(src));
    sqlite3_free(msg);
    goto rollback;
  }
  sqlite3_stmt *st = NULL;
  if ((rc = prep(q, S_RECORD_MIGRATION, &st, e)))
    goto rollback;
  sqlite3_bind_int(st, 1, m->version);
  bind_text(st, 2, m->name);
  if ((rc = run(q, st, "migrate: record version", e)))
    goto rollback;
  if ((rc = run_id(q, S_COMMIT, "migrate: commit", e)))
    goto rollback;
  return 0;
rollback:
  if (!sqlite3_get_autocommit(q->db))
    run_id(q, S_ROLLBACK, "migrate: rollback", NULL);
  return rc;
}

/* ---- transactions ----------------------------------------------------- */

static int sq_begin(void *ctx, store_err *e) {
  sq *q = ctx;
  if (q->in_txn)
    return store__fail(e, DTO_ESTATE, "begin: a transaction is already open");
  int rc = run_id(q, S_BEGIN, "begin", e);
  if (rc)
    return rc;
  q->in_txn = true;
  q->txn_failed = false;
  return 0;
}

static int sq_commit(void *ctx, store_err *e) {
  sq *q = ctx;
  if (!q->in_txn)
    return store__fail(e, DTO_ESTATE, "commit: no transaction is open");
  int rc = guard(q, e);
  if (rc)
    return rc;
  rc = run_id(q, S_COMMIT, "commit", e);
  if (rc && !sqlite3_get_autocommit(q->db))
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
  q->in_txn = false;
  q->txn_failed = false;
  return rc;
}

static int sq_rollback(void *ctx, store_err *e) {
  sq *q = ctx;
  if (!q->in_txn)
    return store__fail(e, DTO_ESTATE, "rollback: no transaction is open");
  q->in_txn = false;
  q->txn_failed = false;
  if (sqlite3_get_autocommit(q->db))
    return 0; /* SQLite already rolled back (after an I/O error) */
  return run_id(q, S_ROLLBACK, "rollback", e);
}

/* ---- journal ------------------------------------------------------------ */

static int sq_append(void *ctx, store_event *ev, size_t n, int64_t *last_seq,
                     store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_APPEND, &st, e);
  if (rc)
    return rc;
  bool own = !q->in_txn;
  if (own && (rc = run_id(q, S_BEGIN, "append: begin", e)))
    return rc;
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(st, 1, ev[i].time);
    bind_text(st, 2, ev[i].type);
    bind_text(st, 3, ev[i].account);
    bind_text(st, 4, ev[i].strategy);
    sqlite3_bind_text(st, 5, ev[i].payload ? ev[i].payload : "",
                      (int)ev[i].payload_len, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE) {
      rc = sq_fail(q, src, "append", e);
      goto fail;
    }
    ev[i].seq = sqlite3_last_insert_rowid(q->db);
  }
  sqlite3_clear_bindings(st);
  if (own && (rc = run_id(q, S_COMMIT, "append: commit", e)))
    goto fail;
  *last_seq = ev[n - 1].seq;
  return 0;
fail:
  sqlite3_clear_bindings(st);
  if (own && !sqlite3_get_autocommit(q->db))
    run_id(q, S_ROLLBACK, "append: rollback", NULL);
  for (size_t i = 0; i < n; i++)
    ev[i].seq = 0;
  return rc;
}

static int sq_read_events(void *ctx, int64_t after_seq, int64_t limit,
                          store_event_fn fn, void *arg, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_READ, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, after_seq);
  sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    store_event ev = {
        .seq = sqlite3_column_int64(st, 0),
        .time = sqlite3_column_int64(st, 1),
        .type = (const char *)sqlite3_column_text(st, 2),
        .account = (const char *)sqlite3_column_text(st, 3),
        .strategy = (const char *)sqlite3_column_text(st, 4),
        .payload = (const char *)sqlite3_column_text(st, 5),
    };
    ev.payload_len = (size_t)sqlite3_column_bytes(st, 5);
    if (!ev.type || !ev.account || !ev.strategy || !ev.payload) {
      sqlite3_reset(st);
      return store__fail(e, DTO_ENOMEM, "sqlite: read events: out of memory");
    }
    int r = fn(arg, &ev);
    if (r) {
      sqlite3_reset(st);
      return r;
    }
  }
  sqlite3_reset(st);
  if (src != SQLITE_DONE)
    return sq_fail(q, src, "read events", e);
  return 0;
}

static int sq_max_seq(void *ctx, int64_t *seq, store_err *e) {
  sq *q = ctx;
  int rc = guard(q, e);
  return rc ? rc : query_i64(q, S_MAXSEQ, seq, "max seq", e);
}

static int sq_last_event(void *ctx, int64_t *seq, dto_time *time,
                         store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_LAST_EVENT, &st, e);
  if (rc)
    return rc;
  int src = sqlite3_step(st);
  *seq = 0;
  *time = 0;
  if (src == SQLITE_ROW) {
    *seq = sqlite3_column_int64(st, 0);
    *time = sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  if (src != SQLITE_ROW && src != SQLITE_DONE)
    return sq_fail(q, src, "last event", e);
  return 0;
}

/* ---- orders, fills, positions ----------------------------------------- */

static int sq_upsert_order(void *ctx, const store_order *o, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_ORDER_UPSERT, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, o->cloid);
  bind_text(st, 2, o->broker_id);
  bind_text(st, 3, o->account);
  bind_text(st, 4, o->strategy);
  bind_text(st, 5, o->symbol);
  bind_text(st, 6, o->side);
  bind_text(st, 7, o->type);
  bind_text(st, 8, o->tif);
  sqlite3_bind_int64(st, 9, o->qty);
  sqlite3_bind_int64(st, 10, o->limit_price);
  sqlite3_bind_int64(st, 11, o->stop_price);
  bind_text(st, 12, o->state);
  sqlite3_bind_int64(st, 13, o->filled);
  sqlite3_bind_int64(st, 14, o->avg_price);
  sqlite3_bind_int64(st, 15, o->fees);
  sqlite3_bind_int64(st, 16, o->created);
  sqlite3_bind_int64(st, 17, o->updated);
  rc = run(q, st, "upsert order", e);
  sqlite3_clear_bindings(st);
  return rc;
}

/* Read the current row of an ORDER_COLS statement into *o. */
static void order_row(sqlite3_stmt *st, store_order *o) {
  col_text(st, 0, o->cloid, sizeof o->cloid);
  col_text(st, 1, o->broker_id, sizeof o->broker_id);
  col_text(st, 2, o->account, sizeof o->account);
  col_text(st, 3, o->strategy, sizeof o->strategy);
  col_text(st, 4, o->symbol, sizeof o->symbol);
  col_text(st, 5, o->side, sizeof o->side);
  col_text(st, 6, o->type, sizeof o->type);
  col_text(st, 7, o->tif, sizeof o->tif);
  o->qty = sqlite3_column_int64(st, 8);
  o->limit_price = sqlite3_column_int64(st, 9);
  o->stop_price = sqlite3_column_int64(st, 10);
  col_text(st, 11, o->state, sizeof o->state);
  o->filled = sqlite3_column_int64(st, 12);
  o->avg_price = sqlite3_column_int64(st, 13);
  o->fees = sqlite3_column_int64(st, 14);
  o->created = sqlite3_column_int64(st, 15);
  o->updated = sqlite3_column_int64(st, 16);
}

/* Read the current row of a POSITION_COLS statement into *p. */
static void position_row(sqlite3_stmt *st, store_position *p) {
  col_text(st, 0, p->account, sizeof p->account);
  col_text(st, 1, p->strategy, sizeof p->strategy);
  col_text(st, 2, p->symbol, sizeof p->symbol);
  p->qty = sqlite3_column_int64(st, 3);
  p->cost = sqlite3_column_int64(st, 4);
  p->realized = sqlite3_column_int64(st, 5);
  p->fees = sqlite3_column_int64(st, 6);
  p->updated = sqlite3_column_int64(st, 7);
}

static int sq_get_order(void *ctx, const char *cloid, store_order *o,
                        store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_ORDER_GET, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, cloid);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    order_row(st, o);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (src == SQLITE_DONE)
    return store__fail(e, DTO_ENOENT, "get order: no order '%s'", cloid);
  if (src != SQLITE_ROW)
    return sq_fail(q, src, "get order", e);
  return 0;
}

static int sq_list_orders(void *ctx, bool open_only, store_order_fn fn,
                          void *arg, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, open_only ? S_ORDER_LIST_OPEN : S_ORDER_LIST, &st, e);
  if (rc)
    return rc;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    store_order o;
    memset(&o, 0, sizeof o);
    order_row(st, &o);
    int r = fn(arg, &o);
    if (r) {
      sqlite3_reset(st);
      return r;
    }
  }
  sqlite3_reset(st);
  if (src != SQLITE_DONE)
    return sq_fail(q, src, "list orders", e);
  return 0;
}

static int sq_insert_fill(void *ctx, const store_fill *f, bool *inserted,
                          store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_FILL_INSERT, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, f->fill_id);
  bind_text(st, 2, f->cloid);
  sqlite3_bind_int64(st, 3, f->qty);
  sqlite3_bind_int64(st, 4, f->price);
  sqlite3_bind_int64(st, 5, f->fee);
  sqlite3_bind_int64(st, 6, f->time);
  rc = run(q, st, "insert fill", e);
  sqlite3_clear_bindings(st);
  if (!rc)
    *inserted = sqlite3_changes(q->db) > 0;
  return rc;
}

static int sq_upsert_position(void *ctx, const store_position *p,
                              store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_POS_UPSERT, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, p->account);
  bind_text(st, 2, p->strategy);
  bind_text(st, 3, p->symbol);
  sqlite3_bind_int64(st, 4, p->qty);
  sqlite3_bind_int64(st, 5, p->cost);
  sqlite3_bind_int64(st, 6, p->realized);
  sqlite3_bind_int64(st, 7, p->fees);
  sqlite3_bind_int64(st, 8, p->updated);
  rc = run(q, st, "upsert position", e);
  sqlite3_clear_bindings(st);
  return rc;
}

static int sq_get_position(void *ctx, const char *account, const char *strategy,
                           const char *symbol, store_position *p,
                           store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_POS_GET, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, account);
  bind_text(st, 2, strategy);
  bind_text(st, 3, symbol);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    position_row(st, p);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (src == SQLITE_DONE)
    return store__fail(e, DTO_ENOENT, "get position: none for %s/%s/%s",
                       account, strategy, symbol);
  if (src != SQLITE_ROW)
    return sq_fail(q, src, "get position", e);
  return 0;
}

static int sq_list_positions(void *ctx, store_position_fn fn, void *arg,
                             store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_POS_LIST, &st, e);
  if (rc)
    return rc;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    store_position p;
    memset(&p, 0, sizeof p);
    position_row(st, &p);
    int r = fn(arg, &p);
    if (r) {
      sqlite3_reset(st);
      return r;
    }
  }
  sqlite3_reset(st);
  if (src != SQLITE_DONE)
    return sq_fail(q, src, "list positions", e);
  return 0;
}

static int sq_upsert_daily_pnl(void *ctx, const store_daily_pnl *d,
                               store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_PNL_UPSERT, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, d->account);
  bind_text(st, 2, d->strategy);
  sqlite3_bind_int(st, 3, d->day);
  sqlite3_bind_int64(st, 4, d->realized);
  sqlite3_bind_int64(st, 5, d->unrealized);
  sqlite3_bind_int64(st, 6, d->fees);
  sqlite3_bind_int64(st, 7, d->trades);
  sqlite3_bind_int64(st, 8, d->updated);
  rc = run(q, st, "upsert daily pnl", e);
  sqlite3_clear_bindings(st);
  return rc;
}

static int sq_get_daily_pnl(void *ctx, const char *account,
                            const char *strategy, int32_t day,
                            store_daily_pnl *d, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_PNL_GET, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, account);
  bind_text(st, 2, strategy);
  sqlite3_bind_int(st, 3, day);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    col_text(st, 0, d->account, sizeof d->account);
    col_text(st, 1, d->strategy, sizeof d->strategy);
    d->day = (int32_t)sqlite3_column_int(st, 2);
    d->realized = sqlite3_column_int64(st, 3);
    d->unrealized = sqlite3_column_int64(st, 4);
    d->fees = sqlite3_column_int64(st, 5);
    d->trades = sqlite3_column_int64(st, 6);
    d->updated = sqlite3_column_int64(st, 7);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (src == SQLITE_DONE)
    return store__fail(e, DTO_ENOENT, "get daily pnl: none for %s/%s/%ld",
                       account, strategy, (long)day);
  if (src != SQLITE_ROW)
    return sq_fail(q, src, "get daily pnl", e);
  return 0;
}

static int sq_insert_risk_decision(void *ctx, const store_risk_decision *r,
                                   store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_RISK_INSERT, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, r->time);
  bind_text(st, 2, r->account);
  bind_text(st, 3, r->strategy);
  bind_text(st, 4, r->cloid);
  bind_text(st, 5, r->symbol);
  bind_text(st, 6, r->check);
  sqlite3_bind_int(st, 7, r->accepted ? 1 : 0);
  bind_text(st, 8, r->reason);
  rc = run(q, st, "insert risk decision", e);
  sqlite3_clear_bindings(st);
  return rc;
}

/* ---- snapshots -------------------------------------------------------- */

static int sq_snapshot_put(void *ctx, int64_t seq, dto_time time,
                           const void *blob, size_t len, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_SNAP_PUT, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_int64(st, 2, time);
  sqlite3_bind_blob64(st, 3, blob, len, SQLITE_STATIC);
  rc = run(q, st, "snapshot put", e);
  sqlite3_clear_bindings(st);
  return rc;
}

static int sq_snapshot_latest(void *ctx, int64_t *seq, dto_time *time,
                              void **blob, size_t *len, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_SNAP_LATEST, &st, e);
  if (rc)
    return rc;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    const void *p = sqlite3_column_blob(st, 2);
    size_t n = (size_t)sqlite3_column_bytes(st, 2);
    *seq = sqlite3_column_int64(st, 0);
    *time = sqlite3_column_int64(st, 1);
    *blob = xmalloc(n ? n : 1);
    if (n)
      memcpy(*blob, p, n);
    *len = n;
  }
  sqlite3_reset(st);
  if (src == SQLITE_DONE)
    return store__fail(e, DTO_ENOENT, "snapshot: none stored");
  if (src != SQLITE_ROW)
    return sq_fail(q, src, "snapshot latest", e);
  return 0;
}

static int sq_snapshot_prune(void *ctx, int keep, int64_t *deleted,
                             store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_SNAP_PRUNE, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int(st, 1, keep);
  rc = run(q, st, "snapshot prune", e);
  if (!rc)
    *deleted = sqlite3_changes(q->db);
  return rc;
}

/* ---- idempotency keys -------------------------------------------------- */

static int sq_idem_put(void *ctx, const store_idem *r, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_IDEM_PUT, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, r->key);
  bind_text(st, 2, r->request_hash);
  sqlite3_bind_int(st, 3, r->status);
  sqlite3_bind_text(st, 4, r->body ? r->body : "", (int)r->body_len,
                    SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, r->created);
  sqlite3_bind_int64(st, 6, r->created - STORE_IDEM_TTL);
  rc = run(q, st, "idempotency put", e);
  sqlite3_clear_bindings(st);
  if (!rc && sqlite3_changes(q->db) == 0)
    return store__fail(e, DTO_EEXIST,
                       "idempotency key '%s': already used within 24 hours",
                       r->key);
  return rc;
}

static int sq_idem_get(void *ctx, const char *key, dto_time now,
                       store_idem *out, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_IDEM_GET, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, key);
  sqlite3_bind_int64(st, 2, now - STORE_IDEM_TTL);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    col_text(st, 0, out->key, sizeof out->key);
    col_text(st, 1, out->request_hash, sizeof out->request_hash);
    out->status = sqlite3_column_int(st, 2);
    const char *b = (const char *)sqlite3_column_text(st, 3);
    size_t n = (size_t)sqlite3_column_bytes(st, 3);
    char *body = xmalloc(n + 1);
    if (n)
      memcpy(body, b, n);
    body[n] = '\0';
    out->body = body;
    out->body_len = n;
    out->created = sqlite3_column_int64(st, 4);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (src == SQLITE_DONE)
    return store__fail(e, DTO_ENOENT, "idempotency key '%s': not found", key);
  if (src != SQLITE_ROW)
    return sq_fail(q, src, "idempotency get", e);
  return 0;
}

static int sq_idem_purge(void *ctx, dto_time now, int64_t *purged,
                         store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_IDEM_PURGE, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, now - STORE_IDEM_TTL);
  rc = run(q, st, "idempotency purge", e);
  if (!rc)
    *purged = sqlite3_changes(q->db);
  return rc;
}

static int sq_count(void *ctx, enum store_table t, int64_t *n, store_err *e) {
  sq *q = ctx;
  int rc = guard(q, e);
  return rc ? rc
            : query_i64(q, (enum stmt_id)(S_COUNT0 + (int)t), n, "count", e);
}

/* ---- identity ------------------------------------------------------------
 * The path must still name the file SQLite opened.  Comparing the path's
 * device and inode now with those recorded at open is enough: SQLite keeps
 * the file open, so its inode stays allocated even when the last name is
 * gone, and no other file can take its number meanwhile.  So a deleted file
 * (the path is missing, or names a new file) and a replaced one (renamed
 * away, another put in its place) both show; nlink is checked too. */

static int sq_check_identity(void *ctx, store_err *e) {
  sq *q = ctx;
  if (!q->path)
    return 0; /* in memory */
  struct stat sb;
  if (stat(q->path, &sb) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return store__fail(e, DTO_ESTATE,
                         "sqlite: %s: the store file was deleted or replaced "
                         "(it is gone): what is written from now on is lost",
                         q->path);
    int code = dto_from_errno(errno);
    return store__fail(e, DTO_EIO,
                       "sqlite: %s: cannot check the store file: %s", q->path,
                       dto_strerror(code));
  }
  if (sb.st_dev != q->dev || sb.st_ino != q->ino || sb.st_nlink == 0)
    return store__fail(e, DTO_ESTATE,
                       "sqlite: %s: the store file was deleted or replaced "
                       "(another file has its name): what is written from "
                       "now on is lost",
                       q->path);
  return 0;
}

static const store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .migrations = sq_migrations,
    .schema_version = sq_schema_version,
    .migrate_step = sq_migrate_step,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .append = sq_append,
    .read_events = sq_read_events,
    .max_seq = sq_max_seq,
    .last_event = sq_last_event,
    .upsert_order = sq_upsert_order,
    .get_order = sq_get_order,
    .list_orders = sq_list_orders,
    .insert_fill = sq_insert_fill,
    .upsert_position = sq_upsert_position,
    .get_position = sq_get_position,
    .list_positions = sq_list_positions,
    .upsert_daily_pnl = sq_upsert_daily_pnl,
    .get_daily_pnl = sq_get_daily_pnl,
    .insert_risk_decision = sq_insert_risk_decision,
    .snapshot_put = sq_snapshot_put,
    .snapshot_latest = sq_snapshot_latest,
    .snapshot_prune = sq_snapshot_prune,
    .idem_put = sq_idem_put,
    .idem_get = sq_idem_get,
    .idem_purge = sq_idem_purge,
    .count = sq_count,
    .check_identity = sq_check_identity,
};

/* Record what sq_check_identity() compares with, right after the open. */
static int remember_identity(sq *q, const char *shown, char *err, size_t cap) {
  const char *f = sqlite3_db_filename(q->db, "main");
  if (!f || !*f)
    return 0; /* in memory or temporary: nothing to check */
  struct stat sb;
  if (stat(f, &sb) != 0) {
    int code = dto_from_errno(errno);
    snprintf(err, cap, "%s: cannot open: %s", shown, dto_strerror(code));
    return code == DTO_ENOENT ? DTO_EIO : code;
  }
  q->path = xstrdup(f);
  q->dev = sb.st_dev;
  q->ino = sb.st_ino;
  return 0;
}

/* ---- open --------------------------------------------------------------- */

/* Run a PRAGMA that returns one text row (or none) and copy the row. */
static int pragma(sq *q, const char *sql, char *out, size_t cap) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    return rc;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && out)
    col_text(st, 0, out, cap);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store__sqlite_open(const char *path, const char *shown,
                       const store_options *opt, const store_ops **ops,
                       void **ctx, char *err, size_t cap) {
  if (sqlite3_libversion_number() < 3037000) { /* STRICT tables */
    snprintf(err, cap, "%s: SQLite 3.37 or later is needed (this is %s)",
             shown, sqlite3_libversion());
    return DTO_EUNSUPPORTED;
  }
  bool memory = !strcmp(path, ":memory:");
  struct stat sb;
  if (!memory && !opt->create && stat(path, &sb) != 0) {
    int code = errno == ENOENT ? DTO_ENOENT : dto_from_errno(errno);
    snprintf(err, cap, "%s: %s", shown,
             code == DTO_ENOENT
                 ? "no database there (run 'dto migrate up' to create it)"
                 : dto_strerror(code));
    return code;
  }
  sq *q = xcalloc(1, sizeof *q);
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
              (opt->create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path, &q->db, flags, NULL);
  if (rc != SQLITE_OK)
    goto fail;
  sqlite3_extended_result_codes(q->db, 1);
  sqlite3_busy_timeout(q->db, opt->busy_timeout_ms);
  char mode[16] = "";
  if ((rc = pragma(q, "PRAGMA journal_mode = WAL", mode, sizeof mode)))
    goto fail;
  if (!memory && strcmp(mode, "wal") != 0) {
    snprintf(err, cap, "%s: cannot switch to WAL mode (journal mode is %s)",
             shown, mode);
    sq_close(q);
    return DTO_EIO;
  }
  if ((rc = pragma(q,
                   opt->sqlite_synchronous == STORE_SYNC_NORMAL
                       ? "PRAGMA synchronous = NORMAL"
                       : "PRAGMA synchronous = FULL",
                   NULL, 0)) ||
      (rc = pragma(q, "PRAGMA foreign_keys = ON", NULL, 0)))
    goto fail;
  int idrc = remember_identity(q, shown, err, cap);
  if (idrc) {
    sq_close(q);
    return idrc;
  }
  *ops = &sqlite_ops;
  *ctx = q;
  return 0;
fail:
  snprintf(err, cap, "%s: cannot open: %s", shown,
           q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
  int code = map_rc(rc);
  sq_close(q);
  return code == DTO_EEXIST ? DTO_EIO : code;
}
