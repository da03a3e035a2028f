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
 *   engine_brackets.c brackets: exits that cover what the entries opened,
 *                     retried and alerted until they do
 * Nothing outside src/engine/engine*.c includes this header.
 */
#ifndef DTO_ENGINE_ENGINE_INT_H
#define DTO_ENGINE_ENGINE_INT_H

#include "core/timeutil.h"
#include "engine/engine.h"
#include "engine/oms_int.h"
#include "engine/portfolio_int.h"

typedef struct timer {
  dto_time at;
  uint64_t seq; /* ties broken by creation order: deterministic */
  uint32_t strat;
  uint64_t tag;
} timer;

typedef struct sub {
  uint32_t strat;
  uint32_t slot; /* index into the strategy's symbol list */
  /* Bound by engine_start, for the per-event loops: &e->st[strat], its
   * state and the slot's state.  These never move once the engine has
   * started: strategies cannot be added then, and a restore copies into
   * the blocks instead of replacing them (engine_restore.c). */
  strat *s;
  const strategy_def *def;
  void *state, *sym_state;
  /* def->on_bar, one load nearer for the per-bar path */
  void (*on_bar)(strat *s, void *state, void *sym_state, const bar *b);
} sub;

typedef struct symsubs {
  sub *v;
  size_t n, cap;
  /* Bound by engine_start: the instrument's one subscription whose
   * strategy has an on_bar, or NULL when there are none or several
   * (engine_bar's common case calls it without walking v). */
  const sub *bar_sub;
  uint32_t working; /* working orders in this instrument */
  fx ref_price;     /* reference price for risk: last trade, close or mid */
  dto_time ref_time;
  dto_time day_from, day_until; /* the current exchange day, UTC */
  /* flatten and br_retry side by side: engine_bar tests both in one load */
  bool flatten;      /* some subscriber has flatten_before_close */
  uint32_t br_retry; /* brackets in this instrument waiting for a retry */
  session sess;
  bool have_sess;
  bool halted; /* a broker report about it was refused: no opening
                  orders until a person clears it */
  /* engine__order_day's cache: instants in [od_from, od_until) are in
   * exchange day od_day, whose session is od_sess (od_has_sess false: the
   * market does not open that day); an empty range: nothing cached */
  dto_time od_from, od_until;
  int64_t od_day;
  session od_sess;
  bool od_has_sess;
} symsubs;

/* A bracket (engine_brackets.c): the position its entries opened and the
 * exits that protect it.  Made at the entry's first fill. */
typedef struct bracket {
  uint32_t id;       /* from 1, as order.bracket */
  order_id root;     /* the first entry */
  char cloid[CLOID_MAX]; /* the first entry's, for alerts and logs */
  uint32_t strategy, account;
  sym_id sym;
  enum order_side side; /* the entry's; exits are on the other side */
  fx tp, sl;            /* exit prices, 0: none */
  fx entry_filled;      /* sum of the fills of its entries (replacements) */
  fx exit_filled;       /* sum of the fills of its exits */
  bool released;        /* flattened or given up by the strategy: no exits */
  bool retry;           /* counted in subs[sym].br_retry */
  bool done;            /* nothing works and nothing is open: kept only
                           for late reports (e->br_done counts them) */
  bool lost;            /* the broker ended an exit: new exits wait for the
                           next event (a broker that keeps refusing them
                           cannot make a loop) */
  int alerted;          /* the problem last alerted (engine_brackets.c), 0 */
} bracket;

/* The end-of-day flatten of one strategy slot, beside flattened_day. */
/* flat_state.why of a closing order the broker refused: a fixed number
 * outside the risk reasons (checkpoints hold it; the reasons grow). */
#define FLAT_WHY_BROKER 0xFFFF

