/* httpd.c - the HTTP API's server on libmicrohttpd (0.9.75).
 *
 * This module owns the listening socket, the threads, TLS, the limits and
 * the security headers; it reads a request whole (headers, then the body
 * into a capped buffer), hands it to the one handler and sends the answer
 * the handler filled, or streams it (SSE).  It knows nothing of routes,
 * users or JSON beyond its own error bodies: that is api.c.
 *
 * Threads.  threads == 0 (the default): libmicrohttpd's thread per
 * connection with poll(); a handler and a stream callback may block (a
 * stream up to about a second per call, so that a stop or a departed client
 * is noticed).  threads > 0: a pool of that many threads with epoll, shared
 * by all connections; handlers must then be quick and streams must not
 * block (a stream that returns 0 is called again on the pool thread's next
 * turn, which spins), so SSE wants threads == 0.
 *
 * Limits.  Connections in all and per address are libmicrohttpd's
 * (connections past them are closed at once).  The request line and the
 * headers are capped twice: libmicrohttpd's per-connection memory is
 * max_header_bytes plus a margin for its own bookkeeping and the answer's
 * headers (past it libmicrohttpd answers 431 itself, or closes), and this
 * module counts the request line, headers and query arguments it was given
 * and answers 431 with the security headers when they pass
 * max_header_bytes.  The body: a Content-Length over max_body_bytes gets a
 * 413 before any of the body is read (the connection is closed after it);
 * a chunked body that grows past the limit is read on and thrown away, and
 * answered 413 when it ends, unless it goes on for more than
 * max(max_body_bytes, 1 MiB) further bytes, in which case the connection is
 * closed without an answer.  libmicrohttpd cannot queue an answer in the
 * middle of a body, hence the discarding.
 *
 * Headers.  The five security headers of httpd.h go on every answer this
 * module makes; a handler's header of the same name is dropped, so a
 * handler cannot weaken them, as are Content-Length, Transfer-Encoding,
 * Connection and Date, which libmicrohttpd manages.  A handler's
 * Content-Type header takes the place of content_type.  Answers that
 * libmicrohttpd makes on its own (a malformed request line, a header block
 * past its memory) carry none of these headers: they never reach this
 * module.
 *
 * Paths.  The path and the query arguments are percent-decoded by this
 * module's decoder, which leaves "%00" as it is (three characters), so a
 * decoded string never holds a NUL that would cut it short.
 *
 * libmicrohttpd's messages go to a logger of ours that counts them and keeps
 * the last one while the daemon starts (for the error message); nothing is
 * printed.
 */
#include "api/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"

#define DEF_MAX_CONN 512u
#define DEF_MAX_PER_IP 64u
#define DEF_TIMEOUT_S 30u
#define DEF_MAX_HEADER ((size_t)16 * 1024)
#define DEF_MAX_BODY ((size_t)64 * 1024)
#define MAX_THREADS 1024u
/* libmicrohttpd's pool also holds its parsed header records and the
 * answer's header block (up to HTTPD_MAX_HEADERS of 576 bytes each). */
#define POOL_MARGIN ((size_t)16 * 1024)
#define PEM_MAX ((size_t)1024 * 1024)
#define RESP_MAX ((size_t)256 * 1024 * 1024)
#define DISCARD_FLOOR ((uint64_t)1024 * 1024)
#define STREAM_BLOCK 4096
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct httpd {
  struct MHD_Daemon *d;
  httpd_handler h;
  void *ctx;
  size_t max_header, max_body;
  bool tls;
  bool per_conn; /* thread per connection: streams may block */
  int port;
  char *cert_pem; /* owned; NUL-terminated */
  char *key_pem;  /* owned; wiped before it is freed */
  size_t key_len;
  pthread_mutex_t log_mu; /* the two fields below */
  bool log_keep;          /* keep the last message (during the start) */
  char log_last[256];
  atomic_ulong log_count;
};

/* One request's state, from its first handler call to the completion
 * notice, which frees it. */
