/* risk.c - the pre-trade gate (structural checks only for now). */
#include "engine/risk.h"

#include "core/alloc.h"

struct risk {
  uint64_t refused[RISK_REASON_COUNT];
  uint64_t checked;
};

risk *risk_new(void) { return xcalloc(1, sizeof(risk)); }
void risk_free(risk *r) { free(r); }

enum risk_reason risk_check(risk *r, const order *o) {
  enum risk_reason why = RISK_OK;
  r->checked++;
  if (o->qty <= 0)
    why = RISK_BAD_QTY;
  else if ((o->type == ORD_LIMIT || o->type == ORD_STOP_LIMIT) &&
           o->limit_price <= 0)
    why = RISK_BAD_PRICE;
  else if ((o->type == ORD_STOP || o->type == ORD_STOP_LIMIT) &&
           o->stop_price <= 0)
    why = RISK_BAD_PRICE;
  else if (o->type == ORD_TRAILING_STOP && o->trail <= 0)
    why = RISK_BAD_PRICE;
  if (why)
    r->refused[why]++;
  return why;
}

static const char *const names[RISK_REASON_COUNT] = {"ok", "bad_qty",
                                                     "bad_price"};

const char *risk_reason_name(enum risk_reason r) {
  return (unsigned)r < RISK_REASON_COUNT ? names[r] : "?";
}

uint64_t risk_refusals(const risk *r, enum risk_reason why) {
  return (unsigned)why < RISK_REASON_COUNT ? r->refused[why] : 0;
}
