/* faulty.c - a store wrapper that fails the N-th call, for tests.
 *
 * It counts every op call (not close, not the list of migrations) and makes
 * call number fail_at return the chosen error without reaching the inner
 * store, as SQLite's I/O-error tests walk N.  In sticky mode every call
 * after the first failure fails too, like a full disk, until re-armed.  A
 * failing commit or rollback still rolls the inner transaction back, as a
 * real failed commit leaves nothing behind.  Not for production use.
 */
#include "core/prelude.h"

#include <stdatomic.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/store.h"
#include "store/store_int.h"

typedef struct faulty {
  store *inner; /* owned */
  const store_ops *ops;
  void *ctx;
  atomic_int calls;
  atomic_int fail_at; /* 0: never */
  atomic_int err;
  atomic_bool sticky;
  atomic_bool failed; /* a call has failed since the last arm */
} faulty;

/* Count a call; non-zero (the error to return) when it must fail. */
static int hit(faulty *f, const char *op, store_err *e) {
  int n = atomic_fetch_add(&f->calls, 1) + 1;
  int at = atomic_load(&f->fail_at);
  bool fail = (at > 0 && n == at) ||
              (atomic_load(&f->sticky) && atomic_load(&f->failed));
  if (!fail)
    return 0;
  atomic_store(&f->failed, true);
  int err = atomic_load(&f->err);
  return store__fail(e, err, "faulty: %s (call %d): injected %s", op, n,
                     dto_errname(err));
}

