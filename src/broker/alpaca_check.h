/* alpaca_check.h - `dto broker check` for Alpaca: what a person needs to
 * know before dto trades through an account, found without placing an
 * order.
 *
 * It checks, in order: the credentials and the account (status, blocks,
 * cash, buying power, pattern day trader), the market clock, that every
 * configured symbol is an active, tradable asset (and whether it is
 * shortable and fractionable), the market data REST API, and the two
 * streams (connect and authenticate).  Each check is timed (round trip,
 * or connect + authentication for a stream).  Nothing is written to the
 * account.
 */
#ifndef DTO_BROKER_ALPACA_CHECK_H
#define DTO_BROKER_ALPACA_CHECK_H

#include "broker/alpaca_conf.h"
#include "market/calendar.h"

/* Days of Alpaca's calendar compared with dto's. */
#define ALPACA_CHECK_CALENDAR_DAYS 30

/* Run every check of c for symbols, printing one line per check to out
 * (as JSON lines with json).  With cal (dto's calendar of the configured
 * US equities; may be NULL), Alpaca's calendar (GET /v2/calendar) for the
 * next ALPACA_CHECK_CALENDAR_DAYS days from its clock is compared with it
 * day by day: a session on one side only, or other open or close times
 * (a closure dto does not know, an early close), fails the check with the
 * dates.  Returns 0 when everything passed, 1 when a check failed (each
 * failure's line says why).  The secret is never printed. */
int alpaca_check(const alpaca_conf *c, const char *const *symbols,
                 size_t nsymbols, const calendar *cal, FILE *out, bool json);

/* `dto broker flatten`: at the broker itself, without dto's engine (dto
 * down, or its books not to be trusted), cancel the open orders and close
 * the positions of the configured symbols (all: of the whole account,
 * with Alpaca's cancel-all, DELETE /v2/orders).  Orders first, then each
 * position with DELETE /v2/positions/{symbol} (Alpaca sends the closing
 * market order).  One line per action to out; 0 when every request
 * succeeded, 1 otherwise. */
int alpaca_flatten(const alpaca_conf *c, const char *const *symbols,
                   size_t nsymbols, bool all, FILE *out, bool json);

#endif
