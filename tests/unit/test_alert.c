/* test_alert.c - alert rules and handling on an injected clock and injected
 * metric values: every built-in rule fires after its duration, is
 * notified once (deduplicated), escalates when nobody acknowledges it,
 * resolves and is notified resolved; grouping, repeats, silences,
 * maintenance windows and event alerts.
 *
 * The thresholds, durations and severities expected here are the
 * production checklist's, written out again in this file (not read from
 * alert.c's table), so a changed built-in rule fails here. */
#include "core/prelude.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "ops/alert.h"
#include "ops/prom.h"

#define T0 (1796688000LL * DTO_NS_PER_SEC) /* 2026-12-08T00:00:00Z */
#define SEC DTO_NS_PER_SEC
#define MIN DTO_NS_PER_MIN

/* ---- a sink that remembers ---------------------------------------------- */

typedef struct sent {
  char channel[64];
  notify_msg m;
} sent;

typedef struct rec {
  sent s[256];
  int ns;
  char events[512][24];
  char names[512][64];
  int nr;
} rec;

static void on_notify(void *ctx, const char *channel, const notify_msg *m) {
  rec *r = ctx;
  assert_true(r->ns < 256);
  snprintf(r->s[r->ns].channel, sizeof r->s[0].channel, "%s", channel);
  r->s[r->ns].m = *m;
  r->ns++;
}

static void on_record(void *ctx, const alert_record *a) {
  rec *r = ctx;
  if (r->nr >= 512)
    return;
  snprintf(r->events[r->nr], sizeof r->events[0], "%s", a->event);
  snprintf(r->names[r->nr], sizeof r->names[0], "%s", a->alert->name);
  r->nr++;
}

static int count_events(const rec *r, const char *ev, const char *name) {
  int n = 0;
  for (int i = 0; i < r->nr; i++)
    n += !strcmp(r->events[i], ev) && !strcmp(r->names[i], name);
  return n;
}

static alert_mgr *mgr_with(rec *r, alert_conf *c, const alert_rule *rules,
                           size_t n) {
  memset(r, 0, sizeof *r);
  c->rules = (alert_rule *)rules;
  c->nrules = n;
  alert_sink sk = {.notify = on_notify, .record = on_record, .ctx = r};
  return alert_mgr_new(c, &sk);
}

static void route(alert_conf *c, enum alert_sev s, const char *ch,
                  const char *esc1, const char *esc2) {
  alert_route *ro = &c->routes[s];
  memset(ro, 0, sizeof *ro);
  snprintf(ro->ch[0], sizeof ro->ch[0], "%s", ch);
  ro->nch = 1;
  if (esc1)
    snprintf(ro->esc[ro->nesc++], sizeof ro->esc[0], "%s", esc1);
  if (esc2)
    snprintf(ro->esc[ro->nesc++], sizeof ro->esc[0], "%s", esc2);
}

/* ---- expressions --------------------------------------------------------- */

