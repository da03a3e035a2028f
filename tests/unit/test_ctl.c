/* test_ctl.c - the control channel: request parsing (every command, every
 * kind of bad line, expected fields and messages written out by hand) and
 * the server over a real socket, with a fake engine thread that answers
 * the commands it pops from the inbound queue: the socket file's mode,
 * commands and their answers, status before and after a snapshot, the line
 * cap, pipelined lines, the client cap, replacing a stale socket file and
 * refusing a live one or a regular file, removal at stop.  Every wait in
 * here is bounded. */
#include "core/prelude.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/ctl.h"
#include "app/inq.h"
#include "app/svc.h"
#include "core/error.h"

#define MS (1000000LL)

/* ---- ctl_parse ------------------------------------------------------------
 */

static void parse_ok(const char *line, svc_cmd *cmd, char *id) {
  svc_answer ans;
  int rc = ctl_parse(line, strlen(line), cmd, &ans, id, SVC_NAME_MAX);
  if (rc)
    fail_msg("'%s' refused: %s [%s]", line, ans.message, ans.field);
  assert_string_equal(cmd->who, "");
}

static void test_parse_every_op(void **st) {
  (void)st;
  svc_cmd c;
  char id[SVC_NAME_MAX];

  parse_ok("{\"cmd\":\"status\"}", &c, id);
  assert_int_equal(c.op, SVC_STATUS);
  assert_string_equal(id, "");

  parse_ok("{\"cmd\":\"kill\",\"reason\":\"news\",\"id\":\"a1\"}\n", &c, id);
  assert_int_equal(c.op, SVC_KILL);
  assert_string_equal(c.reason, "news");
  assert_string_equal(id, "a1");

  parse_ok("{\"id\":\"x\",\"cmd\":\"release\",\"reason\":\"\"}\r\n", &c, id);
  assert_int_equal(c.op, SVC_RELEASE);
  assert_string_equal(c.reason, "");
  assert_string_equal(id, "x");

  parse_ok("{\"cmd\":\"cancel\",\"order\":\"acc1-orb-20240102-7\"}", &c, id);
  assert_int_equal(c.op, SVC_CANCEL);
  assert_string_equal(c.order, "acc1-orb-20240102-7");
  parse_ok("{\"cmd\":\"cancel\",\"order\":42}", &c, id);
  assert_string_equal(c.order, "42");
  parse_ok("{\"cmd\":\"cancel\",\"order\":9223372036854775807}", &c, id);
  assert_string_equal(c.order, "9223372036854775807");

  parse_ok("{\"cmd\":\"cancel_all\"}", &c, id);
  assert_int_equal(c.op, SVC_CANCEL_ALL);
  assert_string_equal(c.account, "");
  parse_ok("{\"cmd\":\"cancel_all\",\"account\":\"acc1\",\"strategy\":\"orb\","
           "\"symbol\":\"AAPL\"}",
           &c, id);
  assert_string_equal(c.account, "acc1");
  assert_string_equal(c.strategy, "orb");
  assert_string_equal(c.symbol, "AAPL");

  parse_ok("{\"cmd\":\"flatten\",\"symbol\":\"MSFT\"}", &c, id);
  assert_int_equal(c.op, SVC_FLATTEN);
  assert_string_equal(c.symbol, "MSFT");
  assert_string_equal(c.strategy, "");

  parse_ok("{\"cmd\":\"pause\",\"strategy\":\"orb\"}", &c, id);
  assert_int_equal(c.op, SVC_PAUSE);
  assert_string_equal(c.strategy, "orb");
  parse_ok("{\"cmd\":\"resume\",\"strategy\":\"orb\"}", &c, id);
  assert_int_equal(c.op, SVC_RESUME);

  parse_ok("{\"cmd\":\"set_limit\",\"limit\":\"max_daily_loss\","
           "\"value\":\"5000\",\"account\":\"acc1\"}",
           &c, id);
  assert_int_equal(c.op, SVC_SET_LIMIT);
  assert_string_equal(c.limit, "max_daily_loss");
  assert_string_equal(c.value, "5000");
  assert_string_equal(c.account, "acc1");
  parse_ok(
      "{\"cmd\":\"set_limit\",\"limit\":\"max_position\",\"value\":\"off\","
      "\"strategy\":\"orb\"}",
      &c, id);
  assert_string_equal(c.value, "off");
  assert_string_equal(c.strategy, "orb");
  parse_ok("{\"cmd\":\"set_limit\",\"limit\":\"l\",\"value\":\"-12.5\"}", &c,
           id);
  assert_string_equal(c.value, "-12.5");

  parse_ok("{\"cmd\":\"maintenance_on\"}", &c, id);
  assert_int_equal(c.op, SVC_MAINTENANCE_ON);
  parse_ok("{\"cmd\":\"maintenance_off\"}", &c, id);
  assert_int_equal(c.op, SVC_MAINTENANCE_OFF);
  parse_ok("{\"cmd\":\"reload\"}", &c, id);
  assert_int_equal(c.op, SVC_RELOAD);
  parse_ok("  {\"cmd\" : \"stop\"}  ", &c, id);
  assert_int_equal(c.op, SVC_STOP);

  /* UTF-8 is kept as it is; the longest values that fit are taken */
  parse_ok("{\"cmd\":\"kill\",\"reason\":\"caf\\u00e9 \xe2\x82\xac\"}", &c, id);
  assert_string_equal(c.reason, "caf\xc3\xa9 \xe2\x82\xac");
  char line[512], big[SVC_NAME_MAX];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  snprintf(line, sizeof line,
           "{\"cmd\":\"pause\",\"strategy\":\"%s\",\"id\":\"%s\"}", big, big);
  parse_ok(line, &c, id);
  assert_string_equal(c.strategy, big);
  assert_string_equal(id, big);
}

