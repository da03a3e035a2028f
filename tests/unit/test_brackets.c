/* test_brackets.c - the bracket invariant (engine_brackets.c).
 *
 * A bracket's open position (what its entries filled minus what its exits
 * filled) has working exits for exactly that quantity (a take-profit for
 * all of it and a stop-loss for all of it, as the entry asked), or an alert
 * says why not and the engine retries.
 *
 * The property test drives the engine with seeded random sequences against
 * a broker model written here: entries submitted, partly filled, replaced
 * and canceled by the strategy; fills reported after a cancel confirmation
 * (late fills); exits rejected, canceled or expired by the broker; cancels
 * refused; the journal faulting; the broker refusing submits; the kill
 * switch.  After every step a checker recomputes, from the broker model
 * alone (the fills it made and the orders it holds working), each
 * bracket's open quantity and its exits' cover, and requires them to be
 * equal unless a bracket_unprotected alert is active for that bracket; an
 * alert must not repeat while its reason stays the same.  Each run ends in
 * a quiet phase (faults gone, the broker answers everything, market events
 * come) after which every bracket must be covered again with no alert left.
 *
 * Scenario tests then pin each defect down: a partly filled day entry is
 * protected from its first fill, a replaced entry's fills before the
 * replace stay covered, a fill after a cancel confirmation gets exits, a
 * refused exit is alerted and retried, exits pass checks meant for opening
 * orders and the kill switch, and the kill switch keeps restored exits. */
#include "core/prelude.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "engine/engine.h"

#define Q(n) ((fx)(n)*FX_ONE)
#define MAXO 8192 /* orders a run may create */
#define MAXB 2048 /* brackets a run may create */

/* ---- the broker model -----------------------------------------------------
 */

enum { B_NONE, B_NEW, B_LIVE, B_DONE, B_REPL };

typedef struct border {
  int st;          /* B_*; B_REPL: a replacement not confirmed yet */
  bool cancel_req; /* dto asked to cancel it */
  bool late_ok;    /* ended by a cancel or a replace: late fills possible */
  bool replacing;  /* a replace is pending; repl_new is the replacement */
  order_id repl_new, peer;
  enum bracket_role role;
  uint32_t bracket;
  enum order_side side;
  enum order_type type;
  enum tif tif;
  fx qty, filled, limit, stop;
} border;

typedef struct model {
  border o[MAXO];
  broker_report q[1024];
  size_t nq;
  int fail_submit; /* the next submits fail */
  int fail_cancel; /* the next cancels fail */
  order_id maxid;  /* every order id the model saw is below this */
  dto_time now;
} model;

/* What the test knows of a bracket (from the entry it submitted). */
typedef struct bref {
  bool known;
  enum order_side side;
  fx tp, sl;
  char cloid[CLOID_MAX];      /* its first entry's */
  fx entry_fills, exit_fills; /* from the broker model's fills */
  bool active;                /* a bracket_unprotected alert is on */
  char reason[32];
  int alerts, protected_alerts;
} bref;

typedef struct world {
  instrument_table ins;
  sim_clock sim;
  dto_clock clock;
  model m;
  engine *e;
  engine_account acct;
  strat *s;
  uint32_t sacct[1];
  risk_order_limits sym_ol[1];
  risk_account_limits al[1];
  risk_strategy_limits sl[1];
  risk_config rc;
  bref b[MAXB];
  int invalid_alerts, flatten_alerts;
  char last_alert[512];
  char last_code[64];
  uint64_t rng;
} world;

static fx F(const char *s) {
  fx v;
  if (fx_parse_cstr(s, &v))
    fail_msg("bad fx literal %s", s);
  return v;
}

static border *MO(world *w, order_id id) {
  if (id >= MAXO)
    fail_msg("order id %u beyond the model", id);
  return &w->m.o[id];
}

static void push(world *w, enum report_kind k, order_id id, fx qty, fx px,
                 int reason) {
  model *m = &w->m;
  if (m->nq >= DTO_ARRAY_LEN(m->q))
    fail_msg("report queue full");
  m->q[m->nq++] = (broker_report){k, id, ORDER_NONE, qty, px, m->now, reason};
}

static int fk_submit(void *ctx, const order *o) {
  world *w = ctx;
  if (w->m.fail_submit > 0) {
    w->m.fail_submit--;
    return DTO_EIO;
  }
  border *b = MO(w, o->id);
  if (b->st != B_NONE)
    fail_msg("order %u submitted twice", o->id);
  if (o->id >= w->m.maxid)
    w->m.maxid = o->id + 1;
  memset(b, 0, sizeof *b);
  b->st = B_NEW;
  b->peer = o->peer;
  b->role = o->role;
  b->bracket = o->bracket;
  b->side = o->side;
  b->type = o->type;
  b->tif = o->tif;
  b->qty = o->qty;
  b->limit = o->limit_price;
  b->stop = o->stop_price;
  /* exits have the bracket's shape (restored ones have no bracket) */
  if ((o->role == BR_TAKE_PROFIT || o->role == BR_STOP_LOSS) && o->bracket) {
    if (o->bracket == 0 || o->bracket >= MAXB || !w->b[o->bracket].known)
      fail_msg("exit %u of an unknown bracket %u", o->id, o->bracket);
    const bref *r = &w->b[o->bracket];
    if (o->side == r->side || o->tif != TIF_GTC || o->qty <= 0)
      fail_msg("exit %u: wrong side, tif or quantity", o->id);
    if (o->role == BR_TAKE_PROFIT &&
        (o->type != ORD_LIMIT || o->limit_price != r->tp || r->tp == 0))
      fail_msg("take-profit %u: not a limit at the bracket's price", o->id);
    if (o->role == BR_STOP_LOSS &&
        (o->type != ORD_STOP || o->stop_price != r->sl || r->sl == 0))
      fail_msg("stop-loss %u: not a stop at the bracket's price", o->id);
  }
  return 0;
}

