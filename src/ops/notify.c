/* notify.c - alert notifications: the shapes and their delivery (notify.h).
 *
 * Three layers: the shapes (the text for people and each kind's request),
 * one transfer over libcurl, and the workers with their queues and
 * retries.  Each sender (a worker, or notify_send_now's caller) owns an
 * easy handle and a multi handle; the transfer runs in a loop of our own
 * over the multi handle, so that it can be abandoned at once when the
 * notifier stops: the loop polls at most POLL_MS at a time,
 * notifier_free() wakes it (curl_multi_wakeup) and the progress callback
 * refuses to go on.  The multi handle keeps the connection cache, so a
 * channel's connection is kept alive from one notification to the next.
 *
 * Errors are built from what went wrong (a status, a timeout, an errno),
 * not from curl's error text or the URL, so that they carry no secret;
 * the few that quote curl (TLS and SMTP details) are scrubbed of every
 * secret the attempt used.
 *
 * Not here: what to send and when (ops/alert.c), the configuration's
 * syntax (app/config.c).
 */
#include "ops/notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "core/utf8.h"

#define RESP_CAP (64 * 1024) /* response bytes kept; the rest discarded */
#define BODY_MAX (8u << 20)  /* far above any notify_msg's JSON */
#define POLL_MS 50           /* longest wait without looking at stop */
#define CONNECT_MAX_MS 5000  /* connect timeout: min(timeout, this) */
#define SMS_BODY_MAX 1600    /* Twilio's limit */
#define PD_SUMMARY_MAX 1024  /* PagerDuty's limit */
#define PD_DEDUP_MAX 255
#define SUBJECT_MAX 900 /* bytes of a Subject before encoding */
#define RETRIES_MAX 100
#define PD_URL_DEFAULT "https://events.pagerduty.com/v2/enqueue"
#define SMS_URL_DEFAULT "https://api.twilio.com"

/* ---- names and defaults -------------------------------------------------- */

static const char *const kind_names[NOTIFY_KIND_COUNT] = {
    "email", "slack", "teams", "pagerduty", "sms", "alertmanager", "webhook"};

const char *notify_kind_name(enum notify_kind k) {
  return (unsigned)k < NOTIFY_KIND_COUNT ? kind_names[k] : "?";
}

int notify_kind_parse(const char *s, enum notify_kind *out) {
  for (int i = 0; s && i < NOTIFY_KIND_COUNT; i++)
    if (!strcmp(s, kind_names[i])) {
      *out = (enum notify_kind)i;
      return 0;
    }
  return DTO_EINVAL;
}

const char *notify_status_name(enum notify_status s) {
  switch (s) {
  case NOTIFY_FIRING:
    return "firing";
  case NOTIFY_RESOLVED:
    return "resolved";
  case NOTIFY_TEST:
    return "test";
  }
  return "?";
}

void notify_channel_defaults(notify_channel *c) {
  c->url = c->url_env = c->secret_env = NULL;
  c->username = c->from = c->ca_file = NULL;
  memset(c->to, 0, sizeof c->to);
  c->nto = 0;
  c->starttls = true;
  c->timeout = 5 * DTO_NS_PER_SEC;
  c->retries = 3;
  c->backoff = DTO_NS_PER_SEC;
  c->max_backoff = 30 * DTO_NS_PER_SEC;
}

void notify_msg_test(notify_msg *m, const char *instance, dto_time at) {
  memset(m, 0, sizeof *m);
  m->status = NOTIFY_TEST;
  snprintf(m->group, sizeof m->group, "dto-test");
  snprintf(m->severity, sizeof m->severity, "info");
  snprintf(m->instance, sizeof m->instance, "%s",
           instance && *instance ? instance : "dto");
  m->at = at;
}

/* The configuration key of the channel's secret_env and username (the
 * field names in error messages are the ones the operator wrote). */
static const char *secret_key(enum notify_kind k) {
  switch (k) {
  case NOTIFY_EMAIL:
    return "password_env";
  case NOTIFY_PAGERDUTY:
    return "routing_key_env";
  case NOTIFY_SMS:
    return "auth_token_env";
  default:
    return "secret_env";
  }
}

static const char *user_key(enum notify_kind k) {
  return k == NOTIFY_SMS ? "account_sid" : "username";
}

/* A variable's value, NULL when unset or empty. */
static const char *env_value(const char *name) {
  const char *v = name && *name ? getenv(name) : NULL;
  return v && *v ? v : NULL;
}

static dto_time wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (dto_time)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

static long ms_of(dto_time ns) {
  int64_t ms = (ns + 999999) / 1000000;
  return ms < 1 ? 1 : ms > 86400000 ? 86400000 : (long)ms;
}

/* ---- libraries ----------------------------------------------------------- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static bool lib_ok;

static void lib_init(void) {
  lib_ok = curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK && sodium_init() >= 0;
}

static bool libs_ready(char *err, size_t cap) {
  pthread_once(&lib_once, lib_init);
  if (!lib_ok)
    dto_seterr(err, cap, "notify: libcurl or libsodium failed to start");
  return lib_ok;
}

/* ---- URLs ---------------------------------------------------------------- */

typedef struct url_info {
  char scheme[16];
  char host[256]; /* IPv6 addresses in brackets, as curl gives them */
  bool ok;
} url_info;

static bool printable(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
      return false;
  return true;
}

/* Parse with curl's own parser, the one that will be used to connect, so
 * that the host checked is the host contacted ("http://127.0.0.1@evil/" is
 * evil). */
static url_info url_parse(const char *url) {
  url_info u;
  memset(&u, 0, sizeof u);
  if (!url || !*url || !printable(url))
    return u;
  CURLU *h = curl_url();
  if (!h)
    return u;
  char *scheme = NULL, *host = NULL;
  if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) ==
          CURLUE_OK &&
      curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && *host &&
      strlen(scheme) < sizeof u.scheme && strlen(host) < sizeof u.host) {
    snprintf(u.scheme, sizeof u.scheme, "%s", scheme);
    for (char *p = u.scheme; *p; p++)
      if (*p >= 'A' && *p <= 'Z')
        *p = (char)(*p - 'A' + 'a');
    snprintf(u.host, sizeof u.host, "%s", host);
    u.ok = true;
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(h);
  return u;
}

static bool host_loopback(const char *h) {
  return !strcasecmp(h, "localhost") || !strcasecmp(h, "localhost.") ||
         !strcmp(h, "127.0.0.1") || !strcmp(h, "[::1]") || !strcmp(h, "::1");
}

/* The channel's URL: url, the value of url_env, or the kind's default.
 * *from_env tells where it came from (such a URL is a secret). */
static const char *channel_url(const notify_channel *c, bool *from_env) {
  *from_env = false;
  if (c->url_env && *c->url_env) {
    *from_env = true;
    return env_value(c->url_env);
  }
  if (c->url && *c->url)
    return c->url;
  if (c->kind == NOTIFY_PAGERDUTY)
    return PD_URL_DEFAULT;
  if (c->kind == NOTIFY_SMS)
    return SMS_URL_DEFAULT;
  return NULL;
}

/* ---- checking a channel -------------------------------------------------- */

__attribute__((format(printf, 5, 6))) static int bad(char *err, size_t cap,
                                                     const notify_channel *c,
                                                     const char *field,
                                                     const char *fmt, ...) {
  char msg[NOTIFY_TEXT_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dto_seterr(err, cap, "alerts.channels.%s.%s: %s", c->name[0] ? c->name : "?",
             field, msg);
  return DTO_EINVAL;
}

/* Whether a kind cannot work without its secret (e-mail needs one only
 * with a username). */
static bool needs_secret(enum notify_kind k) {
  return k == NOTIFY_WEBHOOK || k == NOTIFY_PAGERDUTY || k == NOTIFY_SMS;
}

static bool address_ok(const char *a, bool email) {
  if (!a || !*a || strlen(a) > 254)
    return false;
  for (const char *p = a; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch < 0x21 || ch == 0x7f || ch == '<' || ch == '>' || ch == ',' ||
        ch == ';' || ch == '"')
      return false;
  }
  if (email) {
    const char *at = strrchr(a, '@');
    return at && at != a && at[1];
  }
  return true;
}

