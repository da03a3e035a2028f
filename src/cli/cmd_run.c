/* cmd_run.c - `dto run`: the long-running orchestrator.
 *
 * For now it trades on the paper exchange from a replayed or generated feed
 * in simulated real time: the engine's clock follows the feed, and the
 * process sleeps between bars (bar gap / speed).  SIGINT and SIGTERM stop it
 * cleanly: working orders that are not GTC are canceled, the log is flushed
 * and a session summary printed; the exit status is 0.  Signals are taken
 * synchronously (blocked, then waited for with sigtimedwait as the sleep), so
 * no handler and no global flag are needed.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <time.h>

#include "app/config.h"
#include "app/recovery.h"
#include "app/state.h"
#include "store/store.h"
#include "app/runner.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "market/gen.h"
#include "app/feed.h"

static const char usage_text[] =
    "usage: dto run --config FILE [--speed X] [--max-bars N] [--log FILE]\n"
    "\n"
    "Runs the configured strategies against the paper exchange, fed by the\n"
    "config's data replayed (run.feed: replay) or by a generated synthetic\n"
    "feed (run.feed: generate).  Time is simulated: it follows the feed,\n"
    "and the process waits between bars as real time would pass at\n"
    "--speed times (0: as fast as possible).  Every order and fill is logged\n"
    "as one JSON line.  SIGINT or SIGTERM cancels working day orders,\n"
    "flushes, prints a session summary and exits 0.\n"
    "\n"
    "  -c, --config FILE   configuration (YAML); see docs/configuration.md\n"
    "  -s, --speed X       replay speed multiplier (default: run.speed)\n"
    "  -n, --max-bars N    stop after N bars (default: the whole feed)\n"
    "  -l, --log FILE      structured log (default: stderr)\n"
    "  -h, --help          this text\n";

static int load_feed(const dto_config *cfg, bar_vec *out, char *err,
                     size_t cap) {
  if (cfg->run.feed == FEED_GENERATE) {
    const char **syms = xcalloc(cfg->instruments.n, sizeof *syms);
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

static void now_iso(char *buf, size_t cap) {
  dto_clock rc;
  clock_real_init(&rc);
  time_format(clock_now(&rc), buf, cap);
}

/* SIGUSR1: engage the kill switch now and record it in the state file. */
static void on_kill_signal(runner *r, const char *dir) {
  engine_kill(r->e, true, "SIGUSR1");
  run_state st;
  char err[512];
  if (state_read(dir, &st, err, sizeof err) || !st.killed) {
    memset(&st, 0, sizeof st);
    st.killed = true;
    snprintf(st.by, sizeof st.by, "signal");
    snprintf(st.reason, sizeof st.reason, "SIGUSR1");
    now_iso(st.at, sizeof st.at);
    if (state_write(dir, &st, err, sizeof err))
      fprintf(stderr, "dto: %s\n", err);
  }
}

/* SIGUSR2: follow the state file a person wrote with `dto kill`. */
static void on_state_signal(runner *r, const char *dir) {
  run_state st;
  char err[512];
  int rc = state_read(dir, &st, err, sizeof err);
  if (rc)
    fprintf(stderr, "dto: %s\n", err); /* st.killed is set: fail closed */
  if (st.killed != engine_killed(r->e))
    engine_kill(r->e, st.killed, st.by[0] ? st.by : "state file");
}

/* SIGHUP: new risk limits from the configuration file; validated first,
 * never lifting a halt or the kill switch. */
