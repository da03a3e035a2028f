/* utf8.c - UTF-8 sequences, and text from outside cut and repaired. */
#include "core/utf8.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when the
 * bytes there are not one (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF). */
size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else
    return 0;
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return len;
}

/* Copy at most max bytes of the NUL-terminated s into dst (cap bytes),
 * cutting only between characters, so a cut never leaves half a UTF-8
 * sequence; bytes that are not UTF-8 become '?'.  For text that comes from
 * the client and goes back into a message. */
void utf8_cut(char *dst, size_t cap, const char *s, size_t max) {
  if (cap == 0)
    return;
  if (max > cap - 1)
    max = cap - 1;
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s), i = 0, o = 0;
  while (i < n) {
    size_t k = utf8_seq(p + i, n - i);
    if (k == 0) {
      if (o + 1 > max)
        break;
      dst[o++] = '?';
      i++;
      continue;
    }
    if (o + k > max)
      break;
    memcpy(dst + o, p + i, k);
    o += k;
    i += k;
  }
  dst[o] = '\0';
}
