/* timeutil.c - calendar arithmetic (Howard Hinnant's algorithms) and ISO-8601. */
#include "core/timeutil.h"

#include "core/error.h"

int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void civil_from_days(int64_t z, int *y, int *m, int *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = (int64_t)yoe + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned dd = doy - (153 * mp + 2) / 5 + 1;
  const unsigned mm = mp < 10 ? mp + 3 : mp - 9;
  *y = (int)(yy + (mm <= 2));
  *m = (int)mm;
  *d = (int)dd;
}

int weekday_from_days(int64_t z) {
  return (int)(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

bool civil_valid(int y, int m, int d) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
    return false;
  int md = mdays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    md = 29;
  return d <= md;
}

static bool digits(const char *s, size_t n, int *out) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

static int parse_epoch(const char *s, size_t len, dto_time *out) {
  size_t i = 0;
  bool neg = false;
  if (len && s[0] == '-') {
    neg = true;
    i = 1;
  }
  if (i == len || len - i > 19)
    return DTO_EPARSE;
  uint64_t v = 0;
  for (; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return DTO_EPARSE;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  /* Pick the unit by magnitude: seconds, then ms, us, ns.  The product is
   * formed in 128 bits so that INT64_MIN ns, whose magnitude is one more than
   * INT64_MAX, is still accepted. */
  __int128 mul = 1;
  if (v < 100000000000ULL)
    mul = DTO_NS_PER_SEC;
  else if (v < 100000000000000ULL)
    mul = 1000000;
  else if (v < 100000000000000000ULL)
    mul = 1000;
  __int128 t = (__int128)v * mul;
  if (neg)
    t = -t;
  if (t > INT64_MAX || t < INT64_MIN)
    return DTO_ERANGE; /* outside 1677..2262, the range of dto_time */
  *out = (dto_time)t;
  return 0;
}

int time_parse(const char *s, size_t len, dto_time *out) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  int64_t frac = 0;
  size_t i;
  if (len == 0)
    return DTO_EPARSE;
  if (len < 10 || s[4] != '-')
    return parse_epoch(s, len, out);
  if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
      s[7] != '-' || !digits(s + 8, 2, &d))
    return DTO_EPARSE;
  if (!civil_valid(y, mo, d))
    return DTO_EPARSE;
  i = 10;
  int64_t offset = 0;
  if (i < len) {
    if (s[i] != 'T' && s[i] != ' ')
      return DTO_EPARSE;
    i++;
    if (len - i < 5 || !digits(s + i, 2, &h) || s[i + 2] != ':' ||
        !digits(s + i + 3, 2, &mi))
      return DTO_EPARSE;
    i += 5;
    if (i < len && s[i] == ':') {
      if (len - i < 3 || !digits(s + i + 1, 2, &sec))
        return DTO_EPARSE;
      i += 3;
      if (i < len && (s[i] == '.' || s[i] == ',')) {
        i++;
        int nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
          if (nd < 9) {
            frac = frac * 10 + (s[i] - '0');
            nd++;
          }
          i++;
        }
        if (nd == 0)
          return DTO_EPARSE;
        for (; nd < 9; nd++)
          frac *= 10;
      }
    }
    if (h > 23 || mi > 59 || sec > 60)
      return DTO_EPARSE;
    if (i < len) {
      if (s[i] == 'Z' && i + 1 == len) {
        i++;
      } else if ((s[i] == '+' || s[i] == '-') && len - i == 6 &&
                 s[i + 3] == ':') {
        int oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) ||
            oh > 23 || om > 59)
          return DTO_EPARSE;
        offset = (oh * 3600LL + om * 60LL) * DTO_NS_PER_SEC;
        if (s[i] == '-')
          offset = -offset;
        i = len;
      } else {
        return DTO_EPARSE;
      }
    }
  }
  if (i != len)
    return DTO_EPARSE;
  /* In 128 bits: the first and last days of dto_time's range start or end
   * outside it, so days * NS_PER_DAY alone may not fit even when the sum
   * does. */
  __int128 r = (__int128)days_from_civil(y, mo, d) * DTO_NS_PER_DAY +
               (h * 3600LL + mi * 60LL + sec) * DTO_NS_PER_SEC + frac - offset;
  if (r > INT64_MAX || r < INT64_MIN)
    return DTO_ERANGE; /* outside 1677..2262, the range of dto_time */
  *out = (dto_time)r;
  return 0;
}