static int fk_cancel(void *ctx, order_id id) {
  world *w = ctx;
  if (w->m.fail_cancel > 0) {
    w->m.fail_cancel--;
    return DTO_EIO;
  }
  border *b = MO(w, id);
  if (b->st == B_NEW || b->st == B_LIVE)
    b->cancel_req = true;
  else /* ended at the broker before the request arrived */
    push(w, REP_CANCEL_REJECT, id, 0, 0, BRR_UNKNOWN_ORDER);
  return 0;
}

static int fk_replace(void *ctx, order_id old_id, const order *nw) {
  world *w = ctx;
  border *old = MO(w, old_id);
  if ((old->st != B_NEW && old->st != B_LIVE) || old->replacing) {
    push(w, REP_CANCEL_REJECT, old_id, 0, 0, BRR_UNKNOWN_ORDER);
    return 0;
  }
  border *n = MO(w, nw->id);
  if (nw->id >= w->m.maxid)
    w->m.maxid = nw->id + 1;
  memset(n, 0, sizeof *n);
  n->st = B_REPL;
  n->peer = nw->peer;
  n->role = nw->role;
  n->bracket = nw->bracket;
  n->side = nw->side;
  n->type = nw->type;
  n->tif = nw->tif;
  n->qty = nw->qty;
  n->limit = nw->limit_price;
  n->stop = nw->stop_price;
  old->replacing = true;
  old->repl_new = nw->id;
  return 0;
}

static size_t fk_poll(void *ctx, broker_report *out, size_t max) {
  world *w = ctx;
  model *m = &w->m;
  size_t n = m->nq < max ? m->nq : max;
  memcpy(out, m->q, n * sizeof *out);
  memmove(m->q, m->q + n, (m->nq - n) * sizeof *m->q);
  m->nq -= n;
  return n;
}

static const broker_ops model_ops = {
    .name = "model",
    .submit = fk_submit,
    .cancel = fk_cancel,
    .replace = fk_replace,
    .poll = fk_poll,
};

/* The broker fills q of order id at its price (a late fill when the order
 * already ended); a bracket exit's fill reduces its peer (OCO), which the
 * broker cancels when nothing is left of it. */
static void fill(world *w, order_id id, fx q) {
  border *b = MO(w, id);
  if (q <= 0 || q > b->qty - b->filled)
    fail_msg("model: bad fill of %u", id);
  b->filled += q;
  fx px = b->limit ? b->limit : b->stop ? b->stop : Q(100);
  push(w, REP_FILL, id, q, px, 0);
  if (b->bracket && b->bracket < MAXB) {
    bref *r = &w->b[b->bracket];
    if (b->role == BR_ENTRY)
      r->entry_fills += q;
    else
      r->exit_fills += q;
  }
  if (b->st != B_DONE && b->filled >= b->qty) {
    b->st = B_DONE;
    if (b->replacing) { /* too late to replace: the broker says so */
      b->replacing = false;
      MO(w, b->repl_new)->st = B_NONE;
      push(w, REP_CANCEL_REJECT, id, 0, 0, BRR_UNKNOWN_ORDER);
    }
  }
  if ((b->role == BR_TAKE_PROFIT || b->role == BR_STOP_LOSS) &&
      b->peer != ORDER_NONE) {
    border *p = MO(w, b->peer);
    if (p->st == B_NEW || p->st == B_LIVE) {
      p->qty -= q;
      if (p->qty <= p->filled) {
        p->qty = p->filled;
        p->st = B_DONE;
        push(w, REP_CANCELED, b->peer, 0, 0, BRR_OCO);
      }
    }
  }
}

/* ---- the world ----------------------------------------------------------- */

static int ts_on_start(strat *s, void *st) {
  (void)st;
  world *w = (world *)(intptr_t)strat_param(s, 0)->u.i;
  w->s = s;
  return 0;
}

static const param_spec world_params[] = {
    {"world", PARAM_INT, "0", 0, 0, NULL, "the test's world (a pointer)"},
};

static const strategy_def test_def = {
    .name = "brackettest",
    .summary = "trades what the test says",
    .params = world_params,
    .nparams = 1,
    .state_size = 8,
    .sym_state_size = 8,
    .on_start = ts_on_start,
};

static int bracket_of_cloid(const world *w, const char *cloid, size_t n) {
  for (int i = 1; i < MAXB; i++)
    if (w->b[i].known && strlen(w->b[i].cloid) == n &&
        !strncmp(w->b[i].cloid, cloid, n))
      return i;
  return -1;
}

static void hook_alert(void *ctx, const char *code, int scope, uint32_t index,
                       const char *msg) {
  world *w = ctx;
  (void)scope;
  (void)index;
  snprintf(w->last_alert, sizeof w->last_alert, "%s", msg);
  snprintf(w->last_code, sizeof w->last_code, "%s", code);
  if (!strcmp(code, "broker_report_invalid"))
    w->invalid_alerts++;
  if (!strcmp(code, "flatten_refused"))
    w->flatten_alerts++;
  bool unprot = !strcmp(code, "bracket_unprotected");
  if (!unprot && strcmp(code, "bracket_protected"))
    return;
  /* "bracket CLOID in SYM [reason]: ..." / "bracket CLOID in SYM: ..." */
  if (strncmp(msg, "bracket ", 8))
    fail_msg("bracket alert without its bracket: %s", msg);
  const char *c = msg + 8, *end = strstr(c, " in ");
  if (!end)
    fail_msg("bracket alert without its instrument: %s", msg);
  int b = bracket_of_cloid(w, c, (size_t)(end - c));
  if (b < 0)
    fail_msg("bracket alert for an unknown bracket: %s", msg);
  bref *r = &w->b[b];
  if (unprot) {
    const char *lb = strchr(msg, '['), *rb = lb ? strchr(lb, ']') : NULL;
    if (!lb || !rb || rb - lb - 1 >= (long)sizeof r->reason)
      fail_msg("bracket alert without a reason: %s", msg);
    char why[32];
    memcpy(why, lb + 1, (size_t)(rb - lb - 1));
    why[rb - lb - 1] = '\0';
    if (r->active && !strcmp(why, r->reason))
      fail_msg("alert repeated with the same reason: %s", msg);
    r->active = true;
    memcpy(r->reason, why, sizeof why);
    r->alerts++;
  } else {
    if (!r->active)
      fail_msg("bracket_protected without an alert before: %s", msg);
    r->active = false;
    r->reason[0] = '\0';
    r->protected_alerts++;
  }
}

