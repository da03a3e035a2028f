/* test_notify.c - alert notifications (ops/notify.h) against a loopback
 * HTTP/1.1 receiver in a thread of this program: the request each channel
 * kind sends (method, path, headers, the documented JSON or form fields,
 * basic auth), the webhook's signature checked with GnuTLS (a second
 * implementation of HMAC-SHA256, not the libsodium the code uses),
 * retries and dead letters, timeouts, a hanging receiver abandoned on
 * stop, the bounded queue, channel checks, and that no error message
 * ever holds a secret.  Every wait is bounded; backoffs are 10 ms.
 */
#include "core/prelude.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "ops/notify.h"

#define MS (1000 * 1000LL)
#define SECRET "SeCrEt-must-not-leak-42"
#define WAIT_MAX_MS 15000 /* the longest any test waits for anything */

/* ---- the receiver -------------------------------------------------------- */

#define RX_MAX 32
#define RX_BODY_MAX (256 * 1024)

typedef struct rx_req {
  char method[8];
  char path[512];
  char head[8192];
  char *body; /* owned, NUL-terminated */
  size_t blen;
} rx_req;

typedef struct rx {
  int lfd, port;
  pthread_t th;
  atomic_int stop;
  pthread_mutex_t mu; /* the fields below */
  int status[8];      /* the answer to request i (the last repeats) */
  int nstatus;
  int hang_ms; /* > 0: wait this long (or until stop) before answering */
  bool big;    /* answer with a body of 1 MiB */
  rx_req reqs[RX_MAX];
  int nreq;
} rx;

static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    p += w;
    n -= (size_t)w;
  }
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * MS};
  nanosleep(&ts, NULL);
}

/* One request, head and body (Content-Length); false on EOF or stop. */
static bool rx_read(rx *s, int fd, char *buf, size_t cap, size_t *hl,
                    size_t *bl) {
  size_t len = 0;
  char *end = NULL;
  while (!atomic_load(&s->stop)) {
    if (end) {
      size_t h = (size_t)(end - buf) + 4;
      const char *cl = strcasestr(buf, "\r\ncontent-length:");
      size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
      if (want > cap - 1 - h)
        return false;
      if (len >= h + want) {
        *hl = h;
        *bl = want;
        return true;
      }
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0)
      continue;
    if (len >= cap - 1)
      return false;
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

static void rx_serve(rx *s, int fd) {
  static char buf[RX_BODY_MAX + 16384];
  for (;;) {
    size_t hl = 0, bl = 0;
    if (!rx_read(s, fd, buf, sizeof buf, &hl, &bl))
      return;
    pthread_mutex_lock(&s->mu);
    int i = s->nreq;
    int status = s->status[i < s->nstatus ? i : s->nstatus - 1];
    int hang = s->hang_ms;
    bool big_body = s->big;
    if (i < RX_MAX) {
      rx_req *q = &s->reqs[i];
      size_t ml = strcspn(buf, " ");
      snprintf(q->method, sizeof q->method, "%.*s", (int)ml, buf);
      const char *p = buf + ml + 1;
      snprintf(q->path, sizeof q->path, "%.*s", (int)strcspn(p, " "), p);
      snprintf(q->head, sizeof q->head, "%.*s", (int)hl, buf);
      q->body = malloc(bl + 1);
      memcpy(q->body, buf + hl, bl);
      q->body[bl] = '\0';
      q->blen = bl;
    }
    s->nreq++;
    pthread_mutex_unlock(&s->mu);
    if (hang > 0) {
      for (int t = 0; t < hang / 10 && !atomic_load(&s->stop); t++)
        nap_ms(10);
      return; /* and close: the client gave up long ago */
    }
    char head[256];
    const char *body = "{\"ok\":true}";
    static char big[64 * 1024];
    size_t blen = big_body ? 16 * sizeof big : strlen(body);
    snprintf(head, sizeof head,
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
             "Location: http://127.0.0.1:1/elsewhere\r\n"
             "Content-Length: %zu\r\n\r\n",
             status, blen);
    send_all(fd, head, strlen(head));
    if (big_body) {
      memset(big, 'x', sizeof big);
      for (int k = 0; k < 16; k++)
        send_all(fd, big, sizeof big);
    } else
      send_all(fd, body, strlen(body));
  }
}

static void *rx_main(void *arg) {
  rx *s = arg;
  while (!atomic_load(&s->stop)) {
    struct pollfd p = {s->lfd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0)
      continue;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
      continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rx_serve(s, fd);
    close(fd);
  }
  return NULL;
}

/* Listen on 127.0.0.1, an ephemeral port; answer statuses in turn. */
static void rx_start(rx *s, const int *status, int n, int hang_ms) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  assert_true(n >= 1 && n <= 8);
  memcpy(s->status, status, sizeof *status * (size_t)n);
  s->nstatus = n;
  s->hang_ms = hang_ms;
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s->lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s->lfd, 16), 0);
  socklen_t al = sizeof a;
  assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->th, NULL, rx_main, s), 0);
}

static void rx_stop(rx *s) {
  atomic_store(&s->stop, 1);
  pthread_join(s->th, NULL);
  close(s->lfd);
  for (int i = 0; i < s->nreq && i < RX_MAX; i++)
    free(s->reqs[i].body);
  pthread_mutex_destroy(&s->mu);
}

static int rx_count(rx *s) {
  pthread_mutex_lock(&s->mu);
  int n = s->nreq;
  pthread_mutex_unlock(&s->mu);
  return n;
}

/* Wait (bounded) until the receiver has n requests. */
static void rx_wait(rx *s, int n) {
  for (int t = 0; t < WAIT_MAX_MS / 5 && rx_count(s) < n; t++)
    nap_ms(5);
  assert_true(rx_count(s) >= n);
}

/* A header's value (case-insensitive name) into out; false when absent. */
static bool header(const rx_req *q, const char *name, char *out, size_t cap) {
  size_t n = strlen(name);
  for (const char *p = strstr(q->head, "\r\n"); p && p[2];
       p = strstr(p + 2, "\r\n")) {
    const char *l = p + 2;
    if (!strncasecmp(l, name, n) && l[n] == ':') {
      const char *v = l + n + 1;
      while (*v == ' ')
        v++;
      snprintf(out, cap, "%.*s", (int)strcspn(v, "\r"), v);
      return true;
    }
  }
  return false;
}

