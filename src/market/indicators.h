/* indicators.h - streaming technical indicators in double precision.
 *
 * Each indicator is a plain value type: init it once, feed it one value (or
 * one bar's high/low/close/volume) per update, ask whether it is ready and
 * read its value.  Nothing allocates; indicators that need a window keep it
 * in a fixed ring of IND_MAX_PERIOD doubles inside the struct, so an
 * indicator can be embedded in a strategy's state and copied with '='.
 * Every update is O(1) (no loops, no divisions) because the update functions
 * sit on the engine's hot path.
 *
 * The definitions follow TA-Lib and R's TTR (see docs/internals/indicators.md
 * for each warm-up and seed) and are checked against TTR's output in
 * tests/unit/test_indicators.c.  This module is analytics only: the values
 * are doubles and never flow into the ledger.  Inputs must be finite.
 *
 * On top of the typed structs, `indicator` is a tagged union driven by a
 * text spec ("sma:20", "bb:20:2", "macd:12:26:9") for the CLI and for
 * strategy configurations.
 */
#ifndef DTO_MARKET_INDICATORS_H
#define DTO_MARKET_INDICATORS_H

#include "core/prelude.h"
#include "core/fx.h"
#include "market/event.h"

/* Largest period (window length) any indicator accepts. */
#define IND_MAX_PERIOD 1000

/* ---- simple moving average -------------------------------------------- */

/* A compensated (Neumaier) running sum: s + c is the sum, with c holding
 * the low-order bits that s could not.  Internal to the windowed
 * indicators. */
typedef struct ind_ksum {
  double s, c;
} ind_ksum;

/* Mean of the last n values.  The running sum is compensated, so a huge
 * value that enters and leaves the window leaves no residue behind; and it
 * is replaced every n updates by a sum accumulated afresh over exactly the
 * current window, so rounding error cannot build up over a long run (and no
 * update ever loops over the window). */
typedef struct ind_sma {
  int n, count, head, block;
  double inv_n;
  ind_ksum sum, fresh;
  double ring[IND_MAX_PERIOD];
} ind_sma;

/* DTO_ERANGE unless 1 <= n <= IND_MAX_PERIOD (then *s is untouched). */
int ind_sma_init(ind_sma *s, int n);
void ind_sma_update(ind_sma *s, double x);
/* True once n values have been seen. */
bool ind_sma_ready(const ind_sma *s);
/* The current mean; meaningless before ready. */
double ind_sma_value(const ind_sma *s);
/* Feed x[0..len) in order and store in out[i] the mean after x[i], or NAN
 * while not ready: the same values, bit for bit, as len calls of
 * ind_sma_update() and ind_sma_value(), and *s ends in the same state, so
 * series and single updates can be mixed.  It is the fast way over a whole
 * series: the running sums of successive blocks of n values are independent
 * (each starts from the fresh sum of the block before), so it computes two
 * blocks at a time in the lanes of a vector.  out (len doubles, owned by the
 * caller) must not overlap x. */
void ind_sma_series(ind_sma *s, const double *x, size_t len, double *out);

/* ---- simple moving average of fixed-point values ---------------------- */

/* The mean of the last n fx values (prices), kept as an exact integer sum:
 * no rounding error at all, so no compensation and no periodic refresh, and
 * two averages can be compared exactly (ind_smafx_cmp).  The sum is an
 * int64, which bounds the values: n x |x| < 9.2e18, i.e. prices below
 * 92 million per unit for n = 1000.  The update is on the engine's hot path
 * and inline. */
typedef struct ind_smafx {
  int n, count, head;
  int64_t sum;
  fx ring[IND_MAX_PERIOD];
} ind_smafx;

/* DTO_ERANGE unless 1 <= n <= IND_MAX_PERIOD. */
int ind_smafx_init(ind_smafx *s, int n);

static inline void ind_smafx_slide(ind_smafx *s, fx x);

static inline void ind_smafx_update(ind_smafx *s, fx x) {
  if (DTO_LIKELY(s->count == s->n)) {
    ind_smafx_slide(s, x);
    return;
  }
  s->count++;
  s->sum += x;
  s->ring[s->head] = x;
  if (++s->head == s->n)
    s->head = 0;
}

static inline bool ind_smafx_ready(const ind_smafx *s) {
  return s->count == s->n;
}

