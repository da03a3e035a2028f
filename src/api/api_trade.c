/* api_trade.c - the HTTP API's trading routes: reads from the service's
 * snapshots and the store, commands through svc_submit. */
#define _POSIX_C_SOURCE 200809L
#include "api/api_int.h"

#include <inttypes.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/timeutil.h"

#define SUBMIT_NS (10 * DTO_NS_PER_SEC)

/* ---- commands ------------------------------------------------------------ */

static int status_http(enum svc_status s, const char **code) {
  switch (s) {
  case SVC_OK:
    *code = "ok";
    return 200;
  case SVC_BAD_REQUEST:
    *code = "invalid";
    return 422;
  case SVC_NOT_FOUND:
    *code = "not_found";
    return 404;
  case SVC_CONFLICT:
    *code = "conflict";
    return 409;
  case SVC_REFUSED:
    *code = "refused";
    return 422;
  default:
    *code = "busy";
    return 503;
  }
}

void api_command(ctx *c, svc_cmd *cmd, const char *target) {
  snprintf(cmd->who, sizeof cmd->who, "api %.59s", c->actor);
  svc_answer ans;
  api_gate_leave(c->a); /* the engine's answer is a wait, not work */
  svc_submit(c->a->sv, cmd, &ans, SUBMIT_NS);
  api_gate_enter(c->a);
  const char *code;
  int st = status_http(ans.status, &code);
  char action[48], detail[256];
  snprintf(action, sizeof action, "command.%s", svc_op_name(cmd->op));
  dbuf d;
  dbuf_init(&d, sizeof detail - 1);
  dbuf_adds(&d, "{\"message\":");
  dbuf_json_str(&d, ans.message);
  dbuf_addc(&d, '}');
  snprintf(detail, sizeof detail, "%s", d.ptr ? d.ptr : "{}");
  dbuf_release(&d);
  api_audit(c, action, target ? target : "", ans.status == SVC_OK ? "ok" : code,
            detail);
  if (ans.status != SVC_OK) {
    if (st == 503)
      httpd_resp_header(c->r, "Retry-After", "1");
    api_fail(c, st, code, ans.field, "%s", ans.message);
    return;
  }
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"message\":");
  dbuf_json_str(b, ans.message);
  dbuf_printf(b, ",\"count\":%" PRId64, ans.count);
  if (ans.ref[0]) {
    dbuf_adds(b, ",\"client_order_id\":");
    dbuf_json_str(b, ans.ref);
  }
  dbuf_addc(b, '}');
  c->r->status = 200;
}

/* ---- snapshot reads ------------------------------------------------------ */

static svc_snap *snap(ctx *c) {
  svc_snap *s = svc_snap_get(c->a->sv);
  if (!s) {
    httpd_resp_header(c->r, "Retry-After", "1");
    api_fail(c, 503, "unavailable", NULL, "the service is starting");
  }
  return s;
}

void api_r_accounts(ctx *c) {
  svc_snap *s = snap(c);
  if (!s)
    return;
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"accounts\":[");
  for (size_t i = 0; i < s->naccounts; i++) {
    const svc_snap_account *a = &s->accounts[i];
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, a->id);
    api_fx_member(b, "cash", a->cash);
    api_fx_member(b, "equity", a->equity);
    api_fx_member(b, "day_pnl", a->day_pnl);
    api_fx_member(b, "realized", a->realized);
    api_fx_member(b, "fees", a->fees);
    dbuf_printf(b, ",\"risk_mode\":\"%s\"}", a->mode);
  }
  dbuf_adds(b, "]");
  api_time_member(b, "as_of", s->real_now);
  dbuf_addc(b, '}');
  svc_snap_put(s);
  c->r->status = 200;
}

void api_r_positions(ctx *c) {
  svc_snap *s = snap(c);
  if (!s)
    return;
  const char *acct = httpd_query(c->q, "account");
  const char *sym = httpd_query(c->q, "symbol");
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"positions\":[");
  size_t n = 0;
  for (size_t i = 0; i < s->npositions; i++) {
    const svc_snap_position *p = &s->positions[i];
    if ((acct && strcmp(acct, s->accounts[p->account].id)) ||
        (sym && strcmp(sym, s->instruments[p->sym].symbol)))
      continue;
    dbuf_adds(b, n++ ? ",{\"account\":" : "{\"account\":");
    dbuf_json_str(b, s->accounts[p->account].id);
    dbuf_adds(b, ",\"symbol\":");
    dbuf_json_str(b, s->instruments[p->sym].symbol);
    api_fx_member(b, "qty", p->qty);
    api_fx_member(b, "cost", p->cost);
    api_fx_member(b, "last", p->last);
    api_fx_member(b, "unrealized", p->unrealized);
    api_fx_member(b, "realized", p->realized);
    dbuf_addc(b, '}');
  }
  dbuf_adds(b, "]");
  api_time_member(b, "as_of", s->real_now);
  dbuf_addc(b, '}');
  svc_snap_put(s);
  c->r->status = 200;
}

