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

/* Run every check of c for symbols, printing one line per check to out
 * (as JSON lines with json).  Returns 0 when everything passed, 1 when a
 * check failed (each failure's line says why).  The secret is never
 * printed. */
int alpaca_check(const alpaca_conf *c, const char *const *symbols,
                 size_t nsymbols, FILE *out, bool json);

#endif