static void assert_header(const rx_req *q, const char *name, const char *want) {
  char v[1024];
  if (!header(q, name, v, sizeof v))
    fail_msg("no %s header in:\n%s", name, q->head);
  assert_string_equal(v, want);
}

static json_t *body_json(const rx_req *q) {
  json_error_t je;
  json_t *j = json_loads(q->body, 0, &je);
  if (!j)
    fail_msg("not JSON (%s): %s", je.text, q->body);
  return j;
}

static const char *jget_str(json_t *o, const char *path) {
  /* "a.b.c" through objects */
  char key[64];
  const char *p = path;
  json_t *v = o;
  while (v && *p) {
    size_t n = strcspn(p, ".");
    snprintf(key, sizeof key, "%.*s", (int)n, p);
    v = json_object_get(v, key);
    p += n + (p[n] == '.');
  }
  if (!json_is_string(v))
    fail_msg("%s is not a string", path);
  return json_string_value(v);
}

/* ---- results ------------------------------------------------------------- */

#define RES_MAX 512

typedef struct res {
  uint64_t id;
  bool delivered;
  int attempts, status;
  char error[NOTIFY_TEXT_MAX];
  char channel[NOTIFY_NAME_MAX];
  dto_time latency;
  bool msg_ok; /* r->msg was there and matched msg_id */
} res;

typedef struct results {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  res r[RES_MAX];
  int n;
} results;

static void on_result(void *ctx, const notify_result *r) {
  results *rs = ctx;
  pthread_mutex_lock(&rs->mu);
  if (rs->n < RES_MAX) {
    res *x = &rs->r[rs->n];
    x->id = r->msg_id;
    x->delivered = r->delivered;
    x->attempts = r->attempts;
    x->status = r->http_status;
    x->latency = r->latency;
    snprintf(x->error, sizeof x->error, "%s", r->error);
    snprintf(x->channel, sizeof x->channel, "%s", r->channel);
    /* no cmocka assertion here: this is a worker's thread */
    x->msg_ok = r->msg != NULL && r->msg->id == r->msg_id;
  }
  rs->n++;
  pthread_cond_broadcast(&rs->cv);
  pthread_mutex_unlock(&rs->mu);
}

static void results_init(results *rs) {
  memset(rs, 0, sizeof *rs);
  pthread_mutex_init(&rs->mu, NULL);
  pthread_cond_init(&rs->cv, NULL);
}

static void results_release(results *rs) {
  pthread_mutex_destroy(&rs->mu);
  pthread_cond_destroy(&rs->cv);
}

/* Wait (bounded) for n results; returns how many there are. */
static int results_wait(results *rs, int n) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += WAIT_MAX_MS / 1000;
  pthread_mutex_lock(&rs->mu);
  while (rs->n < n)
    if (pthread_cond_timedwait(&rs->cv, &rs->mu, &dl))
      break;
  int k = rs->n;
  pthread_mutex_unlock(&rs->mu);
  return k;
}

/* ---- fixtures ------------------------------------------------------------ */

/* 2 alerts of HighCpu, warning, from host1. */
static notify_msg *make_msg(enum notify_status st) {
  notify_msg *m = calloc(1, sizeof *m);
  m->id = 42;
  m->status = st;
  snprintf(m->group, sizeof m->group, "alertname=HighCpu");
  snprintf(m->severity, sizeof m->severity, "warning");
  snprintf(m->instance, sizeof m->instance, "host1");
  snprintf(m->link, sizeof m->link, "http://dash.example/alerts");
  m->at = 1767225600LL * DTO_NS_PER_SEC; /* 2026-01-01T00:00:00Z */
  m->nalerts = 2;
  for (int i = 0; i < 2; i++) {
    notify_alert *a = &m->alerts[i];
    snprintf(a->name, sizeof a->name, "HighCpu");
    snprintf(a->severity, sizeof a->severity, "warning");
    snprintf(a->summary, sizeof a->summary, "CPU at %d%% \"hot\"", 93 - i);
    snprintf(a->fingerprint, sizeof a->fingerprint, "%016x", 0xabc0 + i);
    snprintf(a->labels[0].key, sizeof a->labels[0].key, "cpu");
    snprintf(a->labels[0].val, sizeof a->labels[0].val, "%d", i);
    snprintf(a->labels[1].key, sizeof a->labels[1].key, "kind");
    snprintf(a->labels[1].val, sizeof a->labels[1].val, "system");
    a->nlabels = 2;
    a->value = i ? NAN : 93.5;
    a->started = m->at - 60 * DTO_NS_PER_SEC;
    if (st == NOTIFY_RESOLVED)
      a->ended = m->at;
  }
  return m;
}

static char url_buf[8][256];

static void channel(notify_channel *c, const char *name, enum notify_kind k,
                    int port, const char *path) {
  memset(c, 0, sizeof *c);
  notify_channel_defaults(c);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->kind = k;
  static int slot;
  char *u = url_buf[slot++ % 8];
  snprintf(u, 256, "http://127.0.0.1:%d%s", port, path);
  c->url = u;
  c->timeout = 2000 * MS;
  c->retries = 0;
  c->backoff = 10 * MS;
  c->max_backoff = 40 * MS;
}

static void send_ok(const notify_channel *c, const notify_msg *m,
                    notify_result *r) {
  char err[512];
  assert_int_equal(notify_channel_check(c, err, sizeof err), 0);
  int rc = notify_send_now_result(c, m, r);
  if (rc)
    fail_msg("send failed: %s", r->error);
  assert_true(r->delivered);
  assert_int_equal(r->attempts, 1);
}

/* ---- request shapes ------------------------------------------------------ */

