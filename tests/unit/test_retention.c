/* test_retention.c - grandfather-father-son retention of backup chains.
 *
 * The acceptance test simulates two years of backups (a full every day at
 * 02:00, an incremental every 4 hours, a log every 15 minutes, with missing
 * days, days without a full and days with a second full) on an injected
 * clock, prunes every day with ret_plan() as the scheduler would, and
 * compares what remains, day after day, with an oracle written again from
 * the policy text: it never converts a time to a date, but walks the
 * simulated days back with civil dates stepped by hand, labels ISO weeks
 * with the ordinal-date rule and follows parents by index.  Every chain
 * left must be complete.  The same history planned once, unpruned, must
 * give the same set; labels are checked against the oracle over 13 years
 * of days; the edge cases are hand-computed.
 *
 * Nothing here uses core/timeutil: dates come from the oracle helpers
 * below, so a mistake in the library's calendar cannot hide in the test. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>
#include <time.h>

#include <cmocka.h>

#include "core/error.h"
#include "ops/retention.h"

#define MIN DTO_NS_PER_MIN
#define HOUR DTO_NS_PER_HOUR
#define DAY DTO_NS_PER_DAY

/* ---- the oracle's calendar, by hand ------------------------------------ */

static bool o_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int o_mdays(int y, int m) {
  static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && o_leap(y) ? 29 : n[m - 1];
}

static void o_next(int *y, int *m, int *d) {
  if (++*d > o_mdays(*y, *m)) {
    *d = 1;
    if (++*m > 12) {
      *m = 1;
      ++*y;
    }
  }
}

/* Days since 1970-01-01 by counting years and months (y >= 1970). */
static int64_t o_days(int y, int m, int d) {
  int64_t n = 0;
  for (int yy = 1970; yy < y; yy++)
    n += o_leap(yy) ? 366 : 365;
  for (int mm = 1; mm < m; mm++)
    n += o_mdays(y, mm);
  return n + d - 1;
}

/* Sakamoto's weekday: 0 = Sunday. */
static int o_weekday(int y, int m, int d) {
  static const int t[12] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
  if (m < 3)
    y--;
  return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

static int o_weeks_in_year(int y) {
  int jan1 = o_weekday(y, 1, 1);
  return jan1 == 4 || (jan1 == 3 && o_leap(y)) ? 53 : 52;
}

/* ISO week by the ordinal-date rule: week = (ordinal - weekday + 10) / 7. */
static void o_iso_week(int y, int m, int d, int *wy, int *wn) {
  int ord = d;
  for (int mm = 1; mm < m; mm++)
    ord += o_mdays(y, mm);
  int wd = o_weekday(y, m, d);
  if (wd == 0)
    wd = 7;
  int w = (ord - wd + 10) / 7;
  if (w < 1) {
    *wy = y - 1;
    *wn = o_weeks_in_year(y - 1);
  } else if (w > o_weeks_in_year(y)) {
    *wy = y + 1;
    *wn = 1;
  } else {
    *wy = y;
    *wn = w;
  }
}

/* A UTC instant. */
static dto_time U(int y, int m, int d, int h, int mi) {
  return o_days(y, m, d) * DAY + h * HOUR + mi * MIN;
}

/* ---- small lists for the edge cases -------------------------------------- */

typedef struct blist {
  ret_backup v[64];
  bool keep[64];
  ret_why why[64];
  size_t n;
} blist;

static void add(blist *l, const char *id, enum ret_kind kind, dto_time t,
                const char *parent) {
  assert_true(l->n < DTO_ARRAY_LEN(l->v));
  ret_backup *b = &l->v[l->n++];
  memset(b, 0, sizeof *b);
  snprintf(b->id, sizeof b->id, "%s", id);
  b->kind = kind;
  b->time = t;
  snprintf(b->parent, sizeof b->parent, "%s", parent);
}

static ret_policy POL(int daily, int weekly, int monthly, dto_time recent) {
  ret_policy p;
  ret_policy_defaults(&p);
  p.daily = daily;
  p.weekly = weekly;
  p.monthly = monthly;
  p.keep_recent = recent;
  return p;
}

/* Plan l at now, asserting the return value. */
static void plan(blist *l, const ret_policy *p, dto_time now, int want_rc) {
  char err[256] = "";
  int rc = ret_plan(l->v, l->n, p, now, l->keep, l->why, err, sizeof err);
  if (rc != want_rc)
    fail_msg("ret_plan: %d (%s), want %d", rc, err, want_rc);
}

static size_t idx(const blist *l, const char *id) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->v[i].id, id))
      return i;
  fail_msg("no backup '%s'", id);
  return 0;
}

/* Assert the verdict on one backup: its exact reason text ("" = delete). */
static void expect(const blist *l, const char *id, const char *why) {
  size_t i = idx(l, id);
  if (strcmp(l->why[i].text, why) != 0)
    fail_msg("%s: why '%s', want '%s'", id, l->why[i].text, why);
  assert_int_equal(l->keep[i], why[0] != '\0');
  assert_int_equal(l->why[i].mask != 0, why[0] != '\0');
}

/* ---- edge cases -----------------------------------------------------------
 */

static void test_defaults(void **state) {
  (void)state;
  ret_policy p;
  memset(&p, 0x5a, sizeof p);
  ret_policy_defaults(&p);
  assert_int_equal(p.daily, 30);
  assert_int_equal(p.weekly, 12);
  assert_int_equal(p.monthly, 12);
  assert_true(p.keep_recent == 24 * HOUR);
  assert_int_equal(p.utc_offset_s, 0);
  assert_string_equal(ret_kind_name(RET_FULL), "full");
  assert_string_equal(ret_kind_name(RET_INCREMENTAL), "incremental");
  assert_string_equal(ret_kind_name(RET_LOG), "log");
  assert_string_equal(ret_kind_name(RET_KIND_COUNT), "?");
  /* An empty list is a valid plan. */
  assert_int_equal(ret_plan(NULL, 0, &p, 0, NULL, NULL, NULL, 0), 0);
}

