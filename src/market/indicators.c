/* indicators.c - streaming technical indicators and their spec parser.
 *
 * The typed indicators come first, then the generic layer (spec parsing,
 * output names, dispatch).  Update functions do constant work: no loops
 * over the window, no divisions (reciprocals are taken once at init).
 * Windowed sums are compensated (Neumaier) and renewed every n updates from
 * a second accumulator that has summed exactly the current window, which
 * bounds rounding error without ever walking the ring.  This is not a charting
 * library; the only batch entry points are the *_series functions of SMA, EMA
 * and RSI, which give exactly what the updates give, only faster.
 */
#include "market/indicators.h"

#include "core/error.h"

#include <math.h>

static bool period_ok(int n) { return n >= 1 && n <= IND_MAX_PERIOD; }

/* ---- compensated sums -------------------------------------------------- */

static const ind_ksum ksum_zero = {0.0, 0.0};

/* Neumaier's variant of Kahan summation: exact to within an ulp or two of
 * the true sum whatever the magnitudes added and removed. */
static inline void ksum_add(ind_ksum *k, double x) {
  double t = k->s + x;
  if (fabs(k->s) >= fabs(x))
    k->c += (k->s - t) + x;
  else
    k->c += (x - t) + k->s;
  k->s = t;
}

static inline double ksum_get(const ind_ksum *k) { return k->s + k->c; }

/* ---- SMA ---------------------------------------------------------------- */

int ind_sma_init(ind_sma *s, int n) {
  if (!period_ok(n))
    return DTO_ERANGE;
  s->n = n;
  s->count = s->head = s->block = 0;
  s->inv_n = 1.0 / n;
  s->sum = s->fresh = ksum_zero;
  return 0;
}

void ind_sma_update(ind_sma *s, double x) {
  ksum_add(&s->sum, x);
  if (DTO_LIKELY(s->count == s->n))
    ksum_add(&s->sum, -s->ring[s->head]);
  else
    s->count++;
  s->ring[s->head] = x;
  if (++s->head == s->n)
    s->head = 0;
  ksum_add(&s->fresh, x);
  if (++s->block == s->n) {
    /* fresh holds the sum of exactly the last n values. */
    s->sum = s->fresh;
    s->fresh = ksum_zero;
    s->block = 0;
  }
}

bool ind_sma_ready(const ind_sma *s) { return s->count == s->n; }

double ind_sma_value(const ind_sma *s) { return ksum_get(&s->sum) * s->inv_n; }

/* ind_sma_series: four blocks of n values at a time, one in each lane.
 *
 * After every n-th update (s->block back to 0, and then s->head is 0 too:
 * both start at 0 and wrap at n together) the running sum is replaced by the
 * fresh sum of that block, accumulated from zero.  So the running sums
 * inside block k depend only on the fresh sum of block k-1 and on the values
 * of blocks k-1 and k, and the blocks of a series can be computed in any
 * order.  The series is cut into chunks of whole blocks: first the fresh
 * sums of all blocks of the chunk, four blocks per vector, then the running
 * sums, four blocks per vector, each lane starting from the fresh sum of the
 * block before its own.  Each lane performs the very operations, in the very
 * order, that ind_sma_update() performs for its values (t + (-o) is t - o
 * in IEEE arithmetic), so the results are the same bits.
 *
 * The one thing a lane cannot do is take a different branch of ksum_add()
 * from the other lane.  The vector path runs only on chunks whose values
 * (and the n before them, which leave the window) have their sign bit clear,
 * as prices do; there |sum| >= |x| follows from sum >= x, the branch a
 * window of prices takes.  Each lane counts the steps where that held, and
 * a block where it ever failed (a spike larger than the window's sum, a
 * NaN) is computed again with ksum_add() itself.  Chunks with a negative
 * value are computed value by value. */

typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));

/* Values per chunk: the chunk is read twice, so keep it in the L1/L2. */
#define SMA_CHUNK_VALUES 4096
/* Blocks per vector, and most blocks per chunk (a multiple of SMA_LANES). */
#define SMA_LANES 4
#define SMA_CHUNK_BLOCKS 64

/* The kernels are compiled twice, for AVX2 (4 lanes in one register) and
 * for the base instruction set (two SSE2 registers), and the loader picks
 * one for the machine.  The arithmetic is the same IEEE double operations
 * either way (no FMA), so the choice cannot change a bit of the results. */
