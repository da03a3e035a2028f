/* bench_restart.c - how long `dto run` takes to be ready after a crash.
 *
 * Builds a journal of N events (default 1,000,000) with the orders, fills
 * and positions a session of that size leaves (one order per 4 events, a
 * few hundred still working), closes it as a crash would leave it, then
 * times what `dto run` does before it trades: open the store and check the
 * schema, read it (recovery_load), build the engine (runner_init) and
 * restore positions, cash, client order id sequences and working orders
 * (recovery_apply).  Next to it, the reference: reading every journal event
 * once (what a design that replays the whole journal would at least pay).
 *
 * usage: bench_restart [N_EVENTS] [DIR]
 */
#include "core/prelude.h"

#include <inttypes.h>
#include <time.h>
#include <unistd.h>

#include "app/config.h"
#include "app/recovery.h"
#include "app/runner.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "store/journal.h"
#include "store/store.h"

static _Noreturn void die(const char *what, const char *msg) {
  fprintf(stderr, "bench_restart: %s: %s\n", what, msg);
  exit(1);
}

static const char cfg_text[] =
    "accounts:\n  - id: acct\n    cash: 1000000\n"
    "instruments:\n  - symbol: AAPL\n  - symbol: MSFT\n"
    "strategies:\n  - id: s1\n    type: ma_crossover\n"
    "    symbols: [AAPL, MSFT]\n    allocation: 500000\n";

static int count_event(void *arg, const store_event *ev) {
  (void)ev;
  (*(int64_t *)arg)++;
  return 0;
}

static void build(const char *path, int64_t nevents) {
  char url[4200], err[1024];
  snprintf(url, sizeof url, "sqlite:%s", path);
  store_options o = {.create = true};
  store *s;
  if (store_open(url, &o, &s, err, sizeof err))
    die("open", err);
  if (store_migrate_to(s, -1, NULL, NULL))
    die("migrate", store_errmsg(s, err, sizeof err));
  journal *j = journal_new(s, NULL);
  static const char payload[] = "{\"cloid\":\"acct-s1-20250106-1\",\"qty\":\"10\"}";
  dto_time t0 = 1736173800LL * DTO_NS_PER_SEC;
  int64_t norders = nevents / 4;
  uint64_t last = 0;
  for (int64_t i = 0; i < nevents; i++) {
    store_event ev = {0, t0 + i * DTO_NS_PER_SEC, i % 4 == 3 ? "fill" : "order",
                      "acct", "s1", payload, sizeof payload - 1};
    last = journal_put_event(j, &ev, NULL);
    if (i % 4 == 0) { /* one order per four events */
      int64_t k = i / 4;
      store_order r;
      memset(&r, 0, sizeof r);
      snprintf(r.cloid, sizeof r.cloid, "acct-s1-20250106-%" PRId64, k + 1);
      snprintf(r.account, sizeof r.account, "acct");
      snprintf(r.strategy, sizeof r.strategy, "s1");
      snprintf(r.symbol, sizeof r.symbol, k % 2 ? "MSFT" : "AAPL");
      snprintf(r.side, sizeof r.side, k % 3 ? "buy" : "sell");
      snprintf(r.type, sizeof r.type, "limit");
      snprintf(r.tif, sizeof r.tif, "gtc");
      /* the last few hundred are still working */
      snprintf(r.state, sizeof r.state,
               k >= norders - 300 ? "accepted" : "filled");
      r.qty = fx_from_int(10);
      r.limit_price = fx_from_int(k % 2 ? 400 : 200);
      r.filled = k >= norders - 300 ? 0 : r.qty;
      r.avg_price = r.filled ? r.limit_price : 0;
      r.created = r.updated = t0 + i * DTO_NS_PER_SEC;
      last = journal_put_order(j, &r, NULL);
    }
  }
  const char *syms[2] = {"AAPL", "MSFT"};
  for (int y = 0; y < 2; y++)
    for (int a = 0; a < 2; a++) {
      store_position p;
      memset(&p, 0, sizeof p);
      snprintf(p.account, sizeof p.account, "acct");
      snprintf(p.strategy, sizeof p.strategy, "%s", a ? "s1" : "");
      snprintf(p.symbol, sizeof p.symbol, "%s", syms[y]);
      p.qty = fx_from_int(1000);
      p.cost = fx_from_int(y ? 400000 : 200000);
      p.updated = t0;
      last = journal_put_position(j, &p, NULL);
    }
  if (journal_barrier(j, last, -1) || journal_close(j))
    die("journal", "could not write the journal");
}

static double now_s(void) { return (double)clock_mono_ns() / 1e9; }

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? strtoll(argv[1], NULL, 10) : 1000000;
  const char *dir = argc > 2 ? argv[2] : ".";
  if (n < 1000) {
    fprintf(stderr, "usage: bench_restart [N_EVENTS >= 1000] [DIR]\n");
    return 2;
  }
  char path[4096], err[1024];
  snprintf(path, sizeof path, "%s/bench_restart.db", dir);
  unlink(path);
  double tb = now_s();
  build(path, n);
  double built = now_s() - tb;

  /* reference: read every event once */
  char url[4200];
  snprintf(url, sizeof url, "sqlite:%s", path);
  store_options o = {.require_current = true};
  store *s;
  double t0 = now_s();
  if (store_open(url, &o, &s, err, sizeof err))
    die("open", err);
  int64_t seen = 0;
  if (store_read_events(s, 0, -1, count_event, &seen))
    die("read", store_errmsg(s, err, sizeof err));
  double ref = now_s() - t0;
  store_close(s);

  /* what dto run does before it trades */
  dto_config cfg;
  if (config_load_mem("bench.yaml", cfg_text, sizeof cfg_text - 1, ".", &cfg,
                      err, sizeof err))
    die("config", err);
  double t1 = now_s();
  if (store_open(url, &o, &s, err, sizeof err))
    die("open", err);
  recovery rec;
  if (recovery_load(s, &rec, err, sizeof err))
    die("recovery_load", err);
  runner r;
  if (runner_init(&r, &cfg, NULL, rec.last_time, s, err, sizeof err))
    die("runner_init", err);
  if (recovery_apply(&r, &rec, err, sizeof err))
    die("recovery_apply", err);
  double ready = now_s() - t1;
  size_t working = engine_working_orders(r.e);
  recovery_release(&rec);
  runner_release(&r);
  config_release(&cfg);
  unlink(path);

  printf("journal                      %" PRId64 " events, %" PRId64
         " orders (300 working), built in %.1f s\n",
         n, n / 4, built);
  printf("restart to ready             %.3f s  (open + schema check, read "
         "orders and positions, engine, restore %zu working orders; budget "
         "2 s)\n",
         ready, working);
  printf("reference: read every event  %.3f s  (%" PRId64
         " events; what a full replay would at least cost)\n",
         ref, seen);
  return 0;
}
