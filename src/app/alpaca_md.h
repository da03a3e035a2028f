/* alpaca_md.h - Alpaca's live market data as a source of the service.
 *
 * A source (app/source.h) whose thread reads Alpaca's Market Data v2
 * WebSocket stream (conf->data_stream_url) and pushes INQ_BAR, INQ_TRADE
 * and INQ_QUOTE events into the engine's inbound queue, src = its index.
 * It drives the real clock (SOURCE_CLOCK_REAL).
 *
 * The thread:
 * - connects, reads the "connected" greeting, authenticates
 *   ({"action":"auth","key":..,"secret":..}) and subscribes to trades,
 *   quotes and minute bars of every instrument of the table, then checks
 *   that the subscription echo lists each of them;
 * - maps each message's symbol to its sym id (a symbol not in the table is
 *   counted in `unknown` and dropped), converts it exactly (a value fx
 *   cannot hold is counted in `refused` and dropped, never rounded; one bad
 *   message does not cost the rest of its batch) and pushes it.  Bars are
 *   minute bars (dur 60 s, ts the start).  Bars and quotes are conflated by
 *   the queue when the engine lags (an inq with conflate on); a trade, or
 *   any event with conflate off, waits at most opts.push_timeout for room,
 *   then is dropped and counted (`dropped`): the thread never blocks for
 *   ever and never logs from the hot path;
 * - on a dropped connection, a read error or a stream error that allows a
 *   retry, reconnects with exponential backoff and jitter (backoff_min
 *   doubling to backoff_max), authenticates and subscribes again.  406
 *   (connection limit: an old connection of the account still counts)
 *   waits at least conn_limit_backoff.  Errors that a retry cannot cure
 *   stop the source with an error: 402 auth failed, 405 symbol limit, 409
 *   insufficient subscription, 410 invalid for the feed, 411 insufficient
 *   scope.  The state then reads ALPACA_MD_FAILED, run returns
 *   DTO_EREJECT (402, 409, 411) or DTO_ECONFIG (405, 410) and last_error
 *   says why;
 * - source_stop makes it return within about recv_slice (it reads in short
 *   slices and checks the stop flag between them).  This relies on
 *   ws_recv honouring its timeout: libwebsockets >= 3.2 ignores
 *   lws_service's timeout argument, so broker/ws.c must bound each wait
 *   itself (a scheduled wake-up); without that an idle stream holds
 *   ws_recv, and a stop, up to about 30 s.
 *
 * Staleness: per instrument, the wall time (opts.clock) at which its last
 * event arrived and that event's own time (a bar's: its start), both atomics
 * readable from any thread (alpaca_md_last, alpaca_md_stale), so the service
 * can show ages and raise a stale-data alert.
 *
 * Warm-up: alpaca_md_warmup fetches historical 1-minute bars over REST, to
 * warm indicators before the open.
 *
 * Not here: trading (app/alpaca_trade), updated or daily bars (not
 * subscribed), the engine's reaction to stale data.
 */
#ifndef DTO_APP_ALPACA_MD_H
#define DTO_APP_ALPACA_MD_H

#include "app/source.h"
#include "broker/alpaca_conf.h"
#include "core/clock.h"
#include "market/instrument.h"
#include "market/reader.h"

/* Defaults of alpaca_md_opts (a 0 field takes them). */
#define ALPACA_MD_BACKOFF_MIN_DEFAULT (500 * 1000 * 1000LL) /* 0.5 s */
#define ALPACA_MD_BACKOFF_MAX_DEFAULT (30 * DTO_NS_PER_SEC)
#define ALPACA_MD_CONN_LIMIT_BACKOFF_DEFAULT (30 * DTO_NS_PER_SEC)
#define ALPACA_MD_HANDSHAKE_TIMEOUT_DEFAULT (10 * DTO_NS_PER_SEC)
#define ALPACA_MD_RECV_SLICE_DEFAULT (100 * 1000 * 1000LL) /* 100 ms */
#define ALPACA_MD_PUSH_TIMEOUT_DEFAULT (200 * 1000 * 1000LL)
/* A session streaming this long resets the backoff to backoff_min. */
#define ALPACA_MD_STABLE_AFTER_DEFAULT (10 * DTO_NS_PER_SEC)

typedef struct alpaca_md_opts {
  dto_time backoff_min, backoff_max; /* reconnect waits (with jitter) */
  dto_time conn_limit_backoff;       /* least wait after a 406 */
  dto_time handshake_timeout;        /* connect, greeting, auth, subscribe */
  dto_time recv_slice;               /* longest wait between stop checks */
  dto_time push_timeout;             /* longest wait of a push for room */
  dto_time stable_after;             /* see ALPACA_MD_STABLE_AFTER_DEFAULT */
  uint64_t seed;                     /* jitter RNG; 0: from the clock */
  const dto_clock *clock; /* wall time of arrivals; NULL: the real clock
                             (borrowed: must outlive the source) */
  /* Symbols subscribed besides the table's, NULL-terminated (borrowed, for
   * the source's life).  Their events count as unknown and are dropped:
   * for tests and for watching a symbol without trading it. */
  const char *const *extra_symbols;
} alpaca_md_opts;

