/* ws.c - WebSocket client connections over libwebsockets. */
#define _POSIX_C_SOURCE 200809L
#include "broker/ws.h"

#include <stdatomic.h>

#include <arpa/inet.h>
#include <strings.h>
#include <libwebsockets.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"

enum ws_state { WS_CONNECTING, WS_OPEN, WS_CLOSED };

/* A message waiting, in or out. */
typedef struct ws_msg {
  struct ws_msg *next;
  bool binary;
  size_t n;
  unsigned char data[]; /* out: LWS_PRE bytes of room first */
} ws_msg;

struct ws_conn {
  struct lws_context *ctx;
  struct lws *wsi;
  enum ws_state state;
  char error[200];
  size_t max;
  /* the message being received, then the whole ones waiting */
  dbuf rx;
  bool rx_binary, rx_over;
  ws_msg *in_head, *in_tail;
  ws_msg *out_head, *out_tail;
  bool closing;
  lws_sorted_usec_list_t wake; /* bounds lws_service's wait */
  atomic_bool woken;           /* ws_wake: the wait ends now */
};

/* The first reason the connection ended: what, and a detail (may be
 * NULL). */
static void set_error(ws_conn *c, const char *what, const char *detail) {
  if (!c->error[0])
    snprintf(c->error, sizeof c->error, "%s%s%s", what,
             detail && *detail ? ": " : "", detail ? detail : "");
}

static void push(ws_msg **head, ws_msg **tail, ws_msg *m) {
  m->next = NULL;
  if (*tail)
    (*tail)->next = m;
  else
    *head = m;
  *tail = m;
}

static ws_msg *pop(ws_msg **head, ws_msg **tail) {
  ws_msg *m = *head;
  if (m) {
    *head = m->next;
    if (!*head)
      *tail = NULL;
  }
  return m;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len) {
  (void)user;
  ws_conn *c = lws_get_opaque_user_data(wsi);
  if (!c)
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  switch (reason) {
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    c->state = WS_OPEN;
    if (c->out_head)
      lws_callback_on_writable(wsi);
    break;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    c->state = WS_CLOSED;
    c->wsi = NULL;
    set_error(c, "connection failed",
              in && len ? (const char *)in : "no answer");
    break;
  case LWS_CALLBACK_CLIENT_RECEIVE: {
    if (lws_is_first_fragment(wsi)) {
      dbuf_reset(&c->rx);
      c->rx_binary = lws_frame_is_binary(wsi);
      c->rx_over = false;
    }
    if (c->rx.len + len > c->max) {
      c->rx_over = true;
      set_error(c, "a message longer than the limit", NULL);
      c->state = WS_CLOSED;
      return -1; /* closes the connection */
    }
    dbuf_add(&c->rx, in, len);
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
      ws_msg *m = xmalloc(sizeof *m + c->rx.len);
      m->binary = c->rx_binary;
      m->n = c->rx.len;
      if (c->rx.len)
        memcpy(m->data, c->rx.ptr, c->rx.len);
      push(&c->in_head, &c->in_tail, m);
      dbuf_reset(&c->rx);
    }
    break;
  }
  case LWS_CALLBACK_CLIENT_WRITEABLE: {
    if (c->closing) {
      lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
      return -1;
    }
    ws_msg *m = pop(&c->out_head, &c->out_tail);
    if (!m)
      break;
    int w = lws_write(wsi, m->data + LWS_PRE, m->n,
                      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    free(m);
    if (w < 0) {
      set_error(c, "write failed", NULL);
      return -1;
    }
    if (c->out_head)
      lws_callback_on_writable(wsi);
    break;
  }
  case LWS_CALLBACK_CLIENT_CLOSED:
  case LWS_CALLBACK_CLOSED:
    c->state = WS_CLOSED;
    c->wsi = NULL;
    set_error(c, "closed by the server", NULL);
    break;
  default:
    break;
  }
  return 0;
}

