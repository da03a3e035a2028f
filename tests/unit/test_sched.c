/* test_sched.c - the job scheduler: the expression parser (every error
 * message exact), next firing times against hand-computed instants around
 * the daylight saving changes of 2025 and 2026, a holiday and early closes,
 * and simulated weeks driven minute by minute through sched_run_due(),
 * compared with a list built by an independent oracle (UTC minutes walked
 * one by one, New York wall time from hard-coded switch instants). */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "market/calendar.h"
#include "ops/sched.h"

#define HOUR DTO_NS_PER_HOUR
#define MIN DTO_NS_PER_MIN
#define SEC DTO_NS_PER_SEC
#define DAY DTO_NS_PER_DAY

/* A UTC instant. */
static dto_time U(int y, int m, int d, int h, int mi) {
  return days_from_civil(y, m, d) * DAY + h * HOUR + mi * MIN;
}

static sched_expr P(const char *text) {
  sched_expr e;
  char err[256];
  int r = sched_parse(text, &e, err, sizeof err);
  if (r != 0)
    fail_msg("parse '%s': %s", text, err);
  return e;
}

/* The next firing of text after `after`, asserting success. */
static dto_time N(const char *text, const calendar *cal, dto_time after) {
  sched_expr e = P(text);
  dto_time t = 0;
  int r = sched_next(&e, cal, after, &t);
  if (r != 0)
    fail_msg("next '%s': %s", text, dto_errname(r));
  return t;
}

/* ---- parser ------------------------------------------------------------ */

static void test_parse_valid(void **state) {
  (void)state;
  sched_expr e = P("0 2 * * * exchange");
  assert_int_equal(e.kind, SCHED_CRON);
  assert_int_equal(e.tz, SCHED_TZ_EXCHANGE);
  assert_true(e.minutes == 1);
  assert_true(e.hours == 1u << 2);
  assert_true(e.mdays == 0xfffffffeu); /* 1..31 */
  assert_true(e.months == 0x1ffe);     /* 1..12 */
  assert_true(e.wdays == 0x7f);
  assert_true(e.mday_star && e.wday_star);
  assert_string_equal(e.text, "0 2 * * * exchange");

  e = P("*/15 9-16 1,15 */3 1-5 UTC");
  assert_int_equal(e.tz, SCHED_TZ_UTC);
  assert_true(e.minutes == (1ull << 0 | 1ull << 15 | 1ull << 30 | 1ull << 45));
  assert_true(e.hours == 0x1fe00u); /* 9..16 */
  assert_true(e.mdays == (1u << 1 | 1u << 15));
  assert_true(e.months == (1u << 1 | 1u << 4 | 1u << 7 | 1u << 10));
  assert_true(e.wdays == 0x3e); /* Monday..Friday */
  assert_false(e.mday_star);
  assert_false(e.wday_star);

  e = P("5/20 0 * * 7 utc"); /* A/S runs to the end; 7 is Sunday */
  assert_true(e.minutes == (1ull << 5 | 1ull << 25 | 1ull << 45));
  assert_true(e.wdays == 1);
  e = P("1-10/3 0 * * 0,7 UTC");
  assert_true(e.minutes == (1ull << 1 | 1ull << 4 | 1ull << 7 | 1ull << 10));
  assert_true(e.wdays == 1);
  e = P("  0\t2 30,31 2,4 *   exchange "); /* April 30 exists */
  assert_true(e.mdays == (1u << 30 | 1u << 31));

  e = P("every 15m");
  assert_int_equal(e.kind, SCHED_EVERY);
  assert_true(e.step == 15 * MIN);
  e = P("every 1d");
  assert_true(e.step == DAY);

  e = P("at session_close+10m");
  assert_int_equal(e.kind, SCHED_AT_CLOSE);
  assert_true(e.offset == 10 * MIN);
  e = P("at session_open-5m");
  assert_int_equal(e.kind, SCHED_AT_OPEN);
  assert_true(e.offset == -5 * MIN);
  e = P("at session_open");
  assert_true(e.offset == 0);
  e = P("at session_close+24h");
  assert_true(e.offset == DAY);
}

static void expect_error(const char *text, int code, const char *msg) {
  char err[512] = "untouched";
  sched_expr e;
  memset(&e, 0x5a, sizeof e);
  sched_expr before = e;
  assert_int_equal(sched_parse(text, &e, err, sizeof err), code);
  assert_string_equal(err, msg);
  assert_memory_equal(&e, &before, sizeof e); /* *out untouched */
}

