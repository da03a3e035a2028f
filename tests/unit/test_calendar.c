/* test_calendar.c - trading calendars: NYSE holidays and early closes of
 * 2024-2027, sessions in UTC across daylight saving changes, open/closed
 * boundaries, next-session search, the crypto calendar and the spot-FX
 * calendar (Sunday 17:00 to Friday 17:00 New York), down to a day order's
 * expiry at the paper exchange on Friday at 17:00. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "core/timeutil.h"
#include "engine/match.h"
#include "market/calendar.h"

#define HOUR DTO_NS_PER_HOUR
#define MIN DTO_NS_PER_MIN

static int64_t D(int y, int m, int d) { return days_from_civil(y, m, d); }

/* A UTC instant. */
static dto_time U(int y, int m, int d, int h, int mi) {
  return D(y, m, d) * DTO_NS_PER_DAY + h * HOUR + mi * MIN;
}

typedef struct ymd {
  int y, m, d;
} ymd;

/* Every NYSE full holiday 2024-2027 (NYSE Group announcements of 2021-12-27,
 * 2024-11-08 and 2025-12-23, and the 2025-01-09 closure for President
 * Carter's national day of mourning). */
static const ymd holidays[] = {
    {2024, 1, 1},   {2024, 1, 15},  {2024, 2, 19},  {2024, 3, 29},
    {2024, 5, 27},  {2024, 6, 19},  {2024, 7, 4},   {2024, 9, 2},
    {2024, 11, 28}, {2024, 12, 25},

    {2025, 1, 1},   {2025, 1, 9},   {2025, 1, 20},  {2025, 2, 17},
    {2025, 4, 18},  {2025, 5, 26},  {2025, 6, 19},  {2025, 7, 4},
    {2025, 9, 1},   {2025, 11, 27}, {2025, 12, 25},

    {2026, 1, 1},   {2026, 1, 19},  {2026, 2, 16},  {2026, 4, 3},
    {2026, 5, 25},  {2026, 6, 19},  {2026, 7, 3},   {2026, 9, 7},
    {2026, 11, 26}, {2026, 12, 25},

    {2027, 1, 1},   {2027, 1, 18},  {2027, 2, 15},  {2027, 3, 26},
    {2027, 5, 31},  {2027, 6, 18},  {2027, 7, 5},   {2027, 9, 6},
    {2027, 11, 25}, {2027, 12, 24},
};

/* Every early close (13:00 New York) 2024-2027, with the close in UTC: 17:00
 * in July (EDT), 18:00 in November and December (EST).  2027 has only the
 * day after Thanksgiving: July 4 and Christmas fall on weekends, so the
 * observed holidays are Monday July 5 and Friday December 24, and NYSE lists
 * no early close before them. */
static const struct {
  ymd date;
  int close_utc_hour;
} early_closes[] = {
    {{2024, 7, 3}, 17},   {{2024, 11, 29}, 18}, {{2024, 12, 24}, 18},
    {{2025, 7, 3}, 17},   {{2025, 11, 28}, 18}, {{2025, 12, 24}, 18},
    {{2026, 11, 27}, 18}, {{2026, 12, 24}, 18}, {{2027, 11, 26}, 18},
};

static void test_names(void **state) {
  (void)state;
  const calendar *us = calendar_us_equity(), *cr = calendar_crypto();
  assert_ptr_equal(calendar_by_name("us_equity"), us);
  assert_ptr_equal(calendar_by_name("crypto"), cr);
  assert_null(calendar_by_name("nyse"));
  assert_null(calendar_by_name(""));
  assert_null(calendar_by_name(NULL));
  assert_string_equal(calendar_name(us), "us_equity");
  assert_string_equal(calendar_name(cr), "crypto");
}

static void test_holidays_closed(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  for (size_t i = 0; i < DTO_ARRAY_LEN(holidays); i++) {
    const ymd *h = &holidays[i];
    int64_t day = D(h->y, h->m, h->d);
    /* A typo in the test data would most likely land on a weekend. */
    int wd = weekday_from_days(day);
    assert_true(wd >= 1 && wd <= 5);
    session s;
    memset(&s, 0xa5, sizeof(s));
    session before = s;
    if (calendar_session(c, day, &s))
      fail_msg("%d-%02d-%02d should be a holiday", h->y, h->m, h->d);
    assert_memory_equal(&s, &before, sizeof(s)); /* untouched */
    assert_non_null(calendar_holiday_name(c, day));
    /* Closed all day, extended hours too: probe every 30 minutes. */
    for (int k = 0; k < 48; k++) {
      dto_time t = tz_new_york_to_utc(day, k * 1800);
      assert_false(calendar_is_open(c, t, true));
    }
  }
}

