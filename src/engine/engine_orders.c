/* engine_orders.c - the strategy API: orders in, through the risk gate, out
 * to the broker; cancels, replaces, flattening.  Bracket exits are placed
 * by engine_brackets.c through the helpers here. */
#include "engine/engine_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

/* ---- order flow ---------------------------------------------------------- */

DTO_NOINLINE void engine__order_day_slow(engine *e, sym_id sym, dto_time t) {
  const calendar *cal = e->cfg.instruments->v[sym].cal;
  symsubs *ss = &e->subs[sym];
  ss->od_day = calendar_day_span(cal, t, &ss->od_from, &ss->od_until);
  ss->od_has_sess = calendar_session(cal, ss->od_day, &ss->od_sess);
}

void engine__notify(engine *e, const order *o) {
  strat *s = &e->st[o->strategy];
  if (s->def->on_order)
    s->def->on_order(s, s->state, o);
}

/* Without a log (a backtest without a log file) log_begin would refuse the
 * line: the call is left out on the per-order path. */
void engine__log_order(engine *e, const char *ev, const order *o) {
  log_line l;
  if (!e->cfg.log || !log_begin(&l, e->cfg.log, LOG_INFO, ev))
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
  if (e->warming)
    return DTO_ESTATE; /* history warms indicators; it never trades */
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

/* Everything the risk gate needs to know about order o, from engine state
 * (the parts risk_inputs_needed leaves out stay 0).  Aggregates are
 * O(symbols + working orders).  closing: o is a flatten's closing order,
 * and the protective exits of its strategy in its instrument, which the
 * flatten cancels once o passes, count as being canceled already. */
static void risk_input_for(engine *e, const order *o, risk_input *in,
                           bool closing) {
  const portfolio *pf = e->pf;
  const instrument *ins = &e->cfg.instruments->v[o->sym];
  symsubs *sy = &e->subs[o->sym];
  dto_time t = engine__now(e);
  unsigned need = risk_inputs_needed(e->risk, o->account, o->strategy);
  memset(in, 0, sizeof *in);
  in->now = t;
  in->ref_price = sy->ref_price;
  in->ref_time = sy->ref_time;
  in->tick = ins->tick;
  in->shortable = ins->shortable;
  const position *ap = portfolio__account_pos(pf, o->account, o->sym);
  in->acct_pos = ap->qty;
  in->strat_pos = portfolio__strategy_pos(pf, o->strategy, o->sym)->qty;
  in->acct_cash = portfolio__account_cash(pf, o->account);
  /* the account's working orders per instrument: the wk_ arrays are all 0
   * between calls (the walk over the instruments below clears them) */
  size_t nins = e->cfg.instruments->n;
  size_t nopen;
  const order_id *open = oms_open_ids(e->oms, &nopen);
  for (size_t i = 0; i < nopen; i++) {
    const order *w = oms__cget(e->oms, open[i]);
    /* the order itself, the one it replaces and its bracket peer do not
     * count: one of two exits that cancel each other can ever fill */
    if (!w || w->account != o->account || w->id == o->id ||
        w->id == o->replaces || (o->peer != ORDER_NONE && w->id == o->peer) ||
        !order_is_working(w->state))
      continue;
    if (w->peer != ORDER_NONE && w->peer < w->id) { /* a pair counts once */
      const order *p = oms__cget(e->oms, w->peer);
      if (p && order_is_working(p->state) && p->id != o->id)
        continue;
    }
    fx leaves = order_leaves(w);
    fx px = w->limit_price ? w->limit_price : e->subs[w->sym].ref_price;
    fx v = 0;
    if (fx_mul(leaves, px, &v))
      v = FX_MAX;
    bool going =
        w->state == OS_PENDING_CANCEL ||
        (closing && w->strategy == o->strategy && engine__protective(e, w));
    if (going && w->sym == o->sym) {
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
    /* read and cleared for the next call */
    fx wb = e->wk_buy[y], ws = e->wk_sell[y], wbv = e->wk_buy_v[y],
       wsv = e->wk_sell_v[y];
    e->wk_buy[y] = e->wk_sell[y] = e->wk_buy_v[y] = e->wk_sell_v[y] = 0;
    if (y == o->sym)
      continue;
    fx q = portfolio__account_pos(pf, o->account, (sym_id)y)->qty;
    if (!q && !wb && !ws)
      continue;
    fx py = e->subs[y].ref_price > 0 ? e->subs[y].ref_price
                                     : portfolio_last(pf, (sym_id)y);
    fx lv, sv;
    if (py > 0) {
      fx lq = engine__sat_add(q, wb), sq = engine__sat_add(q, -ws);
      if (fx_mul(lq, py, &lv))
        lv = lq > 0 ? FX_MAX : -FX_MAX;
      if (fx_mul(sq, py, &sv))
        sv = sq > 0 ? FX_MAX : -FX_MAX;
    } else { /* no price: no position either, only limit orders */
      lv = wbv;
      sv = -wsv;
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
  in->session = RISK_SESS_REGULAR;
  if (ins->cal) {
    const session *ss;
    int64_t day = engine__order_day(e, o->sym, t, &ss);
    if (!ss || t < ss->pre_open || t >= ss->post_close)
      in->session = RISK_SESS_CLOSED;
    else if (t < ss->open || t >= ss->close)
      in->session = RISK_SESS_EXTENDED;
    if (in->session != RISK_SESS_CLOSED)
      in->session_close = ss->close;
    if (need & RISK_IN_MINUTE)
      in->minute_of_day = calendar_minute_of_day(ins->cal, t);
    if (need & RISK_IN_DAY_TRADES) {
      in->would_day_trade = ap->qty != 0 && ap->open_day == day &&
                            ((ap->qty > 0) != (o->side == SIDE_BUY));
      in->day_trades = portfolio_day_trades_since(
          pf, o->account, calendar_trading_days_back(ins->cal, day, 5));
    }
  }
  if (need & RISK_IN_ACCT_EQUITY) {
    in->acct_equity = portfolio_account_equity(pf, o->account);
    in->acct_day_pnl = in->acct_equity - e->acct_day_start[o->account];
    in->acct_drawdown = e->acct_day_peak[o->account] > in->acct_equity
                            ? e->acct_day_peak[o->account] - in->acct_equity
                            : 0;
  }
  if (need & RISK_IN_STRAT_EQUITY) {
    const strat *s = &e->st[o->strategy];
    fx se = portfolio_strategy_equity(pf, o->strategy);
    in->strat_day_pnl = se - s->day_start;
    in->strat_drawdown = s->day_peak > se ? s->day_peak - se : 0;
  }
}

/* Would o only reduce the account's position in its instrument, together
 * with the working orders on its side that are not being canceled?  The
 * rule of risk_check (risk.h), for the instrument halt, which the gate
 * does not know. */
static bool reduces(const order *o, const risk_input *in) {
  fx same = o->side == SIDE_BUY ? in->acct_open_buy - in->acct_canceling_buy
                                : in->acct_open_sell - in->acct_canceling_sell;
  fx total;
  if (fx_add(o->qty, same, &total))
    return false;
  return risk_is_reducing(o, in->acct_pos) && total <= fx_abs(in->acct_pos) &&
         (in->strat_pos == 0 || risk_is_reducing(o, in->strat_pos));
}

/* Run the gate on o (see risk_input_for for closing); the caller rejects
 * the order on refusal.  A halted instrument refuses what would not only
 * reduce (instrument_halted), before the risk gate counts the order. */
static enum risk_reason gate(engine *e, order *o, bool closing) {
  risk_input in;
  risk_decision d;
  risk_input_for(e, o, &in, closing);
  enum risk_reason why;
  if (DTO_UNLIKELY(e->subs[o->sym].halted) && !reduces(o, &in)) {
    memset(&d, 0, sizeof d);
    d.reason = why = RISK_INSTRUMENT_HALTED;
  } else {
    why = risk_check(e->risk, o, &in, &d);
  }
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

/* What every new order of strategy s gets: the strategy's next client
 * order id in cloid (CLOID_MAX bytes), its strategy and account, and
 * whether it reduces the account's position. */
static void claim(engine *e, strat *s, order *o, char *cloid, dto_time t) {
  const session *sess;
  int64_t day = engine__order_day(e, o->sym, t, &sess);
  if (day != s->cloid_day) {
    s->cloid_day = day;
    s->seq = 0;
  }
  if (s->cloid_pre_n == 0 || s->cloid_pre_day != day) {
    s->cloid_pre_n =
        oms_cloid_prefix(s->cloid_pre, sizeof s->cloid_pre,
                         e->cfg.accounts[s->account].id, s->id, day);
    s->cloid_pre_day = day;
  }
  memcpy(cloid, s->cloid_pre, s->cloid_pre_n);
  oms_cloid_seq(cloid, CLOID_MAX, s->cloid_pre_n, ++s->seq);
  o->strategy = s->index;
  o->account = s->account;
  const position *p = portfolio__account_pos(e->pf, s->account, o->sym);
  o->reducing = p->qty != 0 && ((p->qty > 0) != (o->side == SIDE_BUY));
}

order *engine__create_order(engine *e, strat *s, order *tmpl, dto_time t) {
  char cloid[CLOID_MAX];
  claim(e, s, tmpl, cloid, t);
  return oms_create(e->oms, tmpl, cloid, t);
}

/* Pass new order o through the risk gate: refused, it is recorded as
 * rejected and DTO_EREJECT returned; accepted, it is pending_new and *out
 * points to it.  *id (may be NULL) gets its id either way. */
static int gate_new(engine *e, order *o, dto_time t, bool closing, order **out,
                    order_id *id) {
  if (id)
    *id = o->id;
  enum risk_reason why = gate(e, o, closing);
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

/* Create an order from tmpl with the strategy's next client order id and
 * pass it through the risk gate (gate_new). */
static int create_gated(engine *e, strat *s, order *tmpl, dto_time t,
                        bool closing, order **out, order_id *id) {
  return gate_new(e, engine__create_order(e, s, tmpl, t), t, closing, out, id);
}

int engine__send(engine *e, order_id id, dto_time t) {
  order *o = oms__get(e->oms, id);
  engine__log_order(e, "order.sent", o);
  e->touched = true;
  int rc = e->cfg.broker->submit(e->cfg.broker_ctx, o);
  if (rc) {
    o = oms__get(e->oms, id);
    o->reason = BRR_INVALID;
    oms_transition(e->oms, o, OS_REJECTED, t);
    engine__log_order(e, "order.rejected", o);
    engine__notify(e, o);
    return DTO_EREJECT;
  }
  return 0;
}

/* The order is built in the OMS's table (oms_begin/oms_commit) with the
 * same bytes as an order_init template through create_gated would give it:
 * blank, the same fields set, the client order id written over zeros. */
int strat_submit(strat *s, const order_req *r, order_id *id) {
  engine *e = s->e;
  int rc = check_req(e, s, r);
  if (rc)
    return rc;
  uint32_t br = 0;
  if (r->take_profit || r->stop_loss)
    br = engine__bracket_next(e);
  dto_time t = engine__now(e);
  order *o = oms_begin(e->oms);
  o->sym = r->sym;
  o->side = r->side;
  o->type = r->type;
  o->tif = r->tif;
  o->qty = r->qty;
  o->limit_price = r->limit_price;
  o->stop_price = r->stop_price;
  o->trail = r->trail;
  o->extended_hours = r->extended_hours;
  if (br) {
    o->role = BR_ENTRY;
    o->tp_price = r->take_profit;
    o->sl_price = r->stop_loss;
    o->bracket = br;
  }
  claim(e, s, o, o->cloid, t);
  o = oms_commit(e->oms, o, t);
  order_id oid = ORDER_NONE;
  rc = gate_new(e, o, t, false, &o, &oid);
  if (rc == 0)
    rc = engine__send(e, oid, t);
  if (id)
    *id = oid;
  if (rc == 0 && br)
    engine__bracket_open(e, oms__cget(e->oms, oid));
  return rc;
}

int engine__cancel(engine *e, order_id id) {
  order *o = oms__get(e->oms, id);
  if (!o)
    return DTO_ENOENT;
  if (o->state == OS_PENDING_CANCEL)
    return 0;
  if (!order_is_working(o->state))
    return DTO_ESTATE;
  /* asked first: when the broker cannot take the request the order stays
   * as it is (brokers report only from poll, so nothing arrives before the
   * transition below) */
  e->touched = true;
  int rc = e->cfg.broker->cancel(e->cfg.broker_ctx, id);
  o = oms__get(e->oms, id);
  if (rc) {
    log_line l;
    if (log_begin(&l, e->cfg.log, LOG_ERROR, "order.cancel_failed")) {
      log_str(&l, "cloid", o->cloid);
      log_str(&l, "error", dto_strerror(rc));
      log_end(&l);
    }
    return rc;
  }
  return oms_transition(e->oms, o, OS_PENDING_CANCEL, engine__now(e));
}

int strat_cancel(strat *s, order_id id) {
  engine *e = s->e;
  order *o = oms__get(e->oms, id);
  if (!o || o->strategy != s->index)
    return DTO_ENOENT;
  if (o->state == OS_PENDING_CANCEL)
    return 0;
  if (!order_is_working(o->state))
    return DTO_ESTATE;
  /* a strategy that cancels an exit of its bracket takes the position over:
   * the bracket is released and its other exits go too (no half pair) */
  if (o->bracket && (o->role == BR_TAKE_PROFIT || o->role == BR_STOP_LOSS)) {
    engine__bracket_release(e, o->bracket, true);
    o = oms__get(e->oms, id);
    if (o->state == OS_PENDING_CANCEL)
      return 0;
  }
  return engine__cancel(e, id);
}

int strat_replace(strat *s, order_id id, fx qty, fx limit_price, fx stop_price,
                  order_id *new_id) {
  engine *e = s->e;
  order *o = oms__get(e->oms, id);
  if (!o || o->strategy != s->index)
    return DTO_ENOENT;
  if (o->state != OS_ACCEPTED && o->state != OS_PARTIALLY_FILLED)
    return DTO_ESTATE;
  const instrument *in = &e->cfg.instruments->v[o->sym];
  if (qty < 0 || limit_price < 0 || stop_price < 0)
    return DTO_EINVAL;
  bool exit = o->role == BR_TAKE_PROFIT || o->role == BR_STOP_LOSS;
  if (exit && qty)
    return DTO_EINVAL; /* an exit's quantity follows its bracket */
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
  int rc = create_gated(e, s, &t, tm, false, &n, &nid);
  if (new_id)
    *new_id = nid;
  if (rc)
    return rc;
  o = oms__get(e->oms, id);
  order_amend a = {.what = OA_REPLACED_BY, .replaced_by = nid};
  oms_amend(e->oms, o, &a, tm);
  oms_transition(e->oms, o, OS_PENDING_CANCEL, tm);
  e->touched = true;
  return e->cfg.broker->replace(e->cfg.broker_ctx, id, oms__get(e->oms, nid));
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
    const order *o = oms__cget(e->oms, id);
    if (o && o->strategy == s->index && (sym == SYM_NONE || o->sym == sym) &&
        order_is_working(o->state) && o->state != OS_PENDING_CANCEL)
      strat_cancel(s, id);
  }
}

/* Does nothing pass the gate for strategy s now, whatever the order: the
 * kill switch, a journal fault, unreconciled books, a halt?  RISK_OK when
 * something may. */
static enum risk_reason nothing_passes(const engine *e, const strat *s) {
  if (risk_killed(e->risk))
    return RISK_KILL_SWITCH;
  if (risk_store_faulted(e->risk))
    return RISK_STORE_FAULT;
  if (risk_is_unreconciled(e->risk))
    return RISK_UNRECONCILED;
  if (risk_mode_of(e->risk, 1, s->account) == MODE_HALTED ||
      risk_mode_of(e->risk, 2, s->index) == MODE_HALTED)
    return RISK_HALTED;
  return RISK_OK;
}

int engine__flatten(strat *s, sym_id sym, order_id *closing,
                    enum risk_reason *why) {
  engine *e = s->e;
  *closing = ORDER_NONE;
  *why = RISK_OK;
  fx q = portfolio__strategy_pos(e->pf, s->index, sym)->qty;
  size_t slot = 0;
  while (slot < s->nsyms && s->syms[slot] != sym)
    slot++;
  bool working = slot < s->nsyms && s->open_per_sym[slot] > 0;
  if (q == 0 && !working)
    return 0;
  /* When nothing can pass, leave everything as it is: the protective exits
   * keep protecting what cannot be closed now. */
  enum risk_reason hold = nothing_passes(e, s);
  if (hold != RISK_OK) {
    *why = hold;
    return DTO_EREJECT;
  }
  /* A closing order already on its way (an earlier flatten's market order
   * for the whole position, not yet filled: a live broker reports the fill
   * after the next bar may have come) stays: canceling it and sending
   * another would close the position twice if the first fills while its
   * cancel travels. */
  size_t n = engine__open_snapshot(e);
  order_id keep = ORDER_NONE;
  for (size_t i = 0; i < n && q != 0; i++) {
    const order *o = oms__cget(e->oms, e->scratch[i]);
    if (o && o->strategy == s->index && o->sym == sym &&
        order_is_working(o->state) && o->state != OS_PENDING_CANCEL &&
        !engine__protective(e, o) && o->type == ORD_MARKET &&
        o->side == (q > 0 ? SIDE_SELL : SIDE_BUY) &&
        order_leaves(o) == fx_abs(q)) {
      keep = o->id;
      break;
    }
  }
  /* Everything else but the protective exits goes: entries, other orders.
   * The brackets stay armed until the closing order passes the gate (an
   * entry that fills while its cancel is on its way still gets exits). */
  for (size_t i = 0; i < n; i++) {
    const order *o = oms__cget(e->oms, e->scratch[i]);
    if (o && o->strategy == s->index && o->sym == sym &&
        order_is_working(o->state) && o->state != OS_PENDING_CANCEL &&
        !engine__protective(e, o) && o->id != keep)
      engine__cancel(e, o->id);
  }
  if (keep != ORDER_NONE) {
    *closing = keep;
    return 0;
  }
  dto_time t = engine__now(e);
  order *c = NULL;
  order_id cid = ORDER_NONE;
  if (q != 0) {
    order tm;
    order_init(&tm);
    tm.sym = sym;
    tm.side = q > 0 ? SIDE_SELL : SIDE_BUY;
    tm.type = ORD_MARKET;
    tm.tif = TIF_DAY;
    tm.qty = fx_abs(q);
    int rc = create_gated(e, s, &tm, t, true, &c, &cid);
    if (rc) { /* refused: the exits and their brackets stay as they are */
      const order *r = oms__cget(e->oms, cid);
      *why = r ? (enum risk_reason)r->risk : RISK_OK;
      return rc;
    }
  }
  /* The position closes now: its brackets are released (no exits any more,
   * also for fills of entries still being canceled) and their exits go;
   * then what is left (restored exits, which have no bracket). */
  uint32_t *rel = NULL;
  size_t nrel = 0, relcap = 0;
  size_t no;
  const order_id *open = oms_open_ids(e->oms, &no);
  for (size_t i = 0; i < no; i++) {
    const order *o = oms__cget(e->oms, open[i]);
    if (o && o->strategy == s->index && o->sym == sym && o->bracket) {
      rel = xgrow(rel, &relcap, nrel + 1, sizeof *rel);
      rel[nrel++] = o->bracket;
    }
  }
  for (size_t i = 0; i < e->nbr; i++) { /* waiting for a retry, no orders */
    const bracket *b = &e->br[i];
    if (b->strategy == s->index && b->sym == sym && !b->released && !b->done) {
      rel = xgrow(rel, &relcap, nrel + 1, sizeof *rel);
      rel[nrel++] = b->id;
    }
  }
  for (size_t i = 0; i < nrel; i++)
    engine__bracket_release(e, rel[i], true);
  n = engine__open_snapshot(e);
  for (size_t i = 0; i < n; i++) {
    const order *o = oms__cget(e->oms, e->scratch[i]);
    if (o && o->strategy == s->index && o->sym == sym &&
        order_is_working(o->state) && o->state != OS_PENDING_CANCEL &&
        o->id != cid)
      engine__cancel(e, o->id);
  }
  int rc = 0;
  if (cid != ORDER_NONE) {
    rc = engine__send(e, cid, t);
    if (rc == 0) {
      *closing = cid;
    } else { /* the broker did not take it: protect the position again */
      for (size_t i = 0; i < nrel; i++)
        engine__bracket_rearm(e, rel[i]);
    }
  }
  free(rel);
  return rc;
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
  order_id closing;
  enum risk_reason why;
  return engine__flatten(s, sym, &closing, &why);
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
  return portfolio__strategy_pos(s->e->pf, s->index, sym)->qty;
}
fx strat_avg_price(const strat *s, sym_id sym) {
  const position *p = portfolio__strategy_pos(s->e->pf, s->index, sym);
  fx avg = 0;
  if (p->qty)
    fx_div(fx_abs(p->cost), fx_abs(p->qty), &avg);
  return avg;
}
fx strat_cash(const strat *s) {
  return portfolio__strategy_cash(s->e->pf, s->index);
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
  const order *o = oms__cget(s->e->oms, id);
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
