/* sched.c - the job scheduler: schedule expressions, next firing times and
 * the job table.  See sched.h for the contract and
 * docs/internals/scheduler.md for the rules an operator sees.
 *
 * Local time is America/New_York for every calendar but "crypto" (whose
 * days are UTC days); conversions go through market/calendar's
 * tz_new_york_*, so the scheduler and the engine agree on every instant.
 */
#include "ops/sched.h"

#include <stdarg.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

#define SEC_PER_DAY 86400
/* How far sched_next() looks: ten years of days (29 February needs
 * eight). */
#define SEARCH_DAYS (366 * 10)
/* Session anchors: a session occurs at least every few days. */
#define ANCHOR_SEARCH_DAYS 40

/* ---- parsing ------------------------------------------------------------ */

typedef struct field_spec {
  const char *name;
  int lo, hi;
} field_spec;

static const field_spec fields[5] = {
    {"minute", 0, 59}, {"hour", 0, 23},       {"day-of-month", 1, 31},
    {"month", 1, 12},  {"day-of-week", 0, 7},
};

__attribute__((format(printf, 4, 5))) static int
fail(char *err, size_t cap, const char *text, const char *fmt, ...) {
  if (err == NULL || cap == 0)
    return DTO_EPARSE;
  int n = snprintf(err, cap, "schedule '%s': ", text);
  if (n < 0 || (size_t)n >= cap)
    return DTO_EPARSE;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + n, cap - (size_t)n, fmt, ap);
  va_end(ap);
  return DTO_EPARSE;
}

/* A decimal number of exactly len bytes into *out (values above 99999 are
 * reported as 99999, which is out of every range).  false when it is not
 * all digits. */
static bool parse_num(const char *s, size_t len, int *out) {
  if (len == 0)
    return false;
  int v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    if (v < 99999)
      v = v * 10 + (s[i] - '0');
  }
  *out = v > 99999 ? 99999 : v;
  return true;
}

/* One cron field (tok, NUL-terminated) into *mask: a comma list of `*`,
 * `N`, `A-B`, each optionally followed by `/STEP`. */
static int parse_field(const char *tok, const field_spec *f, uint64_t *mask,
                       char *err, size_t cap, const char *text) {
  uint64_t m = 0;
  const char *p = tok;
  for (;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == 0)
      return fail(err, cap, text, "%s '%s': empty list item", f->name, tok);
    const char *slash = memchr(p, '/', len);
    size_t rlen = slash ? (size_t)(slash - p) : len;
    int lo, hi, step = 1;
    if (slash) {
      size_t slen = len - rlen - 1;
      if (!parse_num(slash + 1, slen, &step))
        return fail(err, cap, text, "%s '%.*s': step is not a number", f->name,
                    (int)len, p);
      if (step < 1)
        return fail(err, cap, text, "%s '%.*s': step must be at least 1",
                    f->name, (int)len, p);
    }
    if (rlen == 1 && p[0] == '*') {
      lo = f->lo;
      hi = f->hi;
    } else {
      const char *dash = memchr(p, '-', rlen);
      size_t alen = dash ? (size_t)(dash - p) : rlen;
      if (!parse_num(p, alen, &lo))
        return fail(err, cap, text, "%s '%.*s': not a number or range", f->name,
                    (int)len, p);
      if (dash) {
        if (!parse_num(dash + 1, rlen - alen - 1, &hi))
          return fail(err, cap, text, "%s '%.*s': not a number or range",
                      f->name, (int)len, p);
      } else {
        /* "A/S" means from A to the end of the field, as in Vixie cron's
         * extensions; a plain "A" is A alone. */
        hi = slash ? f->hi : lo;
      }
      /* the number as written, so 123456789 is not shown as 99999 */
      if (lo < f->lo || lo > f->hi)
        return fail(err, cap, text, "%s %.*s out of range %d-%d", f->name,
                    (int)alen, p, f->lo, f->hi);
      if (dash && (hi < f->lo || hi > f->hi))
        return fail(err, cap, text, "%s %.*s out of range %d-%d", f->name,
                    (int)(rlen - alen - 1), dash + 1, f->lo, f->hi);
      if (lo > hi)
        return fail(err, cap, text, "%s range %d-%d goes backward", f->name, lo,
                    hi);
    }
    for (int v = lo; v <= hi; v += step)
      m |= (uint64_t)1 << v;
    if (end == NULL)
      break;
    p = end + 1;
  }
  *mask = m;
  return 0;
}