static world *world_new(void) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  instruments_init(&w->ins);
  instrument in;
  memset(&in, 0, sizeof in);
  snprintf(in.symbol, sizeof in.symbol, "%s", "TEST");
  in.asset_class = ASSET_EQUITY;
  in.tick = F("0.01");
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "%s", "USD");
  in.shortable = true; /* no calendar: always open */
  assert_int_equal(instruments_add(&w->ins, &in, NULL), 0);
  risk_account_limits_init(&w->al[0]);
  risk_strategy_limits_init(&w->sl[0]);
  w->rc.naccounts = 1;
  w->rc.nstrategies = 1;
  w->rc.nsyms = 1;
  w->rc.strategy_account = w->sacct;
  w->rc.symbol_orders = w->sym_ol;
  w->rc.accounts = w->al;
  w->rc.strategies = w->sl;
  return w;
}

static void world_start(world *w) {
  dto_time t0 = days_from_civil(2025, 1, 6) * DTO_NS_PER_DAY +
                14 * DTO_NS_PER_HOUR + 30 * DTO_NS_PER_MIN;
  clock_sim_init(&w->clock, &w->sim, t0);
  w->m.now = t0;
  w->acct = (engine_account){"acc", Q(10000000)};
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &w->ins;
  ec.clock = &w->clock;
  ec.broker = &model_ops;
  ec.broker_ctx = w;
  ec.accounts = &w->acct;
  ec.naccounts = 1;
  ec.hooks = (engine_hooks){w, NULL, NULL, NULL, NULL, hook_alert};
  ec.risk = &w->rc;
  w->e = engine_new(&ec);
  param_value pv;
  memset(&pv, 0, sizeof pv);
  pv.u.i = (int64_t)(intptr_t)w;
  sym_id mine[1] = {0};
  engine_strategy es = {&test_def, "strat", 0, mine, 1, Q(10000000), &pv};
  assert_int_equal(engine_add_strategy(w->e, &es), 0);
  assert_int_equal(engine_start(w->e), 0);
  assert_non_null(w->s);
}

static void world_free(world *w) {
  engine_free(w->e);
  instruments_release(&w->ins);
  free(w);
}

static void tick(world *w) {
  w->m.now += DTO_NS_PER_SEC;
  sim_clock_set(&w->sim, w->m.now);
}

static void market(world *w) {
  tick(w);
  trade tr = {w->m.now, Q(100), Q(1), 0};
  engine_on_trade(w->e, &tr);
}

/* Submit a bracket entry; returns its order id (ORDER_NONE when refused). */
static order_id entry(world *w, enum order_side side, enum order_type type,
                      enum tif tif, fx qty, bool tp, bool sl) {
  order_req r;
  memset(&r, 0, sizeof r);
  r.sym = 0;
  r.side = side;
  r.type = type;
  r.tif = tif;
  r.qty = qty;
  r.limit_price = type == ORD_LIMIT ? Q(100) : 0;
  fx up = Q(110), down = Q(90);
  if (tp)
    r.take_profit = side == SIDE_BUY ? up : down;
  if (sl)
    r.stop_loss = side == SIDE_BUY ? down : up;
  /* the bracket id it will get: registered first, so alerts about it are
   * recognised at once */
  order_id id = ORDER_NONE;
  int rc = strat_submit(w->s, &r, &id);
  const order *o = id != ORDER_NONE ? strat_order(w->s, id) : NULL;
  if (!o)
    fail_msg("submit made no order");
  if (o->bracket == 0 || o->bracket >= MAXB)
    fail_msg("bracket entry without a bracket id");
  bref *b = &w->b[o->bracket];
  b->known = true;
  b->side = side;
  b->tp = r.take_profit;
  b->sl = r.stop_loss;
  snprintf(b->cloid, sizeof b->cloid, "%s", o->cloid);
  return rc == 0 ? id : ORDER_NONE;
}

static void pump(world *w) { engine_pump(w->e); }

/* The exits' cover of bracket b at the broker: leaves of the take-profits
 * and stop-losses it holds working. */
static void cover(const world *w, uint32_t b, fx *tp, fx *sl) {
  *tp = *sl = 0;
  for (size_t i = 0; i < w->m.maxid; i++) {
    const border *o = &w->m.o[i];
    if ((o->st != B_NEW && o->st != B_LIVE) || o->bracket != b)
      continue;
    if (o->role == BR_TAKE_PROFIT)
      *tp += o->qty - o->filled;
    else if (o->role == BR_STOP_LOSS)
      *sl += o->qty - o->filled;
  }
}

static bool covered(const world *w, uint32_t b) {
  const bref *r = &w->b[b];
  fx open = r->entry_fills - r->exit_fills, tp, sl;
  cover(w, b, &tp, &sl);
  return open >= 0 && tp == (r->tp ? open : 0) && sl == (r->sl ? open : 0);
}

