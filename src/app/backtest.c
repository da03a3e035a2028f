/* backtest.c - data loading, the backtest loop and its reports. */
#include "app/backtest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/runner.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/progress.h"
#include "core/rowfmt.h"
#include "core/timeutil.h"
#include "app/feed.h"

void backtest_opts_init(backtest_opts *o) {
  memset(o, 0, sizeof *o);
  o->from = INT64_MIN;
  o->to = INT64_MAX;
  o->summary_out = stdout;
}

/* ---- report files ------------------------------------------------------- */

/* A report written as it is produced: rows are formatted into b, which is
 * written out whenever it holds RFILE_BUF bytes, into NAME.tmp; the file is
 * renamed into place when the run has succeeded (as before: whole files or
 * none), and removed when it has not. */
#define RFILE_BUF ((size_t)64 << 10)

typedef struct rfile {
  char path[4200], tmp[4300];
  int fd; /* -1: not open */
  dbuf b;
  int werr; /* the first write error (errno), sticky */
} rfile;

static int rfile_open(rfile *f, const char *dir, const char *name, char *err,
                      size_t errcap) {
  snprintf(f->path, sizeof f->path, "%s/%s", dir, name);
  snprintf(f->tmp, sizeof f->tmp, "%s/%s.tmp", dir, name);
  dbuf_init(&f->b, SIZE_MAX / 2);
  f->werr = 0;
  f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (f->fd < 0) {
    int e = errno;
    snprintf(err, errcap, "cannot write %s: %s", f->path, strerror(e));
    return dto_from_errno(e);
  }
  return 0;
}

static void rfile_flush(rfile *f) {
  const char *p = f->b.ptr;
  size_t n = f->b.len;
  while (n && !f->werr) {
    ssize_t k = write(f->fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0) {
      f->werr = errno;
      break;
    }
    p += k;
    n -= (size_t)k;
  }
  dbuf_reset(&f->b);
}

/* After each row: write the buffer out once it is full. */
static inline void rfile_row_done(rfile *f) {
  if (f->b.len >= RFILE_BUF)
    rfile_flush(f);
}

/* Write out what is left and close; 0 or an error with a message. */
static int rfile_close(rfile *f, char *err, size_t errcap) {
  rfile_flush(f);
  int rc = 0;
  if (f->fd >= 0 && close(f->fd) != 0 && !f->werr)
    f->werr = errno;
  f->fd = -1;
  if (f->werr) {
    snprintf(err, errcap, "cannot write %s: %s", f->path, strerror(f->werr));
    rc = DTO_EIO;
  }
  dbuf_release(&f->b);
  return rc;
}

/* The last run's file is removed before the new one is renamed into its
 * place.  ext4 flushes a file that is renamed over another (auto_da_alloc,
 * for programs that do not fsync), and waiting for that took about 15 % of
 * a 10 M bar run's time.  Reports are not made durable either way (a rerun
 * makes them again); a crash between the two steps leaves the name
 * missing rather than the last run's file. */
static int rfile_commit(rfile *f, char *err, size_t errcap) {
  if (unlink(f->path) != 0 && errno != ENOENT) {
    snprintf(err, errcap, "cannot replace %s: %s", f->path, strerror(errno));
    remove(f->tmp);
    return DTO_EIO;
  }
  if (rename(f->tmp, f->path) != 0) {
    snprintf(err, errcap, "cannot write %s: %s", f->path, strerror(errno));
    remove(f->tmp);
    return DTO_EIO;
  }
  return 0;
}

/* Give up: close (if open) and remove the temporary file. */
static void rfile_abort(rfile *f) {
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
  dbuf_release(&f->b);
  remove(f->tmp);
}

static void add_time(dbuf *b, dto_time t) {
  char s[40];
  size_t n = time_format(t, s, sizeof s);
  dbuf_add(b, s, n);
}

/* The streamed reports and the equity curve's sampling. */
enum { R_TRADES, R_ORDERS, R_FILLS, R_EQUITY, R_SUMMARY, R__N };
static const char *const report_names[R__N] = {
    "trades.csv", "orders.csv", "fills.csv", "equity.csv", "summary.json"};

typedef struct reports {
  rfile f[R__N];
  time_fmt_cache tc[R__N]; /* each file's times come in order */
  row_fx_cache eq, dd;     /* equity.csv's columns */
  int nopen;
  const dto_config *cfg;
  dto_time interval; /* of equity.csv's rows (the runner's sample_every) */
} reports;