static void test_early_closes(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  for (size_t i = 0; i < DTO_ARRAY_LEN(early_closes); i++) {
    const ymd *e = &early_closes[i].date;
    int64_t day = D(e->y, e->m, e->d);
    session s;
    if (!calendar_session(c, day, &s))
      fail_msg("%d-%02d-%02d should be open", e->y, e->m, e->d);
    assert_true(s.early_close);
    assert_int_equal(s.day, day);
    dto_time close = U(e->y, e->m, e->d, early_closes[i].close_utc_hour, 0);
    assert_int_equal(s.close, close);
    assert_int_equal(s.open, close - 3 * HOUR - 30 * MIN);
    assert_int_equal(s.post_close, close + 4 * HOUR); /* 17:00 local */
    assert_int_equal(s.pre_open, s.open - 5 * HOUR - 30 * MIN);
    assert_true(calendar_is_open(c, close - 1, false));
    assert_false(calendar_is_open(c, close, false));
    assert_true(calendar_is_open(c, close, true));
    assert_true(calendar_is_open(c, close + 4 * HOUR - 1, true));
    assert_false(calendar_is_open(c, close + 4 * HOUR, true));
    assert_non_null(calendar_holiday_name(c, day));
  }
  /* An ordinary day is not early and has no name. */
  session s;
  assert_true(calendar_session(c, D(2024, 12, 23), &s));
  assert_false(s.early_close);
  assert_null(calendar_holiday_name(c, D(2024, 12, 23)));
  /* 2027-12-23 (the day before observed Christmas) is a full day. */
  assert_true(calendar_session(c, D(2027, 12, 23), &s));
  assert_false(s.early_close);
  assert_int_equal(s.close, U(2027, 12, 23, 21, 0));
  /* 2027-07-02 (Friday before observed Independence Day) is a full day. */
  assert_true(calendar_session(c, D(2027, 7, 2), &s));
  assert_false(s.early_close);
}

/* Sessions per year, counted from the calendar.  Expected values: weekdays
 * minus weekday holidays (every holiday in the table is a weekday, checked
 * above).  2024 is a leap year starting on Monday: 52 weeks + Mon, Tue =
 * 262 weekdays - 10 holidays = 252.  2025 starts on Wednesday: 52 weeks + Wed
 * = 261 - 11 (incl. Jan 9) = 250.  2026 starts on Thursday: 261 - 10 = 251.
 * 2027 starts on Friday: 261 - 10 = 251 (not 252: all ten 2027 holidays,
 * observed ones included, fall on weekdays). */
static void test_trading_days_per_year(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  static const struct {
    int year, sessions, early;
  } want[] = {{2024, 252, 3}, {2025, 250, 3}, {2026, 251, 2}, {2027, 251, 1}};
  for (size_t i = 0; i < DTO_ARRAY_LEN(want); i++) {
    int n = 0, early = 0;
    for (int64_t d = D(want[i].year, 1, 1); d < D(want[i].year + 1, 1, 1);
         d++) {
      session s;
      if (calendar_session(c, d, &s)) {
        n++;
        early += s.early_close;
      }
    }
    assert_int_equal(n, want[i].sessions);
    assert_int_equal(early, want[i].early);
  }
}

static void test_weekends(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  session s;
  assert_false(calendar_session(c, D(2024, 6, 8), &s)); /* Saturday */
  assert_false(calendar_session(c, D(2024, 6, 9), &s)); /* Sunday */
  assert_true(calendar_session(c, D(2024, 6, 10), &s)); /* Monday */
  assert_false(calendar_is_open(c, U(2024, 6, 8, 15, 0), false));
  assert_false(calendar_is_open(c, U(2024, 6, 9, 12, 0), true));
  assert_null(calendar_holiday_name(c, D(2024, 6, 8)));
  /* Outside the covered years weekends still count, holidays do not. */
  assert_false(calendar_session(c, D(2028, 1, 1), &s)); /* Saturday */
  assert_true(calendar_session(c, D(2028, 1, 3), &s));
}

static void test_covers(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  assert_false(calendar_covers(c, D(2023, 12, 31)));
  assert_true(calendar_covers(c, D(2024, 1, 1)));
  assert_true(calendar_covers(c, D(2026, 6, 15)));
  assert_true(calendar_covers(c, D(2027, 12, 31)));
  assert_false(calendar_covers(c, D(2028, 1, 1)));
  assert_true(calendar_covers(calendar_crypto(), D(1999, 1, 1)));
}

static void test_normal_day_utc(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  session s;
  /* Winter (EST, UTC-5). */
  assert_true(calendar_session(c, D(2024, 1, 10), &s));
  assert_int_equal(s.day, D(2024, 1, 10));
  assert_int_equal(s.pre_open, U(2024, 1, 10, 9, 0));
  assert_int_equal(s.open, U(2024, 1, 10, 14, 30));
  assert_int_equal(s.close, U(2024, 1, 10, 21, 0));
  assert_int_equal(s.post_close, U(2024, 1, 11, 1, 0));
  assert_false(s.early_close);
  /* Summer (EDT, UTC-4). */
  assert_true(calendar_session(c, D(2024, 7, 10), &s));
  assert_int_equal(s.pre_open, U(2024, 7, 10, 8, 0));
  assert_int_equal(s.open, U(2024, 7, 10, 13, 30));
  assert_int_equal(s.close, U(2024, 7, 10, 20, 0));
  assert_int_equal(s.post_close, U(2024, 7, 11, 0, 0));
}

