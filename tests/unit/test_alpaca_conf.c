/* test_alpaca_conf.c - the Alpaca connection settings: the `alpaca:`
 * section of the configuration (keys, defaults, every refusal with its
 * line) and alpaca_conf_resolve() (precedence defaults < file < environment,
 * stream URL derivation, the loopback rule, the live rule, the keys).
 * Every case passes an explicit environment, so the process's own does not
 * matter. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "app/config.h"
#include "broker/alpaca_conf.h"
#include "broker/http.h"
#include "core/error.h"

#define ERRCAP 512
#define SECRET "s3cr3t-SHOULD-NOT-LEAK"

static const char *const keys_env[] = {"APCA_API_KEY_ID=PKTEST123",
                                       "APCA_API_SECRET_KEY=" SECRET, NULL};

static const char base_yaml[] = "accounts:\n  - id: main\n";

static int load(const char *extra, dto_config *cfg, char *err) {
  char text[4096];
  snprintf(text, sizeof text, "%s%s", base_yaml, extra);
  return config_load_mem("t.yaml", text, strlen(text), "/cfg", cfg, err,
                         ERRCAP);
}

static void expect_cfg_error(const char *extra, const char *msg) {
  dto_config cfg;
  char err[ERRCAP];
  int rc = load(extra, &cfg, err);
  if (rc != DTO_ECONFIG || strcmp(err, msg))
    print_error("yaml:\n%s\nwant: %s\ngot:  %s (rc %d)\n", extra, msg, err, rc);
  assert_int_equal(rc, DTO_ECONFIG);
  assert_string_equal(err, msg);
  assert_null(cfg.alpaca.trading_url);
}

static void resolve_ok(const cfg_alpaca *c, const char *const *env,
                       alpaca_conf *out) {
  char err[ERRCAP];
  int rc = alpaca_conf_resolve(c, env, out, err, sizeof err);
  if (rc)
    print_error("unexpected: %s\n", err);
  assert_int_equal(rc, 0);
}

static void resolve_err(const cfg_alpaca *c, const char *const *env, int want,
                        const char *needle) {
  char err[ERRCAP];
  alpaca_conf out;
  int rc = alpaca_conf_resolve(c, env, &out, err, sizeof err);
  if (rc != want || !strstr(err, needle))
    print_error("want %d containing '%s', got %d: %s\n", want, needle, rc, err);
  assert_int_equal(rc, want);
  assert_non_null(strstr(err, needle));
  assert_null(strstr(err, SECRET));
  assert_string_equal(out.secret, ""); /* wiped */
}

/* ---- the configuration section ------------------------------------------ */

static void test_section_absent_defaults(void **st) {
  (void)st;
  dto_config cfg;
  char err[ERRCAP];
  assert_int_equal(load("", &cfg, err), 0);
  assert_false(cfg.alpaca.present);
  assert_false(cfg.alpaca.live);
  assert_null(cfg.alpaca.trading_url);
  assert_int_equal(cfg.alpaca.feed, ALPACA_FEED_IEX);
  assert_int_equal(cfg.alpaca.connect_timeout, 5 * DTO_NS_PER_SEC);
  assert_int_equal(cfg.alpaca.request_timeout, 10 * DTO_NS_PER_SEC);
  assert_int_equal(cfg.alpaca.retries, ALPACA_RETRIES_DEFAULT);
  assert_int_equal(cfg.alpaca.rate_limit_per_min, 190);
  config_release(&cfg);
  /* a null section: present, every default */
  assert_int_equal(load("alpaca:\n", &cfg, err), 0);
  assert_true(cfg.alpaca.present);
  assert_int_equal(cfg.alpaca.rate_limit_per_min, 190);
  config_release(&cfg);
}

