/* inq.c - the service's inbound queue (see inq.h, docs/internals/inq.md).
 *
 * A bounded ring of cells, each with a sequence number (Dmitry Vyukov's
 * bounded MPMC queue, used with one consumer): a cell at position pos is
 * free when its sequence is pos and full when it is pos + 1.  Producers
 * claim a position with a CAS on enq_pos; the consumer owns deq_pos.
 *
 * The ring never refuses a claimed position, because room is reserved
 * first: `count` is the number of plain events queued or being queued, and
 * a producer increments it (CAS, up to a limit that depends on the event's
 * class) before it claims a cell.  The ring has room for capacity plain
 * events plus one token per conflation slot, and a token exists only while
 * its slot is pending, so a reserved producer always finds a free cell.
 *
 * Conflation: each (instrument, bar|quote) has a slot with a small spin
 * lock, the newest value and a pending flag.  Above the high-water mark a
 * bar or quote goes into its slot and, if the slot was not pending, a token
 * naming the slot goes into the ring; while the token waits, newer values
 * overwrite the slot.  The consumer turns a token into the slot's value and
 * clears pending, both under the slot lock.
 */
#include "app/inq.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"

#define CACHE_LINE 64
#define WAIT_SPINS 64

typedef struct cell {
  _Atomic size_t seq;
  uint32_t slot; /* 0: ev holds the event; else conflation slot index + 1 */
  inq_event ev;
} cell;

typedef struct cslot {
  atomic_flag lock;
  bool pending; /* a token for this slot is in the ring */
  inq_event latest;
} cslot;

struct inq {
  /* Written by producers. */
  _Atomic size_t enq_pos;
  char pad0[CACHE_LINE - sizeof(size_t)];
  _Atomic size_t count; /* plain events reserved, not yet released */
  char pad1[CACHE_LINE - sizeof(size_t)];
  /* Written by the consumer (atomic only so stats can read it). */
  _Atomic size_t deq_pos;
  _Atomic size_t max_depth;
  _Atomic uint64_t delivered[INQ_KIND_COUNT];
  _Atomic int sleeping; /* the consumer is (about to be) in inq_wait */
  char pad2[CACHE_LINE];
  /* Slow-path counters. */
  _Atomic uint64_t conflated, waits, timeouts, wakeups;
  /* Read-only after inq_new. */
  size_t mask, capacity, high_water;
  uint32_t nsyms;
  bool conflate;
  cell *cells;
  cslot *slots; /* 2 * nsyms when conflate, else NULL */
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

static const char *const kind_names[INQ_KIND_COUNT] = {
    "bar", "trade", "quote", "report", "command", "timer"};

const char *inq_kind_name(enum inq_kind k) {
  return (unsigned)k < INQ_KIND_COUNT ? kind_names[k] : "unknown";
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

static struct timespec ns_to_ts(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ns / DTO_NS_PER_SEC);
  ts.tv_nsec = (long)(ns % DTO_NS_PER_SEC);
  return ts;
}

int inq_new(const inq_config *cfg, inq **out) {
  *out = NULL;
  if (!cfg || cfg->capacity < 2 || cfg->capacity > (SIZE_MAX >> 4))
    return DTO_EINVAL;
  size_t hw =
      cfg->high_water ? cfg->high_water : cfg->capacity - cfg->capacity / 4;
  if (hw < 1 || hw > cfg->capacity)
    return DTO_EINVAL;
  if (cfg->conflate && (cfg->nsyms == 0 || cfg->nsyms > (UINT32_MAX >> 2)))
    return DTO_EINVAL;
  size_t nslots = cfg->conflate ? (size_t)cfg->nsyms * 2 : 0;
  size_t need = cfg->capacity + nslots, size = 2;
  while (size < need)
    size <<= 1;

  inq *q = xcalloc(1, sizeof *q);
  q->mask = size - 1;
  q->capacity = cfg->capacity;
  q->high_water = hw;
  q->nsyms = cfg->nsyms;
  q->conflate = cfg->conflate;
  q->cells = xcalloc(size, sizeof *q->cells);
  for (size_t i = 0; i < size; i++)
    atomic_init(&q->cells[i].seq, i);
  if (nslots) {
    q->slots = xcalloc(nslots, sizeof *q->slots);
    for (size_t i = 0; i < nslots; i++)
      atomic_flag_clear(&q->slots[i].lock);
  }
  int err = DTO_ENOMEM;
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca))
    goto fail_attr;
  if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
      pthread_cond_init(&q->cv, &ca))
    goto fail_cond;
  if (pthread_mutex_init(&q->mu, NULL))
    goto fail_mutex;
  pthread_condattr_destroy(&ca);
  *out = q;
  return 0;

fail_mutex:
  pthread_cond_destroy(&q->cv);
fail_cond:
  pthread_condattr_destroy(&ca);
fail_attr:
  free(q->slots);
  free(q->cells);
  free(q);
  return err;
}

