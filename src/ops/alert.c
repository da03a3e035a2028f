/* alert.c - alert rules and alert handling (see alert.h). */
#include "ops/alert.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

/* ---- names --------------------------------------------------------------- */

static const char *const sev_names[SEV_COUNT] = {"info", "warning", "critical"};

const char *alert_sev_name(enum alert_sev s) {
  return (unsigned)s < SEV_COUNT ? sev_names[s] : "?";
}

int alert_sev_parse(const char *s, enum alert_sev *out) {
  for (int i = 0; i < SEV_COUNT; i++)
    if (!strcmp(s, sev_names[i])) {
      *out = (enum alert_sev)i;
      return 0;
    }
  return DTO_EINVAL;
}

const char *alert_state_name(enum alert_state s) {
  static const char *const n[] = {"inactive", "pending", "firing", "resolved"};
  return (unsigned)s < DTO_ARRAY_LEN(n) ? n[s] : "?";
}

/* ---- expressions --------------------------------------------------------- */

static bool name_start(int c) { return isalpha(c) || c == '_' || c == ':'; }
static bool name_char(int c) { return isalnum(c) || c == '_' || c == ':'; }

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

int alert_rule_expr(alert_rule *r, const char *expr, char *err, size_t cap) {
  alert_rule t = *r;
  const char *p = skip_ws(expr);
  size_t n = 0;
  if (strlen(expr) >= sizeof t.expr) {
    dto_seterr(err, cap, "expr: longer than %zu characters", sizeof t.expr - 1);
    return DTO_EPARSE;
  }
#define BAD(...)                                                               \
  do {                                                                         \
    char m_[160];                                                              \
    snprintf(m_, sizeof m_, __VA_ARGS__);                                      \
    dto_seterr(err, cap, "expr '%s': %s", expr, m_);                           \
    return DTO_EPARSE;                                                         \
  } while (0)
  if (!name_start((unsigned char)*p))
    BAD("expected a metric name first");
  while (name_char((unsigned char)p[n]))
    n++;
  if (n >= sizeof t.metric)
    BAD("the metric name is too long");
  memcpy(t.metric, p, n);
  t.metric[n] = '\0';
  p = skip_ws(p + n);
  t.nm = 0;
  if (*p == '{') {
    p = skip_ws(p + 1);
    while (*p != '}') {
      if (t.nm == ALERT_MATCH_MAX)
        BAD("at most %d label matchers", ALERT_MATCH_MAX);
      alert_match *m = &t.m[t.nm];
      n = 0;
      if (!isalpha((unsigned char)*p) && *p != '_')
        BAD("expected a label name");
      while (isalnum((unsigned char)p[n]) || p[n] == '_')
        n++;
      if (n >= sizeof m->key)
        BAD("a label name is too long");
      memcpy(m->key, p, n);
      m->key[n] = '\0';
      p = skip_ws(p + n);
      m->neg = false;
      if (p[0] == '!' && p[1] == '=') {
        m->neg = true;
        p += 2;
      } else if (p[0] == '=' && p[1] != '=' && p[1] != '~') {
        p++;
      } else {
        BAD("expected = or != after label '%s'", m->key);
      }
      p = skip_ws(p);
      if (*p != '"')
        BAD("expected a quoted value for label '%s'", m->key);
      p++;
      n = 0;
      while (p[n] && p[n] != '"') {
        if (p[n] == '\\')
          BAD("escapes are not supported in label values");
        n++;
      }
      if (!p[n])
        BAD("unterminated label value");
      if (n >= sizeof m->val)
        BAD("a label value is too long");
      memcpy(m->val, p, n);
      m->val[n] = '\0';
      p = skip_ws(p + n + 1);
      t.nm++;
      if (*p == ',')
        p = skip_ws(p + 1);
      else if (*p != '}')
        BAD("expected , or } after a matcher");
    }
    p = skip_ws(p + 1);
  }
  static const struct {
    const char *s;
    enum alert_op op;
  } ops[] = {{">=", AOP_GE}, {"<=", AOP_LE}, {"==", AOP_EQ},
             {"!=", AOP_NE}, {">", AOP_GT},  {"<", AOP_LT}};
  size_t k = 0;
  while (k < DTO_ARRAY_LEN(ops) && strncmp(p, ops[k].s, strlen(ops[k].s)))
    k++;
  if (k == DTO_ARRAY_LEN(ops))
    BAD("expected one of > >= < <= == != after the metric");
  t.op = ops[k].op;
  p = skip_ws(p + strlen(ops[k].s));
  if (!*p)
    BAD("expected a number after the comparison");
  char *end = NULL;
  double v = strtod(p, &end);
  if (end == p || !isfinite(v))
    BAD("expected a finite number after the comparison");
  p = skip_ws(end);
  if (*p)
    BAD("unexpected text after the number");
#undef BAD
  t.threshold = v;
  snprintf(t.expr, sizeof t.expr, "%s", expr);
  *r = t;
  return 0;
}

