/* runner.c - wiring a session from a configuration, and driving bars. */
#include "app/runner.h"

#include "app/wal.h"
#include "engine/snapshot.h"
#include "broker/paper.h"
#include "market/bar_agg.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/rowfmt.h"
#include "core/timeutil.h"

const char runner_orders_header[] =
    "client_order_id,strategy,symbol,side,type,tif,qty,limit_price,"
    "stop_price,state,filled_qty,avg_fill_price,fees,created,updated,"
    "reason\n";

/* The rows are formatted in place (core/rowfmt.h): room for the longest
 * row is made once, from the lengths of its strings. */
void runner_order_row(const runner *r, dbuf *b, time_fmt_cache *tc,
                      const order *o) {
  time_fmt_cache local;
  if (!tc) {
    time_fmt_cache_init(&local);
    tc = &local;
  }
  fx avg = 0;
  if (o->filled)
    fx_div(o->notional, o->filled, &avg);
  const char *sid = engine_strategy_id(r->e, o->strategy);
  const char *sym = r->cfg->instruments.v[o->sym].symbol;
  const char *side = order_side_name(o->side), *type = order_type_name(o->type),
             *tif = tif_name(o->tif), *state = order_state_name(o->state);
  const char *why = o->risk     ? risk_reason_name((enum risk_reason)o->risk)
                    : o->reason ? broker_reason_name(o->reason)
                                : "";
  /* each length once: for the room and for the copy */
  size_t ncl = strlen(o->cloid), nsid = strlen(sid), nsym = strlen(sym),
         nside = strlen(side), ntype = strlen(type), ntif = strlen(tif),
         nstate = strlen(state), nwhy = strlen(why);
  size_t room = 2 * ncl + 2 + 2 * nsid + 2 + nsym + nside + ntype + ntif +
                nstate + nwhy + 7 * FX_STRLEN + 2 * TIME_FMT_MAX +
                5 /* risk: */ + 17;
  char *p0 = dbuf_space(b, room), *p = p0;
  if (!p0)
    return; /* past the buffer's cap: the row is dropped, as appends do */
  p = row_csv(p, o->cloid, ncl);
  *p++ = ',';
  p = row_csv(p, sid, nsid);
  *p++ = ',';
  p = row_mem(p, sym, nsym);
  *p++ = ',';
  p = row_mem(p, side, nside);
  *p++ = ',';
  p = row_mem(p, type, ntype);
  *p++ = ',';
  p = row_mem(p, tif, ntif);
  *p++ = ',';
  p = row_fx(p, o->qty);
  *p++ = ',';
  p = row_fx(p, o->limit_price);
  *p++ = ',';
  p = row_fx(p, o->stop_price);
  *p++ = ',';
  p = row_mem(p, state, nstate);
  *p++ = ',';
  p = row_fx(p, o->filled);
  *p++ = ',';
  p = row_fx(p, avg);
  *p++ = ',';
  p = row_fx(p, o->fees);
  *p++ = ',';
  p = row_time(p, tc, o->created);
  *p++ = ',';
  p = row_time(p, tc, o->updated);
  *p++ = ',';
  if (o->risk)
    p = row_mem(p, "risk:", 5);
  p = row_mem(p, why, nwhy);
  *p++ = '\n';
  dbuf_commit(b, (size_t)(p - p0));
}

const char runner_fills_header[] =
    "client_order_id,symbol,side,qty,price,fee,time\n";

void runner_fill_row(const runner *r, dbuf *b, time_fmt_cache *tc,
                     const order *o, fx qty, fx price, fx fee, dto_time t) {
  time_fmt_cache local;
  if (!tc) {
    time_fmt_cache_init(&local);
    tc = &local;
  }
  const char *sym = r->cfg->instruments.v[o->sym].symbol;
  const char *side = order_side_name(o->side);
  size_t ncl = strlen(o->cloid), nsym = strlen(sym), nside = strlen(side);
  size_t room = 2 * ncl + 2 + nsym + nside + 3 * FX_STRLEN + TIME_FMT_MAX + 7;
  char *p0 = dbuf_space(b, room), *p = p0;
  if (!p0)
    return;
  p = row_csv(p, o->cloid, ncl);
  *p++ = ',';
  p = row_mem(p, sym, nsym);
  *p++ = ',';
  p = row_mem(p, side, nside);
  *p++ = ',';
  p = row_fx(p, qty);
  *p++ = ',';
  p = row_fx(p, price);
  *p++ = ',';
  p = row_fx(p, fee);
  *p++ = ',';
  p = row_time(p, tc, t);
  *p++ = '\n';
  dbuf_commit(b, (size_t)(p - p0));
}

