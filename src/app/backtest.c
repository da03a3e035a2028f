/* backtest.c - data loading, the backtest loop and its reports. */
#include "app/backtest.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "app/runner.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/progress.h"
#include "core/timeutil.h"
#include "app/feed.h"

void backtest_opts_init(backtest_opts *o) {
  memset(o, 0, sizeof *o);
  o->from = INT64_MIN;
  o->to = INT64_MAX;
  o->summary_out = stdout;
}

/* ---- files --------------------------------------------------------------- */

/* Write buf to dir/name atomically (tmp file + rename). */
static int write_file(const char *dir, const char *name, const dbuf *b,
                      char *err, size_t errcap) {
  char path[4200], tmp[4300];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
    return dto_from_errno(errno);
  }
  size_t w = b->len ? fwrite(b->ptr, 1, b->len, f) : 0;
  int bad = w != b->len;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
    remove(tmp);
    return DTO_EIO;
  }
  return 0;
}

static void add_time(dbuf *b, dto_time t) {
  char s[40];
  time_format(t, s, sizeof s);
  dbuf_adds(b, s);
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
  size_t nt = r->ntrades;
  const trade_rec *tr = r->trades;
  /* per strategy: day-end equities only (no per-sample curve) */
  eq_sample *s = xcalloc(r->sdaily[i].n, sizeof *s);
  for (size_t k = 0; k < r->sdaily[i].n; k++)
    s[k] = (eq_sample){(dto_time)k, r->sdaily[i].v[k]};
  metrics_compute(m, s, r->sdaily[i].n, r->sdaily[i].v, r->sdaily[i].n, tr,
                  nt, (uint32_t)i, portfolio_strategy_fees(p, (uint32_t)i), 0);
  m->exposure = -1; /* not tracked per strategy */
  m->max_dd_duration = 0;
  free(s);
}