static bool holds(enum alert_op op, double v, double t) {
  if (isnan(v))
    return false;
  switch (op) {
  case AOP_GT:
    return v > t;
  case AOP_GE:
    return v >= t;
  case AOP_LT:
    return v < t;
  case AOP_LE:
    return v <= t;
  case AOP_EQ:
    return v == t;
  default:
    return v != t;
  }
}

/* ---- the built-in rules -------------------------------------------------- */

static const struct {
  const char *name, *expr;
  int for_s;
  enum alert_sev sev;
  const char *summary;
} defaults[] = {
    {"HighCpu", "dto_system_cpu_percent > 80", 120, SEV_WARNING,
     "CPU busy {{value}}% (over 80%)"},
    {"HighMemory", "dto_system_memory_percent > 85", 120, SEV_WARNING,
     "memory used {{value}}% (over 85%)"},
    {"DiskAlmostFull", "dto_disk_percent > 90", 60, SEV_CRITICAL,
     "disk of {{kind}} ({{path}}) {{value}}% full (over 90%)"},
    {"ApiErrorRate", "dto_http_error_ratio > 0.01", 300, SEV_WARNING,
     "API error ratio {{value}} over 5 minutes (over 1%)"},
    {"ApiSlow", "dto_http_p99_seconds > 0.5", 300, SEV_WARNING,
     "API p99 latency {{value}} s over 5 minutes (over 500 ms)"},
    {"StoreSlowQuery", "dto_store_query_max_seconds > 1", 0, SEV_WARNING,
     "a store query took {{value}} s (over 1000 ms)"},
    {"StoreDown", "dto_store_up == 0", 0, SEV_CRITICAL,
     "the store cannot be reached: trading is halted"},
    {"BrokerDisconnected", "dto_broker_connected == 0", 60, SEV_CRITICAL,
     "{{broker}} {{stream}} disconnected"},
    {"MarketDataStale", "dto_market_data_stale == 1", 0, SEV_WARNING,
     "market data stale while the market is open"},
    {"TradeExecutionFailures", "dto_order_failures_recent > 0", 0, SEV_WARNING,
     "{{value}} order(s) rejected in the last 5 minutes"},
    {"DailyLossNearLimit", "dto_daily_loss_ratio > 0.8", 0, SEV_CRITICAL,
     "account {{account}} day loss at {{value}} of its limit"},
    {"PnlAnomaly", "dto_pnl_jump_ratio > 0.02", 0, SEV_WARNING,
     "account {{account}} equity moved {{value}} of itself within a minute"},
    {"KillSwitchEngaged", "dto_kill_switch_engaged == 1", 0, SEV_CRITICAL,
     "the kill switch is engaged: no new orders"},
    {"BackupFailed", "dto_backup_last_failed == 1", 0, SEV_CRITICAL,
     "the last {{kind}} backup failed"},
    {"BackupOverdue", "dto_backup_overdue == 1", 0, SEV_WARNING,
     "no {{kind}} backup succeeded within its limit"},
    {"BackupVerifyFailed", "dto_backup_verify_last_ok == 0", 0, SEV_CRITICAL,
     "the last backup verification failed"},
};

static alert_rule default_rules[DTO_ARRAY_LEN(defaults)];
static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;

static void build_defaults(void) {
  for (size_t i = 0; i < DTO_ARRAY_LEN(defaults); i++) {
    alert_rule *r = &default_rules[i];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", defaults[i].name);
    int rc = alert_rule_expr(r, defaults[i].expr, NULL, 0);
    DTO_ASSERT(rc == 0);
    r->for_ = defaults[i].for_s * DTO_NS_PER_SEC;
    r->sev = defaults[i].sev;
    snprintf(r->summary, sizeof r->summary, "%s", defaults[i].summary);
  }
}

const alert_rule *alert_default_rules(size_t *n) {
  pthread_once(&defaults_once, build_defaults);
  *n = DTO_ARRAY_LEN(defaults);
  return default_rules;
}

