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
  S_USER_ADD,
  S_USER_GET,
  S_USER_GET_ID,
  S_USER_UPDATE,
  S_USER_LIST,
  S_SES_PUT,
  S_SES_GET,
  S_SES_TOUCH,
  S_SES_DELETE,
  S_SES_DELETE_USER,
  S_TOKEN_ADD,
  S_TOKEN_GET,
  S_TOKEN_GET_HASH,
  S_TOKEN_UPDATE,
  S_TOKEN_LIST,
  S_TOKEN_LIST_ALL,
  S_AUDIT_LAST,
  S_AUDIT_INSERT,
  S_AUDIT_READ,
  S_ALERT_PUT,
  S_ALERT_READ,
  S_ALERT_RECENT,
  S_ALERT_RECENT_NAME,
  S_COUNT0, /* one per table, in enum store_table order */
  S__COUNT = S_COUNT0 + STORE_T_COUNT
};

/* The columns order_row() and position_row() read, in their order. */
/* The journal's seq as a row is written (migration 0005's jseq): the
 * greatest event seq so far, read from SQLite's AUTOINCREMENT record. */
#define JSEQ "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
#define ORDER_COLS                                                             \
  "cloid, broker_id, account, strategy, symbol, side, type, tif, qty, "        \
  "limit_price, stop_price, state, filled, avg_price, fees, created, updated"
#define POSITION_COLS                                                          \
  "account, strategy, symbol, qty, cost, realized, fees, updated"
/* ... and those of user_row(), session_row(), token_row(), audit_row(). */
#define USER_COLS                                                              \
  "id, name, role, password_hash, totp_secret, totp_pending, "                 \
  "totp_last_step, failures, locked_until, disabled, password_changed, "       \
  "created, updated"
#define SESSION_COLS                                                           \
  "id_hash, csrf_hash, user_id, created, last_seen, expires, address"
#define TOKEN_COLS                                                             \
  "id, hash, user_id, name, scope, created, expires, revoked, last_used"
#define AUDIT_COLS                                                             \
  "seq, time, actor, address, action, target, outcome, detail, prev_hash, "    \
  "hash"
