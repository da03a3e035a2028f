/* test_httpd.c - the HTTP API's server on 127.0.0.1 with libcurl (and a few
 * raw sockets) as the client: requests whole (method, decoded path, query,
 * headers, cookies, body), the five security headers on every answer
 * (handler's, 404, httpd's own 413 and 431), the body and header limits,
 * the configuration refusals, TLS 1.3/1.2 accepted and 1.1 refused with a
 * certificate made by openssl, streamed answers (whole, freed once, freed
 * when the client leaves or the server stops), 20 concurrent clients, the
 * per-address connection limit and the thread-pool mode.  Every wait is
 * bounded (curl timeouts, poll deadlines of at most a few seconds). */
#include "core/prelude.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "api/httpd.h"
#include "core/buf.h"
#include "core/error.h"

#define ERRCAP 512
#define MAX_BODY 1024
#define MAX_HEADER 4096

/* ---- the handler -------------------------------------------------------- */

typedef struct tctx {
  atomic_int calls;
  atomic_int frees3;        /* /stream3 contexts freed */
  atomic_int frees_forever; /* /forever contexts freed */
  atomic_int forever_sent;  /* chunks sent by /forever streams */
} tctx;

typedef struct sctx {
  tctx *t;
  int i;
} sctx;

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static ssize_t stream3_fn(void *ctx, char *buf, size_t max) {
  static const char *const parts[] = {"one\n", "two\n", "three\n"};
  sctx *s = ctx;
  if (s->i >= 3)
    return -1;
  size_t n = strlen(parts[s->i]);
  if (n > max)
    return 0;
  memcpy(buf, parts[s->i++], n);
  return (ssize_t)n;
}

static void stream3_free(void *ctx) {
  sctx *s = ctx;
  atomic_fetch_add(&s->t->frees3, 1);
  free(s);
}

static ssize_t forever_fn(void *ctx, char *buf, size_t max) {
  sctx *s = ctx;
  nap_ms(20);
  if (max < 5)
    return 0;
  memcpy(buf, "tick\n", 5);
  atomic_fetch_add(&s->t->forever_sent, 1);
  return 5;
}

static void forever_free(void *ctx) {
  sctx *s = ctx;
  atomic_fetch_add(&s->t->frees_forever, 1);
  free(s);
}

static void add_field(dbuf *b, const char *name, const char *v) {
  dbuf_printf(b, ",\"%s\":", name);
  if (v)
    dbuf_json_str(b, v);
  else
    dbuf_adds(b, "null");
}

static void handler(void *ctx, const httpd_req *rq, httpd_resp *a) {
  tctx *t = ctx;
  atomic_fetch_add(&t->calls, 1);
  if (strcmp(rq->path, "/missing") == 0) {
    a->status = 404;
    httpd_resp_header(a, "X-Handler", "yes");
    httpd_resp_header(a, "Cache-Control", "public, max-age=99"); /* dropped */
    httpd_resp_header(a, "X-Bad", "line\r\nInjected: 1");        /* ignored */
    dbuf_adds(&a->body, "{\"error\":{\"code\":\"not_found\"}}");
    return;
  }
  if (strcmp(rq->path, "/stream3") == 0 || strcmp(rq->path, "/forever") == 0) {
    sctx *s = calloc(1, sizeof *s);
    s->t = t;
    bool three = strcmp(rq->path, "/stream3") == 0;
    a->content_type = "text/event-stream";
    a->stream = three ? stream3_fn : forever_fn;
    a->stream_free = three ? stream3_free : forever_free;
    a->stream_ctx = s;
    return;
  }
  dbuf *b = &a->body;
  dbuf_adds(b, "{\"method\":");
  dbuf_json_str(b, rq->method);
  add_field(b, "path", rq->path);
  add_field(b, "addr", rq->addr);
  add_field(b, "q_x", httpd_query(rq, "x"));
  add_field(b, "q_y", httpd_query(rq, "y"));
  add_field(b, "h_test", httpd_header(rq, "x-test"));
  add_field(b, "c_sid", httpd_cookie(rq, "sid"));
  add_field(b, "body", rq->body);
  dbuf_printf(b, ",\"body_len\":%zu,\"tls\":%s,\"nul\":%s}", rq->body_len,
              rq->tls ? "true" : "false",
              rq->body[rq->body_len] == '\0' ? "true" : "false");
}