const char runner_positions_header[] =
    "account,strategy,symbol,qty,cost,realized,fees\n";

void runner_position_row(const runner *r, dbuf *b, uint32_t account,
                         int64_t strategy, sym_id sym) {
  const portfolio *p = engine_portfolio(r->e);
  const position *pos;
  if (strategy < 0) {
    pos = portfolio_account_pos(p, account, sym);
    dbuf_csv_str(b, engine_account_id(r->e, account));
    dbuf_addc(b, ',');
  } else {
    pos = portfolio_strategy_pos(p, (uint32_t)strategy, sym);
    dbuf_csv_str(b, engine_account_id(
                        r->e, r->rcfg.strategy_account[strategy]));
    dbuf_addc(b, ',');
    dbuf_csv_str(b, engine_strategy_id(r->e, (size_t)strategy));
  }
  dbuf_printf(b, ",%s,", r->cfg->instruments.v[sym].symbol);
  dbuf_addfx(b, pos->qty);
  dbuf_addc(b, ',');
  dbuf_addfx(b, pos->cost);
  dbuf_addc(b, ',');
  dbuf_addfx(b, pos->realized);
  dbuf_addc(b, ',');
  dbuf_addfx(b, pos->fees);
  dbuf_addc(b, '\n');
}

/* Engine hook: record every order as it finishes. */
static void order_changed(void *ctx, const order *o, enum order_state from,
                          enum order_state to, bool legal) {
  runner *r = ctx;
  if (legal && r->j)
    jhooks_order(&r->jh, o, from, to);
  /* once, when it ends (from == to: a change beside the state, such as a
   * link cleared after the end, is no second row) */
  if (!legal || from == to || !order_is_terminal(to))
    return;
  if (r->keep_orders)
    runner_order_row(r, &r->orders_csv, NULL, o);
  if (r->sink.order_done)
    r->sink.order_done(r->sink.ctx, r, o);
}

int runner_risk_config(const dto_config *cfg, runner_risk *out) {
  memset(out, 0, sizeof *out);
  size_t ns = 0;
  for (size_t i = 0; i < cfg->nstrategies; i++)
    ns += cfg->strategies[i].enabled;
  size_t n = ns ? ns : 1;
  out->strategy_account = xcalloc(n, sizeof *out->strategy_account);
  out->strategy_orders = xcalloc(n, sizeof *out->strategy_orders);
  out->strategies = xcalloc(n, sizeof *out->strategies);
  size_t k = 0;
  for (size_t i = 0; i < cfg->nstrategies; i++) {
    if (!cfg->strategies[i].enabled)
      continue;
    out->strategy_account[k] = (uint32_t)cfg->strategies[i].account;
    out->strategy_orders[k] = cfg->risk.strategy_orders[i];
    out->strategies[k] = cfg->risk.strategies[i];
    k++;
  }
  risk_config *rc = &out->rc;
  rc->naccounts = cfg->naccounts;
  rc->nstrategies = ns;
  rc->nsyms = cfg->instruments.n;
  rc->strategy_account = out->strategy_account;
  rc->defaults = cfg->risk.defaults;
  rc->account_orders = cfg->risk.account_orders;
  rc->strategy_orders = out->strategy_orders;
  rc->symbol_orders = cfg->risk.symbol_orders;
  rc->accounts = cfg->risk.accounts;
  rc->strategies = out->strategies;
  /* validate now, so a bad reload is refused before anything changes */
  risk *probe = NULL;
  int err = risk_new(rc, &probe);
  risk_free(probe);
  if (err)
    runner_risk_release(out);
  return err;
}

void runner_risk_release(runner_risk *r) {
  free(r->strategy_account);
  free(r->strategy_orders);
  free(r->strategies);
  memset(r, 0, sizeof *r);
}

/* Engine hook: keep every round trip for the reports. */
static void trade_closed(void *ctx, const trade_rec *t) {
  runner *r = ctx;
  metrics_acc_trade(&r->acc, t);
  if (r->sacc && t->strategy < engine_nstrategies(r->e))
    metrics_acc_trade(&r->sacc[t->strategy], t);
  if (r->sink.trade)
    r->sink.trade(r->sink.ctx, r, t);
  if (!r->keep_orders)
    return;
  r->trades = xgrow(r->trades, &r->trades_cap, r->ntrades + 1, sizeof *t);
  r->trades[r->ntrades++] = *t;
}