static void test_section_all_keys(void **st) {
  (void)st;
  dto_config cfg;
  char err[ERRCAP];
  int rc = load("alpaca:\n"
                "  live: false\n"
                "  trading_url: http://127.0.0.1:8080\n"
                "  data_url: http://localhost:8081/\n"
                "  stream_url: ws://[::1]:8082/stream\n"
                "  data_stream_url: wss://example.com/v2/test\n"
                "  feed: sip\n"
                "  connect_timeout: 2s\n"
                "  request_timeout: 30s\n"
                "  retries: {count: 5, backoff: 100ms, max_backoff: 2s}\n"
                "  rate_limit_per_min: 100\n",
                &cfg, err);
  if (rc)
    print_error("%s\n", err);
  assert_int_equal(rc, 0);
  cfg_alpaca *a = &cfg.alpaca;
  assert_string_equal(a->trading_url, "http://127.0.0.1:8080");
  assert_string_equal(a->data_url, "http://localhost:8081/");
  assert_string_equal(a->stream_url, "ws://[::1]:8082/stream");
  assert_string_equal(a->data_stream_url, "wss://example.com/v2/test");
  assert_int_equal(a->feed, ALPACA_FEED_SIP);
  assert_int_equal(a->connect_timeout, 2 * DTO_NS_PER_SEC);
  assert_int_equal(a->request_timeout, 30 * DTO_NS_PER_SEC);
  assert_int_equal(a->retries, 5);
  assert_int_equal(a->backoff, 100 * 1000 * 1000);
  assert_int_equal(a->max_backoff, 2 * DTO_NS_PER_SEC);
  assert_int_equal(a->rate_limit_per_min, 100);

  alpaca_conf out;
  resolve_ok(a, keys_env, &out);
  assert_string_equal(out.trading_url, "http://127.0.0.1:8080");
  assert_string_equal(out.data_url, "http://localhost:8081"); /* no '/' */
  assert_string_equal(out.stream_url, "ws://[::1]:8082/stream");
  assert_int_equal(out.stream_src, ALPACA_SRC_CONFIG);
  assert_string_equal(out.data_stream_url, "wss://example.com/v2/test");
  assert_int_equal(out.retries, 5);
  alpaca_conf_wipe(&out);
  config_release(&cfg);

  /* retries as a plain count */
  assert_int_equal(load("alpaca:\n  retries: 0\n", &cfg, err), 0);
  assert_int_equal(cfg.alpaca.retries, 0);
  config_release(&cfg);
  /* live with the live URL */
  assert_int_equal(
      load("alpaca:\n  live: true\n  trading_url: https://api.alpaca.markets\n",
           &cfg, err),
      0);
  assert_true(cfg.alpaca.live);
  config_release(&cfg);
}

static void test_section_refuses_keys(void **st) {
  (void)st;
  expect_cfg_error("alpaca:\n  key_id: PKABC\n",
                   "t.yaml:4:3: 'key_id': no API keys in the configuration "
                   "file; set APCA_API_KEY_ID and APCA_API_SECRET_KEY in "
                   "the environment");
  expect_cfg_error("alpaca:\n  feed: iex\n  secret_key: xyz\n",
                   "t.yaml:5:3: 'secret_key': no API keys in the "
                   "configuration file; set APCA_API_KEY_ID and "
                   "APCA_API_SECRET_KEY in the environment");
  expect_cfg_error("alpaca:\n  APCA_API_SECRET_KEY: xyz\n",
                   "t.yaml:4:3: 'APCA_API_SECRET_KEY': no API keys in the "
                   "configuration file; set APCA_API_KEY_ID and "
                   "APCA_API_SECRET_KEY in the environment");
  /* nor in a URL */
  expect_cfg_error(
      "alpaca:\n  trading_url: https://u:p@paper-api.alpaca.markets\n",
      "t.yaml:4:16: 'trading_url': "
      "'https://u:p@paper-api.alpaca.markets': no user name or "
      "password in a URL; the keys come from APCA_API_KEY_ID "
      "and APCA_API_SECRET_KEY");
}

