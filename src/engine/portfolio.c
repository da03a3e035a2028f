/* portfolio.c - positions, cash, realised and unrealised P&L, fees. */
#include "engine/portfolio_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "engine/snapshot.h"

/* Arithmetic on the ledger is checked: an overflow sets *ovf (sticky) and
 * the caller changes nothing.  Broker reports are validated before they get
 * here (engine_reports.c); this is the last line, so a value that slipped
 * through can never wrap a balance or abort the process. */
static fx cmul(fx a, fx b, bool *ovf) {
  fx r;
  if (fx_mul(a, b, &r)) {
    *ovf = true;
    return 0;
  }
  return r;
}
static fx cadd(fx a, fx b, bool *ovf) {
  fx r;
  if (fx_add(a, b, &r)) {
    *ovf = true;
    return 0;
  }
  return r;
}
static fx csub(fx a, fx b, bool *ovf) {
  fx r;
  if (fx_sub(a, b, &r)) {
    *ovf = true;
    return 0;
  }
  return r;
}
/* Saturating, for sums that are reported rather than booked. */
static fx smul(fx a, fx b) {
  fx r;
  if (fx_mul(a, b, &r))
    return ((a > 0) == (b > 0)) ? FX_MAX : -FX_MAX;
  return r;
}
static fx sadd(fx a, fx b) {
  fx r;
  if (fx_add(a, b, &r))
    return a > 0 ? FX_MAX : -FX_MAX;
  return r;
}

fx fee_compute(const fee_schedule *f, fx qty, fx price, bool first) {
  return portfolio__fee(f, smul(qty, price), smul(qty, f->per_share), first);
}

fx portfolio__fee(const fee_schedule *f, fx value, fx fee, bool first) {
  fx v;
  if (f->bps && fx_muldiv(value, f->bps, FX_SCALE * 10000LL, FX_ROUND_NEAREST,
                          &v) == 0)
    fee = sadd(fee, v);
  if (first) {
    fee = sadd(fee, f->per_order);
    if (fee < f->min_per_order)
      fee = f->min_per_order;
  }
  if (f->max_pct > 0) {
    fx cap;
    if (fx_muldiv(value, f->max_pct, FX_SCALE * 100LL, FX_ROUND_NEAREST,
                  &cap) == 0 &&
        fee > cap)
      fee = cap;
  }
  return fee;
}

portfolio *portfolio_new(const portfolio_config *cfg) {
  portfolio *p = xcalloc(1, sizeof *p);
  p->na = cfg->naccounts;
  p->ns = cfg->nstrategies;
  p->nsym = cfg->nsyms;
  p->on_trade = cfg->on_trade;
  p->trade_ctx = cfg->trade_ctx;
  p->a = xcalloc(p->na, sizeof *p->a);
  p->s = xcalloc(p->ns, sizeof *p->s);
  p->apos = xcalloc(p->na * p->nsym, sizeof *p->apos);
  p->spos = xcalloc(p->ns * p->nsym, sizeof *p->spos);
  p->otr = xcalloc(p->ns * p->nsym, sizeof *p->otr);
  p->dt_order = xcalloc(p->na * p->nsym, sizeof *p->dt_order);
  p->last = xcalloc(p->nsym, sizeof *p->last);
  for (size_t i = 0; i < p->na; i++) {
    p->a[i].cash = cfg->account_cash[i];
    for (int k = 0; k < 8; k++)
      p->a[i].dt_day[k] = -1;
  }
  for (size_t i = 0; i < p->na * p->nsym; i++) {
    p->apos[i].open_day = -1;
    p->dt_order[i] = ORDER_NONE;
  }
  for (size_t i = 0; i < p->ns * p->nsym; i++)
    p->spos[i].open_day = -1;
  for (size_t i = 0; i < p->ns; i++) {
    p->s[i].account = cfg->strategy_account[i];
    p->s[i].alloc = p->s[i].cash = cfg->strategy_alloc[i];
  }
  return p;
}

void portfolio_free(portfolio *p) {
  if (!p)
    return;
  free(p->a);
  free(p->s);
  free(p->apos);
  free(p->spos);
  free(p->otr);
  free(p->dt_order);
  free(p->last);
  free(p->trades);
  free(p);
}