/* Sink: an equity sample to write (the runner picks them by interval).
 * The drawdown column is measured from the peak of every sample, told or
 * not, and from the start equity: r->acc's, which has taken this one in
 * already. */
static void on_sample(void *ctx, const runner *r, dto_time t, fx eq) {
  reports *rp = ctx;
  rfile *f = &rp->f[R_EQUITY];
  char *p0 = dbuf_space(&f->b, TIME_FMT_MAX + 2 * FX_STRLEN + 3), *p = p0;
  if (p0) {
    p = row_time(p, &rp->tc[R_EQUITY], t);
    *p++ = ',';
    p = row_fx_cached(p, &rp->eq, eq);
    *p++ = ',';
    p = row_fx_cached(p, &rp->dd, r->acc.peak - eq);
    *p++ = '\n';
    dbuf_commit(&f->b, (size_t)(p - p0));
  }
  rfile_row_done(f);
}

static void on_order(void *ctx, const runner *r, const order *o) {
  reports *rp = ctx;
  runner_order_row(r, &rp->f[R_ORDERS].b, &rp->tc[R_ORDERS], o);
  rfile_row_done(&rp->f[R_ORDERS]);
}

static void on_fill(void *ctx, const runner *r, const order *o, fx qty,
                    fx price, fx fee, dto_time t) {
  reports *rp = ctx;
  runner_fill_row(r, &rp->f[R_FILLS].b, &rp->tc[R_FILLS], o, qty, price,
                  fee, t);
  rfile_row_done(&rp->f[R_FILLS]);
}

static void on_trade(void *ctx, const runner *r, const trade_rec *t) {
  reports *rp = ctx;
  dbuf *b = &rp->f[R_TRADES].b;
  fx ep = 0, xp = 0;
  fx_div(t->entry_value, t->entry_qty, &ep);
  fx_div(t->exit_value, t->exit_qty, &xp);
  const char *sid = engine_strategy_id(r->e, t->strategy);
  const char *sym = rp->cfg->instruments.v[t->sym].symbol;
  size_t nsid = strlen(sid), nsym = strlen(sym);
  char *p0 = dbuf_space(b, 2 * nsid + 2 + nsym + 2 * TIME_FMT_MAX +
                               6 * FX_STRLEN + 18),
       *p = p0;
  if (p0) {
    p = row_csv(p, sid, nsid);
    *p++ = ',';
    p = row_mem(p, sym, nsym);
    p = t->dir > 0 ? row_mem(p, ",long,", 6) : row_mem(p, ",short,", 7);
    p = row_time(p, &rp->tc[R_TRADES], t->entry_time);
    *p++ = ',';
    p = row_time(p, &rp->tc[R_TRADES], t->exit_time);
    *p++ = ',';
    p = row_fx(p, t->qty);
    *p++ = ',';
    p = row_fx(p, ep);
    *p++ = ',';
    p = row_fx(p, xp);
    *p++ = ',';
    p = row_fx(p, t->pnl);
    *p++ = ',';
    p = row_fx(p, t->fees);
    *p++ = ',';
    p = row_fx(p, t->pnl - t->fees);
    *p++ = '\n';
    dbuf_commit(b, (size_t)(p - p0));
  }
  rfile_row_done(&rp->f[R_TRADES]);
}

/* events: bars and trades in the data files (all of them, whatever the
 * window), which decides the resolution "auto" stands for. */
static int reports_open(reports *rp, const dto_config *cfg, const char *dir,
                        uint64_t events, char *err, size_t errcap) {
  memset(rp, 0, sizeof *rp);
  for (int i = 0; i < R__N; i++) {
    rp->f[i].fd = -1;
    time_fmt_cache_init(&rp->tc[i]);
  }
  rp->cfg = cfg;
  rp->interval = cfg->backtest.equity_interval;
  if (rp->interval == CFG_EQUITY_AUTO)
    rp->interval = events <= CFG_EQUITY_AUTO_BARS ? 0 : CFG_EQUITY_AUTO_LONG;
  for (int i = 0; i < R__N; i++) {
    int rc = rfile_open(&rp->f[i], dir, report_names[i], err, errcap);
    if (rc)
      return rc;
    rp->nopen = i + 1;
  }
  dbuf_adds(&rp->f[R_TRADES].b,
            "strategy,symbol,side,entry_time,exit_time,qty,entry_price,"
            "exit_price,pnl,fees,net_pnl\n");
  dbuf_adds(&rp->f[R_ORDERS].b, runner_orders_header);
  dbuf_adds(&rp->f[R_FILLS].b, runner_fills_header);
  dbuf_adds(&rp->f[R_EQUITY].b, "time,equity,drawdown\n");
  return 0;
}