/* ---- the client --------------------------------------------------------- */

typedef struct reply {
  long status;
  CURLcode rc;
  dbuf body, head;
} reply;

typedef struct opts {
  const char *method; /* NULL: GET, or POST with a body */
  const char *body;   /* NULL: none */
  size_t body_len;
  bool chunked; /* send the body through a read callback, chunked */
  const char *const *headers; /* NULL-terminated */
  long sslversion;            /* 0: libcurl's default */
  const char *ciphers;        /* NULL: libcurl's default */
} opts;

typedef struct upload {
  const char *p;
  size_t left;
} upload;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  dbuf_add(ud, p, sz * n);
  return sz * n;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *ud) {
  upload *u = ud;
  size_t k = sz * n < u->left ? sz * n : u->left;
  k = k > 700 ? 700 : k; /* several chunks */
  memcpy(buf, u->p, k);
  u->p += k;
  u->left -= k;
  return k;
}

static void reply_release(reply *r) {
  dbuf_release(&r->body);
  dbuf_release(&r->head);
}

static void request(const char *url, const opts *o, reply *r) {
  static const opts none = {0};
  if (!o)
    o = &none;
  memset(r, 0, sizeof *r);
  dbuf_init(&r->body, 1 << 20);
  dbuf_init(&r->head, 1 << 16);
  CURL *c = curl_easy_init();
  assert_non_null(c);
  struct curl_slist *hl = NULL;
  for (size_t i = 0; o->headers && o->headers[i]; i++)
    hl = curl_slist_append(hl, o->headers[i]);
  upload up = {o->body, o->body_len};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->head);
  if (o->body && o->chunked) {
    hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
  } else if (o->body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)o->body_len);
  }
  if (o->method)
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
  if (hl)
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  if (o->sslversion) {
    curl_easy_setopt(c, CURLOPT_SSLVERSION, o->sslversion);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (o->ciphers)
    curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, o->ciphers);
  r->rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
}

/* The value of the last header line called name in r (empty when absent),
 * and how many lines have that name. */
static int header(const reply *r, const char *name, char *out, size_t cap) {
  int count = 0;
  size_t nl = strlen(name);
  out[0] = '\0';
  for (const char *p = r->head.ptr ? r->head.ptr : ""; *p;) {
    const char *e = strstr(p, "\r\n");
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ')
        v++;
      size_t vl = len - (size_t)(v - p);
      snprintf(out, cap, "%.*s", (int)vl, v);
      count++;
    }
    p += len + (e ? 2 : 0);
  }
  return count;
}

static void assert_security_headers(const reply *r) {
  static const char *const want[][2] = {
      {"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
      {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-store"},
  };
  char v[600];
  for (size_t i = 0; i < DTO_ARRAY_LEN(want); i++) {
    int n = header(r, want[i][0], v, sizeof v);
    if (n != 1 || strcmp(v, want[i][1]) != 0)
      fail_msg("header %s: %d times, last '%s'; all headers:\n%s", want[i][0],
               n, v, r->head.ptr ? r->head.ptr : "");
  }
}

static json_t *parse(const reply *r) {
  json_error_t je;
  json_t *j = json_loadb(r->body.ptr ? r->body.ptr : "", r->body.len, 0, &je);
  if (!j)
    fail_msg("not JSON: %s (%s)", r->body.ptr ? r->body.ptr : "", je.text);
  return j;
}

static const char *jstr(json_t *j, const char *k) {
  return json_string_value(json_object_get(j, k));
}

/* ---- raw sockets -------------------------------------------------------- */

static int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static void send_str(int fd, const char *s) {
  size_t n = strlen(s);
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    assert_true(w > 0);
    s += w;
    n -= (size_t)w;
  }
}

/* Read into buf until EOF, an error, cap bytes, or ms milliseconds. */
static size_t read_for(int fd, char *buf, size_t cap, int ms) {
  size_t got = 0;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    long el =
        (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
    if (el >= ms || got + 1 >= cap)
      break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(ms - el)) <= 0)
      break;
    ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  buf[got] = '\0';
  return got;
}

