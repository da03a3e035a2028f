/* test_reader.c - the CSV bar and trade readers: good files in every time
 * form, every kind of bad row with its exact message and line, skipping,
 * header variants, CRLF, several symbols, the time window, bar length
 * inference, and the fast number/time paths against core's parsers. */
#include "core/prelude.h"

#include "core/error.h"
#include "core/fx.h"
#include "core/timeutil.h"
#include "market/reader.h"

#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define HDR "time,open,high,low,close,volume\n"
#define T0 "2025-01-06T14:30:00Z"
#define T1 "2025-01-06T14:31:00Z"
#define T2 "2025-01-06T14:32:00Z"
#define HDR_SYM "time,open,high,low,close,volume,symbol\n"

static dto_time tp(const char *s) {
  dto_time t;
  assert_int_equal(time_parse_cstr(s, &t), 0);
  return t;
}

static fx fxs(const char *s) {
  fx v;
  assert_int_equal(fx_parse_cstr(s, &v), 0);
  return v;
}

static int rb(const char *csv, const read_opts *o, bar_vec *v,
              read_result *r) {
  return read_bars_csv_mem("t.csv", csv, strlen(csv), o, v, r);
}

static read_opts quiet_opts(void) {
  read_opts o;
  read_opts_init(&o);
  o.quiet = true;
  return o;
}

/* Expect reading csv as bars to fail with code and exactly msg. */
static void expect_bars_err(const char *csv, int code, const char *msg) {
  read_opts o = quiet_opts();
  bar_vec v = {0};
  read_result r;
  int rc = rb(csv, &o, &v, &r);
  if (rc != code || strcmp(r.err, msg))
    fail_msg("csv:\n%s\ngot %s '%s'\nwant %s '%s'", csv, dto_errname(rc),
             r.err, dto_errname(code), msg);
  assert_int_equal(v.n, 0);
  bar_vec_release(&v);
}

static void test_opts_init(void **state) {
  (void)state;
  read_opts o;
  memset(&o, 0xab, sizeof o);
  read_opts_init(&o);
  assert_null(o.instruments);
  assert_int_equal(o.sym, 0);
  assert_true(o.from == INT64_MIN);
  assert_true(o.to == INT64_MAX);
  assert_int_equal(o.dur, 0);
  assert_false(o.skip_bad_rows);
  assert_false(o.quiet);
  assert_false(o.binfile_v1);
}

static void test_good_iso(void **state) {
  (void)state;
  read_opts o = quiet_opts();
  o.sym = 7;
  bar_vec v = {0};
  read_result r;
  const char *csv = HDR T0 ",100.5,101,99.25,100.75,1200\n" T1
                           ",100.75,100.9,100.1,100.2,300.5\n" T2
                           ",100.2,100.2,100.2,100.2,0\n";
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(r.rows, 3);
  assert_int_equal(r.bad_rows, 0);
  assert_string_equal(r.err, "");
  assert_int_equal(v.n, 3);
  assert_true(v.v[0].ts == tp(T0));
  assert_true(v.v[2].ts == tp(T2));
  assert_true(v.v[0].open == fxs("100.5"));
  assert_true(v.v[0].high == fxs("101"));
  assert_true(v.v[0].low == fxs("99.25"));
  assert_true(v.v[0].close == fxs("100.75"));
  assert_true(v.v[0].volume == fxs("1200"));
  assert_true(v.v[1].volume == fxs("300.5"));
  assert_true(v.v[2].volume == 0);
  for (size_t i = 0; i < v.n; i++) {
    assert_int_equal(v.v[i].sym, 7);
    assert_true(v.v[i].dur == 60 * DTO_NS_PER_SEC);
  }
  bar_vec_release(&v);
}

