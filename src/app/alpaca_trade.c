/* alpaca_trade.c - the Alpaca adapter's I/O thread: REST for requests, the
 * trade_updates stream for reports. */
#define _POSIX_C_SOURCE 200809L
#include "app/alpaca_trade.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "broker/alpaca_json.h"
#include "broker/http.h"
#include "broker/ws.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "ops/prom.h"

/* ---- the order map: dto's ids, client order ids, Alpaca's ids ------------- */

typedef struct omap_entry {
  order_id id;
  char cloid[CLOID_MAX];
  char aid[ALPACA_ID_MAX]; /* "" until Alpaca named it */
  order_id replaced_by;    /* the dto order that replaces it, if any */
  bool acked;              /* accepted was reported (from REST) */
  bool known;              /* told by alpaca_trader_know: Alpaca may have
                              it already (a restart), so a submit of it is
                              looked up before anything is posted */
  /* a bracket exit's pair: sent as one oco order whose parent is the
   * take-profit (dto's client order id) and whose stop leg is the
   * stop-loss (an id Alpaca makes up, so the leg is known by aid only) */
  enum bracket_role role;
  order_id peer;
  bool working; /* told by alpaca_trader_know: not terminal in dto */
  bool leg_tried; /* the leg's aid was looked for through its parent */
} omap_entry;

/* Entries in a vector; two open-addressing indexes (by client order id and
 * by Alpaca id) hold entry number + 1 (0: empty). */
typedef struct omap {
  omap_entry *v;
  size_t n, cap;
  uint32_t *by_cloid, *by_aid;
  size_t slots; /* a power of two, at least 2 * cap */
} omap;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static omap_entry *omap_find(const omap *m, const char *key, bool aid) {
  if (!m->slots || !*key)
    return NULL;
  const uint32_t *ix = aid ? m->by_aid : m->by_cloid;
  for (size_t i = hash_str(key) & (m->slots - 1);; i = (i + 1) & (m->slots - 1)) {
    uint32_t e = ix[i];
    if (!e)
      return NULL;
    omap_entry *x = &m->v[e - 1];
    if (!strcmp(aid ? x->aid : x->cloid, key))
      return x;
  }
}

static void omap_index(omap *m, uint32_t *ix, const char *key, uint32_t e) {
  size_t i = hash_str(key) & (m->slots - 1);
  while (ix[i])
    i = (i + 1) & (m->slots - 1);
  ix[i] = e;
}

static void omap_rehash(omap *m, size_t slots) {
  free(m->by_cloid);
  free(m->by_aid);
  m->slots = slots;
  m->by_cloid = xcalloc(slots, sizeof *m->by_cloid);
  m->by_aid = xcalloc(slots, sizeof *m->by_aid);
  for (size_t k = 0; k < m->n; k++) {
    omap_index(m, m->by_cloid, m->v[k].cloid, (uint32_t)k + 1);
    if (m->v[k].aid[0])
      omap_index(m, m->by_aid, m->v[k].aid, (uint32_t)k + 1);
  }
}

static omap_entry *omap_add(omap *m, order_id id, const char *cloid) {
  omap_entry *x = omap_find(m, cloid, false);
  if (x) {
    x->id = id;
    return x;
  }
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 256;
    m->v = xrealloc(m->v, m->cap * sizeof *m->v);
    omap_rehash(m, m->cap * 2);
  }
  x = &m->v[m->n++];
  memset(x, 0, sizeof *x);
  x->id = id;
  snprintf(x->cloid, sizeof x->cloid, "%s", cloid);
  omap_index(m, m->by_cloid, x->cloid, (uint32_t)m->n);
  return x;
}

static void omap_set_aid(omap *m, omap_entry *x, const char *aid) {
  if (!*aid || !strcmp(x->aid, aid))
    return;
  snprintf(x->aid, sizeof x->aid, "%s", aid);
  omap_index(m, m->by_aid, x->aid, (uint32_t)(x - m->v) + 1);
}

static omap_entry *omap_by_id(const omap *m, order_id id) {
  for (size_t k = m->n; k-- > 0;) /* recent orders are asked for most */
    if (m->v[k].id == id)
      return &m->v[k];
  return NULL;
}

/* ---- the trader -------------------------------------------------------- */

struct alpaca_trader {
  mhist lat; /* REST request time */
  alpaca_conf conf;
  const instrument_table *ins;
  bridge *b;
  http_client *http;
  http_client *qhttp; /* the reconciliation queries' (caller's thread) */
  ws_conn *stream;
  pthread_mutex_t stream_mu; /* the thread changes stream under it; a
                                wake-up from another thread reads it */
  omap map;
  alpaca_exec_seen *seen;
  pthread_mutex_t seen_mu; /* seen: the thread's stream, the queries */
  pthread_t th;
  bool started;
  atomic_bool stop;
  /* reconciliation: the engine asks (want) and says when it is done
   * (resume); the thread holds everything in between (waiting).  need:
   * the stream (re)connected, a reconciliation is due before anything is
   * sent. */
  atomic_bool want, resume;
  atomic_bool done; /* the thread has ended */
  atomic_bool draining; /* alpaca_trader_drain: stopping */
  bool need, waiting;
  alpaca_asset *assets; /* per instrument, read at start */
  pthread_mutex_t mu; /* stats */
  alpaca_trade_stats st;
  dbuf msg;
  int64_t backoff_ns; /* the stream's next reconnect wait */
};

/* A REST request, timed for the metrics. */
static int timed(alpaca_trader *t, http_client *h, enum http_method m,
                 const char *path, const char *body, http_response *r,
                 char *err, size_t cap) {
  int64_t t0 = clock_mono_ns();
  int rc = http_request(h, m, path, body, r, err, cap);
  mhist_observe_ns(&t->lat, clock_mono_ns() - t0);
  return rc;
}

static void fail_note(alpaca_trader *t, const char *what) {
  pthread_mutex_lock(&t->mu);
  t->st.errors++;
  /* the first 255 bytes say what it was */
  snprintf(t->st.last_error, sizeof t->st.last_error, "%.255s", what);
  pthread_mutex_unlock(&t->mu);
}