static const int max_mday[13] = {0,  31, 29, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};

static int parse_cron(char **tok, int ntok, sched_expr *e, char *err,
                      size_t cap, const char *text) {
  if (ntok == 5)
    return fail(err, cap, text,
                "missing time zone after the 5 cron fields (exchange or UTC)");
  uint64_t mask[5];
  for (int i = 0; i < 5; i++) {
    int r = parse_field(tok[i], &fields[i], &mask[i], err, cap, text);
    if (r < 0)
      return r;
  }
  if (!strcmp(tok[5], "exchange"))
    e->tz = SCHED_TZ_EXCHANGE;
  else if (!strcmp(tok[5], "UTC") || !strcmp(tok[5], "utc"))
    e->tz = SCHED_TZ_UTC;
  else
    return fail(err, cap, text,
                "unknown time zone '%s' (expected exchange or UTC)", tok[5]);
  e->kind = SCHED_CRON;
  e->minutes = mask[0];
  e->hours = (uint32_t)mask[1];
  e->mdays = (uint32_t)mask[2];
  e->months = (uint16_t)mask[3];
  /* 7 is Sunday too */
  e->wdays = (uint8_t)((mask[4] & 0x7f) | ((mask[4] >> 7) & 1));
  e->mday_star = tok[2][0] == '*';
  e->wday_star = tok[4][0] == '*';
  /* A day-of-month that no chosen month has would never fire (with a
   * restricted weekday the weekday alone still matches). */
  if (e->wday_star || e->mday_star) {
    bool any = false;
    for (int mo = 1; mo <= 12 && !any; mo++)
      if ((e->months >> mo) & 1)
        for (int d = 1; d <= max_mday[mo] && !any; d++)
          any = (e->mdays >> d) & 1;
    if (!any)
      return fail(err, cap, text,
                  "day-of-month '%s' never occurs in month '%s'", tok[2],
                  tok[3]);
  }
  return 0;
}

static int parse_every(const char *arg, sched_expr *e, char *err, size_t cap,
                       const char *text) {
  dto_time d;
  if (duration_parse(arg, &d) < 0)
    return fail(err, cap, text,
                "every: bad duration '%s' (a whole number and a unit: 30s, "
                "15m, 1h, 1d)",
                arg);
  if (d <= 0)
    return fail(err, cap, text, "every: duration must be more than 0");
  e->kind = SCHED_EVERY;
  e->step = d;
  return 0;
}

static int parse_at(const char *arg, sched_expr *e, char *err, size_t cap,
                    const char *text) {
  static const struct {
    const char *name;
    enum sched_kind kind;
  } anchors[] = {{"session_open", SCHED_AT_OPEN},
                 {"session_close", SCHED_AT_CLOSE}};
  for (size_t i = 0; i < DTO_ARRAY_LEN(anchors); i++) {
    size_t n = strlen(anchors[i].name);
    if (strncmp(arg, anchors[i].name, n) != 0)
      continue;
    const char *rest = arg + n;
    dto_time off = 0;
    if (*rest != '\0') {
      if ((*rest != '+' && *rest != '-') ||
          duration_parse(rest + 1, &off) < 0 || rest[1] == '-')
        return fail(err, cap, text,
                    "at: bad offset '%s' (expected +DURATION or -DURATION, "
                    "e.g. +10m)",
                    rest);
      if (off > SCHED_ANCHOR_MAX)
        return fail(err, cap, text, "at: offset '%s' is more than 24h", rest);
      if (*rest == '-')
        off = -off;
    }
    e->kind = anchors[i].kind;
    e->offset = off;
    return 0;
  }
  return fail(err, cap, text,
              "at: unknown anchor '%s' (expected session_open or "
              "session_close, with an optional +/-DURATION)",
              arg);
}