static void test_is_open_boundaries(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  session s;
  assert_true(calendar_session(c, D(2025, 2, 12), &s));
  assert_false(calendar_is_open(c, s.open - 1, false));
  assert_true(calendar_is_open(c, s.open, false));
  assert_true(calendar_is_open(c, s.close - 1, false));
  assert_false(calendar_is_open(c, s.close, false));
  /* Extended hours. */
  assert_false(calendar_is_open(c, s.pre_open - 1, true));
  assert_true(calendar_is_open(c, s.pre_open, true));
  assert_true(calendar_is_open(c, s.open - 1, true));
  assert_true(calendar_is_open(c, s.close, true));
  assert_true(calendar_is_open(c, s.post_close - 1, true));
  assert_false(calendar_is_open(c, s.post_close, true));
  assert_false(calendar_is_open(c, s.pre_open, false));
  /* Post-market ends at 20:00 New York = 01:00 UTC the next day. */
  assert_int_equal(s.post_close, U(2025, 2, 13, 1, 0));
}

static void test_local_day(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  /* Winter: local midnight is 05:00 UTC. */
  assert_int_equal(calendar_local_day(c, U(2024, 1, 10, 5, 0) - 1),
                   D(2024, 1, 9));
  assert_int_equal(calendar_local_day(c, U(2024, 1, 10, 5, 0)), D(2024, 1, 10));
  /* Summer: 04:00 UTC. */
  assert_int_equal(calendar_local_day(c, U(2024, 7, 10, 4, 0) - 1),
                   D(2024, 7, 9));
  assert_int_equal(calendar_local_day(c, U(2024, 7, 10, 4, 0)), D(2024, 7, 10));
  /* Before the epoch. */
  assert_int_equal(calendar_local_day(c, 0), D(1969, 12, 31));
  assert_int_equal(calendar_local_day(calendar_crypto(), -1), -1);
  /* The ends of the dto_time range do not overflow. */
  assert_true(calendar_local_day(c, INT64_MAX) > D(2262, 1, 1));
  assert_true(calendar_local_day(c, INT64_MIN) < D(1678, 1, 1));
}

/* The US switches of 2024-2027: second Sunday of March, first Sunday of
 * November, both at 02:00 local (07:00 UTC in spring, 06:00 UTC in autumn). */
static const struct {
  ymd spring, fall;
} dst_switches[] = {
    {{2024, 3, 10}, {2024, 11, 3}},
    {{2025, 3, 9}, {2025, 11, 2}},
    {{2026, 3, 8}, {2026, 11, 1}},
    {{2027, 3, 14}, {2027, 11, 7}},
};

static void test_dst_switches(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  for (size_t i = 0; i < DTO_ARRAY_LEN(dst_switches); i++) {
    const ymd *sp = &dst_switches[i].spring, *fa = &dst_switches[i].fall;
    int64_t sday = D(sp->y, sp->m, sp->d), fday = D(fa->y, fa->m, fa->d);
    assert_int_equal(weekday_from_days(sday), 0);
    assert_int_equal(weekday_from_days(fday), 0);

    dto_time on = U(sp->y, sp->m, sp->d, 7, 0);
    assert_int_equal(tz_new_york_offset(on - 1), -5 * HOUR);
    assert_int_equal(tz_new_york_offset(on), -4 * HOUR);
    dto_time off = U(fa->y, fa->m, fa->d, 6, 0);
    assert_int_equal(tz_new_york_offset(off - 1), -4 * HOUR);
    assert_int_equal(tz_new_york_offset(off), -5 * HOUR);
    /* A week either side: no switch on the neighbouring Sundays. */
    assert_int_equal(tz_new_york_offset(on - 7 * DTO_NS_PER_DAY), -5 * HOUR);
    assert_int_equal(tz_new_york_offset(on + 7 * DTO_NS_PER_DAY), -4 * HOUR);
    assert_int_equal(tz_new_york_offset(off - 7 * DTO_NS_PER_DAY), -4 * HOUR);
    assert_int_equal(tz_new_york_offset(off + 7 * DTO_NS_PER_DAY), -5 * HOUR);

    /* Local wall time on the switch days. */
    assert_int_equal(tz_new_york_to_utc(sday, 3600 + 59 * 60),
                     U(sp->y, sp->m, sp->d, 6, 59));
    assert_int_equal(tz_new_york_to_utc(sday, 2 * 3600 + 30 * 60), /* skipped */
                     U(sp->y, sp->m, sp->d, 7, 30));
    assert_int_equal(tz_new_york_to_utc(sday, 3 * 3600), on);
    assert_int_equal(tz_new_york_to_utc(fday, 3600 + 30 * 60), /* repeated */
                     U(fa->y, fa->m, fa->d, 5, 30));
    assert_int_equal(tz_new_york_to_utc(fday, 2 * 3600),
                     U(fa->y, fa->m, fa->d, 7, 0));
    /* Local midnight is 05:00 UTC on both switch days (the switch is later). */
    assert_int_equal(calendar_local_day(c, U(sp->y, sp->m, sp->d, 5, 0)), sday);
    assert_int_equal(calendar_local_day(c, U(fa->y, fa->m, fa->d, 4, 0)), fday);

    /* The Friday before and the Monday after. */
    session s;
    assert_true(calendar_session(c, sday - 2, &s));
    assert_int_equal(s.open,
                     (sday - 2) * DTO_NS_PER_DAY + 14 * HOUR + 30 * MIN);
    assert_true(calendar_session(c, sday + 1, &s));
    assert_int_equal(s.open, U(sp->y, sp->m, sp->d + 1, 13, 30));
    assert_int_equal(s.close, U(sp->y, sp->m, sp->d + 1, 20, 0));
    assert_true(calendar_session(c, fday - 2, &s));
    assert_int_equal(s.open,
                     (fday - 2) * DTO_NS_PER_DAY + 13 * HOUR + 30 * MIN);
    assert_true(calendar_session(c, fday + 1, &s));
    assert_int_equal(s.open, U(fa->y, fa->m, fa->d + 1, 14, 30));
    assert_int_equal(s.close, U(fa->y, fa->m, fa->d + 1, 21, 0));
    /* No session on the switch Sunday itself. */
    assert_false(calendar_session(c, sday, &s));
  }
}

