/* backtest.h - run configured strategies over historical data.
 *
 * Streams the data named in the configuration (or given on the command
 * line) as one time-ordered merge of its files (feed_stream), drives it
 * through a runner (paper exchange, engine, strategies) and writes the
 * reports as they are produced, through 64 KiB buffers: summary.json,
 * trades.csv, orders.csv, fills.csv, equity.csv (sampled per
 * backtest.equity_interval) and events.jsonl (the structured log of every
 * order and fill).  Memory does not grow with the number of bars: the
 * figures of summary.json are computed online (metrics_acc).  The report
 * files appear whole, when the run has succeeded.  The same inputs give
 * byte-identical files: nothing in them depends on the wall clock, the
 * machine or the output folder.
 */
#ifndef DTO_APP_BACKTEST_H
#define DTO_APP_BACKTEST_H

#include "app/config.h"

typedef struct backtest_opts {
  const char *const *data; /* --data files overriding the config; may be NULL */
  size_t ndata;
  dto_time from, to; /* override the config when not INT64_MIN / INT64_MAX */
  const char *out_dir; /* override; NULL uses the config's */
  bool skip_bad_rows;
  bool quiet; /* no progress display */
  FILE *summary_out; /* where the summary table goes (stdout); may be NULL */
} backtest_opts;

void backtest_opts_init(backtest_opts *o);

/* Run the backtest.  Returns 0, or a negative code with a one-line message
 * in err (a data error carries its "file:line: reason"). */
int backtest_run(const dto_config *cfg, const backtest_opts *o, char *err,
                 size_t errcap);

#endif