void alert_conf_defaults(alert_conf *c) {
  memset(c, 0, sizeof *c);
  c->group_wait = 0;
  c->repeat_interval = 4 * DTO_NS_PER_HOUR;
  c->escalate_after = 10 * DTO_NS_PER_MIN;
  c->resolve_after = DTO_NS_PER_HOUR;
  c->send_resolved = true;
}

/* ---- the manager --------------------------------------------------------- */

typedef struct live {
  uint64_t id, fp;
  int rule; /* index into a->rules, or -1: an event alert */
  enum alert_state st;
  notify_alert na;
  dto_time since;     /* pending since */
  dto_time last_seen; /* condition last held, or last raised */
  dto_time resolved;  /* 0 while not */
  bool seen;          /* held in this evaluation */
  bool notified_resolved; /* its resolution went out (or was not to) */
  bool silenced;
  char acked_by[64];
  char group[256];
} live;

typedef struct group {
  char key[256];
  uint64_t last_hash; /* the state last notified; 0: never */
  dto_time first;     /* seen first */
  dto_time last_sent;
  dto_time fired;     /* first firing of the current episode */
  int esc_step;
  bool used;
} group;

typedef struct silence {
  int64_t id;
  alert_match m[ALERT_MATCH_MAX];
  int nm;
  dto_time starts, ends;
  char who[64], comment[200];
} silence;

#define SILENCES_MAX 256

struct alert_mgr {
  pthread_mutex_t mu;
  alert_conf c;
  alert_rule *rules;
  alert_sink sink;
  live *v;
  size_t n;
  group *g;
  size_t ng;
  silence s[SILENCES_MAX];
  int ns;
  int64_t next_silence;
  uint64_t next_id, next_msg;
  uint64_t notifications, escalations, nsilenced;
};

alert_mgr *alert_mgr_new(const alert_conf *conf, const alert_sink *sink) {
  alert_mgr *a = xcalloc(1, sizeof *a);
  pthread_mutex_init(&a->mu, NULL);
  a->c = *conf;
  a->rules = xcalloc(conf->nrules ? conf->nrules : 1, sizeof *a->rules);
  if (conf->nrules)
    memcpy(a->rules, conf->rules, conf->nrules * sizeof *a->rules);
  a->c.rules = a->rules;
  if (sink)
    a->sink = *sink;
  a->v = xcalloc(ALERT_LIVE_MAX, sizeof *a->v);
  a->g = xcalloc(ALERT_LIVE_MAX, sizeof *a->g);
  a->next_id = 1;
  a->next_msg = 1;
  a->next_silence = 1;
  return a;
}

void alert_mgr_free(alert_mgr *a) {
  if (!a)
    return;
  pthread_mutex_destroy(&a->mu);
  free(a->rules);
  free(a->v);
  free(a->g);
  free(a);
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  h ^= 0xff; /* a separator, so ("ab","c") != ("a","bc") */
  return h * 1099511628211ull;
}

static int label_cmp(const void *x, const void *y) {
  return strcmp(((const notify_label *)x)->key, ((const notify_label *)y)->key);
}

static void add_label(notify_alert *na, const char *k, const char *v) {
  for (int i = 0; i < na->nlabels; i++)
    if (!strcmp(na->labels[i].key, k)) {
      snprintf(na->labels[i].val, sizeof na->labels[i].val, "%s", v);
      return;
    }
  if (na->nlabels == NOTIFY_MAX_LABELS)
    return;
  notify_label *l = &na->labels[na->nlabels++];
  snprintf(l->key, sizeof l->key, "%s", k);
  snprintf(l->val, sizeof l->val, "%s", v);
}

static const char *get_label(const notify_alert *na, const char *k) {
  for (int i = 0; i < na->nlabels; i++)
    if (!strcmp(na->labels[i].key, k))
      return na->labels[i].val;
  return NULL;
}

static uint64_t fingerprint(notify_alert *na) {
  qsort(na->labels, (size_t)na->nlabels, sizeof na->labels[0], label_cmp);
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < na->nlabels; i++) {
    h = fnv(h, na->labels[i].key);
    h = fnv(h, na->labels[i].val);
  }
  snprintf(na->fingerprint, sizeof na->fingerprint, "%016llx",
           (unsigned long long)h);
  return h;
}

/* The value as people read it: up to 4 significant digits. */
static void fmt_value(double v, char *out, size_t cap) {
  if (v == floor(v) && fabs(v) < 1e15)
    snprintf(out, cap, "%.0f", v);
  else
    snprintf(out, cap, "%.4g", v);
}

