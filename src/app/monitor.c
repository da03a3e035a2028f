/* monitor.c - metrics, health and alerts of a running service (see
 * monitor.h). */
#include "app/monitor.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "core/utf8.h"
#include "core/timeutil.h"
#include "ops/backup.h"
#include "ops/notify.h"
#include "ops/sysstat.h"
#include "store/journal.h"
#include "store/store.h"

#define HTTP_KEYS_MAX 512  /* (route, method, code) counted apart */
#define EVQ_MAX 256        /* engine alerts waiting for the thread */
#define RING_MAX 302       /* one sample a second, five minutes and more */
#define WINDOW_NS (5 * DTO_NS_PER_MIN)
#define JUMP_NS DTO_NS_PER_MIN
#define ACCT_MAX 32        /* accounts watched for P&L jumps */
#define HEALTH_STALE_NS (5 * DTO_NS_PER_SEC)
#define HISTQ_MAX 4096     /* history records waiting for the store */

typedef struct hkey {
  char route[96];
  char method[8];
  int code;
  uint64_t n;
} hkey;

typedef struct mev {
  char code[ALERT_NAME_MAX];
  enum alert_sev sev;
  char scope[16], id[64];
  char msg[256];
  bool clear;
} mev;

typedef struct tick {
  int64_t mono;
  uint64_t total, errors; /* HTTP requests, of which 5xx */
  mhist_snap lat;
  uint64_t rejected, refused; /* orders rejected, risk refusals */
  int nacc;
  double equity[ACCT_MAX];
} tick;

typedef struct chstat {
  uint64_t delivered, dead;
} chstat;

struct monitor {
  monitor_src src;
  const dto_config *cfg;
  cfg_monitor mc;
  const char *disk[3];
  char *disk_abs[3];
  const char *clock_file;
  dto_time started; /* real */
  /* alerts */
  alert_mgr *am;
  notifier *nt;
  alert_rule *rules;
  size_t nrules;
  chstat *chs; /* per channel, cfg->alerts.channels order */
  /* the store: readiness and history */
  store *st;
  pthread_mutex_t st_mu;
  int64_t ready_at;  /* mono of the last check */
  bool store_ok;
  char store_why[160];
  /* HTTP */
  pthread_mutex_t hmu;
  hkey h[HTTP_KEYS_MAX];
  int nh;
  uint64_t h_total, h_errors, h_other;
  mhist http_lat, store_lat;
  atomic_int store_busy;
  int64_t smax_min[2], smax[2];
  /* what the thread computed */
  pthread_mutex_t mu;
  sys_cpu cpu_prev;
  int64_t cpu_at; /* mono of cpu_prev */
  bool cpu_have;
  double cpu_pct;
  double err_ratio, p99, failures_recent;
  double jump[ACCT_MAX];
  tick ring[RING_MAX];
  int rhead, rn;
  /* the thread */
  pthread_t th;
  bool started_th, quit;
  pthread_cond_t cv;
  mev evq[EVQ_MAX];
  int evn;
  bool woken; /* evaluate now */
  uint64_t ev_dropped;
  store_alert_rec *hq;
  size_t hn;
  uint64_t h_dropped;
  dto_log log;
  dto_clock logclock;
};

/* ---- time ----------------------------------------------------------------- */

dto_time monitor_now(monitor *mo) {
  return clock_real_shifted(mo->clock_file);
}

/* ---- history --------------------------------------------------------------- */

static void labels_json(const notify_alert *na, dbuf *b) {
  dbuf_addc(b, '{');
  for (int k = 0; k < na->nlabels; k++) {
    if (k)
      dbuf_addc(b, ',');
    dbuf_json_str(b, na->labels[k].key);
    dbuf_addc(b, ':');
    dbuf_json_str(b, na->labels[k].val);
  }
  dbuf_addc(b, '}');
}

/* Queue a history record (any thread; the monitor's thread writes them). */
static void hist_put(monitor *mo, const store_alert_rec *r) {
  pthread_mutex_lock(&mo->mu);
  if (mo->hn < HISTQ_MAX)
    mo->hq[mo->hn++] = *r;
  else
    mo->h_dropped++;
  pthread_mutex_unlock(&mo->mu);
}

static void fill_rec(store_alert_rec *r, dto_time at, const char *event,
                     uint64_t id, const notify_alert *na) {
  memset(r, 0, sizeof *r);
  r->time = at;
  snprintf(r->event, sizeof r->event, "%s", event);
  r->alert_id = (int64_t)id;
  if (na) {
    snprintf(r->name, sizeof r->name, "%s", na->name);
    snprintf(r->severity, sizeof r->severity, "%s", na->severity);
    snprintf(r->fingerprint, sizeof r->fingerprint, "%s", na->fingerprint);
  }
}

static void sink_record(void *ctx, const alert_record *ar) {
  monitor *mo = ctx;
  store_alert_rec r;
  fill_rec(&r, ar->at, ar->event, ar->id, ar->alert);
  snprintf(r.channel, sizeof r.channel, "%s", ar->channel);
  snprintf(r.who, sizeof r.who, "%s", ar->who);
  dbuf b;
  dbuf_init(&b, sizeof r.detail - 1);
  dbuf_adds(&b, "{\"labels\":");
  labels_json(ar->alert, &b);
  dbuf_adds(&b, ",\"summary\":");
  dbuf_json_str(&b, ar->alert->summary);
  if (isfinite(ar->alert->value))
    dbuf_printf(&b, ",\"value\":%.17g", ar->alert->value);
  dbuf_addc(&b, '}');
  if (b.len < sizeof r.detail && b.ptr)
    memcpy(r.detail, b.ptr, b.len + 1);
  else
    snprintf(r.detail, sizeof r.detail, "{}");
  dbuf_release(&b);
  hist_put(mo, &r);
  log_line l;
  if (log_begin(&l, &mo->log,
                !strcmp(ar->event, "firing") &&
                        !strcmp(ar->alert->severity, "critical")
                    ? LOG_ERROR
                    : LOG_INFO,
                "alert.state")) {
    log_str(&l, "component", "alert");
    log_str(&l, "alert", ar->alert->name);
    log_str(&l, "state", ar->event);
    log_int(&l, "id", (int64_t)ar->id);
    log_str(&l, "severity", ar->alert->severity);
    log_str(&l, "summary", ar->alert->summary);
    if (ar->channel[0])
      log_str(&l, "channel", ar->channel);
    if (ar->who[0])
      log_str(&l, "by", ar->who);
    log_end(&l);
  }
}

static void sink_notify(void *ctx, const char *channel, const notify_msg *m) {
  monitor *mo = ctx;
  if (mo->nt)
    (void)notify_post(mo->nt, channel, m); /* a full queue: a dead letter */
}

