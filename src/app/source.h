/* source.h - market-data sources of the service, behind one interface.
 *
 * A source runs on its own thread and pushes market events into the
 * engine's inbound queue (inq); the engine thread never reads a file or a
 * socket for market data.  Each source says which clock it drives:
 *
 * - simulated: the engine's clock follows the events (file replay, the
 *   generator).  Replay paces itself by the events' times divided by a
 *   speed (0: as fast as the engine takes them), pushes with conflation off
 *   (every bar matters for a replay) and waits on a full queue.
 * - real: a live feed (the live broker's adapter adds one); the engine's
 *   clock is the real one and bars and quotes may be conflated when the
 *   engine lags.
 *
 * Events carry src = the source's index (the runner may have several), and
 * a replay ends with an INQ_TIMER event of id SOURCE_END_OF_FEED, so the
 * engine knows the feed is over only after it took every bar before it.
 *
 * Not for: loading or merging files (feed.c does that once, at start-up),
 * or broker reports (brokers push those themselves).
 */
#ifndef DTO_APP_SOURCE_H
#define DTO_APP_SOURCE_H

#include <pthread.h>
#include <stdatomic.h>

#include "app/inq.h"
#include "market/reader.h"

enum source_clock { SOURCE_CLOCK_SIMULATED, SOURCE_CLOCK_REAL };

/* The timer id of a replay's last event. */
#define SOURCE_END_OF_FEED 0xFFFFFFF0u

typedef struct source source;

typedef struct source_ops {
  const char *name;        /* "replay", "generate", ... (logs, status) */
  enum source_clock clock; /* which clock it drives */
  /* The thread's body: push events into q until done or *stop.  Returns 0
   * at the end of the data, or a negative code. */
  int (*run)(source *s);
  void (*free)(source *s);
} source_ops;

struct source {
  const source_ops *ops;
  inq *q;          /* not owned */
  uint32_t index;  /* the events' src */
  atomic_bool stop;
  pthread_mutex_t mu; /* with cv: an interruptible sleep */
  pthread_cond_t cv;
  pthread_t th;
  bool started;
  int result;      /* run's return, once joined */
  atomic_uint_fast64_t pushed; /* events queued */
  void *impl;      /* the source's own state */
};

/* A replay of bars[first..n) (not owned: they must outlive the source),
 * paced at speed (0: no pacing).  name is "replay" or "generate". */
source *source_replay_new(const char *name, const bar *bars, size_t n,
                          size_t first, double speed, inq *q, uint32_t index);

/* Start the source's thread.  0, or DTO_ENOMEM. */
int source_start(source *s);
/* Ask it to stop (any thread); it returns from its wait at once. */
void source_stop(source *s);
/* Stop, join and free (NULL does nothing). */
void source_free(source *s);

/* For implementations: set up the frame of a source s (allocated by the
 * implementation) with its ops, queue, events' src and own state. */
void source_init(source *s, const source_ops *ops, inq *q, uint32_t index,
                 void *impl);
/* For implementations: sleep up to ns unless asked to stop; false when
 * asked to stop. */
bool source_sleep(source *s, int64_t ns);
/* Push ev, waiting while the queue is full, until pushed or asked to
 * stop; false when asked to stop. */
bool source_push(source *s, const inq_event *ev);

#endif
