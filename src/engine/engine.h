/* engine.h - the deterministic trading engine.
 *
 * One engine owns all trading state of a run: strategies, orders (OMS),
 * the risk gate and the portfolio.  It runs on one thread, does no I/O, takes
 * its time from the injected clock and handles one event at a time; given
 * the same events it produces the same orders, fills and state, byte for
 * byte.  Backtests, paper and live trading drive the same engine; only the
 * clock, the data source and the broker differ.
 *
 * Driving it, per bar (see app/runner.c):
 *   clock := bar.ts;       engine_bar_open(e, &bar);
 *   clock := bar_end(bar); engine_on_bar(e, &bar);
 * The first half lets a simulating broker fill working orders at the bar's
 * open; the second shows the finished bar to the strategies.  Broker reports
 * are collected after each call.  engine_bar(e, &bar, sim) does the four
 * steps in one call when the clock is a simulated one.
 */
#ifndef DTO_ENGINE_ENGINE_H
#define DTO_ENGINE_ENGINE_H

#include "broker/broker.h"
#include "core/clock.h"
#include "core/log.h"
#include "engine/oms.h"
#include "engine/portfolio.h"
#include "engine/risk.h"
#include "engine/strategy.h"

typedef struct engine engine;

/* Observers for reports and the journal; each may be NULL. */
typedef struct engine_hooks {
  void *ctx;
  void (*order_changed)(void *ctx, const order *o, enum order_state from,
                        enum order_state to, bool legal);
  void (*fill)(void *ctx, const order *o, fx qty, fx price, fx fee,
               dto_time t);
  /* a round trip finished (flat -> position -> flat) */
  void (*trade_closed)(void *ctx, const trade_rec *t);
  /* every risk decision, accepted or refused */
  void (*risk_decision)(void *ctx, const order *o, const risk_decision *d);
  /* an alert event (limit crossed, kill switch...); scope 1 account,
   * 2 strategy, 3 global */
  void (*alert)(void *ctx, const char *code, int scope, uint32_t index,
                const char *msg);
} engine_hooks;

typedef struct engine_account {
  const char *id; /* not owned; must outlive the engine */
  fx cash;
} engine_account;

typedef struct engine_config {
  const instrument_table *instruments; /* not owned */
  const dto_clock *clock;              /* not owned */
  dto_log *log;                        /* not owned; may be NULL */
  const broker_ops *broker;            /* not owned */
  void *broker_ctx;
  fee_schedule fees;
  const engine_account *accounts;
  size_t naccounts;
  engine_hooks hooks;
  /* Risk limits for the strategies in the order they are added (sizes
   * must match at engine_start); NULL: every limit off.  Not owned; only
   * read during engine_start. */
  const risk_config *risk;
} engine_config;

/* Strategy instance to add before engine_start(). */
typedef struct engine_strategy {
  const strategy_def *def;
  const char *id; /* not owned */
  uint32_t account;
  const sym_id *syms;
  size_t nsyms;
  fx allocation;
  const param_value *params; /* def->nparams; copied */
} engine_strategy;

engine *engine_new(const engine_config *cfg);
void engine_free(engine *e);
/* DTO_EINVAL for an unknown account/symbol or an empty symbol list. */
int engine_add_strategy(engine *e, const engine_strategy *s);
/* Build the portfolio, call every on_start.  A strategy's failure stops the
 * start-up with its code. */
int engine_start(engine *e);

/* Time moves to t: fire due timers, let the broker expire orders. */
void engine_on_time(engine *e, dto_time t);
/* The start of bar b: engine_on_time(b->ts) and engine_broker_bar(b) in one
 * step, collecting broker reports once. */
void engine_bar_open(engine *e, const bar *b);
void engine_broker_bar(engine *e, const bar *b);
/* A whole bar of a simulated run in one call, exactly as
 *   sim_clock_set(sim, b->ts);        engine_bar_open(e, b);
 *   sim_clock_set(sim, bar_end(b));   engine_on_bar(e, b);
 * where sim is the simulated clock the engine reads. */
void engine_bar(engine *e, const bar *b, sim_clock *sim);
/* A bar of history, before the session trades (a live broker's warm-up):
 * strategies see it in on_bar, so their indicators are ready at the open,
 * but any order they ask for is refused (DTO_ESTATE to strat_submit) and
 * never made: nothing is sent, logged or counted. */
void engine_warm_bar(engine *e, const bar *b);
/* Market data.  Every entry point with a time (bar open, broker bar, trade,
 * quote) starts a new exchange day when one begins: the day's P&L baselines
 * reset and the daily limits' REDUCING modes lift.  Bars and trades mark
 * prices and check the daily loss and drawdown limits; bars, trades and
 * quotes run the end-of-day flatten when it is due. */
void engine_on_bar(engine *e, const bar *b);
void engine_on_trade(engine *e, const trade *t);
void engine_on_quote(engine *e, const quote *q);
/* Collect and apply broker reports until none are left. */
void engine_pump(engine *e);
/* Call on_stop, cancel every working order that is not GTC, collect
 * reports.  Bracket exits are GTC: they stay, and fills of canceled entries
 * still get exits (docs/internals/engine.md). */
