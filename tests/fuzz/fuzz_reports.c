/* fuzz_reports.c - libFuzzer harness for broker reports, the engine's
 * outside input (engine_reports.c).
 *
 * The input is a script: strategy actions (bracket entries, cancels,
 * replaces, market events) between reports written by the fuzzer: any kind
 * (unknown ones too), any order id (unknown ones too), quantities and
 * prices from small to beyond fx.  Nothing may crash, abort or trip the
 * sanitizers, and after every step the books must hold together: the
 * position is the sum of the fills the engine reported through its hook,
 * and every order's filled quantity lies between 0 and its quantity.
 */
#include "core/prelude.h"

#include "core/error.h"
#include "core/timeutil.h"
#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz {
  broker_report q[64];
  size_t nq;
  strat *s;
  fx pos; /* from the fill hook */
} fz;

static int f_submit(void *ctx, const order *o) {
  (void)ctx;
  return o->qty == 13 * FX_ONE ? DTO_EIO : 0; /* some submits fail */
}
static int f_cancel(void *ctx, order_id id) {
  (void)ctx;
  return id % 7 == 3 ? DTO_EIO : 0; /* some cancels fail */
}
static int f_replace(void *ctx, order_id old_id, const order *nw) {
  (void)ctx;
  (void)old_id;
  (void)nw;
  return 0;
}
static size_t f_poll(void *ctx, broker_report *out, size_t max) {
  fz *f = ctx;
  size_t n = f->nq < max ? f->nq : max;
  memcpy(out, f->q, n * sizeof *out);
  memmove(f->q, f->q + n, (f->nq - n) * sizeof *f->q);
  f->nq -= n;
  return n;
}
static const broker_ops f_ops = {
    .name = "fuzz",
    .submit = f_submit,
    .cancel = f_cancel,
    .replace = f_replace,
    .poll = f_poll,
};

static void on_fill(void *ctx, const order *o, fx qty, fx price, fx fee,
                    dto_time t) {
  fz *f = ctx;
  (void)price;
  (void)fee;
  (void)t;
  f->pos += o->side == SIDE_BUY ? qty : -qty;
}

static int on_start(strat *s, void *st) {
  (void)st;
  ((fz *)(intptr_t)strat_param(s, 0)->u.i)->s = s;
  return 0;
}

static const param_spec params[] = {
    {"fz", PARAM_INT, "0", 0, 0, NULL, "the harness (a pointer)"},
};
static const strategy_def def = {
    .name = "fuzz",
    .summary = "does what the input says",
    .params = params,
    .nparams = 1,
    .state_size = 8,
    .sym_state_size = 8,
    .on_start = on_start,
};

/* A quantity or price from 3 bytes: small whole numbers mostly, and the
 * edges (0, negative, fractions, huge). */