static void test_dst_old_rule(void **state) {
  (void)state;
  /* 2006: first Sunday of April (Apr 2) to last Sunday of October (Oct 29). */
  assert_int_equal(tz_new_york_offset(U(2006, 4, 2, 7, 0) - 1), -5 * HOUR);
  assert_int_equal(tz_new_york_offset(U(2006, 4, 2, 7, 0)), -4 * HOUR);
  assert_int_equal(tz_new_york_offset(U(2006, 10, 29, 6, 0) - 1), -4 * HOUR);
  assert_int_equal(tz_new_york_offset(U(2006, 10, 29, 6, 0)), -5 * HOUR);
  /* 2006-03-12 (second Sunday of March) was still standard time. */
  assert_int_equal(tz_new_york_offset(U(2006, 3, 20, 12, 0)), -5 * HOUR);
  /* The extremes of the dto_time range do not overflow.  They fall on
   * 2262-04-11 and 1677-09-21, both inside daylight time by the rule. */
  assert_int_equal(tz_new_york_offset(INT64_MAX), -4 * HOUR);
  assert_int_equal(tz_new_york_offset(INT64_MIN), -4 * HOUR);
}

static void test_next_session(void **state) {
  (void)state;
  const calendar *c = calendar_us_equity();
  session s;
  /* Easter 2024: Thursday 28 March, then Good Friday, a weekend, Monday. */
  session thu;
  assert_true(calendar_session(c, D(2024, 3, 28), &thu));
  assert_true(calendar_next_session(c, thu.close - 1, &s));
  assert_int_equal(s.day, D(2024, 3, 28));
  assert_true(calendar_next_session(c, thu.close, &s));
  assert_int_equal(s.day, D(2024, 4, 1));
  assert_int_equal(s.open, U(2024, 4, 1, 13, 30));
  /* From the middle of the closed Friday and of the weekend. */
  assert_true(calendar_next_session(c, U(2024, 3, 29, 15, 0), &s));
  assert_int_equal(s.day, D(2024, 4, 1));
  assert_true(calendar_next_session(c, U(2024, 3, 31, 23, 0), &s));
  assert_int_equal(s.day, D(2024, 4, 1));
  /* Before the open the day's own session is next. */
  assert_true(calendar_next_session(c, U(2024, 4, 1, 8, 0), &s));
  assert_int_equal(s.day, D(2024, 4, 1));
  /* Christmas 2024: after the 13:00 close on the 24th comes the 26th. */
  assert_true(calendar_next_session(c, U(2024, 12, 24, 18, 0), &s));
  assert_int_equal(s.day, D(2024, 12, 26));
  /* Year end 2027 into 2028 (outside the table: weekends only). */
  assert_true(calendar_next_session(c, U(2027, 12, 31, 22, 0), &s));
  assert_int_equal(s.day, D(2028, 1, 3));
  /* Outside the supported range: no session, no overflow. */
  assert_false(calendar_next_session(c, INT64_MAX, &s));
  assert_false(calendar_next_session(c, INT64_MIN, &s));
}