void api_r_strategies(ctx *c) {
  svc_snap *s = snap(c);
  if (!s)
    return;
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"strategies\":[");
  for (size_t i = 0; i < s->nstrategies; i++) {
    const svc_snap_strategy *x = &s->strategies[i];
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, x->id);
    dbuf_adds(b, ",\"account\":");
    dbuf_json_str(b, s->accounts[x->account].id);
    api_fx_member(b, "equity", x->equity);
    api_fx_member(b, "day_pnl", x->day_pnl);
    api_fx_member(b, "realized", x->realized);
    api_fx_member(b, "fees", x->fees);
    dbuf_printf(b, ",\"risk_mode\":\"%s\",\"paused\":%s", x->mode,
                x->paused ? "true" : "false");
    /* type, symbols, allocation and parameters, from the configuration */
    json_t *d = c->a->strategies ? json_object_get(c->a->strategies, x->id)
                                 : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(d, k, v) {
      char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      if (!t || !strcmp(k, "account"))
        goto next;
      dbuf_printf(b, ",\"%s\":%s", k, t);
    next:
      free(t);
    }
    dbuf_addc(b, '}');
  }
  dbuf_adds(b, "]}");
  svc_snap_put(s);
  c->r->status = 200;
}

void api_r_pnl(ctx *c) {
  svc_snap *s = snap(c);
  if (!s)
    return;
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"intraday\":{\"accounts\":[");
  for (size_t i = 0; i < s->naccounts; i++) {
    const svc_snap_account *a = &s->accounts[i];
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, a->id);
    api_fx_member(b, "day_pnl", a->day_pnl);
    api_fx_member(b, "realized", a->realized);
    api_fx_member(b, "fees", a->fees);
    api_fx_member(b, "equity", a->equity);
    dbuf_addc(b, '}');
  }
  dbuf_adds(b, "],\"strategies\":[");
  for (size_t i = 0; i < s->nstrategies; i++) {
    const svc_snap_strategy *x = &s->strategies[i];
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, x->id);
    api_fx_member(b, "day_pnl", x->day_pnl);
    api_fx_member(b, "realized", x->realized);
    api_fx_member(b, "fees", x->fees);
    dbuf_addc(b, '}');
  }
  dbuf_adds(b, "]}");
  api_time_member(b, "as_of", s->real_now);
  /* the daily history: each day's figures are the difference between the
   * journal's row of that day and the row of the last day before it with
   * one (rows are written at each fill: jhooks.c, daily_row) */
  const char *ds = httpd_query(c->q, "days");
  long long days = 30;
  char *end;
  if (ds && ((days = strtoll(ds, &end, 10)) < 1 || days > 366 || *end)) {
    svc_snap_put(s);
    api_fail(c, 400, "invalid", "days", "days: 1 to 366");
    return;
  }
  dto_time today = s->now ? s->now : c->now; /* the market's clock */
  dbuf_adds(b, ",\"daily\":[");
  size_t n = 0;
  for (size_t i = 0; i < s->naccounts + s->nstrategies; i++) {
    bool acct = i < s->naccounts;
    const char *aid = acct ? s->accounts[i].id
                           : s->accounts[s->strategies[i - s->naccounts]
                                             .account]
                                 .id;
    const char *sid = acct ? "" : s->strategies[i - s->naccounts].id;
    store_daily_pnl prev;
    bool have_prev = false;
    memset(&prev, 0, sizeof prev);
    /* the row before the window is looked for up to 92 days back */
    for (long long d = days - 1 + 92; d >= 0; d--) {
      dto_time day = today - d * 86400 * DTO_NS_PER_SEC;
      char date[16];
      time_format_date(day, date, sizeof date);
      int32_t ymd = time_ymd(day);
      store_daily_pnl dp;
      api_lock(c->a);
      int rc = store_get_daily_pnl(c->a->st, aid, sid, ymd, &dp);
      api_unlock(c->a);
      if (rc)
        continue;
      if (d < days) {
        fx r = dp.realized - prev.realized, f = dp.fees - prev.fees;
        fx u = dp.unrealized - (have_prev ? prev.unrealized : 0);
        dbuf_adds(b, n++ ? ",{\"account\":" : "{\"account\":");
        dbuf_json_str(b, aid);
        if (!acct) {
          dbuf_adds(b, ",\"strategy\":");
          dbuf_json_str(b, sid);
        }
        dbuf_printf(b, ",\"day\":\"%.10s\"", date);
        api_fx_member(b, "realized", r);
        api_fx_member(b, "fees", f);
        api_fx_member(b, "unrealized", dp.unrealized);
        api_fx_member(b, "pnl", r - f + u);
        dbuf_addc(b, '}');
      }
      prev = dp;
      have_prev = true;
    }
  }
  svc_snap_put(s);
  dbuf_adds(b, "]}");
  c->r->status = 200;
}