/* Marking only records the price: market values are summed when asked
 * for (equity, gross exposure), which happens far less often than prices
 * arrive.  Keeping running sums instead cost a 128-bit multiply per
 * position per tick. */
void portfolio_mark(portfolio *p, sym_id sym, fx price) {
  p->last[sym] = price;
}

/* Signed (or absolute) market value of the positions in pos[0..nsym). */
static fx market_value(const portfolio *p, const position *pos, bool gross) {
  fx mv = 0;
  for (size_t s = 0; s < p->nsym; s++) {
    fx q = pos[s].qty;
    if (q)
      mv = sadd(mv, smul(gross ? fx_abs(q) : q, p->last[s]));
  }
  return mv;
}

/* Apply a signed quantity change dq at price to pos, value being
 * fx_mul(|dq|, price); returns the realised P&L of the part that reduced
 * the position.  Checked: see cmul.  A product of the whole quantity is
 * taken from value, which fits: fx_mul rounds the magnitude of a product
 * (half away from zero) and signs it after, so fx_mul(dq, price) is
 * exactly value or -value (test_portfolio's slow path checks this). */
static inline fx apply(position *pos, fx dq, fx price, fx value, int64_t day,
                       bool *ovf) {
  fx realized = 0;
  if (pos->qty == 0 || (pos->qty > 0) == (dq > 0)) {
    pos->cost = cadd(pos->cost, dq > 0 ? value : -value, ovf);
    pos->qty = cadd(pos->qty, dq, ovf);
    pos->open_day = day;
    return 0;
  }
  fx closeq = fx_min(fx_abs(dq), fx_abs(pos->qty));
  /* cost of the closed part: proportional, exact when fully closed */
  fx cost_closed;
  if (closeq == fx_abs(pos->qty)) {
    cost_closed = pos->cost;
  } else if (fx_muldiv(pos->cost, closeq, fx_abs(pos->qty), FX_ROUND_NEAREST,
                       &cost_closed)) {
    *ovf = true;
    return 0;
  }
  fx closed_value = closeq == fx_abs(dq) ? value : cmul(closeq, price, ovf);
  realized = pos->qty > 0 ? csub(closed_value, cost_closed, ovf)
                          : csub(-closed_value, cost_closed, ovf);
  pos->cost = csub(pos->cost, cost_closed, ovf);
  pos->qty += pos->qty > 0 ? -closeq : closeq; /* |closeq| <= |qty| */
  fx rest = fx_abs(dq) - closeq;
  if (rest > 0) { /* flipped through zero */
    /* The new position's cost is the fill's value less the closed part's,
     * so that cash (which moves by the fill's value, rounded once) stays
     * start + realized - cost - fees to the last 1e-8. */
    fx rest_value = csub(value, closed_value, ovf);
    fx sq = dq > 0 ? rest : -rest;
    pos->cost = dq > 0 ? rest_value : -rest_value;
    pos->qty = sq;
    pos->open_day = day;
  }
  pos->realized = cadd(pos->realized, realized, ovf);
  return realized;
}

static void push_trade(portfolio *p, const trade_rec *r) {
  if (p->ntrades == PORTFOLIO_KEEP_TRADES) { /* drop the older half */
    size_t half = PORTFOLIO_KEEP_TRADES / 2;
    memmove(p->trades, p->trades + half, (p->ntrades - half) * sizeof *r);
    p->ntrades -= half;
  }
  if (p->ntrades >= p->trades_cap) /* xgrow's test, without the call */
    p->trades = xgrow(p->trades, &p->trades_cap, p->ntrades + 1, sizeof *r);
  p->trades[p->ntrades++] = *r;
  p->trades_total++;
  if (p->on_trade)
    p->on_trade(p->trade_ctx, r);
}

