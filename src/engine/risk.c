/* risk.c - pre-trade checks, throttles, modes and the kill switch. */
#include "engine/risk.h"

#include "core/alloc.h"
#include "core/error.h"

#define RATE_CAP 4096 /* largest per-second or per-minute throttle */
#define DUP_RING 64   /* recent accepted orders kept for duplicate checks */

/* Timestamps of the last accepted orders of one scope, oldest first. */
typedef struct rate_ring {
  dto_time *t;
  int cap, head, n;
} rate_ring;

typedef struct dup_entry {
  dto_time t;
  fx qty, price;
  uint32_t account;
  sym_id sym;
  enum order_side side;
} dup_entry;

typedef struct scope_state {
  enum risk_mode mode;
  enum risk_reason why; /* RISK_OK: set by a person */
  bool auto_daily;      /* REDUCING from a daily limit: lifted next day */
  rate_ring sec, min;
} scope_state;

typedef struct strat_state {
  int losses_in_row;
  dto_time *fills; /* fill-loop ring per symbol: nsyms * fill_cap */
  int *fhead, *fn;
  int flen;        /* ring length in use: this strategy's count + 1 */
} strat_state;

struct risk {
  size_t na, ns, nsym;
  uint32_t *strategy_account;
  risk_order_limits defaults;
  risk_order_limits *acct_ol, *strat_ol, *sym_ol; /* as configured */
  risk_order_limits *eff;                         /* ns * nsym, resolved */
  risk_account_limits *al;
  risk_strategy_limits *sl;
  scope_state *as, *ss;
  strat_state *st;
  int fill_cap; /* per-symbol fill-loop ring size */
  bool killed;
  bool store_fault;
  bool unreconciled;
  dup_entry dup[DUP_RING];
  int dup_head, dup_n;
  uint64_t refused[RISK_REASON_COUNT];
  uint64_t checked;
};

static const char *const reason_names[RISK_REASON_COUNT] = {
#define DTO__RISK_NAME(name, str) str,
    RISK_REASON_MAP(DTO__RISK_NAME)
#undef DTO__RISK_NAME
};
static const char *const mode_names[RISK_MODE_COUNT] = {"active", "reducing",
                                                        "halted"};

const char *risk_reason_name(enum risk_reason r) {
  return (unsigned)r < RISK_REASON_COUNT ? reason_names[r] : "?";
}
const char *risk_mode_name(enum risk_mode m) {
  return (unsigned)m < RISK_MODE_COUNT ? mode_names[m] : "?";
}
int risk_mode_parse(const char *s, enum risk_mode *out) {
  for (int i = 0; s && i < RISK_MODE_COUNT; i++)
    if (!strcmp(s, mode_names[i])) {
      *out = (enum risk_mode)i;
      return 0;
    }
  return DTO_EINVAL;
}

void risk_account_limits_init(risk_account_limits *l) {
  memset(l, 0, sizeof *l);
  l->pdt_min_equity = fx_from_int(25000);
  l->pdt_max_day_trades = 3;
  l->allow_short = l->allow_extended_hours = true;
}

void risk_strategy_limits_init(risk_strategy_limits *l) {
  memset(l, 0, sizeof *l);
  l->window_start = l->window_end = -1;
}

/* ---- configuration ------------------------------------------------------- */

static bool order_limits_ok(const risk_order_limits *l) {
  return l->max_order_qty >= 0 && l->max_order_notional >= 0 &&
         l->collar_pct >= 0 && l->collar_ticks >= 0 && l->ref_max_age >= 0 &&
         l->max_pos_qty >= 0 && l->max_pos_notional >= 0 &&
         l->dup_window >= 0;
}

