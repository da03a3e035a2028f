/* calendar.c - trading calendars: sessions, holidays, early closes and the
 * America/New_York clock.
 *
 * The US equity calendar is a rule (weekdays, 04:00/09:30/16:00/20:00 local)
 * plus a static table of exceptions (full holidays and 13:00 early closes)
 * for the years it covers.  The spot-FX calendar is a rule only: 24-hour
 * sessions from 17:00 to 17:00 New York, Sunday evening to Friday evening.  New
 * York time is computed from the US daylight saving rule with timeutil's
 * civil-date arithmetic; there is no TZ database and no C library time zone
 * state.  This module does not know about half-hour auctions, halts or
 * per-venue differences.  How to add a year: docs/internals/calendar.md.
 */
#include "market/calendar.h"

#include "core/timeutil.h"

enum cal_kind {
  CAL_KIND_US_EQUITY,
  CAL_KIND_CRYPTO,
  CAL_KIND_FX,
  CAL_KIND_COUNT
};

struct calendar {
  const char *name;
  enum cal_kind kind;
};

static const calendar cal_us_equity = {"us_equity", CAL_KIND_US_EQUITY};
static const calendar cal_crypto = {"crypto", CAL_KIND_CRYPTO};
static const calendar cal_fx = {"fx", CAL_KIND_FX};

/* ---- exception table ---------------------------------------------------- */

enum { CLOSED, EARLY };

typedef struct cal_exception {
  int32_t ymd; /* YYYYMMDD, the table is sorted by it */
  uint8_t kind;
  const char *name;
} cal_exception;

/* NYSE full holidays and early closes (13:00), as published by NYSE Group
 * (press releases of 2021-12-27 for 2024, 2024-11-08 for 2025-2027 and
 * 2025-12-23 for 2026-2027) plus the 2025-01-09 national day of mourning
 * announced on 2024-12-30.  Keep it sorted: the lookup is a binary search,
 * and tests/unit/test_calendar.c checks every entry through it. */
static const cal_exception us_exceptions[] = {
    {20240101, CLOSED, "New Year's Day"},
    {20240115, CLOSED, "Martin Luther King, Jr. Day"},
    {20240219, CLOSED, "Washington's Birthday"},
    {20240329, CLOSED, "Good Friday"},
    {20240527, CLOSED, "Memorial Day"},
    {20240619, CLOSED, "Juneteenth National Independence Day"},
    {20240703, EARLY, "Day before Independence Day"},
    {20240704, CLOSED, "Independence Day"},
    {20240902, CLOSED, "Labor Day"},
    {20241128, CLOSED, "Thanksgiving Day"},
    {20241129, EARLY, "Day after Thanksgiving"},
    {20241224, EARLY, "Christmas Eve"},
    {20241225, CLOSED, "Christmas Day"},

    {20250101, CLOSED, "New Year's Day"},
    {20250109, CLOSED, "National Day of Mourning (President Carter)"},
    {20250120, CLOSED, "Martin Luther King, Jr. Day"},
    {20250217, CLOSED, "Washington's Birthday"},
    {20250418, CLOSED, "Good Friday"},
    {20250526, CLOSED, "Memorial Day"},
    {20250619, CLOSED, "Juneteenth National Independence Day"},
    {20250703, EARLY, "Day before Independence Day"},
    {20250704, CLOSED, "Independence Day"},
    {20250901, CLOSED, "Labor Day"},
    {20251127, CLOSED, "Thanksgiving Day"},
    {20251128, EARLY, "Day after Thanksgiving"},
    {20251224, EARLY, "Christmas Eve"},
    {20251225, CLOSED, "Christmas Day"},

    {20260101, CLOSED, "New Year's Day"},
    {20260119, CLOSED, "Martin Luther King, Jr. Day"},
    {20260216, CLOSED, "Washington's Birthday"},
    {20260403, CLOSED, "Good Friday"},
    {20260525, CLOSED, "Memorial Day"},
    {20260619, CLOSED, "Juneteenth National Independence Day"},
    {20260703, CLOSED, "Independence Day (observed)"},
    {20260907, CLOSED, "Labor Day"},
    {20261126, CLOSED, "Thanksgiving Day"},
    {20261127, EARLY, "Day after Thanksgiving"},
    {20261224, EARLY, "Christmas Eve"},
    {20261225, CLOSED, "Christmas Day"},

    {20270101, CLOSED, "New Year's Day"},
    {20270118, CLOSED, "Martin Luther King, Jr. Day"},
    {20270215, CLOSED, "Washington's Birthday"},
    {20270326, CLOSED, "Good Friday"},
    {20270531, CLOSED, "Memorial Day"},
    {20270618, CLOSED, "Juneteenth National Independence Day (observed)"},
    {20270705, CLOSED, "Independence Day (observed)"},
    {20270906, CLOSED, "Labor Day"},
    {20271125, CLOSED, "Thanksgiving Day"},
    {20271126, EARLY, "Day after Thanksgiving"},
    {20271224, CLOSED, "Christmas Day (observed)"},
};

