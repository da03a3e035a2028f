/* test_risk.c - the pre-trade risk gate on its own: every check of enum
 * risk_reason at its boundary (just below, at, just above the limit) with
 * hand-built risk_input values, asserting the reason code and the value and
 * limit the decision reports; most-specific-wins resolution; modes, the kill
 * switch, reloads, the fill-loop guard and the consecutive-loss limit.
 *
 * The rig has two accounts, two strategies (strategy i trades for account
 * i) and two symbols.  Unless a test says otherwise the order is strategy 0,
 * account 0, symbol 0, the reference price is 100 (fresh), the tick 0.01,
 * the account holds 100,000 cash and nothing else, and the regular session
 * of Monday 2025-01-06 is in progress (10:00 New York, close at 16:00). */
#include "core/prelude.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "engine/risk.h"

/* ---- helpers ------------------------------------------------------------ */

static fx F(const char *s) {
  fx v;
  if (fx_parse_cstr(s, &v))
    fail_msg("bad fx literal %s", s);
  return v;
}

/* 2025-01-06 15:00Z = 10:00 New York; the close is 21:00Z. */
#define T0                                                                     \
  ((days_from_civil(2025, 1, 6)) * DTO_NS_PER_DAY + 15 * DTO_NS_PER_HOUR)
#define CLOSE0 (T0 + 6 * DTO_NS_PER_HOUR)
#define MS (DTO_NS_PER_SEC / 1000)

typedef struct rig {
  uint32_t sacct[2];
  risk_order_limits acct_ol[2], strat_ol[2], sym_ol[2];
  risk_account_limits al[2];
  risk_strategy_limits sl[2];
  risk_config c;
  risk *r;
} rig;

/* Every limit off (the config as built by the helpers). */
static void rig_init(rig *g) {
  memset(g, 0, sizeof *g);
  g->sacct[0] = 0;
  g->sacct[1] = 1;
  for (int i = 0; i < 2; i++) {
    risk_account_limits_init(&g->al[i]);
    risk_strategy_limits_init(&g->sl[i]);
  }
  g->c.naccounts = g->c.nstrategies = g->c.nsyms = 2;
  g->c.strategy_account = g->sacct;
  g->c.account_orders = g->acct_ol;
  g->c.strategy_orders = g->strat_ol;
  g->c.symbol_orders = g->sym_ol;
  g->c.accounts = g->al;
  g->c.strategies = g->sl;
}

static risk *rig_start(rig *g) {
  assert_int_equal(risk_new(&g->c, &g->r), 0);
  return g->r;
}

static void rig_done(rig *g) {
  risk_free(g->r);
  g->r = NULL;
}

/* Set order limit FIELD (bit BIT) to V at level L (an array element). */
#define SETOL(l, field, bit, v)                                                \
  do {                                                                         \
    (l).field = (v);                                                           \
    (l).set |= (bit);                                                          \
  } while (0)

static risk_input base_in(void) {
  risk_input in;
  memset(&in, 0, sizeof in);
  in.now = T0;
  in.ref_price = F("100");
  in.ref_time = T0;
  in.tick = F("0.01");
  in.shortable = true;
  in.acct_equity = in.acct_cash = F("100000");
  in.session = RISK_SESS_REGULAR;
  in.minute_of_day = 600;
  in.session_close = CLOSE0;
  return in;
}

static order mko(enum order_side side, enum order_type type, const char *qty,
                 const char *limit) {
  order o;
  memset(&o, 0, sizeof o);
  o.side = side;
  o.type = type;
  o.tif = TIF_DAY;
  o.qty = F(qty);
  o.limit_price = limit ? F(limit) : 0;
  if (type == ORD_STOP || type == ORD_STOP_LIMIT)
    o.stop_price = o.limit_price ? o.limit_price : F("100");
  if (type == ORD_TRAILING_STOP)
    o.trail = F("1");
  o.parent = o.peer = o.replaces = o.replaced_by = ORDER_NONE;
  return o;
}
#define BUY(q) mko(SIDE_BUY, ORD_MARKET, q, NULL)
#define SELL(q) mko(SIDE_SELL, ORD_MARKET, q, NULL)
#define BUYL(q, p) mko(SIDE_BUY, ORD_LIMIT, q, p)
#define SELLL(q, p) mko(SIDE_SELL, ORD_LIMIT, q, p)

/* Check o against in; want the reason, and when value/limit are not NULL,
 * those figures (fx text); scope -1: not checked. */
static void expect_at(risk *r, const order *o, const risk_input *in,
                      enum risk_reason want, const char *value,
                      const char *limit, int scope, int line) {
  risk_decision d;
  memset(&d, 0x5a, sizeof d);
  uint64_t before = risk_checked(r);
  enum risk_reason got = risk_check(r, o, in, &d);
  if (got != want)
    fail_msg("line %d: got %s, want %s (value %" PRId64 " limit %" PRId64 ")",
             line, risk_reason_name(got), risk_reason_name(want), d.value,
             d.limit);
  if (d.reason != got)
    fail_msg("line %d: decision says %s, return %s", line,
             risk_reason_name(d.reason), risk_reason_name(got));
  if (risk_checked(r) != before + 1)
    fail_msg("line %d: decision not counted", line);
  char gb[FX_STRLEN], lb[FX_STRLEN];
  fx_format(d.value, gb, sizeof gb);
  fx_format(d.limit, lb, sizeof lb);
  if (value && d.value != F(value))
    fail_msg("line %d: %s value %s, want %s", line, risk_reason_name(got), gb,
             value);
  if (limit && d.limit != F(limit))
    fail_msg("line %d: %s limit %s, want %s", line, risk_reason_name(got), lb,
             limit);
  if (scope >= 0 && d.scope != scope)
    fail_msg("line %d: %s scope %d, want %d", line, risk_reason_name(got),
             d.scope, scope);
}
#define EXPECT(r, o, in, want, value, limit, scope)                            \
  do {                                                                         \
    order o_ = (o);                                                            \
    expect_at(r, &o_, in, want, value, limit, scope, __LINE__);                \
  } while (0)
#define OK(r, o, in) EXPECT(r, o, in, RISK_OK, "0", "0", 0)

/* nanoseconds as fx text, for time-valued decisions */
static const char *ns_text(dto_time ns, char *buf, size_t cap) {
  fx_format((fx)ns, buf, cap);
  return buf;
}

/* ---- structural checks --------------------------------------------------- */

static void test_structural(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  EXPECT(r, BUY("0"), &in, RISK_BAD_QTY, "0", "0", 0);
  EXPECT(r, BUY("-1"), &in, RISK_BAD_QTY, "-1", "0", 0);
  OK(r, BUY("0.00000001"), &in);
  EXPECT(r, BUYL("1", "0"), &in, RISK_BAD_PRICE, NULL, NULL, 0);
  EXPECT(r, BUYL("1", "-1"), &in, RISK_BAD_PRICE, NULL, NULL, 0);
  order o = mko(SIDE_BUY, ORD_STOP, "1", NULL);
  o.stop_price = 0;
  EXPECT(r, o, &in, RISK_BAD_PRICE, NULL, NULL, 0);
  o = mko(SIDE_BUY, ORD_TRAILING_STOP, "1", NULL);
  o.trail = 0;
  EXPECT(r, o, &in, RISK_BAD_PRICE, NULL, NULL, 0);
  /* indexes beyond the configuration */
  o = BUY("1");
  o.sym = 2;
  EXPECT(r, o, &in, RISK_BAD_QTY, NULL, NULL, 0);
  o = BUY("1");
  o.account = 2;
  EXPECT(r, o, &in, RISK_BAD_QTY, NULL, NULL, 0);
  o = BUY("1");
  o.strategy = 2;
  EXPECT(r, o, &in, RISK_BAD_QTY, NULL, NULL, 0);
  assert_int_equal(risk_refusals(r, RISK_BAD_QTY), 5);
  assert_int_equal(risk_refusals(r, RISK_BAD_PRICE), 4);
  assert_int_equal(risk_checked(r), 10);
  /* names are stable */
  assert_string_equal(risk_reason_name(RISK_DAILY_LOSS), "max_daily_loss");
  assert_string_equal(risk_reason_name(RISK_PDT), "pattern_day_trader");
  assert_string_equal(risk_mode_name(MODE_REDUCING), "reducing");
  enum risk_mode m = MODE_ACTIVE;
  assert_int_equal(risk_mode_parse("halted", &m), 0);
  assert_int_equal(m, MODE_HALTED);
  assert_int_equal(risk_mode_parse("HALTED", &m), DTO_EINVAL);
  assert_int_equal(risk_mode_parse(NULL, &m), DTO_EINVAL);
  rig_done(&g);
}

/* ---- size and price ------------------------------------------------------ */

static void test_max_order_qty(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], max_order_qty, RL_MAX_ORDER_QTY, F("100"));
  risk *r = rig_start(&g);
  risk_input in = base_in();
  OK(r, BUY("99.99999999"), &in);
  OK(r, BUY("100"), &in);
  EXPECT(r, BUY("100.00000001"), &in, RISK_MAX_ORDER_QTY, "100.00000001", "100",
         0);
  EXPECT(r, SELLL("101", "100"), &in, RISK_MAX_ORDER_QTY, "101", "100", 0);
  /* it applies to reducing orders too: a size check, not an exposure one */
  in.acct_pos = in.strat_pos = F("500");
  EXPECT(r, SELL("101"), &in, RISK_MAX_ORDER_QTY, "101", "100", 0);
  /* the other symbol has no limit */
  order o = BUY("1000");
  o.sym = 1;
  OK(r, o, &in);
  rig_done(&g);
}

static void test_max_order_notional(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], max_order_notional, RL_MAX_ORDER_NOTIONAL, F("10000"));
  risk *r = rig_start(&g);
  risk_input in = base_in();
  /* limit orders are valued at their limit price */
  OK(r, BUYL("99.99999999", "100"), &in);
  OK(r, BUYL("100", "100"), &in);
  EXPECT(r, BUYL("100.00000001", "100"), &in, RISK_MAX_ORDER_NOTIONAL,
         "10000.000001", "10000", 0);
  EXPECT(r, BUYL("100", "100.01"), &in, RISK_MAX_ORDER_NOTIONAL, "10001",
         "10000", 0);
  /* market orders at the reference price */
  OK(r, SELL("100"), &in);
  EXPECT(r, SELL("100.00000001"), &in, RISK_MAX_ORDER_NOTIONAL, "10000.000001",
         "10000", 0);
  in.ref_price = F("99.99");
  OK(r, SELL("100.01"), &in); /* 100.01 x 99.99 = 9999.9999 */
  EXPECT(r, SELL("100.02"), &in, RISK_MAX_ORDER_NOTIONAL, "10000.9998", "10000",
         0);
  rig_done(&g);
}

static void test_price_collar_pct(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], collar_pct, RL_COLLAR_PCT, F("5"));
  risk *r = rig_start(&g);
  risk_input in = base_in(); /* reference 100: the collar is +-5.00 */
  OK(r, BUYL("1", "104.99"), &in);
  OK(r, BUYL("1", "105"), &in);
  EXPECT(r, BUYL("1", "105.00000001"), &in, RISK_PRICE_COLLAR, "5.00000001",
         "5", 0);
  EXPECT(r, BUYL("1", "105.01"), &in, RISK_PRICE_COLLAR, "5.01", "5", 0);
  OK(r, SELLL("1", "95.01"), &in);
  OK(r, SELLL("1", "95"), &in);
  EXPECT(r, SELLL("1", "94.99999999"), &in, RISK_PRICE_COLLAR, "5.00000001",
         "5", 0);
  /* stop-limit orders are collared on their limit price */
  order o = mko(SIDE_BUY, ORD_STOP_LIMIT, "1", "106");
  EXPECT(r, o, &in, RISK_PRICE_COLLAR, "6", "5", 0);
  /* market orders have no price to collar */
  OK(r, BUY("1"), &in);
  rig_done(&g);
}

static void test_price_collar_ticks(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], collar_ticks, RL_COLLAR_TICKS, 10);
  risk *r = rig_start(&g);
  risk_input in = base_in(); /* 10 ticks of 0.01: +-0.10 */
  OK(r, BUYL("1", "100.09"), &in);
  OK(r, BUYL("1", "100.1"), &in);
  EXPECT(r, BUYL("1", "100.11"), &in, RISK_PRICE_COLLAR, "0.11", "0.1", 0);
  OK(r, SELLL("1", "99.9"), &in);
  EXPECT(r, SELLL("1", "99.89"), &in, RISK_PRICE_COLLAR, "0.11", "0.1", 0);
  /* a coarser tick widens it */
  in.tick = F("0.05");
  OK(r, BUYL("1", "100.5"), &in);
  EXPECT(r, BUYL("1", "100.55"), &in, RISK_PRICE_COLLAR, "0.55", "0.5", 0);
  rig_done(&g);
}

