/* engine_orders.c - the strategy API: orders in, through the risk gate, out
 * to the broker; cancels, replaces, bracket exits, flattening. */
#include "engine/engine_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

/* ---- order flow ---------------------------------------------------------- */

void engine__notify(engine *e, const order *o) {
  strat *s = &e->st[o->strategy];
  if (s->def->on_order)
    s->def->on_order(s, s->state, o);
}

void engine__log_order(engine *e, const char *ev, const order *o) {
  log_line l;
  if (!log_begin(&l, e->cfg.log, LOG_INFO, ev))
    return;
  log_str(&l, "cloid", o->cloid);
  log_str(&l, "symbol", e->cfg.instruments->v[o->sym].symbol);
  log_str(&l, "side", order_side_name(o->side));
  log_str(&l, "type", order_type_name(o->type));
  log_str(&l, "tif", tif_name(o->tif));
  log_fx(&l, "qty", o->qty);
  if (o->limit_price)
    log_fx(&l, "limit", o->limit_price);
  if (o->stop_price)
    log_fx(&l, "stop", o->stop_price);
  log_str(&l, "state", order_state_name(o->state));
  /* the gate's decision: "pass", or the check that refused the order */
  log_str(&l, "risk",
          o->risk ? risk_reason_name((enum risk_reason)o->risk) : "pass");
  log_end(&l);
}

/* Validate a request against the instrument; DTO_EINVAL on error. */
static int check_req(const engine *e, const strat *s, const order_req *r) {
  if (r->sym >= e->cfg.instruments->n || (unsigned)r->side >= SIDE_COUNT ||
      (unsigned)r->type >= ORD_TYPE_COUNT || (unsigned)r->tif >= TIF_COUNT)
    return DTO_EINVAL;
  bool mine = false;
  for (size_t i = 0; i < s->nsyms; i++)
    mine |= s->syms[i] == r->sym;
  if (!mine)
    return DTO_EINVAL;
  const instrument *in = &e->cfg.instruments->v[r->sym];
  if (r->qty <= 0 || !fx_is_multiple(r->qty, in->lot))
    return DTO_EINVAL;
  if ((r->type == ORD_LIMIT || r->type == ORD_STOP_LIMIT) &&
      (r->limit_price <= 0 || !fx_is_multiple(r->limit_price, in->tick)))
    return DTO_EINVAL;
  if ((r->type == ORD_STOP || r->type == ORD_STOP_LIMIT) &&
      (r->stop_price <= 0 || !fx_is_multiple(r->stop_price, in->tick)))
    return DTO_EINVAL;
  if (r->type == ORD_TRAILING_STOP && r->trail <= 0)
    return DTO_EINVAL;
  if (r->take_profit < 0 || r->stop_loss < 0)
    return DTO_EINVAL; /* 0 means "none"; a negative exit is a mistake */
  if ((r->take_profit || r->stop_loss) &&
      (r->type != ORD_MARKET && r->type != ORD_LIMIT))
    return DTO_EINVAL;
  if ((r->take_profit && !fx_is_multiple(r->take_profit, in->tick)) ||
      (r->stop_loss && !fx_is_multiple(r->stop_loss, in->tick)))
    return DTO_EINVAL;
  return 0;
}

static fx account_equity(const engine *e, uint32_t a) {
  return portfolio_account_equity(e->pf, a);
}

/* Everything the risk gate needs to know about order o, from engine state.
 * Aggregates are O(symbols + working orders). */
