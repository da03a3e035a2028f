/* test_config.c - the YAML configuration loader: the example file loads,
 * defaults, path resolution, every class of error with its exact
 * "FILE:LINE:COLUMN: message", the size and depth caps, and (under ASan) no
 * leak on any error path. */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/config.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"

#define ERRCAP 512

static int load(const char *yaml, dto_config *cfg, char *err) {
  return config_load_mem("t.yaml", yaml, strlen(yaml), "/cfg", cfg, err,
                         ERRCAP);
}

/* A released config holds nothing. */
static void assert_released(const dto_config *cfg) {
  assert_null(cfg->path);
  assert_null(cfg->dir);
  assert_null(cfg->accounts);
  assert_int_equal(cfg->naccounts, 0);
  assert_null(cfg->instruments.v);
  assert_null(cfg->data);
  assert_null(cfg->strategies);
  assert_int_equal(cfg->nstrategies, 0);
  assert_null(cfg->backtest.out_dir);
  assert_null(cfg->run.state_dir);
  assert_null(cfg->run.store);
  assert_int_equal(cfg->run.on_stop, ON_STOP_CANCEL);
}

static void expect_error(const char *yaml, const char *msg) {
  dto_config cfg;
  char err[ERRCAP];
  int rc = load(yaml, &cfg, err);
  if (rc != DTO_ECONFIG || strcmp(err, msg))
    print_error("config:\n%s\nwant: %s\ngot:  %s (rc %d)\n", yaml, msg, err,
                rc);
  assert_int_equal(rc, DTO_ECONFIG);
  assert_string_equal(err, msg);
  assert_released(&cfg);
}

static void expect_ok(const char *yaml, dto_config *cfg) {
  char err[ERRCAP];
  int rc = load(yaml, cfg, err);
  if (rc)
    print_error("config:\n%s\nunexpected error: %s\n", yaml, err);
  assert_int_equal(rc, 0);
}

/* Lines 1-6: one account, two instruments.  Appended text starts at line 7. */
#define BASE                                                                   \
  "accounts:\n"                                                                \
  "  - id: main\n"                                                             \
  "    cash: 100000\n"                                                         \
  "instruments:\n"                                                             \
  "  - symbol: AAPL\n"                                                         \
  "  - symbol: MSFT\n"

typedef struct bad {
  const char *yaml;
  const char *msg;
} bad;

/* Each error class, with the exact message.  Walking them all under ASan
 * also proves every error path frees what it allocated. */
