/* backup_jobs.h - the backup section's jobs inside `dto run`: full,
 * incremental, log and configuration backups, the weekly verification of
 * a rotating sample, the monthly verification of the latest full backup,
 * and drills, each on the schedule its backup.*_schedule key gives (off
 * when absent).  They run on the job scheduler's thread (app/jobs.h), never
 * the engine's; each outcome goes to the backup folder's status file (the
 * dto_backup_* metrics), the store's backup_log table and the log, and
 * wakes the monitor so BackupFailed is judged at once.  An incremental or
 * log job with nothing to build on (no full backup yet, or a chain the
 * store no longer fits) takes a full backup instead ("backup.promoted").
 * A PostgreSQL store with an incremental or log schedule is refused.
 */
#ifndef DTO_APP_BACKUP_JOBS_H
#define DTO_APP_BACKUP_JOBS_H

#include "app/config.h"
#include "app/jobs.h"
#include "app/monitor.h"
#include "ops/backup.h"

typedef struct backup_jobs backup_jobs;

/* Add the configured jobs to j (cfg and mon, which may be NULL, outlive
 * the result).  NULL with err set when a schedule cannot be added; an
 * empty set when the configuration has no backup section. */
backup_jobs *backup_jobs_add(jobs *j, const dto_config *cfg, monitor *mon,
                             char *err, size_t cap);
/* After jobs_free: the jobs no longer run. */
void backup_jobs_free(backup_jobs *b);

/* The secondary copies the configuration asks for (pointers into bc);
 * NULL when there are none. */
const backup_secondary *backup_secondary_of(const cfg_backup *bc,
                                            backup_secondary *out);

/* How many backups the weekly verification takes: the ones verified
 * longest ago (never first), so the sample rotates through the folder. */
#define BACKUP_VERIFY_SAMPLE 3

#endif