/* ---- journal ------------------------------------------------------------- */

static void on_fill(void *ctx, const order *o, fx qty, fx price, fx fee,
                    dto_time t) {
  runner *r = ctx;
  if (r->j)
    jhooks_fill(&r->jh, o, qty, price, fee, t);
  if (r->keep_orders)
    runner_fill_row(r, &r->fills_csv, NULL, o, qty, price, fee, t);
  if (r->sink.fill)
    r->sink.fill(r->sink.ctx, r, o, qty, price, fee, t);
}

static void on_risk(void *ctx, const order *o, const risk_decision *d) {
  runner *r = ctx;
  if (r->j)
    jhooks_risk(&r->jh, o, d);
}

static void on_alert(void *ctx, const char *code, int scope, uint32_t index,
                     const char *msg) {
  runner *r = ctx;
  if (r->j)
    jhooks_alert(&r->jh, clock_now(&r->clock), code, scope, index, msg);
  if (r->sink.alert)
    r->sink.alert(r->sink.ctx, r, code, scope, index, msg);
}

/* Risk hook: every mode change (halts, reducing, the kill switch) goes to
 * the log and the journal, legal or refused. */
static void on_risk_change(void *ctx, const risk_change *c) {
  runner *r = ctx;
  log_line l;
  if (log_begin(&l, &r->log, c->legal ? LOG_INFO : LOG_ERROR,
                c->legal ? "risk.transition" : "risk.transition_refused")) {
    log_str(&l, "scope", c->scope == RISK_SCOPE_ACCOUNT    ? "account"
                         : c->scope == RISK_SCOPE_STRATEGY ? "strategy"
                                                           : "global");
    if (c->scope == RISK_SCOPE_ACCOUNT)
      log_str(&l, "account", engine_account_id(r->e, c->index));
    else if (c->scope == RISK_SCOPE_STRATEGY)
      log_str(&l, "strategy", engine_strategy_id(r->e, c->index));
    log_str(&l, "from", risk_mode_name(c->from));
    log_str(&l, "to", risk_mode_name(c->to));
    log_str(&l, "cause", risk_cause_name(c->cause));
    log_end(&l);
  }
  if (r->j)
    jhooks_risk_mode(&r->jh, clock_now(&r->clock), c);
  if (c->legal && r->sink.risk_change)
    r->sink.risk_change(r->sink.ctx, r, c);
}

/* From the journal's writer thread: only note it; the engine thread acts
 * in runner_sync(). */
static void on_journal_state(void *ctx, int err, const char *msg) {
  runner *r = ctx;
  (void)msg;
  atomic_store(&r->jfault, err);
}

/* Write-ahead: everything the engine queued so far must be durable. */
static int wal_barrier(void *ctx) {
  runner *r = ctx;
  /* A put refused in this step (a full queue while the store fails) means
   * the journal lacks part of it: nothing of the step may be sent. */
  if (r->jh.refused != r->ckpt_refused)
    return DTO_EIO;
  /* the step's checkpoint covers everything put before it */
  return journal_barrier(r->j, r->ckpt_ticket, 2000);
}

/* Follow the journal's health: halt new orders while it cannot write. */
static void follow_health(runner *r) {
  int f = atomic_load(&r->jfault);
  if (!f)
    f = journal_error(r->j); /* set before a barrier returns the error */
  if ((f != 0) == r->store_faulted)
    return;
  r->store_faulted = f != 0;
  char msg[256];
  engine_set_store_fault(r->e, r->store_faulted,
                         r->store_faulted
                             ? journal_errmsg(r->j, msg, sizeof msg)
                             : "writes succeed again");
}

/* ---- checkpoints --------------------------------------------------------- */

#define RUNNER_CKPT_MAGIC "dto-session-checkpoint"
/* A checkpoint at least every this many journal items or this long (real
 * time) while items wait, even with nothing to send. */
#define RUNNER_CKPT_ITEMS 4096
#define RUNNER_CKPT_NS (200 * 1000000LL)
#define RUNNER_CKPT_VERSION 1