typedef struct request {
  dbuf body;
  bool too_large;     /* the body passed max_body: read on, then 413 */
  uint64_t discarded; /* bytes thrown away since */
} request;

typedef struct stream {
  httpd_stream_fn fn;
  void *ctx;
  void (*free_fn)(void *ctx);
  bool nap; /* thread per connection: slow down a callback that spins */
} stream;

static const struct {
  const char *name, *value;
} SECURITY_HEADERS[] = {
    {"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
    {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
};

/* Headers a handler may not set: the security headers and the framing. */
static const char *const RESERVED_HEADERS[] = {
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Date",
};

/* ---- small helpers ------------------------------------------------------ */

static bool is_reserved(const char *name) {
  for (size_t i = 0; i < DTO_ARRAY_LEN(SECURITY_HEADERS); i++)
    if (strcasecmp(name, SECURITY_HEADERS[i].name) == 0)
      return true;
  for (size_t i = 0; i < DTO_ARRAY_LEN(RESERVED_HEADERS); i++)
    if (strcasecmp(name, RESERVED_HEADERS[i]) == 0)
      return true;
  return false;
}

static bool is_token_char(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z'))
    return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* A strict decimal (digits only, no sign, no overflow). */
static bool parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!s || !*s)
    return false;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return false;
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* ---- libmicrohttpd's callbacks ----------------------------------------- */

__attribute__((format(printf, 2, 0))) static void
on_log(void *cls, const char *fmt, va_list ap) {
  httpd *s = cls;
  atomic_fetch_add(&s->log_count, 1);
  pthread_mutex_lock(&s->log_mu);
  if (s->log_keep) {
    vsnprintf(s->log_last, sizeof s->log_last, fmt, ap);
    size_t n = strlen(s->log_last);
    while (n > 0 && (s->log_last[n - 1] == '\n' || s->log_last[n - 1] == '\r'))
      s->log_last[--n] = '\0';
  }
  pthread_mutex_unlock(&s->log_mu);
}

/* Percent-decode s in place, leaving "%00" (and malformed escapes) as they
 * are; returns the new length. */
static size_t on_unescape(void *cls, struct MHD_Connection *c, char *s) {
  DTO_UNUSED(cls);
  DTO_UNUSED(c);
  char *w = s;
  for (const char *r = s; *r;) {
    int hi, lo;
    if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 &&
        (hi | lo) != 0) {
      *w++ = (char)(hi * 16 + lo);
      r += 3;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
  return (size_t)(w - s);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  DTO_UNUSED(cls);
  DTO_UNUSED(c);
  DTO_UNUSED(toe);
  request *rq = *con_cls;
  if (rq) {
    dbuf_release(&rq->body);
    free(rq);
    *con_cls = NULL;
  }
}

static ssize_t on_stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  stream *st = cls;
  DTO_UNUSED(pos);
  int64_t t0 = st->nap ? mono_ns() : 0;
  ssize_t n = st->fn(st->ctx, buf, max);
  if (n > 0 && (size_t)n <= max)
    return n;
  if (n == 0) {
    /* libmicrohttpd calls again at once; a callback that returned without
     * waiting would make that a busy loop. */
    if (st->nap && mono_ns() - t0 < 1000000)
      nap_ms(10);
    return 0;
  }
  if (n == -1)
    return MHD_CONTENT_READER_END_OF_STREAM;
  return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void on_stream_free(void *cls) {
  stream *st = cls;
  if (st->free_fn)
    st->free_fn(st->ctx);
  free(st);
}

/* ---- answers ------------------------------------------------------------ */

static void add_security_headers(struct MHD_Response *r) {
  for (size_t i = 0; i < DTO_ARRAY_LEN(SECURITY_HEADERS); i++)
    MHD_add_response_header(r, SECURITY_HEADERS[i].name,
                            SECURITY_HEADERS[i].value);
}

/* Queue an answer made by this module: a JSON error body. */
static enum MHD_Result queue_error(struct MHD_Connection *c, unsigned status,
                                   const char *code, const char *msg) {
  dbuf b;
  dbuf_init(&b, 4096);
  dbuf_adds(&b, "{\"error\":{\"code\":");
  dbuf_json_str(&b, code);
  dbuf_adds(&b, ",\"message\":");
  dbuf_json_str(&b, msg);
  dbuf_adds(&b, ",\"field\":null}}");
  struct MHD_Response *r = MHD_create_response_from_buffer(
      b.len, b.ptr ? b.ptr : (char *)"", MHD_RESPMEM_MUST_COPY);
  dbuf_release(&b);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  add_security_headers(r);
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result queue_too_large(const httpd *s,
                                       struct MHD_Connection *c) {
  char msg[96];
  snprintf(msg, sizeof msg, "the request body is larger than %zu bytes",
           s->max_body);
  return queue_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg);
}

/* Queue the handler's answer; frees nothing of a (the caller releases its
 * body) but takes the stream context: stream_free runs exactly once. */
static enum MHD_Result queue_answer(httpd *s, struct MHD_Connection *c,
                                    httpd_resp *a) {
  struct MHD_Response *r;
  if (a->stream) {
    stream *st = xcalloc(1, sizeof *st);
    st->fn = a->stream;
    st->ctx = a->stream_ctx;
    st->free_fn = a->stream_free;
    st->nap = s->per_conn;
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                          on_stream_read, st, on_stream_free);
    if (!r) {
      on_stream_free(st);
      return queue_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "the answer could not be made");
    }
  } else {
    r = MHD_create_response_from_buffer(a->body.len,
                                        a->body.ptr ? a->body.ptr : (char *)"",
                                        MHD_RESPMEM_MUST_COPY);
    if (!r)
      return queue_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "the answer could not be made");
  }
  bool have_type = false;
  for (size_t i = 0; i < a->nheaders && i < HTTPD_MAX_HEADERS; i++) {
    const char *name = a->headers[i].name;
    if (is_reserved(name))
      continue;
    if (strcasecmp(name, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
      have_type = true;
    MHD_add_response_header(r, name, a->headers[i].value);
  }
  if (!have_type)
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            a->content_type ? a->content_type
                                            : "application/json");
  add_security_headers(r);
  unsigned status = 200;
  if (a->status != 0)
    status =
        (a->status >= 200 && a->status <= 599) ? (unsigned)a->status : 500u;
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r); /* the stream's free runs when the last
                              reference goes, here when queueing failed */
  return ret;
}