static bool config_ok(const risk_config *c) {
  if (!order_limits_ok(&c->defaults))
    return false;
  for (size_t i = 0; c->account_orders && i < c->naccounts; i++)
    if (!order_limits_ok(&c->account_orders[i]))
      return false;
  for (size_t i = 0; c->strategy_orders && i < c->nstrategies; i++)
    if (!order_limits_ok(&c->strategy_orders[i]))
      return false;
  for (size_t i = 0; c->symbol_orders && i < c->nsyms; i++)
    if (!order_limits_ok(&c->symbol_orders[i]))
      return false;
  for (size_t i = 0; c->accounts && i < c->naccounts; i++) {
    const risk_account_limits *a = &c->accounts[i];
    if (a->max_gross < 0 || a->max_net < 0 || a->max_concentration_pct < 0 ||
        a->credit < 0 || a->max_open_orders < 0 || a->max_orders_per_sec < 0 ||
        a->max_orders_per_sec > RATE_CAP || a->max_orders_per_min < 0 ||
        a->max_orders_per_min > RATE_CAP || a->max_daily_loss < 0 ||
        a->max_drawdown < 0 || a->pdt_min_equity < 0 ||
        a->pdt_max_day_trades < 0)
      return false;
  }
  for (size_t i = 0; c->strategies && i < c->nstrategies; i++) {
    const risk_strategy_limits *s = &c->strategies[i];
    if (s->max_open_orders < 0 || s->max_orders_per_sec < 0 ||
        s->max_orders_per_sec > RATE_CAP || s->max_orders_per_min < 0 ||
        s->max_orders_per_min > RATE_CAP || s->max_daily_loss < 0 ||
        s->max_drawdown < 0 || s->max_consecutive_losses < 0 ||
        s->fill_loop_count < 0 || s->fill_loop_count > RATE_CAP ||
        s->fill_loop_window < 0 || s->no_new_entries < 0 ||
        s->flatten_before_close < 0)
      return false;
    bool ws = s->window_start >= 0, we = s->window_end >= 0;
    if (ws != we || s->window_start > 24 * 60 || s->window_end > 24 * 60 ||
        (ws && s->window_end <= s->window_start))
      return false;
  }
  for (size_t i = 0; c->strategy_account && i < c->nstrategies; i++)
    if (c->strategy_account[i] >= c->naccounts)
      return false;
  return true;
}

/* dst takes every field that src sets. */
static void merge(risk_order_limits *dst, const risk_order_limits *src) {
  uint32_t s = src->set;
  if (s & RL_MAX_ORDER_QTY)
    dst->max_order_qty = src->max_order_qty;
  if (s & RL_MAX_ORDER_NOTIONAL)
    dst->max_order_notional = src->max_order_notional;
  if (s & RL_COLLAR_PCT)
    dst->collar_pct = src->collar_pct;
  if (s & RL_COLLAR_TICKS)
    dst->collar_ticks = src->collar_ticks;
  if (s & RL_REF_MAX_AGE)
    dst->ref_max_age = src->ref_max_age;
  if (s & RL_MAX_POS_QTY)
    dst->max_pos_qty = src->max_pos_qty;
  if (s & RL_MAX_POS_NOTIONAL)
    dst->max_pos_notional = src->max_pos_notional;
  if (s & RL_DUP_WINDOW)
    dst->dup_window = src->dup_window;
  if (s & RL_RESTRICTED)
    dst->restricted = src->restricted;
  if (s & RL_HARD_TO_BORROW)
    dst->hard_to_borrow = src->hard_to_borrow;
  dst->set |= s;
}

static void ring_init(rate_ring *g, int cap) {
  free(g->t);
  g->t = cap > 0 ? xcalloc((size_t)cap, sizeof *g->t) : NULL;
  g->cap = cap;
  g->head = g->n = 0;
}

