/* engine_int.h - the engine's internals, shared by its files.
 *
 * The engine is one object split along its concerns, as SQLite's
 * sqliteInt.h and Redis's server.h share one state among several files:
 *   engine.c          set-up, timers, the exchange day, market data, queries
 *   engine_orders.c   the strategy API: creating, risk-checking and sending
 *                     orders, cancels, replaces, brackets' exits, flattening
 *   engine_reports.c  broker reports: validation, fills, the state machine
 *   engine_risk.c     risk state: day baselines, P&L limits, the end-of-day
 *                     flatten, modes, the kill switch, alerts
 *   engine_restore.c  restart: restored orders and positions, client order
 *                     ids, reconciliation with the broker
 * Nothing outside src/engine/engine*.c includes this header.
 */
#ifndef DTO_ENGINE_ENGINE_INT_H
#define DTO_ENGINE_ENGINE_INT_H

#include "core/timeutil.h"
#include "engine/engine.h"

typedef struct timer {
  dto_time at;
  uint64_t seq; /* ties broken by creation order: deterministic */
  uint32_t strat;
  uint64_t tag;
} timer;

typedef struct sub {
  uint32_t strat;
  uint32_t slot; /* index into the strategy's symbol list */
} sub;

typedef struct symsubs {
  sub *v;
  size_t n, cap;
  uint32_t working; /* working orders in this instrument */
  fx ref_price;     /* reference price for risk: last trade, close or mid */
  dto_time ref_time;
  dto_time day_from, day_until; /* the current exchange day, UTC */
  bool flatten;                 /* some subscriber has flatten_before_close */
  session sess;
  bool have_sess;
} symsubs;

struct strat {
  engine *e;
  const strategy_def *def;
  const char *id;
  uint32_t index, account;
  sym_id *syms;
  size_t nsyms;
  fx allocation;
  param_value *params;
  void *state;
  char *sym_state; /* nsyms * def->sym_state_size */
  uint32_t seq;    /* client order id sequence for cloid_day */
  int64_t cloid_day;
  uint32_t *open_per_sym; /* working orders per slot */
  uint32_t open_total;
  int64_t *flattened_day; /* per slot: the day flatten_before_close ran */
  fx day_start, day_peak; /* equity at the day's start and its peak */
};

struct engine {
  engine_config cfg;
  strat *st;
  size_t nst, stcap;
  symsubs *subs; /* per instrument */
  oms *oms;
  risk *risk;
  portfolio *pf;
  timer *timers; /* binary min-heap */
  size_t ntimers, tcap;
  uint64_t tseq;
  size_t working;
  uint64_t fills;
  bool started;
  broker_report rep[64];
  order_id *scratch; /* a copy of the open ids while walking them */
  size_t scap;
  /* Broker calls only when they can matter (see broker.h): */
  bool touched;     /* a call since the last poll may have made reports */
  bool poll_always; /* the broker reports on its own (live brokers) */
  bool idle_bars;   /* the broker wants bars even without working orders */
  bool stopping;    /* engine_stop: no new exits for canceled entries */
  /* per account: working orders, day P&L tracking */
  uint32_t *acct_open;
  fx *acct_day_start, *acct_day_peak;
  int64_t day;     /* exchange day of the latest event */
  bool pnl_limits; /* some daily loss or drawdown limit is set */
  /* risk_input_for's per-instrument scratch: the account's working buys
   * and sells (leaves, and leaves valued at limit or reference price) */
  fx *wk_buy, *wk_sell, *wk_buy_v, *wk_sell_v;
};

/* Flatten before the close, when some subscriber of sym asks for it. */
#define flatten_due(e, sym, t, ahead)                                          \
  do {                                                                         \
    if (DTO_UNLIKELY((e)->subs[(sym)].flatten))                                \
      engine__flatten_due_slow((e), (sym), (t), (ahead));                      \
  } while (0)

static inline dto_time engine__now(const engine *e) {
  return clock_now(e->cfg.clock);
}

/* The exchange day of sym at t (the UTC day without a calendar). */
static inline int64_t engine__exchange_day(const engine *e, sym_id sym,
                                           dto_time t) {
  const instrument *in = &e->cfg.instruments->v[sym];
  if (in->cal)
    return calendar_local_day(in->cal, t);
  return floordiv64(t, DTO_NS_PER_DAY);
}

/* a+b saturated at +-FX_MAX: exposure sums must not wrap. */
static inline fx engine__sat_add(fx a, fx b) {
  fx r;
  if (fx_add(a, b, &r) == 0)
    return r;
  return a > 0 ? FX_MAX : -FX_MAX;
}

/* ---- engine.c */
void engine__fire_timers(engine *e, dto_time t);
/* A new exchange day for sym at t?  The end of sym's current local day is
 * cached, so the common case is one comparison. */
void engine__day_roll_slow(engine *e, sym_id sym, dto_time t);
static inline void engine__day_roll(engine *e, sym_id sym, dto_time t) {
  const symsubs *ss = &e->subs[sym];
  if (DTO_UNLIKELY(t < ss->day_from || t >= ss->day_until))
    engine__day_roll_slow(e, sym, t);
}

/* ---- engine_orders.c */
void engine__init_order(order *o);
void engine__notify(engine *e, const order *o);
void engine__log_order(engine *e, const char *ev, const order *o);
/* Place the exits of a bracket entry that finished with filled > 0. */
void engine__place_exits(engine *e, order_id entry_id);
/* Copy the open order ids into e->scratch; returns the count. */
size_t engine__open_snapshot(engine *e);

/* ---- engine_reports.c */
void engine__apply_fill(engine *e, order *o, const broker_report *r);
void engine__handle(engine *e, const broker_report *r);

/* ---- engine_risk.c */
void engine__alert(engine *e, const char *code, int scope, uint32_t index,
                   const char *msg);
void engine__new_day(engine *e, int64_t day);
void engine__check_pnl(engine *e, sym_id sym);
void engine__flatten_due_slow(engine *e, sym_id sym, dto_time t,
                              dto_time ahead);
void engine__update_flatten_flags(engine *e);
void engine__on_round_trip(void *ctx, const trade_rec *t);
size_t engine__cancel_scope(engine *e, int scope, uint32_t index);

/* ---- engine_restore.c */
int engine__find_strategy(const engine *e, const char *id);
int engine__find_account(const engine *e, const char *id);
int engine__parse_cloid(const engine *e, const char *cloid, int *strategy,
                        int64_t *day, uint32_t *seq);
order_id engine__track_working(engine *e, order *t, const char *cloid);

#endif
