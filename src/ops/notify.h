/* notify.h - alert notifications: the channels and their delivery.
 *
 * The alert manager (ops/alert.h) decides what to say and to whom; this
 * module says it.  Each channel has a worker thread of its own with a
 * bounded queue, so a receiver that fails or hangs delays only its own
 * channel: notify_post() never blocks (a full queue is a dead letter at
 * once) and nothing here runs on the engine's thread.
 *
 * Channel kinds and what they send (docs/monitoring.md has the shapes):
 *
 *   email        SMTP through libcurl, STARTTLS required unless the
 *                channel says `starttls: false` (loopback only); a
 *                text/plain message with Subject, From, To, Date,
 *                Message-ID
 *   slack        POST {"text": ...} (Slack incoming-webhook shape; also
 *                Mattermost and Rocket.Chat)
 *   teams        POST a MessageCard ({"@type":"MessageCard", "@context",
 *                "summary", "themeColor", "title", "text"})
 *   pagerduty    POST Events API v2 ({"routing_key", "event_action":
 *                trigger|acknowledge|resolve, "dedup_key", "payload":
 *                {"summary","source","severity","timestamp","component",
 *                "group","class","custom_details"}}); 202 is success
 *   sms          Twilio-compatible: POST {url}/2010-04-01/Accounts/{sid}/
 *                Messages.json, form-encoded To, From, Body, HTTP basic
 *                auth sid:token; one request per recipient
 *   alertmanager POST {url}/api/v2/alerts, a JSON array of
 *                {"labels","annotations","startsAt","endsAt",
 *                "generatorURL"}
 *   webhook      POST the notification as JSON (notify_json's shape) with
 *                X-Dto-Timestamp: UNIX seconds (also in the body) and
 *                X-Dto-Signature: sha256=HEX, the HMAC-SHA256 of the raw
 *                body under the channel's secret; receivers refuse
 *                timestamps older than a few minutes (replay)
 *
 * Secrets (SMTP password, webhook URLs of Slack and Teams, PagerDuty's
 * routing key, Twilio's token, the HMAC secret) come only from the
 * environment, named by the channel's *_env fields, and are never written
 * to a log, a dead letter or an error message.
 *
 * Delivery: a request that fails (connection error, timeout, a status
 * other than 2xx) is tried again after backoff, 2*backoff, ... up to
 * max_backoff, `retries` times; then the notification is a dead letter.
 * Every outcome is reported to the result callback (from the channel's
 * thread): delivered, or dead with the last error.
 */
#ifndef DTO_OPS_NOTIFY_H
#define DTO_OPS_NOTIFY_H

#include "core/prelude.h"

#define NOTIFY_NAME_MAX 64
#define NOTIFY_MAX_TO 8        /* e-mail and SMS recipients per channel */
#define NOTIFY_MAX_LABELS 16   /* labels per alert */
#define NOTIFY_MAX_ALERTS 32   /* alerts per notification */
#define NOTIFY_QUEUE_MAX 256   /* waiting notifications per channel */
#define NOTIFY_TEXT_MAX 512    /* summary, label values, errors */

enum notify_kind {
  NOTIFY_EMAIL,
  NOTIFY_SLACK,
  NOTIFY_TEAMS,
  NOTIFY_PAGERDUTY,
  NOTIFY_SMS,
  NOTIFY_ALERTMANAGER,
  NOTIFY_WEBHOOK,
  NOTIFY_KIND_COUNT
};
/* "email", "slack", ...; "?" out of range. */
const char *notify_kind_name(enum notify_kind k);
/* DTO_EINVAL for an unknown name. */
int notify_kind_parse(const char *s, enum notify_kind *out);

/* One channel as configured (config.c fills it; strings owned by the
 * configuration, never secrets themselves: *_env name variables). */
typedef struct notify_channel {
  char name[NOTIFY_NAME_MAX]; /* unique: "ops-mail" */
  enum notify_kind kind;
  const char *url;      /* email: smtp://host:port or smtps://;
                           sms: the API base (https://api.twilio.com);
                           pagerduty: the events URL (default
                           https://events.pagerduty.com/v2/enqueue);
                           alertmanager: its base URL; slack, teams,
                           webhook: the URL unless url_env names it */
  const char *url_env;  /* a variable holding the URL (Slack's and Teams'
                           URLs are secrets) */
  const char *secret_env; /* webhook: the HMAC key; pagerduty: the routing
                             key; sms: the auth token; email: the SMTP
                             password */
  const char *username; /* email: SMTP user; sms: the account SID */
  const char *from;     /* email, sms */
  const char *to[NOTIFY_MAX_TO]; /* email addresses, phone numbers */
  int nto;
  bool starttls;        /* email: require STARTTLS (default true) */
  const char *ca_file;  /* PEM bundle to verify the server with; NULL: the
                           system's */
  dto_time timeout;     /* per request; default 5 s */
  int retries;          /* further attempts; default 3 */
  dto_time backoff, max_backoff; /* default 1 s, 30 s */
} notify_channel;