struct bad_case {
  const char *line;
  const char *field;
  const char *message; /* the whole message, or its start when it ends in * */
};

static void check_bad(const char *line, size_t n, const char *field,
                      const char *message) {
  svc_cmd c;
  svc_answer ans;
  char id[SVC_NAME_MAX];
  memset(&c, 0x55, sizeof c);
  int rc = ctl_parse(line, n, &c, &ans, id, sizeof id);
  if (rc == 0)
    fail_msg("accepted: %.*s", (int)n, line);
  assert_int_equal(rc, DTO_EINVAL);
  assert_int_equal(ans.status, SVC_BAD_REQUEST);
  assert_string_equal(ans.field, field);
  size_t m = strlen(message);
  if (m && message[m - 1] == '*') {
    if (strncmp(ans.message, message, m - 1))
      fail_msg("'%s': message '%s', expected '%s'", line, ans.message, message);
  } else if (strcmp(ans.message, message)) {
    fail_msg("'%s': message '%s', expected '%s'", line, ans.message, message);
  }
  /* nothing half-filled comes back */
  svc_cmd zero;
  memset(&zero, 0, sizeof zero);
  assert_memory_equal(&c, &zero, sizeof c);
}

static void test_parse_bad(void **st) {
  (void)st;
  static const struct bad_case cases[] = {
      /* the line as a whole */
      {"", "", "malformed JSON at column *"},
      {"{\"cmd\":\"kill\"", "", "malformed JSON at column *"},
      {"{\"cmd\":\"kill\"} x", "", "malformed JSON at column *"},
      {"{\"cmd\":kill}", "",
       "malformed JSON at column 11: invalid token near 'kill'"},
      {"{\"cmd\":\"kill\",\"cmd\":\"stop\"}", "", "malformed JSON at column *"},
      {"[\"kill\"]", "", "request: expected a JSON object"},
      {"\"kill\"", "", "request: expected a JSON object"},
      {"42", "", "request: expected a JSON object"},
      {"null", "", "request: expected a JSON object"},
      {"{\"cmd\":\"kill\",\"reason\":\"\\u0000\"}", "",
       "malformed JSON at column *"},
      {"{\"cmd\":\"kill\",\"reason\":\"\xff\"}", "",
       "malformed JSON at column *"},
      /* cmd */
      {"{}", "cmd", "cmd: missing"},
      {"{\"reason\":\"x\"}", "cmd", "cmd: missing"},
      {"{\"cmd\":7}", "cmd", "cmd: expected a string"},
      {"{\"cmd\":null}", "cmd", "cmd: expected a string"},
      {"{\"cmd\":\"nuke\"}", "cmd", "cmd: unknown command 'nuke'"},
      {"{\"cmd\":\"cancel-all\"}", "cmd", "cmd: unknown command 'cancel-all'"},
      {"{\"cmd\":\"KILL\"}", "cmd", "cmd: unknown command 'KILL'"},
      /* id */
      {"{\"cmd\":\"kill\",\"id\":5}", "id", "id: expected a string"},
      {"{\"cmd\":\"kill\",\"id\":\"a\\nb\"}", "id",
       "id: control characters are not allowed"},
      /* unknown fields and fields the command does not take */
      {"{\"cmd\":\"kill\",\"force\":true}", "force",
       "force: not a field of kill"},
      {"{\"cmd\":\"kill\",\"order\":\"1\"}", "order",
       "order: not a field of kill"},
      {"{\"cmd\":\"pause\",\"strategy\":\"s\",\"symbol\":\"A\"}", "symbol",
       "symbol: not a field of pause"},
      {"{\"cmd\":\"cancel_all\",\"order\":\"1\"}", "order",
       "order: not a field of cancel_all"},
      {"{\"cmd\":\"set_limit\",\"limit\":\"l\",\"value\":\"1\",\"symbol\":"
       "\"A\"}",
       "symbol", "symbol: not a field of set_limit"},
      {"{\"cmd\":\"status\",\"\":1}", "", ": not a field of status"},
      /* wrong types */
      {"{\"cmd\":\"pause\",\"strategy\":5}", "strategy",
       "strategy: expected a string"},
      {"{\"cmd\":\"pause\",\"strategy\":[\"a\"]}", "strategy",
       "strategy: expected a string"},
      {"{\"cmd\":\"cancel_all\",\"account\":null}", "account",
       "account: expected a string"},
      {"{\"cmd\":\"kill\",\"reason\":{}}", "reason",
       "reason: expected a string"},
      {"{\"cmd\":\"cancel\",\"order\":1.5}", "order",
       "order: expected a string or an integer"},
      {"{\"cmd\":\"cancel\",\"order\":0}", "order",
       "order: expected a positive order id"},
      {"{\"cmd\":\"cancel\",\"order\":-3}", "order",
       "order: expected a positive order id"},
      {"{\"cmd\":\"set_limit\",\"limit\":\"l\",\"value\":5000}", "value",
       "value: give the number as a string, e.g. \"5000\""},
      {"{\"cmd\":\"set_limit\",\"limit\":\"l\",\"value\":0.1}", "value",
       "value: give the number as a string, e.g. \"5000\""},
      {"{\"cmd\":\"set_limit\",\"limit\":true,\"value\":\"1\"}", "limit",
       "limit: expected a string"},
      /* missing required fields */
      {"{\"cmd\":\"cancel\"}", "order", "order: missing"},
      {"{\"cmd\":\"pause\"}", "strategy", "strategy: missing"},
      {"{\"cmd\":\"resume\",\"reason\":\"r\"}", "strategy",
       "strategy: missing"},
      {"{\"cmd\":\"set_limit\",\"value\":\"1\"}", "limit", "limit: missing"},
      {"{\"cmd\":\"set_limit\",\"limit\":\"l\"}", "value", "value: missing"},
      /* empty strings, control characters, values */
      {"{\"cmd\":\"cancel_all\",\"account\":\"\"}", "account",
       "account: must not be empty"},
      {"{\"cmd\":\"pause\",\"strategy\":\"\"}", "strategy",
       "strategy: must not be empty"},
      {"{\"cmd\":\"kill\",\"reason\":\"a\\u001bb\"}", "reason",
       "reason: control characters are not allowed"},
      {"{\"cmd\":\"flatten\",\"symbol\":\"A\\tB\"}", "symbol",
       "symbol: control characters are not allowed"},
      {"{\"cmd\":\"set_limit\",\"limit\":\"l\",\"value\":\"5k\"}", "value",
       "value: expected a decimal or \"off\""},
      {"{\"cmd\":\"set_limit\",\"limit\":\"l\",\"value\":\"1e3\"}", "value",
       "value: expected a decimal or \"off\""},
      {"{\"cmd\":\"set_limit\",\"limit\":\"l\",\"value\":\"OFF\"}", "value",
       "value: expected a decimal or \"off\""},
      {"{\"cmd\":\"set_limit\",\"limit\":\"l\",\"value\":\"1\",\"account\":"
       "\"a\",\"strategy\":\"s\"}",
       "strategy",
       "strategy: a limit is set for an account or a strategy, not both"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++)
    check_bad(cases[i].line, strlen(cases[i].line), cases[i].field,
              cases[i].message);

  /* too long, one byte past each field's room */
  static const struct {
    const char *cmd, *name;
    size_t size;
  } longs[] = {
      {"cancel", "order", sizeof(((svc_cmd *)0)->order)},
      {"cancel_all", "account", sizeof(((svc_cmd *)0)->account)},
      {"flatten", "strategy", sizeof(((svc_cmd *)0)->strategy)},
      {"cancel_all", "symbol", sizeof(((svc_cmd *)0)->symbol)},
      {"kill", "reason", sizeof(((svc_cmd *)0)->reason)},
      {"kill", "id", SVC_NAME_MAX},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(longs); i++) {
    char v[512], line[700], msg[96];
    memset(v, 'x', longs[i].size);
    v[longs[i].size] = '\0';
    snprintf(line, sizeof line, "{\"cmd\":\"%s\",\"%s\":\"%s\"}", longs[i].cmd,
             longs[i].name, v);
    snprintf(msg, sizeof msg, "%s: longer than %zu bytes", longs[i].name,
             longs[i].size - 1);
    check_bad(line, strlen(line), longs[i].name, msg);
  }
  char line[300], v[80];
  memset(v, 'x', 64);
  v[64] = '\0';
  snprintf(line, sizeof line,
           "{\"cmd\":\"set_limit\",\"limit\":\"%s\",\"value\":\"1\"}", v);
  check_bad(line, strlen(line), "limit", "limit: longer than 63 bytes");
  snprintf(line, sizeof line,
           "{\"cmd\":\"set_limit\",\"limit\":\"l\",\"value\":\"%s\"}", v);
  check_bad(line, strlen(line), "value", "value: longer than 63 bytes");

  /* a NUL byte inside the line, inside and outside a string */
  static const char nul1[] = "{\"cmd\":\"kill\",\"reason\":\"a\0b\"}";
  check_bad(nul1, sizeof nul1 - 1, "", "request: the line holds a NUL byte");
  static const char nul2[] = "{\"cmd\":\"kill\"}\0";
  check_bad(nul2, sizeof nul2 - 1, "", "request: the line holds a NUL byte");

  /* an unknown command name is quoted cut, and always as UTF-8 */
  char longcmd[200];
  snprintf(longcmd, sizeof longcmd, "{\"cmd\":\"%s\"}",
           "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
           "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
           "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
  check_bad(longcmd, strlen(longcmd), "cmd",
            "cmd: unknown command '\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
            "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
            "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac'");

  /* the id of a bad request is still given back for the answer */
  svc_cmd c;
  svc_answer ans;
  char id[SVC_NAME_MAX];
  const char *l = "{\"id\":\"r7\",\"cmd\":\"pause\"}";
  assert_int_equal(ctl_parse(l, strlen(l), &c, &ans, id, sizeof id),
                   DTO_EINVAL);
  assert_string_equal(id, "r7");
}

static void test_answer_json(void **st) {
  (void)st;
  dbuf b;
  dbuf_init(&b, 4096);
  svc_answer a;
  memset(&a, 0, sizeof a);
  svc_answer_set(&a, SVC_OK, NULL, "3 orders canceled");
  a.count = 3;
  ctl_answer_json("a1", &a, &b);
  assert_string_equal(b.ptr,
                      "{\"id\":\"a1\",\"ok\":true,\"result\":{\"message\":"
                      "\"3 orders canceled\",\"count\":3}}\n");
  dbuf_reset(&b);
  svc_answer_set(&a, SVC_NOT_FOUND, "strategy", "strategy: no \"orb\"");
  ctl_answer_json("", &a, &b);
  assert_string_equal(b.ptr,
                      "{\"id\":null,\"ok\":false,\"error\":{\"code\":"
                      "\"not_found\",\"message\":\"strategy: no \\\"orb\\\"\","
                      "\"field\":\"strategy\"}}\n");
  dbuf_reset(&b);
  /* bytes that are not UTF-8 never reach the wire */
  svc_answer_set(&a, SVC_CONFLICT, NULL, "bad \xff\xfe byte \xe2\x82");
  ctl_answer_json(NULL, &a, &b);
  assert_string_equal(b.ptr, "{\"id\":null,\"ok\":false,\"error\":{\"code\":"
                             "\"conflict\",\"message\":\"bad ?? byte ??\"}}\n");
  dbuf_release(&b);
}

static void test_default_path(void **st) {
  (void)st;
  dto_config cfg;
  config_defaults(&cfg);
  char p[256];
  ctl_default_path(&cfg, p, sizeof p);
  assert_string_equal(p, "./var/dto.sock");
  char dir[] = "/etc/dto";
  cfg.dir = dir;
  ctl_default_path(&cfg, p, sizeof p);
  assert_string_equal(p, "/etc/dto/var/dto.sock");
  char sd[] = "/run/dto";
  cfg.run.state_dir = sd;
  ctl_default_path(&cfg, p, sizeof p);
  assert_string_equal(p, "/run/dto/dto.sock");
  char cs[] = "/run/other/ctl.sock";
  cfg.run.ctl_socket = cs;
  ctl_default_path(&cfg, p, sizeof p);
  assert_string_equal(p, "/run/other/ctl.sock");
}

/* ---- the server -----------------------------------------------------------
 */

/* A fake engine: answers each command ok with count 3 and "done OP", and
 * keeps the last command it saw. */
typedef struct fake_engine {
  inq *q;
  pthread_t th;
  atomic_bool stop;
  atomic_int commands;
  pthread_mutex_t mu;
  svc_cmd last; /* under mu */
} fake_engine;

static void *engine_main(void *arg) {
  fake_engine *e = arg;
  while (!atomic_load(&e->stop)) {
    if (inq_wait(e->q, 20 * MS) != 0)
      continue;
    inq_event ev[8];
    size_t n = inq_pop_batch(e->q, ev, DTO_ARRAY_LEN(ev));
    for (size_t i = 0; i < n; i++) {
      if (ev[i].kind != INQ_COMMAND)
        continue;
      svc_req *r = ev[i].u.command.req;
      pthread_mutex_lock(&e->mu);
      e->last = r->cmd;
      pthread_mutex_unlock(&e->mu);
      svc_answer_set(&r->ans, SVC_OK, NULL, "done %s", svc_op_name(r->cmd.op));
      r->ans.count = 3;
      atomic_fetch_add(&e->commands, 1);
      svc_req_finish(r);
    }
  }
  return NULL;
}

typedef struct fixture {
  char dir[64];
  char path[128];
  inq *q;
  svc s;
  fake_engine eng;
  ctl_server *srv;
} fixture;

static int setup(void **state) {
  fixture *F = calloc(1, sizeof *F);
  snprintf(F->dir, sizeof F->dir, "/tmp/dto_test_ctl_XXXXXX");
  if (!mkdtemp(F->dir))
    return -1;
  snprintf(F->path, sizeof F->path, "%s/dto.sock", F->dir);
  inq_config qc = {.capacity = 16};
  if (inq_new(&qc, &F->q))
    return -1;
  svc_init(&F->s, F->q);
  F->eng.q = F->q;
  atomic_init(&F->eng.stop, false);
  atomic_init(&F->eng.commands, 0);
  pthread_mutex_init(&F->eng.mu, NULL);
  if (pthread_create(&F->eng.th, NULL, engine_main, &F->eng))
    return -1;
  char err[256];
  if (ctl_start(F->path, &F->s, &F->srv, err, sizeof err)) {
    fprintf(stderr, "ctl_start: %s\n", err);
    return -1;
  }
  *state = F;
  return 0;
}

static int teardown(void **state) {
  fixture *F = *state;
  ctl_stop(F->srv);
  atomic_store(&F->eng.stop, true);
  pthread_join(F->eng.th, NULL);
  pthread_mutex_destroy(&F->eng.mu);
  svc_release(&F->s);
  inq_free(F->q);
  unlink(F->path);
  rmdir(F->dir);
  free(F);
  return 0;
}

/* A client connection with its read buffer. */
typedef struct conn {
  int fd;
  size_t len;
  char buf[256 * 1024];
} conn;

static conn *dial(const char *path) {
  conn *c = calloc(1, sizeof *c);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(c->fd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return c;
}

static void hang_up(conn *c) {
  close(c->fd);
  free(c);
}

/* Send n bytes; a server that closed early is not an error here. */
static void put(conn *c, const char *s, size_t n) {
  while (n) {
    ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void puts_(conn *c, const char *s) { put(c, s, strlen(s)); }

/* The next answer line (without '\n') into out, within 15 s; false on end
 * of input. */
static bool get_line(conn *c, char *out, size_t cap) {
  for (int spins = 0; spins < 1500; spins++) {
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl) {
      size_t n = (size_t)(nl - c->buf);
      assert_true(n < cap);
      memcpy(out, c->buf, n);
      out[n] = '\0';
      memmove(c->buf, nl + 1, c->len - n - 1);
      c->len -= n + 1;
      return true;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, 10) <= 0)
      continue;
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r <= 0)
      return false;
    c->len += (size_t)r;
  }
  fail_msg("no answer within 15 s");
  return false;
}

/* The answer to one line, parsed. */
static json_t *ask(conn *c, const char *line) {
  puts_(c, line);
  static char out[256 * 1024];
  assert_true(get_line(c, out, sizeof out));
  json_error_t je;
  json_t *a = json_loads(out, 0, &je);
  if (!a)
    fail_msg("answer is not JSON (%s): %s", je.text, out);
  return a;
}

static const char *err_code(const json_t *a) {
  return json_string_value(
      json_object_get(json_object_get(a, "error"), "code"));
}

static void test_server_socket_mode(void **state) {
  fixture *F = *state;
  struct stat st;
  assert_int_equal(lstat(F->path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_server_commands(void **state) {
  fixture *F = *state;
  conn *c = dial(F->path);
  json_t *a = ask(c, "{\"cmd\":\"kill\",\"reason\":\"drill\",\"id\":\"k1\"}\n");
  assert_true(json_is_true(json_object_get(a, "ok")));
  assert_string_equal(json_string_value(json_object_get(a, "id")), "k1");
  json_t *res = json_object_get(a, "result");
  assert_int_equal(json_integer_value(json_object_get(res, "count")), 3);
  assert_string_equal(json_string_value(json_object_get(res, "message")),
                      "done kill");
  json_decref(a);
  pthread_mutex_lock(&F->eng.mu);
  svc_cmd last = F->eng.last;
  pthread_mutex_unlock(&F->eng.mu);
  assert_int_equal(last.op, SVC_KILL);
  assert_string_equal(last.reason, "drill");
  char who[SVC_WHO_MAX];
  snprintf(who, sizeof who, "ctl uid=%ld pid=%ld", (long)geteuid(),
           (long)getpid());
  assert_string_equal(last.who, who);

  /* a bad request is answered on the same connection, which stays open */
  a = ask(c, "{\"cmd\":\"pause\",\"id\":\"p\"}\n");
  assert_true(json_is_false(json_object_get(a, "ok")));
  assert_string_equal(json_string_value(json_object_get(a, "id")), "p");
  assert_string_equal(err_code(a), "bad_request");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(a, "error"), "field")),
      "strategy");
  json_decref(a);
  a = ask(c, "not json\r\n");
  assert_string_equal(err_code(a), "bad_request");
  assert_true(json_is_null(json_object_get(a, "id")));
  json_decref(a);

  /* empty lines ask nothing; the next request is answered */
  a = ask(c, "\n\r\n{\"cmd\":\"set_limit\",\"limit\":\"max_position\","
             "\"value\":\"100\",\"strategy\":\"orb\"}\n");
  assert_true(json_is_true(json_object_get(a, "ok")));
  json_decref(a);
  pthread_mutex_lock(&F->eng.mu);
  last = F->eng.last;
  pthread_mutex_unlock(&F->eng.mu);
  assert_int_equal(last.op, SVC_SET_LIMIT);
  assert_string_equal(last.value, "100");
  assert_string_equal(last.strategy, "orb");
  assert_int_equal(atomic_load(&F->eng.commands), 2);
  hang_up(c);
}

static void test_server_status(void **state) {
  fixture *F = *state;
  conn *c = dial(F->path);
  json_t *a = ask(c, "{\"cmd\":\"status\",\"id\":\"s\"}\n");
  assert_true(json_is_false(json_object_get(a, "ok")));
  assert_string_equal(err_code(a), "busy");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(a, "error"), "message")),
                      "no snapshot yet");
  json_decref(a);

  /* one allocation, as the engine makes them: one account, one
   * instrument, nothing else */
  svc_snap *snap = calloc(1, sizeof *snap + sizeof(svc_snap_account) +
                                 sizeof(svc_snap_instrument));
  snap->accounts = (svc_snap_account *)(snap + 1);
  snap->instruments = (svc_snap_instrument *)(snap->accounts + 1);
  snap->naccounts = 1;
  snap->ninstruments = 1;
  snprintf(snap->accounts[0].id, sizeof snap->accounts[0].id, "acc1");
  snap->accounts[0].cash = fx_from_int(100000);
  snap->accounts[0].mode = "normal";
  snprintf(snap->instruments[0].symbol, sizeof snap->instruments[0].symbol,
           "AAPL");
  snap->state = "running";
  snap->clock = "simulated";
  snap->events = 12;
  svc_publish(&F->s, snap);

  a = ask(c, "{\"cmd\":\"status\",\"id\":\"s\"}\n");
  assert_true(json_is_true(json_object_get(a, "ok")));
  assert_string_equal(json_string_value(json_object_get(a, "id")), "s");
  json_t *r = json_object_get(a, "result");
  assert_string_equal(json_string_value(json_object_get(r, "state")),
                      "running");
  assert_int_equal(json_integer_value(json_object_get(r, "seq")), 1);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(r, "counters"), "events")),
                   12);
  json_t *acc = json_array_get(json_object_get(r, "accounts"), 0);
  assert_string_equal(json_string_value(json_object_get(acc, "cash")),
                      "100000");
  json_decref(a);
  /* status never goes to the engine */
  assert_int_equal(atomic_load(&F->eng.commands), 0);

  /* and through the client side */
  dbuf b;
  dbuf_init(&b, CTL_ANSWER_MAX);
  char err[256];
  static const char req[] = "{\"cmd\":\"status\"}\n";
  assert_int_equal(ctl_call(F->path, req, sizeof req - 1, &b,
                            5 * DTO_NS_PER_SEC, err, sizeof err),
                   0);
  assert_non_null(strstr(b.ptr, "\"state\":\"running\""));
  assert_null(strchr(b.ptr, '\n'));
  dbuf_release(&b);
  hang_up(c);
}

