/* http.c - the broker HTTP client over libcurl (http.h).
 *
 * One easy handle per client; curl_easy_reset() before each attempt clears
 * the options but keeps the connection cache, so the connection survives
 * from one request to the next.  Two locks: mu serializes the requests on
 * the handle (and guards the RNG and the counters), lim_mu guards only the
 * rate limiter's state, so that reserving a slot never waits for a
 * transfer.
 */
#include "broker/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"

struct http_client {
  pthread_mutex_t mu;
  pthread_mutex_t lim_mu;
  CURL *h;
  struct curl_slist *hdrs; /* owned; holds the keys: wiped before free */
  char *base;              /* owned */
  size_t baselen;
  long connect_ms, timeout_ms;
  int retries;
  int64_t backoff, max_backoff, max_retry_wait;
  size_t body_cap;
  http_hooks hooks;
  uint64_t rng;    /* under mu */
  int64_t lim_T;   /* ns between requests; 0: no limit */
  int64_t lim_tau; /* burst tolerance, ns */
  int64_t lim_tat; /* theoretical arrival time; under lim_mu */
  http_stats st;   /* under mu; limiter fields under lim_mu */
  char cerr[CURL_ERROR_SIZE];
};

const char *http_method_name(enum http_method m) {
  static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  return (unsigned)m < DTO_ARRAY_LEN(names) ? names[m] : "?";
}

bool http_method_idempotent(enum http_method m) {
  return m == HTTP_GET || m == HTTP_PUT || m == HTTP_DELETE;
}

/* ---- time ---------------------------------------------------------------- */

static int64_t real_mono(void *ctx) {
  DTO_UNUSED(ctx);
  return clock_mono_ns();
}