int time_parse_cstr(const char *s, dto_time *out) {
  return time_parse(s, strlen(s), out);
}

/* Write v as exactly w decimal digits (0 <= v < 10^w). */
static char *put_digits(char *p, int64_t v, int w) {
  for (int i = w - 1; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return p + w;
}

/* The fraction of a second, ns < 10^9 nanoseconds: nothing for 0, else
 * '.' and 3, 6 or 9 digits, the fewest that are exact. */
static char *put_fraction(char *p, int64_t ns) {
  if (ns) {
    *p++ = '.';
    if (ns % 1000000 == 0)
      p = put_digits(p, ns / 1000000, 3);
    else if (ns % 1000 == 0)
      p = put_digits(p, ns / 1000, 6);
    else
      p = put_digits(p, ns, 9);
  }
  return p;
}

/* By hand rather than through snprintf: reports write one time per row,
 * and the format is fixed (test_timeutil checks it against snprintf). */
size_t time_format(dto_time t, char *buf, size_t cap) {
  /* rem from t % NS_PER_DAY, not t - days * NS_PER_DAY: for t in the first
   * day of dto_time's range the product does not fit in 64 bits. */
  int64_t days = floordiv64(t, DTO_NS_PER_DAY);
  int64_t rem = t % DTO_NS_PER_DAY;
  if (rem < 0)
    rem += DTO_NS_PER_DAY;
  int y, m, d;
  civil_from_days(days, &y, &m, &d);
  int64_t secs = rem / DTO_NS_PER_SEC, ns = rem % DTO_NS_PER_SEC;
  char tmp[40], *p = tmp;
  p = put_digits(p, y, 4); /* dto_time's years are 1677 to 2262 */
  *p++ = '-';
  p = put_digits(p, m, 2);
  *p++ = '-';
  p = put_digits(p, d, 2);
  *p++ = 'T';
  p = put_digits(p, secs / 3600, 2);
  *p++ = ':';
  p = put_digits(p, secs / 60 % 60, 2);
  *p++ = ':';
  p = put_digits(p, secs % 60, 2);
  p = put_fraction(p, ns);
  *p++ = 'Z';
  size_t n = (size_t)(p - tmp);
  if (cap == 0)
    return 0;
  size_t w = n < cap ? n : cap - 1;
  memcpy(buf, tmp, w);
  buf[w] = '\0';
  return w;
}

void time_fmt_cache_init(time_fmt_cache *c) {
  memset(c, 0, sizeof *c);
  c->min = INT64_MIN;
  c->day = INT64_MIN;
}

static const char pairs2[201] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static inline char *put2(char *p, unsigned v) {
  memcpy(p, pairs2 + 2 * v, 2);
  return p + 2;
}

/* The cache's text for minute m (minutes since the epoch), not the next
 * of the same hour: the time, and for another day the date too. */
static DTO_NOINLINE void fmt_minute(time_fmt_cache *c, int64_t m) {
  int64_t days = floordiv64(m, 1440);
  unsigned md = (unsigned)(m - days * 1440);
  if (days != c->day) {
    int y, mo, d;
    civil_from_days(days, &y, &mo, &d);
    char *p = put_digits(c->text, y, 4);
    *p++ = '-';
    p = put_digits(p, mo, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p = 'T';
    c->day = days;
  }
  c->mh = md % 60;
  put2(c->text + 11, md / 60);
  c->text[13] = ':';
  put2(c->text + 14, c->mh);
  c->text[16] = ':';
  c->min = m;
}

/* The text of a time that is not a whole minute: the cache's text of its
 * minute, then the seconds and fraction of ns (0 < ns < NS_PER_MIN). */
static DTO_NOINLINE size_t fmt_seconds(const time_fmt_cache *c, int64_t ns,
                                       char *out) {
  memcpy(out, c->text, 17);
  char *p = put2(out + 17, (unsigned)(ns / DTO_NS_PER_SEC));
  ns %= DTO_NS_PER_SEC;
  p = put_fraction(p, ns);
  *p++ = 'Z';
  return (size_t)(p - out);
}

/* time_format's text (test_timeutil compares the two).  The minute and the
 * nanoseconds in it from t / NS_PER_MIN and t % NS_PER_MIN, floored: the
 * same day, hour, minute and second as time_format's t / NS_PER_DAY. */
size_t time_format_cached(time_fmt_cache *c, dto_time t, char *out) {
  int64_t m = t / DTO_NS_PER_MIN, ns = t % DTO_NS_PER_MIN;
  if (ns < 0) {
    ns += DTO_NS_PER_MIN;
    m--;
  }
  if (m != c->min) {
    if (m == c->min + 1 && c->mh < 59) { /* only the minute's digits */
      put2(c->text + 14, ++c->mh);
      c->min = m;
    } else {
      fmt_minute(c, m);
    }
  }
  if (DTO_UNLIKELY(ns))
    return fmt_seconds(c, ns, out);
  memcpy(out, c->text, 17); /* a bar's time: a whole minute */
  memcpy(out + 17, "00Z", 3);
  return 20;
}

size_t time_format_date(dto_time t, char *buf, size_t cap) {
  int y, m, d;
  civil_from_days(floordiv64(t, DTO_NS_PER_DAY), &y, &m, &d);
  int n = snprintf(buf, cap, "%04d-%02d-%02d", y, m, d);
  if (n < 0)
    return 0;
  return (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
}

/* The unit suffix of a duration in ns per unit, or 0 when unknown. */
static int64_t duration_unit(const char *u) {
  if (!strcmp(u, "ns"))
    return 1;
  if (!strcmp(u, "us"))
    return 1000;
  if (!strcmp(u, "ms"))
    return 1000000;
  if (!strcmp(u, "s"))
    return DTO_NS_PER_SEC;
  if (!strcmp(u, "m") || !strcmp(u, "min"))
    return DTO_NS_PER_MIN;
  if (!strcmp(u, "h"))
    return DTO_NS_PER_HOUR;
  if (!strcmp(u, "d"))
    return DTO_NS_PER_DAY;
  return 0;
}

int duration_parse(const char *s, dto_time *out) {
  size_t i = 0;
  bool neg = s[0] == '-';
  bool big = false;
  uint64_t v = 0;
  if (neg)
    i = 1;
  size_t start = i;
  for (; s[i] >= '0' && s[i] <= '9'; i++) {
    /* Keep scanning past an overflow so that malformed text is still
     * reported as malformed rather than as out of range. */
    if (v > (uint64_t)INT64_MAX / 10)
      big = true;
    else
      v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (i == start)
    return DTO_EPARSE;
  int64_t mul = duration_unit(s + i), r;
  if (mul == 0)
    return DTO_EPARSE;
  if (neg || big || v > (uint64_t)INT64_MAX ||
      __builtin_mul_overflow((int64_t)v, mul, &r))
    return DTO_ERANGE;
  *out = r;
  return 0;
}

int32_t time_ymd(dto_time t) {
  int y, m, d;
  civil_from_days(floordiv64(t, 86400 * DTO_NS_PER_SEC), &y, &m, &d);
  return (int32_t)(y * 10000 + m * 100 + d);
}