static void test_month_boundary(void **state) {
  (void)state;
  blist l = {0};
  add(&l, "dec", RET_FULL, U(2025, 12, 31, 23, 59), "");
  add(&l, "jan15", RET_FULL, U(2026, 1, 15, 2, 0), "");
  add(&l, "jan31a", RET_FULL, U(2026, 1, 31, 2, 0), "");
  add(&l, "jan31b", RET_FULL, U(2026, 1, 31, 23, 30), "");
  add(&l, "feb1", RET_FULL, U(2026, 2, 1, 0, 0), "");
  ret_policy p = POL(0, 0, 2, 0);
  plan(&l, &p, U(2026, 2, 1, 12, 0), 0);
  expect(&l, "feb1", "newest full, monthly 2026-02");
  expect(&l, "jan31b", "monthly 2026-01");
  expect(&l, "jan31a", "");
  expect(&l, "jan15", "");
  expect(&l, "dec", "");

  /* One hour east of UTC, 23:30 on the 31st is already February (00:30),
   * but not February's newest: January's newest is the one of 02:00. */
  p.utc_offset_s = 3600;
  plan(&l, &p, U(2026, 2, 1, 12, 0), 0);
  expect(&l, "feb1", "newest full, monthly 2026-02");
  expect(&l, "jan31b", "");
  expect(&l, "jan31a", "monthly 2026-01");
  expect(&l, "jan15", "");
  p.utc_offset_s = 0;

  /* Daily across the month end: the 31st and the 1st are two days. */
  p = POL(2, 0, 0, 0);
  plan(&l, &p, U(2026, 2, 1, 12, 0), 0);
  expect(&l, "feb1", "newest full, daily 2026-02-01");
  expect(&l, "jan31b", "daily 2026-01-31");
  expect(&l, "jan31a", "");

  /* A year end: twelve months back from January reach February. */
  blist y = {0};
  for (int m = 1; m <= 12; m++) {
    char id[16];
    snprintf(id, sizeof id, "m%02d", m);
    add(&y, id, RET_FULL, U(2026, m, 28, 2, 0), "");
  }
  add(&y, "jan27", RET_FULL, U(2027, 1, 5, 2, 0), "");
  p = POL(0, 0, 12, 0);
  plan(&y, &p, U(2027, 1, 20, 0, 0), 0);
  expect(&y, "jan27", "newest full, monthly 2027-01");
  expect(&y, "m01", "");
  expect(&y, "m02", "monthly 2026-02");
  expect(&y, "m12", "monthly 2026-12");
}

static void test_iso_week_53(void **state) {
  (void)state;
  blist l = {0};
  add(&l, "w52", RET_FULL, U(2026, 12, 27, 2, 0), "");  /* Sunday, W52 */
  add(&l, "w53a", RET_FULL, U(2026, 12, 28, 2, 0), ""); /* Monday, W53 */
  add(&l, "w53b", RET_FULL, U(2027, 1, 1, 2, 0), "");   /* Friday, W53 */
  add(&l, "w53c", RET_FULL, U(2027, 1, 3, 23, 0), "");  /* Sunday, W53 */
  add(&l, "w01", RET_FULL, U(2027, 1, 4, 2, 0), "");    /* Monday, W01 */
  ret_policy p = POL(0, 3, 0, 0);
  plan(&l, &p, U(2027, 1, 5, 12, 0), 0);
  expect(&l, "w01", "newest full, weekly 2027-W01");
  expect(&l, "w53c", "weekly 2026-W53");
  expect(&l, "w53b", "");
  expect(&l, "w53a", "");
  expect(&l, "w52", "weekly 2026-W52");

  /* Two weeks back from W01 of 2027 is W53 of 2026, not W52. */
  p.weekly = 2;
  plan(&l, &p, U(2027, 1, 5, 12, 0), 0);
  expect(&l, "w53c", "weekly 2026-W53");
  expect(&l, "w52", "");

  /* Late December can be week 1 of the next year. */
  blist m = {0};
  add(&m, "a", RET_FULL, U(2024, 12, 29, 2, 0), "");
  add(&m, "b", RET_FULL, U(2024, 12, 30, 2, 0), "");
  p = POL(0, 2, 0, 0);
  plan(&m, &p, U(2025, 1, 1, 0, 0), 0);
  expect(&m, "b", "newest full, weekly 2025-W01");
  expect(&m, "a", "weekly 2024-W52");
}

static void test_leap_day(void **state) {
  (void)state;
  blist l = {0};
  add(&l, "f27", RET_FULL, U(2028, 2, 27, 2, 0), "");
  add(&l, "f28", RET_FULL, U(2028, 2, 28, 2, 0), "");
  add(&l, "f29", RET_FULL, U(2028, 2, 29, 2, 0), "");
  add(&l, "m01", RET_FULL, U(2028, 3, 1, 2, 0), "");
  add(&l, "m02", RET_FULL, U(2028, 3, 2, 2, 0), "");
  ret_policy p = POL(3, 0, 2, 0);
  plan(&l, &p, U(2028, 3, 2, 12, 0), 0);
  expect(&l, "m02", "newest full, daily 2028-03-02, monthly 2028-03");
  expect(&l, "m01", "daily 2028-03-01");
  expect(&l, "f29", "daily 2028-02-29, monthly 2028-02");
  expect(&l, "f28", "");
  expect(&l, "f27", "");

  /* Not a leap year: the day before March 1st is February 28th. */
  blist n = {0};
  add(&n, "f27", RET_FULL, U(2027, 2, 27, 2, 0), "");
  add(&n, "f28", RET_FULL, U(2027, 2, 28, 2, 0), "");
  add(&n, "m01", RET_FULL, U(2027, 3, 1, 2, 0), "");
  p = POL(2, 0, 0, 0);
  plan(&n, &p, U(2027, 3, 1, 12, 0), 0);
  expect(&n, "m01", "newest full, daily 2027-03-01");
  expect(&n, "f28", "daily 2027-02-28");
  expect(&n, "f27", "");
}

static void test_dst_does_not_matter(void **state) {
  (void)state;
  /* 2026-03-08 is New York's spring forward, 2026-03-29 Europe's: UTC
   * days stay 24 hours and a fixed offset does not move. */
  blist l = {0};
  add(&l, "a", RET_FULL, U(2026, 3, 7, 6, 30), "");
  add(&l, "b", RET_FULL, U(2026, 3, 8, 6, 30), "");
  add(&l, "c", RET_FULL, U(2026, 3, 9, 6, 30), "");
  add(&l, "d", RET_FULL, U(2026, 3, 29, 0, 30), "");
  add(&l, "e", RET_FULL, U(2026, 3, 29, 23, 30), "");
  ret_policy p = POL(3, 0, 0, 0);
  plan(&l, &p, U(2026, 3, 9, 12, 0), 0);
  expect(&l, "c", "daily 2026-03-09");
  expect(&l, "b", "daily 2026-03-08");
  expect(&l, "a", "daily 2026-03-07");
  expect(&l, "d", "recent"); /* in the future */
  expect(&l, "e", "recent, newest full");

  plan(&l, &p, U(2026, 3, 30, 0, 0), 0);
  expect(&l, "e", "newest full, daily 2026-03-29");
  expect(&l, "d", "");

  /* Five hours west, all year: 06:30 UTC is 01:30 local on the same day,
   * 04:30 UTC the evening before. */
  p.utc_offset_s = -5 * 3600;
  blist m = {0};
  add(&m, "x", RET_FULL, U(2026, 3, 8, 4, 30), "");
  add(&m, "y", RET_FULL, U(2026, 3, 8, 6, 30), "");
  add(&m, "z", RET_FULL, U(2026, 3, 9, 4, 59), "");
  plan(&m, &p, U(2026, 3, 9, 4, 59), 0);
  expect(&m, "z", "newest full, daily 2026-03-08");
  expect(&m, "y", "");
  expect(&m, "x", "daily 2026-03-07");
}