int sched_parse(const char *text, sched_expr *out, char *err, size_t errcap) {
  if (err && errcap)
    err[0] = '\0';
  if (text == NULL)
    text = "";
  size_t len = strlen(text);
  if (len > SCHED_TEXT_MAX) {
    if (err && errcap)
      snprintf(err, errcap, "schedule '%.40s...': longer than %d characters",
               text, SCHED_TEXT_MAX);
    return DTO_ETOOBIG;
  }
  char buf[SCHED_TEXT_MAX + 1];
  memcpy(buf, text, len + 1);
  char *tok[8];
  int ntok = 0;
  for (char *p = buf; *p;) {
    while (*p == ' ' || *p == '\t')
      *p++ = '\0';
    if (*p == '\0')
      break;
    if (ntok == (int)DTO_ARRAY_LEN(tok))
      return fail(err, errcap, text, "too many fields");
    tok[ntok++] = p;
    while (*p && *p != ' ' && *p != '\t')
      p++;
  }
  if (ntok == 0)
    return fail(err, errcap, text, "empty");
  sched_expr e;
  memset(&e, 0, sizeof e);
  int r;
  if (!strcmp(tok[0], "every")) {
    if (ntok != 2)
      return fail(err, errcap, text,
                  "expected 'every DURATION', e.g. 'every 15m'");
    r = parse_every(tok[1], &e, err, errcap, text);
  } else if (!strcmp(tok[0], "at")) {
    if (ntok != 2)
      return fail(err, errcap, text,
                  "expected 'at session_open|session_close[+/-DURATION]' "
                  "without spaces, e.g. 'at session_close+10m'");
    r = parse_at(tok[1], &e, err, errcap, text);
  } else if (ntok == 5 || ntok == 6) {
    r = parse_cron(tok, ntok, &e, err, errcap, text);
  } else {
    return fail(err, errcap, text,
                "expected 5 cron fields and a time zone ('0 2 * * * "
                "exchange'), 'every DURATION' or 'at session_open|"
                "session_close[+/-DURATION]'");
  }
  if (r < 0)
    return r;
  memcpy(e.text, text, len + 1);
  *out = e;
  return 0;
}

/* ---- next firing ----------------------------------------------------------
 */

static bool cron_day_matches(const sched_expr *e, int64_t day) {
  int y, m, d;
  civil_from_days(day, &y, &m, &d);
  if (!((e->months >> m) & 1))
    return false;
  bool md = (e->mdays >> d) & 1;
  bool wd = (e->wdays >> weekday_from_days(day)) & 1;
  /* Vixie cron: when either day field begins with '*', a day must match
   * both; when both are restricted, either is enough. */
  if (e->mday_star || e->wday_star)
    return md && wd;
  return md || wd;
}

/* The UTC instant of local wall time sec on local date day. */
static dto_time local_to_utc(bool ny, int64_t day, int sec) {
  if (ny)
    return tz_new_york_to_utc(day, sec);
  return day * DTO_NS_PER_DAY + (int64_t)sec * DTO_NS_PER_SEC;
}

static int cron_next(const sched_expr *e, bool ny, int64_t last_day,
                     dto_time after, dto_time *out) {
  dto_time off = ny ? tz_new_york_offset(after) : 0;
  int64_t day = floordiv64(after + off, DTO_NS_PER_DAY);
  for (int i = 0; i < SEARCH_DAYS && day <= last_day; i++, day++) {
    if (!cron_day_matches(e, day))
      continue;
    /* On most days local time maps to UTC by one offset and firing times
     * rise with the wall clock, so the first one after `after` is the
     * answer.  On the spring-forward day the skipped hour is moved an
     * hour later (02:30 -> 03:30 daylight time), past some later wall
     * times, so the whole day is searched for its earliest. */
    dto_time t0 = local_to_utc(ny, day, 0);
    dto_time d0 = ny ? tz_new_york_offset(t0) : 0;
    dto_time d1 = ny ? tz_new_york_offset(local_to_utc(ny, day, 86399)) : 0;
    bool steady = d0 == d1;
    dto_time best = INT64_MAX;
    for (int h = 0; h < 24; h++) {
      if (!((e->hours >> h) & 1))
        continue;
      if (steady && t0 + (h + 1) * DTO_NS_PER_HOUR <= after)
        continue; /* the whole hour is past */
      for (int m = 0; m < 60; m++) {
        if (!((e->minutes >> m) & 1))
          continue;
        dto_time t = steady ? t0 + h * DTO_NS_PER_HOUR + m * DTO_NS_PER_MIN
                            : local_to_utc(ny, day, h * 3600 + m * 60);
        if (t > after && t < best) {
          best = t;
          if (steady)
            break;
        }
      }
      if (steady && best != INT64_MAX)
        break;
    }
    if (best != INT64_MAX) {
      *out = best;
      return 0;
    }
  }
  return DTO_ENOENT;
}

