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

/* The same data as feed_load, in the same order, streamed: bars flow from
 * the files as they are read, in bounded memory, instead of being loaded
 * and sorted.  Each bar file is a stream in time order; the streams are
 * merged by (time, instrument), which is the order feed_load's sort gives
 * (and two bars of one instrument at one time are the same error).
 *
 *   - a .dtob file is read block by block (binstream): a file's records
 *     are in time order by its format; records at or after `to` end it;
 *   - a CSV bars file is read (checked, its bar length inferred) into
 *     memory: its rows must be in time order across symbols, else it is
 *     refused with "PATH:LINE: row out of time order: ..." unless sort is
 *     set (backtest.sort_input), which sorts it in memory instead;
 *   - trade files are loaded and sorted as feed_load does (*trades; the
 *     caller owns and releases it).
 *
 * Memory: per .dtob file one checksum block (three for the at most four
 * streams reading ahead, binstream), a time per symbol and a
 * buffer of decoded bars (2048, and 8192 for the last stream, whose bars
 * are handed out in place; more when one time stamp has more bars); CSV
 * files as loaded.
 * Errors found at open (missing files, bad CSV rows, bad headers) come
 * from feed_stream_open with feed_load's messages; a damaged .dtob block, a
 * record of an unknown symbol or the same bar twice in two files come
 * from feed_stream_next when reached. */
typedef struct feed_stream feed_stream;

int feed_stream_open(const dto_config *cfg, const char *const *files,
                     size_t nfiles, dto_time from, dto_time to,
                     bool skip_bad_rows, bool quiet, bool sort,
                     trade_vec *trades, feed_stream **out, char *err,
                     size_t errcap);
/* The next bars, up to max of them: *out points to them (the stream owns
 * them; they stay valid until the next call or feed_stream_free).  Returns
 * the count (*out is NULL when 0), 0 at the end, or a negative error code
 * with the message in err.  Bars come out in runs of max, the last one
 * shorter; when the read that extends a run fails, the run is not handed
 * out.  With one stream left the bars are those of its buffer, in place;
 * bars merged from several streams are copied into the stream's own. */
long feed_stream_next(feed_stream *s, size_t max, const bar **out, char *err,
                      size_t errcap);
/* Rows skipped as bad so far (skip_bad_rows). */
size_t feed_stream_bad_rows(const feed_stream *s);
/* Records in all bar files (read or not yet), for a progress display. */
uint64_t feed_stream_total(const feed_stream *s);
void feed_stream_free(feed_stream *s);

#endif
