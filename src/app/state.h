/* state.h - the run state that must survive restarts: the kill switch.
 *
 * `dto run` keeps two files in its state folder (run.state_dir, default
 * "var" beside the configuration): dto.pid, the running process, and
 * dto.state, the kill switch as "key=value" lines (kill_switch=1, by=...,
 * at=..., reason=...).  The state file is written atomically (temporary
 * file, fsync, rename) with mode 0600.  A person engages or releases the
 * switch with `dto kill`, which writes the file and signals the process;
 * the process reads the file at start and on SIGUSR2, so a release always
 * comes from the file a person wrote, never from a bare signal.
 */
#ifndef DTO_APP_STATE_H
#define DTO_APP_STATE_H

#include "app/config.h"

typedef struct run_state {
  bool killed;
  char by[64];
  char at[40];
  char reason[160];
} run_state;

/* The state folder of cfg into buf. */
void state_dir(const dto_config *cfg, char *buf, size_t cap);
/* Read dir/dto.state; a missing file is the default state (not killed).
 * DTO_EIO / DTO_EPARSE with a message for an unreadable or bad file. */
int state_read(const char *dir, run_state *st, char *err, size_t cap);
/* Write dir/dto.state atomically (creating dir). */
int state_write(const char *dir, const run_state *st, char *err, size_t cap);
/* Write our pid to dir/dto.pid; remove it with state_pid_remove. */
int state_pid_write(const char *dir, char *err, size_t cap);
void state_pid_remove(const char *dir);
/* The pid in dir/dto.pid when that process is alive, else 0. */
long state_pid_read(const char *dir);

#endif
