/* bench_inq.c - the service's inbound queue (src/app/inq.c).
 *
 *   1. Throughput: N events (a fixed mix of reports, trades, quotes and
 *      commands, conflation off so every event is delivered) through
 *      - a bare single-thread ring buffer (plain array, head and tail, no
 *        atomics; push until full, pop a batch of 256) - the reference;
 *      - the queue used the same way from one thread (the cost of its
 *        atomics without contention);
 *      - the queue with 1 producer thread and the consumer on the main
 *        thread (pop_batch of 256, inq_wait when empty);
 *      - the queue with 3 producer threads (N/3 each).
 *      Each figure is the median of RUNS runs, in million events per
 *      second, printed next to the bare ring's in the same run.
 *   2. Latency, push to pop: one producer pushes an event stamped with
 *      CLOCK_MONOTONIC, then sleeps 20 us (nanosleep: it gives the core
 *      away, as an I/O thread waiting on a socket does, so the figure does
 *      not depend on a spare core); the consumer
 *      takes the difference when it pops it.  Two consumers: one that
 *      spins on pop_batch, one that sleeps in inq_wait when empty (the
 *      service's engine loop).  p50 and p99 over LAT_N events.
 *
 * usage: bench_inq [N] (default 6000000)
 */
#include "core/prelude.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"
#include "app/inq.h"

#define RUNS 5
#define BATCH 256
#define CAP 4096
#define LAT_N 40000

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static double median_d(double *v, size_t n) {
  for (size_t i = 1; i < n; i++) /* insertion sort: n is 5 */
    for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return v[n / 2];
}

static inq_event *make_events(size_t n) {
  inq_event *ev = xcalloc(n, sizeof *ev);
  for (size_t i = 0; i < n; i++) {
    switch (i % 4) {
    case 0:
      ev[i].kind = INQ_REPORT;
      ev[i].u.report.id = (order_id)i;
      break;
    case 1:
      ev[i].kind = INQ_TRADE;
      ev[i].u.trade.sym = (sym_id)(i % 64);
      ev[i].u.trade.size = (fx)i;
      break;
    case 2:
      ev[i].kind = INQ_QUOTE;
      ev[i].u.quote.sym = (sym_id)(i % 64);
      ev[i].u.quote.bid = (fx)i;
      break;
    default:
      ev[i].kind = INQ_COMMAND;
      ev[i].u.command.id = i;
      break;
    }
  }
  return ev;
}

static inq *new_queue(void) {
  inq_config c = {.capacity = CAP, .high_water = CAP, .conflate = false};
  inq *q = NULL;
  if (inq_new(&c, &q)) {
    fprintf(stderr, "bench_inq: inq_new failed\n");
    exit(1);
  }
  return q;
}

/* Folded into a checksum so the copies are not optimised away. */
static volatile uint64_t sink;

static uint64_t fold(const inq_event *out, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; i++)
    s += (uint64_t)out[i].kind + (uint64_t)out[i].u.trade.ts;
  return s;
}

/* ---- the reference: a bare single-thread ring ------------------------ */

static double run_bare(const inq_event *ev, size_t n) {
  static inq_event ring[CAP], out[BATCH];
  size_t head = 0, tail = 0; /* positions; ring index = pos % CAP */
  uint64_t s = 0;
  int64_t t0 = now_ns();
  for (size_t i = 0; i < n; i++) {
    if (tail - head == CAP) {
      size_t k = 0;
      while (k < BATCH && head < tail)
        out[k++] = ring[head++ % CAP];
      s += fold(out, k);
    }
    ring[tail++ % CAP] = ev[i];
  }
  while (head < tail) {
    size_t k = 0;
    while (k < BATCH && head < tail)
      out[k++] = ring[head++ % CAP];
    s += fold(out, k);
  }
  int64_t t1 = now_ns();
  sink += s;
  return (double)n / ((double)(t1 - t0) / 1e9) / 1e6;
}

/* ---- the queue, one thread ------------------------------------------- */

static double run_inq_single(const inq_event *ev, size_t n) {
  static inq_event out[BATCH];
  inq *q = new_queue();
  uint64_t s = 0;
  int64_t t0 = now_ns();
  for (size_t i = 0; i < n; i++) {
    if (inq_push(q, &ev[i], 0)) {
      size_t k = inq_pop_batch(q, out, BATCH);
      s += fold(out, k);
      if (inq_push(q, &ev[i], 0))
        exit(2);
    }
  }
  size_t k;
  while ((k = inq_pop_batch(q, out, BATCH)) > 0)
    s += fold(out, k);
  int64_t t1 = now_ns();
  sink += s;
  inq_free(q);
  return (double)n / ((double)(t1 - t0) / 1e9) / 1e6;
}

/* ---- the queue, producer threads ------------------------------------- */

struct prod {
  inq *q;
  const inq_event *ev;
  size_t n;
  int64_t period_ns; /* latency run: one event per period, stamped */
  int failures;
};

