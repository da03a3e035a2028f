/* ctl.c - the control channel's wire format, server and client (ctl.h).
 *
 * Threads: one accepting thread polls the listening socket and a stop pipe;
 * each accepted client gets a thread of its own from a fixed table of
 * CTL_CLIENTS_MAX slots, so a command that waits for the engine (up to
 * CTL_SUBMIT_SEC) holds up only its own client.  Client threads read with
 * poll on their socket and on the same stop pipe; ctl_stop writes one byte
 * that nobody reads, so the pipe stays readable and every thread sees it.
 * A slot is reused only after the accepting thread has joined its thread.
 *
 * Nothing here touches engine state: commands go through svc_submit, the
 * status answer is rendered from a snapshot held by reference.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred, accept4, pipe2 */
#endif
#include "app/ctl.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "app/state.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/utf8.h"

/* ---- UTF-8 ----------------------------------------------------------------
 */

/* Append s as a JSON string, repairing anything that is not UTF-8 (a
 * message may quote jansson, which may quote the client's bad bytes). */
static void json_text(dbuf *b, const char *s) {
  char tmp[512];
  utf8_cut(tmp, sizeof tmp, s, sizeof tmp - 1);
  dbuf_json_str(b, tmp);
}

/* ---- requests -------------------------------------------------------------
 */

/* The string fields of a request: wire name, place in svc_cmd. */
enum {
  F_ORDER,
  F_ACCOUNT,
  F_STRATEGY,
  F_SYMBOL,
  F_LIMIT,
  F_VALUE,
  F_REASON,
  F_COUNT
};
#define BIT(f) (1u << (f))

static const struct field {
  const char *name;
  size_t off, size;
} fields[F_COUNT] = {
    [F_ORDER] = {"order", offsetof(svc_cmd, order),
                 sizeof(((svc_cmd *)0)->order)},
    [F_ACCOUNT] = {"account", offsetof(svc_cmd, account),
                   sizeof(((svc_cmd *)0)->account)},
    [F_STRATEGY] = {"strategy", offsetof(svc_cmd, strategy),
                    sizeof(((svc_cmd *)0)->strategy)},
    [F_SYMBOL] = {"symbol", offsetof(svc_cmd, symbol),
                  sizeof(((svc_cmd *)0)->symbol)},
    [F_LIMIT] = {"limit", offsetof(svc_cmd, limit),
                 sizeof(((svc_cmd *)0)->limit)},
    [F_VALUE] = {"value", offsetof(svc_cmd, value),
                 sizeof(((svc_cmd *)0)->value)},
    [F_REASON] = {"reason", offsetof(svc_cmd, reason),
                  sizeof(((svc_cmd *)0)->reason)},
};

/* Which fields each operation takes, and which of them it needs.  reason
 * is taken by all. */
static const struct opspec {
  unsigned allowed, required;
} opspecs[SVC_OP_COUNT] = {
    [SVC_CANCEL] = {BIT(F_ORDER), BIT(F_ORDER)},
    [SVC_CANCEL_ALL] = {BIT(F_ACCOUNT) | BIT(F_STRATEGY) | BIT(F_SYMBOL), 0},
    [SVC_FLATTEN] = {BIT(F_ACCOUNT) | BIT(F_STRATEGY) | BIT(F_SYMBOL), 0},
    [SVC_PAUSE] = {BIT(F_STRATEGY), BIT(F_STRATEGY)},
    [SVC_RESUME] = {BIT(F_STRATEGY), BIT(F_STRATEGY)},
    [SVC_SET_LIMIT] = {BIT(F_LIMIT) | BIT(F_VALUE) | BIT(F_ACCOUNT) |
                           BIT(F_STRATEGY),
                       BIT(F_LIMIT) | BIT(F_VALUE)},
};

