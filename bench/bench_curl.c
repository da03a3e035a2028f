/* bench_curl.c - the references for dto's Alpaca path (bench_alpaca.py).
 *
 *   bench_curl rtt BASE_URL N order|clock [TIMES_FILE]
 *     A bare libcurl easy handle, kept alive, doing N requests to the fake
 *     Alpaca (tests/fakes/alpaca) one after the other on one thread, each
 *     round trip timed with clock_gettime(CLOCK_MONOTONIC):
 *       order: POST /v2/orders of a limit buy of 1 AAPL at $1.00, gtc (far
 *              below the market: it never fills), the request dto sends;
 *       clock: GET /v2/clock (the fake's cheapest authenticated answer).
 *     10 requests before the N warm the connection and are not counted.
 *     Prints p50, p99 and max; with TIMES_FILE, one line per timed request:
 *     "CLIENT_ORDER_ID|- START_NS END_NS", so that bench_alpaca.py can take
 *     the one-way time from the start of a request to its arrival in the
 *     fake (the fake logs arrivals with the same CLOCK_MONOTONIC).
 *
 *   bench_curl react BASE_URL WS_URL N [TIMES_FILE]
 *     The least a client can do on the path bench_alpaca.py measures for
 *     dto: on one thread, a WebSocket connection to the fake's market data
 *     stream (dto's own thin client, src/broker/ws.c, one libwebsockets
 *     context serviced inside the calls) authenticated and subscribed to
 *     AAPL's bars, and a kept-alive libcurl handle; every message with a
 *     bar is answered at once with POST /v2/orders (market day, qty 1,
 *     buy and sell in turn).  No parsing beyond finding "T":"b", no engine,
 *     no queue, no threads.  Stops after N orders, or when no message came
 *     for 15 s.  The fake's timestamps give the latency exactly as for dto;
 *     with TIMES_FILE, one line per order: "CLIENT_ORDER_ID RECV_NS
 *     START_NS END_NS" (message received, POST started and answered).
 *
 * Keys: APCA_API_KEY_ID / APCA_API_SECRET_KEY, else the fake's defaults
 * FAKEKEY / FAKESECRET.
 */
#include "core/prelude.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <time.h>
#include <unistd.h>

#include "broker/ws.h"
#include "core/buf.h"
#include "core/error.h"

#define WARMUP 10

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* the sorted v's p-th percentile (nearest rank) */
static int64_t pct(const int64_t *v, size_t n, double p) {
  size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
  if (k < 1)
    k = 1;
  if (k > n)
    k = n;
  return v[k - 1];
}

static size_t discard(char *p, size_t sz, size_t n, void *u) {
  (void)p;
  (void)u;
  return sz * n;
}

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

typedef struct client {
  CURL *h;
  struct curl_slist *hdr;
  char url_orders[512], url_clock[512];
} client;

static void client_init(client *c, const char *base) {
  char line[512];
  c->h = curl_easy_init();
  if (!c->h) {
    fprintf(stderr, "bench_curl: curl_easy_init failed\n");
    exit(1);
  }
  snprintf(c->url_orders, sizeof c->url_orders, "%s/v2/orders", base);
  snprintf(c->url_clock, sizeof c->url_clock, "%s/v2/clock", base);
  c->hdr = NULL;
  snprintf(line, sizeof line, "APCA-API-KEY-ID: %s",
           env_or("APCA_API_KEY_ID", "FAKEKEY"));
  c->hdr = curl_slist_append(c->hdr, line);
  snprintf(line, sizeof line, "APCA-API-SECRET-KEY: %s",
           env_or("APCA_API_SECRET_KEY", "FAKESECRET"));
  c->hdr = curl_slist_append(c->hdr, line);
  c->hdr = curl_slist_append(c->hdr, "Content-Type: application/json");
  c->hdr = curl_slist_append(c->hdr, "Expect:");
  curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdr);
  curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
}

static void client_free(client *c) {
  curl_easy_cleanup(c->h);
  curl_slist_free_all(c->hdr);
}

/* One request; body NULL: GET /v2/clock.  The HTTP status, or -1. */
static long request(client *c, const char *body) {
  if (body) {
    curl_easy_setopt(c->h, CURLOPT_URL, c->url_orders);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
  } else {
    curl_easy_setopt(c->h, CURLOPT_URL, c->url_clock);
    curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
  }
  CURLcode rc = curl_easy_perform(c->h);
  if (rc != CURLE_OK) {
    fprintf(stderr, "bench_curl: %s\n", curl_easy_strerror(rc));
    return -1;
  }
  long status = 0;
  curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

static void print_stats(const char *what, int64_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_i64);
  printf("%s: %zu, p50 %.1f us, p99 %.1f us, max %.1f us\n", what, n,
         (double)pct(v, n, 50) / 1e3, (double)pct(v, n, 99) / 1e3,
         (double)v[n - 1] / 1e3);
}

