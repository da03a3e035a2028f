/* test_portfolio.c - positions, cash, equity, realised and unrealised P&L,
 * fees, round-trip records and day trades, against a scenario computed by
 * hand (the arithmetic is in the comments). */
#include "core/prelude.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "core/error.h"
#include "engine/portfolio.h"

/* Exact decimal text to fx; the test data is always well formed. */
static fx F(const char *s) {
  fx v;
  if (fx_parse_cstr(s, &v))
    fail_msg("bad fx literal %s", s);
  return v;
}

#define assert_fx(got, text)                                                   \
  do {                                                                         \
    fx got_ = (got), want_ = F(text);                                          \
    if (got_ != want_) {                                                       \
      char gb_[FX_STRLEN];                                                     \
      fx_format(got_, gb_, sizeof gb_);                                        \
      fail_msg("%s is %s, want %s", #got, gb_, text);                          \
    }                                                                          \
  } while (0)

#define DAY0 20094 /* 2025-01-06, any day number works */
#define T(min) ((dto_time)(min)*DTO_NS_PER_MIN)

static const fee_schedule fees = {
    .per_share = 500000, /* 0.005 */
    .per_order = FX_ONE, /* 1 */
    .bps = 0,
    .min_per_order = FX_ONE, /* 1 */
    .max_pct = 0,
};

static portfolio *new_portfolio(void) {
  static const fx cash[1] = {100000 * FX_ONE};
  static const uint32_t sacct[1] = {0};
  static const fx salloc[1] = {100000 * FX_ONE};
  portfolio_config pc = {1, cash, 1, sacct, salloc, 1, NULL, NULL};
  return portfolio_new(&pc);
}

static order mk(order_id id, enum order_side side) {
  order o;
  memset(&o, 0, sizeof o);
  o.id = id;
  o.side = side;
  o.type = ORD_MARKET;
  o.account = 0;
  o.strategy = 0;
  o.sym = 0;
  return o;
}

/* One whole order filled at once, with the schedule's fee for a first
 * fill, which the test also checks against its hand-computed value. */
static void fill(portfolio *p, order_id id, enum order_side side,
                 const char *qty, const char *price, const char *want_fee,
                 dto_time t, int64_t day, bool want_dt) {
  order o = mk(id, side);
  fx q = F(qty), px = F(price);
  fx fee = fee_compute(&fees, q, px, true);
  assert_fx(fee, want_fee);
  bool dt = !want_dt;
  assert_int_equal(portfolio_fill(p, &o, q, px, fee, t, day, &dt), 0);
  assert_int_equal(dt, want_dt);
}

typedef struct expect {
  const char *qty, *cost, *avg, *realized, *fees, *cash, *equity, *unreal,
      *gross;
} expect;

static void check(const portfolio *p, const expect *x) {
  const position *ap = portfolio_account_pos(p, 0, 0);
  const position *sp = portfolio_strategy_pos(p, 0, 0);
  assert_fx(ap->qty, x->qty);
  assert_fx(ap->cost, x->cost);
  fx avg = 0;
  if (ap->qty)
    assert_int_equal(fx_div(fx_abs(ap->cost), fx_abs(ap->qty), &avg), 0);
  assert_fx(avg, x->avg);
  assert_fx(ap->realized, x->realized);
  assert_fx(ap->fees, x->fees);
  assert_fx(portfolio_account_realized(p, 0), x->realized);
  assert_fx(portfolio_account_fees(p, 0), x->fees);
  assert_fx(portfolio_account_cash(p, 0), x->cash);
  assert_fx(portfolio_account_equity(p, 0), x->equity);
  assert_fx(portfolio_account_unrealized(p, 0), x->unreal);
  assert_fx(portfolio_account_gross(p, 0), x->gross);
  /* The only strategy holds all of the account, with the same allocation. */
  assert_memory_equal(sp, ap, sizeof *sp);
  assert_fx(portfolio_strategy_cash(p, 0), x->cash);
  assert_fx(portfolio_strategy_equity(p, 0), x->equity);
  assert_fx(portfolio_strategy_realized(p, 0), x->realized);
  assert_fx(portfolio_strategy_fees(p, 0), x->fees);
  /* Ledger identity: equity = initial cash + realised + unrealised - fees */
  assert_int_equal(portfolio_account_equity(p, 0),
                   100000 * FX_ONE + portfolio_account_realized(p, 0) +
                       portfolio_account_unrealized(p, 0) -
                       portfolio_account_fees(p, 0));
}

static void test_scenario(void **state) {
  (void)state;
  portfolio *p = new_portfolio();
  size_t ntr;
  assert_fx(portfolio_account_cash(p, 0), "100000");
  assert_fx(portfolio_account_equity(p, 0), "100000");
  assert_fx(portfolio_last(p, 0), "0");
  assert_int_equal(portfolio_account_pos(p, 0, 0)->open_day, -1);

  /* 1. buy 100 @ 10.00 on day 0.
   *    fee  = 100 x 0.005 + 1 = 1.50 (above the minimum of 1)
   *    cost = 100 x 10.00 = 1000.00, avg 10.00
   *    cash = 100000 - 1000 - 1.50 = 98998.50
   *    the first fill marks the symbol at 10.00: mv 1000, gross 1000
   *    equity = 98998.50 + 1000 = 99998.50, unrealised 1000 - 1000 = 0 */
  fill(p, 0, SIDE_BUY, "100", "10.00", "1.5", T(1), DAY0, false);
  assert_fx(portfolio_last(p, 0), "10");
  check(p, &(expect){"100", "1000", "10", "0", "1.5", "98998.5", "99998.5", "0",
                     "1000"});
  assert_int_equal(portfolio_account_pos(p, 0, 0)->open_day, DAY0);

  /* 2. buy 50 @ 10.30.
   *    fee  = 50 x 0.005 + 1 = 1.25; fees 1.50 + 1.25 = 2.75
   *    cost = 1000 + 50 x 10.30 = 1000 + 515 = 1515.00, avg 1515/150 = 10.10
   *    cash = 98998.50 - 515 - 1.25 = 98482.25
   *    a fill does not re-mark: last stays 10.00, mv = 150 x 10 = 1500
   *    equity = 98482.25 + 1500 = 99982.25, unrealised 1500 - 1515 = -15 */
  fill(p, 1, SIDE_BUY, "50", "10.30", "1.25", T(2), DAY0, false);
  check(p, &(expect){"150", "1515", "10.1", "0", "2.75", "98482.25", "99982.25",
                     "-15", "1500"});

  /* 3. mark 10.50: mv = 150 x 10.50 = 1575
   *    equity = 98482.25 + 1575 = 100057.25, unrealised 1575 - 1515 = 60 */
  portfolio_mark(p, 0, F("10.50"));
  assert_fx(portfolio_last(p, 0), "10.5");
  check(p, &(expect){"150", "1515", "10.1", "0", "2.75", "98482.25",
                     "100057.25", "60", "1575"});

  /* 4. sell 120 @ 10.60, same day: a day trade.
   *    fee = 120 x 0.005 + 1 = 1.60; fees 4.35
   *    cost of the 120 closed = 1515 x 120 / 150 = 1212.00
   *    realised = 120 x 10.60 - 1212 = 1272 - 1212 = 60.00
   *    left: 30, cost 1515 - 1212 = 303.00, avg 10.10
   *    cash = 98482.25 + 1272 - 1.60 = 99752.65
   *    mv = 30 x 10.50 = 315; equity = 100067.65; unrealised 315 - 303 = 12 */
  fill(p, 2, SIDE_SELL, "120", "10.60", "1.6", T(3), DAY0, true);
  check(p, &(expect){"30", "303", "10.1", "60", "4.35", "99752.65", "100067.65",
                     "12", "315"});
  portfolio_trades(p, &ntr);
  assert_int_equal(ntr, 0); /* still open */

  /* 5. sell 80 @ 10.40 on the next day: closes 30, opens a short of 50.
   *    Not a day trade: the long was opened yesterday.
   *    fee = 80 x 0.005 + 1 = 1.40; fees 5.75
   *    realised on 30 = 30 x 10.40 - 303 = 312 - 303 = 9.00; total 69.00
   *    short 50: cost = -50 x 10.40 = -520.00, avg 10.40
   *    cash = 99752.65 + 80 x 10.40 - 1.40 = 99752.65 + 832 - 1.40
   *         = 100583.25
   *    mv = -50 x 10.50 = -525; equity = 100583.25 - 525 = 100058.25
   *    unrealised = -525 - (-520) = -5; gross |mv| = 525 */
  fill(p, 3, SIDE_SELL, "80", "10.40", "1.4", T(1440 + 1), DAY0 + 1, false);
  check(p, &(expect){"-50", "-520", "10.4", "69", "5.75", "100583.25",
                     "100058.25", "-5", "525"});
  assert_int_equal(portfolio_account_pos(p, 0, 0)->open_day, DAY0 + 1);

  /* The long round trip is finished, split at the flip:
   *   entries 100 @ 10.00 + 50 @ 10.30: qty 150, value 1000 + 515 = 1515
   *   exits 120 @ 10.60 + 30 @ 10.40: qty 150, value 1272 + 312 = 1584
   *   pnl 60 + 9 = 69 (= 1584 - 1515)
   *   fees 1.50 + 1.25 + 1.60 + 30/80 of 1.40 (= 0.525) = 4.875 */
  const trade_rec *tr = portfolio_trades(p, &ntr);
  assert_int_equal(ntr, 1);
  assert_int_equal(tr[0].strategy, 0);
  assert_int_equal(tr[0].sym, 0);
  assert_int_equal(tr[0].dir, 1);
  assert_int_equal(tr[0].entry_time, T(1));
  assert_int_equal(tr[0].exit_time, T(1441));
  assert_fx(tr[0].qty, "150");
  assert_fx(tr[0].entry_qty, "150");
  assert_fx(tr[0].entry_value, "1515");
  assert_fx(tr[0].exit_qty, "150");
  assert_fx(tr[0].exit_value, "1584");
  assert_fx(tr[0].pnl, "69");
  assert_fx(tr[0].fees, "4.875");

  /* 6. buy 50 @ 10.00, same day as the short: flat, a day trade.
   *    fee = 50 x 0.005 + 1 = 1.25; fees 7.00
   *    realised = 520 - 50 x 10.00 = 20.00; total 89.00
   *    cash = 100583.25 - 500 - 1.25 = 100082.00 = equity
   *    check: 100000 + 89 - 7 = 100082 */
  fill(p, 4, SIDE_BUY, "50", "10.00", "1.25", T(1440 + 2), DAY0 + 1, true);
  check(p, &(expect){"0", "0", "0", "89", "7", "100082", "100082", "0", "0"});

  /* The short round trip: 50 sold at 10.40 (520), bought back at 10.00
   * (500), pnl 20, fees 1.40 - 0.525 = 0.875 plus 1.25 = 2.125.  Both
   * records together: pnl 69 + 20 = 89, fees 4.875 + 2.125 = 7. */
  tr = portfolio_trades(p, &ntr);
  assert_int_equal(ntr, 2);
  assert_int_equal(tr[1].dir, -1);
  assert_int_equal(tr[1].entry_time, T(1441));
  assert_int_equal(tr[1].exit_time, T(1442));
  assert_fx(tr[1].qty, "50");
  assert_fx(tr[1].entry_qty, "50");
  assert_fx(tr[1].entry_value, "520");
  assert_fx(tr[1].exit_qty, "50");
  assert_fx(tr[1].exit_value, "500");
  assert_fx(tr[1].pnl, "20");
  assert_fx(tr[1].fees, "2.125");

  /* Day trades: one on each day, two in all. */
  assert_int_equal(portfolio_day_trades(p, 0, DAY0), 1);
  assert_int_equal(portfolio_day_trades(p, 0, DAY0 + 1), 1);
  assert_int_equal(portfolio_day_trades(p, 0, DAY0 + 2), 0);
  assert_int_equal(portfolio_day_trades_total(p, 0), 2);

  /* Marking a flat book changes nothing but the last price. */
  portfolio_mark(p, 0, F("11"));
  check(p, &(expect){"0", "0", "0", "89", "7", "100082", "100082", "0", "0"});
  assert_fx(portfolio_account_buying_power(p, 0), "100082");
  portfolio_free(p);
  portfolio_free(NULL);
}

/* A day trade is counted once per order, however many fills it has; a
 * position opened yesterday and closed today is no day trade; one opened
 * yesterday and added to today is. */
static void test_day_trades(void **state) {
  (void)state;
  portfolio *p = new_portfolio();
  order b = mk(0, SIDE_BUY), s = mk(1, SIDE_SELL);
  bool dt;
  assert_int_equal(portfolio_fill(p, &b, F("100"), F("10"), 0, T(1), DAY0, &dt),
                   0);
  assert_false(dt);
  /* next day: sell 40 in two fills of the same order */
  assert_int_equal(
      portfolio_fill(p, &s, F("20"), F("10"), 0, T(1500), DAY0 + 1, &dt), 0);
  assert_false(dt);
  assert_int_equal(
      portfolio_fill(p, &s, F("20"), F("10"), 0, T(1501), DAY0 + 1, &dt), 0);
  assert_false(dt);
  assert_int_equal(portfolio_day_trades_total(p, 0), 0);
  /* long 60; add 10 today, then sell the 70 in two fills: one day trade */
  order b2 = mk(2, SIDE_BUY), s2 = mk(3, SIDE_SELL);
  assert_int_equal(
      portfolio_fill(p, &b2, F("10"), F("10"), 0, T(1502), DAY0 + 1, &dt), 0);
  assert_false(dt);
  assert_int_equal(
      portfolio_fill(p, &s2, F("35"), F("10"), 0, T(1503), DAY0 + 1, &dt), 0);
  assert_true(dt);
  assert_int_equal(
      portfolio_fill(p, &s2, F("35"), F("10"), 0, T(1504), DAY0 + 1, &dt), 0);
  assert_false(dt); /* same order: counted already */
  assert_int_equal(portfolio_day_trades(p, 0, DAY0 + 1), 1);
  assert_int_equal(portfolio_day_trades_total(p, 0), 1);
  assert_fx(portfolio_account_pos(p, 0, 0)->qty, "0");
  /* A fill that is refused changes nothing. */
  fx cash = portfolio_account_cash(p, 0);
  assert_int_equal(
      portfolio_fill(p, &b, 0, F("10"), 0, T(1505), DAY0 + 1, NULL),
      DTO_EOVERFLOW);
  assert_int_equal(portfolio_fill(p, &b, F("1"), 0, 0, T(1505), DAY0 + 1, NULL),
                   DTO_EOVERFLOW);
  assert_int_equal(
      portfolio_fill(p, &b, FX_MAX / 2, F("1000"), 0, T(1505), DAY0 + 1, NULL),
      DTO_EOVERFLOW);
  assert_int_equal(portfolio_account_cash(p, 0), cash);
  assert_fx(portfolio_account_pos(p, 0, 0)->qty, "0");
  portfolio_free(p);
}

/* Two strategies in one account: account positions are the sum, strategy
 * books are separate. */
static void test_two_strategies(void **state) {
  (void)state;
  static const fx cash[1] = {50000 * FX_ONE};
  static const uint32_t sacct[2] = {0, 0};
  static const fx salloc[2] = {20000 * FX_ONE, 30000 * FX_ONE};
  portfolio_config pc = {1, cash, 2, sacct, salloc, 2, NULL, NULL};
  portfolio *p = portfolio_new(&pc);
  order a = mk(0, SIDE_BUY), b = mk(1, SIDE_SELL);
  b.strategy = 1;
  a.sym = b.sym = 1;
  /* s0 buys 10 @ 20, s1 sells 4 @ 21: account long 6; s0 long 10, s1 short 4 */
  assert_int_equal(
      portfolio_fill(p, &a, F("10"), F("20"), F("1"), T(1), DAY0, NULL), 0);
  assert_int_equal(
      portfolio_fill(p, &b, F("4"), F("21"), F("1"), T(2), DAY0, NULL), 0);
  assert_fx(portfolio_account_pos(p, 0, 1)->qty, "6");
  assert_fx(portfolio_strategy_pos(p, 0, 1)->qty, "10");
  assert_fx(portfolio_strategy_pos(p, 1, 1)->qty, "-4");
  assert_fx(portfolio_account_pos(p, 0, 0)->qty, "0");
  /* account: sells 4 of its 10 at 21: cost 200 x 4/10 = 80, realised
   * 84 - 80 = 4; s1 opened a short and realised nothing. */
  assert_fx(portfolio_account_realized(p, 0), "4");
  assert_fx(portfolio_strategy_realized(p, 0), "0");
  assert_fx(portfolio_strategy_realized(p, 1), "0");
  /* cash: 50000 - 200 - 1 + 84 - 1 = 49882; s0 20000 - 201 = 19799;
   * s1 30000 + 84 - 1 = 30083 */
  assert_fx(portfolio_account_cash(p, 0), "49882");
  assert_fx(portfolio_strategy_cash(p, 0), "19799");
  assert_fx(portfolio_strategy_cash(p, 1), "30083");
  /* mark 22: account 49882 + 6 x 22 = 50014; s0 19799 + 220 = 20019;
   * s1 30083 - 88 = 29995 */
  portfolio_mark(p, 1, F("22"));
  assert_fx(portfolio_account_equity(p, 0), "50014");
  assert_fx(portfolio_strategy_equity(p, 0), "20019");
  assert_fx(portfolio_strategy_equity(p, 1), "29995");
  assert_fx(portfolio_account_gross(p, 0), "132");
  assert_fx(portfolio_account_unrealized(p, 0), "12"); /* 132 - 120 */
  portfolio_free(p);
}

/* The books as portfolio_fill kept them when it took every product of a
 * fill from fx_mul of its own quantity (the slow path): a position, and
 * the entry and exit values of a round trip.  portfolio_fill takes the
 * products of the whole quantity from value = qty x price instead. */
typedef struct slow_book {
  position pos;
  fx entry_value, exit_value;
  bool finished; /* a round trip ended at the last fill */
  fx done_entry, done_exit;
} slow_book;

static fx slow_mul(fx a, fx b) {
  fx r;
  assert_int_equal(fx_mul(a, b, &r), 0);
  return r;
}

static void slow_fill(slow_book *b, fx dq, fx price) {
  position *pos = &b->pos;
  fx before = pos->qty, absdq = fx_abs(dq);
  b->finished = false;
  if (before == 0 || (before > 0) == (dq > 0)) {
    if (before == 0)
      b->entry_value = b->exit_value = 0;
    pos->cost += slow_mul(dq, price);
    pos->qty += dq;
    b->entry_value += slow_mul(absdq, price);
    return;
  }
  fx closeq = fx_min(absdq, fx_abs(before)), cost_closed = pos->cost;
  if (closeq != fx_abs(before))
    assert_int_equal(fx_muldiv(pos->cost, closeq, fx_abs(before),
                               FX_ROUND_NEAREST, &cost_closed),
                     0);
  fx closed_value = slow_mul(closeq, price);
  pos->realized +=
      before > 0 ? closed_value - cost_closed : -closed_value - cost_closed;
  pos->cost -= cost_closed;
  pos->qty += before > 0 ? -closeq : closeq;
  b->exit_value += slow_mul(closeq, price);
  fx after = before + dq;
  if (after == 0 || (after > 0) != (before > 0)) {
    b->finished = true;
    b->done_entry = b->entry_value;
    b->done_exit = b->exit_value;
  }
  fx rest = absdq - closeq;
  if (rest > 0) {
    fx rest_value = slow_mul(absdq, price) - closed_value;
    pos->cost = dq > 0 ? rest_value : -rest_value;
    pos->qty = dq > 0 ? rest : -rest;
    b->entry_value = slow_mul(rest, price);
    b->exit_value = 0;
  }
}

static trade_rec last_trade;
static int ntrades;
static void on_trade(void *ctx, const trade_rec *t) {
  (void)ctx;
  last_trade = *t;
  ntrades++;
}

/* Random fills (whole and fractional quantities and prices, partial
 * closes, flips) through portfolio_fill against the slow path: the same
 * position, cash and round trips to the last 1e-8. */
static void test_fill_products(void **state) {
  (void)state;
  static const fx cash[1] = {0};
  static const uint32_t sacct[1] = {0};
  static const fx salloc[1] = {0};
  portfolio_config pc = {1, cash, 1, sacct, salloc, 1, on_trade, NULL};
  portfolio *p = portfolio_new(&pc);
  slow_book b;
  memset(&b, 0, sizeof b);
  fx want_cash = 0;
  ntrades = 0;
  int want_trades = 0;
  uint64_t x = 0x2545F4914F6CDD1DULL;
  for (int i = 0; i < 50000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    order o = mk((order_id)i, (x & 1) ? SIDE_BUY : SIDE_SELL);
    fx q = (fx)((x >> 4 & 63) + 1) * FX_ONE;
    if (x >> 12 & 1)
      q += (fx)(x >> 13 & 0xFFFFFF); /* a fraction of a unit */
    fx held = b.pos.qty;
    if ((x >> 40 & 3) == 0 && held) { /* flat again */
      o.side = held > 0 ? SIDE_SELL : SIDE_BUY;
      q = fx_abs(held);
    }
    fx px = (fx)(x >> 42 & 0x3FFFFF) * 997 + 1;
    fx dq = o.side == SIDE_BUY ? q : -q, value = slow_mul(q, px);
    slow_fill(&b, dq, px);
    want_cash += o.side == SIDE_BUY ? -value : value;
    want_trades += b.finished;
    assert_int_equal(portfolio_fill(p, &o, q, px, 0, T(i), DAY0, NULL), 0);
    const position *got = portfolio_strategy_pos(p, 0, 0);
    const position *acct = portfolio_account_pos(p, 0, 0);
    if (got->qty != b.pos.qty || got->cost != b.pos.cost ||
        got->realized != b.pos.realized || acct->qty != b.pos.qty ||
        acct->cost != b.pos.cost || acct->realized != b.pos.realized)
      fail_msg("fill %d: position %lld %lld %lld, slow path %lld %lld %lld", i,
               (long long)got->qty, (long long)got->cost,
               (long long)got->realized, (long long)b.pos.qty,
               (long long)b.pos.cost, (long long)b.pos.realized);
    assert_int_equal(portfolio_account_cash(p, 0), want_cash);
    assert_int_equal(ntrades, want_trades);
    if (b.finished && (last_trade.entry_value != b.done_entry ||
                       last_trade.exit_value != b.done_exit))
      fail_msg("fill %d: round trip %lld %lld, slow path %lld %lld", i,
               (long long)last_trade.entry_value,
               (long long)last_trade.exit_value, (long long)b.done_entry,
               (long long)b.done_exit);
  }
  portfolio_free(p);
}

/* portfolio_account_marks (whose walk takes whole quantities at prices
 * >= 0 without a call) and portfolio_total_marks (whose accounts without
 * an open position take no walk) against the equity and the gross
 * exposure worked out from the positions and prices with fx_mul, through
 * random fills and marks of accounts in one or two symbols: flat, long and
 * short, whole and fractional quantities, prices of any sign. */
static void total_marks_case(uint32_t na, uint32_t nsym) {
  static const fx cash[3] = {50000 * FX_ONE, 0, -7 * FX_ONE};
  static const uint32_t sacct[3] = {0, 1, 2};
  static const fx salloc[3] = {50000 * FX_ONE, 0, 0};
  portfolio_config pc = {na, cash, na, sacct, salloc, nsym, NULL, NULL};
  portfolio *p = portfolio_new(&pc);
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    sym_id sym = (sym_id)((x >> 60 & 1) % nsym);
    if (x % 3 == 0) { /* a fill of 1 to 16 (or a fraction), or a close */
      order o = mk((order_id)i, (x >> 8 & 1) ? SIDE_BUY : SIDE_SELL);
      o.account = o.strategy = (uint32_t)((x >> 9) % na);
      o.sym = sym;
      fx q = (fx)((x >> 12 & 15) + 1) * FX_ONE - ((x >> 20 & 1) ? 1234 : 0);
      fx px = (fx)(x >> 24 & 0xFFFFF) * 1000;
      fx held = portfolio_account_pos(p, o.account, sym)->qty;
      if ((x >> 44 & 1) && held) { /* flat again */
        o.side = held > 0 ? SIDE_SELL : SIDE_BUY;
        q = fx_abs(held);
      }
      assert_int_equal(
          portfolio_fill(p, &o, q, px, FX_ONE / 100, T(i), DAY0, NULL), 0);
    } else { /* a mark, sometimes 0 or negative */
      portfolio_mark(p, sym, (fx)(x >> 32 & 0xFFFFFF) * 100 - 200000000);
    }
    fx want = 0, eq;
    bool want_ex = false, ex;
    for (uint32_t a = 0; a < na; a++) {
      fx we = portfolio_account_cash(p, a), wg = 0, ae, ag;
      for (sym_id y = 0; y < nsym; y++) {
        fx q = portfolio_account_pos(p, a, y)->qty, px = portfolio_last(p, y);
        fx v, g;
        assert_int_equal(fx_mul(q, px, &v), 0);
        assert_int_equal(fx_mul(fx_abs(q), px, &g), 0);
        we += v;
        wg += g; /* gross: the sum of |q| x px */
      }
      portfolio_account_marks(p, a, &ae, &ag);
      if (ae != we || ag != wg)
        fail_msg("step %d, account %u: %lld %lld, want %lld %lld", i, a,
                 (long long)ae, (long long)ag, (long long)we, (long long)wg);
      want += we;
      want_ex |= wg != 0;
    }
    portfolio_total_marks(p, &eq, &ex);
    if (eq != want || ex != want_ex)
      fail_msg("step %d: total %lld %d, accounts %lld %d", i, (long long)eq, ex,
               (long long)want, want_ex);
  }
  portfolio_free(p);
}

