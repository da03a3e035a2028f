/* alpaca_json.c - Alpaca's JSON to dto's types (see alpaca_json.h).
 *
 * Field readers take the object, the field name and a path prefix, so every
 * refusal names the field as "prefix.name: reason".  No reader trusts a
 * type: each checks it before reading. */
#include "broker/alpaca_json.h"

#include <math.h>
#include <stdarg.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

typedef __int128 i128;

/* ---- scalars ------------------------------------------------------------- */

int alpaca_decimal(const char *s, size_t n, fx *out) {
  size_t i = 0;
  bool neg = false;
  if (!s || n == 0)
    return DTO_EPARSE;
  if (s[0] == '-') {
    neg = true;
    i = 1;
  }
  size_t istart = i;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  size_t ilen = i - istart;
  if (ilen == 0 || (ilen > 1 && s[istart] == '0'))
    return DTO_EPARSE; /* no digits, or a leading zero */
  size_t fstart = 0, flen = 0;
  if (i < n && s[i] == '.') {
    fstart = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    flen = i - fstart;
    if (flen == 0)
      return DTO_EPARSE;
  }
  if (i != n)
    return DTO_EPARSE;
  /* Well-formed: now whether fx holds it exactly. */
  for (size_t k = FX_DIGITS; k < flen; k++)
    if (s[fstart + k] != '0')
      return DTO_ERANGE;
  if (ilen > 12)
    return DTO_ERANGE; /* FX_MAX is about 9.2e10 */
  i128 v = 0;
  for (size_t k = 0; k < ilen; k++)
    v = v * 10 + (s[istart + k] - '0');
  for (size_t k = 0; k < FX_DIGITS; k++)
    v = v * 10 + (k < flen ? s[fstart + k] - '0' : 0);
  if (v > (i128)FX_MAX)
    return DTO_ERANGE;
  *out = neg ? -(fx)v : (fx)v;
  return 0;
}

/* n digits at s into *v; false if any is not a digit. */
static bool digits(const char *s, size_t n, int *v) {
  int r = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    r = r * 10 + (s[i] - '0');
  }
  *v = r;
  return true;
}

int alpaca_time(const char *s, size_t n, dto_time *out) {
  int y, mo, d, h, mi, sec;
  /* YYYY-MM-DDTHH:MM:SS is 19 bytes, then at least "Z" */
  if (!s || n < 20 || !digits(s, 4, &y) || s[4] != '-' ||
      !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
      (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
      s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
      !digits(s + 17, 2, &sec))
    return DTO_EPARSE;
  if (!civil_valid(y, mo, d) || h > 23 || mi > 59 || sec > 59)
    return DTO_EPARSE;
  size_t i = 19;
  int64_t frac = 0;
  bool lost = false;
  if (s[i] == '.') {
    size_t start = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (i - start < 9)
        frac = frac * 10 + (s[i] - '0');
      else if (s[i] != '0')
        lost = true;
      i++;
    }
    size_t nd = i - start;
    if (nd == 0)
      return DTO_EPARSE;
    for (; nd < 9; nd++)
      frac *= 10;
  }
  int64_t offset = 0;
  if (i < n && (s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
    i++;
  } else if (i < n && (s[i] == '+' || s[i] == '-') && n - i == 6 &&
             s[i + 3] == ':') {
    int oh, om;
    if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 ||
        om > 59)
      return DTO_EPARSE;
    offset = (oh * 3600LL + om * 60LL) * DTO_NS_PER_SEC;
    if (s[i] == '-')
      offset = -offset;
    i = n;
  } else {
    return DTO_EPARSE;
  }
  if (i != n)
    return DTO_EPARSE;
  if (lost)
    return DTO_ERANGE;
  i128 r = (i128)days_from_civil(y, mo, d) * DTO_NS_PER_DAY +
           (h * 3600LL + mi * 60LL + sec) * DTO_NS_PER_SEC + frac - offset;
  if (r > INT64_MAX || r < INT64_MIN)
    return DTO_ERANGE;
  *out = (dto_time)r;
  return 0;
}

/* The shortest decimal text of a finite double that reads back as it, in
 * plain notation (no exponent), into buf.  DTO_ERANGE when the plain text
 * would be absurdly long (far beyond fx either way). */
static int double_text(double d, char *buf, size_t cap) {
  char e[40];
  int p;
  for (p = 1; p <= 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, d);
    if (strtod(e, NULL) == d)
      break;
  }
  /* e: [-]D[.DDD]e[+-]XX */
  const char *q = e;
  bool neg = *q == '-';
  if (neg)
    q++;
  char dig[20];
  int nd = 0;
  for (; *q && *q != 'e'; q++)
    if (*q >= '0' && *q <= '9' && nd < 19)
      dig[nd++] = *q;
  if (*q != 'e' || nd == 0)
    return DTO_EPARSE;
  long ex = strtol(q + 1, NULL, 10);
  if (ex > 30 || ex < -30)
    return DTO_ERANGE;
  /* value = 0.dig * 10^(ex + 1) */
  size_t w = 0;
  if (neg)
    buf[w++] = '-';
  if (ex >= 0) {
    for (long k = 0; k <= ex; k++)
      buf[w++] = k < nd ? dig[k] : '0';
    if (nd > ex + 1) {
      buf[w++] = '.';
      for (long k = ex + 1; k < nd; k++)
        buf[w++] = dig[k];
    }
  } else {
    buf[w++] = '0';
    buf[w++] = '.';
    for (long k = 0; k < -ex - 1; k++)
      buf[w++] = '0';
    for (int k = 0; k < nd; k++)
      buf[w++] = dig[k];
  }
  DTO_ASSERT(w < cap);
  buf[w] = '\0';
  return 0;
}

static const char *rc_reason(int rc) {
  switch (rc) {
  case DTO_ERANGE:
    return "not exactly representable (range or precision)";
  case DTO_EPARSE:
    return "malformed";
  default:
    return dto_strerror(rc);
  }
}

