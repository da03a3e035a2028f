/* risk.c - pre-trade checks, throttles, modes and the kill switch.
 *
 * Modes change only in transition(): one table of legal changes (rules[]
 * below).  The duplicate memory is a hash table of accepted orders keyed by
 * every field that makes two orders the same, swept of entries outside
 * their window when it grows (memory follows the orders inside the window,
 * never a fixed count).  Snapshots write every mutable field explicitly,
 * little-endian. */
#include "engine/risk.h"

#include "core/alloc.h"
#include "core/error.h"

#define RATE_CAP 4096 /* largest per-second or per-minute throttle */
#define DUP_MIN 64    /* the duplicate memory sweeps when it holds more */

/* Timestamps of the last accepted orders of one scope, oldest first. */
typedef struct rate_ring {
  dto_time *t;
  int cap, head, n;
} rate_ring;

/* One accepted order in the duplicate memory: the key (every field that
 * makes two orders the same) and when it was accepted. */
typedef struct dup_entry {
  fx qty, limit, stop, trail;
  dto_time t;
  uint32_t account, strategy;
  sym_id sym;
  uint8_t side, type;
  bool used;
} dup_entry;

/* Open addressing, linear probing; cap is a power of two at least twice
 * sweep_at, and n <= sweep_at, so a probe always ends. */
typedef struct dup_table {
  dup_entry *e;
  uint32_t cap, n;
  uint32_t sweep_at; /* inserting beyond this many first drops the stale */
} dup_table;

typedef struct scope_state {
  enum risk_mode mode;
  enum risk_cause cause; /* of the transition into mode */
  rate_ring sec, min;
} scope_state;

typedef struct strat_state {
  int losses_in_row;
  dto_time *fills; /* fill-loop ring per symbol: nsym * fill_cap */
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
  /* What the limits that are set ask for, per account, per strategy, per
   * (strategy, symbol) of eff: the groups of checks (RG_* bits; risk_check
   * passes over a group only when none of its limits is set, where each of
   * its checks would pass) and, for accounts and strategies, the inputs
   * (RISK_IN_* bits << RG_INPUTS).  Derived from the limits by apply(), the
   * only place they change. */
  uint16_t *acct_on, *strat_on;
  uint8_t *eff_on;
  scope_state *as, *ss;
  scope_state glob; /* the kill switch: ACTIVE or HALTED */
  strat_state *st;
  int fill_cap; /* per-symbol fill-loop ring size */
  bool store_fault;
  bool unreconciled;
  bool maintenance; /* a person's: only reducing orders, everywhere */
  dup_table dup;
  uint64_t refused[RISK_REASON_COUNT];
  uint64_t checked;
  uint64_t illegal;
  bool has_last_illegal;
  risk_change last_illegal;
  risk_observer_fn observer;
  void *observer_ctx;
};

static const char *const reason_names[RISK_REASON_COUNT] = {
#define DTO__RISK_NAME(name, str) str,
    RISK_REASON_MAP(DTO__RISK_NAME)
#undef DTO__RISK_NAME
};
static const char *const mode_names[RISK_MODE_COUNT] = {"active", "reducing",
                                                        "halted"};
static const char *const cause_names[RISK_CAUSE_COUNT] = {
#define DTO__RISK_CAUSE_NAME(name, str) str,
    RISK_CAUSE_MAP(DTO__RISK_CAUSE_NAME)
#undef DTO__RISK_CAUSE_NAME
};