static int anchor_next(const sched_expr *e, const calendar *cal, dto_time after,
                       dto_time *out) {
  /* With |offset| <= 1 day, sessions of days before local_day - 2 fire
   * before `after`; firing times rise with the day. */
  int64_t day = calendar_local_day(cal, after) - 2;
  for (int i = 0; i < ANCHOR_SEARCH_DAYS; i++, day++) {
    session s;
    if (!calendar_session(cal, day, &s))
      continue;
    dto_time t = (e->kind == SCHED_AT_OPEN ? s.open : s.close) + e->offset;
    if (t > after) {
      *out = t;
      return 0;
    }
  }
  return DTO_ENOENT;
}

int sched_next(const sched_expr *e, const calendar *cal, dto_time after,
               dto_time *out) {
  const int64_t first_day = days_from_civil(1900, 1, 1);
  const int64_t end_day = days_from_civil(2200, 1, 1);
  if (after < first_day * DTO_NS_PER_DAY || after >= end_day * DTO_NS_PER_DAY)
    return DTO_ERANGE;
  switch (e->kind) {
  case SCHED_EVERY: {
    if (e->step <= 0)
      return DTO_EINVAL;
    int64_t q = floordiv64(after, e->step) + 1, t;
    if (__builtin_mul_overflow(q, e->step, &t))
      return DTO_ERANGE;
    *out = t;
    return 0;
  }
  case SCHED_CRON: {
    bool ny = false;
    if (e->tz == SCHED_TZ_EXCHANGE) {
      if (cal == NULL)
        return DTO_EINVAL;
      ny = cal != calendar_crypto();
    }
    /* tz_new_york_to_utc() answers up to 2200-12-31 */
    return cron_next(e, ny, days_from_civil(2200, 12, 31), after, out);
  }
  case SCHED_AT_OPEN:
  case SCHED_AT_CLOSE:
    if (cal == NULL)
      return DTO_EINVAL;
    return anchor_next(e, cal, after, out);
  case SCHED_KIND_COUNT:
    break;
  }
  return DTO_EINVAL;
}

/* ---- the job table ---------------------------------------------------- */

typedef struct sched_entry {
  char *name;
  sched_expr expr;
  sched_fn fn;
  void *ctx;
  dto_time next; /* INT64_MAX: stopped */
  uint64_t runs, missed, failures;
  /* the firing chosen by the current sched_run_due() */
  bool pending;
  dto_time pend_due;
  uint64_t pend_missed;
} sched_entry;

struct sched {
  const calendar *cal;
  dto_log *lg;
  dto_time last; /* the latest time the table was driven to */
  sched_entry *jobs;
  size_t n, cap;
  bool running; /* inside sched_run_due() */
};

sched *sched_new(const calendar *cal, dto_log *lg, dto_time start) {
  sched *s = xcalloc(1, sizeof *s);
  s->cal = cal;
  s->lg = lg;
  s->last = start;
  return s;
}

void sched_free(sched *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n; i++)
    free(s->jobs[i].name);
  free(s->jobs);
  free(s);
}

static sched_entry *find_job(const sched *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->jobs[i].name, name))
      return &s->jobs[i];
  return NULL;
}

