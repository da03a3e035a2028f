/* test_alpaca_trade.c - the engine trading through Alpaca's adapter thread
 * against the fake Alpaca (tests/fakes/alpaca, started by the test on
 * loopback): a strategy's orders go out as REST POSTs, the fake fills them
 * as its market moves, fills come back on the trade_updates stream through
 * the engine's queue; at the end dto's books equal the fake's, order by
 * order, and no client order id was posted twice.  Then again with faults:
 * lost, duplicated and reordered stream events, a dropped stream, HTTP 500
 * answers. */
#define _POSIX_C_SOURCE 200809L
#include "core/prelude.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/alpaca_trade.h"
#include "app/config.h"
#include "app/bridge.h"
#include "app/inq.h"
#include "broker/http.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "engine/engine.h"
#include "market/calendar.h"

extern char **environ;

#define NBARS 780 /* two regular sessions of 1-minute bars */

typedef struct fake {
  pid_t pid;
  int port;
  char dir[64];
  http_client *ctl; /* the control API */
} fake;

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Bars of AAPL over two sessions (14:30-21:00 UTC), written as the CSV the
 * fake reads, and kept for the engine. */
static bar *write_bars(const char *path) {
  bar *v = xcalloc(NBARS, sizeof *v);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "time,open,high,low,close,volume\n");
  uint64_t s = 11;
  int64_t cents = 15000;
  for (int i = 0; i < NBARS; i++) {
    int day = i / 390, m = i % 390;
    dto_time t = (1736173800LL + day * 86400LL + m * 60LL) * DTO_NS_PER_SEC;
    int64_t step = (int64_t)(rng_next(&s) % 41) - 20;
    int64_t o = cents, c = cents + step;
    int64_t hi = (o > c ? o : c) + 3, lo = (o < c ? o : c) - 3;
    v[i] = (bar){t, 60 * DTO_NS_PER_SEC, o * 1000000, hi * 1000000,
                 lo * 1000000, c * 1000000, 100000 * FX_ONE, 0};
    time_t tt = (time_t)(t / DTO_NS_PER_SEC);
    struct tm tm;
    gmtime_r(&tt, &tm);
    fprintf(f, "%04d-%02d-%02dT%02d:%02d:00Z,%lld.%02lld,%lld.%02lld,"
               "%lld.%02lld,%lld.%02lld,100000\n",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
            tm.tm_min, (long long)(o / 100), (long long)(o % 100),
            (long long)(hi / 100), (long long)(hi % 100),
            (long long)(lo / 100), (long long)(lo % 100),
            (long long)(c / 100), (long long)(c % 100));
    cents = c;
  }
  fclose(f);
  return v;
}