static void test_server_pipelined(void **state) {
  fixture *F = *state;
  conn *c = dial(F->path);
  puts_(c, "{\"cmd\":\"release\",\"id\":\"a\"}\n{\"cmd\":\"pause\","
           "\"strategy\":\"orb\",\"id\":\"b\"}\n{\"cmd\":\"nope\",\"id\":"
           "\"c\"}\n");
  char line[4096];
  static const char *const ids[] = {"a", "b", "c"};
  for (size_t i = 0; i < 3; i++) {
    assert_true(get_line(c, line, sizeof line));
    json_t *a = json_loads(line, 0, NULL);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "id")), ids[i]);
    assert_int_equal(json_is_true(json_object_get(a, "ok")), i < 2);
    json_decref(a);
  }
  /* a request cut over several writes is one request */
  puts_(c, "{\"cmd\":\"re");
  struct timespec ts = {0, 20 * MS};
  nanosleep(&ts, NULL);
  puts_(c, "sume\",\"strategy\":\"orb\",\"id\":\"d\"}");
  nanosleep(&ts, NULL);
  json_t *a = ask(c, "\n");
  assert_string_equal(json_string_value(json_object_get(a, "id")), "d");
  assert_true(json_is_true(json_object_get(a, "ok")));
  json_decref(a);
  assert_int_equal(atomic_load(&F->eng.commands), 3);
  hang_up(c);
}

