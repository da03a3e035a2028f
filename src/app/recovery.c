/* recovery.c - rebuild the engine's books from the journal. */
#include "app/recovery.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "app/state.h"

static int on_position(void *arg, const store_position *p) {
  recovery *rc = arg;
  rc->pos = xgrow(rc->pos, &rc->poscap, rc->npos + 1, sizeof *rc->pos);
  rc->pos[rc->npos++] = *p;
  return 0;
}

static int on_order(void *arg, const store_order *o) {
  recovery *rc = arg;
  rc->ord = xgrow(rc->ord, &rc->ordcap, rc->nord + 1, sizeof *rc->ord);
  rc->ord[rc->nord++] = *o;
  return 0;
}

int recovery_load(store *s, recovery *rc, char *err, size_t cap) {
  memset(rc, 0, sizeof *rc);
  char msg[256];
  int e = store_last_event(s, &rc->last_seq, &rc->last_time);
  if (!e && rc->last_seq > 0)
    e = store_list_positions(s, on_position, rc);
  if (!e && rc->last_seq > 0)
    e = store_list_orders(s, false, on_order, rc);
  if (!e && rc->last_seq > 0) {
    dto_time t;
    int se = store_snapshot_latest(s, &rc->ckpt_seq, &t, &rc->ckpt,
                                   &rc->ckpt_len);
    if (se && se != DTO_ENOENT)
      e = se;
  }
  if (e)
    snprintf(err, cap, "cannot read the journal: %s",
             store_errmsg(s, msg, sizeof msg));
  return e;
}

void recovery_release(recovery *rc) {
  free(rc->pos);
  free(rc->ord);
  free(rc->ckpt);
  memset(rc, 0, sizeof *rc);
}

static bool terminal_name(const char *state) {
  enum order_state st;
  for (st = 0; st < OS_COUNT; st++)
    if (!strcmp(order_state_name(st), state))
      return order_is_terminal(st);
  return true; /* an unknown state is not restored as working */
}

/* Two working rows that are the exits of one bracket. */
static bool is_pair(const store_order *a, const store_order *b) {
  bool types = (!strcmp(a->type, "limit") && !strcmp(b->type, "stop")) ||
               (!strcmp(a->type, "stop") && !strcmp(b->type, "limit"));
  return types && !terminal_name(b->state) && !strcmp(a->tif, "gtc") &&
         !strcmp(b->tif, "gtc") && !strcmp(a->account, b->account) &&
         !strcmp(a->strategy, b->strategy) && !strcmp(a->symbol, b->symbol) &&
         !strcmp(a->side, b->side) &&
         a->qty - a->filled == b->qty - b->filled;
}

static int restore_one(runner *r, const store_order *o, order_id peer) {
  const instrument_table *ins = &r->cfg->instruments;
  order t;
  memset(&t, 0, sizeof t);
  t.peer = peer;
  t.sym = instruments_find(ins, o->symbol);
  int e = t.sym == SYM_NONE ? DTO_ENOENT : 0;
  e = e ? e : order_side_parse(o->side, &t.side);
  e = e ? e : order_type_parse(o->type, &t.type);
  e = e ? e : tif_parse(o->tif, &t.tif);
  if (e)
    return e;
  t.qty = o->qty;
  t.limit_price = o->limit_price;
  t.stop_price = o->stop_price;
  t.filled = o->filled;
  fx_mul(o->filled, o->avg_price, &t.notional);
  t.fees = o->fees;
  return engine_restore_order(r->e, o->account, o->strategy, o->cloid, &t);
}

/* The kill switch a person set while dto was down (dto kill): applied
 * before anything restored is sent. */
static void apply_state_kill(runner *r) {
  char dir[4096], err[512];
  state_dir(r->cfg, dir, sizeof dir);
  run_state st;
  int rc = state_read(dir, &st, err, sizeof err); /* fails closed */
  if ((rc || st.killed) && !engine_killed(r->e))
    engine_kill(r->e, true, st.by[0] ? st.by : "state file");
}

static void reconcile_and_log(runner *r, recovery *rc, size_t npos,
                              size_t nopen) {
  /* a live broker: every fill of the working orders, matched per order;
   * commands held in the checkpoint's step are on their way (sent again:
   * not missing) */
  reconcile_opts ro = {!r->cfg->run.adopt_unknown,
                       r->cfg->run.position_tolerance,
                       r->live ? runner_reconcile_since(r) : rc->last_time,
                       r->unsent, r->unsent_ctx};
  reconcile_result rr;
  engine_reconcile(r->e, &ro, &rr);
  runner_sync(r);
  log_line l;
  if (log_begin(&l, &r->log, LOG_INFO, "recovery")) {
    log_int(&l, "events", rc->last_seq);
    log_time(&l, "resume_at", rc->last_time);
    log_int(&l, "open_positions", (int64_t)npos);
    log_int(&l, "working_orders", (int64_t)nopen);
    log_int(&l, "orders_known", (int64_t)rc->nord);
    log_str(&l, "checkpoint", rc->warm ? "yes" : "no");
    log_int(&l, "feed_position", (int64_t)r->feed_pos);
    log_str(&l, "reconciled", rr.error ? "no" : "yes");
    log_end(&l);
  }
}

