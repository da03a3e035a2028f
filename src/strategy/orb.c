/* orb.c - opening-range breakout.
 *
 * Watches the first `range` of each regular session and records its high
 * and low, then trades the first breakout out of it with a bracket.  The
 * rules, precisely (tests/integration/test_strategy_oracle.py re-implements
 * them from this comment):
 *
 * Sessions.  A bar belongs to the regular session of the instrument's
 * calendar that contains its start b->ts (strategy/common.h
 * strat_bar_session); bars in no regular session are ignored.  The first bar
 * of a new session starts its range: high and low := that bar's, and the
 * session has no entry yet.  On a bar whose end is not a time the market
 * is open (strat_bar_can_trade: a us_equity session's last bar ends at the
 * close; the fx session of Friday too) nothing else happens.
 *
 * Close.  With exit_before_close > 0, on a bar near the close
 * (strat_bar_near_close: it ends at or after close - exit_before_close, or
 * the next bar of the same length would end at or after the close) the
 * strategy cancels its working orders in the symbol (the bracket's exits
 * included) and closes its position with a market order (strat_close_out),
 * and does nothing else.  exit_before_close = 0 holds overnight, with the
 * bracket's exits (GTC) still working.
 *
 * Range.  A bar that ends at or before open + range extends the range to its
 * high and low, and trades nothing.
 *
 * Entry.  On a later bar, when the session has had no entry, the strategy
 * is flat in the symbol, has no working order there and the range height
 * (high - low) is positive: a close above the range high buys, a close below
 * the range low sells short (only with allow_short), with a market day order
 * of strat_size(close) (floor(min(equity x position_pct, cash) / close /
 * lot) x lot; nothing when 0) and a bracket: stop-loss at the range low
 * (short: high) and take-profit at close + rr x height rounded up to the
 * tick (short: close - rr x height rounded down, and no entry when that is
 * not above 0), rr x height computed exactly.  The stop-loss is rounded to
 * the tick away from the entry when the range is not on the tick.  After an
 * entry (accepted or not by the risk gate) the session trades no more.
 *
 * Parameters: range (duration), rr (reward/risk multiple, a decimal),
 * position_pct (a decimal), allow_short, exit_before_close (duration; 0
 * holds overnight).
 */
#include "core/prelude.h"

#include "strategy/common.h"

enum { P_RANGE, P_RR, P_PCT, P_SHORT, P_EXIT };

static const param_spec params[] = {
    [P_RANGE] = {"range", PARAM_DURATION, "15m", 60, 4 * 3600, NULL,
                 "length of the opening range"},
    [P_RR] = {"rr", PARAM_FX, "2", 0.1, 20, NULL,
              "take-profit distance as a multiple of the range height"},
    [P_PCT] = {"position_pct", PARAM_FX, "0.2", 0.0001, 1, NULL,
               "share of the strategy's equity per entry"},
    [P_SHORT] = {"allow_short", PARAM_BOOL, "false", 0, 0, NULL,
                 "also trade downside breakouts"},
    [P_EXIT] = {"exit_before_close", PARAM_DURATION, "5m", 0, 86400, NULL,
                "flatten this long before the close (0: hold)"},
};

typedef struct orb_sym {
  session sess;          /* strat_bar_session's cache */
  dto_time session_open; /* session the range belongs to */
  fx hi, lo;
  bool traded;
} orb_sym;

typedef struct orb {
  dto_time range, exit_before;
  fx rr, pct;
  bool allow_short;
} orb;

static int on_start(strat *s, void *state) {
  orb *o = state;
  o->range = strat_param(s, P_RANGE)->u.dur;
  o->rr = strat_param(s, P_RR)->u.f;
  o->pct = strat_param(s, P_PCT)->u.f;
  o->allow_short = strat_param(s, P_SHORT)->u.b;
  o->exit_before = strat_param(s, P_EXIT)->u.dur;
  return 0;
}

static void on_bar(strat *s, void *state, void *sym_state, const bar *b) {
  orb *o = state;
  orb_sym *os = sym_state;
  sym_id sym = b->sym;
  if (!strat_bar_session(s, sym, b, &os->sess))
    return; /* outside the regular session */
  const session *ss = &os->sess;
  if (os->session_open != ss->open) {
    os->session_open = ss->open;
    os->hi = b->high;
    os->lo = b->low;
    os->traded = false;
  }
  if (!strat_bar_can_trade(s, sym, ss, b))
    return; /* the market is closed at the bar's end */
  if (strat_bar_near_close(ss, b, o->exit_before)) {
    strat_close_out(s, sym);
    return;
  }
  if (bar_end(b) <= ss->open + o->range) { /* still inside the range */
    os->hi = fx_max(os->hi, b->high);
    os->lo = fx_min(os->lo, b->low);
    return;
  }
  if (os->traded || strat_position(s, sym) != 0 || strat_open_orders(s, sym))
    return;
  fx height = os->hi - os->lo;
  fx target;
  if (height <= 0 || fx_mul_round(height, o->rr, FX_ROUND_UP, &target))
    return;
  /* Rounding rr x height up to 10^-8 first and then close +- it to the
   * tick gives the same tick as rounding the exact value once: the tick is
   * a multiple of 10^-8. */
  order_req r = {0};
  r.sym = sym;
  r.type = ORD_MARKET;
  r.tif = TIF_DAY;
  if (b->close > os->hi) {
    r.side = SIDE_BUY;
    r.stop_loss = strat_round_tick(s, sym, os->lo, FX_ROUND_DOWN);
    r.take_profit = strat_round_tick(s, sym, b->close + target, FX_ROUND_UP);
  } else if (b->close < os->lo && o->allow_short) {
    r.side = SIDE_SELL;
    r.stop_loss = strat_round_tick(s, sym, os->hi, FX_ROUND_UP);
    r.take_profit = strat_round_tick(s, sym, b->close - target, FX_ROUND_DOWN);
    if (r.take_profit <= 0)
      return;
  } else {
    return;
  }
  r.qty = strat_size(s, sym, o->pct, b->close);
  if (r.qty <= 0)
    return;
  os->traded = true;
  strat_submit(s, &r, NULL);
}

const strategy_def strategy_orb = {
    .name = "orb",
    .summary = "opening-range breakout with a bracket exit",
    .params = params,
    .nparams = DTO_ARRAY_LEN(params),
    .state_size = sizeof(orb),
    .sym_state_size = sizeof(orb_sym),
    .on_start = on_start,
    .on_bar = on_bar,
};