static void test_section_errors(void **st) {
  (void)st;
  expect_cfg_error("alpaca:\n  trading_url: http://paper-api.alpaca.markets\n",
                   "t.yaml:4:16: 'trading_url': "
                   "'http://paper-api.alpaca.markets': http:// (no TLS) is "
                   "allowed only to a loopback host (127.0.0.0/8, ::1, "
                   "localhost); use https://");
  expect_cfg_error("alpaca:\n  stream_url: ws://10.0.0.1/stream\n",
                   "t.yaml:4:15: 'stream_url': 'ws://10.0.0.1/stream': "
                   "ws:// (no TLS) is allowed only to a loopback host "
                   "(127.0.0.0/8, ::1, localhost); use wss://");
  expect_cfg_error("alpaca:\n  trading_url: https://api.alpaca.markets\n",
                   "t.yaml:4:16: 'trading_url': 'https://api.alpaca.markets' "
                   "is Alpaca's live trading host (real money) but 'live' "
                   "is false; set live: true to trade live");
  expect_cfg_error(
      "alpaca:\n  live: true\n  trading_url: "
      "https://paper-api.alpaca.markets\n",
      "t.yaml:5:16: 'trading_url': 'https://paper-api.alpaca.markets' is "
      "Alpaca's paper trading host but 'live' is true");
  expect_cfg_error("alpaca:\n  data_url: ftp://data.alpaca.markets\n",
                   "t.yaml:4:13: 'data_url': 'ftp://data.alpaca.markets': "
                   "expected a https:// URL");
  expect_cfg_error("alpaca:\n  feed: otc\n",
                   "t.yaml:4:9: 'feed': unknown value 'otc' (known: iex, sip)");
  expect_cfg_error("alpaca:\n  connect_timeout: 20s\n",
                   "t.yaml:4:20: 'connect_timeout': must be at most "
                   "'request_timeout' (10s when not given)");
  expect_cfg_error("alpaca:\n  connect_timeout: 5s\n  request_timeout: 4s\n",
                   "t.yaml:5:20: 'request_timeout': must be at least "
                   "'connect_timeout' (it covers the whole request, "
                   "connecting included)");
  expect_cfg_error("alpaca:\n  request_timeout: 10ms\n",
                   "t.yaml:4:20: 'request_timeout': must be at least 100ms");
  expect_cfg_error("alpaca:\n  retries: 11\n",
                   "t.yaml:4:12: 'retries': must be between 0 and 10");
  expect_cfg_error("alpaca:\n  retries: {backoff: 2s, max_backoff: 1s}\n",
                   "t.yaml:4:39: 'max_backoff': must be at least 'backoff'");
  expect_cfg_error("alpaca:\n  retries: {tries: 2}\n",
                   "t.yaml:4:13: unknown key 'tries' in 'alpaca.retries'");
  expect_cfg_error("alpaca:\n  rate_limit_per_min: 0\n",
                   "t.yaml:4:23: 'rate_limit_per_min': must be between 1 "
                   "and 10000");
  expect_cfg_error("alpaca:\n  paper: true\n",
                   "t.yaml:4:3: unknown key 'paper' in 'alpaca'");
  expect_cfg_error("alpaca: [1]\n", "t.yaml:3:9: 'alpaca': expected a mapping");
}

/* ---- resolution -----------------------------------------------------------
 */

static void test_resolve_defaults(void **st) {
  (void)st;
  alpaca_conf out;
  resolve_ok(NULL, keys_env, &out);
  assert_false(out.live);
  assert_string_equal(out.trading_url, "https://paper-api.alpaca.markets");
  assert_int_equal(out.trading_src, ALPACA_SRC_DEFAULT);
  assert_string_equal(out.data_url, "https://data.alpaca.markets");
  assert_string_equal(out.stream_url, "wss://paper-api.alpaca.markets/stream");
  assert_int_equal(out.stream_src, ALPACA_SRC_DERIVED);
  assert_string_equal(out.data_stream_url,
                      "wss://stream.data.alpaca.markets/v2/iex");
  assert_string_equal(out.key_id, "PKTEST123");
  assert_string_equal(out.secret, SECRET);
  assert_int_equal(out.connect_timeout, 5 * DTO_NS_PER_SEC);
  assert_int_equal(out.request_timeout, 10 * DTO_NS_PER_SEC);
  assert_int_equal(out.rate_limit_per_min, 190);
  alpaca_conf_wipe(&out);
  assert_string_equal(out.secret, "");

  /* live: the live host, its stream; sip feed */
  cfg_alpaca c;
  config_alpaca_defaults(&c);
  c.live = true;
  c.feed = ALPACA_FEED_SIP;
  resolve_ok(&c, keys_env, &out);
  assert_string_equal(out.trading_url, "https://api.alpaca.markets");
  assert_string_equal(out.stream_url, "wss://api.alpaca.markets/stream");
  assert_string_equal(out.data_stream_url,
                      "wss://stream.data.alpaca.markets/v2/sip");
  alpaca_conf_wipe(&out);
}

