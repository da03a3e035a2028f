/* test_lifecycle.c - the service's state machine: every (from, to) pair
 * against a table written out here, refusals change nothing and are
 * counted, the observer hears both, and the systemd messages go to
 * NOTIFY_SOCKET (a datagram socket of the test's own). */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/lifecycle.h"
#include "core/error.h"

/* the legal changes, one per line, as docs/operations.md lists them */
static const char *const allowed[] = {
    "starting recovering",     "starting reconciling", "starting draining",
    "starting stopped",        "recovering reconciling",
    "recovering draining",     "recovering stopped",   "reconciling ready",
    "reconciling halted",      "reconciling draining", "reconciling stopped",
    "ready reconciling",       "ready halted",         "ready maintenance",
    "ready draining",          "halted reconciling",   "halted ready",
    "halted maintenance",      "halted draining",      "maintenance ready",
    "maintenance halted",      "maintenance draining", "draining stopped",
};

static bool in_table(enum lc_state a, enum lc_state b) {
  char key[64];
  snprintf(key, sizeof key, "%s %s", lc_state_name(a), lc_state_name(b));
  for (size_t i = 0; i < DTO_ARRAY_LEN(allowed); i++)
    if (!strcmp(allowed[i], key))
      return true;
  return false;
}

typedef struct seen {
  int legal, refused;
} seen;

static void obs(void *ctx, enum lc_state from, enum lc_state to,
                const char *why, bool legal) {
  (void)from;
  (void)to;
  (void)why;
  seen *s = ctx;
  if (legal)
    s->legal++;
  else
    s->refused++;
}

static void test_every_pair(void **state) {
  (void)state;
  unsetenv("NOTIFY_SOCKET");
  for (int a = 0; a < LC_COUNT; a++)
    for (int b = 0; b < LC_COUNT; b++) {
      if (a == b)
        continue;
      lifecycle lc;
      lifecycle_init(&lc, NULL);
      lc.state = (enum lc_state)a;
      seen s = {0, 0};
      lifecycle_observe(&lc, obs, &s);
      bool want = in_table((enum lc_state)a, (enum lc_state)b);
      assert_int_equal(lc_transition_legal((enum lc_state)a,
                                           (enum lc_state)b),
                       want);
      int rc = lifecycle_transition(&lc, (enum lc_state)b, "test");
      if (want) {
        assert_int_equal(rc, 0);
        assert_int_equal(lc.state, b);
        assert_int_equal(s.legal, 1);
      } else {
        assert_int_equal(rc, DTO_ESTATE);
        assert_int_equal(lc.state, a); /* unchanged */
        assert_int_equal(s.refused, 1);
        assert_int_equal(lc.illegal, 1);
      }
      lifecycle_release(&lc);
    }
  /* the same state: nothing happens */
  lifecycle lc;
  lifecycle_init(&lc, NULL);
  assert_int_equal(lifecycle_transition(&lc, LC_STARTING, "x"), 0);
  assert_int_equal(lc.illegal, 0);
  lifecycle_release(&lc);
}

static void test_notify(void **state) {
  (void)state;
  char path[108];
  snprintf(path, sizeof path, "/tmp/dto-lc-%ld.sock", (long)getpid());
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  setenv("NOTIFY_SOCKET", path, 1);
  setenv("WATCHDOG_USEC", "2", 1); /* 1 us between pings */
  unsetenv("WATCHDOG_PID");
  lifecycle lc;
  lifecycle_init(&lc, NULL);
  assert_true(lc.watchdog_ns > 0);
  char buf[256];
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  assert_true(n > 0);
  buf[n] = '\0';
  assert_string_equal(buf, "STATUS=starting");
  lifecycle_transition(&lc, LC_RECONCILING, "t");
  n = recv(fd, buf, sizeof buf - 1, 0);
  buf[n] = '\0';
  assert_string_equal(buf, "STATUS=reconciling");
  lifecycle_transition(&lc, LC_READY, "t");
  n = recv(fd, buf, sizeof buf - 1, 0);
  buf[n] = '\0';
  assert_string_equal(buf, "READY=1\nSTATUS=ready");
  lifecycle_transition(&lc, LC_HALTED, "t"); /* READY only once */
  n = recv(fd, buf, sizeof buf - 1, 0);
  buf[n] = '\0';
  assert_string_equal(buf, "STATUS=halted");
  usleep(10);
  lifecycle_watchdog(&lc);
  n = recv(fd, buf, sizeof buf - 1, 0);
  buf[n] = '\0';
  assert_string_equal(buf, "WATCHDOG=1");
  lifecycle_transition(&lc, LC_DRAINING, "t");
  n = recv(fd, buf, sizeof buf - 1, 0);
  buf[n] = '\0';
  assert_string_equal(buf, "STOPPING=1\nSTATUS=draining");
  lifecycle_release(&lc);
  /* another process's watchdog: not ours to feed */
  setenv("WATCHDOG_PID", "1", 1);
  lifecycle_init(&lc, NULL);
  assert_int_equal(lc.watchdog_ns, 0);
  assert_true(lifecycle_watchdog_due(&lc) == INT64_MAX);
  lifecycle_release(&lc);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  close(fd);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_pair),
      cmocka_unit_test(test_notify),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
