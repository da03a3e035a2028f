/* runner.h - one trading session wired from a configuration.
 *
 * A runner builds, from a loaded dto_config, everything a session needs:
 * the simulated clock, the structured log, the paper exchange, the engine
 * with its strategies; then drives bars through them in the order the
 * engine expects and keeps the equity curve (every distinct bar end), the
 * day-end equities per strategy and in total, and the exposure count.
 * Backtests and `dto run` share it; only the feed differs.
 */
#ifndef DTO_APP_RUNNER_H
#define DTO_APP_RUNNER_H

#include <stdatomic.h>

#include "app/config.h"
#include "app/jhooks.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "engine/match.h"
#include "engine/metrics.h"

/* The engine's risk configuration for the enabled strategies of a config
 * (the arrays are owned; the rest points into the config). */
typedef struct runner_risk {
  risk_config rc;
  uint32_t *strategy_account;
  risk_order_limits *strategy_orders;
  risk_strategy_limits *strategies;
} runner_risk;

struct runner;
/* Where `dto run --out` streams its reports: told of every order once,
 * when it finishes (its legal transition into a terminal state), and of
 * every fill, from the engine's hooks, in the engine's order.  Each
 * callback may be NULL; the sink is all zero (nothing told) after
 * runner_init. */
typedef struct runner_sink {
  void *ctx;
  void (*order_done)(void *ctx, const struct runner *r, const order *o);
  void (*fill)(void *ctx, const struct runner *r, const order *o, fx qty,
               fx price, fx fee, dto_time t);
  /* the engine's alerts and risk mode changes (legal ones), for the
   * monitor; engine thread, must only queue */
  void (*alert)(void *ctx, const struct runner *r, const char *code,
                int scope, uint32_t index, const char *msg);
  void (*risk_change)(void *ctx, const struct runner *r,
                      const risk_change *c);
  /* a backtest's streamed reports: the equity samples (a distinct bar
   * end, with the total equity then; r->acc has taken it in already) and
   * every finished round trip, in the order they happen.  The samples
   * told are those of sample_every: 0 every one; else the first of each
   * interval (floordiv64(t, sample_every) differs from that of the last
   * one told), and at runner_finish the last sample if it was not told */
  void (*sample)(void *ctx, const struct runner *r, dto_time t, fx equity);
  dto_time sample_every;
  void (*trade)(void *ctx, const struct runner *r, const trade_rec *t);
} runner_sink;

/* Build it; DTO_EINVAL when the limits are inconsistent. */
int runner_risk_config(const dto_config *cfg, runner_risk *out);
void runner_risk_release(runner_risk *r);

typedef struct runner {
  const dto_config *cfg; /* not owned */
  bool live;             /* a live broker (runner_init_live) */
  /* a live broker's orders not sent yet (reconcile_opts.unsent) */
  bool (*unsent)(void *ctx, order_id id);
  void *unsent_ctx;
  sim_clock sc;
  dto_clock clock;
  dto_clock wall; /* the real clock: a live session's log */
  dto_log log;
  matcher *m;
  engine *e;
  const portfolio *pf; /* engine_portfolio(e) once started: the per-bar sample's */
  engine_account *accts;
  /* equity curve */
  eq_sample *samples;
  size_t nsamples, scap;
  size_t exposed;
  dto_time pend_t;
  bool pend;
  int64_t day; /* exchange day of the last bar */
  /* the local day of the last event's calendar (NULL: UTC) and its span,
   * so that most events need no calendar arithmetic; empty at first */
  const calendar *dc_cal;
  int64_t dc_day;
  dto_time dc_from, dc_until;
  /* the performance figures, online: every sample, day end and round
   * trip in total; day ends and round trips per strategy */
  metrics_acc acc;
  metrics_acc *sacc; /* one per engine strategy */
  uint64_t bars;
  bool keep_curve; /* keep samples in memory (off: only acc and the sink) */
  /* orders.csv rows of every order that has finished, in finishing order
   * (the OMS itself forgets old finished orders) */
  dbuf orders_csv;
  dbuf fills_csv;   /* fills.csv rows of every fill, in the engine's order */
  bool keep_orders; /* off for `dto run`, whose reports stream to sink */
  runner_sink sink;
  /* the samples told to sink.sample: the last one's time and the bounds
   * [lo, hi) of its interval (empty before the first), and whether a
   * sample since was not told */
  dto_time sq_last, sq_lo, sq_hi;
  bool sq_held;
  /* every finished round trip (the portfolio keeps only recent ones),
   * with keep_orders */
  trade_rec *trades;
  size_t ntrades, trades_cap;
  runner_risk rcfg;
  /* trade feeds: bars are built from trades for the strategies */
  struct bar_agg **aggs; /* per instrument, created at the first trade */
  dto_time bar_interval;
  uint64_t trade_events;
  /* the journal (dto run with run.store) */
  journal *j;
  struct wal *w;
  jhooks jh;
  atomic_int jfault; /* set by the writer thread: 0 healthy, else error */
  bool store_faulted;
  uint64_t jrefused_logged; /* journal items refused, already logged */
  int64_t lost_logged_ns;    /* clock_mono_ns() of the last such line */
  /* checkpoints (with a journal): see runner_sync */
  uint64_t feed_pos;   /* bars of the feed consumed, counted from its start */
  bar last_bar;        /* the last bar consumed (checked on restore) */
  int64_t ckpt_seq;    /* the last checkpoint's number */
  uint64_t ckpt_mark;  /* the journal ticket the last checkpoint covered */
  uint64_t ckpt_ticket; /* the ticket of the last checkpoint */
  uint64_t ckpt_refused; /* journal puts refused before this step */
  int64_t ckpt_mono;     /* clock_mono_ns() of the last checkpoint */
  dbuf ckpt;           /* reused for each checkpoint */
} runner;