/* ---- the access handler ------------------------------------------------- */

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind,
                                    const char *key, const char *value) {
  size_t *n = cls;
  DTO_UNUSED(kind);
  *n += (key ? strlen(key) : 0) + (value ? strlen(value) : 0) + 4;
  return MHD_YES;
}

static size_t header_bytes(struct MHD_Connection *c, const char *method,
                           const char *url) {
  size_t n = strlen(method) + strlen(url) + 12; /* " ", " HTTP/1.1\r\n" */
  MHD_get_connection_values(c, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND,
                            count_header, &n);
  return n;
}

static void addr_text(struct MHD_Connection *c, char *out, size_t cap) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  snprintf(out, cap, "unknown");
  if (!ci || !ci->client_addr)
    return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)cap);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 =
        (const struct sockaddr_in6 *)(const void *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) /* dual stack: show IPv4 */
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], out, (socklen_t)cap);
    else
      inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)cap);
  }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  httpd *s = cls;
  request *rq = *con_cls;

  if (!rq) { /* the first call: headers only */
    rq = xcalloc(1, sizeof *rq);
    dbuf_init(&rq->body, s->max_body);
    *con_cls = rq;
    if (version && !strcmp(version, MHD_HTTP_VERSION_1_1) &&
        !MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST))
      return queue_error(c, MHD_HTTP_BAD_REQUEST, "bad_request",
                         "an HTTP/1.1 request needs a Host header");
    if (header_bytes(c, method, url) > s->max_header) {
      char msg[96];
      snprintf(msg, sizeof msg,
               "the request line and headers are larger than %zu bytes",
               s->max_header);
      return queue_error(c, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                         "headers_too_large", msg);
    }
    const char *cl = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n;
    if (cl && parse_u64(cl, &n) && n > s->max_body)
      return queue_too_large(s, c);
    return MHD_YES;
  }

  if (*upload_size > 0) { /* a piece of the body */
    size_t n = *upload_size;
    *upload_size = 0;
    if (!rq->too_large && dbuf_add(&rq->body, upload, n) != 0) {
      rq->too_large = true;
      dbuf_release(&rq->body);
    }
    if (rq->too_large) {
      uint64_t limit =
          s->max_body > DISCARD_FLOOR ? s->max_body : DISCARD_FLOOR;
      rq->discarded += n;
      if (rq->discarded > limit)
        return MHD_NO; /* close: it is not worth reading on */
    }
    return MHD_YES;
  }

  /* the request is complete */
  if (rq->too_large)
    return queue_too_large(s, c);

  char addr[INET6_ADDRSTRLEN + 8];
  addr_text(c, addr, sizeof addr);
  httpd_req req = {
      .method = method,
      .path = url,
      .addr = addr,
      .body = rq->body.ptr ? rq->body.ptr : "",
      .body_len = rq->body.len,
      .tls = s->tls,
      .conn = c,
  };
  httpd_resp *a = xcalloc(1, sizeof *a);
  dbuf_init(&a->body, RESP_MAX);
  s->h(s->ctx, &req, a);
  enum MHD_Result ret = queue_answer(s, c, a);
  dbuf_release(&a->body);
  free(a);
  return ret;
}