/* One account (its marks are the total) and three; one account in one
 * symbol (portfolio_total_marks's own loop) too. */
static void test_total_marks(void **state) {
  (void)state;
  total_marks_case(1, 2);
  total_marks_case(3, 2);
  total_marks_case(1, 1);
}

static void test_fee_compute(void **state) {
  (void)state;
  fee_schedule f;
  /* bps only: 1 bps of 100 x 10 = 1000 -> 0.10 */
  memset(&f, 0, sizeof f);
  f.bps = F("1");
  assert_fx(fee_compute(&f, F("100"), F("10"), true), "0.1");
  assert_fx(fee_compute(&f, F("100"), F("10"), false), "0.1");
  /* 2.5 bps of 3 x 0.37 = 1.11 -> 0.0002775 */
  f.bps = F("2.5");
  assert_fx(fee_compute(&f, F("3"), F("0.37"), true), "0.0002775");
  /* 0.3 bps of 1 x 0.01 = 0.0000003 (exact at 8 decimals) */
  f.bps = F("0.3");
  assert_fx(fee_compute(&f, F("1"), F("0.01"), true), "0.0000003");
  /* 0.5 bps of 0.01 x 0.01 = 0.0001 -> 0.000000005, rounded half away
   * from zero to 0.00000001 */
  f.bps = F("0.5");
  assert_fx(fee_compute(&f, F("0.01"), F("0.01"), true), "0.00000001");

  /* per share + per order with a minimum: the minimum is a floor of the
   * first fill's fee only */
  memset(&f, 0, sizeof f);
  f.per_share = F("0.005");
  f.min_per_order = F("1");
  assert_fx(fee_compute(&f, F("100"), F("10"), true), "1");    /* 0.5 -> 1 */
  assert_fx(fee_compute(&f, F("100"), F("10"), false), "0.5"); /* no floor */
  assert_fx(fee_compute(&f, F("1000"), F("10"), true), "5");   /* above */
  f.per_order = F("0.35");
  assert_fx(fee_compute(&f, F("100"), F("10"), true), "1");    /* 0.85 */
  assert_fx(fee_compute(&f, F("200"), F("10"), true), "1.35"); /* 1 + 0.35 */
  assert_fx(fee_compute(&f, F("200"), F("10"), false), "1");   /* no p/o */

  /* a cap in percent of the fill's value beats the minimum:
   * 1 x 10.00: 0.005 + 0.35 -> floor 1 -> cap 1% of 10 = 0.10 */
  f.max_pct = F("1");
  assert_fx(fee_compute(&f, F("1"), F("10"), true), "0.1");
  /* 1000 x 10: 5 + 0.35 = 5.35, cap 100: not reached */
  assert_fx(fee_compute(&f, F("1000"), F("10"), true), "5.35");
  /* 0.5% cap of 2 x 0.50 = 1.00 -> 0.005 */
  f.max_pct = F("0.5");
  assert_fx(fee_compute(&f, F("2"), F("0.5"), false), "0.005");

  /* everything at once: 100 x 20 = 2000; 0.5 + 0.2 (1 bps) + 1 = 1.7 */
  memset(&f, 0, sizeof f);
  f.per_share = F("0.005");
  f.per_order = F("1");
  f.bps = F("1");
  f.min_per_order = F("1");
  assert_fx(fee_compute(&f, F("100"), F("20"), true), "1.7");
  assert_fx(fee_compute(&f, F("100"), F("20"), false), "0.7");
  /* no fees at all */
  memset(&f, 0, sizeof f);
  assert_fx(fee_compute(&f, F("100"), F("20"), true), "0");
}

