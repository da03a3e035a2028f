/* journal.h - the journal writer: a thread that commits what the engine
 * puts, with group commit.
 *
 * The engine runs on one thread and must not wait for the disk except at an
 * explicit barrier.  It hands each durable change to the journal with a
 * journal_put_*() call, which copies the item into a bounded in-memory queue
 * and returns a ticket (1, 2, 3, ... in put order).  One writer thread takes
 * what is queued (at most max_batch items), writes it in ONE store
 * transaction (events first, in one append, then the other rows in put
 * order), commits, and advances the durable ticket.  journal_barrier() waits
 * until a ticket is durable: write-ahead is "put the order's event, barrier
 * on its ticket, then send the order".
 *
 * Storage faults (full disk, I/O error) never lose or duplicate an item: the
 * writer rolls the transaction back, keeps the batch, marks the journal
 * unhealthy (journal_error() != 0, journal_errmsg()), tells the state hook,
 * and retries the same items in the same order with a doubling back-off.
 * When a retry commits, the error clears and the hook hears "healthy".
 * Nothing is acknowledged (no barrier returns 0 for it) before it commits.
 *
 * Threading: journal_put_*(), journal_barrier(), journal_durable(),
 * journal_last_seq(), journal_error(), journal_errmsg() and
 * journal_stats() may be called from any thread (normally the engine's)
 * while the writer runs; tickets follow the order in which puts take the
 * journal's lock.  journal_on_state() may be called at any time.
 * journal_close() must not race with any other call on the same journal.
 * The store belongs to the writer thread from journal_new() on: nobody else
 * may use it (open a second store to read).
 *
 * After every commit the writer checks that the store is still the one it
 * opened (store_check_identity: a SQLite file deleted or replaced, a
 * PostgreSQL table dropped).  If not, that commit is not acknowledged and
 * the journal stays unhealthy for good (DTO_ESTATE): everything written
 * after the deletion would be lost, so the engine stops sending orders.
 *
 * This module does not interpret what it writes and does not decide what a
 * fault means for trading: the engine halts on the state hook or on a barrier
 * error, and resumes on "healthy".
 */
#ifndef DTO_JOURNAL_H
#define DTO_JOURNAL_H

#include "core/prelude.h"

#include "store/store.h"

typedef struct journal journal;

/* Zero means "the default" for every field. */
typedef struct journal_options {
  int max_batch;          /* items per transaction; default 4096, at most
                             STORE_APPEND_MAX */
  int queue_max;          /* items put and not yet durable; default 65536 */
  size_t queue_bytes_max; /* their copied bytes; default 64 MiB, at least
                             1 MiB (room for any one item) */
  int commit_interval_ms; /* the writer starts committing queued items at
                             most this long after the first of them was
                             put, even without a barrier; default 2 */
  int put_wait_ms;        /* how long a put waits for room in a full queue while
                             the journal is healthy: 0 (default) as long as it
                             takes, N > 0 at most N ms, then DTO_EAGAIN */
  int backoff_min_ms;     /* first retry after a failed batch; default 10 */
  int backoff_max_ms;     /* the back-off doubles up to this; default 1000 */
  int close_timeout_ms;   /* how long journal_close() tries to flush;
                             default 5000 */
  bool stepped;           /* steps commit whole: see journal_put_snapshot */
} journal_options;

/* Why a put was refused. */
typedef struct journal_err {
  int code;                /* DTO_E* */
  char msg[STORE_ERR_MAX]; /* names the field and the reason */
} journal_err;

/* Called on the writer thread when the journal turns unhealthy (err is the
 * store's DTO_E* code, msg its message) and when it turns healthy again
 * (err 0, msg ""), once per transition, just after the new state is
 * published (journal_error() already reports it and a barrier may already
 * have returned the error).  msg is valid during the call only.
 * The hook runs without the journal's lock: it may call journal_durable(),
 * journal_error() and the like, but must not put, barrier or close (the
 * writer is busy running the hook), and should return quickly. */
typedef void (*journal_state_fn)(void *ctx, int err, const char *msg);

/* Start a journal over s, which it owns from now on (journal_close()
 * closes it).  s must be migrated (events, orders, fills, positions,
 * daily_pnl, risk_decisions).  opt may be NULL for the defaults; values out
 * of range are brought into range (max_batch to 1..STORE_APPEND_MAX,
 * queue_max to at least max_batch, negative times to the defaults).
 * Starts one writer thread; no store call happens before the first batch.
 * Never NULL: a thread that cannot be started is fatal, like out of
 * memory. */
journal *journal_new(store *s, const journal_options *opt);

/* Register the state hook (fn NULL removes it).  ctx is not owned. */
void journal_on_state(journal *j, journal_state_fn fn, void *ctx);

/* ---- puts: copy the item, return its ticket ----------------------------
 *
 * Each put checks the item as the store will (required fields, lengths
 * against store.h's caps, no NUL byte, valid UTF-8, a YYYYMMDD day) so a bad
 * item cannot stall the writer later; it copies everything (no pointer into
 * the caller's memory is kept) and returns the item's ticket (>= 1).
 *
 * It returns 0 and fills *err (may be NULL) when the item is refused:
 * DTO_EINVAL / DTO_ETOOBIG for a bad field (msg names it: "event.type: must
 * not be empty"), DTO_EAGAIN when the queue is full (queue_max items or
 * queue_bytes_max bytes not yet durable) and either the journal is unhealthy
 * (a put never waits on a failing store: the engine has stopped trading and
 * must treat the item as not journaled) or put_wait_ms passed.  While the
 * journal is healthy a put waits for room (back-pressure), see put_wait_ms.
 */