/* ---- accessors ---------------------------------------------------------- */

static const char *lookup(const httpd_req *r, enum MHD_ValueKind kind,
                          const char *name) {
  if (!r || !name)
    return NULL;
  if (!r->conn) { /* a request made without a connection */
    char k = kind == MHD_HEADER_KIND   ? 'h'
             : kind == MHD_COOKIE_KIND ? 'c'
                                       : 'q';
    for (size_t i = 0; i < r->nkv; i++)
      if (r->kv[i].kind == k && r->kv[i].name && r->kv[i].value &&
          (k == 'h' ? !strcasecmp(r->kv[i].name, name)
                    : !strcmp(r->kv[i].name, name)))
        return r->kv[i].value;
    return NULL;
  }
  return MHD_lookup_connection_value((struct MHD_Connection *)r->conn, kind,
                                     name);
}

const char *httpd_header(const httpd_req *r, const char *name) {
  return lookup(r, MHD_HEADER_KIND, name);
}

const char *httpd_cookie(const httpd_req *r, const char *name) {
  return lookup(r, MHD_COOKIE_KIND, name);
}

const char *httpd_query(const httpd_req *r, const char *name) {
  return lookup(r, MHD_GET_ARGUMENT_KIND, name);
}

void httpd_resp_header(httpd_resp *a, const char *name, const char *value) {
  if (!a || !name || !value || a->nheaders >= HTTPD_MAX_HEADERS)
    return;
  size_t nl = strlen(name), vl = strlen(value);
  if (nl == 0 || nl >= sizeof a->headers[0].name ||
      vl >= sizeof a->headers[0].value)
    return;
  for (size_t i = 0; i < nl; i++)
    if (!is_token_char((unsigned char)name[i]))
      return;
  for (size_t i = 0; i < vl; i++) {
    unsigned char ch = (unsigned char)value[i];
    if ((ch < 0x20 && ch != '\t') || ch > 0x7e)
      return;
  }
  memcpy(a->headers[a->nheaders].name, name, nl + 1);
  memcpy(a->headers[a->nheaders].value, value, vl + 1);
  a->nheaders++;
}

/* ---- start and stop ----------------------------------------------------- */

typedef struct listen_addr {
  struct sockaddr_storage ss;
  bool v6, any6, loopback;
} listen_addr;