const char *risk_reason_name(enum risk_reason r) {
  return (unsigned)r < RISK_REASON_COUNT ? reason_names[r] : "?";
}
const char *risk_mode_name(enum risk_mode m) {
  return (unsigned)m < RISK_MODE_COUNT ? mode_names[m] : "?";
}
const char *risk_cause_name(enum risk_cause c) {
  return (unsigned)c < RISK_CAUSE_COUNT ? cause_names[c] : "?";
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

/* The groups of risk_check's limit checks, for risk.acct_on, strat_on and
 * eff_on.  A limit that takes part in several groups is in each. */
enum {
  RG_ENTRY = 1u << 0, /* opening orders: trading window, no new entries */
  RG_PRICE = 1u << 1, /* size and price: order qty and notional, the
                         reference price's age, collars, and every limit
                         that values the order (it needs a price) */
  RG_POS = 1u << 2,   /* positions and exposure, buying power */
  RG_COUNT = 1u << 3, /* open orders, throttles, duplicates */
  RG_PNL = 1u << 5,   /* daily loss and drawdown */
  RG_INPUTS = 8       /* the RISK_IN_* bits start here */
};

/* An account's groups, and the inputs its limits read. */
static uint16_t acct_groups(const risk_account_limits *al) {
  unsigned g = 0, in = 0;
  if (al->pdt)
    in |= RISK_IN_DAY_TRADES | RISK_IN_ACCT_EQUITY;
  if (al->max_concentration_pct > 0 || al->max_daily_loss > 0 ||
      al->max_drawdown > 0)
    in |= RISK_IN_ACCT_EQUITY;
  if (al->max_gross > 0 || al->max_net > 0 || al->max_concentration_pct > 0 ||
      al->check_buying_power)
    g |= RG_PRICE | RG_POS;
  if (al->max_open_orders > 0 || al->max_orders_per_sec > 0 ||
      al->max_orders_per_min > 0)
    g |= RG_COUNT;
  if (al->max_daily_loss > 0 || al->max_drawdown > 0)
    g |= RG_PNL;
  return (uint16_t)(g | in << RG_INPUTS);
}

/* A strategy's groups, and the inputs its limits read. */
static uint16_t strat_groups(const risk_strategy_limits *sl) {
  unsigned g = 0, in = 0;
  if (sl->window_start >= 0)
    in |= RISK_IN_MINUTE;
  if (sl->max_daily_loss > 0 || sl->max_drawdown > 0)
    in |= RISK_IN_STRAT_EQUITY;
  if (sl->window_start >= 0 || sl->no_new_entries > 0)
    g |= RG_ENTRY;
  if (sl->max_open_orders > 0 || sl->max_orders_per_sec > 0 ||
      sl->max_orders_per_min > 0)
    g |= RG_COUNT;
  if (sl->max_daily_loss > 0 || sl->max_drawdown > 0)
    g |= RG_PNL;
  return (uint16_t)(g | in << RG_INPUTS);
}

static uint8_t order_groups(const risk_order_limits *ol) {
  unsigned g = 0;
  if (ol->max_order_qty > 0 || ol->max_order_notional > 0 ||
      ol->ref_max_age > 0 || ol->collar_pct > 0 || ol->collar_ticks > 0)
    g |= RG_PRICE;
  if (ol->max_pos_qty > 0)
    g |= RG_POS;
  if (ol->max_pos_notional > 0)
    g |= RG_PRICE | RG_POS;
  if (ol->dup_window > 0)
    g |= RG_COUNT;
  return (uint8_t)g;
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
      r->eff_on[s * r->nsym + y] = order_groups(e);
    }
  for (size_t i = 0; i < r->na; i++)
    r->acct_on[i] = acct_groups(&r->al[i]);
  for (size_t i = 0; i < r->ns; i++)
    r->strat_on[i] = strat_groups(&r->sl[i]);
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
  r->acct_on = xcalloc(na, sizeof *r->acct_on);
  r->strat_on = xcalloc(ns, sizeof *r->strat_on);
  r->eff_on = xcalloc(ns * nsym, sizeof *r->eff_on);
  r->as = xcalloc(na, sizeof *r->as);
  r->ss = xcalloc(ns, sizeof *r->ss);
  r->st = xcalloc(ns, sizeof *r->st);
  for (size_t i = 0; i < ns; i++) {
    r->st[i].fhead = xcalloc(nsym, sizeof(int));
    r->st[i].fn = xcalloc(nsym, sizeof(int));
  }
  r->fill_cap = -1;
  r->dup.sweep_at = DUP_MIN;
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
  free(r->dup.e);
  free(r->strategy_account);
  free(r->acct_ol);
  free(r->strat_ol);
  free(r->sym_ol);
  free(r->eff);
  free(r->al);
  free(r->sl);
  free(r->acct_on);
  free(r->strat_on);
  free(r->eff_on);
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

/* ---- the duplicate memory ------------------------------------------------ */

static void dup_key(dup_entry *k, const order *o) {
  memset(k, 0, sizeof *k);
  k->qty = o->qty;
  k->limit = o->limit_price;
  k->stop = o->stop_price;
  k->trail = o->trail;
  k->account = o->account;
  k->strategy = o->strategy;
  k->sym = o->sym;
  k->side = (uint8_t)o->side;
  k->type = (uint8_t)o->type;
}

/* Independent multiplies (they run in parallel), then one finalising
 * round: fast, and good enough for keys that differ in any field. */
static uint32_t dup_hash(const dup_entry *k) {
  uint64_t h =
      ((((uint64_t)k->account << 32) | k->strategy) * 0x9e3779b97f4a7c15ull) ^
      ((((uint64_t)k->sym << 16) | ((uint64_t)k->side << 8) | k->type) *
       0xc2b2ae3d27d4eb4full) ^
      ((uint64_t)k->qty * 0x165667b19e3779f9ull) ^
      ((uint64_t)k->limit * 0xd6e8feb86659fd93ull) ^
      ((uint64_t)k->stop * 0xff51afd7ed558ccdull) ^
      ((uint64_t)k->trail * 0xc4ceb9fe1a85ec53ull);
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return (uint32_t)(h >> 32);
}

static bool dup_same(const dup_entry *a, const dup_entry *b) {
  return a->qty == b->qty && a->limit == b->limit && a->stop == b->stop &&
         a->trail == b->trail && a->account == b->account &&
         a->strategy == b->strategy && a->sym == b->sym && a->side == b->side &&
         a->type == b->type;
}

/* The slot holding key, or the free slot where it would go (NULL before
 * the table is first made).  The table is never full (n <= cap / 2). */
static dup_entry *dup_find(dup_table *t, const dup_entry *key) {
  if (!t->cap)
    return NULL;
  uint32_t m = t->cap - 1;
  for (uint32_t i = dup_hash(key) & m;; i = (i + 1) & m) {
    dup_entry *e = &t->e[i];
    if (!e->used || dup_same(e, key))
      return e;
  }
}

/* Is e still inside its window at now (under the current limits)? */
static bool dup_live(const risk *r, const dup_entry *e, dto_time now) {
  dto_time w = r->eff[(size_t)e->strategy * r->nsym + e->sym].dup_window;
  return w > 0 && now - e->t < w;
}

/* Rebuild t: with r, a sweep that keeps only the entries still inside
 * their window at now and sets sweep_at to twice their number (at least
 * DUP_MIN); without r, the same entries in a table sized for sweep_at. */
static void dup_rebuild(dup_table *t, const risk *r, dto_time now) {
  dup_table nt = {0};
  nt.sweep_at = t->sweep_at;
  uint32_t live = 0;
  for (uint32_t i = 0; i < t->cap; i++)
    live += t->e[i].used && (!r || dup_live(r, &t->e[i], now));
  if (r) /* a sweep: room for as many again as are still inside */
    nt.sweep_at = live * 2 > DUP_MIN ? live * 2 : DUP_MIN;
  nt.cap = 2 * DUP_MIN;
  while (nt.cap < 2 * nt.sweep_at)
    nt.cap *= 2;
  nt.e = xcalloc(nt.cap, sizeof *nt.e);
  for (uint32_t i = 0; i < t->cap; i++) {
    const dup_entry *e = &t->e[i];
    if (!e->used || (r && !dup_live(r, e, now)))
      continue;
    *dup_find(&nt, e) = *e;
    nt.n++;
  }
  free(t->e);
  *t = nt;
}

/* Remember accepted order o at now; slot is what dup_find() gave for its
 * key (the table has not changed since). */
static void dup_remember(risk *r, dup_entry *slot, const order *o,
                         dto_time now) {
  dup_table *t = &r->dup;
  if (!slot || !slot->used) {
    dup_entry key;
    dup_key(&key, o);
    if (!t->cap || t->n + 1 > t->sweep_at) {
      dup_rebuild(t, t->cap ? r : NULL, now);
      slot = dup_find(t, &key);
    }
    *slot = key;
    slot->used = true;
    t->n++;
  }
  slot->t = now;
}

size_t risk_dup_memory(const risk *r) { return r->dup.n; }

/* ---- the check ----------------------------------------------------------- */

unsigned risk_inputs_needed(const risk *r, uint32_t account,
                            uint32_t strategy) {
  if (account >= r->na || strategy >= r->ns)
    return RISK_IN_ALL;
  return (unsigned)(r->acct_on[account] | r->strat_on[strategy]) >>
         RG_INPUTS;
}

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
  if (r->glob.mode == MODE_HALTED)
    return refuse(r, d, RISK_KILL_SWITCH, 0, 0, 3);
  if (r->store_fault)
    return refuse(r, d, RISK_STORE_FAULT, 0, 0, 3);
  if (r->unreconciled)
    return refuse(r, d, RISK_UNRECONCILED, 0, 0, 3);
  if (as->mode == MODE_HALTED)
    return refuse(r, d, RISK_HALTED, 0, 0, 1);
  if (ss->mode == MODE_HALTED)
    return refuse(r, d, RISK_HALTED, 0, 0, 2);
  if (!reducing && r->maintenance)
    return refuse(r, d, RISK_MAINTENANCE, 0, 0, 3);
  if (!reducing && (as->mode == MODE_REDUCING || ss->mode == MODE_REDUCING)) {
    int scope = as->mode == MODE_REDUCING ? 1 : 2;
    enum risk_cause c = scope == 1 ? as->cause : ss->cause;
    /* a daily limit says which; a person or other guard: reducing only */
    enum risk_reason why = c == RISK_CAUSE_DAILY_LOSS ? RISK_DAILY_LOSS
                           : c == RISK_CAUSE_DRAWDOWN ? RISK_DRAWDOWN
                                                      : RISK_REDUCING_ONLY;
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
  /* The groups of checks below (RG_*) with no limit set are passed over:
   * each of their checks would pass. */
  unsigned on = r->acct_on[o->account] | r->strat_on[o->strategy] |
                r->eff_on[o->strategy * r->nsym + o->sym];
  if (!reducing && (on & RG_ENTRY)) {
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
  bool ref_ok = in->ref_price > 0;
  fx px = need_limit ? o->limit_price : in->ref_price;
  fx value = 0; /* the order's value: read only by RG_PRICE limits */
  if (on & RG_PRICE) {
    if (ol->max_order_qty > 0 && o->qty > ol->max_order_qty)
      return refuse(r, d, RISK_MAX_ORDER_QTY, o->qty, ol->max_order_qty, 0);
    bool stale = ref_ok && ol->ref_max_age > 0 &&
                 in->now - in->ref_time > ol->ref_max_age;
    /* orders without a limit price are valued at the reference price:
     * every value limit needs one for them (fail closed) */
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
    value = mulx(o->qty, px);
    if (ol->max_order_notional > 0 && value > ol->max_order_notional)
      return refuse(r, d, RISK_MAX_ORDER_NOTIONAL, value,
                    ol->max_order_notional, 0);
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
  } else if ((o->type == ORD_MARKET || o->type == ORD_TRAILING_STOP) &&
             !ref_ok) {
    /* needs_ref above, with none of the group's limits set */
    return refuse(r, d, RISK_NO_REF_PRICE, in->ref_price, 0, 0);
  }

  /* positions and exposure, counting working orders (opening orders only) */
  if (!reducing && (on & RG_POS)) {
    if (ol->max_pos_qty > 0 && fx_abs(proj) > ol->max_pos_qty)
      return refuse(r, d, RISK_MAX_POS_QTY, fx_abs(proj), ol->max_pos_qty, 0);
    /* (values are computed only for the limits that are set: the
     * arithmetic is pure, so the decisions are the same) */
    if (ol->max_pos_notional > 0) {
      fx pval = mulx(fx_abs(proj), in->ref_price);
      if (pval > ol->max_pos_notional)
        return refuse(r, d, RISK_MAX_POS_NOTIONAL, pval, ol->max_pos_notional,
                      0);
    }
    if (al->max_gross > 0 || al->max_net > 0 || al->max_concentration_pct > 0) {
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
    }
    if (al->check_buying_power) {
      fx bp = addx(addx(in->acct_cash, al->credit), -in->acct_open_buy_value);
      if (value > bp)
        return refuse(r, d, RISK_BUYING_POWER, value, bp, 1);
    }
  }

  /* order counts and throttles (a throttle's ring has a capacity only
   * when its limit is set) */
  dup_entry *dup = NULL;
  if (on & RG_COUNT) {
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
      dup_entry key;
      dup_key(&key, o);
      dup = dup_find(&r->dup, &key);
      /* value: time since the earlier order; limit: the window */
      if (dup && dup->used && in->now - dup->t < ol->dup_window)
        return refuse(r, d, RISK_DUPLICATE, in->now - dup->t, ol->dup_window,
                      0);
    }
  }

  /* pattern day trader */
  if (al->pdt && in->would_day_trade && in->acct_equity < al->pdt_min_equity &&
      in->day_trades >= al->pdt_max_day_trades)
    return refuse(r, d, RISK_PDT, fx_from_int(in->day_trades + 1),
                  fx_from_int(al->pdt_max_day_trades), 1);

  /* daily loss and drawdown (opening orders; the modes also hold this) */
  if (!reducing && (on & RG_PNL)) {
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
  if (on & RG_COUNT) {
    ring_push(&ss->sec, in->now);
    ring_push(&as->sec, in->now);
    ring_push(&ss->min, in->now);
    ring_push(&as->min, in->now);
    if (ol->dup_window > 0)
      dup_remember(r, dup, o, in->now);
  }
  return RISK_OK;
}

/* ---- modes: the one transition function ---------------------------------- */

#define MB(m) (1u << (m))
#define CB(c) (1u << (c))
#define SB(s) (1u << (s))
#define ALL_MODES (MB(MODE_ACTIVE) | MB(MODE_REDUCING) | MB(MODE_HALTED))
#define ANY_CAUSE ((1u << RISK_CAUSE_COUNT) - 1)
#define DAILY (CB(RISK_CAUSE_DAILY_LOSS) | CB(RISK_CAUSE_DRAWDOWN))
#define ACCT_STRAT (SB(RISK_SCOPE_ACCOUNT) | SB(RISK_SCOPE_STRATEGY))

/* The legal changes: `cause` may move a scope of a kind in `scopes` from a
 * mode in `from`, entered for a cause in `from_causes`, to a mode in `to`.
 * What is not here is illegal.  docs/internals/risk.md has the same table
 * in words. */
static const struct rule {
  enum risk_cause cause;
  uint32_t scopes, from, from_causes, to;
} rules[] = {
    /* a person sets any mode of an account or strategy, and releases any */
    {RISK_CAUSE_PERSON, ACCT_STRAT, ALL_MODES, ANY_CAUSE, ALL_MODES},
    /* daily limits restrict an active scope until the next day */
    {RISK_CAUSE_DAILY_LOSS, ACCT_STRAT, MB(MODE_ACTIVE), ANY_CAUSE,
     MB(MODE_REDUCING)},
    {RISK_CAUSE_DRAWDOWN, ACCT_STRAT, MB(MODE_ACTIVE), ANY_CAUSE,
     MB(MODE_REDUCING)},
    /* consecutive losses: REDUCING until a person releases it, taking
     * over from a daily limit (which the next day would lift) */
    {RISK_CAUSE_CONSECUTIVE_LOSSES, SB(RISK_SCOPE_STRATEGY), MB(MODE_ACTIVE),
     ANY_CAUSE, MB(MODE_REDUCING)},
    {RISK_CAUSE_CONSECUTIVE_LOSSES, SB(RISK_SCOPE_STRATEGY), MB(MODE_REDUCING),
     DAILY, MB(MODE_REDUCING)},
    /* the fill-loop guard halts a strategy that is not halted */
    {RISK_CAUSE_FILL_LOOP, SB(RISK_SCOPE_STRATEGY),
     MB(MODE_ACTIVE) | MB(MODE_REDUCING), ANY_CAUSE, MB(MODE_HALTED)},
    /* a new day lifts what the daily limits set, nothing else */
    {RISK_CAUSE_NEW_DAY, ACCT_STRAT, MB(MODE_REDUCING), DAILY, MB(MODE_ACTIVE)},
    /* the kill switch: on from active, off only what it set */
    {RISK_CAUSE_KILL_SWITCH, SB(RISK_SCOPE_GLOBAL), MB(MODE_ACTIVE), ANY_CAUSE,
     MB(MODE_HALTED)},
    {RISK_CAUSE_KILL_SWITCH, SB(RISK_SCOPE_GLOBAL), MB(MODE_HALTED),
     CB(RISK_CAUSE_KILL_SWITCH), MB(MODE_ACTIVE)},
};

bool risk_transition_legal(int sc, enum risk_mode from,
                           enum risk_cause from_cause, enum risk_mode to,
                           enum risk_cause cause) {
  if (sc < RISK_SCOPE_ACCOUNT || sc > RISK_SCOPE_GLOBAL ||
      (unsigned)from >= RISK_MODE_COUNT || (unsigned)to >= RISK_MODE_COUNT ||
      (unsigned)from_cause >= RISK_CAUSE_COUNT ||
      (unsigned)cause >= RISK_CAUSE_COUNT)
    return false;
  for (size_t i = 0; i < DTO_ARRAY_LEN(rules); i++) {
    const struct rule *u = &rules[i];
    if (u->cause == cause && (u->scopes & SB(sc)) && (u->from & MB(from)) &&
        (u->from_causes & CB(from_cause)) && (u->to & MB(to)))
      return true;
  }
  return false;
}

/* Can a scope of kind sc be in mode m because of cause c: the initial
 * state, or the result of some rule (snapshots are checked with it). */
static bool state_reachable(int sc, enum risk_mode m, enum risk_cause c) {
  if ((unsigned)m >= RISK_MODE_COUNT || (unsigned)c >= RISK_CAUSE_COUNT)
    return false;
  if (c == RISK_CAUSE_NONE)
    return m == MODE_ACTIVE;
  for (size_t i = 0; i < DTO_ARRAY_LEN(rules); i++)
    if (rules[i].cause == c && (rules[i].scopes & SB(sc)) &&
        (rules[i].to & MB(m)))
      return true;
  return false;
}

static scope_state *scope(risk *r, int sc, uint32_t i) {
  if (sc == RISK_SCOPE_ACCOUNT && i < r->na)
    return &r->as[i];
  if (sc == RISK_SCOPE_STRATEGY && i < r->ns)
    return &r->ss[i];
  if (sc == RISK_SCOPE_GLOBAL && i == 0)
    return &r->glob;
  return NULL;
}

/* Would cause move scope (sc, i) to mode `to`?  (The guards below ask
 * first: a guard that finds its scope already restricted does nothing,
 * which is no illegal change.) */
static bool may(risk *r, int sc, uint32_t i, enum risk_mode to,
                enum risk_cause cause) {
  const scope_state *s = scope(r, sc, i);
  return s && risk_transition_legal(sc, s->mode, s->cause, to, cause);
}

int risk_transition(risk *r, int sc, uint32_t i, enum risk_mode to,
                    enum risk_cause cause) {
  scope_state *s = scope(r, sc, i);
  if (!s || (unsigned)to >= RISK_MODE_COUNT ||
      (unsigned)cause >= RISK_CAUSE_COUNT) {
    r->illegal++;
    return DTO_EINVAL;
  }
  if (s->mode == to && s->cause == cause)
    return 0; /* nothing changes */
  risk_change t = {sc, i, s->mode, to, s->cause, cause, true};
  if (!risk_transition_legal(sc, s->mode, s->cause, to, cause)) {
    t.legal = false;
    r->illegal++;
    r->last_illegal = t;
    r->has_last_illegal = true;
  } else {
    s->mode = to;
    s->cause = cause;
    /* a person re-enabling a strategy starts its loss count over */
    if (cause == RISK_CAUSE_PERSON && to == MODE_ACTIVE &&
        sc == RISK_SCOPE_STRATEGY)
      r->st[i].losses_in_row = 0;
  }
  if (r->observer)
    r->observer(r->observer_ctx, &t);
  return t.legal ? 0 : DTO_ESTATE;
}

void risk_set_observer(risk *r, risk_observer_fn fn, void *ctx) {
  r->observer = fn;
  r->observer_ctx = fn ? ctx : NULL;
}

uint64_t risk_illegal_transitions(const risk *r) { return r->illegal; }

bool risk_last_illegal(const risk *r, risk_change *out) {
  if (r->has_last_illegal && out)
    *out = r->last_illegal;
  return r->has_last_illegal;
}

/* ---- state from the engine ----------------------------------------------- */

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
  return *cnt == cap && t - ring[*head] <= sl->fill_loop_window &&
         may(r, RISK_SCOPE_STRATEGY, strategy, MODE_HALTED,
             RISK_CAUSE_FILL_LOOP) &&
         risk_transition(r, RISK_SCOPE_STRATEGY, strategy, MODE_HALTED,
                         RISK_CAUSE_FILL_LOOP) == 0;
}

bool risk_on_round_trip(risk *r, uint32_t strategy, fx pnl) {
  if (strategy >= r->ns)
    return false;
  strat_state *st = &r->st[strategy];
  st->losses_in_row = pnl < 0 ? st->losses_in_row + 1 : 0;
  int lim = r->sl[strategy].max_consecutive_losses;
  return lim > 0 && st->losses_in_row >= lim &&
         may(r, RISK_SCOPE_STRATEGY, strategy, MODE_REDUCING,
             RISK_CAUSE_CONSECUTIVE_LOSSES) &&
         risk_transition(r, RISK_SCOPE_STRATEGY, strategy, MODE_REDUCING,
                         RISK_CAUSE_CONSECUTIVE_LOSSES) == 0;
}

enum risk_reason risk_on_pnl(risk *r, int sc, uint32_t i, fx day_pnl,
                             fx drawdown) {
  if (sc != RISK_SCOPE_ACCOUNT && sc != RISK_SCOPE_STRATEGY)
    return RISK_OK;
  if (!scope(r, sc, i))
    return RISK_OK;
  fx max_loss = sc == 1 ? r->al[i].max_daily_loss : r->sl[i].max_daily_loss;
  fx max_dd = sc == 1 ? r->al[i].max_drawdown : r->sl[i].max_drawdown;
  enum risk_reason why = RISK_OK;
  enum risk_cause cause = RISK_CAUSE_NONE;
  if (max_loss > 0 && -day_pnl >= max_loss) {
    why = RISK_DAILY_LOSS;
    cause = RISK_CAUSE_DAILY_LOSS;
  } else if (max_dd > 0 && drawdown >= max_dd) {
    why = RISK_DRAWDOWN;
    cause = RISK_CAUSE_DRAWDOWN;
  }
  if (why == RISK_OK || !may(r, sc, i, MODE_REDUCING, cause) ||
      risk_transition(r, sc, i, MODE_REDUCING, cause) != 0)
    return RISK_OK;
  return why;
}

void risk_new_day(risk *r) {
  for (uint32_t i = 0; i < r->na; i++)
    if (may(r, RISK_SCOPE_ACCOUNT, i, MODE_ACTIVE, RISK_CAUSE_NEW_DAY))
      risk_transition(r, RISK_SCOPE_ACCOUNT, i, MODE_ACTIVE,
                      RISK_CAUSE_NEW_DAY);
  for (uint32_t i = 0; i < r->ns; i++)
    if (may(r, RISK_SCOPE_STRATEGY, i, MODE_ACTIVE, RISK_CAUSE_NEW_DAY))
      risk_transition(r, RISK_SCOPE_STRATEGY, i, MODE_ACTIVE,
                      RISK_CAUSE_NEW_DAY);
}

/* ---- modes --------------------------------------------------------------- */

void risk_kill(risk *r, bool on) {
  if (risk_killed(r) == on)
    return; /* already so: no change (releasing a switch that is off) */
  risk_transition(r, RISK_SCOPE_GLOBAL, 0, on ? MODE_HALTED : MODE_ACTIVE,
                  RISK_CAUSE_KILL_SWITCH);
}
bool risk_killed(const risk *r) { return r->glob.mode == MODE_HALTED; }
void risk_store_fault(risk *r, bool on) { r->store_fault = on; }
bool risk_store_faulted(const risk *r) { return r->store_fault; }
void risk_unreconciled(risk *r, bool on) { r->unreconciled = on; }
bool risk_is_unreconciled(const risk *r) { return r->unreconciled; }
void risk_set_maintenance(risk *r, bool on) { r->maintenance = on; }
bool risk_maintenance(const risk *r) { return r->maintenance; }

void risk_set_mode(risk *r, int sc, uint32_t i, enum risk_mode m) {
  risk_transition(r, sc, i, m, RISK_CAUSE_PERSON);
}

enum risk_mode risk_mode_of(const risk *r, int sc, uint32_t i) {
  const scope_state *s = scope((risk *)r, sc, i);
  return s ? s->mode : MODE_ACTIVE;
}

enum risk_cause risk_mode_cause(const risk *r, int sc, uint32_t i) {
  const scope_state *s = scope((risk *)r, sc, i);
  return s ? s->cause : RISK_CAUSE_NONE;
}

enum risk_reason risk_mode_reason(const risk *r, int sc, uint32_t i) {
  const scope_state *s = scope((risk *)r, sc, i);
  if (!s || s->mode == MODE_ACTIVE)
    return RISK_OK;
  switch (s->cause) {
  case RISK_CAUSE_DAILY_LOSS:
    return RISK_DAILY_LOSS;
  case RISK_CAUSE_DRAWDOWN:
    return RISK_DRAWDOWN;
  case RISK_CAUSE_CONSECUTIVE_LOSSES:
    return RISK_REDUCING_ONLY;
  case RISK_CAUSE_FILL_LOOP:
    return RISK_HALTED;
  case RISK_CAUSE_KILL_SWITCH:
    return RISK_KILL_SWITCH;
  default:
    return RISK_OK;
  }
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

/* ---- snapshots ------------------------------------------------------------
 *
 * Layout, versions 1 and 2 (integers little-endian; i64 two's complement):
 *   "DRSK" u32 version  u32 naccounts u32 nstrategies u32 nsyms
 *   global:      u8 mode u8 cause (the kill switch)
 *                [version 2: u8 maintenance, always 1]
 *   accounts:    u8 mode u8 cause ring(sec) ring(min)
 *   strategies:  u8 mode u8 cause ring(sec) ring(min) u32 losses_in_row
 *                nsyms x ring(fills)
 *   duplicates:  u32 sweep_at u32 n, n x (u32 account u32 strategy u32 sym
 *                u8 side u8 type i64 qty i64 limit i64 stop i64 trail
 *                i64 accepted_at), in increasing key order
 *   counters:    u64 checked u32 nreasons nreasons x u64 refused
 *                u64 illegal u8 has_last [u8 scope u32 index u8 from u8 to
 *                u8 from_cause u8 cause, when has_last]
 *   ring:        u32 n, n x i64 times, oldest first
 * and nothing after.  The storage-fault and unreconciled flags are not in
 * it: they are the app's view of the present (the journal's health, the
 * reconciliation every restart needs), set again at every start, and a
 * restore leaves them as they are.
 *
 * A gate writes the lowest version that holds its state, as git writes
 * index version 3 only when an entry needs its extended flags: version 1
 * while maintenance is off, version 2 (the maintenance byte) while it is
 * on.  The states that existed before maintenance keep their bytes, and
 * each state has one encoding (version 2 with the byte 0 is refused). */

#define SNAP_MAGIC "DRSK"
#define SNAP_VERSION 1u
#define SNAP_VERSION_MAINTENANCE 2u
#define DUP_REC 53 /* bytes per duplicate entry */

typedef struct wr {
  dbuf *b;
  int rc;
} wr;

static void put(wr *w, const void *p, size_t n) {
  if (!w->rc)
    w->rc = dbuf_add(w->b, p, n);
}
static void put_u8(wr *w, unsigned v) {
  uint8_t c = (uint8_t)v;
  put(w, &c, 1);
}
static void put_u32(wr *w, uint32_t v) {
  uint8_t c[4];
  for (int i = 0; i < 4; i++)
    c[i] = (uint8_t)(v >> (8 * i));
  put(w, c, 4);
}
static void put_u64(wr *w, uint64_t v) {
  uint8_t c[8];
  for (int i = 0; i < 8; i++)
    c[i] = (uint8_t)(v >> (8 * i));
  put(w, c, 8);
}
static void put_i64(wr *w, int64_t v) { put_u64(w, (uint64_t)v); }

static void put_ring(wr *w, const rate_ring *g) {
  put_u32(w, (uint32_t)g->n);
  for (int k = 0; k < g->n; k++)
    put_i64(w, g->t[(g->head + k) % g->cap]);
}

/* Increasing key order (the snapshot's canonical order). */
static int dup_cmp(const void *pa, const void *pb) {
  const dup_entry *a = *(const dup_entry *const *)pa;
  const dup_entry *b = *(const dup_entry *const *)pb;
#define DTO__CMP(f)                                                            \
  if (a->f != b->f)                                                            \
    return a->f < b->f ? -1 : 1;
  DTO__CMP(account)
  DTO__CMP(strategy)
  DTO__CMP(sym)
  DTO__CMP(side)
  DTO__CMP(type)
  DTO__CMP(qty)
  DTO__CMP(limit)
  DTO__CMP(stop)
  DTO__CMP(trail)
#undef DTO__CMP
  return 0;
}

size_t risk_snapshot(const risk *r, dbuf *out) {
  size_t start = out->len;
  wr w = {out, 0};
  put(&w, SNAP_MAGIC, 4);
  put_u32(&w, r->maintenance ? SNAP_VERSION_MAINTENANCE : SNAP_VERSION);
  put_u32(&w, (uint32_t)r->na);
  put_u32(&w, (uint32_t)r->ns);
  put_u32(&w, (uint32_t)r->nsym);
  put_u8(&w, r->glob.mode);
  put_u8(&w, r->glob.cause);
  if (r->maintenance)
    put_u8(&w, 1);
  for (size_t i = 0; i < r->na; i++) {
    put_u8(&w, r->as[i].mode);
    put_u8(&w, r->as[i].cause);
    put_ring(&w, &r->as[i].sec);
    put_ring(&w, &r->as[i].min);
  }
  for (size_t i = 0; i < r->ns; i++) {
    const strat_state *st = &r->st[i];
    put_u8(&w, r->ss[i].mode);
    put_u8(&w, r->ss[i].cause);
    put_ring(&w, &r->ss[i].sec);
    put_ring(&w, &r->ss[i].min);
    put_u32(&w, (uint32_t)st->losses_in_row);
    for (size_t y = 0; y < r->nsym; y++) {
      const dto_time *ring = st->fills + y * (size_t)r->fill_cap;
      put_u32(&w, (uint32_t)st->fn[y]);
      for (int k = 0; k < st->fn[y]; k++)
        put_i64(&w, ring[(st->fhead[y] + k) % st->flen]);
    }
  }
  const dup_table *t = &r->dup;
  put_u32(&w, t->sweep_at);
  put_u32(&w, t->n);
  const dup_entry **v = xcalloc(t->n ? t->n : 1, sizeof *v);
  uint32_t nv = 0;
  for (uint32_t i = 0; i < t->cap; i++)
    if (t->e[i].used)
      v[nv++] = &t->e[i];
  DTO_ASSERT(nv == t->n);
  qsort(v, nv, sizeof *v, dup_cmp);
  for (uint32_t i = 0; i < nv; i++) {
    put_u32(&w, v[i]->account);
    put_u32(&w, v[i]->strategy);
    put_u32(&w, v[i]->sym);
    put_u8(&w, v[i]->side);
    put_u8(&w, v[i]->type);
    put_i64(&w, v[i]->qty);
    put_i64(&w, v[i]->limit);
    put_i64(&w, v[i]->stop);
    put_i64(&w, v[i]->trail);
    put_i64(&w, v[i]->t);
  }
  free(v);
  put_u64(&w, r->checked);
  put_u32(&w, RISK_REASON_COUNT);
  for (int k = 0; k < RISK_REASON_COUNT; k++)
    put_u64(&w, r->refused[k]);
  put_u64(&w, r->illegal);
  put_u8(&w, r->has_last_illegal);
  if (r->has_last_illegal) {
    const risk_change *l = &r->last_illegal;
    put_u8(&w, (unsigned)l->scope);
    put_u32(&w, l->index);
    put_u8(&w, l->from);
    put_u8(&w, l->to);
    put_u8(&w, l->from_cause);
    put_u8(&w, l->cause);
  }
  if (w.rc) { /* out's cap: leave it as it was */
    out->len = start;
    if (out->ptr)
      out->ptr[start] = '\0';
    return 0;
  }
  return out->len - start;
}

/* A bounds-checked reader: after the first short read every value is 0
 * and bad stays set. */
typedef struct rd {
  const uint8_t *p;
  size_t n, off;
  bool bad;
} rd;

static bool rd_has(rd *d, size_t k) {
  if (d->bad || d->n - d->off < k) {
    d->bad = true;
    return false;
  }
  return true;
}
static uint8_t get_u8(rd *d) { return rd_has(d, 1) ? d->p[d->off++] : 0; }
static uint32_t get_u32(rd *d) {
  if (!rd_has(d, 4))
    return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32_t)d->p[d->off++] << (8 * i);
  return v;
}
static uint64_t get_u64(rd *d) {
  if (!rd_has(d, 8))
    return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)d->p[d->off++] << (8 * i);
  return v;
}
static int64_t get_i64(rd *d) { return (int64_t)get_u64(d); }

