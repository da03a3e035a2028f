/* event.c - market event helpers. */
#include "market/event.h"

const char *bar_check(const bar *b) {
  if (b->open <= 0 || b->high <= 0 || b->low <= 0 || b->close <= 0)
    return "prices must be positive";
  if (b->high < b->low)
    return "high below low";
  if (b->open > b->high || b->open < b->low)
    return "open outside high-low range";
  if (b->close > b->high || b->close < b->low)
    return "close outside high-low range";
  if (b->volume < 0)
    return "negative volume";
  return NULL;
}