/* Warm: the checkpoint puts everything back as it was. */
static int apply_checkpoint(runner *r, recovery *rc, char *err, size_t cap) {
  int e = runner_restore_checkpoint(r, rc->ckpt, rc->ckpt_len, err, cap);
  if (e)
    return e;
  r->ckpt_seq = rc->ckpt_seq;
  rc->warm = true;
  apply_state_kill(r);
  runner_sync(r); /* the commands of the checkpoint's step go out again */
  size_t npos = 0;
  const portfolio *pf = engine_portfolio(r->e);
  for (size_t a = 0; a < r->cfg->naccounts; a++)
    for (size_t y = 0; y < r->cfg->instruments.n; y++)
      npos += portfolio_account_pos(pf, (uint32_t)a, (sym_id)y)->qty != 0;
  reconcile_and_log(r, rc, npos, engine_working_orders(r->e));
  return 0;
}

int recovery_resume_at(const runner *r, const recovery *rc, const bar *bars,
                       size_t nbars, size_t *first, char *err, size_t cap) {
  size_t i = 0;
  if (rc->warm) {
    i = (size_t)r->feed_pos;
    if (i > nbars ||
        (i > 0 && (bars[i - 1].ts != r->last_bar.ts ||
                   bars[i - 1].sym != r->last_bar.sym ||
                   bars[i - 1].close != r->last_bar.close))) {
      snprintf(err, cap,
               "the feed does not match the journal: its checkpoint stopped "
               "after bar %llu, which this feed does not have; run with the "
               "data the journal was written with",
               (unsigned long long)r->feed_pos);
      return DTO_ESTATE;
    }
  } else if (rc->last_seq > 0) {
    while (i < nbars && bars[i].ts < rc->last_time)
      i++;
  }
  *first = i;
  return 0;
}

int recovery_apply(runner *r, recovery *rc, char *err, size_t cap) {
  if (rc->ckpt)
    return apply_checkpoint(r, rc, err, cap);
  const instrument_table *ins = &r->cfg->instruments;
  size_t npos = 0, nopen = 0;
  for (size_t i = 0; i < rc->npos; i++) {
    const store_position *p = &rc->pos[i];
    sym_id sym = instruments_find(ins, p->symbol);
    position pos = {p->qty, p->cost, p->realized, p->fees, -1};
    int e = sym == SYM_NONE
                ? DTO_ENOENT
                : engine_restore_position(r->e, p->account, p->strategy, sym,
                                          &pos);
    if (e == DTO_EOVERFLOW) {
      snprintf(err, cap,
               "the journal's position of account '%s', strategy '%s', "
               "symbol '%s' holds values out of range (a damaged store)",
               p->account, p->strategy, p->symbol);
      return e;
    }
    if (e) {
      snprintf(err, cap,
               "the journal holds a position of account '%s', strategy "
               "'%s', symbol '%s' that this configuration does not have",
               p->account, p->strategy, p->symbol);
      return e;
    }
    npos += p->qty != 0;
  }
  for (size_t i = 0; i < rc->nord; i++)
    engine_note_cloid(r->e, rc->ord[i].cloid);
  /* The two exits of a bracket cancel each other.  The journal keeps them
   * as two working GTC orders of one strategy and symbol on one side, a
   * limit and a stop for the same quantity; dto makes no other such pair,
   * so they are linked again here, next to each other. */
  bool *done = xcalloc(rc->nord ? rc->nord : 1, sizeof *done);
  int e = 0;
  for (size_t i = 0; i < rc->nord && !e; i++) {
    if (done[i] || terminal_name(rc->ord[i].state))
      continue;
    size_t pair = SIZE_MAX;
    for (size_t j = i + 1; j < rc->nord && pair == SIZE_MAX; j++)
      if (!done[j] && is_pair(&rc->ord[i], &rc->ord[j]))
        pair = j;
    size_t idx[2] = {i, pair};
    order_id first = (order_id)oms_count(engine_oms(r->e));
    for (int k = 0; k < (pair == SIZE_MAX ? 1 : 2) && !e; k++) {
      const store_order *o = &rc->ord[idx[k]];
      done[idx[k]] = true;
      order_id peer = pair == SIZE_MAX ? ORDER_NONE
                      : k == 0         ? first + 1
                                       : first;
      e = restore_one(r, o, peer);
      if (e)
        snprintf(err, cap, "cannot restore working order %s: %s", o->cloid,
                 dto_strerror(e));
      else
        nopen++;
    }
  }
  free(done);
  if (e)
    return e;
  apply_state_kill(r);
  runner_sync(r); /* the restored orders reach the paper exchange */
  /* the paper exchange lives in the process: its positions come back from
   * the same journal (the accounts' rows) */
  fx *net = xcalloc(ins->n ? ins->n : 1, sizeof *net);
  for (size_t i = 0; i < rc->npos; i++) {
    const store_position *p = &rc->pos[i];
    sym_id sym = instruments_find(ins, p->symbol);
    if (!p->strategy[0] && sym != SYM_NONE)
      net[sym] += p->qty;
  }
  for (size_t y = 0; y < ins->n; y++)
    matcher_restore_position(r->m, (sym_id)y, net[y]);
  free(net);
  /* then the books must agree with the broker before anything trades */
  log_line l;
  if (log_begin(&l, &r->log, LOG_WARN, "recovery.cold")) {
    log_str(&l, "reason", "the journal has no checkpoint: strategies start "
                          "without their state");
    log_end(&l);
  }
  reconcile_and_log(r, rc, npos, nopen);
  return 0;
}