/* A mode and its cause for a scope of kind sc; false when unreachable. */
static bool get_mode(rd *d, int sc, scope_state *s, bool apply) {
  uint8_t m = get_u8(d), c = get_u8(d);
  if (d->bad || !state_reachable(sc, (enum risk_mode)m, (enum risk_cause)c))
    return false;
  if (apply) {
    s->mode = (enum risk_mode)m;
    s->cause = (enum risk_cause)c;
  }
  return true;
}

/* A ring of at most max times into one of capacity cap (keeping the newest
 * cap when there are more); with apply false only checked. */
static bool get_times(rd *d, uint32_t max, dto_time *ring, int cap, int *head,
                      int *cnt, bool apply) {
  uint32_t n = get_u32(d);
  if (d->bad || n > max || !rd_has(d, (size_t)n * 8))
    return false;
  uint32_t skip = cap <= 0 ? n : n > (uint32_t)cap ? n - (uint32_t)cap : 0;
  if (apply) {
    *head = 0;
    *cnt = (int)(n - skip);
  }
  for (uint32_t k = 0; k < n; k++) {
    dto_time t = get_i64(d);
    if (apply && k >= skip)
      ring[k - skip] = t;
  }
  return !d->bad;
}

static bool get_ring(rd *d, rate_ring *g, bool apply) {
  return get_times(d, RATE_CAP, g->t, g->cap, &g->head, &g->n, apply);
}