int runner_checkpoint(runner *r) {
  if (!r->j)
    return 0;
  dbuf *b = &r->ckpt;
  dbuf_reset(b);
  snap_str(b, RUNNER_CKPT_MAGIC);
  snap_u32(b, RUNNER_CKPT_VERSION);
  snap_u64(b, r->feed_pos);
  snap_bar(b, &r->last_bar);
  snap_i64(b, clock_now(&r->clock));
  snap_u64(b, r->bars);
  snap_i64(b, r->day);
  size_t at = snap_begin_part(b);
  int rc = engine_snapshot(r->e, b);
  if (rc)
    return rc;
  snap_end_part(b, at);
  matcher_snapshot(r->m, b);
  wal_snapshot(r->w, b);
  if (b->len >= b->max)
    return DTO_ETOOBIG;
  journal_err je;
  uint64_t t = journal_put_snapshot(r->j, r->ckpt_seq + 1,
                                    clock_now(&r->clock), b->ptr, b->len,
                                    &je);
  if (!t)
    return je.code ? je.code : DTO_EIO;
  r->ckpt_seq++;
  r->ckpt_ticket = t;
  r->ckpt_mark = r->jh.last;
  return 0;
}

int runner_restore_checkpoint(runner *r, const void *p, size_t n, char *err,
                              size_t cap) {
  snap_reader rd;
  snap_reader_init(&rd, p, n);
  snap_expect_str(&rd, RUNNER_CKPT_MAGIC);
  uint32_t v = snap_get_u32(&rd);
  uint64_t pos = snap_get_u64(&rd);
  bar last;
  snap_get_bar(&rd, &last);
  dto_time t = snap_get_i64(&rd);
  uint64_t bars = snap_get_u64(&rd);
  int64_t day = snap_get_i64(&rd);
  if (!snap_ok(&rd) || v != RUNNER_CKPT_VERSION) {
    snprintf(err, cap, "the journal's checkpoint is damaged or of another "
                       "dto version");
    return DTO_EINVAL;
  }
  /* the engine's part, then the paper exchange and the held commands */
  const void *ep;
  size_t en;
  if (!snap_get_part(&rd, &ep, &en)) {
    snprintf(err, cap, "the journal's checkpoint is damaged");
    return DTO_EINVAL;
  }
  int rc = engine_restore_snapshot(r->e, ep, en, err, cap);
  if (rc)
    return rc;
  rc = matcher_restore_snapshot(r->m, &rd);
  if (!rc)
    rc = wal_restore_snapshot(r->w, &rd);
  if (!rc && !snap_done(&rd))
    rc = DTO_EINVAL;
  if (rc) {
    snprintf(err, cap, "the journal's checkpoint is damaged (the paper "
                       "exchange's part does not decode)");
    return rc;
  }
  r->feed_pos = pos;
  r->last_bar = last;
  r->bars = bars;
  r->day = day;
  sim_clock_set(&r->sc, t);
  return 0;
}

void runner_sync(runner *r) {
  if (!r->j) {
    if (r->w && wal_held(r->w)) { /* stepped, without a journal */
      wal_release(r->w);
      engine_poll_broker(r->e);
    }
    return;
  }
  follow_health(r);
  /* A step ends here.  Commands waiting to be sent need a checkpoint (they
   * may leave only once the journal holds the step that made them, and a
   * restart must know they went).  Other steps are grouped: what they
   * journaled waits in the queue (stepped mode commits whole steps only)
   * until a checkpoint ends the group, at most RUNNER_CKPT_ITEMS items or
   * RUNNER_CKPT_NS of real time later.  Nothing of such a group reached a
   * broker, so after a crash the restart replays its bars from the last
   * checkpoint and, the engine being deterministic, does exactly what
   * this session did. */
  int64_t mono = 0;
  bool due = wal_held(r->w) ||
             (r->jh.last != r->ckpt_mark &&
              (r->jh.last - r->ckpt_mark >= RUNNER_CKPT_ITEMS ||
               (mono = clock_mono_ns()) - r->ckpt_mono >= RUNNER_CKPT_NS));
  if (due) {
    r->ckpt_mono = mono ? mono : clock_mono_ns();
    int crc = runner_checkpoint(r);
    if (crc) {
      log_line cl;
      if (log_begin(&cl, &r->log, LOG_ERROR, "checkpoint.failed")) {
        log_str(&cl, "error", dto_strerror(crc));
        log_end(&cl);
      }
      engine_set_store_fault(r->e, true, "the checkpoint could not be "
                                         "journaled");
      r->store_faulted = true;
    }
  }
  /* at most once a second of real time while the fault lasts (at replay
   * speed 0 a step takes microseconds: one line per step would flood the
   * log), and at once when writes succeed again */
  mono = r->jh.refused > r->jrefused_logged ? clock_mono_ns() : 0;
  if (DTO_UNLIKELY(r->jh.refused > r->jrefused_logged) &&
      (!r->store_faulted || mono - r->lost_logged_ns >= DTO_NS_PER_SEC)) {
    r->lost_logged_ns = mono;
    /* the journal's queue overflowed during a long outage: say how much
     * of the record is missing (orders are refused meanwhile, so these are
     * refusals and alerts, never orders that reached the broker) */
    log_line l;
    if (log_begin(&l, &r->log, LOG_ERROR, "store.items_lost")) {
      log_int(&l, "items", (int64_t)(r->jh.refused - r->jrefused_logged));
      log_end(&l);
    }
    r->jrefused_logged = r->jh.refused;
  }
  if (wal_held(r->w)) {
    int rc = wal_release(r->w);
    engine_poll_broker(r->e);
    if (rc < 0)
      follow_health(r);
  }
  r->ckpt_refused = r->jh.refused; /* the next step starts here */
}

