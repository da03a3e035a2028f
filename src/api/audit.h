/* audit.h - the audit log: who did what, from where, when, and how it
 * ended; each record hash-chained to the one before it.
 *
 *   hash(n) = SHA-256(prev_hash "\n" seq "\n" time "\n" actor "\n" address
 *                     "\n" action "\n" target "\n" outcome "\n" detail)
 *
 * in lower-case hex, with prev_hash of the first record 64 zeros and the
 * numbers in decimal.  Changing, removing or reordering any record breaks
 * the chain at that record; audit_verify names the first one.
 *
 * Not for: the journal's command events (the engine's), the log.
 */
#ifndef DTO_API_AUDIT_H
#define DTO_API_AUDIT_H

#include "store/store.h"

/* Append one record (time: now).  detail: JSON text or NULL for "{}".
 * 0 or the store's error. */
int audit_record(store *s, dto_time now, const char *actor,
                 const char *address, const char *action, const char *target,
                 const char *outcome, const char *detail);

/* The hash of record a given its prev_hash (into out, 65 bytes). */
void audit_hash(const store_audit *a, char out[65]);

typedef struct audit_check {
  int64_t records;  /* records read */
  int64_t bad_seq;  /* the first broken record, 0 when none */
  char why[200];    /* what is wrong with it */
} audit_check;

/* Walk the whole chain: 0 with c->bad_seq 0 when every record holds,
 * 0 with c->bad_seq set at the first broken one, or the store's error. */
int audit_verify(store *s, audit_check *c);

#endif