int alpaca_json_fx(const json_t *v, bool allow_number, const char *what,
                   fx *out, char *err, size_t cap) {
  int rc;
  if (json_is_string(v)) {
    rc = alpaca_decimal(json_string_value(v), json_string_length(v), out);
    if (rc)
      dto_seterr(err, cap, "%s: %s decimal \"%.40s\"", what, rc_reason(rc),
                 json_string_value(v));
    return rc;
  }
  if (allow_number && json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    if (i > FX_MAX / FX_SCALE || i < FX_MIN / FX_SCALE) {
      dto_seterr(err, cap, "%s: integer %lld beyond fx", what, (long long)i);
      return DTO_ERANGE;
    }
    *out = (fx)i * FX_SCALE;
    return 0;
  }
  if (allow_number && json_is_real(v)) {
    char buf[80];
    double d = json_real_value(v);
    rc = isfinite(d) ? double_text(d, buf, sizeof buf) : DTO_ERANGE;
    if (!rc)
      rc = alpaca_decimal(buf, strlen(buf), out);
    if (rc)
      dto_seterr(err, cap, "%s: number %.17g %s", what, d, rc_reason(rc));
    return rc;
  }
  dto_seterr(err, cap, "%s: expected a decimal %s", what,
             allow_number ? "string or number" : "string");
  return DTO_EPARSE;
}

/* ---- field readers ------------------------------------------------------- */

/* A parse: where errors go and the path prefix of the current object. */
typedef struct pc {
  char *err;
  size_t cap;
  const char *pfx;
} pc;

#define FAIL(c, rc, ...) (fail((c), (rc), __VA_ARGS__))

__attribute__((format(printf, 3, 4))) static int fail(pc *c, int rc,
                                                      const char *fmt, ...) {
  char msg[192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dto_seterr(c->err, c->cap, "%s%s", c->pfx, msg);
  return rc;
}

/* The member, or NULL when absent or null. */
static json_t *member(const json_t *o, const char *name) {
  json_t *v = json_object_get(o, name);
  return json_is_null(v) ? NULL : v;
}

/* A string field into buf (cap bytes).  Required: missing is an error;
 * optional: missing leaves "". */
static int get_str(pc *c, const json_t *o, const char *name, bool required,
                   char *buf, size_t cap) {
  json_t *v = member(o, name);
  buf[0] = '\0';
  if (!v) {
    if (required)
      return FAIL(c, DTO_EPARSE, "%s: missing", name);
    return 0;
  }
  if (!json_is_string(v))
    return FAIL(c, DTO_EPARSE, "%s: expected a string", name);
  size_t len = json_string_length(v);
  const char *s = json_string_value(v);
  if (memchr(s, '\0', len))
    return FAIL(c, DTO_EPARSE, "%s: contains a NUL byte", name);
  if (len >= cap)
    return FAIL(c, DTO_ERANGE, "%s: longer than %zu bytes", name, cap - 1);
  memcpy(buf, s, len + 1);
  return 0;
}

static int get_bool(pc *c, const json_t *o, const char *name, bool required,
                    bool *out) {
  json_t *v = member(o, name);
  *out = false;
  if (!v)
    return required ? FAIL(c, DTO_EPARSE, "%s: missing", name) : 0;
  if (!json_is_boolean(v))
    return FAIL(c, DTO_EPARSE, "%s: expected true or false", name);
  *out = json_is_true(v);
  return 0;
}

static int get_int(pc *c, const json_t *o, const char *name, bool required,
                   int64_t *out) {
  json_t *v = member(o, name);
  *out = 0;
  if (!v)
    return required ? FAIL(c, DTO_EPARSE, "%s: missing", name) : 0;
  if (!json_is_integer(v))
    return FAIL(c, DTO_EPARSE, "%s: expected an integer", name);
  *out = json_integer_value(v);
  return 0;
}

/* A decimal field.  When optional and absent: 0, and *have untouched. */
static int get_fx(pc *c, const json_t *o, const char *name, bool required,
                  bool number, fx *out, unsigned *have, unsigned bit) {
  json_t *v = member(o, name);
  *out = 0;
  if (!v)
    return required ? FAIL(c, DTO_EPARSE, "%s: missing", name) : 0;
  char what[96], msg[160];
  snprintf(what, sizeof what, "%s", name);
  int rc = alpaca_json_fx(v, number, what, out, msg, sizeof msg);
  if (rc)
    return FAIL(c, rc, "%s", msg);
  if (have)
    *have |= bit;
  return 0;
}

static int get_time(pc *c, const json_t *o, const char *name, bool required,
                    dto_time *out, unsigned *have, unsigned bit) {
  json_t *v = member(o, name);
  *out = 0;
  if (!v)
    return required ? FAIL(c, DTO_EPARSE, "%s: missing", name) : 0;
  if (!json_is_string(v))
    return FAIL(c, DTO_EPARSE, "%s: expected an RFC 3339 string", name);
  int rc = alpaca_time(json_string_value(v), json_string_length(v), out);
  if (rc)
    return FAIL(c, rc, "%s: %s time \"%.40s\"", name,
                rc == DTO_ERANGE ? "unrepresentable" : "malformed",
                json_string_value(v));
  if (have)
    *have |= bit;
  return 0;
}

static int need_object(pc *c, const json_t *v, const char *what) {
  if (!json_is_object(v))
    return FAIL(c, DTO_EPARSE, "%s: expected an object", what);
  return 0;
}

/* Load n bytes of JSON text.  NULL (and err) on failure. */
static json_t *load(const char *text, size_t n, int *rc, char *err,
                    size_t cap) {
  if (!text) {
    dto_seterr(err, cap, "json: no text");
    *rc = DTO_EINVAL;
    return NULL;
  }
  if (n > ALPACA_JSON_MAX) {
    dto_seterr(err, cap, "json: text of %zu bytes over the cap of %u", n,
               ALPACA_JSON_MAX);
    *rc = DTO_ETOOBIG;
    return NULL;
  }
  json_error_t je;
  json_t *v = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
  if (!v) {
    dto_seterr(err, cap, "json: %s at line %d column %d", je.text, je.line,
               je.column);
    *rc = DTO_EPARSE;
  }
  return v;
}

/* ---- enums --------------------------------------------------------------- */

static const char *const status_names[ALPACA_OS_COUNT] = {
    "new",
    "partially_filled",
    "filled",
    "done_for_day",
    "canceled",
    "expired",
    "replaced",
    "pending_cancel",
    "pending_replace",
    "accepted",
    "pending_new",
    "accepted_for_bidding",
    "stopped",
    "rejected",
    "suspended",
    "calculated",
    "held",
    "pending_review"};

static const char *const event_names[ALPACA_EV_COUNT] = {
    "new",
    "fill",
    "partial_fill",
    "canceled",
    "expired",
    "done_for_day",
    "replaced",
    "rejected",
    "pending_new",
    "pending_cancel",
    "pending_replace",
    "stopped",
    "suspended",
    "calculated",
    "order_cancel_rejected",
    "order_replace_rejected",
    "accepted",
    "restated",
    "held"};

static int lookup(const char *const *names, int n, const char *s) {
  if (!s)
    return -1;
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], s))
      return i;
  return -1;
}