static void test_server_too_large(void **state) {
  fixture *F = *state;
  /* exactly CTL_LINE_MAX bytes is still a request (too long a reason) */
  size_t n = CTL_LINE_MAX;
  char *big = malloc(70 * 1024 + 2);
  static const char head[] = "{\"cmd\":\"kill\",\"reason\":\"";
  memcpy(big, head, sizeof head - 1);
  memset(big + sizeof head - 1, 'r', n - (sizeof head - 1) - 2);
  memcpy(big + n - 2, "\"}", 2);
  big[n] = '\n';
  conn *c = dial(F->path);
  put(c, big, n + 1);
  char line[4096];
  assert_true(get_line(c, line, sizeof line));
  json_t *a = json_loads(line, 0, NULL);
  assert_string_equal(err_code(a), "bad_request");
  json_decref(a);

  /* one byte more is refused and the connection closed */
  memset(big, 'x', 70 * 1024);
  put(c, big, 70 * 1024);
  assert_true(get_line(c, line, sizeof line));
  a = json_loads(line, 0, NULL);
  assert_non_null(a);
  assert_string_equal(err_code(a), "too_large");
  json_decref(a);
  assert_false(get_line(c, line, sizeof line));
  hang_up(c);

  c = dial(F->path);
  memset(big, 'x', CTL_LINE_MAX + 1);
  put(c, big, CTL_LINE_MAX + 1);
  assert_true(get_line(c, line, sizeof line));
  assert_non_null(strstr(line, "\"too_large\""));
  hang_up(c);
  free(big);
  assert_int_equal(atomic_load(&F->eng.commands), 0);
}

