/* binfile.h - dto's binary bar file (".dtob"): written once, replayed
 * memory-mapped.
 *
 * Parsing CSV costs far more than a backtest step, so bars that are replayed
 * often are converted once into this fixed-record format and read back with
 * no parsing at all.  Layout of version 2 (all integers little-endian;
 * docs/internals/data.md has the details):
 *
 *   header, 64 bytes:
 *     0  char[8]  magic "DTOBARS1"
 *     8  u32      version (2)
 *    12  u32      record size (56)
 *    16  u64      record count
 *    24  i64      bar duration, ns (> 0)
 *    32  u32      symbol count (>= 1)
 *    36  u32      records per checksum block (1..BINFILE_MAX_BLOCK)
 *    40  u64      offset of the first record (64 + 16 * symbol count)
 *    48  u64      reserved (0)
 *    56  u64      header checksum: XXH3-64 of the symbol table, seeded with
 *                 the XXH3-64 of header bytes 0..55
 *   symbol table: symbol count entries of 16 bytes, NUL-padded names
 *   records, 56 bytes each: ts, open, high, low, close, volume (i64 each;
 *     prices and volume are fx), symbol index (u32), padding (u32, 0)
 *   block checksums: one u64 per block of records (the last block may be
 *     short): XXH3-64 of the block's bytes, seeded with the block number
 *
 * Records are in time order (ties in any order); per symbol, times strictly
 * increase; prices and volumes are at most MARKET_VALUE_MAX.  binfile_open
 * checks the checksums and all of this, so a reader can trust every record
 * it gets.  Version 1 files (no checksums) are refused unless the caller
 * asks for them (BINFILE_OPEN_V1: `dto data convert` re-writes them).  This
 * module knows nothing of instrument tables: symbol indexes are local to the
 * file (read_bars_file maps them).
 */
#ifndef DTO_MARKET_BINFILE_H
#define DTO_MARKET_BINFILE_H

#include "core/prelude.h"
#include "market/event.h"

#define BINFILE_MAGIC "DTOBARS1"
#define BINFILE_MAGIC_LEN 8
#define BINFILE_VERSION 2
#define BINFILE_HEADER_SIZE 64
#define BINFILE_SYMBOL_SIZE 16
#define BINFILE_RECORD_SIZE 56
#define BINFILE_MAX_SYMBOLS 100000
#define BINFILE_CHECKSUM_SIZE 8
#define BINFILE_BLOCK_RECORDS 4096 /* records per checksum block, default */
#define BINFILE_MAX_BLOCK 65536    /* most records per block a file may use */

/* Write n bars to path.  bars[i].sym indexes symbols[] (nsymbols names,
 * each valid per symbol_valid, no duplicates).  Bars must be in time order,
 * strictly increasing per symbol, pass bar_check, and share one positive
 * duration (bars[0].dur).  Writes path.tmp, syncs it and renames it over
 * path, so readers see the old file or the whole new one.
 *
 * Prices and volumes must be at most MARKET_VALUE_MAX.  The file is
 * written in the current version with BINFILE_BLOCK_RECORDS records per
 * checksum block, through fileio_atomic (a temporary file, fsync, rename,
 * fsync of the folder), so readers see the old file or the whole new one.
 *
 * Returns 0, or DTO_EINVAL for bad arguments or bars (err names the bar
 * index and the reason), or an I/O error code (err names the path); the
 * temporary file is removed on failure.  err (errcap bytes, may be NULL when
 * errcap is 0) always gets a NUL-terminated message on failure. */
int binfile_write(const char *path, const bar *bars, size_t n,
                  const char *const *symbols, size_t nsymbols, char *err,
                  size_t errcap);
/* The same with block records per checksum block (1..BINFILE_MAX_BLOCK,
 * else DTO_EINVAL); tests use small blocks. */
int binfile_write_blocks(const char *path, const bar *bars, size_t n,
                         const char *const *symbols, size_t nsymbols,
                         size_t block, char *err, size_t errcap);

typedef struct binfile binfile;

/* Flags of binfile_open_flags. */
enum {
  BINFILE_OPEN_V1 = 1 /* also accept version 1 (no checksums) */
};

/* Map path and validate it: magic, version, sizes, the checksums of the
 * header and of every block, the symbol table and every record (symbol
 * index in range, bar_check, MARKET_VALUE_MAX, time order).  Only a regular
 * file is opened (a FIFO is refused, never waited on).  On success *out
 * owns the mapping; release it with binfile_free.  On failure *out is NULL
 * and err says what is wrong, starting with the path ("PATH: truncated:
 * ...", "PATH: corrupt: block 2 (records 8192 to 12287): checksum
 * mismatch"): DTO_EPARSE for a file that is not a valid dto bar file,
 * DTO_EUNSUPPORTED for an unknown version or a version 1 file, or an I/O
 * error code. */
int binfile_open(const char *path, binfile **out, char *err, size_t errcap);
/* The same with flags (BINFILE_OPEN_V1 or 0). */
int binfile_open_flags(const char *path, unsigned flags, binfile **out,
                       char *err, size_t errcap);
/* The same for len bytes in memory (not copied: they must outlive *out);
 * name stands in for the path in messages.  For tests and fuzzing. */
int binfile_open_mem(const char *name, const void *data, size_t len,
                     unsigned flags, binfile **out, char *err, size_t errcap);

/* The file's format version (1 or 2). */
unsigned binfile_version(const binfile *f);

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

/* A file read front to back in bounded memory, for replays of any size:
 * binstream_open reads and checks the header and the symbol table only
 * (the messages and codes of binfile_open); binstream_read then reads one
 * checksum block at a time with pread (the kernel is told the access is
 * sequential), checks its checksum and every record as binfile_open
 * does, and decodes the records with fixed-width loads.  While three
 * blocks or more are left to read, a stream is read ahead by a thread of
 * its own (up to two blocks ahead, checksums checked there; at most four
 * such threads in a process, a place given back when its stream is read),
 * so that reading overlaps decoding; the records, their order and every
 * message are the same.  Memory: at most three blocks and one time per
 * symbol, whatever the file's size.  A damaged block is reported when it
 * is reached, with binfile_open's message. */
typedef struct binstream binstream;

/* Open path (flags as binfile_open_flags).  On success *out owns the file
 * until binstream_free; on failure *out is NULL and err says why. */
int binstream_open(const char *path, unsigned flags, binstream **out,
                   char *err, size_t errcap);
/* The header's fields: binfile_count, binfile_nsymbols, binfile_symbol,
 * binfile_dur and binfile_version work on it (binfile_get does not). */
const binfile *binstream_header(const binstream *s);
/* Decode up to max next records into out (sym: the file's symbol index).
 * Returns how many (0 at the end of the file), or a negative error code
 * with "PATH: corrupt: ..." or an I/O message in err. */
long binstream_read(binstream *s, bar *out, size_t max, char *err,
                    size_t errcap);
/* True when s has had a read-ahead thread (for tests and figures). */
bool binstream_reads_ahead(const binstream *s);
/* Close and free; NULL does nothing. */
void binstream_free(binstream *s);

/* True when the first bytes of a file (len of them) are the binary magic. */
bool binfile_sniff(const void *head, size_t len);

#endif