static int bad(svc_answer *ans, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(svc_answer *ans, const char *field, const char *fmt, ...) {
  ans->status = SVC_BAD_REQUEST;
  ans->count = 0;
  utf8_cut(ans->field, sizeof ans->field, field, sizeof ans->field - 1);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ans->message, sizeof ans->message, fmt, ap);
  va_end(ap);
  return DTO_EINVAL;
}

static bool has_control(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return true;
  return false;
}

/* One string field into dst (cap bytes).  An empty string would mean "not
 * given" in svc_cmd, and for a filter that widens the command to
 * everything, so only reason may be empty.  The order may also be a
 * positive integer (dto's order id). */
static int take_str(const json_t *v, const struct field *f, char *dst,
                    svc_answer *ans) {
  if (f == &fields[F_ORDER] && json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    if (x < 1)
      return bad(ans, f->name, "%s: expected a positive order id", f->name);
    snprintf(dst, f->size, "%" JSON_INTEGER_FORMAT, x);
    return 0;
  }
  if (f == &fields[F_VALUE] && json_is_number(v))
    return bad(ans, f->name,
               "value: give the number as a string, e.g. \"5000\"");
  if (!json_is_string(v))
    return bad(ans, f->name, "%s: expected a string%s", f->name,
               f == &fields[F_ORDER] ? " or an integer" : "");
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (n == 0 && f != &fields[F_REASON])
    return bad(ans, f->name, "%s: must not be empty", f->name);
  if (n >= f->size)
    return bad(ans, f->name, "%s: longer than %zu bytes", f->name, f->size - 1);
  /* jansson refuses \u0000 without JSON_ALLOW_NUL, so n is strlen(s) */
  if (has_control(s, n))
    return bad(ans, f->name, "%s: control characters are not allowed", f->name);
  memcpy(dst, s, n + 1);
  return 0;
}

int ctl_parse(const char *line, size_t n, svc_cmd *cmd, svc_answer *ans,
              char *id, size_t idcap) {
  memset(cmd, 0, sizeof *cmd);
  memset(ans, 0, sizeof *ans);
  if (idcap)
    id[0] = '\0';
  if (n && line[n - 1] == '\n')
    n--;
  if (n && line[n - 1] == '\r')
    n--;
  if (memchr(line, '\0', n))
    return bad(ans, "", "request: the line holds a NUL byte");
  if (n > CTL_LINE_MAX)
    return bad(ans, "", "request: longer than %d bytes", CTL_LINE_MAX);
  json_error_t je;
  json_t *root =
      json_loadb(line, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return bad(ans, "", "malformed JSON at column %d: %s", je.column, je.text);
  int rc = 0;
  if (!json_is_object(root)) {
    rc = bad(ans, "", "request: expected a JSON object");
    goto out;
  }
  /* The id first, so that every later error can be answered with it. */
  const json_t *v = json_object_get(root, "id");
  if (v) {
    if (!json_is_string(v)) {
      rc = bad(ans, "id", "id: expected a string");
      goto out;
    }
    size_t len = json_string_length(v);
    size_t max = idcap < SVC_NAME_MAX ? idcap : SVC_NAME_MAX;
    if (max == 0 || len >= max) {
      rc = bad(ans, "id", "id: longer than %zu bytes", max ? max - 1 : 0);
      goto out;
    }
    if (has_control(json_string_value(v), len)) {
      rc = bad(ans, "id", "id: control characters are not allowed");
      goto out;
    }
    memcpy(id, json_string_value(v), len + 1);
  }
  v = json_object_get(root, "cmd");
  if (!v) {
    rc = bad(ans, "cmd", "cmd: missing");
    goto out;
  }
  if (!json_is_string(v)) {
    rc = bad(ans, "cmd", "cmd: expected a string");
    goto out;
  }
  if (svc_op_parse(json_string_value(v), &cmd->op) != 0) {
    char what[48];
    utf8_cut(what, sizeof what, json_string_value(v), 40);
    rc = bad(ans, "cmd", "cmd: unknown command '%s'", what);
    goto out;
  }
  const struct opspec *spec = &opspecs[cmd->op];
  unsigned allowed = spec->allowed | BIT(F_REASON), seen = 0;
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    if (!strcmp(key, "cmd") || !strcmp(key, "id"))
      continue;
    int f = 0;
    while (f < F_COUNT && strcmp(key, fields[f].name))
      f++;
    if (f == F_COUNT || !(allowed & BIT(f))) {
      char what[48];
      utf8_cut(what, sizeof what, key, 40);
      rc = bad(ans, key, "%s: not a field of %s", what, svc_op_name(cmd->op));
      goto out;
    }
    if ((rc = take_str(val, &fields[f], (char *)cmd + fields[f].off, ans)))
      goto out;
    seen |= BIT(f);
  }
  for (int f = 0; f < F_COUNT; f++)
    if ((spec->required & BIT(f)) && !(seen & BIT(f))) {
      rc = bad(ans, fields[f].name, "%s: missing", fields[f].name);
      goto out;
    }
  if (cmd->op == SVC_SET_LIMIT) {
    fx x;
    if (strcmp(cmd->value, "off") && fx_parse_cstr(cmd->value, &x) != 0) {
      rc = bad(ans, "value", "value: expected a decimal or \"off\"");
      goto out;
    }
    if (cmd->account[0] && cmd->strategy[0]) {
      rc = bad(ans, "strategy",
               "strategy: a limit is set for an account or a strategy, "
               "not both");
      goto out;
    }
  }
out:
  json_decref(root);
  if (rc) /* no half-filled command leaves here */
    memset(cmd, 0, sizeof *cmd);
  return rc;
}

