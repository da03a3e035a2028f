/* api_stream.c - GET /api/v1/stream: Server-Sent Events, and the OpenAPI
 * document.
 *
 * The stream is the journal: every order, fill, alert, risk mode,
 * lifecycle and command event the engine journals, in journal order, each
 * with its journal sequence number as the SSE id.  A client that comes back
 * with Last-Event-ID (or ?after=SEQ) gets every event after it, none twice
 * and none lost, from the journal itself.  Between them, when the service's
 * snapshot changed, a "positions" and a "pnl" event (no id: they are the
 * state now, not history) carry the positions and the day's P&L.  A comment
 * line every 15 s keeps proxies from closing an idle stream.
 */
#define _POSIX_C_SOURCE 200809L
#include "api/api_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"

#define BEAT_NS (15 * DTO_NS_PER_SEC)
#define STATE_NS (1 * DTO_NS_PER_SEC) /* positions and P&L at most this often */
#define WAIT_NS (200 * 1000000LL)     /* between looks at the journal */

typedef struct stream {
  api *a;
  int64_t after;     /* the last journal seq sent */
  uint64_t snap_seq; /* the snapshot last described */
  int64_t beat, state_at;
  dbuf out;
  size_t off;
} stream;

static const char *event_name(const char *type) {
  if (!strcmp(type, "risk.mode"))
    return "risk";
  return type; /* order, fill, alert, lifecycle, command */
}

static int one_event(void *arg, const store_event *ev) {
  stream *s = arg;
  s->after = ev->seq;
  dbuf_printf(&s->out, "id: %" PRId64 "\nevent: %s\ndata: {\"seq\":%" PRId64,
              ev->seq, event_name(ev->type), ev->seq);
  api_time_member(&s->out, "time", ev->time);
  dbuf_adds(&s->out, ",\"account\":");
  dbuf_json_str(&s->out, ev->account);
  dbuf_adds(&s->out, ",\"strategy\":");
  dbuf_json_str(&s->out, ev->strategy);
  dbuf_adds(&s->out, ",\"data\":");
  /* the journal's payload is compact JSON: no newline can end the line */
  for (size_t i = 0; i < ev->payload_len; i++)
    dbuf_addc(&s->out, ev->payload[i] == '\n' ? ' ' : ev->payload[i]);
  dbuf_adds(&s->out, "}\n\n");
  return 0;
}

static void state_events(stream *s) {
  svc_snap *sn = svc_snap_get(s->a->sv);
  if (!sn)
    return;
  if (sn->seq != s->snap_seq) {
    s->snap_seq = sn->seq;
    dbuf *b = &s->out;
    dbuf_adds(b, "event: positions\ndata: {\"positions\":[");
    for (size_t i = 0; i < sn->npositions; i++) {
      const svc_snap_position *p = &sn->positions[i];
      dbuf_adds(b, i ? ",{\"account\":" : "{\"account\":");
      dbuf_json_str(b, sn->accounts[p->account].id);
      dbuf_adds(b, ",\"symbol\":");
      dbuf_json_str(b, sn->instruments[p->sym].symbol);
      api_fx_member(b, "qty", p->qty);
      api_fx_member(b, "unrealized", p->unrealized);
      api_fx_member(b, "realized", p->realized);
      dbuf_addc(b, '}');
    }
    dbuf_adds(b, "]}\n\nevent: pnl\ndata: {\"accounts\":[");
    for (size_t i = 0; i < sn->naccounts; i++) {
      dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
      dbuf_json_str(b, sn->accounts[i].id);
      api_fx_member(b, "day_pnl", sn->accounts[i].day_pnl);
      api_fx_member(b, "equity", sn->accounts[i].equity);
      dbuf_addc(b, '}');
    }
    dbuf_adds(b, "]}\n\n");
  }
  svc_snap_put(sn);
}

static ssize_t stream_fn(void *arg, char *buf, size_t max) {
  stream *s = arg;
  if (s->off == s->out.len) {
    dbuf_reset(&s->out);
    s->off = 0;
    if (atomic_load(&s->a->stopping))
      return -1;
    api_lock(s->a);
    int rc = store_read_events(s->a->st, s->after, 200, one_event, s);
    api_unlock(s->a);
    if (rc)
      return -1; /* the store failed: the client comes back with its id */
    int64_t now = clock_mono_ns();
    if (now - s->state_at >= STATE_NS) {
      s->state_at = now;
      state_events(s);
    }
    if (!s->out.len && now - s->beat >= BEAT_NS)
      dbuf_adds(&s->out, ": keepalive\n\n");
    if (!s->out.len) {
      struct timespec ts = {0, WAIT_NS};
      nanosleep(&ts, NULL);
      return 0;
    }
    s->beat = now;
  }
  size_t n = s->out.len - s->off;
  if (n > max)
    n = max;
  memcpy(buf, s->out.ptr + s->off, n);
  s->off += n;
  return (ssize_t)n;
}

static void stream_free(void *arg) {
  stream *s = arg;
  dbuf_release(&s->out);
  free(s);
}

void api_r_stream(ctx *c) {
  const char *last = httpd_header(c->q, "Last-Event-ID");
  const char *after = httpd_query(c->q, "after");
  const char *from = last ? last : after;
  int64_t seq = -1;
  if (from) {
    char *end;
    long long v = strtoll(from, &end, 10);
    if (!*from || *end || v < 0) {
      api_fail(c, 400, "invalid", last ? "Last-Event-ID" : "after",
               "%s: a journal sequence number", last ? "Last-Event-ID"
                                                     : "after");
      return;
    }
    seq = v;
  } else {
    api_lock(c->a);
    int rc = store_max_seq(c->a->st, &seq);
    api_unlock(c->a);
    if (rc) {
      api_fail(c, 503, "unavailable", NULL, "try again");
      return;
    }
  }
  stream *s = xcalloc(1, sizeof *s);
  s->a = c->a;
  s->after = seq;
  s->beat = clock_mono_ns();
  dbuf_init(&s->out, 16u << 20);
  dbuf_adds(&s->out, "retry: 2000\n\n");
  c->r->status = 200;
  c->r->content_type = "text/event-stream";
  httpd_resp_header(c->r, "X-Accel-Buffering", "no");
  c->r->stream = stream_fn;
  c->r->stream_ctx = s;
  c->r->stream_free = stream_free;
}

/* ---- the OpenAPI document ------------------------------------------------ */

/* docs/openapi.yaml as JSON, made at build time (scripts/openapi-json.py). */
extern const char dto_openapi_json[];

void api_r_openapi(ctx *c) {
  c->r->status = 200;
  dbuf_reset(&c->r->body);
  dbuf_adds(&c->r->body, dto_openapi_json);
}