int notify_channel_check(const notify_channel *c, char *err, size_t cap) {
  if (!c->name[0] || strlen(c->name) >= NOTIFY_NAME_MAX)
    return bad(err, cap, c, "name", "empty or too long");
  if ((unsigned)c->kind >= NOTIFY_KIND_COUNT)
    return bad(err, cap, c, "type", "unknown channel type");
  enum notify_kind k = c->kind;
  if (c->timeout <= 0)
    return bad(err, cap, c, "timeout", "must be above 0");
  if (c->retries < 0 || c->retries > RETRIES_MAX)
    return bad(err, cap, c, "retries", "must be 0 to %d", RETRIES_MAX);
  if (c->backoff < 0)
    return bad(err, cap, c, "backoff", "must not be negative");
  if (c->max_backoff < c->backoff)
    return bad(err, cap, c, "max_backoff", "must not be below backoff");

  /* the URL */
  if (c->url && *c->url && c->url_env && *c->url_env)
    return bad(err, cap, c, "url_env", "give url or url_env, not both");
  bool from_env;
  const char *url = channel_url(c, &from_env);
  const char *ufield = from_env ? "url_env" : "url";
  if (!url) {
    if (from_env)
      return bad(err, cap, c, "url_env", "variable %s is not set or empty",
                 c->url_env);
    return bad(err, cap, c, "url", "needed (or url_env naming a variable)");
  }
  /* never the URL itself in a message: it may hold a token */
  url_info u = url_parse(url);
  if (!u.ok) {
    if (from_env)
      return bad(err, cap, c, ufield, "the value of %s is not a URL",
                 c->url_env);
    return bad(err, cap, c, ufield, "not a URL");
  }
  bool loop = host_loopback(u.host);
  if (k == NOTIFY_EMAIL) {
    if (strcmp(u.scheme, "smtp") && strcmp(u.scheme, "smtps"))
      return bad(err, cap, c, ufield, "must be smtp:// or smtps://");
    if (!strcmp(u.scheme, "smtp") && !c->starttls && !loop)
      return bad(err, cap, c, "starttls",
                 "false is allowed only for a loopback host (127.0.0.1, "
                 "::1, localhost)");
  } else if (strcmp(u.scheme, "https")) {
    if (strcmp(u.scheme, "http"))
      return bad(err, cap, c, ufield, "must be https://");
    if (!loop)
      return bad(err, cap, c, ufield,
                 "must be https:// (http:// only for 127.0.0.1, ::1 or "
                 "localhost)");
  }

  /* the secret */
  const char *skey = secret_key(k);
  bool has_secret_env = c->secret_env && *c->secret_env;
  if (needs_secret(k) && !has_secret_env)
    return bad(err, cap, c, skey, "needed (the name of a variable)");
  if (k == NOTIFY_EMAIL) {
    bool has_user = c->username && *c->username;
    if (has_user && !has_secret_env)
      return bad(err, cap, c, skey, "needed with username");
    if (has_secret_env && !has_user)
      return bad(err, cap, c, "username", "needed with password_env");
  }
  if (has_secret_env && (needs_secret(k) || k == NOTIFY_EMAIL) &&
      !env_value(c->secret_env))
    return bad(err, cap, c, skey, "variable %s is not set or empty",
               c->secret_env);

  /* recipients */
  if (k == NOTIFY_EMAIL || k == NOTIFY_SMS) {
    bool email = k == NOTIFY_EMAIL;
    if (!c->from || !*c->from)
      return bad(err, cap, c, "from", "needed");
    if (!address_ok(c->from, email))
      return bad(err, cap, c, "from", "not a valid %s",
                 email ? "e-mail address" : "phone number");
    if (c->nto < 1)
      return bad(err, cap, c, "to", "at least one recipient is needed");
    if (c->nto > NOTIFY_MAX_TO)
      return bad(err, cap, c, "to", "at most %d recipients", NOTIFY_MAX_TO);
    for (int i = 0; i < c->nto; i++)
      if (!address_ok(c->to[i], email))
        return bad(err, cap, c, "to", "recipient %d is not a valid %s", i + 1,
                   email ? "e-mail address" : "phone number");
  }
  if (k == NOTIFY_SMS) {
    const char *sid = c->username;
    if (!sid || !*sid)
      return bad(err, cap, c, user_key(k), "needed");
    for (const char *p = sid; *p; p++)
      if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9')) ||
          p - sid >= 64)
        return bad(err, cap, c, user_key(k),
                   "letters and digits only, at most 64");
  }
  if (c->ca_file && *c->ca_file && access(c->ca_file, R_OK))
    return bad(err, cap, c, "ca_file", "cannot read %s", c->ca_file);
  return 0;
}

/* ---- text ---------------------------------------------------------------- */

/* Append at most max bytes of s as clean UTF-8: bytes that are not UTF-8
 * become '?'; control characters are dropped, except that line ends and
 * tabs become spaces (oneline) or are kept as "\n" (otherwise). */
static void put_clean(dbuf *b, const char *s, size_t max, bool oneline) {
  size_t n = strnlen(s, max);
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq(p + i, n - i);
    if (!k) {
      dbuf_addc(b, '?');
      i++;
      continue;
    }
    if (k == 1 && (p[i] < 0x20 || p[i] == 0x7f)) {
      if (p[i] == '\n' || p[i] == '\t')
        dbuf_addc(b, oneline || p[i] == '\t' ? ' ' : '\n');
      else if (p[i] == '\r' && oneline)
        dbuf_addc(b, ' ');
      i++;
      continue;
    }
    dbuf_add(b, p + i, k);
    i += k;
  }
}

/* A bounded char array as a JSON string (cleaned first). */
static void jstr(dbuf *b, const char *s, size_t max) {
  dbuf t;
  dbuf_init(&t, BODY_MAX);
  put_clean(&t, s ? s : "", max, false);
  dbuf_json_str(b, t.ptr ? t.ptr : "");
  dbuf_release(&t);
}
#define JS(b, field) jstr((b), (field), sizeof(field))
#define JSC(b, s) jstr((b), (s), (size_t)-1)

static void jtime(dbuf *b, dto_time t) {
  char ts[48];
  if (!t) {
    dbuf_adds(b, "null");
    return;
  }
  time_format(t, ts, sizeof ts);
  dbuf_printf(b, "\"%s\"", ts);
}

static void jdouble(dbuf *b, double v) {
  if (v != v || v > 1.7976931348623157e308 || v < -1.7976931348623157e308) {
    dbuf_adds(b, "null");
    return;
  }
  char t[40];
  snprintf(t, sizeof t, "%.15g", v);
  if (strtod(t, NULL) != v)
    snprintf(t, sizeof t, "%.17g", v);
  dbuf_adds(b, t);
}

static const char *instance_of(const notify_msg *m) {
  return m->instance[0] ? m->instance : "dto";
}

/* The alert name a notification is about: the name its alerts share, else
 * its group key. */
static void subject_name(const notify_msg *m, char *buf, size_t cap) {
  bool same = m->nalerts > 0;
  for (int i = 1; same && i < m->nalerts && i < NOTIFY_MAX_ALERTS; i++)
    same = !strcmp(m->alerts[i].name, m->alerts[0].name);
  if (same)
    snprintf(buf, cap, "%.*s", (int)strnlen(m->alerts[0].name, NOTIFY_NAME_MAX),
             m->alerts[0].name);
  else if (m->group[0])
    snprintf(buf, cap, "%.*s", (int)strnlen(m->group, sizeof m->group),
             m->group);
  else
    snprintf(buf, cap, "alerts");
}

static int nalerts_of(const notify_msg *m) {
  return m->nalerts < 0                   ? 0
         : m->nalerts > NOTIFY_MAX_ALERTS ? NOTIFY_MAX_ALERTS
                                          : m->nalerts;
}

