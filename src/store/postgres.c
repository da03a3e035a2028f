/* postgres.c - the PostgreSQL store back-end (libpq): a connection pool,
 * statements prepared once per connection, pipelined batch appends.
 *
 * The pool opens its minimum number of connections at start and grows to
 * its maximum on demand; a mutex guards it.  Any thread may call any op; a
 * transaction pins one connection to the thread that began it until commit
 * or rollback.  Appends take a transaction-scoped advisory lock before they
 * draw seqs, so seqs increase in commit order and a reader that reads
 * "seq > N" never skips a row that commits later with a smaller seq.
 *
 * The audit log's appenders lock its table for the length of their own
 * transaction, so its seqs have no gaps and its hash chain never forks.
 * The alert history's writers lock its table the same way (for the length
 * of the caller's transaction when there is one) and draw max(seq) + 1.
 *
 * Only static text goes through PQexec (the migration scripts, BEGIN/
 * COMMIT/ROLLBACK, the locks); everything that carries a value is a
 * prepared statement.
 */
#include "core/prelude.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/store.h"
#include "store/store_int.h"

/* Advisory lock keys ("dto" + a number). */
#define LOCK_JOURNAL "SELECT pg_advisory_xact_lock(1685352193)"
#define LOCK_MIGRATE "SELECT pg_advisory_xact_lock(1685352194)"
/* Audit appenders, one at a time (readers do not wait: EXCLUSIVE mode
 * still lets SELECT run). */
#define LOCK_AUDIT "LOCK TABLE audit_log IN EXCLUSIVE MODE"
/* Alert history writers, one at a time (readers pass too). */
#define LOCK_ALERTS "LOCK TABLE alert_history IN EXCLUSIVE MODE"
/* Rows per round trip when reading the journal, and appends per pipeline
 * sync (small enough that neither side's socket buffer fills while the
 * other is still writing). */
#define READ_BATCH 2000
#define PIPE_CHUNK 256

enum stmt_id {
  P_VERSION,
  P_RECORD_MIGRATION,
  P_APPEND,
  P_READ,
  P_MAXSEQ,
  P_LAST_EVENT,
  P_ORDER_UPSERT,
  P_ORDER_GET,
  P_ORDER_LIST,
  P_ORDER_LIST_OPEN,
  P_FILL_INSERT,
  P_POS_UPSERT,
  P_POS_GET,
  P_POS_LIST,
  P_PNL_UPSERT,
  P_PNL_GET,
  P_RISK_INSERT,
  P_SNAP_PUT,
  P_SNAP_LATEST,
  P_SNAP_PRUNE,
  P_IDEM_PUT,
  P_IDEM_GET,
  P_IDEM_PURGE,
  P_HAS_MIGRATIONS,
  P_IDENTITY,
  P_USER_ADD,
  P_USER_GET,
  P_USER_GET_ID,
  P_USER_UPDATE,
  P_USER_LIST,
  P_SES_PUT,
  P_SES_GET,
  P_SES_TOUCH,
  P_SES_DELETE,
  P_SES_DELETE_USER,
  P_TOKEN_ADD,
  P_TOKEN_GET,
  P_TOKEN_GET_HASH,
  P_TOKEN_UPDATE,
  P_TOKEN_LIST,
  P_TOKEN_LIST_ALL,
  P_AUDIT_LAST,
  P_AUDIT_INSERT,
  P_AUDIT_READ,
  P_ALERT_PUT,
  P_ALERT_READ,
  P_ALERT_RECENT,
  P_ALERT_RECENT_NAME,
  P_COUNT0,
  P__COUNT = P_COUNT0 + STORE_T_COUNT
};

/* The columns order_row() and position_row() read, in their order. */
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