static void risk_input_for(engine *e, const order *o, risk_input *in) {
  const portfolio *pf = e->pf;
  const instrument *ins = &e->cfg.instruments->v[o->sym];
  symsubs *sy = &e->subs[o->sym];
  dto_time t = engine__now(e);
  memset(in, 0, sizeof *in);
  in->now = t;
  in->ref_price = sy->ref_price;
  in->ref_time = sy->ref_time;
  in->tick = ins->tick;
  in->shortable = ins->shortable;
  in->acct_pos = portfolio_account_pos(pf, o->account, o->sym)->qty;
  in->strat_pos = portfolio_strategy_pos(pf, o->strategy, o->sym)->qty;
  in->acct_equity = account_equity(e, o->account);
  in->acct_cash = portfolio_account_cash(pf, o->account);
  /* the account's working orders per instrument */
  size_t nins = e->cfg.instruments->n;
  memset(e->wk_buy, 0, nins * sizeof(fx));
  memset(e->wk_sell, 0, nins * sizeof(fx));
  memset(e->wk_buy_v, 0, nins * sizeof(fx));
  memset(e->wk_sell_v, 0, nins * sizeof(fx));
  size_t nopen;
  const order_id *open = oms_open_ids(e->oms, &nopen);
  for (size_t i = 0; i < nopen; i++) {
    const order *w = oms_cget(e->oms, open[i]);
    /* the order itself, the one it replaces and its bracket peer do not
     * count: one of two exits that cancel each other can ever fill */
    if (!w || w->account != o->account || w->id == o->id ||
        w->id == o->replaces || (o->peer != ORDER_NONE && w->id == o->peer) ||
        !order_is_working(w->state))
      continue;
    if (w->peer != ORDER_NONE && w->peer < w->id) { /* a pair counts once */
      const order *p = oms_cget(e->oms, w->peer);
      if (p && order_is_working(p->state) && p->id != o->id)
        continue;
    }
    fx leaves = order_leaves(w);
    fx px = w->limit_price ? w->limit_price : e->subs[w->sym].ref_price;
    fx v = 0;
    if (fx_mul(leaves, px, &v))
      v = FX_MAX;
    if (w->state == OS_PENDING_CANCEL && w->sym == o->sym) {
      if (w->side == SIDE_BUY)
        in->acct_canceling_buy =
            engine__sat_add(in->acct_canceling_buy, leaves);
      else
        in->acct_canceling_sell =
            engine__sat_add(in->acct_canceling_sell, leaves);
    }
    if (w->side == SIDE_BUY) {
      e->wk_buy[w->sym] = engine__sat_add(e->wk_buy[w->sym], leaves);
      e->wk_buy_v[w->sym] = engine__sat_add(e->wk_buy_v[w->sym], v);
      in->acct_open_buy_value = engine__sat_add(in->acct_open_buy_value, v);
    } else {
      e->wk_sell[w->sym] = engine__sat_add(e->wk_sell[w->sym], leaves);
      e->wk_sell_v[w->sym] = engine__sat_add(e->wk_sell_v[w->sym], v);
    }
  }
  in->acct_open_buy = e->wk_buy[o->sym];
  in->acct_open_sell = e->wk_sell[o->sym];
  /* exposure of the other symbols, working orders filled in the worse
   * direction, at reference prices (the mark when there is none yet; the
   * orders' own prices when there is neither) */
  fx gross = 0, lng = 0, sht = 0;
  for (size_t y = 0; y < nins; y++) {
    if (y == o->sym)
      continue;
    fx q = portfolio_account_pos(pf, o->account, (sym_id)y)->qty;
    if (!q && !e->wk_buy[y] && !e->wk_sell[y])
      continue;
    fx py = e->subs[y].ref_price > 0 ? e->subs[y].ref_price
                                     : portfolio_last(pf, (sym_id)y);
    fx lv, sv;
    if (py > 0) {
      fx lq = engine__sat_add(q, e->wk_buy[y]),
         sq = engine__sat_add(q, -e->wk_sell[y]);
      if (fx_mul(lq, py, &lv))
        lv = lq > 0 ? FX_MAX : -FX_MAX;
      if (fx_mul(sq, py, &sv))
        sv = sq > 0 ? FX_MAX : -FX_MAX;
    } else { /* no price: no position either, only limit orders */
      lv = e->wk_buy_v[y];
      sv = -e->wk_sell_v[y];
    }
    gross = engine__sat_add(gross, fx_max(fx_abs(lv), fx_abs(sv)));
    lng = engine__sat_add(lng, lv);
    sht = engine__sat_add(sht, sv);
  }
  in->acct_other_gross = gross;
  in->acct_other_long = lng;
  in->acct_other_short = sht;
  in->acct_open_orders = (int)e->acct_open[o->account];
  in->strat_open_orders = (int)e->st[o->strategy].open_total;
  if (o->replaces != ORDER_NONE) { /* the replaced order goes away */
    in->acct_open_orders -= in->acct_open_orders > 0;
    in->strat_open_orders -= in->strat_open_orders > 0;
  }
  session ss;
  in->session = RISK_SESS_REGULAR;
  if (ins->cal) {
    int64_t day = calendar_local_day(ins->cal, t);
    if (!calendar_session(ins->cal, day, &ss) || t < ss.pre_open ||
        t >= ss.post_close)
      in->session = RISK_SESS_CLOSED;
    else if (t < ss.open || t >= ss.close)
      in->session = RISK_SESS_EXTENDED;
    if (in->session != RISK_SESS_CLOSED)
      in->session_close = ss.close;
    in->minute_of_day = calendar_minute_of_day(ins->cal, t);
    const position *ap = portfolio_account_pos(pf, o->account, o->sym);
    in->would_day_trade = ap->qty != 0 && ap->open_day == day &&
                          ((ap->qty > 0) != (o->side == SIDE_BUY));
    in->day_trades = portfolio_day_trades_since(
        pf, o->account, calendar_trading_days_back(ins->cal, day, 5));
  }
  in->acct_day_pnl = in->acct_equity - e->acct_day_start[o->account];
  in->acct_drawdown = e->acct_day_peak[o->account] > in->acct_equity
                          ? e->acct_day_peak[o->account] - in->acct_equity
                          : 0;
  const strat *s = &e->st[o->strategy];
  fx se = portfolio_strategy_equity(pf, o->strategy);
  in->strat_day_pnl = se - s->day_start;
  in->strat_drawdown = s->day_peak > se ? s->day_peak - se : 0;
}

