/* test_http.c - the broker HTTP client against a scripted HTTP/1.1 server
 * on 127.0.0.1 in a thread of this program: bodies and headers, keep-alive,
 * retries (counted, bounded, idempotent methods only), 429 waits, timeouts,
 * the body cap, a connection closed mid-response, the rate limiter, and
 * that no error message ever holds the secret.  Waits go through injected
 * hooks that record them (and move a fake clock) instead of sleeping; only
 * the timeout cases take real time (a few hundred milliseconds). */
#include "core/prelude.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/http.h"
#include "core/error.h"

#define KEY_ID "PKTEST0123"
#define SECRET "SeCrEt-must-not-leak-42"
#define ERRCAP 512
#define MS (1000 * 1000LL)

/* ---- the scripted server ------------------------------------------------- */

enum rkind {
  RK_PLAIN,     /* status, headers, body */
  RK_SLOW,      /* answer after 600 ms */
  RK_HUGE_CL,   /* Content-Length: 1 MiB, then the bytes */
  RK_HUGE_EOF,  /* no length: 1 MiB of bytes, then close */
  RK_CLOSE_MID, /* Content-Length 100, 10 bytes, close */
};

typedef struct step {
  enum rkind kind;
  int status;
  const char *headers; /* extra header lines, each ending in \r\n */
  const char *body;
} step;

#define REQ_MAX 64

typedef struct server {
  int lfd, port;
  pthread_t th;
  const step *steps;
  size_t nsteps;
  atomic_int stop;
  pthread_mutex_t mu; /* the fields below */
  size_t next;
  int connections, requests;
  char methods[REQ_MAX][8];
  char last_head[4096];
  char last_body[256];
} server;

static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    p += w;
    n -= (size_t)w;
  }
}

static void nap_ms(server *s, int ms) {
  for (int i = 0; i < ms / 10 && !atomic_load(&s->stop); i++) {
    struct timespec ts = {0, 10 * MS};
    nanosleep(&ts, NULL);
  }
}

/* Read until the head is complete and the body received; false on EOF. */
static bool read_request(server *s, int fd, char *buf, size_t cap,
                         size_t *head_len, size_t *body_len) {
  size_t len = 0;
  char *end = NULL;
  while (!atomic_load(&s->stop)) {
    if (end) {
      size_t hl = (size_t)(end - buf) + 4;
      const char *cl = strcasestr(buf, "\r\nContent-Length:");
      size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
      if (len >= hl + want) {
        *head_len = hl;
        *body_len = want;
        return true;
      }
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0)
      continue;
    ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
    if (r <= 0)
      return false;
    len += (size_t)r;
    buf[len] = '\0';
    if (!end)
      end = strstr(buf, "\r\n\r\n");
  }
  return false;
}