static const struct {
  const char *name;
  int nparams;
  const char *sql;
} stmts[P__COUNT] = {
    [P_VERSION] = {"dto_version", 0,
                   "SELECT coalesce(max(version), 0) FROM schema_migrations"},
    [P_RECORD_MIGRATION] = {"dto_record_migration", 2,
                            "INSERT INTO schema_migrations (version, name, "
                            "applied_at) VALUES ($1, $2, (extract(epoch FROM "
                            "now()) * 1000000000)::bigint)"},
    [P_APPEND] = {"dto_append", 5,
                  "INSERT INTO events (time, type, account, strategy, "
                  "payload) VALUES ($1, $2, $3, $4, $5) RETURNING seq"},
    [P_READ] = {"dto_read", 2,
                "SELECT seq, time, type, account, strategy, payload FROM "
                "events WHERE seq > $1 ORDER BY seq LIMIT $2"},
    [P_MAXSEQ] = {"dto_maxseq", 0, "SELECT coalesce(max(seq), 0) FROM events"},
    [P_LAST_EVENT] = {"dto_last_event", 0,
                      "SELECT seq, time FROM events ORDER BY seq DESC "
                      "LIMIT 1"},
    [P_ORDER_UPSERT] =
        {"dto_order_upsert", 17,
         "INSERT INTO orders (cloid, broker_id, account, strategy, symbol, "
         "side, type, tif, qty, limit_price, stop_price, state, filled, "
         "avg_price, fees, created, updated) VALUES ($1, $2, $3, $4, $5, $6, "
         "$7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
         "ON CONFLICT (cloid) DO UPDATE SET broker_id = excluded.broker_id, "
         "account = excluded.account, strategy = excluded.strategy, "
         "symbol = excluded.symbol, side = excluded.side, type = "
         "excluded.type, tif = excluded.tif, qty = excluded.qty, "
         "limit_price = excluded.limit_price, stop_price = "
         "excluded.stop_price, state = excluded.state, filled = "
         "excluded.filled, avg_price = excluded.avg_price, fees = "
         "excluded.fees, updated = excluded.updated"},
    [P_ORDER_GET] = {"dto_order_get", 1,
                     "SELECT " ORDER_COLS " FROM orders WHERE cloid = $1"},
    /* COLLATE "C": bytewise, as SQLite's BINARY, whatever the database's
     * default collation is. */
    [P_ORDER_LIST] = {"dto_order_list", 0,
                      "SELECT " ORDER_COLS " FROM orders ORDER BY created, "
                      "cloid COLLATE \"C\""},
    [P_ORDER_LIST_OPEN] = {"dto_order_list_open", 0,
                           "SELECT " ORDER_COLS " FROM orders WHERE state NOT "
                           "IN " STORE__TERMINAL_STATES_SQL " ORDER BY "
                           "created, cloid COLLATE \"C\""},
    [P_FILL_INSERT] = {"dto_fill_insert", 6,
                       "INSERT INTO fills (fill_id, cloid, qty, price, fee, "
                       "time) VALUES ($1, $2, $3, $4, $5, $6) "
                       "ON CONFLICT (fill_id) DO NOTHING"},
    [P_POS_UPSERT] = {"dto_pos_upsert", 8,
                      "INSERT INTO positions (account, strategy, symbol, qty, "
                      "cost, realized, fees, updated) VALUES ($1, $2, $3, $4, "
                      "$5, $6, $7, $8) ON CONFLICT (account, strategy, symbol) "
                      "DO UPDATE SET qty = excluded.qty, cost = excluded.cost, "
                      "realized = excluded.realized, fees = excluded.fees, "
                      "updated = excluded.updated"},
    [P_POS_GET] = {"dto_pos_get", 3,
                   "SELECT " POSITION_COLS " FROM positions WHERE account = "
                   "$1 AND strategy = $2 AND symbol = $3"},
    [P_POS_LIST] = {"dto_pos_list", 0,
                    "SELECT " POSITION_COLS " FROM positions ORDER BY "
                    "account COLLATE \"C\", strategy COLLATE \"C\", "
                    "symbol COLLATE \"C\""},
    [P_PNL_UPSERT] = {"dto_pnl_upsert", 8,
                      "INSERT INTO daily_pnl (account, strategy, day, "
                      "realized, unrealized, fees, trades, updated) VALUES "
                      "($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (account, "
                      "strategy, day) DO UPDATE SET realized = "
                      "excluded.realized, unrealized = excluded.unrealized, "
                      "fees = excluded.fees, trades = excluded.trades, "
                      "updated = excluded.updated"},
    [P_PNL_GET] = {"dto_pnl_get", 3,
                   "SELECT account, strategy, day, realized, unrealized, "
                   "fees, trades, updated FROM daily_pnl WHERE account = $1 "
                   "AND strategy = $2 AND day = $3"},
    [P_RISK_INSERT] = {"dto_risk_insert", 8,
                       "INSERT INTO risk_decisions (time, account, strategy, "
                       "cloid, symbol, check_name, accepted, reason) VALUES "
                       "($1, $2, $3, $4, $5, $6, $7, $8)"},
    [P_SNAP_PUT] = {"dto_snap_put", 3,
                    "INSERT INTO snapshots (seq, time, data) VALUES ($1, $2, "
                    "$3) ON CONFLICT (seq) DO UPDATE SET time = excluded.time, "
                    "data = excluded.data"},
    [P_SNAP_LATEST] = {"dto_snap_latest", 0,
                       "SELECT seq, time, data FROM snapshots ORDER BY seq "
                       "DESC LIMIT 1"},
    [P_SNAP_PRUNE] = {"dto_snap_prune", 1,
                      "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq "
                      "FROM snapshots ORDER BY seq DESC LIMIT $1)"},
    [P_IDEM_PUT] = {"dto_idem_put", 6,
                    "INSERT INTO idempotency_keys (key, request_hash, status, "
                    "body, created) VALUES ($1, $2, $3, $4, $5) ON CONFLICT "
                    "(key) DO UPDATE SET request_hash = excluded.request_hash, "
                    "status = excluded.status, body = excluded.body, "
                    "created = excluded.created WHERE "
                    "idempotency_keys.created <= $6"},
    [P_IDEM_GET] = {"dto_idem_get", 2,
                    "SELECT key, request_hash, status, body, created FROM "
                    "idempotency_keys WHERE key = $1 AND created > $2"},
    [P_IDEM_PURGE] = {"dto_idem_purge", 1,
                      "DELETE FROM idempotency_keys WHERE created <= $1"},
    [P_HAS_MIGRATIONS] = {"dto_has_migrations", 0,
                          "SELECT to_regclass('schema_migrations') IS NOT "
                          "NULL"},
    /* the database's oid and the journal table's (0 before migrations),
     * for pg_check_identity() */
    [P_IDENTITY] = {"dto_identity", 0,
                    "SELECT d.oid::bigint, COALESCE(to_regclass('events')::oid"
                    "::bigint, 0) FROM pg_database d WHERE d.datname = "
                    "current_database()"},
    [P_USER_ADD] = {"dto_user_add", 12,
                    "INSERT INTO users (name, role, password_hash, "
                    "totp_secret, totp_pending, totp_last_step, failures, "
                    "locked_until, disabled, password_changed, created, "
                    "updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                    "$10, $11, $12) RETURNING id"},
    [P_USER_GET] = {"dto_user_get", 1,
                    "SELECT " USER_COLS " FROM users WHERE name = $1"},
    [P_USER_GET_ID] = {"dto_user_get_id", 1,
                       "SELECT " USER_COLS " FROM users WHERE id = $1"},
    [P_USER_UPDATE] = {"dto_user_update", 13,
                       "UPDATE users SET name = $2, role = $3, "
                       "password_hash = $4, totp_secret = $5, totp_pending = "
                       "$6, totp_last_step = $7, failures = $8, locked_until "
                       "= $9, disabled = $10, password_changed = $11, "
                       "created = $12, updated = $13 WHERE id = $1"},
    [P_USER_LIST] = {"dto_user_list", 0,
                     "SELECT " USER_COLS " FROM users ORDER BY name "
                     "COLLATE \"C\""},
    [P_SES_PUT] = {"dto_ses_put", 7,
                   "INSERT INTO sessions (" SESSION_COLS ") VALUES ($1, $2, "
                   "$3, $4, $5, $6, $7)"},
    [P_SES_GET] = {"dto_ses_get", 1,
                   "SELECT " SESSION_COLS " FROM sessions WHERE id_hash = $1"},
    [P_SES_TOUCH] = {"dto_ses_touch", 2,
                     "UPDATE sessions SET last_seen = $2 WHERE id_hash = $1"},
    [P_SES_DELETE] = {"dto_ses_delete", 1,
                      "DELETE FROM sessions WHERE id_hash = $1"},
    [P_SES_DELETE_USER] = {"dto_ses_delete_user", 1,
                           "DELETE FROM sessions WHERE user_id = $1"},
    [P_TOKEN_ADD] = {"dto_token_add", 8,
                     "INSERT INTO api_tokens (hash, user_id, name, scope, "
                     "created, expires, revoked, last_used) VALUES ($1, $2, "
                     "$3, $4, $5, $6, $7, $8) RETURNING id"},
    [P_TOKEN_GET] = {"dto_token_get", 1,
                     "SELECT " TOKEN_COLS " FROM api_tokens WHERE id = $1"},
    [P_TOKEN_GET_HASH] = {"dto_token_get_hash", 1,
                          "SELECT " TOKEN_COLS " FROM api_tokens WHERE hash "
                          "= $1"},
    [P_TOKEN_UPDATE] = {"dto_token_update", 6,
                        "UPDATE api_tokens SET name = $2, scope = $3, "
                        "expires = $4, revoked = $5, last_used = $6 WHERE id "
                        "= $1"},
    [P_TOKEN_LIST] = {"dto_token_list", 1,
                      "SELECT " TOKEN_COLS " FROM api_tokens WHERE user_id = "
                      "$1 ORDER BY id"},
    [P_TOKEN_LIST_ALL] = {"dto_token_list_all", 0,
                          "SELECT " TOKEN_COLS " FROM api_tokens ORDER BY id"},
    [P_AUDIT_LAST] = {"dto_audit_last", 0,
                      "SELECT " AUDIT_COLS " FROM audit_log ORDER BY seq "
                      "DESC LIMIT 1"},
    [P_AUDIT_INSERT] = {"dto_audit_insert", 10,
                        "INSERT INTO audit_log (" AUDIT_COLS ") VALUES ($1, "
                        "$2, $3, $4, $5, $6, $7, $8, $9, $10)"},
    [P_AUDIT_READ] = {"dto_audit_read", 2,
                      "SELECT " AUDIT_COLS " FROM audit_log WHERE seq > $1 "
                      "ORDER BY seq LIMIT $2"},
    /* Run with LOCK_ALERTS held (pg_alert_put): max + 1 is then this
     * writer's alone. */
    [P_ALERT_PUT] = {"dto_alert_put", 9,
                     "INSERT INTO alert_history (" ALERT_COLS ") VALUES ("
                     "(SELECT coalesce(max(seq), 0) + 1 FROM alert_history), "
                     "$1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq"},
    [P_ALERT_READ] = {"dto_alert_read", 2,
                      "SELECT " ALERT_COLS " FROM alert_history WHERE seq > "
                      "$1 ORDER BY seq LIMIT $2"},
    [P_ALERT_RECENT] = {"dto_alert_recent", 1,
                        "SELECT " ALERT_COLS " FROM alert_history ORDER BY "
                        "seq DESC LIMIT $1"},
    [P_ALERT_RECENT_NAME] = {"dto_alert_recent_name", 2,
                             "SELECT " ALERT_COLS " FROM alert_history WHERE "
                             "name = $2 ORDER BY seq DESC LIMIT $1"},
    [P_COUNT0 + STORE_T_EVENTS] = {"dto_count_events", 0,
                                   "SELECT count(*) FROM events"},
    [P_COUNT0 + STORE_T_ORDERS] = {"dto_count_orders", 0,
                                   "SELECT count(*) FROM orders"},
    [P_COUNT0 +
        STORE_T_FILLS] = {"dto_count_fills", 0, "SELECT count(*) FROM fills"},
    [P_COUNT0 + STORE_T_POSITIONS] = {"dto_count_positions", 0,
                                      "SELECT count(*) FROM positions"},
    [P_COUNT0 + STORE_T_ACCOUNTS] = {"dto_count_accounts", 0,
                                     "SELECT count(*) FROM accounts"},
    [P_COUNT0 + STORE_T_DAILY_PNL] = {"dto_count_daily_pnl", 0,
                                      "SELECT count(*) FROM daily_pnl"},
    [P_COUNT0 + STORE_T_RISK_DECISIONS] = {"dto_count_risk", 0,
                                           "SELECT count(*) FROM "
                                           "risk_decisions"},
    [P_COUNT0 + STORE_T_SNAPSHOTS] = {"dto_count_snapshots", 0,
                                      "SELECT count(*) FROM snapshots"},
    [P_COUNT0 + STORE_T_IDEMPOTENCY] = {"dto_count_idem", 0,
                                        "SELECT count(*) FROM "
                                        "idempotency_keys"},
    [P_COUNT0 +
        STORE_T_USERS] = {"dto_count_users", 0, "SELECT count(*) FROM users"},
    [P_COUNT0 + STORE_T_SESSIONS] = {"dto_count_sessions", 0,
                                     "SELECT count(*) FROM sessions"},
    [P_COUNT0 + STORE_T_AUDIT_LOG] = {"dto_count_audit", 0,
                                      "SELECT count(*) FROM audit_log"},
    [P_COUNT0 + STORE_T_API_TOKENS] = {"dto_count_api_tokens", 0,
                                       "SELECT count(*) FROM api_tokens"},
    [P_COUNT0 + STORE_T_ALERT_HISTORY] = {"dto_count_alerts", 0,
                                          "SELECT count(*) FROM "
                                          "alert_history"},
};

/* One pooled connection. */
typedef struct pgc {
  PGconn *c;
  bool busy;         /* checked out by a thread (or pinned) */
  bool in_txn;       /* a caller's transaction is open on it */
  bool txn_failed;   /* ... and an op in it failed */
  pthread_t owner;   /* the thread of that transaction */
  uint64_t prepared; /* bit i: statement i is prepared on c */
} pgc;

typedef struct pg {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* a connection was released */
  pgc **conns;       /* n of them, room for max */
  int n, opening, max;
  int connect_timeout_s;
  int statement_timeout_ms;
  char *url;
  char *sslmode; /* NULL: the URL's or libpq's default */
  char shown[STORE_URL_MAX + 1];
  /* Identity (under mu): the database's oid at open, and the journal
   * table's oid once it has been seen (0 before). */
  int64_t db_oid, events_oid;
} pg;

/* Flatten libpq's multi-line message into one line in e. */
static int conn_fail(store_err *e, int code, const char *what,
                     const char *msg) {
  char line[STORE_ERR_MAX];
  size_t o = 0;
  for (const char *p = msg ? msg : ""; *p && o + 3 < sizeof line; p++) {
    if (*p == '\n') {
      if (p[1])
        line[o++] = ';', line[o++] = ' ';
    } else if (*p == '\t' || *p == '\r') {
      if (o && line[o - 1] != ' ')
        line[o++] = ' ';
    } else {
      line[o++] = *p;
    }
  }
  line[o] = '\0';
  return store__fail(e, code, "postgres: %s: %s", what, line);
}

/* Map an SQLSTATE to a DTO_E* code. */
static int map_state(const char *st) {
  if (!st || strlen(st) != 5)
    return DTO_EIO;
  if (!strcmp(st, "53100"))
    return DTO_ENOSPC;
  if (!strcmp(st, "53300") || !strcmp(st, "40001") || !strcmp(st, "40P01") ||
      !strcmp(st, "57014") || !strcmp(st, "55P03"))
    return DTO_EAGAIN;
  if (!strcmp(st, "23505"))
    return DTO_EEXIST;
  if (!strcmp(st, "23503")) /* foreign key: the row it names is not there */
    return DTO_ENOENT;
  if (!strcmp(st, "22001"))
    return DTO_ETOOBIG;
  if (!strcmp(st, "25P02"))
    return DTO_ESTATE;
  if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2))
    return DTO_EINVAL;
  return DTO_EIO;
}

