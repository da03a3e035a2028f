/* order.c - the order state machine: one table of legal transitions. */
#include "engine/order.h"

#include "core/error.h"

#define B(s) (1u << (s))

/* legal[from] is the set of states reachable from `from`.  Fills may race
 * acknowledgements and cancels (real brokers report them in any order), so
 * pending states accept fills; terminal states accept nothing. */
static const uint32_t legal[OS_COUNT] = {
    [OS_NEW] = B(OS_PENDING_NEW) | B(OS_REJECTED),
    [OS_PENDING_NEW] = B(OS_ACCEPTED) | B(OS_REJECTED) |
                       B(OS_PARTIALLY_FILLED) | B(OS_FILLED) |
                       B(OS_PENDING_CANCEL) | B(OS_CANCELED) | B(OS_EXPIRED),
    [OS_ACCEPTED] = B(OS_PARTIALLY_FILLED) | B(OS_FILLED) |
                    B(OS_PENDING_CANCEL) | B(OS_CANCELED) | B(OS_EXPIRED) |
                    B(OS_REPLACED),
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

bool order_transition_legal(enum order_state from, enum order_state to) {
  if ((unsigned)from >= OS_COUNT || (unsigned)to >= OS_COUNT)
    return false;
  return (legal[from] & B(to)) != 0;
}

int order_transition(order *o, enum order_state to, dto_time t) {
  if (!order_transition_legal(o->state, to))
    return DTO_ESTATE;
  o->state = to;
  o->updated = t;
  return 0;
}

bool order_is_terminal(enum order_state s) {
  return s == OS_FILLED || s == OS_CANCELED || s == OS_REJECTED ||
         s == OS_EXPIRED || s == OS_REPLACED;
}

bool order_is_working(enum order_state s) {
  return s == OS_PENDING_NEW || s == OS_ACCEPTED ||
         s == OS_PARTIALLY_FILLED || s == OS_PENDING_CANCEL;
}

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
