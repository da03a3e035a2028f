/* gen.h - a deterministic synthetic intraday feed.
 *
 * Demos, tests and benchmarks need realistic-looking 1-minute bars without
 * shipping market data.  The generator produces, for each symbol and each
 * regular session of a trading calendar, bars with the features strategies
 * react to: a U-shaped intraday volume profile, volatility clustering
 * (GARCH(1,1) variance), overnight gaps, and regimes that alternate between
 * mean reversion and trends.  Prices are on a 0.01 tick, volumes whole
 * shares, and every bar passes bar_check.
 *
 * Output is a pure function of the options: the process uses its own PRNG
 * (xoshiro256**, one stream per symbol seeded from the seed and the symbol's
 * index) and only IEEE-754 +, -, *, / and sqrt (plus an own logarithm built
 * from them), so the bars are byte-identical on every machine and libm.  It
 * is not a model of any real market and must never be mistaken for data.
 */
#ifndef DTO_MARKET_GEN_H
#define DTO_MARKET_GEN_H

#include "core/prelude.h"
#include "market/calendar.h"
#include "market/event.h"
#include "market/reader.h"

#define GEN_MAX_DAYS 10000
#define GEN_MAX_BARS 50000000 /* total bars, all symbols */

typedef struct gen_opts {
  uint64_t seed;
  const char *const *symbols; /* not owned; each valid per symbol_valid */
  size_t nsymbols;
  int64_t start_day;  /* exchange-local date, days since epoch; the first
                         session is on or after it */
  int days;           /* trading days */
  dto_time bar_dur;   /* default 60 s */
  const calendar *cal; /* NULL = us_equity */
} gen_opts;

/* seed 42, no symbols, start 2025-01-06, 5 days, 60 s bars, cal NULL. */
void gen_opts_init(gen_opts *o);

/* Append to *out the bars of every symbol for o->days sessions: within a
 * session, bars [open, open + dur), ... up to the close (a last partial
 * interval is dropped), merged in time order, then symbol index order; sym
 * is the index into o->symbols and dur is o->bar_dur.  The caller owns out.
 *
 * Returns 0, or DTO_EINVAL for no or invalid or duplicate symbols, days
 * outside 1..GEN_MAX_DAYS or a bar duration that is not a positive whole
 * number of seconds up to one day; DTO_ETOOBIG when the output would exceed
 * GEN_MAX_BARS; DTO_ERANGE when the calendar has no session for 30 days in
 * a row.  On failure *out is unchanged. */
int gen_bars(const gen_opts *o, bar_vec *out);

#endif