static void test_missing_day(void **state) {
  (void)state;
  blist l = {0};
  add(&l, "d1", RET_FULL, U(2026, 6, 1, 2, 0), "");
  add(&l, "d2", RET_FULL, U(2026, 6, 2, 2, 0), "");
  /* nothing on June 3rd */
  add(&l, "d4", RET_FULL, U(2026, 6, 4, 2, 0), "");
  add(&l, "d5", RET_FULL, U(2026, 6, 5, 2, 0), "");
  ret_policy p = POL(4, 0, 0, 0);
  plan(&l, &p, U(2026, 6, 5, 12, 0), 0);
  expect(&l, "d5", "newest full, daily 2026-06-05");
  expect(&l, "d4", "daily 2026-06-04");
  expect(&l, "d2", "daily 2026-06-02");
  expect(&l, "d1", ""); /* calendar days: the window does not stretch */
}

static void test_clock_backwards(void **state) {
  (void)state;
  dto_time now = U(2026, 6, 10, 12, 0);
  blist l = {0};
  add(&l, "f1", RET_FULL, U(2026, 6, 1, 2, 0), "");
  add(&l, "l1", RET_LOG, U(2026, 6, 1, 2, 15), "f1");
  add(&l, "l2", RET_LOG, U(2026, 6, 20, 0, 0), "l1"); /* from the future */
  add(&l, "f2", RET_FULL, U(2026, 6, 5, 2, 0), "");
  add(&l, "f3", RET_FULL, U(2026, 6, 12, 2, 0), ""); /* from the future */
  ret_policy p = POL(0, 0, 0, 0);
  plan(&l, &p, now, 0);
  expect(&l, "l2", "recent, latest backup");
  expect(&l, "l1", "needed by l2");
  expect(&l, "f1", "needed by l1");
  expect(&l, "f3", "recent, newest full");
  expect(&l, "f2", "");

  /* A full later today is today's newest; a later day is in no window. */
  blist m = {0};
  add(&m, "early", RET_FULL, U(2026, 6, 10, 1, 0), "");
  add(&m, "late", RET_FULL, U(2026, 6, 10, 23, 0), "");
  add(&m, "tomorrow", RET_FULL, U(2026, 6, 11, 1, 0), "");
  add(&m, "yesterday", RET_FULL, U(2026, 6, 9, 1, 0), "");
  p = POL(2, 0, 0, 0);
  plan(&m, &p, now, 0);
  expect(&m, "tomorrow", "recent, newest full");
  expect(&m, "late", "recent, daily 2026-06-10");
  expect(&m, "early", "");
  expect(&m, "yesterday", "daily 2026-06-09");
}

static void test_keep_recent_bounds(void **state) {
  (void)state;
  dto_time now = U(2026, 6, 10, 12, 0);
  blist l = {0};
  add(&l, "f", RET_FULL, now - 48 * HOUR, "");
  add(&l, "edge", RET_LOG, now - 24 * HOUR, "f");
  add(&l, "in", RET_LOG, now - 24 * HOUR + 1, "edge");
  add(&l, "now", RET_LOG, now, "in");
  ret_policy p = POL(0, 0, 0, 24 * HOUR);
  plan(&l, &p, now, 0);
  expect(&l, "now", "recent, latest backup");
  expect(&l, "in", "recent");
  expect(&l, "edge", "needed by in"); /* exactly keep_recent old: not recent */
  expect(&l, "f", "newest full");

  /* keep_recent 0: nothing at or before now is recent. */
  p.keep_recent = 0;
  blist m = {0};
  add(&m, "f", RET_FULL, now - 48 * HOUR, "");
  add(&m, "i", RET_INCREMENTAL, now - 10 * HOUR, "f");
  add(&m, "l", RET_LOG, now - HOUR, "i");
  add(&m, "l2", RET_LOG, now, "l");
  add(&m, "side", RET_LOG, now - 5 * HOUR, "i");
  plan(&m, &p, now, 0);
  expect(&m, "f", "newest full");
  expect(&m, "l2", "latest backup"); /* not recent: age 0 */
  expect(&m, "l", "needed by l2");
  expect(&m, "i", "needed by l");
  expect(&m, "side", "");
  m.v[3].time = now + 1;
  plan(&m, &p, now, 0);
  expect(&m, "l2", "recent, latest backup");
  expect(&m, "side", "");

  /* Extreme times do not overflow. */
  blist x = {0};
  add(&x, "old", RET_FULL, INT64_MIN, "");
  add(&x, "new", RET_FULL, INT64_MAX, "");
  p = POL(1, 1, 1, INT64_MAX);
  plan(&x, &p, INT64_MAX, 0);
  expect(&x, "new",
         "recent, newest full, daily 2262-04-11, weekly 2262-W15, "
         "monthly 2262-04");
  expect(&x, "old", "");
  plan(&x, &p, INT64_MIN, 0);
  expect(&x, "new", "recent, newest full");
  expect(&x, "old",
         "recent, daily 1677-09-21, weekly 1677-W38, monthly 1677-09");
}