static void fake_start(fake *f, bar **bars) {
  memset(f, 0, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/dto-fa-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  char csv[128], pf[128];
  snprintf(csv, sizeof csv, "%s/AAPL.csv", f->dir);
  snprintf(pf, sizeof pf, "%s/port", f->dir);
  *bars = write_bars(csv);
  char *argv[] = {"/usr/bin/python3", "tests/fakes/alpaca/fake_alpaca.py",
                  "--host", "127.0.0.1", "--port", "0", "--port-file", pf,
                  "--bars", csv, "--key", "K1", "--secret", "S1",
                  "--cash", "1000000", "--max-seconds", "300", NULL};
  assert_int_equal(posix_spawn(&f->pid, argv[0], NULL, NULL, argv, environ),
                   0);
  for (int k = 0; k < 500 && !f->port; k++) { /* up to 10 s */
    FILE *p = fopen(pf, "r");
    if (p) {
      if (fscanf(p, "%d", &f->port) != 1)
        f->port = 0;
      fclose(p);
    }
    if (!f->port) {
      struct timespec ts = {0, 20000000};
      nanosleep(&ts, NULL);
    }
  }
  assert_true(f->port > 0);
  char base[64], err[256];
  snprintf(base, sizeof base, "http://127.0.0.1:%d", f->port);
  http_conf hc;
  memset(&hc, 0, sizeof hc);
  hc.base_url = base;
  hc.connect_timeout = 2 * DTO_NS_PER_SEC;
  hc.request_timeout = 10 * DTO_NS_PER_SEC;
  assert_int_equal(http_client_new(&hc, &f->ctl, err, sizeof err), 0);
}

static void fake_stop(fake *f) {
  http_client_free(f->ctl);
  kill(f->pid, SIGTERM);
  int st;
  for (int k = 0; k < 250; k++) { /* up to 5 s, then kill */
    if (waitpid(f->pid, &st, WNOHANG) == f->pid)
      goto gone;
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
  }
  kill(f->pid, SIGKILL);
  waitpid(f->pid, &st, 0);
gone:;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
}

/* A control call; the parsed answer (caller frees) or NULL. */
static json_t *ctl(fake *f, enum http_method m, const char *path,
                   const char *body) {
  http_response r;
  memset(&r, 0, sizeof r);
  char err[256];
  int rc = http_request(f->ctl, m, path, body, &r, err, sizeof err);
  if (rc)
    fail_msg("%s: %s", path, err);
  assert_true(r.status >= 200 && r.status < 300);
  json_t *j = json_loadb(r.body, r.len, 0, NULL);
  http_response_release(&r);
  return j;
}

typedef struct rig {
  instrument_table ins;
  sim_clock sc;
  dto_clock clk;
  engine *e;
  inq *q;
  bridge *b;
  broker_ops ops;
  engine_account acct;
  int reconciles; /* the adapter's holds answered */
  alpaca_trader *t;
  json_t *filled; /* dto's fills per client order id (fx as integers) */
  size_t sent;    /* orders that went to the broker */
} rig;

static void on_fill(void *ctx, const order *o, fx qty, fx price, fx fee,
                    dto_time t) {
  (void)price;
  (void)fee;
  (void)t;
  rig *g = ctx;
  json_t *v = json_object_get(g->filled, o->cloid);
  json_object_set_new(g->filled, o->cloid,
                      json_integer((v ? json_integer_value(v) : 0) + qty));
}

static void on_order(void *ctx, const order *o, enum order_state from,
                     enum order_state to, bool legal) {
  rig *g = ctx;
  if (legal && from == OS_NEW && to == OS_PENDING_NEW) {
    g->sent++;
    if (!json_object_get(g->filled, o->cloid))
      json_object_set_new(g->filled, o->cloid, json_integer(0));
  }
}

/* The one instrument the fake trades. */
static void aapl_table(instrument_table *ins) {
  instruments_init(ins);
  instrument in = {0};
  snprintf(in.symbol, sizeof in.symbol, "AAPL");
  in.asset_class = ASSET_EQUITY;
  in.tick = FX_ONE / 100;
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "USD");
  in.cal = NULL; /* the fake's market decides sessions */
  in.shortable = true;
  instruments_add(ins, &in, NULL);
}

/* The adapter for fake f (not started): its settings as the configuration
 * would resolve them. */
static alpaca_trader *trader_new(const fake *f, const instrument_table *ins,
                                 bridge *b) {
  cfg_alpaca ca;
  config_alpaca_defaults(&ca);
  char tu[64], su[64];
  snprintf(tu, sizeof tu, "http://127.0.0.1:%d", f->port);
  snprintf(su, sizeof su, "ws://127.0.0.1:%d/v2/iex", f->port);
  ca.present = true;
  ca.trading_url = tu;
  ca.data_url = tu;
  ca.data_stream_url = su;
  /* the fake's market runs far faster than Alpaca's 200 requests a
   * minute, which the client-side limiter keeps to by default */
  ca.rate_limit_per_min = 10000;
  const char *env[] = {"APCA_API_KEY_ID=K1", "APCA_API_SECRET_KEY=S1", NULL};
  alpaca_conf ac;
  char err[512];
  if (alpaca_conf_resolve(&ca, env, &ac, err, sizeof err))
    fail_msg("alpaca_conf_resolve: %s", err);
  alpaca_trader *t;
  assert_int_equal(alpaca_trader_new(&ac, ins, b, &t, err, sizeof err), 0);
  alpaca_conf_wipe(&ac);
  return t;
}

