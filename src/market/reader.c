/* reader.c - CSV bar and trade readers, and the CSV/binary front door.
 *
 * The hot path is hand-rolled: lines are found with memchr, fields with a
 * byte loop, the common ISO-8601 form "YYYY-MM-DDTHH:MM:SSZ" is decoded with
 * a per-date cache, and plain decimals are converted without fx_parse's
 * 128-bit arithmetic.  Anything outside those fast forms falls back to the
 * general parsers in core (time_parse, fx_parse), so the fast paths only
 * change speed, never results.  Errors are built only when a row is bad.
 */
#include "market/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/progress.h"
#include "core/timeutil.h"
#include "market/binfile.h"
#include "market/bounds.h"

#define MAX_COLS 16
#define COLNAME_MAX 24    /* bytes of a header name kept for messages */
#define EXCERPT_MAX 40    /* bytes of a bad value shown in a message */
#define PROGRESS_LINES 65536
#define DEFAULT_DUR (60 * DTO_NS_PER_SEC)

/* ---- vectors ----------------------------------------------------------- */

void bar_vec_release(bar_vec *v) {
  free(v->v);
  v->v = NULL;
  v->n = v->cap = 0;
}

void bar_vec_push(bar_vec *v, const bar *b) {
  if (v->n == v->cap)
    v->v = xgrow(v->v, &v->cap, v->n + 1, sizeof *v->v);
  v->v[v->n++] = *b;
}

void trade_vec_release(trade_vec *v) {
  free(v->v);
  v->v = NULL;
  v->n = v->cap = 0;
}

void trade_vec_push(trade_vec *v, const trade *t) {
  if (v->n == v->cap)
    v->v = xgrow(v->v, &v->cap, v->n + 1, sizeof *v->v);
  v->v[v->n++] = *t;
}

void read_opts_init(read_opts *o) {
  memset(o, 0, sizeof *o);
  o->instruments = NULL;
  o->sym = 0;
  o->from = INT64_MIN;
  o->to = INT64_MAX;
  o->dur = 0;
  o->skip_bad_rows = false;
  o->quiet = false;
}

/* ---- parser state ------------------------------------------------------ */

enum col_kind {
  COL_TIME,
  COL_OPEN,
  COL_HIGH,
  COL_LOW,
  COL_CLOSE,
  COL_VOLUME,
  COL_PRICE,
  COL_SIZE,
  COL_SYMBOL,
  COL_KIND_COUNT
};

/* A hash map from symbol text to id, filled as symbols are met: files with
 * many interleaved symbols would otherwise do a linear instruments_find per
 * row.  Open addressing, linear probing, at most half full. */
typedef struct symslot {
  char name[SYMBOL_MAX]; /* "" = empty */
  sym_id id;
} symslot;

typedef struct symmap {
  symslot *v;
  size_t cap, n; /* cap is 0 or a power of two */
} symmap;

static uint32_t sym_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* The slot for name (n bytes, NUL-terminated): its entry or the empty slot
 * where it belongs.  cap must be > 0. */
static symslot *symmap_slot(const symmap *m, const char *name, size_t n) {
  size_t i = sym_hash(name, n) & (m->cap - 1);
  while (m->v[i].name[0] && strcmp(m->v[i].name, name))
    i = (i + 1) & (m->cap - 1);
  return &m->v[i];
}

static void symmap_put(symmap *m, const char *name, size_t n, sym_id id) {
  if (2 * (m->n + 1) > m->cap) {
    symmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->v = xcalloc(m->cap, sizeof *m->v);
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
      if (old.v[i].name[0])
        symmap_put(m, old.v[i].name, strlen(old.v[i].name), old.v[i].id);
    free(old.v);
  }
  symslot *e = symmap_slot(m, name, n);
  if (!e->name[0]) {
    memcpy(e->name, name, n + 1);
    m->n++;
  }
  e->id = id;
}

typedef struct parser {
  const char *name; /* path or name, for messages */
  const read_opts *o;
  read_result *res;
  bool trades;
  const instrument_table *tab; /* symbol lookup; NULL = single symbol */
  instrument_table *learn;     /* when set: add unknown symbols here */
  const char *default_symbol;  /* learn mode, files without symbol column */
  sym_id fixed_sym;            /* sym when there is no symbol column */

  int ncols;
  uint8_t kind[MAX_COLS];
  char colname[MAX_COLS][COLNAME_MAX];
  int col_of[COL_KIND_COUNT]; /* column index of each kind, or -1 */

  char dkey[10]; /* date cache for the ISO fast path */
  int64_t dday;
  bool dvalid;

  const char *lastsym; /* symbol cache: text (in the input) and its id */
  size_t lastsymlen;
  sym_id lastid;
  symmap syms; /* symbols met so far and their ids */
  char only[SYMBOL_MAX]; /* the one symbol of a file read without a table */

  dto_time *last; /* last kept time per state slot (INT64_MIN: none) */
  dto_time prev_kept; /* time of the last kept row (o->ordered) */
  size_t nlast;
  dto_time min_gap;

  size_t line;
  char msg[sizeof(((read_result *)0)->err)];
} parser;