/* Members of a JSON object written one by one: the comma before each but
 * the first. */
static void sep(dbuf *b, bool *first) {
  if (!*first)
    dbuf_addc(b, ',');
  *first = false;
}

/* A limit: its value, or null when off (0). */
static void lim_fx(dbuf *b, bool *first, const char *k, fx v) {
  sep(b, first);
  dbuf_printf(b, "\"%s\":", k);
  if (!v) {
    dbuf_adds(b, "null");
    return;
  }
  dbuf_addc(b, '"');
  dbuf_addfx(b, v);
  dbuf_addc(b, '"');
}
static void lim_int(dbuf *b, bool *first, const char *k, int64_t v) {
  sep(b, first);
  if (v)
    dbuf_printf(b, "\"%s\":%" PRId64, k, v);
  else
    dbuf_printf(b, "\"%s\":null", k);
}
static void lim_bool(dbuf *b, bool *first, const char *k, bool v) {
  sep(b, first);
  dbuf_printf(b, "\"%s\":%s", k, v ? "true" : "false");
}

/* Order limits: those this level sets (l->set), the others left out. */
static void order_limits(dbuf *b, const char *key, const risk_order_limits *l) {
  bool first = true;
  dbuf_printf(b, ",\"%s\":{", key);
  if (l->set & RL_MAX_ORDER_QTY)
    lim_fx(b, &first, "max_order_qty", l->max_order_qty);
  if (l->set & RL_MAX_ORDER_NOTIONAL)
    lim_fx(b, &first, "max_order_notional", l->max_order_notional);
  if (l->set & RL_MAX_POS_QTY)
    lim_fx(b, &first, "max_pos_qty", l->max_pos_qty);
  if (l->set & RL_MAX_POS_NOTIONAL)
    lim_fx(b, &first, "max_pos_notional", l->max_pos_notional);
  if (l->set & RL_COLLAR_PCT)
    lim_fx(b, &first, "collar_pct", l->collar_pct);
  if (l->set & RL_RESTRICTED)
    lim_bool(b, &first, "restricted", l->restricted);
  dbuf_addc(b, '}');
}

