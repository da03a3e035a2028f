/* store.c - the store front: URL parsing, input checks, dispatch, migrations.
 *
 * Every store_*() call checks its inputs here (lengths, NUL bytes, UTF-8,
 * required fields) before the back-end sees them, so both back-ends refuse
 * the same inputs with the same messages.  Failures are remembered per
 * calling thread for store_errmsg().  The back-ends live in sqlite.c,
 * postgres.c and faulty.c; this file holds no SQL.
 */
#include "core/prelude.h"

#include <pthread.h>
#include <stdarg.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/store.h"
#include "store/store_int.h"

/* Threads that keep a last error message per store; a thread beyond these
 * reuses the oldest slot. */
#define ERR_SLOTS 16

struct store {
  const store_ops *ops;
  void *ctx;
  pthread_mutex_t mu; /* guards the slots */
  unsigned next;      /* slot to reuse next */
  struct {
    bool used;
    pthread_t tid;
    char msg[STORE_ERR_MAX];
  } slots[ERR_SLOTS];
};

/* ---- helpers shared with the back-ends --------------------------------- */

int store__fail(store_err *e, int code, const char *fmt, ...) {
  if (e) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

void store__copy(char *dst, size_t dcap, const char *src, size_t srclen) {
  if (!dcap)
    return;
  if (!src)
    srclen = 0;
  if (srclen >= dcap)
    srclen = dcap - 1;
  if (srclen)
    memcpy(dst, src, srclen);
  dst[srclen] = '\0';
}

int store__parse_i64(const char *s, int64_t *out) {
  if (!s || !*s)
    return DTO_EPARSE;
  const char *p = s;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    p++;
  }
  if (!*p)
    return DTO_EPARSE;
  uint64_t v = 0;
  uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return DTO_EPARSE;
    unsigned d = (unsigned)(*p - '0');
    if (v > (limit - d) / 10)
      return DTO_EOVERFLOW;
    v = v * 10 + d;
  }
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

const char *store_table_name(enum store_table t) {
  static const char *const names[STORE_T_COUNT] = {
      [STORE_T_EVENTS] = "events",
      [STORE_T_ORDERS] = "orders",
      [STORE_T_FILLS] = "fills",
      [STORE_T_POSITIONS] = "positions",
      [STORE_T_ACCOUNTS] = "accounts",
      [STORE_T_DAILY_PNL] = "daily_pnl",
      [STORE_T_RISK_DECISIONS] = "risk_decisions",
      [STORE_T_SNAPSHOTS] = "snapshots",
      [STORE_T_IDEMPOTENCY] = "idempotency_keys",
      [STORE_T_USERS] = "users",
      [STORE_T_SESSIONS] = "sessions",
      [STORE_T_AUDIT_LOG] = "audit_log",
      [STORE_T_API_TOKENS] = "api_tokens",
      [STORE_T_ALERT_HISTORY] = "alert_history",
  };
  if ((int)t < 0 || t >= STORE_T_COUNT)
    return NULL;
  return names[t];
}

/* ---- input checks ------------------------------------------------------ */

/* True when the n bytes at s are valid UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned min, cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

/* Check text of n bytes: at most max, no NUL, UTF-8.  what names it. */
static int check_bytes(const char *what, const char *s, size_t n, size_t max,
                       store_err *e) {
  if (n > max)
    return store__fail(e, DTO_ETOOBIG, "%s: %zu bytes, at most %zu allowed",
                       what, n, max);
  if (n && memchr(s, '\0', n))
    return store__fail(e, DTO_EINVAL, "%s: contains a NUL byte", what);
  if (!utf8_valid((const unsigned char *)s, n))
    return store__fail(e, DTO_EINVAL, "%s: not valid UTF-8", what);
  return 0;
}

/* Check a NUL-terminated string: NULL counts as "". */
static int check_str(const char *what, const char *s, size_t max, bool required,
                     store_err *e) {
  size_t n = s ? strnlen(s, max + 1) : 0;
  if (n > max)
    return store__fail(e, DTO_ETOOBIG, "%s: longer than %zu bytes", what, max);
  if (required && n == 0)
    return store__fail(e, DTO_EINVAL, "%s: must not be empty", what);
  return check_bytes(what, s, n, max, e);
}