/* "HOST:PORT" (numeric IPv4 or "localhost") or "[IPV6]:PORT". */
static int parse_listen(const char *s, listen_addr *la, char *err, size_t cap) {
  char host[64];
  const char *port;
  memset(la, 0, sizeof *la);
  if (!s || !*s) {
    dto_seterr(err, cap, "api.listen is empty: give HOST:PORT or [IPV6]:PORT");
    return DTO_ECONFIG;
  }
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
      goto bad;
    memcpy(host, s + 1, (size_t)(close - s - 1));
    host[close - s - 1] = '\0';
    port = close + 2;
    la->v6 = true;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host ||
        memchr(s, ':', (size_t)(colon - s)))
      goto bad;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = colon + 1;
  }
  uint64_t p;
  if (strlen(port) > 5 || !parse_u64(port, &p) || p > 65535)
    goto bad;
  if (la->v6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&la->ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)p);
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
      goto bad;
    const uint8_t *b = in6->sin6_addr.s6_addr;
    la->any6 = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
    la->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                   (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127);
  } else {
    struct sockaddr_in *in = (struct sockaddr_in *)&la->ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)p);
    const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, h, &in->sin_addr) != 1)
      goto bad;
    la->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  return 0;
bad:
  dto_seterr(err, cap,
             "api.listen: '%.100s' is not HOST:PORT (a numeric IPv4 address "
             "or localhost) or [IPV6]:PORT with a port from 0 to 65535",
             s);
  return DTO_ECONFIG;
}

static int read_pem(const char *setting, const char *path, char **out,
                    size_t *len, char *err, size_t cap) {
  char why[512];
  int rc = fileio_read_small(path, PEM_MAX, out, len, why, sizeof why);
  if (rc != 0) {
    dto_seterr(err, cap, "%s: %s", setting, why);
    return DTO_EIO;
  }
  if (!strstr(*out, "-----BEGIN ")) {
    explicit_bzero(*out, *len);
    free(*out);
    *out = NULL;
    dto_seterr(err, cap, "%s: %.300s is not a PEM file (no -----BEGIN line)",
               setting, path);
    return DTO_ECONFIG;
  }
  return 0;
}

static void httpd_free(httpd *s) {
  if (!s)
    return;
  free(s->cert_pem);
  if (s->key_pem) {
    explicit_bzero(s->key_pem, s->key_len);
    free(s->key_pem);
  }
  pthread_mutex_destroy(&s->log_mu);
  free(s);
}

