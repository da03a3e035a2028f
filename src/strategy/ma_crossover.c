/* ma_crossover.c - moving-average crossover.
 *
 * Goes long when the fast average of closes crosses above the slow one and
 * exits (or goes short, when allowed) when it crosses below.  The rules,
 * precisely (tests/integration/test_strategy_oracle.py re-implements them
 * from this comment):
 *
 * Averages.  Every bar's close updates a fast and a slow average, over the
 * last `fast` and `slow` closes.  kind sma: the exact mean (an integer sum
 * of the fx closes; the two means are compared by cross-multiplication,
 * without any rounding).  kind ema: alpha = 2/(n+1), seeded with the mean of
 * the first n closes, kept in fx: the seed is sum/n and each later bar adds
 * 2 x (close - ema)/(n+1), each rounded to the nearest 10^-8, halves away
 * from zero.  Signals start on the bar where the slow average is ready (the
 * slow-th bar shown).
 *
 * Crosses.  From then on, d = sign(fast - slow) is -1, 0 or +1 on each bar,
 * and the strategy remembers the last non-zero d (none at first).  A bar
 * crosses when d is non-zero, a last non-zero d exists and d differs from
 * it: up for d = +1, down for d = -1.  A bar with d = 0 neither crosses nor
 * changes what is remembered, so a cross through a tie is seen when the
 * sign flips (SMA 1/3 of closes 12 11 10 13 12 12.5 11 crosses up at 13 and
 * down at 11, through the tie at 12.5).  The first non-zero d after the
 * warm-up only sets the memory: as backtrader's CrossOver, no position is
 * taken before a change of sign has been seen.  The memory is updated on
 * every bar, including those on which no order may be sent (below): a cross
 * there is dropped, not postponed.
 *
 * Session.  For an instrument with a calendar, orders are sent only on bars
 * whose start b->ts lies in a regular session (strategy/common.h
 * strat_bar_session) and whose end is a time the market is open
 * (strat_bar_can_trade: before the session's close, or at the close when
 * the next session opens at that instant, as for crypto and for fx from
 * Monday to Thursday; a us_equity session's last bar ends at the close,
 * where a day order would be refused).  With exit_before_close > 0, on a
 * bar near the session's close (strat_bar_near_close: it ends at or after
 * close - exit_before_close, or the next bar of the same length would end
 * at or after the close) the strategy cancels its working orders in the
 * symbol and closes its position with a market order (strat_close_out),
 * and opens nothing.  exit_before_close = 0 holds positions overnight.  An
 * instrument without a calendar trades on every bar.
 *
 * Orders.  On a cross, when the strategy has no working order in the
 * symbol, one market day order: up: buy |position| when short, plus
 * size(close) when not long; down: sell the position when long, plus, with
 * allow_short, size(close) when not short.  size is strat_size: floor(
 * min(equity x position_pct, cash) / close / lot) x lot, with the
 * strategy's equity and cash as the bar ends (before the order).  Nothing is
 * sent for a quantity of 0.
 *
 * Parameters: fast, slow (periods, fast < slow), kind (sma|ema),
 * position_pct (share of equity per entry, a decimal), allow_short,
 * exit_before_close (duration; 0 holds overnight).
 */
#include "core/prelude.h"

#include "market/indicators.h"
#include "strategy/common.h"

enum { P_FAST, P_SLOW, P_KIND, P_PCT, P_SHORT, P_EXIT };

static const char *const kinds[] = {"sma", "ema", NULL};

static const param_spec params[] = {
    [P_FAST] = {"fast", PARAM_INT, "10", 1, 999, NULL,
                "fast average period (bars)"},
    [P_SLOW] = {"slow", PARAM_INT, "30", 2, 1000, NULL,
                "slow average period (bars)"},
    [P_KIND] = {"kind", PARAM_ENUM, "sma", 0, 0, kinds, "average: sma or ema"},
    [P_PCT] = {"position_pct", PARAM_FX, "0.2", 0.0001, 1, NULL,
               "share of the strategy's equity per entry"},
    [P_SHORT] = {"allow_short", PARAM_BOOL, "false", 0, 0, NULL,
                 "go short on a downward cross"},
    [P_EXIT] = {"exit_before_close", PARAM_DURATION, "5m", 0, 86400, NULL,
                "flatten this long before the close (0: hold)"},
};

/* An EMA kept in fx (see the rules above); plain data.  The seed's sum
 * bounds prices as ind_smafx's does: n x price < 9.2e10 units. */
typedef struct ema_fx {
  int n, count;
  int64_t sum; /* of the first n closes, for the seed */
  fx v;
} ema_fx;

static void ema_fx_update(ema_fx *e, fx x) {
  if (DTO_LIKELY(e->count == e->n)) {
    e->v += (fx)strat_div_round(2 * ((__int128)x - e->v), e->n + 1);
    return;
  }
  e->sum += x;
  if (++e->count == e->n)
    e->v = (fx)strat_div_round(e->sum, e->n);
}