static void test_newest_full_never_deleted(void **state) {
  (void)state;
  dto_time now = U(2026, 9, 1, 0, 0);
  blist l = {0};
  add(&l, "f1", RET_FULL, U(2026, 1, 1, 2, 0), "");
  add(&l, "f2", RET_FULL, U(2026, 2, 1, 2, 0), "");
  add(&l, "f3", RET_FULL, U(2026, 3, 1, 2, 0), "");
  add(&l, "i3", RET_INCREMENTAL, U(2026, 3, 1, 6, 0), "f3");
  add(&l, "l3", RET_LOG, U(2026, 3, 1, 6, 15), "i3");
  ret_policy p = POL(0, 0, 0, 0);
  plan(&l, &p, now, 0);
  expect(&l, "f3", "newest full");
  expect(&l, "f1", "");
  expect(&l, "f2", "");
  expect(&l, "l3", "latest backup");
  expect(&l, "i3", "needed by l3");
  /* Without the latest chain, only the newest full stays. */
  add(&l, "f3b", RET_FULL, U(2026, 3, 2, 2, 0), "");
  plan(&l, &p, now, 0);
  expect(&l, "f3b", "newest full");
  expect(&l, "f3", "");
  expect(&l, "i3", "");
  expect(&l, "l3", "");
  l.n--;

  /* Two fulls at the same time: the greater id is the newer, whatever
   * the order of the list. */
  add(&l, "f4b", RET_FULL, U(2026, 4, 1, 2, 0), "");
  add(&l, "f4a", RET_FULL, U(2026, 4, 1, 2, 0), "");
  plan(&l, &p, now, 0);
  expect(&l, "f4b", "newest full");
  expect(&l, "f4a", "");
  ret_backup t = l.v[l.n - 1];
  l.v[l.n - 1] = l.v[l.n - 2];
  l.v[l.n - 2] = t;
  plan(&l, &p, now, 0);
  expect(&l, "f4b", "newest full");
  expect(&l, "f4a", "");
}

static void test_chains_shrink(void **state) {
  (void)state;
  /* An old chain shrinks to its full; a chain that reaches into the recent
   * past is kept from its full to its newest backup. */
  dto_time now = U(2026, 6, 10, 12, 0);
  blist l = {0};
  add(&l, "f8", RET_FULL, U(2026, 6, 8, 2, 0), "");
  add(&l, "i8", RET_INCREMENTAL, U(2026, 6, 8, 6, 0), "f8");
  add(&l, "l8", RET_LOG, U(2026, 6, 8, 6, 15), "i8");
  add(&l, "f9", RET_FULL, U(2026, 6, 9, 2, 0), "");
  add(&l, "i9", RET_INCREMENTAL, U(2026, 6, 9, 6, 0), "f9");
  add(&l, "l9a", RET_LOG, U(2026, 6, 9, 6, 15), "i9");
  add(&l, "l9b", RET_LOG, U(2026, 6, 9, 6, 30), "l9a");
  add(&l, "i9b", RET_INCREMENTAL, U(2026, 6, 9, 10, 0), "i9");
  add(&l, "l9c", RET_LOG, U(2026, 6, 9, 13, 0), "i9b");  /* recent */
  add(&l, "side", RET_LOG, U(2026, 6, 9, 6, 45), "l9b"); /* a dead branch */
  ret_policy p = POL(30, 0, 0, 24 * HOUR);
  plan(&l, &p, now, 0);
  expect(&l, "f8", "daily 2026-06-08");
  expect(&l, "i8", "");
  expect(&l, "l8", "");
  expect(&l, "l9c", "recent, latest backup");
  expect(&l, "i9b", "needed by l9c");
  expect(&l, "i9", "needed by i9b");
  expect(&l, "f9", "newest full, daily 2026-06-09");
  expect(&l, "l9a", "");
  expect(&l, "l9b", "");
  expect(&l, "side", "");

  /* A chain whose full is outside every window goes entirely (f8); the
   * latest backup keeps its own chain. */
  p = POL(1, 0, 0, HOUR);
  plan(&l, &p, now, 0);
  expect(&l, "l9c", "latest backup");
  expect(&l, "i9b", "needed by l9c");
  expect(&l, "i9", "needed by i9b");
  expect(&l, "f9", "newest full");
  static const char *const gone[] = {"f8", "i8", "l8", "l9a", "l9b", "side"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(gone); i++)
    expect(&l, gone[i], "");
  /* Once a newer full is the latest backup, that chain goes too. */
  add(&l, "f10", RET_FULL, U(2026, 6, 10, 2, 0), "");
  plan(&l, &p, now, 0);
  expect(&l, "f10", "newest full, daily 2026-06-10");
  for (size_t i = 0; i + 1 < l.n; i++)
    expect(&l, l.v[i].id, "");
}

static void test_unknown_parent(void **state) {
  (void)state;
  dto_time now = U(2026, 6, 10, 12, 0);
  blist l = {0};
  add(&l, "f", RET_FULL, U(2026, 6, 1, 2, 0), "");
  add(&l, "i", RET_INCREMENTAL, U(2026, 6, 2, 6, 0), "gone");
  add(&l, "l", RET_LOG, U(2026, 6, 2, 6, 15), "i");
  add(&l, "l2", RET_LOG, U(2026, 6, 10, 11, 0), "l");
  add(&l, "x", RET_LOG, U(2026, 6, 3, 0, 0), "lost");
  ret_policy p = POL(0, 0, 0, 2 * HOUR);
  plan(&l, &p, now, 2); /* i and x name unknown parents */
  expect(&l, "f", "newest full");
  expect(&l, "i", "unknown parent gone");
  expect(&l, "l", "unknown parent gone");
  expect(&l, "l2", "recent, latest backup, unknown parent gone");
  expect(&l, "x", "unknown parent lost");
  assert_true(l.why[idx(&l, "i")].mask == RET_WHY_UNKNOWN);
  assert_true(l.why[idx(&l, "l2")].mask ==
              (RET_WHY_RECENT | RET_WHY_LATEST | RET_WHY_UNKNOWN));
  /* why is optional. */
  assert_int_equal(ret_plan(l.v, l.n, &p, now, l.keep, NULL, NULL, 0), 2);
  assert_true(l.keep[idx(&l, "l")]);
}

static void test_long_ids(void **state) {
  (void)state;
  char a[RET_ID_MAX + 1], b[RET_ID_MAX + 1];
  memset(a, 'a', RET_ID_MAX);
  a[RET_ID_MAX] = '\0';
  memset(b, 'b', RET_ID_MAX);
  b[RET_ID_MAX] = '\0';
  blist l = {0};
  add(&l, "f", RET_FULL, U(2026, 6, 1, 1, 0), "");
  add(&l, a, RET_INCREMENTAL, U(2026, 6, 1, 2, 0), "f");
  add(&l, b, RET_LOG, U(2026, 6, 1, 3, 0), a);
  add(&l, "c", RET_LOG, U(2026, 6, 1, 4, 0), b);
  ret_policy p = POL(0, 0, 0, HOUR + 1);
  plan(&l, &p, U(2026, 6, 1, 5, 0), 0);
  char want[RET_WHY_MAX];
  expect(&l, "c", "recent, latest backup");
  expect(&l, b, "needed by c");
  snprintf(want, sizeof want, "needed by %s", b);
  expect(&l, a, want);
  expect(&l, "f", "newest full");
  /* The longest texts fit. */
  blist m = {0};
  add(&m, "z", RET_LOG, U(2026, 6, 1, 4, 0), b);
  plan(&m, &p, U(2026, 6, 1, 5, 0), 1);
  snprintf(want, sizeof want, "recent, latest backup, unknown parent %s", b);
  expect(&m, "z", want);
  blist f = {0};
  add(&f, "f", RET_FULL, U(2026, 6, 1, 4, 0), "");
  p = POL(1, 1, 1, HOUR + 1);
  plan(&f, &p, U(2026, 6, 1, 5, 0), 0);
  expect(&f, "f",
         "recent, newest full, daily 2026-06-01, weekly 2026-W23, monthly "
         "2026-06");
}

