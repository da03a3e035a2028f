/* alpaca_json.h - Alpaca's JSON turned into dto's types, exactly.
 *
 * This module reads the JSON that Alpaca's Trading API v2 (orders,
 * positions, account, clock, assets, account activities), its
 * trade_updates WebSocket stream and its Market Data v2 stream and REST
 * bars send, and fills plain structs.  It does no I/O, keeps no state
 * (except the execution-id set at the end) and maps no symbols to sym ids:
 * symbols come back as strings and the caller maps them.
 *
 * Numbers are exact.  Alpaca sends decimals as JSON strings ("123.45");
 * they are parsed into fx (10^8) without rounding, and anything fx cannot
 * hold exactly is refused, never rounded.  Some stream fields are JSON
 * numbers (market data p, s, bp, o, vw...): integers are taken exactly;
 * reals, which jansson has already turned into doubles, are converted from
 * the shortest decimal text that reads back as the same double, then parsed
 * as a decimal string.  Alpaca's encoders write that shortest text, and US
 * equity prices have at most 4 decimals, so this recovers the text that was
 * sent; a real needing more than 8 fractional digits (or beyond fx) is
 * refused (DTO_ERANGE), never rounded.  (snprintf and strtod follow the C
 * locale; dto never calls setlocale.)  A decimal field that Alpaca
 * documents as a string is refused when it is a number; a field documented
 * as a number also takes a decimal string (exact either way).
 *
 * Times are RFC 3339 ("2021-03-01T14:30:00.123456789Z", or with a
 * "+HH:MM"/"-HH:MM" offset), taken to the nanosecond.
 *
 * Every parser never crashes on any input, caps every string (a longer one
 * is refused with DTO_ERANGE, never cut), and on failure returns a negative
 * code with a message "field: reason" in err (cap bytes), the field given
 * by its path ("order.legs[1].id", "[3].p").  Codes: DTO_EPARSE malformed
 * (not JSON, wrong type, bad syntax, missing field), DTO_ERANGE well-formed
 * but not representable (precision, magnitude, length), DTO_EUNSUPPORTED
 * well-formed but a value dto does not know (an unknown event or status),
 * DTO_EFULL an output array too small, DTO_ETOOBIG a text over
 * ALPACA_JSON_MAX.  Outputs are undefined after a failure unless said.
 *
 * Missing and null are the same for optional fields (Alpaca sends null);
 * the have bitmask of each struct says which optional decimals and times
 * were present.  Unknown extra fields are ignored: Alpaca adds fields.
 */
#ifndef DTO_BROKER_ALPACA_JSON_H
#define DTO_BROKER_ALPACA_JSON_H

#include <jansson.h>

#include "broker/broker.h"
#include "core/fx.h"
#include "engine/order.h"
#include "market/event.h"

/* Caps, each with the terminating NUL. */
#define ALPACA_ID_MAX 64     /* uuids (36); activity ids "date::uuid" (55) */
#define ALPACA_SYMBOL_MAX 32 /* "AAPL", "BTC/USD", option symbols (21) */
#define ALPACA_WORD_MAX 32   /* enum-like strings: side, type, status */
#define ALPACA_MSG_MAX 128   /* stream control message texts */
#define ALPACA_TOKEN_MAX 256 /* REST next_page_token */
#define ALPACA_LEGS_MAX 4    /* bracket: 2 legs; oco/oto/mleg: up to 4 */
/* Longest JSON text the *_parse functions take. */
#define ALPACA_JSON_MAX (4u << 20)

/* ---- scalars ------------------------------------------------------------- */

/* Parse exactly n bytes of a decimal: an optional '-', then "0" or a
 * digit 1-9 followed by digits, then optionally '.' and one or more
 * digits.  Nothing else: no '+', blanks, exponent, hex, "NaN", leading
 * zeros ("01") or empty text (DTO_EPARSE).  Fraction digits past the 8th
 * must be zeros ("1.100000000" is 1.1; "0.123456789" is DTO_ERANGE), and
 * the value must lie in [FX_MIN, FX_MAX] (DTO_ERANGE).  *out is written
 * only on success. */
int alpaca_decimal(const char *s, size_t n, fx *out);

