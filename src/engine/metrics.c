/* metrics.c - returns, risk-adjusted ratios, drawdown, trade statistics. */
#include "engine/metrics.h"

#include <math.h>

void metrics_compute(metrics *m, const eq_sample *s, size_t n,
                     const fx *daily, size_t ndays, const trade_rec *trades,
                     size_t ntrades, uint32_t strategy, fx fees,
                     size_t exposed) {
  memset(m, 0, sizeof *m);
  m->fees = fees;
  if (ndays) {
    m->start_equity = daily[0];
    m->end_equity = daily[ndays - 1];
  }
  if (n)
    m->end_equity = s[n - 1].equity;
  m->net_pnl = m->end_equity - m->start_equity;
  double e0 = fx_to_double(m->start_equity);
  if (e0 > 0)
    m->total_return = fx_to_double(m->end_equity) / e0 - 1.0;
  m->days = ndays > 0 ? ndays - 1 : 0;
  if (m->days > 0 && 1.0 + m->total_return > 0)
    m->annual_return =
        pow(1.0 + m->total_return, 252.0 / (double)m->days) - 1.0;

  /* daily returns */
  double sum = 0, sumsq = 0, down = 0;
  size_t nr = 0;
  for (size_t i = 1; i < ndays; i++) {
    double a = fx_to_double(daily[i - 1]), b = fx_to_double(daily[i]);
    if (a <= 0)
      continue;
    double r = b / a - 1.0;
    sum += r;
    sumsq += r * r;
    if (r < 0)
      down += r * r;
    nr++;
  }
  if (nr >= 2) {
    double mean = sum / (double)nr;
    double var = (sumsq - (double)nr * mean * mean) / (double)(nr - 1);
    if (var > 0)
      m->sharpe = mean / sqrt(var) * sqrt(252.0);
    double dd = sqrt(down / (double)nr);
    if (dd > 0)
      m->sortino = mean / dd * sqrt(252.0);
  }

  /* drawdown on every sample */
  fx peak = m->start_equity;
  dto_time peak_t = n ? s[0].t : 0, longest = 0;
  bool under = false;
  for (size_t i = 0; i < n; i++) {
    if (s[i].equity >= peak) {
      if (under && s[i].t - peak_t > longest)
        longest = s[i].t - peak_t;
      under = false;
      peak = s[i].equity;
      peak_t = s[i].t;
      continue;
    }
    under = true;
    double dd = fx_to_double(peak - s[i].equity) / fx_to_double(peak);
    if (peak > 0 && dd > m->max_drawdown)
      m->max_drawdown = dd;
  }
  if (under && n && s[n - 1].t - peak_t > longest)
    longest = s[n - 1].t - peak_t;
  m->max_dd_duration = longest;
  m->exposure = n ? (double)exposed / (double)n : 0;

  for (size_t i = 0; i < ntrades; i++) {
    const trade_rec *t = &trades[i];
    if (strategy != UINT32_MAX && t->strategy != strategy)
      continue;
    fx net = t->pnl - t->fees;
    m->trades++;
    if (net > 0) {
      m->wins++;
      m->gross_win += net;
    } else {
      m->losses++;
      m->gross_loss += net;
    }
  }
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
