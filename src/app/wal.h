/* wal.h - write-ahead in front of a broker: no order reaches the broker
 * before the journal has it.
 *
 * A broker_ops table wrapping the real broker.  submit and replace are held
 * (the order's events are already queued in the journal by the engine's
 * hooks); after each engine step the runner calls wal_release(), which waits
 * for the journal's barrier and then forwards the held commands in order.
 * When the journal cannot write, held submits and replaces are not sent:
 * the wrapper answers them itself (rejected, reason storage_fault), so the
 * engine's books stay true and nothing unrecorded reaches the broker.
 * Cancels are never held: canceling only reduces risk.
 */
#ifndef DTO_APP_WAL_H
#define DTO_APP_WAL_H

#include "broker/broker.h"

/* Wait until everything queued so far is durable: 0, or an error code. */
typedef int (*wal_barrier_fn)(void *ctx);

typedef struct wal wal;

/* inner and its ctx are not owned. */
wal *wal_new(const broker_ops *inner, void *inner_ctx, wal_barrier_fn barrier,
             void *barrier_ctx);
void wal_free(wal *w);
/* The broker table to give the engine, with wal_ctx(w) as its ctx. */
extern const broker_ops wal_broker_ops;
static inline void *wal_ctx(wal *w) { return w; }

/* Commands waiting for the journal. */
size_t wal_held(const wal *w);
/* Barrier, then forward the held commands: returns the number forwarded,
 * or a negative error when the journal failed (the held submits and
 * replaces are then answered as rejected). */
int wal_release(wal *w);

#endif