/* The one-line title:
 *   [FIRING:2] HighCpu (warning) on HOST: summary (+1 more)
 *   [RESOLVED] HighCpu (warning) on HOST: summary
 *   [TEST] dto test notification from HOST */
static void text_title(const notify_msg *m, dbuf *b) {
  dbuf raw;
  dbuf_init(&raw, BODY_MAX);
  int na = nalerts_of(m);
  if (m->status == NOTIFY_TEST) {
    dbuf_printf(&raw, "[TEST] dto test notification from %s", instance_of(m));
  } else {
    char name[NOTIFY_TEXT_MAX];
    subject_name(m, name, sizeof name);
    if (m->status == NOTIFY_RESOLVED)
      dbuf_adds(&raw, "[RESOLVED]");
    else
      dbuf_printf(&raw, "[FIRING:%d]", na);
    if (m->escalation)
      dbuf_adds(&raw, " [ESCALATED]");
    dbuf_printf(&raw, " %s", name);
    if (m->severity[0])
      dbuf_printf(&raw, " (%.*s)",
                  (int)strnlen(m->severity, sizeof m->severity), m->severity);
    dbuf_printf(&raw, " on %s", instance_of(m));
    if (na > 0 && m->alerts[0].summary[0]) {
      dbuf_adds(&raw, ": ");
      dbuf_add(&raw, m->alerts[0].summary,
               strnlen(m->alerts[0].summary, sizeof m->alerts[0].summary));
    }
    if (na > 1)
      dbuf_printf(&raw, " (+%d more)", na - 1);
  }
  put_clean(b, raw.ptr, raw.len, true);
  dbuf_release(&raw);
}

/* The text for people: the title, then one paragraph per alert.  Lines end
 * in "\n"; every line is short (one label a line), for e-mail's limit. */
static void text_body(const notify_msg *m, const notify_channel *c, dbuf *b) {
  text_title(m, b);
  dbuf_adds(b, "\n");
  if (m->status == NOTIFY_TEST) {
    dbuf_printf(b,
                "\nThis is a test of the %s channel \"%s\". No alert is "
                "firing.\n",
                notify_kind_name(c->kind), c->name);
    return;
  }
  int na = nalerts_of(m);
  for (int i = 0; i < na; i++) {
    const notify_alert *a = &m->alerts[i];
    char since[48];
    dbuf_adds(b, "\n- ");
    put_clean(b, a->name, sizeof a->name, true);
    dbuf_printf(b, " (%.*s", (int)strnlen(a->severity, sizeof a->severity),
                a->severity);
    if (a->ended) {
      time_format(a->ended, since, sizeof since);
      dbuf_printf(b, ", resolved at %s", since);
    } else if (a->started) {
      time_format(a->started, since, sizeof since);
      dbuf_printf(b, ", firing since %s", since);
    }
    if (a->acked)
      dbuf_adds(b, ", acknowledged");
    dbuf_adds(b, ")\n");
    if (a->summary[0]) {
      dbuf_adds(b, "  ");
      put_clean(b, a->summary, sizeof a->summary, true);
      dbuf_adds(b, "\n");
    }
    if (a->value == a->value) {
      dbuf_adds(b, "  value: ");
      jdouble(b, a->value);
      dbuf_adds(b, "\n");
    }
    int nl = a->nlabels < 0                   ? 0
             : a->nlabels > NOTIFY_MAX_LABELS ? NOTIFY_MAX_LABELS
                                              : a->nlabels;
    for (int j = 0; j < nl; j++) {
      dbuf_adds(b, "  ");
      put_clean(b, a->labels[j].key, sizeof a->labels[j].key, true);
      dbuf_adds(b, "=");
      put_clean(b, a->labels[j].val, sizeof a->labels[j].val, true);
      dbuf_adds(b, "\n");
    }
  }
  if (m->escalation)
    dbuf_adds(b, "\nEscalated: nobody acknowledged the alert.\n");
  if (m->group[0]) {
    dbuf_adds(b, "\nGroup: ");
    put_clean(b, m->group, sizeof m->group, true);
    dbuf_adds(b, "\n");
  }
  if (m->link[0]) {
    dbuf_adds(b, "Link: ");
    put_clean(b, m->link, sizeof m->link, true);
    dbuf_adds(b, "\n");
  }
}

/* ---- shapes -------------------------------------------------------------- */

static void json_labels(dbuf *b, const notify_alert *a) {
  int nl = a->nlabels < 0                   ? 0
           : a->nlabels > NOTIFY_MAX_LABELS ? NOTIFY_MAX_LABELS
                                            : a->nlabels;
  dbuf_addc(b, '{');
  for (int j = 0; j < nl; j++) {
    if (j)
      dbuf_addc(b, ',');
    JS(b, a->labels[j].key);
    dbuf_addc(b, ':');
    JS(b, a->labels[j].val);
  }
  dbuf_addc(b, '}');
}

void notify_json(const notify_msg *m, int64_t unix_s, dbuf *b) {
  dbuf_printf(b, "{\"version\":1,\"id\":%llu,\"status\":\"%s\",\"group\":",
              (unsigned long long)m->id, notify_status_name(m->status));
  JS(b, m->group);
  dbuf_adds(b, ",\"severity\":");
  JS(b, m->severity);
  dbuf_adds(b, ",\"instance\":");
  JS(b, m->instance);
  dbuf_printf(b, ",\"escalation\":%s,\"timestamp\":%lld",
              m->escalation ? "true" : "false", (long long)unix_s);
  if (m->link[0]) {
    dbuf_adds(b, ",\"link\":");
    JS(b, m->link);
  }
  dbuf_adds(b, ",\"alerts\":[");
  int na = nalerts_of(m);
  for (int i = 0; i < na; i++) {
    const notify_alert *a = &m->alerts[i];
    dbuf_adds(b, i ? ",{\"name\":" : "{\"name\":");
    JS(b, a->name);
    dbuf_adds(b, ",\"severity\":");
    JS(b, a->severity);
    dbuf_adds(b, ",\"summary\":");
    JS(b, a->summary);
    dbuf_adds(b, ",\"fingerprint\":");
    JS(b, a->fingerprint);
    dbuf_adds(b, ",\"labels\":");
    json_labels(b, a);
    dbuf_adds(b, ",\"value\":");
    jdouble(b, a->value);
    dbuf_adds(b, ",\"started\":");
    jtime(b, a->started);
    dbuf_adds(b, ",\"ended\":");
    jtime(b, a->ended);
    dbuf_printf(b, ",\"acked\":%s}", a->acked ? "true" : "false");
  }
  dbuf_adds(b, "]}");
}

static void shape_slack(const notify_msg *m, const notify_channel *c, dbuf *b) {
  dbuf t;
  dbuf_init(&t, BODY_MAX);
  text_body(m, c, &t);
  dbuf_adds(b, "{\"text\":");
  dbuf_json_str(b, t.ptr);
  dbuf_adds(b, "}");
  dbuf_release(&t);
}

static const char *sev_color(const notify_msg *m) {
  if (m->status == NOTIFY_TEST)
    return "607D8B";
  if (m->status == NOTIFY_RESOLVED)
    return "2E7D32";
  if (!strcmp(m->severity, "critical"))
    return "D50000";
  if (!strcmp(m->severity, "warning"))
    return "FFA000";
  return "2196F3";
}

/* Teams renders "text" as Markdown, where a line break needs an empty
 * line. */
static void shape_teams(const notify_msg *m, const notify_channel *c, dbuf *b) {
  dbuf title, body, md;
  dbuf_init(&title, BODY_MAX);
  dbuf_init(&body, BODY_MAX);
  dbuf_init(&md, BODY_MAX);
  text_title(m, &title);
  text_body(m, c, &body);
  /* the body without its first line (the title) */
  const char *rest = strchr(body.ptr, '\n');
  for (rest = rest ? rest + 1 : ""; *rest; rest++) {
    if (*rest == '\n')
      dbuf_adds(&md, "\n\n");
    else
      dbuf_addc(&md, *rest);
  }
  dbuf_adds(b, "{\"@type\":\"MessageCard\","
               "\"@context\":\"https://schema.org/extensions\",\"summary\":");
  dbuf_json_str(b, title.ptr);
  dbuf_printf(b, ",\"themeColor\":\"%s\",\"title\":", sev_color(m));
  dbuf_json_str(b, title.ptr);
  dbuf_adds(b, ",\"text\":");
  dbuf_json_str(b, md.ptr ? md.ptr : "");
  dbuf_adds(b, "}");
  dbuf_release(&title);
  dbuf_release(&body);
  dbuf_release(&md);
}