/* Load limits from c into r (sizes already match). */
static void apply(risk *r, const risk_config *c) {
  r->defaults = c->defaults;
  for (size_t i = 0; i < r->na; i++) {
    if (c->account_orders)
      r->acct_ol[i] = c->account_orders[i];
    else
      memset(&r->acct_ol[i], 0, sizeof r->acct_ol[i]);
    if (c->accounts)
      r->al[i] = c->accounts[i];
    else
      risk_account_limits_init(&r->al[i]);
  }
  for (size_t i = 0; i < r->ns; i++) {
    if (c->strategy_orders)
      r->strat_ol[i] = c->strategy_orders[i];
    else
      memset(&r->strat_ol[i], 0, sizeof r->strat_ol[i]);
    if (c->strategies)
      r->sl[i] = c->strategies[i];
    else
      risk_strategy_limits_init(&r->sl[i]);
    /* flattening before the close implies no new entries from then on */
    if (r->sl[i].no_new_entries < r->sl[i].flatten_before_close)
      r->sl[i].no_new_entries = r->sl[i].flatten_before_close;
    r->strategy_account[i] = c->strategy_account ? c->strategy_account[i] : 0;
  }
  for (size_t i = 0; i < r->nsym; i++) {
    if (c->symbol_orders)
      r->sym_ol[i] = c->symbol_orders[i];
    else
      memset(&r->sym_ol[i], 0, sizeof r->sym_ol[i]);
  }
  /* resolve the most specific order limits once, for the hot path */
  for (size_t s = 0; s < r->ns; s++)
    for (size_t y = 0; y < r->nsym; y++) {
      risk_order_limits *e = &r->eff[s * r->nsym + y];
      *e = r->defaults;
      e->set = RL_ALL;
      merge(e, &r->acct_ol[r->strategy_account[s]]);
      merge(e, &r->strat_ol[s]);
      merge(e, &r->sym_ol[y]);
    }
  /* throttle rings sized to the limits; counters survive a reload only
   * when the size is unchanged */
  for (size_t i = 0; i < r->na; i++) {
    if (r->as[i].sec.cap != r->al[i].max_orders_per_sec)
      ring_init(&r->as[i].sec, r->al[i].max_orders_per_sec);
    if (r->as[i].min.cap != r->al[i].max_orders_per_min)
      ring_init(&r->as[i].min, r->al[i].max_orders_per_min);
  }
  int fcap = 0;
  for (size_t i = 0; i < r->ns; i++) {
    if (r->ss[i].sec.cap != r->sl[i].max_orders_per_sec)
      ring_init(&r->ss[i].sec, r->sl[i].max_orders_per_sec);
    if (r->ss[i].min.cap != r->sl[i].max_orders_per_min)
      ring_init(&r->ss[i].min, r->sl[i].max_orders_per_min);
    if (r->sl[i].fill_loop_count + 1 > fcap)
      fcap = r->sl[i].fill_loop_count + 1;
  }
  /* fill-loop rings: one stride (the largest count + 1) for every
   * strategy, each using its own count + 1 of it; a ring whose length
   * changes starts empty */
  bool realloc_all = fcap != r->fill_cap;
  r->fill_cap = fcap;
  for (size_t i = 0; i < r->ns; i++) {
    strat_state *st = &r->st[i];
    int len = r->sl[i].fill_loop_count + 1;
    if (realloc_all) {
      free(st->fills);
      st->fills = xcalloc(r->nsym * (size_t)fcap + 1, sizeof(dto_time));
    }
    if (realloc_all || st->flen != len) {
      memset(st->fhead, 0, r->nsym * sizeof(int));
      memset(st->fn, 0, r->nsym * sizeof(int));
      st->flen = len;
    }
  }
}

int risk_new(const risk_config *c, risk **out) {
  if (!config_ok(c))
    return DTO_EINVAL;
  risk *r = xcalloc(1, sizeof *r);
  r->na = c->naccounts;
  r->ns = c->nstrategies;
  r->nsym = c->nsyms;
  size_t na = r->na ? r->na : 1, ns = r->ns ? r->ns : 1;
  size_t nsym = r->nsym ? r->nsym : 1;
  r->strategy_account = xcalloc(ns, sizeof *r->strategy_account);
  r->acct_ol = xcalloc(na, sizeof *r->acct_ol);
  r->strat_ol = xcalloc(ns, sizeof *r->strat_ol);
  r->sym_ol = xcalloc(nsym, sizeof *r->sym_ol);
  r->eff = xcalloc(ns * nsym, sizeof *r->eff);
  r->al = xcalloc(na, sizeof *r->al);
  r->sl = xcalloc(ns, sizeof *r->sl);
  r->as = xcalloc(na, sizeof *r->as);
  r->ss = xcalloc(ns, sizeof *r->ss);
  r->st = xcalloc(ns, sizeof *r->st);
  for (size_t i = 0; i < ns; i++) {
    r->st[i].fhead = xcalloc(nsym, sizeof(int));
    r->st[i].fn = xcalloc(nsym, sizeof(int));
  }
  r->fill_cap = -1;
  apply(r, c);
  *out = r;
  return 0;
}

int risk_reload(risk *r, const risk_config *c) {
  if (c->naccounts != r->na || c->nstrategies != r->ns || c->nsyms != r->nsym ||
      !config_ok(c))
    return DTO_EINVAL;
  apply(r, c);
  return 0;
}

void risk_free(risk *r) {
  if (!r)
    return;
  for (size_t i = 0; i < (r->na ? r->na : 1); i++) {
    free(r->as[i].sec.t);
    free(r->as[i].min.t);
  }
  for (size_t i = 0; i < (r->ns ? r->ns : 1); i++) {
    free(r->ss[i].sec.t);
    free(r->ss[i].min.t);
    free(r->st[i].fills);
    free(r->st[i].fhead);
    free(r->st[i].fn);
  }
  free(r->strategy_account);
  free(r->acct_ol);
  free(r->strat_ol);
  free(r->sym_ol);
  free(r->eff);
  free(r->al);
  free(r->sl);
  free(r->as);
  free(r->ss);
  free(r->st);
  free(r);
}

