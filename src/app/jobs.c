/* jobs.c - the job scheduler's thread and the status report. */
#define _POSIX_C_SOURCE 200809L
#include "app/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"

struct jobs {
  svc *sv;
  sched *tab;
  dto_log log;
  dto_clock clk;
  bool real;
  atomic_bool quit;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t th;
  bool started;
  dto_time last; /* the last time given to the table */
};

/* The jobs' clock: the real one, or the engine's time in the latest
 * snapshot (never earlier than before). */
static dto_time jobs_now(void *ctx) {
  jobs *j = ctx;
  if (j->real) {
    dto_clock rc;
    clock_real_init(&rc);
    return clock_now(&rc);
  }
  svc_snap *s = svc_snap_get(j->sv);
  dto_time t = s ? s->now : j->last;
  svc_snap_put(s);
  return t;
}

jobs *jobs_new(svc *sv, const calendar *cal, FILE *logf, enum log_level min,
               bool real_clock) {
  jobs *j = xcalloc(1, sizeof *j);
  j->sv = sv;
  j->real = real_clock;
  j->clk.now = jobs_now;
  j->clk.ctx = j;
  log_init(&j->log, logf, &j->clk, min);
  j->last = jobs_now(j);
  j->tab = sched_new(cal, &j->log, j->last);
  atomic_init(&j->quit, false);
  pthread_mutex_init(&j->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&j->cv, &ca);
  pthread_condattr_destroy(&ca);
  return j;
}

int jobs_add(jobs *j, const char *name, const char *expr, sched_fn fn,
             void *ctx, char *err, size_t cap) {
  sched_expr e;
  int rc = sched_parse(expr, &e, err, cap);
  if (rc)
    return rc;
  if ((rc = sched_add(j->tab, name, &e, fn, ctx)))
    snprintf(err, cap, "job %s, schedule '%s': %s", name, expr,
             rc == DTO_EINVAL ? "needs an exchange calendar"
                              : dto_strerror(rc));
  return rc;
}

dto_log *jobs_log(jobs *j) { return &j->log; }
svc *jobs_svc(jobs *j) { return j->sv; }

/* How long the thread sleeps between looks at the table: with the real
 * clock until the next job is due (at most a second); with the
 * snapshots' clock a short real-time poll, as simulated time may run far
 * faster than real time. */
#define JOBS_POLL_NS (20 * 1000000LL)

static void *jobs_main(void *arg) {
  jobs *j = arg;
  while (!atomic_load(&j->quit)) {
    dto_time now = jobs_now(j);
    if (now > j->last)
      j->last = now;
    sched_run_due(j->tab, j->last);
    int64_t wait = JOBS_POLL_NS;
    if (j->real) {
      dto_time next = sched_next_due(j->tab);
      wait = next == INT64_MAX || next - j->last > DTO_NS_PER_SEC
                 ? DTO_NS_PER_SEC
                 : (next > j->last ? next - j->last : 0);
    }
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    int64_t ns = (int64_t)dl.tv_nsec + wait;
    dl.tv_sec += (time_t)(ns / DTO_NS_PER_SEC);
    dl.tv_nsec = (long)(ns % DTO_NS_PER_SEC);
    pthread_mutex_lock(&j->mu);
    int rc = 0;
    while (!atomic_load(&j->quit) && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&j->cv, &j->mu, &dl);
    pthread_mutex_unlock(&j->mu);
  }
  return NULL;
}

int jobs_start(jobs *j) {
  if (pthread_create(&j->th, NULL, jobs_main, j))
    return DTO_ENOMEM;
  j->started = true;
  return 0;
}

void jobs_free(jobs *j) {
  if (!j)
    return;
  if (j->started) {
    pthread_mutex_lock(&j->mu);
    atomic_store(&j->quit, true);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->th, NULL);
  }
  sched_free(j->tab);
  log_close(&j->log);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j);
}

int jobs_status_report(void *ctx, const sched_firing *f) {
  jobs *j = ctx;
  svc_snap *s = svc_snap_get(j->sv);
  if (!s)
    return 0; /* nothing published yet: nothing to report */
  log_line l;
  if (log_begin(&l, &j->log, LOG_INFO, "status")) {
    log_str(&l, "job", f->name);
    log_time(&l, "due", f->due);
    log_str(&l, "state", s->state);
    log_str(&l, "kill_switch", s->killed ? "on" : "off");
    log_str(&l, "maintenance", s->maintenance ? "on" : "off");
    log_int(&l, "bars", (int64_t)s->bars);
    log_int(&l, "commands", (int64_t)s->commands);
    log_int(&l, "orders", (int64_t)s->orders);
    log_int(&l, "fills", (int64_t)s->fills);
    log_int(&l, "working_orders", (int64_t)s->working);
    log_int(&l, "positions", (int64_t)s->npositions);
    log_int(&l, "refusals", (int64_t)s->refusals);
    log_int(&l, "queue_depth", (int64_t)s->queue_depth);
    log_int(&l, "conflated", (int64_t)s->conflated);
    for (size_t a = 0; a < s->naccounts; a++) {
      char k[SVC_NAME_MAX + 16];
      snprintf(k, sizeof k, "equity.%s", s->accounts[a].id);
      log_fx(&l, k, s->accounts[a].equity);
      snprintf(k, sizeof k, "day_pnl.%s", s->accounts[a].id);
      log_fx(&l, k, s->accounts[a].day_pnl);
    }
    log_end(&l);
  }
  svc_snap_put(s);
  return 0;
}