/* A strategy's day-end equity: its figures have no per-bar curve, so each
 * day end is also its curve's sample (numbered from 0). */
static void strategy_day(metrics_acc *a, fx equity) {
  metrics_acc_day(a, equity);
  metrics_acc_sample(a, (dto_time)(a->ndays - 1), equity);
}

static int init(runner *r, const dto_config *cfg, FILE *logf, dto_time t0,
                store *st, bool stepped, const broker_ops *live,
                void *live_ctx, char *err, size_t errcap) {
  memset(r, 0, sizeof *r);
  r->live = live != NULL;
  r->cfg = cfg;
  r->keep_curve = true;
  r->keep_orders = true;
  r->bar_interval = cfg->backtest.bar_interval ? cfg->backtest.bar_interval
                                                : DTO_NS_PER_MIN;
  dbuf_init(&r->orders_csv, SIZE_MAX / 2);
  dbuf_init(&r->fills_csv, SIZE_MAX / 2);
  dbuf_init(&r->ckpt, STORE_SNAPSHOT_MAX);
  r->day = INT64_MIN;
  r->sq_lo = INT64_MAX; /* no sample told yet: an empty interval */
  r->sq_hi = INT64_MIN;
  clock_sim_init(&r->clock, &r->sc, t0);
  /* a live session's log says when things happened on the wall clock;
   * the engine's clock is the market's (the events' times) */
  clock_real_init(&r->wall);
  log_init(&r->log, logf, live ? &r->wall : &r->clock,
           (enum log_level)cfg->log_level);
  /* the service's engine thread does no I/O: its log lines are written
   * by the log's own thread (a backtest writes them itself) */
  if (stepped)
    (void)log_start_writer(&r->log); /* if it cannot start: synchronous */

  match_config mc;
  match_config_init(&mc);
  mc.model = cfg->fill.model;
  mc.slippage_bps = cfg->fill.slippage_bps;
  mc.max_volume_share = cfg->fill.max_volume_share;
  mc.latency_kind = cfg->fill.latency_kind;
  mc.latency = cfg->fill.latency;
  mc.latency_max = cfg->fill.latency_max;
  mc.seed = cfg->fill.seed;
  r->m = matcher_new(&mc, &cfg->instruments, &r->clock);

  r->accts = xcalloc(cfg->naccounts ? cfg->naccounts : 1, sizeof *r->accts);
  fx start = 0;
  for (size_t i = 0; i < cfg->naccounts; i++) {
    r->accts[i].id = cfg->accounts[i].id;
    r->accts[i].cash = cfg->accounts[i].cash;
    start += cfg->accounts[i].cash;
  }
  engine_config ec = {0};
  ec.instruments = &cfg->instruments;
  ec.clock = &r->clock;
  ec.log = logf ? &r->log : NULL;
  /* the broker: the paper exchange, or a live broker's adapter (the
   * paper exchange then stays empty: checkpoints keep one shape) */
  const broker_ops *bops = live ? live : &paper_broker_ops;
  void *bctx = live ? live_ctx : paper_ctx(r->m);
  ec.broker = bops;
  ec.broker_ctx = bctx;
  if (st) { /* journal everything; orders wait until it is durable */
    journal_options jo;
    memset(&jo, 0, sizeof jo);
    jo.stepped = true; /* steps commit whole, each with its checkpoint */
    r->j = journal_new(st, &jo);
    journal_on_state(r->j, on_journal_state, r);
    r->w = wal_new(bops, bctx, wal_barrier, r);
    r->jh.j = r->j;
    r->jh.ins = &cfg->instruments;
  } else if (stepped) { /* the same steps without a journal */
    r->w = wal_new(bops, bctx, NULL, NULL);
  }
  if (r->w) {
    ec.broker = wal_ops(r->w);
    ec.broker_ctx = wal_ctx(r->w);
  }
  ec.fees.per_share = cfg->fees.per_share;
  ec.fees.per_order = cfg->fees.per_order;
  ec.fees.bps = cfg->fees.bps;
  ec.fees.min_per_order = cfg->fees.min_per_order;
  ec.fees.max_pct = cfg->fees.max_pct;
  ec.accounts = r->accts;
  ec.naccounts = cfg->naccounts;
  ec.hooks.ctx = r;
  ec.hooks.order_changed = order_changed;
  ec.hooks.trade_closed = trade_closed;
  ec.hooks.fill = on_fill;
  ec.hooks.risk_decision = on_risk;
  ec.hooks.alert = on_alert;
  ec.risk = &r->rcfg.rc;
  r->e = engine_new(&ec);
  r->jh.e = r->e;

  size_t added = 0;
  int rc = runner_risk_config(cfg, &r->rcfg);
  if (rc) {
    snprintf(err, errcap, "invalid risk limits in the configuration");
    runner_release(r);
    return rc;
  }
  for (size_t i = 0; i < cfg->nstrategies; i++) {
    const cfg_strategy *cs = &cfg->strategies[i];
    if (!cs->enabled)
      continue;
    engine_strategy es = {cs->def,  cs->id,         (uint32_t)cs->account,
                          cs->syms, cs->nsyms,      cs->allocation,
                          cs->params};
    rc = engine_add_strategy(r->e, &es);
    if (rc) {
      snprintf(err, errcap, "strategy '%s': %s", cs->id, dto_strerror(rc));
      runner_release(r);
      return rc;
    }
    added++;
  }
  if (added == 0) {
    snprintf(err, errcap, "no enabled strategies in the configuration");
    runner_release(r);
    return DTO_ECONFIG;
  }
  rc = engine_start(r->e);
  if (rc) {
    snprintf(err, errcap, "a strategy failed to start: %s", dto_strerror(rc));
    runner_release(r);
    return rc;
  }
  r->pf = engine_portfolio(r->e); /* made by engine_start, kept after */
  risk_set_observer(engine_risk_mut(r->e), on_risk_change, r);
  metrics_acc_day(&r->acc, start);
  r->sacc = xcalloc(added, sizeof *r->sacc);
  for (size_t i = 0; i < added; i++)
    strategy_day(&r->sacc[i], portfolio_strategy_equity(engine_portfolio(r->e),
                                                        (uint32_t)i));
  return 0;
}