static void check(world *w, uint64_t seed, int step, const char *what) {
  if (w->invalid_alerts)
    fail_msg("seed %" PRIu64 " step %d (%s): a valid report was refused: %s",
             seed, step, what, w->last_alert);
  /* every bracket's cover in one pass over the model */
  static fx tpc[MAXB], slc[MAXB];
  memset(tpc, 0, sizeof tpc);
  memset(slc, 0, sizeof slc);
  for (size_t i = 0; i < w->m.maxid; i++) {
    const border *o = &w->m.o[i];
    if ((o->st != B_NEW && o->st != B_LIVE) || !o->bracket ||
        o->bracket >= MAXB)
      continue;
    if (o->role == BR_TAKE_PROFIT)
      tpc[o->bracket] += o->qty - o->filled;
    else if (o->role == BR_STOP_LOSS)
      slc[o->bracket] += o->qty - o->filled;
  }
  for (uint32_t b = 1; b < MAXB; b++) {
    const bref *r = &w->b[b];
    if (!r->known || r->active)
      continue;
    fx open = r->entry_fills - r->exit_fills;
    if (open >= 0 && tpc[b] == (r->tp ? open : 0) &&
        slc[b] == (r->sl ? open : 0))
      continue;
    fx tp, sl;
    cover(w, b, &tp, &sl);
    char o[FX_STRLEN], t[FX_STRLEN], s[FX_STRLEN];
    fx_format(r->entry_fills - r->exit_fills, o, sizeof o);
    fx_format(tp, t, sizeof t);
    fx_format(sl, s, sizeof s);
    fail_msg("seed %" PRIu64 " step %d (%s): bracket %u (%s) has %s open, "
             "take-profits %s, stop-losses %s, and no alert",
             seed, step, what, b, r->cloid, o, t, s);
  }
}

/* ---- random steps -------------------------------------------------------- */

static uint64_t rnd(world *w) { /* xorshift64* */
  uint64_t x = w->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  w->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(world *w, uint64_t n) { return rnd(w) % n; }

typedef bool (*pick_fn)(const world *w, order_id id, const border *b);

/* A random order of the model that fits, or ORDER_NONE. */
static order_id pick(world *w, pick_fn fn) {
  static order_id cand[MAXO];
  size_t n = 0;
  for (order_id i = 0; i < w->m.maxid; i++)
    if (w->m.o[i].st != B_NONE && fn(w, i, &w->m.o[i]))
      cand[n++] = i;
  return n ? cand[below(w, n)] : ORDER_NONE;
}

static bool is_new(const world *w, order_id id, const border *b) {
  (void)w;
  (void)id;
  return b->st == B_NEW;
}
/* the broker rejects an order on arrival, before anything else */
static bool is_rejectable(const world *w, order_id id, const border *b) {
  (void)w;
  (void)id;
  return b->st == B_NEW && !b->cancel_req && b->filled == 0;
}
static bool is_live(const world *w, order_id id, const border *b) {
  (void)w;
  (void)id;
  return (b->st == B_NEW || b->st == B_LIVE) && b->qty > b->filled;
}
static bool is_cancel_req(const world *w, order_id id, const border *b) {
  (void)w;
  (void)id;
  return (b->st == B_NEW || b->st == B_LIVE) && b->cancel_req;
}
/* a cancel the broker refuses: of an order it had acknowledged */
static bool is_refusable(const world *w, order_id id, const border *b) {
  (void)w;
  (void)id;
  return b->st == B_LIVE && b->cancel_req;
}
static bool is_late(const world *w, order_id id, const border *b) {
  (void)w;
  (void)id;
  return b->st == B_DONE && b->late_ok && b->qty > b->filled;
}
static bool is_replacing(const world *w, order_id id, const border *b) {
  (void)w;
  (void)id;
  return (b->st == B_NEW || b->st == B_LIVE) && b->replacing;
}
static bool is_live_exit(const world *w, order_id id, const border *b) {
  return is_live(w, id, b) &&
         (b->role == BR_TAKE_PROFIT || b->role == BR_STOP_LOSS);
}

/* An entry dto still has working and may replace (accepted, partly
 * filled). */
static order_id pick_entry(world *w, bool replaceable) {
  const oms *m = engine_oms(w->e);
  size_t n;
  const order_id *ids = oms_open_ids(m, &n);
  static order_id cand[MAXO];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const order *o = oms_cget(m, ids[i]);
    if (!o || o->role != BR_ENTRY)
      continue;
    if (replaceable
            ? (o->state == OS_ACCEPTED || o->state == OS_PARTIALLY_FILLED)
            : (order_is_working(o->state) && o->state != OS_PENDING_CANCEL))
      cand[k++] = o->id;
  }
  return k ? cand[below(w, k)] : ORDER_NONE;
}

