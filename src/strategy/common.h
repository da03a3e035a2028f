/* common.h - helpers shared by the built-in strategies.
 *
 * One helper per rule that several strategies follow: position sizing from a
 * share of the strategy's equity, the regular session a bar belongs to, and
 * "is it time to stop for the day".  Every decision here is made in fixed
 * point (fx, with 128-bit products), never in floating point, so a strategy's
 * orders are exact functions of the prices it was shown.  Strategies use
 * nothing but the engine API in engine/strategy.h.
 */
#ifndef DTO_STRATEGY_COMMON_H
#define DTO_STRATEGY_COMMON_H

#include "engine/strategy.h"

/* The quantity worth `share` (a fraction: 0.2 is 20 %) of the strategy's
 * equity at price, limited by the cash left, rounded down to the lot:
 * exactly floor(min(equity x share, cash) / price / lot) x lot, computed in
 * 128-bit integers without intermediate rounding.  A short is sized by the
 * same formula, as if it needed the same cash, which keeps its exposure
 * within the allocation.  0 when nothing fits (price, share, equity or cash
 * not positive, or a quantity beyond the fx range). */
static inline fx strat_size(strat *s, sym_id sym, fx share, fx price) {
  if (price <= 0 || share <= 0)
    return 0;
  __int128 budget = (__int128)strat_equity(s) * share; /* scale 10^16 */
  __int128 cash = (__int128)strat_cash(s) * FX_SCALE;  /* scale 10^16 */
  if (budget > cash)
    budget = cash;
  if (budget <= 0)
    return 0;
  __int128 q = budget / price; /* scale 10^8, rounded down */
  if (q > FX_MAX)
    return 0;
  return strat_round_lot(s, sym, (fx)q);
}

/* The regular session bar b (of sym) belongs to: the session of the
 * instrument's calendar whose [open, close) contains the bar's start b->ts.
 * (The engine's clock is at the bar's end when on_bar runs, which for a
 * session's last bar is already the close; the start says where the bar
 * was traded.)  *cache lives in the strategy's per-symbol state, starts
 * zeroed (an empty [0, 0)) and keeps the last session found, so that most
 * bars need no calendar arithmetic; on true it is the bar's session.  False
 * when b->ts is in no regular session (weekend, holiday, pre- or
 * post-market) or the instrument has no calendar. */
static inline bool strat_bar_session(const strat *s, sym_id sym, const bar *b,
                                     session *cache) {
  if (b->ts >= cache->open && b->ts < cache->close)
    return true;
  const instrument *in = strat_instrument(s, sym);
  session ss;
  memset(&ss, 0, sizeof ss); /* the cache is checkpointed byte for byte */
  if (!in || !in->cal ||
      !calendar_session(in->cal, calendar_local_day(in->cal, b->ts), &ss) ||
      b->ts < ss.open || b->ts >= ss.close)
    return false;
  *cache = ss;
  return true;
}

/* True when an order may be sent on bar b of session ss: the market is
 * open, regular hours, at the bar's end, the instant on_bar runs and the
 * order would be sent.  That is before the close, or at the close when the
 * next session opens at that same instant (crypto; fx from Monday to
 * Thursday).  At a us_equity close, or at the fx close on Friday, a day
 * order would be refused (risk check market_closed), so a strategy sends
 * nothing on that bar, although the bar still updates its state. */
static inline bool strat_bar_can_trade(const strat *s, sym_id sym,
                                       const session *ss, const bar *b) {
  dto_time end = bar_end(b);
  if (end < ss->close)
    return true;
  const instrument *in = strat_instrument(s, sym);
  return in && in->cal && calendar_is_open(in->cal, end, false);
}

/* The rule for leaving before the close, the same in every strategy: with
 * before > 0, bar b of session ss is "near the close" when it ends within
 * `before` of the close (bar_end(b) >= ss->close - before) or when the next
 * bar, of the same length, would end at or after the close (bar_end(b) +
 * b->dur >= ss->close), so that a closing market order sent now still fills
 * at the next bar's open inside the session, also with bars longer than
 * `before`.  On such a bar a strategy flattens (strat_close_out) and opens
 * nothing.  before <= 0 disables the rule: positions are held overnight. */
static inline bool strat_bar_near_close(const session *ss, const bar *b,
                                        dto_time before) {
  if (before <= 0)
    return false;
  dto_time end = bar_end(b);
  return end >= ss->close - before || end + b->dur >= ss->close;
}

/* Cancel the strategy's working orders in sym and close its position with
 * a market day order, when it has either; nothing otherwise. */
static inline void strat_close_out(strat *s, sym_id sym) {
  if (strat_position(s, sym) != 0 || strat_open_orders(s, sym) != 0)
    strat_flatten(s, sym);
}

/* num / den (den > 0) rounded to nearest, halves away from zero, in 128
 * bits: for averages kept in fx.  The caller makes sure the result fits. */
static inline __int128 strat_div_round(__int128 num, __int128 den) {
  __int128 q = num / den, r = num % den;
  if (r < 0)
    r = -r;
  if (2 * r >= den)
    q += num < 0 ? -1 : 1;
  return q;
}

/* Send a market day order of qty (> 0) on side; ignores a refusal (the
 * engine records it). */
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