/* Read (apply false: only check) the whole snapshot.  With apply true it
 * must already have passed the check: then it cannot fail. */
static bool restore(risk *r, rd *d, bool apply) {
  uint8_t magic[4];
  for (int i = 0; i < 4; i++)
    magic[i] = get_u8(d);
  uint32_t version = get_u32(d);
  if (d->bad || memcmp(magic, SNAP_MAGIC, 4) ||
      (version != SNAP_VERSION && version != SNAP_VERSION_MAINTENANCE) ||
      get_u32(d) != r->na || get_u32(d) != r->ns || get_u32(d) != r->nsym ||
      d->bad)
    return false;
  if (!get_mode(d, RISK_SCOPE_GLOBAL, &r->glob, apply))
    return false;
  bool maintenance = version == SNAP_VERSION_MAINTENANCE;
  if (maintenance && (get_u8(d) != 1 || d->bad))
    return false;
  if (apply)
    r->maintenance = maintenance;
  for (size_t i = 0; i < r->na; i++)
    if (!get_mode(d, RISK_SCOPE_ACCOUNT, &r->as[i], apply) ||
        !get_ring(d, &r->as[i].sec, apply) ||
        !get_ring(d, &r->as[i].min, apply))
      return false;
  for (size_t i = 0; i < r->ns; i++) {
    strat_state *st = &r->st[i];
    if (!get_mode(d, RISK_SCOPE_STRATEGY, &r->ss[i], apply) ||
        !get_ring(d, &r->ss[i].sec, apply) ||
        !get_ring(d, &r->ss[i].min, apply))
      return false;
    uint32_t losses = get_u32(d);
    if (d->bad || losses > INT32_MAX)
      return false;
    if (apply)
      st->losses_in_row = (int)losses;
    for (size_t y = 0; y < r->nsym; y++)
      if (!get_times(d, RATE_CAP + 1, st->fills + y * (size_t)r->fill_cap,
                     st->flen, &st->fhead[y], &st->fn[y], apply))
        return false;
  }
  uint32_t sweep_at = get_u32(d), n = get_u32(d);
  uint32_t most = n * 2 > DUP_MIN ? n * 2 : DUP_MIN;
  if (d->bad || sweep_at > (1u << 30) || sweep_at < DUP_MIN || n > sweep_at ||
      sweep_at > most || !rd_has(d, (size_t)n * DUP_REC))
    return false;
  dup_table nt = {0};
  if (apply) {
    nt.sweep_at = sweep_at;
    nt.cap = 2 * DUP_MIN;
    while (nt.cap < 2 * sweep_at)
      nt.cap *= 2;
    nt.e = xcalloc(nt.cap, sizeof *nt.e);
  }
  dup_entry prev;
  memset(&prev, 0, sizeof prev);
  for (uint32_t k = 0; k < n; k++) {
    dup_entry e;
    memset(&e, 0, sizeof e);
    e.account = get_u32(d);
    e.strategy = get_u32(d);
    e.sym = get_u32(d);
    e.side = get_u8(d);
    e.type = get_u8(d);
    e.qty = get_i64(d);
    e.limit = get_i64(d);
    e.stop = get_i64(d);
    e.trail = get_i64(d);
    e.t = get_i64(d);
    e.used = true;
    const dup_entry *pe = &e, *pp = &prev;
    if (d->bad || e.account >= r->na || e.strategy >= r->ns ||
        e.sym >= r->nsym || e.side >= SIDE_COUNT || e.type >= ORD_TYPE_COUNT ||
        e.qty <= 0 || (k > 0 && dup_cmp(&pp, &pe) >= 0)) {
      DTO_ASSERT(!apply);
      return false;
    }
    prev = e;
    if (apply) {
      *dup_find(&nt, &e) = e;
      nt.n++;
    }
  }
  uint64_t checked = get_u64(d);
  uint32_t nreasons = get_u32(d);
  if (d->bad || nreasons > RISK_REASON_COUNT)
    return false;
  if (apply) {
    free(r->dup.e);
    r->dup = nt;
    r->checked = checked;
    memset(r->refused, 0, sizeof r->refused);
  }
  for (uint32_t k = 0; k < nreasons; k++) {
    uint64_t v = get_u64(d);
    if (apply)
      r->refused[k] = v;
  }
  uint64_t illegal = get_u64(d);
  uint8_t has = get_u8(d);
  if (d->bad || has > 1)
    return false;
  risk_change l;
  memset(&l, 0, sizeof l);
  if (has) {
    l.scope = get_u8(d);
    l.index = get_u32(d);
    l.from = (enum risk_mode)get_u8(d);
    l.to = (enum risk_mode)get_u8(d);
    l.from_cause = (enum risk_cause)get_u8(d);
    l.cause = (enum risk_cause)get_u8(d);
    if (d->bad || l.scope < RISK_SCOPE_ACCOUNT || l.scope > RISK_SCOPE_GLOBAL ||
        (unsigned)l.from >= RISK_MODE_COUNT ||
        (unsigned)l.to >= RISK_MODE_COUNT ||
        (unsigned)l.from_cause >= RISK_CAUSE_COUNT ||
        (unsigned)l.cause >= RISK_CAUSE_COUNT)
      return false;
  }
  if (d->off != d->n) /* trailing bytes */
    return false;
  if (apply) {
    r->illegal = illegal;
    r->has_last_illegal = has;
    r->last_illegal = l;
  }
  return true;
}

int risk_restore_snapshot(risk *r, const void *p, size_t n) {
  if (!r || (!p && n))
    return DTO_EINVAL;
  rd d = {p, n, 0, false};
  if (!restore(r, &d, false))
    return DTO_EINVAL;
  rd again = {p, n, 0, false};
  bool ok = restore(r, &again, true);
  DTO_ASSERT(ok);
  return 0;
}