static const char *step(world *w) {
  uint64_t r = below(w, 100);
  order_id id;
  border *b;
  tick(w);
  if (r < 12) {
    enum order_side side = below(w, 2) ? SIDE_BUY : SIDE_SELL;
    int shape = (int)below(w, 5); /* 0-2 both, 3 tp only, 4 sl only */
    entry(w, side, below(w, 2) ? ORD_LIMIT : ORD_MARKET,
          below(w, 2) ? TIF_DAY : TIF_GTC, Q(1 + below(w, 50)), shape != 4,
          shape != 3);
    return "submit an entry";
  }
  if (r < 17) {
    if ((id = pick_entry(w, true)) == ORDER_NONE)
      return "no entry to replace";
    const order *o = strat_order(w->s, id);
    fx total = o->filled + Q(1 + below(w, 30));
    strat_replace(w->s, id, total, 0, 0, NULL);
    return "replace an entry";
  }
  if (r < 21) {
    if ((id = pick_entry(w, false)) == ORDER_NONE)
      return "no entry to cancel";
    strat_cancel(w->s, id);
    return "cancel an entry";
  }
  if (r < 36) {
    if ((id = pick(w, is_new)) == ORDER_NONE)
      return "nothing to accept";
    MO(w, id)->st = B_LIVE;
    push(w, REP_ACCEPTED, id, 0, 0, 0);
    return "accept";
  }
  if (r < 56) {
    if ((id = pick(w, is_live)) == ORDER_NONE)
      return "nothing to fill";
    b = MO(w, id);
    fx left = b->qty - b->filled;
    fill(w, id,
         below(w, 3) ? Q(1 + below(w, (uint64_t)(left / FX_ONE))) : left);
    return "fill";
  }
  if (r < 64) {
    if ((id = pick(w, is_cancel_req)) == ORDER_NONE)
      return "no cancel to confirm";
    b = MO(w, id);
    b->st = B_DONE;
    b->late_ok = true;
    push(w, REP_CANCELED, id, 0, 0, BRR_REQUESTED);
    return "confirm a cancel";
  }
  if (r < 67) {
    if ((id = pick(w, is_refusable)) == ORDER_NONE)
      return "no cancel to refuse";
    MO(w, id)->cancel_req = false;
    push(w, REP_CANCEL_REJECT, id, 0, 0, BRR_NONE);
    return "refuse a cancel";
  }
  if (r < 72) {
    if ((id = pick(w, is_late)) == ORDER_NONE)
      return "nothing for a late fill";
    b = MO(w, id);
    fill(w, id, Q(1 + below(w, (uint64_t)((b->qty - b->filled) / FX_ONE))));
    return "late fill after the cancel";
  }
  if (r < 79) {
    if ((id = pick(w, is_replacing)) == ORDER_NONE)
      return "no replace to answer";
    b = MO(w, id);
    order_id nid = b->repl_new;
    b->replacing = false;
    if (r < 77) {
      b->st = B_DONE;
      b->late_ok = true;
      push(w, REP_REPLACED, id, 0, 0, 0);
      w->m.q[w->m.nq - 1].new_id = nid;
      MO(w, nid)->st = B_LIVE;
      push(w, REP_ACCEPTED, nid, 0, 0, 0);
      return "confirm a replace";
    }
    MO(w, nid)->st = B_NONE;
    push(w, REP_CANCEL_REJECT, id, 0, 0, BRR_NONE);
    return "refuse a replace";
  }
  if (r < 82) {
    if ((id = pick(w, is_rejectable)) == ORDER_NONE)
      return "nothing to reject";
    MO(w, id)->st = B_DONE;
    push(w, REP_REJECTED, id, 0, 0, BRR_INVALID);
    return "reject";
  }
  if (r < 85) {
    if ((id = pick(w, is_live_exit)) == ORDER_NONE)
      return "no exit to lose";
    b = MO(w, id);
    b->st = B_DONE;
    if (below(w, 2))
      push(w, REP_CANCELED, id, 0, 0, BRR_MARKET_CLOSED);
    else
      push(w, REP_EXPIRED, id, 0, 0, BRR_DAY_END);
    return "the broker drops an exit";
  }
  if (r < 88) {
    bool on = !risk_store_faulted(engine_risk(w->e));
    engine_set_store_fault(w->e, on, "test");
    return on ? "journal fault" : "journal back";
  }
  if (r < 90) {
    w->m.fail_submit = 1 + (int)below(w, 2);
    return "the broker refuses submits";
  }
  if (r < 91) {
    w->m.fail_cancel = 1;
    return "the broker refuses a cancel request";
  }
  if (r < 92) {
    bool on = !engine_killed(w->e);
    engine_kill(w->e, on, "test");
    return on ? "kill switch" : "kill switch released";
  }
  market(w);
  return "market event";
}

/* Faults gone; the broker answers everything; market events come. */
static void settle(world *w, uint64_t seed) {
  engine_set_store_fault(w->e, false, "test");
  if (engine_killed(w->e))
    engine_kill(w->e, false, "test");
  w->m.fail_submit = w->m.fail_cancel = 0;
  for (int round = 0; round < 40; round++) {
    for (order_id i = 0; i < w->m.maxid; i++) {
      border *b = &w->m.o[i];
      if (b->st == B_NEW) {
        b->st = B_LIVE;
        push(w, REP_ACCEPTED, i, 0, 0, 0);
      }
      if ((b->st == B_NEW || b->st == B_LIVE) && b->replacing) {
        order_id nid = b->repl_new;
        b->replacing = false;
        b->st = B_DONE;
        b->late_ok = true;
        push(w, REP_REPLACED, i, 0, 0, 0);
        w->m.q[w->m.nq - 1].new_id = nid;
        MO(w, nid)->st = B_LIVE;
        push(w, REP_ACCEPTED, nid, 0, 0, 0);
      } else if ((b->st == B_NEW || b->st == B_LIVE) && b->cancel_req) {
        b->st = B_DONE;
        b->late_ok = true;
        push(w, REP_CANCELED, i, 0, 0, BRR_REQUESTED);
      }
      if (w->m.nq > DTO_ARRAY_LEN(w->m.q) - 8) {
        pump(w);
        check(w, seed, -1, "settling");
      }
    }
    pump(w);
    check(w, seed, -1, "settling");
    market(w);
    check(w, seed, -1, "settling");
  }
  for (uint32_t b = 1; b < MAXB; b++) {
    const bref *r = &w->b[b];
    if (!r->known)
      continue;
    fx open = r->entry_fills - r->exit_fills;
    if (open < 0) { /* exits filled more than the entries: only an alert */
      fx tp, sl;
      cover(w, b, &tp, &sl);
      if (!r->active || strcmp(r->reason, "overfilled") || tp || sl)
        fail_msg("seed %" PRIu64 ": bracket %u overfilled without its alert "
                 "or with exits left",
                 seed, b);
      continue;
    }
    if (!covered(w, b) || r->active)
      fail_msg("seed %" PRIu64 ": bracket %u (%s) not covered after the quiet "
               "phase (alert %s)",
               seed, b, r->cloid, r->active ? r->reason : "none");
  }
}

/* Steps that changed something, by kind, over all runs: the runs must
 * exercise the hard parts. */
typedef struct stats {
  int alerts, filled, late, lost, replaced, faults, refused_submits;
} stats;