/* ---- answers --------------------------------------------------------------
 */

static void json_id(dbuf *b, const char *id) {
  dbuf_adds(b, "{\"id\":");
  if (id && id[0])
    json_text(b, id);
  else
    dbuf_adds(b, "null");
}

/* An error answer whose code is not an svc status (too_large, forbidden). */
static void answer_error(dbuf *b, const char *id, const char *code,
                         const char *msg) {
  json_id(b, id);
  dbuf_printf(b, ",\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":", code);
  json_text(b, msg);
  dbuf_adds(b, "}}\n");
}

void ctl_answer_json(const char *id, const svc_answer *ans, dbuf *b) {
  json_id(b, id);
  if (ans->status == SVC_OK) {
    dbuf_adds(b, ",\"ok\":true,\"result\":{\"message\":");
    json_text(b, ans->message);
    dbuf_printf(b, ",\"count\":%" PRId64 "}}\n", ans->count);
    return;
  }
  dbuf_printf(b, ",\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":",
              svc_status_name(ans->status));
  json_text(b, ans->message);
  if (ans->field[0]) {
    dbuf_adds(b, ",\"field\":");
    json_text(b, ans->field);
  }
  dbuf_adds(b, "}}\n");
}

/* ---- I/O helpers ----------------------------------------------------------
 */

static int64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * DTO_NS_PER_SEC + t.tv_nsec;
}

static int poll_ms(int64_t ns) {
  if (ns <= 0)
    return 0;
  int64_t ms = (ns + 999999) / 1000000;
  return ms > 60000 ? 60000 : (int)ms;
}

/* Send all n bytes (MSG_NOSIGNAL: a peer gone away is an error, not a
 * SIGPIPE).  The socket's SO_SNDTIMEO bounds each wait. */
static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return DTO_EIO;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void set_timeout(int fd, int opt, int64_t ns) {
  struct timeval tv = {.tv_sec = (time_t)(ns / DTO_NS_PER_SEC),
                       .tv_usec = (suseconds_t)(ns % DTO_NS_PER_SEC / 1000)};
  setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

static int make_addr(const char *path, struct sockaddr_un *sa) {
  size_t n = strlen(path);
  if (n == 0 || n >= SUN_PATH_MAX)
    return DTO_EINVAL;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, n + 1);
  return 0;
}

/* ---- server ---------------------------------------------------------------
 */