/* summary with {{value}} and {{LABEL}} replaced. */
static void render_summary(const char *tpl, const notify_alert *na,
                           char *out, size_t cap) {
  size_t o = 0;
  out[0] = '\0';
  for (const char *p = tpl; *p && o + 1 < cap;) {
    const char *end;
    if (p[0] == '{' && p[1] == '{' && (end = strstr(p + 2, "}}"))) {
      char key[ALERT_NAME_MAX];
      size_t kl = (size_t)(end - (p + 2));
      if (kl < sizeof key) {
        memcpy(key, p + 2, kl);
        key[kl] = '\0';
        char val[128];
        const char *rep = NULL;
        if (!strcmp(key, "value")) {
          fmt_value(na->value, val, sizeof val);
          rep = val;
        } else {
          rep = get_label(na, key);
        }
        int w = snprintf(out + o, cap - o, "%s", rep ? rep : "");
        if (w > 0)
          o += (size_t)w < cap - o ? (size_t)w : cap - o - 1;
        p = end + 2;
        continue;
      }
    }
    out[o++] = *p++;
    out[o] = '\0';
  }
}

static group *group_of(alert_mgr *a, const char *key, dto_time now) {
  group *fre = NULL;
  for (size_t i = 0; i < a->ng; i++) {
    if (a->g[i].used && !strcmp(a->g[i].key, key))
      return &a->g[i];
    if (!a->g[i].used && !fre)
      fre = &a->g[i];
  }
  if (!fre) {
    if (a->ng == ALERT_LIVE_MAX)
      return NULL;
    fre = &a->g[a->ng++];
  }
  memset(fre, 0, sizeof *fre);
  fre->used = true;
  fre->first = now;
  snprintf(fre->key, sizeof fre->key, "%s", key);
  return fre;
}

static void group_key(const alert_mgr *a, const notify_alert *na, char *out,
                      size_t cap) {
  size_t o = 0;
  out[0] = '\0';
  if (!a->c.ngroup_by) {
    snprintf(out, cap, "alertname=%s", na->name);
    return;
  }
  for (int i = 0; i < a->c.ngroup_by && o < cap; i++) {
    const char *v = get_label(na, a->c.group_by[i]);
    int w = snprintf(out + o, cap - o, "%s%s=%s", i ? "," : "",
                     a->c.group_by[i], v ? v : "");
    if (w < 0)
      break;
    o += (size_t)w;
  }
}

static void record(alert_mgr *a, dto_time at, const char *event,
                   const live *l, const char *channel, const char *who) {
  if (!a->sink.record)
    return;
  alert_record r = {.at = at,
                    .event = event,
                    .alert = &l->na,
                    .channel = channel ? channel : "",
                    .who = who ? who : "",
                    .id = l->id};
  a->sink.record(a->sink.ctx, &r);
}

static live *find_live(alert_mgr *a, uint64_t fp) {
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].fp == fp && a->v[i].st != AS_INACTIVE &&
        a->v[i].st != AS_RESOLVED)
      return &a->v[i];
  return NULL;
}

static live *new_live(alert_mgr *a, dto_time now) {
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].st == AS_INACTIVE)
      return memset(&a->v[i], 0, sizeof a->v[i]);
  if (a->n == ALERT_LIVE_MAX) {
    /* full: the oldest resolved alert makes room */
    live *old = NULL;
    for (size_t i = 0; i < a->n; i++)
      if (a->v[i].st == AS_RESOLVED && a->v[i].notified_resolved &&
          (!old || a->v[i].resolved < old->resolved))
        old = &a->v[i];
    (void)now;
    return old ? memset(old, 0, sizeof *old) : NULL;
  }
  return memset(&a->v[a->n++], 0, sizeof a->v[0]);
}

static void to_firing(alert_mgr *a, live *l, dto_time now) {
  l->st = AS_FIRING;
  l->na.started = now;
  group *g = group_of(a, l->group, now);
  if (g && !g->fired)
    g->fired = now;
  record(a, now, "firing", l, NULL, NULL);
}

static void to_resolved(alert_mgr *a, live *l, dto_time now) {
  if (l->st == AS_PENDING) {
    l->st = AS_INACTIVE; /* never fired: nothing to tell */
    return;
  }
  l->st = AS_RESOLVED;
  l->resolved = now;
  l->na.ended = now;
  l->notified_resolved = !a->c.send_resolved || l->silenced;
  record(a, now, "resolved", l, NULL, NULL);
}