/* Wait up to ms for *v to reach want. */
static bool wait_for(atomic_int *v, int want, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    if (atomic_load(v) >= want)
      return true;
    nap_ms(10);
  }
  return atomic_load(v) >= want;
}

/* ---- fixtures ----------------------------------------------------------- */

typedef struct fx_srv {
  tctx t;
  httpd *s;
  char base[64];
} fx_srv;

static httpd_conf conf_default(void) {
  httpd_conf c = {0};
  c.listen = "127.0.0.1:0";
  c.max_body_bytes = MAX_BODY;
  c.max_header_bytes = MAX_HEADER;
  return c;
}

static void srv_start(fx_srv *f, const httpd_conf *c) {
  char err[ERRCAP] = "";
  memset(f, 0, sizeof *f);
  int rc = httpd_start(c, handler, &f->t, &f->s, err, sizeof err);
  if (rc != 0)
    fail_msg("httpd_start: %s (%s)", dto_errname(rc), err);
  assert_true(httpd_port(f->s) > 0);
  snprintf(f->base, sizeof f->base, "%s://127.0.0.1:%d",
           c->cert_file ? "https" : "http", httpd_port(f->s));
}

static void url(const fx_srv *f, const char *path, char *out, size_t cap) {
  snprintf(out, cap, "%s%s", f->base, path);
}

/* ---- tests -------------------------------------------------------------- */

static void test_get_post_roundtrip(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  srv_start(&f, &c);
  char u[256];
  reply r;

  static const char *const hs[] = {"X-Test: hello there",
                                   "Cookie: other=1; sid=abc123", NULL};
  url(&f, "/a%20b/c%2Fd/p%00q?x=1%262&y=hello+world", u, sizeof u);
  opts o = {.headers = hs};
  request(u, &o, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 200);
  assert_security_headers(&r);
  char v[128];
  header(&r, "Content-Type", v, sizeof v);
  assert_string_equal(v, "application/json");
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "method"), "GET");
  assert_string_equal(jstr(j, "path"), "/a b/c/d/p%00q");
  assert_string_equal(jstr(j, "addr"), "127.0.0.1");
  assert_string_equal(jstr(j, "q_x"), "1&2");
  assert_string_equal(jstr(j, "q_y"), "hello world");
  assert_string_equal(jstr(j, "h_test"), "hello there");
  assert_string_equal(jstr(j, "c_sid"), "abc123");
  assert_string_equal(jstr(j, "body"), "");
  assert_int_equal(json_integer_value(json_object_get(j, "body_len")), 0);
  assert_true(json_is_false(json_object_get(j, "tls")));
  json_decref(j);
  reply_release(&r);

  /* POST with a body; no cookie, no query: nulls */
  url(&f, "/post", u, sizeof u);
  opts p = {.body = "a=1&b=2", .body_len = 7};
  request(u, &p, &r);
  assert_int_equal(r.status, 200);
  assert_security_headers(&r);
  j = parse(&r);
  assert_string_equal(jstr(j, "method"), "POST");
  assert_string_equal(jstr(j, "path"), "/post");
  assert_string_equal(jstr(j, "body"), "a=1&b=2");
  assert_int_equal(json_integer_value(json_object_get(j, "body_len")), 7);
  assert_true(json_is_true(json_object_get(j, "nul")));
  assert_true(json_is_null(json_object_get(j, "c_sid")));
  assert_true(json_is_null(json_object_get(j, "q_x")));
  json_decref(j);
  reply_release(&r);

  /* a body of exactly the limit, chunked, is accepted */
  char *big = malloc(MAX_BODY);
  memset(big, 'z', MAX_BODY);
  static const char *const noexp[] = {"Expect:", NULL};
  opts q = {.method = "PUT",
            .body = big,
            .body_len = MAX_BODY,
            .chunked = true,
            .headers = noexp};
  request(u, &q, &r);
  assert_int_equal(r.status, 200);
  j = parse(&r);
  assert_string_equal(jstr(j, "method"), "PUT");
  assert_int_equal(json_integer_value(json_object_get(j, "body_len")),
                   MAX_BODY);
  json_decref(j);
  reply_release(&r);
  free(big);

  assert_int_equal(atomic_load(&f.t.calls), 3);
  httpd_stop(f.s);
}

