/* test_core.c - the small core modules: the capped buffer and its JSON/CSV
 * escaping, the JSON-lines log on a simulated clock, error codes, the
 * clocks, the allocation wrappers, and strategy parameter parsing. */
#include "core/prelude.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "engine/param.h"

/* ---- dbuf --------------------------------------------------------------- */

static void test_dbuf_basic(void **state) {
  (void)state;
  dbuf b;
  dbuf_init(&b, 100);
  assert_null(b.ptr);
  assert_int_equal(b.len, 0);
  /* An empty append still gives a C string. */
  assert_int_equal(dbuf_add(&b, "", 0), 0);
  assert_non_null(b.ptr);
  assert_string_equal(b.ptr, "");
  assert_int_equal(dbuf_adds(&b, "abc"), 0);
  assert_int_equal(dbuf_addc(&b, 'd'), 0);
  assert_int_equal(dbuf_add(&b, "efgh", 2), 0);
  assert_string_equal(b.ptr, "abcdef");
  assert_int_equal(b.len, 6);
  assert_true(b.cap > b.len);
  assert_int_equal(dbuf_addfx(&b, -1250000000), 0);
  assert_string_equal(b.ptr, "abcdef-12.5");
  char *p = b.ptr;
  size_t cap = b.cap;
  dbuf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.ptr, "");
  assert_ptr_equal(b.ptr, p); /* memory kept */
  assert_int_equal(b.cap, cap);
  dbuf_release(&b);
  assert_null(b.ptr);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  dbuf_release(&b); /* twice is harmless */
  /* Reusable after release, with the same cap. */
  assert_int_equal(dbuf_adds(&b, "x"), 0);
  assert_string_equal(b.ptr, "x");
  assert_int_equal(b.max, 100);
  dbuf_release(&b);
}

static void test_dbuf_cap(void **state) {
  (void)state;
  dbuf b;
  dbuf_init(&b, 10);
  assert_int_equal(dbuf_adds(&b, "0123456789"), 0); /* exactly max */
  assert_int_equal(b.len, 10);
  assert_int_equal(dbuf_addc(&b, 'x'), DTO_ETOOBIG);
  assert_int_equal(dbuf_adds(&b, "xy"), DTO_ETOOBIG);
  assert_int_equal(dbuf_printf(&b, "%d", 1), DTO_ETOOBIG);
  assert_int_equal(dbuf_json_str(&b, ""), DTO_ETOOBIG);
  assert_int_equal(dbuf_csv_str(&b, "a,b"), DTO_ETOOBIG);
  assert_int_equal(dbuf_addfx(&b, 1), DTO_ETOOBIG);
  assert_int_equal(b.len, 10);
  assert_string_equal(b.ptr, "0123456789");
  assert_int_equal(dbuf_add(&b, "", 0), 0); /* nothing is always fine */
  dbuf_reset(&b);
  /* Too big on its own, and size_t wrap-around. */
  assert_int_equal(dbuf_add(&b, "x", 11), DTO_ETOOBIG);
  assert_int_equal(dbuf_adds(&b, "abc"), 0);
  assert_int_equal(dbuf_add(&b, "x", SIZE_MAX), DTO_ETOOBIG);
  assert_int_equal(dbuf_add(&b, "x", SIZE_MAX - 1), DTO_ETOOBIG);
  assert_string_equal(b.ptr, "abc");
  dbuf_release(&b);

  /* A cap of zero takes only empty appends. */
  dbuf_init(&b, 0);
  assert_int_equal(dbuf_addc(&b, 'x'), DTO_ETOOBIG);
  assert_null(b.ptr);
  dbuf_release(&b);
}

static void test_dbuf_printf(void **state) {
  (void)state;
  dbuf b;
  dbuf_init(&b, 4096);
  assert_int_equal(dbuf_printf(&b, "%s=%d;", "n", 42), 0);
  assert_string_equal(b.ptr, "n=42;");
  /* Past the 256-byte stack buffer: the long path. */
  char big[1001];
  for (int i = 0; i < 1000; i++)
    big[i] = (char)('a' + i % 26);
  big[1000] = '\0';
  assert_int_equal(dbuf_printf(&b, "[%s]", big), 0);
  assert_int_equal(b.len, 5 + 1002);
  assert_int_equal(strlen(b.ptr), b.len);
  assert_memory_equal(b.ptr + 6, big, 1000);
  assert_string_equal(b.ptr + 1006, "]");
  /* Exactly 255 and 256 bytes around the boundary. */
  dbuf_reset(&b);
  assert_int_equal(dbuf_printf(&b, "%.255s", big), 0);
  assert_int_equal(b.len, 255);
  assert_int_equal(dbuf_printf(&b, "%.256s", big), 0);
  assert_int_equal(b.len, 511);
  assert_int_equal(strlen(b.ptr), 511);
  assert_memory_equal(b.ptr + 255, big, 256);
  /* The long path honours the cap and leaves the content alone. */
  dbuf_reset(&b);
  assert_int_equal(dbuf_adds(&b, "keep"), 0);
  char huge[5000];
  memset(huge, 'z', sizeof huge - 1);
  huge[sizeof huge - 1] = '\0';
  assert_int_equal(dbuf_printf(&b, "%s", huge), DTO_ETOOBIG);
  assert_int_equal(dbuf_printf(&b, "%.4092s", huge), 0); /* exactly max */
  assert_int_equal(b.len, 4096);
  assert_int_equal(strlen(b.ptr), 4096);
  assert_memory_equal(b.ptr, "keepzzz", 7);
  dbuf_release(&b);
}

static void expect_json(const char *in, const char *want) {
  dbuf b;
  dbuf_init(&b, 1024);
  assert_int_equal(dbuf_json_str(&b, in), 0);
  assert_string_equal(b.ptr, want);
  dbuf_release(&b);
}

