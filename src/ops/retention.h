/* retention.h - which backups to keep: grandfather-father-son retention
 * over backup chains.
 *
 * Backups come in chains.  A full backup stands alone; an incremental
 * depends on the previous full or incremental of its chain, a log backup
 * (the journal's tail, every 15 minutes) on the previous backup of any kind.
 * Each backup names the one it depends on (its parent), so the backups form
 * a forest whose roots are the full ones.  ret_plan() decides, at a time
 * `now` given by the caller, which backups to keep and which to delete:
 *
 *   1. Buckets.  A backup's local time is its UTC time plus utc_offset_s.
 *      Its day is the local calendar date, its week the ISO 8601 week
 *      (Monday to Sunday, labelled with its ISO week-year: 2026-W53 runs
 *      from 2026-12-28 to 2027-01-03), its month the calendar month.
 *   2. daily N: for each of the N calendar days ending with the day of
 *      `now` (that day and the N-1 before it), the newest full backup of
 *      that day is kept.  The days are calendar days, not days that have a
 *      backup: a day without a full keeps nothing, and the window does not
 *      reach further back for it.  weekly N and monthly N: the same with
 *      the N ISO weeks ending with the week of `now`, and the N months
 *      ending with its month.  Only full backups count; a full dated after
 *      the bucket of `now` is in no window (rule 3 keeps it).
 *   3. recent: every backup with time > now - keep_recent is kept, whatever
 *      its kind, so that point-in-time recovery over that span always
 *      works.  This includes every backup dated after `now` (a clock that
 *      went backwards), also with keep_recent 0.
 *   4. The newest full backup (greatest time) is always kept, whatever the
 *      policy says, also with daily = weekly = monthly = 0.  So is the
 *      newest backup of any kind (the latest restore point, and the tip
 *      of the chain the next incremental or log will extend), with its
 *      chain by rule 6: a keep_recent shorter than the interval between
 *      backups, or backups that stopped a while ago, never break the
 *      chain in use nor lose the latest point.
 *   5. A backup whose parent is not in the list is kept and reported, and
 *      so is every backup whose chain leads to it: nothing is guessed about
 *      a chain whose full is unknown.
 *   6. Every kept backup's parent is kept, and so on up to its full ("needed
 *      by"): a kept backup can always be restored.
 *   7. Everything else is deleted.  In particular incrementals and logs
 *      older than keep_recent that no kept backup depends on go, so an old
 *      chain shrinks to its full (when that is kept), and a chain whose
 *      full is outside every window and needed by nothing goes entirely.
 *
 * Ties in time are broken by id: of two backups with the same time, the one
 * whose id is greater (strcmp) counts as the newer, so the answer never
 * depends on the order of the list.
 *
 * It is a pure function: it reads no clock, touches no file and keeps no
 * state.  It is not for deciding when to take backups (that is the
 * scheduler's, ops/sched.h) nor for deleting them (the caller does, from
 * the answer).  Time is O(n log n); memory O(n).
 *
 * Thread-safety: pure functions; any thread.
 */
#ifndef DTO_OPS_RETENTION_H
#define DTO_OPS_RETENTION_H

#include "core/prelude.h"

/* Longest backup id, in bytes (the arrays below hold it and a NUL). */
#define RET_ID_MAX 63
/* Size of a reason text, NUL included; always enough for every reason. */
#define RET_WHY_MAX 160
/* Largest |utc_offset_s|: 18 hours, the ISO 8601 range. */
#define RET_OFFSET_MAX (18 * 3600)

enum ret_kind {
  RET_FULL,        /* stands alone; parent "" */
  RET_INCREMENTAL, /* depends on the previous full or incremental */
  RET_LOG,         /* depends on the previous backup of its chain */
  RET_KIND_COUNT
};

/* "full", "incremental", "log"; "?" for anything else. */
const char *ret_kind_name(enum ret_kind k);

/* One backup, as the caller lists it: a plain value. */
typedef struct ret_backup {
  char id[RET_ID_MAX + 1]; /* unique, non-empty, NUL-terminated */
  enum ret_kind kind;
  dto_time time;               /* when it was taken, UTC ns */
  char parent[RET_ID_MAX + 1]; /* the id it depends on; "" for a full */
} ret_backup;

/* The policy.  Counts are numbers of calendar buckets (>= 0); 0 turns the
 * rule off. */
typedef struct ret_policy {
  int daily;            /* days, default 30 */
  int weekly;           /* ISO weeks, default 12 */
  int monthly;          /* months, default 12 */
  dto_time keep_recent; /* ns, >= 0, default 24 h */
  int utc_offset_s;     /* local time = UTC + this; |.| <= RET_OFFSET_MAX */
} ret_policy;

/* Why a backup is kept: bits of ret_why.mask.  A deleted backup has none. */
enum {
  RET_WHY_RECENT = 1 << 0,  /* younger than keep_recent, or in the future */
  RET_WHY_NEWEST = 1 << 1,  /* the newest full backup */
  RET_WHY_LATEST = 1 << 2,  /* the newest backup, when not a full one */
  RET_WHY_DAILY = 1 << 3,   /* newest full of a day in the daily window */
  RET_WHY_WEEKLY = 1 << 4,  /* ... of an ISO week in the weekly window */
  RET_WHY_MONTHLY = 1 << 5, /* ... of a month in the monthly window */
  RET_WHY_UNKNOWN = 1 << 6, /* its chain leads to an unknown parent */
  RET_WHY_NEEDED = 1 << 7   /* only because a kept backup depends on it */
};

/* The reason for one backup, for `dto backup list` and logs.  text is the
 * reasons that hold, in the order of the bits above, joined by ", ":
 *   "recent", "newest full", "latest backup", "daily 2026-12-07",
 *   "weekly 2026-W49",
 *   "monthly 2026-12", "unknown parent ID" (ID: the missing id its chain
 *   leads to), or alone "needed by ID" (ID: the kept backup that depends
 *   on it directly); "" for a backup to delete. */
typedef struct ret_why {
  unsigned mask;
  char text[RET_WHY_MAX];
} ret_why;

/* The defaults: daily 30, weekly 12, monthly 12, keep_recent 24 h, UTC. */
void ret_policy_defaults(ret_policy *p);

/* Decide, at `now`, which of the n backups v[0..n-1] to keep, by the rules
 * at the top of this file.  keep[i] is set to true for a backup to keep and
 * false for one to delete; when why is not NULL, why[i] gets the reason.
 * v, keep and why are the caller's (n elements each); nothing is retained.
 *
 * Returns the number of backups whose parent is not in v (>= 0; 0 for a
 * healthy list), each kept with RET_WHY_UNKNOWN, so the caller can report
 * them.  Errors, with a message in err (cap bytes, when err is not NULL)
 * that names the backup: DTO_EINVAL for an invalid policy (a negative
 * count or keep_recent, an offset beyond RET_OFFSET_MAX), an empty id or
 * one not terminated within its array, two backups with the same id, an
 * unknown kind, a full backup with a parent or another backup without one,
 * and a dependency cycle (a backup that depends on itself included).
 * keep and why are written only on success. */
int ret_plan(const ret_backup *v, size_t n, const ret_policy *p, dto_time now,
             bool *keep, ret_why *why, char *err, size_t cap);

#endif
