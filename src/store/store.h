/* store.h - dto's durable storage: the journal, orders, fills, positions,
 * the HTTP API's users, sessions, tokens and audit log, and the alert
 * history.
 *
 * A store is a const table of function pointers plus a context (SQLite's
 * VFS): `store_ops`.  Two back-ends ship: SQLite (embedded, the default) and
 * PostgreSQL (libpq, a connection pool).  A fault-injecting wrapper fails the
 * N-th call of any store, for tests.  Callers use the store_*() functions
 * below, which check every input (lengths, UTF-8, NUL bytes) before a
 * back-end sees it; back-ends use prepared statements only.
 *
 * This module stores and returns rows; it does not interpret them.  Order
 * states, sides and event types are short strings chosen by the engine; the
 * store never decides what a state means, except that store_list_orders()
 * can leave out the terminal states it names.  The journal writer thread,
 * group commit, snapshots' contents and recovery belong to the engine.
 *
 * Threading: one SQLite store is one connection and must be used by one
 * thread at a time (open a second store for a reader thread; WAL lets it
 * read while the writer writes).  A PostgreSQL store keeps a pool of
 * connections guarded by a mutex and may be used by several threads at once;
 * a transaction belongs to the thread that began it (its connection is
 * pinned to that thread until commit or rollback).
 *
 * Money, prices and quantities are fx (int64, 1e8 scale) and are stored as
 * 64-bit integers, never as floating point.  Times are dto_time (ns, UTC).
 */
#ifndef DTO_STORE_H
#define DTO_STORE_H

#include "core/prelude.h"

#include "core/fx.h"

/* ---- limits (bytes, not counting the terminating NUL) ------------------ */

#define STORE_URL_MAX 4096  /* store URL or path */
#define STORE_ID_MAX 96     /* cloid (CLOID_MAX), broker id, fill id, account, strategy */
#define STORE_SYMBOL_MAX 32 /* instrument symbol */
#define STORE_TAG_MAX 24    /* side, order type, tif, state */
#define STORE_EVENT_TYPE_MAX 48 /* "order.filled" */
#define STORE_PAYLOAD_MAX 65536 /* one event's JSON payload */
#define STORE_APPEND_MAX 65536  /* events in one store_append() call */
#define STORE_CHECK_MAX 48      /* risk check name */
#define STORE_REASON_MAX 256    /* risk decision reason */
#define STORE_IDEM_KEY_MAX 255  /* Idempotency-Key (scoped by the caller) */
#define STORE_HASH_MAX 128      /* request hash (hex) */
#define STORE_BODY_MAX 65536    /* stored response body */
#define STORE_SNAPSHOT_MAX (256u * 1024 * 1024) /* one snapshot blob */
#define STORE_ERR_MAX 512 /* store_errmsg() text, NUL included */

/* Idempotency keys live this long after their first response. */
#define STORE_IDEM_TTL (24 * DTO_NS_PER_HOUR)

/* ---- rows -------------------------------------------------------------- */

/* One journal event.  For store_append() the caller fills time, type (1 to
 * STORE_EVENT_TYPE_MAX bytes), account and strategy (NULL means "", at most
 * STORE_ID_MAX bytes) and payload (JSON text of payload_len bytes, at most
 * STORE_PAYLOAD_MAX, no NUL byte, valid UTF-8; NULL only when payload_len is
 * 0); the store writes seq.  For store_read_events() every field is set and
 * the strings point into the store's memory, valid during the callback. */
typedef struct store_event {
  int64_t seq; /* assigned by the store: increasing, never reused */
  dto_time time;
  const char *type;
  const char *account;
  const char *strategy;
  const char *payload;
  size_t payload_len;
} store_event;

/* An order, keyed by its client order id.  Text fields are NUL-terminated
 * within their arrays; cloid, account, symbol, side, type, tif and state
 * must not be empty; broker_id and strategy may be. */
typedef struct store_order {
  char cloid[STORE_ID_MAX + 1];
  char broker_id[STORE_ID_MAX + 1]; /* the broker's order id, "" if none yet */
  char account[STORE_ID_MAX + 1];
  char strategy[STORE_ID_MAX + 1];
  char symbol[STORE_SYMBOL_MAX + 1];
  char side[STORE_TAG_MAX + 1];    /* "buy", "sell", ... */
  char type[STORE_TAG_MAX + 1];    /* "market", "limit", ... */
  char tif[STORE_TAG_MAX + 1];     /* "day", "gtc", ... */
  char state[STORE_TAG_MAX + 1];   /* "accepted", "filled", ... */
  fx qty, limit_price, stop_price; /* 0 when not applicable */
  fx filled, avg_price, fees;
  dto_time created, updated;
} store_order;

/* A fill (execution).  fill_id is unique (the broker's execution id): the
 * same fill stored twice is stored once. */
typedef struct store_fill {
  char fill_id[STORE_ID_MAX + 1];
  char cloid[STORE_ID_MAX + 1];
  fx qty, price, fee;
  dto_time time;
} store_fill;