static void rig_init(rig *g, const fake *f) {
  memset(g, 0, sizeof *g);
  aapl_table(&g->ins);
  clock_sim_init(&g->clk, &g->sc, 1736173800LL * DTO_NS_PER_SEC);
  inq_config qc = {4096, 0, 1, false};
  assert_int_equal(inq_new(&qc, &g->q), 0);
  bridge_config bc = {256, g->q, 1, DTO_NS_PER_SEC, NULL};
  assert_int_equal(bridge_new(&bc, &g->b), 0);
  g->t = trader_new(f, &g->ins, g->b);
  char err[512];
  if (alpaca_trader_start(g->t, err, sizeof err))
    fail_msg("alpaca_trader_start: %s", err);
  g->ops = alpaca_broker_ops;
  g->acct = (engine_account){"live", fx_from_int(1000000)};
  engine_config ec = {0};
  ec.instruments = &g->ins;
  ec.clock = &g->clk;
  ec.broker = &g->ops;
  ec.broker_ctx = g->t;
  ec.accounts = &g->acct;
  ec.naccounts = 1;
  g->filled = json_object();
  ec.hooks.ctx = g;
  ec.hooks.fill = on_fill;
  ec.hooks.order_changed = on_order;
  g->e = engine_new(&ec);
  const strategy_def *def = strategy_find("ma_crossover");
  param_value pv[16];
  param_defaults(def->params, def->nparams, pv);
  char why[128];
  size_t k = param_find(def->params, def->nparams, "fast");
  param_parse(&def->params[k], "2", &pv[k], why, sizeof why);
  k = param_find(def->params, def->nparams, "slow");
  param_parse(&def->params[k], "4", &pv[k], why, sizeof why);
  /* long or flat: Alpaca refuses an order that takes a position through
   * zero (a sell of more than is held), which a reversing strategy sends */
  k = param_find(def->params, def->nparams, "allow_short");
  param_parse(&def->params[k], "false", &pv[k], why, sizeof why);
  static sym_id sym = 0;
  engine_strategy es = {def, "mac", 0, &sym, 1, fx_from_int(100000), pv};
  assert_int_equal(engine_add_strategy(g->e, &es), 0);
  assert_int_equal(engine_start(g->e), 0);
}

static void rig_free(rig *g) {
  alpaca_trader_free(g->t);
  engine_free(g->e);
  bridge_free(g->b);
  inq_free(g->q);
  instruments_release(&g->ins);
  json_decref(g->filled);
}

static bool unsent(void *ctx, order_id id) { return bridge_queued(ctx, id); }

/* Reports into the engine; the adapter's hold for a reconciliation (at
 * its first connection, after each reconnect) answered as the service
 * does: engine_reconcile with the adapter's queries, then resume. */
static void take_reports(rig *g) {
  inq_event ev[64];
  size_t n;
  while ((n = inq_pop_batch(g->q, ev, 64)) > 0) {
    for (size_t i = 0; i < n; i++) {
      if (ev[i].kind == INQ_TIMER) {
        assert_int_equal(ev[i].u.timer.id, ALPACA_TRADER_RECONCILE);
        reconcile_opts ro = {false, 0, 0, unsent, g->b};
        reconcile_result rr;
        int rc = 0;
        for (int k = 0; k < 4; k++)
          if ((rc = engine_reconcile(g->e, &ro, &rr)) != DTO_ESTATE)
            break;
        assert_int_equal(rc, 0);
        g->reconciles++;
        alpaca_trader_resume(g->t);
        continue;
      }
      assert_int_equal(ev[i].kind, INQ_REPORT);
      bridge_deliver(g->b, &ev[i].u.report);
    }
    engine_pump(g->e);
  }
}

/* Play the session: each bar to the engine, then the fake's market one bar
 * on (it fills at that bar), then wait (bounded) until the engine's orders
 * are answered.  faults: JSON for /_fake/faults at some bars, or NULL. */
static void play(rig *g, fake *f, const bar *v, const char *const *faults,
                 const int *fault_at, size_t nfaults) {
  json_decref(ctl(f, HTTP_POST, "/_fake/step", "{\"n\":1}"));
  for (int i = 0; i < NBARS - 1; i++) {
    for (size_t k = 0; k < nfaults; k++)
      if (fault_at[k] == i)
        json_decref(ctl(f, HTTP_POST, "/_fake/faults", faults[k]));
    sim_clock_set(&g->sc, v[i].ts);
    engine_bar_open(g->e, &v[i]);
    sim_clock_set(&g->sc, bar_end(&v[i]));
    engine_on_bar(g->e, &v[i]);
    take_reports(g);
    /* the market moves on only once the orders of this bar are at the
     * broker (the adapter's thread posts them) */
    bridge_stats bs;
    alpaca_trade_stats ts;
    for (int k = 0; k < 1000; k++) {
      bridge_get_stats(g->b, &bs);
      alpaca_trader_stats(g->t, &ts);
      if (ts.requests >= bs.requests)
        break;
      struct timespec nap = {0, 1000000};
      nanosleep(&nap, NULL);
    }
    json_decref(ctl(f, HTTP_POST, "/_fake/step", "{\"n\":1}"));
    /* (an order the market cannot fill now, as after the close, waits
     * for a later bar: the wait is short) */
    for (int k = 0; k < 40 && engine_working_orders(g->e); k++) {
      inq_wait(g->q, 5 * 1000000LL);
      take_reports(g);
    }
  }
  /* a last reconciliation, as the service's periodic one: fills whose
   * events were lost are found by REST */
  int before = g->reconciles;
  alpaca_trader_ask_reconcile(g->t);
  for (int k = 0; k < 2000 && g->reconciles == before; k++) {
    inq_wait(g->q, 5 * 1000000LL);
    take_reports(g);
  }
  assert_true(g->reconciles > before);
}