const char *alpaca_order_status_name(enum alpaca_order_status s) {
  return (unsigned)s < ALPACA_OS_COUNT ? status_names[s] : "?";
}
const char *alpaca_event_name(enum alpaca_event_kind k) {
  return (unsigned)k < ALPACA_EV_COUNT ? event_names[k] : "?";
}

int alpaca_order_status_parse(const char *s, enum alpaca_order_status *out) {
  int i = lookup(status_names, ALPACA_OS_COUNT, s);
  if (i < 0)
    return DTO_EUNSUPPORTED;
  *out = (enum alpaca_order_status)i;
  return 0;
}

int alpaca_event_parse(const char *s, enum alpaca_event_kind *out) {
  int i = lookup(event_names, ALPACA_EV_COUNT, s);
  if (i < 0)
    return DTO_EUNSUPPORTED;
  *out = (enum alpaca_event_kind)i;
  return 0;
}

int alpaca_side_to_dto(const char *s, enum order_side *out, char *err,
                       size_t cap) {
  if (s && (!strcmp(s, "buy"))) {
    *out = SIDE_BUY;
    return 0;
  }
  if (s && (!strcmp(s, "sell") || !strcmp(s, "sell_short"))) {
    *out = SIDE_SELL;
    return 0;
  }
  dto_seterr(err, cap, "side: unknown value \"%.32s\"", s ? s : "(null)");
  return DTO_EUNSUPPORTED;
}

/* Alpaca's words, index = dto's enum. */
static const char *const type_words[ORD_TYPE_COUNT] = {
    "market", "limit", "stop", "stop_limit", "trailing_stop"};
static const char *const tif_words[TIF_COUNT] = {"day", "gtc", "ioc",
                                                 "fok", "opg", "cls"};

int alpaca_type_to_dto(const char *s, enum order_type *out, char *err,
                       size_t cap) {
  int i = lookup(type_words, ORD_TYPE_COUNT, s);
  if (i < 0) {
    dto_seterr(err, cap, "type: unknown value \"%.32s\"", s ? s : "(null)");
    return DTO_EUNSUPPORTED;
  }
  *out = (enum order_type)i;
  return 0;
}

int alpaca_tif_to_dto(const char *s, enum tif *out, char *err, size_t cap) {
  int i = lookup(tif_words, TIF_COUNT, s);
  if (i < 0) {
    dto_seterr(err, cap, "time_in_force: unknown value \"%.32s\"",
               s ? s : "(null)");
    return DTO_EUNSUPPORTED;
  }
  *out = (enum tif)i;
  return 0;
}

static int get_status(pc *c, const json_t *o, const char *name,
                      enum alpaca_order_status *out) {
  char w[ALPACA_WORD_MAX];
  int rc = get_str(c, o, name, true, w, sizeof w);
  if (rc)
    return rc;
  if (alpaca_order_status_parse(w, out))
    return FAIL(c, DTO_EUNSUPPORTED, "%s: unknown value \"%s\"", name, w);
  return 0;
}

/* ---- orders -------------------------------------------------------------- */

static int leg_from_json(pc *c, const json_t *v, alpaca_order_leg *l) {
  int rc;
  memset(l, 0, sizeof *l);
  if ((rc = need_object(c, v, "leg")) ||
      (rc = get_str(c, v, "id", true, l->id, sizeof l->id)) ||
      (rc = get_str(c, v, "client_order_id", true, l->client_order_id,
                    sizeof l->client_order_id)) ||
      (rc = get_str(c, v, "type", false, l->type, sizeof l->type)) ||
      (rc = get_str(c, v, "side", false, l->side, sizeof l->side)) ||
      (rc = get_status(c, v, "status", &l->status)) ||
      (rc = get_fx(c, v, "limit_price", false, false, &l->limit_price, NULL,
                   0)) ||
      (rc = get_fx(c, v, "stop_price", false, false, &l->stop_price, NULL, 0)))
    return rc;
  return 0;
}

static int order_fields(pc *c, const json_t *v, alpaca_order *o) {
  int rc;
  memset(o, 0, sizeof *o);
  if ((rc = need_object(c, v, "order")))
    return rc;
  if ((rc = get_str(c, v, "id", true, o->id, sizeof o->id)) ||
      (rc = get_str(c, v, "client_order_id", true, o->client_order_id,
                    sizeof o->client_order_id)) ||
      (rc = get_str(c, v, "symbol", false, o->symbol, sizeof o->symbol)) ||
      (rc = get_str(c, v, "asset_class", false, o->asset_class,
                    sizeof o->asset_class)) ||
      (rc = get_str(c, v, "side", false, o->side, sizeof o->side)) ||
      (rc = get_str(c, v, "type", false, o->type, sizeof o->type)) ||
      (rc = get_str(c, v, "time_in_force", true, o->time_in_force,
                    sizeof o->time_in_force)) ||
      (rc = get_str(c, v, "order_class", true, o->order_class,
                    sizeof o->order_class)) ||
      (rc = get_status(c, v, "status", &o->status)) ||
      (rc = get_bool(c, v, "extended_hours", false, &o->extended_hours)))
    return rc;
  /* Decimals: strings in the REST API and the trade_updates stream. */
  if ((rc = get_fx(c, v, "qty", false, false, &o->qty, &o->have, AO_QTY)) ||
      (rc = get_fx(c, v, "filled_qty", true, false, &o->filled_qty, NULL, 0)) ||
      (rc = get_fx(c, v, "filled_avg_price", false, false, &o->filled_avg_price,
                   &o->have, AO_FILLED_AVG_PRICE)) ||
      (rc = get_fx(c, v, "notional", false, false, &o->notional, &o->have,
                   AO_NOTIONAL)) ||
      (rc = get_fx(c, v, "limit_price", false, false, &o->limit_price, &o->have,
                   AO_LIMIT_PRICE)) ||
      (rc = get_fx(c, v, "stop_price", false, false, &o->stop_price, &o->have,
                   AO_STOP_PRICE)) ||
      (rc = get_fx(c, v, "trail_price", false, false, &o->trail_price, &o->have,
                   AO_TRAIL_PRICE)) ||
      (rc = get_fx(c, v, "trail_percent", false, false, &o->trail_percent,
                   &o->have, AO_TRAIL_PERCENT)) ||
      (rc = get_fx(c, v, "hwm", false, false, &o->hwm, &o->have, AO_HWM)))
    return rc;
  if ((rc = get_str(c, v, "replaced_by", false, o->replaced_by,
                    sizeof o->replaced_by)) ||
      (rc = get_str(c, v, "replaces", false, o->replaces, sizeof o->replaces)))
    return rc;
  if ((rc = get_time(c, v, "created_at", true, &o->created_at, NULL, 0)) ||
      (rc = get_time(c, v, "updated_at", false, &o->updated_at, &o->have,
                     AO_UPDATED_AT)) ||
      (rc = get_time(c, v, "submitted_at", false, &o->submitted_at, &o->have,
                     AO_SUBMITTED_AT)) ||
      (rc = get_time(c, v, "filled_at", false, &o->filled_at, &o->have,
                     AO_FILLED_AT)) ||
      (rc = get_time(c, v, "expired_at", false, &o->expired_at, &o->have,
                     AO_EXPIRED_AT)) ||
      (rc = get_time(c, v, "canceled_at", false, &o->canceled_at, &o->have,
                     AO_CANCELED_AT)) ||
      (rc = get_time(c, v, "failed_at", false, &o->failed_at, &o->have,
                     AO_FAILED_AT)) ||
      (rc = get_time(c, v, "replaced_at", false, &o->replaced_at, &o->have,
                     AO_REPLACED_AT)))
    return rc;
  json_t *legs = member(v, "legs");
  if (legs) {
    if (!json_is_array(legs))
      return FAIL(c, DTO_EPARSE, "legs: expected an array");
    if (json_array_size(legs) > ALPACA_LEGS_MAX)
      return FAIL(c, DTO_ERANGE, "legs: more than %d", ALPACA_LEGS_MAX);
    for (size_t k = 0; k < json_array_size(legs); k++) {
      char p[96];
      snprintf(p, sizeof p, "%slegs[%zu].", c->pfx, k);
      pc lc = {c->err, c->cap, p};
      if ((rc = leg_from_json(&lc, json_array_get(legs, k), &o->legs[k])))
        return rc;
      o->nlegs++;
    }
  }
  return 0;
}

