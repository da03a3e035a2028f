/* log.c - JSON-lines structured log with flood control per event name. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <strings.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <unistd.h>

#include "core/error.h"
#include "core/timeutil.h"

/* The stream whose lines start with a syslog priority "<N>" (systemd's
 * journal stream, sd_journal_stream_fd with level_prefix). */
static _Atomic(FILE *) prio_out;

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};

void log_init(dto_log *lg, FILE *out, const dto_clock *clock,
              enum log_level min) {
  memset(lg, 0, sizeof *lg);
  lg->out = out;
  lg->clock = clock;
  lg->min = min;
  lg->limit_lines = LOG_LIMIT_LINES_DEFAULT;
  lg->limit_window = LOG_LIMIT_WINDOW_DEFAULT;
  lg->due = INT64_MAX;
  pthread_mutex_init(&lg->mu, NULL);
}

int log_level_parse(const char *s) {
  for (size_t i = 0; i < DTO_ARRAY_LEN(level_names); i++)
    if (!strcmp(s, level_names[i]))
      return (int)i;
  return -1;
}

const char *log_level_name(enum log_level l) {
  return (unsigned)l < DTO_ARRAY_LEN(level_names) ? level_names[l] : "?";
}

/* Room kept free at the end of every line for the closing text. */
static const char tail_truncated[] = ",\"truncated\":true}\n";
#define LOG_TAIL (sizeof tail_truncated - 1)

/* Finish a piece of the line that started at mark: when any append failed or
 * the piece eats into the room for the tail, take it out again, so that a
 * huge value costs its field and never the line's JSON syntax. */
static bool piece_done(log_line *l, size_t mark, int rc) {
  if (rc == 0 && l->b.len <= LOG_LINE_MAX - LOG_TAIL)
    return true;
  l->b.len = mark;
  l->b.ptr[mark] = '\0';
  l->truncated = true;
  return false;
}

/* ---- flood control --------------------------------------------------------
 * Slots are an open-addressing table of event names (linear probing, never
 * more than LOG_LIMIT_NAMES - 1 used, so a probe always ends).  Everything
 * here runs under lg->mu. */

/* The window holding t (floor division: also right before 1970). */
static int64_t window_of(const dto_log *lg, dto_time t) {
  int64_t w = lg->limit_window;
  return t >= 0 ? t / w : -((-(t + 1)) / w) - 1;
}

/* The start of window win, saturated. */
static dto_time window_start(const dto_log *lg, int64_t win) {
  if (win > INT64_MAX / lg->limit_window)
    return INT64_MAX;
  if (win < INT64_MIN / lg->limit_window)
    return INT64_MIN;
  return win * lg->limit_window;
}

static dto_time window_end(const dto_log *lg, int64_t win) {
  return win == INT64_MAX ? INT64_MAX : window_start(lg, win + 1);
}

