/* clock.h - the injected clock.
 *
 * Nothing in dto reads the system time directly: the engine, the log and the
 * strategies ask a dto_clock.  The real clock reads CLOCK_REALTIME; the
 * simulated clock is set by whoever drives it (a backtest sets it to each
 * event's time), which makes runs deterministic.
 */
#ifndef DTO_CLOCK_H
#define DTO_CLOCK_H

#include "core/prelude.h"

typedef struct dto_clock {
  dto_time (*now)(void *ctx);
  void *ctx;
} dto_clock;

static inline dto_time clock_now(const dto_clock *c) { return c->now(c->ctx); }

/* A clock that reads the system's real time. */
void clock_real_init(dto_clock *c);

/* A simulated clock: its time only moves when sim_clock_set() moves it. */
typedef struct sim_clock {
  dto_time t;
} sim_clock;

/* Bind c to sim (the caller owns sim, which must outlive c), starting at t0. */
void clock_sim_init(dto_clock *c, sim_clock *sim, dto_time t0);
/* Move the simulated time to t.  Time never goes backward: an earlier t is
 * ignored. */
static inline void sim_clock_set(sim_clock *sim, dto_time t) {
  if (t > sim->t)
    sim->t = t;
}

/* Monotonic nanoseconds for measuring durations (not wall time). */
int64_t clock_mono_ns(void);

/* The real time, moved forward by the whole number of seconds written in
 * the file named shift_file (tests of timeouts and alert durations: the
 * HTTP API and the monitor read DTO_API_CLOCK_FILE); NULL, a missing or
 * unreadable file, or a number out of 1..100 years: no shift. */
dto_time clock_real_shifted(const char *shift_file);

#endif