/* Parse exactly n bytes of an RFC 3339 date-time
 * "YYYY-MM-DDTHH:MM:SS[.f{1,}](Z|+HH:MM|-HH:MM)" ('t' and 'z' also
 * accepted) into nanoseconds since the epoch.  Fraction digits past the
 * 9th must be zeros (else DTO_ERANGE); a leap second (:60) is refused
 * (dto_time has none).  DTO_EPARSE on malformed text or an invalid date;
 * DTO_ERANGE outside dto_time's range.  *out is written only on success. */
int alpaca_time(const char *s, size_t n, dto_time *out);

/* A JSON value to fx: a decimal string (alpaca_decimal).  When
 * allow_number, a JSON integer (exact) or real (see the file comment) is
 * also taken; otherwise a number is DTO_EPARSE.  err gets "what: reason". */
int alpaca_json_fx(const json_t *v, bool allow_number, const char *what,
                   fx *out, char *err, size_t cap);

/* ---- enums --------------------------------------------------------------- */

/* Alpaca's order statuses, in the order of its documentation. */
enum alpaca_order_status {
  ALPACA_OS_NEW,
  ALPACA_OS_PARTIALLY_FILLED,
  ALPACA_OS_FILLED,
  ALPACA_OS_DONE_FOR_DAY,
  ALPACA_OS_CANCELED,
  ALPACA_OS_EXPIRED,
  ALPACA_OS_REPLACED,
  ALPACA_OS_PENDING_CANCEL,
  ALPACA_OS_PENDING_REPLACE,
  ALPACA_OS_ACCEPTED,
  ALPACA_OS_PENDING_NEW,
  ALPACA_OS_ACCEPTED_FOR_BIDDING,
  ALPACA_OS_STOPPED,
  ALPACA_OS_REJECTED,
  ALPACA_OS_SUSPENDED,
  ALPACA_OS_CALCULATED,
  ALPACA_OS_HELD,           /* bracket exit legs waiting for the entry */
  ALPACA_OS_PENDING_REVIEW, /* listed by alpaca-py's OrderStatus */
  ALPACA_OS_COUNT
};

/* trade_updates events.  The report each implies (alpaca_event_report):
 *   new                      -> REP_ACCEPTED (routed, working)
 *   fill, partial_fill       -> REP_FILL, qty and price of THIS execution
 *                               (the event's qty and price, never the
 *                               order's cumulative filled_qty)
 *   canceled                 -> REP_CANCELED
 *   expired                  -> REP_EXPIRED
 *   done_for_day             -> REP_EXPIRED, reason BRR_DAY_END (no more
 *                               fills today; for dto's day orders this is
 *                               the end, and GTC orders come back as new)
 *   rejected                 -> REP_REJECTED, reason BRR_INVALID
 *   replaced                 -> REP_REPLACED (the new order is
 *                               order.replaced_by; its cloid is the
 *                               caller's to map)
 *   order_cancel_rejected,
 *   order_replace_rejected   -> REP_CANCEL_REJECT
 *   pending_new, accepted, pending_cancel, pending_replace, stopped,
 *   calculated, suspended, restated, held
 *                            -> no report: state only.  dto already put the
 *                               order in pending_* when it asked; stopped
 *                               and calculated precede a fill that comes as
 *                               its own event; suspended is not a terminal
 *                               state.
 */
enum alpaca_event_kind {
  ALPACA_EV_NEW,
  ALPACA_EV_FILL,
  ALPACA_EV_PARTIAL_FILL,
  ALPACA_EV_CANCELED,
  ALPACA_EV_EXPIRED,
  ALPACA_EV_DONE_FOR_DAY,
  ALPACA_EV_REPLACED,
  ALPACA_EV_REJECTED,
  ALPACA_EV_PENDING_NEW,
  ALPACA_EV_PENDING_CANCEL,
  ALPACA_EV_PENDING_REPLACE,
  ALPACA_EV_STOPPED,
  ALPACA_EV_SUSPENDED,
  ALPACA_EV_CALCULATED,
  ALPACA_EV_ORDER_CANCEL_REJECTED,
  ALPACA_EV_ORDER_REPLACE_REJECTED,
  ALPACA_EV_ACCEPTED, /* received by Alpaca, not yet routed (2026) */
  ALPACA_EV_RESTATED, /* listed by alpaca-py's TradeEvent */
  ALPACA_EV_HELD,
  ALPACA_EV_COUNT
};