static void on_reload(runner *r, const char *path) {
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
      log_str(&l, "error", "accounts, instruments or strategies changed: "
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

int cmd_run(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"speed", required_argument, NULL, 's'},
      {"max-bars", required_argument, NULL, 'n'},
      {"log", required_argument, NULL, 'l'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *config = NULL, *logpath = NULL;
  double speed = -1;
  uint64_t max_bars = UINT64_MAX;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":c:s:n:l:h", opts, NULL)) != -1) {
    char *end;
    switch (c) {
    case 'c':
      config = optarg;
      break;
    case 's':
      errno = 0;
      speed = strtod(optarg, &end);
      if (*end || errno || speed < 0 || speed > 1e9)
        return cli_usage_error("run", "--speed: expected a number from 0 to "
                                      "1e9, got '%.40s'",
                               optarg);
      break;
    case 'n': {
      errno = 0;
      unsigned long long v = strtoull(optarg, &end, 10);
      if (*end || errno || optarg[0] == '-' || v == 0)
        return cli_usage_error("run", "--max-bars: expected a positive "
                                      "integer, got '%.40s'",
                               optarg);
      max_bars = v;
      break;
    }
    case 'l':
      logpath = optarg;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    case ':':
      return cli_usage_error("run", "%s needs a value", argv[optind - 1]);
    default:
      return cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
  if (!config)
    return cli_usage_error("run", "--config is required");

  /* Block our signals first, so none is lost during start-up: INT and
   * TERM stop, USR1 engages the kill switch, USR2 re-reads the state file
   * (a release by `dto kill --release`), HUP reloads the risk limits. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);

  dto_config cfg;
  char err[1024];
  int rc = config_load(config, &cfg, err, sizeof err);
  if (rc)
    return cli_fail("%s", err);
  if (speed < 0)
    speed = cfg.run.speed;
  FILE *logf = stderr;
  if (logpath && !(logf = fopen(logpath, "a"))) {
    config_release(&cfg);
    return cli_fail("cannot open log %s: %s", logpath, strerror(errno));
  }
  bar_vec bars = {0};
  rc = load_feed(&cfg, &bars, err, sizeof err);
  if (!rc && bars.n == 0) {
    snprintf(err, sizeof err, "the feed has no bars");
    rc = DTO_ENOENT;
  }
  /* the journal's store: the schema must be the one this dto knows */
  store *jstore = NULL;
  recovery rec;
  memset(&rec, 0, sizeof rec);
  if (!rc && cfg.run.store) {
    store_options so;
    memset(&so, 0, sizeof so);
    so.require_current = true;
    so.create = true;
    rc = store_open(cfg.run.store, &so, &jstore, err, sizeof err);
    /* a journal from an earlier run: read it before the writer owns it */
    if (!rc && (rc = recovery_load(jstore, &rec, err, sizeof err))) {
      store_close(jstore);
      jstore = NULL;
    }
  }
  runner r;
  bool have_runner = false;
  if (!rc) {
    rc = runner_init_session(&r, &cfg, logf,
                     rec.last_seq > 0 ? rec.last_time : bars.v[0].ts, jstore,
                     err, sizeof err);
    have_runner = rc == 0;
    if (!rc && rec.last_seq > 0 &&
        (rc = recovery_apply(&r, &rec, err, sizeof err))) {
      runner_release(&r);
      have_runner = false;
    }
  }
  /* resume the feed where the journal stopped */
  size_t first = 0;
  if (!rc && rec.last_seq > 0)
    while (first < bars.n && bars.v[first].ts < rec.last_time)
      first++;
  recovery_release(&rec);
  if (rc) {
    bar_vec_release(&bars);
    config_release(&cfg);
    if (logf != stderr)
      fclose(logf);
    return cli_fail("%s", err);
  }
  r.keep_curve = false;
  char sdir[4096];
  state_dir(&cfg, sdir, sizeof sdir);
  run_state st;
  if (state_read(sdir, &st, err, sizeof err))
    fprintf(stderr, "dto: %s (trading stays off)\n", err);
  if (st.killed)
    engine_kill(r.e, true, st.by[0] ? st.by : "state file");
  if (state_pid_write(sdir, err, sizeof err))
    fprintf(stderr, "dto: %s ('dto kill' cannot signal this process)\n", err);
  log_line l;
  if (log_begin(&l, &r.log, LOG_INFO, "session.start")) {
    log_str(&l, "config", config);
    log_int(&l, "bars", (int64_t)bars.n);
    log_str(&l, "feed", cfg.run.feed == FEED_GENERATE ? "generate" : "replay");
    log_end(&l);
  }
  fx start = runner_equity(&r);
  bool stopped = false;
  uint64_t n = 0;
  for (size_t i = first; i < bars.n && n < max_bars && !stopped; i++, n++) {
    /* wait for the bar's time (or poll without waiting), handling signals
     * as they come; a kill switch acts within one wait, not one bar */
    int64_t wait = 0;
    if (i > 0 && bars.v[i].ts != bars.v[i - 1].ts && speed > 0) {
      double gap = (double)(bars.v[i].ts - bars.v[i - 1].ts) / speed;
      wait = gap > 60e9 ? (int64_t)60e9 : (int64_t)gap;
    }
    int64_t deadline = clock_mono_ns() + wait;
    for (;;) {
      int64_t left = deadline - clock_mono_ns();
      int sig = (left > 0 || (i & 63) == 0) ? wait_signal(&set, left > 0 ? left : 0)
                                            : 0;
      if (sig == SIGINT || sig == SIGTERM) {
        stopped = true;
        break;
      }
      if (sig == SIGUSR1)
        on_kill_signal(&r, sdir);
      else if (sig == SIGUSR2)
        on_state_signal(&r, sdir);
      else if (sig == SIGHUP)
        on_reload(&r, config);
      if (!sig)
        break;
    }
    if (stopped)
      break;
    runner_bar(&r, &bars.v[i]);
  }
  runner_finish(&r);
  const portfolio *p = engine_portfolio(r.e);
  if (log_begin(&l, &r.log, LOG_INFO, "session.stop")) {
    log_str(&l, "reason", stopped ? "signal" : "end_of_feed");
    log_int(&l, "bars", (int64_t)n);
    log_end(&l);
  }
  fflush(logf);
  fx end = runner_equity(&r);
  char a[FX_STRLEN], b[FX_STRLEN], d[FX_STRLEN];
  fx_format(start, a, sizeof a);
  fx_format(end, b, sizeof b);
  fx_format(end - start, d, sizeof d);
  size_t open_pos = 0;
  for (size_t acc = 0; acc < cfg.naccounts; acc++)
    for (size_t s = 0; s < cfg.instruments.n; s++)
      open_pos += portfolio_account_pos(p, (uint32_t)acc, (sym_id)s)->qty != 0;
  printf("session %s: bars %" PRIu64 ", orders %zu, fills %" PRIu64
         ", working orders %zu, open positions %zu\n"
         "equity %s -> %s (P&L %s)\n",
         stopped ? "stopped by signal" : "ended (end of feed)", n,
         oms_count(engine_oms(r.e)), engine_fill_count(r.e),
         engine_working_orders(r.e), open_pos, a, b, d);
  fflush(stdout);
  state_pid_remove(sdir);
  int jrc = have_runner ? runner_release(&r) : 0;
  bar_vec_release(&bars);
  config_release(&cfg);
  if (logf != stderr)
    fclose(logf);
  if (jrc)
    return cli_fail("the journal could not write everything at shutdown: %s",
                    dto_strerror(jrc));
  return 0;
}