void api_r_risk(ctx *c) {
  svc_snap *s = snap(c);
  if (!s)
    return;
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_printf(b,
              "{\"kill_switch\":%s,\"maintenance\":%s,\"store_fault\":%s,"
              "\"unreconciled\":%s,\"state\":",
              s->killed ? "true" : "false", s->maintenance ? "true" : "false",
              s->store_fault ? "true" : "false",
              s->unreconciled ? "true" : "false");
  dbuf_json_str(b, s->state);
  order_limits(b, "order_limits", &s->order_defaults);
  dbuf_adds(b, ",\"accounts\":[");
  for (size_t i = 0; i < s->naccounts; i++) {
    const svc_snap_account *x = &s->accounts[i];
    const risk_account_limits *l = &x->lim;
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, x->id);
    dbuf_printf(b, ",\"mode\":\"%s\",\"limits\":{", x->mode);
    bool first = true;
    lim_bool(b, &first, "check_buying_power", l->check_buying_power);
    lim_fx(b, &first, "max_gross", l->max_gross);
    lim_fx(b, &first, "max_net", l->max_net);
    lim_fx(b, &first, "max_concentration_pct", l->max_concentration_pct);
    lim_fx(b, &first, "max_daily_loss", l->max_daily_loss);
    lim_fx(b, &first, "max_drawdown", l->max_drawdown);
    lim_int(b, &first, "max_open_orders", l->max_open_orders);
    lim_int(b, &first, "max_orders_per_sec", l->max_orders_per_sec);
    lim_int(b, &first, "max_orders_per_min", l->max_orders_per_min);
    lim_bool(b, &first, "allow_short", l->allow_short);
    dbuf_addc(b, '}');
    order_limits(b, "order_limits", &x->olim);
    dbuf_addc(b, '}');
  }
  dbuf_adds(b, "],\"strategies\":[");
  for (size_t i = 0; i < s->nstrategies; i++) {
    const svc_snap_strategy *x = &s->strategies[i];
    const risk_strategy_limits *l = &x->lim;
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, x->id);
    dbuf_printf(b, ",\"mode\":\"%s\",\"paused\":%s,\"limits\":{", x->mode,
                x->paused ? "true" : "false");
    bool first = true;
    lim_fx(b, &first, "max_daily_loss", l->max_daily_loss);
    lim_fx(b, &first, "max_drawdown", l->max_drawdown);
    lim_int(b, &first, "max_open_orders", l->max_open_orders);
    lim_int(b, &first, "max_orders_per_sec", l->max_orders_per_sec);
    lim_int(b, &first, "max_orders_per_min", l->max_orders_per_min);
    lim_int(b, &first, "max_consecutive_losses", l->max_consecutive_losses);
    dbuf_addc(b, '}');
    order_limits(b, "order_limits", &x->olim);
    dbuf_addc(b, '}');
  }
  dbuf_printf(b, "],\"counters\":{\"orders\":%" PRIu64 ",\"fills\":%" PRIu64
                 ",\"refusals\":%" PRIu64 ",\"working\":%" PRIu64 "}}",
              s->orders, s->fills, s->refusals, s->working);
  svc_snap_put(s);
  c->r->status = 200;
}

void api_r_market(ctx *c) {
  svc_snap *s = snap(c);
  if (!s)
    return;
  const svc_snap_instrument *in = NULL;
  for (size_t i = 0; i < s->ninstruments && !in; i++)
    if (!strcmp(s->instruments[i].symbol, c->param))
      in = &s->instruments[i];
  if (!in) {
    svc_snap_put(s);
    api_fail(c, 404, "not_found", "symbol", "no instrument '%.40s'", c->param);
    return;
  }
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"symbol\":");
  dbuf_json_str(b, in->symbol);
  if (in->last)
    api_fx_member(b, "last", in->last);
  else
    dbuf_adds(b, ",\"last\":null");
  api_time_member(b, "last_event", in->last_event);
  dbuf_printf(b, ",\"halted\":%s,\"bar\":", in->halted ? "true" : "false");
  const bar *br = &in->last_bar;
  if (br->ts) {
    char t[48];
    time_format(br->ts, t, sizeof t);
    dbuf_adds(b, "{\"time\":");
    dbuf_json_str(b, t);
    dbuf_printf(b, ",\"seconds\":%" PRId64, (int64_t)(br->dur / DTO_NS_PER_SEC));
    api_fx_member(b, "open", br->open);
    api_fx_member(b, "high", br->high);
    api_fx_member(b, "low", br->low);
    api_fx_member(b, "close", br->close);
    api_fx_member(b, "volume", br->volume);
    dbuf_addc(b, '}');
  } else {
    dbuf_adds(b, "null");
  }
  dbuf_adds(b, ",\"quote\":");
  const quote *qt = &in->last_quote;
  if (qt->ts) {
    char t[48];
    time_format(qt->ts, t, sizeof t);
    dbuf_adds(b, "{\"time\":");
    dbuf_json_str(b, t);
    api_fx_member(b, "bid", qt->bid);
    api_fx_member(b, "ask", qt->ask);
    api_fx_member(b, "bid_size", qt->bid_size);
    api_fx_member(b, "ask_size", qt->ask_size);
    dbuf_addc(b, '}');
  } else {
    dbuf_adds(b, "null");
  }
  dbuf_addc(b, '}');
  svc_snap_put(s);
  c->r->status = 200;
}

/* ---- orders from the store ----------------------------------------------- */