/* Round-trip bookkeeping for one strategy position (value as apply's). */
static void track_trade(open_trade *ot, trade_rec *done, bool *finished,
                        const order *o, fx before, fx dq, fx price, fx value,
                        fx fee, fx realized, dto_time t, bool *ovf) {
  fx after = before + dq;
  fx absdq = fx_abs(dq);
  if (before == 0 || (before > 0) == (dq > 0)) {
    if (!ot->active) {
      memset(&ot->r, 0, sizeof ot->r);
      ot->active = true;
      ot->r.strategy = o->strategy;
      ot->r.sym = o->sym;
      ot->r.dir = dq > 0 ? 1 : -1;
      ot->r.entry_time = t;
    }
    ot->r.entry_qty = cadd(ot->r.entry_qty, absdq, ovf);
    ot->r.entry_value = cadd(ot->r.entry_value, value, ovf);
    ot->r.fees = cadd(ot->r.fees, fee, ovf);
    if (fx_abs(after) > ot->r.qty)
      ot->r.qty = fx_abs(after);
    return;
  }
  fx closeq = fx_min(absdq, fx_abs(before));
  fx fee_close = fee;
  if (closeq < absdq &&
      fx_muldiv(fee, closeq, absdq, FX_ROUND_NEAREST, &fee_close))
    *ovf = true;
  ot->r.exit_qty = cadd(ot->r.exit_qty, closeq, ovf);
  ot->r.exit_value =
      cadd(ot->r.exit_value, closeq == absdq ? value : cmul(closeq, price, ovf),
           ovf);
  ot->r.pnl = cadd(ot->r.pnl, realized, ovf);
  ot->r.fees = cadd(ot->r.fees, fee_close, ovf);
  if (after == 0 || (after > 0) != (before > 0)) {
    ot->r.exit_time = t;
    *done = ot->r;
    *finished = true;
    ot->active = false;
    if (after != 0) { /* flip: the rest opens a new round trip */
      memset(&ot->r, 0, sizeof ot->r);
      ot->active = true;
      ot->r.strategy = o->strategy;
      ot->r.sym = o->sym;
      ot->r.dir = after > 0 ? 1 : -1;
      ot->r.entry_time = t;
      ot->r.entry_qty = fx_abs(after);
      ot->r.entry_value = cmul(fx_abs(after), price, ovf);
      ot->r.fees = fee - fee_close;
      ot->r.qty = fx_abs(after);
    }
  }
}

static void count_day_trade(pf_acct *a, int64_t day) {
  a->day_trades++;
  int h = a->dt_head;
  if (a->dt_day[h] != day) {
    h = (h + 1) % 8;
    a->dt_head = h;
    a->dt_day[h] = day;
    a->dt_count[h] = 0;
  }
  a->dt_count[h]++;
}

int portfolio_fill(portfolio *p, const order *o, fx qty, fx price, fx fee,
                   dto_time t, int64_t day, bool *day_trade) {
  fx value;
  if (qty <= 0 || price <= 0 || fx_mul(qty, price, &value))
    return DTO_EOVERFLOW;
  return portfolio__fill(p, o, qty, price, value, fee, t, day, day_trade);
}

