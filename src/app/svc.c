/* svc.c - the command path's hand-over and the read snapshots. */
#define _POSIX_C_SOURCE 200809L
#include "app/svc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/timeutil.h"

static const char *const op_names[SVC_OP_COUNT] = {
#define DTO__SVC_OP_STR(name, str) str,
    SVC_OP_MAP(DTO__SVC_OP_STR)
#undef DTO__SVC_OP_STR
};

const char *svc_op_name(enum svc_op op) {
  return (unsigned)op < SVC_OP_COUNT ? op_names[op] : "unknown";
}

int svc_op_parse(const char *s, enum svc_op *out) {
  for (int i = 0; i < SVC_OP_COUNT; i++)
    if (!strcmp(s, op_names[i])) {
      *out = (enum svc_op)i;
      return 0;
    }
  return DTO_EINVAL;
}

static const char *const status_names[SVC_STATUS_COUNT] = {
    "ok", "bad_request", "not_found", "conflict", "refused", "busy"};

const char *svc_status_name(enum svc_status s) {
  return (unsigned)s < SVC_STATUS_COUNT ? status_names[s] : "unknown";
}

void svc_answer_set(svc_answer *a, enum svc_status st, const char *field,
                    const char *fmt, ...) {
  a->status = st;
  snprintf(a->field, sizeof a->field, "%s", field ? field : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->message, sizeof a->message, fmt, ap);
  va_end(ap);
}

/* ---- snapshots ----------------------------------------------------------- */

static void json_fx(dbuf *b, const char *key, fx v) {
  dbuf_printf(b, ",\"%s\":\"", key);
  dbuf_addfx(b, v);
  dbuf_addc(b, '"');
}

static void json_time(dbuf *b, const char *key, dto_time t) {
  char ts[48];
  dbuf_printf(b, ",\"%s\":", key);
  if (!t) {
    dbuf_adds(b, "null");
    return;
  }
  time_format(t, ts, sizeof ts);
  dbuf_json_str(b, ts);
}

static const char *tf(bool v) { return v ? "true" : "false"; }