int runner_init(runner *r, const dto_config *cfg, FILE *logf, dto_time t0,
                store *st, char *err, size_t errcap) {
  return init(r, cfg, logf, t0, st, false, NULL, NULL, err, errcap);
}

int runner_init_session(runner *r, const dto_config *cfg, FILE *logf,
                        dto_time t0, store *st, char *err, size_t errcap) {
  return init(r, cfg, logf, t0, st, true, NULL, NULL, err, errcap);
}

int runner_init_live(runner *r, const dto_config *cfg, FILE *logf,
                     dto_time t0, store *st, const broker_ops *ops, void *ctx,
                     char *err, size_t errcap) {
  return init(r, cfg, logf, t0, st, true, ops, ctx, err, errcap);
}

dto_time runner_reconcile_since(runner *r) {
  /* every fill of every working order: from the oldest one's creation
   * (fills are matched per order, exactly, so a wide window is safe) */
  dto_time since = clock_now(&r->clock);
  const oms *m = engine_oms(r->e);
  size_t n;
  const order_id *ids = oms_open_ids(m, &n);
  for (size_t i = 0; i < n; i++) {
    const order *o = oms_cget(m, ids[i]);
    if (o && o->created < since)
      since = o->created;
  }
  return since - 5 * DTO_NS_PER_MIN;
}

void runner_live_time(runner *r, dto_time t) {
  if (t > clock_now(&r->clock))
    sim_clock_set(&r->sc, t);
}

