/* risk.h - the pre-trade risk gate, modes and the kill switch.
 *
 * Every order, whoever made it (a strategy, the API, the CLI), passes
 * risk_check() before it can reach a broker; the engine has no other path
 * to a broker.  The checks follow SEC Rule 15c3-5 (credit and capital
 * thresholds, erroneous-order price and size checks, duplicates, restricted
 * securities), MiFID II RTS 6 (kill switch, price collars, maximum order
 * value and volume, throttles) and FINRA's pattern day trader rule.
 *
 * The gate is a pure decision over (limits, the gate's own counters, a
 * risk_input the engine fills in): it reads no engine state itself, which
 * keeps it fast, deterministic and testable at every boundary.  Each check
 * has a stable reason code; the first failing check decides, in the order
 * of enum risk_reason (storage_fault and unreconciled, appended last to keep
 * the numbers stable, are checked right after the kill switch, and
 * maintenance, appended after them, between the HALTED and the REDUCING
 * modes).  Refusals carry the check, the value compared and the limit.
 *
 * Limits come in three kinds:
 *   - order limits (size, value, collar, position per symbol, duplicates,
 *     restricted, hard to borrow): set at the account, the strategy or the
 *     symbol; the most specific setting wins (symbol, then strategy, then
 *     account, then the defaults);
 *   - account limits (exposure, concentration, buying power, open orders,
 *     throttles, daily loss and drawdown, pattern day trading, shorting and
 *     extended hours);
 *   - strategy limits (open orders, throttles, daily loss and drawdown,
 *     consecutive losses, the fill-loop guard, trading window, no new
 *     entries and flattening before the close).
 * A value of 0 turns a limit off.
 *
 * Modes, per account and per strategy: ACTIVE, REDUCING (only orders that
 * reduce a position pass) and HALTED (nothing passes); the kill switch is
 * the mode of the global scope (ACTIVE or HALTED).  A mode set by a
 * person, the kill switch, the fill-loop guard and the consecutive-loss
 * limit stay until a person releases them; the daily loss and drawdown
 * limits put their scope in REDUCING until the next trading day.  Reloading
 * limits never changes a mode.
 *
 * Every mode change goes through one transition function,
 * risk_transition(), which checks (scope, from mode, the cause that put
 * the scope there, to mode, cause) against one table of legal changes
 * (docs/internals/risk.md writes it out), refuses and counts an illegal
 * one, and tells the observer (risk_set_observer) of every change and every
 * refusal.  The functions that react to the engine (risk_on_pnl,
 * risk_on_fill, risk_on_round_trip, risk_new_day, risk_kill,
 * risk_set_mode) all change modes through it.
 *
 * The gate's mutable state (modes and their causes, the kill switch,
 * throttle and fill-loop windows, consecutive losses, the duplicate memory,
 * refusal counts) can be saved with risk_snapshot() and put back with
 * risk_restore_snapshot(), so a restart continues with the same decisions.
 */
#ifndef DTO_ENGINE_RISK_H
#define DTO_ENGINE_RISK_H

#include "core/buf.h"
#include "engine/order.h"

/* Stable reason codes: names (risk_reason_name) appear in logs, reports and
 * the journal; never renumber, only append. */