int alpaca_order_from_json(const json_t *v, const char *prefix,
                           alpaca_order *out, char *err, size_t cap) {
  pc c = {err, cap, prefix ? prefix : ""};
  return order_fields(&c, v, out);
}

int alpaca_order_parse(const char *text, size_t n, alpaca_order *out, char *err,
                       size_t cap) {
  int rc = 0;
  json_t *v = load(text, n, &rc, err, cap);
  if (!v)
    return rc;
  rc = alpaca_order_from_json(v, "", out, err, cap);
  json_decref(v);
  return rc;
}

int alpaca_order_to_open(const alpaca_order *o, broker_open_order *out,
                         char *err, size_t cap) {
  broker_open_order b;
  memset(&b, 0, sizeof b);
  int rc;
  if ((rc = alpaca_side_to_dto(o->side, &b.side, err, cap)) ||
      (rc = alpaca_type_to_dto(o->type, &b.type, err, cap)) ||
      (rc = alpaca_tif_to_dto(o->time_in_force, &b.tif, err, cap)))
    return rc;
  size_t len = strlen(o->client_order_id);
  DTO_ASSERT(len < sizeof b.cloid);
  memcpy(b.cloid, o->client_order_id, len + 1);
  b.sym = SYM_NONE;
  b.qty = o->qty;
  b.filled = o->filled_qty;
  b.limit_price = o->limit_price;
  b.stop_price = o->stop_price;
  *out = b;
  return 0;
}

/* ---- position, account, clock, asset, activity --------------------------- */

int alpaca_position_from_json(const json_t *v, alpaca_position *p, char *err,
                              size_t cap) {
  pc c = {err, cap, ""};
  int rc;
  char side[ALPACA_WORD_MAX];
  memset(p, 0, sizeof *p);
  if ((rc = need_object(&c, v, "position")) ||
      (rc = get_str(&c, v, "asset_id", false, p->asset_id,
                    sizeof p->asset_id)) ||
      (rc = get_str(&c, v, "symbol", true, p->symbol, sizeof p->symbol)) ||
      (rc = get_str(&c, v, "asset_class", false, p->asset_class,
                    sizeof p->asset_class)) ||
      (rc = get_str(&c, v, "side", true, side, sizeof side)) ||
      (rc = get_fx(&c, v, "qty", true, false, &p->qty, NULL, 0)) ||
      (rc = get_fx(&c, v, "avg_entry_price", true, false, &p->avg_entry_price,
                   NULL, 0)) ||
      (rc = get_fx(&c, v, "market_value", false, false, &p->market_value,
                   &p->have, AP_MARKET_VALUE)) ||
      (rc = get_fx(&c, v, "cost_basis", false, false, &p->cost_basis, &p->have,
                   AP_COST_BASIS)) ||
      (rc = get_fx(&c, v, "unrealized_pl", false, false, &p->unrealized_pl,
                   &p->have, AP_UNREALIZED_PL)) ||
      (rc = get_fx(&c, v, "current_price", false, false, &p->current_price,
                   &p->have, AP_CURRENT_PRICE)) ||
      (rc = get_fx(&c, v, "qty_available", false, false, &p->qty_available,
                   &p->have, AP_QTY_AVAILABLE)))
    return rc;
  if (!strcmp(side, "long")) {
    p->side = ALPACA_LONG;
    if (p->qty < 0)
      return FAIL(&c, DTO_EPARSE, "qty: negative for a long position");
  } else if (!strcmp(side, "short")) {
    p->side = ALPACA_SHORT;
    if (p->qty > 0)
      p->qty = -p->qty;
  } else {
    return FAIL(&c, DTO_EUNSUPPORTED, "side: unknown value \"%s\"", side);
  }
  return 0;
}

