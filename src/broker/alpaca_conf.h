/* alpaca_conf.h - the Alpaca broker's connection settings, resolved.
 *
 * The configuration file's `alpaca:` section (struct cfg_alpaca in
 * app/config.h) says which endpoints, timeouts and limits to use; the
 * environment supplies the API keys and may override the REST URLs, under
 * the names Alpaca's own SDKs read:
 *
 *   APCA_API_KEY_ID, APCA_API_SECRET_KEY   the keys (required; never in the
 * file) APCA_API_BASE_URL                      trading REST URL (over the file)
 *   APCA_API_DATA_URL                      market data REST URL (over the file)
 *
 * alpaca_conf_resolve() applies, in order: defaults, the file, the
 * environment; derives the stream URLs the SDKs derive (the trading URL with
 * wss and "/stream"; wss://stream.data.alpaca.markets/v2/FEED) unless the
 * file gives them; and checks the rules that keep a misconfiguration from
 * trading real money or sending keys in clear text:
 *
 *   - https/wss only; http/ws only to a loopback host (127.0.0.0/8, ::1,
 *     localhost), for a local mock;
 *   - no user:password@ in a URL, no query or fragment in a base URL;
 *   - the live trading host (api.alpaca.markets) only with `live: true`, and
 *     the paper host (paper-api.alpaca.markets) only without it; other hosts
 *     (a mock, a proxy) are allowed either way;
 *   - both keys present, printable ASCII without spaces (they become HTTP
 *     headers).
 *
 * This module does no I/O and keeps no state.  It is not the HTTP client
 * (broker/http.h) nor the adapter.  No message it writes ever contains the
 * secret key.
 */
#ifndef DTO_BROKER_ALPACA_CONF_H
#define DTO_BROKER_ALPACA_CONF_H

#include "core/prelude.h"

struct cfg_alpaca; /* app/config.h */
struct http_conf;  /* broker/http.h */

#define ALPACA_URL_MAX 512 /* bytes of a URL, with its NUL */
#define ALPACA_KEY_MAX 128 /* bytes of a key, with its NUL */

#define ALPACA_PAPER_URL "https://paper-api.alpaca.markets"
#define ALPACA_LIVE_URL "https://api.alpaca.markets"
#define ALPACA_DATA_URL "https://data.alpaca.markets"
#define ALPACA_DATA_STREAM_BASE "wss://stream.data.alpaca.markets/v2"
#define ALPACA_PAPER_HOST "paper-api.alpaca.markets"
#define ALPACA_LIVE_HOST "api.alpaca.markets"

/* Defaults of the `alpaca:` keys (docs/configuration.md). */
#define ALPACA_CONNECT_TIMEOUT_DEFAULT (5 * DTO_NS_PER_SEC)
#define ALPACA_REQUEST_TIMEOUT_DEFAULT (10 * DTO_NS_PER_SEC)
#define ALPACA_RETRIES_DEFAULT 3
#define ALPACA_BACKOFF_DEFAULT (250 * 1000 * 1000LL)    /* 250 ms */
#define ALPACA_MAX_BACKOFF_DEFAULT (5 * DTO_NS_PER_SEC) /* 5 s */
/* Alpaca allows 200 requests per minute per account; stay under it. */
#define ALPACA_RATE_LIMIT_DEFAULT 190

enum alpaca_feed { ALPACA_FEED_IEX, ALPACA_FEED_SIP, ALPACA_FEED_COUNT };

/* "iex", "sip"; "?" out of range. */
const char *alpaca_feed_name(enum alpaca_feed f);

/* Where a resolved URL came from, for start-up logs. */
enum alpaca_src {
  ALPACA_SRC_DEFAULT,
  ALPACA_SRC_CONFIG,
  ALPACA_SRC_ENV,
  ALPACA_SRC_DERIVED
};
const char *alpaca_src_name(enum alpaca_src s);

typedef struct alpaca_conf {
  bool live;
  enum alpaca_feed feed;
  /* Base URLs without a trailing '/'; stream URLs complete. */
  char trading_url[ALPACA_URL_MAX];
  char data_url[ALPACA_URL_MAX];
  char stream_url[ALPACA_URL_MAX];
  char data_stream_url[ALPACA_URL_MAX];
  enum alpaca_src trading_src, data_src, stream_src, data_stream_src;
  char key_id[ALPACA_KEY_MAX]; /* may be logged (it names the account) */
  char secret[ALPACA_KEY_MAX]; /* never logged; alpaca_conf_wipe() it */
  dto_time connect_timeout;    /* > 0 */
  dto_time request_timeout;    /* >= connect_timeout: the whole exchange */
  int retries;                 /* extra attempts of idempotent requests */
  dto_time backoff, max_backoff;
  int rate_limit_per_min; /* client-side limit, > 0 */
} alpaca_conf;

/* The kinds of URL checked by alpaca_url_check(). */
enum alpaca_url_kind {
  ALPACA_URL_REST,   /* https://, or http:// to a loopback host */
  ALPACA_URL_STREAM, /* wss://, or ws:// to a loopback host */
};

/* Check url against the transport rules above (scheme, loopback, no user
 * info, no spaces or control characters; a REST base URL also has no query
 * or fragment) and that it fits ALPACA_URL_MAX.  Returns 0 or DTO_EINVAL
 * with a message in err (cap bytes) that quotes the URL.  Used by the
 * configuration loader too, so that the file's errors carry a line. */
int alpaca_url_check(const char *url, enum alpaca_url_kind kind, char *err,
                     size_t cap);

/* The live rule for a trading REST or stream URL: 0 when url's host agrees
 * with live (see above), DTO_EINVAL with a message otherwise.  url must have
 * passed alpaca_url_check(). */
int alpaca_url_check_live(const char *url, bool live, char *err, size_t cap);

/* Resolve c (NULL: every default) and the environment into *out.  envp is a
 * NULL-terminated array of "NAME=value" strings (the first match wins), or
 * NULL to read the process environment with getenv(); an empty value counts
 * as unset, as in the SDKs.  Returns 0, or DTO_EINVAL / DTO_ECONFIG with one
 * line in err (cap bytes) naming the variable or the key and the reason:
 * DTO_ECONFIG for a missing or malformed key variable, DTO_EINVAL for a URL
 * that breaks a rule.  The secret is never copied into err.  On failure *out
 * is wiped.  Nothing is allocated; wipe *out with alpaca_conf_wipe() when
 * done. */
int alpaca_conf_resolve(const struct cfg_alpaca *c,
                        const char *const *envp_or_NULL_for_getenv,
                        alpaca_conf *out, char *err, size_t cap);

/* Overwrite *c, the keys included, in a way the compiler keeps. */
void alpaca_conf_wipe(alpaca_conf *c);

/* Fill *h for an HTTP client of the trading API (base = trading_url) or,
 * when data is true, the market data API: timeouts, retries, limit and the
 * two APCA-API-* headers.  *h borrows c's strings: c must outlive every
 * http_client_new() that reads h (the client copies what it keeps). */
void alpaca_http_conf(const alpaca_conf *c, bool data, struct http_conf *h);

#endif
