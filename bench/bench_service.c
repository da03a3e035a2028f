/* bench_service.c - the service path: events through the engine's inbound
 * queue to orders at the paper exchange, with read snapshots.
 *
 * A runner is built the way `dto run` builds it (a YAML configuration
 * loaded with config_load_mem, runner_init_session: orders reach the paper
 * exchange at the end of each step, inside runner_bar; no store, no log,
 * keep_curve and keep_orders off): one account, one crypto instrument
 * (24/7 calendar), the built-in ma_crossover with 3/10 SMAs, fill model
 * bar_close.  Bars: N in-memory 1-minute bars, a seeded random walk (as
 * bench_backtest's), all of instrument 0.  Every pass starts from a fresh
 * runner, so every pass makes the same orders (checked).
 *
 *   1. Throughput, each figure the median of RUNS runs, in the same run:
 *      a. direct: runner_bar over the bars on one thread (dto backtest's
 *         loop) - the reference;
 *      b. the service path: a producer thread pushes every bar into an inq
 *         (capacity 8192, conflation off, retrying on DTO_EAGAIN as
 *         source_push does) and the main thread runs session_play's loop:
 *         inq_pop_batch of up to 256, runner_bar for each bar, then one
 *         snapshot per batch (svc_snap_build with the svc_snap_in that
 *         session.c's publish() fills, then svc_publish), inq_wait when the
 *         queue is empty;
 *      b'. b with a reader thread that takes the snapshot, writes its JSON
 *         and drops it (svc_snap_get, svc_snap_json, svc_snap_put) in a
 *         tight loop, and with one that does so every 100 us;
 *      c. b without snapshots.
 *      From b: the time in svc_snap_build + svc_publish against the time
 *      in runner_bar and against the whole loop, ns per snapshot, and the
 *      mean batch.
 *   2. Latency, event to order sent: the producer stamps a bar with
 *      clock_mono_ns() (kept in a side array indexed by bar number), pushes
 *      it, waits until the engine has handled it, then sleeps 20 us
 *      (nanosleep: it gives its core away, as a socket thread does; timer
 *      slack 1 us so the pause is ~20 us and not ~70).  For every bar whose
 *      runner_bar made an order (oms_count grew), the engine records the
 *      time from the stamp to the end of runner_bar, split into stamp to
 *      pop (the queue and the wake-up) and runner_bar itself.  Once with
 *      the engine sleeping in inq_wait when the queue is empty (the
 *      service's loop), once with it spinning on inq_pop_batch, each with
 *      the engine thread's context switches and how busy the machine was.
 *      References: runner_bar alone on one thread for the same bars, back
 *      to back, with a 20 us spin and with a 20 us sleep between bars.  A
 *      pass stops after 20 s (it then reports fewer bars): on a loaded
 *      machine every pause stretches.
 *
 * usage: bench_service [N_BARS [LATENCY_BARS]] (defaults 1000000, 200000)
 */
#include "core/prelude.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "app/config.h"
#include "app/inq.h"
#include "app/lifecycle.h"
#include "app/runner.h"
#include "app/source.h"
#include "app/svc.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"

#define RUNS 5
#define BATCH 256      /* SESSION_BATCH in session.c */
#define CAP 8192       /* the service's queue (session.c start_service) */
#define PAUSE_NS 20000 /* the latency producer's pause between bars */
#define READER_PAUSE_NS 100000
/* A latency pass stops pushing after this long (a loaded machine stretches
 * every pause), so that the bench stays well under a minute. */
#define LAT_CAP_NS (20 * DTO_NS_PER_SEC)

/* One account, one crypto instrument (24/7), ma_crossover 3/10 holding
 * overnight, fills at bar close.  Entries are 20% of 1,000,000 at ~100,
 * about 2,000 units, under 10% of every bar's volume: one fill each. */