typedef struct row {
  dto_time ts;
  fx v[COL_KIND_COUNT];
  sym_id sym;
  size_t slot; /* index into parser.last */
  const char *tsrc; /* the time field's text, for messages */
  size_t tlen;
} row;

/* Copy at most EXCERPT_MAX bytes of s into dst for a message, replacing
 * anything unprintable with '?' and marking a cut with "...". */
static void excerpt(char *dst, size_t cap, const char *s, size_t n) {
  size_t k = 0, lim = n < EXCERPT_MAX ? n : EXCERPT_MAX;
  for (size_t i = 0; i < lim && k + 1 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    dst[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  if (n > lim)
    for (int i = 0; i < 3 && k + 1 < cap; i++)
      dst[k++] = '.';
  dst[k] = '\0';
}

/* Record a message for the current line: "name:line: ..." */
static int fail(parser *P, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(parser *P, int code, const char *fmt, ...) {
  char tmp[sizeof P->msg - 112]; /* room for "name:line: " */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  snprintf(P->msg, sizeof P->msg, "%s:%zu: %s", P->name, P->line, tmp);
  return code;
}

/* A bad value in column c. */
static int fail_val(parser *P, int c, int code, const char *what,
                    const char *s, size_t n) {
  char ex[EXCERPT_MAX + 4];
  excerpt(ex, sizeof ex, s, n);
  return fail(P, code, "column '%s': %s: '%s'", P->colname[c], what, ex);
}

/* ---- field parsers ----------------------------------------------------- */

static inline bool is_digit(char c) { return (unsigned)(c - '0') < 10; }

static inline int d2(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

/* The range dto_time can hold, with slack for offsets and leap seconds. */
#define YEAR_MIN 1678
#define YEAR_MAX 2261

/* Epoch in s/ms/us/ns by magnitude, as time_parse does, but refusing values
 * that would overflow when scaled. */
static int parse_epoch(const char *s, size_t n, dto_time *out) {
  size_t i = 0;
  bool neg = false;
  if (n && s[0] == '-') {
    neg = true;
    i = 1;
  }
  if (i == n || n - i > 19)
    return DTO_EPARSE;
  uint64_t v = 0;
  for (; i < n; i++) {
    if (!is_digit(s[i]))
      return DTO_EPARSE;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  uint64_t mul, lim;
  if (v < 100000000000ULL)
    mul = 1000000000ULL;
  else if (v < 100000000000000ULL)
    mul = 1000000ULL;
  else if (v < 100000000000000000ULL)
    mul = 1000ULL;
  else
    mul = 1;
  lim = (uint64_t)INT64_MAX / mul;
  if (v > lim)
    return DTO_ERANGE;
  int64_t t = (int64_t)(v * mul);
  *out = neg ? -t : t;
  return 0;
}

static int parse_time(parser *P, const char *s, size_t n, dto_time *out) {
  /* Fast path: "YYYY-MM-DDTHH:MM:SS" with 'T' or ' ', optional 'Z'. */
  if ((n == 20 ? s[19] == 'Z' : n == 19) && s[4] == '-' && s[7] == '-' &&
      (s[10] == 'T' || s[10] == ' ') && s[13] == ':' && s[16] == ':') {
    if (!P->dvalid || memcmp(s, P->dkey, 10) != 0) {
      for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !is_digit(s[i]))
          return DTO_EPARSE;
      int y = d2(s) * 100 + d2(s + 2), m = d2(s + 5), d = d2(s + 8);
      if (!civil_valid(y, m, d))
        return DTO_EPARSE;
      if (y < YEAR_MIN || y > YEAR_MAX)
        return DTO_ERANGE;
      memcpy(P->dkey, s, 10);
      P->dday = days_from_civil(y, m, d);
      P->dvalid = true;
    }
    if (!is_digit(s[11]) || !is_digit(s[12]) || !is_digit(s[14]) ||
        !is_digit(s[15]) || !is_digit(s[17]) || !is_digit(s[18]))
      return DTO_EPARSE;
    int h = d2(s + 11), mi = d2(s + 14), sec = d2(s + 17);
    if (h > 23 || mi > 59 || sec > 60)
      return DTO_EPARSE;
    *out = P->dday * DTO_NS_PER_DAY +
           (h * 3600LL + mi * 60LL + sec) * DTO_NS_PER_SEC;
    return 0;
  }
  if (n > 0 && (is_digit(s[0]) || s[0] == '-')) {
    bool all = true;
    for (size_t i = 1; i < n && all; i++)
      all = is_digit(s[i]);
    if (all)
      return parse_epoch(s, n, out);
  }
  /* General ISO-8601 through core; keep the year where dto_time cannot
   * overflow. */
  if (n >= 10 && s[4] == '-' && is_digit(s[0]) && is_digit(s[1]) &&
      is_digit(s[2]) && is_digit(s[3])) {
    int y = d2(s) * 100 + d2(s + 2);
    if (y < YEAR_MIN || y > YEAR_MAX)
      return DTO_ERANGE;
  }
  return time_parse(s, n, out);
}

static const int64_t pow10_tab[9] = {100000000, 10000000, 1000000, 100000,
                                     10000,     1000,     100,     10,
                                     1};

/* A decimal number.  Fast path: 1-10 integer digits, optionally '.' and up
 * to 8 decimals; everything else goes to fx_parse. */
static inline int parse_num(const char *s, size_t n, fx *out) {
  size_t i = 0;
  uint64_t ip = 0;
  while (i < n && i < 11 && is_digit(s[i]))
    ip = ip * 10 + (uint64_t)(s[i++] - '0');
  if (i == 0 || i > 10)
    return fx_parse(s, n, out);
  if (i == n) {
    *out = (fx)(ip * (uint64_t)FX_SCALE);
    return 0;
  }
  if (s[i] != '.')
    return fx_parse(s, n, out);
  size_t f0 = ++i;
  uint64_t fp = 0;
  while (i < n && i - f0 < 8 && is_digit(s[i]))
    fp = fp * 10 + (uint64_t)(s[i++] - '0');
  if (i != n)
    return fx_parse(s, n, out);
  *out = (fx)(ip * (uint64_t)FX_SCALE + fp * (uint64_t)pow10_tab[i - f0]);
  return 0;
}

/* ---- symbols ----------------------------------------------------------- */

static void ensure_slots(parser *P, size_t n) {
  if (n <= P->nlast)
    return;
  size_t cap = P->nlast ? P->nlast : 8;
  while (cap < n)
    cap *= 2;
  P->last = xreallocarray(P->last, cap, sizeof *P->last);
  for (size_t i = P->nlast; i < cap; i++)
    P->last[i] = INT64_MIN;
  P->nlast = cap;
}

/* Add symbol s to the learn table (tick 0.01, lot 1). */
static int learn_symbol(instrument_table *t, const char *s, sym_id *id) {
  instrument ins;
  memset(&ins, 0, sizeof ins);
  size_t n = strlen(s);
  memcpy(ins.symbol, s, n + 1); /* caller checked symbol_valid */
  ins.asset_class = ASSET_EQUITY;
  ins.tick = FX_SCALE / 100;
  ins.lot = FX_ONE;
  memcpy(ins.currency, "USD", 4);
  ins.shortable = true;
  return instruments_add(t, &ins, id);
}

static int parse_symbol(parser *P, int c, const char *s, size_t n, row *r) {
  if (P->lastsym && n == P->lastsymlen && !memcmp(s, P->lastsym, n)) {
    r->sym = P->lastid;
    r->slot = P->tab ? P->lastid : 0;
    return 0;
  }
  char buf[SYMBOL_MAX];
  if (n == 0 || n >= SYMBOL_MAX)
    return fail_val(P, c, DTO_EPARSE, "not a valid symbol", s, n);
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (!P->tab) {
    if (!P->only[0]) {
      if (!symbol_valid(buf))
        return fail_val(P, c, DTO_EPARSE, "not a valid symbol", s, n);
      memcpy(P->only, buf, n + 1);
    } else if (strcmp(P->only, buf)) {
      char ex[EXCERPT_MAX + 4];
      excerpt(ex, sizeof ex, s, n);
      return fail(P, DTO_EPARSE,
                  "column '%s': '%s' differs from '%s' (a file with several "
                  "symbols needs an instrument table)",
                  P->colname[c], ex, P->only);
    }
    P->lastid = P->fixed_sym;
  } else {
    symslot *e = P->syms.cap ? symmap_slot(&P->syms, buf, n) : NULL;
    sym_id id = e && e->name[0] ? e->id : instruments_find(P->tab, buf);
    if (id == SYM_NONE) {
      if (!P->learn || !symbol_valid(buf))
        return fail_val(P, c, DTO_EPARSE,
                        P->learn ? "not a valid symbol" : "unknown symbol", s,
                        n);
      int rc = learn_symbol(P->learn, buf, &id);
      if (rc)
        return fail_val(P, c, rc, "cannot add symbol", s, n);
    }
    if (!e || !e->name[0])
      symmap_put(&P->syms, buf, n, id);
    ensure_slots(P, (size_t)id + 1);
    P->lastid = id;
  }
  P->lastsym = s;
  P->lastsymlen = n;
  r->sym = P->lastid;
  r->slot = P->tab ? P->lastid : 0;
  return 0;
}

/* ---- header ------------------------------------------------------------ */

static const char *kind_name(int k) {
  static const char *const names[COL_KIND_COUNT] = {
      "time", "open", "high", "low", "close", "volume", "price", "size",
      "symbol"};
  return names[k];
}

static bool name_is(const char *s, size_t n, const char *want) {
  size_t w = strlen(want);
  if (n != w)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != want[i])
      return false;
  }
  return true;
}

static int kind_of(const parser *P, const char *s, size_t n) {
  if (name_is(s, n, "time") || name_is(s, n, "date") ||
      name_is(s, n, "timestamp"))
    return COL_TIME;
  if (name_is(s, n, "symbol"))
    return COL_SYMBOL;
  static const int bars[] = {COL_OPEN, COL_HIGH, COL_LOW, COL_CLOSE,
                             COL_VOLUME};
  static const int trades[] = {COL_PRICE, COL_SIZE};
  const int *k = P->trades ? trades : bars;
  size_t nk = P->trades ? DTO_ARRAY_LEN(trades) : DTO_ARRAY_LEN(bars);
  for (size_t i = 0; i < nk; i++)
    if (name_is(s, n, kind_name(k[i])))
      return k[i];
  return -1;
}

static inline void trim(const char **s, size_t *n) {
  while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
    (*s)++;
    (*n)--;
  }
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
    (*n)--;
}

static int parse_header(parser *P, const char *s, size_t n) {
  for (int k = 0; k < COL_KIND_COUNT; k++)
    P->col_of[k] = -1;
  size_t i = 0;
  P->ncols = 0;
  for (;;) {
    const char *c = memchr(s + i, ',', n - i);
    size_t end = c ? (size_t)(c - s) : n;
    const char *f = s + i;
    size_t fl = end - i;
    trim(&f, &fl);
    if (fl >= 2 && f[0] == '"' && f[fl - 1] == '"') {
      f++;
      fl -= 2;
    }
    char ex[EXCERPT_MAX + 4];
    excerpt(ex, sizeof ex, f, fl);
    if (P->ncols == MAX_COLS)
      return fail(P, DTO_EPARSE, "too many columns (at most %d)", MAX_COLS);
    if (fl == 0)
      return fail(P, DTO_EPARSE, "header: column %d has no name",
                  P->ncols + 1);
    int k = kind_of(P, f, fl);
    if (k < 0)
      return fail(P, DTO_EPARSE, "header: unknown column '%s'", ex);
    if (P->col_of[k] >= 0)
      return fail(P, DTO_EPARSE, "header: duplicate column '%s'", ex);
    P->col_of[k] = P->ncols;
    P->kind[P->ncols] = (uint8_t)k;
    excerpt(P->colname[P->ncols], COLNAME_MAX, f, fl < 16 ? fl : 16);
    P->ncols++;
    if (!c)
      break;
    i = end + 1;
  }
  static const int need_bars[] = {COL_TIME, COL_OPEN,  COL_HIGH,
                                  COL_LOW,  COL_CLOSE, COL_VOLUME};
  static const int need_trades[] = {COL_TIME, COL_PRICE, COL_SIZE};
  const int *need = P->trades ? need_trades : need_bars;
  size_t nneed =
      P->trades ? DTO_ARRAY_LEN(need_trades) : DTO_ARRAY_LEN(need_bars);
  for (size_t k = 0; k < nneed; k++)
    if (P->col_of[need[k]] < 0)
      return fail(P, DTO_EPARSE, "header: missing column '%s'",
                  kind_name(need[k]));
  return 0;
}

/* ---- rows -------------------------------------------------------------- */

static int parse_field(parser *P, int c, const char *f, size_t fl, row *r) {
  int k = P->kind[c], rc;
  switch (k) {
  case COL_TIME:
    rc = parse_time(P, f, fl, &r->ts);
    if (rc)
      return fail_val(P, c, DTO_EPARSE,
                      rc == DTO_ERANGE ? "time out of range"
                                       : "not a valid time",
                      f, fl);
    r->tsrc = f;
    r->tlen = fl;
    return 0;
  case COL_SYMBOL:
    return parse_symbol(P, c, f, fl, r);
  default:
    rc = parse_num(f, fl, &r->v[k]);
    if (rc)
      return fail_val(P, c, rc == DTO_EOVERFLOW ? DTO_EOVERFLOW : DTO_EPARSE,
                      rc == DTO_EOVERFLOW ? "number too large"
                                          : "not a number",
                      f, fl);
    if (k == COL_VOLUME) {
      if (r->v[k] < 0)
        return fail_val(P, c, DTO_EPARSE, "must not be negative", f, fl);
    } else if (r->v[k] <= 0) {
      return fail_val(P, c, DTO_EPARSE, "must be positive", f, fl);
    }
    if (r->v[k] > MARKET_VALUE_MAX)
      return fail_val(P, c, DTO_ERANGE,
                      "above the largest accepted value " MARKET_VALUE_MAX_TEXT,
                      f, fl);
    return 0;
  }
}

/* Does a field end at q (a comma, the end of the line or of the input)? */
static inline bool at_delim(const char *q, const char *end) {
  return q == end || *q == ',' || *q == '\n' ||
         (*q == '\r' && (q + 1 == end || q[1] == '\n'));
}

/* Fast path for a plain decimal ("123.45", "100") that ends at a delimiter;
 * returns where it ends, or NULL to leave the field to the general path. */
static inline const char *scan_num(const char *p, const char *end, fx *out) {
  const char *q = p;
  uint64_t ip = 0;
  while (q < end && is_digit(*q) && q - p < 11)
    ip = ip * 10 + (uint64_t)(*q++ - '0');
  size_t ni = (size_t)(q - p);
  if (ni == 0 || ni > 10)
    return NULL;
  uint64_t fp = 0;
  size_t nf = 0;
  if (q < end && *q == '.') {
    const char *f0 = ++q;
    while (q < end && is_digit(*q) && q - f0 < 8)
      fp = fp * 10 + (uint64_t)(*q++ - '0');
    nf = (size_t)(q - f0);
  }
  if (!at_delim(q, end))
    return NULL;
  *out = (fx)(ip * (uint64_t)FX_SCALE + fp * (uint64_t)pow10_tab[nf]);
  return q;
}

/* Fast path for a time field of 19 or 20 bytes ending at a delimiter. */
static inline const char *scan_time(parser *P, const char *p, const char *end,
                                    dto_time *out) {
  size_t room = (size_t)(end - p), n;
  if (room >= 20 && p[19] == 'Z' && at_delim(p + 20, end))
    n = 20;
  else if (room >= 19 && at_delim(p + 19, end))
    n = 19;
  else
    return NULL;
  return parse_time(P, p, n, out) == 0 ? p + n : NULL;
}

/* Count the fields of the line starting at s, for a message. */
static int count_fields(const char *s, const char *end) {
  int n = 1;
  for (; s < end && *s != '\n'; s++)
    n += *s == ',';
  return n;
}

/* Parse the data line at s (input ends at end).  On success *eol points at
 * the line's '\n' or at end.  Fields are scanned once: numbers and times in
 * their common forms are decoded while looking for the delimiter; anything
 * else (quotes, spaces, errors) takes the general path. */
static int parse_row(parser *P, const char *s, const char *end, row *r,
                     const char **eol) {
  const char *p = s;
  r->sym = P->fixed_sym;
  r->slot = 0;
  for (int c = 0;; c++) {
    if (c == P->ncols)
      return fail(P, DTO_EPARSE, "expected %d fields, found %d", P->ncols,
                  count_fields(s, end));
    int k = P->kind[c];
    const char *fe = NULL;
    if (k == COL_TIME) {
      fe = scan_time(P, p, end, &r->ts);
      r->tsrc = p;
      r->tlen = fe ? (size_t)(fe - p) : 0;
    } else if (k != COL_SYMBOL) {
      fe = scan_num(p, end, &r->v[k]);
      if (fe && ((r->v[k] == 0 && k != COL_VOLUME) ||
                 r->v[k] > MARKET_VALUE_MAX))
        fe = NULL; /* let the general path word the error */
    }
    if (!fe) {
      const char *f = p;
      size_t fl;
      if (p < end && *p == '"') {
        const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
        const char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (!q || (nl && nl < q))
          return fail(P, DTO_EPARSE, "column '%s': unterminated quote",
                      P->colname[c]);
        f = p + 1;
        fl = (size_t)(q - f);
        fe = q + 1;
        while (fe < end && (*fe == ' ' || *fe == '\t'))
          fe++;
        if (!at_delim(fe, end))
          return fail(P, DTO_EPARSE, "column '%s': text after closing quote",
                      P->colname[c]);
      } else {
        fe = p;
        while (fe < end && *fe != ',' && *fe != '\n')
          fe++;
        fl = (size_t)(fe - p);
        if (fl && f[fl - 1] == '\r' && (fe == end || *fe == '\n'))
          fl--;
        if (fl && (f[0] == ' ' || f[0] == '\t' || f[fl - 1] == ' ' ||
                   f[fl - 1] == '\t'))
          trim(&f, &fl);
      }
      int rc = parse_field(P, c, f, fl, r);
      if (rc)
        return rc;
    }
    p = fe;
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    if (p < end && *p == '\r')
      p++;
    if (c + 1 != P->ncols)
      return fail(P, DTO_EPARSE, "expected %d fields, found %d", P->ncols,
                  c + 1);
    *eol = p;
    return 0;
  }
}

/* Order checks and gap tracking for a row that passed every other check.
 * Bars: per symbol, times strictly increase.  Trades: they never go
 * backward. */
static int check_order(parser *P, const row *r) {
  dto_time prev = P->last[r->slot];
  if (prev != INT64_MIN) {
    if (r->ts < prev || (r->ts == prev && !P->trades)) {
      char was[40], ex[EXCERPT_MAX + 4];
      time_format(prev, was, sizeof was);
      excerpt(ex, sizeof ex, r->tsrc, r->tlen);
      int c = P->col_of[COL_TIME];
      if (r->ts == prev)
        return fail(P, DTO_EPARSE, "column '%s': duplicate time '%s'",
                    P->colname[c], ex);
      return fail(P, DTO_EPARSE,
                  "column '%s': time goes backward: '%s' is before %s",
                  P->colname[c], ex, was);
    }
    dto_time gap = r->ts - prev;
    if (gap > 0 && (P->min_gap == 0 || gap < P->min_gap))
      P->min_gap = gap;
  }
  P->last[r->slot] = r->ts;
  return 0;
}

static void progress_label(char *buf, size_t cap, const char *name) {
  const char *base = strrchr(name, '/');
  snprintf(buf, cap, "reading %s", base ? base + 1 : name);
}

typedef struct sink {
  bar_vec *bars;
  trade_vec *trades;
} sink;

/* Make room for about rows more elements before a big parse, and ask for
 * transparent huge pages: first-touch page faults on the output otherwise
 * cost more than the parsing itself.  Untouched capacity costs only address
 * space. */
static void sink_reserve(sink *out, size_t rows) {
  void **pv;
  size_t *pcap, elem, need;
  if (out->bars) {
    pv = (void **)&out->bars->v;
    pcap = &out->bars->cap;
    elem = sizeof(bar);
    need = out->bars->n + rows;
  } else {
    pv = (void **)&out->trades->v;
    pcap = &out->trades->cap;
    elem = sizeof(trade);
    need = out->trades->n + rows;
  }
  if (need <= *pcap)
    return;
  *pv = xgrow(*pv, pcap, need, elem);
  size_t bytes = *pcap * elem;
  if (bytes >= ((size_t)4 << 20)) {
    const size_t huge = (size_t)2 << 20;
    uintptr_t a = ((uintptr_t)*pv + huge - 1) & ~(uintptr_t)(huge - 1);
    uintptr_t e = ((uintptr_t)*pv + bytes) & ~(uintptr_t)(huge - 1);
    if (e > a)
      madvise((void *)a, e - a, MADV_HUGEPAGE); /* advice only */
  }
}

static void parser_release(parser *P) {
  free(P->last);
  free(P->syms.v);
  P->last = NULL;
  memset(&P->syms, 0, sizeof P->syms);
}

/* Parse CSV text.  Appends to the sink; on failure the sink is restored to
 * its length at entry. */
static int parse_csv(parser *P, const char *data, size_t len, sink *out) {
  const read_opts *o = P->o;
  read_result *res = P->res;
  size_t n0 = out->bars ? out->bars->n : out->trades->n;
  size_t pos = 0, filtered = 0;
  bool header = false, any = false;
  int rc = 0;
  progress pg;
  char label[64];
  progress_label(label, sizeof label, P->name);
  progress_init(&pg, label, len, o->quiet);

  if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
    pos = 3; /* UTF-8 byte order mark */
  P->line = 0;
  const char *end = data + len;
  while (pos < len) {
    P->line++;
    const char *s = data + pos;
    if ((P->line & (PROGRESS_LINES - 1)) == 0)
      progress_update(&pg, pos);
    if (*s == '\n' || (*s == '\r' && (s + 1 == end || s[1] == '\n'))) {
      pos += (*s == '\r' && s + 1 < end) ? 2 : 1; /* blank line */
      continue;
    }
    if (!header) {
      const char *nl = memchr(s, '\n', len - pos);
      size_t n = nl ? (size_t)(nl - s) : len - pos;
      pos = nl ? pos + n + 1 : len;
      if (n && s[n - 1] == '\r')
        n--;
      if (n > READER_LINE_MAX) {
        rc = fail(P, DTO_ETOOBIG, "line longer than %d bytes",
                  READER_LINE_MAX);
        goto done;
      }
      if ((rc = parse_header(P, s, n)) != 0)
        goto done;
      header = true;
      if (P->col_of[COL_SYMBOL] < 0 && P->learn) {
        /* Learn mode without a symbol column: the default symbol. */
        sym_id id = P->default_symbol && symbol_valid(P->default_symbol)
                        ? instruments_find(P->learn, P->default_symbol)
                        : SYM_NONE;
        if (id == SYM_NONE) {
          if (!P->default_symbol || !symbol_valid(P->default_symbol) ||
              learn_symbol(P->learn, P->default_symbol, &id) != 0) {
            snprintf(P->msg, sizeof P->msg,
                     "%s: no symbol column and no valid symbol given for it",
                     P->name);
            res->no_symbol = true;
            rc = DTO_EINVAL;
            goto done;
          }
        }
        P->fixed_sym = id;
      } else if (!P->learn && (P->tab ? P->col_of[COL_SYMBOL] < 0 &&
                                            P->fixed_sym >= P->tab->n
                                      : P->fixed_sym == SYM_NONE)) {
        /* Rows would get no instrument: refuse rather than hand out a
         * sym that indexes nothing. */
        snprintf(P->msg, sizeof P->msg,
                 "%s: the file has no symbol column and no instrument was "
                 "given for it",
                 P->name);
        res->no_symbol = true;
        rc = DTO_EINVAL;
        goto done;
      }
      continue;
    }
    if (!any && len - pos > ((size_t)1 << 20)) {
      const char *nl = memchr(s, '\n', len - pos);
      size_t n = nl ? (size_t)(nl - s) : len - pos;
      sink_reserve(out, (len - pos) / (n + 1) + (len - pos) / (4 * (n + 1)));
    }
    any = true;
    row r;
    const char *eol = NULL;
    rc = parse_row(P, s, end, &r, &eol);
    if (rc) {
      const char *nl = memchr(s, '\n', len - pos);
      eol = nl ? nl : end;
    }
    size_t n = (size_t)(eol - s);
    if (n && s[n - 1] == '\r')
      n--;
    if (n > READER_LINE_MAX)
      rc = fail(P, DTO_ETOOBIG, "line longer than %d bytes", READER_LINE_MAX);
    pos = eol < end ? (size_t)(eol - data) + 1 : len;
    if (rc == 0 && !P->trades) {
      bar b = {.ts = r.ts,
               .dur = 0,
               .open = r.v[COL_OPEN],
               .high = r.v[COL_HIGH],
               .low = r.v[COL_LOW],
               .close = r.v[COL_CLOSE],
               .volume = r.v[COL_VOLUME],
               .sym = r.sym};
      const char *why = bar_check(&b);
      if (why)
        rc = fail(P, DTO_EPARSE, "%s", why);
      else if (r.ts < o->from || r.ts >= o->to)
        filtered++;
      else if ((rc = check_order(P, &r)) == 0) {
        if (o->ordered && r.ts < P->prev_kept) {
          char was[40], ex[EXCERPT_MAX + 4];
          time_format(P->prev_kept, was, sizeof was);
          excerpt(ex, sizeof ex, r.tsrc, r.tlen);
          rc = fail(P, DTO_EPARSE,
                    "row out of time order: '%s' is before %s, the time of "
                    "an earlier row",
                    ex, was);
          res->unordered = true;
          goto done;
        }
        P->prev_kept = r.ts;
        bar_vec_push(out->bars, &b);
      }
    } else if (rc == 0) {
      trade t = {
          .ts = r.ts, .price = r.v[COL_PRICE], .size = r.v[COL_SIZE],
          .sym = r.sym};
      if (r.ts < o->from || r.ts >= o->to)
        filtered++;
      else if ((rc = check_order(P, &r)) == 0)
        trade_vec_push(out->trades, &t);
    }
    if (rc) {
      if (!o->skip_bad_rows)
        goto done;
      if (res->bad_rows++ == 0)
        memcpy(res->err, P->msg, sizeof res->err);
      rc = 0;
    }
  }
  if (!header || !any) {
    snprintf(P->msg, sizeof P->msg, "%s: no rows", P->name);
    rc = DTO_EPARSE;
    goto done;
  }
  size_t kept = (out->bars ? out->bars->n : out->trades->n) - n0;
  if (kept == 0 && filtered == 0) {
    char first[sizeof res->err];
    memcpy(first, res->err, sizeof first);
    snprintf(P->msg, sizeof P->msg, "%s: no valid rows (%zu bad; first: %.400s)",
             P->name, res->bad_rows, first);
    rc = DTO_EPARSE;
    goto done;
  }
  res->rows = kept;
  if (out->bars) {
    dto_time dur = o->dur > 0 ? o->dur : P->min_gap ? P->min_gap : DEFAULT_DUR;
    for (size_t i = n0; i < out->bars->n; i++)
      out->bars->v[i].dur = dur;
  }
done:
  progress_done(&pg);
  if (rc) {
    memcpy(res->err, P->msg, sizeof res->err);
    res->err[sizeof res->err - 1] = '\0';
    res->rows = 0;
    if (out->bars)
      out->bars->n = n0;
    else
      out->trades->n = n0;
  }
  return rc;
}

static void parser_init(parser *P, const char *name, const read_opts *o,
                        read_result *res, bool trades) {
  memset(P, 0, sizeof *P);
  P->name = name ? name : "(input)";
  P->o = o;
  P->res = res;
  P->trades = trades;
  P->tab = o->instruments;
  P->fixed_sym = o->sym;
  P->prev_kept = INT64_MIN;
  ensure_slots(P, P->tab && P->tab->n ? P->tab->n : 1);
  memset(res, 0, sizeof *res);
}

static int csv_mem(const char *name, const char *data, size_t len,
                   const read_opts *o, instrument_table *learn,
                   const char *default_symbol, sink *out, read_result *res) {
  parser P;
  parser_init(&P, name, o, res, out->trades != NULL);
  if (learn) {
    P.tab = learn;
    P.learn = learn;
    P.default_symbol = default_symbol;
    ensure_slots(&P, learn->n ? learn->n : 1);
  }
  int rc = parse_csv(&P, data, len, out);
  parser_release(&P);
  return rc;
}

int read_bars_csv_mem(const char *name, const char *data, size_t len,
                      const read_opts *o, bar_vec *out, read_result *res) {
  sink s = {.bars = out, .trades = NULL};
  return csv_mem(name, data, len, o, NULL, NULL, &s, res);
}

int read_trades_csv_mem(const char *name, const char *data, size_t len,
                        const read_opts *o, trade_vec *out,
                        read_result *res) {
  sink s = {.bars = NULL, .trades = out};
  return csv_mem(name, data, len, o, NULL, NULL, &s, res);
}

/* ---- files ------------------------------------------------------------- */

typedef struct mapping {
  const char *data;
  size_t len;
  void *map; /* NULL for an empty file */
} mapping;

static int map_file(const char *path, mapping *m, read_result *res) {
  memset(m, 0, sizeof *m);
  m->data = "";
  int fd;
  struct stat st;
  int rc = fileio_open_regular(path, &fd, &st, res->err, sizeof res->err);
  if (rc)
    return rc;
  if (st.st_size > 0) {
    /* Pre-fault files up to 1 GiB in one go: far cheaper than a page
     * fault every few rows. */
    int flags = MAP_PRIVATE;
    if (st.st_size <= ((off_t)1 << 30))
      flags |= MAP_POPULATE;
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, flags, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      snprintf(res->err, sizeof res->err, "%s: cannot map: %s", path,
               strerror(e));
      rc = dto_from_errno(e);
    } else {
      madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
      m->map = p;
      m->data = p;
      m->len = (size_t)st.st_size;
    }
  }
  close(fd);
  return rc;
}