/* Fail op `what` with the error of res (or of the connection). */
static int res_fail(pgc *k, PGresult *res, const char *what, store_err *e) {
  if (k->in_txn)
    k->txn_failed = true;
  if (!res || PQstatus(k->c) != CONNECTION_OK)
    return conn_fail(e, DTO_EIO, what, PQerrorMessage(k->c));
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  if (!msg)
    msg = PQresultErrorMessage(res);
  return conn_fail(e, map_state(state), what, msg);
}

static bool res_ok(const PGresult *res) {
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* PQexec a static command (BEGIN, COMMIT, a migration script). */
static int simple(pgc *k, const char *sql, const char *what, store_err *e) {
  PGresult *res = PQexec(k->c, sql);
  int rc = res_ok(res) ? 0 : res_fail(k, res, what, e);
  PQclear(res);
  return rc;
}

static int prepare(pgc *k, enum stmt_id id, store_err *e) {
  if (k->prepared & (UINT64_C(1) << id))
    return 0;
  PGresult *res =
      PQprepare(k->c, stmts[id].name, stmts[id].sql, stmts[id].nparams, NULL);
  int rc = res_ok(res) ? 0 : res_fail(k, res, "prepare", e);
  PQclear(res);
  if (!rc)
    k->prepared |= UINT64_C(1) << id;
  return rc;
}

/* Run prepared statement id; on success the result (the caller PQclears
 * it), on failure NULL with *rc set. */
static PGresult *run(pgc *k, enum stmt_id id, const char *const *vals,
                     const int *lens, const int *fmts, int result_fmt,
                     const char *what, int *rc, store_err *e) {
  *rc = prepare(k, id, e);
  if (*rc)
    return NULL;
  PGresult *res = PQexecPrepared(k->c, stmts[id].name, stmts[id].nparams, vals,
                                 lens, fmts, result_fmt);
  if (res_ok(res))
    return res;
  *rc = res_fail(k, res, what, e);
  PQclear(res);
  return NULL;
}

/* ---- the pool ----------------------------------------------------------- */

static void conn_free(pgc *k) {
  if (!k)
    return;
  PQfinish(k->c);
  free(k);
}

/* libpq prints server notices on stderr by default; a library must not. */
static void quiet(void *arg, const char *msg) {
  DTO_UNUSED(arg);
  DTO_UNUSED(msg);
}

/* Open one connection (without the pool lock held). */
static int conn_open(pg *p, pgc **out, store_err *e) {
  char ct[16];
  snprintf(ct, sizeof ct, "%d", p->connect_timeout_s);
  const char *keys[8], *vals[8];
  int i = 0;
  keys[i] = "dbname", vals[i++] = p->url;
  keys[i] = "connect_timeout", vals[i++] = ct;
  keys[i] = "fallback_application_name", vals[i++] = "dto";
  keys[i] = "client_encoding", vals[i++] = "UTF8";
  if (p->sslmode)
    keys[i] = "sslmode", vals[i++] = p->sslmode;
  keys[i] = NULL, vals[i] = NULL;
  pgc *k = xcalloc(1, sizeof *k);
  k->c = PQconnectdbParams(keys, vals, 1);
  if (!k->c) {
    free(k);
    return store__fail(e, DTO_ENOMEM, "postgres: connect: out of memory");
  }
  if (PQstatus(k->c) != CONNECTION_OK) {
    char what[STORE_URL_MAX + 32], msg[STORE_ERR_MAX];
    snprintf(what, sizeof what, "cannot connect to %s", p->shown);
    store__scrub(p->url, PQerrorMessage(k->c), msg, sizeof msg);
    int rc = conn_fail(e, DTO_EIO, what, msg);
    conn_free(k);
    return rc;
  }
  PQsetNoticeProcessor(k->c, quiet, NULL);
  int version = PQserverVersion(k->c);
  if (version < 100000) {
    conn_free(k);
    return store__fail(e, DTO_EUNSUPPORTED,
                       "postgres: %s: server version %d is too old (10 or "
                       "later needed)",
                       p->shown, version);
  }
  char sql[64];
  snprintf(sql, sizeof sql, "SET statement_timeout = %d",
           p->statement_timeout_ms < 0 ? 0 : p->statement_timeout_ms);
  int rc = simple(k, sql, "set statement_timeout", e);
  if (rc) {
    conn_free(k);
    return rc;
  }
  *out = k;
  return 0;
}

/* Check a connection out for the calling thread: the one its transaction
 * pinned, else an idle one, else a new one while below max, else wait up
 * to the connect timeout. */
static int acquire(pg *p, pgc **out, store_err *e) {
  pthread_t self = pthread_self();
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += p->connect_timeout_s;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    for (int i = 0; i < p->n; i++)
      if (p->conns[i]->in_txn && pthread_equal(p->conns[i]->owner, self)) {
        *out = p->conns[i];
        pthread_mutex_unlock(&p->mu);
        return 0;
      }
    for (int i = 0; i < p->n; i++)
      if (!p->conns[i]->busy) {
        p->conns[i]->busy = true;
        *out = p->conns[i];
        pthread_mutex_unlock(&p->mu);
        return 0;
      }
    if (p->n + p->opening < p->max) {
      p->opening++;
      pthread_mutex_unlock(&p->mu);
      pgc *k = NULL;
      int rc = conn_open(p, &k, e);
      pthread_mutex_lock(&p->mu);
      p->opening--;
      if (!rc) {
        k->busy = true;
        p->conns[p->n++] = k;
        *out = k;
      }
      pthread_cond_broadcast(&p->cv);
      pthread_mutex_unlock(&p->mu);
      return rc;
    }
    if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT) {
      int max = p->max;
      pthread_mutex_unlock(&p->mu);
      return store__fail(e, DTO_EAGAIN,
                         "postgres: all %d pool connections stayed busy for "
                         "%d s",
                         max, p->connect_timeout_s);
    }
  }
}

/* Drop k from the pool (lock held). */
static void pool_remove(pg *p, pgc *k) {
  for (int i = 0; i < p->n; i++)
    if (p->conns[i] == k) {
      p->conns[i] = p->conns[--p->n];
      break;
    }
  conn_free(k);
}

/* Give k back unless a transaction pins it; a broken connection that no
 * transaction needs is closed (the pool reopens on demand). */
static void release(pg *p, pgc *k) {
  pthread_mutex_lock(&p->mu);
  if (!k->in_txn) {
    if (PQstatus(k->c) != CONNECTION_OK ||
        PQtransactionStatus(k->c) != PQTRANS_IDLE)
      pool_remove(p, k);
    else
      k->busy = false;
    pthread_cond_signal(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
}

static int guard(pgc *k, store_err *e) {
  if (k->in_txn && k->txn_failed)
    return store__fail(e, DTO_ESTATE,
                       "postgres: an earlier statement of this transaction "
                       "failed: roll it back");
  return 0;
}

/* acquire() + guard(), releasing on a guard failure. */
static int enter(pg *p, pgc **k, store_err *e) {
  int rc = acquire(p, k, e);
  if (rc)
    return rc;
  if ((rc = guard(*k, e)))
    release(p, *k);
  return rc;
}

/* ---- value helpers ------------------------------------------------------ */

typedef char numbuf[24];

static const char *num(numbuf b, int64_t v) {
  snprintf(b, sizeof(numbuf), "%lld", (long long)v);
  return b;
}

/* Column (row, col) of a text result as int64; 0 (and *bad) on garbage. */
static int64_t col_i64(const PGresult *res, int row, int col, bool *bad) {
  int64_t v = 0;
  if (store__parse_i64(PQgetvalue(res, row, col), &v))
    *bad = true;
  return v;
}

static void col_text(const PGresult *res, int row, int col, char *dst,
                     size_t cap) {
  store__copy(dst, cap, PQgetvalue(res, row, col),
              (size_t)PQgetlength(res, row, col));
}

static int64_t be64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | (unsigned char)p[i];
  return (int64_t)v;
}

static int bad_row(const char *what, store_err *e) {
  return store__fail(e, DTO_EIO, "postgres: %s: malformed value in result",
                     what);
}

/* One-row one-integer query. */
static int query_i64(pg *p, enum stmt_id id, int64_t *out, const char *what,
                     store_err *e) {
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  PGresult *res = run(k, id, NULL, NULL, NULL, 0, what, &rc, e);
  if (res) {
    bool bad = PQntuples(res) != 1;
    if (!bad)
      *out = col_i64(res, 0, 0, &bad);
    if (bad)
      rc = bad_row(what, e);
    PQclear(res);
  }
  release(p, k);
  return rc;
}

/* Run a statement that returns no rows; *affected (may be NULL) gets the
 * row count. */
static int exec_cmd(pg *p, enum stmt_id id, const char *const *vals,
                    const int *lens, const int *fmts, int64_t *affected,
                    const char *what, store_err *e) {
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  PGresult *res = run(k, id, vals, lens, fmts, 0, what, &rc, e);
  if (res) {
    if (affected) {
      const char *t = PQcmdTuples(res);
      if (store__parse_i64(t, affected))
        *affected = 0;
    }
    PQclear(res);
  }
  release(p, k);
  return rc;
}

/* Called by each_row() for row r of res; non-zero stops the rows. */
typedef int (*row_fn)(void *arg, const PGresult *res, int r, store_err *e);

/* Run prepared statement id with its parameters vals (NULL when it has
 * none) in single-row mode, calling row() for each row as it arrives: one
 * statement, so one consistent read, and memory that does not grow with
 * the result.  After row() stops (fn's value or a malformed row) the rest
 * of the result is read and dropped so the connection can be reused;
 * cancelling instead would abort a caller's transaction. */
static int each_row(pg *p, enum stmt_id id, const char *const *vals,
                    const char *what, row_fn row, void *arg, store_err *e) {
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  if ((rc = prepare(k, id, e)))
    goto out;
  if (!PQsendQueryPrepared(k->c, stmts[id].name, stmts[id].nparams, vals, NULL,
                           NULL, 0)) {
    rc = res_fail(k, NULL, what, e);
    goto out;
  }
  /* Should it refuse, the rows come in one result: handled the same. */
  PQsetSingleRowMode(k->c);
  for (PGresult *res; (res = PQgetResult(k->c)) != NULL; PQclear(res)) {
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
      for (int r = 0; r < PQntuples(res) && !rc; r++)
        rc = row(arg, res, r, e);
    } else {
      /* Marks a caller's transaction failed even after a stop. */
      int frc = res_fail(k, res, what, rc ? NULL : e);
      if (!rc)
        rc = frc;
    }
  }
out:
  release(p, k);
  return rc;
}