/* A position, keyed by (account, strategy, symbol). */
typedef struct store_position {
  char account[STORE_ID_MAX + 1];
  char strategy[STORE_ID_MAX + 1];
  char symbol[STORE_SYMBOL_MAX + 1];
  fx qty, cost, realized, fees;
  dto_time updated;
} store_position;

/* Profit and loss of one exchange day, keyed by (account, strategy, day). */
typedef struct store_daily_pnl {
  char account[STORE_ID_MAX + 1];
  char strategy[STORE_ID_MAX + 1];
  int32_t day; /* YYYYMMDD, the exchange date */
  fx realized, unrealized, fees;
  int64_t trades;
  dto_time updated;
} store_daily_pnl;

/* One pre-trade risk decision (rows are only added). */
typedef struct store_risk_decision {
  dto_time time;
  char account[STORE_ID_MAX + 1];
  char strategy[STORE_ID_MAX + 1];
  char cloid[STORE_ID_MAX + 1];
  char symbol[STORE_SYMBOL_MAX + 1];
  char check[STORE_CHECK_MAX + 1]; /* the refusing check, "" when accepted */
  bool accepted;
  char reason[STORE_REASON_MAX + 1];
} store_risk_decision;

/* An Idempotency-Key record: the first response to a request.  key is
 * 1..STORE_IDEM_KEY_MAX bytes and should carry the caller's scope (user or
 * token) because keys are global in the store.  For store_idem_put() body
 * is read (not owned); store_idem_get() sets it to memory the caller
 * releases with store_idem_release(). */
typedef struct store_idem {
  char key[STORE_IDEM_KEY_MAX + 1];
  char request_hash[STORE_HASH_MAX + 1];
  int status; /* HTTP status of the first response */
  const char *body;
  size_t body_len; /* at most STORE_BODY_MAX, no NUL byte, UTF-8 */
  dto_time created;
} store_idem;

/* ---- rows of the HTTP API: users, sessions, API tokens, audit records ---
 *
 * The store keeps these rows; src/api decides what they mean (password
 * hashes, roles, lockout, token and session lifetimes, the audit chain's
 * hash).  Secrets are never stored: a session and a token are kept by the
 * SHA-256 of their secret only, as 64 lower-case hex digits.  Text fields
 * are NUL-terminated within their arrays, valid UTF-8 without NUL; the
 * wrappers check each against its array's size.  Times are dto_time (ns,
 * UTC); 0 means "none" where a comment says so. */

#define STORE_USER_MAX 64     /* user name */
#define STORE_ROLE_MAX 16     /* "admin", "trader", "viewer", "auditor" */
#define STORE_PWHASH_MAX 255  /* "$argon2id$v=19$m=...,t=...,p=...$salt$hash" */
#define STORE_TOTP_MAX 64     /* base32 TOTP secret */
#define STORE_SHA_HEX 64      /* hex SHA-256 */
#define STORE_ADDR_MAX 64     /* client address */
#define STORE_TOKEN_NAME_MAX 64
#define STORE_SCOPE_MAX 128   /* space-separated scopes */
#define STORE_ACTION_MAX 64   /* audit action: "auth.login" */
#define STORE_TARGET_MAX 128  /* audit target: a user, order, token id */
#define STORE_OUTCOME_MAX 16  /* "ok", "denied", "failed", ... */
#define STORE_DETAIL_MAX 4096 /* audit detail JSON */

/* A user, unique by name.  name, role and password_hash must not be
 * empty; the role is not checked against a list (src/api's business). */
typedef struct store_user {
  int64_t id; /* assigned by store_user_add, from 1, never reused */
  char name[STORE_USER_MAX + 1];
  char role[STORE_ROLE_MAX + 1];
  char password_hash[STORE_PWHASH_MAX + 1];
  char totp_secret[STORE_TOTP_MAX + 1];  /* confirmed secret, "" if none */
  char totp_pending[STORE_TOTP_MAX + 1]; /* enrolled, not yet confirmed */
  int64_t totp_last_step; /* the last TOTP step accepted (no replay) */
  int64_t failures;       /* consecutive failed logins */
  dto_time locked_until;  /* 0: not locked */
  bool disabled;
  dto_time password_changed, created, updated;
} store_user;

/* A browser session, keyed by the hash of its id.  user_id must name a
 * user; the session ends with its user (ON DELETE CASCADE). */
typedef struct store_session {
  char id_hash[STORE_SHA_HEX + 1];   /* SHA-256 of the session id */
  char csrf_hash[STORE_SHA_HEX + 1]; /* SHA-256 of its CSRF token */
  int64_t user_id;
  dto_time created, last_seen, expires; /* expires: the absolute end */
  char address[STORE_ADDR_MAX + 1];     /* "" when unknown */
} store_session;

/* An API token, unique by the hash of its secret.  user_id must name a
 * user; name may be empty. */
