/* test_alpaca_json.c - Alpaca's JSON into dto's types: exact decimals and
 * times (every refusal with its code), each object from a sample written
 * after Alpaca's documentation examples, every numeric field on edge values,
 * every trade_updates event and the report it implies, market data frames,
 * REST bar pages, malformed, truncated and mistyped input for each parser
 * (the error names the field), and the execution-id set.  Expected times are
 * epoch seconds computed by hand (Python's datetime), never with dto. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "broker/alpaca_json.h"
#include "core/error.h"

#define NS DTO_NS_PER_SEC

/* ---- samples (after the examples in Alpaca's API reference) -------------- */

static const char ORDER[] =
    "{\"id\": \"61e69015-8549-4bfd-b9c3-01e75843f47d\","
    " \"client_order_id\": \"acc-strat-20210316-1\","
    " \"created_at\": \"2021-03-16T18:38:01.942282Z\","
    " \"updated_at\": \"2021-03-16T18:38:01.942282Z\","
    " \"submitted_at\": \"2021-03-16T18:38:01.937734Z\","
    " \"filled_at\": null, \"expired_at\": null, \"canceled_at\": null,"
    " \"failed_at\": null, \"replaced_at\": null, \"replaced_by\": null,"
    " \"replaces\": null,"
    " \"asset_id\": \"b0b6dd9d-8b9b-48a9-ba46-b9d54906e415\","
    " \"symbol\": \"AAPL\", \"asset_class\": \"us_equity\","
    " \"notional\": null, \"qty\": \"10\", \"filled_qty\": \"0\","
    " \"filled_avg_price\": null, \"order_class\": \"\","
    " \"order_type\": \"limit\", \"type\": \"limit\", \"side\": \"buy\","
    " \"time_in_force\": \"day\", \"limit_price\": \"123.45\","
    " \"stop_price\": null, \"status\": \"accepted\","
    " \"extended_hours\": false, \"legs\": null, \"trail_percent\": null,"
    " \"trail_price\": null, \"hwm\": null}";

static const char BRACKET[] =
    "{\"id\": \"b4a5b2d4-1d2c-4a8f-9e5f-111111111111\","
    " \"client_order_id\": \"acc-strat-20210316-2\","
    " \"created_at\": \"2021-03-16T18:38:01Z\","
    " \"symbol\": \"SPY\", \"qty\": \"3\", \"filled_qty\": \"3\","
    " \"filled_avg_price\": \"389.12\", \"order_class\": \"bracket\","
    " \"type\": \"market\", \"side\": \"buy\", \"time_in_force\": \"gtc\","
    " \"status\": \"filled\", \"extended_hours\": false,"
    " \"filled_at\": \"2021-03-16T18:38:02.5+00:00\","
    " \"legs\": ["
    "  {\"id\": \"c1\", \"client_order_id\": \"tp-1\", \"type\": \"limit\","
    "   \"side\": \"sell\", \"status\": \"new\", \"limit_price\": \"400\","
    "   \"created_at\": \"2021-03-16T18:38:01Z\", \"filled_qty\": \"0\"},"
    "  {\"id\": \"c2\", \"client_order_id\": \"sl-1\", \"type\": \"stop\","
    "   \"side\": \"sell\", \"status\": \"held\", \"stop_price\": \"380.5\","
    "   \"created_at\": \"2021-03-16T18:38:01Z\", \"filled_qty\": \"0\"}]}";

static const char POSITION[] =
    "{\"asset_id\": \"904837e3-3b76-47ec-b432-046db621571b\","
    " \"symbol\": \"AAPL\", \"exchange\": \"NASDAQ\","
    " \"asset_class\": \"us_equity\", \"avg_entry_price\": \"100.0\","
    " \"qty\": \"5\", \"qty_available\": \"4\", \"side\": \"long\","
    " \"market_value\": \"600.0\", \"cost_basis\": \"500.0\","
    " \"unrealized_pl\": \"100.0\", \"unrealized_plpc\": \"0.20\","
    " \"unrealized_intraday_pl\": \"10.0\","
    " \"unrealized_intraday_plpc\": \"0.0084\", \"current_price\": \"120.0\","
    " \"lastday_price\": \"119.0\", \"change_today\": \"0.0084\"}";

static const char ACCOUNT[] =
    "{\"account_blocked\": false, \"account_number\": \"010203ABCD\","
    " \"buying_power\": \"262113.632\", \"cash\": \"-23140.2\","
    " \"created_at\": \"2019-06-12T22:47:07.99658Z\", \"currency\": \"USD\","
    " \"daytrade_count\": 3, \"daytrading_buying_power\": \"262113.632\","
    " \"equity\": \"103820.56\","
    " \"id\": \"e6fe16f3-64a4-4921-8928-cadf02f92f98\","
    " \"initial_margin\": \"63480.38\", \"last_equity\": \"103529.24\","
    " \"multiplier\": \"4\", \"pattern_day_trader\": true,"
    " \"portfolio_value\": \"103820.56\", \"shorting_enabled\": true,"
    " \"status\": \"ACTIVE\", \"trade_suspended_by_user\": false,"
    " \"trading_blocked\": false, \"transfers_blocked\": false}";

static const char CLOCK[] =
    "{\"timestamp\": \"2018-04-01T12:00:00.000-04:00\", \"is_open\": true,"
    " \"next_open\": \"2018-04-01T12:00:00.000-04:00\","
    " \"next_close\": \"2018-04-01T12:00:00.000-04:00\"}";

static const char ASSET[] =
    "{\"id\": \"904837e3-3b76-47ec-b432-046db621571b\", \"class\":"
    " \"us_equity\", \"exchange\": \"NASDAQ\", \"symbol\": \"AAPL\","
    " \"name\": \"Apple Inc. Common Stock\", \"status\": \"active\","
    " \"tradable\": true, \"marginable\": true, \"shortable\": true,"
    " \"easy_to_borrow\": true, \"fractionable\": true,"
    " \"maintenance_margin_requirement\": 30, \"min_order_size\": \"1\","
    " \"min_trade_increment\": \"0.0001\", \"price_increment\": \"0.01\","
    " \"attributes\": []}";

static const char ACTIVITY[] =
    "{\"id\": \"20220304095318500::092cd749-b783-49cb-a36e-4d8666be201f\","
    " \"account_id\": \"6e8cb861-e8b9-4278-8ed2-c8452535a165\","
    " \"activity_type\": \"FILL\","
    " \"transaction_time\": \"2022-03-04T14:53:18.500245Z\","
    " \"type\": \"partial_fill\", \"price\": \"2630.95\", \"qty\": \"9\","
    " \"side\": \"buy\", \"symbol\": \"GOOGL\", \"leaves_qty\": \"1\","
    " \"order_id\": \"b677e464-c2d0-4fdd-a4b1-8830b386aa50\","
    " \"cum_qty\": \"9\", \"order_status\": \"partially_filled\"}";

/* A trade update around ORDER: %s is the event, then its extra fields. */
static char *update_text(const char *event, const char *extra) {
  size_t cap = sizeof ORDER + 512;
  char *s = malloc(cap);
  assert_non_null(s);
  snprintf(s, cap,
           "{\"stream\": \"trade_updates\", \"data\": {\"event\": \"%s\","
           " \"order\": %s%s%s}}",
           event, ORDER, *extra ? ", " : "", extra);
  return s;
}

/* ---- helpers ------------------------------------------------------------- */

static void expect_dec(const char *s, fx want) {
  fx v = 777;
  int rc = alpaca_decimal(s, strlen(s), &v);
  if (rc || v != want)
    fail_msg("alpaca_decimal(\"%s\"): %s %lld, want %lld", s, dto_errname(rc),
             (long long)v, (long long)want);
}

static void expect_dec_err(const char *s, int want) {
  fx v = 777;
  int rc = alpaca_decimal(s, strlen(s), &v);
  if (rc != want)
    fail_msg("alpaca_decimal(\"%s\"): %s, want %s", s, dto_errname(rc),
             dto_errname(want));
  assert_int_equal(v, 777);
}

static void expect_time(const char *s, dto_time want) {
  dto_time t = 777;
  int rc = alpaca_time(s, strlen(s), &t);
  if (rc || t != want)
    fail_msg("alpaca_time(\"%s\"): %s %lld, want %lld", s, dto_errname(rc),
             (long long)t, (long long)want);
}

static void expect_time_err(const char *s, int want) {
  dto_time t = 777;
  int rc = alpaca_time(s, strlen(s), &t);
  if (rc != want)
    fail_msg("alpaca_time(\"%s\"): %s, want %s", s, dto_errname(rc),
             dto_errname(want));
  assert_int_equal(t, 777);
}

static void expect_err(int rc, int want, const char *err, const char *needle) {
  if (rc != want || !strstr(err, needle))
    fail_msg("got %s \"%s\", want %s with \"%s\"", dto_errname(rc), err,
             dto_errname(want), needle);
}

/* A sample with one member replaced (value given as JSON text; NULL
 * removes it), as new text (free it). */