static const char config_text[] =
    "log_level: off\n"
    "accounts:\n"
    "  - id: bench\n"
    "    cash: 1000000\n"
    "instruments:\n"
    "  - symbol: BTCUSD\n"
    "    asset_class: crypto\n"
    "strategies:\n"
    "  - id: mac\n"
    "    type: ma_crossover\n"
    "    symbols: [BTCUSD]\n"
    "    params: { fast: 3, slow: 10, exit_before_close: 0 }\n"
    "fill:\n"
    "  model: bar_close\n";

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* bench_backtest's bars: a seeded random walk of 1-minute bars. */
static bar *make_bars(size_t n) {
  bar *v = xcalloc(n, sizeof *v);
  uint64_t s = 42;
  int64_t cents = 10000;                      /* 100.00 */
  dto_time t = 1735689600LL * DTO_NS_PER_SEC; /* 2025-01-01 */
  for (size_t i = 0; i < n; i++) {
    int64_t step = (int64_t)(rng_next(&s) % 21) - 10;
    if (cents + step < 100)
      step = -step;
    int64_t o = cents, c = cents + step;
    int64_t hi = (o > c ? o : c) + (int64_t)(rng_next(&s) % 5);
    int64_t lo = (o < c ? o : c) - (int64_t)(rng_next(&s) % 5);
    v[i] = (bar){t,
                 60 * DTO_NS_PER_SEC,
                 o * 1000000,
                 hi * 1000000,
                 lo * 1000000,
                 c * 1000000,
                 (fx)(50000 + rng_next(&s) % 450000) * FX_ONE,
                 0};
    cents = c;
    t += 60 * DTO_NS_PER_SEC;
  }
  return v;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return v[n / 2];
}

/* The load average, to show what else the machine was doing. */
static void print_load(const char *when) {
  char buf[128] = "?";
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (!fgets(buf, sizeof buf, f))
      snprintf(buf, sizeof buf, "?\n");
    fclose(f);
  }
  printf("load average %-15s %s", when, buf);
  if (!strchr(buf, '\n'))
    printf("\n");
}

/* The machine's CPU time so far (all cores, clock ticks): total, idle
 * (with iowait) and stolen by the host. */
typedef struct cpu_ticks {
  uint64_t total, idle, steal;
} cpu_ticks;

static cpu_ticks read_cpu(void) {
  cpu_ticks t = {0, 0, 0};
  FILE *f = fopen("/proc/stat", "r");
  if (!f)
    return t;
  unsigned long long v[8] = {0};
  if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
             &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
    for (int i = 0; i < 8; i++)
      t.total += v[i];
    t.idle = v[3] + v[4];
    t.steal = v[7];
  }
  fclose(f);
  return t;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* ---- the runner, as dto run builds it ------------------------------------ */

static dto_config cfg;

static runner *new_runner(dto_time t0) {
  runner *r = xcalloc(1, sizeof *r); /* its clock points into it: no moves */
  char err[CFG_ERR_MAX];
  if (runner_init_session(r, &cfg, NULL, t0, NULL, err, sizeof err)) {
    fprintf(stderr, "bench_service: runner: %s\n", err);
    exit(1);
  }
  r->keep_curve = false;
  r->keep_orders = false;
  return r;
}

static size_t free_runner(runner *r) {
  size_t orders = oms_count(engine_oms(r->e));
  runner_release(r);
  free(r);
  return orders;
}

/* ---- a: direct ----------------------------------------------------------- */

static double run_direct(const bar *v, size_t n, size_t *orders) {
  runner *r = new_runner(v[0].ts);
  int64_t t0 = clock_mono_ns();
  for (size_t i = 0; i < n; i++)
    runner_bar(r, &v[i]);
  int64_t t1 = clock_mono_ns();
  *orders = free_runner(r);
  return (double)(t1 - t0) / 1e9;
}

/* The references of the latency pass: runner_bar alone on this thread,
 * timed, for the bars that make an order; back to back (pause 0), or with
 * the engine's pause between bars: spinning 20 us (pause 1: the core stays
 * busy, as the spinning engine's) or sleeping 20 us (pause 2: the core
 * idles, as the engine's in inq_wait).  Returns the orders; *bars: the bars
 * played before the time cap. */
