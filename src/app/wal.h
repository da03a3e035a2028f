/* wal.h - write-ahead in front of a broker: no order reaches the broker
 * before the journal has it, and commands reach it in the order the engine
 * gave them.
 *
 * A broker_ops table wrapping the real broker.  submit, cancel and replace
 * are held, in one sequence (their events are already queued in the
 * journal by the engine's hooks); after each engine step the runner calls
 * wal_release(), which waits for the journal's barrier (when a submit or
 * replace is among them: cancels alone only reduce risk and need not
 * wait) and then forwards the held commands in the order they were given.  A cancel is held too:
 * sent ahead of the order it cancels, the broker would refuse it and the
 * order would then be sent and work (an end-of-day flatten that cancels an
 * entry of the same step would leave the entry working).
 *
 * When the journal cannot write, held submits and replaces are not sent:
 * the wrapper answers them itself (rejected / cancel refused, reason
 * storage_fault), so the engine's books stay true and nothing unrecorded
 * reaches the broker.  Held cancels are still sent (canceling only reduces
 * risk), except a cancel of an order whose submit was refused in the same
 * release: that order is answered as rejected and never existed.
 *
 * Without a journal (barrier NULL) the wrapper still holds and releases per
 * step, so that a session with and without a journal sends the same
 * commands at the same moments.
 *
 * Every slot of broker_ops is forwarded (tests/unit/test_wal.c walks them
 * all; a new slot fails that test until the wrapper handles it).
 */
#ifndef DTO_APP_WAL_H
#define DTO_APP_WAL_H

#include "broker/broker.h"
#include "core/snap.h"

/* Wait until everything queued so far is durable: 0, or an error code. */
typedef int (*wal_barrier_fn)(void *ctx);

typedef struct wal wal;

/* inner and its ctx are not owned; barrier may be NULL (nothing to wait
 * for: commands are only ordered and released per step). */
wal *wal_new(const broker_ops *inner, void *inner_ctx, wal_barrier_fn barrier,
             void *barrier_ctx);
void wal_free(wal *w);
/* The broker table to give the engine, with wal_ctx(w) as its ctx.  Its
 * sync_reports follows the inner broker's: the runner polls the engine
 * after each release, so a simulating broker stays synchronous. */
const broker_ops *wal_ops(const wal *w);
static inline void *wal_ctx(wal *w) { return w; }

/* Commands waiting for the journal. */
size_t wal_held(const wal *w);
/* Barrier, then forward the held commands: returns the number forwarded,
 * or a negative error when the journal failed (the held submits and
 * replaces are then answered as refused). */
int wal_release(wal *w);

/* Checkpoints: the held commands, in order.  A restart restores them and
 * releases them again (the checkpoint was taken before they were sent).
 * DTO_EINVAL (nothing held) for a damaged snapshot. */
void wal_snapshot(const wal *w, dbuf *b);
int wal_restore_snapshot(wal *w, snap_reader *r);

#endif