/* dto's books against the fake's: every order of dto's with its filled
 * quantity, the position, and no client order id posted twice. */
static void compare_books(rig *g, fake *f, size_t *orders_out,
                          size_t *reposts) {
  json_t *st = ctl(f, HTTP_GET, "/_fake/state", NULL);
  assert_non_null(st);
  json_t *orders = json_object_get(st, "orders");
  assert_true(json_is_array(orders));
  size_t i, matched = 0;
  json_t *o;
  json_array_foreach(orders, i, o) {
    const char *cloid = json_string_value(json_object_get(o, "client_order_id"));
    const char *fq = json_string_value(json_object_get(o, "filled_qty"));
    assert_non_null(cloid);
    assert_non_null(fq);
    fx want;
    assert_int_equal(fx_parse_cstr(fq, &want), 0);
    json_t *mine = json_object_get(g->filled, cloid);
    if (!mine)
      fail_msg("the fake has order %s that dto never sent", cloid);
    if (json_integer_value(mine) != want)
      fail_msg("order %s: dto has %lld filled, the fake %lld", cloid,
               (long long)json_integer_value(mine), (long long)want);
    matched++;
  }
  json_t *pos = json_object_get(st, "positions");
  fx fake_pos = 0;
  json_t *p;
  json_array_foreach(pos, i, p) {
    const char *q = json_string_value(json_object_get(p, "qty"));
    const char *side = json_string_value(json_object_get(p, "side"));
    fx v = 0;
    if (q)
      assert_int_equal(fx_parse_cstr(q, &v), 0);
    if (side && !strcmp(side, "short") && v > 0)
      v = -v;
    fake_pos += v;
  }
  assert_int_equal(portfolio_account_pos(engine_portfolio(g->e), 0, 0)->qty,
                   fake_pos);
  json_decref(st);
  /* every order dto sent is at the fake, once */
  assert_int_equal(matched, json_object_size(g->filled));
  assert_int_equal(matched, g->sent);
  /* No client order id was posted twice on a guess: per id, every POST
   * after the first follows a lookup (GET by client order id) that the
   * fake answered "not found" - counted from the fake's own request log.
   * *reposts gets the POSTs beyond one per order. */
  json_t *log = ctl(f, HTTP_GET, "/_fake/log", NULL);
  json_t *reqs = json_is_array(log) ? log : json_object_get(log, "requests");
  assert_true(json_is_array(reqs));
  json_t *posts = json_object(), *lookups = json_object();
  json_array_foreach(reqs, i, p) {
    const char *m = json_string_value(json_object_get(p, "method"));
    const char *c = json_string_value(json_object_get(p, "client_order_id"));
    const char *path = json_string_value(json_object_get(p, "path"));
    json_t *tab = NULL;
    if (m && c && path && !strcmp(m, "POST") && !strcmp(path, "/v2/orders"))
      tab = posts;
    else if (m && c && path && !strcmp(m, "GET") &&
             !strcmp(path, "/v2/orders:by_client_order_id"))
      tab = lookups;
    if (!tab)
      continue;
    json_t *x = json_object_get(tab, c);
    json_object_set_new(tab, c,
                        json_integer((x ? json_integer_value(x) : 0) + 1));
  }
  size_t extra = 0;
  const char *c;
  json_object_foreach(posts, c, p) {
    if (!json_object_get(g->filled, c))
      fail_msg("the fake got a POST for %s, which dto never sent", c);
    json_int_t np = json_integer_value(p);
    json_t *l = json_object_get(lookups, c);
    json_int_t nl = l ? json_integer_value(l) : 0;
    if (np > 1 + nl)
      fail_msg("%s was posted %lld times after %lld lookups", c,
               (long long)np, (long long)nl);
    extra += (size_t)(np - 1);
  }
  assert_int_equal(json_object_size(posts), matched);
  json_decref(posts);
  json_decref(lookups);
  json_decref(log);
  *reposts = extra;
  *orders_out = matched;
}