static void test_reference_price(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[1], ref_max_age, RL_REF_MAX_AGE, 5 * DTO_NS_PER_SEC);
  SETOL(g.sym_ol[1], collar_pct, RL_COLLAR_PCT, F("10"));
  risk *r = rig_start(&g);
  risk_input in = base_in();
  /* market orders fail closed: no, zero or negative reference */
  in.ref_price = 0;
  EXPECT(r, BUY("1"), &in, RISK_NO_REF_PRICE, "0", "0", 0);
  EXPECT(r, mko(SIDE_SELL, ORD_TRAILING_STOP, "1", NULL), &in,
         RISK_NO_REF_PRICE, "0", "0", 0);
  in.ref_price = F("-0.01");
  EXPECT(r, SELL("1"), &in, RISK_NO_REF_PRICE, "-0.01", "0", 0);
  in.ref_price = F("0.00000001");
  OK(r, SELL("1"), &in);
  /* a limit order needs none when no check values it by the reference */
  in.ref_price = 0;
  OK(r, BUYL("1", "100"), &in);
  /* symbol 1 has a collar: its limit orders need a reference too */
  order o = BUYL("1", "100");
  o.sym = 1;
  EXPECT(r, o, &in, RISK_NO_REF_PRICE, "0", "0", 0);
  /* stale: older than 5 s */
  in = base_in();
  char lim[FX_STRLEN], val[FX_STRLEN];
  ns_text(5 * DTO_NS_PER_SEC, lim, sizeof lim);
  in.ref_time = T0 - 5 * DTO_NS_PER_SEC + 1;
  o = BUY("1");
  o.sym = 1;
  OK(r, o, &in);
  in.ref_time = T0 - 5 * DTO_NS_PER_SEC;
  OK(r, o, &in);
  in.ref_time = T0 - 5 * DTO_NS_PER_SEC - 1;
  EXPECT(r, o, &in, RISK_STALE_REF_PRICE,
         ns_text(5 * DTO_NS_PER_SEC + 1, val, sizeof val), lim, 0);
  o = BUYL("1", "100");
  o.sym = 1;
  EXPECT(r, o, &in, RISK_STALE_REF_PRICE, NULL, lim, 0);
  /* symbol 0 has no age limit: any age will do */
  in.ref_time = T0 - DTO_NS_PER_DAY;
  OK(r, BUY("1"), &in);
  /* a stop order valued for a value limit needs a reference as well */
  rig_done(&g);
  rig_init(&g);
  g.al[0].max_gross = F("1000000");
  r = rig_start(&g);
  in = base_in();
  in.ref_price = 0;
  EXPECT(r, mko(SIDE_BUY, ORD_STOP, "1", "101"), &in, RISK_NO_REF_PRICE, "0",
         "0", 0);
  OK(r, BUYL("1", "100"), &in); /* valued at its limit price */
  rig_done(&g);
}

/* ---- positions and exposure ---------------------------------------------- */

static void test_max_pos_qty(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], max_pos_qty, RL_MAX_POS_QTY, F("100"));
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_pos = in.strat_pos = F("50");
  in.acct_open_buy = F("20");
  OK(r, BUY("29.99999999"), &in);
  OK(r, BUY("30"), &in);
  EXPECT(r, BUY("30.00000001"), &in, RISK_MAX_POS_QTY, "100.00000001", "100",
         0);
  /* the short side counts working sells */
  in.acct_pos = in.strat_pos = F("-50");
  in.acct_open_buy = 0;
  in.acct_open_sell = F("20");
  OK(r, SELL("30"), &in);
  EXPECT(r, SELL("30.00000001"), &in, RISK_MAX_POS_QTY, "100.00000001", "100",
         0);
  /* from long to short through zero */
  in.acct_pos = in.strat_pos = F("40");
  in.acct_open_sell = 0;
  OK(r, SELL("140"), &in);
  EXPECT(r, SELL("140.00000001"), &in, RISK_MAX_POS_QTY, "100.00000001", "100",
         0);
  /* a reducing order passes even above the limit */
  in.acct_pos = in.strat_pos = F("150");
  OK(r, SELL("150"), &in);
  EXPECT(r, BUY("1"), &in, RISK_MAX_POS_QTY, "151", "100", 0);
  /* ...but not when working sells already close part of it: then it is
   * opening (150 - 50 - 150 = -50 short, within the limit) and checked */
  in.acct_open_sell = F("50");
  OK(r, SELL("150"), &in);
  in.acct_open_sell = F("150");
  EXPECT(r, SELL("100.00000001"), &in, RISK_MAX_POS_QTY, "100.00000001", "100",
         0);
  rig_done(&g);
}

static void test_max_pos_notional(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], max_pos_notional, RL_MAX_POS_NOTIONAL, F("10000"));
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_pos = in.strat_pos = F("50");
  in.acct_open_buy = F("10");
  OK(r, BUYL("40", "99"), &in); /* 100 x 100 = 10000 */
  EXPECT(r, BUYL("40.00000001", "99"), &in, RISK_MAX_POS_NOTIONAL,
         "10000.000001", "10000", 0);
  in.ref_price = F("100.01");
  EXPECT(r, BUY("40"), &in, RISK_MAX_POS_NOTIONAL, "10001", "10000", 0);
  in.ref_price = F("99.99");
  OK(r, BUY("40"), &in);
  rig_done(&g);
}

static void test_max_gross(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].max_gross = F("50000");
  risk *r = rig_start(&g);
  risk_input in = base_in();
  /* other symbols: 30000 long at worst */
  in.acct_other_gross = F("30000");
  in.acct_other_long = F("30000");
  in.acct_other_short = F("-10000");
  in.acct_pos = in.strat_pos = F("50"); /* 5000 */
  in.acct_open_buy = F("100");          /* 10000 more if it fills */
  OK(r, BUY("49.99999999"), &in);
  OK(r, BUY("50"), &in); /* 30000 + 200 x 100 */
  EXPECT(r, BUY("50.00000001"), &in, RISK_MAX_GROSS, "50000.000001", "50000",
         1);
  /* a limit order is valued at the reference price, not its limit */
  OK(r, BUYL("50", "90"), &in);
  EXPECT(r, BUYL("51", "90"), &in, RISK_MAX_GROSS, "50100", "50000", 1);
  /* the short side: worse only once it passes the long extreme */
  in.acct_open_sell = F("50"); /* 50 - 50 = 0 */
  OK(r, SELL("200"), &in);     /* -200: 20000, as bad as the long side */
  EXPECT(r, SELL("201"), &in, RISK_MAX_GROSS, "50100", "50000", 1);
  /* without a reference the order is valued at its limit price */
  in.ref_price = 0;
  in.acct_pos = in.strat_pos = 0;
  in.acct_open_buy = in.acct_open_sell = 0;
  OK(r, BUYL("200", "100"), &in);
  EXPECT(r, BUYL("200", "100.01"), &in, RISK_MAX_GROSS, "50002", "50000", 1);
  /* reducing orders are not exposure checked */
  in = base_in();
  in.acct_other_gross = F("60000");
  in.acct_pos = in.strat_pos = F("10");
  OK(r, SELL("10"), &in);
  EXPECT(r, BUY("0.00000001"), &in, RISK_MAX_GROSS, "61000.000001", "50000", 1);
  rig_done(&g);
}

static void test_max_net(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].max_net = F("20000");
  risk *r = rig_start(&g);
  risk_input in = base_in();
  /* other symbols: between -15000 and +12000 */
  in.acct_other_gross = F("40000");
  in.acct_other_long = F("12000");
  in.acct_other_short = F("-15000");
  OK(r, BUY("79.99999999"), &in);
  OK(r, BUY("80"), &in); /* 12000 + 8000 */
  EXPECT(r, BUY("80.00000001"), &in, RISK_MAX_NET, "20000.000001", "20000", 1);
  OK(r, SELL("50"), &in); /* -15000 - 5000 */
  EXPECT(r, SELL("50.00000001"), &in, RISK_MAX_NET, "20000.000001", "20000", 1);
  /* working buys here count on the long side */
  in.acct_open_buy = F("30");
  OK(r, BUY("50"), &in);
  EXPECT(r, BUY("51"), &in, RISK_MAX_NET, "20100", "20000", 1);
  /* a sell is judged on the short side: working buys do not excuse it */
  OK(r, SELL("50"), &in);
  EXPECT(r, SELL("51"), &in, RISK_MAX_NET, "20100", "20000", 1);
  rig_done(&g);
}

static void test_concentration(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].max_concentration_pct = F("25");
  risk *r = rig_start(&g);
  risk_input in = base_in(); /* equity 100000: 25000 in one symbol */
  in.acct_pos = in.strat_pos = F("100");
  in.acct_open_buy = F("50");
  OK(r, BUY("99.99999999"), &in);
  OK(r, BUY("100"), &in);
  EXPECT(r, BUY("100.00000001"), &in, RISK_CONCENTRATION, "25000.000001",
         "25000", 1);
  in.acct_equity = F("99999.99");
  EXPECT(r, BUY("100"), &in, RISK_CONCENTRATION, "25000", "24999.9975", 1);
  /* no equity: nothing opens */
  in.acct_equity = 0;
  EXPECT(r, BUY("1"), &in, RISK_CONCENTRATION, "15100", "0", 1);
  rig_done(&g);
}

static void test_buying_power(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].check_buying_power = true;
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_cash = F("10000");
  in.acct_open_buy_value = F("2000"); /* working buys count */
  OK(r, BUYL("79.99999999", "100"), &in);
  OK(r, BUYL("80", "100"), &in);
  EXPECT(r, BUYL("80.00000001", "100"), &in, RISK_BUYING_POWER, "8000.000001",
         "8000", 1);
  EXPECT(r, BUY("80.01"), &in, RISK_BUYING_POWER, "8001", "8000", 1);
  rig_done(&g);
  /* credit adds to it */
  rig_init(&g);
  g.al[0].check_buying_power = true;
  g.al[0].credit = F("5000");
  r = rig_start(&g);
  OK(r, BUYL("130", "100"), &in);
  EXPECT(r, BUYL("130.01", "100"), &in, RISK_BUYING_POWER, "13001", "13000", 1);
  /* overdrawn: the limit is negative, nothing opens */
  in.acct_cash = F("-6000");
  EXPECT(r, BUYL("0.01", "100"), &in, RISK_BUYING_POWER, "1", "-3000", 1);
  /* reducing sells need none */
  in.acct_pos = in.strat_pos = F("10");
  OK(r, SELL("10"), &in);
  rig_done(&g);
}

/* ---- counts, throttles, duplicates -------------------------------------- */

static void test_max_open_orders(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].max_open_orders = 5;
  g.sl[0].max_open_orders = 3;
  g.sl[1].max_open_orders = 10;
  g.al[1].max_open_orders = 0; /* off */
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_open_orders = 2;
  in.strat_open_orders = 2;
  OK(r, BUY("1"), &in);
  in.strat_open_orders = 3;
  EXPECT(r, BUY("1"), &in, RISK_MAX_OPEN_ORDERS, "4", "3", 2);
  in.acct_open_orders = 4;
  in.strat_open_orders = 0;
  OK(r, BUY("1"), &in);
  in.acct_open_orders = 5;
  EXPECT(r, BUY("1"), &in, RISK_MAX_OPEN_ORDERS, "6", "5", 1);
  /* the account comes first */
  in.strat_open_orders = 7;
  EXPECT(r, BUY("1"), &in, RISK_MAX_OPEN_ORDERS, "6", "5", 1);
  /* reducing orders count too */
  in.acct_pos = in.strat_pos = F("10");
  EXPECT(r, SELL("1"), &in, RISK_MAX_OPEN_ORDERS, "6", "5", 1);
  /* strategy 1 (account 1) */
  order o = BUY("1");
  o.strategy = o.account = 1;
  in = base_in();
  in.acct_open_orders = 1000;
  in.strat_open_orders = 9;
  OK(r, o, &in);
  in.strat_open_orders = 10;
  EXPECT(r, o, &in, RISK_MAX_OPEN_ORDERS, "11", "10", 2);
  rig_done(&g);
}

/* n orders for strategy (and account) s at time t, each expected to pass
 * (no duplicate window is set in these tests). */
static void pass_n(risk *r, int s, int n, dto_time t, int line) {
  for (int i = 0; i < n; i++) {
    order o = BUYL("1", "100");
    o.strategy = o.account = (uint32_t)s;
    risk_input in = base_in();
    in.now = t;
    in.ref_time = t;
    expect_at(r, &o, &in, RISK_OK, "0", "0", 0, line);
  }
}
static void refuse_at(risk *r, int s, dto_time t, enum risk_reason why,
                      const char *value, const char *limit, int scope,
                      int line) {
  order o = BUYL("1", "99.99");
  o.strategy = o.account = (uint32_t)s;
  risk_input in = base_in();
  in.now = t;
  in.ref_time = t;
  expect_at(r, &o, &in, why, value, limit, scope, line);
}

static void test_rate_per_second(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.sl[0].max_orders_per_sec = 3; /* strategy 0 */
  g.al[1].max_orders_per_sec = 2; /* account 1 */
  risk *r = rig_start(&g);
  dto_time s = DTO_NS_PER_SEC;
  /* strategy: 3 in a second pass, the 4th waits for the first to age out */
  pass_n(r, 0, 2, T0, __LINE__);
  pass_n(r, 0, 1, T0 + 400 * MS, __LINE__);
  refuse_at(r, 0, T0 + 400 * MS, RISK_RATE_SEC, "4", "3", 2, __LINE__);
  refuse_at(r, 0, T0 + s - 1, RISK_RATE_SEC, "4", "3", 2, __LINE__);
  pass_n(r, 0, 2, T0 + s, __LINE__); /* both T0 orders are out */
  refuse_at(r, 0, T0 + s, RISK_RATE_SEC, "4", "3", 2, __LINE__);
  refuse_at(r, 0, T0 + 1400 * MS - 1, RISK_RATE_SEC, "4", "3", 2, __LINE__);
  pass_n(r, 0, 1, T0 + 1400 * MS, __LINE__);
  /* account 1 (strategy 1 has no throttle of its own) */
  pass_n(r, 1, 2, T0, __LINE__);
  refuse_at(r, 1, T0 + s - 1, RISK_RATE_SEC, "3", "2", 1, __LINE__);
  pass_n(r, 1, 2, T0 + s, __LINE__);
  refuse_at(r, 1, T0 + s, RISK_RATE_SEC, "3", "2", 1, __LINE__);
  /* refusals are not counted against the throttle */
  pass_n(r, 1, 2, T0 + 2 * s, __LINE__);
  assert_int_equal(risk_refusals(r, RISK_RATE_SEC), 6);
  rig_done(&g);
}

