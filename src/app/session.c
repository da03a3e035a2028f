/* session.c - `dto run`'s session: start-up, the loop, stopping, reports. */
#define _POSIX_C_SOURCE 200809L
#include "app/session.h"

#include <unistd.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "app/feed.h"
#include "app/lifecycle.h"
#include "app/recovery.h"
#include "app/state.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/timeutil.h"
#include "market/gen.h"
#include "store/store.h"

struct run_session {
  session_opts o; /* strings and actions not owned */
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
};

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
  runner_order_row(r, &s->row, o);
  out_write(s->orders_f, &s->row);
}

static void sink_fill(void *ctx, const runner *r, const order *o, fx qty,
                      fx price, fx fee, dto_time t) {
  run_session *s = ctx;
  size_t nsyms = s->cfg.instruments.n;
  s->acct_touched[(size_t)o->account * nsyms + o->sym] = true;
  s->strat_touched[(size_t)o->strategy * nsyms + o->sym] = true;
  dbuf_reset(&s->row);
  runner_fill_row(r, &s->row, o, qty, price, fee, t);
  out_write(s->fills_f, &s->row);
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

static void do_kill(run_session *s, const char *who, const char *what) {
  engine_kill(s->r.e, true, what);
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
}

/* Every lifecycle change goes to the journal too (the log has it already). */
static void on_lifecycle(void *ctx, enum lc_state from, enum lc_state to,
                         const char *why, bool legal) {
  run_session *s = ctx;
  if (s->r.j)
    jhooks_lifecycle(&s->r.jh, clock_now(&s->r.clock), lc_state_name(from),
                     lc_state_name(to), why, legal);
}

/* After a kill switch change or a reconciliation: halted while trading is
 * off for the whole service (kill switch, books not reconciled), else
 * ready. */
static void follow_lifecycle(run_session *s, const char *why) {
  enum lc_state st = s->lc.state;
  if (st != LC_READY && st != LC_HALTED && st != LC_RECONCILING)
    return;
  const risk *rk = engine_risk(s->r.e);
  bool off = engine_killed(s->r.e) || risk_is_unreconciled(rk);
  lifecycle_transition(&s->lc, off ? LC_HALTED : LC_READY, why);
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

/* A scripted release: what `dto kill --release` writes, then SIGUSR2. */
static void do_release(run_session *s) {
  run_state st;
  char err[512];
  memset(&st, 0, sizeof st);
  snprintf(st.by, sizeof st.by, "script");
  snprintf(st.reason, sizeof st.reason, "--at-bar release");
  now_iso(st.at, sizeof st.at);
  if (state_write(s->sdir, &st, err, sizeof err) && s->o.msg_out)
    fprintf(s->o.msg_out, "dto: %s\n", err);
  follow_state(s);
}

/* SIGHUP: new risk limits from the configuration file; validated first,
 * never lifting a halt or the kill switch. */
static void do_reload(run_session *s, const char *path) {
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
    return;
  }
  runner_risk nr;
  if (nc.naccounts != r->cfg->naccounts ||
      nc.instruments.n != r->cfg->instruments.n ||
      nc.nstrategies != r->cfg->nstrategies) {
    if (log_begin(&l, &r->log, LOG_ERROR, "risk.reload_refused")) {
      log_str(&l, "error",
              "accounts, instruments or strategies changed: "
              "restart to apply");
      log_end(&l);
    }
  } else if (runner_risk_config(&nc, &nr) == 0) {
    if (engine_reload_risk(r->e, &nr.rc) == 0) {
      runner_risk_release(&r->rcfg);
      r->rcfg = nr; /* the engine copied the limits; keep ours in step */
    } else {
      runner_risk_release(&nr);
    }
  } else if (log_begin(&l, &r->log, LOG_ERROR, "risk.reload_refused")) {
    log_str(&l, "error", "invalid risk limits");
    log_end(&l);
  }
  config_release(&nc);
}

/* ---- open ---------------------------------------------------------------- */

static void free_session(run_session *s) {
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
  if (s->logf && s->logf != stderr)
    fclose(s->logf);
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
  s->logf = stderr;
  if (o->log_path && !(s->logf = fopen(o->log_path, "a"))) {
    snprintf(err, cap, "cannot open log %s: %s", o->log_path, strerror(errno));
    rc = dto_from_errno(errno);
    goto fail;
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
  rc = load_feed(&s->cfg, &s->bars, err, cap);
  if (!rc && s->bars.n == 0) {
    snprintf(err, cap, "the feed has no bars");
    rc = DTO_ENOENT;
  }
  if (rc)
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
  rc = runner_init_session(&s->r, &s->cfg, s->logf,
                           rec.last_seq > 0 ? rec.last_time : s->bars.v[0].ts,
                           jstore, err, cap);
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
  /* resume the feed where the journal's checkpoint stopped */
  rc = recovery_resume_at(&s->r, &rec, s->bars.v, s->bars.n, &s->first, err,
                          cap);
  recovery_release(&rec);
  if (rc) {
    s->lc.log = NULL;
    runner_release(&s->r);
    goto fail;
  }
  s->next = s->first;
  while (s->next_act < s->nacts && s->acts[s->next_act].at < s->first)
    s->next_act++; /* before the restart: not ours */

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
    log_str(&l, "feed",
            s->cfg.run.feed == FEED_GENERATE ? "generate" : "replay");
    log_int(&l, "first_bar", (int64_t)s->first);
    log_end(&l);
  }
  s->start_equity = runner_equity(&s->r);
  *out = s;
  return 0;
fail:
  free_session(s);
  return rc;
}

const runner *session_runner(const run_session *s) { return &s->r; }
size_t session_first_bar(const run_session *s) { return s->first; }

/* ---- the loop ------------------------------------------------------------ */

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

/* Signals until the deadline of bar i; false: stop. */
static bool take_signals(run_session *s, size_t i) {
  const bar_vec *bars = &s->bars;
  int64_t wait = 0;
  if (i > 0 && bars->v[i].ts != bars->v[i - 1].ts && s->speed > 0) {
    double gap = (double)(bars->v[i].ts - bars->v[i - 1].ts) / s->speed;
    wait = gap > 60e9 ? (int64_t)60e9 : (int64_t)gap;
  }
  /* wait for the bar's time (or poll without waiting every 64 bars),
   * handling signals as they come: a kill switch acts within one wait,
   * not one bar */
  int64_t deadline = clock_mono_ns() + wait;
  for (;;) {
    lifecycle_watchdog(&s->lc); /* the loop turns */
    /* wait for a signal, the bar's time, or the next watchdog ping */
    int64_t left = deadline - clock_mono_ns();
    int64_t due = lifecycle_watchdog_due(&s->lc);
    int64_t w = left < due ? left : due;
    int sig = (w > 0 || (i & 63) == 0) ? wait_signal(&s->set, w > 0 ? w : 0)
                                       : 0;
    if (!sig) {
      if (deadline - clock_mono_ns() > 0)
        continue; /* woken for the watchdog */
      return true;
    }
    if (sig == SIGINT || sig == SIGTERM)
      return false;
    if (sig == SIGUSR1)
      do_kill(s, "signal", "SIGUSR1");
    else if (sig == SIGUSR2)
      follow_state(s);
    else if (sig == SIGHUP)
      do_reload(s, s->o.config);
    /* a command is a step of its own: its cancels (and its checkpoint)
     * go out now, not with the next bar */
    runner_sync(&s->r);
  }
}

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
      do_release(s);
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
    runner_sync(&s->r); /* as for a signal: a step of its own */
  }
  return true;
}

enum session_stop session_play(run_session *s) {
  for (;;) {
    size_t i = s->next;
    if (i >= s->bars.n) {
      s->stop = SESSION_END_OF_FEED;
      break;
    }
    if (s->played >= s->o.max_bars) {
      s->stop = SESSION_MAX_BARS;
      break;
    }
    if (!take_signals(s, i) || !take_actions(s, i)) {
      s->stop = SESSION_SIGNAL;
      break;
    }
    runner_bar(&s->r, &s->bars.v[i]);
    s->next++;
    s->played++;
  }
  return s->stop;
}

/* ---- close --------------------------------------------------------------- */

int session_close(run_session *s, char *err, size_t cap) {
  runner *r = &s->r;
  lifecycle_transition(&s->lc, LC_DRAINING, session_stop_name(s->stop));
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
