/* gen.c - the synthetic intraday feed (see gen.h).
 *
 * The model, per symbol:
 *   - return of a bar = drift + mean reversion + sigma * z, with z a
 *     standard normal (Marsaglia's polar method with our own logarithm);
 *   - sigma^2 follows GARCH(1,1) (omega, alpha, beta) scaled by an intraday
 *     U-shaped factor, so calm and busy stretches cluster;
 *   - each session starts with an overnight gap (a return with several
 *     times a bar's variance, sometimes a large one) and picks a regime:
 *     mean reversion around an anchor, or a trend with a drift; the regime
 *     can switch during the day;
 *   - volume follows a U-shaped profile (spikes at the open and close) and
 *     grows with the size of the move.
 * Only +, -, *, / and sqrt touch doubles, and contraction into fused
 * multiply-adds is turned off, so results do not depend on the libm or the
 * compiler's choice of instructions.
 */
#include "market/gen.h"

#include <math.h> /* sqrt only: correctly rounded everywhere */

#include "core/alloc.h"
#include "core/error.h"
#include "core/fx.h"
#include "core/timeutil.h"
#include "market/instrument.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define MAX_EMPTY_DAYS 30
#define CENT (FX_SCALE / 100)

void gen_opts_init(gen_opts *o) {
  memset(o, 0, sizeof *o);
  o->seed = 42;
  o->symbols = NULL;
  o->nsymbols = 0;
  o->start_day = days_from_civil(2025, 1, 6);
  o->days = 5;
  o->bar_dur = 60 * DTO_NS_PER_SEC;
  o->cal = NULL;
}

/* ---- randomness -------------------------------------------------------- */

typedef struct rng {
  uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna). */
