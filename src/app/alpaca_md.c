/* alpaca_md.c - Alpaca's market data stream as a source (see alpaca_md.h). */
#define _POSIX_C_SOURCE 200809L
#include "app/alpaca_md.h"

#include "app/feed.h"

#include <jansson.h>
#include <stdarg.h>
#include <time.h>

#include "broker/alpaca_json.h"
#include "broker/http.h"
#include "broker/ws.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/timeutil.h"

/* ---- state -----------------------------------------------------------------
 */

enum cnt {
  C_CONNECTS,
  C_SESSIONS,
  C_RECONNECTS,
  C_DISCONNECTS,
  C_FRAMES,
  C_MESSAGES,
  C_BARS,
  C_TRADES,
  C_QUOTES,
  C_UNKNOWN,
  C_REFUSED,
  C_MALFORMED,
  C_IGNORED,
  C_DROPPED,
  C_SUB_MISSING,
  C_BACKFILLED,
  C_COUNT
};

typedef struct amd {
  alpaca_conf conf; /* a copy, wiped on free */
  const instrument_table *ins;
  alpaca_md_opts o;
  dto_clock real;
  const dto_clock *clock;
  char **subs; /* the table's symbols, then the extra ones */
  size_t nsubs;
  _Atomic int64_t *last_rx, *last_ts; /* per instrument */
  dto_time *last_bar; /* per instrument: the last bar pushed (the thread's) */
  size_t nins;
  atomic_int state;
  atomic_uint_fast64_t cnt[C_COUNT];
  atomic_uint_fast64_t errors[ALPACA_MD_ERR_SLOTS];
  atomic_int last_code;
  pthread_mutex_t emu; /* last_error */
  char last_error[256];
  uint64_t rng; /* the thread's only */
} amd;

static const int err_codes[] = ALPACA_MD_ERR_CODES;
_Static_assert(DTO_ARRAY_LEN(err_codes) + 1 == ALPACA_MD_ERR_SLOTS,
               "one slot per code and one for the rest");

size_t alpaca_md_err_slot(int code) {
  for (size_t i = 0; i < DTO_ARRAY_LEN(err_codes); i++)
    if (err_codes[i] == code)
      return i;
  return ALPACA_MD_ERR_SLOTS - 1;
}

const char *alpaca_md_state_name(enum alpaca_md_state s) {
  static const char *const names[] = {"idle",    "connecting", "streaming",
                                      "backoff", "stopped",    "failed"};
  _Static_assert(DTO_ARRAY_LEN(names) == ALPACA_MD_STATE_COUNT, "names");
  return (unsigned)s < ALPACA_MD_STATE_COUNT ? names[s] : "?";
}

static void inc(amd *a, enum cnt c) {
  atomic_fetch_add_explicit(&a->cnt[c], 1, memory_order_relaxed);
}

static void set_state(amd *a, enum alpaca_md_state st) {
  atomic_store_explicit(&a->state, (int)st, memory_order_relaxed);
}

static void set_error(amd *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(amd *a, const char *fmt, ...) {
  char tmp[sizeof a->last_error];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&a->emu);
  memcpy(a->last_error, tmp, sizeof tmp);
  pthread_mutex_unlock(&a->emu);
}

static int64_t mono_now(void) { return clock_mono_ns(); }