void engine_stop(engine *e);

/* The kill switch: on cancels every working order except the protective
 * exits of open bracket positions (take-profits and stop-losses, restored
 * ones included) and blocks every new order until it is switched off (by a
 * person), except the exits the engine places to keep a bracket position
 * covered (docs/internals/risk.md).  Returns the number of cancels sent.
 * by names who did it, for the log. */
size_t engine_kill(engine *e, bool on, const char *by);
bool engine_killed(const engine *e);
/* Halt (on) or clear (off) instrument sym: while halted, orders that could
 * open or grow a position in it are refused (instrument_halted); reducing
 * orders and protective exits pass.  A broker report about the instrument
 * that the engine refuses halts it by itself; only a person clears it.
 * DTO_EINVAL for an unknown sym.  by names who did it, for the log. */
int engine_halt_instrument(engine *e, sym_id sym, bool on, const char *by);
bool engine_instrument_halted(const engine *e, sym_id sym);
/* Set an account's (scope 1) or strategy's (scope 2) mode; HALTED also
 * cancels the scope's working orders but the protective exits of bracket
 * positions, as the kill switch does.  DTO_EINVAL for a bad scope. */
int engine_set_mode(engine *e, int scope, uint32_t index, enum risk_mode m,
                    const char *by);

/* ---- operator actions ------------------------------------------------------
 * What a person does through `dto ctl` or the HTTP API, called on the
 * engine's thread.  by names who did it, for the log (each action logs one
 * "ops.*" event with its outcome; not owned, may be NULL).  The ones that
 * cancel or send orders collect the broker's reports before they return.
 * scope: 0 everything, RISK_SCOPE_ACCOUNT (index: the account) or
 * RISK_SCOPE_STRATEGY (index: the strategy); sym < 0: every instrument,
 * else only instrument sym. */

/* Cancel working order id: 0 when the cancel was sent or is already
 * pending, DTO_ENOENT for no such order, DTO_ESTATE when it has already
 * ended, the broker's code when it cannot take the request.  A protective
 * exit of a bracket position (a take-profit or stop-loss that keeps an open
 * position covered) is refused with DTO_EREJECT: canceling it would leave
 * the position unprotected while it stays open, so a person flattens
 * instead, which closes the position and takes its exits away with it. */
int engine_cancel_order(engine *e, order_id id, const char *by);
/* Cancel every working order of the scope (in sym) but the protective exits
 * of open bracket positions, as the kill switch does; brackets stay armed,
 * so later fills of entries still get exits.  Returns the cancels sent; a
 * scope, index or sym that does not exist cancels nothing. */
size_t engine_cancel_all(engine *e, int scope, uint32_t index, int32_t sym,
                         const char *by);
/* Close positions: every strategy of the scope flattens every instrument it
 * trades (or only sym) as strat_flatten does: its working orders there are
 * canceled and a market day order closes its position.  *closing_orders
 * (may be NULL) gets the number of closing orders sent.  0 when every
 * flatten went out or there was nothing to close; DTO_EREJECT when some
 * were refused (by the risk gate, for instance under the kill switch, or
 * by the broker; the others are still done, and each refusal is logged
 * with its reason); DTO_EINVAL (nothing done) for a scope, index or sym
 * that does not exist.  Strategies that do not trade sym have nothing to
 * close. */
int engine_flatten_scope(engine *e, int scope, uint32_t index, int32_t sym,
                         const char *by, size_t *closing_orders);
/* Pause (pause true) or resume strategy: paused, it may place no opening
 * order (exits, reducing orders and flattens pass), which is its mode
 * REDUCING with cause person until a person resumes it (ACTIVE).  Pausing a
 * REDUCING strategy makes the person the cause (the next day no longer
 * lifts it); pausing a paused one or resuming an active one changes
 * nothing (0).  DTO_ESTATE, nothing changed, for pausing a HALTED strategy
 * (that would loosen the halt) or resuming one that a limit or a guard put
 * in its mode rather than a person (engine_set_mode releases those).
 * DTO_EINVAL for no such strategy.  Working orders stay. */
int engine_pause_strategy(engine *e, uint32_t strategy, bool pause,
                          const char *by);
/* Is the strategy paused: REDUCING because a person said so. */
bool engine_strategy_paused(const engine *e, uint32_t strategy);
/* Maintenance on or off: while on, no order that could open or grow a
 * position passes anywhere (risk reason maintenance); reducing orders,
 * flattens and the exits of brackets pass, and working orders stay
 * (engine_cancel_all takes them).  It is held in the risk state, so it
 * survives a restart through the checkpoint; the kill switch and the
 * modes are independent of it.  Setting it to what it is changes nothing.
 * Returns 0. */
int engine_set_maintenance(engine *e, bool on, const char *by);
bool engine_maintenance(const engine *e);