static void test_time_forms(void **state) {
  (void)state;
  /* The same two instants in every accepted spelling. */
  static const char *const forms[][2] = {
      {"2025-01-06T14:30:00Z", "2025-01-06T14:35:00Z"},
      {"2025-01-06 14:30:00", "2025-01-06 14:35:00"},
      {"2025-01-06T09:30:00-05:00", "2025-01-06T09:35:00-05:00"},
      {"2025-01-06T14:30:00.000Z", "2025-01-06T14:35:00.000Z"},
      {"2025-01-06T14:30", "2025-01-06T14:35"},
      {"1736173800", "1736174100"},
      {"1736173800000", "1736174100000"},
      {"1736173800000000", "1736174100000000"},
      {"1736173800000000000", "1736174100000000000"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(forms); i++) {
    char csv[256];
    snprintf(csv, sizeof csv, HDR "%s,1,1,1,1,1\n%s,2,2,2,2,2\n", forms[i][0],
             forms[i][1]);
    read_opts o = quiet_opts();
    bar_vec v = {0};
    read_result r;
    assert_int_equal(rb(csv, &o, &v, &r), 0);
    assert_int_equal(v.n, 2);
    assert_true(v.v[0].ts == tp(T0));
    assert_true(v.v[1].ts == tp("2025-01-06T14:35:00Z"));
    assert_true(v.v[0].dur == 5 * DTO_NS_PER_MIN);
    bar_vec_release(&v);
  }
}

static void test_date_only(void **state) {
  (void)state;
  read_opts o = quiet_opts();
  bar_vec v = {0};
  read_result r;
  const char *csv = "date,open,high,low,close,volume\n"
                    "2025-01-03,10,11,9,10.5,100\n" /* Friday */
                    "2025-01-06,10.5,12,10,11,200\n" /* Monday */
                    "2025-01-07,11,11.5,10.5,11.2,300\n";
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(v.n, 3);
  assert_true(v.v[1].ts == days_from_civil(2025, 1, 6) * DTO_NS_PER_DAY);
  /* The smallest gap (Mon-Tue), not the first (Fri-Mon). */
  for (size_t i = 0; i < 3; i++)
    assert_true(v.v[i].dur == DTO_NS_PER_DAY);
  bar_vec_release(&v);
}

static void test_dur(void **state) {
  (void)state;
  read_opts o = quiet_opts();
  bar_vec v = {0};
  read_result r;
  /* A single bar: 60 s. */
  assert_int_equal(rb(HDR T0 ",1,1,1,1,1\n", &o, &v, &r), 0);
  assert_true(v.v[0].dur == 60 * DTO_NS_PER_SEC);
  bar_vec_release(&v);
  /* Given: used as is. */
  o.dur = 5 * DTO_NS_PER_MIN;
  assert_int_equal(rb(HDR T0 ",1,1,1,1,1\n" T1 ",1,1,1,1,1\n", &o, &v, &r), 0);
  assert_true(v.v[0].dur == 5 * DTO_NS_PER_MIN);
  assert_true(v.v[1].dur == 5 * DTO_NS_PER_MIN);
  bar_vec_release(&v);
  /* Gaps in the data: the smallest one wins. */
  o.dur = 0;
  assert_int_equal(rb(HDR "2025-01-06T14:30:00Z,1,1,1,1,1\n"
                          "2025-01-06T14:40:00Z,1,1,1,1,1\n"
                          "2025-01-06T14:45:00Z,1,1,1,1,1\n"
                          "2025-01-06T15:00:00Z,1,1,1,1,1\n",
                      &o, &v, &r),
                   0);
  assert_true(v.v[0].dur == 5 * DTO_NS_PER_MIN);
  bar_vec_release(&v);
}

static void test_header_variants(void **state) {
  (void)state;
  static const char *const headers[] = {
      "Time,Open,High,Low,Close,Volume\n",
      "TIMESTAMP,OPEN,HIGH,LOW,CLOSE,VOLUME\n",
      "date,open,high,low,close,volume\n",
      "\xEF\xBB\xBFtime,open,high,low,close,volume\n",
      " time , open ,high,low,close, volume \n",
      "\"time\",\"open\",\"high\",\"low\",\"close\",\"volume\"\n",
      "volume,close,low,high,open,time\n",
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(headers); i++) {
    char csv[256];
    bool rev = headers[i][0] == 'v';
    snprintf(csv, sizeof csv, "%s%s\n", headers[i],
             rev ? "500,4,1,5,2," T0 : T0 ",2,5,1,4,500");
    read_opts o = quiet_opts();
    bar_vec v = {0};
    read_result r;
    int rc = rb(csv, &o, &v, &r);
    if (rc)
      fail_msg("header %zu: %s", i, r.err);
    assert_int_equal(v.n, 1);
    assert_true(v.v[0].open == fxs("2"));
    assert_true(v.v[0].high == fxs("5"));
    assert_true(v.v[0].low == fxs("1"));
    assert_true(v.v[0].close == fxs("4"));
    assert_true(v.v[0].volume == fxs("500"));
    assert_true(v.v[0].ts == tp(T0));
    bar_vec_release(&v);
  }
}

static void test_header_errors(void **state) {
  (void)state;
  expect_bars_err("time,open,high,low,close,volume,foo\n" T0 ",1,1,1,1,1,1\n",
                  DTO_EPARSE, "t.csv:1: header: unknown column 'foo'");
  expect_bars_err("time,open,high,low,close\n" T0 ",1,1,1,1\n", DTO_EPARSE,
                  "t.csv:1: header: missing column 'volume'");
  expect_bars_err("time,open,high,low,close,volume,Open\n", DTO_EPARSE,
                  "t.csv:1: header: duplicate column 'Open'");
  expect_bars_err("time,open,,low,close,volume\n", DTO_EPARSE,
                  "t.csv:1: header: column 3 has no name");
  expect_bars_err("time,price,size\n" T0 ",1,1\n", DTO_EPARSE,
                  "t.csv:1: header: unknown column 'price'");
  /* Data where a header should be. */
  expect_bars_err(T0 ",1,1,1,1,1\n", DTO_EPARSE,
                  "t.csv:1: header: unknown column '" T0 "'");
  /* A header line past the cap. */
  char *big = malloc(5000 + 1);
  memset(big, 'a', 5000);
  big[5000] = '\0';
  expect_bars_err(big, DTO_ETOOBIG, "t.csv:1: line longer than 4096 bytes");
  free(big);
}

static void test_no_rows(void **state) {
  (void)state;
  expect_bars_err("", DTO_EPARSE, "t.csv: no rows");
  expect_bars_err(HDR, DTO_EPARSE, "t.csv: no rows");
  expect_bars_err(HDR "\n\r\n\n", DTO_EPARSE, "t.csv: no rows");
  expect_bars_err("\n\n", DTO_EPARSE, "t.csv: no rows");
}

static void test_bad_rows(void **state) {
  (void)state;
  static const struct {
    const char *rows; /* after the header; the bad row is on the line given */
    int code;
    const char *msg;
  } cases[] = {
      {T0 ",1,abc,1,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'high': not a number: 'abc'"},
      {T0 ",1,1,1,1,1\n" T1 ",1,1,1e3,1,1\n", DTO_EPARSE,
       "t.csv:3: column 'low': not a number: '1e3'"},
      {T0 ",1,1,1,1,\n", DTO_EPARSE,
       "t.csv:2: column 'volume': not a number: ''"},
      {"2025-13-01T00:00:00Z,1,1,1,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'time': not a valid time: '2025-13-01T00:00:00Z'"},
      {"yesterday,1,1,1,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'time': not a valid time: 'yesterday'"},
      {",1,1,1,1,1\n", DTO_EPARSE, "t.csv:2: column 'time': not a valid time: ''"},
      {"9999-01-01T00:00:00Z,1,1,1,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'time': time out of range: '9999-01-01T00:00:00Z'"},
      {"9999-01-01,1,1,1,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'time': time out of range: '9999-01-01'"},
      {"9999999999,1,1,1,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'time': time out of range: '9999999999'"},
      {T0 ",-1,1,1,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'open': must be positive: '-1'"},
      {T0 ",1,1,0,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'low': must be positive: '0'"},
      {T0 ",1,1,1,0.000,1\n", DTO_EPARSE,
       "t.csv:2: column 'close': must be positive: '0.000'"},
      {T0 ",1,1,1,1,-5\n", DTO_EPARSE,
       "t.csv:2: column 'volume': must not be negative: '-5'"},
      {T0 ",1,1,1,1,99999999999999999999\n", DTO_EOVERFLOW,
       "t.csv:2: column 'volume': number too large: '99999999999999999999'"},
      {T0 ",10,9,11,10,1\n", DTO_EPARSE, "t.csv:2: high below low"},
      {T0 ",12,11,9,10,1\n", DTO_EPARSE,
       "t.csv:2: open outside high-low range"},
      {T0 ",10,11,9,8,1\n", DTO_EPARSE,
       "t.csv:2: close outside high-low range"},
      {T0 ",1,1,1,1,1\n" T0 ",1,1,1,1,1\n", DTO_EPARSE,
       "t.csv:3: column 'time': duplicate time '" T0 "'"},
      {T1 ",1,1,1,1,1\n" T0 ",1,1,1,1,1\n", DTO_EPARSE,
       "t.csv:3: column 'time': time goes backward: '" T0 "' is before " T1},
      {T0 ",1,1,1,1\n", DTO_EPARSE, "t.csv:2: expected 6 fields, found 5"},
      {T0 ",1,1,1,1,1,1\n", DTO_EPARSE, "t.csv:2: expected 6 fields, found 7"},
      {T0 ",1,1,1,1,1,\n", DTO_EPARSE, "t.csv:2: expected 6 fields, found 7"},
      {"\n" T0 ",1,1,1,1,1\n\r\n" T1 ",x,1,1,1,1\n", DTO_EPARSE,
       "t.csv:5: column 'open': not a number: 'x'"},
      {T0 ",\"1,1,1,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'open': unterminated quote"},
      {T0 ",\"1\"x,1,1,1,1\n", DTO_EPARSE,
       "t.csv:2: column 'open': text after closing quote"},
      {T0 ",1,1,1,1,"
          "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij\n",
       DTO_EPARSE,
       "t.csv:2: column 'volume': not a number: "
       "'abcdefghijabcdefghijabcdefghijabcdefghij...'"},
      {T0 ",1,1,1,1,1\x1b[2J\n", DTO_EPARSE,
       "t.csv:2: column 'volume': not a number: '1?[2J'"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++) {
    char csv[512];
    snprintf(csv, sizeof csv, HDR "%s", cases[i].rows);
    expect_bars_err(csv, cases[i].code, cases[i].msg);
  }
}

static void test_long_line(void **state) {
  (void)state;
  size_t n = 6000;
  char *csv = malloc(n + 200);
  int k = snprintf(csv, 200, HDR T0 ",1,1,1,1,1\n" T1 ",1,1,1,1,");
  memset(csv + k, '1', n);
  memcpy(csv + k + n, "\n" T2 ",1,1,1,1,1\n", sizeof("\n" T2 ",1,1,1,1,1\n"));
  expect_bars_err(csv, DTO_ETOOBIG, "t.csv:3: line longer than 4096 bytes");
  /* Skippable like any bad row. */
  read_opts o = quiet_opts();
  o.skip_bad_rows = true;
  bar_vec v = {0};
  read_result r;
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(r.rows, 2);
  assert_int_equal(r.bad_rows, 1);
  bar_vec_release(&v);
  free(csv);
}

static void test_skip_bad_rows(void **state) {
  (void)state;
  read_opts o = quiet_opts();
  o.skip_bad_rows = true;
  bar_vec v = {0};
  read_result r;
  const char *csv = HDR T0 ",1,1,1,1,1\n"
                        "oops,1,1,1,1,1\n" T1 ",1,2,1,1\n" /* short */
                        T0 ",1,1,1,1,1\n"                  /* duplicate */
                        T1 ",2,3,1,2,10\n" T2 ",2,3,1,2,x\n";
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(r.rows, 2);
  assert_int_equal(r.bad_rows, 4);
  assert_string_equal(r.err,
                      "t.csv:3: column 'time': not a valid time: 'oops'");
  assert_int_equal(v.n, 2);
  assert_true(v.v[1].ts == tp(T1));
  assert_true(v.v[1].volume == fxs("10"));
  /* The skipped duplicate did not disturb the order check. */
  assert_true(v.v[0].dur == 60 * DTO_NS_PER_SEC);
  bar_vec_release(&v);

  /* Every row bad: an error, not an empty success. */
  assert_int_equal(rb(HDR "a,1,1,1,1,1\nb,1,1,1,1,1\n", &o, &v, &r),
                   DTO_EPARSE);
  assert_string_equal(r.err, "t.csv: no valid rows (2 bad; first: t.csv:2: "
                             "column 'time': not a valid time: 'a')");
  assert_int_equal(v.n, 0);
  bar_vec_release(&v);
}

static void test_crlf(void **state) {
  (void)state;
  read_opts o = quiet_opts();
  bar_vec v = {0};
  read_result r;
  const char *csv = "time,open,high,low,close,volume\r\n" T0
                    ",1,2,1,2,5\r\n\r\n" T1 ",2,3,1,3,6\r\n" T2 ",3,3,3,3,7";
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(v.n, 3);
  assert_true(v.v[0].volume == fxs("5"));
  assert_true(v.v[1].volume == fxs("6"));
  assert_true(v.v[2].volume == fxs("7"));
  bar_vec_release(&v);
  /* Line numbers still count CRLF lines. */
  expect_bars_err("time,open,high,low,close,volume\r\n" T0
                  ",1,2,1,2,5\r\n" T1 ",2,3,1,3,bad\r\n",
                  DTO_EPARSE, "t.csv:3: column 'volume': not a number: 'bad'");
}

static void test_quotes_spaces(void **state) {
  (void)state;
  read_opts o = quiet_opts();
  bar_vec v = {0};
  read_result r;
  const char *csv = HDR "\"" T0 "\", 1.5 ,\"2\",1 , 1.5,\"100\"\n";
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(v.n, 1);
  assert_true(v.v[0].open == fxs("1.5"));
  assert_true(v.v[0].high == fxs("2"));
  assert_true(v.v[0].volume == fxs("100"));
  bar_vec_release(&v);
}

static void test_multi_symbol(void **state) {
  (void)state;
  instrument_table t;
  instruments_init(&t);
  instrument ins = {.tick = FX_ONE / 100, .lot = FX_ONE};
  static const char *const names[] = {"SPY", "AAPL", "MSFT"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(ins.symbol, sizeof ins.symbol, "%s", names[i]);
    assert_int_equal(instruments_add(&t, &ins, NULL), 0);
  }
  read_opts o = quiet_opts();
  o.instruments = &t;
  bar_vec v = {0};
  read_result r;
  /* Interleaved; per symbol one minute apart; across symbols 30 s. */
  const char *csv = "time,open,high,low,close,volume,symbol\n"
                    "2025-01-06T14:30:00Z,1,1,1,1,1,AAPL\n"
                    "2025-01-06T14:30:30Z,2,2,2,2,2,MSFT\n"
                    "2025-01-06T14:31:00Z,1,1,1,1,1,AAPL\n"
                    "2025-01-06T14:31:30Z,2,2,2,2,2,MSFT\n"
                    "2025-01-06T14:31:00Z,3,3,3,3,3,SPY\n";
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(v.n, 5);
  assert_int_equal(v.v[0].sym, 1);
  assert_int_equal(v.v[1].sym, 2);
  assert_int_equal(v.v[4].sym, 0);
  for (size_t i = 0; i < v.n; i++)
    assert_true(v.v[i].dur == 60 * DTO_NS_PER_SEC);
  bar_vec_release(&v);

  /* Order is per symbol: AAPL going backward is still an error. */
  const char *bad = "time,open,high,low,close,volume,symbol\n"
                    "2025-01-06T14:31:00Z,1,1,1,1,1,AAPL\n"
                    "2025-01-06T14:30:00Z,1,1,1,1,1,MSFT\n"
                    "2025-01-06T14:30:00Z,1,1,1,1,1,AAPL\n";
  assert_int_equal(rb(bad, &o, &v, &r), DTO_EPARSE);
  assert_string_equal(r.err, "t.csv:4: column 'time': time goes backward: "
                             "'2025-01-06T14:30:00Z' is before "
                             "2025-01-06T14:31:00Z");
  const char *unknown = "time,open,high,low,close,volume,symbol\n"
                        "2025-01-06T14:31:00Z,1,1,1,1,1,AAPL\n"
                        "2025-01-06T14:31:00Z,1,1,1,1,1,TSLA\n";
  assert_int_equal(rb(unknown, &o, &v, &r), DTO_EPARSE);
  assert_string_equal(r.err,
                      "t.csv:3: column 'symbol': unknown symbol: 'TSLA'");

  /* Without a table: one symbol is fine, two are an error. */
  o.instruments = NULL;
  o.sym = 9;
  const char *one = "symbol,time,open,high,low,close,volume\n"
                    "AAPL,2025-01-06T14:31:00Z,1,1,1,1,1\n"
                    "AAPL,2025-01-06T14:32:00Z,1,1,1,1,1\n";
  assert_int_equal(rb(one, &o, &v, &r), 0);
  assert_int_equal(v.n, 2);
  assert_int_equal(v.v[1].sym, 9);
  bar_vec_release(&v);
  expect_bars_err("time,open,high,low,close,volume,symbol\n"
                  "2025-01-06T14:31:00Z,1,1,1,1,1,AAPL\n"
                  "2025-01-06T14:31:00Z,1,1,1,1,1,MSFT\n",
                  DTO_EPARSE,
                  "t.csv:3: column 'symbol': 'MSFT' differs from 'AAPL' (a "
                  "file with several symbols needs an instrument table)");
  expect_bars_err("time,open,high,low,close,volume,symbol\n"
                  "2025-01-06T14:31:00Z,1,1,1,1,1,aapl\n",
                  DTO_EPARSE,
                  "t.csv:2: column 'symbol': not a valid symbol: 'aapl'");
  instruments_release(&t);
}

/* Many interleaved symbols (the lookup map grows several times). */
static void test_many_symbols(void **state) {
  (void)state;
  enum { NSYM = 300 };
  instrument_table t;
  instruments_init(&t);
  for (int i = 0; i < NSYM; i++) {
    instrument ins = {.tick = 1, .lot = 1};
    snprintf(ins.symbol, sizeof ins.symbol, "S%03d", i);
    assert_int_equal(instruments_add(&t, &ins, NULL), 0);
  }
  size_t cap = 64 + 2 * NSYM * 48;
  char *csv = malloc(cap);
  size_t k = (size_t)snprintf(csv, cap, "symbol,%s", HDR);
  for (int row = 0; row < 2; row++)
    for (int i = NSYM - 1; i >= 0; i--)
      k += (size_t)snprintf(csv + k, cap - k, "S%03d,%s,%d,%d,%d,%d,1\n", i,
                            row ? T1 : T0, i + 1, i + 1, i + 1, i + 1);
  read_opts o = quiet_opts();
  o.instruments = &t;
  bar_vec v = {0};
  read_result r;
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(v.n, 2 * NSYM);
  for (size_t i = 0; i < v.n; i++) {
    assert_int_equal(v.v[i].sym, NSYM - 1 - i % NSYM);
    assert_true(v.v[i].close == fx_from_int(v.v[i].sym + 1));
    assert_true(v.v[i].dur == 60 * DTO_NS_PER_SEC);
  }
  bar_vec_release(&v);
  free(csv);
  instruments_release(&t);
}

static void test_from_to(void **state) {
  (void)state;
  read_opts o = quiet_opts();
  o.from = tp(T1);
  o.to = tp(T2);
  bar_vec v = {0};
  read_result r;
  const char *csv = HDR T0 ",1,1,1,1,1\n" T1 ",2,2,2,2,2\n" T2 ",3,3,3,3,3\n";
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(r.rows, 1);
  assert_int_equal(r.bad_rows, 0);
  assert_int_equal(v.n, 1);
  assert_true(v.v[0].ts == tp(T1));
  assert_true(v.v[0].dur == 60 * DTO_NS_PER_SEC); /* single kept bar */
  bar_vec_release(&v);
  /* Nothing in the window: success with no rows. */
  o.from = tp("2030-01-01");
  o.to = INT64_MAX;
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_int_equal(r.rows, 0);
  assert_int_equal(v.n, 0);
  bar_vec_release(&v);
}

static void test_append_and_restore(void **state) {
  (void)state;
  read_opts o = quiet_opts();
  bar_vec v = {0};
  read_result r;
  assert_int_equal(rb(HDR T0 ",1,1,1,1,1\n", &o, &v, &r), 0);
  o.dur = 5 * DTO_NS_PER_MIN;
  assert_int_equal(rb(HDR T1 ",2,2,2,2,2\n", &o, &v, &r), 0);
  assert_int_equal(v.n, 2);
  assert_true(v.v[0].dur == 60 * DTO_NS_PER_SEC); /* untouched */
  assert_true(v.v[1].dur == 5 * DTO_NS_PER_MIN);
  /* A failed read leaves the vector as it was. */
  assert_int_equal(rb(HDR T2 ",3,3,3,3,3\n" T2 ",3,3,3,3,3\n", &o, &v, &r),
                   DTO_EPARSE);
  assert_int_equal(v.n, 2);
  assert_int_equal(r.rows, 0);
  bar_vec_release(&v);
}

static int rt(const char *csv, const read_opts *o, trade_vec *v,
              read_result *r) {
  return read_trades_csv_mem("tr.csv", csv, strlen(csv), o, v, r);
}

static void test_trades(void **state) {
  (void)state;
  read_opts o = quiet_opts();
  o.sym = 3;
  trade_vec v = {0};
  read_result r;
  const char *csv = "time,price,size\n" T0 ",100.25,10\n" T0 ",100.26,5\n" T1
                    ",100,0.5\n";
  assert_int_equal(rt(csv, &o, &v, &r), 0);
  assert_int_equal(r.rows, 3);
  assert_int_equal(v.n, 3);
  assert_true(v.v[1].price == fxs("100.26"));
  assert_true(v.v[2].size == fxs("0.5"));
  assert_true(v.v[1].ts == tp(T0));
  assert_int_equal(v.v[0].sym, 3);
  trade_vec_release(&v);

  static const struct {
    const char *csv;
    const char *msg;
  } bad[] = {
      {"time,price,size\n" T1 ",1,1\n" T0 ",1,1\n",
       "tr.csv:3: column 'time': time goes backward: '" T0 "' is before " T1},
      {"time,price,size\n" T0 ",1,0\n",
       "tr.csv:2: column 'size': must be positive: '0'"},
      {"time,price,size\n" T0 ",0,1\n",
       "tr.csv:2: column 'price': must be positive: '0'"},
      {"time,price,size\n" T0 ",1\n", "tr.csv:2: expected 3 fields, found 2"},
      {"time,price,size,open\n", "tr.csv:1: header: unknown column 'open'"},
      {"time,price\n", "tr.csv:1: header: missing column 'size'"},
      {"time,price,size\n", "tr.csv: no rows"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    int rc = rt(bad[i].csv, &o, &v, &r);
    assert_int_equal(rc, DTO_EPARSE);
    assert_string_equal(r.err, bad[i].msg);
    assert_int_equal(v.n, 0);
  }
  trade_vec_release(&v);

  /* Symbols and the window. */
  instrument_table t;
  instruments_init(&t);
  instrument ins = {.symbol = "BTC/USD", .tick = 1, .lot = 1};
  assert_int_equal(instruments_add(&t, &ins, NULL), 0);
  o.instruments = &t;
  o.from = tp(T1);
  const char *multi = "symbol,time,price,size\nBTC/USD," T0
                      ",1,1\nBTC/USD," T1 ",2,2\n";
  assert_int_equal(rt(multi, &o, &v, &r), 0);
  assert_int_equal(v.n, 1);
  assert_int_equal(v.v[0].sym, 0);
  assert_true(v.v[0].price == fxs("2"));
  trade_vec_release(&v);
  instruments_release(&t);
}

/* The fast paths must agree with core's parsers on every form. */
static void test_fast_paths_agree(void **state) {
  (void)state;
  static const char *const nums[] = {
      "1",          "1.5",         "0.00000001",  "12345678.12345678",
      "92233720",   "92233720.36854775", "1.123456785", "+5",
      ".5",         "5.",          "0001.10",     "0092233720.36854775",
      "0.1",        "42949672.99999999",
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(nums); i++) {
    char csv[256];
    snprintf(csv, sizeof csv, HDR T0 ",%s,%s,%s,%s,%s\n", nums[i], nums[i],
             nums[i], nums[i], nums[i]);
    read_opts o = quiet_opts();
    bar_vec v = {0};
    read_result r;
    fx want;
    assert_int_equal(fx_parse_cstr(nums[i], &want), 0);
    int rc = rb(csv, &o, &v, &r);
    if (rc)
      fail_msg("%s: %s", nums[i], r.err);
    assert_true(v.v[0].volume == want);
    assert_true(v.v[0].open == want);
    assert_true(v.v[0].high == want);
    assert_true(v.v[0].low == want);
    assert_true(v.v[0].close == want);
    bar_vec_release(&v);
  }
  static const char *const times[] = {
      "2024-02-29T23:59:59Z", "2024-02-29 23:59:60", "1970-01-01T00:00:00Z",
      "2261-12-31T23:59:59Z", "1678-01-01T00:00:00Z", "2025-06-30T12:00:00+02:00",
      "2025-06-30T12:00:00.123456789Z", "-86400",  "0",
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(times); i++) {
    char csv[256];
    snprintf(csv, sizeof csv, HDR "%s,1,1,1,1,1\n", times[i]);
    read_opts o = quiet_opts();
    bar_vec v = {0};
    read_result r;
    int rc = rb(csv, &o, &v, &r);
    if (rc)
      fail_msg("%s: %s", times[i], r.err);
    assert_true(v.v[0].ts == tp(times[i]));
    bar_vec_release(&v);
  }
  /* Above the bound: refused on the fast path as on the slow one (10
   * integer digits take the fast path, 11 and a sign the slow one). */
  static const char *const big[] = {
      "123456789.12345678", "9999999999", "9999999999.99999999",
      "92233720368.54775807", "4294967296.99999999", "+92233720.36854776",
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(big); i++) {
    char csv[256], msg[256];
    snprintf(csv, sizeof csv, HDR T0 ",1,1,1,1,%s\n", big[i]);
    snprintf(msg, sizeof msg,
             "t.csv:2: column 'volume': above the largest accepted value "
             "92233720.36854775: '%s'",
             big[i]);
    expect_bars_err(csv, DTO_ERANGE, msg);
  }
  /* Invalid ISO fields are refused on the fast path as on the slow one. */
  static const char *const bad_times[] = {
      "2025-01-06T24:00:00Z", "2025-01-06T14:60:00Z", "2025-02-30T14:00:00Z",
      "2025-01-06T14:30:61Z", "2025-01-06X14:30:00Z", "2025-01-06T14:30:0aZ",
      "2025-01-06T14:30:00Q",
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad_times); i++) {
    char csv[256], msg[256];
    snprintf(csv, sizeof csv, HDR "%s,1,1,1,1,1\n", bad_times[i]);
    snprintf(msg, sizeof msg, "t.csv:2: column 'time': not a valid time: '%s'",
             bad_times[i]);
    expect_bars_err(csv, DTO_EPARSE, msg);
  }
}

static void test_files(void **state) {
  (void)state;
  char dir[] = "/tmp/dto_test_reader_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/aapl.csv", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(HDR T0 ",1,2,1,2,10\n" T1 ",2,3,2,3,20\n", f);
  fclose(f);

  read_opts o = quiet_opts();
  bar_vec v = {0};
  read_result r;
  assert_int_equal(read_bars_csv(path, &o, &v, &r), 0);
  assert_int_equal(v.n, 2);
  assert_int_equal(read_bars_file(path, &o, &v, &r), 0);
  assert_int_equal(v.n, 4);
  assert_true(v.v[3].volume == fxs("20"));
  bar_vec_release(&v);

  /* Learn mode names a file without a symbol column. */
  instrument_table t;
  instruments_init(&t);
  assert_int_equal(read_bars_file_learn(path, &o, "AAPL", &t, &v, &r), 0);
  assert_int_equal(t.n, 1);
  assert_string_equal(t.v[0].symbol, "AAPL");
  assert_int_equal(v.v[0].sym, 0);
  assert_int_equal(read_bars_file_learn(path, &o, NULL, &t, &v, &r),
                   DTO_EINVAL);
  bar_vec_release(&v);
  instruments_release(&t);

  /* An error names the path. */
  f = fopen(path, "w");
  fputs(HDR T0 ",1,2,1,2,10\n" T1 ",2,3,2,3,twenty\n", f);
  fclose(f);
  assert_int_equal(read_bars_csv(path, &o, &v, &r), DTO_EPARSE);
  assert_int_equal(v.n, 0);
  bar_vec_release(&v); /* a failed read may leave capacity behind */
  char want[512];
  snprintf(want, sizeof want,
           "%s:3: column 'volume': not a number: 'twenty'", path);
  assert_string_equal(r.err, want);

  /* Empty file. */
  f = fopen(path, "w");
  fclose(f);
  assert_int_equal(read_bars_file(path, &o, &v, &r), DTO_EPARSE);
  snprintf(want, sizeof want, "%s: no rows", path);
  assert_string_equal(r.err, want);
  unlink(path);

  /* Missing file and a directory. */
  assert_int_equal(read_bars_csv(path, &o, &v, &r), DTO_ENOENT);
  snprintf(want, sizeof want, "%s: cannot open: ", path);
  assert_memory_equal(r.err, want, strlen(want));
  assert_int_equal(read_bars_file(dir, &o, &v, &r), DTO_EINVAL);
  snprintf(want, sizeof want, "%s: not a regular file (a folder)", dir);
  assert_string_equal(r.err, want);
  trade_vec tv = {0};
  assert_int_equal(read_trades_csv(path, &o, &tv, &r), DTO_ENOENT);

  /* A FIFO with no writer: refused at once, never waited on (a blocking
   * open would hang: SIGALRM ends the program then, failing it). */
  assert_int_equal(mkfifo(path, 0600), 0);
  alarm(10);
  assert_false(read_file_is_binary(path));
  assert_int_equal(read_bars_file(path, &o, &v, &r), DTO_EINVAL);
  snprintf(want, sizeof want, "%s: not a regular file (a FIFO)", path);
  assert_string_equal(r.err, want);
  assert_int_equal(read_bars_csv(path, &o, &v, &r), DTO_EINVAL);
  assert_string_equal(r.err, want);
  assert_int_equal(read_trades_csv(path, &o, &tv, &r), DTO_EINVAL);
  assert_string_equal(r.err, want);
  instruments_init(&t);
  assert_int_equal(read_bars_file_learn(path, &o, "AAPL", &t, &v, &r),
                   DTO_EINVAL);
  assert_string_equal(r.err, want);
  instruments_release(&t);
  assert_int_equal(v.n, 0);
  alarm(0);
  unlink(path);
  rmdir(dir);
}

/* Prices, sizes and volumes up to 92233720.36854775 (INT64_MAX / 1000 in
 * fx: 1000 of them still add up in an int64) are read; one unit of 10^-8
 * more is refused, naming the line and the column, in bars and trades. */
#define VMAX "92233720.36854775"
#define VOVER "92233720.36854776"

static void test_value_bounds(void **state) {
  (void)state;
  /* The oracle: 9223372036854775807 / 1000 by hand is 9223372036854775,
   * i.e. 92233720.36854775 at 8 decimals. */
  assert_true(fxs(VMAX) == 9223372036854775LL);
  read_opts o = quiet_opts();
  bar_vec v = {0};
  read_result r;
  const char *ok = HDR T0 "," VMAX "," VMAX "," VMAX "," VMAX "," VMAX "\n"
                   T1 ",\"" VMAX "\", " VMAX " ,1,1," VMAX "\n";
  assert_int_equal(rb(ok, &o, &v, &r), 0);
  assert_int_equal(v.n, 2);
  assert_true(v.v[0].open == 9223372036854775LL);
  assert_true(v.v[0].volume == 9223372036854775LL);
  assert_true(v.v[1].high == 9223372036854775LL);
  bar_vec_release(&v);

  static const char *const cols[] = {"open", "high", "low", "close",
                                     "volume"};
  for (int c = 0; c < 5; c++) {
    /* Every column but c at the bound (a consistent bar), c just over. */
    char csv[512], msg[256], row[5][24];
    for (int k = 0; k < 5; k++)
      snprintf(row[k], sizeof row[k], "%s", k == c ? VOVER : VMAX);
    snprintf(csv, sizeof csv, HDR T0 ",1,1,1,1,1\n" T1 ",%s,%s,%s,%s,%s\n",
             row[0], row[1], row[2], row[3], row[4]);
    snprintf(msg, sizeof msg,
             "t.csv:3: column '%s': above the largest accepted value "
             VMAX ": '" VOVER "'",
             cols[c]);
    expect_bars_err(csv, DTO_ERANGE, msg);
    /* The same value quoted and padded goes through the general path. */
    for (int k = 0; k < 5; k++)
      snprintf(row[k], sizeof row[k], k == c ? "\"" VOVER "\"" : VMAX);
    snprintf(csv, sizeof csv, HDR T0 ",%s,%s,%s,%s,%s\n", row[0], row[1],
             row[2], row[3], row[4]);
    snprintf(msg, sizeof msg,
             "t.csv:2: column '%s': above the largest accepted value "
             VMAX ": '" VOVER "'",
             cols[c]);
    expect_bars_err(csv, DTO_ERANGE, msg);
  }

  /* Trades. */
  trade_vec t = {0};
  const char *tok = "time,price,size\n" T0 "," VMAX "," VMAX "\n";
  assert_int_equal(read_trades_csv_mem("tr.csv", tok, strlen(tok), &o, &t, &r),
                   0);
  assert_int_equal(t.n, 1);
  assert_true(t.v[0].price == 9223372036854775LL);
  assert_true(t.v[0].size == 9223372036854775LL);
  trade_vec_release(&t);
  static const struct {
    const char *csv, *msg;
  } tbad[] = {
      {"time,price,size\n" T0 "," VOVER ",1\n",
       "tr.csv:2: column 'price': above the largest accepted value " VMAX
       ": '" VOVER "'"},
      {"time,price,size\n" T0 ",1," VOVER "\n",
       "tr.csv:2: column 'size': above the largest accepted value " VMAX
       ": '" VOVER "'"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(tbad); i++) {
    assert_int_equal(read_trades_csv_mem("tr.csv", tbad[i].csv,
                                         strlen(tbad[i].csv), &o, &t, &r),
                     DTO_ERANGE);
    assert_string_equal(r.err, tbad[i].msg);
    assert_int_equal(t.n, 0);
  }
  trade_vec_release(&t);
}

/* Rows never leave the reader without an instrument: a file without a
 * symbol column needs o->sym in the table (or, without a table, not
 * SYM_NONE). */
static void test_symbol_required(void **state) {
  (void)state;
  instrument_table t;
  instruments_init(&t);
  instrument ins = {.symbol = "AAPL", .tick = 1, .lot = 1};
  assert_int_equal(instruments_add(&t, &ins, NULL), 0);
  read_opts o = quiet_opts();
  o.instruments = &t;
  bar_vec v = {0};
  trade_vec tv = {0};
  read_result r;
  const char *csv = HDR T0 ",1,1,1,1,1\n";
  const char *tcsv = "time,price,size\n" T0 ",1,1\n";
  static const sym_id bad[] = {SYM_NONE, 1, 7};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    o.sym = bad[i];
    assert_int_equal(rb(csv, &o, &v, &r), DTO_EINVAL);
    assert_true(r.no_symbol);
    assert_string_equal(r.err, "t.csv: the file has no symbol column and no "
                               "instrument was given for it");
    assert_int_equal(v.n, 0);
    assert_int_equal(
        read_trades_csv_mem("t.csv", tcsv, strlen(tcsv), &o, &tv, &r),
        DTO_EINVAL);
    assert_true(r.no_symbol);
    assert_int_equal(tv.n, 0);
  }
  /* In the table: fine, and a symbol column makes o->sym irrelevant. */
  o.sym = 0;
  assert_int_equal(rb(csv, &o, &v, &r), 0);
  assert_false(r.no_symbol);
  assert_int_equal(v.v[0].sym, 0);
  bar_vec_release(&v);
  o.sym = SYM_NONE;
  assert_int_equal(rb(HDR_SYM T0 ",1,1,1,1,1,AAPL\n", &o, &v, &r), 0);
  assert_int_equal(v.v[0].sym, 0);
  bar_vec_release(&v);
  /* Without a table, SYM_NONE is refused with or without the column. */
  o.instruments = NULL;
  assert_int_equal(rb(csv, &o, &v, &r), DTO_EINVAL);
  assert_true(r.no_symbol);
  assert_int_equal(rb(HDR_SYM T0 ",1,1,1,1,1,AAPL\n", &o, &v, &r),
                   DTO_EINVAL);
  assert_true(r.no_symbol);
  assert_int_equal(v.n, 0);
  bar_vec_release(&v);
  trade_vec_release(&tv);
  instruments_release(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_opts_init),
      cmocka_unit_test(test_good_iso),
      cmocka_unit_test(test_time_forms),
      cmocka_unit_test(test_date_only),
      cmocka_unit_test(test_dur),
      cmocka_unit_test(test_header_variants),
      cmocka_unit_test(test_header_errors),
      cmocka_unit_test(test_no_rows),
      cmocka_unit_test(test_bad_rows),
      cmocka_unit_test(test_long_line),
      cmocka_unit_test(test_skip_bad_rows),
      cmocka_unit_test(test_crlf),
      cmocka_unit_test(test_quotes_spaces),
      cmocka_unit_test(test_multi_symbol),
      cmocka_unit_test(test_many_symbols),
      cmocka_unit_test(test_from_to),
      cmocka_unit_test(test_append_and_restore),
      cmocka_unit_test(test_trades),
      cmocka_unit_test(test_fast_paths_agree),
      cmocka_unit_test(test_files),
      cmocka_unit_test(test_value_bounds),
      cmocka_unit_test(test_symbol_required),
  };
  return cmocka_run_group_tests_name("reader", tests, NULL, NULL);
}