static const bad bad_configs[] = {
    /* brokers and the live feed */
    {"accounts:\n  - {id: a, cash: 1, broker: alpaca}\n"
     "  - {id: b, cash: 1, broker: paper}\n",
     "t.yaml:3:30: 'broker': every account of a configuration trades "
     "through the same broker ('paper' here, 'alpaca' for account 'a')"},
    {"accounts:\n  - {id: a, cash: 1, broker: alpaca}\nrun: {feed: replay}\n",
     "t.yaml:3:13: 'feed': accounts that trade through Alpaca take Alpaca's "
     "live market data: use 'alpaca' (or leave it out)"},
    {BASE "run: {feed: alpaca}\n",
     "t.yaml:7:13: 'feed': 'alpaca' needs accounts with 'broker: alpaca'"},
    {BASE "alpaca: {reconcile_interval: 500ms}\n",
     "t.yaml:7:30: 'reconcile_interval': must be at least 1s"},
    {BASE "alpaca: {stale_after: 0s}\n",
     "t.yaml:7:23: 'stale_after': must be at least 1s"},
    /* risk */
    {BASE "risk:\n  defaults:\n    max_order_qty: -1\n",
     "t.yaml:9:20: 'max_order_qty': must be at least 0"},
    {BASE "risk:\n  defaults:\n    max_qty: 5\n",
     "t.yaml:9:5: unknown key 'max_qty' in 'risk.defaults'"},
    {BASE "risk:\n  accounts:\n    nobody: {max_gross: 5}\n",
     "t.yaml:9:5: 'risk.accounts': unknown account 'nobody'"},
    {BASE "risk:\n  symbols:\n    TSLA: {restricted: true}\n",
     "t.yaml:9:5: 'risk.symbols': unknown symbol 'TSLA'"},
    {BASE "risk:\n  symbols:\n    AAPL: {max_gross: 5}\n",
     "t.yaml:9:12: unknown key 'max_gross' in 'risk.symbols' 'AAPL'"},
    {BASE "risk:\n  accounts:\n    main: {collar_pct: 101}\n",
     "t.yaml:9:24: 'collar_pct': must be between 0 and 100"},
    {BASE "risk:\n  accounts:\n    main: {max_orders_per_second: 5000}\n",
     "t.yaml:9:35: 'max_orders_per_second': must be between 0 and 4096"},
    {BASE "risk:\n  restricted: [TSLA]\n",
     "t.yaml:8:16: 'restricted': unknown instrument 'TSLA'"},

    /* unknown keys */
    {"foo: 1\n" BASE, "t.yaml:1:1: unknown key 'foo' at top level"},
    {BASE "fill:\n  slipage_bps: 1\n",
     "t.yaml:8:3: unknown key 'slipage_bps' in 'fill'"},
    {"accounts:\n  - id: main\n    csh: 1\n",
     "t.yaml:3:5: unknown key 'csh' in 'accounts' entry"},
    {BASE "  - {symbol: X, tik: 1}\n",
     "t.yaml:7:17: unknown key 'tik' in 'instruments' entry"},
    {BASE "data:\n  - {path: a, sym: AAPL}\n",
     "t.yaml:8:15: unknown key 'sym' in 'data' entry"},
    {BASE "strategies:\n  - {id: s, kind: orb}\n",
     "t.yaml:8:13: unknown key 'kind' in 'strategies' entry"},
    {BASE "fees:\n  per_trade: 1\n",
     "t.yaml:8:3: unknown key 'per_trade' in 'fees'"},
    {BASE "backtest:\n  until: 2025-01-01\n",
     "t.yaml:8:3: unknown key 'until' in 'backtest'"},
    {BASE "run:\n  mode: fast\n", "t.yaml:8:3: unknown key 'mode' in 'run'"},
    {"\"a\\nb\": 1\n", "t.yaml:1:1: unknown key 'a?b' at top level"},
    {"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk: 1\n",
     "t.yaml:1:1: unknown key "
     "'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk' at "
     "top "
     "level"},
    {"? [a]\n: 1\n", "t.yaml:1:3: keys must be strings at top level"},

    /* duplicate keys */
    {"accounts:\n  - id: main\n    cash: 1\n    cash: 2\n",
     "t.yaml:4:5: duplicate key 'cash' in 'accounts' entry (first at line 3)"},
    {BASE "accounts: []\n",
     "t.yaml:7:1: duplicate key 'accounts' at top level (first at line 1)"},
    {BASE "fill:\n  seed: 1\n  seed: 2\n",
     "t.yaml:9:3: duplicate key 'seed' in 'fill' (first at line 8)"},

    /* duplicate ids */
    {"accounts:\n  - id: main\n  - id: main\n",
     "t.yaml:3:9: duplicate account id 'main' (first at line 2)"},
    {BASE "  - symbol: AAPL\n",
     "t.yaml:7:13: duplicate instrument 'AAPL' (first at line 5)"},
    {BASE "strategies:\n  - {id: s, type: orb, symbols: [AAPL]}\n"
          "  - {id: s, type: orb, symbols: [AAPL]}\n",
     "t.yaml:9:10: duplicate strategy id 's' (first at line 8)"},

    /* dangling references */
    {BASE
     "strategies:\n  - {id: s, type: orb, account: nope, symbols: [AAPL]}\n",
     "t.yaml:8:33: 'account': unknown account 'nope'"},
    {BASE "strategies:\n  - {id: s, type: orb, symbols: [AAPL, TSLA]}\n",
     "t.yaml:8:40: 'symbols': unknown instrument 'TSLA'"},
    {BASE "data:\n  - path: a.csv\n    symbol: TSLA\n",
     "t.yaml:9:13: 'symbol': unknown instrument 'TSLA'"},
    {BASE "strategies:\n  - id: s1\n    type: foo\n",
     "t.yaml:9:11: unknown strategy 'foo' (known: ma_crossover, orb, "
     "vwap_reversion)"},

    /* missing or empty required things */
    {"", "t.yaml:1:1: the configuration is empty; it needs at least an "
         "'accounts' list"},
    {"# nothing here\n", "t.yaml:1:1: the configuration is empty; it needs at "
                         "least an 'accounts' list"},
    {"log_level: info\n", "t.yaml:1:1: missing required key 'accounts' at top "
                          "level"},
    {"accounts: []\n",
     "t.yaml:1:11: 'accounts': at least one account is required"},
    {"accounts:\n",
     "t.yaml:1:10: 'accounts': at least one account is required"},
    {"accounts:\n  - cash: 1\n",
     "t.yaml:2:5: missing required key 'id' in 'accounts' entry"},
    {BASE "  - {tick: 1}\n",
     "t.yaml:7:5: missing required key 'symbol' in 'instruments' entry"},
    {BASE "data:\n  - symbol: AAPL\n",
     "t.yaml:8:5: missing required key 'path' in 'data' entry"},
    {BASE "strategies:\n  - {id: s}\n",
     "t.yaml:8:5: missing required key 'type' in 'strategies' entry"},
    {BASE "strategies:\n  - {type: orb}\n",
     "t.yaml:8:5: missing required key 'id' in 'strategies' entry"},
    {BASE "strategies:\n  - {id: s, type: orb}\n",
     "t.yaml:8:5: missing required key 'symbols' in 'strategies' entry"},
    {BASE "strategies:\n  - {id: s, type: orb, symbols: []}\n",
     "t.yaml:8:33: 'symbols': at least one symbol is required"},
    {"accounts:\n  - {id: a, cash: 1}\n  - {id: b, cash: 1}\ninstruments:\n"
     "  - symbol: X\nstrategies:\n  - {id: s, type: orb, symbols: [X]}\n",
     "t.yaml:7:5: missing required key 'account' in 'strategies' entry (needed "
     "when there is more than one account)"},

    /* wrong types */
    {"accounts:\n  - id: main\n    cash: lots\n",
     "t.yaml:3:11: 'cash': expected a decimal number"},
    {"accounts:\n  - id: main\n    cash:\n",
     "t.yaml:3:10: 'cash': expected a decimal number"},
    {"accounts:\n  - id: main\n    cash: 1e5\n",
     "t.yaml:3:11: 'cash': expected a decimal number"},
    {"accounts:\n  - {id: a, allow_short: yes}\n",
     "t.yaml:2:26: 'allow_short': expected true or false"},
    {"accounts:\n  - {id: a, allow_extended_hours: [true]}\n",
     "t.yaml:2:35: 'allow_extended_hours': expected true or false"},
    {"accounts: main\n", "t.yaml:1:11: 'accounts': expected a list"},
    {"accounts:\n  - main\n",
     "t.yaml:2:5: 'accounts' entry: expected a mapping"},
    {"- a\n", "t.yaml:1:1: top level: expected a mapping of sections such as "
              "'accounts' and 'strategies'"},
    {"hello\n", "t.yaml:1:1: top level: expected a mapping of sections such as "
                "'accounts' and 'strategies'"},
    {BASE "fill: [1]\n", "t.yaml:7:7: 'fill': expected a mapping"},
    {BASE "fees: 3\n", "t.yaml:7:7: 'fees': expected a mapping"},
    {BASE "strategies:\n  - {id: s, type: orb, symbols: AAPL}\n",
     "t.yaml:8:33: 'symbols': expected a list"},
    {BASE "strategies:\n  - {id: s, type: orb, symbols: [AAPL], enabled: on}\n",
     "t.yaml:8:50: 'enabled': expected true or false"},
    {BASE "strategies:\n  - {id: s, type: orb, symbols: [AAPL], params: [1]}\n",
     "t.yaml:8:49: 'params': expected a mapping"},
    {BASE "strategies:\n  - {id: s, type: [orb], symbols: [AAPL]}\n",
     "t.yaml:8:19: 'type': expected a string"},
    {BASE "run:\n  state_dir: {a: 1}\n",
     "t.yaml:8:14: 'state_dir': expected a string"},
    /* run.journal was documented and never read: it is gone */
    {BASE "run:\n  journal: j.db\n",
     "t.yaml:8:3: unknown key 'journal' in 'run'"},
    {BASE "run:\n  on_stop: pause\n",
     "t.yaml:8:12: 'on_stop': unknown value 'pause' (known: cancel, keep)"},
    {BASE "run:\n  speed: fast\n", "t.yaml:8:10: 'speed': expected a number"},
    {BASE "run:\n  speed: 0x10\n", "t.yaml:8:10: 'speed': expected a number"},
    {BASE "run:\n  speed: nan\n", "t.yaml:8:10: 'speed': expected a number"},
    {BASE "run:\n  gen_days: 1.5\n",
     "t.yaml:8:13: 'gen_days': expected an integer"},
    {BASE "fill:\n  seed: -1\n",
     "t.yaml:8:9: 'seed': expected an unsigned integer"},
    {BASE "fill:\n  seed: ''\n",
     "t.yaml:8:9: 'seed': expected an unsigned integer"},
    {BASE "fill:\n  latency: soon\n",
     "t.yaml:8:12: 'latency': expected a duration such as 500ms, 1s or 5m"},
    {BASE "backtest:\n  from: yesterday\n",
     "t.yaml:8:9: 'from': expected a date or time such as 2025-01-06 or "
     "2025-01-06T14:30:00Z"},

    /* bad values and ranges */
    {"accounts:\n  - id: Main\n",
     "t.yaml:2:9: 'id': 'Main' is not a valid id (1 to 31 characters of a-z, "
     "0-9 and '_')"},
    {"accounts:\n  - id: abcdefghijklmnopqrstuvwxyz012345\n",
     "t.yaml:2:9: 'id': 'abcdefghijklmnopqrstuvwxyz012345' is not a valid id "
     "(1 to 31 characters of a-z, 0-9 and '_')"},
    {"accounts:\n  - id: mac-aapl\n",
     "t.yaml:2:9: 'id': 'mac-aapl' is not a valid id (1 to 31 characters of "
     "a-z, 0-9 and '_')"},
    {"accounts:\n  - id: ''\n",
     "t.yaml:2:9: 'id': '' is not a valid id (1 to 31 characters of a-z, 0-9 "
     "and '_')"},
    {"accounts:\n  - id: a\n    cash: -1\n",
     "t.yaml:3:11: 'cash': must be at least 0"},
    {"accounts:\n  - id: a\n    cash: 99999999999999999999\n",
     "t.yaml:3:11: 'cash': number too large"},
    {BASE "  - symbol: aapl\n",
     "t.yaml:7:13: 'symbol': 'aapl' is not a valid symbol (1 to 15 characters "
     "of A-Z, 0-9, '.', '-' and '/')"},
    {BASE "  - {symbol: X, currency: usd}\n",
     "t.yaml:7:27: 'currency': expected a 3-letter upper-case code such as "
     "USD"},
    {BASE "  - {symbol: X, tick: 0}\n",
     "t.yaml:7:23: 'tick': must be greater than 0"},
    {BASE "  - {symbol: X, lot: -1}\n",
     "t.yaml:7:22: 'lot': must be greater than 0"},
    {BASE "  - {symbol: X, asset_class: bond}\n",
     "t.yaml:7:30: 'asset_class': unknown value 'bond' (known: equity, "
     "crypto)"},
    {BASE "  - {symbol: X, calendar: lse}\n",
     "t.yaml:7:27: 'calendar': unknown value 'lse' (known: us_equity, "
     "crypto, fx)"},
    {BASE "data:\n  - path: ''\n", "t.yaml:8:11: 'path': must not be empty"},
    {BASE "data:\n  - {path: a, kind: quotes}\n",
     "t.yaml:8:21: 'kind': unknown value 'quotes' (known: bars, trades)"},
    {BASE "strategies:\n"
          "  - {id: s, type: orb, symbols: [AAPL], allocation: 100001}\n",
     "t.yaml:8:53: 'allocation': must be greater than 0 and at most the cash "
     "of account 'main' (100000)"},
    {BASE "strategies:\n"
          "  - {id: s, type: orb, symbols: [AAPL], allocation: 0}\n",
     "t.yaml:8:53: 'allocation': must be greater than 0 and at most the cash "
     "of account 'main' (100000)"},
    {"accounts:\n  - id: a\ninstruments:\n  - symbol: X\nstrategies:\n"
     "  - {id: s, type: orb, symbols: [X]}\n",
     "t.yaml:6:5: 'allocation': must be greater than 0 and at most the cash "
     "of account 'a' (0)"},
    {BASE "strategies:\n  - {id: s, type: orb, symbols: [AAPL, AAPL]}\n",
     "t.yaml:8:40: 'symbols': 'AAPL' is listed twice"},
    {BASE "fill:\n  max_volume_share: 0\n",
     "t.yaml:8:21: 'max_volume_share': must be greater than 0 and at most 1"},
    {BASE "fill: {max_volume_share: 1.5}\n",
     "t.yaml:7:26: 'max_volume_share': must be greater than 0 and at most 1"},
    {BASE "fill:\n  slippage_bps: 2000\n",
     "t.yaml:8:17: 'slippage_bps': must be between 0 and 1000"},
    {BASE "fill:\n  slippage_bps: -1\n",
     "t.yaml:8:17: 'slippage_bps': must be between 0 and 1000"},
    {BASE "fill:\n  model: vwap\n",
     "t.yaml:8:10: 'model': unknown value 'vwap' (known: next_bar_open, "
     "bar_close, trade)"},
    {BASE "fill:\n  latency_kind: normal\n",
     "t.yaml:8:17: 'latency_kind': unknown value 'normal' (known: fixed, "
     "random)"},
    {BASE "fill:\n  latency: 61s\n",
     "t.yaml:8:12: 'latency': must be between 0 and 60s"},
    {BASE "fill:\n  latency: -1s\n",
     "t.yaml:8:12: 'latency': must be between 0 and 60s"},
    {BASE "fill:\n  latency_kind: random\n  latency: 5ms\n  latency_max: 1ms\n",
     "t.yaml:10:16: 'latency_max': must not be less than 'latency' when "
     "latency_kind is random"},
    {BASE "fill:\n  seed: 18446744073709551616\n",
     "t.yaml:8:9: 'seed': must be at most 18446744073709551615"},
    {BASE "fees:\n  per_share: -0.01\n",
     "t.yaml:8:14: 'per_share': must be at least 0"},
    {BASE "fees:\n  min_per_order: -1\n",
     "t.yaml:8:18: 'min_per_order': must be at least 0"},
    {BASE "fees:\n  max_pct: 101\n",
     "t.yaml:8:12: 'max_pct': must be between 0 and 100"},
    {BASE "backtest:\n  from: 2025-01-06\n  to: 2025-01-06\n",
     "t.yaml:9:7: 'to': must be after 'from'"},
    {BASE "run:\n  feed: live\n",
     "t.yaml:8:9: 'feed': unknown value 'live' (known: replay, generate, alpaca)"},
    {BASE "run:\n  speed: -1\n",
     "t.yaml:8:10: 'speed': must be between 0 and 1000000"},
    {BASE "run:\n  gen_days: 0\n",
     "t.yaml:8:13: 'gen_days': must be between 1 and 366"},
    {BASE "run:\n  gen_days: 99999999999999999999\n",
     "t.yaml:8:13: 'gen_days': must be between 1 and 366"},
    {BASE "run:\n  gen_seed: x\n",
     "t.yaml:8:13: 'gen_seed': expected an unsigned integer"},
    {"log_level: loud\n" BASE,
     "t.yaml:1:12: 'log_level': unknown value 'loud' (known: debug, info, "
     "warn, error, off)"},

    /* YAML itself */
    {"accounts: a: b\n",
     "t.yaml:1:12: mapping values are not allowed in this context"},
    {"accounts: [a, b\n",
     "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow "
     "sequence at line 1, column 11)"},
    {"accounts:\n  - id: a\n bad\n",
     "t.yaml:3:2: did not find expected key (while parsing a block mapping at "
     "line 1, column 1)"},
    {"log_level: \"info\n",
     "t.yaml:2:1: found unexpected end of stream (while scanning a quoted "
     "scalar at line 1, column 12)"},
    {"log_level: \xff\n", "t.yaml:1:12: invalid leading UTF-8 octet"},
    {"log_level: \"a\\0b\"\n", "t.yaml:1:12: NUL characters are not allowed"},
    {BASE "fill: &x {seed: 1}\nfees: *x\n",
     "t.yaml:8:7: aliases (*x) are not supported"},
    {BASE "---\nlog_level: info\n",
     "t.yaml:7:1: only one YAML document is allowed"},
};