int portfolio__fill(portfolio *p, const order *o, fx qty, fx price, fx value,
                    fx fee, dto_time t, int64_t day, bool *day_trade) {
  if (qty <= 0 || price <= 0 || fee < 0 || o->account >= p->na ||
      o->strategy >= p->ns || o->sym >= p->nsym)
    return DTO_EOVERFLOW;
  fx dq = o->side == SIDE_BUY ? qty : -qty;
  sym_id sym = o->sym;
  size_t ai = o->account * p->nsym + sym, si = o->strategy * p->nsym + sym;
  /* Work on copies (of the books' sums: the whole records are larger);
   * commit only when no sum overflowed. */
  bool ovf = false;
  pf_acct *a = &p->a[o->account];
  strat_book *sb = &p->s[o->strategy];
  position ap = p->apos[ai], sp = p->spos[si];
  open_trade ot = p->otr[si];

  /* day trade: this order reduces an account position opened today */
  bool dt = ap.qty != 0 && (ap.qty > 0) != (dq > 0) && ap.open_day == day &&
            p->dt_order[ai] != o->id;

  fx sbefore = sp.qty;
  fx ar = apply(&ap, dq, price, value, day, &ovf);
  fx sr = apply(&sp, dq, price, value, day, &ovf);
  ap.fees = cadd(ap.fees, fee, &ovf);
  sp.fees = cadd(sp.fees, fee, &ovf);

  fx flow = csub(o->side == SIDE_BUY ? -value : value, fee, &ovf);
  fx a_cash = cadd(a->cash, flow, &ovf);
  fx a_realized = cadd(a->realized, ar, &ovf);
  fx a_fees = cadd(a->fees, fee, &ovf);
  fx s_cash = cadd(sb->cash, flow, &ovf);
  fx s_realized = cadd(sb->realized, sr, &ovf);
  fx s_fees = cadd(sb->fees, fee, &ovf);

  trade_rec done;
  bool finished = false;
  track_trade(&ot, &done, &finished, o, sbefore, dq, price, value, fee, sr, t,
              &ovf);
  if (ovf)
    return DTO_EOVERFLOW;

  if (p->last[sym] == 0)
    portfolio_mark(p, sym, price);
  a->cash = a_cash;
  a->realized = a_realized;
  a->fees = a_fees;
  a->open_pos += (uint32_t)(ap.qty != 0) - (uint32_t)(p->apos[ai].qty != 0);
  sb->cash = s_cash;
  sb->realized = s_realized;
  sb->fees = s_fees;
  sb->open_pos += (uint32_t)(sp.qty != 0) - (uint32_t)(p->spos[si].qty != 0);
  if (dt) {
    p->dt_order[ai] = o->id;
    count_day_trade(a, day);
  }
  if (day_trade)
    *day_trade = dt;
  p->apos[ai] = ap;
  p->spos[si] = sp;
  p->otr[si] = ot;
  if (finished)
    push_trade(p, &done);
  return 0;
}

int portfolio_restore(portfolio *p, uint32_t account, int64_t strategy,
                      sym_id sym, const position *pos) {
  if (account >= p->na || sym >= p->nsym ||
      (strategy >= 0 && (size_t)strategy >= p->ns))
    return DTO_EINVAL;
  if (strategy >= 0 && p->s[strategy].account != account)
    return DTO_EINVAL;
  /* cash moved by these fills: sells - buys - fees = realized - cost - fees;
   * rows read back from a store are checked like fills */
  bool ovf = false;
  fx flow = csub(csub(pos->realized, pos->cost, &ovf), pos->fees, &ovf);
  fx *cash, *realized, *fees;
  uint32_t *open_pos;
  position *dst;
  if (strategy < 0) {
    pf_acct *a = &p->a[account];
    dst = &p->apos[account * p->nsym + sym];
    cash = &a->cash, realized = &a->realized, fees = &a->fees;
    open_pos = &a->open_pos;
  } else {
    strat_book *sb = &p->s[strategy];
    dst = &p->spos[(size_t)strategy * p->nsym + sym];
    cash = &sb->cash, realized = &sb->realized, fees = &sb->fees;
    open_pos = &sb->open_pos;
  }
  fx nc = cadd(*cash, flow, &ovf), nr = cadd(*realized, pos->realized, &ovf),
     nf = cadd(*fees, pos->fees, &ovf);
  if (ovf || pos->fees < 0)
    return DTO_EOVERFLOW;
  *open_pos += (uint32_t)(pos->qty != 0) - (uint32_t)(dst->qty != 0);
  *dst = *pos;
  dst->open_day = -1;
  *cash = nc;
  *realized = nr;
  *fees = nf;
  return 0;
}

const position *portfolio_account_pos(const portfolio *p, uint32_t account,
                                      sym_id sym) {
  return portfolio__account_pos(p, account, sym);
}
const position *portfolio_strategy_pos(const portfolio *p, uint32_t strategy,
                                       sym_id sym) {
  return portfolio__strategy_pos(p, strategy, sym);
}
fx portfolio_last(const portfolio *p, sym_id sym) { return p->last[sym]; }

fx portfolio_account_cash(const portfolio *p, uint32_t a) {
  return portfolio__account_cash(p, a);
}
/* Without an open position the market value is 0 (no term is added):
 * the same sum, without the walk. */