typedef struct store_token {
  int64_t id; /* assigned by store_token_add, from 1, never reused */
  char hash[STORE_SHA_HEX + 1]; /* SHA-256 of the token's secret */
  int64_t user_id;
  char name[STORE_TOKEN_NAME_MAX + 1];
  char scope[STORE_SCOPE_MAX + 1];
  dto_time created, expires, revoked; /* revoked: 0 while valid */
  dto_time last_used;                 /* 0: never */
} store_token;

/* One audit record.  seq is assigned by store_audit_append (1, 2, ...
 * without gaps); prev_hash and hash are the caller's chain (hash: 64
 * lower-case hex digits; prev_hash: the same, or "" for the first record,
 * as the chain function chooses).  action must not be empty; detail is
 * JSON text, and "" is stored as "{}". */
typedef struct store_audit {
  int64_t seq;
  dto_time time;
  char actor[STORE_USER_MAX + 1];
  char address[STORE_ADDR_MAX + 1];
  char action[STORE_ACTION_MAX + 1];
  char target[STORE_TARGET_MAX + 1];
  char outcome[STORE_OUTCOME_MAX + 1];
  char detail[STORE_DETAIL_MAX + 1];
  char prev_hash[STORE_SHA_HEX + 1];
  char hash[STORE_SHA_HEX + 1];
} store_audit;

/* Called once per row by the listings below, in the order they promise; a
 * non-zero return stops the listing and becomes its result.  The row is
 * valid during the call only; the callback must not use the same store. */
typedef int (*store_user_fn)(void *arg, const store_user *u);
typedef int (*store_token_fn)(void *arg, const store_token *t);
typedef int (*store_audit_fn)(void *arg, const store_audit *a);
/* Given the previous record (NULL for the first), fill a->prev_hash and
 * a->hash of the new record a (seq and every other field already set; the
 * function may change them too, they are checked again after it).  It runs
 * while the store holds the audit log's lock: it must be quick and must
 * not use the same store.  0, or an error that aborts the append. */
typedef int (*store_audit_chain_fn)(void *arg, const store_audit *prev,
                                    store_audit *a);

/* ---- rows of the alert history ------------------------------------------ */

#define STORE_ALERT_EVENT_MAX 16
#define STORE_ALERT_NAME_MAX 64

/* One record of the alert history (ops/alert.h's records and the
 * notifier's outcomes): event is "firing", "resolved", "acked",
 * "notified", "escalated", "silenced", "delivered" or "dead_letter";
 * detail is JSON (labels, summary, value; for deliveries the channel's
 * outcome: attempts, error, and for a dead letter the payload).  The store
 * does not check event against that list (the caller's business); it
 * requires event not empty and detail "" (stored as "{}") or starting with
 * '{'.  The other text fields may be empty.  Text is NUL-terminated within
 * its array, valid UTF-8 without NUL. */
typedef struct store_alert_rec {
  int64_t seq; /* assigned by store_alert_put: 1, 2, ... without gaps */
  dto_time time;
  char event[STORE_ALERT_EVENT_MAX + 1];
  int64_t alert_id;
  char name[STORE_ALERT_NAME_MAX + 1];
  char severity[16 + 1];
  char fingerprint[24 + 1];
  char channel[STORE_ALERT_NAME_MAX + 1];
  char who[STORE_USER_MAX + 1];
  char detail[STORE_DETAIL_MAX + 1];
} store_alert_rec;

/* Called once per record by store_alert_read() / store_alert_recent(), in
 * the order they promise; as store_user_fn. */
typedef int (*store_alert_fn)(void *arg, const store_alert_rec *r);

/* Tables, for store_count(). */
enum store_table {
  STORE_T_EVENTS,
  STORE_T_ORDERS,
  STORE_T_FILLS,
  STORE_T_POSITIONS,
  STORE_T_ACCOUNTS,
  STORE_T_DAILY_PNL,
  STORE_T_RISK_DECISIONS,
  STORE_T_SNAPSHOTS,
  STORE_T_IDEMPOTENCY,
  STORE_T_USERS,
  STORE_T_SESSIONS,
  STORE_T_AUDIT_LOG,
  STORE_T_API_TOKENS,
  STORE_T_ALERT_HISTORY,
  STORE_T_COUNT
};
/* The SQL name of t ("events"); NULL for a value out of range. */
const char *store_table_name(enum store_table t);

/* One embedded migration: NNNN_name.sql.  Lists end with version 0. */
typedef struct store_migration {
  int version;      /* 1, 2, ... without gaps */
  const char *name; /* "0001_journal" */
  const char *sql;
} store_migration;

/* ---- the back-end table ------------------------------------------------ */

/* Back-ends write a message (at most STORE_ERR_MAX bytes with the NUL) into
 * err->msg when they fail.  The message never holds a password. */
typedef struct store_err {
  char msg[STORE_ERR_MAX];
} store_err;

/* Called once per event, in seq order; a non-zero return stops the read
 * and becomes its result.  ev and its strings are valid during the call
 * only.  The callback must not use the same store. */
