/* reader.h - market data files in: bars and trades from CSV, bars from dto's
 * binary format.
 *
 * The readers turn outside files into validated, time-ordered vectors of
 * bars or trades for backtests and conversion.  Every row is checked (time,
 * numbers, bar consistency, order, symbol) and a bad row is reported as
 * "path:line: reason" naming the column.  Numbers are parsed exactly
 * (fixed-point, never through double) with a hand-rolled parser; files are
 * memory-mapped.  This module does not aggregate, resample or fill gaps
 * (that is the bar aggregator's job) and does not write files (binfile.h and
 * the data command do).
 *
 * CSV rules (docs/internals/data.md has the full list):
 *   - a header line is required; names are case-insensitive and may come in
 *     any order; bars: time,open,high,low,close,volume[,symbol]
 *     ("date" and "timestamp" are accepted for time); trades:
 *     time,price,size[,symbol].  Unknown columns are an error.
 *   - times: ISO-8601 or epoch seconds/ms/us/ns (see time_parse); numbers:
 *     plain decimals ("123.45"), no exponents; prices, sizes and volumes at
 *     most MARKET_VALUE_MAX (market/bounds.h: the engine's sums must not
 *     overflow).
 *   - every row gets an instrument: from the symbol column through the
 *     instrument table, or read_opts.sym; a file that would leave rows
 *     without one is refused (read_result.no_symbol).
 *   - per symbol, bar times strictly increase ("duplicate time" and "time
 *     goes backward" are errors); trade times must not go backward (equal
 *     times are allowed: several trades can share a timestamp).
 *   - LF or CRLF line ends; blank lines are ignored; a line may be at most
 *     4096 bytes; fields may be wrapped in double quotes (without embedded
 *     quotes or commas).
 */
#ifndef DTO_MARKET_READER_H
#define DTO_MARKET_READER_H

#include "core/prelude.h"
#include "market/event.h"
#include "market/instrument.h"

#define READER_LINE_MAX 4096 /* longest accepted line, without its newline */

/* A growable vector of bars.  Zero-initialise it ({0}) before first use; it
 * owns v. */
typedef struct bar_vec {
  bar *v;
  size_t n, cap;
} bar_vec;

/* Free the memory of v and reset it to empty.  v may be reused. */
void bar_vec_release(bar_vec *v);
/* Append a copy of *b (aborts on out of memory). */
void bar_vec_push(bar_vec *v, const bar *b);

typedef struct trade_vec {
  trade *v;
  size_t n, cap;
} trade_vec;

void trade_vec_release(trade_vec *v);
void trade_vec_push(trade_vec *v, const trade *t);

typedef struct read_opts {
  const instrument_table *instruments; /* maps a symbol column to sym ids;
                                          may be NULL; not owned */
  sym_id sym;           /* sym for rows when the file has no symbol column */
  dto_time from, to;    /* keep rows with from <= ts < to */
  dto_time dur;         /* bar length; 0 = infer: smallest positive gap
                           between consecutive bars of the same symbol in the
                           file (single bar: 60 s) */
  bool skip_bad_rows;   /* go on after a bad row and count it */
  bool quiet;           /* no progress display */
  bool binfile_v1;      /* also read version 1 .dtob files (no checksums) */
  bool ordered;         /* bars CSV: kept rows must be in time order across
                           symbols too (equal times allowed); a row before
                           an earlier one fails the read (never skipped)
                           with read_result.unordered set */
} read_opts;

/* instruments NULL, sym 0, from INT64_MIN, to INT64_MAX, dur 0, not
 * skipping bad rows, not quiet, version 2 .dtob files only. */
void read_opts_init(read_opts *o);

typedef struct read_result {
  size_t rows;     /* rows appended to the output */
  size_t bad_rows; /* rows skipped as bad (skip_bad_rows only) */
  char err[512];   /* on failure: "path:line: reason"; on success with
                      skipped rows: the first bad row's reason; else "" */
  bool no_symbol;  /* the failure: rows would have no instrument (no symbol
                      column, or a .dtob read without a table, and o->sym
                      is SYM_NONE or not in the table) */
  bool unordered;  /* the failure: a row out of time order (o->ordered) */
} read_result;

/* Read a bars CSV file and append its rows to *out (the caller owns out and
 * must release it).  Rows are appended in file order; with several symbols
 * they may interleave.  Every appended bar gets dur (o->dur, or the inferred
 * length) and its sym (o->sym, or the instrument table's index of its symbol
 * column).
 *
 * Every bar's sym is an index into o->instruments when there is a table
 * (a file without a symbol column needs o->sym < instruments->n), or o->sym
 * without one (then o->sym must not be SYM_NONE); otherwise the read fails
 * with DTO_EINVAL and res->no_symbol set, before any row is read.
 *
 * Returns 0 on success.  On failure *out is left as it was before the call
 * and res->err says why: DTO_EPARSE for a bad header or row (or no rows at
 * all: "no rows"; or every row bad: "no valid rows"), DTO_ETOOBIG for a line
 * longer than READER_LINE_MAX, DTO_EOVERFLOW for a number beyond fx,
 * DTO_ERANGE for a price or volume above MARKET_VALUE_MAX, DTO_EINVAL for
 * rows without an instrument (above) or a path that is not a regular file
 * (a FIFO is refused, never waited on), or an I/O error code when the file
 * cannot be opened or mapped.  Rows outside
 * [o->from, o->to) are skipped and counted nowhere; a file whose rows are all
 * outside the window succeeds with res->rows == 0. */
int read_bars_csv(const char *path, const read_opts *o, bar_vec *out,
                  read_result *res);
/* The same for CSV text held in memory (data need not be NUL-terminated);
 * name stands in for the path in messages. */
int read_bars_csv_mem(const char *name, const char *data, size_t len,
                      const read_opts *o, bar_vec *out, read_result *res);

/* Trades CSV: time,price,size[,symbol]; price and size must be positive.
 * Same contract as read_bars_csv (dur is not used). */
int read_trades_csv(const char *path, const read_opts *o, trade_vec *out,
                    read_result *res);
int read_trades_csv_mem(const char *name, const char *data, size_t len,
                        const read_opts *o, trade_vec *out,
                        read_result *res);

/* Read bars from a CSV or a dto binary file (recognised by its magic
 * bytes), with the contract of read_bars_csv.  For a binary file, the file's
 * symbols are mapped to o->instruments (a symbol not in the table is a bad
 * row for each of its bars); with instruments NULL the file must hold one
 * symbol, and its bars get o->sym (not SYM_NONE).  dur is the file's bar
 * duration unless o->dur is set.  A damaged .dtob (checksums) is refused
 * with binfile_open's message. */
int read_bars_file(const char *path, const read_opts *o, bar_vec *out,
                   read_result *res);

/* True when path is a regular file that starts with the .dtob magic (false
 * for anything else, errors included; the readers report those). */
bool read_file_is_binary(const char *path);

/* For tools that convert or inspect files without a configured instrument
 * table: like read_bars_file, but o->instruments is ignored and symbols are
 * looked up in *syms, and a symbol not there yet is added to it (tick 0.01,
 * lot 1, equity, "USD").  Rows of a CSV without a symbol column get the
 * symbol default_symbol (added to *syms when first used; DTO_EINVAL when
 * such a file is read and default_symbol is NULL or not a valid symbol).
 * The caller owns *syms. */
int read_bars_file_learn(const char *path, const read_opts *o,
                         const char *default_symbol, instrument_table *syms,
                         bar_vec *out, read_result *res);

#endif