/* Run the gate on o; on refusal the order is rejected and recorded. */
static enum risk_reason gate(engine *e, order *o) {
  risk_input in;
  risk_decision d;
  risk_input_for(e, o, &in);
  enum risk_reason why = risk_check(e->risk, o, &in, &d);
  if (e->cfg.hooks.risk_decision)
    e->cfg.hooks.risk_decision(e->cfg.hooks.ctx, o, &d);
  if (why != RISK_OK) {
    log_line l;
    if (log_begin(&l, e->cfg.log, LOG_INFO, "risk.refused")) {
      log_str(&l, "cloid", o->cloid);
      log_str(&l, "check", risk_reason_name(why));
      log_fx(&l, "value", d.value);
      log_fx(&l, "limit", d.limit);
      log_end(&l);
    }
  }
  return why;
}

/* Create, risk-check and send an order built from tmpl. */
/* Create an order from tmpl with the strategy's next client order id and
 * pass it through the risk gate: refused, it is recorded as rejected and
 * DTO_EREJECT returned; accepted, it is pending_new and *out points to it.
 * *id (may be NULL) gets its id either way. */
static int create_gated(engine *e, strat *s, order *tmpl, dto_time t,
                        order **out, order_id *id) {
  int64_t day = engine__exchange_day(e, tmpl->sym, t);
  if (day != s->cloid_day) {
    s->cloid_day = day;
    s->seq = 0;
  }
  char cloid[CLOID_MAX];
  oms_cloid(cloid, sizeof cloid, e->cfg.accounts[s->account].id, s->id, day,
            ++s->seq);
  tmpl->strategy = s->index;
  tmpl->account = s->account;
  const position *p = portfolio_account_pos(e->pf, s->account, tmpl->sym);
  tmpl->reducing = p->qty != 0 && ((p->qty > 0) != (tmpl->side == SIDE_BUY));
  order *o = oms_create(e->oms, tmpl, cloid, t);
  if (id)
    *id = o->id;
  enum risk_reason why = gate(e, o);
  if (why != RISK_OK) {
    o->risk = (int)why;
    oms_transition(e->oms, o, OS_REJECTED, t);
    engine__log_order(e, "order.rejected", o);
    engine__notify(e, o);
    return DTO_EREJECT;
  }
  oms_transition(e->oms, o, OS_PENDING_NEW, t);
  *out = o;
  return 0;
}