/* xorshift64* for the jitter */
static uint64_t rnd(amd *a) {
  uint64_t x = a->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  a->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* ---- one frame ----------------------------------------------------------- */

enum phase { PH_GREETING, PH_AUTH_SENT, PH_SUB_SENT, PH_STREAMING };
enum sess { SESS_RETRY, SESS_STOP, SESS_FATAL };

typedef struct sess_ctx {
  enum phase ph;
  int code;          /* the stream error that ended the session (0: none) */
  int fatal_rc;      /* run's return on SESS_FATAL */
  int64_t stream_t0; /* monotonic time the subscription was confirmed */
} sess_ctx;

/* Push ev, waiting for room at most push_timeout in slices (a stop is seen
 * within one); counted as dropped when the queue does not take it. */
static void push_event(source *s, amd *a, const inq_event *ev, enum cnt ok) {
  int64_t deadline = mono_now() + a->o.push_timeout;
  for (;;) {
    int64_t left = deadline - mono_now();
    if (left < 0)
      left = 0;
    if (left > a->o.recv_slice)
      left = a->o.recv_slice;
    int rc = inq_push(s->q, ev, left);
    if (rc == 0) {
      atomic_fetch_add_explicit(&s->pushed, 1, memory_order_relaxed);
      inc(a, ok);
      return;
    }
    if (rc != DTO_EAGAIN || atomic_load(&s->stop) || mono_now() >= deadline) {
      inc(a, C_DROPPED);
      return;
    }
  }
}

static int send_json(ws_conn *w, json_t *v, dto_time timeout, bool secret) {
  char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
  json_decref(v);
  if (!text)
    return DTO_ENOMEM;
  size_t n = strlen(text);
  int rc = ws_send(w, text, n, false, timeout);
  if (secret) {
    volatile char *p = text;
    for (size_t i = 0; i < n; i++)
      p[i] = 0;
  }
  free(text);
  return rc == DTO_EAGAIN ? 0 : rc; /* still queued: goes with the next call */
}

static json_t *subscribe_msg(const amd *a) {
  json_t *v = json_object();
  json_object_set_new(v, "action", json_string("subscribe"));
  static const char *const lists[] = {"trades", "quotes", "bars"};
  for (size_t k = 0; k < 3; k++) {
    json_t *arr = json_array();
    for (size_t i = 0; i < a->nsubs; i++)
      json_array_append_new(arr, json_string(a->subs[i]));
    json_object_set_new(v, lists[k], arr);
  }
  return v;
}

/* How many of our symbols a subscription echo leaves out of its lists. */
static size_t sub_missing(const amd *a, const json_t *echo) {
  static const char *const lists[] = {"trades", "quotes", "bars"};
  size_t missing = 0;
  for (size_t k = 0; k < 3; k++) {
    const json_t *arr = json_object_get(echo, lists[k]);
    for (size_t i = 0; i < a->nsubs; i++) {
      bool found = false;
      size_t j;
      json_t *e;
      json_array_foreach(arr, j, e) {
        const char *sv = json_string_value(e);
        if (sv && (!strcmp(sv, a->subs[i]) || !strcmp(sv, "*"))) {
          found = true;
          break;
        }
      }
      missing += !found;
    }
  }
  return missing;
}

static bool fatal_code(int code) {
  return code == ALPACA_MDE_AUTH_FAILED || code == ALPACA_MDE_SYMBOL_LIMIT ||
         code == ALPACA_MDE_INSUFFICIENT_SUBSCRIPTION ||
         code == ALPACA_MDE_INVALID_FOR_FEED ||
         code == ALPACA_MDE_INSUFFICIENT_SCOPE;
}

static void note_event(amd *a, sym_id sym, dto_time ts) {
  atomic_store_explicit(&a->last_rx[sym], clock_now(a->clock),
                        memory_order_relaxed);
  atomic_store_explicit(&a->last_ts[sym], ts, memory_order_relaxed);
}

/* Market data message m (kind trade, quote or bar) into the queue. */
static void market(source *s, amd *a, alpaca_md_msg *m) {
  sym_id sym = instruments_find(a->ins, m->symbol);
  if (sym == SYM_NONE) {
    inc(a, C_UNKNOWN);
    return;
  }
  inq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.src = s->index;
  enum cnt ok;
  dto_time ts;
  if (m->kind == ALPACA_MD_TRADE) {
    ev.kind = INQ_TRADE;
    ev.u.trade = m->trade;
    ev.u.trade.sym = sym;
    ts = m->trade.ts;
    ok = C_TRADES;
  } else if (m->kind == ALPACA_MD_QUOTE) {
    ev.kind = INQ_QUOTE;
    ev.u.quote = m->quote;
    ev.u.quote.sym = sym;
    ts = m->quote.ts;
    ok = C_QUOTES;
  } else {
    if (m->bar.ts <= a->last_bar[sym]) {
      inc(a, C_IGNORED); /* had already (a backfill, a repeat) */
      return;
    }
    a->last_bar[sym] = m->bar.ts;
    ev.kind = INQ_BAR;
    ev.u.bar = m->bar;
    ev.u.bar.sym = sym;
    ts = m->bar.ts;
    ok = C_BARS;
  }
  note_event(a, sym, ts);
  push_event(s, a, &ev, ok);
}

/* After a reconnect: the minute bars the stream missed, from the REST
 * history (the last bar pushed to now), pushed in time order before the
 * stream's own (later ones: messages wait in the socket meanwhile; a bar
 * had already is dropped by market()).  A failure leaves the gap, with the
 * reason in last_error. */
static void backfill(source *s, amd *a) {
  dto_time now = clock_now(&a->real);
  bar_vec all;
  memset(&all, 0, sizeof all);
  for (size_t y = 0; y < a->nins; y++) {
    if (!a->last_bar[y] || a->last_bar[y] >= now)
      continue;
    char err[256];
    if (alpaca_md_warmup(&a->conf, a->ins, (sym_id)y, a->last_bar[y] + 1,
                         now, &all, err, sizeof err))
      set_error(a, "backfill after a reconnect: %s", err);
  }
  if (all.n)
    qsort(all.v, all.n, sizeof *all.v, feed_cmp_bar);
  for (size_t i = 0; i < all.n; i++) {
    const bar *b = &all.v[i];
    if (b->ts <= a->last_bar[b->sym])
      continue;
    a->last_bar[b->sym] = b->ts;
    inq_event ev;
    memset(&ev, 0, sizeof ev);
    ev.src = s->index;
    ev.kind = INQ_BAR;
    ev.u.bar = *b;
    note_event(a, b->sym, b->ts);
    inc(a, C_BACKFILLED);
    push_event(s, a, &ev, C_BARS);
  }
  bar_vec_release(&all);
}

/* Handle one frame.  Returns -1 to go on, or an enum sess to end the
 * session with. */
static int frame(source *s, amd *a, ws_conn *w, const dbuf *m, sess_ctx *x) {
  inc(a, C_FRAMES);
  json_error_t je;
  json_t *doc = json_loadb(m->ptr, m->len, 0, &je);
  if (!doc || !json_is_array(doc)) {
    inc(a, C_MALFORMED);
    set_error(a, "malformed frame: %s", doc ? "not an array" : je.text);
    json_decref(doc);
    return -1;
  }
  int out = -1;
  size_t i;
  json_t *v;
  alpaca_md_msg msg;
  char err[160];
  json_array_foreach(doc, i, v) {
    inc(a, C_MESSAGES);
    int rc = alpaca_md_msg_from_json(v, "", &msg, err, sizeof err);
    if (rc == DTO_ERANGE) {
      inc(a, C_REFUSED);
      continue;
    }
    if (rc == DTO_EUNSUPPORTED) {
      inc(a, C_IGNORED);
      continue;
    }
    if (rc) {
      inc(a, C_MALFORMED);
      set_error(a, "malformed message: %s", err);
      continue;
    }
    switch (msg.kind) {
    case ALPACA_MD_TRADE:
    case ALPACA_MD_QUOTE:
    case ALPACA_MD_BAR:
      market(s, a, &msg);
      break;
    case ALPACA_MD_SUCCESS:
      if (x->ph == PH_GREETING && !strcmp(msg.msg, "connected")) {
        json_t *auth = json_pack("{s:s,s:s,s:s}", "action", "auth", "key",
                                 a->conf.key_id, "secret", a->conf.secret);
        if (send_json(w, auth, a->o.handshake_timeout, true)) {
          set_error(a, "sending the authentication failed: %s", ws_error(w));
          out = SESS_RETRY;
          goto done;
        }
        x->ph = PH_AUTH_SENT;
      } else if (x->ph == PH_AUTH_SENT && !strcmp(msg.msg, "authenticated")) {
        if (send_json(w, subscribe_msg(a), a->o.handshake_timeout, false)) {
          set_error(a, "sending the subscription failed: %s", ws_error(w));
          out = SESS_RETRY;
          goto done;
        }
        x->ph = PH_SUB_SENT;
      }
      break;
    case ALPACA_MD_SUBSCRIPTION:
      if (x->ph == PH_SUB_SENT) {
        size_t miss = sub_missing(a, v);
        if (miss) {
          atomic_fetch_add_explicit(&a->cnt[C_SUB_MISSING], miss,
                                    memory_order_relaxed);
          set_error(a, "subscription echo leaves out %zu of %zu symbol lists",
                    miss, 3 * a->nsubs);
        }
        x->ph = PH_STREAMING;
        x->stream_t0 = mono_now();
        inc(a, C_SESSIONS);
        set_state(a, ALPACA_MD_STREAMING);
        backfill(s, a); /* nothing on a first session: no bar yet */
      }
      break;
    case ALPACA_MD_ERROR:
      atomic_fetch_add_explicit(&a->errors[alpaca_md_err_slot(msg.code)], 1,
                                memory_order_relaxed);
      atomic_store_explicit(&a->last_code, msg.code, memory_order_relaxed);
      set_error(a, "stream error %d: %s", msg.code, msg.msg);
      if (msg.code == ALPACA_MDE_ALREADY_AUTHENTICATED)
        break;
      if (fatal_code(msg.code)) {
        x->code = msg.code;
        x->fatal_rc = msg.code == ALPACA_MDE_SYMBOL_LIMIT ||
                              msg.code == ALPACA_MDE_INVALID_FOR_FEED
                          ? DTO_ECONFIG
                          : DTO_EREJECT;
        out = SESS_FATAL;
        goto done;
      }
      if (msg.code == ALPACA_MDE_CONNECTION_LIMIT || x->ph != PH_STREAMING) {
        x->code = msg.code;
        out = SESS_RETRY;
        goto done;
      }
      break; /* 407, 500 while streaming: the server closes if it must */
    default:
      inc(a, C_IGNORED);
      break;
    }
  }
done:
  json_decref(doc);
  return out;
}

/* ---- one connection ------------------------------------------------------ */

static int stream_session(source *s, amd *a, dbuf *m, sess_ctx *x) {
  memset(x, 0, sizeof *x);
  set_state(a, ALPACA_MD_CONNECTING);
  inc(a, C_CONNECTS);
  ws_opts wo = {a->o.handshake_timeout, 0, NULL};
  ws_conn *w = NULL;
  char err[512];
  if (ws_open(a->conf.data_stream_url, &wo, &w, err, sizeof err)) {
    set_error(a, "%s", err);
    return atomic_load(&s->stop) ? SESS_STOP : SESS_RETRY;
  }
  int64_t deadline = mono_now() + a->o.handshake_timeout;
  int out;
  for (;;) {
    if (atomic_load(&s->stop)) {
      out = SESS_STOP;
      break;
    }
    bool bin;
    int rc = ws_recv(w, m, &bin, a->o.recv_slice);
    if (rc == DTO_EAGAIN) {
      if (x->ph != PH_STREAMING && mono_now() >= deadline) {
        inc(a, C_DISCONNECTS);
        set_error(a, "no answer to the %s within the handshake timeout",
                  x->ph == PH_GREETING    ? "connection"
                  : x->ph == PH_AUTH_SENT ? "authentication"
                                          : "subscription");
        out = SESS_RETRY;
        break;
      }
      continue;
    }
    if (rc) {
      inc(a, C_DISCONNECTS);
      set_error(a, "connection lost: %s", ws_error(w));
      out = SESS_RETRY;
      break;
    }
    int r = frame(s, a, w, m, x);
    if (r >= 0) {
      if (r == SESS_RETRY)
        inc(a, C_DISCONNECTS);
      out = r;
      break;
    }
  }
  ws_close(w);
  return out;
}

static int amd_run(source *s) {
  amd *a = s->impl;
  dbuf m;
  dbuf_init(&m, (4u << 20) + 1);
  dto_time backoff = a->o.backoff_min;
  int result = 0;
  for (bool first = true;; first = false) {
    if (atomic_load(&s->stop)) {
      set_state(a, ALPACA_MD_STOPPED);
      break;
    }
    if (!first)
      inc(a, C_RECONNECTS);
    sess_ctx x;
    int r = stream_session(s, a, &m, &x);
    if (r == SESS_STOP) {
      set_state(a, ALPACA_MD_STOPPED);
      break;
    }
    if (r == SESS_FATAL) {
      set_state(a, ALPACA_MD_FAILED);
      result = x.fatal_rc;
      break;
    }
    if (x.ph == PH_STREAMING && mono_now() - x.stream_t0 >= a->o.stable_after)
      backoff = a->o.backoff_min;
    /* equal jitter: half the backoff fixed, half random */
    dto_time half = backoff / 2;
    dto_time wait = half + (dto_time)(rnd(a) % (uint64_t)(half + 1));
    if (x.code == ALPACA_MDE_CONNECTION_LIMIT)
      wait =
          a->o.conn_limit_backoff + (dto_time)(rnd(a) % (uint64_t)(half + 1));
    backoff = backoff > a->o.backoff_max / 2 ? a->o.backoff_max : backoff * 2;
    set_state(a, ALPACA_MD_BACKOFF);
    if (!source_sleep(s, wait)) {
      set_state(a, ALPACA_MD_STOPPED);
      break;
    }
  }
  dbuf_release(&m);
  return result;
}

static void amd_free(source *s) {
  amd *a = s->impl;
  if (!a)
    return;
  alpaca_conf_wipe(&a->conf);
  for (size_t i = 0; i < a->nsubs; i++)
    free(a->subs[i]);
  free(a->subs);
  free((void *)a->last_rx);
  free((void *)a->last_ts);
  free(a->last_bar);
  pthread_mutex_destroy(&a->emu);
  free(a);
}

static const source_ops alpaca_ops = {"alpaca", SOURCE_CLOCK_REAL, amd_run,
                                      amd_free};

bool source_is_alpaca(const source *s) { return s && s->ops == &alpaca_ops; }

static bool sub_ok(const char *sym) {
  size_t n = strlen(sym);
  if (n == 0 || n >= ALPACA_SYMBOL_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (sym[i] <= ' ' || sym[i] > '~' || sym[i] == '"' || sym[i] == '\\')
      return false;
  return true;
}

source *source_alpaca_new(const alpaca_conf *c, const instrument_table *ins,
                          inq *q, uint32_t index, const alpaca_md_opts *o) {
  if (!c || !ins || !q || ins->n == 0)
    return NULL;
  size_t nextra = 0;
  if (o && o->extra_symbols)
    while (o->extra_symbols[nextra])
      nextra++;
  for (size_t i = 0; i < ins->n; i++)
    if (!sub_ok(ins->v[i].symbol))
      return NULL;
  for (size_t i = 0; i < nextra; i++)
    if (!sub_ok(o->extra_symbols[i]))
      return NULL;
  amd *a = xcalloc(1, sizeof *a);
  a->conf = *c;
  a->ins = ins;
  if (o)
    a->o = *o;
  a->o.extra_symbols = NULL;
#define DEF(f, d)                                                              \
  if (a->o.f <= 0)                                                             \
  a->o.f = (d)
  DEF(backoff_min, ALPACA_MD_BACKOFF_MIN_DEFAULT);
  DEF(backoff_max, ALPACA_MD_BACKOFF_MAX_DEFAULT);
  DEF(conn_limit_backoff, ALPACA_MD_CONN_LIMIT_BACKOFF_DEFAULT);
  DEF(handshake_timeout, ALPACA_MD_HANDSHAKE_TIMEOUT_DEFAULT);
  DEF(recv_slice, ALPACA_MD_RECV_SLICE_DEFAULT);
  DEF(push_timeout, ALPACA_MD_PUSH_TIMEOUT_DEFAULT);
  DEF(stable_after, ALPACA_MD_STABLE_AFTER_DEFAULT);
#undef DEF
  if (a->o.backoff_max < a->o.backoff_min)
    a->o.backoff_max = a->o.backoff_min;
  clock_real_init(&a->real);
  a->clock = o && o->clock ? o->clock : &a->real;
  a->rng = a->o.seed ? a->o.seed : (uint64_t)clock_mono_ns() | 1;
  a->nsubs = ins->n + nextra;
  a->subs = xcalloc(a->nsubs, sizeof *a->subs);
  for (size_t i = 0; i < ins->n; i++)
    a->subs[i] = xstrdup(ins->v[i].symbol);
  for (size_t i = 0; i < nextra; i++)
    a->subs[ins->n + i] = xstrdup(o->extra_symbols[i]);
  a->nins = ins->n;
  a->last_rx = xcalloc(ins->n, sizeof *a->last_rx);
  a->last_ts = xcalloc(ins->n, sizeof *a->last_ts);
  a->last_bar = xcalloc(ins->n ? ins->n : 1, sizeof *a->last_bar);
  for (size_t i = 0; i < ins->n; i++) {
    atomic_init(&a->last_rx[i], 0);
    atomic_init(&a->last_ts[i], 0);
  }
  atomic_init(&a->state, ALPACA_MD_IDLE);
  for (size_t i = 0; i < C_COUNT; i++)
    atomic_init(&a->cnt[i], 0);
  for (size_t i = 0; i < ALPACA_MD_ERR_SLOTS; i++)
    atomic_init(&a->errors[i], 0);
  atomic_init(&a->last_code, 0);
  pthread_mutex_init(&a->emu, NULL);
  source *s = xcalloc(1, sizeof *s);
  source_init(s, &alpaca_ops, q, index, a);
  return s;
}

void alpaca_md_get_stats(const source *s, alpaca_md_stats *out) {
  memset(out, 0, sizeof *out);
  if (!source_is_alpaca(s))
    return;
  amd *a = s->impl; /* the counters and the mutex are the source's own */
  uint64_t v[C_COUNT];
  for (size_t i = 0; i < C_COUNT; i++)
    v[i] = atomic_load_explicit(&a->cnt[i], memory_order_relaxed);
  out->state = (enum alpaca_md_state)atomic_load(&a->state);
  out->connects = v[C_CONNECTS];
  out->sessions = v[C_SESSIONS];
  out->backfilled = v[C_BACKFILLED];
  out->reconnects = v[C_RECONNECTS];
  out->disconnects = v[C_DISCONNECTS];
  out->frames = v[C_FRAMES];
  out->messages = v[C_MESSAGES];
  out->bars = v[C_BARS];
  out->trades = v[C_TRADES];
  out->quotes = v[C_QUOTES];
  out->unknown = v[C_UNKNOWN];
  out->refused = v[C_REFUSED];
  out->malformed = v[C_MALFORMED];
  out->ignored = v[C_IGNORED];
  out->dropped = v[C_DROPPED];
  out->sub_missing = v[C_SUB_MISSING];
  for (size_t i = 0; i < ALPACA_MD_ERR_SLOTS; i++)
    out->errors[i] = atomic_load_explicit(&a->errors[i], memory_order_relaxed);
  out->last_code = atomic_load_explicit(&a->last_code, memory_order_relaxed);
  pthread_mutex_lock(&a->emu);
  memcpy(out->last_error, a->last_error, sizeof out->last_error);
  pthread_mutex_unlock(&a->emu);
}

bool alpaca_md_last(const source *s, sym_id sym, dto_time *rx, dto_time *ts) {
  if (!source_is_alpaca(s))
    return false;
  const amd *a = s->impl;
  if (sym >= a->nins)
    return false;
  if (rx)
    *rx = atomic_load_explicit(&a->last_rx[sym], memory_order_relaxed);
  if (ts)
    *ts = atomic_load_explicit(&a->last_ts[sym], memory_order_relaxed);
  return true;
}

bool alpaca_md_stale(const source *s, sym_id sym, dto_time now,
                     dto_time max_age) {
  dto_time rx = 0;
  if (!alpaca_md_last(s, sym, &rx, NULL) || rx == 0)
    return true;
  return now - rx > max_age;
}

/* ---- warm-up ------------------------------------------------------------- */

#define WARMUP_PAGE 10000 /* Alpaca's largest limit */
#define WARMUP_MAX_PAGES 100000

/* Append s percent-encoded (RFC 3986 unreserved characters kept). */
static int url_enc(dbuf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  int rc = 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      rc |= dbuf_addc(b, (char)c);
    } else {
      rc |= dbuf_addc(b, '%');
      rc |= dbuf_addc(b, hex[c >> 4]);
      rc |= dbuf_addc(b, hex[c & 15]);
    }
  }
  return rc;
}