static void respond(server *s, int fd, const step *st, bool *close_after) {
  char head[1024];
  static char big[64 * 1024];
  const char *body = st->body ? st->body : "";
  *close_after = false;
  switch (st->kind) {
  case RK_SLOW:
    nap_ms(s, 600);
    /* fall through */
  case RK_PLAIN:
    snprintf(head, sizeof head,
             "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", st->status,
             strlen(body), st->headers ? st->headers : "");
    send_all(fd, head, strlen(head));
    send_all(fd, body, strlen(body));
    *close_after = st->kind == RK_SLOW;
    return;
  case RK_HUGE_CL:
  case RK_HUGE_EOF:
    memset(big, 'x', sizeof big);
    if (st->kind == RK_HUGE_CL)
      snprintf(head, sizeof head,
               "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 1 << 20);
    else
      snprintf(head, sizeof head,
               "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    send_all(fd, head, strlen(head));
    for (int i = 0; i < 16; i++)
      send_all(fd, big, sizeof big);
    *close_after = true;
    return;
  case RK_CLOSE_MID:
    snprintf(head, sizeof head,
             "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    send_all(fd, head, strlen(head));
    *close_after = true;
    return;
  }
}

static void serve(server *s, int fd) {
  static char buf[64 * 1024];
  for (;;) {
    size_t hl = 0, bl = 0;
    if (!read_request(s, fd, buf, sizeof buf, &hl, &bl))
      return;
    pthread_mutex_lock(&s->mu);
    size_t i = s->next < s->nsteps ? s->next : s->nsteps - 1;
    s->next++;
    if (s->requests < REQ_MAX)
      snprintf(s->methods[s->requests], sizeof s->methods[0], "%.*s",
               (int)strcspn(buf, " "), buf);
    s->requests++;
    snprintf(s->last_head, sizeof s->last_head, "%.*s", (int)hl, buf);
    snprintf(s->last_body, sizeof s->last_body, "%.*s", (int)bl, buf + hl);
    const step *st = &s->steps[i];
    pthread_mutex_unlock(&s->mu);
    bool close_after = false;
    respond(s, fd, st, &close_after);
    if (close_after)
      return;
  }
}

static void *server_main(void *arg) {
  server *s = arg;
  while (!atomic_load(&s->stop)) {
    struct pollfd p = {s->lfd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0)
      continue;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
      continue;
    int one = 1; /* no Nagle delay between a head and its body */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_mutex_lock(&s->mu);
    s->connections++;
    pthread_mutex_unlock(&s->mu);
    serve(s, fd);
    close(fd);
  }
  return NULL;
}

static void server_start(server *s, const step *steps, size_t n) {
  memset(s, 0, sizeof *s);
  s->steps = steps;
  s->nsteps = n;
  pthread_mutex_init(&s->mu, NULL);
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s->lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s->lfd, 8), 0);
  socklen_t al = sizeof a;
  assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void server_stop(server *s) {
  atomic_store(&s->stop, 1);
  pthread_join(s->th, NULL);
  close(s->lfd);
  pthread_mutex_destroy(&s->mu);
}

static int server_requests(server *s) {
  pthread_mutex_lock(&s->mu);
  int n = s->requests;
  pthread_mutex_unlock(&s->mu);
  return n;
}

static int server_connections(server *s) {
  pthread_mutex_lock(&s->mu);
  int n = s->connections;
  pthread_mutex_unlock(&s->mu);
  return n;
}

/* ---- the injected time ------------------------------------------------------
 */

typedef struct fake_time {
  pthread_mutex_t mu;
  int64_t mono, wall;
  int64_t sleeps[64];
  int nsleeps;
} fake_time;

static int64_t ft_mono(void *ctx) {
  fake_time *t = ctx;
  pthread_mutex_lock(&t->mu);
  int64_t v = t->mono;
  pthread_mutex_unlock(&t->mu);
  return v;
}

static int64_t ft_wall(void *ctx) {
  fake_time *t = ctx;
  pthread_mutex_lock(&t->mu);
  int64_t v = t->wall;
  pthread_mutex_unlock(&t->mu);
  return v;
}

static void ft_sleep(void *ctx, int64_t ns) {
  fake_time *t = ctx;
  pthread_mutex_lock(&t->mu);
  assert_true(ns > 0);
  if (t->nsleeps < 64)
    t->sleeps[t->nsleeps++] = ns;
  t->mono += ns;
  t->wall += ns;
  pthread_mutex_unlock(&t->mu);
}

static void ft_init(fake_time *t) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->mu, NULL);
  t->mono = 1000 * DTO_NS_PER_SEC;
  t->wall = 1767225600LL * DTO_NS_PER_SEC; /* 2026-01-01 */
}

typedef struct fixture {
  server srv;
  fake_time ft;
  http_conf conf;
  http_client *c;
  char url[64];
} fixture;

/* Start the server with steps and a client for it: 2 retries, 100 ms base
 * backoff, 1 s cap, no rate limit unless the test sets one. */
static void fx_start(fixture *f, const step *steps, size_t n) {
  memset(f, 0, sizeof *f);
  server_start(&f->srv, steps, n);
  ft_init(&f->ft);
  snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", f->srv.port);
  f->conf.base_url = f->url;
  f->conf.headers[0] = (http_header){"APCA-API-KEY-ID", KEY_ID};
  f->conf.headers[1] = (http_header){"APCA-API-SECRET-KEY", SECRET};
  f->conf.nheaders = 2;
  f->conf.connect_timeout = 1000 * MS;
  f->conf.request_timeout = 2000 * MS;
  f->conf.retries = 2;
  f->conf.backoff = 100 * MS;
  f->conf.max_backoff = 1000 * MS;
  f->conf.hooks = (http_hooks){ft_mono, ft_wall, ft_sleep, &f->ft, 12345};
}