typedef struct mac_sym {
  ind_smafx sf, ss; /* exact: integer sums of fixed-point closes */
  ema_fx ef, es;
  session sess; /* strat_bar_session's cache */
  int last;     /* the last non-zero sign of fast - slow; 0: none yet */
  bool init;
} mac_sym;

typedef struct mac {
  int fast, slow;
  bool ema, allow_short;
  fx pct;
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
  m->pct = strat_param(s, P_PCT)->u.f;
  m->allow_short = strat_param(s, P_SHORT)->u.b;
  m->exit_before = strat_param(s, P_EXIT)->u.dur;
  return 0;
}

/* Everything after the signal (the session checks and the orders), as the
 * rules above say; on_bar calls it unless the bar is one on which it can
 * be seen to do nothing. */
static DTO_NOINLINE void on_signal(strat *s, const mac *m, mac_sym *ms,
                                   const bar *b, int sign, bool cross) {
  sym_id sym = b->sym;
  if (strat_instrument(s, sym)->cal) {
    if (!strat_bar_session(s, sym, b, &ms->sess) ||
        !strat_bar_can_trade(s, sym, &ms->sess, b))
      return; /* the market is closed: no orders */
    if (strat_bar_near_close(&ms->sess, b, m->exit_before)) {
      strat_close_out(s, sym);
      return;
    }
  }
  if (!cross || strat_open_orders(s, sym))
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

/* After the averages: remember the sign and look for a cross; the common
 * bar (no cross, inside the cached session, which is only ever filled
 * from the instrument's calendar, the market open at its end, not near
 * the close) is one on which on_signal would find the session in the
 * cache and return without an order, so it is not called. */
static inline void on_sign(strat *s, const mac *m, mac_sym *ms, const bar *b,
                           int sign) {
  int last = ms->last;
  bool cross = false;
  if (sign != last && sign != 0) { /* else last stays what it is */
    ms->last = sign;
    cross = last != 0;
  }
  if (!cross && b->ts >= ms->sess.open && b->ts < ms->sess.close &&
      bar_end(b) < ms->sess.close &&
      !strat_bar_near_close(&ms->sess, b, m->exit_before))
    return;
  on_signal(s, m, ms, b, sign, cross);
}

/* The kind ema's bar. */
static void on_bar_ema(strat *s, const mac *m, mac_sym *ms, const bar *b) {
  ema_fx_update(&ms->ef, b->close);
  ema_fx_update(&ms->es, b->close);
  if (ms->es.count < ms->es.n)
    return;
  on_sign(s, m, ms, b, (ms->ef.v > ms->es.v) - (ms->ef.v < ms->es.v));
}

/* The bars on_bar leaves: a symbol's first (its averages are set up, then
 * it is a bar as any other), the kind ema's, and the kind sma's while an
 * average warms up. */
static DTO_NOINLINE void on_bar_cold(strat *s, void *state, void *sym_state,
                                     const bar *b) {
  mac *m = state;
  mac_sym *ms = sym_state;
  if (!ms->init) {
    ind_smafx_init(&ms->sf, m->fast);
    ind_smafx_init(&ms->ss, m->slow);
    ms->ef.n = m->fast;
    ms->es.n = m->slow;
    ms->init = true;
  }
  if (m->ema) {
    on_bar_ema(s, m, ms, b);
    return;
  }
  ind_smafx_update(&ms->sf, b->close);
  ind_smafx_update(&ms->ss, b->close);
  if (!ind_smafx_ready(&ms->ss))
    return;
  on_sign(s, m, ms, b, ind_smafx_cmp(&ms->sf, &ms->ss));
}

/* The end of on_bar when its averages must be compared in 128 bits
 * (prices that large are rare). */
static DTO_NOINLINE void on_sign_wide(strat *s, const mac *m, mac_sym *ms,
                                      const bar *b) {
  on_sign(s, m, ms, b, ind__smafx_cmp_wide(&ms->sf, &ms->ss));
}

/* The common bar: kind sma, both averages ready (they stay ready, so
 * ind_smafx_update is ind_smafx_slide, and on_bar_cold's steps are these).
 * Every other case is a function it ends with (the 128-bit comparison
 * too), so that it makes no call and saves few registers. */
static void on_bar(strat *s, void *state, void *sym_state, const bar *b) {
  mac *m = state;
  mac_sym *ms = sym_state;
  if (DTO_UNLIKELY(!ms->init || m->ema || !ind_smafx_ready(&ms->sf) ||
                   !ind_smafx_ready(&ms->ss))) {
    on_bar_cold(s, state, sym_state, b);
    return;
  }
  ind_smafx_slide(&ms->sf, b->close);
  ind_smafx_slide(&ms->ss, b->close);
  int sign;
  if (DTO_UNLIKELY(!ind_smafx_cmp64(&ms->sf, &ms->ss, &sign))) {
    on_sign_wide(s, m, ms, b);
    return;
  }
  on_sign(s, m, ms, b, sign);
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