typedef struct flat_state {
  order_id oid; /* the closing order of the last attempt, or ORDER_NONE */
  int why;      /* the refusal last alerted (enum risk_reason), 0 none,
                   FLAT_WHY_BROKER: the broker refused the closing order */
  int64_t day;  /* the exchange day of that alert */
} flat_state;

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
  /* oms_cloid_prefix of cloid_pre_day, cloid_pre_n bytes (0: none yet) */
  char cloid_pre[CLOID_MAX];
  size_t cloid_pre_n;
  int64_t cloid_pre_day;
  uint32_t *open_per_sym; /* working orders per slot */
  uint32_t open_total;
  int64_t *flattened_day; /* per slot: the day flatten_before_close ran */
  flat_state *flat;        /* per slot: its closing order, its refusal */
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
  fx *marks;     /* portfolio__marks(pf): bars and trades mark through it */
  timer *timers; /* binary min-heap */
  size_t ntimers, tcap;
  uint64_t tseq;
  size_t working;
  uint64_t fills;
  bool started;
  broker_report rep[64];
  order_id *scratch; /* a copy of the open ids while walking them */
  size_t scap;
  /* Broker calls only when they can matter (see broker.h).  The first
   * four are side by side so that engine_bar tests them in one load. */
  bool touched;     /* a call since the last poll may have made reports */
  bool poll_always; /* the broker reports on its own (live brokers) */
  bool idle_bars;   /* the broker wants bars even without working orders */
  bool pnl_limits;  /* some daily loss or drawdown limit is set */
  bool warming;     /* engine_warm_bar: strategies' orders are not made */
  bool stopping;    /* engine_stop: no new exits for canceled entries */
  /* cfg.broker's on_time and on_bar (NULL when it has none), for bars */
  void (*br_on_time)(void *ctx, dto_time t);
  void (*br_on_bar)(void *ctx, const bar *b);
  /* per account: working orders, day P&L tracking */
  uint32_t *acct_open;
  fx *acct_day_start, *acct_day_peak;
  int64_t day; /* exchange day of the latest event */
  /* risk_input_for's per-instrument scratch: the account's working buys
   * and sells (leaves, and leaves valued at limit or reference price) */
  fx *wk_buy, *wk_sell, *wk_buy_v, *wk_sell_v;
  /* brackets (engine_brackets.c), ascending by id: the live ones and the
   * last BRACKET_KEEP_DONE finished ones */
  bracket *br;
  size_t nbr, brcap, br_done;
  uint32_t br_seq; /* the last bracket id handed out */
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

/* a+b saturated at +-FX_MAX: exposure sums must not wrap. */
static inline fx engine__sat_add(fx a, fx b) {
  fx r;
  if (fx_add(a, b, &r) == 0)
    return r;
  return a > 0 ? FX_MAX : -FX_MAX;
}

/* ---- engine.c */
/* The OMS observer: keeps the working-order counters and calls the hooks. */
void engine__on_transition(void *ctx, const order *o, enum order_state from,
                           enum order_state to, bool legal);
void engine__fire_timers_slow(engine *e, dto_time t);
/* engine_pump's work once reports may be waiting; engine__pump is the
 * check, inline on the per-bar path (nothing can be waiting unless the
 * broker was called or reports on its own). */
void engine__pump_slow(engine *e);
static inline void engine__pump(engine *e) {
  if (e->touched || e->poll_always)
    engine__pump_slow(e);
}
/* Fire the timers due at t (the common case: none, one comparison). */
static inline void engine__fire_timers(engine *e, dto_time t) {
  if (DTO_UNLIKELY(e->ntimers && e->timers[0].at <= t))
    engine__fire_timers_slow(e, t);
}
/* A new exchange day for sym at t?  The end of sym's current local day is
 * cached, so the common case is one comparison. */
void engine__day_roll_slow(engine *e, sym_id sym, dto_time t);
static inline void engine__day_roll(engine *e, sym_id sym, dto_time t) {
  const symsubs *ss = &e->subs[sym];
  if (DTO_UNLIKELY(t < ss->day_from || t >= ss->day_until))
    engine__day_roll_slow(e, sym, t);
}

/* ---- engine_orders.c */
/* Fill sym's exchange day cache (symsubs.od_*) for t. */
void engine__order_day_slow(engine *e, sym_id sym, dto_time t);
/* The exchange day of sym at t (the UTC day without a calendar), and for
 * an instrument with a calendar
 * its session that day in *sess (NULL when the market does not open then;
 * without a calendar *sess is NULL too).  Cached per instrument: orders and
 * fills come many to a day.  *sess is valid until the next call. */
static inline int64_t engine__order_day(engine *e, sym_id sym, dto_time t,
                                        const session **sess) {
  *sess = NULL;
  if (!e->cfg.instruments->v[sym].cal)
    return floordiv64(t, DTO_NS_PER_DAY);
  const symsubs *ss = &e->subs[sym];
  if (DTO_UNLIKELY(t < ss->od_from || t >= ss->od_until))
    engine__order_day_slow(e, sym, t);
  if (ss->od_has_sess)
    *sess = &ss->od_sess;
  return ss->od_day;
}
void engine__notify(engine *e, const order *o);
void engine__log_order(engine *e, const char *ev, const order *o);
/* Copy the open order ids into e->scratch; returns the count. */
size_t engine__open_snapshot(engine *e);
/* Create an order of strategy s from tmpl (state new) with the strategy's
 * next client order id; sets its strategy, account and reducing flag.  The
 * pointer is valid until the next order is created. */
order *engine__create_order(engine *e, strat *s, order *tmpl, dto_time t);
/* Hand pending_new order id to the broker; when it cannot take it, the
 * order is rejected (reason invalid, the strategy told) and DTO_EREJECT
 * returned. */
int engine__send(engine *e, order_id id, dto_time t);
/* Ask the broker to cancel working order id (pending_cancel until it
 * answers; 0 also when a cancel is pending).  Unlike strat_cancel it never
 * releases a bracket.  When the broker cannot take the request the order
 * stays as it was and the broker's code is returned. */
