/* test_timeutil.c - civil dates, ISO-8601 and epoch parsing, formatting and
 * durations.  Anchor values were computed independently (Python's datetime
 * and calendar.timegm), not with the code under test. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>
#include <time.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"

#define S DTO_NS_PER_SEC
#define DAY DTO_NS_PER_DAY

static void test_civil_anchors(void **state) {
  (void)state;
  static const struct {
    int y, m, d;
    int64_t days;
    int wday;
  } a[] = {
      {1970, 1, 1, 0, 4},        {2000, 3, 1, 11017, 3},
      {2024, 2, 29, 19782, 4},   {1900, 1, 1, -25567, 1},
      {2200, 12, 31, 84370, 3},  {2025, 1, 2, 20090, 4},
      {1969, 7, 20, -165, 0},    {1969, 12, 31, -1, 3},
      {1600, 1, 1, -135140, 6},  {2262, 4, 11, 106751, 5},
      {1677, 9, 21, -106752, 2},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(a); i++) {
    assert_int_equal(days_from_civil(a[i].y, a[i].m, a[i].d), a[i].days);
    int y, m, d;
    civil_from_days(a[i].days, &y, &m, &d);
    assert_int_equal(y, a[i].y);
    assert_int_equal(m, a[i].m);
    assert_int_equal(d, a[i].d);
    assert_int_equal(weekday_from_days(a[i].days), a[i].wday);
  }
}

/* Walk every day of 1900..2200 with an independent date counter. */
static void test_civil_roundtrip(void **state) {
  (void)state;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y = 1900, m = 1, d = 1;
  int64_t z = days_from_civil(1900, 1, 1);
  int wd = weekday_from_days(z);
  assert_int_equal(wd, 1); /* a Monday */
  long n = 0;
  while (y <= 2200) {
    assert_int_equal(days_from_civil(y, m, d), z);
    int yy, mm, dd;
    civil_from_days(z, &yy, &mm, &dd);
    if (yy != y || mm != m || dd != d)
      fail_msg("day %lld: got %d-%d-%d want %d-%d-%d", (long long)z, yy, mm, dd,
               y, m, d);
    assert_true(civil_valid(y, m, d));
    assert_int_equal(weekday_from_days(z), wd);
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int ml = mdays[m - 1] + (m == 2 && leap);
    assert_false(civil_valid(y, m, ml + 1));
    if (++d > ml) {
      d = 1;
      if (++m > 12) {
        m = 1;
        y++;
      }
    }
    z++;
    wd = (wd + 1) % 7;
    n++;
  }
  assert_int_equal(n, 301 * 365 + 73); /* 73 leap days in 1900..2200 */
}

static void test_weekday_negative(void **state) {
  (void)state;
  /* Every weekday before the epoch, far and near. */
  for (int64_t z = -800; z <= 800; z++) {
    int w = weekday_from_days(z);
    assert_true(w >= 0 && w <= 6);
    assert_int_equal(w, (int)(((z + 4) % 7 + 7) % 7));
  }
}

static void test_civil_valid(void **state) {
  (void)state;
  assert_false(civil_valid(1900, 2, 29));
  assert_true(civil_valid(2000, 2, 29));
  assert_true(civil_valid(2024, 2, 29));
  assert_false(civil_valid(2100, 2, 29));
  assert_false(civil_valid(2023, 2, 29));
  assert_true(civil_valid(2023, 2, 28));
  assert_false(civil_valid(2025, 4, 31));
  assert_true(civil_valid(2025, 12, 31));
  assert_false(civil_valid(2025, 0, 1));
  assert_false(civil_valid(2025, 13, 1));
  assert_false(civil_valid(2025, 1, 0));
  assert_false(civil_valid(2025, 1, 32));
  assert_false(civil_valid(2025, -1, 1));
  assert_false(civil_valid(0, 1, 1));
  assert_false(civil_valid(10000, 1, 1));
}

