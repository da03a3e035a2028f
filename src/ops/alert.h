/* alert.h - alert rules and alert handling.
 *
 * Rules are evaluated against a metric set (ops/prom.h), the same one GET
 * /metrics renders, so a rule and a Prometheus query see the same figures.
 * A rule is a threshold on one metric:
 *
 *   dto_system_cpu_percent > 80
 *   dto_disk_percent{kind="data"} >= 90
 *   dto_broker_connected == 0
 *
 * (METRIC, optional {label="v", label!="v"} matchers, one of > >= < <= ==
 * !=, a number), which is also valid PromQL: deploy/prometheus/ uses the
 * same expressions.  Each matching series is an alert of its own (labels:
 * the series' labels, the rule's labels, alertname, severity).  An alert is
 * pending while its condition holds for less than the rule's `for`, firing
 * after that, and resolved when the condition no longer holds (or the
 * series is gone).  Events (the engine's risk alerts: halts, the fill-loop
 * guard, a failed feed) fire at once through alert_raise and resolve
 * through alert_clear, by acknowledgement, or after their `resolve_after`.
 *
 * Handling, as Alertmanager does it:
 *   - grouping: alerts with equal values of the group_by labels (default:
 *     alertname) are one group, and one notification tells the group's
 *     state; a group is notified again only when it changes (an alert
 *     joins, fires, resolves) or after repeat_interval;
 *   - routing: by severity, to the route's channels; an unacknowledged
 *     firing critical group goes on to the route's escalation channels,
 *     one step every escalate_after;
 *   - acknowledgement stops escalation and repeats (the alert stays firing
 *     until its condition clears); resolution is notified (send_resolved);
 *   - silences (label matchers and a time range) and maintenance windows
 *     (a schedule and a duration) keep notifications back; alerts still
 *     fire and are kept in the history.
 *
 * Time is the caller's (injected): nothing here reads a clock or sleeps.
 * Notifications and history records go out through the sink's callbacks,
 * called while the manager's lock is held (they must only queue).
 *
 * Thread-safety: every function takes the manager's lock; any thread.
 */
#ifndef DTO_OPS_ALERT_H
#define DTO_OPS_ALERT_H

#include "core/buf.h"
#include "core/prelude.h"
#include "ops/notify.h"
#include "ops/prom.h"
#include "ops/sched.h"

#define ALERT_NAME_MAX 64
#define ALERT_EXPR_MAX 256
#define ALERT_MATCH_MAX 4   /* matchers in an expression or a silence */
#define ALERT_LABELS_MAX 8  /* a rule's own labels */
#define ALERT_ROUTE_MAX 8   /* channels in a route or an escalation */
#define ALERT_GROUP_BY_MAX 4
#define ALERT_WINDOWS_MAX 8 /* maintenance windows */
#define ALERT_LIVE_MAX 1024 /* alerts held at once (pending, firing) */

enum alert_sev { SEV_INFO, SEV_WARNING, SEV_CRITICAL, SEV_COUNT };
const char *alert_sev_name(enum alert_sev s);
int alert_sev_parse(const char *s, enum alert_sev *out); /* DTO_EINVAL */

enum alert_op { AOP_GT, AOP_GE, AOP_LT, AOP_LE, AOP_EQ, AOP_NE };

typedef struct alert_match {
  char key[ALERT_NAME_MAX];
  char val[128];
  bool neg; /* != */
} alert_match;

typedef struct alert_rule {
  char name[ALERT_NAME_MAX]; /* alertname: [A-Za-z][A-Za-z0-9_]* */
  char expr[ALERT_EXPR_MAX]; /* as written */
  char metric[128];
  alert_match m[ALERT_MATCH_MAX];
  int nm;
  enum alert_op op;
  double threshold;
  dto_time for_; /* how long the condition holds before firing */
  enum alert_sev sev;
  char lkeys[ALERT_LABELS_MAX][ALERT_NAME_MAX];
  char lvals[ALERT_LABELS_MAX][128];
  int nl;
  char summary[256]; /* for people; "{{value}}" is replaced by the value
                        and "{{LABEL}}" by a label's value */
} alert_rule;

/* Parse expr into r's metric, matchers, op and threshold (r->expr too).
 * 0, or DTO_EPARSE with "expr 'TEXT': reason" in err. */
int alert_rule_expr(alert_rule *r, const char *expr, char *err, size_t cap);
/* The built-in rules (the production checklist's thresholds); *n their
 * number.  docs/monitoring.md lists them. */
const alert_rule *alert_default_rules(size_t *n);