static void test_slack(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){200}, 1, 0);
  notify_channel c;
  channel(&c, "chat", NOTIFY_SLACK, s.port, "/services/T1/B2");
  notify_msg *m = make_msg(NOTIFY_FIRING);
  notify_result r;
  send_ok(&c, m, &r);
  assert_int_equal(r.http_status, 200);
  assert_true(r.latency > 0);
  assert_int_equal(rx_count(&s), 1);
  rx_req *q = &s.reqs[0];
  assert_string_equal(q->method, "POST");
  assert_string_equal(q->path, "/services/T1/B2");
  assert_header(q, "Content-Type", "application/json");
  json_t *j = body_json(q);
  const char *text = jget_str(j, "text");
  const char *want = "[FIRING:2] HighCpu (warning) on host1: CPU at 93% "
                     "\"hot\" (+1 more)";
  if (strncmp(text, want, strlen(want)))
    fail_msg("text: %s", text);
  assert_non_null(strstr(text, "cpu=1"));
  assert_non_null(strstr(text, "http://dash.example/alerts"));
  json_decref(j);

  /* resolved, and the test message */
  notify_msg *m2 = make_msg(NOTIFY_RESOLVED);
  send_ok(&c, m2, &r);
  j = body_json(&s.reqs[1]);
  assert_int_equal(strncmp(jget_str(j, "text"), "[RESOLVED] HighCpu", 18), 0);
  json_decref(j);
  notify_msg_test(m2, "host9", 1767225600LL * DTO_NS_PER_SEC);
  send_ok(&c, m2, &r);
  j = body_json(&s.reqs[2]);
  const char *t3 = jget_str(j, "text");
  assert_int_equal(strncmp(t3, "[TEST] dto test notification from host9", 39),
                   0);
  json_decref(j);
  free(m);
  free(m2);
  rx_stop(&s);
}

static void test_teams(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){200}, 1, 0);
  notify_channel c;
  channel(&c, "teams", NOTIFY_TEAMS, s.port, "/webhookb2/x");
  notify_msg *m = make_msg(NOTIFY_FIRING);
  notify_result r;
  send_ok(&c, m, &r);
  rx_req *q = &s.reqs[0];
  assert_string_equal(q->method, "POST");
  assert_string_equal(q->path, "/webhookb2/x");
  assert_header(q, "Content-Type", "application/json");
  json_t *j = body_json(q);
  assert_string_equal(jget_str(j, "@type"), "MessageCard");
  assert_string_equal(jget_str(j, "@context"), "https://schema.org/extensions");
  assert_int_equal(strncmp(jget_str(j, "summary"), "[FIRING:2] HighCpu", 18),
                   0);
  assert_string_equal(jget_str(j, "title"), jget_str(j, "summary"));
  assert_int_equal(strlen(jget_str(j, "themeColor")), 6);
  assert_non_null(strstr(jget_str(j, "text"), "CPU at 92%"));
  json_decref(j);
  free(m);
  rx_stop(&s);
}

static void test_pagerduty(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){202}, 1, 0);
  setenv("TEST_PD_KEY", "R0UTINGKEY" SECRET, 1);
  notify_channel c;
  channel(&c, "pd", NOTIFY_PAGERDUTY, s.port, "/v2/enqueue");
  c.secret_env = "TEST_PD_KEY";
  notify_msg *m = make_msg(NOTIFY_FIRING);
  snprintf(m->severity, sizeof m->severity, "critical");
  notify_result r;
  send_ok(&c, m, &r);
  assert_int_equal(r.http_status, 202);
  rx_req *q = &s.reqs[0];
  assert_string_equal(q->method, "POST");
  assert_string_equal(q->path, "/v2/enqueue");
  assert_header(q, "Content-Type", "application/json");
  json_t *j = body_json(q);
  assert_string_equal(jget_str(j, "routing_key"), "R0UTINGKEY" SECRET);
  assert_string_equal(jget_str(j, "event_action"), "trigger");
  char dedup[300];
  snprintf(dedup, sizeof dedup, "%s", jget_str(j, "dedup_key"));
  assert_non_null(strstr(dedup, "alertname=HighCpu"));
  assert_string_equal(jget_str(j, "payload.severity"), "critical");
  assert_string_equal(jget_str(j, "payload.source"), "host1");
  assert_string_equal(jget_str(j, "payload.timestamp"), "2026-01-01T00:00:00Z");
  assert_int_equal(
      strncmp(jget_str(j, "payload.summary"), "[FIRING:2] HighCpu", 18), 0);
  assert_true(json_is_object(
      json_object_get(json_object_get(j, "payload"), "custom_details")));
  json_decref(j);

  /* severity mapping, and resolve with the same dedup key */
  static const char *const sev[][2] = {
      {"warning", "warning"}, {"info", "info"}, {"bogus", "info"}};
  for (size_t i = 0; i < DTO_ARRAY_LEN(sev); i++) {
    snprintf(m->severity, sizeof m->severity, "%s", sev[i][0]);
    send_ok(&c, m, &r);
    j = body_json(&s.reqs[1 + i]);
    assert_string_equal(jget_str(j, "payload.severity"), sev[i][1]);
    json_decref(j);
  }
  notify_msg *m2 = make_msg(NOTIFY_RESOLVED);
  send_ok(&c, m2, &r);
  j = body_json(&s.reqs[4]);
  assert_string_equal(jget_str(j, "event_action"), "resolve");
  assert_string_equal(jget_str(j, "dedup_key"), dedup);
  json_decref(j);
  /* any 2xx is success */
  free(m);
  free(m2);
  rx_stop(&s);
  unsetenv("TEST_PD_KEY");
}

/* Decode application/x-www-form-urlencoded field k of body into out. */
static bool form_get(const char *body, const char *k, char *out, size_t cap) {
  size_t kl = strlen(k);
  for (const char *p = body; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if (n > kl && !strncmp(p, k, kl) && p[kl] == '=') {
      size_t o = 0;
      for (size_t i = kl + 1; i < n && o + 1 < cap; i++) {
        if (p[i] == '+')
          out[o++] = ' ';
        else if (p[i] == '%' && i + 2 < n) {
          char hx[3] = {p[i + 1], p[i + 2], 0};
          out[o++] = (char)strtol(hx, NULL, 16);
          i += 2;
        } else
          out[o++] = p[i];
      }
      out[o] = '\0';
      return true;
    }
    p = amp ? amp + 1 : NULL;
  }
  return false;
}