static void on_result(void *ctx, const notify_result *res) {
  monitor *mo = ctx;
  for (size_t i = 0; i < mo->cfg->alerts.nchannels; i++)
    if (!strcmp(mo->cfg->alerts.channels[i].name, res->channel)) {
      pthread_mutex_lock(&mo->mu);
      if (res->delivered)
        mo->chs[i].delivered++;
      else
        mo->chs[i].dead++;
      pthread_mutex_unlock(&mo->mu);
    }
  store_alert_rec r;
  const notify_alert *na = res->msg && res->msg->nalerts ? &res->msg->alerts[0]
                                                          : NULL;
  fill_rec(&r, monitor_now(mo), res->delivered ? "delivered" : "dead_letter",
           0, na);
  snprintf(r.channel, sizeof r.channel, "%s", res->channel);
  dbuf b;
  dbuf_init(&b, sizeof r.detail - 1);
  dbuf_printf(&b, "{\"attempts\":%d,\"http_status\":%d,\"latency_ms\":%.3f,"
                  "\"error\":",
              res->attempts, res->http_status, (double)res->latency / 1e6);
  dbuf_json_str(&b, res->error);
  if (res->msg) {
    dbuf_printf(&b, ",\"message\":%llu,\"group\":",
                (unsigned long long)res->msg->id);
    dbuf_json_str(&b, res->msg->group);
    if (!res->delivered) { /* the dead letter keeps what was not said */
      dbuf_adds(&b, ",\"payload\":");
      notify_json(res->msg, monitor_now(mo) / DTO_NS_PER_SEC, &b);
    }
  }
  dbuf_addc(&b, '}');
  if (b.ptr && b.len < sizeof r.detail)
    memcpy(r.detail, b.ptr, b.len + 1);
  else
    snprintf(r.detail, sizeof r.detail, "{\"attempts\":%d}", res->attempts);
  dbuf_release(&b);
  hist_put(mo, &r);
  log_line l;
  if (log_begin(&l, &mo->log, res->delivered ? LOG_INFO : LOG_ERROR,
                res->delivered ? "alert.delivered" : "alert.dead_letter")) {
    log_str(&l, "component", "alert");
    log_str(&l, "channel", res->channel);
    log_int(&l, "attempts", res->attempts);
    log_int(&l, "latency_us", res->latency / 1000);
    if (!res->delivered)
      log_str(&l, "error", res->error);
    log_end(&l);
  }
}

/* ---- make and free --------------------------------------------------------- */

monitor *monitor_new(const dto_config *cfg, const monitor_src *src, char *err,
                     size_t cap) {
  monitor *mo = xcalloc(1, sizeof *mo);
  mo->src = *src;
  mo->cfg = cfg;
  mo->mc = cfg->monitor;
  if (!mo->mc.interval)
    mo->mc.interval = DTO_NS_PER_SEC;
  if (!mo->mc.stale_after)
    mo->mc.stale_after = 120 * DTO_NS_PER_SEC;
  const char *def = src->state_dir ? src->state_dir : ".";
  const char *given[3] = {cfg->monitor.disk_data ? cfg->monitor.disk_data : def,
                          cfg->monitor.disk_log ? cfg->monitor.disk_log : def,
                          cfg->monitor.disk_backup};
  for (int i = 0; i < 3; i++)
    if (given[i]) { /* absolute, as an operator reads it on a dashboard */
      char *abs = realpath(given[i], NULL);
      mo->disk_abs[i] = abs ? abs : xstrdup(given[i]);
      mo->disk[i] = mo->disk_abs[i];
    }
  mo->clock_file = getenv("DTO_API_CLOCK_FILE");
  mo->started = monitor_now(mo);
  pthread_mutex_init(&mo->st_mu, NULL);
  pthread_mutex_init(&mo->hmu, NULL);
  pthread_mutex_init(&mo->mu, NULL);
  pthread_cond_init(&mo->cv, NULL);
  mhist_init_latency(&mo->http_lat);
  mhist_init_latency(&mo->store_lat);
  atomic_init(&mo->store_busy, 0);
  mo->p99 = NAN;
  mo->hq = xcalloc(HISTQ_MAX, sizeof *mo->hq);
  mo->chs = xcalloc(cfg->alerts.nchannels + 1, sizeof *mo->chs);
  clock_real_init(&mo->logclock);
  log_init(&mo->log, NULL, &mo->logclock, LOG_OFF);
  if (src->store_url) {
    store_options so;
    memset(&so, 0, sizeof so);
    char e2[512];
    if (store_open(src->store_url, &so, &mo->st, e2, sizeof e2)) {
      dto_seterr(err, cap, "monitoring: cannot open the store: %s", e2);
      monitor_free(mo);
      return NULL;
    }
  }
  if (cfg->alerts.present) {
    for (size_t i = 0; i < cfg->alerts.nchannels; i++)
      if (notify_channel_check(&cfg->alerts.channels[i], err, cap)) {
        monitor_free(mo);
        return NULL;
      }
    /* the built-in rules, but for those the file names again */
    size_t nd = 0;
    const alert_rule *d = cfg->alerts.default_rules ? alert_default_rules(&nd)
                                                    : NULL;
    mo->rules = xcalloc(nd + cfg->alerts.nrules + 1, sizeof *mo->rules);
    for (size_t i = 0; i < nd; i++) {
      bool over = false;
      for (size_t k = 0; k < cfg->alerts.nrules && !over; k++)
        over = !strcmp(cfg->alerts.rules[k].name, d[i].name);
      if (!over)
        mo->rules[mo->nrules++] = d[i];
    }
    for (size_t k = 0; k < cfg->alerts.nrules; k++)
      mo->rules[mo->nrules++] = cfg->alerts.rules[k];
    alert_conf ac = cfg->alerts.conf;
    ac.rules = mo->rules;
    ac.nrules = mo->nrules;
    ac.cal = cfg->instruments.n ? cfg->instruments.v[0].cal : NULL;
    if (cfg->monitor.instance[0])
      snprintf(ac.instance, sizeof ac.instance, "%s", cfg->monitor.instance);
    else if (gethostname(ac.instance, sizeof ac.instance - 1))
      snprintf(ac.instance, sizeof ac.instance, "dto");
    alert_sink sk = {.notify = sink_notify, .record = sink_record, .ctx = mo};
    mo->am = alert_mgr_new(&ac, &sk);
  }
  return mo;
}

static void *monitor_main(void *arg);

int monitor_start(monitor *mo, char *err, size_t cap) {
  if (mo->am && mo->cfg->alerts.nchannels) {
    mo->nt = notifier_new(mo->cfg->alerts.channels,
                          (int)mo->cfg->alerts.nchannels, on_result, mo, err,
                          cap);
    if (!mo->nt)
      return DTO_ENOMEM;
  }
  if (pthread_create(&mo->th, NULL, monitor_main, mo)) {
    dto_seterr(err, cap, "cannot start the monitor's thread");
    return DTO_ENOMEM;
  }
  mo->started_th = true;
  return 0;
}

void monitor_set_log(monitor *mo, FILE *f, enum log_level min) {
  log_close(&mo->log);
  log_init(&mo->log, f, &mo->logclock, min);
}

static void flush_history(monitor *mo);