#define RISK_REASON_MAP(X)                                                     \
  X(OK, "ok")                                                                  \
  X(BAD_QTY, "bad_qty")                                                        \
  X(BAD_PRICE, "bad_price")                                                    \
  X(KILL_SWITCH, "kill_switch")                                                \
  X(HALTED, "halted")                                                          \
  X(REDUCING_ONLY, "reducing_only")                                            \
  X(RESTRICTED, "restricted")                                                  \
  X(SHORT_NOT_ALLOWED, "short_not_allowed")                                    \
  X(HARD_TO_BORROW, "hard_to_borrow")                                          \
  X(MARKET_CLOSED, "market_closed")                                            \
  X(EXTENDED_NOT_ALLOWED, "extended_hours_not_allowed")                        \
  X(OUTSIDE_WINDOW, "outside_trading_window")                                  \
  X(NO_NEW_ENTRIES, "no_new_entries_before_close")                             \
  X(MAX_ORDER_QTY, "max_order_qty")                                            \
  X(NO_REF_PRICE, "no_reference_price")                                        \
  X(STALE_REF_PRICE, "stale_reference_price")                                  \
  X(MAX_ORDER_NOTIONAL, "max_order_notional")                                  \
  X(PRICE_COLLAR, "price_collar")                                              \
  X(MAX_POS_QTY, "max_position_qty")                                           \
  X(MAX_POS_NOTIONAL, "max_position_notional")                                 \
  X(MAX_GROSS, "max_gross_exposure")                                           \
  X(MAX_NET, "max_net_exposure")                                               \
  X(CONCENTRATION, "max_concentration")                                        \
  X(BUYING_POWER, "buying_power")                                              \
  X(MAX_OPEN_ORDERS, "max_open_orders")                                        \
  X(RATE_SEC, "order_rate_per_second")                                         \
  X(RATE_MIN, "order_rate_per_minute")                                         \
  X(DUPLICATE, "duplicate_order")                                              \
  X(PDT, "pattern_day_trader")                                                 \
  X(DAILY_LOSS, "max_daily_loss")                                              \
  X(DRAWDOWN, "max_drawdown")                                                  \
  X(STORE_FAULT, "storage_fault")                                              \
  X(UNRECONCILED, "unreconciled")                                              \
  X(INSTRUMENT_HALTED, "instrument_halted")                                    \
  X(MAINTENANCE, "maintenance")

enum risk_reason {
#define DTO__RISK_ENUM(name, str) RISK_##name,
  RISK_REASON_MAP(DTO__RISK_ENUM)
#undef DTO__RISK_ENUM
      RISK_REASON_COUNT
};

enum risk_mode { MODE_ACTIVE, MODE_REDUCING, MODE_HALTED, RISK_MODE_COUNT };

/* Scopes of modes and decisions (risk_decision.scope uses 0 for the order
 * itself). */
enum {
  RISK_SCOPE_ACCOUNT = 1,
  RISK_SCOPE_STRATEGY = 2,
  RISK_SCOPE_GLOBAL = 3 /* the kill switch; index 0 */
};

/* Why a scope is in its mode: the cause of the transition that put it
 * there.  Stable numbers (snapshots and journals hold them): only append. */
#define RISK_CAUSE_MAP(X)                                                      \
  X(NONE, "none") /* the initial state; never the cause of a transition */     \
  X(PERSON, "person")                                                          \
  X(DAILY_LOSS, "daily_loss")                                                  \
  X(DRAWDOWN, "drawdown")                                                      \
  X(CONSECUTIVE_LOSSES, "consecutive_losses")                                  \
  X(FILL_LOOP, "fill_loop")                                                    \
  X(NEW_DAY, "new_day")                                                        \
  X(KILL_SWITCH, "kill_switch")

enum risk_cause {
#define DTO__RISK_CAUSE_ENUM(name, str) RISK_CAUSE_##name,
  RISK_CAUSE_MAP(DTO__RISK_CAUSE_ENUM)
#undef DTO__RISK_CAUSE_ENUM
      RISK_CAUSE_COUNT
};

/* One mode change, as the observer hears of it. */
typedef struct risk_change {
  int scope;                  /* RISK_SCOPE_* */
  uint32_t index;             /* the account or strategy; 0 for global */
  enum risk_mode from, to;    /* to == from is a change of cause only */
  enum risk_cause from_cause; /* why the scope was in `from` */
  enum risk_cause cause;      /* why it moves */
  bool legal;                 /* false: refused, nothing changed */
} risk_change;

/* Told of every transition, legal or refused, after it happened (or was
 * refused).  Runs inside the risk call that caused it: it must not call
 * back into the same risk object's mode functions. */
typedef void (*risk_observer_fn)(void *ctx, const risk_change *t);

