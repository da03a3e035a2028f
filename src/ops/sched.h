/* sched.h - the job scheduler: periodic work of other modules, off the
 * engine thread.
 *
 * Backups, alert evaluation and reports register a job with a schedule
 * expression; whoever drives the table calls sched_run_due() with the time
 * of its injected clock, and every job whose time has come runs on that
 * caller's thread.  The scheduler reads no clock and never sleeps: a test
 * drives a simulated week through it in milliseconds, and the service asks
 * sched_next_due() how long it may wait.  It is not for the engine's own
 * exchange-time timers (session open and close, the flatten, the day roll),
 * which are events on the engine thread.
 *
 * Schedule expressions (docs/internals/scheduler.md has the full rules):
 *
 *   "0 2 * * * exchange"         cron: minute hour day-of-month month
 *   "0,30 9-16 * * 1-5 UTC"      day-of-week, then a time zone: exchange
 *                                (the calendar's local time) or UTC
 *   "every 15m"                  every 15 minutes, aligned to the epoch
 *   "at session_close+10m"       on each trading day of the calendar,
 *   "at session_open-5m"         relative to its regular open or close
 *                                (early closes included)
 *
 * Thread-safety: a sched table belongs to one thread; sched_parse() and
 * sched_next() are pure functions, safe anywhere.
 */
#ifndef DTO_OPS_SCHED_H
#define DTO_OPS_SCHED_H

#include "core/log.h"
#include "core/prelude.h"
#include "market/calendar.h"

/* Longest schedule expression accepted, in bytes. */
#define SCHED_TEXT_MAX 200
/* Longest job name, in bytes. */
#define SCHED_NAME_MAX 64
/* Largest offset of a session anchor ("at session_close+24h"). */
#define SCHED_ANCHOR_MAX DTO_NS_PER_DAY

enum sched_kind {
  SCHED_CRON,     /* five cron fields and a time zone */
  SCHED_EVERY,    /* every `step` ns since the epoch */
  SCHED_AT_OPEN,  /* session open + offset, trading days only */
  SCHED_AT_CLOSE, /* session close + offset, trading days only */
  SCHED_KIND_COUNT
};

enum sched_tz {
  SCHED_TZ_EXCHANGE, /* America/New_York for us_equity and fx, UTC for crypto */
  SCHED_TZ_UTC,
  SCHED_TZ_COUNT
};

/* A parsed schedule: a plain value, copied freely.  Fill it only with
 * sched_parse(). */
typedef struct sched_expr {
  enum sched_kind kind;
  enum sched_tz tz;              /* SCHED_CRON */
  uint64_t minutes;              /* bit m: minute m (0..59) */
  uint32_t hours;                /* bit h: hour h (0..23) */
  uint32_t mdays;                /* bit d: day of month d (1..31) */
  uint16_t months;               /* bit m: month m (1..12) */
  uint8_t wdays;                 /* bit w: weekday w (0 = Sunday .. 6) */
  bool mday_star;                /* the day-of-month field began with '*' */
  bool wday_star;                /* the day-of-week field began with '*' */
  dto_time step;                 /* SCHED_EVERY: > 0 */
  dto_time offset;               /* SCHED_AT_*: |offset| <= SCHED_ANCHOR_MAX */
  char text[SCHED_TEXT_MAX + 1]; /* the expression as written */
} sched_expr;

/* Parse the NUL-terminated text into *out.  On failure returns DTO_EPARSE
 * (DTO_ETOOBIG when longer than SCHED_TEXT_MAX) and, when err is not NULL,
 * writes a message for an operator that quotes the expression and names
 * the field and the reason, e.g.
 *   "schedule '61 2 * * * UTC': minute 61 out of range 0-59".
 * *out is written only on success. */
int sched_parse(const char *text, sched_expr *out, char *err, size_t errcap);

/* The first firing time of e strictly after `after`, exact to the
 * nanosecond, into *out.  cal is the instrument calendar; it may be NULL
 * for UTC cron and `every` expressions only (DTO_EINVAL otherwise).  Local
 * time across daylight saving changes: a local time skipped in spring is
 * moved one hour later (02:30 fires at 03:30 daylight time, once); a local
 * time repeated in autumn fires once, at its first (daylight) instant.
 * DTO_ERANGE when `after` lies outside 1900-01-01..2199-12-31 UTC (or an
 * `every` firing would overflow dto_time); DTO_ENOENT when none is found:
 * a cron expression with no match in the next ten years or before
 * 2201-01-01, a session anchor with no session in the next 40 days.  *out
 * is written only on success. */
int sched_next(const sched_expr *e, const calendar *cal, dto_time after,
               dto_time *out);

/* ---- the job table ---------------------------------------------------- */

typedef struct sched sched;

/* What a job is told when it runs. */
typedef struct sched_firing {
  const char *name; /* the job's name; valid during the call */
  dto_time due;     /* the firing being run (the latest one due) */
  dto_time now;     /* the time sched_run_due() was given */
  uint64_t missed;  /* earlier firings skipped because the caller was late */
} sched_firing;

/* A job.  ctx is the pointer given to sched_add().  A negative return is
 * counted and logged as a failure; the job stays scheduled. */
typedef int (*sched_fn)(void *ctx, const sched_firing *f);

/* Counters of one job. */
typedef struct sched_job_info {
  dto_time next;     /* the next firing; INT64_MAX when it has none */
  uint64_t runs;     /* times fn was called */
  uint64_t missed;   /* firings skipped in all */
  uint64_t failures; /* calls that returned < 0 */
} sched_job_info;

/* A new empty table.  cal (not owned; static calendars are fine) is the
 * calendar exchange-time and session expressions use, NULL when there is
 * none.  lg (not owned, may be NULL) receives "sched.missed",
 * "sched.failed" and "sched.stopped" lines.  Jobs fire at their first
 * firing strictly after `start`, or after the last `now` given to
 * sched_run_due() for jobs added later. */
sched *sched_new(const calendar *cal, dto_log *lg, dto_time start);
/* Free s and its jobs; sched_free(NULL) does nothing. */
void sched_free(sched *s);

/* Register a job.  name is copied (1..SCHED_NAME_MAX bytes, unique in s);
 * e is copied; ctx is not owned and must outlive the job.  Errors:
 * DTO_EINVAL (empty or too long name, fn NULL, a calendar needed and
 * missing), DTO_EEXIST (name taken), DTO_ESTATE (called from inside a
 * job), DTO_ERANGE / DTO_ENOENT (the expression has no next firing). */
int sched_add(sched *s, const char *name, const sched_expr *e, sched_fn fn,
              void *ctx);

/* Run every job due at `now` (next firing <= now), in the order of the
 * firing being run, then of registration; each job at most once per call.
 * A job due several times since its last run runs once, for the latest
 * firing, and the earlier ones are counted as missed and logged.  An
 * earlier `now` than before is treated as the earlier value (time never
 * goes backward).  Returns the number of jobs run (>= 0), or DTO_ESTATE when
 * called from inside a job. */
int sched_run_due(sched *s, dto_time now);

/* The earliest next firing of any job; INT64_MAX when there is none.  The
 * caller may wait until then. */
dto_time sched_next_due(const sched *s);

/* Counters of job `name` into *out; DTO_ENOENT when there is no such job. */
int sched_job(const sched *s, const char *name, sched_job_info *out);

#endif