/* The call fails with DTO_EINVAL, a message containing `msg`, and leaves
 * keep and why alone. */
static void refused(const blist *l0, const ret_policy *p, const char *msg) {
  blist l = *l0;
  char err[256] = "";
  memset(l.keep, 0x01, sizeof l.keep);
  memset(l.why, 0x7e, sizeof l.why);
  int rc = ret_plan(l.v, l.n, p, U(2026, 6, 10, 0, 0), l.keep, l.why, err,
                    sizeof err);
  assert_int_equal(rc, DTO_EINVAL);
  if (!strstr(err, msg))
    fail_msg("error '%s' does not contain '%s'", err, msg);
  for (size_t i = 0; i < DTO_ARRAY_LEN(l.keep); i++) {
    unsigned char c;
    memcpy(&c, &l.keep[i], 1);
    assert_int_equal(c, 0x01);
    assert_true(l.why[i].mask == 0x7e7e7e7eu);
  }
}

static void test_refused(void **state) {
  (void)state;
  ret_policy p = POL(30, 12, 12, 24 * HOUR);
  blist l = {0};
  add(&l, "f", RET_FULL, U(2026, 6, 1, 2, 0), "");
  add(&l, "i", RET_INCREMENTAL, U(2026, 6, 1, 6, 0), "f");
  add(&l, "f", RET_FULL, U(2026, 6, 2, 2, 0), "");
  refused(&l, &p, "backup 'f': duplicate id");

  /* Cycles, long and short, beside a healthy chain. */
  blist c = {0};
  add(&c, "f", RET_FULL, U(2026, 6, 1, 2, 0), "");
  add(&c, "ok", RET_LOG, U(2026, 6, 1, 3, 0), "f");
  add(&c, "hang", RET_LOG, U(2026, 6, 1, 3, 0), "c1");
  add(&c, "c1", RET_INCREMENTAL, U(2026, 6, 1, 4, 0), "c2");
  add(&c, "c2", RET_LOG, U(2026, 6, 1, 5, 0), "c3");
  add(&c, "c3", RET_LOG, U(2026, 6, 1, 6, 0), "c1");
  refused(&c, &p, "dependency cycle");
  blist s = {0};
  add(&s, "f", RET_FULL, U(2026, 6, 1, 2, 0), "");
  add(&s, "self", RET_LOG, U(2026, 6, 1, 3, 0), "self");
  refused(&s, &p, "backup 'self': dependency cycle");

  blist k = {0};
  add(&k, "f", RET_FULL, U(2026, 6, 1, 2, 0), "");
  k.v[0].kind = (enum ret_kind)7;
  refused(&k, &p, "backup 'f': unknown kind 7");
  blist fp = {0};
  add(&fp, "g", RET_FULL, U(2026, 6, 1, 2, 0), "");
  add(&fp, "f", RET_FULL, U(2026, 6, 1, 2, 0), "g");
  refused(&fp, &p, "backup 'f': a full backup with parent 'g'");
  blist np = {0};
  add(&np, "i", RET_INCREMENTAL, U(2026, 6, 1, 2, 0), "");
  refused(&np, &p, "backup 'i': incremental backup without a parent");
  blist e = {0};
  add(&e, "f", RET_FULL, U(2026, 6, 1, 2, 0), "");
  add(&e, "", RET_FULL, U(2026, 6, 1, 2, 0), "");
  refused(&e, &p, "backup 1: empty id");
  blist u = {0};
  add(&u, "f", RET_FULL, U(2026, 6, 1, 2, 0), "");
  memset(u.v[0].id, 'x', sizeof u.v[0].id);
  refused(&u, &p, "backup 0: id not terminated");
  blist up = {0};
  add(&up, "f", RET_FULL, U(2026, 6, 1, 2, 0), "");
  add(&up, "l", RET_LOG, U(2026, 6, 1, 2, 0), "f");
  memset(up.v[1].parent, 'x', sizeof up.v[1].parent);
  refused(&up, &p, "backup 'l': parent not terminated");

  ret_policy bad = p;
  bad.daily = -1;
  refused(&l, &bad, "negative count");
  bad = p;
  bad.monthly = -1;
  refused(&l, &bad, "negative count");
  bad = p;
  bad.keep_recent = -1;
  refused(&l, &bad, "negative keep_recent");
  bad = p;
  bad.utc_offset_s = RET_OFFSET_MAX + 1;
  refused(&l, &bad, "utc offset");
  bad.utc_offset_s = -RET_OFFSET_MAX - 1;
  refused(&l, &bad, "utc offset");
  refused(&l, NULL, "no policy");
  /* The limits themselves are fine. */
  blist ok = {0};
  add(&ok, "f", RET_FULL, U(2026, 6, 1, 2, 0), "");
  bad = p;
  bad.utc_offset_s = -RET_OFFSET_MAX;
  plan(&ok, &bad, U(2026, 6, 1, 12, 0), 0);
  bad.utc_offset_s = RET_OFFSET_MAX;
  bad.daily = bad.weekly = bad.monthly = INT32_MAX;
  plan(&ok, &bad, U(2026, 6, 1, 12, 0), 0);
  expect(&ok, "f",
         "recent, newest full, daily 2026-06-01, weekly 2026-W23, "
         "monthly 2026-06");
}

/* Every day from 2019-12-01 to 2033-01-31, alone in its list: the labels
 * are the oracle's (leap days of 2020, 2024, 2028, 2032; week 53 of 2020,
 * 2026 and 2032), also seen from the next day and the next month. */
static void test_labels(void **state) {
  (void)state;
  int y = 2019, m = 12, d = 1;
  ret_policy p = POL(2, 2, 2, 0);
  blist l = {0};
  add(&l, "f", RET_FULL, 0, "");
  while (y < 2033 || m < 2) {
    int wy, wn;
    o_iso_week(y, m, d, &wy, &wn);
    char want[RET_WHY_MAX];
    snprintf(want, sizeof want,
             "newest full, daily %04d-%02d-%02d, weekly %04d-W%02d, "
             "monthly %04d-%02d",
             y, m, d, wy, wn, y, m);
    dto_time t = U(y, m, d, 23, 59);
    l.v[0].time = t;
    plan(&l, &p, t, 0);
    expect(&l, "f", want);
    l.v[0].time = U(y, m, d, 0, 0);
    plan(&l, &p, t + MIN, 0); /* 00:00 the next day: still in the windows */
    assert_true(l.why[0].mask == (RET_WHY_NEWEST | RET_WHY_DAILY |
                                  RET_WHY_WEEKLY | RET_WHY_MONTHLY));
    o_next(&y, &m, &d);
  }
  assert_int_equal(y * 10000 + m * 100 + d, 20330201);
}