int runner_release(runner *r) {
  int rc = 0;
  if (r->j) {
    runner_sync(r);
    /* the steps grouped since the last checkpoint end here: closing drops
     * an unfinished step */
    if (r->jh.last != r->ckpt_mark && runner_checkpoint(r)) {
      log_line cl;
      if (log_begin(&cl, &r->log, LOG_ERROR, "checkpoint.failed")) {
        log_str(&cl, "at", "close");
        log_end(&cl);
      }
    }
    if (r->jh.refused > r->jrefused_logged) {
      log_line ll;
      if (log_begin(&ll, &r->log, LOG_ERROR, "store.items_lost")) {
        log_int(&ll, "items", (int64_t)(r->jh.refused - r->jrefused_logged));
        log_end(&ll);
      }
      r->jrefused_logged = r->jh.refused;
    }
    rc = journal_close(r->j); /* flushes; closes the store */
    r->j = NULL;
    log_line l;
    if (rc && log_begin(&l, &r->log, LOG_ERROR, "store.close_failed")) {
      log_str(&l, "error", dto_strerror(rc));
      log_int(&l, "refused_items", (int64_t)r->jh.refused);
      log_end(&l);
    }
  }
  wal_free(r->w);
  free(r->sacc);
  engine_free(r->e);
  matcher_free(r->m);
  free(r->accts);
  free(r->samples);
  dbuf_release(&r->orders_csv);
  dbuf_release(&r->fills_csv);
  dbuf_release(&r->ckpt);
  free(r->trades);
  runner_risk_release(&r->rcfg);
  for (size_t i = 0; r->aggs && i < r->cfg->instruments.n; i++)
    bar_agg_free(r->aggs[i]);
  free(r->aggs);
  log_close(&r->log); /* what the rate limit held back is summarised */
  memset(r, 0, sizeof *r);
  return rc;
}

fx runner_equity(const runner *r) {
  fx eq = 0;
  const portfolio *p = engine_portfolio(r->e);
  for (size_t a = 0; a < r->cfg->naccounts; a++)
    eq += portfolio_account_equity(p, (uint32_t)a);
  return eq;
}

/* Tell the sink the sample at t, which is outside the interval [lo, hi)
 * of the last one told (or the first): unless hi saturated at the end of
 * dto_time's range and t is still in that interval, a new one begins. */
static DTO_NOINLINE void tell_sample(runner *r, dto_time t, fx eq) {
  dto_time iv = r->sink.sample_every;
  if (iv && r->sq_lo <= r->sq_hi && t >= r->sq_hi &&
      floordiv64(t, iv) == floordiv64(r->sq_last, iv)) {
    r->sq_held = true;
    return;
  }
  r->sink.sample(r->sink.ctx, r, t, eq);
  r->sq_held = false;
  r->sq_last = t;
  if (iv) { /* the interval floordiv64(t, iv), as bounds */
    dto_time mod = t % iv;
    if (mod < 0)
      mod += iv;
    r->sq_lo = t < INT64_MIN + mod ? INT64_MIN : t - mod; /* saturated */
    r->sq_hi = r->sq_lo > INT64_MAX - iv ? INT64_MAX : r->sq_lo + iv;
  }
}

/* Commit the pending equity sample (state as of r->pend_t). */
static DTO_ALWAYS_INLINE void commit(runner *r) {
  if (!r->pend)
    return;
  r->pend = false;
  fx eq;
  bool exposed;
  portfolio_total_marks(r->pf, &eq, &exposed);
  r->exposed += exposed;
  metrics_acc_sample(&r->acc, r->pend_t, eq);
  if (r->sink.sample) {
    /* most samples of a long run fall in the last told one's interval */
    if (r->pend_t < r->sq_lo || r->pend_t >= r->sq_hi)
      tell_sample(r, r->pend_t, eq);
    else
      r->sq_held = true;
  }
  if (!r->keep_curve)
    return;
  r->samples = xgrow(r->samples, &r->scap, r->nsamples + 1, sizeof *r->samples);
  r->samples[r->nsamples++] = (eq_sample){r->pend_t, eq};
}

static void day_end(runner *r) {
  metrics_acc_day(&r->acc, runner_equity(r));
  const portfolio *p = engine_portfolio(r->e);
  for (size_t i = 0; i < engine_nstrategies(r->e); i++)
    strategy_day(&r->sacc[i], portfolio_strategy_equity(p, (uint32_t)i));
}

/* The local day of an event at t of instrument in, which is not that of
 * the last event's: the day's span for the next ones, and the end of the
 * last day if this is another. */
