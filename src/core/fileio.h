/* fileio.h - the two file rules every module that touches outside files
 * follows: open for reading only what is a regular file (never block on a
 * FIFO or a device), and replace a file atomically (write a temporary file,
 * fsync it, rename it over the target, fsync the folder).
 *
 * This module holds the one implementation of each rule, so the state file,
 * the pid file, the data files and the configuration all behave the same.
 * It does not parse anything and keeps no state between calls.
 */
#ifndef DTO_CORE_FILEIO_H
#define DTO_CORE_FILEIO_H

#include <sys/stat.h>
#include <sys/types.h>

#include "core/prelude.h"

/* Open path read-only (O_CLOEXEC) without blocking: the open itself uses
 * O_NONBLOCK, so a FIFO with no writer cannot hang the caller, then fstat
 * refuses anything that is not a regular file, and blocking mode is
 * restored.  On success *fd is the caller's to close and *st (may be NULL)
 * gets the file's status.
 *
 * Errors (err gets one line naming the path, may be NULL when cap is 0):
 * the errno of open mapped with dto_from_errno ("PATH: cannot open:
 * REASON"; DTO_ENOENT for a missing file), DTO_EINVAL for a folder, FIFO,
 * socket or device ("PATH: not a regular file (a FIFO)"). */
int fileio_open_regular(const char *path, int *fd, struct stat *st, char *err,
                        size_t cap);

/* Read the whole regular file at path, at most max bytes, into a new
 * NUL-terminated buffer (*data, the caller frees it; *len excludes the NUL).
 * Errors as fileio_open_regular, plus DTO_ETOOBIG ("PATH: larger than MAX
 * bytes") and DTO_EIO for a failed read. */
int fileio_read_small(const char *path, size_t max, char **data, size_t *len,
                      char *err, size_t cap);

/* A file being replaced atomically.  Opaque. */
typedef struct fileio_atomic fileio_atomic;

/* Start replacing path: creates a uniquely named temporary file
 * "PATH.tmp.XXXXXX" in the same folder with exactly mode (umask does not
 * apply).  Two writers of the same path never share a temporary file; the
 * last rename wins.  On success *out owns the temporary file until
 * fileio_atomic_commit or fileio_atomic_abort.  Errors: the errno of the
 * creation, mapped ("PATH: cannot create a temporary file: REASON"), or
 * DTO_EINVAL for a path too long. */
int fileio_atomic_open(const char *path, mode_t mode, fileio_atomic **out,
                       char *err, size_t cap);

/* Append n bytes (buffered).  A write error is kept and reported by
 * fileio_atomic_commit; later appends are then ignored. */
void fileio_atomic_write(fileio_atomic *a, const void *data, size_t n);

/* Flush, fsync the temporary file, rename it over the target and fsync the
 * folder, so after a crash the target is the old file or the whole new one,
 * and the new name survives a power loss once this returns 0.  Frees a
 * whatever happens; on failure the temporary file is removed, the target is
 * untouched (unless only the folder fsync failed: then the new file is in
 * place but its durability is not known) and err names the path. */
int fileio_atomic_commit(fileio_atomic *a, char *err, size_t cap);

/* Give up: remove the temporary file and free a.  NULL does nothing. */
void fileio_atomic_abort(fileio_atomic *a);

/* The whole sequence for a small file already in memory. */
int fileio_write_atomic(const char *path, const void *data, size_t len,
                        mode_t mode, char *err, size_t cap);

/* fsync the folder that holds path (its directory entry), so a rename or a
 * creation in it is durable.  0 or the errno mapped with dto_from_errno. */
int fileio_sync_dir(const char *path);

/* Make dir and its missing parents (mode 0755, as `mkdir -p`).  0, or
 * DTO_EINVAL for an empty or too long path, or the errno mapped. */
int fileio_mkdir_p(const char *dir);

#endif