static void order_json(dbuf *b, const store_order *o) {
  dbuf_adds(b, "{\"client_order_id\":");
  dbuf_json_str(b, o->cloid);
  const char *k[] = {"broker_id", "account", "strategy", "symbol",
                     "side",      "type",    "tif",      "state"};
  const char *v[] = {o->broker_id, o->account, o->strategy, o->symbol,
                     o->side,      o->type,    o->tif,      o->state};
  for (size_t i = 0; i < DTO_ARRAY_LEN(k); i++) {
    dbuf_printf(b, ",\"%s\":", k[i]);
    dbuf_json_str(b, v[i]);
  }
  api_fx_member(b, "qty", o->qty);
  api_fx_member(b, "limit_price", o->limit_price);
  api_fx_member(b, "stop_price", o->stop_price);
  api_fx_member(b, "filled", o->filled);
  api_fx_member(b, "avg_price", o->avg_price);
  api_fx_member(b, "fees", o->fees);
  api_time_member(b, "created", o->created);
  api_time_member(b, "updated", o->updated);
  dbuf_addc(b, '}');
}

typedef struct olist {
  dbuf *b;
  const char *state, *symbol, *strategy, *account;
  dto_time after_t;
  const char *after_c; /* NULL: from the start */
  size_t n, limit;
  char next[160];
} olist;

static int order_one(void *arg, const store_order *o) {
  olist *l = arg;
  if (l->after_c && (o->created < l->after_t ||
                     (o->created == l->after_t && strcmp(o->cloid, l->after_c) <= 0)))
    return 0;
  if ((l->state && strcmp(l->state, "open") && strcmp(l->state, o->state)) ||
      (l->symbol && strcmp(l->symbol, o->symbol)) ||
      (l->strategy && strcmp(l->strategy, o->strategy)) ||
      (l->account && strcmp(l->account, o->account)))
    return 0;
  if (l->n == l->limit) { /* one more exists: a cursor to it */
    return 1;
  }
  if (l->n++)
    dbuf_addc(l->b, ',');
  order_json(l->b, o);
  snprintf(l->next, sizeof l->next, "%" PRId64 ".%s", o->created, o->cloid);
  return 0;
}

void api_r_orders(ctx *c) {
  olist l;
  memset(&l, 0, sizeof l);
  l.b = &c->r->body;
  l.state = httpd_query(c->q, "state");
  l.symbol = httpd_query(c->q, "symbol");
  l.strategy = httpd_query(c->q, "strategy");
  l.account = httpd_query(c->q, "account");
  const char *lim = httpd_query(c->q, "limit");
  const char *cur = httpd_query(c->q, "cursor");
  long long n = 100;
  char *end;
  if (lim && ((n = strtoll(lim, &end, 10)) < 1 || n > 500 || *end)) {
    api_fail(c, 400, "invalid", "limit", "limit: 1 to 500");
    return;
  }
  l.limit = (size_t)n;
  if (cur) {
    long long t = strtoll(cur, &end, 10);
    if (end == cur || *end != '.' || !end[1] || strlen(end + 1) > 96) {
      api_fail(c, 400, "invalid", "cursor", "cursor: as next_cursor gave it");
      return;
    }
    l.after_t = (dto_time)t;
    l.after_c = end + 1;
  }
  dbuf_reset(l.b);
  dbuf_adds(l.b, "{\"orders\":[");
  api_lock(c->a);
  int rc = store_list_orders(c->a->st, l.state && !strcmp(l.state, "open"),
                             order_one, &l);
  api_unlock(c->a);
  if (rc < 0) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  dbuf_adds(l.b, "],\"next_cursor\":");
  if (rc == 1)
    dbuf_json_str(l.b, l.next);
  else
    dbuf_adds(l.b, "null");
  dbuf_addc(l.b, '}');
  c->r->status = 200;
}

void api_r_order_get(ctx *c) {
  store_order o;
  api_lock(c->a);
  int rc = strlen(c->param) <= STORE_ID_MAX
               ? store_get_order(c->a->st, c->param, &o)
               : DTO_ENOENT;
  api_unlock(c->a);
  if (rc == DTO_ENOENT || rc == DTO_EINVAL) {
    api_fail(c, 404, "not_found", "id", "no order '%.96s'", c->param);
    return;
  }
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  dbuf_reset(&c->r->body);
  order_json(&c->r->body, &o);
  c->r->status = 200;
}

/* ---- orders: commands ---------------------------------------------------- */

/* A decimal member given as a string (money is exact: no JSON numbers). */
static bool dec(ctx *c, const char *key, char *out, size_t cap) {
  const char *s;
  out[0] = '\0';
  json_t *v = json_object_get(c->body, key);
  if (v && json_is_number(v)) {
    api_fail(c, 400, "wrong_type", key,
             "%s: give decimals as strings (\"100.25\"), never as JSON "
             "numbers",
             key);
    return false;
  }
  if (!api_str(c, key, false, cap - 1, &s))
    return false;
  if (s) {
    fx x;
    if (fx_parse_cstr(s, &x) || x <= 0) {
      api_fail(c, 422, "invalid", key, "%s: expected a positive decimal",
               key);
      return false;
    }
    snprintf(out, cap, "%s", s);
  }
  return true;
}