static void test_crypto(void **state) {
  (void)state;
  const calendar *c = calendar_crypto();
  session s;
  /* Weekends, US holidays and DST switch days are ordinary days. */
  static const ymd days[] = {{2024, 12, 25}, {2024, 6, 8}, {2024, 3, 10}};
  for (size_t i = 0; i < DTO_ARRAY_LEN(days); i++) {
    int64_t day = D(days[i].y, days[i].m, days[i].d);
    assert_true(calendar_session(c, day, &s));
    assert_int_equal(s.day, day);
    assert_int_equal(s.pre_open, day * DTO_NS_PER_DAY);
    assert_int_equal(s.open, day * DTO_NS_PER_DAY);
    assert_int_equal(s.close, (day + 1) * DTO_NS_PER_DAY);
    assert_int_equal(s.post_close, (day + 1) * DTO_NS_PER_DAY);
    assert_false(s.early_close);
    assert_null(calendar_holiday_name(c, day));
    assert_true(calendar_is_open(c, s.open, false));
    assert_true(calendar_is_open(c, s.close - 1, false));
    assert_true(calendar_is_open(c, s.close - 1, true));
  }
  dto_time mid = U(2024, 3, 10, 0, 0);
  assert_int_equal(calendar_local_day(c, mid - 1), D(2024, 3, 9));
  assert_int_equal(calendar_local_day(c, mid), D(2024, 3, 10));
  assert_true(calendar_next_session(c, mid - 1, &s));
  assert_int_equal(s.day, D(2024, 3, 9));
  assert_true(calendar_next_session(c, mid, &s));
  assert_int_equal(s.day, D(2024, 3, 10));
}

/* The supported range ends where calendar.c's constants say. */
static void test_range_constants(void **state) {
  (void)state;
  session s;
  const calendar *c = calendar_crypto();
  assert_true(calendar_session(c, days_from_civil(1900, 1, 1), &s));
  assert_false(calendar_session(c, days_from_civil(1900, 1, 1) - 1, &s));
  assert_true(calendar_session(c, days_from_civil(2200, 12, 31), &s));
  assert_false(calendar_session(c, days_from_civil(2200, 12, 31) + 1, &s));
}

/* ---- spot FX ---------------------------------------------------------------
 * Expected instants are written out in UTC by hand: 17:00 New York is 22:00
 * UTC under standard time (EST, UTC-5) and 21:00 UTC under daylight time
 * (EDT, UTC-4).  Switches used: 2025-03-09 and 2025-11-02, 2024-03-10 and
 * 2024-11-03 (Sundays, 02:00 local). */

/* Session bounds of exchange day (y, m, d) on the fx calendar, in UTC. */
static void expect_fx_session(int y, int m, int d, dto_time open,
                              dto_time close) {
  const calendar *c = calendar_fx();
  session s;
  if (!calendar_session(c, D(y, m, d), &s))
    fail_msg("fx: %d-%02d-%02d should have a session", y, m, d);
  assert_int_equal(s.day, D(y, m, d));
  assert_int_equal(s.open, open);
  assert_int_equal(s.close, close);
  assert_int_equal(s.pre_open, open); /* no extended hours */
  assert_int_equal(s.post_close, close);
  assert_false(s.early_close);
  /* the session is its own exchange day, and open exactly in [open, close) */
  assert_int_equal(calendar_local_day(c, open), D(y, m, d));
  assert_int_equal(calendar_local_day(c, close - 1), D(y, m, d));
  assert_int_equal(calendar_day_start(c, D(y, m, d)), open);
  /* the market is open without a break from Sunday to Friday */
  assert_int_equal(calendar_is_open(c, open - 1, false),
                   weekday_from_days(D(y, m, d)) != 1);
  assert_true(calendar_is_open(c, open, false));
  assert_true(calendar_is_open(c, close - 1, true));
  assert_int_equal(calendar_is_open(c, close, false),
                   weekday_from_days(D(y, m, d)) != 5);
}

static void test_fx_names(void **state) {
  (void)state;
  const calendar *c = calendar_fx();
  assert_ptr_equal(calendar_by_name("fx"), c);
  assert_string_equal(calendar_name(c), "fx");
  assert_true(calendar_covers(c, D(1999, 1, 1)));
  assert_null(calendar_holiday_name(c, D(2025, 12, 25)));
}

/* A winter week: Monday's session opens on Sunday at 17:00 EST (22:00 UTC),
 * Friday's closes at 17:00 EST; nothing on Saturday and Sunday; US equity
 * holidays are ordinary days. */
