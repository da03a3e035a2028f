/* log.h - structured log: one JSON object per line.
 *
 * Each line has "ts" (from the injected clock, ISO-8601 UTC), "level",
 * "event" and then the fields the caller adds, in order.  The log never
 * holds secrets: callers pass identifiers, not credentials.  A line is built
 * in a local buffer and written with one fwrite, so concurrent writers do not
 * interleave inside a line.
 *
 *   log_line l;
 *   if (log_begin(&l, lg, LOG_INFO, "order.filled")) {
 *     log_str(&l, "symbol", "AAPL");
 *     log_fx(&l, "qty", qty);
 *     log_end(&l);
 *   }
 */
#ifndef DTO_LOG_H
#define DTO_LOG_H

#include "core/buf.h"
#include "core/clock.h"
#include "core/prelude.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

typedef struct dto_log {
  FILE *out;              /* not owned */
  const dto_clock *clock; /* not owned */
  enum log_level min;
} dto_log;

/* Longest line, newline included.  A field that would make the line longer
 * is left out and the line gets "truncated":true, so every line stays one
 * valid JSON object. */
#define LOG_LINE_MAX (64 * 1024)

typedef struct log_line {
  dto_log *lg;
  dbuf b;
  bool truncated; /* a field was left out */
} log_line;

void log_init(dto_log *lg, FILE *out, const dto_clock *clock,
              enum log_level min);
/* Parse "debug", "info", "warn", "error", "off"; -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level l);

/* Start a line.  Returns false (and the caller skips the rest) when the level
 * is below the threshold or lg is NULL.  When it returns true the line holds
 * memory until log_end(), which the caller must call. */
bool log_begin(log_line *l, dto_log *lg, enum log_level level,
               const char *event);
/* Add a field.  Keys and strings are JSON-escaped (a NULL val is written as
 * ""); an fx is written as a string in shortest decimal form so no precision
 * is lost; a time as an ISO-8601 string. */
void log_str(log_line *l, const char *key, const char *val);
void log_int(log_line *l, const char *key, int64_t val);
void log_fx(log_line *l, const char *key, fx val);
void log_time(log_line *l, const char *key, dto_time t);
/* Close the line, write it with one fwrite, flush, and free its memory. */
void log_end(log_line *l);

#endif
