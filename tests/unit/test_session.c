/* test_session.c - `dto run`'s session as a library: what it keeps in
 * memory, why it stops, and what it refuses.
 *
 * Each test writes a configuration with a generated feed (one US equity
 * day of two symbols; ma_crossover 2/5 trades often) into a fresh folder,
 * opens a session on it, plays it and looks at its runner before closing.
 */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <unistd.h>

#include "app/session.h"
#include "core/error.h"
#include "engine/oms.h"

typedef struct fixture {
  char dir[64];
  char config[128];
  char log[128];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/dto_test_session_XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->config, sizeof f->config, "%s/c.yaml", f->dir);
  snprintf(f->log, sizeof f->log, "%s/run.log", f->dir);
  FILE *c = fopen(f->config, "w");
  if (!c)
    return -1;
  fprintf(c,
          "log_level: info\n"
          "accounts:\n"
          "  - id: main\n"
          "    cash: 100000\n"
          "instruments:\n"
          "  - symbol: AAA\n"
          "  - symbol: BBB\n"
          "strategies:\n"
          "  - id: mac\n"
          "    type: ma_crossover\n"
          "    symbols: [AAA, BBB]\n"
          "    params: {fast: 2, slow: 5}\n"
          "run:\n"
          "  feed: generate\n"
          "  gen_seed: 4\n"
          "  gen_days: 1\n"
          "  speed: 0\n"
          "  state_dir: %s/state\n",
          f->dir);
  fclose(c);
  *state = f;
  return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static int teardown(void **state) {
  fixture *f = *state;
  nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

static void opts_for(const fixture *f, session_opts *o) {
  session_opts_init(o);
  o->config = f->config;
  o->log_path = f->log;
  o->summary_out = NULL;
  o->msg_out = NULL;
}

static run_session *open_ok(const session_opts *o) {
  run_session *s = NULL;
  char err[1024] = "";
  int rc = session_open(o, &s, err, sizeof err);
  if (rc)
    fail_msg("session_open: %s", err);
  return s;
}

static void close_ok(run_session *s) {
  char err[1024] = "";
  int rc = session_close(s, err, sizeof err);
  if (rc)
    fail_msg("session_close: %s", err);
}

/* #13: a whole session keeps no finished order row and no round trip in
 * memory (the OMS and the portfolio keep bounded recent windows of their
 * own); its reports stream to --out instead. */
static void test_keeps_no_report_rows(void **state) {
  session_opts o;
  opts_for(*state, &o);
  run_session *s = open_ok(&o);
  assert_int_equal(session_play(s), SESSION_END_OF_FEED);
  const runner *r = session_runner(s);
  assert_true(oms_count(engine_oms(r->e)) > 20);
  assert_true(engine_fill_count(r->e) > 20);
  assert_true(portfolio_trades_total(engine_portfolio(r->e)) > 5);
  assert_int_equal(r->orders_csv.len, 0);
  assert_int_equal(r->ntrades, 0);
  assert_int_equal(r->nsamples, 0);
  close_ok(s);
}

/* #26: --max-bars is a stop of its own, not the end of the feed; exactly
 * as many bars as the feed has is the end of the feed. */
static void test_stop_reasons(void **state) {
  session_opts o;
  opts_for(*state, &o);
  run_session *s = open_ok(&o);
  assert_int_equal(session_play(s), SESSION_END_OF_FEED);
  uint64_t n = session_runner(s)->bars;
  assert_true(n > 100);
  close_ok(s);

  o.max_bars = n - 1;
  s = open_ok(&o);
  assert_int_equal(session_play(s), SESSION_MAX_BARS);
  assert_int_equal(session_runner(s)->bars, n - 1);
  close_ok(s);

  o.max_bars = n;
  s = open_ok(&o);
  assert_int_equal(session_play(s), SESSION_END_OF_FEED);
  assert_int_equal(session_runner(s)->bars, n);
  close_ok(s);

  /* a scripted stop lands before the bar it names */
  session_action a;
  char err[256];
  assert_int_equal(session_action_parse("37:stop", &a, err, sizeof err), 0);
  o.max_bars = UINT64_MAX;
  o.actions = &a;
  o.nactions = 1;
  s = open_ok(&o);
  assert_int_equal(session_play(s), SESSION_SIGNAL);
  assert_int_equal(session_runner(s)->bars, 37);
  close_ok(s);

  assert_string_equal(session_stop_name(SESSION_END_OF_FEED), "end_of_feed");
  assert_string_equal(session_stop_name(SESSION_MAX_BARS), "max_bars");
  assert_string_equal(session_stop_name(SESSION_SIGNAL), "signal");
}

/* #24: a speed that is not a finite number is refused, not played. */
static void test_refuses_non_finite_speed(void **state) {
  session_opts o;
  opts_for(*state, &o);
  const double bad[] = {NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    o.speed = bad[i];
    run_session *s = NULL;
    char err[256] = "";
    assert_int_equal(session_open(&o, &s, err, sizeof err), DTO_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err, "speed"));
  }
}

static void test_action_parse(void **state) {
  (void)state;
  session_action a;
  char err[256];
  assert_int_equal(session_action_parse("0:kill", &a, err, sizeof err), 0);
  assert_true(a.at == 0 && a.act == SESSION_ACT_KILL && !a.file);
  assert_int_equal(session_action_parse("12:release", &a, err, sizeof err), 0);
  assert_true(a.at == 12 && a.act == SESSION_ACT_RELEASE);
  assert_int_equal(session_action_parse("7:reload", &a, err, sizeof err), 0);
  assert_true(a.act == SESSION_ACT_RELOAD && !a.file);
  assert_int_equal(
      session_action_parse("7:reload=/x/y.yaml", &a, err, sizeof err), 0);
  assert_true(a.act == SESSION_ACT_RELOAD && !strcmp(a.file, "/x/y.yaml"));
  assert_int_equal(session_action_parse("9:stop", &a, err, sizeof err), 0);
  assert_true(a.at == 9 && a.act == SESSION_ACT_STOP);
  const char *bad[] = {"kill",    "1kill",     ":kill",
                       "-1:kill", "+1:kill",   "1:",
                       "1:killx", "1:reload=", "x1:stop",
                       "1:Stop",  "1 :stop",   "99999999999999999999:stop"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    err[0] = '\0';
    assert_int_equal(session_action_parse(bad[i], &a, err, sizeof err),
                     DTO_EPARSE);
    assert_true(err[0] != '\0');
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_keeps_no_report_rows, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_stop_reasons, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refuses_non_finite_speed, setup,
                                      teardown),
      cmocka_unit_test(test_action_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
