/* prom.c - metric sets, histograms and the Prometheus text format 0.0.4.
 * See prom.h for the contract.
 *
 * An mset keeps three vectors and an arena: the families (with a hash table
 * from name to family, so a family named twice is found again), the samples
 * in the order they were added (each linked to the next sample of its
 * family, so rendering groups a family's samples even when the family was
 * continued later), and the label pointers (a sample's keys then its
 * values).  Strings are copied into the arena, whose blocks never move, so
 * a label pointer stays valid until the set is reset; the vectors may move
 * when they grow, which is why mset_at's pointers last only until the set
 * changes.  Nothing here is shared between threads except mhist.
 */
#include "ops/prom.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>

#include "core/alloc.h"
#include "core/error.h"

#define NONE UINT32_MAX
#define ARENA_BLOCK 16384
#define MAX_PAIRS 8

/* ---- values -------------------------------------------------------------- */

/* r as decimal digits, with a '.' before the last k (k = 0: none) and a
 * '-' when neg; "0.0…" when r has no more than k digits. */
static int format_fixed(char *out, bool neg, uint64_t r, int k) {
  char digits[24];
  int nd = 0;
  do {
    digits[nd++] = (char)('0' + r % 10);
    r /= 10;
  } while (r);
  while (nd <= k)
    digits[nd++] = '0'; /* at least one digit before the point */
  int n = 0;
  if (neg)
    out[n++] = '-';
  for (int i = nd - 1; i >= 0; i--) {
    out[n++] = digits[i];
    if (i == k && k > 0)
      out[n++] = '.';
  }
  out[n] = '\0';
  return n;
}