/* Not under ThreadSanitizer: the loader runs the clones' resolver before
 * TSan's runtime is up, and the instrumented resolver crashes. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&       \
    !defined(__SANITIZE_THREAD__)
#define SMA_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define SMA_KERNEL
#endif

/* True when no x[0..len) has its sign bit set. */
static bool all_signs_clear(const double *x, size_t len) {
  uint64_t acc = 0;
  for (size_t i = 0; i < len; i++) {
    uint64_t u;
    memcpy(&u, &x[i], sizeof u);
    acc |= u;
  }
  return (acc >> 63) == 0;
}

/* The fresh sum of x[0..n), exactly as n ksum_add() from zero. */
static ind_ksum sma_fresh_scalar(const double *x, int n) {
  ind_ksum f = ksum_zero;
  for (int j = 0; j < n; j++)
    ksum_add(&f, x[j]);
  return f;
}

/* The fresh sums f[0..4) of the blocks x[0..n), x[n..2n), ..., all values
 * >= 0.  The first ksum_add() of a block, from {0, 0}, always yields
 * {0.0 + x, +0.0}; the second may take either branch (the second price is
 * as often larger as smaller than the first), so both are computed and
 * selected; from the third on the sum is expected to outweigh each value. */
SMA_KERNEL
static void sma_fresh_quad(const double *x, int n, ind_ksum *f) {
  const double *x1 = x + n, *x2 = x1 + n, *x3 = x2 + n;
  v4d s = {0.0 + x[0], 0.0 + x1[0], 0.0 + x2[0], 0.0 + x3[0]};
  v4d c = {0.0, 0.0, 0.0, 0.0};
  if (n > 1) {
    v4d v = {x[1], x1[1], x2[1], x3[1]};
    v4d t = s + v;
    v4i m = s >= v;
    v4d e1 = (s - t) + v, e2 = (v - t) + s;
    c += (v4d)(((v4i)e1 & m) | ((v4i)e2 & ~m));
    s = t;
  }
  v4i held = {0, 0, 0, 0}; /* minus the times the expected branch held */
  for (int j = 2; j < n; j++) {
    v4d v = {x[j], x1[j], x2[j], x3[j]};
    v4d t = s + v;
    held += s >= v;
    c += (s - t) + v;
    s = t;
  }
  const int64_t all = n > 2 ? 2 - n : 0;
  for (int l = 0; l < SMA_LANES; l++)
    f[l] = held[l] == all ? (ind_ksum){s[l], c[l]}
                          : sma_fresh_scalar(x + l * n, n);
}

/* The means after x[0..n-1) of a block, from the running sum `sum` at the
 * block's start; x[-n..0) are the values leaving the window.  (The mean
 * after the block's last value is that of its fresh sum.) */
static void sma_block_scalar(const double *x, int n, double inv_n, ind_ksum sum,
                             double *out) {
  for (int j = 0; j < n - 1; j++) {
    ksum_add(&sum, x[j]);
    ksum_add(&sum, -x[j - n]);
    out[j] = ksum_get(&sum) * inv_n;
  }
}

/* sma_block_scalar() for the four blocks x[0..n), x[n..2n), ... at once,
 * from the running sums sum[0..4); all values >= 0. */
SMA_KERNEL
static void sma_block_quad(const double *x, int n, double inv_n,
                           const ind_ksum *sum, double *out) {
  const double *x1 = x + n, *x2 = x1 + n, *x3 = x2 + n;
  double *o1 = out + n, *o2 = o1 + n, *o3 = o2 + n;
  v4d s = {sum[0].s, sum[1].s, sum[2].s, sum[3].s};
  v4d c = {sum[0].c, sum[1].c, sum[2].c, sum[3].c};
  v4i held = {0, 0, 0, 0}; /* minus the times the expected branch held */
  for (int j = 0; j < n - 1; j++) {
    v4d v = {x[j], x1[j], x2[j], x3[j]};
    v4d o = {x[j - n], x1[j - n], x2[j - n], x3[j - n]};
    v4d t = s + v;
    v4d u = t - o;
    held += s >= v;
    held += t >= o;
    c += (s - t) + v;
    c += (t - u) - o;
    s = u;
    v4d m = (s + c) * inv_n;
    out[j] = m[0];
    o1[j] = m[1];
    o2[j] = m[2];
    o3[j] = m[3];
  }
  const int64_t all = 2 * (1 - (int64_t)n);
  for (int l = 0; l < SMA_LANES; l++)
    if (held[l] != all)
      sma_block_scalar(x + l * n, n, inv_n, sum[l], out + l * n);
}