static int64_t real_wall(void *ctx) {
  struct timespec ts;
  DTO_UNUSED(ctx);
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

static void real_sleep(void *ctx, int64_t ns) {
  struct timespec ts = {(time_t)(ns / DTO_NS_PER_SEC),
                        (long)(ns % DTO_NS_PER_SEC)};
  DTO_UNUSED(ctx);
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
}

static void pause_ns(http_client *c, int64_t ns) {
  if (ns > 0)
    c->hooks.sleep_ns(c->hooks.ctx, ns);
}

/* splitmix64 */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Full jitter: uniform in [0, min(max_backoff, backoff * 2^k)]. */
static int64_t backoff_ns(http_client *c, int k) {
  int64_t cap = c->backoff;
  for (int i = 0; i < k && cap < c->max_backoff; i++)
    cap = cap > INT64_MAX / 2 ? INT64_MAX : cap * 2;
  if (cap > c->max_backoff)
    cap = c->max_backoff;
  if (cap <= 0)
    return 0;
  return (int64_t)(rng_next(&c->rng) % ((uint64_t)cap + 1));
}

/* Reserve the next slot of the rate limit (GCRA) and wait for it. */
static void limiter_take(http_client *c) {
  if (!c->lim_T)
    return;
  pthread_mutex_lock(&c->lim_mu);
  int64_t now = c->hooks.mono_ns(c->hooks.ctx);
  int64_t tat = c->lim_tat > now ? c->lim_tat : now;
  int64_t wait = tat - c->lim_tau - now;
  c->lim_tat = tat + c->lim_T;
  if (wait > 0) {
    c->st.limiter_waits++;
    c->st.limiter_wait_ns += wait;
  }
  pthread_mutex_unlock(&c->lim_mu);
  pause_ns(c, wait);
}

/* ---- life cycle ---------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

static bool printable(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
      return false;
  return true;
}

static void wipe_slist(struct curl_slist *l) {
  for (; l; l = l->next)
    explicit_bzero(l->data, strlen(l->data));
}

int http_client_new(const http_conf *conf, http_client **out, char *err,
                    size_t cap) {
  *out = NULL;
  if (!conf->base_url || !*conf->base_url || !printable(conf->base_url) ||
      strchr(conf->base_url, ' ')) {
    dto_seterr(err, cap,
               "http: no base URL, or one with a space or a "
               "control character");
    return DTO_EINVAL;
  }
  if (conf->connect_timeout <= 0 || conf->request_timeout <= 0 ||
      conf->retries < 0 || conf->retries > 100 || conf->backoff < 0 ||
      conf->max_backoff < 0 || conf->max_retry_wait < 0 ||
      conf->rate_limit_per_min < 0 || conf->rate_burst < 0 ||
      conf->nheaders > HTTP_MAX_HEADERS) {
    dto_seterr(err, cap, "http: a timeout, retry or limit out of range");
    return DTO_EINVAL;
  }
  for (size_t i = 0; i < conf->nheaders; i++) {
    const http_header *hd = &conf->headers[i];
    /* the value is not named: it may be a key */
    if (!hd->name || !hd->value || !*hd->name || !printable(hd->name) ||
        strchr(hd->name, ':') || strchr(hd->name, ' ') ||
        !printable(hd->value)) {
      dto_seterr(err, cap,
                 "http: header %zu (%.40s) is empty or has a "
                 "control character",
                 i + 1, hd->name && printable(hd->name) ? hd->name : "?");
      return DTO_EINVAL;
    }
  }
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK) {
    dto_seterr(err, cap, "http: libcurl failed to start: %s",
               curl_easy_strerror(curl_init_rc));
    return DTO_EIO;
  }

  http_client *c = xcalloc(1, sizeof *c);
  c->h = curl_easy_init();
  if (!c->h) {
    free(c);
    dto_seterr(err, cap, "http: libcurl failed to start");
    return DTO_EIO;
  }
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_init(&c->lim_mu, NULL);
  c->base = xstrdup(conf->base_url);
  c->baselen = strlen(c->base);
  while (c->baselen && c->base[c->baselen - 1] == '/')
    c->base[--c->baselen] = '\0';
  for (size_t i = 0; i < conf->nheaders; i++) {
    const http_header *hd = &conf->headers[i];
    size_t n = strlen(hd->name) + strlen(hd->value) + 3;
    char *line = xmalloc(n);
    snprintf(line, n, "%s: %s", hd->name, hd->value);
    struct curl_slist *l = curl_slist_append(c->hdrs, line);
    explicit_bzero(line, n);
    free(line);
    if (!l) {
      fprintf(stderr, "dto: out of memory\n");
      abort();
    }
    c->hdrs = l;
  }
  static const char *const fixed[] = {
      "Accept: application/json", "Content-Type: application/json", "Expect:"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(fixed); i++) {
    struct curl_slist *l = curl_slist_append(c->hdrs, fixed[i]);
    if (!l) {
      fprintf(stderr, "dto: out of memory\n");
      abort();
    }
    c->hdrs = l;
  }
  c->connect_ms = (long)((conf->connect_timeout + 999999) / 1000000);
  c->timeout_ms = (long)((conf->request_timeout + 999999) / 1000000);
  c->retries = conf->retries;
  c->backoff = conf->backoff;
  c->max_backoff = conf->max_backoff;
  c->max_retry_wait =
      conf->max_retry_wait ? conf->max_retry_wait : HTTP_MAX_RETRY_WAIT_DEFAULT;
  c->body_cap = conf->body_cap ? conf->body_cap : HTTP_BODY_CAP_DEFAULT;
  c->hooks = conf->hooks;
  if (!c->hooks.mono_ns)
    c->hooks.mono_ns = real_mono;
  if (!c->hooks.wall_ns)
    c->hooks.wall_ns = real_wall;
  if (!c->hooks.sleep_ns)
    c->hooks.sleep_ns = real_sleep;
  c->rng = c->hooks.seed ? c->hooks.seed
                         : (uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)c;
  if (conf->rate_limit_per_min > 0) {
    int burst =
        conf->rate_burst ? conf->rate_burst : conf->rate_limit_per_min / 20;
    if (burst < 1)
      burst = 1;
    c->lim_T = DTO_NS_PER_MIN / conf->rate_limit_per_min;
    c->lim_tau = (int64_t)(burst - 1) * c->lim_T;
  }
  *out = c;
  return 0;
}

