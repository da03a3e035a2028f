/* metrics.h - performance statistics of a backtest or a session.
 *
 * Pure functions over an equity curve and a list of round trips.  Analytics,
 * so double is fine here; the inputs come from the fixed-point ledger.
 * Conventions: returns are simple daily returns of the end-of-day equity;
 * Sharpe and Sortino are annualised with sqrt(252) and a zero risk-free
 * rate (Sortino's downside deviation is the root mean square of the
 * negative daily returns over all days); annualised return compounds the
 * total return over 252 trading days a year.  Max drawdown is measured on
 * every equity sample, not only at day ends.
 */
#ifndef DTO_ENGINE_METRICS_H
#define DTO_ENGINE_METRICS_H

#include "core/fx.h"
#include "engine/portfolio.h"

typedef struct eq_sample {
  dto_time t;
  fx equity;
} eq_sample;

typedef struct metrics {
  fx start_equity, end_equity, net_pnl, fees;
  double total_return, annual_return, sharpe, sortino;
  double max_drawdown;        /* fraction of the peak, >= 0 */
  dto_time max_dd_duration;   /* peak to recovery (or to the end), ns */
  size_t days;
  size_t trades, wins, losses;
  double win_rate, profit_factor; /* profit_factor: -1 when no losses */
  fx avg_win, avg_loss;           /* net of fees; avg_loss <= 0 */
  fx gross_win, gross_loss;
  double exposure; /* share of samples with an open position */
} metrics;

/* The same figures computed online, one sample, day or round trip at a
 * time, in bounded memory: a backtest of any length feeds its curve
 * through one of these instead of keeping it.  Feeding the samples, days
 * and trades of metrics_compute's arrays (days before samples when the
 * first day is the start equity, as a session's is) gives exactly the
 * figures metrics_compute gives: it is implemented this way. */
typedef struct metrics_acc {
  /* equity samples: drawdown and its duration */
  size_t n;
  dto_time first_t, last_t, peak_t, longest;
  fx peak, last_eq; /* peak: the highest of the first day-end equity and
                     * every sample (a backtest's drawdown column) */
  fx trough; /* lowest equity since the peak (while under it) */
  bool under;
  double max_dd;
  /* day-end equities: daily returns' sums, in order */
  size_t ndays, nr;
  fx day0, day_last;
  double sum, sumsq, down;
  /* round trips */
  size_t trades, wins, losses;
  fx gross_win, gross_loss;
} metrics_acc;

/* Start empty (the peak starts at the first day-end equity fed, else 0). */
void metrics_acc_init(metrics_acc *a);
/* metrics_acc_sample's whole work, for any sample (internal). */
void metrics__sample_slow(metrics_acc *a, dto_time t, fx equity);
/* One equity sample (time-ordered). */
static inline void metrics_acc_sample(metrics_acc *a, dto_time t, fx equity) {
  /* Under the peak and above its trough (or level with it), the drawdown
   * changes nothing: most samples of a session once it has lost. */
  if (a->n && a->under && equity < a->peak && equity >= a->trough) {
    a->n++;
    a->last_t = t;
    a->last_eq = equity;
    return;
  }
  metrics__sample_slow(a, t, equity);
}
/* One day-end equity (the first is the start equity). */
void metrics_acc_day(metrics_acc *a, fx equity);
/* One round trip (the caller picks the strategy's own). */
void metrics_acc_trade(metrics_acc *a, const trade_rec *t);
/* The figures so far, with the fees and the count of samples with a
 * position open; a does not change. */
void metrics_acc_result(const metrics_acc *a, fx fees, size_t exposed,
                        metrics *m);

/* Compute from: every equity sample (samples, n; time-ordered), the day-end
 * equities (daily, ndays, the first being the start equity), the trades
 * whose strategy is `strategy` (UINT32_MAX: all), the fees, and the number
 * of samples with a position open (exposed). */
void metrics_compute(metrics *m, const eq_sample *samples, size_t n,
                     const fx *daily, size_t ndays, const trade_rec *trades,
                     size_t ntrades, uint32_t strategy, fx fees,
                     size_t exposed);

#endif
