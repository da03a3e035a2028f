/* utf8.h - UTF-8 for text that comes from outside (requests, files) and
 * goes back out in a message: check a sequence, cut between characters,
 * repair what is not UTF-8.
 */
#ifndef DTO_CORE_UTF8_H
#define DTO_CORE_UTF8_H

#include "core/prelude.h"

/* Length of the valid UTF-8 sequence at s (n bytes left, n >= 1), or 0
 * when the bytes there are not one (RFC 3629: no overlongs, no surrogates,
 * at most U+10FFFF). */
size_t utf8_seq(const unsigned char *s, size_t n);

/* Copy at most max bytes of the NUL-terminated s into dst (cap bytes),
 * cutting only between characters; bytes that are not UTF-8 become '?'. */
void utf8_cut(char *dst, size_t cap, const char *s, size_t max);

#endif