void monitor_free(monitor *mo) {
  if (!mo)
    return;
  if (mo->started_th) {
    pthread_mutex_lock(&mo->mu);
    mo->quit = true;
    pthread_cond_signal(&mo->cv);
    pthread_mutex_unlock(&mo->mu);
    pthread_join(mo->th, NULL);
  }
  notifier_free(mo->nt); /* its last results are queued */
  mo->nt = NULL;
  flush_history(mo);
  alert_mgr_free(mo->am);
  store_close(mo->st);
  log_close(&mo->log);
  pthread_mutex_destroy(&mo->st_mu);
  pthread_mutex_destroy(&mo->hmu);
  pthread_mutex_destroy(&mo->mu);
  pthread_cond_destroy(&mo->cv);
  for (int i = 0; i < 3; i++)
    free(mo->disk_abs[i]);
  free(mo->rules);
  free(mo->hq);
  free(mo->chs);
  free(mo);
}

alert_mgr *monitor_alerts(monitor *mo) { return mo ? mo->am : NULL; }

/* ---- feeding ------------------------------------------------------------- */

void monitor_http(monitor *mo, const char *route, const char *method,
                  int code, int64_t ns) {
  if (!mo)
    return;
  mhist_observe_ns(&mo->http_lat, ns);
  pthread_mutex_lock(&mo->hmu);
  mo->h_total++;
  if (code >= 500)
    mo->h_errors++;
  int i = 0;
  while (i < mo->nh && !(mo->h[i].code == code &&
                         !strcmp(mo->h[i].route, route) &&
                         !strcmp(mo->h[i].method, method)))
    i++;
  if (i == mo->nh) {
    if (mo->nh == HTTP_KEYS_MAX) {
      mo->h_other++;
      pthread_mutex_unlock(&mo->hmu);
      return;
    }
    hkey *k = &mo->h[mo->nh++];
    snprintf(k->route, sizeof k->route, "%s", route);
    snprintf(k->method, sizeof k->method, "%s", method);
    k->code = code;
  }
  mo->h[i].n++;
  pthread_mutex_unlock(&mo->hmu);
}

void monitor_store_enter(monitor *mo) {
  if (mo)
    atomic_fetch_add(&mo->store_busy, 1);
}

void monitor_store_leave(monitor *mo, int64_t ns) {
  if (!mo)
    return;
  atomic_fetch_sub(&mo->store_busy, 1);
  mhist_observe_ns(&mo->store_lat, ns);
  int64_t minute = clock_mono_ns() / DTO_NS_PER_MIN;
  int k = (int)(minute & 1);
  pthread_mutex_lock(&mo->hmu);
  if (mo->smax_min[k] != minute) {
    mo->smax_min[k] = minute;
    mo->smax[k] = 0;
  }
  if (ns > mo->smax[k])
    mo->smax[k] = ns;
  pthread_mutex_unlock(&mo->hmu);
}

void monitor_event(monitor *mo, const char *code, enum alert_sev sev,
                   const char *scope, const char *id, const char *msg,
                   bool clear) {
  if (!mo || !mo->am)
    return;
  pthread_mutex_lock(&mo->mu);
  if (mo->evn < EVQ_MAX) {
    mev *e = &mo->evq[mo->evn++];
    snprintf(e->code, sizeof e->code, "%s", code);
    e->sev = sev;
    snprintf(e->scope, sizeof e->scope, "%s", scope ? scope : "");
    snprintf(e->id, sizeof e->id, "%s", id ? id : "");
    snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "");
    e->clear = clear;
    pthread_cond_signal(&mo->cv);
  } else {
    mo->ev_dropped++;
  }
  pthread_mutex_unlock(&mo->mu);
}

void monitor_wake(monitor *mo) {
  if (!mo)
    return;
  pthread_mutex_lock(&mo->mu);
  mo->woken = true;
  pthread_cond_signal(&mo->cv);
  pthread_mutex_unlock(&mo->mu);
}

/* ---- collecting ----------------------------------------------------------- */

static double fx_d(fx v) { return (double)v / (double)FX_ONE; }

/* Is the store reachable and migrated?  Checked at most once a second. */
static bool store_ready(monitor *mo, char *why, size_t cap) {
  if (!mo->st) {
    snprintf(why, cap, "no store configured");
    return true;
  }
  pthread_mutex_lock(&mo->st_mu);
  int64_t now = clock_mono_ns();
  if (!mo->ready_at || now - mo->ready_at >= DTO_NS_PER_SEC) {
    mo->ready_at = now;
    int v = 0;
    int rc = store_schema_version(mo->st, &v);
    if (rc) {
      mo->store_ok = false;
      snprintf(mo->store_why, sizeof mo->store_why, "the store cannot be "
                                                    "reached");
    } else if (v != store_latest_version(mo->st)) {
      mo->store_ok = false;
      snprintf(mo->store_why, sizeof mo->store_why,
               "the store's schema is version %d, not %d (run dto migrate)",
               v, store_latest_version(mo->st));
    } else {
      mo->store_ok = true;
      snprintf(mo->store_why, sizeof mo->store_why, "reachable, schema "
                                                    "version %d",
               v);
    }
  }
  bool ok = mo->store_ok;
  snprintf(why, cap, "%s", mo->store_why);
  pthread_mutex_unlock(&mo->st_mu);
  return ok;
}

static void journal_hist(const journal_stats *js, mhist_snap *out) {
  memset(out, 0, sizeof *out);
  out->nb = JOURNAL_LAT_N;
  uint64_t c = 0;
  for (int i = 0; i < JOURNAL_LAT_N; i++) {
    out->le[i] = (double)JOURNAL_LAT_BOUNDS[i] / 1e9;
    c += js->lat_counts[i];
    out->cum[i] = c;
  }
  out->cum[JOURNAL_LAT_N] = c + js->lat_counts[JOURNAL_LAT_N];
  out->sum = (double)js->lat_sum_ns / 1e9;
}

static const char *const disk_kinds[3] = {"data", "log", "backup"};