/* Set the defaults of every field but name and kind. */
void notify_channel_defaults(notify_channel *c);
/* Check a configured channel: the URL's scheme for its kind, the
 * variables it names are set and not empty, recipients where needed.
 * 0, or DTO_EINVAL with "alerts.channels.NAME.FIELD: reason" in err (no
 * secret in it). */
int notify_channel_check(const notify_channel *c, char *err, size_t cap);

typedef struct notify_label {
  char key[NOTIFY_NAME_MAX];
  char val[NOTIFY_TEXT_MAX / 4];
} notify_label;

/* One alert in a notification. */
typedef struct notify_alert {
  char name[NOTIFY_NAME_MAX];  /* alertname: "HighCpu" */
  char severity[16];           /* "critical", "warning", "info" */
  char summary[NOTIFY_TEXT_MAX];
  char fingerprint[24];        /* stable id of the alert (hex) */
  notify_label labels[NOTIFY_MAX_LABELS];
  int nlabels;
  double value;                /* the value that crossed; NAN: none */
  dto_time started;            /* UTC ns */
  dto_time ended;              /* resolved at; 0 while firing */
  bool acked;
} notify_alert;

enum notify_status { NOTIFY_FIRING, NOTIFY_RESOLVED, NOTIFY_TEST };
const char *notify_status_name(enum notify_status s);

/* A notification: one group of alerts at one moment. */
typedef struct notify_msg {
  uint64_t id;                 /* the sender's id (for results) */
  enum notify_status status;
  char group[NOTIFY_TEXT_MAX / 2]; /* group key: "alertname=HighCpu" */
  char severity[16];           /* the highest in the group */
  char instance[NOTIFY_NAME_MAX]; /* dto's instance name (hostname) */
  char link[NOTIFY_TEXT_MAX / 2]; /* generatorURL / dashboard, or "" */
  bool escalation;             /* sent because nobody acknowledged */
  dto_time at;                 /* UTC ns, the notification's time */
  notify_alert alerts[NOTIFY_MAX_ALERTS];
  int nalerts;
} notify_msg;

/* The notification as the generic webhook's JSON body (also the
 * dead-letter record's payload):
 *   {"version":1,"id":N,"status":"firing","group":"...","severity":"...",
 *    "instance":"...","escalation":false,"timestamp":UNIX_S,
 *    "alerts":[{"name","severity","summary","fingerprint","labels":{},
 *               "value","started":"RFC3339","ended":"RFC3339"|null,
 *               "acked"}]}
 * into b (appended). */
struct dbuf;
void notify_json(const notify_msg *m, int64_t unix_s, struct dbuf *b);

/* The outcome of one notification on one channel. */
typedef struct notify_result {
  uint64_t msg_id;
  const char *channel;  /* its name */
  bool delivered;       /* false: a dead letter */
  int attempts;
  int http_status;      /* last status, 0 without one (SMTP, no answer) */
  char error[NOTIFY_TEXT_MAX]; /* why the last attempt failed; "" */
  dto_time latency;     /* from notify_post to the receiver's answer */
  const notify_msg *msg;
} notify_result;

typedef void (*notify_result_fn)(void *ctx, const notify_result *r);

typedef struct notifier notifier;

/* Start one worker per channel (n channels, copied; the strings they
 * point to must outlive the notifier).  on_result (may be NULL) is called
 * from the workers.  NULL only on out-of-memory or when a thread cannot
 * start (err says which). */
notifier *notifier_new(const notify_channel *ch, int n,
                       notify_result_fn on_result, void *ctx, char *err,
                       size_t cap);
/* Queue m for the channel named name (m is copied); never blocks.  0;
 * DTO_ENOENT for an unknown channel; DTO_EFULL when its queue is full
 * (reported as a dead letter through on_result as well, on the caller's
 * thread, with error "queue full ..."). */
int notify_post(notifier *n, const char *name, const notify_msg *m);
/* Waiting and in-flight notifications of every channel (for tests and
 * metrics); a notification counts until its on_result call has
 * returned. */
int notifier_pending(notifier *n);
/* Stop: requests in flight are abandoned within 100 ms (reported as dead
 * letters with error "stopping"); queued ones too.  NULL does nothing. */
void notifier_free(notifier *n);

/* Send m on channel c now, on the caller's thread, with c's retries
 * (`dto alert test`).  0, or a negative code with the reason in err. */
int notify_send_now(const notify_channel *c, const notify_msg *m, char *err,
                    size_t cap);
/* The same, with the whole outcome in *r (attempts, status, latency from
 * the call; r->msg is m and r->channel c->name, both borrowed).  0 when
 * delivered, else DTO_EIO with the reason in r->error. */
int notify_send_now_result(const notify_channel *c, const notify_msg *m,
                           notify_result *r);

/* Fill m with a test notification (NOTIFY_TEST, group "dto-test", severity
 * "info", no alerts) from instance (NULL or "": "dto") at time at (UTC
 * ns). */
void notify_msg_test(notify_msg *m, const char *instance, dto_time at);

#endif