static void *prod_main(void *arg) {
  struct prod *p = arg;
  for (size_t i = 0; i < p->n; i++)
    if (inq_push(p->q, &p->ev[i], 10LL * DTO_NS_PER_SEC))
      p->failures++;
  return NULL;
}

static double run_inq_threads(const inq_event *ev, size_t n, int nprod) {
  static inq_event out[BATCH];
  inq *q = new_queue();
  struct prod ps[3];
  pthread_t th[3];
  size_t per = n / (size_t)nprod;
  int64_t t0 = now_ns();
  for (int p = 0; p < nprod; p++) {
    ps[p] = (struct prod){.q = q, .ev = ev + (size_t)p * per, .n = per};
    pthread_create(&th[p], NULL, prod_main, &ps[p]);
  }
  size_t got = 0, want = per * (size_t)nprod;
  uint64_t s = 0;
  while (got < want) {
    size_t k = inq_pop_batch(q, out, BATCH);
    if (!k) {
      if (inq_wait(q, 10LL * DTO_NS_PER_SEC))
        break;
      continue;
    }
    s += fold(out, k);
    got += k;
  }
  int64_t t1 = now_ns();
  for (int p = 0; p < nprod; p++) {
    pthread_join(th[p], NULL);
    if (ps[p].failures)
      fprintf(stderr, "bench_inq: %d pushes timed out\n", ps[p].failures);
  }
  if (got != want)
    fprintf(stderr, "bench_inq: got %zu of %zu events\n", got, want);
  sink += s;
  inq_free(q);
  return (double)got / ((double)(t1 - t0) / 1e9) / 1e6;
}

/* ---- latency ---------------------------------------------------------- */

static void *lat_prod(void *arg) {
  struct prod *p = arg;
  inq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = INQ_TIMER;
  struct timespec nap = {0, (long)p->period_ns};
  for (size_t i = 0; i < p->n; i++) {
    nanosleep(&nap, NULL); /* gives the core away, as an I/O thread does */
    ev.u.timer.at = now_ns();
    if (inq_push(p->q, &ev, 10LL * DTO_NS_PER_SEC))
      p->failures++;
  }
  return NULL;
}

static void run_latency(bool sleep_when_empty) {
  static inq_event out[BATCH];
  static int64_t lat[LAT_N];
  inq *q = new_queue();
  struct prod p = {.q = q, .n = LAT_N, .period_ns = 20000};
  pthread_t th;
  pthread_create(&th, NULL, lat_prod, &p);
  size_t got = 0;
  while (got < LAT_N) {
    size_t k = inq_pop_batch(q, out, BATCH);
    if (!k) {
      if (sleep_when_empty && inq_wait(q, 10LL * DTO_NS_PER_SEC))
        break;
      continue;
    }
    int64_t t = now_ns();
    for (size_t i = 0; i < k && got < LAT_N; i++)
      lat[got++] = t - out[i].u.timer.at;
  }
  pthread_join(th, NULL);
  inq_free(q);
  qsort(lat, got, sizeof lat[0], cmp_i64);
  printf("latency push->pop, consumer %s: p50 %.0f ns, p99 %.0f ns, "
         "p99.9 %.1f us (%zu events, producer sleeps 20 us between)\n",
         sleep_when_empty ? "sleeping in inq_wait" : "spinning on pop_batch",
         (double)lat[got / 2], (double)lat[got * 99 / 100],
         (double)lat[got * 999 / 1000] / 1e3, got);
}

int main(int argc, char **argv) {
  size_t n = 6000000;
  if (argc > 1) {
    char *end;
    unsigned long long v = strtoull(argv[1], &end, 10);
    if (*end || v < 30000) {
      fprintf(stderr, "usage: bench_inq [N >= 30000]\n");
      return 2;
    }
    n = (size_t)v;
  }
  inq_event *ev = make_events(n);
  double bare[RUNS], single[RUNS], one[RUNS], three[RUNS];
  for (int r = 0; r < RUNS; r++) {
    bare[r] = run_bare(ev, n);
    single[r] = run_inq_single(ev, n);
    one[r] = run_inq_threads(ev, n, 1);
    three[r] = run_inq_threads(ev, n, 3);
  }
  double b = median_d(bare, RUNS), s = median_d(single, RUNS),
         o = median_d(one, RUNS), t = median_d(three, RUNS);
  printf("event size %zu bytes, %zu events, capacity %d, median of %d\n",
         sizeof(inq_event), n, CAP, RUNS);
  printf("bare single-thread ring:      %7.1f M events/s\n", b);
  printf("inq, push+pop on one thread:  %7.1f M events/s  (bare %.1fx)\n", s,
         b / s);
  printf("inq, 1 producer + consumer:   %7.1f M events/s  (bare %.1fx)\n", o,
         b / o);
  printf("inq, 3 producers + consumer:  %7.1f M events/s  (bare %.1fx)\n", t,
         b / t);
  run_latency(false);
  run_latency(true);
  free(ev);
  return 0;
}
