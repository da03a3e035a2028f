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

bool log_begin(log_line *l, dto_log *lg, enum log_level level,
               const char *event) {
  if (!lg || !lg->out || level < lg->min || level >= LOG_OFF)
    return false;
  l->lg = lg;
  dbuf_init(&l->b, 64 * 1024);
  char ts[40];
  time_format(clock_now(lg->clock), ts, sizeof ts);
  dbuf_printf(&l->b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts,
              level_names[level]);
  dbuf_json_str(&l->b, event);
  return true;
}

static void key(log_line *l, const char *k) {
  dbuf_addc(&l->b, ',');
  dbuf_json_str(&l->b, k);
  dbuf_addc(&l->b, ':');
}

void log_str(log_line *l, const char *k, const char *val) {
  key(l, k);
  dbuf_json_str(&l->b, val ? val : "");
}

void log_int(log_line *l, const char *k, int64_t val) {
  key(l, k);
  dbuf_printf(&l->b, "%" PRId64, val);
}

void log_fx(log_line *l, const char *k, fx val) {
  key(l, k);
  dbuf_addc(&l->b, '"');
  dbuf_addfx(&l->b, val);
  dbuf_addc(&l->b, '"');
}

void log_time(log_line *l, const char *k, dto_time t) {
  char ts[40];
  time_format(t, ts, sizeof ts);
  log_str(l, k, ts);
}

void log_end(log_line *l) {
  dbuf_add(&l->b, "}\n", 2);
  fwrite(l->b.ptr, 1, l->b.len, l->lg->out);
  fflush(l->lg->out);
  dbuf_release(&l->b);
}