/* ---- helpers ------------------------------------------------------------- */

/* Would one more order at now exceed cap orders within span? */
static bool ring_full(const rate_ring *g, dto_time now, dto_time span) {
  if (g->cap <= 0 || g->n < g->cap)
    return false;
  return g->t[g->head] > now - span; /* the oldest is still inside */
}

static void ring_push(rate_ring *g, dto_time now) {
  if (g->cap <= 0)
    return;
  if (g->n < g->cap) {
    g->t[(g->head + g->n) % g->cap] = now;
    g->n++;
  } else {
    g->t[g->head] = now;
    g->head = (g->head + 1) % g->cap;
  }
}

/* a*b saturated at +-FX_MAX (the sign of the true product) on overflow:
 * a limit compared with it then refuses instead of wrapping. */
static fx mulx(fx a, fx b) {
  fx r;
  if (fx_mul(a, b, &r) == 0)
    return r;
  return (a < 0) != (b < 0) ? -FX_MAX : FX_MAX;
}

/* a+b saturated at +-FX_MAX. */
static fx addx(fx a, fx b) {
  fx r;
  if (fx_add(a, b, &r) == 0)
    return r;
  return a > 0 ? FX_MAX : -FX_MAX;
}

bool risk_is_reducing(const order *o, fx pos) {
  if (pos == 0)
    return false;
  bool opposite = (pos > 0) == (o->side == SIDE_SELL);
  return opposite && o->qty <= fx_abs(pos);
}

static enum risk_reason refuse(risk *r, risk_decision *d,
                               enum risk_reason why, fx value, fx limit,
                               int scope) {
  r->refused[why]++;
  if (d) {
    d->reason = why;
    d->value = value;
    d->limit = limit;
    d->scope = scope;
  }
  return why;
}

/* ---- the check ----------------------------------------------------------- */