static void test_rate_per_minute(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.sl[0].max_orders_per_min = 4;
  g.al[1].max_orders_per_min = 3;
  g.al[0].max_orders_per_sec = 100; /* on, not binding */
  risk *r = rig_start(&g);
  dto_time m = DTO_NS_PER_MIN;
  for (int i = 0; i < 4; i++)
    pass_n(r, 0, 1, T0 + i * 10 * DTO_NS_PER_SEC, __LINE__);
  refuse_at(r, 0, T0 + 40 * DTO_NS_PER_SEC, RISK_RATE_MIN, "5", "4", 2,
            __LINE__);
  refuse_at(r, 0, T0 + m - 1, RISK_RATE_MIN, "5", "4", 2, __LINE__);
  pass_n(r, 0, 1, T0 + m, __LINE__);
  refuse_at(r, 0, T0 + m + 10 * DTO_NS_PER_SEC - 1, RISK_RATE_MIN, "5", "4", 2,
            __LINE__);
  pass_n(r, 0, 1, T0 + m + 10 * DTO_NS_PER_SEC, __LINE__);
  /* account 1 */
  pass_n(r, 1, 3, T0 + 5 * DTO_NS_PER_SEC, __LINE__);
  refuse_at(r, 1, T0 + 5 * DTO_NS_PER_SEC + m - 1, RISK_RATE_MIN, "4", "3", 1,
            __LINE__);
  pass_n(r, 1, 3, T0 + 5 * DTO_NS_PER_SEC + m, __LINE__);
  rig_done(&g);
}

static void test_duplicate(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], dup_window, RL_DUP_WINDOW, 100 * MS);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  char w[FX_STRLEN], v[FX_STRLEN];
  ns_text(100 * MS, w, sizeof w);
  OK(r, BUYL("10", "100"), &in);
  in.now = T0 + 100 * MS - 1;
  EXPECT(r, BUYL("10", "100"), &in, RISK_DUPLICATE,
         ns_text(100 * MS - 1, v, sizeof v), w, 0);
  /* any difference makes it another order */
  OK(r, BUYL("10.00000001", "100"), &in);
  OK(r, BUYL("10", "100.01"), &in);
  OK(r, SELLL("10", "100"), &in);
  order o = BUYL("10", "100");
  o.account = o.strategy = 1;
  OK(r, o, &in);
  /* at the window's end it is no duplicate */
  in.now = T0 + 100 * MS;
  OK(r, BUYL("10", "100"), &in);
  /* ... and that one starts a new window */
  in.now = T0 + 150 * MS;
  EXPECT(r, BUYL("10", "100"), &in, RISK_DUPLICATE,
         ns_text(50 * MS, v, sizeof v), w, 0);
  /* market orders: same side, symbol and quantity */
  in.now = T0 + 200 * MS;
  OK(r, BUY("7"), &in);
  in.now = T0 + 250 * MS;
  EXPECT(r, BUY("7"), &in, RISK_DUPLICATE, ns_text(50 * MS, v, sizeof v), w, 0);
  /* refused orders do not open a window */
  in.now = T0 + 400 * MS;
  risk_kill(r, true);
  EXPECT(r, BUYL("3", "100"), &in, RISK_KILL_SWITCH, NULL, NULL, 3);
  risk_kill(r, false);
  in.now = T0 + 410 * MS;
  OK(r, BUYL("3", "100"), &in);
  rig_done(&g);
}

/* ---- what may be traded, and when ---------------------------------------- */

static void test_restricted(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[1], restricted, RL_RESTRICTED, true);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  order o = BUY("1");
  o.sym = 1;
  EXPECT(r, o, &in, RISK_RESTRICTED, "0", "0", 0);
  /* no orders at all, reducing ones included */
  in.acct_pos = in.strat_pos = F("10");
  o.side = SIDE_SELL;
  EXPECT(r, o, &in, RISK_RESTRICTED, "0", "0", 0);
  OK(r, SELL("1"), &in); /* symbol 0 is fine */
  rig_done(&g);
}

static void test_short_sales(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].allow_short = false;
  SETOL(g.sym_ol[1], hard_to_borrow, RL_HARD_TO_BORROW, true);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  EXPECT(r, SELL("0.00000001"), &in, RISK_SHORT_NOT_ALLOWED, "-0.00000001", "0",
         1);
  in.acct_pos = in.strat_pos = F("10");
  OK(r, SELL("9.99999999"), &in);
  OK(r, SELL("10"), &in);
  EXPECT(r, SELL("10.00000001"), &in, RISK_SHORT_NOT_ALLOWED, "-0.00000001",
         "0", 1);
  /* working sells count: 10 long, 6 being sold, 4 more is all that's left */
  in.acct_open_sell = F("6");
  OK(r, SELL("4"), &in);
  EXPECT(r, SELL("4.00000001"), &in, RISK_SHORT_NOT_ALLOWED, "-0.00000001", "0",
         1);
  /* sells with a cancel pending are taken as gone (the end-of-day flatten
   * cancels the exits and sells the position in one step) */
  in.acct_canceling_sell = F("6");
  OK(r, SELL("10"), &in);
  EXPECT(r, SELL("10.00000001"), &in, RISK_SHORT_NOT_ALLOWED, "-0.00000001",
         "0", 1);
  in.acct_canceling_sell = 0;
  /* buys never are short sales */
  in.acct_pos = in.strat_pos = F("-10");
  in.acct_open_sell = 0;
  OK(r, BUY("30"), &in);
  rig_done(&g);

  /* shorts allowed, but not in this instrument, or hard to borrow */
  rig_init(&g);
  SETOL(g.sym_ol[1], hard_to_borrow, RL_HARD_TO_BORROW, true);
  r = rig_start(&g);
  in = base_in();
  OK(r, SELL("5"), &in);
  in.shortable = false;
  EXPECT(r, SELL("5"), &in, RISK_SHORT_NOT_ALLOWED, "-5", "0", 1);
  in.shortable = true;
  order o = SELL("5");
  o.sym = 1;
  EXPECT(r, o, &in, RISK_HARD_TO_BORROW, "-5", "0", 0);
  in.acct_pos = in.strat_pos = F("5");
  OK(r, o, &in); /* selling what it holds */
  o.qty = F("5.00000001");
  EXPECT(r, o, &in, RISK_HARD_TO_BORROW, "-0.00000001", "0", 0);
  rig_done(&g);
}

static void test_sessions(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[1].allow_extended_hours = false;
  risk *r = rig_start(&g);
  risk_input in = base_in();
  order o = BUY("1");
  in.session = RISK_SESS_CLOSED;
  EXPECT(r, o, &in, RISK_MARKET_CLOSED, "0", "0", 0);
  o.extended_hours = true;
  EXPECT(r, o, &in, RISK_MARKET_CLOSED, "0", "0", 0);
  in.session = RISK_SESS_EXTENDED;
  OK(r, o, &in);
  o.extended_hours = false;
  EXPECT(r, o, &in, RISK_MARKET_CLOSED, "0", "0", 0);
  /* account 1 may not trade outside the regular session */
  o.account = o.strategy = 1;
  o.extended_hours = true;
  EXPECT(r, o, &in, RISK_EXTENDED_NOT_ALLOWED, "0", "0", 1);
  in.session = RISK_SESS_REGULAR;
  OK(r, o, &in);
  /* closing orders obey the hours too */
  in.session = RISK_SESS_CLOSED;
  in.acct_pos = in.strat_pos = F("1");
  EXPECT(r, SELL("1"), &in, RISK_MARKET_CLOSED, "0", "0", 0);
  rig_done(&g);
}

static void test_trading_window(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.sl[0].window_start = 600; /* 10:00 */
  g.sl[0].window_end = 900;   /* 15:00 */
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.minute_of_day = 599;
  EXPECT(r, BUY("1"), &in, RISK_OUTSIDE_WINDOW, "599", "600", 2);
  in.minute_of_day = 600;
  OK(r, BUY("1"), &in);
  in.minute_of_day = 899;
  OK(r, BUY("1"), &in);
  in.minute_of_day = 900;
  EXPECT(r, BUY("1"), &in, RISK_OUTSIDE_WINDOW, "900", "900", 2);
  /* closing orders pass outside it */
  in.acct_pos = in.strat_pos = F("1");
  OK(r, SELL("1"), &in);
  EXPECT(r, SELL("1.00000001"), &in, RISK_OUTSIDE_WINDOW, "900", "900", 2);
  /* strategy 1 has none */
  order o = BUY("1");
  o.account = o.strategy = 1;
  in.minute_of_day = 0;
  OK(r, o, &in);
  rig_done(&g);
}

static void test_no_new_entries(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.sl[0].no_new_entries = 5 * DTO_NS_PER_MIN;
  g.sl[1].flatten_before_close = 3 * DTO_NS_PER_MIN; /* implies 3 min */
  risk *r = rig_start(&g);
  assert_int_equal(risk_strategy(r, 1)->no_new_entries, 3 * DTO_NS_PER_MIN);
  risk_input in = base_in();
  char lim[FX_STRLEN], v[FX_STRLEN];
  ns_text(5 * DTO_NS_PER_MIN, lim, sizeof lim);
  in.now = CLOSE0 - 5 * DTO_NS_PER_MIN - 1;
  OK(r, BUY("1"), &in);
  in.now = CLOSE0 - 5 * DTO_NS_PER_MIN;
  EXPECT(r, BUY("1"), &in, RISK_NO_NEW_ENTRIES, lim, lim, 2);
  in.now = CLOSE0 - 5 * DTO_NS_PER_MIN + 1;
  EXPECT(r, BUY("1"), &in, RISK_NO_NEW_ENTRIES,
         ns_text(5 * DTO_NS_PER_MIN - 1, v, sizeof v), lim, 2);
  /* closing orders pass */
  in.acct_pos = in.strat_pos = F("3");
  OK(r, SELL("3"), &in);
  /* strategy 1: 3 minutes */
  order o = BUY("1");
  o.account = o.strategy = 1;
  in = base_in();
  in.now = CLOSE0 - 3 * DTO_NS_PER_MIN - 1;
  OK(r, o, &in);
  in.now = CLOSE0 - 3 * DTO_NS_PER_MIN;
  EXPECT(r, o, &in, RISK_NO_NEW_ENTRIES, NULL, NULL, 2);
  rig_done(&g);
}

/* ---- pattern day trader, daily loss, drawdown ---------------------------- */

static void test_pdt(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].pdt = true; /* 25000, 3 day trades */
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_equity = F("24999.99999999");
  in.acct_pos = in.strat_pos = F("10");
  in.would_day_trade = true;
  in.day_trades = 2;
  OK(r, SELL("10"), &in);
  in.day_trades = 3;
  EXPECT(r, SELL("10"), &in, RISK_PDT, "4", "3", 1);
  in.day_trades = 4;
  EXPECT(r, SELL("10"), &in, RISK_PDT, "5", "3", 1);
  /* at 25000 equity the rule does not apply */
  in.acct_equity = F("25000");
  OK(r, SELL("10"), &in);
  /* an order that is no day trade passes */
  in.acct_equity = F("20000");
  in.would_day_trade = false;
  OK(r, SELL("10"), &in);
  /* account 1 does not enforce it */
  order o = SELL("10");
  o.account = o.strategy = 1;
  in.would_day_trade = true;
  OK(r, o, &in);
  rig_done(&g);
}

static void test_daily_loss(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].max_daily_loss = F("1000");
  g.sl[0].max_daily_loss = F("400");
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_day_pnl = F("-999.99999999");
  OK(r, BUY("1"), &in);
  in.acct_day_pnl = F("-1000");
  EXPECT(r, BUY("1"), &in, RISK_DAILY_LOSS, "1000", "1000", 1);
  in.acct_day_pnl = F("-1000.00000001");
  EXPECT(r, BUY("1"), &in, RISK_DAILY_LOSS, "1000.00000001", "1000", 1);
  /* a closing order passes */
  in.acct_pos = in.strat_pos = F("5");
  OK(r, SELL("5"), &in);
  /* the strategy's own limit */
  in = base_in();
  in.strat_day_pnl = F("-399.99999999");
  OK(r, BUY("1"), &in);
  in.strat_day_pnl = F("-400");
  EXPECT(r, BUY("1"), &in, RISK_DAILY_LOSS, "400", "400", 2);
  /* a gain is no loss */
  in.strat_day_pnl = F("5000");
  in.acct_day_pnl = F("5000");
  OK(r, BUY("1"), &in);
  rig_done(&g);
}

static void test_drawdown(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].max_drawdown = F("2000");
  g.sl[0].max_drawdown = F("500");
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_drawdown = F("1999.99999999");
  OK(r, BUY("1"), &in);
  in.acct_drawdown = F("2000");
  EXPECT(r, BUY("1"), &in, RISK_DRAWDOWN, "2000", "2000", 1);
  in.acct_drawdown = F("2000.00000001");
  EXPECT(r, BUY("1"), &in, RISK_DRAWDOWN, "2000.00000001", "2000", 1);
  in.acct_pos = in.strat_pos = F("5");
  OK(r, SELL("5"), &in);
  in = base_in();
  in.strat_drawdown = F("499.99999999");
  OK(r, BUY("1"), &in);
  in.strat_drawdown = F("500.00000001");
  EXPECT(r, BUY("1"), &in, RISK_DRAWDOWN, "500.00000001", "500", 2);
  rig_done(&g);
}