static void test_resolve_env_overrides(void **st) {
  (void)st;
  cfg_alpaca c;
  config_alpaca_defaults(&c);
  c.trading_url = "https://proxy.example.com/alpaca/";
  c.data_url = "https://data-proxy.example.com";
  const char *const env[] = {"APCA_API_KEY_ID=PKTEST123",
                             "APCA_API_SECRET_KEY=" SECRET,
                             "APCA_API_BASE_URL=http://127.0.0.5:9000",
                             "APCA_API_DATA_URL=http://localhost:9001/", NULL};
  alpaca_conf out;
  resolve_ok(&c, env, &out);
  assert_string_equal(out.trading_url, "http://127.0.0.5:9000");
  assert_int_equal(out.trading_src, ALPACA_SRC_ENV);
  assert_string_equal(out.data_url, "http://localhost:9001");
  assert_int_equal(out.data_src, ALPACA_SRC_ENV);
  /* derived from the overridden trading URL: ws for http */
  assert_string_equal(out.stream_url, "ws://127.0.0.5:9000/stream");
  alpaca_conf_wipe(&out);

  /* without the env: the file's values, prefix kept, '/' dropped */
  resolve_ok(&c, keys_env, &out);
  assert_string_equal(out.trading_url, "https://proxy.example.com/alpaca");
  assert_int_equal(out.trading_src, ALPACA_SRC_CONFIG);
  assert_string_equal(out.data_url, "https://data-proxy.example.com");
  assert_string_equal(out.stream_url, "wss://proxy.example.com/alpaca/stream");
  alpaca_conf_wipe(&out);

  /* an explicit stream URL wins over derivation, even with the env */
  c.stream_url = "wss://stream.example.com/trade";
  c.data_stream_url = "wss://stream.example.com/data";
  resolve_ok(&c, env, &out);
  assert_string_equal(out.stream_url, "wss://stream.example.com/trade");
  assert_string_equal(out.data_stream_url, "wss://stream.example.com/data");
  alpaca_conf_wipe(&out);

  /* an empty env value counts as unset */
  const char *const empty[] = {"APCA_API_KEY_ID=PKTEST123",
                               "APCA_API_SECRET_KEY=" SECRET,
                               "APCA_API_BASE_URL=", NULL};
  resolve_ok(NULL, empty, &out);
  assert_string_equal(out.trading_url, "https://paper-api.alpaca.markets");
  alpaca_conf_wipe(&out);
}