/* Rows read back from a store are checked like fills: a value that would
 * overflow a balance is refused and nothing changes; a sound row moves cash
 * by realized - cost - fees (hand count). */
static void test_restore_checked(void **state) {
  (void)state;
  portfolio *p = new_portfolio();
  position bad = {10 * FX_ONE, -FX_MAX, 0, 0, -1}; /* cash + FX_MAX */
  assert_int_equal(portfolio_restore(p, 0, -1, 0, &bad), DTO_EOVERFLOW);
  assert_int_equal(portfolio_account_cash(p, 0), 100000 * FX_ONE);
  assert_int_equal(portfolio_account_pos(p, 0, 0)->qty, 0);
  position neg = {0, 0, 0, -FX_ONE, -1}; /* negative fees */
  assert_int_equal(portfolio_restore(p, 0, -1, 0, &neg), DTO_EOVERFLOW);
  position ok = {10 * FX_ONE, 1000 * FX_ONE, 50 * FX_ONE, 2 * FX_ONE, -1};
  assert_int_equal(portfolio_restore(p, 0, -1, 0, &ok), 0);
  /* 100000 + 50 - 1000 - 2 */
  assert_int_equal(portfolio_account_cash(p, 0), 99048 * FX_ONE);
  assert_int_equal(portfolio_account_pos(p, 0, 0)->qty, 10 * FX_ONE);
  portfolio_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scenario),
      cmocka_unit_test(test_day_trades),
      cmocka_unit_test(test_two_strategies),
      cmocka_unit_test(test_total_marks),
      cmocka_unit_test(test_fill_products),
      cmocka_unit_test(test_fee_compute),
      cmocka_unit_test(test_restore_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