#define COUNT(t, field)                                                        \
  do {                                                                         \
    pthread_mutex_lock(&(t)->mu);                                              \
    (t)->st.field++;                                                           \
    pthread_mutex_unlock(&(t)->mu);                                            \
  } while (0)

static void report(alpaca_trader *t, enum report_kind kind, order_id id,
                   int reason) {
  broker_report r;
  memset(&r, 0, sizeof r);
  r.kind = kind;
  r.id = id;
  r.reason = reason;
  if (bridge_report(t->b, &r) == 0)
    COUNT(t, reports);
}

/* Connect the stream, authenticate and listen to trade_updates. */
static void set_stream(alpaca_trader *t, ws_conn *c) {
  pthread_mutex_lock(&t->stream_mu);
  ws_conn *old = t->stream;
  t->stream = c;
  pthread_mutex_unlock(&t->stream_mu);
  ws_close(old);
}

/* The engine queued a request (bridge_set_wake): end the stream's wait. */
static void wake_trader(void *ctx) {
  alpaca_trader *t = ctx;
  pthread_mutex_lock(&t->stream_mu);
  if (t->stream)
    ws_wake(t->stream);
  pthread_mutex_unlock(&t->stream_mu);
}

static int stream_connect(alpaca_trader *t, char *err, size_t cap) {
  ws_opts o = {t->conf.connect_timeout, 4u << 20, NULL};
  ws_conn *c = NULL;
  int rc = ws_open(t->conf.stream_url, &o, &c, err, cap);
  if (rc)
    return rc;
  pthread_mutex_lock(&t->stream_mu);
  t->stream = c;
  pthread_mutex_unlock(&t->stream_mu);
  json_t *auth = json_pack("{s:s,s:{s:s,s:s}}", "action", "authenticate",
                           "data", "key_id", t->conf.key_id, "secret_key",
                           t->conf.secret);
  char *text = auth ? json_dumps(auth, JSON_COMPACT) : NULL;
  json_decref(auth);
  static const char listen[] =
      "{\"action\":\"listen\",\"data\":{\"streams\":[\"trade_updates\"]}}";
  alpaca_stream_msg m;
  bool bin;
  int64_t w = t->conf.request_timeout;
  rc = text ? ws_send(t->stream, text, strlen(text), false, w) : DTO_ENOMEM;
  if (text) {
    memset(text, 0, strlen(text)); /* it held the secret */
    free(text);
  }
  if (!rc)
    rc = ws_recv(t->stream, &t->msg, &bin, w);
  if (!rc && (alpaca_stream_parse(t->msg.ptr, t->msg.len, &m, err, cap) ||
              m.kind != ALPACA_ST_AUTHORIZATION || !m.authorized)) {
    dto_seterr(err, cap, "trading stream %s: the keys were refused",
               t->conf.stream_url);
    rc = DTO_EREJECT;
  }
  if (!rc)
    rc = ws_send(t->stream, listen, sizeof listen - 1, false, w);
  if (!rc)
    rc = ws_recv(t->stream, &t->msg, &bin, w);
  if (!rc && (alpaca_stream_parse(t->msg.ptr, t->msg.len, &m, err, cap) ||
              m.kind != ALPACA_ST_LISTENING || !m.trade_updates)) {
    dto_seterr(err, cap, "trading stream %s: trade_updates not listened",
               t->conf.stream_url);
    rc = DTO_EIO;
  }
  if (rc && rc != DTO_EREJECT && !err[0])
    dto_seterr(err, cap, "trading stream %s: %s", t->conf.stream_url,
               ws_error(t->stream));
  if (rc)
    set_stream(t, NULL);
  return rc;
}

/* ---- requests ------------------------------------------------------------ */

static const char *type_word(enum order_type k) {
  static const char *const w[ORD_TYPE_COUNT] = {
      "market", "limit", "stop", "stop_limit", "trailing_stop"};
  return (unsigned)k < ORD_TYPE_COUNT ? w[k] : "market";
}

static const char *tif_word(enum tif k) {
  static const char *const w[TIF_COUNT] = {"day", "gtc", "ioc",
                                          "fok", "opg", "cls"};
  return (unsigned)k < TIF_COUNT ? w[k] : "day";
}

static void set_fx(json_t *o, const char *key, fx v) {
  char b[FX_STRLEN];
  fx_format(v, b, sizeof b);
  json_object_set_new(o, key, json_string(b));
}

/* The body of an order POST (or the fields of a PATCH when patch).  With
 * sl, o is a take-profit and sl its stop-loss: one oco order (Alpaca's
 * one-cancels-other exits: a limit parent and a held stop leg). */
static char *order_body(const alpaca_trader *t, const order *o,
                        const order *sl, bool patch) {
  json_t *j = json_object();
  if (sl) {
    json_object_set_new(j, "order_class", json_string("oco"));
    json_t *tp = json_object(), *st = json_object();
    set_fx(tp, "limit_price", o->limit_price);
    set_fx(st, "stop_price", sl->stop_price);
    json_object_set_new(j, "take_profit", tp);
    json_object_set_new(j, "stop_loss", st);
  }
  if (!patch) {
    json_object_set_new(j, "symbol",
                        json_string(t->ins->v[o->sym].symbol));
    json_object_set_new(j, "side",
                        json_string(o->side == SIDE_BUY ? "buy" : "sell"));
    json_object_set_new(j, "type", json_string(type_word(o->type)));
    if (o->extended_hours)
      json_object_set_new(j, "extended_hours", json_true());
  }
  set_fx(j, "qty", o->qty);
  json_object_set_new(j, "time_in_force", json_string(tif_word(o->tif)));
  if ((o->type == ORD_LIMIT || o->type == ORD_STOP_LIMIT) && !sl)
    set_fx(j, "limit_price", o->limit_price);
  if (o->type == ORD_STOP || o->type == ORD_STOP_LIMIT)
    set_fx(j, "stop_price", o->stop_price);
  if (o->type == ORD_TRAILING_STOP)
    set_fx(j, patch ? "trail" : "trail_price", o->trail);
  json_object_set_new(j, "client_order_id", json_string(o->cloid));
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  return s;
}