fx portfolio_account_equity(const portfolio *p, uint32_t a) {
  if (!p->a[a].open_pos)
    return p->a[a].cash;
  return p->a[a].cash + market_value(p, &p->apos[a * p->nsym], false);
}
fx portfolio_account_gross(const portfolio *p, uint32_t a) {
  if (!p->a[a].open_pos)
    return 0;
  return market_value(p, &p->apos[a * p->nsym], true);
}
/* The walk with the ledger's checked arithmetic, for any position. */
static DTO_NOINLINE void marks_walk(const portfolio *p, uint32_t a, fx *equity,
                                    fx *gross) {
  const position *pos = &p->apos[a * p->nsym];
  fx mv = 0, gv = 0;
  for (size_t s = 0; s < p->nsym; s++) {
    fx q = pos[s].qty;
    if (q) {
      fx px = p->last[s], v = smul(q, px);
      /* fx_mul rounds magnitudes and smul saturates by sign: with px >= 0
       * smul(|q|, px) is |smul(q, px)|, without a second product */
      mv = sadd(mv, v);
      gv = sadd(gv, px >= 0 ? fx_abs(v) : smul(fx_abs(q), px));
    }
  }
  *equity = p->a[a].cash + mv;
  *gross = gv;
}

/* A position's value q x px when q is a whole number of units and px >= 0
 * (fx_mul's exact product (q / FX_SCALE) x px), in *v; false when not so,
 * or when it does not fit (or is INT64_MIN, which |v| could not take). */
static inline bool mark_whole(fx q, fx px, fx *v) {
  return q % FX_SCALE == 0 && px >= 0 &&
         !__builtin_mul_overflow(q / FX_SCALE, px, v) && *v != INT64_MIN;
}

/* portfolio_account_marks of an account with open positions, apart so that
 * the flat account's case saves no registers.  The positions are walked
 * first without a call: while each quantity is whole, each price >= 0 and
 * nothing overflows, each term is fx_mul's exact product (q / FX_SCALE) x
 * px, as smul takes it, and the sums are sadd's without saturating; at the
 * first position that is not so, marks_walk does it all again. */
static DTO_NOINLINE void account_marks_open(const portfolio *p, uint32_t a,
                                            fx *equity, fx *gross) {
  const position *pos = &p->apos[a * p->nsym];
  fx mv = 0, gv = 0;
  for (size_t s = 0; s < p->nsym; s++) {
    fx q = pos[s].qty, px = p->last[s], v;
    if (!q)
      continue;
    if (DTO_UNLIKELY(
            !mark_whole(q, px, &v) ||
            __builtin_add_overflow(mv, v, &mv) || mv == INT64_MIN ||
            __builtin_add_overflow(gv, fx_abs(v), &gv) || gv == INT64_MIN)) {
      marks_walk(p, a, equity, gross);
      return;
    }
  }
  *equity = p->a[a].cash + mv;
  *gross = gv;
}

/* Every equity sample of a session comes here. */
void portfolio_account_marks(const portfolio *p, uint32_t a, fx *equity,
                             fx *gross) {
  if (p->a[a].open_pos) {
    account_marks_open(p, a, equity, gross);
    return;
  }
  *equity = p->a[a].cash;
  *gross = 0;
}
fx portfolio_account_realized(const portfolio *p, uint32_t a) {
  return p->a[a].realized;
}
fx portfolio_account_fees(const portfolio *p, uint32_t a) {
  return p->a[a].fees;
}
fx portfolio_account_unrealized(const portfolio *p, uint32_t a) {
  fx cost = 0;
  for (size_t s = 0; s < p->nsym; s++)
    cost = sadd(cost, p->apos[a * p->nsym + s].cost);
  return market_value(p, &p->apos[a * p->nsym], false) - cost;
}
fx portfolio_account_buying_power(const portfolio *p, uint32_t a) {
  return p->a[a].cash > 0 ? p->a[a].cash : 0;
}
int portfolio_day_trades(const portfolio *p, uint32_t a, int64_t day) {
  for (int k = 0; k < 8; k++)
    if (p->a[a].dt_day[k] == day)
      return p->a[a].dt_count[k];
  return 0;
}
int portfolio_day_trades_since(const portfolio *p, uint32_t a, int64_t from) {
  int n = 0;
  for (int k = 0; k < 8; k++)
    if (p->a[a].dt_day[k] >= from)
      n += p->a[a].dt_count[k];
  return n;
}
int portfolio_day_trades_total(const portfolio *p, uint32_t a) {
  return p->a[a].day_trades;
}