/* ---- the simulation -------------------------------------------------- */

typedef struct sday {
  int y, m, d; /* local civil date */
  long full;   /* index of its newest full in the history, or -1 */
} sday;

typedef struct sim {
  ret_policy pol;
  bool prune;    /* apply ret_plan every day */
  ret_backup *h; /* every backup ever taken, in time order */
  long *hpar;    /* parent index in h, -1 for a full */
  bool *alive;   /* not deleted yet */
  size_t nh, caph;
  sday *days;
  size_t nd;
  ret_backup *live; /* the store: backups not deleted */
  size_t nl, capl;
  bool *keep;
  ret_why *why;
  bool *exp;
  long last_any, last_chain, last_full;
  long plans;
} sim;

static void sim_grow(sim *s) {
  if (s->nh < s->caph)
    return;
  s->caph = s->caph ? 2 * s->caph : 4096;
  s->h = realloc(s->h, s->caph * sizeof *s->h);
  s->hpar = realloc(s->hpar, s->caph * sizeof *s->hpar);
  s->alive = realloc(s->alive, s->caph * sizeof *s->alive);
  s->exp = realloc(s->exp, s->caph * sizeof *s->exp);
  assert_non_null(s->h);
  assert_non_null(s->hpar);
  assert_non_null(s->alive);
  assert_non_null(s->exp);
}

static long hist_index(const char *id) {
  assert_true(id[0] == 'b');
  return strtol(id + 1, NULL, 10);
}

static void sim_take(sim *s, enum ret_kind kind, dto_time t, long parent) {
  sim_grow(s);
  long i = (long)s->nh++;
  ret_backup *b = &s->h[i];
  memset(b, 0, sizeof *b);
  snprintf(b->id, sizeof b->id, "b%07ld", i);
  b->kind = kind;
  b->time = t;
  if (parent >= 0)
    snprintf(b->parent, sizeof b->parent, "%s", s->h[parent].id);
  s->hpar[i] = parent;
  s->alive[i] = true;
  if (s->prune) {
    if (s->nl == s->capl) {
      s->capl = s->capl ? 2 * s->capl : 1024;
      s->live = realloc(s->live, s->capl * sizeof *s->live);
      s->keep = realloc(s->keep, s->capl * sizeof *s->keep);
      s->why = realloc(s->why, s->capl * sizeof *s->why);
      assert_non_null(s->live);
      assert_non_null(s->keep);
      assert_non_null(s->why);
    }
    s->live[s->nl++] = *b;
  }
  s->last_any = i;
  if (kind != RET_LOG)
    s->last_chain = i;
  if (kind == RET_FULL) {
    s->last_full = i;
    s->days[s->nd - 1].full = i;
  }
}

/* The oracle: exp[i] for the backups of the history to keep at `now`, the
 * day of `now` being the last simulated day. */
static void oracle(sim *s, dto_time now) {
  const ret_policy *p = &s->pol;
  long today = (long)s->nd - 1;
  memset(s->exp, 0, s->nh * sizeof *s->exp);
  /* daily: the last p->daily calendar days */
  for (long k = today, c = 0; k >= 0 && c < p->daily; k--, c++)
    if (s->days[k].full >= 0)
      s->exp[s->days[k].full] = true;
  /* weekly: walk back day by day; a new ISO label is a new week */
  int lwy = 0, lwn = 0, weeks = 0;
  bool have = false;
  for (long k = today; k >= 0; k--) {
    int wy, wn;
    o_iso_week(s->days[k].y, s->days[k].m, s->days[k].d, &wy, &wn);
    if (weeks == 0 || wy != lwy || wn != lwn) {
      if (++weeks > p->weekly)
        break;
      lwy = wy;
      lwn = wn;
      have = false;
    }
    if (!have && s->days[k].full >= 0) {
      s->exp[s->days[k].full] = true;
      have = true;
    }
  }
  /* monthly: the same with (year, month) */
  int lmy = 0, lmm = 0, months = 0;
  have = false;
  for (long k = today; k >= 0; k--) {
    if (months == 0 || s->days[k].y != lmy || s->days[k].m != lmm) {
      if (++months > p->monthly)
        break;
      lmy = s->days[k].y;
      lmm = s->days[k].m;
      have = false;
    }
    if (!have && s->days[k].full >= 0) {
      s->exp[s->days[k].full] = true;
      have = true;
    }
  }
  if (s->last_full >= 0)
    s->exp[s->last_full] = true;
  if (s->nh > 0)
    s->exp[s->nh - 1] = true; /* the latest backup */
  for (size_t i = 0; i < s->nh; i++)
    if (now - s->h[i].time < p->keep_recent)
      s->exp[i] = true;
  /* Parents come before children in the history. */
  for (size_t i = s->nh; i-- > 0;)
    if (s->exp[i] && s->hpar[i] >= 0)
      s->exp[s->hpar[i]] = true;
}

/* Every live backup's chain is complete: parents live, up to a full. */
static void check_chains(const sim *s) {
  for (size_t i = 0; i < s->nh; i++) {
    if (!s->alive[i])
      continue;
    long j = (long)i;
    while (s->hpar[j] >= 0) {
      if (!s->alive[s->hpar[j]])
        fail_msg("%s is kept but its parent %s is gone", s->h[j].id,
                 s->h[s->hpar[j]].id);
      assert_true(s->hpar[j] < j);
      j = s->hpar[j];
    }
    assert_int_equal(s->h[j].kind, RET_FULL);
  }
}

static void sim_prune(sim *s, dto_time now) {
  char err[256] = "";
  int rc =
      ret_plan(s->live, s->nl, &s->pol, now, s->keep, s->why, err, sizeof err);
  if (rc != 0)
    fail_msg("ret_plan: %d (%s)", rc, err);
  s->plans++;
  size_t w = 0;
  for (size_t i = 0; i < s->nl; i++) {
    assert_int_equal(s->keep[i], s->why[i].mask != 0);
    if (s->keep[i]) {
      s->why[w] = s->why[i];
      s->live[w++] = s->live[i];
    } else
      s->alive[hist_index(s->live[i].id)] = false;
  }
  s->nl = w;
  oracle(s, now);
  for (size_t i = 0; i < s->nh; i++)
    if (s->alive[i] != s->exp[i])
      fail_msg("day %04d-%02d-%02d: %s (%s at %lld) is %s, the oracle says %s",
               s->days[s->nd - 1].y, s->days[s->nd - 1].m, s->days[s->nd - 1].d,
               s->h[i].id, ret_kind_name(s->h[i].kind), (long long)s->h[i].time,
               s->alive[i] ? "kept" : "deleted", s->exp[i] ? "keep" : "delete");
  check_chains(s);
}

