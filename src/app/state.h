/* state.h - the run state that must survive restarts (the kill switch), and
 * the lock that makes `dto run` a single instance per state folder.
 *
 * `dto run` keeps three files in its state folder (run.state_dir, default
 * "var" beside the configuration):
 *   dto.lock   held with an exclusive lock by the running dto, and holding
 *              its pid; the lock, not the pid, says whether a dto runs;
 *   dto.state  the kill switch as "key=value" lines (kill_switch=1, by=...,
 *              at=..., reason=...), mode 0600;
 *   dto.pid    the running dto's pid, for people and scripts only.
 * dto.state and dto.pid are replaced atomically (fileio_write_atomic:
 * temporary file, fsync, rename, fsync of the folder).  A person engages or
 * releases the switch with `dto kill`, which writes the file and signals the
 * process that holds the lock; the process reads the file at start and on
 * SIGUSR2, so a release always comes from the file a person wrote, never
 * from a bare signal.  A state file that is missing means released (the
 * first start); one that is empty, damaged, too large or not a regular file
 * means engaged (fail closed).
 */
#ifndef DTO_APP_STATE_H
#define DTO_APP_STATE_H

#include "app/config.h"

/* Largest state file read, in bytes; a larger one is damaged. */
#define STATE_FILE_MAX 4096

typedef struct run_state {
  bool killed;
  char by[64];
  char at[40];
  char reason[160];
} run_state;

/* The state folder of cfg into buf. */
void state_dir(const dto_config *cfg, char *buf, size_t cap);

/* Parse the text of a state file (len bytes, need not be NUL-terminated;
 * name is used in messages).  The text must be non-empty, at most
 * STATE_FILE_MAX bytes of printable ASCII, tabs and line ends, end with a
 * newline, and hold exactly one kill_switch line (0 or 1); '#' lines and
 * blank lines are comments; by, at and reason are kept (cut to their
 * fields); unknown keys are ignored (a newer dto may write them).
 * Returns 0, or DTO_EPARSE with "NAME[:LINE]: reason" in err; on failure
 * *st is cleared with killed = true (fail closed). */
int state_parse(const char *name, const char *text, size_t len, run_state *st,
                char *err, size_t cap);

/* Write the file text for st into buf (cap >= 512 is always enough; values
 * keep printable ASCII only); returns its length, or 0 when cap is too
 * small.  state_parse of the text gives st back. */
size_t state_format(const run_state *st, char *buf, size_t cap);

/* Read dir/dto.state.  A missing file (or folder) is the default state:
 * released, returns 0.  Anything else that is not a valid file fails
 * closed: *st is engaged and the code is DTO_EPARSE (empty, truncated,
 * garbage), DTO_ETOOBIG (larger than STATE_FILE_MAX), DTO_EINVAL (not a
 * regular file: a FIFO is never waited on) or DTO_EIO, with a message
 * naming the file in err. */
int state_read(const char *dir, run_state *st, char *err, size_t cap);

/* Write dir/dto.state atomically with mode 0600 (creating dir, 0700). */
int state_write(const char *dir, const run_state *st, char *err, size_t cap);

/* Write our pid to dir/dto.pid atomically; remove it with
 * state_pid_remove.  The file is informational: nothing in dto trusts it
 * (see state_lock_holder). */
int state_pid_write(const char *dir, char *err, size_t cap);
void state_pid_remove(const char *dir);

/* Take the single-instance lock of the state folder dir (created 0700):
 * an exclusive, non-blocking POSIX record lock (fcntl F_SETLK) on
 * dir/dto.lock (created 0600), which then holds our pid.  On success *fd_out
 * is the lock's descriptor: keep it open for as long as the process runs and
 * give it to state_unlock at the end (exiting or dying releases it too, so
 * a crash never leaves a stale lock).  Returns DTO_EBUSY, with a message
 * naming the holder's pid, when another process holds the lock; DTO_EINVAL
 * when dto.lock is not a regular file; or an I/O code.
 *
 * POSIX locks belong to the process: closing any descriptor of dto.lock in
 * the holding process drops the lock, so the holder must never open that
 * file again (state_lock_holder is for other processes), and a second
 * state_lock in the same process does not fail. */
int state_lock(const char *dir, int *fd_out, char *err, size_t cap);

/* Release the lock taken by state_lock (the pid is cleared from the file,
 * which stays); fd < 0 does nothing. */
void state_unlock(int fd);

/* Who holds the lock of dir, as the kernel reports it (never from a file a
 * dead process left behind): 0 with *pid > 0 for the holder's pid; 0 with
 * *pid == 0 when nobody holds it (or there is no lock file yet); DTO_EBUSY
 * when it is held by a process whose pid is not visible here (another pid
 * namespace); DTO_EINVAL or an I/O code (message in err) when the lock file
 * cannot be checked.  Not for the holder itself (see state_lock). */
int state_lock_holder(const char *dir, long *pid, char *err, size_t cap);

#endif