int alpaca_account_from_json(const json_t *v, alpaca_account *a, char *err,
                             size_t cap) {
  pc c = {err, cap, ""};
  int rc;
  memset(a, 0, sizeof *a);
  if ((rc = need_object(&c, v, "account")) ||
      (rc = get_str(&c, v, "id", true, a->id, sizeof a->id)) ||
      (rc = get_str(&c, v, "account_number", false, a->account_number,
                    sizeof a->account_number)) ||
      (rc = get_str(&c, v, "status", true, a->status, sizeof a->status)) ||
      (rc = get_str(&c, v, "currency", false, a->currency,
                    sizeof a->currency)) ||
      (rc = get_fx(&c, v, "cash", true, false, &a->cash, NULL, 0)) ||
      (rc = get_fx(&c, v, "buying_power", true, false, &a->buying_power, NULL,
                   0)) ||
      (rc = get_fx(&c, v, "equity", true, false, &a->equity, NULL, 0)) ||
      (rc = get_fx(&c, v, "last_equity", false, false, &a->last_equity, NULL,
                   0)) ||
      (rc = get_fx(&c, v, "daytrading_buying_power", false, false,
                   &a->daytrading_buying_power, NULL, 0)) ||
      (rc = get_bool(&c, v, "pattern_day_trader", true,
                     &a->pattern_day_trader)) ||
      (rc = get_bool(&c, v, "trading_blocked", true, &a->trading_blocked)) ||
      (rc = get_bool(&c, v, "account_blocked", true, &a->account_blocked)) ||
      (rc = get_bool(&c, v, "transfers_blocked", false,
                     &a->transfers_blocked)) ||
      (rc = get_bool(&c, v, "trade_suspended_by_user", false,
                     &a->trade_suspended_by_user)) ||
      (rc = get_bool(&c, v, "shorting_enabled", false, &a->shorting_enabled)) ||
      (rc = get_int(&c, v, "daytrade_count", false, &a->daytrade_count)))
    return rc;
  if (a->daytrade_count < 0)
    return FAIL(&c, DTO_ERANGE, "daytrade_count: negative");
  return 0;
}

int alpaca_clock_from_json(const json_t *v, alpaca_clock *k, char *err,
                           size_t cap) {
  pc c = {err, cap, ""};
  int rc;
  memset(k, 0, sizeof *k);
  if ((rc = need_object(&c, v, "clock")) ||
      (rc = get_time(&c, v, "timestamp", true, &k->timestamp, NULL, 0)) ||
      (rc = get_bool(&c, v, "is_open", true, &k->is_open)) ||
      (rc = get_time(&c, v, "next_open", true, &k->next_open, NULL, 0)) ||
      (rc = get_time(&c, v, "next_close", true, &k->next_close, NULL, 0)))
    return rc;
  return 0;
}

int alpaca_asset_from_json(const json_t *v, alpaca_asset *a, char *err,
                           size_t cap) {
  pc c = {err, cap, ""};
  int rc;
  char status[ALPACA_WORD_MAX];
  memset(a, 0, sizeof *a);
  if ((rc = need_object(&c, v, "asset")) ||
      (rc = get_str(&c, v, "id", true, a->id, sizeof a->id)) ||
      (rc = get_str(&c, v, "symbol", true, a->symbol, sizeof a->symbol)) ||
      (rc = get_str(&c, v, "class", false, a->asset_class,
                    sizeof a->asset_class)) ||
      (rc = get_str(&c, v, "exchange", false, a->exchange,
                    sizeof a->exchange)) ||
      (rc = get_str(&c, v, "status", true, status, sizeof status)) ||
      (rc = get_bool(&c, v, "tradable", true, &a->tradable)) ||
      (rc = get_bool(&c, v, "marginable", false, &a->marginable)) ||
      (rc = get_bool(&c, v, "shortable", true, &a->shortable)) ||
      (rc = get_bool(&c, v, "easy_to_borrow", false, &a->easy_to_borrow)) ||
      (rc = get_bool(&c, v, "fractionable", true, &a->fractionable)) ||
      (rc = get_fx(&c, v, "min_order_size", false, false, &a->min_order_size,
                   &a->have, AA_MIN_ORDER_SIZE)) ||
      (rc =
           get_fx(&c, v, "min_trade_increment", false, false,
                  &a->min_trade_increment, &a->have, AA_MIN_TRADE_INCREMENT)) ||
      (rc = get_fx(&c, v, "price_increment", false, false, &a->price_increment,
                   &a->have, AA_PRICE_INCREMENT)))
    return rc;
  if (!strcmp(status, "active"))
    a->active = true;
  else if (strcmp(status, "inactive"))
    return FAIL(&c, DTO_EUNSUPPORTED, "status: unknown value \"%s\"", status);
  return 0;
}

int alpaca_fill_activity_from_json(const json_t *v, alpaca_fill_activity *f,
                                   char *err, size_t cap) {
  pc c = {err, cap, ""};
  int rc;
  char w[ALPACA_WORD_MAX];
  memset(f, 0, sizeof *f);
  if ((rc = need_object(&c, v, "activity")) ||
      (rc = get_str(&c, v, "activity_type", true, w, sizeof w)))
    return rc;
  if (strcmp(w, "FILL"))
    return FAIL(&c, DTO_EUNSUPPORTED, "activity_type: \"%s\" is not FILL", w);
  if ((rc = get_str(&c, v, "id", true, f->id, sizeof f->id)) ||
      (rc =
           get_str(&c, v, "order_id", true, f->order_id, sizeof f->order_id)) ||
      (rc = get_str(&c, v, "symbol", true, f->symbol, sizeof f->symbol)) ||
      (rc = get_time(&c, v, "transaction_time", true, &f->transaction_time,
                     NULL, 0)) ||
      (rc = get_fx(&c, v, "qty", true, false, &f->qty, NULL, 0)) ||
      (rc = get_fx(&c, v, "price", true, false, &f->price, NULL, 0)) ||
      (rc = get_fx(&c, v, "cum_qty", true, false, &f->cum_qty, NULL, 0)) ||
      (rc = get_fx(&c, v, "leaves_qty", true, false, &f->leaves_qty, NULL, 0)))
    return rc;
  if ((rc = get_str(&c, v, "side", true, w, sizeof w)))
    return rc;
  char msg[96];
  if (alpaca_side_to_dto(w, &f->side, msg, sizeof msg))
    return FAIL(&c, DTO_EUNSUPPORTED, "%s", msg);
  if ((rc = get_str(&c, v, "type", true, w, sizeof w)))
    return rc;
  if (!strcmp(w, "partial_fill"))
    f->partial = true;
  else if (strcmp(w, "fill"))
    return FAIL(&c, DTO_EUNSUPPORTED, "type: unknown value \"%s\"", w);
  if (member(v, "order_status")) {
    if ((rc = get_status(&c, v, "order_status", &f->order_status)))
      return rc;
    f->have_order_status = true;
  }
  if (f->qty <= 0 || f->price <= 0)
    return FAIL(&c, DTO_ERANGE, "%s: not positive",
                f->qty <= 0 ? "qty" : "price");
  return 0;
}

