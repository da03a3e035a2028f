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

/* Compute from: every equity sample (samples, n; time-ordered), the day-end
 * equities (daily, ndays, the first being the start equity), the trades
 * whose strategy is `strategy` (UINT32_MAX: all), the fees, and the number
 * of samples with a position open (exposed). */
void metrics_compute(metrics *m, const eq_sample *samples, size_t n,
                     const fx *daily, size_t ndays, const trade_rec *trades,
                     size_t ntrades, uint32_t strategy, fx fees,
                     size_t exposed);

#endif