/* ---- lifecycle ------------------------------------------------------------
 */

static void pg_close(void *ctx) {
  pg *p = ctx;
  if (!p)
    return;
  for (int i = 0; i < p->n; i++)
    conn_free(p->conns[i]); /* an open transaction dies with its connection */
  free(p->conns);
  free(p->url);
  free(p->sslmode);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

static const store_migration *pg_migrations(void *ctx) {
  DTO_UNUSED(ctx);
  return store__pg_migrations;
}

static int pg_schema_version(void *ctx, int *version, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  PGresult *res =
      run(k, P_HAS_MIGRATIONS, NULL, NULL, NULL, 0, "schema version", &rc, e);
  bool has = res && PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
  PQclear(res);
  int64_t v = 0;
  if (!rc && has) {
    res = run(k, P_VERSION, NULL, NULL, NULL, 0, "schema version", &rc, e);
    if (res) {
      bool bad = PQntuples(res) != 1;
      if (!bad)
        v = col_i64(res, 0, 0, &bad);
      if (bad)
        rc = bad_row("schema version", e);
      PQclear(res);
    }
  }
  release(p, k);
  if (!rc)
    *version = (int)v;
  return rc;
}

static int pg_migrate_step(void *ctx, const store_migration *m, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = acquire(p, &k, e);
  if (rc)
    return rc;
  if (k->in_txn) {
    release(p, k);
    return store__fail(e, DTO_ESTATE,
                       "postgres: cannot migrate inside a transaction");
  }
  if ((rc = simple(k, "BEGIN", "migrate: begin", e)))
    goto out;
  if ((rc = simple(k, LOCK_MIGRATE, "migrate: lock", e)) ||
      (rc = simple(k,
                   "CREATE TABLE IF NOT EXISTS schema_migrations (version "
                   "integer PRIMARY KEY, name text NOT NULL, applied_at bigint "
                   "NOT NULL)",
                   "migrate", e)))
    goto rollback;
  PGresult *res = run(k, P_VERSION, NULL, NULL, NULL, 0, "migrate", &rc, e);
  if (!res)
    goto rollback;
  bool bad = PQntuples(res) != 1;
  int64_t cur = bad ? 0 : col_i64(res, 0, 0, &bad);
  PQclear(res);
  if (bad) {
    rc = bad_row("migrate", e);
    goto rollback;
  }
  if (cur >= m->version) /* someone else applied it meanwhile */
    goto rollback;
  if (cur != m->version - 1) {
    rc = store__fail(e, DTO_ESTATE,
                     "migrate %s: the schema is at version %lld, not %d",
                     m->name, (long long)cur, m->version - 1);
    goto rollback;
  }
  char what[96];
  snprintf(what, sizeof what, "migration %s failed", m->name);
  if ((rc = simple(k, m->sql, what, e)))
    goto rollback;
  numbuf v;
  const char *vals[2] = {num(v, m->version), m->name};
  res = run(k, P_RECORD_MIGRATION, vals, NULL, NULL, 0,
            "migrate: record version", &rc, e);
  PQclear(res);
  if (rc)
    goto rollback;
  rc = simple(k, "COMMIT", "migrate: commit", e);
  goto out;
rollback:
  simple(k, "ROLLBACK", "migrate: rollback", NULL);
out:
  release(p, k);
  return rc;
}

/* ---- transactions ---------------------------------------------------------
 */

static int pg_begin(void *ctx, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = acquire(p, &k, e);
  if (rc)
    return rc;
  if (k->in_txn) {
    release(p, k);
    return store__fail(e, DTO_ESTATE, "begin: a transaction is already open");
  }
  rc = simple(k, "BEGIN", "begin", e);
  if (!rc) {
    pthread_mutex_lock(&p->mu);
    k->in_txn = true;
    k->txn_failed = false;
    k->owner = pthread_self();
    pthread_mutex_unlock(&p->mu);
  }
  release(p, k);
  return rc;
}

/* End the calling thread's transaction on k (unpin it). */
static void unpin(pg *p, pgc *k) {
  pthread_mutex_lock(&p->mu);
  k->in_txn = false;
  k->txn_failed = false;
  pthread_mutex_unlock(&p->mu);
  release(p, k);
}

static int pg_commit(void *ctx, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = acquire(p, &k, e);
  if (rc)
    return rc;
  if (!k->in_txn) {
    release(p, k);
    return store__fail(e, DTO_ESTATE, "commit: no transaction is open");
  }
  if ((rc = guard(k, e))) {
    release(p, k); /* still pinned: the caller rolls back */
    return rc;
  }
  /* COMMIT of an aborted transaction answers "ROLLBACK", not an error. */
  PGresult *res = PQexec(k->c, "COMMIT");
  if (!res_ok(res))
    rc = res_fail(k, res, "commit", e);
  else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
    rc = store__fail(e, DTO_EIO,
                     "postgres: commit: the transaction was "
                     "rolled back");
  PQclear(res);
  if (rc && PQtransactionStatus(k->c) != PQTRANS_IDLE)
    simple(k, "ROLLBACK", "commit: rollback", NULL);
  unpin(p, k);
  return rc;
}

static int pg_rollback(void *ctx, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = acquire(p, &k, e);
  if (rc)
    return rc;
  if (!k->in_txn) {
    release(p, k);
    return store__fail(e, DTO_ESTATE, "rollback: no transaction is open");
  }
  /* A lost connection has lost the transaction too: nothing to undo. */
  if (PQstatus(k->c) == CONNECTION_OK)
    rc = simple(k, "ROLLBACK", "rollback", e);
  unpin(p, k);
  return rc;
}

/* ---- journal --------------------------------------------------------------
 */

/* Send ev[0..n) as one pipeline and read their seqs.  Leaves the connection
 * out of pipeline mode. */
static int append_chunk(pgc *k, store_event *ev, size_t n, store_err *e) {
  if (!PQenterPipelineMode(k->c))
    return conn_fail(e, DTO_EIO, "append", PQerrorMessage(k->c));
  int rc = 0;
  size_t sent = 0;
  for (; sent < n; sent++) {
    numbuf t;
    const char *vals[5] = {num(t, ev[sent].time), ev[sent].type,
                           ev[sent].account ? ev[sent].account : "",
                           ev[sent].strategy ? ev[sent].strategy : "",
                           ev[sent].payload ? ev[sent].payload : ""};
    int lens[5] = {0, 0, 0, 0, (int)ev[sent].payload_len};
    int fmts[5] = {0, 0, 0, 0, 1}; /* the payload goes as raw bytes */
    if (!PQsendQueryPrepared(k->c, stmts[P_APPEND].name, 5, vals, lens, fmts,
                             0)) {
      rc = conn_fail(e, DTO_EIO, "append", PQerrorMessage(k->c));
      break;
    }
  }
  bool synced = PQpipelineSync(k->c) == 1;
  if (!synced && !rc)
    rc = conn_fail(e, DTO_EIO, "append", PQerrorMessage(k->c));
  /* Read every result up to the sync, even after a failure.  One NULL
   * ends each query's results; two in a row mean nothing more will come. */
  size_t got = 0;
  int nulls = 0;
  while (synced) {
    PGresult *res = PQgetResult(k->c);
    if (!res) {
      if (PQstatus(k->c) != CONNECTION_OK || ++nulls > 1) {
        if (!rc)
          rc = conn_fail(e, DTO_EIO, "append", PQerrorMessage(k->c));
        break;
      }
      continue;
    }
    nulls = 0;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(res);
      break;
    }
    if (st == PGRES_TUPLES_OK && got < sent && PQntuples(res) == 1) {
      bool bad = false;
      ev[got].seq = col_i64(res, 0, 0, &bad);
      if (bad && !rc)
        rc = bad_row("append", e);
      got++;
    } else if (!rc) {
      rc = st == PGRES_PIPELINE_ABORTED
               ? store__fail(e, DTO_EIO, "postgres: append: aborted")
               : res_fail(k, res, "append", e);
    }
    PQclear(res);
  }
  if (!rc && got != n)
    rc =
        store__fail(e, DTO_EIO, "postgres: append: %zu of %zu results", got, n);
  if (!PQexitPipelineMode(k->c) && !rc)
    rc = conn_fail(e, DTO_EIO, "append", PQerrorMessage(k->c));
  return rc;
}

static int pg_append(void *ctx, store_event *ev, size_t n, int64_t *last_seq,
                     store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  bool own = !k->in_txn;
  if ((rc = prepare(k, P_APPEND, e)))
    goto out;
  if (own && (rc = simple(k, "BEGIN", "append: begin", e)))
    goto out;
  if ((rc = simple(k, LOCK_JOURNAL, "append: lock", e)))
    goto fail;
  for (size_t i = 0; i < n; i += PIPE_CHUNK) {
    size_t m = n - i < PIPE_CHUNK ? n - i : PIPE_CHUNK;
    if ((rc = append_chunk(k, ev + i, m, e)))
      goto fail;
  }
  if (own && (rc = simple(k, "COMMIT", "append: commit", e)))
    goto fail;
  *last_seq = ev[n - 1].seq;
  goto out;
fail:
  if (k->in_txn)
    k->txn_failed = true;
  else if (PQstatus(k->c) == CONNECTION_OK &&
           PQtransactionStatus(k->c) != PQTRANS_IDLE)
    simple(k, "ROLLBACK", "append: rollback", NULL);
  for (size_t i = 0; i < n; i++)
    ev[i].seq = 0;
out:
  release(p, k);
  return rc;
}