static int write_reports(const runner *r, const char *dir, size_t bad_rows,
                         const metrics *tot, char *err, size_t errcap) {
  const dto_config *cfg = r->cfg;
  const oms *om = engine_oms(r->e);
  const risk *rk = engine_risk(r->e);
  dbuf b;
  int rc;

  /* summary.json */
  dbuf_init(&b, SIZE_MAX / 2);
  dbuf_printf(&b, "{\"dto_version\":\"%s\",\"trade_events\":%" PRIu64
                  ",\"bars\":%" PRIu64
                  ",\"bad_rows\":%zu,\"orders\":%zu,\"fills\":%" PRIu64 ",",
              DTO_VERSION, r->trade_events, r->bars, bad_rows, oms_count(om),
              engine_fill_count(r->e));
  dbuf_adds(&b, "\"from\":\"");
  add_time(&b, r->nsamples ? r->samples[0].t : 0);
  dbuf_adds(&b, "\",\"to\":\"");
  add_time(&b, r->nsamples ? r->samples[r->nsamples - 1].t : 0);
  dbuf_adds(&b, "\",\"risk_refusals\":{");
  for (int k = 1; k < RISK_REASON_COUNT; k++)
    dbuf_printf(&b, "%s\"%s\":%" PRIu64, k > 1 ? "," : "",
                risk_reason_name((enum risk_reason)k),
                risk_refusals(rk, (enum risk_reason)k));
  dbuf_adds(&b, "},\"total\":");
  json_metrics(&b, tot);
  dbuf_adds(&b, ",\"strategies\":[");
  for (size_t i = 0; i < engine_nstrategies(r->e); i++) {
    metrics m;
    strategy_metrics(r, i, &m);
    dbuf_adds(&b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(&b, engine_strategy_id(r->e, i));
    dbuf_adds(&b, ",\"metrics\":");
    json_metrics(&b, &m);
    dbuf_addc(&b, '}');
  }
  dbuf_adds(&b, "]}\n");
  if ((rc = write_file(dir, "summary.json", &b, err, errcap)))
    goto out;

  /* trades.csv */
  dbuf_reset(&b);
  dbuf_adds(&b, "strategy,symbol,side,entry_time,exit_time,qty,entry_price,"
                "exit_price,pnl,fees,net_pnl\n");
  size_t nt = r->ntrades;
  const trade_rec *tr = r->trades;
  for (size_t i = 0; i < nt; i++) {
    const trade_rec *t = &tr[i];
    fx ep = 0, xp = 0;
    fx_div(t->entry_value, t->entry_qty, &ep);
    fx_div(t->exit_value, t->exit_qty, &xp);
    dbuf_csv_str(&b, engine_strategy_id(r->e, t->strategy));
    dbuf_printf(&b, ",%s,%s,", cfg->instruments.v[t->sym].symbol,
                t->dir > 0 ? "long" : "short");
    add_time(&b, t->entry_time);
    dbuf_addc(&b, ',');
    add_time(&b, t->exit_time);
    dbuf_addc(&b, ',');
    dbuf_addfx(&b, t->qty);
    dbuf_addc(&b, ',');
    dbuf_addfx(&b, ep);
    dbuf_addc(&b, ',');
    dbuf_addfx(&b, xp);
    dbuf_addc(&b, ',');
    dbuf_addfx(&b, t->pnl);
    dbuf_addc(&b, ',');
    dbuf_addfx(&b, t->fees);
    dbuf_addc(&b, ',');
    dbuf_addfx(&b, t->pnl - t->fees);
    dbuf_addc(&b, '\n');
  }
  if ((rc = write_file(dir, "trades.csv", &b, err, errcap)))
    goto out;

  /* orders.csv */
  dbuf_reset(&b);
  dbuf_adds(&b, runner_orders_header);
  /* finished orders in the order they finished, then the open ones */
  dbuf_add(&b, r->orders_csv.ptr, r->orders_csv.len);
  size_t nopen;
  const order_id *open = oms_open_ids(om, &nopen);
  for (size_t i = 0; i < nopen; i++)
    runner_order_row(r, &b, oms_cget(om, open[i]));
  if ((rc = write_file(dir, "orders.csv", &b, err, errcap)))
    goto out;

  /* fills.csv: every fill in the engine's order (dto run --out writes the
   * same file, so the two can be compared byte for byte) */
  dbuf_reset(&b);
  dbuf_adds(&b, runner_fills_header);
  dbuf_add(&b, r->fills_csv.ptr, r->fills_csv.len);
  if ((rc = write_file(dir, "fills.csv", &b, err, errcap)))
    goto out;

  /* equity.csv */
  dbuf_reset(&b);
  dbuf_adds(&b, "time,equity,drawdown\n");
  fx peak = tot->start_equity;
  for (size_t i = 0; i < r->nsamples; i++) {
    const eq_sample *s = &r->samples[i];
    if (s->equity > peak)
      peak = s->equity;
    add_time(&b, s->t);
    dbuf_addc(&b, ',');
    dbuf_addfx(&b, s->equity);
    dbuf_addc(&b, ',');
    dbuf_addfx(&b, peak - s->equity);
    dbuf_addc(&b, '\n');
  }
  rc = write_file(dir, "equity.csv", &b, err, errcap);
out:
  dbuf_release(&b);
  return rc;
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
  bar_vec bars = {0};
  size_t bad_rows = 0;
  trade_vec trades = {0};
  int rc = feed_load(cfg, o->data, o->ndata, from, to, o->skip_bad_rows,
                     o->quiet, &bars, &trades, &bad_rows, err, errcap);
  if (rc)
    goto out_bars;
  if (bars.n == 0 && trades.n == 0) {
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
  runner r;
  dto_time t0 = bars.n ? bars.v[0].ts : trades.v[0].ts;
  if (trades.n && trades.v[0].ts < t0)
    t0 = trades.v[0].ts;
  rc = runner_init(&r, cfg, logf, t0, NULL, err, errcap);
  if (rc)
    goto out_log;
  progress pg;
  progress_init(&pg, "backtest", bars.n + trades.n, o->quiet);
  /* merge bars and trades by time; bars first on a tie */
  size_t bi = 0, ti = 0;
  while (bi < bars.n || ti < trades.n) {
    if (ti == trades.n || (bi < bars.n && bars.v[bi].ts <= trades.v[ti].ts)) {
      runner_bar(&r, &bars.v[bi++]);
    } else if ((rc = runner_trade(&r, &trades.v[ti++]))) {
      char t[40];
      time_format(trades.v[ti - 1].ts, t, sizeof t);
      snprintf(err, errcap, "trade at %s for %s: out of order for its bar",
               t, cfg->instruments.v[trades.v[ti - 1].sym].symbol);
      progress_done(&pg);
      runner_release(&r);
      goto out_log;
    }
    progress_update(&pg, bi + ti);
  }
  progress_done(&pg);
  runner_finish(&r);

  metrics tot;
  size_t nt = r.ntrades;
  const portfolio *p = engine_portfolio(r.e);
  const trade_rec *tr = r.trades;
  fx fees = 0;
  for (size_t a = 0; a < cfg->naccounts; a++)
    fees += portfolio_account_fees(p, (uint32_t)a);
  metrics_compute(&tot, r.samples, r.nsamples, r.daily.v, r.daily.n, tr, nt,
                  UINT32_MAX, fees, r.exposed);
  rc = write_reports(&r, dir, bad_rows, &tot, err, errcap);
  if (!rc && o->summary_out)
    print_summary(o->summary_out, &r, &tot, dir);
  runner_release(&r);
out_log:
  if (fclose(logf) != 0 && !rc) {
    snprintf(err, errcap, "cannot write %s", logpath);
    rc = DTO_EIO;
  }
out_bars:
  bar_vec_release(&bars);
  trade_vec_release(&trades);
  return rc;
}