static bool is_date(const sday *d, const int (*list)[3], size_t n) {
  for (size_t i = 0; i < n; i++)
    if (d->y == list[i][0] && d->m == list[i][1] && d->d == list[i][2])
      return true;
  return false;
}

/* Days the backup host was down, days whose full failed, days with a
 * second (manual) full at 14:30. */
static const int down_days[][3] = {{2026, 12, 31}, {2027, 7, 4}, {2028, 2, 27}};
static const int no_full_days[][3] = {{2027, 1, 3}, {2027, 10, 31}};
static const int extra_full_days[][3] = {{2027, 6, 15}, {2028, 2, 29}};

/* Simulate `ndays` local days from y-m-d.  Each day has 96 quarter-hour
 * slots: the full at 02:00, incrementals at 06:00, 10:00, 14:00, 18:00 and
 * 22:00 (each depending on the previous full or incremental), a log in
 * every other slot (depending on the previous backup), and, when pruning,
 * ret_plan at 03:07 local.  Returns the time of the last plan (03:07 on
 * the last day). */
static dto_time simulate(sim *s, int y, int m, int d, long ndays) {
  int64_t off_ns = (int64_t)s->pol.utc_offset_s * DTO_NS_PER_SEC;
  int64_t e = o_days(y, m, d);
  dto_time now = 0;
  s->days = calloc((size_t)ndays, sizeof *s->days);
  assert_non_null(s->days);
  s->last_any = s->last_chain = s->last_full = -1;
  for (long k = 0; k < ndays; k++) {
    sday *day = &s->days[s->nd++];
    day->y = y;
    day->m = m;
    day->d = d;
    day->full = -1;
    bool down = is_date(day, down_days, DTO_ARRAY_LEN(down_days));
    bool no_full = is_date(day, no_full_days, DTO_ARRAY_LEN(no_full_days));
    bool extra = is_date(day, extra_full_days, DTO_ARRAY_LEN(extra_full_days));
    dto_time midnight = (e + k) * DAY - off_ns;
    for (int slot = 0; slot < 96; slot++) {
      dto_time t = midnight + slot * 15 * MIN;
      if (down) {
        /* nothing taken */
      } else if (slot == 8 && !no_full) {
        sim_take(s, RET_FULL, t, -1);
      } else if (slot >= 24 && slot % 16 == 8 && s->last_chain >= 0) {
        sim_take(s, RET_INCREMENTAL, t, s->last_chain);
      } else if (slot == 58 && extra) {
        sim_take(s, RET_FULL, t, -1);
      } else if (s->last_any >= 0) {
        sim_take(s, RET_LOG, t, s->last_any);
      }
      if (slot == 12) {
        now = t + 7 * MIN;
        if (s->prune)
          sim_prune(s, now);
        if (k == ndays - 1)
          break; /* the simulation ends at the last plan */
      }
    }
    o_next(&y, &m, &d);
  }
  return now;
}

static int sim_setup(void **state) {
  *state = calloc(1, sizeof(sim));
  return *state ? 0 : -1;
}

/* Frees the simulation also when a test failed half-way. */
static int sim_teardown(void **state) {
  sim *s = *state;
  free(s->h);
  free(s->hpar);
  free(s->alive);
  free(s->exp);
  free(s->days);
  free(s->live);
  free(s->keep);
  free(s->why);
  free(s);
  return 0;
}

/* Plan the whole history at once; the answer must be the oracle's. */
static void plan_history(sim *s, dto_time now) {
  bool *keep = calloc(s->nh, sizeof *keep);
  ret_why *why = calloc(s->nh, sizeof *why);
  assert_non_null(keep);
  assert_non_null(why);
  char err[256] = "";
  int rc = ret_plan(s->h, s->nh, &s->pol, now, keep, why, err, sizeof err);
  if (rc != 0)
    fail_msg("ret_plan: %d (%s)", rc, err);
  oracle(s, now);
  for (size_t i = 0; i < s->nh; i++) {
    if (keep[i] != s->exp[i])
      fail_msg("one plan: %s is %s, the oracle says %s", s->h[i].id,
               keep[i] ? "kept" : "deleted", s->exp[i] ? "keep" : "delete");
    if (s->prune && keep[i] != s->alive[i])
      fail_msg("one plan and daily pruning differ on %s", s->h[i].id);
  }
  free(keep);
  free(why);
}

/* The why of the history's backup at local date y-m-d hh:mm, in the live
 * store. */
static const ret_why *live_why(const sim *s, dto_time t) {
  for (size_t i = 0; i < s->nl; i++)
    if (s->live[i].time == t)
      return &s->why[i];
  fail_msg("no live backup at %lld", (long long)t);
  return NULL;
}

static size_t hist_at(const sim *s, dto_time t) {
  for (size_t i = 0; i < s->nh; i++)
    if (s->h[i].time == t)
      return i;
  fail_msg("no backup at %lld", (long long)t);
  return 0;
}

static const char *live_id(const sim *s, dto_time t) {
  for (size_t i = 0; i < s->nl; i++)
    if (s->live[i].time == t)
      return s->live[i].id;
  fail_msg("no live backup at %lld", (long long)t);
  return NULL;
}

