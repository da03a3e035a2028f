/* session.c - `dto run`'s session: start-up, the loop, stopping, reports. */
#define _POSIX_C_SOURCE 200809L
#include "app/session.h"

#include <unistd.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "app/alpaca_md.h"
#include "app/backup_jobs.h"
#include "api/api.h"
#include "app/alpaca_trade.h"
#include "app/bridge.h"
#include "app/ctl.h"
#include "app/feed.h"
#include "app/inq.h"
#include "app/jobs.h"
#include "app/lifecycle.h"
#include "app/monitor.h"
#include "ops/backup.h"
#include "app/recovery.h"
#include "app/source.h"
#include "app/state.h"
#include "app/svc.h"
#include "broker/alpaca_json.h"
#include "broker/http.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/logjournal.h"
#include "core/timeutil.h"
#include "market/gen.h"
#include "engine/oms.h"
#include "engine/param.h"
#include "engine/risk.h"
#include "engine/strategy.h"
#include "store/store.h"

struct run_session {
  session_opts o; /* strings and actions not owned */
  backup_jobs *bj; /* the backup section's jobs (on s->jobs) */
  sigset_t set;   /* the signals the loop takes */
  dto_config cfg;
  FILE *logf; /* stderr or ours */
  bar_vec bars;
  runner r;
  size_t first, next; /* feed indexes: first played, next to play */
  uint64_t played;    /* bars played by this session */
  double speed;
  char sdir[4096]; /* state folder */
  int lock_fd;     /* its single-instance lock; -1: not held */
  fx start_equity;
  enum session_stop stop;
  session_action *acts; /* sorted by bar, stable */
  size_t nacts, next_act;
  /* --out: the streamed reports and what the positions report lists */
  fileio_atomic *orders_f, *fills_f;
  dbuf row;
  bool *acct_touched;  /* naccounts x instruments */
  bool *strat_touched; /* strategies x instruments */
  lifecycle lc;        /* the service's state, and systemd */
  /* the service: the engine's inbound queue, the command path and its
   * snapshots, and the threads that feed the queue */
  inq *q;
  svc sv;
  bool sv_init;
  source *src;
  ctl_server *ctl;
  api *api; /* the HTTP API (api: in the configuration), or NULL */
  jobs *jobs;      /* the job scheduler's thread */
  pthread_t sig_th;
  bool sig_started;
  atomic_bool sig_quit;
  atomic_int_fast64_t drain_deadline; /* clock_mono_ns(); 0: not draining */
  int64_t drain_ns;
  bool stop_req;        /* a stop command was taken */
  dto_time *last_event; /* per instrument: its last market event */
  bar *last_bar;         /* per instrument: its last bar (ts 0: none) */
  quote *last_quote;     /* per instrument: its last quote (ts 0: none) */
  bool *paused;         /* per strategy, for the snapshots */
  uint64_t n_events, n_bars, n_trades, n_quotes, n_reports, n_cmds;
  uint64_t overflows_seen; /* svc.overflows already acted on */
  int64_t spin_ns;         /* run.idle_spin */
  /* a live broker (broker: alpaca): its adapter thread, the bridge its
   * requests and reports cross, and the reconciliation's timing
   * (clock_mono_ns()) */
  bool live;
  alpaca_conf aconf;
  bridge *br;
  alpaca_trader *tr;
  int64_t recon_next;     /* the next periodic reconciliation */
  int64_t recon_retry_at; /* a failed one is tried again then; 0: none */
  int64_t recon_backoff;
  bool recon_held;        /* the trader waits for us */
  uint64_t n_reconciles, n_reconcile_failures;
  int64_t feed_check;   /* the next look at the feed's state */
  int feed_state;       /* enum alpaca_md_state last logged; -1: none */
  uint64_t feed_sessions; /* subscriptions confirmed, last seen */
  bool *stale;          /* per instrument: said stale, not yet fresh */
  dto_time feed_since;  /* wall time the feed first streamed; 0: not yet */
  int64_t stale_check;  /* the next staleness look (mono) */
  atomic_int n_stale;   /* instruments stale now (for the monitor) */
  atomic_int_fast64_t beat; /* clock_mono_ns() of the loop's last turn */
  monitor *mon;         /* metrics, health, alerts; NULL: none */
  const char *log_path; /* the log file (reopened on SIGHUP), or NULL */
  unsigned watched;     /* kill switch, maintenance, faults, state: as the
                           monitor last heard of them */
};

/* The live broker's reports and signals carry this src in the queue (the
 * market data source is 0). */
#define SESSION_BRIDGE_SRC 1

static const char *const stop_names[SESSION_STOP_COUNT] = {
    "end_of_feed", "max_bars", "signal"};

const char *session_stop_name(enum session_stop s) {
  return (unsigned)s < SESSION_STOP_COUNT ? stop_names[s] : "unknown";
}

void session_opts_init(session_opts *o) {
  memset(o, 0, sizeof *o);
  o->speed = -1;
  o->max_bars = UINT64_MAX;
  o->summary_out = stdout;
  o->msg_out = stderr;
}

int session_action_parse(const char *s, session_action *out, char *err,
                         size_t cap) {
  static const char *const names[SESSION_ACT_COUNT] = {
      "kill", "release", "reload", "stop", "stall"};
  memset(out, 0, sizeof *out);
  const char *colon = strchr(s, ':');
  char *end = NULL;
  errno = 0;
  unsigned long long at =
      colon && s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
  if (!colon || end != colon || errno) {
    snprintf(err, cap, "expected N:ACTION with N a bar number, got '%.60s'", s);
    return DTO_EPARSE;
  }
  out->at = at;
  const char *a = colon + 1;
  for (int k = 0; k < SESSION_ACT_COUNT; k++) {
    size_t n = strlen(names[k]);
    if (strncmp(a, names[k], n) != 0)
      continue;
    if (a[n] == '\0' && k != SESSION_ACT_STALL) {
      out->act = (enum session_act)k;
      return 0;
    }
    if (k == SESSION_ACT_RELOAD && a[n] == '=' && a[n + 1]) {
      out->act = SESSION_ACT_RELOAD;
      out->file = a + n + 1;
      return 0;
    }
    if (k == SESSION_ACT_STALL && a[n] == '=') {
      errno = 0;
      char *e2;
      long long ms = strtoll(a + n + 1, &e2, 10);
      if (a[n + 1] >= '0' && a[n + 1] <= '9' && !*e2 && !errno &&
          ms >= 1 && ms <= 600000) {
        out->act = SESSION_ACT_STALL;
        out->ms = ms;
        return 0;
      }
      snprintf(err, cap, "stall=MS: expected 1 to 600000 milliseconds in "
                         "'%.60s'",
               s);
      return DTO_EPARSE;
    }
  }
  snprintf(err, cap,
           "unknown action in '%.60s': expected kill, release, stop, "
           "reload, reload=FILE or stall=MS",
           s);
  return DTO_EPARSE;
}

/* ---- start-up ------------------------------------------------------------ */

static int load_feed(const dto_config *cfg, bar_vec *out, char *err,
                     size_t cap) {
  if (cfg->run.feed == FEED_GENERATE) {
    const char **syms =
        xcalloc(cfg->instruments.n ? cfg->instruments.n : 1, sizeof *syms);
    for (size_t i = 0; i < cfg->instruments.n; i++)
      syms[i] = cfg->instruments.v[i].symbol;
    gen_opts g;
    gen_opts_init(&g);
    g.seed = cfg->run.gen_seed;
    g.symbols = syms;
    g.nsymbols = cfg->instruments.n;
    g.days = cfg->run.gen_days;
    g.cal = cfg->instruments.n ? cfg->instruments.v[0].cal : NULL;
    dto_clock rc;
    clock_real_init(&rc);
    g.start_day = floordiv64(clock_now(&rc), DTO_NS_PER_DAY);
    int r = gen_bars(&g, out);
    free(syms);
    if (r)
      snprintf(err, cap, "cannot generate the feed: %s", dto_strerror(r));
    return r;
  }
  size_t bad = 0;
  return feed_load(cfg, NULL, 0, INT64_MIN, INT64_MAX, false, true, out, NULL,
                   &bad, err, cap);
}

static void now_iso(char *buf, size_t cap) {
  dto_clock rc;
  clock_real_init(&rc);
  time_format(clock_now(&rc), buf, cap);
}

static int cmp_action(const void *a, const void *b) {
  const session_action *x = a, *y = b;
  return x->at < y->at ? -1 : x->at > y->at;
}

/* ---- the reports of --out ------------------------------------------------ */

static void out_write(fileio_atomic *f, const dbuf *b) {
  if (f)
    fileio_atomic_write(f, b->ptr, b->len);
}

static void sink_order(void *ctx, const runner *r, const order *o) {
  run_session *s = ctx;
  dbuf_reset(&s->row);
  runner_order_row(r, &s->row, NULL, o);
  out_write(s->orders_f, &s->row);
}

static void sink_fill(void *ctx, const runner *r, const order *o, fx qty,
                      fx price, fx fee, dto_time t) {
  run_session *s = ctx;
  size_t nsyms = s->cfg.instruments.n;
  s->acct_touched[(size_t)o->account * nsyms + o->sym] = true;
  s->strat_touched[(size_t)o->strategy * nsyms + o->sym] = true;
  dbuf_reset(&s->row);
  runner_fill_row(r, &s->row, NULL, o, qty, price, fee, t);
  out_write(s->fills_f, &s->row);
}

/* SIGHUP: the log file again (logrotate moved it); a line in the new file
 * says so, or in the old one why not. */
static void reopen_log(run_session *s) {
  if (!s->log_path)
    return;
  int rc = log_reopen(s->logf, s->log_path);
  log_line l;
  if (log_begin(&l, &s->r.log, rc ? LOG_ERROR : LOG_INFO,
                rc ? "log.reopen_failed" : "log.reopened")) {
    if (rc)
      log_str(&l, "error", dto_strerror(rc));
    log_end(&l);
  }
}

/* ---- the monitor's sources ---------------------------------------------- */

/* The engine's alerts as the monitor's event alerts (engine thread; the
 * monitor only queues).  Some are the end of another (a bracket protected
 * again, a halt released); stale data is the MarketDataStale rule's. */
static void sink_alert(void *ctx, const runner *r, const char *code, int scope,
                       uint32_t index, const char *msg) {
  run_session *s = ctx;
  if (!s->mon)
    return;
  const char *kind = scope == 1 ? "account" : scope == 2 ? "strategy" : "";
  const char *id = scope == 1   ? engine_account_id(r->e, index)
                   : scope == 2 ? engine_strategy_id(r->e, index)
                                : "";
  static const struct {
    const char *code, *clears;
    enum alert_sev sev;
  } map[] = {
      {"bracket_protected", "bracket_unprotected", SEV_INFO},
      {"instrument_released", "instrument_halted", SEV_INFO},
      {"storage_recovered", NULL, SEV_INFO},
      {"stale_data", NULL, SEV_INFO},
      {"storage_fault", NULL, SEV_INFO}, /* StoreDown */
      {"kill_switch", NULL, SEV_INFO},   /* KillSwitchEngaged */
      {"fill_loop", NULL, SEV_INFO},     /* a halt: risk_halted */
      {"consecutive_losses", NULL, SEV_INFO}, /* risk_reducing */
      {"instrument_halted", "", SEV_WARNING},
      {"broker_report_invalid", "", SEV_WARNING},
  };
  for (int why = 1; why < RISK_REASON_COUNT; why++)
    if (!strcmp(code, risk_reason_name((enum risk_reason)why)))
      return; /* a limit crossed: its mode change is the alert */
  enum alert_sev sev = SEV_CRITICAL;
  for (size_t i = 0; i < DTO_ARRAY_LEN(map); i++)
    if (!strcmp(code, map[i].code)) {
      if (!map[i].clears)
        return; /* a notice, or another rule's (publish wakes it) */
      if (map[i].clears[0]) {
        monitor_event(s->mon, map[i].clears, SEV_INFO, kind, id, msg, true);
        return;
      }
      sev = map[i].sev;
    }
  monitor_event(s->mon, code, sev, kind, id, msg, false);
}

/* A risk mode change of an account or a strategy: halted and reducing are
 * alerts until the scope is active again (the kill switch is the
 * KillSwitchEngaged rule's). */
static void sink_risk_change(void *ctx, const runner *r, const risk_change *c) {
  run_session *s = ctx;
  if (!s->mon || c->scope == RISK_SCOPE_GLOBAL || c->from == c->to)
    return;
  const char *kind = c->scope == RISK_SCOPE_ACCOUNT ? "account" : "strategy";
  const char *id = c->scope == RISK_SCOPE_ACCOUNT
                       ? engine_account_id(r->e, c->index)
                       : engine_strategy_id(r->e, c->index);
  char msg[200];
  snprintf(msg, sizeof msg, "%s %s: %s -> %s (%s)", kind, id,
           risk_mode_name(c->from), risk_mode_name(c->to),
           risk_cause_name(c->cause));
  if (c->from != MODE_ACTIVE)
    monitor_event(s->mon,
                  c->from == MODE_HALTED ? "risk_halted" : "risk_reducing",
                  SEV_INFO, kind, id, msg, true);
  if (c->to == MODE_HALTED)
    monitor_event(s->mon, "risk_halted", SEV_CRITICAL, kind, id, msg, false);
  else if (c->to == MODE_REDUCING)
    monitor_event(s->mon, "risk_reducing", SEV_WARNING, kind, id, msg, false);
  /* the cause is in the summary (msg); the labels name the scope only, so
   * that the end of the mode clears it whatever the cause was */
}