static void test_sms(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){201}, 1, 0);
  setenv("TEST_TWILIO_TOKEN", "tok" SECRET, 1);
  notify_channel c;
  channel(&c, "sms", NOTIFY_SMS, s.port, "");
  c.username = "AC0123abc";
  c.secret_env = "TEST_TWILIO_TOKEN";
  c.from = "+15550001111";
  c.to[0] = "+15550002222";
  c.to[1] = "+15550003333";
  c.nto = 2;
  notify_msg *m = make_msg(NOTIFY_FIRING);
  notify_result r;
  send_ok(&c, m, &r);
  assert_int_equal(rx_count(&s), 2);
  for (int i = 0; i < 2; i++) {
    rx_req *q = &s.reqs[i];
    assert_string_equal(q->method, "POST");
    assert_string_equal(q->path,
                        "/2010-04-01/Accounts/AC0123abc/Messages.json");
    assert_header(q, "Content-Type", "application/x-www-form-urlencoded");
    char v[2048];
    assert_true(form_get(q->body, "To", v, sizeof v));
    assert_string_equal(v, c.to[i]);
    assert_true(form_get(q->body, "From", v, sizeof v));
    assert_string_equal(v, "+15550001111");
    assert_true(form_get(q->body, "Body", v, sizeof v));
    assert_int_equal(strncmp(v, "[FIRING:2] HighCpu (warning) on host1", 37),
                     0);
    assert_true(strlen(v) <= 1600);
    /* basic auth, decoded with GnuTLS */
    char auth[512];
    assert_true(header(q, "Authorization", auth, sizeof auth));
    assert_int_equal(strncmp(auth, "Basic ", 6), 0);
    gnutls_datum_t in = {(unsigned char *)auth + 6, (unsigned)strlen(auth + 6)},
                   out = {NULL, 0};
    assert_int_equal(gnutls_base64_decode2(&in, &out), 0);
    char cred[256];
    snprintf(cred, sizeof cred, "%.*s", (int)out.size, (char *)out.data);
    gnutls_free(out.data);
    assert_string_equal(cred, "AC0123abc:tok" SECRET);
  }

  /* a long summary: Body cut at 1600 */
  memset(m->alerts[0].summary, 'x', sizeof m->alerts[0].summary - 1);
  m->alerts[0].summary[sizeof m->alerts[0].summary - 1] = '\0';
  m->nalerts = 1;
  c.nto = 1;
  send_ok(&c, m, &r);
  char v[4096];
  assert_true(form_get(s.reqs[2].body, "Body", v, sizeof v));
  assert_true(strlen(v) <= 1600 && strlen(v) > 500);
  free(m);
  rx_stop(&s);
  unsetenv("TEST_TWILIO_TOKEN");
}

static void test_alertmanager(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){200}, 1, 0);
  notify_channel c;
  channel(&c, "am", NOTIFY_ALERTMANAGER, s.port, "/");
  notify_msg *m = make_msg(NOTIFY_FIRING);
  notify_result r;
  send_ok(&c, m, &r);
  rx_req *q = &s.reqs[0];
  assert_string_equal(q->method, "POST");
  assert_string_equal(q->path, "/api/v2/alerts");
  assert_header(q, "Content-Type", "application/json");
  json_t *j = body_json(q);
  assert_true(json_is_array(j));
  assert_int_equal(json_array_size(j), 2);
  for (size_t i = 0; i < 2; i++) {
    json_t *a = json_array_get(j, i);
    assert_string_equal(jget_str(a, "labels.alertname"), "HighCpu");
    assert_string_equal(jget_str(a, "labels.severity"), "warning");
    assert_string_equal(jget_str(a, "labels.kind"), "system");
    char cpu[4];
    snprintf(cpu, sizeof cpu, "%zu", i);
    assert_string_equal(jget_str(a, "labels.cpu"), cpu);
    assert_non_null(strstr(jget_str(a, "annotations.summary"), "CPU at"));
    assert_string_equal(jget_str(a, "startsAt"), "2025-12-31T23:59:00Z");
    assert_null(json_object_get(a, "endsAt")); /* firing: no end */
    assert_string_equal(jget_str(a, "generatorURL"),
                        "http://dash.example/alerts");
  }
  json_decref(j);
  notify_msg *m2 = make_msg(NOTIFY_RESOLVED);
  send_ok(&c, m2, &r);
  j = body_json(&s.reqs[1]);
  assert_string_equal(jget_str(json_array_get(j, 0), "endsAt"),
                      "2026-01-01T00:00:00Z");
  json_decref(j);
  free(m);
  free(m2);
  rx_stop(&s);
}

static void test_webhook_signature(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){204}, 1, 0);
  /* a key longer than SHA-256's block, which HMAC hashes first */
  char key[200];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  memcpy(key, SECRET, strlen(SECRET));
  setenv("TEST_HOOK_KEY", key, 1);
  notify_channel c;
  channel(&c, "hook", NOTIFY_WEBHOOK, s.port, "/dto");
  c.secret_env = "TEST_HOOK_KEY";
  notify_msg *m = make_msg(NOTIFY_FIRING);
  notify_result r;
  time_t before = time(NULL);
  send_ok(&c, m, &r);
  time_t after = time(NULL);
  rx_req *q = &s.reqs[0];
  assert_string_equal(q->method, "POST");
  assert_string_equal(q->path, "/dto");
  assert_header(q, "Content-Type", "application/json");
  char ts[64], sig[128];
  assert_true(header(q, "X-Dto-Timestamp", ts, sizeof ts));
  long long t = strtoll(ts, NULL, 10);
  assert_true(t >= before && t <= after);
  assert_true(header(q, "X-Dto-Signature", sig, sizeof sig));

  unsigned char mac[32];
  assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, strlen(key),
                                    q->body, q->blen, mac),
                   0);
  char want[80] = "sha256=";
  for (int i = 0; i < 32; i++)
    snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
  assert_string_equal(sig, want);

  json_t *j = body_json(q);
  assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
  assert_int_equal(json_integer_value(json_object_get(j, "timestamp")), t);
  assert_int_equal(json_integer_value(json_object_get(j, "id")), 42);
  assert_string_equal(jget_str(j, "status"), "firing");
  assert_string_equal(jget_str(j, "group"), "alertname=HighCpu");
  assert_string_equal(jget_str(j, "instance"), "host1");
  json_t *a = json_array_get(json_object_get(j, "alerts"), 0);
  assert_string_equal(jget_str(a, "name"), "HighCpu");
  assert_string_equal(jget_str(a, "summary"), "CPU at 93% \"hot\"");
  json_decref(j);
  free(m);
  rx_stop(&s);
  unsetenv("TEST_HOOK_KEY");
}

