/* jhooks.h - the engine's history into the journal.
 *
 * Turns engine hook calls (order transitions, fills, risk decisions,
 * alerts) into journal items: an event for each, plus the order, fill and
 * position rows, all copied into the journal's queue and committed by its
 * writer thread with group commit.  The engine thread never waits here;
 * write-ahead happens at wal_release(), which waits for the last ticket.
 */
#ifndef DTO_APP_JHOOKS_H
#define DTO_APP_JHOOKS_H

#include "engine/engine.h"
#include "store/journal.h"

typedef struct jhooks {
  journal *j;                 /* not owned */
  const engine *e;            /* set once the engine exists */
  const instrument_table *ins;
  uint64_t last;              /* the highest ticket put */
  uint64_t refused;           /* items the journal refused */
} jhooks;

/* An order was created (from == to == new), moved from -> to, or changed
 * beside its state (from == to: a quantity, a bracket link, prices, a fill
 * while a cancel is pending; see oms_amend): the order row is written again
 * as it is now, and an "order" event records the change with the bracket's
 * links by client order id (peer, parent, replaced_by) and the entry's
 * exit prices (tp, sl). */
void jhooks_order(jhooks *h, const order *o, enum order_state from,
                  enum order_state to);
void jhooks_fill(jhooks *h, const order *o, fx qty, fx price, fx fee,
                 dto_time t);
void jhooks_risk(jhooks *h, const order *o, const risk_decision *d);
void jhooks_alert(jhooks *h, dto_time t, const char *code, int scope,
                  uint32_t index, const char *msg);
/* A risk mode changed (or a change was refused): a "risk.mode" event with
 * the scope, modes, cause and whether it was legal. */
void jhooks_risk_mode(jhooks *h, dto_time t, const risk_change *c);
/* The service's lifecycle changed (or a change was refused): a "lifecycle"
 * event. */
void jhooks_lifecycle(jhooks *h, dto_time t, const char *from, const char *to,
                      const char *why, bool legal);

/* An operator command was carried out or refused (the one command path,
 * src/app/svc.h): a "command" event with who, what (op and its
 * arguments as a JSON object), the outcome and its message, and the real
 * time it arrived (the event's own time is the engine's). */
void jhooks_command(jhooks *h, dto_time t, const char *who, const char *op,
                    const char *args_json, const char *outcome,
                    const char *message, const char *real_time,
                    const char *account, const char *strategy);

#endif
