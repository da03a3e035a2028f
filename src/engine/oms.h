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
/* How many terminal orders to keep for lookups; only before the first
 * order is created. */
void oms_set_keep(oms *m, size_t keep);

/* The order with id, or NULL when there is none or it was forgotten (a
 * terminal order older than the last `keep`). */
order *oms_get(oms *m, order_id id);
const order *oms_cget(const oms *m, order_id id);
/* Number of orders created so far (ids 0 .. count-1). */
size_t oms_count(const oms *m);
/* Ids of the orders not yet terminal, ascending; the array is the OMS's own
 * and changes with the next create or transition. */
const order_id *oms_open_ids(const oms *m, size_t *n);
/* Validated transition; DTO_ESTATE for an illegal one (recorded too). */
int oms_transition(oms *m, order *o, enum order_state to, dto_time t);
/* Count of illegal transitions refused so far. */
uint64_t oms_illegal_count(const oms *m);

/* Write the deterministic client order id for (account, strategy, day, seq)
 * into buf: "ACCOUNT-STRATEGY-YYYYMMDD-SEQ". */
void oms_cloid(char *buf, size_t cap, const char *account,
               const char *strategy, int64_t day, uint32_t seq);

#endif