static void test_json_shape(void **st) {
  (void)st;
  notify_msg *m = make_msg(NOTIFY_RESOLVED);
  m->alerts[1].ended = 0;
  m->alerts[0].acked = true;
  dbuf b;
  dbuf_init(&b, 1 << 20);
  notify_json(m, 1767225600, &b);
  json_error_t je;
  json_t *j = json_loads(b.ptr, 0, &je);
  assert_non_null(j);
  assert_string_equal(jget_str(j, "status"), "resolved");
  assert_string_equal(jget_str(j, "severity"), "warning");
  assert_true(json_is_false(json_object_get(j, "escalation")));
  assert_int_equal(json_integer_value(json_object_get(j, "timestamp")),
                   1767225600);
  json_t *al = json_object_get(j, "alerts");
  assert_int_equal(json_array_size(al), 2);
  json_t *a0 = json_array_get(al, 0), *a1 = json_array_get(al, 1);
  assert_true(json_number_value(json_object_get(a0, "value")) == 93.5);
  assert_true(json_is_null(json_object_get(a1, "value"))); /* NAN */
  assert_string_equal(jget_str(a0, "started"), "2025-12-31T23:59:00Z");
  assert_string_equal(jget_str(a0, "ended"), "2026-01-01T00:00:00Z");
  assert_true(json_is_null(json_object_get(a1, "ended")));
  assert_true(json_is_true(json_object_get(a0, "acked")));
  assert_string_equal(jget_str(a0, "fingerprint"), "000000000000abc0");
  assert_string_equal(jget_str(a0, "labels.cpu"), "0");
  json_decref(j);
  /* bytes that are not UTF-8 become '?': still valid JSON */
  m->alerts[0].summary[0] = (char)0xff;
  dbuf_reset(&b);
  notify_json(m, 1, &b);
  j = json_loads(b.ptr, 0, &je);
  assert_non_null(j);
  json_decref(j);
  dbuf_release(&b);
  free(m);
}

/* ---- delivery ------------------------------------------------------------ */

static void test_retry_then_delivered(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){500, 500, 200}, 3, 0);
  notify_channel c;
  channel(&c, "chat", NOTIFY_SLACK, s.port, "/h");
  c.retries = 3;
  results rs;
  results_init(&rs);
  char err[256];
  notifier *n = notifier_new(&c, 1, on_result, &rs, err, sizeof err);
  assert_non_null(n);
  notify_msg *m = make_msg(NOTIFY_FIRING);
  assert_int_equal(notify_post(n, "chat", m), 0);
  assert_int_equal(results_wait(&rs, 1), 1);
  assert_true(rs.r[0].delivered);
  assert_int_equal(rs.r[0].attempts, 3);
  assert_int_equal(rs.r[0].status, 200);
  assert_string_equal(rs.r[0].error, "");
  assert_string_equal(rs.r[0].channel, "chat");
  assert_int_equal(rs.r[0].id, 42);
  assert_true(rs.r[0].msg_ok);
  /* backoff 10 ms then 20 ms passed between the attempts */
  assert_true(rs.r[0].latency >= 30 * MS);
  assert_int_equal(rx_count(&s), 3);
  /* it counts until on_result has returned, which may be a moment after
   * the result was seen here */
  for (int t = 0; t < WAIT_MAX_MS / 5 && notifier_pending(n); t++)
    nap_ms(5);
  assert_int_equal(notifier_pending(n), 0);
  notifier_free(n);
  results_release(&rs);
  free(m);
  rx_stop(&s);
}

static void test_dead_letter_500(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){500}, 1, 0);
  notify_channel c;
  channel(&c, "am", NOTIFY_ALERTMANAGER, s.port, "");
  c.retries = 2;
  results rs;
  results_init(&rs);
  char err[256];
  notifier *n = notifier_new(&c, 1, on_result, &rs, err, sizeof err);
  assert_non_null(n);
  notify_msg *m = make_msg(NOTIFY_FIRING);
  assert_int_equal(notify_post(n, "am", m), 0);
  assert_int_equal(results_wait(&rs, 1), 1);
  assert_false(rs.r[0].delivered);
  assert_int_equal(rs.r[0].attempts, 3);
  assert_int_equal(rs.r[0].status, 500);
  assert_string_equal(rs.r[0].error, "HTTP 500");
  assert_int_equal(rx_count(&s), 3);
  notifier_free(n);
  results_release(&rs);
  free(m);
  rx_stop(&s);
}

static void test_timeout_dead_letter(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){200}, 1, 3000);
  notify_channel c;
  channel(&c, "hook", NOTIFY_WEBHOOK, s.port, "/h");
  setenv("TEST_HOOK_KEY", SECRET, 1);
  c.secret_env = "TEST_HOOK_KEY";
  c.timeout = 300 * MS;
  c.retries = 1;
  results rs;
  results_init(&rs);
  char err[256];
  notifier *n = notifier_new(&c, 1, on_result, &rs, err, sizeof err);
  assert_non_null(n);
  notify_msg *m = make_msg(NOTIFY_FIRING);
  /* post does not wait for the receiver: it has queued the message and
   * nothing is decided yet */
  assert_int_equal(notify_post(n, "hook", m), 0);
  assert_int_equal(notifier_pending(n), 1);
  pthread_mutex_lock(&rs.mu);
  assert_int_equal(rs.n, 0);
  pthread_mutex_unlock(&rs.mu);
  assert_int_equal(results_wait(&rs, 1), 1);
  assert_false(rs.r[0].delivered);
  assert_int_equal(rs.r[0].attempts, 2);
  assert_string_equal(rs.r[0].error, "timeout after 300 ms");
  assert_int_equal(rs.r[0].status, 0);
  assert_true(rs.r[0].latency >= 600 * MS);
  notifier_free(n);
  results_release(&rs);
  free(m);
  rx_stop(&s);
  unsetenv("TEST_HOOK_KEY");
}

/* A receiver that hangs far longer than the test: notifier_free abandons
 * the request and returns; the notification is a dead letter "stopping". */
