/* bar_agg.h - build OHLCV bars from trades, or bigger bars from smaller ones.
 *
 * One aggregator serves one symbol and one interval (1 s .. 1 d) on one
 * trading calendar.  Buckets are aligned to the session, not to the clock:
 *
 *   - Regular hours: buckets start at the session open (09:30 New York for
 *     "us_equity", 00:00 UTC for "crypto") and step by the interval.  A bucket
 *     never spans the close: the last one of the day is cut there (16:00, or
 *     13:00 on early-close days), so 1h bars of a normal day run 09:30-10:30
 *     ... 14:30-15:30, 15:30-16:00, and "1d" gives one bar per session
 *     [open, close).
 *   - Extended hours (only when the aggregator was made with extended=true):
 *     pre-market buckets start at pre_open (04:00) and are cut at the open;
 *     post-market buckets start at the close and are cut at post_close.  With
 *     "1d" that makes up to three bars a day: pre, regular and post.  Without
 *     extended=true, trades and bars outside regular hours (and on days with
 *     no session) are ignored and counted (bar_agg_ignored()).
 *
 * A bar is emitted when an event of a later bucket arrives or when
 * bar_agg_flush() is told that time has passed its end.  Buckets without any
 * trade produce no bar: there are no empty or forward-filled bars, so a
 * consumer sees gaps.  bar.ts is the bucket start, bar.dur the bucket length
 * (cut at the segment end where relevant), volume the sum of trade sizes.
 *
 * Within one bucket, open and close follow arrival order.  An event older than
 * the current bucket (or than the end of a bar already emitted) is out of
 * order: it is refused with DTO_EINVAL and not applied.  Every call emits at
 * most BAR_AGG_MAX_OUT bars.  Not thread-safe; one aggregator per thread.
 */
#ifndef DTO_MARKET_BAR_AGG_H
#define DTO_MARKET_BAR_AGG_H

#include "core/prelude.h"
#include "market/calendar.h"
#include "market/event.h"

typedef struct bar_agg bar_agg;

#define BAR_INTERVAL_MIN DTO_NS_PER_SEC
#define BAR_INTERVAL_MAX DTO_NS_PER_DAY
/* The most bars any one call can emit; an out array of this size always
 * suffices. */
#define BAR_AGG_MAX_OUT 1

/* Parse a bar interval: a whole number of seconds written with unit s, m, h
 * or d ("1s", "5s", "1m", "5m", "15m", "1h", "1d"), from 1 s to 1 d.
 * DTO_EINVAL for NULL, DTO_EPARSE for malformed text (or longer than 32
 * bytes), DTO_ERANGE for a value outside 1s..1d or not whole seconds. */
int interval_parse(const char *s, dto_time *out);

/* The bucket containing instant t for interval on cal: its start and its end
 * (cut at the end of the session segment).  extended says whether extended
 * hours form buckets.  DTO_ECLOSED when t is in no bucket (market closed, or
 * extended hours with extended false), DTO_ERANGE for an interval outside
 * BAR_INTERVAL_MIN..BAR_INTERVAL_MAX, DTO_EINVAL for NULL pointers. */
int bar_bucket(const calendar *cal, dto_time interval, bool extended,
               dto_time t, dto_time *start, dto_time *end);

/* Create an aggregator for symbol sym.  cal is borrowed and must outlive the
 * aggregator.  DTO_EINVAL for NULL cal or out, DTO_ERANGE for an interval
 * outside BAR_INTERVAL_MIN..BAR_INTERVAL_MAX.  Free with bar_agg_free(). */
int bar_agg_new(const calendar *cal, dto_time interval, bool extended,
                sym_id sym, bar_agg **out);
/* Free a; NULL does nothing.  A bar in progress is discarded (flush first). */
void bar_agg_free(bar_agg *a);

/* Feed one trade.  When it completes the bar in progress, that bar is
 * written to out[0] and *nout is 1; otherwise *nout is 0.  A trade outside
 * the aggregated hours still completes the bar in progress (it shows that
 * time has moved on) and is then ignored and counted.  Errors (nothing is
 * applied, *nout is 0, bar_agg_error() says why):
 *   DTO_EINVAL    NULL a/t/nout, out NULL with cap > 0, t->sym not the
 *                 aggregator's symbol, price <= 0, size < 0, or out of order;
 *   DTO_EOVERFLOW the bar's volume would overflow;
 *   DTO_EFULL     a bar must be emitted but cap is 0. */
int bar_agg_add_trade(bar_agg *a, const trade *t, bar *out, size_t cap,
                      size_t *nout);

/* Feed one smaller bar (e.g. 1m bars into a 5m aggregator).  The input must
 * fit inside one output bucket ([in->ts, in->ts + in->dur) may not cross a
 * bucket end) and must not overlap the previous input bar.  Open is the first
 * input's open, close the last one's close, high/low the extremes, volume the
 * sum.  Output and errors as for bar_agg_add_trade(), plus DTO_EINVAL for a
 * bar that fails bar_check(), a negative dur, an overlap or a bucket
 * crossing. */
int bar_agg_add_bar(bar_agg *a, const bar *in, bar *out, size_t cap,
                    size_t *nout);

/* Emit the bar in progress if time t is at or past its end.  Call it from a
 * timer so that a bar is not held back until the next trade, and with
 * t = INT64_MAX at the end of the data to emit the last (possibly partial)
 * bar.  Errors: DTO_EINVAL for NULL a/nout or out NULL with cap > 0,
 * DTO_EFULL when a bar is due but cap is 0. */
int bar_agg_flush(bar_agg *a, dto_time t, bar *out, size_t cap, size_t *nout);

/* How many trades and bars were ignored because they fell outside the
 * aggregated hours. */
uint64_t bar_agg_ignored(const bar_agg *a);

/* Why the last call failed, naming the field ("trade.ts: before the current
 * bar (out of order)"); "" when the last call succeeded.  Owned by a, valid
 * until the next call on a. */
const char *bar_agg_error(const bar_agg *a);

#endif