/* ... and those of alert_row(). */
#define ALERT_COLS                                                             \
  "seq, time, event, alert_id, name, severity, fingerprint, channel, who, "    \
  "detail"

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
        "avg_price, fees, created, updated, jseq) VALUES (?1, ?2, ?3, ?4, ?5, "
        "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, " JSEQ ") "
        "ON CONFLICT (cloid) DO UPDATE SET broker_id = excluded.broker_id, "
        "account = excluded.account, strategy = excluded.strategy, "
        "symbol = excluded.symbol, side = excluded.side, type = excluded.type, "
        "tif = excluded.tif, qty = excluded.qty, "
        "limit_price = excluded.limit_price, stop_price = "
        "excluded.stop_price, state = excluded.state, filled = "
        "excluded.filled, avg_price = excluded.avg_price, fees = "
        "excluded.fees, updated = excluded.updated, jseq = excluded.jseq",
    [S_ORDER_GET] = "SELECT " ORDER_COLS " FROM orders WHERE cloid = ?1",
    /* BINARY collation: cloids compare bytewise, as on PostgreSQL. */
    [S_ORDER_LIST] =
        "SELECT " ORDER_COLS " FROM orders ORDER BY created, cloid",
    [S_ORDER_LIST_OPEN] =
        "SELECT " ORDER_COLS " FROM orders WHERE state "
        "NOT IN " STORE__TERMINAL_STATES_SQL " ORDER BY created, cloid",
    [S_FILL_INSERT] = "INSERT INTO fills (fill_id, cloid, qty, price, fee, "
                      "time, jseq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, " JSEQ ") "
                      "ON CONFLICT (fill_id) DO NOTHING",
    [S_POS_UPSERT] =
        "INSERT INTO positions (account, strategy, symbol, qty, cost, "
        "realized, fees, updated, jseq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, " JSEQ
        ") ON CONFLICT (account, strategy, symbol) DO UPDATE SET "
        "qty = excluded.qty, cost = excluded.cost, realized = "
        "excluded.realized, fees = excluded.fees, updated = excluded.updated, "
        "jseq = excluded.jseq",
    [S_POS_GET] = "SELECT " POSITION_COLS " FROM positions WHERE account = "
                  "?1 AND strategy = ?2 AND symbol = ?3",
    [S_POS_LIST] = "SELECT " POSITION_COLS " FROM positions ORDER BY "
                   "account, strategy, symbol",
    [S_PNL_UPSERT] =
        "INSERT INTO daily_pnl (account, strategy, day, realized, unrealized, "
        "fees, trades, updated, jseq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, " JSEQ
        ") "
        "ON CONFLICT (account, strategy, day) DO UPDATE SET "
        "realized = excluded.realized, unrealized = excluded.unrealized, "
        "fees = excluded.fees, trades = excluded.trades, "
        "updated = excluded.updated, jseq = excluded.jseq",
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
    [S_USER_ADD] =
        "INSERT INTO users (name, role, password_hash, totp_secret, "
        "totp_pending, totp_last_step, failures, locked_until, disabled, "
        "password_changed, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8, ?9, ?10, ?11, ?12)",
    [S_USER_GET] = "SELECT " USER_COLS " FROM users WHERE name = ?1",
    [S_USER_GET_ID] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    [S_USER_UPDATE] =
        "UPDATE users SET name = ?2, role = ?3, password_hash = ?4, "
        "totp_secret = ?5, totp_pending = ?6, totp_last_step = ?7, "
        "failures = ?8, locked_until = ?9, disabled = ?10, "
        "password_changed = ?11, created = ?12, updated = ?13 WHERE id = ?1",
    [S_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY name",
    [S_SES_PUT] = "INSERT INTO sessions (" SESSION_COLS ") VALUES (?1, ?2, "
                  "?3, ?4, ?5, ?6, ?7)",
    [S_SES_GET] = "SELECT " SESSION_COLS " FROM sessions WHERE id_hash = ?1",
    [S_SES_TOUCH] = "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1",
    [S_SES_DELETE] = "DELETE FROM sessions WHERE id_hash = ?1",
    [S_SES_DELETE_USER] = "DELETE FROM sessions WHERE user_id = ?1",
    [S_TOKEN_ADD] = "INSERT INTO api_tokens (hash, user_id, name, scope, "
                    "created, expires, revoked, last_used) VALUES (?1, ?2, "
                    "?3, ?4, ?5, ?6, ?7, ?8)",
    [S_TOKEN_GET] = "SELECT " TOKEN_COLS " FROM api_tokens WHERE id = ?1",
    [S_TOKEN_GET_HASH] = "SELECT " TOKEN_COLS " FROM api_tokens WHERE hash "
                         "= ?1",
    [S_TOKEN_UPDATE] = "UPDATE api_tokens SET name = ?2, scope = ?3, "
                       "expires = ?4, revoked = ?5, last_used = ?6 WHERE id "
                       "= ?1",
    [S_TOKEN_LIST] = "SELECT " TOKEN_COLS " FROM api_tokens WHERE user_id = "
                     "?1 ORDER BY id",
    [S_TOKEN_LIST_ALL] = "SELECT " TOKEN_COLS " FROM api_tokens ORDER BY id",
    [S_AUDIT_LAST] = "SELECT " AUDIT_COLS " FROM audit_log ORDER BY seq DESC "
                     "LIMIT 1",
    [S_AUDIT_INSERT] = "INSERT INTO audit_log (" AUDIT_COLS ") VALUES (?1, "
                       "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_AUDIT_READ] = "SELECT " AUDIT_COLS " FROM audit_log WHERE seq > ?1 "
                     "ORDER BY seq LIMIT ?2",
    /* seq = max + 1 in the INSERT itself: a statement that writes takes
     * the database's write lock before it reads, so no other connection
     * can draw the same seq (see sq_alert_put). */
    [S_ALERT_PUT] = "INSERT INTO alert_history (" ALERT_COLS ") VALUES ("
                    "(SELECT coalesce(max(seq), 0) + 1 FROM alert_history), "
                    "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_ALERT_READ] = "SELECT " ALERT_COLS " FROM alert_history WHERE seq > "
                     "?1 ORDER BY seq LIMIT ?2",
    [S_ALERT_RECENT] = "SELECT " ALERT_COLS " FROM alert_history ORDER BY "
                       "seq DESC LIMIT ?1",
    [S_ALERT_RECENT_NAME] = "SELECT " ALERT_COLS " FROM alert_history WHERE "
                            "name = ?2 ORDER BY seq DESC LIMIT ?1",
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
    [S_COUNT0 + STORE_T_API_TOKENS] = "SELECT count(*) FROM api_tokens",
    [S_COUNT0 + STORE_T_ALERT_HISTORY] = "SELECT count(*) FROM alert_history",
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
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
    return DTO_ENOENT; /* the row it names (a user) is not there */
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

/* ---- users, sessions, API tokens, the audit log ------------------------ */

/* End a one-row lookup stepped to src: reset the statement and map src.
 * DTO_ENOENT (e untouched: the caller names what is missing) when there
 * was no row. */
static int one_row(sq *q, sqlite3_stmt *st, int src, const char *what,
                   store_err *e) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (src == SQLITE_DONE)
    return DTO_ENOENT;
  if (src != SQLITE_ROW)
    return sq_fail(q, src, what, e);
  return 0;
}