static bool mon_stale(void *ctx) {
  run_session *s = ctx;
  return atomic_load(&s->n_stale) > 0;
}

static int64_t mon_beat(void *ctx) {
  run_session *s = ctx;
  return atomic_load_explicit(&s->beat, memory_order_relaxed);
}

static bool mon_broker_up(void *ctx, char *why, size_t cap) {
  run_session *s = ctx;
  if (!s->live) {
    snprintf(why, cap, "paper exchange");
    return true;
  }
  alpaca_trade_stats ts;
  alpaca_trader_stats(s->tr, &ts);
  alpaca_md_stats ms;
  memset(&ms, 0, sizeof ms);
  if (s->src)
    alpaca_md_get_stats(s->src, &ms);
  bool md = ms.state == ALPACA_MD_STREAMING;
  snprintf(why, cap, "alpaca trade updates %s, market data %s",
           ts.stream_up ? "connected" : "disconnected",
           alpaca_md_state_name(ms.state));
  return ts.stream_up && md;
}

static void mon_broker(void *ctx, mset *m) {
  run_session *s = ctx;
  mset_family(m, "dto_broker_connected", MT_GAUGE,
              "1 while the broker's stream is connected.");
  if (!s->live) {
    mset_add(m, 1, "broker", "paper", "stream", "orders", NULL);
    return;
  }
  alpaca_trade_stats ts;
  alpaca_trader_stats(s->tr, &ts);
  alpaca_md_stats ms;
  memset(&ms, 0, sizeof ms);
  if (s->src)
    alpaca_md_get_stats(s->src, &ms);
  mset_add(m, ts.stream_up ? 1 : 0, "broker", "alpaca", "stream", "trade",
           NULL);
  mset_add(m, ms.state == ALPACA_MD_STREAMING ? 1 : 0, "broker", "alpaca",
           "stream", "data", NULL);
  mset_family(m, "dto_broker_requests_total", MT_COUNTER,
              "Requests the broker adapter carried out.");
  mset_add(m, (double)ts.requests, "broker", "alpaca", NULL);
  mset_family(m, "dto_broker_errors_total", MT_COUNTER,
              "Broker errors (requests and streams).");
  mset_add(m, (double)ts.errors, "broker", "alpaca", "stream", "trade", NULL);
  mset_add(m, (double)ms.disconnects, "broker", "alpaca", "stream", "data",
           NULL);
  mset_family(m, "dto_broker_reconnects_total", MT_COUNTER,
              "Stream reconnects.");
  mset_add(m, (double)ts.reconnects, "broker", "alpaca", "stream", "trade",
           NULL);
  mset_add(m, (double)ms.reconnects, "broker", "alpaca", "stream", "data",
           NULL);
  mset_family(m, "dto_broker_rejected_total", MT_COUNTER,
              "Orders the broker rejected.");
  mset_add(m, (double)ts.rejected, "broker", "alpaca", NULL);
  mset_family(m, "dto_broker_request_duration_seconds", MT_HISTOGRAM,
              "Broker REST request time.");
  mhist_snap hs;
  alpaca_trader_latency(s->tr, &hs);
  const char *k[] = {"broker"}, *v[] = {"alpaca"};
  mset_hist(m, &hs, 1, k, v);
}

/* Start the monitor (with the API or alerts): before the API, which
 * serves its routes. */
static int start_monitor(run_session *s, char *err, size_t cap) {
  if (!s->cfg.api.present && !s->cfg.alerts.present && !s->cfg.monitor.present)
    return 0;
  monitor_src ms;
  memset(&ms, 0, sizeof ms);
  ms.sv = &s->sv;
  ms.j = s->r.j;
  ms.store_url = s->cfg.run.store;
  ms.broker = mon_broker;
  ms.broker_up = mon_broker_up;
  ms.stale = mon_stale;
  ms.heartbeat = mon_beat;
  ms.ctx = s;
  ms.state_dir = s->sdir;
  ms.feed = s->live ? "alpaca" : cfg_feed_name(s->cfg.run.feed);
  if (!(s->mon = monitor_new(&s->cfg, &ms, err, cap)))
    return DTO_ECONFIG;
  monitor_set_log(s->mon, s->logf, (enum log_level)s->cfg.log_level);
  return monitor_start(s->mon, err, cap);
}

/* Open the streamed reports (temporary files until close). */
static int out_open(run_session *s, char *err, size_t cap) {
  const char *dir = s->o.out_dir;
  int rc = fileio_mkdir_p(dir);
  if (rc) {
    snprintf(err, cap, "cannot create %s: %s", dir, dto_strerror(rc));
    return rc;
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, SESSION_ORDERS_CSV);
  if ((rc = fileio_atomic_open(path, 0644, &s->orders_f, err, cap)))
    return rc;
  snprintf(path, sizeof path, "%s/%s", dir, SESSION_FILLS_CSV);
  if ((rc = fileio_atomic_open(path, 0644, &s->fills_f, err, cap)))
    return rc;
  fileio_atomic_write(s->orders_f, runner_orders_header,
                      strlen(runner_orders_header));
  fileio_atomic_write(s->fills_f, runner_fills_header,
                      strlen(runner_fills_header));
  return 0;
}

static void json_fx(dbuf *b, const char *key, fx v) {
  dbuf_printf(b, ",\"%s\":\"", key);
  dbuf_addfx(b, v);
  dbuf_addc(b, '"');
}

static void summary_json(const run_session *s, dbuf *b) {
  const runner *r = &s->r;
  const portfolio *p = engine_portfolio(r->e);
  const risk *rk = engine_risk(r->e);
  dbuf_printf(b,
              "{\"dto_version\":\"%s\",\"stop_reason\":\"%s\","
              "\"first_bar\":%zu,\"bars\":%" PRIu64 ",\"orders\":%zu,"
              "\"fills\":%" PRIu64 ",\"working_orders\":%zu,"
              "\"kill_switch\":%s,\"store_fault\":%s,\"unreconciled\":%s,"
              "\"accounts\":[",
              DTO_VERSION, session_stop_name(s->stop), s->first, s->played,
              oms_count(engine_oms(r->e)), engine_fill_count(r->e),
              engine_working_orders(r->e),
              engine_killed(r->e) ? "true" : "false",
              risk_store_faulted(rk) ? "true" : "false",
              risk_is_unreconciled(rk) ? "true" : "false");
  for (size_t a = 0; a < s->cfg.naccounts; a++) {
    uint32_t ai = (uint32_t)a;
    dbuf_adds(b, a ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, engine_account_id(r->e, a));
    json_fx(b, "cash", portfolio_account_cash(p, ai));
    json_fx(b, "equity", portfolio_account_equity(p, ai));
    json_fx(b, "realized", portfolio_account_realized(p, ai));
    json_fx(b, "fees", portfolio_account_fees(p, ai));
    dbuf_printf(b, ",\"mode\":\"%s\"}",
                risk_mode_name(risk_mode_of(rk, 1, ai)));
  }
  dbuf_adds(b, "],\"strategies\":[");
  for (size_t i = 0; i < engine_nstrategies(r->e); i++) {
    uint32_t si = (uint32_t)i;
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, engine_strategy_id(r->e, i));
    dbuf_adds(b, ",\"account\":");
    dbuf_json_str(b, engine_account_id(r->e, r->rcfg.strategy_account[i]));
    json_fx(b, "cash", portfolio_strategy_cash(p, si));
    json_fx(b, "equity", portfolio_strategy_equity(p, si));
    json_fx(b, "realized", portfolio_strategy_realized(p, si));
    json_fx(b, "fees", portfolio_strategy_fees(p, si));
    dbuf_printf(b, ",\"mode\":\"%s\"}",
                risk_mode_name(risk_mode_of(rk, 2, si)));
  }
  dbuf_adds(b, "]}\n");
}

static bool pos_nonzero(const position *p) {
  return p->qty || p->cost || p->realized || p->fees;
}