typedef int (*store_event_fn)(void *arg, const store_event *ev);

/* Called once per row by store_list_orders() / store_list_positions(), in
 * the order they promise; a non-zero return stops the listing and becomes
 * its result.  The row is valid during the call only.  The callback must
 * not use the same store. */
typedef int (*store_order_fn)(void *arg, const store_order *o);
typedef int (*store_position_fn)(void *arg, const store_position *p);

/* Every op returns 0 or a DTO_E* code and takes the back-end's ctx first
 * and an error message buffer last.  Inputs reach an op already checked by
 * the store_*() wrapper of the same name.  Transactions: begin/commit/
 * rollback bracket the ops the same thread makes; ops outside a transaction
 * commit on their own (append's batch as a whole).  After a failure inside
 * a transaction that reached the database, every op but rollback fails with
 * DTO_ESTATE until rollback. */
typedef struct store_ops {
  const char *name; /* "sqlite", "postgres", "faulty" */
  void (*close)(void *ctx);
  /* The migrations this back-end knows, ending with version 0. */
  const store_migration *(*migrations)(void *ctx);
  int (*schema_version)(void *ctx, int *version, store_err *e);
  /* Apply m in one transaction and record its version, if the schema is at
   * m->version - 1 (if it is already at m->version or later, do nothing). */
  int (*migrate_step)(void *ctx, const store_migration *m, store_err *e);
  int (*begin)(void *ctx, store_err *e);
  int (*commit)(void *ctx, store_err *e);
  int (*rollback)(void *ctx, store_err *e);
  int (*append)(void *ctx, store_event *ev, size_t n, int64_t *last_seq,
                store_err *e);
  int (*read_events)(void *ctx, int64_t after_seq, int64_t limit,
                     store_event_fn fn, void *arg, store_err *e);
  int (*max_seq)(void *ctx, int64_t *seq, store_err *e);
  /* The highest seq and its time; 0 and 0 when the journal is empty. */
  int (*last_event)(void *ctx, int64_t *seq, dto_time *time, store_err *e);
  int (*upsert_order)(void *ctx, const store_order *o, store_err *e);
  int (*get_order)(void *ctx, const char *cloid, store_order *out,
                   store_err *e);
  int (*list_orders)(void *ctx, bool open_only, store_order_fn fn, void *arg,
                     store_err *e);
  int (*insert_fill)(void *ctx, const store_fill *f, bool *inserted,
                     store_err *e);
  int (*upsert_position)(void *ctx, const store_position *p, store_err *e);
  int (*get_position)(void *ctx, const char *account, const char *strategy,
                      const char *symbol, store_position *out, store_err *e);
  int (*list_positions)(void *ctx, store_position_fn fn, void *arg,
                        store_err *e);
  int (*upsert_daily_pnl)(void *ctx, const store_daily_pnl *d, store_err *e);
  int (*get_daily_pnl)(void *ctx, const char *account, const char *strategy,
                       int32_t day, store_daily_pnl *out, store_err *e);
  int (*insert_risk_decision)(void *ctx, const store_risk_decision *r,
                              store_err *e);
  int (*snapshot_put)(void *ctx, int64_t seq, dto_time time, const void *blob,
                      size_t len, store_err *e);
  int (*snapshot_latest)(void *ctx, int64_t *seq, dto_time *time, void **blob,
                         size_t *len, store_err *e);
  int (*snapshot_prune)(void *ctx, int keep, int64_t *deleted, store_err *e);
  int (*idem_put)(void *ctx, const store_idem *r, store_err *e);
  int (*idem_get)(void *ctx, const char *key, dto_time now, store_idem *out,
                  store_err *e);
  int (*idem_purge)(void *ctx, dto_time now, int64_t *purged, store_err *e);
  int (*count)(void *ctx, enum store_table t, int64_t *n, store_err *e);
  /* Is the store still the one opened (store_check_identity)?  0, or
   * DTO_ESTATE with the reason in e. */
  int (*check_identity)(void *ctx, store_err *e);
  /* Users, sessions, API tokens, the audit log: as the store_*() calls of
   * the same names.  The "get" ops fill *out (zeroed by the wrapper). */
  int (*user_add)(void *ctx, store_user *u, store_err *e);
  int (*user_get)(void *ctx, const char *name, store_user *out, store_err *e);
  int (*user_get_id)(void *ctx, int64_t id, store_user *out, store_err *e);
  int (*user_update)(void *ctx, const store_user *u, store_err *e);
  int (*user_list)(void *ctx, store_user_fn fn, void *arg, store_err *e);
  int (*session_put)(void *ctx, const store_session *ses, store_err *e);
  int (*session_get)(void *ctx, const char *id_hash, store_session *out,
                     store_err *e);
  int (*session_touch)(void *ctx, const char *id_hash, dto_time last_seen,
                       store_err *e);
  int (*session_delete)(void *ctx, const char *id_hash, store_err *e);
  int (*session_delete_user)(void *ctx, int64_t user_id, int64_t *n,
                             store_err *e);
  int (*token_add)(void *ctx, store_token *t, store_err *e);
  int (*token_get)(void *ctx, int64_t id, store_token *out, store_err *e);
  int (*token_get_hash)(void *ctx, const char *hash, store_token *out,
                        store_err *e);
  int (*token_update)(void *ctx, const store_token *t, store_err *e);
  int (*token_list)(void *ctx, int64_t user_id, store_token_fn fn, void *arg,
                    store_err *e);
  /* chain is the wrapper's (it checks the hashes the caller's function
   * wrote): the back-end calls it with the lock held and inserts a only
   * when it returns 0. */
  int (*audit_append)(void *ctx, store_audit *a, store_audit_chain_fn chain,
                      void *arg, store_err *e);
  int (*audit_read)(void *ctx, int64_t after_seq, int64_t limit,
                    store_audit_fn fn, void *arg, store_err *e);
  /* The alert history, as the store_alert_*() calls.  alert_put gets r
   * checked, with detail never "" (the wrapper makes it "{}"), and sets
   * r->seq on success only.  limit is > 0; alert_recent's name is NULL for
   * every name, else not empty. */
  int (*alert_put)(void *ctx, store_alert_rec *r, store_err *e);
  int (*alert_read)(void *ctx, int64_t after_seq, int64_t limit,
                    store_alert_fn fn, void *arg, store_err *e);
  int (*alert_recent)(void *ctx, int64_t limit, const char *name,
                      store_alert_fn fn, void *arg, store_err *e);
} store_ops;