static void run_seed(uint64_t seed, int steps, stats *st) {
  world *w = world_new();
  /* entries above 40 are refused by an opening-order limit; exits for
   * more than 40 must still go out */
  w->sym_ol[0].max_order_qty = Q(40);
  w->sym_ol[0].set = RL_MAX_ORDER_QTY;
  world_start(w);
  market(w); /* a reference price for market orders */
  w->rng = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (int i = 0; i < steps; i++) {
    const char *what = step(w);
    st->late += !strcmp(what, "late fill after the cancel");
    st->lost += !strcmp(what, "the broker drops an exit");
    st->replaced += !strcmp(what, "confirm a replace");
    st->faults += !strcmp(what, "journal fault");
    st->refused_submits += !strcmp(what, "the broker refuses submits");
    pump(w);
    check(w, seed, i, what);
  }
  settle(w, seed);
  for (uint32_t b = 1; b < MAXB; b++) {
    st->alerts += w->b[b].alerts;
    st->filled += w->b[b].entry_fills > 0;
  }
  assert_int_equal(w->invalid_alerts, 0);
  world_free(w);
}

static void test_property(void **state) {
  (void)state;
  stats st;
  memset(&st, 0, sizeof st);
  for (uint64_t seed = 1; seed <= 200; seed++)
    run_seed(seed, 400, &st);
  print_message("brackets filled %d, alerts %d, late fills %d, exits lost "
                "%d, replaces %d, journal faults %d, refused submits %d\n",
                st.filled, st.alerts, st.late, st.lost, st.replaced, st.faults,
                st.refused_submits);
  assert_true(st.filled > 1000);
  assert_true(st.alerts > 500);
  assert_true(st.late > 200 && st.lost > 200 && st.replaced > 100 &&
              st.faults > 200 && st.refused_submits > 200);
}

/* ---- scenarios ----------------------------------------------------------- */

static const order *O(const world *w, order_id id) {
  const order *o = oms_cget(engine_oms(w->e), id);
  if (!o)
    fail_msg("no order %u", id);
  return o;
}

/* Working exits of bracket b in dto's books: count and leaves by role. */
static size_t exits(const world *w, uint32_t b, fx *tp, fx *sl) {
  const oms *m = engine_oms(w->e);
  size_t n, k = 0;
  const order_id *ids = oms_open_ids(m, &n);
  *tp = *sl = 0;
  for (size_t i = 0; i < n; i++) {
    const order *o = oms_cget(m, ids[i]);
    if (!o || o->bracket != b || !order_is_working(o->state))
      continue;
    if (o->role == BR_TAKE_PROFIT) {
      *tp += order_leaves(o);
      k++;
    } else if (o->role == BR_STOP_LOSS) {
      *sl += order_leaves(o);
      k++;
    }
  }
  return k;
}

static void accept_all(world *w) {
  for (order_id i = 0; i < w->m.maxid; i++)
    if (w->m.o[i].st == B_NEW) {
      w->m.o[i].st = B_LIVE;
      push(w, REP_ACCEPTED, i, 0, 0, 0);
    }
  pump(w);
}

/* A partly filled day entry is protected from its first fill, and its
 * later fills get exits too (one pair per batch of fills). */
static void test_partial_day_entry(void **state) {
  (void)state;
  world *w = world_new();
  world_start(w);
  order_id en = entry(w, SIDE_BUY, ORD_LIMIT, TIF_DAY, Q(100), true, true);
  assert_int_not_equal(en, ORDER_NONE);
  uint32_t b = O(w, en)->bracket;
  accept_all(w);
  fill(w, en, Q(30));
  pump(w);
  assert_int_equal(O(w, en)->state, OS_PARTIALLY_FILLED);
  fx tp, sl;
  assert_int_equal(exits(w, b, &tp, &sl), 2);
  assert_true(tp == Q(30) && sl == Q(30));
  /* the pair: a take-profit and a stop-loss that name each other */
  const order *x = O(w, en + 1), *y = O(w, en + 2);
  assert_int_equal(x->role, BR_TAKE_PROFIT);
  assert_int_equal(y->role, BR_STOP_LOSS);
  assert_int_equal(x->peer, y->id);
  assert_int_equal(y->peer, x->id);
  assert_int_equal(x->parent, en);
  assert_true(x->limit_price == Q(110) && y->stop_price == Q(90));
  accept_all(w);
  fill(w, en, Q(50));
  pump(w);
  assert_int_equal(exits(w, b, &tp, &sl), 4);
  assert_true(tp == Q(80) && sl == Q(80));
  /* the stop-loss of the first pair fills in part: its take-profit shrinks
   * with it, at the broker and in dto's books */
  accept_all(w);
  fill(w, en + 2, Q(10));
  pump(w);
  assert_true(O(w, en + 1)->qty == Q(20));
  assert_int_equal(exits(w, b, &tp, &sl), 4);
  assert_true(tp == Q(70) && sl == Q(70));
  fill(w, en, Q(20)); /* the rest */
  pump(w);
  assert_int_equal(O(w, en)->state, OS_FILLED);
  exits(w, b, &tp, &sl);
  assert_true(tp == Q(90) && sl == Q(90));
  check(w, 0, 0, "scenario");
  assert_int_equal(w->b[b].alerts, 0);
  world_free(w);
}

/* A strategy moves its stop (cancel/replace): the take-profit follows the
 * replacement, exits of later fills use the new stop, and the strategy may
 * not change an exit's quantity. */
