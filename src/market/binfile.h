/* binfile.h - dto's binary bar file (".dtob"): written once, replayed
 * memory-mapped.
 *
 * Parsing CSV costs far more than a backtest step, so bars that are replayed
 * often are converted once into this fixed-record format and read back with
 * no parsing at all.  Layout (all integers little-endian; docs/internals/
 * data.md has the details):
 *
 *   header, 64 bytes:
 *     0  char[8]  magic "DTOBARS1"
 *     8  u32      version (1)
 *    12  u32      record size (56)
 *    16  u64      record count
 *    24  i64      bar duration, ns (> 0)
 *    32  u32      symbol count (>= 1)
 *    36  u32      reserved (0)
 *    40  u64      offset of the first record (64 + 16 * symbol count)
 *    48  16 bytes reserved (0)
 *   symbol table: symbol count entries of 16 bytes, NUL-padded names
 *   records, 56 bytes each: ts, open, high, low, close, volume (i64 each;
 *     prices and volume are fx), symbol index (u32), padding (u32, 0)
 *
 * Records are in time order (ties in any order); per symbol, times strictly
 * increase.  binfile_open checks all of this, so a reader can trust every
 * record it gets.  This module knows nothing of instrument tables: symbol
 * indexes are local to the file (read_bars_file maps them).
 */
#ifndef DTO_MARKET_BINFILE_H
#define DTO_MARKET_BINFILE_H

#include "core/prelude.h"
#include "market/event.h"

#define BINFILE_MAGIC "DTOBARS1"
#define BINFILE_MAGIC_LEN 8
#define BINFILE_VERSION 1
#define BINFILE_HEADER_SIZE 64
#define BINFILE_SYMBOL_SIZE 16
#define BINFILE_RECORD_SIZE 56
#define BINFILE_MAX_SYMBOLS 100000

/* Write n bars to path.  bars[i].sym indexes symbols[] (nsymbols names,
 * each valid per symbol_valid, no duplicates).  Bars must be in time order,
 * strictly increasing per symbol, pass bar_check, and share one positive
 * duration (bars[0].dur).  Writes path.tmp, syncs it and renames it over
 * path, so readers see the old file or the whole new one.
 *
 * Returns 0, or DTO_EINVAL for bad arguments or bars (err names the bar
 * index and the reason), or an I/O error code (err names the path); the
 * temporary file is removed on failure.  err (errcap bytes, may be NULL when
 * errcap is 0) always gets a NUL-terminated message on failure. */
int binfile_write(const char *path, const bar *bars, size_t n,
                  const char *const *symbols, size_t nsymbols, char *err,
                  size_t errcap);

typedef struct binfile binfile;

/* Map path and validate it: magic, version, sizes, the symbol table and
 * every record (symbol index in range, bar_check, time order).  On success
 * *out owns the mapping; release it with binfile_free.  On failure *out is
 * NULL and err says what is wrong ("path: truncated: ..." ...): DTO_EPARSE
 * for a file that is not a valid dto bar file, DTO_EUNSUPPORTED for an
 * unknown version, or an I/O error code. */
int binfile_open(const char *path, binfile **out, char *err, size_t errcap);

size_t binfile_count(const binfile *f);
size_t binfile_nsymbols(const binfile *f);
/* Name of file symbol i (i < binfile_nsymbols); valid until binfile_free. */
const char *binfile_symbol(const binfile *f, size_t i);
/* Bar duration of every bar in the file, ns. */
dto_time binfile_dur(const binfile *f);
/* Record i (i < binfile_count) into *out; out->sym is the file-local symbol
 * index and out->dur the file's bar duration. */
void binfile_get(const binfile *f, size_t i, bar *out);
/* Unmap and free; NULL does nothing. */
void binfile_free(binfile *f);

/* True when the first bytes of a file (len of them) are the binary magic. */
bool binfile_sniff(const void *head, size_t len);

#endif