static void test_server_client_cap(void **state) {
  fixture *F = *state;
  conn *cs[CTL_CLIENTS_MAX];
  for (size_t i = 0; i < CTL_CLIENTS_MAX; i++) {
    cs[i] = dial(F->path);
    json_t *a = ask(cs[i], "{\"cmd\":\"status\"}\n"); /* being served */
    assert_string_equal(err_code(a), "busy");
    json_decref(a);
  }
  conn *extra = dial(F->path);
  char line[4096];
  assert_true(get_line(extra, line, sizeof line));
  json_t *a = json_loads(line, 0, NULL);
  assert_string_equal(err_code(a), "busy");
  assert_non_null(strstr(json_string_value(json_object_get(
                             json_object_get(a, "error"), "message")),
                         "too many clients"));
  json_decref(a);
  assert_false(get_line(extra, line, sizeof line));
  hang_up(extra);
  for (size_t i = 0; i < CTL_CLIENTS_MAX; i++)
    hang_up(cs[i]);
  /* the slots come back once their threads have seen the end */
  bool served = false;
  for (int tries = 0; tries < 200 && !served; tries++) {
    conn *c = dial(F->path);
    json_t *b = ask(c, "{\"cmd\":\"kill\"}\n");
    served = json_is_true(json_object_get(b, "ok"));
    json_decref(b);
    hang_up(c);
    if (!served) {
      struct timespec ts = {0, 20 * MS};
      nanosleep(&ts, NULL);
    }
  }
  assert_true(served);
}