static void reports_abort(reports *rp) {
  for (int i = 0; i < rp->nopen; i++)
    rfile_abort(&rp->f[i]);
  rp->nopen = 0;
}

/* Close every file, then (all written) put them in place. */
static int reports_commit(reports *rp, char *err, size_t errcap) {
  int rc = 0;
  for (int i = 0; i < rp->nopen; i++) {
    int e = rfile_close(&rp->f[i], err, errcap);
    if (e && !rc)
      rc = e;
  }
  for (int i = 0; i < rp->nopen && !rc; i++)
    rc = rfile_commit(&rp->f[i], err, errcap);
  if (rc)
    reports_abort(rp);
  rp->nopen = 0;
  return rc;
}

static void json_metrics(dbuf *b, const metrics *m) {
  dbuf_adds(b, "{\"start_equity\":\"");
  dbuf_addfx(b, m->start_equity);
  dbuf_adds(b, "\",\"end_equity\":\"");
  dbuf_addfx(b, m->end_equity);
  dbuf_adds(b, "\",\"net_pnl\":\"");
  dbuf_addfx(b, m->net_pnl);
  dbuf_adds(b, "\",\"fees\":\"");
  dbuf_addfx(b, m->fees);
  dbuf_printf(b,
              "\",\"total_return\":%.10f,\"annual_return\":%.10f,"
              "\"sharpe\":%.6f,\"sortino\":%.6f,\"max_drawdown\":%.10f,"
              "\"max_drawdown_duration_s\":%" PRId64 ",\"days\":%zu,"
              "\"trades\":%zu,\"wins\":%zu,\"losses\":%zu,"
              "\"win_rate\":%.6f,\"profit_factor\":%.6f,",
              m->total_return, m->annual_return, m->sharpe, m->sortino,
              m->max_drawdown, (int64_t)(m->max_dd_duration / DTO_NS_PER_SEC), m->days,
              m->trades, m->wins, m->losses, m->win_rate, m->profit_factor);
  dbuf_adds(b, "\"avg_win\":\"");
  dbuf_addfx(b, m->avg_win);
  dbuf_adds(b, "\",\"avg_loss\":\"");
  dbuf_addfx(b, m->avg_loss);
  dbuf_printf(b, "\",\"exposure\":%.6f}", m->exposure);
}

static void strategy_metrics(const runner *r, size_t i, metrics *m) {
  const portfolio *p = engine_portfolio(r->e);
  /* per strategy: day-end equities only (no per-sample curve) */
  metrics_acc_result(&r->sacc[i], portfolio_strategy_fees(p, (uint32_t)i), 0,
                     m);
  m->exposure = -1; /* not tracked per strategy */
  m->max_dd_duration = 0;
}

/* The end of the run: the open orders, summary.json. */
static void reports_finish(reports *rp, const runner *r, size_t bad_rows,
                           const metrics *tot) {
  /* finished orders in the order they finished, then the open ones */
  const oms *om = engine_oms(r->e);
  size_t nopen;
  const order_id *open = oms_open_ids(om, &nopen);
  for (size_t i = 0; i < nopen; i++) {
    runner_order_row(r, &rp->f[R_ORDERS].b, &rp->tc[R_ORDERS],
                     oms_cget(om, open[i]));
    rfile_row_done(&rp->f[R_ORDERS]);
  }

  const risk *rk = engine_risk(r->e);
  dbuf *b = &rp->f[R_SUMMARY].b;
  dbuf_printf(b, "{\"dto_version\":\"%s\",\"trade_events\":%" PRIu64
                 ",\"bars\":%" PRIu64
                 ",\"bad_rows\":%zu,\"orders\":%zu,\"fills\":%" PRIu64 ",",
              DTO_VERSION, r->trade_events, r->bars, bad_rows, oms_count(om),
              engine_fill_count(r->e));
  dbuf_adds(b, "\"from\":\"");
  add_time(b, r->acc.n ? r->acc.first_t : 0);
  dbuf_adds(b, "\",\"to\":\"");
  add_time(b, r->acc.n ? r->acc.last_t : 0);
  dbuf_adds(b, "\",\"risk_refusals\":{");
  for (int k = 1; k < RISK_REASON_COUNT; k++)
    dbuf_printf(b, "%s\"%s\":%" PRIu64, k > 1 ? "," : "",
                risk_reason_name((enum risk_reason)k),
                risk_refusals(rk, (enum risk_reason)k));
  dbuf_adds(b, "},\"total\":");
  json_metrics(b, tot);
  dbuf_adds(b, ",\"strategies\":[");
  for (size_t i = 0; i < engine_nstrategies(r->e); i++) {
    metrics m;
    strategy_metrics(r, i, &m);
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, engine_strategy_id(r->e, i));
    dbuf_adds(b, ",\"metrics\":");
    json_metrics(b, &m);
    dbuf_addc(b, '}');
  }
  dbuf_adds(b, "]}\n");
}