#define FORWARD(op, ...)                                                       \
  do {                                                                         \
    faulty *f = ctx;                                                           \
    int rc_ = hit(f, #op, e);                                                  \
    if (rc_)                                                                   \
      return rc_;                                                              \
    if (!f->ops->op) /* an inner table written before the op existed */        \
      return store__fail(e, DTO_EUNSUPPORTED, "%s: %s is not supported",       \
                         f->ops->name, #op);                                   \
    return f->ops->op(f->ctx, __VA_ARGS__);                                    \
  } while (0)

static void fa_close(void *ctx) {
  faulty *f = ctx;
  store_close(f->inner);
  free(f);
}

static const store_migration *fa_migrations(void *ctx) {
  faulty *f = ctx;
  return f->ops->migrations(f->ctx);
}

static int fa_schema_version(void *ctx, int *version, store_err *e) {
  FORWARD(schema_version, version, e);
}

static int fa_migrate_step(void *ctx, const store_migration *m, store_err *e) {
  FORWARD(migrate_step, m, e);
}

static int fa_begin(void *ctx, store_err *e) { FORWARD(begin, e); }

/* commit and rollback end the inner transaction even when they fail. */
static int fa_end(faulty *f, bool commit, store_err *e) {
  int rc = hit(f, commit ? "commit" : "rollback", e);
  if (rc) {
    f->ops->rollback(f->ctx, NULL);
    return rc;
  }
  return commit ? f->ops->commit(f->ctx, e) : f->ops->rollback(f->ctx, e);
}

static int fa_commit(void *ctx, store_err *e) { return fa_end(ctx, true, e); }

static int fa_rollback(void *ctx, store_err *e) {
  return fa_end(ctx, false, e);
}

static int fa_append(void *ctx, store_event *ev, size_t n, int64_t *last_seq,
                     store_err *e) {
  FORWARD(append, ev, n, last_seq, e);
}

static int fa_read_events(void *ctx, int64_t after_seq, int64_t limit,
                          store_event_fn fn, void *arg, store_err *e) {
  FORWARD(read_events, after_seq, limit, fn, arg, e);
}

static int fa_max_seq(void *ctx, int64_t *seq, store_err *e) {
  FORWARD(max_seq, seq, e);
}

static int fa_last_event(void *ctx, int64_t *seq, dto_time *time,
                         store_err *e) {
  FORWARD(last_event, seq, time, e);
}

static int fa_upsert_order(void *ctx, const store_order *o, store_err *e) {
  FORWARD(upsert_order, o, e);
}

static int fa_get_order(void *ctx, const char *cloid, store_order *out,
                        store_err *e) {
  FORWARD(get_order, cloid, out, e);
}

static int fa_list_orders(void *ctx, bool open_only, store_order_fn fn,
                          void *arg, store_err *e) {
  FORWARD(list_orders, open_only, fn, arg, e);
}

static int fa_insert_fill(void *ctx, const store_fill *fl, bool *inserted,
                          store_err *e) {
  FORWARD(insert_fill, fl, inserted, e);
}

static int fa_upsert_position(void *ctx, const store_position *p,
                              store_err *e) {
  FORWARD(upsert_position, p, e);
}

static int fa_get_position(void *ctx, const char *account, const char *strategy,
                           const char *symbol, store_position *out,
                           store_err *e) {
  FORWARD(get_position, account, strategy, symbol, out, e);
}

static int fa_list_positions(void *ctx, store_position_fn fn, void *arg,
                             store_err *e) {
  FORWARD(list_positions, fn, arg, e);
}

static int fa_upsert_daily_pnl(void *ctx, const store_daily_pnl *d,
                               store_err *e) {
  FORWARD(upsert_daily_pnl, d, e);
}

static int fa_get_daily_pnl(void *ctx, const char *account,
                            const char *strategy, int32_t day,
                            store_daily_pnl *out, store_err *e) {
  FORWARD(get_daily_pnl, account, strategy, day, out, e);
}

static int fa_insert_risk_decision(void *ctx, const store_risk_decision *r,
                                   store_err *e) {
  FORWARD(insert_risk_decision, r, e);
}

static int fa_snapshot_put(void *ctx, int64_t seq, dto_time time,
                           const void *blob, size_t len, store_err *e) {
  FORWARD(snapshot_put, seq, time, blob, len, e);
}

static int fa_snapshot_latest(void *ctx, int64_t *seq, dto_time *time,
                              void **blob, size_t *len, store_err *e) {
  FORWARD(snapshot_latest, seq, time, blob, len, e);
}

static int fa_snapshot_prune(void *ctx, int keep, int64_t *deleted,
                             store_err *e) {
  FORWARD(snapshot_prune, keep, deleted, e);
}

static int fa_idem_put(void *ctx, const store_idem *r, store_err *e) {
  FORWARD(idem_put, r, e);
}

static int fa_idem_get(void *ctx, const char *key, dto_time now,
                       store_idem *out, store_err *e) {
  FORWARD(idem_get, key, now, out, e);
}

static int fa_idem_purge(void *ctx, dto_time now, int64_t *purged,
                         store_err *e) {
  FORWARD(idem_purge, now, purged, e);
}

static int fa_count(void *ctx, enum store_table t, int64_t *n, store_err *e) {
  FORWARD(count, t, n, e);
}

static int fa_user_add(void *ctx, store_user *u, store_err *e) {
  FORWARD(user_add, u, e);
}

static int fa_user_get(void *ctx, const char *name, store_user *out,
                       store_err *e) {
  FORWARD(user_get, name, out, e);
}

static int fa_user_get_id(void *ctx, int64_t id, store_user *out,
                          store_err *e) {
  FORWARD(user_get_id, id, out, e);
}

static int fa_user_update(void *ctx, const store_user *u, store_err *e) {
  FORWARD(user_update, u, e);
}

static int fa_user_list(void *ctx, store_user_fn fn, void *arg, store_err *e) {
  FORWARD(user_list, fn, arg, e);
}

static int fa_session_put(void *ctx, const store_session *ses, store_err *e) {
  FORWARD(session_put, ses, e);
}

static int fa_session_get(void *ctx, const char *id_hash, store_session *out,
                          store_err *e) {
  FORWARD(session_get, id_hash, out, e);
}

static int fa_session_touch(void *ctx, const char *id_hash, dto_time last_seen,
                            store_err *e) {
  FORWARD(session_touch, id_hash, last_seen, e);
}

static int fa_session_delete(void *ctx, const char *id_hash, store_err *e) {
  FORWARD(session_delete, id_hash, e);
}

static int fa_session_delete_user(void *ctx, int64_t user_id, int64_t *n,
                                  store_err *e) {
  FORWARD(session_delete_user, user_id, n, e);
}

static int fa_token_add(void *ctx, store_token *t, store_err *e) {
  FORWARD(token_add, t, e);
}

static int fa_token_get(void *ctx, int64_t id, store_token *out, store_err *e) {
  FORWARD(token_get, id, out, e);
}

static int fa_token_get_hash(void *ctx, const char *hash, store_token *out,
                             store_err *e) {
  FORWARD(token_get_hash, hash, out, e);
}

static int fa_token_update(void *ctx, const store_token *t, store_err *e) {
  FORWARD(token_update, t, e);
}

static int fa_token_list(void *ctx, int64_t user_id, store_token_fn fn,
                         void *arg, store_err *e) {
  FORWARD(token_list, user_id, fn, arg, e);
}

/* One call, however many statements the inner store runs for it: an
 * injected failure never reaches the inner store, so nothing is written. */
static int fa_audit_append(void *ctx, store_audit *a,
                           store_audit_chain_fn chain, void *arg,
                           store_err *e) {
  FORWARD(audit_append, a, chain, arg, e);
}

static int fa_audit_read(void *ctx, int64_t after_seq, int64_t limit,
                         store_audit_fn fn, void *arg, store_err *e) {
  FORWARD(audit_read, after_seq, limit, fn, arg, e);
}

static int fa_alert_put(void *ctx, store_alert_rec *r, store_err *e) {
  FORWARD(alert_put, r, e);
}

static int fa_alert_read(void *ctx, int64_t after_seq, int64_t limit,
                         store_alert_fn fn, void *arg, store_err *e) {
  FORWARD(alert_read, after_seq, limit, fn, arg, e);
}

static int fa_alert_recent(void *ctx, int64_t limit, const char *name,
                           store_alert_fn fn, void *arg, store_err *e) {
  FORWARD(alert_recent, limit, name, fn, arg, e);
}

/* A health probe, not a write: forwarded without counting or failing, so
 * fault walks over a journal's writes do not depend on how often it looks
 * (a store that is gone is tested on a real file, test_store.c). */
static int fa_check_identity(void *ctx, store_err *e) {
  faulty *f = ctx;
  if (!f->ops->check_identity)
    return store__fail(e, DTO_EUNSUPPORTED, "%s: check_identity is not "
                                            "supported", f->ops->name);
  return f->ops->check_identity(f->ctx, e);
}

static const store_ops faulty_ops = {
    .name = "faulty",
    .close = fa_close,
    .migrations = fa_migrations,
    .schema_version = fa_schema_version,
    .migrate_step = fa_migrate_step,
    .begin = fa_begin,
    .commit = fa_commit,
    .rollback = fa_rollback,
    .append = fa_append,
    .read_events = fa_read_events,
    .max_seq = fa_max_seq,
    .last_event = fa_last_event,
    .upsert_order = fa_upsert_order,
    .get_order = fa_get_order,
    .list_orders = fa_list_orders,
    .insert_fill = fa_insert_fill,
    .upsert_position = fa_upsert_position,
    .get_position = fa_get_position,
    .list_positions = fa_list_positions,
    .upsert_daily_pnl = fa_upsert_daily_pnl,
    .get_daily_pnl = fa_get_daily_pnl,
    .insert_risk_decision = fa_insert_risk_decision,
    .snapshot_put = fa_snapshot_put,
    .snapshot_latest = fa_snapshot_latest,
    .snapshot_prune = fa_snapshot_prune,
    .idem_put = fa_idem_put,
    .idem_get = fa_idem_get,
    .idem_purge = fa_idem_purge,
    .count = fa_count,
    .check_identity = fa_check_identity,
    .user_add = fa_user_add,
    .user_get = fa_user_get,
    .user_get_id = fa_user_get_id,
    .user_update = fa_user_update,
    .user_list = fa_user_list,
    .session_put = fa_session_put,
    .session_get = fa_session_get,
    .session_touch = fa_session_touch,
    .session_delete = fa_session_delete,
    .session_delete_user = fa_session_delete_user,
    .token_add = fa_token_add,
    .token_get = fa_token_get,
    .token_get_hash = fa_token_get_hash,
    .token_update = fa_token_update,
    .token_list = fa_token_list,
    .audit_append = fa_audit_append,
    .audit_read = fa_audit_read,
    .alert_put = fa_alert_put,
    .alert_read = fa_alert_read,
    .alert_recent = fa_alert_recent,
};

store *store_faulty_new(store *inner, int fail_at, int err) {
  DTO_ASSERT(inner != NULL);
  faulty *f = xcalloc(1, sizeof *f);
  f->inner = inner;
  f->ops = store__ops(inner);
  f->ctx = store__ctx(inner);
  atomic_init(&f->calls, 0);
  atomic_init(&f->fail_at, fail_at);
  atomic_init(&f->err, err);
  atomic_init(&f->sticky, false);
  atomic_init(&f->failed, false);
  return store_new(&faulty_ops, f);
}

/* The wrapper's context; a broken invariant when s is not a wrapper. */
static faulty *unwrap(store *s) {
  DTO_ASSERT(s != NULL && store__ops(s) == &faulty_ops);
  return store__ctx(s);
}

void store_faulty_arm(store *s, int fail_at, int err) {
  faulty *f = unwrap(s);
  atomic_store(&f->fail_at, fail_at);
  atomic_store(&f->err, err);
  atomic_store(&f->failed, false);
  atomic_store(&f->calls, 0);
}

void store_faulty_sticky(store *s, bool on) {
  atomic_store(&unwrap(s)->sticky, on);
}

int store_faulty_calls(store *s) { return atomic_load(&unwrap(s)->calls); }