static bool field(ctx *c, const char *key, bool required, char *out,
                  size_t cap) {
  const char *s;
  out[0] = '\0';
  if (!api_str(c, key, required, cap - 1, &s))
    return false;
  if (s && !*s) {
    api_fail(c, 400, "invalid", key, "%s: must not be empty", key);
    return false;
  }
  if (s)
    snprintf(out, cap, "%s", s);
  return true;
}

/* The order command of a POST body. */
static bool order_cmd(ctx *c, svc_cmd *cmd) {
  static const char *const keys[] = {"strategy", "symbol",     "side",
                                     "type",     "qty",        "limit_price",
                                     "stop_price", "trail",    "tif",
                                     "reason"};
  memset(cmd, 0, sizeof *cmd);
  cmd->op = SVC_ORDER;
  if (!api_keys_ok(c, keys, DTO_ARRAY_LEN(keys)) ||
      !field(c, "strategy", true, cmd->strategy, sizeof cmd->strategy) ||
      !field(c, "symbol", true, cmd->symbol, sizeof cmd->symbol) ||
      !field(c, "side", true, cmd->side, sizeof cmd->side) ||
      !field(c, "type", true, cmd->type, sizeof cmd->type) ||
      !field(c, "tif", false, cmd->tif, sizeof cmd->tif) ||
      !field(c, "reason", false, cmd->reason, sizeof cmd->reason) ||
      !dec(c, "qty", cmd->qty, sizeof cmd->qty) ||
      !dec(c, "limit_price", cmd->price, sizeof cmd->price) ||
      !dec(c, "stop_price", cmd->stop, sizeof cmd->stop))
    return false;
  char trail[SVC_NAME_MAX];
  if (!dec(c, "trail", trail, sizeof trail))
    return false;
  if (!cmd->qty[0]) {
    api_fail(c, 400, "missing_field", "qty", "qty: required");
    return false;
  }
  if (trail[0]) {
    if (strcmp(cmd->type, "trailing_stop") || cmd->stop[0]) {
      api_fail(c, 422, "invalid", "trail",
               "trail: only for type trailing_stop, without stop_price");
      return false;
    }
    snprintf(cmd->stop, sizeof cmd->stop, "%s", trail);
  }
  return true;
}

void api_r_order_post(ctx *c) {
  const char *key = httpd_header(c->q, "Idempotency-Key");
  if (!key || !*key || strlen(key) > 200) {
    api_fail(c, 400, "missing_field", "Idempotency-Key",
             "Idempotency-Key: a header of 1 to 200 characters is required "
             "(the same key never places a second order)");
    return;
  }
  for (const char *p = key; *p; p++)
    if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
      api_fail(c, 400, "invalid", "Idempotency-Key",
               "Idempotency-Key: printable ASCII without spaces");
      return;
    }
  svc_cmd cmd;
  if (!order_cmd(c, &cmd))
    return;
  char scoped[STORE_IDEM_KEY_MAX + 1], hash[65];
  snprintf(scoped, sizeof scoped, "order:%" PRId64 ":%s", c->u.id, key);
  auth_sha256_hex(c->q->body, c->q->body_len, hash);
  api *a = c->a;
  /* one keyed order at a time: a retry racing its original waits and
   * gets the original's answer.  It waits outside the gate: the holder of
   * ord_mu leaves the gate for the engine's answer (api_command) and must
   * find its way back in, which a waiter holding the gate would block. */
  api_gate_leave(a);
  pthread_mutex_lock(&a->ord_mu);
  api_gate_enter(a);
  store_idem prev;
  memset(&prev, 0, sizeof prev);
  api_lock(a);
  int rc = store_idem_get(a->st, scoped, c->now, &prev);
  api_unlock(a);
  if (rc == 0) {
    pthread_mutex_unlock(&a->ord_mu);
    if (strcmp(prev.request_hash, hash)) {
      store_idem_release(&prev);
      api_fail(c, 422, "idempotency_key_reused", "Idempotency-Key",
               "Idempotency-Key: already used for a different order");
      return;
    }
    httpd_resp_header(c->r, "Idempotent-Replayed", "true");
    c->r->status = prev.status;
    dbuf_reset(&c->r->body);
    dbuf_add(&c->r->body, prev.body, prev.body_len);
    store_idem_release(&prev);
    return;
  }
  if (rc != DTO_ENOENT) {
    pthread_mutex_unlock(&a->ord_mu);
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  api_command(c, &cmd, cmd.symbol);
  if (c->r->status != 503) { /* a busy engine's answer is not final */
    store_idem r;
    memset(&r, 0, sizeof r);
    snprintf(r.key, sizeof r.key, "%s", scoped);
    snprintf(r.request_hash, sizeof r.request_hash, "%s", hash);
    r.status = c->r->status;
    r.body = c->r->body.ptr ? c->r->body.ptr : "";
    r.body_len = c->r->body.len;
    r.created = c->now;
    api_lock(a);
    (void)store_idem_put(a->st, &r);
    api_unlock(a);
  }
  pthread_mutex_unlock(&a->ord_mu);
}