static const char *pd_severity(const char *s) {
  static const char *const ok[] = {"critical", "error", "warning", "info"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(ok); i++)
    if (!strcmp(s, ok[i]))
      return ok[i];
  return "info";
}

/* "dto/INSTANCE/GROUP", or "dto/" and the SHA-256 of that when it would
 * be longer than PagerDuty allows; equal for every notification of one
 * group, so that resolve finds the incident trigger opened. */
static void pd_dedup(const notify_msg *m, char *buf, size_t cap) {
  char key[NOTIFY_TEXT_MAX];
  snprintf(key, sizeof key, "dto/%s/%.*s", instance_of(m),
           (int)strnlen(m->group, sizeof m->group),
           m->group[0] ? m->group : "default");
  if (strlen(key) <= PD_DEDUP_MAX) {
    dto_seterr(buf, cap, "%s", key);
    return;
  }
  unsigned char h[crypto_hash_sha256_BYTES];
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  snprintf(buf, cap, "dto/%s", hex);
}

static void shape_pagerduty(const notify_msg *m, const char *routing_key,
                            dbuf *b) {
  char dedup[PD_DEDUP_MAX + 1];
  pd_dedup(m, dedup, sizeof dedup);
  bool resolve = m->status == NOTIFY_RESOLVED;
  dbuf_adds(b, "{\"routing_key\":");
  JSC(b, routing_key);
  dbuf_printf(b, ",\"event_action\":\"%s\",\"dedup_key\":",
              resolve ? "resolve" : "trigger");
  JSC(b, dedup);
  dbuf_adds(b, ",\"client\":\"dto\"");
  if (m->link[0]) {
    dbuf_adds(b, ",\"client_url\":");
    JS(b, m->link);
    dbuf_adds(b, ",\"links\":[{\"href\":");
    JS(b, m->link);
    dbuf_adds(b, ",\"text\":\"dto\"}]");
  }
  if (!resolve) { /* a resolve needs only the key */
    dbuf title;
    dbuf_init(&title, BODY_MAX);
    text_title(m, &title);
    char summary[PD_SUMMARY_MAX + 1];
    utf8_cut(summary, sizeof summary, title.ptr, PD_SUMMARY_MAX);
    dbuf_release(&title);
    const char *sev =
        m->status == NOTIFY_TEST ? "info" : pd_severity(m->severity);
    char name[NOTIFY_TEXT_MAX];
    subject_name(m, name, sizeof name);
    dbuf_adds(b, ",\"payload\":{\"summary\":");
    JSC(b, summary);
    dbuf_adds(b, ",\"source\":");
    JSC(b, instance_of(m));
    dbuf_printf(b, ",\"severity\":\"%s\",\"timestamp\":", sev);
    jtime(b, m->at ? m->at : wall_now());
    dbuf_adds(b, ",\"component\":\"dto\",\"group\":");
    JS(b, m->group);
    dbuf_adds(b, ",\"class\":");
    JSC(b, m->status == NOTIFY_TEST ? "test" : name);
    dbuf_printf(b,
                ",\"custom_details\":{\"status\":\"%s\",\"escalation\":%s,"
                "\"alerts\":[",
                notify_status_name(m->status),
                m->escalation ? "true" : "false");
    int na = nalerts_of(m);
    for (int i = 0; i < na; i++) {
      const notify_alert *a = &m->alerts[i];
      dbuf_adds(b, i ? ",{\"name\":" : "{\"name\":");
      JS(b, a->name);
      dbuf_adds(b, ",\"severity\":");
      JS(b, a->severity);
      dbuf_adds(b, ",\"summary\":");
      JS(b, a->summary);
      dbuf_adds(b, ",\"labels\":");
      json_labels(b, a);
      dbuf_adds(b, ",\"value\":");
      jdouble(b, a->value);
      dbuf_adds(b, ",\"started\":");
      jtime(b, a->started);
      dbuf_printf(b, ",\"acked\":%s}", a->acked ? "true" : "false");
    }
    dbuf_adds(b, "]}}");
  }
  dbuf_adds(b, "}");
}

/* A label name as Prometheus allows it: [a-zA-Z_][a-zA-Z0-9_]*. */
static void am_label_name(dbuf *b, const char *k, size_t max) {
  char t[NOTIFY_NAME_MAX + 1];
  size_t n = strnlen(k, max < sizeof t - 1 ? max : sizeof t - 1);
  for (size_t i = 0; i < n; i++) {
    char ch = k[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '_' || (i && ch >= '0' && ch <= '9');
    t[i] = ok ? ch : '_';
  }
  t[n] = '\0';
  dbuf_json_str(b, n ? t : "_");
}

static bool has_label(const notify_alert *a, const char *key) {
  for (int j = 0; j < a->nlabels && j < NOTIFY_MAX_LABELS; j++)
    if (!strcmp(a->labels[j].key, key))
      return true;
  return false;
}

static void am_alert(dbuf *b, const notify_msg *m, const notify_alert *a) {
  dbuf_adds(b, "{\"labels\":{\"alertname\":");
  JS(b, a->name);
  dbuf_adds(b, ",\"severity\":");
  JS(b, a->severity);
  if (!has_label(a, "instance")) {
    dbuf_adds(b, ",\"instance\":");
    JSC(b, instance_of(m));
  }
  for (int j = 0; j < a->nlabels && j < NOTIFY_MAX_LABELS; j++) {
    const notify_label *l = &a->labels[j];
    if (!strcmp(l->key, "alertname") || !strcmp(l->key, "severity"))
      continue; /* the alert's own win */
    dbuf_addc(b, ',');
    am_label_name(b, l->key, sizeof l->key);
    dbuf_addc(b, ':');
    JS(b, l->val);
  }
  dbuf_adds(b, "},\"annotations\":{\"summary\":");
  JS(b, a->summary);
  dbuf_adds(b, "},\"startsAt\":");
  jtime(b, a->started ? a->started : m->at ? m->at : wall_now());
  /* Alertmanager v2: endsAt only when the alert is resolved; a firing
   * alert is kept until resolve_timeout after the last update */
  dto_time end = a->ended                       ? a->ended
                 : m->status == NOTIFY_RESOLVED ? (m->at ? m->at : wall_now())
                                                : 0;
  if (end) {
    dbuf_adds(b, ",\"endsAt\":");
    jtime(b, end);
  }
  if (m->link[0]) {
    dbuf_adds(b, ",\"generatorURL\":");
    JS(b, m->link);
  }
  dbuf_adds(b, "}");
}

static void shape_alertmanager(const notify_msg *m, dbuf *b) {
  dbuf_addc(b, '[');
  int na = nalerts_of(m);
  if (na == 0) { /* a test, or a group without alerts: one alert */
    notify_alert *a = xcalloc(1, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s",
             m->status == NOTIFY_TEST ? "DtoTest" : "DtoNotification");
    snprintf(a->severity, sizeof a->severity, "%s",
             m->severity[0] ? m->severity : "info");
    dbuf t;
    dbuf_init(&t, BODY_MAX);
    text_title(m, &t);
    utf8_cut(a->summary, sizeof a->summary, t.ptr, sizeof a->summary - 1);
    dbuf_release(&t);
    a->value = NAN;
    a->started = m->at;
    am_alert(b, m, a);
    free(a);
  }
  for (int i = 0; i < na; i++) {
    if (i)
      dbuf_addc(b, ',');
    am_alert(b, m, &m->alerts[i]);
  }
  dbuf_addc(b, ']');
}

static void hmac_hex(const char *key, const char *msg, size_t n,
                     char hex[2 * crypto_auth_hmacsha256_BYTES + 1]) {
  crypto_auth_hmacsha256_state st;
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, n);
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_bin2hex(hex, 2 * crypto_auth_hmacsha256_BYTES + 1, mac, sizeof mac);
  sodium_memzero(&st, sizeof st);
}