/* Run a bound statement that writes, then clear its bindings; *changed
 * (may be NULL) gets the rows it changed. */
static int run_write(sq *q, sqlite3_stmt *st, const char *what,
                     int64_t *changed, store_err *e) {
  int rc = run(q, st, what, e);
  sqlite3_clear_bindings(st);
  if (!rc && changed)
    *changed = sqlite3_changes(q->db);
  return rc;
}

/* Read the current row of a USER_COLS statement into *u. */
static void user_row(sqlite3_stmt *st, store_user *u) {
  u->id = sqlite3_column_int64(st, 0);
  col_text(st, 1, u->name, sizeof u->name);
  col_text(st, 2, u->role, sizeof u->role);
  col_text(st, 3, u->password_hash, sizeof u->password_hash);
  col_text(st, 4, u->totp_secret, sizeof u->totp_secret);
  col_text(st, 5, u->totp_pending, sizeof u->totp_pending);
  u->totp_last_step = sqlite3_column_int64(st, 6);
  u->failures = sqlite3_column_int64(st, 7);
  u->locked_until = sqlite3_column_int64(st, 8);
  u->disabled = sqlite3_column_int(st, 9) != 0;
  u->password_changed = sqlite3_column_int64(st, 10);
  u->created = sqlite3_column_int64(st, 11);
  u->updated = sqlite3_column_int64(st, 12);
}

/* Bind every column of u but id to parameters first.. first+11 (the order
 * of S_USER_ADD and of S_USER_UPDATE after its ?1). */
static void bind_user(sqlite3_stmt *st, int first, const store_user *u) {
  bind_text(st, first, u->name);
  bind_text(st, first + 1, u->role);
  bind_text(st, first + 2, u->password_hash);
  bind_text(st, first + 3, u->totp_secret);
  bind_text(st, first + 4, u->totp_pending);
  sqlite3_bind_int64(st, first + 5, u->totp_last_step);
  sqlite3_bind_int64(st, first + 6, u->failures);
  sqlite3_bind_int64(st, first + 7, u->locked_until);
  sqlite3_bind_int(st, first + 8, u->disabled ? 1 : 0);
  sqlite3_bind_int64(st, first + 9, u->password_changed);
  sqlite3_bind_int64(st, first + 10, u->created);
  sqlite3_bind_int64(st, first + 11, u->updated);
}

static int sq_user_add(void *ctx, store_user *u, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_USER_ADD, &st, e);
  if (rc)
    return rc;
  bind_user(st, 1, u);
  rc = run_write(q, st, "add user", NULL, e);
  if (!rc)
    u->id = sqlite3_last_insert_rowid(q->db);
  return rc;
}

static int sq_user_get(void *ctx, const char *name, store_user *u,
                       store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_USER_GET, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, name);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    user_row(st, u);
  rc = one_row(q, st, src, "get user", e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "user '%s': not found", name);
  return rc;
}

static int sq_user_get_id(void *ctx, int64_t id, store_user *u, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_USER_GET_ID, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, id);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    user_row(st, u);
  rc = one_row(q, st, src, "get user", e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "user %lld: not found", (long long)id);
  return rc;
}

static int sq_user_update(void *ctx, const store_user *u, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_USER_UPDATE, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, u->id);
  bind_user(st, 2, u);
  int64_t n = 0;
  rc = run_write(q, st, "update user", &n, e);
  if (!rc && n == 0)
    return store__fail(e, DTO_ENOENT, "user %lld: not found", (long long)u->id);
  return rc;
}

static int sq_user_list(void *ctx, store_user_fn fn, void *arg, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_USER_LIST, &st, e);
  if (rc)
    return rc;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    store_user u;
    memset(&u, 0, sizeof u);
    user_row(st, &u);
    int r = fn(arg, &u);
    if (r) {
      sqlite3_reset(st);
      return r;
    }
  }
  sqlite3_reset(st);
  if (src != SQLITE_DONE)
    return sq_fail(q, src, "list users", e);
  return 0;
}

