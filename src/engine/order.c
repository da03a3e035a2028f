/* order.c - the order state machine: one table of legal transitions. */
#include "engine/order.h"

#include "core/error.h"
#include "core/timeutil.h"

#define B(s) ORDER__BIT(s)

/* order__legal[from] is the set of states reachable from `from`.  Fills may
 * race acknowledgements and cancels (real brokers report them in any order), so
 * pending states accept fills; terminal states accept nothing. */
const uint32_t order__legal[OS_COUNT] = {
    [OS_NEW] = B(OS_PENDING_NEW) | B(OS_REJECTED),
    [OS_PENDING_NEW] = B(OS_ACCEPTED) | B(OS_REJECTED) |
                       B(OS_PARTIALLY_FILLED) | B(OS_FILLED) |
                       B(OS_PENDING_CANCEL) | B(OS_CANCELED) | B(OS_EXPIRED),
    /* rejected: a live broker may acknowledge receipt and refuse the
     * order before it reaches the venue (Alpaca's "accepted" then
     * "rejected"); the engine allows it only before any fill */
    [OS_ACCEPTED] = B(OS_PARTIALLY_FILLED) | B(OS_FILLED) |
                    B(OS_PENDING_CANCEL) | B(OS_CANCELED) | B(OS_EXPIRED) |
                    B(OS_REPLACED) | B(OS_REJECTED),
    [OS_PARTIALLY_FILLED] = B(OS_PARTIALLY_FILLED) | B(OS_FILLED) |
                            B(OS_PENDING_CANCEL) | B(OS_CANCELED) |
                            B(OS_EXPIRED) | B(OS_REPLACED),
    [OS_PENDING_CANCEL] = B(OS_CANCELED) | B(OS_PARTIALLY_FILLED) |
                          B(OS_FILLED) | B(OS_ACCEPTED) | B(OS_EXPIRED) |
                          B(OS_REPLACED),
    [OS_FILLED] = 0,
    [OS_CANCELED] = 0,
    [OS_REJECTED] = 0,
    [OS_EXPIRED] = 0,
    [OS_REPLACED] = 0,
};

static const char *const state_names[OS_COUNT] = {
    "new",      "pending_new", "accepted", "partially_filled", "filled",
    "pending_cancel", "canceled", "rejected", "expired", "replaced"};
static const char *const side_names[SIDE_COUNT] = {"buy", "sell"};
static const char *const type_names[ORD_TYPE_COUNT] = {
    "market", "limit", "stop", "stop_limit", "trailing_stop"};
static const char *const tif_names[TIF_COUNT] = {"day", "gtc", "ioc",
                                                 "fok", "opg", "cls"};

const char *order_state_name(enum order_state s) {
  return (unsigned)s < OS_COUNT ? state_names[s] : "?";
}
const char *order_side_name(enum order_side s) {
  return (unsigned)s < SIDE_COUNT ? side_names[s] : "?";
}
const char *order_type_name(enum order_type t) {
  return (unsigned)t < ORD_TYPE_COUNT ? type_names[t] : "?";
}
const char *tif_name(enum tif t) {
  return (unsigned)t < TIF_COUNT ? tif_names[t] : "?";
}
static const char *const role_names[] = {"none", "entry", "take_profit",
                                         "stop_loss"};
const char *bracket_role_name(enum bracket_role r) {
  return (unsigned)r < DTO_ARRAY_LEN(role_names) ? role_names[r] : "?";
}

/* Index of s in names, or -1 (also for a NULL s: parsers take outside
 * input and must not crash on it). */
static int lookup(const char *const *names, int n, const char *s) {
  if (!s)
    return -1;
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], s))
      return i;
  return -1;
}

int order_side_parse(const char *s, enum order_side *out) {
  int i = lookup(side_names, SIDE_COUNT, s);
  if (i < 0)
    return DTO_EINVAL;
  *out = (enum order_side)i;
  return 0;
}
int order_type_parse(const char *s, enum order_type *out) {
  int i = lookup(type_names, ORD_TYPE_COUNT, s);
  if (i < 0)
    return DTO_EINVAL;
  *out = (enum order_type)i;
  return 0;
}
int tif_parse(const char *s, enum tif *out) {
  int i = lookup(tif_names, TIF_COUNT, s);
  if (i < 0)
    return DTO_EINVAL;
  *out = (enum tif)i;
  return 0;
}
int bracket_role_parse(const char *s, enum bracket_role *out) {
  int i = lookup(role_names, (int)DTO_ARRAY_LEN(role_names), s);
  if (i < 0)
    return DTO_EINVAL;
  *out = (enum bracket_role)i;
  return 0;
}

/* ---- client order ids -------------------------------------------------- */

/* Length of the id at s (up to the next '-'), or 0 when it is empty, too
 * long or holds a character outside a-z, 0-9, '_'. */
static size_t cloid_id(const char *s) {
  size_t n = 0;
  for (; s[n] && s[n] != '-'; n++) {
    char c = s[n];
    if (n + 1 >= CLOID_ID_MAX ||
        !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return s[n] == '-' ? n : 0;
}

int cloid_parse(const char *cloid, char *account, size_t acap, char *strategy,
                size_t scap, int64_t *day, uint32_t *seq) {
  if (!cloid || strnlen(cloid, CLOID_MAX) >= CLOID_MAX)
    return DTO_EINVAL;
  const char *a = cloid;
  size_t an = cloid_id(a);
  if (an == 0)
    return DTO_EINVAL;
  const char *st = a + an + 1;
  size_t sn = cloid_id(st);
  if (sn == 0)
    return DTO_EINVAL;
  const char *d = st + sn + 1;
  int v[8];
  for (int i = 0; i < 8; i++) {
    if (d[i] < '0' || d[i] > '9')
      return DTO_EINVAL;
    v[i] = d[i] - '0';
  }
  if (d[8] != '-')
    return DTO_EINVAL;
  int y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
  int mo = v[4] * 10 + v[5], dd = v[6] * 10 + v[7];
  if (!civil_valid(y, mo, dd))
    return DTO_EINVAL;
  const char *q = d + 9;
  if (q[0] < '1' || q[0] > '9') /* no sign, no leading zero, not empty */
    return DTO_EINVAL;
  uint64_t n = 0;
  size_t i = 0;
  for (; q[i]; i++) {
    if (q[i] < '0' || q[i] > '9' || i >= 10)
      return DTO_EINVAL;
    n = n * 10 + (uint64_t)(q[i] - '0');
  }
  if (n > UINT32_MAX)
    return DTO_EINVAL;
  if (an >= acap || sn >= scap)
    return DTO_ERANGE;
  memcpy(account, a, an);
  account[an] = '\0';
  memcpy(strategy, st, sn);
  strategy[sn] = '\0';
  *day = days_from_civil(y, mo, dd);
  *seq = (uint32_t)n;
  return 0;
}
