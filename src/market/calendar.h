/* calendar.h - trading calendars: when a market is open.
 *
 * Three calendars are built in: "us_equity" (NYSE/Nasdaq: regular session
 * 09:30-16:00 America/New_York, pre-market from 04:00, post-market to 20:00,
 * every full holiday and early close (13:00) of 2024-2027, US daylight saving
 * time rules), "crypto" (always open; sessions are UTC days) and "fx" (spot
 * FX: open from Sunday 17:00 to Friday 17:00 New York time, one 24-hour
 * session per weekday from 17:00 New York the evening before to 17:00 New
 * York; no extended hours, no holidays).  Calendars are immutable static
 * data, safe to share between threads.
 *
 * A "day" is an exchange-local date as days since 1970-01-01 (see
 * core/timeutil.h days_from_civil).  For "fx" the exchange day rolls at
 * 17:00 New York: an instant at or after 17:00 New York belongs to the next
 * date, so the session of Monday opens on Sunday at 17:00 and every session
 * lies inside its own exchange day, as for the other calendars.  All
 * instants are dto_time (UTC ns).
 */
#ifndef DTO_MARKET_CALENDAR_H
#define DTO_MARKET_CALENDAR_H

#include "core/prelude.h"

typedef struct calendar calendar;

typedef struct session {
  int64_t day;         /* exchange-local date, days since the epoch */
  dto_time pre_open;   /* start of extended hours (== open when none) */
  dto_time open;       /* regular session open */
  dto_time close;      /* regular session close (early close applied) */
  dto_time post_close; /* end of extended hours (== close when none) */
  bool early_close;
} session;

const calendar *calendar_us_equity(void);
const calendar *calendar_crypto(void);
const calendar *calendar_fx(void);
/* "us_equity", "crypto" or "fx"; NULL when unknown. */
const calendar *calendar_by_name(const char *name);
const char *calendar_name(const calendar *c);

/* Years for which the holiday table is complete; outside them
 * calendar_session() still answers (weekends only) but
 * calendar_covers() is false, and callers should warn.  "us_equity" covers
 * 2024-01-01..2027-12-31; "crypto" and "fx" have no holidays and cover
 * every day. */
bool calendar_covers(const calendar *c, int64_t day);

/* The name of the full holiday or early close on day ("Good Friday",
 * "Christmas Eve"), or NULL when day is an ordinary day or a weekend.  The
 * string is static. */
const char *calendar_holiday_name(const calendar *c, int64_t day);

/* The session of exchange-local date day.  Returns false (and leaves *out
 * untouched) when the market does not open that day (weekend, holiday), and
 * for days outside 1900-01-01..2200-12-31, where no answer is attempted. */
bool calendar_session(const calendar *c, int64_t day, session *out);

/* The exchange-local date of instant t. */
int64_t calendar_local_day(const calendar *c, dto_time t);

/* The UTC instant at which exchange-local date day begins (local
 * midnight; for "fx" 17:00 New York on the date before). */
dto_time calendar_day_start(const calendar *c, int64_t day);

/* The exchange-local date of instant t (c NULL: the UTC date), and in
 * [*from, *until) a span of instants around t known to share it, for
 * callers that keep it to skip the next lookups: the whole day when its
 * first and last instants are both in it (local dates never go back as
 * time goes on, so every instant between is too), else an empty span
 * (days outside 1900-2200, where calendar_day_start gives no answer). */
int64_t calendar_day_span(const calendar *c, dto_time t, dto_time *from,
                          dto_time *until);

/* Minutes since local midnight of the exchange at instant t (0..1439); for
 * "fx" New York wall-clock minutes, although its day rolls at 17:00. */
int calendar_minute_of_day(const calendar *c, dto_time t);

/* The exchange day that is the n-th trading day counting back from day
 * (day itself is the first when it is a trading day).  Used for rolling
 * windows such as "5 business days". */
int64_t calendar_trading_days_back(const calendar *c, int64_t day, int n);

/* True when t is inside the regular session, or inside extended hours as
 * well when extended is true.  Intervals are [open, close). */
bool calendar_is_open(const calendar *c, dto_time t, bool extended);

/* The first session whose regular close is after t (the one in progress, or
 * the next).  Returns false only when none is found within 30 days. */
bool calendar_next_session(const calendar *c, dto_time t, session *out);

/* Offset of America/New_York from UTC at instant t, in ns (-5h or -4h).
 * Computed from the US rule (since 2007: second Sunday of March 02:00 local
 * to first Sunday of November 02:00 local; 1987-2006: first Sunday of April
 * to last Sunday of October, also used for earlier years), no TZ database. */
dto_time tz_new_york_offset(dto_time t);
/* The UTC instant of New York local wall time sec_of_day on date day.  For
 * the skipped hour of spring-forward the time is taken as standard time;
 * for the repeated hour of fall-back the first (daylight) instant.  day must
 * lie in 1900-01-01..2200-12-31 and sec_of_day in 0..86400 (not checked). */
dto_time tz_new_york_to_utc(int64_t day, int sec_of_day);

#endif