static void test_dbuf_json(void **state) {
  (void)state;
  expect_json("", "\"\"");
  expect_json("plain", "\"plain\"");
  expect_json("a\"b", "\"a\\\"b\"");
  expect_json("a\\b", "\"a\\\\b\"");
  expect_json("\n\r\t", "\"\\n\\r\\t\"");
  expect_json("\x01\x1f", "\"\\u0001\\u001f\"");
  expect_json("\b\f", "\"\\u0008\\u000c\"");
  expect_json("\x10", "\"\\u0010\"");
  expect_json(" ~\x7f/", "\" ~\x7f/\""); /* no escape needed */
  /* UTF-8 passes through byte for byte. */
  expect_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
              "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  /* Every control byte is escaped, and nothing else below 0x80 is. */
  dbuf b;
  dbuf_init(&b, 4096);
  for (int c = 1; c < 0x80; c++) {
    char s[2] = {(char)c, '\0'};
    dbuf_reset(&b);
    assert_int_equal(dbuf_json_str(&b, s), 0);
    if (c < 0x20)
      assert_true(b.len == 4 || b.len == 8); /* "\n" or "\u00XX" */
    else if (c == '"' || c == '\\')
      assert_int_equal(b.len, 4);
    else
      assert_int_equal(b.len, 3);
    for (size_t i = 0; i < b.len; i++)
      assert_true((unsigned char)b.ptr[i] >= 0x20);
  }
  dbuf_release(&b);
}

static void test_dbuf_json_cap(void **state) {
  (void)state;
  /* A string that does not fit leaves the buffer as it was, even when the
   * failure comes half-way through. */
  dbuf b;
  dbuf_init(&b, 16);
  assert_int_equal(dbuf_adds(&b, "k:"), 0);
  assert_int_equal(dbuf_json_str(&b, "0123456789\n\n"), DTO_ETOOBIG);
  assert_int_equal(b.len, 2);
  assert_string_equal(b.ptr, "k:");
  assert_int_equal(dbuf_json_str(&b, "0123456789ab"), 0); /* 14 bytes */
  assert_int_equal(b.len, 16);
  assert_string_equal(b.ptr, "k:\"0123456789ab\"");
  dbuf_reset(&b);
  assert_int_equal(dbuf_csv_str(&b, "0123456789,\"\"\""), DTO_ETOOBIG);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.ptr, "");
  dbuf_release(&b);
}

static void expect_csv(const char *in, const char *want) {
  dbuf b;
  dbuf_init(&b, 1024);
  assert_int_equal(dbuf_csv_str(&b, in), 0);
  assert_string_equal(b.ptr, want);
  dbuf_release(&b);
}

static void test_dbuf_csv(void **state) {
  (void)state;
  expect_csv("plain", "plain");
  expect_csv("", "");
  expect_csv("with space", "with space");
  expect_csv("a,b", "\"a,b\"");
  expect_csv("say \"hi\"", "\"say \"\"hi\"\"\"");
  expect_csv("\"", "\"\"\"\"");
  expect_csv("a\nb", "\"a\nb\"");
  expect_csv("a\rb", "\"a\rb\"");
  expect_csv("caf\xc3\xa9", "caf\xc3\xa9");
}

/* ---- log ---------------------------------------------------------------- */

/* Read everything written to f so far. */
static char *slurp(FILE *f) {
  fflush(f);
  long n = ftell(f);
  assert_true(n >= 0);
  char *s = xmalloc((size_t)n + 1);
  rewind(f);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  return s;
}

/* A strict check that s is exactly one JSON object of string/integer/true
 * members followed by "\n": enough for what the log writes. */
static const char *json_string(const char *p) {
  if (*p++ != '"')
    return NULL;
  for (; *p != '"'; p++) {
    if ((unsigned char)*p < 0x20)
      return NULL;
    if (*p == '\\') {
      p++;
      if (*p == 'u') {
        for (int i = 1; i <= 4; i++)
          if (!strchr("0123456789abcdef", p[i]) || !p[i])
            return NULL;
        p += 4;
      } else if (!strchr("\"\\/bfnrt", *p) || !*p) {
        return NULL;
      }
    }
  }
  return p + 1;
}

static bool one_json_line(const char *s) {
  const char *p = s;
  if (*p++ != '{')
    return false;
  for (bool first = true;; first = false) {
    if (*p == '}' && first)
      break;
    if (!(p = json_string(p)) || *p++ != ':')
      return false;
    if (*p == '"') {
      p = json_string(p);
    } else if (!strncmp(p, "true", 4)) {
      p += 4;
    } else {
      if (*p == '-')
        p++;
      if (*p < '0' || *p > '9')
        return false;
      while (*p >= '0' && *p <= '9')
        p++;
    }
    if (!p)
      return false;
    if (*p == '}')
      break;
    if (*p++ != ',')
      return false;
  }
  return !strcmp(p, "}\n");
}

static void test_log_line(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, 1735787045LL * DTO_NS_PER_SEC + 123000000);
  dto_log lg;
  log_init(&lg, f, &clk, LOG_INFO);
  log_line l;
  assert_true(log_begin(&l, &lg, LOG_INFO, "order.filled"));
  log_str(&l, "symbol", "AAPL");
  log_fx(&l, "qty", 1250000000);
  log_int(&l, "id", -42);
  log_time(&l, "at", 0);
  log_str(&l, "note", "a \"quoted\"\nline\\");
  log_str(&l, "none", NULL);
  log_int(&l, "min", INT64_MIN);
  log_end(&l);
  char *s = slurp(f);
  assert_string_equal(
      s, "{\"ts\":\"2025-01-02T03:04:05.123Z\",\"level\":\"info\","
         "\"event\":\"order.filled\",\"component\":\"order\","
         "\"symbol\":\"AAPL\",\"qty\":\"12.5\","
         "\"id\":-42,\"at\":\"1970-01-01T00:00:00Z\","
         "\"note\":\"a \\\"quoted\\\"\\nline\\\\\",\"none\":\"\","
         "\"min\":-9223372036854775808}\n");
  assert_true(one_json_line(s));
  free(s);
  fclose(f);
}

/* Credentials never reach the log: by the key's name, and by their look
 * inside any value.  The expected text is written out by hand. */
static void test_log_redaction(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, 0);
  dto_log lg;
  log_init(&lg, f, &clk, LOG_INFO);
  static const char tok[] =
      "dto_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char note[200];
  snprintf(note, sizeof note, "token %s used", tok);
  log_line l;
  assert_true(log_begin(&l, &lg, LOG_INFO, "nodot"));
  log_str(&l, "password", "hunter2-hunter2");
  log_str(&l, "X-Api-Key", "AKXXXX");
  log_str(&l, "smtp_secret", "s3");
  log_str(&l, "note", note);
  log_str(&l, "auth", "Bearer abc.DEF-123 then");
  log_str(&l, "url", "postgresql://dto:pw%40x@db:5432/x and smtp://u@h");
  log_str(&l, "short", "dto_abc");
  log_str(&l, "empty_token", "");
  log_end(&l);
  char *s = slurp(f);
  assert_string_equal(
      s, "{\"ts\":\"1970-01-01T00:00:00Z\",\"level\":\"info\","
         "\"event\":\"nodot\",\"password\":\"[redacted]\","
         "\"X-Api-Key\":\"[redacted]\",\"smtp_secret\":\"[redacted]\","
         "\"note\":\"token dto_*** used\",\"auth\":\"Bearer *** then\","
         "\"url\":\"postgresql://dto:***@db:5432/x and smtp://u@h\","
         "\"short\":\"dto_abc\",\"empty_token\":\"\"}\n");
  assert_null(strstr(s, "hunter2"));
  assert_null(strstr(s, "0123456789abcdef"));
  free(s);
  fclose(f);
}