enum alpaca_md_state {
  ALPACA_MD_IDLE,       /* not started */
  ALPACA_MD_CONNECTING, /* connect, greeting, auth, subscribe */
  ALPACA_MD_STREAMING,  /* subscription confirmed */
  ALPACA_MD_BACKOFF,    /* waiting before a reconnect */
  ALPACA_MD_STOPPED,    /* returned on source_stop */
  ALPACA_MD_FAILED,     /* returned on an error a retry cannot cure */
  ALPACA_MD_STATE_COUNT
};
/* "idle", "connecting", ...; "?" out of range. */
const char *alpaca_md_state_name(enum alpaca_md_state s);

/* Stream error codes counted one by one (ALPACA_MDE_*); others go to the
 * last slot. */
#define ALPACA_MD_ERR_CODES                                                    \
  { 400, 401, 402, 403, 404, 405, 406, 407, 409, 410, 411, 500 }
#define ALPACA_MD_ERR_SLOTS 13
/* The slot of a code in alpaca_md_stats.errors (the last: any other). */
size_t alpaca_md_err_slot(int code);

typedef struct alpaca_md_stats {
  enum alpaca_md_state state;
  uint64_t connects;    /* connection attempts (ws_open calls) */
  uint64_t sessions;    /* subscriptions confirmed */
  uint64_t reconnects;  /* attempts after the first */
  uint64_t disconnects; /* connections lost (closed, read error, timeout) */
  uint64_t frames;      /* WebSocket messages read */
  uint64_t messages;    /* stream messages (elements of the arrays) */
  uint64_t bars, trades, quotes; /* pushed into the queue */
  uint64_t unknown;              /* market data for a symbol not in the table */
  uint64_t refused;     /* a value dto cannot hold exactly (DTO_ERANGE) */
  uint64_t malformed;   /* frames or messages that do not parse */
  uint64_t ignored;     /* other kinds (updated/daily bars, statuses, ...) */
  uint64_t dropped;     /* events the queue did not take within push_timeout */
  uint64_t sub_missing; /* symbols missing from a subscription echo */
  uint64_t backfilled;  /* bars a reconnect missed, fetched by REST */
  uint64_t errors[ALPACA_MD_ERR_SLOTS]; /* {"T":"error"} by code */
  int last_code;        /* the last stream error code (0: none) */
  char last_error[256]; /* the last error or disconnect reason ("") */
} alpaca_md_stats;

/* A market data source for conf (copied; wipe yours) over the instruments
 * ins (not owned: must outlive the source, and not change), pushing into q
 * (not owned) with src = index; with conflation on, q's nsyms must cover
 * the table (else bars and quotes are refused by the queue and counted as
 * dropped).  o may be NULL (every default).  Start it
 * with source_start, stop and free with source_free.  The table must hold
 * at least one instrument and every symbol (table and extra) must fit
 * Alpaca's symbol (NULL otherwise). */
source *source_alpaca_new(const alpaca_conf *c, const instrument_table *ins,
                          inq *q, uint32_t index, const alpaca_md_opts *o);

/* Is s an Alpaca market data source (made by source_alpaca_new)? */
bool source_is_alpaca(const source *s);

/* A copy of the counters (any thread; each exact on its own, not one
 * atomic picture).  s must be an Alpaca source. */
void alpaca_md_get_stats(const source *s, alpaca_md_stats *out);

/* The wall time its last event arrived (*rx) and that event's own time
 * (*ts), for instrument sym; both 0 before any.  false for a sym out of
 * range.  Any thread. */
bool alpaca_md_last(const source *s, sym_id sym, dto_time *rx, dto_time *ts);

/* True when instrument sym has had no event for more than max_age at wall
 * time now (or none at all, or sym is out of range).  Any thread. */
bool alpaca_md_stale(const source *s, sym_id sym, dto_time now,
                     dto_time max_age);

/* Historical 1-minute bars of instrument sym whose start lies in
 * [start, end), oldest first, appended to out with sym set and dur 60 s:
 * GET {data_url}/v2/stocks/{symbol}/bars?timeframe=1Min&start&end&limit
 * &feed, following next_page_token.  Blocking; for start-up, before the
 * source runs.  Returns 0, or a negative code with a message in err:
 * DTO_EINVAL (sym out of range, start >= end), an HTTP client error
 * (DTO_EIO, DTO_EAGAIN, ...), DTO_EREJECT for an HTTP error status, a
 * parse error of alpaca_bars_parse (DTO_ERANGE for a value fx cannot
 * hold), DTO_EPARSE for bars out of order or a page token repeated.  On
 * failure out keeps what it had before the call. */
int alpaca_md_warmup(const alpaca_conf *c, const instrument_table *ins,
                     sym_id sym, dto_time start, dto_time end, bar_vec *out,
                     char *err, size_t cap);
/* The same with pages of at most page_limit bars (1..10000; the above
 * asks for 10000). */
int alpaca_md_warmup_paged(const alpaca_conf *c, const instrument_table *ins,
                           sym_id sym, dto_time start, dto_time end,
                           int page_limit, bar_vec *out, char *err, size_t cap);

#endif
