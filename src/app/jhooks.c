/* jhooks.c - engine history to journal items. */
#include "app/jhooks.h"

#include <inttypes.h>

#include "core/buf.h"
#include "core/timeutil.h"

static void track(jhooks *h, uint64_t ticket) {
  if (ticket == 0)
    h->refused++;
  else if (ticket > h->last)
    h->last = ticket;
}

static void put_event(jhooks *h, dto_time t, const char *type,
                      const char *account, const char *strategy,
                      const dbuf *payload) {
  store_event ev = {0, t, type, account, strategy, payload->ptr,
                    payload->len};
  track(h, journal_put_event(h->j, &ev, NULL));
}

static const char *acct_id(const jhooks *h, const order *o) {
  return engine_account_id(h->e, o->account);
}
static const char *strat_id_of(const jhooks *h, const order *o) {
  return engine_strategy_id(h->e, o->strategy);
}

/* The client order id of order id, "" for none or one already forgotten. */
static const char *cloid_of(const jhooks *h, order_id id) {
  const order *p =
      id != ORDER_NONE && h->e ? oms_cget(engine_oms(h->e), id) : NULL;
  return p ? p->cloid : "";
}

static void order_row(const jhooks *h, const order *o, store_order *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->cloid, sizeof r->cloid, "%s", o->cloid);
  snprintf(r->account, sizeof r->account, "%s", acct_id(h, o));
  snprintf(r->strategy, sizeof r->strategy, "%s", strat_id_of(h, o));
  snprintf(r->symbol, sizeof r->symbol, "%s", h->ins->v[o->sym].symbol);
  snprintf(r->side, sizeof r->side, "%s", order_side_name(o->side));
  snprintf(r->type, sizeof r->type, "%s", order_type_name(o->type));
  snprintf(r->tif, sizeof r->tif, "%s", tif_name(o->tif));
  snprintf(r->state, sizeof r->state, "%s", order_state_name(o->state));
  r->qty = o->qty;
  r->limit_price = o->limit_price;
  r->stop_price = o->stop_price;
  r->filled = o->filled;
  if (o->filled)
    fx_div(o->notional, o->filled, &r->avg_price);
  r->fees = o->fees;
  r->created = o->created;
  r->updated = o->updated;
}

void jhooks_order(jhooks *h, const order *o, enum order_state from,
                  enum order_state to) {
  store_order r;
  order_row(h, o, &r);
  track(h, journal_put_order(h->j, &r, NULL));
  dbuf b;
  dbuf_init(&b, 4096);
  dbuf_adds(&b, "{\"id\":");
  dbuf_printf(&b, "%" PRIu32 ",\"cloid\":", o->id);
  dbuf_json_str(&b, o->cloid);
  dbuf_printf(&b, ",\"symbol\":");
  dbuf_json_str(&b, h->ins->v[o->sym].symbol);
  dbuf_printf(&b, ",\"side\":\"%s\",\"type\":\"%s\",\"tif\":\"%s\","
                  "\"from\":\"%s\",\"to\":\"%s\",\"qty\":\"",
              order_side_name(o->side), order_type_name(o->type),
              tif_name(o->tif), order_state_name(from), order_state_name(to));
  dbuf_addfx(&b, o->qty);
  dbuf_adds(&b, "\",\"limit\":\"");
  dbuf_addfx(&b, o->limit_price);
  dbuf_adds(&b, "\",\"stop\":\"");
  dbuf_addfx(&b, o->stop_price);
  dbuf_adds(&b, "\",\"filled\":\"");
  dbuf_addfx(&b, o->filled);
  /* the bracket: links by client order id (ids do not survive a restart),
   * the entry's exit prices; from == to is a change beside the state */
  dbuf_printf(&b, "\",\"role\":\"%s\",\"peer\":", bracket_role_name(o->role));
  dbuf_json_str(&b, cloid_of(h, o->peer));
  dbuf_adds(&b, ",\"parent\":");
  dbuf_json_str(&b, cloid_of(h, o->parent));
  dbuf_adds(&b, ",\"replaced_by\":");
  dbuf_json_str(&b, cloid_of(h, o->replaced_by));
  dbuf_adds(&b, ",\"tp\":\"");
  dbuf_addfx(&b, o->tp_price);
  dbuf_adds(&b, "\",\"sl\":\"");
  dbuf_addfx(&b, o->sl_price);
  dbuf_printf(&b, "\",\"reason\":%d,\"risk\":%d}", o->reason, o->risk);
  put_event(h, o->updated, "order", acct_id(h, o), strat_id_of(h, o), &b);
  dbuf_release(&b);
}