static size_t run_direct_latency(const bar *v, size_t n, int pause,
                                 int64_t *lat, size_t *bars) {
  runner *r = new_runner(v[0].ts);
  int slack = prctl(PR_GET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL);
  if (pause == 2)
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  struct timespec nap = {0, PAUSE_NS};
  int64_t deadline = clock_mono_ns() + LAT_CAP_NS;
  size_t k = 0, i;
  for (i = 0; i < n; i++) {
    size_t before = oms_count(engine_oms(r->e));
    int64_t t0 = clock_mono_ns();
    runner_bar(r, &v[i]);
    int64_t t1 = clock_mono_ns();
    if (oms_count(engine_oms(r->e)) > before)
      lat[k++] = t1 - t0;
    if (pause == 1)
      while (clock_mono_ns() - t1 < PAUSE_NS)
        cpu_relax();
    else if (pause == 2)
      nanosleep(&nap, NULL);
    if (pause && t1 > deadline) {
      i++;
      break;
    }
  }
  if (pause == 2 && slack > 0)
    prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0UL, 0UL, 0UL);
  free_runner(r);
  qsort(lat, k, sizeof *lat, cmp_i64);
  *bars = i;
  return k;
}

/* ---- the service path ---------------------------------------------------- */

typedef struct svc_opts {
  bool snapshots; /* publish one per batch, as session_play does */
  bool spin;      /* spin on inq_pop_batch instead of inq_wait */
  int64_t idle_spin; /* inq_wait_spin's spin, as run.idle_spin (0: none) */
  long pause_ns;     /* paced: the producer's pause after each bar */
  bool paced;     /* latency: stamp, push, wait until handled, pause */
  int reader;     /* 0 none, 1 a reader in a tight loop, 2 one every 100 us */
} svc_opts;

/* The engine thread's side: what session.c's run_session holds for
 * session_play and publish(), and the figures. */
typedef struct loop {
  runner *r;
  inq *q;
  svc sv;
  svc_opts o;
  uint64_t n_events, n_bars;
  bool *paused;
  dto_time *last_event;
  /* per batch: time in runner_bar (and the loop around it), in publishing */
  int64_t t_events, t_snap, t_idle;
  uint64_t batches, snaps, waits;
  /* latency pass */
  const int64_t *stamp; /* the producer's clock_mono_ns() at each push */
  int64_t *lat, *lat_q, *lat_bar;
  size_t nlat;
  atomic_size_t handled; /* bars handled, for the paced producer */
} loop;

/* session.c's publish(), with this loop's counters. */
static void publish(loop *s) {
  size_t ns = engine_nstrategies(s->r->e);
  for (size_t i = 0; i < ns; i++)
    s->paused[i] = engine_strategy_paused(s->r->e, (uint32_t)i);
  svc_snap_in in;
  memset(&in, 0, sizeof in);
  in.r = s->r;
  in.state = lc_state_name(LC_READY);
  in.clock = "simulated";
  in.maintenance = engine_maintenance(s->r->e);
  in.paused = s->paused;
  in.last_event = s->last_event;
  dto_clock rc;
  clock_real_init(&rc);
  in.now_real = clock_now(&rc);
  in.events = s->n_events;
  in.bars = s->n_bars;
  in.q = s->q;
  svc_publish(&s->sv, svc_snap_build(&in));
  s->snaps++;
}

/* handle_event's INQ_BAR case; false at the end of the feed. */
static bool handle_event(loop *s, const inq_event *ev, int64_t t_pop) {
  s->n_events++;
  if (ev->kind == INQ_TIMER && ev->u.timer.id == SOURCE_END_OF_FEED)
    return false;
  if (ev->kind != INQ_BAR)
    return true;
  const bar *b = &ev->u.bar;
  if (!s->o.paced) {
    runner_bar(s->r, b);
  } else {
    size_t i = (size_t)s->n_bars;
    size_t before = oms_count(engine_oms(s->r->e));
    int64_t t0 = clock_mono_ns();
    runner_bar(s->r, b);
    int64_t t1 = clock_mono_ns(); /* the order is at the paper exchange */
    if (oms_count(engine_oms(s->r->e)) > before) {
      s->lat[s->nlat] = t1 - s->stamp[i];
      s->lat_q[s->nlat] = t_pop - s->stamp[i];
      s->lat_bar[s->nlat] = t1 - t0;
      s->nlat++;
    }
  }
  if (b->sym < cfg.instruments.n)
    s->last_event[b->sym] = b->ts;
  s->n_bars++;
  if (s->o.paced)
    atomic_store_explicit(&s->handled, (size_t)s->n_bars, memory_order_release);
  return true;
}