enum alpaca_position_side { ALPACA_LONG, ALPACA_SHORT };

/* Names ("partially_filled", "order_cancel_rejected"); "?" out of range. */
const char *alpaca_order_status_name(enum alpaca_order_status s);
const char *alpaca_event_name(enum alpaca_event_kind k);
/* Parse the exact names above; DTO_EUNSUPPORTED (and *out untouched) for
 * any other string, NULL included. */
int alpaca_order_status_parse(const char *s, enum alpaca_order_status *out);
int alpaca_event_parse(const char *s, enum alpaca_event_kind *out);

/* Alpaca's side, type and time in force to dto's enums.  Sides "buy" and
 * "sell" ("sell_short", as account activities write it, is a sell); types
 * market, limit, stop, stop_limit, trailing_stop; tifs day, gtc, ioc, fok,
 * opg, cls.  Anything else (NULL, "", "gtd", "Buy") is DTO_EUNSUPPORTED
 * with "side: unknown value ..." (type, time_in_force) in err. */
int alpaca_side_to_dto(const char *s, enum order_side *out, char *err,
                       size_t cap);
int alpaca_type_to_dto(const char *s, enum order_type *out, char *err,
                       size_t cap);
int alpaca_tif_to_dto(const char *s, enum tif *out, char *err, size_t cap);

/* ---- REST objects -------------------------------------------------------- */

/* have bits of alpaca_order */
enum {
  AO_QTY = 1u << 0,
  AO_FILLED_AVG_PRICE = 1u << 1,
  AO_LIMIT_PRICE = 1u << 2,
  AO_STOP_PRICE = 1u << 3,
  AO_TRAIL_PRICE = 1u << 4,
  AO_TRAIL_PERCENT = 1u << 5,
  AO_HWM = 1u << 6,
  AO_NOTIONAL = 1u << 7,
  AO_FILLED_AT = 1u << 8,
  AO_EXPIRED_AT = 1u << 9,
  AO_CANCELED_AT = 1u << 10,
  AO_FAILED_AT = 1u << 11,
  AO_REPLACED_AT = 1u << 12,
  AO_SUBMITTED_AT = 1u << 13,
  AO_UPDATED_AT = 1u << 14,
};

typedef struct alpaca_order_leg {
  char id[ALPACA_ID_MAX];
  char client_order_id[CLOID_MAX];
  char type[ALPACA_WORD_MAX];
  char side[ALPACA_WORD_MAX];
  enum alpaca_order_status status;
  fx limit_price, stop_price; /* 0 when null */
} alpaca_order_leg;

/* An order object.  Required: id, client_order_id, created_at,
 * time_in_force, status, order_class (may be "", Alpaca's "simple"),
 * filled_qty.  Optional (empty string or 0, and a have bit): the rest.
 * side and type are kept as Alpaca's words (NULL for multi-leg option
 * orders gives ""); map them with alpaca_*_to_dto. */
typedef struct alpaca_order {
  char id[ALPACA_ID_MAX];
  char client_order_id[CLOID_MAX];
  char symbol[ALPACA_SYMBOL_MAX];
  char asset_class[ALPACA_WORD_MAX];
  char side[ALPACA_WORD_MAX];
  char type[ALPACA_WORD_MAX];
  char time_in_force[ALPACA_WORD_MAX];
  char order_class[ALPACA_WORD_MAX];
  enum alpaca_order_status status;
  bool extended_hours;
  unsigned have; /* AO_* */
  fx qty, filled_qty, filled_avg_price, notional;
  fx limit_price, stop_price, trail_price, trail_percent, hwm;
  char replaced_by[ALPACA_ID_MAX], replaces[ALPACA_ID_MAX]; /* "" if null */
  dto_time created_at, updated_at, submitted_at, filled_at, expired_at,
      canceled_at, failed_at, replaced_at;
  size_t nlegs;
  alpaca_order_leg legs[ALPACA_LEGS_MAX];
} alpaca_order;

/* Parse an order object (v, borrowed) into *out.  prefix ("" or
 * "order.") is put before field names in err. */
int alpaca_order_from_json(const json_t *v, const char *prefix,
                           alpaca_order *out, char *err, size_t cap);
/* The same from n bytes of JSON text. */
int alpaca_order_parse(const char *text, size_t n, alpaca_order *out, char *err,
                       size_t cap);