typedef struct store store;

/* ---- opening and closing ----------------------------------------------- */

enum store_sync {
  STORE_SYNC_FULL = 0, /* default: an fsync per commit, durable */
  STORE_SYNC_NORMAL    /* WAL + NORMAL: a power loss may drop the last
                          commits, a crash of dto does not */
};

/* Zero means "the default" for every field. */
typedef struct store_options {
  bool require_current; /* refuse a schema that is not the latest known */
  bool create;          /* SQLite: create the file when it is missing */
  /* A journal is expected here (the caller knows one was written before):
   * refuse, with DTO_ENOENT, a store that holds no dto schema (SQLite: a
   * missing file, which is then not created whatever `create` says, or an
   * empty one; PostgreSQL: a database or schema without dto's tables),
   * instead of silently starting an empty journal. */
  bool must_exist;
  enum store_sync sqlite_synchronous;
  int busy_timeout_ms;      /* SQLite lock wait; default 5000 */
  int pg_pool_min;          /* connections opened at start; default 10 */
  int pg_pool_max;          /* connections at most; default 100 */
  int connect_timeout_s;    /* PostgreSQL connect and pool wait; default 10 */
  int statement_timeout_ms; /* PostgreSQL; default 30000, -1 for none */
  const char *sslmode;      /* PostgreSQL sslmode, overrides the URL's;
                               NULL keeps the URL's or libpq's default */
} store_options;

/* Open the store at url: "sqlite:PATH", "sqlite://PATH", a plain PATH
 * (SQLite), or "postgresql://..." / "postgres://..." (libpq's URI syntax;
 * the password may come from the URL or from PGPASSWORD).  opt may be NULL
 * for the defaults.  With opt->require_current the schema must be exactly
 * the latest version this dto knows (see store_check_version()).
 *
 * On success *out is a store the caller releases with store_close().  On
 * failure it returns DTO_EINVAL (malformed URL or option), DTO_ENOENT
 * (SQLite file missing and opt->create not set, or no schema with
 * opt->must_exist), DTO_EIO (cannot open or
 * connect), DTO_ESTATE (schema version refused) or DTO_EUNSUPPORTED
 * (unknown scheme), and writes a message into err (cap bytes) that names the
 * store with its password removed. */
int store_open(const char *url, const store_options *opt, store **out,
               char *err, size_t cap);

/* Wrap a back-end table and its context in a store (for fakes in tests and
 * for new back-ends).  Takes ownership of ctx: store_close() calls
 * ops->close(ctx).  Never NULL. */
store *store_new(const store_ops *ops, void *ctx);

/* Close the store and free everything it holds; an open transaction is
 * rolled back.  NULL does nothing. */
void store_close(store *s);

/* The back-end's name: "sqlite", "postgres" or "faulty". */
const char *store_backend(const store *s);

/* A health check the journal makes after each commit: is this still the
 * store that was opened?  SQLite: the path must still name the file opened
 * (same device and inode, still linked); a file deleted, or renamed away
 * and replaced by another, while dto writes to it would lose everything
 * written from then on.  PostgreSQL: the database (its oid) is the one seen
 * at open and the journal table, once it exists, keeps its oid (dropped and
 * made again, or the schema replaced, fails); one catalog query.
 * Returns 0; DTO_ESTATE when the store is gone or replaced, with
 * store_errmsg() saying "the store file was deleted or replaced" (SQLite)
 * or "the store's database or journal table was dropped or replaced"
 * (PostgreSQL); DTO_EIO when it cannot tell (the folder cannot be read, the
 * server does not answer); DTO_EUNSUPPORTED from a back-end table without
 * the op.  An in-memory SQLite store always passes. */