/* Alpaca's id of the order in a 2xx body, into x. */
static void learn_aid(alpaca_trader *t, omap_entry *x, const http_response *r) {
  alpaca_order ao;
  char err[256];
  if (alpaca_order_parse(r->body, r->len, &ao, err, sizeof err) == 0)
    omap_set_aid(&t->map, x, ao.id);
}

/* Look an order up by client order id through h (the thread's client, or
 * the queries' on the engine thread): 1 and its state into *ao when
 * Alpaca has it, 0 when it does not (404), negative when nobody knows. */
static int lookup(alpaca_trader *t, http_client *h, const char *cloid,
                  alpaca_order *ao) {
  char path[256], err[512];
  snprintf(path, sizeof path,
           "/v2/orders:by_client_order_id?client_order_id=%s", cloid);
  http_response r;
  memset(&r, 0, sizeof r);
  int rc = timed(t, h, HTTP_GET, path, NULL, &r, err, sizeof err);
  int out = DTO_EIO;
  if (!rc && r.status == 200)
    out = alpaca_order_parse(r.body, r.len, ao, err, sizeof err) ? DTO_EPARSE
                                                                 : 1;
  else if (!rc && r.status == 404)
    out = 0;
  http_response_release(&r);
  if (out < 0)
    fail_note(t, rc ? err : "order lookup: no clear answer");
  return out;
}

/* What an order Alpaca already has (its status st) means for the engine's
 * copy of it, which is waiting for an acknowledgement: accepted while it
 * works (a held stop leg too); a rejection, cancel or expiry as such.
 * Fills are not reported here: reconciliation counts them, each once. */
static void report_found(alpaca_trader *t, order_id id,
                         enum alpaca_order_status st) {
  switch (st) {
  case ALPACA_OS_REJECTED:
    report(t, REP_REJECTED, id, BRR_INVALID);
    break;
  default:
    report(t, REP_ACCEPTED, id, BRR_NONE);
    if (st == ALPACA_OS_CANCELED)
      report(t, REP_CANCELED, id, BRR_NONE);
    else if (st == ALPACA_OS_EXPIRED)
      report(t, REP_EXPIRED, id, BRR_NONE);
    break;
  }
}

/* The stop leg of an oco order: its index in ao->legs, or -1. */
static int stop_leg(const alpaca_order *ao) {
  if (strcmp(ao->order_class, "oco"))
    return -1;
  for (size_t k = 0; k < ao->nlegs; k++)
    if (!strcmp(ao->legs[k].type, "stop") ||
        !strcmp(ao->legs[k].type, "stop_limit"))
      return (int)k;
  return -1;
}

/* x is a take-profit and ao its order at Alpaca: when that is an oco, its
 * stop leg is x's peer, the stop-loss; learn the leg's id (never over one
 * the peer has already: it was sent on its own).  The peer's entry, or
 * NULL. */
static omap_entry *learn_leg(alpaca_trader *t, const omap_entry *x,
                             const alpaca_order *ao) {
  int k = stop_leg(ao);
  if (x->role != BR_TAKE_PROFIT || x->peer == ORDER_NONE || k < 0)
    return NULL;
  omap_entry *y = omap_by_id(&t->map, x->peer);
  if (!y || (y->aid[0] && strcmp(y->aid, ao->legs[k].id)))
    return NULL;
  omap_set_aid(&t->map, y, ao->legs[k].id);
  y->leg_tried = true;
  return y;
}

/* y is a stop-loss whose Alpaca id is unknown (a restart, or an answer
 * that could not be read): look its take-profit up, through h, for the
 * stop leg.  1 when found (the leg's status into *st), 0 when not, and
 * negative when nobody knows (tried again later). */
static int resolve_leg(alpaca_trader *t, http_client *h, omap_entry *y,
                       enum alpaca_order_status *st) {
  omap_entry *x = y->peer != ORDER_NONE ? omap_by_id(&t->map, y->peer) : NULL;
  if (!x || y->role != BR_STOP_LOSS)
    return 0;
  alpaca_order ao;
  int f = lookup(t, h, x->cloid, &ao);
  if (f < 0)
    return f;
  y->leg_tried = true;
  if (f == 0)
    return 0;
  omap_set_aid(&t->map, x, ao.id);
  int k = stop_leg(&ao);
  if (learn_leg(t, x, &ao) != y)
    return 0;
  if (st)
    *st = ao.legs[k].status;
  return 1;
}

/* Every stop-loss whose leg is not known yet (after a restart) looked up
 * once, through the queries' client: reconciliation must name the legs'
 * orders and fills.  Engine thread, while the adapter holds. */
static void resolve_legs(alpaca_trader *t) {
  for (size_t k = 0; k < t->map.n; k++) {
    omap_entry *y = &t->map.v[k];
    if (y->role == BR_STOP_LOSS && y->peer != ORDER_NONE && !y->aid[0] &&
        y->working && !y->leg_tried)
      (void)resolve_leg(t, t->qhttp, y, NULL);
  }
}

/* The asset's rules, checked before an order leaves: NULL, or why not. */
static const char *asset_problem(const alpaca_trader *t, const order *o) {
  const alpaca_asset *a = &t->assets[o->sym];
  if (!a->active || !a->tradable)
    return "the asset is not tradable at Alpaca";
  if (!fx_is_multiple(o->qty, FX_ONE) && !a->fractionable)
    return "a fractional quantity of an asset Alpaca does not trade in "
           "fractions";
  if ((a->have & AA_MIN_ORDER_SIZE) && o->qty < a->min_order_size)
    return "the quantity is below the asset's min_order_size";
  if ((a->have & AA_MIN_TRADE_INCREMENT) && a->min_trade_increment > 0 &&
      !fx_is_multiple(o->qty, a->min_trade_increment))
    return "the quantity is not a multiple of the asset's "
           "min_trade_increment";
  if ((a->have & AA_PRICE_INCREMENT) && a->price_increment > 0 &&
      (((o->type == ORD_LIMIT || o->type == ORD_STOP_LIMIT) &&
        !fx_is_multiple(o->limit_price, a->price_increment)) ||
       ((o->type == ORD_STOP || o->type == ORD_STOP_LIMIT) &&
        !fx_is_multiple(o->stop_price, a->price_increment))))
    return "a price is not a multiple of the asset's price_increment";
  return NULL;
}