static void sma_one(ind_sma *s, double x, double *out) {
  ind_sma_update(s, x);
  *out = ind_sma_ready(s) ? ind_sma_value(s) : NAN;
}

void ind_sma_series(ind_sma *s, const double *x, size_t len, double *out) {
  const size_t n = (size_t)s->n;
  size_t i = 0;
  /* One by one until the window is full, a block has just ended and the
   * series holds the n values before the next block. */
  while (i < len && (s->count < s->n || s->block != 0 || i < n)) {
    sma_one(s, x[i], &out[i]);
    i++;
  }
  size_t k = SMA_CHUNK_VALUES / n;
  k = k < SMA_LANES          ? SMA_LANES
      : k > SMA_CHUNK_BLOCKS ? SMA_CHUNK_BLOCKS
                             : k - k % SMA_LANES;
  ind_ksum sums[SMA_CHUNK_BLOCKS + 1]; /* [b + 1]: the fresh sum of block b */
  while (len - i >= SMA_LANES * n) {
    size_t kb = (len - i) / n;
    kb = kb > k ? k : kb - kb % SMA_LANES;
    const double *cx = x + i;
    double *co = out + i;
    if (!all_signs_clear(cx - n, (kb + 1) * n)) {
      for (size_t j = 0; j < kb * n; j++)
        sma_one(s, cx[j], &co[j]);
      i += kb * n;
      continue;
    }
    sums[0] = s->sum;
    for (size_t b = 0; b < kb; b += SMA_LANES)
      sma_fresh_quad(cx + b * n, s->n, &sums[b + 1]);
    for (size_t b = 0; b < kb; b += SMA_LANES)
      sma_block_quad(cx + b * n, s->n, s->inv_n, &sums[b], co + b * n);
    for (size_t b = 0; b < kb; b++)
      co[b * n + n - 1] = ksum_get(&sums[b + 1]) * s->inv_n;
    i += kb * n;
    /* The state ind_sma_update() leaves at the end of a block. */
    s->sum = sums[kb];
    s->fresh = ksum_zero;
    memcpy(s->ring, x + i - n, n * sizeof *x);
  }
  for (; i < len; i++)
    sma_one(s, x[i], &out[i]);
}

int ind_smafx_init(ind_smafx *s, int n) {
  if (!period_ok(n))
    return DTO_ERANGE;
  s->n = n;
  s->count = s->head = 0;
  s->sum = 0;
  return 0;
}

/* ---- EMA ---------------------------------------------------------------- */

int ind_ema_init(ind_ema *s, int n) {
  if (!period_ok(n))
    return DTO_ERANGE;
  s->n = n;
  s->count = 0;
  s->alpha = 2.0 / (n + 1.0);
  s->inv_n = 1.0 / n;
  s->v = 0.0;
  return 0;
}

void ind_ema_update(ind_ema *s, double x) {
  if (DTO_LIKELY(s->count == s->n)) {
    s->v += s->alpha * (x - s->v);
    return;
  }
  s->v += x;
  if (++s->count == s->n)
    s->v *= s->inv_n;
}

bool ind_ema_ready(const ind_ema *s) { return s->count == s->n; }

double ind_ema_value(const ind_ema *s) { return s->v; }

void ind_ema_series(ind_ema *s, const double *x, size_t len, double *out) {
  size_t i = 0;
  for (; i < len && s->count < s->n; i++) {
    ind_ema_update(s, x[i]);
    out[i] = ind_ema_ready(s) ? s->v : NAN;
  }
  /* The update of ind_ema_update(), on locals: out cannot alias them. */
  double v = s->v, a = s->alpha;
  for (; i < len; i++) {
    v += a * (x[i] - v);
    out[i] = v;
  }
  s->v = v;
}

/* ---- RSI ---------------------------------------------------------------- */

int ind_rsi_init(ind_rsi *s, int n) {
  if (!period_ok(n))
    return DTO_ERANGE;
  s->n = n;
  s->count = 0;
  s->primed = false;
  s->inv_n = 1.0 / n;
  s->prev = s->gain = s->loss = 0.0;
  return 0;
}

