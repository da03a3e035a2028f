/* error.c - the one table of error messages. */
#include "core/prelude.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/error.h"

const char *dto_strerror(int err) {
  switch (err) {
  case DTO_OK:
    return "success";
#define DTO__ERR_MSG(name, code, msg)                                          \
  case code:                                                                   \
    return msg;
    DTO_ERRNO_MAP(DTO__ERR_MSG)
#undef DTO__ERR_MSG
  default:
    return "unknown error";
  }
}

const char *dto_errname(int err) {
  switch (err) {
  case DTO_OK:
    return "DTO_OK";
#define DTO__ERR_NAME(name, code, msg)                                         \
  case code:                                                                   \
    return "DTO_E" #name;
    DTO_ERRNO_MAP(DTO__ERR_NAME)
#undef DTO__ERR_NAME
  default:
    return "DTO_EUNKNOWN";
  }
}

int dto_from_errno(int e) {
  switch (e) {
  case 0:
    return DTO_OK;
  case ENOMEM:
    return DTO_ENOMEM;
  case EINVAL:
    return DTO_EINVAL;
  case ERANGE:
    return DTO_ERANGE;
  case ENOENT:
    return DTO_ENOENT;
  case EEXIST:
    return DTO_EEXIST;
  case ENOSPC:
  case EDQUOT:
    return DTO_ENOSPC;
  case EAGAIN:
    return DTO_EAGAIN;
  case EINTR:
    return DTO_EINTERRUPTED;
  case EBUSY:
    return DTO_EBUSY;
  case EFBIG:
    return DTO_ETOOBIG;
  default:
    return DTO_EIO;
  }
}

_Noreturn void dto__assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "dto: assertion failed: %s (%s:%d)\n", expr, file, line);
  fflush(stderr);
  abort();
}

void dto_seterr(char *err, size_t cap, const char *fmt, ...) {
  if (!err || cap == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}
