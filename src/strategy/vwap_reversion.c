/* vwap_reversion.c - session-VWAP mean reversion.
 *
 * Buys when the close is more than `band_pct` below the session VWAP and
 * exits when it is back at the VWAP or when the loss from entry reaches
 * `stop_pct`; with allow_short, the mirror trade above the VWAP.  The rules,
 * precisely (tests/integration/test_strategy_oracle.py re-implements them
 * from this comment):
 *
 * Sessions.  A bar belongs to the regular session of the instrument's
 * calendar that contains its start b->ts (strategy/common.h
 * strat_bar_session); bars in no regular session are ignored entirely.  The
 * first bar of a new session resets the VWAP.
 *
 * VWAP.  Every bar of the session, the current one included, adds
 * (high + low + close) x volume to S and volume to V, exactly (128-bit
 * integers of the fx values).  VWAP = S / (3 V) rounded to the nearest
 * 10^-8 (halves up), defined once V > 0.  Every comparison below is exact
 * on fx values: close, that VWAP, the average entry price and the
 * parameters (decimals).  On a bar whose end is not a time the market is
 * open (strat_bar_can_trade: a us_equity session's last bar ends at the
 * close; the fx session of Friday too) nothing else happens.
 *
 * Close.  With exit_before_close > 0, on a bar near the close
 * (strat_bar_near_close: it ends at or after close - exit_before_close, or
 * the next bar of the same length would end at or after the close) the
 * strategy cancels its working orders in the symbol and closes its position
 * with a market order (strat_close_out), and does nothing else.
 * exit_before_close = 0 holds overnight.
 *
 * Otherwise nothing happens while V = 0 or while the strategy has a working
 * order in the symbol.  Then:
 *   long: sell the whole position (market, day) when close >= VWAP, or when
 *     close <= entry x (1 - stop_pct/100), entry being the position's
 *     average price;
 *   short: buy it back when close <= VWAP, or close >= entry x (1 +
 *     stop_pct/100);
 *   flat, on a bar that starts at or after open + warmup: buy when close <
 *     VWAP x (1 - band_pct/100); with allow_short, sell short when close >
 *     VWAP x (1 + band_pct/100); the quantity is strat_size(close)
 *     (floor(min(equity x position_pct, cash) / close / lot) x lot; nothing
 *     when 0).
 * A bar that exits does not also enter; the next bar may.
 *
 * Parameters: band_pct, stop_pct, position_pct (decimals), warmup,
 * allow_short, exit_before_close (duration; 0 holds overnight).
 */
#include "core/prelude.h"

#include "strategy/common.h"

enum { P_BAND, P_STOP, P_WARMUP, P_PCT, P_SHORT, P_EXIT };

static const param_spec params[] = {
    [P_BAND] = {"band_pct", PARAM_FX, "0.5", 0.01, 20, NULL,
                "entry distance from the VWAP, percent"},
    [P_STOP] = {"stop_pct", PARAM_FX, "1", 0.01, 50, NULL,
                "exit when the loss from entry reaches this, percent"},
    [P_WARMUP] = {"warmup", PARAM_DURATION, "15m", 0, 4 * 3600, NULL,
                  "no entries this long after the open"},
    [P_PCT] = {"position_pct", PARAM_FX, "0.2", 0.0001, 1, NULL,
               "share of the strategy's equity per entry"},
    [P_SHORT] = {"allow_short", PARAM_BOOL, "false", 0, 0, NULL,
                 "also sell short above the VWAP"},
    [P_EXIT] = {"exit_before_close", PARAM_DURATION, "5m", 0, 86400, NULL,
                "flatten this long before the close (0: hold)"},
};

/* Per symbol; plain data, so the 128-bit sums are kept as bytes (the state
 * block has no alignment guarantee beyond malloc's) and copied in and out. */