/* session_play's loop. */
static void engine_loop(loop *s) {
  inq_event ev[BATCH];
  for (;;) {
    size_t n = inq_pop_batch(s->q, ev, BATCH);
    if (!n) {
      if (!s->o.spin) {
        int64_t tw = clock_mono_ns();
        inq_wait_spin(s->q, s->o.idle_spin, 100 * 1000000LL);
        s->t_idle += clock_mono_ns() - tw;
        s->waits++;
      }
      continue;
    }
    int64_t ta = clock_mono_ns();
    bool go = true;
    for (size_t i = 0; i < n && go; i++)
      go = handle_event(s, &ev[i], ta);
    int64_t tb = clock_mono_ns();
    if (s->o.snapshots)
      publish(s);
    int64_t tc = clock_mono_ns();
    s->t_events += tb - ta;
    s->t_snap += tc - tb;
    s->batches++;
    if (!go)
      return;
  }
}

typedef struct producer {
  inq *q;
  const bar *v;
  size_t n;
  int64_t *stamp; /* paced: stamp each bar, wait for it, pause */
  atomic_size_t *handled;
  int64_t deadline; /* paced: clock_mono_ns() after which it stops */
  int failures;
  long pause_ns; /* paced: pause after each bar */
} producer;

/* source_push: a replay never drops, it waits in slices. */
static int push(inq *q, const inq_event *ev) {
  for (;;) {
    int rc = inq_push(q, ev, 50 * 1000000LL);
    if (rc != DTO_EAGAIN)
      return rc;
  }
}

static void *producer_main(void *arg) {
  producer *p = arg;
  if (p->stamp) /* so that the 20 us pause is 20 us, not 20 + 50 */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  inq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = INQ_BAR;
  struct timespec pause = {0, p->pause_ns ? p->pause_ns : PAUSE_NS};
  for (size_t i = 0; i < p->n; i++) {
    if (p->stamp && clock_mono_ns() > p->deadline)
      break;
    ev.u.bar = p->v[i];
    if (p->stamp)
      p->stamp[i] = clock_mono_ns();
    if (push(p->q, &ev))
      p->failures++;
    if (p->stamp) {
      for (unsigned spins = 0;
           atomic_load_explicit(p->handled, memory_order_acquire) <= i;
           spins++) {
        if (spins < 2000)
          cpu_relax();
        else
          sched_yield();
      }
      nanosleep(&pause, NULL);
    }
  }
  memset(&ev.u, 0, sizeof ev.u);
  ev.kind = INQ_TIMER;
  ev.u.timer.id = SOURCE_END_OF_FEED;
  if (push(p->q, &ev))
    p->failures++;
  return NULL;
}

typedef struct reader {
  svc *sv;
  atomic_bool stop;
  long pause_ns;
  uint64_t reads, bytes;
} reader;

/* What `dto ctl status` and the HTTP API do with a snapshot. */
static void *reader_main(void *arg) {
  reader *rd = arg;
  dbuf b;
  dbuf_init(&b, 1 << 20);
  struct timespec pause = {0, rd->pause_ns};
  while (!atomic_load_explicit(&rd->stop, memory_order_relaxed)) {
    svc_snap *s = svc_snap_get(rd->sv);
    if (s) {
      dbuf_reset(&b);
      svc_snap_json(s, &b);
      svc_snap_put(s);
      rd->reads++;
      rd->bytes += b.len;
    }
    if (rd->pause_ns)
      nanosleep(&pause, NULL);
  }
  dbuf_release(&b);
  return NULL;
}

typedef struct svc_result {
  double secs;                     /* first push to the end of the feed */
  double t_events, t_snap, t_idle; /* s */
  uint64_t batches, snaps, bars, reads, waits, full, wakeups;
  /* the engine thread's context switches, the machine's load and steal */
  long nvcsw, nivcsw;
  double busy_pct, steal_pct;
  size_t orders;
  int64_t *lat, *lat_q, *lat_bar; /* paced: owned, sorted */
  size_t nlat;
} svc_result;

