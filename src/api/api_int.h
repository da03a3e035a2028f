/* api_int.h - what the HTTP API's files share: the server's state, one
 * request's context, answers and JSON bodies. */
#ifndef DTO_API_API_INT_H
#define DTO_API_API_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/httpd.h"
#include "core/log.h"
#include "store/store.h"

struct api {
  cfg_api c;            /* strings owned */
  svc *sv;
  store *st;            /* users, sessions, tokens, audit, journal reads */
  pthread_mutex_t st_mu; /* one SQLite connection: one thread at a time */
  pthread_mutex_t ord_mu; /* orders with an Idempotency-Key, one at a time */
  httpd *http;
  auth_limiter *ulim, *iplim;
  const char *clock_file; /* DTO_API_CLOCK_FILE, or NULL */
  atomic_bool stopping;   /* streams end */
  dto_log log;            /* api.request lines (c.logf, c.log_min) */
  dto_clock logclock;
  atomic_uint_fast64_t next_req; /* request ids: salt, then a count */
  uint32_t req_salt;
  json_t *strategies;     /* the configuration's strategies by id, or NULL */
  /* failed logins of names that are no user, counted and locked as users'
   * are (under st_mu), so that a lockout does not tell which names exist */
  struct ghost {
    char name[STORE_USER_MAX + 1];
    int64_t failures;
    dto_time locked_until;
  } ghosts[256];
  /* API tokens checked in the last second (a hot script's every request
   * would otherwise be a store lookup under st_mu); emptied by every
   * change the API makes to tokens or users, so a revocation here counts
   * at once, one made by `dto token revoke` within a second */
  pthread_mutex_t gate_mu; /* requests handled at once: busy <= gate */
  pthread_cond_t gate_cv;
  int busy, gate;
  pthread_mutex_t tc_mu;
  struct tcache {
    char hash[65];
    int64_t at; /* monotonic ns */
    store_token tok;
    store_user u;
  } tc[64];
};

/* Leave the gate while waiting for something else (the engine's answer to
 * a command), and come back. */
void api_gate_enter(api *a);
void api_gate_leave(api *a);

/* Forget every cached token (after a change to tokens or users). */
void api_tokens_changed(api *a);

/* Route flags. */
enum {
  R_PUBLIC = 1u << 0,  /* no authentication */
  R_BODY = 1u << 1,    /* a JSON object body is required */
  R_SESSION = 1u << 2, /* a cookie session is required (not a token) */
  R_METRICS = 1u << 3, /* public unless monitoring.metrics_token */
  R_NOGATE = 1u << 4,  /* answered without waiting for the gate (health) */
};

typedef struct ctx {
  api *a;
  const httpd_req *q;
  httpd_resp *r;
  dto_time now;
  const char *param; /* the route's {id}, or NULL */
  json_t *body;      /* the parsed JSON object, or NULL */
  /* who is asking */
  bool authed, via_token, via_session;
  store_user u;
  enum auth_role role;
  int perms; /* a bit per enum auth_perm: the role's, cut by a token's
                scope */
  store_session ses;
  store_token tok;
  char actor[STORE_USER_MAX + 8]; /* the user's name, for the audit */
} ctx;

typedef void (*route_fn)(ctx *c);

/* ---- answers (api.c) ---- */
/* An error answer {"error":{"code","message","field"}}. */
void api_fail(ctx *c, int status, const char *code, const char *field,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The answer's body is this JSON text (status stays as set, 200 unless). */
void api_json(ctx *c, int status, const char *text);
/* An ISO time ("2026-12-07T16:00:00Z") as a JSON member ",\"key\":..." or
 * null for 0. */
void api_time_member(dbuf *b, const char *key, dto_time t);
void api_fx_member(dbuf *b, const char *key, fx v);

/* ---- bodies (api.c) ---- */
/* Refuse (400, naming the field) keys of c->body not in keys (n). */
bool api_keys_ok(ctx *c, const char *const *keys, size_t n);
/* A string member: *out (NULL when absent and not required); false (and
 * the answer set) when missing but required, not a string, longer than
 * max bytes, or holding control characters. */
bool api_str(ctx *c, const char *key, bool required, size_t max,
             const char **out);
/* A boolean member: *present and *out. */
bool api_bool(ctx *c, const char *key, bool *present, bool *out);

/* ---- the store (api.c) ---- */
void api_lock(api *a);
void api_unlock(api *a);
/* An audit record for this request (actor, address). */
void api_audit(ctx *c, const char *action, const char *target,
               const char *outcome, const char *detail);

/* ---- commands (api_trade.c) ---- */
/* Submit cmd as this request's user and answer with its outcome. */
void api_command(ctx *c, svc_cmd *cmd, const char *target);

/* ---- routes (api_trade.c, api_stream.c) ---- */
void api_r_accounts(ctx *c);
void api_r_positions(ctx *c);
void api_r_orders(ctx *c);
void api_r_order_post(ctx *c);
void api_r_order_get(ctx *c);
void api_r_order_cancel(ctx *c);
void api_r_order_replace(ctx *c);
void api_r_fills(ctx *c);
void api_r_pnl(ctx *c);
void api_r_strategies(ctx *c);
void api_r_strategy_pause(ctx *c);
void api_r_strategy_resume(ctx *c);
void api_r_risk(ctx *c);
void api_r_risk_patch(ctx *c);
void api_r_kill_on(ctx *c);
void api_r_kill_off(ctx *c);
void api_r_flatten(ctx *c);
void api_r_market(ctx *c);
void api_r_stream(ctx *c);
void api_r_openapi(ctx *c);
/* (api_monitor.c) */
void api_r_metrics(ctx *c);
void api_r_healthz(ctx *c);
void api_r_readyz(ctx *c);
void api_r_alerts(ctx *c);
void api_r_alert_history(ctx *c);
void api_r_alert_ack(ctx *c);
void api_r_silences(ctx *c);
void api_r_silence_post(ctx *c);
void api_r_silence_delete(ctx *c);

#endif