static void session_row(sqlite3_stmt *st, store_session *ses) {
  col_text(st, 0, ses->id_hash, sizeof ses->id_hash);
  col_text(st, 1, ses->csrf_hash, sizeof ses->csrf_hash);
  ses->user_id = sqlite3_column_int64(st, 2);
  ses->created = sqlite3_column_int64(st, 3);
  ses->last_seen = sqlite3_column_int64(st, 4);
  ses->expires = sqlite3_column_int64(st, 5);
  col_text(st, 6, ses->address, sizeof ses->address);
}

static int sq_session_put(void *ctx, const store_session *ses, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_SES_PUT, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, ses->id_hash);
  bind_text(st, 2, ses->csrf_hash);
  sqlite3_bind_int64(st, 3, ses->user_id);
  sqlite3_bind_int64(st, 4, ses->created);
  sqlite3_bind_int64(st, 5, ses->last_seen);
  sqlite3_bind_int64(st, 6, ses->expires);
  bind_text(st, 7, ses->address);
  return run_write(q, st, "put session", NULL, e);
}

static int sq_session_get(void *ctx, const char *id_hash, store_session *ses,
                          store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_SES_GET, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, id_hash);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    session_row(st, ses);
  rc = one_row(q, st, src, "get session", e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "session: not found");
  return rc;
}

/* Run a one-hash write on sessions; DTO_ENOENT when it changed no row. */
static int session_write(sq *q, enum stmt_id id, const char *id_hash,
                         const dto_time *last_seen, const char *what,
                         store_err *e) {
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, id, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, id_hash);
  if (last_seen)
    sqlite3_bind_int64(st, 2, *last_seen);
  int64_t n = 0;
  rc = run_write(q, st, what, &n, e);
  if (!rc && n == 0)
    return store__fail(e, DTO_ENOENT, "%s: no such session", what);
  return rc;
}

static int sq_session_touch(void *ctx, const char *id_hash, dto_time last_seen,
                            store_err *e) {
  return session_write(ctx, S_SES_TOUCH, id_hash, &last_seen, "touch session",
                       e);
}

static int sq_session_delete(void *ctx, const char *id_hash, store_err *e) {
  return session_write(ctx, S_SES_DELETE, id_hash, NULL, "delete session", e);
}

static int sq_session_delete_user(void *ctx, int64_t user_id, int64_t *n,
                                  store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_SES_DELETE_USER, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, user_id);
  return run_write(q, st, "delete sessions", n, e);
}

static void token_row(sqlite3_stmt *st, store_token *t) {
  t->id = sqlite3_column_int64(st, 0);
  col_text(st, 1, t->hash, sizeof t->hash);
  t->user_id = sqlite3_column_int64(st, 2);
  col_text(st, 3, t->name, sizeof t->name);
  col_text(st, 4, t->scope, sizeof t->scope);
  t->created = sqlite3_column_int64(st, 5);
  t->expires = sqlite3_column_int64(st, 6);
  t->revoked = sqlite3_column_int64(st, 7);
  t->last_used = sqlite3_column_int64(st, 8);
}

static int sq_token_add(void *ctx, store_token *t, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_TOKEN_ADD, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, t->hash);
  sqlite3_bind_int64(st, 2, t->user_id);
  bind_text(st, 3, t->name);
  bind_text(st, 4, t->scope);
  sqlite3_bind_int64(st, 5, t->created);
  sqlite3_bind_int64(st, 6, t->expires);
  sqlite3_bind_int64(st, 7, t->revoked);
  sqlite3_bind_int64(st, 8, t->last_used);
  rc = run_write(q, st, "add token", NULL, e);
  if (!rc)
    t->id = sqlite3_last_insert_rowid(q->db);
  return rc;
}

static int sq_token_get(void *ctx, int64_t id, store_token *t, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_TOKEN_GET, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, id);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    token_row(st, t);
  rc = one_row(q, st, src, "get token", e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "token %lld: not found", (long long)id);
  return rc;
}

static int sq_token_get_hash(void *ctx, const char *hash, store_token *t,
                             store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_TOKEN_GET_HASH, &st, e);
  if (rc)
    return rc;
  bind_text(st, 1, hash);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    token_row(st, t);
  rc = one_row(q, st, src, "get token", e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "token: not found");
  return rc;
}