enum risk_reason risk_check(risk *r, const order *o, const risk_input *in,
                            risk_decision *d) {
  r->checked++;
  if (d)
    memset(d, 0, sizeof *d);
  /* structural: no configuration allows these */
  if (o->qty <= 0)
    return refuse(r, d, RISK_BAD_QTY, o->qty, 0, 0);
  bool need_limit = o->type == ORD_LIMIT || o->type == ORD_STOP_LIMIT;
  bool need_stop = o->type == ORD_STOP || o->type == ORD_STOP_LIMIT;
  if ((need_limit && o->limit_price <= 0) || (need_stop && o->stop_price <= 0) ||
      (o->type == ORD_TRAILING_STOP && o->trail <= 0))
    return refuse(r, d, RISK_BAD_PRICE, 0, 0, 0);
  if (o->account >= r->na || o->strategy >= r->ns || o->sym >= r->nsym)
    return refuse(r, d, RISK_BAD_QTY, 0, 0, 0);

  const risk_order_limits *ol = &r->eff[o->strategy * r->nsym + o->sym];
  const risk_account_limits *al = &r->al[o->account];
  const risk_strategy_limits *sl = &r->sl[o->strategy];
  scope_state *as = &r->as[o->account], *ss = &r->ss[o->strategy];
  bool buy = o->side == SIDE_BUY;
  /* working orders on the same side fill first in the worst case: the
   * order reduces only what they leave of the position (orders being
   * canceled are taken as gone) */
  fx same_side = buy ? in->acct_open_buy - in->acct_canceling_buy
                     : in->acct_open_sell - in->acct_canceling_sell;
  bool reducing = risk_is_reducing(o, in->acct_pos) &&
                  addx(o->qty, same_side) <= fx_abs(in->acct_pos) &&
                  (in->strat_pos == 0 || risk_is_reducing(o, in->strat_pos));
  /* the account's position in this symbol if every working order on the
   * order's side and the order itself filled */
  fx proj = buy ? addx(addx(in->acct_pos, in->acct_open_buy), o->qty)
                : addx(addx(in->acct_pos, -in->acct_open_sell), -o->qty);

  /* kill switch and modes */
  if (r->killed)
    return refuse(r, d, RISK_KILL_SWITCH, 0, 0, 3);
  if (r->store_fault)
    return refuse(r, d, RISK_STORE_FAULT, 0, 0, 3);
  if (r->unreconciled)
    return refuse(r, d, RISK_UNRECONCILED, 0, 0, 3);
  if (as->mode == MODE_HALTED)
    return refuse(r, d, RISK_HALTED, 0, 0, 1);
  if (ss->mode == MODE_HALTED)
    return refuse(r, d, RISK_HALTED, 0, 0, 2);
  if (!reducing && (as->mode == MODE_REDUCING || ss->mode == MODE_REDUCING)) {
    int scope = as->mode == MODE_REDUCING ? 1 : 2;
    enum risk_reason why = scope == 1 ? as->why : ss->why;
    /* a daily limit says which; a person or other guard: reducing only */
    if (why != RISK_DAILY_LOSS && why != RISK_DRAWDOWN)
      why = RISK_REDUCING_ONLY;
    return refuse(r, d, why, 0, 0, scope);
  }

  /* what may be traded, and when */
  if (ol->restricted)
    return refuse(r, d, RISK_RESTRICTED, 0, 0, 0);
  /* a short sale: the sell could leave the account short once it and the
   * working sells fill.  Sells being canceled are taken as gone, as for
   * "reducing": a flatten cancels the exits and closes in one step, and
   * refusing it would keep the very position it closes.  (A cancel that
   * loses the race to a fill can leave the account briefly short; the
   * paper exchange applies cancels first.) */
  fx proj_short = addx(addx(in->acct_pos, -(in->acct_open_sell -
                                            in->acct_canceling_sell)),
                       -o->qty);
  if (!buy && proj_short < 0) {
    if (!al->allow_short || !in->shortable)
      return refuse(r, d, RISK_SHORT_NOT_ALLOWED, proj_short, 0, 1);
    if (ol->hard_to_borrow)
      return refuse(r, d, RISK_HARD_TO_BORROW, proj_short, 0, 0);
  }
  if (in->session == RISK_SESS_CLOSED)
    return refuse(r, d, RISK_MARKET_CLOSED, 0, 0, 0);
  if (in->session == RISK_SESS_EXTENDED) {
    if (!o->extended_hours)
      return refuse(r, d, RISK_MARKET_CLOSED, 0, 0, 0);
    if (!al->allow_extended_hours)
      return refuse(r, d, RISK_EXTENDED_NOT_ALLOWED, 0, 0, 1);
  }
  if (!reducing) {
    /* value: the minute; limit: the bound it is outside of (before the
     * start, or at or after the end) */
    if (sl->window_start >= 0 && (in->minute_of_day < sl->window_start ||
                                  in->minute_of_day >= sl->window_end))
      return refuse(r, d, RISK_OUTSIDE_WINDOW, fx_from_int(in->minute_of_day),
                    fx_from_int(in->minute_of_day < sl->window_start
                                    ? sl->window_start
                                    : sl->window_end),
                    2);
    /* value: time left to the close; limit: the no-entry period */
    if (sl->no_new_entries > 0 && in->session_close > 0 &&
        in->now >= in->session_close - sl->no_new_entries)
      return refuse(r, d, RISK_NO_NEW_ENTRIES, in->session_close - in->now,
                    sl->no_new_entries, 2);
  }

  /* size and price */
  if (ol->max_order_qty > 0 && o->qty > ol->max_order_qty)
    return refuse(r, d, RISK_MAX_ORDER_QTY, o->qty, ol->max_order_qty, 0);
  bool ref_ok = in->ref_price > 0;
  bool stale = ref_ok && ol->ref_max_age > 0 &&
               in->now - in->ref_time > ol->ref_max_age;
  /* orders without a limit price are valued at the reference price: every
   * value limit needs one for them (fail closed) */
  bool values = ol->max_order_notional > 0 || al->max_gross > 0 ||
                al->max_net > 0 || al->max_concentration_pct > 0 ||
                al->check_buying_power;
  bool needs_ref = o->type == ORD_MARKET || o->type == ORD_TRAILING_STOP ||
                   ol->collar_pct > 0 || ol->collar_ticks > 0 ||
                   ol->max_pos_notional > 0 || (values && !need_limit);
  if (needs_ref && !ref_ok)
    return refuse(r, d, RISK_NO_REF_PRICE, in->ref_price, 0, 0);
  if (needs_ref && stale)
    return refuse(r, d, RISK_STALE_REF_PRICE, in->now - in->ref_time,
                  ol->ref_max_age, 0);
  fx px = need_limit ? o->limit_price : in->ref_price;
  fx value = mulx(o->qty, px);
  if (ol->max_order_notional > 0 && value > ol->max_order_notional)
    return refuse(r, d, RISK_MAX_ORDER_NOTIONAL, value, ol->max_order_notional,
                  0);
  if (need_limit && ref_ok) {
    fx dev = fx_abs(o->limit_price - in->ref_price);
    if (ol->collar_pct > 0) {
      fx lim;
      if (fx_muldiv(in->ref_price, ol->collar_pct, 100 * FX_SCALE,
                    FX_ROUND_DOWN, &lim) == 0 &&
          dev > lim)
        return refuse(r, d, RISK_PRICE_COLLAR, dev, lim, 0);
    }
    if (ol->collar_ticks > 0 && in->tick > 0) {
      fx lim = ol->collar_ticks > FX_MAX / in->tick
                   ? FX_MAX
                   : ol->collar_ticks * in->tick;
      if (dev > lim)
        return refuse(r, d, RISK_PRICE_COLLAR, dev, lim, 0);
    }
  }

  /* positions and exposure, counting working orders (opening orders only) */
  if (!reducing) {
    if (ol->max_pos_qty > 0 && fx_abs(proj) > ol->max_pos_qty)
      return refuse(r, d, RISK_MAX_POS_QTY, fx_abs(proj), ol->max_pos_qty, 0);
    fx pval = mulx(fx_abs(proj), in->ref_price);
    if (ol->max_pos_notional > 0 && pval > ol->max_pos_notional)
      return refuse(r, d, RISK_MAX_POS_NOTIONAL, pval, ol->max_pos_notional,
                    0);
    /* this symbol at its two extremes (every working buy and the order
     * filled, or every working sell), valued like the other symbols */
    fx sp = in->ref_price > 0 ? in->ref_price : px;
    fx lq = addx(in->acct_pos, in->acct_open_buy);
    fx sq = addx(in->acct_pos, -in->acct_open_sell);
    if (buy)
      lq = proj;
    else
      sq = proj;
    fx lv = mulx(lq, sp), sv = mulx(sq, sp);
    fx symv = fx_max(fx_abs(lv), fx_abs(sv));
    fx gross_after = addx(in->acct_other_gross, symv);
    if (al->max_gross > 0 && gross_after > al->max_gross)
      return refuse(r, d, RISK_MAX_GROSS, gross_after, al->max_gross, 1);
    fx net_after = fx_max(fx_abs(addx(in->acct_other_long, lv)),
                          fx_abs(addx(in->acct_other_short, sv)));
    if (al->max_net > 0 && net_after > al->max_net)
      return refuse(r, d, RISK_MAX_NET, net_after, al->max_net, 1);
    if (al->max_concentration_pct > 0) {
      fx lim = 0;
      if (in->acct_equity <= 0 ||
          fx_muldiv(in->acct_equity, al->max_concentration_pct,
                    100 * FX_SCALE, FX_ROUND_DOWN, &lim) != 0 ||
          symv > lim)
        return refuse(r, d, RISK_CONCENTRATION, symv, lim, 1);
    }
    if (al->check_buying_power) {
      fx bp = addx(addx(in->acct_cash, al->credit), -in->acct_open_buy_value);
      if (value > bp)
        return refuse(r, d, RISK_BUYING_POWER, value, bp, 1);
    }
  }

  /* order counts and throttles */
  if (al->max_open_orders > 0 && in->acct_open_orders >= al->max_open_orders)
    return refuse(r, d, RISK_MAX_OPEN_ORDERS,
                  fx_from_int(in->acct_open_orders + 1),
                  fx_from_int(al->max_open_orders), 1);
  if (sl->max_open_orders > 0 && in->strat_open_orders >= sl->max_open_orders)
    return refuse(r, d, RISK_MAX_OPEN_ORDERS,
                  fx_from_int(in->strat_open_orders + 1),
                  fx_from_int(sl->max_open_orders), 2);
  if (ring_full(&ss->sec, in->now, DTO_NS_PER_SEC))
    return refuse(r, d, RISK_RATE_SEC, fx_from_int(ss->sec.cap + 1),
                  fx_from_int(ss->sec.cap), 2);
  if (ring_full(&as->sec, in->now, DTO_NS_PER_SEC))
    return refuse(r, d, RISK_RATE_SEC, fx_from_int(as->sec.cap + 1),
                  fx_from_int(as->sec.cap), 1);
  if (ring_full(&ss->min, in->now, DTO_NS_PER_MIN))
    return refuse(r, d, RISK_RATE_MIN, fx_from_int(ss->min.cap + 1),
                  fx_from_int(ss->min.cap), 2);
  if (ring_full(&as->min, in->now, DTO_NS_PER_MIN))
    return refuse(r, d, RISK_RATE_MIN, fx_from_int(as->min.cap + 1),
                  fx_from_int(as->min.cap), 1);
  if (ol->dup_window > 0) {
    fx p = need_limit ? o->limit_price : o->stop_price;
    for (int k = 0; k < r->dup_n; k++) {
      const dup_entry *e = &r->dup[(r->dup_head + DUP_RING - 1 - k) % DUP_RING];
      if (in->now - e->t >= ol->dup_window)
        break; /* newest first: the rest are older */
      /* value: time since the earlier order; limit: the window */
      if (e->account == o->account && e->sym == o->sym &&
          e->side == o->side && e->qty == o->qty && e->price == p)
        return refuse(r, d, RISK_DUPLICATE, in->now - e->t, ol->dup_window,
                      0);
    }
  }

  /* pattern day trader */
  if (al->pdt && in->would_day_trade && in->acct_equity < al->pdt_min_equity &&
      in->day_trades >= al->pdt_max_day_trades)
    return refuse(r, d, RISK_PDT, fx_from_int(in->day_trades + 1),
                  fx_from_int(al->pdt_max_day_trades), 1);

  /* daily loss and drawdown (opening orders; the modes also hold this) */
  if (!reducing) {
    if (al->max_daily_loss > 0 && -in->acct_day_pnl >= al->max_daily_loss)
      return refuse(r, d, RISK_DAILY_LOSS, -in->acct_day_pnl,
                    al->max_daily_loss, 1);
    if (sl->max_daily_loss > 0 && -in->strat_day_pnl >= sl->max_daily_loss)
      return refuse(r, d, RISK_DAILY_LOSS, -in->strat_day_pnl,
                    sl->max_daily_loss, 2);
    if (al->max_drawdown > 0 && in->acct_drawdown >= al->max_drawdown)
      return refuse(r, d, RISK_DRAWDOWN, in->acct_drawdown, al->max_drawdown,
                    1);
    if (sl->max_drawdown > 0 && in->strat_drawdown >= sl->max_drawdown)
      return refuse(r, d, RISK_DRAWDOWN, in->strat_drawdown, sl->max_drawdown,
                    2);
  }

  /* accepted: count it toward throttles and duplicates */
  ring_push(&ss->sec, in->now);
  ring_push(&as->sec, in->now);
  ring_push(&ss->min, in->now);
  ring_push(&as->min, in->now);
  if (ol->dup_window > 0) {
    dup_entry *e = &r->dup[r->dup_head];
    e->t = in->now;
    e->qty = o->qty;
    e->price = need_limit ? o->limit_price : o->stop_price;
    e->account = o->account;
    e->sym = o->sym;
    e->side = o->side;
    r->dup_head = (r->dup_head + 1) % DUP_RING;
    if (r->dup_n < DUP_RING)
      r->dup_n++;
  }
  return RISK_OK;
}