static void test_resolve_loopback_rule(void **st) {
  (void)st;
  static const char *const ok[] = {
      "http://127.0.0.1",       "http://127.255.0.9:80", "http://localhost:1",
      "http://LOCALHOST",       "http://[::1]:8080",     "HTTPS://Example.com",
      "https://10.1.2.3:8443/x"};
  static const char *const bad[] = {"http://10.0.0.1",
                                    "http://128.0.0.1",
                                    "http://[::2]",
                                    "http://localhost.evil.com",
                                    "http://127.0.0.1.nip.io",
                                    "http://paper-api.alpaca.markets"};
  char err[ERRCAP];
  for (size_t i = 0; i < DTO_ARRAY_LEN(ok); i++) {
    int rc = alpaca_url_check(ok[i], ALPACA_URL_REST, err, sizeof err);
    if (rc)
      print_error("%s: %s\n", ok[i], err);
    assert_int_equal(rc, 0);
  }
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    assert_int_equal(alpaca_url_check(bad[i], ALPACA_URL_REST, err, sizeof err),
                     DTO_EINVAL);
    assert_non_null(strstr(err, "no TLS"));
  }
  assert_int_equal(alpaca_url_check("ws://127.0.0.1:1/s", ALPACA_URL_STREAM,
                                    err, sizeof err),
                   0);
  assert_int_equal(
      alpaca_url_check("https://x.com", ALPACA_URL_STREAM, err, sizeof err),
      DTO_EINVAL);
  assert_int_equal(
      alpaca_url_check("wss://x.com", ALPACA_URL_REST, err, sizeof err),
      DTO_EINVAL);
  static const char *const malformed[] = {"",
                                          "paper-api.alpaca.markets",
                                          "https://",
                                          "https://:80",
                                          "https://h:0",
                                          "https://h:70000",
                                          "https://h:",
                                          "https://[::1",
                                          "https://h/a b",
                                          "https://h/?q=1",
                                          "https://h#f"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(malformed); i++) {
    if (alpaca_url_check(malformed[i], ALPACA_URL_REST, err, sizeof err) !=
        DTO_EINVAL)
      print_error("accepted: '%s'\n", malformed[i]);
    assert_int_equal(
        alpaca_url_check(malformed[i], ALPACA_URL_REST, err, sizeof err),
        DTO_EINVAL);
  }

  /* through the environment too, naming the variable */
  const char *const env[] = {
      "APCA_API_KEY_ID=PKTEST123", "APCA_API_SECRET_KEY=" SECRET,
      "APCA_API_BASE_URL=http://paper-api.alpaca.markets", NULL};
  resolve_err(NULL, env, DTO_EINVAL, "APCA_API_BASE_URL: ");
  resolve_err(NULL, env, DTO_EINVAL, "no TLS");
  const char *const denv[] = {"APCA_API_KEY_ID=PKTEST123",
                              "APCA_API_SECRET_KEY=" SECRET,
                              "APCA_API_DATA_URL=http://192.168.1.2", NULL};
  resolve_err(NULL, denv, DTO_EINVAL, "APCA_API_DATA_URL: ");
  /* a file value that bypassed the loader is checked again */
  cfg_alpaca c;
  config_alpaca_defaults(&c);
  c.stream_url = "ws://stream.example.com";
  resolve_err(&c, keys_env, DTO_EINVAL, "alpaca.stream_url: ");
}

static void test_resolve_live_rule(void **st) {
  (void)st;
  cfg_alpaca c;
  config_alpaca_defaults(&c);
  /* the env cannot switch a paper configuration to the live host */
  const char *const live_env[] = {
      "APCA_API_KEY_ID=PKTEST123", "APCA_API_SECRET_KEY=" SECRET,
      "APCA_API_BASE_URL=https://api.alpaca.markets", NULL};
  resolve_err(&c, live_env, DTO_EINVAL, "live trading host");
  resolve_err(&c, live_env, DTO_EINVAL, "APCA_API_BASE_URL");
  /* nor is live: true satisfied by the paper host */
  c.live = true;
  const char *const paper_env[] = {
      "APCA_API_KEY_ID=PKTEST123", "APCA_API_SECRET_KEY=" SECRET,
      "APCA_API_BASE_URL=https://PAPER-API.alpaca.markets", NULL};
  resolve_err(&c, paper_env, DTO_EINVAL, "paper trading host");
  alpaca_conf out;
  resolve_ok(&c, live_env, &out);
  assert_true(out.live);
  alpaca_conf_wipe(&out);
  /* the stream URL obeys the rule as well */
  c.stream_url = "wss://paper-api.alpaca.markets/stream";
  resolve_err(&c, keys_env, DTO_EINVAL, "alpaca.stream_url: ");
  c.live = false;
  c.stream_url = "wss://api.alpaca.markets/stream";
  resolve_err(&c, keys_env, DTO_EINVAL, "live trading host");
  /* another host (a mock, a proxy) is allowed either way */
  c.stream_url = NULL;
  c.trading_url = "http://127.0.0.1:1234";
  resolve_ok(&c, keys_env, &out);
  alpaca_conf_wipe(&out);
  c.live = true;
  resolve_ok(&c, keys_env, &out);
  alpaca_conf_wipe(&out);
}