#define PARSE_WRAPPER(fn, type, from)                                          \
  int fn(const char *text, size_t n, type *out, char *err, size_t cap) {       \
    int rc = 0;                                                                \
    json_t *v = load(text, n, &rc, err, cap);                                  \
    if (!v)                                                                    \
      return rc;                                                               \
    rc = from(v, out, err, cap);                                               \
    json_decref(v);                                                            \
    return rc;                                                                 \
  }

PARSE_WRAPPER(alpaca_position_parse, alpaca_position, alpaca_position_from_json)
PARSE_WRAPPER(alpaca_account_parse, alpaca_account, alpaca_account_from_json)
PARSE_WRAPPER(alpaca_clock_parse, alpaca_clock, alpaca_clock_from_json)
PARSE_WRAPPER(alpaca_asset_parse, alpaca_asset, alpaca_asset_from_json)
PARSE_WRAPPER(alpaca_fill_activity_parse, alpaca_fill_activity,
              alpaca_fill_activity_from_json)

/* ---- trade_updates ------------------------------------------------------- */

int alpaca_trade_update_from_json(const json_t *data, alpaca_trade_update *u,
                                  char *err, size_t cap) {
  pc c = {err, cap, "data."};
  int rc;
  char w[ALPACA_WORD_MAX];
  memset(u, 0, sizeof *u);
  if ((rc = need_object(&c, data, "data")) ||
      (rc = get_str(&c, data, "event", true, w, sizeof w)))
    return rc;
  if (alpaca_event_parse(w, &u->event))
    return FAIL(&c, DTO_EUNSUPPORTED, "event: unknown value \"%s\"", w);
  /* execution_id is a uuid in the stream; older messages lack it */
  if ((rc = get_str(&c, data, "execution_id", false, u->execution_id,
                    sizeof u->execution_id)) ||
      (rc = get_fx(&c, data, "price", false, false, &u->price, &u->have,
                   ATU_PRICE)) ||
      (rc =
           get_fx(&c, data, "qty", false, false, &u->qty, &u->have, ATU_QTY)) ||
      (rc = get_fx(&c, data, "position_qty", false, false, &u->position_qty,
                   &u->have, ATU_POSITION_QTY)))
    return rc;
  json_t *o = member(data, "order");
  if (!o)
    return FAIL(&c, DTO_EPARSE, "order: missing");
  if ((rc = alpaca_order_from_json(o, "data.order.", &u->order, err, cap)))
    return rc;
  unsigned have = 0;
  if ((rc = get_time(&c, data, "timestamp", false, &u->timestamp, &have, 1)))
    return rc;
  if (!have)
    u->timestamp = (u->order.have & AO_UPDATED_AT) ? u->order.updated_at
                                                   : u->order.created_at;
  return 0;
}

int alpaca_stream_parse(const char *text, size_t n, alpaca_stream_msg *out,
                        char *err, size_t cap) {
  int rc = 0;
  json_t *v = load(text, n, &rc, err, cap);
  if (!v)
    return rc;
  pc c = {err, cap, ""};
  char stream[ALPACA_WORD_MAX];
  memset(out, 0, sizeof *out);
  json_t *data;
  if ((rc = need_object(&c, v, "message")) ||
      (rc = get_str(&c, v, "stream", true, stream, sizeof stream)))
    goto done;
  data = member(v, "data");
  if (!json_is_object(data)) {
    rc = FAIL(&c, DTO_EPARSE, "data: expected an object");
    goto done;
  }
  if (!strcmp(stream, "trade_updates")) {
    out->kind = ALPACA_ST_TRADE_UPDATE;
    rc = alpaca_trade_update_from_json(data, &out->update, err, cap);
  } else if (!strcmp(stream, "authorization")) {
    char st[ALPACA_WORD_MAX];
    pc dc = {err, cap, "data."};
    out->kind = ALPACA_ST_AUTHORIZATION;
    if ((rc = get_str(&dc, data, "status", true, st, sizeof st)))
      goto done;
    if (!strcmp(st, "authorized"))
      out->authorized = true;
    else if (strcmp(st, "unauthorized"))
      rc = FAIL(&dc, DTO_EUNSUPPORTED, "status: unknown value \"%s\"", st);
  } else if (!strcmp(stream, "listening")) {
    out->kind = ALPACA_ST_LISTENING;
    json_t *s = member(data, "streams");
    if (!json_is_array(s)) {
      rc = FAIL(&c, DTO_EPARSE, "data.streams: expected an array");
      goto done;
    }
    for (size_t k = 0; k < json_array_size(s); k++) {
      json_t *e = json_array_get(s, k);
      if (!json_is_string(e)) {
        rc = FAIL(&c, DTO_EPARSE, "data.streams[%zu]: expected a string", k);
        goto done;
      }
      if (!strcmp(json_string_value(e), "trade_updates"))
        out->trade_updates = true;
    }
  } else {
    rc = FAIL(&c, DTO_EUNSUPPORTED, "stream: unknown value \"%s\"", stream);
  }
done:
  json_decref(v);
  return rc;
}

int alpaca_event_report(const alpaca_trade_update *u, broker_report *r,
                        char *err, size_t cap) {
  memset(r, 0, sizeof *r);
  r->id = ORDER_NONE;
  r->new_id = ORDER_NONE;
  r->ts = u->timestamp;
  r->reason = BRR_NONE;
  switch (u->event) {
  case ALPACA_EV_NEW:
    r->kind = REP_ACCEPTED;
    return 1;
  case ALPACA_EV_FILL:
  case ALPACA_EV_PARTIAL_FILL:
    if (!(u->have & ATU_QTY) || u->qty <= 0) {
      dto_seterr(err, cap, "data.qty: a fill needs a positive qty");
      return DTO_EPARSE;
    }
    if (!(u->have & ATU_PRICE) || u->price <= 0) {
      dto_seterr(err, cap, "data.price: a fill needs a positive price");
      return DTO_EPARSE;
    }
    r->kind = REP_FILL;
    r->qty = u->qty;
    r->price = u->price;
    return 1;
  case ALPACA_EV_CANCELED:
    r->kind = REP_CANCELED;
    return 1;
  case ALPACA_EV_EXPIRED:
    r->kind = REP_EXPIRED;
    return 1;
  case ALPACA_EV_DONE_FOR_DAY:
    r->kind = REP_EXPIRED;
    r->reason = BRR_DAY_END;
    return 1;
  case ALPACA_EV_REJECTED:
    r->kind = REP_REJECTED;
    r->reason = BRR_INVALID;
    return 1;
  case ALPACA_EV_REPLACED:
    r->kind = REP_REPLACED;
    return 1;
  case ALPACA_EV_ORDER_CANCEL_REJECTED:
  case ALPACA_EV_ORDER_REPLACE_REJECTED:
    r->kind = REP_CANCEL_REJECT;
    return 1;
  case ALPACA_EV_PENDING_NEW:
  case ALPACA_EV_PENDING_CANCEL:
  case ALPACA_EV_PENDING_REPLACE:
  case ALPACA_EV_STOPPED:
  case ALPACA_EV_SUSPENDED:
  case ALPACA_EV_CALCULATED:
  case ALPACA_EV_ACCEPTED:
  case ALPACA_EV_RESTATED:
  case ALPACA_EV_HELD:
  case ALPACA_EV_COUNT:
    break;
  }
  return 0;
}