static void test_two_years_defaults(void **state) {
  sim *s = *state;
  ret_policy_defaults(&s->pol);
  s->prune = true;
  /* 2026-03-01 .. 2028-03-01: ISO week 53 of 2026, February 29th 2028. */
  dto_time now = simulate(s, 2026, 3, 1, 732);
  assert_int_equal(s->plans, 732);
  assert_true(s->nh > 69000);
  assert_int_equal(s->days[s->nd - 1].y * 10000 + s->days[s->nd - 1].m * 100 +
                       s->days[s->nd - 1].d,
                   20280301);
  assert_true(now == U(2028, 3, 1, 3, 7));

  /* Hand-checked verdicts at the end (the last plan's reasons). */
  assert_string_equal(live_why(s, U(2028, 3, 1, 2, 0))->text,
                      "recent, newest full, daily 2028-03-01, weekly 2028-W09, "
                      "monthly 2028-03");
  assert_string_equal(live_why(s, U(2028, 2, 29, 14, 30))->text,
                      "recent, daily 2028-02-29, monthly 2028-02");
  assert_true(live_why(s, U(2028, 2, 29, 2, 0))->mask == RET_WHY_NEEDED);
  assert_string_equal(live_why(s, U(2028, 2, 26, 2, 0))->text,
                      "daily 2028-02-26, weekly 2028-W08"); /* 27th was down */
  assert_string_equal(live_why(s, U(2027, 10, 30, 2, 0))->text,
                      "monthly 2027-10"); /* no full on the 31st */
  assert_string_equal(live_why(s, U(2027, 4, 30, 2, 0))->text,
                      "monthly 2027-04");
  assert_string_equal(live_why(s, U(2027, 12, 19, 2, 0))->text,
                      "weekly 2027-W50");
  assert_string_equal(live_why(s, U(2027, 12, 31, 2, 0))->text,
                      "monthly 2027-12");
  assert_string_equal(live_why(s, U(2028, 1, 31, 2, 0))->text,
                      "monthly 2028-01");
  assert_string_equal(live_why(s, U(2028, 2, 1, 2, 0))->text,
                      "daily 2028-02-01");
  char want[RET_WHY_MAX];
  snprintf(want, sizeof want, "needed by %s",
           live_id(s, U(2028, 2, 29, 2, 30)));
  assert_string_equal(live_why(s, U(2028, 2, 29, 2, 15))->text, want);

  /* Counted by hand.  Fulls: 29 daily (the 30 days 2028-02-01 .. 03-01,
   * less the 27th, when the host was down; the 29th's is the 14:30 one),
   * 7 weekly before the daily window (the Sundays of 2027-W50 .. 2028-W04,
   * 2027-12-19 .. 2028-01-30), 10 monthly before that (the last fulls of
   * 2027-04 .. 2028-01; October's on the 30th), and the 29th's 02:00 full,
   * needed by the morning's logs.  Others: the 94 incrementals and logs of
   * the last 24 hours (96 slots, 2 of them fulls) and the 4 logs 02:15 ..
   * 03:00 on the 29th that the first recent one depends on. */
  size_t fulls = 0, others = 0;
  for (size_t i = 0; i < s->nl; i++) {
    if (s->live[i].kind == RET_FULL)
      fulls++;
    else
      others++;
  }
  assert_int_equal(fulls, 29 + 7 + 10 + 1);
  assert_int_equal(others, 94 + 4);
  assert_false(s->alive[hist_at(s, U(2027, 12, 12, 2, 0))]); /* W49 */
  assert_false(s->alive[hist_at(s, U(2027, 10, 29, 2, 0))]);
  assert_true(s->alive[hist_at(s, U(2027, 4, 30, 2, 0))]);
  assert_false(s->alive[hist_at(s, U(2027, 3, 31, 2, 0))]); /* 13 months */
  plan_history(s, now);
}

/* Another policy in local time half an hour off the hour. */
static void test_two_years_offset(void **state) {
  sim *s = *state;
  s->pol = POL(7, 5, 3, 6 * HOUR);
  s->pol.utc_offset_s = 5 * 3600 + 1800; /* India */
  s->prune = true;
  dto_time now = simulate(s, 2026, 3, 1, 732);
  assert_true(now == U(2028, 3, 1, 3, 7) - (5 * HOUR + 30 * MIN));
  plan_history(s, now);
}

/* keep_recent 0 west of UTC: only the latest chain survives the day, and
 * the next backups always find their parent (ret_plan reports no unknown
 * parent in the whole run). */
static void test_keep_recent_zero_sim(void **state) {
  sim *s = *state;
  s->pol = POL(3, 2, 14, 0);
  s->pol.utc_offset_s = -8 * 3600;
  s->prune = true;
  dto_time now = simulate(s, 2026, 11, 1, 200);
  plan_history(s, now);
  size_t others = 0;
  for (size_t i = 0; i < s->nl; i++)
    others += s->live[i].kind != RET_FULL;
  assert_int_equal(others, 4); /* 02:15 .. 03:00 local */
}

/* 100,000 backups (1,042 days, never pruned) planned at once: the oracle's
 * answer, in any order of the list, quickly. */
static void test_large(void **state) {
  sim *s = *state;
  ret_policy_defaults(&s->pol);
  dto_time now = simulate(s, 2025, 1, 1, 1042);
  assert_true(s->nh >= 99000);
  struct timespec a, b;
  bool *keep = calloc(s->nh, sizeof *keep);
  ret_why *why = calloc(s->nh, sizeof *why);
  assert_non_null(keep);
  assert_non_null(why);
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(ret_plan(s->h, s->nh, &s->pol, now, keep, why, NULL, 0), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
              (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  print_message("ret_plan over %zu backups: %.0f ms\n", s->nh, ms);
  free(why);
  plan_history(s, now);

  /* Shuffled: the same verdict for each id. */
  uint64_t r = 0x9e3779b97f4a7c15u;
  for (size_t i = s->nh; i > 1; i--) {
    r = r * 6364136223846793005u + 1442695040888963407u;
    size_t j = (size_t)((r >> 33) % i);
    ret_backup t = s->h[i - 1];
    s->h[i - 1] = s->h[j];
    s->h[j] = t;
  }
  assert_int_equal(ret_plan(s->h, s->nh, &s->pol, now, keep, NULL, NULL, 0), 0);
  for (size_t i = 0; i < s->nh; i++)
    if (keep[i] != s->exp[hist_index(s->h[i].id)])
      fail_msg("shuffled: %s differs", s->h[i].id);
  free(keep);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_month_boundary),
      cmocka_unit_test(test_iso_week_53),
      cmocka_unit_test(test_leap_day),
      cmocka_unit_test(test_dst_does_not_matter),
      cmocka_unit_test(test_missing_day),
      cmocka_unit_test(test_clock_backwards),
      cmocka_unit_test(test_keep_recent_bounds),
      cmocka_unit_test(test_newest_full_never_deleted),
      cmocka_unit_test(test_chains_shrink),
      cmocka_unit_test(test_unknown_parent),
      cmocka_unit_test(test_long_ids),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_labels),
      cmocka_unit_test_setup_teardown(test_two_years_defaults, sim_setup,
                                      sim_teardown),
      cmocka_unit_test_setup_teardown(test_two_years_offset, sim_setup,
                                      sim_teardown),
      cmocka_unit_test_setup_teardown(test_keep_recent_zero_sim, sim_setup,
                                      sim_teardown),
      cmocka_unit_test_setup_teardown(test_large, sim_setup, sim_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