/* Finish the reports: working orders, then every file into place. */
static int out_close(run_session *s, char *err, size_t cap) {
  const runner *r = &s->r;
  const oms *om = engine_oms(r->e);
  const portfolio *p = engine_portfolio(r->e);
  size_t nsyms = s->cfg.instruments.n, nopen;
  const order_id *open = oms_open_ids(om, &nopen);
  for (size_t i = 0; i < nopen; i++)
    sink_order(s, r, oms_cget(om, open[i]));
  fileio_atomic *of = s->orders_f, *ff = s->fills_f;
  s->orders_f = s->fills_f = NULL;
  int rc = fileio_atomic_commit(of, err, cap);
  int rc2 = fileio_atomic_commit(ff, rc ? NULL : err, rc ? 0 : cap);
  rc = rc ? rc : rc2;
  /* positions: every row with activity in this session or a non-zero
   * value (restored), the account's then its strategies' */
  dbuf b;
  dbuf_init(&b, SIZE_MAX / 2);
  dbuf_adds(&b, runner_positions_header);
  for (size_t a = 0; a < s->cfg.naccounts; a++) {
    for (size_t y = 0; y < nsyms; y++)
      if (s->acct_touched[a * nsyms + y] ||
          pos_nonzero(portfolio_account_pos(p, (uint32_t)a, (sym_id)y)))
        runner_position_row(r, &b, (uint32_t)a, -1, (sym_id)y);
    for (size_t i = 0; i < engine_nstrategies(r->e); i++) {
      if (r->rcfg.strategy_account[i] != a)
        continue;
      for (size_t y = 0; y < nsyms; y++)
        if (s->strat_touched[i * nsyms + y] ||
            pos_nonzero(portfolio_strategy_pos(p, (uint32_t)i, (sym_id)y)))
          runner_position_row(r, &b, (uint32_t)a, (int64_t)i, (sym_id)y);
    }
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", s->o.out_dir, SESSION_POSITIONS_CSV);
  rc2 = fileio_write_atomic(path, b.ptr, b.len, 0644, rc ? NULL : err,
                            rc ? 0 : cap);
  rc = rc ? rc : rc2;
  dbuf_reset(&b);
  summary_json(s, &b);
  snprintf(path, sizeof path, "%s/%s", s->o.out_dir, SESSION_SUMMARY_JSON);
  rc2 = fileio_write_atomic(path, b.ptr, b.len, 0644, rc ? NULL : err,
                            rc ? 0 : cap);
  dbuf_release(&b);
  return rc ? rc : rc2;
}

/* ---- operator actions ------------------------------------------------------
 */

/* Engage the kill switch now and record it in the state file (SIGUSR1;
 * who: "signal" or "script", what: the reason recorded). */
static void follow_lifecycle(run_session *s, const char *why);

static size_t do_kill(run_session *s, const char *who, const char *what) {
  size_t n = engine_kill(s->r.e, true, what);
  follow_lifecycle(s, "kill switch");
  run_state st;
  char err[512];
  if (state_read(s->sdir, &st, err, sizeof err) || !st.killed) {
    memset(&st, 0, sizeof st);
    st.killed = true;
    snprintf(st.by, sizeof st.by, "%s", who);
    snprintf(st.reason, sizeof st.reason, "%s", what);
    now_iso(st.at, sizeof st.at);
    if (state_write(s->sdir, &st, err, sizeof err) && s->o.msg_out)
      fprintf(s->o.msg_out, "dto: %s\n", err);
  }
  return n;
}

/* Every lifecycle change goes to the journal too (the log has it already). */
static void on_lifecycle(void *ctx, enum lc_state from, enum lc_state to,
                         const char *why, bool legal) {
  run_session *s = ctx;
  if (s->r.j)
    jhooks_lifecycle(&s->r.jh, clock_now(&s->r.clock), lc_state_name(from),
                     lc_state_name(to), why, legal);
}

/* After a kill switch change, a reconciliation or a command: halted while
 * trading is off for the whole service (kill switch, books not
 * reconciled), else maintenance while a person said so, else ready. */
static void follow_lifecycle(run_session *s, const char *why) {
  enum lc_state st = s->lc.state;
  if (st != LC_READY && st != LC_HALTED && st != LC_RECONCILING &&
      st != LC_MAINTENANCE)
    return;
  const risk *rk = engine_risk(s->r.e);
  bool off = engine_killed(s->r.e) || risk_is_unreconciled(rk);
  enum lc_state to = off                           ? LC_HALTED
                     : engine_maintenance(s->r.e) ? LC_MAINTENANCE
                                                   : LC_READY;
  if (to != st)
    lifecycle_transition(&s->lc, to, why);
}

/* `dto kill --clear-halt SYMBOL|all` leaves the symbol in dto.clear: a
 * person lifts the halt the engine put on an instrument after a broker
 * report it refused.  Applied once, then the file is removed. */
static void clear_halts(run_session *s) {
  char path[4200], err[512];
  snprintf(path, sizeof path, "%s/dto.clear", s->sdir);
  char *text = NULL;
  size_t n = 0;
  if (access(path, F_OK) != 0 ||
      fileio_read_small(path, 128, &text, &n, err, sizeof err)) {
    if (access(path, F_OK) == 0 && s->o.msg_out)
      fprintf(s->o.msg_out, "dto: %s\n", err);
    return;
  }
  while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
    text[--n] = '\0';
  const instrument_table *ins = &s->cfg.instruments;
  bool all = !strcmp(text, "all"), found = all;
  for (size_t y = 0; y < ins->n; y++)
    if (all || !strcmp(ins->v[y].symbol, text)) {
      found = true;
      if (engine_instrument_halted(s->r.e, (sym_id)y))
        engine_halt_instrument(s->r.e, (sym_id)y, false, "dto kill");
    }
  runner_checkpoint(&s->r); /* with a journal: the lift survives a crash */
  if (!found && s->o.msg_out)
    fprintf(s->o.msg_out, "dto: --clear-halt: '%s' is not an instrument of "
                          "this configuration\n",
            text);
  free(text);
  unlink(path);
}

/* Follow the state file a person wrote with `dto kill` (SIGUSR2, and at
 * the start): the file decides, both ways. */
static void follow_state(run_session *s) {
  run_state st;
  char err[512];
  int rc = state_read(s->sdir, &st, err, sizeof err);
  if (rc && s->o.msg_out) /* st.killed is set: fail closed */
    fprintf(s->o.msg_out, "dto: %s (trading stays off)\n", err);
  if (st.killed != engine_killed(s->r.e))
    engine_kill(s->r.e, st.killed, st.by[0] ? st.by : "state file");
  clear_halts(s);
  follow_lifecycle(s, st.killed ? "kill switch" : "kill switch released");
}

/* A release: what `dto kill --release` writes, then what SIGUSR2 does. */
static void do_release_by(run_session *s, const char *who, const char *why) {
  run_state st;
  char err[512];
  memset(&st, 0, sizeof st);
  snprintf(st.by, sizeof st.by, "%s", who);
  snprintf(st.reason, sizeof st.reason, "%s", why);
  now_iso(st.at, sizeof st.at);
  if (state_write(s->sdir, &st, err, sizeof err) && s->o.msg_out)
    fprintf(s->o.msg_out, "dto: %s\n", err);
  follow_state(s);
}

static int apply_limits(run_session *s);

/* SIGHUP: new risk limits from the configuration file; validated first,
 * never lifting a halt or the kill switch.  The new limits replace the
 * session's own copy (s->cfg.risk), which set_limit changes too.  0, or
 * non-zero when nothing was applied (logged). */
static int do_reload(run_session *s, const char *path) {
  runner *r = &s->r;
  dto_config nc;
  char err[1024];
  log_line l;
  int rc = config_load(path, &nc, err, sizeof err);
  if (rc) {
    if (log_begin(&l, &r->log, LOG_ERROR, "risk.reload_refused")) {
      log_str(&l, "error", err);
      log_end(&l);
    }
    return rc;
  }
  if (nc.naccounts != r->cfg->naccounts ||
      nc.instruments.n != r->cfg->instruments.n ||
      nc.nstrategies != r->cfg->nstrategies) {
    if (log_begin(&l, &r->log, LOG_ERROR, "risk.reload_refused")) {
      log_str(&l, "error",
              "accounts, instruments or strategies changed: "
              "restart to apply");
      log_end(&l);
    }
    config_release(&nc);
    return DTO_EINVAL;
  }
  cfg_risk old = s->cfg.risk;
  s->cfg.risk = nc.risk;
  nc.risk = old; /* freed with nc, or put back */
  if ((rc = apply_limits(s))) {
    nc.risk = s->cfg.risk;
    s->cfg.risk = old;
    if (log_begin(&l, &r->log, LOG_ERROR, "risk.reload_refused")) {
      log_str(&l, "error", "invalid risk limits");
      log_end(&l);
    }
  }
  config_release(&nc);
  return rc;
}

/* ---- the service's threads ------------------------------------------------ */

static void *signal_main(void *arg);
static void publish(run_session *s);

/* The queue, the command path, the control socket, the signal thread and
 * the feed's source, in that order (each may use the ones before it). */
/* The engine's inbound queue and the command path (before the runner: a
 * live broker's bridge reports through the queue). */
static int open_queue(run_session *s, char *err, size_t cap) {
  inq_config qc;
  memset(&qc, 0, sizeof qc);
  qc.capacity = s->cfg.run.queue_capacity ? s->cfg.run.queue_capacity : 8192;
  qc.nsyms = (uint32_t)s->cfg.instruments.n;
  qc.conflate = false; /* every bar matters (a live feed's too: strategies
                          see each minute bar) */
  int rc = inq_new(&qc, &s->q);
  if (rc) {
    snprintf(err, cap, "cannot create the engine's queue: %s",
             dto_strerror(rc));
    return rc;
  }
  svc_init(&s->sv, s->q);
  s->sv_init = true;
  return 0;
}

/* A live session's broker: Alpaca's keys and endpoints, the bridge and
 * the adapter (its thread starts with the service). */
static int open_live(run_session *s, char *err, size_t cap) {
  int rc = alpaca_conf_resolve(&s->cfg.alpaca, NULL, &s->aconf, err, cap);
  if (rc)
    return rc;
  bridge_config bc = {4096, s->q, SESSION_BRIDGE_SRC, 2 * DTO_NS_PER_SEC,
                      &s->sv.overflows};
  if ((rc = bridge_new(&bc, &s->br))) {
    snprintf(err, cap, "cannot create the broker's bridge");
    return rc;
  }
  rc = alpaca_trader_new(&s->aconf, &s->cfg.instruments, s->br, &s->tr, err,
                         cap);
  s->live = true;
  s->feed_state = -1;
  return rc;
}

/* The configuration's strategies as {"ID": {"type", "account", "symbols",
 * "allocation", "params": {NAME: VALUE}}} (decimals as strings, durations
 * in seconds). */
static void strategies_json(const dto_config *cfg, dbuf *b) {
  dbuf_addc(b, '{');
  bool first = true;
  for (size_t i = 0; i < cfg->nstrategies; i++) {
    const cfg_strategy *st = &cfg->strategies[i];
    if (!st->enabled)
      continue;
    if (!first)
      dbuf_addc(b, ',');
    first = false;
    dbuf_json_str(b, st->id);
    dbuf_adds(b, ":{\"type\":");
    dbuf_json_str(b, st->def->name);
    dbuf_adds(b, ",\"account\":");
    dbuf_json_str(b, cfg->accounts[st->account].id);
    dbuf_adds(b, ",\"symbols\":[");
    for (size_t k = 0; k < st->nsyms; k++) {
      if (k)
        dbuf_addc(b, ',');
      dbuf_json_str(b, cfg->instruments.v[st->syms[k]].symbol);
    }
    dbuf_adds(b, "],\"allocation\":\"");
    dbuf_addfx(b, st->allocation);
    dbuf_adds(b, "\",\"params\":{");
    for (size_t k = 0; k < st->def->nparams; k++) {
      const param_spec *ps = &st->def->params[k];
      const param_value *pv = &st->params[k];
      if (k)
        dbuf_addc(b, ',');
      dbuf_json_str(b, ps->name);
      dbuf_addc(b, ':');
      switch (ps->type) {
      case PARAM_INT:
        dbuf_printf(b, "%" PRId64, pv->u.i);
        break;
      case PARAM_FX:
        dbuf_addc(b, '"');
        dbuf_addfx(b, pv->u.f);
        dbuf_addc(b, '"');
        break;
      case PARAM_DOUBLE:
        dbuf_printf(b, "%.17g", pv->u.d);
        break;
      case PARAM_BOOL:
        dbuf_adds(b, pv->u.b ? "true" : "false");
        break;
      case PARAM_ENUM:
        dbuf_json_str(b, ps->choices ? ps->choices[pv->u.e] : "");
        break;
      default: /* PARAM_DURATION: seconds */
        dbuf_printf(b, "%" PRId64, (int64_t)(pv->u.dur / DTO_NS_PER_SEC));
        break;
      }
    }
    dbuf_adds(b, "}}");
  }
  dbuf_addc(b, '}');
}

static int start_service(run_session *s, char *err, size_t cap) {
  int rc;
  size_t nins = s->cfg.instruments.n ? s->cfg.instruments.n : 1;
  s->last_event = xcalloc(nins, sizeof(dto_time));
  s->last_bar = xcalloc(nins, sizeof *s->last_bar);
  s->last_quote = xcalloc(nins, sizeof *s->last_quote);
  s->spin_ns = s->cfg.run.idle_spin;
  s->drain_ns =
      s->cfg.run.drain_timeout > 0 ? s->cfg.run.drain_timeout : 10 * DTO_NS_PER_SEC;
  publish(s); /* status answers from the first moment */
  char path[4200], e2[512];
  ctl_default_path(&s->cfg, path, sizeof path);
  if (ctl_start(path, &s->sv, &s->ctl, e2, sizeof e2)) {
    /* the service runs without it: dto kill and signals still work */
    s->ctl = NULL;
    if (s->o.msg_out)
      fprintf(s->o.msg_out, "dto: dto ctl will not work: %s\n", e2);
    log_line l;
    if (log_begin(&l, &s->r.log, LOG_ERROR, "ctl.unavailable")) {
      log_str(&l, "error", e2);
      log_end(&l);
    }
  }
  atomic_store(&s->beat, clock_mono_ns());
  if ((rc = start_monitor(s, err, cap)))
    return rc;
  if (s->ctl && s->mon)
    ctl_set_extra(s->ctl, monitor_ctl, s->mon);
  if (s->cfg.api.present) {
    /* the HTTP API: a failure to listen stops the start (an operator who
     * asked for it must not find it silently missing) */
    dbuf sj;
    dbuf_init(&sj, 1u << 20);
    strategies_json(&s->cfg, &sj);
    cfg_api ac = s->cfg.api;
    ac.strategies_json = sj.ptr;
    ac.monitor = s->mon;
    ac.metrics_token = s->cfg.monitor.metrics_token;
    ac.logf = s->logf;
    ac.log_min = s->cfg.log_level;
    rc = api_start(&ac, s->cfg.run.store, &s->sv, &s->api, err, cap);
    dbuf_release(&sj);
    if (rc)
      return rc;
    log_line l;
    if (log_begin(&l, &s->r.log, LOG_INFO, "api.listening")) {
      log_str(&l, "listen", s->cfg.api.listen ? s->cfg.api.listen
                                              : "127.0.0.1:8080");
      log_int(&l, "port", api_port(s->api));
      log_str(&l, "scheme", s->cfg.api.tls_cert ? "https" : "http");
      log_end(&l);
    }
    if (s->o.msg_out)
      fprintf(s->o.msg_out, "dto: HTTP API on %s (port %d)\n",
              s->cfg.api.listen ? s->cfg.api.listen : "127.0.0.1:8080",
              api_port(s->api));
  }
  /* jobs: off the engine thread, on the snapshots' clock */
  s->jobs = jobs_new(&s->sv,
                     s->cfg.instruments.n ? s->cfg.instruments.v[0].cal : NULL,
                     s->logf, (enum log_level)s->cfg.log_level, false);
  if (s->cfg.run.status_log &&
      (rc = jobs_add(s->jobs, "status", s->cfg.run.status_log,
                     jobs_status_report, s->jobs, err, cap)))
    return rc;
  if (!(s->bj = backup_jobs_add(s->jobs, &s->cfg, s->mon, err, cap)))
    return DTO_ECONFIG;
  if ((rc = jobs_start(s->jobs))) {
    snprintf(err, cap, "cannot start the job scheduler's thread");
    return rc;
  }
  atomic_init(&s->sig_quit, false);
  atomic_init(&s->drain_deadline, 0);
  if (pthread_create(&s->sig_th, NULL, signal_main, s)) {
    snprintf(err, cap, "cannot start the signal thread");
    return DTO_ENOMEM;
  }
  s->sig_started = true;
  if (s->live) {
    /* the broker first: its thread holds every order until the engine
     * has reconciled with Alpaca (the first thing it asks) */
    if ((rc = alpaca_trader_start(s->tr, err, cap)))
      return rc;
    s->recon_next = clock_mono_ns() + s->cfg.alpaca.reconcile_interval;
    alpaca_md_opts mo;
    memset(&mo, 0, sizeof mo);
    s->src = source_alpaca_new(&s->aconf, &s->cfg.instruments, s->q, 0, &mo);
  } else {
    s->src = source_replay_new(
        s->cfg.run.feed == FEED_GENERATE ? "generate" : "replay", s->bars.v,
        s->bars.n, s->first, s->speed, s->q, 0);
  }
  if (!s->src || (rc = source_start(s->src))) {
    snprintf(err, cap, "cannot start the feed's thread");
    return s->src ? rc : DTO_ENOMEM;
  }
  return 0;
}

/* Answer every command still queued: the service no longer takes any. */
static void refuse_queued(run_session *s) {
  inq_event ev[64];
  size_t n;
  while ((n = inq_pop_batch(s->q, ev, 64)) > 0)
    for (size_t i = 0; i < n; i++)
      if (ev[i].kind == INQ_COMMAND) {
        svc_req *q = ev[i].u.command.req;
        svc_answer_set(&q->ans, SVC_CONFLICT, NULL,
                       "the service is stopping");
        svc_req_finish(q);
      }
}

/* Stop every thread but the signal thread (it holds the drain to its
 * bound until the very end), then the queue's leftovers. */
static void stop_service(run_session *s) {
  if (s->sv_init)
    svc_close(&s->sv); /* waiting clients are answered "stopping" now */
  source_free(s->src);
  s->src = NULL;
  jobs_free(s->jobs);
  backup_jobs_free(s->bj);
  s->bj = NULL;
  s->jobs = NULL;
  if (s->ctl)
    ctl_stop(s->ctl);
  s->ctl = NULL;
  api_stop(s->api);
  s->api = NULL;
  monitor_free(s->mon); /* after the API, which reads it */
  s->mon = NULL;
  if (s->q)
    refuse_queued(s);
}

static void stop_signals(run_session *s) {
  if (s->sig_started) {
    atomic_store(&s->sig_quit, true);
    pthread_join(s->sig_th, NULL);
    s->sig_started = false;
  }
  if (s->q)
    refuse_queued(s); /* a signal's command that came late */
}

static bool bridge_unsent(void *ctx, order_id id) {
  return bridge_queued(ctx, id);
}

/* A new live session's warm-up: the last cfg.alpaca.warmup_bars minute
 * bars of each instrument from Alpaca's history (the past week), played
 * to the strategies in time order before the first live bar; they warm
 * indicators and make no order (engine_warm_bar).  A failure only leaves
 * the strategies cold: it is logged, and the session goes on. */
static void live_warmup(run_session *s) {
  size_t want = (size_t)s->cfg.alpaca.warmup_bars;
  if (!want)
    return;
  /* "now" is Alpaca's: its clock's answer (the wall clock if it has
   * none) */
  dto_clock wall;
  clock_real_init(&wall);
  dto_time end = clock_now(&wall);
  http_conf hc;
  http_client *hcl = NULL;
  char e0[512];
  alpaca_http_conf(&s->aconf, false, &hc);
  if (http_client_new(&hc, &hcl, e0, sizeof e0) == 0) {
    http_response r;
    memset(&r, 0, sizeof r);
    alpaca_clock ck;
    if (http_request(hcl, HTTP_GET, "/v2/clock", NULL, &r, e0, sizeof e0) ==
            0 &&
        r.status == 200 &&
        alpaca_clock_parse(r.body, r.len, &ck, e0, sizeof e0) == 0)
      end = ck.timestamp;
    http_response_release(&r);
    http_client_free(hcl);
  }
  dto_time start = end - 7 * DTO_NS_PER_DAY;
  bar_vec all;
  memset(&all, 0, sizeof all);
  for (size_t y = 0; y < s->cfg.instruments.n; y++) {
    bar_vec one;
    memset(&one, 0, sizeof one);
    char err[512];
    int rc = alpaca_md_warmup(&s->aconf, &s->cfg.instruments, (sym_id)y,
                              start, end, &one, err, sizeof err);
    log_line l;
    if (rc && log_begin(&l, &s->r.log, LOG_WARN, "warmup.failed")) {
      log_str(&l, "symbol", s->cfg.instruments.v[y].symbol);
      log_str(&l, "error", err);
      log_end(&l);
    }
    for (size_t i = one.n > want ? one.n - want : 0; i < one.n; i++)
      bar_vec_push(&all, &one.v[i]);
    bar_vec_release(&one);
  }
  /* one time order over the instruments (instrument order within a
   * minute, as a replay has it) */
  if (all.n)
    qsort(all.v, all.n, sizeof *all.v, feed_cmp_bar);
  for (size_t i = 0; i < all.n; i++) {
    runner_live_time(&s->r, bar_end(&all.v[i]));
    engine_warm_bar(s->r.e, &all.v[i]);
  }
  log_line l;
  if (log_begin(&l, &s->r.log, LOG_INFO, "warmup")) {
    log_int(&l, "bars", (int64_t)all.n);
    log_end(&l);
  }
  bar_vec_release(&all);
}

/* ---- open ---------------------------------------------------------------- */

static void free_session(run_session *s) {
  stop_service(s);
  alpaca_trader_free(s->tr); /* before the bridge and the queue */
  s->tr = NULL;
  stop_signals(s);
  if (s->sv_init)
    svc_release(&s->sv);
  bridge_free(s->br);
  alpaca_conf_wipe(&s->aconf);
  inq_free(s->q);
  free(s->last_event);
  free(s->last_bar);
  free(s->last_quote);
  free(s->stale);
  free(s->paused);
  fileio_atomic_abort(s->orders_f);
  fileio_atomic_abort(s->fills_f);
  dbuf_release(&s->row);
  free(s->acct_touched);
  free(s->strat_touched);
  free(s->acts);
  bar_vec_release(&s->bars);
  lifecycle_release(&s->lc);
  state_unlock(s->lock_fd);
  config_release(&s->cfg);
  if (s->logf && s->logf != stderr) {
    log_set_priority_prefix(NULL);
    fclose(s->logf);
  }
  free(s);
}

int session_open(const session_opts *o, run_session **out, char *err,
                 size_t cap) {
  *out = NULL;
  if (!o->config) {
    snprintf(err, cap, "no configuration file given");
    return DTO_EINVAL;
  }
  if (!isfinite(o->speed)) {
    snprintf(err, cap, "the speed must be a finite number");
    return DTO_EINVAL;
  }
  run_session *s = xcalloc(1, sizeof *s);
  s->o = *o;
  s->stop = SESSION_SIGNAL;
  s->lock_fd = -1;
  dbuf_init(&s->row, SIZE_MAX / 2);
  lifecycle_init(&s->lc, NULL);
  lifecycle_observe(&s->lc, on_lifecycle, s);
  /* Block our signals first, so none is lost during start-up (the
   * journal's writer thread, started below, inherits the mask): INT and
   * TERM stop, USR1 engages the kill switch, USR2 re-reads the state file
   * (a release by `dto kill --release`), HUP reloads the risk limits. */
  sigemptyset(&s->set);
  sigaddset(&s->set, SIGINT);
  sigaddset(&s->set, SIGTERM);
  sigaddset(&s->set, SIGUSR1);
  sigaddset(&s->set, SIGUSR2);
  sigaddset(&s->set, SIGHUP);
  sigprocmask(SIG_BLOCK, &s->set, NULL);

  int rc = config_load(o->config, &s->cfg, err, cap);
  if (rc)
    goto fail;
  s->speed = o->speed < 0 ? s->cfg.run.speed : o->speed;
  /* one dto per state folder (and so per journal): a second one refuses
   * to start before it touches anything */
  state_dir(&s->cfg, s->sdir, sizeof s->sdir);
  if ((rc = state_lock(s->sdir, &s->lock_fd, err, cap)))
    goto fail;
  /* the log: --log FILE, else the configuration's log.output */
  s->logf = stderr;
  s->log_path = o->log_path ? o->log_path
                : s->cfg.log.output == LOG_OUT_FILE ? s->cfg.log.file
                                                    : NULL;
  if (s->log_path && !(s->logf = fopen(s->log_path, "a"))) {
    snprintf(err, cap, "cannot open log %s: %s", s->log_path,
             strerror(errno));
    rc = dto_from_errno(errno);
    goto fail;
  }
  if (!s->log_path && s->cfg.log.output == LOG_OUT_JOURNAL) {
    char e2[256];
    if (!(s->logf = log_journal_open(e2, sizeof e2))) {
      s->logf = stderr;
      snprintf(err, cap, "log.output journal: %s", e2);
      rc = DTO_EIO;
      goto fail;
    }
    log_set_priority_prefix(s->logf);
  }
  if (o->nactions) {
    s->acts = xcalloc(o->nactions, sizeof *s->acts);
    memcpy(s->acts, o->actions, o->nactions * sizeof *s->acts);
    s->nacts = o->nactions;
    /* stable: a merge of equal keys keeps the given order */
    for (size_t i = 1; i < s->nacts; i++)
      for (size_t j = i; j > 0 && cmp_action(&s->acts[j - 1], &s->acts[j]) > 0;
           j--) {
        session_action t = s->acts[j];
        s->acts[j] = s->acts[j - 1];
        s->acts[j - 1] = t;
      }
  }
  if (s->cfg.run.feed != FEED_ALPACA) {
    rc = load_feed(&s->cfg, &s->bars, err, cap);
    if (!rc && s->bars.n == 0) {
      snprintf(err, cap, "the feed has no bars");
      rc = DTO_ENOENT;
    }
    if (rc)
      goto fail;
  }
  if ((rc = open_queue(s, err, cap)))
    goto fail;
  if (s->cfg.run.feed == FEED_ALPACA && (rc = open_live(s, err, cap)))
    goto fail;
  size_t nsyms = s->cfg.instruments.n ? s->cfg.instruments.n : 1;
  s->acct_touched = xcalloc(s->cfg.naccounts * nsyms + 1, sizeof(bool));
  s->strat_touched = xcalloc(s->cfg.nstrategies * nsyms + 1, sizeof(bool));
  if (o->out_dir && (rc = out_open(s, err, cap)))
    goto fail;

  /* the journal's store: the schema must be the one this dto knows; a
   * journal from an earlier run is read before the writer owns it */
  store *jstore = NULL;
  recovery rec;
  memset(&rec, 0, sizeof rec);
  if (s->cfg.run.store) {
    /* Once a journal was written for this state folder, a missing or
     * empty store is an accident (a deleted file, a wrong URL), never a
     * fresh start: dto.journal marks it (delete the marker to start a new
     * journal on purpose). */
    char marker[4200];
    snprintf(marker, sizeof marker, "%s/dto.journal", s->sdir);
    bool had_journal = access(marker, F_OK) == 0;
    store_options so;
    memset(&so, 0, sizeof so);
    so.require_current = true;
    so.create = !had_journal;
    so.must_exist = had_journal;
    rc = store_open(s->cfg.run.store, &so, &jstore, err, cap);
    if (rc == DTO_ENOENT && had_journal) {
      size_t used = strlen(err);
      snprintf(err + used, cap > used ? cap - used : 0,
               " (a journal was written here before, see %s: restore the "
               "store from a backup, or delete that file to start a new "
               "journal)",
               marker);
    }
    if (!rc && (rc = recovery_load(jstore, &rec, err, cap))) {
      store_close(jstore);
      jstore = NULL;
    }
    if (rc)
      goto fail;
    if (!had_journal) {
      static const char text[] =
          "a journal is kept for this state folder (run.store)\n";
      char e2[512];
      if (fileio_write_atomic(marker, text, sizeof text - 1, 0600, e2,
                              sizeof e2) &&
          o->msg_out)
        fprintf(o->msg_out, "dto: %s\n", e2);
    }
  }
  /* runner_init_session: commands reach the broker in order at the end of
   * each step, with or without a journal (src/app/wal.h) */
  /* the engine's clock starts where the journal stopped, or at the first
   * bar; a live one follows the market's events from there */
  dto_time t0 = rec.last_seq > 0 ? rec.last_time
                : s->live         ? 0
                                  : s->bars.v[0].ts;
  rc = s->live ? runner_init_live(&s->r, &s->cfg, s->logf, t0, jstore,
                                  &alpaca_broker_ops, s->tr, err, cap)
               : runner_init_session(&s->r, &s->cfg, s->logf, t0, jstore, err,
                                     cap);
  if (rc) {
    recovery_release(&rec);
    goto fail;
  }
  /* #13: a long session keeps no report rows in memory; they stream to
   * --out instead */
  s->r.keep_curve = false;
  s->r.keep_orders = false;
  s->r.sink.ctx = s;
  s->r.sink.order_done = sink_order;
  s->r.sink.fill = sink_fill;
  s->r.sink.alert = sink_alert;
  s->r.sink.risk_change = sink_risk_change;
  if (s->live) { /* orders still queued for the adapter are on their way */
    s->r.unsent = bridge_unsent;
    s->r.unsent_ctx = s->br;
  }
  s->lc.log = &s->r.log;
  if (rec.last_seq > 0)
    lifecycle_transition(&s->lc, LC_RECOVERING, "a journal to resume");
  /* recovery_apply reconciles with the broker (engine_reconcile); a
   * session without a journal has nothing to reconcile yet */
  lifecycle_transition(&s->lc, LC_RECONCILING,
                       rec.last_seq > 0 ? "restored" : "new session");
  if (rec.last_seq > 0 && (rc = recovery_apply(&s->r, &rec, err, cap))) {
    recovery_release(&rec);
    s->lc.log = NULL;
    runner_release(&s->r);
    goto fail;
  }
  bool restored = rec.last_seq > 0;
  /* resume the feed where the journal's checkpoint stopped (a live feed
   * has no place to resume: the market went on) */
  rc = s->live ? 0
               : recovery_resume_at(&s->r, &rec, s->bars.v, s->bars.n,
                                    &s->first, err, cap);
  recovery_release(&rec);
  if (rc) {
    s->lc.log = NULL;
    runner_release(&s->r);
    goto fail;
  }
  s->next = s->first;
  while (s->next_act < s->nacts && s->acts[s->next_act].at < s->first)
    s->next_act++; /* before the restart: not ours */

  if (s->live) {
    /* Orders the engine has from before the restart may be Alpaca's
     * already: the adapter maps their reports and looks each up before
     * sending it (a command of the checkpoint's step sent again), never
     * posting one twice.  No order passes the gate until the first
     * reconciliation with the running adapter (at its first connection)
     * succeeds. */
    const oms *m = engine_oms(s->r.e);
    for (size_t i = 0; i < oms_count(m); i++) {
      const order *wo = oms_cget(m, (order_id)i);
      if (wo && wo->state != OS_NEW && wo->state != OS_REJECTED)
        alpaca_trader_know(s->tr, wo);
    }
    risk_unreconciled(engine_risk_mut(s->r.e), true);
    if (!restored) /* a restart's strategies are warm already */
      live_warmup(s);
  }
  follow_state(s);
  follow_lifecycle(s, "reconciled");
  char e2[512];
  if (state_pid_write(s->sdir, e2, sizeof e2) && o->msg_out)
    fprintf(o->msg_out, "dto: %s ('dto kill' cannot signal this process)\n",
            e2);
  log_line l;
  if (log_begin(&l, &s->r.log, LOG_INFO, "session.start")) {
    log_str(&l, "config", o->config);
    log_int(&l, "bars", (int64_t)s->bars.n);
    log_str(&l, "feed", cfg_feed_name(s->cfg.run.feed));
    log_int(&l, "first_bar", (int64_t)s->first);
    log_end(&l);
  }
  s->start_equity = runner_equity(&s->r);
  if ((rc = start_service(s, err, cap))) {
    stop_service(s);
    s->lc.log = NULL;
    runner_release(&s->r);
    goto fail;
  }
  *out = s;
  return 0;
fail:
  free_session(s);
  return rc;
}

const runner *session_runner(const run_session *s) { return &s->r; }
size_t session_first_bar(const run_session *s) { return s->first; }

/* ---- the command path (engine thread) -------------------------------------
 * Every change from outside (dto ctl, signals, later the HTTP API) arrives
 * here as an svc_cmd through the inbound queue: validated, carried out,
 * logged and journaled (who, when, what, outcome), answered.  Each command
 * is a step of its own: its orders and cancels go out (and its checkpoint
 * is written) before the next event. */

static int find_account(const run_session *s, const char *id) {
  for (size_t a = 0; a < s->cfg.naccounts; a++)
    if (!strcmp(engine_account_id(s->r.e, a), id))
      return (int)a;
  return -1;
}

static int find_strategy(const run_session *s, const char *id) {
  for (size_t i = 0; i < engine_nstrategies(s->r.e); i++)
    if (!strcmp(engine_strategy_id(s->r.e, i), id))
      return (int)i;
  return -1;
}

static int find_symbol(const run_session *s, const char *sym) {
  for (size_t y = 0; y < s->cfg.instruments.n; y++)
    if (!strcmp(s->cfg.instruments.v[y].symbol, sym))
      return (int)y;
  return -1;
}

/* The filters of cancel_all and flatten: a scope (0 all, account,
 * strategy) and an instrument (-1 all).  false with the answer set. */
static bool cmd_scope(const run_session *s, const svc_cmd *c, svc_answer *a,
                      int *scope, uint32_t *index, int32_t *sym) {
  *scope = 0;
  *index = 0;
  *sym = -1;
  int acc = -1, st = -1;
  if (c->account[0] && (acc = find_account(s, c->account)) < 0) {
    svc_answer_set(a, SVC_NOT_FOUND, "account", "no account '%s'",
                   c->account);
    return false;
  }
  if (c->strategy[0] && (st = find_strategy(s, c->strategy)) < 0) {
    svc_answer_set(a, SVC_NOT_FOUND, "strategy",
                   "no running strategy '%s'", c->strategy);
    return false;
  }
  if (c->symbol[0] && (*sym = find_symbol(s, c->symbol)) < 0) {
    svc_answer_set(a, SVC_NOT_FOUND, "symbol", "no instrument '%s'",
                   c->symbol);
    return false;
  }
  if (st >= 0) {
    if (acc >= 0 && s->r.rcfg.strategy_account[st] != (uint32_t)acc) {
      svc_answer_set(a, SVC_BAD_REQUEST, "strategy",
                     "strategy '%s' does not trade for account '%s'",
                     c->strategy, c->account);
      return false;
    }
    *scope = RISK_SCOPE_STRATEGY;
    *index = (uint32_t)st;
  } else if (acc >= 0) {
    *scope = RISK_SCOPE_ACCOUNT;
    *index = (uint32_t)acc;
  }
  return true;
}

static void cmd_cancel(run_session *s, const svc_cmd *c, svc_answer *a) {
  const oms *om = engine_oms(s->r.e);
  if (!c->order[0]) {
    svc_answer_set(a, SVC_BAD_REQUEST, "order", "order: required");
    return;
  }
  order_id id = ORDER_NONE;
  const char *p = c->order;
  bool digits = true;
  for (; *p; p++)
    digits = digits && *p >= '0' && *p <= '9';
  if (digits && strlen(c->order) <= 18) {
    id = (order_id)strtoull(c->order, NULL, 10);
  } else {
    size_t n;
    const order_id *open = oms_open_ids(om, &n);
    for (size_t i = 0; i < n && id == ORDER_NONE; i++) {
      const order *o = oms_cget(om, open[i]);
      if (o && !strcmp(o->cloid, c->order))
        id = o->id;
    }
  }
  int rc = id == ORDER_NONE ? DTO_ENOENT
                            : engine_cancel_order(s->r.e, id, c->who);
  switch (rc) {
  case 0:
    a->count = 1;
    svc_answer_set(a, SVC_OK, NULL, "cancel of order %s sent", c->order);
    break;
  case DTO_ENOENT:
    svc_answer_set(a, SVC_NOT_FOUND, "order", "no working order '%s'",
                   c->order);
    break;
  case DTO_ESTATE:
    svc_answer_set(a, SVC_CONFLICT, "order",
                   "order '%s' is not working any more", c->order);
    break;
  case DTO_EREJECT:
    svc_answer_set(a, SVC_REFUSED, "order",
                   "order '%s' protects an open bracket position; flatten "
                   "the position instead",
                   c->order);
    break;
  default:
    svc_answer_set(a, SVC_REFUSED, "order",
                   "the broker did not take the cancel: %s",
                   dto_strerror(rc));
  }
}

/* set_limit: the limits a person may change while the service runs, by
 * name; where: 'o' order limits (defaults, or an account's or strategy's
 * own), 'a' an account's, 's' a strategy's. */
typedef struct limit_def {
  const char *name;
  char where, type; /* type 'f' fx, 'i' int */
  size_t off;
  uint32_t bit; /* order limits: RL_* */
} limit_def;

#define LIM_O(n, b) {#n, 'o', 'f', offsetof(risk_order_limits, n), b}
#define LIM_A(n, t) {#n, 'a', t, offsetof(risk_account_limits, n), 0}
#define LIM_S(n, t) {#n, 's', t, offsetof(risk_strategy_limits, n), 0}
static const limit_def limit_defs[] = {
    LIM_O(max_order_qty, RL_MAX_ORDER_QTY),
    LIM_O(max_order_notional, RL_MAX_ORDER_NOTIONAL),
    LIM_O(max_pos_qty, RL_MAX_POS_QTY),
    LIM_O(max_pos_notional, RL_MAX_POS_NOTIONAL),
    LIM_A(max_gross, 'f'),
    LIM_A(max_net, 'f'),
    LIM_A(max_concentration_pct, 'f'),
    LIM_A(max_daily_loss, 'f'),
    LIM_A(max_drawdown, 'f'),
    LIM_A(max_open_orders, 'i'),
    LIM_A(max_orders_per_sec, 'i'),
    LIM_A(max_orders_per_min, 'i'),
    LIM_S(max_daily_loss, 'f'),
    LIM_S(max_drawdown, 'f'),
    LIM_S(max_open_orders, 'i'),
    LIM_S(max_orders_per_sec, 'i'),
    LIM_S(max_orders_per_min, 'i'),
    LIM_S(max_consecutive_losses, 'i'),
};

/* The configuration's index of running strategy k. */
static size_t cfg_strategy_index(const run_session *s, size_t k) {
  for (size_t i = 0; i < s->cfg.nstrategies; i++)
    if (s->cfg.strategies[i].enabled && k-- == 0)
      return i;
  return 0;
}

/* Apply the configuration's limits (s->cfg.risk) to the engine. */
static int apply_limits(run_session *s) {
  runner_risk nr;
  int rc = runner_risk_config(&s->cfg, &nr);
  if (rc)
    return rc;
  if ((rc = engine_reload_risk(s->r.e, &nr.rc))) {
    runner_risk_release(&nr);
    return rc;
  }
  runner_risk_release(&s->r.rcfg);
  s->r.rcfg = nr;
  return 0;
}

static void cmd_set_limit(run_session *s, const svc_cmd *c, svc_answer *a) {
  int acc = -1, st = -1;
  if (c->account[0] && c->strategy[0]) {
    svc_answer_set(a, SVC_BAD_REQUEST, "strategy",
                   "give an account or a strategy, not both");
    return;
  }
  if (c->account[0] && (acc = find_account(s, c->account)) < 0) {
    svc_answer_set(a, SVC_NOT_FOUND, "account", "no account '%s'",
                   c->account);
    return;
  }
  if (c->strategy[0] && (st = find_strategy(s, c->strategy)) < 0) {
    svc_answer_set(a, SVC_NOT_FOUND, "strategy",
                   "no running strategy '%s'", c->strategy);
    return;
  }
  const limit_def *d = NULL;
  bool known = false;
  for (size_t i = 0; i < DTO_ARRAY_LEN(limit_defs) && !d; i++) {
    const limit_def *x = &limit_defs[i];
    if (strcmp(x->name, c->limit))
      continue;
    known = true;
    if (x->where == 'o' || (x->where == 'a' && acc >= 0) ||
        (x->where == 's' && st >= 0))
      d = x;
  }
  if (!d) {
    if (known)
      svc_answer_set(a, SVC_BAD_REQUEST, "limit",
                     "limit '%s' needs the %s it applies to", c->limit,
                     c->strategy[0] ? "account" : "account or strategy");
    else
      svc_answer_set(a, SVC_BAD_REQUEST, "limit",
                     "unknown limit '%s' (order: max_order_qty, "
                     "max_order_notional, max_pos_qty, max_pos_notional; "
                     "account: max_gross, max_net, max_concentration_pct, "
                     "max_daily_loss, max_drawdown, max_open_orders, "
                     "max_orders_per_sec, max_orders_per_min; strategy: "
                     "max_daily_loss, max_drawdown, max_open_orders, "
                     "max_orders_per_sec, max_orders_per_min, "
                     "max_consecutive_losses)",
                     c->limit);
    return;
  }
  bool off = !strcmp(c->value, "off");
  fx fv = 0;
  long long iv = 0;
  if (!off) {
    char *end;
    errno = 0;
    bool ok = d->type == 'f'
                  ? fx_parse_cstr(c->value, &fv) == 0 && fv >= 0
                  : ((iv = strtoll(c->value, &end, 10)), c->value[0] &&
                                                              !*end && !errno &&
                                                              iv >= 0 &&
                                                              iv <= 1000000000);
    if (!ok) {
      svc_answer_set(a, SVC_BAD_REQUEST, "value",
                     "value '%s': expected %s or \"off\"", c->value,
                     d->type == 'f' ? "a decimal >= 0" : "a whole number >= 0");
      return;
    }
  }
  /* the limit's home in the configuration */
  char *base;
  size_t size;
  risk_order_limits *ol = NULL;
  if (d->where == 'o') {
    ol = acc >= 0  ? &s->cfg.risk.account_orders[acc]
         : st >= 0 ? &s->cfg.risk.strategy_orders[cfg_strategy_index(s, (size_t)st)]
                   : &s->cfg.risk.defaults;
    base = (char *)ol;
    size = sizeof *ol;
  } else if (d->where == 'a') {
    base = (char *)&s->cfg.risk.accounts[acc];
    size = sizeof(risk_account_limits);
  } else {
    base = (char *)&s->cfg.risk.strategies[cfg_strategy_index(s, (size_t)st)];
    size = sizeof(risk_strategy_limits);
  }
  char saved[sizeof(risk_account_limits) > sizeof(risk_strategy_limits)
                 ? (sizeof(risk_account_limits) > sizeof(risk_order_limits)
                        ? sizeof(risk_account_limits)
                        : sizeof(risk_order_limits))
                 : (sizeof(risk_strategy_limits) > sizeof(risk_order_limits)
                        ? sizeof(risk_strategy_limits)
                        : sizeof(risk_order_limits))];
  memcpy(saved, base, size);
  if (d->type == 'f')
    memcpy(base + d->off, &fv, sizeof fv);
  else {
    int v = (int)iv;
    memcpy(base + d->off, &v, sizeof v);
  }
  if (ol) {
    if (off)
      ol->set &= ~d->bit;
    else
      ol->set |= d->bit;
  }
  int rc = apply_limits(s);
  if (rc) {
    memcpy(base, saved, size); /* nothing changes */
    svc_answer_set(a, SVC_BAD_REQUEST, "value",
                   "limit %s = %s would make the limits inconsistent",
                   c->limit, c->value);
    return;
  }
  svc_answer_set(a, SVC_OK, NULL,
                 "%s%s%s set to %s until the service restarts (put it in "
                 "the configuration to keep it)",
                 c->account[0] ? c->account : c->strategy,
                 c->account[0] || c->strategy[0] ? " " : "", c->limit,
                 c->value);
}

/* The command's arguments as a JSON object, for the journal. */
static void cmd_args_json(const svc_cmd *c, dbuf *b) {
  const char *keys[] = {"order", "account", "strategy", "symbol", "limit",
                        "value", "side",    "type",     "tif",    "qty",
                        "price", "stop",    "reason"};
  const char *vals[] = {c->order, c->account, c->strategy, c->symbol,
                        c->limit, c->value,   c->side,     c->type,
                        c->tif,   c->qty,     c->price,    c->stop,
                        c->reason};
  bool first = true;
  dbuf_addc(b, '{');
  for (size_t i = 0; i < DTO_ARRAY_LEN(keys); i++) {
    if (!vals[i][0])
      continue;
    dbuf_printf(b, "%s\"%s\":", first ? "" : ",", keys[i]);
    dbuf_json_str(b, vals[i]);
    first = false;
  }
  dbuf_addc(b, '}');
}

/* An fx from a command's decimal text: 0 when empty; false (and the answer
 * set, naming the field) when not a decimal. */
static bool cmd_fx(const char *text, const char *field, bool positive, fx *out,
                   svc_answer *a) {
  *out = 0;
  if (!text[0])
    return true;
  if (fx_parse_cstr(text, out) != 0 || (positive && *out <= 0)) {
    svc_answer_set(a, SVC_BAD_REQUEST, field, "%s: expected a %sdecimal",
                   field, positive ? "positive " : "");
    return false;
  }
  return true;
}

/* ORDER: a person's order in a strategy's name (the strategy sees its
 * reports as its own); through the strategy's own gate and the risk gate,
 * as any order. */
static void cmd_order(run_session *s, const svc_cmd *c, svc_answer *a) {
  static const char *const need[] = {"strategy", "symbol", "side", "type",
                                     "qty"};
  const char *have[] = {c->strategy, c->symbol, c->side, c->type, c->qty};
  for (size_t i = 0; i < DTO_ARRAY_LEN(need); i++)
    if (!have[i][0]) {
      svc_answer_set(a, SVC_BAD_REQUEST, need[i], "%s: required", need[i]);
      return;
    }
  int st = find_strategy(s, c->strategy);
  if (st < 0) {
    svc_answer_set(a, SVC_NOT_FOUND, "strategy", "no running strategy '%s'",
                   c->strategy);
    return;
  }
  int sym = find_symbol(s, c->symbol);
  if (sym < 0) {
    svc_answer_set(a, SVC_NOT_FOUND, "symbol", "no instrument '%s'",
                   c->symbol);
    return;
  }
  order_req r;
  memset(&r, 0, sizeof r);
  r.sym = (sym_id)sym;
  r.tif = TIF_DAY;
  if (order_side_parse(c->side, &r.side)) {
    svc_answer_set(a, SVC_BAD_REQUEST, "side", "side: expected buy or sell");
    return;
  }
  if (order_type_parse(c->type, &r.type)) {
    svc_answer_set(a, SVC_BAD_REQUEST, "type",
                   "type: expected market, limit, stop, stop_limit or "
                   "trailing_stop");
    return;
  }
  if (c->tif[0] && tif_parse(c->tif, &r.tif)) {
    svc_answer_set(a, SVC_BAD_REQUEST, "tif",
                   "tif: expected day, gtc, ioc, fok, opg or cls");
    return;
  }
  if (!cmd_fx(c->qty, "qty", true, &r.qty, a) ||
      !cmd_fx(c->price, "limit_price", true, &r.limit_price, a) ||
      !cmd_fx(c->stop, "stop_price", true, &r.stop_price, a))
    return;
  if (r.type == ORD_TRAILING_STOP) { /* the distance is the stop field */
    r.trail = r.stop_price;
    r.stop_price = 0;
  }
  order_id id = ORDER_NONE;
  strat *h = engine_strategy_handle(s->r.e, (size_t)st);
  int rc = strat_submit(h, &r, &id);
  const order *o =
      id != ORDER_NONE ? oms_cget(engine_oms(s->r.e), id) : NULL;
  if (o)
    snprintf(a->ref, sizeof a->ref, "%s", o->cloid);
  if (rc == 0) {
    a->count = 1;
    svc_answer_set(a, SVC_OK, NULL, "order %s sent", a->ref);
  } else if (rc == DTO_EREJECT) {
    svc_answer_set(a, SVC_REFUSED, NULL,
                   "order %s refused by the risk gate%s%s", a->ref,
                   o && o->risk ? ": " : "",
                   o && o->risk ? risk_reason_name(o->risk) : "");
  } else {
    svc_answer_set(a, SVC_BAD_REQUEST, NULL,
                   "the order is not valid for this instrument or strategy "
                   "(quantity off the lot, a price off the tick, a price "
                   "its type needs missing, or the strategy does not trade "
                   "it)");
  }
}

/* SET_MODE: a person puts an account or a strategy in a risk mode
 * (active, reducing, halted). */
static void cmd_set_mode(run_session *s, const svc_cmd *c, svc_answer *a) {
  enum risk_mode m;
  if (!c->value[0] || risk_mode_parse(c->value, &m)) {
    svc_answer_set(a, SVC_BAD_REQUEST, "mode",
                   "mode: expected active, reducing or halted");
    return;
  }
  if (!c->account[0] == !c->strategy[0]) {
    svc_answer_set(a, SVC_BAD_REQUEST, "account",
                   "give an account or a strategy (one of them)");
    return;
  }
  int scope = c->account[0] ? RISK_SCOPE_ACCOUNT : RISK_SCOPE_STRATEGY;
  int idx = c->account[0] ? find_account(s, c->account)
                          : find_strategy(s, c->strategy);
  if (idx < 0) {
    svc_answer_set(a, SVC_NOT_FOUND, c->account[0] ? "account" : "strategy",
                   "no %s '%s'", c->account[0] ? "account" : "strategy",
                   c->account[0] ? c->account : c->strategy);
    return;
  }
  int rc = engine_set_mode(s->r.e, scope, (uint32_t)idx, m,
                           c->who[0] ? c->who : "unknown");
  /* the change goes through the risk gate's transition table, which may
   * refuse it: what counts is the mode the scope is in now */
  if (!rc && risk_mode_of(engine_risk_mut(s->r.e), scope, (uint32_t)idx) != m)
    rc = DTO_ESTATE;
  if (rc)
    svc_answer_set(a, SVC_CONFLICT, "mode", "the mode cannot change to %s "
                                            "now",
                   c->value);
  else
    svc_answer_set(a, SVC_OK, NULL, "%s %s is %s", c->account[0] ? "account"
                                                                 : "strategy",
                   c->account[0] ? c->account : c->strategy, c->value);
}

/* REPLACE: new quantity and prices of one working order. */
static void cmd_replace(run_session *s, const svc_cmd *c, svc_answer *a) {
  if (!c->order[0]) {
    svc_answer_set(a, SVC_BAD_REQUEST, "order", "order: required");
    return;
  }
  fx qty, price, stop;
  if (!cmd_fx(c->qty, "qty", true, &qty, a) ||
      !cmd_fx(c->price, "limit_price", true, &price, a) ||
      !cmd_fx(c->stop, "stop_price", true, &stop, a))
    return;
  if (!qty && !price && !stop) {
    svc_answer_set(a, SVC_BAD_REQUEST, "qty",
                   "qty, limit_price or stop_price: one at least");
    return;
  }
  const oms *om = engine_oms(s->r.e);
  const order *o = NULL;
  size_t n;
  const order_id *open = oms_open_ids(om, &n);
  for (size_t i = 0; i < n && !o; i++) {
    const order *x = oms_cget(om, open[i]);
    if (x && !strcmp(x->cloid, c->order))
      o = x;
  }
  if (!o) {
    svc_answer_set(a, SVC_NOT_FOUND, "order", "no working order '%s'",
                   c->order);
    return;
  }
  order_id nid = ORDER_NONE;
  strat *h = engine_strategy_handle(s->r.e, o->strategy);
  int rc = strat_replace(h, o->id, qty, price, stop, &nid);
  const order *no = nid != ORDER_NONE ? oms_cget(om, nid) : NULL;
  if (no)
    snprintf(a->ref, sizeof a->ref, "%s", no->cloid);
  switch (rc) {
  case 0:
    a->count = 1;
    svc_answer_set(a, SVC_OK, NULL, "replace of %s sent as %s", c->order,
                   a->ref);
    break;
  case DTO_ESTATE:
    svc_answer_set(a, SVC_CONFLICT, "order",
                   "order '%s' cannot be replaced now (not yet accepted, or "
                   "a cancel or replace is pending)",
                   c->order);
    break;
  case DTO_EREJECT:
    svc_answer_set(a, SVC_REFUSED, NULL,
                   "the replacement was refused by the risk gate");
    break;
  default:
    svc_answer_set(a, SVC_BAD_REQUEST, NULL,
                   "the replacement is not valid (quantity not above what "
                   "filled or off the lot, a price off the tick, or a "
                   "bracket exit's quantity)");
  }
}

static void exec_command(run_session *s, const svc_cmd *c, svc_answer *a) {
  engine *e = s->r.e;
  memset(a, 0, sizeof *a);
  const char *who = c->who[0] ? c->who : "unknown";
  const char *why = c->reason[0] ? c->reason : svc_op_name(c->op);
  int scope, rc;
  uint32_t index;
  int32_t sym;
  size_t n;
  switch (c->op) {
  case SVC_KILL:
    n = engine_killed(e) ? 0 : do_kill(s, who, why);
    a->count = (int64_t)n;
    svc_answer_set(a, SVC_OK, NULL, "kill switch on; %zu cancels sent", n);
    break;
  case SVC_RELEASE:
    if (!engine_killed(e)) {
      svc_answer_set(a, SVC_OK, NULL, "the kill switch is already off");
      break;
    }
    do_release_by(s, who, why);
    if (engine_killed(e))
      svc_answer_set(a, SVC_CONFLICT, NULL,
                     "the kill switch stays on: its state file could not "
                     "be written or read");
    else
      svc_answer_set(a, SVC_OK, NULL, "kill switch off");
    break;
  case SVC_STATE_FILE:
    follow_state(s);
    svc_answer_set(a, SVC_OK, NULL, "state file read: kill switch %s",
                   engine_killed(e) ? "on" : "off");
    break;
  case SVC_CANCEL:
    cmd_cancel(s, c, a);
    break;
  case SVC_CANCEL_ALL:
    if (!cmd_scope(s, c, a, &scope, &index, &sym))
      break;
    n = engine_cancel_all(e, scope, index, sym, who);
    a->count = (int64_t)n;
    svc_answer_set(a, SVC_OK, NULL, "%zu cancels sent", n);
    break;
  case SVC_FLATTEN:
    if (!cmd_scope(s, c, a, &scope, &index, &sym))
      break;
    rc = engine_flatten_scope(e, scope, index, sym, who, &n);
    a->count = (int64_t)n;
    if (rc == 0)
      svc_answer_set(a, SVC_OK, NULL, "%zu closing orders sent", n);
    else
      svc_answer_set(a, SVC_REFUSED, NULL,
                     "%zu closing orders sent, some refused (see the log: "
                     "kill switch, halt or risk limits)",
                     n);
    break;
  case SVC_PAUSE:
  case SVC_RESUME: {
    int st = c->strategy[0] ? find_strategy(s, c->strategy) : -1;
    if (!c->strategy[0]) {
      svc_answer_set(a, SVC_BAD_REQUEST, "strategy", "strategy: required");
      break;
    }
    if (st < 0) {
      svc_answer_set(a, SVC_NOT_FOUND, "strategy",
                     "no running strategy '%s'", c->strategy);
      break;
    }
    bool pause = c->op == SVC_PAUSE;
    rc = engine_pause_strategy(e, (uint32_t)st, pause, who);
    if (rc == 0)
      svc_answer_set(a, SVC_OK, NULL, "strategy %s %s", c->strategy,
                     pause ? "paused: exits only" : "resumed");
    else
      svc_answer_set(a, SVC_CONFLICT, "strategy",
                     pause ? "strategy %s is halted; pausing would loosen "
                             "the halt"
                           : "strategy %s was not paused by a person (a "
                             "limit or guard put it in its mode)",
                     c->strategy);
    break;
  }
  case SVC_SET_LIMIT:
    if (!c->limit[0] || !c->value[0]) {
      svc_answer_set(a, SVC_BAD_REQUEST, c->limit[0] ? "value" : "limit",
                     "%s: required", c->limit[0] ? "value" : "limit");
      break;
    }
    cmd_set_limit(s, c, a);
    break;
  case SVC_MAINTENANCE_ON:
    engine_set_maintenance(e, true, who);
    follow_lifecycle(s, "maintenance");
    svc_answer_set(a, SVC_OK, NULL,
                   "maintenance: no new entries, exits allowed");
    break;
  case SVC_MAINTENANCE_OFF:
    engine_set_maintenance(e, false, who);
    follow_lifecycle(s, "maintenance over");
    svc_answer_set(a, SVC_OK, NULL, "maintenance over");
    break;
  case SVC_RELOAD:
    if (do_reload(s, s->o.config))
      svc_answer_set(a, SVC_CONFLICT, NULL,
                     "the configuration was not applied (see the log: "
                     "risk.reload_refused)");
    else
      svc_answer_set(a, SVC_OK, NULL, "risk limits reloaded");
    break;
  case SVC_STOP:
    s->stop_req = true;
    svc_answer_set(a, SVC_OK, NULL, "stopping");
    break;
  case SVC_STATUS:
    svc_answer_set(a, SVC_OK, NULL, "ok");
    break;
  case SVC_ORDER:
    cmd_order(s, c, a);
    break;
  case SVC_REPLACE:
    cmd_replace(s, c, a);
    break;
  case SVC_SET_MODE:
    cmd_set_mode(s, c, a);
    break;
  default:
    svc_answer_set(a, SVC_BAD_REQUEST, "cmd", "unknown command");
  }
  /* who, when, what, outcome: the log and the journal */
  dbuf args;
  dbuf_init(&args, 4096);
  cmd_args_json(c, &args);
  char at[48];
  now_iso(at, sizeof at);
  log_line l;
  if (log_begin(&l, &s->r.log, a->status == SVC_OK ? LOG_INFO : LOG_WARN,
                "command")) {
    log_str(&l, "who", who);
    log_str(&l, "op", svc_op_name(c->op));
    log_str(&l, "args", args.ptr ? args.ptr : "{}");
    log_str(&l, "outcome", svc_status_name(a->status));
    log_str(&l, "message", a->message);
    log_end(&l);
  }
  if (s->r.j)
    jhooks_command(&s->r.jh, clock_now(&s->r.clock), who, svc_op_name(c->op),
                   args.ptr, svc_status_name(a->status), a->message, at,
                   c->account, c->strategy);
  dbuf_release(&args);
}

/* ---- the signal thread ------------------------------------------------------
 * Signals become commands: INT and TERM stop, USR1 engages the kill switch,
 * USR2 re-reads the state file, HUP reloads the limits.  Once the session
 * drains, this thread also holds it to run.drain_timeout. */

/* Wait up to ns for one of the signals in set; returns it, or 0. */
static int wait_signal(const sigset_t *set, int64_t ns) {
  struct timespec ts = {ns / DTO_NS_PER_SEC, ns % DTO_NS_PER_SEC};
  for (;;) {
    int s = sigtimedwait(set, NULL, &ts);
    if (s > 0)
      return s;
    if (errno != EINTR)
      return 0;
  }
}

/* The exit status of a stop that overran run.drain_timeout. */
#define SESSION_EXIT_DRAIN_TIMEOUT 4

static void start_drain_clock(run_session *s) {
  int_fast64_t none = 0;
  atomic_compare_exchange_strong(&s->drain_deadline, &none,
                                 clock_mono_ns() + s->drain_ns);
}

static void *signal_main(void *arg) {
  run_session *s = arg;
  while (!atomic_load(&s->sig_quit)) {
    int64_t dl = atomic_load(&s->drain_deadline);
    if (dl && clock_mono_ns() > dl) {
      /* Every journal commit is a whole transaction, so what is durable is
       * consistent; what the stop had not written yet is lost, as in a
       * crash, and the restart recovers from the last checkpoint. */
      fprintf(stderr,
              "dto: the stop took longer than run.drain_timeout (%.1fs); "
              "exiting with status %d\n",
              (double)s->drain_ns / 1e9, SESSION_EXIT_DRAIN_TIMEOUT);
      _exit(SESSION_EXIT_DRAIN_TIMEOUT);
    }
    int sig = wait_signal(&s->set, 50 * 1000000LL);
    if (!sig || dl)
      continue; /* draining: nothing more to ask of the engine */
    svc_cmd c;
    memset(&c, 0, sizeof c);
    snprintf(c.who, sizeof c.who, "signal");
    switch (sig) {
    case SIGINT:
    case SIGTERM:
      c.op = SVC_STOP;
      snprintf(c.reason, sizeof c.reason, "%s",
               sig == SIGINT ? "SIGINT" : "SIGTERM");
      start_drain_clock(s);
      break;
    case SIGUSR1:
      c.op = SVC_KILL;
      snprintf(c.reason, sizeof c.reason, "SIGUSR1");
      break;
    case SIGUSR2:
      c.op = SVC_STATE_FILE;
      snprintf(c.reason, sizeof c.reason, "SIGUSR2");
      break;
    default:
      c.op = SVC_RELOAD;
      snprintf(c.reason, sizeof c.reason, "SIGHUP");
      reopen_log(s); /* after a rotation (deploy/logrotate) */
    }
    /* nobody waits for a signal's answer, and this thread must get back
     * to the drain's clock: the command runs when the engine takes it */
    svc_answer ans;
    svc_submit(&s->sv, &c, &ans, 50 * 1000000LL);
  }
  return NULL;
}

/* ---- the loop ------------------------------------------------------------ */

/* Scripted actions due before bar i; false: stop. */
static bool take_actions(run_session *s, size_t i) {
  for (; s->next_act < s->nacts && s->acts[s->next_act].at <= i;
       s->next_act++) {
    const session_action *a = &s->acts[s->next_act];
    switch (a->act) {
    case SESSION_ACT_KILL:
      do_kill(s, "script", "--at-bar kill");
      break;
    case SESSION_ACT_RELEASE:
      do_release_by(s, "script", "--at-bar release");
      break;
    case SESSION_ACT_RELOAD:
      do_reload(s, a->file ? a->file : s->o.config);
      break;
    case SESSION_ACT_STALL: { /* a drill: stand still, ping nothing */
      struct timespec ts = {(time_t)(a->ms / 1000),
                            (long)(a->ms % 1000) * 1000000L};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
      break;
    }
    case SESSION_ACT_STOP:
    default:
      s->next_act++;
      return false;
    }
    runner_sync(&s->r); /* as for a command: a step of its own */
  }
  return true;
}

static void publish(run_session *s) {
  size_t ns = engine_nstrategies(s->r.e);
  if (!s->paused)
    s->paused = xcalloc(ns ? ns : 1, sizeof *s->paused);
  bool *paused = s->paused;
  for (size_t i = 0; i < ns; i++)
    paused[i] = engine_strategy_paused(s->r.e, (uint32_t)i);
  svc_snap_in in;
  memset(&in, 0, sizeof in);
  in.r = &s->r;
  in.state = lc_state_name(s->lc.state);
  in.clock = s->src && s->src->ops->clock == SOURCE_CLOCK_REAL ? "real"
                                                               : "simulated";
  in.maintenance = engine_maintenance(s->r.e);
  in.paused = paused;
  in.last_event = s->last_event;
  in.last_bar = s->last_bar;
  in.last_quote = s->last_quote;
  dto_clock rc;
  clock_real_init(&rc);
  in.now_real = clock_now(&rc);
  in.events = s->n_events;
  in.bars = s->n_bars;
  in.trades = s->n_trades;
  in.quotes = s->n_quotes;
  in.reports = s->n_reports;
  in.commands = s->n_cmds;
  in.q = s->q;
  svc_snap *sn = svc_snap_build(&in);
  /* a change the alert rules watch: evaluate them now, not at the next
   * interval (the snapshot is published first, so they see it) */
  unsigned st = (unsigned)sn->killed | (unsigned)sn->maintenance << 1 |
                (unsigned)sn->store_fault << 2 |
                (unsigned)sn->unreconciled << 3 | (unsigned)s->lc.state << 4;
  svc_publish(&s->sv, sn);
  if (s->mon && st != s->watched) {
    s->watched = st;
    monitor_wake(s->mon);
  }
}

/* A command that arrives when the session no longer takes any. */
static void refuse_command(const inq_event *ev) {
  if (ev->kind != INQ_COMMAND)
    return;
  svc_req *q = ev->u.command.req;
  svc_answer_set(&q->ans, SVC_CONFLICT, NULL, "the service is stopping");
  svc_req_finish(q);
}

/* An event the session cannot apply: never dropped silently (the log's
 * flood limit caps a stream of them, with a count). */
static void unhandled(run_session *s, const inq_event *ev, const char *why) {
  log_line l;
  if (log_begin(&l, &s->r.log, LOG_WARN, "event.unhandled")) {
    log_str(&l, "kind", inq_kind_name(ev->kind));
    log_int(&l, "src", (int64_t)ev->src);
    log_str(&l, "why", why);
    log_end(&l);
  }
}

/* ---- a live broker: reports, and reconciliation ---------------------------
 * The adapter holds (sends nothing, reads nothing) from its signal until
 * we resume it, so the queries below see a clean cut: the engine's books
 * hold every report the adapter had, and what the broker says now is all
 * the rest.  A position that disagrees may be a fill landing between two
 * queries: asked again a few times before it counts as a disagreement. */
static void live_reconcile(run_session *s) {
  reconcile_opts ro = {!s->cfg.run.adopt_unknown,
                       s->cfg.run.position_tolerance,
                       runner_reconcile_since(&s->r), s->r.unsent,
                       s->r.unsent_ctx};
  reconcile_result rr;
  int rc = 0;
  for (int attempt = 0; attempt < 4; attempt++) {
    if (attempt) {
      struct timespec ts = {0, 20000000L * attempt};
      nanosleep(&ts, NULL);
    }
    rc = engine_reconcile(s->r.e, &ro, &rr);
    if (rc != DTO_ESTATE || rr.pos_mismatch == 0)
      break;
  }
  runner_sync(&s->r);
  s->n_reconciles++;
  if (rc == 0) {
    s->recon_held = false;
    s->recon_retry_at = 0;
    s->recon_backoff = 0;
    s->recon_next = clock_mono_ns() + s->cfg.alpaca.reconcile_interval;
    alpaca_trader_resume(s->tr);
  } else {
    /* Trading stays off (unreconciled: the gate passes no new order) and
     * the orders still queued for the adapter are answered as never sent,
     * but the adapter is resumed: cancels (dto kill, a person's cancel)
     * must still reach the broker.  Tried again with backoff, 1 s doubling
     * to a minute, each time with a clean cut of its own. */
    s->n_reconcile_failures++;
    if (bridge_drop_orders(s->br, BRR_UNRECONCILED, clock_now(&s->r.clock))) {
      engine_poll_broker(s->r.e);
      runner_sync(&s->r);
    }
    s->recon_held = false;
    alpaca_trader_resume(s->tr);
    s->recon_backoff = s->recon_backoff ? s->recon_backoff * 2
                                        : DTO_NS_PER_SEC;
    if (s->recon_backoff > 60 * DTO_NS_PER_SEC)
      s->recon_backoff = 60 * DTO_NS_PER_SEC;
    s->recon_retry_at = clock_mono_ns() + s->recon_backoff;
    log_line l;
    if (log_begin(&l, &s->r.log, LOG_ERROR, "reconcile.failed")) {
      log_str(&l, "error", dto_strerror(rc));
      alpaca_trade_stats ts;
      alpaca_trader_stats(s->tr, &ts);
      if (ts.last_error[0]) /* what the adapter last saw go wrong */
        log_str(&l, "broker_error", ts.last_error);
      log_int(&l, "position_mismatches", (int64_t)rr.pos_mismatch);
      log_int(&l, "retry_ms", s->recon_backoff / 1000000);
      log_end(&l);
    }
  }
  follow_lifecycle(s, rc ? "unreconciled" : "reconciled");
}

/* The live feed's state, looked at every 100 ms: each change (streaming,
 * reconnecting, failed) is a log line, and a feed that failed for good
 * (an error a retry cannot cure) is an alert. */
static void watch_feed(run_session *s, int64_t now) {
  if (now < s->feed_check || !s->src || !source_is_alpaca(s->src))
    return;
  s->feed_check = now + 100 * 1000000LL;
  alpaca_md_stats st;
  alpaca_md_get_stats(s->src, &st);
  if ((int)st.state == s->feed_state && st.sessions == s->feed_sessions)
    return;
  s->feed_state = (int)st.state;
  s->feed_sessions = st.sessions;
  log_line l;
  if (log_begin(&l, &s->r.log,
                st.state == ALPACA_MD_FAILED ? LOG_ERROR : LOG_INFO,
                "feed.state")) {
    log_str(&l, "state", alpaca_md_state_name(st.state));
    log_int(&l, "subscriptions", (int64_t)st.sessions);
    if (st.last_error[0])
      log_str(&l, "last_error", st.last_error);
    log_end(&l);
  }
  if (st.state == ALPACA_MD_FAILED) {
    char msg[320];
    snprintf(msg, sizeof msg, "the market data stream stopped: %s",
             st.last_error[0] ? st.last_error : "an error a retry cannot cure");
    engine_alert(s->r.e, "feed_failed", 3, 0, msg);
  }
}

/* Staleness, once a second: an instrument whose market is open (at the
 * market's time, the engine's clock) and that had no event (bar, trade
 * or quote) for alpaca.stale_after of wall time is stale: a warning and a
 * stale_data alert, once, then a line when it is fresh again.  Nothing is
 * said before the feed has streamed for that long. */
static void watch_staleness(run_session *s, int64_t now) {
  if (now < s->stale_check || !s->src || !source_is_alpaca(s->src))
    return;
  s->stale_check = now + DTO_NS_PER_SEC;
  dto_clock wall;
  clock_real_init(&wall);
  dto_time w = clock_now(&wall), age_max = s->cfg.alpaca.stale_after;
  if (!s->feed_since) {
    if (s->feed_state == ALPACA_MD_STREAMING)
      s->feed_since = w;
    return;
  }
  if (w - s->feed_since <= age_max)
    return;
  if (!s->stale)
    s->stale = xcalloc(s->cfg.instruments.n ? s->cfg.instruments.n : 1,
                       sizeof *s->stale);
  dto_time mkt = clock_now(&s->r.clock);
  for (size_t y = 0; y < s->cfg.instruments.n; y++) {
    const calendar *cal = s->cfg.instruments.v[y].cal;
    bool open = !cal || calendar_is_open(cal, mkt, false);
    bool st = open && alpaca_md_stale(s->src, (sym_id)y, w, age_max);
    if (st == s->stale[y])
      continue;
    s->stale[y] = st;
    atomic_fetch_add(&s->n_stale, st ? 1 : -1);
    const char *sym = s->cfg.instruments.v[y].symbol;
    dto_time rx = 0;
    alpaca_md_last(s->src, (sym_id)y, &rx, NULL);
    log_line l;
    if (log_begin(&l, &s->r.log, st ? LOG_WARN : LOG_INFO,
                  st ? "feed.stale" : "feed.fresh")) {
      log_str(&l, "symbol", sym);
      if (st)
        log_int(&l, "age_ms", rx ? (w - rx) / 1000000 : -1);
      log_end(&l);
    }
    if (st) {
      char msg[200];
      snprintf(msg, sizeof msg,
               "no market data for %s for more than %lld s while its market "
               "is open",
               sym, (long long)(age_max / DTO_NS_PER_SEC));
      engine_alert(s->r.e, "stale_data", 0, 0, msg);
    }
  }
}

/* Between batches: a periodic reconciliation is asked for, a failed one
 * is tried again; the feed's state and freshness are followed. */
static void live_tick(run_session *s) {
  int64_t now = clock_mono_ns();
  watch_feed(s, now);
  watch_staleness(s, now);
  if (!s->recon_held && s->recon_retry_at && now >= s->recon_retry_at) {
    s->recon_retry_at = 0;
    alpaca_trader_ask_reconcile(s->tr);
  } else if (!s->recon_held && !s->recon_retry_at && now >= s->recon_next) {
    s->recon_next = now + s->cfg.alpaca.reconcile_interval;
    alpaca_trader_ask_reconcile(s->tr);
  }
}

/* A report of the live broker: into the engine, in the queue's order. */
static void live_report(run_session *s, const broker_report *rep) {
  broker_report r = *rep;
  if (r.ts)
    runner_live_time(&s->r, r.ts);
  else
    r.ts = clock_now(&s->r.clock);
  bridge_deliver(s->br, &r);
  engine_poll_broker(s->r.e);
  runner_sync(&s->r);
}

/* One event from the queue; false: the session stops (s->stop says why). */
static bool handle_event(run_session *s, const inq_event *ev) {
  s->n_events++;
  /* SIGTERM or `dto ctl stop` was given: market data queued before the
   * stop is not played (a restart resumes at it), nor is the end of the
   * feed; commands still are, up to the stop itself */
  bool data = ev->kind == INQ_BAR || ev->kind == INQ_TRADE ||
              ev->kind == INQ_QUOTE ||
              (ev->kind == INQ_TIMER && ev->u.timer.id == SOURCE_END_OF_FEED);
  if (data && svc_stop_asked(&s->sv))
    return true;
  switch (ev->kind) {
  case INQ_BAR:
    if (s->played >= s->o.max_bars) {
      s->stop = SESSION_MAX_BARS;
      return false;
    }
    if (!take_actions(s, s->next)) {
      s->stop = SESSION_SIGNAL;
      return false;
    }
    runner_bar(&s->r, &ev->u.bar);
    if (ev->u.bar.sym < s->cfg.instruments.n) {
      s->last_event[ev->u.bar.sym] = ev->u.bar.ts;
      s->last_bar[ev->u.bar.sym] = ev->u.bar;
    }
    s->next++;
    s->played++;
    s->n_bars++;
    return true;
  case INQ_TIMER:
    if (s->live && ev->src == SESSION_BRIDGE_SRC &&
        ev->u.timer.id == ALPACA_TRADER_RECONCILE) {
      s->recon_held = true;
      live_reconcile(s);
      return true;
    }
    if (ev->src == 0 && ev->u.timer.id == SOURCE_END_OF_FEED) {
      s->stop = SESSION_END_OF_FEED;
      return false;
    }
    return true;
  case INQ_COMMAND: {
    svc_req *q = ev->u.command.req;
    s->n_cmds++;
    exec_command(s, &q->cmd, &q->ans);
    /* With a journal, what a command changed (a pause, maintenance, the
     * kill switch) survives a crash: the checkpoint goes in the command's
     * own step.  Commands are rare; the checkpoint is cheap next to a
     * person's reaction time. */
    if (s->r.j)
      runner_checkpoint(&s->r);
    runner_sync(&s->r); /* a step of its own */
    follow_lifecycle(s, svc_op_name(q->cmd.op));
    svc_req_finish(q);
    if (s->stop_req) {
      s->stop = SESSION_SIGNAL;
      return false;
    }
    return true;
  }
  case INQ_TRADE: {
    s->n_trades++;
    if (s->live) { /* strategies take Alpaca's minute bars; trades and
                      quotes only say the feed is alive */
      if (ev->u.trade.sym < s->cfg.instruments.n)
        s->last_event[ev->u.trade.sym] = ev->u.trade.ts;
      return true;
    }
    int rc = runner_trade(&s->r, &ev->u.trade);
    if (rc == 0 && ev->u.trade.sym < s->cfg.instruments.n)
      s->last_event[ev->u.trade.sym] = ev->u.trade.ts;
    else if (rc)
      unhandled(s, ev, "a trade out of time order");
    return true;
  }
  case INQ_QUOTE:
    s->n_quotes++;
    if (s->live) {
      if (ev->u.quote.sym < s->cfg.instruments.n) {
        s->last_event[ev->u.quote.sym] = ev->u.quote.ts;
        s->last_quote[ev->u.quote.sym] = ev->u.quote;
      }
      return true;
    }
    unhandled(s, ev, "quotes are not played by dto run yet");
    return true;
  case INQ_REPORT:
    s->n_reports++;
    if (s->live && ev->src == SESSION_BRIDGE_SRC) {
      live_report(s, &ev->u.report);
      return true;
    }
    unhandled(s, ev, "no broker of this session reports through the queue");
    return true;
  default:
    s->n_reports++;
    unhandled(s, ev, "no broker of this session reports through the queue");
    return true;
  }
}

/* A command or a broker report the queue would not take is an event the
 * engine never saw: trading stops (the kill switch, which a person
 * releases) with a queue_overflow alert, rather than going on without it. */
static void check_overflow(run_session *s) {
  uint64_t n = atomic_load(&s->sv.overflows);
  if (n == s->overflows_seen)
    return;
  char msg[200];
  snprintf(msg, sizeof msg,
           "%" PRIu64 " command(s) or report(s) found the engine's queue "
           "full and were not taken; trading is halted (kill switch) until "
           "a person looks",
           n - s->overflows_seen);
  s->overflows_seen = n;
  engine_alert(s->r.e, "queue_overflow", 3, 0, msg);
  if (!engine_killed(s->r.e))
    do_kill(s, "service", "queue_overflow");
  runner_sync(&s->r);
}

#define SESSION_BATCH 256

enum session_stop session_play(run_session *s) {
  inq_event ev[SESSION_BATCH];
  for (;;) {
    lifecycle_watchdog(&s->lc); /* the loop turns */
    atomic_store_explicit(&s->beat, clock_mono_ns(), memory_order_relaxed);
    check_overflow(s);
    if (s->live)
      live_tick(s);
    size_t n = inq_pop_batch(s->q, ev, SESSION_BATCH);
    if (!n) {
      int64_t w = lifecycle_watchdog_due(&s->lc);
      inq_wait_spin(s->q, s->spin_ns,
                    w < 100 * 1000000LL ? (w > 0 ? w : 0) : 100 * 1000000LL);
      continue;
    }
    size_t i = 0;
    bool go = true;
    while (i < n && go)
      go = handle_event(s, &ev[i++]);
    for (; i < n; i++)
      refuse_command(&ev[i]);
    publish(s);
    if (!go)
      return s->stop;
  }
}

/* ---- close --------------------------------------------------------------- */

int session_close(run_session *s, char *err, size_t cap) {
  runner *r = &s->r;
  start_drain_clock(s); /* from the signal, or from now */
  lifecycle_transition(&s->lc, LC_DRAINING, session_stop_name(s->stop));
  /* no new commands or bars from here: the feed and the control socket
   * stop, and commands still queued are answered "stopping" */
  stop_service(s);
  publish(s);
  /* the end of the feed finishes the session; a stop before it keeps
   * working orders when run.on_stop says so (a restart restores them) */
  bool cancel =
      s->stop == SESSION_END_OF_FEED || s->cfg.run.on_stop == ON_STOP_CANCEL;
  if (cancel)
    runner_finish(r);
  /* A step without journal items writes no checkpoint (a restart after a
   * crash replays such bars and does the same again).  A clean stop must
   * not leave bars to replay: a person may act before the restart (dto
   * kill, an edited configuration), and the replayed bars would then see
   * the new state, which the session that played them did not.  So the
   * journal ends with a checkpoint of exactly where the session stopped. */
  if (s->live) /* what the stop sent (cancels) leaves before we go */
    alpaca_trader_drain(s->tr, s->drain_ns / 2);
  int ckrc = r->j ? runner_checkpoint(r) : 0;
  log_line l;
  if (ckrc && log_begin(&l, &r->log, LOG_ERROR, "checkpoint.failed")) {
    log_str(&l, "error", dto_strerror(ckrc));
    log_end(&l);
  }
  if (log_begin(&l, &r->log, LOG_INFO, "session.stop")) {
    log_str(&l, "reason", session_stop_name(s->stop));
    log_int(&l, "bars", (int64_t)s->played);
    log_str(&l, "on_stop", cancel ? "cancel" : "keep");
    log_int(&l, "next_bar", (int64_t)s->next);
    log_end(&l);
  }
  fflush(s->logf);
  int rc = 0;
  if (s->o.out_dir)
    rc = out_close(s, err, cap);
  if (s->o.summary_out) {
    static const char *const said[SESSION_STOP_COUNT] = {
        "ended (end of feed)", "stopped (--max-bars reached)",
        "stopped by signal"};
    const portfolio *p = engine_portfolio(r->e);
    fx end = runner_equity(r);
    char a[FX_STRLEN], b[FX_STRLEN], d[FX_STRLEN];
    fx_format(s->start_equity, a, sizeof a);
    fx_format(end, b, sizeof b);
    fx_format(end - s->start_equity, d, sizeof d);
    size_t open_pos = 0;
    for (size_t acc = 0; acc < s->cfg.naccounts; acc++)
      for (size_t y = 0; y < s->cfg.instruments.n; y++)
        open_pos +=
            portfolio_account_pos(p, (uint32_t)acc, (sym_id)y)->qty != 0;
    fprintf(s->o.summary_out,
            "session %s: bars %" PRIu64 ", orders %zu, fills %" PRIu64
            ", working orders %zu, open positions %zu\n"
            "equity %s -> %s (P&L %s)\n",
            said[s->stop], s->played, oms_count(engine_oms(r->e)),
            engine_fill_count(r->e), engine_working_orders(r->e), open_pos, a,
            b, d);
    fflush(s->o.summary_out);
  }
  state_pid_remove(s->sdir);
  lifecycle_transition(&s->lc, LC_STOPPED, session_stop_name(s->stop));
  s->lc.log = NULL; /* the runner's log closes with it */
  int jrc = runner_release(r);
  if (!jrc)
    jrc = ckrc;
  if (jrc && !rc) {
    snprintf(err, cap, "the journal could not write everything at shutdown: %s",
             dto_strerror(jrc));
    rc = jrc;
  }
  free_session(s);
  return rc;
}

int session_run(const session_opts *o, char *err, size_t cap) {
  run_session *s;
  int rc = session_open(o, &s, err, cap);
  if (rc)
    return rc;
  session_play(s);
  return session_close(s, err, cap);
}