static void test_stop_abandons(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){200}, 1, 8000);
  notify_channel c[2];
  channel(&c[0], "chat", NOTIFY_SLACK, s.port, "/h");
  c[0].timeout = 10000 * MS;
  channel(&c[1], "other", NOTIFY_SLACK, s.port, "/o");
  results rs;
  results_init(&rs);
  char err[256];
  notifier *n = notifier_new(c, 2, on_result, &rs, err, sizeof err);
  assert_non_null(n);
  notify_msg *m = make_msg(NOTIFY_FIRING);
  assert_int_equal(notify_post(n, "chat", m), 0);
  m->id = 43;
  assert_int_equal(notify_post(n, "chat", m), 0); /* queued behind */
  rx_wait(&s, 1);
  assert_int_equal(notifier_pending(n), 2);
  int64_t t0 = clock_mono_ns();
  notifier_free(n);
  int64_t took = clock_mono_ns() - t0;
  /* far below the receiver's 8 s and the 10 s timeout (generous for
   * sanitizers; the design target is 100 ms) */
  assert_true(took < 2000 * MS);
  assert_int_equal(results_wait(&rs, 2), 2);
  for (int i = 0; i < 2; i++) {
    assert_false(rs.r[i].delivered);
    assert_string_equal(rs.r[i].error, "stopping");
  }
  results_release(&rs);
  free(m);
  rx_stop(&s);
}

static void test_queue_full(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){200}, 1, 8000);
  notify_channel c;
  channel(&c, "chat", NOTIFY_SLACK, s.port, "/h");
  c.timeout = 10000 * MS;
  results rs;
  results_init(&rs);
  char err[256];
  notifier *n = notifier_new(&c, 1, on_result, &rs, err, sizeof err);
  assert_non_null(n);
  notify_msg *m = make_msg(NOTIFY_FIRING);
  assert_int_equal(notify_post(n, "chat", m), 0);
  rx_wait(&s, 1); /* the first is in flight, hanging */
  int posted = 1, full_at = -1;
  for (int i = 0; i < NOTIFY_QUEUE_MAX + 4; i++) {
    m->id = 100 + (uint64_t)i;
    int rc = notify_post(n, "chat", m);
    posted++;
    if (rc) {
      assert_int_equal(rc, DTO_EFULL);
      full_at = i;
      break;
    }
  }
  assert_int_equal(full_at, NOTIFY_QUEUE_MAX);
  assert_int_equal(notifier_pending(n), NOTIFY_QUEUE_MAX + 1);
  /* the refused one is a dead letter already */
  assert_int_equal(results_wait(&rs, 1), 1);
  assert_false(rs.r[0].delivered);
  assert_int_equal(rs.r[0].attempts, 0);
  assert_int_equal((int)rs.r[0].id, 100 + NOTIFY_QUEUE_MAX);
  assert_non_null(strstr(rs.r[0].error, "queue full"));
  /* unknown channel */
  assert_int_equal(notify_post(n, "nope", m), DTO_ENOENT);
  assert_int_equal(notify_post(NULL, "chat", m), DTO_EINVAL);
  notifier_free(n);
  /* every post has exactly one result */
  assert_int_equal(results_wait(&rs, posted), posted);
  for (int i = 1; i < posted; i++) {
    assert_false(rs.r[i].delivered);
    assert_string_equal(rs.r[i].error, "stopping");
  }
  results_release(&rs);
  free(m);
  rx_stop(&s);
}

static void test_unknown_channel(void **st) {
  (void)st;
  results rs;
  results_init(&rs);
  char err[256];
  notifier *n = notifier_new(NULL, 0, on_result, &rs, err, sizeof err);
  assert_non_null(n);
  notify_msg *m = make_msg(NOTIFY_FIRING);
  assert_int_equal(notify_post(n, "x", m), DTO_ENOENT);
  assert_int_equal(notifier_pending(n), 0);
  notifier_free(n);
  notifier_free(NULL);
  assert_int_equal(rs.n, 0);
  results_release(&rs);
  free(m);
}

/* A URL from url_env holding a token: no error message shows it. */
static void test_errors_hold_no_secret(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){500}, 1, 0);
  char url[256];
  snprintf(url, sizeof url,
           "http://127.0.0.1:%d/services/T1/B2/" SECRET "?token=" SECRET,
           s.port);
  setenv("TEST_SLACK_URL", url, 1);
  notify_channel c;
  channel(&c, "chat", NOTIFY_SLACK, 0, "");
  c.url = NULL;
  c.url_env = "TEST_SLACK_URL";
  c.retries = 1;
  notify_msg *m = make_msg(NOTIFY_FIRING);
  notify_result r;
  char err[512];
  assert_int_equal(notify_channel_check(&c, err, sizeof err), 0);
  assert_int_not_equal(notify_send_now_result(&c, m, &r), 0);
  assert_false(r.delivered);
  assert_int_equal(r.attempts, 2);
  assert_string_equal(r.error, "HTTP 500");
  assert_int_equal(rx_count(&s), 2);
  assert_string_equal(s.reqs[0].path,
                      "/services/T1/B2/" SECRET "?token=" SECRET);
  assert_int_not_equal(notify_send_now(&c, m, err, sizeof err), 0);
  assert_null(strstr(err, SECRET));
  rx_stop(&s);

  /* nobody listening any more */
  c.retries = 0;
  assert_int_not_equal(notify_send_now_result(&c, m, &r), 0);
  assert_string_equal(r.error, "connection refused");
  assert_int_equal(r.http_status, 0);

  /* a name that does not resolve */
  setenv("TEST_SLACK_URL",
         "https://no-such-host.invalid/services/" SECRET "?token=" SECRET, 1);
  assert_int_not_equal(notify_send_now_result(&c, m, &r), 0);
  assert_null(strstr(r.error, SECRET));
  assert_non_null(strstr(r.error, "no-such-host.invalid"));

  /* the variable gone at send time */
  unsetenv("TEST_SLACK_URL");
  assert_int_not_equal(notify_send_now_result(&c, m, &r), 0);
  assert_int_equal(r.attempts, 0);
  assert_non_null(strstr(r.error, "url_env"));
  free(m);
}

/* A redirect is not followed (it is a failure of its own), and a large
 * response body is read and dropped past the cap, not an error. */