/* An event: ev's time, type, account, strategy and payload (ev->seq is
 * ignored; the store assigns seqs when the batch commits, see
 * journal_last_seq()). */
uint64_t journal_put_event(journal *j, const store_event *ev, journal_err *err);
/* An order row, upserted by cloid. */
uint64_t journal_put_order(journal *j, const store_order *o, journal_err *err);
/* A fill row (a fill_id stored before is left as it was). */
uint64_t journal_put_fill(journal *j, const store_fill *f, journal_err *err);
/* A position row, upserted by (account, strategy, symbol). */
uint64_t journal_put_position(journal *j, const store_position *p,
                              journal_err *err);
/* A daily P&L row, upserted by (account, strategy, day). */
uint64_t journal_put_daily_pnl(journal *j, const store_daily_pnl *d,
                               journal_err *err);
/* A risk decision row (always added). */
uint64_t journal_put_risk(journal *j, const store_risk_decision *r,
                          journal_err *err);

/* A checkpoint of the engine (blob: 1..STORE_SNAPSHOT_MAX bytes, copied)
 * numbered seq (> 0, increasing), stored in the snapshots table (the
 * newest few are kept).
 *
 * In stepped mode (journal_options.stepped) a snapshot ends a step: the
 * items put since the previous snapshot and the snapshot itself commit in
 * one transaction or not at all (a step larger than max_batch is written
 * as one transaction), so the store never holds half a step and the last
 * snapshot always describes exactly what the tables hold.  A barrier on a
 * ticket after the last snapshot returns DTO_EINVAL (that step cannot
 * commit before it ends), and journal_close() writes whole steps only: the
 * items after the last snapshot are dropped (never acknowledged). */
uint64_t journal_put_snapshot(journal *j, int64_t seq, dto_time time,
                              const void *blob, size_t len, journal_err *err);

/* ---- durability --------------------------------------------------------- */

/* Wait until every item up to ticket is durable and return 0 (at once when
 * it already is; ticket 0 is always durable).  Returns the store's error
 * code (DTO_EIO, DTO_ENOSPC, ...) as soon as the journal is unhealthy and
 * ticket is not yet durable: nothing is acknowledged, the writer keeps
 * retrying, and a later barrier may succeed.  DTO_EAGAIN when timeout_ms
 * (< 0: no limit) passes first; DTO_EINVAL for a ticket not yet issued.
 * A barrier makes the writer commit at once instead of waiting for the
 * commit interval. */
int journal_barrier(journal *j, uint64_t ticket, int timeout_ms);

/* The highest durable ticket: every item up to it is committed. */
uint64_t journal_durable(journal *j);

/* The store seq of the last event this journal committed, or the store's
 * highest seq read when the writer started (0 before the writer has read
 * it).  Seqs are assigned at commit only. */
int64_t journal_last_seq(journal *j);

/* 0 while healthy; the store's DTO_E* code while the last batch failed and
 * is being retried. */
int journal_error(journal *j);

/* Copy the message of the current failure into buf (cap bytes, truncated,
 * NUL-terminated when cap > 0) and return buf; "" while healthy. */
const char *journal_errmsg(journal *j, char *buf, size_t cap);

/* Upper bounds of the commit latency buckets, in ns (the same as the
 * metrics' latency buckets: 0.5 ms to 10 s). */
#define JOURNAL_LAT_N 14
extern const int64_t JOURNAL_LAT_BOUNDS[JOURNAL_LAT_N];

typedef struct journal_stats {
  uint64_t put;     /* last ticket issued */
  uint64_t durable; /* journal_durable() */
  uint64_t queued;  /* items put and not yet durable */
  size_t queued_bytes;
  uint64_t commits;   /* transactions committed */
  uint64_t failures;  /* batches that failed (each retry counts) */
  uint64_t refused;   /* puts refused because the queue was full */
  uint64_t max_batch; /* the largest committed batch, in items */
  /* how long each batch took to write and commit (the store's query
   * latency as trading sees it): counts by upper bound
   * JOURNAL_LAT_BOUNDS (the last: above every bound), their sum, and the
   * longest batch of the current and the previous minute */
  uint64_t lat_counts[JOURNAL_LAT_N + 1];
  int64_t lat_sum_ns;
  int64_t lat_max_ns_recent;
  dto_time last_commit; /* real time of the last commit; 0: none yet */
} journal_stats;

void journal_stats_get(journal *j, journal_stats *out);

/* Flush: keep committing (and retrying) for at most close_timeout_ms, then
 * stop the writer thread, close the store and free j.  Returns 0 when every
 * item put was durable, else the store's error code, or DTO_EAGAIN when the
 * time ran out on a healthy but slow store; the items not yet durable are
 * lost (they were never acknowledged).  The wait is bounded except for a
 * store call already running, which close lets finish.  NULL returns 0. */
int journal_close(journal *j);

#endif
