/* journal.c - the journal writer thread: a bounded queue and group commit.
 *
 * Puts copy items into `pend` (a compact item list plus a byte arena) under
 * the journal's mutex and return a ticket.  The writer swaps `pend` with its
 * own empty `fly` buffer, so producers keep appending while it writes, and
 * commits `fly` in chunks of at most max_batch items, one store transaction
 * per chunk.  A failed chunk stays in `fly` and is retried, the same items
 * in the same order, after a back-off.  See docs/internals/journal.md.
 *
 * This file does not interpret the rows; it only moves them to the store.
 */
#include "store/journal.h"

#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"

#define DEF_MAX_BATCH 4096
#define DEF_QUEUE_MAX 65536
#define DEF_QUEUE_BYTES ((size_t)64 << 20)
#define MIN_QUEUE_BYTES ((size_t)1 << 20)
#define DEF_INTERVAL_MS 2
#define DEF_BACKOFF_MIN_MS 10
#define DEF_BACKOFF_MAX_MS 1000
#define DEF_CLOSE_MS 5000
/* A buffer this large is freed when it empties, so a burst does not keep
 * its memory for the life of the process. */
#define SHRINK_BYTES ((size_t)8 << 20)
#define SHRINK_ITEMS ((size_t)1 << 16)
#define ALIGN 16 /* arena offsets: any row struct may live there */

enum kind {
  K_EVENT,
  K_ORDER,
  K_FILL,
  K_POSITION,
  K_PNL,
  K_RISK,
  K_SNAPSHOT, /* a checkpoint; in stepped mode it ends a step */
  K_COUNT
};

/* A snapshot in the arena: this header, then the blob. */
typedef struct snap_hdr {
  int64_t seq;
  dto_time time;
  size_t len;
} snap_hdr;

/* Snapshots kept in the store (older ones are pruned every PRUNE_EVERY). */
#define SNAP_KEEP 2
#define PRUNE_EVERY 64

/* One queued item: its kind and where its bytes are in the arena. */
typedef struct item {
  uint32_t kind;
  uint32_t size; /* arena bytes, aligned */
  size_t off;
} item;

/* An event in the arena: this header, then type, account and strategy
 * (each NUL-terminated), then the payload bytes and a NUL. */
typedef struct ev_hdr {
  dto_time time;
  size_t payload_len;
  uint16_t type_len, account_len, strategy_len;
} ev_hdr;

_Static_assert(STORE_EVENT_TYPE_MAX <= UINT16_MAX && STORE_ID_MAX <= UINT16_MAX,
               "event header lengths are 16-bit");
_Static_assert(STORE_PAYLOAD_MAX < UINT32_MAX / 2, "item sizes are 32-bit");

typedef struct qbuf {
  item *items;
  size_t n, cap;
  unsigned char *bytes;
  size_t blen, bcap;
  uint64_t first; /* the ticket of items[0] */
  size_t done;    /* items committed (fly only) */
} qbuf;

struct journal {
  store *s; /* owned; used by the writer thread only */
  journal_options o;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t work; /* the writer waits here */
  pthread_cond_t done; /* barriers and close wait here */
  pthread_cond_t room; /* puts wait here for room */

  /* guarded by mu */
  qbuf pend;
  uint64_t next;       /* the next ticket */
  uint64_t durable;    /* every ticket up to this one is committed */
  uint64_t want;       /* the highest ticket a barrier waits for */
  int64_t pend_since;  /* clock_mono_ns() when pend turned non-empty */
  size_t queued;       /* items put and not yet durable */
  size_t queued_bytes; /* their arena bytes */
  int err;             /* 0: healthy */
  char msg[STORE_ERR_MAX];
  int64_t last_seq;
  bool closing; /* close has been asked: flush without waiting */
  bool abandon; /* close's time ran out: stop now */
  int put_waiters;
  journal_state_fn hook;
  void *hook_ctx;
  journal_stats st;
  int64_t lat_min[2], lat_max[2]; /* longest batch per minute (mono) */
  /* stepped mode: pend's items up to and including its last snapshot, and
   * that snapshot's ticket (0: none yet) */
  size_t pend_steps;
  uint64_t step_ticket;

  /* the writer's own */
  qbuf fly;
  store_event *evs; /* evcap entries */
  size_t evcap;
  uint64_t snaps_written;
  int gone; /* the store was deleted or replaced: sticky, nothing commits */
};

/* Items the writer may take from pend: all of them, or in stepped mode
 * only whole steps. */
