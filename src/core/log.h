/* log.h - structured log: one JSON object per line.
 *
 * Each line has "ts" (from the injected clock, ISO-8601 UTC), "level",
 * "event", "component" (the event's name up to its first '.': "api",
 * "order", "alert"; none for a name without a dot) and then the fields the
 * caller adds, in order.  The log never holds secrets: callers pass
 * identifiers, not credentials, and as a second line of defence log_str
 * writes "[redacted]" for the value of a key that names a credential
 * (password, secret, token, authorization, cookie, api_key, private) and
 * masks what looks like one inside any value (dto's API tokens, "Bearer
 * X", the password of a URL).  A line is built
 * in a local buffer and written with one fwrite, so concurrent writers do not
 * interleave inside a line.
 *
 *   log_line l;
 *   if (log_begin(&l, lg, LOG_INFO, "order.filled")) {
 *     log_str(&l, "symbol", "AAPL");
 *     log_fx(&l, "qty", qty);
 *     log_end(&l);
 *   }
 *
 * Flood control: repeated lines are rate-limited per event name.  Time is
 * cut into windows of the log's own clock (the injected one, so a replay
 * limits the same way every time); in each window at most `limit_lines`
 * lines of one event name are written and log_begin() returns false for
 * the rest.  None is lost without a trace: when the window of a name that
 * had lines dropped is over (seen at the next log_begin() of any name), and
 * at log_flush() / log_close(), one summary line is written:
 *
 *   {"ts":...,"level":"warn","event":"log.suppressed","name":"store.items_lost",
 *    "count":999990,"errors":0,"since":"2025-01-02T14:30:00Z"}
 *
 * count is exactly the lines dropped since the name's last summary, errors
 * how many of them were errors; the summary is an error itself when any
 * were, so it passes every level filter its lines passed.  Summaries are
 * never limited.  Defaults: 1000 lines per name per second (a real flood
 * is capped, ordinary bursts of orders within one simulated second are
 * not); log_set_limit() changes them.
 */
#ifndef DTO_LOG_H
#define DTO_LOG_H

#include <pthread.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/prelude.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Event names the limiter tells apart at once; when more are seen, every
 * pending summary is written and the counts start afresh (never fewer
 * lines than the limit, never a drop without a summary). */
#define LOG_LIMIT_NAMES 64
#define LOG_LIMIT_NAME_MAX 63 /* longer names are told apart by this prefix */
#define LOG_LIMIT_LINES_DEFAULT 1000
#define LOG_LIMIT_WINDOW_DEFAULT DTO_NS_PER_SEC

/* The limiter's count for one event name (internal to log.c). */
typedef struct log_limit_slot {
  char name[LOG_LIMIT_NAME_MAX + 1]; /* "" when free */
  int64_t win;                       /* the window the counts are for */
  uint64_t lines;                    /* written in that window */
  uint64_t dropped;                  /* dropped since the last summary */
  uint64_t errors;                   /* of which at error level */
  int64_t since; /* window of the first line dropped since then */
} log_limit_slot;

typedef struct dto_log {
  FILE *out;              /* not owned */
  const dto_clock *clock; /* not owned */
  enum log_level min;
  /* flood control (log_set_limit); the rest is the limiter's state */
  uint64_t limit_lines;  /* per name per window; 0: no limit */
  dto_time limit_window; /* > 0 */
  pthread_mutex_t mu;    /* the limiter's state, for several threads */
  log_limit_slot slots[LOG_LIMIT_NAMES];
  int nslots;
  dto_time due;        /* the earliest end of a window with drops */
  uint64_t suppressed; /* lines dropped since log_init, in all */
  /* the writer thread (log_start_writer): finished lines wait in pend */
  bool async;
  pthread_t th;
  pthread_mutex_t wmu; /* pend, wquit, writing; taken after mu, never before */
  pthread_cond_t wcv;  /* lines to write, or quit */
  pthread_cond_t wdone; /* pend written */
  dbuf pend;
  bool wquit, writing;
  uint64_t waits; /* log_end calls that found pend full and waited */
} dto_log;

/* Lines a log with a writer thread holds before log_end waits for it. */
#define LOG_PEND_MAX (4u * 1024 * 1024)

/* Longest line, newline included.  A field that would make the line longer
 * is left out and the line gets "truncated":true, so every line stays one
 * valid JSON object. */
#define LOG_LINE_MAX (64 * 1024)

typedef struct log_line {
  dto_log *lg;
  dbuf b;
  bool truncated; /* a field was left out */
} log_line;

/* Start a log writing to out (may be NULL: nothing is written) with time
 * from clock, lines below min left out, and the default flood limits.
 * Allocates nothing; log_close() writes what is pending. */
void log_init(dto_log *lg, FILE *out, const dto_clock *clock,
              enum log_level min);
/* From here on lines are written by a thread of the log's own: log_end
 * only copies the line into memory (up to LOG_PEND_MAX bytes; past that it
 * waits for the writer, so nothing is lost), and the thread that logs does
 * no I/O.  log_flush waits until every line is written; log_close stops
 * the thread.  0, or DTO_ENOMEM when the thread cannot start (the log
 * stays synchronous). */
int log_start_writer(dto_log *lg);
/* At most lines lines per event name in each window of `window` ns of the
 * log's clock (lines 0: no limit).  DTO_EINVAL (nothing changes) for a
 * window <= 0.  Pending summaries are written first. */
int log_set_limit(dto_log *lg, uint64_t lines, dto_time window);
/* Write the summary of every name with dropped lines now (whether or not
 * its window is over) and flush out.  NULL does nothing. */
void log_flush(dto_log *lg);
/* log_flush(), then release what log_init() set up; lg may be initialised
 * again afterwards.  NULL does nothing. */
void log_close(dto_log *lg);
/* Lines dropped by the limiter since log_init(). */
uint64_t log_suppressed(const dto_log *lg);
/* Lines written to out start with a syslog priority, "<3>{...}" (the
 * journal's stream protocol: sd_journal_stream_fd with level_prefix);
 * NULL: none. */
void log_set_priority_prefix(FILE *out);
/* Point out (and every log writing to it) at the file path, appended,
 * created 0640: SIGHUP after a rotation.  0 or an error code; on failure
 * out keeps writing where it did. */
int log_reopen(FILE *out, const char *path);
/* Parse "debug", "info", "warn", "error", "off"; -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level l);

/* Start a line.  Returns false (and the caller skips the rest) when the level
 * is below the threshold, lg is NULL, or the flood limit of this event name
 * is reached in the current window (the line is counted for the summary).  When
 * it returns true the line holds memory until log_end(), which the caller must
 * call. */
bool log_begin(log_line *l, dto_log *lg, enum log_level level,
               const char *event);
/* Add a field.  Keys and strings are JSON-escaped (a NULL val is written as
 * ""); an fx is written as a string in shortest decimal form so no precision
 * is lost; a time as an ISO-8601 string. */
void log_str(log_line *l, const char *key, const char *val);
void log_int(log_line *l, const char *key, int64_t val);
void log_fx(log_line *l, const char *key, fx val);
void log_time(log_line *l, const char *key, dto_time t);
/* Close the line, write it with one fwrite and flush (or hand it to the
 * writer thread), and free its memory. */
void log_end(log_line *l);

#endif