int httpd_start(const httpd_conf *c, httpd_handler h, void *ctx, httpd **out,
                char *err, size_t cap) {
  if (!c || !h || !out) {
    dto_seterr(err, cap, "httpd_start: missing configuration or handler");
    return DTO_EINVAL;
  }
  *out = NULL;
  listen_addr la;
  int rc = parse_listen(c->listen, &la, err, cap);
  if (rc != 0)
    return rc;
  bool tls = c->cert_file != NULL;
  if (tls != (c->key_file != NULL)) {
    dto_seterr(err, cap,
               "%s is set but %s is not: give both (HTTPS) or neither (plain "
               "HTTP on a loopback address)",
               tls ? "api.tls_cert" : "api.tls_key",
               tls ? "api.tls_key" : "api.tls_cert");
    return DTO_ECONFIG;
  }
  if (!tls && !la.loopback) {
    dto_seterr(err, cap,
               "api.listen: '%.100s' is not a loopback address; plain HTTP is "
               "served only on 127.0.0.0/8 or ::1 (behind a proxy on the "
               "same host): set api.tls_cert and api.tls_key for HTTPS",
               c->listen);
    return DTO_ECONFIG;
  }
  if (c->threads > MAX_THREADS) {
    dto_seterr(err, cap, "api.threads: %u is more than %u", c->threads,
               MAX_THREADS);
    return DTO_ECONFIG;
  }
  if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    dto_seterr(err, cap,
               "api.tls_cert: this libmicrohttpd was built without TLS");
    return DTO_ECONFIG;
  }

  httpd *s = xcalloc(1, sizeof *s);
  pthread_mutex_init(&s->log_mu, NULL);
  atomic_init(&s->log_count, 0);
  s->h = h;
  s->ctx = ctx;
  s->tls = tls;
  s->max_header = c->max_header_bytes ? c->max_header_bytes : DEF_MAX_HEADER;
  s->max_body = c->max_body_bytes ? c->max_body_bytes : DEF_MAX_BODY;
  s->per_conn = c->threads == 0;
  if (s->max_header > SIZE_MAX / 2 || s->max_body > SIZE_MAX / 2) {
    dto_seterr(err, cap, "api: max_header_bytes or max_body_bytes too large");
    rc = DTO_ECONFIG;
    goto fail;
  }
  if (tls) {
    size_t cert_len;
    rc = read_pem("api.tls_cert", c->cert_file, &s->cert_pem, &cert_len, err,
                  cap);
    if (rc != 0)
      goto fail;
    rc = read_pem("api.tls_key", c->key_file, &s->key_pem, &s->key_len, err,
                  cap);
    if (rc != 0)
      goto fail;
  }

  unsigned flags = MHD_USE_ERROR_LOG | MHD_USE_INTERNAL_POLLING_THREAD;
  if (s->per_conn)
    flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
  else
    flags |= MHD_USE_EPOLL;
  if (la.v6)
    flags |= la.any6 ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
  if (tls)
    flags |= MHD_USE_TLS;

  struct MHD_OptionItem ops[16];
  size_t n = 0;
#define OPT(o, v, p) ops[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
  OPT(MHD_OPTION_CONNECTION_LIMIT,
      c->max_connections ? c->max_connections : DEF_MAX_CONN, NULL);
  OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      c->max_per_ip ? c->max_per_ip : DEF_MAX_PER_IP, NULL);
  OPT(MHD_OPTION_CONNECTION_TIMEOUT,
      c->timeout_s ? c->timeout_s : DEF_TIMEOUT_S, NULL);
  OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->max_header + POOL_MARGIN, NULL);
  OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s);
  OPT(MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)on_unescape, s);
  /* 0, not 1: a request without Host reaches the handler, which refuses
   * it with a JSON 400 and the security headers (libmicrohttpd's own
   * answer has neither) */
  OPT(MHD_OPTION_STRICT_FOR_CLIENT, 0, NULL);
  OPT(MHD_OPTION_SOCK_ADDR, 0, &la.ss);
  if (!s->per_conn && c->threads > 1)
    OPT(MHD_OPTION_THREAD_POOL_SIZE, c->threads, NULL);
  if (tls) {
    OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert_pem);
    OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, s->key_pem);
    OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES);
  }
  OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
  DTO_ASSERT(n <= DTO_ARRAY_LEN(ops));

  pthread_mutex_lock(&s->log_mu);
  s->log_keep = true;
  pthread_mutex_unlock(&s->log_mu);
  /* The logger must be the first option, so it is given here rather than in
   * the array. */
  s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                          MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
                          MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
  pthread_mutex_lock(&s->log_mu);
  s->log_keep = false;
  char why[sizeof s->log_last];
  memcpy(why, s->log_last, sizeof why);
  pthread_mutex_unlock(&s->log_mu);
  if (!s->d) {
    dto_seterr(err, cap, "api.listen: cannot serve on %.100s: %s", c->listen,
               why[0] ? why
                      : "the address is in use or not local, or the "
                        "certificate and key do not match");
    rc = DTO_EIO;
    goto fail;
  }
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? (int)di->port : 0;
  *out = s;
  return 0;
fail:
  httpd_free(s);
  return rc;
}

int httpd_port(const httpd *s) { return s ? s->port : 0; }

void httpd_stop(httpd *s) {
  if (!s)
    return;
  if (s->d)
    MHD_stop_daemon(s->d);
  httpd_free(s);
}
