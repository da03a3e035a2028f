/* http.h - a small HTTP/1.1 client for broker REST APIs, over libcurl.
 *
 * One client talks to one base URL through one libcurl easy handle, so its
 * connection is kept alive between requests (TLS set up once).  Requests
 * are serialized on that handle: the client is safe to share between
 * threads (the adapter's thread and a `dto broker check`), one request at a
 * time.  What it adds to libcurl:
 *
 *   - connect and total timeouts from the configuration;
 *   - fixed headers (the broker's API keys), sent with every request and
 *     never written to a message or a log: libcurl's verbose output is off
 *     and error messages name only the method, the path and the reason;
 *   - a cap on request and response bodies (HTTP_BODY_CAP_DEFAULT): a larger
 *     response is an error (DTO_ETOOBIG), never an allocation;
 *   - retries, with exponential backoff and full jitter, of IDEMPOTENT
 *     requests only (GET, PUT, DELETE) on a connection error, a timeout, a
 *     5xx or a 429.  POST and PATCH are never retried by the client: a POST
 *     that timed out may have created an order, and a PATCH (Alpaca's order
 *     replace) creates a new order each time.  After such a failure the
 *     caller looks the order up by its client order id instead of sending
 *     it again;
 *   - 429 Too Many Requests: the next attempt waits what the server asks
 *     (Retry-After in seconds, else X-RateLimit-Reset in epoch seconds);
 *     when that is longer than max_retry_wait the client does not wait and
 *     returns the 429 to the caller;
 *   - a client-side rate limit (rate_limit_per_min), shared by every request
 *     of the client: a request that finds the budget spent waits for it.
 *     It is a GCRA token bucket with a small burst (rate/20 by default), so
 *     that no 60-second window ever holds more than rate + burst requests:
 *     190/min with a burst of 9 stays under Alpaca's 200/min.
 *
 * Time is injectable (http_hooks): tests give a fake clock and a sleep that
 * records instead of sleeping, and a seed for the jitter.
 *
 * Not here: JSON (callers parse resp.body), streaming (websockets), the
 * broker's semantics.
 */
#ifndef DTO_BROKER_HTTP_H
#define DTO_BROKER_HTTP_H

#include "core/prelude.h"

#define HTTP_BODY_CAP_DEFAULT (8u * 1024 * 1024) /* bytes */
#define HTTP_MAX_HEADERS 4                       /* fixed headers */
#define HTTP_PATH_MAX 2048                       /* bytes of a path */
#define HTTP_MAX_RETRY_WAIT_DEFAULT (60 * DTO_NS_PER_SEC)

enum http_method {
  HTTP_GET,
  HTTP_POST,
  HTTP_PUT,
  HTTP_PATCH,
  HTTP_DELETE,
  HTTP_METHOD_COUNT
};

/* "GET", "POST", ...; "?" out of range. */
const char *http_method_name(enum http_method m);

/* True for the methods the client retries: GET, PUT, DELETE. */
bool http_method_idempotent(enum http_method m);

/* Time and randomness, injectable.  Any NULL function takes the real one:
 * mono_ns = clock_mono_ns, wall_ns = CLOCK_REALTIME, sleep_ns = nanosleep
 * (whole, through EINTR).  sleep_ns is only ever called with ns > 0. */
typedef struct http_hooks {
  int64_t (*mono_ns)(void *ctx);
  int64_t (*wall_ns)(void *ctx);
  void (*sleep_ns)(void *ctx, int64_t ns);
  void *ctx;
  uint64_t seed; /* jitter RNG; 0: one from the clock */
} http_hooks;

typedef struct http_header {
  const char *name, *value; /* value must be printable ASCII */
} http_header;

typedef struct http_conf {
  const char *base_url; /* "https://host[:port][/prefix]", no trailing '/' */
  http_header headers[HTTP_MAX_HEADERS];
  size_t nheaders;
  dto_time connect_timeout; /* > 0 */
  dto_time request_timeout; /* > 0: the whole attempt, connect included */
  int retries;              /* extra attempts, 0..100 */
  dto_time backoff;         /* base of the exponential backoff */
  dto_time max_backoff;     /* cap of one backoff */
  dto_time max_retry_wait;  /* longest 429 wait honoured; 0: default 60 s */
  int rate_limit_per_min;   /* 0: no client-side limit */
  int rate_burst;           /* requests allowed at once; 0: rate/20, min 1 */
  size_t body_cap;          /* 0: HTTP_BODY_CAP_DEFAULT */
  http_hooks hooks;
} http_conf;

typedef struct http_client http_client;

typedef struct http_response {
  int status; /* 100..599 */
  char *body; /* owned, NUL-terminated (also when empty); len bytes */
  size_t len;
  /* Headers of interest, -1 when absent or not a number. */
  int64_t retry_after;  /* Retry-After, seconds */
  int64_t rl_limit;     /* X-RateLimit-Limit */
  int64_t rl_remaining; /* X-RateLimit-Remaining */
  int64_t rl_reset;     /* X-RateLimit-Reset, epoch seconds */
  int attempts;         /* 1 + retries made */
} http_response;

/* Create a client for conf (copied: conf and its strings may go after the
 * call).  Returns 0 and *out (free with http_client_free), or DTO_EINVAL
 * with a message in err for a bad conf (no base URL, a header with a line
 * break, a timeout <= 0), or DTO_EIO when libcurl cannot start. */
int http_client_new(const http_conf *conf, http_client **out, char *err,
                    size_t cap);

/* Close the connection, wipe the header values (keys) from memory, free.
 * NULL does nothing. */
void http_client_free(http_client *c);

/* Send METHOD base_url+path with body (NULL: none; sent as
 * application/json) and wait for the answer, retrying idempotent methods
 * as described above.  path starts with '/' (a query string is allowed).
 *
 * Returns 0 when an HTTP response arrived, whatever its status (a 4xx, or
 * the last 5xx/429 when the retries are spent): *resp holds it and the
 * caller releases it with http_response_release().  On failure *resp is
 * empty (nothing to release; status 0) and err (cap bytes) holds one line
 * "METHOD PATH: reason":
 *   DTO_EAGAIN   the attempt timed out (request_timeout);
 *   DTO_EIO      no connection, or it broke before a whole response;
 *   DTO_ETOOBIG  the request or the response body is over body_cap;
 *   DTO_EINVAL   a malformed path.
 * For POST and PATCH an error other than DTO_EINVAL means the outcome is
 * unknown: the server may have acted on the request. */
int http_request(http_client *c, enum http_method method, const char *path,
                 const char *body, http_response *resp, char *err, size_t cap);

/* Free resp's body and empty it.  Safe on an empty response. */
void http_response_release(http_response *resp);

/* Counters since http_client_new, for tests and the status report. */
typedef struct http_stats {
  uint64_t requests; /* http_request calls */
  uint64_t attempts; /* transfers started */
  uint64_t retries;  /* attempts after the first */
  uint64_t limiter_waits;
  int64_t limiter_wait_ns;
} http_stats;
void http_client_stats(http_client *c, http_stats *out);

#endif
