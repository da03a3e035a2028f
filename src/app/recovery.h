/* recovery.h - resuming `dto run` from its journal after a stop or a crash.
 *
 * Before the journal's writer thread takes the store, recovery_load() reads
 * what the store holds: the last event's time, every position row and every
 * order.  Once the engine exists, recovery_apply() restores the positions
 * (and with them cash, realised P&L and fees), continues every strategy's
 * client order id sequence past the ids already issued, and restores the
 * working orders, which go to the paper exchange again (its book lives in
 * the process, so the journal is its record too).  The feed then resumes
 * at the last journaled time.
 */
#ifndef DTO_APP_RECOVERY_H
#define DTO_APP_RECOVERY_H

#include "app/runner.h"
#include "store/store.h"

typedef struct recovery {
  int64_t last_seq;    /* 0: an empty journal, nothing to recover */
  dto_time last_time;  /* of the last event */
  store_position *pos;
  size_t npos, poscap;
  store_order *ord;
  size_t nord, ordcap;
} recovery;

/* Read the store (the caller still owns it).  Returns 0 or a store error
 * with a message in err. */
int recovery_load(store *s, recovery *rc, char *err, size_t cap);
/* Restore into r's engine.  A row naming an account, strategy or symbol
 * this configuration does not have is an error: dto refuses to trade on a
 * journal it cannot fully account for. */
int recovery_apply(runner *r, const recovery *rc, char *err, size_t cap);
void recovery_release(recovery *rc);

#endif