static size_t takeable(const journal *j) {
  return j->o.stepped ? j->pend_steps : j->pend.n;
}

/* ---- small helpers ----------------------------------------------------- */

static void refuse(journal_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(journal_err *err, int code, const char *fmt, ...) {
  if (!err)
    return;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
}

/* Wait on c until the monotonic time until_ns (< 0: no limit). */
static void wait_until(pthread_cond_t *c, pthread_mutex_t *mu,
                       int64_t until_ns) {
  if (until_ns < 0) {
    pthread_cond_wait(c, mu);
    return;
  }
  struct timespec ts = {.tv_sec = (time_t)(until_ns / DTO_NS_PER_SEC),
                        .tv_nsec = (long)(until_ns % DTO_NS_PER_SEC)};
  pthread_cond_timedwait(c, mu, &ts);
}

static int64_t after_ms(int ms) {
  return clock_mono_ns() + (int64_t)ms * 1000000;
}

/* ---- checks (the store's rules, applied at put time) -------------------- */

static bool utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
      len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
      len = 4, min = 0x10000;
    else
      return false;
    if (n - i < len)
      return false;
    unsigned cp = c & (0xFFu >> (len + 1));
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

static int check_bytes(const char *what, const char *s, size_t n, size_t max,
                       journal_err *err) {
  if (n > max) {
    refuse(err, DTO_ETOOBIG, "%s: %zu bytes, at most %zu allowed", what, n,
           max);
    return DTO_ETOOBIG;
  }
  if (n && memchr(s, '\0', n)) {
    refuse(err, DTO_EINVAL, "%s: contains a NUL byte", what);
    return DTO_EINVAL;
  }
  if (!utf8_valid((const unsigned char *)s, n)) {
    refuse(err, DTO_EINVAL, "%s: not valid UTF-8", what);
    return DTO_EINVAL;
  }
  return 0;
}

/* A NUL-terminated string (NULL counts as ""); its length goes to *len. */
static int check_str(const char *what, const char *s, size_t max, bool required,
                     size_t *len, journal_err *err) {
  size_t n = s ? strnlen(s, max + 1) : 0;
  if (n > max) {
    refuse(err, DTO_ETOOBIG, "%s: longer than %zu bytes", what, max);
    return DTO_ETOOBIG;
  }
  if (required && n == 0) {
    refuse(err, DTO_EINVAL, "%s: must not be empty", what);
    return DTO_EINVAL;
  }
  if (len)
    *len = n;
  return check_bytes(what, s, n, max, err);
}

/* A char array field of a row: NUL-terminated within the array. */
static int check_arr(const char *what, const char *a, size_t size,
                     bool required, journal_err *err) {
  if (!memchr(a, '\0', size)) {
    refuse(err, DTO_ETOOBIG, "%s: longer than %zu bytes", what, size - 1);
    return DTO_ETOOBIG;
  }
  return check_str(what, a, size - 1, required, NULL, err);
}

#define ARR(row, field, required)                                              \
  check_arr(#row "." #field, (row)->field, sizeof((row)->field), required, err)

static int check_order(const store_order *o, journal_err *err) {
  int rc;
  if ((rc = ARR(o, cloid, true)) || (rc = ARR(o, broker_id, false)) ||
      (rc = ARR(o, account, true)) || (rc = ARR(o, strategy, false)) ||
      (rc = ARR(o, symbol, true)) || (rc = ARR(o, side, true)) ||
      (rc = ARR(o, type, true)) || (rc = ARR(o, tif, true)) ||
      (rc = ARR(o, state, true)))
    return rc;
  return 0;
}

static int check_fill(const store_fill *f, journal_err *err) {
  int rc;
  if ((rc = ARR(f, fill_id, true)) || (rc = ARR(f, cloid, true)))
    return rc;
  return 0;
}

static int check_position(const store_position *p, journal_err *err) {
  int rc;
  if ((rc = ARR(p, account, true)) || (rc = ARR(p, strategy, false)) ||
      (rc = ARR(p, symbol, true)))
    return rc;
  return 0;
}

static int check_pnl(const store_daily_pnl *d, journal_err *err) {
  int rc;
  if ((rc = ARR(d, account, true)) || (rc = ARR(d, strategy, false)))
    return rc;
  int y = d->day / 10000, m = d->day / 100 % 100, dd = d->day % 100;
  if (y < 1900 || y > 9999 || m < 1 || m > 12 || dd < 1 || dd > 31) {
    refuse(err, DTO_EINVAL, "d.day: %ld is not a YYYYMMDD date", (long)d->day);
    return DTO_EINVAL;
  }
  return 0;
}

static int check_risk(const store_risk_decision *r, journal_err *err) {
  int rc;
  if ((rc = ARR(r, account, true)) || (rc = ARR(r, strategy, false)) ||
      (rc = ARR(r, cloid, false)) || (rc = ARR(r, symbol, false)) ||
      (rc = ARR(r, check, false)) || (rc = ARR(r, reason, false)))
    return rc;
  return 0;
}

/* ---- puts ---------------------------------------------------------------- */

static size_t align_up(size_t n) {
  return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

/* Take the lock, wait for room for size bytes and reserve them: returns the
 * destination in the arena with the lock held, or NULL (lock released,
 * *err filled) when the put is refused. */
static unsigned char *reserve(journal *j, enum kind k, size_t size,
                              journal_err *err) {
  size = align_up(size);
  pthread_mutex_lock(&j->mu);
  int64_t until = -1;
  while (j->queued + 1 > (size_t)j->o.queue_max ||
         j->queued_bytes + size > j->o.queue_bytes_max) {
    if (j->err) {
      j->st.refused++;
      refuse(err, DTO_EAGAIN,
             "journal: queue full (%zu items, %zu bytes not yet durable) "
             "while the store is failing: %s",
             j->queued, j->queued_bytes, j->msg);
      pthread_mutex_unlock(&j->mu);
      return NULL;
    }
    if (j->o.put_wait_ms > 0) {
      if (until < 0)
        until = after_ms(j->o.put_wait_ms);
      else if (clock_mono_ns() >= until) {
        j->st.refused++;
        refuse(err, DTO_EAGAIN,
               "journal: queue full (%zu items, %zu bytes not yet durable) "
               "for %d ms",
               j->queued, j->queued_bytes, j->o.put_wait_ms);
        pthread_mutex_unlock(&j->mu);
        return NULL;
      }
    }
    j->put_waiters++;
    wait_until(&j->room, &j->mu, until);
    j->put_waiters--;
  }
  qbuf *q = &j->pend;
  if (q->n == 0) {
    q->first = j->next;
    j->pend_since = clock_mono_ns();
  }
  q->items = xgrow(q->items, &q->cap, q->n + 1, sizeof *q->items);
  q->bytes = xgrow(q->bytes, &q->bcap, q->blen + size, 1);
  q->items[q->n] =
      (item){.kind = (uint32_t)k, .size = (uint32_t)size, .off = q->blen};
  unsigned char *dst = q->bytes + q->blen;
  return dst;
}

/* Finish a put reserved by reserve(): count it, wake the writer when it
 * has a reason to look, release the lock.  Returns the ticket. */
static uint64_t publish(journal *j) {
  qbuf *q = &j->pend;
  size_t size = q->items[q->n].size;
  q->blen += size;
  q->n++;
  j->queued++;
  j->queued_bytes += size;
  uint64_t t = j->next++;
  j->st.put = t;
  if (q->items[q->n - 1].kind == K_SNAPSHOT) {
    j->pend_steps = q->n;
    j->step_ticket = t;
    if (j->o.stepped) /* a whole step to take */
      pthread_cond_signal(&j->work);
  }
  /* The writer sleeps without a timer while nothing is queued, and until
   * the commit interval otherwise: wake it for a first item and for a full
   * batch. */
  if (q->n == 1 || q->n == (size_t)j->o.max_batch)
    pthread_cond_signal(&j->work);
  pthread_mutex_unlock(&j->mu);
  return t;
}

uint64_t journal_put_event(journal *j, const store_event *ev,
                           journal_err *err) {
  size_t tl, al, sl;
  if (!ev) {
    refuse(err, DTO_EINVAL, "event: NULL");
    return 0;
  }
  if (check_str("event.type", ev->type, STORE_EVENT_TYPE_MAX, true, &tl, err) ||
      check_str("event.account", ev->account, STORE_ID_MAX, false, &al, err) ||
      check_str("event.strategy", ev->strategy, STORE_ID_MAX, false, &sl, err))
    return 0;
  if (!ev->payload && ev->payload_len) {
    refuse(err, DTO_EINVAL, "event.payload: NULL with a length");
    return 0;
  }
  if (check_bytes("event.payload", ev->payload, ev->payload_len,
                  STORE_PAYLOAD_MAX, err))
    return 0;
  size_t size = sizeof(ev_hdr) + tl + al + sl + 3 + ev->payload_len + 1;
  unsigned char *p = reserve(j, K_EVENT, size, err);
  if (!p)
    return 0;
  ev_hdr h = {.time = ev->time,
              .payload_len = ev->payload_len,
              .type_len = (uint16_t)tl,
              .account_len = (uint16_t)al,
              .strategy_len = (uint16_t)sl};
  memcpy(p, &h, sizeof h);
  p += sizeof h;
  memcpy(p, ev->type, tl);
  p[tl] = '\0';
  p += tl + 1;
  if (al)
    memcpy(p, ev->account, al);
  p[al] = '\0';
  p += al + 1;
  if (sl)
    memcpy(p, ev->strategy, sl);
  p[sl] = '\0';
  p += sl + 1;
  if (ev->payload_len)
    memcpy(p, ev->payload, ev->payload_len);
  p[ev->payload_len] = '\0';
  return publish(j);
}

/* Put a row struct copied as it is. */
static uint64_t put_row(journal *j, enum kind k, const void *row, size_t size,
                        journal_err *err) {
  unsigned char *p = reserve(j, k, size, err);
  if (!p)
    return 0;
  memcpy(p, row, size);
  return publish(j);
}

#define PUT_ROW(kind, what, row, check)                                        \
  do {                                                                         \
    if (!(row)) {                                                              \
      refuse(err, DTO_EINVAL, what ": NULL");                                  \
      return 0;                                                                \
    }                                                                          \
    if (check((row), err))                                                     \
      return 0;                                                                \
    return put_row(j, kind, (row), sizeof *(row), err);                        \
  } while (0)

uint64_t journal_put_order(journal *j, const store_order *o, journal_err *err) {
  PUT_ROW(K_ORDER, "order", o, check_order);
}

uint64_t journal_put_fill(journal *j, const store_fill *f, journal_err *err) {
  PUT_ROW(K_FILL, "fill", f, check_fill);
}

uint64_t journal_put_position(journal *j, const store_position *p,
                              journal_err *err) {
  PUT_ROW(K_POSITION, "position", p, check_position);
}

uint64_t journal_put_daily_pnl(journal *j, const store_daily_pnl *d,
                               journal_err *err) {
  PUT_ROW(K_PNL, "daily_pnl", d, check_pnl);
}

uint64_t journal_put_risk(journal *j, const store_risk_decision *r,
                          journal_err *err) {
  PUT_ROW(K_RISK, "risk_decision", r, check_risk);
}

uint64_t journal_put_snapshot(journal *j, int64_t seq, dto_time time,
                              const void *blob, size_t len, journal_err *err) {
  if (!blob || len == 0 || len > STORE_SNAPSHOT_MAX) {
    refuse(err, len > STORE_SNAPSHOT_MAX ? DTO_ETOOBIG : DTO_EINVAL,
           "snapshot: %s", len ? "larger than the store takes" : "empty");
    return 0;
  }
  if (seq <= 0) {
    refuse(err, DTO_EINVAL, "snapshot.seq: must be positive");
    return 0;
  }
  unsigned char *p = reserve(j, K_SNAPSHOT, sizeof(snap_hdr) + len, err);
  if (!p)
    return 0;
  snap_hdr h = {.seq = seq, .time = time, .len = len};
  memcpy(p, &h, sizeof h);
  memcpy(p + sizeof h, blob, len);
  return publish(j);
}

/* ---- the writer ---------------------------------------------------------- */

/* The store events of fly's items [from, to), into j->evs; returns how
 * many.  They point into fly's arena, which only the writer changes. */
static size_t chunk_events(journal *j, size_t from, size_t to) {
  size_t n = 0;
  if (to - from > j->evcap) /* a step larger than max_batch */
    j->evs = xgrow(j->evs, &j->evcap, to - from, sizeof *j->evs);
  for (size_t i = from; i < to; i++) {
    const item *it = &j->fly.items[i];
    if (it->kind != K_EVENT)
      continue;
    const unsigned char *p = j->fly.bytes + it->off;
    ev_hdr h;
    memcpy(&h, p, sizeof h);
    const char *type = (const char *)p + sizeof h;
    const char *account = type + h.type_len + 1;
    const char *strategy = account + h.account_len + 1;
    const char *payload = strategy + h.strategy_len + 1;
    j->evs[n++] = (store_event){.time = h.time,
                                .type = type,
                                .account = account,
                                .strategy = strategy,
                                .payload = payload,
                                .payload_len = h.payload_len};
  }
  return n;
}

/* Write fly's items [from, to) (nev events already in j->evs) in one
 * transaction.  *at_commit is set when the commit itself failed (the
 * outcome may then be unknown to the database's client). */
static int write_chunk(journal *j, size_t from, size_t to, size_t nev,
                       int64_t *last_seq, bool *at_commit, char *msg,
                       size_t cap) {
  store *s = j->s;
  *at_commit = false;
  int rc = store_begin(s);
  if (rc) {
    store_errmsg(s, msg, cap);
    return rc;
  }
  for (size_t k = 0; k < nev && rc == 0; k += STORE_APPEND_MAX) {
    size_t m = nev - k < STORE_APPEND_MAX ? nev - k : STORE_APPEND_MAX;
    rc = store_append(s, j->evs + k, m, last_seq);
  }
  for (size_t i = from; i < to && rc == 0; i++) {
    const item *it = &j->fly.items[i];
    const void *row = j->fly.bytes + it->off;
    switch ((enum kind)it->kind) {
    case K_EVENT:
      break;
    case K_ORDER:
      rc = store_upsert_order(s, row);
      break;
    case K_FILL:
      rc = store_insert_fill(s, row, NULL);
      break;
    case K_POSITION:
      rc = store_upsert_position(s, row);
      break;
    case K_PNL:
      rc = store_upsert_daily_pnl(s, row);
      break;
    case K_RISK:
      rc = store_insert_risk_decision(s, row);
      break;
    case K_SNAPSHOT: {
      snap_hdr h;
      memcpy(&h, row, sizeof h);
      rc = store_snapshot_put(s, h.seq, h.time,
                              (const unsigned char *)row + sizeof h, h.len);
      if (rc == 0 && ++j->snaps_written % PRUNE_EVERY == 0)
        rc = store_snapshot_prune(s, SNAP_KEEP, NULL);
      break;
    }
    case K_COUNT:
      DTO_ASSERT(!"bad item kind");
    }
  }
  if (rc) {
    store_errmsg(s, msg, cap); /* before rollback can replace it */
    store_rollback(s); /* its own failure changes nothing: retried anyway */
    return rc;
  }
  rc = store_commit(s);
  if (rc) {
    *at_commit = true;
    store_errmsg(s, msg, cap);
  }
  return rc;
}

const int64_t JOURNAL_LAT_BOUNDS[JOURNAL_LAT_N] = {
    500000LL,    1000000LL,    2500000LL,   5000000LL,  10000000LL,
    25000000LL,  50000000LL,   100000000LL, 250000000LL, 500000000LL,
    1000000000LL, 2500000000LL, 5000000000LL, 10000000000LL};

/* A batch written in ns (the writer thread; takes j->mu). */
static void note_latency(journal *j, int64_t ns) {
  int b = 0;
  while (b < JOURNAL_LAT_N && ns > JOURNAL_LAT_BOUNDS[b])
    b++;
  int64_t minute = clock_mono_ns() / DTO_NS_PER_MIN;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  pthread_mutex_lock(&j->mu);
  j->st.lat_counts[b]++;
  j->st.lat_sum_ns += ns;
  j->st.last_commit = (dto_time)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
  int k = (int)(minute & 1);
  if (j->lat_min[k] != minute) {
    j->lat_min[k] = minute;
    j->lat_max[k] = 0;
  }
  if (ns > j->lat_max[k])
    j->lat_max[k] = ns;
  pthread_mutex_unlock(&j->mu);
}

/* After a failed commit: did it land anyway (a connection lost after the
 * server committed)?  Compares the events after base with the chunk's. */
typedef struct landed_ctx {
  const store_event *evs;
  size_t n, k;
  bool same;
  int64_t last;
} landed_ctx;

static int landed_cb(void *arg, const store_event *ev) {
  landed_ctx *c = arg;
  if (c->k >= c->n) {
    c->same = false;
    return 1;
  }
  const store_event *w = &c->evs[c->k];
  if (ev->time != w->time || strcmp(ev->type, w->type) ||
      strcmp(ev->account, w->account) || strcmp(ev->strategy, w->strategy) ||
      ev->payload_len != w->payload_len ||
      (ev->payload_len && memcmp(ev->payload, w->payload, ev->payload_len))) {
    c->same = false;
    return 1;
  }
  c->k++;
  c->last = ev->seq;
  return 0;
}

static int check_landed(journal *j, size_t nev, int64_t base, bool *landed,
                        int64_t *last) {
  landed_ctx c = {.evs = j->evs, .n = nev, .same = true};
  *landed = false;
  int rc = store_read_events(j->s, base, (int64_t)nev, landed_cb, &c);
  if (rc < 0)
    return rc;
  if (c.same && c.k == nev) {
    *landed = true;
    *last = c.last;
  }
  return 0;
}

/* Call the hook without the lock (the lock is held on entry and exit). */
static void tell(journal *j, int err, const char *msg) {
  journal_state_fn fn = j->hook;
  void *ctx = j->hook_ctx;
  if (!fn)
    return;
  char copy[STORE_ERR_MAX];
  snprintf(copy, sizeof copy, "%s", msg);
  pthread_mutex_unlock(&j->mu);
  fn(ctx, err, copy);
  pthread_mutex_lock(&j->mu);
}

static void reset_buf(qbuf *q) {
  q->n = q->blen = q->done = 0;
  if (q->bcap > SHRINK_BYTES) {
    free(q->bytes);
    q->bytes = NULL;
    q->bcap = 0;
  }
  if (q->cap > SHRINK_ITEMS) {
    free(q->items);
    q->items = NULL;
    q->cap = 0;
  }
}

/* Wait (lock held) until there is a chunk to write; false to stop. */
static bool await_work(journal *j) {
  int64_t interval = (int64_t)j->o.commit_interval_ms * 1000000;
  for (;;) {
    if (j->abandon)
      return false;
    if (j->fly.done < j->fly.n)
      return true; /* a retry, or the rest of a large take */
    if (takeable(j) == 0) {
      if (j->closing)
        return false;
      wait_until(&j->work, &j->mu, -1);
      continue;
    }
    if (j->closing || j->want >= j->pend.first ||
        takeable(j) >= (size_t)j->o.max_batch)
      break;
    int64_t due = j->pend_since + interval;
    if (clock_mono_ns() >= due)
      break;
    wait_until(&j->work, &j->mu, due);
  }
  /* Take everything queued (in stepped mode: every whole step); producers
   * go on filling the other buffer. */
  size_t take = takeable(j);
  reset_buf(&j->fly);
  qbuf t = j->fly;
  j->fly = j->pend;
  j->pend = t;
  j->pend_steps = 0;
  if (take < j->fly.n) { /* the unfinished step goes back to pend */
    qbuf *q = &j->pend, *f = &j->fly;
    q->first = f->first + take;
    for (size_t i = take; i < f->n; i++) {
      item it = f->items[i];
      q->items = xgrow(q->items, &q->cap, q->n + 1, sizeof *q->items);
      q->bytes = xgrow(q->bytes, &q->bcap, q->blen + it.size, 1);
      memcpy(q->bytes + q->blen, f->bytes + it.off, it.size);
      it.off = q->blen;
      q->blen += it.size;
      q->items[q->n++] = it;
    }
    f->n = take;
    j->pend_since = clock_mono_ns();
  }
  return true;
}

/* The end of the chunk of fly that starts at from: at most max_batch items,
 * and in stepped mode on a step's end (a step larger than max_batch is
 * one chunk: a step commits whole or not at all). */
static size_t chunk_end(const journal *j, size_t from) {
  size_t max = (size_t)j->o.max_batch;
  size_t to = j->fly.n - from > max ? from + max : j->fly.n;
  if (!j->o.stepped || to == j->fly.n)
    return to;
  for (size_t i = to; i > from; i--)
    if (j->fly.items[i - 1].kind == K_SNAPSHOT)
      return i;
  for (size_t i = to; i < j->fly.n; i++)
    if (j->fly.items[i].kind == K_SNAPSHOT)
      return i + 1;
  return j->fly.n;
}

static void *writer_main(void *arg) {
  journal *j = arg;
  bool have_base = false, verify = false;
  int64_t base = 0;
  int backoff = 0;
  pthread_mutex_lock(&j->mu);
  while (await_work(j)) {
    size_t from = j->fly.done;
    size_t to = chunk_end(j, from);
    pthread_mutex_unlock(&j->mu);

    int rc = 0;
    bool landed = false, at_commit = false;
    int64_t last = 0;
    size_t nev = chunk_events(j, from, to);
    if (!have_base && (rc = store_max_seq(j->s, &base)) == 0)
      have_base = true;
    if (rc == 0 && verify && nev)
      rc = check_landed(j, nev, base, &landed, &last);
    char msg[STORE_ERR_MAX] = "";
    if (rc)
      store_errmsg(j->s, msg, sizeof msg); /* this thread's last failure */
    else if (j->gone)
      rc = j->gone;
    else if (!landed) {
      int64_t t0 = clock_mono_ns();
      rc = write_chunk(j, from, to, nev, &last, &at_commit, msg, sizeof msg);
      if (rc == 0)
        note_latency(j, clock_mono_ns() - t0);
    }
    /* A store file deleted or replaced under us takes commits into an
     * unlinked inode: check after each one, and never acknowledge it. */
    if (rc == 0) {
      int ic = store_check_identity(j->s);
      if (ic == DTO_ESTATE) /* gone or replaced; other errors: cannot tell */
        j->gone = rc = ic;
    }
    if (j->gone)
      snprintf(msg, sizeof msg, "the store was deleted or replaced while "
                                "dto wrote to it: restore it and restart");

    pthread_mutex_lock(&j->mu);
    if (have_base && j->last_seq < base)
      j->last_seq = base;
    if (rc == 0) {
      verify = false;
      backoff = 0;
      if (nev)
        base = last;
      size_t bytes = 0;
      for (size_t i = from; i < to; i++)
        bytes += j->fly.items[i].size;
      j->fly.done = to;
      j->durable = j->fly.first + to - 1;
      j->queued -= to - from;
      j->queued_bytes -= bytes;
      if (nev)
        j->last_seq = base;
      j->st.commits++;
      if (to - from > j->st.max_batch)
        j->st.max_batch = to - from;
      pthread_cond_broadcast(&j->done);
      if (j->put_waiters)
        pthread_cond_broadcast(&j->room);
      if (j->err) {
        j->err = 0;
        j->msg[0] = '\0';
        tell(j, 0, "");
      }
      continue;
    }
    if (at_commit && nev)
      verify = true;
    j->st.failures++;
    bool was_healthy = j->err == 0;
    j->err = rc;
    snprintf(j->msg, sizeof j->msg, "%s", msg[0] ? msg : dto_strerror(rc));
    pthread_cond_broadcast(&j->done); /* barriers report the failure */
    pthread_cond_broadcast(&j->room); /* full-queue puts stop waiting */
    if (was_healthy)
      tell(j, rc, msg[0] ? msg : dto_strerror(rc));
    backoff = backoff ? backoff * 2 : j->o.backoff_min_ms;
    if (backoff > j->o.backoff_max_ms)
      backoff = j->o.backoff_max_ms;
    int64_t until = after_ms(backoff);
    while (!j->abandon && clock_mono_ns() < until)
      wait_until(&j->work, &j->mu, until);
  }
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

/* ---- life cycle and queries -----------------------------------------------
 */

static void fill_options(const journal_options *in, journal_options *o) {
  *o = in ? *in : (journal_options){0};
  if (o->max_batch <= 0)
    o->max_batch = DEF_MAX_BATCH;
  if (o->max_batch > STORE_APPEND_MAX)
    o->max_batch = STORE_APPEND_MAX;
  if (o->queue_max <= 0)
    o->queue_max = DEF_QUEUE_MAX;
  if (o->queue_max < o->max_batch)
    o->queue_max = o->max_batch;
  if (o->queue_bytes_max == 0)
    o->queue_bytes_max = DEF_QUEUE_BYTES;
  if (o->queue_bytes_max < MIN_QUEUE_BYTES)
    o->queue_bytes_max = MIN_QUEUE_BYTES;
  if (o->commit_interval_ms <= 0)
    o->commit_interval_ms = DEF_INTERVAL_MS;
  if (o->put_wait_ms < 0)
    o->put_wait_ms = 0;
  if (o->backoff_min_ms <= 0)
    o->backoff_min_ms = DEF_BACKOFF_MIN_MS;
  if (o->backoff_max_ms <= 0)
    o->backoff_max_ms = DEF_BACKOFF_MAX_MS;
  if (o->backoff_max_ms < o->backoff_min_ms)
    o->backoff_max_ms = o->backoff_min_ms;
  if (o->close_timeout_ms <= 0)
    o->close_timeout_ms = DEF_CLOSE_MS;
}

journal *journal_new(store *s, const journal_options *opt) {
  DTO_ASSERT(s != NULL);
  journal *j = xcalloc(1, sizeof *j);
  j->s = s;
  fill_options(opt, &j->o);
  j->next = 1;
  j->evs = xcalloc((size_t)j->o.max_batch, sizeof *j->evs);
  j->evcap = (size_t)j->o.max_batch;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->work, &ca);
  pthread_cond_init(&j->done, &ca);
  pthread_cond_init(&j->room, &ca);
  pthread_condattr_destroy(&ca);
  int rc = pthread_create(&j->thread, NULL, writer_main, j);
  if (rc) {
    fprintf(stderr, "dto: cannot start the journal writer thread: %s\n",
            dto_strerror(dto_from_errno(rc)));
    fflush(stderr);
    abort();
  }
  return j;
}

void journal_on_state(journal *j, journal_state_fn fn, void *ctx) {
  pthread_mutex_lock(&j->mu);
  j->hook = fn;
  j->hook_ctx = ctx;
  pthread_mutex_unlock(&j->mu);
}

int journal_barrier(journal *j, uint64_t ticket, int timeout_ms) {
  pthread_mutex_lock(&j->mu);
  int rc = 0;
  if (ticket >= j->next) {
    rc = DTO_EINVAL;
    goto out;
  }
  if (ticket <= j->durable)
    goto out;
  if (j->o.stepped && ticket > j->step_ticket) {
    rc = DTO_EINVAL; /* its step is not finished: it cannot commit yet */
    goto out;
  }
  if (ticket > j->want) {
    j->want = ticket;
    pthread_cond_signal(&j->work);
  }
  int64_t until = timeout_ms < 0 ? -1 : after_ms(timeout_ms);
  while (ticket > j->durable) {
    if (j->err) {
      rc = j->err;
      break;
    }
    if (until >= 0 && clock_mono_ns() >= until) {
      rc = DTO_EAGAIN;
      break;
    }
    wait_until(&j->done, &j->mu, until);
  }
out:
  pthread_mutex_unlock(&j->mu);
  return rc;
}

uint64_t journal_durable(journal *j) {
  pthread_mutex_lock(&j->mu);
  uint64_t d = j->durable;
  pthread_mutex_unlock(&j->mu);
  return d;
}

int64_t journal_last_seq(journal *j) {
  pthread_mutex_lock(&j->mu);
  int64_t s = j->last_seq;
  pthread_mutex_unlock(&j->mu);
  return s;
}

int journal_error(journal *j) {
  pthread_mutex_lock(&j->mu);
  int e = j->err;
  pthread_mutex_unlock(&j->mu);
  return e;
}

const char *journal_errmsg(journal *j, char *buf, size_t cap) {
  if (!cap)
    return buf;
  pthread_mutex_lock(&j->mu);
  snprintf(buf, cap, "%s", j->err ? j->msg : "");
  pthread_mutex_unlock(&j->mu);
  return buf;
}

void journal_stats_get(journal *j, journal_stats *out) {
  pthread_mutex_lock(&j->mu);
  *out = j->st;
  int64_t minute = clock_mono_ns() / DTO_NS_PER_MIN;
  out->lat_max_ns_recent = 0;
  for (int k = 0; k < 2; k++)
    if (j->lat_min[k] >= minute - 1 && j->lat_max[k] > out->lat_max_ns_recent)
      out->lat_max_ns_recent = j->lat_max[k];
  out->durable = j->durable;
  out->queued = j->queued;
  out->queued_bytes = j->queued_bytes;
  pthread_mutex_unlock(&j->mu);
}

int journal_close(journal *j) {
  if (!j)
    return 0;
  pthread_mutex_lock(&j->mu);
  j->closing = true;
  pthread_cond_signal(&j->work);
  int64_t until = after_ms(j->o.close_timeout_ms);
  /* in stepped mode an unfinished step at the end is never written */
  uint64_t last = j->o.stepped ? j->step_ticket : j->next - 1;
  while (j->durable < last && clock_mono_ns() < until)
    wait_until(&j->done, &j->mu, until);
  j->abandon = true;
  pthread_cond_signal(&j->work);
  pthread_mutex_unlock(&j->mu);
  pthread_join(j->thread, NULL);

  int rc = 0;
  if (j->durable < last)
    rc = j->err ? j->err : DTO_EAGAIN;
  store_close(j->s);
  pthread_cond_destroy(&j->work);
  pthread_cond_destroy(&j->done);
  pthread_cond_destroy(&j->room);
  pthread_mutex_destroy(&j->mu);
  free(j->pend.items);
  free(j->pend.bytes);
  free(j->fly.items);
  free(j->fly.bytes);
  free(j->evs);
  free(j);
  return rc;
}