static int send_order(engine *e, strat *s, order *tmpl, order_id *out) {
  dto_time t = engine__now(e);
  order *o;
  int rc = create_gated(e, s, tmpl, t, &o, out);
  if (rc)
    return rc;
  order_id id = o->id;
  engine__log_order(e, "order.sent", o);
  e->touched = true;
  rc = e->cfg.broker->submit(e->cfg.broker_ctx, o);
  if (rc) {
    o = oms_get(e->oms, id);
    o->reason = BRR_INVALID;
    oms_transition(e->oms, o, OS_REJECTED, t);
    engine__notify(e, o);
    return DTO_EREJECT;
  }
  return 0;
}

void engine__init_order(order *o) {
  memset(o, 0, sizeof *o);
  o->parent = o->peer = o->replaces = o->replaced_by = ORDER_NONE;
}

int strat_submit(strat *s, const order_req *r, order_id *id) {
  engine *e = s->e;
  int rc = check_req(e, s, r);
  if (rc)
    return rc;
  order t;
  engine__init_order(&t);
  t.sym = r->sym;
  t.side = r->side;
  t.type = r->type;
  t.tif = r->tif;
  t.qty = r->qty;
  t.limit_price = r->limit_price;
  t.stop_price = r->stop_price;
  t.trail = r->trail;
  t.extended_hours = r->extended_hours;
  if (r->take_profit || r->stop_loss) {
    t.role = BR_ENTRY;
    t.tp_price = r->take_profit;
    t.sl_price = r->stop_loss;
  }
  return send_order(e, s, &t, id);
}

/* Place the exits of a bracket entry that finished with filled > 0. */
void engine__place_exits(engine *e, order_id entry_id) {
  if (e->stopping)
    return; /* a stop cancels entries; their exits would reopen risk */
  order *en = oms_get(e->oms, entry_id);
  strat *s = &e->st[en->strategy];
  order tp, sl;
  fx qty = en->filled;
  enum order_side side = en->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY;
  order_id tp_id = ORDER_NONE, sl_id = ORDER_NONE;
  bool have_tp = en->tp_price > 0, have_sl = en->sl_price > 0;
  sym_id sym = en->sym;
  fx tpp = en->tp_price, slp = en->sl_price;
  if (have_tp) {
    engine__init_order(&tp);
    tp.sym = sym;
    tp.side = side;
    tp.type = ORD_LIMIT;
    tp.tif = TIF_GTC;
    tp.qty = qty;
    tp.limit_price = tpp;
    tp.role = BR_TAKE_PROFIT;
    tp.parent = entry_id;
    /* peer is known only after both exist; set it before sending */
    tp.peer = have_sl ? (order_id)(oms_count(e->oms) + 1) : ORDER_NONE;
    send_order(e, s, &tp, &tp_id);
  }
  if (have_sl) {
    engine__init_order(&sl);
    sl.sym = sym;
    sl.side = side;
    sl.type = ORD_STOP;
    sl.tif = TIF_GTC;
    sl.qty = qty;
    sl.stop_price = slp;
    sl.role = BR_STOP_LOSS;
    sl.parent = entry_id;
    sl.peer = tp_id;
    send_order(e, s, &sl, &sl_id);
  }
  if (have_tp && have_sl && tp_id != ORDER_NONE) {
    /* the ids are dense, so the stop-loss got the id reserved above */
    DTO_ASSERT(sl_id == oms_cget(e->oms, tp_id)->peer);
  }
}