/* Start or refresh the alert named name with labels (sorted inside). */
static live *touch(alert_mgr *a, dto_time now, int rule, const char *name,
                   enum alert_sev sev, notify_alert *na, double value,
                   const char *summary_tpl) {
  snprintf(na->name, sizeof na->name, "%s", name);
  snprintf(na->severity, sizeof na->severity, "%s", alert_sev_name(sev));
  add_label(na, "alertname", name);
  add_label(na, "severity", alert_sev_name(sev));
  na->value = value;
  uint64_t fp = fingerprint(na);
  live *l = find_live(a, fp);
  if (!l) {
    if (!(l = new_live(a, now)))
      return NULL;
    l->id = a->next_id++;
    l->fp = fp;
    l->rule = rule;
    l->st = AS_PENDING;
    l->since = now;
    l->na = *na;
    group_key(a, &l->na, l->group, sizeof l->group);
  }
  l->na.value = value;
  l->seen = true;
  l->last_seen = now;
  render_summary(summary_tpl, &l->na, l->na.summary, sizeof l->na.summary);
  return l;
}

static bool matches(const alert_match *m, int nm, const notify_alert *na) {
  for (int i = 0; i < nm; i++) {
    const char *v = get_label(na, m[i].key);
    bool eq = !strcmp(v ? v : "", m[i].val);
    if (eq == m[i].neg)
      return false;
  }
  return true;
}

static bool silenced(const alert_mgr *a, const notify_alert *na, dto_time now) {
  for (int i = 0; i < a->ns; i++)
    if (a->s[i].starts <= now && now < a->s[i].ends &&
        matches(a->s[i].m, a->s[i].nm, na))
      return true;
  return false;
}

bool alert_in_window(const alert_mgr *a, dto_time now) {
  for (int i = 0; i < a->c.nwindows; i++) {
    const alert_window *w = &a->c.windows[i];
    dto_time open = 0;
    /* the last opening at or before now: the next one after now - length */
    if (sched_next(&w->start, a->c.cal, now - w->length - 1, &open) == 0 &&
        open <= now && now < open + w->length)
      return true;
  }
  return false;
}

/* ---- notifications -------------------------------------------------------- */

static void send(alert_mgr *a, dto_time now, group *g, const char *const *ch,
                 int nch, bool escalation, bool firing_any) {
  notify_msg *m = xcalloc(1, sizeof *m);
  m->id = a->next_msg++;
  m->status = firing_any ? NOTIFY_FIRING : NOTIFY_RESOLVED;
  snprintf(m->group, sizeof m->group, "%s", g->key);
  snprintf(m->instance, sizeof m->instance, "%s", a->c.instance);
  m->escalation = escalation;
  m->at = now;
  int top = -1;
  for (size_t i = 0; i < a->n && m->nalerts < NOTIFY_MAX_ALERTS; i++) {
    live *l = &a->v[i];
    if (strcmp(l->group, g->key) || l->silenced)
      continue;
    bool firing = l->st == AS_FIRING;
    bool news = l->st == AS_RESOLVED && !l->notified_resolved;
    if (!firing && !news)
      continue;
    m->alerts[m->nalerts] = l->na;
    m->alerts[m->nalerts].acked = l->acked_by[0] != '\0';
    m->nalerts++;
    enum alert_sev sv = SEV_INFO;
    alert_sev_parse(l->na.severity, &sv);
    if ((int)sv > top)
      top = (int)sv;
  }
  snprintf(m->severity, sizeof m->severity, "%s",
           alert_sev_name(top < 0 ? SEV_INFO : (enum alert_sev)top));
  for (int i = 0; i < nch; i++) {
    if (a->sink.notify)
      a->sink.notify(a->sink.ctx, ch[i], m);
    a->notifications++;
    for (size_t k = 0; k < a->n; k++)
      if (!strcmp(a->v[k].group, g->key) && !a->v[k].silenced &&
          (a->v[k].st == AS_FIRING ||
           (a->v[k].st == AS_RESOLVED && !a->v[k].notified_resolved)))
        record(a, now, escalation ? "escalated" : "notified", &a->v[k], ch[i],
               NULL);
  }
  free(m);
}