static int pg_read_events(void *ctx, int64_t after_seq, int64_t limit,
                          store_event_fn fn, void *arg, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  int64_t left = limit > 0 ? limit : INT64_MAX;
  while (left > 0 && !rc) {
    numbuf a, l;
    int64_t want = left < READ_BATCH ? left : READ_BATCH;
    const char *vals[2] = {num(a, after_seq), num(l, want)};
    PGresult *res = run(k, P_READ, vals, NULL, NULL, 0, "read events", &rc, e);
    if (!res)
      break;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && !rc; r++) {
      bool bad = false;
      store_event ev = {
          .seq = col_i64(res, r, 0, &bad),
          .time = col_i64(res, r, 1, &bad),
          .type = PQgetvalue(res, r, 2),
          .account = PQgetvalue(res, r, 3),
          .strategy = PQgetvalue(res, r, 4),
          .payload = PQgetvalue(res, r, 5),
          .payload_len = (size_t)PQgetlength(res, r, 5),
      };
      if (bad) {
        rc = bad_row("read events", e);
        break;
      }
      after_seq = ev.seq;
      rc = fn(arg, &ev);
    }
    PQclear(res);
    left -= rows;
    if (rows < want)
      break;
  }
  release(p, k);
  return rc;
}

static int pg_max_seq(void *ctx, int64_t *seq, store_err *e) {
  return query_i64(ctx, P_MAXSEQ, seq, "max seq", e);
}

static int pg_last_event(void *ctx, int64_t *seq, dto_time *time,
                         store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  PGresult *res =
      run(k, P_LAST_EVENT, NULL, NULL, NULL, 0, "last event", &rc, e);
  if (res) {
    bool bad = PQntuples(res) > 1;
    *seq = 0;
    *time = 0;
    if (PQntuples(res) == 1) {
      *seq = col_i64(res, 0, 0, &bad);
      *time = col_i64(res, 0, 1, &bad);
    }
    if (bad)
      rc = bad_row("last event", e);
    PQclear(res);
  }
  release(p, k);
  return rc;
}

/* ---- identity ------------------------------------------------------------ */

/* Read the database's and the journal table's oids on k. */
static int identity_on(pgc *k, int64_t *db, int64_t *events, store_err *e) {
  int rc;
  PGresult *res = run(k, P_IDENTITY, NULL, NULL, NULL, 0, "identity", &rc, e);
  if (!res)
    return rc;
  bool bad = PQntuples(res) != 1;
  if (!bad) {
    *db = col_i64(res, 0, 0, &bad);
    *events = col_i64(res, 0, 1, &bad);
  }
  PQclear(res);
  return bad ? bad_row("identity", e) : 0;
}

static int pg_check_identity(void *ctx, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  int64_t db = 0, events = 0;
  rc = identity_on(k, &db, &events, e);
  release(p, k);
  if (rc)
    return rc;
  pthread_mutex_lock(&p->mu);
  bool same = db == p->db_oid && (!p->events_oid || events == p->events_oid);
  if (same && !p->events_oid)
    p->events_oid = events; /* the journal table, from when it exists */
  pthread_mutex_unlock(&p->mu);
  if (!same)
    return store__fail(e, DTO_ESTATE,
                       "postgres: %s: the store's database or journal table "
                       "was dropped or replaced: what is written from now on "
                       "is not the journal that was opened",
                       p->shown);
  return 0;
}

/* ---- orders, fills, positions ------------------------------------------- */

static int pg_upsert_order(void *ctx, const store_order *o, store_err *e) {
  numbuf b[8];
  const char *vals[17] = {o->cloid,
                          o->broker_id,
                          o->account,
                          o->strategy,
                          o->symbol,
                          o->side,
                          o->type,
                          o->tif,
                          num(b[0], o->qty),
                          num(b[1], o->limit_price),
                          num(b[2], o->stop_price),
                          o->state,
                          num(b[3], o->filled),
                          num(b[4], o->avg_price),
                          num(b[5], o->fees),
                          num(b[6], o->created),
                          num(b[7], o->updated)};
  return exec_cmd(ctx, P_ORDER_UPSERT, vals, NULL, NULL, NULL, "upsert order",
                  e);
}

/* Run a one-row lookup; *res is the result with exactly one row, or the
 * call fails (DTO_ENOENT with notfound's text when there is no row). */
static int lookup(pg *p, pgc **k, enum stmt_id id, const char *const *vals,
                  const char *what, PGresult **res, store_err *e) {
  int rc = enter(p, k, e);
  if (rc)
    return rc;
  *res = run(*k, id, vals, NULL, NULL, 0, what, &rc, e);
  if (!*res) {
    release(p, *k);
    return rc;
  }
  if (PQntuples(*res) == 0) {
    PQclear(*res);
    release(p, *k);
    return DTO_ENOENT;
  }
  return 0;
}

/* Read row r of an ORDER_COLS result into *o; false when a number in it
 * is malformed. */
static bool order_row(const PGresult *res, int r, store_order *o) {
  bool bad = false;
  col_text(res, r, 0, o->cloid, sizeof o->cloid);
  col_text(res, r, 1, o->broker_id, sizeof o->broker_id);
  col_text(res, r, 2, o->account, sizeof o->account);
  col_text(res, r, 3, o->strategy, sizeof o->strategy);
  col_text(res, r, 4, o->symbol, sizeof o->symbol);
  col_text(res, r, 5, o->side, sizeof o->side);
  col_text(res, r, 6, o->type, sizeof o->type);
  col_text(res, r, 7, o->tif, sizeof o->tif);
  o->qty = col_i64(res, r, 8, &bad);
  o->limit_price = col_i64(res, r, 9, &bad);
  o->stop_price = col_i64(res, r, 10, &bad);
  col_text(res, r, 11, o->state, sizeof o->state);
  o->filled = col_i64(res, r, 12, &bad);
  o->avg_price = col_i64(res, r, 13, &bad);
  o->fees = col_i64(res, r, 14, &bad);
  o->created = col_i64(res, r, 15, &bad);
  o->updated = col_i64(res, r, 16, &bad);
  return !bad;
}

/* Read row r of a POSITION_COLS result into *ps; false as order_row(). */
static bool position_row(const PGresult *res, int r, store_position *ps) {
  bool bad = false;
  col_text(res, r, 0, ps->account, sizeof ps->account);
  col_text(res, r, 1, ps->strategy, sizeof ps->strategy);
  col_text(res, r, 2, ps->symbol, sizeof ps->symbol);
  ps->qty = col_i64(res, r, 3, &bad);
  ps->cost = col_i64(res, r, 4, &bad);
  ps->realized = col_i64(res, r, 5, &bad);
  ps->fees = col_i64(res, r, 6, &bad);
  ps->updated = col_i64(res, r, 7, &bad);
  return !bad;
}

static int pg_get_order(void *ctx, const char *cloid, store_order *o,
                        store_err *e) {
  pg *p = ctx;
  pgc *k;
  PGresult *res;
  const char *vals[1] = {cloid};
  int rc = lookup(p, &k, P_ORDER_GET, vals, "get order", &res, e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "get order: no order '%s'", cloid);
  if (rc)
    return rc;
  bool ok = order_row(res, 0, o);
  PQclear(res);
  release(p, k);
  return ok ? 0 : bad_row("get order", e);
}

/* each_row() callbacks of the listings: the caller's fn and its arg. */
typedef struct list_order_cb {
  store_order_fn fn;
  void *arg;
} list_order_cb;

static int list_order_row(void *arg, const PGresult *res, int r, store_err *e) {
  list_order_cb *cb = arg;
  store_order o;
  memset(&o, 0, sizeof o);
  if (!order_row(res, r, &o))
    return bad_row("list orders", e);
  return cb->fn(cb->arg, &o);
}

static int pg_list_orders(void *ctx, bool open_only, store_order_fn fn,
                          void *arg, store_err *e) {
  list_order_cb cb = {fn, arg};
  return each_row(ctx, open_only ? P_ORDER_LIST_OPEN : P_ORDER_LIST, NULL,
                  "list orders", list_order_row, &cb, e);
}

static int pg_insert_fill(void *ctx, const store_fill *f, bool *inserted,
                          store_err *e) {
  numbuf b[4];
  const char *vals[6] = {f->fill_id,        f->cloid,
                         num(b[0], f->qty), num(b[1], f->price),
                         num(b[2], f->fee), num(b[3], f->time)};
  int64_t n = 0;
  int rc = exec_cmd(ctx, P_FILL_INSERT, vals, NULL, NULL, &n, "insert fill", e);
  if (!rc)
    *inserted = n > 0;
  return rc;
}

static int pg_upsert_position(void *ctx, const store_position *ps,
                              store_err *e) {
  numbuf b[5];
  const char *vals[8] = {ps->account,         ps->strategy,
                         ps->symbol,          num(b[0], ps->qty),
                         num(b[1], ps->cost), num(b[2], ps->realized),
                         num(b[3], ps->fees), num(b[4], ps->updated)};
  return exec_cmd(ctx, P_POS_UPSERT, vals, NULL, NULL, NULL, "upsert position",
                  e);
}

static int pg_get_position(void *ctx, const char *account, const char *strategy,
                           const char *symbol, store_position *ps,
                           store_err *e) {
  pg *p = ctx;
  pgc *k;
  PGresult *res;
  const char *vals[3] = {account, strategy, symbol};
  int rc = lookup(p, &k, P_POS_GET, vals, "get position", &res, e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "get position: none for %s/%s/%s", account,
                       strategy, symbol);
  if (rc)
    return rc;
  bool ok = position_row(res, 0, ps);
  PQclear(res);
  release(p, k);
  return ok ? 0 : bad_row("get position", e);
}

typedef struct list_position_cb {
  store_position_fn fn;
  void *arg;
} list_position_cb;

static int list_position_row(void *arg, const PGresult *res, int r,
                             store_err *e) {
  list_position_cb *cb = arg;
  store_position ps;
  memset(&ps, 0, sizeof ps);
  if (!position_row(res, r, &ps))
    return bad_row("list positions", e);
  return cb->fn(cb->arg, &ps);
}