static int sq_token_update(void *ctx, const store_token *t, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_TOKEN_UPDATE, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, t->id);
  bind_text(st, 2, t->name);
  bind_text(st, 3, t->scope);
  sqlite3_bind_int64(st, 4, t->expires);
  sqlite3_bind_int64(st, 5, t->revoked);
  sqlite3_bind_int64(st, 6, t->last_used);
  int64_t n = 0;
  rc = run_write(q, st, "update token", &n, e);
  if (!rc && n == 0)
    return store__fail(e, DTO_ENOENT, "token %lld: not found",
                       (long long)t->id);
  return rc;
}

static int sq_token_list(void *ctx, int64_t user_id, store_token_fn fn,
                         void *arg, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, user_id ? S_TOKEN_LIST : S_TOKEN_LIST_ALL, &st, e);
  if (rc)
    return rc;
  if (user_id)
    sqlite3_bind_int64(st, 1, user_id);
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    store_token t;
    memset(&t, 0, sizeof t);
    token_row(st, &t);
    if ((rc = fn(arg, &t)))
      break;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc)
    return rc;
  if (src != SQLITE_DONE)
    return sq_fail(q, src, "list tokens", e);
  return 0;
}

static void audit_row(sqlite3_stmt *st, store_audit *a) {
  a->seq = sqlite3_column_int64(st, 0);
  a->time = sqlite3_column_int64(st, 1);
  col_text(st, 2, a->actor, sizeof a->actor);
  col_text(st, 3, a->address, sizeof a->address);
  col_text(st, 4, a->action, sizeof a->action);
  col_text(st, 5, a->target, sizeof a->target);
  col_text(st, 6, a->outcome, sizeof a->outcome);
  col_text(st, 7, a->detail, sizeof a->detail);
  col_text(st, 8, a->prev_hash, sizeof a->prev_hash);
  col_text(st, 9, a->hash, sizeof a->hash);
}

/* Read the last record into *prev; *has says whether there is one. */
static int audit_last(sq *q, store_audit *prev, bool *has, store_err *e) {
  sqlite3_stmt *st = NULL;
  int rc = prep(q, S_AUDIT_LAST, &st, e);
  if (rc)
    return rc;
  int src = sqlite3_step(st);
  *has = src == SQLITE_ROW;
  if (*has)
    audit_row(st, prev);
  sqlite3_reset(st);
  if (src != SQLITE_ROW && src != SQLITE_DONE)
    return sq_fail(q, src, "audit append: read the last record", e);
  return 0;
}

static int audit_insert(sq *q, const store_audit *a, store_err *e) {
  sqlite3_stmt *st = NULL;
  int rc = prep(q, S_AUDIT_INSERT, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, a->seq);
  sqlite3_bind_int64(st, 2, a->time);
  bind_text(st, 3, a->actor);
  bind_text(st, 4, a->address);
  bind_text(st, 5, a->action);
  bind_text(st, 6, a->target);
  bind_text(st, 7, a->outcome);
  bind_text(st, 8, a->detail);
  bind_text(st, 9, a->prev_hash);
  bind_text(st, 10, a->hash);
  return run_write(q, st, "audit append", NULL, e);
}

/* BEGIN IMMEDIATE takes the database's write lock before the last record
 * is read, so a second appender (another connection or process) waits, up
 * to the busy timeout, and then reads the record this one wrote. */
static int sq_audit_append(void *ctx, store_audit *a,
                           store_audit_chain_fn chain, void *arg,
                           store_err *e) {
  sq *q = ctx;
  if (q->in_txn)
    return store__fail(e, DTO_ESTATE,
                       "audit append: not inside a transaction (it takes "
                       "its own, to lock the log)");
  int rc = run_id(q, S_BEGIN, "audit append: begin", e);
  if (rc)
    return rc;
  store_audit prev;
  bool has = false;
  memset(&prev, 0, sizeof prev);
  if ((rc = audit_last(q, &prev, &has, e)))
    goto rollback;
  a->seq = has ? prev.seq + 1 : 1;
  if ((rc = chain(arg, has ? &prev : NULL, a)) ||
      (rc = audit_insert(q, a, e)) ||
      (rc = run_id(q, S_COMMIT, "audit append: commit", e)))
    goto rollback;
  return 0;
rollback:
  if (!sqlite3_get_autocommit(q->db))
    run_id(q, S_ROLLBACK, "audit append: rollback", NULL);
  return rc;
}