static void position_row(jhooks *h, const char *account, const char *strategy,
                         const char *symbol, const position *p, dto_time t) {
  store_position r;
  memset(&r, 0, sizeof r);
  snprintf(r.account, sizeof r.account, "%s", account);
  snprintf(r.strategy, sizeof r.strategy, "%s", strategy);
  snprintf(r.symbol, sizeof r.symbol, "%s", symbol);
  r.qty = p->qty;
  r.cost = p->cost;
  r.realized = p->realized;
  r.fees = p->fees;
  r.updated = t;
  track(h, journal_put_position(h->j, &r, NULL));
}

/* The day's P&L row of an account (strategy "") or of one strategy, as it
 * stands after a fill at t: the cumulative realized P&L and fees, and the
 * unrealized P&L of its positions at their last prices.  The day is the
 * UTC date of t.  A day's own figures are the difference from the row of
 * the last day before it (GET /api/v1/pnl): every value comes from the
 * portfolio, which a restart restores, so the rows need no baseline of
 * their own. */
static void daily_row(jhooks *h, const char *account, const char *strategy,
                      const position *(*pos)(const portfolio *, uint32_t,
                                             sym_id),
                      uint32_t index, dto_time t) {
  const portfolio *pf = engine_portfolio(h->e);
  store_daily_pnl d;
  memset(&d, 0, sizeof d);
  snprintf(d.account, sizeof d.account, "%s", account);
  snprintf(d.strategy, sizeof d.strategy, "%s", strategy);
  d.day = time_ymd(t);
  /* from the positions, which a fill updates at once (the account's and
   * strategy's totals follow later, at the step's end) */
  for (size_t y = 0; y < h->ins->n; y++) {
    const position *ps = pos(pf, index, (sym_id)y);
    fx v;
    d.realized += ps->realized;
    d.fees += ps->fees;
    if (ps->qty && fx_mul(ps->qty, portfolio_last(pf, (sym_id)y), &v) == 0)
      d.unrealized += v - ps->cost;
  }
  d.updated = t;
  track(h, journal_put_daily_pnl(h->j, &d, NULL));
}

void jhooks_fill(jhooks *h, const order *o, fx qty, fx price, fx fee,
                 dto_time t) {
  store_fill f;
  memset(&f, 0, sizeof f);
  /* a fill id that is the same after a restart: the order's client id and
   * its filled quantity after this fill */
  char filled[FX_STRLEN], id[CLOID_MAX + FX_STRLEN + 2];
  fx_format(o->filled, filled, sizeof filled);
  int n = snprintf(id, sizeof id, "%s@%s", o->cloid, filled);
  if (n < 0 || (size_t)n >= sizeof f.fill_id) {
    h->refused++;
    return;
  }
  memcpy(f.fill_id, id, (size_t)n + 1);
  snprintf(f.cloid, sizeof f.cloid, "%s", o->cloid);
  f.qty = qty;
  f.price = price;
  f.fee = fee;
  f.time = t;
  track(h, journal_put_fill(h->j, &f, NULL));
  const portfolio *pf = engine_portfolio(h->e);
  const char *sym = h->ins->v[o->sym].symbol;
  /* the account's position has strategy "" (all strategies) */
  position_row(h, acct_id(h, o), "", sym,
               portfolio_account_pos(pf, o->account, o->sym), t);
  position_row(h, acct_id(h, o), strat_id_of(h, o), sym,
               portfolio_strategy_pos(pf, o->strategy, o->sym), t);
  daily_row(h, acct_id(h, o), "", portfolio_account_pos, o->account, t);
  daily_row(h, acct_id(h, o), strat_id_of(h, o), portfolio_strategy_pos,
            o->strategy, t);
  dbuf b;
  dbuf_init(&b, 4096);
  dbuf_adds(&b, "{\"cloid\":");
  dbuf_json_str(&b, o->cloid);
  dbuf_printf(&b, ",\"fill_id\":");
  dbuf_json_str(&b, f.fill_id);
  dbuf_printf(&b, ",\"side\":\"%s\",\"qty\":\"", order_side_name(o->side));
  dbuf_addfx(&b, qty);
  dbuf_adds(&b, "\",\"price\":\"");
  dbuf_addfx(&b, price);
  dbuf_adds(&b, "\",\"fee\":\"");
  dbuf_addfx(&b, fee);
  dbuf_adds(&b, "\"}");
  put_event(h, t, "fill", acct_id(h, o), strat_id_of(h, o), &b);
  dbuf_release(&b);
}

