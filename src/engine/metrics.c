/* metrics.c - returns, risk-adjusted ratios, drawdown, trade statistics,
 * computed online (metrics_acc) so that a curve need not be kept. */
#include "engine/metrics.h"

#include <math.h>

void metrics_acc_init(metrics_acc *a) { memset(a, 0, sizeof *a); }

/* The drawdown of the trough under the current peak.  For one peak the
 * drawdown (peak - e) / peak only grows as e falls (in double too: the
 * conversion and the division are monotonic), so the deepest sample under
 * a peak gives that peak's largest drawdown, and it is enough to compute
 * it once per peak instead of at every sample. */
static double trough_dd(const metrics_acc *a) {
  if (!a->under || a->peak <= 0)
    return 0;
  return fx_to_double(a->peak - a->trough) / fx_to_double(a->peak);
}

void metrics__sample_slow(metrics_acc *a, dto_time t, fx equity) {
  if (a->n++ == 0) {
    a->first_t = t;
    a->peak_t = t;
  }
  a->last_t = t;
  a->last_eq = equity;
  if (equity >= a->peak) {
    if (a->under) {
      double dd = trough_dd(a);
      if (dd > a->max_dd)
        a->max_dd = dd;
      if (t - a->peak_t > a->longest)
        a->longest = t - a->peak_t;
    }
    a->under = false;
    a->peak = equity;
    a->peak_t = t;
    return;
  }
  if (!a->under || equity < a->trough)
    a->trough = equity;
  a->under = true;
}

void metrics_acc_day(metrics_acc *a, fx equity) {
  if (a->ndays++ == 0) {
    a->day0 = equity;
    if (a->n == 0)
      a->peak = equity; /* the drawdown's first peak: the start equity */
  } else {
    double x = fx_to_double(a->day_last), y = fx_to_double(equity);
    if (x > 0) {
      double r = y / x - 1.0;
      a->sum += r;
      a->sumsq += r * r;
      if (r < 0)
        a->down += r * r;
      a->nr++;
    }
  }
  a->day_last = equity;
}

void metrics_acc_trade(metrics_acc *a, const trade_rec *t) {
  fx net = t->pnl - t->fees;
  a->trades++;
  if (net > 0) {
    a->wins++;
    a->gross_win += net;
  } else {
    a->losses++;
    a->gross_loss += net;
  }
}

void metrics_acc_result(const metrics_acc *a, fx fees, size_t exposed,
                        metrics *m) {
  memset(m, 0, sizeof *m);
  m->fees = fees;
  if (a->ndays) {
    m->start_equity = a->day0;
    m->end_equity = a->day_last;
  }
  if (a->n)
    m->end_equity = a->last_eq;
  m->net_pnl = m->end_equity - m->start_equity;
  double e0 = fx_to_double(m->start_equity);
  if (e0 > 0)
    m->total_return = fx_to_double(m->end_equity) / e0 - 1.0;
  m->days = a->ndays > 0 ? a->ndays - 1 : 0;
  if (m->days > 0 && 1.0 + m->total_return > 0)
    m->annual_return =
        pow(1.0 + m->total_return, 252.0 / (double)m->days) - 1.0;

  if (a->nr >= 2) {
    double mean = a->sum / (double)a->nr;
    double var =
        (a->sumsq - (double)a->nr * mean * mean) / (double)(a->nr - 1);
    if (var > 0)
      m->sharpe = mean / sqrt(var) * sqrt(252.0);
    double dd = sqrt(a->down / (double)a->nr);
    if (dd > 0)
      m->sortino = mean / dd * sqrt(252.0);
  }

  m->max_drawdown = a->max_dd;
  double dd = trough_dd(a);
  if (dd > m->max_drawdown)
    m->max_drawdown = dd;
  dto_time longest = a->longest;
  if (a->under && a->n && a->last_t - a->peak_t > longest)
    longest = a->last_t - a->peak_t;
  m->max_dd_duration = longest;
  m->exposure = a->n ? (double)exposed / (double)a->n : 0;

  m->trades = a->trades;
  m->wins = a->wins;
  m->losses = a->losses;
  m->gross_win = a->gross_win;
  m->gross_loss = a->gross_loss;
  if (m->trades)
    m->win_rate = (double)m->wins / (double)m->trades;
  if (m->wins)
    m->avg_win = m->gross_win / (fx)m->wins;
  if (m->losses)
    m->avg_loss = m->gross_loss / (fx)m->losses;
  m->profit_factor = m->gross_loss < 0 ? fx_to_double(m->gross_win) /
                                             -fx_to_double(m->gross_loss)
                                       : -1.0;
}

void metrics_compute(metrics *m, const eq_sample *s, size_t n,
                     const fx *daily, size_t ndays, const trade_rec *trades,
                     size_t ntrades, uint32_t strategy, fx fees,
                     size_t exposed) {
  metrics_acc a;
  metrics_acc_init(&a);
  for (size_t i = 0; i < ndays; i++)
    metrics_acc_day(&a, daily[i]);
  if (ndays == 0)
    a.peak = 0;
  for (size_t i = 0; i < n; i++)
    metrics_acc_sample(&a, s[i].t, s[i].equity);
  for (size_t i = 0; i < ntrades; i++)
    if (strategy == UINT32_MAX || trades[i].strategy == strategy)
      metrics_acc_trade(&a, &trades[i]);
  metrics_acc_result(&a, fees, exposed, m);
}