/* RFC 5322's date: "Tue, 02 Jan 2025 14:30:00 +0000". */
static void rfc5322_date(dto_time t, char *buf, size_t cap) {
  static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed",
                                   "Thu", "Fri", "Sat"};
  static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int64_t s = floordiv64(t, DTO_NS_PER_SEC);
  int64_t days = floordiv64(s, 86400);
  int64_t sod = s - days * 86400;
  int y, mo, d;
  civil_from_days(days, &y, &mo, &d);
  snprintf(buf, cap, "%s, %02d %s %04d %02d:%02d:%02d +0000",
           wd[weekday_from_days(days)], d, mon[mo - 1], y, (int)(sod / 3600),
           (int)(sod / 60 % 60), (int)(sod % 60));
}

/* A header value in RFC 2047 encoded words when it is not plain ASCII. */
static void mime_header(dbuf *b, const char *s) {
  bool ascii = true;
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p >= 0x80)
      ascii = false;
  if (ascii) {
    dbuf_adds(b, s);
    return;
  }
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    size_t j = i; /* at most 45 bytes a word, cut between characters */
    while (j < n) {
      size_t k = utf8_seq(p + j, n - j);
      if (!k)
        k = 1;
      if (j + k - i > 45)
        break;
      j += k;
    }
    char enc[128];
    sodium_bin2base64(enc, sizeof enc, p + i, j - i,
                      sodium_base64_VARIANT_ORIGINAL);
    dbuf_printf(b, "%s=?UTF-8?B?%s?=", i ? "\r\n " : "", enc);
    i = j;
  }
}

/* The whole RFC 5322 message, lines ending in CRLF. */
static void shape_email(const notify_msg *m, const notify_channel *c, dbuf *b) {
  char date[64], subject[SUBJECT_MAX + 1];
  dbuf title, body;
  dbuf_init(&title, BODY_MAX);
  dbuf_init(&body, BODY_MAX);
  text_title(m, &title);
  utf8_cut(subject, sizeof subject, title.ptr, SUBJECT_MAX);
  text_body(m, c, &body);
  rfc5322_date(m->at ? m->at : wall_now(), date, sizeof date);
  /* Message-ID's right side: the instance when it is a host name */
  char host[NOTIFY_NAME_MAX];
  snprintf(host, sizeof host, "%s", instance_of(m));
  for (char *p = host; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
      *p = '-';
  uint64_t rnd;
  randombytes_buf(&rnd, sizeof rnd);

  dbuf_printf(b, "Date: %s\r\nFrom: %s\r\nTo: ", date, c->from);
  for (int i = 0; i < c->nto && i < NOTIFY_MAX_TO; i++)
    dbuf_printf(b, "%s%s", i ? ", " : "", c->to[i]);
  dbuf_adds(b, "\r\nSubject: ");
  mime_header(b, subject);
  dbuf_printf(b,
              "\r\nMessage-ID: <dto.%llu.%016llx@%s>\r\n"
              "MIME-Version: 1.0\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: 8bit\r\n"
              "X-Dto-Status: %s\r\n\r\n",
              (unsigned long long)m->id, (unsigned long long)rnd, host,
              notify_status_name(m->status));
  for (const char *p = body.ptr; *p; p++) {
    if (*p == '\n')
      dbuf_adds(b, "\r\n");
    else
      dbuf_addc(b, *p);
  }
  dbuf_release(&title);
  dbuf_release(&body);
}

static void form_field(dbuf *b, CURL *h, const char *k, const char *v) {
  char *e = curl_easy_escape(h, v, (int)strlen(v));
  if (!e) {
    fprintf(stderr, "dto: out of memory\n");
    abort();
  }
  dbuf_printf(b, "%s%s=%s", b->len ? "&" : "", k, e);
  curl_free(e);
}

/* ---- one transfer -------------------------------------------------------- */

typedef struct worker worker;

typedef struct sender {
  const notify_channel *ch;
  notifier *n; /* NULL for notify_send_now: nothing stops it */
  worker *w;
  CURL *h;
  CURLM *mh;
  char cerr[CURL_ERROR_SIZE];
  char resp[RESP_CAP]; /* the response's first RESP_CAP bytes */
  size_t rlen;
  /* the current attempt's secrets, for scrubbing messages */
  const char *secrets[6];
  int nsecrets;
} sender;

/* What the transfer needs; pointers borrowed for its duration. */
typedef struct xfer {
  const char *url;
  const char *body;
  size_t blen, sent;
  struct curl_slist *hdrs;
  const char *user, *pass; /* basic auth, or SMTP's login */
  bool smtp;
  bool implicit_tls;     /* smtps:// */
  const char *mail_from; /* "<a@b>" */
  struct curl_slist *rcpt;
} xfer;

enum outcome { OUT_OK, OUT_FAIL, OUT_STOP, OUT_FATAL };

static bool stopping(const sender *s);

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
  sender *s = ud;
  size_t add = size * n, room = sizeof s->resp - s->rlen;
  memcpy(s->resp + s->rlen, p, add < room ? add : room);
  s->rlen += add < room ? add : room;
  return add; /* the rest is read and dropped */
}

static size_t on_read(char *p, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  size_t want = size * n, left = x->blen - x->sent;
  if (want > left)
    want = left;
  memcpy(p, x->body + x->sent, want);
  x->sent += want;
  return want;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d) {
  DTO_UNUSED(a);
  DTO_UNUSED(b);
  DTO_UNUSED(c);
  DTO_UNUSED(d);
  return stopping(ud) ? 1 : 0;
}

static struct curl_slist *slist_add(struct curl_slist *l, const char *s) {
  struct curl_slist *r = curl_slist_append(l, s);
  if (!r) {
    fprintf(stderr, "dto: out of memory\n");
    abort();
  }
  return r;
}

/* Replace err by a plain message when it holds any of the attempt's
 * secrets (curl's texts are quoted only for TLS and SMTP details, which
 * should not hold one; this makes sure). */
static void scrub(const sender *s, char *err, size_t cap, const char *plain) {
  for (int i = 0; i < s->nsecrets; i++)
    if (s->secrets[i] && strlen(s->secrets[i]) >= 4 &&
        strstr(err, s->secrets[i])) {
      dto_seterr(err, cap, "%s", plain);
      return;
    }
}

