/* order.h - orders and their state machine.
 *
 * An order's life is an explicit state machine.  order_transition() is the
 * only function that changes order->state: it checks the move against the
 * table of legal transitions, refuses an illegal one with DTO_ESTATE and
 * leaves the order untouched.  The OMS records every transition it makes.
 */
#ifndef DTO_ENGINE_ORDER_H
#define DTO_ENGINE_ORDER_H

#include "core/fx.h"
#include "market/event.h"

typedef uint32_t order_id;
#define ORDER_NONE UINT32_MAX
#define CLOID_MAX 96

enum order_side { SIDE_BUY, SIDE_SELL, SIDE_COUNT };

enum order_type {
  ORD_MARKET,
  ORD_LIMIT,
  ORD_STOP,
  ORD_STOP_LIMIT,
  ORD_TRAILING_STOP,
  ORD_TYPE_COUNT
};

enum tif { TIF_DAY, TIF_GTC, TIF_IOC, TIF_FOK, TIF_OPG, TIF_CLS, TIF_COUNT };

enum order_state {
  OS_NEW,              /* created, not yet past the risk gate */
  OS_PENDING_NEW,      /* sent to the broker, not acknowledged */
  OS_ACCEPTED,         /* working at the broker */
  OS_PARTIALLY_FILLED, /* working, some quantity filled */
  OS_FILLED,           /* terminal: fully filled */
  OS_PENDING_CANCEL,   /* cancel (or replace) requested */
  OS_CANCELED,         /* terminal */
  OS_REJECTED,         /* terminal: by risk or by the broker */
  OS_EXPIRED,          /* terminal: time in force ran out */
  OS_REPLACED,         /* terminal: superseded by a new order */
  OS_COUNT
};

enum bracket_role { BR_NONE, BR_ENTRY, BR_TAKE_PROFIT, BR_STOP_LOSS };

typedef struct order {
  order_id id;
  char cloid[CLOID_MAX]; /* client order id: unique and deterministic */
  uint32_t strategy;     /* strategy instance index */
  uint32_t account;      /* account index */
  sym_id sym;
  enum order_side side;
  enum order_type type;
  enum tif tif;
  enum order_state state;
  enum bracket_role role;
  bool extended_hours;
  bool triggered;  /* stop and trailing stop: the stop price was reached */
  bool reducing;   /* decided at submit: reduces an existing position */
  fx qty;          /* total quantity, > 0 */
  fx filled;       /* cumulative filled quantity */
  fx notional;     /* cumulative filled value (sum of qty * price) */
  fx limit_price;  /* LIMIT, STOP_LIMIT; 0 otherwise */
  fx stop_price;   /* STOP, STOP_LIMIT, TRAILING_STOP (current stop) */
  fx trail;        /* TRAILING_STOP: distance in price units */
  fx water;        /* TRAILING_STOP: best price seen since acceptance */
  fx fees;         /* cumulative fees */
  fx tp_price, sl_price; /* BR_ENTRY: exits to create once filled */
  order_id parent; /* bracket exits: the entry */
  order_id peer;   /* bracket exits: the other exit (one cancels other) */
  /* the bracket an entry or exit belongs to (engine numbering, from 1);
   * 0: none */
  uint32_t bracket;
  order_id replaces, replaced_by;
  dto_time created, updated;
  int reason; /* broker reason (enum broker_reason), 0 if none */
  int risk;   /* risk gate refusal (enum risk_reason), 0 if none */
} order;

/* The state machine as bit sets over enum order_state (order.c):
 * order__legal[from] holds the states reachable from `from`.  Inline below:
 * every order passes these tests several times. */
extern const uint32_t order__legal[OS_COUNT];
#define ORDER__BIT(s) (1u << (s))
#define ORDER__TERMINAL                                                        \
  (ORDER__BIT(OS_FILLED) | ORDER__BIT(OS_CANCELED) | ORDER__BIT(OS_REJECTED) | \
   ORDER__BIT(OS_EXPIRED) | ORDER__BIT(OS_REPLACED))
#define ORDER__WORKING                                                         \
  (ORDER__BIT(OS_PENDING_NEW) | ORDER__BIT(OS_ACCEPTED) |                      \
   ORDER__BIT(OS_PARTIALLY_FILLED) | ORDER__BIT(OS_PENDING_CANCEL))

/* True when the transition from -> to is legal. */
static inline bool order_transition_legal(enum order_state from,
                                          enum order_state to) {
  if ((unsigned)from >= OS_COUNT || (unsigned)to >= OS_COUNT)
    return false;
  return (order__legal[from] & ORDER__BIT(to)) != 0;
}
/* Move o to state `to` at time t; DTO_ESTATE (o unchanged) when illegal. */
static inline int order_transition(order *o, enum order_state to, dto_time t) {
  if (!order_transition_legal(o->state, to))
    return DTO_ESTATE;
  o->state = to;
  o->updated = t;
  return 0;
}
static inline bool order_is_terminal(enum order_state s) {
  return (unsigned)s < OS_COUNT && (ORDER__TERMINAL & ORDER__BIT(s)) != 0;
}
/* Working: the order can still fill (pending_new, accepted, partially
 * filled, pending_cancel). */
static inline bool order_is_working(enum order_state s) {
  return (unsigned)s < OS_COUNT && (ORDER__WORKING & ORDER__BIT(s)) != 0;
}
static inline fx order_leaves(const order *o) { return o->qty - o->filled; }
/* A blank order: every byte zero (padding too, so tables compare with
 * memcmp), no links (parent, peer, replaces, replaced_by ORDER_NONE). */
static inline void order_init(order *o) {
  memset(o, 0, sizeof *o);
  o->parent = o->peer = o->replaces = o->replaced_by = ORDER_NONE;
}

const char *order_state_name(enum order_state s);
const char *order_side_name(enum order_side s);
const char *order_type_name(enum order_type t);
const char *tif_name(enum tif t);
/* "none", "entry", "take_profit", "stop_loss" ("?" out of range). */
const char *bracket_role_name(enum bracket_role r);
/* Parse the exact lower-case names above ("buy", "stop_limit", "gtc").
 * DTO_EINVAL (and *out untouched) for anything else, NULL included. */
int order_side_parse(const char *s, enum order_side *out);
int order_type_parse(const char *s, enum order_type *out);
int tif_parse(const char *s, enum tif *out);
int bracket_role_parse(const char *s, enum bracket_role *out);

/* Longest account or strategy id in a client order id, with its NUL (the
 * configuration's ids: 1 to 31 of a-z, 0-9 and '_'). */
#define CLOID_ID_MAX 32

/* Split a client order id "ACCOUNT-STRATEGY-YYYYMMDD-SEQ", as oms_cloid
 * writes it, with full validation: account and strategy are 1 to
 * CLOID_ID_MAX - 1 characters of a-z, 0-9 and '_' (so no '-'); the date is
 * 8 digits of a valid civil date (year 0000 to 9999); SEQ is 1 to
 * UINT32_MAX in decimal without sign or leading zero; the whole id is
 * shorter than CLOID_MAX.  So oms_cloid of the parts gives cloid back, byte
 * for byte.  The account and strategy are copied (NUL-terminated) into
 * account (acap bytes) and strategy (scap bytes); *day gets the date as
 * days since 1970-01-01 and *seq the sequence.  Returns 0, DTO_EINVAL for
 * anything that is not such an id (NULL included), DTO_ERANGE when an id
 * does not fit its buffer; the outputs are written only on success. */
int cloid_parse(const char *cloid, char *account, size_t acap, char *strategy,
                size_t scap, int64_t *day, uint32_t *seq);

#endif