/* SIGHUP after a rotation: the same FILE writes to the new file. */
static void test_log_reopen(void **state) {
  (void)state;
  char dir[] = "/tmp/dto-log-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char a[64], b[64];
  snprintf(a, sizeof a, "%s/run.log", dir);
  snprintf(b, sizeof b, "%s/run.log.1", dir);
  FILE *f = fopen(a, "a");
  assert_non_null(f);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, 0);
  dto_log lg;
  log_init(&lg, f, &clk, LOG_INFO);
  log_line l;
  assert_true(log_begin(&l, &lg, LOG_INFO, "a.one"));
  log_end(&l);
  assert_int_equal(rename(a, b), 0); /* logrotate moves it */
  assert_true(log_begin(&l, &lg, LOG_INFO, "a.two"));
  log_end(&l); /* still to the moved file */
  assert_int_equal(log_reopen(f, a), 0);
  assert_true(log_begin(&l, &lg, LOG_INFO, "a.three"));
  log_end(&l);
  assert_int_not_equal(log_reopen(f, "/nonexistent-dir/x.log"), 0);
  assert_true(log_begin(&l, &lg, LOG_INFO, "a.four"));
  log_end(&l); /* a failed reopen keeps the file it had */
  log_close(&lg);
  fclose(f);
  char buf[4096];
  FILE *r = fopen(b, "r");
  size_t n = fread(buf, 1, sizeof buf - 1, r);
  buf[n] = '\0';
  fclose(r);
  assert_non_null(strstr(buf, "a.one"));
  assert_non_null(strstr(buf, "a.two"));
  assert_null(strstr(buf, "a.three"));
  r = fopen(a, "r");
  n = fread(buf, 1, sizeof buf - 1, r);
  buf[n] = '\0';
  fclose(r);
  assert_non_null(strstr(buf, "a.three"));
  assert_non_null(strstr(buf, "a.four"));
  assert_null(strstr(buf, "a.one"));
  unlink(a);
  unlink(b);
  rmdir(dir);
}

/* Lines to the journal's stream start with their syslog priority. */
static void test_log_priority_prefix(void **state) {
  (void)state;
  FILE *f = tmpfile();
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, 0);
  dto_log lg;
  log_init(&lg, f, &clk, LOG_DEBUG);
  log_set_priority_prefix(f);
  static const enum log_level lv[] = {LOG_DEBUG, LOG_INFO, LOG_WARN,
                                      LOG_ERROR};
  for (size_t i = 0; i < 4; i++) {
    log_line l;
    assert_true(log_begin(&l, &lg, lv[i], "x"));
    log_end(&l);
  }
  log_set_priority_prefix(NULL);
  char *s = slurp(f);
  assert_non_null(strstr(s, "<7>{\"ts\""));
  assert_non_null(strstr(s, "\n<6>{"));
  assert_non_null(strstr(s, "\n<4>{"));
  assert_non_null(strstr(s, "\n<3>{"));
  free(s);
  fclose(f);
}

static void test_log_levels(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, 0);
  dto_log lg;
  log_init(&lg, f, &clk, LOG_WARN);
  log_line l;
  assert_false(log_begin(&l, &lg, LOG_DEBUG, "d"));
  assert_false(log_begin(&l, &lg, LOG_INFO, "i"));
  assert_false(log_begin(&l, &lg, LOG_OFF, "o"));
  assert_true(log_begin(&l, &lg, LOG_WARN, "w"));
  log_end(&l);
  sim_clock_set(&sim, DTO_NS_PER_SEC);
  assert_true(log_begin(&l, &lg, LOG_ERROR, "e"));
  log_end(&l);
  assert_false(log_begin(&l, NULL, LOG_ERROR, "e"));
  char *s = slurp(f);
  assert_string_equal(s, "{\"ts\":\"1970-01-01T00:00:00Z\",\"level\":\"warn\","
                         "\"event\":\"w\"}\n"
                         "{\"ts\":\"1970-01-01T00:00:01Z\",\"level\":\"error\","
                         "\"event\":\"e\"}\n");
  free(s);
  /* off silences everything; debug lets everything through. */
  rewind(f);
  lg.min = LOG_OFF;
  assert_false(log_begin(&l, &lg, LOG_ERROR, "e"));
  lg.min = LOG_DEBUG;
  assert_true(log_begin(&l, &lg, LOG_DEBUG, "d"));
  log_end(&l);
  lg.out = NULL;
  assert_false(log_begin(&l, &lg, LOG_ERROR, "e"));
  fclose(f);

  assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
  assert_int_equal(log_level_parse("info"), LOG_INFO);
  assert_int_equal(log_level_parse("warn"), LOG_WARN);
  assert_int_equal(log_level_parse("error"), LOG_ERROR);
  assert_int_equal(log_level_parse("off"), LOG_OFF);
  assert_int_equal(log_level_parse("INFO"), -1);
  assert_int_equal(log_level_parse("warning"), -1);
  assert_int_equal(log_level_parse(""), -1);
  assert_int_equal(log_level_parse("info "), -1);
  assert_string_equal(log_level_name(LOG_WARN), "warn");
  assert_string_equal(log_level_name((enum log_level)99), "?");
}

/* Lines of s that contain needle. */
static int count_lines(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; *p;) {
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char *line = xmalloc(len + 1);
    memcpy(line, p, len);
    line[len] = '\0';
    n += strstr(line, needle) != NULL;
    free(line);
    p += len + (e != NULL);
  }
  return n;
}

/* The sum of "count" over the summary lines of name in s. */
static int64_t suppressed_count(const char *s, const char *name,
                                int64_t *errors) {
  char key[128];
  snprintf(key, sizeof key,
           "\"event\":\"log.suppressed\",\"component\":\"log\",\"name\":\"%s\"",
           name);
  int64_t total = 0;
  if (errors)
    *errors = 0;
  for (const char *p = s; (p = strstr(p, key)) != NULL; p += strlen(key)) {
    const char *c = strstr(p, "\"count\":");
    assert_non_null(c);
    total += strtoll(c + 8, NULL, 10);
    const char *e = strstr(p, "\"errors\":");
    assert_non_null(e);
    if (errors)
      *errors += strtoll(e + 9, NULL, 10);
  }
  return total;
}

