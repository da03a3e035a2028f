/* config.c - load and validate dto's YAML configuration.
 *
 * Two passes.  The first turns libyaml's event stream into a small tree of
 * nodes that remember their 1-based line and column; it enforces the depth
 * cap and refuses aliases and extra documents, so the second pass never
 * meets a cycle or an unbounded structure.  The second pass walks the tree
 * against the schema, section by section in dependency order (accounts and
 * instruments before the data files and strategies that name them), and
 * stops at the first error with one "FILE:LINE:COLUMN: message" line.
 *
 * Scalars are text until a field says what it wants: decimals go through
 * fx_parse, integers are strict, booleans are exactly true or false, and
 * quoting a number ("10") is accepted.  A plain empty value, ~ or null means
 * "not set", which is allowed only where the schema says so.
 */
#include "app/config.h"

#include "broker/alpaca_conf.h"
#include "ops/sched.h"
#include "market/bar_agg.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <unistd.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/timeutil.h"

/* ---- the node tree ------------------------------------------------------ */

enum ykind { Y_SCALAR, Y_SEQ, Y_MAP };

typedef struct ynode {
  enum ykind kind;
  int line, col; /* 1-based */
  bool plain;    /* scalar written without quotes or block style */
  char *text;    /* scalar: owned, NUL-terminated, no NUL inside */
  size_t len;
  struct ynode **kids; /* seq: items; map: key, value, key, value ... */
  size_t n, cap;
} ynode;

/* Recursion is bounded by CFG_DEPTH_MAX: build_tree never makes deeper
 * trees. */
static void ynode_free(ynode *n) {
  if (!n)
    return;
  for (size_t i = 0; i < n->n; i++)
    ynode_free(n->kids[i]);
  free(n->kids);
  free(n->text);
  free(n);
}

typedef struct loader {
  const char *name;
  char *err;
  size_t errcap;
  dto_config *cfg;
} loader;