static const struct lws_protocols protocols[] = {
    {"dto-ws", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

bool ws_host_is_loopback(const char *host) {
  if (!host)
    return false;
  if (!strcasecmp(host, "localhost"))
    return true;
  char h[64];
  size_t n = strlen(host);
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') { /* [::1] in a URL */
    host++;
    n -= 2;
  }
  if (n >= sizeof h)
    return false;
  memcpy(h, host, n);
  h[n] = '\0';
  unsigned char a4[4];
  struct in6_addr a6;
  if (inet_pton(AF_INET, h, a4) == 1)
    return a4[0] == 127;
  if (inet_pton(AF_INET6, h, &a6) == 1)
    return !memcmp(&a6, &in6addr_loopback, sizeof a6);
  return false;
}

/* A scheduled event that does nothing but end lws_service's wait. */
static void wake_nothing(lws_sorted_usec_list_t *sul) { (void)sul; }

/* Serve the connection until done(c) or the deadline (clock_mono_ns). */
static void serve_until(ws_conn *c, int64_t deadline,
                        bool (*done)(const ws_conn *), bool wakeable) {
  while (!done(c)) {
    if (wakeable && atomic_exchange(&c->woken, false))
      break; /* ws_wake: the caller has something else to do */
    int64_t left = deadline - clock_mono_ns();
    if (left <= 0)
      break;
    int ms = left > 50 * 1000000LL ? 50 : (int)(left / 1000000) + 1;
    /* lws_service ignores its timeout (libwebsockets >= 3.2): poll waits
     * for the next scheduled event, so schedule one */
    lws_sul_schedule(c->ctx, 0, &c->wake, wake_nothing,
                     (lws_usec_t)ms * 1000);
    lws_service(c->ctx, ms);
  }
  lws_sul_cancel(&c->wake);
}

static bool not_connecting(const ws_conn *c) {
  return c->state != WS_CONNECTING;
}

static void log_nothing(int level, const char *line) {
  (void)level;
  (void)line;
}

int ws_open(const char *url, const ws_opts *opts, ws_conn **out, char *err,
            size_t cap) {
  *out = NULL;
  /* the library's own log lines would go to stderr: errors come back
   * through err and ws_error instead */
  lws_set_log_level(0, log_nothing);
  size_t ul = url ? strlen(url) : 0;
  if (ul == 0 || ul > 2000) {
    dto_seterr(err, cap, "stream URL: empty or longer than 2000 bytes");
    return DTO_EINVAL;
  }
  char *copy = xstrdup(url);
  const char *prot = NULL, *host = NULL, *path = NULL;
  int port = 0;
  /* the message names the URL without its query (it may carry tokens) */
  char shown[256];
  snprintf(shown, sizeof shown, "%.*s", (int)strcspn(url, "?"), url);
  if (lws_parse_uri(copy, &prot, &host, &port, &path) || !host || !*host) {
    dto_seterr(err, cap, "stream URL %s: not a ws:// or wss:// URL", shown);
    free(copy);
    return DTO_EINVAL;
  }
  bool tls = !strcmp(prot, "wss");
  if (!tls && strcmp(prot, "ws")) {
    dto_seterr(err, cap, "stream URL %s: expected ws:// or wss://", shown);
    free(copy);
    return DTO_EINVAL;
  }
  if (!tls && !ws_host_is_loopback(host)) {
    dto_seterr(err, cap,
               "stream URL %s: plain ws:// is allowed for loopback "
               "addresses only; use wss://",
               shown);
    free(copy);
    return DTO_EINVAL;
  }
  ws_conn *c = xcalloc(1, sizeof *c);
  atomic_init(&c->woken, false);
  c->max = opts && opts->max_message ? opts->max_message : 4u << 20;
  dbuf_init(&c->rx, c->max + 1);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.gid = -1;
  info.uid = -1;
  if (tls) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (opts && opts->ca_file)
      info.client_ssl_ca_filepath = opts->ca_file;
  }
  c->ctx = lws_create_context(&info);
  if (!c->ctx) {
    dto_seterr(err, cap, "stream %s: cannot create the connection context",
               shown);
    free(copy);
    dbuf_release(&c->rx);
    free(c);
    return DTO_ENOMEM;
  }
  /* lws_parse_uri drops the path's leading '/' */
  char fullpath[2100];
  snprintf(fullpath, sizeof fullpath, "/%s", path ? path : "");
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = c->ctx;
  ci.address = host;
  ci.port = port ? port : (tls ? 443 : 80);
  ci.path = fullpath;
  ci.host = host;
  ci.origin = host;
  ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
  ci.protocol = NULL; /* no subprotocol: brokers' streams name none */
  ci.local_protocol_name = protocols[0].name;
  ci.opaque_user_data = c;
  ci.pwsi = &c->wsi;
  c->state = WS_CONNECTING;
  if (!lws_client_connect_via_info(&ci) && c->state == WS_CONNECTING) {
    c->state = WS_CLOSED;
    set_error(c, "connection failed", NULL);
  }
  int64_t t = opts && opts->connect_timeout_ns > 0 ? opts->connect_timeout_ns
                                                   : 5 * DTO_NS_PER_SEC;
  serve_until(c, clock_mono_ns() + t, not_connecting, false);
  free(copy);
  if (c->state != WS_OPEN) {
    int rc = c->state == WS_CONNECTING ? DTO_EAGAIN : DTO_EIO;
    dto_seterr(err, cap, "stream %s: %s", shown,
               rc == DTO_EAGAIN ? "no handshake within the connect timeout"
                                : c->error);
    ws_close(c);
    return rc;
  }
  *out = c;
  return 0;
}