int alpaca_md_warmup(const alpaca_conf *c, const instrument_table *ins,
                     sym_id sym, dto_time start, dto_time end, bar_vec *out,
                     char *err, size_t cap) {
  return alpaca_md_warmup_paged(c, ins, sym, start, end, WARMUP_PAGE, out, err,
                                cap);
}

int alpaca_md_warmup_paged(const alpaca_conf *c, const instrument_table *ins,
                           sym_id sym, dto_time start, dto_time end,
                           int page_limit, bar_vec *out, char *err,
                           size_t cap) {
  if (page_limit < 1 || page_limit > WARMUP_PAGE) {
    dto_seterr(err, cap, "warm-up: page limit %d not in 1..%d", page_limit,
               WARMUP_PAGE);
    return DTO_EINVAL;
  }
  if (!c || !ins || !out || sym >= ins->n || start >= end) {
    dto_seterr(err, cap, "warm-up: %s",
               !c || !ins || !out          ? "missing argument"
               : sym >= (ins ? ins->n : 0) ? "instrument out of range"
                                           : "start not before end");
    return DTO_EINVAL;
  }
  const char *symbol = ins->v[sym].symbol;
  http_conf hc;
  alpaca_http_conf(c, true, &hc);
  http_client *cl = NULL;
  char why[512];
  int rc = http_client_new(&hc, &cl, why, sizeof why);
  if (rc) {
    dto_seterr(err, cap, "warm-up %s: %s", symbol, why);
    return rc;
  }
  size_t n0 = out->n;
  alpaca_bar_row *rows = xcalloc((size_t)page_limit, sizeof *rows);
  char token[ALPACA_TOKEN_MAX] = "", prev[ALPACA_TOKEN_MAX] = "";
  char ts0[40], ts1[40];
  time_format(start, ts0, sizeof ts0);
  time_format(end, ts1, sizeof ts1);
  dbuf path;
  dbuf_init(&path, HTTP_PATH_MAX);
  dto_time last = INT64_MIN;
  for (size_t page = 0;; page++) {
    if (page == WARMUP_MAX_PAGES) {
      dto_seterr(err, cap, "warm-up %s: more than %d pages", symbol,
                 WARMUP_MAX_PAGES);
      rc = DTO_ETOOBIG;
      break;
    }
    dbuf_reset(&path);
    int pe = dbuf_adds(&path, "/v2/stocks/");
    pe |= url_enc(&path, symbol);
    pe |= dbuf_adds(&path, "/bars?timeframe=1Min&start=");
    pe |= url_enc(&path, ts0);
    pe |= dbuf_adds(&path, "&end=");
    pe |= url_enc(&path, ts1);
    pe |= dbuf_printf(&path, "&limit=%d&feed=%s", page_limit,
                      alpaca_feed_name(c->feed));
    if (token[0]) {
      pe |= dbuf_adds(&path, "&page_token=");
      pe |= url_enc(&path, token);
    }
    pe |= dbuf_addc(&path, '\0');
    if (pe) {
      dto_seterr(err, cap, "warm-up %s: path too long", symbol);
      rc = DTO_ETOOBIG;
      break;
    }
    http_response resp;
    memset(&resp, 0, sizeof resp);
    rc = http_request(cl, HTTP_GET, path.ptr, NULL, &resp, why, sizeof why);
    if (rc) {
      dto_seterr(err, cap, "warm-up %s: %s", symbol, why);
      break;
    }
    if (resp.status != 200) {
      json_error_t je;
      json_t *e = json_loadb(resp.body, resp.len, 0, &je);
      const char *msg =
          e ? json_string_value(json_object_get(e, "message")) : NULL;
      dto_seterr(err, cap, "warm-up %s: HTTP %d%s%.200s", symbol, resp.status,
                 msg ? ": " : "", msg ? msg : "");
      json_decref(e);
      http_response_release(&resp);
      rc = DTO_EREJECT;
      break;
    }
    memcpy(prev, token, sizeof prev);
    size_t count = 0;
    rc = alpaca_bars_parse(resp.body, resp.len, DTO_NS_PER_MIN, rows,
                           (size_t)page_limit, &count, token, sizeof token, why,
                           sizeof why);
    http_response_release(&resp);
    if (rc) {
      dto_seterr(err, cap, "warm-up %s: page %zu: %s", symbol, page + 1, why);
      break;
    }
    for (size_t i = 0; i < count && !rc; i++) {
      if (rows[i].symbol[0] && strcmp(rows[i].symbol, symbol)) {
        dto_seterr(err, cap, "warm-up %s: a bar of %s", symbol, rows[i].symbol);
        rc = DTO_EPARSE;
      } else if (rows[i].bar.ts <= last) {
        dto_seterr(err, cap, "warm-up %s: bars out of order", symbol);
        rc = DTO_EPARSE;
      } else if (rows[i].bar.ts >= start && rows[i].bar.ts < end) {
        bar b = rows[i].bar;
        b.sym = sym;
        b.dur = DTO_NS_PER_MIN;
        bar_vec_push(out, &b);
        last = b.ts;
      }
    }
    if (rc)
      break;
    if (!token[0])
      break;
    if (!strcmp(token, prev)) {
      dto_seterr(err, cap, "warm-up %s: the same page token twice", symbol);
      rc = DTO_EPARSE;
      break;
    }
  }
  if (rc)
    out->n = n0;
  dbuf_release(&path);
  free(rows);
  http_client_free(cl);
  return rc;
}