static void test_bad_configs(void **state) {
  (void)state;
  size_t failed = 0;
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad_configs); i++) {
    dto_config cfg;
    char err[ERRCAP];
    int rc = load(bad_configs[i].yaml, &cfg, err);
    if (rc != DTO_ECONFIG || strcmp(err, bad_configs[i].msg)) {
      print_error("config:\n%s\nwant: %s\ngot:  %s (rc %d)\n",
                  bad_configs[i].yaml, bad_configs[i].msg, err, rc);
      failed++;
    }
    assert_released(&cfg);
  }
  assert_int_equal(failed, 0);
}

/* The strategy parameters: errors are reported at the value, with
 * param_parse()'s reason. */
static void test_params(void **state) {
  (void)state;
  const strategy_def *def = strategy_find("ma_crossover");
  assert_non_null(def);
  assert_true(def->nparams > 0);
  const param_spec *sp = &def->params[0];
  char yaml[1024], msg[ERRCAP], known[256] = "";
  size_t len = 0;
  for (size_t i = 0; i < def->nparams; i++)
    len += (size_t)snprintf(known + len, sizeof known - len, "%s%s",
                            i ? ", " : "", def->params[i].name);

  /* Line 8; "  - {id: s, type: ma_crossover, symbols: [AAPL], params: {" is
   * 58 characters, so the first key is at column 59. */
  snprintf(yaml, sizeof yaml,
           BASE "strategies:\n  - {id: s, type: ma_crossover, symbols: "
                "[AAPL], params: {nosuch: 3}}\n");
  snprintf(msg, sizeof msg,
           "t.yaml:8:59: unknown parameter 'nosuch' for strategy type "
           "'ma_crossover' (known: %s)",
           known);
  expect_error(yaml, msg);

  /* A value no parameter type accepts: at the value's column. */
  snprintf(yaml, sizeof yaml,
           BASE "strategies:\n  - {id: s, type: ma_crossover, symbols: "
                "[AAPL], params: {%s: zz!}}\n",
           sp->name);
  param_value pv;
  char reason[160];
  assert_int_not_equal(param_parse(sp, "zz!", &pv, reason, sizeof reason), 0);
  snprintf(msg, sizeof msg, "t.yaml:8:%zu: '%s': %s", 59 + strlen(sp->name) + 2,
           sp->name, reason);
  expect_error(yaml, msg);

  snprintf(yaml, sizeof yaml,
           BASE "strategies:\n  - {id: s, type: ma_crossover, symbols: "
                "[AAPL], params: {%s: [1]}}\n",
           sp->name);
  snprintf(msg, sizeof msg, "t.yaml:8:%zu: '%s': expected a single value",
           59 + strlen(sp->name) + 2, sp->name);
  expect_error(yaml, msg);

  /* Duplicate parameter: reported at the second key. */
  snprintf(
      yaml, sizeof yaml,
      BASE "strategies:\n  - id: s\n    type: ma_crossover\n"
           "    symbols: [AAPL]\n    params:\n      %s: %s\n      %s: %s\n",
      sp->name, sp->def ? sp->def : "1", sp->name, sp->def ? sp->def : "1");
  snprintf(msg, sizeof msg,
           "t.yaml:13:7: duplicate key '%s' in 'params' (first at line 12)",
           sp->name);
  expect_error(yaml, msg);

  /* The strategy's own cross-parameter check, reported at 'params'
   * (column 58 is its '{'). */
  int fast = param_find(def->params, def->nparams, "fast");
  int slow = param_find(def->params, def->nparams, "slow");
  assert_true(fast >= 0 && slow >= 0);
  assert_non_null(def->validate);
  param_value vals[64];
  assert_true(def->nparams <= 64);
  param_defaults(def->params, def->nparams, vals);
  vals[fast].u.i = 30;
  vals[slow].u.i = 10;
  const char *why = def->validate(vals);
  assert_non_null(why);
  snprintf(msg, sizeof msg, "t.yaml:8:58: strategy 's': %s", why);
  expect_error(BASE "strategies:\n  - {id: s, type: ma_crossover, symbols: "
                    "[AAPL], params: {fast: 30, slow: 10}}\n",
               msg);

  /* Numeric parameters: one past the top of the range. */
  for (size_t i = 0; i < def->nparams; i++) {
    const param_spec *p = &def->params[i];
    if (p->type != PARAM_INT || p->max >= 1e15)
      continue;
    char text[64];
    snprintf(text, sizeof text, "%lld", (long long)p->max + 1);
    assert_int_equal(param_parse(p, text, &pv, reason, sizeof reason),
                     DTO_ERANGE);
    snprintf(yaml, sizeof yaml,
             BASE "strategies:\n  - id: s\n    type: ma_crossover\n"
                  "    symbols: [AAPL]\n    params:\n      %s: %s\n",
             p->name, text);
    snprintf(msg, sizeof msg, "t.yaml:12:%zu: '%s': %s",
             7 + strlen(p->name) + 2, p->name, reason);
    expect_error(yaml, msg);
  }
}

/* Unset parameters get their defaults (set == false); given ones are
 * parsed and marked set. */
static void test_params_defaults(void **state) {
  (void)state;
  const strategy_def *def = strategy_find("ma_crossover");
  assert_non_null(def);
  dto_config cfg;
  expect_ok(BASE "strategies:\n  - {id: s, type: ma_crossover, symbols: "
                 "[AAPL], params: {fast: 7, slow: 40}}\n"
                 "  - {id: t, type: ma_crossover, symbols: [MSFT]}\n",
            &cfg);
  int fast = param_find(def->params, def->nparams, "fast");
  int slow = param_find(def->params, def->nparams, "slow");
  assert_true(fast >= 0 && slow >= 0);
  assert_int_equal(cfg.strategies[0].params[fast].u.i, 7);
  assert_true(cfg.strategies[0].params[fast].set);
  assert_int_equal(cfg.strategies[0].params[slow].u.i, 40);
  param_value defs[64];
  assert_true(def->nparams <= 64);
  assert_int_equal(param_defaults(def->params, def->nparams, defs), -1);
  for (size_t i = 0; i < def->nparams; i++) {
    assert_false(cfg.strategies[1].params[i].set);
    assert_memory_equal(&cfg.strategies[1].params[i].u, &defs[i].u,
                        sizeof defs[i].u);
  }
  config_release(&cfg);
}