static void collect_system(monitor *mo, mset *m, dto_time now) {
  sys_proc p;
  if (sys_read_proc(NULL, &p) == 0) {
    mset_family(m, "process_cpu_seconds_total", MT_COUNTER,
                "Total user and system CPU time spent in seconds.");
    mset_add(m, p.cpu_seconds, NULL);
    mset_family(m, "process_resident_memory_bytes", MT_GAUGE,
                "Resident memory size in bytes.");
    mset_add(m, (double)p.rss_bytes, NULL);
    mset_family(m, "process_virtual_memory_bytes", MT_GAUGE,
                "Virtual memory size in bytes.");
    mset_add(m, (double)p.vsize_bytes, NULL);
    mset_family(m, "process_open_fds", MT_GAUGE,
                "Number of open file descriptors.");
    mset_add(m, p.open_fds, NULL);
    mset_family(m, "process_max_fds", MT_GAUGE,
                "Maximum number of open file descriptors.");
    mset_add(m, p.max_fds < 0 ? INFINITY : (double)p.max_fds, NULL);
    mset_family(m, "process_start_time_seconds", MT_GAUGE,
                "Start time of the process since unix epoch in seconds.");
    mset_add(m, p.start_time, NULL);
    mset_family(m, "dto_process_threads", MT_GAUGE, "Threads of dto.");
    mset_add(m, p.threads, NULL);
  }
  mset_family(m, "dto_uptime_seconds", MT_GAUGE, "Seconds since dto started.");
  mset_add(m, (double)(now - mo->started) / 1e9, NULL);
  pthread_mutex_lock(&mo->mu);
  double cpu = mo->cpu_pct;
  bool have = mo->cpu_have;
  pthread_mutex_unlock(&mo->mu);
  mset_family(m, "dto_system_cpu_percent", MT_GAUGE,
              "Machine CPU busy over the last monitoring interval, percent.");
  mset_add(m, have ? cpu : NAN, NULL);
  sys_mem sm;
  if (sys_read_mem(NULL, &sm) == 0) {
    mset_family(m, "dto_system_memory_percent", MT_GAUGE,
                "Machine memory in use (total - available), percent.");
    mset_add(m, sys_mem_percent(&sm), NULL);
    mset_family(m, "dto_system_memory_total_bytes", MT_GAUGE,
                "Machine memory in all.");
    mset_add(m, (double)sm.total, NULL);
  }
  mset_family(m, "dto_disk_percent", MT_GAUGE,
              "Used space of the file system holding each path, percent "
              "(as df).");
  for (int i = 0; i < 3; i++) {
    sys_disk d;
    if (mo->disk[i] && sys_read_disk(mo->disk[i], &d) == 0)
      mset_add(m, sys_disk_percent(&d), "kind", disk_kinds[i], "path",
               mo->disk[i], NULL);
  }
  mset_family(m, "dto_disk_free_bytes", MT_GAUGE,
              "Space available on the file system holding each path.");
  for (int i = 0; i < 3; i++) {
    sys_disk d;
    if (mo->disk[i] && sys_read_disk(mo->disk[i], &d) == 0)
      mset_add(m, (double)d.avail, "kind", disk_kinds[i], "path", mo->disk[i],
               NULL);
  }
  sys_net nt;
  if (sys_read_net(NULL, &nt) == 0) {
    mset_family(m, "dto_network_receive_bytes_total", MT_COUNTER,
                "Bytes received by each network interface.");
    for (int i = 0; i < nt.n; i++)
      mset_add(m, (double)nt.ifs[i].rx_bytes, "interface", nt.ifs[i].name,
               NULL);
    mset_family(m, "dto_network_transmit_bytes_total", MT_COUNTER,
                "Bytes sent by each network interface.");
    for (int i = 0; i < nt.n; i++)
      mset_add(m, (double)nt.ifs[i].tx_bytes, "interface", nt.ifs[i].name,
               NULL);
  }
}

static void collect_http(monitor *mo, mset *m) {
  mset_family(m, "dto_http_requests_total", MT_COUNTER,
              "HTTP requests answered, by route, method and status.");
  pthread_mutex_lock(&mo->hmu);
  for (int i = 0; i < mo->nh; i++) {
    char code[8];
    snprintf(code, sizeof code, "%d", mo->h[i].code);
    mset_add(m, (double)mo->h[i].n, "route",
             mo->h[i].route[0] ? mo->h[i].route : "none", "method",
             mo->h[i].method, "code", code, NULL);
  }
  pthread_mutex_unlock(&mo->hmu);
  mhist_snap hs;
  mhist_read(&mo->http_lat, &hs);
  mset_family(m, "dto_http_request_duration_seconds", MT_HISTOGRAM,
              "Time from a request's arrival to its answer.");
  mset_hist(m, &hs, 0, NULL, NULL);
  pthread_mutex_lock(&mo->mu);
  double er = mo->err_ratio, p99 = mo->p99;
  pthread_mutex_unlock(&mo->mu);
  mset_family(m, "dto_http_error_ratio", MT_GAUGE,
              "Share of HTTP requests answered 5xx over the last 5 minutes.");
  mset_add(m, er, NULL);
  mset_family(m, "dto_http_p99_seconds", MT_GAUGE,
              "99th percentile of HTTP request time over the last 5 minutes "
              "(NaN: no request).");
  mset_add(m, p99, NULL);
}

static void collect_store(monitor *mo, mset *m, const svc_snap *sn) {
  char why[160];
  bool up = store_ready(mo, why, sizeof why) && !(sn && sn->store_fault);
  if (!mo->st && !mo->src.j)
    return;
  mset_family(m, "dto_store_up", MT_GAUGE,
              "1 when the store is reachable, migrated and the journal "
              "writes.");
  mset_add(m, up ? 1 : 0, NULL);
  int busy = atomic_load(&mo->store_busy);
  journal_stats js;
  memset(&js, 0, sizeof js);
  if (mo->src.j)
    journal_stats_get(mo->src.j, &js);
  int conns = (mo->src.j ? 1 : 0) + (mo->st ? 1 : 0) + 1; /* + the API's */
  int in_use = busy + (js.queued ? 1 : 0);
  mset_family(m, "dto_store_pool_connections", MT_GAUGE,
              "Store connections of dto (journal, API, monitor) by state.");
  mset_add(m, in_use, "state", "in_use", NULL);
  mset_add(m, conns > in_use ? conns - in_use : 0, "state", "idle", NULL);
  mset_family(m, "dto_store_query_duration_seconds", MT_HISTOGRAM,
              "Store work: each journal batch written and committed, each "
              "API use of its connection.");
  mhist_snap hs;
  if (mo->src.j) {
    journal_hist(&js, &hs);
    const char *k[] = {"conn"}, *v[] = {"journal"};
    mset_hist(m, &hs, 1, k, v);
  }
  mhist_read(&mo->store_lat, &hs);
  {
    const char *k[] = {"conn"}, *v[] = {"api"};
    mset_hist(m, &hs, 1, k, v);
  }
  int64_t minute = clock_mono_ns() / DTO_NS_PER_MIN, mx = js.lat_max_ns_recent;
  pthread_mutex_lock(&mo->hmu);
  for (int k = 0; k < 2; k++)
    if (mo->smax_min[k] >= minute - 1 && mo->smax[k] > mx)
      mx = mo->smax[k];
  pthread_mutex_unlock(&mo->hmu);
  mset_family(m, "dto_store_query_max_seconds", MT_GAUGE,
              "The longest store operation of the current and the previous "
              "minute.");
  mset_add(m, (double)mx / 1e9, NULL);
  if (mo->src.j) {
    mset_family(m, "dto_store_journal_lag_items", MT_GAUGE,
                "Journal items queued and not yet durable.");
    mset_add(m, (double)js.queued, NULL);
    mset_family(m, "dto_store_commits_total", MT_COUNTER,
                "Journal transactions committed.");
    mset_add(m, (double)js.commits, NULL);
    mset_family(m, "dto_store_failures_total", MT_COUNTER,
                "Journal batches that failed (each retry counts).");
    mset_add(m, (double)js.failures, NULL);
    if (js.last_commit) {
      mset_family(m, "dto_store_last_commit_age_seconds", MT_GAUGE,
                  "Seconds since the journal's last commit.");
      mset_add(m, (double)(clock_real_shifted(NULL) - js.last_commit) / 1e9,
               NULL);
    }
  }
}