/* The years the table is complete for. */
#define US_FIRST_YEAR 2024
#define US_LAST_YEAR 2027

/* Days outside this range are refused, so that day * DTO_NS_PER_DAY and the
 * year arithmetic can never overflow. */
#define CAL_MIN_YEAR 1900
#define CAL_MAX_YEAR 2200
#define CAL_MIN_DAY (-25567) /* 1900-01-01 */
#define CAL_MAX_DAY 84370    /* 2200-12-31 */

static const cal_exception *us_exception(int64_t day) {
  int y, m, d;
  civil_from_days(day, &y, &m, &d);
  int32_t key = (int32_t)(y * 10000 + m * 100 + d);
  size_t lo = 0, hi = DTO_ARRAY_LEN(us_exceptions);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (us_exceptions[mid].ymd < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < DTO_ARRAY_LEN(us_exceptions) && us_exceptions[lo].ymd == key)
    return &us_exceptions[lo];
  return NULL;
}

static bool day_in_range(int64_t day) {
  /* days_from_civil(CAL_MIN_YEAR, 1, 1) and (CAL_MAX_YEAR, 12, 31), as
   * constants: this runs for every session lookup (test_calendar checks
   * them) */
  return day >= CAL_MIN_DAY && day <= CAL_MAX_DAY;
}

/* ---- America/New_York --------------------------------------------------- */

#define SEC_PER_DAY 86400LL
#define SEC_PER_HOUR 3600LL
#define NY_STD_OFFSET_SEC (-5 * SEC_PER_HOUR)
#define NY_DST_OFFSET_SEC (-4 * SEC_PER_HOUR)

/* The n-th (1-based) Sunday of month m of year y, as days since the epoch. */
static int64_t nth_sunday(int y, int m, int n) {
  int64_t first = days_from_civil(y, m, 1);
  int wd = weekday_from_days(first);
  return first + (7 - wd) % 7 + 7 * (n - 1);
}

/* The last Sunday of month m of year y. */
static int64_t last_sunday(int y, int m) {
  int64_t last =
      days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) - 1;
  return last - weekday_from_days(last);
}

/* The UTC second daylight time starts and ends in year y.  Both switches
 * happen at 02:00 local: 02:00 EST = 07:00 UTC, 02:00 EDT = 06:00 UTC. */
static void ny_dst_bounds(int y, int64_t *start, int64_t *end) {
  int64_t s, e;
  if (y >= 2007) {
    s = nth_sunday(y, 3, 2);
    e = nth_sunday(y, 11, 1);
  } else {
    s = nth_sunday(y, 4, 1);
    e = last_sunday(y, 10);
  }
  *start = s * SEC_PER_DAY + 2 * SEC_PER_HOUR - NY_STD_OFFSET_SEC;
  *end = e * SEC_PER_DAY + 2 * SEC_PER_HOUR - NY_DST_OFFSET_SEC;
}