static void fx_client(fixture *f) {
  char err[ERRCAP];
  int rc = http_client_new(&f->conf, &f->c, err, sizeof err);
  if (rc)
    print_error("%s\n", err);
  assert_int_equal(rc, 0);
}

static void fx_stop(fixture *f) {
  http_client_free(f->c);
  server_stop(&f->srv);
  pthread_mutex_destroy(&f->ft.mu);
}

static void assert_clean_err(const char *err) {
  assert_null(strstr(err, SECRET));
  assert_null(strstr(err, KEY_ID));
}

/* ---- cases ----------------------------------------------------------------
 */

static void test_ok_and_headers(void **st) {
  (void)st;
  static const step steps[] = {
      {RK_PLAIN, 200,
       "X-RateLimit-Limit: 200\r\nx-ratelimit-remaining:  199 \r\n"
       "X-RateLimit-Reset: 1767225660\r\n",
       "{\"ok\":true}"}};
  fixture f;
  fx_start(&f, steps, 1);
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  assert_int_equal(
      http_request(f.c, HTTP_GET, "/v2/account?x=1", NULL, &r, err, ERRCAP), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "{\"ok\":true}");
  assert_int_equal(r.len, 11);
  assert_int_equal(r.attempts, 1);
  assert_int_equal(r.rl_limit, 200);
  assert_int_equal(r.rl_remaining, 199);
  assert_int_equal(r.rl_reset, 1767225660);
  assert_int_equal(r.retry_after, -1);
  http_response_release(&r);
  assert_null(r.body);
  pthread_mutex_lock(&f.srv.mu);
  assert_non_null(strstr(f.srv.last_head, "GET /v2/account?x=1 HTTP/1.1\r\n"));
  assert_non_null(strstr(f.srv.last_head, "APCA-API-KEY-ID: " KEY_ID "\r\n"));
  assert_non_null(strstr(f.srv.last_head, "APCA-API-SECRET-KEY: " SECRET));
  assert_non_null(strstr(f.srv.last_head, "Accept: application/json"));
  pthread_mutex_unlock(&f.srv.mu);
  fx_stop(&f);
}

static void test_keepalive(void **st) {
  (void)st;
  static const step steps[] = {{RK_PLAIN, 200, NULL, "{}"}};
  fixture f;
  fx_start(&f, steps, 1);
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  assert_int_equal(http_request(f.c, HTTP_GET, "/a", NULL, &r, err, ERRCAP), 0);
  http_response_release(&r);
  assert_int_equal(http_request(f.c, HTTP_POST, "/v2/orders",
                                "{\"symbol\":\"SPY\"}", &r, err, ERRCAP),
                   0);
  http_response_release(&r);
  pthread_mutex_lock(&f.srv.mu);
  assert_string_equal(f.srv.last_body, "{\"symbol\":\"SPY\"}");
  assert_non_null(strstr(f.srv.last_head, "Content-Type: application/json"));
  pthread_mutex_unlock(&f.srv.mu);
  assert_int_equal(
      http_request(f.c, HTTP_PATCH, "/v2/orders/1", "{}", &r, err, ERRCAP), 0);
  http_response_release(&r);
  assert_int_equal(
      http_request(f.c, HTTP_DELETE, "/v2/orders/1", NULL, &r, err, ERRCAP), 0);
  http_response_release(&r);
  assert_int_equal(http_request(f.c, HTTP_GET, "/b", NULL, &r, err, ERRCAP), 0);
  http_response_release(&r);
  assert_int_equal(server_requests(&f.srv), 5);
  assert_int_equal(server_connections(&f.srv), 1);
  pthread_mutex_lock(&f.srv.mu);
  assert_string_equal(f.srv.methods[0], "GET");
  assert_string_equal(f.srv.methods[1], "POST");
  assert_string_equal(f.srv.methods[2], "PATCH");
  assert_string_equal(f.srv.methods[3], "DELETE");
  assert_string_equal(f.srv.methods[4], "GET");
  pthread_mutex_unlock(&f.srv.mu);
  fx_stop(&f);
}