/* ind_smafx_update of a ready average (the window slides by one value):
 * for a caller that has checked ind_smafx_ready already. */
static inline void ind_smafx_slide(ind_smafx *s, fx x) {
  int h = s->head;
  s->sum -= s->ring[h];
  s->sum += x;
  s->ring[h] = x;
  s->head = h + 1 == s->n ? 0 : h + 1;
}

/* The mean, in price units (meaningless before ready). */
static inline double ind_smafx_value(const ind_smafx *s) {
  return (double)s->sum / (double)s->count / (double)FX_SCALE;
}

/* ind_smafx_cmp's products in 64 bits: true with the answer in *out, or
 * false (*out untouched) when one of them does not fit there (a sum above
 * INT64_MAX / count), where ind__smafx_cmp_wide answers.  A product that
 * fits in 64 bits is the same number as in 128, so both ways agree. */
static inline bool ind_smafx_cmp64(const ind_smafx *a, const ind_smafx *b,
                                   int *out) {
  int64_t l, r;
  if (DTO_UNLIKELY(__builtin_mul_overflow(a->sum, (int64_t)b->count, &l) ||
                   __builtin_mul_overflow(b->sum, (int64_t)a->count, &r)))
    return false;
  *out = (l > r) - (l < r);
  return true;
}

/* ind_smafx_cmp with both products in 128 bits, where they always fit. */
static inline int ind__smafx_cmp_wide(const ind_smafx *a, const ind_smafx *b) {
  __int128 l = (__int128)a->sum * b->count, r = (__int128)b->sum * a->count;
  return (l > r) - (l < r);
}

/* Exact comparison of two ready averages: -1, 0 or +1 as a < b, a == b,
 * a > b (sum_a / n_a vs sum_b / n_b, cross-multiplied). */
static inline int ind_smafx_cmp(const ind_smafx *a, const ind_smafx *b) {
  int c;
  return ind_smafx_cmp64(a, b, &c) ? c : ind__smafx_cmp_wide(a, b);
}

/* ---- exponential moving average --------------------------------------- */

/* alpha = 2/(n+1), seeded with the simple mean of the first n values. */
typedef struct ind_ema {
  int n, count;
  double alpha, inv_n;
  double v; /* running sum during warm-up, then the average */
} ind_ema;

/* DTO_ERANGE unless 1 <= n <= IND_MAX_PERIOD. */
int ind_ema_init(ind_ema *s, int n);
void ind_ema_update(ind_ema *s, double x);
/* True once n values have been seen. */
bool ind_ema_ready(const ind_ema *s);
double ind_ema_value(const ind_ema *s);
/* As ind_sma_series(): out[i] is the EMA after x[i] (NAN while not ready),
 * identical to value-by-value updates. */
void ind_ema_series(ind_ema *s, const double *x, size_t len, double *out);

/* ---- relative strength index (Wilder) --------------------------------- */

/* Average gain and loss of the last changes, Wilder-smoothed (alpha 1/n),
 * seeded with the simple means of the first n gains and losses.  RSI =
 * 100 * gain / (gain + loss).  When both averages are 0 (a flat series) the
 * value is 50: neither side has the strength. */
typedef struct ind_rsi {
  int n, count; /* count: changes seen, saturating at n */
  bool primed;  /* a previous value exists */
  double inv_n, prev, gain, loss;
} ind_rsi;

/* DTO_ERANGE unless 1 <= n <= IND_MAX_PERIOD. */
int ind_rsi_init(ind_rsi *s, int n);
void ind_rsi_update(ind_rsi *s, double x);
/* True after n + 1 values (n changes). */
bool ind_rsi_ready(const ind_rsi *s);
double ind_rsi_value(const ind_rsi *s);
/* As ind_sma_series(): out[i] is the RSI after x[i] (NAN while not ready),
 * identical to value-by-value updates. */
void ind_rsi_series(ind_rsi *s, const double *x, size_t len, double *out);

/* ---- average true range (Wilder) -------------------------------------- */

/* True range = max(high, previous close) - min(low, previous close).  The
 * first bar has no previous close and its range (high - low) is not used,
 * as in TA-Lib and TTR: the seed is the simple mean of the true ranges of
 * bars 2..n+1, then Wilder smoothing (alpha 1/n). */
