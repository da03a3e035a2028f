/* ma_crossover.c - moving-average crossover.
 *
 * Goes long when the fast average crosses above the slow one and exits (or
 * goes short, when allowed) when it crosses below.  Averages are SMA or EMA
 * of closes; SMAs are exact (integer sums of fixed-point prices, compared
 * without rounding), so their signals never depend on floating point.  Positions are sized as a share of the strategy's equity and
 * closed `exit_before_close` before the session ends; no new entries then.
 *
 * Parameters: fast, slow (periods, fast < slow), kind (sma|ema),
 * position_pct (share of equity per entry), allow_short,
 * exit_before_close (duration; 0 holds overnight).
 */
#include "core/prelude.h"

#include "market/indicators.h"
#include "strategy/common.h"

enum { P_FAST, P_SLOW, P_KIND, P_PCT, P_SHORT, P_EXIT };

static const char *const kinds[] = {"sma", "ema", NULL};

static const param_spec params[] = {
    [P_FAST] = {"fast", PARAM_INT, "10", 1, 999, NULL, "fast average period (bars)"},
    [P_SLOW] = {"slow", PARAM_INT, "30", 2, 1000, NULL, "slow average period (bars)"},
    [P_KIND] = {"kind", PARAM_ENUM, "sma", 0, 0, kinds, "average: sma or ema"},
    [P_PCT] = {"position_pct", PARAM_DOUBLE, "0.2", 0.0001, 1, NULL,
               "share of the strategy's equity per entry"},
    [P_SHORT] = {"allow_short", PARAM_BOOL, "false", 0, 0, NULL,
                 "go short on a downward cross"},
    [P_EXIT] = {"exit_before_close", PARAM_DURATION, "5m", 0, 86400, NULL,
                "flatten this long before the close (0: hold)"},
};

typedef struct mac_sym {
  ind_smafx sf, ss; /* exact: integer sums of fixed-point closes */
  ind_ema ef, es;
  int last; /* sign of fast - slow at the previous bar: -1, 0, +1 */
  bool init;
} mac_sym;

typedef struct mac {
  int fast, slow;
  bool ema, allow_short;
  double pct;
  dto_time exit_before;
} mac;

static const char *validate(const param_value *p) {
  if (p[P_FAST].u.i >= p[P_SLOW].u.i)
    return "'fast' must be less than 'slow'";
  return NULL;
}

static int on_start(strat *s, void *state) {
  mac *m = state;
  m->fast = (int)strat_param(s, P_FAST)->u.i;
  m->slow = (int)strat_param(s, P_SLOW)->u.i;
  m->ema = strat_param(s, P_KIND)->u.e == 1;
  m->pct = strat_param(s, P_PCT)->u.d;
  m->allow_short = strat_param(s, P_SHORT)->u.b;
  m->exit_before = strat_param(s, P_EXIT)->u.dur;
  return 0;
}

static void on_bar(strat *s, void *state, void *sym_state, const bar *b) {
  mac *m = state;
  mac_sym *ms = sym_state;
  int sign;
  if (DTO_UNLIKELY(!ms->init)) {
    ind_smafx_init(&ms->sf, m->fast);
    ind_smafx_init(&ms->ss, m->slow);
    ind_ema_init(&ms->ef, m->fast);
    ind_ema_init(&ms->es, m->slow);
    ms->init = true;
  }
  if (m->ema) {
    double c = fx_to_double(b->close);
    ind_ema_update(&ms->ef, c);
    ind_ema_update(&ms->es, c);
    if (!ind_ema_ready(&ms->es))
      return;
    double f = ind_ema_value(&ms->ef), sl = ind_ema_value(&ms->es);
    sign = f > sl ? 1 : (f < sl ? -1 : 0);
  } else {
    ind_smafx_update(&ms->sf, b->close);
    ind_smafx_update(&ms->ss, b->close);
    if (!ind_smafx_ready(&ms->ss))
      return;
    sign = ind_smafx_cmp(&ms->sf, &ms->ss);
  }
  int last = ms->last;
  ms->last = sign;
  sym_id sym = b->sym;
  if (m->exit_before && strat_near_close(s, sym, b, m->exit_before)) {
    if (strat_position(s, sym) != 0 && strat_open_orders(s, sym) == 0)
      strat_flatten(s, sym);
    return;
  }
  if (sign == last || sign == 0 || last == 0 || strat_open_orders(s, sym))
    return;
  fx pos = strat_position(s, sym);
  if (sign > 0) { /* golden cross */
    fx q = pos < 0 ? -pos : 0;
    if (pos <= 0)
      q += strat_size(s, sym, m->pct, b->close);
    if (q > 0)
      strat_market(s, sym, SIDE_BUY, q);
  } else { /* death cross */
    fx q = pos > 0 ? pos : 0;
    if (m->allow_short && pos >= 0)
      q += strat_size(s, sym, m->pct, b->close);
    if (q > 0)
      strat_market(s, sym, SIDE_SELL, q);
  }
}

const strategy_def strategy_ma_crossover = {
    .name = "ma_crossover",
    .summary = "moving-average crossover (SMA or EMA of closes)",
    .params = params,
    .nparams = DTO_ARRAY_LEN(params),
    .state_size = sizeof(mac),
    .sym_state_size = sizeof(mac_sym),
    .validate = validate,
    .on_start = on_start,
    .on_bar = on_bar,
};