/* Build from cfg (which must outlive the runner); the log goes to logf
 * (may be NULL for none) at cfg->log_level.  t0 starts the simulated clock.
 * With st (owned from here on, may be NULL) every order, fill, risk
 * decision and alert is journaled, and orders reach the paper exchange only
 * once the journal has them (write-ahead).
 * On failure returns a negative code with a message in err. */
int runner_init(runner *r, const dto_config *cfg, FILE *logf, dto_time t0,
                store *st, char *err, size_t errcap);
/* The same for `dto run`: orders, cancels and replaces reach the broker
 * in order at the end of each step (runner_sync), with or without a
 * store, so that a session with a journal trades exactly as one without. */
int runner_init_session(runner *r, const dto_config *cfg, FILE *logf,
                        dto_time t0, store *st, char *err, size_t errcap);
/* The same for a live broker: ops and ctx (an adapter's broker table, e.g.
 * the bridge's; not owned) take the paper exchange's place.  The engine's
 * clock is then the market's: runner_bar and runner_live_time move it to
 * each event's time. */
int runner_init_live(runner *r, const dto_config *cfg, FILE *logf,
                     dto_time t0, store *st, const broker_ops *ops, void *ctx,
                     char *err, size_t errcap);
/* A live event's time (a broker report's): the clock moves forward to it,
 * never back. */
void runner_live_time(runner *r, dto_time t);
/* Where a reconciliation with a live broker looks for fills: a little
 * before the oldest working order was created. */
dto_time runner_reconcile_since(runner *r);
/* With a journal: follow its health (halt or resume new orders) and send
 * the orders it has made durable.  Called after each event. */
void runner_sync(runner *r);
/* Checkpoint the session now (with a journal): the engine, the paper
 * exchange, the commands not yet sent and the feed position, in the
 * journal step that ends here.  runner_sync() calls it; 0 or an error. */
int runner_checkpoint(runner *r);
/* Put a checkpoint back (right after runner_init, before any event): the
 * session continues exactly as the one that wrote it, from bar feed_pos of
 * the same feed.  DTO_EINVAL with a message for a damaged checkpoint or one
 * of another configuration. */
int runner_restore_checkpoint(runner *r, const void *p, size_t n, char *err,
                              size_t cap);
/* Free everything; with a journal, flush and close it first: returns its
 * close result (non-zero: not everything could be written). */
int runner_release(runner *r);

/* Drive one bar through the paper exchange, the engine and the books. */
void runner_bar(runner *r, const bar *b);
/* runner_bar for each of the n bars of v, in order. */
void runner_bars(runner *r, const bar *v, size_t n);
/* Drive one trade: the paper exchange fills against it (fill model
 * "trade"), strategies see it in on_trade, and it goes into the bar
 * being built for its instrument (backtest.bar_interval); a completed bar
 * goes to the strategies' on_bar.  DTO_EINVAL for a trade out of order. */
int runner_trade(runner *r, const trade *t);
/* End of data: stop the strategies, cancel working orders, close the curve. */
void runner_finish(runner *r);
/* Append the orders.csv row of o to b.  tc: the caller's cache for
 * formatting times in order (rows of one file), or NULL. */
void runner_order_row(const runner *r, dbuf *b, time_fmt_cache *tc,
                      const order *o);
/* The header line of orders.csv. */
extern const char runner_orders_header[];
/* fills.csv: the header line, and the row of one fill of o (the arguments
 * of the engine's fill hook) appended to b. */
extern const char runner_fills_header[];
void runner_fill_row(const runner *r, dbuf *b, time_fmt_cache *tc,
                     const order *o, fx qty, fx price, fx fee, dto_time t);
/* positions.csv: the header line, and the row of account's position in sym
 * (strategy < 0, written with an empty strategy, as the journal's
 * positions table has it) or of strategy's (an index of the engine's
 * strategies, whose account is named) appended to b. */
extern const char runner_positions_header[];
void runner_position_row(const runner *r, dbuf *b, uint32_t account,
                         int64_t strategy, sym_id sym);

/* Total equity over all accounts. */
fx runner_equity(const runner *r);

#endif