static char *with_member(const char *sample, const char *name,
                         const char *value) {
  json_error_t je;
  json_t *o = json_loads(sample, 0, &je);
  assert_non_null(o);
  if (value) {
    json_t *v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
      fail_msg("bad test value %s", value);
    json_object_set_new(o, name, v);
  } else {
    json_object_del(o, name);
  }
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

/* ---- decimals ------------------------------------------------------------ */

static void test_decimal_accepts(void **state) {
  (void)state;
  expect_dec("0", 0);
  expect_dec("-0", 0);
  expect_dec("0.0", 0);
  expect_dec("100", 10000000000LL);
  expect_dec("123.45", 12345000000LL);
  expect_dec("-0.5", -50000000);
  expect_dec("0.00000001", 1);
  expect_dec("-0.00000001", -1);
  expect_dec("1.100000000", 110000000);
  expect_dec("1.10000000000000000000000000", 110000000);
  expect_dec("0.000000010", 1);
  expect_dec("92233720368.54775807", INT64_MAX);
  expect_dec("-92233720368.54775807", -INT64_MAX);
  expect_dec("92233720368.547758070000", INT64_MAX);
  expect_dec("92233720367", 9223372036700000000LL);
  expect_dec_err("99999999999", DTO_ERANGE);
}

static void test_decimal_refuses(void **state) {
  (void)state;
  /* well-formed, not exactly representable */
  expect_dec_err("0.123456789", DTO_ERANGE);
  expect_dec_err("1.000000001", DTO_ERANGE);
  expect_dec_err("0.000000005", DTO_ERANGE);
  expect_dec_err("92233720368.54775808", DTO_ERANGE);  /* one past max */
  expect_dec_err("-92233720368.54775808", DTO_ERANGE); /* INT64_MIN */
  expect_dec_err("100000000000", DTO_ERANGE);
  expect_dec_err("99999999999999999999999999", DTO_ERANGE);
  /* malformed */
  const char *bad[] = {"",      "+1",    " 1",    "1 ",  "1e5",  "1E5",
                       "1.5e2", "NaN",   "nan",   "inf", "-inf", "0x10",
                       ".5",    "5.",    "-",     "--1", "01",   "-01.5",
                       "1,5",   "1.2.3", "1_000", "\t1", "-.5",  "١"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_dec_err(bad[i], DTO_EPARSE);
  /* exactly n bytes: a longer buffer is not read past n */
  fx v = 0;
  assert_int_equal(alpaca_decimal("12.5xyz", 4, &v), 0);
  assert_int_equal(v, 1250000000);
  assert_int_equal(alpaca_decimal("1\0002", 3, &v), DTO_EPARSE);
  assert_int_equal(alpaca_decimal(NULL, 0, &v), DTO_EPARSE);
}

/* Every fx round-trips through fx_format and alpaca_decimal. */
static void test_decimal_round_trip(void **state) {
  (void)state;
  const fx edges[] = {0,         1,          -1,         FX_ONE,
                      -FX_ONE,   FX_MAX,     FX_MIN,     FX_MAX - 1,
                      123456789, -987654321, FX_ONE / 2, 10000000000LL};
  char buf[FX_STRLEN];
  for (size_t i = 0; i < DTO_ARRAY_LEN(edges); i++) {
    size_t n = fx_format(edges[i], buf, sizeof buf);
    fx v = 0;
    assert_int_equal(alpaca_decimal(buf, n, &v), 0);
    assert_int_equal(v, edges[i]);
  }
  uint64_t x = 88172645463325252ULL; /* xorshift */
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    fx want = (fx)(x >> 1);
    if (i & 1)
      want = -want;
    if (want == INT64_MIN)
      continue;
    size_t n = fx_format(want, buf, sizeof buf);
    fx v = 0;
    assert_int_equal(alpaca_decimal(buf, n, &v), 0);
    assert_int_equal(v, want);
  }
}

static void test_json_numbers(void **state) {
  (void)state;
  struct {
    const char *json;
    int rc;
    fx want;
  } cases[] = {
      {"126.55", 0, 12655000000LL},
      {"389.062639", 0, 38906263900LL},
      {"178.005", 0, 17800500000LL},
      {"0.1", 0, 10000000},
      {"0.00000001", 0, 1},
      {"1e-8", 0, 1},
      {"1.5e3", 0, 150000000000LL},
      {"-2.25", 0, -225000000},
      {"0.0", 0, 0},
      {"52983525", 0, 5298352500000000LL},
      {"92233720368", 0, 9223372036800000000LL},
      {"92233720369", DTO_ERANGE, 0},
      {"-92233720369", DTO_ERANGE, 0},
      {"1e-9", DTO_ERANGE, 0},
      {"0.123456789", DTO_ERANGE, 0},
      {"1e20", DTO_ERANGE, 0},
      {"1e300", DTO_ERANGE, 0},
      {"1e-300", DTO_ERANGE, 0},
      {"true", DTO_EPARSE, 0},
      {"null", DTO_EPARSE, 0},
      {"[1]", DTO_EPARSE, 0},
      {"\"1e5\"", DTO_EPARSE, 0},
      {"\"7.25\"", 0, 725000000},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++) {
    json_error_t je;
    json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &je);
    assert_non_null(v);
    fx got = 0;
    char err[128] = "";
    int rc = alpaca_json_fx(v, true, "p", &got, err, sizeof err);
    if (rc != cases[i].rc || (rc == 0 && got != cases[i].want))
      fail_msg("%s: %s %lld (%s), want %s %lld", cases[i].json, dto_errname(rc),
               (long long)got, err, dto_errname(cases[i].rc),
               (long long)cases[i].want);
    if (rc)
      assert_true(strncmp(err, "p: ", 3) == 0);
    /* a number where only a string is documented is refused */
    if (json_is_number(v)) {
      rc = alpaca_json_fx(v, false, "qty", &got, err, sizeof err);
      expect_err(rc, DTO_EPARSE, err, "qty: expected a decimal string");
    }
    json_decref(v);
  }
}

/* ---- times --------------------------------------------------------------- */

