/* test_progress.c - the progress line: its text (label, percent, counts,
 * time left), quiet mode, and the counter that keeps updates cheap. */
#include "core/prelude.h"

#include "core/progress.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

static void test_format(void **state) {
  (void)state;
  progress p;
  char buf[160];
  progress_init(&p, "reading aapl.csv", 10000, true);
  p.start_ns = 0;
  p.done = 0;
  progress__format(&p, 1000000000, buf, sizeof buf);
  assert_string_equal(buf, "reading aapl.csv   0%  0/10000");
  /* A quarter done after 20 s: 60 s left. */
  p.done = 2500;
  progress__format(&p, 20LL * 1000000000, buf, sizeof buf);
  assert_string_equal(buf, "reading aapl.csv  25%  2500/10000  1:00 left");
  /* Hours. */
  p.done = 1;
  progress__format(&p, 2LL * 1000000000, buf, sizeof buf);
  assert_string_equal(buf, "reading aapl.csv   0%  1/10000  5:33:18 left");
  /* Past the total is shown as done. */
  p.done = 20000;
  progress__format(&p, 2LL * 1000000000, buf, sizeof buf);
  assert_string_equal(buf, "reading aapl.csv 100%  10000/10000  0:00 left");
  /* Unknown total: the count only. */
  progress_init(&p, "events", 0, true);
  p.done = 123;
  progress__format(&p, 0, buf, sizeof buf);
  assert_string_equal(buf, "events  123");
  /* A small buffer is cut, never overrun. */
  char small[8];
  assert_int_equal(progress__format(&p, 0, small, sizeof small), 7);
  assert_string_equal(small, "events ");
}

static void test_label_truncated(void **state) {
  (void)state;
  progress p;
  char label[100];
  memset(label, 'x', sizeof label - 1);
  label[sizeof label - 1] = '\0';
  progress_init(&p, label, 1, true);
  assert_int_equal(strlen(p.label), PROGRESS_LABEL_MAX - 1);
  progress_init(&p, NULL, 1, true);
  assert_string_equal(p.label, "");
}

static void test_quiet_and_counter(void **state) {
  (void)state;
  progress p;
  progress_init(&p, "x", 1000000, true);
  assert_false(p.active);
  /* The clock is read only every total/1000 units. */
  assert_int_equal(p.stride, 1000);
  assert_int_equal(p.next_check, 1000);
  for (uint64_t i = 1; i <= 5000; i++)
    progress_update(&p, i);
  assert_int_equal(p.done, 5000);
  assert_false(p.drawn);
  progress_done(&p);
  assert_false(p.active);
  progress_init(&p, "y", 10, true);
  assert_int_equal(p.stride, 1);
  progress_init(&p, "z", 0, true);
  assert_int_equal(p.stride, 1024);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_label_truncated),
      cmocka_unit_test(test_quiet_and_counter),
  };
  return cmocka_run_group_tests_name("progress", tests, NULL, NULL);
}