/* An order as reconciliation wants it.  sym is SYM_NONE (the caller maps
 * o->symbol); side, type and tif are mapped (DTO_EUNSUPPORTED and err on an
 * unknown word); a client_order_id over CLOID_MAX - 1 cannot occur (the
 * parser refused it). */
int alpaca_order_to_open(const alpaca_order *o, broker_open_order *out,
                         char *err, size_t cap);

/* have bits of alpaca_position */
enum {
  AP_MARKET_VALUE = 1u << 0,
  AP_COST_BASIS = 1u << 1,
  AP_UNREALIZED_PL = 1u << 2,
  AP_CURRENT_PRICE = 1u << 3,
  AP_QTY_AVAILABLE = 1u << 4,
};

/* A position.  qty is signed: negative for side "short".  Alpaca writes
 * short quantities negative already; a positive short qty is negated, and
 * a negative long qty (a contradiction) is refused. */
typedef struct alpaca_position {
  char asset_id[ALPACA_ID_MAX];
  char symbol[ALPACA_SYMBOL_MAX];
  char asset_class[ALPACA_WORD_MAX];
  enum alpaca_position_side side;
  unsigned have; /* AP_* */
  fx qty, avg_entry_price;
  fx market_value, cost_basis, unrealized_pl, current_price, qty_available;
} alpaca_position;

int alpaca_position_from_json(const json_t *v, alpaca_position *out, char *err,
                              size_t cap);
int alpaca_position_parse(const char *text, size_t n, alpaca_position *out,
                          char *err, size_t cap);

/* The account (GET /v2/account).  status is Alpaca's word ("ACTIVE");
 * money fields are required decimal strings; daytrade_count a JSON
 * integer. */
typedef struct alpaca_account {
  char id[ALPACA_ID_MAX];
  char account_number[ALPACA_ID_MAX];
  char status[ALPACA_WORD_MAX];
  char currency[8];
  fx cash, buying_power, equity, last_equity, daytrading_buying_power;
  bool pattern_day_trader, trading_blocked, account_blocked, transfers_blocked,
      trade_suspended_by_user, shorting_enabled;
  int64_t daytrade_count;
} alpaca_account;

int alpaca_account_from_json(const json_t *v, alpaca_account *out, char *err,
                             size_t cap);
int alpaca_account_parse(const char *text, size_t n, alpaca_account *out,
                         char *err, size_t cap);

/* The market clock (GET /v2/clock); its times carry New York offsets. */
typedef struct alpaca_clock {
  dto_time timestamp, next_open, next_close;
  bool is_open;
} alpaca_clock;

int alpaca_clock_from_json(const json_t *v, alpaca_clock *out, char *err,
                           size_t cap);
int alpaca_clock_parse(const char *text, size_t n, alpaca_clock *out, char *err,
                       size_t cap);

/* have bits of alpaca_asset */
enum {
  AA_MIN_ORDER_SIZE = 1u << 0,
  AA_MIN_TRADE_INCREMENT = 1u << 1,
  AA_PRICE_INCREMENT = 1u << 2,
};

/* An asset (GET /v2/assets/{symbol}).  The increments are decimal strings
 * and optional (equities often omit them); crypto's "0.000000001" needs 9
 * decimals and is refused with DTO_ERANGE naming the field. */
typedef struct alpaca_asset {
  char id[ALPACA_ID_MAX];
  char symbol[ALPACA_SYMBOL_MAX];
  char asset_class[ALPACA_WORD_MAX]; /* JSON "class" */
  char exchange[ALPACA_WORD_MAX];
  bool active; /* status "active" (else "inactive") */
  bool tradable, marginable, shortable, easy_to_borrow, fractionable;
  unsigned have; /* AA_* */
  fx min_order_size, min_trade_increment, price_increment;
} alpaca_asset;

int alpaca_asset_from_json(const json_t *v, alpaca_asset *out, char *err,
                           size_t cap);
int alpaca_asset_parse(const char *text, size_t n, alpaca_asset *out, char *err,
                       size_t cap);

/* An account activity of type FILL (GET /v2/account/activities/FILL).
 * activity_type must be "FILL" (another type is DTO_EUNSUPPORTED);
 * partial is type "partial_fill" (else "fill"); side is mapped. */
