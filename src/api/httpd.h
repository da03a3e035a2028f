/* httpd.h - the HTTP API's server: libmicrohttpd with its own threads,
 * TLS through GnuTLS, limits, security headers, streamed answers (SSE).
 *
 * One handler sees every complete request (headers and a body read whole,
 * up to the limit) and fills an answer; httpd adds the security headers to
 * every answer it sends (its own 413 and 5xx included):
 *
 *   Strict-Transport-Security: max-age=31536000; includeSubDomains
 *   Content-Security-Policy: default-src 'self'; frame-ancestors 'none'
 *   X-Content-Type-Options: nosniff
 *   Referrer-Policy: no-referrer
 *   Cache-Control: no-store
 *
 * Limits: connections in all and per address, the size of the request
 * line and headers (libmicrohttpd's per-connection memory; past it the
 * client gets 431), the body (413 with a JSON error, answered before the
 * body is read when Content-Length says so), and time (an idle or slow
 * connection is closed after timeout_s).
 *
 * TLS: both cert_file and key_file (PEM) given: HTTPS only, TLS 1.3 and
 * 1.2 (priority "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2").  Neither:
 * plain HTTP, accepted only when listen is a loopback address (127.0.0.0/8
 * or ::1), for use behind a proxy on the same host.
 *
 * Not for: routing, authentication, JSON (api.c).
 */
#ifndef DTO_API_HTTPD_H
#define DTO_API_HTTPD_H

#include <sys/types.h>

#include "core/buf.h"
#include "core/prelude.h"

typedef struct httpd_conf {
  const char *listen;    /* "HOST:PORT" or "[V6]:PORT"; port 0: any free */
  const char *cert_file; /* PEM; NULL: plain HTTP (loopback only) */
  const char *key_file;  /* PEM; NULL with cert_file NULL */
  unsigned max_connections; /* 0: 512 */
  unsigned max_per_ip;      /* 0: 64 */
  unsigned timeout_s;       /* idle or slow connection; 0: 30 */
  size_t max_header_bytes;  /* per connection (request line + headers);
                               0: 16 KiB */
  size_t max_body_bytes;    /* 0: 64 KiB */
  unsigned threads;         /* 0: thread per connection (blocking
                               handlers and streams allowed) */
} httpd_conf;

typedef struct httpd httpd;

/* A header ('h'), cookie ('c') or query argument ('q') of a request made
 * without a connection (fuzzers, tests): see httpd_req.kv. */
typedef struct httpd_kv {
  char kind;
  const char *name, *value;
} httpd_kv;

/* One request, valid during the handler call only. */
typedef struct httpd_req {
  const char *method; /* "GET", "POST", ... as sent */
  const char *path;   /* the URL's path, percent-decoded, no query */
  const char *addr;   /* the peer's address as text ("127.0.0.1") */
  const char *body;   /* NUL-terminated; body_len bytes (may hold NULs) */
  size_t body_len;
  bool tls;
  void *conn; /* libmicrohttpd's connection, for the accessors */
  /* with conn NULL: the accessors read these instead (header names
   * case-insensitive) */
  const httpd_kv *kv;
  size_t nkv;
} httpd_req;

/* A request header (case-insensitive name), cookie or query argument;
 * NULL when absent. */
const char *httpd_header(const httpd_req *r, const char *name);
const char *httpd_cookie(const httpd_req *r, const char *name);
const char *httpd_query(const httpd_req *r, const char *name);

#define HTTPD_MAX_HEADERS 16

/* A streamed body: called for the next bytes into buf (at most max);
 * returns how many (> 0), 0 to be called again (it may block up to a
 * second: the connection has a thread of its own), or -1 at the end.
 * free(ctx) is called once when the answer is done or the client left. */
typedef ssize_t (*httpd_stream_fn)(void *ctx, char *buf, size_t max);

typedef struct httpd_resp {
  int status;               /* 200 unless set */
  const char *content_type; /* default "application/json" */
  dbuf body;                /* the answer (initialised by httpd) */
  size_t nheaders;
  struct {
    char name[64];
    char value[512];
  } headers[HTTPD_MAX_HEADERS];
  httpd_stream_fn stream;   /* set: a streamed answer; body is ignored */
  void *stream_ctx;
  void (*stream_free)(void *ctx);
} httpd_resp;

/* Add a header to an answer (silently ignored past HTTPD_MAX_HEADERS or
 * when a value does not fit; values must be printable ASCII). */
void httpd_resp_header(httpd_resp *a, const char *name, const char *value);

/* The handler: any of the server's threads, concurrently. */
typedef void (*httpd_handler)(void *ctx, const httpd_req *req,
                              httpd_resp *resp);

/* Start serving.  0 and *out, or DTO_ECONFIG (a bad listen address, plain
 * HTTP on a non-loopback address, one of cert and key without the other),
 * DTO_EIO (cannot read the certificate, cannot bind) with a message in err
 * that names the setting. */
int httpd_start(const httpd_conf *c, httpd_handler h, void *ctx,
                httpd **out, char *err, size_t cap);
/* The port it listens on (useful with port 0). */
int httpd_port(const httpd *s);
/* Stop accepting, close every connection (streams end), join the threads
 * and free.  NULL does nothing. */
void httpd_stop(httpd *s);

#endif
