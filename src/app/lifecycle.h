/* lifecycle.h - the service's life cycle: one state machine, and systemd.
 *
 * `dto run` is in exactly one of these states; every change goes through
 * lifecycle_transition(), which checks it against one table (like the
 * order state machine), refuses and records an illegal one, logs every
 * change ("lifecycle" events) and tells an observer (the journal), and
 * speaks to systemd when dto runs under it (Type=notify: NOTIFY_SOCKET):
 *
 *   starting -> recovering -> reconciling -> ready <-> halted
 *                                              \ <-> maintenance
 *   any state but stopped -> draining -> stopped
 *
 * READY=1 is sent when the service first leaves reconciling, for ready or
 * halted (the books were reconciled, or trading is off on purpose: a kill
 * switch, or books that do not agree — a running service either way), STOPPING=1 when it starts to drain,
 * STATUS= with every change, and WATCHDOG=1 from lifecycle_watchdog(),
 * which the loop calls as it turns (only as long as it turns: a stalled
 * loop stops the pings, and systemd restarts the service).
 *
 * The messages go through libsystemd's sd_notify(3), the watchdog interval
 * from sd_watchdog_enabled(3).
 */
#ifndef DTO_APP_LIFECYCLE_H
#define DTO_APP_LIFECYCLE_H

#include "core/clock.h"
#include "core/log.h"

#define LIFECYCLE_MAP(X)                                                       \
  X(STARTING, "starting")                                                      \
  X(RECOVERING, "recovering")                                                  \
  X(RECONCILING, "reconciling")                                                \
  X(READY, "ready")                                                            \
  X(HALTED, "halted")                                                          \
  X(MAINTENANCE, "maintenance")                                                \
  X(DRAINING, "draining")                                                      \
  X(STOPPED, "stopped")

enum lc_state {
#define DTO__LC_ENUM(name, str) LC_##name,
  LIFECYCLE_MAP(DTO__LC_ENUM)
#undef DTO__LC_ENUM
      LC_COUNT
};

const char *lc_state_name(enum lc_state s);
/* Is from -> to in the table? */
bool lc_transition_legal(enum lc_state from, enum lc_state to);

/* Told of every change, legal or refused (legal false: nothing changed). */
typedef void (*lc_observer)(void *ctx, enum lc_state from, enum lc_state to,
                            const char *why, bool legal);

typedef struct lifecycle {
  enum lc_state state;
  dto_log *log; /* not owned; may be NULL */
  lc_observer obs;
  void *obs_ctx;
  uint64_t illegal;
  bool ready_sent;
  bool notify;             /* under systemd: NOTIFY_SOCKET is set */
  int64_t watchdog_ns;     /* WATCHDOG_USEC / 2, 0: no watchdog */
  int64_t watchdog_last;   /* clock_mono_ns() of the last ping */
} lifecycle;

/* Start in STARTING; read NOTIFY_SOCKET and WATCHDOG_USEC (and
 * WATCHDOG_PID, which must be ours when set) from the environment. */
void lifecycle_init(lifecycle *lc, dto_log *log);
void lifecycle_release(lifecycle *lc);
void lifecycle_observe(lifecycle *lc, lc_observer fn, void *ctx);
/* Move to `to` for the reason why (logged).  DTO_ESTATE for a change the
 * table does not allow (refused, logged, counted, observed); moving to the
 * state it is in does nothing and returns 0. */
int lifecycle_transition(lifecycle *lc, enum lc_state to, const char *why);
/* Send WATCHDOG=1 when half the watchdog interval has passed since the last
 * ping; call it as the loop turns.  Nothing without a watchdog. */
void lifecycle_watchdog(lifecycle *lc);
/* How long the loop may wait before it must call lifecycle_watchdog
 * (INT64_MAX without a watchdog). */
int64_t lifecycle_watchdog_due(const lifecycle *lc);

#endif
