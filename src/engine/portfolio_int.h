/* portfolio_int.h - the portfolio's books, shared by portfolio.c and the
 * engine.
 *
 * Only src/engine/portfolio.c and src/engine/engine*.c include this
 * header: it lets the engine read positions and cash inline on its
 * per-order path (the risk inputs, the strategy API).  Everything else goes
 * through portfolio.h.
 */
#ifndef DTO_ENGINE_PORTFOLIO_INT_H
#define DTO_ENGINE_PORTFOLIO_INT_H

#include "engine/portfolio.h"

typedef struct pf_acct {
  fx cash;
  uint32_t open_pos; /* positions with qty != 0 (not checkpointed: counted) */
  fx realized, fees;
  int day_trades;
  int64_t dt_day[8]; /* recent days with day trades (ring) */
  int dt_count[8];
  int dt_head;
} pf_acct;

typedef struct strat_book {
  uint32_t account;
  uint32_t open_pos; /* as pf_acct's */
  fx alloc, cash, realized, fees;
} strat_book;

/* A round trip being built. */
typedef struct open_trade {
  trade_rec r;
  bool active;
} open_trade;

struct portfolio {
  size_t na, ns, nsym;
  pf_acct *a;
  strat_book *s;
  position *apos;     /* na * nsym */
  position *spos;     /* ns * nsym */
  open_trade *otr;    /* ns * nsym */
  order_id *dt_order; /* na * nsym: last order counted as a day trade */
  fx *last;           /* nsym */
  trade_rec *trades;  /* the most recent PORTFOLIO_KEEP_TRADES */
  size_t ntrades, trades_cap;
  uint64_t trades_total;
  void (*on_trade)(void *ctx, const trade_rec *t);
  void *trade_ctx;
};

/* portfolio_account_pos, portfolio_strategy_pos, portfolio_account_cash
 * and portfolio_strategy_cash, inline. */
static inline const position *
portfolio__account_pos(const portfolio *p, uint32_t account, sym_id sym) {
  return &p->apos[account * p->nsym + sym];
}
static inline const position *
portfolio__strategy_pos(const portfolio *p, uint32_t strategy, sym_id sym) {
  return &p->spos[strategy * p->nsym + sym];
}
static inline fx portfolio__account_cash(const portfolio *p, uint32_t a) {
  return p->a[a].cash;
}
static inline fx portfolio__strategy_cash(const portfolio *p, uint32_t s) {
  return p->s[s].cash;
}
/* The prices portfolio_mark records, one per sym: marks[sym] = price is
 * exactly portfolio_mark(p, sym, price), for the engine's per-bar path.
 * The array stays where it is for p's lifetime (a restore copies into it). */
static inline fx *portfolio__marks(portfolio *p) { return p->last; }

/* portfolio_fill for a caller that has computed value = qty x price
 * (fx_mul(qty, price, &value) returned 0) already. */
int portfolio__fill(portfolio *p, const order *o, fx qty, fx price, fx value,
                    fx fee, dto_time t, int64_t day, bool *day_trade);

/* fee_compute(f, qty, price, first) from its two products, value =
 * qty x price and fee = qty x f->per_share (saturated at +-FX_MAX, as
 * fee_compute takes them): for a caller that has computed them already. */
fx portfolio__fee(const fee_schedule *f, fx value, fx fee, bool first);

#endif
