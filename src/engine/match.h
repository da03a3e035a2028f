/* match.h - the paper exchange's matching rules.
 *
 * The matcher holds working orders and fills them against the market data it
 * is shown, by one of three fill models:
 *
 *   next_bar_open  market orders fill at the open of the first bar that
 *                  starts after the order became active; limits fill at the
 *                  open when it is through the limit, else at the limit when
 *                  the bar's range reaches it; stops trigger the same way.
 *   bar_close      orders are evaluated at bar closes: a market order sent
 *                  right at a bar's close fills at that close.
 *   trade          market orders fill at the next trade price (or the quote
 *                  on the other side); with bar data only it behaves as
 *                  next_bar_open.
 *
 * Market and triggered stop fills pay slippage (basis points, rounded to the
 * tick against the trader).  A fill takes at most max_volume_share of the
 * bar's (or trade's, or quote's) size; the rest stays working.  A latency
 * model delays when an order becomes active.  Orders fill only while the
 * instrument's calendar says the market is open (extended hours only for
 * orders that ask for them); day orders expire at the close.  A fill of one
 * bracket exit reduces its peer by the same quantity and cancels it at zero.
 *
 * Deterministic: orders are matched in the order they arrived.  No I/O.
 */
#ifndef DTO_ENGINE_MATCH_H
#define DTO_ENGINE_MATCH_H

#include "broker/broker.h"
#include "core/clock.h"
#include "core/snap.h"
#include "market/instrument.h"

enum fill_model {
  FILL_NEXT_BAR_OPEN,
  FILL_BAR_CLOSE,
  FILL_TRADE,
  FILL_MODEL_COUNT
};
enum latency_kind { LATENCY_FIXED, LATENCY_RANDOM };

typedef struct match_config {
  enum fill_model model;
  fx slippage_bps;     /* >= 0 */
  fx max_volume_share; /* (0, 1] */
  enum latency_kind latency_kind;
  dto_time latency, latency_max; /* random: uniform in [latency, latency_max] */
  uint64_t seed;
} match_config;

typedef struct matcher matcher;

void match_config_init(match_config *c); /* next_bar_open, no slippage, share 1 */
const char *fill_model_name(enum fill_model m);
int fill_model_parse(const char *s, enum fill_model *out);

/* instruments and clock are not owned and must outlive the matcher. */
matcher *matcher_new(const match_config *cfg, const instrument_table *ins,
                     const dto_clock *clock);
void matcher_free(matcher *m);

int matcher_submit(matcher *m, const order *o);
int matcher_cancel(matcher *m, order_id id);
int matcher_replace(matcher *m, order_id old_id, const order *nw);
void matcher_on_bar(matcher *m, const bar *b);
void matcher_on_trade(matcher *m, const trade *t);
void matcher_on_quote(matcher *m, const quote *q);
void matcher_on_time(matcher *m, dto_time t);
size_t matcher_poll(matcher *m, broker_report *out, size_t max);
/* The book and the net filled position per instrument, as a broker would
 * report them (see broker.h); *n is the total. */
int matcher_open_orders(const matcher *m, broker_open_order *out, size_t max,
                        size_t *n);
int matcher_positions(const matcher *m, broker_position *out, size_t max,
                      size_t *n);
/* After a restart: the exchange's net position in sym, as the journal
 * recorded it (the paper exchange lives in the process). */
void matcher_restore_position(matcher *m, sym_id sym, fx qty);

/* The fill model in use. */
enum fill_model matcher_model(const matcher *m);
/* Number of working orders. */
size_t matcher_working(const matcher *m);

/* Checkpoints: the books (every working order in arrival order, with the
 * times it starts and stops working), the last bar and session per
 * instrument, net positions, pending reports and the random state, field
 * by field.  Restoring needs a matcher with nothing working; afterwards it
 * fills exactly as the one that was saved.  DTO_EINVAL (m left empty) for
 * a damaged snapshot. */
void matcher_snapshot(const matcher *m, dbuf *b);
int matcher_restore_snapshot(matcher *m, snap_reader *r);

#endif
