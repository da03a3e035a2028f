/* lifecycle.c - the service's states, and the systemd notify protocol. */
#include "app/lifecycle.h"

#include <stdlib.h>

#include <systemd/sd-daemon.h>

#include "core/error.h"

static const char *const names[LC_COUNT] = {
#define DTO__LC_NAME(name, str) [LC_##name] = str,
    LIFECYCLE_MAP(DTO__LC_NAME)
#undef DTO__LC_NAME
};

const char *lc_state_name(enum lc_state s) {
  return (unsigned)s < LC_COUNT ? names[s] : "unknown";
}

/* legal[from][to] */
#define T true
#define F false
static const bool legal[LC_COUNT][LC_COUNT] = {
    /* to:            start rec   recon ready halt  maint drain stop */
    [LC_STARTING] = {F, T, T, F, F, F, T, T},
    [LC_RECOVERING] = {F, F, T, F, F, F, T, T},
    [LC_RECONCILING] = {F, F, F, T, T, F, T, T},
    [LC_READY] = {F, F, T, F, T, T, T, F},
    [LC_HALTED] = {F, F, T, T, F, T, T, F},
    [LC_MAINTENANCE] = {F, F, F, T, T, F, T, F},
    [LC_DRAINING] = {F, F, F, F, F, F, F, T},
    [LC_STOPPED] = {F, F, F, F, F, F, F, F},
};
#undef T
#undef F

bool lc_transition_legal(enum lc_state from, enum lc_state to) {
  return (unsigned)from < LC_COUNT && (unsigned)to < LC_COUNT &&
         legal[from][to];
}

/* systemd's notify protocol through libsystemd's sd_notify(3): best
 * effort, as systemd not listening is not our failure; nothing is sent when
 * dto does not run under systemd (NOTIFY_SOCKET unset). */
static void notify(lifecycle *lc, const char *msg) {
  if (lc->notify)
    (void)sd_notify(0, msg);
}

void lifecycle_init(lifecycle *lc, dto_log *log) {
  memset(lc, 0, sizeof *lc);
  lc->state = LC_STARTING;
  lc->log = log;
  const char *p = getenv("NOTIFY_SOCKET");
  lc->notify = p && *p;
  /* WATCHDOG_USEC (and WATCHDOG_PID, which must be ours when set), as
   * sd_watchdog_enabled(3) reads them; pings every half interval */
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec < 86400ULL * 1000000)
    lc->watchdog_ns = (int64_t)usec * 1000 / 2;
  lc->watchdog_last = clock_mono_ns();
  notify(lc, "STATUS=starting");
}

void lifecycle_release(lifecycle *lc) { lc->notify = false; }

void lifecycle_observe(lifecycle *lc, lc_observer fn, void *ctx) {
  lc->obs = fn;
  lc->obs_ctx = ctx;
}

int lifecycle_transition(lifecycle *lc, enum lc_state to, const char *why) {
  enum lc_state from = lc->state;
  if (to == from)
    return 0;
  bool ok = lc_transition_legal(from, to);
  log_line l;
  if (log_begin(&l, lc->log, ok ? LOG_INFO : LOG_ERROR,
                ok ? "lifecycle" : "lifecycle.refused")) {
    log_str(&l, "from", lc_state_name(from));
    log_str(&l, "to", lc_state_name(to));
    log_str(&l, "why", why ? why : "");
    log_end(&l);
  }
  if (!ok) {
    lc->illegal++;
    if (lc->obs)
      lc->obs(lc->obs_ctx, from, to, why, false);
    return DTO_ESTATE;
  }
  lc->state = to;
  if (lc->obs)
    lc->obs(lc->obs_ctx, from, to, why, true);
  char msg[160];
  if ((to == LC_READY || to == LC_HALTED) && !lc->ready_sent) {
    /* started: the books are reconciled (or trading is off on purpose,
     * which is a running service too) */
    lc->ready_sent = true;
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", lc_state_name(to));
  } else if (to == LC_DRAINING) {
    snprintf(msg, sizeof msg, "STOPPING=1\nSTATUS=draining");
  } else {
    snprintf(msg, sizeof msg, "STATUS=%s", lc_state_name(to));
  }
  notify(lc, msg);
  return 0;
}

int64_t lifecycle_watchdog_due(const lifecycle *lc) {
  if (!lc->watchdog_ns)
    return INT64_MAX;
  int64_t left = lc->watchdog_last + lc->watchdog_ns - clock_mono_ns();
  return left > 0 ? left : 0;
}

void lifecycle_watchdog(lifecycle *lc) {
  if (!lc->watchdog_ns)
    return;
  int64_t now = clock_mono_ns();
  if (now - lc->watchdog_last < lc->watchdog_ns)
    return;
  lc->watchdog_last = now;
  notify(lc, "WATCHDOG=1");
}