static int pg_list_positions(void *ctx, store_position_fn fn, void *arg,
                             store_err *e) {
  list_position_cb cb = {fn, arg};
  return each_row(ctx, P_POS_LIST, NULL, "list positions", list_position_row,
                  &cb, e);
}

static int pg_upsert_daily_pnl(void *ctx, const store_daily_pnl *d,
                               store_err *e) {
  numbuf b[6];
  const char *vals[8] = {d->account,
                         d->strategy,
                         num(b[0], d->day),
                         num(b[1], d->realized),
                         num(b[2], d->unrealized),
                         num(b[3], d->fees),
                         num(b[4], d->trades),
                         num(b[5], d->updated)};
  return exec_cmd(ctx, P_PNL_UPSERT, vals, NULL, NULL, NULL, "upsert daily pnl",
                  e);
}

static int pg_get_daily_pnl(void *ctx, const char *account,
                            const char *strategy, int32_t day,
                            store_daily_pnl *d, store_err *e) {
  pg *p = ctx;
  pgc *k;
  PGresult *res;
  numbuf b;
  const char *vals[3] = {account, strategy, num(b, day)};
  int rc = lookup(p, &k, P_PNL_GET, vals, "get daily pnl", &res, e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "get daily pnl: none for %s/%s/%ld", account,
                       strategy, (long)day);
  if (rc)
    return rc;
  bool bad = false;
  col_text(res, 0, 0, d->account, sizeof d->account);
  col_text(res, 0, 1, d->strategy, sizeof d->strategy);
  d->day = (int32_t)col_i64(res, 0, 2, &bad);
  d->realized = col_i64(res, 0, 3, &bad);
  d->unrealized = col_i64(res, 0, 4, &bad);
  d->fees = col_i64(res, 0, 5, &bad);
  d->trades = col_i64(res, 0, 6, &bad);
  d->updated = col_i64(res, 0, 7, &bad);
  PQclear(res);
  release(p, k);
  return bad ? bad_row("get daily pnl", e) : 0;
}

static int pg_insert_risk_decision(void *ctx, const store_risk_decision *r,
                                   store_err *e) {
  numbuf t;
  const char *vals[8] = {num(t, r->time),
                         r->account,
                         r->strategy,
                         r->cloid,
                         r->symbol,
                         r->check,
                         r->accepted ? "true" : "false",
                         r->reason};
  return exec_cmd(ctx, P_RISK_INSERT, vals, NULL, NULL, NULL,
                  "insert risk decision", e);
}

/* ---- snapshots -------------------------------------------------------- */

static int pg_snapshot_put(void *ctx, int64_t seq, dto_time time,
                           const void *blob, size_t len, store_err *e) {
  numbuf a, b;
  const char *vals[3] = {num(a, seq), num(b, time), blob};
  int lens[3] = {0, 0, (int)len};
  int fmts[3] = {0, 0, 1};
  return exec_cmd(ctx, P_SNAP_PUT, vals, lens, fmts, NULL, "snapshot put", e);
}

static int pg_snapshot_latest(void *ctx, int64_t *seq, dto_time *time,
                              void **blob, size_t *len, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  /* Binary results: the blob comes back as raw bytes. */
  PGresult *res =
      run(k, P_SNAP_LATEST, NULL, NULL, NULL, 1, "snapshot latest", &rc, e);
  if (res) {
    if (PQntuples(res) == 0) {
      rc = store__fail(e, DTO_ENOENT, "snapshot: none stored");
    } else if (PQgetlength(res, 0, 0) != 8 || PQgetlength(res, 0, 1) != 8) {
      rc = bad_row("snapshot latest", e);
    } else {
      size_t n = (size_t)PQgetlength(res, 0, 2);
      *seq = be64(PQgetvalue(res, 0, 0));
      *time = be64(PQgetvalue(res, 0, 1));
      *blob = xmalloc(n ? n : 1);
      if (n)
        memcpy(*blob, PQgetvalue(res, 0, 2), n);
      *len = n;
    }
    PQclear(res);
  }
  release(p, k);
  return rc;
}

static int pg_snapshot_prune(void *ctx, int keep, int64_t *deleted,
                             store_err *e) {
  numbuf b;
  const char *vals[1] = {num(b, keep)};
  return exec_cmd(ctx, P_SNAP_PRUNE, vals, NULL, NULL, deleted,
                  "snapshot prune", e);
}

/* ---- idempotency keys ------------------------------------------------- */

static int pg_idem_put(void *ctx, const store_idem *r, store_err *e) {
  numbuf a, b, c;
  const char *vals[6] = {r->key,
                         r->request_hash,
                         num(a, r->status),
                         r->body ? r->body : "",
                         num(b, r->created),
                         num(c, r->created - STORE_IDEM_TTL)};
  int lens[6] = {0, 0, 0, (int)r->body_len, 0, 0};
  int fmts[6] = {0, 0, 0, 1, 0, 0};
  int64_t n = 0;
  int rc =
      exec_cmd(ctx, P_IDEM_PUT, vals, lens, fmts, &n, "idempotency put", e);
  if (!rc && n == 0)
    return store__fail(e, DTO_EEXIST,
                       "idempotency key '%s': already used within 24 hours",
                       r->key);
  return rc;
}

static int pg_idem_get(void *ctx, const char *key, dto_time now,
                       store_idem *out, store_err *e) {
  pg *p = ctx;
  pgc *k;
  PGresult *res;
  numbuf b;
  const char *vals[2] = {key, num(b, now - STORE_IDEM_TTL)};
  int rc = lookup(p, &k, P_IDEM_GET, vals, "idempotency get", &res, e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "idempotency key '%s': not found", key);
  if (rc)
    return rc;
  bool bad = false;
  col_text(res, 0, 0, out->key, sizeof out->key);
  col_text(res, 0, 1, out->request_hash, sizeof out->request_hash);
  out->status = (int)col_i64(res, 0, 2, &bad);
  size_t n = (size_t)PQgetlength(res, 0, 3);
  char *body = xmalloc(n + 1);
  memcpy(body, PQgetvalue(res, 0, 3), n);
  body[n] = '\0';
  out->body = body;
  out->body_len = n;
  out->created = col_i64(res, 0, 4, &bad);
  PQclear(res);
  release(p, k);
  return bad ? bad_row("idempotency get", e) : 0;
}

static int pg_idem_purge(void *ctx, dto_time now, int64_t *purged,
                         store_err *e) {
  numbuf b;
  const char *vals[1] = {num(b, now - STORE_IDEM_TTL)};
  return exec_cmd(ctx, P_IDEM_PURGE, vals, NULL, NULL, purged,
                  "idempotency purge", e);
}

static int pg_count(void *ctx, enum store_table t, int64_t *n, store_err *e) {
  return query_i64(ctx, (enum stmt_id)(P_COUNT0 + (int)t), n, "count", e);
}

/* ---- users, sessions, API tokens, the audit log ----------------------- */

/* The values of every column of u but id, in the order of P_USER_ADD and
 * of P_USER_UPDATE after its $1, into vals[0..12) (b holds the numbers). */
static void user_vals(const store_user *u, numbuf b[6], const char *vals[12]) {
  vals[0] = u->name;
  vals[1] = u->role;
  vals[2] = u->password_hash;
  vals[3] = u->totp_secret;
  vals[4] = u->totp_pending;
  vals[5] = num(b[0], u->totp_last_step);
  vals[6] = num(b[1], u->failures);
  vals[7] = num(b[2], u->locked_until);
  vals[8] = u->disabled ? "true" : "false";
  vals[9] = num(b[3], u->password_changed);
  vals[10] = num(b[4], u->created);
  vals[11] = num(b[5], u->updated);
}

/* Read row r of a USER_COLS result into *u; false when a value in it is
 * malformed. */
static bool user_row(const PGresult *res, int r, store_user *u) {
  bool bad = false;
  u->id = col_i64(res, r, 0, &bad);
  col_text(res, r, 1, u->name, sizeof u->name);
  col_text(res, r, 2, u->role, sizeof u->role);
  col_text(res, r, 3, u->password_hash, sizeof u->password_hash);
  col_text(res, r, 4, u->totp_secret, sizeof u->totp_secret);
  col_text(res, r, 5, u->totp_pending, sizeof u->totp_pending);
  u->totp_last_step = col_i64(res, r, 6, &bad);
  u->failures = col_i64(res, r, 7, &bad);
  u->locked_until = col_i64(res, r, 8, &bad);
  const char *d = PQgetvalue(res, r, 9);
  u->disabled = !strcmp(d, "t");
  bad |= strcmp(d, "t") != 0 && strcmp(d, "f") != 0;
  u->password_changed = col_i64(res, r, 10, &bad);
  u->created = col_i64(res, r, 11, &bad);
  u->updated = col_i64(res, r, 12, &bad);
  return !bad;
}

/* Run an INSERT ... RETURNING id and read the id. */
static int insert_id(pg *p, enum stmt_id id, const char *const *vals,
                     const char *what, int64_t *out, store_err *e) {
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  PGresult *res = run(k, id, vals, NULL, NULL, 0, what, &rc, e);
  if (res) {
    bool bad = PQntuples(res) != 1;
    int64_t v = bad ? 0 : col_i64(res, 0, 0, &bad);
    if (bad)
      rc = bad_row(what, e);
    else
      *out = v;
    PQclear(res);
  }
  release(p, k);
  return rc;
}

static int pg_user_add(void *ctx, store_user *u, store_err *e) {
  numbuf b[6];
  const char *vals[12];
  user_vals(u, b, vals);
  return insert_id(ctx, P_USER_ADD, vals, "add user", &u->id, e);
}

/* A one-row user lookup by statement id with the one parameter val. */
static int user_lookup(pg *p, enum stmt_id id, const char *val, store_user *u,
                       store_err *e) {
  pgc *k;
  PGresult *res;
  const char *vals[1] = {val};
  int rc = lookup(p, &k, id, vals, "get user", &res, e);
  if (rc)
    return rc;
  bool ok = user_row(res, 0, u);
  PQclear(res);
  release(p, k);
  return ok ? 0 : bad_row("get user", e);
}