static void collect_trading(monitor *mo, mset *m, const svc_snap *s) {
  if (!s)
    return;
  dto_time ref = strcmp(s->clock, "real") ? s->now : monitor_now(mo);
  mset_family(m, "dto_state", MT_GAUGE, "The service's lifecycle state.");
  mset_add(m, 1, "state", s->state, NULL);
  mset_family(m, "dto_kill_switch_engaged", MT_GAUGE,
              "1 while the kill switch is engaged.");
  mset_add(m, s->killed ? 1 : 0, NULL);
  mset_family(m, "dto_maintenance", MT_GAUGE, "1 in maintenance mode.");
  mset_add(m, s->maintenance ? 1 : 0, NULL);
  mset_family(m, "dto_unreconciled", MT_GAUGE,
              "1 while the books are not reconciled with the broker.");
  mset_add(m, s->unreconciled ? 1 : 0, NULL);
  mset_family(m, "dto_orders_total", MT_COUNTER, "Orders made.");
  mset_add(m, (double)s->orders, NULL);
  mset_family(m, "dto_order_transitions_total", MT_COUNTER,
              "Orders that reached each state.");
  for (int st = 0; st < OS_COUNT; st++)
    mset_add(m, (double)s->order_states[st], "state",
             order_state_name((enum order_state)st), NULL);
  mset_family(m, "dto_orders_working", MT_GAUGE,
              "Orders not yet terminal, by state.");
  {
    uint64_t cnt[OS_COUNT] = {0};
    for (size_t i = 0; i < s->norders; i++)
      for (int st = 0; st < OS_COUNT; st++)
        if (!strcmp(s->orders_v[i].state,
                    order_state_name((enum order_state)st)))
          cnt[st]++;
    for (int st = 0; st < OS_COUNT; st++)
      if (!order_is_terminal((enum order_state)st))
        mset_add(m, (double)cnt[st], "state",
                 order_state_name((enum order_state)st), NULL);
  }
  mset_family(m, "dto_fills_total", MT_COUNTER, "Fills.");
  mset_add(m, (double)s->fills, NULL);
  mset_family(m, "dto_risk_refusals_total", MT_COUNTER,
              "Orders the risk gate refused, by reason.");
  for (int why = 1; why < RISK_REASON_COUNT; why++)
    mset_add(m, (double)s->refusal_by[why], "reason",
             risk_reason_name((enum risk_reason)why), NULL);
  pthread_mutex_lock(&mo->mu);
  double fails = mo->failures_recent;
  double jump[ACCT_MAX];
  memcpy(jump, mo->jump, sizeof jump);
  pthread_mutex_unlock(&mo->mu);
  mset_family(m, "dto_order_failures_recent", MT_GAUGE,
              "Orders rejected (not by the risk gate) in the last 5 minutes.");
  mset_add(m, fails, NULL);
  static const struct {
    const char *name, *help;
  } per_acct[] = {
      {"dto_equity", "Account equity."},
      {"dto_cash", "Account cash."},
      {"dto_day_pnl", "Account P&L of the day (realized and unrealized)."},
      {"dto_realized_pnl", "Account realized P&L."},
      {"dto_unrealized_pnl", "Account unrealized P&L of open positions."},
      {"dto_exposure", "Account gross exposure: sum of |qty x last|."},
      {"dto_day_trades", "Day trades in the last 5 trading days."},
      {"dto_daily_loss_ratio",
       "Day loss as a share of the account's max_daily_loss (0 without "
       "one)."},
      {"dto_pnl_jump_ratio",
       "Largest equity move within a minute, as a share of equity."},
      {"dto_risk_mode", "1 for the account's current risk mode."},
  };
  for (size_t f = 0; f < DTO_ARRAY_LEN(per_acct); f++) {
    mset_family(m, per_acct[f].name, MT_GAUGE, per_acct[f].help);
    for (size_t a = 0; a < s->naccounts; a++) {
      const svc_snap_account *x = &s->accounts[a];
      double v = 0;
      fx unreal = 0;
      switch (f) {
      case 0:
        v = fx_d(x->equity);
        break;
      case 1:
        v = fx_d(x->cash);
        break;
      case 2:
        v = fx_d(x->day_pnl);
        break;
      case 3:
        v = fx_d(x->realized);
        break;
      case 4:
        for (size_t p = 0; p < s->npositions; p++)
          if (s->positions[p].account == a)
            unreal += s->positions[p].unrealized;
        v = fx_d(unreal);
        break;
      case 5:
        v = fx_d(x->exposure);
        break;
      case 6:
        v = x->day_trades;
        break;
      case 7:
        v = x->lim.max_daily_loss > 0 && x->day_pnl < 0
                ? fx_d(-x->day_pnl) / fx_d(x->lim.max_daily_loss)
                : 0;
        break;
      case 8:
        v = a < ACCT_MAX ? jump[a] : 0;
        break;
      default:
        mset_add(m, 1, "account", x->id, "mode", x->mode, NULL);
        continue;
      }
      mset_add(m, v, "account", x->id, NULL);
    }
  }
  /* market data */
  dto_time newest = 0;
  for (size_t i = 0; i < s->ninstruments; i++)
    if (s->instruments[i].last_event > newest)
      newest = s->instruments[i].last_event;
  mset_family(m, "dto_market_data_age_seconds", MT_GAUGE,
              "Seconds since the feed's latest market event (the engine's "
              "clock in a replay).");
  if (newest)
    mset_add(m, (double)(ref - newest) / 1e9, "feed",
             mo->src.feed ? mo->src.feed : "replay", NULL);
  mset_family(m, "dto_instrument_last_event_age_seconds", MT_GAUGE,
              "Seconds since each instrument's latest market event.");
  for (size_t i = 0; i < s->ninstruments; i++)
    if (s->instruments[i].last_event)
      mset_add(m, (double)(ref - s->instruments[i].last_event) / 1e9, "symbol",
               s->instruments[i].symbol, NULL);
  mset_family(m, "dto_market_data_stale", MT_GAUGE,
              "1 while an instrument's market data is stale with its market "
              "open.");
  mset_add(m, mo->src.stale && mo->src.stale(mo->src.ctx) ? 1 : 0, NULL);
  mset_family(m, "dto_engine_queue_depth", MT_GAUGE,
              "Events waiting for the engine.");
  mset_add(m, (double)s->queue_depth, NULL);
  mset_family(m, "dto_market_events_total", MT_COUNTER,
              "Market events played, by kind.");
  mset_add(m, (double)s->bars, "kind", "bar", NULL);
  mset_add(m, (double)s->trades, "kind", "trade", NULL);
  mset_add(m, (double)s->quotes, "kind", "quote", NULL);
}

/* The full backups' outcome (backup.dir's status file): what the
 * BackupFailed and BackupOverdue rules read. */
