/* feed.h - market data for a session, loaded from files.
 *
 * Reads every bars file named in the configuration (or the given files
 * instead), maps rows to the configuration's instruments, and merges them
 * into one stream ordered by (time, instrument).  A file without a symbol
 * column takes the symbol its config entry names, else its base name
 * upper-cased (aapl.csv -> AAPL); when that is not a configured instrument
 * the file is refused.  Every bar and trade that leaves feed_load indexes
 * the configuration's instrument table (checked, never assumed).
 */
#ifndef DTO_APP_FEED_H
#define DTO_APP_FEED_H

#include "app/config.h"
#include "market/reader.h"

/* Load bars in [from, to) into out and trades into trades (the caller owns
 * and releases both; trades may be NULL, and then trade files are an error).
 * files/nfiles override the configuration's data when nfiles > 0 (bars
 * only).
 * *bad_rows gets the count of skipped rows (skip_bad_rows).  Returns 0 or a
 * negative code with a message in err: "file:line: reason" for bad data; a
 * file of the configuration that cannot be opened (missing, a folder, a
 * FIFO) or has rows without an instrument is reported at its entry,
 * "CONFIG:LINE:COL: data file PATH: cannot open: REASON". */
int feed_load(const dto_config *cfg, const char *const *files, size_t nfiles,
              dto_time from, dto_time to, bool skip_bad_rows, bool quiet,
              bar_vec *out, trade_vec *trades, size_t *bad_rows, char *err,
              size_t errcap);

/* Order of bars in a merged feed: time, then instrument. */
int feed_cmp_bar(const void *a, const void *b);

#endif