static DTO_NOINLINE void new_day(runner *r, const instrument *in, dto_time t) {
  int64_t day = calendar_day_span(in->cal, t, &r->dc_from, &r->dc_until);
  r->dc_cal = in->cal;
  r->dc_day = day;
  if (day != r->day) {
    if (r->day != INT64_MIN)
      day_end(r);
    r->day = day;
  }
}

/* Curve bookkeeping before an event of sym at time t whose state is
 * complete at time end.  Most events fall in the last event's local day:
 * no calendar arithmetic then. */
static inline void book(runner *r, sym_id sym, dto_time t, dto_time end) {
  if (r->pend && end != r->pend_t)
    commit(r);
  const instrument *in = &r->cfg->instruments.v[sym];
  if (DTO_LIKELY(in->cal == r->dc_cal && t >= r->dc_from && t < r->dc_until &&
                 r->dc_day == r->day))
    return;
  new_day(r, in, t);
}

void runner_bar(runner *r, const bar *b) {
  dto_time end = bar_end(b);
  if (r->w) /* a fault seen since the last event halts this one's orders */
    runner_sync(r);
  book(r, b->sym, b->ts, end);
  engine_bar(r->e, b, &r->sc);
  r->feed_pos++;
  r->last_bar = *b;
  r->bars++;
  if (r->j || r->w) /* else runner_sync has nothing to do */
    runner_sync(r);
  r->pend = true;
  r->pend_t = end;
}

/* Without a journal or steps (r->j and r->w are set at init only), a
 * bar's runner_sync calls do nothing, and nothing reads feed_pos,
 * last_bar or bars between two bars (they go into checkpoints, which only
 * runner_sync takes): the counters move once for the batch. */
void runner_bars(runner *r, const bar *v, size_t n) {
  if (!n)
    return;
  if (r->j || r->w) {
    for (size_t i = 0; i < n; i++)
      runner_bar(r, &v[i]);
    return;
  }
  for (const bar *b = v, *last = v + n; b < last; b++) {
    dto_time end = bar_end(b);
    book(r, b->sym, b->ts, end);
    engine_bar(r->e, b, &r->sc);
    r->pend = true;
    r->pend_t = end;
  }
  r->feed_pos += n;
  r->last_bar = v[n - 1];
  r->bars += n;
}

/* A bar built from trades: the paper exchange has seen the trades already,
 * so only the strategies see the bar, when it is complete. */
static void agg_bar(runner *r, const bar *b) {
  dto_time end = bar_end(b);
  book(r, b->sym, b->ts, end);
  sim_clock_set(&r->sc, end);
  engine_on_bar(r->e, b);
  r->pend = true;
  r->pend_t = clock_now(&r->clock);
  r->bars++;
}

int runner_trade(runner *r, const trade *t) {
  if (!r->aggs) {
    r->aggs = xcalloc(r->cfg->instruments.n, sizeof *r->aggs);
    for (size_t i = 0; i < r->cfg->instruments.n; i++) {
      int rc = bar_agg_new(r->cfg->instruments.v[i].cal, r->bar_interval,
                           false, (sym_id)i, &r->aggs[i]);
      if (rc)
        return rc;
    }
  }
  book(r, t->sym, t->ts, t->ts);
  sim_clock_set(&r->sc, t->ts);
  engine_on_time(r->e, t->ts);
  engine_on_trade(r->e, t);
  runner_sync(r);
  r->pend = true;
  r->pend_t = t->ts;
  r->trade_events++;
  bar out;
  size_t nout = 0;
  int rc = bar_agg_add_trade(r->aggs[t->sym], t, &out, 1, &nout);
  if (rc == 0 && nout)
    agg_bar(r, &out);
  return rc;
}

static void flush_aggs(runner *r) {
  for (size_t i = 0; r->aggs && i < r->cfg->instruments.n; i++) {
    bar out;
    size_t nout = 0;
    while (bar_agg_flush(r->aggs[i], INT64_MAX, &out, 1, &nout) == 0 && nout)
      agg_bar(r, &out);
  }
}

void runner_finish(runner *r) {
  flush_aggs(r);
  engine_stop(r->e);
  runner_sync(r);
  commit(r);
  if (r->sq_held) { /* the last sample, not told: r->acc's last one */
    r->sq_held = false;
    r->sink.sample(r->sink.ctx, r, r->acc.last_t, r->acc.last_eq);
  }
  if (r->day != INT64_MIN)
    day_end(r);
}