static void expect_time(const char *s, dto_time want) {
  dto_time t = 12345;
  int rc = time_parse_cstr(s, &t);
  if (rc || t != want)
    fail_msg("time_parse(\"%s\"): rc %s t %lld, want %lld", s, dto_errname(rc),
             (long long)t, (long long)want);
}

static void expect_time_err(const char *s, int want) {
  dto_time t = 12345;
  int rc = time_parse_cstr(s, &t);
  if (rc != want)
    fail_msg("time_parse(\"%s\"): rc %s, want %s", s, dto_errname(rc),
             dto_errname(want));
  assert_int_equal(t, 12345);
}

static void test_parse_iso(void **state) {
  (void)state;
  const dto_time base = 1735787045LL * S; /* 2025-01-02T03:04:05Z */
  expect_time("2025-01-02", 20090 * DAY);
  expect_time("1970-01-01", 0);
  expect_time("1969-12-31", -DAY);
  expect_time("2025-01-02T03:04:05", base);
  expect_time("2025-01-02 03:04:05", base);
  expect_time("2025-01-02T03:04:05Z", base);
  expect_time("2025-01-02T03:04", base - 5 * S);
  expect_time("2025-01-02T03:04Z", base - 5 * S);
  expect_time("2025-01-02T00:00:00", 20090 * DAY);
  expect_time("1969-07-20T20:17:40Z", -14182940LL * S);
  expect_time("2024-02-29T23:59:59", (19782 + 1) * DAY - S);
}

static void test_parse_fraction(void **state) {
  (void)state;
  const dto_time base = 1735787045LL * S;
  expect_time("2025-01-02T03:04:05.1", base + 100000000);
  expect_time("2025-01-02T03:04:05.12", base + 120000000);
  expect_time("2025-01-02T03:04:05.123", base + 123000000);
  expect_time("2025-01-02T03:04:05.000001", base + 1000);
  expect_time("2025-01-02T03:04:05.123456789", base + 123456789);
  expect_time("2025-01-02T03:04:05.000000001Z", base + 1);
  /* Past nanoseconds the digits are dropped (truncated, not rounded). */
  expect_time("2025-01-02T03:04:05.1234567899", base + 123456789);
  expect_time("2025-01-02T03:04:05.999999999999999999999", base + 999999999);
  expect_time("2025-01-02T03:04:05,5", base + 500000000);
  expect_time("1969-12-31T23:59:59.5Z", -500000000);
}

static void test_parse_offset(void **state) {
  (void)state;
  const dto_time base = 1735787045LL * S;
  expect_time("2025-01-02T03:04:05+00:00", base);
  expect_time("2025-01-02T03:04:05-00:00", base);
  expect_time("2025-01-02T03:04:05+02:00", base - 2 * 3600 * S);
  expect_time("2025-01-02T03:04:05-05:30", base + (5 * 3600 + 1800) * S);
  expect_time("2025-01-02T03:04:05.25+01:00", base - 3600 * S + 250000000);
  expect_time("2025-01-02T03:04+23:59",
              base - 5 * S - (23 * 3600 + 59 * 60) * S);
  expect_time("2025-01-02 03:04:05-01:00", base + 3600 * S);
}

static void test_parse_epoch(void **state) {
  (void)state;
  expect_time("0", 0);
  expect_time("1", S);
  expect_time("1700000000", 1700000000LL * S);                /* seconds */
  expect_time("1700000000123", 1700000000123LL * 1000000);    /* ms */
  expect_time("1700000000123456", 1700000000123456LL * 1000); /* us */
  expect_time("1700000000123456789", 1700000000123456789LL);  /* ns */
  expect_time("100000000000", 100000000000LL * 1000000); /* first ms value */
  expect_time("-1", -S);
  expect_time("-86400", -DAY);
  expect_time("-14182940", -14182940LL * S);
  expect_time("-1700000000123", -1700000000123LL * 1000000);
  expect_time("9223372036", 9223372036LL * S);
  expect_time("9223372036854775807", INT64_MAX);
  expect_time("-9223372036854775807", -INT64_MAX);
  expect_time("-9223372036854775808", INT64_MIN);
}