static void test_handler_404(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  srv_start(&f, &c);
  char u[256], v[128];
  reply r;
  url(&f, "/missing", u, sizeof u);
  request(u, NULL, &r);
  assert_int_equal(r.status, 404);
  assert_security_headers(&r); /* Cache-Control still exactly no-store */
  assert_int_equal(header(&r, "X-Handler", v, sizeof v), 1);
  assert_string_equal(v, "yes");
  assert_int_equal(header(&r, "X-Bad", v, sizeof v), 0);
  assert_int_equal(header(&r, "Injected", v, sizeof v), 0);
  reply_release(&r);
  httpd_stop(f.s);
}

#define TOO_LARGE_BODY                                                         \
  "{\"error\":{\"code\":\"too_large\",\"message\":\"the request body is "      \
  "larger than 1024 bytes\",\"field\":null}}"

static void test_413_content_length(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  srv_start(&f, &c);
  char u[256];
  reply r;
  char *big = malloc(MAX_BODY + 1);
  memset(big, 'x', MAX_BODY + 1);
  /* with Expect: the answer comes before any of the body is sent */
  static const char *const exp[] = {"Expect: 100-continue", NULL};
  url(&f, "/upload", u, sizeof u);
  opts o = {.body = big, .body_len = MAX_BODY + 1, .headers = exp};
  request(u, &o, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 413);
  assert_security_headers(&r);
  assert_string_equal(r.body.ptr, TOO_LARGE_BODY);
  reply_release(&r);
  free(big);

  /* a raw client announcing 100000 bytes and sending none is answered at
   * once, and the connection is closed */
  int fd = tcp_connect(httpd_port(f.s));
  send_str(fd, "POST /upload HTTP/1.1\r\nHost: x\r\n"
               "Content-Length: 100000\r\n\r\n");
  char buf[4096];
  read_for(fd, buf, sizeof buf, 2000);
  close(fd);
  assert_true(strncmp(buf, "HTTP/1.1 413", 12) == 0);
  assert_non_null(strstr(buf, "X-Content-Type-Options: nosniff"));
  assert_non_null(strstr(buf, "Strict-Transport-Security: max-age=31536000"));
  assert_non_null(strstr(buf, TOO_LARGE_BODY));
  assert_int_equal(atomic_load(&f.t.calls), 0);
  httpd_stop(f.s);
}

static void test_413_chunked(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  srv_start(&f, &c);
  char u[256];
  reply r;
  size_t n = 5 * MAX_BODY;
  char *big = malloc(n);
  memset(big, 'y', n);
  static const char *const noexp[] = {"Expect:", NULL};
  url(&f, "/upload", u, sizeof u);
  opts o = {.body = big, .body_len = n, .chunked = true, .headers = noexp};
  request(u, &o, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 413);
  assert_security_headers(&r);
  assert_string_equal(r.body.ptr, TOO_LARGE_BODY);
  reply_release(&r);
  free(big);
  assert_int_equal(atomic_load(&f.t.calls), 0);

  /* the server goes on serving */
  url(&f, "/after", u, sizeof u);
  request(u, NULL, &r);
  assert_int_equal(r.status, 200);
  reply_release(&r);
  httpd_stop(f.s);
}

