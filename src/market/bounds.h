/* bounds.h - the largest price and volume dto accepts from outside.
 *
 * fx can hold values up to 92233720368.54775807, but the engine adds prices
 * and volumes up, and a signed overflow is undefined behaviour, not just a
 * wrong number: ind_smafx (ma_crossover's SMAs) and ma_crossover's EMA seed
 * keep exact int64 sums of up to IND_MAX_PERIOD closes.  So every reader of
 * outside data (CSV bars and trades, .dtob records) refuses a price, size
 * or volume above MARKET_VALUE_MAX = INT64_MAX / IND_MAX_PERIOD, i.e.
 * 92233720.36854775 units, naming the file and line or record.  With both
 * bounded: a window of IND_MAX_PERIOD prices or volumes fits int64; ORB's
 * take-profit (close + 20 x range height) fits int64; vwap_reversion's
 * session sum of (high + low + close) x volume (at most 2.6e32 per bar)
 * fits __int128 for 666,000 bars per session; docs/internals/data.md lists
 * every sum.  This header holds the bound and nothing else.
 */
#ifndef DTO_MARKET_BOUNDS_H
#define DTO_MARKET_BOUNDS_H

#include "core/fx.h"
#include "market/indicators.h"

/* Largest accepted price or volume, in fx units (scale 10^8). */
#define MARKET_VALUE_MAX ((fx)(INT64_MAX / IND_MAX_PERIOD))
/* The same as text, for messages. */
#define MARKET_VALUE_MAX_TEXT "92233720.36854775"

_Static_assert(MARKET_VALUE_MAX == 9223372036854775LL,
               "MARKET_VALUE_MAX_TEXT must follow IND_MAX_PERIOD");

/* The name of the first of a bar's open, high, low, close and volume that
 * is above MARKET_VALUE_MAX, or NULL when every one is in range. */
static inline const char *market_bar_over(const bar *b) {
  if (b->open > MARKET_VALUE_MAX)
    return "open";
  if (b->high > MARKET_VALUE_MAX)
    return "high";
  if (b->low > MARKET_VALUE_MAX)
    return "low";
  if (b->close > MARKET_VALUE_MAX)
    return "close";
  if (b->volume > MARKET_VALUE_MAX)
    return "volume";
  return NULL;
}

#endif