typedef struct vr_sym {
  session sess; /* strat_bar_session's cache */
  dto_time session_open;
  unsigned char spv[16]; /* __int128: sum of (h + l + c) x volume, raw */
  unsigned char sv[16];  /* __int128: sum of volume, raw */
} vr_sym;

typedef struct vr {
  fx band, stop, pct; /* band and stop in percent */
  dto_time warmup, exit_before;
  bool allow_short;
} vr;

static int on_start(strat *s, void *state) {
  vr *v = state;
  v->band = strat_param(s, P_BAND)->u.f;
  v->stop = strat_param(s, P_STOP)->u.f;
  v->warmup = strat_param(s, P_WARMUP)->u.dur;
  v->pct = strat_param(s, P_PCT)->u.f;
  v->allow_short = strat_param(s, P_SHORT)->u.b;
  v->exit_before = strat_param(s, P_EXIT)->u.dur;
  return 0;
}

#define HUNDRED ((__int128)100 * FX_SCALE) /* 100 %, in fx */

/* The sign of x - a x (1 + pct/100), exactly: x, a fx; pct a percentage
 * in fx units, possibly negative (cross-multiplied by 100 %, in 128 bits). */
static int cmp_scaled(fx x, fx a, __int128 pct) {
  __int128 l = (__int128)x * HUNDRED, r = (__int128)a * (HUNDRED + pct);
  return (l > r) - (l < r);
}

static void on_bar(strat *s, void *state, void *sym_state, const bar *b) {
  vr *v = state;
  vr_sym *vs = sym_state;
  sym_id sym = b->sym;
  if (!strat_bar_session(s, sym, b, &vs->sess))
    return;
  if (vs->session_open != vs->sess.open) {
    vs->session_open = vs->sess.open;
    memset(vs->spv, 0, sizeof vs->spv);
    memset(vs->sv, 0, sizeof vs->sv);
  }
  __int128 spv, sv;
  memcpy(&spv, vs->spv, sizeof spv);
  memcpy(&sv, vs->sv, sizeof sv);
  spv += ((__int128)b->high + b->low + b->close) * b->volume;
  sv += b->volume;
  memcpy(vs->spv, &spv, sizeof spv);
  memcpy(vs->sv, &sv, sizeof sv);
  if (!strat_bar_can_trade(s, sym, &vs->sess, b))
    return; /* the market is closed at the bar's end */
  if (strat_bar_near_close(&vs->sess, b, v->exit_before)) {
    strat_close_out(s, sym);
    return;
  }
  if (sv <= 0 || strat_open_orders(s, sym))
    return;
  fx w = (fx)strat_div_round(spv, 3 * sv), c = b->close;
  fx pos = strat_position(s, sym);
  if (pos != 0) {
    fx entry = strat_avg_price(s, sym);
    bool back = pos > 0 ? c >= w : c <= w;
    bool stopped = pos > 0 ? cmp_scaled(c, entry, -(__int128)v->stop) <= 0
                           : cmp_scaled(c, entry, v->stop) >= 0;
    if (back || stopped)
      strat_market(s, sym, pos > 0 ? SIDE_SELL : SIDE_BUY, fx_abs(pos));
    return;
  }
  if (b->ts < vs->sess.open + v->warmup)
    return;
  if (cmp_scaled(c, w, -(__int128)v->band) < 0) {
    fx q = strat_size(s, sym, v->pct, c);
    if (q > 0)
      strat_market(s, sym, SIDE_BUY, q);
  } else if (v->allow_short && cmp_scaled(c, w, v->band) > 0) {
    fx q = strat_size(s, sym, v->pct, c);
    if (q > 0)
      strat_market(s, sym, SIDE_SELL, q);
  }
}

const strategy_def strategy_vwap_reversion = {
    .name = "vwap_reversion",
    .summary = "mean reversion to the session VWAP",
    .params = params,
    .nparams = DTO_ARRAY_LEN(params),
    .state_size = sizeof(vr),
    .sym_state_size = sizeof(vr_sym),
    .on_start = on_start,
    .on_bar = on_bar,
};
