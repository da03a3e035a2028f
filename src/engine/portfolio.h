/* portfolio.h - positions, cash, P&L and fees.
 *
 * The portfolio is a fold over fills and prices: it keeps, per account and
 * per strategy instance, the signed position of every symbol with its cost
 * basis, realised P&L and fees, plus cash, marked equity and the day-trade
 * count.  All amounts are fx; nothing here does I/O.  Positions are kept
 * twice on purpose (per account and per strategy), because risk limits and
 * reports need both and summing on every query would cost more than the
 * extra add on each fill.
 *
 * Round trips (flat -> position -> flat) are recorded as trade records for
 * reports; the caller drains them with portfolio_trades().
 */
#ifndef DTO_ENGINE_PORTFOLIO_H
#define DTO_ENGINE_PORTFOLIO_H

#include "core/fx.h"
#include "core/snap.h"
#include "engine/order.h"

typedef struct fee_schedule {
  fx per_share;     /* per unit of quantity */
  fx per_order;     /* once per order, on its first fill */
  fx bps;           /* basis points of traded value */
  fx min_per_order; /* floor of the order's first-fill fee */
  fx max_pct;       /* cap, percent of the fill's value (0: no cap) */
} fee_schedule;

/* The fee of one fill of qty at price; first is true for an order's first
 * fill.  Rounded up to the cent is NOT applied: fees are exact fx. */
fx fee_compute(const fee_schedule *f, fx qty, fx price, bool first);

typedef struct position {
  fx qty;      /* signed: > 0 long, < 0 short */
  fx cost;     /* signed cost basis of the open quantity */
  fx realized; /* realised P&L, before fees */
  fx fees;
  int64_t open_day; /* exchange day of the last opening fill, -1 none */
} position;

/* A finished round trip of one strategy in one symbol. */
typedef struct trade_rec {
  uint32_t strategy;
  sym_id sym;
  int dir; /* +1 long, -1 short */
  dto_time entry_time, exit_time;
  fx qty;             /* largest absolute position held */
  fx entry_qty, entry_value;
  fx exit_qty, exit_value;
  fx pnl;  /* realised, before fees */
  fx fees;
} trade_rec;

typedef struct portfolio portfolio;

typedef struct portfolio_config {
  size_t naccounts;
  const fx *account_cash; /* naccounts initial cash */
  size_t nstrategies;
  const uint32_t *strategy_account; /* nstrategies account indexes */
  const fx *strategy_alloc;         /* nstrategies allocations */
  size_t nsyms;
  /* Told of every finished round trip (may be NULL).  The portfolio itself
   * keeps only the most recent PORTFOLIO_KEEP_TRADES. */
  void (*on_trade)(void *ctx, const trade_rec *t);
  void *trade_ctx;
} portfolio_config;

/* Create a portfolio; the caller frees it with portfolio_free(). */
portfolio *portfolio_new(const portfolio_config *cfg);
void portfolio_free(portfolio *p);

/* A new price for sym: re-marks equity.  O(1): it only records the price
 * (the engine writes the same array inline: portfolio_int.h). */
void portfolio_mark(portfolio *p, sym_id sym, fx price);

/* Apply a fill of qty (> 0) at price for order o (its side, account,
 * strategy and sym are used), with fee, at time t on exchange day `day`.
 * first: the order's first fill.  *day_trade (may be NULL) is set when this
 * fill completes a day trade for the account (counted once per order).
 * Returns 0 or DTO_EOVERFLOW (nothing applied). */
int portfolio_fill(portfolio *p, const order *o, fx qty, fx price, fx fee,
                   dto_time t, int64_t day, bool *day_trade);

/* Restore a position after a restart (before any fill): the account's row
 * (strategy < 0) or a strategy's.  Cash moves by what the position's fills
 * moved: realized - cost - fees.  DTO_EINVAL for a bad index or a strategy
 * of another account. */
int portfolio_restore(portfolio *p, uint32_t account, int64_t strategy,
                      sym_id sym, const position *pos);

const position *portfolio_account_pos(const portfolio *p, uint32_t account,
                                      sym_id sym);
const position *portfolio_strategy_pos(const portfolio *p, uint32_t strategy,
                                       sym_id sym);
fx portfolio_last(const portfolio *p, sym_id sym);

fx portfolio_account_cash(const portfolio *p, uint32_t account);
/* cash + signed market value of positions */
fx portfolio_account_equity(const portfolio *p, uint32_t account);
/* sum of |market value| of positions */
fx portfolio_account_gross(const portfolio *p, uint32_t account);
/* Both of the above in one walk of the positions (the same values). */
void portfolio_account_marks(const portfolio *p, uint32_t account,
                             fx *equity, fx *gross);
/* Over every account: the sum of their equities and whether any has a
 * gross exposure (not 0), from portfolio_account_marks, in one call per
 * equity sample. */
void portfolio_total_marks(const portfolio *p, fx *equity, bool *exposed);
fx portfolio_account_realized(const portfolio *p, uint32_t account);
fx portfolio_account_fees(const portfolio *p, uint32_t account);
/* equity - cash - cost basis: unrealised P&L of open positions */
fx portfolio_account_unrealized(const portfolio *p, uint32_t account);
/* Cash available for new long purchases (cash, floored at 0). */
fx portfolio_account_buying_power(const portfolio *p, uint32_t account);
/* Day trades by the account on `day` (the exchange day passed to
 * portfolio_fill; the last 8 days with day trades are kept), and since the
 * start.  A day trade is an order that reduces a position whose last
 * opening fill was on the same day; each order counts once.  There is no
 * rolling 5-business-day count yet (the pattern day trader rule needs one:
 * sum portfolio_day_trades over the days wanted). */
int portfolio_day_trades(const portfolio *p, uint32_t account, int64_t day);
int portfolio_day_trades_total(const portfolio *p, uint32_t account);
/* Day trades on exchange days >= from (the last 8 days with day trades are
 * kept, enough for a 5-business-day window). */
int portfolio_day_trades_since(const portfolio *p, uint32_t account,
                               int64_t from);

fx portfolio_strategy_cash(const portfolio *p, uint32_t strategy);
fx portfolio_strategy_equity(const portfolio *p, uint32_t strategy);
fx portfolio_strategy_realized(const portfolio *p, uint32_t strategy);
fx portfolio_strategy_fees(const portfolio *p, uint32_t strategy);

#define PORTFOLIO_KEEP_TRADES 1024

/* The most recent finished round trips (at most PORTFOLIO_KEEP_TRADES), in
 * the order they finished; the full history goes to on_trade. */
const trade_rec *portfolio_trades(const portfolio *p, size_t *n);
/* Round trips finished since the start. */
uint64_t portfolio_trades_total(const portfolio *p);

/* Checkpoints: every balance, position, open round trip, day-trade
 * history and last price, field by field.  Restoring into a portfolio built
 * from the same configuration gives the books exactly as they were (the
 * list of recent finished round trips is not kept).  DTO_EINVAL (p
 * unchanged) for a damaged snapshot or one of another shape. */
void portfolio_snapshot(const portfolio *p, dbuf *b);
int portfolio_restore_snapshot(portfolio *p, snap_reader *r);

#endif
