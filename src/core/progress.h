/* progress.h - a one-line progress display on stderr for long work.
 *
 * Backtests, data conversion and generation can take seconds to minutes; a
 * progress line tells the operator that something is happening and how long
 * it will take.  The display is only drawn when stderr is a terminal and the
 * caller did not ask for quiet, so logs, pipes and tests never see it.  It
 * redraws at most every 200 ms (monotonic clock) and is cheap to update in a
 * hot loop: an update first compares the count with a threshold and reads
 * the clock only when the count has moved far enough.
 *
 * This is not a logger: nothing is drawn for non-terminals, and progress_done
 * erases the line so the next output starts clean.
 */
#ifndef DTO_CORE_PROGRESS_H
#define DTO_CORE_PROGRESS_H

#include "core/prelude.h"

#define PROGRESS_LABEL_MAX 40 /* bytes of the label shown, with the NUL */

typedef struct progress {
  char label[PROGRESS_LABEL_MAX];
  uint64_t total;      /* 0 = unknown: only the count is shown */
  uint64_t done;       /* last value passed to progress_update */
  uint64_t next_check; /* read the clock only once done >= this */
  uint64_t stride;     /* how far next_check moves after each check */
  int64_t start_ns;    /* clock_mono_ns() at progress_init */
  int64_t last_draw_ns;
  bool active; /* stderr is a terminal and not quiet */
  bool drawn;  /* a line is on the screen and must be cleared */
} progress;

/* Start a display for work of total units (0 when unknown) named label
 * (copied, truncated to PROGRESS_LABEL_MAX - 1 bytes).  With quiet, or when
 * stderr is not a terminal, every later call does nothing.  Nothing is drawn
 * until 200 ms have passed, so short work leaves no trace. */
void progress_init(progress *p, const char *label, uint64_t total, bool quiet);

/* Record that done units are finished.  Cheap when called often: it reads
 * the clock only every total/1000 units (or 1024 when total is unknown) and
 * redraws only when 200 ms have passed since the last draw. */
void progress_update(progress *p, uint64_t done);

/* Finish: erase the line if one was drawn.  p may be reused with
 * progress_init afterwards. */
void progress_done(progress *p);

/* Format the line that would be drawn at monotonic time now_ns into buf
 * (cap >= 1), without the leading "\r" or terminal escapes: "label  42%
 * 4200/10000  1:05 left".  Returns the length written.  Exposed for tests. */
size_t progress__format(const progress *p, int64_t now_ns, char *buf,
                        size_t cap);

#endif