/* ---- modes and the kill switch ------------------------------------------- */

static void test_kill_switch(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_pos = in.strat_pos = F("5");
  assert_false(risk_killed(r));
  risk_kill(r, true);
  assert_true(risk_killed(r));
  EXPECT(r, BUY("1"), &in, RISK_KILL_SWITCH, "0", "0", 3);
  EXPECT(r, SELL("5"), &in, RISK_KILL_SWITCH, "0", "0", 3); /* reducing too */
  order o = BUY("1");
  o.account = o.strategy = 1;
  EXPECT(r, o, &in, RISK_KILL_SWITCH, "0", "0", 3);
  risk_kill(r, false);
  assert_false(risk_killed(r));
  OK(r, BUY("1"), &in);
  assert_int_equal(risk_refusals(r, RISK_KILL_SWITCH), 3);
  rig_done(&g);
}

static void test_halted(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_pos = in.strat_pos = F("5");
  risk_set_mode(r, 1, 0, MODE_HALTED);
  assert_int_equal(risk_mode_of(r, 1, 0), MODE_HALTED);
  assert_int_equal(risk_mode_reason(r, 1, 0), RISK_OK); /* by a person */
  EXPECT(r, BUY("1"), &in, RISK_HALTED, "0", "0", 1);
  EXPECT(r, SELL("5"), &in, RISK_HALTED, "0", "0", 1);
  order o = BUY("1"); /* account 1 is not halted */
  o.account = o.strategy = 1;
  OK(r, o, &in);
  risk_set_mode(r, 1, 0, MODE_ACTIVE);
  risk_set_mode(r, 2, 0, MODE_HALTED);
  EXPECT(r, SELL("5"), &in, RISK_HALTED, "0", "0", 2);
  risk_set_mode(r, 2, 0, MODE_ACTIVE);
  OK(r, SELL("5"), &in);
  /* bad scopes and modes are ignored */
  risk_set_mode(r, 3, 0, MODE_HALTED);
  risk_set_mode(r, 1, 2, MODE_HALTED);
  risk_set_mode(r, 1, 0, RISK_MODE_COUNT);
  assert_int_equal(risk_mode_of(r, 1, 0), MODE_ACTIVE);
  assert_int_equal(risk_mode_of(r, 1, 7), MODE_ACTIVE);
  rig_done(&g);
}

static void test_reducing_only(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  risk_set_mode(r, 2, 0, MODE_REDUCING);
  EXPECT(r, BUY("1"), &in, RISK_REDUCING_ONLY, "0", "0", 2);
  EXPECT(r, SELL("1"), &in, RISK_REDUCING_ONLY, "0", "0", 2); /* opens short */
  in.acct_pos = in.strat_pos = F("10");
  OK(r, SELL("10"), &in);
  OK(r, SELLL("4", "101"), &in);
  EXPECT(r, SELL("10.00000001"), &in, RISK_REDUCING_ONLY, "0", "0", 2);
  EXPECT(r, BUY("1"), &in, RISK_REDUCING_ONLY, "0", "0", 2);
  /* working sells already close part of it: only the rest reduces */
  in.acct_open_sell = F("6");
  OK(r, SELL("4"), &in);
  EXPECT(r, SELL("4.00000001"), &in, RISK_REDUCING_ONLY, "0", "0", 2);
  /* ...unless they are being canceled (a flatten cancels the exits and
   * closes in one step) */
  in.acct_canceling_sell = F("6");
  OK(r, SELL("10"), &in);
  EXPECT(r, SELL("10.00000001"), &in, RISK_REDUCING_ONLY, "0", "0", 2);
  in.acct_canceling_sell = F("2");
  OK(r, SELL("6"), &in);
  EXPECT(r, SELL("6.00000001"), &in, RISK_REDUCING_ONLY, "0", "0", 2);
  /* short positions reduce with buys */
  in = base_in();
  in.acct_pos = in.strat_pos = F("-10");
  in.acct_open_buy = F("3");
  OK(r, BUY("7"), &in);
  EXPECT(r, BUY("7.00000001"), &in, RISK_REDUCING_ONLY, "0", "0", 2);
  in.acct_canceling_buy = F("3");
  OK(r, BUY("10"), &in);
  /* an order reducing the account but opening the strategy is opening */
  in = base_in();
  in.acct_pos = F("10");
  in.strat_pos = F("-2");
  EXPECT(r, SELL("1"), &in, RISK_REDUCING_ONLY, "0", "0", 2);
  /* the account scope */
  risk_set_mode(r, 2, 0, MODE_ACTIVE);
  risk_set_mode(r, 1, 0, MODE_REDUCING);
  in = base_in();
  EXPECT(r, BUY("1"), &in, RISK_REDUCING_ONLY, "0", "0", 1);
  in.acct_pos = in.strat_pos = F("2");
  OK(r, SELL("2"), &in);
  assert_true(
      risk_is_reducing(&(order){.side = SIDE_SELL, .qty = F("2")}, F("2")));
  assert_false(risk_is_reducing(&(order){.side = SIDE_SELL, .qty = F("2")}, 0));
  assert_false(
      risk_is_reducing(&(order){.side = SIDE_BUY, .qty = F("1")}, F("2")));
  rig_done(&g);
}

/* Check order: the first failing check decides, in enum order. */
static void test_check_order(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], max_order_qty, RL_MAX_ORDER_QTY, F("10"));
  SETOL(g.sym_ol[0], restricted, RL_RESTRICTED, true);
  g.al[0].max_open_orders = 1;
  g.al[0].max_daily_loss = F("1");
  risk *r = rig_start(&g);
  risk_input in = base_in();
  in.acct_open_orders = 5;
  in.acct_day_pnl = F("-5");
  in.session = RISK_SESS_CLOSED;
  risk_kill(r, true);
  EXPECT(r, BUY("20"), &in, RISK_KILL_SWITCH, NULL, NULL, 3);
  risk_kill(r, false);
  EXPECT(r, BUY("20"), &in, RISK_RESTRICTED, NULL, NULL, 0);
  rig_done(&g);
  g.sym_ol[0].restricted = false;
  r = rig_start(&g);
  EXPECT(r, BUY("20"), &in, RISK_MARKET_CLOSED, NULL, NULL, 0);
  in.session = RISK_SESS_REGULAR;
  EXPECT(r, BUY("20"), &in, RISK_MAX_ORDER_QTY, NULL, NULL, 0);
  EXPECT(r, BUY("10"), &in, RISK_MAX_OPEN_ORDERS, NULL, NULL, 1);
  in.acct_open_orders = 0;
  EXPECT(r, BUY("10"), &in, RISK_DAILY_LOSS, NULL, NULL, 1);
  rig_done(&g);
}

/* ---- resolution, modes over days, reloads -------------------------------- */

static void test_most_specific_wins(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.c.defaults.max_order_qty = F("1000");
  g.c.defaults.collar_pct = F("10");
  g.c.defaults.dup_window = 50 * MS;
  SETOL(g.acct_ol[0], max_order_qty, RL_MAX_ORDER_QTY, F("500"));
  SETOL(g.acct_ol[0], max_pos_qty, RL_MAX_POS_QTY, F("2000"));
  SETOL(g.strat_ol[0], max_order_qty, RL_MAX_ORDER_QTY, F("200"));
  SETOL(g.strat_ol[0], collar_pct, RL_COLLAR_PCT, F("3"));
  SETOL(g.sym_ol[1], max_order_qty, RL_MAX_ORDER_QTY, F("50"));
  /* account 1 turns the default collar off explicitly (0 with its bit) */
  SETOL(g.acct_ol[1], collar_pct, RL_COLLAR_PCT, 0);
  /* a field without its bit is not a setting */
  g.strat_ol[1].max_order_qty = F("7");
  risk *r = rig_start(&g);
  const risk_order_limits *e;
  /* strategy 0 (account 0), symbol 0: strategy beats account beats default */
  e = risk_effective(r, 0, 0);
  assert_int_equal(e->max_order_qty, F("200"));
  assert_int_equal(e->collar_pct, F("3"));
  assert_int_equal(e->max_pos_qty, F("2000"));
  assert_int_equal(e->dup_window, 50 * MS);
  /* symbol 1 beats them all for what it sets, and only that */
  e = risk_effective(r, 0, 1);
  assert_int_equal(e->max_order_qty, F("50"));
  assert_int_equal(e->collar_pct, F("3"));
  assert_int_equal(e->max_pos_qty, F("2000"));
  /* strategy 1 (account 1) */
  e = risk_effective(r, 1, 0);
  assert_int_equal(e->max_order_qty, F("1000"));
  assert_int_equal(e->collar_pct, 0);
  assert_int_equal(e->max_pos_qty, 0);
  e = risk_effective(r, 1, 1);
  assert_int_equal(e->max_order_qty, F("50"));
  assert_null(risk_effective(r, 2, 0));
  assert_null(risk_effective(r, 0, 2));
  /* and the check uses the resolved values */
  risk_input in = base_in();
  order o = BUY("201");
  EXPECT(r, o, &in, RISK_MAX_ORDER_QTY, "201", "200", 0);
  o.sym = 1;
  o.qty = F("51");
  EXPECT(r, o, &in, RISK_MAX_ORDER_QTY, "51", "50", 0);
  o = BUYL("1", "103.01");
  EXPECT(r, o, &in, RISK_PRICE_COLLAR, "3.01", "3", 0);
  o.account = o.strategy = 1;
  OK(r, o, &in);
  o = BUYL("1000", "200"); /* no collar for account 1 */
  o.account = o.strategy = 1;
  OK(r, o, &in);
  o.qty = F("1000.00000001");
  EXPECT(r, o, &in, RISK_MAX_ORDER_QTY, "1000.00000001", "1000", 0);
  rig_done(&g);
}

static void test_modes_over_days(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].max_daily_loss = F("1000");
  g.sl[0].max_drawdown = F("300");
  g.al[1].max_drawdown = F("100");
  risk *r = rig_start(&g);
  /* below the limits: nothing */
  assert_int_equal(risk_on_pnl(r, 1, 0, F("-999.99999999"), 0), RISK_OK);
  assert_int_equal(risk_on_pnl(r, 2, 0, 0, F("299.99999999")), RISK_OK);
  assert_int_equal(risk_mode_of(r, 1, 0), MODE_ACTIVE);
  /* at them: REDUCING with the reason, once */
  assert_int_equal(risk_on_pnl(r, 1, 0, F("-1000"), 0), RISK_DAILY_LOSS);
  assert_int_equal(risk_on_pnl(r, 1, 0, F("-2000"), 0), RISK_OK);
  assert_int_equal(risk_on_pnl(r, 2, 0, 0, F("300")), RISK_DRAWDOWN);
  assert_int_equal(risk_mode_of(r, 1, 0), MODE_REDUCING);
  assert_int_equal(risk_mode_reason(r, 1, 0), RISK_DAILY_LOSS);
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_REDUCING);
  assert_int_equal(risk_mode_reason(r, 2, 0), RISK_DRAWDOWN);
  /* the refusal names the daily limit, not just "reducing" */
  risk_input in = base_in();
  EXPECT(r, BUY("1"), &in, RISK_DAILY_LOSS, NULL, NULL, 1);
  risk_set_mode(r, 1, 0, MODE_ACTIVE);
  EXPECT(r, BUY("1"), &in, RISK_DRAWDOWN, NULL, NULL, 2);
  assert_int_equal(risk_on_pnl(r, 1, 0, F("-1000"), 0), RISK_DAILY_LOSS);
  /* a person puts account 1 in REDUCING and strategy 1 in HALTED */
  risk_set_mode(r, 1, 1, MODE_REDUCING);
  risk_set_mode(r, 2, 1, MODE_HALTED);
  /* account 1's own drawdown cannot re-label a person's mode */
  assert_int_equal(risk_on_pnl(r, 1, 1, 0, F("500")), RISK_OK);
  assert_int_equal(risk_mode_reason(r, 1, 1), RISK_OK);
  /* bad scopes */
  assert_int_equal(risk_on_pnl(r, 3, 0, F("-5000"), 0), RISK_OK);
  assert_int_equal(risk_on_pnl(r, 1, 9, F("-5000"), 0), RISK_OK);
  /* the next day lifts the daily ones only */
  risk_new_day(r);
  assert_int_equal(risk_mode_of(r, 1, 0), MODE_ACTIVE);
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_ACTIVE);
  assert_int_equal(risk_mode_reason(r, 1, 0), RISK_OK);
  assert_int_equal(risk_mode_of(r, 1, 1), MODE_REDUCING);
  assert_int_equal(risk_mode_of(r, 2, 1), MODE_HALTED);
  OK(r, BUY("1"), &in);
  rig_done(&g);
}