void http_client_free(http_client *c) {
  if (!c)
    return;
  curl_easy_cleanup(c->h);
  wipe_slist(c->hdrs);
  curl_slist_free_all(c->hdrs);
  pthread_mutex_destroy(&c->mu);
  pthread_mutex_destroy(&c->lim_mu);
  free(c->base);
  free(c);
}

void http_response_release(http_response *resp) {
  free(resp->body);
  memset(resp, 0, sizeof *resp);
  resp->retry_after = resp->rl_limit = resp->rl_remaining = resp->rl_reset = -1;
}

void http_client_stats(http_client *c, http_stats *out) {
  pthread_mutex_lock(&c->mu);
  pthread_mutex_lock(&c->lim_mu);
  *out = c->st;
  pthread_mutex_unlock(&c->lim_mu);
  pthread_mutex_unlock(&c->mu);
}

/* ---- one attempt --------------------------------------------------------- */

typedef struct xfer {
  char *buf;
  size_t len, cap, limit;
  bool too_big;
  http_response *r;
} xfer;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  size_t add = size * n;
  if (add > x->limit - x->len) {
    x->too_big = true;
    return 0; /* curl stops with CURLE_WRITE_ERROR */
  }
  if (x->len + add + 1 > x->cap) {
    size_t want = x->len + add + 1;
    x->buf = xgrow(x->buf, &x->cap, want < 4096 ? 4096 : want, 1);
  }
  memcpy(x->buf + x->len, p, add);
  x->len += add;
  return add;
}

/* A header's value as a non-negative integer, or -1. */
static int64_t header_int(const char *v, size_t n) {
  while (n && (*v == ' ' || *v == '\t'))
    v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' ||
               v[n - 1] == '\n'))
    n--;
  if (!n || n > 18)
    return -1;
  int64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  size_t len = size * n;
  static const struct {
    const char *name;
    size_t off;
  } want[] = {
      {"retry-after", offsetof(http_response, retry_after)},
      {"x-ratelimit-limit", offsetof(http_response, rl_limit)},
      {"x-ratelimit-remaining", offsetof(http_response, rl_remaining)},
      {"x-ratelimit-reset", offsetof(http_response, rl_reset)},
  };
  if (len >= 5 && !memcmp(p, "HTTP/", 5)) { /* a new response (1xx, then) */
    x->r->retry_after = x->r->rl_limit = x->r->rl_remaining = x->r->rl_reset =
        -1;
    return len;
  }
  const char *colon = memchr(p, ':', len);
  if (!colon)
    return len;
  size_t nl = (size_t)(colon - p);
  for (size_t i = 0; i < DTO_ARRAY_LEN(want); i++)
    if (nl == strlen(want[i].name) && !strncasecmp(p, want[i].name, nl)) {
      int64_t *dst = (int64_t *)(void *)((char *)x->r + want[i].off);
      *dst = header_int(colon + 1, len - nl - 1);
    }
  return len;
}

/* Run one transfer.  Returns the CURLcode; *status when CURLE_OK. */
static CURLcode attempt(http_client *c, enum http_method m, const char *url,
                        const char *body, size_t blen, xfer *x, long *status) {
  CURL *h = c->h;
  curl_easy_reset(h);
  c->cerr[0] = '\0';
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->cerr);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->limit);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
  switch (m) {
  case HTTP_GET:
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    break;
  case HTTP_POST:
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    break;
  default:
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, http_method_name(m));
    break;
  }
  if (body || m == HTTP_POST) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
  }
  x->len = 0;
  x->too_big = false;
  CURLcode cc = curl_easy_perform(h);
  if (cc == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  return cc;
}

static bool cc_retryable(CURLcode cc) {
  switch (cc) {
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return true;
  default:
    return false;
  }
}