static void test_resolve_keys(void **st) {
  (void)st;
  const char *const none[] = {NULL};
  resolve_err(NULL, none, DTO_ECONFIG, "APCA_API_KEY_ID is not set");
  const char *const no_secret[] = {"APCA_API_KEY_ID=PK1", NULL};
  resolve_err(NULL, no_secret, DTO_ECONFIG, "APCA_API_SECRET_KEY is not set");
  const char *const empty_secret[] = {"APCA_API_KEY_ID=PK1",
                                      "APCA_API_SECRET_KEY=", NULL};
  resolve_err(NULL, empty_secret, DTO_ECONFIG,
              "APCA_API_SECRET_KEY is not set");
  /* a line break would smuggle a header: refused, the value not quoted */
  const char *const crlf[] = {"APCA_API_KEY_ID=PK1",
                              "APCA_API_SECRET_KEY=" SECRET "\r\nX-Evil: 1",
                              NULL};
  resolve_err(NULL, crlf, DTO_ECONFIG, "APCA_API_SECRET_KEY holds a space");
  char longkey[300];
  snprintf(longkey, sizeof longkey, "APCA_API_SECRET_KEY=" SECRET "%0200d", 7);
  const char *const toolong[] = {"APCA_API_KEY_ID=PK1", longkey, NULL};
  resolve_err(NULL, toolong, DTO_ECONFIG,
              "APCA_API_SECRET_KEY is longer than 127");
  /* a name that only starts like the variable does not count */
  const char *const prefix[] = {"APCA_API_KEY_ID_X=PK1", "APCA_API_KEY_ID=PK2",
                                "APCA_API_SECRET_KEY=" SECRET, NULL};
  alpaca_conf out;
  resolve_ok(NULL, prefix, &out);
  assert_string_equal(out.key_id, "PK2");
  alpaca_conf_wipe(&out);
}

static void test_resolve_getenv(void **st) {
  (void)st;
  /* NULL envp reads the process environment */
  setenv("APCA_API_KEY_ID", "PKENV", 1);
  setenv("APCA_API_SECRET_KEY", SECRET, 1);
  unsetenv("APCA_API_BASE_URL");
  unsetenv("APCA_API_DATA_URL");
  alpaca_conf out;
  resolve_ok(NULL, NULL, &out);
  assert_string_equal(out.key_id, "PKENV");
  alpaca_conf_wipe(&out);
  unsetenv("APCA_API_SECRET_KEY");
  resolve_err(NULL, NULL, DTO_ECONFIG, "APCA_API_SECRET_KEY is not set");
  unsetenv("APCA_API_KEY_ID");
}

static void test_http_conf(void **st) {
  (void)st;
  alpaca_conf out;
  http_conf h;
  resolve_ok(NULL, keys_env, &out);
  alpaca_http_conf(&out, false, &h);
  assert_string_equal(h.base_url, "https://paper-api.alpaca.markets");
  assert_int_equal(h.nheaders, 2);
  assert_string_equal(h.headers[0].name, "APCA-API-KEY-ID");
  assert_string_equal(h.headers[0].value, "PKTEST123");
  assert_string_equal(h.headers[1].name, "APCA-API-SECRET-KEY");
  assert_int_equal(h.connect_timeout, 5 * DTO_NS_PER_SEC);
  assert_int_equal(h.rate_limit_per_min, 190);
  alpaca_http_conf(&out, true, &h);
  assert_string_equal(h.base_url, "https://data.alpaca.markets");
  alpaca_conf_wipe(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_section_absent_defaults),
      cmocka_unit_test(test_section_all_keys),
      cmocka_unit_test(test_section_refuses_keys),
      cmocka_unit_test(test_section_errors),
      cmocka_unit_test(test_resolve_defaults),
      cmocka_unit_test(test_resolve_env_overrides),
      cmocka_unit_test(test_resolve_loopback_rule),
      cmocka_unit_test(test_resolve_live_rule),
      cmocka_unit_test(test_resolve_keys),
      cmocka_unit_test(test_resolve_getenv),
      cmocka_unit_test(test_http_conf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
