/* alloc.c - allocation wrappers that abort on out-of-memory. */
#include "core/alloc.h"

static _Noreturn void oom(size_t n) {
  fprintf(stderr, "dto: out of memory allocating %zu bytes\n", n);
  fflush(stderr);
  abort();
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    oom(n);
  return p;
}

void *xcalloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p)
    oom(count * size);
  return p;
}

void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q)
    oom(n);
  return q;
}

void *xreallocarray(void *p, size_t count, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(count, size, &n))
    oom(SIZE_MAX);
  return xrealloc(p, n);
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *d = xmalloc(len + 1);
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

void *xgrow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return p;
  size_t c = *cap ? *cap : 8;
  while (c < need) {
    if (c > SIZE_MAX / 2)
      oom(SIZE_MAX);
    c *= 2;
  }
  p = xreallocarray(p, c, elem);
  *cap = c;
  return p;
}