void ind_rsi_update(ind_rsi *s, double x) {
  if (DTO_UNLIKELY(!s->primed)) {
    s->prev = x;
    s->primed = true;
    return;
  }
  double d = x - s->prev;
  double up = d > 0 ? d : 0.0, down = d < 0 ? -d : 0.0;
  s->prev = x;
  if (DTO_LIKELY(s->count == s->n)) {
    s->gain += (up - s->gain) * s->inv_n;
    s->loss += (down - s->loss) * s->inv_n;
    return;
  }
  s->gain += up;
  s->loss += down;
  if (++s->count == s->n) {
    s->gain *= s->inv_n;
    s->loss *= s->inv_n;
  }
}

bool ind_rsi_ready(const ind_rsi *s) { return s->count == s->n; }

double ind_rsi_value(const ind_rsi *s) {
  double t = s->gain + s->loss;
  return t > 0 ? 100.0 * s->gain / t : 50.0;
}

void ind_rsi_series(ind_rsi *s, const double *x, size_t len, double *out) {
  size_t i = 0;
  for (; i < len && s->count < s->n; i++) {
    ind_rsi_update(s, x[i]);
    out[i] = ind_rsi_ready(s) ? ind_rsi_value(s) : NAN;
  }
  /* ind_rsi_update() and ind_rsi_value() on locals.  d > 0 ? d : 0 and its
   * mirror are what maxsd computes, so there is no branch to mispredict on
   * a series that goes up and down at random. */
  double prev = s->prev, g = s->gain, l = s->loss, k = s->inv_n;
  for (; i < len; i++) {
    double d = x[i] - prev, nd = -d;
    prev = x[i];
    double up = d > 0 ? d : 0.0, down = nd > 0 ? nd : 0.0;
    g += (up - g) * k;
    l += (down - l) * k;
    double t = g + l;
    out[i] = t > 0 ? 100.0 * g / t : 50.0;
  }
  s->prev = prev;
  s->gain = g;
  s->loss = l;
}

/* ---- ATR ---------------------------------------------------------------- */

int ind_atr_init(ind_atr *s, int n) {
  if (!period_ok(n))
    return DTO_ERANGE;
  s->n = n;
  s->count = 0;
  s->primed = false;
  s->inv_n = 1.0 / n;
  s->prev_close = s->v = 0.0;
  return 0;
}

void ind_atr_update(ind_atr *s, double high, double low, double close) {
  if (DTO_UNLIKELY(!s->primed)) {
    /* The first bar's high - low is not part of the seed (TA-Lib, TTR). */
    s->prev_close = close;
    s->primed = true;
    return;
  }
  double pc = s->prev_close;
  double tr = (high > pc ? high : pc) - (low < pc ? low : pc);
  s->prev_close = close;
  if (DTO_LIKELY(s->count == s->n)) {
    s->v += (tr - s->v) * s->inv_n;
    return;
  }
  s->v += tr;
  if (++s->count == s->n)
    s->v *= s->inv_n;
}

bool ind_atr_ready(const ind_atr *s) { return s->count == s->n; }

double ind_atr_value(const ind_atr *s) { return s->v; }

/* ---- Bollinger bands ---------------------------------------------------- */

int ind_bb_init(ind_bb *s, int n, double k) {
  if (!period_ok(n) || !(k > 0 && k <= 100))
    return DTO_ERANGE;
  s->n = n;
  s->count = s->head = s->block = 0;
  s->k = k;
  s->inv_n = 1.0 / n;
  s->shift = s->fshift = 0.0;
  s->s1 = s->s2 = s->f1 = s->f2 = ksum_zero;
  return 0;
}

void ind_bb_update(ind_bb *s, double x) {
  if (DTO_UNLIKELY(s->count == 0))
    s->shift = s->fshift = x; /* the very first value */
  double d = x - s->shift;
  ksum_add(&s->s1, d);
  ksum_add(&s->s2, d * d);
  if (DTO_LIKELY(s->count == s->n)) {
    double o = s->ring[s->head] - s->shift;
    ksum_add(&s->s1, -o);
    ksum_add(&s->s2, -(o * o));
  } else {
    s->count++;
  }
  s->ring[s->head] = x;
  if (++s->head == s->n)
    s->head = 0;
  double f = x - s->fshift;
  ksum_add(&s->f1, f);
  ksum_add(&s->f2, f * f);
  if (++s->block == s->n) {
    /* f1 and f2 cover exactly the current window: adopt them, and centre
     * the next block's sums on the latest value. */
    s->shift = s->fshift;
    s->s1 = s->f1;
    s->s2 = s->f2;
    s->fshift = x;
    s->f1 = s->f2 = ksum_zero;
    s->block = 0;
  }
}