/* The production example turns every backup job on; the demo none. */
static void test_production_example(void **state) {
  (void)state;
  dto_config cfg;
  char err[ERRCAP];
  int rc = config_load("config/dto.production.yaml", &cfg, err, sizeof err);
  if (rc)
    print_error("%s\n", err);
  assert_int_equal(rc, 0);
  const cfg_backup *b = &cfg.backup;
  assert_true(b->present);
  assert_string_equal(b->schedule, "0 2 * * * UTC");
  assert_string_equal(b->incremental_schedule, "0 */4 * * * UTC");
  assert_string_equal(b->log_schedule, "every 15m");
  assert_string_equal(b->config_schedule, "0 3 * * * UTC");
  assert_non_null(b->verify_schedule);
  assert_non_null(b->verify_full_schedule);
  assert_non_null(b->drill_schedule);
  assert_int_equal(b->nconfig_files, 1);
  assert_null(b->upload_command);
  assert_int_equal(b->command_timeout_s, 600);
  assert_int_equal(b->log_overdue_after, 45 * DTO_NS_PER_MIN);
  config_release(&cfg);
  assert_int_equal(config_load("config/demo.yaml", &cfg, err, sizeof err), 0);
  assert_false(cfg.backup.present);
  config_release(&cfg);
}

/* The example file in the repository loads and means what its comments
 * say.  Unit tests run from the repository root. */
static void test_example_file(void **state) {
  (void)state;
  dto_config cfg;
  char err[ERRCAP];
  int rc = config_load("config/dto.example.yaml", &cfg, err, sizeof err);
  if (rc)
    print_error("%s\n", err);
  assert_int_equal(rc, 0);
  assert_string_equal(cfg.path, "config/dto.example.yaml");
  assert_string_equal(cfg.dir, "config");
  assert_int_equal(cfg.log_level, LOG_INFO);
  assert_int_equal(cfg.naccounts, 2);
  assert_string_equal(cfg.accounts[0].id, "main");
  assert_int_equal(cfg.accounts[0].cash, fx_from_int(100000));
  assert_false(cfg.accounts[0].allow_short);
  assert_true(cfg.accounts[1].allow_short);

  assert_int_equal(cfg.instruments.n, 5);
  const char *syms[] = {"AAPL", "MSFT", "SPY", "QQQ", "NVDA"};
  for (size_t i = 0; i < 5; i++) {
    const instrument *in = &cfg.instruments.v[i];
    assert_string_equal(in->symbol, syms[i]);
    assert_int_equal(in->asset_class, ASSET_EQUITY);
    assert_int_equal(in->tick, FX_ONE / 100);
    assert_int_equal(in->lot, FX_ONE);
    assert_string_equal(in->currency, "USD");
    assert_ptr_equal(in->cal, calendar_us_equity());
    assert_true(in->shortable);
  }

  assert_int_equal(cfg.ndata, 5);
  assert_string_equal(cfg.data[0].path, "config/../data/sample/AAPL.csv");
  assert_string_equal(cfg.data[0].symbol, "AAPL");
  assert_int_equal(cfg.data[0].kind, CFG_DATA_BARS);
  assert_string_equal(cfg.data[4].path, "config/../data/sample/NVDA.csv");

  assert_int_equal(cfg.nstrategies, 3);
  const cfg_strategy *s = &cfg.strategies[0];
  assert_string_equal(s->id, "mac_aapl_msft");
  assert_ptr_equal(s->def, strategy_find("ma_crossover"));
  assert_int_equal(s->account, 0);
  assert_int_equal(s->nsyms, 2);
  assert_int_equal(s->syms[0], 0);
  assert_int_equal(s->syms[1], 1);
  assert_int_equal(s->allocation, fx_from_int(25000));
  assert_true(s->enabled);
  int fast = param_find(s->def->params, s->def->nparams, "fast");
  assert_true(fast >= 0);
  assert_int_equal(s->params[fast].u.i, 10);
  assert_ptr_equal(cfg.strategies[1].def, strategy_find("orb"));
  assert_ptr_equal(cfg.strategies[2].def, strategy_find("vwap_reversion"));
  assert_int_equal(cfg.strategies[2].account, 1);
  assert_false(cfg.strategies[2].enabled);

  assert_int_equal(cfg.fill.model, FILL_NEXT_BAR_OPEN);
  assert_int_equal(cfg.fill.slippage_bps, FX_ONE);
  assert_int_equal(cfg.fill.max_volume_share, FX_ONE / 10);
  assert_int_equal(cfg.fill.latency_kind, LATENCY_FIXED);
  assert_int_equal(cfg.fees.per_share, FX_ONE / 200);
  assert_int_equal(cfg.fees.min_per_order, FX_ONE);
  assert_int_equal(cfg.fees.max_pct, FX_ONE);
  dto_time t;
  assert_int_equal(time_parse_cstr("2025-01-06", &t), 0);
  assert_int_equal(cfg.backtest.from, t);
  assert_int_equal(time_parse_cstr("2025-01-11", &t), 0);
  assert_int_equal(cfg.backtest.to, t);
  assert_string_equal(cfg.backtest.out_dir, "config/../backtest-out");
  assert_int_equal(cfg.run.feed, FEED_REPLAY);
  assert_true(cfg.run.speed == 60.0);
  assert_int_equal(cfg.run.gen_seed, 42);
  assert_null(cfg.run.state_dir);
  config_release(&cfg);
  assert_released(&cfg);
  config_release(&cfg); /* twice is fine */
}

/* The minimal file of docs/configuration.md and what it says it means. */
static void test_minimal_doc_example(void **state) {
  (void)state;
  dto_config cfg;
  expect_ok("accounts:\n"
            "  - id: main\n"
            "    cash: 100000\n"
            "instruments:\n"
            "  - symbol: SPY\n"
            "data:\n"
            "  - path: ../data/sample/SPY.csv\n"
            "    symbol: SPY\n"
            "strategies:\n"
            "  - id: orb_spy\n"
            "    type: orb\n"
            "    symbols: [SPY]\n",
            &cfg);
  assert_int_equal(cfg.strategies[0].account, 0);
  assert_int_equal(cfg.strategies[0].allocation, fx_from_int(100000));
  assert_true(cfg.strategies[0].enabled);
  assert_string_equal(cfg.data[0].path, "/cfg/../data/sample/SPY.csv");
  assert_int_equal(cfg.fill.model, FILL_NEXT_BAR_OPEN);
  assert_int_equal(cfg.fill.slippage_bps, 0);
  assert_int_equal(cfg.fees.per_share, 0);
  assert_int_equal(cfg.fees.min_per_order, 0);
  config_release(&cfg);
}

static void test_defaults(void **state) {
  (void)state;
  dto_config cfg;
  expect_ok("accounts:\n  - id: a\n", &cfg);
  assert_string_equal(cfg.path, "t.yaml");
  assert_string_equal(cfg.dir, "/cfg");
  assert_int_equal(cfg.log_level, LOG_INFO);
  assert_int_equal(cfg.naccounts, 1);
  assert_int_equal(cfg.accounts[0].cash, 0);
  assert_false(cfg.accounts[0].allow_short);
  assert_false(cfg.accounts[0].allow_extended_hours);
  assert_int_equal(cfg.instruments.n, 0);
  assert_int_equal(cfg.ndata, 0);
  assert_int_equal(cfg.nstrategies, 0);
  assert_int_equal(cfg.fill.model, FILL_NEXT_BAR_OPEN);
  assert_int_equal(cfg.fill.slippage_bps, 0);
  assert_int_equal(cfg.fill.max_volume_share, FX_ONE / 10);
  assert_int_equal(cfg.fill.latency_kind, LATENCY_FIXED);
  assert_int_equal(cfg.fill.latency, 0);
  assert_int_equal(cfg.fill.latency_max, 0);
  assert_int_equal(cfg.fill.seed, 1);
  assert_int_equal(cfg.fees.per_share, 0);
  assert_int_equal(cfg.fees.per_order, 0);
  assert_int_equal(cfg.fees.bps, 0);
  assert_int_equal(cfg.fees.min_per_order, 0);
  assert_int_equal(cfg.fees.max_pct, 0);
  assert_true(cfg.backtest.from == INT64_MIN);
  assert_true(cfg.backtest.to == INT64_MAX);
  assert_null(cfg.backtest.out_dir);
  assert_int_equal(cfg.run.feed, FEED_REPLAY);
  assert_true(cfg.run.speed == 1.0);
  assert_int_equal(cfg.run.gen_seed, 42);
  assert_int_equal(cfg.run.gen_days, 1);
  assert_null(cfg.run.state_dir);

  /* config_defaults() gives the same values without loading anything. */
  dto_config d;
  config_defaults(&d);
  assert_memory_equal(&d.fill, &cfg.fill, sizeof d.fill);
  assert_memory_equal(&d.fees, &cfg.fees, sizeof d.fees);
  assert_memory_equal(&d.backtest, &cfg.backtest, sizeof d.backtest);
  assert_int_equal(d.run.gen_days, cfg.run.gen_days);
  assert_null(d.accounts);
  config_release(&d);
  config_release(&cfg);
}