void svc_snap_json(const svc_snap *s, dbuf *b) {
  dbuf_printf(b, "{\"seq\":%" PRIu64 ",\"state\":", s->seq);
  dbuf_json_str(b, s->state);
  dbuf_printf(b, ",\"clock\":\"%s\"", s->clock);
  json_time(b, "now", s->now);
  json_time(b, "published", s->real_now);
  dbuf_printf(b,
              ",\"kill_switch\":%s,\"maintenance\":%s,\"store_fault\":%s,"
              "\"unreconciled\":%s,\"counters\":{\"events\":%" PRIu64
              ",\"bars\":%" PRIu64 ",\"trades\":%" PRIu64
              ",\"quotes\":%" PRIu64 ",\"reports\":%" PRIu64
              ",\"commands\":%" PRIu64 ",\"orders\":%" PRIu64
              ",\"fills\":%" PRIu64 ",\"refusals\":%" PRIu64
              ",\"working_orders\":%" PRIu64 ",\"conflated\":%" PRIu64
              ",\"queue_depth\":%" PRIu64 ",\"queue_timeouts\":%" PRIu64 "}",
              tf(s->killed), tf(s->maintenance), tf(s->store_fault),
              tf(s->unreconciled), s->events, s->bars, s->trades, s->quotes,
              s->reports, s->commands, s->orders, s->fills, s->refusals,
              s->working, s->conflated, s->queue_depth, s->queue_timeouts);
  dbuf_adds(b, ",\"accounts\":[");
  for (size_t i = 0; i < s->naccounts; i++) {
    const svc_snap_account *a = &s->accounts[i];
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, a->id);
    json_fx(b, "cash", a->cash);
    json_fx(b, "equity", a->equity);
    json_fx(b, "day_pnl", a->day_pnl);
    json_fx(b, "realized", a->realized);
    json_fx(b, "fees", a->fees);
    dbuf_printf(b, ",\"mode\":\"%s\"}", a->mode);
  }
  dbuf_adds(b, "],\"positions\":[");
  for (size_t i = 0; i < s->npositions; i++) {
    const svc_snap_position *p = &s->positions[i];
    dbuf_adds(b, i ? ",{\"account\":" : "{\"account\":");
    dbuf_json_str(b, s->accounts[p->account].id);
    dbuf_adds(b, ",\"symbol\":");
    dbuf_json_str(b, s->instruments[p->sym].symbol);
    json_fx(b, "qty", p->qty);
    json_fx(b, "cost", p->cost);
    json_fx(b, "last", p->last);
    json_fx(b, "unrealized", p->unrealized);
    json_fx(b, "realized", p->realized);
    dbuf_addc(b, '}');
  }
  dbuf_adds(b, "],\"orders\":[");
  for (size_t i = 0; i < s->norders; i++) {
    const svc_snap_order *o = &s->orders_v[i];
    dbuf_printf(b, "%s{\"id\":%" PRIu64 ",\"client_order_id\":",
                i ? "," : "", o->id);
    dbuf_json_str(b, o->cloid);
    dbuf_adds(b, ",\"account\":");
    dbuf_json_str(b, s->accounts[o->account].id);
    dbuf_adds(b, ",\"strategy\":");
    dbuf_json_str(b, s->strategies[o->strategy].id);
    dbuf_adds(b, ",\"symbol\":");
    dbuf_json_str(b, s->instruments[o->sym].symbol);
    dbuf_printf(b, ",\"side\":\"%s\",\"type\":\"%s\",\"tif\":\"%s\","
                   "\"state\":\"%s\"",
                o->side, o->type, o->tif, o->state);
    json_fx(b, "qty", o->qty);
    json_fx(b, "filled", o->filled);
    json_fx(b, "price", o->price);
    json_fx(b, "stop", o->stop);
    json_time(b, "created", o->created);
    dbuf_addc(b, '}');
  }
  dbuf_adds(b, "],\"strategies\":[");
  for (size_t i = 0; i < s->nstrategies; i++) {
    const svc_snap_strategy *st = &s->strategies[i];
    dbuf_adds(b, i ? ",{\"id\":" : "{\"id\":");
    dbuf_json_str(b, st->id);
    dbuf_adds(b, ",\"account\":");
    dbuf_json_str(b, s->accounts[st->account].id);
    json_fx(b, "equity", st->equity);
    json_fx(b, "day_pnl", st->day_pnl);
    json_fx(b, "realized", st->realized);
    json_fx(b, "fees", st->fees);
    dbuf_printf(b, ",\"mode\":\"%s\",\"paused\":%s}", st->mode,
                tf(st->paused));
  }
  dbuf_adds(b, "],\"instruments\":[");
  for (size_t i = 0; i < s->ninstruments; i++) {
    const svc_snap_instrument *in = &s->instruments[i];
    dbuf_adds(b, i ? ",{\"symbol\":" : "{\"symbol\":");
    dbuf_json_str(b, in->symbol);
    json_time(b, "last_event", in->last_event);
    if (in->last_event)
      dbuf_printf(b, ",\"age_ms\":%" PRId64,
                  (s->now - in->last_event) / 1000000);
    else
      dbuf_adds(b, ",\"age_ms\":null");
    json_fx(b, "last", in->last);
    dbuf_printf(b, ",\"halted\":%s}", tf(in->halted));
  }
  dbuf_adds(b, "]}");
}

void svc_init(svc *s, inq *q) {
  memset(s, 0, sizeof *s);
  s->q = q;
  atomic_flag_clear(&s->lock);
  s->submit_timeout_ns = 2 * DTO_NS_PER_SEC;
  atomic_init(&s->closed, false);
  atomic_init(&s->stop_asked, 0);
}

bool svc_stop_asked(svc *s) { return atomic_load(&s->stop_asked) > 0; }

void svc_close(svc *s) { atomic_store(&s->closed, true); }

static void spin_lock(svc *s) {
  while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire))
    ;
}