static void test_fx_week(void **state) {
  (void)state;
  const calendar *c = calendar_fx();
  expect_fx_session(2025, 1, 6, U(2025, 1, 5, 22, 0), U(2025, 1, 6, 22, 0));
  expect_fx_session(2025, 1, 9, U(2025, 1, 8, 22, 0), U(2025, 1, 9, 22, 0));
  expect_fx_session(2025, 1, 10, U(2025, 1, 9, 22, 0), U(2025, 1, 10, 22, 0));
  session s;
  assert_false(calendar_session(c, D(2025, 1, 11), &s)); /* Saturday */
  assert_false(calendar_session(c, D(2025, 1, 12), &s)); /* Sunday */
  /* Friday close */
  assert_true(calendar_is_open(c, U(2025, 1, 10, 21, 59), false));
  assert_false(calendar_is_open(c, U(2025, 1, 10, 22, 0), false));
  assert_false(calendar_is_open(c, U(2025, 1, 10, 22, 0), true));
  assert_int_equal(calendar_local_day(c, U(2025, 1, 10, 22, 0)),
                   D(2025, 1, 11));
  /* the whole weekend is closed: probe every 30 minutes */
  for (dto_time t = U(2025, 1, 10, 22, 0); t < U(2025, 1, 12, 22, 0);
       t += 30 * MIN)
    assert_false(calendar_is_open(c, t, true));
  /* Sunday open */
  assert_false(calendar_is_open(c, U(2025, 1, 12, 21, 59), false));
  assert_true(calendar_is_open(c, U(2025, 1, 12, 22, 0), false));
  assert_int_equal(calendar_local_day(c, U(2025, 1, 12, 21, 59)),
                   D(2025, 1, 12));
  assert_int_equal(calendar_local_day(c, U(2025, 1, 12, 22, 0)),
                   D(2025, 1, 13));
  /* from Friday's close, the next session is Monday's, opening Sunday */
  assert_true(calendar_next_session(c, U(2025, 1, 10, 22, 0), &s));
  assert_int_equal(s.day, D(2025, 1, 13));
  assert_int_equal(s.open, U(2025, 1, 12, 22, 0));
  assert_true(calendar_next_session(c, U(2025, 1, 10, 21, 59), &s));
  assert_int_equal(s.day, D(2025, 1, 10));
  /* 2025 has 261 weekdays and no holidays */
  int n = 0;
  for (int64_t d = D(2025, 1, 1); d < D(2026, 1, 1); d++)
    n += calendar_session(c, d, &s);
  assert_int_equal(n, 261);
  /* Christmas and New Year's Day are weekdays like the others */
  expect_fx_session(2025, 12, 25, U(2025, 12, 24, 22, 0),
                    U(2025, 12, 25, 22, 0));
  /* the clock for risk windows is New York's wall clock */
  assert_int_equal(calendar_minute_of_day(c, U(2025, 1, 12, 22, 0)), 17 * 60);
  assert_int_equal(calendar_minute_of_day(c, U(2025, 1, 13, 14, 30)),
                   9 * 60 + 30);
  assert_int_equal(calendar_minute_of_day(c, U(2025, 1, 13, 4, 59)),
                   23 * 60 + 59);
}

/* Across the March switch (Sunday 2025-03-09): Friday 7th closes at 22:00
 * UTC (EST), Monday 10th opens on Sunday at 21:00 UTC (EDT); in November
 * (Sunday 2025-11-02) Friday Oct 31st closes at 21:00 UTC (EDT) and Monday
 * Nov 3rd opens on Sunday at 22:00 UTC (EST).  Every session is 24 hours:
 * the switch at 02:00 on Sunday is outside all of them. */
static void test_fx_dst(void **state) {
  (void)state;
  expect_fx_session(2025, 3, 7, U(2025, 3, 6, 22, 0), U(2025, 3, 7, 22, 0));
  expect_fx_session(2025, 3, 10, U(2025, 3, 9, 21, 0), U(2025, 3, 10, 21, 0));
  expect_fx_session(2025, 3, 11, U(2025, 3, 10, 21, 0), U(2025, 3, 11, 21, 0));
  expect_fx_session(2025, 10, 31, U(2025, 10, 30, 21, 0),
                    U(2025, 10, 31, 21, 0));
  expect_fx_session(2025, 11, 3, U(2025, 11, 2, 22, 0), U(2025, 11, 3, 22, 0));
  expect_fx_session(2024, 3, 11, U(2024, 3, 10, 21, 0), U(2024, 3, 11, 21, 0));
  expect_fx_session(2024, 3, 8, U(2024, 3, 7, 22, 0), U(2024, 3, 8, 22, 0));
  expect_fx_session(2024, 11, 4, U(2024, 11, 3, 22, 0), U(2024, 11, 4, 22, 0));
  expect_fx_session(2024, 11, 1, U(2024, 10, 31, 21, 0), U(2024, 11, 1, 21, 0));
  const calendar *c = calendar_fx();
  /* Saturday 2025-03-08 and Sunday before 17:00 EDT are closed */
  assert_false(calendar_is_open(c, U(2025, 3, 9, 20, 59), false));
  assert_int_equal(calendar_local_day(c, U(2025, 3, 9, 20, 59)), D(2025, 3, 9));
  assert_int_equal(calendar_local_day(c, U(2025, 3, 9, 21, 0)), D(2025, 3, 10));
  /* in summer the roll is at 21:00 UTC on weekdays too */
  assert_int_equal(calendar_local_day(c, U(2025, 7, 9, 20, 59)), D(2025, 7, 9));
  assert_int_equal(calendar_local_day(c, U(2025, 7, 9, 21, 0)), D(2025, 7, 10));
  assert_int_equal(calendar_local_day(c, U(2025, 7, 10, 3, 0)),
                   D(2025, 7, 10)); /* 23:00 New York on the 9th */
  /* the ends of the dto_time range do not overflow */
  assert_true(calendar_local_day(c, INT64_MAX) > D(2262, 1, 1));
  assert_true(calendar_local_day(c, INT64_MIN) < D(1678, 1, 1));
}