/* A million identical lines inside one second of the log's clock: N
 * lines and, at the flush, one summary whose count is exact. */
static void test_log_flood(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  sim_clock sim;
  dto_clock clk;
  dto_time t0 = 1735787045LL * DTO_NS_PER_SEC;
  clock_sim_init(&clk, &sim, t0);
  dto_log lg;
  log_init(&lg, f, &clk, LOG_INFO);
  enum { N = 10, TOTAL = 1000000 };
  assert_int_equal(log_set_limit(&lg, N, DTO_NS_PER_SEC), 0);
  int written = 0;
  for (int i = 0; i < TOTAL; i++) {
    sim_clock_set(&sim, t0 + i * 999); /* all inside [t0, t0 + 1 s) */
    log_line l;
    if (log_begin(&l, &lg, LOG_ERROR, "store.items_lost")) {
      log_int(&l, "items", 1);
      log_end(&l);
      written++;
    }
  }
  assert_int_equal(written, N);
  assert_int_equal(log_suppressed(&lg), TOTAL - N);
  log_close(&lg);
  char *s = slurp(f);
  int lines = 0;
  for (const char *p = s; *p; p++)
    lines += *p == '\n';
  assert_true(lines <= N + 1);
  assert_int_equal(lines, N + 1);
  int64_t errors;
  assert_int_equal(suppressed_count(s, "store.items_lost", &errors), TOTAL - N);
  assert_int_equal(errors, TOTAL - N); /* they were errors, counted */
  /* the summary is an error itself, valid JSON, dated at the window */
  assert_non_null(strstr(s, "{\"ts\":\"2025-01-02T03:04:05.998"));
  assert_non_null(strstr(s, "\"level\":\"error\",\"event\":\"log.suppressed\","
                            "\"component\":\"log\",\"name\":\"store.items_lost\","
                            "\"count\":999990,"
                            "\"errors\":999990,"
                            "\"since\":\"2025-01-02T03:04:05Z\"}\n"));
  const char *last = s + strlen(s) - 1;
  while (last > s && last[-1] != '\n')
    last--;
  assert_true(one_json_line(last));
  free(s);
  fclose(f);
}

/* Windows roll over on the log's clock: the summary of the last window
 * comes before the first line of the next; names are limited apart;
 * levels are counted; the default limit is 1000 a second. */
static void test_log_windows(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, 0);
  dto_log lg;
  log_init(&lg, f, &clk, LOG_INFO);
  assert_int_equal(log_set_limit(&lg, 2, 0), DTO_EINVAL);
  assert_int_equal(log_set_limit(&lg, 2, DTO_NS_PER_SEC), 0);
  log_line l;
#define LINE(lvl, ev, want)                                                    \
  do {                                                                         \
    bool got_ = log_begin(&l, &lg, lvl, ev);                                   \
    if (got_)                                                                  \
      log_end(&l);                                                             \
    assert_int_equal(got_, want);                                              \
  } while (0)
  LINE(LOG_INFO, "a", true);
  LINE(LOG_INFO, "a", true);
  LINE(LOG_INFO, "a", false);
  LINE(LOG_WARN, "a", false);
  LINE(LOG_INFO, "b", true);   /* another name has its own count */
  LINE(LOG_DEBUG, "a", false); /* below the level: not counted */
  sim_clock_set(&sim, DTO_NS_PER_SEC - 1);
  LINE(LOG_INFO, "a", false);
  /* the next window: first the summary (written at the first line of any
   * name), then the line */
  sim_clock_set(&sim, DTO_NS_PER_SEC);
  LINE(LOG_INFO, "b", true);
  LINE(LOG_INFO, "a", true);
  char *s = slurp(f);
  assert_string_equal(
      s,
      "{\"ts\":\"1970-01-01T00:00:00Z\",\"level\":\"info\",\"event\":\"a\"}\n"
      "{\"ts\":\"1970-01-01T00:00:00Z\",\"level\":\"info\",\"event\":\"a\"}\n"
      "{\"ts\":\"1970-01-01T00:00:00Z\",\"level\":\"info\",\"event\":\"b\"}\n"
      "{\"ts\":\"1970-01-01T00:00:01Z\",\"level\":\"warn\","
      "\"event\":\"log.suppressed\",\"component\":\"log\",\"name\":\"a\","
      "\"count\":3,"
      "\"errors\":0,\"since\":\"1970-01-01T00:00:00Z\"}\n"
      "{\"ts\":\"1970-01-01T00:00:01Z\",\"level\":\"info\",\"event\":\"b\"}\n"
      "{\"ts\":\"1970-01-01T00:00:01Z\",\"level\":\"info\",\"event\":\"a\"}\n");
  free(s);
  /* a flush writes what is pending even inside the window, and nothing
   * twice */
  LINE(LOG_INFO, "a", true);
  LINE(LOG_ERROR, "a", false);
  log_flush(&lg);
  log_flush(&lg);
  LINE(LOG_INFO, "a", false); /* still the same window */
  sim_clock_set(&sim, 5 * DTO_NS_PER_SEC);
  log_close(&lg);
  s = slurp(f);
  int64_t errors;
  assert_int_equal(suppressed_count(s, "a", &errors), 3 + 1 + 1);
  assert_int_equal(errors, 1);
  assert_int_equal(count_lines(s, "log.suppressed"), 3);
  free(s);

  /* the default: 1000 lines per name per second */
  assert_int_equal(ftruncate(fileno(f), 0), 0);
  rewind(f);
  log_init(&lg, f, &clk, LOG_INFO);
  int n = 0;
  for (int i = 0; i < 5000; i++)
    if (log_begin(&l, &lg, LOG_INFO, "order.sent")) {
      log_end(&l);
      n++;
    }
  assert_int_equal(n, LOG_LIMIT_LINES_DEFAULT);
  /* 0 lines: no limit */
  assert_int_equal(log_set_limit(&lg, 0, DTO_NS_PER_SEC), 0);
  for (int i = 0; i < 5000; i++)
    LINE(LOG_INFO, "order.sent", true);
  log_close(&lg);
  s = slurp(f);
  assert_int_equal(suppressed_count(s, "order.sent", NULL), 4000);
  assert_int_equal(count_lines(s, "\"event\":\"order.sent\""), 6000);
  free(s);
  fclose(f);
