/* prelude.h - the header every dto source file includes first.
 *
 * It pulls in the fixed-width types and the few macros used everywhere, and
 * the banned-function list.  It holds no state and declares no functions of
 * its own.
 */
#ifndef DTO_PRELUDE_H
#define DTO_PRELUDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DTO_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DTO_LIKELY(x) __builtin_expect(!!(x), 1)
#define DTO_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DTO_UNUSED(x) ((void)(x))
/* Keep a rarely taken slow path out of its hot caller, so that the caller's
 * common case saves no registers for it. */
#define DTO_NOINLINE __attribute__((noinline))
/* For a small step shared by a few entry points on a hot path. */
#define DTO_ALWAYS_INLINE inline __attribute__((always_inline))

/* A broken invariant: print file and line, then abort.  Always on, also in
 * release builds; the engine must never go on in a state it does not
 * understand. */
#define DTO_ASSERT(cond)                                                       \
  do {                                                                         \
    if (DTO_UNLIKELY(!(cond)))                                                 \
      dto__assert_fail(#cond, __FILE__, __LINE__);                             \
  } while (0)

_Noreturn void dto__assert_fail(const char *expr, const char *file, int line);

/* Time: nanoseconds since the Unix epoch, UTC. */
typedef int64_t dto_time;
#define DTO_NS_PER_SEC 1000000000LL
#define DTO_NS_PER_MIN (60LL * DTO_NS_PER_SEC)
#define DTO_NS_PER_HOUR (3600LL * DTO_NS_PER_SEC)
#define DTO_NS_PER_DAY (86400LL * DTO_NS_PER_SEC)

#include "core/banned.h"

#endif
