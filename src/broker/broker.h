/* broker.h - the interface every broker adapter implements.
 *
 * A broker is a const table of function pointers plus a context (SQLite's
 * VFS, curl's connection filters).  The engine calls submit/cancel/replace;
 * the broker answers asynchronously with reports that the engine collects
 * with poll().  Nothing is reported from inside submit(): reports are only
 * delivered by poll(), so the engine is never re-entered.  Market data is
 * forwarded to brokers that simulate (the paper exchange); live adapters
 * leave those entries NULL.
 */
#ifndef DTO_BROKER_H
#define DTO_BROKER_H

#include "engine/order.h"
#include "market/event.h"

enum report_kind {
  REP_ACCEPTED,      /* order is working */
  REP_REJECTED,      /* order refused (reason set) */
  REP_FILL,          /* qty at price (partial or last) */
  REP_CANCELED,      /* canceled (by request, IOC/FOK remainder, ...) */
  REP_EXPIRED,       /* time in force ran out */
  REP_REPLACED,      /* the order was replaced by new_id */
  REP_CANCEL_REJECT, /* a cancel or replace request was refused */
  REP_KIND_COUNT
};

/* Broker-side reason codes carried in reports. */
enum broker_reason {
  BRR_NONE,
  BRR_INVALID,        /* malformed order (qty, price, tick, lot) */
  BRR_MARKET_CLOSED,  /* OPG/CLS missed their auction, or outside hours */
  BRR_UNKNOWN_ORDER,  /* cancel/replace for an order not working */
  BRR_IOC_REMAINDER,  /* IOC remainder canceled */
  BRR_FOK_UNFILLED,   /* FOK could not fill whole */
  BRR_DAY_END,        /* day order expired at the close */
  BRR_REQUESTED,      /* canceled at the client's request */
  BRR_OCO,            /* canceled because its bracket peer filled */
  BRR_STORAGE,        /* not sent: the journal could not record it */
  BRR_UNRECONCILED,   /* not sent: the books disagree with the broker's */
  BRR_COUNT
};

typedef struct broker_report {
  enum report_kind kind;
  order_id id;
  order_id new_id; /* REP_REPLACED */
  fx qty, price;   /* REP_FILL */
  dto_time ts;
  int reason; /* enum broker_reason */
} broker_report;

/* What a broker says it holds, for reconciliation after a restart. */
typedef struct broker_open_order {
  char cloid[CLOID_MAX];
  sym_id sym;
  enum order_side side;
  enum order_type type;
  enum tif tif;
  fx qty, filled; /* what is working: qty - filled is left */
  fx limit_price, stop_price;
} broker_open_order;

typedef struct broker_position {
  sym_id sym;
  fx qty; /* signed, over every account the broker holds for dto */
} broker_position;

/* A fill the broker reports for reconciliation. */
typedef struct broker_fill {
  char cloid[CLOID_MAX];
  fx qty, price;
  dto_time ts;
} broker_fill;

typedef struct broker_ops {
  const char *name;
  /* Take an order (the broker copies what it needs).  A non-zero return
   * means it could not be sent at all (the engine rejects the order). */
  int (*submit)(void *ctx, const order *o);
  int (*cancel)(void *ctx, order_id id);
  /* Replace old_id by the new order nw (same symbol and side). */
  int (*replace)(void *ctx, order_id old_id, const order *nw);
  /* Market data, for simulating brokers; may be NULL. */
  void (*on_bar)(void *ctx, const bar *b);
  void (*on_trade)(void *ctx, const trade *t);
  void (*on_quote)(void *ctx, const quote *q);
  /* Time moves on (expire day orders at the close...); may be NULL. */
  void (*on_time)(void *ctx, dto_time t);
  /* Move up to max pending reports into out; returns how many.  A broker
   * with sync_reports moves min(pending, max): the engine stops polling
   * when a call returns fewer than max. */
  size_t (*poll)(void *ctx, broker_report *out, size_t max);
  /* True when reports only ever arise inside calls into the broker (a
   * simulator): the engine then polls only after such calls.  Live brokers
   * leave it false and are polled at every step. */
  bool sync_reports;
  /* Whether on_bar must see every bar, also of instruments without working
   * orders (a simulator that fills at the last bar's close).  NULL means
   * yes.  Asked once, when the engine is created. */
  bool (*needs_idle_bars)(void *ctx);
  /* Reconciliation queries (may be NULL: the broker cannot answer, and the
   * engine must not trade on a guess).  Each fills up to max entries and
   * sets *n to the number there are (more than max: DTO_EFULL); any other
   * failure is a negative code.  A failed answer is never "nothing". */
  int (*open_orders)(void *ctx, broker_open_order *out, size_t max,
                     size_t *n);
  int (*positions)(void *ctx, broker_position *out, size_t max, size_t *n);
  /* Fills made after `since` (the last journaled time), oldest first, as
   * open_orders (may be NULL: no fills can happen while dto is down, as
   * with the in-process paper exchange). */
  int (*fills_since)(void *ctx, dto_time since, broker_fill *out, size_t max,
                     size_t *n);
} broker_ops;

const char *report_kind_name(enum report_kind k);
const char *broker_reason_name(int r);

#endif
