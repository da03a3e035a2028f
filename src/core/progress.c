/* progress.c - the progress line on stderr (see progress.h). */
#include "core/progress.h"

#include <unistd.h>

#include "core/clock.h"

#define REDRAW_NS (200LL * 1000000LL)

void progress_init(progress *p, const char *label, uint64_t total, bool quiet) {
  memset(p, 0, sizeof *p);
  if (label) {
    size_t n = strlen(label);
    if (n >= sizeof p->label)
      n = sizeof p->label - 1;
    memcpy(p->label, label, n);
  }
  p->total = total;
  p->stride = total ? total / 1000 : 1024;
  if (p->stride == 0)
    p->stride = 1;
  p->next_check = p->stride;
  p->active = !quiet && isatty(STDERR_FILENO);
  if (p->active) {
    p->start_ns = clock_mono_ns();
    p->last_draw_ns = p->start_ns;
  }
}

/* "1:05" or "2:03:04" for a number of seconds. */
static size_t format_secs(int64_t s, char *buf, size_t cap) {
  int n;
  if (s >= 3600)
    n = snprintf(buf, cap, "%lld:%02d:%02d", (long long)(s / 3600),
                 (int)(s / 60 % 60), (int)(s % 60));
  else
    n = snprintf(buf, cap, "%d:%02d", (int)(s / 60), (int)(s % 60));
  if (n < 0)
    return 0;
  return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t progress__format(const progress *p, int64_t now_ns, char *buf,
                        size_t cap) {
  char eta[32] = "";
  int n;
  uint64_t done = p->done;
  if (p->total == 0) {
    n = snprintf(buf, cap, "%s  %llu", p->label, (unsigned long long)done);
  } else {
    if (done > p->total)
      done = p->total;
    unsigned pct = (unsigned)((unsigned __int128)done * 100 / p->total);
    if (done > 0 && now_ns > p->start_ns) {
      unsigned __int128 el = (unsigned __int128)(now_ns - p->start_ns);
      int64_t left_s = (int64_t)(el * (p->total - done) / done /
                                 (unsigned __int128)DTO_NS_PER_SEC);
      char t[24];
      format_secs(left_s, t, sizeof t);
      snprintf(eta, sizeof eta, "  %s left", t);
    }
    n = snprintf(buf, cap, "%s %3u%%  %llu/%llu%s", p->label, pct,
                 (unsigned long long)done, (unsigned long long)p->total, eta);
  }
  if (n < 0) {
    buf[0] = '\0';
    return 0;
  }
  return (size_t)n < cap ? (size_t)n : cap - 1;
}

void progress_update(progress *p, uint64_t done) {
  p->done = done;
  if (!p->active || done < p->next_check)
    return;
  p->next_check = done + p->stride;
  int64_t now = clock_mono_ns();
  if (now - p->last_draw_ns < REDRAW_NS)
    return;
  p->last_draw_ns = now;
  char line[160];
  progress__format(p, now, line, sizeof line);
  /* \r back to column 0, the line, then erase whatever was longer before. */
  fprintf(stderr, "\r%s\033[K", line);
  fflush(stderr);
  p->drawn = true;
}

void progress_done(progress *p) {
  if (p->active && p->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
  p->drawn = false;
  p->active = false;
}