static void test_retry_5xx(void **st) {
  (void)st;
  static const step steps[] = {{RK_PLAIN, 500, NULL, "boom"},
                               {RK_PLAIN, 503, NULL, "busy"},
                               {RK_PLAIN, 200, NULL, "fine"}};
  fixture f;
  fx_start(&f, steps, 3);
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  assert_int_equal(http_request(f.c, HTTP_GET, "/x", NULL, &r, err, ERRCAP), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "fine");
  assert_int_equal(r.attempts, 3);
  http_response_release(&r);
  assert_int_equal(server_requests(&f.srv), 3);
  /* full jitter: each wait within [0, min(cap, base * 2^k)] */
  assert_true(f.ft.nsleeps <= 2);
  for (int i = 0; i < f.ft.nsleeps; i++)
    assert_true(f.ft.sleeps[i] <= (100 * MS << i));
  http_stats s;
  http_client_stats(f.c, &s);
  assert_int_equal(s.requests, 1);
  assert_int_equal(s.attempts, 3);
  assert_int_equal(s.retries, 2);
  fx_stop(&f);
}

static void test_retry_bounded(void **st) {
  (void)st;
  static const step steps[] = {{RK_PLAIN, 502, NULL, "bad gateway"}};
  fixture f;
  fx_start(&f, steps, 1);
  f.conf.retries = 3;
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  /* DELETE is idempotent: retried, but only 3 times; the last 502 returned */
  assert_int_equal(
      http_request(f.c, HTTP_DELETE, "/v2/orders", NULL, &r, err, ERRCAP), 0);
  assert_int_equal(r.status, 502);
  assert_string_equal(r.body, "bad gateway");
  assert_int_equal(r.attempts, 4);
  http_response_release(&r);
  assert_int_equal(server_requests(&f.srv), 4);
  fx_stop(&f);
}

static void test_jitter_seeded(void **st) {
  (void)st;
  static const step steps[] = {{RK_PLAIN, 500, NULL, ""}};
  int64_t first[8];
  int nfirst = 0;
  for (int run = 0; run < 2; run++) {
    fixture f;
    fx_start(&f, steps, 1);
    f.conf.retries = 5;
    fx_client(&f);
    http_response r;
    char err[ERRCAP];
    assert_int_equal(http_request(f.c, HTTP_GET, "/x", NULL, &r, err, ERRCAP),
                     0);
    http_response_release(&r);
    assert_int_equal(f.ft.nsleeps, 5);
    for (int i = 0; i < 5; i++) {
      int64_t cap = (100 * MS) << i;
      assert_true(f.ft.sleeps[i] <= (cap > 1000 * MS ? 1000 * MS : cap));
      if (run == 0)
        first[nfirst++] = f.ft.sleeps[i];
      else
        assert_int_equal(f.ft.sleeps[i], first[i]); /* same seed, same waits */
    }
    fx_stop(&f);
  }
}

static void test_post_not_retried(void **st) {
  (void)st;
  static const step steps[] = {{RK_PLAIN, 500, NULL, "boom"},
                               {RK_PLAIN, 200, NULL, "ok"}};
  fixture f;
  fx_start(&f, steps, 2);
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  assert_int_equal(
      http_request(f.c, HTTP_POST, "/v2/orders", "{}", &r, err, ERRCAP), 0);
  assert_int_equal(r.status, 500);
  assert_int_equal(r.attempts, 1);
  http_response_release(&r);
  assert_int_equal(server_requests(&f.srv), 1);
  assert_int_equal(f.ft.nsleeps, 0);
  fx_stop(&f);

  /* nor a PATCH (replace makes a new order each time), nor on a 429 */
  static const step s429[] = {{RK_PLAIN, 429, "Retry-After: 1\r\n", ""},
                              {RK_PLAIN, 200, NULL, "ok"}};
  fx_start(&f, s429, 2);
  fx_client(&f);
  assert_int_equal(
      http_request(f.c, HTTP_PATCH, "/v2/orders/9", "{}", &r, err, ERRCAP), 0);
  assert_int_equal(r.status, 429);
  assert_int_equal(r.retry_after, 1);
  http_response_release(&r);
  assert_int_equal(server_requests(&f.srv), 1);
  fx_stop(&f);

  /* nor on a broken connection: the outcome is unknown, an error */
  static const step mid[] = {{RK_CLOSE_MID, 200, NULL, NULL},
                             {RK_PLAIN, 200, NULL, "ok"}};
  fx_start(&f, mid, 2);
  fx_client(&f);
  int rc = http_request(f.c, HTTP_POST, "/v2/orders", "{}", &r, err, ERRCAP);
  assert_int_equal(rc, DTO_EIO);
  assert_int_equal(r.status, 0);
  assert_null(r.body);
  assert_non_null(strstr(err, "POST /v2/orders: "));
  assert_non_null(strstr(err, "1 attempt)"));
  assert_clean_err(err);
  assert_int_equal(server_requests(&f.srv), 1);
  fx_stop(&f);
}