static void test_redirect_and_big_body(void **st) {
  (void)st;
  rx s;
  rx_start(&s, (int[]){302, 200}, 2, 0);
  notify_channel c;
  channel(&c, "am", NOTIFY_ALERTMANAGER, s.port, "");
  notify_msg *m = make_msg(NOTIFY_FIRING);
  notify_result r;
  assert_int_not_equal(notify_send_now_result(&c, m, &r), 0);
  assert_string_equal(r.error, "HTTP 302");
  assert_int_equal(r.http_status, 302);
  assert_int_equal(rx_count(&s), 1);
  pthread_mutex_lock(&s.mu);
  s.big = true;
  pthread_mutex_unlock(&s.mu);
  send_ok(&c, m, &r);
  assert_int_equal(r.http_status, 200);
  assert_int_equal(rx_count(&s), 2);
  free(m);
  rx_stop(&s);
}

/* ---- checks -------------------------------------------------------------- */

typedef struct ck {
  const char *what;
  enum notify_kind kind;
  const char *url, *url_env, *secret_env, *username, *from, *to;
  bool starttls_off;
  dto_time timeout;
  const char *field; /* expected in the error; NULL: valid */
} ck;

static void test_channel_check(void **st) {
  (void)st;
  setenv("TEST_SET", SECRET, 1);
  setenv("TEST_EMPTY", "", 1);
  unsetenv("TEST_UNSET");
  setenv("TEST_URL_HTTP", "http://hooks.example.com/x?token=" SECRET, 1);
  setenv("TEST_URL_OK", "https://hooks.example.com/x?token=" SECRET, 1);
  setenv("TEST_URL_BAD", "not a url " SECRET, 1);
  static const ck cases[] = {
      {"https ok", NOTIFY_SLACK, "https://hooks.slack.com/services/x", NULL,
       NULL, NULL, NULL, NULL, false, 0, NULL},
      {"http remote", NOTIFY_SLACK, "http://hooks.slack.com/x", NULL, NULL,
       NULL, NULL, NULL, false, 0, ".url: "},
      {"http loopback", NOTIFY_TEAMS, "http://127.0.0.1:9/x", NULL, NULL, NULL,
       NULL, NULL, false, 0, NULL},
      {"http ::1", NOTIFY_TEAMS, "http://[::1]:9/x", NULL, NULL, NULL, NULL,
       NULL, false, 0, NULL},
      {"http localhost", NOTIFY_ALERTMANAGER, "http://localhost:9093", NULL,
       NULL, NULL, NULL, NULL, false, 0, NULL},
      {"userinfo trick", NOTIFY_SLACK, "http://127.0.0.1@evil.example/", NULL,
       NULL, NULL, NULL, NULL, false, 0, ".url: "},
      {"suffix trick", NOTIFY_SLACK, "http://127.0.0.1.evil.example/", NULL,
       NULL, NULL, NULL, NULL, false, 0, ".url: "},
      {"localhost suffix", NOTIFY_SLACK, "http://localhost.evil.example/", NULL,
       NULL, NULL, NULL, NULL, false, 0, ".url: "},
      {"ftp", NOTIFY_ALERTMANAGER, "ftp://127.0.0.1/", NULL, NULL, NULL, NULL,
       NULL, false, 0, ".url: "},
      {"no url", NOTIFY_SLACK, NULL, NULL, NULL, NULL, NULL, NULL, false, 0,
       ".url: "},
      {"not a url", NOTIFY_SLACK, "hooks.slack.com/x", NULL, NULL, NULL, NULL,
       NULL, false, 0, ".url: "},
      {"url_env unset", NOTIFY_SLACK, NULL, "TEST_UNSET", NULL, NULL, NULL,
       NULL, false, 0, ".url_env: "},
      {"url_env empty", NOTIFY_TEAMS, NULL, "TEST_EMPTY", NULL, NULL, NULL,
       NULL, false, 0, ".url_env: "},
      {"url_env http", NOTIFY_SLACK, NULL, "TEST_URL_HTTP", NULL, NULL, NULL,
       NULL, false, 0, ".url_env: "},
      {"url_env bad", NOTIFY_SLACK, NULL, "TEST_URL_BAD", NULL, NULL, NULL,
       NULL, false, 0, ".url_env: "},
      {"url_env ok", NOTIFY_SLACK, NULL, "TEST_URL_OK", NULL, NULL, NULL, NULL,
       false, 0, NULL},
      {"both", NOTIFY_SLACK, "https://a.example/", "TEST_URL_OK", NULL, NULL,
       NULL, NULL, false, 0, ".url_env: "},
      {"webhook no secret", NOTIFY_WEBHOOK, "https://a.example/", NULL, NULL,
       NULL, NULL, NULL, false, 0, ".secret_env: "},
      {"webhook secret unset", NOTIFY_WEBHOOK, "https://a.example/", NULL,
       "TEST_UNSET", NULL, NULL, NULL, false, 0, ".secret_env: "},
      {"webhook ok", NOTIFY_WEBHOOK, "https://a.example/", NULL, "TEST_SET",
       NULL, NULL, NULL, false, 0, NULL},
      {"pd default url no key", NOTIFY_PAGERDUTY, NULL, NULL, NULL, NULL, NULL,
       NULL, false, 0, ".routing_key_env: "},
      {"pd key empty", NOTIFY_PAGERDUTY, NULL, NULL, "TEST_EMPTY", NULL, NULL,
       NULL, false, 0, ".routing_key_env: "},
      {"pd ok", NOTIFY_PAGERDUTY, NULL, NULL, "TEST_SET", NULL, NULL, NULL,
       false, 0, NULL},
      {"sms no sid", NOTIFY_SMS, NULL, NULL, "TEST_SET", NULL, "+1555", "+1666",
       false, 0, ".account_sid: "},
      {"sms bad sid", NOTIFY_SMS, NULL, NULL, "TEST_SET", "AC/../x", "+1555",
       "+1666", false, 0, ".account_sid: "},
      {"sms no token", NOTIFY_SMS, NULL, NULL, NULL, "AC1", "+1555", "+1666",
       false, 0, ".auth_token_env: "},
      {"sms token unset", NOTIFY_SMS, NULL, NULL, "TEST_UNSET", "AC1", "+1555",
       "+1666", false, 0, ".auth_token_env: "},
      {"sms no from", NOTIFY_SMS, NULL, NULL, "TEST_SET", "AC1", NULL, "+1666",
       false, 0, ".from: "},
      {"sms no to", NOTIFY_SMS, NULL, NULL, "TEST_SET", "AC1", "+1555", NULL,
       false, 0, ".to: "},
      {"sms ok", NOTIFY_SMS, NULL, NULL, "TEST_SET", "AC1", "+1555", "+1666",
       false, 0, NULL},
      {"email http", NOTIFY_EMAIL, "http://127.0.0.1:25", NULL, NULL, NULL,
       "a@b.example", "c@d.example", false, 0, ".url: "},
      {"email smtp ok", NOTIFY_EMAIL, "smtp://mail.example:587", NULL, NULL,
       NULL, "a@b.example", "c@d.example", false, 0, NULL},
      {"email smtps ok", NOTIFY_EMAIL, "smtps://mail.example", NULL, NULL, NULL,
       "a@b.example", "c@d.example", false, 0, NULL},
      {"email plain remote", NOTIFY_EMAIL, "smtp://mail.example:25", NULL, NULL,
       NULL, "a@b.example", "c@d.example", true, 0, ".starttls: "},
      {"email plain loopback", NOTIFY_EMAIL, "smtp://127.0.0.1:25", NULL, NULL,
       NULL, "a@b.example", "c@d.example", true, 0, NULL},
      {"email user no password", NOTIFY_EMAIL, "smtp://mail.example", NULL,
       NULL, "dto", "a@b.example", "c@d.example", false, 0, ".password_env: "},
      {"email password unset", NOTIFY_EMAIL, "smtp://mail.example", NULL,
       "TEST_UNSET", "dto", "a@b.example", "c@d.example", false, 0,
       ".password_env: "},
      {"email password no user", NOTIFY_EMAIL, "smtp://mail.example", NULL,
       "TEST_SET", NULL, "a@b.example", "c@d.example", false, 0, ".username: "},
      {"email login ok", NOTIFY_EMAIL, "smtp://mail.example", NULL, "TEST_SET",
       "dto", "a@b.example", "c@d.example", false, 0, NULL},
      {"email no from", NOTIFY_EMAIL, "smtp://mail.example", NULL, NULL, NULL,
       NULL, "c@d.example", false, 0, ".from: "},
      {"email bad from", NOTIFY_EMAIL, "smtp://mail.example", NULL, NULL, NULL,
       "a@b.example>\r\nBcc: x@y", "c@d.example", false, 0, ".from: "},
      {"email no to", NOTIFY_EMAIL, "smtp://mail.example", NULL, NULL, NULL,
       "a@b.example", NULL, false, 0, ".to: "},
      {"email bad to", NOTIFY_EMAIL, "smtp://mail.example", NULL, NULL, NULL,
       "a@b.example", "nobody", false, 0, ".to: "},
      {"timeout 0", NOTIFY_SLACK, "https://a.example/", NULL, NULL, NULL, NULL,
       NULL, false, -1, ".timeout: "},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++) {
    const ck *k = &cases[i];
    notify_channel c;
    memset(&c, 0, sizeof c);
    notify_channel_defaults(&c);
    snprintf(c.name, sizeof c.name, "ch%zu", i);
    c.kind = k->kind;
    c.url = k->url;
    c.url_env = k->url_env;
    c.secret_env = k->secret_env;
    c.username = k->username;
    c.from = k->from;
    if (k->to) {
      c.to[0] = k->to;
      c.nto = 1;
    }
    if (k->starttls_off)
      c.starttls = false;
    if (k->timeout < 0)
      c.timeout = 0;
    char err[512] = "";
    int rc = notify_channel_check(&c, err, sizeof err);
    if (!k->field) {
      if (rc)
        fail_msg("%s: unexpected error: %s", k->what, err);
      continue;
    }
    if (rc != DTO_EINVAL)
      fail_msg("%s: accepted", k->what);
    char want[128];
    snprintf(want, sizeof want, "alerts.channels.ch%zu%s", i, k->field);
    if (strncmp(err, want, strlen(want)))
      fail_msg("%s: '%s' does not start with '%s'", k->what, err, want);
    if (strstr(err, SECRET))
      fail_msg("%s: the secret is in '%s'", k->what, err);
    if (strstr(err, "hooks.example.com"))
      fail_msg("%s: a secret URL is in '%s'", k->what, err);
  }
  unsetenv("TEST_SET");
  unsetenv("TEST_EMPTY");
  unsetenv("TEST_URL_HTTP");
  unsetenv("TEST_URL_OK");
  unsetenv("TEST_URL_BAD");
}