static void spin_unlock(svc *s) {
  atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

void svc_snap_put(svc_snap *snap) {
  if (snap && atomic_fetch_sub_explicit(&snap->refs, 1,
                                        memory_order_acq_rel) == 1)
    free(snap);
}

void svc_publish(svc *s, svc_snap *snap) {
  atomic_init(&snap->refs, 1); /* svc's own */
  snap->seq = ++s->next_seq;
  spin_lock(s);
  svc_snap *old = s->cur;
  s->cur = snap;
  spin_unlock(s);
  svc_snap_put(old); /* freed here only when no reader holds it */
}

svc_snap *svc_snap_get(svc *s) {
  spin_lock(s);
  svc_snap *p = s->cur;
  if (p)
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
  spin_unlock(s);
  return p;
}

void svc_release(svc *s) {
  spin_lock(s);
  svc_snap *p = s->cur;
  s->cur = NULL;
  spin_unlock(s);
  svc_snap_put(p);
}

/* ---- commands ------------------------------------------------------------ */

static void req_put(svc_req *r) {
  if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
  }
}

void svc_req_finish(svc_req *r) {
  pthread_mutex_lock(&r->mu);
  r->done = true;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  req_put(r);
}

void svc_submit(svc *s, const svc_cmd *cmd, svc_answer *ans,
                int64_t timeout_ns) {
  memset(ans, 0, sizeof *ans);
  if ((unsigned)cmd->op >= SVC_OP_COUNT) {
    svc_answer_set(ans, SVC_BAD_REQUEST, "cmd", "unknown command");
    return;
  }
  if (atomic_load(&s->closed)) {
    svc_answer_set(ans, SVC_CONFLICT, NULL, "the service is stopping");
    return;
  }
  if (cmd->op == SVC_STATUS) {
    svc_answer_set(ans, SVC_OK, NULL, "ok");
    return;
  }
  /* A stop acts at once: the engine stops playing market data now, not
   * after the events already queued before the command */
  if (cmd->op == SVC_STOP)
    atomic_fetch_add(&s->stop_asked, 1);
  svc_req *r = xcalloc(1, sizeof *r);
  r->cmd = *cmd;
  atomic_init(&r->refs, 2); /* ours and the engine's */
  pthread_mutex_init(&r->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &ca);
  pthread_condattr_destroy(&ca);
  inq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = INQ_COMMAND;
  ev.u.command.id = atomic_fetch_add(&s->next_cmd, 1) + 1;
  ev.u.command.req = r;
  if (inq_push(s->q, &ev, s->submit_timeout_ns) != 0) {
    if (cmd->op == SVC_STOP) /* it will not come: play on */
      atomic_fetch_sub(&s->stop_asked, 1);
    atomic_fetch_add(&s->overflows, 1);
    req_put(r); /* the engine's reference: it never got it */
    req_put(r);
    svc_answer_set(ans, SVC_BUSY, NULL,
                   "the engine's queue is full; the command was not taken");
    return;
  }
  /* wait in slices, so that a service that stops answers at once */
  int64_t end = clock_mono_ns() + timeout_ns;
  bool done = false, closed = false;
  pthread_mutex_lock(&r->mu);
  while (!(done = r->done)) {
    int64_t now = clock_mono_ns();
    if ((closed = atomic_load(&s->closed)) || now >= end)
      break;
    int64_t slice = end - now < 50000000 ? end - now : 50000000;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    int64_t ns = (int64_t)dl.tv_nsec + slice;
    dl.tv_sec += (time_t)(ns / DTO_NS_PER_SEC);
    dl.tv_nsec = (long)(ns % DTO_NS_PER_SEC);
    pthread_cond_timedwait(&r->cv, &r->mu, &dl);
  }
  if (done)
    *ans = r->ans;
  pthread_mutex_unlock(&r->mu);
  if (!done && closed)
    svc_answer_set(ans, SVC_CONFLICT, NULL, "the service is stopping");
  else if (!done)
    svc_answer_set(ans, SVC_BUSY, NULL,
                   "no answer from the engine in time; the command may "
                   "still be carried out");
  req_put(r);
}
