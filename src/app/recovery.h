/* recovery.h - resuming `dto run` from its journal after a stop or a crash.
 *
 * Before the journal's writer thread takes the store, recovery_load() reads
 * what the store holds: the latest checkpoint, the last event's time, every
 * position row and every order.
 *
 * With a checkpoint (every journal step ends with one, see runner_sync),
 * recovery_apply() puts the session back exactly as it was at the end of
 * that step: the engine (strategies' state, orders with their peers and
 * bracket prices, books, risk state, day baselines, timers), the paper
 * exchange's book and the commands that were about to be sent.  Then the
 * kill switch of the state file is applied (before anything is sent), the
 * held commands go out, the books are reconciled with the broker, and the
 * feed resumes at the checkpoint's position (recovery_resume_at): the
 * session continues as if it had never stopped.
 *
 * Without one (a journal written by an older dto), the positions and
 * working orders are rebuilt from the tables, strategies start cold, and
 * the feed resumes at the last journaled time; this is logged as
 * "recovery.cold".
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
  void *ckpt; /* the latest checkpoint (NULL: none) */
  size_t ckpt_len;
  int64_t ckpt_seq;
  bool warm; /* recovery_apply restored the checkpoint */
} recovery;

/* Read the store (the caller still owns it).  Returns 0 or a store error
 * with a message in err. */
int recovery_load(store *s, recovery *rc, char *err, size_t cap);
/* Restore into r's engine.  A row naming an account, strategy or symbol
 * this configuration does not have is an error: dto refuses to trade on a
 * journal it cannot fully account for. */
int recovery_apply(runner *r, recovery *rc, char *err, size_t cap);
/* Where the feed resumes after recovery_apply: *first is the index of the
 * next bar in bars.  With a checkpoint the bar before it must be the one
 * the checkpoint consumed last (else DTO_ESTATE with a message: the feed
 * changed since the journal was written); without one, the first bar at or
 * after the last journaled time. */
int recovery_resume_at(const runner *r, const recovery *rc, const bar *bars,
                       size_t nbars, size_t *first, char *err, size_t cap);
void recovery_release(recovery *rc);

#endif
