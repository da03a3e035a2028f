/* clock.c - real and simulated clocks. */
#define _POSIX_C_SOURCE 200809L
#include "core/clock.h"

#include <stdio.h>
#include <time.h>

static dto_time real_now(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (dto_time)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

void clock_real_init(dto_clock *c) {
  c->now = real_now;
  c->ctx = NULL;
}

static dto_time sim_now(void *ctx) { return ((sim_clock *)ctx)->t; }

void clock_sim_init(dto_clock *c, sim_clock *sim, dto_time t0) {
  sim->t = t0;
  c->now = sim_now;
  c->ctx = sim;
}

int64_t clock_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

dto_time clock_real_shifted(const char *shift_file) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  dto_time t = (dto_time)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
  if (shift_file) {
    FILE *f = fopen(shift_file, "r");
    long long s = 0;
    if (f) {
      if (fscanf(f, "%lld", &s) != 1)
        s = 0;
      fclose(f);
    }
    if (s > 0 && s < 100LL * 365 * 86400)
      t += (dto_time)s * DTO_NS_PER_SEC;
  }
  return t;
}