int sched_add(sched *s, const char *name, const sched_expr *e, sched_fn fn,
              void *ctx) {
  if (s->running)
    return DTO_ESTATE;
  if (name == NULL || name[0] == '\0' || strlen(name) > SCHED_NAME_MAX ||
      e == NULL || fn == NULL || e->kind >= SCHED_KIND_COUNT)
    return DTO_EINVAL;
  bool needs_cal = e->kind == SCHED_AT_OPEN || e->kind == SCHED_AT_CLOSE ||
                   (e->kind == SCHED_CRON && e->tz == SCHED_TZ_EXCHANGE);
  if (needs_cal && s->cal == NULL)
    return DTO_EINVAL;
  if (find_job(s, name))
    return DTO_EEXIST;
  dto_time next;
  int r = sched_next(e, s->cal, s->last, &next);
  if (r < 0)
    return r;
  s->jobs = xgrow(s->jobs, &s->cap, s->n + 1, sizeof *s->jobs);
  sched_entry *j = &s->jobs[s->n++];
  memset(j, 0, sizeof *j);
  j->name = xstrdup(name);
  j->expr = *e;
  j->fn = fn;
  j->ctx = ctx;
  j->next = next;
  return 0;
}

static void log_job(sched *s, enum log_level lv, const char *event,
                    const sched_entry *j, const char *key, int64_t val) {
  log_line l;
  if (s->lg == NULL || !log_begin(&l, s->lg, lv, event))
    return;
  log_str(&l, "job", j->name);
  log_str(&l, "schedule", j->expr.text);
  log_time(&l, "due", j->pend_due);
  log_int(&l, key, val);
  log_end(&l);
}

/* Choose the firing of a due job to run: the latest one <= now; count the
 * earlier ones as missed and find the next one after it. */
static void pick_firing(sched *s, sched_entry *j, dto_time now) {
  dto_time due = j->next, next = INT64_MAX;
  uint64_t missed = 0;
  int r;
  if (j->expr.kind == SCHED_EVERY) {
    /* exact without walking: firings are multiples of step */
    dto_time step = j->expr.step;
    dto_time latest = floordiv64(now, step) * step;
    missed = (uint64_t)((latest - due) / step);
    due = latest;
    r = sched_next(&j->expr, s->cal, due, &next);
  } else {
    for (;;) {
      r = sched_next(&j->expr, s->cal, due, &next);
      if (r < 0 || next > now)
        break;
      DTO_ASSERT(next > due); /* sched_next() is strictly after */
      due = next;
      missed++;
    }
  }
  j->pending = true;
  j->pend_due = due;
  j->pend_missed = missed;
  if (r < 0) {
    next = INT64_MAX;
    log_job(s, LOG_ERROR, "sched.stopped", j, "error", r);
  }
  j->next = next;
}

int sched_run_due(sched *s, dto_time now) {
  if (s->running)
    return DTO_ESTATE;
  if (now < s->last)
    now = s->last;
  s->last = now;
  for (size_t i = 0; i < s->n; i++)
    if (s->jobs[i].next != INT64_MAX && s->jobs[i].next <= now)
      pick_firing(s, &s->jobs[i], now);
  s->running = true;
  int ran = 0;
  for (;;) {
    sched_entry *j = NULL;
    for (size_t i = 0; i < s->n; i++) /* earliest firing, then first added */
      if (s->jobs[i].pending &&
          (j == NULL || s->jobs[i].pend_due < j->pend_due))
        j = &s->jobs[i];
    if (j == NULL)
      break;
    j->pending = false;
    if (j->pend_missed > 0) {
      j->missed += j->pend_missed;
      log_job(s, LOG_WARN, "sched.missed", j, "missed",
              (int64_t)j->pend_missed);
    }
    sched_firing f = {.name = j->name,
                      .due = j->pend_due,
                      .now = now,
                      .missed = j->pend_missed};
    int r = j->fn(j->ctx, &f);
    j->runs++;
    ran++;
    if (r < 0) {
      j->failures++;
      log_job(s, LOG_ERROR, "sched.failed", j, "error", r);
    }
  }
  s->running = false;
  return ran;
}

dto_time sched_next_due(const sched *s) {
  dto_time t = INT64_MAX;
  for (size_t i = 0; i < s->n; i++)
    if (s->jobs[i].next < t)
      t = s->jobs[i].next;
  return t;
}

int sched_job(const sched *s, const char *name, sched_job_info *out) {
  const sched_entry *j = name ? find_job(s, name) : NULL;
  if (j == NULL)
    return DTO_ENOENT;
  out->next = j->next;
  out->runs = j->runs;
  out->missed = j->missed;
  out->failures = j->failures;
  return 0;
}