static int sq_audit_read(void *ctx, int64_t after_seq, int64_t limit,
                         store_audit_fn fn, void *arg, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_AUDIT_READ, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, after_seq);
  sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    store_audit a;
    memset(&a, 0, sizeof a);
    audit_row(st, &a);
    if ((rc = fn(arg, &a)))
      break;
  }
  sqlite3_reset(st);
  if (rc)
    return rc;
  if (src != SQLITE_DONE)
    return sq_fail(q, src, "read audit log", e);
  return 0;
}

/* ---- the alert history ------------------------------------------------- */

static void alert_row(sqlite3_stmt *st, store_alert_rec *r) {
  r->seq = sqlite3_column_int64(st, 0);
  r->time = sqlite3_column_int64(st, 1);
  col_text(st, 2, r->event, sizeof r->event);
  r->alert_id = sqlite3_column_int64(st, 3);
  col_text(st, 4, r->name, sizeof r->name);
  col_text(st, 5, r->severity, sizeof r->severity);
  col_text(st, 6, r->fingerprint, sizeof r->fingerprint);
  col_text(st, 7, r->channel, sizeof r->channel);
  col_text(st, 8, r->who, sizeof r->who);
  col_text(st, 9, r->detail, sizeof r->detail);
}

/* One INSERT draws seq = max(seq) + 1 and writes the row.  Outside a
 * transaction it is a transaction of its own, and SQLite takes the write
 * lock (one writer per database, across connections and processes; others
 * wait up to the busy timeout) before the statement reads anything; inside
 * the caller's BEGIN IMMEDIATE the lock is held already.  So no two
 * handles get the same seq, and a rolled-back put leaves no gap. */
static int sq_alert_put(void *ctx, store_alert_rec *r, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_ALERT_PUT, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, r->time);
  bind_text(st, 2, r->event);
  sqlite3_bind_int64(st, 3, r->alert_id);
  bind_text(st, 4, r->name);
  bind_text(st, 5, r->severity);
  bind_text(st, 6, r->fingerprint);
  bind_text(st, 7, r->channel);
  bind_text(st, 8, r->who);
  bind_text(st, 9, r->detail);
  rc = run_write(q, st, "alert put", NULL, e);
  if (!rc)
    r->seq = sqlite3_last_insert_rowid(q->db); /* seq is the rowid */
  return rc;
}

/* Step a bound ALERT_COLS query, calling fn for each row. */
static int alert_rows(sq *q, sqlite3_stmt *st, store_alert_fn fn, void *arg,
                      const char *what, store_err *e) {
  int rc = 0, src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    store_alert_rec r;
    memset(&r, 0, sizeof r);
    alert_row(st, &r);
    if ((rc = fn(arg, &r)))
      break;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc)
    return rc;
  if (src != SQLITE_DONE)
    return sq_fail(q, src, what, e);
  return 0;
}

static int sq_alert_read(void *ctx, int64_t after_seq, int64_t limit,
                         store_alert_fn fn, void *arg, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, S_ALERT_READ, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, after_seq);
  sqlite3_bind_int64(st, 2, limit);
  return alert_rows(q, st, fn, arg, "read alert history", e);
}

static int sq_alert_recent(void *ctx, int64_t limit, const char *name,
                           store_alert_fn fn, void *arg, store_err *e) {
  sq *q = ctx;
  sqlite3_stmt *st = NULL;
  int rc = guard(q, e);
  if (!rc)
    rc = prep(q, name ? S_ALERT_RECENT_NAME : S_ALERT_RECENT, &st, e);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, limit);
  if (name)
    bind_text(st, 2, name);
  return alert_rows(q, st, fn, arg, "recent alerts", e);
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
    .user_add = sq_user_add,
    .user_get = sq_user_get,
    .user_get_id = sq_user_get_id,
    .user_update = sq_user_update,
    .user_list = sq_user_list,
    .session_put = sq_session_put,
    .session_get = sq_session_get,
    .session_touch = sq_session_touch,
    .session_delete = sq_session_delete,
    .session_delete_user = sq_session_delete_user,
    .token_add = sq_token_add,
    .token_get = sq_token_get,
    .token_get_hash = sq_token_get_hash,
    .token_update = sq_token_update,
    .token_list = sq_token_list,
    .audit_append = sq_audit_append,
    .audit_read = sq_audit_read,
    .alert_put = sq_alert_put,
    .alert_read = sq_alert_read,
    .alert_recent = sq_alert_recent,
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