static int pg_user_get(void *ctx, const char *name, store_user *u,
                       store_err *e) {
  int rc = user_lookup(ctx, P_USER_GET, name, u, e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "user '%s': not found", name);
  return rc;
}

static int pg_user_get_id(void *ctx, int64_t id, store_user *u, store_err *e) {
  numbuf b;
  int rc = user_lookup(ctx, P_USER_GET_ID, num(b, id), u, e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "user %lld: not found", (long long)id);
  return rc;
}

static int pg_user_update(void *ctx, const store_user *u, store_err *e) {
  numbuf b[6], idb;
  const char *vals[13];
  vals[0] = num(idb, u->id);
  user_vals(u, b, vals + 1);
  int64_t n = 0;
  int rc = exec_cmd(ctx, P_USER_UPDATE, vals, NULL, NULL, &n, "update user", e);
  if (!rc && n == 0)
    return store__fail(e, DTO_ENOENT, "user %lld: not found", (long long)u->id);
  return rc;
}

typedef struct list_user_cb {
  store_user_fn fn;
  void *arg;
} list_user_cb;

static int list_user_row(void *arg, const PGresult *res, int r, store_err *e) {
  list_user_cb *cb = arg;
  store_user u;
  memset(&u, 0, sizeof u);
  if (!user_row(res, r, &u))
    return bad_row("list users", e);
  return cb->fn(cb->arg, &u);
}

static int pg_user_list(void *ctx, store_user_fn fn, void *arg, store_err *e) {
  list_user_cb cb = {fn, arg};
  return each_row(ctx, P_USER_LIST, NULL, "list users", list_user_row, &cb, e);
}

static int pg_session_put(void *ctx, const store_session *ses, store_err *e) {
  numbuf b[4];
  const char *vals[7] = {ses->id_hash,
                         ses->csrf_hash,
                         num(b[0], ses->user_id),
                         num(b[1], ses->created),
                         num(b[2], ses->last_seen),
                         num(b[3], ses->expires),
                         ses->address};
  return exec_cmd(ctx, P_SES_PUT, vals, NULL, NULL, NULL, "put session", e);
}

static int pg_session_get(void *ctx, const char *id_hash, store_session *ses,
                          store_err *e) {
  pg *p = ctx;
  pgc *k;
  PGresult *res;
  const char *vals[1] = {id_hash};
  int rc = lookup(p, &k, P_SES_GET, vals, "get session", &res, e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "session: not found");
  if (rc)
    return rc;
  bool bad = false;
  col_text(res, 0, 0, ses->id_hash, sizeof ses->id_hash);
  col_text(res, 0, 1, ses->csrf_hash, sizeof ses->csrf_hash);
  ses->user_id = col_i64(res, 0, 2, &bad);
  ses->created = col_i64(res, 0, 3, &bad);
  ses->last_seen = col_i64(res, 0, 4, &bad);
  ses->expires = col_i64(res, 0, 5, &bad);
  col_text(res, 0, 6, ses->address, sizeof ses->address);
  PQclear(res);
  release(p, k);
  return bad ? bad_row("get session", e) : 0;
}

/* Run a write keyed by one session hash; DTO_ENOENT when it changed no
 * row. */
static int session_write(pg *p, enum stmt_id id, const char *const *vals,
                         const char *what, store_err *e) {
  int64_t n = 0;
  int rc = exec_cmd(p, id, vals, NULL, NULL, &n, what, e);
  if (!rc && n == 0)
    return store__fail(e, DTO_ENOENT, "%s: no such session", what);
  return rc;
}

static int pg_session_touch(void *ctx, const char *id_hash, dto_time last_seen,
                            store_err *e) {
  numbuf b;
  const char *vals[2] = {id_hash, num(b, last_seen)};
  return session_write(ctx, P_SES_TOUCH, vals, "touch session", e);
}

static int pg_session_delete(void *ctx, const char *id_hash, store_err *e) {
  const char *vals[1] = {id_hash};
  return session_write(ctx, P_SES_DELETE, vals, "delete session", e);
}

static int pg_session_delete_user(void *ctx, int64_t user_id, int64_t *n,
                                  store_err *e) {
  numbuf b;
  const char *vals[1] = {num(b, user_id)};
  return exec_cmd(ctx, P_SES_DELETE_USER, vals, NULL, NULL, n,
                  "delete sessions", e);
}

/* Read row r of a TOKEN_COLS result into *t; false as user_row(). */
static bool token_row(const PGresult *res, int r, store_token *t) {
  bool bad = false;
  t->id = col_i64(res, r, 0, &bad);
  col_text(res, r, 1, t->hash, sizeof t->hash);
  t->user_id = col_i64(res, r, 2, &bad);
  col_text(res, r, 3, t->name, sizeof t->name);
  col_text(res, r, 4, t->scope, sizeof t->scope);
  t->created = col_i64(res, r, 5, &bad);
  t->expires = col_i64(res, r, 6, &bad);
  t->revoked = col_i64(res, r, 7, &bad);
  t->last_used = col_i64(res, r, 8, &bad);
  return !bad;
}

static int pg_token_add(void *ctx, store_token *t, store_err *e) {
  numbuf b[5];
  const char *vals[8] = {t->hash,
                         num(b[0], t->user_id),
                         t->name,
                         t->scope,
                         num(b[1], t->created),
                         num(b[2], t->expires),
                         num(b[3], t->revoked),
                         num(b[4], t->last_used)};
  return insert_id(ctx, P_TOKEN_ADD, vals, "add token", &t->id, e);
}

/* A one-row token lookup by statement id with the one parameter val. */
static int token_lookup(pg *p, enum stmt_id id, const char *val, store_token *t,
                        store_err *e) {
  pgc *k;
  PGresult *res;
  const char *vals[1] = {val};
  int rc = lookup(p, &k, id, vals, "get token", &res, e);
  if (rc)
    return rc;
  bool ok = token_row(res, 0, t);
  PQclear(res);
  release(p, k);
  return ok ? 0 : bad_row("get token", e);
}

static int pg_token_get(void *ctx, int64_t id, store_token *t, store_err *e) {
  numbuf b;
  int rc = token_lookup(ctx, P_TOKEN_GET, num(b, id), t, e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "token %lld: not found", (long long)id);
  return rc;
}

static int pg_token_get_hash(void *ctx, const char *hash, store_token *t,
                             store_err *e) {
  int rc = token_lookup(ctx, P_TOKEN_GET_HASH, hash, t, e);
  if (rc == DTO_ENOENT)
    return store__fail(e, rc, "token: not found");
  return rc;
}

static int pg_token_update(void *ctx, const store_token *t, store_err *e) {
  numbuf b[4];
  const char *vals[6] = {num(b[0], t->id),
                         t->name,
                         t->scope,
                         num(b[1], t->expires),
                         num(b[2], t->revoked),
                         num(b[3], t->last_used)};
  int64_t n = 0;
  int rc =
      exec_cmd(ctx, P_TOKEN_UPDATE, vals, NULL, NULL, &n, "update token", e);
  if (!rc && n == 0)
    return store__fail(e, DTO_ENOENT, "token %lld: not found",
                       (long long)t->id);
  return rc;
}

typedef struct list_token_cb {
  store_token_fn fn;
  void *arg;
} list_token_cb;

static int list_token_row(void *arg, const PGresult *res, int r, store_err *e) {
  list_token_cb *cb = arg;
  store_token t;
  memset(&t, 0, sizeof t);
  if (!token_row(res, r, &t))
    return bad_row("list tokens", e);
  return cb->fn(cb->arg, &t);
}

static int pg_token_list(void *ctx, int64_t user_id, store_token_fn fn,
                         void *arg, store_err *e) {
  list_token_cb cb = {fn, arg};
  numbuf b;
  const char *vals[1] = {num(b, user_id)};
  return each_row(ctx, user_id ? P_TOKEN_LIST : P_TOKEN_LIST_ALL,
                  user_id ? vals : NULL, "list tokens", list_token_row, &cb, e);
}

/* Read row r of an AUDIT_COLS result into *a; false as user_row(). */
static bool audit_row(const PGresult *res, int r, store_audit *a) {
  bool bad = false;
  a->seq = col_i64(res, r, 0, &bad);
  a->time = col_i64(res, r, 1, &bad);
  col_text(res, r, 2, a->actor, sizeof a->actor);
  col_text(res, r, 3, a->address, sizeof a->address);
  col_text(res, r, 4, a->action, sizeof a->action);
  col_text(res, r, 5, a->target, sizeof a->target);
  col_text(res, r, 6, a->outcome, sizeof a->outcome);
  col_text(res, r, 7, a->detail, sizeof a->detail);
  col_text(res, r, 8, a->prev_hash, sizeof a->prev_hash);
  col_text(res, r, 9, a->hash, sizeof a->hash);
  return !bad;
}

/* Read the last record on k into *prev; *has says whether there is one. */
static int audit_last(pgc *k, store_audit *prev, bool *has, store_err *e) {
  int rc;
  PGresult *res = run(k, P_AUDIT_LAST, NULL, NULL, NULL, 0,
                      "audit append: read the last record", &rc, e);
  if (!res)
    return rc;
  *has = PQntuples(res) == 1;
  bool ok = !*has || audit_row(res, 0, prev);
  PQclear(res);
  return ok ? 0 : bad_row("audit append", e);
}

static int audit_insert(pgc *k, const store_audit *a, store_err *e) {
  numbuf s, t;
  const char *vals[10] = {
      num(s, a->seq), num(t, a->time), a->actor,  a->address,   a->action,
      a->target,      a->outcome,      a->detail, a->prev_hash, a->hash};
  int rc;
  PGresult *res =
      run(k, P_AUDIT_INSERT, vals, NULL, NULL, 0, "audit append", &rc, e);
  PQclear(res);
  return rc;
}

/* The exclusive lock (which readers do not wait for) is taken before the
 * last record is read, so a second appender, from any process, waits for
 * this one to commit and then reads the record it wrote. */