static void test_moved_stop(void **state) {
  (void)state;
  world *w = world_new();
  world_start(w);
  order_id en = entry(w, SIDE_BUY, ORD_LIMIT, TIF_DAY, Q(30), true, true);
  uint32_t b = O(w, en)->bracket;
  accept_all(w);
  fill(w, en, Q(10));
  pump(w);
  accept_all(w);
  order_id tp = en + 1, sl = en + 2, nsl = ORDER_NONE;
  assert_int_equal(strat_replace(w->s, sl, Q(20), 0, 0, NULL), DTO_EINVAL);
  assert_int_equal(strat_replace(w->s, sl, 0, 0, Q(95), &nsl), 0);
  /* the model's check wants exits at the bracket's price: moved too */
  w->b[b].sl = Q(95);
  border *old = MO(w, sl);
  old->replacing = false;
  old->st = B_DONE;
  push(w, REP_REPLACED, sl, 0, 0, 0);
  w->m.q[w->m.nq - 1].new_id = nsl;
  MO(w, nsl)->st = B_LIVE;
  MO(w, tp)->peer = nsl; /* the broker links the replacement */
  push(w, REP_ACCEPTED, nsl, 0, 0, 0);
  pump(w);
  assert_int_equal(O(w, tp)->peer, nsl);
  assert_int_equal(O(w, nsl)->peer, tp);
  fx tpq, slq;
  assert_int_equal(exits(w, b, &tpq, &slq), 2);
  assert_true(tpq == Q(10) && slq == Q(10));
  fill(w, en, Q(20));
  pump(w);
  exits(w, b, &tpq, &slq);
  assert_true(tpq == Q(30) && slq == Q(30));
  const order *last = O(w, (order_id)oms_count(engine_oms(w->e)) - 1);
  assert_int_equal(last->role, BR_STOP_LOSS);
  assert_true(last->stop_price == Q(95));
  check(w, 0, 0, "scenario");
  assert_int_equal(w->b[b].alerts, 0);
  world_free(w);
}

/* Replacing a partly filled entry: the fills before the replace stay
 * covered and the replacement's fills add to them. */
static void test_replace_partial_entry(void **state) {
  (void)state;
  world *w = world_new();
  world_start(w);
  order_id en = entry(w, SIDE_SELL, ORD_LIMIT, TIF_DAY, Q(50), true, true);
  uint32_t b = O(w, en)->bracket;
  accept_all(w);
  fill(w, en, Q(20));
  pump(w);
  accept_all(w);
  order_id nid = ORDER_NONE;
  assert_int_equal(strat_replace(w->s, en, Q(60), 0, 0, &nid), 0);
  assert_int_equal(O(w, nid)->bracket, b);
  /* the old entry fills once more while the replace is on its way */
  fill(w, en, Q(5));
  pump(w);
  fx tp, sl;
  exits(w, b, &tp, &sl);
  assert_true(tp == Q(25) && sl == Q(25));
  border *old = MO(w, en);
  old->replacing = false;
  old->st = B_DONE;
  push(w, REP_REPLACED, en, 0, 0, 0);
  w->m.q[w->m.nq - 1].new_id = nid;
  MO(w, nid)->st = B_LIVE;
  push(w, REP_ACCEPTED, nid, 0, 0, 0);
  pump(w);
  assert_int_equal(O(w, en)->state, OS_REPLACED);
  fill(w, nid, Q(40)); /* the replacement carries 40 (60 - 20) */
  pump(w);
  exits(w, b, &tp, &sl);
  assert_true(tp == Q(65) && sl == Q(65));
  /* take-profits of a sell entry buy back below */
  assert_int_equal(O(w, nid + 1)->side, SIDE_BUY);
  check(w, 0, 0, "scenario");
  world_free(w);
}

/* A fill reported after the cancel confirmation changes the position and
 * gets exits. */
static void test_fill_after_cancel(void **state) {
  (void)state;
  world *w = world_new();
  world_start(w);
  order_id en = entry(w, SIDE_BUY, ORD_LIMIT, TIF_DAY, Q(40), true, false);
  uint32_t b = O(w, en)->bracket;
  accept_all(w);
  assert_int_equal(strat_cancel(w->s, en), 0);
  MO(w, en)->st = B_DONE;
  push(w, REP_CANCELED, en, 0, 0, BRR_REQUESTED);
  pump(w);
  assert_int_equal(O(w, en)->state, OS_CANCELED);
  fx tp, sl;
  assert_int_equal(exits(w, b, &tp, &sl), 0);
  fill(w, en, Q(15)); /* late */
  pump(w);
  assert_int_equal(O(w, en)->state, OS_CANCELED); /* stays canceled */
  assert_true(O(w, en)->filled == Q(15));
  assert_true(portfolio_account_pos(engine_portfolio(w->e), 0, 0)->qty ==
              Q(15));
  assert_int_equal(exits(w, b, &tp, &sl), 1); /* take-profit only */
  assert_true(tp == Q(15) && sl == 0);
  check(w, 0, 0, "scenario");
  world_free(w);
}

/* A journal fault holds the exits back: alert, then retried at the next
 * event once the journal writes again. */
static void test_refused_exits_alert_and_retry(void **state) {
  (void)state;
  world *w = world_new();
  world_start(w);
  market(w);
  order_id en = entry(w, SIDE_BUY, ORD_MARKET, TIF_DAY, Q(10), true, true);
  uint32_t b = O(w, en)->bracket;
  accept_all(w);
  engine_set_store_fault(w->e, true, "test");
  fill(w, en, Q(10));
  pump(w);
  fx tp, sl;
  assert_int_equal(exits(w, b, &tp, &sl), 0);
  assert_true(w->b[b].active);
  assert_string_equal(w->b[b].reason, "storage_fault");
  assert_int_equal(w->b[b].alerts, 1);
  /* more events: retried, but the same reason is not alerted again */
  market(w);
  market(w);
  assert_int_equal(w->b[b].alerts, 1);
  assert_int_equal(exits(w, b, &tp, &sl), 0);
  /* the journal writes again: placed at once */
  engine_set_store_fault(w->e, false, "test");
  assert_int_equal(exits(w, b, &tp, &sl), 2);
  accept_all(w);
  assert_false(w->b[b].active);
  assert_int_equal(w->b[b].protected_alerts, 1);
  /* the broker drops the stop-loss: the take-profit alone is not enough;
   * it is canceled and a whole pair placed at the next event */
  order_id slid = ORDER_NONE;
  for (order_id i = 0; i < w->m.maxid; i++)
    if (w->m.o[i].st == B_LIVE && w->m.o[i].role == BR_STOP_LOSS)
      slid = i;
  assert_int_not_equal(slid, ORDER_NONE);
  MO(w, slid)->st = B_DONE;
  push(w, REP_EXPIRED, slid, 0, 0, BRR_DAY_END);
  pump(w);
  assert_true(w->b[b].active);
  assert_string_equal(w->b[b].reason, "lost");
  order_id tpid = O(w, slid)->peer;
  assert_int_equal(O(w, tpid)->state, OS_PENDING_CANCEL);
  MO(w, tpid)->st = B_DONE;
  push(w, REP_CANCELED, tpid, 0, 0, BRR_REQUESTED);
  pump(w);
  assert_int_equal(exits(w, b, &tp, &sl), 0); /* waits for an event */
  w->m.fail_submit = 1;
  market(w);
  assert_string_equal(w->b[b].reason, "submit");
  market(w);
  accept_all(w);
  assert_int_equal(exits(w, b, &tp, &sl), 2);
  assert_true(tp == Q(10) && sl == Q(10));
  assert_false(w->b[b].active);
  check(w, 0, 0, "scenario");
  world_free(w);
}