/* The paper exchange expires a day order when its fx session closes:
 * Friday 17:00 New York, not over the weekend (as on the 24/7 calendar),
 * and an order sent after Friday's close lives until Monday's close, across
 * the March switch. */
static void test_fx_day_order_expires_friday(void **state) {
  (void)state;
  instrument_table ins;
  instruments_init(&ins);
  instrument in;
  memset(&in, 0, sizeof in);
  snprintf(in.symbol, sizeof in.symbol, "%s", "EUR/USD");
  in.tick = FX_ONE / 100000;
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "%s", "USD");
  in.cal = calendar_fx();
  assert_int_equal(instruments_add(&ins, &in, NULL), 0);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, U(2025, 3, 7, 21, 30)); /* Friday 16:30 EST */
  match_config mc;
  match_config_init(&mc);
  matcher *m = matcher_new(&mc, &ins, &clk);
  order o;
  memset(&o, 0, sizeof o);
  o.id = 1;
  o.side = SIDE_BUY;
  o.type = ORD_LIMIT;
  o.tif = TIF_DAY;
  o.qty = 1000 * FX_ONE;
  o.limit_price = FX_ONE; /* far below the market: never fills */
  o.parent = o.peer = o.replaces = o.replaced_by = ORDER_NONE;
  assert_int_equal(matcher_submit(m, &o), 0);
  order g = o;
  g.id = 2;
  g.tif = TIF_GTC;
  assert_int_equal(matcher_submit(m, &g), 0);
  broker_report r[8];
  assert_int_equal(matcher_poll(m, r, 8), 2); /* two acks */
  /* still working one second before the close */
  matcher_on_time(m, U(2025, 3, 7, 22, 0) - DTO_NS_PER_SEC);
  assert_int_equal(matcher_poll(m, r, 8), 0);
  /* the weekend: the day order expired at Friday's close */
  sim_clock_set(&sim, U(2025, 3, 8, 12, 0));
  matcher_on_time(m, U(2025, 3, 8, 12, 0));
  assert_int_equal(matcher_poll(m, r, 8), 1);
  assert_int_equal(r[0].kind, REP_EXPIRED);
  assert_int_equal(r[0].id, 1);
  assert_int_equal(r[0].ts, U(2025, 3, 7, 22, 0));
  assert_int_equal(matcher_working(m), 1); /* the GTC one */
  /* a day order sent on Saturday waits for Monday's session, which closes
   * at 17:00 EDT = 21:00 UTC */
  o.id = 3;
  assert_int_equal(matcher_submit(m, &o), 0);
  assert_int_equal(matcher_poll(m, r, 8), 1);
  sim_clock_set(&sim, U(2025, 3, 10, 21, 0) - 1);
  matcher_on_time(m, U(2025, 3, 10, 21, 0) - 1);
  assert_int_equal(matcher_poll(m, r, 8), 0);
  sim_clock_set(&sim, U(2025, 3, 10, 21, 0));
  matcher_on_time(m, U(2025, 3, 10, 21, 0));
  assert_int_equal(matcher_poll(m, r, 8), 1);
  assert_int_equal(r[0].kind, REP_EXPIRED);
  assert_int_equal(r[0].id, 3);
  assert_int_equal(r[0].ts, U(2025, 3, 10, 21, 0));
  matcher_free(m);
  instruments_release(&ins);
}

/* What the engine's exchange-day cache and the paper exchange's next-session
 * cache rely on, for every calendar: an instant lies in its local day's
 * [day_start(day), day_start(day + 1)); local days never go back as time
 * goes on; and calendar_next_session gives the same session for every
 * instant from t up to that session's close.  Random instants over eight
 * years, and every minute of the days around both DST switches of 2024. */