void jhooks_risk(jhooks *h, const order *o, const risk_decision *d) {
  store_risk_decision r;
  memset(&r, 0, sizeof r);
  r.time = o->updated;
  snprintf(r.account, sizeof r.account, "%s", acct_id(h, o));
  snprintf(r.strategy, sizeof r.strategy, "%s", strat_id_of(h, o));
  snprintf(r.cloid, sizeof r.cloid, "%s", o->cloid);
  snprintf(r.symbol, sizeof r.symbol, "%s", h->ins->v[o->sym].symbol);
  r.accepted = d->reason == RISK_OK;
  if (!r.accepted) {
    char v[FX_STRLEN], l[FX_STRLEN];
    fx_format(d->value, v, sizeof v);
    fx_format(d->limit, l, sizeof l);
    snprintf(r.check, sizeof r.check, "%s", risk_reason_name(d->reason));
    snprintf(r.reason, sizeof r.reason, "value %s, limit %s", v, l);
  }
  track(h, journal_put_risk(h->j, &r, NULL));
}

void jhooks_alert(jhooks *h, dto_time t, const char *code, int scope,
                  uint32_t index, const char *msg) {
  dbuf b;
  dbuf_init(&b, 4096);
  dbuf_adds(&b, "{\"code\":");
  dbuf_json_str(&b, code);
  dbuf_printf(&b, ",\"scope\":%d,\"index\":%" PRIu32 ",\"msg\":", scope,
              index);
  dbuf_json_str(&b, msg);
  dbuf_addc(&b, '}');
  put_event(h, t, "alert", "", "", &b);
  dbuf_release(&b);
}

void jhooks_risk_mode(jhooks *h, dto_time t, const risk_change *c) {
  const char *acct = c->scope == RISK_SCOPE_ACCOUNT
                         ? engine_account_id(h->e, c->index)
                         : "";
  const char *sid = c->scope == RISK_SCOPE_STRATEGY
                          ? engine_strategy_id(h->e, c->index)
                          : "";
  dbuf p;
  dbuf_init(&p, 1024);
  dbuf_adds(&p, "{\"scope\":");
  dbuf_json_str(&p, c->scope == RISK_SCOPE_ACCOUNT    ? "account"
                    : c->scope == RISK_SCOPE_STRATEGY ? "strategy"
                                                      : "global");
  dbuf_adds(&p, ",\"from\":");
  dbuf_json_str(&p, risk_mode_name(c->from));
  dbuf_adds(&p, ",\"to\":");
  dbuf_json_str(&p, risk_mode_name(c->to));
  dbuf_adds(&p, ",\"cause\":");
  dbuf_json_str(&p, risk_cause_name(c->cause));
  dbuf_printf(&p, ",\"legal\":%s}", c->legal ? "true" : "false");
  put_event(h, t, "risk.mode", acct ? acct : "", sid ? sid : "", &p);
  dbuf_release(&p);
}

void jhooks_lifecycle(jhooks *h, dto_time t, const char *from, const char *to,
                      const char *why, bool legal) {
  dbuf p;
  dbuf_init(&p, 1024);
  dbuf_adds(&p, "{\"from\":");
  dbuf_json_str(&p, from);
  dbuf_adds(&p, ",\"to\":");
  dbuf_json_str(&p, to);
  dbuf_adds(&p, ",\"why\":");
  dbuf_json_str(&p, why ? why : "");
  dbuf_printf(&p, ",\"legal\":%s}", legal ? "true" : "false");
  put_event(h, t, "lifecycle", "", "", &p);
  dbuf_release(&p);
}

void jhooks_command(jhooks *h, dto_time t, const char *who, const char *op,
                    const char *args_json, const char *outcome,
                    const char *message, const char *real_time,
                    const char *account, const char *strategy) {
  dbuf p;
  dbuf_init(&p, 4096);
  dbuf_adds(&p, "{\"who\":");
  dbuf_json_str(&p, who);
  dbuf_adds(&p, ",\"op\":");
  dbuf_json_str(&p, op);
  dbuf_adds(&p, ",\"args\":");
  dbuf_adds(&p, args_json && *args_json ? args_json : "{}");
  dbuf_adds(&p, ",\"outcome\":");
  dbuf_json_str(&p, outcome);
  dbuf_adds(&p, ",\"message\":");
  dbuf_json_str(&p, message);
  dbuf_adds(&p, ",\"at\":");
  dbuf_json_str(&p, real_time);
  dbuf_addc(&p, '}');
  put_event(h, t, "command", account ? account : "", strategy ? strategy : "",
            &p);
  dbuf_release(&p);
}
