/* portfolio.c - positions, cash, realised and unrealised P&L, fees. */
#include "engine/portfolio.h"

#include "core/alloc.h"
#include "core/error.h"

typedef struct acct {
  fx cash;
  fx realized, fees;
  int day_trades;
  int64_t dt_day[8]; /* recent days with day trades (ring) */
  int dt_count[8];
  int dt_head;
} acct;

typedef struct strat_book {
  uint32_t account;
  fx alloc, cash, realized, fees;
} strat_book;

/* A round trip being built. */
typedef struct open_trade {
  trade_rec r;
  bool active;
} open_trade;

struct portfolio {
  size_t na, ns, nsym;
  acct *a;
  strat_book *s;
  position *apos;   /* na * nsym */
  position *spos;   /* ns * nsym */
  open_trade *otr;  /* ns * nsym */
  order_id *dt_order; /* na * nsym: last order counted as a day trade */
  fx *last;         /* nsym */
  trade_rec *trades; /* the most recent PORTFOLIO_KEEP_TRADES */
  size_t ntrades, trades_cap;
  uint64_t trades_total;
  void (*on_trade)(void *ctx, const trade_rec *t);
  void *trade_ctx;
};

/* Products here are bounded by realistic prices and sizes; an overflow is a
 * broken invariant of the caller (limits are checked before orders go out). */
static fx mul(fx a, fx b) {
  fx r;
  int rc = fx_mul(a, b, &r);
  DTO_ASSERT(rc == 0);
  return r;
}

fx fee_compute(const fee_schedule *f, fx qty, fx price, bool first) {
  fx value = mul(qty, price), fee = mul(qty, f->per_share), v;
  if (f->bps && fx_muldiv(value, f->bps, FX_SCALE * 10000LL, FX_ROUND_NEAREST,
                          &v) == 0)
    fee += v;
  if (first) {
    fee += f->per_order;
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
      mv += mul(gross ? fx_abs(q) : q, p->last[s]);
  }
  return mv;
}

/* Apply a signed quantity change dq at price to pos; returns the realised
 * P&L of the part that reduced the position. */
static fx apply(position *pos, fx dq, fx price, int64_t day) {
  fx realized = 0;
  if (pos->qty == 0 || (pos->qty > 0) == (dq > 0)) {
    pos->cost += mul(dq, price);
    pos->qty += dq;
    pos->open_day = day;
    return 0;
  }
  fx closeq = fx_min(fx_abs(dq), fx_abs(pos->qty));
  /* cost of the closed part: proportional, exact when fully closed */
  fx cost_closed;
  if (closeq == fx_abs(pos->qty)) {
    cost_closed = pos->cost;
  } else {
    int rc = fx_muldiv(pos->cost, closeq, fx_abs(pos->qty), FX_ROUND_NEAREST,
                       &cost_closed);
    DTO_ASSERT(rc == 0);
  }
  fx sign = pos->qty > 0 ? 1 : -1;
  realized = sign * mul(closeq, price) - cost_closed;
  pos->cost -= cost_closed;
  pos->qty += sign > 0 ? -closeq : closeq;
  fx rest = fx_abs(dq) - closeq;
  if (rest > 0) { /* flipped through zero */
    fx sq = dq > 0 ? rest : -rest;
    pos->cost = mul(sq, price);
    pos->qty = sq;
    pos->open_day = day;
  }
  pos->realized += realized;
  return realized;
}

static void push_trade(portfolio *p, const trade_rec *r) {
  if (p->ntrades == PORTFOLIO_KEEP_TRADES) { /* drop the older half */
    size_t half = PORTFOLIO_KEEP_TRADES / 2;
    memmove(p->trades, p->trades + half, (p->ntrades - half) * sizeof *r);
    p->ntrades -= half;
  }
  p->trades = xgrow(p->trades, &p->trades_cap, p->ntrades + 1, sizeof *r);
  p->trades[p->ntrades++] = *r;
  p->trades_total++;
  if (p->on_trade)
    p->on_trade(p->trade_ctx, r);
}