/* Order limits; the `set` bits say which fields this level sets. */
typedef struct risk_order_limits {
  fx max_order_qty;      /* per order */
  fx max_order_notional; /* qty x (limit price, else reference price) */
  fx collar_pct;         /* limit price vs reference, percent; 0 off */
  int64_t collar_ticks;  /* limit price vs reference, ticks; 0 off */
  dto_time ref_max_age;  /* older reference prices are stale; 0: any age */
  fx max_pos_qty;        /* |position + working same-side + order| */
  fx max_pos_notional;   /* the same, valued at the reference price */
  /* An order is a duplicate when an earlier order accepted by the gate
   * with the same account, strategy, symbol, side, type, quantity, limit
   * price, stop price and trail was accepted less than dup_window before
   * it (t - t_prev < dup_window: at exactly dup_window it passes). */
  dto_time dup_window;
  bool restricted;       /* no orders at all */
  bool hard_to_borrow;   /* no short sales */
  uint32_t set;          /* RL_* bits */
} risk_order_limits;

enum {
  RL_MAX_ORDER_QTY = 1u << 0,
  RL_MAX_ORDER_NOTIONAL = 1u << 1,
  RL_COLLAR_PCT = 1u << 2,
  RL_COLLAR_TICKS = 1u << 3,
  RL_REF_MAX_AGE = 1u << 4,
  RL_MAX_POS_QTY = 1u << 5,
  RL_MAX_POS_NOTIONAL = 1u << 6,
  RL_DUP_WINDOW = 1u << 7,
  RL_RESTRICTED = 1u << 8,
  RL_HARD_TO_BORROW = 1u << 9,
  RL_ALL = (1u << 10) - 1
};

typedef struct risk_account_limits {
  /* Exposure limits count working orders as if they filled, in whichever
   * direction is worse (see risk_input), plus the order itself. */
  fx max_gross;             /* sum |position value| */
  fx max_net;               /* |sum position value| */
  fx max_concentration_pct; /* one symbol's |value| / equity, percent */
  bool check_buying_power;  /* cash + credit covers working buys + order */
  fx credit;                /* extra buying power (margin) */
  int max_open_orders;
  int max_orders_per_sec, max_orders_per_min;
  fx max_daily_loss; /* day P&L (realised + unrealised) below -this */
  fx max_drawdown;   /* equity below the day's peak by more than this */
  bool pdt;          /* enforce the pattern day trader rule */
  fx pdt_min_equity; /* 25000 */
  int pdt_max_day_trades; /* 3 in 5 business days */
  bool allow_short, allow_extended_hours;
} risk_account_limits;

typedef struct risk_strategy_limits {
  int max_open_orders;
  int max_orders_per_sec, max_orders_per_min;
  fx max_daily_loss, max_drawdown;
  int max_consecutive_losses;  /* losing round trips in a row */
  int fill_loop_count;         /* more fills than this for one symbol ... */
  dto_time fill_loop_window;   /* ... within this disables the strategy */
  int window_start, window_end; /* opening orders only between these
                                   minutes of the exchange day; -1: none */
  dto_time no_new_entries;      /* no opening orders this long before close */
  dto_time flatten_before_close; /* flatten this long before the close */
} risk_strategy_limits;

typedef struct risk_config {
  size_t naccounts, nstrategies, nsyms;
  const uint32_t *strategy_account; /* nstrategies */
  risk_order_limits defaults;
  const risk_order_limits *account_orders;  /* naccounts, may be NULL */
  const risk_order_limits *strategy_orders; /* nstrategies, may be NULL */
  const risk_order_limits *symbol_orders;   /* nsyms, may be NULL */
  const risk_account_limits *accounts;      /* naccounts, may be NULL */
  const risk_strategy_limits *strategies;   /* nstrategies, may be NULL */
} risk_config;

/* Defaults: every limit off, buying power not checked, pdt off with
 * min equity 25000 and 3 day trades, shorts and extended hours allowed,
 * no trading window. */
void risk_account_limits_init(risk_account_limits *l);
void risk_strategy_limits_init(risk_strategy_limits *l);

