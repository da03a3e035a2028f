/* test_alpaca_md.c - the Alpaca market data source against the fake Alpaca
 * (tests/fakes/alpaca/fake_alpaca.py, started as a subprocess on a loopback
 * port): bars equal to the CSV given to the fake, exactly; trades and
 * quotes; unknown symbols and values fx cannot hold counted; a dropped
 * stream reconnected and subscribed again; a wrong secret stops the source
 * after one attempt; a 406 (connection limit) backed off and retried; the
 * REST warm-up, paged, equal to the CSV.
 *
 * The fake is found under $DTO_ROOT (default: the current directory, the
 * repository root when run by make).  Every wait is bounded. */
#include "core/prelude.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/alpaca_md.h"
#include "broker/alpaca_json.h"
#include "broker/http.h"
#include "broker/ws.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/timeutil.h"

extern char **environ;

#define KEY "PKTESTKEY"
#define SECRET "test-secret-42"
#define MS (1000 * 1000LL)
#define NT 10 /* timestamps in the CSV */

/* ---- the market given to the fake -----------------------------------------
 */

/* AAPL and MSFT trade; ZZZ is subscribed as an extra symbol (unknown to the
 * table); ODD's prices need 9 decimals (refused), at the first timestamp
 * only. */
static const char *const aapl[NT][5] = {
    {"190.5", "191.25", "190.1", "191", "12000"},
    {"191", "191.5", "190.75", "191.3", "8000"},
    {"191.3", "192.0001", "191.2", "191.9999", "9100"},
    {"191.9999", "192.5", "191.5", "192.1", "7000"},
    {"192.1", "192.2", "191.0", "191.05", "15000"},
    {"191.05", "191.8", "190.9", "191.75", "6000"},
    {"191.75", "192.9", "191.7", "192.8", "11000"},
    {"192.8", "193.1", "192.5", "193", "10400"},
    {"193", "193.45", "192.95", "193.4", "9900"},
    {"193.4", "193.5", "192.6", "192.7", "8800"},
};
static const char *const msft[NT][5] = {
    {"420.12", "421", "419.5", "420.5", "5000"},
    {"420.5", "420.75", "419.25", "419.5", "4000"},
    {"419.5", "420", "418.8", "419.99", "4500"},
    {"419.99", "421.11", "419.9", "421", "3900"},
    {"421", "421.5", "420.2", "420.3", "4100"},
    {"420.3", "420.9", "420", "420.8", "4200"},
    {"420.8", "422", "420.7", "421.9", "6100"},
    {"421.9", "422.1", "421.05", "421.1", "3000"},
    {"421.1", "421.3", "420.0", "420.01", "3300"},
    {"420.01", "420.5", "419.8", "420.4", "2500"},
};
static const char *const t0_text = "2025-01-06T14:30:00Z";

static dto_time t0(void) {
  dto_time t;
  assert_int_equal(time_parse_cstr(t0_text, &t), 0);
  return t;
}

static fx F(const char *s) {
  fx v;
  assert_int_equal(fx_parse_cstr(s, &v), 0);
  return v;
}

static bar expected(const char *const row[5], dto_time ts, sym_id sym) {
  bar b;
  memset(&b, 0, sizeof b);
  b.ts = ts;
  b.dur = DTO_NS_PER_MIN;
  b.open = F(row[0]);
  b.high = F(row[1]);
  b.low = F(row[2]);
  b.close = F(row[3]);
  b.volume = F(row[4]);
  b.sym = sym;
  return b;
}

static void assert_bar_eq(const bar *got, const bar *want) {
  assert_int_equal(got->ts, want->ts);
  assert_int_equal(got->dur, want->dur);
  assert_int_equal(got->open, want->open);
  assert_int_equal(got->high, want->high);
  assert_int_equal(got->low, want->low);
  assert_int_equal(got->close, want->close);
  assert_int_equal(got->volume, want->volume);
  assert_int_equal(got->sym, want->sym);
}

