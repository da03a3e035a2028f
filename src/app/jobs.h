/* jobs.h - the service's job scheduler thread.
 *
 * Periodic work of other modules (the status report today; backups, alert
 * evaluation and reports as they land) runs here, off the engine thread,
 * on the schedule table of src/ops/sched.h.  Jobs read the service only
 * through its read snapshots (svc_snap_get) and change trading only
 * through the command path (svc_submit), like any other edge.
 *
 * Time is the session's: with a simulated clock (a replay) the jobs'
 * clock is the latest snapshot's engine time, so "every 1m" means a
 * minute of the replayed market and a replay at speed 0 runs a day's jobs
 * in a moment; with the real clock it is the real time.  Jobs log to
 * their own dto_log (same file, same format) whose clock is that one.
 *
 * Use: jobs_new, jobs_add for each job, jobs_start; jobs_free stops the
 * thread (a job running finishes first).
 */
#ifndef DTO_APP_JOBS_H
#define DTO_APP_JOBS_H

#include "app/svc.h"
#include "core/log.h"
#include "ops/sched.h"

typedef struct jobs jobs;

/* A table for the service sv (not owned), logging to logf at min (logf
 * may be NULL), with the calendar cal for exchange-time schedules (may be
 * NULL) and the real clock or the snapshots' (real_clock false). */
jobs *jobs_new(svc *sv, const calendar *cal, FILE *logf, enum log_level min,
               bool real_clock);
/* Register job name on schedule expr (sched_parse's syntax) before
 * jobs_start.  0, or a negative code with a message in err naming the
 * schedule and the reason. */
int jobs_add(jobs *j, const char *name, const char *expr, sched_fn fn,
             void *ctx, char *err, size_t cap);
/* Start the thread.  0 or DTO_ENOMEM. */
int jobs_start(jobs *j);
/* The jobs' log (for job functions). */
dto_log *jobs_log(jobs *j);
/* The service (for job functions). */
svc *jobs_svc(jobs *j);
/* Stop and free (NULL does nothing). */
void jobs_free(jobs *j);

/* The built-in status report: one "status" log line from the latest
 * snapshot (state, kill switch, maintenance, counters, equity and day P&L
 * per account).  ctx is the jobs table. */
int jobs_status_report(void *ctx, const sched_firing *f);

#endif
