/* log.c - JSON-lines structured log. */
#include "core/log.h"

#include <inttypes.h>

#include "core/timeutil.h"

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};

void log_init(dto_log *lg, FILE *out, const dto_clock *clock,
              enum log_level min) {
  lg->out = out;
  lg->clock = clock;
  lg->min = min;
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

bool log_begin(log_line *l, dto_log *lg, enum log_level level,
               const char *event) {
  if (!lg || !lg->out || level < lg->min || level >= LOG_OFF)
    return false;
  l->lg = lg;
  l->truncated = false;
  dbuf_init(&l->b, LOG_LINE_MAX);
  char ts[40];
  time_format(clock_now(lg->clock), ts, sizeof ts);
  /* Short and bounded: cannot fail. */
  dbuf_printf(&l->b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts,
              level_names[level]);
  size_t mark = l->b.len;
  if (!piece_done(l, mark, dbuf_json_str(&l->b, event ? event : "")))
    dbuf_adds(&l->b, "\"\"");
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
  if (!rc)
    rc = dbuf_json_str(&l->b, val ? val : "");
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
  fwrite(l->b.ptr, 1, l->b.len, l->lg->out);
  fflush(l->lg->out);
  dbuf_release(&l->b);
}