static void test_reload(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], max_order_qty, RL_MAX_ORDER_QTY, F("100"));
  g.al[0].max_daily_loss = F("1000");
  g.sl[0].max_orders_per_sec = 2;
  risk *r = rig_start(&g);
  risk_input in = base_in();
  risk_kill(r, true);
  risk_set_mode(r, 2, 1, MODE_HALTED);
  assert_int_equal(risk_on_pnl(r, 1, 0, F("-1000"), 0), RISK_DAILY_LOSS);
  /* invalid: nothing changes */
  rig g2 = g;
  g2.c.account_orders = g2.acct_ol;
  g2.c.strategy_orders = g2.strat_ol;
  g2.c.symbol_orders = g2.sym_ol;
  g2.c.accounts = g2.al;
  g2.c.strategies = g2.sl;
  g2.c.strategy_account = g2.sacct;
  g2.sym_ol[0].max_order_qty = F("50");
  g2.sym_ol[1].max_pos_qty = -1;
  assert_int_equal(risk_reload(r, &g2.c), DTO_EINVAL);
  assert_int_equal(risk_effective(r, 0, 0)->max_order_qty, F("100"));
  g2.sym_ol[1].max_pos_qty = 0;
  g2.sl[1].window_start = 600; /* without an end */
  assert_int_equal(risk_reload(r, &g2.c), DTO_EINVAL);
  g2.sl[1].window_end = 600; /* empty */
  assert_int_equal(risk_reload(r, &g2.c), DTO_EINVAL);
  g2.sl[1].window_start = g2.sl[1].window_end = -1;
  g2.al[1].max_orders_per_sec = 100000; /* beyond the throttle cap */
  assert_int_equal(risk_reload(r, &g2.c), DTO_EINVAL);
  g2.al[1].max_orders_per_sec = 0;
  g2.sacct[1] = 2; /* no such account */
  assert_int_equal(risk_reload(r, &g2.c), DTO_EINVAL);
  g2.sacct[1] = 1;
  g2.c.nsyms = 1; /* sizes must match */
  assert_int_equal(risk_reload(r, &g2.c), DTO_EINVAL);
  g2.c.nsyms = 2;
  assert_int_equal(risk_effective(r, 0, 0)->max_order_qty, F("100"));
  assert_int_equal(risk_account(r, 1)->max_orders_per_sec, 0);
  /* valid: the new limits apply; modes and the kill switch stay */
  g2.al[0].max_daily_loss = F("5000");
  assert_int_equal(risk_reload(r, &g2.c), 0);
  assert_int_equal(risk_effective(r, 0, 0)->max_order_qty, F("50"));
  assert_int_equal(risk_account(r, 0)->max_daily_loss, F("5000"));
  assert_true(risk_killed(r));
  assert_int_equal(risk_mode_of(r, 2, 1), MODE_HALTED);
  assert_int_equal(risk_mode_of(r, 1, 0), MODE_REDUCING);
  assert_int_equal(risk_mode_reason(r, 1, 0), RISK_DAILY_LOSS);
  EXPECT(r, BUY("1"), &in, RISK_KILL_SWITCH, NULL, NULL, 3);
  risk_kill(r, false);
  EXPECT(r, BUY("1"), &in, RISK_DAILY_LOSS, NULL, NULL, 1);
  risk_new_day(r);
  EXPECT(r, BUY("51"), &in, RISK_MAX_ORDER_QTY, "51", "50", 0);
  /* the throttle kept its counters (same size) */
  OK(r, BUYL("1", "100"), &in);
  OK(r, BUYL("1", "100.01"), &in);
  EXPECT(r, BUYL("1", "100.02"), &in, RISK_RATE_SEC, "3", "2", 2);
  assert_int_equal(risk_reload(r, &g2.c), 0);
  EXPECT(r, BUYL("1", "100.02"), &in, RISK_RATE_SEC, "3", "2", 2);
  /* a new config with risk_new is refused the same way */
  risk *bad = NULL;
  g2.al[0].credit = -1;
  assert_int_equal(risk_new(&g2.c, &bad), DTO_EINVAL);
  assert_null(bad);
  rig_done(&g);
}

/* ---- the fill-loop guard and consecutive losses -------------------------- */

static void test_fill_loop(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.sl[0].fill_loop_count = 3;
  g.sl[0].fill_loop_window = DTO_NS_PER_SEC;
  g.sl[1].fill_loop_count = 10; /* a longer ring for the other strategy */
  g.sl[1].fill_loop_window = DTO_NS_PER_SEC;
  risk *r = rig_start(&g);
  dto_time s = DTO_NS_PER_SEC;
  /* spread out: 4 fills, the 4th just outside the first's window */
  assert_false(risk_on_fill(r, 0, 0, T0));
  assert_false(risk_on_fill(r, 0, 0, T0 + 300 * MS));
  assert_false(risk_on_fill(r, 0, 0, T0 + 600 * MS));
  assert_false(risk_on_fill(r, 0, 0, T0 + s + 1));
  /* another symbol keeps its own count */
  assert_false(risk_on_fill(r, 0, 1, T0 + s + 2));
  assert_false(risk_on_fill(r, 0, 1, T0 + s + 3));
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_ACTIVE);
  /* count + 1 = 4 fills within the window (at its edge) trip it */
  assert_true(risk_on_fill(r, 0, 0, T0 + 300 * MS + s));
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_HALTED);
  assert_int_equal(risk_mode_reason(r, 2, 0), RISK_HALTED);
  assert_false(risk_on_fill(r, 0, 0, T0 + 300 * MS + s)); /* once */
  risk_input in = base_in();
  EXPECT(r, BUY("1"), &in, RISK_HALTED, NULL, NULL, 2);
  /* it stays over days until a person re-enables the strategy */
  risk_new_day(r);
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_HALTED);
  risk_set_mode(r, 2, 0, MODE_ACTIVE);
  OK(r, BUY("1"), &in);
  /* strategy 1 needs 11 */
  for (int i = 0; i < 10; i++)
    assert_false(risk_on_fill(r, 1, 0, T0 + i));
  assert_true(risk_on_fill(r, 1, 0, T0 + 10));
  /* off: never */
  assert_false(risk_on_fill(r, 5, 0, T0));
  assert_false(risk_on_fill(r, 0, 9, T0));
  rig_done(&g);
  rig_init(&g);
  r = rig_start(&g);
  for (int i = 0; i < 100; i++)
    assert_false(risk_on_fill(r, 0, 0, T0));
  rig_done(&g);
}

static void test_consecutive_losses(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.sl[0].max_consecutive_losses = 3;
  g.sl[0].max_daily_loss = F("100");
  risk *r = rig_start(&g);
  fx loss = F("-10"), win = F("10");
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_false(risk_on_round_trip(r, 0, win)); /* a win resets */
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_false(risk_on_round_trip(r, 0, 0)); /* break-even is no loss */
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_ACTIVE);
  assert_true(risk_on_round_trip(r, 0, F("-0.00000001")));
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_REDUCING);
  assert_int_equal(risk_mode_reason(r, 2, 0), RISK_REDUCING_ONLY);
  assert_false(risk_on_round_trip(r, 0, loss)); /* once */
  risk_input in = base_in();
  EXPECT(r, BUY("1"), &in, RISK_REDUCING_ONLY, NULL, NULL, 2);
  in.acct_pos = in.strat_pos = F("1");
  OK(r, SELL("1"), &in);
  /* not lifted by a new day */
  risk_new_day(r);
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_REDUCING);
  /* a person re-enables it, and the count starts over */
  risk_set_mode(r, 2, 0, MODE_ACTIVE);
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_true(risk_on_round_trip(r, 0, loss));
  risk_set_mode(r, 2, 0, MODE_ACTIVE);
  /* when a daily limit already holds the strategy, the loss limit takes
   * over: the next day must not lift it */
  assert_int_equal(risk_on_pnl(r, 2, 0, F("-100"), 0), RISK_DAILY_LOSS);
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_true(risk_on_round_trip(r, 0, loss));
  risk_new_day(r);
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_REDUCING);
  assert_int_equal(risk_mode_reason(r, 2, 0), RISK_REDUCING_ONLY);
  /* a halted strategy stays halted */
  risk_set_mode(r, 2, 0, MODE_HALTED);
  assert_false(risk_on_round_trip(r, 0, loss));
  assert_int_equal(risk_mode_of(r, 2, 0), MODE_HALTED);
  /* strategy 1 has no limit */
  for (int i = 0; i < 50; i++)
    assert_false(risk_on_round_trip(r, 1, loss));
  assert_false(risk_on_round_trip(r, 7, loss));
  rig_done(&g);
}

/* ---- the duplicate memory ------------------------------------------------ */

/* Every field of the key makes another order: account, strategy, symbol,
 * side, type, quantity, limit, stop, trail.  Only an order equal in all of
 * them is a duplicate. */
static void test_duplicate_key(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  /* the window at the account level: every strategy and symbol has it */
  SETOL(g.acct_ol[0], dup_window, RL_DUP_WINDOW, DTO_NS_PER_SEC);
  SETOL(g.acct_ol[1], dup_window, RL_DUP_WINDOW, DTO_NS_PER_SEC);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  order base = mko(SIDE_BUY, ORD_STOP_LIMIT, "10", "100");
  base.stop_price = F("99");
  OK(r, base, &in);
  in.now += 10 * MS;
  order v[9];
  for (int k = 0; k < 9; k++)
    v[k] = base;
  v[0].account = 1;                      /* another account, same strategy */
  v[1].strategy = 1;                     /* another strategy, same account */
  v[2].sym = 1;                          /* another symbol */
  v[3].side = SIDE_SELL;                 /* the other side */
  v[4].type = ORD_LIMIT;                 /* another type, same prices */
  v[5].qty = F("10.00000001");           /* quantity */
  v[6].limit_price = F("100.01");        /* limit price */
  v[7].stop_price = F("98.99");          /* stop price */
  v[8].trail = F("0.5");                 /* trail */
  in.acct_pos = in.strat_pos = F("100"); /* the sell is no short sale */
  for (int k = 0; k < 9; k++) {
    risk_decision d;
    enum risk_reason why = risk_check(r, &v[k], &in, &d);
    if (why != RISK_OK)
      fail_msg("variant %d refused: %s", k, risk_reason_name(why));
  }
  /* each variant is now remembered on its own: a second of each is a
   * duplicate, and so is the original */
  in.now += 10 * MS;
  /* (times as fx: 10 ms = 10,000,000 ns reads 0.1, the 1 s window 10) */
  for (int k = 0; k < 9; k++)
    EXPECT(r, v[k], &in, RISK_DUPLICATE, "0.1", "10", 0);
  EXPECT(r, base, &in, RISK_DUPLICATE, "0.2", "10", 0);
  assert_int_equal(risk_dup_memory(r), 10);
  /* market orders: no prices, the rest of the key still counts */
  OK(r, BUY("7"), &in);
  EXPECT(r, BUY("7"), &in, RISK_DUPLICATE, "0", NULL, 0);
  order m = BUY("7");
  m.type = ORD_TRAILING_STOP;
  m.trail = F("1");
  OK(r, m, &in);
  rig_done(&g);
}

/* The window's edges: t - t_prev < window is a duplicate, t - t_prev ==
 * window is not; each (strategy, symbol) uses its own effective window, and
 * a reload changes it for what is remembered. */
static void test_duplicate_window(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.strat_ol[0], dup_window, RL_DUP_WINDOW, 100 * MS);
  SETOL(g.strat_ol[1], dup_window, RL_DUP_WINDOW, 300 * MS);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  order a = BUYL("1", "100"), b = BUYL("1", "100");
  b.strategy = 1; /* account 0 still: strategies may share an account */
  OK(r, a, &in);
  OK(r, b, &in);
  in.now = T0 + 100 * MS - 1;
  EXPECT(r, a, &in, RISK_DUPLICATE, "0.99999999", "1", 0);
  EXPECT(r, b, &in, RISK_DUPLICATE, "0.99999999", "3", 0);
  in.now = T0 + 100 * MS;
  OK(r, a, &in); /* exactly the window: no duplicate; a new window starts */
  in.now = T0 + 300 * MS - 1;
  EXPECT(r, b, &in, RISK_DUPLICATE, "2.99999999", "3", 0);
  in.now = T0 + 300 * MS;
  OK(r, b, &in);
  /* a reload that lengthens strategy 0's window reaches back: a was
   * accepted at +100 ms, now +300 ms, inside 500 ms */
  SETOL(g.strat_ol[0], dup_window, RL_DUP_WINDOW, 500 * MS);
  assert_int_equal(risk_reload(r, &g.c), 0);
  EXPECT(r, a, &in, RISK_DUPLICATE, "2", "5", 0);
  /* switched off: nothing is a duplicate and nothing is remembered */
  SETOL(g.strat_ol[0], dup_window, RL_DUP_WINDOW, 0);
  assert_int_equal(risk_reload(r, &g.c), 0);
  OK(r, a, &in);
  OK(r, a, &in);
  rig_done(&g);
}

/* Far more than 64 distinct orders inside the window: the oldest is still
 * remembered (the old ring forgot all but the last 64).  Memory follows
 * the orders inside the window: a long stream at a steady rate keeps it
 * bounded. */
static void test_duplicate_many(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  SETOL(g.sym_ol[0], dup_window, RL_DUP_WINDOW, DTO_NS_PER_SEC);
  risk *r = rig_start(&g);
  risk_input in = base_in();
  char px[32];
  enum { N = 1000 };
  for (int k = 0; k < N; k++) {
    snprintf(px, sizeof px, "%d.%02d", 50 + k / 100, k % 100);
    in.now = T0 + k * MS / 2; /* all within 0.5 s */
    OK(r, BUYL("1", px), &in);
  }
  assert_int_equal(risk_dup_memory(r), N);
  in.now = T0 + DTO_NS_PER_SEC - 1; /* the first was at T0 */
  EXPECT(r, BUYL("1", "50.00"), &in, RISK_DUPLICATE, NULL, NULL, 0);
  snprintf(px, sizeof px, "%d.%02d", 50 + 64 / 100, 64 % 100);
  EXPECT(r, BUYL("1", px), &in, RISK_DUPLICATE, NULL, NULL, 0);
  in.now = T0 + DTO_NS_PER_SEC;
  OK(r, BUYL("1", "50.00"), &in); /* its window is over */
  rig_done(&g);

  /* 20,000 distinct orders, 10 ms apart, a 1 s window: at most 100 are
   * inside it at a time; the memory stays within 2 x 101 + 64 */
  r = rig_start(&g);
  size_t most = 0;
  for (int k = 0; k < 20000; k++) {
    in.now = T0 + (dto_time)k * 10 * MS;
    snprintf(px, sizeof px, "%d.%02d", 1 + k / 100, k % 100);
    OK(r, BUYL("1", px), &in);
    if (risk_dup_memory(r) > most)
      most = risk_dup_memory(r);
  }
  if (most > 2 * 101 + 64)
    fail_msg("duplicate memory grew to %zu entries", most);
  rig_done(&g);
}

