/* risk.h - the pre-trade risk gate.
 *
 * Every order, whoever made it, passes risk_check() before it can reach a
 * broker.  This is the single choke point; the risk issue fills it with
 * limits.  For now it only checks what no configuration may allow: a
 * positive quantity and a price where the order type needs one.
 */
#ifndef DTO_ENGINE_RISK_H
#define DTO_ENGINE_RISK_H

#include "engine/order.h"

enum risk_reason {
  RISK_OK = 0,
  RISK_BAD_QTY,   /* quantity not positive */
  RISK_BAD_PRICE, /* missing or non-positive price for the order type */
  RISK_REASON_COUNT
};

typedef struct risk risk;

risk *risk_new(void);
void risk_free(risk *r);
/* RISK_OK, or the reason the order is refused.  Counts decisions. */
enum risk_reason risk_check(risk *r, const order *o);
const char *risk_reason_name(enum risk_reason r);
/* Number of refusals with reason r so far. */
uint64_t risk_refusals(const risk *r, enum risk_reason why);

#endif