static void unmap_file(mapping *m) {
  if (m->map)
    munmap(m->map, m->len);
  m->map = NULL;
}

static int csv_file(const char *path, const read_opts *o,
                    instrument_table *learn, const char *default_symbol,
                    sink *out, read_result *res) {
  mapping m;
  memset(res, 0, sizeof *res);
  int rc = map_file(path, &m, res);
  if (rc)
    return rc;
  rc = csv_mem(path, m.data, m.len, o, learn, default_symbol, out, res);
  unmap_file(&m);
  return rc;
}

int read_bars_csv(const char *path, const read_opts *o, bar_vec *out,
                  read_result *res) {
  sink s = {.bars = out, .trades = NULL};
  return csv_file(path, o, NULL, NULL, &s, res);
}

int read_trades_csv(const char *path, const read_opts *o, trade_vec *out,
                    read_result *res) {
  sink s = {.bars = NULL, .trades = out};
  return csv_file(path, o, NULL, NULL, &s, res);
}

/* Bars from a binary file, symbols mapped through o->instruments, learn, or
 * (neither) to o->sym for a one-symbol file. */
static int bin_file(const char *path, const read_opts *o,
                    instrument_table *learn, bar_vec *out, read_result *res) {
  binfile *f;
  memset(res, 0, sizeof *res);
  int rc = binfile_open_flags(path, o->binfile_v1 ? BINFILE_OPEN_V1 : 0, &f,
                              res->err, sizeof res->err);
  if (rc)
    return rc;
  size_t nsym = binfile_nsymbols(f), count = binfile_count(f);
  size_t n0 = out->n, filtered = 0;
  sym_id *ids = xmalloc(nsym * sizeof *ids);
  const instrument_table *tab = learn ? learn : o->instruments;
  char msg[sizeof res->err];
  progress pg;
  char label[64];
  progress_label(label, sizeof label, path);
  progress_init(&pg, label, count, o->quiet);

  if (count == 0) {
    snprintf(msg, sizeof msg, "%s: no rows", path);
    rc = DTO_EPARSE;
    goto done;
  }
  if (!tab && o->sym == SYM_NONE) {
    snprintf(msg, sizeof msg,
             "%s: no instrument was given for the file's symbol '%s'", path,
             binfile_symbol(f, 0));
    res->no_symbol = true;
    rc = DTO_EINVAL;
    goto done;
  }
  if (!tab && nsym != 1) {
    snprintf(msg, sizeof msg,
             "%s: holds %zu symbols (%s, %s, ...); several symbols need an "
             "instrument table",
             path, nsym, binfile_symbol(f, 0), binfile_symbol(f, 1));
    rc = DTO_EPARSE;
    goto done;
  }
  for (size_t i = 0; i < nsym; i++) {
    if (!tab) {
      ids[i] = o->sym;
      continue;
    }
    ids[i] = instruments_find(tab, binfile_symbol(f, i));
    if (ids[i] == SYM_NONE && learn &&
        (rc = learn_symbol(learn, binfile_symbol(f, i), &ids[i])) != 0) {
      snprintf(msg, sizeof msg, "%s: cannot add symbol '%s'", path,
               binfile_symbol(f, i));
      goto done;
    }
  }
  for (size_t i = 0; i < count; i++) {
    bar b;
    binfile_get(f, i, &b);
    if ((i & (PROGRESS_LINES - 1)) == 0)
      progress_update(&pg, i);
    if (b.ts < o->from || b.ts >= o->to) {
      filtered++;
      continue;
    }
    if (ids[b.sym] == SYM_NONE) {
      snprintf(msg, sizeof msg,
               "%s: record %zu: symbol '%s' is not in the instrument table",
               path, i, binfile_symbol(f, b.sym));
      if (!o->skip_bad_rows) {
        rc = DTO_EPARSE;
        goto done;
      }
      if (res->bad_rows++ == 0)
        memcpy(res->err, msg, sizeof res->err);
      continue;
    }
    b.sym = ids[b.sym];
    if (o->dur > 0)
      b.dur = o->dur;
    bar_vec_push(out, &b);
  }
  res->rows = out->n - n0;
  if (res->rows == 0 && filtered == 0) {
    snprintf(msg, sizeof msg, "%s: no valid rows (%zu bad)", path,
             res->bad_rows);
    rc = DTO_EPARSE;
  }
done:
  progress_done(&pg);
  if (rc) {
    memcpy(res->err, msg, sizeof res->err);
    res->rows = 0;
    out->n = n0;
  }
  free(ids);
  binfile_free(f);
  return rc;
}

/* Is path a binary bar file?  Errors opening it are left for the reader
 * that follows to report. */
static bool file_is_binary(const char *path) {
  int fd;
  if (fileio_open_regular(path, &fd, NULL, NULL, 0) != 0)
    return false;
  char head[BINFILE_MAGIC_LEN];
  ssize_t k;
  do
    k = read(fd, head, sizeof head);
  while (k < 0 && errno == EINTR);
  close(fd);
  return k > 0 && binfile_sniff(head, (size_t)k);
}

bool read_file_is_binary(const char *path) { return file_is_binary(path); }

int read_bars_file(const char *path, const read_opts *o, bar_vec *out,
                   read_result *res) {
  if (file_is_binary(path))
    return bin_file(path, o, NULL, out, res);
  return read_bars_csv(path, o, out, res);
}

int read_bars_file_learn(const char *path, const read_opts *o,
                         const char *default_symbol, instrument_table *syms,
                         bar_vec *out, read_result *res) {
  if (file_is_binary(path))
    return bin_file(path, o, syms, out, res);
  sink s = {.bars = out, .trades = NULL};
  return csv_file(path, o, syms, default_symbol, &s, res);
}