void api_r_order_cancel(ctx *c) {
  svc_cmd cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.op = SVC_CANCEL;
  if (strlen(c->param) >= sizeof cmd.order) {
    api_fail(c, 404, "not_found", "id", "no such order");
    return;
  }
  snprintf(cmd.order, sizeof cmd.order, "%s", c->param);
  api_command(c, &cmd, c->param);
}

void api_r_order_replace(ctx *c) {
  static const char *const keys[] = {"qty", "limit_price", "stop_price",
                                     "reason"};
  svc_cmd cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.op = SVC_REPLACE;
  if (strlen(c->param) >= sizeof cmd.order) {
    api_fail(c, 404, "not_found", "id", "no such order");
    return;
  }
  snprintf(cmd.order, sizeof cmd.order, "%s", c->param);
  if (!api_keys_ok(c, keys, DTO_ARRAY_LEN(keys)) ||
      !dec(c, "qty", cmd.qty, sizeof cmd.qty) ||
      !dec(c, "limit_price", cmd.price, sizeof cmd.price) ||
      !dec(c, "stop_price", cmd.stop, sizeof cmd.stop) ||
      !field(c, "reason", false, cmd.reason, sizeof cmd.reason))
    return;
  api_command(c, &cmd, c->param);
}

/* ---- the other commands -------------------------------------------------- */

static void simple(ctx *c, enum svc_op op, const char *target) {
  svc_cmd cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.op = op;
  if (c->param && (op == SVC_PAUSE || op == SVC_RESUME)) {
    if (strlen(c->param) >= sizeof cmd.strategy) {
      api_fail(c, 404, "not_found", "strategy", "no such strategy");
      return;
    }
    snprintf(cmd.strategy, sizeof cmd.strategy, "%s", c->param);
  }
  api_command(c, &cmd, target);
}

void api_r_strategy_pause(ctx *c) { simple(c, SVC_PAUSE, c->param); }
void api_r_strategy_resume(ctx *c) { simple(c, SVC_RESUME, c->param); }
void api_r_kill_on(ctx *c) { simple(c, SVC_KILL, "kill_switch"); }
void api_r_kill_off(ctx *c) { simple(c, SVC_RELEASE, "kill_switch"); }

void api_r_flatten(ctx *c) {
  svc_cmd cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.op = SVC_FLATTEN;
  const char *k[] = {"account", "strategy", "symbol"};
  char *dst[] = {cmd.account, cmd.strategy, cmd.symbol};
  for (size_t i = 0; i < 3; i++) {
    const char *v = httpd_query(c->q, k[i]);
    if (v && (!*v || strlen(v) >= SVC_NAME_MAX)) {
      api_fail(c, 400, "invalid", k[i], "%s: 1 to %d characters", k[i],
               SVC_NAME_MAX - 1);
      return;
    }
    if (v)
      snprintf(dst[i], SVC_NAME_MAX, "%s", v);
  }
  api_command(c, &cmd, "flatten");
}