static bool out_empty(const ws_conn *c) {
  return !c->out_head || c->state == WS_CLOSED;
}

int ws_send(ws_conn *c, const void *data, size_t n, bool binary,
            int64_t timeout_ns) {
  if (c->state != WS_OPEN)
    return DTO_EIO;
  ws_msg *m = xmalloc(sizeof *m + LWS_PRE + n);
  m->binary = binary;
  m->n = n;
  if (n)
    memcpy(m->data + LWS_PRE, data, n);
  push(&c->out_head, &c->out_tail, m);
  lws_callback_on_writable(c->wsi);
  serve_until(c, clock_mono_ns() + timeout_ns, out_empty, false);
  if (c->state == WS_CLOSED)
    return DTO_EIO;
  return c->out_head ? DTO_EAGAIN : 0;
}

static bool has_message(const ws_conn *c) {
  return c->in_head || c->state == WS_CLOSED;
}

int ws_recv(ws_conn *c, dbuf *msg, bool *binary, int64_t timeout_ns) {
  if (!c->in_head && c->state != WS_CLOSED)
    serve_until(c, clock_mono_ns() + timeout_ns, has_message, true);
  ws_msg *m = pop(&c->in_head, &c->in_tail);
  if (!m)
    return c->state == WS_CLOSED ? DTO_EIO : DTO_EAGAIN;
  dbuf_reset(msg);
  int rc = dbuf_add(msg, m->data, m->n);
  *binary = m->binary;
  free(m);
  return rc ? DTO_ETOOBIG : 0;
}

void ws_wake(ws_conn *c) {
  atomic_store(&c->woken, true);
  lws_cancel_service(c->ctx); /* the one lws call safe from any thread */
}

const char *ws_error(const ws_conn *c) {
  return c->state == WS_CLOSED ? c->error : "";
}

static bool closed(const ws_conn *c) { return c->state == WS_CLOSED; }

void ws_close(ws_conn *c) {
  if (!c)
    return;
  if (c->state == WS_OPEN && c->wsi) {
    c->closing = true;
    lws_callback_on_writable(c->wsi);
    serve_until(c, clock_mono_ns() + 500 * 1000000LL, closed, false);
  }
  lws_context_destroy(c->ctx);
  ws_msg *m;
  while ((m = pop(&c->in_head, &c->in_tail)))
    free(m);
  while ((m = pop(&c->out_head, &c->out_tail)))
    free(m);
  dbuf_release(&c->rx);
  free(c);
}