fx portfolio_strategy_cash(const portfolio *p, uint32_t s) {
  return portfolio__strategy_cash(p, s);
}
fx portfolio_strategy_equity(const portfolio *p, uint32_t s) {
  if (!p->s[s].open_pos)
    return p->s[s].cash;
  return p->s[s].cash + market_value(p, &p->spos[s * p->nsym], false);
}
fx portfolio_strategy_realized(const portfolio *p, uint32_t s) {
  return p->s[s].realized;
}
fx portfolio_strategy_fees(const portfolio *p, uint32_t s) {
  return p->s[s].fees;
}

uint64_t portfolio_trades_total(const portfolio *p) { return p->trades_total; }

const trade_rec *portfolio_trades(const portfolio *p, size_t *n) {
  *n = p->ntrades;
  return p->trades;
}

/* ---- checkpoints --------------------------------------------------------- */

void portfolio_snapshot(const portfolio *p, dbuf *b) {
  snap_u64(b, p->na);
  snap_u64(b, p->ns);
  snap_u64(b, p->nsym);
  for (size_t i = 0; i < p->na; i++) {
    const pf_acct *a = &p->a[i];
    snap_i64(b, a->cash);
    snap_i64(b, a->realized);
    snap_i64(b, a->fees);
    snap_i64(b, a->day_trades);
    for (int k = 0; k < 8; k++) {
      snap_i64(b, a->dt_day[k]);
      snap_i64(b, a->dt_count[k]);
    }
    snap_i64(b, a->dt_head);
  }
  for (size_t i = 0; i < p->ns; i++) {
    snap_i64(b, p->s[i].cash);
    snap_i64(b, p->s[i].realized);
    snap_i64(b, p->s[i].fees);
  }
  for (size_t i = 0; i < p->na * p->nsym; i++) {
    snap_position(b, &p->apos[i]);
    snap_u32(b, p->dt_order[i]);
  }
  for (size_t i = 0; i < p->ns * p->nsym; i++) {
    snap_position(b, &p->spos[i]);
    snap_bool(b, p->otr[i].active);
    if (p->otr[i].active)
      snap_trade_rec(b, &p->otr[i].r);
  }
  for (size_t i = 0; i < p->nsym; i++)
    snap_i64(b, p->last[i]);
  snap_u64(b, p->trades_total);
}

