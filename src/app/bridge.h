/* bridge.h - the engine's side of a broker whose I/O runs on its own thread.
 *
 * A live broker talks to the network on a thread of its own (the service
 * rule: the engine thread does no I/O).  The bridge joins the two:
 *
 *   engine thread                         the adapter's I/O thread
 *   submit/cancel/replace ──requests──>   bridge_next()  → REST, streams
 *   poll() <── bridge_deliver() <── inq <── bridge_report()  (reports)
 *
 * Requests wait in a bounded FIFO of the bridge: when it is full, submit
 * returns DTO_EAGAIN and the engine rejects the order (it was never sent).
 * Reports travel through the service's inbound queue (inq) as INQ_REPORT
 * events tagged with the bridge's src, so they take their place in the one
 * order of events the engine sees; the engine thread hands each one back
 * with bridge_deliver() and the engine collects them with poll() (the
 * broker is not sync_reports: the engine polls at every step).  A report
 * the queue will not take within report_timeout_ns is counted in
 * *overflows (the service halts trading: queue_overflow) and DTO_EAGAIN is
 * returned to the adapter, which keeps it and reconciles.
 *
 * It lives with the service (src/app) because the queue does: adapters in
 * src/broker stay free of the service and get a bridge from the runner.
 *
 * Not for: what the adapter does with a request (REST calls, retries), or
 * reconciliation queries (the adapter's own broker_ops entries).
 */
#ifndef DTO_APP_BRIDGE_H
#define DTO_APP_BRIDGE_H

#include <stdatomic.h>

#include "app/inq.h"
#include "broker/broker.h"

enum bridge_op { BRIDGE_SUBMIT, BRIDGE_CANCEL, BRIDGE_REPLACE };

/* One request from the engine, copied by value. */
typedef struct bridge_req {
  enum bridge_op op;
  order_id id; /* CANCEL, REPLACE: the order; SUBMIT: o.id */
  order o;     /* SUBMIT: the order; REPLACE: the new order */
} bridge_req;

typedef struct bridge_config {
  size_t capacity;           /* requests waiting for the I/O thread, >= 1 */
  inq *q;                    /* the engine's inbound queue (not owned) */
  uint32_t src;              /* the reports' tag in q */
  int64_t report_timeout_ns; /* how long bridge_report waits on a full q */
  atomic_uint_fast64_t *overflows; /* may be NULL */
} bridge_config;

typedef struct bridge bridge;

/* 0 and *out, or DTO_EINVAL for a bad configuration. */
int bridge_new(const bridge_config *c, bridge **out);
/* Free it; no thread may use it any more.  NULL does nothing. */
void bridge_free(bridge *b);

/* ---- the engine's side (engine thread) ----------------------------------- */

/* A broker_ops with submit, cancel, replace and poll going through b (ctx:
 * the bridge).  An adapter copies it and fills in its own name and
 * reconciliation queries. */
extern const broker_ops bridge_broker_ops;
/* A report the inbound queue brought (an INQ_REPORT with this bridge's
 * src): poll() returns it next, in order.  Reports wait without bound
 * here: the queue already bounded them. */
void bridge_deliver(bridge *b, const broker_report *r);

/* Is a submit of order id (or a replace by it) still waiting in the FIFO,
 * not yet taken by the I/O thread?  Any thread. */
bool bridge_queued(bridge *b, order_id id);

/* Take every submit and replace out of the FIFO (cancels stay, in order)
 * and answer them on the engine's side as never sent: a submit rejected,
 * a replace refused (cancel reject of the old order), with reason.  For
 * when orders must not leave (a failed reconciliation) while cancels
 * still should.  Engine thread; returns how many were taken. */
size_t bridge_drop_orders(bridge *b, int reason, dto_time ts);

/* ---- the I/O thread's side ----------------------------------------------- */

/* Call fn(ctx) on the engine thread after each request is queued, so an
 * I/O thread that waits on something else (a stream) takes it at once
 * instead of at its next turn.  Set it before the engine runs. */
void bridge_set_wake(bridge *b, void (*fn)(void *ctx), void *ctx);

/* The oldest request into *out: 0, or DTO_EAGAIN when none came within
 * timeout_ns, or DTO_ESTATE once the bridge is closed and empty. */
int bridge_next(bridge *b, bridge_req *out, int64_t timeout_ns);
/* Take the submit of order id out of the FIFO (the requests around it
 * keep their order), waiting up to timeout_ns for it to be queued: 0 and
 * *out, or DTO_EAGAIN when it did not come.  For requests that leave as
 * one (a bracket's exit pair: one order class at the broker); the engine
 * queues them back to back. */
int bridge_take_submit(bridge *b, order_id id, bridge_req *out,
                       int64_t timeout_ns);
/* Send a report to the engine (any thread): 0, or DTO_EAGAIN when the
 * queue stayed full for report_timeout_ns (counted in *overflows). */
int bridge_report(bridge *b, const broker_report *r);
/* A signal to the engine thread, in order with the reports: an INQ_TIMER
 * event with this bridge's src and timer id (at = 0).  Waits like
 * bridge_report: 0, or DTO_EAGAIN when the queue stayed full (not counted
 * as an overflow: the adapter sends it again). */
int bridge_signal(bridge *b, uint32_t id);
/* No more requests: bridge_next returns what is left, then DTO_ESTATE
 * (any thread). */
void bridge_close(bridge *b);

/* Requests and reports counted so far (any thread). */
typedef struct bridge_stats {
  uint64_t requests, refused; /* taken, and refused because full */
  uint64_t reports, lost;     /* pushed to the queue, and not taken */
  uint64_t delivered;         /* handed back by the engine thread */
} bridge_stats;
void bridge_get_stats(bridge *b, bridge_stats *out);

#endif
