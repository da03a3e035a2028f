/* inq.h - the service's inbound queue: many producer threads, one engine.
 *
 * Every event the engine thread handles in the service (market data, broker
 * reports, operator commands, timer ticks) arrives through one bounded queue
 * of fixed-size records.  Producers are any threads; there is exactly one
 * consumer (the engine thread).  The queue is lock-free on the fast path: a
 * bounded ring with a sequence number per slot (Vyukov), with a slow path for
 * a full queue (producers wait with backoff sleeps) and for an empty one (the
 * consumer sleeps on a condition variable, inq_wait).
 *
 * Delivery classes (docs/internals/inq.md has the reasoning):
 * - REPORT, COMMAND and TIMER are never dropped.  They may use the whole
 *   capacity; when it is full, inq_push waits up to its timeout and then
 *   returns DTO_EAGAIN.  The caller must then treat the event as not
 *   delivered: the service halts trading with a queue_overflow alert.
 * - TRADE is never dropped either (volume matters), but it may only fill the
 *   queue up to the high-water mark; above it, it waits like a report.  So a
 *   flood of market data never takes the room reports and commands need.
 * - BAR and QUOTE are conflated per instrument and kind when the queue is at
 *   or above the high-water mark: the newest value replaces the one still
 *   queued, at that one's place in the queue, and the replaced event is
 *   counted in inq_stats.conflated.  They never wait.  With conflation off
 *   (inq_config.conflate false: file replay, where every bar matters) they
 *   behave like trades.
 *
 * Not for: events between engine-side modules (those are plain calls), or
 * the journal writer's queue (store/journal).  The queue does no I/O and
 * does not read the injected clock: its timeouts are real (monotonic) time.
 *
 * Layering note: the payload union names market and broker types, which
 * sit above core; the queue code itself only reads the kind and, for bars
 * and quotes, the instrument.
 */
#ifndef DTO_APP_INQ_H
#define DTO_APP_INQ_H

#include "broker/broker.h"
#include "core/prelude.h"
#include "market/event.h"

enum inq_kind {
  INQ_BAR,
  INQ_TRADE,
  INQ_QUOTE,
  INQ_REPORT,
  INQ_COMMAND,
  INQ_TIMER,
  INQ_KIND_COUNT
};

/* An operator command on its way to the engine.  req belongs to the
 * producer until the engine has answered command id (the answer goes back
 * through the command path, not through this queue); the queue never reads
 * or frees it. */
typedef struct inq_command {
  uint64_t id;
  void *req;
} inq_command;

/* A timer tick: timer id fired for exchange time at. */
typedef struct inq_timer {
  dto_time at;
  uint32_t id;
} inq_timer;

/* One event, copied by value into and out of the queue.  src is the
 * producer's tag (source or account index), passed through untouched, so
 * the engine knows which broker a report came from. */
typedef struct inq_event {
  enum inq_kind kind;
  uint32_t src;
  union {
    bar bar;
    trade trade;
    quote quote;
    broker_report report;
    inq_command command;
    inq_timer timer;
  } u;
} inq_event;

typedef struct inq_config {
  /* Events the queue holds (not counting the conflation slots), >= 2. */
  size_t capacity;
  /* Market data (BAR, QUOTE, TRADE) may fill the queue up to this many
   * events; 0 means 3/4 of capacity.  Must be at least 1 and at most
   * capacity. */
  size_t high_water;
  /* Instruments: bars and quotes must have sym < nsyms when conflate is on
   * (one conflation slot per instrument and kind). */
  uint32_t nsyms;
  bool conflate;
} inq_config;

/* Counters, read from any thread; each is exact on its own, but they are
 * not one atomic picture while producers run. */
typedef struct inq_stats {
  uint64_t delivered[INQ_KIND_COUNT]; /* events handed out by pop_batch */
  uint64_t conflated;    /* bars and quotes replaced by a newer one */
  uint64_t waits;        /* pushes that found the queue full and waited */
  uint64_t timeouts;     /* pushes that gave up with DTO_EAGAIN */
  uint64_t wakeups;      /* pushes that woke the consumer in inq_wait */
  bool consumer_waiting; /* the consumer is in inq_wait now */
  size_t depth;          /* events queued now (conflation slots count once) */
  size_t max_depth;      /* the most seen by the consumer */
} inq_stats;

typedef struct inq inq;

/* Create a queue.  Returns 0 and sets *out (free with inq_free), or
 * DTO_EINVAL for a bad configuration (capacity < 2, high_water out of
 * range, conflate with nsyms 0, sizes that overflow), or DTO_ENOMEM when
 * the system cannot make the queue's mutex or condition variable. */
int inq_new(const inq_config *cfg, inq **out);

/* Free q; inq_free(NULL) does nothing.  No thread may use q any more. */
void inq_free(inq *q);

/* Push a copy of *ev (any thread).  Returns 0 when the event is queued (or
 * conflated into a queued bar or quote), DTO_EINVAL for a kind out of range
 * or a bar/quote whose sym is not below nsyms with conflation on, and
 * DTO_EAGAIN when the queue stayed full for timeout_ns nanoseconds
 * (0: do not wait).  Bars and quotes with conflation on never wait. */
int inq_push(inq *q, const inq_event *ev, int64_t timeout_ns);

/* Move up to max events into out, oldest first (consumer thread only).
 * Returns how many; 0 when the queue is empty.  A conflated bar or quote
 * comes out with the newest value pushed for it. */
size_t inq_pop_batch(inq *q, inq_event *out, size_t max);

/* Block the consumer until an event can be popped or timeout_ns passed.
 * Returns 0 when an event is ready, DTO_EAGAIN on timeout (consumer thread
 * only). */
int inq_wait(inq *q, int64_t timeout_ns);
/* The same, spinning (busy, without a system call) up to spin_ns before it
 * sleeps: a thread woken from sleep answers several microseconds later,
 * one that spins within one.  The service's engine loop spins for
 * run.idle_spin after its last event. */
int inq_wait_spin(inq *q, int64_t spin_ns, int64_t timeout_ns);

/* A copy of the counters (any thread). */
void inq_get_stats(const inq *q, inq_stats *out);

const char *inq_kind_name(enum inq_kind k);

#endif