static void run_service(const bar *v, size_t n, svc_opts o, svc_result *out) {
  memset(out, 0, sizeof *out);
  inq_config qc;
  memset(&qc, 0, sizeof qc);
  qc.capacity = CAP;
  qc.nsyms = (uint32_t)cfg.instruments.n;
  qc.conflate = false; /* a replay: every bar matters */
  loop *s = xcalloc(1, sizeof *s);
  if (inq_new(&qc, &s->q)) {
    fprintf(stderr, "bench_service: inq_new failed\n");
    exit(1);
  }
  s->r = new_runner(v[0].ts);
  s->o = o;
  svc_init(&s->sv, s->q);
  size_t ns = engine_nstrategies(s->r->e);
  s->paused = xcalloc(ns ? ns : 1, sizeof *s->paused);
  s->last_event =
      xcalloc(cfg.instruments.n ? cfg.instruments.n : 1, sizeof *s->last_event);
  atomic_init(&s->handled, 0);
  int64_t *stamp = NULL;
  if (o.paced) {
    stamp = xcalloc(n, sizeof *stamp);
    s->stamp = stamp;
    s->lat = xcalloc(n, sizeof *s->lat);
    s->lat_q = xcalloc(n, sizeof *s->lat_q);
    s->lat_bar = xcalloc(n, sizeof *s->lat_bar);
  }
  if (o.snapshots)
    publish(s); /* status answers from the first moment */
  reader rd;
  memset(&rd, 0, sizeof rd);
  rd.sv = &s->sv;
  atomic_init(&rd.stop, false);
  rd.pause_ns = o.reader == 2 ? READER_PAUSE_NS : 0;
  pthread_t rth, pth;
  if (o.reader)
    pthread_create(&rth, NULL, reader_main, &rd);
  struct rusage ru0, ru1;
  getrusage(RUSAGE_THREAD, &ru0);
  cpu_ticks c0 = read_cpu();
  int64_t t0 = clock_mono_ns();
  producer p = {s->q, v, n, stamp, &s->handled, t0 + LAT_CAP_NS, 0,
                o.pause_ns};
  pthread_create(&pth, NULL, producer_main, &p);
  engine_loop(s);
  int64_t t1 = clock_mono_ns();
  cpu_ticks c1 = read_cpu();
  getrusage(RUSAGE_THREAD, &ru1);
  out->nvcsw = ru1.ru_nvcsw - ru0.ru_nvcsw;
  out->nivcsw = ru1.ru_nivcsw - ru0.ru_nivcsw;
  if (c1.total > c0.total) {
    double dt = (double)(c1.total - c0.total);
    out->busy_pct = 100.0 * (dt - (double)(c1.idle - c0.idle)) / dt;
    out->steal_pct = 100.0 * (double)(c1.steal - c0.steal) / dt;
  }
  pthread_join(pth, NULL);
  if (o.reader) {
    atomic_store(&rd.stop, true);
    pthread_join(rth, NULL);
  }
  if (p.failures)
    fprintf(stderr, "bench_service: %d pushes failed\n", p.failures);
  if (s->n_bars != n && !o.paced)
    fprintf(stderr, "bench_service: %" PRIu64 " of %zu bars handled\n",
            s->n_bars, n);
  out->secs = (double)(t1 - t0) / 1e9;
  out->t_events = (double)s->t_events / 1e9;
  out->t_snap = (double)s->t_snap / 1e9;
  out->t_idle = (double)s->t_idle / 1e9;
  out->waits = s->waits;
  inq_stats qs;
  inq_get_stats(s->q, &qs);
  out->full = qs.waits;
  out->wakeups = qs.wakeups;
  out->batches = s->batches;
  out->snaps = s->snaps;
  out->bars = s->n_bars;
  out->reads = rd.reads;
  if (o.paced) {
    out->lat = s->lat;
    out->lat_q = s->lat_q;
    out->lat_bar = s->lat_bar;
    out->nlat = s->nlat;
    qsort(out->lat, out->nlat, sizeof *out->lat, cmp_i64);
    qsort(out->lat_q, out->nlat, sizeof *out->lat_q, cmp_i64);
    qsort(out->lat_bar, out->nlat, sizeof *out->lat_bar, cmp_i64);
  }
  svc_release(&s->sv);
  out->orders = free_runner(s->r);
  inq_free(s->q);
  free(stamp);
  free(s->paused);
  free(s->last_event);
  free(s);
}

/* ---- report -------------------------------------------------------------- */

static void print_pct(const char *what, const int64_t *v, size_t n) {
  if (!n) {
    printf("%-44s no samples\n", what);
    return;
  }
  printf("%-44s p50 %6.2f us, p99 %7.2f us, p99.9 %7.2f us, max %8.1f us\n",
         what, (double)v[n / 2] / 1e3, (double)v[n * 99 / 100] / 1e3,
         (double)v[n * 999 / 1000] / 1e3, (double)v[n - 1] / 1e3);
}

