/* vwap_reversion.c - session-VWAP mean reversion.
 *
 * Computes the session VWAP (typical price x volume since the regular open).
 * When the close is more than `band_pct` below it, buys; exits when the
 * close is back at the VWAP, or when the loss from entry reaches
 * `stop_pct`.  With allow_short, the mirror trade above the VWAP.  Waits
 * `warmup` after the open before trading, and flattens
 * `exit_before_close` before the close.
 *
 * Parameters: band_pct, stop_pct, warmup, position_pct, allow_short,
 * exit_before_close.
 */
#include "core/prelude.h"

#include "market/indicators.h"
#include "strategy/common.h"

enum { P_BAND, P_STOP, P_WARMUP, P_PCT, P_SHORT, P_EXIT };

static const param_spec params[] = {
    [P_BAND] = {"band_pct", PARAM_DOUBLE, "0.5", 0.01, 20, NULL,
                "entry distance from the VWAP, percent"},
    [P_STOP] = {"stop_pct", PARAM_DOUBLE, "1", 0.01, 50, NULL,
                "exit when the loss from entry reaches this, percent"},
    [P_WARMUP] = {"warmup", PARAM_DURATION, "15m", 0, 4 * 3600, NULL,
                  "no entries this long after the open"},
    [P_PCT] = {"position_pct", PARAM_DOUBLE, "0.2", 0.0001, 1, NULL,
               "share of the strategy's equity per entry"},
    [P_SHORT] = {"allow_short", PARAM_BOOL, "false", 0, 0, NULL,
                 "also sell short above the VWAP"},
    [P_EXIT] = {"exit_before_close", PARAM_DURATION, "5m", 0, 86400, NULL,
                "flatten this long before the close (0: hold)"},
};

typedef struct vr_sym {
  ind_svwap vwap;
  dto_time session_open;
} vr_sym;

typedef struct vr {
  double band, stop, pct;
  dto_time warmup, exit_before;
  bool allow_short;
} vr;

static int on_start(strat *s, void *state) {
  vr *v = state;
  v->band = strat_param(s, P_BAND)->u.d / 100.0;
  v->stop = strat_param(s, P_STOP)->u.d / 100.0;
  v->warmup = strat_param(s, P_WARMUP)->u.dur;
  v->pct = strat_param(s, P_PCT)->u.d;
  v->allow_short = strat_param(s, P_SHORT)->u.b;
  v->exit_before = strat_param(s, P_EXIT)->u.dur;
  return 0;
}

static void on_bar(strat *s, void *state, void *sym_state, const bar *b) {
  vr *v = state;
  vr_sym *vs = sym_state;
  sym_id sym = b->sym;
  session ss;
  if (!strat_session(s, sym, &ss) || b->ts < ss.open || b->ts >= ss.close)
    return;
  if (vs->session_open != ss.open) {
    vs->session_open = ss.open;
    ind_svwap_reset(&vs->vwap);
  }
  ind_svwap_update(&vs->vwap, fx_to_double(b->high), fx_to_double(b->low),
                   fx_to_double(b->close), fx_to_double(b->volume));
  fx pos = strat_position(s, sym);
  if (v->exit_before && bar_end(b) >= ss.close - v->exit_before) {
    if (pos != 0 || strat_open_orders(s, sym))
      strat_flatten(s, sym);
    return;
  }
  if (!ind_svwap_ready(&vs->vwap) || strat_open_orders(s, sym))
    return;
  double c = fx_to_double(b->close), w = ind_svwap_value(&vs->vwap);
  if (pos != 0) {
    double entry = fx_to_double(strat_avg_price(s, sym));
    bool back = pos > 0 ? c >= w : c <= w;
    bool stopped = pos > 0 ? c <= entry * (1 - v->stop)
                           : c >= entry * (1 + v->stop);
    if (back || stopped)
      strat_market(s, sym, pos > 0 ? SIDE_SELL : SIDE_BUY, fx_abs(pos));
    return;
  }
  if (b->ts < ss.open + v->warmup)
    return;
  if (c < w * (1 - v->band)) {
    fx q = strat_size(s, sym, v->pct, b->close);
    if (q > 0)
      strat_market(s, sym, SIDE_BUY, q);
  } else if (v->allow_short && c > w * (1 + v->band)) {
    fx q = strat_size(s, sym, v->pct, b->close);
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
