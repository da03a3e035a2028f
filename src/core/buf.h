/* buf.h - a growable byte buffer with a hard cap (curl's dynbuf).
 *
 * Every buffer fed from outside has a maximum size; appending past it fails
 * with DTO_ETOOBIG and leaves the buffer as it was.  The content is always
 * NUL-terminated, so b->ptr can be used as a C string.
 */
#ifndef DTO_BUF_H
#define DTO_BUF_H

#include "core/prelude.h"
#include "core/fx.h"

typedef struct dbuf {
  char *ptr;  /* owned; NULL until the first append */
  size_t len; /* bytes used, not counting the NUL */
  size_t cap; /* bytes allocated */
  size_t max; /* hard cap on len */
} dbuf;

/* Start an empty buffer that may hold at most max bytes (plus the NUL).
 * Allocates nothing; the caller owns b and must dbuf_release() it. */
void dbuf_init(dbuf *b, size_t max);
/* Free the memory; b is empty (and reusable, with the same max) afterwards. */
void dbuf_release(dbuf *b);
void dbuf_reset(dbuf *b); /* len = 0, keeps memory */
/* Append n bytes of p (copied).  Returns 0, or DTO_ETOOBIG when len would
 * pass max, in which case the buffer is unchanged.  Out of memory aborts. */
int dbuf_add(dbuf *b, const void *p, size_t n);
int dbuf_addc(dbuf *b, char c);
int dbuf_adds(dbuf *b, const char *s);
/* Append printf-formatted text, of any length; DTO_ETOOBIG as dbuf_add,
 * DTO_EINVAL on an encoding error. */
int dbuf_printf(dbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Room for n more bytes at the end, for text formatted in place (report
 * rows): returns where they go, or NULL (DTO_ETOOBIG: len + n would pass
 * max; nothing changes).  The caller writes at most n bytes there and then
 * makes them content with dbuf_commit(); the pointer is valid until the
 * next append.  Out of memory aborts. */
char *dbuf__space_slow(dbuf *b, size_t n);
static inline char *dbuf_space(dbuf *b, size_t n) {
  if (DTO_LIKELY(b->ptr && b->cap - b->len > n && b->max - b->len >= n))
    return b->ptr + b->len;
  return dbuf__space_slow(b, n);
}
/* After dbuf_space(b, m): the first n <= m bytes written become content. */
static inline void dbuf_commit(dbuf *b, size_t n) {
  b->len += n;
  b->ptr[b->len] = '\0';
}
/* Append an fx in shortest decimal form. */
int dbuf_addfx(dbuf *b, fx v);
/* Append s as a JSON string literal, quotes included, escaping as RFC 8259
 * requires ('"', '\\', \n, \r, \t by name, other bytes below 0x20 as
 * \u00XX).  Bytes from 0x80 up are copied as they are: s must be UTF-8 for
 * the result to be valid JSON.  On DTO_ETOOBIG nothing is appended. */
int dbuf_json_str(dbuf *b, const char *s);
/* Append s as one CSV field, quoted when it holds a comma, quote, CR or LF
 * (quotes doubled, RFC 4180).  On DTO_ETOOBIG nothing is appended. */
int dbuf_csv_str(dbuf *b, const char *s);

#endif