static void test_names(void **st) {
  (void)st;
  for (int i = 0; i < NOTIFY_KIND_COUNT; i++) {
    enum notify_kind k;
    assert_int_equal(
        notify_kind_parse(notify_kind_name((enum notify_kind)i), &k), 0);
    assert_int_equal((int)k, i);
  }
  enum notify_kind k;
  assert_int_equal(notify_kind_parse("fax", &k), DTO_EINVAL);
  assert_string_equal(notify_kind_name(NOTIFY_KIND_COUNT), "?");
  assert_string_equal(notify_status_name(NOTIFY_RESOLVED), "resolved");
  notify_channel c;
  notify_channel_defaults(&c);
  assert_true(c.starttls);
  assert_int_equal(c.retries, 3);
  assert_true(c.timeout == 5 * DTO_NS_PER_SEC);
  assert_true(c.backoff == DTO_NS_PER_SEC);
  assert_true(c.max_backoff == 30 * DTO_NS_PER_SEC);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_json_shape),
      cmocka_unit_test(test_slack),
      cmocka_unit_test(test_teams),
      cmocka_unit_test(test_pagerduty),
      cmocka_unit_test(test_sms),
      cmocka_unit_test(test_alertmanager),
      cmocka_unit_test(test_webhook_signature),
      cmocka_unit_test(test_retry_then_delivered),
      cmocka_unit_test(test_dead_letter_500),
      cmocka_unit_test(test_timeout_dead_letter),
      cmocka_unit_test(test_stop_abandons),
      cmocka_unit_test(test_queue_full),
      cmocka_unit_test(test_unknown_channel),
      cmocka_unit_test(test_errors_hold_no_secret),
      cmocka_unit_test(test_redirect_and_big_body),
      cmocka_unit_test(test_channel_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