int engine__cancel(engine *e, order_id id);
/* Cancel the strategy's working orders in sym (its brackets there are
 * released) and close its position there with a market day order.  0 when
 * the closing order went out (*closing: its id) or there was nothing to
 * close (*closing: ORDER_NONE); DTO_EREJECT when it was refused, *why the
 * risk reason (or RISK_OK when the broker refused it).  Under the kill
 * switch, a halt, a journal fault or unreconciled books nothing is touched
 * (the protective exits stay) and *why says which. */
int engine__flatten(strat *s, sym_id sym, order_id *closing,
                    enum risk_reason *why);

/* ---- engine_reports.c */
/* Validate and apply a fill report r on o (see engine__handle).  0, or
 * DTO_EINVAL when r was refused: nothing changed, the refusal is logged and
 * alerted and the instrument halted. */
int engine__apply_fill(engine *e, order *o, const broker_report *r);
/* Apply a broker report after validating it: an unknown order, a report
 * that its state does not allow, or a fill that is not positive, exceeds
 * the leaves, is off the lot, has no positive price or would overflow a
 * sum is refused before anything changes (broker_report_invalid). */
void engine__handle(engine *e, const broker_report *r);

/* ---- engine_brackets.c */
#define BRACKET_KEEP_DONE 1024
/* A new bracket id for an entry that asks for exits. */
uint32_t engine__bracket_next(engine *e);
/* The bracket of entry (sent, or given to a restart) starts: its record. */
void engine__bracket_open(engine *e, const order *entry);
/* Count a fill of qty of bracket order o (entry or exit). */
void engine__bracket_fill(engine *e, const order *o, fx qty);
/* The broker ended exit o without being asked (rejected, expired, canceled
 * other than by its OCO peer). */
void engine__bracket_exit_lost(engine *e, const order *o);
/* Bring bracket id's exits in line with its open quantity: place, cancel
 * or wait; alert when it cannot (once per reason) and retry later. */
void engine__bracket_sync(engine *e, uint32_t id);
/* Retry the brackets of sym (or of every instrument) that wait for one. */
void engine__brackets_retry(engine *e, sym_id sym);
void engine__brackets_retry_all(engine *e);
#define brackets_due(e, sym)                                                   \
  do {                                                                         \
    if (DTO_UNLIKELY((e)->subs[(sym)].br_retry))                               \
      engine__brackets_retry((e), (sym));                                      \
  } while (0)
/* The strategy (or a flatten) gives bracket id up: no more exits; with
 * cancel_exits its working exits are canceled too. */
void engine__bracket_release(engine *e, uint32_t id, bool cancel_exits);
/* Undo a release (a flatten whose closing order the broker did not take):
 * the bracket's exits are placed again. */
void engine__bracket_rearm(engine *e, uint32_t id);
/* Is o a protective exit: a working take-profit or stop-loss of a bracket
 * that was not released?  The kill switch and halts keep these. */
bool engine__protective(const engine *e, const order *o);
/* A strategy moved exit nw of its bracket (cancel/replace): later exits
 * of the bracket use its price. */
void engine__bracket_exit_moved(engine *e, const order *nw);
/* Checkpoints (engine_restore.c): the bracket table and its id counter.
 * decode fills t (owned by the caller until installed or released) and
 * returns DTO_EINVAL (r marked bad, t empty) for a damaged one; install
 * moves t into e (e's table and counters are replaced). */
typedef struct bracket_table {
  bracket *v;
  size_t n, done;
  uint32_t seq;
} bracket_table;
void engine__brackets_snapshot(const engine *e, dbuf *b);
int engine__brackets_decode(const engine *e, struct snap_reader *r,
                            bracket_table *t);
void engine__brackets_install(engine *e, bracket_table *t);
void engine__brackets_table_release(bracket_table *t);

/* ---- engine_risk.c */
void engine__alert(engine *e, const char *code, int scope, uint32_t index,
                   const char *msg);
void engine__new_day(engine *e, int64_t day);
void engine__check_pnl(engine *e, sym_id sym);
void engine__flatten_due_slow(engine *e, sym_id sym, dto_time t,
                              dto_time ahead);
void engine__update_flatten_flags(engine *e);
/* Everything derived from the limits (which instruments flatten before the
 * close, whether P&L limits are tracked): at start and at every reload. */
void engine__derive_limits(engine *e);
/* A broker report about sym was refused: no opening orders in sym until a
 * person clears the halt (engine_halt_instrument). */
void engine__halt_instrument(engine *e, sym_id sym, const char *why);
void engine__on_round_trip(void *ctx, const trade_rec *t);
size_t engine__cancel_scope(engine *e, int scope, uint32_t index);

/* ---- engine_restore.c */
int engine__find_strategy(const engine *e, const char *id);
int engine__find_account(const engine *e, const char *id);
int engine__parse_cloid(const engine *e, const char *cloid, int *strategy,
                        int64_t *day, uint32_t *seq);
order_id engine__track_working(engine *e, order *t, const char *cloid);

#endif