static void test_expr(void **state) {
  (void)state;
  alert_rule r;
  memset(&r, 0, sizeof r);
  char err[256];
  assert_int_equal(alert_rule_expr(&r, "dto_x > 80", err, sizeof err), 0);
  assert_string_equal(r.metric, "dto_x");
  assert_int_equal(r.op, AOP_GT);
  assert_true(r.threshold == 80);
  assert_int_equal(r.nm, 0);
  assert_int_equal(
      alert_rule_expr(&r, "dto_disk_percent{kind=\"data\", path!=\"/x\"} >= 9.5",
                      err, sizeof err),
      0);
  assert_int_equal(r.nm, 2);
  assert_string_equal(r.m[0].key, "kind");
  assert_string_equal(r.m[0].val, "data");
  assert_false(r.m[0].neg);
  assert_true(r.m[1].neg);
  assert_int_equal(r.op, AOP_GE);
  assert_true(r.threshold == 9.5);
  assert_int_equal(alert_rule_expr(&r, "up==0", err, sizeof err), 0);
  assert_int_equal(r.op, AOP_EQ);
  assert_int_equal(alert_rule_expr(&r, "a < -1e3", err, sizeof err), 0);
  assert_true(r.threshold == -1000);
  static const struct {
    const char *e, *why;
  } bad[] = {
      {"", "metric name"},
      {"9x > 1", "metric name"},
      {"x", "expected one of"},
      {"x >", "number"},
      {"x > abc", "number"},
      {"x > 1 extra", "after the number"},
      {"x{a=\"1\" > 2", "expected , or }"},
      {"x{a=1} > 2", "quoted"},
      {"x{a=~\"1\"} > 2", "= or !="},
      {"x > inf", "finite"},
      {"rate(x[5m]) > 1", "expected one of"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    alert_rule keep = r;
    err[0] = '\0';
    assert_int_equal(alert_rule_expr(&r, bad[i].e, err, sizeof err),
                     DTO_EPARSE);
    assert_non_null(strstr(err, bad[i].why));
    assert_memory_equal(&keep, &r, sizeof r); /* unchanged on failure */
  }
}

/* ---- every built-in rule -------------------------------------------------- */

/* The checklist's thresholds, restated: the metric, a value past the
 * threshold, one inside it, the labels of the series, the duration and
 * the severity. */
static const struct {
  const char *name, *metric;
  double bad, good;
  const char *lk, *lv;
  int for_s;
  enum alert_sev sev;
} checklist[] = {
    {"HighCpu", "dto_system_cpu_percent", 80.5, 80, NULL, NULL, 120,
     SEV_WARNING},
    {"HighMemory", "dto_system_memory_percent", 86, 85, NULL, NULL, 120,
     SEV_WARNING},
    {"DiskAlmostFull", "dto_disk_percent", 90.1, 90, "kind", "data", 60,
     SEV_CRITICAL},
    {"ApiErrorRate", "dto_http_error_ratio", 0.011, 0.01, NULL, NULL, 300,
     SEV_WARNING},
    {"ApiSlow", "dto_http_p99_seconds", 0.51, 0.5, NULL, NULL, 300,
     SEV_WARNING},
    {"StoreSlowQuery", "dto_store_query_max_seconds", 1.2, 1.0, NULL, NULL, 0,
     SEV_WARNING},
    {"StoreDown", "dto_store_up", 0, 1, NULL, NULL, 0, SEV_CRITICAL},
    {"BrokerDisconnected", "dto_broker_connected", 0, 1, "broker", "alpaca",
     60, SEV_CRITICAL},
    {"MarketDataStale", "dto_market_data_stale", 1, 0, NULL, NULL, 0,
     SEV_WARNING},
    {"TradeExecutionFailures", "dto_order_failures_recent", 2, 0, NULL, NULL,
     0, SEV_WARNING},
    {"DailyLossNearLimit", "dto_daily_loss_ratio", 0.85, 0.8, "account",
     "main", 0, SEV_CRITICAL},
    {"PnlAnomaly", "dto_pnl_jump_ratio", 0.03, 0.02, "account", "main", 0,
     SEV_WARNING},
    {"KillSwitchEngaged", "dto_kill_switch_engaged", 1, 0, NULL, NULL, 0,
     SEV_CRITICAL},
    {"BackupFailed", "dto_backup_last_failed", 1, 0, "kind", "log", 0,
     SEV_CRITICAL},
    {"BackupOverdue", "dto_backup_overdue", 1, 0, "kind", "full", 0,
     SEV_WARNING},
    {"BackupVerifyFailed", "dto_backup_verify_last_ok", 0, 1, NULL, NULL, 0,
     SEV_CRITICAL},
};

static void set_value(mset *m, const char *metric, double v, const char *lk,
                      const char *lv) {
  mset_reset(m);
  mset_family(m, "dto_unrelated", MT_GAUGE, "noise");
  mset_add(m, 1e9, NULL);
  mset_family(m, metric, MT_GAUGE, "the value under test");
  if (lk)
    mset_add(m, v, lk, lv, NULL);
  else
    mset_add(m, v, NULL);
}

static void test_default_rules(void **state) {
  (void)state;
  size_t nd = 0;
  const alert_rule *d = alert_default_rules(&nd);
  assert_int_equal(nd, DTO_ARRAY_LEN(checklist));
  for (size_t i = 0; i < DTO_ARRAY_LEN(checklist); i++) {
    /* the built-in rule of this name, alone */
    const alert_rule *r = NULL;
    for (size_t k = 0; k < nd; k++)
      if (!strcmp(d[k].name, checklist[i].name))
        r = &d[k];
    assert_non_null(r);
    assert_int_equal(r->sev, checklist[i].sev);
    assert_int_equal(r->for_, checklist[i].for_s * SEC);
    alert_conf c;
    alert_conf_defaults(&c);
    route(&c, SEV_WARNING, "chat", NULL, NULL);
    route(&c, SEV_CRITICAL, "pager", "phone", NULL);
    rec *rc = calloc(1, sizeof *rc);
    alert_mgr *a = mgr_with(rc, &c, r, 1);
    mset *m = mset_new();
    const char *ch = checklist[i].sev == SEV_CRITICAL ? "pager" : "chat";
    /* inside the threshold: nothing */
    set_value(m, checklist[i].metric, checklist[i].good, checklist[i].lk,
              checklist[i].lv);
    alert_eval(a, T0, m);
    assert_int_equal(rc->ns, 0);
    /* past it: pending for the rule's duration, then firing */
    set_value(m, checklist[i].metric, checklist[i].bad, checklist[i].lk,
              checklist[i].lv);
    dto_time t = T0 + SEC;
    alert_eval(a, t, m);
    if (checklist[i].for_s > 0) {
      assert_int_equal(rc->ns, 0);
      alert_eval(a, t + checklist[i].for_s * SEC - SEC, m);
      assert_int_equal(rc->ns, 0);
      alert_eval(a, t + checklist[i].for_s * SEC, m);
    }
    assert_int_equal(rc->ns, 1);
    assert_string_equal(rc->s[0].channel, ch);
    assert_int_equal(rc->s[0].m.status, NOTIFY_FIRING);
    assert_int_equal(rc->s[0].m.nalerts, 1);
    assert_string_equal(rc->s[0].m.alerts[0].name, checklist[i].name);
    assert_string_equal(rc->s[0].m.alerts[0].severity,
                        alert_sev_name(checklist[i].sev));
    assert_true(rc->s[0].m.alerts[0].value == checklist[i].bad);
    assert_true(strlen(rc->s[0].m.alerts[0].summary) > 0);
    assert_null(strstr(rc->s[0].m.alerts[0].summary, "{{"));
    /* still past it a while later: deduplicated */
    dto_time fired = t + checklist[i].for_s * SEC;
    alert_eval(a, fired + 30 * SEC, m);
    alert_eval(a, fired + 5 * MIN, m);
    int after = rc->ns;
    if (checklist[i].sev == SEV_CRITICAL) {
      /* nobody acknowledged it within 10 minutes: the next channel */
      assert_int_equal(after, 1);
      alert_eval(a, fired + 10 * MIN, m);
      assert_int_equal(rc->ns, 2);
      assert_string_equal(rc->s[1].channel, "phone");
      assert_true(rc->s[1].m.escalation);
    } else {
      assert_int_equal(after, 1);
    }
    /* back inside: resolved, and told */
    int before = rc->ns;
    set_value(m, checklist[i].metric, checklist[i].good, checklist[i].lk,
              checklist[i].lv);
    alert_eval(a, fired + 11 * MIN, m);
    assert_int_equal(rc->ns, before + 1);
    assert_int_equal(rc->s[before].m.status, NOTIFY_RESOLVED);
    assert_true(rc->s[before].m.alerts[0].ended == fired + 11 * MIN);
    assert_int_equal(count_events(rc, "firing", checklist[i].name), 1);
    assert_int_equal(count_events(rc, "resolved", checklist[i].name), 1);
    alert_eval(a, fired + 12 * MIN, m);
    assert_int_equal(rc->ns, before + 1);
    mset_free(m);
    alert_mgr_free(a);
    free(rc);
  }
}

/* ---- handling -------------------------------------------------------------- */

static alert_rule rule(const char *name, const char *expr, int for_s,
                       enum alert_sev sev) {
  alert_rule r;
  memset(&r, 0, sizeof r);
  snprintf(r.name, sizeof r.name, "%s", name);
  assert_int_equal(alert_rule_expr(&r, expr, NULL, 0), 0);
  r.for_ = for_s * SEC;
  r.sev = sev;
  return r;
}

static void test_ack_stops_escalation_and_repeats(void **state) {
  (void)state;
  alert_rule r = rule("Down", "up == 0", 0, SEV_CRITICAL);
  alert_conf c;
  alert_conf_defaults(&c);
  route(&c, SEV_CRITICAL, "a", "b", "c");
  rec *rc = calloc(1, sizeof *rc);
  alert_mgr *a = mgr_with(rc, &c, &r, 1);
  mset *m = mset_new();
  set_value(m, "up", 0, NULL, NULL);
  alert_eval(a, T0, m);
  assert_int_equal(rc->ns, 1);
  /* escalation steps every 10 minutes, in order */
  alert_eval(a, T0 + 10 * MIN, m);
  assert_int_equal(rc->ns, 2);
  assert_string_equal(rc->s[1].channel, "b");
  alert_eval(a, T0 + 15 * MIN, m);
  assert_int_equal(rc->ns, 2);
  alert_eval(a, T0 + 20 * MIN, m);
  assert_int_equal(rc->ns, 3);
  assert_string_equal(rc->s[2].channel, "c");
  alert_eval(a, T0 + 40 * MIN, m); /* no further step */
  assert_int_equal(rc->ns, 3);
  /* a repeat after 4 hours unacknowledged */
  alert_eval(a, T0 + 4 * DTO_NS_PER_HOUR, m);
  assert_int_equal(rc->ns, 4);
  assert_string_equal(rc->s[3].channel, "a");
  assert_false(rc->s[3].m.escalation);
  /* acknowledged: no more repeats */
  assert_int_equal(alert_ack(a, T0 + 5 * DTO_NS_PER_HOUR, 999, "x"),
                   DTO_ENOENT);
  assert_int_equal(alert_ack(a, T0 + 5 * DTO_NS_PER_HOUR, 1, "alice"), 0);
  assert_int_equal(count_events(rc, "acked", "Down"), 1);
  alert_eval(a, T0 + 9 * DTO_NS_PER_HOUR, m);
  assert_int_equal(rc->ns, 4);
  dbuf b;
  dbuf_init(&b, 1 << 20);
  alert_list_json(a, T0 + 9 * DTO_NS_PER_HOUR, &b);
  assert_non_null(strstr(b.ptr, "\"acked_by\":\"alice\""));
  assert_non_null(strstr(b.ptr, "\"state\":\"firing\""));
  dbuf_release(&b);
  /* resolution is still told */
  set_value(m, "up", 1, NULL, NULL);
  alert_eval(a, T0 + 10 * DTO_NS_PER_HOUR, m);
  assert_int_equal(rc->ns, 5);
  assert_int_equal(rc->s[4].m.status, NOTIFY_RESOLVED);
  mset_free(m);
  alert_mgr_free(a);
  free(rc);
}

static void test_ack_before_escalation(void **state) {
  (void)state;
  alert_rule r = rule("Down", "up == 0", 0, SEV_CRITICAL);
  alert_conf c;
  alert_conf_defaults(&c);
  route(&c, SEV_CRITICAL, "a", "b", NULL);
  rec *rc = calloc(1, sizeof *rc);
  alert_mgr *a = mgr_with(rc, &c, &r, 1);
  mset *m = mset_new();
  set_value(m, "up", 0, NULL, NULL);
  alert_eval(a, T0, m);
  assert_int_equal(alert_ack(a, T0 + MIN, 1, "bob"), 0);
  alert_eval(a, T0 + 30 * MIN, m);
  assert_int_equal(rc->ns, 1); /* never escalated */
  mset_free(m);
  alert_mgr_free(a);
  free(rc);
}

static void test_grouping(void **state) {
  (void)state;
  alert_rule r = rule("DiskAlmostFull", "dto_disk_percent > 90", 0,
                      SEV_WARNING);
  alert_conf c;
  alert_conf_defaults(&c);
  route(&c, SEV_WARNING, "chat", NULL, NULL);
  rec *rc = calloc(1, sizeof *rc);
  alert_mgr *a = mgr_with(rc, &c, &r, 1);
  mset *m = mset_new();
  mset_family(m, "dto_disk_percent", MT_GAUGE, "x");
  mset_add(m, 95, "kind", "data", NULL);
  mset_add(m, 50, "kind", "log", NULL);
  alert_eval(a, T0, m);
  assert_int_equal(rc->ns, 1);
  assert_int_equal(rc->s[0].m.nalerts, 1);
  /* a second series joins the group: one notification with both */
  mset_reset(m);
  mset_family(m, "dto_disk_percent", MT_GAUGE, "x");
  mset_add(m, 95, "kind", "data", NULL);
  mset_add(m, 97, "kind", "log", NULL);
  alert_eval(a, T0 + MIN, m);
  assert_int_equal(rc->ns, 2);
  assert_int_equal(rc->s[1].m.nalerts, 2);
  assert_string_equal(rc->s[1].m.group, "alertname=DiskAlmostFull");
  /* unchanged: nothing */
  alert_eval(a, T0 + 2 * MIN, m);
  assert_int_equal(rc->ns, 2);
  /* one resolves: the group's new state, with the resolved one once */
  mset_reset(m);
  mset_family(m, "dto_disk_percent", MT_GAUGE, "x");
  mset_add(m, 95, "kind", "data", NULL);
  mset_add(m, 10, "kind", "log", NULL);
  alert_eval(a, T0 + 3 * MIN, m);
  assert_int_equal(rc->ns, 3);
  assert_int_equal(rc->s[2].m.status, NOTIFY_FIRING);
  assert_int_equal(rc->s[2].m.nalerts, 2);
  int resolved = 0;
  for (int i = 0; i < 2; i++)
    resolved += rc->s[2].m.alerts[i].ended != 0;
  assert_int_equal(resolved, 1);
  alert_eval(a, T0 + 4 * MIN, m);
  assert_int_equal(rc->ns, 3);
  mset_free(m);
  alert_mgr_free(a);
  free(rc);
}

static void test_silence_and_window(void **state) {
  (void)state;
  alert_rule r = rule("Hot", "temp > 1", 0, SEV_WARNING);
  alert_conf c;
  alert_conf_defaults(&c);
  route(&c, SEV_WARNING, "chat", NULL, NULL);
  /* a maintenance window every day 02:00 UTC for an hour */
  assert_int_equal(sched_parse("0 2 * * * UTC", &c.windows[0].start, NULL, 0),
                   0);
  c.windows[0].length = DTO_NS_PER_HOUR;
  c.nwindows = 1;
  rec *rc = calloc(1, sizeof *rc);
  alert_mgr *a = mgr_with(rc, &c, &r, 1);
  mset *m = mset_new();
  /* silenced from T0 to T0+10m */
  alert_match sm;
  memset(&sm, 0, sizeof sm);
  snprintf(sm.key, sizeof sm.key, "alertname");
  snprintf(sm.val, sizeof sm.val, "Hot");
  assert_int_equal(alert_silence(a, &sm, 0, T0, T0 + 1, "x", ""), DTO_EINVAL);
  assert_int_equal(alert_silence(a, &sm, 1, T0, T0, "x", ""), DTO_EINVAL);
  int64_t sid = alert_silence(a, &sm, 1, T0, T0 + 10 * MIN, "ops", "deploy");
  assert_true(sid > 0);
  set_value(m, "temp", 5, NULL, NULL);
  alert_eval(a, T0 + MIN, m);
  assert_int_equal(rc->ns, 0);
  assert_int_equal(count_events(rc, "firing", "Hot"), 1);
  assert_int_equal(count_events(rc, "silenced", "Hot"), 1);
  alert_eval(a, T0 + 10 * MIN, m); /* the silence is over */
  assert_int_equal(rc->ns, 1);
  /* resolved inside the maintenance window: kept back until it closes */
  set_value(m, "temp", 0, NULL, NULL);
  assert_false(alert_in_window(a, T0 + 2 * DTO_NS_PER_HOUR - 1));
  assert_true(alert_in_window(a, T0 + 2 * DTO_NS_PER_HOUR));
  assert_true(alert_in_window(a, T0 + 3 * DTO_NS_PER_HOUR - 1));
  assert_false(alert_in_window(a, T0 + 3 * DTO_NS_PER_HOUR));
  alert_eval(a, T0 + 2 * DTO_NS_PER_HOUR + MIN, m);
  assert_int_equal(rc->ns, 1);
  alert_eval(a, T0 + 3 * DTO_NS_PER_HOUR, m);
  assert_int_equal(rc->ns, 2);
  assert_int_equal(rc->s[1].m.status, NOTIFY_RESOLVED);
  /* a silence ended early */
  int64_t s2 = alert_silence(a, &sm, 1, T0 + 4 * DTO_NS_PER_HOUR,
                             T0 + 8 * DTO_NS_PER_HOUR, "ops", "");
  assert_int_equal(alert_unsilence(a, T0 + 4 * DTO_NS_PER_HOUR + MIN, s2), 0);
  assert_int_equal(alert_unsilence(a, T0 + 4 * DTO_NS_PER_HOUR + MIN, 777),
                   DTO_ENOENT);
  set_value(m, "temp", 5, NULL, NULL);
  alert_eval(a, T0 + 5 * DTO_NS_PER_HOUR, m);
  assert_int_equal(rc->ns, 3);
  mset_free(m);
  alert_mgr_free(a);
  free(rc);
}

static void test_event_alerts(void **state) {
  (void)state;
  alert_conf c;
  alert_conf_defaults(&c);
  route(&c, SEV_CRITICAL, "pager", NULL, NULL);
  route(&c, SEV_WARNING, "chat", NULL, NULL);
  rec *rc = calloc(1, sizeof *rc);
  alert_mgr *a = mgr_with(rc, &c, NULL, 0);
  alert_raise(a, T0, "risk_halted", SEV_CRITICAL, "strategy s1 halted",
              "strategy", "s1", NULL);
  assert_int_equal(rc->ns, 1);
  assert_string_equal(rc->s[0].channel, "pager");
  assert_string_equal(rc->s[0].m.alerts[0].summary, "strategy s1 halted");
  alert_raise(a, T0 + SEC, "risk_halted", SEV_CRITICAL, "again", "strategy",
              "s1", NULL);
  assert_int_equal(rc->ns, 1); /* the same alert: no second notification */
  alert_raise(a, T0 + 2 * SEC, "risk_halted", SEV_CRITICAL, "s2 too",
              "strategy", "s2", NULL);
  assert_int_equal(rc->ns, 2); /* the group changed */
  assert_int_equal(rc->s[1].m.nalerts, 2);
  alert_clear(a, T0 + 3 * SEC, "risk_halted", "strategy", "s1");
  assert_int_equal(rc->ns, 3);
  assert_int_equal(rc->s[2].m.status, NOTIFY_FIRING); /* s2 still is */
  /* nobody clears s2: it resolves after resolve_after */
  alert_eval(a, T0 + 2 * SEC + DTO_NS_PER_HOUR - SEC, NULL);
  assert_int_equal(rc->ns, 3);
  alert_eval(a, T0 + 2 * SEC + DTO_NS_PER_HOUR, NULL);
  assert_int_equal(rc->ns, 4);
  assert_int_equal(rc->s[3].m.status, NOTIFY_RESOLVED);
  alert_counts ac;
  alert_counts_get(a, &ac);
  assert_int_equal(ac.firing[SEV_CRITICAL], 0);
  assert_int_equal(ac.notifications, 4);
  alert_mgr_free(a);
  free(rc);
}

static void test_summary_template_and_nan(void **state) {
  (void)state;
  alert_rule r = rule("Disk", "dto_disk_percent > 90", 0, SEV_WARNING);
  static const char tpl[] = "{{kind}} at {{value}}% {{nope}}!";
  memcpy(r.summary, tpl, sizeof tpl);
  alert_conf c;
  alert_conf_defaults(&c);
  route(&c, SEV_WARNING, "chat", NULL, NULL);
  rec *rc = calloc(1, sizeof *rc);
  alert_mgr *a = mgr_with(rc, &c, &r, 1);
  mset *m = mset_new();
  set_value(m, "dto_disk_percent", 93.25, "kind", "log");
  alert_eval(a, T0, m);
  assert_int_equal(rc->ns, 1);
  assert_string_equal(rc->s[0].m.alerts[0].summary, "log at 93.25% !");
  /* NaN never crosses a threshold: the alert resolves */
  set_value(m, "dto_disk_percent", NAN, "kind", "log");
  alert_eval(a, T0 + MIN, m);
  assert_int_equal(rc->ns, 2);
  assert_int_equal(rc->s[1].m.status, NOTIFY_RESOLVED);
  mset_free(m);
  alert_mgr_free(a);
  free(rc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expr),
      cmocka_unit_test(test_default_rules),
      cmocka_unit_test(test_ack_stops_escalation_and_repeats),
      cmocka_unit_test(test_ack_before_escalation),
      cmocka_unit_test(test_grouping),
      cmocka_unit_test(test_silence_and_window),
      cmocka_unit_test(test_event_alerts),
      cmocka_unit_test(test_summary_template_and_nan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
