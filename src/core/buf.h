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

void dbuf_init(dbuf *b, size_t max);
void dbuf_release(dbuf *b);
void dbuf_reset(dbuf *b); /* len = 0, keeps memory */
int dbuf_add(dbuf *b, const void *p, size_t n);
int dbuf_addc(dbuf *b, char c);
int dbuf_adds(dbuf *b, const char *s);
int dbuf_printf(dbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append an fx in shortest decimal form. */
int dbuf_addfx(dbuf *b, fx v);
/* Append s as a JSON string literal, quotes included, escaping as RFC 8259
 * requires. */
int dbuf_json_str(dbuf *b, const char *s);
/* Append s as one CSV field, quoted when it holds a comma, quote or newline. */
int dbuf_csv_str(dbuf *b, const char *s);

#endif