static void handle_groups(alert_mgr *a, dto_time now) {
  bool window = alert_in_window(a, now);
  for (size_t gi = 0; gi < a->ng; gi++) {
    group *g = &a->g[gi];
    if (!g->used)
      continue;
    uint64_t h = 1469598103934665603ull, hf = h, hfiring;
    int firing = 0, fresh_resolved = 0, unacked = 0, top = -1, members = 0;
    for (size_t i = 0; i < a->n; i++) {
      live *l = &a->v[i];
      if (l->st == AS_INACTIVE || strcmp(l->group, g->key))
        continue;
      members++;
      bool sil = silenced(a, &l->na, now);
      if (sil && !l->silenced && l->st == AS_FIRING) {
        a->nsilenced++;
        record(a, now, "silenced", l, NULL, NULL);
      }
      l->silenced = sil;
      if (sil) {
        if (l->st == AS_RESOLVED)
          l->notified_resolved = true;
        continue;
      }
      if (l->st == AS_FIRING) {
        char idb[48];
        snprintf(idb, sizeof idb, "%llu+f", (unsigned long long)l->id);
        h = fnv(h, idb);
        hf = fnv(hf, idb);
        firing++;
        if (!l->acked_by[0])
          unacked++;
        enum alert_sev sv = SEV_INFO;
        alert_sev_parse(l->na.severity, &sv);
        if ((int)sv > top)
          top = (int)sv;
      } else if (l->st == AS_RESOLVED && !l->notified_resolved) {
        char idb[48];
        snprintf(idb, sizeof idb, "%llu+r", (unsigned long long)l->id);
        h = fnv(h, idb);
        fresh_resolved++;
        if (top < 0) {
          enum alert_sev sv = SEV_INFO;
          alert_sev_parse(l->na.severity, &sv);
          top = (int)sv;
        }
      }
    }
    hfiring = hf;
    if (!members) {
      g->used = false;
      continue;
    }
    if (!firing && !fresh_resolved) {
      /* quiet: the next episode starts afresh */
      g->last_hash = 0;
      g->fired = 0;
      g->esc_step = 0;
      continue;
    }
    if (window)
      continue; /* kept back: sent once the window closes */
    const alert_route *ro = &a->c.routes[top < 0 ? 0 : top];
    const char *chs[ALERT_ROUTE_MAX];
    for (int i = 0; i < ro->nch; i++)
      chs[i] = ro->ch[i];
    bool changed = h != g->last_hash;
    if (changed && now - g->first >= a->c.group_wait) {
      send(a, now, g, chs, ro->nch, false, firing > 0);
      g->last_hash = hfiring; /* the resolved ones are told: only once */
      g->last_sent = now;
      for (size_t i = 0; i < a->n; i++)
        if (a->v[i].st == AS_RESOLVED && !strcmp(a->v[i].group, g->key))
          a->v[i].notified_resolved = true;
    } else if (!changed && firing && unacked &&
               now - g->last_sent >= a->c.repeat_interval) {
      send(a, now, g, chs, ro->nch, false, true);
      g->last_sent = now;
    }
    /* escalation: a critical group nobody acknowledged */
    if (firing && unacked && top == SEV_CRITICAL && g->fired &&
        g->esc_step < ro->nesc &&
        now - g->fired >= a->c.escalate_after * (g->esc_step + 1)) {
      const char *e = ro->esc[g->esc_step];
      send(a, now, g, &e, 1, true, true);
      a->escalations++;
      g->esc_step++;
    }
  }
  /* resolved alerts are listed for an hour, then forgotten */
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].st == AS_RESOLVED && a->v[i].notified_resolved &&
        now - a->v[i].resolved > DTO_NS_PER_HOUR)
      a->v[i].st = AS_INACTIVE;
}

void alert_eval(alert_mgr *a, dto_time now, const mset *m) {
  pthread_mutex_lock(&a->mu);
  for (size_t i = 0; i < a->n; i++)
    a->v[i].seen = false;
  size_t ns = m ? mset_count(m) : 0;
  for (size_t ri = 0; ri < a->c.nrules; ri++) {
    const alert_rule *r = &a->rules[ri];
    for (size_t si = 0; si < ns; si++) {
      msample s;
      mset_at(m, si, &s);
      if (strcmp(s.name, r->metric) || !holds(r->op, s.v, r->threshold))
        continue;
      notify_alert na;
      memset(&na, 0, sizeof na);
      for (int k = 0; k < s.nlabels; k++)
        add_label(&na, s.keys[k], s.vals[k]);
      if (!matches(r->m, r->nm, &na))
        continue;
      for (int k = 0; k < r->nl; k++)
        add_label(&na, r->lkeys[k], r->lvals[k]);
      live *l = touch(a, now, (int)ri, r->name, r->sev, &na, s.v,
                      r->summary[0] ? r->summary : r->expr);
      if (l && l->st == AS_PENDING && now - l->since >= r->for_)
        to_firing(a, l, now);
    }
  }
  for (size_t i = 0; i < a->n; i++) {
    live *l = &a->v[i];
    if (l->st != AS_PENDING && l->st != AS_FIRING)
      continue;
    if (l->rule >= 0 ? !l->seen
                     : now - l->last_seen >= a->c.resolve_after)
      to_resolved(a, l, now);
  }
  handle_groups(a, now);
  pthread_mutex_unlock(&a->mu);
}