/* Null sections and lists mean "defaults" and "empty". */
static void test_nulls(void **state) {
  (void)state;
  dto_config cfg;
  expect_ok("accounts:\n  - {id: a, cash: 10}\ninstruments:\ndata: ~\n"
            "strategies: null\nfill:\nfees:\nbacktest:\n  from: null\n"
            "  to:\nrun:\n  state_dir: ~\n",
            &cfg);
  assert_int_equal(cfg.instruments.n, 0);
  assert_int_equal(cfg.ndata, 0);
  assert_int_equal(cfg.nstrategies, 0);
  assert_int_equal(cfg.fill.max_volume_share, FX_ONE / 10);
  assert_true(cfg.backtest.from == INT64_MIN);
  assert_true(cfg.backtest.to == INT64_MAX);
  assert_null(cfg.run.state_dir);
  config_release(&cfg);

  /* A quoted "null" is a string, not null. */
  expect_ok(BASE "run:\n  state_dir: \"null\"\n", &cfg);
  assert_string_equal(cfg.run.state_dir, "/cfg/null");
  config_release(&cfg);
}

/* Every non-default value round-trips into the struct. */
static void test_values(void **state) {
  (void)state;
  dto_config cfg;
  expect_ok("log_level: debug\n"
            "accounts:\n"
            "  - {id: cash_1, cash: \"2500.5\", allow_short: true, "
            "allow_extended_hours: true}\n"
            "  - {id: b_2, cash: 10}\n"
            "instruments:\n"
            "  - {symbol: BTC/USD, asset_class: crypto}\n"
            "  - {symbol: BRK.B, tick: 0.0001, lot: 10, currency: EUR, "
            "calendar: crypto, shortable: false}\n"
            "data:\n"
            "  - {path: /abs/t.csv, kind: trades}\n"
            "  - {path: rel/b.csv, symbol: BRK.B}\n"
            "strategies:\n"
            "  - {id: o, type: orb, account: b_2, symbols: [BRK.B, BTC/USD], "
            "allocation: 10, enabled: false}\n"
            "fill:\n"
            "  model: trade\n  slippage_bps: 2.5\n  max_volume_share: 1\n"
            "  latency: 5ms\n  latency_max: 2s\n  latency_kind: random\n"
            "  seed: 18446744073709551615\n"
            "fees: {per_share: 0.01, per_order: 1.5, bps: 0.3, "
            "min_per_order: 0.35, max_pct: 100}\n"
            "backtest:\n  from: 2025-01-06T14:30:00Z\n  out_dir: out\n"
            "run:\n  feed: generate\n  speed: 0\n  gen_seed: 7\n"
            "  gen_days: 366\n  state_dir: j/state\n",
            &cfg);
  assert_int_equal(cfg.log_level, LOG_DEBUG);
  assert_int_equal(cfg.accounts[0].cash, 250050000000LL);
  assert_true(cfg.accounts[0].allow_short);
  assert_true(cfg.accounts[0].allow_extended_hours);
  const instrument *btc = &cfg.instruments.v[0], *brk = &cfg.instruments.v[1];
  assert_int_equal(btc->asset_class, ASSET_CRYPTO);
  assert_ptr_equal(btc->cal, calendar_crypto());
  assert_int_equal(btc->lot, 1);
  assert_false(btc->shortable);
  assert_int_equal(brk->tick, 10000);
  assert_int_equal(brk->lot, fx_from_int(10));
  assert_string_equal(brk->currency, "EUR");
  assert_ptr_equal(brk->cal, calendar_crypto());
  assert_false(brk->shortable);
  assert_string_equal(cfg.data[0].path, "/abs/t.csv");
  assert_string_equal(cfg.data[0].symbol, "");
  assert_int_equal(cfg.data[0].kind, CFG_DATA_TRADES);
  assert_string_equal(cfg.data[1].path, "/cfg/rel/b.csv");
  assert_string_equal(cfg.data[1].symbol, "BRK.B");
  const cfg_strategy *s = &cfg.strategies[0];
  assert_int_equal(s->account, 1);
  assert_int_equal(s->nsyms, 2);
  assert_int_equal(s->syms[0], 1);
  assert_int_equal(s->syms[1], 0);
  assert_int_equal(s->allocation, fx_from_int(10));
  assert_false(s->enabled);
  assert_int_equal(cfg.fill.model, FILL_TRADE);
  assert_int_equal(cfg.fill.slippage_bps, 250000000);
  assert_int_equal(cfg.fill.max_volume_share, FX_ONE);
  assert_int_equal(cfg.fill.latency, 5 * 1000000LL);
  assert_int_equal(cfg.fill.latency_max, 2 * DTO_NS_PER_SEC);
  assert_int_equal(cfg.fill.latency_kind, LATENCY_RANDOM);
  assert_true(cfg.fill.seed == UINT64_MAX);
  assert_int_equal(cfg.fees.per_share, FX_ONE / 100);
  assert_int_equal(cfg.fees.per_order, 150000000);
  assert_int_equal(cfg.fees.bps, 30000000);
  assert_int_equal(cfg.fees.min_per_order, 35000000);
  assert_int_equal(cfg.fees.max_pct, fx_from_int(100));
  dto_time t;
  assert_int_equal(time_parse_cstr("2025-01-06T14:30:00Z", &t), 0);
  assert_int_equal(cfg.backtest.from, t);
  assert_true(cfg.backtest.to == INT64_MAX);
  assert_string_equal(cfg.backtest.out_dir, "/cfg/out");
  assert_int_equal(cfg.run.feed, FEED_GENERATE);
  assert_true(cfg.run.speed == 0.0);
  assert_int_equal(cfg.run.gen_seed, 7);
  assert_int_equal(cfg.run.gen_days, 366);
  assert_string_equal(cfg.run.state_dir, "/cfg/j/state");
  config_release(&cfg);

  /* Fixed latency ignores a smaller latency_max; omitted latency_max for
   * random equals latency. */
  expect_ok(BASE "fill: {latency: 1s, latency_max: 0ms}\n", &cfg);
  assert_int_equal(cfg.fill.latency, DTO_NS_PER_SEC);
  config_release(&cfg);
  expect_ok(BASE "fill: {latency_kind: random, latency: 2s}\n", &cfg);
  assert_int_equal(cfg.fill.latency_max, 2 * DTO_NS_PER_SEC);
  config_release(&cfg);
}

/* A duplicate 'latency' in the flow mapping above must have been an
 * error; check it separately so the intent is clear. */
static void test_duplicate_in_flow(void **state) {
  (void)state;
  expect_error(BASE "fill: {latency: 0, latency_kind: random, latency: 2s}\n",
               "t.yaml:7:42: duplicate key 'latency' in 'fill' (first at "
               "line 7)");
}

