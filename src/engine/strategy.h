/* strategy.h - the strategy API: what a strategy implements and what the
 * engine offers it.
 *
 * A strategy is a const strategy_def (one per file in src/strategy/) with
 * callbacks.  The engine runs each configured instance with its own state
 * block (state_size bytes) and one block per traded symbol (sym_state_size
 * bytes), both zeroed before on_start and owned by the engine.  Callbacks run
 * on the engine thread, must not block or do I/O, and see time only through
 * strat_now().  Orders go through strat_submit() and thus through the risk
 * gate and the OMS; a strategy never talks to a broker.
 */
#ifndef DTO_ENGINE_STRATEGY_H
#define DTO_ENGINE_STRATEGY_H

#include "engine/order.h"
#include "engine/param.h"
#include "market/calendar.h"
#include "market/event.h"
#include "market/instrument.h"

typedef struct strat strat; /* one running strategy instance (engine-owned) */

typedef struct strategy_def {
  const char *name;    /* config "type" */
  const char *summary; /* one line */
  const param_spec *params;
  size_t nparams;
  size_t state_size;     /* per instance */
  size_t sym_state_size; /* per traded symbol */
  /* Check constraints between parameters (e.g. fast < slow); return NULL
   * when fine or a static message.  May be NULL. */
  const char *(*validate)(const param_value *params);
  /* Called once before any event; non-zero stops the start-up. */
  int (*on_start)(strat *s, void *state);
  void (*on_bar)(strat *s, void *state, void *sym_state, const bar *b);
  void (*on_trade)(strat *s, void *state, void *sym_state, const trade *t);
  void (*on_quote)(strat *s, void *state, void *sym_state, const quote *q);
  /* An order of this strategy changed state (ack, fill, cancel...). */
  void (*on_order)(strat *s, void *state, const order *o);
  void (*on_timer)(strat *s, void *state, uint64_t tag);
  void (*on_stop)(strat *s, void *state);
} strategy_def;

/* The registry of built-in strategies (src/strategy/registry.c). */
const strategy_def *strategy_find(const char *name);
/* Comma-separated names of the built-in strategies, for messages. */
const char *strategy_names(void);
/* All built-in strategies; *n gets the count. */
const strategy_def *const *strategy_all(size_t *n);

/* ---- what the engine offers a strategy ---------------------------------- */

/* A request for a new order.  Bracket: set take_profit and/or stop_loss on a
 * LIMIT or MARKET entry; exits (GTC) are placed as the entry fills, for
 * what it filled, and cancel each other (docs/internals/engine.md). */
typedef struct order_req {
  sym_id sym;
  enum order_side side;
  enum order_type type;
  enum tif tif;
  fx qty;
  fx limit_price;
  fx stop_price;
  fx trail; /* trailing stop distance, price units */
  fx take_profit, stop_loss;
  bool extended_hours;
} order_req;

const char *strat_id(const strat *s);
dto_time strat_now(const strat *s);
const param_value *strat_param(const strat *s, size_t idx);
size_t strat_nsyms(const strat *s);
sym_id strat_sym(const strat *s, size_t i);
const instrument *strat_instrument(const strat *s, sym_id sym);
/* The session of sym's calendar in progress at now or next; false if none. */
bool strat_session(const strat *s, sym_id sym, session *out);
/* Last price seen for sym (0 when none). */
fx strat_last(const strat *s, sym_id sym);
/* This strategy's signed position in sym. */
fx strat_position(const strat *s, sym_id sym);
/* Average entry price of that position (0 when flat). */
fx strat_avg_price(const strat *s, sym_id sym);
/* Cash left of the strategy's allocation (allocation + realised P&L - fees
 * - cost of open positions). */
fx strat_cash(const strat *s);
/* Allocation plus P&L: cash + marked value of positions. */
fx strat_equity(const strat *s);
/* Working orders of this strategy in sym (SYM_NONE: all symbols). */
size_t strat_open_orders(const strat *s, sym_id sym);
const order *strat_order(const strat *s, order_id id);

/* Submit an order.  It gets a client order id, passes the risk gate and
 * goes to the broker.  Returns 0 and *id (may be NULL), or a negative code
 * (DTO_EINVAL for a malformed request, DTO_EREJECT when risk refused it; the
 * order is then recorded as rejected). */
int strat_submit(strat *s, const order_req *req, order_id *id);
/* Ask the broker to cancel a working order; the order is pending_cancel
 * until the broker confirms.  0 also when a cancel is already pending;
 * DTO_ENOENT for an order that is not this strategy's, DTO_ESTATE for one
 * that is no longer working.  Canceling an exit of a bracket releases the
 * bracket: its other exits are canceled too and no more are placed (the
 * strategy takes the position over). */
int strat_cancel(strat *s, order_id id);
/* Cancel/replace: new total quantity and prices (0 keeps the old value).
 * The replacement is a new order (*new_id, set whenever one was created);
 * the old one goes to pending_cancel and ends replaced when the broker
 * confirms.  A bracket exit's peer follows the replacement, and later exits
 * of its bracket take its new price; its quantity follows the bracket.
 * DTO_ENOENT for an order that is not this strategy's, DTO_ESTATE unless it
 * is accepted or partially filled, DTO_EINVAL for a negative value, a
 * quantity not above the filled one or off the lot, a quantity for a bracket
 * exit, or a price off the tick; DTO_EREJECT when risk refused the
 * replacement (recorded as rejected). */
int strat_replace(strat *s, order_id id, fx qty, fx limit_price,
                  fx stop_price, order_id *new_id);
/* Cancel every working order of this strategy in sym (SYM_NONE: all),
 * bracket exits included (their brackets are released, as strat_cancel). */
void strat_cancel_all(strat *s, sym_id sym);
/* Cancel working orders in sym (SYM_NONE: every symbol of the strategy)
 * and close the position with a market day order.  The protective exits
 * are canceled, and the brackets released, only once the closing order
 * passed the risk gate: refused (DTO_EREJECT), the position keeps them.
 * Under the kill switch, a halt, a journal fault or unreconciled books
 * nothing is touched.  0, or the first error; DTO_EINVAL for an unknown
 * symbol. */
int strat_flatten(strat *s, sym_id sym);
/* Call on_timer(tag) at time at (or at the first event at or after it). */
int strat_set_timer(strat *s, dto_time at, uint64_t tag);
/* Round qty down to sym's lot size. */
fx strat_round_lot(const strat *s, sym_id sym, fx qty);
/* Round price to sym's tick (mode as in fx_round_to). */
fx strat_round_tick(const strat *s, sym_id sym, fx price, enum fx_round mode);
void strat_log(strat *s, const char *event, const char *msg);

#endif