static void test_header_limit(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  srv_start(&f, &c);
  char u[256];
  reply r;
  url(&f, "/h", u, sizeof u);

  /* a little past max_header_bytes: httpd's own 431 */
  size_t n = MAX_HEADER + 2000;
  char *h = malloc(n + 16);
  memcpy(h, "X-Big: ", 7);
  memset(h + 7, 'b', n);
  h[7 + n] = '\0';
  const char *hs[] = {h, NULL};
  opts o = {.headers = hs};
  request(u, &o, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 431);
  assert_security_headers(&r);
  json_t *j = parse(&r);
  assert_string_equal(jstr(json_object_get(j, "error"), "code"),
                      "headers_too_large");
  json_decref(j);
  reply_release(&r);
  free(h);

  /* far past libmicrohttpd's memory: refused (a 4xx or a closed
   * connection), and the server lives on */
  n = 200 * 1024;
  h = malloc(n + 16);
  memcpy(h, "X-Big: ", 7);
  memset(h + 7, 'c', n);
  h[7 + n] = '\0';
  hs[0] = h;
  request(u, &o, &r);
  assert_true(r.rc != CURLE_OK || (r.status >= 400 && r.status < 500));
  reply_release(&r);
  free(h);
  assert_int_equal(atomic_load(&f.t.calls), 0);

  request(u, NULL, &r);
  assert_int_equal(r.status, 200);
  reply_release(&r);
  httpd_stop(f.s);
}

static void expect_refusal(const httpd_conf *c, int want, const char *needle) {
  char err[ERRCAP] = "";
  httpd *s = NULL;
  tctx t = {0};
  int rc = httpd_start(c, handler, &t, &s, err, sizeof err);
  if (rc != want)
    fail_msg("listen '%s': got %s, want %s (%s)", c->listen ? c->listen : "",
             dto_errname(rc), dto_errname(want), err);
  assert_null(s);
  if (!strstr(err, needle))
    fail_msg("error '%s' does not name '%s'", err, needle);
}

static void test_config_refusals(void **state) {
  DTO_UNUSED(state);
  httpd_conf c = conf_default();
  c.listen = "0.0.0.0:0";
  expect_refusal(&c, DTO_ECONFIG, "api.listen");
  c.listen = "[::]:0";
  expect_refusal(&c, DTO_ECONFIG, "api.listen");
  c.listen = "192.168.1.10:8080";
  expect_refusal(&c, DTO_ECONFIG, "api.tls_cert");

  static const char *const bad[] = {
      "",
      "nope",
      "127.0.0.1",
      "127.0.0.1:",
      ":8080",
      "127.0.0.1:99999",
      "127.0.0.1:80x",
      "1.2.3.4.5:80",
      "::1:8080",
      "[::1:8080",
      "[::1]8080",
      "[nope]:80",
      "127.0.0.1:-1",
      "127.0.0.1:123456",
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    c.listen = bad[i];
    expect_refusal(&c, DTO_ECONFIG, "api.listen");
  }
  c.listen = NULL;
  expect_refusal(&c, DTO_ECONFIG, "api.listen");

  c.listen = "127.0.0.1:0";
  c.cert_file = "/nonexistent/cert.pem";
  expect_refusal(&c, DTO_ECONFIG, "api.tls_key");
  c.cert_file = NULL;
  c.key_file = "/nonexistent/key.pem";
  expect_refusal(&c, DTO_ECONFIG, "api.tls_cert");
  c.cert_file = "/nonexistent/cert.pem";
  expect_refusal(&c, DTO_EIO, "api.tls_cert");
  expect_refusal(&c, DTO_EIO, "/nonexistent/cert.pem");
}

/* ---- TLS ---------------------------------------------------------------- */

typedef struct tls_dir {
  char dir[64], cert[96], key[96];
} tls_dir;