/* Powers of ten, exact in a double up to 1e22. */
static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Whether d * 10^e (d < 2^53, |e| <= 22) is the double a: one correctly
 * rounded operation on exact operands, as strtod would round the decimal
 * (Clinger's fast path). */
static bool reads_back(uint64_t d, int e, double a) {
  double x = (double)d;
  return (e >= 0 ? x * p10[e] : x / p10[-e]) == a;
}

/* The shortest form of a non-integer v with 1e-4 <= |v| < 1e15, which %g
 * writes in fixed notation: what the first of %.15g, %.16g, %.17g that
 * reads back as v prints, without calling snprintf (a tenth of its time).
 *
 * T = |v| * 10^(16-X), X the decimal exponent of v, has 17 digits before
 * the point; its integer part, rounded, gives the 17 digits of %.17g, and
 * rounding those again gives the 16 and 15 digits when the dropped part is
 * not exactly one half (the 17-digit rounding could then hide which way the
 * exact value lies).  A multiplication in long double (64-bit mantissa or
 * more) is off T by less than 0.01, so a T within 0.01 of a half is left to
 * the slow path too, as is a 16-digit candidate too large for reads_back.
 * Any 17 digits read back (DBL_DECIMAL_DIG).  -1 when the caller must take
 * the slow path. */
static int format_shortest_fixed(char *out, double v) {
#if LDBL_MANT_DIG < 64
  /* long double is no wider than double here: T is not precise enough */
  (void)out;
  (void)v;
  return -1;
#endif
  double a = fabs(v);
  if (!(a >= 1e-4 && a < 1e15))
    return -1;
  int x = 0; /* the decimal exponent: 10^x <= a < 10^(x+1) */
  if (a >= 1) {
    while (x < 15 && a >= p10[x + 1])
      x++;
  } else {
    x = -1;
    while (x > -4 && a * p10[-x] < 1)
      x--;
  }
  long double t = (long double)a * (long double)p10[16 - x];
  if (t < 1e16L) { /* x one too high (a * 10^-x rounded up to 1) */
    x--;
    if (16 - x > 22)
      return -1;
    t = (long double)a * (long double)p10[16 - x];
  }
  if (t < 1e16L || t >= 1e17L)
    return -1;
  long double fl = floorl(t);
  long double frac = t - fl;
  if (frac > 0.49L && frac < 0.51L)
    return -1;
  uint64_t d17 = (uint64_t)fl + (frac > 0.5L);
  int e = x - 16; /* v = d17 * 10^e */
  if (d17 == 100000000000000000ull) {
    d17 /= 10;
    e++;
  }
  bool neg = v < 0;
  uint64_t r100 = d17 % 100, r10 = d17 % 10;
  if (r100 == 50)
    return -1; /* the 15 digits are uncertain */
  uint64_t d = d17 / 100 + (r100 > 50);
  if (reads_back(d, e + 2, a)) {
    e += 2;
  } else if (r10 == 5) {
    return -1; /* the 16 digits are uncertain */
  } else {
    d = d17 / 10 + (r10 > 5);
    bool ok;
    if (d < (1ull << 53)) {
      ok = reads_back(d, e + 1, a);
    } else {
      char tmp[32]; /* too large for an exact double: strtod decides */
      format_fixed(tmp, false, d, -(e + 1));
      ok = strtod(tmp, NULL) == a;
    }
    if (ok)
      e += 1;
    else
      d = d17;
  }
  while (d % 10 == 0 && e < 0) { /* %g drops trailing zeros */
    d /= 10;
    e++;
  }
  if (e >= 0)
    return -1; /* an integer: not this path's (cannot happen) */
  return format_fixed(out, neg, d, -e);
}

size_t mvalue_format(double v, char *buf, size_t cap) {
  char tmp[MVALUE_STRLEN];
  int n;
  if (isnan(v))
    n = snprintf(tmp, sizeof tmp, "NaN");
  else if (isinf(v))
    n = snprintf(tmp, sizeof tmp, "%s", v > 0 ? "+Inf" : "-Inf");
  else if (fabs(v) < 1e15 && v == trunc(v))
    n = format_fixed(tmp, v < 0, (uint64_t)fabs(v), 0);
  else if ((n = format_shortest_fixed(tmp, v)) >= 0)
    ;
  else {
    /* The shortest %.Pg that reads back as v.  Any decimal of at most 15
     * digits survives a round trip through a normal double (DBL_DIG), so
     * when the shortest form has k <= 15 digits, %.15g prints exactly it
     * (%g drops the trailing zeros): P starts at 15.  Subnormals hold
     * fewer digits and start at 1. */
    n = 0;
    for (int p = fabs(v) < DBL_MIN ? 1 : 15; p <= 17; p++) {
      n = snprintf(tmp, sizeof tmp, "%.*g", p, v);
      if (p == 17 || strtod(tmp, NULL) == v)
        break;
    }
  }
  if (n < 0)
    n = 0;
  if (cap == 0)
    return 0;
  size_t len = (size_t)n < cap ? (size_t)n : cap - 1;
  memcpy(buf, tmp, len);
  buf[len] = '\0';
  return len;
}

const char *mtype_name(enum mtype t) {
  switch (t) {
  case MT_GAUGE:
    return "gauge";
  case MT_COUNTER:
    return "counter";
  case MT_HISTOGRAM:
    return "histogram";
  case MT_COUNT:
    break;
  }
  return "untyped";
}

/* ---- histograms ---------------------------------------------------------- */

void mhist_init(mhist *h, const double *le, int nb) {
  DTO_ASSERT(nb >= 0 && nb <= MHIST_MAX_BUCKETS);
  h->nb = nb;
  for (int i = 0; i < MHIST_MAX_BUCKETS; i++) {
    h->le[i] = i < nb ? le[i] : INFINITY;
    if (i > 0 && i < nb)
      DTO_ASSERT(le[i] > le[i - 1]);
  }
  for (int i = 0; i <= MHIST_MAX_BUCKETS; i++)
    atomic_init(&h->counts[i], 0);
  atomic_init(&h->sum_nano, 0);
}

void mhist_init_latency(mhist *h) {
  static const double le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                              0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  mhist_init(h, le, (int)DTO_ARRAY_LEN(le));
}

/* The bucket of v: the first whose bound is >= v, or nb (above all). */
static int bucket_of(const mhist *h, double v) {
  int lo = 0, hi = h->nb; /* binary search over le[0..nb) */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (v <= h->le[mid])
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

static void observe(mhist *h, double v, int64_t nano) {
  int b = bucket_of(h, v);
  atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
  /* Two's complement addition modulo 2^64: a negative value subtracts. */
  atomic_fetch_add_explicit(&h->sum_nano, (uint_fast64_t)(uint64_t)nano,
                            memory_order_relaxed);
}

void mhist_observe(mhist *h, double v) {
  /* NaN has no bucket and would poison the sum: it is not counted. */
  if (isnan(v))
    return;
  double n = v * 1e9;
  int64_t nano;
  if (n >= 9.2e18)
    nano = INT64_MAX;
  else if (n <= -9.2e18)
    nano = -INT64_MAX;
  else
    nano = llround(n);
  observe(h, v, nano);
}

void mhist_observe_ns(mhist *h, int64_t ns) {
  observe(h, (double)ns / 1e9, ns);
}

void mhist_read(const mhist *h, mhist_snap *out) {
  out->nb = h->nb;
  memcpy(out->le, h->le, sizeof out->le);
  uint64_t c = 0;
  for (int i = 0; i <= h->nb; i++) {
    /* atomic_load of a const object: the cast is safe, loads do not
     * write. */
    c += atomic_load_explicit((atomic_uint_fast64_t *)&h->counts[i],
                              memory_order_relaxed);
    out->cum[i] = c;
  }
  for (int i = h->nb + 1; i <= MHIST_MAX_BUCKETS; i++)
    out->cum[i] = c;
  uint64_t s = atomic_load_explicit((atomic_uint_fast64_t *)&h->sum_nano,
                                    memory_order_relaxed);
  out->sum = (double)(int64_t)s / 1e9;
}

double mhist_quantile(const mhist_snap *older, const mhist_snap *newer,
                      double q) {
  if (isnan(q))
    return NAN;
  if (q < 0)
    return -INFINITY;
  if (q > 1)
    return INFINITY;
  int nb = newer->nb;
  if (nb < 1)
    return NAN; /* only the +Inf bucket: Prometheus gives NaN too */
  if (older && older->nb != nb)
    older = NULL; /* not the same histogram: count since the start */
  double cum[MHIST_MAX_BUCKETS + 1];
  for (int i = 0; i <= nb; i++) {
    uint64_t o = older ? older->cum[i] : 0;
    /* a counter that went back (a restart) counts from zero */
    cum[i] = (double)(newer->cum[i] >= o ? newer->cum[i] - o : newer->cum[i]);
    if (i > 0 && cum[i] < cum[i - 1])
      cum[i] = cum[i - 1]; /* keep it monotonic, as Prometheus forces */
  }
  double total = cum[nb];
  if (total <= 0)
    return NAN;
  double rank = q * total;
  int b = 0;
  while (b < nb && cum[b] < rank)
    b++;
  if (b == nb)
    return newer->le[nb - 1]; /* in the +Inf bucket: the highest bound */
  if (b == 0 && newer->le[0] <= 0)
    return newer->le[0];
  double start = 0, end = newer->le[b], count = cum[b];
  if (b > 0) {
    start = newer->le[b - 1];
    count -= cum[b - 1];
    rank -= cum[b - 1];
  }
  if (count <= 0)
    return start;
  return start + (end - start) * (rank / count);
}

/* ---- the arena ----------------------------------------------------------- */

typedef struct block {
  struct block *next;
  size_t cap, used;
  char data[];
} block;

typedef struct arena {
  block *first, *cur;
} arena;

static char *arena_alloc(arena *a, size_t n) {
  block *c = a->cur;
  if (c && c->cap - c->used >= n) {
    char *p = c->data + c->used;
    c->used += n;
    return p;
  }
  /* the next kept block (after a reset) when it is big enough */
  if (c && c->next && c->next->cap >= n) {
    c = c->next;
    c->used = n;
    a->cur = c;
    return c->data;
  }
  size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
  if (cap > SIZE_MAX - sizeof(block))
    cap = SIZE_MAX - sizeof(block); /* xmalloc then fails and aborts */
  block *nb = xmalloc(sizeof(block) + cap);
  nb->cap = cap;
  nb->used = n;
  if (c) {
    nb->next = c->next;
    c->next = nb;
  } else {
    nb->next = a->first;
    a->first = nb;
  }
  a->cur = nb;
  return nb->data;
}

static const char *arena_str(arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static void arena_reset(arena *a) {
  for (block *b = a->first; b; b = b->next)
    b->used = 0;
  a->cur = a->first;
}

static void arena_release(arena *a) {
  block *b = a->first;
  while (b) {
    block *n = b->next;
    free(b);
    b = n;
  }
  a->first = a->cur = NULL;
}

/* ---- the set ------------------------------------------------------------- */

enum suffix { SFX_NONE, SFX_BUCKET, SFX_SUM, SFX_COUNT, SFX__N };

typedef struct family {
  const char *names[SFX__N]; /* x, x_bucket, x_sum, x_count (arena) */
  const char *help;          /* arena, "" when none */
  enum mtype type;
  uint32_t hash;
  uint32_t head, tail; /* the family's samples, in order */
} family;

typedef struct sample {
  double v;
  uint32_t fam;
  uint32_t next; /* next sample of the same family */
  uint32_t lab;  /* first label pointer: keys [lab, lab+nl), values after */
  uint8_t nl;
  uint8_t sfx;
} sample;

struct mset {
  arena ar;
  family *fams;
  size_t nfams, capfams;
  uint32_t *table; /* family index + 1, 0 empty; open addressing */
  size_t tabcap;   /* power of two */
  sample *smps;
  size_t nsmps, capsmps;
  const char **labs;
  size_t nlabs, caplabs;
  uint32_t cur; /* the current family, NONE when none (or a bad name) */
};

mset *mset_new(void) {
  mset *m = xcalloc(1, sizeof *m);
  m->cur = NONE;
  return m;
}

void mset_reset(mset *m) {
  arena_reset(&m->ar);
  m->nfams = m->nsmps = m->nlabs = 0;
  if (m->table)
    memset(m->table, 0, m->tabcap * sizeof *m->table);
  m->cur = NONE;
}

void mset_free(mset *m) {
  if (!m)
    return;
  arena_release(&m->ar);
  free(m->fams);
  free(m->table);
  free(m->smps);
  free(m->labs);
  free(m);
}

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static bool valid_name(const char *s, bool colon) {
  if (!s || !*s)
    return false;
  for (const char *p = s; *p; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon && c == ':') || (p != s && c >= '0' && c <= '9');
    if (!ok)
      return false;
  }
  return true;
}

static bool valid_label(const char *s) {
  return valid_name(s, false) && !(s[0] == '_' && s[1] == '_');
}

static void table_put(mset *m, uint32_t idx) {
  size_t mask = m->tabcap - 1;
  size_t i = m->fams[idx].hash & mask;
  while (m->table[i])
    i = (i + 1) & mask;
  m->table[i] = idx + 1;
}

static void table_grow(mset *m) {
  size_t cap = m->tabcap ? m->tabcap * 2 : 64;
  free(m->table);
  m->table = xcalloc(cap, sizeof *m->table);
  m->tabcap = cap;
  for (size_t i = 0; i < m->nfams; i++)
    table_put(m, (uint32_t)i);
}

void mset_family(mset *m, const char *name, enum mtype t, const char *help) {
  bool ok = valid_name(name, true) && t >= MT_GAUGE && t < MT_COUNT;
  assert(ok && "bad metric family name or type");
  if (!ok) {
    m->cur = NONE;
    return;
  }
  uint32_t h = hash_str(name);
  if (m->tabcap) {
    size_t mask = m->tabcap - 1;
    for (size_t i = h & mask; m->table[i]; i = (i + 1) & mask) {
      family *f = &m->fams[m->table[i] - 1];
      if (f->hash == h && !strcmp(f->names[0], name)) {
        m->cur = m->table[i] - 1;
        return;
      }
    }
  }
  if (m->nfams >= UINT32_MAX - 1) {
    m->cur = NONE;
    return;
  }
  m->fams = xgrow(m->fams, &m->capfams, m->nfams + 1, sizeof *m->fams);
  family *f = &m->fams[m->nfams];
  size_t n = strlen(name);
  f->names[SFX_NONE] = arena_str(&m->ar, name, n);
  if (t == MT_HISTOGRAM) {
    static const char *const sfx[SFX__N] = {"", "_bucket", "_sum", "_count"};
    for (int s = SFX_BUCKET; s < SFX__N; s++) {
      size_t k = strlen(sfx[s]);
      char *p = arena_alloc(&m->ar, n + k + 1);
      memcpy(p, name, n);
      memcpy(p + n, sfx[s], k + 1);
      f->names[s] = p;
    }
  } else {
    for (int s = SFX_BUCKET; s < SFX__N; s++)
      f->names[s] = f->names[SFX_NONE];
  }
  f->help = help ? arena_str(&m->ar, help, strlen(help)) : "";
  f->type = t;
  f->hash = h;
  f->head = f->tail = NONE;
  m->cur = (uint32_t)m->nfams++;
  if (m->nfams * 2 > m->tabcap)
    table_grow(m);
  else
    table_put(m, m->cur);
}

/* Append one sample of the current family; the labels are n pairs, plus
 * le when le is not NULL (a bucket). */
static void push(mset *m, double v, enum suffix sfx, int n,
                 const char *const *keys, const char *const *vals,
                 const char *le) {
  int nl = n + (le != NULL);
  m->labs =
      xgrow(m->labs, &m->caplabs, m->nlabs + 2 * (size_t)nl, sizeof *m->labs);
  m->smps = xgrow(m->smps, &m->capsmps, m->nsmps + 1, sizeof *m->smps);
  family *f = &m->fams[m->cur];
  /* The previous sample of the family usually has the same keys: share
   * their copies. */
  const sample *prev = f->tail != NONE ? &m->smps[f->tail] : NULL;
  const char **lk = m->labs + m->nlabs, **lv = lk + nl;
  for (int i = 0; i < n; i++) {
    const char *pk = prev && i < prev->nl ? m->labs[prev->lab + i] : NULL;
    lk[i] = pk && !strcmp(pk, keys[i])
                ? pk
                : arena_str(&m->ar, keys[i], strlen(keys[i]));
    lv[i] = arena_str(&m->ar, vals[i], strlen(vals[i]));
  }
  if (le) {
    lk[n] = "le";
    lv[n] = le; /* already in the arena */
  }
  uint32_t idx = (uint32_t)m->nsmps++;
  sample *s = &m->smps[idx];
  s->v = v;
  s->fam = m->cur;
  s->next = NONE;
  s->lab = (uint32_t)m->nlabs;
  s->nl = (uint8_t)nl;
  s->sfx = (uint8_t)sfx;
  m->nlabs += 2 * (size_t)nl;
  if (f->tail == NONE)
    f->head = idx;
  else
    m->smps[f->tail].next = idx;
  f->tail = idx;
}

/* Whether the labels may be used (the set has room and a family). */
static bool check_labels(const mset *m, int n, const char *const *keys,
                         const char *const *vals) {
  bool ok = m->cur != NONE && n >= 0 && n <= MAX_PAIRS &&
            m->nsmps < UINT32_MAX - MHIST_MAX_BUCKETS - 4 &&
            m->nlabs < UINT32_MAX / 2;
  for (int i = 0; ok && i < n; i++)
    ok = valid_label(keys[i]) && vals[i] != NULL;
  assert(ok && "sample without a family, or a bad label");
  return ok;
}

void mset_addv(mset *m, double v, int n, const char *const *keys,
               const char *const *vals) {
  if (!check_labels(m, n, keys, vals))
    return;
  bool ok = m->fams[m->cur].type != MT_HISTOGRAM;
  assert(ok && "mset_add on a histogram family (use mset_hist)");
  if (ok)
    push(m, v, SFX_NONE, n, keys, vals, NULL);
}

void mset_add(mset *m, double v, ...) {
  const char *keys[MAX_PAIRS], *vals[MAX_PAIRS];
  int n = 0;
  va_list ap;
  va_start(ap, v);
  for (;;) {
    const char *k = va_arg(ap, const char *);
    if (!k)
      break;
    if (n == MAX_PAIRS) {
      n = MAX_PAIRS + 1; /* too many: refused below */
      break;
    }
    keys[n] = k;
    vals[n] = va_arg(ap, const char *);
    n++;
  }
  va_end(ap);
  mset_addv(m, v, n, keys, vals);
}

void mset_hist(mset *m, const mhist_snap *h, int n, const char *const *keys,
               const char *const *vals) {
  if (!check_labels(m, n, keys, vals))
    return;
  bool ok = m->fams[m->cur].type == MT_HISTOGRAM && h->nb >= 0 &&
            h->nb <= MHIST_MAX_BUCKETS;
  for (int i = 0; ok && i < n; i++)
    ok = strcmp(keys[i], "le") != 0;
  assert(ok && "mset_hist needs a histogram family and no le label");
  if (!ok)
    return;
  uint64_t count = h->cum[h->nb];
  for (int i = 0; i <= h->nb; i++) {
    char tmp[MVALUE_STRLEN];
    size_t len =
        mvalue_format(i < h->nb ? h->le[i] : INFINITY, tmp, sizeof tmp);
    const char *le = arena_str(&m->ar, tmp, len);
    push(m, (double)(i < h->nb ? h->cum[i] : count), SFX_BUCKET, n, keys, vals,
         le);
  }
  push(m, h->sum, SFX_SUM, n, keys, vals, NULL);
  push(m, (double)count, SFX_COUNT, n, keys, vals, NULL);
}

/* ---- rendering ----------------------------------------------------------- */

/* s with the characters in special escaped (\\, \n, and \" when quote). */
static int add_escaped(dbuf *b, const char *s, bool quote) {
  int rc = 0;
  const char *run = s;
  for (const char *p = s; *p && rc == 0; p++) {
    const char *esc = NULL;
    if (*p == '\\')
      esc = "\\\\";
    else if (*p == '\n')
      esc = "\\n";
    else if (*p == '"' && quote)
      esc = "\\\"";
    if (esc) {
      rc = dbuf_add(b, run, (size_t)(p - run));
      if (rc == 0)
        rc = dbuf_add(b, esc, 2);
      run = p + 1;
    }
  }
  if (rc == 0)
    rc = dbuf_adds(b, run);
  return rc;
}

/* The sample written piece by piece into b (a line too long for
 * render_sample's buffer). */
static int render_sample_long(const mset *m, const family *f, const sample *s,
                              dbuf *b) {
  int rc = dbuf_adds(b, f->names[s->sfx]);
  if (rc == 0 && s->nl > 0) {
    const char *const *k = m->labs + s->lab, *const *v = k + s->nl;
    rc = dbuf_addc(b, '{');
    for (int i = 0; rc == 0 && i < s->nl; i++) {
      if (i > 0)
        rc = dbuf_addc(b, ',');
      if (rc == 0)
        rc = dbuf_adds(b, k[i]);
      if (rc == 0)
        rc = dbuf_add(b, "=\"", 2);
      if (rc == 0)
        rc = add_escaped(b, v[i], true);
      if (rc == 0)
        rc = dbuf_addc(b, '"');
    }
    if (rc == 0)
      rc = dbuf_addc(b, '}');
  }
  char val[MVALUE_STRLEN + 2];
  val[0] = ' ';
  size_t n = mvalue_format(s->v, val + 1, MVALUE_STRLEN);
  val[n + 1] = '\n';
  if (rc == 0)
    rc = dbuf_add(b, val, n + 2);
  return rc;
}

/* A line assembled on the stack, so a sample costs one dbuf_add. */
typedef struct line {
  size_t n;
  bool over;
  char buf[1024];
} line;

static void line_put(line *l, const char *s, size_t n) {
  if (n > sizeof l->buf - l->n) {
    l->over = true;
    return;
  }
  memcpy(l->buf + l->n, s, n);
  l->n += n;
}

static void line_escaped(line *l, const char *s) {
  const char *run = s;
  for (const char *p = s; *p && !l->over; p++) {
    const char *esc = *p == '\\'   ? "\\\\"
                      : *p == '\n' ? "\\n"
                      : *p == '"'  ? "\\\""
                                   : NULL;
    if (esc) {
      line_put(l, run, (size_t)(p - run));
      line_put(l, esc, 2);
      run = p + 1;
    }
  }
  line_put(l, run, strlen(run));
}

static int render_sample(const mset *m, const family *f, const sample *s,
                         dbuf *b) {
  line l;
  l.n = 0;
  l.over = false;
  const char *name = f->names[s->sfx];
  line_put(&l, name, strlen(name));
  if (s->nl > 0) {
    const char *const *k = m->labs + s->lab, *const *v = k + s->nl;
    line_put(&l, "{", 1);
    for (int i = 0; i < s->nl && !l.over; i++) {
      if (i > 0)
        line_put(&l, ",", 1);
      line_put(&l, k[i], strlen(k[i]));
      line_put(&l, "=\"", 2);
      line_escaped(&l, v[i]);
      line_put(&l, "\"", 1);
    }
    line_put(&l, "}", 1);
  }
  if (sizeof l.buf - l.n < MVALUE_STRLEN + 2)
    l.over = true;
  if (l.over)
    return render_sample_long(m, f, s, b);
  l.buf[l.n++] = ' ';
  l.n += mvalue_format(s->v, l.buf + l.n, MVALUE_STRLEN);
  l.buf[l.n++] = '\n';
  return dbuf_add(b, l.buf, l.n);
}

int mset_render(const mset *m, dbuf *b) {
  size_t start = b->len;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < m->nfams; i++) {
    const family *f = &m->fams[i];
    if (f->help[0]) {
      rc = dbuf_printf(b, "# HELP %s ", f->names[0]);
      if (rc == 0)
        rc = add_escaped(b, f->help, false);
      if (rc == 0)
        rc = dbuf_addc(b, '\n');
    }
    if (rc == 0)
      rc = dbuf_printf(b, "# TYPE %s %s\n", f->names[0], mtype_name(f->type));
    for (uint32_t j = f->head; rc == 0 && j != NONE; j = m->smps[j].next)
      rc = render_sample(m, f, &m->smps[j], b);
  }
  if (rc) {
    b->len = start; /* all or nothing */
    if (b->ptr)
      b->ptr[start] = '\0';
  }
  return rc;
}

/* ---- reading back -------------------------------------------------------- */

size_t mset_count(const mset *m) { return m->nsmps; }

void mset_at(const mset *m, size_t i, msample *out) {
  DTO_ASSERT(i < m->nsmps);
  const sample *s = &m->smps[i];
  const family *f = &m->fams[s->fam];
  out->family = f->names[0];
  out->name = f->names[s->sfx];
  out->nlabels = s->nl;
  out->keys = m->labs + s->lab;
  out->vals = m->labs + s->lab + s->nl;
  out->v = s->v;
}

const char *msample_label(const msample *s, const char *key) {
  for (int i = 0; i < s->nlabels; i++)
    if (!strcmp(s->keys[i], key))
      return s->vals[i];
  return NULL;
}
