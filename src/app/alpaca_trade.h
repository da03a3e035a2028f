/* alpaca_trade.h - trading through Alpaca: the adapter's I/O thread.
 *
 * The engine's requests arrive through a bridge (app/bridge.h); this
 * thread turns them into Alpaca's REST calls and turns the trade_updates
 * stream into dto's broker reports, which go back through the bridge (and
 * so through the engine's inbound queue).  All network I/O of trading is
 * on this thread.
 *
 * Rules it follows (docs/internals/alpaca.md):
 * - dto's client order id is Alpaca's client_order_id.  An order POST is
 *   never retried blindly: after a timeout, a dropped connection or a 5xx,
 *   the order is looked up by client order id; only when Alpaca does not
 *   have it is it posted again (a duplicate would be refused: 422).
 * - Reports come from the stream (new, fill, canceled, ...), one per
 *   event, fills counted once by execution id.  A REST refusal of an
 *   order (403, 422) is reported as rejected, of a cancel or replace as a
 *   cancel reject.
 * - Events for orders that are not dto's (other clients of the account)
 *   are counted and ignored.
 * - The stream reconnects with exponential backoff and listens again.
 *
 * - Reconciliation: see alpaca_trader_ask_reconcile.
 *
 * Not here: order classes (bracket, oco, oto: dto keeps its own
 * brackets).
 */
#ifndef DTO_APP_ALPACA_TRADE_H
#define DTO_APP_ALPACA_TRADE_H

#include "app/bridge.h"
#include "broker/alpaca_conf.h"
#include "market/instrument.h"

typedef struct alpaca_trader alpaca_trader;

/* The timer id of the trader's signal (bridge_signal) that it holds for a
 * reconciliation: see alpaca_trader_resume. */
#define ALPACA_TRADER_RECONCILE 0x52434e31u

typedef struct alpaca_trade_stats {
  uint64_t requests;                     /* the engine's, carried out */
  uint64_t posts, post_lookups, reposts; /* order POSTs, lookups after a
                                            failed one, POSTs again */
  uint64_t rejected, cancels, replaces;
  uint64_t events, reports, duplicates, foreign; /* stream */
  uint64_t reconnects, errors;
  uint64_t holds; /* reconciliations the thread held for */
  uint64_t throttled; /* order POSTs answered 429 (waited as asked) */
  uint64_t refused_local; /* orders the asset's rules refused before they
                             left (tradable, fractionable, min order size,
                             increments) */
  char last_error[256];
  bool stream_up; /* the trade-updates stream is connected */
} alpaca_trade_stats;

/* A trader for conf (copied; wipe yours) over instruments ins (not owned)
 * sending reports through b (not owned).  0 and *out, or a negative code
 * with a message. */
int alpaca_trader_new(const alpaca_conf *conf, const instrument_table *ins,
                      bridge *b, alpaca_trader **out, char *err, size_t cap);
/* Read every instrument's asset (its rules are checked before each order
 * leaves: tradable, fractionable, min_order_size, min_trade_increment,
 * price_increment), connect the stream and start the thread: 0, or a
 * negative code with a message when an asset is unknown or unreadable, or
 * the stream cannot be reached or refuses the keys. */
int alpaca_trader_start(alpaca_trader *t, char *err, size_t cap);
/* Stop the thread (requests still queued are left), free everything.
 * NULL does nothing. */
void alpaca_trader_free(alpaca_trader *t);
/* Reconciliation queries, as broker_ops' open_orders, positions and
 * fills_since (broker/broker.h): each fills up to max entries, sets *n to
 * how many there are (more than max: DTO_EFULL), and returns 0 or a
 * negative code (an answer that cannot be had or read is an error, never
 * "nothing").  They use a REST client of their own on the caller's thread
 * (the engine calls them while it reconciles, before it trades).  Orders
 * and positions on instruments dto does not trade are left out; fills are
 * dto's only (by client order id), oldest first. */
int alpaca_trader_open_orders(alpaca_trader *t, broker_open_order *out,
                              size_t max, size_t *n);
int alpaca_trader_positions(alpaca_trader *t, broker_position *out,
                            size_t max, size_t *n);
int alpaca_trader_fills_since(alpaca_trader *t, dto_time since,
                              broker_fill *out, size_t max, size_t *n);

/* An order the engine has from before (a restart), before
 * alpaca_trader_start: reports of it map to its id, and a submit of it is
 * looked up by client order id before anything is posted.  A working
 * stop-loss with a peer is looked for as the stop leg of its take-profit's
 * oco order (alpaca_trader_open_orders and _fills_since name the leg by
 * the stop-loss's client order id). */
void alpaca_trader_know(alpaca_trader *t, const order *o);

/* Reconciliation.  The thread holds whenever the books may have missed
 * something: at start, after every reconnect of the stream, and when
 * asked (alpaca_trader_ask_reconcile, any thread).  It sends every report
 * it has, then an INQ_TIMER event through the bridge (src: the bridge's,
 * id ALPACA_TRADER_RECONCILE), then takes no request and reads nothing
 * until alpaca_trader_resume.  The engine thread, on that event, runs
 * engine_reconcile with the queries below (the thread is idle: they are
 * a clean cut) and resumes it once the books agree.  Until then no order
 * leaves.  While the stream is down, requests wait too. */
void alpaca_trader_ask_reconcile(alpaca_trader *t);
void alpaca_trader_resume(alpaca_trader *t);

/* The engine's broker table for a trader (ctx: the trader): submit,
 * cancel, replace and poll through its bridge, the reconciliation queries
 * above, no market data (Alpaca's market is its own). */
extern const broker_ops alpaca_broker_ops;

/* Stop taking requests, let the thread send those already queued (a stop's
 * cancels) for at most timeout_ns, then end it; a thread held for a
 * reconciliation sends nothing more and ends at once (the next start
 * reconciles).  alpaca_trader_free after. */
void alpaca_trader_drain(alpaca_trader *t, int64_t timeout_ns);

/* Counters (any thread; last_error may be a moment old). */
void alpaca_trader_stats(alpaca_trader *t, alpaca_trade_stats *out);
/* REST request times since the start (any thread). */
struct mhist_snap;
void alpaca_trader_latency(alpaca_trader *t, struct mhist_snap *out);

#endif
