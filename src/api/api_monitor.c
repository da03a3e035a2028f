/* api_monitor.c - the monitoring routes: GET /metrics, /healthz, /readyz,
 * and the alerts under /api/v1/alerts and /api/v1/silences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "app/monitor.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "ops/alert.h"
#include "ops/prom.h"

static bool have_monitor(ctx *c) {
  if (c->a->c.monitor)
    return true;
  api_fail(c, 404, "not_found", NULL, "monitoring is not running");
  return false;
}

void api_r_metrics(ctx *c) {
  if (!have_monitor(c))
    return;
  mset *m = mset_new();
  monitor_collect(c->a->c.monitor, m);
  dbuf_reset(&c->r->body);
  mset_render(m, &c->r->body);
  mset_free(m);
  c->r->status = 200;
  c->r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void health(ctx *c, bool ready) {
  if (!have_monitor(c))
    return;
  dbuf_reset(&c->r->body);
  c->r->status = monitor_health(c->a->c.monitor, ready, &c->r->body);
  httpd_resp_header(c->r, "Cache-Control", "no-store");
}

void api_r_healthz(ctx *c) { health(c, false); }
void api_r_readyz(ctx *c) { health(c, true); }

static alert_mgr *mgr(ctx *c) {
  alert_mgr *am = c->a->c.monitor ? monitor_alerts(c->a->c.monitor) : NULL;
  if (!am)
    api_fail(c, 404, "not_found", NULL,
             "alerts are off (the configuration has no 'alerts' section)");
  return am;
}

void api_r_alerts(ctx *c) {
  alert_mgr *am = mgr(c);
  if (!am)
    return;
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"alerts\":");
  alert_list_json(am, monitor_now(c->a->c.monitor), b);
  dbuf_adds(b, ",\"maintenance_window\":");
  dbuf_adds(b, alert_in_window(am, monitor_now(c->a->c.monitor)) ? "true"
                                                                  : "false");
  dbuf_addc(b, '}');
  c->r->status = 200;
}

void api_r_alert_history(ctx *c) {
  if (!have_monitor(c))
    return;
  int64_t limit = 100;
  const char *ls = httpd_query(c->q, "limit");
  if (ls) {
    char *end = NULL;
    long long v = strtoll(ls, &end, 10);
    if (!*ls || *end || v < 1 || v > 1000) {
      api_fail(c, 400, "invalid", "limit", "limit: a whole number, 1 to 1000");
      return;
    }
    limit = v;
  }
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"history\":");
  if (monitor_history_json(c->a->c.monitor, limit, b)) {
    api_fail(c, 503, "unavailable", NULL, "the alert history cannot be read");
    return;
  }
  dbuf_addc(b, '}');
  c->r->status = 200;
}

/* The {id} of the route as an alert or silence id. */
static bool id_param(ctx *c, int64_t *out) {
  char *end = NULL;
  long long v = strtoll(c->param, &end, 10);
  if (!c->param[0] || *end || v < 1) {
    api_fail(c, 404, "not_found", NULL, "no such alert");
    return false;
  }
  *out = v;
  return true;
}

void api_r_alert_ack(ctx *c) {
  alert_mgr *am = mgr(c);
  int64_t id;
  if (!am || !id_param(c, &id))
    return;
  char who[STORE_USER_MAX + 8];
  snprintf(who, sizeof who, "api %s", c->u.name);
  if (alert_ack(am, monitor_now(c->a->c.monitor), (uint64_t)id, who)) {
    api_fail(c, 404, "not_found", NULL, "no firing alert with id %lld",
             (long long)id);
    return;
  }
  api_audit(c, "alert.ack", c->param, "ok", NULL);
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_printf(b, "{\"acknowledged\":%lld,\"by\":", (long long)id);
  dbuf_json_str(b, who);
  dbuf_addc(b, '}');
  c->r->status = 200;
}

void api_r_silences(ctx *c) {
  alert_mgr *am = mgr(c);
  if (!am)
    return;
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"silences\":");
  alert_silences_json(am, monitor_now(c->a->c.monitor), b);
  dbuf_addc(b, '}');
  c->r->status = 200;
}

/* POST {"matchers": {"alertname": "HighCpu", ...}, "duration": "2h" |
 * "ends": TIME, "starts": TIME (default now), "comment": "..."} */