static uint64_t rng_next(rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (0xD1B54A32D192ED03ULL * (stream + 1));
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

/* Uniform in [0, 1) with 53 random bits. */
static double unif(rng *r) {
  return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Natural logarithm of x > 0 (a normal double) from +, -, *, /: split off
 * the binary exponent, then the atanh series on a mantissa in
 * [sqrt(1/2), sqrt(2)], where |z| <= 0.172 and eight terms reach 1e-16. */
static double ln_det(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  int e = (int)((b >> 52) & 0x7ff) - 1023;
  b = (b & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL;
  double m;
  memcpy(&m, &b, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  double z = (m - 1.0) / (m + 1.0), z2 = z * z;
  double s = 2.0 / 15.0;
  s = 2.0 / 13.0 + z2 * s;
  s = 2.0 / 11.0 + z2 * s;
  s = 2.0 / 9.0 + z2 * s;
  s = 2.0 / 7.0 + z2 * s;
  s = 2.0 / 5.0 + z2 * s;
  s = 2.0 / 3.0 + z2 * s;
  s = 2.0 + z2 * s;
  return z * s + (double)e * 0.69314718055994530942;
}

/* Standard normal: Marsaglia's polar method. */
static double gauss(rng *r) {
  for (;;) {
    double u = 2.0 * unif(r) - 1.0, v = 2.0 * unif(r) - 1.0;
    double s = u * u + v * v;
    if (s > 1e-300 && s < 1.0)
      return u * sqrt(-2.0 * ln_det(s) / s);
  }
}

/* ---- the process ------------------------------------------------------- */

enum regime { REGIME_REVERT, REGIME_TREND };

typedef struct gsym {
  rng r;
  double p0;        /* long-run price level */
  double p;         /* current unrounded price */
  double sig;       /* long-run per-bar volatility */
  double h;         /* GARCH variance per bar */
  double omega, alpha, beta;
  double vol_base;  /* mean shares per bar at the U's bottom */
  enum regime regime;
  double drift;     /* per bar, trend regime */
  double anchor;    /* mean-reversion level */
  double kappa;     /* mean-reversion speed per bar */
  int64_t close_c;  /* last close, cents */
} gsym;

static double clampd(double v, double lo, double hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

static int64_t to_cents(double p) {
  double c = p * 100.0 + 0.5;
  if (c < 1.0)
    return 1;
  if (c > 1e12)
    return 1000000000000LL;
  return (int64_t)c;
}

static void pick_regime(gsym *g) {
  if (unif(&g->r) < 0.5) {
    g->regime = REGIME_REVERT;
    g->anchor = g->p;
    g->kappa = 0.02 + 0.06 * unif(&g->r);
    g->drift = 0.0;
  } else {
    g->regime = REGIME_TREND;
    double mag = (0.04 + 0.10 * unif(&g->r)) * g->sig;
    g->drift = unif(&g->r) < 0.5 ? -mag : mag;
  }
}

static void sym_init(gsym *g, uint64_t seed, size_t idx, dto_time dur) {
  memset(g, 0, sizeof *g);
  rng_seed(&g->r, seed, idx);
  g->p0 = 20.0 + 480.0 * unif(&g->r);
  g->p = g->p0;
  double daily = 0.01 + 0.02 * unif(&g->r);
  /* Scale a day's volatility to one bar of a 6.5-hour session. */
  double frac = (double)dur / (double)(23400LL * DTO_NS_PER_SEC);
  g->sig = daily * sqrt(frac);
  g->alpha = 0.06 + 0.04 * unif(&g->r);
  g->beta = 0.88;
  g->omega = g->sig * g->sig * (1.0 - g->alpha - g->beta);
  g->h = g->sig * g->sig;
  g->vol_base =
      (500.0 + 9500.0 * unif(&g->r)) * ((double)dur / (60.0 * DTO_NS_PER_SEC));
  g->close_c = to_cents(g->p);
  pick_regime(g);
}

/* Intraday shape at x in [0, 1): high at the open and the close. */
static double u_shape(double x) {
  double c = 2.0 * x - 1.0;
  double v = 0.45 + 2.2 * c * c;
  if (x < 0.04)
    v += 2.0 * (0.04 - x) / 0.04; /* opening burst */
  if (x > 0.97)
    v += 1.2 * (x - 0.97) / 0.03; /* closing auction */
  return v;
}

/* The overnight gap and the day's first regime. */
static void day_start(gsym *g) {
  double z = gauss(&g->r);
  double sd = 6.0 * g->sig;
  if (unif(&g->r) < 0.08)
    sd *= 4.0; /* news */
  double gap = clampd(z * sd, -0.25, 0.25);
  g->p *= 1.0 + gap;
  if (g->p < 1.0)
    g->p = 1.0;
  g->close_c = to_cents(g->p);
  g->h = g->sig * g->sig * (1.0 + 2.0 * gap * gap / (sd * sd));
  pick_regime(g);
}

static void step(gsym *g, double x, bar *b) {
  if (unif(&g->r) < 1.0 / 150.0)
    pick_regime(g);
  double shape = sqrt(u_shape(x) / 1.2);
  double sd = sqrt(g->h) * shape;
  double z = gauss(&g->r);
  double r = g->drift + sd * z;
  if (g->regime == REGIME_REVERT)
    r += g->kappa * (g->anchor - g->p) / g->p;
  r += 0.00002 * (g->p0 - g->p) / g->p; /* keeps long runs in range */
  r = clampd(r, -0.2, 0.2);
  double eps = sqrt(g->h) * z;
  g->h = g->omega + g->alpha * eps * eps + g->beta * g->h;

  double open = g->p;
  double close = open * (1.0 + r);
  if (close < 1.0)
    close = 1.0 + 0.01 * unif(&g->r);
  double wick_hi = 0.6 * sd * gauss(&g->r);
  double wick_lo = 0.6 * sd * gauss(&g->r);
  wick_hi = wick_hi < 0 ? -wick_hi : wick_hi;
  wick_lo = wick_lo < 0 ? -wick_lo : wick_lo;
  double hi = (open > close ? open : close) * (1.0 + wick_hi);
  double lo = (open < close ? open : close) * (1.0 - clampd(wick_lo, 0, 0.5));
  g->p = close;

  int64_t oc = g->close_c, cc = to_cents(close);
  int64_t hc = to_cents(hi), lc = to_cents(lo);
  if (hc < oc)
    hc = oc;
  if (hc < cc)
    hc = cc;
  if (lc > oc)
    lc = oc;
  if (lc > cc)
    lc = cc;
  g->close_c = cc;

  double move = (r < 0 ? -r : r) / g->sig;
  double v = g->vol_base * u_shape(x) * (0.6 + 0.8 * unif(&g->r)) *
             (1.0 + 0.5 * clampd(move, 0, 10));
  int64_t vol = (int64_t)(v + 0.5);
  if (vol < 1)
    vol = 1;

  b->open = oc * CENT;
  b->high = hc * CENT;
  b->low = lc * CENT;
  b->close = cc * CENT;
  b->volume = vol * FX_SCALE;
}

/* ---- driver ------------------------------------------------------------ */

static int check_opts(const gen_opts *o) {
  if (!o->symbols || o->nsymbols == 0 || o->nsymbols > 100000)
    return DTO_EINVAL;
  if (o->days < 1 || o->days > GEN_MAX_DAYS)
    return DTO_EINVAL;
  if (o->bar_dur <= 0 || o->bar_dur > DTO_NS_PER_DAY ||
      o->bar_dur % DTO_NS_PER_SEC != 0)
    return DTO_EINVAL;
  for (size_t i = 0; i < o->nsymbols; i++) {
    if (!o->symbols[i] || !symbol_valid(o->symbols[i]))
      return DTO_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (!strcmp(o->symbols[i], o->symbols[j]))
        return DTO_EINVAL;
  }
  return 0;
}

int gen_bars(const gen_opts *o, bar_vec *out) {
  int rc = check_opts(o);
  if (rc)
    return rc;
  const calendar *cal = o->cal ? o->cal : calendar_us_equity();
  session *ss = xmalloc((size_t)o->days * sizeof *ss);
  uint64_t total = 0;
  int64_t day = o->start_day;
  for (int d = 0; d < o->days; d++) {
    int empty = 0;
    while (!calendar_session(cal, day, &ss[d])) {
      day++;
      if (++empty > MAX_EMPTY_DAYS) {
        free(ss);
        return DTO_ERANGE;
      }
    }
    day++;
    int64_t len = ss[d].close - ss[d].open;
    total += (uint64_t)(len > 0 ? len / o->bar_dur : 0) * o->nsymbols;
    if (total > GEN_MAX_BARS) {
      free(ss);
      return DTO_ETOOBIG;
    }
  }

  gsym *g = xmalloc(o->nsymbols * sizeof *g);
  for (size_t s = 0; s < o->nsymbols; s++)
    sym_init(&g[s], o->seed, s, o->bar_dur);
  out->v = xgrow(out->v, &out->cap, out->n + (size_t)total, sizeof *out->v);
  for (int d = 0; d < o->days; d++) {
    int64_t nbars = (ss[d].close - ss[d].open) / o->bar_dur;
    if (nbars <= 0)
      continue;
    for (size_t s = 0; s < o->nsymbols; s++)
      day_start(&g[s]);
    for (int64_t i = 0; i < nbars; i++) {
      double x = (double)i / (double)nbars;
      for (size_t s = 0; s < o->nsymbols; s++) {
        bar *b = &out->v[out->n++];
        step(&g[s], x, b);
        b->ts = ss[d].open + i * o->bar_dur;
        b->dur = o->bar_dur;
        b->sym = (sym_id)s;
      }
    }
  }
  free(g);
  free(ss);
  return 0;
}