void api_r_risk_patch(ctx *c) {
  static const char *const keys[] = {"limit",       "value",  "account",
                                     "strategy",    "mode",   "maintenance",
                                     "reason"};
  if (!api_keys_ok(c, keys, DTO_ARRAY_LEN(keys)))
    return;
  bool has_m, m = false;
  if (!api_bool(c, "maintenance", &has_m, &m))
    return;
  svc_cmd cmd;
  memset(&cmd, 0, sizeof cmd);
  if (!field(c, "reason", false, cmd.reason, sizeof cmd.reason))
    return;
  if (has_m) {
    if (json_object_size(c->body) > 1 + (cmd.reason[0] ? 1u : 0u)) {
      api_fail(c, 400, "invalid", "maintenance",
               "maintenance: send it alone (no limit in the same request)");
      return;
    }
    cmd.op = m ? SVC_MAINTENANCE_ON : SVC_MAINTENANCE_OFF;
    api_command(c, &cmd, "maintenance");
    return;
  }
  if (json_object_get(c->body, "mode")) {
    /* {"mode", "account" | "strategy"}: a person sets a risk mode */
    cmd.op = SVC_SET_MODE;
    if (json_object_get(c->body, "limit") || json_object_get(c->body, "value")) {
      api_fail(c, 400, "invalid", "mode",
               "mode: send it without limit and value");
      return;
    }
    if (!field(c, "mode", true, cmd.value, sizeof cmd.value) ||
        !field(c, "account", false, cmd.account, sizeof cmd.account) ||
        !field(c, "strategy", false, cmd.strategy, sizeof cmd.strategy))
      return;
    api_command(c, &cmd, cmd.account[0] ? cmd.account : cmd.strategy);
    return;
  }
  cmd.op = SVC_SET_LIMIT;
  if (!field(c, "limit", true, cmd.limit, sizeof cmd.limit) ||
      !field(c, "value", true, cmd.value, sizeof cmd.value) ||
      !field(c, "account", false, cmd.account, sizeof cmd.account) ||
      !field(c, "strategy", false, cmd.strategy, sizeof cmd.strategy))
    return;
  fx x;
  if (strcmp(cmd.value, "off") && fx_parse_cstr(cmd.value, &x)) {
    api_fail(c, 422, "invalid", "value", "value: a decimal, or \"off\"");
    return;
  }
  if (cmd.account[0] && cmd.strategy[0]) {
    api_fail(c, 422, "invalid", "strategy",
             "strategy: give account or strategy, not both");
    return;
  }
  api_command(c, &cmd, cmd.limit);
}

/* ---- fills: the journal's fill events ------------------------------------ */

typedef struct flist {
  dbuf *b;
  size_t n, limit;
  int64_t last;
} flist;

static int fill_one(void *arg, const store_event *ev) {
  flist *l = arg;
  l->last = ev->seq;
  if (strcmp(ev->type, "fill"))
    return 0;
  if (l->n == l->limit)
    return 1;
  dbuf_printf(l->b, "%s{\"seq\":%" PRId64, l->n++ ? "," : "", ev->seq);
  api_time_member(l->b, "time", ev->time);
  dbuf_adds(l->b, ",\"account\":");
  dbuf_json_str(l->b, ev->account);
  dbuf_adds(l->b, ",\"strategy\":");
  dbuf_json_str(l->b, ev->strategy);
  dbuf_adds(l->b, ",\"fill\":");
  dbuf_add(l->b, ev->payload, ev->payload_len); /* the journal's JSON */
  dbuf_addc(l->b, '}');
  return 0;
}

void api_r_fills(ctx *c) {
  const char *after = httpd_query(c->q, "after");
  const char *lim = httpd_query(c->q, "limit");
  long long a = 0, n = 100;
  char *end;
  if (after && ((a = strtoll(after, &end, 10)) < 0 || *end || !*after)) {
    api_fail(c, 400, "invalid", "after", "after: a journal sequence number");
    return;
  }
  if (lim && ((n = strtoll(lim, &end, 10)) < 1 || n > 1000 || *end)) {
    api_fail(c, 400, "invalid", "limit", "limit: 1 to 1000");
    return;
  }
  flist l = {&c->r->body, 0, (size_t)n, a};
  dbuf_reset(l.b);
  dbuf_adds(l.b, "{\"fills\":[");
  int rc = 0;
  /* read the journal in pages until the page is full or it ends */
  for (int page = 0; page < 1000 && !rc; page++) {
    int64_t before = l.last;
    api_lock(c->a);
    rc = store_read_events(c->a->st, l.last, 1000, fill_one, &l);
    api_unlock(c->a);
    if (l.last == before)
      break;
  }
  if (rc < 0) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  dbuf_adds(l.b, "],\"next_after\":");
  if (rc == 1)
    dbuf_printf(l.b, "%" PRId64, l.last - 1);
  else
    dbuf_adds(l.b, "null");
  dbuf_addc(l.b, '}');
  c->r->status = 200;
}