/* New limits (SIGHUP); modes and halts are kept.  DTO_EINVAL (nothing
 * changes) for an invalid configuration. */
int engine_reload_risk(engine *e, const risk_config *cfg);
risk *engine_risk_mut(engine *e);

/* ---- checkpoints -----------------------------------------------------------
 * The engine's whole trading state, field by field: strategies' state
 * blocks (plain data, see strategy.h), client order id sequences, timers,
 * day baselines and flatten marks, reference prices, the open orders (with
 * their ids, peers, bracket prices and trailing marks), the books and the
 * risk state.  An engine built from the same configuration and restored
 * from it continues exactly as the one that wrote it.  Appends to b; returns
 * 0 or DTO_ENOMEM when b's cap was reached (b as it was). */
int engine_snapshot(const engine *e, dbuf *b);
/* Right after engine_start, before any event: put a checkpoint back.
 * DTO_EINVAL with a message in err for a damaged checkpoint or one written
 * with other accounts, instruments or strategies; DTO_ESTATE when the
 * engine has already traded.  On failure the engine must be freed (parts
 * may have been restored). */
int engine_restore_snapshot(engine *e, const void *p, size_t n, char *err,
                            size_t cap);

/* ---- restart (after engine_start, before any event) ----------------------
 * Restore a journaled position: the account's (strategy "" or NULL) or a
 * strategy's.  DTO_ENOENT for an unknown account or strategy. */
int engine_restore_position(engine *e, const char *account,
                            const char *strategy, sym_id sym,
                            const position *pos);
/* Restore a working order (tmpl: sym, side, type, tif, qty, prices, filled,
 * notional, fees, and peer: the id the other exit of its bracket has or
 * will get, else ORDER_NONE) under its client order id and hand what is
 * left of it to the broker again.  It does not pass the risk gate: it is
 * not new.  The order gets the next id (oms_count before the call). */
int engine_restore_order(engine *e, const char *account, const char *strategy,
                         const char *cloid, const order *tmpl);
/* Reconcile with the broker after a restart, before trading: fills it made
 * after opt->since on our working orders are applied first (what we
 * missed while down); our working orders it does not have are then
 * canceled here (reason unknown_order); its
 * orders we do not have are adopted (and canceled when cancel_unknown);
 * positions summed over accounts must agree per instrument within
 * position_tolerance.  Until it succeeds no order passes the risk gate
 * (reason unreconciled) and an alert says why; a broker that cannot answer
 * or fails to is never taken as "nothing open, flat". */
typedef struct reconcile_opts {
  bool cancel_unknown;
  fx position_tolerance;
  dto_time since; /* the last journaled time: fills after it were missed */
  /* May be NULL.  A live broker's adapter may hold orders it has not sent
   * yet (queued behind a reconciliation): unsent(ctx, id) says so, and
   * such an order is on its way, not missing. */
  bool (*unsent)(void *ctx, order_id id);
  void *unsent_ctx;
} reconcile_opts;
typedef struct reconcile_result {
  size_t missing, unknown, adopted, canceled, pos_mismatch;
  size_t fills_applied, unknown_fills;
  int error;
} reconcile_result;
int engine_reconcile(engine *e, const reconcile_opts *opt,
                     reconcile_result *res);

/* Note a client order id issued before the restart, so the strategy's
 * sequence for that day goes on past it.  DTO_EINVAL / DTO_ENOENT for an id
 * that is not dto's or names no strategy of this run. */
int engine_note_cloid(engine *e, const char *cloid);
/* The journal cannot write (on) or writes again (off): new orders are
 * refused meanwhile (storage_fault), with an alert each way. */
void engine_set_store_fault(engine *e, bool on, const char *why);
/* Collect broker reports even if the engine made no call since the last
 * poll (a wrapper released held commands, a live report arrived). */
void engine_poll_broker(engine *e);

const portfolio *engine_portfolio(const engine *e);
const oms *engine_oms(const engine *e);
const risk *engine_risk(const engine *e);
size_t engine_nstrategies(const engine *e);
const char *engine_strategy_id(const engine *e, size_t i);
/* Strategy i's handle, for orders a person places in its name (the
 * command path, engine thread); NULL when out of range. */
struct strat *engine_strategy_handle(engine *e, size_t i);
const char *engine_account_id(const engine *e, size_t i);
size_t engine_working_orders(const engine *e);
uint64_t engine_fill_count(const engine *e);
/* Raise an alert from outside the engine's rules (the service's own, such
 * as queue_overflow): logged and handed to the alert hook like the
 * engine's.  scope 1 account, 2 strategy, else global (index 0). */
void engine_alert(engine *e, const char *code, int scope, uint32_t index,
                  const char *msg);
/* The day's P&L (equity now minus at the day's start) of an account or a
 * strategy, as the daily-loss limits see it. */
fx engine_account_day_pnl(const engine *e, uint32_t account);
fx engine_strategy_day_pnl(const engine *e, uint32_t strategy);

#endif