/* ---- market data --------------------------------------------------------- */

static const char *const other_types[] = {"s", "l", "c", "x", "i", "o", "n"};

/* The length of an array field of a subscription message (0 if absent). */
static int sub_count(pc *c, const json_t *o, const char *name, size_t *n) {
  json_t *v = member(o, name);
  *n = 0;
  if (!v)
    return 0;
  if (!json_is_array(v))
    return FAIL(c, DTO_EPARSE, "%s: expected an array", name);
  for (size_t k = 0; k < json_array_size(v); k++)
    if (!json_is_string(json_array_get(v, k)))
      return FAIL(c, DTO_EPARSE, "%s[%zu]: expected a string", name, k);
  *n = json_array_size(v);
  return 0;
}

/* The OHLCV fields of a bar object (stream or REST). */
static int bar_fields(pc *c, const json_t *v, bar *b, int64_t *ntrades,
                      fx *vwap) {
  int rc;
  if ((rc = get_fx(c, v, "o", true, true, &b->open, NULL, 0)) ||
      (rc = get_fx(c, v, "h", true, true, &b->high, NULL, 0)) ||
      (rc = get_fx(c, v, "l", true, true, &b->low, NULL, 0)) ||
      (rc = get_fx(c, v, "c", true, true, &b->close, NULL, 0)) ||
      (rc = get_fx(c, v, "v", true, true, &b->volume, NULL, 0)) ||
      (rc = get_time(c, v, "t", true, &b->ts, NULL, 0)) ||
      (rc = get_int(c, v, "n", false, ntrades)) ||
      (rc = get_fx(c, v, "vw", false, true, vwap, NULL, 0)))
    return rc;
  if (b->volume < 0)
    return FAIL(c, DTO_ERANGE, "v: negative");
  return 0;
}

int alpaca_md_msg_from_json(const json_t *v, const char *prefix,
                            alpaca_md_msg *m, char *err, size_t cap) {
  pc c = {err, cap, prefix ? prefix : ""};
  int rc;
  memset(m, 0, sizeof *m);
  m->trade.sym = m->quote.sym = m->bar.sym = SYM_NONE;
  if ((rc = need_object(&c, v, "message")) ||
      (rc = get_str(&c, v, "T", true, m->type, sizeof m->type)))
    return rc;
  const char *t = m->type;
  if (!strcmp(t, "success")) {
    m->kind = ALPACA_MD_SUCCESS;
    return get_str(&c, v, "msg", true, m->msg, sizeof m->msg);
  }
  if (!strcmp(t, "error")) {
    int64_t code;
    m->kind = ALPACA_MD_ERROR;
    if ((rc = get_int(&c, v, "code", true, &code)) ||
        (rc = get_str(&c, v, "msg", true, m->msg, sizeof m->msg)))
      return rc;
    if (code < 0 || code > 9999)
      return FAIL(&c, DTO_ERANGE, "code: %lld out of range", (long long)code);
    m->code = (int)code;
    return 0;
  }
  if (!strcmp(t, "subscription")) {
    m->kind = ALPACA_MD_SUBSCRIPTION;
    size_t dummy;
    if ((rc = sub_count(&c, v, "trades", &m->ntrades)) ||
        (rc = sub_count(&c, v, "quotes", &m->nquotes)) ||
        (rc = sub_count(&c, v, "bars", &m->nbars)) ||
        (rc = sub_count(&c, v, "dailyBars", &m->ndaily_bars)) ||
        (rc = sub_count(&c, v, "updatedBars", &m->nupdated_bars)) ||
        (rc = sub_count(&c, v, "statuses", &dummy)) ||
        (rc = sub_count(&c, v, "lulds", &dummy)))
      return rc;
    return 0;
  }
  if (!strcmp(t, "t")) {
    m->kind = ALPACA_MD_TRADE;
    if ((rc = get_str(&c, v, "S", true, m->symbol, sizeof m->symbol)) ||
        (rc = get_int(&c, v, "i", false, &m->trade_id)) ||
        (rc = get_str(&c, v, "x", false, m->exchange, sizeof m->exchange)) ||
        (rc = get_fx(&c, v, "p", true, true, &m->trade.price, NULL, 0)) ||
        (rc = get_fx(&c, v, "s", true, true, &m->trade.size, NULL, 0)) ||
        (rc = get_time(&c, v, "t", true, &m->trade.ts, NULL, 0)) ||
        (rc = get_str(&c, v, "z", false, m->tape, sizeof m->tape)))
      return rc;
    if (m->trade.size < 0)
      return FAIL(&c, DTO_ERANGE, "s: negative");
    return 0;
  }
  if (!strcmp(t, "q")) {
    m->kind = ALPACA_MD_QUOTE;
    if ((rc = get_str(&c, v, "S", true, m->symbol, sizeof m->symbol)) ||
        (rc = get_fx(&c, v, "bp", true, true, &m->quote.bid, NULL, 0)) ||
        (rc = get_fx(&c, v, "bs", true, true, &m->quote.bid_size, NULL, 0)) ||
        (rc = get_fx(&c, v, "ap", true, true, &m->quote.ask, NULL, 0)) ||
        (rc = get_fx(&c, v, "as", true, true, &m->quote.ask_size, NULL, 0)) ||
        (rc = get_time(&c, v, "t", true, &m->quote.ts, NULL, 0)) ||
        (rc = get_str(&c, v, "z", false, m->tape, sizeof m->tape)))
      return rc;
    if (m->quote.bid_size < 0 || m->quote.ask_size < 0)
      return FAIL(&c, DTO_ERANGE, "%s: negative",
                  m->quote.bid_size < 0 ? "bs" : "as");
    return 0;
  }
  if (!strcmp(t, "b") || !strcmp(t, "d") || !strcmp(t, "u")) {
    int64_t n = 0;
    fx vw = 0;
    m->kind = t[0] == 'b'   ? ALPACA_MD_BAR
              : t[0] == 'd' ? ALPACA_MD_DAILY_BAR
                            : ALPACA_MD_UPDATED_BAR;
    if ((rc = get_str(&c, v, "S", true, m->symbol, sizeof m->symbol)) ||
        (rc = bar_fields(&c, v, &m->bar, &n, &vw)))
      return rc;
    m->bar.dur = m->kind == ALPACA_MD_DAILY_BAR ? 0 : DTO_NS_PER_MIN;
    return 0;
  }
  for (size_t k = 0; k < DTO_ARRAY_LEN(other_types); k++)
    if (!strcmp(t, other_types[k])) {
      m->kind = ALPACA_MD_OTHER;
      return get_str(&c, v, "S", false, m->symbol, sizeof m->symbol);
    }
  return FAIL(&c, DTO_EUNSUPPORTED, "T: unknown value \"%s\"", t);
}