static void collect_backups(monitor *mo, mset *m, dto_time now) {
  const cfg_backup *bc = &mo->cfg->backup;
  if (!bc->present || !bc->dir)
    return;
  static const char *const kinds[] = {"full", "incremental", "log",
                                      "config"};
  backup_status st[DTO_ARRAY_LEN(kinds)];
  bool any = false;
  for (size_t k = 0; k < DTO_ARRAY_LEN(kinds); k++) {
    if (backup_status_read_kind(bc->dir, kinds[k], &st[k]))
      memset(&st[k], 0, sizeof st[k]);
    any = any || st[k].last_success;
  }
  if (any) {
    mset_family(m, "dto_backup_last_success_timestamp_seconds", MT_GAUGE,
                "Time of the last successful backup, by kind.");
    for (size_t k = 0; k < DTO_ARRAY_LEN(kinds); k++)
      if (st[k].last_success)
        mset_add(m, (double)st[k].last_success / 1e9, "kind", kinds[k],
                 NULL);
  }
  mset_family(m, "dto_backup_last_failed", MT_GAUGE,
              "1 when the last backup attempt of a kind failed (the primary "
              "or the secondary copy).");
  for (size_t k = 0; k < DTO_ARRAY_LEN(kinds); k++)
    if (k == 0 || st[k].last_attempt)
      mset_add(m, st[k].last_failed ? 1 : 0, "kind", kinds[k], NULL);
  /* overdue: no success for overdue_after, counted from the start of this
   * dto when there was never one; log backups only when scheduled */
  mset_family(m, "dto_backup_overdue", MT_GAUGE,
              "1 when no backup of a kind succeeded within its limit "
              "(backup.overdue_after for full backups, "
              "backup.log_overdue_after for log backups).");
  dto_time since = st[0].last_success ? st[0].last_success : mo->started;
  mset_add(m, now - since > bc->overdue_after ? 1 : 0, "kind", "full", NULL);
  if (bc->log_schedule) {
    since = st[2].last_success ? st[2].last_success : mo->started;
    mset_add(m, now - since > bc->log_overdue_after ? 1 : 0, "kind", "log",
             NULL);
  }
  dto_time vat;
  bool vok;
  if (backup_verify_last(bc->dir, &vat, &vok) == 0) {
    mset_family(m, "dto_backup_verify_last_timestamp_seconds", MT_GAUGE,
                "Time of the last backup verification (dto backup verify or "
                "the scheduled ones).");
    mset_add(m, (double)vat / 1e9, NULL);
    mset_family(m, "dto_backup_verify_last_ok", MT_GAUGE,
                "1 when the last verification restored and checked its "
                "backup.");
    mset_add(m, vok ? 1 : 0, NULL);
  }
  backup_drill dr;
  if (backup_drill_read(bc->dir, &dr) == 0) {
    mset_family(m, "dto_drill_last_timestamp_seconds", MT_GAUGE,
                "Time of the last disaster-recovery drill (dto drill).");
    mset_add(m, (double)dr.at / 1e9, NULL);
    mset_family(m, "dto_drill_last_ok", MT_GAUGE,
                "1 when the last drill restored and verified its backup.");
    mset_add(m, dr.ok ? 1 : 0, NULL);
    if (dr.ok) {
      mset_family(m, "dto_drill_rto_seconds", MT_GAUGE,
                  "The last drill's recovery time: restore and checks.");
      mset_add(m, dr.rto_s, NULL);
      mset_family(m, "dto_drill_rpo_seconds", MT_GAUGE,
                  "The last drill's recovery point: journal time the "
                  "backup did not cover.");
      mset_add(m, dr.rpo_s, NULL);
      mset_family(m, "dto_drill_rpo_events", MT_GAUGE,
                  "The last drill's journal events the backup did not "
                  "cover.");
      mset_add(m, (double)dr.rpo_events, NULL);
    }
  }
}

static void collect_alerts(monitor *mo, mset *m) {
  if (!mo->am)
    return;
  alert_counts ac;
  alert_counts_get(mo->am, &ac);
  mset_family(m, "dto_alerts_firing", MT_GAUGE, "Alerts firing, by severity.");
  for (int i = 0; i < SEV_COUNT; i++)
    mset_add(m, ac.firing[i], "severity", alert_sev_name((enum alert_sev)i),
             NULL);
  mset_family(m, "dto_alerts_pending", MT_GAUGE,
              "Alerts whose condition holds, waiting for their 'for'.");
  mset_add(m, ac.pending, NULL);
  mset_family(m, "dto_notifications_total", MT_COUNTER,
              "Notifications by channel and outcome.");
  pthread_mutex_lock(&mo->mu);
  for (size_t i = 0; i < mo->cfg->alerts.nchannels; i++) {
    const char *n = mo->cfg->alerts.channels[i].name;
    mset_add(m, (double)mo->chs[i].delivered, "channel", n, "result",
             "delivered", NULL);
    mset_add(m, (double)mo->chs[i].dead, "channel", n, "result",
             "dead_letter", NULL);
  }
  pthread_mutex_unlock(&mo->mu);
  mset_family(m, "dto_alert_escalations_total", MT_COUNTER,
              "Escalations of unacknowledged critical alerts.");
  mset_add(m, (double)ac.escalations, NULL);
  pthread_mutex_lock(&mo->mu);
  uint64_t evd = mo->ev_dropped, hd = mo->h_dropped;
  pthread_mutex_unlock(&mo->mu);
  mset_family(m, "dto_alert_events_dropped_total", MT_COUNTER,
              "Engine alerts the monitor's queue had no room for (the log "
              "and the journal have them).");
  mset_add(m, (double)evd, NULL);
  mset_family(m, "dto_alert_history_dropped_total", MT_COUNTER,
              "Alert history records not kept in the store (the log has "
              "them).");
  mset_add(m, (double)hd, NULL);
}

void monitor_collect(monitor *mo, mset *m) {
  dto_time now = monitor_now(mo);
  svc_snap *s = mo->src.sv ? svc_snap_get(mo->src.sv) : NULL;
  collect_system(mo, m, now);
  collect_http(mo, m);
  collect_store(mo, m, s);
  if (mo->src.broker)
    mo->src.broker(mo->src.ctx, m);
  collect_trading(mo, m, s);
  collect_backups(mo, m, now);
  collect_alerts(mo, m);
  if (s)
    svc_snap_put(s);
}

/* ---- health --------------------------------------------------------------- */

static void check(dbuf *b, bool *first, const char *name, bool ok,
                  const char *detail) {
  if (!*first)
    dbuf_addc(b, ',');
  *first = false;
  dbuf_json_str(b, name);
  dbuf_adds(b, ":{\"status\":");
  dbuf_json_str(b, ok ? "ok" : "fail");
  dbuf_adds(b, ",\"detail\":");
  dbuf_json_str(b, detail);
  dbuf_addc(b, '}');
}

