/* orb.c - opening-range breakout.
 *
 * Watches the first `range` of each regular session and records its high
 * and low.  After that, the first close above the range high buys with a
 * bracket: stop-loss at the range low, take-profit at entry + rr x range
 * height.  With allow_short, a close below the range low sells short with
 * the mirror bracket.  At most one entry per symbol per session; positions
 * are flattened `exit_before_close` before the close.
 *
 * Parameters: range (duration), rr (reward/risk multiple), position_pct,
 * allow_short, exit_before_close.
 */
#include "core/prelude.h"

#include "strategy/common.h"

enum { P_RANGE, P_RR, P_PCT, P_SHORT, P_EXIT };

static const param_spec params[] = {
    [P_RANGE] = {"range", PARAM_DURATION, "15m", 60, 4 * 3600, NULL,
                 "length of the opening range"},
    [P_RR] = {"rr", PARAM_DOUBLE, "2", 0.1, 20, NULL,
              "take-profit distance as a multiple of the range height"},
    [P_PCT] = {"position_pct", PARAM_DOUBLE, "0.2", 0.0001, 1, NULL,
               "share of the strategy's equity per entry"},
    [P_SHORT] = {"allow_short", PARAM_BOOL, "false", 0, 0, NULL,
                 "also trade downside breakouts"},
    [P_EXIT] = {"exit_before_close", PARAM_DURATION, "5m", 0, 86400, NULL,
                "flatten this long before the close (0: hold)"},
};

typedef struct orb_sym {
  dto_time session_open; /* session the range belongs to */
  fx hi, lo;
  bool traded;
} orb_sym;

typedef struct orb {
  dto_time range, exit_before;
  double rr, pct;
  bool allow_short;
} orb;

static int on_start(strat *s, void *state) {
  orb *o = state;
  o->range = strat_param(s, P_RANGE)->u.dur;
  o->rr = strat_param(s, P_RR)->u.d;
  o->pct = strat_param(s, P_PCT)->u.d;
  o->allow_short = strat_param(s, P_SHORT)->u.b;
  o->exit_before = strat_param(s, P_EXIT)->u.dur;
  return 0;
}

static void on_bar(strat *s, void *state, void *sym_state, const bar *b) {
  orb *o = state;
  orb_sym *os = sym_state;
  sym_id sym = b->sym;
  session ss;
  if (!strat_session(s, sym, &ss) || b->ts < ss.open || b->ts >= ss.close)
    return; /* outside the regular session */
  if (os->session_open != ss.open) {
    os->session_open = ss.open;
    os->hi = b->high;
    os->lo = b->low;
    os->traded = false;
  }
  if (o->exit_before && bar_end(b) >= ss.close - o->exit_before) {
    if (strat_position(s, sym) != 0 || strat_open_orders(s, sym))
      strat_flatten(s, sym);
    return;
  }
  if (bar_end(b) <= ss.open + o->range) { /* still inside the range */
    os->hi = fx_max(os->hi, b->high);
    os->lo = fx_min(os->lo, b->low);
    return;
  }
  if (os->traded || strat_position(s, sym) != 0 || strat_open_orders(s, sym))
    return;
  fx height = os->hi - os->lo;
  if (height <= 0)
    return;
  fx target;
  if (fx_from_double(fx_to_double(height) * o->rr, &target))
    return;
  order_req r = {0};
  r.sym = sym;
  r.type = ORD_MARKET;
  r.tif = TIF_DAY;
  if (b->close > os->hi) {
    r.side = SIDE_BUY;
    r.stop_loss = os->lo;
    r.take_profit = strat_round_tick(s, sym, b->close + target, FX_ROUND_UP);
  } else if (b->close < os->lo && o->allow_short) {
    r.side = SIDE_SELL;
    r.stop_loss = os->hi;
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