/* The offset in seconds at UTC second s (any int64 value). */
static int64_t ny_offset_sec(int64_t s) {
  int y, m, d;
  civil_from_days(floordiv64(s, SEC_PER_DAY), &y, &m, &d);
  int64_t start, end;
  ny_dst_bounds(y, &start, &end);
  return (s >= start && s < end) ? NY_DST_OFFSET_SEC : NY_STD_OFFSET_SEC;
}

dto_time tz_new_york_offset(dto_time t) {
  return ny_offset_sec(floordiv64(t, DTO_NS_PER_SEC)) * DTO_NS_PER_SEC;
}

dto_time tz_new_york_to_utc(int64_t day, int sec_of_day) {
  int64_t local = day * SEC_PER_DAY + sec_of_day;
  /* Try daylight time first: that gives the first instant of the repeated
   * hour in the autumn; in the skipped spring hour the daylight reading
   * falls before the switch, so standard time is used. */
  int64_t u = local - NY_DST_OFFSET_SEC;
  if (ny_offset_sec(u) != NY_DST_OFFSET_SEC)
    u = local - NY_STD_OFFSET_SEC;
  return u * DTO_NS_PER_SEC;
}

/* ---- calendars ---------------------------------------------------------- */

const calendar *calendar_us_equity(void) { return &cal_us_equity; }
const calendar *calendar_crypto(void) { return &cal_crypto; }
const calendar *calendar_fx(void) { return &cal_fx; }

const calendar *calendar_by_name(const char *name) {
  if (name == NULL)
    return NULL;
  if (!strcmp(name, cal_us_equity.name))
    return &cal_us_equity;
  if (!strcmp(name, cal_crypto.name))
    return &cal_crypto;
  if (!strcmp(name, cal_fx.name))
    return &cal_fx;
  return NULL;
}

const char *calendar_name(const calendar *c) { return c->name; }

bool calendar_covers(const calendar *c, int64_t day) {
  if (c->kind != CAL_KIND_US_EQUITY)
    return true; /* rules only, no holiday table */
  return day >= days_from_civil(US_FIRST_YEAR, 1, 1) &&
         day <= days_from_civil(US_LAST_YEAR, 12, 31);
}

const char *calendar_holiday_name(const calendar *c, int64_t day) {
  if (c->kind != CAL_KIND_US_EQUITY || !day_in_range(day))
    return NULL;
  const cal_exception *e = us_exception(day);
  return e ? e->name : NULL;
}

#define H(h, m) ((h)*3600 + (m)*60)

/* The spot-FX day rolls at 17:00 New York: the session of day D runs from
 * 17:00 on D - 1 to 17:00 on D, wall-clock time, so it is 24 hours long in
 * every season (the DST switches happen at 02:00 on Sundays, outside every
 * session). */
#define FX_ROLL H(17, 0)

bool calendar_session(const calendar *c, int64_t day, session *out) {
  if (!day_in_range(day))
    return false;
  if (c->kind == CAL_KIND_CRYPTO) {
    out->day = day;
    out->pre_open = out->open = day * DTO_NS_PER_DAY;
    out->close = out->post_close = (day + 1) * DTO_NS_PER_DAY;
    out->early_close = false;
    return true;
  }
  int wd = weekday_from_days(day);
  if (wd == 0 || wd == 6)
    return false;
  if (c->kind == CAL_KIND_FX) {
    out->day = day;
    out->pre_open = out->open = tz_new_york_to_utc(day - 1, FX_ROLL);
    out->close = out->post_close = tz_new_york_to_utc(day, FX_ROLL);
    out->early_close = false;
    return true;
  }
  const cal_exception *e = us_exception(day);
  if (e && e->kind == CLOSED)
    return false;
  bool early = e && e->kind == EARLY;
  out->day = day;
  out->pre_open = tz_new_york_to_utc(day, H(4, 0));
  out->open = tz_new_york_to_utc(day, H(9, 30));
  out->close = tz_new_york_to_utc(day, early ? H(13, 0) : H(16, 0));
  out->post_close = tz_new_york_to_utc(day, early ? H(17, 0) : H(20, 0));
  out->early_close = early;
  return true;
}