/* ---- state from the engine ----------------------------------------------- */

static scope_state *scope(risk *r, int sc, uint32_t i) {
  if (sc == 1 && i < r->na)
    return &r->as[i];
  if (sc == 2 && i < r->ns)
    return &r->ss[i];
  return NULL;
}

bool risk_on_fill(risk *r, uint32_t strategy, sym_id sym, dto_time t) {
  if (strategy >= r->ns || sym >= r->nsym)
    return false;
  const risk_strategy_limits *sl = &r->sl[strategy];
  int n = sl->fill_loop_count;
  if (n <= 0 || sl->fill_loop_window <= 0)
    return false;
  strat_state *st = &r->st[strategy];
  int cap = st->flen; /* n + 1 */
  dto_time *ring = st->fills + (size_t)sym * (size_t)r->fill_cap;
  int *head = &st->fhead[sym], *cnt = &st->fn[sym];
  /* keep the last n+1 fill times; more than n inside the window trips */
  if (*cnt < cap) {
    ring[(*head + *cnt) % cap] = t;
    (*cnt)++;
  } else {
    ring[*head] = t;
    *head = (*head + 1) % cap;
  }
  if (*cnt == cap && t - ring[*head] <= sl->fill_loop_window &&
      r->ss[strategy].mode != MODE_HALTED) {
    r->ss[strategy].mode = MODE_HALTED;
    r->ss[strategy].why = RISK_HALTED;
    r->ss[strategy].auto_daily = false;
    return true;
  }
  return false;
}