typedef struct ctl_client {
  pthread_t th;
  int fd;
  bool used;        /* accepting thread only */
  atomic_bool done; /* set by the client thread as it ends */
  struct ctl_server *srv;
  char who[SVC_WHO_MAX];
} ctl_client;

struct ctl_server {
  svc *s;
  int lfd, stop_r, stop_w;
  uid_t euid;
  atomic_bool stopping;
  pthread_t th;
  dev_t dev; /* the socket file we made, to remove only that one */
  ino_t ino;
  char path[SUN_PATH_MAX];
  ctl_client cl[CTL_CLIENTS_MAX];
  pthread_mutex_t extra_mu; /* extra and extra_ctx */
  ctl_extra_fn extra;
  void *extra_ctx;
};

void ctl_set_extra(ctl_server *c, ctl_extra_fn fn, void *ctx) {
  pthread_mutex_lock(&c->extra_mu);
  c->extra = fn;
  c->extra_ctx = ctx;
  pthread_mutex_unlock(&c->extra_mu);
}

/* The result of a status request: the snapshot, or busy before the
 * first one.  svc_snap_json's appends fail silently at the buffer's cap,
 * each append is far below 4 KiB, so a text that ends more than 4 KiB
 * below the cap is whole; anything else is refused rather than sent cut. */
static void answer_status(ctl_server *c, const char *id, dbuf *out) {
  svc_snap *snap = svc_snap_get(c->s);
  svc_answer ans;
  if (!snap) {
    memset(&ans, 0, sizeof ans);
    svc_answer_set(&ans, SVC_BUSY, NULL, "no snapshot yet");
    ctl_answer_json(id, &ans, out);
    return;
  }
  json_id(out, id);
  dbuf_adds(out, ",\"ok\":true,\"result\":");
  svc_snap_json(snap, out);
  svc_snap_put(snap);
  if (out->len + 4096 > out->max || dbuf_adds(out, "}\n") != 0) {
    dbuf_reset(out);
    memset(&ans, 0, sizeof ans);
    svc_answer_set(&ans, SVC_BUSY, NULL, "the status is too large to send");
    ctl_answer_json(id, &ans, out);
  }
}

/* Answer one request line into out. */
static void serve_line(ctl_client *cl, const char *line, size_t n, dbuf *out) {
  svc_cmd cmd;
  svc_answer ans;
  char id[SVC_NAME_MAX];
  ctl_server *srv = cl->srv;
  pthread_mutex_lock(&srv->extra_mu);
  ctl_extra_fn fn = srv->extra;
  void *fctx = srv->extra_ctx;
  bool done = fn && fn(fctx, line, n, cl->who, out);
  pthread_mutex_unlock(&srv->extra_mu); /* held: ctl_set_extra(NULL) waits */
  if (done)
    return;
  if (ctl_parse(line, n, &cmd, &ans, id, sizeof id) != 0) {
    ctl_answer_json(id, &ans, out);
    return;
  }
  memcpy(cmd.who, cl->who, sizeof cmd.who);
  if (cmd.op == SVC_STATUS) {
    answer_status(cl->srv, id, out);
    return;
  }
  svc_submit(cl->srv->s, &cmd, &ans, (int64_t)CTL_SUBMIT_SEC * DTO_NS_PER_SEC);
  ctl_answer_json(id, &ans, out);
}

/* A client's thread: read lines, answer each in order.  Ends on end of
 * input, an I/O error, a line over CTL_LINE_MAX, CTL_IDLE_SEC of silence,
 * or ctl_stop. */