static int run_rtt(const char *base, size_t n, const char *kind,
                   const char *times_path) {
  bool order = strcmp(kind, "order") == 0;
  if (!order && strcmp(kind, "clock") != 0) {
    fprintf(stderr, "bench_curl: kind must be order or clock\n");
    return 2;
  }
  client c;
  client_init(&c, base);
  int64_t *rtt = calloc(n, sizeof *rtt);
  if (!rtt)
    return 1;
  FILE *tf = times_path ? fopen(times_path, "w") : NULL;
  if (times_path && !tf) {
    perror(times_path);
    return 1;
  }
  char body[512], coid[64];
  long pid = (long)getpid();
  for (size_t i = 0; i < n + WARMUP; i++) {
    snprintf(coid, sizeof coid, "bench-curl-%ld-%zu", pid, i);
    snprintf(body, sizeof body,
             "{\"symbol\":\"AAPL\",\"qty\":\"1\",\"side\":\"buy\","
             "\"type\":\"limit\",\"limit_price\":\"1.00\","
             "\"time_in_force\":\"gtc\",\"client_order_id\":\"%s\"}",
             coid);
    int64_t t0 = mono_ns();
    long st = request(&c, order ? body : NULL);
    int64_t t1 = mono_ns();
    if (st != 200) {
      fprintf(stderr, "bench_curl: %s answered %ld\n",
              order ? "POST /v2/orders" : "GET /v2/clock", st);
      return 1;
    }
    if (i < WARMUP)
      continue;
    rtt[i - WARMUP] = t1 - t0;
    if (tf)
      fprintf(tf, "%s %" PRId64 " %" PRId64 "\n", order ? coid : "-", t0, t1);
  }
  if (tf)
    fclose(tf);
  print_stats(order ? "curl POST /v2/orders round trip (limit, never fills)"
                    : "curl GET /v2/clock round trip",
              rtt, n);
  free(rtt);
  client_free(&c);
  return 0;
}

/* Wait for a message containing needle; 0, or -1 with a message. */
static int expect(ws_conn *w, dbuf *msg, const char *needle) {
  bool bin;
  for (;;) {
    int rc = ws_recv(w, msg, &bin, 5 * (int64_t)1000000000);
    if (rc != 0) {
      fprintf(stderr, "bench_curl: waiting for %s: %s\n", needle,
              rc == DTO_EAGAIN ? "timeout" : ws_error(w));
      return -1;
    }
    if (strstr(msg->ptr, needle))
      return 0;
    if (strstr(msg->ptr, "\"T\":\"error\"")) {
      fprintf(stderr, "bench_curl: data stream: %s\n", msg->ptr);
      return -1;
    }
  }
}

static int run_react(const char *base, const char *wsurl, size_t n,
                     const char *times_path) {
  client c;
  client_init(&c, base);
  if (request(&c, NULL) != 200) /* connect the HTTP handle first */
    return 1;
  char err[256], buf[512];
  ws_conn *w = NULL;
  if (ws_open(wsurl, NULL, &w, err, sizeof err) != 0) {
    fprintf(stderr, "bench_curl: %s\n", err);
    return 1;
  }
  dbuf msg;
  dbuf_init(&msg, 1u << 22);
  if (expect(w, &msg, "connected"))
    return 1;
  snprintf(buf, sizeof buf,
           "{\"action\":\"auth\",\"key\":\"%s\","
           "\"secret\":\"%s\"}",
           env_or("APCA_API_KEY_ID", "FAKEKEY"),
           env_or("APCA_API_SECRET_KEY", "FAKESECRET"));
  if (ws_send(w, buf, strlen(buf), false, 5 * (int64_t)1000000000) != 0 ||
      expect(w, &msg, "authenticated"))
    return 1;
  const char *sub = "{\"action\":\"subscribe\",\"bars\":[\"AAPL\"]}";
  if (ws_send(w, sub, strlen(sub), false, 5 * (int64_t)1000000000) != 0 ||
      expect(w, &msg, "\"T\":\"subscription\""))
    return 1;
  printf("react: subscribed\n");
  fflush(stdout);
  FILE *tf = times_path ? fopen(times_path, "w") : NULL;
  if (times_path && !tf) {
    perror(times_path);
    return 1;
  }
  long pid = (long)getpid();
  size_t sent = 0, refused = 0;
  while (sent < n) {
    bool bin;
    int rc = ws_recv(w, &msg, &bin, 15 * (int64_t)1000000000);
    if (rc == DTO_EAGAIN)
      break;
    if (rc != 0) {
      fprintf(stderr, "bench_curl: data stream: %s\n", ws_error(w));
      break;
    }
    int64_t trecv = mono_ns();
    if (!strstr(msg.ptr, "\"T\":\"b\""))
      continue;
    char coid[64];
    snprintf(coid, sizeof coid, "bench-react-%ld-%zu", pid, sent);
    snprintf(buf, sizeof buf,
             "{\"symbol\":\"AAPL\",\"qty\":\"1\",\"side\":\"%s\","
             "\"type\":\"market\",\"time_in_force\":\"day\","
             "\"client_order_id\":\"%s\"}",
             sent % 2 ? "sell" : "buy", coid);
    int64_t t0 = mono_ns();
    long st = request(&c, buf);
    int64_t t1 = mono_ns();
    if (st != 200)
      refused++;
    if (tf)
      fprintf(tf, "%s %" PRId64 " %" PRId64 " %" PRId64 "\n", coid, trecv, t0,
              t1);
    sent++;
  }
  if (tf)
    fclose(tf);
  printf("react: %zu orders sent, %zu refused\n", sent, refused);
  dbuf_release(&msg);
  ws_close(w);
  client_free(&c);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "rtt") == 0) {
    long n = strtol(argv[3], NULL, 10);
    if (n < 1)
      n = 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run_rtt(argv[2], (size_t)n, argv[4], argc > 5 ? argv[5] : NULL);
    curl_global_cleanup();
    return rc;
  }
  if (argc >= 5 && strcmp(argv[1], "react") == 0) {
    long n = strtol(argv[4], NULL, 10);
    if (n < 1)
      n = 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run_react(argv[2], argv[3], (size_t)n, argc > 5 ? argv[5] : NULL);
    curl_global_cleanup();
    return rc;
  }
  fprintf(stderr, "usage: bench_curl rtt BASE_URL N order|clock [TIMES]\n"
                  "       bench_curl react BASE_URL WS_URL N [TIMES]\n");
  return 2;
}
