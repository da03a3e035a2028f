/* test_ws.c - the WebSocket client against a real WebSocket server: a
 * libwebsockets server on loopback in a thread of the test, which echoes,
 * sends fragmented and oversized messages, and closes on request. */
#include "core/prelude.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/ws.h"
#include "core/clock.h"
#include "core/error.h"

#define SEC DTO_NS_PER_SEC

/* ---- the server ---------------------------------------------------------- */

/* What the server does next for its one client. */
typedef struct srv_conn {
  unsigned char buf[LWS_PRE + 8192];
  size_t n;
  bool binary;
  int todo; /* 0 nothing, 1 echo buf, 2 fragments, 3 big, 4 close */
  int frag; /* fragments sent */
} srv_conn;

static int srv_cb(struct lws *wsi, enum lws_callback_reasons reason,
                  void *user, void *in, size_t len) {
  srv_conn *c = user;
  switch (reason) {
  case LWS_CALLBACK_RECEIVE:
    if (len == 5 && !memcmp(in, "close", 5))
      c->todo = 4;
    else if (len == 4 && !memcmp(in, "frag", 4))
      c->todo = 2;
    else if (len == 3 && !memcmp(in, "big", 3))
      c->todo = 3;
    else {
      c->todo = 1;
      c->n = len < 8192 ? len : 8192;
      memcpy(c->buf + LWS_PRE, in, c->n);
      c->binary = lws_frame_is_binary(wsi);
    }
    c->frag = 0;
    lws_callback_on_writable(wsi);
    break;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (c->todo == 1) {
      lws_write(wsi, c->buf + LWS_PRE, c->n,
                c->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
      c->todo = 0;
    } else if (c->todo == 2) { /* "part1" "part2" "part3" as one message */
      static const char *const parts[3] = {"part1-", "part2-", "part3"};
      size_t n = strlen(parts[c->frag]);
      memcpy(c->buf + LWS_PRE, parts[c->frag], n);
      int flags = c->frag == 0 ? LWS_WRITE_TEXT : LWS_WRITE_CONTINUATION;
      if (c->frag < 2)
        flags |= LWS_WRITE_NO_FIN;
      lws_write(wsi, c->buf + LWS_PRE, n, (enum lws_write_protocol)flags);
      if (++c->frag < 3)
        lws_callback_on_writable(wsi);
      else
        c->todo = 0;
    } else if (c->todo == 3) { /* 8 KiB of 'x' */
      memset(c->buf + LWS_PRE, 'x', 8192);
      lws_write(wsi, c->buf + LWS_PRE, 8192, LWS_WRITE_TEXT);
      c->todo = 0;
    } else if (c->todo == 4) {
      lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
      return -1;
    }
    break;
  default:
    break;
  }
  return 0;
}

/* the first protocol serves connections that name none (as the brokers'
 * streams are reached) */
static const struct lws_protocols srv_protocols[] = {
    {"dto-test", srv_cb, sizeof(srv_conn), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

typedef struct server {
  struct lws_context *ctx;
  pthread_t th;
  atomic_bool stop;
  int port;
} server;

static void *srv_main(void *arg) {
  server *s = arg;
  while (!atomic_load(&s->stop))
    lws_service(s->ctx, 20);
  return NULL;
}

/* A free loopback port (bound, then released for the server). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  close(fd);
  return ntohs(a.sin_port);
}

static void nolog(int level, const char *line) {
  (void)level;
  (void)line;
}

static void srv_start(server *s) {
  lws_set_log_level(0, nolog);
  memset(s, 0, sizeof *s);
  s->port = free_port();
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = s->port;
  info.iface = "127.0.0.1";
  info.protocols = srv_protocols;
  info.gid = -1;
  info.uid = -1;
  s->ctx = lws_create_context(&info);
  assert_non_null(s->ctx);
  atomic_init(&s->stop, false);
  assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(server *s) {
  atomic_store(&s->stop, true);
  lws_cancel_service(s->ctx);
  pthread_join(s->th, NULL);
  lws_context_destroy(s->ctx);
}

static ws_conn *open_ok(const server *s, size_t max) {
  char url[128], err[256];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/stream", s->port);
  ws_opts o = {2 * SEC, max, NULL};
  ws_conn *c = NULL;
  int rc = ws_open(url, &o, &c, err, sizeof err);
  if (rc)
    fail_msg("ws_open: %s", err);
  return c;
}

/* ---- tests --------------------------------------------------------------- */

static void test_echo_text_and_binary(void **state) {
  (void)state;
  server s;
  srv_start(&s);
  ws_conn *c = open_ok(&s, 0);
  dbuf m;
  dbuf_init(&m, 1 << 20);
  bool bin = true;
  assert_int_equal(ws_send(c, "{\"action\":\"auth\"}", 17, false, SEC), 0);
  assert_int_equal(ws_recv(c, &m, &bin, 2 * SEC), 0);
  assert_false(bin);
  assert_int_equal(m.len, 17);
  assert_memory_equal(m.ptr, "{\"action\":\"auth\"}", 17);
  unsigned char b[3] = {0, 1, 2};
  assert_int_equal(ws_send(c, b, 3, true, SEC), 0);
  assert_int_equal(ws_recv(c, &m, &bin, 2 * SEC), 0);
  assert_true(bin);
  assert_int_equal(m.len, 3);
  assert_memory_equal(m.ptr, b, 3);
  /* nothing more: a timeout, not an error */
  assert_int_equal(ws_recv(c, &m, &bin, 50 * 1000000LL), DTO_EAGAIN);
  assert_string_equal(ws_error(c), "");
  dbuf_release(&m);
  ws_close(c);
  srv_stop(&s);
}

static void *waker(void *arg) {
  struct timespec ts = {0, 50 * 1000000L};
  nanosleep(&ts, NULL);
  ws_wake(arg);
  return NULL;
}

/* ws_wake from another thread ends a ws_recv that would wait 30 s: it
 * returns "nothing yet" and the connection still works; a wake with no
 * wait pending ends the next one, and only that one. */
static void test_wake(void **state) {
  (void)state;
  server s;
  srv_start(&s);
  ws_conn *c = open_ok(&s, 0);
  dbuf m;
  dbuf_init(&m, 1 << 20);
  bool bin;
  pthread_t th;
  int64_t t0 = clock_mono_ns();
  assert_int_equal(pthread_create(&th, NULL, waker, c), 0);
  assert_int_equal(ws_recv(c, &m, &bin, 30 * SEC), DTO_EAGAIN);
  pthread_join(th, NULL);
  assert_true(clock_mono_ns() - t0 < 15 * SEC); /* woken, not timed out */
  ws_wake(c);
  assert_int_equal(ws_recv(c, &m, &bin, 30 * SEC), DTO_EAGAIN);
  /* the wake was used up: a send and its echo work as before */
  assert_int_equal(ws_send(c, "x", 1, false, SEC), 0);
  assert_int_equal(ws_recv(c, &m, &bin, 2 * SEC), 0);
  assert_int_equal(m.len, 1);
  dbuf_release(&m);
  ws_close(c);
  srv_stop(&s);
}

static void test_fragments_joined(void **state) {
  (void)state;
  server s;
  srv_start(&s);
  ws_conn *c = open_ok(&s, 0);
  dbuf m;
  dbuf_init(&m, 1 << 20);
  bool bin;
  assert_int_equal(ws_send(c, "frag", 4, false, SEC), 0);
  assert_int_equal(ws_recv(c, &m, &bin, 2 * SEC), 0);
  assert_int_equal(m.len, 17);
  assert_memory_equal(m.ptr, "part1-part2-part3", 17);
  dbuf_release(&m);
  ws_close(c);
  srv_stop(&s);
}

static void test_oversized_message_closes(void **state) {
  (void)state;
  server s;
  srv_start(&s);
  ws_conn *c = open_ok(&s, 1024);
  dbuf m;
  dbuf_init(&m, 1 << 20);
  bool bin;
  assert_int_equal(ws_send(c, "big", 3, false, SEC), 0);
  assert_int_equal(ws_recv(c, &m, &bin, 2 * SEC), DTO_EIO);
  assert_non_null(strstr(ws_error(c), "longer than the limit"));
  assert_int_equal(ws_send(c, "x", 1, false, SEC), DTO_EIO);
  dbuf_release(&m);
  ws_close(c);
  srv_stop(&s);
}

static void test_server_close_after_messages(void **state) {
  (void)state;
  server s;
  srv_start(&s);
  ws_conn *c = open_ok(&s, 0);
  dbuf m;
  dbuf_init(&m, 1 << 20);
  bool bin;
  assert_int_equal(ws_send(c, "one", 3, false, SEC), 0);
  assert_int_equal(ws_recv(c, &m, &bin, 2 * SEC), 0);
  assert_int_equal(ws_send(c, "close", 5, false, SEC), 0);
  assert_int_equal(ws_recv(c, &m, &bin, 2 * SEC), DTO_EIO);
  assert_non_null(strstr(ws_error(c), "closed"));
  dbuf_release(&m);
  ws_close(c);
  srv_stop(&s);
}

static void test_refusals(void **state) {
  (void)state;
  char err[256];
  ws_conn *c = NULL;
  ws_opts o = {SEC, 0, NULL};
  assert_int_equal(ws_open("ws://stream.example.com/v2/iex", &o, &c, err,
                           sizeof err),
                   DTO_EINVAL);
  assert_non_null(strstr(err, "loopback"));
  assert_null(c);
  assert_int_equal(ws_open("http://127.0.0.1:1/x", &o, &c, err, sizeof err),
                   DTO_EINVAL);
  assert_int_equal(ws_open("", &o, &c, err, sizeof err), DTO_EINVAL);
  /* a query string (tokens) is never repeated in a message */
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/s?token=SECRET", free_port());
  int rc = ws_open(url, &o, &c, err, sizeof err);
  assert_true(rc == DTO_EIO || rc == DTO_EAGAIN);
  assert_null(strstr(err, "SECRET"));
  assert_null(c);
  assert_true(ws_host_is_loopback("127.0.0.1"));
  assert_true(ws_host_is_loopback("127.8.9.10"));
  assert_true(ws_host_is_loopback("localhost"));
  assert_true(ws_host_is_loopback("::1"));
  assert_false(ws_host_is_loopback("128.0.0.1"));
  assert_false(ws_host_is_loopback("localhost.example.com"));
  assert_false(ws_host_is_loopback("10.0.0.1"));
  assert_false(ws_host_is_loopback(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo_text_and_binary),
      cmocka_unit_test(test_fragments_joined),
      cmocka_unit_test(test_wake),
      cmocka_unit_test(test_oversized_message_closes),
      cmocka_unit_test(test_server_close_after_messages),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
