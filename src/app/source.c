/* source.c - the source thread's frame and the replay source. */
#define _POSIX_C_SOURCE 200809L
#include "app/source.h"

#include <errno.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"

void source_init(source *s, const source_ops *ops, inq *q, uint32_t index,
                 void *impl) {
  memset(s, 0, sizeof *s);
  s->ops = ops;
  s->q = q;
  s->index = index;
  s->impl = impl;
  atomic_init(&s->stop, false);
  atomic_init(&s->pushed, 0);
  pthread_mutex_init(&s->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_condattr_destroy(&ca);
}

bool source_sleep(source *s, int64_t ns) {
  if (ns <= 0)
    return !atomic_load(&s->stop);
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  int64_t t = (int64_t)dl.tv_nsec + ns % DTO_NS_PER_SEC;
  dl.tv_sec += (time_t)(ns / DTO_NS_PER_SEC + t / DTO_NS_PER_SEC);
  dl.tv_nsec = (long)(t % DTO_NS_PER_SEC);
  pthread_mutex_lock(&s->mu);
  int rc = 0;
  while (!atomic_load(&s->stop) && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&s->cv, &s->mu, &dl);
  pthread_mutex_unlock(&s->mu);
  return !atomic_load(&s->stop);
}

bool source_push(source *s, const inq_event *ev) {
  /* a replay never drops: wait in slices so a stop is seen promptly */
  while (!atomic_load(&s->stop)) {
    int rc = inq_push(s->q, ev, 50 * 1000000LL);
    if (rc == 0) {
      atomic_fetch_add_explicit(&s->pushed, 1, memory_order_relaxed);
      return true;
    }
    if (rc != DTO_EAGAIN)
      return false;
  }
  return false;
}

static void *source_main(void *arg) {
  source *s = arg;
  s->result = s->ops->run(s);
  return NULL;
}

int source_start(source *s) {
  if (pthread_create(&s->th, NULL, source_main, s))
    return DTO_ENOMEM;
  s->started = true;
  return 0;
}

void source_stop(source *s) {
  pthread_mutex_lock(&s->mu);
  atomic_store(&s->stop, true);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

void source_free(source *s) {
  if (!s)
    return;
  source_stop(s);
  if (s->started)
    pthread_join(s->th, NULL);
  if (s->ops->free)
    s->ops->free(s);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

/* ---- replay -------------------------------------------------------------- */

typedef struct replay {
  const bar *bars;
  size_t n, first;
  double speed;
} replay;

/* Bars at their times divided by speed: the gap between two bar times is
 * slept before the later one (at most 60 s, as a feed with a weekend gap
 * should not stand still for days); speed 0 does not wait. */
static int replay_run(source *s) {
  const replay *rp = s->impl;
  inq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.src = s->index;
  int64_t due = clock_mono_ns();
  for (size_t i = rp->first; i < rp->n; i++) {
    if (i > rp->first && rp->speed > 0 && rp->bars[i].ts != rp->bars[i - 1].ts) {
      double gap = (double)(rp->bars[i].ts - rp->bars[i - 1].ts) / rp->speed;
      due += gap > 60e9 ? (int64_t)60e9 : (int64_t)gap;
      if (!source_sleep(s, due - clock_mono_ns()))
        return 0;
    }
    ev.kind = INQ_BAR;
    ev.u.bar = rp->bars[i];
    if (!source_push(s, &ev))
      return 0;
  }
  memset(&ev.u, 0, sizeof ev.u);
  ev.kind = INQ_TIMER;
  ev.u.timer.id = SOURCE_END_OF_FEED;
  source_push(s, &ev);
  return 0;
}

static void replay_free(source *s) { free(s->impl); }

static const source_ops replay_ops = {"replay", SOURCE_CLOCK_SIMULATED,
                                      replay_run, replay_free};
static const source_ops generate_ops = {"generate", SOURCE_CLOCK_SIMULATED,
                                        replay_run, replay_free};

source *source_replay_new(const char *name, const bar *bars, size_t n,
                          size_t first, double speed, inq *q,
                          uint32_t index) {
  replay *rp = xcalloc(1, sizeof *rp);
  rp->bars = bars;
  rp->n = n;
  rp->first = first;
  rp->speed = speed;
  source *s = xcalloc(1, sizeof *s);
  source_init(s, name && !strcmp(name, "generate") ? &generate_ops
                                                   : &replay_ops,
              q, index, rp);
  return s;
}