/* The reconciliation queries against the fake's books and dto's. */
static void check_queries(rig *g, fake *f, const bar *v) {
  broker_open_order oo[64];
  broker_position bp[8];
  size_t n;
  assert_int_equal(alpaca_trader_open_orders(g->t, oo, 64, &n), 0);
  assert_int_equal(n, engine_working_orders(g->e));
  assert_int_equal(alpaca_trader_positions(g->t, bp, 8, &n), 0);
  fx pos = portfolio_account_pos(engine_portfolio(g->e), 0, 0)->qty;
  if (pos) {
    assert_int_equal(n, 1);
    assert_int_equal(bp[0].sym, 0);
    assert_int_equal(bp[0].qty, pos);
  } else {
    assert_int_equal(n, 0);
  }
  /* every fill since the session began, per client order id, equals what
   * dto applied; more than fit is DTO_EFULL with the count */
  size_t cap = 4096;
  broker_fill *bf = xcalloc(cap, sizeof *bf);
  assert_int_equal(alpaca_trader_fills_since(g->t, v[0].ts - DTO_NS_PER_SEC,
                                             bf, cap, &n),
                   0);
  assert_true(n > 0);
  json_t *sum = json_object();
  for (size_t i = 0; i < n; i++) {
    if (i)
      assert_true(bf[i].ts >= bf[i - 1].ts); /* oldest first */
    json_t *x = json_object_get(sum, bf[i].cloid);
    json_object_set_new(sum, bf[i].cloid,
                        json_integer((x ? json_integer_value(x) : 0) +
                                     bf[i].qty));
  }
  const char *k;
  json_t *x;
  json_object_foreach(g->filled, k, x) {
    json_t *y = json_object_get(sum, k);
    assert_int_equal(y ? json_integer_value(y) : 0, json_integer_value(x));
  }
  assert_int_equal(alpaca_trader_fills_since(g->t, v[0].ts - DTO_NS_PER_SEC,
                                             bf, 1, &cap),
                   DTO_EFULL);
  assert_int_equal(cap, n);
  json_decref(sum);
  free(bf);
  (void)f;
}

static void test_trades_through_fake(void **state) {
  (void)state;
  fake f;
  bar *v;
  fake_start(&f, &v);
  rig g;
  rig_init(&g, &f);
  play(&g, &f, v, NULL, NULL, 0);
  size_t n, reposts;
  compare_books(&g, &f, &n, &reposts);
  assert_int_equal(reposts, 0); /* nothing failed: one POST per order */
  check_queries(&g, &f, v);
  alpaca_trade_stats st;
  alpaca_trader_stats(g.t, &st);
  assert_true(n > 30); /* it traded */
  assert_int_equal(st.posts, n);
  assert_int_equal(st.rejected, 0);
  assert_int_equal(engine_working_orders(g.e), 0);
  rig_free(&g);
  fake_stop(&f);
  free(v);
}

static void test_faults(void **state) {
  (void)state;
  fake f;
  bar *v;
  fake_start(&f, &v);
  rig g;
  rig_init(&g, &f);
  static const char *const faults[] = {
      "{\"duplicate_events\":5}",
      "{\"reorder_events\":3}",
      "{\"drop_trading_stream\":true}",
      "{\"http_errors\":[{\"status\":500,\"count\":2,\"path\":\"/v2/orders\","
      "\"method\":\"POST\"}]}",
      "{\"duplicate_events\":5}",
      "{\"lose_fill_events\":1}",
  };
  static const int at[] = {50, 150, 250, 350, 600, 450};
  play(&g, &f, v, faults, at, DTO_ARRAY_LEN(at));
  size_t n, reposts;
  compare_books(&g, &f, &n, &reposts);
  alpaca_trade_stats st;
  alpaca_trader_stats(g.t, &st);
  assert_true(n > 30);
  /* the two POSTs answered 500 were looked up, not found, posted again */
  assert_int_equal(reposts, 2);
  assert_int_equal(st.reposts, 2);
  assert_true(st.duplicates > 0);   /* duplicated fills counted once */
  assert_true(st.reconnects >= 1);  /* the dropped stream came back */
  /* the fill event the fake lost was lost (and the books still
   * agree: the last reconciliation found them by REST) */
  json_t *fs = ctl(&f, HTTP_GET, "/_fake/state", NULL);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(fs, "faults"), "lose_fill_events")),
                   0);
  json_decref(fs);
  /* held and reconciled at the first connection and after the reconnect */
  assert_true(g.reconciles >= 2);
  assert_int_equal(st.holds, (uint64_t)g.reconciles);
  rig_free(&g);
  fake_stop(&f);
  free(v);
}