bool ind_bb_ready(const ind_bb *s) { return s->count == s->n; }

void ind_bb_value(const ind_bb *s, double *lower, double *middle,
                  double *upper) {
  double m1 = ksum_get(&s->s1) * s->inv_n;
  double var = ksum_get(&s->s2) * s->inv_n - m1 * m1;
  double w = var > 0 ? s->k * sqrt(var) : 0.0;
  double mid = s->shift + m1;
  if (lower)
    *lower = mid - w;
  if (middle)
    *middle = mid;
  if (upper)
    *upper = mid + w;
}

/* ---- MACD --------------------------------------------------------------- */

int ind_macd_init(ind_macd *s, int fast, int slow, int signal) {
  if (!period_ok(fast) || !period_ok(slow) || !period_ok(signal) ||
      fast >= slow)
    return DTO_ERANGE;
  ind_ema_init(&s->fast, fast);
  ind_ema_init(&s->slow, slow);
  ind_ema_init(&s->signal, signal);
  return 0;
}

void ind_macd_update(ind_macd *s, double x) {
  ind_ema_update(&s->fast, x);
  ind_ema_update(&s->slow, x);
  /* fast < slow, so the fast EMA is ready whenever the slow one is. */
  if (DTO_LIKELY(ind_ema_ready(&s->slow)))
    ind_ema_update(&s->signal, s->fast.v - s->slow.v);
}

bool ind_macd_ready(const ind_macd *s) { return ind_ema_ready(&s->slow); }

bool ind_macd_signal_ready(const ind_macd *s) {
  return ind_ema_ready(&s->signal);
}

void ind_macd_value(const ind_macd *s, double *macd, double *signal,
                    double *hist) {
  double m = s->fast.v - s->slow.v;
  if (macd)
    *macd = m;
  if (signal)
    *signal = s->signal.v;
  if (hist)
    *hist = m - s->signal.v;
}

/* ---- rolling VWAP ------------------------------------------------------- */

int ind_vwap_init(ind_vwap *s, int n) {
  if (!period_ok(n))
    return DTO_ERANGE;
  s->n = n;
  s->count = s->head = s->block = s->nonzero = 0;
  s->spv = s->sv = s->fpv = s->fv = ksum_zero;
  return 0;
}

void ind_vwap_update(ind_vwap *s, double price, double volume) {
  double pv = price * volume;
  ksum_add(&s->spv, pv);
  ksum_add(&s->sv, volume);
  s->nonzero += volume != 0;
  if (DTO_LIKELY(s->count == s->n)) {
    ksum_add(&s->spv, -s->ring_pv[s->head]);
    ksum_add(&s->sv, -s->ring_v[s->head]);
    s->nonzero -= s->ring_v[s->head] != 0;
  } else {
    s->count++;
  }
  s->ring_pv[s->head] = pv;
  s->ring_v[s->head] = volume;
  if (++s->head == s->n)
    s->head = 0;
  ksum_add(&s->fpv, pv);
  ksum_add(&s->fv, volume);
  if (++s->block == s->n) {
    s->spv = s->fpv;
    s->sv = s->fv;
    s->fpv = s->fv = ksum_zero;
    s->block = 0;
  }
}

bool ind_vwap_ready(const ind_vwap *s) {
  return s->count == s->n && s->nonzero > 0;
}

double ind_vwap_value(const ind_vwap *s) {
  return ksum_get(&s->spv) / ksum_get(&s->sv);
}

/* ---- session VWAP ------------------------------------------------------- */

void ind_svwap_init(ind_svwap *s) { ind_svwap_reset(s); }

void ind_svwap_reset(ind_svwap *s) {
  s->spv = s->sv = 0.0;
  s->any = false;
}

void ind_svwap_update(ind_svwap *s, double high, double low, double close,
                      double volume) {
  static const double third = 1.0 / 3.0;
  s->spv += (high + low + close) * third * volume;
  s->sv += volume;
  s->any |= volume > 0;
}

bool ind_svwap_ready(const ind_svwap *s) { return s->any; }

double ind_svwap_value(const ind_svwap *s) { return s->spv / s->sv; }

/* ---- generic layer ------------------------------------------------------ */

