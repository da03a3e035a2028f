/* snap.h - compact binary snapshots of in-memory state.
 *
 * A snapshot is a byte string written field by field in little-endian
 * order (never a memcpy of a struct, whose layout and padding belong to the
 * compiler), so that a restart can rebuild an object exactly as it was.
 * The writer appends to a dbuf; the reader walks a byte range with a sticky
 * error: once a read runs past the end or a check fails, every later read
 * returns zeros and snap_ok() is false, so a caller reads a whole record and
 * checks once.  A damaged or truncated snapshot is refused, never read out
 * of bounds.
 *
 * Opaque blobs (a strategy's plain-data state) are written with zero runs
 * compressed: the large fixed rings of indicators are mostly zeros.
 */
#ifndef DTO_CORE_SNAP_H
#define DTO_CORE_SNAP_H

#include "core/buf.h"
#include "core/prelude.h"

void snap_u8(dbuf *b, uint8_t v);
void snap_u32(dbuf *b, uint32_t v);
void snap_u64(dbuf *b, uint64_t v);
static inline void snap_i64(dbuf *b, int64_t v) { snap_u64(b, (uint64_t)v); }
static inline void snap_bool(dbuf *b, bool v) { snap_u8(b, v ? 1 : 0); }
/* A string of at most 65535 bytes: length, then bytes. */
void snap_str(dbuf *b, const char *s);
/* n bytes with runs of zeros compressed; read back with snap_get_blob. */
void snap_blob(dbuf *b, const void *p, size_t n);
/* n raw bytes. */
void snap_bytes(dbuf *b, const void *p, size_t n);

/* A length-prefixed part: at = snap_begin_part(b); ...append...;
 * snap_end_part(b, at).  Read back with snap_get_part. */
size_t snap_begin_part(dbuf *b);
void snap_end_part(dbuf *b, size_t at);

typedef struct snap_reader {
  const unsigned char *p;
  size_t n, off;
  bool bad;
} snap_reader;

void snap_reader_init(snap_reader *r, const void *p, size_t n);
uint8_t snap_get_u8(snap_reader *r);
uint32_t snap_get_u32(snap_reader *r);
uint64_t snap_get_u64(snap_reader *r);
static inline int64_t snap_get_i64(snap_reader *r) {
  return (int64_t)snap_get_u64(r);
}
/* A bool must be 0 or 1. */
bool snap_get_bool(snap_reader *r);
/* Copy a string into buf (cap bytes); too long for buf marks r bad. */
void snap_get_str(snap_reader *r, char *buf, size_t cap);
/* Expect the string s; anything else marks r bad. */
void snap_expect_str(snap_reader *r, const char *s);
/* Decode a blob of exactly n bytes into p (zeros where r goes bad). */
void snap_get_blob(snap_reader *r, void *p, size_t n);
void snap_get_bytes(snap_reader *r, void *p, size_t n);
/* A count that must be at most max (marks r bad otherwise). */
size_t snap_get_count(snap_reader *r, size_t max);
/* A length-prefixed part: *p and *n get its bytes, r moves past it.
 * Returns false (r bad) when it does not fit. */
bool snap_get_part(snap_reader *r, const void **p, size_t *n);
/* Mark r bad when cond is false (a decoded value out of range). */
static inline void snap_check(snap_reader *r, bool cond) {
  if (!cond)
    r->bad = true;
}
/* True when every read so far was in bounds and every check held. */
static inline bool snap_ok(const snap_reader *r) { return !r->bad; }
/* True when ok and every byte was read. */
static inline bool snap_done(const snap_reader *r) {
  return !r->bad && r->off == r->n;
}

#endif