int64_t calendar_local_day(const calendar *c, dto_time t) {
  int64_t q = floordiv64(t, DTO_NS_PER_DAY);
  if (c->kind == CAL_KIND_CRYPTO)
    return q;
  /* floor((t + off) / day) without forming t + off, which could overflow
   * near the ends of the dto_time range; off is -5h or -4h. */
  int64_t r = t % DTO_NS_PER_DAY;
  if (r < 0)
    r += DTO_NS_PER_DAY;
  r += tz_new_york_offset(t); /* New York wall time into UTC date q */
  if (r < 0) {
    q--;
    r += DTO_NS_PER_DAY;
  }
  if (c->kind == CAL_KIND_FX && r >= FX_ROLL * DTO_NS_PER_SEC)
    q++; /* after 17:00 New York: the next exchange day */
  return q;
}

dto_time calendar_day_start(const calendar *c, int64_t day) {
  if (c->kind == CAL_KIND_CRYPTO)
    return day * DTO_NS_PER_DAY;
  if (c->kind == CAL_KIND_FX)
    return tz_new_york_to_utc(day - 1, FX_ROLL);
  return tz_new_york_to_utc(day, 0);
}

int64_t calendar_day_span(const calendar *c, dto_time t, dto_time *from,
                          dto_time *until) {
  if (!c) { /* the UTC day, its ends saturated at dto_time's */
    int64_t day = floordiv64(t, DTO_NS_PER_DAY);
    if (__builtin_mul_overflow(day, DTO_NS_PER_DAY, from))
      *from = INT64_MIN; /* the first day, part of it before dto_time's */
    if (__builtin_mul_overflow(day + 1, DTO_NS_PER_DAY, until))
      *until = INT64_MAX; /* the last: INT64_MAX itself is looked up */
    return day;
  }
  int64_t day = calendar_local_day(c, t);
  *from = *until = 0;
  /* the days before and after too: fx's day starts on the date before */
  if (day_in_range(day - 1) && day_in_range(day + 1)) {
    dto_time f = calendar_day_start(c, day), u = calendar_day_start(c, day + 1);
    if (f <= t && t < u && calendar_local_day(c, f) == day &&
        calendar_local_day(c, u - 1) == day) {
      *from = f;
      *until = u;
    }
  }
  return day;
}

int calendar_minute_of_day(const calendar *c, dto_time t) {
  /* The fx calendar's day rolls at 17:00, but its clock is New York's:
   * minutes are counted from New York midnight, as for us_equity. */
  const calendar *clk = c->kind == CAL_KIND_FX ? &cal_us_equity : c;
  int64_t day = calendar_local_day(clk, t);
  int64_t off = c->kind == CAL_KIND_CRYPTO ? 0 : tz_new_york_offset(t);
  /* t + off - day * 86400 s, in a form that cannot overflow for the
   * instants dto uses (the local day is within a day of t) */
  int64_t into = (t - day * DTO_NS_PER_DAY) + off;
  return (int)(into / DTO_NS_PER_MIN);
}

int64_t calendar_trading_days_back(const calendar *c, int64_t day, int n) {
  session s;
  int found = 0;
  for (int64_t d = day; d > day - 40; d--) {
    if (!calendar_session(c, d, &s))
      continue;
    if (++found == n)
      return d;
  }
  return day - n + 1;
}

bool calendar_is_open(const calendar *c, dto_time t, bool extended) {
  session s;
  if (!calendar_session(c, calendar_local_day(c, t), &s))
    return false;
  if (extended)
    return t >= s.pre_open && t < s.post_close;
  return t >= s.open && t < s.close;
}

bool calendar_next_session(const calendar *c, dto_time t, session *out) {
  /* Every session lies inside its own local day, so no session of an
   * earlier day can close after t. */
  int64_t day = calendar_local_day(c, t);
  for (int i = 0; i <= 30; i++) {
    session s;
    if (calendar_session(c, day + i, &s) && s.close > t) {
      *out = s;
      return true;
    }
  }
  return false;
}