static void check_instant(const calendar *c, dto_time t, dto_time u) {
  int64_t d = calendar_local_day(c, t);
  assert_true(calendar_day_start(c, d) <= t);
  assert_true(t < calendar_day_start(c, d + 1));
  if (u >= t)
    assert_true(calendar_local_day(c, u) >= d);
  /* calendar_day_span: the whole local day around t, by local_day at its
   * edges and just outside them */
  dto_time f, l;
  assert_int_equal(calendar_day_span(c, t, &f, &l), d);
  assert_true(f <= t && t < l);
  assert_int_equal(calendar_local_day(c, f), d);
  assert_int_equal(calendar_local_day(c, l - 1), d);
  assert_int_equal(calendar_local_day(c, f - 1), d - 1);
  assert_int_equal(calendar_local_day(c, l), d + 1);
  session s, s2;
  if (!calendar_next_session(c, t, &s))
    return;
  dto_time v = t + (u - t) % (s.close - t);
  if (v < t)
    v = t;
  assert_true(calendar_next_session(c, v, &s2));
  assert_int_equal(s2.day, s.day);
  assert_int_equal(s2.pre_open, s.pre_open);
  assert_int_equal(s2.open, s.open);
  assert_int_equal(s2.close, s.close);
  assert_int_equal(s2.post_close, s.post_close);
  assert_int_equal(s2.early_close, s.early_close);
}

static void test_cached_ranges(void **state) {
  (void)state;
  const calendar *cals[] = {calendar_us_equity(), calendar_crypto(),
                            calendar_fx()};
  dto_time from = days_from_civil(2020, 1, 1) * DTO_NS_PER_DAY;
  dto_time span = 8 * 365 * DTO_NS_PER_DAY;
  uint64_t x = 0x2545f4914f6cdd1dull;
  for (int k = 0; k < 30000; k++) {
    x ^= x << 13; /* xorshift64 */
    x ^= x >> 7;
    x ^= x << 17;
    dto_time t = from + (dto_time)(x % (uint64_t)span);
    dto_time u = t + (dto_time)((x >> 20) % (uint64_t)(4 * DTO_NS_PER_DAY));
    check_instant(cals[k % 3], t, u);
  }
  /* without a calendar: the UTC day; outside 1900-2200: an empty span */
  dto_time f, l, t0 = days_from_civil(2031, 5, 6) * DTO_NS_PER_DAY + 5;
  assert_int_equal(calendar_day_span(NULL, t0, &f, &l),
                   days_from_civil(2031, 5, 6));
  assert_true(f == t0 - 5 && l == f + DTO_NS_PER_DAY);
  /* the first and last days of dto_time's range: their ends saturated,
   * each span holding the instants of its day that are in range */
  assert_int_equal(calendar_day_span(NULL, INT64_MIN, &f, &l),
                   floordiv64(INT64_MIN, DTO_NS_PER_DAY));
  assert_true(f == INT64_MIN && l > INT64_MIN && l % DTO_NS_PER_DAY == 0 &&
              floordiv64(l - 1, DTO_NS_PER_DAY) ==
                  floordiv64(INT64_MIN, DTO_NS_PER_DAY) &&
              floordiv64(l, DTO_NS_PER_DAY) ==
                  floordiv64(INT64_MIN, DTO_NS_PER_DAY) + 1);
  assert_int_equal(calendar_day_span(NULL, INT64_MAX, &f, &l),
                   floordiv64(INT64_MAX, DTO_NS_PER_DAY));
  assert_true(l == INT64_MAX && f % DTO_NS_PER_DAY == 0 &&
              floordiv64(f, DTO_NS_PER_DAY) ==
                  floordiv64(INT64_MAX, DTO_NS_PER_DAY));
  t0 = days_from_civil(1899, 7, 1) * DTO_NS_PER_DAY;
  assert_int_equal(calendar_day_span(cals[0], t0, &f, &l),
                   calendar_local_day(cals[0], t0));
  assert_true(f == l);
  int64_t days[] = {days_from_civil(2024, 3, 9), days_from_civil(2024, 11, 2)};
  for (size_t c = 0; c < 3; c++)
    for (size_t i = 0; i < 2; i++)
      for (dto_time t = days[i] * DTO_NS_PER_DAY;
           t < (days[i] + 3) * DTO_NS_PER_DAY; t += MIN)
        check_instant(cals[c], t, t + 37 * MIN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_range_constants),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_holidays_closed),
      cmocka_unit_test(test_early_closes),
      cmocka_unit_test(test_trading_days_per_year),
      cmocka_unit_test(test_weekends),
      cmocka_unit_test(test_covers),
      cmocka_unit_test(test_normal_day_utc),
      cmocka_unit_test(test_is_open_boundaries),
      cmocka_unit_test(test_local_day),
      cmocka_unit_test(test_dst_switches),
      cmocka_unit_test(test_dst_old_rule),
      cmocka_unit_test(test_next_session),
      cmocka_unit_test(test_cached_ranges),
      cmocka_unit_test(test_crypto),
      cmocka_unit_test(test_fx_names),
      cmocka_unit_test(test_fx_week),
      cmocka_unit_test(test_fx_dst),
      cmocka_unit_test(test_fx_day_order_expires_friday),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
