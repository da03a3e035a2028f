/* common.h - helpers shared by the built-in strategies.
 *
 * Only what every intraday strategy needs: position sizing from a share of
 * the strategy's equity, and "is it time to stop for the day".  Strategies
 * use nothing but the engine API in engine/strategy.h.
 */
#ifndef DTO_STRATEGY_COMMON_H
#define DTO_STRATEGY_COMMON_H

#include "engine/strategy.h"

/* Quantity worth `share` of the strategy's equity at price, rounded down to
 * the lot and limited by the cash left (for shorts too: a short is sized as
 * if it needed the same cash, which keeps its exposure within the
 * allocation).  0 when nothing fits. */
static inline fx strat_size(strat *s, sym_id sym, double share, fx price) {
  if (price <= 0)
    return 0;
  double budget = fx_to_double(strat_equity(s)) * share;
  double cash = fx_to_double(strat_cash(s));
  if (budget > cash)
    budget = cash;
  if (budget <= 0)
    return 0;
  fx q;
  if (fx_from_double(budget / fx_to_double(price), &q))
    return 0;
  return strat_round_lot(s, sym, q);
}

/* True when the bar ends within `before` of the session's close (or after
 * it), or when the next bar would end at or after the close (bars longer
 * than the window): time to flatten and stop opening positions, while a
 * closing order can still fill at the next bar's open.  before == 0
 * disables. */
static inline bool strat_near_close(strat *s, sym_id sym, const bar *b,
                                    dto_time before) {
  session ss;
  if (before <= 0 || !strat_session(s, sym, &ss))
    return false;
  return bar_end(b) >= ss.close - before || bar_end(b) + b->dur >= ss.close;
}

/* Send a market order of qty (> 0) on side; ignores a refusal (the engine
 * records it). */
static inline void strat_market(strat *s, sym_id sym, enum order_side side,
                                fx qty) {
  order_req r = {0};
  r.sym = sym;
  r.side = side;
  r.type = ORD_MARKET;
  r.tif = TIF_DAY;
  r.qty = qty;
  strat_submit(s, &r, NULL);
}

#endif