typedef struct alpaca_fill_activity {
  char id[ALPACA_ID_MAX];
  char order_id[ALPACA_ID_MAX];
  char symbol[ALPACA_SYMBOL_MAX];
  enum order_side side;
  bool partial;
  dto_time transaction_time;
  fx qty, price, cum_qty, leaves_qty;
  enum alpaca_order_status order_status;
  bool have_order_status;
} alpaca_fill_activity;

int alpaca_fill_activity_from_json(const json_t *v, alpaca_fill_activity *out,
                                   char *err, size_t cap);
int alpaca_fill_activity_parse(const char *text, size_t n,
                               alpaca_fill_activity *out, char *err,
                               size_t cap);

/* ---- trade_updates stream ------------------------------------------------ */

/* have bits of alpaca_trade_update */
enum { ATU_PRICE = 1u << 0, ATU_QTY = 1u << 1, ATU_POSITION_QTY = 1u << 2 };

typedef struct alpaca_trade_update {
  enum alpaca_event_kind event;
  char execution_id[ALPACA_ID_MAX]; /* "" when absent */
  dto_time timestamp;               /* the event's, else order.updated_at */
  unsigned have;                    /* ATU_* */
  fx price, qty, position_qty;      /* decimal strings */
  alpaca_order order;
} alpaca_trade_update;

enum alpaca_stream_kind {
  ALPACA_ST_AUTHORIZATION, /* authorized says whether it succeeded */
  ALPACA_ST_LISTENING,     /* trade_updates says whether it is listened */
  ALPACA_ST_TRADE_UPDATE,
  ALPACA_ST_COUNT
};

typedef struct alpaca_stream_msg {
  enum alpaca_stream_kind kind;
  bool authorized;            /* ALPACA_ST_AUTHORIZATION: status "authorized" */
  bool trade_updates;         /* ALPACA_ST_LISTENING */
  alpaca_trade_update update; /* ALPACA_ST_TRADE_UPDATE */
} alpaca_stream_msg;

/* Parse one message of the trading stream (n bytes of JSON text, as a
 * text or binary frame carries it): {"stream": "authorization" |
 * "listening" | "trade_updates", "data": {...}}.  Another stream name is
 * DTO_EUNSUPPORTED; an event not in enum alpaca_event_kind too ("event:
 * unknown value ..."), so the caller can log it and go on. */
int alpaca_stream_parse(const char *text, size_t n, alpaca_stream_msg *out,
                        char *err, size_t cap);
/* The data object of a trade_updates message. */
int alpaca_trade_update_from_json(const json_t *data, alpaca_trade_update *out,
                                  char *err, size_t cap);

/* The report a trade update implies (see enum alpaca_event_kind).  Returns
 * 1 and fills *r (kind, qty, price, ts, reason; id and new_id are
 * ORDER_NONE: the caller maps order.client_order_id and
 * order.replaced_by), 0 when the event implies no report, or
 * DTO_EPARSE with err when a fill lacks a positive qty or price. */
int alpaca_event_report(const alpaca_trade_update *u, broker_report *r,
                        char *err, size_t cap);

/* ---- market data --------------------------------------------------------- */

/* Error codes of the market data stream ({"T":"error","code":...}). */
enum {
  ALPACA_MDE_INVALID_SYNTAX = 400,
  ALPACA_MDE_NOT_AUTHENTICATED = 401,
  ALPACA_MDE_AUTH_FAILED = 402,
  ALPACA_MDE_ALREADY_AUTHENTICATED = 403,
  ALPACA_MDE_AUTH_TIMEOUT = 404,
  ALPACA_MDE_SYMBOL_LIMIT = 405,
  ALPACA_MDE_CONNECTION_LIMIT = 406,
  ALPACA_MDE_SLOW_CLIENT = 407,
  ALPACA_MDE_INSUFFICIENT_SUBSCRIPTION = 409,
  ALPACA_MDE_INVALID_FOR_FEED = 410,
  ALPACA_MDE_INSUFFICIENT_SCOPE = 411,
  ALPACA_MDE_INTERNAL = 500,
};