static const struct kind_info {
  const char *name;
  int nparams;       /* parameters after the name */
  const char *usage; /* shown when the parameter count is wrong */
} kinds[IND_KIND_COUNT] = {
    [IND_SMA] = {"sma", 1, "sma:PERIOD"},
    [IND_EMA] = {"ema", 1, "ema:PERIOD"},
    [IND_RSI] = {"rsi", 1, "rsi:PERIOD"},
    [IND_ATR] = {"atr", 1, "atr:PERIOD"},
    [IND_BB] = {"bb", 2, "bb:PERIOD:K"},
    [IND_MACD] = {"macd", 3, "macd:FAST:SLOW:SIGNAL"},
    [IND_VWAP] = {"vwap", 1, "vwap:PERIOD"},
    [IND_SVWAP] = {"svwap", 0, "svwap"},
};

const char *ind_kind_name(enum ind_kind k) {
  return (unsigned)k < IND_KIND_COUNT ? kinds[k].name : "unknown";
}

/* Longest parameter text quoted back in an error message. */
#define QUOTE_MAX 20

typedef struct span {
  const char *p;
  size_t len;
} span;

/* A printable copy of at most QUOTE_MAX bytes of s for an error message:
 * control and non-ASCII bytes become '?', so a reason stays one clean line
 * whatever the input held. */
typedef struct qtext {
  char s[QUOTE_MAX + 1];
} qtext;

static qtext printable(span s) {
  qtext q;
  size_t n = s.len < QUOTE_MAX ? s.len : QUOTE_MAX;
  for (size_t i = 0; i < n; i++)
    q.s[i] = s.p[i] >= 0x20 && s.p[i] < 0x7f ? s.p[i] : '?';
  q.s[n] = '\0';
  return q;
}