/* ---- an oco pair across a restart ---------------------------------------- */

/* A client of the fake's trading API, with its keys. */
static http_client *api_client(const fake *f) {
  char base[64], err[256];
  snprintf(base, sizeof base, "http://127.0.0.1:%d", f->port);
  http_conf hc;
  memset(&hc, 0, sizeof hc);
  hc.base_url = base;
  hc.headers[0] = (http_header){"APCA-API-KEY-ID", "K1"};
  hc.headers[1] = (http_header){"APCA-API-SECRET-KEY", "S1"};
  hc.nheaders = 2;
  hc.connect_timeout = 2 * DTO_NS_PER_SEC;
  hc.request_timeout = 10 * DTO_NS_PER_SEC;
  http_client *h;
  assert_int_equal(http_client_new(&hc, &h, err, sizeof err), 0);
  return h;
}

/* POST an order to the fake's API: the answer (caller frees). */
static json_t *api_post(http_client *h, const char *body) {
  http_response r;
  memset(&r, 0, sizeof r);
  char err[256];
  assert_int_equal(
      http_request(h, HTTP_POST, "/v2/orders", body, &r, err, sizeof err), 0);
  if (r.status < 200 || r.status > 299)
    fail_msg("POST /v2/orders: HTTP %d %s", r.status, r.body);
  json_t *j = json_loadb(r.body, r.len, 0, NULL);
  http_response_release(&r);
  assert_non_null(j);
  return j;
}