int portfolio_restore_snapshot(portfolio *p, snap_reader *r) {
  snap_check(r, snap_get_u64(r) == p->na);
  snap_check(r, snap_get_u64(r) == p->ns);
  snap_check(r, snap_get_u64(r) == p->nsym);
  if (!snap_ok(r))
    return DTO_EINVAL;
  pf_acct *a = xcalloc(p->na ? p->na : 1, sizeof *a);
  strat_book *sb = xcalloc(p->ns ? p->ns : 1, sizeof *sb);
  position *apos = xcalloc(p->na * p->nsym + 1, sizeof *apos);
  order_id *dto = xcalloc(p->na * p->nsym + 1, sizeof *dto);
  position *spos = xcalloc(p->ns * p->nsym + 1, sizeof *spos);
  open_trade *otr = xcalloc(p->ns * p->nsym + 1, sizeof *otr);
  fx *last = xcalloc(p->nsym + 1, sizeof *last);
  for (size_t i = 0; i < p->na; i++) {
    a[i].cash = snap_get_i64(r);
    a[i].realized = snap_get_i64(r);
    a[i].fees = snap_get_i64(r);
    a[i].day_trades = (int)snap_get_i64(r);
    for (int k = 0; k < 8; k++) {
      a[i].dt_day[k] = snap_get_i64(r);
      a[i].dt_count[k] = (int)snap_get_i64(r);
    }
    int64_t h = snap_get_i64(r);
    snap_check(r, h >= 0 && h < 8);
    a[i].dt_head = (int)h;
  }
  for (size_t i = 0; i < p->ns; i++) {
    sb[i].account = p->s[i].account;
    sb[i].alloc = p->s[i].alloc;
    sb[i].cash = snap_get_i64(r);
    sb[i].realized = snap_get_i64(r);
    sb[i].fees = snap_get_i64(r);
  }
  for (size_t i = 0; i < p->na * p->nsym; i++) {
    snap_get_position(r, &apos[i]);
    dto[i] = snap_get_u32(r);
  }
  for (size_t i = 0; i < p->ns * p->nsym; i++) {
    snap_get_position(r, &spos[i]);
    otr[i].active = snap_get_bool(r);
    if (otr[i].active)
      snap_get_trade_rec(r, &otr[i].r);
  }
  for (size_t i = 0; i < p->nsym; i++)
    last[i] = snap_get_i64(r);
  uint64_t total = snap_get_u64(r);
  if (!snap_ok(r)) {
    free(a);
    free(sb);
    free(apos);
    free(dto);
    free(spos);
    free(otr);
    free(last);
    return DTO_EINVAL;
  }
  memcpy(p->a, a, p->na * sizeof *a);
  memcpy(p->s, sb, p->ns * sizeof *sb);
  memcpy(p->apos, apos, p->na * p->nsym * sizeof *apos);
  memcpy(p->dt_order, dto, p->na * p->nsym * sizeof *dto);
  memcpy(p->spos, spos, p->ns * p->nsym * sizeof *spos);
  memcpy(p->otr, otr, p->ns * p->nsym * sizeof *otr);
  memcpy(p->last, last, p->nsym * sizeof *last);
  for (size_t i = 0; i < p->na; i++) {
    p->a[i].open_pos = 0;
    for (size_t k = 0; k < p->nsym; k++)
      p->a[i].open_pos += p->apos[i * p->nsym + k].qty != 0;
  }
  for (size_t i = 0; i < p->ns; i++) {
    p->s[i].open_pos = 0;
    for (size_t k = 0; k < p->nsym; k++)
      p->s[i].open_pos += p->spos[i * p->nsym + k].qty != 0;
  }
  p->trades_total = total;
  p->ntrades = 0;
  free(a);
  free(sb);
  free(apos);
  free(dto);
  free(spos);
  free(otr);
  free(last);
  return 0;
}

/* Every account through portfolio_account_marks. */
static DTO_NOINLINE void total_marks_walk(const portfolio *p, fx *equity,
                                          bool *exposed) {
  fx eq = 0;
  bool ex = false;
  for (uint32_t a = 0; a < p->na; a++) {
    fx ae, ag;
    portfolio_account_marks(p, a, &ae, &ag);
    eq += ae;
    ex |= ag != 0;
  }
  *equity = eq;
  *exposed = ex;
}

/* portfolio_total_marks for any books.  An account without an open
 * position is its cash and no exposure (as portfolio_account_marks gives
 * them): when no account has one, the sum of the cash is the answer,
 * without a call or a walk. */
static DTO_NOINLINE void total_marks_any(const portfolio *p, fx *equity,
                                         bool *exposed) {
  fx eq = 0;
  uint32_t open = 0;
  for (size_t a = 0; a < p->na; a++) {
    eq += p->a[a].cash;
    open |= p->a[a].open_pos;
  }
  if (!open) {
    *equity = eq;
    *exposed = false;
  } else if (p->na == 1) { /* one account: its marks are the total */
    fx gross;
    portfolio_account_marks(p, 0, equity, &gross);
    *exposed = gross != 0;
  } else {
    total_marks_walk(p, equity, exposed);
  }
}

void portfolio_total_marks(const portfolio *p, fx *equity, bool *exposed) {
  /* One account holding one symbol (a backtest's usual books): flat, its
   * cash; else account_marks_open's loop once (mv = v and gv = |v|, which
   * cannot overflow when mark_whole gives v). */
  if (p->na == 1 && p->nsym == 1) {
    const pf_acct *a = p->a;
    fx v;
    if (!a->open_pos) {
      *equity = a->cash;
      *exposed = false;
      return;
    }
    if (DTO_LIKELY(mark_whole(p->apos[0].qty, p->last[0], &v))) {
      *equity = a->cash + v;
      *exposed = v != 0;
      return;
    }
  }
  total_marks_any(p, equity, exposed);
}
