/* timeutil.h - civil dates, ISO-8601 and Unix time, all in UTC.
 *
 * dto keeps time as dto_time (nanoseconds since the epoch, UTC).  These
 * helpers convert between that and calendar dates without the C library's
 * time zone state (no localtime, no TZ variable), so results never depend on
 * the machine.  Exchange time zones live in market/calendar.
 */
#ifndef DTO_TIMEUTIL_H
#define DTO_TIMEUTIL_H

#include "core/prelude.h"

/* Days since 1970-01-01 for a proleptic Gregorian date (m 1..12, d 1..31). */
int64_t days_from_civil(int y, int m, int d);
/* The inverse of days_from_civil. */
void civil_from_days(int64_t z, int *y, int *m, int *d);
/* Day of week for days since the epoch: 0 = Sunday ... 6 = Saturday. */
int weekday_from_days(int64_t z);
/* True for a valid date. */
bool civil_valid(int y, int m, int d);

/* Floor division of t by step (step > 0), correct for negative t. */
static inline int64_t floordiv64(int64_t t, int64_t step) {
  int64_t q = t / step;
  if ((t % step) != 0 && ((t < 0) != (step < 0)))
    q--;
  return q;
}

/* Parse a time of exactly len bytes.  Accepted: "YYYY-MM-DD",
 * "YYYY-MM-DD[T ]HH:MM[:SS[.fraction]]" with an optional "Z" or "+HH:MM" /
 * "-HH:MM" offset (no offset means UTC), or an integer epoch in seconds,
 * milliseconds, microseconds or nanoseconds (chosen by magnitude: below
 * 1e11 seconds, below 1e14 ms, below 1e17 us, else ns; a leading '-' is
 * allowed).  Fraction digits past the 9th are dropped (truncated).
 * DTO_EPARSE on anything else; DTO_ERANGE for a well-formed time outside
 * dto_time's range (1677-09-21T00:12:43.145224192Z to
 * 2262-04-11T23:47:16.854775807Z).  *out is written only on success. */
int time_parse(const char *s, size_t len, dto_time *out);
int time_parse_cstr(const char *s, dto_time *out);

/* Write t as "YYYY-MM-DDTHH:MM:SS[.fffffffff]Z" (fraction only when non-zero,
 * trailing zeros kept to 3, 6 or 9 digits).  cap >= 32 is always enough.
 * Returns the length written. */
size_t time_format(dto_time t, char *buf, size_t cap);
/* Formatting many times in order (report rows): the text up to the
 * seconds of the last minute formatted is kept, so that a time of the same
 * minute costs a few stores, and one of the next minute (rows of
 * consecutive bars) or of the same day little more.  Plain data;
 * time_fmt_cache_init() before the first use. */
typedef struct time_fmt_cache {
  int64_t min;   /* minutes since the epoch of text[]; INT64_MIN: none */
  int64_t day;   /* days since the epoch of its date */
  unsigned mh;   /* its minute of the hour */
  char text[20]; /* "YYYY-MM-DDTHH:MM:" */
} time_fmt_cache;

#define TIME_FMT_MAX 32 /* bytes time_format_cached may write */

void time_fmt_cache_init(time_fmt_cache *c);
/* The text of time_format(t), byte for byte, into out (room for
 * TIME_FMT_MAX bytes; no NUL).  Returns the length. */
size_t time_format_cached(time_fmt_cache *c, dto_time t, char *out);

/* Write the UTC date of t as "YYYY-MM-DD" (cap >= 11). */
size_t time_format_date(dto_time t, char *buf, size_t cap);
/* The UTC date of t as the number YYYYMMDD. */
int32_t time_ymd(dto_time t);

/* Parse a NUL-terminated duration: digits then one of the units ns, us, ms,
 * s, m or min, h, d ("500ms", "5m", "1d"; "0s" is allowed).  DTO_EPARSE on
 * anything else (no spaces, signs other than a leading '-', or fractions);
 * DTO_ERANGE when well-formed but negative or above INT64_MAX ns.  *out is
 * written only on success. */
int duration_parse(const char *s, dto_time *out);

#endif
