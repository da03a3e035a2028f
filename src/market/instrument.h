/* instrument.h - what can be traded: symbol, asset class, tick, lot, currency
 * and trading calendar.
 *
 * A run has one instrument table; events and orders refer to instruments by
 * index (sym_id).  The table is built at start-up from the configuration and
 * does not change while the engine runs.
 */
#ifndef DTO_MARKET_INSTRUMENT_H
#define DTO_MARKET_INSTRUMENT_H

#include "core/fx.h"
#include "market/event.h"

#define SYMBOL_MAX 16 /* bytes, including the NUL */

enum asset_class { ASSET_EQUITY, ASSET_CRYPTO, ASSET_CLASS_COUNT };

struct calendar;

typedef struct instrument {
  char symbol[SYMBOL_MAX];
  enum asset_class asset_class;
  fx tick;      /* minimum price increment, > 0 */
  fx lot;       /* minimum quantity increment, > 0 */
  char currency[4];
  const struct calendar *cal; /* not owned */
  bool shortable;
} instrument;

typedef struct instrument_table {
  instrument *v; /* owned */
  size_t n, cap;
} instrument_table;

void instruments_init(instrument_table *t);
void instruments_release(instrument_table *t);
/* Add a copy of ins; DTO_EEXIST when the symbol is already there, DTO_EINVAL
 * when the symbol is empty or too long or tick/lot are not positive.  On
 * success *id (may be NULL) gets its index. */
int instruments_add(instrument_table *t, const instrument *ins, sym_id *id);
/* Index of symbol, or SYM_NONE. */
sym_id instruments_find(const instrument_table *t, const char *symbol);
/* A symbol is 1-15 characters of A-Z, 0-9, '.', '-', '/'. */
bool symbol_valid(const char *s);
const char *asset_class_name(enum asset_class a);
int asset_class_parse(const char *s, enum asset_class *out);

#endif