/* ---- the fake process -----------------------------------------------------
 */

typedef struct fake {
  pid_t pid;
  int port;
  char dir[64];
  http_client *ctl;
} fake;

static fake FK;

static void write_csv(const char *path) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "time,symbol,open,high,low,close,volume\n");
  for (int i = 0; i < NT; i++) {
    char ts[40];
    time_format(t0() + i * DTO_NS_PER_MIN, ts, sizeof ts);
    fprintf(f, "%s,AAPL,%s,%s,%s,%s,%s\n", ts, aapl[i][0], aapl[i][1],
            aapl[i][2], aapl[i][3], aapl[i][4]);
    fprintf(f, "%s,MSFT,%s,%s,%s,%s,%s\n", ts, msft[i][0], msft[i][1],
            msft[i][2], msft[i][3], msft[i][4]);
    fprintf(f, "%s,ZZZ,10,10.5,9.5,10.25,100\n", ts);
    if (i == 0)
      fprintf(f,
              "%s,ODD,10.123456789,10.123456789,10.123456789,"
              "10.123456789,100\n",
              ts);
  }
  assert_int_equal(fclose(f), 0);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

static int fake_start(void **state) {
  DTO_UNUSED(state);
  const char *root = getenv("DTO_ROOT");
  if (!root || !*root)
    root = ".";
  char script[1024], csv[128], portf[128];
  snprintf(script, sizeof script, "%s/tests/fakes/alpaca/fake_alpaca.py", root);
  if (access(script, R_OK)) {
    fprintf(stderr, "fake Alpaca not found at %s (set DTO_ROOT)\n", script);
    return -1;
  }
  snprintf(FK.dir, sizeof FK.dir, "/tmp/dto-amd-XXXXXX");
  if (!mkdtemp(FK.dir))
    return -1;
  snprintf(csv, sizeof csv, "%s/bars.csv", FK.dir);
  snprintf(portf, sizeof portf, "%s/port", FK.dir);
  write_csv(csv);
  char *argv[] = {
      "/usr/bin/python3", script, "--host",        "127.0.0.1", "--port", "0",
      "--port-file",      portf,  "--bars",        csv,         "--key",  KEY,
      "--secret",         SECRET, "--max-seconds", "120",       NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (posix_spawn(&FK.pid, argv[0], &fa, NULL, argv, environ)) {
    posix_spawn_file_actions_destroy(&fa);
    return -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  for (int i = 0; i < 500 && !FK.port; i++) { /* 10 s */
    FILE *f = fopen(portf, "r");
    if (f) {
      if (fscanf(f, "%d", &FK.port) != 1)
        FK.port = 0;
      fclose(f);
    }
    int st;
    if (!FK.port && waitpid(FK.pid, &st, WNOHANG) == FK.pid) {
      FK.pid = 0;
      fprintf(stderr, "fake Alpaca exited before listening\n");
      return -1;
    }
    if (!FK.port)
      sleep_ms(20);
  }
  if (!FK.port) {
    fprintf(stderr, "fake Alpaca did not start within 10 s\n");
    return -1;
  }
  char base[64], err[256];
  snprintf(base, sizeof base, "http://127.0.0.1:%d", FK.port);
  http_conf hc;
  memset(&hc, 0, sizeof hc);
  hc.base_url = base;
  hc.connect_timeout = 5 * DTO_NS_PER_SEC;
  hc.request_timeout = 10 * DTO_NS_PER_SEC;
  if (http_client_new(&hc, &FK.ctl, err, sizeof err)) {
    fprintf(stderr, "control client: %s\n", err);
    return -1;
  }
  return 0;
}

static int fake_stop(void **state) {
  DTO_UNUSED(state);
  http_client_free(FK.ctl);
  FK.ctl = NULL;
  if (FK.pid > 0) {
    kill(FK.pid, SIGTERM);
    int st;
    bool gone = false;
    for (int i = 0; i < 250 && !gone; i++) { /* 5 s */
      if (waitpid(FK.pid, &st, WNOHANG) == FK.pid)
        gone = true;
      else
        sleep_ms(20);
    }
    if (!gone) {
      kill(FK.pid, SIGKILL);
      waitpid(FK.pid, &st, 0);
    }
    FK.pid = 0;
  }
  if (FK.dir[0]) {
    char p[128];
    snprintf(p, sizeof p, "%s/bars.csv", FK.dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/port", FK.dir);
    unlink(p);
    rmdir(FK.dir);
  }
  return 0;
}

/* POST a control call; the answer's status must be 200. */
static void ctl(const char *path, const char *body) {
  http_response r;
  char err[256];
  assert_int_equal(
      http_request(FK.ctl, HTTP_POST, path, body, &r, err, sizeof err), 0);
  if (r.status != 200)
    fprintf(stderr, "%s: HTTP %d %s\n", path, r.status, r.body);
  assert_int_equal(r.status, 200);
  http_response_release(&r);
}

static int reset(void **state) {
  DTO_UNUSED(state);
  ctl("/_fake/reset", "{}");
  return 0;
}

/* ---- fixtures -------------------------------------------------------------
 */

static void conf_for(alpaca_conf *c, const char *secret) {
  memset(c, 0, sizeof *c);
  c->feed = ALPACA_FEED_IEX;
  snprintf(c->trading_url, sizeof c->trading_url, "http://127.0.0.1:%d",
           FK.port);
  snprintf(c->data_url, sizeof c->data_url, "http://127.0.0.1:%d", FK.port);
  snprintf(c->stream_url, sizeof c->stream_url, "ws://127.0.0.1:%d/stream",
           FK.port);
  snprintf(c->data_stream_url, sizeof c->data_stream_url,
           "ws://127.0.0.1:%d/v2/iex", FK.port);
  snprintf(c->key_id, sizeof c->key_id, "%s", KEY);
  snprintf(c->secret, sizeof c->secret, "%s", secret);
  c->connect_timeout = 5 * DTO_NS_PER_SEC;
  c->request_timeout = 10 * DTO_NS_PER_SEC;
  c->retries = 1;
  c->backoff = 50 * MS;
  c->max_backoff = 200 * MS;
  c->rate_limit_per_min = 1000;
}

static void table(instrument_table *t) {
  instruments_init(t);
  static const char *const syms[] = {"AAPL", "MSFT", "ODD"};
  for (size_t i = 0; i < 3; i++) {
    instrument in;
    memset(&in, 0, sizeof in);
    snprintf(in.symbol, sizeof in.symbol, "%s", syms[i]);
    in.tick = FX_ONE / 100;
    in.lot = FX_ONE;
    memcpy(in.currency, "USD", 4);
    assert_int_equal(instruments_add(t, &in, NULL), 0);
  }
}

static inq *queue(void) {
  inq_config qc = {.capacity = 4096, .nsyms = 3, .conflate = true};
  inq *q = NULL;
  assert_int_equal(inq_new(&qc, &q), 0);
  return q;
}

static const char *const extra[] = {"ZZZ", NULL};

static alpaca_md_opts fast_opts(void) {
  alpaca_md_opts o;
  memset(&o, 0, sizeof o);
  o.backoff_min = 50 * MS;
  o.backoff_max = 400 * MS;
  o.conn_limit_backoff = 300 * MS;
  o.handshake_timeout = 5 * DTO_NS_PER_SEC;
  o.seed = 7;
  o.extra_symbols = extra;
  return o;
}

static alpaca_md_stats stats(source *s) {
  alpaca_md_stats st;
  alpaca_md_get_stats(s, &st);
  return st;
}

/* Wait up to ms for cond(s) */
#define WAIT_FOR(cond, ms)                                                     \
  do {                                                                         \
    int64_t dl__ = clock_mono_ns() + (int64_t)(ms)*MS;                         \
    while (!(cond) && clock_mono_ns() < dl__)                                  \
      sleep_ms(5);                                                             \
  } while (0)

/* Events popped so far, by kind and instrument. */
typedef struct got {
  bar bars[2][NT + 4];
  size_t nbars[2];
  trade trades[2][4 * (NT + 4)];
  size_t ntrades[2];
  size_t nquotes[2];
  quote last_quote[2];
  size_t other; /* events of another sym or kind */
  uint32_t bad_src;
} got;

static void drain(inq *q, got *g) {
  inq_event ev[64];
  size_t n;
  while ((n = inq_pop_batch(q, ev, 64)) > 0) {
    for (size_t i = 0; i < n; i++) {
      if (ev[i].src != 3)
        g->bad_src++;
      switch (ev[i].kind) {
      case INQ_BAR:
        if (ev[i].u.bar.sym < 2 && g->nbars[ev[i].u.bar.sym] < NT + 4)
          g->bars[ev[i].u.bar.sym][g->nbars[ev[i].u.bar.sym]++] = ev[i].u.bar;
        else
          g->other++;
        break;
      case INQ_TRADE:
        if (ev[i].u.trade.sym < 2 &&
            g->ntrades[ev[i].u.trade.sym] < 4 * (NT + 4))
          g->trades[ev[i].u.trade.sym][g->ntrades[ev[i].u.trade.sym]++] =
              ev[i].u.trade;
        else
          g->other++;
        break;
      case INQ_QUOTE:
        if (ev[i].u.quote.sym < 2) {
          g->nquotes[ev[i].u.quote.sym]++;
          g->last_quote[ev[i].u.quote.sym] = ev[i].u.quote;
        } else {
          g->other++;
        }
        break;
      default:
        g->other++;
      }
    }
  }
}

static void wait_bars(inq *q, got *g, size_t n) {
  int64_t dl = clock_mono_ns() + 10 * DTO_NS_PER_SEC;
  while ((g->nbars[0] < n || g->nbars[1] < n) && clock_mono_ns() < dl) {
    if (inq_wait(q, 20 * MS) == 0)
      drain(q, g);
  }
  assert_true(g->nbars[0] >= n);
  assert_true(g->nbars[1] >= n);
}

/* ---- tests ----------------------------------------------------------------
 */

static void test_stream_reconnect_stop(void **state) {
  DTO_UNUSED(state);
  alpaca_conf c;
  conf_for(&c, SECRET);
  instrument_table t;
  table(&t);
  inq *q = queue();
  alpaca_md_opts o = fast_opts();
  source *s = source_alpaca_new(&c, &t, q, 3, &o);
  assert_non_null(s);
  assert_true(source_is_alpaca(s));
  assert_int_equal(s->ops->clock, SOURCE_CLOCK_REAL);
  assert_int_equal(stats(s).state, ALPACA_MD_IDLE);
  assert_true(alpaca_md_stale(s, 0, 0, DTO_NS_PER_SEC));
  assert_int_equal(source_start(s), 0);
  WAIT_FOR(stats(s).sessions == 1, 10000);
  alpaca_md_stats st = stats(s);
  assert_int_equal(st.sessions, 1);
  assert_int_equal(st.state, ALPACA_MD_STREAMING);
  assert_int_equal(st.connects, 1);
  assert_int_equal(st.sub_missing, 0);

  ctl("/_fake/step", "{\"n\":3}");
  got *g = calloc(1, sizeof *g);
  assert_non_null(g);
  wait_bars(q, g, 3);
  for (sym_id k = 0; k < 2; k++) {
    assert_int_equal(g->nbars[k], 3);
    for (int i = 0; i < 3; i++) {
      bar want =
          expected(k == 0 ? aapl[i] : msft[i], t0() + i * DTO_NS_PER_MIN, k);
      assert_bar_eq(&g->bars[k][i], &want);
    }
  }
  /* the trades and quotes came before their bars, in the same frames */
  drain(q, g);
  for (sym_id k = 0; k < 2; k++) {
    assert_int_equal(g->ntrades[k], 12);
    assert_int_equal(g->nquotes[k], 3);
    /* the fake's first trade of a bar: its open, 1 s (+123 ns) in */
    assert_int_equal(g->trades[k][0].price,
                     F(k == 0 ? aapl[0][0] : msft[0][0]));
    assert_int_equal(g->trades[k][0].ts, t0() + DTO_NS_PER_SEC + 123);
    assert_int_equal(g->trades[k][0].sym, k);
    /* the last quote: close -/+ 0.01 */
    fx close = F(k == 0 ? aapl[2][3] : msft[2][3]);
    assert_int_equal(g->last_quote[k].bid, close - FX_ONE / 100);
    assert_int_equal(g->last_quote[k].ask, close + FX_ONE / 100);
  }
  assert_int_equal(g->other, 0);
  assert_int_equal(g->bad_src, 0);
  /* ZZZ: 4 trades, a quote and a bar a step; ODD: the same, refused once */
  WAIT_FOR(stats(s).unknown == 18, 5000);
  st = stats(s);
  assert_int_equal(st.unknown, 18);
  assert_int_equal(st.refused, 6);
  assert_int_equal(st.bars, 6);
  assert_int_equal(st.trades, 24);
  assert_int_equal(st.quotes, 6);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(st.malformed, 0);
  assert_int_equal(st.frames, 6); /* connected, authenticated, subscription,
                                     3 steps */
  /* staleness: AAPL just heard from, ODD never */
  dto_clock rc;
  clock_real_init(&rc);
  dto_time rx = 0, ts = 0;
  assert_true(alpaca_md_last(s, 0, &rx, &ts));
  assert_true(rx > 0);
  assert_int_equal(ts, t0() + 2 * DTO_NS_PER_MIN); /* the bar, last */
  assert_false(alpaca_md_stale(s, 0, clock_now(&rc), 60 * DTO_NS_PER_SEC));
  assert_true(alpaca_md_stale(s, 0, clock_now(&rc) + 61 * DTO_NS_PER_SEC,
                              60 * DTO_NS_PER_SEC));
  assert_true(alpaca_md_stale(s, 2, clock_now(&rc), 60 * DTO_NS_PER_SEC));
  assert_false(alpaca_md_last(s, 3, &rx, &ts));

  /* the stream drops: reconnect, authenticate, subscribe, flow again */
  ctl("/_fake/faults", "{\"drop_data_stream\":true}");
  WAIT_FOR(stats(s).sessions == 2, 10000);
  st = stats(s);
  assert_int_equal(st.sessions, 2);
  assert_int_equal(st.reconnects, 1);
  assert_int_equal(st.connects, 2);
  assert_int_equal(st.disconnects, 1);
  assert_int_equal(st.state, ALPACA_MD_STREAMING);
  ctl("/_fake/step", "{\"n\":2}");
  wait_bars(q, g, 5);
  for (sym_id k = 0; k < 2; k++) {
    assert_int_equal(g->nbars[k], 5);
    for (int i = 3; i < 5; i++) {
      bar want =
          expected(k == 0 ? aapl[i] : msft[i], t0() + i * DTO_NS_PER_MIN, k);
      assert_bar_eq(&g->bars[k][i], &want);
    }
  }
  /* a stop is seen within a receive slice */
  int64_t a = clock_mono_ns();
  source_stop(s);
  pthread_join(s->th, NULL);
  s->started = false;
  int64_t took = clock_mono_ns() - a;
  if (took >= 1000 * MS)
    fprintf(stderr, "stop took %lld ms\n", (long long)(took / MS));
  assert_true(took < 1000 * MS);
  assert_int_equal(s->result, 0);
  assert_int_equal(stats(s).state, ALPACA_MD_STOPPED);
  source_free(s);
  free(g);
  inq_free(q);
  instruments_release(&t);
}

static void test_wrong_secret_stops(void **state) {
  DTO_UNUSED(state);
  alpaca_conf c;
  conf_for(&c, "not-the-secret");
  instrument_table t;
  table(&t);
  inq *q = queue();
  alpaca_md_opts o = fast_opts();
  source *s = source_alpaca_new(&c, &t, q, 3, &o);
  assert_non_null(s);
  assert_int_equal(source_start(s), 0);
  WAIT_FOR(stats(s).state == ALPACA_MD_FAILED, 10000);
  /* no reconnect storm: after several backoffs' worth, still one attempt */
  sleep_ms(500);
  alpaca_md_stats st = stats(s);
  assert_int_equal(st.state, ALPACA_MD_FAILED);
  assert_int_equal(st.connects, 1);
  assert_int_equal(st.reconnects, 0);
  assert_int_equal(st.sessions, 0);
  assert_int_equal(st.errors[alpaca_md_err_slot(ALPACA_MDE_AUTH_FAILED)], 1);
  assert_int_equal(st.last_code, 402);
  assert_non_null(strstr(st.last_error, "auth failed"));
  assert_null(strstr(st.last_error, "not-the-secret"));
  pthread_join(s->th, NULL);
  s->started = false;
  assert_int_equal(s->result, DTO_EREJECT);
  source_free(s);
  inq_free(q);
  instruments_release(&t);
}

/* Another authenticated connection holds the fake's only data slot: 406,
 * a longer wait, then success once it is gone. */
static void test_connection_limit_retried(void **state) {
  DTO_UNUSED(state);
  char url[128], err[256];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/v2/iex", FK.port);
  ws_opts wo = {5 * DTO_NS_PER_SEC, 0, NULL};
  ws_conn *w = NULL;
  assert_int_equal(ws_open(url, &wo, &w, err, sizeof err), 0);
  dbuf m;
  dbuf_init(&m, 1u << 20);
  bool bin;
  assert_int_equal(ws_recv(w, &m, &bin, 5 * DTO_NS_PER_SEC), 0);
  const char *auth =
      "{\"action\":\"auth\",\"key\":\"" KEY "\",\"secret\":\"" SECRET "\"}";
  assert_int_equal(ws_send(w, auth, strlen(auth), false, DTO_NS_PER_SEC), 0);
  assert_int_equal(ws_recv(w, &m, &bin, 5 * DTO_NS_PER_SEC), 0);
  dbuf_addc(&m, '\0');
  assert_non_null(strstr(m.ptr, "authenticated"));

  alpaca_conf c;
  conf_for(&c, SECRET);
  instrument_table t;
  table(&t);
  inq *q = queue();
  alpaca_md_opts o = fast_opts();
  o.conn_limit_backoff = 1000 * MS;
  source *s = source_alpaca_new(&c, &t, q, 3, &o);
  assert_non_null(s);
  assert_int_equal(source_start(s), 0);
  size_t slot = alpaca_md_err_slot(ALPACA_MDE_CONNECTION_LIMIT);
  WAIT_FOR(stats(s).errors[slot] >= 1, 10000);
  alpaca_md_stats st = stats(s);
  assert_int_equal(st.errors[slot], 1);
  assert_int_equal(st.last_code, 406);
  /* it waits at least conn_limit_backoff: no second attempt yet */
  sleep_ms(300);
  assert_int_equal(stats(s).connects, 1);
  ws_close(w);
  dbuf_release(&m);
  WAIT_FOR(stats(s).sessions == 1, 10000);
  st = stats(s);
  assert_int_equal(st.sessions, 1);
  assert_int_equal(st.connects, 2);
  assert_int_equal(st.errors[slot], 1);
  ctl("/_fake/step", "{\"n\":1}");
  got *g = calloc(1, sizeof *g);
  assert_non_null(g);
  wait_bars(q, g, 1);
  bar want = expected(aapl[0], t0(), 0);
  assert_bar_eq(&g->bars[0][0], &want);
  free(g);
  source_free(s);
  inq_free(q);
  instruments_release(&t);
}

static void test_warmup_paged(void **state) {
  DTO_UNUSED(state);
  ctl("/_fake/step", "{\"n\":10}"); /* every bar is in the past now */
  alpaca_conf c;
  conf_for(&c, SECRET);
  instrument_table t;
  table(&t);
  char err[512];
  bar_vec v = {0};
  /* [t0 + 1 min, t0 + 9 min): 8 bars in pages of 3 */
  dto_time a = t0() + DTO_NS_PER_MIN, b = t0() + 9 * DTO_NS_PER_MIN;
  assert_int_equal(
      alpaca_md_warmup_paged(&c, &t, 1, a, b, 3, &v, err, sizeof err), 0);
  assert_int_equal(v.n, 8);
  for (size_t i = 0; i < v.n; i++) {
    bar want = expected(msft[i + 1], a + (dto_time)i * DTO_NS_PER_MIN, 1);
    assert_bar_eq(&v.v[i], &want);
  }
  /* one page, appended after what out held */
  assert_int_equal(alpaca_md_warmup(&c, &t, 0, t0(), t0() + NT * DTO_NS_PER_MIN,
                                    &v, err, sizeof err),
                   0);
  assert_int_equal(v.n, 8 + NT);
  for (size_t i = 0; i < NT; i++) {
    bar want = expected(aapl[i], t0() + (dto_time)i * DTO_NS_PER_MIN, 0);
    assert_bar_eq(&v.v[8 + i], &want);
  }
  /* ODD's prices need 9 decimals: refused, out left as it was */
  assert_int_equal(alpaca_md_warmup(&c, &t, 2, t0(), t0() + NT * DTO_NS_PER_MIN,
                                    &v, err, sizeof err),
                   DTO_ERANGE);
  assert_int_equal(v.n, 8 + NT);
  /* a wrong secret: the HTTP status, never the secret, in the message */
  alpaca_conf bad;
  conf_for(&bad, "not-the-secret");
  assert_int_equal(alpaca_md_warmup(&bad, &t, 0, a, b, &v, err, sizeof err),
                   DTO_EREJECT);
  assert_non_null(strstr(err, "403"));
  assert_null(strstr(err, "not-the-secret"));
  assert_int_equal(alpaca_md_warmup(&c, &t, 7, a, b, &v, err, sizeof err),
                   DTO_EINVAL);
  assert_int_equal(alpaca_md_warmup(&c, &t, 0, b, a, &v, err, sizeof err),
                   DTO_EINVAL);
  assert_int_equal(v.n, 8 + NT);
  bar_vec_release(&v);
  instruments_release(&t);
}

static void test_new_refusals(void **state) {
  DTO_UNUSED(state);
  alpaca_conf c;
  conf_for(&c, SECRET);
  instrument_table t;
  instruments_init(&t);
  inq *q = queue();
  assert_null(source_alpaca_new(&c, &t, q, 0, NULL)); /* no instruments */
  table(&t);
  static const char *const bad[] = {"has space", NULL};
  alpaca_md_opts o;
  memset(&o, 0, sizeof o);
  o.extra_symbols = bad;
  assert_null(source_alpaca_new(&c, &t, q, 0, &o));
  source *s = source_alpaca_new(&c, &t, q, 0, NULL);
  assert_non_null(s);
  source_free(s); /* never started */
  assert_int_equal(alpaca_md_err_slot(402), 2);
  assert_int_equal(alpaca_md_err_slot(499), ALPACA_MD_ERR_SLOTS - 1);
  assert_string_equal(alpaca_md_state_name(ALPACA_MD_FAILED), "failed");
  assert_string_equal(alpaca_md_state_name(ALPACA_MD_STATE_COUNT), "?");
  inq_free(q);
  instruments_release(&t);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_refusals),
      cmocka_unit_test_setup(test_stream_reconnect_stop, reset),
      cmocka_unit_test_setup(test_wrong_secret_stops, reset),
      cmocka_unit_test_setup(test_connection_limit_retried, reset),
      cmocka_unit_test_setup(test_warmup_paged, reset),
  };
  return cmocka_run_group_tests(tests, fake_start, fake_stop);
}