static void test_parse_rejects(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "-",
      "2025-13-01",
      "2025-00-01",
      "2025-02-30",
      "2023-02-29",
      "2025-01-32",
      "2025-01-00",
      "0000-01-01",
      "2025-01-01T25:00",
      "2025-01-01T24:00",
      "2025-01-01T10:60",
      "2025-01-01T10:00:61",
      "2025-01-01T",
      "2025-01-01T10",
      "2025-01-01T10:0",
      "2025-01-01T10:00:",
      "2025-01-01T10:00:5",
      "2025-01-01T10:00:00.",
      "2025-01-01T10:00.5",
      "2025-01-01X10:00",
      "2025-01-01T10:00:00x",
      "2025-01-01T10:00:00Zx",
      "2025-01-01T10:00:00 ",
      "2025-01-01 ",
      "2025-01-01Z",
      "2025-01-01T10:00:00+0200",
      "2025-01-01T10:00:00+02",
      "2025-01-01T10:00:00+24:00",
      "2025-01-01T10:00:00+02:60",
      "2025-01-01T10:00:00+2:00",
      "2025-1-01",
      "25-01-01",
      "2025/01/01",
      "abc",
      "12a",
      " 12",
      "12 ",
      "1.5",
      "+12",
      "--1",
      "01234567890123456789",
      "2025-01-01T1a:00",
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_time_err(bad[i], DTO_EPARSE);
  /* Exactly len bytes: an embedded NUL is part of the input. */
  dto_time t = 12345;
  assert_int_equal(time_parse("2025-01-01\0", 11, &t), DTO_EPARSE);
  assert_int_equal(time_parse("2025-01-01T10:00", 10, &t), 0);
  assert_int_equal(t, days_from_civil(2025, 1, 1) * DAY);
}

static void test_parse_range(void **state) {
  (void)state;
  expect_time_err("9999999999", DTO_ERANGE); /* seconds, year 2286 */
  expect_time_err("-9999999999", DTO_ERANGE);
  expect_time_err("99999999999", DTO_ERANGE);    /* seconds, year 5138 */
  expect_time_err("99999999999999", DTO_ERANGE); /* ms, year 5138 */
  expect_time_err("9223372036854775808", DTO_ERANGE);
  expect_time_err("9999999999999999999", DTO_ERANGE);
  expect_time_err("-9223372036854775809", DTO_ERANGE);
  expect_time_err("2300-01-01", DTO_ERANGE);
  expect_time_err("1600-01-01", DTO_ERANGE);
  expect_time_err("9999-12-31T23:59:59.999999999Z", DTO_ERANGE);
  expect_time_err("0001-01-01T00:00:00-23:59", DTO_ERANGE);
  /* The edges of dto_time, 1677-09-21 to 2262-04-11. */
  expect_time("2262-04-11T23:47:16.854775807Z", INT64_MAX);
  expect_time_err("2262-04-11T23:47:16.854775808Z", DTO_ERANGE);
  expect_time_err("2262-04-11T23:47:16.854775807-00:01", DTO_ERANGE);
  expect_time("2262-04-12T00:47:16.854775807+01:00", INT64_MAX);
  expect_time("1677-09-21T00:12:43.145224192Z", INT64_MIN);
  expect_time_err("1677-09-21T00:12:43.145224191Z", DTO_ERANGE);
  expect_time("1677-09-21T00:12:44Z", INT64_MIN + 854775808);
  expect_time("1677-09-20T23:12:44-01:00", INT64_MIN + 854775808);
  expect_time_err("1677-09-21T00:00:00Z", DTO_ERANGE);
}

static void expect_format(dto_time t, const char *want) {
  char buf[40];
  memset(buf, 'x', sizeof buf);
  size_t n = time_format(t, buf, sizeof buf);
  assert_string_equal(buf, want);
  assert_int_equal(n, strlen(want));
  assert_true(n < 32);
}