static void *client_main(void *arg) {
  ctl_client *cl = arg;
  ctl_server *c = cl->srv;
  const size_t cap = (size_t)CTL_LINE_MAX + 1; /* a whole line and its '\n' */
  char *buf = xmalloc(cap);
  size_t len = 0, scanned = 0; /* buf[0, scanned) holds no '\n' */
  dbuf out;
  dbuf_init(&out, CTL_ANSWER_MAX);
  const int64_t idle = (int64_t)CTL_IDLE_SEC * DTO_NS_PER_SEC;
  int64_t deadline = mono_ns() + idle;
  bool eof = false;
  while (!eof && !atomic_load(&c->stopping)) {
    int64_t left = deadline - mono_ns();
    if (left <= 0)
      break; /* silent too long */
    struct pollfd p[2] = {{.fd = c->stop_r, .events = POLLIN},
                          {.fd = cl->fd, .events = POLLIN}};
    int r = poll(p, 2, poll_ms(left));
    if (r < 0 && errno != EINTR)
      break;
    if (r <= 0)
      continue;
    if (p[0].revents)
      break;
    if (!p[1].revents)
      continue;
    ssize_t got = recv(cl->fd, buf + len, cap - len, 0);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      break;
    }
    if (got == 0) {
      /* The client shut its side: a last line without '\n' still counts
       * (it may be waiting to read the answer). */
      eof = true;
      if (len == 0)
        break;
      buf[len++] = '\n'; /* room: len < cap, or the line was refused */
    } else {
      len += (size_t)got;
      deadline = mono_ns() + idle;
    }
    size_t start = 0;
    bool failed = false;
    char *nl;
    while (!failed && !atomic_load(&c->stopping) &&
           (nl = memchr(buf + scanned, '\n', len - scanned))) {
      size_t n = (size_t)(nl - (buf + start));
      if (n && buf[start + n - 1] == '\r')
        n--;
      if (n) { /* an empty line asks nothing and gets nothing */
        dbuf_reset(&out);
        serve_line(cl, buf + start, n, &out);
        failed = send_all(cl->fd, out.ptr, out.len) != 0;
      }
      start = (size_t)(nl - buf) + 1;
      scanned = start;
    }
    if (failed)
      break;
    memmove(buf, buf + start, len - start);
    len -= start;
    scanned = len;
    if (len == cap) { /* no '\n' in a whole line's room */
      dbuf_reset(&out);
      char msg[96];
      snprintf(msg, sizeof msg, "request line longer than %d bytes; closing",
               CTL_LINE_MAX);
      answer_error(&out, NULL, "too_large", msg);
      send_all(cl->fd, out.ptr, out.len);
      break;
    }
  }
  dbuf_release(&out);
  free(buf);
  close(cl->fd);
  atomic_store(&cl->done, true);
  return NULL;
}

/* Best effort, never blocking the accepting thread: the peer may not read. */
static void refuse(int fd, const char *code, const char *msg) {
  dbuf b;
  dbuf_init(&b, 1024);
  answer_error(&b, NULL, code, msg);
  if (b.ptr)
    (void)send(fd, b.ptr, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
  dbuf_release(&b);
  close(fd);
}

/* Join the threads of clients that have ended, freeing their slots. */
static void reap(ctl_server *c, bool all) {
  for (size_t i = 0; i < CTL_CLIENTS_MAX; i++) {
    ctl_client *cl = &c->cl[i];
    if (cl->used && (all || atomic_load(&cl->done))) {
      pthread_join(cl->th, NULL);
      cl->used = false;
    }
  }
}

static void take_client(ctl_server *c, int fd) {
  struct ucred uc;
  socklen_t ul = sizeof uc;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) != 0 ||
      ul != sizeof uc) {
    refuse(fd, "forbidden", "the peer's credentials cannot be read");
    return;
  }
  if (uc.uid != c->euid && uc.uid != 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "uid %ld may not use this socket", (long)uc.uid);
    refuse(fd, "forbidden", msg);
    return;
  }
  ctl_client *cl = NULL;
  for (size_t i = 0; i < CTL_CLIENTS_MAX && !cl; i++)
    if (!c->cl[i].used)
      cl = &c->cl[i];
  if (!cl) {
    char msg[96];
    snprintf(msg, sizeof msg, "too many clients (at most %d); try again",
             CTL_CLIENTS_MAX);
    refuse(fd, svc_status_name(SVC_BUSY), msg);
    return;
  }
  /* A client that does not read its answers is dropped, not waited on. */
  set_timeout(fd, SO_SNDTIMEO, (int64_t)CTL_SUBMIT_SEC * DTO_NS_PER_SEC);
  cl->fd = fd;
  cl->srv = c;
  atomic_store(&cl->done, false);
  snprintf(cl->who, sizeof cl->who, "ctl uid=%ld pid=%ld", (long)uc.uid,
           (long)uc.pid);
  if (pthread_create(&cl->th, NULL, client_main, cl) != 0) {
    refuse(fd, svc_status_name(SVC_BUSY), "no thread for this client");
    return;
  }
  cl->used = true;
}

