/* event.h - market events: trades, quotes and bars.
 *
 * Plain value types, copied freely.  Prices and sizes are fx (scale 10^8).
 * sym is an index into the run's instrument table (see instrument.h), so an
 * event carries no strings and the engine's hot path does no lookups.
 */
#ifndef DTO_MARKET_EVENT_H
#define DTO_MARKET_EVENT_H

#include "core/fx.h"
#include "core/prelude.h"

typedef uint32_t sym_id;
#define SYM_NONE UINT32_MAX

/* A bar covers [ts, ts + dur).  Its close is known at ts + dur. */
typedef struct bar {
  dto_time ts;  /* start of the interval, UTC ns */
  dto_time dur; /* length of the interval, ns (0 when unknown) */
  fx open, high, low, close;
  fx volume;
  sym_id sym;
} bar;

typedef struct trade {
  dto_time ts;
  fx price;
  fx size;
  sym_id sym;
} trade;

typedef struct quote {
  dto_time ts;
  fx bid, ask;
  fx bid_size, ask_size;
  sym_id sym;
} quote;

/* End time of a bar: when its close becomes known. */
static inline dto_time bar_end(const bar *b) { return b->ts + b->dur; }

/* Check a bar's internal consistency: low <= open, close <= high, volume >= 0,
 * prices > 0.  Returns NULL when fine, otherwise a static reason naming the
 * field ("high below low", ...). */
const char *bar_check(const bar *b);

#endif