int store_check_identity(store *s);

/* Copy the message of the calling thread's last failed call on s into buf
 * (cap bytes, truncated, always NUL-terminated when cap > 0) and return buf.
 * "" when that thread has not failed yet. */
const char *store_errmsg(store *s, char *buf, size_t cap);

/* Copy url into out (cap bytes) with any password replaced by "***"
 * ("user:PASSWORD@", "password=PASSWORD", "sslpassword=PASSWORD"; it errs
 * on the side of hiding too much).  Returns 0, or DTO_ETOOBIG when out is
 * too small or the URL holds more than 16 passwords (out then holds "" so
 * it can still be printed safely). */
int store_url_redact(const char *url, char *out, size_t cap);

/* True when url names a PostgreSQL store and carries a password. */
bool store_url_has_password(const char *url);

/* ---- schema and migrations --------------------------------------------- */

/* The latest schema version this dto knows for s's back-end. */
int store_latest_version(store *s);
/* The migrations this dto knows for s, ending with version 0. */
const store_migration *store_migrations(store *s);

/* The database's schema version: 0 for an empty database. */
int store_schema_version(store *s, int *version);

/* 0 when the schema is at the latest known version.  Otherwise DTO_ESTATE
 * and err says "database schema is at version 1, this dto needs 4: run 'dto
 * migrate up'" or "database schema version 7 is newer than this dto knows
 * (4)"; other failures as store_schema_version(). */
int store_check_version(store *s, char *err, size_t cap);

/* Called after each applied migration. */
typedef void (*store_migrate_fn)(void *arg, const store_migration *m);

/* Migrate the schema up to version target (-1: the latest), one
 * transaction per migration; fn (may be NULL) hears of each one applied.
 * DTO_ERANGE when target is beyond the latest known version,
 * DTO_EUNSUPPORTED when target is below the current version (no
 * downgrades), DTO_ESTATE inside a transaction or when the database is newer
 * than this dto.  A failed migration leaves the schema at the version
 * before it. */
int store_migrate_to(store *s, int target, store_migrate_fn fn, void *arg);

/* ---- transactions ------------------------------------------------------ */

/* Begin a transaction for the calling thread; DTO_ESTATE when one is open.
 * Writes inside it become visible and durable together at store_commit().
 * After any failure inside the transaction, call store_rollback(). */
int store_begin(store *s);
/* Commit; DTO_ESTATE when no transaction is open or an earlier op in it
 * failed.  When commit fails for another reason the transaction is gone
 * (nothing of it was written). */
int store_commit(store *s);
/* Roll back; nothing written in the transaction is kept.  DTO_ESTATE when
 * no transaction is open. */
int store_rollback(store *s);

/* ---- journal ------------------------------------------------------------ */

/* Append n events (1..STORE_APPEND_MAX) atomically: all or none.  Sets each
 * ev[i].seq and *last_seq (may be NULL) to the last one.  Seqs increase in
 * commit order and are never reused; they may have gaps (PostgreSQL skips
 * the seqs of rolled-back appends).  Outside a transaction the batch is
 * committed (durably, with synchronous=FULL) before this returns.
 * DTO_EINVAL / DTO_ETOOBIG name the bad event and field; DTO_EIO, DTO_ENOSPC
 * when the database cannot write. */
int store_append(store *s, store_event *ev, size_t n, int64_t *last_seq);

/* Call fn for each event with seq > after_seq, in seq order, at most limit
 * events (limit <= 0: all).  Returns 0, fn's non-zero return, or an error.
 * Large reads are fetched in batches. */
int store_read_events(store *s, int64_t after_seq, int64_t limit,
                      store_event_fn fn, void *arg);

/* The highest seq in the journal, 0 when it is empty. */
int store_max_seq(store *s, int64_t *seq);

/* The last event of the journal (the highest seq, which need not have the
 * latest time): *seq and *time (time may be NULL), both 0 when the journal
 * is empty.  On failure they are left as they were.  Recovery uses it to
 * see where the journal ends without reading it.  DTO_EINVAL when seq is
 * NULL; DTO_EUNSUPPORTED from a back-end table without the op. */
int store_last_event(store *s, int64_t *seq, dto_time *time);

/* ---- orders, fills, positions, P&L, risk ------------------------------- */

/* Insert the order, or update every column except cloid and created when
 * one with the same cloid exists. */
int store_upsert_order(store *s, const store_order *o);
/* Read the order with this cloid into *out; DTO_ENOENT when none. */
int store_get_order(store *s, const char *cloid, store_order *out);