static void test_parse_errors(void **state) {
  (void)state;
  const int E = DTO_EPARSE;
  expect_error("61 2 * * * UTC", E,
               "schedule '61 2 * * * UTC': minute 61 out of range 0-59");
  expect_error("0 24 * * * UTC", E,
               "schedule '0 24 * * * UTC': hour 24 out of range 0-23");
  expect_error("0 0 0 * * UTC", E,
               "schedule '0 0 0 * * UTC': day-of-month 0 out of range 1-31");
  expect_error("0 0 * 13 * UTC", E,
               "schedule '0 0 * 13 * UTC': month 13 out of range 1-12");
  expect_error("0 0 * * 1-8 UTC", E,
               "schedule '0 0 * * 1-8 UTC': day-of-week 8 out of range 0-7");
  expect_error("0 123456789 * * * UTC", E,
               "schedule '0 123456789 * * * UTC': hour 123456789 out of "
               "range 0-23");
  expect_error("0 2 * * *", E,
               "schedule '0 2 * * *': missing time zone after the 5 cron "
               "fields (exchange or UTC)");
  expect_error("0 2 * * * Europe/Paris", E,
               "schedule '0 2 * * * Europe/Paris': unknown time zone "
               "'Europe/Paris' (expected exchange or UTC)");
  expect_error("x 2 * * * UTC", E,
               "schedule 'x 2 * * * UTC': minute 'x': not a number or range");
  expect_error("0 1- * * * UTC", E,
               "schedule '0 1- * * * UTC': hour '1-': not a number or range");
  expect_error("0 0 * * MON UTC", E,
               "schedule '0 0 * * MON UTC': day-of-week 'MON': not a number "
               "or range");
  expect_error("*/0 * * * * UTC", E,
               "schedule '*/0 * * * * UTC': minute '*/0': step must be at "
               "least 1");
  expect_error("*/x * * * * UTC", E,
               "schedule '*/x * * * * UTC': minute '*/x': step is not a "
               "number");
  expect_error("30-10 * * * * UTC", E,
               "schedule '30-10 * * * * UTC': minute range 30-10 goes "
               "backward");
  expect_error("1,,2 * * * * UTC", E,
               "schedule '1,,2 * * * * UTC': minute '1,,2': empty list item");
  expect_error("0 0 31 2,4 * UTC", E,
               "schedule '0 0 31 2,4 * UTC': day-of-month '31' never occurs "
               "in month '2,4'");
  expect_error("every 15", E,
               "schedule 'every 15': every: bad duration '15' (a whole number "
               "and a unit: 30s, 15m, 1h, 1d)");
  expect_error("every -5m", E,
               "schedule 'every -5m': every: bad duration '-5m' (a whole "
               "number and a unit: 30s, 15m, 1h, 1d)");
  expect_error("every 0s", E,
               "schedule 'every 0s': every: duration must be more than 0");
  expect_error("every", E,
               "schedule 'every': expected 'every DURATION', e.g. 'every 15m'");
  expect_error("at session_middle", E,
               "schedule 'at session_middle': at: unknown anchor "
               "'session_middle' (expected session_open or session_close, "
               "with an optional +/-DURATION)");
  expect_error("at session_close*10m", E,
               "schedule 'at session_close*10m': at: bad offset '*10m' "
               "(expected +DURATION or -DURATION, e.g. +10m)");
  expect_error("at session_close+", E,
               "schedule 'at session_close+': at: bad offset '+' (expected "
               "+DURATION or -DURATION, e.g. +10m)");
  expect_error("at session_close+25h", E,
               "schedule 'at session_close+25h': at: offset '+25h' is more "
               "than 24h");
  expect_error("at session_close + 10m", E,
               "schedule 'at session_close + 10m': expected 'at "
               "session_open|session_close[+/-DURATION]' without spaces, e.g. "
               "'at session_close+10m'");
  expect_error("", E, "schedule '': empty");
  expect_error("   ", E, "schedule '   ': empty");
  expect_error("0 2 * *", E,
               "schedule '0 2 * *': expected 5 cron fields and a time zone "
               "('0 2 * * * exchange'), 'every DURATION' or 'at "
               "session_open|session_close[+/-DURATION]'");
  expect_error("0 2 * * * UTC x y z", E,
               "schedule '0 2 * * * UTC x y z': too many fields");

  /* longer than SCHED_TEXT_MAX (200) */
  char big[260];
  memset(big, '1', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  char want[128];
  snprintf(want, sizeof want, "schedule '%.40s...': longer than 200 characters",
           big);
  expect_error(big, DTO_ETOOBIG, want);
  big[200] = '\0'; /* exactly 200: parsed (and rejected as malformed) */
  expect_error(big, E,
               "schedule '"
               "1111111111111111111111111111111111111111"
               "1111111111111111111111111111111111111111"
               "1111111111111111111111111111111111111111"
               "1111111111111111111111111111111111111111"
               "1111111111111111111111111111111111111111"
               "': expected 5 cron fields and a time zone ('0 2 * * * "
               "exchange'), 'every DURATION' or 'at "
               "session_open|session_close[+/-DURATION]'");

  /* a small error buffer is cut, never overrun; NULL is fine */
  char small[12];
  sched_expr e;
  assert_int_equal(sched_parse("61 * * * * UTC", &e, small, sizeof small), E);
  assert_string_equal(small, "schedule '6");
  assert_int_equal(sched_parse("61 * * * * UTC", &e, NULL, 0), E);
  assert_int_equal(sched_parse(NULL, &e, NULL, 0), E);
}

/* ---- next firing: hand-computed instants ------------------------------------
 * New York switches in these years: 2025-03-09 and 2026-03-08 at 02:00 EST
 * (07:00 UTC), 2025-11-02 and 2026-11-01 at 02:00 EDT (06:00 UTC). */

static void test_next_spring_forward(void **state) {
  (void)state;
  const calendar *us = calendar_us_equity();
  /* 02:30 does not exist on 2026-03-08: moved an hour, to 03:30 EDT */
  assert_true(N("30 2 * * * exchange", us, U(2026, 3, 6, 12, 0)) ==
              U(2026, 3, 7, 7, 30)); /* 02:30 EST */
  assert_true(N("30 2 * * * exchange", us, U(2026, 3, 7, 12, 0)) ==
              U(2026, 3, 8, 7, 30)); /* 03:30 EDT */
  assert_true(N("30 2 * * * exchange", us, U(2026, 3, 8, 7, 30)) ==
              U(2026, 3, 9, 6, 30)); /* 02:30 EDT */
  /* 09:00 on either side of 2025-03-09 */
  assert_true(N("0 9 * * * exchange", us, U(2025, 3, 7, 15, 0)) ==
              U(2025, 3, 8, 14, 0));
  assert_true(N("0 9 * * * exchange", us, U(2025, 3, 8, 15, 0)) ==
              U(2025, 3, 9, 13, 0));
  /* 02:15 moves to 03:15 EDT, the same instant as 03:15: one firing;
   * 02:45 and 03:45 likewise, and 03:15 comes before the moved 02:45 */
  const char *x = "15,45 2-3 * * * exchange";
  assert_true(N(x, us, U(2025, 3, 9, 6, 59)) == U(2025, 3, 9, 7, 15));
  assert_true(N(x, us, U(2025, 3, 9, 7, 15)) == U(2025, 3, 9, 7, 45));
  assert_true(N(x, us, U(2025, 3, 9, 7, 45)) == U(2025, 3, 10, 6, 15));
  /* the day before the switch, still standard time */
  assert_true(N(x, us, U(2025, 3, 8, 7, 15)) == U(2025, 3, 8, 7, 45));
  assert_true(N(x, us, U(2025, 3, 8, 7, 45)) == U(2025, 3, 8, 8, 15));
}

static void test_next_fall_back(void **state) {
  (void)state;
  const calendar *us = calendar_us_equity();
  /* 01:30 happens twice on 2025-11-02 (05:30 and 06:30 UTC): once, the
   * first */
  assert_true(N("30 1 * * * exchange", us, U(2025, 11, 1, 12, 0)) ==
              U(2025, 11, 2, 5, 30));
  assert_true(N("30 1 * * * exchange", us, U(2025, 11, 2, 5, 30)) ==
              U(2025, 11, 3, 6, 30));
  assert_true(N("30 1 * * * exchange", us, U(2025, 11, 2, 5, 45)) ==
              U(2025, 11, 3, 6, 30));
  /* hourly: 01:00 EDT, then 02:00 EST; the repeated 01:00 EST is not a
   * new wall time */
  assert_true(N("0 * * * * exchange", us, U(2025, 11, 2, 4, 30)) ==
              U(2025, 11, 2, 5, 0));
  assert_true(N("0 * * * * exchange", us, U(2025, 11, 2, 5, 0)) ==
              U(2025, 11, 2, 7, 0));
  /* 02:00 around 2026-11-01 */
  assert_true(N("0 2 * * * exchange", us, U(2026, 10, 30, 12, 0)) ==
              U(2026, 10, 31, 6, 0));
  assert_true(N("0 2 * * * exchange", us, U(2026, 10, 31, 12, 0)) ==
              U(2026, 11, 1, 7, 0));
  assert_true(N("0 2 * * * exchange", us, U(2026, 11, 1, 7, 0)) ==
              U(2026, 11, 2, 7, 0));
}

static void test_next_utc_and_every(void **state) {
  (void)state;
  /* nanosecond exactness: strictly after */
  assert_true(N("0 2 * * * UTC", NULL, U(2025, 1, 1, 2, 0) - 1) ==
              U(2025, 1, 1, 2, 0));
  assert_true(N("0 2 * * * UTC", NULL, U(2025, 1, 1, 2, 0)) ==
              U(2025, 1, 2, 2, 0));
  /* day-of-month OR day-of-week when both are restricted: the 13th or a
   * Friday (2025-06-01 is a Sunday; 2025-06-13 is a Friday) */
  const char *f13 = "0 0 13 * 5 UTC";
  assert_true(N(f13, NULL, U(2025, 6, 1, 0, 0)) == U(2025, 6, 6, 0, 0));
  assert_true(N(f13, NULL, U(2025, 6, 6, 0, 0)) == U(2025, 6, 13, 0, 0));
  assert_true(N(f13, NULL, U(2025, 6, 13, 0, 0)) == U(2025, 6, 20, 0, 0));
  assert_true(N("0 0 12 * 5 UTC", NULL, U(2025, 6, 6, 0, 0)) ==
              U(2025, 6, 12, 0, 0)); /* Thursday the 12th */
  /* '*' first in day-of-month: AND.  Days 1, 11, 21, 31 that are Mondays:
   * the first in 2025 is March 31 */
  assert_true(N("0 0 */10 * 1 UTC", NULL, U(2025, 1, 1, 0, 0)) ==
              U(2025, 3, 31, 0, 0));
  /* 29 February: the next leap year */
  assert_true(N("0 0 29 2 * UTC", NULL, U(2025, 1, 1, 0, 0)) ==
              U(2028, 2, 29, 0, 0));
  /* every: aligned to the epoch.  2025-01-01T00:00Z is 1735689600 s;
   * 1735689600 / 420 = 4132594.28..., 4132595 * 420 = 1735689900 s, which
   * is 00:05 */
  assert_true(N("every 7m", NULL, U(2025, 1, 1, 0, 0)) == U(2025, 1, 1, 0, 5));
  assert_true(N("every 15m", NULL, U(2025, 1, 1, 0, 15) - 1) ==
              U(2025, 1, 1, 0, 15));
  assert_true(N("every 15m", NULL, U(2025, 1, 1, 0, 15)) ==
              U(2025, 1, 1, 0, 30));
  assert_true(N("every 1ns", NULL, U(2025, 1, 1, 0, 15)) ==
              U(2025, 1, 1, 0, 15) + 1);
  /* before 1970 too */
  assert_true(N("every 1h", NULL, U(1969, 12, 31, 22, 30)) ==
              U(1969, 12, 31, 23, 0));
  /* the crypto calendar's exchange time is UTC; fx's is New York's */
  assert_true(N("0 2 * * * exchange", calendar_crypto(), U(2025, 3, 9, 0, 0)) ==
              U(2025, 3, 9, 2, 0));
  assert_true(N("0 12 * * * exchange", calendar_fx(), U(2025, 3, 9, 0, 0)) ==
              U(2025, 3, 9, 16, 0));
}

static void test_next_sessions(void **state) {
  (void)state;
  const calendar *us = calendar_us_equity();
  /* 2025-07-03 closes early (13:00 EDT = 17:00 UTC), 07-04 is a holiday,
   * then the weekend: the next close is Monday 07-07 16:00 EDT */
  const char *rep = "at session_close+10m";
  assert_true(N(rep, us, U(2025, 7, 3, 12, 0)) == U(2025, 7, 3, 17, 10));
  assert_true(N(rep, us, U(2025, 7, 3, 17, 10)) == U(2025, 7, 7, 20, 10));
  /* Thanksgiving 2025-11-27 closed, 11-28 closes at 13:00 EST = 18:00 UTC */
  assert_true(N("at session_close-30m", us, U(2025, 11, 26, 22, 0)) ==
              U(2025, 11, 28, 17, 30));
  /* opens at 09:30: 14:30 UTC on Friday 2026-03-06 (EST), 13:30 UTC on
   * Monday 03-09 (EDT) */
  assert_true(N("at session_open", us, U(2026, 3, 6, 12, 0)) ==
              U(2026, 3, 6, 14, 30));
  assert_true(N("at session_open", us, U(2026, 3, 6, 14, 30)) ==
              U(2026, 3, 9, 13, 30));
  /* offsets of a whole day reach across days */
  assert_true(N("at session_open-24h", us, U(2025, 7, 3, 12, 0)) ==
              U(2025, 7, 6, 13, 30));
  assert_true(N("at session_close+24h", us, U(2025, 7, 3, 12, 0)) ==
              U(2025, 7, 3, 20, 0)); /* 07-02's close, 20:00 UTC, + 1 day */
  /* fx: Monday's session opens on Sunday 17:00 New York (2025-03-09 is
   * already daylight time: 21:00 UTC) */
  assert_true(N("at session_open", calendar_fx(), U(2025, 3, 7, 12, 0)) ==
              U(2025, 3, 9, 21, 0));
}

static void test_next_errors(void **state) {
  (void)state;
  dto_time t = 42;
  sched_expr e = P("0 2 * * * exchange");
  assert_int_equal(sched_next(&e, NULL, U(2025, 1, 1, 0, 0), &t), DTO_EINVAL);
  e = P("at session_open");
  assert_int_equal(sched_next(&e, NULL, U(2025, 1, 1, 0, 0), &t), DTO_EINVAL);
  e = P("every 1m");
  assert_int_equal(sched_next(&e, NULL, U(2250, 1, 1, 0, 0), &t), DTO_ERANGE);
  assert_int_equal(sched_next(&e, NULL, U(1850, 1, 1, 0, 0), &t), DTO_ERANGE);
  assert_int_equal(sched_next(&e, NULL, INT64_MAX, &t), DTO_ERANGE);
  assert_int_equal(sched_next(&e, NULL, INT64_MIN, &t), DTO_ERANGE);
  assert_true(t == 42);
  /* the last day tz_new_york_to_utc answers for: 2200-12-31 */
  e = P("0 0 29 2 * exchange");
  assert_int_equal(
      sched_next(&e, calendar_us_equity(), U(2199, 6, 1, 0, 0), &t),
      DTO_ENOENT); /* 2200 is not a leap year */
}

/* ---- the job table: simulated weeks ---------------------------------- */

#define MAX_FIRED 4096

typedef struct fired {
  int job;
  dto_time due;
} fired;

typedef struct recorder {
  fired got[MAX_FIRED];
  int n;
  int bad; /* calls with missed > 0 or due != now */
} recorder;

typedef struct job_ctx {
  recorder *rec;
  int job;
} job_ctx;

static int record(void *ctx, const sched_firing *f) {
  job_ctx *j = ctx;
  if (f->missed != 0 || f->due != f->now)
    j->rec->bad++;
  if (j->rec->n < MAX_FIRED)
    j->rec->got[j->rec->n++] = (fired){j->job, f->due};
  return 0;
}

/* The oracle's New York offset, in minutes, from the switch instants of
 * 2025 and 2026 written out by hand. */
static int64_t oracle_offset_min(dto_time t) {
  static const struct {
    int y;
    int mar_day, nov_day;
  } dst[] = {{2025, 9, 2}, {2026, 8, 1}};
  for (size_t i = 0; i < DTO_ARRAY_LEN(dst); i++) {
    dto_time on = U(dst[i].y, 3, dst[i].mar_day, 7, 0);
    dto_time off = U(dst[i].y, 11, dst[i].nov_day, 6, 0);
    if (t >= on && t < off)
      return -240;
  }
  return -300;
}

/* Wall clock in New York (oracle): local date, minute of day, weekday. */
static void oracle_wall(dto_time t, int64_t *date, int *mod, int *wday) {
  int64_t lmin = t / MIN + oracle_offset_min(t); /* t > 0 here */
  *date = lmin / 1440;
  *mod = (int)(lmin % 1440);
  *wday = (int)((*date + 4) % 7); /* 1970-01-01 was a Thursday */
}

enum {
  J_BACKUP,
  J_LOGS,
  J_REPORT,
  J_LATE,
  J_SPRING,
  J_WEEKDAY,
  J_TICK,
  J_COUNT
};

static const char *const job_expr[J_COUNT] = {
    "0 2 * * * exchange",        "every 15m",           "at session_close+10m",
    "30 1 * * * exchange",       "30 2 * * * exchange", "0 12 * * 1-5 UTC",
    "*/5 9-15 * * 1-5 exchange",
};

typedef struct week {
  dto_time start, end;
  dto_time closes[8]; /* hand-computed session closes (UTC), 0-terminated */
  dto_time moved[J_COUNT]; /* spring-forward: the moved firing, or 0 */
  int counts[J_COUNT];     /* firings per job, counted by hand */
} week;

static void run_week(const week *w) {
  const calendar *us = calendar_us_equity();
  recorder *rec = calloc(1, sizeof *rec);
  assert_non_null(rec);
  sched *s = sched_new(us, NULL, w->start);
  job_ctx ctx[J_COUNT];
  for (int j = 0; j < J_COUNT; j++) {
    ctx[j] = (job_ctx){rec, j};
    sched_expr e = P(job_expr[j]);
    char name[16];
    snprintf(name, sizeof name, "job%d", j);
    assert_int_equal(sched_add(s, name, &e, record, &ctx[j]), 0);
  }
  for (dto_time t = w->start + MIN; t <= w->end; t += MIN)
    assert_true(sched_run_due(s, t) >= 0);
  assert_int_equal(rec->bad, 0);

  /* The oracle: every UTC minute in (start, end], each job in
   * registration order. */
  fired *want = calloc(MAX_FIRED, sizeof *want);
  assert_non_null(want);
  int nwant = 0;
  int64_t last_date[J_COUNT];
  for (int j = 0; j < J_COUNT; j++)
    last_date[j] = -1;
  for (dto_time t = w->start + MIN; t <= w->end; t += MIN) {
    int64_t date;
    int mod, wday;
    oracle_wall(t, &date, &mod, &wday);
    int64_t umin = t / MIN;
    int udow = (int)((umin / 1440 + 4) % 7);
    for (int j = 0; j < J_COUNT; j++) {
      bool fire = false;
      switch (j) {
      case J_BACKUP: /* a local wall time fires on its first occurrence */
        fire = mod == 2 * 60 && date != last_date[j];
        break;
      case J_LATE:
        fire = mod == 1 * 60 + 30 && date != last_date[j];
        break;
      case J_SPRING:
        fire = mod == 2 * 60 + 30 && date != last_date[j];
        break;
      case J_LOGS:
        fire = umin % 15 == 0;
        break;
      case J_REPORT:
        for (int k = 0; w->closes[k]; k++)
          fire = fire || t == w->closes[k] + 10 * MIN;
        break;
      case J_WEEKDAY:
        fire = umin % 1440 == 12 * 60 && udow >= 1 && udow <= 5;
        break;
      case J_TICK:
        fire = mod % 5 == 0 && mod >= 9 * 60 && mod < 16 * 60 && wday >= 1 &&
               wday <= 5;
        break;
      }
      if (w->moved[j] && t == w->moved[j])
        fire = true;
      if (fire) {
        last_date[j] = date;
        assert_true(nwant < MAX_FIRED);
        want[nwant++] = (fired){j, t};
      }
    }
  }
  /* the oracle against the counts worked out by hand */
  int per_job[J_COUNT] = {0};
  for (int i = 0; i < nwant; i++)
    per_job[want[i].job]++;
  for (int j = 0; j < J_COUNT; j++)
    if (per_job[j] != w->counts[j])
      fail_msg("oracle: job %d fires %d times, hand count %d", j, per_job[j],
               w->counts[j]);
  /* the scheduler against the oracle, in order */
  for (int i = 0; i < nwant && i < rec->n; i++)
    if (rec->got[i].job != want[i].job || rec->got[i].due != want[i].due) {
      char a[40], b[40];
      time_format(rec->got[i].due, a, sizeof a);
      time_format(want[i].due, b, sizeof b);
      fail_msg("firing %d: got job %d at %s, want job %d at %s", i,
               rec->got[i].job, a, want[i].job, b);
    }
  assert_int_equal(rec->n, nwant);
  for (int j = 0; j < J_COUNT; j++) {
    sched_job_info info;
    char name[16];
    snprintf(name, sizeof name, "job%d", j);
    assert_int_equal(sched_job(s, name, &info), 0);
    assert_true(info.runs == (uint64_t)w->counts[j]);
    assert_true(info.missed == 0 && info.failures == 0);
    assert_true(info.next > w->end);
  }
  free(want);
  free(rec);
  sched_free(s);
}

/* Per day: 96 log firings; 12 ticks an hour for 7 hours (09:00-15:55) = 84
 * per weekday. */
static void test_week_fall_back_2025(void **state) {
  (void)state;
  /* Thu 2025-10-30 .. Thu 11-06 00:00 UTC; clocks go back on Sun 11-02.
   * Weekdays (local and UTC): Oct 30, 31, Nov 3, 4, 5.  Every local time
   * of 7 dates fires once (01:30 twice on the clock, once here). */
  week w = {.start = U(2025, 10, 30, 0, 0),
            .end = U(2025, 11, 6, 0, 0),
            .closes = {U(2025, 10, 30, 20, 0), U(2025, 10, 31, 20, 0),
                       U(2025, 11, 3, 21, 0), U(2025, 11, 4, 21, 0),
                       U(2025, 11, 5, 21, 0)},
            .counts = {7, 7 * 96, 5, 7, 7, 5, 5 * 84}};
  run_week(&w);
}

static void test_week_spring_forward_2026(void **state) {
  (void)state;
  /* Thu 2026-03-05 .. Thu 03-12 00:00 UTC; clocks go forward on Sun 03-08:
   * 02:00 and 02:30 do not exist and fire at 03:00 and 03:30 EDT (07:00
   * and 07:30 UTC) instead. */
  week w = {
      .start = U(2026, 3, 5, 0, 0),
      .end = U(2026, 3, 12, 0, 0),
      .closes = {U(2026, 3, 5, 21, 0), U(2026, 3, 6, 21, 0),
                 U(2026, 3, 9, 20, 0), U(2026, 3, 10, 20, 0),
                 U(2026, 3, 11, 20, 0)},
      .moved =
          {[J_BACKUP] = U(2026, 3, 8, 7, 0), [J_SPRING] = U(2026, 3, 8, 7, 30)},
      .counts = {7, 7 * 96, 5, 7, 7, 5, 5 * 84}};
  run_week(&w);
}

static void test_week_thanksgiving_2025(void **state) {
  (void)state;
  /* Mon 2025-11-24 .. Tue 12-02 00:00 UTC (8 days).  Closed Thu 11-27,
   * early close Fri 11-28 at 13:00 EST (18:00 UTC).  Cron jobs do not
   * follow the trading calendar: weekdays Nov 24-28 and Dec 1 = 6. */
  week w = {.start = U(2025, 11, 24, 0, 0),
            .end = U(2025, 12, 2, 0, 0),
            .closes = {U(2025, 11, 24, 21, 0), U(2025, 11, 25, 21, 0),
                       U(2025, 11, 26, 21, 0), U(2025, 11, 28, 18, 0),
                       U(2025, 12, 1, 21, 0)},
            .counts = {8, 8 * 96, 5, 8, 8, 6, 6 * 84}};
  run_week(&w);
}

static void test_week_july4_2025(void **state) {
  (void)state;
  /* Mon 2025-06-30 .. Mon 07-07 00:00 UTC.  Early close Thu 07-03 at 13:00
   * EDT (17:00 UTC), closed Fri 07-04.  Local 02:00 etc. of Jun 30 .. Jul
   * 6 = 7 dates; weekdays Jun 30 .. Jul 4 = 5. */
  week w = {.start = U(2025, 6, 30, 0, 0),
            .end = U(2025, 7, 7, 0, 0),
            .closes = {U(2025, 6, 30, 20, 0), U(2025, 7, 1, 20, 0),
                       U(2025, 7, 2, 20, 0), U(2025, 7, 3, 17, 0)},
            .counts = {7, 7 * 96, 4, 7, 7, 5, 5 * 84}};
  run_week(&w);
}

/* ---- the job table: catching up, order, errors -------------------------- */

typedef struct probe {
  sched *s;
  char order[16];
  int n;
  sched_firing last;
  int rc;     /* what the job returns */
  int add_rc; /* sched_add from inside the job */
  int run_rc; /* sched_run_due from inside the job */
  bool reenter;
} probe;

typedef struct probe_job {
  probe *p;
  char tag;
} probe_job;

static int probe_fn(void *ctx, const sched_firing *f) {
  probe_job *j = ctx;
  probe *p = j->p;
  if (p->n < (int)sizeof p->order - 1)
    p->order[p->n++] = j->tag;
  p->last = *f;
  if (p->reenter) {
    sched_expr e = P("every 1m");
    p->add_rc = sched_add(p->s, "inner", &e, probe_fn, ctx);
    p->run_rc = sched_run_due(p->s, f->now);
  }
  return p->rc;
}

static void test_catch_up_runs_once(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, U(2025, 1, 7, 0, 0));
  dto_log lg;
  log_init(&lg, f, &clk, LOG_DEBUG);

  sched *s = sched_new(NULL, &lg, U(2025, 1, 6, 0, 0));
  probe p = {.s = s};
  probe_job a = {&p, 'a'}, b = {&p, 'b'};
  sched_expr e = P("every 15m");
  assert_int_equal(sched_add(s, "logs", &e, probe_fn, &a), 0);
  e = P("*/10 * * * * UTC");
  assert_int_equal(sched_add(s, "ten", &e, probe_fn, &b), 0);
  assert_true(sched_next_due(s) == U(2025, 1, 6, 0, 10));

  /* an hour late: "ten" was due at 00:10 .. 01:00 (6 times), "logs" at
   * 00:15 .. 01:00 (4 times); each runs once, for 01:00 */
  assert_int_equal(sched_run_due(s, U(2025, 1, 6, 1, 0)), 2);
  assert_string_equal(p.order, "ab"); /* same firing: registration order */
  assert_true(p.last.due == U(2025, 1, 6, 1, 0));
  assert_true(p.last.missed == 5);
  sched_job_info info;
  assert_int_equal(sched_job(s, "logs", &info), 0);
  assert_true(info.runs == 1 && info.missed == 3);
  assert_true(info.next == U(2025, 1, 6, 1, 15));

  /* a day late: 96 firings of "logs" (01:15 .. next day 01:00), 95 missed */
  p.n = 0;
  memset(p.order, 0, sizeof p.order);
  assert_int_equal(sched_run_due(s, U(2025, 1, 7, 1, 5)), 2);
  assert_int_equal(sched_job(s, "logs", &info), 0);
  assert_true(info.runs == 2 && info.missed == 3 + 95);
  /* "ten": 01:10 .. next day 01:00 is 144 firings, 143 missed */
  assert_int_equal(sched_job(s, "ten", &info), 0);
  assert_true(info.missed == 5 + 143);

  /* nothing due; time going backward runs nothing */
  assert_int_equal(sched_run_due(s, U(2025, 1, 7, 1, 6)), 0);
  assert_int_equal(sched_run_due(s, U(2025, 1, 6, 0, 0)), 0);
  sched_free(s);
  log_close(&lg);

  char buf[4096] = {0};
  rewind(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  assert_true(n > 0);
  assert_non_null(strstr(buf, "\"event\":\"sched.missed\",\"component\":"
                              "\"sched\",\"job\":\"logs\","
                              "\"schedule\":\"every 15m\",\"due\":\"2025-01-"
                              "06T01:00:00Z\",\"missed\":3"));
  assert_non_null(strstr(buf, "\"job\":\"ten\",\"schedule\":\"*/10 * * * * "
                              "UTC\",\"due\":\"2025-01-07T01:00:00Z\","
                              "\"missed\":143"));
}

static void test_order_and_errors(void **state) {
  (void)state;
  sched *s = sched_new(NULL, NULL, U(2025, 1, 6, 0, 0));
  probe p = {.s = s};
  probe_job a = {&p, 'a'}, b = {&p, 'b'}, c = {&p, 'c'};
  sched_expr e = P("every 1h");
  assert_int_equal(sched_add(s, "a", &e, probe_fn, &a), 0);
  e = P("0 * * * * UTC");
  assert_int_equal(sched_add(s, "b", &e, probe_fn, &b), 0);
  e = P("30 0 * * * UTC");
  assert_int_equal(sched_add(s, "c", &e, probe_fn, &c), 0);
  /* c's firing (00:30) is earlier than a's and b's (01:00) */
  assert_int_equal(sched_run_due(s, U(2025, 1, 6, 1, 0)), 3);
  assert_string_equal(p.order, "cab");

  /* errors */
  assert_int_equal(sched_add(s, "a", &e, probe_fn, &a), DTO_EEXIST);
  assert_int_equal(sched_add(s, "", &e, probe_fn, &a), DTO_EINVAL);
  assert_int_equal(sched_add(s, "x", &e, NULL, &a), DTO_EINVAL);
  char longname[SCHED_NAME_MAX + 2];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(sched_add(s, longname, &e, probe_fn, &a), DTO_EINVAL);
  e = P("at session_close");
  assert_int_equal(sched_add(s, "x", &e, probe_fn, &a), DTO_EINVAL);
  e = P("0 2 * * * exchange");
  assert_int_equal(sched_add(s, "x", &e, probe_fn, &a), DTO_EINVAL);
  sched_job_info info;
  assert_int_equal(sched_job(s, "x", &info), DTO_ENOENT);

  /* a failing job is counted and stays scheduled; a job cannot change the
   * table or drive it */
  p.rc = DTO_EIO;
  p.reenter = true;
  assert_int_equal(sched_run_due(s, U(2025, 1, 6, 2, 0)), 2);
  assert_int_equal(p.add_rc, DTO_ESTATE);
  assert_int_equal(p.run_rc, DTO_ESTATE);
  assert_int_equal(sched_job(s, "a", &info), 0);
  assert_true(info.runs == 2 && info.failures == 1);
  assert_true(info.next == U(2025, 1, 6, 3, 0));
  assert_true(sched_next_due(s) == U(2025, 1, 6, 3, 0));
  sched_free(s);
  sched_free(NULL);

  /* an empty table has nothing due */
  s = sched_new(NULL, NULL, 0);
  assert_true(sched_next_due(s) == INT64_MAX);
  assert_int_equal(sched_run_due(s, U(2025, 1, 1, 0, 0)), 0);
  sched_free(s);

  /* a job whose next firing falls past the supported range stops */
  s = sched_new(NULL, NULL, U(2199, 12, 31, 23, 0));
  e = P("every 1h");
  assert_int_equal(sched_add(s, "a", &e, probe_fn, &a), 0);
  p.reenter = false;
  p.rc = 0;
  assert_int_equal(sched_run_due(s, U(2200, 1, 1, 0, 0)), 1);
  assert_int_equal(sched_job(s, "a", &info), 0);
  assert_true(info.next == INT64_MAX);
  assert_int_equal(sched_run_due(s, INT64_MAX), 0);
  sched_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_valid),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_next_spring_forward),
      cmocka_unit_test(test_next_fall_back),
      cmocka_unit_test(test_next_utc_and_every),
      cmocka_unit_test(test_next_sessions),
      cmocka_unit_test(test_next_errors),
      cmocka_unit_test(test_week_fall_back_2025),
      cmocka_unit_test(test_week_spring_forward_2026),
      cmocka_unit_test(test_week_thanksgiving_2025),
      cmocka_unit_test(test_week_july4_2025),
      cmocka_unit_test(test_catch_up_runs_once),
      cmocka_unit_test(test_order_and_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