static void tls_make(tls_dir *d) {
  snprintf(d->dir, sizeof d->dir, "/tmp/dto-httpd-XXXXXX");
  assert_non_null(mkdtemp(d->dir));
  snprintf(d->cert, sizeof d->cert, "%s/cert.pem", d->dir);
  snprintf(d->key, sizeof d->key, "%s/key.pem", d->dir);
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
           "-days 1 -keyout %s -out %s >/dev/null 2>&1",
           d->key, d->cert);
  assert_int_equal(system(cmd), 0);
}

static void tls_remove(tls_dir *d) {
  unlink(d->cert);
  unlink(d->key);
  rmdir(d->dir);
}

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static void test_tls(void **state) {
  DTO_UNUSED(state);
  tls_dir d;
  tls_make(&d);
  fx_srv f;
  httpd_conf c = conf_default();
  c.cert_file = d.cert;
  c.key_file = d.key;
  srv_start(&f, &c);
  char u[256];
  reply r;
  url(&f, "/secure?x=1", u, sizeof u);

  opts o13 = {.sslversion = CURL_SSLVERSION_TLSv1_3};
  request(u, &o13, &r);
  if (r.rc != CURLE_OK)
    fail_msg("TLS 1.3: %s", curl_easy_strerror(r.rc));
  assert_int_equal(r.status, 200);
  assert_security_headers(&r);
  json_t *j = parse(&r);
  assert_true(json_is_true(json_object_get(j, "tls")));
  assert_string_equal(jstr(j, "q_x"), "1");
  json_decref(j);
  reply_release(&r);

  opts o12 = {.sslversion =
                  CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2};
  request(u, &o12, &r);
  if (r.rc != CURLE_OK)
    fail_msg("TLS 1.2: %s", curl_easy_strerror(r.rc));
  assert_int_equal(r.status, 200);
  reply_release(&r);

  /* SECLEVEL=0 lets OpenSSL's client offer TLS 1.0 and 1.1 at all, so the
   * refusal is the server's */
  opts o11 = {.sslversion =
                  CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1,
              .ciphers = "DEFAULT:@SECLEVEL=0"};
  request(u, &o11, &r);
  assert_int_not_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 0);
  reply_release(&r);

  /* plain HTTP to the HTTPS port gets no answer from the handler */
  char plain[128];
  snprintf(plain, sizeof plain, "http://127.0.0.1:%d/x", httpd_port(f.s));
  request(plain, NULL, &r);
  assert_true(r.rc != CURLE_OK || r.status != 200);
  reply_release(&r);
  assert_int_equal(atomic_load(&f.t.calls), 2);
  httpd_stop(f.s);

  /* with TLS, any address may be used */
  c.listen = "0.0.0.0:0";
  srv_start(&f, &c);
  httpd_stop(f.s);

  /* an unreadable key names the setting and the file */
  c.listen = "127.0.0.1:0";
  char missing[128];
  snprintf(missing, sizeof missing, "%s/none.pem", d.dir);
  c.key_file = missing;
  expect_refusal(&c, DTO_EIO, "api.tls_key");
  expect_refusal(&c, DTO_EIO, missing);

  /* a key file that is not PEM is refused without showing its content */
  char bogus[128];
  snprintf(bogus, sizeof bogus, "%s/bogus.pem", d.dir);
  write_file(bogus, "TOP-SECRET-KEY-MATERIAL\n");
  c.key_file = bogus;
  char err[ERRCAP] = "";
  httpd *s = NULL;
  tctx t = {0};
  assert_int_equal(httpd_start(&c, handler, &t, &s, err, sizeof err),
                   DTO_ECONFIG);
  assert_non_null(strstr(err, "api.tls_key"));
  assert_null(strstr(err, "TOP-SECRET"));

  /* PEM armour around garbage: libmicrohttpd refuses it at start */
  write_file(bogus, "-----BEGIN PRIVATE KEY-----\nTOP-SECRET\n"
                    "-----END PRIVATE KEY-----\n");
  err[0] = '\0';
  assert_int_equal(httpd_start(&c, handler, &t, &s, err, sizeof err), DTO_EIO);
  assert_null(s);
  assert_non_null(strstr(err, "api.listen"));
  assert_null(strstr(err, "TOP-SECRET"));
  unlink(bogus);
  tls_remove(&d);
}

