/* ws.h - a WebSocket client for brokers' streams, over libwebsockets.
 *
 * Made for a broker adapter's own I/O thread: calls block up to a timeout
 * and nothing runs behind the caller's back (each connection has its own
 * libwebsockets context, serviced only inside ws_* calls).  Messages are
 * whole (fragments joined), text or binary, each at most opts.max_message
 * bytes: a bigger one closes the connection with an error rather than
 * growing without bound.  Pings from the server are answered by the
 * library.
 *
 * URLs: wss://host[:port]/path, and ws:// for loopback hosts only
 * (127.0.0.0/8, ::1, localhost): a plain connection elsewhere is refused.
 *
 * Not for: reconnect policy or subscriptions (the adapter's), or servers.
 */
#ifndef DTO_BROKER_WS_H
#define DTO_BROKER_WS_H

#include "core/buf.h"
#include "core/prelude.h"

typedef struct ws_conn ws_conn;

typedef struct ws_opts {
  int64_t connect_timeout_ns; /* 0: 5 s */
  size_t max_message;         /* 0: 4 MiB */
  const char *ca_file;        /* extra CA bundle (PEM) for wss; may be NULL */
} ws_opts;

/* Connect to url and complete the WebSocket handshake within the
 * timeout.  0 and *out, or a negative code with a message in err that
 * names the URL (without its query string) and the reason: DTO_EINVAL for
 * a bad or plain non-loopback URL, DTO_EIO when the connection or
 * handshake failed, DTO_EAGAIN on timeout. */
int ws_open(const char *url, const ws_opts *opts, ws_conn **out, char *err,
            size_t cap);

/* Queue a text (or binary) message and send it, waiting up to timeout_ns
 * for it to leave.  0, DTO_EAGAIN (still queued; it goes with the next
 * call), or DTO_EIO when the connection is closed. */
int ws_send(ws_conn *c, const void *data, size_t n, bool binary,
            int64_t timeout_ns);

/* The next whole message into msg (replacing its contents), waiting up to
 * timeout_ns.  0 (*binary says which), DTO_EAGAIN when none came in time,
 * DTO_EIO when the connection is closed (by the server, a failure, or a
 * message over max_message; ws_error says which), after every message
 * that arrived before has been returned. */
int ws_recv(ws_conn *c, dbuf *msg, bool *binary, int64_t timeout_ns);

/* Any thread: the wait of a ws_recv on c now, or of the next one, ends at
 * once (DTO_EAGAIN when no message came; ws_send and ws_close wait as
 * usual).  For a thread that
 * waits on a stream and must also serve other work (lws_cancel_service).
 * c must stay open meanwhile: the caller orders this against ws_close. */
void ws_wake(ws_conn *c);

/* Why the connection closed ("" while it is open). */
const char *ws_error(const ws_conn *c);

/* Close (a normal close frame when open) and free.  NULL does nothing. */
void ws_close(ws_conn *c);

/* Is host (as in a URL: a name, an IPv4 address, or [::1]) a loopback
 * address?  localhost, 127.0.0.0/8 and ::1. */
bool ws_host_is_loopback(const char *host);

#endif
