/* snap.c - little-endian field encoding with a bounds-checked reader. */
#include "core/snap.h"

void snap_u8(dbuf *b, uint8_t v) { dbuf_add(b, &v, 1); }

void snap_u32(dbuf *b, uint32_t v) {
  unsigned char c[4];
  for (int i = 0; i < 4; i++)
    c[i] = (unsigned char)(v >> (8 * i));
  dbuf_add(b, c, 4);
}

void snap_u64(dbuf *b, uint64_t v) {
  unsigned char c[8];
  for (int i = 0; i < 8; i++)
    c[i] = (unsigned char)(v >> (8 * i));
  dbuf_add(b, c, 8);
}

void snap_str(dbuf *b, const char *s) {
  size_t n = strlen(s);
  DTO_ASSERT(n <= 65535);
  snap_u32(b, (uint32_t)n);
  dbuf_add(b, s, n);
}

void snap_bytes(dbuf *b, const void *p, size_t n) { dbuf_add(b, p, n); }

/* Blob: u32 total length, then records: u32 zero run, u32 literal run,
 * literal bytes; until the total is covered. */
void snap_blob(dbuf *b, const void *p, size_t n) {
  const unsigned char *c = p;
  DTO_ASSERT(n <= UINT32_MAX);
  snap_u32(b, (uint32_t)n);
  size_t i = 0;
  while (i < n) {
    size_t z = i;
    while (z < n && c[z] == 0)
      z++;
    size_t l = z; /* a literal run ends at 16 zeros in a row or the end */
    while (l < n) {
      if (c[l] != 0) {
        l++;
        continue;
      }
      size_t k = l;
      while (k < n && c[k] == 0)
        k++;
      if (k - l >= 16 || k == n)
        break;
      l = k;
    }
    snap_u32(b, (uint32_t)(z - i));
    snap_u32(b, (uint32_t)(l - z));
    dbuf_add(b, c + z, l - z);
    i = l;
  }
}

void snap_reader_init(snap_reader *r, const void *p, size_t n) {
  r->p = p;
  r->n = n;
  r->off = 0;
  r->bad = false;
}

static const unsigned char *take(snap_reader *r, size_t k) {
  if (r->bad || k > r->n - r->off) {
    r->bad = true;
    return NULL;
  }
  const unsigned char *q = r->p + r->off;
  r->off += k;
  return q;
}

uint8_t snap_get_u8(snap_reader *r) {
  const unsigned char *q = take(r, 1);
  return q ? q[0] : 0;
}

uint32_t snap_get_u32(snap_reader *r) {
  const unsigned char *q = take(r, 4);
  uint32_t v = 0;
  for (int i = 0; q && i < 4; i++)
    v |= (uint32_t)q[i] << (8 * i);
  return v;
}

uint64_t snap_get_u64(snap_reader *r) {
  const unsigned char *q = take(r, 8);
  uint64_t v = 0;
  for (int i = 0; q && i < 8; i++)
    v |= (uint64_t)q[i] << (8 * i);
  return v;
}

bool snap_get_bool(snap_reader *r) {
  uint8_t v = snap_get_u8(r);
  snap_check(r, v <= 1);
  return v == 1;
}

void snap_get_str(snap_reader *r, char *buf, size_t cap) {
  uint32_t n = snap_get_u32(r);
  const unsigned char *q = take(r, n);
  if (!q || n >= cap || memchr(q, 0, n)) {
    r->bad = true;
    if (cap)
      buf[0] = '\0';
    return;
  }
  memcpy(buf, q, n);
  buf[n] = '\0';
}

void snap_expect_str(snap_reader *r, const char *s) {
  uint32_t n = snap_get_u32(r);
  const unsigned char *q = take(r, n);
  if (!q || n != strlen(s) || memcmp(q, s, n))
    r->bad = true;
}

void snap_get_bytes(snap_reader *r, void *p, size_t n) {
  const unsigned char *q = take(r, n);
  if (q)
    memcpy(p, q, n);
  else
    memset(p, 0, n);
}

void snap_get_blob(snap_reader *r, void *p, size_t n) {
  unsigned char *c = p;
  memset(c, 0, n);
  uint32_t total = snap_get_u32(r);
  snap_check(r, total == n);
  size_t i = 0;
  while (!r->bad && i < n) {
    uint32_t z = snap_get_u32(r), l = snap_get_u32(r);
    if (r->bad || z > n - i || l > n - i - z || z + l == 0) {
      r->bad = true;
      break;
    }
    i += z;
    snap_get_bytes(r, c + i, l);
    i += l;
  }
  if (r->bad)
    memset(c, 0, n);
}

size_t snap_get_count(snap_reader *r, size_t max) {
  uint64_t v = snap_get_u64(r);
  snap_check(r, v <= max);
  return r->bad ? 0 : (size_t)v;
}

size_t snap_begin_part(dbuf *b) {
  size_t at = b->len;
  snap_u64(b, 0);
  return at;
}

void snap_end_part(dbuf *b, size_t at) {
  uint64_t n = b->len - at - 8;
  for (int i = 0; i < 8; i++)
    b->ptr[at + (size_t)i] = (char)(n >> (8 * i));
}

bool snap_get_part(snap_reader *r, const void **p, size_t *n) {
  uint64_t len = snap_get_u64(r);
  const unsigned char *q = take(r, r->bad ? 0 : (size_t)(len <= r->n ? len : r->n + 1));
  if (!q) {
    r->bad = true;
    *p = NULL;
    *n = 0;
    return false;
  }
  *p = q;
  *n = (size_t)len;
  return true;
}