typedef struct ind_atr {
  int n, count; /* count: true ranges seen, saturating at n */
  bool primed;
  double inv_n, prev_close, v;
} ind_atr;

/* DTO_ERANGE unless 1 <= n <= IND_MAX_PERIOD. */
int ind_atr_init(ind_atr *s, int n);
void ind_atr_update(ind_atr *s, double high, double low, double close);
/* True after n + 1 bars. */
bool ind_atr_ready(const ind_atr *s);
double ind_atr_value(const ind_atr *s);

/* ---- Bollinger bands -------------------------------------------------- */

/* middle = SMA(n), lower/upper = middle -/+ k * population standard
 * deviation (divide by n) of the last n values.  The compensated sums are of
 * x - shift, where shift is a recent value (the last one of the previous
 * block of n), so the variance does not cancel catastrophically when prices
 * are large and the spread small.  Sums are renewed every n updates as in
 * ind_sma. */
typedef struct ind_bb {
  int n, count, head, block;
  double k, inv_n;
  double shift, fshift; /* fshift: the shift of the sums being refreshed */
  ind_ksum s1, s2;      /* sums of (x - shift) and of its square */
  ind_ksum f1, f2;      /* the same over the current block, for renewal */
  double ring[IND_MAX_PERIOD];
} ind_bb;

/* DTO_ERANGE unless 1 <= n <= IND_MAX_PERIOD and 0 < k <= 100. */
int ind_bb_init(ind_bb *s, int n, double k);
void ind_bb_update(ind_bb *s, double x);
/* True once n values have been seen. */
bool ind_bb_ready(const ind_bb *s);
/* The three bands; any pointer may be NULL. */
void ind_bb_value(const ind_bb *s, double *lower, double *middle,
                  double *upper);

/* ---- MACD ------------------------------------------------------------- */

/* macd = EMA(fast) - EMA(slow) of the input (both seeded as ind_ema, both
 * starting at the first value); signal = EMA(signal) of macd, seeded with
 * the mean of its first `signal` values; hist = macd - signal. */
typedef struct ind_macd {
  ind_ema fast, slow, signal;
} ind_macd;

/* DTO_ERANGE unless each period is in 1..IND_MAX_PERIOD and fast < slow. */
int ind_macd_init(ind_macd *s, int fast, int slow, int signal);
void ind_macd_update(ind_macd *s, double x);
/* The macd line is ready after `slow` values. */
bool ind_macd_ready(const ind_macd *s);
/* Signal and histogram are ready after slow + signal - 1 values. */
bool ind_macd_signal_ready(const ind_macd *s);
/* Any pointer may be NULL; signal and hist are meaningless until
 * ind_macd_signal_ready(). */
void ind_macd_value(const ind_macd *s, double *macd, double *signal,
                    double *hist);

/* ---- rolling VWAP ----------------------------------------------------- */

/* sum(price * volume) / sum(volume) over the last n bars.  The reference
 * (TTR's VWAP) uses the close as the price; the generic layer does too. */
typedef struct ind_vwap {
  int n, count, head, block;
  int nonzero;               /* bars in the window with volume != 0 */
  ind_ksum spv, sv, fpv, fv; /* as in ind_sma */
  double ring_pv[IND_MAX_PERIOD];
  double ring_v[IND_MAX_PERIOD];
} ind_vwap;

/* DTO_ERANGE unless 1 <= n <= IND_MAX_PERIOD. */
int ind_vwap_init(ind_vwap *s, int n);
/* volume must be >= 0. */
void ind_vwap_update(ind_vwap *s, double price, double volume);
/* True once n bars have been seen and at least one of the last n had
 * volume: a window without volume has no VWAP. */
bool ind_vwap_ready(const ind_vwap *s);
double ind_vwap_value(const ind_vwap *s);

/* ---- session VWAP ----------------------------------------------------- */

/* Cumulative sum(typical * volume) / sum(volume) since the last reset, with
 * typical = (high + low + close) / 3.  The caller decides what a session
 * is and calls ind_svwap_reset() before the first bar of each one (the
 * engine at each exchange session open; `dto indicators` at each new UTC
 * date). */
typedef struct ind_svwap {
  double spv, sv;
  bool any; /* a bar with volume > 0 since the reset */
} ind_svwap;

