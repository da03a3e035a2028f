/* paper.h - the built-in paper exchange as a broker.
 *
 * A broker_ops table over the matcher in engine/match.h: orders are filled
 * against the market data the paper exchange is shown, with the fill model,
 * slippage, volume cap and latency of its configuration.
 */
#ifndef DTO_BROKER_PAPER_H
#define DTO_BROKER_PAPER_H

#include "broker/broker.h"
#include "engine/match.h"

extern const broker_ops paper_broker_ops;

/* The matcher is the context to pass with paper_broker_ops. */
static inline void *paper_ctx(matcher *m) { return m; }

#endif