bool risk_on_round_trip(risk *r, uint32_t strategy, fx pnl) {
  if (strategy >= r->ns)
    return false;
  strat_state *st = &r->st[strategy];
  st->losses_in_row = pnl < 0 ? st->losses_in_row + 1 : 0;
  int lim = r->sl[strategy].max_consecutive_losses;
  scope_state *ss = &r->ss[strategy];
  /* a daily limit's REDUCING ends with the day; this one must wait for a
   * person, so it takes over */
  if (lim > 0 && st->losses_in_row >= lim &&
      (ss->mode == MODE_ACTIVE ||
       (ss->mode == MODE_REDUCING && ss->auto_daily))) {
    ss->mode = MODE_REDUCING;
    ss->why = RISK_REDUCING_ONLY;
    ss->auto_daily = false;
    return true;
  }
  return false;
}

enum risk_reason risk_on_pnl(risk *r, int sc, uint32_t i, fx day_pnl,
                             fx drawdown) {
  scope_state *s = scope(r, sc, i);
  if (!s || s->mode != MODE_ACTIVE)
    return RISK_OK;
  fx max_loss = sc == 1 ? r->al[i].max_daily_loss : r->sl[i].max_daily_loss;
  fx max_dd = sc == 1 ? r->al[i].max_drawdown : r->sl[i].max_drawdown;
  enum risk_reason why = RISK_OK;
  if (max_loss > 0 && -day_pnl >= max_loss)
    why = RISK_DAILY_LOSS;
  else if (max_dd > 0 && drawdown >= max_dd)
    why = RISK_DRAWDOWN;
  if (why != RISK_OK) {
    s->mode = MODE_REDUCING;
    s->why = why;
    s->auto_daily = true;
  }
  return why;
}