static void test_format(void **state) {
  (void)state;
  const dto_time base = 1735787045LL * S;
  expect_format(0, "1970-01-01T00:00:00Z");
  expect_format(base, "2025-01-02T03:04:05Z");
  expect_format(base + 1000000, "2025-01-02T03:04:05.001Z");
  expect_format(base + 120000000, "2025-01-02T03:04:05.120Z");
  expect_format(base + 1000, "2025-01-02T03:04:05.000001Z");
  expect_format(base + 123456000, "2025-01-02T03:04:05.123456Z");
  expect_format(base + 1, "2025-01-02T03:04:05.000000001Z");
  expect_format(base + 123456789, "2025-01-02T03:04:05.123456789Z");
  expect_format(19782 * DAY + DAY - 1, "2024-02-29T23:59:59.999999999Z");
  /* Before 1970. */
  expect_format(-1, "1969-12-31T23:59:59.999999999Z");
  expect_format(-S, "1969-12-31T23:59:59Z");
  expect_format(-DAY, "1969-12-31T00:00:00Z");
  expect_format(-DAY - 1000000, "1969-12-30T23:59:59.999Z");
  expect_format(-14182940LL * S, "1969-07-20T20:17:40Z");
  expect_format(-25567 * DAY + 500000000, "1900-01-01T00:00:00.500Z");
  /* The whole range of dto_time. */
  expect_format(INT64_MAX, "2262-04-11T23:47:16.854775807Z");
  expect_format(INT64_MIN, "1677-09-21T00:12:43.145224192Z");
  expect_format(INT64_MIN + 1, "1677-09-21T00:12:43.145224193Z");
}

static void test_format_roundtrip(void **state) {
  (void)state;
  uint64_t x = 0x2545f4914f6cdd1dULL;
  char buf[40];
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    dto_time t = (dto_time)x;
    switch (i % 4) { /* vary the precision */
    case 1:
      t -= t % 1000;
      break;
    case 2:
      t -= t % 1000000;
      break;
    case 3:
      t -= t % S;
      break;
    }
    size_t n = time_format(t, buf, sizeof buf);
    dto_time back = 0;
    int rc = time_parse(buf, n, &back);
    if (rc || back != t)
      fail_msg("round trip of %lld via %s: rc %s got %lld", (long long)t, buf,
               dto_errname(rc), (long long)back);
  }
}

/* time_format_cached gives time_format's text, whatever the order of the
 * times (random, then runs within a day, across midnight, negative). */
static void test_format_cached(void **state) {
  (void)state;
  time_fmt_cache c;
  time_fmt_cache_init(&c);
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  char a[40], b[TIME_FMT_MAX];
  dto_time t = -3 * S;
  for (int i = 0; i < 40000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    if (i >= 39998)
      t = i == 39998 ? INT64_MAX : INT64_MIN;
    else if (i % 8 == 0)
      t = (dto_time)(x >> 2) * ((x & 1) ? 1 : -1); /* anywhere */
    else if (i % 8 == 1)
      t -= t % S;
    else if (i % 8 == 2)
      t += 60 * S; /* the next minute */
    else if (i % 8 == 3)
      t += (dto_time)(x % (60 * S)); /* often the same minute */
    else
      t += (dto_time)(x % (7200 * S)); /* often the same day */
    size_t n = time_format(t, a, sizeof a);
    size_t m = time_format_cached(&c, t, b);
    if (n != m || memcmp(a, b, n))
      fail_msg("%lld: %s vs %.*s", (long long)t, a, (int)m, b);
  }
  /* the rows of consecutive 1-minute bars: every minute of three days,
   * before and after the epoch and at both ends of dto_time's range (whose
   * first and last minutes are partly out of it), with a second or a
   * fraction now and then */
  static const dto_time from[] = {-2 * 86400 * S, 1735689600 * S, INT64_MIN,
                                  INT64_MAX - 3 * 86400 * S};
  for (size_t k = 0; k < DTO_ARRAY_LEN(from); k++) {
    time_fmt_cache_init(&c);
    for (dto_time i = 0; i < 3 * 1440; i++) {
      t = from[k] + i * 60 * S;
      if (i % 97 == 0)
        t += 7 * S;
      else if (i % 89 == 0)
        t += 250000000;
      size_t n = time_format(t, a, sizeof a);
      size_t m = time_format_cached(&c, t, b);
      if (n != m || memcmp(a, b, n))
        fail_msg("%lld: %s vs %.*s", (long long)t, a, (int)m, b);
    }
  }
}

