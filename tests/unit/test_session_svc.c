/* test_session_svc.c - the service's threads together, in one process:
 * a `dto run` session (its feed's source thread, its signal thread, the
 * control socket's threads, the log's writer, the job scheduler's thread
 * with the status report) with a client thread that
 * reads snapshots and sends commands while the engine plays the feed.
 * Built and run under ThreadSanitizer too (TSAN_TESTS), which is its main
 * point: every hand-over between those threads is checked for races. */
#include "core/prelude.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <pthread.h>
#include <setjmp.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/ctl.h"
#include "app/session.h"
#include "core/buf.h"
#include "core/error.h"

typedef struct client {
  char sock[256];
  atomic_bool done;       /* the session's loop has ended */
  int status_ok, cmd_ok, cmd_stopping, other;
  uint64_t max_seq;
} client;

static bool has(const dbuf *b, const char *s) {
  return b->ptr && strstr(b->ptr, s) != NULL;
}

static void *client_main(void *arg) {
  client *c = arg;
  static const char *const cmds[] = {
      "{\"cmd\":\"pause\",\"strategy\":\"mac\"}\n",
      "{\"cmd\":\"resume\",\"strategy\":\"mac\"}\n",
      "{\"cmd\":\"maintenance_on\"}\n",
      "{\"cmd\":\"maintenance_off\"}\n",
      "{\"cmd\":\"set_limit\",\"limit\":\"max_order_qty\",\"value\":\"500\"}\n",
      "{\"cmd\":\"cancel_all\"}\n",
  };
  dbuf b;
  dbuf_init(&b, 1 << 24);
  char err[256];
  for (unsigned k = 0; !atomic_load(&c->done) && k < 4000; k++) {
    const char *line = k % 2 ? cmds[(k / 2) % DTO_ARRAY_LEN(cmds)]
                             : "{\"cmd\":\"status\"}\n";
    dbuf_reset(&b);
    int rc = ctl_call(c->sock, line, strlen(line), &b, 10 * DTO_NS_PER_SEC,
                      err, sizeof err);
    if (rc) {
      /* EIO: before the socket exists, or after it went; a connection cut
       * by the server's stop: only once the loop has ended */
      if (rc != DTO_EIO && !(rc == DTO_EPARSE && atomic_load(&c->done))) {
        fprintf(stderr, "ctl_call: %s (%s)\n", dto_strerror(rc), err);
        c->other++;
      }
      usleep(1000);
      continue;
    }
    dbuf_addc(&b, '\0');
    if (k % 2 == 0 && has(&b, "\"ok\":true") && has(&b, "\"state\"")) {
      c->status_ok++;
      const char *q = strstr(b.ptr, "\"seq\":");
      uint64_t seq = q ? strtoull(q + 6, NULL, 10) : 0;
      if (seq < c->max_seq) /* snapshots only move forward */
        c->other++;
      c->max_seq = seq > c->max_seq ? seq : c->max_seq;
    } else if (k % 2 && has(&b, "\"ok\":true")) {
      c->cmd_ok++;
    } else if (has(&b, "stopping")) {
      c->cmd_stopping++;
    } else if (!has(&b, "no snapshot yet")) {
      fprintf(stderr, "unexpected answer to %s: %s\n", line, b.ptr);
      c->other++;
    }
  }
  dbuf_release(&b);
  return NULL;
}

static void test_threads_together(void **state) {
  (void)state;
  char dir[] = "/tmp/dto-svc-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char cfgp[300];
  snprintf(cfgp, sizeof cfgp, "%s/c.yaml", dir);
  FILE *f = fopen(cfgp, "w");
  assert_non_null(f);
  fprintf(f,
          "accounts:\n  - id: paper\n    cash: 100000\n"
          "instruments:\n  - symbol: AAPL\n    asset_class: crypto\n"
          "  - symbol: MSFT\n    asset_class: crypto\n"
          "strategies:\n  - id: mac\n    type: ma_crossover\n"
          "    symbols: [AAPL, MSFT]\n    allocation: 50000\n"
          "    params: {fast: 2, slow: 5}\n"
          "run:\n  feed: generate\n  gen_days: 1\n  gen_seed: 5\n"
          "  speed: 60000\n  state_dir: %s/state\n  ctl_socket: %s/s.sock\n"
          "  status_log: \"every 1m\"\n",
          dir, dir);
  fclose(f);
  client c;
  memset(&c, 0, sizeof c);
  snprintf(c.sock, sizeof c.sock, "%s/s.sock", dir);
  atomic_init(&c.done, false);
  /* a minute's bar every millisecond: the feed lasts about 1.5 s, and
   * the engine stands still twice meanwhile, so that the client's commands
   * meet it idle, busy and stalled */
  session_action acts[2];
  memset(acts, 0, sizeof acts);
  acts[0].at = 500;
  acts[0].act = SESSION_ACT_STALL;
  acts[0].ms = 300;
  acts[1].at = 2000;
  acts[1].act = SESSION_ACT_STALL;
  acts[1].ms = 300;
  session_opts o;
  session_opts_init(&o);
  o.config = cfgp;
  char logp[300];
  snprintf(logp, sizeof logp, "%s/run.log", dir);
  o.log_path = logp;
  o.actions = acts;
  o.nactions = 2;
  o.summary_out = NULL;
  o.msg_out = NULL;
  run_session *s = NULL;
  char err[512];
  int rc = session_open(&o, &s, err, sizeof err);
  if (rc)
    fail_msg("session_open: %s", err);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, client_main, &c), 0);
  enum session_stop why = session_play(s);
  atomic_store(&c.done, true);
  rc = session_close(s, err, sizeof err);
  pthread_join(th, NULL);
  assert_int_equal(rc, 0);
  assert_int_equal(why, SESSION_END_OF_FEED);
  fprintf(stderr, "status %d, commands ok %d, stopping %d\n", c.status_ok,
          c.cmd_ok, c.cmd_stopping);
  assert_true(c.status_ok > 0);
  assert_true(c.cmd_ok > 0);
  assert_int_equal(c.other, 0);
  assert_true(access(c.sock, F_OK) != 0); /* the socket is gone */
  /* the log has every command the client saw carried out */
  FILE *lf = fopen(logp, "r");
  assert_non_null(lf);
  char line[65536];
  int commands = 0, status = 0;
  while (fgets(line, sizeof line, lf)) {
    commands += strstr(line, "\"event\":\"command\"") != NULL;
    status += strstr(line, "\"event\":\"status\"") != NULL;
  }
  fclose(lf);
  assert_true(commands >= c.cmd_ok);
  assert_true(status > 0); /* the job scheduler's thread ran its job */
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads_together),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