#undef LINE
}

/* More names than the limiter holds: nothing is dropped without being
 * counted in a summary. */
static void test_log_many_names(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, 0);
  dto_log lg;
  log_init(&lg, f, &clk, LOG_INFO);
  assert_int_equal(log_set_limit(&lg, 3, DTO_NS_PER_SEC), 0);
  enum { NAMES = 300, EACH = 7 };
  int written = 0;
  char ev[32];
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < NAMES; i++)
      for (int k = 0; k < EACH; k++) {
        sim_clock_set(&sim, (dto_time)((round * NAMES + i) * EACH + k) * 1000);
        snprintf(ev, sizeof ev, "event.%d", i);
        log_line l;
        if (log_begin(&l, &lg, LOG_INFO, ev)) {
          log_end(&l);
          written++;
        }
      }
  log_close(&lg);
  char *s = slurp(f);
  int64_t dropped = 0;
  for (int i = 0; i < NAMES; i++) {
    snprintf(ev, sizeof ev, "event.%d", i);
    dropped += suppressed_count(s, ev, NULL);
  }
  assert_int_equal(written + dropped, 2 * NAMES * EACH);
  assert_int_equal((uint64_t)dropped, log_suppressed(&lg));
  /* each name wrote its 3 and had 4 dropped, in each round (a name's
   * count lives until the table starts afresh, which is never in the
   * middle of one name's run here) */
  assert_int_equal(written, 2 * NAMES * 3);
  free(s);
  fclose(f);
}

static void test_log_oversized(void **state) {
  (void)state;
  /* A field too big for one line is left out; the line stays valid JSON,
   * keeps the other fields and says it was truncated. */
  FILE *f = tmpfile();
  assert_non_null(f);
  sim_clock sim;
  dto_clock clk;
  clock_sim_init(&clk, &sim, 0);
  dto_log lg;
  log_init(&lg, f, &clk, LOG_DEBUG);
  char *big = xmalloc(LOG_LINE_MAX + 1);
  memset(big, 'x', LOG_LINE_MAX);
  big[LOG_LINE_MAX] = '\0';
  log_line l;
  assert_true(log_begin(&l, &lg, LOG_INFO, "big"));
  log_str(&l, "a", "1");
  log_str(&l, "huge", big);
  log_int(&l, "b", 2);
  log_end(&l);
  char *s = slurp(f);
  assert_string_equal(s, "{\"ts\":\"1970-01-01T00:00:00Z\",\"level\":\"info\","
                         "\"event\":\"big\",\"a\":\"1\",\"b\":2,"
                         "\"truncated\":true}\n");
  assert_true(one_json_line(s));
  free(s);

  /* Filling right up to the limit with control characters (6 bytes each
   * escaped) and then more fields: never past LOG_LINE_MAX, always valid. */
  for (size_t fill = LOG_LINE_MAX / 6 - 40; fill < LOG_LINE_MAX / 6 + 2;
       fill++) {
    rewind(f);
    assert_int_equal(ftruncate(fileno(f), 0), 0);
    memset(big, '\x01', fill);
    big[fill] = '\0';
    assert_true(log_begin(&l, &lg, LOG_WARN, "fill"));
    log_str(&l, "s", big);
    log_fx(&l, "f", FX_MIN);
    log_int(&l, "i", INT64_MAX);
    log_time(&l, "t", INT64_MIN);
    log_end(&l);
    s = slurp(f);
    assert_true(strlen(s) <= LOG_LINE_MAX);
    assert_true(one_json_line(s));
    free(s);
  }
  /* An oversized event name too. */
  rewind(f);
  assert_int_equal(ftruncate(fileno(f), 0), 0);
  memset(big, 'e', LOG_LINE_MAX);
  big[LOG_LINE_MAX] = '\0';
  assert_true(log_begin(&l, &lg, LOG_WARN, big));
  log_end(&l);
  s = slurp(f);
  assert_string_equal(s, "{\"ts\":\"1970-01-01T00:00:00Z\",\"level\":\"warn\","
                         "\"event\":\"\",\"truncated\":true}\n");
  free(s);
  free(big);
  fclose(f);
}

/* ---- errors ------------------------------------------------------------- */

static void test_errors(void **state) {
  (void)state;
  static const struct {
    int code;
    const char *name, *msg;
  } map[] = {
#define X(name, code, msg) {code, "DTO_E" #name, msg},
      DTO_ERRNO_MAP(X)
#undef X
  };
  assert_int_equal(DTO_ARRAY_LEN(map), 19);
  for (size_t i = 0; i < DTO_ARRAY_LEN(map); i++) {
    assert_int_equal(map[i].code, -(int)(i + 1)); /* dense, in order */
    assert_true(map[i].code > DTO_E__LAST);
    assert_string_equal(dto_strerror(map[i].code), map[i].msg);
    assert_string_equal(dto_errname(map[i].code), map[i].name);
    assert_true(strlen(map[i].msg) > 0);
  }
  assert_string_equal(dto_errname(DTO_EPARSE), "DTO_EPARSE");
  assert_string_equal(dto_strerror(DTO_EPARSE), "malformed input");
  assert_string_equal(dto_strerror(DTO_OK), "success");
  assert_string_equal(dto_errname(DTO_OK), "DTO_OK");
  static const int unknown[] = {1, 42, DTO_E__LAST, -100, INT_MIN, INT_MAX};
  for (size_t i = 0; i < DTO_ARRAY_LEN(unknown); i++) {
    assert_string_equal(dto_strerror(unknown[i]), "unknown error");
    assert_string_equal(dto_errname(unknown[i]), "DTO_EUNKNOWN");
  }
}

static void test_from_errno(void **state) {
  (void)state;
  assert_int_equal(dto_from_errno(0), DTO_OK);
  assert_int_equal(dto_from_errno(ENOMEM), DTO_ENOMEM);
  assert_int_equal(dto_from_errno(EINVAL), DTO_EINVAL);
  assert_int_equal(dto_from_errno(ERANGE), DTO_ERANGE);
  assert_int_equal(dto_from_errno(ENOENT), DTO_ENOENT);
  assert_int_equal(dto_from_errno(EEXIST), DTO_EEXIST);
  assert_int_equal(dto_from_errno(ENOSPC), DTO_ENOSPC);
  assert_int_equal(dto_from_errno(EDQUOT), DTO_ENOSPC);
  assert_int_equal(dto_from_errno(EAGAIN), DTO_EAGAIN);
  assert_int_equal(dto_from_errno(EWOULDBLOCK), DTO_EAGAIN);
  assert_int_equal(dto_from_errno(EINTR), DTO_EINTERRUPTED);
  assert_int_equal(dto_from_errno(EFBIG), DTO_ETOOBIG);
  assert_int_equal(dto_from_errno(EIO), DTO_EIO);
  assert_int_equal(dto_from_errno(EPIPE), DTO_EIO);
  assert_int_equal(dto_from_errno(-1), DTO_EIO);
  assert_int_equal(dto_from_errno(100000), DTO_EIO);
}