static fx amount(const uint8_t *b) {
  switch (b[0] % 8) {
  case 0:
    return 0;
  case 1:
    return -(fx)(b[1] + 1) * FX_ONE;
  case 2:
    return (fx)b[1] * FX_ONE / 256; /* fractions */
  case 3:
    return FX_MAX - b[1];
  case 4:
    return ((fx)b[1] << 48) | b[2];
  default:
    return (fx)(1 + b[1] % 60) * FX_ONE;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  instrument_table ins;
  instruments_init(&ins);
  instrument in;
  memset(&in, 0, sizeof in);
  snprintf(in.symbol, sizeof in.symbol, "%s", "TEST");
  in.asset_class = ASSET_EQUITY;
  in.tick = FX_ONE / 100;
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "%s", "USD");
  in.shortable = true;
  DTO_ASSERT(instruments_add(&ins, &in, NULL) == 0);
  dto_time t = days_from_civil(2025, 1, 6) * DTO_NS_PER_DAY;
  sim_clock sim;
  dto_clock clock;
  clock_sim_init(&clock, &sim, t);
  fz f;
  memset(&f, 0, sizeof f);
  engine_account acct = {"acc", 1000000 * FX_ONE};
  engine_config ec;
  memset(&ec, 0, sizeof ec);
  ec.instruments = &ins;
  ec.clock = &clock;
  ec.broker = &f_ops;
  ec.broker_ctx = &f;
  ec.fees.per_share = FX_ONE / 200;
  ec.fees.per_order = FX_ONE;
  ec.accounts = &acct;
  ec.naccounts = 1;
  ec.hooks.ctx = &f;
  ec.hooks.fill = on_fill;
  engine *e = engine_new(&ec);
  param_value pv;
  memset(&pv, 0, sizeof pv);
  pv.u.i = (int64_t)(intptr_t)&f;
  sym_id mine[1] = {0};
  engine_strategy es = {&def, "strat", 0, mine, 1, 1000000 * FX_ONE, &pv};
  DTO_ASSERT(engine_add_strategy(e, &es) == 0);
  DTO_ASSERT(engine_start(e) == 0);
  trade tr = {t, 10 * FX_ONE, FX_ONE, 0};
  engine_on_trade(e, &tr);

  for (size_t i = 0; i + 8 <= size && i < 8 * 400; i += 8) {
    const uint8_t *b = data + i;
    t += DTO_NS_PER_SEC;
    sim_clock_set(&sim, t);
    size_t count = oms_count(engine_oms(e));
    order_id id = (order_id)(count ? b[1] % (count + 2) : b[1] % 2);
    if (b[1] == 255)
      id = ORDER_NONE;
    switch (b[0] % 10) {
    case 0: { /* a bracket entry, or a plain order */
      order_req r;
      memset(&r, 0, sizeof r);
      r.sym = 0;
      r.side = b[2] & 1 ? SIDE_SELL : SIDE_BUY;
      r.type = b[2] & 2 ? ORD_MARKET : ORD_LIMIT;
      r.tif = b[2] & 4 ? TIF_GTC : TIF_DAY;
      r.qty = (fx)(1 + b[3] % 40) * FX_ONE;
      r.limit_price = r.type == ORD_LIMIT ? 10 * FX_ONE : 0;
      if (b[2] & 8)
        r.take_profit = r.side == SIDE_BUY ? 11 * FX_ONE : 9 * FX_ONE;
      if (b[2] & 16)
        r.stop_loss = r.side == SIDE_BUY ? 9 * FX_ONE : 11 * FX_ONE;
      strat_submit(f.s, &r, NULL);
      break;
    }
    case 1:
      strat_cancel(f.s, id);
      break;
    case 2:
      strat_replace(f.s, id, (fx)(b[3] % 50) * FX_ONE, 0, 0, NULL);
      break;
    case 3:
      if (b[2] & 1)
        strat_flatten(f.s, 0);
      else
        engine_kill(e, b[2] & 2, "fuzz");
      break;
    case 4:
      tr.ts = t;
      engine_on_trade(e, &tr);
      break;
    default: { /* a report */
      if (f.nq == DTO_ARRAY_LEN(f.q))
        break;
      broker_report *r = &f.q[f.nq++];
      r->kind = (enum report_kind)(b[2] % (REP_KIND_COUNT + 1));
      r->id = id;
      r->new_id = b[3] & 1 ? ORDER_NONE : (order_id)(id + 1);
      r->qty = amount(b + 3);
      r->price = b[6] & 1 ? 10 * FX_ONE : amount(b + 5);
      r->ts = t;
      r->reason = b[7] % (BRR_COUNT + 1);
      break;
    }
    }
    engine_pump(e);
    /* the books hold together */
    const position *p = portfolio_account_pos(engine_portfolio(e), 0, 0);
    DTO_ASSERT(p->qty == f.pos);
    const oms *m = engine_oms(e);
    size_t n;
    const order_id *open = oms_open_ids(m, &n);
    for (size_t k = 0; k < n; k++) {
      const order *o = oms_cget(m, open[k]);
      DTO_ASSERT(o && o->filled >= 0 && o->filled <= o->qty &&
                 !order_is_terminal(o->state));
    }
  }
  engine_stop(e);
  engine_free(e);
  instruments_release(&ins);
  return 0;
}
