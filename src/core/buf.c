/* buf.c - capped growable buffer. */
#include "core/buf.h"

#include <stdarg.h>

#include "core/alloc.h"
#include "core/error.h"

void dbuf_init(dbuf *b, size_t max) {
  b->ptr = NULL;
  b->len = b->cap = 0;
  b->max = max;
}

void dbuf_release(dbuf *b) {
  free(b->ptr);
  b->ptr = NULL;
  b->len = b->cap = 0;
}

void dbuf_reset(dbuf *b) {
  b->len = 0;
  if (b->ptr)
    b->ptr[0] = '\0';
}

static int reserve(dbuf *b, size_t n) {
  if (n > b->max || b->len > b->max - n)
    return DTO_ETOOBIG;
  size_t need = b->len + n + 1;
  if (need > b->cap) {
    size_t c = b->cap ? b->cap : 64;
    while (c < need)
      c = c > SIZE_MAX / 2 ? need : c * 2; /* max near SIZE_MAX */
    b->ptr = xrealloc(b->ptr, c);
    b->cap = c;
  }
  return 0;
}

int dbuf_add(dbuf *b, const void *p, size_t n) {
  int rc = reserve(b, n);
  if (rc)
    return rc;
  if (n)
    memcpy(b->ptr + b->len, p, n);
  b->len += n;
  b->ptr[b->len] = '\0';
  return 0;
}

int dbuf_addc(dbuf *b, char c) { return dbuf_add(b, &c, 1); }
int dbuf_adds(dbuf *b, const char *s) { return dbuf_add(b, s, strlen(s)); }

int dbuf_printf(dbuf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return DTO_EINVAL;
  if ((size_t)n < sizeof small)
    return dbuf_add(b, small, (size_t)n);
  int rc = reserve(b, (size_t)n);
  if (rc)
    return rc;
  va_start(ap, fmt);
  vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

char *dbuf__space_slow(dbuf *b, size_t n) {
  if (reserve(b, n) != 0)
    return NULL;
  return b->ptr + b->len;
}

int dbuf_addfx(dbuf *b, fx v) {
  if (reserve(b, FX_STRLEN) != 0) { /* near max: only the exact length */
    char tmp[FX_STRLEN];
    return dbuf_add(b, tmp, fx_format_raw(v, tmp));
  }
  b->len += fx_format_raw(v, b->ptr + b->len); /* straight into the buffer */
  b->ptr[b->len] = '\0';
  return 0;
}

/* Undo a partial append: the escaping functions add piece by piece, and a
 * failure must leave the buffer as it was (the contract of every append). */
static int undo(dbuf *b, size_t len, int rc) {
  if (rc && b->ptr) {
    b->len = len;
    b->ptr[len] = '\0';
  }
  return rc;
}

int dbuf_json_str(dbuf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  size_t len0 = b->len;
  int rc = dbuf_addc(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
    switch (*p) {
    case '"':
      rc = dbuf_add(b, "\\\"", 2);
      break;
    case '\\':
      rc = dbuf_add(b, "\\\\", 2);
      break;
    case '\n':
      rc = dbuf_add(b, "\\n", 2);
      break;
    case '\r':
      rc = dbuf_add(b, "\\r", 2);
      break;
    case '\t':
      rc = dbuf_add(b, "\\t", 2);
      break;
    default:
      if (*p < 0x20) {
        char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
        rc = dbuf_add(b, e, 6);
      } else {
        rc = dbuf_addc(b, (char)*p);
      }
    }
  }
  return undo(b, len0, rc ? rc : dbuf_addc(b, '"'));
}

int dbuf_csv_str(dbuf *b, const char *s) {
  if (!strpbrk(s, ",\"\r\n"))
    return dbuf_adds(b, s);
  size_t len0 = b->len;
  int rc = dbuf_addc(b, '"');
  for (const char *p = s; !rc && *p; p++)
    rc = *p == '"' ? dbuf_add(b, "\"\"", 2) : dbuf_addc(b, *p);
  return undo(b, len0, rc ? rc : dbuf_addc(b, '"'));
}