/* How a new order went (send_new). */
enum sent {
  SENT_POSTED,  /* Alpaca took it */
  SENT_FOUND,   /* Alpaca had it already */
  SENT_REJECTED /* refused, or nobody can tell: never posted on a guess */
};

/* Send a new order: POST body (client order id cloid), or, when it is
 * known (sent before a restart?), look it up first.  Alpaca's order into
 * *ao and *have when its answer could be read. */
static enum sent send_new(alpaca_trader *t, const char *cloid,
                          const char *body, bool known, alpaca_order *ao,
                          bool *have) {
  *have = false;
  if (known) { /* sent before a restart? then never again */
    COUNT(t, post_lookups);
    int f = lookup(t, t->http, cloid, ao);
    if (f == 1) {
      *have = true;
      return SENT_FOUND;
    }
    if (f < 0) {
      COUNT(t, rejected);
      return SENT_REJECTED;
    }
  }
  char err[512], path[256];
  http_response r;
  for (int attempt = 0; attempt < 3; attempt++) {
    memset(&r, 0, sizeof r);
    COUNT(t, posts);
    if (attempt)
      COUNT(t, reposts);
    int rc = timed(t, t->http, HTTP_POST, "/v2/orders", body, &r, err,
                          sizeof err);
    if (!rc && r.status >= 200 && r.status < 300) {
      *have = alpaca_order_parse(r.body, r.len, ao, err, sizeof err) == 0;
      http_response_release(&r);
      return SENT_POSTED;
    }
    if (!rc && r.status >= 400 && r.status < 500 && r.status != 429) {
      /* refused (403 buying power, 422 invalid or a duplicate id): a
       * duplicate means an earlier attempt got through - look it up */
      bool dup = r.status == 422 && strstr(r.body, "client_order_id");
      snprintf(err, sizeof err, "order %s refused: HTTP %d", cloid, r.status);
      http_response_release(&r);
      if (!dup) {
        fail_note(t, err);
        COUNT(t, rejected);
        return SENT_REJECTED;
      }
    } else if (!rc && r.status == 429) {
      /* over Alpaca's rate: it took nothing; wait as it asks (Retry-After,
       * else X-RateLimit-Reset, else 1 s; at most a minute), then look it
       * up as after any failure before the order is sent again */
      int64_t wait = DTO_NS_PER_SEC;
      if (r.retry_after >= 0)
        wait = r.retry_after * DTO_NS_PER_SEC;
      else if (r.rl_reset >= 0) {
        dto_clock wall;
        clock_real_init(&wall);
        int64_t at = r.rl_reset * DTO_NS_PER_SEC - clock_now(&wall);
        wait = at > 0 ? at : 0;
      }
      if (wait > 60 * DTO_NS_PER_SEC)
        wait = 60 * DTO_NS_PER_SEC;
      http_response_release(&r);
      fail_note(t, "order POST: HTTP 429, waiting as asked");
      COUNT(t, throttled);
      int64_t until = clock_mono_ns() + wait;
      while (!atomic_load(&t->stop) && clock_mono_ns() < until) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
      }
    } else {
      http_response_release(&r);
      fail_note(t, rc ? err : "order POST: server error");
    }
    /* no clear answer: does Alpaca have it? */
    COUNT(t, post_lookups);
    snprintf(path, sizeof path,
             "/v2/orders:by_client_order_id?client_order_id=%s", cloid);
    memset(&r, 0, sizeof r);
    rc = timed(t, t->http, HTTP_GET, path, NULL, &r, err, sizeof err);
    if (!rc && r.status == 200) {
      char e2[256];
      *have = alpaca_order_parse(r.body, r.len, ao, e2, sizeof e2) == 0;
      http_response_release(&r);
      if (!*have) /* it has it, in a form we cannot read: reconcile */
        fail_note(t, e2);
      return SENT_FOUND;
    }
    bool absent = !rc && r.status == 404;
    http_response_release(&r);
    if (!absent)
      break; /* unknown: do not post again on a guess */
  }
  /* Never sent as far as anyone can tell: the engine rejects it; a later
   * reconciliation finds it should Alpaca have it after all. */
  COUNT(t, rejected);
  return SENT_REJECTED;
}

/* How long a take-profit waits for its stop-loss to be queued: the engine
 * queues the pair back to back, so this only runs out when the stop-loss
 * could not be queued at all (the take-profit then goes alone, and the
 * engine cancels it). */
#define PAIR_WAIT_NS (250 * 1000000LL)

/* The map's entry for o, made now when new (pointers into the map move). */
static omap_entry *entry_for(alpaca_trader *t, const order *o) {
  omap_entry *x = omap_add(&t->map, o->id, o->cloid);
  x->role = o->role;
  x->peer = o->peer;
  x->working = true;
  return x;
}

/* A stop-loss that comes alone, known from before a restart: when its
 * take-profit went as an oco, it is that oco's stop leg and is never
 * posted.  True when so (reported). */
static bool found_as_leg(alpaca_trader *t, const order *o) {
  omap_entry *y = omap_find(&t->map, o->cloid, false);
  if (!y || !y->known || o->peer == ORDER_NONE)
    return false;
  y = entry_for(t, o);
  enum alpaca_order_status st;
  COUNT(t, post_lookups);
  if (resolve_leg(t, t->http, y, &st) != 1)
    return false;
  y = omap_find(&t->map, o->cloid, false);
  y->acked = true;
  report_found(t, o->id, st);
  return true;
}