void api_r_silence_post(ctx *c) {
  alert_mgr *am = mgr(c);
  if (!am)
    return;
  static const char *const keys[] = {"matchers", "duration", "starts", "ends",
                                     "comment"};
  if (!api_keys_ok(c, keys, DTO_ARRAY_LEN(keys)))
    return;
  json_t *mj = json_object_get(c->body, "matchers");
  if (!json_is_object(mj) || !json_object_size(mj) ||
      json_object_size(mj) > ALERT_MATCH_MAX) {
    api_fail(c, 400, "invalid", "matchers",
             "matchers: an object of 1 to %d label names and values",
             ALERT_MATCH_MAX);
    return;
  }
  alert_match m[ALERT_MATCH_MAX];
  int nm = 0;
  const char *k;
  json_t *v;
  json_object_foreach(mj, k, v) {
    size_t kl = strlen(k);
    bool ok = kl > 0 && kl < sizeof m[0].key && json_is_string(v) &&
              json_string_length(v) < sizeof m[0].val;
    for (size_t i = 0; ok && i < kl; i++)
      ok = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
           (k[i] >= '0' && k[i] <= '9') || k[i] == '_';
    for (size_t i = 0; ok && i < json_string_length(v); i++)
      ok = (unsigned char)json_string_value(v)[i] >= 0x20;
    if (!ok) {
      api_fail(c, 400, "invalid", "matchers",
               "matchers: each a label name (letters, digits, _) and a string "
               "value of at most %zu bytes",
               sizeof m[0].val - 1);
      return;
    }
    memset(&m[nm], 0, sizeof m[nm]);
    snprintf(m[nm].key, sizeof m[nm].key, "%s", k);
    snprintf(m[nm].val, sizeof m[nm].val, "%s", json_string_value(v));
    nm++;
  }
  dto_time now = monitor_now(c->a->c.monitor), starts = now, ends = 0;
  const char *s = NULL;
  if (!api_str(c, "starts", false, 40, &s))
    return;
  if (s && time_parse_cstr(s, &starts)) {
    api_fail(c, 400, "invalid", "starts", "starts: an ISO-8601 time");
    return;
  }
  if (!api_str(c, "ends", false, 40, &s))
    return;
  if (s && time_parse_cstr(s, &ends)) {
    api_fail(c, 400, "invalid", "ends", "ends: an ISO-8601 time");
    return;
  }
  if (!api_str(c, "duration", false, 20, &s))
    return;
  if (s) {
    dto_time d = 0;
    if (ends || duration_parse(s, &d) || d <= 0 ||
        d > 30 * DTO_NS_PER_DAY) {
      api_fail(c, 400, "invalid", "duration",
               "duration: such as 30m or 2h, at most 30 days, and not with "
               "ends");
      return;
    }
    ends = starts + d;
  }
  if (!ends || ends <= starts || ends <= now ||
      ends - starts > 30 * DTO_NS_PER_DAY) {
    api_fail(c, 400, "invalid", "ends",
             "give duration, or ends after starts and after now (at most 30 "
             "days)");
    return;
  }
  const char *comment = NULL;
  if (!api_str(c, "comment", true, 199, &comment))
    return;
  char who[STORE_USER_MAX + 8];
  snprintf(who, sizeof who, "api %s", c->u.name);
  int64_t id = alert_silence(am, m, nm, starts, ends, who, comment);
  if (id < 0) {
    api_fail(c, 409, "conflict", NULL, "too many silences");
    return;
  }
  char tgt[24];
  snprintf(tgt, sizeof tgt, "%lld", (long long)id);
  api_audit(c, "alert.silence", tgt, "ok", NULL);
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_printf(b, "{\"id\":%lld}", (long long)id);
  c->r->status = 201;
}

void api_r_silence_delete(ctx *c) {
  alert_mgr *am = mgr(c);
  int64_t id;
  if (!am || !id_param(c, &id))
    return;
  if (alert_unsilence(am, monitor_now(c->a->c.monitor), id)) {
    api_fail(c, 404, "not_found", NULL, "no active silence with id %lld",
             (long long)id);
    return;
  }
  api_audit(c, "alert.unsilence", c->param, "ok", NULL);
  c->r->status = 204;
  dbuf_reset(&c->r->body);
}