static int pg_audit_append(void *ctx, store_audit *a,
                           store_audit_chain_fn chain, void *arg,
                           store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = acquire(p, &k, e);
  if (rc)
    return rc;
  if (k->in_txn) {
    release(p, k);
    return store__fail(e, DTO_ESTATE,
                       "audit append: not inside a transaction (it takes "
                       "its own, to lock the log)");
  }
  if ((rc = simple(k, "BEGIN", "audit append: begin", e)))
    goto out;
  store_audit prev;
  bool has = false;
  memset(&prev, 0, sizeof prev);
  if ((rc = simple(k, LOCK_AUDIT, "audit append: lock", e)) ||
      (rc = audit_last(k, &prev, &has, e)))
    goto rollback;
  a->seq = has ? prev.seq + 1 : 1;
  if ((rc = chain(arg, has ? &prev : NULL, a)) ||
      (rc = audit_insert(k, a, e)) ||
      (rc = simple(k, "COMMIT", "audit append: commit", e)))
    goto rollback;
  goto out;
rollback:
  if (PQstatus(k->c) == CONNECTION_OK &&
      PQtransactionStatus(k->c) != PQTRANS_IDLE)
    simple(k, "ROLLBACK", "audit append: rollback", NULL);
out:
  release(p, k);
  return rc;
}

/* In keyset batches by seq, as pg_read_events(). */
static int pg_audit_read(void *ctx, int64_t after_seq, int64_t limit,
                         store_audit_fn fn, void *arg, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  int64_t left = limit > 0 ? limit : INT64_MAX;
  while (left > 0 && !rc) {
    numbuf b, l;
    int64_t want = left < READ_BATCH ? left : READ_BATCH;
    const char *vals[2] = {num(b, after_seq), num(l, want)};
    PGresult *res =
        run(k, P_AUDIT_READ, vals, NULL, NULL, 0, "read audit log", &rc, e);
    if (!res)
      break;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && !rc; r++) {
      store_audit a;
      memset(&a, 0, sizeof a);
      if (!audit_row(res, r, &a)) {
        rc = bad_row("read audit log", e);
        break;
      }
      after_seq = a.seq;
      rc = fn(arg, &a);
    }
    PQclear(res);
    left -= rows;
    if (rows < want)
      break;
  }
  release(p, k);
  return rc;
}

/* ---- the alert history -------------------------------------------------- */

/* Read row r of an ALERT_COLS result into *a; false as user_row(). */
static bool alert_row(const PGresult *res, int r, store_alert_rec *a) {
  bool bad = false;
  a->seq = col_i64(res, r, 0, &bad);
  a->time = col_i64(res, r, 1, &bad);
  col_text(res, r, 2, a->event, sizeof a->event);
  a->alert_id = col_i64(res, r, 3, &bad);
  col_text(res, r, 4, a->name, sizeof a->name);
  col_text(res, r, 5, a->severity, sizeof a->severity);
  col_text(res, r, 6, a->fingerprint, sizeof a->fingerprint);
  col_text(res, r, 7, a->channel, sizeof a->channel);
  col_text(res, r, 8, a->who, sizeof a->who);
  col_text(res, r, 9, a->detail, sizeof a->detail);
  return !bad;
}

/* The exclusive lock is taken before the INSERT reads max(seq), and held
 * until commit: a second writer, from any process, waits and then draws
 * the next seq, so seqs have no gaps and increase in commit order (an
 * identity column would skip the seqs of rolled-back inserts and could
 * commit a smaller seq after a larger one).  Inside the caller's
 * transaction the lock is held until that ends. */
static int pg_alert_put(void *ctx, store_alert_rec *r, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  bool own = !k->in_txn;
  if (own && (rc = simple(k, "BEGIN", "alert put: begin", e)))
    goto out;
  if ((rc = simple(k, LOCK_ALERTS, "alert put: lock", e)))
    goto fail;
  numbuf t, id;
  const char *vals[9] = {num(t, r->time), r->event,    num(id, r->alert_id),
                         r->name,         r->severity, r->fingerprint,
                         r->channel,      r->who,      r->detail};
  PGresult *res = run(k, P_ALERT_PUT, vals, NULL, NULL, 0, "alert put", &rc, e);
  if (!res)
    goto fail;
  bool bad = PQntuples(res) != 1;
  int64_t seq = bad ? 0 : col_i64(res, 0, 0, &bad);
  PQclear(res);
  if (bad) {
    rc = bad_row("alert put", e);
    goto fail;
  }
  if (own && (rc = simple(k, "COMMIT", "alert put: commit", e)))
    goto fail;
  r->seq = seq;
  goto out;
fail:
  if (k->in_txn)
    k->txn_failed = true;
  else if (PQstatus(k->c) == CONNECTION_OK &&
           PQtransactionStatus(k->c) != PQTRANS_IDLE)
    simple(k, "ROLLBACK", "alert put: rollback", NULL);
out:
  release(p, k);
  return rc;
}

/* In keyset batches by seq, as pg_read_events(). */
static int pg_alert_read(void *ctx, int64_t after_seq, int64_t limit,
                         store_alert_fn fn, void *arg, store_err *e) {
  pg *p = ctx;
  pgc *k;
  int rc = enter(p, &k, e);
  if (rc)
    return rc;
  int64_t left = limit;
  while (left > 0 && !rc) {
    numbuf b, l;
    int64_t want = left < READ_BATCH ? left : READ_BATCH;
    const char *vals[2] = {num(b, after_seq), num(l, want)};
    PGresult *res =
        run(k, P_ALERT_READ, vals, NULL, NULL, 0, "read alert history", &rc, e);
    if (!res)
      break;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && !rc; i++) {
      store_alert_rec a;
      memset(&a, 0, sizeof a);
      if (!alert_row(res, i, &a)) {
        rc = bad_row("read alert history", e);
        break;
      }
      after_seq = a.seq;
      rc = fn(arg, &a);
    }
    PQclear(res);
    left -= rows;
    if (rows < want)
      break;
  }
  release(p, k);
  return rc;
}

typedef struct alert_cb {
  store_alert_fn fn;
  void *arg;
} alert_cb;

static int alert_cb_row(void *arg, const PGresult *res, int r, store_err *e) {
  alert_cb *cb = arg;
  store_alert_rec a;
  memset(&a, 0, sizeof a);
  if (!alert_row(res, r, &a))
    return bad_row("recent alerts", e);
  return cb->fn(cb->arg, &a);
}

/* One statement in single-row mode: memory does not grow with limit. */
static int pg_alert_recent(void *ctx, int64_t limit, const char *name,
                           store_alert_fn fn, void *arg, store_err *e) {
  alert_cb cb = {fn, arg};
  numbuf l;
  const char *vals[2] = {num(l, limit), name};
  return each_row(ctx, name ? P_ALERT_RECENT_NAME : P_ALERT_RECENT, vals,
                  "recent alerts", alert_cb_row, &cb, e);
}

static const store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .migrations = pg_migrations,
    .schema_version = pg_schema_version,
    .migrate_step = pg_migrate_step,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .append = pg_append,
    .read_events = pg_read_events,
    .max_seq = pg_max_seq,
    .last_event = pg_last_event,
    .upsert_order = pg_upsert_order,
    .get_order = pg_get_order,
    .list_orders = pg_list_orders,
    .insert_fill = pg_insert_fill,
    .upsert_position = pg_upsert_position,
    .get_position = pg_get_position,
    .list_positions = pg_list_positions,
    .upsert_daily_pnl = pg_upsert_daily_pnl,
    .get_daily_pnl = pg_get_daily_pnl,
    .insert_risk_decision = pg_insert_risk_decision,
    .snapshot_put = pg_snapshot_put,
    .snapshot_latest = pg_snapshot_latest,
    .snapshot_prune = pg_snapshot_prune,
    .idem_put = pg_idem_put,
    .idem_get = pg_idem_get,
    .idem_purge = pg_idem_purge,
    .count = pg_count,
    .check_identity = pg_check_identity,
    .user_add = pg_user_add,
    .user_get = pg_user_get,
    .user_get_id = pg_user_get_id,
    .user_update = pg_user_update,
    .user_list = pg_user_list,
    .session_put = pg_session_put,
    .session_get = pg_session_get,
    .session_touch = pg_session_touch,
    .session_delete = pg_session_delete,
    .session_delete_user = pg_session_delete_user,
    .token_add = pg_token_add,
    .token_get = pg_token_get,
    .token_get_hash = pg_token_get_hash,
    .token_update = pg_token_update,
    .token_list = pg_token_list,
    .audit_append = pg_audit_append,
    .audit_read = pg_audit_read,
    .alert_put = pg_alert_put,
    .alert_read = pg_alert_read,
    .alert_recent = pg_alert_recent,
};

int store__pg_open(const char *url, const char *shown, const store_options *opt,
                   const store_ops **ops, void **ctx, char *err, size_t cap) {
  _Static_assert(P__COUNT <= 64, "prepared-statement bitmask is 64 bits");
  pg *p = xcalloc(1, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->max = opt->pg_pool_max;
  p->conns = xcalloc((size_t)p->max, sizeof *p->conns);
  p->connect_timeout_s = opt->connect_timeout_s;
  p->statement_timeout_ms = opt->statement_timeout_ms;
  p->url = xstrdup(url);
  p->sslmode = opt->sslmode ? xstrdup(opt->sslmode) : NULL;
  store__copy(p->shown, sizeof p->shown, shown, strlen(shown));
  for (int i = 0; i < opt->pg_pool_min; i++) {
    store_err e = {{0}};
    pgc *k = NULL;
    int rc = conn_open(p, &k, &e);
    if (rc) {
      store__copy(err, cap, e.msg, strlen(e.msg));
      pg_close(p);
      return rc;
    }
    p->conns[p->n++] = k;
  }
  store_err e = {{0}};
  int rc = identity_on(p->conns[0], &p->db_oid, &p->events_oid, &e);
  if (rc) {
    store__copy(err, cap, e.msg, strlen(e.msg));
    pg_close(p);
    return rc;
  }
  *ops = &pg_ops;
  *ctx = p;
  return 0;
}