void ind_svwap_init(ind_svwap *s);
/* Start a new session: forget everything. */
void ind_svwap_reset(ind_svwap *s);
/* volume must be >= 0. */
void ind_svwap_update(ind_svwap *s, double high, double low, double close,
                      double volume);
/* True once a bar with volume > 0 has been seen since the reset. */
bool ind_svwap_ready(const ind_svwap *s);
double ind_svwap_value(const ind_svwap *s);

/* ---- generic, name-driven layer --------------------------------------- */

/* Kinds, with their spec and output names:
 *   sma:N       sma_N
 *   ema:N       ema_N
 *   rsi:N       rsi_N
 *   atr:N       atr_N
 *   bb:N:K      bb_lower_N_K, bb_middle_N_K, bb_upper_N_K
 *   macd:F:S:G  macd_F_S_G, macd_signal_F_S_G, macd_hist_F_S_G
 *   vwap:N      vwap_N (close-weighted)
 *   svwap       svwap (typical-price-weighted, per session) */
enum ind_kind {
  IND_SMA,
  IND_EMA,
  IND_RSI,
  IND_ATR,
  IND_BB,
  IND_MACD,
  IND_VWAP,
  IND_SVWAP,
  IND_KIND_COUNT
};

/* Longest spec indicator_parse() accepts, in bytes. */
#define IND_SPEC_MAX 64
/* Most outputs any indicator has. */
#define IND_MAX_OUTPUTS 3
/* A buffer of this size always holds an output name. */
#define IND_NAME_MAX 64

/* A tagged union over the indicators above.  Large (two rings for vwap):
 * keep it in a heap array or a strategy's state, not in a small stack
 * frame.  Price indicators read the bar's close; atr reads high, low and
 * close; vwap close and volume; svwap high, low, close and volume. */
typedef struct indicator {
  enum ind_kind kind;
  union {
    ind_sma sma;
    ind_ema ema;
    ind_rsi rsi;
    ind_atr atr;
    ind_bb bb;
    ind_macd macd;
    ind_vwap vwap;
    ind_svwap svwap;
  } u;
} indicator;

/* Parse spec ("sma:20", "bb:20:2", "macd:12:26:9", "svwap") and initialise
 * *out, ready for its first update.  Periods are decimal integers
 * 1..IND_MAX_PERIOD; the Bollinger k is a plain decimal ("2", "2.5"),
 * 0 < k <= 100.  Errors: DTO_EPARSE for malformed text, an unknown kind or a
 * wrong number of parameters; DTO_ERANGE for a value out of range; DTO_ETOOBIG
 * for a spec longer than IND_SPEC_MAX.  On error *out is untouched and, when
 * err is not NULL, err (errcap bytes) gets a one-line reason that quotes the
 * offending part but not the whole spec (the caller adds its own context,
 * e.g. the option or file:line). */
int indicator_parse(const char *spec, indicator *out, char *err, size_t errcap);

/* Number of output columns: 3 for bb and macd, 1 for the others. */
size_t indicator_outputs(const indicator *ind);

/* Write the name of output i ("sma_20", "bb_lower_20_2", "macd_hist_12_26_9")
 * into buf (truncated to cap bytes; IND_NAME_MAX is always enough) and
 * return buf, or NULL when i >= indicator_outputs(ind) or cap == 0. */
const char *indicator_output_name(const indicator *ind, size_t i, char *buf,
                                  size_t cap);

/* Number of bars that must be fed before output i can be ready (assuming
 * they have volume, for the VWAPs): sma:20 -> 20, rsi:14 -> 15, atr:14 -> 15,
 * macd:12:26:9 -> 26 for the line and 34 for signal and hist, svwap -> 1.
 * 0 when i is out of range. */
int indicator_warmup(const indicator *ind, size_t i);

/* Feed one bar. */
void indicator_update(indicator *ind, const bar *b);

/* A new session begins: resets svwap, does nothing for the others.  Call it
 * before the session's first bar. */
void indicator_session_start(indicator *ind);

/* Store output i in *out and return true, or return false during warm-up
 * (or when i is out of range), leaving *out untouched. */
bool indicator_value(const indicator *ind, size_t i, double *out);

/* The kind's name ("sma", ..., "svwap"). */
const char *ind_kind_name(enum ind_kind k);

#endif