static void describe(sender *s, const xfer *x, CURLcode cc, int64_t took_ms,
                     char *err, size_t cap) {
  const notify_channel *c = s->ch;
  long tmo = ms_of(c->timeout);
  long cto = tmo < CONNECT_MAX_MS ? tmo : CONNECT_MAX_MS;
  long oserr = 0, code = 0;
  curl_easy_getinfo(s->h, CURLINFO_OS_ERRNO, &oserr);
  curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
  /* curl's own text, only where it has details we cannot tell otherwise */
  char detail[CURL_ERROR_SIZE + 8];
  snprintf(detail, sizeof detail, "%s",
           s->cerr[0] ? s->cerr : curl_easy_strerror(cc));
  switch (cc) {
  case CURLE_OPERATION_TIMEDOUT:
    if (took_ms + 50 < tmo && cto < tmo)
      dto_seterr(err, cap, "connect timeout after %ld ms", cto);
    else
      dto_seterr(err, cap, "timeout after %ld ms", tmo);
    return;
  case CURLE_COULDNT_CONNECT:
    if (oserr == ECONNREFUSED)
      dto_seterr(err, cap, "connection refused");
    else if (oserr == ENETUNREACH)
      dto_seterr(err, cap, "network unreachable");
    else if (oserr == EHOSTUNREACH)
      dto_seterr(err, cap, "host unreachable");
    else
      dto_seterr(err, cap, "cannot connect");
    return;
  case CURLE_COULDNT_RESOLVE_HOST: {
    url_info u = url_parse(x->url);
    dto_seterr(err, cap, "cannot resolve host %s", u.ok ? u.host : "?");
    return;
  }
  case CURLE_USE_SSL_FAILED:
    dto_seterr(err, cap, "the server does not offer STARTTLS");
    return;
  case CURLE_PEER_FAILED_VERIFICATION:
    dto_seterr(err, cap, "TLS: the server's certificate is not trusted (%s)",
               detail);
    scrub(s, err, cap, "TLS: the server's certificate is not trusted");
    return;
  case CURLE_SSL_CONNECT_ERROR:
    dto_seterr(err, cap, "TLS handshake failed (%s)", detail);
    scrub(s, err, cap, "TLS handshake failed");
    return;
  case CURLE_SSL_CACERT_BADFILE:
    dto_seterr(err, cap, "cannot read the ca_file");
    return;
  case CURLE_LOGIN_DENIED:
    dto_seterr(err, cap, "SMTP login denied (%ld)", code);
    return;
  case CURLE_GOT_NOTHING:
    dto_seterr(err, cap, "the server closed the connection without a reply");
    return;
  case CURLE_WEIRD_SERVER_REPLY:
    dto_seterr(err, cap, "malformed reply");
    return;
  case CURLE_UNSUPPORTED_PROTOCOL:
    dto_seterr(err, cap, "URL scheme not allowed for this channel");
    return;
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_QUOTE_ERROR:
  default:
    if (x->smtp && code >= 400) {
      /* "RCPT failed: 550", "MAIL failed: 530" */
      dto_seterr(err, cap, "SMTP %ld (%s)", code, detail);
      scrub(s, err, cap, "SMTP error");
      return;
    }
    if (cc == CURLE_SEND_ERROR)
      dto_seterr(err, cap, "send failed (connection reset)");
    else if (cc == CURLE_RECV_ERROR)
      dto_seterr(err, cap, "receive failed (connection reset)");
    else /* a static text: no URL in it */
      dto_seterr(err, cap, "%s", curl_easy_strerror(cc));
    return;
  }
}

/* Run one transfer on the sender's handles.  OUT_OK on a 2xx (HTTP) or an
 * accepted message (SMTP); else the reason in err. */
static enum outcome transfer(sender *s, xfer *x, long *status, char *err,
                             size_t cap) {
  const notify_channel *c = s->ch;
  CURL *h = s->h;
  long tmo = ms_of(c->timeout);
  long cto = tmo < CONNECT_MAX_MS ? tmo : CONNECT_MAX_MS;
  *status = 0;
  curl_easy_reset(h);
  s->cerr[0] = '\0';
  s->rlen = 0;
  x->sent = 0;
  curl_easy_setopt(h, CURLOPT_URL, x->url);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->cerr);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, tmo);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cto);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
                   x->smtp ? "smtp,smtps" : "http,https");
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
  if (c->ca_file && *c->ca_file)
    curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
  if (x->user) {
    curl_easy_setopt(h, CURLOPT_USERNAME, x->user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, x->pass ? x->pass : "");
  }
  if (x->smtp) {
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     c->starttls || x->implicit_tls ? (long)CURLUSESSL_ALL
                                                    : (long)CURLUSESSL_NONE);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, x->mail_from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, x->rcpt);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, x);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->blen);
  } else {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->blen);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dto/" DTO_VERSION);
    if (x->user)
      curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
  }

  int64_t t0 = clock_mono_ns();
  if (curl_multi_add_handle(s->mh, h) != CURLM_OK) {
    dto_seterr(err, cap, "libcurl refused the transfer");
    return OUT_FAIL;
  }
  CURLcode cc = CURLE_OK;
  bool stopped = false, failed = false;
  for (;;) {
    int running = 0;
    if (curl_multi_perform(s->mh, &running) != CURLM_OK) {
      failed = true;
      break;
    }
    if (!running)
      break;
    if (stopping(s)) {
      stopped = true;
      break;
    }
    if (curl_multi_poll(s->mh, NULL, 0, POLL_MS, NULL) != CURLM_OK) {
      failed = true;
      break;
    }
  }
  if (!stopped && !failed) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->mh, &left)))
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
        cc = msg->data.result;
  }
  curl_multi_remove_handle(s->mh, h);
  int64_t took_ms = (clock_mono_ns() - t0) / 1000000;

  if (stopped || (cc == CURLE_ABORTED_BY_CALLBACK && stopping(s))) {
    dto_seterr(err, cap, "stopping");
    return OUT_STOP;
  }
  if (failed) {
    dto_seterr(err, cap, "libcurl failed");
    return OUT_FAIL;
  }
  if (cc != CURLE_OK) {
    describe(s, x, cc, took_ms, err, cap);
    return OUT_FAIL;
  }
  if (x->smtp)
    return OUT_OK;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  if (*status >= 200 && *status <= 299)
    return OUT_OK;
  dto_seterr(err, cap, "HTTP %ld", *status);
  return OUT_FAIL;
}

/* ---- one attempt of one notification ------------------------------------- */

static char *join_url(const char *base, const char *path) {
  size_t n = strlen(base);
  while (n && base[n - 1] == '/')
    n--;
  size_t len = n + strlen(path) + 1;
  char *u = xmalloc(len);
  snprintf(u, len, "%.*s%s", (int)n, base, path);
  return u;
}

static void add_secret(sender *s, const char *v) {
  if (v && s->nsecrets < (int)DTO_ARRAY_LEN(s->secrets))
    s->secrets[s->nsecrets++] = v;
}

/* One attempt: every request the kind needs (SMS: one a recipient not yet
 * served, done[] says which were).  r->error and r->http_status tell the
 * last failure. */