int alpaca_md_parse(const char *text, size_t n, alpaca_md_msg *out, size_t max,
                    size_t *count, char *err, size_t cap) {
  int rc = 0;
  *count = 0;
  json_t *v = load(text, n, &rc, err, cap);
  if (!v)
    return rc;
  if (!json_is_array(v)) {
    dto_seterr(err, cap, "frame: expected an array");
    rc = DTO_EPARSE;
    goto done;
  }
  size_t len = json_array_size(v);
  for (size_t k = 0; k < len; k++) {
    if (k == max) {
      dto_seterr(err, cap, "frame: %zu messages, room for %zu", len, max);
      rc = DTO_EFULL;
      goto done;
    }
    char p[32];
    snprintf(p, sizeof p, "[%zu].", k);
    if ((rc = alpaca_md_msg_from_json(json_array_get(v, k), p, &out[k], err,
                                      cap)))
      goto done;
    (*count)++;
  }
done:
  json_decref(v);
  return rc;
}

/* ---- REST bars ----------------------------------------------------------- */

static int bar_rows(pc *c, const json_t *arr, const char *sym, dto_time dur,
                    alpaca_bar_row *out, size_t max, size_t *count) {
  int rc;
  size_t sl = strlen(sym);
  if (sl >= ALPACA_SYMBOL_MAX)
    return FAIL(c, DTO_ERANGE, "symbol: longer than %d bytes",
                ALPACA_SYMBOL_MAX - 1);
  if (!json_is_array(arr))
    return FAIL(c, DTO_EPARSE, "bars%s%s: expected an array", *sym ? "." : "",
                sym);
  for (size_t k = 0; k < json_array_size(arr); k++) {
    if (*count == max)
      return FAIL(c, DTO_EFULL, "bars: more than %zu rows", max);
    char p[96];
    snprintf(p, sizeof p, "bars%s%.*s[%zu].", *sym ? "." : "", 40, sym, k);
    pc rcx = {c->err, c->cap, p};
    alpaca_bar_row *r = &out[*count];
    memset(r, 0, sizeof *r);
    json_t *b = json_array_get(arr, k);
    if ((rc = need_object(&rcx, b, "bar")) ||
        (rc = bar_fields(&rcx, b, &r->bar, &r->trade_count, &r->vwap)))
      return rc;
    memcpy(r->symbol, sym, sl + 1);
    r->bar.dur = dur;
    r->bar.sym = SYM_NONE;
    (*count)++;
  }
  return 0;
}

int alpaca_bars_parse(const char *text, size_t n, dto_time dur,
                      alpaca_bar_row *out, size_t max, size_t *count,
                      char *token, size_t tcap, char *err, size_t cap) {
  int rc = 0;
  *count = 0;
  if (tcap)
    token[0] = '\0';
  json_t *v = load(text, n, &rc, err, cap);
  if (!v)
    return rc;
  pc c = {err, cap, ""};
  if ((rc = need_object(&c, v, "page")))
    goto done;
  if (tcap == 0) {
    rc = FAIL(&c, DTO_EINVAL, "next_page_token: no room");
    goto done;
  }
  if ((rc = get_str(&c, v, "next_page_token", false, token, tcap)))
    goto done;
  json_t *bars = member(v, "bars");
  if (!bars)
    goto done; /* an empty page */
  if (json_is_object(bars)) {
    const char *sym;
    json_t *arr;
    json_object_foreach(bars, sym, arr) {
      if ((rc = bar_rows(&c, arr, sym, dur, out, max, count)))
        goto done;
    }
  } else if (json_is_array(bars)) {
    char sym[ALPACA_SYMBOL_MAX];
    if ((rc = get_str(&c, v, "symbol", true, sym, sizeof sym)) ||
        (rc = bar_rows(&c, bars, sym, dur, out, max, count)))
      goto done;
  } else {
    rc = FAIL(&c, DTO_EPARSE, "bars: expected an object or an array");
  }
done:
  json_decref(v);
  return rc;
}

/* ---- execution ids ------------------------------------------------------- */

struct alpaca_exec_seen {
  size_t cap, n, head; /* head: the oldest entry when full */
  char (*ids)[ALPACA_ID_MAX];
};

alpaca_exec_seen *alpaca_exec_seen_new(size_t cap) {
  DTO_ASSERT(cap >= 1);
  alpaca_exec_seen *s = xcalloc(1, sizeof *s);
  s->cap = cap;
  s->ids = xcalloc(cap, sizeof *s->ids);
  return s;
}

void alpaca_exec_seen_free(alpaca_exec_seen *s) {
  if (!s)
    return;
  free(s->ids);
  free(s);
}

int alpaca_exec_seen_check(alpaca_exec_seen *s, const char *id) {
  if (!s || !id || !*id)
    return DTO_EINVAL;
  size_t len = strnlen(id, ALPACA_ID_MAX);
  if (len >= ALPACA_ID_MAX)
    return DTO_EINVAL;
  for (size_t k = 0; k < s->n; k++)
    if (!strcmp(s->ids[k], id))
      return 1;
  size_t slot;
  if (s->n < s->cap) {
    slot = s->n++;
  } else {
    slot = s->head; /* evict the oldest */
    s->head = (s->head + 1) % s->cap;
  }
  memcpy(s->ids[slot], id, len + 1);
  return 0;
}

size_t alpaca_exec_seen_count(const alpaca_exec_seen *s) {
  return s ? s->n : 0;
}