static void print_summary(FILE *f, const runner *r, const metrics *tot,
                          const char *dir) {
  char a[FX_STRLEN], c[FX_STRLEN];
  fprintf(f, "%-20s %7s %7s %14s %12s %8s %8s\n", "strategy", "trades",
          "win%", "net P&L", "fees", "return%", "sharpe");
  for (size_t i = 0; i < engine_nstrategies(r->e); i++) {
    metrics m;
    strategy_metrics(r, i, &m);
    double np = fx_to_double(m.net_pnl), fe = fx_to_double(m.fees);
    fprintf(f, "%-20s %7zu %7.1f %14.2f %12.2f %8.3f %8.2f\n",
            engine_strategy_id(r->e, i), m.trades, m.win_rate * 100, np, fe,
            m.total_return * 100, m.sharpe);
  }
  fprintf(f, "%-20s %7zu %7.1f %14.2f %12.2f %8.3f %8.2f\n", "TOTAL",
          tot->trades, tot->win_rate * 100, fx_to_double(tot->net_pnl),
          fx_to_double(tot->fees), tot->total_return * 100, tot->sharpe);
  fx_format(tot->start_equity, a, sizeof a);
  fx_format(tot->end_equity, c, sizeof c);
  fprintf(f,
          "\nbars %" PRIu64 ", days %zu, orders %zu, fills %" PRIu64
          ", equity %s -> %s\n"
          "max drawdown %.2f%%, sortino %.2f, profit factor %.2f, exposure "
          "%.1f%%\n",
          r->bars, tot->days, oms_count(engine_oms(r->e)),
          engine_fill_count(r->e), a, c, tot->max_drawdown * 100,
          tot->sortino, tot->profit_factor, tot->exposure * 100);
  const risk *rk = engine_risk(r->e);
  uint64_t refused = 0;
  for (int k = 1; k < RISK_REASON_COUNT; k++)
    refused += risk_refusals(rk, (enum risk_reason)k);
  fprintf(f, "risk checks %" PRIu64 ", refused %" PRIu64, risk_checked(rk),
          refused);
  const char *sep = ":";
  for (int k = 1; k < RISK_REASON_COUNT; k++)
    if (risk_refusals(rk, (enum risk_reason)k)) {
      fprintf(f, "%s %s %" PRIu64, sep, risk_reason_name((enum risk_reason)k),
              risk_refusals(rk, (enum risk_reason)k));
      sep = ",";
    }
  fputc('\n', f);
  fprintf(f, "reports: %s/{summary.json,trades.csv,orders.csv,fills.csv,equity.csv,"
             "events.jsonl}\n",
          dir);
}

/* ---- the run ------------------------------------------------------------- */

#define BAR_BATCH 256

