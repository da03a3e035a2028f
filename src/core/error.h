/* error.h - dto's error codes.
 *
 * Fallible functions return int: 0 on success, one of the negative codes
 * below on failure.  dto_strerror() turns a code into a short message that is
 * safe to show to a user (it never contains paths or internal detail).
 */
#ifndef DTO_ERROR_H
#define DTO_ERROR_H

#define DTO_ERRNO_MAP(X)                                                       \
  X(NOMEM, -1, "out of memory")                                                \
  X(INVAL, -2, "invalid argument")                                             \
  X(RANGE, -3, "value out of range")                                           \
  X(OVERFLOW, -4, "arithmetic overflow")                                       \
  X(PARSE, -5, "malformed input")                                              \
  X(IO, -6, "input/output error")                                              \
  X(NOENT, -7, "not found")                                                    \
  X(EXIST, -8, "already exists")                                               \
  X(STATE, -9, "illegal state transition")                                     \
  X(FULL, -10, "capacity exceeded")                                            \
  X(CLOSED, -11, "market closed")                                              \
  X(REJECT, -12, "rejected")                                                   \
  X(UNSUPPORTED, -13, "not supported")                                         \
  X(TOOBIG, -14, "input too large")                                            \
  X(NOSPC, -15, "no space left on device")                                     \
  X(AGAIN, -16, "try again")                                                   \
  X(CONFIG, -17, "configuration error")                                        \
  X(INTERRUPTED, -18, "interrupted")                                           \
  X(BUSY, -19, "in use by another process")

enum dto_err {
  DTO_OK = 0,
#define DTO__ERR_ENUM(name, code, msg) DTO_E##name = code,
  DTO_ERRNO_MAP(DTO__ERR_ENUM)
#undef DTO__ERR_ENUM
  DTO_E__LAST = -20
};

/* A static message for err (0 or a DTO_E* code); unknown codes give
 * "unknown error".  Never NULL. */
const char *dto_strerror(int err);

/* The symbolic name ("DTO_EPARSE") for err, for logs and tests. */
const char *dto_errname(int err);

/* Map a C errno value to the nearest DTO_E* code. */
int dto_from_errno(int e);

/* Write a printf-style message into err (cap bytes, always terminated,
 * truncated when longer); nothing when err is NULL or cap is 0.  For the
 * "char *err, size_t cap" out-parameters of functions that can fail. */
void dto_seterr(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
