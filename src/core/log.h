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

typedef struct log_line {
  dto_log *lg;
  dbuf b;
} log_line;

void log_init(dto_log *lg, FILE *out, const dto_clock *clock,
              enum log_level min);
/* Parse "debug", "info", "warn", "error", "off"; -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level l);

/* Start a line.  Returns false (and the caller skips the rest) when the level
 * is below the threshold or lg is NULL. */
bool log_begin(log_line *l, dto_log *lg, enum log_level level,
               const char *event);
void log_str(log_line *l, const char *key, const char *val);
void log_int(log_line *l, const char *key, int64_t val);
void log_fx(log_line *l, const char *key, fx val);
void log_time(log_line *l, const char *key, dto_time t);
void log_end(log_line *l);

#endif