/* ---- the transition table ------------------------------------------------ */

/* The table written out by hand, from the rules in risk.h and
 * docs/internals/risk.md: for each scope kind and each state a scope of
 * that kind can be in (mode/cause), the modes each cause may move it to
 * ("A" active, "R" reducing, "H" halted).  Columns in enum risk_cause
 * order: none person daily_loss drawdown consecutive_losses fill_loop
 * new_day kill_switch. */
typedef struct trow {
  int scope;
  enum risk_mode mode;
  enum risk_cause cause;
  const char *to[RISK_CAUSE_COUNT];
} trow;

#define A_ MODE_ACTIVE
#define R_ MODE_REDUCING
#define H_ MODE_HALTED
#define C(x) RISK_CAUSE_##x
static const trow TABLE[] = {
    /* accounts */
    {1, A_, C(NONE), {"", "ARH", "R", "R", "", "", "", ""}},
    {1, A_, C(PERSON), {"", "ARH", "R", "R", "", "", "", ""}},
    {1, A_, C(NEW_DAY), {"", "ARH", "R", "R", "", "", "", ""}},
    {1, R_, C(PERSON), {"", "ARH", "", "", "", "", "", ""}},
    {1, R_, C(DAILY_LOSS), {"", "ARH", "", "", "", "", "A", ""}},
    {1, R_, C(DRAWDOWN), {"", "ARH", "", "", "", "", "A", ""}},
    {1, H_, C(PERSON), {"", "ARH", "", "", "", "", "", ""}},
    /* strategies */
    {2, A_, C(NONE), {"", "ARH", "R", "R", "R", "H", "", ""}},
    {2, A_, C(PERSON), {"", "ARH", "R", "R", "R", "H", "", ""}},
    {2, A_, C(NEW_DAY), {"", "ARH", "R", "R", "R", "H", "", ""}},
    {2, R_, C(PERSON), {"", "ARH", "", "", "", "H", "", ""}},
    {2, R_, C(DAILY_LOSS), {"", "ARH", "", "", "R", "H", "A", ""}},
    {2, R_, C(DRAWDOWN), {"", "ARH", "", "", "R", "H", "A", ""}},
    {2, R_, C(CONSECUTIVE_LOSSES), {"", "ARH", "", "", "", "H", "", ""}},
    {2, H_, C(PERSON), {"", "ARH", "", "", "", "", "", ""}},
    {2, H_, C(FILL_LOOP), {"", "ARH", "", "", "", "", "", ""}},
    /* the kill switch */
    {3, A_, C(NONE), {"", "", "", "", "", "", "", "H"}},
    {3, H_, C(KILL_SWITCH), {"", "", "", "", "", "", "", "A"}},
    {3, A_, C(KILL_SWITCH), {"", "", "", "", "", "", "", "H"}},
};

static bool table_says(const trow *row, enum risk_mode to, enum risk_cause c) {
  const char *letters = "ARH";
  return strchr(row->to[c], letters[to]) != NULL;
}

/* Bring scope (sc, 0) of a fresh gate into row's state by legal steps. */
static void reach(risk *r, const trow *row) {
  int sc = row->scope;
  switch (row->cause) {
  case RISK_CAUSE_NONE:
    break;
  case RISK_CAUSE_NEW_DAY:
    assert_int_equal(risk_transition(r, sc, 0, R_, C(DAILY_LOSS)), 0);
    assert_int_equal(risk_transition(r, sc, 0, A_, C(NEW_DAY)), 0);
    break;
  case RISK_CAUSE_KILL_SWITCH:
    assert_int_equal(risk_transition(r, sc, 0, H_, C(KILL_SWITCH)), 0);
    if (row->mode == A_)
      assert_int_equal(risk_transition(r, sc, 0, A_, C(KILL_SWITCH)), 0);
    break;
  default:
    assert_int_equal(risk_transition(r, sc, 0, row->mode, row->cause), 0);
  }
  assert_int_equal(risk_mode_of(r, sc, 0), row->mode);
  assert_int_equal(risk_mode_cause(r, sc, 0), row->cause);
}

typedef struct heard {
  int n;
  risk_change last;
} heard;

static void observe(void *ctx, const risk_change *t) {
  heard *h = ctx;
  h->n++;
  h->last = *t;
}

/* Every (state, to, cause) of every scope kind: the pure table and the
 * transition function on a real gate agree with the table written out
 * above.  A state not in TABLE is unreachable from a fresh gate. */
static void test_transition_table(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  int legal = 0, illegal = 0;
  for (size_t i = 0; i < DTO_ARRAY_LEN(TABLE); i++) {
    const trow *row = &TABLE[i];
    for (int to = 0; to < RISK_MODE_COUNT; to++)
      for (int c = 0; c < RISK_CAUSE_COUNT; c++) {
        bool want = table_says(row, (enum risk_mode)to, (enum risk_cause)c);
        bool got =
            risk_transition_legal(row->scope, row->mode, row->cause,
                                  (enum risk_mode)to, (enum risk_cause)c);
        if (got != want)
          fail_msg("scope %d %s/%s -> %s by %s: table says %s, code %s",
                   row->scope, risk_mode_name(row->mode),
                   risk_cause_name(row->cause),
                   risk_mode_name((enum risk_mode)to),
                   risk_cause_name((enum risk_cause)c),
                   want ? "legal" : "illegal", got ? "legal" : "illegal");
        /* the same on a real gate, with the observer */
        risk *r = rig_start(&g);
        reach(r, row);
        heard h = {0};
        risk_set_observer(r, observe, &h);
        uint64_t before = risk_illegal_transitions(r);
        int rc = risk_transition(r, row->scope, 0, (enum risk_mode)to,
                                 (enum risk_cause)c);
        bool same = to == (int)row->mode && c == (int)row->cause;
        if (same) { /* nothing to change */
          assert_int_equal(rc, 0);
          assert_int_equal(h.n, 0);
        } else if (want) {
          legal++;
          assert_int_equal(rc, 0);
          assert_int_equal(risk_mode_of(r, row->scope, 0), to);
          assert_int_equal(risk_mode_cause(r, row->scope, 0), c);
          assert_int_equal(h.n, 1);
          assert_true(h.last.legal);
        } else {
          illegal++;
          assert_int_equal(rc, DTO_ESTATE);
          assert_int_equal(risk_mode_of(r, row->scope, 0), row->mode);
          assert_int_equal(risk_mode_cause(r, row->scope, 0), row->cause);
          assert_int_equal(risk_illegal_transitions(r), before + 1);
          assert_int_equal(h.n, 1);
          assert_false(h.last.legal);
          risk_change l;
          assert_true(risk_last_illegal(r, &l));
          assert_int_equal(l.to, to);
          assert_int_equal(l.cause, c);
        }
        if (!same) {
          assert_int_equal(h.last.scope, row->scope);
          assert_int_equal(h.last.index, 0);
          assert_int_equal(h.last.from, row->mode);
          assert_int_equal(h.last.from_cause, row->cause);
          assert_int_equal(h.last.to, to);
          assert_int_equal(h.last.cause, c);
        }
        rig_done(&g);
      }
  }
  assert_true(legal > 50 && illegal > 300);
  /* out of range */
  assert_false(risk_transition_legal(0, A_, C(NONE), R_, C(PERSON)));
  assert_false(risk_transition_legal(4, A_, C(NONE), R_, C(PERSON)));
  assert_false(
      risk_transition_legal(1, RISK_MODE_COUNT, C(NONE), R_, C(PERSON)));
  assert_false(risk_transition_legal(1, A_, RISK_CAUSE_COUNT, R_, C(PERSON)));
  assert_false(
      risk_transition_legal(1, A_, C(NONE), RISK_MODE_COUNT, C(PERSON)));
  assert_false(risk_transition_legal(1, A_, C(NONE), R_, RISK_CAUSE_COUNT));
  risk *r = rig_start(&g);
  heard h = {0};
  risk_set_observer(r, observe, &h);
  assert_int_equal(risk_transition(r, 1, 2, R_, C(PERSON)), DTO_EINVAL);
  assert_int_equal(risk_transition(r, 3, 1, H_, C(KILL_SWITCH)), DTO_EINVAL);
  assert_int_equal(risk_transition(r, 1, 0, RISK_MODE_COUNT, C(PERSON)),
                   DTO_EINVAL);
  assert_int_equal(risk_transition(r, 1, 0, R_, RISK_CAUSE_COUNT), DTO_EINVAL);
  assert_int_equal(risk_illegal_transitions(r), 4);
  assert_false(risk_last_illegal(r, NULL)); /* none with valid arguments */
  assert_int_equal(h.n, 0);
  /* a person cannot set the global scope (that is the kill switch) */
  risk_set_mode(r, 3, 0, H_);
  assert_false(risk_killed(r));
  assert_int_equal(risk_illegal_transitions(r), 5);
  assert_int_equal(h.n, 1);
  rig_done(&g);
}

/* The engine's entry points move modes through the transition function:
 * the observer hears each change with its cause. */
static void test_transitions_observed(void **state) {
  (void)state;
  rig g;
  rig_init(&g);
  g.al[0].max_daily_loss = F("100");
  g.sl[0].max_consecutive_losses = 2;
  g.sl[1].fill_loop_count = 1;
  g.sl[1].fill_loop_window = DTO_NS_PER_SEC;
  risk *r = rig_start(&g);
  heard h = {0};
  risk_set_observer(r, observe, &h);
#define HEARD(sc, ix, f, fc, t, c)                                             \
  do {                                                                         \
    assert_true(h.last.legal);                                                 \
    assert_int_equal(h.last.scope, sc);                                        \
    assert_int_equal(h.last.index, ix);                                        \
    assert_int_equal(h.last.from, f);                                          \
    assert_int_equal(h.last.from_cause, fc);                                   \
    assert_int_equal(h.last.to, t);                                            \
    assert_int_equal(h.last.cause, c);                                         \
  } while (0)
  assert_int_equal(risk_on_pnl(r, 1, 0, F("-100"), 0), RISK_DAILY_LOSS);
  assert_int_equal(h.n, 1);
  HEARD(1, 0, A_, C(NONE), R_, C(DAILY_LOSS));
  assert_int_equal(risk_on_pnl(r, 1, 0, F("-200"), 0), RISK_OK);
  assert_int_equal(h.n, 1); /* already there: nothing, and nothing illegal */
  risk_new_day(r);
  assert_int_equal(h.n, 2);
  HEARD(1, 0, R_, C(DAILY_LOSS), A_, C(NEW_DAY));
  assert_false(risk_on_round_trip(r, 0, F("-1")));
  assert_true(risk_on_round_trip(r, 0, F("-1")));
  assert_int_equal(h.n, 3);
  HEARD(2, 0, A_, C(NONE), R_, C(CONSECUTIVE_LOSSES));
  assert_false(risk_on_fill(r, 1, 0, T0));
  assert_true(risk_on_fill(r, 1, 0, T0 + 1));
  assert_int_equal(h.n, 4);
  HEARD(2, 1, A_, C(NONE), H_, C(FILL_LOOP));
  risk_kill(r, true);
  assert_int_equal(h.n, 5);
  HEARD(3, 0, A_, C(NONE), H_, C(KILL_SWITCH));
  risk_kill(r, true); /* already on */
  assert_int_equal(h.n, 5);
  assert_int_equal(risk_mode_reason(r, 3, 0), RISK_KILL_SWITCH);
  risk_kill(r, false);
  HEARD(3, 0, H_, C(KILL_SWITCH), A_, C(KILL_SWITCH));
  risk_kill(r, false); /* already off: no change, nothing illegal */
  assert_int_equal(h.n, 6);
  risk_set_mode(r, 2, 1, A_);
  HEARD(2, 1, H_, C(FILL_LOOP), A_, C(PERSON));
  assert_int_equal(risk_illegal_transitions(r), 0);
  risk_set_observer(r, NULL, &h);
  risk_set_mode(r, 2, 1, H_);
  assert_int_equal(h.n, 7);
#undef HEARD
  rig_done(&g);
}
#undef A_
#undef R_
#undef H_
#undef C

/* ---- snapshots ----------------------------------------------------------- */