/* ---- clocks ------------------------------------------------------------- */

static void test_sim_clock(void **state) {
  (void)state;
  sim_clock sim;
  dto_clock c;
  clock_sim_init(&c, &sim, 1000);
  assert_int_equal(clock_now(&c), 1000);
  sim_clock_set(&sim, 2000);
  assert_int_equal(clock_now(&c), 2000);
  sim_clock_set(&sim, 1999); /* never backward */
  assert_int_equal(clock_now(&c), 2000);
  sim_clock_set(&sim, INT64_MIN);
  assert_int_equal(clock_now(&c), 2000);
  sim_clock_set(&sim, 2000);
  assert_int_equal(clock_now(&c), 2000);
  sim_clock_set(&sim, INT64_MAX);
  assert_int_equal(clock_now(&c), INT64_MAX);
  /* Starting before the epoch is allowed. */
  clock_sim_init(&c, &sim, -5);
  assert_int_equal(clock_now(&c), -5);
  /* A walk of pseudo-random sets is non-decreasing and ends at the maximum. */
  clock_sim_init(&c, &sim, 0);
  uint64_t x = 88172645463325252ULL;
  dto_time prev = 0, hi = 0;
  for (int i = 0; i < 1000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    dto_time t = (dto_time)(x % 1000000) - 500000;
    sim_clock_set(&sim, t);
    if (t > hi)
      hi = t;
    assert_true(clock_now(&c) >= prev);
    prev = clock_now(&c);
  }
  assert_int_equal(prev, hi);
}

static void test_real_clocks(void **state) {
  (void)state;
  dto_clock c;
  clock_real_init(&c);
  /* After 2020-01-01 and before 2100-01-01. */
  dto_time now = clock_now(&c);
  assert_true(now > 1577836800LL * DTO_NS_PER_SEC);
  assert_true(now < 4102444800LL * DTO_NS_PER_SEC);
  int64_t a = clock_mono_ns(), b = clock_mono_ns();
  assert_true(a > 0 && b >= a);
}

/* ---- alloc -------------------------------------------------------------- */

static void test_xgrow(void **state) {
  (void)state;
  size_t cap = 0;
  int *v = xgrow(NULL, &cap, 1, sizeof *v);
  assert_non_null(v);
  assert_int_equal(cap, 8);
  for (int i = 0; i < 8; i++)
    v[i] = i;
  int *same = xgrow(v, &cap, 8, sizeof *v); /* already big enough */
  assert_ptr_equal(same, v);
  assert_int_equal(cap, 8);
  v = xgrow(v, &cap, 9, sizeof *v);
  assert_int_equal(cap, 16);
  v = xgrow(v, &cap, 100, sizeof *v);
  assert_int_equal(cap, 128);
  for (int i = 0; i < 8; i++)
    assert_int_equal(v[i], i); /* content kept */
  v[127] = 127;                /* whole capacity usable (ASan checks) */
  v = xgrow(v, &cap, 0, sizeof *v);
  assert_int_equal(cap, 128);
  free(v);
  /* Doubling starts from the current capacity. */
  cap = 3;
  char *p = xmalloc(3);
  p = xgrow(p, &cap, 4, 1);
  assert_int_equal(cap, 6);
  p = xgrow(p, &cap, 13, 1);
  assert_int_equal(cap, 24);
  p[23] = 'x';
  free(p);
  /* A large element size. */
  cap = 0;
  char(*rows)[1000] = xgrow(NULL, &cap, 3, sizeof *rows);
  assert_int_equal(cap, 8);
  memset(rows, 0, cap * sizeof *rows);
  free(rows);
}

static void test_xalloc(void **state) {
  (void)state;
  void *z = xmalloc(0);
  assert_non_null(z);
  free(z);
  int *c = xcalloc(10, sizeof *c);
  for (int i = 0; i < 10; i++)
    assert_int_equal(c[i], 0);
  free(c);
  c = xcalloc(0, 0);
  assert_non_null(c);
  free(c);
  char *s = xstrdup("hello");
  assert_string_equal(s, "hello");
  free(s);
  s = xstrndup("hello", 3);
  assert_string_equal(s, "hel");
  free(s);
  s = xstrndup("hi", 10);
  assert_string_equal(s, "hi");
  free(s);
  int *r = xreallocarray(NULL, 4, sizeof *r);
  r[3] = 1;
  r = xrealloc(r, 0);
  assert_non_null(r);
  free(r);
}