static void test_format_small_buffer(void **state) {
  (void)state;
  char buf[16];
  memset(buf, 'x', sizeof buf);
  assert_int_equal(time_format(0, buf, 11), 10);
  assert_string_equal(buf, "1970-01-01");
  assert_int_equal(buf[11], 'x');
  assert_int_equal(time_format(0, buf, 1), 0);
  assert_string_equal(buf, "");
  buf[0] = 'x';
  assert_int_equal(time_format(0, buf, 0), 0);
  assert_int_equal(buf[0], 'x');
}

static void test_format_date(void **state) {
  (void)state;
  char buf[16];
  assert_int_equal(time_format_date(0, buf, sizeof buf), 10);
  assert_string_equal(buf, "1970-01-01");
  time_format_date(-1, buf, sizeof buf);
  assert_string_equal(buf, "1969-12-31");
  time_format_date(19782 * DAY + DAY - 1, buf, sizeof buf);
  assert_string_equal(buf, "2024-02-29");
  time_format_date(INT64_MAX, buf, sizeof buf);
  assert_string_equal(buf, "2262-04-11");
  time_format_date(INT64_MIN, buf, sizeof buf);
  assert_string_equal(buf, "1677-09-21");
  assert_int_equal(time_format_date(0, buf, 5), 4);
  assert_string_equal(buf, "1970");
}

static void expect_dur(const char *s, dto_time want) {
  dto_time d = 12345;
  int rc = duration_parse(s, &d);
  if (rc || d != want)
    fail_msg("duration_parse(\"%s\"): rc %s d %lld, want %lld", s,
             dto_errname(rc), (long long)d, (long long)want);
}

static void expect_dur_err(const char *s, int want) {
  dto_time d = 12345;
  int rc = duration_parse(s, &d);
  if (rc != want)
    fail_msg("duration_parse(\"%s\"): rc %s, want %s", s, dto_errname(rc),
             dto_errname(want));
  assert_int_equal(d, 12345);
}

static void test_duration(void **state) {
  (void)state;
  expect_dur("100ns", 100);
  expect_dur("250us", 250000);
  expect_dur("500ms", 500000000);
  expect_dur("1s", S);
  expect_dur("30s", 30 * S);
  expect_dur("5m", 300 * S);
  expect_dur("5min", 300 * S);
  expect_dur("1h", 3600 * S);
  expect_dur("1d", DAY);
  expect_dur("0s", 0);
  expect_dur("007s", 7 * S);
  expect_dur("106751d", 106751 * DAY);
  expect_dur("9223372036854775807ns", INT64_MAX);
  expect_dur("9223372036s", 9223372036LL * S);
  expect_dur("2000000000000000ns", 2000000000000000LL);
  expect_dur("00000000000000000000000000001s", S);
}

static void test_duration_rejects(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",      "5",    "5x",   "s",   "5 s",  " 5s", "5s ",  "5S",
      "+5s",   "5sec", "1.5s", "5mn", "5hh",  "ms",  "5mss", "1e3s",
      "0x10s", "5-s",  "-",    "-x",  "--5s", "-5",  "-s",
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_dur_err(bad[i], DTO_EPARSE);
  expect_dur_err("-1s", DTO_ERANGE);
  expect_dur_err("-0s", DTO_ERANGE);
  expect_dur_err("-5m", DTO_ERANGE);
  expect_dur_err("106752d", DTO_ERANGE);
  expect_dur_err("9223372037s", DTO_ERANGE);
  expect_dur_err("9223372036854775808ns", DTO_ERANGE);
  expect_dur_err("99999999999999999999999999999999s", DTO_ERANGE);
  expect_dur_err("18446744073709551616ns", DTO_ERANGE); /* 2^64 */
}