enum risk_session { RISK_SESS_CLOSED, RISK_SESS_REGULAR, RISK_SESS_EXTENDED };

/* What the engine knows when an order arrives.  Values are for the order's
 * account (acct_*) and strategy (strat_*) and, unless said otherwise, its
 * symbol. */
typedef struct risk_input {
  dto_time now;
  fx ref_price;      /* last trade or mid; 0 when none */
  dto_time ref_time; /* when ref_price was seen */
  fx tick;           /* the instrument's tick */
  bool shortable;    /* the instrument may be sold short */
  fx acct_pos, strat_pos;           /* signed positions */
  fx acct_open_buy, acct_open_sell; /* working leaves in this symbol */
  /* the part of those with a cancel pending: they still count for the
   * limits of opening orders, but not against an order being reducing
   * (an end-of-day flatten cancels the exits and closes in one step) */
  fx acct_canceling_buy, acct_canceling_sell;
  fx acct_equity, acct_cash;
  /* Exposure of the account's OTHER symbols, counting working orders as if
   * they filled (valued at reference prices; symbols without one at the
   * orders' limit prices): sum over symbols of
   * max(|pos + open buys|, |pos - open sells|) x price, and the two
   * extremes of the signed net, sum (pos + open buys) x price and
   * sum (pos - open sells) x price.  This symbol is valued by the gate
   * from acct_pos, acct_open_buy/sell and ref_price. */
  fx acct_other_gross, acct_other_long, acct_other_short;
  fx acct_open_buy_value;    /* working buys, all symbols, valued */
  int acct_open_orders, strat_open_orders;
  enum risk_session session;
  int minute_of_day;        /* exchange local time, for windows */
  dto_time session_close;   /* regular close of the current session */
  int day_trades;           /* in the last 5 business days, incl. today */
  bool would_day_trade;     /* this order would close a position opened today */
  fx acct_day_pnl, acct_drawdown;   /* drawdown >= 0 from the day's peak */
  fx strat_day_pnl, strat_drawdown;
} risk_input;

typedef struct risk_decision {
  enum risk_reason reason;
  fx value, limit; /* what was compared (0 when not a comparison) */
  int scope;       /* 0 order/symbol, 1 account, 2 strategy, 3 global */
} risk_decision;

typedef struct risk risk;

/* Build the gate; cfg is copied.  DTO_EINVAL for a bad configuration
 * (negative limits, window ends before it starts...). */
int risk_new(const risk_config *cfg, risk **out);
void risk_free(risk *r);
/* Replace the limits (SIGHUP).  Modes, the kill switch and counters are
 * kept.  DTO_EINVAL (and nothing changes) when cfg is invalid or its sizes
 * differ. */
int risk_reload(risk *r, const risk_config *cfg);

/* Decide on order o.  On RISK_OK the order counts toward throttles and is
 * remembered for the duplicate check (see dup_window).  Every decision is
 * counted.  The order is reducing when it is on the opposite side of the
 * account's position (and of the strategy's, when it has one) and, together
 * with the account's working orders on the same side in this symbol that are
 * not being canceled, no larger than the position: then it cannot open or grow
 * a position (unless a pending cancel fails).  Reducing orders skip the
 * position and exposure limits, the trading window and no-new-entries: they
 * never raise gross exposure, but closing one leg of a hedge can raise net
 * exposure, so max_net bounds what opening orders may add. */
enum risk_reason risk_check(risk *r, const order *o, const risk_input *in,
                            risk_decision *d);

/* Parts of a risk_input that risk_check reads only when a limit asks for
 * them; the rest it reads for every order.  A caller may leave a part it
 * was not asked for at 0: the decision is the same. */