/* How long a 429 asks to wait, ns; -1 when it does not say. */
static int64_t wait_429(http_client *c, const http_response *r) {
  if (r->retry_after >= 0)
    return r->retry_after * DTO_NS_PER_SEC;
  if (r->rl_reset >= 0) {
    int64_t now = c->hooks.wall_ns(c->hooks.ctx);
    int64_t at = r->rl_reset > INT64_MAX / DTO_NS_PER_SEC
                     ? INT64_MAX
                     : r->rl_reset * DTO_NS_PER_SEC;
    return at > now ? at - now : 0;
  }
  return -1;
}

int http_request(http_client *c, enum http_method method, const char *path,
                 const char *body, http_response *resp, char *err, size_t cap) {
  const char *mname = http_method_name(method);
  memset(resp, 0, sizeof *resp);
  resp->retry_after = resp->rl_limit = resp->rl_remaining = resp->rl_reset = -1;
  if ((unsigned)method >= HTTP_METHOD_COUNT) {
    dto_seterr(err, cap, "http: unknown method %d", (int)method);
    return DTO_EINVAL;
  }
  if (!path || path[0] != '/' || strlen(path) >= HTTP_PATH_MAX ||
      !printable(path) || strchr(path, ' ')) {
    dto_seterr(err, cap,
               "%s: the path must start with '/' and hold no "
               "space or control character (at most %d bytes)",
               mname, HTTP_PATH_MAX - 1);
    return DTO_EINVAL;
  }
  size_t blen = body ? strlen(body) : 0;
  if (blen > c->body_cap) {
    dto_seterr(err, cap,
               "%s %s: request body of %zu bytes is over the cap "
               "of %zu",
               mname, path, blen, c->body_cap);
    return DTO_ETOOBIG;
  }
  size_t ulen = c->baselen + strlen(path) + 1;
  char *url = xmalloc(ulen);
  snprintf(url, ulen, "%s%s", c->base, path);

  int rc = 0;
  bool idem = http_method_idempotent(method);
  xfer x = {.limit = c->body_cap, .r = resp};
  pthread_mutex_lock(&c->mu);
  c->st.requests++;
  for (int k = 0;; k++) {
    long status = 0;
    limiter_take(c);
    c->st.attempts++;
    if (k)
      c->st.retries++;
    resp->attempts = k + 1;
    CURLcode cc = attempt(c, method, url, body, blen, &x, &status);
    bool last = !idem || k >= c->retries;
    if (cc != CURLE_OK) {
      if (x.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        dto_seterr(err, cap, "%s %s: response body over the cap of %zu bytes",
                   mname, path, c->body_cap);
        rc = DTO_ETOOBIG;
        break;
      }
      if (last || !cc_retryable(cc)) {
        const char *why = c->cerr[0] ? c->cerr : curl_easy_strerror(cc);
        if (cc == CURLE_OPERATION_TIMEDOUT)
          dto_seterr(err, cap, "%s %s: timed out (%s; %d attempt%s)", mname,
                     path, why, k + 1, k ? "s" : "");
        else
          dto_seterr(err, cap, "%s %s: %s (%d attempt%s)", mname, path, why,
                     k + 1, k ? "s" : "");
        rc = cc == CURLE_OPERATION_TIMEDOUT ? DTO_EAGAIN : DTO_EIO;
        break;
      }
      pause_ns(c, backoff_ns(c, k));
      continue;
    }
    resp->status = (int)status;
    bool retry_status = status == 429 || (status >= 500 && status <= 599);
    if (last || !retry_status)
      break;
    int64_t wait = status == 429 ? wait_429(c, resp) : -1;
    if (wait > c->max_retry_wait)
      break; /* the caller gets the 429 and its headers */
    pause_ns(c, wait >= 0 ? wait : backoff_ns(c, k));
  }
  pthread_mutex_unlock(&c->mu);
  free(url);
  if (rc) {
    free(x.buf);
    memset(resp, 0, sizeof *resp);
    resp->retry_after = resp->rl_limit = resp->rl_remaining = resp->rl_reset =
        -1;
    return rc;
  }
  if (!x.buf)
    x.buf = xmalloc(1);
  x.buf[x.len] = '\0';
  resp->body = x.buf;
  resp->len = x.len;
  return 0;
}