int strat_cancel(strat *s, order_id id) {
  engine *e = s->e;
  order *o = oms_get(e->oms, id);
  if (!o || o->strategy != s->index)
    return DTO_ENOENT;
  if (o->state == OS_PENDING_CANCEL)
    return 0;
  if (!order_is_working(o->state))
    return DTO_ESTATE;
  int rc = oms_transition(e->oms, o, OS_PENDING_CANCEL, engine__now(e));
  if (rc)
    return rc;
  e->touched = true;
  return e->cfg.broker->cancel(e->cfg.broker_ctx, id);
}

int strat_replace(strat *s, order_id id, fx qty, fx limit_price, fx stop_price,
                  order_id *new_id) {
  engine *e = s->e;
  order *o = oms_get(e->oms, id);
  if (!o || o->strategy != s->index)
    return DTO_ENOENT;
  if (o->state != OS_ACCEPTED && o->state != OS_PARTIALLY_FILLED)
    return DTO_ESTATE;
  const instrument *in = &e->cfg.instruments->v[o->sym];
  if (qty < 0 || limit_price < 0 || stop_price < 0)
    return DTO_EINVAL;
  order t;
  memcpy(&t, o, sizeof t); /* bytes, padding included: runs compare equal */
  t.qty = qty ? qty : order_leaves(o);
  if (qty && qty <= o->filled)
    return DTO_EINVAL;
  if (qty)
    t.qty = qty - o->filled; /* qty is the new total; the rest is new */
  if (limit_price)
    t.limit_price = limit_price;
  if (stop_price)
    t.stop_price = stop_price;
  if (!fx_is_multiple(t.qty, in->lot) ||
      (t.limit_price && !fx_is_multiple(t.limit_price, in->tick)) ||
      (t.stop_price && !fx_is_multiple(t.stop_price, in->tick)))
    return DTO_EINVAL;
  t.filled = t.notional = t.fees = 0;
  t.replaces = id;
  t.replaced_by = ORDER_NONE;
  t.triggered = false;
  dto_time tm = engine__now(e);
  order *n;
  order_id nid = ORDER_NONE;
  int rc = create_gated(e, s, &t, tm, &n, &nid);
  if (new_id)
    *new_id = nid;
  if (rc)
    return rc;
  o = oms_get(e->oms, id);
  o->replaced_by = nid;
  oms_transition(e->oms, o, OS_PENDING_CANCEL, tm);
  e->touched = true;
  return e->cfg.broker->replace(e->cfg.broker_ctx, id, oms_get(e->oms, nid));
}

/* Copy the open order ids into e->scratch (cancels and new orders change
 * the OMS's own list while we walk it); returns the count. */
size_t engine__open_snapshot(engine *e) {
  size_t n;
  const order_id *ids = oms_open_ids(e->oms, &n);
  e->scratch = xgrow(e->scratch, &e->scap, n, sizeof *e->scratch);
  if (n)
    memcpy(e->scratch, ids, n * sizeof *ids);
  return n;
}

void strat_cancel_all(strat *s, sym_id sym) {
  engine *e = s->e;
  if (s->open_total == 0)
    return;
  size_t n = engine__open_snapshot(e);
  for (size_t i = 0; i < n; i++) {
    order_id id = e->scratch[i];
    const order *o = oms_cget(e->oms, id);
    if (o && o->strategy == s->index && (sym == SYM_NONE || o->sym == sym) &&
        order_is_working(o->state) && o->state != OS_PENDING_CANCEL)
      strat_cancel(s, id);
  }
}

int strat_flatten(strat *s, sym_id sym) {
  if (sym == SYM_NONE) { /* every symbol of the strategy */
    int rc = 0;
    for (size_t i = 0; i < s->nsyms; i++) {
      int r = strat_flatten(s, s->syms[i]);
      if (r && !rc)
        rc = r;
    }
    return rc;
  }
  if (sym >= s->e->cfg.instruments->n)
    return DTO_EINVAL;
  /* A bracket entry canceled here must not place its exits once the
   * cancel is confirmed: they would reopen the position being closed. */
  engine *e = s->e;
  size_t n;
  const order_id *ids = oms_open_ids(e->oms, &n);
  for (size_t i = 0; i < n; i++) {
    order *o = oms_get(e->oms, ids[i]);
    if (o->strategy == s->index && o->sym == sym && o->role == BR_ENTRY &&
        order_is_working(o->state))
      o->tp_price = o->sl_price = 0;
  }
  strat_cancel_all(s, sym);
  fx q = portfolio_strategy_pos(s->e->pf, s->index, sym)->qty;
  if (q == 0)
    return 0;
  order_req r = {0};
  r.sym = sym;
  r.side = q > 0 ? SIDE_SELL : SIDE_BUY;
  r.type = ORD_MARKET;
  r.tif = TIF_DAY;
  r.qty = fx_abs(q);
  return strat_submit(s, &r, NULL);
}