void risk_new_day(risk *r) {
  for (size_t i = 0; i < r->na; i++)
    if (r->as[i].auto_daily) {
      r->as[i].mode = MODE_ACTIVE;
      r->as[i].why = RISK_OK;
      r->as[i].auto_daily = false;
    }
  for (size_t i = 0; i < r->ns; i++)
    if (r->ss[i].auto_daily) {
      r->ss[i].mode = MODE_ACTIVE;
      r->ss[i].why = RISK_OK;
      r->ss[i].auto_daily = false;
    }
}

/* ---- modes --------------------------------------------------------------- */

void risk_kill(risk *r, bool on) { r->killed = on; }
void risk_store_fault(risk *r, bool on) { r->store_fault = on; }
bool risk_store_faulted(const risk *r) { return r->store_fault; }
void risk_unreconciled(risk *r, bool on) { r->unreconciled = on; }
bool risk_is_unreconciled(const risk *r) { return r->unreconciled; }
bool risk_killed(const risk *r) { return r->killed; }

void risk_set_mode(risk *r, int sc, uint32_t i, enum risk_mode m) {
  scope_state *s = scope(r, sc, i);
  if (!s || (unsigned)m >= RISK_MODE_COUNT)
    return;
  s->mode = m;
  s->why = RISK_OK;
  s->auto_daily = false;
  if (m == MODE_ACTIVE && sc == 2)
    r->st[i].losses_in_row = 0;
}

enum risk_mode risk_mode_of(const risk *r, int sc, uint32_t i) {
  const scope_state *s = scope((risk *)r, sc, i);
  return s ? s->mode : MODE_ACTIVE;
}

enum risk_reason risk_mode_reason(const risk *r, int sc, uint32_t i) {
  const scope_state *s = scope((risk *)r, sc, i);
  return s ? s->why : RISK_OK;
}

uint64_t risk_refusals(const risk *r, enum risk_reason why) {
  return (unsigned)why < RISK_REASON_COUNT ? r->refused[why] : 0;
}
uint64_t risk_checked(const risk *r) { return r->checked; }

const risk_order_limits *risk_effective(const risk *r, uint32_t strategy,
                                        sym_id sym) {
  if (strategy >= r->ns || sym >= r->nsym)
    return NULL;
  return &r->eff[strategy * r->nsym + sym];
}
const risk_strategy_limits *risk_strategy(const risk *r, uint32_t strategy) {
  return strategy < r->ns ? &r->sl[strategy] : NULL;
}
const risk_account_limits *risk_account(const risk *r, uint32_t account) {
  return account < r->na ? &r->al[account] : NULL;
}