int monitor_health(monitor *mo, bool ready, dbuf *b) {
  char d[200];
  bool all = true, first = true;
  svc_snap *s = mo->src.sv ? svc_snap_get(mo->src.sv) : NULL;
  dbuf_adds(b, "{\"checks\":{");
  int64_t hb = mo->src.heartbeat ? mo->src.heartbeat(mo->src.ctx) : 0;
  int64_t age = hb ? clock_mono_ns() - hb : -1;
  bool alive = hb && age < HEALTH_STALE_NS;
  if (hb)
    snprintf(d, sizeof d, "the engine loop turned %lld ms ago",
             (long long)(age / 1000000));
  else
    snprintf(d, sizeof d, "the engine loop has not started");
  check(b, &first, "engine", alive, d);
  all = alive;
  if (ready) {
    bool ok = store_ready(mo, d, sizeof d);
    if (ok && s && s->store_fault) {
      ok = false;
      snprintf(d, sizeof d, "the journal cannot write: trading is halted");
    }
    check(b, &first, "store", ok, d);
    all = all && ok;
    ok = true;
    snprintf(d, sizeof d, "paper exchange");
    if (mo->src.broker_up)
      ok = mo->src.broker_up(mo->src.ctx, d, sizeof d);
    check(b, &first, "broker", ok, d);
    all = all && ok;
    ok = !(mo->src.stale && mo->src.stale(mo->src.ctx));
    check(b, &first, "market_data", ok,
          ok ? "fresh" : "stale while the market is open");
    all = all && ok;
    ok = s && !s->unreconciled;
    check(b, &first, "reconciliation", ok,
          !s ? "not started" : ok ? "done" : "the books are not reconciled");
    all = all && ok;
    ok = s && !s->maintenance;
    check(b, &first, "maintenance", ok, ok ? "off" : "maintenance mode");
    all = all && ok;
    ok = s && !strcmp(s->state, "ready");
    snprintf(d, sizeof d, "%s", s ? s->state : "starting");
    check(b, &first, "lifecycle", ok, d);
    all = all && ok;
  }
  dbuf_adds(b, "},\"status\":");
  dbuf_json_str(b, all ? "ok" : "fail");
  dbuf_addc(b, '}');
  if (s)
    svc_snap_put(s);
  return all ? 200 : 503;
}

/* ---- the thread ---------------------------------------------------------- */

/* One sample for the windows, and the windowed figures. */
static void sample(monitor *mo, const svc_snap *s) {
  tick t;
  memset(&t, 0, sizeof t);
  t.mono = clock_mono_ns();
  pthread_mutex_lock(&mo->hmu);
  t.total = mo->h_total;
  t.errors = mo->h_errors;
  pthread_mutex_unlock(&mo->hmu);
  mhist_read(&mo->http_lat, &t.lat);
  if (s) {
    t.rejected = s->order_states[OS_REJECTED];
    t.refused = s->refusals;
    t.nacc = (int)(s->naccounts < ACCT_MAX ? s->naccounts : ACCT_MAX);
    for (int a = 0; a < t.nacc; a++)
      t.equity[a] = fx_d(s->accounts[a].equity);
  }
  sys_cpu c;
  bool have_c = sys_read_cpu(NULL, &c) == 0;
  pthread_mutex_lock(&mo->mu);
  /* over at least half a second: ticks are 10 ms, a shorter span (a
   * wake-up right after an evaluation) would read 0 or 100 */
  if (have_c && (!mo->cpu_have || t.mono - mo->cpu_at >= DTO_NS_PER_SEC / 2)) {
    if (mo->cpu_have) {
      double p = sys_cpu_percent(&mo->cpu_prev, &c);
      if (!isnan(p))
        mo->cpu_pct = p;
    }
    mo->cpu_prev = c;
    mo->cpu_at = t.mono;
    mo->cpu_have = true;
  }
  /* at most one sample a second in the ring */
  int last = (mo->rhead + RING_MAX - 1) % RING_MAX;
  if (!mo->rn || t.mono - mo->ring[last].mono >= DTO_NS_PER_SEC - 50000000LL) {
    mo->ring[mo->rhead] = t;
    mo->rhead = (mo->rhead + 1) % RING_MAX;
    if (mo->rn < RING_MAX)
      mo->rn++;
  }
  /* the oldest sample within the window, and within the minute */
  const tick *w = NULL, *jm = NULL;
  for (int k = mo->rn; k >= 1; k--) {
    const tick *x = &mo->ring[(mo->rhead + RING_MAX - k) % RING_MAX];
    if (!w && t.mono - x->mono <= WINDOW_NS)
      w = x;
    if (!jm && t.mono - x->mono <= JUMP_NS)
      jm = x;
  }
  if (w) {
    uint64_t dn = t.total - w->total;
    mo->err_ratio = dn ? (double)(t.errors - w->errors) / (double)dn : 0;
    mo->p99 = mhist_quantile(&w->lat, &t.lat, 0.99);
    uint64_t dr = t.rejected - w->rejected, df = t.refused - w->refused;
    mo->failures_recent = dr > df ? (double)(dr - df) : 0;
  }
  for (int a = 0; a < ACCT_MAX; a++)
    mo->jump[a] = 0;
  if (jm)
    for (int k = mo->rn; k >= 1; k--) {
      const tick *x = &mo->ring[(mo->rhead + RING_MAX - k) % RING_MAX];
      if (t.mono - x->mono > JUMP_NS)
        continue;
      for (int a = 0; a < t.nacc && a < x->nacc; a++)
        if (t.equity[a] > 0) {
          double r = fabs(t.equity[a] - x->equity[a]) / t.equity[a];
          if (r > mo->jump[a])
            mo->jump[a] = r;
        }
    }
  pthread_mutex_unlock(&mo->mu);
}

static void flush_history(monitor *mo) {
  pthread_mutex_lock(&mo->mu);
  size_t n = mo->hn;
  store_alert_rec *v = NULL;
  if (n) {
    v = xmalloc(n * sizeof *v);
    memcpy(v, mo->hq, n * sizeof *v);
    mo->hn = 0;
  }
  pthread_mutex_unlock(&mo->mu);
  if (!n)
    return;
  size_t done = 0, refused = 0;
  if (mo->st) {
    pthread_mutex_lock(&mo->st_mu);
    for (; done < n; done++) {
      int rc = store_alert_put(mo->st, &v[done]);
      if (rc == DTO_EINVAL || rc == DTO_ETOOBIG)
        refused++; /* a record the store refuses: never again */
      else if (rc)
        break;
    }
    pthread_mutex_unlock(&mo->st_mu);
  } else {
    done = n; /* no store: the log has every record */
  }
  if (refused) {
    pthread_mutex_lock(&mo->mu);
    mo->h_dropped += refused;
    pthread_mutex_unlock(&mo->mu);
  }
  if (done < n) {
    /* the store is down: keep what is left for the next try, before what
     * came meanwhile, as far as the queue holds (the log has them all) */
    pthread_mutex_lock(&mo->mu);
    size_t left = n - done, room = HISTQ_MAX - mo->hn;
    size_t keep = left < room ? left : room;
    memmove(mo->hq + keep, mo->hq, mo->hn * sizeof *mo->hq);
    memcpy(mo->hq, v + done, keep * sizeof *v);
    mo->hn += keep;
    mo->h_dropped += left - keep;
    pthread_mutex_unlock(&mo->mu);
  }
  free(v);
}