void alert_raise(alert_mgr *a, dto_time now, const char *name,
                 enum alert_sev sev, const char *summary, ...) {
  notify_alert na;
  memset(&na, 0, sizeof na);
  va_list ap;
  va_start(ap, summary);
  for (int i = 0; i < 8; i++) {
    const char *k = va_arg(ap, const char *);
    if (!k)
      break;
    const char *v = va_arg(ap, const char *);
    add_label(&na, k, v ? v : "");
  }
  va_end(ap);
  pthread_mutex_lock(&a->mu);
  /* a summary is text, not a template: braces stay as they are */
  live *l = touch(a, now, -1, name, sev, &na, NAN, "");
  if (l) {
    snprintf(l->na.summary, sizeof l->na.summary, "%s", summary ? summary : "");
    if (l->st == AS_PENDING)
      to_firing(a, l, now);
  }
  handle_groups(a, now);
  pthread_mutex_unlock(&a->mu);
}

void alert_clear(alert_mgr *a, dto_time now, const char *name,
                 const char *key, const char *val) {
  pthread_mutex_lock(&a->mu);
  for (size_t i = 0; i < a->n; i++) {
    live *l = &a->v[i];
    const char *lv = key ? get_label(&l->na, key) : NULL;
    if (l->rule < 0 && (l->st == AS_FIRING || l->st == AS_PENDING) &&
        !strcmp(l->na.name, name) &&
        (!key || (lv && !strcmp(lv, val ? val : ""))))
      to_resolved(a, l, now);
  }
  handle_groups(a, now);
  pthread_mutex_unlock(&a->mu);
}

int alert_ack(alert_mgr *a, dto_time now, uint64_t id, const char *who) {
  pthread_mutex_lock(&a->mu);
  live *t = NULL;
  for (size_t i = 0; i < a->n && !t; i++)
    if (a->v[i].id == id && a->v[i].st == AS_FIRING)
      t = &a->v[i];
  if (!t) {
    pthread_mutex_unlock(&a->mu);
    return DTO_ENOENT;
  }
  char grp[sizeof t->group];
  snprintf(grp, sizeof grp, "%s", t->group);
  for (size_t i = 0; i < a->n; i++) {
    live *l = &a->v[i];
    if (l->st == AS_FIRING && !strcmp(l->group, grp) && !l->acked_by[0]) {
      snprintf(l->acked_by, sizeof l->acked_by, "%s", who ? who : "?");
      l->na.acked = true;
      record(a, now, "acked", l, NULL, who);
    }
  }
  pthread_mutex_unlock(&a->mu);
  return 0;
}

int64_t alert_silence(alert_mgr *a, const alert_match *m, int nm,
                      dto_time starts, dto_time ends, const char *who,
                      const char *comment) {
  if (nm <= 0 || nm > ALERT_MATCH_MAX || ends <= starts)
    return DTO_EINVAL;
  pthread_mutex_lock(&a->mu);
  /* forget silences long over */
  int k = 0;
  for (int i = 0; i < a->ns; i++)
    if (a->s[i].ends > starts - DTO_NS_PER_DAY)
      a->s[k++] = a->s[i];
  a->ns = k;
  if (a->ns == SILENCES_MAX) {
    pthread_mutex_unlock(&a->mu);
    return DTO_EFULL;
  }
  silence *s = &a->s[a->ns++];
  memset(s, 0, sizeof *s);
  s->id = a->next_silence++;
  memcpy(s->m, m, (size_t)nm * sizeof *m);
  s->nm = nm;
  s->starts = starts;
  s->ends = ends;
  snprintf(s->who, sizeof s->who, "%s", who ? who : "");
  snprintf(s->comment, sizeof s->comment, "%s", comment ? comment : "");
  int64_t id = s->id;
  pthread_mutex_unlock(&a->mu);
  return id;
}

int alert_unsilence(alert_mgr *a, dto_time now, int64_t id) {
  pthread_mutex_lock(&a->mu);
  int rc = DTO_ENOENT;
  for (int i = 0; i < a->ns; i++)
    if (a->s[i].id == id && a->s[i].ends > now) {
      a->s[i].ends = now > a->s[i].starts ? now : a->s[i].starts + 1;
      rc = 0;
    }
  pthread_mutex_unlock(&a->mu);
  return rc;
}