/* Run fn in a child process and report whether it died of SIGABRT. */
static bool aborts(void (*fn)(void)) {
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    FILE *devnull = freopen("/dev/null", "w", stderr);
    (void)devnull;
    fn();
    _exit(0);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void grow_overflow(void) {
  size_t cap = 0;
  free(xgrow(NULL, &cap, SIZE_MAX / 8, 16));
}

static void reallocarray_overflow(void) {
  free(xreallocarray(NULL, SIZE_MAX / 2, 3));
}

static void bad_default(void) {
  static const param_spec spec[] = {
      {"n", PARAM_INT, "1000", 1, 10, NULL, "h"},
  };
  param_value v[1];
  param_defaults(spec, 1, v);
}

static void no_abort(void) {}

static void test_alloc_overflow(void **state) {
  (void)state;
  assert_false(aborts(no_abort));
  assert_true(aborts(grow_overflow));
  assert_true(aborts(reallocarray_overflow));
}

/* ---- param -------------------------------------------------------------- */

static const char *const order_types[] = {"market", "limit", "stop", NULL};

static const param_spec specs[] = {
    {"n", PARAM_INT, "20", 1, 500, NULL, "bars"},
    {"price", PARAM_FX, "0.5", 0.01, 1000, NULL, "a price"},
    {"k", PARAM_DOUBLE, "2", 0.5, 3, NULL, "a factor"},
    {"short", PARAM_BOOL, "false", 0, 0, NULL, "allow shorts"},
    {"type", PARAM_ENUM, "limit", 0, 0, order_types, "order type"},
    {"every", PARAM_DURATION, "5m", 1, 3600, NULL, "interval"},
    {"big", PARAM_INT, "0", -1e6, 1e6, NULL, "wide"},
    {"needed", PARAM_FX, NULL, -1, 1, NULL, "required"},
    {"also", PARAM_INT, NULL, 0, 1, NULL, "required too"},
};

enum { P_N, P_PRICE, P_K, P_SHORT, P_TYPE, P_EVERY, P_BIG, P_NEEDED, P_ALSO };

/* Parse text for spec i and check the code and the reason. */
static param_value expect_param(int i, const char *text, int want_rc,
                                const char *want_reason) {
  param_value v;
  char reason[128] = "unset";
  memset(&v, 0x5a, sizeof v);
  int rc = param_parse(&specs[i], text, &v, reason, sizeof reason);
  if (rc != want_rc)
    fail_msg("param %s = \"%s\": rc %s, want %s (%s)", specs[i].name,
             text ? text : "(null)", dto_errname(rc), dto_errname(want_rc),
             reason);
  if (rc) {
    assert_string_equal(reason, want_reason);
    assert_false(v.set);
  } else {
    assert_true(v.set);
    assert_string_equal(reason, "unset"); /* untouched on success */
  }
  return v;
}

#define OK(i, text) expect_param(i, text, 0, NULL)

static void test_param_int(void **state) {
  (void)state;
  const char *range = "must be between 1 and 500";
  assert_int_equal(OK(P_N, "1").u.i, 1);
  assert_int_equal(OK(P_N, "2").u.i, 2);
  assert_int_equal(OK(P_N, "499").u.i, 499);
  assert_int_equal(OK(P_N, "500").u.i, 500);
  assert_int_equal(OK(P_N, "+7").u.i, 7);
  assert_int_equal(OK(P_N, "007").u.i, 7);
  expect_param(P_N, "0", DTO_ERANGE, range);
  expect_param(P_N, "501", DTO_ERANGE, range);
  expect_param(P_N, "-1", DTO_ERANGE, range);
  expect_param(P_N, "99999999999999999999", DTO_ERANGE, range);
  expect_param(P_N, "-99999999999999999999", DTO_ERANGE, range);
  static const char *const bad[] = {"",    "abc", "1.5",  "5 ",  " 5",
                                    "\t5", "\n5", "0x10", "1e2", "5x",
                                    "--5", "-",   "+"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_param(P_N, bad[i], DTO_EPARSE, "expected an integer");
  expect_param(P_N, NULL, DTO_EPARSE, "missing value");
  assert_int_equal(OK(P_BIG, "-1000000").u.i, -1000000);
  assert_int_equal(OK(P_BIG, "1000000").u.i, 1000000);
  expect_param(P_BIG, "1000001", DTO_ERANGE,
               "must be between -1000000 and 1000000");
  expect_param(P_BIG, "-1000001", DTO_ERANGE,
               "must be between -1000000 and 1000000");
}

static void test_param_fx(void **state) {
  (void)state;
  const char *range = "must be between 0.01 and 1000";
  assert_int_equal(OK(P_PRICE, "0.01").u.f, 1000000);
  assert_int_equal(OK(P_PRICE, "0.01000001").u.f, 1000001);
  assert_int_equal(OK(P_PRICE, "999.99999999").u.f, 99999999999);
  assert_int_equal(OK(P_PRICE, "1000").u.f, 100000000000);
  assert_int_equal(OK(P_PRICE, "1000.000000001").u.f, 100000000000);
  expect_param(P_PRICE, "0.00999999", DTO_ERANGE, range);
  expect_param(P_PRICE, "1000.00000001", DTO_ERANGE, range);
  expect_param(P_PRICE, "0", DTO_ERANGE, range);
  expect_param(P_PRICE, "-5", DTO_ERANGE, range);
  expect_param(P_PRICE, "100000000000", DTO_ERANGE, range);
  static const char *const bad[] = {"", "abc", "1e3", " 1", "1,5", "$5"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_param(P_PRICE, bad[i], DTO_EPARSE, "expected a decimal number");
  assert_int_equal(OK(P_NEEDED, "-1").u.f, -100000000);
  assert_int_equal(OK(P_NEEDED, "0.5").u.f, 50000000);
  expect_param(P_NEEDED, "-1.00000001", DTO_ERANGE, "must be between -1 and 1");
}

static void test_param_double(void **state) {
  (void)state;
  const char *range = "must be between 0.5 and 3";
  assert_true(OK(P_K, "0.5").u.d == 0.5);
  assert_true(OK(P_K, "0.50000001").u.d == 0.50000001);
  assert_true(OK(P_K, "2.99999999").u.d == 2.99999999);
  assert_true(OK(P_K, "3").u.d == 3.0);
  assert_true(OK(P_K, "3e0").u.d == 3.0);
  expect_param(P_K, "0.49999999", DTO_ERANGE, range);
  expect_param(P_K, "3.00000001", DTO_ERANGE, range);
  expect_param(P_K, "-1", DTO_ERANGE, range);
  static const char *const bad[] = {"",      "abc", "nan", "inf",  "-inf",
                                    "1e999", " 1",  "1 ",  "1.5.", "\n1"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_param(P_K, bad[i], DTO_EPARSE, "expected a number");
}

static void test_param_bool_enum(void **state) {
  (void)state;
  assert_true(OK(P_SHORT, "true").u.b);
  assert_false(OK(P_SHORT, "false").u.b);
  static const char *const bad[] = {"",  "True", "TRUE", "1",
                                    "0", "yes",  "true "};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_param(P_SHORT, bad[i], DTO_EPARSE, "expected true or false");
  assert_int_equal(OK(P_TYPE, "market").u.e, 0);
  assert_int_equal(OK(P_TYPE, "limit").u.e, 1);
  assert_int_equal(OK(P_TYPE, "stop").u.e, 2);
  const char *want = "expected one of: market limit stop";
  expect_param(P_TYPE, "Limit", DTO_EPARSE, want);
  expect_param(P_TYPE, "", DTO_EPARSE, want);
  expect_param(P_TYPE, "stop_limit", DTO_EPARSE, want);
  /* A short reason buffer is cut, never overrun. */
  param_value v;
  char small[20];
  memset(small, 'x', sizeof small);
  assert_int_equal(param_parse(&specs[P_TYPE], "nope", &v, small, 12),
                   DTO_EPARSE);
  assert_string_equal(small, "expected on");
  assert_int_equal(small[12], 'x');
  memset(small, 'x', sizeof small);
  assert_int_equal(param_parse(&specs[P_TYPE], "nope", &v, small, 19),
                   DTO_EPARSE);
  assert_string_equal(small, "expected one of: m");
  assert_int_equal(small[19], 'x');
  /* No choices at all. */
  const param_spec none = {"e", PARAM_ENUM, NULL, 0, 0, NULL, "h"};
  char reason[64];
  assert_int_equal(param_parse(&none, "x", &v, reason, sizeof reason),
                   DTO_EPARSE);
  assert_string_equal(reason, "expected one of:");
  /* An unknown type. */
  const param_spec weird = {"w", PARAM_TYPE_COUNT, NULL, 0, 0, NULL, "h"};
  assert_int_equal(param_parse(&weird, "x", &v, reason, sizeof reason),
                   DTO_EINVAL);
  assert_string_equal(reason, "unknown parameter type");
}

static void test_param_duration(void **state) {
  (void)state;
  const char *range = "must be between 1s and 3600s";
  const char *form = "expected a duration such as 30s, 5m or 1h";
  assert_int_equal(OK(P_EVERY, "1s").u.dur, DTO_NS_PER_SEC);
  assert_int_equal(OK(P_EVERY, "1000ms").u.dur, DTO_NS_PER_SEC);
  assert_int_equal(OK(P_EVERY, "1001ms").u.dur, 1001000000);
  assert_int_equal(OK(P_EVERY, "59m").u.dur, 59 * DTO_NS_PER_MIN);
  assert_int_equal(OK(P_EVERY, "60m").u.dur, DTO_NS_PER_HOUR);
  assert_int_equal(OK(P_EVERY, "1h").u.dur, DTO_NS_PER_HOUR);
  assert_int_equal(OK(P_EVERY, "3600s").u.dur, DTO_NS_PER_HOUR);
  expect_param(P_EVERY, "999ms", DTO_ERANGE, range);
  expect_param(P_EVERY, "0s", DTO_ERANGE, range);
  expect_param(P_EVERY, "3601s", DTO_ERANGE, range);
  expect_param(P_EVERY, "3600000000001ns", DTO_ERANGE, range);
  expect_param(P_EVERY, "1d", DTO_ERANGE, range);
  expect_param(P_EVERY, "-5s", DTO_ERANGE, range);
  expect_param(P_EVERY, "9999999999999999999999d", DTO_ERANGE, range);
  static const char *const bad[] = {"", "5", "abc", "5 s", "1.5s", "5sec", "-"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_param(P_EVERY, bad[i], DTO_EPARSE, form);
}

static void test_param_defaults(void **state) {
  (void)state;
  param_value v[DTO_ARRAY_LEN(specs)];
  memset(v, 0x5a, sizeof v);
  assert_int_equal(param_defaults(specs, DTO_ARRAY_LEN(specs), v), P_NEEDED);
  assert_int_equal(v[P_N].u.i, 20);
  assert_int_equal(v[P_PRICE].u.f, 50000000);
  assert_true(v[P_K].u.d == 2.0);
  assert_false(v[P_SHORT].u.b);
  assert_int_equal(v[P_TYPE].u.e, 1);
  assert_int_equal(v[P_EVERY].u.dur, 5 * DTO_NS_PER_MIN);
  assert_int_equal(v[P_NEEDED].u.i, 0);
  assert_int_equal(v[P_ALSO].u.i, 0);
  for (size_t i = 0; i < DTO_ARRAY_LEN(specs); i++)
    assert_false(v[i].set);
  /* All have defaults: -1.  None at all: -1. */
  assert_int_equal(param_defaults(specs, P_NEEDED, v), -1);
  assert_int_equal(param_defaults(specs, 0, v), -1);
  assert_int_equal(param_defaults(specs + P_ALSO, 1, v), 0);
  /* A built-in default that is out of range is a bug: abort. */
  assert_true(aborts(bad_default));
}

static void test_param_find(void **state) {
  (void)state;
  size_t n = DTO_ARRAY_LEN(specs);
  assert_int_equal(param_find(specs, n, "n"), P_N);
  assert_int_equal(param_find(specs, n, "every"), P_EVERY);
  assert_int_equal(param_find(specs, n, "also"), P_ALSO);
  assert_int_equal(param_find(specs, n, "N"), -1);
  assert_int_equal(param_find(specs, n, ""), -1);
  assert_int_equal(param_find(specs, n, "every "), -1);
  assert_int_equal(param_find(specs, 0, "n"), -1);
  assert_int_equal(param_find(specs, P_ALSO, "also"), -1); /* past n */
  assert_string_equal(param_type_name(PARAM_INT), "integer");
  assert_string_equal(param_type_name(PARAM_FX), "decimal");
  assert_string_equal(param_type_name(PARAM_DOUBLE), "number");
  assert_string_equal(param_type_name(PARAM_BOOL), "boolean");
  assert_string_equal(param_type_name(PARAM_ENUM), "choice");
  assert_string_equal(param_type_name(PARAM_DURATION), "duration");
  assert_string_equal(param_type_name(PARAM_TYPE_COUNT), "?");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dbuf_basic),
      cmocka_unit_test(test_dbuf_cap),
      cmocka_unit_test(test_dbuf_printf),
      cmocka_unit_test(test_dbuf_json),
      cmocka_unit_test(test_dbuf_json_cap),
      cmocka_unit_test(test_dbuf_csv),
      cmocka_unit_test(test_log_line),
      cmocka_unit_test(test_log_levels),
      cmocka_unit_test(test_log_oversized),
      cmocka_unit_test(test_log_flood),
      cmocka_unit_test(test_log_windows),
      cmocka_unit_test(test_log_many_names),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_from_errno),
      cmocka_unit_test(test_sim_clock),
      cmocka_unit_test(test_real_clocks),
      cmocka_unit_test(test_xgrow),
      cmocka_unit_test(test_xalloc),
      cmocka_unit_test(test_alloc_overflow),
      cmocka_unit_test(test_param_int),
      cmocka_unit_test(test_param_fx),
      cmocka_unit_test(test_param_double),
      cmocka_unit_test(test_param_bool_enum),
      cmocka_unit_test(test_log_redaction),
      cmocka_unit_test(test_log_reopen),
      cmocka_unit_test(test_log_priority_prefix),
      cmocka_unit_test(test_param_duration),
      cmocka_unit_test(test_param_defaults),
      cmocka_unit_test(test_param_find),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