static size_t parse_count(const char *s, size_t min) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || v < min) {
    fprintf(stderr, "usage: bench_service [N_BARS >= 10000 "
                    "[LATENCY_BARS >= 1000]]\n");
    exit(2);
  }
  return (size_t)v;
}

int main(int argc, char **argv) {
  size_t n = 1000000, nl = 200000;
  if (argc > 1)
    n = parse_count(argv[1], 10000);
  if (argc > 2)
    nl = parse_count(argv[2], 1000);
  char err[CFG_ERR_MAX];
  if (config_load_mem("bench_service.yaml", config_text, sizeof config_text - 1,
                      NULL, &cfg, err, sizeof err)) {
    fprintf(stderr, "bench_service: %s\n", err);
    return 1;
  }
  bar *v = make_bars(n > nl ? n : nl);
  printf("machine                      %ld cores online\n",
         sysconf(_SC_NPROCESSORS_ONLN));
  printf("bars                         %zu (1-minute, one crypto instrument, "
         "ma_crossover 3/10 SMA, fill at bar close, runner_init_session, "
         "no store)\n",
         n);
  print_load("at the start");

  /* ---- throughput --------------------------------------------------- */
  int64_t phase = clock_mono_ns();
  size_t orders = 0;
  (void)run_direct(v, n, &orders); /* warm up: page in the bars */
  double ta[RUNS];
  struct pass {
    const char *name;
    svc_opts o;
    double secs[RUNS], batch[RUNS], idle[RUNS], full[RUNS], reads[RUNS];
    double wakeups[RUNS];
    double snap_ev[RUNS], snap_loop[RUNS], snap_ns[RUNS];
  } ps[4] = {
      {.name = "b. service path, snapshots", .o = {.snapshots = true}},
      {.name = "   + reader, tight loop",
       .o = {.snapshots = true, .reader = 1}},
      {.name = "   + reader every 100 us",
       .o = {.snapshots = true, .reader = 2}},
      {.name = "c. service path, no snapshot", .o = {.snapshots = false}},
  };
  bool mismatch = false;
  for (int k = 0; k < RUNS; k++) {
    size_t o2;
    ta[k] = run_direct(v, n, &o2);
    mismatch |= o2 != orders;
    for (int p = 0; p < 4; p++) {
      svc_result r;
      run_service(v, n, ps[p].o, &r);
      mismatch |= r.orders != orders;
      ps[p].secs[k] = r.secs;
      ps[p].batch[k] = (double)r.bars / (double)r.batches;
      ps[p].idle[k] = 100.0 * r.t_idle / r.secs;
      ps[p].full[k] = (double)r.full;
      ps[p].wakeups[k] = (double)r.wakeups;
      ps[p].reads[k] = (double)r.reads / r.secs;
      ps[p].snap_ev[k] = 100.0 * r.t_snap / r.t_events;
      ps[p].snap_loop[k] = 100.0 * r.t_snap / r.secs;
      ps[p].snap_ns[k] = r.t_snap * 1e9 / (double)r.batches;
    }
  }
  double a = median(ta, RUNS);
  printf("orders                       %zu per pass%s\n", orders,
         mismatch ? "  (MISMATCH: a pass made a different number)" : "");
  printf("a. direct runner_bar         %6.2f M bars/s  (median of %d: %.3f s; "
         "%.1f ns/bar)\n",
         (double)n / a / 1e6, RUNS, a, a * 1e9 / (double)n);
  double b = median(ps[0].secs, RUNS);
  for (int p = 0; p < 4; p++) {
    double t = median(ps[p].secs, RUNS);
    printf("%-28s %6.2f M bars/s  (%.3f s; a %.2fx faster", ps[p].name,
           (double)n / t / 1e6, t, t / a);
    if (p == 1 || p == 2)
      printf(", b %.2fx faster; %.0f snapshots read/s", t / b,
             median(ps[p].reads, RUNS));
    printf(")\n%-28s mean batch %.1f bars; engine idle in inq_wait %.1f%% "
           "of the time, woken %.0f times; %.0f pushes found the queue full\n",
           "", median(ps[p].batch, RUNS), median(ps[p].idle, RUNS),
           median(ps[p].wakeups, RUNS), median(ps[p].full, RUNS));
  }
  printf("snapshot cost in b           %.0f ns per snapshot, one per batch: "
         "%.2f%% of the time in runner_bar, %.2f%% of the loop (medians)\n",
         median(ps[0].snap_ns, RUNS), median(ps[0].snap_ev, RUNS),
         median(ps[0].snap_loop, RUNS));
  printf("(throughput passes took %.1f s)\n",
         (double)(clock_mono_ns() - phase) / 1e9);

  /* ---- latency ------------------------------------------------------ */
  printf("latency, event to order sent: %zu bars paced one at a time "
         "(stamp, push, wait until handled, %d us pause)\n",
         nl, PAUSE_NS / 1000);
  phase = clock_mono_ns();
  int64_t *dl = xcalloc(nl, sizeof *dl);
  size_t dbars;
  char what[96];
  size_t ndl = run_direct_latency(v, nl, 0, dl, &dbars);
  /* the service's loop as it runs (run.idle_spin 50 us) with events 20 us
   * and 200 us apart (within and beyond the spin), then the two ends: a
   * loop that always sleeps (idle_spin 0) and one that always spins */
  static const struct {
    const char *name;
    svc_opts o;
  } lp[4] = {
      {"service loop (idle_spin 50 us), events 20 us apart",
       {.snapshots = true, .paced = true, .idle_spin = 50000}},
      {"service loop (idle_spin 50 us), events 200 us apart",
       {.snapshots = true, .paced = true, .idle_spin = 50000,
        .pause_ns = 200000}},
      {"engine sleeping in inq_wait (idle_spin 0), 20 us apart",
       {.snapshots = true, .paced = true}},
      {"engine spinning on pop_batch, 20 us apart",
       {.snapshots = true, .paced = true, .spin = true}},
  };
  for (int m = 0; m < 4; m++) {
    svc_result r;
    int64_t t0 = clock_mono_ns();
    /* the sparse pass takes 10x longer per bar: a tenth of the bars */
    size_t nb = lp[m].o.pause_ns ? nl / 10 : nl;
    run_service(v, nb, lp[m].o, &r);
    printf("%s: %" PRIu64 " bars%s in %.1f s, %zu orders; snapshot per "
           "bar %.0f ns (%.1f%% of event processing)%s\n",
           lp[m].name, r.bars, r.bars < nb ? " (time cap)" : "",
           (double)(clock_mono_ns() - t0) / 1e9, r.nlat,
           r.t_snap * 1e9 / (double)r.batches, 100.0 * r.t_snap / r.t_events,
           r.bars == nl && r.nlat != ndl ? "  (MISMATCH with the direct pass)"
                                         : "");
    printf("  the engine thread slept %ld times and was preempted %ld times; "
           "all cores %.0f%% busy (this bench included), %.1f%% stolen by "
           "the host\n",
           r.nvcsw, r.nivcsw, r.busy_pct, r.steal_pct);
    snprintf(what, sizeof what, "  push -> order sent");
    print_pct(what, r.lat, r.nlat);
    snprintf(what, sizeof what, "    of which push -> pop (queue, wake-up)");
    print_pct(what, r.lat_q, r.nlat);
    snprintf(what, sizeof what, "    of which runner_bar");
    print_pct(what, r.lat_bar, r.nlat);
    free(r.lat);
    free(r.lat_q);
    free(r.lat_bar);
  }
  printf("direct: runner_bar alone on one thread, order-making bars\n");
  snprintf(what, sizeof what, "  back to back (%zu orders)", ndl);
  print_pct(what, dl, ndl);
  size_t np = run_direct_latency(v, nl, 1, dl, &dbars);
  snprintf(what, sizeof what, "  20 us spin between bars (%zu orders)", np);
  print_pct(what, dl, np);
  np = run_direct_latency(v, nl / 4, 2, dl, &dbars);
  snprintf(what, sizeof what, "  20 us sleep between bars (%zu orders)", np);
  print_pct(what, dl, np);
  printf("budget: event -> order sent on the service path p99 <= 10 us\n");
  print_load("at the end");
  free(dl);
  free(v);
  config_release(&cfg);
  return 0;
}