static void test_paths(void **state) {
  (void)state;
  static const struct {
    const char *dir, *path, *want;
  } cases[] = {
      {"/cfg", "a.csv", "/cfg/a.csv"},
      {"/cfg/", "a.csv", "/cfg/a.csv"},
      {"cfg", "../data/a.csv", "cfg/../data/a.csv"},
      {"/", "a.csv", "/a.csv"},
      {".", "a.csv", "a.csv"},
      {NULL, "sub/a.csv", "sub/a.csv"},
      {"", "a.csv", "a.csv"},
      {"/cfg", "/abs/a.csv", "/abs/a.csv"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++) {
    char yaml[256], err[ERRCAP];
    dto_config cfg;
    snprintf(yaml, sizeof yaml, "accounts: [{id: a}]\ndata: [{path: '%s'}]\n",
             cases[i].path);
    int rc = config_load_mem("x.yaml", yaml, strlen(yaml), cases[i].dir, &cfg,
                             err, sizeof err);
    assert_int_equal(rc, 0);
    assert_string_equal(cfg.data[0].path, cases[i].want);
    config_release(&cfg);
  }
}

/* config_load: paths resolve against the file's folder; I/O errors. */
static void test_load_file(void **state) {
  (void)state;
  char dir[] = "/tmp/dto-config-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char sub[64], file[96], err[ERRCAP];
  snprintf(sub, sizeof sub, "%s/sub", dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  snprintf(file, sizeof file, "%s/dto.yaml", sub);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fputs("accounts: [{id: a}]\ndata: [{path: ../d.csv}]\n"
        "backtest: {out_dir: out}\n",
        f);
  fclose(f);

  dto_config cfg;
  assert_int_equal(config_load(file, &cfg, err, sizeof err), 0);
  char want[256];
  snprintf(want, sizeof want, "%s/../d.csv", sub);
  assert_string_equal(cfg.data[0].path, want);
  snprintf(want, sizeof want, "%s/out", sub);
  assert_string_equal(cfg.backtest.out_dir, want);
  assert_string_equal(cfg.dir, sub);
  config_release(&cfg);

  /* A content error names the file as given. */
  f = fopen(file, "w");
  assert_non_null(f);
  fputs("accounts: [{id: a}]\nfill: {seed: x}\n", f);
  fclose(f);
  assert_int_equal(config_load(file, &cfg, err, sizeof err), DTO_ECONFIG);
  snprintf(want, sizeof want, "%s:2:14: 'seed': expected an unsigned integer",
           file);
  assert_string_equal(err, want);
  assert_released(&cfg);

  /* Over the size cap: refused before parsing. */
  f = fopen(file, "w");
  assert_non_null(f);
  fputs("accounts: [{id: a}]\n", f);
  for (size_t n = 0; n <= CFG_FILE_MAX / 62; n++) /* 62-byte lines */
    fputs("# padding padding padding padding padding padding padding pad\n", f);
  fclose(f);
  assert_int_equal(config_load(file, &cfg, err, sizeof err), DTO_ECONFIG);
  snprintf(want, sizeof want, "%s:1:1: file is larger than 1048576 bytes",
           file);
  assert_string_equal(err, want);
  assert_released(&cfg);

  /* Missing file and a folder: DTO_EIO. */
  snprintf(want, sizeof want, "%s/nope.yaml", dir);
  assert_int_equal(config_load(want, &cfg, err, sizeof err), DTO_EIO);
  char want2[512];
  snprintf(want2, sizeof want2, "%s: cannot open: No such file or directory",
           want);
  assert_string_equal(err, want2);
  assert_released(&cfg);
  assert_int_equal(config_load(sub, &cfg, err, sizeof err), DTO_EIO);
  snprintf(want2, sizeof want2, "%s: not a regular file (a folder)", sub);
  assert_string_equal(err, want2);

  assert_int_equal(unlink(file), 0);
  assert_int_equal(rmdir(sub), 0);
  assert_int_equal(rmdir(dir), 0);
}

static void test_caps(void **state) {
  (void)state;
  char yaml[128], err[ERRCAP];
  dto_config cfg;

  /* Depth: the top-level mapping plus 31 sequences is 32 levels (a schema
   * error); one more is refused by the depth cap. */
  size_t n = (size_t)snprintf(yaml, sizeof yaml, "x: ");
  for (int i = 0; i < 31; i++)
    yaml[n++] = '[';
  for (int i = 0; i < 31; i++)
    yaml[n++] = ']';
  yaml[n] = '\0';
  expect_error(yaml, "t.yaml:1:1: unknown key 'x' at top level");
  n = (size_t)snprintf(yaml, sizeof yaml, "x: ");
  for (int i = 0; i < 32; i++)
    yaml[n++] = '[';
  for (int i = 0; i < 32; i++)
    yaml[n++] = ']';
  yaml[n] = '\0';
  expect_error(yaml, "t.yaml:1:35: nesting deeper than 32 levels");

  /* Deep nesting far past the cap, unterminated: stops at the cap. */
  char *deep = xmalloc(100001);
  memset(deep, '[', 100000);
  deep[100000] = '\0';
  expect_error(deep, "t.yaml:1:33: nesting deeper than 32 levels");
  free(deep);

  /* Size: one byte over the cap is refused, whatever it holds. */
  char *big = xmalloc(CFG_FILE_MAX + 1);
  memset(big, '#', CFG_FILE_MAX + 1);
  assert_int_equal(config_load_mem("t.yaml", big, CFG_FILE_MAX + 1, NULL, &cfg,
                                   err, sizeof err),
                   DTO_ECONFIG);
  assert_string_equal(err, "t.yaml:1:1: file is larger than 1048576 bytes");
  assert_released(&cfg);
  free(big);

  /* A path longer than CFG_PATH_MAX - 1. */
  size_t cap = CFG_PATH_MAX + 64;
  char *lp = xmalloc(cap);
  n = (size_t)snprintf(lp, cap, "accounts: [{id: a}]\nrun: {state_dir: ");
  memset(lp + n, 'p', CFG_PATH_MAX);
  snprintf(lp + n + CFG_PATH_MAX, cap - n - CFG_PATH_MAX, "}\n");
  expect_error(lp, "t.yaml:2:18: 'state_dir': longer than 4095 characters");
  free(lp);
}

/* The error buffer: truncated but terminated; NULL with errcap 0 works. */
static void test_err_buffer(void **state) {
  (void)state;
  dto_config cfg;
  char err[12];
  memset(err, 'z', sizeof err);
  assert_int_equal(
      config_load_mem("t.yaml", "x: 1\n", 5, NULL, &cfg, err, sizeof err),
      DTO_ECONFIG);
  assert_string_equal(err, "t.yaml:1:1:");
  assert_int_equal(config_load_mem("t.yaml", "x: 1\n", 5, NULL, &cfg, NULL, 0),
                   DTO_ECONFIG);
  assert_released(&cfg);
  /* Text need not be NUL-terminated: only len bytes are read. */
  const char text[] = "accounts: [{id: a}]\nxxx";
  assert_int_equal(config_load_mem("t.yaml", text, 20, NULL, &cfg, NULL, 0), 0);
  config_release(&cfg);
}

/* Names used in reports. */
static void test_names(void **state) {
  (void)state;
  assert_string_equal(latency_kind_name((enum latency_kind)7), "?");
  assert_string_equal(latency_kind_name(LATENCY_RANDOM), "random");
  assert_string_equal(cfg_feed_name(FEED_GENERATE), "generate");
  assert_string_equal(cfg_data_kind_name(CFG_DATA_TRADES), "trades");
}


/* A full risk section loads, and its values land where the engine expects
 * them (indexes of accounts, strategies and instruments). */
static void test_risk_section(void **state) {
  (void)state;
  static const char text[] =
      BASE "strategies:\n"
      "  - id: s1\n    type: ma_crossover\n    symbols: [AAPL]\n"
      "risk:\n"
      "  defaults: {max_order_qty: 100, ref_max_age: 5m}\n"
      "  accounts:\n"
      "    main: {max_gross: 5000, pdt: true, max_orders_per_minute: 30}\n"
      "  strategies:\n"
      "    s1: {window: \"09:45-15:30\", flatten_before_close: 5m,\n"
      "         fill_loop_count: 3, fill_loop_window: 10s,\n"
      "         max_order_qty: 50}\n"
      "  symbols:\n"
      "    MSFT: {hard_to_borrow: true}\n"
      "  restricted: [AAPL]\n";
  dto_config cfg;
  char err[512];
  int rc = config_load_mem("t.yaml", text, strlen(text), ".", &cfg, err,
                           sizeof err);
  if (rc)
    fail_msg("%s", err);
  assert_int_equal(cfg.risk.defaults.max_order_qty, fx_from_int(100));
  assert_true(cfg.risk.defaults.set & RL_MAX_ORDER_QTY);
  assert_int_equal(cfg.risk.defaults.ref_max_age, 300 * DTO_NS_PER_SEC);
  assert_int_equal(cfg.risk.accounts[0].max_gross, fx_from_int(5000));
  assert_true(cfg.risk.accounts[0].pdt);
  assert_int_equal(cfg.risk.accounts[0].pdt_max_day_trades, 3);
  assert_int_equal(cfg.risk.accounts[0].max_orders_per_min, 30);
  assert_int_equal(cfg.risk.strategies[0].window_start, 9 * 60 + 45);
  assert_int_equal(cfg.risk.strategies[0].window_end, 15 * 60 + 30);
  assert_int_equal(cfg.risk.strategies[0].flatten_before_close,
                   300 * DTO_NS_PER_SEC);
  assert_int_equal(cfg.risk.strategies[0].fill_loop_count, 3);
  assert_int_equal(cfg.risk.strategy_orders[0].max_order_qty, fx_from_int(50));
  assert_true(cfg.risk.symbol_orders[1].hard_to_borrow);
  assert_true(cfg.risk.symbol_orders[0].restricted);
  assert_false(cfg.risk.symbol_orders[1].restricted);
  config_release(&cfg);
}

/* run.on_stop: given, or by default keep with a store (the journal
 * remembers the orders a restart restores) and cancel without one. */
static void test_run_on_stop(void **state) {
  (void)state;
  static const struct {
    const char *run;
    enum cfg_on_stop want;
  } cases[] = {
      {"", ON_STOP_CANCEL},
      {"run:\n  speed: 0\n", ON_STOP_CANCEL},
      {"run:\n  store: sqlite:j.db\n", ON_STOP_KEEP},
      {"run:\n  store: null\n", ON_STOP_CANCEL},
      {"run:\n  store: sqlite:j.db\n  on_stop: cancel\n", ON_STOP_CANCEL},
      {"run:\n  on_stop: keep\n", ON_STOP_KEEP},
      {"run:\n  on_stop: cancel\n", ON_STOP_CANCEL},
      {"run:\n  on_stop: keep\n  store: sqlite:j.db\n", ON_STOP_KEEP},
  };
  char yaml[512];
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++) {
    snprintf(yaml, sizeof yaml, "%s%s", BASE, cases[i].run);
    dto_config cfg;
    expect_ok(yaml, &cfg);
    assert_int_equal(cfg.run.on_stop, cases[i].want);
    config_release(&cfg);
  }
}

/* A refused configuration whose message holds part. */
static void expect_error_has(const char *yaml, const char *part) {
  dto_config cfg;
  char err[ERRCAP];
  int rc = load(yaml, &cfg, err);
  if (rc != DTO_ECONFIG || !strstr(err, part))
    print_error("config:\n%s\nwant a message with: %s\ngot:  %s (rc %d)\n",
                yaml, part, err, rc);
  assert_int_equal(rc, DTO_ECONFIG);
  assert_non_null(strstr(err, part));
  assert_released(&cfg);
}

/* The log, monitoring and alerts sections: every key read, every mistake
 * refused with the key named, and no secret accepted in the file. */
static void test_monitoring_sections(void **state) {
  (void)state;
  dto_config cfg;
  expect_ok(BASE, &cfg);
  assert_false(cfg.alerts.present);
  assert_true(cfg.alerts.default_rules);
  assert_int_equal(cfg.monitor.interval, DTO_NS_PER_SEC);
  assert_int_equal(cfg.alerts.conf.repeat_interval, 4 * DTO_NS_PER_HOUR);
  assert_int_equal(cfg.alerts.conf.escalate_after, 10 * DTO_NS_PER_MIN);
  assert_int_equal(cfg.log.output, LOG_OUT_STDERR);
  config_release(&cfg);
  expect_ok(BASE "log:\n  level: warn\n  output: file\n  file: d.log\n"
                 "monitoring:\n  metrics_token: true\n  interval: 250ms\n"
                 "  disks: {data: v, backup: b}\n  instance: t1\n"
                 "alerts:\n  default_rules: false\n  group_by: [account]\n"
                 "  repeat_interval: 1h\n  escalate_after: 2m\n"
                 "  send_resolved: false\n"
                 "  rules:\n    - name: Hot\n"
                 "      expr: cpu{kind=\"a\"} >= 9\n      for: 1m\n"
                 "      severity: critical\n      labels: {team: ops}\n"
                 "      summary: hot {{value}}\n"
                 "  routes:\n    critical: {channels: [h], escalate: [m]}\n"
                 "  maintenance:\n    - {start: \"0 2 * * 6 UTC\", "
                 "duration: 2h}\n"
                 "  channels:\n    - name: h\n      type: webhook\n"
                 "      url: https://x.example/h\n      secret_env: H_KEY\n"
                 "      timeout: 2s\n      retries: 5\n"
                 "    - name: m\n      type: email\n"
                 "      url: smtp://mail:587\n      from: a@b\n"
                 "      to: [c@d, e@f]\n      username: u\n"
                 "      password_env: M_PW\n",
            &cfg);
  assert_int_equal(cfg.log_level, LOG_WARN);
  assert_int_equal(cfg.log.output, LOG_OUT_FILE);
  assert_non_null(strstr(cfg.log.file, "d.log"));
  assert_true(cfg.monitor.metrics_token);
  assert_int_equal(cfg.monitor.interval, 250 * 1000000LL);
  assert_non_null(strstr(cfg.monitor.disk_backup, "b"));
  assert_string_equal(cfg.monitor.instance, "t1");
  assert_false(cfg.alerts.default_rules);
  assert_int_equal(cfg.alerts.nrules, 1);
  const alert_rule *r = &cfg.alerts.rules[0];
  assert_string_equal(r->name, "Hot");
  assert_string_equal(r->metric, "cpu");
  assert_int_equal(r->op, AOP_GE);
  assert_int_equal(r->sev, SEV_CRITICAL);
  assert_int_equal(r->for_, DTO_NS_PER_MIN);
  assert_string_equal(r->lkeys[0], "team");
  assert_string_equal(r->lvals[0], "ops");
  assert_string_equal(cfg.alerts.conf.group_by[0], "account");
  assert_false(cfg.alerts.conf.send_resolved);
  assert_int_equal(cfg.alerts.conf.routes[SEV_CRITICAL].nch, 1);
  assert_string_equal(cfg.alerts.conf.routes[SEV_CRITICAL].esc[0], "m");
  assert_int_equal(cfg.alerts.conf.routes[SEV_WARNING].nch, 0);
  assert_int_equal(cfg.alerts.conf.nwindows, 1);
  assert_int_equal(cfg.alerts.nchannels, 2);
  assert_int_equal(cfg.alerts.channels[0].kind, NOTIFY_WEBHOOK);
  assert_string_equal(cfg.alerts.channels[0].secret_env, "H_KEY");
  assert_int_equal(cfg.alerts.channels[0].retries, 5);
  assert_int_equal(cfg.alerts.channels[1].nto, 2);
  assert_string_equal(cfg.alerts.channels[1].secret_env, "M_PW");
  assert_true(cfg.alerts.channels[1].starttls);
  config_release(&cfg);
  /* without routes: every severity to every channel */
  expect_ok(BASE "alerts:\n  channels:\n    - name: h\n      type: webhook\n"
                 "      url: https://x/h\n      secret_env: K\n",
            &cfg);
  assert_int_equal(cfg.alerts.conf.routes[SEV_INFO].nch, 1);
  assert_int_equal(cfg.alerts.conf.routes[SEV_CRITICAL].nch, 1);
  config_release(&cfg);
  /* scheduled backups and when they are overdue */
  expect_ok(BASE "backup:\n  dir: b\n  schedule: \"0 2 * * * UTC\"\n"
                 "  overdue_after: 30h\n",
            &cfg);
  assert_string_equal(cfg.backup.schedule, "0 2 * * * UTC");
  assert_int_equal(cfg.backup.overdue_after, 30 * DTO_NS_PER_HOUR);
  config_release(&cfg);
  expect_ok(BASE "backup:\n  dir: b\n  log_schedule: every 5m\n"
                 "  upload_command: [rclone, copy, \"{file}\", \"r:dto\"]\n"
                 "  fetch_command: [rclone, copyto, \"r:dto/{name}\", "
                 "\"{dest}\"]\n  command_timeout: 90s\n"
                 "  config_files: [a.service, b.conf]\n",
            &cfg);
  assert_string_equal(cfg.backup.log_schedule, "every 5m");
  assert_string_equal(cfg.backup.upload_command[2], "{file}");
  assert_null(cfg.backup.upload_command[4]);
  assert_string_equal(cfg.backup.fetch_command[0], "rclone");
  assert_int_equal(cfg.backup.command_timeout_s, 90);
  assert_int_equal(cfg.backup.nconfig_files, 2);
  config_release(&cfg);
  expect_ok(BASE "backup:\n  dir: b\n", &cfg);
  assert_null(cfg.backup.schedule);
  assert_int_equal(cfg.backup.overdue_after, 26 * DTO_NS_PER_HOUR);
  config_release(&cfg);
  static const struct {
    const char *text, *want;
  } refused[] = {
      {"log:\n  output: file\n", "output file needs 'file'"},
      {"log:\n  file: x\n", "'file': only with 'output: file'"},
      {"log_level: info\nlog:\n  level: warn\n", "give the level once"},
      {"log:\n  output: syslog\n", "'output': unknown value 'syslog'"},
      {"monitoring:\n  interval: 10ms\n", "'interval': must be 100ms"},
      {"monitoring:\n  colour: red\n", "unknown key 'colour'"},
      {"alerts:\n  rules:\n    - name: X\n      expr: 'x >'\n",
       "'expr': expr 'x >'"},
      {"alerts:\n  rules:\n    - name: 9x\n      expr: x > 1\n",
       "not a valid alert name"},
      {"alerts:\n  rules:\n    - name: A\n      expr: x > 1\n"
       "    - name: A\n      expr: x > 2\n",
       "rule 'A': the name is used twice"},
      {"alerts:\n  rules:\n    - name: A\n      expr: x > 1\n"
       "      labels: {severity: x}\n",
       "not a label name of one's own"},
      {"alerts:\n  rules:\n    - name: A\n      expr: x > 1\n"
       "      severity: fatal\n",
       "'severity': unknown value 'fatal'"},
      {"alerts:\n  routes:\n    critical: {channels: [nope]}\n",
       "no channel named 'nope'"},
      {"alerts:\n  repeat_interval: 10s\n", "'repeat_interval': must be at"},
      {"alerts:\n  maintenance:\n    - {start: \"99 2 * * *\", "
       "duration: 1h}\n",
       "'start': schedule"},
      {"alerts:\n  channels:\n    - name: h\n      type: fax\n",
       "'type': unknown value 'fax'"},
      {"alerts:\n  channels:\n    - name: h\n      type: webhook\n"
       "      url: https://x\n      secret: hunter2\n",
       "no secrets in the configuration file"},
      {"alerts:\n  channels:\n    - name: h\n      type: webhook\n"
       "      url: https://x\n",
       "needs 'secret_env'"},
      {"alerts:\n  channels:\n    - name: s\n      type: slack\n"
       "      url: https://hooks.slack.com/services/T/B/X\n",
       "a slack webhook URL is a secret"},
      {"alerts:\n  channels:\n    - name: h\n      type: webhook\n"
       "      url: https://x\n      secret_env: lower-case\n",
       "the name of an environment variable"},
      {"alerts:\n  channels:\n    - name: h\n      type: webhook\n"
       "      url: https://x\n      routing_key_env: K\n",
       "'routing_key_env': not a key of a webhook channel"},
      {"alerts:\n  channels:\n    - name: m\n      type: email\n"
       "      url: smtp://x\n",
       "needs 'from' and 'to'"},
      {"alerts:\n  channels:\n    - name: t\n      type: sms\n"
       "      from: '+1'\n      to: ['+2']\n      auth_token_env: T\n",
       "needs 'account_sid'"},
      {"alerts:\n  channels:\n    - name: h\n      type: webhook\n"
       "      url: https://x\n      secret_env: K\n"
       "    - name: h\n      type: webhook\n      url: https://y\n"
       "      secret_env: K\n",
       "channel 'h': the name is used twice"},
      {"backup:\n  dir: b\n  schedule: \"61 2 * * * UTC\"\n",
       "'schedule': schedule '61 2 * * * UTC': minute 61"},
      {"backup:\n  dir: b\n  overdue_after: 10s\n",
       "'overdue_after': must be at least 1m"},
      {"backup:\n  dir: b\n  log_schedule: every 0m\n",
       "'log_schedule': "},
      {"backup:\n  dir: b\n  drill_schedule: sometimes\n",
       "'drill_schedule': "},
      {"backup:\n  dir: b\n  log_overdue_after: 5s\n",
       "'log_overdue_after': must be at least 1m"},
      {"backup:\n  dir: b\n  fetch_command: [cp, a, b]\n",
       "'fetch_command': needs 'upload_command'"},
      {"backup:\n  dir: b\n  upload_command: []\n",
       "'upload_command': a command of 1 to 64 words"},
      {"backup:\n  dir: b\n  upload_command: rsync\n",
       "'upload_command': expected a list"},
      {"backup:\n  dir: b\n  upload_command: [rsync, \"\"]\n",
       "'upload_command': an empty word"},
      {"backup:\n  dir: b\n  command_timeout: 0s\n",
       "'command_timeout': must be at least 1s"},
      {"backup:\n  dir: b\n  config_files: /etc/x\n",
       "'config_files': expected a list"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(refused); i++) {
    char text[2048];
    snprintf(text, sizeof text, "%s%s", BASE, refused[i].text);
    expect_error_has(text, refused[i].want);
  }
}

static void test_api_section(void **state) {
  (void)state;
  dto_config cfg;
  /* the defaults */
  expect_ok(BASE "run:\n  store: sqlite:j.db\napi:\n", &cfg);
  assert_true(cfg.api.present);
  assert_null(cfg.api.listen);
  assert_null(cfg.api.tls_cert);
  assert_int_equal(cfg.api.idle_timeout, 15 * 60 * DTO_NS_PER_SEC);
  assert_int_equal(cfg.api.absolute_timeout, 12 * 3600 * DTO_NS_PER_SEC);
  assert_int_equal(cfg.api.lockout_failures, 5);
  assert_int_equal(cfg.api.token_max_days, 90);
  config_release(&cfg);
  /* every key */
  expect_ok(BASE "run:\n  store: sqlite:j.db\napi:\n  listen: 0.0.0.0:8443\n"
                 "  tls_cert: c.pem\n  tls_key: k.pem\n  idle_timeout: 5m\n"
                 "  absolute_timeout: 1h\n  lockout_failures: 3\n"
                 "  lockout_time: 1m\n  rate_limit_per_s: 7\n"
                 "  token_max_days: 30\n  token_warn_days: 10\n",
            &cfg);
  assert_string_equal(cfg.api.listen, "0.0.0.0:8443");
  assert_non_null(strstr(cfg.api.tls_key, "k.pem"));
  assert_int_equal(cfg.api.idle_timeout, 5 * 60 * DTO_NS_PER_SEC);
  assert_int_equal(cfg.api.lockout_failures, 3);
  assert_int_equal(cfg.api.rate_per_s, 7);
  assert_int_equal(cfg.api.token_warn_days, 10);
  config_release(&cfg);
  /* refused, each naming the key */
  expect_error_has(BASE "api:\n  listen: 127.0.0.1:1\n", "needs 'run.store'");
  expect_error_has(BASE "api:\n", "needs 'run.store'");
  expect_error_has(BASE "run:\n  store: sqlite:j.db\napi:\n  tls_cert: c\n",
                   "tls_cert and tls_key go together");
  expect_error_has(BASE "run:\n  store: sqlite:j.db\napi:\n"
                        "  idle_timeout: 4m\n",
                   "'idle_timeout': must be 5m to 30m");
  expect_error_has(BASE "run:\n  store: sqlite:j.db\napi:\n"
                        "  idle_timeout: 31m\n",
                   "idle_timeout");
  expect_error_has(BASE "run:\n  store: sqlite:j.db\napi:\n"
                        "  admin_password: x\n",
                   "no secrets in the configuration file");
  expect_error_has(BASE "run:\n  store: sqlite:j.db\napi:\n  port: 80\n",
                   "port");
  expect_error_has(BASE "run:\n  store: sqlite:j.db\napi:\n"
                        "  token_warn_days: 100\n",
                   "'token_warn_days': must be at most 'token_max_days'");
  expect_error_has(BASE "run:\n  store: sqlite:j.db\napi:\n"
                        "  lockout_failures: 0\n",
                   "lockout_failures");
}

static void test_backup_section(void **state) {
  (void)state;
  dto_config cfg;
  expect_ok(BASE, &cfg);
  assert_false(cfg.backup.present);
  assert_string_equal(cfg.backup.key_env, "DTO_BACKUP_KEY");
  assert_int_equal(cfg.backup.level, 3);
  assert_int_equal(cfg.backup.daily, 30);
  assert_int_equal(cfg.backup.keep_recent, 24 * DTO_NS_PER_HOUR);
  config_release(&cfg);
  expect_ok(BASE "backup:\n  dir: /b\n  secondary_dir: /c\n"
                 "  key_env: MY_KEY\n  key_file: /k\n  level: 9\n"
                 "  retention: {daily: 7, weekly: 4, monthly: 2, "
                 "keep_recent: 2h}\n",
            &cfg);
  assert_true(cfg.backup.present);
  assert_string_equal(cfg.backup.dir, "/b");
  assert_string_equal(cfg.backup.secondary_dir, "/c");
  assert_string_equal(cfg.backup.key_env, "MY_KEY");
  assert_string_equal(cfg.backup.key_file, "/k");
  assert_int_equal(cfg.backup.level, 9);
  assert_int_equal(cfg.backup.daily, 7);
  assert_int_equal(cfg.backup.weekly, 4);
  assert_int_equal(cfg.backup.monthly, 2);
  assert_int_equal(cfg.backup.keep_recent, 2 * DTO_NS_PER_HOUR);
  config_release(&cfg);
  expect_error_has(BASE "backup:\n  level: 3\n", "needs 'dir'");
  expect_error_has(BASE "backup:\n  dir: /b\n  level: 20\n", "'level'");
  expect_error_has(BASE "backup:\n  dir: /b\n  color: red\n", "color");
  expect_error_has(BASE "backup:\n  dir: /b\n  key: abc\n", "no keys");
  expect_error_has(BASE "backup:\n  dir: /b\n  key_env: "
                        "0123456789abcdef0123456789abcdef0123456789abcdef"
                        "0123456789abcdef\n",
                   "looks like a key");
  expect_error_has(BASE "backup:\n  dir: /b\n  key_env: lower\n",
                   "'key_env'");
  expect_error_has(BASE "backup:\n  dir: /b\n  retention: {hourly: 1}\n",
                   "hourly");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_api_section),
      cmocka_unit_test(test_monitoring_sections),
      cmocka_unit_test(test_risk_section),
      cmocka_unit_test(test_bad_configs),
      cmocka_unit_test(test_params),
      cmocka_unit_test(test_params_defaults),
      cmocka_unit_test(test_example_file),
      cmocka_unit_test(test_production_example),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_minimal_doc_example),
      cmocka_unit_test(test_nulls),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_duplicate_in_flow),
      cmocka_unit_test(test_paths),
      cmocka_unit_test(test_load_file),
      cmocka_unit_test(test_caps),
      cmocka_unit_test(test_err_buffer),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_run_on_stop),
      cmocka_unit_test(test_backup_section),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