void inq_free(inq *q) {
  if (!q)
    return;
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
  free(q->slots);
  free(q->cells);
  free(q);
}

/* Reserve room for one plain event if fewer than limit are queued. */
static bool reserve(inq *q, size_t limit) {
  size_t c = atomic_load_explicit(&q->count, memory_order_acquire);
  while (c < limit)
    if (atomic_compare_exchange_weak_explicit(
            &q->count, &c, c + 1, memory_order_acq_rel, memory_order_acquire))
      return true;
  return false;
}

/* Claim the next cell and publish ev (or a token for slot) in it.  Room
 * was reserved, so the cell is free or about to be released by the
 * consumer; the loop only retries lost races. */
static void enqueue(inq *q, const inq_event *ev, uint32_t slot) {
  size_t pos = atomic_load_explicit(&q->enq_pos, memory_order_relaxed);
  cell *c;
  for (;;) {
    c = &q->cells[pos & q->mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    intptr_t dif = (intptr_t)seq - (intptr_t)pos;
    if (dif == 0) {
      if (atomic_compare_exchange_weak_explicit(&q->enq_pos, &pos, pos + 1,
                                                memory_order_relaxed,
                                                memory_order_relaxed))
        break;
    } else if (dif < 0) {
      /* The consumer released our room but its release of this cell is
       * not visible here yet: wait for it. */
      sched_yield();
      pos = atomic_load_explicit(&q->enq_pos, memory_order_relaxed);
    } else {
      pos = atomic_load_explicit(&q->enq_pos, memory_order_relaxed);
    }
  }
  c->slot = slot;
  if (!slot)
    c->ev = *ev;
  atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
  /* Pairs with the fence in inq_wait: either the consumer sees this cell,
   * or we see that it sleeps and wake it. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&q->sleeping, memory_order_relaxed) &&
      atomic_exchange_explicit(&q->sleeping, 0, memory_order_relaxed)) {
    /* One producer wakes it; the others see 0 and skip the mutex.  The
     * consumer sets the flag again before each check, under the mutex,
     * so a signal sent here cannot fall between its check and its wait. */
    /* Taking the mutex orders this wake-up after the consumer's check
     * (it holds the mutex from setting the flag until it waits); the
     * signal itself comes after the unlock, so the woken consumer does not
     * block again at once on a mutex the producer still holds. */
    pthread_mutex_lock(&q->mu);
    pthread_mutex_unlock(&q->mu);
    pthread_cond_signal(&q->cv);
    atomic_fetch_add_explicit(&q->wakeups, 1, memory_order_relaxed);
  }
}

static void slot_lock(cslot *s) {
  unsigned spins = 0;
  while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire))
    if (++spins > 64)
      sched_yield();
}