static void test_429_waits(void **st) {
  (void)st;
  static const step steps[] = {
      {RK_PLAIN, 429, "Retry-After: 2\r\n", "slow down"},
      {RK_PLAIN, 429,
       "X-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: 1767225603\r\n", ""},
      {RK_PLAIN, 200, NULL, "ok"}};
  fixture f;
  fx_start(&f, steps, 3);
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  assert_int_equal(
      http_request(f.c, HTTP_GET, "/v2/clock", NULL, &r, err, ERRCAP), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.attempts, 3);
  assert_int_equal(r.retry_after, -1); /* the last response's headers */
  http_response_release(&r);
  /* 2 s as asked; then until the reset (wall was 1767225600 + 2 s) */
  assert_int_equal(f.ft.nsleeps, 2);
  assert_int_equal(f.ft.sleeps[0], 2 * DTO_NS_PER_SEC);
  assert_int_equal(f.ft.sleeps[1], 1 * DTO_NS_PER_SEC);
  fx_stop(&f);

  /* a wait over max_retry_wait: no wait, the 429 goes to the caller */
  static const step longw[] = {{RK_PLAIN, 429, "Retry-After: 120\r\n", ""},
                               {RK_PLAIN, 200, NULL, "ok"}};
  fx_start(&f, longw, 2);
  f.conf.max_retry_wait = 60 * DTO_NS_PER_SEC;
  fx_client(&f);
  assert_int_equal(http_request(f.c, HTTP_GET, "/x", NULL, &r, err, ERRCAP), 0);
  assert_int_equal(r.status, 429);
  assert_int_equal(r.retry_after, 120);
  assert_int_equal(r.attempts, 1);
  http_response_release(&r);
  assert_int_equal(f.ft.nsleeps, 0);
  fx_stop(&f);
}

static void test_timeout(void **st) {
  (void)st;
  static const step steps[] = {{RK_SLOW, 200, NULL, "late"}};
  fixture f;
  fx_start(&f, steps, 1);
  f.conf.connect_timeout = 100 * MS;
  f.conf.request_timeout = 200 * MS;
  f.conf.retries = 1;
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  int64_t t0 = 0;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t0 = ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
  int rc = http_request(f.c, HTTP_GET, "/slow", NULL, &r, err, ERRCAP);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t took = ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec - t0;
  assert_int_equal(rc, DTO_EAGAIN);
  assert_non_null(strstr(err, "GET /slow: timed out"));
  assert_non_null(strstr(err, "2 attempts)"));
  assert_clean_err(err);
  assert_true(took < 1500 * MS); /* two attempts of 200 ms, not 600 */
  assert_int_equal(r.status, 0);
  fx_stop(&f);

  /* a POST times out once, no retry */
  fx_start(&f, steps, 1);
  f.conf.request_timeout = 200 * MS;
  f.conf.connect_timeout = 100 * MS;
  fx_client(&f);
  rc = http_request(f.c, HTTP_POST, "/v2/orders", "{}", &r, err, ERRCAP);
  assert_int_equal(rc, DTO_EAGAIN);
  assert_non_null(strstr(err, "POST /v2/orders: timed out"));
  assert_clean_err(err);
  fx_stop(&f);
  assert_int_equal(f.srv.requests, 1);
}

static void test_body_cap(void **st) {
  (void)st;
  static const step cl[] = {{RK_HUGE_CL, 200, NULL, NULL}};
  static const step eof[] = {{RK_HUGE_EOF, 200, NULL, NULL}};
  const step *which[] = {cl, eof};
  for (int i = 0; i < 2; i++) {
    fixture f;
    fx_start(&f, which[i], 1);
    f.conf.body_cap = 64 * 1024;
    fx_client(&f);
    http_response r;
    char err[ERRCAP];
    int rc = http_request(f.c, HTTP_GET, "/v2/bars", NULL, &r, err, ERRCAP);
    assert_int_equal(rc, DTO_ETOOBIG);
    assert_non_null(strstr(err, "GET /v2/bars: response body over the cap"));
    assert_null(r.body);
    fx_stop(&f);
    assert_int_equal(f.srv.requests, 1); /* not retried */
  }
  /* a request body over the cap is refused before sending */
  static const step ok[] = {{RK_PLAIN, 200, NULL, "ok"}};
  fixture f;
  fx_start(&f, ok, 1);
  f.conf.body_cap = 16;
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  assert_int_equal(http_request(f.c, HTTP_POST, "/v2/orders",
                                "{\"a\":\"0123456789abcdef\"}", &r, err,
                                ERRCAP),
                   DTO_ETOOBIG);
  assert_non_null(strstr(err, "POST /v2/orders: request body"));
  fx_stop(&f);
  assert_int_equal(f.srv.requests, 0);
}