/* Call fn for every order, ordered by created and then by cloid (bytewise,
 * on every back-end).  With open_only, orders whose state is terminal are
 * left out: exactly "filled", "canceled", "rejected", "expired" and
 * "replaced" (case matters; any other state counts as open).  Returns 0,
 * fn's non-zero return (which stops the listing), or an error: DTO_EINVAL
 * when fn is NULL, DTO_EUNSUPPORTED from a back-end table without the op.
 * The rows are one consistent read on SQLite and PostgreSQL alike (one
 * statement, streamed: memory does not grow with the number of orders). */
int store_list_orders(store *s, bool open_only, store_order_fn fn, void *arg);

/* Insert the fill; a fill whose fill_id is already stored is left as it
 * was.  *inserted (may be NULL) says which happened. */
int store_insert_fill(store *s, const store_fill *f, bool *inserted);

/* Insert or replace the position of (account, strategy, symbol). */
int store_upsert_position(store *s, const store_position *p);
/* DTO_ENOENT when none. */
int store_get_position(store *s, const char *account, const char *strategy,
                       const char *symbol, store_position *out);

/* Call fn for every position, ordered by account, strategy and symbol
 * (bytewise; "" sorts first, so an account-level position comes before the
 * strategies' ones).  Returns as store_list_orders(). */
int store_list_positions(store *s, store_position_fn fn, void *arg);

/* Insert or replace the row of (account, strategy, day). */
int store_upsert_daily_pnl(store *s, const store_daily_pnl *d);
int store_get_daily_pnl(store *s, const char *account, const char *strategy,
                        int32_t day, store_daily_pnl *out);

int store_insert_risk_decision(store *s, const store_risk_decision *r);

/* ---- snapshots ------------------------------------------------------------
 */

/* Store a snapshot of engine state taken after event seq (replaces one
 * stored for the same seq).  len at most STORE_SNAPSHOT_MAX. */
int store_snapshot_put(store *s, int64_t seq, dto_time time, const void *blob,
                       size_t len);
/* The snapshot with the highest seq.  *blob is allocated with xmalloc (the
 * caller frees it; never NULL on success, even for len 0).  DTO_ENOENT when
 * there is none. */
int store_snapshot_latest(store *s, int64_t *seq, dto_time *time, void **blob,
                          size_t *len);
/* Delete all but the keep (>= 1) latest snapshots; *deleted may be NULL. */
int store_snapshot_prune(store *s, int keep, int64_t *deleted);

/* ---- idempotency keys -----------------------------------------------------
 */

/* Keep r (r->created is "now") as the first response for r->key.
 * DTO_EEXIST when a record for the key younger than STORE_IDEM_TTL exists
 * (it is kept); an expired record is replaced. */
int store_idem_put(store *s, const store_idem *r);
/* The live record for key at time now (created > now - STORE_IDEM_TTL);
 * DTO_ENOENT when none.  Release *out with store_idem_release(). */
int store_idem_get(store *s, const char *key, dto_time now, store_idem *out);
/* Free what store_idem_get() allocated in r; r->body becomes NULL. */
void store_idem_release(store_idem *r);
/* Delete records created at or before now - STORE_IDEM_TTL; *purged (may be
 * NULL) gets how many. */
int store_idem_purge(store *s, dto_time now, int64_t *purged);

/* ---- users, sessions, API tokens, the audit log (the HTTP API) ----------
 *
 * The rows are described above store_ops.  Every call checks its inputs
 * first (DTO_EINVAL, or DTO_ETOOBIG for text too long for its field, before
 * the back-end sees them): ids > 0 where one is named, hashes of exactly
 * STORE_SHA_HEX lower-case hex digits, a callback where one is taken.  A
 * get/update/touch/delete that finds no row is DTO_ENOENT; a unique value
 * already taken is DTO_EEXIST.  Outside a transaction each call commits on
 * its own; inside store_begin() they join it (store_audit_append excepted).
 */

/* Add u (u->id is set on success).  DTO_EEXIST when the name is taken. */
int store_user_add(store *s, store_user *u);
/* The user named name, or with this id, into *out; DTO_ENOENT when none. */
int store_user_get(store *s, const char *name, store_user *out);
int store_user_get_id(store *s, int64_t id, store_user *out);
/* Write every field of the user with id u->id (the name too: DTO_EEXIST
 * when another user has it); DTO_ENOENT when no such user. */
int store_user_update(store *s, const store_user *u);
/* Call fn for every user, ordered by name (bytewise on every back-end). */
int store_user_list(store *s, store_user_fn fn, void *arg);

/* Keep a new session: DTO_EEXIST for an id_hash already there, DTO_ENOENT
 * when no user has ses->user_id. */
int store_session_put(store *s, const store_session *ses);
/* The session with this id hash into *out; DTO_ENOENT when none (an
 * expired session is returned as any other: expiry is the caller's). */
int store_session_get(store *s, const char *id_hash, store_session *out);
/* Set the session's last_seen; DTO_ENOENT when none. */
int store_session_touch(store *s, const char *id_hash, dto_time last_seen);
/* End one session; DTO_ENOENT when none. */
int store_session_delete(store *s, const char *id_hash);
/* End every session of a user; *n (may be NULL) gets how many (0 is not
 * an error). */