static void *accept_main(void *arg) {
  ctl_server *c = arg;
  for (;;) {
    struct pollfd p[2] = {{.fd = c->stop_r, .events = POLLIN},
                          {.fd = c->lfd, .events = POLLIN}};
    int r = poll(p, 2, 1000);
    if (p[0].revents && r > 0)
      break;
    reap(c, false);
    if (r <= 0 || !(p[1].revents & POLLIN))
      continue;
    int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) { /* the connection stays queued: do not spin */
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
      }
      continue;
    }
    take_client(c, fd);
  }
  reap(c, true);
  return NULL;
}

/* Whether a process listens on the socket file path now. */
static bool socket_alive(const struct sockaddr_un *sa) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return false;
  int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
  bool alive = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
  close(fd);
  return alive;
}

int ctl_start(const char *path, svc *s, ctl_server **out, char *err,
              size_t cap) {
  *out = NULL;
  struct sockaddr_un sa;
  if (!path || make_addr(path, &sa) != 0) {
    dto_seterr(err, cap, "control socket path %s: empty or longer than %zu bytes",
           path ? path : "(none)", SUN_PATH_MAX - 1);
    return DTO_EINVAL;
  }
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      dto_seterr(err, cap, "control socket %s: exists and is not a socket", path);
      return DTO_EEXIST;
    }
    if (socket_alive(&sa)) {
      dto_seterr(err, cap, "control socket %s: another process listens on it",
             path);
      return DTO_EEXIST;
    }
    if (unlink(path) != 0 && errno != ENOENT) { /* a dead process's socket */
      dto_seterr(err, cap, "control socket %s: cannot remove the old one: %s", path,
             strerror(errno));
      return DTO_EIO;
    }
  } else if (errno != ENOENT) {
    dto_seterr(err, cap, "control socket %s: %s", path, strerror(errno));
    return DTO_EIO;
  }

  ctl_server *c = xcalloc(1, sizeof *c);
  pthread_mutex_init(&c->extra_mu, NULL);
  c->s = s;
  c->euid = geteuid();
  atomic_init(&c->stopping, false);
  for (size_t i = 0; i < CTL_CLIENTS_MAX; i++)
    atomic_init(&c->cl[i].done, false);
  memcpy(c->path, sa.sun_path, sizeof c->path);
  int rc = DTO_EIO, pfd[2];
  c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (c->lfd < 0) {
    dto_seterr(err, cap, "control socket: %s", strerror(errno));
    goto fail_free;
  }
  if (bind(c->lfd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    rc = errno == EADDRINUSE ? DTO_EEXIST : DTO_EIO;
    dto_seterr(err, cap, "control socket %s: %s", path, strerror(errno));
    goto fail_close;
  }
  /* Nobody can connect before listen(), so narrowing the mode here leaves
   * no window in which the umask's mode applies. */
  if (chmod(path, 0600) != 0 || lstat(path, &st) != 0) {
    dto_seterr(err, cap, "control socket %s: %s", path, strerror(errno));
    goto fail_unlink;
  }
  c->dev = st.st_dev;
  c->ino = st.st_ino;
  if (listen(c->lfd, CTL_CLIENTS_MAX) != 0) {
    dto_seterr(err, cap, "control socket %s: %s", path, strerror(errno));
    goto fail_unlink;
  }
  if (pipe2(pfd, O_CLOEXEC) != 0) {
    dto_seterr(err, cap, "control socket: %s", strerror(errno));
    goto fail_unlink;
  }
  c->stop_r = pfd[0];
  c->stop_w = pfd[1];
  if (pthread_create(&c->th, NULL, accept_main, c) != 0) {
    dto_seterr(err, cap, "control socket: cannot start its thread");
    goto fail_pipe;
  }
  *out = c;
  return 0;

fail_pipe:
  close(c->stop_r);
  close(c->stop_w);
fail_unlink:
  unlink(path);
fail_close:
  close(c->lfd);
fail_free:
  free(c);
  return rc;
}