/* ---- reading -------------------------------------------------------------- */

static void json_time(dbuf *b, dto_time t) {
  if (!t) {
    dbuf_adds(b, "null");
    return;
  }
  char s[40];
  time_format(t, s, sizeof s);
  dbuf_json_str(b, s);
}

void alert_list_json(alert_mgr *a, dto_time now, dbuf *b) {
  pthread_mutex_lock(&a->mu);
  dbuf_addc(b, '[');
  bool first = true;
  for (size_t i = 0; i < a->n; i++) {
    const live *l = &a->v[i];
    if (l->st == AS_INACTIVE)
      continue;
    if (!first)
      dbuf_addc(b, ',');
    first = false;
    dbuf_printf(b, "{\"id\":%llu,\"name\":", (unsigned long long)l->id);
    dbuf_json_str(b, l->na.name);
    dbuf_adds(b, ",\"state\":");
    dbuf_json_str(b, alert_state_name(l->st));
    dbuf_adds(b, ",\"severity\":");
    dbuf_json_str(b, l->na.severity);
    dbuf_adds(b, ",\"summary\":");
    dbuf_json_str(b, l->na.summary);
    dbuf_adds(b, ",\"labels\":{");
    for (int k = 0; k < l->na.nlabels; k++) {
      if (k)
        dbuf_addc(b, ',');
      dbuf_json_str(b, l->na.labels[k].key);
      dbuf_addc(b, ':');
      dbuf_json_str(b, l->na.labels[k].val);
    }
    dbuf_adds(b, "},\"value\":");
    if (isfinite(l->na.value))
      dbuf_printf(b, "%.17g", l->na.value);
    else
      dbuf_adds(b, "null");
    dbuf_adds(b, ",\"since\":");
    json_time(b, l->since);
    dbuf_adds(b, ",\"started\":");
    json_time(b, l->st == AS_PENDING ? 0 : l->na.started);
    dbuf_adds(b, ",\"resolved\":");
    json_time(b, l->resolved);
    dbuf_adds(b, ",\"acked_by\":");
    if (l->acked_by[0])
      dbuf_json_str(b, l->acked_by);
    else
      dbuf_adds(b, "null");
    dbuf_printf(b, ",\"silenced\":%s,\"group\":",
                silenced(a, &l->na, now) ? "true" : "false");
    dbuf_json_str(b, l->group);
    dbuf_addc(b, '}');
  }
  dbuf_addc(b, ']');
  pthread_mutex_unlock(&a->mu);
}

void alert_silences_json(alert_mgr *a, dto_time now, dbuf *b) {
  pthread_mutex_lock(&a->mu);
  dbuf_addc(b, '[');
  for (int i = 0; i < a->ns; i++) {
    const silence *s = &a->s[i];
    if (i)
      dbuf_addc(b, ',');
    dbuf_printf(b, "{\"id\":%lld,\"matchers\":[", (long long)s->id);
    for (int k = 0; k < s->nm; k++) {
      if (k)
        dbuf_addc(b, ',');
      dbuf_adds(b, "{\"name\":");
      dbuf_json_str(b, s->m[k].key);
      dbuf_adds(b, ",\"value\":");
      dbuf_json_str(b, s->m[k].val);
      dbuf_printf(b, ",\"equal\":%s}", s->m[k].neg ? "false" : "true");
    }
    dbuf_adds(b, "],\"starts\":");
    json_time(b, s->starts);
    dbuf_adds(b, ",\"ends\":");
    json_time(b, s->ends);
    dbuf_printf(b, ",\"active\":%s,\"created_by\":",
                s->starts <= now && now < s->ends ? "true" : "false");
    dbuf_json_str(b, s->who);
    dbuf_adds(b, ",\"comment\":");
    dbuf_json_str(b, s->comment);
    dbuf_addc(b, '}');
  }
  dbuf_addc(b, ']');
  pthread_mutex_unlock(&a->mu);
}

void alert_counts_get(alert_mgr *a, alert_counts *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&a->mu);
  for (size_t i = 0; i < a->n; i++) {
    const live *l = &a->v[i];
    if (l->st == AS_PENDING)
      out->pending++;
    if (l->st == AS_FIRING) {
      enum alert_sev sv = SEV_INFO;
      alert_sev_parse(l->na.severity, &sv);
      out->firing[sv]++;
    }
  }
  out->notifications = a->notifications;
  out->escalations = a->escalations;
  out->silenced = a->nsilenced;
  pthread_mutex_unlock(&a->mu);
}