/* Check a char array field of a row: NUL-terminated within the array. */
#define CHECK_ARR(row, field, required, e)                                     \
  check_arr(#row "." #field, (row)->field, sizeof((row)->field), required, e)

static int check_arr(const char *what, const char *a, size_t size,
                     bool required, store_err *e) {
  if (!memchr(a, '\0', size))
    return store__fail(e, DTO_ETOOBIG, "%s: longer than %zu bytes", what,
                       size - 1);
  return check_str(what, a, size - 1, required, e);
}

static int check_events(const store_event *ev, size_t n, store_err *e) {
  if (!ev || n == 0)
    return store__fail(e, DTO_EINVAL, "append: no events");
  if (n > STORE_APPEND_MAX)
    return store__fail(e, DTO_ETOOBIG,
                       "append: %zu events in one batch, at most %d", n,
                       STORE_APPEND_MAX);
  char what[64];
  for (size_t i = 0; i < n; i++) {
    int rc;
    snprintf(what, sizeof what, "event[%zu].type", i);
    if ((rc = check_str(what, ev[i].type, STORE_EVENT_TYPE_MAX, true, e)))
      return rc;
    snprintf(what, sizeof what, "event[%zu].account", i);
    if ((rc = check_str(what, ev[i].account, STORE_ID_MAX, false, e)))
      return rc;
    snprintf(what, sizeof what, "event[%zu].strategy", i);
    if ((rc = check_str(what, ev[i].strategy, STORE_ID_MAX, false, e)))
      return rc;
    snprintf(what, sizeof what, "event[%zu].payload", i);
    if (!ev[i].payload && ev[i].payload_len)
      return store__fail(e, DTO_EINVAL, "%s: NULL with a length", what);
    if ((rc = check_bytes(what, ev[i].payload, ev[i].payload_len,
                          STORE_PAYLOAD_MAX, e)))
      return rc;
  }
  return 0;
}

static int check_order(const store_order *o, store_err *e) {
  int rc;
  if (!o)
    return store__fail(e, DTO_EINVAL, "order: NULL");
  if ((rc = CHECK_ARR(o, cloid, true, e)) ||
      (rc = CHECK_ARR(o, broker_id, false, e)) ||
      (rc = CHECK_ARR(o, account, true, e)) ||
      (rc = CHECK_ARR(o, strategy, false, e)) ||
      (rc = CHECK_ARR(o, symbol, true, e)) ||
      (rc = CHECK_ARR(o, side, true, e)) ||
      (rc = CHECK_ARR(o, type, true, e)) || (rc = CHECK_ARR(o, tif, true, e)) ||
      (rc = CHECK_ARR(o, state, true, e)))
    return rc;
  return 0;
}

static int check_fill(const store_fill *f, store_err *e) {
  int rc;
  if (!f)
    return store__fail(e, DTO_EINVAL, "fill: NULL");
  if ((rc = CHECK_ARR(f, fill_id, true, e)) ||
      (rc = CHECK_ARR(f, cloid, true, e)))
    return rc;
  return 0;
}

static int check_position(const store_position *p, store_err *e) {
  int rc;
  if (!p)
    return store__fail(e, DTO_EINVAL, "position: NULL");
  if ((rc = CHECK_ARR(p, account, true, e)) ||
      (rc = CHECK_ARR(p, strategy, false, e)) ||
      (rc = CHECK_ARR(p, symbol, true, e)))
    return rc;
  return 0;
}

static int check_day(int32_t day, store_err *e) {
  int y = day / 10000, m = day / 100 % 100, d = day % 100;
  if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
    return store__fail(e, DTO_EINVAL, "day: %ld is not a YYYYMMDD date",
                       (long)day);
  return 0;
}

static int check_pnl(const store_daily_pnl *d, store_err *e) {
  int rc;
  if (!d)
    return store__fail(e, DTO_EINVAL, "daily_pnl: NULL");
  if ((rc = CHECK_ARR(d, account, true, e)) ||
      (rc = CHECK_ARR(d, strategy, false, e)) || (rc = check_day(d->day, e)))
    return rc;
  return 0;
}

static int check_risk(const store_risk_decision *r, store_err *e) {
  int rc;
  if (!r)
    return store__fail(e, DTO_EINVAL, "risk_decision: NULL");
  if ((rc = CHECK_ARR(r, account, true, e)) ||
      (rc = CHECK_ARR(r, strategy, false, e)) ||
      (rc = CHECK_ARR(r, cloid, false, e)) ||
      (rc = CHECK_ARR(r, symbol, false, e)) ||
      (rc = CHECK_ARR(r, check, false, e)) ||
      (rc = CHECK_ARR(r, reason, false, e)))
    return rc;
  return 0;
}

static int check_idem(const store_idem *r, store_err *e) {
  int rc;
  if (!r)
    return store__fail(e, DTO_EINVAL, "idempotency: NULL");
  if ((rc = CHECK_ARR(r, key, true, e)) ||
      (rc = CHECK_ARR(r, request_hash, false, e)))
    return rc;
  if (r->status < 100 || r->status > 599)
    return store__fail(e, DTO_EINVAL,
                       "idempotency.status: %d is not an HTTP status",
                       r->status);
  if (!r->body && r->body_len)
    return store__fail(e, DTO_EINVAL, "idempotency.body: NULL with a length");
  return check_bytes("idempotency.body", r->body, r->body_len, STORE_BODY_MAX,
                     e);
}

/* ---- input checks: users, sessions, tokens, the audit log ------------- */

/* A hex SHA-256: exactly STORE_SHA_HEX lower-case hex digits (one spelling
 * of each hash, so the unique keys mean what they say). */
static int check_sha(const char *what, const char *h, store_err *e) {
  size_t n = h ? strnlen(h, STORE_SHA_HEX + 1) : 0;
  if (n != STORE_SHA_HEX)
    return store__fail(e, DTO_EINVAL, "%s: must be %d hex digits", what,
                       STORE_SHA_HEX);
  for (size_t i = 0; i < n; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
      return store__fail(e, DTO_EINVAL, "%s: must be %d lower-case hex digits",
                         what, STORE_SHA_HEX);
  return 0;
}

/* A hash field of a row: NUL-terminated within its array, then check_sha. */
#define CHECK_SHA(row, field, e)                                               \
  (memchr((row)->field, '\0', sizeof((row)->field))                            \
       ? check_sha(#row "." #field, (row)->field, e)                           \
       : store__fail(e, DTO_EINVAL, "%s: must be %d hex digits",               \
                     #row "." #field, STORE_SHA_HEX))

static int check_id(const char *what, int64_t id, store_err *e) {
  if (id <= 0)
    return store__fail(e, DTO_EINVAL, "%s: %lld is not a valid id", what,
                       (long long)id);
  return 0;
}

static int check_user(const store_user *u, bool with_id, store_err *e) {
  int rc;
  if (!u)
    return store__fail(e, DTO_EINVAL, "user: NULL");
  if ((with_id && (rc = check_id("u.id", u->id, e))) ||
      (rc = CHECK_ARR(u, name, true, e)) ||
      (rc = CHECK_ARR(u, role, true, e)) ||
      (rc = CHECK_ARR(u, password_hash, true, e)) ||
      (rc = CHECK_ARR(u, totp_secret, false, e)) ||
      (rc = CHECK_ARR(u, totp_pending, false, e)))
    return rc;
  return 0;
}

static int check_session(const store_session *ses, store_err *e) {
  int rc;
  if (!ses)
    return store__fail(e, DTO_EINVAL, "session: NULL");
  if ((rc = CHECK_SHA(ses, id_hash, e)) ||
      (rc = CHECK_SHA(ses, csrf_hash, e)) ||
      (rc = check_id("ses.user_id", ses->user_id, e)) ||
      (rc = CHECK_ARR(ses, address, false, e)))
    return rc;
  return 0;
}

/* The fields token_add writes (all), or those token_update writes. */
static int check_token(const store_token *t, bool update, store_err *e) {
  int rc;
  if (!t)
    return store__fail(e, DTO_EINVAL, "token: NULL");
  if (update) {
    if ((rc = check_id("t.id", t->id, e)))
      return rc;
  } else if ((rc = CHECK_SHA(t, hash, e)) ||
             (rc = check_id("t.user_id", t->user_id, e))) {
    return rc;
  }
  if ((rc = CHECK_ARR(t, name, false, e)) ||
      (rc = CHECK_ARR(t, scope, false, e)))
    return rc;
  return 0;
}

/* The caller's fields of an audit record; with hashes, also what the chain
 * function wrote. */
static int check_audit(const store_audit *a, bool hashes, store_err *e) {
  int rc;
  if (!a)
    return store__fail(e, DTO_EINVAL, "audit: NULL");
  if ((rc = CHECK_ARR(a, actor, false, e)) ||
      (rc = CHECK_ARR(a, address, false, e)) ||
      (rc = CHECK_ARR(a, action, true, e)) ||
      (rc = CHECK_ARR(a, target, false, e)) ||
      (rc = CHECK_ARR(a, outcome, false, e)) ||
      (rc = CHECK_ARR(a, detail, false, e)))
    return rc;
  if (!hashes)
    return 0;
  if ((rc = CHECK_SHA(a, hash, e)))
    return rc;
  if (!a->prev_hash[0])
    return 0; /* the first record of a chain may have no predecessor */
  return CHECK_SHA(a, prev_hash, e);
}

/* An alert record for store_alert_put(): event required, every field
 * within its array, detail "" or a JSON object (only its first byte is
 * looked at: the store keeps JSON text, it does not parse it). */
static int check_alert(const store_alert_rec *r, store_err *e) {
  int rc;
  if (!r)
    return store__fail(e, DTO_EINVAL, "alert: NULL");
  if ((rc = CHECK_ARR(r, event, true, e)) ||
      (rc = CHECK_ARR(r, name, false, e)) ||
      (rc = CHECK_ARR(r, severity, false, e)) ||
      (rc = CHECK_ARR(r, fingerprint, false, e)) ||
      (rc = CHECK_ARR(r, channel, false, e)) ||
      (rc = CHECK_ARR(r, who, false, e)) ||
      (rc = CHECK_ARR(r, detail, false, e)))
    return rc;
  if (r->detail[0] && r->detail[0] != '{')
    return store__fail(e, DTO_EINVAL,
                       "r.detail: must be a JSON object (start with '{') "
                       "or empty");
  return 0;
}

static int check_limit(const char *what, int64_t limit, store_err *e) {
  if (limit <= 0)
    return store__fail(e, DTO_EINVAL, "%s: limit %lld must be positive", what,
                       (long long)limit);
  return 0;
}

/* ---- error slots ----------------------------------------------------- */

static void remember(store *s, const store_err *e, int rc) {
  pthread_t self = pthread_self();
  pthread_mutex_lock(&s->mu);
  size_t k = ERR_SLOTS;
  for (size_t i = 0; i < ERR_SLOTS; i++)
    if (s->slots[i].used && pthread_equal(s->slots[i].tid, self)) {
      k = i;
      break;
    }
  if (k == ERR_SLOTS) {
    k = s->next++ % ERR_SLOTS;
    s->slots[k].used = true;
    s->slots[k].tid = self;
  }
  if (e->msg[0])
    store__copy(s->slots[k].msg, sizeof s->slots[k].msg, e->msg,
                strlen(e->msg));
  else
    store__copy(s->slots[k].msg, sizeof s->slots[k].msg, dto_strerror(rc),
                strlen(dto_strerror(rc)));
  pthread_mutex_unlock(&s->mu);
}

/* The end of every wrapper: remember a failure's message. */
static int done(store *s, int rc, const store_err *e) {
  if (rc != 0)
    remember(s, e, rc);
  return rc;
}

const char *store_errmsg(store *s, char *buf, size_t cap) {
  if (!cap)
    return buf;
  buf[0] = '\0';
  if (!s)
    return buf;
  pthread_t self = pthread_self();
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < ERR_SLOTS; i++)
    if (s->slots[i].used && pthread_equal(s->slots[i].tid, self)) {
      store__copy(buf, cap, s->slots[i].msg, strlen(s->slots[i].msg));
      break;
    }
  pthread_mutex_unlock(&s->mu);
  return buf;
}

/* ---- URLs ------------------------------------------------------------- */

enum url_kind { URL_SQLITE, URL_PG };

/* Length of a URL scheme at the start of u followed by "://", or 0. */
static size_t scheme_len(const char *u) {
  size_t i = 0;
  if (!((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= 'A' && u[0] <= 'Z')))
    return 0;
  while ((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') ||
         (u[i] >= '0' && u[i] <= '9') || u[i] == '+' || u[i] == '-' ||
         u[i] == '.')
    i++;
  return strncmp(u + i, "://", 3) == 0 ? i : 0;
}

/* Classify url; for SQLite *path points at the file name inside url. */
static int parse_url(const char *url, enum url_kind *kind, const char **path,
                     store_err *e) {
  if (!url || !*url)
    return store__fail(e, DTO_EINVAL, "store URL is empty");
  size_t n = strnlen(url, STORE_URL_MAX + 1);
  if (n > STORE_URL_MAX)
    return store__fail(e, DTO_ETOOBIG, "store URL: longer than %d bytes",
                       STORE_URL_MAX);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)url[i] < 0x20 || url[i] == 0x7f)
      return store__fail(e, DTO_EINVAL,
                         "store URL: control character at byte %zu", i);
  if (!strncmp(url, "sqlite:", 7)) {
    const char *p = url + 7;
    if (!strncmp(p, "//", 2))
      p += 2;
    if (!*p)
      return store__fail(e, DTO_EINVAL, "store URL '%s': no file name", url);
    *kind = URL_SQLITE;
    *path = p;
    return 0;
  }
  size_t sl = scheme_len(url);
  if (sl) {
    if ((sl == 10 && !strncmp(url, "postgresql", 10)) ||
        (sl == 8 && !strncmp(url, "postgres", 8))) {
      *kind = URL_PG;
      *path = NULL;
      return 0;
    }
    return store__fail(e, DTO_EUNSUPPORTED,
                       "store URL: unsupported scheme '%.*s' (use sqlite:PATH "
                       "or postgresql://...)",
                       (int)(sl > 32 ? 32 : sl), url);
  }
  *kind = URL_SQLITE;
  *path = url;
  return 0;
}

/* Where the password of "scheme://user:PASSWORD@host" starts and how long
 * it is; false when there is none.  libpq ends the user info at the first
 * '@' before any '/' (so "u:p?w@h" has the password "p?w"); a password
 * with a raw '/' or '@' in it must not escape either, so the password here
 * runs from the first ':' to the last '@' of the whole URL.  That may hide
 * more than the password in odd URLs, which is harmless. */
static bool userinfo_password(const char *url, size_t *at, size_t *len) {
  size_t sl = scheme_len(url);
  if (!sl)
    return false;
  const char *auth = url + sl + 3;
  const char *amp = strrchr(auth, '@');
  if (!amp)
    return false;
  const char *colon = memchr(auth, ':', (size_t)(amp - auth));
  if (!colon)
    return false;
  *at = (size_t)(colon + 1 - url);
  *len = (size_t)(amp - colon - 1);
  return true;
}

/* The byte of a hex digit, or -1. */
static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* If a query parameter whose key (percent-decoded, as libpq decodes it) is
 * "password" or "sslpassword" starts at p, the offset of its value from p;
 * else 0. */
static size_t secret_key(const char *p) {
  static const char *const keys[] = {"password", "sslpassword"};
  char key[16];
  size_t n = 0, i = 0;
  while (p[i] && p[i] != '=' && p[i] != '&') {
    int c = (unsigned char)p[i];
    if (c == '%' && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
      c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
      i += 3;
    } else {
      i++;
    }
    if (n == sizeof key - 1)
      return 0;
    key[n++] = (char)c;
  }
  key[n] = '\0';
  if (p[i] != '=')
    return 0;
  for (size_t k = 0; k < DTO_ARRAY_LEN(keys); k++)
    if (!strcmp(key, keys[k]))
      return i + 1;
  return 0;
}

size_t store__url_secrets(const char *url, size_t *at, size_t *len,
                          size_t max) {
  size_t k = 0, a, l;
  if (!url || !scheme_len(url))
    return 0;
  if (userinfo_password(url, &a, &l)) {
    if (k < max)
      at[k] = a, len[k] = l;
    k++;
  }
  /* Every "password=" after a '?' or '&', wherever it is: libpq's query
   * starts at the first '?' after the user info, which may itself hold a
   * '?'; looking everywhere covers that.  A value runs to the next '&'. */
  for (const char *p = url + scheme_len(url) + 3; *p; p++) {
    if (*p != '?' && *p != '&')
      continue;
    size_t v = secret_key(p + 1);
    if (!v)
      continue;
    const char *val = p + 1 + v;
    if (k < max)
      at[k] = (size_t)(val - url), len[k] = strcspn(val, "&");
    k++;
  }
  if (k > max)
    return k;
  /* Sort by start and merge overlapping ranges. */
  for (size_t i = 1; i < k; i++)
    for (size_t j = i; j > 0 && at[j] < at[j - 1]; j--) {
      size_t ta = at[j], tl = len[j];
      at[j] = at[j - 1], len[j] = len[j - 1];
      at[j - 1] = ta, len[j - 1] = tl;
    }
  size_t m = 0;
  for (size_t i = 0; i < k; i++) {
    if (m && at[i] <= at[m - 1] + len[m - 1]) {
      size_t end = at[i] + len[i];
      if (end > at[m - 1] + len[m - 1])
        len[m - 1] = end - at[m - 1];
    } else {
      at[m] = at[i], len[m] = len[i];
      m++;
    }
  }
  return m;
}

void store__scrub(const char *url, const char *msg, char *out, size_t cap) {
  size_t at[STORE_URL_SECRETS_MAX], len[STORE_URL_SECRETS_MAX];
  if (!cap)
    return;
  size_t m = store__url_secrets(url, at, len, STORE_URL_SECRETS_MAX);
  if (m > STORE_URL_SECRETS_MAX) {
    store__copy(out, cap, "(message withheld: it may hold a password)", 41);
    return;
  }
  size_t o = 0;
  for (const char *p = msg ? msg : ""; *p && o + 1 < cap;) {
    size_t hit = 0;
    for (size_t j = 0; j < m && !hit; j++)
      if (len[j] && !strncmp(p, url + at[j], len[j]))
        hit = len[j];
    if (hit) {
      for (const char *x = "***"; *x && o + 1 < cap; x++)
        out[o++] = *x;
      p += hit;
    } else {
      out[o++] = *p++;
    }
  }
  out[o] = '\0';
}

bool store_url_has_password(const char *url) {
  size_t at, len;
  return store__url_secrets(url, &at, &len, 1) > 0;
}

int store_url_redact(const char *url, char *out, size_t cap) {
  size_t at[STORE_URL_SECRETS_MAX], len[STORE_URL_SECRETS_MAX];
  if (!cap)
    return DTO_ETOOBIG;
  out[0] = '\0';
  if (!url)
    return 0;
  size_t m = store__url_secrets(url, at, len, STORE_URL_SECRETS_MAX);
  if (m > STORE_URL_SECRETS_MAX)
    return DTO_ETOOBIG; /* out stays "" */
  size_t n = strlen(url), i = 0, o = 0;
  for (size_t j = 0; j <= m; j++) {
    size_t a = j < m ? at[j] : n;
    const char *mask = j < m ? "***" : "";
    size_t need = (a - i) + strlen(mask);
    if (o + need >= cap) {
      out[0] = '\0';
      return DTO_ETOOBIG;
    }
    memcpy(out + o, url + i, a - i);
    o += a - i;
    memcpy(out + o, mask, strlen(mask));
    o += strlen(mask);
    i = j < m ? a + len[j] : n;
  }
  out[o] = '\0';
  return 0;
}

/* ---- open and close ---------------------------------------------------- */

store *store_new(const store_ops *ops, void *ctx) {
  DTO_ASSERT(ops != NULL);
  store *s = xcalloc(1, sizeof *s);
  s->ops = ops;
  s->ctx = ctx;
  pthread_mutex_init(&s->mu, NULL);
  return s;
}

void store_close(store *s) {
  if (!s)
    return;
  s->ops->close(s->ctx);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

const char *store_backend(const store *s) { return s->ops->name; }

const store_ops *store__ops(const store *s) { return s->ops; }

void *store__ctx(const store *s) { return s->ctx; }

static int fill_options(const store_options *in, store_options *o,
                        store_err *e) {
  if (in)
    *o = *in;
  else
    memset(o, 0, sizeof *o);
  if (o->sqlite_synchronous != STORE_SYNC_FULL &&
      o->sqlite_synchronous != STORE_SYNC_NORMAL)
    return store__fail(e, DTO_EINVAL,
                       "sqlite synchronous: must be full or "
                       "normal");
  if (o->busy_timeout_ms < 0)
    return store__fail(e, DTO_EINVAL, "busy timeout: must not be negative");
  if (!o->busy_timeout_ms)
    o->busy_timeout_ms = 5000;
  if (o->must_exist)
    o->create = false; /* an expected journal is never made afresh */
  if (o->pg_pool_min < 0 || o->pg_pool_max < 0 || o->pg_pool_max > 10000)
    return store__fail(e, DTO_EINVAL, "pool size: must be between 1 and 10000");
  if (!o->pg_pool_max)
    o->pg_pool_max = 100;
  if (!o->pg_pool_min)
    o->pg_pool_min = o->pg_pool_max < 10 ? o->pg_pool_max : 10;
  if (o->pg_pool_min > o->pg_pool_max)
    return store__fail(e, DTO_EINVAL,
                       "pool size: minimum %d is above maximum %d",
                       o->pg_pool_min, o->pg_pool_max);
  if (o->connect_timeout_s < 0)
    return store__fail(e, DTO_EINVAL, "connect timeout: must not be negative");
  if (!o->connect_timeout_s)
    o->connect_timeout_s = 10;
  if (o->statement_timeout_ms < -1)
    return store__fail(e, DTO_EINVAL,
                       "statement timeout: must be -1 (none) or more");
  if (!o->statement_timeout_ms)
    o->statement_timeout_ms = 30000;
  if (o->sslmode) {
    static const char *const modes[] = {"disable", "allow",     "prefer",
                                        "require", "verify-ca", "verify-full"};
    bool ok = false;
    for (size_t i = 0; i < DTO_ARRAY_LEN(modes); i++)
      ok |= !strcmp(o->sslmode, modes[i]);
    if (!ok)
      return store__fail(e, DTO_EINVAL,
                         "sslmode: must be disable, allow, prefer, require, "
                         "verify-ca or verify-full");
  }
  return 0;
}

int store_open(const char *url, const store_options *opt, store **out,
               char *err, size_t cap) {
  store_err e = {{0}};
  store_options o;
  enum url_kind kind = URL_SQLITE;
  const char *path = NULL;
  char shown[STORE_URL_MAX + 1];
  *out = NULL;
  int rc = parse_url(url, &kind, &path, &e);
  if (rc == 0)
    rc = fill_options(opt, &o, &e);
  if (rc) {
    /* The message may quote the URL: make sure it holds no password. */
    if (url && store_url_has_password(url))
      snprintf(e.msg, sizeof e.msg, "store URL: %s",
               rc == DTO_EUNSUPPORTED ? "unsupported scheme (use sqlite:PATH "
                                        "or postgresql://...)"
                                      : dto_strerror(rc));
    store__copy(err, cap, e.msg, strlen(e.msg));
    return rc;
  }
  if (store_url_redact(url, shown, sizeof shown))
    store__copy(shown, sizeof shown, "(store URL)", 11);
  const store_ops *ops = NULL;
  void *ctx = NULL;
  if (kind == URL_SQLITE)
    rc = store__sqlite_open(path, shown, &o, &ops, &ctx, err, cap);
  else
    rc = store__pg_open(url, shown, &o, &ops, &ctx, err, cap);
  if (rc)
    return rc;
  store *s = store_new(ops, ctx);
  if (o.must_exist) {
    int v = 0;
    rc = store_schema_version(s, &v);
    if (rc || v == 0) {
      char m[STORE_ERR_MAX];
      if (rc)
        snprintf(err, cap, "%s: %s", shown, store_errmsg(s, m, sizeof m));
      else
        snprintf(err, cap,
                 "%s: holds no journal, but one was expected (a journal was "
                 "written here before): was the store deleted or replaced? "
                 "Refusing to start an empty one",
                 shown);
      store_close(s);
      return rc ? rc : DTO_ENOENT;
    }
  }
  if (o.require_current) {
    rc = store_check_version(s, err, cap);
    if (rc) {
      store_close(s);
      return rc;
    }
  }
  *out = s;
  return 0;
}

/* ---- migrations ---------------------------------------------------------- */

const store_migration *store_migrations(store *s) {
  return s->ops->migrations(s->ctx);
}

int store_latest_version(store *s) {
  const store_migration *m = store_migrations(s);
  int n = 0;
  while (m[n].version)
    n++;
  return n;
}

int store_schema_version(store *s, int *version) {
  store_err e = {{0}};
  int v = 0;
  int rc = s->ops->schema_version(s->ctx, &v, &e);
  if (rc == 0)
    *version = v;
  return done(s, rc, &e);
}

int store_check_version(store *s, char *err, size_t cap) {
  int v, latest = store_latest_version(s);
  int rc = store_schema_version(s, &v);
  if (rc) {
    store_errmsg(s, err, cap);
    return rc;
  }
  if (v == latest)
    return 0;
  if (v < latest)
    snprintf(err, cap,
             "database schema is at version %d, this dto needs %d: run 'dto "
             "migrate up'",
             v, latest);
  else
    snprintf(err, cap,
             "database schema version %d is newer than this dto knows (%d)", v,
             latest);
  store_err e;
  store__copy(e.msg, sizeof e.msg, err, strlen(err));
  return done(s, DTO_ESTATE, &e);
}

int store_migrate_to(store *s, int target, store_migrate_fn fn, void *arg) {
  store_err e = {{0}};
  const store_migration *ms = store_migrations(s);
  int latest = store_latest_version(s);
  if (target < 0)
    target = latest;
  if (target > latest)
    return done(s,
                store__fail(&e, DTO_ERANGE,
                            "migrate: version %d is beyond the latest this dto "
                            "knows (%d)",
                            target, latest),
                &e);
  int cur = 0;
  int rc = s->ops->schema_version(s->ctx, &cur, &e);
  if (rc)
    return done(s, rc, &e);
  if (cur > latest)
    return done(s,
                store__fail(&e, DTO_ESTATE,
                            "database schema version %d is newer than this dto "
                            "knows (%d)",
                            cur, latest),
                &e);
  if (target < cur)
    return done(s,
                store__fail(&e, DTO_EUNSUPPORTED,
                            "migrate: the schema is at version %d; going back "
                            "to %d is not supported",
                            cur, target),
                &e);
  for (int v = cur + 1; v <= target; v++) {
    const store_migration *m = &ms[v - 1];
    DTO_ASSERT(m->version == v);
    rc = s->ops->migrate_step(s->ctx, m, &e);
    if (rc)
      return done(s, rc, &e);
    if (fn)
      fn(arg, m);
  }
  return 0;
}

/* ---- transactions and data ---------------------------------------------- */

/* Fail a call whose op a back-end table leaves NULL (a fake store in a test
 * written before the op existed). */
static int unsupported(store *s, const char *op, store_err *e) {
  return store__fail(e, DTO_EUNSUPPORTED, "%s: %s is not supported",
                     s->ops->name, op);
}

int store_check_identity(store *s) {
  store_err e = {{0}};
  if (!s->ops->check_identity)
    return done(s, unsupported(s, "check_identity", &e), &e);
  return done(s, s->ops->check_identity(s->ctx, &e), &e);
}

int store_begin(store *s) {
  store_err e = {{0}};
  return done(s, s->ops->begin(s->ctx, &e), &e);
}

int store_commit(store *s) {
  store_err e = {{0}};
  return done(s, s->ops->commit(s->ctx, &e), &e);
}

int store_rollback(store *s) {
  store_err e = {{0}};
  return done(s, s->ops->rollback(s->ctx, &e), &e);
}

int store_append(store *s, store_event *ev, size_t n, int64_t *last_seq) {
  store_err e = {{0}};
  int64_t last = 0;
  int rc = check_events(ev, n, &e);
  if (rc == 0)
    rc = s->ops->append(s->ctx, ev, n, &last, &e);
  if (rc == 0 && last_seq)
    *last_seq = last;
  return done(s, rc, &e);
}

int store_read_events(store *s, int64_t after_seq, int64_t limit,
                      store_event_fn fn, void *arg) {
  store_err e = {{0}};
  if (!fn)
    return done(s, store__fail(&e, DTO_EINVAL, "read_events: no callback"), &e);
  int rc = s->ops->read_events(s->ctx, after_seq < 0 ? 0 : after_seq,
                               limit < 0 ? 0 : limit, fn, arg, &e);
  return done(s, rc, &e);
}

int store_max_seq(store *s, int64_t *seq) {
  store_err e = {{0}};
  return done(s, s->ops->max_seq(s->ctx, seq, &e), &e);
}

int store_last_event(store *s, int64_t *seq, dto_time *time) {
  store_err e = {{0}};
  int64_t sq = 0;
  dto_time t = 0;
  int rc;
  if (!seq)
    rc = store__fail(&e, DTO_EINVAL, "last_event: seq is NULL");
  else if (!s->ops->last_event)
    rc = unsupported(s, "last_event", &e);
  else
    rc = s->ops->last_event(s->ctx, &sq, &t, &e);
  if (rc == 0) {
    *seq = sq;
    if (time)
      *time = t;
  }
  return done(s, rc, &e);
}

int store_upsert_order(store *s, const store_order *o) {
  store_err e = {{0}};
  int rc = check_order(o, &e);
  if (rc == 0)
    rc = s->ops->upsert_order(s->ctx, o, &e);
  return done(s, rc, &e);
}

int store_get_order(store *s, const char *cloid, store_order *out) {
  store_err e = {{0}};
  int rc = check_str("cloid", cloid, STORE_ID_MAX, true, &e);
  if (rc == 0) {
    memset(out, 0, sizeof *out);
    rc = s->ops->get_order(s->ctx, cloid, out, &e);
  }
  return done(s, rc, &e);
}

int store_list_orders(store *s, bool open_only, store_order_fn fn, void *arg) {
  store_err e = {{0}};
  int rc;
  if (!fn)
    rc = store__fail(&e, DTO_EINVAL, "list_orders: no callback");
  else if (!s->ops->list_orders)
    rc = unsupported(s, "list_orders", &e);
  else
    rc = s->ops->list_orders(s->ctx, open_only, fn, arg, &e);
  return done(s, rc, &e);
}

int store_insert_fill(store *s, const store_fill *f, bool *inserted) {
  store_err e = {{0}};
  bool ins = false;
  int rc = check_fill(f, &e);
  if (rc == 0)
    rc = s->ops->insert_fill(s->ctx, f, &ins, &e);
  if (rc == 0 && inserted)
    *inserted = ins;
  return done(s, rc, &e);
}

int store_upsert_position(store *s, const store_position *p) {
  store_err e = {{0}};
  int rc = check_position(p, &e);
  if (rc == 0)
    rc = s->ops->upsert_position(s->ctx, p, &e);
  return done(s, rc, &e);
}

int store_get_position(store *s, const char *account, const char *strategy,
                       const char *symbol, store_position *out) {
  store_err e = {{0}};
  int rc;
  if ((rc = check_str("account", account, STORE_ID_MAX, true, &e)) == 0 &&
      (rc = check_str("strategy", strategy, STORE_ID_MAX, false, &e)) == 0 &&
      (rc = check_str("symbol", symbol, STORE_SYMBOL_MAX, true, &e)) == 0) {
    memset(out, 0, sizeof *out);
    rc = s->ops->get_position(s->ctx, account, strategy ? strategy : "", symbol,
                              out, &e);
  }
  return done(s, rc, &e);
}

int store_list_positions(store *s, store_position_fn fn, void *arg) {
  store_err e = {{0}};
  int rc;
  if (!fn)
    rc = store__fail(&e, DTO_EINVAL, "list_positions: no callback");
  else if (!s->ops->list_positions)
    rc = unsupported(s, "list_positions", &e);
  else
    rc = s->ops->list_positions(s->ctx, fn, arg, &e);
  return done(s, rc, &e);
}

int store_upsert_daily_pnl(store *s, const store_daily_pnl *d) {
  store_err e = {{0}};
  int rc = check_pnl(d, &e);
  if (rc == 0)
    rc = s->ops->upsert_daily_pnl(s->ctx, d, &e);
  return done(s, rc, &e);
}

int store_get_daily_pnl(store *s, const char *account, const char *strategy,
                        int32_t day, store_daily_pnl *out) {
  store_err e = {{0}};
  int rc;
  if ((rc = check_str("account", account, STORE_ID_MAX, true, &e)) == 0 &&
      (rc = check_str("strategy", strategy, STORE_ID_MAX, false, &e)) == 0 &&
      (rc = check_day(day, &e)) == 0) {
    memset(out, 0, sizeof *out);
    rc = s->ops->get_daily_pnl(s->ctx, account, strategy ? strategy : "", day,
                               out, &e);
  }
  return done(s, rc, &e);
}

int store_insert_risk_decision(store *s, const store_risk_decision *r) {
  store_err e = {{0}};
  int rc = check_risk(r, &e);
  if (rc == 0)
    rc = s->ops->insert_risk_decision(s->ctx, r, &e);
  return done(s, rc, &e);
}

int store_snapshot_put(store *s, int64_t seq, dto_time time, const void *blob,
                       size_t len) {
  store_err e = {{0}};
  int rc = 0;
  if (seq < 0)
    rc = store__fail(&e, DTO_EINVAL, "snapshot: seq %lld is negative",
                     (long long)seq);
  else if (!blob && len)
    rc = store__fail(&e, DTO_EINVAL, "snapshot: NULL data with a length");
  else if (len > STORE_SNAPSHOT_MAX)
    rc = store__fail(&e, DTO_ETOOBIG, "snapshot: %zu bytes, at most %u", len,
                     STORE_SNAPSHOT_MAX);
  if (rc == 0)
    rc = s->ops->snapshot_put(s->ctx, seq, time, blob ? blob : "", len, &e);
  return done(s, rc, &e);
}

int store_snapshot_latest(store *s, int64_t *seq, dto_time *time, void **blob,
                          size_t *len) {
  store_err e = {{0}};
  *blob = NULL;
  *len = 0;
  return done(s, s->ops->snapshot_latest(s->ctx, seq, time, blob, len, &e), &e);
}

int store_snapshot_prune(store *s, int keep, int64_t *deleted) {
  store_err e = {{0}};
  int64_t n = 0;
  int rc = keep < 1 ? store__fail(&e, DTO_EINVAL,
                                  "snapshot prune: keep must be at least 1")
                    : s->ops->snapshot_prune(s->ctx, keep, &n, &e);
  if (rc == 0 && deleted)
    *deleted = n;
  return done(s, rc, &e);
}

int store_idem_put(store *s, const store_idem *r) {
  store_err e = {{0}};
  int rc = check_idem(r, &e);
  if (rc == 0)
    rc = s->ops->idem_put(s->ctx, r, &e);
  return done(s, rc, &e);
}

int store_idem_get(store *s, const char *key, dto_time now, store_idem *out) {
  store_err e = {{0}};
  int rc = check_str("idempotency key", key, STORE_IDEM_KEY_MAX, true, &e);
  memset(out, 0, sizeof *out);
  if (rc == 0)
    rc = s->ops->idem_get(s->ctx, key, now, out, &e);
  if (rc)
    store_idem_release(out);
  return done(s, rc, &e);
}

void store_idem_release(store_idem *r) {
  if (!r)
    return;
  free((void *)r->body);
  r->body = NULL;
  r->body_len = 0;
}

int store_idem_purge(store *s, dto_time now, int64_t *purged) {
  store_err e = {{0}};
  int64_t n = 0;
  int rc = s->ops->idem_purge(s->ctx, now, &n, &e);
  if (rc == 0 && purged)
    *purged = n;
  return done(s, rc, &e);
}

int store_count(store *s, enum store_table t, int64_t *n) {
  store_err e = {{0}};
  if (!store_table_name(t))
    return done(s, store__fail(&e, DTO_EINVAL, "count: no table %d", (int)t),
                &e);
  return done(s, s->ops->count(s->ctx, t, n, &e), &e);
}

/* ---- users, sessions, API tokens, the audit log ---------------------------
 */

/* The op slot of a table written before these ops existed (a fake in a
 * test) is NULL: each wrapper says so instead of crashing. */
#define HAS_OP(s, op, e) ((s)->ops->op ? 0 : unsupported(s, #op, e))

int store_user_add(store *s, store_user *u) {
  store_err e = {{0}};
  int rc = check_user(u, false, &e);
  if (rc == 0)
    rc = HAS_OP(s, user_add, &e);
  if (rc == 0)
    rc = s->ops->user_add(s->ctx, u, &e);
  return done(s, rc, &e);
}

int store_user_get(store *s, const char *name, store_user *out) {
  store_err e = {{0}};
  int rc = check_str("user name", name, STORE_USER_MAX, true, &e);
  if (rc == 0 && (rc = HAS_OP(s, user_get, &e)) == 0) {
    memset(out, 0, sizeof *out);
    rc = s->ops->user_get(s->ctx, name, out, &e);
  }
  return done(s, rc, &e);
}

int store_user_get_id(store *s, int64_t id, store_user *out) {
  store_err e = {{0}};
  int rc = check_id("user id", id, &e);
  if (rc == 0 && (rc = HAS_OP(s, user_get_id, &e)) == 0) {
    memset(out, 0, sizeof *out);
    rc = s->ops->user_get_id(s->ctx, id, out, &e);
  }
  return done(s, rc, &e);
}

int store_user_update(store *s, const store_user *u) {
  store_err e = {{0}};
  int rc = check_user(u, true, &e);
  if (rc == 0)
    rc = HAS_OP(s, user_update, &e);
  if (rc == 0)
    rc = s->ops->user_update(s->ctx, u, &e);
  return done(s, rc, &e);
}

int store_user_list(store *s, store_user_fn fn, void *arg) {
  store_err e = {{0}};
  int rc = fn ? HAS_OP(s, user_list, &e)
              : store__fail(&e, DTO_EINVAL, "user_list: no callback");
  if (rc == 0)
    rc = s->ops->user_list(s->ctx, fn, arg, &e);
  return done(s, rc, &e);
}

int store_session_put(store *s, const store_session *ses) {
  store_err e = {{0}};
  int rc = check_session(ses, &e);
  if (rc == 0)
    rc = HAS_OP(s, session_put, &e);
  if (rc == 0)
    rc = s->ops->session_put(s->ctx, ses, &e);
  return done(s, rc, &e);
}

int store_session_get(store *s, const char *id_hash, store_session *out) {
  store_err e = {{0}};
  int rc = check_sha("session id hash", id_hash, &e);
  if (rc == 0 && (rc = HAS_OP(s, session_get, &e)) == 0) {
    memset(out, 0, sizeof *out);
    rc = s->ops->session_get(s->ctx, id_hash, out, &e);
  }
  return done(s, rc, &e);
}

int store_session_touch(store *s, const char *id_hash, dto_time last_seen) {
  store_err e = {{0}};
  int rc = check_sha("session id hash", id_hash, &e);
  if (rc == 0)
    rc = HAS_OP(s, session_touch, &e);
  if (rc == 0)
    rc = s->ops->session_touch(s->ctx, id_hash, last_seen, &e);
  return done(s, rc, &e);
}

int store_session_delete(store *s, const char *id_hash) {
  store_err e = {{0}};
  int rc = check_sha("session id hash", id_hash, &e);
  if (rc == 0)
    rc = HAS_OP(s, session_delete, &e);
  if (rc == 0)
    rc = s->ops->session_delete(s->ctx, id_hash, &e);
  return done(s, rc, &e);
}

int store_session_delete_user(store *s, int64_t user_id, int64_t *n) {
  store_err e = {{0}};
  int64_t k = 0;
  int rc = check_id("user id", user_id, &e);
  if (rc == 0)
    rc = HAS_OP(s, session_delete_user, &e);
  if (rc == 0)
    rc = s->ops->session_delete_user(s->ctx, user_id, &k, &e);
  if (rc == 0 && n)
    *n = k;
  return done(s, rc, &e);
}

int store_token_add(store *s, store_token *t) {
  store_err e = {{0}};
  int rc = check_token(t, false, &e);
  if (rc == 0)
    rc = HAS_OP(s, token_add, &e);
  if (rc == 0)
    rc = s->ops->token_add(s->ctx, t, &e);
  return done(s, rc, &e);
}

int store_token_get(store *s, int64_t id, store_token *out) {
  store_err e = {{0}};
  int rc = check_id("token id", id, &e);
  if (rc == 0 && (rc = HAS_OP(s, token_get, &e)) == 0) {
    memset(out, 0, sizeof *out);
    rc = s->ops->token_get(s->ctx, id, out, &e);
  }
  return done(s, rc, &e);
}

int store_token_get_hash(store *s, const char *hash, store_token *out) {
  store_err e = {{0}};
  int rc = check_sha("token hash", hash, &e);
  if (rc == 0 && (rc = HAS_OP(s, token_get_hash, &e)) == 0) {
    memset(out, 0, sizeof *out);
    rc = s->ops->token_get_hash(s->ctx, hash, out, &e);
  }
  return done(s, rc, &e);
}

int store_token_update(store *s, const store_token *t) {
  store_err e = {{0}};
  int rc = check_token(t, true, &e);
  if (rc == 0)
    rc = HAS_OP(s, token_update, &e);
  if (rc == 0)
    rc = s->ops->token_update(s->ctx, t, &e);
  return done(s, rc, &e);
}

int store_token_list(store *s, int64_t user_id, store_token_fn fn, void *arg) {
  store_err e = {{0}};
  int rc = 0;
  if (!fn)
    rc = store__fail(&e, DTO_EINVAL, "token_list: no callback");
  else if (user_id < 0)
    rc = store__fail(&e, DTO_EINVAL, "token_list: user id %lld is negative",
                     (long long)user_id);
  if (rc == 0)
    rc = HAS_OP(s, token_list, &e);
  if (rc == 0)
    rc = s->ops->token_list(s->ctx, user_id, fn, arg, &e);
  return done(s, rc, &e);
}

/* The caller's chain function, as the back-end calls it: the record it
 * completes is checked before the back-end may insert it. */
typedef struct audit_chain {
  store_audit_chain_fn fn;
  void *arg;
  bool failed; /* e holds why: the back-end's message would be less clear */
  store_err e;
} audit_chain;

static int audit_chain_call(void *arg, const store_audit *prev,
                            store_audit *a) {
  audit_chain *c = arg;
  if (!a->detail[0])
    store__copy(a->detail, sizeof a->detail, "{}", 2);
  int64_t seq = a->seq;
  int rc = c->fn(c->arg, prev, a);
  if (rc)
    rc = store__fail(&c->e, rc, "audit append: the chain function failed: %s",
                     dto_strerror(rc));
  else if (a->seq != seq)
    rc = store__fail(&c->e, DTO_EINVAL,
                     "audit append: the chain function changed seq");
  else
    rc = check_audit(a, true, &c->e);
  c->failed = rc != 0;
  return rc;
}

int store_audit_append(store *s, store_audit *a, store_audit_chain_fn chain,
                       void *arg) {
  store_err e = {{0}};
  audit_chain c = {.fn = chain, .arg = arg};
  int rc = chain
               ? check_audit(a, false, &e)
               : store__fail(&e, DTO_EINVAL, "audit append: no chain function");
  if (rc == 0)
    rc = HAS_OP(s, audit_append, &e);
  if (rc == 0)
    rc = s->ops->audit_append(s->ctx, a, audit_chain_call, &c, &e);
  if (rc && c.failed)
    e = c.e;
  return done(s, rc, &e);
}

int store_audit_read(store *s, int64_t after_seq, int64_t limit,
                     store_audit_fn fn, void *arg) {
  store_err e = {{0}};
  int rc = fn ? HAS_OP(s, audit_read, &e)
              : store__fail(&e, DTO_EINVAL, "audit_read: no callback");
  if (rc == 0)
    rc = s->ops->audit_read(s->ctx, after_seq < 0 ? 0 : after_seq,
                            limit < 0 ? 0 : limit, fn, arg, &e);
  return done(s, rc, &e);
}

/* ---- the alert history ----------------------------------------------------
 */

int store_alert_put(store *s, store_alert_rec *r) {
  store_err e = {{0}};
  int rc = check_alert(r, &e);
  if (rc == 0)
    rc = HAS_OP(s, alert_put, &e);
  if (rc == 0) {
    /* A copy, so "" is stored as "{}" without changing the caller's r. */
    store_alert_rec c = *r;
    if (!c.detail[0])
      store__copy(c.detail, sizeof c.detail, "{}", 2);
    c.seq = 0;
    rc = s->ops->alert_put(s->ctx, &c, &e);
    if (rc == 0)
      r->seq = c.seq;
  }
  return done(s, rc, &e);
}

int store_alert_read(store *s, int64_t after_seq, int64_t limit,
                     store_alert_fn fn, void *arg) {
  store_err e = {{0}};
  int rc = fn ? check_limit("alert_read", limit, &e)
              : store__fail(&e, DTO_EINVAL, "alert_read: no callback");
  if (rc == 0)
    rc = HAS_OP(s, alert_read, &e);
  if (rc == 0)
    rc = s->ops->alert_read(s->ctx, after_seq < 0 ? 0 : after_seq, limit, fn,
                            arg, &e);
  return done(s, rc, &e);
}

int store_alert_recent(store *s, int64_t limit, const char *name,
                       store_alert_fn fn, void *arg) {
  store_err e = {{0}};
  int rc = fn ? check_limit("alert_recent", limit, &e)
              : store__fail(&e, DTO_EINVAL, "alert_recent: no callback");
  if (rc == 0)
    rc = check_str("alert_recent: name", name, STORE_ALERT_NAME_MAX, false, &e);
  if (rc == 0)
    rc = HAS_OP(s, alert_recent, &e);
  if (rc == 0)
    rc = s->ops->alert_recent(s->ctx, limit, name && *name ? name : NULL, fn,
                              arg, &e);
  return done(s, rc, &e);
}
