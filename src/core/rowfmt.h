/* rowfmt.h - the fields of report rows, formatted in place.
 *
 * Report writers (backtest.c, runner.c) make room for a whole row once
 * (dbuf_space) and store each field through a cursor with these helpers:
 * no call and no capacity check per field.  Each helper returns the cursor
 * past what it wrote and needs the room its comment says.  The text is the
 * same as that of the dbuf appends (dbuf_csv_str, dbuf_addfx) and of
 * time_format.  Not for text read from outside: the room must be known.
 */
#ifndef DTO_CORE_ROWFMT_H
#define DTO_CORE_ROWFMT_H

#include "core/buf.h"
#include "core/fx.h"
#include "core/timeutil.h"

/* n bytes of s. */
static inline char *row_mem(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

/* s, of length n, as one CSV field as dbuf_csv_str writes it: quoted when
 * it holds a comma, quote, CR or LF, quotes doubled (room: 2 n + 2). */
static inline char *row_csv(char *p, const char *s, size_t n) {
  if (DTO_LIKELY(!strpbrk(s, ",\"\r\n")))
    return row_mem(p, s, n);
  *p++ = '"';
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"')
      *p++ = '"';
    *p++ = s[i];
  }
  *p++ = '"';
  return p;
}

/* v in shortest decimal form, as dbuf_addfx (room: FX_STRLEN). */
static inline char *row_fx(char *p, fx v) { return p + fx_format_raw(v, p); }

/* A column whose value often repeats from row to row (the equity while
 * no position is open): the text of the last value, kept.  All zero
 * before the first use. */
typedef struct row_fx_cache {
  fx v;
  size_t n; /* the text's length; 0: none yet */
  char s[FX_STRLEN];
} row_fx_cache;

/* v as row_fx writes it, copied from c when it is c's value (room:
 * FX_STRLEN). */
static inline char *row_fx_cached(char *p, row_fx_cache *c, fx v) {
  if (v != c->v || !c->n) {
    c->v = v;
    c->n = fx_format_raw(v, c->s);
  }
  memcpy(p, c->s, FX_STRLEN);
  return p + c->n;
}

/* t as time_format writes it (room: TIME_FMT_MAX). */
static inline char *row_time(char *p, time_fmt_cache *c, dto_time t) {
  return p + time_format_cached(c, t, p);
}

#endif
