/* bar_agg.c - session-aligned bar aggregation (see bar_agg.h for the rules).
 *
 * The aggregator holds at most one bar in progress.  Bucket boundaries come
 * from the calendar's session of the event's local day, so they follow the
 * exchange's clock across daylight saving changes and early closes.  It does
 * not fill gaps, adjust for splits or read files.
 */
#include "market/bar_agg.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

struct bar_agg {
  const calendar *cal; /* not owned */
  dto_time interval;
  bool extended;
  sym_id sym;
  bool busy;            /* a bar is in progress in cur */
  bar cur;              /* ts = bucket start, dur = bucket length */
  dto_time watermark;   /* events before this are out of order */
  dto_time last_in_end; /* end of the last input bar (bar input only) */
  uint64_t ignored;
  char err[96];
};

int interval_parse(const char *s, dto_time *out) {
  if (s == NULL || out == NULL)
    return DTO_EINVAL;
  size_t len = strnlen(s, 33);
  if (len == 0 || len > 32)
    return DTO_EPARSE;
  /* Only whole-second units; "500ms" is malformed here, not out of range. */
  char u = s[len - 1];
  if (u != 's' && u != 'm' && u != 'h' && u != 'd')
    return DTO_EPARSE;
  if (len >= 2 && (s[len - 2] < '0' || s[len - 2] > '9'))
    return DTO_EPARSE;
  dto_time v;
  int rc = duration_parse(s, &v);
  if (rc < 0)
    return rc;
  if (v < BAR_INTERVAL_MIN || v > BAR_INTERVAL_MAX || v % DTO_NS_PER_SEC)
    return DTO_ERANGE;
  *out = v;
  return 0;
}

int bar_bucket(const calendar *cal, dto_time interval, bool extended,
               dto_time t, dto_time *start, dto_time *end) {
  if (cal == NULL || start == NULL || end == NULL)
    return DTO_EINVAL;
  if (interval < BAR_INTERVAL_MIN || interval > BAR_INTERVAL_MAX)
    return DTO_ERANGE;
  session s;
  if (!calendar_session(cal, calendar_local_day(cal, t), &s))
    return DTO_ECLOSED;
  dto_time anchor, seg_end;
  if (t >= s.open && t < s.close) {
    anchor = s.open;
    seg_end = s.close;
  } else if (extended && t >= s.pre_open && t < s.open) {
    anchor = s.pre_open;
    seg_end = s.open;
  } else if (extended && t >= s.close && t < s.post_close) {
    anchor = s.close;
    seg_end = s.post_close;
  } else {
    return DTO_ECLOSED;
  }
  dto_time b = anchor + (t - anchor) / interval * interval;
  *start = b;
  *end = seg_end - b < interval ? seg_end : b + interval;
  return 0;
}

int bar_agg_new(const calendar *cal, dto_time interval, bool extended,
                sym_id sym, bar_agg **out) {
  if (cal == NULL || out == NULL)
    return DTO_EINVAL;
  if (interval < BAR_INTERVAL_MIN || interval > BAR_INTERVAL_MAX)
    return DTO_ERANGE;
  bar_agg *a = xcalloc(1, sizeof(*a));
  a->cal = cal;
  a->interval = interval;
  a->extended = extended;
  a->sym = sym;
  a->watermark = INT64_MIN;
  a->last_in_end = INT64_MIN;
  *out = a;
  return 0;
}

void bar_agg_free(bar_agg *a) { free(a); }

uint64_t bar_agg_ignored(const bar_agg *a) { return a->ignored; }

const char *bar_agg_error(const bar_agg *a) { return a->err; }

static int fail(bar_agg *a, int rc, const char *why) {
  snprintf(a->err, sizeof(a->err), "%s", why);
  return rc;
}

/* Common argument checks; clears the error and *nout. */
static int begin(bar_agg *a, const void *ev, bar *out, size_t cap,
                 size_t *nout) {
  if (a == NULL || nout == NULL)
    return DTO_EINVAL;
  *nout = 0;
  a->err[0] = '\0';
  if (ev == NULL)
    return fail(a, DTO_EINVAL, "event: NULL");
  if (out == NULL && cap > 0)
    return fail(a, DTO_EINVAL, "out: NULL with a non-zero capacity");
  return 0;
}

/* Move the bar in progress to out[0]. */
static void emit(bar_agg *a, bar *out, size_t *nout) {
  out[0] = a->cur;
  *nout = 1;
  a->watermark = bar_end(&a->cur);
  a->busy = false;
}

/* Where event time ts goes.  Returns 0 with the bucket (*same when it is the
 * bar in progress), DTO_ECLOSED when ts is outside the aggregated hours, or an
 * error.  Changes nothing but the error text; when ts is past the end of the
 * bar in progress, that bar must be emitted, so cap 0 is refused here. */