int backtest_run(const dto_config *cfg, const backtest_opts *o, char *err,
                 size_t errcap) {
  dto_time from = o->from != INT64_MIN ? o->from : cfg->backtest.from;
  dto_time to = o->to != INT64_MAX ? o->to : cfg->backtest.to;
  const char *dir = o->out_dir ? o->out_dir
                    : cfg->backtest.out_dir ? cfg->backtest.out_dir
                                            : "backtest-out";
  if (from >= to) {
    snprintf(err, errcap, "'from' must be before 'to'");
    return DTO_EINVAL;
  }
  trade_vec trades = {0};
  feed_stream *fs = NULL;
  const bar *bars = NULL; /* the stream's, until the next read */
  size_t nb = 0, bi = 0, ti = 0;
  int rc = feed_stream_open(cfg, o->data, o->ndata, from, to,
                            o->skip_bad_rows, o->quiet,
                            cfg->backtest.sort_input, &trades, &fs, err,
                            errcap);
  if (rc)
    goto out_bars;
  long got = feed_stream_next(fs, BAR_BATCH, &bars, err, errcap);
  if (got < 0) {
    rc = (int)got;
    goto out_bars;
  }
  nb = (size_t)got;
  if (nb == 0 && trades.n == 0) {
    snprintf(err, errcap, "no data in the selected time range");
    rc = DTO_ENOENT;
    goto out_bars;
  }
  if ((rc = fileio_mkdir_p(dir))) {
    snprintf(err, errcap, "cannot create %s: %s", dir, dto_strerror(rc));
    goto out_bars;
  }
  char logpath[4200];
  snprintf(logpath, sizeof logpath, "%s/events.jsonl", dir);
  FILE *logf = fopen(logpath, "w");
  if (!logf) {
    snprintf(err, errcap, "cannot write %s: %s", logpath, strerror(errno));
    rc = DTO_EIO;
    goto out_bars;
  }
  reports rp;
  if ((rc = reports_open(&rp, cfg, dir, feed_stream_total(fs) + trades.n, err,
                         errcap)))
    goto out_reports;
  runner r;
  dto_time t0 = nb ? bars[0].ts : trades.v[0].ts;
  if (trades.n && trades.v[0].ts < t0)
    t0 = trades.v[0].ts;
  rc = runner_init(&r, cfg, logf, t0, NULL, err, errcap);
  if (rc)
    goto out_reports;
  /* the reports stream from the runner's hooks; nothing is kept */
  r.keep_curve = false;
  r.keep_orders = false;
  r.sink.ctx = &rp;
  r.sink.order_done = on_order;
  r.sink.fill = on_fill;
  r.sink.sample = on_sample;
  r.sink.sample_every = rp.interval;
  r.sink.trade = on_trade;
  progress pg;
  progress_init(&pg, "backtest", feed_stream_total(fs) + trades.n, o->quiet);
  /* merge bars and trades by time; bars first on a tie */
  uint64_t done = 0;
  for (;;) {
    if (bi == nb && nb) {
      got = feed_stream_next(fs, BAR_BATCH, &bars, err, errcap);
      if (got < 0) {
        rc = (int)got;
        break;
      }
      nb = (size_t)got;
      bi = 0;
      progress_update(&pg, done);
    }
    if (bi == nb && ti == trades.n)
      break;
    if (ti == trades.n) { /* bars only: the hot loop */
      done += nb - bi;
      runner_bars(&r, &bars[bi], nb - bi);
      bi = nb;
      continue;
    }
    if (bi < nb && bars[bi].ts <= trades.v[ti].ts) {
      runner_bar(&r, &bars[bi++]);
      done++;
    } else if ((rc = runner_trade(&r, &trades.v[ti++]))) {
      char t[40];
      time_format(trades.v[ti - 1].ts, t, sizeof t);
      snprintf(err, errcap, "trade at %s for %s: out of order for its bar",
               t, cfg->instruments.v[trades.v[ti - 1].sym].symbol);
      break;
    } else {
      done++;
      if ((ti & 4095) == 0)
        progress_update(&pg, done);
    }
  }
  progress_done(&pg);
  if (rc) {
    runner_release(&r);
    goto out_reports;
  }
  runner_finish(&r);

  metrics tot;
  const portfolio *p = engine_portfolio(r.e);
  fx fees = 0;
  for (size_t a = 0; a < cfg->naccounts; a++)
    fees += portfolio_account_fees(p, (uint32_t)a);
  metrics_acc_result(&r.acc, fees, r.exposed, &tot);
  size_t bad_rows = feed_stream_bad_rows(fs);
  reports_finish(&rp, &r, bad_rows, &tot);
  rc = reports_commit(&rp, err, errcap);
  if (!rc && o->summary_out)
    print_summary(o->summary_out, &r, &tot, dir);
  runner_release(&r);
out_reports:
  reports_abort(&rp);
  if (fclose(logf) != 0 && !rc) {
    snprintf(err, errcap, "cannot write %s", logpath);
    rc = DTO_EIO;
  }
out_bars:
  feed_stream_free(fs);
  trade_vec_release(&trades);
  return rc;
}