static void *monitor_main(void *arg) {
  monitor *mo = arg;
  mset *m = mset_new();
  int64_t next = clock_mono_ns();
  pthread_mutex_lock(&mo->mu);
  while (!mo->quit) {
    int64_t now = clock_mono_ns();
    if (mo->evn || mo->woken || now >= next) {
      mev ev[EVQ_MAX];
      int n = mo->evn;
      memcpy(ev, mo->evq, (size_t)n * sizeof ev[0]);
      mo->evn = 0;
      bool due = now >= next || mo->woken;
      mo->woken = false;
      pthread_mutex_unlock(&mo->mu);
      dto_time t = monitor_now(mo);
      for (int i = 0; i < n; i++) {
        if (ev[i].clear)
          alert_clear(mo->am, t, ev[i].code, ev[i].scope[0] ? ev[i].scope : NULL,
                      ev[i].id);
        else if (ev[i].scope[0])
          alert_raise(mo->am, t, ev[i].code, ev[i].sev, ev[i].msg, "source",
                      "engine", ev[i].scope, ev[i].id, NULL);
        else
          alert_raise(mo->am, t, ev[i].code, ev[i].sev, ev[i].msg, "source",
                      "engine", NULL);
      }
      if (due) {
        svc_snap *s = mo->src.sv ? svc_snap_get(mo->src.sv) : NULL;
        sample(mo, s);
        if (s)
          svc_snap_put(s);
        if (mo->am) {
          mset_reset(m);
          monitor_collect(mo, m);
          alert_eval(mo->am, t, m);
        }
        next = now + mo->mc.interval;
      }
      flush_history(mo);
      pthread_mutex_lock(&mo->mu);
      continue;
    }
    int64_t wait = next - now;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t abs_ns = (int64_t)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec + wait;
    ts.tv_sec = abs_ns / DTO_NS_PER_SEC;
    ts.tv_nsec = abs_ns % DTO_NS_PER_SEC;
    pthread_cond_timedwait(&mo->cv, &mo->mu, &ts);
  }
  pthread_mutex_unlock(&mo->mu);
  mset_free(m);
  return NULL;
}

/* ---- history read --------------------------------------------------------- */

typedef struct hist_ctx {
  dbuf *b;
  bool first;
} hist_ctx;

static int hist_row(void *arg, const store_alert_rec *r) {
  hist_ctx *h = arg;
  dbuf *b = h->b;
  if (!h->first)
    dbuf_addc(b, ',');
  h->first = false;
  char t[40];
  time_format(r->time, t, sizeof t);
  dbuf_printf(b, "{\"seq\":%lld,\"time\":", (long long)r->seq);
  dbuf_json_str(b, t);
  dbuf_adds(b, ",\"event\":");
  dbuf_json_str(b, r->event);
  dbuf_printf(b, ",\"alert_id\":%lld,\"name\":", (long long)r->alert_id);
  dbuf_json_str(b, r->name);
  dbuf_adds(b, ",\"severity\":");
  dbuf_json_str(b, r->severity);
  dbuf_adds(b, ",\"channel\":");
  dbuf_json_str(b, r->channel);
  dbuf_adds(b, ",\"who\":");
  dbuf_json_str(b, r->who);
  dbuf_adds(b, ",\"detail\":");
  dbuf_adds(b, r->detail[0] ? r->detail : "{}");
  dbuf_addc(b, '}');
  return 0;
}

int monitor_history_json(monitor *mo, int64_t limit, dbuf *b) {
  if (!mo->st)
    return DTO_ENOENT;
  flush_history(mo);
  hist_ctx h = {b, true};
  dbuf_addc(b, '[');
  pthread_mutex_lock(&mo->st_mu);
  int rc = store_alert_recent(mo->st, limit, NULL, hist_row, &h);
  pthread_mutex_unlock(&mo->st_mu);
  dbuf_addc(b, ']');
  return rc;
}

/* ---- dto ctl --------------------------------------------------------------- */

static void ctl_error(dbuf *out, const char *id, const char *code,
                      const char *field, const char *msg) {
  dbuf_adds(out, "{\"id\":");
  dbuf_json_str(out, id);
  dbuf_adds(out, ",\"ok\":false,\"error\":{\"code\":");
  dbuf_json_str(out, code);
  dbuf_adds(out, ",\"message\":");
  dbuf_json_str(out, msg);
  if (field) {
    dbuf_adds(out, ",\"field\":");
    dbuf_json_str(out, field);
  }
  dbuf_adds(out, "}}\n");
}

bool monitor_ctl(void *ctx, const char *line, size_t n, const char *who,
                 dbuf *out) {
  monitor *mo = ctx;
  json_t *root = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
  const char *cmd = json_string_value(json_object_get(root, "cmd"));
  if (!cmd || (strcmp(cmd, "alerts") && strcmp(cmd, "alert_ack"))) {
    json_decref(root);
    return false; /* the engine's, or malformed: ctl.c answers */
  }
  char id[SVC_NAME_MAX] = "";
  const char *ids = json_string_value(json_object_get(root, "id"));
  if (ids)
    utf8_cut(id, sizeof id, ids, sizeof id - 1);
  if (!mo->am) {
    ctl_error(out, id, "not_found", NULL,
              "alerts are off (the configuration has no 'alerts' section)");
  } else if (!strcmp(cmd, "alerts")) {
    dbuf_adds(out, "{\"id\":");
    dbuf_json_str(out, id);
    dbuf_adds(out, ",\"ok\":true,\"result\":{\"alerts\":");
    alert_list_json(mo->am, monitor_now(mo), out);
    dbuf_adds(out, ",\"message\":\"the alerts held\"}}\n");
  } else {
    const char *a = json_string_value(json_object_get(root, "alert"));
    char *end = NULL;
    long long v = a ? strtoll(a, &end, 10) : 0;
    const char *reason = json_string_value(json_object_get(root, "reason"));
    char by[160];
    snprintf(by, sizeof by, "%s", who);
    if (!a || !*a || *end || v < 1) {
      ctl_error(out, id, "bad_request", "alert",
                "alert: the id of a firing alert (dto ctl alerts lists them)");
    } else if (alert_ack(mo->am, monitor_now(mo), (uint64_t)v, by)) {
      ctl_error(out, id, "not_found", "alert", "no firing alert with this id");
    } else {
      char msg[200];
      snprintf(msg, sizeof msg, "alert %lld acknowledged (its group too)", v);
      dbuf_adds(out, "{\"id\":");
      dbuf_json_str(out, id);
      dbuf_adds(out, ",\"ok\":true,\"result\":{\"message\":");
      dbuf_json_str(out, msg);
      dbuf_adds(out, "}}\n");
      log_line l;
      if (log_begin(&l, &mo->log, LOG_INFO, "alert.ack")) {
        log_str(&l, "component", "alert");
        log_int(&l, "id", v);
        log_str(&l, "by", by);
        if (reason)
          log_str(&l, "reason", reason);
        log_end(&l);
      }
    }
  }
  json_decref(root);
  return true;
}