static bool span_is(span s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* A period: 1-4 decimal digits, value in 1..IND_MAX_PERIOD. */
static int parse_period(span s, const char *what, int *out, char *err,
                        size_t cap) {
  int v = 0;
  if (s.len == 0) {
    dto_seterr(err, cap, "%s is empty; expected an integer 1..%d", what,
           IND_MAX_PERIOD);
    return DTO_EPARSE;
  }
  for (size_t i = 0; i < s.len; i++) {
    if (s.p[i] < '0' || s.p[i] > '9') {
      dto_seterr(err, cap, "%s '%s' is not an integer", what, printable(s).s);
      return DTO_EPARSE;
    }
    if (v <= IND_MAX_PERIOD) /* stop growing once out of range */
      v = v * 10 + (s.p[i] - '0');
  }
  if (!period_ok(v)) {
    dto_seterr(err, cap, "%s %s is out of range; must be 1..%d", what,
           printable(s).s, IND_MAX_PERIOD);
    return DTO_ERANGE;
  }
  *out = v;
  return 0;
}

/* The Bollinger width: a plain decimal ("2", "2.5", ".5"), 0 < k <= 100. */
static int parse_k(span s, double *out, char *err, size_t cap) {
  char tmp[QUOTE_MAX + 1];
  size_t digits = 0, dots = 0;
  bool bad = s.len > QUOTE_MAX;
  for (size_t i = 0; i < s.len && !bad; i++) {
    if (s.p[i] >= '0' && s.p[i] <= '9')
      digits++;
    else if (s.p[i] == '.')
      dots++;
    else
      bad = true;
  }
  if (bad || digits == 0 || dots > 1) {
    dto_seterr(err, cap, "k '%s' is not a decimal number", printable(s).s);
    return DTO_EPARSE;
  }
  memcpy(tmp, s.p, s.len);
  tmp[s.len] = '\0';
  double k = strtod(tmp, NULL);
  if (!(k > 0 && k <= 100)) {
    dto_seterr(err, cap, "k %s is out of range; must be > 0 and <= 100", tmp);
    return DTO_ERANGE;
  }
  *out = k;
  return 0;
}

int indicator_parse(const char *spec, indicator *out, char *err,
                    size_t errcap) {
  span part[5];
  size_t nparts = 0, len = strnlen(spec, IND_SPEC_MAX + 1);
  if (len == 0) {
    dto_seterr(err, errcap, "empty indicator spec");
    return DTO_EPARSE;
  }
  if (len > IND_SPEC_MAX) {
    dto_seterr(err, errcap, "indicator spec longer than %d bytes", IND_SPEC_MAX);
    return DTO_ETOOBIG;
  }
  /* Split on ':' into at most 5 parts (name + 3 params + one too many). */
  const char *p = spec, *end = spec + len;
  while (nparts < DTO_ARRAY_LEN(part)) {
    const char *c = memchr(p, ':', (size_t)(end - p));
    part[nparts].p = p;
    part[nparts].len = (size_t)((c ? c : end) - p);
    nparts++;
    if (!c)
      break;
    p = c + 1;
  }
  int kind = -1;
  for (int j = 0; j < IND_KIND_COUNT; j++)
    if (span_is(part[0], kinds[j].name))
      kind = j;
  if (kind < 0) {
    dto_seterr(err, errcap,
           "unknown indicator '%s' (known: sma, ema, rsi, atr, bb, macd, "
           "vwap, svwap)",
           printable(part[0]).s);
    return DTO_EPARSE;
  }
  const struct kind_info *ki = &kinds[kind];
  if ((int)nparts - 1 != ki->nparams) {
    if (ki->nparams == 0)
      dto_seterr(err, errcap, "%s takes no parameters", ki->name);
    else
      dto_seterr(err, errcap, "%s needs %d parameter%s (%s), got %s%d", ki->name,
             ki->nparams, ki->nparams == 1 ? "" : "s", ki->usage,
             nparts == DTO_ARRAY_LEN(part) ? "at least " : "", (int)nparts - 1);
    return DTO_EPARSE;
  }

  int n[3] = {0, 0, 0};
  double k = 0;
  int rc;
  switch ((enum ind_kind)kind) {
  case IND_BB:
    if ((rc = parse_period(part[1], "period", &n[0], err, errcap)) < 0 ||
        (rc = parse_k(part[2], &k, err, errcap)) < 0)
      return rc;
    break;
  case IND_MACD: {
    static const char *const names[3] = {"fast period", "slow period",
                                         "signal period"};
    for (int i = 0; i < 3; i++)
      if ((rc = parse_period(part[i + 1], names[i], &n[i], err, errcap)) < 0)
        return rc;
    if (n[0] >= n[1]) {
      dto_seterr(err, errcap, "fast period %d must be less than slow period %d",
             n[0], n[1]);
      return DTO_ERANGE;
    }
    break;
  }
  case IND_SVWAP:
    break;
  default:
    if ((rc = parse_period(part[1], "period", &n[0], err, errcap)) < 0)
      return rc;
    break;
  }

  /* The parameters were checked above, so the inits cannot fail; the
   * struct is built in place to avoid copying ~16 KB. */
  switch ((enum ind_kind)kind) {
  case IND_SMA:
    rc = ind_sma_init(&out->u.sma, n[0]);
    break;
  case IND_EMA:
    rc = ind_ema_init(&out->u.ema, n[0]);
    break;
  case IND_RSI:
    rc = ind_rsi_init(&out->u.rsi, n[0]);
    break;
  case IND_ATR:
    rc = ind_atr_init(&out->u.atr, n[0]);
    break;
  case IND_BB:
    rc = ind_bb_init(&out->u.bb, n[0], k);
    break;
  case IND_MACD:
    rc = ind_macd_init(&out->u.macd, n[0], n[1], n[2]);
    break;
  case IND_VWAP:
    rc = ind_vwap_init(&out->u.vwap, n[0]);
    break;
  case IND_SVWAP:
    ind_svwap_init(&out->u.svwap);
    rc = 0;
    break;
  default:
    rc = DTO_EINVAL;
    break;
  }
  DTO_ASSERT(rc == 0);
  out->kind = (enum ind_kind)kind;
  return 0;
}

size_t indicator_outputs(const indicator *ind) {
  return ind->kind == IND_BB || ind->kind == IND_MACD ? 3 : 1;
}

const char *indicator_output_name(const indicator *ind, size_t i, char *buf,
                                  size_t cap) {
  static const char *const bb_out[3] = {"lower", "middle", "upper"};
  static const char *const macd_out[3] = {"", "_signal", "_hist"};
  if (i >= indicator_outputs(ind) || cap == 0)
    return NULL;
  const char *name = ind_kind_name(ind->kind);
  switch (ind->kind) {
  case IND_SMA:
    snprintf(buf, cap, "%s_%d", name, ind->u.sma.n);
    break;
  case IND_EMA:
    snprintf(buf, cap, "%s_%d", name, ind->u.ema.n);
    break;
  case IND_RSI:
    snprintf(buf, cap, "%s_%d", name, ind->u.rsi.n);
    break;
  case IND_ATR:
    snprintf(buf, cap, "%s_%d", name, ind->u.atr.n);
    break;
  case IND_VWAP:
    snprintf(buf, cap, "%s_%d", name, ind->u.vwap.n);
    break;
  case IND_BB:
    snprintf(buf, cap, "bb_%s_%d_%.15g", bb_out[i], ind->u.bb.n, ind->u.bb.k);
    break;
  case IND_MACD:
    snprintf(buf, cap, "macd%s_%d_%d_%d", macd_out[i], ind->u.macd.fast.n,
             ind->u.macd.slow.n, ind->u.macd.signal.n);
    break;
  case IND_SVWAP:
  default:
    snprintf(buf, cap, "%s", name);
    break;
  }
  return buf;
}

int indicator_warmup(const indicator *ind, size_t i) {
  if (i >= indicator_outputs(ind))
    return 0;
  switch (ind->kind) {
  case IND_SMA:
    return ind->u.sma.n;
  case IND_EMA:
    return ind->u.ema.n;
  case IND_RSI:
    return ind->u.rsi.n + 1;
  case IND_ATR:
    return ind->u.atr.n + 1;
  case IND_BB:
    return ind->u.bb.n;
  case IND_MACD:
    return ind->u.macd.slow.n + (i == 0 ? 0 : ind->u.macd.signal.n - 1);
  case IND_VWAP:
    return ind->u.vwap.n;
  case IND_SVWAP:
  default:
    return 1;
  }
}

void indicator_update(indicator *ind, const bar *b) {
  double c = fx_to_double(b->close);
  switch (ind->kind) {
  case IND_SMA:
    ind_sma_update(&ind->u.sma, c);
    break;
  case IND_EMA:
    ind_ema_update(&ind->u.ema, c);
    break;
  case IND_RSI:
    ind_rsi_update(&ind->u.rsi, c);
    break;
  case IND_ATR:
    ind_atr_update(&ind->u.atr, fx_to_double(b->high), fx_to_double(b->low), c);
    break;
  case IND_BB:
    ind_bb_update(&ind->u.bb, c);
    break;
  case IND_MACD:
    ind_macd_update(&ind->u.macd, c);
    break;
  case IND_VWAP:
    ind_vwap_update(&ind->u.vwap, c, fx_to_double(b->volume));
    break;
  case IND_SVWAP:
    ind_svwap_update(&ind->u.svwap, fx_to_double(b->high), fx_to_double(b->low),
                     c, fx_to_double(b->volume));
    break;
  default:
    dto__assert_fail("indicator kind is valid", __FILE__, __LINE__);
  }
}

void indicator_session_start(indicator *ind) {
  if (ind->kind == IND_SVWAP)
    ind_svwap_reset(&ind->u.svwap);
}

bool indicator_value(const indicator *ind, size_t i, double *out) {
  if (i >= indicator_outputs(ind))
    return false;
  switch (ind->kind) {
  case IND_SMA:
    if (!ind_sma_ready(&ind->u.sma))
      return false;
    *out = ind_sma_value(&ind->u.sma);
    return true;
  case IND_EMA:
    if (!ind_ema_ready(&ind->u.ema))
      return false;
    *out = ind_ema_value(&ind->u.ema);
    return true;
  case IND_RSI:
    if (!ind_rsi_ready(&ind->u.rsi))
      return false;
    *out = ind_rsi_value(&ind->u.rsi);
    return true;
  case IND_ATR:
    if (!ind_atr_ready(&ind->u.atr))
      return false;
    *out = ind_atr_value(&ind->u.atr);
    return true;
  case IND_BB: {
    double v[3];
    if (!ind_bb_ready(&ind->u.bb))
      return false;
    ind_bb_value(&ind->u.bb, &v[0], &v[1], &v[2]);
    *out = v[i];
    return true;
  }
  case IND_MACD: {
    double v[3];
    if (i == 0 ? !ind_macd_ready(&ind->u.macd)
               : !ind_macd_signal_ready(&ind->u.macd))
      return false;
    ind_macd_value(&ind->u.macd, &v[0], &v[1], &v[2]);
    *out = v[i];
    return true;
  }
  case IND_VWAP:
    if (!ind_vwap_ready(&ind->u.vwap))
      return false;
    *out = ind_vwap_value(&ind->u.vwap);
    return true;
  case IND_SVWAP:
    if (!ind_svwap_ready(&ind->u.svwap))
      return false;
    *out = ind_svwap_value(&ind->u.svwap);
    return true;
  default:
    return false;
  }
}