static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a over the prefix that is kept */
  for (size_t i = 0; s[i] && i < LOG_LIMIT_NAME_MAX; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static bool name_is(const log_limit_slot *sl, const char *s) {
  return !strncmp(sl->name, s, LOG_LIMIT_NAME_MAX);
}

/* Write the summary line of sl and start its counts over (no limiter, no
 * level filter: the lines it counts passed the filter). */
static void write_summary(dto_log *lg, log_limit_slot *sl, dto_time now) {
  log_line l;
  l.lg = lg;
  l.truncated = false;
  dbuf_init(&l.b, LOG_LINE_MAX);
  char ts[40];
  time_format(now, ts, sizeof ts);
  enum log_level lv = sl->errors ? LOG_ERROR : LOG_WARN;
  if (lg->out == atomic_load(&prio_out))
    dbuf_printf(&l.b, "<%d>", lv == LOG_ERROR ? 3 : 4);
  dbuf_printf(&l.b,
              "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"log.suppressed\","
              "\"component\":\"log\"",
              ts, level_names[lv]);
  log_str(&l, "name", sl->name);
  log_int(&l, "count", (int64_t)sl->dropped);
  log_int(&l, "errors", (int64_t)sl->errors);
  log_time(&l, "since", window_start(lg, sl->since));
  log_end(&l);
  sl->dropped = sl->errors = 0;
}

/* Summarise every slot with drops whose window ended before now (all of
 * them with `all`), and work out when the next one is due. */
static void summarise(dto_log *lg, dto_time now, bool all) {
  int64_t cur = window_of(lg, now);
  lg->due = INT64_MAX;
  for (int i = 0; i < LOG_LIMIT_NAMES; i++) {
    log_limit_slot *sl = &lg->slots[i];
    if (!sl->name[0] || !sl->dropped)
      continue;
    if (all || sl->win != cur)
      write_summary(lg, sl, now);
    else if (window_end(lg, sl->win) < lg->due)
      lg->due = window_end(lg, sl->win);
  }
}

/* May a line of event at level go out at now?  Counts it either way. */
static bool admit(dto_log *lg, const char *event, enum log_level level,
                  dto_time now) {
  if (!lg->limit_lines)
    return true;
  if (now >= lg->due)
    summarise(lg, now, false);
  int64_t win = window_of(lg, now);
  uint32_t m = LOG_LIMIT_NAMES - 1; /* a power of two, minus one */
  uint32_t i = name_hash(event) & m;
  while (lg->slots[i].name[0] && !name_is(&lg->slots[i], event))
    i = (i + 1) & m;
  log_limit_slot *sl = &lg->slots[i];
  if (!sl->name[0]) {
    if (lg->nslots + 1 >= LOG_LIMIT_NAMES) {
      /* full: write what is pending and start the table afresh */
      summarise(lg, now, true);
      memset(lg->slots, 0, sizeof lg->slots);
      lg->nslots = 0;
      i = name_hash(event) & m;
      sl = &lg->slots[i];
    }
    snprintf(sl->name, sizeof sl->name, "%s", event);
    sl->win = win;
    lg->nslots++;
  }
  if (sl->win != win) { /* a new window */
    if (sl->dropped)
      write_summary(lg, sl, now);
    sl->win = win;
    sl->lines = 0;
  }
  if (sl->lines < lg->limit_lines) {
    sl->lines++;
    return true;
  }
  if (!sl->dropped) {
    sl->since = win;
    if (window_end(lg, win) < lg->due)
      lg->due = window_end(lg, win);
  }
  sl->dropped++;
  sl->errors += level >= LOG_ERROR;
  lg->suppressed++;
  return false;
}

int log_set_limit(dto_log *lg, uint64_t lines, dto_time window) {
  if (!lg || window <= 0)
    return DTO_EINVAL;
  pthread_mutex_lock(&lg->mu);
  if (lg->out)
    summarise(lg, clock_now(lg->clock), true);
  memset(lg->slots, 0, sizeof lg->slots);
  lg->nslots = 0;
  lg->due = INT64_MAX;
  lg->limit_lines = lines;
  lg->limit_window = window;
  pthread_mutex_unlock(&lg->mu);
  return 0;
}

/* ---- the writer thread --------------------------------------------------- */

static void *writer_main(void *arg) {
  dto_log *lg = arg;
  dbuf mine;
  dbuf_init(&mine, SIZE_MAX / 2);
  pthread_mutex_lock(&lg->wmu);
  for (;;) {
    while (!lg->pend.len && !lg->wquit)
      pthread_cond_wait(&lg->wcv, &lg->wmu);
    if (!lg->pend.len)
      break; /* quit, and everything written */
    dbuf t = mine; /* swap: the loggers fill the other buffer meanwhile */
    mine = lg->pend;
    lg->pend = t;
    lg->writing = true;
    pthread_mutex_unlock(&lg->wmu);
    fwrite(mine.ptr, 1, mine.len, lg->out);
    fflush(lg->out);
    dbuf_reset(&mine);
    pthread_mutex_lock(&lg->wmu);
    lg->writing = false;
    pthread_cond_broadcast(&lg->wdone);
  }
  pthread_mutex_unlock(&lg->wmu);
  dbuf_release(&mine);
  return NULL;
}

int log_start_writer(dto_log *lg) {
  if (!lg || !lg->out || lg->async)
    return 0;
  pthread_mutex_init(&lg->wmu, NULL);
  pthread_cond_init(&lg->wcv, NULL);
  pthread_cond_init(&lg->wdone, NULL);
  dbuf_init(&lg->pend, SIZE_MAX / 2);
  lg->wquit = lg->writing = false;
  fflush(lg->out); /* what was written before goes first */
  if (pthread_create(&lg->th, NULL, writer_main, lg)) {
    dbuf_release(&lg->pend);
    pthread_cond_destroy(&lg->wdone);
    pthread_cond_destroy(&lg->wcv);
    pthread_mutex_destroy(&lg->wmu);
    return DTO_ENOMEM;
  }
  lg->async = true;
  return 0;
}

/* Wait until the writer has written every line handed to it. */
static void writer_drain(dto_log *lg) {
  pthread_mutex_lock(&lg->wmu);
  pthread_cond_signal(&lg->wcv);
  while (lg->pend.len || lg->writing)
    pthread_cond_wait(&lg->wdone, &lg->wmu);
  pthread_mutex_unlock(&lg->wmu);
}

void log_flush(dto_log *lg) {
  if (!lg)
    return;
  pthread_mutex_lock(&lg->mu);
  if (lg->out) {
    summarise(lg, clock_now(lg->clock), true);
    if (!lg->async)
      fflush(lg->out);
  }
  pthread_mutex_unlock(&lg->mu);
  if (lg->async)
    writer_drain(lg);
}

void log_close(dto_log *lg) {
  if (!lg)
    return;
  log_flush(lg);
  if (lg->async) {
    pthread_mutex_lock(&lg->wmu);
    lg->wquit = true;
    pthread_cond_signal(&lg->wcv);
    pthread_mutex_unlock(&lg->wmu);
    pthread_join(lg->th, NULL);
    dbuf_release(&lg->pend);
    pthread_cond_destroy(&lg->wdone);
    pthread_cond_destroy(&lg->wcv);
    pthread_mutex_destroy(&lg->wmu);
    lg->async = false;
  }
  pthread_mutex_destroy(&lg->mu);
}

uint64_t log_suppressed(const dto_log *lg) { return lg->suppressed; }

/* ---- lines --------------------------------------------------------------- */

/* ---- where lines go -------------------------------------------------------- */


void log_set_priority_prefix(FILE *out) { atomic_store(&prio_out, out); }

int log_reopen(FILE *out, const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return dto_from_errno(errno);
  fflush(out);
  /* the FILE and every log that holds it now write to the new file; a
   * line being written goes whole to the old one or the new one */
  int rc = dup2(fd, fileno(out)) < 0 ? dto_from_errno(errno) : 0;
  close(fd);
  return rc;
}

/* ---- redaction ------------------------------------------------------------- */

/* A key that names a credential: its value is never written. */
static bool secret_key(const char *k) {
  static const char *const words[] = {"password", "passwd", "secret",
                                      "token",    "authorization",
                                      "cookie",   "api_key", "api-key", "apikey",
                                      "private"};
  char low[64];
  size_t n = 0;
  for (; k && k[n] && n + 1 < sizeof low; n++)
    low[n] = (char)(k[n] >= 'A' && k[n] <= 'Z' ? k[n] - 'A' + 'a' : k[n]);
  low[n] = '\0';
  for (size_t i = 0; i < DTO_ARRAY_LEN(words); i++)
    if (strstr(low, words[i]))
      return true;
  return false;
}

static bool hexc(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool tokc(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.' ||
         c == '~' || c == '+' || c == '/' || c == '=';
}

/* val with what looks like a credential inside masked: dto's API tokens
 * (dto_ and 64 hex digits), "Bearer X", and the password of a URL
 * (scheme://user:PASSWORD@host).  NULL when there is nothing to mask. */
static char *redact(const char *val) {
  size_t n = strlen(val);
  char *out = NULL;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t skip = 0, keep = 0; /* keep: bytes copied before the mask */
    if (!strncmp(val + i, "dto_", 4) && n - i >= 68) {
      size_t k = 0;
      while (k < 64 && hexc(val[i + 4 + k]))
        k++;
      if (k == 64) {
        keep = 4;
        skip = 68;
      }
    } else if (!strncasecmp(val + i, "bearer ", 7)) {
      size_t k = i + 7;
      while (k < n && tokc(val[k]))
        k++;
      if (k > i + 7) {
        keep = 7;
        skip = k - i;
      }
    } else if (!strncmp(val + i, "://", 3)) {
      /* user:password@ before the host */
      size_t k = i + 3, colon = 0;
      while (k < n && val[k] != '@' && val[k] != '/' && val[k] != ' ') {
        if (val[k] == ':' && !colon)
          colon = k;
        k++;
      }
      if (k < n && val[k] == '@' && colon) {
        keep = colon + 1 - i;
        skip = k - i;
      }
    }
    if (!skip) {
      if (out)
        out[o++] = val[i];
      i++;
      continue;
    }
    if (!out) {
      out = malloc(n + 16);
      if (!out)
        return NULL;
      memcpy(out, val, i);
      o = i;
    }
    memcpy(out + o, val + i, keep);
    o += keep;
    memcpy(out + o, "***", 3);
    o += 3;
    i += skip;
  }
  if (out)
    out[o] = '\0';
  return out;
}

/* ---- lines --------------------------------------------------------------- */

bool log_begin(log_line *l, dto_log *lg, enum log_level level,
               const char *event) {
  if (!lg || !lg->out || level < lg->min || level >= LOG_OFF)
    return false;
  dto_time now = clock_now(lg->clock);
  pthread_mutex_lock(&lg->mu);
  bool ok = admit(lg, event ? event : "", level, now);
  pthread_mutex_unlock(&lg->mu);
  if (!ok)
    return false;
  l->lg = lg;
  l->truncated = false;
  dbuf_init(&l->b, LOG_LINE_MAX);
  char ts[40];
  time_format(now, ts, sizeof ts);
  /* Short and bounded: cannot fail. */
  if (lg->out == atomic_load(&prio_out)) {
    static const int prio[] = {7, 6, 4, 3}; /* debug info warning err */
    dbuf_printf(&l->b, "<%d>", prio[level]);
  }
  dbuf_printf(&l->b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts,
              level_names[level]);
  size_t mark = l->b.len;
  if (!piece_done(l, mark, dbuf_json_str(&l->b, event ? event : "")))
    dbuf_adds(&l->b, "\"\"");
  /* the component: the event's name up to its first '.' */
  const char *dot = event ? strchr(event, '.') : NULL;
  char comp[32];
  size_t cn = dot ? (size_t)(dot - event) : 0;
  if (cn && cn < sizeof comp) {
    memcpy(comp, event, cn);
    comp[cn] = '\0';
    log_str(l, "component", comp);
  }
  return true;
}

/* Append ,"key": and return the mark to undo the whole field. */
static size_t key(log_line *l, const char *k, int *rc) {
  size_t mark = l->b.len;
  *rc = dbuf_addc(&l->b, ',');
  if (!*rc)
    *rc = dbuf_json_str(&l->b, k ? k : "");
  if (!*rc)
    *rc = dbuf_addc(&l->b, ':');
  return mark;
}

void log_str(log_line *l, const char *k, const char *val) {
  int rc;
  size_t mark = key(l, k, &rc);
  char *masked = NULL;
  if (val && *val && secret_key(k))
    val = "[redacted]";
  else if (val && (masked = redact(val)))
    val = masked;
  if (!rc)
    rc = dbuf_json_str(&l->b, val ? val : "");
  free(masked);
  piece_done(l, mark, rc);
}

void log_int(log_line *l, const char *k, int64_t val) {
  int rc;
  size_t mark = key(l, k, &rc);
  if (!rc)
    rc = dbuf_printf(&l->b, "%" PRId64, val);
  piece_done(l, mark, rc);
}

void log_fx(log_line *l, const char *k, fx val) {
  int rc;
  size_t mark = key(l, k, &rc);
  if (!rc)
    rc = dbuf_addc(&l->b, '"');
  if (!rc)
    rc = dbuf_addfx(&l->b, val);
  if (!rc)
    rc = dbuf_addc(&l->b, '"');
  piece_done(l, mark, rc);
}

void log_time(log_line *l, const char *k, dto_time t) {
  char ts[40];
  time_format(t, ts, sizeof ts);
  log_str(l, k, ts);
}

void log_end(log_line *l) {
  /* The room for the tail was kept free, so this cannot fail. */
  if (l->truncated)
    dbuf_adds(&l->b, tail_truncated);
  else
    dbuf_add(&l->b, "}\n", 2);
  dto_log *lg = l->lg;
  if (lg->async) {
    pthread_mutex_lock(&lg->wmu);
    if (lg->pend.len + l->b.len > LOG_PEND_MAX)
      lg->waits++;
    while (lg->pend.len + l->b.len > LOG_PEND_MAX && lg->pend.len) {
      pthread_cond_signal(&lg->wcv);
      pthread_cond_wait(&lg->wdone, &lg->wmu);
    }
    bool wake = lg->pend.len == 0;
    dbuf_add(&lg->pend, l->b.ptr, l->b.len);
    if (wake)
      pthread_cond_signal(&lg->wcv);
    pthread_mutex_unlock(&lg->wmu);
  } else {
    fwrite(l->b.ptr, 1, l->b.len, lg->out);
    fflush(lg->out);
  }
  dbuf_release(&l->b);
}