enum alpaca_md_kind {
  ALPACA_MD_SUCCESS,      /* msg: "connected", "authenticated" */
  ALPACA_MD_ERROR,        /* code, msg */
  ALPACA_MD_SUBSCRIPTION, /* counts of the subscribed lists */
  ALPACA_MD_TRADE,        /* "t" */
  ALPACA_MD_QUOTE,        /* "q" */
  ALPACA_MD_BAR,          /* "b": minute bar */
  ALPACA_MD_DAILY_BAR,    /* "d" */
  ALPACA_MD_UPDATED_BAR,  /* "u": a minute bar corrected by late trades */
  ALPACA_MD_OTHER,        /* documented but not modelled: statuses "s",
                             LULD "l", corrections "c", cancel errors "x",
                             imbalances "i", orderbooks "o", news "n" */
  ALPACA_MD_COUNT
};

typedef struct alpaca_md_msg {
  enum alpaca_md_kind kind;
  char type[16];                  /* the "T" text */
  char symbol[ALPACA_SYMBOL_MAX]; /* "S"; trades, quotes, bars */
  int code;                       /* ALPACA_MD_ERROR */
  char msg[ALPACA_MSG_MAX];       /* success and error */
  int64_t trade_id;               /* trade "i" (0 when absent) */
  char exchange[8];               /* trade "x" */
  char tape[4];                   /* "z" */
  /* subscription: how many symbols each list holds */
  size_t ntrades, nquotes, nbars, ndaily_bars, nupdated_bars;
  /* sym fields are SYM_NONE.  A minute or updated bar has dur 60 s; a
   * daily bar dur 0 (its session length is the calendar's). */
  trade trade;
  quote quote;
  bar bar;
} alpaca_md_msg;

/* Parse one market data frame: a JSON array of messages.  Up to max go
 * into out; *count says how many were parsed.  More than max messages is
 * DTO_EFULL (out[0..max) parsed).  On any other failure *count is the
 * number parsed before the bad element, whose index names the field in
 * err ("[2].p: ..."); a "T" not documented is DTO_EUNSUPPORTED. */
int alpaca_md_parse(const char *text, size_t n, alpaca_md_msg *out, size_t max,
                    size_t *count, char *err, size_t cap);
/* One element of such an array. */
int alpaca_md_msg_from_json(const json_t *v, const char *prefix,
                            alpaca_md_msg *out, char *err, size_t cap);

/* ---- REST bars ----------------------------------------------------------- */

typedef struct alpaca_bar_row {
  char symbol[ALPACA_SYMBOL_MAX];
  bar bar;             /* sym SYM_NONE, dur as given */
  int64_t trade_count; /* "n" (0 when absent) */
  fx vwap;             /* "vw" (0 when absent) */
} alpaca_bar_row;

/* Parse a page of GET /v2/stocks/bars ({"bars": {"SYM": [...], ...},
 * "next_page_token": ...}) or of GET /v2/stocks/{symbol}/bars ({"bars":
 * [...], "symbol": "SYM", "next_page_token": ...}); "bars": null is an
 * empty page.  Rows go to out (max), with dur as each bar's length (the
 * timeframe asked for; 0 if unknown); DTO_EFULL when more.  token gets the
 * next page token ("" when null or absent; over tcap - 1 bytes is
 * DTO_ERANGE).  Rows of the multi-symbol form come symbol by symbol in the
 * order of the text. */
int alpaca_bars_parse(const char *text, size_t n, dto_time dur,
                      alpaca_bar_row *out, size_t max, size_t *count,
                      char *token, size_t tcap, char *err, size_t cap);

/* ---- execution ids already seen ------------------------------------------ */

/* A set of the last cap execution ids (FIFO eviction), so that an event the
 * stream delivers twice (after a reconnect) is applied once.  Opaque;
 * lookups are linear in cap, meant for a few thousand. */
typedef struct alpaca_exec_seen alpaca_exec_seen;

/* cap >= 1 (asserted).  Free with alpaca_exec_seen_free (NULL is fine). */
alpaca_exec_seen *alpaca_exec_seen_new(size_t cap);
void alpaca_exec_seen_free(alpaca_exec_seen *s);
/* 1 when id was among the last cap ids recorded; otherwise record it
 * (evicting the oldest when full) and return 0.  DTO_EINVAL for NULL, ""
 * or an id of ALPACA_ID_MAX bytes or more (nothing recorded). */
int alpaca_exec_seen_check(alpaca_exec_seen *s, const char *id);
/* How many ids are held. */
size_t alpaca_exec_seen_count(const alpaca_exec_seen *s);

#endif