static void test_close_mid_response(void **st) {
  (void)st;
  static const step steps[] = {{RK_CLOSE_MID, 200, NULL, NULL},
                               {RK_PLAIN, 200, NULL, "whole"}};
  fixture f;
  fx_start(&f, steps, 2);
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  assert_int_equal(http_request(f.c, HTTP_GET, "/x", NULL, &r, err, ERRCAP), 0);
  assert_string_equal(r.body, "whole");
  assert_int_equal(r.attempts, 2);
  http_response_release(&r);
  assert_int_equal(server_connections(&f.srv), 2);
  fx_stop(&f);

  fx_start(&f, steps, 2);
  f.conf.retries = 0;
  fx_client(&f);
  int rc = http_request(f.c, HTTP_GET, "/x", NULL, &r, err, ERRCAP);
  assert_int_equal(rc, DTO_EIO);
  assert_non_null(strstr(err, "GET /x: "));
  assert_clean_err(err);
  fx_stop(&f);
}

static void test_limiter(void **st) {
  (void)st;
  static const step steps[] = {{RK_PLAIN, 200, NULL, "ok"}};
  fixture f;
  fx_start(&f, steps, 1);
  f.conf.rate_limit_per_min = 60; /* one a second */
  f.conf.rate_burst = 2;
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  for (int i = 0; i < 4; i++) {
    assert_int_equal(http_request(f.c, HTTP_GET, "/x", NULL, &r, err, ERRCAP),
                     0);
    http_response_release(&r);
  }
  /* two at once, then one a second (the fake clock moves only by sleeps) */
  assert_int_equal(f.ft.nsleeps, 2);
  assert_int_equal(f.ft.sleeps[0], DTO_NS_PER_SEC);
  assert_int_equal(f.ft.sleeps[1], DTO_NS_PER_SEC);
  http_stats s;
  http_client_stats(f.c, &s);
  assert_int_equal(s.limiter_waits, 2);
  assert_int_equal(s.limiter_wait_ns, 2 * DTO_NS_PER_SEC);
  /* after a quiet 10 s the burst is back, not 10 requests' worth */
  pthread_mutex_lock(&f.ft.mu);
  f.ft.mono += 10 * DTO_NS_PER_SEC;
  pthread_mutex_unlock(&f.ft.mu);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(http_request(f.c, HTTP_GET, "/x", NULL, &r, err, ERRCAP),
                     0);
    http_response_release(&r);
  }
  assert_int_equal(f.ft.nsleeps, 3);
  assert_int_equal(f.ft.sleeps[2], DTO_NS_PER_SEC);
  fx_stop(&f);
}

/* The default burst: rate/20, so 190/min never puts 200 in a minute. */
static void test_limiter_default_burst(void **st) {
  (void)st;
  static const step steps[] = {{RK_PLAIN, 200, NULL, "ok"}};
  fixture f;
  fx_start(&f, steps, 1);
  f.conf.rate_limit_per_min = 190;
  fx_client(&f);
  http_response r;
  char err[ERRCAP];
  int64_t start = ft_mono(&f.ft);
  int in_first_minute = 0;
  for (int i = 0; i < 230; i++) {
    assert_int_equal(http_request(f.c, HTTP_GET, "/x", NULL, &r, err, ERRCAP),
                     0);
    http_response_release(&r);
    if (ft_mono(&f.ft) - start < DTO_NS_PER_MIN)
      in_first_minute++;
  }
  assert_true(in_first_minute < 200);
  assert_true(in_first_minute >= 190);
  fx_stop(&f);
}