static void slot_unlock(cslot *s) {
  atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

static int push_conflated(inq *q, const inq_event *ev) {
  sym_id sym = ev->kind == INQ_BAR ? ev->u.bar.sym : ev->u.quote.sym;
  if (sym >= q->nsyms)
    return DTO_EINVAL;
  size_t idx = (size_t)sym * 2 + (ev->kind == INQ_QUOTE);
  cslot *s = &q->slots[idx];
  slot_lock(s);
  if (s->pending) {
    s->latest = *ev;
    slot_unlock(s);
    atomic_fetch_add_explicit(&q->conflated, 1, memory_order_relaxed);
    return 0;
  }
  /* Under the slot lock, so that an instrument's events keep their order
   * even when several threads push it. */
  if (reserve(q, q->high_water)) {
    enqueue(q, ev, 0);
  } else {
    s->latest = *ev;
    s->pending = true;
    enqueue(q, NULL, (uint32_t)idx + 1);
  }
  slot_unlock(s);
  return 0;
}

int inq_push(inq *q, const inq_event *ev, int64_t timeout_ns) {
  if ((unsigned)ev->kind >= INQ_KIND_COUNT)
    return DTO_EINVAL;
  if (q->conflate && (ev->kind == INQ_BAR || ev->kind == INQ_QUOTE))
    return push_conflated(q, ev);
  bool market =
      ev->kind == INQ_BAR || ev->kind == INQ_QUOTE || ev->kind == INQ_TRADE;
  size_t limit = market ? q->high_water : q->capacity;
  if (!reserve(q, limit)) {
    if (timeout_ns <= 0) {
      atomic_fetch_add_explicit(&q->timeouts, 1, memory_order_relaxed);
      return DTO_EAGAIN;
    }
    atomic_fetch_add_explicit(&q->waits, 1, memory_order_relaxed);
    int64_t deadline = mono_ns() + timeout_ns;
    for (unsigned i = 0;; i++) {
      int64_t left = deadline - mono_ns();
      if (left <= 0) {
        atomic_fetch_add_explicit(&q->timeouts, 1, memory_order_relaxed);
        return DTO_EAGAIN;
      }
      if (i < 16) {
        sched_yield();
      } else {
        /* 1 us doubling to 1 ms: a full queue means the engine lags by
         * far more than that, so finer sleeps would only burn a core. */
        int64_t nap = (int64_t)1000 << (i - 16 < 10 ? i - 16 : 10);
        struct timespec ts = ns_to_ts(nap < left ? nap : left);
        nanosleep(&ts, NULL);
      }
      if (reserve(q, limit))
        break;
    }
  }
  enqueue(q, ev, 0);
  return 0;
}

size_t inq_pop_batch(inq *q, inq_event *out, size_t max) {
  size_t pos = atomic_load_explicit(&q->deq_pos, memory_order_relaxed);
  size_t depth = atomic_load_explicit(&q->enq_pos, memory_order_relaxed) - pos;
  if (depth > atomic_load_explicit(&q->max_depth, memory_order_relaxed))
    atomic_store_explicit(&q->max_depth, depth, memory_order_relaxed);
  uint64_t kinds[INQ_KIND_COUNT] = {0};
  size_t n = 0, plain = 0;
  while (n < max) {
    cell *c = &q->cells[pos & q->mask];
    if (atomic_load_explicit(&c->seq, memory_order_acquire) != pos + 1)
      break;
    uint32_t slot = c->slot;
    if (!slot) {
      out[n] = c->ev;
      plain++;
    }
    atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
    pos++;
    if (slot) {
      cslot *s = &q->slots[slot - 1];
      slot_lock(s);
      out[n] = s->latest;
      s->pending = false;
      slot_unlock(s);
    }
    kinds[out[n].kind]++;
    n++;
  }
  if (!n)
    return 0;
  atomic_store_explicit(&q->deq_pos, pos, memory_order_relaxed);
  if (plain)
    atomic_fetch_sub_explicit(&q->count, plain, memory_order_release);
  for (int k = 0; k < INQ_KIND_COUNT; k++)
    if (kinds[k])
      atomic_fetch_add_explicit(&q->delivered[k], kinds[k],
                                memory_order_relaxed);
  return n;
}

static bool ready(inq *q) {
  size_t pos = atomic_load_explicit(&q->deq_pos, memory_order_relaxed);
  return atomic_load_explicit(&q->cells[pos & q->mask].seq,
                              memory_order_acquire) == pos + 1;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

int inq_wait(inq *q, int64_t timeout_ns) {
  return inq_wait_spin(q, 0, timeout_ns);
}

int inq_wait_spin(inq *q, int64_t spin_ns, int64_t timeout_ns) {
  /* Spin a little first (about a microsecond): an engine that falls asleep
   * between two events of a burst costs every producer a system call. */
  for (int i = 0; i < WAIT_SPINS; i++) {
    if (ready(q))
      return 0;
    cpu_relax();
  }
  /* then, when asked, up to spin_ns more: a waking thread costs several
   * microseconds, more than the engine's whole work for an event */
  if (spin_ns > 0) {
    int64_t until = mono_ns() + (spin_ns < timeout_ns ? spin_ns : timeout_ns);
    do {
      for (int i = 0; i < 64; i++) {
        if (ready(q))
          return 0;
        cpu_relax();
      }
    } while (mono_ns() < until);
  }
  int64_t deadline = mono_ns() + (timeout_ns > 0 ? timeout_ns : 0);
  int rc;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    atomic_store_explicit(&q->sleeping, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    if (ready(q)) {
      rc = 0;
      break;
    }
    if (mono_ns() >= deadline) {
      rc = DTO_EAGAIN;
      break;
    }
    struct timespec ts = ns_to_ts(deadline);
    int e = pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    DTO_ASSERT(e == 0 || e == ETIMEDOUT);
  }
  atomic_store_explicit(&q->sleeping, 0, memory_order_relaxed);
  pthread_mutex_unlock(&q->mu);
  return rc;
}

void inq_get_stats(const inq *q, inq_stats *out) {
  inq *m = (inq *)q; /* atomic loads of a const object need a cast in C11 */
  memset(out, 0, sizeof *out);
  for (int k = 0; k < INQ_KIND_COUNT; k++)
    out->delivered[k] =
        atomic_load_explicit(&m->delivered[k], memory_order_relaxed);
  out->conflated = atomic_load_explicit(&m->conflated, memory_order_relaxed);
  out->waits = atomic_load_explicit(&m->waits, memory_order_relaxed);
  out->timeouts = atomic_load_explicit(&m->timeouts, memory_order_relaxed);
  out->wakeups = atomic_load_explicit(&m->wakeups, memory_order_relaxed);
  out->consumer_waiting =
      atomic_load_explicit(&m->sleeping, memory_order_relaxed) != 0;
  size_t deq = atomic_load_explicit(&m->deq_pos, memory_order_acquire);
  size_t enq = atomic_load_explicit(&m->enq_pos, memory_order_acquire);
  out->depth = enq > deq ? enq - deq : 0;
  out->max_depth = atomic_load_explicit(&m->max_depth, memory_order_relaxed);
}