void ctl_stop(ctl_server *c) {
  if (!c)
    return;
  atomic_store(&c->stopping, true);
  /* One byte nobody reads: the pipe stays readable for every thread. */
  while (write(c->stop_w, "x", 1) < 0 && errno == EINTR)
    ;
  pthread_join(c->th, NULL);
  struct stat st;
  if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
    unlink(c->path);
  close(c->lfd);
  close(c->stop_r);
  close(c->stop_w);
  pthread_mutex_destroy(&c->extra_mu);
  free(c);
}

/* ---- client ---------------------------------------------------------------
 */

int ctl_call(const char *path, const char *line, size_t n, dbuf *b,
             int64_t timeout_ns, char *err, size_t cap) {
  struct sockaddr_un sa;
  if (make_addr(path, &sa) != 0) {
    dto_seterr(err, cap, "the path is empty or longer than %zu bytes",
           SUN_PATH_MAX - 1);
    return DTO_EIO;
  }
  int64_t deadline = mono_ns() + timeout_ns;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    dto_seterr(err, cap, "%s", strerror(errno));
    return DTO_EIO;
  }
  /* Bounds connect (a full backlog) and send as well. */
  set_timeout(fd, SO_SNDTIMEO, timeout_ns);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    dto_seterr(err, cap, "%s", strerror(errno));
    close(fd);
    return DTO_EIO;
  }
  /* A server that refuses us (forbidden, busy) writes why and closes; a
   * failed send must not hide that line, so read in any case. */
  (void)send_all(fd, line, n);
  int rc = DTO_EAGAIN;
  size_t scanned = 0;
  for (;;) {
    int64_t left = deadline - mono_ns();
    if (left <= 0) {
      dto_seterr(err, cap, "no answer within %" PRId64 " s",
             (int64_t)(timeout_ns / DTO_NS_PER_SEC));
      rc = DTO_EAGAIN;
      break;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, poll_ms(left));
    if (r < 0 && errno != EINTR) {
      dto_seterr(err, cap, "%s", strerror(errno));
      rc = DTO_EIO;
      break;
    }
    if (r <= 0)
      continue;
    char chunk[4096];
    ssize_t got = recv(fd, chunk, sizeof chunk, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (got <= 0) {
      dto_seterr(err, cap, "the connection was closed before a whole answer");
      rc = DTO_EPARSE;
      break;
    }
    if (dbuf_add(b, chunk, (size_t)got) != 0) {
      dto_seterr(err, cap, "the answer is larger than %zu bytes", b->max);
      rc = DTO_ETOOBIG;
      break;
    }
    char *nl = memchr(b->ptr + scanned, '\n', b->len - scanned);
    if (nl) {
      b->len = (size_t)(nl - b->ptr);
      b->ptr[b->len] = '\0';
      rc = 0;
      break;
    }
    scanned = b->len;
  }
  close(fd);
  return rc;
}

void ctl_default_path(const dto_config *cfg, char *buf, size_t cap) {
  if (cfg->run.ctl_socket) {
    snprintf(buf, cap, "%s", cfg->run.ctl_socket);
    return;
  }
  char dir[CFG_PATH_MAX];
  state_dir(cfg, dir, sizeof dir);
  snprintf(buf, cap, "%s/dto.sock", dir);
}
