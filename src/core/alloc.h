/* alloc.h - allocation wrappers.
 *
 * Out of memory is not a recoverable error in dto: these wrappers print a
 * message and abort, so callers never check for NULL.  Size arithmetic is
 * overflow-checked.  Memory from these functions is released with free().
 */
#ifndef DTO_ALLOC_H
#define DTO_ALLOC_H

#include "core/prelude.h"

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray(p, count, size): realloc with an overflow check on count*size. */
void *xreallocarray(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Grow *cap (at least to need, doubling) and realloc *p of elements of size
 * elem.  Used for dynamic arrays. */
void *xgrow(void *p, size_t *cap, size_t need, size_t elem);

#endif