static int place(bar_agg *a, dto_time ts, const char *field, size_t cap,
                 dto_time *start, dto_time *end, bool *same) {
  if (ts < a->watermark) {
    char why[64];
    snprintf(why, sizeof(why), "%s: before the current bar (out of order)",
             field);
    return fail(a, DTO_EINVAL, why);
  }
  if (a->busy && ts < bar_end(&a->cur)) {
    *same = true;
    *start = a->cur.ts;
    *end = bar_end(&a->cur);
    return 0;
  }
  *same = false;
  if (a->busy && cap == 0)
    return fail(a, DTO_EFULL, "out: no room for the finished bar");
  return bar_bucket(a->cal, a->interval, a->extended, ts, start, end);
}

/* Apply one OHLCV contribution (a trade is open=high=low=close=price). */
static int apply(bar_agg *a, bool same, dto_time start, dto_time end, fx open,
                 fx high, fx low, fx close, fx vol, const char *vol_field,
                 bar *out, size_t *nout) {
  if (same) {
    fx v;
    if (fx_add(a->cur.volume, vol, &v) < 0) {
      char why[64];
      snprintf(why, sizeof(why), "%s: bar volume overflows", vol_field);
      return fail(a, DTO_EOVERFLOW, why);
    }
    a->cur.high = fx_max(a->cur.high, high);
    a->cur.low = fx_min(a->cur.low, low);
    a->cur.close = close;
    a->cur.volume = v;
    return 0;
  }
  if (a->busy)
    emit(a, out, nout);
  a->busy = true;
  a->cur = (bar){.ts = start,
                 .dur = end - start,
                 .open = open,
                 .high = high,
                 .low = low,
                 .close = close,
                 .volume = vol,
                 .sym = a->sym};
  a->watermark = start;
  return 0;
}

/* An event outside the aggregated hours: it still completes the bar in
 * progress, then it is counted. */
static void skip(bar_agg *a, dto_time ts, bar *out, size_t *nout) {
  if (a->busy && ts >= bar_end(&a->cur))
    emit(a, out, nout);
  a->ignored++;
}

int bar_agg_add_trade(bar_agg *a, const trade *t, bar *out, size_t cap,
                      size_t *nout) {
  int rc = begin(a, t, out, cap, nout);
  if (rc < 0)
    return rc;
  if (t->sym != a->sym)
    return fail(a, DTO_EINVAL, "trade.sym: not this aggregator's symbol");
  if (t->price <= 0)
    return fail(a, DTO_EINVAL, "trade.price: must be positive");
  if (t->size < 0)
    return fail(a, DTO_EINVAL, "trade.size: must not be negative");
  dto_time start, end;
  bool same;
  rc = place(a, t->ts, "trade.ts", cap, &start, &end, &same);
  if (rc == DTO_ECLOSED) {
    skip(a, t->ts, out, nout);
    return 0;
  }
  if (rc < 0)
    return rc;
  return apply(a, same, start, end, t->price, t->price, t->price, t->price,
               t->size, "trade.size", out, nout);
}

int bar_agg_add_bar(bar_agg *a, const bar *in, bar *out, size_t cap,
                    size_t *nout) {
  int rc = begin(a, in, out, cap, nout);
  if (rc < 0)
    return rc;
  if (in->sym != a->sym)
    return fail(a, DTO_EINVAL, "bar.sym: not this aggregator's symbol");
  const char *bad = bar_check(in);
  if (bad != NULL) {
    char why[64];
    snprintf(why, sizeof(why), "bar: %s", bad);
    return fail(a, DTO_EINVAL, why);
  }
  dto_time in_end;
  if (in->dur < 0 || __builtin_add_overflow(in->ts, in->dur, &in_end))
    return fail(a, DTO_EINVAL, "bar.dur: negative or too large");
  if (in->ts < a->last_in_end)
    return fail(a, DTO_EINVAL, "bar.ts: overlaps the previous input bar");
  dto_time start, end;
  bool same;
  rc = place(a, in->ts, "bar.ts", cap, &start, &end, &same);
  if (rc == DTO_ECLOSED) {
    skip(a, in->ts, out, nout);
    a->last_in_end = in_end;
    return 0;
  }
  if (rc < 0)
    return rc;
  if (in_end > end)
    return fail(a, DTO_EINVAL,
                "bar.dur: input bar crosses the end of an output bar");
  rc = apply(a, same, start, end, in->open, in->high, in->low, in->close,
             in->volume, "bar.volume", out, nout);
  if (rc == 0)
    a->last_in_end = in_end;
  return rc;
}

int bar_agg_flush(bar_agg *a, dto_time t, bar *out, size_t cap, size_t *nout) {
  if (a == NULL || nout == NULL)
    return DTO_EINVAL;
  *nout = 0;
  a->err[0] = '\0';
  if (out == NULL && cap > 0)
    return fail(a, DTO_EINVAL, "out: NULL with a non-zero capacity");
  if (!a->busy || t < bar_end(&a->cur))
    return 0;
  if (cap == 0)
    return fail(a, DTO_EFULL, "out: no room for the finished bar");
  emit(a, out, nout);
  return 0;
}