static void test_time(void **state) {
  (void)state;
  expect_time("1970-01-01T00:00:00Z", 0);
  expect_time("2021-03-16T18:38:01.942282Z", 1615919881 * NS + 942282000);
  expect_time("2021-03-16T18:38:01.942282123Z", 1615919881 * NS + 942282123);
  expect_time("2021-03-16T18:38:01.9422821230000Z",
              1615919881 * NS + 942282123);
  expect_time("2021-03-16t18:38:01.1z", 1615919881 * NS + 100000000);
  expect_time("2018-04-01T12:00:00.000-04:00", 1522598400 * NS);
  expect_time("2018-04-01T16:00:00+00:00", 1522598400 * NS);
  expect_time("2024-12-31T23:59:59+14:00", 1735639199 * NS);
  expect_time("2000-02-29T23:59:59Z", 951868799 * NS);
  expect_time("2262-04-11T23:47:16.854775807Z", INT64_MAX);
  expect_time("1677-09-21T00:12:43.145224192Z", INT64_MIN);
  expect_time_err("2262-04-11T23:47:16.854775808Z", DTO_ERANGE);
  expect_time_err("1677-09-21T00:12:43.145224191Z", DTO_ERANGE);
  expect_time_err("2021-03-16T18:38:01.1234567891Z", DTO_ERANGE);
  const char *bad[] = {"",
                       "2021-03-16",
                       "2021-03-16T18:38:01",   /* no zone */
                       "2021-03-16 18:38:01Z",  /* space */
                       "2021-03-16T18:38Z",     /* no seconds */
                       "2021-03-16T18:38:01.Z", /* empty fraction */
                       "2021-02-29T00:00:00Z",  /* not a leap year */
                       "2021-13-01T00:00:00Z",
                       "2021-00-01T00:00:00Z",
                       "2021-01-32T00:00:00Z",
                       "2021-01-01T24:00:00Z",
                       "2021-01-01T00:60:00Z",
                       "2016-12-31T23:59:60Z",     /* leap second */
                       "2021-01-01T00:00:00+0400", /* offset without ':' */
                       "2021-01-01T00:00:00+24:00",
                       "2021-01-01T00:00:00+04:60",
                       "2021-01-01T00:00:00ZZ",
                       "2021-01-01T00:00:00Z ",
                       " 2021-01-01T00:00:00Z",
                       "+021-01-01T00:00:00Z",
                       "1614009104",
                       "2021-1-01T00:00:00Z",
                       "2021-01-01T00:00:00.5+04:00:00",
                       "garbage"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_time_err(bad[i], DTO_EPARSE);
  dto_time t;
  assert_int_equal(alpaca_time(NULL, 0, &t), DTO_EPARSE);
  /* exactly n bytes */
  assert_int_equal(alpaca_time("1970-01-01T00:00:01Zjunk", 20, &t), 0);
  assert_int_equal(t, NS);
}

/* ---- enums --------------------------------------------------------------- */

static void test_enums(void **state) {
  (void)state;
  const char *statuses[] = {"new",
                            "partially_filled",
                            "filled",
                            "done_for_day",
                            "canceled",
                            "expired",
                            "replaced",
                            "pending_cancel",
                            "pending_replace",
                            "accepted",
                            "pending_new",
                            "accepted_for_bidding",
                            "stopped",
                            "rejected",
                            "suspended",
                            "calculated",
                            "held",
                            "pending_review"};
  assert_int_equal(DTO_ARRAY_LEN(statuses), ALPACA_OS_COUNT);
  for (int i = 0; i < ALPACA_OS_COUNT; i++) {
    enum alpaca_order_status s;
    assert_int_equal(alpaca_order_status_parse(statuses[i], &s), 0);
    assert_int_equal(s, i);
    assert_string_equal(alpaca_order_status_name(s), statuses[i]);
  }
  enum alpaca_order_status s = ALPACA_OS_NEW;
  assert_int_equal(alpaca_order_status_parse("NEW", &s), DTO_EUNSUPPORTED);
  assert_int_equal(alpaca_order_status_parse(NULL, &s), DTO_EUNSUPPORTED);
  assert_string_equal(alpaca_order_status_name(ALPACA_OS_COUNT), "?");

  char err[96];
  enum order_side side;
  assert_int_equal(alpaca_side_to_dto("buy", &side, err, sizeof err), 0);
  assert_int_equal(side, SIDE_BUY);
  assert_int_equal(alpaca_side_to_dto("sell", &side, err, sizeof err), 0);
  assert_int_equal(side, SIDE_SELL);
  assert_int_equal(alpaca_side_to_dto("sell_short", &side, err, sizeof err), 0);
  assert_int_equal(side, SIDE_SELL);
  expect_err(alpaca_side_to_dto("Buy", &side, err, sizeof err),
             DTO_EUNSUPPORTED, err, "side: unknown value \"Buy\"");
  expect_err(alpaca_side_to_dto(NULL, &side, err, sizeof err), DTO_EUNSUPPORTED,
             err, "side: unknown");

  const char *types[] = {"market", "limit", "stop", "stop_limit",
                         "trailing_stop"};
  const enum order_type tw[] = {ORD_MARKET, ORD_LIMIT, ORD_STOP, ORD_STOP_LIMIT,
                                ORD_TRAILING_STOP};
  for (size_t i = 0; i < DTO_ARRAY_LEN(types); i++) {
    enum order_type t;
    assert_int_equal(alpaca_type_to_dto(types[i], &t, err, sizeof err), 0);
    assert_int_equal(t, tw[i]);
  }
  enum order_type ty;
  expect_err(alpaca_type_to_dto("", &ty, err, sizeof err), DTO_EUNSUPPORTED,
             err, "type: unknown value");
  const char *tifs[] = {"day", "gtc", "ioc", "fok", "opg", "cls"};
  const enum tif tfw[] = {TIF_DAY, TIF_GTC, TIF_IOC, TIF_FOK, TIF_OPG, TIF_CLS};
  for (size_t i = 0; i < DTO_ARRAY_LEN(tifs); i++) {
    enum tif t;
    assert_int_equal(alpaca_tif_to_dto(tifs[i], &t, err, sizeof err), 0);
    assert_int_equal(t, tfw[i]);
  }
  enum tif tf;
  expect_err(alpaca_tif_to_dto("gtd", &tf, err, sizeof err), DTO_EUNSUPPORTED,
             err, "time_in_force: unknown value \"gtd\"");
}

/* ---- REST objects -------------------------------------------------------- */

static void test_order_sample(void **state) {
  (void)state;
  alpaca_order o;
  char err[256] = "";
  int rc = alpaca_order_parse(ORDER, strlen(ORDER), &o, err, sizeof err);
  if (rc)
    fail_msg("%s", err);
  assert_string_equal(o.id, "61e69015-8549-4bfd-b9c3-01e75843f47d");
  assert_string_equal(o.client_order_id, "acc-strat-20210316-1");
  assert_string_equal(o.symbol, "AAPL");
  assert_string_equal(o.side, "buy");
  assert_string_equal(o.type, "limit");
  assert_string_equal(o.time_in_force, "day");
  assert_string_equal(o.order_class, "");
  assert_int_equal(o.status, ALPACA_OS_ACCEPTED);
  assert_int_equal(o.qty, 10 * FX_ONE);
  assert_int_equal(o.filled_qty, 0);
  assert_int_equal(o.limit_price, 12345000000LL);
  assert_int_equal(o.have,
                   AO_QTY | AO_LIMIT_PRICE | AO_UPDATED_AT | AO_SUBMITTED_AT);
  assert_int_equal(o.created_at, 1615919881 * NS + 942282000);
  assert_int_equal(o.submitted_at, 1615919881 * NS + 937734000);
  assert_string_equal(o.replaced_by, "");
  assert_int_equal(o.nlegs, 0);
  assert_false(o.extended_hours);

  broker_open_order b;
  assert_int_equal(alpaca_order_to_open(&o, &b, err, sizeof err), 0);
  assert_string_equal(b.cloid, "acc-strat-20210316-1");
  assert_int_equal(b.sym, SYM_NONE);
  assert_int_equal(b.side, SIDE_BUY);
  assert_int_equal(b.type, ORD_LIMIT);
  assert_int_equal(b.tif, TIF_DAY);
  assert_int_equal(b.qty, 10 * FX_ONE);
  assert_int_equal(b.limit_price, 12345000000LL);

  snprintf(o.time_in_force, sizeof o.time_in_force, "%s", "gtd");
  expect_err(alpaca_order_to_open(&o, &b, err, sizeof err), DTO_EUNSUPPORTED,
             err, "time_in_force");

  rc = alpaca_order_parse(BRACKET, strlen(BRACKET), &o, err, sizeof err);
  if (rc)
    fail_msg("%s", err);
  assert_string_equal(o.order_class, "bracket");
  assert_int_equal(o.status, ALPACA_OS_FILLED);
  assert_int_equal(o.filled_avg_price, 38912000000LL);
  assert_int_equal(o.filled_at, 1615919882 * NS + 500000000);
  assert_int_equal(o.nlegs, 2);
  assert_string_equal(o.legs[0].id, "c1");
  assert_string_equal(o.legs[0].client_order_id, "tp-1");
  assert_int_equal(o.legs[0].limit_price, 400 * FX_ONE);
  assert_int_equal(o.legs[1].status, ALPACA_OS_HELD);
  assert_int_equal(o.legs[1].stop_price, 38050000000LL);
}

/* Each decimal field of a parser on edge values: the value back, exactly,
 * and refusals naming the field. */
typedef int (*parse_fn)(const char *, size_t, void *, char *, size_t);

static int p_order(const char *t, size_t n, void *o, char *e, size_t c) {
  return alpaca_order_parse(t, n, o, e, c);
}
static int p_position(const char *t, size_t n, void *o, char *e, size_t c) {
  return alpaca_position_parse(t, n, o, e, c);
}
static int p_account(const char *t, size_t n, void *o, char *e, size_t c) {
  return alpaca_account_parse(t, n, o, e, c);
}
static int p_asset(const char *t, size_t n, void *o, char *e, size_t c) {
  return alpaca_asset_parse(t, n, o, e, c);
}
static int p_activity(const char *t, size_t n, void *o, char *e, size_t c) {
  return alpaca_fill_activity_parse(t, n, o, e, c);
}
static int p_clock(const char *t, size_t n, void *o, char *e, size_t c) {
  return alpaca_clock_parse(t, n, o, e, c);
}

typedef struct field {
  const char *sample;
  parse_fn parse;
  size_t size;
  const char *name;
  size_t off;
  bool positive; /* the parser also insists on > 0 */
} field;

#define F(sample, fn, type, name, member, pos)                                 \
  { sample, fn, sizeof(type), name, offsetof(type, member), pos }

static const field fx_fields[] = {
    F(ORDER, p_order, alpaca_order, "qty", qty, false),
    F(ORDER, p_order, alpaca_order, "filled_qty", filled_qty, false),
    F(ORDER, p_order, alpaca_order, "filled_avg_price", filled_avg_price,
      false),
    F(ORDER, p_order, alpaca_order, "notional", notional, false),
    F(ORDER, p_order, alpaca_order, "limit_price", limit_price, false),
    F(ORDER, p_order, alpaca_order, "stop_price", stop_price, false),
    F(ORDER, p_order, alpaca_order, "trail_price", trail_price, false),
    F(ORDER, p_order, alpaca_order, "trail_percent", trail_percent, false),
    F(ORDER, p_order, alpaca_order, "hwm", hwm, false),
    F(POSITION, p_position, alpaca_position, "avg_entry_price", avg_entry_price,
      false),
    F(POSITION, p_position, alpaca_position, "market_value", market_value,
      false),
    F(POSITION, p_position, alpaca_position, "cost_basis", cost_basis, false),
    F(POSITION, p_position, alpaca_position, "unrealized_pl", unrealized_pl,
      false),
    F(POSITION, p_position, alpaca_position, "current_price", current_price,
      false),
    F(POSITION, p_position, alpaca_position, "qty_available", qty_available,
      false),
    F(ACCOUNT, p_account, alpaca_account, "cash", cash, false),
    F(ACCOUNT, p_account, alpaca_account, "buying_power", buying_power, false),
    F(ACCOUNT, p_account, alpaca_account, "equity", equity, false),
    F(ACCOUNT, p_account, alpaca_account, "last_equity", last_equity, false),
    F(ACCOUNT, p_account, alpaca_account, "daytrading_buying_power",
      daytrading_buying_power, false),
    F(ASSET, p_asset, alpaca_asset, "min_order_size", min_order_size, false),
    F(ASSET, p_asset, alpaca_asset, "min_trade_increment", min_trade_increment,
      false),
    F(ASSET, p_asset, alpaca_asset, "price_increment", price_increment, false),
    F(ACTIVITY, p_activity, alpaca_fill_activity, "qty", qty, true),
    F(ACTIVITY, p_activity, alpaca_fill_activity, "price", price, true),
    F(ACTIVITY, p_activity, alpaca_fill_activity, "cum_qty", cum_qty, false),
    F(ACTIVITY, p_activity, alpaca_fill_activity, "leaves_qty", leaves_qty,
      false),
};

static void test_numeric_fields(void **state) {
  (void)state;
  struct {
    const char *json;
    fx want;
  } ok[] = {
      {"\"0\"", 0},
      {"\"0.00000001\"", 1},
      {"\"92233720368.54775807\"", FX_MAX},
      {"\"-92233720368.54775807\"", FX_MIN},
      {"\"-12.5\"", -1250000000},
      {"\"7.500000000000\"", 750000000},
  };
  struct {
    const char *json;
    int rc;
    const char *why;
  } bad[] = {
      {"\"92233720368.54775808\"", DTO_ERANGE, "not exactly representable"},
      {"\"0.123456789\"", DTO_ERANGE, "not exactly representable"},
      {"\"1e5\"", DTO_EPARSE, "malformed"},
      {"\"+1\"", DTO_EPARSE, "malformed"},
      {"\" 1\"", DTO_EPARSE, "malformed"},
      {"\"\"", DTO_EPARSE, "malformed"},
      {"1.5", DTO_EPARSE, "expected a decimal string"},
      {"10", DTO_EPARSE, "expected a decimal string"},
      {"true", DTO_EPARSE, "expected a decimal string"},
      {"{}", DTO_EPARSE, "expected a decimal string"},
  };
  union {
    alpaca_order o;
    alpaca_position p;
    alpaca_account a;
    alpaca_asset s;
    alpaca_fill_activity f;
  } out;
  for (size_t i = 0; i < DTO_ARRAY_LEN(fx_fields); i++) {
    const field *f = &fx_fields[i];
    for (size_t k = 0; k < DTO_ARRAY_LEN(ok); k++) {
      char *text = with_member(f->sample, f->name, ok[k].json);
      char err[256] = "";
      int rc = f->parse(text, strlen(text), &out, err, sizeof err);
      bool refused_sign = f->positive && ok[k].want <= 0;
      if (refused_sign) {
        expect_err(rc, DTO_ERANGE, err, f->name);
      } else {
        if (rc)
          fail_msg("%s = %s: %s", f->name, ok[k].json, err);
        fx got;
        memcpy(&got, (char *)&out + f->off, sizeof got);
        if (got != ok[k].want)
          fail_msg("%s = %s: got %lld", f->name, ok[k].json, (long long)got);
      }
      free(text);
    }
    for (size_t k = 0; k < DTO_ARRAY_LEN(bad); k++) {
      char *text = with_member(f->sample, f->name, bad[k].json);
      char err[256] = "";
      int rc = f->parse(text, strlen(text), &out, err, sizeof err);
      char want[96];
      snprintf(want, sizeof want, "%s: %s", f->name, bad[k].why);
      expect_err(rc, bad[k].rc, err, want);
      free(text);
    }
  }
}

static void test_position_account_clock_asset_activity(void **state) {
  (void)state;
  char err[256] = "";
  alpaca_position p;
  assert_int_equal(
      alpaca_position_parse(POSITION, strlen(POSITION), &p, err, sizeof err),
      0);
  assert_string_equal(p.symbol, "AAPL");
  assert_int_equal(p.side, ALPACA_LONG);
  assert_int_equal(p.qty, 5 * FX_ONE);
  assert_int_equal(p.avg_entry_price, 100 * FX_ONE);
  assert_int_equal(p.market_value, 600 * FX_ONE);
  assert_int_equal(p.qty_available, 4 * FX_ONE);
  assert_int_equal(p.have, AP_MARKET_VALUE | AP_COST_BASIS | AP_UNREALIZED_PL |
                               AP_CURRENT_PRICE | AP_QTY_AVAILABLE);
  /* short: negative as Alpaca writes it, or negated when positive */
  char *t = with_member(POSITION, "side", "\"short\"");
  char *t2 = with_member(t, "qty", "\"-5\"");
  assert_int_equal(alpaca_position_parse(t, strlen(t), &p, err, sizeof err), 0);
  assert_int_equal(p.qty, -5 * FX_ONE);
  assert_int_equal(p.side, ALPACA_SHORT);
  assert_int_equal(alpaca_position_parse(t2, strlen(t2), &p, err, sizeof err),
                   0);
  assert_int_equal(p.qty, -5 * FX_ONE);
  free(t);
  free(t2);
  t = with_member(POSITION, "qty", "\"-5\"");
  expect_err(alpaca_position_parse(t, strlen(t), &p, err, sizeof err),
             DTO_EPARSE, err, "qty: negative for a long position");
  free(t);
  t = with_member(POSITION, "side", "\"flat\"");
  expect_err(alpaca_position_parse(t, strlen(t), &p, err, sizeof err),
             DTO_EUNSUPPORTED, err, "side: unknown value \"flat\"");
  free(t);

  alpaca_account a;
  assert_int_equal(
      alpaca_account_parse(ACCOUNT, strlen(ACCOUNT), &a, err, sizeof err), 0);
  assert_string_equal(a.status, "ACTIVE");
  assert_string_equal(a.currency, "USD");
  assert_int_equal(a.cash, -2314020000000LL);
  assert_int_equal(a.buying_power, 26211363200000LL);
  assert_int_equal(a.equity, 10382056000000LL);
  assert_true(a.pattern_day_trader);
  assert_false(a.trading_blocked);
  assert_false(a.account_blocked);
  assert_int_equal(a.daytrade_count, 3);
  t = with_member(ACCOUNT, "daytrade_count", "\"3\"");
  expect_err(alpaca_account_parse(t, strlen(t), &a, err, sizeof err),
             DTO_EPARSE, err, "daytrade_count: expected an integer");
  free(t);
  t = with_member(ACCOUNT, "trading_blocked", "\"false\"");
  expect_err(alpaca_account_parse(t, strlen(t), &a, err, sizeof err),
             DTO_EPARSE, err, "trading_blocked: expected true or false");
  free(t);

  alpaca_clock k;
  assert_int_equal(
      alpaca_clock_parse(CLOCK, strlen(CLOCK), &k, err, sizeof err), 0);
  assert_true(k.is_open);
  assert_int_equal(k.timestamp, 1522598400 * NS);
  assert_int_equal(k.next_close, 1522598400 * NS);
  t = with_member(CLOCK, "next_open", "\"2018-04-01 12:00:00\"");
  expect_err(alpaca_clock_parse(t, strlen(t), &k, err, sizeof err), DTO_EPARSE,
             err, "next_open: malformed time");
  free(t);

  alpaca_asset s;
  assert_int_equal(
      alpaca_asset_parse(ASSET, strlen(ASSET), &s, err, sizeof err), 0);
  assert_string_equal(s.symbol, "AAPL");
  assert_string_equal(s.asset_class, "us_equity");
  assert_true(s.active && s.tradable && s.shortable && s.fractionable);
  assert_int_equal(s.min_trade_increment, 10000);
  assert_int_equal(s.price_increment, 1000000);
  assert_int_equal(s.have, AA_MIN_ORDER_SIZE | AA_MIN_TRADE_INCREMENT |
                               AA_PRICE_INCREMENT);
  /* crypto's nine decimals do not fit fx */
  t = with_member(ASSET, "min_trade_increment", "\"0.000000001\"");
  expect_err(alpaca_asset_parse(t, strlen(t), &s, err, sizeof err), DTO_ERANGE,
             err, "min_trade_increment: not exactly");
  free(t);

  alpaca_fill_activity f;
  assert_int_equal(alpaca_fill_activity_parse(ACTIVITY, strlen(ACTIVITY), &f,
                                              err, sizeof err),
                   0);
  assert_string_equal(
      f.id, "20220304095318500::092cd749-b783-49cb-a36e-4d8666be201f");
  assert_string_equal(f.order_id, "b677e464-c2d0-4fdd-a4b1-8830b386aa50");
  assert_string_equal(f.symbol, "GOOGL");
  assert_int_equal(f.side, SIDE_BUY);
  assert_true(f.partial);
  assert_int_equal(f.transaction_time, 1646405598 * NS + 500245000);
  assert_int_equal(f.price, 263095000000LL);
  assert_int_equal(f.qty, 9 * FX_ONE);
  assert_int_equal(f.leaves_qty, FX_ONE);
  assert_int_equal(f.order_status, ALPACA_OS_PARTIALLY_FILLED);
  t = with_member(ACTIVITY, "activity_type", "\"DIV\"");
  expect_err(alpaca_fill_activity_parse(t, strlen(t), &f, err, sizeof err),
             DTO_EUNSUPPORTED, err, "activity_type");
  free(t);
  t = with_member(ACTIVITY, "cum_qty", "\"10.177047834\"");
  expect_err(alpaca_fill_activity_parse(t, strlen(t), &f, err, sizeof err),
             DTO_ERANGE, err, "cum_qty: not exactly representable");
  free(t);
  t = with_member(ACTIVITY, "type", "\"fills\"");
  expect_err(alpaca_fill_activity_parse(t, strlen(t), &f, err, sizeof err),
             DTO_EUNSUPPORTED, err, "type: unknown value");
  free(t);
  t = with_member(ACTIVITY, "side", "\"sell_short\"");
  assert_int_equal(
      alpaca_fill_activity_parse(t, strlen(t), &f, err, sizeof err), 0);
  assert_int_equal(f.side, SIDE_SELL);
  free(t);
}

/* Every required field missing, and every field given the wrong type:
 * refused with the field's name, whatever the parser. */
typedef struct req {
  const char *sample;
  parse_fn parse;
  const char *name;
} req;

static const req required[] = {
    {ORDER, p_order, "id"},
    {ORDER, p_order, "client_order_id"},
    {ORDER, p_order, "created_at"},
    {ORDER, p_order, "time_in_force"},
    {ORDER, p_order, "order_class"},
    {ORDER, p_order, "status"},
    {ORDER, p_order, "filled_qty"},
    {POSITION, p_position, "symbol"},
    {POSITION, p_position, "side"},
    {POSITION, p_position, "qty"},
    {POSITION, p_position, "avg_entry_price"},
    {ACCOUNT, p_account, "id"},
    {ACCOUNT, p_account, "status"},
    {ACCOUNT, p_account, "cash"},
    {ACCOUNT, p_account, "buying_power"},
    {ACCOUNT, p_account, "equity"},
    {ACCOUNT, p_account, "pattern_day_trader"},
    {ACCOUNT, p_account, "trading_blocked"},
    {ACCOUNT, p_account, "account_blocked"},
    {CLOCK, p_clock, "timestamp"},
    {CLOCK, p_clock, "is_open"},
    {CLOCK, p_clock, "next_open"},
    {CLOCK, p_clock, "next_close"},
    {ASSET, p_asset, "id"},
    {ASSET, p_asset, "symbol"},
    {ASSET, p_asset, "status"},
    {ASSET, p_asset, "tradable"},
    {ASSET, p_asset, "shortable"},
    {ASSET, p_asset, "fractionable"},
    {ACTIVITY, p_activity, "activity_type"},
    {ACTIVITY, p_activity, "id"},
    {ACTIVITY, p_activity, "order_id"},
    {ACTIVITY, p_activity, "symbol"},
    {ACTIVITY, p_activity, "transaction_time"},
    {ACTIVITY, p_activity, "qty"},
    {ACTIVITY, p_activity, "price"},
    {ACTIVITY, p_activity, "side"},
    {ACTIVITY, p_activity, "type"},
};

static void test_missing_and_mistyped(void **state) {
  (void)state;
  union {
    alpaca_order o;
    alpaca_position p;
    alpaca_account a;
    alpaca_asset s;
    alpaca_fill_activity f;
    alpaca_clock k;
  } out;
  for (size_t i = 0; i < DTO_ARRAY_LEN(required); i++) {
    const req *r = &required[i];
    char err[256] = "", want[96];
    char *t = with_member(r->sample, r->name, NULL);
    snprintf(want, sizeof want, "%s: missing", r->name);
    expect_err(r->parse(t, strlen(t), &out, err, sizeof err), DTO_EPARSE, err,
               want);
    free(t);
    t = with_member(r->sample, r->name, "null");
    expect_err(r->parse(t, strlen(t), &out, err, sizeof err), DTO_EPARSE, err,
               want);
    free(t);
    /* wrong types: each refused with the name (which type it wanted
     * depends on the field) */
    const char *wrong[] = {"[]", "{}", "12", "1.5", "true", "\"zz\""};
    json_error_t je;
    json_t *so = json_loads(r->sample, 0, &je);
    json_type right = json_typeof(json_object_get(so, r->name));
    json_decref(so);
    for (size_t k = 0; k < DTO_ARRAY_LEN(wrong); k++) {
      json_t *wv = json_loads(wrong[k], JSON_DECODE_ANY, &je);
      json_type wt = json_typeof(wv);
      json_decref(wv);
      if (wt == right || (wt == JSON_TRUE && right == JSON_FALSE))
        continue; /* the right type: not a wrong one */
      t = with_member(r->sample, r->name, wrong[k]);
      int rc = r->parse(t, strlen(t), &out, err, sizeof err);
      snprintf(want, sizeof want, "%s: ", r->name);
      if (rc == 0 || strncmp(err, want, strlen(want)) != 0)
        fail_msg("%s = %s: %s \"%s\"", r->name, wrong[k], dto_errname(rc), err);
      free(t);
    }
  }
  /* the whole text of the wrong type, and garbage */
  const char *texts[] = {"[]",       "\"x\"", "12",
                         "null",     "",      "{",
                         "{\"id\":", "{}}",   "{\"id\": \"a\", \"id\": \"b\"}"};
  const parse_fn fns[] = {p_order, p_position, p_account,
                          p_clock, p_asset,    p_activity};
  for (size_t i = 0; i < DTO_ARRAY_LEN(texts); i++)
    for (size_t k = 0; k < DTO_ARRAY_LEN(fns); k++) {
      char err[256] = "";
      int rc = fns[k](texts[i], strlen(texts[i]), &out, err, sizeof err);
      if (rc != DTO_EPARSE || !err[0])
        fail_msg("text %s: %s \"%s\"", texts[i], dto_errname(rc), err);
    }
}

/* Every prefix of every sample is refused (never a crash, never 0). */
static void test_truncated(void **state) {
  (void)state;
  const char *samples[] = {ORDER, POSITION, ACCOUNT, CLOCK, ASSET, ACTIVITY};
  const parse_fn fns[] = {p_order, p_position, p_account,
                          p_clock, p_asset,    p_activity};
  union {
    alpaca_order o;
    alpaca_position p;
    alpaca_account a;
    alpaca_asset s;
    alpaca_fill_activity f;
    alpaca_clock k;
  } out;
  for (size_t i = 0; i < DTO_ARRAY_LEN(samples); i++) {
    size_t n = strlen(samples[i]);
    for (size_t len = 0; len < n; len++) {
      char err[256] = "";
      int rc = fns[i](samples[i], len, &out, err, sizeof err);
      if (rc != DTO_EPARSE || strncmp(err, "json: ", 6))
        fail_msg("sample %zu cut at %zu: %s \"%s\"", i, len, dto_errname(rc),
                 err);
    }
    char err[256] = "";
    assert_int_equal(fns[i](samples[i], n, &out, err, sizeof err), 0);
  }
}

static void test_string_caps(void **state) {
  (void)state;
  char big[200];
  memset(big, 'A', sizeof big);
  big[0] = '"';
  alpaca_order o;
  char err[256];
  /* a symbol of 31 bytes fits, 32 does not */
  big[32] = '"';
  big[33] = '\0';
  char *t = with_member(ORDER, "symbol", big);
  assert_int_equal(alpaca_order_parse(t, strlen(t), &o, err, sizeof err), 0);
  assert_int_equal(strlen(o.symbol), 31);
  free(t);
  big[32] = 'A';
  big[33] = '"';
  big[34] = '\0';
  t = with_member(ORDER, "symbol", big);
  expect_err(alpaca_order_parse(t, strlen(t), &o, err, sizeof err), DTO_ERANGE,
             err, "symbol: longer than 31 bytes");
  free(t);
  memset(big, 'c', sizeof big);
  big[0] = '"';
  big[CLOID_MAX + 1] = '"';
  big[CLOID_MAX + 2] = '\0';
  t = with_member(ORDER, "client_order_id", big);
  expect_err(alpaca_order_parse(t, strlen(t), &o, err, sizeof err), DTO_ERANGE,
             err, "client_order_id: longer than");
  free(t);
  /* a NUL inside a string: the text is refused by the JSON reader, and a
   * json_t holding one (a caller's, loaded with JSON_ALLOW_NUL) too */
  t = with_member(ORDER, "id", "\"a\\u0000b\"");
  expect_err(alpaca_order_parse(t, strlen(t), &o, err, sizeof err), DTO_EPARSE,
             err, "json: ");
  json_error_t je;
  json_t *ov = json_loads(t, JSON_ALLOW_NUL, &je);
  assert_non_null(ov);
  expect_err(alpaca_order_from_json(ov, "x.", &o, err, sizeof err), DTO_EPARSE,
             err, "x.id: contains a NUL byte");
  json_decref(ov);
  free(t);
  /* legs: too many, wrong type, a bad leg named by index */
  t = with_member(ORDER, "legs", "[{},{},{},{},{}]");
  expect_err(alpaca_order_parse(t, strlen(t), &o, err, sizeof err), DTO_ERANGE,
             err, "legs: more than 4");
  free(t);
  t = with_member(ORDER, "legs", "{}");
  expect_err(alpaca_order_parse(t, strlen(t), &o, err, sizeof err), DTO_EPARSE,
             err, "legs: expected an array");
  free(t);
  t = with_member(ORDER, "legs",
                  "[{\"id\":\"x\",\"client_order_id\":\"y\",\"status\":"
                  "\"new\"},{\"id\":\"x\",\"status\":\"new\"}]");
  expect_err(alpaca_order_parse(t, strlen(t), &o, err, sizeof err), DTO_EPARSE,
             err, "legs[1].client_order_id: missing");
  free(t);
  t = with_member(ORDER, "status", "\"weird\"");
  expect_err(alpaca_order_parse(t, strlen(t), &o, err, sizeof err),
             DTO_EUNSUPPORTED, err, "status: unknown value \"weird\"");
  free(t);
  /* the text cap */
  assert_int_equal(
      alpaca_order_parse(ORDER, ALPACA_JSON_MAX + 1u, &o, err, sizeof err),
      DTO_ETOOBIG);
  assert_int_equal(alpaca_order_parse(NULL, 0, &o, err, sizeof err),
                   DTO_EINVAL);
  /* a tiny err buffer is still terminated */
  char tiny[4];
  t = with_member(ORDER, "qty", "\"x\"");
  assert_int_equal(alpaca_order_parse(t, strlen(t), &o, tiny, sizeof tiny),
                   DTO_EPARSE);
  assert_int_equal(strlen(tiny), 3);
  free(t);
}

/* ---- trade_updates ------------------------------------------------------- */

static void test_trade_update_fill(void **state) {
  (void)state;
  char *t = update_text(
      "fill", "\"execution_id\": \"2f63ea93-423d-4169-b3f6-3fdafc10c418\","
              " \"position_qty\": \"100\", \"price\": \"179.08\","
              " \"qty\": \"4\","
              " \"timestamp\": \"2022-02-03T21:03:08.870823126Z\"");
  alpaca_stream_msg m;
  char err[256] = "";
  int rc = alpaca_stream_parse(t, strlen(t), &m, err, sizeof err);
  if (rc)
    fail_msg("%s", err);
  free(t);
  assert_int_equal(m.kind, ALPACA_ST_TRADE_UPDATE);
  alpaca_trade_update *u = &m.update;
  assert_int_equal(u->event, ALPACA_EV_FILL);
  assert_string_equal(u->execution_id, "2f63ea93-423d-4169-b3f6-3fdafc10c418");
  assert_int_equal(u->timestamp, 1643922188 * NS + 870823126);
  assert_int_equal(u->price, 17908000000LL);
  assert_int_equal(u->qty, 4 * FX_ONE);
  assert_int_equal(u->position_qty, 100 * FX_ONE);
  assert_string_equal(u->order.client_order_id, "acc-strat-20210316-1");
  broker_report r;
  assert_int_equal(alpaca_event_report(u, &r, err, sizeof err), 1);
  assert_int_equal(r.kind, REP_FILL);
  /* this execution's qty, not the order's cumulative filled_qty (0 here) */
  assert_int_equal(r.qty, 4 * FX_ONE);
  assert_int_equal(r.price, 17908000000LL);
  assert_int_equal(r.ts, u->timestamp);
  assert_int_equal(r.id, ORDER_NONE);
  assert_int_equal(r.new_id, ORDER_NONE);

  /* a fill without qty or price cannot be reported */
  u->have &= ~(unsigned)ATU_QTY;
  expect_err(alpaca_event_report(u, &r, err, sizeof err), DTO_EPARSE, err,
             "data.qty");
  u->have |= ATU_QTY;
  u->price = 0;
  expect_err(alpaca_event_report(u, &r, err, sizeof err), DTO_EPARSE, err,
             "data.price");
}

static void test_trade_update_events(void **state) {
  (void)state;
  struct {
    const char *name;
    enum alpaca_event_kind kind;
    int has; /* 1: a report */
    enum report_kind rep;
    int reason;
  } ev[] = {
      {"new", ALPACA_EV_NEW, 1, REP_ACCEPTED, BRR_NONE},
      {"fill", ALPACA_EV_FILL, 1, REP_FILL, BRR_NONE},
      {"partial_fill", ALPACA_EV_PARTIAL_FILL, 1, REP_FILL, BRR_NONE},
      {"canceled", ALPACA_EV_CANCELED, 1, REP_CANCELED, BRR_NONE},
      {"expired", ALPACA_EV_EXPIRED, 1, REP_EXPIRED, BRR_NONE},
      {"done_for_day", ALPACA_EV_DONE_FOR_DAY, 1, REP_EXPIRED, BRR_DAY_END},
      {"replaced", ALPACA_EV_REPLACED, 1, REP_REPLACED, BRR_NONE},
      {"rejected", ALPACA_EV_REJECTED, 1, REP_REJECTED, BRR_INVALID},
      {"pending_new", ALPACA_EV_PENDING_NEW, 0, 0, 0},
      {"pending_cancel", ALPACA_EV_PENDING_CANCEL, 0, 0, 0},
      {"pending_replace", ALPACA_EV_PENDING_REPLACE, 0, 0, 0},
      {"stopped", ALPACA_EV_STOPPED, 0, 0, 0},
      {"suspended", ALPACA_EV_SUSPENDED, 0, 0, 0},
      {"calculated", ALPACA_EV_CALCULATED, 0, 0, 0},
      {"order_cancel_rejected", ALPACA_EV_ORDER_CANCEL_REJECTED, 1,
       REP_CANCEL_REJECT, BRR_NONE},
      {"order_replace_rejected", ALPACA_EV_ORDER_REPLACE_REJECTED, 1,
       REP_CANCEL_REJECT, BRR_NONE},
      {"accepted", ALPACA_EV_ACCEPTED, 0, 0, 0},
      {"restated", ALPACA_EV_RESTATED, 0, 0, 0},
      {"held", ALPACA_EV_HELD, 0, 0, 0},
  };
  assert_int_equal(DTO_ARRAY_LEN(ev), ALPACA_EV_COUNT);
  for (size_t i = 0; i < DTO_ARRAY_LEN(ev); i++) {
    char *t =
        update_text(ev[i].name, "\"price\": \"10.5\", \"qty\": \"2\","
                                " \"timestamp\": \"2021-01-04T14:30:00Z\"");
    alpaca_stream_msg m;
    char err[256] = "";
    int rc = alpaca_stream_parse(t, strlen(t), &m, err, sizeof err);
    if (rc)
      fail_msg("%s: %s", ev[i].name, err);
    free(t);
    assert_int_equal(m.update.event, ev[i].kind);
    assert_string_equal(alpaca_event_name(ev[i].kind), ev[i].name);
    broker_report r;
    rc = alpaca_event_report(&m.update, &r, err, sizeof err);
    if (rc != ev[i].has)
      fail_msg("%s: report %d", ev[i].name, rc);
    if (rc == 1) {
      assert_int_equal(r.kind, ev[i].rep);
      assert_int_equal(r.reason, ev[i].reason);
      assert_int_equal(r.ts, 1609770600 * NS);
      if (r.kind == REP_FILL) {
        assert_int_equal(r.qty, 2 * FX_ONE);
        assert_int_equal(r.price, 1050000000);
      } else {
        assert_int_equal(r.qty, 0);
      }
    }
  }
  /* unknown event: refused as unsupported, named */
  char *t = update_text("teleported", "");
  alpaca_stream_msg m;
  char err[256] = "";
  expect_err(alpaca_stream_parse(t, strlen(t), &m, err, sizeof err),
             DTO_EUNSUPPORTED, err, "data.event: unknown value \"teleported\"");
  free(t);
  /* no timestamp: the order's updated_at */
  t = update_text("new", "");
  assert_int_equal(alpaca_stream_parse(t, strlen(t), &m, err, sizeof err), 0);
  assert_int_equal(m.update.timestamp, 1615919881 * NS + 942282000);
  assert_string_equal(m.update.execution_id, "");
  free(t);
  /* a bad field of the nested order is named by its path */
  t = update_text("new", "\"qty\": 5");
  expect_err(alpaca_stream_parse(t, strlen(t), &m, err, sizeof err), DTO_EPARSE,
             err, "data.qty: expected a decimal string");
  free(t);
}

static void test_stream_control(void **state) {
  (void)state;
  alpaca_stream_msg m;
  char err[256] = "";
  const char auth[] = "{\"stream\":\"authorization\",\"data\":{\"status\":"
                      "\"authorized\",\"action\":\"authenticate\"}}";
  assert_int_equal(alpaca_stream_parse(auth, strlen(auth), &m, err, sizeof err),
                   0);
  assert_int_equal(m.kind, ALPACA_ST_AUTHORIZATION);
  assert_true(m.authorized);
  const char unauth[] = "{\"stream\":\"authorization\",\"data\":{\"status\":"
                        "\"unauthorized\",\"action\":\"authenticate\"}}";
  assert_int_equal(
      alpaca_stream_parse(unauth, strlen(unauth), &m, err, sizeof err), 0);
  assert_false(m.authorized);
  const char listen[] = "{\"stream\":\"listening\",\"data\":{\"streams\":"
                        "[\"trade_updates\"]}}";
  assert_int_equal(
      alpaca_stream_parse(listen, strlen(listen), &m, err, sizeof err), 0);
  assert_int_equal(m.kind, ALPACA_ST_LISTENING);
  assert_true(m.trade_updates);
  const char none[] = "{\"stream\":\"listening\",\"data\":{\"streams\":[]}}";
  assert_int_equal(alpaca_stream_parse(none, strlen(none), &m, err, sizeof err),
                   0);
  assert_false(m.trade_updates);
  struct {
    const char *text;
    int rc;
    const char *needle;
  } bad[] = {
      {"{\"stream\":\"account_updates\",\"data\":{}}", DTO_EUNSUPPORTED,
       "stream: unknown value"},
      {"{\"stream\":\"listening\",\"data\":{\"streams\":\"x\"}}", DTO_EPARSE,
       "data.streams: expected an array"},
      {"{\"stream\":\"listening\",\"data\":{\"streams\":[1]}}", DTO_EPARSE,
       "data.streams[0]: expected a string"},
      {"{\"stream\":\"authorization\",\"data\":{\"status\":\"maybe\"}}",
       DTO_EUNSUPPORTED, "data.status: unknown value"},
      {"{\"stream\":\"authorization\",\"data\":{}}", DTO_EPARSE,
       "data.status: missing"},
      {"{\"stream\":\"trade_updates\",\"data\":[]}", DTO_EPARSE,
       "data: expected an object"},
      {"{\"stream\":\"trade_updates\"}", DTO_EPARSE,
       "data: expected an object"},
      {"{\"stream\":\"trade_updates\",\"data\":{\"event\":\"new\"}}",
       DTO_EPARSE, "data.order: missing"},
      {"{\"stream\":\"trade_updates\",\"data\":{\"event\":\"new\","
       "\"order\":{}}}",
       DTO_EPARSE, "data.order.id: missing"},
      {"{\"data\":{}}", DTO_EPARSE, "stream: missing"},
      {"{\"stream\":7,\"data\":{}}", DTO_EPARSE, "stream: expected a string"},
      {"[]", DTO_EPARSE, "message: expected an object"},
      {"{\"stream\":\"trade_updates\",\"da", DTO_EPARSE, "json: "},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_err(alpaca_stream_parse(bad[i].text, strlen(bad[i].text), &m, err,
                                   sizeof err),
               bad[i].rc, err, bad[i].needle);
}

/* ---- market data --------------------------------------------------------- */

static void test_md_batch(void **state) {
  (void)state;
  const char frame[] =
      "[{\"T\":\"t\",\"S\":\"AAPL\",\"i\":52983525029461,\"x\":\"V\","
      "\"p\":126.55,\"s\":1,\"c\":[\"@\",\"I\"],\"z\":\"C\","
      "\"t\":\"2021-02-22T15:51:44.208Z\"},"
      "{\"T\":\"q\",\"S\":\"AMD\",\"bx\":\"U\",\"bp\":87.66,\"bs\":1,"
      "\"ax\":\"Q\",\"ap\":87.68,\"as\":4,"
      "\"t\":\"2021-02-22T15:51:45.335689322Z\",\"c\":[\"R\"],\"z\":\"C\"},"
      "{\"T\":\"b\",\"S\":\"SPY\",\"o\":388.985,\"h\":389.13,\"l\":388.975,"
      "\"c\":389.12,\"v\":49378,\"t\":\"2021-02-22T19:15:00Z\",\"n\":461,"
      "\"vw\":389.062639},"
      "{\"T\":\"d\",\"S\":\"SPY\",\"o\":388,\"h\":390,\"l\":387.5,"
      "\"c\":389.12,\"v\":100000,\"t\":\"2021-02-22T05:00:00Z\"},"
      "{\"T\":\"u\",\"S\":\"SPY\",\"o\":388.985,\"h\":389.2,\"l\":388.975,"
      "\"c\":389.12,\"v\":49400,\"t\":\"2021-02-22T19:15:00Z\"},"
      "{\"T\":\"s\",\"S\":\"AAPL\",\"sc\":\"H\",\"sm\":\"Trading Halt\"},"
      "{\"T\":\"t\",\"S\":\"BTC/USD\",\"i\":1,\"p\":43000.5,"
      "\"s\":0.0012,\"t\":\"2021-02-22T15:51:44Z\"}]";
  alpaca_md_msg m[8];
  size_t n = 99;
  char err[256] = "";
  int rc = alpaca_md_parse(frame, strlen(frame), m, 8, &n, err, sizeof err);
  if (rc)
    fail_msg("%s", err);
  assert_int_equal(n, 7);
  assert_int_equal(m[0].kind, ALPACA_MD_TRADE);
  assert_string_equal(m[0].symbol, "AAPL");
  assert_int_equal(m[0].trade_id, 52983525029461LL);
  assert_string_equal(m[0].exchange, "V");
  assert_string_equal(m[0].tape, "C");
  assert_int_equal(m[0].trade.price, 12655000000LL);
  assert_int_equal(m[0].trade.size, FX_ONE);
  assert_int_equal(m[0].trade.ts, 1614009104 * NS + 208000000);
  assert_int_equal(m[0].trade.sym, SYM_NONE);
  assert_int_equal(m[1].kind, ALPACA_MD_QUOTE);
  assert_int_equal(m[1].quote.bid, 8766000000LL);
  assert_int_equal(m[1].quote.ask, 8768000000LL);
  assert_int_equal(m[1].quote.bid_size, FX_ONE);
  assert_int_equal(m[1].quote.ask_size, 4 * FX_ONE);
  assert_int_equal(m[1].quote.ts, 1614009105 * NS + 335689322);
  assert_int_equal(m[2].kind, ALPACA_MD_BAR);
  assert_int_equal(m[2].bar.open, 38898500000LL);
  assert_int_equal(m[2].bar.high, 38913000000LL);
  assert_int_equal(m[2].bar.low, 38897500000LL);
  assert_int_equal(m[2].bar.close, 38912000000LL);
  assert_int_equal(m[2].bar.volume, 49378 * FX_ONE);
  assert_int_equal(m[2].bar.ts, 1614021300 * NS);
  assert_int_equal(m[2].bar.dur, 60 * NS);
  assert_int_equal(m[3].kind, ALPACA_MD_DAILY_BAR);
  assert_int_equal(m[3].bar.dur, 0);
  assert_int_equal(m[3].bar.low, 38750000000LL);
  assert_int_equal(m[4].kind, ALPACA_MD_UPDATED_BAR);
  assert_int_equal(m[4].bar.high, 38920000000LL);
  assert_int_equal(m[5].kind, ALPACA_MD_OTHER);
  assert_string_equal(m[5].type, "s");
  assert_string_equal(m[6].symbol, "BTC/USD");
  assert_int_equal(m[6].trade.price, 4300050000000LL);
  assert_int_equal(m[6].trade.size, 120000);

  /* full: the first max are parsed */
  rc = alpaca_md_parse(frame, strlen(frame), m, 3, &n, err, sizeof err);
  expect_err(rc, DTO_EFULL, err, "room for 3");
  assert_int_equal(n, 3);
}

static void test_md_control(void **state) {
  (void)state;
  alpaca_md_msg m[2];
  size_t n;
  char err[256] = "";
  const char hello[] = "[{\"T\":\"success\",\"msg\":\"connected\"}]";
  assert_int_equal(
      alpaca_md_parse(hello, strlen(hello), m, 2, &n, err, sizeof err), 0);
  assert_int_equal(n, 1);
  assert_int_equal(m[0].kind, ALPACA_MD_SUCCESS);
  assert_string_equal(m[0].msg, "connected");
  const char e406[] =
      "[{\"T\":\"error\",\"code\":406,\"msg\":\"connection limit exceeded\"}]";
  assert_int_equal(
      alpaca_md_parse(e406, strlen(e406), m, 2, &n, err, sizeof err), 0);
  assert_int_equal(m[0].kind, ALPACA_MD_ERROR);
  assert_int_equal(m[0].code, ALPACA_MDE_CONNECTION_LIMIT);
  assert_string_equal(m[0].msg, "connection limit exceeded");
  const char e402[] =
      "[{\"T\":\"error\",\"code\":402,\"msg\":\"auth failed\"}]";
  assert_int_equal(
      alpaca_md_parse(e402, strlen(e402), m, 2, &n, err, sizeof err), 0);
  assert_int_equal(m[0].code, ALPACA_MDE_AUTH_FAILED);
  const char sub[] =
      "[{\"T\":\"subscription\",\"trades\":[\"AAPL\"],\"quotes\":[\"AMD\","
      "\"CLDR\"],\"bars\":[\"*\"],\"updatedBars\":[],\"dailyBars\":[\"VOO\"],"
      "\"statuses\":[\"*\"],\"lulds\":[],\"corrections\":[\"AAPL\"],"
      "\"cancelErrors\":[\"AAPL\"]}]";
  assert_int_equal(alpaca_md_parse(sub, strlen(sub), m, 2, &n, err, sizeof err),
                   0);
  assert_int_equal(m[0].kind, ALPACA_MD_SUBSCRIPTION);
  assert_int_equal(m[0].ntrades, 1);
  assert_int_equal(m[0].nquotes, 2);
  assert_int_equal(m[0].nbars, 1);
  assert_int_equal(m[0].nupdated_bars, 0);
  assert_int_equal(m[0].ndaily_bars, 1);

  struct {
    const char *text;
    int rc;
    const char *needle;
    size_t count;
  } bad[] = {
      {"{}", DTO_EPARSE, "frame: expected an array", 0},
      {"[1]", DTO_EPARSE, "[0].message: expected an object", 0},
      {"[{}]", DTO_EPARSE, "[0].T: missing", 0},
      {"[{\"T\":\"zz\"}]", DTO_EUNSUPPORTED, "[0].T: unknown value", 0},
      {"[{\"T\":\"success\",\"msg\":\"ok\"},{\"T\":\"t\",\"S\":\"A\","
       "\"p\":\"1\",\"s\":1,\"t\":\"2021-02-22T15:51:44Z\"}]",
       0, "", 2},
      {"[{\"T\":\"success\",\"msg\":\"ok\"},{\"T\":\"t\",\"S\":\"A\","
       "\"p\":1e-9,\"s\":1,\"t\":\"2021-02-22T15:51:44Z\"}]",
       DTO_ERANGE, "[1].p: number", 1},
      {"[{\"T\":\"t\",\"S\":\"A\",\"p\":true,\"s\":1,"
       "\"t\":\"2021-02-22T15:51:44Z\"}]",
       DTO_EPARSE, "[0].p: expected a decimal string or number", 0},
      {"[{\"T\":\"t\",\"S\":\"A\",\"p\":1,\"s\":-1,"
       "\"t\":\"2021-02-22T15:51:44Z\"}]",
       DTO_ERANGE, "[0].s: negative", 0},
      {"[{\"T\":\"t\",\"S\":\"A\",\"p\":1,\"s\":1,\"t\":1614009104}]",
       DTO_EPARSE, "[0].t: expected an RFC 3339 string", 0},
      {"[{\"T\":\"q\",\"S\":\"A\",\"bp\":1,\"bs\":1,\"ap\":1,"
       "\"t\":\"2021-02-22T15:51:44Z\"}]",
       DTO_EPARSE, "[0].as: missing", 0},
      {"[{\"T\":\"b\",\"S\":\"A\",\"o\":1,\"h\":1,\"l\":1,\"c\":1,"
       "\"v\":1,\"t\":\"2021-02-22T15:51:44Z\",\"n\":1.5}]",
       DTO_EPARSE, "[0].n: expected an integer", 0},
      {"[{\"T\":\"error\",\"code\":\"406\",\"msg\":\"x\"}]", DTO_EPARSE,
       "[0].code: expected an integer", 0},
      {"[{\"T\":\"error\",\"code\":99999,\"msg\":\"x\"}]", DTO_ERANGE,
       "[0].code", 0},
      {"[{\"T\":\"subscription\",\"trades\":\"AAPL\"}]", DTO_EPARSE,
       "[0].trades: expected an array", 0},
      {"[{\"T\":\"subscription\",\"quotes\":[1]}]", DTO_EPARSE,
       "[0].quotes[0]: expected a string", 0},
      {"[{\"T\":\"t\"", DTO_EPARSE, "json: ", 0},
      {"", DTO_EPARSE, "json: ", 0},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    n = 99;
    int rc = alpaca_md_parse(bad[i].text, strlen(bad[i].text), m, 2, &n, err,
                             sizeof err);
    if (bad[i].rc == 0) {
      if (rc)
        fail_msg("%s: %s", bad[i].text, err);
    } else {
      expect_err(rc, bad[i].rc, err, bad[i].needle);
    }
    assert_int_equal(n, bad[i].count);
  }
}

/* ---- REST bars ----------------------------------------------------------- */

static void test_rest_bars(void **state) {
  (void)state;
  const char multi[] =
      "{\"bars\":{\"AAPL\":[{\"t\":\"2022-01-03T09:00:00Z\",\"o\":178.26,"
      "\"h\":178.26,\"l\":178.21,\"c\":178.21,\"v\":1118,\"n\":65,"
      "\"vw\":178.235733}],\"MSFT\":[{\"t\":\"2022-01-03T09:00:00Z\","
      "\"o\":335.35,\"h\":335.35,\"l\":335.35,\"c\":335.35,\"v\":148,"
      "\"n\":9,\"vw\":335.35},{\"t\":\"2022-01-03T09:01:00Z\",\"o\":335.4,"
      "\"h\":335.5,\"l\":335.4,\"c\":335.5,\"v\":200,\"n\":3,\"vw\":335.45}]},"
      "\"next_page_token\":\"QUFQTHxNfDIwMjItMDEtMDNUMDk6MDA6MDBa\"}";
  alpaca_bar_row rows[4];
  size_t n;
  char tok[ALPACA_TOKEN_MAX], err[256] = "";
  int rc = alpaca_bars_parse(multi, strlen(multi), 60 * NS, rows, 4, &n, tok,
                             sizeof tok, err, sizeof err);
  if (rc)
    fail_msg("%s", err);
  assert_int_equal(n, 3);
  assert_string_equal(tok, "QUFQTHxNfDIwMjItMDEtMDNUMDk6MDA6MDBa");
  assert_string_equal(rows[0].symbol, "AAPL");
  assert_int_equal(rows[0].bar.ts, 1641200400 * NS);
  assert_int_equal(rows[0].bar.dur, 60 * NS);
  assert_int_equal(rows[0].bar.open, 17826000000LL);
  assert_int_equal(rows[0].bar.volume, 1118 * FX_ONE);
  assert_int_equal(rows[0].trade_count, 65);
  assert_int_equal(rows[0].vwap, 17823573300LL);
  assert_int_equal(rows[0].bar.sym, SYM_NONE);
  assert_string_equal(rows[2].symbol, "MSFT");
  assert_int_equal(rows[2].bar.ts, 1641200460 * NS);
  assert_int_equal(rows[2].bar.close, 33550000000LL);

  rc = alpaca_bars_parse(multi, strlen(multi), 60 * NS, rows, 2, &n, tok,
                         sizeof tok, err, sizeof err);
  expect_err(rc, DTO_EFULL, err, "more than 2");

  const char single[] =
      "{\"bars\":[{\"t\":\"2022-01-03T09:00:00Z\",\"o\":178.26,"
      "\"h\":178.26,\"l\":178.21,\"c\":178.21,\"v\":1118}],"
      "\"symbol\":\"AAPL\",\"next_page_token\":null}";
  rc = alpaca_bars_parse(single, strlen(single), 0, rows, 4, &n, tok,
                         sizeof tok, err, sizeof err);
  if (rc)
    fail_msg("%s", err);
  assert_int_equal(n, 1);
  assert_string_equal(tok, "");
  assert_string_equal(rows[0].symbol, "AAPL");
  assert_int_equal(rows[0].trade_count, 0);

  const char empty[] = "{\"bars\":null,\"next_page_token\":null}";
  assert_int_equal(alpaca_bars_parse(empty, strlen(empty), 0, rows, 4, &n, tok,
                                     sizeof tok, err, sizeof err),
                   0);
  assert_int_equal(n, 0);

  struct {
    const char *text;
    int rc;
    const char *needle;
  } bad[] = {
      {"{\"bars\":{\"AAPL\":{}}}", DTO_EPARSE, "bars.AAPL: expected an array"},
      {"{\"bars\":{\"AAPL\":[{\"t\":\"2022-01-03T09:00:00Z\"}]}}", DTO_EPARSE,
       "bars.AAPL[0].o: missing"},
      {"{\"bars\":{\"AAPL\":[{\"t\":\"2022-01-03T09:00:00Z\",\"o\":1,"
       "\"h\":1,\"l\":1,\"c\":0.000000001,\"v\":1}]}}",
       DTO_ERANGE, "bars.AAPL[0].c: number"},
      {"{\"bars\":{\"AAPL\":[1]}}", DTO_EPARSE,
       "bars.AAPL[0].bar: expected an object"},
      {"{\"bars\":[]}", DTO_EPARSE, "symbol: missing"},
      {"{\"bars\":7}", DTO_EPARSE, "bars: expected an object or an array"},
      {"{\"bars\":{},\"next_page_token\":5}", DTO_EPARSE,
       "next_page_token: expected a string"},
      {"[]", DTO_EPARSE, "page: expected an object"},
      {"{\"bars\":{\"AAPL\":[", DTO_EPARSE, "json: "},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    expect_err(alpaca_bars_parse(bad[i].text, strlen(bad[i].text), 0, rows, 4,
                                 &n, tok, sizeof tok, err, sizeof err),
               bad[i].rc, err, bad[i].needle);
  /* a token too long for its buffer */
  char small[4];
  const char longtok[] = "{\"bars\":{},\"next_page_token\":\"abcdef\"}";
  expect_err(alpaca_bars_parse(longtok, strlen(longtok), 0, rows, 4, &n, small,
                               sizeof small, err, sizeof err),
             DTO_ERANGE, err, "next_page_token: longer than 3 bytes");
}

/* ---- execution ids ------------------------------------------------------- */

static void test_exec_seen(void **state) {
  (void)state;
  alpaca_exec_seen *s = alpaca_exec_seen_new(3);
  assert_int_equal(alpaca_exec_seen_check(s, "a"), 0);
  assert_int_equal(alpaca_exec_seen_check(s, "a"), 1); /* duplicate */
  assert_int_equal(alpaca_exec_seen_check(s, "b"), 0);
  assert_int_equal(alpaca_exec_seen_check(s, "c"), 0);
  assert_int_equal(alpaca_exec_seen_count(s), 3);
  assert_int_equal(alpaca_exec_seen_check(s, "b"), 1);
  assert_int_equal(alpaca_exec_seen_check(s, "d"), 0); /* evicts a */
  assert_int_equal(alpaca_exec_seen_count(s), 3);
  assert_int_equal(alpaca_exec_seen_check(s, "c"), 1);
  assert_int_equal(alpaca_exec_seen_check(s, "a"), 0); /* new again; evicts b */
  assert_int_equal(alpaca_exec_seen_check(s, "b"), 0); /* evicts c */
  assert_int_equal(alpaca_exec_seen_check(s, "d"), 1);
  assert_int_equal(alpaca_exec_seen_check(s, "a"), 1);
  assert_int_equal(alpaca_exec_seen_check(s, "c"), 0); /* evicts d */
  assert_int_equal(alpaca_exec_seen_check(s, "d"), 0);
  assert_int_equal(alpaca_exec_seen_check(s, ""), DTO_EINVAL);
  assert_int_equal(alpaca_exec_seen_check(s, NULL), DTO_EINVAL);
  char big[ALPACA_ID_MAX + 1];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(alpaca_exec_seen_check(s, big), DTO_EINVAL);
  big[ALPACA_ID_MAX - 1] = '\0'; /* 63 bytes: fits */
  assert_int_equal(alpaca_exec_seen_check(s, big), 0);
  assert_int_equal(alpaca_exec_seen_check(s, big), 1);
  alpaca_exec_seen_free(s);
  alpaca_exec_seen_free(NULL);

  /* against an oracle: a window of the last 50 of a stream with repeats */
  s = alpaca_exec_seen_new(50);
  char ring[50][16];
  size_t rn = 0, rh = 0;
  uint32_t x = 12345;
  for (int i = 0; i < 5000; i++) {
    x = x * 1103515245u + 12345u;
    char id[16];
    snprintf(id, sizeof id, "e%u", (x >> 16) % 120);
    int want = 0;
    for (size_t k = 0; k < rn; k++)
      if (!strcmp(ring[k], id))
        want = 1;
    if (!want) {
      size_t slot = rn < 50 ? rn++ : (rh++ % 50);
      snprintf(ring[slot], sizeof ring[slot], "%s", id);
    }
    assert_int_equal(alpaca_exec_seen_check(s, id), want);
  }
  alpaca_exec_seen_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decimal_accepts),
      cmocka_unit_test(test_decimal_refuses),
      cmocka_unit_test(test_decimal_round_trip),
      cmocka_unit_test(test_json_numbers),
      cmocka_unit_test(test_time),
      cmocka_unit_test(test_enums),
      cmocka_unit_test(test_order_sample),
      cmocka_unit_test(test_numeric_fields),
      cmocka_unit_test(test_position_account_clock_asset_activity),
      cmocka_unit_test(test_missing_and_mistyped),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_string_caps),
      cmocka_unit_test(test_trade_update_fill),
      cmocka_unit_test(test_trade_update_events),
      cmocka_unit_test(test_stream_control),
      cmocka_unit_test(test_md_batch),
      cmocka_unit_test(test_md_control),
      cmocka_unit_test(test_rest_bars),
      cmocka_unit_test(test_exec_seen),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