/* The next event of q within 5 s (an INQ_TIMER signal or a report). */
static inq_event next_event(inq *q) {
  inq_event ev;
  for (int k = 0; k < 1000; k++) {
    if (inq_pop_batch(q, &ev, 1) == 1)
      return ev;
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  fail_msg("no event from the adapter within 5 s");
  return ev;
}

static order exit_order(order_id id, const char *cloid, enum bracket_role role,
                        order_id peer) {
  order o;
  memset(&o, 0, sizeof o);
  o.id = id;
  snprintf(o.cloid, sizeof o.cloid, "%s", cloid);
  o.sym = 0;
  o.side = SIDE_SELL;
  o.tif = TIF_GTC;
  o.qty = fx_from_int(10);
  o.role = role;
  o.peer = peer;
  o.parent = 1;
  o.bracket = 1;
  if (role == BR_TAKE_PROFIT) {
    o.type = ORD_LIMIT;
    o.limit_price = fx_from_int(1000);
  } else {
    o.type = ORD_STOP;
    o.stop_price = fx_from_int(1);
  }
  o.replaces = o.replaced_by = ORDER_NONE;
  return o;
}

/* dto sent a bracket's exit pair as one oco, then stopped before the
 * stop-loss's acceptance was journaled.  After the restart the stop leg
 * (a client order id of Alpaca's) is dto's stop-loss: the reconciliation
 * names it so, the stop-loss sent again is found as the leg and never
 * posted, and a cancel of the stop-loss reaches the leg. */
static void test_oco_leg_after_restart(void **state) {
  (void)state;
  fake f;
  bar *v;
  fake_start(&f, &v);
  http_client *h = api_client(&f);
  json_decref(ctl(&f, HTTP_POST, "/_fake/step", "{\"n\":1}"));
  json_decref(api_post(h, "{\"symbol\":\"AAPL\",\"side\":\"buy\",\"type\":"
                          "\"market\",\"qty\":\"10\",\"time_in_force\":"
                          "\"day\",\"client_order_id\":"
                          "\"live-mac-20250106-1\"}"));
  json_decref(ctl(&f, HTTP_POST, "/_fake/step", "{\"n\":1}")); /* filled */
  json_t *oco = api_post(
      h, "{\"symbol\":\"AAPL\",\"side\":\"sell\",\"type\":\"limit\",\"qty\":"
         "\"10\",\"time_in_force\":\"gtc\",\"order_class\":\"oco\","
         "\"take_profit\":{\"limit_price\":\"1000\"},\"stop_loss\":"
         "{\"stop_price\":\"1\"},\"client_order_id\":"
         "\"live-mac-20250106-2\"}");
  json_t *leg = json_array_get(json_object_get(oco, "legs"), 0);
  assert_non_null(leg);
  char leg_path[128];
  snprintf(leg_path, sizeof leg_path, "/v2/orders/%s",
           json_string_value(json_object_get(leg, "id")));
  json_decref(oco);

  instrument_table ins;
  aapl_table(&ins);
  inq *q;
  inq_config qc = {4096, 0, 1, false};
  assert_int_equal(inq_new(&qc, &q), 0);
  bridge *b;
  bridge_config bc = {64, q, 1, DTO_NS_PER_SEC, NULL};
  assert_int_equal(bridge_new(&bc, &b), 0);
  alpaca_trader *t = trader_new(&f, &ins, b);
  order tp = exit_order(2, "live-mac-20250106-2", BR_TAKE_PROFIT, 3);
  order sl = exit_order(3, "live-mac-20250106-3", BR_STOP_LOSS, 2);
  tp.state = OS_ACCEPTED;
  sl.state = OS_PENDING_NEW;
  alpaca_trader_know(t, &tp);
  alpaca_trader_know(t, &sl);
  char err[512];
  if (alpaca_trader_start(t, err, sizeof err))
    fail_msg("alpaca_trader_start: %s", err);

  /* the first connection's reconciliation names the leg by dto's id */
  inq_event ev = next_event(q);
  assert_int_equal(ev.kind, INQ_TIMER);
  broker_open_order oo[8];
  size_t n = 0;
  assert_int_equal(alpaca_trader_open_orders(t, oo, 8, &n), 0);
  assert_int_equal(n, 2);
  bool seen_tp = false, seen_sl = false;
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(oo[i].cloid, tp.cloid))
      seen_tp = oo[i].type == ORD_LIMIT && oo[i].qty == fx_from_int(10);
    if (!strcmp(oo[i].cloid, sl.cloid))
      seen_sl = oo[i].type == ORD_STOP && oo[i].qty == fx_from_int(10) &&
                oo[i].stop_price == fx_from_int(1);
  }
  assert_true(seen_tp);
  assert_true(seen_sl);
  alpaca_trader_resume(t);

  /* the stop-loss sent again (recovery): the leg, accepted, not posted */
  assert_int_equal(bridge_broker_ops.submit(b, &sl), 0);
  ev = next_event(q);
  assert_int_equal(ev.kind, INQ_REPORT);
  assert_int_equal(ev.u.report.kind, REP_ACCEPTED);
  assert_int_equal(ev.u.report.id, 3);

  /* a cancel of the stop-loss goes to the leg; Alpaca cancels the pair */
  assert_int_equal(bridge_broker_ops.cancel(b, 3), 0);
  bool canceled[2] = {false, false};
  while (!canceled[0] || !canceled[1]) {
    ev = next_event(q);
    assert_int_equal(ev.kind, INQ_REPORT);
    if (ev.u.report.kind == REP_CANCELED &&
        (ev.u.report.id == 2 || ev.u.report.id == 3))
      canceled[ev.u.report.id - 2] = true;
  }
  json_t *log = ctl(&f, HTTP_GET, "/_fake/log", NULL);
  size_t posts = 0, deletes = 0, i;
  json_t *e;
  json_array_foreach(log, i, e) {
    const char *m = json_string_value(json_object_get(e, "method"));
    const char *p = json_string_value(json_object_get(e, "path"));
    posts += !strcmp(m, "POST") && !strcmp(p, "/v2/orders");
    deletes += !strcmp(m, "DELETE") && !strcmp(p, leg_path);
  }
  json_decref(log);
  assert_int_equal(posts, 2); /* the test's own two */
  assert_int_equal(deletes, 1);
  alpaca_trade_stats st;
  alpaca_trader_stats(t, &st);
  assert_int_equal(st.posts, 0);

  alpaca_trader_free(t);
  bridge_free(b);
  inq_free(q);
  instruments_release(&ins);
  http_client_free(h);
  fake_stop(&f);
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trades_through_fake),
      cmocka_unit_test(test_faults),
      cmocka_unit_test(test_oco_leg_after_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