static void do_submit(alpaca_trader *t, const order *o) {
  /* a bracket's exit pair leaves as one oco order */
  bridge_req pr;
  const order *sl = NULL;
  if (o->role == BR_TAKE_PROFIT && o->peer != ORDER_NONE &&
      o->type == ORD_LIMIT && (o->tif == TIF_DAY || o->tif == TIF_GTC) &&
      bridge_take_submit(t->b, o->peer, &pr, PAIR_WAIT_NS) == 0) {
    sl = &pr.o;
    COUNT(t, requests);
  }
  if (!sl && o->role == BR_STOP_LOSS && found_as_leg(t, o))
    return;
  const char *bad = asset_problem(t, o);
  if (!bad && sl)
    bad = asset_problem(t, sl);
  if (bad) { /* never sent */
    char note[320];
    snprintf(note, sizeof note, "order %s refused before it left: %s",
             o->cloid, bad);
    fail_note(t, note);
    COUNT(t, refused_local);
    report(t, REP_REJECTED, o->id, BRR_INVALID);
    if (sl)
      report(t, REP_REJECTED, sl->id, BRR_INVALID);
    return;
  }
  omap_entry *x = omap_find(&t->map, o->cloid, false);
  bool known = x && x->known;
  entry_for(t, o);
  if (sl)
    entry_for(t, sl);
  char *body = order_body(t, o, sl, false);
  alpaca_order ao;
  bool have;
  enum sent how = send_new(t, o->cloid, body, known, &ao, &have);
  free(body);
  if (how == SENT_REJECTED) {
    report(t, REP_REJECTED, o->id, BRR_INVALID);
    if (sl)
      report(t, REP_REJECTED, sl->id, BRR_INVALID);
    return;
  }
  x = omap_find(&t->map, o->cloid, false);
  if (have)
    omap_set_aid(&t->map, x, ao.id);
  x->acked = true;
  /* taken: said at once, so that an order the engine still calls
   * pending_new is one that has not left (reconciliation relies on it);
   * the stream's "new" then changes nothing */
  if (how == SENT_POSTED || !have)
    report(t, REP_ACCEPTED, o->id, BRR_NONE);
  else
    report_found(t, o->id, ao.status);
  if (!sl)
    return;
  omap_entry *y = omap_find(&t->map, sl->cloid, false);
  if (have && learn_leg(t, x, &ao) == y) {
    y->acked = true;
    if (how == SENT_POSTED)
      report(t, REP_ACCEPTED, sl->id, BRR_NONE);
    else
      report_found(t, sl->id, ao.legs[stop_leg(&ao)].status);
  } else if (how == SENT_POSTED || !have) {
    /* taken, its leg's id unread: looked for through the parent later */
    y->acked = true;
    report(t, REP_ACCEPTED, sl->id, BRR_NONE);
  } else {
    /* the take-profit was there before, alone: its stop-loss never left */
    report(t, REP_REJECTED, sl->id, BRR_INVALID);
  }
}

/* Alpaca's id of an order known by client order id only (a restart); a
 * stop-loss is first looked for as its take-profit's stop leg. */
static void find_aid(alpaca_trader *t, omap_entry *x) {
  alpaca_order ao;
  if (x && !x->aid[0] && x->role == BR_STOP_LOSS && x->peer != ORDER_NONE)
    (void)resolve_leg(t, t->http, x, NULL);
  if (x && !x->aid[0] && lookup(t, t->http, x->cloid, &ao) == 1)
    omap_set_aid(&t->map, x, ao.id);
}

static void do_cancel(alpaca_trader *t, order_id id) {
  COUNT(t, cancels);
  omap_entry *x = omap_by_id(&t->map, id);
  find_aid(t, x);
  if (!x || !x->aid[0]) {
    report(t, REP_CANCEL_REJECT, id, BRR_UNKNOWN_ORDER);
    return;
  }
  char path[160], err[512];
  snprintf(path, sizeof path, "/v2/orders/%s", x->aid);
  http_response r;
  memset(&r, 0, sizeof r);
  int rc = timed(t, t->http, HTTP_DELETE, path, NULL, &r, err, sizeof err);
  int st = rc ? 0 : r.status;
  http_response_release(&r);
  if (st >= 200 && st < 300)
    return; /* the stream says canceled */
  if (st == 404 || st == 422) {
    report(t, REP_CANCEL_REJECT, id, st == 404 ? BRR_UNKNOWN_ORDER : BRR_NONE);
    return;
  }
  fail_note(t, rc ? err : "cancel: server error");
  report(t, REP_CANCEL_REJECT, id, BRR_NONE);
}

static void do_replace(alpaca_trader *t, order_id old, const order *nw) {
  COUNT(t, replaces);
  omap_entry *x = omap_by_id(&t->map, old);
  find_aid(t, x);
  if (!x || !x->aid[0]) {
    report(t, REP_CANCEL_REJECT, old, BRR_UNKNOWN_ORDER);
    return;
  }
  omap_entry *y = omap_add(&t->map, nw->id, nw->cloid);
  x = omap_by_id(&t->map, old); /* omap_add may have moved it */
  x->replaced_by = nw->id;
  char path[160], err[512];
  snprintf(path, sizeof path, "/v2/orders/%s", x->aid);
  char *body = order_body(t, nw, NULL, true);
  http_response r;
  memset(&r, 0, sizeof r);
  int rc = timed(t, t->http, HTTP_PATCH, path, body, &r, err, sizeof err);
  free(body);
  if (!rc && r.status >= 200 && r.status < 300) {
    learn_aid(t, y, &r);
    http_response_release(&r);
    return; /* the stream says replaced */
  }
  int st = rc ? 0 : r.status;
  http_response_release(&r);
  x->replaced_by = ORDER_NONE;
  if (!st)
    fail_note(t, err);
  report(t, REP_CANCEL_REJECT, old,
         st == 404 ? BRR_UNKNOWN_ORDER : BRR_NONE);
}

/* ---- events ------------------------------------------------------------ */

static void on_event(alpaca_trader *t, const alpaca_trade_update *u) {
  COUNT(t, events);
  omap_entry *x = omap_find(&t->map, u->order.client_order_id, false);
  if (!x) /* an oco's stop leg has a client order id of Alpaca's */
    x = omap_find(&t->map, u->order.id, true);
  if (!x) {
    COUNT(t, foreign); /* not one of dto's orders */
    return;
  }
  omap_set_aid(&t->map, x, u->order.id);
  if (x->role == BR_TAKE_PROFIT)
    (void)learn_leg(t, x, &u->order);
  if (u->event == ALPACA_EV_NEW && x->acked)
    return; /* said already, from the POST's answer */
  if ((u->event == ALPACA_EV_FILL || u->event == ALPACA_EV_PARTIAL_FILL) &&
      u->execution_id[0]) {
    pthread_mutex_lock(&t->seen_mu);
    int dup = alpaca_exec_seen_check(t->seen, u->execution_id);
    pthread_mutex_unlock(&t->seen_mu);
    if (dup == 1) {
      COUNT(t, duplicates);
      return;
    }
  }
  broker_report r;
  char err[256];
  int n = alpaca_event_report(u, &r, err, sizeof err);
  if (n < 0) {
    fail_note(t, err);
    return;
  }
  if (n == 0)
    return;
  r.id = x->id;
  if (r.kind == REP_REPLACED) {
    omap_entry *y = u->order.replaced_by[0]
                        ? omap_find(&t->map, u->order.replaced_by, true)
                        : NULL;
    r.new_id = y ? y->id : x->replaced_by;
    if (r.new_id == ORDER_NONE)
      return; /* not a replace of dto's: nothing to tell */
  }
  if (bridge_report(t->b, &r) == 0)
    COUNT(t, reports);
}