/* Exits pass the checks meant for opening orders (here a price collar, an
 * order-count limit and the kill switch) and the kill switch keeps them. */
static void test_exits_pass_opening_checks_and_kill(void **state) {
  (void)state;
  world *w = world_new();
  w->sym_ol[0].collar_pct = Q(2);
  w->sym_ol[0].set = RL_COLLAR_PCT;
  w->al[0].max_open_orders = 1;
  world_start(w);
  market(w); /* the collar needs a reference price */
  order_id en = entry(w, SIDE_BUY, ORD_LIMIT, TIF_DAY, Q(20), true, true);
  uint32_t b = O(w, en)->bracket;
  accept_all(w);
  /* a plain limit at the take-profit's price is refused by both limits */
  order_req r;
  memset(&r, 0, sizeof r);
  r.side = SIDE_SELL;
  r.type = ORD_LIMIT;
  r.tif = TIF_GTC;
  r.qty = Q(1);
  r.limit_price = Q(110);
  assert_int_equal(strat_submit(w->s, &r, NULL), DTO_EREJECT);
  fill(w, en, Q(5));
  pump(w);
  fx tp, sl;
  assert_int_equal(exits(w, b, &tp, &sl), 2);
  accept_all(w);
  /* the kill switch: the entry goes, the exits stay */
  assert_int_equal(engine_kill(w->e, true, "test"), 1);
  assert_int_equal(O(w, en)->state, OS_PENDING_CANCEL);
  assert_int_equal(exits(w, b, &tp, &sl), 2);
  /* the entry fills more before its cancel lands: covered, kill or not */
  fill(w, en, Q(7));
  pump(w);
  exits(w, b, &tp, &sl);
  assert_true(tp == Q(12) && sl == Q(12));
  MO(w, en)->st = B_DONE;
  push(w, REP_CANCELED, en, 0, 0, BRR_REQUESTED);
  pump(w);
  /* new orders are refused, a closing one too: the exits are what protects
   * the position now */
  r.qty = Q(12);
  r.type = ORD_MARKET;
  r.limit_price = 0;
  assert_int_equal(strat_submit(w->s, &r, NULL), DTO_EREJECT);
  assert_int_equal(strat_flatten(w->s, 0), DTO_EREJECT);
  exits(w, b, &tp, &sl);
  assert_true(tp == Q(12) && sl == Q(12));
  check(w, 0, 0, "scenario");
  assert_int_equal(w->b[b].alerts, 0);
  world_free(w);
}

/* After a restart the kill switch cancels the restored entry and keeps the
 * restored exits (which have no bracket record). */
static void test_kill_restored_orders(void **state) {
  (void)state;
  world *w = world_new();
  world_start(w);
  order t;
  memset(&t, 0, sizeof t);
  t.sym = 0;
  t.side = SIDE_BUY;
  t.type = ORD_LIMIT;
  t.tif = TIF_DAY;
  t.qty = Q(30);
  t.limit_price = Q(99);
  t.peer = ORDER_NONE;
  order_id base = (order_id)oms_count(engine_oms(w->e));
  assert_int_equal(
      engine_restore_order(w->e, "acc", "strat", "acc-strat-20250106-7", &t),
      0);
  t.side = SIDE_SELL;
  t.tif = TIF_GTC;
  t.qty = Q(10);
  t.limit_price = Q(110);
  t.peer = base + 2;
  assert_int_equal(
      engine_restore_order(w->e, "acc", "strat", "acc-strat-20250106-8", &t),
      0);
  t.type = ORD_STOP;
  t.limit_price = 0;
  t.stop_price = Q(90);
  t.peer = base + 1;
  assert_int_equal(
      engine_restore_order(w->e, "acc", "strat", "acc-strat-20250106-9", &t),
      0);
  accept_all(w);
  assert_int_equal(engine_working_orders(w->e), 3);
  assert_int_equal(engine_kill(w->e, true, "test"), 1);
  assert_int_equal(O(w, base)->state, OS_PENDING_CANCEL);
  assert_true(MO(w, base)->cancel_req);
  assert_false(MO(w, base + 1)->cancel_req);
  assert_false(MO(w, base + 2)->cancel_req);
  assert_int_equal(O(w, base + 1)->state, OS_ACCEPTED);
  assert_int_equal(O(w, base + 2)->state, OS_ACCEPTED);
  world_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_partial_day_entry),
      cmocka_unit_test(test_replace_partial_entry),
      cmocka_unit_test(test_moved_stop),
      cmocka_unit_test(test_fill_after_cancel),
      cmocka_unit_test(test_refused_exits_alert_and_retry),
      cmocka_unit_test(test_exits_pass_opening_checks_and_kill),
      cmocka_unit_test(test_kill_restored_orders),
      cmocka_unit_test(test_property),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