static enum outcome attempt(sender *s, const notify_msg *m, bool *done,
                            notify_result *r) {
  const notify_channel *c = s->ch;
  char *err = r->error;
  size_t cap = sizeof r->error;
  long status = 0;
  s->nsecrets = 0;

  bool from_env;
  const char *url = channel_url(c, &from_env);
  if (!url) {
    if (from_env)
      dto_seterr(err, cap,
                 "alerts.channels.%s.url_env: variable %s is not "
                 "set or empty",
                 c->name, c->url_env);
    else
      dto_seterr(err, cap, "alerts.channels.%s.url: not set", c->name);
    return OUT_FATAL;
  }
  if (from_env) { /* the URL, and its path and query on their own */
    add_secret(s, url);
    const char *sep = strstr(url, "://");
    const char *path = sep ? strchr(sep + 3, '/') : NULL;
    if (path && strlen(path) > 1)
      add_secret(s, path);
    add_secret(s, strchr(url, '?'));
  }
  const char *secret = NULL;
  bool want_secret = needs_secret(c->kind) ||
                     (c->kind == NOTIFY_EMAIL && c->username && *c->username);
  if (want_secret) {
    secret = env_value(c->secret_env);
    if (!secret) {
      dto_seterr(err, cap,
                 "alerts.channels.%s.%s: variable %s is not set or "
                 "empty",
                 c->name, secret_key(c->kind),
                 c->secret_env ? c->secret_env : "(none)");
      return OUT_FATAL;
    }
    add_secret(s, secret);
  }

  xfer x;
  memset(&x, 0, sizeof x);
  dbuf body;
  dbuf_init(&body, BODY_MAX);
  char *full = NULL;
  enum outcome o = OUT_FAIL;
  bool json = true;

  switch (c->kind) {
  case NOTIFY_EMAIL: {
    bool addr_ok = address_ok(c->from, true) && c->nto > 0;
    for (int i = 0; addr_ok && i < c->nto && i < NOTIFY_MAX_TO; i++)
      addr_ok = address_ok(c->to[i], true);
    if (!addr_ok) { /* they go into the message's header lines */
      dto_seterr(err, cap,
                 "alerts.channels.%s: from or to is not a valid "
                 "e-mail address",
                 c->name);
      o = OUT_FATAL;
      json = false;
      break;
    }
    url_info u = url_parse(url);
    x.smtp = true;
    x.implicit_tls = u.ok && !strcmp(u.scheme, "smtps");
    size_t fl = strlen(c->from) + 3;
    char *mf = xmalloc(fl);
    snprintf(mf, fl, "<%s>", c->from);
    for (int i = 0; i < c->nto && i < NOTIFY_MAX_TO; i++) {
      size_t tl = strlen(c->to[i]) + 3;
      char *t = xmalloc(tl);
      snprintf(t, tl, "<%s>", c->to[i]);
      x.rcpt = slist_add(x.rcpt, t);
      free(t);
    }
    x.mail_from = mf;
    if (c->username && *c->username) {
      x.user = c->username;
      x.pass = secret;
    }
    shape_email(m, c, &body);
    x.url = url;
    x.body = body.ptr;
    x.blen = body.len;
    o = transfer(s, &x, &status, err, cap);
    curl_slist_free_all(x.rcpt);
    free(mf);
    break;
  }
  case NOTIFY_SMS: {
    char path[160];
    snprintf(path, sizeof path, "/2010-04-01/Accounts/%s/Messages.json",
             c->username ? c->username : "");
    full = join_url(url, path);
    dbuf text, cut;
    dbuf_init(&text, BODY_MAX);
    text_title(m, &text);
    if (m->link[0]) {
      dbuf_adds(&text, " ");
      put_clean(&text, m->link, sizeof m->link, true);
    }
    char *msg = xmalloc(SMS_BODY_MAX + 1);
    utf8_cut(msg, SMS_BODY_MAX + 1, text.ptr, SMS_BODY_MAX);
    dbuf_release(&text);
    dbuf_init(&cut, BODY_MAX);
    x.url = full;
    x.user = c->username;
    x.pass = secret;
    x.hdrs = slist_add(NULL, "Content-Type: application/x-www-form-urlencoded");
    x.hdrs = slist_add(x.hdrs, "Accept: application/json");
    x.hdrs = slist_add(x.hdrs, "Expect:");
    o = OUT_OK;
    char last[NOTIFY_TEXT_MAX] = "";
    int lstatus = 0;
    for (int i = 0; i < c->nto && i < NOTIFY_MAX_TO; i++) {
      if (done[i])
        continue;
      dbuf_reset(&cut);
      form_field(&cut, s->h, "To", c->to[i]);
      form_field(&cut, s->h, "From", c->from);
      form_field(&cut, s->h, "Body", msg);
      x.body = cut.ptr;
      x.blen = cut.len;
      enum outcome oi = transfer(s, &x, &status, err, cap);
      if (status)
        r->http_status = (int)status;
      if (oi == OUT_OK) {
        done[i] = true;
        continue;
      }
      lstatus = (int)status;
      if (c->nto > 1)
        dto_seterr(last, sizeof last, "%s (recipient %d of %d)", err, i + 1,
                   c->nto);
      else
        snprintf(last, sizeof last, "%s", err);
      o = oi;
      if (oi == OUT_STOP)
        break;
    }
    if (o != OUT_OK && o != OUT_STOP) {
      snprintf(err, cap, "%s", last);
      r->http_status = lstatus;
    }
    free(msg);
    dbuf_release(&cut);
    curl_slist_free_all(x.hdrs);
    x.hdrs = NULL;
    dbuf_release(&body);
    free(full);
    return o;
  }
  case NOTIFY_SLACK:
    shape_slack(m, c, &body);
    break;
  case NOTIFY_TEAMS:
    shape_teams(m, c, &body);
    break;
  case NOTIFY_PAGERDUTY:
    shape_pagerduty(m, secret, &body);
    break;
  case NOTIFY_ALERTMANAGER:
    shape_alertmanager(m, &body);
    full = join_url(url, "/api/v2/alerts");
    break;
  case NOTIFY_WEBHOOK: {
    int64_t now_s = floordiv64(wall_now(), DTO_NS_PER_SEC);
    notify_json(m, now_s, &body);
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    char line[128];
    hmac_hex(secret, body.ptr, body.len, hex);
    snprintf(line, sizeof line, "X-Dto-Timestamp: %lld", (long long)now_s);
    x.hdrs = slist_add(x.hdrs, line);
    snprintf(line, sizeof line, "X-Dto-Signature: sha256=%s", hex);
    x.hdrs = slist_add(x.hdrs, line);
    break;
  }
  default:
    dto_seterr(err, cap, "unknown channel type");
    json = false;
    o = OUT_FATAL;
    break;
  }
  if (json && !x.smtp) {
    x.hdrs = slist_add(x.hdrs, "Content-Type: application/json");
    x.hdrs = slist_add(x.hdrs, "Accept: application/json");
    x.hdrs = slist_add(x.hdrs, "Expect:");
    x.url = full ? full : url;
    x.body = body.ptr ? body.ptr : "";
    x.blen = body.len;
    o = transfer(s, &x, &status, err, cap);
    r->http_status = (int)status;
  }
  curl_slist_free_all(x.hdrs);
  dbuf_release(&body);
  free(full);
  return o;
}

static bool pause_for(sender *s, dto_time ns);

/* The retry loop: attempts until delivered, out of retries, a fatal error
 * or stop, waiting backoff, 2*backoff, ... (at most max_backoff) between
 * them.  Fills r (not msg, channel or latency). */
static void deliver(sender *s, const notify_msg *m, notify_result *r) {
  const notify_channel *c = s->ch;
  bool done[NOTIFY_MAX_TO] = {false};
  dto_time wait = c->backoff;
  r->delivered = false;
  r->attempts = 0;
  r->http_status = 0;
  r->error[0] = '\0';
  for (int k = 0;; k++) {
    if (stopping(s)) {
      snprintf(r->error, sizeof r->error, "stopping");
      return;
    }
    r->attempts = k + 1;
    r->http_status = 0;
    enum outcome o = attempt(s, m, done, r);
    if (o == OUT_OK) {
      r->delivered = true;
      r->error[0] = '\0';
      return;
    }
    if (o == OUT_FATAL) {
      r->attempts = k; /* nothing was sent */
      return;
    }
    if (o == OUT_STOP || k >= c->retries)
      return;
    if (!pause_for(s, wait)) {
      snprintf(r->error, sizeof r->error, "stopping");
      return;
    }
    wait = wait > c->max_backoff / 2 ? c->max_backoff : wait * 2;
  }
}

static bool sender_open(sender *s, const notify_channel *c) {
  memset(s, 0, sizeof *s);
  s->ch = c;
  s->h = curl_easy_init();
  s->mh = curl_multi_init();
  if (!s->h || !s->mh) {
    curl_easy_cleanup(s->h);
    curl_multi_cleanup(s->mh);
    return false;
  }
  return true;
}

static void sender_close(sender *s) {
  curl_multi_cleanup(s->mh);
  curl_easy_cleanup(s->h);
  s->h = NULL;
  s->mh = NULL;
}

/* ---- the workers --------------------------------------------------------- */

typedef struct qent {
  struct qent *next;
  int64_t posted; /* clock_mono_ns() at notify_post */
  notify_msg m;
} qent;

struct worker {
  notifier *n;
  notify_channel ch;
  pthread_t th;
  bool started;
  pthread_cond_t cv; /* new work, or stop; with n->mu */
  qent *head, *tail; /* under n->mu */
  int qlen;
  bool busy;
  sender s;
};

struct notifier {
  pthread_mutex_t mu;
  atomic_bool stop;
  worker *w;
  int nw;
  notify_result_fn fn;
  void *ctx;
};

static bool stopping(const sender *s) {
  return s->n && atomic_load(&s->n->stop);
}