typedef struct worker {
  http_client *c;
  int ok;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  for (int i = 0; i < 20; i++) {
    http_response r;
    char err[ERRCAP];
    if (!http_request(w->c, HTTP_GET, "/x", NULL, &r, err, ERRCAP) &&
        r.status == 200)
      w->ok++;
    http_response_release(&r);
  }
  return NULL;
}

static void test_threads(void **st) {
  (void)st;
  static const step steps[] = {{RK_PLAIN, 200, NULL, "ok"}};
  fixture f;
  fx_start(&f, steps, 1);
  f.conf.rate_limit_per_min = 600;
  f.conf.rate_burst = 5;
  fx_client(&f);
  worker w[3] = {{f.c, 0}, {f.c, 0}, {f.c, 0}};
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  for (int i = 0; i < 3; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 3; i++)
    assert_int_equal(w[i].ok, 20);
  assert_int_equal(server_requests(&f.srv), 60);
  assert_int_equal(server_connections(&f.srv), 1);
  http_stats s;
  http_client_stats(f.c, &s);
  assert_int_equal(s.requests, 60);
  assert_true(s.limiter_waits >= 1); /* 60 requests over a burst of 5 */
  fx_stop(&f);
}

static void test_errors(void **st) {
  (void)st;
  /* nothing listens: a connection error naming method and path */
  server srv;
  static const step steps[] = {{RK_PLAIN, 200, NULL, "ok"}};
  server_start(&srv, steps, 1);
  int port = srv.port;
  server_stop(&srv); /* the port is free again */
  fake_time ft;
  ft_init(&ft);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  http_conf conf = {
      .base_url = url,
      .headers = {{"APCA-API-KEY-ID", KEY_ID}, {"APCA-API-SECRET-KEY", SECRET}},
      .nheaders = 2,
      .connect_timeout = 500 * MS,
      .request_timeout = 1000 * MS,
      .retries = 2,
      .backoff = 10 * MS,
      .max_backoff = 50 * MS,
      .hooks = {ft_mono, ft_wall, ft_sleep, &ft, 7}};
  http_client *c = NULL;
  char err[ERRCAP];
  assert_int_equal(http_client_new(&conf, &c, err, ERRCAP), 0);
  http_response r;
  int rc = http_request(c, HTTP_GET, "/v2/orders", NULL, &r, err, ERRCAP);
  assert_int_equal(rc, DTO_EIO);
  assert_non_null(strstr(err, "GET /v2/orders: "));
  assert_non_null(strstr(err, "3 attempts)"));
  assert_clean_err(err);
  /* a malformed path */
  assert_int_equal(
      http_request(c, HTTP_GET, "v2/orders", NULL, &r, err, ERRCAP),
      DTO_EINVAL);
  assert_int_equal(http_request(c, HTTP_GET, "/a b", NULL, &r, err, ERRCAP),
                   DTO_EINVAL);
  assert_int_equal(
      http_request(c, HTTP_GET, "/a\r\nX: y", NULL, &r, err, ERRCAP),
      DTO_EINVAL);
  http_client_free(c);
  http_client_free(NULL);

  /* a bad conf: a header value with a line break is refused, not quoted */
  conf.headers[1].value = SECRET "\r\nX-Evil: 1";
  assert_int_equal(http_client_new(&conf, &c, err, ERRCAP), DTO_EINVAL);
  assert_null(c);
  assert_clean_err(err);
  conf.headers[1].value = SECRET;
  conf.request_timeout = 0;
  assert_int_equal(http_client_new(&conf, &c, err, ERRCAP), DTO_EINVAL);
  pthread_mutex_destroy(&ft.mu);

  assert_string_equal(http_method_name(HTTP_PATCH), "PATCH");
  assert_true(http_method_idempotent(HTTP_GET));
  assert_true(http_method_idempotent(HTTP_DELETE));
  assert_false(http_method_idempotent(HTTP_POST));
  assert_false(http_method_idempotent(HTTP_PATCH));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ok_and_headers),
      cmocka_unit_test(test_keepalive),
      cmocka_unit_test(test_retry_5xx),
      cmocka_unit_test(test_retry_bounded),
      cmocka_unit_test(test_jitter_seeded),
      cmocka_unit_test(test_post_not_retried),
      cmocka_unit_test(test_429_waits),
      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_body_cap),
      cmocka_unit_test(test_close_mid_response),
      cmocka_unit_test(test_limiter),
      cmocka_unit_test(test_limiter_default_burst),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