enum {
  RISK_IN_MINUTE = 1u << 0,     /* minute_of_day: a trading window */
  RISK_IN_DAY_TRADES = 1u << 1, /* would_day_trade, day_trades: pdt */
  /* acct_equity, acct_day_pnl, acct_drawdown: concentration, pdt, the
   * account's daily loss and drawdown */
  RISK_IN_ACCT_EQUITY = 1u << 2,
  /* strat_day_pnl, strat_drawdown: the strategy's daily loss, drawdown */
  RISK_IN_STRAT_EQUITY = 1u << 3,
  RISK_IN_ALL = (1u << 4) - 1
};
/* The RISK_IN_* parts risk_check needs for an order of strategy under the
 * current limits of account and strategy (all of them for indices out of
 * range).  Limits change only through risk_reload: ask again after one. */
unsigned risk_inputs_needed(const risk *r, uint32_t account, uint32_t strategy);

/* Is o reducing: opposite side to the position and no larger than it
 * (working orders not counted; risk_check counts them). */
bool risk_is_reducing(const order *o, fx pos);

/* ---- state changes from the engine --------------------------------------
 * Each moves a mode only through risk_transition(), and only when the table
 * allows it; a guard that finds its scope already restricted (a daily limit
 * on a person's REDUCING, the fill-loop guard on a HALTED strategy) does
 * nothing, which is no illegal transition. */

/* A fill of the strategy in sym at time t (for the fill-loop guard).
 * Returns true when the guard just tripped (strategy HALTED). */
bool risk_on_fill(risk *r, uint32_t strategy, sym_id sym, dto_time t);
/* A round trip of the strategy ended with net P&L pnl.  Returns true when
 * the consecutive-loss limit just tripped (strategy REDUCING). */
bool risk_on_round_trip(risk *r, uint32_t strategy, fx pnl);
/* Day P&L and drawdown after a price or fill.  Returns a reason when a
 * daily limit just tripped (the scope goes REDUCING), else RISK_OK.
 * scope: 1 account, 2 strategy. */
enum risk_reason risk_on_pnl(risk *r, int scope, uint32_t index, fx day_pnl,
                             fx drawdown);
/* A new trading day: the daily-loss REDUCING modes are lifted. */
void risk_new_day(risk *r);

/* ---- modes and the kill switch ------------------------------------------ */

/* The one transition function: move scope (index) to mode `to` for
 * `cause`.  Legal when the table allows (scope, current mode, its cause,
 * to, cause) (risk_transition_legal).  Moving to the mode and cause the
 * scope already has changes nothing and returns 0 without telling the
 * observer.  Returns 0 (changed, the observer told), DTO_ESTATE (illegal:
 * nothing changes, the refusal is counted, recorded and told to the
 * observer with legal false) or DTO_EINVAL (no such scope, index, mode or
 * cause: counted as illegal, the observer is not told).  A person's
 * ACTIVE on a strategy also starts its consecutive-loss count over. */
int risk_transition(risk *r, int scope, uint32_t index, enum risk_mode to,
                    enum risk_cause cause);
/* The table: may `cause` move a scope of kind `scope` that is in mode
 * `from` because of `from_cause` to mode `to`?  False for values out of
 * range.  Pure: the same answer for every risk object. */
bool risk_transition_legal(int scope, enum risk_mode from,
                           enum risk_cause from_cause, enum risk_mode to,
                           enum risk_cause cause);
/* Set (or with fn NULL, remove) the observer of mode changes.  Not part of
 * the configuration: risk_reload keeps it; snapshots do not hold it. */
void risk_set_observer(risk *r, risk_observer_fn fn, void *ctx);
/* Illegal transitions refused so far (bad arguments included), and the last
 * refused one with valid arguments (false when there is none). */
uint64_t risk_illegal_transitions(const risk *r);
bool risk_last_illegal(const risk *r, risk_change *out);

/* The kill switch: the global scope HALTED (on) or ACTIVE (off), cause
 * kill_switch. */
void risk_kill(risk *r, bool on);
bool risk_killed(const risk *r);
/* The journal cannot write (full disk, I/O error): no order passes until
 * it can again (reason storage_fault).  Cleared automatically by the app
 * when writes succeed. */