static void read_stream(alpaca_trader *t) {
  bool bin;
  /* a request (bridge_set_wake) or a stop ends the wait early */
  int rc = ws_recv(t->stream, &t->msg, &bin, 50 * 1000000LL);
  if (rc == DTO_EAGAIN)
    return;
  if (rc) {
    fail_note(t, ws_error(t->stream));
    set_stream(t, NULL);
    return;
  }
  alpaca_stream_msg m;
  char err[256];
  if (alpaca_stream_parse(t->msg.ptr, t->msg.len, &m, err, sizeof err)) {
    fail_note(t, err);
    return;
  }
  if (m.kind == ALPACA_ST_TRADE_UPDATE)
    on_event(t, &m.update);
}

/* Hold everything until the engine has reconciled: a signal in the
 * queue after every report sent so far, then nothing (no request taken,
 * no stream read) until the engine says it is done.  Reading nothing
 * keeps the engine's view a clean cut: what it has, plus what the queries
 * find, is everything up to now; events still unread come after. */
static void hold_for_reconcile(alpaca_trader *t) {
  if (bridge_signal(t->b, ALPACA_TRADER_RECONCILE) != 0)
    return; /* the queue is full: try again on the next turn */
  t->need = false;
  t->waiting = true;
  COUNT(t, holds);
  while (!atomic_load(&t->stop) && !atomic_exchange(&t->resume, false)) {
    if (atomic_load(&t->draining)) {
      /* the engine will not reconcile any more: what waits is not sent
       * (the next start reconciles and decides) */
      atomic_store(&t->stop, true);
      break;
    }
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
  t->waiting = false;
}

static void *trader_main(void *arg) {
  alpaca_trader *t = arg;
  int64_t next_try = 0;
  while (!atomic_load(&t->stop)) {
    if (t->stream && (t->need || atomic_exchange(&t->want, false))) {
      t->need = true;
      hold_for_reconcile(t);
      continue;
    }
    if (t->stream) { /* requests only while the stream is up */
      bridge_req q;
      int rc = bridge_next(t->b, &q, 0);
      if (rc == DTO_ESTATE)
        break;
      if (rc == 0) {
        if (q.op == BRIDGE_SUBMIT)
          do_submit(t, &q.o);
        else if (q.op == BRIDGE_CANCEL)
          do_cancel(t, q.id);
        else
          do_replace(t, q.id, &q.o);
        COUNT(t, requests);
        continue; /* requests first: they wait for nothing else */
      }
      read_stream(t);
      continue;
    }
    /* the stream is down: reconnect with backoff; requests wait (nothing
     * is sent while fills could go unheard), then reconcile */
    if (clock_mono_ns() >= next_try) {
      char err[512];
      if (stream_connect(t, err, sizeof err) == 0) {
        COUNT(t, reconnects);
        t->backoff_ns = 250 * 1000000LL;
        t->need = true;
      } else {
        fail_note(t, err);
        next_try = clock_mono_ns() + t->backoff_ns;
        if (t->backoff_ns < 30 * DTO_NS_PER_SEC)
          t->backoff_ns *= 2;
      }
    } else {
      struct timespec ts = {0, 2000000};
      nanosleep(&ts, NULL);
    }
  }
  atomic_store(&t->done, true);
  return NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

int alpaca_trader_new(const alpaca_conf *conf, const instrument_table *ins,
                      bridge *b, alpaca_trader **out, char *err, size_t cap) {
  *out = NULL;
  alpaca_trader *t = xcalloc(1, sizeof *t);
  mhist_init_latency(&t->lat);
  t->conf = *conf;
  t->ins = ins;
  t->b = b;
  t->backoff_ns = 250 * 1000000LL;
  atomic_init(&t->stop, false);
  atomic_init(&t->want, false);
  atomic_init(&t->resume, false);
  atomic_init(&t->done, false);
  atomic_init(&t->draining, false);
  t->need = true; /* the first connection is reconciled too */
  pthread_mutex_init(&t->mu, NULL);
  pthread_mutex_init(&t->seen_mu, NULL);
  pthread_mutex_init(&t->stream_mu, NULL);
  bridge_set_wake(b, wake_trader, t);
  dbuf_init(&t->msg, (4u << 20) + 1);
  t->seen = alpaca_exec_seen_new(65536);
  http_conf hc;
  alpaca_http_conf(&t->conf, false, &hc);
  int rc = http_client_new(&hc, &t->http, err, cap);
  if (!rc)
    rc = http_client_new(&hc, &t->qhttp, err, cap);
  if (rc) {
    alpaca_trader_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

/* Every instrument's asset, for the checks before an order leaves. */
static int read_assets(alpaca_trader *t, char *err, size_t cap) {
  t->assets = xcalloc(t->ins->n ? t->ins->n : 1, sizeof *t->assets);
  for (size_t i = 0; i < t->ins->n; i++) {
    const char *sym = t->ins->v[i].symbol;
    char path[160], e2[512];
    snprintf(path, sizeof path, "/v2/assets/%s", sym);
    http_response r;
    memset(&r, 0, sizeof r);
    int rc = timed(t, t->http, HTTP_GET, path, NULL, &r, e2, sizeof e2);
    if (!rc && r.status == 404) {
      dto_seterr(err, cap, "instrument %s: unknown to Alpaca", sym);
      rc = DTO_ECONFIG;
    } else if (!rc && r.status != 200) {
      dto_seterr(err, cap, "instrument %s: GET /v2/assets answered HTTP %d",
                 sym, r.status);
      rc = DTO_EIO;
    } else if (!rc &&
               alpaca_asset_parse(r.body, r.len, &t->assets[i], e2, sizeof e2)) {
      dto_seterr(err, cap, "instrument %s: the asset cannot be read: %s", sym,
                 e2);
      rc = DTO_EPARSE;
    } else if (rc) {
      dto_seterr(err, cap, "instrument %s: %s", sym, e2);
    }
    http_response_release(&r);
    if (rc)
      return rc;
  }
  return 0;
}

int alpaca_trader_start(alpaca_trader *t, char *err, size_t cap) {
  int rc = read_assets(t, err, cap);
  if (rc)
    return rc;
  rc = stream_connect(t, err, cap);
  if (rc)
    return rc;
  if (pthread_create(&t->th, NULL, trader_main, t)) {
    dto_seterr(err, cap, "cannot start the Alpaca trading thread");
    return DTO_ENOMEM;
  }
  t->started = true;
  return 0;
}

void alpaca_trader_free(alpaca_trader *t) {
  if (!t)
    return;
  bridge_set_wake(t->b, NULL, NULL);
  atomic_store(&t->stop, true);
  wake_trader(t);
  if (t->started)
    pthread_join(t->th, NULL);
  set_stream(t, NULL);
  http_client_free(t->http);
  http_client_free(t->qhttp);
  alpaca_exec_seen_free(t->seen);
  free(t->assets);
  free(t->map.v);
  free(t->map.by_cloid);
  free(t->map.by_aid);
  dbuf_release(&t->msg);
  pthread_mutex_destroy(&t->mu);
  pthread_mutex_destroy(&t->seen_mu);
  pthread_mutex_destroy(&t->stream_mu);
  alpaca_conf_wipe(&t->conf);
  free(t);
}

void alpaca_trader_know(alpaca_trader *t, const order *o) {
  omap_entry *x = omap_add(&t->map, o->id, o->cloid);
  x->known = true;
  x->role = o->role;
  x->peer = o->peer;
  x->working = !order_is_terminal(o->state);
}

void alpaca_trader_ask_reconcile(alpaca_trader *t) {
  atomic_store(&t->want, true);
  wake_trader(t);
}

void alpaca_trader_resume(alpaca_trader *t) { atomic_store(&t->resume, true); }

void alpaca_trader_latency(alpaca_trader *t, mhist_snap *out) {
  mhist_read(&t->lat, out);
}

void alpaca_trader_stats(alpaca_trader *t, alpaca_trade_stats *out) {
  pthread_mutex_lock(&t->mu);
  *out = t->st;
  pthread_mutex_unlock(&t->mu);
  pthread_mutex_lock(&t->stream_mu);
  out->stream_up = t->stream != NULL;
  pthread_mutex_unlock(&t->stream_mu);
}

/* ---- reconciliation queries -------------------------------------------- */

/* GET path; the parsed JSON of a 200 answer into *doc. */
static int query(alpaca_trader *t, const char *path, json_t **doc) {
  http_response r;
  memset(&r, 0, sizeof r);
  char err[512];
  *doc = NULL;
  int rc = timed(t, t->qhttp, HTTP_GET, path, NULL, &r, err, sizeof err);
  if (!rc && r.status != 200) {
    snprintf(err, sizeof err, "GET %.200s: HTTP %d", path, r.status);
    rc = DTO_EIO;
  }
  if (!rc && !(*doc = json_loadb(r.body, r.len, JSON_REJECT_DUPLICATES,
                                  NULL))) {
    snprintf(err, sizeof err, "GET %.200s: the answer is not JSON", path);
    rc = DTO_EPARSE;
  }
  http_response_release(&r);
  if (rc)
    fail_note(t, err);
  return rc;
}

int alpaca_trader_open_orders(alpaca_trader *t, broker_open_order *out,
                              size_t max, size_t *n) {
  *n = 0;
  resolve_legs(t);
  json_t *doc;
  int rc = query(t, "/v2/orders?status=open&limit=500&nested=false", &doc);
  if (rc)
    return rc;
  if (!json_is_array(doc)) {
    json_decref(doc);
    return DTO_EPARSE;
  }
  size_t i;
  json_t *v;
  json_array_foreach(doc, i, v) {
    alpaca_order ao;
    broker_open_order bo;
    char err[256];
    if (alpaca_order_from_json(v, "", &ao, err, sizeof err) ||
        alpaca_order_to_open(&ao, &bo, err, sizeof err)) {
      fail_note(t, err);
      rc = DTO_EPARSE;
      break;
    }
    bo.sym = instruments_find(t->ins, ao.symbol);
    if (bo.sym == SYM_NONE)
      continue; /* not an instrument of dto's */
    const omap_entry *x = omap_find(&t->map, ao.client_order_id, false);
    if (!x && (x = omap_find(&t->map, ao.id, true)))
      memcpy(bo.cloid, x->cloid, sizeof bo.cloid); /* an oco's stop leg */
    if (*n < max)
      out[*n] = bo;
    (*n)++;
  }
  json_decref(doc);
  return rc ? rc : *n > max ? DTO_EFULL : 0;
}

int alpaca_trader_positions(alpaca_trader *t, broker_position *out,
                            size_t max, size_t *n) {
  *n = 0;
  json_t *doc;
  int rc = query(t, "/v2/positions", &doc);
  if (rc)
    return rc;
  if (!json_is_array(doc)) {
    json_decref(doc);
    return DTO_EPARSE;
  }
  size_t i;
  json_t *v;
  json_array_foreach(doc, i, v) {
    /* only what reconciliation compares: the symbol and the signed
     * quantity (a price with 9 decimals elsewhere in the answer, which
     * fixed point cannot hold, must not stop trading) */
    const char *symbol = json_string_value(json_object_get(v, "symbol"));
    char err[256];
    fx qty;
    if (!symbol) {
      snprintf(err, sizeof err, "GET /v2/positions: [%zu].symbol: missing "
                                "or not a string", i);
      fail_note(t, err);
      rc = DTO_EPARSE;
      break;
    }
    char what[96];
    snprintf(what, sizeof what, "GET /v2/positions: %.40s.qty", symbol);
    if ((rc = alpaca_json_fx(json_object_get(v, "qty"), false, what, &qty,
                             err, sizeof err))) {
      fail_note(t, err);
      break;
    }
    const char *side = json_string_value(json_object_get(v, "side"));
    if (side && !strcmp(side, "short") && qty > 0)
      qty = -qty; /* Alpaca's qty is signed; a side says it too */
    sym_id sym = instruments_find(t->ins, symbol);
    if (sym == SYM_NONE)
      continue;
    if (*n < max) {
      out[*n].sym = sym;
      out[*n].qty = qty; /* signed: short is negative */
    }
    (*n)++;
  }
  json_decref(doc);
  return rc ? rc : *n > max ? DTO_EFULL : 0;
}

int alpaca_trader_fills_since(alpaca_trader *t, dto_time since,
                              broker_fill *out, size_t max, size_t *n) {
  *n = 0;
  char after[48], path[512];
  time_format(since, after, sizeof after);
  /* Activities name the order by Alpaca's id only: the map has the ids of
   * the orders this process sent or looked up; others (after a restart)
   * are asked for one by one, once. */
  resolve_legs(t); /* a stop leg's fills name the leg */
  json_t *ids = json_object();
  char token[ALPACA_ID_MAX] = "";
  int rc = 0;
  for (int page = 0; page < 1000 && !rc; page++) {
    snprintf(path, sizeof path,
             "/v2/account/activities/FILL?direction=asc&page_size=100&"
             "after=%s%s%s",
             after, token[0] ? "&page_token=" : "", token);
    json_t *doc;
    if ((rc = query(t, path, &doc)))
      break;
    if (!json_is_array(doc)) {
      json_decref(doc);
      rc = DTO_EPARSE;
      break;
    }
    size_t cnt = json_array_size(doc), i;
    json_t *v;
    json_array_foreach(doc, i, v) {
      alpaca_fill_activity fa;
      char err[256];
      if (alpaca_fill_activity_from_json(v, &fa, err, sizeof err)) {
        fail_note(t, err);
        rc = DTO_EPARSE;
        break;
      }
      snprintf(token, sizeof token, "%s", fa.id);
      const char *cloid = NULL;
      omap_entry *x = omap_find(&t->map, fa.order_id, true);
      if (x)
        cloid = x->cloid;
      else if (!(cloid = json_string_value(json_object_get(ids, fa.order_id)))) {
        json_t *od;
        snprintf(path, sizeof path, "/v2/orders/%s", fa.order_id);
        if ((rc = query(t, path, &od)))
          break;
        json_t *c = json_object_get(od, "client_order_id");
        json_object_set_new(ids, fa.order_id,
                            json_string(json_is_string(c) ? json_string_value(c)
                                                          : ""));
        json_decref(od);
        cloid = json_string_value(json_object_get(ids, fa.order_id));
      }
      char acc[CLOID_MAX], strat[CLOID_MAX];
      int64_t day;
      uint32_t seq;
      /* dto's orders only: its client order ids have one exact shape */
      if (!cloid || cloid_parse(cloid, acc, sizeof acc, strat, sizeof strat,
                                &day, &seq))
        continue;
      /* the stream will not count it again: an activity's id is
       * "time::execution id" */
      const char *sep = strstr(fa.id, "::");
      if (sep && sep[2]) {
        pthread_mutex_lock(&t->seen_mu);
        (void)alpaca_exec_seen_check(t->seen, sep + 2);
        pthread_mutex_unlock(&t->seen_mu);
      }
      if (*n < max) {
        snprintf(out[*n].cloid, sizeof out[*n].cloid, "%s", cloid);
        out[*n].qty = fa.qty;
        out[*n].price = fa.price;
        out[*n].ts = fa.transaction_time;
      }
      (*n)++;
    }
    json_decref(doc);
    if (cnt < 100)
      break;
  }
  json_decref(ids);
  return rc ? rc : *n > max ? DTO_EFULL : 0;
}

/* ---- the engine's broker table ------------------------------------------- */

static int ab_submit(void *ctx, const order *o) {
  alpaca_trader *t = ctx;
  return bridge_broker_ops.submit(t->b, o);
}
static int ab_cancel(void *ctx, order_id id) {
  alpaca_trader *t = ctx;
  return bridge_broker_ops.cancel(t->b, id);
}
static int ab_replace(void *ctx, order_id old, const order *nw) {
  alpaca_trader *t = ctx;
  return bridge_broker_ops.replace(t->b, old, nw);
}
static size_t ab_poll(void *ctx, broker_report *out, size_t max) {
  alpaca_trader *t = ctx;
  return bridge_broker_ops.poll(t->b, out, max);
}
static bool ab_idle_bars(void *ctx) {
  (void)ctx;
  return false; /* Alpaca's market is its own */
}
static int ab_open_orders(void *ctx, broker_open_order *out, size_t max,
                          size_t *n) {
  return alpaca_trader_open_orders(ctx, out, max, n);
}
static int ab_positions(void *ctx, broker_position *out, size_t max,
                        size_t *n) {
  return alpaca_trader_positions(ctx, out, max, n);
}
static int ab_fills_since(void *ctx, dto_time since, broker_fill *out,
                          size_t max, size_t *n) {
  return alpaca_trader_fills_since(ctx, since, out, max, n);
}

const broker_ops alpaca_broker_ops = {
    .name = "alpaca",
    .submit = ab_submit,
    .cancel = ab_cancel,
    .replace = ab_replace,
    .poll = ab_poll,
    .sync_reports = false,
    .needs_idle_bars = ab_idle_bars,
    .open_orders = ab_open_orders,
    .positions = ab_positions,
    .fills_since = ab_fills_since,
};

void alpaca_trader_drain(alpaca_trader *t, int64_t timeout_ns) {
  if (!t || !t->started)
    return;
  atomic_store(&t->draining, true);
  bridge_close(t->b); /* the thread ends once the requests are out */
  wake_trader(t);
  int64_t end = clock_mono_ns() + timeout_ns;
  while (!atomic_load(&t->done) && clock_mono_ns() < end) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&t->stop, true);
  wake_trader(t);
  pthread_join(t->th, NULL);
  t->started = false;
}
