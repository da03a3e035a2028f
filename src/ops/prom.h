/* prom.h - metrics: a set of samples, histograms, and the Prometheus text
 * exposition format (version 0.0.4).
 *
 * A scrape or an alert evaluation builds one mset: families (a name, a
 * type, a help text) each with samples (label pairs and a value).  The same
 * set is rendered for GET /metrics and read by the alert rules, so a rule
 * and a Prometheus query over /metrics see the same numbers.
 *
 *   mset *m = mset_new();
 *   mset_family(m, "dto_orders_total", MT_COUNTER, "Orders sent.");
 *   mset_add(m, 12, "status", "filled", NULL);
 *   mset_add(m, 3, "status", "canceled", NULL);
 *   mset_family(m, "dto_uptime_seconds", MT_GAUGE, "Time since start.");
 *   mset_add(m, 42.5, NULL);
 *   mset_render(m, &buf);
 *
 * Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names
 * [a-zA-Z_][a-zA-Z0-9_]* (not starting "__"); a bad one is a programming
 * error caught by an assert in debug builds and skipped otherwise.  Label
 * values are any UTF-8 and are escaped on output (\\, \", \n).  Values are
 * written as Go's strconv does for float64: integers without a fraction,
 * +Inf, -Inf, NaN.
 *
 * A histogram (mhist) is shared by the threads that observe into it:
 * mhist_observe is lock-free (relaxed atomics), and a scrape copies it with
 * mhist_read.  The copy may be a few observations apart between _count and
 * the buckets; _count is written as the +Inf bucket, so the output is always
 * consistent.
 *
 * Thread-safety: an mset belongs to one thread; mhist is shared.
 */
#ifndef DTO_OPS_PROM_H
#define DTO_OPS_PROM_H

#include <stdatomic.h>

#include "core/buf.h"
#include "core/prelude.h"

enum mtype { MT_GAUGE, MT_COUNTER, MT_HISTOGRAM, MT_COUNT };
const char *mtype_name(enum mtype t); /* "gauge", "counter", "histogram" */

/* Longest text mvalue_format() writes, with the terminating NUL. */
#define MVALUE_STRLEN 32
/* Write v as a sample value ("12", "-2.5", "0.1", "1e-09", "+Inf", "-Inf",
 * "NaN") to buf (cap >= MVALUE_STRLEN is always enough; a longer text is
 * cut to cap - 1 bytes).  Integers below 1e15 in magnitude are written
 * without a fraction or exponent, other values in the shortest %g form that
 * reads back as the same double.  Returns the length, without the NUL. */
size_t mvalue_format(double v, char *buf, size_t cap);

#define MHIST_MAX_BUCKETS 24

/* A histogram of durations or sizes.  Bounds are upper bounds (le), in the
 * unit the values are observed in (seconds for latencies). */
typedef struct mhist {
  int nb;
  double le[MHIST_MAX_BUCKETS];
  atomic_uint_fast64_t counts[MHIST_MAX_BUCKETS + 1]; /* last: above all */
  atomic_uint_fast64_t sum_nano; /* sum of values x 1e9, rounded */
} mhist;

/* Initialise h with nb ascending bounds (nb <= MHIST_MAX_BUCKETS). */
void mhist_init(mhist *h, const double *le, int nb);
/* The default latency bounds, in seconds: 0.0005 0.001 0.0025 0.005 0.01
 * 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 (14 buckets). */
void mhist_init_latency(mhist *h);
/* Count one value (any thread, lock-free).  NaN is not counted. */
void mhist_observe(mhist *h, double v);
/* Count a duration in nanoseconds as seconds. */
void mhist_observe_ns(mhist *h, int64_t ns);

/* A plain copy of a histogram at one moment. */
typedef struct mhist_snap {
  int nb;
  double le[MHIST_MAX_BUCKETS];
  uint64_t cum[MHIST_MAX_BUCKETS + 1]; /* cumulative; cum[nb] = count */
  double sum;
} mhist_snap;
void mhist_read(const mhist *h, mhist_snap *out);
/* The q-quantile (0 < q < 1) of the observations between two copies of the
 * same histogram (older, newer), by linear interpolation inside the bucket,
 * as Prometheus's histogram_quantile does; NAN when no observation came
 * between them.  older may be NULL (since the start). */
double mhist_quantile(const mhist_snap *older, const mhist_snap *newer,
                      double q);

typedef struct mset mset;

mset *mset_new(void);
/* Empty the set, keeping its memory. */
void mset_reset(mset *m);
void mset_free(mset *m);

/* Start a family; samples added next belong to it.  A family name given a
 * second time continues the first one (its type and help stay). */
void mset_family(mset *m, const char *name, enum mtype t, const char *help);
/* A sample of the current family with label pairs key, value, ..., NULL
 * (at most 8 pairs). */
void mset_add(mset *m, double v, ...);
/* The same with n pairs in arrays. */
void mset_addv(mset *m, double v, int n, const char *const *keys,
               const char *const *vals);
/* A histogram sample of the current family (its type must be
 * MT_HISTOGRAM): NAME_bucket{...,le="..."}, NAME_sum, NAME_count. */
void mset_hist(mset *m, const mhist_snap *h, int n, const char *const *keys,
               const char *const *vals);

/* Render every family in the order given, each with # HELP (left out when
 * the help text is empty or NULL) and # TYPE, into b (appended).  Returns
 * 0, or DTO_ETOOBIG when b's cap is reached, in which case b is left as it
 * was before the call. */
int mset_render(const mset *m, dbuf *b);

/* Reading samples back (the alert rules). */
typedef struct msample {
  const char *family;      /* the family's name ("x" for x_bucket too) */
  const char *name;        /* the sample's own name: x, x_bucket, x_sum */
  int nlabels;
  const char *const *keys; /* nlabels each */
  const char *const *vals;
  double v;
} msample;
size_t mset_count(const mset *m);
/* Sample i (0 <= i < mset_count), valid until the set changes. */
void mset_at(const mset *m, size_t i, msample *out);
/* The value of label key in s, or NULL. */
const char *msample_label(const msample *s, const char *key);

#endif