/* YYYYMMDD of a time: by hand, at the day's edges and before 1970. */
static void test_ymd(void **state) {
  (void)state;
  const int64_t D = 86400 * DTO_NS_PER_SEC;
  assert_int_equal(time_ymd(0), 19700101);
  assert_int_equal(time_ymd(D - 1), 19700101);
  assert_int_equal(time_ymd(D), 19700102);
  assert_int_equal(time_ymd(-1), 19691231);
  /* 2025-01-06T14:30:00Z = 1736173800 s */
  assert_int_equal(time_ymd(1736173800LL * DTO_NS_PER_SEC), 20250106);
  /* 2024-02-29T23:59:59Z = 1709251199 s: a leap day */
  assert_int_equal(time_ymd(1709251199LL * DTO_NS_PER_SEC), 20240229);
}

/* time_format is written by hand; an independent reference: the C
 * library's gmtime_r and snprintf, over random times of the whole range
 * (negative ones too), every fraction width, and the extremes. */
static void reference_format(dto_time t, char *buf, size_t cap) {
  int64_t secs = t / S, ns = t % S;
  if (ns < 0) {
    ns += S;
    secs--;
  }
  time_t tt = (time_t)secs;
  struct tm tm;
  assert_non_null(gmtime_r(&tt, &tm));
  int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (ns == 0)
    snprintf(buf + n, cap - (size_t)n, "Z");
  else if (ns % 1000000 == 0)
    snprintf(buf + n, cap - (size_t)n, ".%03dZ", (int)(ns / 1000000));
  else if (ns % 1000 == 0)
    snprintf(buf + n, cap - (size_t)n, ".%06dZ", (int)(ns / 1000));
  else
    snprintf(buf + n, cap - (size_t)n, ".%09dZ", (int)ns);
}

static void test_format_vs_libc(void **state) {
  (void)state;
  uint64_t s = 12345;
  static const dto_time fixed[] = {0,         -1,        1,
                                   INT64_MIN, INT64_MAX, INT64_MIN + 1,
                                   INT64_MAX - 1, 1000,  -1000000,
                                   86400LL * S, -86400LL * S, 1736173800LL * S};
  for (size_t i = 0; i < 2000000; i++) {
    dto_time t;
    if (i < DTO_ARRAY_LEN(fixed)) {
      t = fixed[i];
    } else {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      uint64_t z = s ^ (s >> 29);
      t = (dto_time)z;
      switch (i % 4) { /* every fraction width */
      case 0: t -= t % S; break;
      case 1: t -= t % 1000000; break;
      case 2: t -= t % 1000; break;
      default: break;
      }
    }
    char got[40], want[40];
    size_t n = time_format(t, got, sizeof got);
    reference_format(t, want, sizeof want);
    if (strcmp(got, want) || n != strlen(want))
      fail_msg("time_format(%lld) = '%s', libc says '%s'", (long long)t, got,
               want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ymd),
      cmocka_unit_test(test_civil_anchors),
      cmocka_unit_test(test_civil_roundtrip),
      cmocka_unit_test(test_weekday_negative),
      cmocka_unit_test(test_civil_valid),
      cmocka_unit_test(test_parse_iso),
      cmocka_unit_test(test_parse_fraction),
      cmocka_unit_test(test_parse_offset),
      cmocka_unit_test(test_parse_epoch),
      cmocka_unit_test(test_parse_rejects),
      cmocka_unit_test(test_parse_range),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_format_roundtrip),
      cmocka_unit_test(test_format_vs_libc),
      cmocka_unit_test(test_format_small_buffer),
      cmocka_unit_test(test_format_date),
      cmocka_unit_test(test_format_cached),
      cmocka_unit_test(test_duration),
      cmocka_unit_test(test_duration_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