typedef struct alert_route {
  char ch[ALERT_ROUTE_MAX][NOTIFY_NAME_MAX]; /* channel names */
  int nch;
  char esc[ALERT_ROUTE_MAX][NOTIFY_NAME_MAX]; /* escalation, in order */
  int nesc;
} alert_route;

typedef struct alert_window {
  sched_expr start; /* when a window opens */
  dto_time length;
} alert_window;

typedef struct alert_conf {
  alert_rule *rules; /* not owned */
  size_t nrules;
  char group_by[ALERT_GROUP_BY_MAX][ALERT_NAME_MAX];
  int ngroup_by;           /* 0: alertname */
  dto_time group_wait;     /* a new group waits this long for others to
                              join before its first notification: 0 */
  dto_time repeat_interval; /* a firing group unchanged: again after 4h */
  dto_time escalate_after;  /* an unacknowledged critical group: 10m */
  dto_time resolve_after;   /* an event alert nobody clears: 1h */
  bool send_resolved;       /* notify resolution: true */
  alert_route routes[SEV_COUNT];
  alert_window windows[ALERT_WINDOWS_MAX];
  int nwindows;
  const calendar *cal; /* for exchange-time windows; may be NULL */
  char instance[NOTIFY_NAME_MAX];
} alert_conf;

/* Defaults of everything but rules, routes and instance. */
void alert_conf_defaults(alert_conf *c);

enum alert_state { AS_INACTIVE, AS_PENDING, AS_FIRING, AS_RESOLVED };
const char *alert_state_name(enum alert_state s);

/* A record for the history (the store's alert_history table). */
typedef struct alert_record {
  dto_time at;
  const char *event;   /* "pending", "firing", "resolved", "acked",
                          "notified", "escalated", "silenced" */
  const notify_alert *alert;
  const char *channel; /* "notified", "escalated": the channel; else "" */
  const char *who;     /* "acked": who; else "" */
  uint64_t id;         /* the alert's id */
} alert_record;

typedef struct alert_sink {
  void (*notify)(void *ctx, const char *channel, const notify_msg *m);
  void (*record)(void *ctx, const alert_record *r);
  void *ctx;
} alert_sink;

typedef struct alert_mgr alert_mgr;

/* A manager for conf (copied, rules too) and sink (copied).  NULL only on
 * out-of-memory. */
alert_mgr *alert_mgr_new(const alert_conf *conf, const alert_sink *sink);
void alert_mgr_free(alert_mgr *a);

/* Evaluate every rule against m at time now (UTC ns), then handle groups
 * (notifications, repeats, escalation, event expiry). */
void alert_eval(alert_mgr *a, dto_time now, const mset *m);
/* An event alert: fires at once (name, severity, labels as key, value,
 * ..., NULL; at most 8 pairs).  Raising one already firing only refreshes
 * it. */
void alert_raise(alert_mgr *a, dto_time now, const char *name,
                 enum alert_sev sev, const char *summary, ...);
/* Resolve the event alerts named name: those whose label key has the value
 * val, or every label set when key is NULL. */
void alert_clear(alert_mgr *a, dto_time now, const char *name,
                 const char *key, const char *val);

/* Acknowledge the alert with id (alert_list's "id"), or every alert of its
 * group: 0, or DTO_ENOENT when no firing alert has that id. */
int alert_ack(alert_mgr *a, dto_time now, uint64_t id, const char *who);

/* A silence: alerts whose labels match every matcher are not notified
 * between starts and ends.  Returns its id (> 0), or DTO_EINVAL (no
 * matcher, or ends <= starts) or DTO_EFULL. */
int64_t alert_silence(alert_mgr *a, const alert_match *m, int nm,
                      dto_time starts, dto_time ends, const char *who,
                      const char *comment);
/* End a silence now: 0 or DTO_ENOENT. */
int alert_unsilence(alert_mgr *a, dto_time now, int64_t id);

/* Is a maintenance window open at now? */
bool alert_in_window(const alert_mgr *a, dto_time now);

/* The alerts held (pending and firing, and those resolved in the last
 * hour), as a JSON array into b:
 *   [{"id","name","state","severity","summary","labels":{},"value",
 *     "started","resolved","acked_by","silenced","group"}] */
void alert_list_json(alert_mgr *a, dto_time now, dbuf *b);
/* The silences as a JSON array. */
void alert_silences_json(alert_mgr *a, dto_time now, dbuf *b);

/* Counters for metrics: alerts firing by severity, notifications made. */
typedef struct alert_counts {
  int firing[SEV_COUNT];
  int pending;
  uint64_t notifications, escalations, silenced;
} alert_counts;
void alert_counts_get(alert_mgr *a, alert_counts *out);

#endif