int store_session_delete_user(store *s, int64_t user_id, int64_t *n);

/* Add t (t->id is set on success).  DTO_EEXIST for a hash already there,
 * DTO_ENOENT when no user has t->user_id. */
int store_token_add(store *s, store_token *t);
/* The token with this id, or this hash, into *out; DTO_ENOENT when none
 * (revoked and expired tokens included: validity is the caller's). */
int store_token_get(store *s, int64_t id, store_token *out);
int store_token_get_hash(store *s, const char *hash, store_token *out);
/* Write revoked, expires, last_used, name and scope of token t->id (its
 * hash, user and created stay); DTO_ENOENT when no such token. */
int store_token_update(store *s, const store_token *t);
/* Call fn for a user's tokens (user_id 0: everyone's), ordered by id. */
int store_token_list(store *s, int64_t user_id, store_token_fn fn, void *arg);

/* Append a to the audit log in one transaction of its own: the last record
 * is read, a->seq set to its seq + 1 (1 when empty), chain(arg, last, a)
 * fills the hashes, a is checked again and inserted, and the transaction
 * commits.  Appenders are serialised, also across processes (SQLite: BEGIN
 * IMMEDIATE; PostgreSQL: an exclusive lock on the table), so the chain
 * never forks and seqs have no gaps.  Returns 0; chain's non-zero return;
 * DTO_ESTATE inside a store_begin() transaction of the calling thread; or
 * a store error.  On any failure nothing is written (a->seq and the hashes
 * may have been set). */
int store_audit_append(store *s, store_audit *a, store_audit_chain_fn chain,
                       void *arg);
/* Call fn for the records with seq > after_seq, in seq order, at most limit
 * of them (limit <= 0: all).  Returns as store_read_events(). */
int store_audit_read(store *s, int64_t after_seq, int64_t limit,
                     store_audit_fn fn, void *arg);

/* ---- the alert history ----------------------------------------------------
 *
 * Records are only added.  seq is max(seq) + 1, drawn while the writer
 * holds the table's write lock (SQLite: the database's, which a writing
 * statement takes before it reads; PostgreSQL: LOCK TABLE ... IN EXCLUSIVE
 * MODE, which readers pass), so two handles or processes appending at once
 * never get the same seq, committed seqs are 1, 2, ... without gaps, and
 * they increase in commit order (a reader of "seq > N" misses nothing).
 * Not the database's autoincrement/identity: an identity column skips the
 * seqs of rolled-back inserts and can commit a smaller seq after a larger
 * one.  Inside store_begin() the put joins the caller's transaction and,
 * on PostgreSQL, the lock is held until it ends: keep such transactions
 * short. */

/* Append r; r->seq is set on success (nothing else of r changes; a detail
 * of "" is stored as "{}").  DTO_EINVAL for an empty event, a detail that
 * is neither "" nor starts with '{', or text that is not UTF-8;
 * DTO_ETOOBIG for text too long for its field (no NUL within its array).
 * Nothing is written on failure.  Outside a transaction commits on its
 * own. */
int store_alert_put(store *s, store_alert_rec *r);
/* Call fn for the records with seq > after_seq (a negative after_seq counts
 * as 0), in seq order, at most limit (> 0, else DTO_EINVAL) of them.
 * Returns 0, fn's non-zero return (which stops the read), or an error. */
int store_alert_read(store *s, int64_t after_seq, int64_t limit,
                     store_alert_fn fn, void *arg);
/* Call fn for the newest limit (> 0) records, newest (highest seq) first,
 * only those whose name is name (bytewise) unless name is NULL or "".
 * Returns as store_alert_read(); DTO_ETOOBIG for a name longer than
 * STORE_ALERT_NAME_MAX. */
int store_alert_recent(store *s, int64_t limit, const char *name,
                       store_alert_fn fn, void *arg);

/* Rows in table t (an error when the schema does not have it yet). */
int store_count(store *s, enum store_table t, int64_t *n);

/* ---- fault injection (tests) ------------------------------------------- */

/* Wrap inner (ownership passes to the wrapper: store_close() closes both).
 * Every op call is counted, starting at 1; call number fail_at (0: none)
 * fails with err (a DTO_E* code such as DTO_EIO or DTO_ENOSPC) without
 * reaching inner.  A failing commit or rollback still ends inner's
 * transaction (rolled back), as a real failed commit does.  Never NULL. */
store *store_faulty_new(store *inner, int fail_at, int err);
/* Re-arm: reset the count to 0 and fail call fail_at (0: none) with err. */
void store_faulty_arm(store *s, int fail_at, int err);
/* Sticky: once a call has failed, every later call fails too (a full disk)
 * until the next store_faulty_arm(). */
void store_faulty_sticky(store *s, bool on);
/* Calls counted since creation or the last arm. */
int store_faulty_calls(store *s);

#endif