/* Wait ns, or less when the notifier stops: false then. */
static bool pause_for(sender *s, dto_time ns) {
  if (ns <= 0)
    return !stopping(s);
  if (!s->n) {
    struct timespec ts = {(time_t)(ns / DTO_NS_PER_SEC),
                          (long)(ns % DTO_NS_PER_SEC)};
    while (nanosleep(&ts, &ts) && errno == EINTR)
      ;
    return true;
  }
  notifier *n = s->n;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t end = (int64_t)now.tv_sec * DTO_NS_PER_SEC + now.tv_nsec + ns;
  struct timespec dl = {(time_t)(end / DTO_NS_PER_SEC),
                        (long)(end % DTO_NS_PER_SEC)};
  pthread_mutex_lock(&n->mu);
  while (!atomic_load(&n->stop))
    if (pthread_cond_timedwait(&s->w->cv, &n->mu, &dl) == ETIMEDOUT)
      break;
  bool ok = !atomic_load(&n->stop);
  pthread_mutex_unlock(&n->mu);
  return ok;
}

static void report(notifier *n, worker *w, const notify_msg *m,
                   notify_result *r, int64_t posted) {
  r->msg_id = m->id;
  r->channel = w->ch.name;
  r->msg = m;
  r->latency = clock_mono_ns() - posted;
  if (n->fn)
    n->fn(n->ctx, r);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  notifier *n = w->n;
  notify_result *r = xmalloc(sizeof *r);
  pthread_mutex_lock(&n->mu);
  for (;;) {
    while (!atomic_load(&n->stop) && !w->head)
      pthread_cond_wait(&w->cv, &n->mu);
    if (atomic_load(&n->stop))
      break;
    qent *e = w->head;
    w->head = e->next;
    if (!w->head)
      w->tail = NULL;
    w->qlen--;
    w->busy = true;
    pthread_mutex_unlock(&n->mu);

    memset(r, 0, sizeof *r);
    deliver(&w->s, &e->m, r);
    report(n, w, &e->m, r, e->posted);
    free(e);

    pthread_mutex_lock(&n->mu);
    w->busy = false;
  }
  /* stopping: what is still queued is a dead letter */
  qent *rest = w->head;
  w->head = w->tail = NULL;
  w->qlen = 0;
  pthread_mutex_unlock(&n->mu);
  while (rest) {
    qent *e = rest;
    rest = e->next;
    memset(r, 0, sizeof *r);
    snprintf(r->error, sizeof r->error, "stopping");
    report(n, w, &e->m, r, e->posted);
    free(e);
  }
  free(r);
  return NULL;
}

static void notifier_destroy(notifier *n) {
  for (int i = 0; i < n->nw; i++) {
    worker *w = &n->w[i];
    if (w->s.h)
      sender_close(&w->s);
    pthread_cond_destroy(&w->cv);
  }
  pthread_mutex_destroy(&n->mu);
  free(n->w);
  free(n);
}

notifier *notifier_new(const notify_channel *ch, int nch,
                       notify_result_fn on_result, void *ctx, char *err,
                       size_t cap) {
  if (nch < 0 || (nch > 0 && !ch)) {
    dto_seterr(err, cap, "notify: bad channel list");
    return NULL;
  }
  if (!libs_ready(err, cap))
    return NULL;
  notifier *n = xcalloc(1, sizeof *n);
  pthread_mutex_init(&n->mu, NULL);
  atomic_init(&n->stop, false);
  n->fn = on_result;
  n->ctx = ctx;
  n->nw = nch;
  n->w = xcalloc(nch > 0 ? (size_t)nch : 1, sizeof *n->w);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  for (int i = 0; i < nch; i++) {
    worker *w = &n->w[i];
    w->n = n;
    w->ch = ch[i];
    pthread_cond_init(&w->cv, &ca);
    if (!sender_open(&w->s, &w->ch)) {
      pthread_condattr_destroy(&ca);
      for (int j = i + 1; j < nch; j++)
        pthread_cond_init(&n->w[j].cv, NULL); /* destroyed below */
      notifier_destroy(n);
      dto_seterr(err, cap, "notify: libcurl failed to start");
      return NULL;
    }
    w->s.n = n;
    w->s.w = w;
  }
  pthread_condattr_destroy(&ca);
  for (int i = 0; i < nch; i++) {
    worker *w = &n->w[i];
    int rc = pthread_create(&w->th, NULL, worker_main, w);
    if (rc) {
      dto_seterr(err, cap,
                 "notify: cannot start the thread of channel %s (error %d)",
                 w->ch.name, rc);
      notifier_free(n);
      return NULL;
    }
    w->started = true;
  }
  return n;
}

static worker *find(notifier *n, const char *name) {
  for (int i = 0; i < n->nw; i++)
    if (!strcmp(n->w[i].ch.name, name))
      return &n->w[i];
  return NULL;
}

int notify_post(notifier *n, const char *name, const notify_msg *m) {
  if (!n || !name || !m)
    return DTO_EINVAL;
  worker *w = find(n, name);
  if (!w)
    return DTO_ENOENT;
  int64_t posted = clock_mono_ns();
  pthread_mutex_lock(&n->mu);
  bool full = w->qlen >= NOTIFY_QUEUE_MAX, stop = atomic_load(&n->stop);
  pthread_mutex_unlock(&n->mu);
  if (!full && !stop) {
    qent *e = xmalloc(sizeof *e); /* the copy outside the lock */
    e->next = NULL;
    e->posted = posted;
    e->m = *m;
    pthread_mutex_lock(&n->mu);
    full = w->qlen >= NOTIFY_QUEUE_MAX; /* again: others may post too */
    stop = atomic_load(&n->stop);
    if (!full && !stop) {
      if (w->tail)
        w->tail->next = e;
      else
        w->head = e;
      w->tail = e;
      w->qlen++;
      pthread_cond_signal(&w->cv);
      pthread_mutex_unlock(&n->mu);
      return 0;
    }
    pthread_mutex_unlock(&n->mu);
    free(e);
  }
  notify_result *r = xcalloc(1, sizeof *r);
  if (stop)
    snprintf(r->error, sizeof r->error, "stopping");
  else
    snprintf(r->error, sizeof r->error, "queue full (%d waiting)",
             NOTIFY_QUEUE_MAX);
  report(n, w, m, r, posted);
  free(r);
  return stop ? DTO_ESTATE : DTO_EFULL;
}

int notifier_pending(notifier *n) {
  if (!n)
    return 0;
  int k = 0;
  pthread_mutex_lock(&n->mu);
  for (int i = 0; i < n->nw; i++)
    k += n->w[i].qlen + (n->w[i].busy ? 1 : 0);
  pthread_mutex_unlock(&n->mu);
  return k;
}

void notifier_free(notifier *n) {
  if (!n)
    return;
  pthread_mutex_lock(&n->mu);
  atomic_store(&n->stop, true);
  for (int i = 0; i < n->nw; i++)
    pthread_cond_broadcast(&n->w[i].cv);
  pthread_mutex_unlock(&n->mu);
  for (int i = 0; i < n->nw; i++)
    if (n->w[i].s.mh)
      curl_multi_wakeup(n->w[i].s.mh); /* out of curl_multi_poll at once */
  for (int i = 0; i < n->nw; i++)
    if (n->w[i].started)
      pthread_join(n->w[i].th, NULL);
  notifier_destroy(n);
}

/* ---- synchronous --------------------------------------------------------- */

int notify_send_now_result(const notify_channel *c, const notify_msg *m,
                           notify_result *r) {
  memset(r, 0, sizeof *r);
  r->msg_id = m->id;
  r->channel = c->name;
  r->msg = m;
  int64_t t0 = clock_mono_ns();
  if (!libs_ready(r->error, sizeof r->error))
    return DTO_EIO;
  sender *s = xmalloc(sizeof *s);
  if (!sender_open(s, c)) {
    free(s);
    snprintf(r->error, sizeof r->error, "libcurl failed to start");
    return DTO_EIO;
  }
  deliver(s, m, r);
  sender_close(s);
  free(s);
  r->latency = clock_mono_ns() - t0;
  return r->delivered ? 0 : DTO_EIO;
}

int notify_send_now(const notify_channel *c, const notify_msg *m, char *err,
                    size_t cap) {
  notify_result *r = xmalloc(sizeof *r);
  int rc = notify_send_now_result(c, m, r);
  if (rc)
    dto_seterr(err, cap, "%s", r->error);
  free(r);
  return rc;
}