void risk_store_fault(risk *r, bool on);
bool risk_store_faulted(const risk *r);
/* After a restart, until the books agree with the broker: no order passes
 * (reason unreconciled). */
void risk_unreconciled(risk *r, bool on);
bool risk_is_unreconciled(const risk *r);
/* Maintenance, set by a person: while on, every account and strategy is
 * held as if it were REDUCING (only reducing orders pass; the others are
 * refused with reason maintenance), whatever its mode.  It is a flag beside
 * the modes, not a mode, so the kill switch and the modes change without
 * touching it and releasing them does not end it.  Unlike the store-fault
 * and unreconciled flags it is part of the snapshot: nothing in the present
 * sets it again at a start, only a person ends it. */
void risk_set_maintenance(risk *r, bool on);
bool risk_maintenance(const risk *r);
/* Set by a person (manual: only a person releases it): risk_transition
 * with cause person on an account or strategy; anything else (the global
 * scope, a bad index or mode) is refused and counted. */
void risk_set_mode(risk *r, int scope, uint32_t index, enum risk_mode m);
/* The mode of a scope (RISK_SCOPE_GLOBAL: HALTED when the kill switch is
 * on); ACTIVE for a scope that does not exist. */
enum risk_mode risk_mode_of(const risk *r, int scope, uint32_t index);
/* Why the scope is not ACTIVE: the reason that put it there (RISK_OK when
 * a person did, or the scope is ACTIVE): max_daily_loss, max_drawdown,
 * reducing_only (consecutive losses), halted (the fill-loop guard),
 * kill_switch. */
enum risk_reason risk_mode_reason(const risk *r, int scope, uint32_t index);
/* The cause of the transition that put the scope in its mode
 * (RISK_CAUSE_NONE before any). */
enum risk_cause risk_mode_cause(const risk *r, int scope, uint32_t index);
const char *risk_cause_name(enum risk_cause c);

/* ---- snapshots ------------------------------------------------------------
 *
 * The mutable state, not the configuration: the modes of every account and
 * strategy and the kill switch with their causes, maintenance, the
 * throttle windows, the consecutive-loss counts, the fill-loop windows, the
 * duplicate memory, the decision and refusal counts and the
 * illegal-transition record.  Versioned, little-endian, field by field
 * (risk.c and docs/internals/risk.md give the layout); the same state gives
 * the same bytes.  Version 2 only adds maintenance and is written only while
 * it is on; both versions are read.  Not in it: the storage-fault and
 * unreconciled flags, which the app sets from the present at every start
 * (a restore leaves them as they are). */

/* Append the snapshot of r to out.  Returns the bytes appended, or 0 when
 * out's cap was reached (out is then as it was). */
size_t risk_snapshot(const risk *r, dbuf *out);
/* Put the state in the n bytes at p into r, which must have been made with
 * the same number of accounts, strategies and symbols; the limits are r's.
 * Windows longer than r's limits now allow keep their newest entries.  The
 * observer is not told (a restore is no transition).  DTO_EINVAL, with r
 * unchanged, for input that is truncated, has trailing bytes, an unknown
 * version, other sizes, or a value out of range; never reads outside
 * p[0..n). */
int risk_restore_snapshot(risk *r, const void *p, size_t n);
/* Orders the duplicate memory holds now (at most about twice the accepted
 * orders still inside their windows, plus a small constant). */
size_t risk_dup_memory(const risk *r);

const char *risk_reason_name(enum risk_reason r);
const char *risk_mode_name(enum risk_mode m);
int risk_mode_parse(const char *s, enum risk_mode *out);
/* Number of refusals with reason why, and of decisions in all. */
uint64_t risk_refusals(const risk *r, enum risk_reason why);
uint64_t risk_checked(const risk *r);
/* The effective order limits of (strategy, sym). */
const risk_order_limits *risk_effective(const risk *r, uint32_t strategy,
                                        sym_id sym);
const risk_strategy_limits *risk_strategy(const risk *r, uint32_t strategy);
const risk_account_limits *risk_account(const risk *r, uint32_t account);

#endif
