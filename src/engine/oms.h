/* oms.h - the order management system: the table of orders.
 *
 * The OMS owns every order of a run, indexed by order_id (dense, from 0).
 * It hands out client order ids, and performs every state transition through
 * oms_transition(), which validates it against the state machine in order.h
 * and records it through the observer.  It does not talk to brokers or risk:
 * the engine does, and calls the OMS to record what happened.
 */
#ifndef DTO_ENGINE_OMS_H
#define DTO_ENGINE_OMS_H

#include "core/snap.h"
#include "engine/order.h"

/* Told of every transition (from == to for a new order's creation) and of
 * illegal attempts (legal == false; the order is unchanged). */
typedef void (*oms_observer)(void *ctx, const order *o, enum order_state from,
                             enum order_state to, bool legal);

typedef struct oms oms;

#define OMS_KEEP_DEFAULT 1024

oms *oms_new(oms_observer obs, void *ctx);
void oms_free(oms *m);

/* Create an order from tmpl (state NEW, new id, given cloid).  Returns a
 * pointer valid until the next oms_create (the table may move).  tmpl is
 * copied byte for byte, padding included: build it from zeroed memory, and
 * two identical runs give tables that compare equal with memcmp. */
order *oms_create(oms *m, const order *tmpl, const char *cloid, dto_time t);
/* oms_create without a template, for the engine's per-order path: the
 * order is built where it will live.  oms_begin returns it blank
 * (order_init); the caller sets its fields and writes its client order id into
 * o->cloid (NUL-terminated, the rest of the array left zero), then
 * oms_commit(m, o, t) creates it exactly as oms_create would from such a
 * template: id, state NEW, times, the observer told.  No other call on m
 * between the two; the pointers are valid until the next create. */
order *oms_begin(oms *m);
order *oms_commit(oms *m, order *o, dto_time t);
/* How many terminal orders to keep for lookups; only before the first
 * order is created. */
void oms_set_keep(oms *m, size_t keep);

/* The order with id, or NULL when there is none or it was forgotten (a
 * terminal order older than the last `keep`). */
order *oms_get(oms *m, order_id id);
const order *oms_cget(const oms *m, order_id id);
/* Number of orders created so far (ids 0 .. count-1). */
size_t oms_count(const oms *m);
/* Transitions into state st since the table was made (orders created count
 * as entering OS_NEW; a restore does not count): for metrics. */
uint64_t oms_entered(const oms *m, enum order_state st);
/* Ids of the orders not yet terminal, ascending; the array is the OMS's own
 * and changes with the next create or transition. */
const order_id *oms_open_ids(const oms *m, size_t *n);
/* Validated transition; DTO_ESTATE for an illegal one (recorded too). */
int oms_transition(oms *m, order *o, enum order_state to, dto_time t);
/* Count of illegal transitions refused so far. */
uint64_t oms_illegal_count(const oms *m);

/* ---- changes beside the state --------------------------------------------
 * Every other change to an order after its creation goes through
 * oms_amend() or oms_fill() too, so the observer (and through it the
 * journal) sees each one: the observer is told from == to == the order's
 * state (as for a creation, legal == true) after the change.  A refused
 * change leaves the order untouched and tells the observer nothing. */

/* Which fields of an order_amend apply (bits of what). */
enum {
  OA_QTY = 1u << 0,         /* qty: not below filled (0 only when unfilled) */
  OA_PEER = 1u << 1,        /* peer: the other exit of a bracket pair */
  OA_LIMIT = 1u << 2,       /* limit_price (>= 0) */
  OA_STOP = 1u << 3,        /* stop_price (>= 0) */
  OA_TRAIL = 1u << 4,       /* trailing state: trail (>= 0), water, triggered */
  OA_REPLACED_BY = 1u << 5, /* replaced_by */
  OA_EXITS = 1u << 6,       /* tp_price and sl_price (>= 0) of an entry */
  OA_ALL = (1u << 7) - 1
};

typedef struct order_amend {
  uint32_t what; /* OA_* bits: the fields below that apply */
  fx qty;
  order_id peer;
  fx limit_price, stop_price;
  fx trail, water;
  bool triggered;
  order_id replaced_by;
  fx tp_price, sl_price;
} order_amend;

/* Change the fields of o that a->what names, at time t (o->updated), and
 * tell the observer.  A terminal order takes only links (OA_PEER,
 * OA_REPLACED_BY, OA_EXITS): its quantity, prices and trailing state are
 * history (DTO_ESTATE).  DTO_EINVAL for no bits or unknown ones, or a value
 * out of range. */
int oms_amend(oms *m, order *o, const order_amend *a, dto_time t);

/* Record a fill on o at t: qty (> 0, at most the leaves) worth value (> 0)
 * with fee (>= 0).  filled, notional and fees grow; o moves to filled when
 * nothing is left, else to partially_filled, except that an order with a
 * cancel pending stays pending_cancel and a canceled, expired or replaced
 * order keeps its state (a fill the broker reports after the cancel, the
 * expiry or the replacement).  The observer is told once: the transition,
 * or from == to when the state stays.  DTO_EINVAL for a quantity, value or
 * fee out of range, DTO_ESTATE for an order that cannot have fills (new,
 * rejected, filled), DTO_EOVERFLOW when a sum would overflow; o is
 * unchanged then. */
int oms_fill(oms *m, order *o, fx qty, fx value, fx fee, dto_time t);

/* Write the deterministic client order id for (account, strategy, day, seq)
 * into buf: "ACCOUNT-STRATEGY-YYYYMMDD-SEQ" (cut to cap - 1 bytes). */
void oms_cloid(char *buf, size_t cap, const char *account,
               const char *strategy, int64_t day, uint32_t seq);
/* oms_cloid in two steps, for callers that make many ids of one day: the
 * prefix "ACCOUNT-STRATEGY-YYYYMMDD-" into buf (cap > 0; not terminated),
 * returning its length; then, with those bytes at the start of a buffer of
 * the same cap, the sequence and the NUL.  Together they write exactly what
 * oms_cloid writes. */
size_t oms_cloid_prefix(char *buf, size_t cap, const char *account,
                        const char *strategy, int64_t day);
void oms_cloid_seq(char *buf, size_t cap, size_t n, uint32_t seq);

/* Replace the observer (a restored table gets its engine's). */
void oms_set_observer(oms *m, oms_observer obs, void *ctx);

/* Checkpoints: the id counter and every open order, field by field.
 * Restoring needs an OMS that has created nothing yet; it keeps every id
 * (so brokers and peers that name orders by id still find them) and makes
 * no observer calls.  Terminal orders are not kept: a report about one
 * after a restart is an unknown order.  DTO_EINVAL (m unchanged) for a
 * damaged snapshot, DTO_ESTATE when m is not empty. */
void oms_snapshot(const oms *m, dbuf *b);
int oms_restore_snapshot(oms *m, snap_reader *r);

#endif