static void test_server_paths(void **state) {
  fixture *F = *state;
  char err[256], p[160];
  ctl_server *x = NULL;
  /* a live socket is not taken over */
  assert_int_equal(ctl_start(F->path, &F->s, &x, err, sizeof err), DTO_EEXIST);
  assert_null(x);
  assert_non_null(strstr(err, "another process listens"));

  /* a regular file is refused and left alone */
  snprintf(p, sizeof p, "%s/file", F->dir);
  FILE *f = fopen(p, "w");
  fputs("keep", f);
  fclose(f);
  assert_int_equal(ctl_start(p, &F->s, &x, err, sizeof err), DTO_EEXIST);
  assert_non_null(strstr(err, "not a socket"));
  struct stat st;
  assert_int_equal(lstat(p, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  unlink(p);

  /* a socket file nobody listens on (a dead process's) is replaced */
  snprintf(p, sizeof p, "%s/stale.sock", F->dir);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  assert_true(strlen(p) < sizeof sa.sun_path);
  memcpy(sa.sun_path, p, strlen(p) + 1);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  close(fd);
  assert_int_equal(ctl_start(p, &F->s, &x, err, sizeof err), 0);
  conn *c = dial(p);
  json_t *a = ask(c, "{\"cmd\":\"reload\"}\n");
  assert_true(json_is_true(json_object_get(a, "ok")));
  json_decref(a);
  /* stop closes the clients and removes the file */
  ctl_stop(x);
  char line[256];
  assert_false(get_line(c, line, sizeof line));
  hang_up(c);
  assert_int_equal(lstat(p, &st), -1);
  assert_int_equal(errno, ENOENT);

  /* no folder, an empty path, one too long for a socket address */
  snprintf(p, sizeof p, "%s/no/such/dir.sock", F->dir);
  assert_int_equal(ctl_start(p, &F->s, &x, err, sizeof err), DTO_EIO);
  assert_int_equal(ctl_start("", &F->s, &x, err, sizeof err), DTO_EINVAL);
  char longp[200];
  memset(longp, 'a', sizeof longp - 1);
  longp[0] = '/';
  longp[sizeof longp - 1] = '\0';
  assert_int_equal(ctl_start(longp, &F->s, &x, err, sizeof err), DTO_EINVAL);
  assert_null(x);

  /* the client side: nobody there */
  dbuf b;
  dbuf_init(&b, 1024);
  snprintf(p, sizeof p, "%s/nobody.sock", F->dir);
  assert_int_equal(ctl_call(p, "{}\n", 3, &b, DTO_NS_PER_SEC, err, sizeof err),
                   DTO_EIO);
  assert_non_null(strstr(err, "No such file"));
  dbuf_release(&b);
}

static void test_server_stop_unlinks(void **state) {
  fixture *F = *state;
  conn *c = dial(F->path); /* an idle client does not hold up the stop */
  ctl_stop(F->srv);
  F->srv = NULL;
  struct stat st;
  assert_int_equal(lstat(F->path, &st), -1);
  assert_int_equal(errno, ENOENT);
  char line[256];
  assert_false(get_line(c, line, sizeof line));
  hang_up(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_every_op),
      cmocka_unit_test(test_parse_bad),
      cmocka_unit_test(test_answer_json),
      cmocka_unit_test(test_default_path),
      cmocka_unit_test_setup_teardown(test_server_socket_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_commands, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_status, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_pipelined, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_too_large, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_client_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_stop_unlinks, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