/* A deterministic pseudo-random stream (xorshift64*). */
static uint64_t rnd(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* ---- inputs a limit asks for --------------------------------------------- */

/* risk_inputs_needed: with the parts it does not ask for left at 0, every
 * decision is the one made on the full input.  Two gates with the same
 * random limits see the same random orders, one with the full input, one
 * with the masked one. */
static void test_inputs_needed(void **state) {
  (void)state;
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (int round = 0; round < 300; round++) {
    rig g;
    rig_init(&g);
    for (int i = 0; i < 2; i++) {
      uint64_t on = rnd(&seed);
      risk_account_limits *al = &g.al[i];
      risk_strategy_limits *sl = &g.sl[i];
      if (on & 1) {
        sl->window_start = (int)(rnd(&seed) % 720);
        sl->window_end = sl->window_start + 1 + (int)(rnd(&seed) % 720);
      }
      al->pdt = (on & 2) != 0;
      al->pdt_min_equity = fx_from_int((int64_t)(rnd(&seed) % 50000));
      al->pdt_max_day_trades = (int)(rnd(&seed) % 5);
      if (on & 4)
        al->max_concentration_pct =
            fx_from_int(1 + (int64_t)(rnd(&seed) % 100));
      if (on & 8)
        al->max_daily_loss = fx_from_int(1 + (int64_t)(rnd(&seed) % 1000));
      if (on & 16)
        al->max_drawdown = fx_from_int(1 + (int64_t)(rnd(&seed) % 1000));
      if (on & 32)
        sl->max_daily_loss = fx_from_int(1 + (int64_t)(rnd(&seed) % 1000));
      if (on & 64)
        sl->max_drawdown = fx_from_int(1 + (int64_t)(rnd(&seed) % 1000));
      if (on & 128)
        al->max_gross = fx_from_int(1 + (int64_t)(rnd(&seed) % 100000));
      if (on & 256)
        al->max_net = fx_from_int(1 + (int64_t)(rnd(&seed) % 100000));
    }
    risk *full, *masked;
    assert_int_equal(risk_new(&g.c, &full), 0);
    assert_int_equal(risk_new(&g.c, &masked), 0);
    for (int k = 0; k < 40; k++) {
      uint32_t si = (uint32_t)(rnd(&seed) % 2);
      order o = rnd(&seed) % 2 ? BUY("1") : SELL("1");
      o.qty = fx_from_int(1 + (int64_t)(rnd(&seed) % 20));
      o.strategy = o.account = si;
      o.sym = (sym_id)(rnd(&seed) % 2);
      risk_input in = base_in();
      in.now = T0 + (dto_time)k * DTO_NS_PER_SEC;
      in.ref_time = in.now;
      in.acct_pos = in.strat_pos = fx_from_int((int64_t)(rnd(&seed) % 21) - 10);
      in.acct_equity = fx_from_int((int64_t)(rnd(&seed) % 60000) - 5000);
      in.acct_day_pnl = fx_from_int((int64_t)(rnd(&seed) % 2001) - 1000);
      in.acct_drawdown = fx_from_int((int64_t)(rnd(&seed) % 1500));
      in.strat_day_pnl = fx_from_int((int64_t)(rnd(&seed) % 2001) - 1000);
      in.strat_drawdown = fx_from_int((int64_t)(rnd(&seed) % 1500));
      in.minute_of_day = (int)(rnd(&seed) % 1440);
      in.day_trades = (int)(rnd(&seed) % 6);
      in.would_day_trade = rnd(&seed) % 2;
      in.acct_other_gross = fx_from_int((int64_t)(rnd(&seed) % 50000));
      risk_input part = in;
      unsigned need = risk_inputs_needed(masked, o.account, o.strategy);
      if (!(need & RISK_IN_MINUTE))
        part.minute_of_day = 0;
      if (!(need & RISK_IN_DAY_TRADES))
        part.would_day_trade = false, part.day_trades = 0;
      if (!(need & RISK_IN_ACCT_EQUITY))
        part.acct_equity = part.acct_day_pnl = part.acct_drawdown = 0;
      if (!(need & RISK_IN_STRAT_EQUITY))
        part.strat_day_pnl = part.strat_drawdown = 0;
      risk_decision a, b;
      enum risk_reason ra = risk_check(full, &o, &in, &a);
      enum risk_reason rb = risk_check(masked, &o, &part, &b);
      assert_int_equal(ra, rb);
      assert_int_equal(a.reason, b.reason);
      assert_true(a.value == b.value && a.limit == b.limit);
      assert_int_equal(a.scope, b.scope);
    }
    assert_int_equal(risk_inputs_needed(full, 2, 0), RISK_IN_ALL);
    risk_free(full);
    risk_free(masked);
  }
}

/* A rig with something of every kind of state on. */
static void rig_busy(rig *g) {
  rig_init(g);
  for (int i = 0; i < 2; i++) {
    SETOL(g->acct_ol[i], dup_window, RL_DUP_WINDOW, 200 * MS);
    g->al[i].max_orders_per_sec = 5;
    g->al[i].max_orders_per_min = 40;
    g->al[i].max_daily_loss = F("500");
    g->al[i].max_drawdown = F("800");
    g->sl[i].max_orders_per_sec = 3 + i;
    g->sl[i].max_orders_per_min = 30;
    g->sl[i].max_daily_loss = F("300");
    g->sl[i].max_consecutive_losses = 3;
    g->sl[i].fill_loop_count = 4;
    g->sl[i].fill_loop_window = 500 * MS;
  }
  SETOL(g->sym_ol[1], dup_window, RL_DUP_WINDOW, 700 * MS);
}

typedef struct outcome {
  int kind;
  int64_t a, b, c, d;
} outcome;

/* One random step on r; what it returned goes to *o.  The stream is a
 * function of the seed state only, so two gates fed the same seed state
 * get the same steps. */
static void step(risk *r, uint64_t *seed, dto_time *now, outcome *o) {
  uint64_t x = rnd(seed);
  memset(o, 0, sizeof *o);
  *now += (dto_time)(rnd(seed) % 60) * MS;
  int kind = (int)(x % 100);
  uint32_t acct = (uint32_t)(rnd(seed) % 2);
  o->kind = kind;
  if (kind < 75) {
    order ord = mko(rnd(seed) % 2 ? SIDE_BUY : SIDE_SELL,
                    rnd(seed) % 3 ? ORD_LIMIT : ORD_MARKET, "1", NULL);
    if (ord.type == ORD_LIMIT)
      ord.limit_price = F("100") + (fx)(rnd(seed) % 2) * F("0.01");
    ord.qty = (fx)(1 + rnd(seed) % 2) * FX_ONE;
    ord.account = acct;
    ord.strategy = acct; /* each strategy trades for its account */
    ord.sym = (sym_id)(rnd(seed) % 2);
    risk_input in = base_in();
    in.now = *now;
    in.ref_time = *now;
    in.session_close = *now + DTO_NS_PER_HOUR;
    in.acct_pos = in.strat_pos = (fx)(rnd(seed) % 5) * FX_ONE;
    risk_decision d;
    o->a = risk_check(r, &ord, &in, &d);
    o->b = d.value;
    o->c = d.limit;
    o->d = d.scope;
  } else if (kind < 83) {
    o->a = risk_on_fill(r, acct, (sym_id)(rnd(seed) % 2), *now);
  } else if (kind < 89) {
    o->a = risk_on_round_trip(r, acct,
                              (fx)((int64_t)(rnd(seed) % 7) - 2) * FX_ONE);
  } else if (kind < 94) {
    int sc = 1 + (int)(rnd(seed) % 2);
    o->a = risk_on_pnl(r, sc, acct, -(fx)(rnd(seed) % 600) * FX_ONE,
                       (fx)(rnd(seed) % 900) * FX_ONE);
  } else if (kind < 96) {
    risk_new_day(r);
  } else if (kind < 99) {
    uint64_t m = rnd(seed) % 6; /* half of them release */
    risk_set_mode(r, 1 + (int)(rnd(seed) % 3), acct,
                  m < 3 ? MODE_ACTIVE : (enum risk_mode)(m - 3));
  } else {
    risk_kill(r, rnd(seed) % 4 == 0);
  }
  o->c ^= (int64_t)risk_mode_of(r, 1, acct) << 40;
  o->d ^= (int64_t)risk_mode_of(r, 2, acct) << 40;
}

static void snap(const risk *r, dbuf *b) {
  dbuf_reset(b);
  assert_true(risk_snapshot(r, b) > 0);
}

/* Snapshot -> restore into a fresh gate -> snapshot gives the same bytes,
 * and from there both gates decide alike on the same random stream
 * (many seeds); at the end their snapshots still agree. */
static void test_snapshot_property(void **state) {
  (void)state;
  rig g;
  rig_busy(&g);
  dbuf a, b;
  dbuf_init(&a, SIZE_MAX / 2);
  dbuf_init(&b, SIZE_MAX / 2);
  int dups = 0, kills = 0;
  for (uint64_t seed0 = 1; seed0 <= 60; seed0++) {
    uint64_t seed = seed0 * 0x9e3779b97f4a7c15ull;
    risk *r1 = NULL, *r2 = NULL;
    assert_int_equal(risk_new(&g.c, &r1), 0);
    assert_int_equal(risk_new(&g.c, &r2), 0);
    dto_time now = T0;
    outcome o1, o2;
    int before = (int)(rnd(&seed) % 400);
    for (int k = 0; k < before; k++)
      step(r1, &seed, &now, &o1);
    snap(r1, &a);
    assert_int_equal(risk_restore_snapshot(r2, a.ptr, a.len), 0);
    snap(r2, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.ptr, b.ptr, a.len);
    assert_int_equal(risk_checked(r2), risk_checked(r1));
    for (int k = 0; k < 600; k++) {
      uint64_t s2 = seed;
      dto_time n2 = now;
      step(r1, &seed, &now, &o1);
      step(r2, &s2, &n2, &o2);
      if (memcmp(&o1, &o2, sizeof o1))
        fail_msg("seed %" PRIu64 " step %d (kind %d): original %" PRId64
                 "/%" PRId64 "/%" PRId64 "/%" PRId64 ", restored %" PRId64
                 "/%" PRId64 "/%" PRId64 "/%" PRId64,
                 seed0, k, o1.kind, o1.a, o1.b, o1.c, o1.d, o2.a, o2.b, o2.c,
                 o2.d);
    }
    dups += (int)risk_refusals(r1, RISK_DUPLICATE);
    kills += (int)risk_refusals(r1, RISK_KILL_SWITCH);
    snap(r1, &a);
    snap(r2, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.ptr, b.ptr, a.len);
    risk_free(r1);
    risk_free(r2);
  }
  /* the stream reached the interesting states */
  assert_true(dups > 100);
  assert_true(kills > 100);
  dbuf_release(&a);
  dbuf_release(&b);
}

/* Every truncation, trailing bytes, other sizes, bad values: DTO_EINVAL
 * and the gate as it was.  Random corruption never crashes (ASan). */
static void test_snapshot_refused(void **state) {
  (void)state;
  rig g;
  rig_busy(&g);
  risk *src = NULL;
  assert_int_equal(risk_new(&g.c, &src), 0);
  uint64_t seed = 42;
  dto_time now = T0;
  outcome o;
  for (int k = 0; k < 300; k++)
    step(src, &seed, &now, &o);
  risk_set_mode(src, 3, 0, MODE_HALTED); /* an illegal one on record */
  dbuf s, before, after;
  dbuf_init(&s, SIZE_MAX / 2);
  dbuf_init(&before, SIZE_MAX / 2);
  dbuf_init(&after, SIZE_MAX / 2);
  snap(src, &s);
  assert_true(risk_dup_memory(src) > 0);
  /* the target has a state of its own, which must survive every refusal */
  risk *t = NULL;
  assert_int_equal(risk_new(&g.c, &t), 0);
  uint64_t seed2 = 7;
  dto_time now2 = T0;
  for (int k = 0; k < 100; k++)
    step(t, &seed2, &now2, &o);
  snap(t, &before);
  unsigned char *p = xmalloc(s.len + 1);
  memcpy(p, s.ptr, s.len);
  for (size_t n = 0; n < s.len; n++)
    if (risk_restore_snapshot(t, p, n) != DTO_EINVAL)
      fail_msg("a snapshot cut to %zu of %zu bytes was accepted", n, s.len);
  p[s.len] = 0;
  assert_int_equal(risk_restore_snapshot(t, p, s.len + 1), DTO_EINVAL);
  assert_int_equal(risk_restore_snapshot(t, NULL, 0), DTO_EINVAL);
  snap(t, &after);
  assert_int_equal(before.len, after.len);
  assert_memory_equal(before.ptr, after.ptr, before.len);
  /* single bytes: version, sizes, the global mode */
  const size_t at[] = {0, 4, 8, 12, 16, 20};
  for (size_t i = 0; i < DTO_ARRAY_LEN(at); i++) {
    memcpy(p, s.ptr, s.len);
    p[at[i]] ^= 0x41;
    assert_int_equal(risk_restore_snapshot(t, p, s.len), DTO_EINVAL);
  }
  memcpy(p, s.ptr, s.len);
  p[20] = MODE_REDUCING; /* the global scope is never REDUCING */
  assert_int_equal(risk_restore_snapshot(t, p, s.len), DTO_EINVAL);
  /* a gate of another shape */
  rig g3;
  rig_busy(&g3);
  g3.c.nsyms = 1;
  risk *other = NULL;
  assert_int_equal(risk_new(&g3.c, &other), 0);
  assert_int_equal(risk_restore_snapshot(other, s.ptr, s.len), DTO_EINVAL);
  risk_free(other);
  /* random corruption: refused (the gate unchanged) or taken whole */
  for (int k = 0; k < 3000; k++) {
    memcpy(p, s.ptr, s.len);
    int flips = 1 + (int)(rnd(&seed) % 4);
    for (int f = 0; f < flips; f++)
      p[rnd(&seed) % s.len] ^= (unsigned char)(1u << (rnd(&seed) % 8));
    snap(t, &before);
    int rc = risk_restore_snapshot(t, p, s.len);
    assert_true(rc == 0 || rc == DTO_EINVAL);
    snap(t, &after);
    if (rc) {
      assert_int_equal(before.len, after.len);
      assert_memory_equal(before.ptr, after.ptr, before.len);
    } else {
      /* what was taken reads back as it was given */
      assert_int_equal(after.len, s.len);
      assert_memory_equal(after.ptr, p, s.len);
    }
  }
  /* and the real one is taken; the app's flags of the present stay */
  risk_store_fault(t, true);
  risk_unreconciled(src, true);
  dbuf_reset(&s);
  assert_true(risk_snapshot(src, &s) > 0);
  assert_int_equal(risk_restore_snapshot(t, s.ptr, s.len), 0);
  assert_true(risk_store_faulted(t));
  assert_false(risk_is_unreconciled(t));
  snap(t, &after);
  assert_memory_equal(after.ptr, s.ptr, s.len);
  risk_change l;
  assert_true(risk_last_illegal(t, &l));
  assert_int_equal(l.scope, 3);
  /* a full buffer: nothing appended */
  dbuf small;
  dbuf_init(&small, 10);
  assert_int_equal(dbuf_adds(&small, "abc"), 0);
  assert_int_equal(risk_snapshot(t, &small), 0);
  assert_int_equal(small.len, 3);
  assert_string_equal(small.ptr, "abc");
  dbuf_release(&small);
  free(p);
  dbuf_release(&s);
  dbuf_release(&before);
  dbuf_release(&after);
  risk_free(t);
  risk_free(src);
}

/* The layout, written by hand for a fresh gate of 1 account, 1 strategy and
 * 1 symbol (docs/internals/risk.md): a second implementation of the
 * format. */
static void test_snapshot_layout(void **state) {
  (void)state;
  risk_config c;
  memset(&c, 0, sizeof c);
  c.naccounts = c.nstrategies = c.nsyms = 1;
  risk *r = NULL;
  assert_int_equal(risk_new(&c, &r), 0);
  risk_kill(r, true);
  dbuf b;
  dbuf_init(&b, 1 << 20);
  size_t n = risk_snapshot(r, &b);
  unsigned char want[512];
  size_t w = 0;
#define U8(v) want[w++] = (unsigned char)(v)
#define U32(v)                                                                 \
  do {                                                                         \
    uint32_t v_ = (uint32_t)(v);                                               \
    for (int i_ = 0; i_ < 4; i_++)                                             \
      U8(v_ >> (8 * i_));                                                      \
  } while (0)
#define U64(v)                                                                 \
  do {                                                                         \
    uint64_t v_ = (uint64_t)(v);                                               \
    for (int i_ = 0; i_ < 8; i_++)                                             \
      U8(v_ >> (8 * i_));                                                      \
  } while (0)
  U8('D');
  U8('R');
  U8('S');
  U8('K');
  U32(1);  /* version */
  U32(1);  /* accounts */
  U32(1);  /* strategies */
  U32(1);  /* symbols */
  U8(2);   /* global: halted */
  U8(7);   /* ... by the kill switch */
  U8(0);   /* account: active */
  U8(0);   /* ... none */
  U32(0);  /* per-second ring */
  U32(0);  /* per-minute ring */
  U8(0);   /* strategy: active */
  U8(0);   /* ... none */
  U32(0);  /* per-second ring */
  U32(0);  /* per-minute ring */
  U32(0);  /* losses in a row */
  U32(0);  /* fill ring of symbol 0 */
  U32(64); /* duplicate memory: sweeps beyond 64 */
  U32(0);  /* ... holds none */
  U64(0);  /* decisions */
  U32(RISK_REASON_COUNT);
  for (int k = 0; k < RISK_REASON_COUNT; k++)
    U64(0);
  U64(0); /* illegal transitions */
  U8(0);  /* no last one */
#undef U8
#undef U32
#undef U64
  assert_int_equal(n, w);
  assert_memory_equal(b.ptr, want, w);
  dbuf_release(&b);
  risk_free(r);
}

/* risk_check passes over a group of checks none of whose limits is set
 * (risk.c RG_*): each limit, set alone, must still refuse, both when the
 * gate is made with it and when a reload adds it to a gate made without
 * any limit (the groups are derived again), and the same order with every
 * limit off must pass. */
typedef struct lone_limit {
  const char *what;
  void (*set)(rig *g, risk_input *in, order *o);
  int norders; /* the refusal comes at the norders-th identical order */
  enum risk_reason why;
} lone_limit;

static void ll_order_qty(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  SETOL(g->sym_ol[0], max_order_qty, RL_MAX_ORDER_QTY, F("5"));
}
static void ll_order_notional(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  SETOL(g->strat_ol[0], max_order_notional, RL_MAX_ORDER_NOTIONAL, F("500"));
}
static void ll_ref_age(rig *g, risk_input *in, order *o) {
  (void)o;
  SETOL(g->acct_ol[0], ref_max_age, RL_REF_MAX_AGE, DTO_NS_PER_SEC);
  in->ref_time = T0 - 2 * DTO_NS_PER_SEC;
}
static void ll_collar_pct(rig *g, risk_input *in, order *o) {
  (void)in;
  SETOL(g->sym_ol[0], collar_pct, RL_COLLAR_PCT, F("1"));
  *o = BUYL("10", "105");
}
static void ll_collar_ticks(rig *g, risk_input *in, order *o) {
  (void)in;
  SETOL(g->sym_ol[0], collar_ticks, RL_COLLAR_TICKS, 10);
  *o = BUYL("10", "105");
}
static void ll_pos_qty(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  SETOL(g->sym_ol[0], max_pos_qty, RL_MAX_POS_QTY, F("5"));
}
static void ll_pos_notional(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  SETOL(g->sym_ol[0], max_pos_notional, RL_MAX_POS_NOTIONAL, F("500"));
}
static void ll_gross(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  g->al[0].max_gross = F("500");
}
static void ll_net(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  g->al[0].max_net = F("500");
}
static void ll_concentration(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  g->al[0].max_concentration_pct = F("0.5");
}
static void ll_buying_power(rig *g, risk_input *in, order *o) {
  (void)o;
  g->al[0].check_buying_power = true;
  in->acct_cash = F("500");
}
static void ll_acct_open(rig *g, risk_input *in, order *o) {
  (void)o;
  g->al[0].max_open_orders = 1;
  in->acct_open_orders = 1;
}
static void ll_strat_open(rig *g, risk_input *in, order *o) {
  (void)o;
  g->sl[0].max_open_orders = 1;
  in->strat_open_orders = 1;
}
static void ll_acct_sec(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  g->al[0].max_orders_per_sec = 1;
}
static void ll_strat_sec(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  g->sl[0].max_orders_per_sec = 1;
}
static void ll_acct_min(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  g->al[0].max_orders_per_min = 1;
}
static void ll_strat_min(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  g->sl[0].max_orders_per_min = 1;
}
static void ll_dup(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  SETOL(g->strat_ol[0], dup_window, RL_DUP_WINDOW, 10 * DTO_NS_PER_SEC);
}
static void ll_window(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  g->sl[0].window_start = 0;
  g->sl[0].window_end = 60;
}
static void ll_no_entries(rig *g, risk_input *in, order *o) {
  (void)in, (void)o;
  g->sl[0].no_new_entries = 7 * DTO_NS_PER_HOUR;
}
static void ll_pdt(rig *g, risk_input *in, order *o) {
  (void)o;
  g->al[0].pdt = true;
  in->would_day_trade = true;
  in->acct_equity = F("1000");
  in->day_trades = 3;
}
static void ll_acct_loss(rig *g, risk_input *in, order *o) {
  (void)o;
  g->al[0].max_daily_loss = F("100");
  in->acct_day_pnl = F("-200");
}
static void ll_strat_loss(rig *g, risk_input *in, order *o) {
  (void)o;
  g->sl[0].max_daily_loss = F("100");
  in->strat_day_pnl = F("-200");
}
static void ll_acct_dd(rig *g, risk_input *in, order *o) {
  (void)o;
  g->al[0].max_drawdown = F("100");
  in->acct_drawdown = F("200");
}
static void ll_strat_dd(rig *g, risk_input *in, order *o) {
  (void)o;
  g->sl[0].max_drawdown = F("100");
  in->strat_drawdown = F("200");
}

/* The decision on the n-th of n identical orders (the earlier ones pass). */
static enum risk_reason nth(risk *r, const order *o, const risk_input *in,
                            int n, const char *what) {
  for (int k = 1; k < n; k++)
    if (risk_check(r, o, in, NULL) != RISK_OK)
      fail_msg("%s: order %d of %d refused", what, k, n);
  return risk_check(r, o, in, NULL);
}

static void test_each_limit_alone(void **state) {
  (void)state;
  static const lone_limit cases[] = {
      {"max_order_qty", ll_order_qty, 1, RISK_MAX_ORDER_QTY},
      {"max_order_notional", ll_order_notional, 1, RISK_MAX_ORDER_NOTIONAL},
      {"ref_max_age", ll_ref_age, 1, RISK_STALE_REF_PRICE},
      {"collar_pct", ll_collar_pct, 1, RISK_PRICE_COLLAR},
      {"collar_ticks", ll_collar_ticks, 1, RISK_PRICE_COLLAR},
      {"max_pos_qty", ll_pos_qty, 1, RISK_MAX_POS_QTY},
      {"max_pos_notional", ll_pos_notional, 1, RISK_MAX_POS_NOTIONAL},
      {"max_gross", ll_gross, 1, RISK_MAX_GROSS},
      {"max_net", ll_net, 1, RISK_MAX_NET},
      {"max_concentration_pct", ll_concentration, 1, RISK_CONCENTRATION},
      {"check_buying_power", ll_buying_power, 1, RISK_BUYING_POWER},
      {"account max_open_orders", ll_acct_open, 1, RISK_MAX_OPEN_ORDERS},
      {"strategy max_open_orders", ll_strat_open, 1, RISK_MAX_OPEN_ORDERS},
      {"account max_orders_per_sec", ll_acct_sec, 2, RISK_RATE_SEC},
      {"strategy max_orders_per_sec", ll_strat_sec, 2, RISK_RATE_SEC},
      {"account max_orders_per_min", ll_acct_min, 2, RISK_RATE_MIN},
      {"strategy max_orders_per_min", ll_strat_min, 2, RISK_RATE_MIN},
      {"dup_window", ll_dup, 2, RISK_DUPLICATE},
      {"trading window", ll_window, 1, RISK_OUTSIDE_WINDOW},
      {"no_new_entries", ll_no_entries, 1, RISK_NO_NEW_ENTRIES},
      {"pdt", ll_pdt, 1, RISK_PDT},
      {"account max_daily_loss", ll_acct_loss, 1, RISK_DAILY_LOSS},
      {"strategy max_daily_loss", ll_strat_loss, 1, RISK_DAILY_LOSS},
      {"account max_drawdown", ll_acct_dd, 1, RISK_DRAWDOWN},
      {"strategy max_drawdown", ll_strat_dd, 1, RISK_DRAWDOWN},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(cases); i++) {
    const lone_limit *c = &cases[i];
    rig g;
    risk_input in;
    order o;
    /* every limit off: passes */
    rig_init(&g);
    in = base_in();
    o = BUY("10");
    c->set(&g, &in, &o);
    rig g0;
    rig_init(&g0);
    risk *r = rig_start(&g0);
    if (nth(r, &o, &in, c->norders, c->what) != RISK_OK)
      fail_msg("%s: refused with every limit off", c->what);
    rig_done(&g0);
    /* the limit alone, from the start */
    r = rig_start(&g);
    enum risk_reason got = nth(r, &o, &in, c->norders, c->what);
    if (got != c->why)
      fail_msg("%s: %s, expected %s", c->what, risk_reason_name(got),
               risk_reason_name(c->why));
    rig_done(&g);
    /* the limit alone, added by a reload */
    rig_init(&g);
    r = rig_start(&g);
    in = base_in();
    o = BUY("10");
    c->set(&g, &in, &o);
    assert_int_equal(risk_reload(r, &g.c), 0);
    got = nth(r, &o, &in, c->norders, c->what);
    if (got != c->why)
      fail_msg("%s after a reload: %s, expected %s", c->what,
               risk_reason_name(got), risk_reason_name(c->why));
    rig_done(&g);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_structural),
      cmocka_unit_test(test_max_order_qty),
      cmocka_unit_test(test_max_order_notional),
      cmocka_unit_test(test_price_collar_pct),
      cmocka_unit_test(test_price_collar_ticks),
      cmocka_unit_test(test_reference_price),
      cmocka_unit_test(test_max_pos_qty),
      cmocka_unit_test(test_max_pos_notional),
      cmocka_unit_test(test_max_gross),
      cmocka_unit_test(test_max_net),
      cmocka_unit_test(test_concentration),
      cmocka_unit_test(test_buying_power),
      cmocka_unit_test(test_max_open_orders),
      cmocka_unit_test(test_rate_per_second),
      cmocka_unit_test(test_rate_per_minute),
      cmocka_unit_test(test_duplicate),
      cmocka_unit_test(test_restricted),
      cmocka_unit_test(test_short_sales),
      cmocka_unit_test(test_sessions),
      cmocka_unit_test(test_trading_window),
      cmocka_unit_test(test_no_new_entries),
      cmocka_unit_test(test_pdt),
      cmocka_unit_test(test_daily_loss),
      cmocka_unit_test(test_drawdown),
      cmocka_unit_test(test_kill_switch),
      cmocka_unit_test(test_halted),
      cmocka_unit_test(test_reducing_only),
      cmocka_unit_test(test_check_order),
      cmocka_unit_test(test_most_specific_wins),
      cmocka_unit_test(test_modes_over_days),
      cmocka_unit_test(test_reload),
      cmocka_unit_test(test_fill_loop),
      cmocka_unit_test(test_consecutive_losses),
      cmocka_unit_test(test_duplicate_key),
      cmocka_unit_test(test_duplicate_window),
      cmocka_unit_test(test_duplicate_many),
      cmocka_unit_test(test_transition_table),
      cmocka_unit_test(test_transitions_observed),
      cmocka_unit_test(test_snapshot_property),
      cmocka_unit_test(test_snapshot_refused),
      cmocka_unit_test(test_snapshot_layout),
      cmocka_unit_test(test_inputs_needed),
      cmocka_unit_test(test_each_limit_alone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