/* ---- strategy queries ---------------------------------------------------- */

const char *strat_id(const strat *s) { return s->id; }
dto_time strat_now(const strat *s) { return engine__now(s->e); }
const param_value *strat_param(const strat *s, size_t idx) {
  DTO_ASSERT(idx < s->def->nparams);
  return &s->params[idx];
}
size_t strat_nsyms(const strat *s) { return s->nsyms; }
sym_id strat_sym(const strat *s, size_t i) {
  return i < s->nsyms ? s->syms[i] : SYM_NONE;
}
const instrument *strat_instrument(const strat *s, sym_id sym) {
  return sym < s->e->cfg.instruments->n ? &s->e->cfg.instruments->v[sym] : NULL;
}
bool strat_session(const strat *s, sym_id sym, session *out) {
  engine *e = s->e;
  if (sym >= e->cfg.instruments->n)
    return false;
  symsubs *ss = &e->subs[sym];
  const instrument *in = &e->cfg.instruments->v[sym];
  dto_time t = engine__now(e);
  if (!in->cal)
    return false;
  if (!ss->have_sess || t >= ss->sess.close) {
    if (!calendar_next_session(in->cal, t, &ss->sess))
      return false;
    ss->have_sess = true;
  }
  *out = ss->sess;
  return true;
}
fx strat_last(const strat *s, sym_id sym) {
  return portfolio_last(s->e->pf, sym);
}
fx strat_position(const strat *s, sym_id sym) {
  return portfolio_strategy_pos(s->e->pf, s->index, sym)->qty;
}
fx strat_avg_price(const strat *s, sym_id sym) {
  const position *p = portfolio_strategy_pos(s->e->pf, s->index, sym);
  fx avg = 0;
  if (p->qty)
    fx_div(fx_abs(p->cost), fx_abs(p->qty), &avg);
  return avg;
}
fx strat_cash(const strat *s) {
  return portfolio_strategy_cash(s->e->pf, s->index);
}
fx strat_equity(const strat *s) {
  return portfolio_strategy_equity(s->e->pf, s->index);
}
size_t strat_open_orders(const strat *s, sym_id sym) {
  if (sym == SYM_NONE)
    return s->open_total;
  for (size_t i = 0; i < s->nsyms; i++)
    if (s->syms[i] == sym)
      return s->open_per_sym[i];
  return 0;
}
const order *strat_order(const strat *s, order_id id) {
  const order *o = oms_cget(s->e->oms, id);
  return o && o->strategy == s->index ? o : NULL;
}
fx strat_round_lot(const strat *s, sym_id sym, fx qty) {
  const instrument *in = strat_instrument(s, sym);
  fx r = 0;
  if (!in || fx_round_to(qty, in->lot, FX_ROUND_ZERO, &r))
    return 0;
  return r;
}
fx strat_round_tick(const strat *s, sym_id sym, fx price, enum fx_round mode) {
  const instrument *in = strat_instrument(s, sym);
  fx r = 0;
  if (!in || fx_round_to(price, in->tick, mode, &r))
    return 0;
  return r;
}
void strat_log(strat *s, const char *event, const char *msg) {
  log_line l;
  if (log_begin(&l, s->e->cfg.log, LOG_INFO, event)) {
    log_str(&l, "strategy", s->id);
    log_str(&l, "msg", msg);
    log_end(&l);
  }
}