/* ---- streams ------------------------------------------------------------ */

static void test_stream(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  srv_start(&f, &c);
  char u[256], v[128];
  reply r;
  url(&f, "/stream3", u, sizeof u);
  request(u, NULL, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body.ptr, "one\ntwo\nthree\n");
  assert_security_headers(&r);
  header(&r, "Content-Type", v, sizeof v);
  assert_string_equal(v, "text/event-stream");
  header(&r, "Transfer-Encoding", v, sizeof v);
  assert_string_equal(v, "chunked");
  reply_release(&r);
  assert_true(wait_for(&f.t.frees3, 1, 2000));
  nap_ms(50);
  assert_int_equal(atomic_load(&f.t.frees3), 1);
  httpd_stop(f.s);
  assert_int_equal(atomic_load(&f.t.frees3), 1);
}

static void test_stream_client_leaves(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  srv_start(&f, &c);
  int fd = tcp_connect(httpd_port(f.s));
  send_str(fd, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
  char buf[2048];
  read_for(fd, buf, sizeof buf, 300);
  assert_non_null(strstr(buf, "tick"));
  close(fd);
  assert_true(wait_for(&f.t.frees_forever, 1, 2000));

  /* a stream still running when the server stops is ended and freed */
  fd = tcp_connect(httpd_port(f.s));
  send_str(fd, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
  read_for(fd, buf, sizeof buf, 200);
  assert_non_null(strstr(buf, "tick"));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  httpd_stop(f.s);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true(t1.tv_sec - t0.tv_sec < 3);
  assert_int_equal(atomic_load(&f.t.frees_forever), 2);
  close(fd);
}

/* ---- concurrency and limits -------------------------------------------- */

typedef struct worker {
  pthread_t th;
  const fx_srv *f;
  int i;
  bool ok;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  char u[256], want[32];
  snprintf(want, sizeof want, "/c/%d", w->i);
  snprintf(u, sizeof u, "%s%s?x=%d", w->f->base, want, w->i);
  reply r;
  request(u, NULL, &r);
  json_error_t je;
  json_t *j = json_loadb(r.body.ptr ? r.body.ptr : "", r.body.len, 0, &je);
  char wantq[16];
  snprintf(wantq, sizeof wantq, "%d", w->i);
  w->ok = r.rc == CURLE_OK && r.status == 200 && j &&
          strcmp(jstr(j, "path"), want) == 0 &&
          strcmp(jstr(j, "q_x"), wantq) == 0;
  json_decref(j);
  reply_release(&r);
  return NULL;
}

static void test_concurrent(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  srv_start(&f, &c);
  worker w[20];
  for (int i = 0; i < 20; i++) {
    w[i] = (worker){.f = &f, .i = i};
    assert_int_equal(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < 20; i++) {
    pthread_join(w[i].th, NULL);
    assert_true(w[i].ok);
  }
  assert_int_equal(atomic_load(&f.t.calls), 20);
  httpd_stop(f.s);
}

static void test_per_ip_limit(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  c.max_per_ip = 2;
  srv_start(&f, &c);
  int fds[5];
  bool closed[5] = {false};
  for (int i = 0; i < 5; i++)
    fds[i] = tcp_connect(httpd_port(f.s));
  /* the server closes those past the limit at once; give it up to 1 s */
  int nclosed = 0;
  for (int round = 0; round < 100 && nclosed < 3; round++) {
    for (int i = 0; i < 5; i++) {
      if (closed[i])
        continue;
      char b;
      ssize_t r = recv(fds[i], &b, 1, MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        closed[i] = true;
        nclosed++;
      }
    }
    if (nclosed < 3)
      nap_ms(10);
  }
  nap_ms(100); /* no more are closed */
  for (int i = 0; i < 5; i++) {
    char b;
    if (!closed[i] && recv(fds[i], &b, 1, MSG_DONTWAIT) == 0)
      nclosed++;
  }
  assert_int_equal(nclosed, 3);
  httpd_stop(f.s); /* also ends the two idle connections */
  for (int i = 0; i < 5; i++)
    close(fds[i]);
}

static void test_pool_mode(void **state) {
  DTO_UNUSED(state);
  fx_srv f;
  httpd_conf c = conf_default();
  c.threads = 4;
  srv_start(&f, &c);
  char u[256];
  reply r;
  url(&f, "/pool?y=a%2Bb", u, sizeof u);
  request(u, NULL, &r);
  assert_int_equal(r.status, 200);
  assert_security_headers(&r);
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "q_y"), "a+b");
  json_decref(j);
  reply_release(&r);
  url(&f, "/stream3", u, sizeof u);
  request(u, NULL, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body.ptr, "one\ntwo\nthree\n");
  reply_release(&r);
  assert_true(wait_for(&f.t.frees3, 1, 2000));

  worker w[20];
  for (int i = 0; i < 20; i++) {
    w[i] = (worker){.f = &f, .i = i};
    assert_int_equal(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < 20; i++) {
    pthread_join(w[i].th, NULL);
    assert_true(w[i].ok);
  }
  httpd_stop(f.s);
  assert_int_equal(atomic_load(&f.t.frees3), 1);
}

static void test_ipv6_loopback(void **state) {
  DTO_UNUSED(state);
  httpd_conf c = conf_default();
  c.listen = "[::1]:0";
  tctx t = {0};
  httpd *s = NULL;
  char err[ERRCAP] = "";
  int rc = httpd_start(&c, handler, &t, &s, err, sizeof err);
  if (rc == DTO_EIO) /* no IPv6 here */
    skip();
  assert_int_equal(rc, 0);
  char u[128];
  snprintf(u, sizeof u, "http://[::1]:%d/six", httpd_port(s));
  reply r;
  request(u, NULL, &r);
  assert_int_equal(r.status, 200);
  json_t *j = parse(&r);
  assert_string_equal(jstr(j, "addr"), "::1");
  json_decref(j);
  reply_release(&r);
  httpd_stop(s);
  httpd_stop(NULL);
}

static void test_resp_header(void **state) {
  DTO_UNUSED(state);
  httpd_resp a;
  memset(&a, 0, sizeof a);
  httpd_resp_header(&a, "X-A", "1");
  httpd_resp_header(&a, "Bad Name", "1");
  httpd_resp_header(&a, "X-B", "caf\xc3\xa9");
  char longv[600];
  memset(longv, 'v', sizeof longv - 1);
  longv[sizeof longv - 1] = '\0';
  httpd_resp_header(&a, "X-C", longv);
  assert_int_equal(a.nheaders, 1);
  for (int i = 0; i < 40; i++)
    httpd_resp_header(&a, "X-N", "n");
  assert_int_equal(a.nheaders, HTTPD_MAX_HEADERS);
  assert_string_equal(a.headers[0].name, "X-A");
}

int main(void) {
  curl_global_init(CURL_GLOBAL_ALL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_post_roundtrip),
      cmocka_unit_test(test_handler_404),
      cmocka_unit_test(test_413_content_length),
      cmocka_unit_test(test_413_chunked),
      cmocka_unit_test(test_header_limit),
      cmocka_unit_test(test_config_refusals),
      cmocka_unit_test(test_tls),
      cmocka_unit_test(test_stream),
      cmocka_unit_test(test_stream_client_leaves),
      cmocka_unit_test(test_concurrent),
      cmocka_unit_test(test_per_ip_limit),
      cmocka_unit_test(test_pool_mode),
      cmocka_unit_test(test_ipv6_loopback),
      cmocka_unit_test(test_resp_header),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
