/* monitor.h - metrics, health and alerts of a running service.
 *
 * The monitor gathers every figure of `dto run` into one metric set
 * (ops/prom.h): the process and the machine (/proc, statvfs), the HTTP
 * API, the store and the journal, the broker and the feed, and trading
 * itself from the service's read snapshots.  GET /metrics renders that set;
 * the alert rules (ops/alert.h) read the same set on the monitor's own
 * thread every monitoring.interval, and their notifications go out through
 * the channels (ops/notify.h) on the notifier's threads, so that nothing
 * here ever waits on the engine or makes it wait.  The engine's own alerts
 * (risk halts, the fill-loop guard, a failed feed) come in through
 * monitor_event, which only queues.
 *
 * Figures that need a window (the API's error ratio and p99 over five
 * minutes, orders rejected in the last five minutes, the largest equity
 * move within a minute) are computed by the monitor's thread from the
 * counters it samples each interval; GET /metrics shows the latest.
 *
 * Health: /healthz is the liveness of the engine loop (its heartbeat less
 * than 5 s old); /readyz needs the store reachable and migrated, the broker
 * connected, market data fresh, the reconciliation done and no
 * maintenance.  Both answer JSON with each component's state and nothing
 * sensitive.
 *
 * Alert history goes to the store (alert_history) from the monitor's
 * thread, through a store connection of its own.
 */
#ifndef DTO_APP_MONITOR_H
#define DTO_APP_MONITOR_H

#include "app/config.h"
#include "app/svc.h"
#include "core/buf.h"
#include "core/log.h"
#include "ops/alert.h"
#include "ops/prom.h"

struct journal;

/* What the monitor reads besides the snapshots; filled by the session.
 * Every callback may be NULL and is called from the monitor's thread or
 * an API thread: it must be thread-safe and quick. */
typedef struct monitor_src {
  svc *sv;
  struct journal *j;  /* the journal, or NULL */
  const char *store_url; /* for readiness and history; NULL: no store */
  /* broker and feed figures into m (families of their own) */
  void (*broker)(void *ctx, mset *m);
  /* is the broker connected (true without a live broker)? */
  bool (*broker_up)(void *ctx, char *why, size_t cap);
  /* is any instrument's market data stale while its market is open? */
  bool (*stale)(void *ctx);
  /* clock_mono_ns() of the engine loop's last turn */
  int64_t (*heartbeat)(void *ctx);
  void *ctx;
  const char *state_dir; /* default disk path */
  const char *feed;      /* "replay", "generate", "alpaca" */
} monitor_src;

typedef struct monitor monitor;

/* A monitor for cfg (monitoring, alerts) and src (copied).  Alerts are on
 * when cfg->alerts.present.  Starts nothing; NULL and err on failure (a
 * channel that does not check, the store). */
monitor *monitor_new(const dto_config *cfg, const monitor_src *src,
                     char *err, size_t cap);
/* Where the monitor logs (alert states, deliveries, dead letters): the
 * session's log file, at min.  Before monitor_start. */
void monitor_set_log(monitor *mo, FILE *f, enum log_level min);
/* Start the evaluation thread and the notifier.  0 or an error. */
int monitor_start(monitor *mo, char *err, size_t cap);
/* Stop the threads (a notification in flight is abandoned) and free.
 * NULL does nothing. */
void monitor_free(monitor *mo);

/* Everything, as GET /metrics shows it, into m (any thread). */
void monitor_collect(monitor *mo, mset *m);
/* GET /healthz (ready false) or /readyz (ready true): the JSON body into b;
 * returns 200 or 503. */
int monitor_health(monitor *mo, bool ready, dbuf *b);

/* The HTTP API's figures: one request done (any thread). route is the
 * route's pattern ("" when none matched), code the status. */
void monitor_http(monitor *mo, const char *route, const char *method,
                  int code, int64_t ns);
/* The API's store connection taken (enter) and given back after ns
 * (leave), any thread: connections in use, and how long each use took. */
void monitor_store_enter(monitor *mo);
void monitor_store_leave(monitor *mo, int64_t ns);

/* An engine alert (engine thread; only queues): code (the alert's name),
 * severity, scope ("account", "strategy" or "global") and its id (may be
 * ""), message.  clear: the condition is over (resolves it). */
void monitor_event(monitor *mo, const char *code, enum alert_sev sev,
                   const char *scope, const char *id, const char *msg,
                   bool clear);

/* Evaluate the rules now rather than at the next interval (any thread;
 * only signals): the service's state changed. */
void monitor_wake(monitor *mo);

/* The alert manager (acknowledgement, silences, listings), or NULL when
 * alerts are off. */
alert_mgr *monitor_alerts(monitor *mo);
/* The current UTC time of the monitor's clock (real; a test may shift it
 * with DTO_API_CLOCK_FILE as the API's). */
dto_time monitor_now(monitor *mo);
/* `dto ctl alerts` and `dto ctl ack ID` (ctl_set_extra's function; ctx is
 * the monitor). */
bool monitor_ctl(void *ctx, const char *line, size_t n, const char *who,
                 dbuf *out);
/* Recent alert history from the store as a JSON array into b (newest
 * first, at most limit); 0 or an error (no store). */
int monitor_history_json(monitor *mo, int64_t limit, dbuf *b);

#endif