/* Round-trip bookkeeping for one strategy position. */
static void track_trade(portfolio *p, open_trade *ot, const order *o,
                        fx before, fx dq, fx price, fx fee, fx realized,
                        dto_time t) {
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
    ot->r.entry_qty += absdq;
    ot->r.entry_value += mul(absdq, price);
    ot->r.fees += fee;
    if (fx_abs(after) > ot->r.qty)
      ot->r.qty = fx_abs(after);
    return;
  }
  fx closeq = fx_min(absdq, fx_abs(before));
  fx fee_close = fee;
  if (closeq < absdq) {
    int rc = fx_muldiv(fee, closeq, absdq, FX_ROUND_NEAREST, &fee_close);
    DTO_ASSERT(rc == 0);
  }
  ot->r.exit_qty += closeq;
  ot->r.exit_value += mul(closeq, price);
  ot->r.pnl += realized;
  ot->r.fees += fee_close;
  if (after == 0 || (after > 0) != (before > 0)) {
    ot->r.exit_time = t;
    push_trade(p, &ot->r);
    ot->active = false;
    if (after != 0) { /* flip: the rest opens a new round trip */
      memset(&ot->r, 0, sizeof ot->r);
      ot->active = true;
      ot->r.strategy = o->strategy;
      ot->r.sym = o->sym;
      ot->r.dir = after > 0 ? 1 : -1;
      ot->r.entry_time = t;
      ot->r.entry_qty = fx_abs(after);
      ot->r.entry_value = mul(fx_abs(after), price);
      ot->r.fees = fee - fee_close;
      ot->r.qty = fx_abs(after);
    }
  }
}

static void count_day_trade(acct *a, int64_t day) {
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
  fx dq = o->side == SIDE_BUY ? qty : -qty;
  sym_id sym = o->sym;
  acct *a = &p->a[o->account];
  strat_book *sb = &p->s[o->strategy];
  position *ap = &p->apos[o->account * p->nsym + sym];
  position *sp = &p->spos[o->strategy * p->nsym + sym];
  if (p->last[sym] == 0)
    portfolio_mark(p, sym, price);

  /* day trade: this order reduces an account position opened today */
  bool dt = false;
  if (ap->qty != 0 && (ap->qty > 0) != (dq > 0) && ap->open_day == day &&
      p->dt_order[o->account * p->nsym + sym] != o->id) {
    p->dt_order[o->account * p->nsym + sym] = o->id;
    count_day_trade(a, day);
    dt = true;
  }
  if (day_trade)
    *day_trade = dt;

  fx sbefore = sp->qty;
  fx ar = apply(ap, dq, price, day);
  fx sr = apply(sp, dq, price, day);
  ap->fees += fee;
  sp->fees += fee;

  fx cashflow = o->side == SIDE_BUY ? -value : value;
  a->cash += cashflow - fee;
  a->realized += ar;
  a->fees += fee;
  sb->cash += cashflow - fee;
  sb->realized += sr;
  sb->fees += fee;

  track_trade(p, &p->otr[o->strategy * p->nsym + sym], o, sbefore, dq, price,
              fee, sr, t);
  return 0;
}

int portfolio_restore(portfolio *p, uint32_t account, int64_t strategy,
                      sym_id sym, const position *pos) {
  if (account >= p->na || sym >= p->nsym ||
      (strategy >= 0 && (size_t)strategy >= p->ns))
    return DTO_EINVAL;
  /* cash moved by these fills: sells - buys - fees = realized - cost - fees */
  fx flow = pos->realized - pos->cost - pos->fees;
  if (strategy < 0) {
    position *ap = &p->apos[account * p->nsym + sym];
    *ap = *pos;
    ap->open_day = -1;
    acct *a = &p->a[account];
    a->cash += flow;
    a->realized += pos->realized;
    a->fees += pos->fees;
  } else {
    if (p->s[strategy].account != account)
      return DTO_EINVAL;
    position *sp = &p->spos[(size_t)strategy * p->nsym + sym];
    *sp = *pos;
    sp->open_day = -1;
    strat_book *sb = &p->s[strategy];
    sb->cash += flow;
    sb->realized += pos->realized;
    sb->fees += pos->fees;
  }
  return 0;
}

const position *portfolio_account_pos(const portfolio *p, uint32_t account,
                                      sym_id sym) {
  return &p->apos[account * p->nsym + sym];
}
const position *portfolio_strategy_pos(const portfolio *p, uint32_t strategy,
                                       sym_id sym) {
  return &p->spos[strategy * p->nsym + sym];
}
fx portfolio_last(const portfolio *p, sym_id sym) { return p->last[sym]; }

fx portfolio_account_cash(const portfolio *p, uint32_t a) {
  return p->a[a].cash;
}
fx portfolio_account_equity(const portfolio *p, uint32_t a) {
  return p->a[a].cash + market_value(p, &p->apos[a * p->nsym], false);
}
fx portfolio_account_gross(const portfolio *p, uint32_t a) {
  return market_value(p, &p->apos[a * p->nsym], true);
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
    cost += p->apos[a * p->nsym + s].cost;
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
  return p->s[s].cash;
}
fx portfolio_strategy_equity(const portfolio *p, uint32_t s) {
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