__attribute__((format(printf, 4, 0))) static int
failv(loader *L, int line, int col, const char *fmt, va_list ap) {
  if (!L->err || !L->errcap)
    return DTO_ECONFIG;
  int n = snprintf(L->err, L->errcap, "%s:%d:%d: ", L->name, line, col);
  if (n >= 0 && (size_t)n < L->errcap)
    vsnprintf(L->err + n, L->errcap - (size_t)n, fmt, ap);
  /* One line, whatever the file or its keys contain. */
  for (char *p = L->err; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
  return DTO_ECONFIG;
}

__attribute__((format(printf, 4, 5))) static int
fail_lc(loader *L, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = failv(L, line, col, fmt, ap);
  va_end(ap);
  return rc;
}

__attribute__((format(printf, 3, 4))) static int
fail(loader *L, const ynode *at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = failv(L, at->line, at->col, fmt, ap);
  va_end(ap);
  return rc;
}

/* ---- pass 1: events to tree --------------------------------------------- */

static void offset_to_linecol(const char *text, size_t len, size_t off,
                              int *line, int *col) {
  int l = 1;
  size_t bol = 0;
  if (off > len)
    off = len;
  for (size_t i = 0; i < off; i++)
    if (text[i] == '\n') {
      l++;
      bol = i + 1;
    }
  *line = l;
  *col = (int)(off - bol) + 1;
}

static int syntax_error(loader *L, const yaml_parser_t *p, const char *text,
                        size_t len) {
  int line, col;
  if (p->error == YAML_MEMORY_ERROR) {
    fprintf(stderr, "dto: out of memory parsing YAML\n");
    abort();
  }
  if (p->error == YAML_READER_ERROR) {
    offset_to_linecol(text, len, p->problem_offset, &line, &col);
  } else {
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
  }
  const char *problem = p->problem ? p->problem : "invalid YAML";
  if (p->context && p->error != YAML_READER_ERROR)
    return fail_lc(L, line, col, "%s (%s at line %d, column %d)", problem,
                   p->context, (int)p->context_mark.line + 1,
                   (int)p->context_mark.column + 1);
  return fail_lc(L, line, col, "%s", problem);
}

static ynode *ynode_new(enum ykind kind, const yaml_mark_t *m) {
  ynode *n = xcalloc(1, sizeof *n);
  n->kind = kind;
  n->line = (int)m->line + 1;
  n->col = (int)m->column + 1;
  return n;
}

/* Parse text into *root (NULL for a stream with no document).  On failure
 * *root is NULL and the error is in L. */
static int build_tree(loader *L, const char *text, size_t len, ynode **root) {
  yaml_parser_t p;
  yaml_event_t ev;
  ynode *stack[CFG_DEPTH_MAX];
  int depth = 0, ndocs = 0, rc = 0;
  bool done = false;

  *root = NULL;
  if (!yaml_parser_initialize(&p)) {
    fprintf(stderr, "dto: out of memory starting the YAML parser\n");
    abort();
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  while (!done && !rc) {
    if (!yaml_parser_parse(&p, &ev)) {
      rc = syntax_error(L, &p, text, len);
      break;
    }
    int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
    ynode *n = NULL;
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
      done = true;
      break;
    case YAML_DOCUMENT_START_EVENT:
      if (++ndocs > 1)
        rc = fail_lc(L, line, col, "only one YAML document is allowed");
      break;
    case YAML_ALIAS_EVENT:
      rc = fail_lc(L, line, col, "aliases (*%.64s) are not supported",
                   (const char *)ev.data.alias.anchor);
      break;
    case YAML_SCALAR_EVENT: {
      const char *v = (const char *)ev.data.scalar.value;
      size_t vlen = v ? ev.data.scalar.length : 0;
      if (vlen && memchr(v, '\0', vlen)) {
        rc = fail_lc(L, line, col, "NUL characters are not allowed");
        break;
      }
      n = ynode_new(Y_SCALAR, &ev.start_mark);
      n->text = xmalloc(vlen + 1);
      if (vlen)
        memcpy(n->text, v, vlen);
      n->text[vlen] = '\0';
      n->len = vlen;
      n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
      break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      if (depth == CFG_DEPTH_MAX) {
        rc = fail_lc(L, line, col, "nesting deeper than %d levels",
                     CFG_DEPTH_MAX);
        break;
      }
      n = ynode_new(ev.type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP,
                    &ev.start_mark);
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      DTO_ASSERT(depth > 0);
      depth--;
      break;
    default:
      break;
    }
    if (n) {
      if (depth == 0) {
        DTO_ASSERT(*root == NULL);
        *root = n;
      } else {
        ynode *parent = stack[depth - 1];
        parent->kids =
            xgrow(parent->kids, &parent->cap, parent->n + 1, sizeof(ynode *));
        parent->kids[parent->n++] = n;
      }
      if (n->kind != Y_SCALAR)
        stack[depth++] = n;
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  if (rc) {
    ynode_free(*root);
    *root = NULL;
  }
  return rc;
}

/* ---- pass 2: helpers ----------------------------------------------------- */

static bool is_null(const ynode *n) {
  if (n->kind != Y_SCALAR || !n->plain)
    return false;
  return n->len == 0 || !strcmp(n->text, "~") || !strcmp(n->text, "null") ||
         !strcmp(n->text, "Null") || !strcmp(n->text, "NULL");
}

/* The value of the first key named key in map m, or NULL. */
static const ynode *map_get(const ynode *m, const char *key) {
  if (!m || m->kind != Y_MAP)
    return NULL;
  for (size_t i = 0; i + 1 < m->n; i += 2)
    if (m->kids[i]->kind == Y_SCALAR && !strcmp(m->kids[i]->text, key))
      return m->kids[i + 1];
  return NULL;
}

static const ynode *map_key(const ynode *m, const char *key) {
  if (!m || m->kind != Y_MAP)
    return NULL;
  for (size_t i = 0; i + 1 < m->n; i += 2)
    if (m->kids[i]->kind == Y_SCALAR && !strcmp(m->kids[i]->text, key))
      return m->kids[i];
  return NULL;
}

#define FIELDS_MAX 40

/* Check map m against keys[0..nkeys): every key a known string, none twice.
 * vals[i] gets the value of keys[i] or NULL.  where is "in 'fill'" etc. */
static int map_fields(loader *L, const ynode *m, const char *where,
                      const char *const *keys, size_t nkeys,
                      const ynode **vals) {
  const ynode *knodes[FIELDS_MAX] = {0};
  DTO_ASSERT(nkeys <= FIELDS_MAX && m->kind == Y_MAP && m->n % 2 == 0);
  for (size_t k = 0; k < nkeys; k++)
    vals[k] = NULL;
  for (size_t i = 0; i < m->n; i += 2) {
    const ynode *k = m->kids[i];
    if (k->kind != Y_SCALAR)
      return fail(L, k, "keys must be strings %s", where);
    size_t j = 0;
    while (j < nkeys && strcmp(keys[j], k->text))
      j++;
    if (j == nkeys)
      return fail(L, k, "unknown key '%.64s' %s", k->text, where);
    if (knodes[j])
      return fail(L, k, "duplicate key '%s' %s (first at line %d)", keys[j],
                  where, knodes[j]->line);
    knodes[j] = k;
    vals[j] = m->kids[i + 1];
  }
  return 0;
}

static void join_names(const char *const *names, size_t n, char *buf,
                       size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && len < cap; i++) {
    int w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", names[i]);
    if (w < 0)
      break;
    len += (size_t)w;
  }
}

static int want_scalar(loader *L, const ynode *v, const char *key,
                       const char *what) {
  if (v->kind != Y_SCALAR || is_null(v))
    return fail(L, v, "'%s': expected %s", key, what);
  return 0;
}

static int get_fx(loader *L, const ynode *v, const char *key, fx *out) {
  int rc = want_scalar(L, v, key, "a decimal number");
  if (rc)
    return rc;
  rc = fx_parse(v->text, v->len, out);
  if (rc == DTO_EOVERFLOW)
    return fail(L, v, "'%s': number too large", key);
  if (rc)
    return fail(L, v, "'%s': expected a decimal number", key);
  return 0;
}

/* A decimal that must be >= 0 (and <= max when max >= 0). */
static int get_fx_range(loader *L, const ynode *v, const char *key, fx max,
                        fx *out) {
  int rc = get_fx(L, v, key, out);
  if (rc)
    return rc;
  if (*out < 0 || (max >= 0 && *out > max)) {
    if (max < 0)
      return fail(L, v, "'%s': must be at least 0", key);
    char b[FX_STRLEN];
    fx_format(max, b, sizeof b);
    return fail(L, v, "'%s': must be between 0 and %s", key, b);
  }
  return 0;
}

static int get_bool(loader *L, const ynode *v, const char *key, bool *out) {
  int rc = want_scalar(L, v, key, "true or false");
  if (rc)
    return rc;
  if (!strcmp(v->text, "true"))
    *out = true;
  else if (!strcmp(v->text, "false"))
    *out = false;
  else
    return fail(L, v, "'%s': expected true or false", key);
  return 0;
}

static int get_u64(loader *L, const ynode *v, const char *key, uint64_t *out) {
  int rc = want_scalar(L, v, key, "an unsigned integer");
  if (rc)
    return rc;
  uint64_t x = 0;
  if (v->len == 0)
    return fail(L, v, "'%s': expected an unsigned integer", key);
  for (size_t i = 0; i < v->len; i++) {
    char c = v->text[i];
    if (c < '0' || c > '9')
      return fail(L, v, "'%s': expected an unsigned integer", key);
    if (x > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
      return fail(L, v, "'%s': must be at most %llu", key,
                  (unsigned long long)UINT64_MAX);
    x = x * 10 + (uint64_t)(c - '0');
  }
  *out = x;
  return 0;
}

static int get_int(loader *L, const ynode *v, const char *key, int min, int max,
                   int *out) {
  int rc = want_scalar(L, v, key, "an integer");
  if (rc)
    return rc;
  const char *s = v->text;
  bool neg = *s == '-';
  if (neg)
    s++;
  if (!*s)
    return fail(L, v, "'%s': expected an integer", key);
  int64_t x = 0;
  bool big = false;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return fail(L, v, "'%s': expected an integer", key);
    if (x < 10000000000LL)
      x = x * 10 + (*s - '0');
    else
      big = true;
  }
  if (neg)
    x = -x;
  if (big || x < min || x > max)
    return fail(L, v, "'%s': must be between %d and %d", key, min, max);
  *out = (int)x;
  return 0;
}

/* A plain decimal or scientific number; no hex, inf or nan. */
static int get_double(loader *L, const ynode *v, const char *key, double *out) {
  int rc = want_scalar(L, v, key, "a number");
  if (rc)
    return rc;
  const char *s = v->text;
  size_t i = 0, digits = 0;
  if (s[i] == '+' || s[i] == '-')
    i++;
  for (; s[i] >= '0' && s[i] <= '9'; i++)
    digits++;
  if (s[i] == '.')
    for (i++; s[i] >= '0' && s[i] <= '9'; i++)
      digits++;
  if (digits && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (s[i] == '+' || s[i] == '-')
      i++;
    if (s[i] < '0' || s[i] > '9')
      digits = 0;
    while (s[i] >= '0' && s[i] <= '9')
      i++;
  }
  if (!digits || s[i])
    return fail(L, v, "'%s': expected a number", key);
  errno = 0;
  double d = strtod(s, NULL);
  if (errno || !isfinite(d))
    return fail(L, v, "'%s': number out of range", key);
  *out = d;
  return 0;
}

static int get_enum(loader *L, const ynode *v, const char *key,
                    const char *const *names, size_t n, int *out) {
  char known[256];
  join_names(names, n, known, sizeof known);
  if (v->kind != Y_SCALAR || is_null(v))
    return fail(L, v, "'%s': expected one of: %s", key, known);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(v->text, names[i])) {
      *out = (int)i;
      return 0;
    }
  return fail(L, v, "'%s': unknown value '%.64s' (known: %s)", key, v->text,
              known);
}

static int get_duration(loader *L, const ynode *v, const char *key,
                        dto_time max, dto_time *out) {
  int rc = want_scalar(L, v, key, "a duration such as 500ms, 1s or 5m");
  if (rc)
    return rc;
  dto_time d = 0;
  if (strcmp(v->text, "0")) {
    rc = duration_parse(v->text, &d);
    if (rc == DTO_EPARSE)
      return fail(L, v, "'%s': expected a duration such as 500ms, 1s or 5m",
                  key);
  }
  if (rc || d < 0 || d > max)
    return fail(L, v, "'%s': must be between 0 and %llds", key,
                (long long)(max / DTO_NS_PER_SEC));
  *out = d;
  return 0;
}

static int get_time(loader *L, const ynode *v, const char *key, dto_time *out) {
  static const char what[] =
      "a date or time such as 2025-01-06 or 2025-01-06T14:30:00Z";
  int rc = want_scalar(L, v, key, what);
  if (rc)
    return rc;
  if (time_parse(v->text, v->len, out))
    return fail(L, v, "'%s': expected %s", key, what);
  return 0;
}

/* A string of at most max bytes (not counting the NUL). */
static int get_str(loader *L, const ynode *v, const char *key, size_t max,
                   const char **out) {
  int rc = want_scalar(L, v, key, "a string");
  if (rc)
    return rc;
  if (v->len > max)
    return fail(L, v, "'%s': longer than %zu characters", key, max);
  *out = v->text;
  return 0;
}

static int get_id(loader *L, const ynode *v, const char *key,
                  char out[CFG_ID_MAX]) {
  const char *s = NULL;
  int rc = get_str(L, v, key, SIZE_MAX, &s);
  if (rc)
    return rc;
  bool ok = v->len >= 1 && v->len < CFG_ID_MAX;
  for (size_t i = 0; ok && i < v->len; i++) {
    char c = s[i];
    /* no '-': client order ids join account and strategy ids with '-' */
    ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  }
  if (!ok)
    return fail(L, v,
                "'%s': '%.64s' is not a valid id (1 to %d characters of a-z, "
                "0-9 and '_')",
                key, s, CFG_ID_MAX - 1);
  memcpy(out, s, v->len + 1);
  return 0;
}

/* dir + "/" + path, unless path is absolute or dir is "." or empty. */
static char *resolve_path(const char *dir, const char *path) {
  if (path[0] == '/' || !dir || !dir[0] || !strcmp(dir, "."))
    return xstrdup(path);
  size_t dl = strlen(dir), pl = strlen(path);
  bool slash = dir[dl - 1] == '/';
  size_t n = dl + (slash ? 0 : 1) + pl + 1;
  char *r = xmalloc(n);
  snprintf(r, n, "%s%s%s", dir, slash ? "" : "/", path);
  return r;
}

static int get_path(loader *L, const ynode *v, const char *key, char **out) {
  const char *s = NULL;
  int rc = get_str(L, v, key, CFG_PATH_MAX - 1, &s);
  if (rc)
    return rc;
  if (!v->len)
    return fail(L, v, "'%s': must not be empty", key);
  *out = resolve_path(L->cfg->dir, s);
  return 0;
}

/* A list (Y_SEQ).  A null value counts as empty when null_ok. */
static int get_list(loader *L, const ynode *v, const char *key, bool null_ok,
                    size_t *n) {
  if (null_ok && is_null(v)) {
    *n = 0;
    return 0;
  }
  if (v->kind != Y_SEQ)
    return fail(L, v, "'%s': expected a list", key);
  *n = v->n;
  return 0;
}

/* A section or list entry: a mapping.  Returns 1 (and no error) for null
 * when null_ok, meaning "all defaults". */
static int want_map(loader *L, const ynode *v, const char *what, bool null_ok) {
  if (null_ok && is_null(v))
    return 1;
  if (v->kind != Y_MAP)
    return fail(L, v, "%s: expected a mapping", what);
  return 0;
}

/* ---- pass 2: sections ---------------------------------------------------- */

static int load_log_level(loader *L, const ynode *v) {
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  int lv = 0;
  int rc = get_enum(L, v, "log_level", names, DTO_ARRAY_LEN(names), &lv);
  if (rc)
    return rc;
  lv = log_level_parse(names[lv]);
  DTO_ASSERT(lv >= 0);
  L->cfg->log_level = lv;
  return 0;
}

enum { A_ID, A_CASH, A_SHORT, A_EXT, A_BROKER, A__N };
static const char *const account_keys[A__N] = {
    "id", "cash", "allow_short", "allow_extended_hours", "broker"};

static int load_accounts(loader *L, const ynode *root, const ynode *list) {
  dto_config *cfg = L->cfg;
  size_t n = 0;
  int rc;
  if (!list)
    return fail(L, root, "missing required key 'accounts' at top level");
  if ((rc = get_list(L, list, "accounts", true, &n)))
    return rc;
  if (n == 0)
    return fail(L, list, "'accounts': at least one account is required");
  cfg->accounts = xcalloc(n, sizeof *cfg->accounts);
  for (size_t i = 0; i < n; i++) {
    const ynode *e = list->kids[i], *f[A__N];
    cfg_account *a = &cfg->accounts[i];
    if ((rc = want_map(L, e, "'accounts' entry", false)) ||
        (rc = map_fields(L, e, "in 'accounts' entry", account_keys, A__N, f)))
      return rc;
    if (!f[A_ID])
      return fail(L, e, "missing required key 'id' in 'accounts' entry");
    if ((rc = get_id(L, f[A_ID], "id", a->id)))
      return rc;
    for (size_t j = 0; j < i; j++)
      if (!strcmp(cfg->accounts[j].id, a->id))
        return fail(L, f[A_ID], "duplicate account id '%s' (first at line %d)",
                    a->id, map_get(list->kids[j], "id")->line);
    if (f[A_CASH] && (rc = get_fx_range(L, f[A_CASH], "cash", -1, &a->cash)))
      return rc;
    if (f[A_SHORT] &&
        (rc = get_bool(L, f[A_SHORT], "allow_short", &a->allow_short)))
      return rc;
    if (f[A_EXT] && (rc = get_bool(L, f[A_EXT], "allow_extended_hours",
                                   &a->allow_extended_hours)))
      return rc;
    if (f[A_BROKER]) {
      const ynode *b = f[A_BROKER];
      if ((rc = want_scalar(L, b, "broker", "paper")))
        return rc;
      if (!strcmp(b->text, "paper"))
        a->broker = BROKER_PAPER;
      else if (!strcmp(b->text, "alpaca"))
        a->broker = BROKER_ALPACA;
      else
        return fail(L, b,
                    "'broker': unknown broker '%.40s' (known: paper, alpaca)",
                    b->text);
      /* one session trades through one broker */
      if (cfg->naccounts && a->broker != cfg->accounts[0].broker)
        return fail(L, b, "'broker': every account of a configuration "
                          "trades through the same broker ('%s' here, "
                          "'%s' for account '%s')",
                    b->text,
                    cfg->accounts[0].broker == BROKER_ALPACA ? "alpaca"
                                                              : "paper",
                    cfg->accounts[0].id);
    }
    cfg->naccounts++;
  }
  return 0;
}

enum { I_SYMBOL, I_CLASS, I_TICK, I_LOT, I_CCY, I_CAL, I_SHORTABLE, I__N };
static const char *const instrument_keys[I__N] = {
    "symbol",   "asset_class", "tick",     "lot",
    "currency", "calendar",    "shortable"};

static int get_symbol(loader *L, const ynode *v, const char *key,
                      char out[SYMBOL_MAX]) {
  const char *s = NULL;
  int rc = get_str(L, v, key, SIZE_MAX, &s);
  if (rc)
    return rc;
  if (!symbol_valid(s))
    return fail(L, v,
                "'%s': '%.64s' is not a valid symbol (1 to %d characters of "
                "A-Z, 0-9, '.', '-' and '/')",
                key, s, SYMBOL_MAX - 1);
  memcpy(out, s, v->len + 1);
  return 0;
}

/* A symbol that must already be in the instrument table. */
static int get_known_symbol(loader *L, const ynode *v, const char *key,
                            sym_id *out) {
  const char *s = NULL;
  int rc = get_str(L, v, key, SIZE_MAX, &s);
  if (rc)
    return rc;
  *out = instruments_find(&L->cfg->instruments, s);
  if (*out == SYM_NONE)
    return fail(L, v, "'%s': unknown instrument '%.64s'", key, s);
  return 0;
}

static int get_positive_fx(loader *L, const ynode *v, const char *key,
                           fx *out) {
  int rc = get_fx(L, v, key, out);
  if (rc)
    return rc;
  if (*out <= 0)
    return fail(L, v, "'%s': must be greater than 0", key);
  return 0;
}

static int load_instruments(loader *L, const ynode *list) {
  static const char *const classes[] = {"equity", "crypto"};
  static const char *const cals[] = {"us_equity", "crypto", "fx"};
  instrument_table *t = &L->cfg->instruments;
  size_t n = 0;
  int rc;
  if (!list)
    return 0;
  if ((rc = get_list(L, list, "instruments", true, &n)))
    return rc;
  for (size_t i = 0; i < n; i++) {
    const ynode *e = list->kids[i], *f[I__N];
    instrument ins;
    memset(&ins, 0, sizeof ins);
    if ((rc = want_map(L, e, "'instruments' entry", false)) ||
        (rc = map_fields(L, e, "in 'instruments' entry", instrument_keys, I__N,
                         f)))
      return rc;
    if (!f[I_SYMBOL])
      return fail(L, e, "missing required key 'symbol' in 'instruments' entry");
    if ((rc = get_symbol(L, f[I_SYMBOL], "symbol", ins.symbol)))
      return rc;
    int cls = ASSET_EQUITY;
    if (f[I_CLASS] && (rc = get_enum(L, f[I_CLASS], "asset_class", classes,
                                     DTO_ARRAY_LEN(classes), &cls)))
      return rc;
    ins.asset_class = (enum asset_class)cls;
    bool crypto = ins.asset_class == ASSET_CRYPTO;
    ins.tick = FX_ONE / 100;
    ins.lot = crypto ? 1 : FX_ONE; /* crypto: 10^-8 units */
    ins.shortable = !crypto;
    memcpy(ins.currency, "USD", 4);
    if (f[I_TICK] && (rc = get_positive_fx(L, f[I_TICK], "tick", &ins.tick)))
      return rc;
    if (f[I_LOT] && (rc = get_positive_fx(L, f[I_LOT], "lot", &ins.lot)))
      return rc;
    if (f[I_CCY]) {
      const char *c = NULL;
      if ((rc = get_str(L, f[I_CCY], "currency", SIZE_MAX, &c)))
        return rc;
      if (f[I_CCY]->len != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' ||
          c[1] > 'Z' || c[2] < 'A' || c[2] > 'Z')
        return fail(L, f[I_CCY],
                    "'currency': expected a 3-letter upper-case code such as "
                    "USD");
      memcpy(ins.currency, c, 4);
    }
    int cal = crypto ? 1 : 0;
    if (f[I_CAL] && !is_null(f[I_CAL]) &&
        (rc = get_enum(L, f[I_CAL], "calendar", cals, DTO_ARRAY_LEN(cals),
                       &cal)))
      return rc;
    ins.cal = calendar_by_name(cals[cal]);
    DTO_ASSERT(ins.cal != NULL);
    if (f[I_SHORTABLE] &&
        (rc = get_bool(L, f[I_SHORTABLE], "shortable", &ins.shortable)))
      return rc;
    sym_id prev = instruments_find(t, ins.symbol);
    if (prev != SYM_NONE)
      return fail(L, f[I_SYMBOL],
                  "duplicate instrument '%s' (first at line %d)", ins.symbol,
                  map_get(list->kids[prev], "symbol")->line);
    rc = instruments_add(t, &ins, NULL);
    DTO_ASSERT(rc == 0); /* every field was checked above */
  }
  return 0;
}

enum { D_PATH, D_SYMBOL, D_KIND, D__N };
static const char *const data_keys[D__N] = {"path", "symbol", "kind"};

static int load_data(loader *L, const ynode *list) {
  static const char *const kinds[] = {"bars", "trades"};
  dto_config *cfg = L->cfg;
  size_t n = 0;
  int rc;
  if (!list)
    return 0;
  if ((rc = get_list(L, list, "data", true, &n)))
    return rc;
  if (n)
    cfg->data = xcalloc(n, sizeof *cfg->data);
  for (size_t i = 0; i < n; i++) {
    const ynode *e = list->kids[i], *f[D__N];
    cfg_data *d = &cfg->data[i];
    if ((rc = want_map(L, e, "'data' entry", false)) ||
        (rc = map_fields(L, e, "in 'data' entry", data_keys, D__N, f)))
      return rc;
    if (!f[D_PATH])
      return fail(L, e, "missing required key 'path' in 'data' entry");
    if (f[D_SYMBOL] && !is_null(f[D_SYMBOL])) {
      sym_id s = SYM_NONE;
      if ((rc = get_known_symbol(L, f[D_SYMBOL], "symbol", &s)))
        return rc;
      memcpy(d->symbol, cfg->instruments.v[s].symbol, SYMBOL_MAX);
    }
    int kind = CFG_DATA_BARS;
    if (f[D_KIND] && (rc = get_enum(L, f[D_KIND], "kind", kinds,
                                    DTO_ARRAY_LEN(kinds), &kind)))
      return rc;
    d->kind = (enum cfg_data_kind)kind;
    if ((rc = get_path(L, f[D_PATH], "path", &d->path)))
      return rc;
    d->line = f[D_PATH]->line;
    d->col = f[D_PATH]->col;
    cfg->ndata++; /* last: d->path is set, so release frees it */
  }
  return 0;
}

enum { S_ID, S_TYPE, S_ACCOUNT, S_SYMBOLS, S_ALLOC, S_ENABLED, S_PARAMS, S__N };
static const char *const strategy_keys[S__N] = {
    "id", "type", "account", "symbols", "allocation", "enabled", "params"};

static int load_params(loader *L, const ynode *entry, const ynode *pm,
                       const char *sid, const strategy_def *def,
                       param_value *vals) {
  char reason[160];
  int rc;
  const ynode *at = pm && !is_null(pm) ? pm : entry;
  (void)param_defaults(def->params, def->nparams, vals);
  if (pm && (rc = want_map(L, pm, "'params'", true))) {
    if (rc < 0)
      return rc;
    pm = NULL; /* null: all defaults */
  }
  for (size_t i = 0; pm && i < pm->n; i += 2) {
    const ynode *k = pm->kids[i], *v = pm->kids[i + 1];
    if (k->kind != Y_SCALAR)
      return fail(L, k, "keys must be strings in 'params'");
    int idx = param_find(def->params, def->nparams, k->text);
    if (idx < 0) {
      char known[256];
      size_t len = 0;
      known[0] = '\0';
      for (size_t j = 0; j < def->nparams && len < sizeof known; j++) {
        int w = snprintf(known + len, sizeof known - len, "%s%s", j ? ", " : "",
                         def->params[j].name);
        if (w < 0)
          break;
        len += (size_t)w;
      }
      return fail(L, k,
                  "unknown parameter '%.64s' for strategy type '%s' "
                  "(known: %s)",
                  k->text, def->name, def->nparams ? known : "none");
    }
    const param_spec *spec = &def->params[idx];
    if (vals[idx].set)
      return fail(L, k, "duplicate key '%s' in 'params' (first at line %d)",
                  spec->name, map_key(pm, spec->name)->line);
    if (v->kind != Y_SCALAR)
      return fail(L, v, "'%s': expected a single value", spec->name);
    reason[0] = '\0';
    if (param_parse(spec, v->text, &vals[idx], reason, sizeof reason))
      return fail(L, v, "'%s': %s", spec->name,
                  reason[0] ? reason : "invalid value");
  }
  for (size_t i = 0; i < def->nparams; i++)
    if (!def->params[i].def && !vals[i].set)
      return fail(L, at, "strategy '%s': missing required parameter '%s'", sid,
                  def->params[i].name);
  if (def->validate) {
    const char *msg = def->validate(vals);
    if (msg)
      return fail(L, at, "strategy '%s': %s", sid, msg);
  }
  return 0;
}

static int load_strategy(loader *L, const ynode *list, size_t i) {
  dto_config *cfg = L->cfg;
  const ynode *e = list->kids[i], *f[S__N];
  cfg_strategy *s = &cfg->strategies[i];
  int rc;

  if ((rc = want_map(L, e, "'strategies' entry", false)) ||
      (rc = map_fields(L, e, "in 'strategies' entry", strategy_keys, S__N, f)))
    return rc;
  if (!f[S_ID])
    return fail(L, e, "missing required key 'id' in 'strategies' entry");
  if ((rc = get_id(L, f[S_ID], "id", s->id)))
    return rc;
  for (size_t j = 0; j < i; j++)
    if (!strcmp(cfg->strategies[j].id, s->id))
      return fail(L, f[S_ID], "duplicate strategy id '%s' (first at line %d)",
                  s->id, map_get(list->kids[j], "id")->line);

  if (!f[S_TYPE])
    return fail(L, e, "missing required key 'type' in 'strategies' entry");
  const char *type = NULL;
  if ((rc = get_str(L, f[S_TYPE], "type", SIZE_MAX, &type)))
    return rc;
  s->def = strategy_find(type);
  if (!s->def)
    return fail(L, f[S_TYPE], "unknown strategy '%.64s' (known: %s)", type,
                strategy_names());

  if (f[S_ACCOUNT] && !is_null(f[S_ACCOUNT])) {
    const char *acc = NULL;
    if ((rc = get_str(L, f[S_ACCOUNT], "account", SIZE_MAX, &acc)))
      return rc;
    size_t j = 0;
    while (j < cfg->naccounts && strcmp(cfg->accounts[j].id, acc))
      j++;
    if (j == cfg->naccounts)
      return fail(L, f[S_ACCOUNT], "'account': unknown account '%.64s'", acc);
    s->account = j;
  } else if (cfg->naccounts == 1) {
    s->account = 0;
  } else {
    return fail(L, e,
                "missing required key 'account' in 'strategies' entry (needed "
                "when there is more than one account)");
  }
  const cfg_account *acct = &cfg->accounts[s->account];

  size_t nsyms = 0;
  if (!f[S_SYMBOLS])
    return fail(L, e, "missing required key 'symbols' in 'strategies' entry");
  if ((rc = get_list(L, f[S_SYMBOLS], "symbols", true, &nsyms)))
    return rc;
  if (nsyms == 0)
    return fail(L, f[S_SYMBOLS], "'symbols': at least one symbol is required");
  s->syms = xcalloc(nsyms, sizeof *s->syms);
  for (size_t k = 0; k < nsyms; k++) {
    const ynode *v = f[S_SYMBOLS]->kids[k];
    if ((rc = get_known_symbol(L, v, "symbols", &s->syms[k])))
      return rc;
    for (size_t j = 0; j < k; j++)
      if (s->syms[j] == s->syms[k])
        return fail(L, v, "'symbols': '%s' is listed twice", v->text);
    s->nsyms++;
  }

  s->allocation = acct->cash;
  const ynode *alloc_at = f[S_ALLOC] ? f[S_ALLOC] : e;
  if (f[S_ALLOC] && (rc = get_fx(L, f[S_ALLOC], "allocation", &s->allocation)))
    return rc;
  if (s->allocation <= 0 || s->allocation > acct->cash) {
    char b[FX_STRLEN];
    fx_format(acct->cash, b, sizeof b);
    return fail(L, alloc_at,
                "'allocation': must be greater than 0 and at most the cash of "
                "account '%s' (%s)",
                acct->id, b);
  }

  s->enabled = true;
  if (f[S_ENABLED] && (rc = get_bool(L, f[S_ENABLED], "enabled", &s->enabled)))
    return rc;

  s->params = xcalloc(s->def->nparams, sizeof *s->params);
  return load_params(L, e, f[S_PARAMS], s->id, s->def, s->params);
}

static int load_strategies(loader *L, const ynode *list) {
  dto_config *cfg = L->cfg;
  size_t n = 0;
  int rc;
  if (!list)
    return 0;
  if ((rc = get_list(L, list, "strategies", true, &n)))
    return rc;
  if (n)
    cfg->strategies = xcalloc(n, sizeof *cfg->strategies);
  for (size_t i = 0; i < n; i++) {
    /* Count it first: whatever load_strategy allocated is then released. */
    cfg->nstrategies++;
    if ((rc = load_strategy(L, list, i)))
      return rc;
  }
  return 0;
}

enum { F_MODEL, F_SLIP, F_VOLSHARE, F_LAT, F_LATMAX, F_LATKIND, F_SEED, F__N };
static const char *const fill_keys[F__N] = {
    "model",   "slippage_bps", "max_volume_share",
    "latency", "latency_max",  "latency_kind",
    "seed"};

static int load_fill(loader *L, const ynode *v) {
  static const char *const models[] = {"next_bar_open", "bar_close", "trade"};
  _Static_assert(DTO_ARRAY_LEN(models) == FILL_MODEL_COUNT,
                 "one name per fill model, in engine/match.h order");
  static const char *const kinds[] = {"fixed", "random"};
  cfg_fill *fl = &L->cfg->fill;
  const ynode *f[F__N];
  int rc, x = 0;
  if (!v || (rc = want_map(L, v, "'fill'", true)) == 1)
    return 0;
  if (rc || (rc = map_fields(L, v, "in 'fill'", fill_keys, F__N, f)))
    return rc;
  if (f[F_MODEL]) {
    if ((rc = get_enum(L, f[F_MODEL], "model", models, DTO_ARRAY_LEN(models),
                       &x)))
      return rc;
    fl->model = (enum fill_model)x;
  }
  if (f[F_SLIP] && (rc = get_fx_range(L, f[F_SLIP], "slippage_bps",
                                      fx_from_int(1000), &fl->slippage_bps)))
    return rc;
  if (f[F_VOLSHARE]) {
    if ((rc = get_fx(L, f[F_VOLSHARE], "max_volume_share",
                     &fl->max_volume_share)))
      return rc;
    if (fl->max_volume_share <= 0 || fl->max_volume_share > FX_ONE)
      return fail(L, f[F_VOLSHARE],
                  "'max_volume_share': must be greater than 0 and at most 1");
  }
  if (f[F_LATKIND]) {
    if ((rc = get_enum(L, f[F_LATKIND], "latency_kind", kinds,
                       DTO_ARRAY_LEN(kinds), &x)))
      return rc;
    fl->latency_kind = (enum latency_kind)x;
  }
  const dto_time lmax = 60 * DTO_NS_PER_SEC;
  if (f[F_LAT] &&
      (rc = get_duration(L, f[F_LAT], "latency", lmax, &fl->latency)))
    return rc;
  fl->latency_max = fl->latency;
  if (f[F_LATMAX] && (rc = get_duration(L, f[F_LATMAX], "latency_max", lmax,
                                        &fl->latency_max)))
    return rc;
  if (fl->latency_kind == LATENCY_RANDOM && fl->latency_max < fl->latency)
    return fail(L, f[F_LATMAX],
                "'latency_max': must not be less than 'latency' when "
                "latency_kind is random");
  if (f[F_SEED] && (rc = get_u64(L, f[F_SEED], "seed", &fl->seed)))
    return rc;
  return 0;
}

enum { E_SHARE, E_ORDER, E_BPS, E_MIN, E_MAXPCT, E__N };
static const char *const fee_keys[E__N] = {"per_share", "per_order", "bps",
                                           "min_per_order", "max_pct"};

static int load_fees(loader *L, const ynode *v) {
  cfg_fees *fe = &L->cfg->fees;
  fx *dst[E__N] = {&fe->per_share, &fe->per_order, &fe->bps, &fe->min_per_order,
                   &fe->max_pct};
  const ynode *f[E__N];
  int rc;
  if (!v || (rc = want_map(L, v, "'fees'", true)) == 1)
    return 0;
  if (rc || (rc = map_fields(L, v, "in 'fees'", fee_keys, E__N, f)))
    return rc;
  for (size_t i = 0; i < E__N; i++)
    if (f[i] &&
        (rc = get_fx_range(L, f[i], fee_keys[i],
                           i == E_MAXPCT ? fx_from_int(100) : -1, dst[i])))
      return rc;
  return 0;
}


/* ---- risk ---------------------------------------------------------------- */

/* Order limits, accepted at every level of 'risk' (defaults, accounts,
 * strategies, symbols); each key present sets its RL_* bit. */
enum {
  O_QTY, O_NOTIONAL, O_CPCT, O_CTICKS, O_REFAGE, O_PQTY, O_PNOT, O_DUP,
  O_RESTR, O_HTB, O__N
};
static const char *const order_limit_keys[O__N] = {
    "max_order_qty",    "max_order_notional",    "collar_pct",
    "collar_ticks",     "ref_max_age",           "max_position_qty",
    "max_position_notional", "duplicate_window", "restricted",
    "hard_to_borrow"};

enum {
  RA_GROSS, RA_NET, RA_CONC, RA_BP, RA_CREDIT, RA_OPEN, RA_PSEC, RA_PMIN,
  RA_LOSS, RA_DD, RA_PDT, RA_PDTEQ, RA_PDTN, RA__N
};
static const char *const account_limit_keys[RA__N] = {
    "max_gross",       "max_net",          "max_concentration_pct",
    "check_buying_power", "credit",        "max_open_orders",
    "max_orders_per_second", "max_orders_per_minute", "max_daily_loss",
    "max_drawdown",    "pdt",              "pdt_min_equity",
    "pdt_max_day_trades"};

enum {
  RS_OPEN, RS_PSEC, RS_PMIN, RS_LOSS, RS_DD, RS_CONSEC, RS_FLCOUNT,
  RS_FLWIN, RS_WINDOW, RS_NONEW, RS_FLATTEN, RS__N
};
static const char *const strategy_limit_keys[RS__N] = {
    "max_open_orders",  "max_orders_per_second", "max_orders_per_minute",
    "max_daily_loss",   "max_drawdown",          "max_consecutive_losses",
    "fill_loop_count",  "fill_loop_window",      "window",
    "no_new_entries",   "flatten_before_close"};

/* Parse the order-limit keys of vals (indexes 0..O__N-1) into ol. */
static int load_order_limits(loader *L, const ynode *const *v,
                             risk_order_limits *ol) {
  int rc, n = 0;
  const fx none = -1;
  if (v[O_QTY] && (rc = get_fx_range(L, v[O_QTY], "max_order_qty", none,
                                     &ol->max_order_qty)))
    return rc;
  if (v[O_NOTIONAL] &&
      (rc = get_fx_range(L, v[O_NOTIONAL], "max_order_notional", none,
                         &ol->max_order_notional)))
    return rc;
  if (v[O_CPCT] && (rc = get_fx_range(L, v[O_CPCT], "collar_pct",
                                      fx_from_int(100), &ol->collar_pct)))
    return rc;
  if (v[O_CTICKS]) {
    if ((rc = get_int(L, v[O_CTICKS], "collar_ticks", 0, 1000000000, &n)))
      return rc;
    ol->collar_ticks = n;
  }
  if (v[O_REFAGE] && (rc = get_duration(L, v[O_REFAGE], "ref_max_age",
                                        DTO_NS_PER_DAY, &ol->ref_max_age)))
    return rc;
  if (v[O_PQTY] && (rc = get_fx_range(L, v[O_PQTY], "max_position_qty", none,
                                      &ol->max_pos_qty)))
    return rc;
  if (v[O_PNOT] && (rc = get_fx_range(L, v[O_PNOT], "max_position_notional",
                                      none, &ol->max_pos_notional)))
    return rc;
  if (v[O_DUP] && (rc = get_duration(L, v[O_DUP], "duplicate_window",
                                     DTO_NS_PER_HOUR, &ol->dup_window)))
    return rc;
  if (v[O_RESTR] &&
      (rc = get_bool(L, v[O_RESTR], "restricted", &ol->restricted)))
    return rc;
  if (v[O_HTB] &&
      (rc = get_bool(L, v[O_HTB], "hard_to_borrow", &ol->hard_to_borrow)))
    return rc;
  static const uint32_t bits[O__N] = {
      RL_MAX_ORDER_QTY, RL_MAX_ORDER_NOTIONAL, RL_COLLAR_PCT, RL_COLLAR_TICKS,
      RL_REF_MAX_AGE,   RL_MAX_POS_QTY,        RL_MAX_POS_NOTIONAL,
      RL_DUP_WINDOW,    RL_RESTRICTED,         RL_HARD_TO_BORROW};
  for (int i = 0; i < O__N; i++)
    if (v[i])
      ol->set |= bits[i];
  return 0;
}

/* "HH:MM-HH:MM" in exchange local time -> minutes of the day. */
static int get_window(loader *L, const ynode *v, int *start, int *end) {
  int rc = want_scalar(L, v, "window", "a time range such as 09:45-15:30");
  if (rc)
    return rc;
  unsigned h1, m1, h2, m2;
  char tail;
  if (sscanf(v->text, "%2u:%2u-%2u:%2u%c", &h1, &m1, &h2, &m2, &tail) != 4 ||
      h1 > 24 || m1 > 59 || h2 > 24 || m2 > 59)
    return fail(L, v, "'window': expected a time range such as 09:45-15:30");
  *start = (int)(h1 * 60 + m1);
  *end = (int)(h2 * 60 + m2);
  if (*end <= *start || *end > 24 * 60)
    return fail(L, v, "'window': the end must be after the start");
  return 0;
}

/* A map of id -> limits; ids are looked up with find (-1: unknown). */
typedef int (*id_lookup)(const dto_config *cfg, const char *id);

static int find_account(const dto_config *c, const char *id) {
  for (size_t i = 0; i < c->naccounts; i++)
    if (!strcmp(c->accounts[i].id, id))
      return (int)i;
  return -1;
}
static int find_strategy(const dto_config *c, const char *id) {
  for (size_t i = 0; i < c->nstrategies; i++)
    if (!strcmp(c->strategies[i].id, id))
      return (int)i;
  return -1;
}
static int find_symbol(const dto_config *c, const char *id) {
  sym_id s = instruments_find(&c->instruments, id);
  return s == SYM_NONE ? -1 : (int)s;
}

static int load_risk_scope(loader *L, const ynode *m, const char *section,
                           id_lookup find, int kind) {
  int rc;
  if (!m || (rc = want_map(L, m, section, true)) == 1)
    return 0;
  if (rc)
    return rc;
  cfg_risk *rk = &L->cfg->risk;
  for (size_t i = 0; i + 1 < m->n; i += 2) {
    const ynode *k = m->kids[i], *v = m->kids[i + 1];
    if (k->kind != Y_SCALAR)
      return fail(L, k, "keys must be ids in %s", section);
    int idx = find(L->cfg, k->text);
    if (idx < 0)
      return fail(L, k, "%s: unknown %s '%.64s'", section,
                  kind == 1 ? "account" : kind == 2 ? "strategy" : "symbol",
                  k->text);
    if ((rc = want_map(L, v, section, false)))
      return rc;
    const char *keys[O__N + RA__N];
    size_t nk = 0;
    for (size_t j = 0; j < O__N; j++)
      keys[nk++] = order_limit_keys[j];
    if (kind == 1)
      for (size_t j = 0; j < RA__N; j++)
        keys[nk++] = account_limit_keys[j];
    if (kind == 2)
      for (size_t j = 0; j < RS__N; j++)
        keys[nk++] = strategy_limit_keys[j];
    const ynode *f[O__N + RA__N];
    char where[96];
    snprintf(where, sizeof where, "in %s '%.40s'", section, k->text);
    if ((rc = map_fields(L, v, where, keys, nk, f)))
      return rc;
    risk_order_limits *ol = kind == 1   ? &rk->account_orders[idx]
                            : kind == 2 ? &rk->strategy_orders[idx]
                                        : &rk->symbol_orders[idx];
    if ((rc = load_order_limits(L, f, ol)))
      return rc;
    const ynode *const *x = f + O__N;
    if (kind == 1) {
      risk_account_limits *a = &rk->accounts[idx];
      const fx none = -1;
      fx *fxs[] = {&a->max_gross, &a->max_net, &a->max_concentration_pct};
      for (int j = 0; j < 3; j++)
        if (x[j] && (rc = get_fx_range(L, x[j], account_limit_keys[j],
                                       j == 2 ? fx_from_int(100) : none,
                                       fxs[j])))
          return rc;
      if (x[RA_BP] && (rc = get_bool(L, x[RA_BP], "check_buying_power",
                                     &a->check_buying_power)))
        return rc;
      if (x[RA_CREDIT] &&
          (rc = get_fx_range(L, x[RA_CREDIT], "credit", none, &a->credit)))
        return rc;
      int *ints[] = {&a->max_open_orders, &a->max_orders_per_sec,
                     &a->max_orders_per_min};
      for (int j = 0; j < 3; j++)
        if (x[RA_OPEN + j] &&
            (rc = get_int(L, x[RA_OPEN + j], account_limit_keys[RA_OPEN + j],
                          0, j == 0 ? 1000000 : 4096, ints[j])))
          return rc;
      if (x[RA_LOSS] && (rc = get_fx_range(L, x[RA_LOSS], "max_daily_loss",
                                           none, &a->max_daily_loss)))
        return rc;
      if (x[RA_DD] && (rc = get_fx_range(L, x[RA_DD], "max_drawdown", none,
                                         &a->max_drawdown)))
        return rc;
      if (x[RA_PDT] && (rc = get_bool(L, x[RA_PDT], "pdt", &a->pdt)))
        return rc;
      if (x[RA_PDTEQ] && (rc = get_fx_range(L, x[RA_PDTEQ], "pdt_min_equity",
                                            none, &a->pdt_min_equity)))
        return rc;
      if (x[RA_PDTN] && (rc = get_int(L, x[RA_PDTN], "pdt_max_day_trades", 0,
                                      100, &a->pdt_max_day_trades)))
        return rc;
    } else if (kind == 2) {
      risk_strategy_limits *sl = &rk->strategies[idx];
      const fx none = -1;
      int *ints[] = {&sl->max_open_orders, &sl->max_orders_per_sec,
                     &sl->max_orders_per_min};
      for (int j = 0; j < 3; j++)
        if (x[RS_OPEN + j] &&
            (rc = get_int(L, x[RS_OPEN + j], strategy_limit_keys[RS_OPEN + j],
                          0, j == 0 ? 1000000 : 4096, ints[j])))
          return rc;
      if (x[RS_LOSS] && (rc = get_fx_range(L, x[RS_LOSS], "max_daily_loss",
                                           none, &sl->max_daily_loss)))
        return rc;
      if (x[RS_DD] && (rc = get_fx_range(L, x[RS_DD], "max_drawdown", none,
                                         &sl->max_drawdown)))
        return rc;
      if (x[RS_CONSEC] &&
          (rc = get_int(L, x[RS_CONSEC], "max_consecutive_losses", 0, 1000,
                        &sl->max_consecutive_losses)))
        return rc;
      if (x[RS_FLCOUNT] && (rc = get_int(L, x[RS_FLCOUNT], "fill_loop_count",
                                         0, 4096, &sl->fill_loop_count)))
        return rc;
      if (x[RS_FLWIN] &&
          (rc = get_duration(L, x[RS_FLWIN], "fill_loop_window",
                             DTO_NS_PER_HOUR, &sl->fill_loop_window)))
        return rc;
      if ((sl->fill_loop_count > 0) != (sl->fill_loop_window > 0))
        return fail(L, v, "%s: 'fill_loop_count' and 'fill_loop_window' go "
                          "together",
                    where);
      if (x[RS_WINDOW] &&
          (rc = get_window(L, x[RS_WINDOW], &sl->window_start,
                           &sl->window_end)))
        return rc;
      if (x[RS_NONEW] &&
          (rc = get_duration(L, x[RS_NONEW], "no_new_entries",
                             DTO_NS_PER_DAY, &sl->no_new_entries)))
        return rc;
      if (x[RS_FLATTEN] &&
          (rc = get_duration(L, x[RS_FLATTEN], "flatten_before_close",
                             DTO_NS_PER_DAY, &sl->flatten_before_close)))
        return rc;
    }
  }
  return 0;
}

enum { K_DEFAULTS, K_ACCOUNTS, K_STRATEGIES, K_SYMBOLS, K_RESTRICTED, K__N };
static const char *const risk_keys[K__N] = {"defaults", "accounts",
                                            "strategies", "symbols",
                                            "restricted"};

static int load_risk(loader *L, const ynode *v) {
  dto_config *c = L->cfg;
  cfg_risk *rk = &c->risk;
  size_t na = c->naccounts ? c->naccounts : 1;
  size_t ns = c->nstrategies ? c->nstrategies : 1;
  size_t ny = c->instruments.n ? c->instruments.n : 1;
  rk->account_orders = xcalloc(na, sizeof *rk->account_orders);
  rk->accounts = xcalloc(na, sizeof *rk->accounts);
  rk->strategy_orders = xcalloc(ns, sizeof *rk->strategy_orders);
  rk->strategies = xcalloc(ns, sizeof *rk->strategies);
  rk->symbol_orders = xcalloc(ny, sizeof *rk->symbol_orders);
  for (size_t i = 0; i < c->naccounts; i++) {
    risk_account_limits_init(&rk->accounts[i]);
    rk->accounts[i].allow_short = c->accounts[i].allow_short;
    rk->accounts[i].allow_extended_hours = c->accounts[i].allow_extended_hours;
  }
  for (size_t i = 0; i < c->nstrategies; i++)
    risk_strategy_limits_init(&rk->strategies[i]);
  const ynode *f[K__N];
  int rc;
  if (!v || (rc = want_map(L, v, "'risk'", true)) == 1)
    return 0;
  if (rc || (rc = map_fields(L, v, "in 'risk'", risk_keys, K__N, f)))
    return rc;
  if (f[K_DEFAULTS]) {
    const ynode *o[O__N];
    if ((rc = want_map(L, f[K_DEFAULTS], "'risk.defaults'", false)) ||
        (rc = map_fields(L, f[K_DEFAULTS], "in 'risk.defaults'",
                         order_limit_keys, O__N, o)) ||
        (rc = load_order_limits(L, o, &rk->defaults)))
      return rc;
  }
  if ((rc = load_risk_scope(L, f[K_ACCOUNTS], "'risk.accounts'", find_account,
                            1)) ||
      (rc = load_risk_scope(L, f[K_STRATEGIES], "'risk.strategies'",
                            find_strategy, 2)) ||
      (rc = load_risk_scope(L, f[K_SYMBOLS], "'risk.symbols'", find_symbol,
                            3)))
    return rc;
  if (f[K_RESTRICTED]) {
    const ynode *list = f[K_RESTRICTED];
    size_t nlist = 0;
    if ((rc = get_list(L, list, "restricted", true, &nlist)))
      return rc;
    for (size_t i = 0; i < nlist; i++) {
      sym_id sid;
      if ((rc = get_known_symbol(L, list->kids[i], "restricted", &sid)))
        return rc;
      rk->symbol_orders[sid].restricted = true;
      rk->symbol_orders[sid].set |= RL_RESTRICTED;
    }
  }
  return 0;
}

enum { B_FROM, B_TO, B_OUT, B_INTERVAL, B_SORT, B_EQUITY, B__N };
static const char *const backtest_keys[B__N] = {
    "from", "to", "out_dir", "bar_interval", "sort_input", "equity_interval"};

static int load_backtest(loader *L, const ynode *v) {
  cfg_backtest *bt = &L->cfg->backtest;
  const ynode *f[B__N];
  int rc;
  if (!v || (rc = want_map(L, v, "'backtest'", true)) == 1)
    return 0;
  if (rc || (rc = map_fields(L, v, "in 'backtest'", backtest_keys, B__N, f)))
    return rc;
  if (f[B_FROM] && !is_null(f[B_FROM]) &&
      (rc = get_time(L, f[B_FROM], "from", &bt->from)))
    return rc;
  if (f[B_TO] && !is_null(f[B_TO]) &&
      (rc = get_time(L, f[B_TO], "to", &bt->to)))
    return rc;
  if (bt->to <= bt->from)
    return fail(L, f[B_TO] ? f[B_TO] : v, "'to': must be after 'from'");
  if (f[B_OUT] && !is_null(f[B_OUT]) &&
      (rc = get_path(L, f[B_OUT], "out_dir", &bt->out_dir)))
    return rc;
  if (f[B_INTERVAL]) {
    if ((rc = want_scalar(L, f[B_INTERVAL], "bar_interval",
                          "an interval from 1s to 1d such as 1m")))
      return rc;
    if (interval_parse(f[B_INTERVAL]->text, &bt->bar_interval))
      return fail(L, f[B_INTERVAL], "'bar_interval': expected an interval "
                                    "from 1s to 1d in whole seconds, such "
                                    "as 1s, 5m, 1h or 1d");
  }
  if (f[B_SORT] && (rc = get_bool(L, f[B_SORT], "sort_input", &bt->sort_input)))
    return rc;
  if (f[B_EQUITY]) {
    const char *want = "'auto', 'bar' or an interval from 1s to 1d such as "
                       "1m or 1h";
    if ((rc = want_scalar(L, f[B_EQUITY], "equity_interval", want)))
      return rc;
    const char *t = f[B_EQUITY]->text;
    if (!strcmp(t, "auto"))
      bt->equity_interval = CFG_EQUITY_AUTO;
    else if (!strcmp(t, "bar"))
      bt->equity_interval = 0;
    else if (interval_parse(t, &bt->equity_interval))
      return fail(L, f[B_EQUITY],
                  "'equity_interval': expected 'auto', 'bar' or an interval "
                  "from 1s to 1d in whole seconds, such as 1m, 1h or 1d");
  }
  return 0;
}

enum {
  R_FEED, R_SPEED, R_SEED, R_DAYS, R_STATE, R_STORE, R_UNKNOWN, R_TOL,
  R_ON_STOP, R_CTL, R_DRAIN, R_QCAP, R_SPIN, R_STATUS, R__N
};
static const char *const run_keys[R__N] = {
    "feed",  "speed",          "gen_seed",           "gen_days", "state_dir",
    "store", "unknown_orders", "position_tolerance", "on_stop",
    "ctl_socket", "drain_timeout", "queue_capacity", "idle_spin",
    "status_log"};

static int load_run(loader *L, const ynode *v) {
  static const char *const feeds[] = {"replay", "generate", "alpaca"};
  cfg_run *r = &L->cfg->run;
  const ynode *f[R__N];
  int rc, x = 0;
  if (L->cfg->naccounts && L->cfg->accounts[0].broker == BROKER_ALPACA)
    r->feed = FEED_ALPACA; /* the only market data of a live session */
  if (!v || (rc = want_map(L, v, "'run'", true)) == 1)
    return 0;
  if (rc || (rc = map_fields(L, v, "in 'run'", run_keys, R__N, f)))
    return rc;
  if (f[R_FEED]) {
    if ((rc = get_enum(L, f[R_FEED], "feed", feeds, DTO_ARRAY_LEN(feeds), &x)))
      return rc;
    r->feed = (enum cfg_feed)x;
    bool alpaca = L->cfg->naccounts &&
                  L->cfg->accounts[0].broker == BROKER_ALPACA;
    if (alpaca && r->feed != FEED_ALPACA)
      return fail(L, f[R_FEED], "'feed': accounts that trade through Alpaca "
                                "take Alpaca's live market data: use "
                                "'alpaca' (or leave it out)");
    if (!alpaca && r->feed == FEED_ALPACA)
      return fail(L, f[R_FEED], "'feed': 'alpaca' needs accounts with "
                                "'broker: alpaca'");
  }
  if (f[R_SPEED]) {
    if ((rc = get_double(L, f[R_SPEED], "speed", &r->speed)))
      return rc;
    if (r->speed < 0 || r->speed > 1e6)
      return fail(L, f[R_SPEED], "'speed': must be between 0 and 1000000");
  }
  if (f[R_SEED] && (rc = get_u64(L, f[R_SEED], "gen_seed", &r->gen_seed)))
    return rc;
  if (f[R_DAYS] &&
      (rc = get_int(L, f[R_DAYS], "gen_days", 1, 366, &r->gen_days)))
    return rc;
  if (f[R_STATE] && !is_null(f[R_STATE]) &&
      (rc = get_path(L, f[R_STATE], "state_dir", &r->state_dir)))
    return rc;
  if (f[R_UNKNOWN]) {
    static const char *const pol[] = {"cancel", "adopt"};
    int which = 0;
    if ((rc = get_enum(L, f[R_UNKNOWN], "unknown_orders", pol, 2, &which)))
      return rc;
    r->adopt_unknown = which == 1;
  }
  if (f[R_TOL] && (rc = get_fx_range(L, f[R_TOL], "position_tolerance", -1,
                                     &r->position_tolerance)))
    return rc;
  if (f[R_STORE] && !is_null(f[R_STORE])) {
    const char *u = NULL;
    if ((rc = get_str(L, f[R_STORE], "store", 4096, &u)))
      return rc;
    if (store_url_has_password(u))
      return fail(L, f[R_STORE], "'store': no passwords in the configuration "
                                 "file; give it in PGPASSWORD or "
                                 "DTO_STORE_URL");
    if (!strncmp(u, "sqlite:", 7)) { /* a path: relative to this file */
      char *p = resolve_path(L->cfg->dir, u + 7);
      size_t n = strlen(p) + 8;
      r->store = xmalloc(n);
      snprintf(r->store, n, "sqlite:%s", p);
      free(p);
    } else if (!strncmp(u, "postgres://", 11) ||
               !strncmp(u, "postgresql://", 13)) {
      r->store = xstrdup(u);
    } else {
      return fail(L, f[R_STORE], "'store': expected sqlite:PATH or a "
                                 "postgresql:// URL");
    }
  }
  /* without a store nothing would remember kept orders: cancel them */
  r->on_stop = r->store ? ON_STOP_KEEP : ON_STOP_CANCEL;
  if (f[R_ON_STOP]) {
    static const char *const pol[] = {"cancel", "keep"};
    int which = 0;
    if ((rc = get_enum(L, f[R_ON_STOP], "on_stop", pol, 2, &which)))
      return rc;
    r->on_stop = which ? ON_STOP_KEEP : ON_STOP_CANCEL;
  }
  if (f[R_CTL] && !is_null(f[R_CTL]) &&
      (rc = get_path(L, f[R_CTL], "ctl_socket", &r->ctl_socket)))
    return rc;
  /* a Unix socket's path must fit sun_path (108 bytes with its NUL) */
  if (r->ctl_socket && strlen(r->ctl_socket) > 107)
    return fail(L, f[R_CTL], "'ctl_socket': the resolved path is longer "
                             "than the 107 bytes a Unix socket allows");
  if (f[R_DRAIN] && (rc = get_duration(L, f[R_DRAIN], "drain_timeout",
                                       600 * DTO_NS_PER_SEC,
                                       &r->drain_timeout)))
    return rc;
  if (f[R_DRAIN] && r->drain_timeout < DTO_NS_PER_SEC)
    return fail(L, f[R_DRAIN], "'drain_timeout': must be at least 1s");
  if (f[R_QCAP]) {
    int q = 0;
    if ((rc = get_int(L, f[R_QCAP], "queue_capacity", 16, 1 << 20, &q)))
      return rc;
    r->queue_capacity = (uint32_t)q;
  }
  if (f[R_STATUS] && !is_null(f[R_STATUS])) {
    const char *t = NULL;
    if ((rc = get_str(L, f[R_STATUS], "status_log", SCHED_TEXT_MAX, &t)))
      return rc;
    sched_expr e;
    char why[256];
    if (sched_parse(t, &e, why, sizeof why))
      return fail(L, f[R_STATUS], "'status_log': %s", why);
    r->status_log = xstrdup(t);
  }
  if (f[R_SPIN] && (rc = get_duration(L, f[R_SPIN], "idle_spin",
                                      3600 * DTO_NS_PER_SEC, &r->idle_spin)))
    return rc;
  return 0;
}

/* ---- alpaca ---------------------------------------------------------------- */

enum {
  AL_LIVE, AL_TRADING, AL_DATA, AL_STREAM, AL_DSTREAM, AL_FEED, AL_CONNECT,
  AL_REQUEST, AL_RETRIES, AL_RATE, AL_RECONCILE, AL_WARMUP, AL_STALE, AL__N
};
static const char *const alpaca_keys[AL__N] = {
    "live",    "trading_url",     "data_url",        "stream_url",
    "data_stream_url", "feed",    "connect_timeout", "request_timeout",
    "retries", "rate_limit_per_min", "reconcile_interval", "warmup_bars",
    "stale_after"};

enum { ALR_COUNT, ALR_BACKOFF, ALR_MAX, ALR__N };
static const char *const alpaca_retry_keys[ALR__N] = {"count", "backoff",
                                                      "max_backoff"};

void config_alpaca_defaults(cfg_alpaca *a) {
  memset(a, 0, sizeof *a);
  a->feed = ALPACA_FEED_IEX;
  a->connect_timeout = ALPACA_CONNECT_TIMEOUT_DEFAULT;
  a->request_timeout = ALPACA_REQUEST_TIMEOUT_DEFAULT;
  a->retries = ALPACA_RETRIES_DEFAULT;
  a->backoff = ALPACA_BACKOFF_DEFAULT;
  a->max_backoff = ALPACA_MAX_BACKOFF_DEFAULT;
  a->rate_limit_per_min = ALPACA_RATE_LIMIT_DEFAULT;
  a->reconcile_interval = 60 * DTO_NS_PER_SEC;
  a->warmup_bars = 390;
  a->stale_after = 120 * DTO_NS_PER_SEC;
}

/* A key name that looks like a credential: the file never holds one. */
static bool looks_like_secret(const char *k) {
  static const char *const words[] = {"key", "secret", "password", "token"};
  char low[64];
  size_t n = strlen(k);
  if (n >= sizeof low)
    n = sizeof low - 1;
  for (size_t i = 0; i < n; i++)
    low[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] - 'A' + 'a' : k[i]);
  low[n] = '\0';
  for (size_t i = 0; i < DTO_ARRAY_LEN(words); i++)
    if (strstr(low, words[i]))
      return true;
  return false;
}

static int get_alpaca_url(loader *L, const ynode *v, const char *key,
                          enum alpaca_url_kind kind, bool live_rule,
                          bool live, char **out) {
  const char *s = NULL;
  char why[CFG_ERR_MAX];
  int rc = get_str(L, v, key, ALPACA_URL_MAX - 1, &s);
  if (rc)
    return rc;
  if (alpaca_url_check(s, kind, why, sizeof why) ||
      (live_rule && alpaca_url_check_live(s, live, why, sizeof why)))
    return fail(L, v, "'%s': %s", key, why);
  *out = xstrdup(s);
  return 0;
}

static int load_alpaca(loader *L, const ynode *v) {
  static const char *const feeds[] = {"iex", "sip"};
  cfg_alpaca *a = &L->cfg->alpaca;
  const ynode *f[AL__N];
  int rc, x = 0;
  if (!v)
    return 0;
  a->present = true;
  if ((rc = want_map(L, v, "'alpaca'", true)) == 1)
    return 0;
  if (rc)
    return rc;
  for (size_t i = 0; i < v->n; i += 2) {
    const ynode *k = v->kids[i];
    if (k->kind == Y_SCALAR && looks_like_secret(k->text))
      return fail(L, k,
                  "'%.64s': no API keys in the configuration file; set "
                  "APCA_API_KEY_ID and APCA_API_SECRET_KEY in the "
                  "environment",
                  k->text);
  }
  if ((rc = map_fields(L, v, "in 'alpaca'", alpaca_keys, AL__N, f)))
    return rc;
  if (f[AL_LIVE] && (rc = get_bool(L, f[AL_LIVE], "live", &a->live)))
    return rc;
  if (f[AL_TRADING] && !is_null(f[AL_TRADING]) &&
      (rc = get_alpaca_url(L, f[AL_TRADING], "trading_url", ALPACA_URL_REST,
                           true, a->live, &a->trading_url)))
    return rc;
  if (f[AL_DATA] && !is_null(f[AL_DATA]) &&
      (rc = get_alpaca_url(L, f[AL_DATA], "data_url", ALPACA_URL_REST, false,
                           a->live, &a->data_url)))
    return rc;
  if (f[AL_STREAM] && !is_null(f[AL_STREAM]) &&
      (rc = get_alpaca_url(L, f[AL_STREAM], "stream_url", ALPACA_URL_STREAM,
                           true, a->live, &a->stream_url)))
    return rc;
  if (f[AL_DSTREAM] && !is_null(f[AL_DSTREAM]) &&
      (rc = get_alpaca_url(L, f[AL_DSTREAM], "data_stream_url",
                           ALPACA_URL_STREAM, false, a->live,
                           &a->data_stream_url)))
    return rc;
  if (f[AL_FEED]) {
    if ((rc = get_enum(L, f[AL_FEED], "feed", feeds, DTO_ARRAY_LEN(feeds), &x)))
      return rc;
    a->feed = (enum alpaca_feed)x;
  }
  if (f[AL_CONNECT]) {
    if ((rc = get_duration(L, f[AL_CONNECT], "connect_timeout",
                           60 * DTO_NS_PER_SEC, &a->connect_timeout)))
      return rc;
    if (a->connect_timeout < DTO_NS_PER_SEC / 10)
      return fail(L, f[AL_CONNECT], "'connect_timeout': must be at least "
                                    "100ms");
  }
  if (f[AL_REQUEST]) {
    if ((rc = get_duration(L, f[AL_REQUEST], "request_timeout",
                           300 * DTO_NS_PER_SEC, &a->request_timeout)))
      return rc;
    if (a->request_timeout < DTO_NS_PER_SEC / 10)
      return fail(L, f[AL_REQUEST], "'request_timeout': must be at least "
                                    "100ms");
  }
  if (a->request_timeout < a->connect_timeout) {
    if (!f[AL_REQUEST])
      return fail(L, f[AL_CONNECT], "'connect_timeout': must be at most "
                                    "'request_timeout' (10s when not given)");
    return fail(L, f[AL_REQUEST],
                "'request_timeout': must be at least 'connect_timeout' (it "
                "covers the whole request, connecting included)");
  }
  if (f[AL_RETRIES]) {
    const ynode *r = f[AL_RETRIES], *g[ALR__N];
    if (r->kind == Y_SCALAR) {
      if ((rc = get_int(L, r, "retries", 0, 10, &a->retries)))
        return rc;
    } else {
      if ((rc = want_map(L, r, "'retries'", false)) ||
          (rc = map_fields(L, r, "in 'alpaca.retries'", alpaca_retry_keys,
                           ALR__N, g)))
        return rc;
      if (g[ALR_COUNT] &&
          (rc = get_int(L, g[ALR_COUNT], "count", 0, 10, &a->retries)))
        return rc;
      if (g[ALR_BACKOFF] &&
          (rc = get_duration(L, g[ALR_BACKOFF], "backoff",
                             60 * DTO_NS_PER_SEC, &a->backoff)))
        return rc;
      if (g[ALR_MAX] &&
          (rc = get_duration(L, g[ALR_MAX], "max_backoff",
                             300 * DTO_NS_PER_SEC, &a->max_backoff)))
        return rc;
      if (a->max_backoff < a->backoff)
        return fail(L, g[ALR_MAX] ? g[ALR_MAX] : g[ALR_BACKOFF],
                    "'max_backoff': must be at least 'backoff'");
    }
  }
  if (f[AL_RATE] && (rc = get_int(L, f[AL_RATE], "rate_limit_per_min", 1,
                                  10000, &a->rate_limit_per_min)))
    return rc;
  if (f[AL_WARMUP] && (rc = get_int(L, f[AL_WARMUP], "warmup_bars", 0, 10000,
                                    &a->warmup_bars)))
    return rc;
  if (f[AL_STALE]) {
    if ((rc = get_duration(L, f[AL_STALE], "stale_after", 3600 * DTO_NS_PER_SEC,
                           &a->stale_after)))
      return rc;
    if (a->stale_after < DTO_NS_PER_SEC)
      return fail(L, f[AL_STALE], "'stale_after': must be at least 1s");
  }
  if (f[AL_RECONCILE]) {
    if ((rc = get_duration(L, f[AL_RECONCILE], "reconcile_interval",
                           24 * 3600 * DTO_NS_PER_SEC, &a->reconcile_interval)))
      return rc;
    if (a->reconcile_interval < DTO_NS_PER_SEC)
      return fail(L, f[AL_RECONCILE], "'reconcile_interval': must be at "
                                      "least 1s");
  }
  return 0;
}

/* ---- api ------------------------------------------------------------------- */

enum {
  AP_LISTEN, AP_CERT, AP_KEY, AP_MAXCONN, AP_PERIP, AP_TIMEOUT, AP_BODY,
  AP_IDLE, AP_ABS, AP_LOCKN, AP_LOCKT, AP_RATE, AP_BURST, AP_IPRATE,
  AP_IPBURST, AP_TOKMAX, AP_TOKWARN, AP__N
};
static const char *const api_keys[AP__N] = {
    "listen",          "tls_cert",       "tls_key",
    "max_connections", "max_per_ip",     "timeout",
    "max_body",        "idle_timeout",   "absolute_timeout",
    "lockout_failures", "lockout_time",  "rate_limit_per_s",
    "rate_limit_burst", "ip_rate_limit_per_s", "ip_rate_limit_burst",
    "token_max_days",  "token_warn_days"};

void config_api_defaults(cfg_api *a) {
  memset(a, 0, sizeof *a);
  a->max_connections = 512;
  a->max_per_ip = 64;
  a->timeout = 30 * DTO_NS_PER_SEC;
  a->max_body = 65536;
  a->idle_timeout = 15 * 60 * DTO_NS_PER_SEC;
  a->absolute_timeout = 12 * 3600 * DTO_NS_PER_SEC;
  a->lockout_failures = 5;
  a->lockout_time = 15 * 60 * DTO_NS_PER_SEC;
  a->rate_per_s = 50;
  a->rate_burst = 100;
  a->ip_rate_per_s = 100;
  a->ip_burst = 200;
  a->token_max_days = 90;
  a->token_warn_days = 30;
}

static int load_api(loader *L, const ynode *v) {
  cfg_api *a = &L->cfg->api;
  const ynode *f[AP__N];
  int rc;
  if (!v)
    return 0;
  a->present = true;
  if (!L->cfg->run.store)
    return fail(L, v, "'api': needs 'run.store' (users, sessions, tokens and "
                      "the audit log are kept in the store)");
  if ((rc = want_map(L, v, "'api'", true)) == 1)
    return 0;
  if (rc)
    return rc;
  for (size_t i = 0; i < v->n; i += 2) {
    const ynode *k = v->kids[i];
    bool known = false;
    for (size_t j = 0; j < AP__N && k->kind == Y_SCALAR; j++)
      known = known || !strcmp(k->text, api_keys[j]);
    if (k->kind == Y_SCALAR && !known && looks_like_secret(k->text))
      return fail(L, k,
                  "'%.64s': no secrets in the configuration file (TLS keys "
                  "are files: tls_key; passwords and tokens live in the "
                  "store)",
                  k->text);
  }
  if ((rc = map_fields(L, v, "in 'api'", api_keys, AP__N, f)))
    return rc;
  const char *s = NULL;
  if (f[AP_LISTEN]) {
    if ((rc = get_str(L, f[AP_LISTEN], "listen", 200, &s)))
      return rc;
    if (!f[AP_LISTEN]->len)
      return fail(L, f[AP_LISTEN], "'listen': must not be empty");
    a->listen = xstrdup(s);
  }
  if (f[AP_CERT] && (rc = get_path(L, f[AP_CERT], "tls_cert", &a->tls_cert)))
    return rc;
  if (f[AP_KEY] && (rc = get_path(L, f[AP_KEY], "tls_key", &a->tls_key)))
    return rc;
  if (!a->tls_cert != !a->tls_key)
    return fail(L, f[AP_CERT] ? f[AP_CERT] : f[AP_KEY],
                "'%s': tls_cert and tls_key go together",
                f[AP_CERT] ? "tls_cert" : "tls_key");
  if ((f[AP_MAXCONN] && (rc = get_int(L, f[AP_MAXCONN], "max_connections",
                                      1, 100000, &a->max_connections))) ||
      (f[AP_PERIP] && (rc = get_int(L, f[AP_PERIP], "max_per_ip", 1, 100000,
                                    &a->max_per_ip))) ||
      (f[AP_BODY] && (rc = get_int(L, f[AP_BODY], "max_body", 1024,
                                   16 * 1024 * 1024, &a->max_body))) ||
      (f[AP_LOCKN] && (rc = get_int(L, f[AP_LOCKN], "lockout_failures", 1,
                                    100, &a->lockout_failures))) ||
      (f[AP_RATE] && (rc = get_int(L, f[AP_RATE], "rate_limit_per_s", 1,
                                   1000000, &a->rate_per_s))) ||
      (f[AP_BURST] && (rc = get_int(L, f[AP_BURST], "rate_limit_burst", 1,
                                    1000000, &a->rate_burst))) ||
      (f[AP_IPRATE] && (rc = get_int(L, f[AP_IPRATE], "ip_rate_limit_per_s",
                                     1, 1000000, &a->ip_rate_per_s))) ||
      (f[AP_IPBURST] && (rc = get_int(L, f[AP_IPBURST],
                                      "ip_rate_limit_burst", 1, 1000000,
                                      &a->ip_burst))) ||
      (f[AP_TOKMAX] && (rc = get_int(L, f[AP_TOKMAX], "token_max_days", 1,
                                     3650, &a->token_max_days))) ||
      (f[AP_TOKWARN] && (rc = get_int(L, f[AP_TOKWARN], "token_warn_days", 1,
                                      3650, &a->token_warn_days))))
    return rc;
  if ((f[AP_TIMEOUT] &&
       (rc = get_duration(L, f[AP_TIMEOUT], "timeout", 3600 * DTO_NS_PER_SEC,
                          &a->timeout))) ||
      (f[AP_IDLE] &&
       (rc = get_duration(L, f[AP_IDLE], "idle_timeout",
                          30 * 60 * DTO_NS_PER_SEC, &a->idle_timeout))) ||
      (f[AP_ABS] &&
       (rc = get_duration(L, f[AP_ABS], "absolute_timeout",
                          7 * 24 * 3600 * DTO_NS_PER_SEC,
                          &a->absolute_timeout))) ||
      (f[AP_LOCKT] &&
       (rc = get_duration(L, f[AP_LOCKT], "lockout_time",
                          24 * 3600 * DTO_NS_PER_SEC, &a->lockout_time))))
    return rc;
  if (a->timeout < DTO_NS_PER_SEC)
    return fail(L, f[AP_TIMEOUT], "'timeout': must be at least 1s");
  if (a->idle_timeout < 5 * 60 * DTO_NS_PER_SEC)
    return fail(L, f[AP_IDLE], "'idle_timeout': must be 5m to 30m");
  if (a->absolute_timeout < a->idle_timeout)
    return fail(L, f[AP_ABS], "'absolute_timeout': must be at least "
                              "'idle_timeout'");
  if (a->lockout_time < DTO_NS_PER_SEC)
    return fail(L, f[AP_LOCKT], "'lockout_time': must be at least 1s");
  if (a->token_warn_days > a->token_max_days)
    return fail(L, f[AP_TOKWARN], "'token_warn_days': must be at most "
                                  "'token_max_days'");
  return 0;
}

/* ---- log, monitoring, alerts --------------------------------------------- */

enum { LG_LEVEL, LG_OUTPUT, LG_FILE, LG__N };
static const char *const log_keys[LG__N] = {"level", "output", "file"};

static int load_log(loader *L, const ynode *v, bool level_given) {
  const ynode *f[LG__N];
  int rc;
  if ((rc = want_map(L, v, "'log'", true)) == 1)
    return 0;
  if (rc || (rc = map_fields(L, v, "in 'log'", log_keys, LG__N, f)))
    return rc;
  if (f[LG_LEVEL]) {
    if (level_given)
      return fail(L, f[LG_LEVEL], "'level': give the level once (log.level "
                                  "or the older log_level, not both)");
    if ((rc = load_log_level(L, f[LG_LEVEL])))
      return rc;
  }
  static const char *const outs[] = {"stderr", "file", "journal"};
  int o = 0;
  if (f[LG_OUTPUT] &&
      (rc = get_enum(L, f[LG_OUTPUT], "output", outs, DTO_ARRAY_LEN(outs), &o)))
    return rc;
  L->cfg->log.output = (enum cfg_log_output)o;
  if (f[LG_FILE] && (rc = get_path(L, f[LG_FILE], "file", &L->cfg->log.file)))
    return rc;
  if (o == LOG_OUT_FILE && !L->cfg->log.file)
    return fail(L, v, "'log': output file needs 'file'");
  if (o != LOG_OUT_FILE && L->cfg->log.file)
    return fail(L, f[LG_FILE], "'file': only with 'output: file'");
  return 0;
}

enum { MO_TOKEN, MO_INTERVAL, MO_STALE, MO_DISKS, MO_INSTANCE, MO__N };
static const char *const monitor_keys[MO__N] = {
    "metrics_token", "interval", "stale_after", "disks", "instance"};
enum { MD_DATA, MD_LOG, MD_BACKUP, MD__N };
static const char *const disk_keys[MD__N] = {"data", "log", "backup"};

static int load_monitor(loader *L, const ynode *v) {
  cfg_monitor *m = &L->cfg->monitor;
  const ynode *f[MO__N];
  int rc;
  if (!v)
    return 0;
  m->present = true;
  if ((rc = want_map(L, v, "'monitoring'", true)) == 1)
    return 0;
  if (rc || (rc = map_fields(L, v, "in 'monitoring'", monitor_keys, MO__N, f)))
    return rc;
  if (f[MO_TOKEN] &&
      (rc = get_bool(L, f[MO_TOKEN], "metrics_token", &m->metrics_token)))
    return rc;
  if (f[MO_INTERVAL] &&
      (rc = get_duration(L, f[MO_INTERVAL], "interval", 60 * DTO_NS_PER_SEC,
                         &m->interval)))
    return rc;
  if (m->interval < 100 * 1000000LL)
    return fail(L, f[MO_INTERVAL], "'interval': must be 100ms to 60s");
  if (f[MO_STALE] &&
      (rc = get_duration(L, f[MO_STALE], "stale_after", 24 * 3600 * DTO_NS_PER_SEC,
                         &m->stale_after)))
    return rc;
  if (m->stale_after < DTO_NS_PER_SEC)
    return fail(L, f[MO_STALE], "'stale_after': must be at least 1s");
  if (f[MO_DISKS]) {
    const ynode *d[MD__N];
    if ((rc = want_map(L, f[MO_DISKS], "'disks'", false)) ||
        (rc = map_fields(L, f[MO_DISKS], "in 'disks'", disk_keys, MD__N, d)))
      return rc;
    if ((d[MD_DATA] && (rc = get_path(L, d[MD_DATA], "data", &m->disk_data))) ||
        (d[MD_LOG] && (rc = get_path(L, d[MD_LOG], "log", &m->disk_log))) ||
        (d[MD_BACKUP] &&
         (rc = get_path(L, d[MD_BACKUP], "backup", &m->disk_backup))))
      return rc;
  }
  if (f[MO_INSTANCE]) {
    const char *s;
    if ((rc = get_str(L, f[MO_INSTANCE], "instance", NOTIFY_NAME_MAX - 1, &s)))
      return rc;
    snprintf(m->instance, sizeof m->instance, "%s", s);
  }
  return 0;
}

/* A string owned by the channels' list. */
static const char *ch_keep(cfg_alerts *a, const char *s) {
  a->chstr = xrealloc(a->chstr, (a->nchstr + 1) * sizeof *a->chstr);
  return a->chstr[a->nchstr++] = xstrdup(s);
}

/* An environment variable's name: [A-Z_][A-Z0-9_]*. */
static int get_env_name(loader *L, const ynode *v, const char *key,
                        const char **out) {
  int rc = get_str(L, v, key, 128, out);
  if (rc)
    return rc;
  bool ok = v->len > 0;
  for (size_t i = 0; ok && i < v->len; i++) {
    char c = v->text[i];
    ok = (c >= 'A' && c <= 'Z') || c == '_' || (i && c >= '0' && c <= '9');
  }
  if (!ok)
    return fail(L, v, "'%s': expected the name of an environment variable "
                      "(A-Z, 0-9, _), not a value",
                key);
  return 0;
}

enum {
  CH_NAME, CH_TYPE, CH_URL, CH_URL_ENV, CH_SECRET_ENV, CH_PASSWORD_ENV,
  CH_ROUTING_ENV, CH_TOKEN_ENV, CH_USERNAME, CH_SID, CH_FROM, CH_TO,
  CH_STARTTLS, CH_CA, CH_TIMEOUT, CH_RETRIES, CH_BACKOFF, CH_MAXBACK, CH__N
};
static const char *const channel_keys[CH__N] = {
    "name",       "type",         "url",           "url_env",
    "secret_env", "password_env", "routing_key_env", "auth_token_env",
    "username",   "account_sid",  "from",          "to",
    "starttls",   "ca_file",      "timeout",       "retries",
    "backoff",    "max_backoff"};

static int load_channel(loader *L, const ynode *e, notify_channel *c) {
  cfg_alerts *a = &L->cfg->alerts;
  const ynode *f[CH__N];
  int rc;
  if ((rc = want_map(L, e, "a channel", false)))
    return rc;
  for (size_t i = 0; i < e->n; i += 2) {
    const ynode *k = e->kids[i];
    bool known = false;
    for (size_t j = 0; j < CH__N && k->kind == Y_SCALAR; j++)
      known = known || !strcmp(k->text, channel_keys[j]);
    if (k->kind == Y_SCALAR && !known && looks_like_secret(k->text))
      return fail(L, k, "'%.64s': no secrets in the configuration file; "
                        "name an environment variable with a *_env key",
                  k->text);
  }
  if ((rc = map_fields(L, e, "in a channel", channel_keys, CH__N, f)))
    return rc;
  notify_channel_defaults(c);
  if (!f[CH_NAME])
    return fail(L, e, "a channel needs 'name'");
  if (!f[CH_TYPE])
    return fail(L, e, "a channel needs 'type'");
  const char *s;
  if ((rc = get_str(L, f[CH_NAME], "name", NOTIFY_NAME_MAX - 1, &s)))
    return rc;
  bool ok = f[CH_NAME]->len > 0;
  for (size_t i = 0; ok && i < f[CH_NAME]->len; i++)
    ok = isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_';
  if (!ok)
    return fail(L, f[CH_NAME], "'name': '%.64s' is not a valid channel name "
                               "(letters, digits, '-', '_')",
                s);
  snprintf(c->name, sizeof c->name, "%s", s);
  static const char *const kinds[] = {"email", "slack", "teams", "pagerduty",
                                      "sms", "alertmanager", "webhook"};
  int k = 0;
  if ((rc = get_enum(L, f[CH_TYPE], "type", kinds, DTO_ARRAY_LEN(kinds), &k)))
    return rc;
  c->kind = (enum notify_kind)k;
  if (f[CH_URL]) {
    if ((rc = get_str(L, f[CH_URL], "url", 2048, &s)))
      return rc;
    if (c->kind == NOTIFY_SLACK || c->kind == NOTIFY_TEAMS)
      return fail(L, f[CH_URL], "'url': a %s webhook URL is a secret; name "
                                "the variable holding it with 'url_env'",
                  kinds[k]);
    c->url = ch_keep(a, s);
  }
  if (f[CH_URL_ENV]) {
    if ((rc = get_env_name(L, f[CH_URL_ENV], "url_env", &s)))
      return rc;
    if (f[CH_URL])
      return fail(L, f[CH_URL_ENV], "'url_env': give 'url' or 'url_env', "
                                    "not both");
    c->url_env = ch_keep(a, s);
  }
  /* the one secret of each kind, under its own name */
  static const int secret_key[] = {CH_PASSWORD_ENV, -1, -1, CH_ROUTING_ENV,
                                   CH_TOKEN_ENV, -1, CH_SECRET_ENV};
  for (int i = CH_SECRET_ENV; i <= CH_TOKEN_ENV; i++) {
    if (!f[i])
      continue;
    if (i != secret_key[k])
      return fail(L, f[i], "'%s': not a key of a %s channel", channel_keys[i],
                  kinds[k]);
    if ((rc = get_env_name(L, f[i], channel_keys[i], &s)))
      return rc;
    c->secret_env = ch_keep(a, s);
  }
  if (f[CH_USERNAME] && f[CH_SID])
    return fail(L, f[CH_SID], "'account_sid': not with 'username'");
  int uk = f[CH_USERNAME] ? CH_USERNAME : CH_SID;
  if (f[uk]) {
    if ((uk == CH_SID) != (c->kind == NOTIFY_SMS) ||
        (uk == CH_USERNAME && c->kind != NOTIFY_EMAIL))
      return fail(L, f[uk], "'%s': not a key of a %s channel",
                  channel_keys[uk], kinds[k]);
    if ((rc = get_str(L, f[uk], channel_keys[uk], 200, &s)))
      return rc;
    c->username = ch_keep(a, s);
  }
  if (f[CH_FROM]) {
    if ((rc = get_str(L, f[CH_FROM], "from", 200, &s)))
      return rc;
    c->from = ch_keep(a, s);
  }
  if (f[CH_TO]) {
    const ynode *t = f[CH_TO];
    if (t->kind == Y_SCALAR) {
      if ((rc = get_str(L, t, "to", 200, &s)))
        return rc;
      c->to[c->nto++] = ch_keep(a, s);
    } else {
      size_t n = 0;
      if ((rc = get_list(L, t, "to", false, &n)))
        return rc;
      if (n > NOTIFY_MAX_TO)
        return fail(L, t, "'to': at most %d recipients", NOTIFY_MAX_TO);
      for (size_t i = 0; i < n; i++) {
        if ((rc = get_str(L, t->kids[i], "to", 200, &s)))
          return rc;
        c->to[c->nto++] = ch_keep(a, s);
      }
    }
  }
  if (f[CH_STARTTLS] && (rc = get_bool(L, f[CH_STARTTLS], "starttls",
                                       &c->starttls)))
    return rc;
  if (f[CH_CA]) {
    char *p = NULL;
    if ((rc = get_path(L, f[CH_CA], "ca_file", &p)))
      return rc;
    c->ca_file = ch_keep(a, p);
    free(p);
  }
  if ((f[CH_TIMEOUT] &&
       (rc = get_duration(L, f[CH_TIMEOUT], "timeout", 300 * DTO_NS_PER_SEC,
                          &c->timeout))) ||
      (f[CH_RETRIES] &&
       (rc = get_int(L, f[CH_RETRIES], "retries", 0, 20, &c->retries))) ||
      (f[CH_BACKOFF] &&
       (rc = get_duration(L, f[CH_BACKOFF], "backoff", 3600 * DTO_NS_PER_SEC,
                          &c->backoff))) ||
      (f[CH_MAXBACK] &&
       (rc = get_duration(L, f[CH_MAXBACK], "max_backoff",
                          3600 * DTO_NS_PER_SEC, &c->max_backoff))))
    return rc;
  if (c->timeout < 10 * 1000000LL)
    return fail(L, f[CH_TIMEOUT], "'timeout': must be at least 10ms");
  if (c->max_backoff < c->backoff)
    return fail(L, f[CH_MAXBACK] ? f[CH_MAXBACK] : f[CH_BACKOFF],
                "'max_backoff': must be at least 'backoff'");
  if (!c->url && !c->url_env && c->kind != NOTIFY_PAGERDUTY &&
      c->kind != NOTIFY_SMS)
    return fail(L, e, "channel '%s': needs 'url' or 'url_env'", c->name);
  if ((c->kind == NOTIFY_EMAIL || c->kind == NOTIFY_SMS) &&
      (!c->from || !c->nto))
    return fail(L, e, "channel '%s': a %s channel needs 'from' and 'to'",
                c->name, kinds[k]);
  if ((c->kind == NOTIFY_WEBHOOK || c->kind == NOTIFY_PAGERDUTY ||
       c->kind == NOTIFY_SMS) &&
      !c->secret_env)
    return fail(L, e, "channel '%s': needs '%s'", c->name,
                channel_keys[secret_key[k]]);
  if (c->kind == NOTIFY_SMS && !c->username)
    return fail(L, e, "channel '%s': needs 'account_sid'", c->name);
  return 0;
}

enum { RU_NAME, RU_EXPR, RU_FOR, RU_SEV, RU_LABELS, RU_SUMMARY, RU__N };
static const char *const rule_keys[RU__N] = {"name",     "expr",   "for",
                                             "severity", "labels", "summary"};

static int load_rule(loader *L, const ynode *e, alert_rule *r) {
  const ynode *f[RU__N];
  int rc;
  if ((rc = want_map(L, e, "a rule", false)) ||
      (rc = map_fields(L, e, "in a rule", rule_keys, RU__N, f)))
    return rc;
  memset(r, 0, sizeof *r);
  r->sev = SEV_WARNING;
  if (!f[RU_NAME] || !f[RU_EXPR])
    return fail(L, e, "a rule needs 'name' and 'expr'");
  const char *s;
  if ((rc = get_str(L, f[RU_NAME], "name", ALERT_NAME_MAX - 1, &s)))
    return rc;
  bool ok = f[RU_NAME]->len > 0 && isalpha((unsigned char)s[0]);
  for (size_t i = 0; ok && i < f[RU_NAME]->len; i++)
    ok = isalnum((unsigned char)s[i]) || s[i] == '_';
  if (!ok)
    return fail(L, f[RU_NAME], "'name': '%.64s' is not a valid alert name "
                               "(a letter, then letters, digits, '_')",
                s);
  snprintf(r->name, sizeof r->name, "%s", s);
  char e2[CFG_ERR_MAX];
  if ((rc = get_str(L, f[RU_EXPR], "expr", ALERT_EXPR_MAX - 1, &s)))
    return rc;
  if (alert_rule_expr(r, s, e2, sizeof e2))
    return fail(L, f[RU_EXPR], "'expr': %s", e2);
  if (f[RU_FOR] && (rc = get_duration(L, f[RU_FOR], "for",
                                      24 * 3600 * DTO_NS_PER_SEC, &r->for_)))
    return rc;
  static const char *const sevs[] = {"info", "warning", "critical"};
  int sv = SEV_WARNING;
  if (f[RU_SEV] &&
      (rc = get_enum(L, f[RU_SEV], "severity", sevs, DTO_ARRAY_LEN(sevs), &sv)))
    return rc;
  r->sev = (enum alert_sev)sv;
  if (f[RU_LABELS]) {
    const ynode *m = f[RU_LABELS];
    if ((rc = want_map(L, m, "'labels'", false)))
      return rc;
    if (m->n / 2 > ALERT_LABELS_MAX)
      return fail(L, m, "'labels': at most %d", ALERT_LABELS_MAX);
    for (size_t i = 0; i < m->n; i += 2) {
      const ynode *k = m->kids[i];
      ok = k->kind == Y_SCALAR && k->len > 0 && k->len < ALERT_NAME_MAX &&
           (isalpha((unsigned char)k->text[0]) || k->text[0] == '_') &&
           strncmp(k->text, "__", 2) && strcmp(k->text, "alertname") &&
           strcmp(k->text, "severity");
      for (size_t j = 0; ok && j < k->len; j++)
        ok = isalnum((unsigned char)k->text[j]) || k->text[j] == '_';
      if (!ok)
        return fail(L, k, "'labels': '%.64s' is not a label name of one's own",
                    k->kind == Y_SCALAR ? k->text : "?");
      if ((rc = get_str(L, m->kids[i + 1], k->text, 127, &s)))
        return rc;
      snprintf(r->lkeys[r->nl], sizeof r->lkeys[0], "%s", k->text);
      snprintf(r->lvals[r->nl], sizeof r->lvals[0], "%s", s);
      r->nl++;
    }
  }
  if (f[RU_SUMMARY]) {
    if ((rc = get_str(L, f[RU_SUMMARY], "summary", 255, &s)))
      return rc;
    snprintf(r->summary, sizeof r->summary, "%s", s);
  }
  return 0;
}

/* A list of channel names, each one configured. */
static int get_channel_names(loader *L, const ynode *v, const char *key,
                             char out[][NOTIFY_NAME_MAX], int *n) {
  size_t cnt = 0;
  int rc;
  if ((rc = get_list(L, v, key, true, &cnt)))
    return rc;
  if (cnt > ALERT_ROUTE_MAX)
    return fail(L, v, "'%s': at most %d channels", key, ALERT_ROUTE_MAX);
  const cfg_alerts *a = &L->cfg->alerts;
  for (size_t i = 0; i < cnt; i++) {
    const char *s = NULL;
    if ((rc = get_str(L, v->kids[i], key, NOTIFY_NAME_MAX - 1, &s)))
      return rc;
    size_t j = 0;
    while (j < a->nchannels && strcmp(a->channels[j].name, s))
      j++;
    if (j == a->nchannels)
      return fail(L, v->kids[i], "'%s': no channel named '%.64s' in "
                                 "'alerts.channels'",
                  key, s);
    snprintf(out[i], NOTIFY_NAME_MAX, "%s", s);
  }
  *n = (int)cnt;
  return 0;
}

enum {
  ALT_DEFAULTS, ALT_RULES, ALT_GROUP_BY, ALT_GROUP_WAIT, ALT_REPEAT, ALT_ESCALATE,
  ALT_RESOLVE_AFTER, ALT_SEND_RESOLVED, ALT_ROUTES, ALT_MAINT, ALT_CHANNELS, ALT__N
};
static const char *const alerts_keys[ALT__N] = {
    "default_rules", "rules",         "group_by",      "group_wait",
    "repeat_interval", "escalate_after", "resolve_after", "send_resolved",
    "routes",        "maintenance",   "channels"};

static int load_alerts(loader *L, const ynode *v) {
  cfg_alerts *a = &L->cfg->alerts;
  const ynode *f[ALT__N];
  int rc;
  if (!v)
    return 0;
  a->present = true;
  if ((rc = want_map(L, v, "'alerts'", true)) == 1)
    return 0;
  if (rc || (rc = map_fields(L, v, "in 'alerts'", alerts_keys, ALT__N, f)))
    return rc;
  alert_conf *c = &a->conf;
  if (f[ALT_DEFAULTS] &&
      (rc = get_bool(L, f[ALT_DEFAULTS], "default_rules", &a->default_rules)))
    return rc;
  size_t n = 0;
  if (f[ALT_CHANNELS]) {
    if ((rc = get_list(L, f[ALT_CHANNELS], "channels", true, &n)))
      return rc;
    if (n > 64)
      return fail(L, f[ALT_CHANNELS], "'channels': at most 64");
    a->channels = xcalloc(n ? n : 1, sizeof *a->channels);
    for (size_t i = 0; i < n; i++) {
      if ((rc = load_channel(L, f[ALT_CHANNELS]->kids[i], &a->channels[i])))
        return rc;
      for (size_t j = 0; j < i; j++)
        if (!strcmp(a->channels[j].name, a->channels[i].name))
          return fail(L, f[ALT_CHANNELS]->kids[i],
                      "channel '%s': the name is used twice", a->channels[i].name);
      a->nchannels = i + 1;
    }
  }
  if (f[ALT_RULES]) {
    if ((rc = get_list(L, f[ALT_RULES], "rules", true, &n)))
      return rc;
    if (n > 256)
      return fail(L, f[ALT_RULES], "'rules': at most 256");
    a->rules = xcalloc(n ? n : 1, sizeof *a->rules);
    for (size_t i = 0; i < n; i++) {
      if ((rc = load_rule(L, f[ALT_RULES]->kids[i], &a->rules[i])))
        return rc;
      for (size_t j = 0; j < i; j++)
        if (!strcmp(a->rules[j].name, a->rules[i].name))
          return fail(L, f[ALT_RULES]->kids[i],
                      "rule '%s': the name is used twice", a->rules[i].name);
      a->nrules = i + 1;
    }
  }
  if (f[ALT_GROUP_BY]) {
    if ((rc = get_list(L, f[ALT_GROUP_BY], "group_by", false, &n)))
      return rc;
    if (n > ALERT_GROUP_BY_MAX)
      return fail(L, f[ALT_GROUP_BY], "'group_by': at most %d labels",
                  ALERT_GROUP_BY_MAX);
    for (size_t i = 0; i < n; i++) {
      const char *s;
      if ((rc = get_str(L, f[ALT_GROUP_BY]->kids[i], "group_by",
                        ALERT_NAME_MAX - 1, &s)))
        return rc;
      snprintf(c->group_by[i], sizeof c->group_by[i], "%s", s);
    }
    c->ngroup_by = (int)n;
  }
  dto_time day = 24 * 3600 * DTO_NS_PER_SEC;
  if ((f[ALT_GROUP_WAIT] && (rc = get_duration(L, f[ALT_GROUP_WAIT], "group_wait",
                                              3600 * DTO_NS_PER_SEC,
                                              &c->group_wait))) ||
      (f[ALT_REPEAT] && (rc = get_duration(L, f[ALT_REPEAT], "repeat_interval",
                                          7 * day, &c->repeat_interval))) ||
      (f[ALT_ESCALATE] && (rc = get_duration(L, f[ALT_ESCALATE], "escalate_after",
                                            day, &c->escalate_after))) ||
      (f[ALT_RESOLVE_AFTER] &&
       (rc = get_duration(L, f[ALT_RESOLVE_AFTER], "resolve_after", 7 * day,
                          &c->resolve_after))) ||
      (f[ALT_SEND_RESOLVED] && (rc = get_bool(L, f[ALT_SEND_RESOLVED],
                                             "send_resolved", &c->send_resolved))))
    return rc;
  if (c->repeat_interval < DTO_NS_PER_MIN)
    return fail(L, f[ALT_REPEAT], "'repeat_interval': must be at least 1m");
  if (c->escalate_after < DTO_NS_PER_SEC)
    return fail(L, f[ALT_ESCALATE], "'escalate_after': must be at least 1s");
  if (c->resolve_after < DTO_NS_PER_SEC)
    return fail(L, f[ALT_RESOLVE_AFTER], "'resolve_after': must be at least 1s");
  if (f[ALT_ROUTES]) {
    const ynode *r = f[ALT_ROUTES];
    static const char *const sevs[] = {"info", "warning", "critical"};
    const ynode *rs[SEV_COUNT];
    if ((rc = want_map(L, r, "'routes'", false)) ||
        (rc = map_fields(L, r, "in 'routes'", sevs, SEV_COUNT, rs)))
      return rc;
    for (int i = 0; i < SEV_COUNT; i++) {
      if (!rs[i])
        continue;
      static const char *const route_keys[] = {"channels", "escalate"};
      const ynode *rf[2];
      if ((rc = want_map(L, rs[i], "a route", false)) ||
          (rc = map_fields(L, rs[i], "in a route", route_keys, 2, rf)))
        return rc;
      alert_route *ro = &c->routes[i];
      if ((rf[0] && (rc = get_channel_names(L, rf[0], "channels", ro->ch,
                                            &ro->nch))) ||
          (rf[1] && (rc = get_channel_names(L, rf[1], "escalate", ro->esc,
                                            &ro->nesc))))
        return rc;
    }
  } else {
    /* every severity to every channel, when nothing says otherwise */
    for (int i = 0; i < SEV_COUNT; i++) {
      for (size_t j = 0; j < a->nchannels && j < ALERT_ROUTE_MAX; j++)
        snprintf(c->routes[i].ch[j], NOTIFY_NAME_MAX, "%s", a->channels[j].name);
      c->routes[i].nch = (int)(a->nchannels < ALERT_ROUTE_MAX ? a->nchannels : ALERT_ROUTE_MAX);
    }
  }
  if (f[ALT_MAINT]) {
    if ((rc = get_list(L, f[ALT_MAINT], "maintenance", true, &n)))
      return rc;
    if (n > ALERT_WINDOWS_MAX)
      return fail(L, f[ALT_MAINT], "'maintenance': at most %d windows",
                  ALERT_WINDOWS_MAX);
    for (size_t i = 0; i < n; i++) {
      const ynode *w = f[ALT_MAINT]->kids[i], *wf[2];
      static const char *const wkeys[] = {"start", "duration"};
      const char *s;
      char e2[CFG_ERR_MAX];
      if ((rc = want_map(L, w, "a maintenance window", false)) ||
          (rc = map_fields(L, w, "in a maintenance window", wkeys, 2, wf)))
        return rc;
      if (!wf[0] || !wf[1])
        return fail(L, w, "a maintenance window needs 'start' and 'duration'");
      if ((rc = get_str(L, wf[0], "start", SCHED_TEXT_MAX, &s)))
        return rc;
      if (sched_parse(s, &c->windows[i].start, e2, sizeof e2))
        return fail(L, wf[0], "'start': %s", e2);
      if ((rc = get_duration(L, wf[1], "duration", 7 * day,
                             &c->windows[i].length)))
        return rc;
      c->nwindows = (int)i + 1;
    }
  }
  return 0;
}

enum {
  BK_DIR, BK_SECOND, BK_KEY_ENV, BK_KEY_FILE, BK_LEVEL, BK_RET, BK_SCHED,
  BK_OVERDUE, BK_INCR, BK_LOGS, BK_CONFS, BK_VERIFY, BK_VFULL, BK_DRILL,
  BK_CFILES, BK_LOG_OVERDUE, BK_UPLOAD, BK_FETCH, BK_CMD_TIMEOUT, BK__N
};
static const char *const backup_keys[BK__N] = {
    "dir",   "secondary_dir", "key_env",  "key_file",
    "level", "retention",     "schedule", "overdue_after",
    "incremental_schedule", "log_schedule", "config_schedule",
    "verify_schedule", "verify_full_schedule", "drill_schedule",
    "config_files", "log_overdue_after", "upload_command", "fetch_command",
    "command_timeout"};

/* A command as a list of strings into a NULL-terminated argv (owned). */
static int get_argv(loader *L, const ynode *v, const char *key, char ***out) {
  size_t n = 0;
  int rc;
  if (!v || is_null(v))
    return 0;
  if ((rc = get_list(L, v, key, false, &n)))
    return rc;
  if (n == 0 || n > 64)
    return fail(L, v, "'%s': a command of 1 to 64 words, e.g. [rclone, "
                      "copy, \"{file}\", \"remote:dto\"]",
                key);
  char **a = xcalloc(n + 1, sizeof *a);
  *out = a;
  for (size_t i = 0; i < n; i++) {
    const char *w = NULL;
    if ((rc = get_str(L, v->kids[i], key, 4096, &w)))
      return rc;
    if (!*w)
      return fail(L, v->kids[i], "'%s': an empty word", key);
    a[i] = xstrdup(w);
  }
  return 0;
}

/* A schedule expression of the backup section into *out (owned). */
static int get_schedule(loader *L, const ynode *v, const char *key,
                        char **out) {
  const char *sx = NULL;
  char e2[CFG_ERR_MAX];
  sched_expr ex;
  int rc;
  if (!v || is_null(v))
    return 0;
  if ((rc = get_str(L, v, key, SCHED_TEXT_MAX, &sx)))
    return rc;
  if (sched_parse(sx, &ex, e2, sizeof e2))
    return fail(L, v, "'%s': %s", key, e2);
  *out = xstrdup(sx);
  return 0;
}
enum { BR_DAILY, BR_WEEKLY, BR_MONTHLY, BR_RECENT, BR__N };
static const char *const backup_ret_keys[BR__N] = {"daily", "weekly",
                                                   "monthly", "keep_recent"};

/* A value that is itself a key (64 hex digits): the file never holds one. */
static bool looks_like_key_value(const ynode *v) {
  if (v->kind != Y_SCALAR || v->len != 2 * 32)
    return false;
  for (size_t i = 0; i < v->len; i++)
    if (!isxdigit((unsigned char)v->text[i]))
      return false;
  return true;
}

static int load_backup(loader *L, const ynode *v) {
  cfg_backup *b = &L->cfg->backup;
  const ynode *f[BK__N];
  int rc;
  if (!v)
    return 0;
  b->present = true;
  if ((rc = want_map(L, v, "'backup'", false)))
    return rc;
  for (size_t i = 0; i < v->n; i += 2) {
    const ynode *k = v->kids[i];
    bool known = false;
    for (size_t j = 0; j < BK__N && k->kind == Y_SCALAR; j++)
      known = known || !strcmp(k->text, backup_keys[j]);
    if (k->kind == Y_SCALAR && !known && looks_like_secret(k->text))
      return fail(L, k, "'%.64s': no keys in the configuration file; name "
                        "the variable with 'key_env' or a 0600 file with "
                        "'key_file'",
                  k->text);
  }
  if ((rc = map_fields(L, v, "in 'backup'", backup_keys, BK__N, f)))
    return rc;
  for (int i = 0; i < BK__N; i++)
    if (f[i] && looks_like_key_value(f[i]))
      return fail(L, f[i], "'%s': this looks like a key; no keys in the "
                           "configuration file (set the variable 'key_env' "
                           "names, or use a 0600 'key_file')",
                  backup_keys[i]);
  if (!f[BK_DIR])
    return fail(L, v, "'backup' needs 'dir' (the primary destination)");
  if ((rc = get_path(L, f[BK_DIR], "dir", &b->dir)))
    return rc;
  if (f[BK_SECOND] && !is_null(f[BK_SECOND]) &&
      (rc = get_path(L, f[BK_SECOND], "secondary_dir", &b->secondary_dir)))
    return rc;
  if (f[BK_KEY_ENV]) {
    const char *s;
    if ((rc = get_env_name(L, f[BK_KEY_ENV], "key_env", &s)))
      return rc;
    snprintf(b->key_env, sizeof b->key_env, "%s", s);
  }
  if (f[BK_KEY_FILE] && !is_null(f[BK_KEY_FILE]) &&
      (rc = get_path(L, f[BK_KEY_FILE], "key_file", &b->key_file)))
    return rc;
  if (f[BK_LEVEL] && (rc = get_int(L, f[BK_LEVEL], "level", 1, 19, &b->level)))
    return rc;
  if ((rc = get_schedule(L, f[BK_SCHED], "schedule", &b->schedule)) ||
      (rc = get_schedule(L, f[BK_INCR], "incremental_schedule",
                         &b->incremental_schedule)) ||
      (rc = get_schedule(L, f[BK_LOGS], "log_schedule", &b->log_schedule)) ||
      (rc = get_schedule(L, f[BK_CONFS], "config_schedule",
                         &b->config_schedule)) ||
      (rc = get_schedule(L, f[BK_VERIFY], "verify_schedule",
                         &b->verify_schedule)) ||
      (rc = get_schedule(L, f[BK_VFULL], "verify_full_schedule",
                         &b->verify_full_schedule)) ||
      (rc = get_schedule(L, f[BK_DRILL], "drill_schedule",
                         &b->drill_schedule)))
    return rc;
  if (f[BK_CFILES]) {
    size_t n = 0;
    if ((rc = get_list(L, f[BK_CFILES], "config_files", true, &n)))
      return rc;
    if (n > 64)
      return fail(L, f[BK_CFILES], "'config_files': at most 64 files");
    b->config_files = xcalloc(n ? n : 1, sizeof *b->config_files);
    for (size_t i = 0; i < n; i++) {
      if ((rc = get_path(L, f[BK_CFILES]->kids[i], "config_files",
                         &b->config_files[i])))
        return rc;
      b->nconfig_files = i + 1;
    }
  }
  if ((rc = get_argv(L, f[BK_UPLOAD], "upload_command",
                     &b->upload_command)) ||
      (rc = get_argv(L, f[BK_FETCH], "fetch_command", &b->fetch_command)))
    return rc;
  if (b->fetch_command && !b->upload_command)
    return fail(L, f[BK_FETCH], "'fetch_command': needs 'upload_command'");
  if (f[BK_CMD_TIMEOUT]) {
    dto_time t;
    if ((rc = get_duration(L, f[BK_CMD_TIMEOUT], "command_timeout",
                           24 * 3600 * DTO_NS_PER_SEC, &t)))
      return rc;
    if (t < DTO_NS_PER_SEC)
      return fail(L, f[BK_CMD_TIMEOUT],
                  "'command_timeout': must be at least 1s");
    b->command_timeout_s = (int)(t / DTO_NS_PER_SEC);
  }
  if (f[BK_LOG_OVERDUE] &&
      (rc = get_duration(L, f[BK_LOG_OVERDUE], "log_overdue_after",
                         366 * 24 * 3600 * DTO_NS_PER_SEC,
                         &b->log_overdue_after)))
    return rc;
  if (b->log_overdue_after < DTO_NS_PER_MIN)
    return fail(L, f[BK_LOG_OVERDUE],
                "'log_overdue_after': must be at least 1m");
  if (f[BK_OVERDUE] &&
      (rc = get_duration(L, f[BK_OVERDUE], "overdue_after",
                         366 * 24 * 3600 * DTO_NS_PER_SEC, &b->overdue_after)))
    return rc;
  if (b->overdue_after < DTO_NS_PER_MIN)
    return fail(L, f[BK_OVERDUE], "'overdue_after': must be at least 1m");
  if (f[BK_RET] && !is_null(f[BK_RET])) {
    const ynode *r[BR__N];
    if ((rc = want_map(L, f[BK_RET], "'retention'", false)) ||
        (rc = map_fields(L, f[BK_RET], "in 'retention'", backup_ret_keys,
                         BR__N, r)))
      return rc;
    if ((r[BR_DAILY] &&
         (rc = get_int(L, r[BR_DAILY], "daily", 0, 10000, &b->daily))) ||
        (r[BR_WEEKLY] &&
         (rc = get_int(L, r[BR_WEEKLY], "weekly", 0, 10000, &b->weekly))) ||
        (r[BR_MONTHLY] &&
         (rc = get_int(L, r[BR_MONTHLY], "monthly", 0, 10000, &b->monthly))) ||
        (r[BR_RECENT] &&
         (rc = get_duration(L, r[BR_RECENT], "keep_recent",
                            3660 * 24 * 3600 * DTO_NS_PER_SEC,
                            &b->keep_recent))))
      return rc;
  }
  return 0;
}

enum {
  T_LOG,
  T_ACCOUNTS,
  T_INSTR,
  T_DATA,
  T_STRAT,
  T_FILL,
  T_FEES,
  T_BT,
  T_RUN,
  T_RISK,
  T_ALPACA,
  T_API,
  T_LOGS,
  T_MONITOR,
  T_ALERTS,
  T_BACKUP,
  T__N
};
static const char *const top_keys[T__N] = {
    "log_level", "accounts", "instruments", "data", "strategies",
    "fill",      "fees",     "backtest",    "run",        "risk",
    "alpaca",    "api",      "log",         "monitoring", "alerts",
    "backup"};

static int load_root(loader *L, const ynode *root) {
  const ynode *f[T__N];
  int rc;
  if (!root || is_null(root))
    return fail_lc(L, 1, 1,
                   "the configuration is empty; it needs at least an "
                   "'accounts' list");
  if (root->kind != Y_MAP)
    return fail(L, root,
                "top level: expected a mapping of sections such as "
                "'accounts' and 'strategies'");
  if ((rc = map_fields(L, root, "at top level", top_keys, T__N, f)))
    return rc;
  if (f[T_LOG] && (rc = load_log_level(L, f[T_LOG])))
    return rc;
  if ((rc = load_accounts(L, root, f[T_ACCOUNTS])) ||
      (rc = load_instruments(L, f[T_INSTR])) ||
      (rc = load_data(L, f[T_DATA])) || (rc = load_strategies(L, f[T_STRAT])) ||
      (rc = load_fill(L, f[T_FILL])) || (rc = load_fees(L, f[T_FEES])) ||
      (rc = load_backtest(L, f[T_BT])) || (rc = load_run(L, f[T_RUN])) ||
      (rc = load_risk(L, f[T_RISK])) || (rc = load_alpaca(L, f[T_ALPACA])) ||
      (rc = load_api(L, f[T_API])) ||
      (f[T_LOGS] && (rc = load_log(L, f[T_LOGS], f[T_LOG] != NULL))) ||
      (rc = load_monitor(L, f[T_MONITOR])) ||
      (rc = load_alerts(L, f[T_ALERTS])) ||
      (rc = load_backup(L, f[T_BACKUP])))
    return rc;
  return 0;
}

/* ---- public -------------------------------------------------------------- */

void config_defaults(dto_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  instruments_init(&cfg->instruments);
  cfg->fill.model = FILL_NEXT_BAR_OPEN;
  cfg->fill.slippage_bps = 0;
  cfg->fill.max_volume_share = FX_ONE / 10;
  cfg->fill.latency_kind = LATENCY_FIXED;
  cfg->fill.latency = 0;
  cfg->fill.latency_max = 0;
  cfg->fill.seed = 1;
  cfg->backtest.from = INT64_MIN;
  cfg->backtest.to = INT64_MAX;
  cfg->backtest.equity_interval = CFG_EQUITY_AUTO;
  cfg->run.feed = FEED_REPLAY;
  cfg->run.speed = 1.0;
  cfg->run.gen_seed = 42;
  cfg->run.gen_days = 1;
  cfg->run.drain_timeout = 10 * DTO_NS_PER_SEC;
  cfg->run.idle_spin = RUN_IDLE_SPIN_DEFAULT;
  cfg->log_level = LOG_INFO;
  config_alpaca_defaults(&cfg->alpaca);
  config_api_defaults(&cfg->api);
  cfg->monitor.interval = DTO_NS_PER_SEC;
  cfg->monitor.stale_after = 120 * DTO_NS_PER_SEC;
  cfg->alerts.default_rules = true;
  alert_conf_defaults(&cfg->alerts.conf);
  snprintf(cfg->backup.key_env, sizeof cfg->backup.key_env, "%s",
           "DTO_BACKUP_KEY");
  cfg->backup.level = 3;
  cfg->backup.daily = 30;
  cfg->backup.weekly = 12;
  cfg->backup.monthly = 12;
  cfg->backup.keep_recent = 24 * DTO_NS_PER_HOUR;
  cfg->backup.overdue_after = 26 * DTO_NS_PER_HOUR;
  cfg->backup.log_overdue_after = 45 * DTO_NS_PER_MIN;
  cfg->backup.command_timeout_s = 600;
}

void config_release(dto_config *cfg) {
  free(cfg->path);
  free(cfg->dir);
  free(cfg->accounts);
  instruments_release(&cfg->instruments);
  for (size_t i = 0; i < cfg->ndata; i++)
    free(cfg->data[i].path);
  free(cfg->data);
  for (size_t i = 0; i < cfg->nstrategies; i++) {
    free(cfg->strategies[i].syms);
    free(cfg->strategies[i].params);
  }
  free(cfg->strategies);
  free(cfg->backtest.out_dir);
  free(cfg->run.state_dir);
  free(cfg->run.ctl_socket);
  free(cfg->run.status_log);
  free(cfg->run.store);
  free(cfg->risk.account_orders);
  free(cfg->risk.accounts);
  free(cfg->risk.strategy_orders);
  free(cfg->risk.strategies);
  free(cfg->risk.symbol_orders);
  free(cfg->alpaca.trading_url);
  free(cfg->alpaca.data_url);
  free(cfg->alpaca.stream_url);
  free(cfg->alpaca.data_stream_url);
  free(cfg->api.listen);
  free(cfg->api.tls_cert);
  free(cfg->api.tls_key);
  free(cfg->log.file);
  free(cfg->monitor.disk_data);
  free(cfg->monitor.disk_log);
  free(cfg->monitor.disk_backup);
  free(cfg->alerts.rules);
  free(cfg->alerts.channels);
  for (size_t i = 0; i < cfg->alerts.nchstr; i++)
    free(cfg->alerts.chstr[i]);
  free(cfg->alerts.chstr);
  free(cfg->backup.dir);
  free(cfg->backup.secondary_dir);
  free(cfg->backup.key_file);
  free(cfg->backup.schedule);
  free(cfg->backup.incremental_schedule);
  free(cfg->backup.log_schedule);
  free(cfg->backup.config_schedule);
  free(cfg->backup.verify_schedule);
  free(cfg->backup.verify_full_schedule);
  free(cfg->backup.drill_schedule);
  for (size_t i = 0; i < cfg->backup.nconfig_files; i++)
    free(cfg->backup.config_files[i]);
  free(cfg->backup.config_files);
  for (char **p = cfg->backup.upload_command; p && *p; p++)
    free(*p);
  free(cfg->backup.upload_command);
  for (char **p = cfg->backup.fetch_command; p && *p; p++)
    free(*p);
  free(cfg->backup.fetch_command);
  config_defaults(cfg);
}

int config_load_mem(const char *name, const char *text, size_t len,
                    const char *dir, dto_config *cfg, char *err,
                    size_t errcap) {
  loader L = {name ? name : "<config>", err, errcap, cfg};
  ynode *root = NULL;
  int rc;

  if (err && errcap)
    err[0] = '\0';
  config_defaults(cfg);
  cfg->path = xstrdup(L.name);
  cfg->dir = xstrdup(dir && dir[0] ? dir : ".");
  if (len > CFG_FILE_MAX) {
    rc = fail_lc(&L, 1, 1, "file is larger than %d bytes", CFG_FILE_MAX);
    goto out;
  }
  rc = build_tree(&L, text ? text : "", text ? len : 0, &root);
  if (!rc)
    rc = load_root(&L, root);
  ynode_free(root);
out:
  if (rc)
    config_release(cfg);
  return rc;
}

/* The folder part of path: "." when there is none. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return xstrdup(".");
  if (slash == path)
    return xstrdup("/");
  return xstrndup(path, (size_t)(slash - path));
}

int config_load(const char *path, dto_config *cfg, char *err, size_t errcap) {
  loader L = {path, err, errcap, cfg};
  char *buf = NULL, *dir = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  FILE *f;

  config_defaults(cfg);
  /* Never block on a FIFO or a device given as the configuration. */
  int fd;
  char oerr[CFG_ERR_MAX];
  rc = fileio_open_regular(path, &fd, NULL, oerr, sizeof oerr);
  if (rc) {
    if (err && errcap)
      snprintf(err, errcap, "%s", oerr);
    return DTO_EIO;
  }
  f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    goto io_error;
  }
  for (;;) {
    buf = xgrow(buf, &cap, len + 65536, 1);
    size_t want = cap - len;
    size_t got = fread(buf + len, 1, want, f);
    len += got;
    if (len > CFG_FILE_MAX) {
      rc = fail_lc(&L, 1, 1, "file is larger than %d bytes", CFG_FILE_MAX);
      goto out;
    }
    if (got < want) {
      if (ferror(f))
        goto io_error;
      break;
    }
  }
  dir = dir_of(path);
  rc = config_load_mem(path, buf, len, dir, cfg, err, errcap);
  goto out;

io_error : {
  int e = errno;
  if (err && errcap)
    snprintf(err, errcap, "%s: cannot read: %s", path, strerror(e));
  rc = DTO_EIO;
}
out:
  if (f)
    fclose(f);
  free(buf);
  free(dir);
  return rc;
}

const char *latency_kind_name(enum latency_kind k) {
  return k == LATENCY_FIXED ? "fixed" : k == LATENCY_RANDOM ? "random" : "?";
}

const char *cfg_feed_name(enum cfg_feed f) {
  return f == FEED_REPLAY     ? "replay"
         : f == FEED_GENERATE ? "generate"
         : f == FEED_ALPACA   ? "alpaca"
                              : "?";
}

const char *cfg_data_kind_name(enum cfg_data_kind k) {
  return k == CFG_DATA_BARS ? "bars" : k == CFG_DATA_TRADES ? "trades" : "?";
}
