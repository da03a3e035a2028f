/* api.c - the HTTP API: routing, who is asking, sessions, CSRF, roles, rate
 * limits, users, tokens and the audit log's route.  Trading routes are in
 * api_trade.c, the event stream in api_stream.c. */
#define _POSIX_C_SOURCE 200809L
#include "api/api_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include <sodium.h>

#include "api/audit.h"
#include "api/ident.h"
#include "core/alloc.h"
#include "app/monitor.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "core/utf8.h"

#define COOKIE "__Host-dto_session"
#define TOUCH_NS (5 * DTO_NS_PER_SEC) /* last_seen is written this often */
#define API_NICE 5 /* the API's threads' nice value (trading runs at 0) */

/* ---- time ---------------------------------------------------------------- */

static dto_time now_of(const api *a) {
  /* a test moves the API's clock forward */
  return clock_real_shifted(a->clock_file);
}

/* ---- answers ------------------------------------------------------------- */

void api_json(ctx *c, int status, const char *text) {
  c->r->status = status;
  dbuf_reset(&c->r->body);
  dbuf_adds(&c->r->body, text);
}

void api_fail(ctx *c, int status, const char *code, const char *field,
              const char *fmt, ...) {
  char raw[512], msg[512], fld[96];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  /* messages may quote what a client sent: repaired, never invalid JSON */
  utf8_cut(msg, sizeof msg, raw, sizeof msg - 1);
  utf8_cut(fld, sizeof fld, field ? field : "", sizeof fld - 1);
  field = fld;
  c->r->status = status;
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"error\":{\"code\":");
  dbuf_json_str(b, code);
  dbuf_adds(b, ",\"message\":");
  dbuf_json_str(b, msg);
  dbuf_adds(b, ",\"field\":");
  if (field && *field)
    dbuf_json_str(b, field);
  else
    dbuf_adds(b, "null");
  dbuf_adds(b, "}}");
}

void api_time_member(dbuf *b, const char *key, dto_time t) {
  dbuf_printf(b, ",\"%s\":", key);
  if (!t) {
    dbuf_adds(b, "null");
    return;
  }
  char s[48];
  time_format(t, s, sizeof s);
  dbuf_json_str(b, s);
}

void api_fx_member(dbuf *b, const char *key, fx v) {
  dbuf_printf(b, ",\"%s\":\"", key);
  dbuf_addfx(b, v);
  dbuf_addc(b, '"');
}

/* ---- bodies -------------------------------------------------------------- */

bool api_keys_ok(ctx *c, const char *const *keys, size_t n) {
  const char *k;
  json_t *v;
  json_object_foreach(c->body, k, v) {
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
      known = !strcmp(k, keys[i]);
    if (!known) {
      char what[72];
      snprintf(what, sizeof what, "%.64s", k);
      api_fail(c, 400, "unknown_field", what, "%s: not a field of this "
                                              "request", what);
      return false;
    }
  }
  return true;
}

static bool has_control(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return true;
  return false;
}

bool api_str(ctx *c, const char *key, bool required, size_t max,
             const char **out) {
  *out = NULL;
  json_t *v = c->body ? json_object_get(c->body, key) : NULL;
  if (!v || json_is_null(v)) {
    if (required)
      api_fail(c, 400, "missing_field", key, "%s: required", key);
    return !required;
  }
  if (!json_is_string(v)) {
    api_fail(c, 400, "wrong_type", key, "%s: expected a string", key);
    return false;
  }
  size_t n = json_string_length(v);
  if (n > max) {
    api_fail(c, 400, "too_long", key, "%s: longer than %zu bytes", key, max);
    return false;
  }
  if (has_control(json_string_value(v), n)) {
    api_fail(c, 400, "invalid", key, "%s: control characters are not "
                                     "allowed", key);
    return false;
  }
  *out = json_string_value(v);
  return true;
}

bool api_bool(ctx *c, const char *key, bool *present, bool *out) {
  json_t *v = c->body ? json_object_get(c->body, key) : NULL;
  *present = v != NULL;
  if (!v)
    return true;
  if (!json_is_boolean(v)) {
    api_fail(c, 400, "wrong_type", key, "%s: expected true or false", key);
    return false;
  }
  *out = json_is_true(v);
  return true;
}

/* ---- the store ----------------------------------------------------------- */

void api_tokens_changed(api *a) {
  pthread_mutex_lock(&a->tc_mu);
  memset(a->tc, 0, sizeof a->tc);
  pthread_mutex_unlock(&a->tc_mu);
}

/* The store connection: its uses are counted and timed for the metrics. */
static _Thread_local int64_t lock_t0;

void api_lock(api *a) {
  pthread_mutex_lock(&a->st_mu);
  monitor_store_enter(a->c.monitor);
  lock_t0 = clock_mono_ns();
}

void api_unlock(api *a) {
  monitor_store_leave(a->c.monitor, clock_mono_ns() - lock_t0);
  pthread_mutex_unlock(&a->st_mu);
}

/* With the store locked. */
static void audit_locked(ctx *c, const char *actor, const char *action,
                         const char *target, const char *outcome,
                         const char *detail) {
  (void)audit_record(c->a->st, c->now, actor, c->q->addr, action, target,
                     outcome, detail);
}

void api_audit(ctx *c, const char *action, const char *target,
               const char *outcome, const char *detail) {
  api_lock(c->a);
  audit_locked(c, c->actor, action, target, outcome, detail);
  api_unlock(c->a);
}

/* ---- who is asking ------------------------------------------------------- */

static int role_perms(enum auth_role r) {
  int m = 0;
  for (int p = 0; p < PERM_COUNT; p++)
    if (auth_role_can(r, (enum auth_perm)p))
      m |= 1 << p;
  return m;
}

/* The user of a session or token: loaded and active.  Store locked. */
static bool load_user(ctx *c, int64_t id) {
  if (store_user_get_id(c->a->st, id, &c->u) || c->u.disabled ||
      auth_role_parse(c->u.role, &c->role))
    return false;
  snprintf(c->actor, sizeof c->actor, "%s", c->u.name);
  return true;
}

static bool is_hex(const char *s, size_t n) {
  if (strlen(s) != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* Authorization: Bearer TOKEN.  0 when authenticated, else an answer set. */
static bool by_token(ctx *c, const char *h) {
  const char *t = h + 7; /* "Bearer " */
  if (strncmp(h, "Bearer ", 7) ||
      strncmp(t, IDENT_TOKEN_PREFIX, strlen(IDENT_TOKEN_PREFIX)) ||
      !is_hex(t + strlen(IDENT_TOKEN_PREFIX), 64)) {
    api_fail(c, 401, "unauthenticated", NULL,
             "the Authorization header is not a valid API token");
    return false;
  }
  char hash[65];
  auth_sha256_hex(t, strlen(t), hash);
  api *a = c->a;
  /* the slot: the hash's first two hex digits, a uniform byte */
  unsigned slot = (unsigned)strtoul((char[3]){hash[0], hash[1], 0}, NULL, 16);
  struct tcache *e = &a->tc[slot % DTO_ARRAY_LEN(a->tc)];
  int64_t mono = clock_mono_ns();
  bool ok = false, hit = false;
  pthread_mutex_lock(&a->tc_mu);
  if (!strcmp(e->hash, hash) && mono - e->at < DTO_NS_PER_SEC) {
    c->tok = e->tok;
    c->u = e->u;
    hit = true;
  }
  pthread_mutex_unlock(&a->tc_mu);
  if (hit) {
    ok = !c->tok.revoked && c->tok.expires > c->now && !c->u.disabled &&
         auth_role_parse(c->u.role, &c->role) == 0;
    snprintf(c->actor, sizeof c->actor, "%s", c->u.name);
  } else {
    api_lock(a);
    ok = store_token_get_hash(a->st, hash, &c->tok) == 0 &&
         !c->tok.revoked && c->tok.expires > c->now &&
         load_user(c, c->tok.user_id);
    if (ok && c->now - c->tok.last_used > 60 * DTO_NS_PER_SEC) {
      c->tok.last_used = c->now;
      (void)store_token_update(a->st, &c->tok);
    }
    api_unlock(a);
    if (ok) {
      pthread_mutex_lock(&a->tc_mu);
      memcpy(e->hash, hash, sizeof e->hash);
      e->at = mono;
      e->tok = c->tok;
      e->u = c->u;
      pthread_mutex_unlock(&a->tc_mu);
    }
  }
  if (!ok) {
    api_fail(c, 401, "unauthenticated", NULL,
             "the API token is unknown, revoked or expired");
    return false;
  }
  int scope = ident_scope_mask(c->tok.scope);
  c->perms = role_perms(c->role) & (scope < 0 ? 0 : scope);
  c->via_token = c->authed = true;
  if (c->now - c->tok.created >
      (dto_time)a->c.token_warn_days * 86400 * DTO_NS_PER_SEC) {
    char w[160];
    snprintf(w, sizeof w,
             "299 dto \"this API token is older than %d days: rotate it\"",
             a->c.token_warn_days);
    httpd_resp_header(c->r, "Warning", w);
  }
  return true;
}

static void clear_cookie(ctx *c) {
  httpd_resp_header(c->r, "Set-Cookie",
                    COOKIE "=; Path=/; Secure; HttpOnly; SameSite=Strict; "
                           "Max-Age=0");
}

/* The session cookie.  true when authenticated, else an answer set. */
static bool by_session(ctx *c, const char *sid) {
  api *a = c->a;
  if (!is_hex(sid, 64)) {
    api_fail(c, 401, "unauthenticated", NULL, "no valid session");
    return false;
  }
  char hash[65];
  auth_sha256_hex(sid, 64, hash);
  api_lock(a);
  bool ok = store_session_get(a->st, hash, &c->ses) == 0;
  const char *why = "no valid session";
  if (ok && (c->now - c->ses.last_seen > a->c.idle_timeout ||
             c->now >= c->ses.expires)) {
    why = c->now >= c->ses.expires ? "the session ended (12 hours at most)"
                                   : "the session ended after being idle";
    (void)store_session_delete(a->st, hash);
    ok = false;
  }
  if (ok && !load_user(c, c->ses.user_id)) {
    (void)store_session_delete(a->st, hash);
    ok = false;
  }
  if (ok && c->now - c->ses.last_seen > TOUCH_NS)
    (void)store_session_touch(a->st, hash, c->now);
  api_unlock(a);
  if (!ok) {
    clear_cookie(c);
    api_fail(c, 401, "unauthenticated", NULL, "%s", why);
    return false;
  }
  c->perms = role_perms(c->role);
  c->via_session = c->authed = true;
  return true;
}

/* ---- login and the session ---------------------------------------------- */

static void user_json(dbuf *b, const store_user *u) {
  dbuf_printf(b, "{\"id\":%" PRId64 ",\"username\":", u->id);
  dbuf_json_str(b, u->name);
  dbuf_adds(b, ",\"role\":");
  dbuf_json_str(b, u->role);
  dbuf_printf(b, ",\"mfa\":%s,\"disabled\":%s",
              u->totp_secret[0] ? "true" : "false",
              u->disabled ? "true" : "false");
  api_time_member(b, "created", u->created);
  api_time_member(b, "password_changed", u->password_changed);
  dbuf_addc(b, '}');
}

static void retry_after(ctx *c, dto_time until) {
  int64_t s = (until - c->now + DTO_NS_PER_SEC - 1) / DTO_NS_PER_SEC;
  char v[32];
  snprintf(v, sizeof v, "%" PRId64, s < 1 ? 1 : s);
  httpd_resp_header(c->r, "Retry-After", v);
}

static void bad_login(ctx *c) {
  api_fail(c, 401, "invalid_credentials", NULL,
           "the username or password is wrong");
}

static void r_login(ctx *c) {
  static const char *const keys[] = {"username", "password", "totp"};
  const char *name, *pw, *code;
  if (!api_keys_ok(c, keys, 3) || !api_str(c, "username", true, 256, &name) ||
      !api_str(c, "totp", false, 16, &code))
    return;
  /* the password may hold any character; only its length is capped here
   * (the policy is for new passwords) */
  json_t *pv = json_object_get(c->body, "password");
  if (!pv || !json_is_string(pv)) {
    api_fail(c, 400, pv ? "wrong_type" : "missing_field", "password",
             pv ? "password: expected a string" : "password: required");
    return;
  }
  pw = json_string_value(pv);
  size_t pwlen = json_string_length(pv);
  if (pwlen > 4 * AUTH_PW_MAX) {
    bad_login(c);
    return;
  }
  api *a = c->a;
  store_user u;
  api_lock(a);
  int rc = store_user_get(a->st, name, &u);
  api_unlock(a);
  if (rc) {
    /* the same work and the same answers as for a user: a wrong password,
     * and after lockout_failures of them a lockout */
    char key[STORE_USER_MAX + 1];
    snprintf(key, sizeof key, "%s", name);
    api_lock(a);
    struct ghost *g = &a->ghosts[0];
    for (size_t i = 0; i < DTO_ARRAY_LEN(a->ghosts); i++) {
      if (!strcmp(a->ghosts[i].name, key)) {
        g = &a->ghosts[i];
        break;
      }
      if (a->ghosts[i].locked_until < g->locked_until ||
          (!a->ghosts[i].name[0] && g->name[0]))
        g = &a->ghosts[i]; /* the slot to reuse: free, or locked least */
    }
    if (strcmp(g->name, key)) {
      memset(g, 0, sizeof *g);
      snprintf(g->name, sizeof g->name, "%s", key);
    }
    bool locked = g->locked_until > c->now;
    dto_time until = g->locked_until;
    api_unlock(a);
    if (locked) {
      api_audit(c, "auth.login", name, "locked", NULL);
      retry_after(c, until);
      api_fail(c, 429, "locked",
               NULL, "too many failed logins: this account is locked for a "
                     "while");
      return;
    }
    auth_password_dummy(pw, pwlen);
    api_lock(a);
    if (!strcmp(g->name, key) && ++g->failures >= a->c.lockout_failures) {
      g->locked_until = c->now + a->c.lockout_time;
      g->failures = 0;
    }
    api_unlock(a);
    api_audit(c, "auth.login", name, "unknown_user", NULL);
    bad_login(c);
    return;
  }
  if (u.locked_until > c->now) {
    api_audit(c, "auth.login", u.name, "locked", NULL);
    retry_after(c, u.locked_until);
    api_fail(c, 429, "locked", NULL,
             "too many failed logins: this account is locked for a while");
    return;
  }
  bool pw_ok = auth_password_verify(u.password_hash, pw, pwlen) == 1;
  api_lock(a);
  /* read again: another login may have counted a failure meanwhile */
  if (store_user_get_id(a->st, u.id, &u)) {
    api_unlock(a);
    bad_login(c);
    return;
  }
  if (!pw_ok || u.disabled) {
    u.failures++;
    bool lock = u.failures >= a->c.lockout_failures;
    if (lock) {
      u.locked_until = c->now + a->c.lockout_time;
      u.failures = 0;
    }
    u.updated = c->now;
    (void)store_user_update(a->st, &u);
    audit_locked(c, u.name, "auth.login", u.name,
                 u.disabled ? "disabled" : "bad_password", NULL);
    if (lock)
      audit_locked(c, u.name, "auth.lockout", u.name, "locked", NULL);
    api_unlock(a);
    bad_login(c);
    return;
  }
  /* the password is right: a second factor when the user has one */
  int64_t step = 0;
  if (u.totp_secret[0]) {
    if (!code || !code[0]) {
      audit_locked(c, u.name, "auth.login", u.name, "totp_required", NULL);
      api_unlock(a);
      api_fail(c, 401, "totp_required", "totp",
               "totp: this account needs its 6-digit code");
      return;
    }
    step = auth_totp_verify(u.totp_secret, code, c->now / DTO_NS_PER_SEC,
                            u.totp_last_step);
    if (step < 0) {
      u.failures++;
      bool lock = u.failures >= a->c.lockout_failures;
      if (lock) {
        u.locked_until = c->now + a->c.lockout_time;
        u.failures = 0;
      }
      u.updated = c->now;
      (void)store_user_update(a->st, &u);
      audit_locked(c, u.name, "mfa.verify", u.name, "failed", NULL);
      if (lock)
        audit_locked(c, u.name, "auth.lockout", u.name, "locked", NULL);
      api_unlock(a);
      api_fail(c, 401, "invalid_totp", "totp",
               "totp: the code is wrong, expired or already used");
      return;
    }
    u.totp_last_step = step;
  }
  u.failures = 0;
  u.locked_until = 0;
  u.updated = c->now;
  /* a new session id at every login */
  char sid[65], csrf[65];
  auth_random_hex(32, sid);
  auth_random_hex(32, csrf);
  store_session ses;
  memset(&ses, 0, sizeof ses);
  auth_sha256_hex(sid, 64, ses.id_hash);
  auth_sha256_hex(csrf, 64, ses.csrf_hash);
  ses.user_id = u.id;
  ses.created = ses.last_seen = c->now;
  ses.expires = c->now + a->c.absolute_timeout;
  snprintf(ses.address, sizeof ses.address, "%s", c->q->addr);
  rc = store_user_update(a->st, &u);
  if (!rc)
    rc = store_session_put(a->st, &ses);
  audit_locked(c, u.name, "auth.login", u.name, rc ? "failed" : "ok",
               u.totp_secret[0] ? "{\"mfa\":true}" : "{\"mfa\":false}");
  api_unlock(a);
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "the store did not take the "
                                          "session; try again");
    return;
  }
  char cookie[160];
  snprintf(cookie, sizeof cookie,
           COOKIE "=%s; Path=/; Secure; HttpOnly; SameSite=Strict", sid);
  httpd_resp_header(c->r, "Set-Cookie", cookie);
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_printf(b, "{\"csrf_token\":\"%s\",\"user\":", csrf);
  user_json(b, &u);
  api_time_member(b, "expires", ses.expires);
  dbuf_addc(b, '}');
  c->r->status = 200;
}

static void r_logout(ctx *c) {
  api_lock(c->a);
  (void)store_session_delete(c->a->st, c->ses.id_hash);
  audit_locked(c, c->actor, "auth.logout", c->actor, "ok", NULL);
  api_unlock(c->a);
  clear_cookie(c);
  api_json(c, 200, "{\"message\":\"logged out\"}");
}

static void r_session(ctx *c) {
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"user\":");
  user_json(b, &c->u);
  if (c->via_session) {
    dbuf_adds(b, ",\"via\":\"session\"");
    api_time_member(b, "expires", c->ses.expires);
    api_time_member(b, "idle_expires", c->ses.last_seen + c->a->c.idle_timeout);
  } else {
    dbuf_printf(b, ",\"via\":\"token\",\"token_id\":%" PRId64, c->tok.id);
    api_time_member(b, "expires", c->tok.expires);
  }
  dbuf_adds(b, ",\"permissions\":[");
  bool first = true;
  for (int p = 0; p < PERM_COUNT; p++)
    if (c->perms & (1 << p)) {
      dbuf_printf(b, "%s\"%s\"", first ? "" : ",",
                  auth_perm_name((enum auth_perm)p));
      first = false;
    }
  dbuf_adds(b, "]}");
  c->r->status = 200;
}

static void r_password(ctx *c) {
  static const char *const keys[] = {"current_password", "new_password"};
  if (!api_keys_ok(c, keys, 2))
    return;
  json_t *cur = json_object_get(c->body, "current_password");
  json_t *nw = json_object_get(c->body, "new_password");
  if (!cur || !json_is_string(cur) || !nw || !json_is_string(nw)) {
    const char *f = !cur || !json_is_string(cur) ? "current_password"
                                                 : "new_password";
    api_fail(c, 400, "missing_field", f, "%s: required, a string", f);
    return;
  }
  size_t clen = json_string_length(cur), nlen = json_string_length(nw);
  if (clen > 4 * AUTH_PW_MAX ||
      auth_password_verify(c->u.password_hash, json_string_value(cur),
                           clen) != 1) {
    api_audit(c, "auth.password", c->actor, "bad_password", NULL);
    api_fail(c, 403, "invalid_credentials", "current_password",
             "current_password: wrong");
    return;
  }
  enum auth_pw_problem p = auth_password_check(json_string_value(nw), nlen);
  if (p != AUTH_PW_OK) {
    api_fail(c, 422, "weak_password", "new_password", "new_password: %s",
             auth_pw_problem_text(p));
    return;
  }
  char hash[AUTH_HASH_MAX];
  if (auth_password_hash(json_string_value(nw), nlen, hash)) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  api_lock(c->a);
  store_user u;
  int rc = store_user_get_id(c->a->st, c->u.id, &u);
  if (!rc) {
    snprintf(u.password_hash, sizeof u.password_hash, "%s", hash);
    u.password_changed = u.updated = c->now;
    rc = store_user_update(c->a->st, &u);
  }
  if (!rc) /* every session ends, this one too */
    rc = store_session_delete_user(c->a->st, u.id, NULL);
  audit_locked(c, c->actor, "auth.password", c->actor, rc ? "failed" : "ok",
               NULL);
  api_unlock(c->a);
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "the change was not kept; try "
                                          "again");
    return;
  }
  clear_cookie(c);
  api_json(c, 200, "{\"message\":\"password changed; every session ended, "
                   "log in again\"}");
}

static void r_totp_enroll(ctx *c) {
  char sec[AUTH_TOTP_B32_MAX], uri[IDENT_URI_MAX];
  auth_totp_new_secret(sec);
  if (auth_totp_uri(c->u.name, sec, uri, sizeof uri)) {
    api_fail(c, 422, "invalid", NULL, "the user name is too long for a "
                                      "TOTP URI");
    return;
  }
  api_lock(c->a);
  store_user u;
  int rc = store_user_get_id(c->a->st, c->u.id, &u);
  if (!rc) {
    snprintf(u.totp_pending, sizeof u.totp_pending, "%s", sec);
    u.updated = c->now;
    rc = store_user_update(c->a->st, &u);
  }
  audit_locked(c, c->actor, "mfa.enroll", c->actor, rc ? "failed" : "ok",
               NULL);
  api_unlock(c->a);
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_printf(b, "{\"secret\":\"%s\",\"otpauth_uri\":", sec);
  dbuf_json_str(b, uri);
  dbuf_adds(b, ",\"message\":\"confirm with a code from the app: POST "
               "/api/v1/auth/totp/confirm\"}");
  c->r->status = 200;
}

static void r_totp_confirm(ctx *c) {
  static const char *const keys[] = {"code"};
  const char *code;
  if (!api_keys_ok(c, keys, 1) || !api_str(c, "code", true, 16, &code))
    return;
  api_lock(c->a);
  store_user u;
  int rc = store_user_get_id(c->a->st, c->u.id, &u);
  int64_t step = -1;
  if (!rc && u.totp_pending[0])
    step = auth_totp_verify(u.totp_pending, code, c->now / DTO_NS_PER_SEC, 0);
  if (step >= 0) {
    snprintf(u.totp_secret, sizeof u.totp_secret, "%s", u.totp_pending);
    u.totp_pending[0] = '\0';
    u.totp_last_step = step;
    u.updated = c->now;
    rc = store_user_update(c->a->st, &u);
  }
  audit_locked(c, c->actor, "mfa.confirm", c->actor,
               step >= 0 && !rc ? "ok" : "failed", NULL);
  api_unlock(c->a);
  if (!rc && !u.totp_pending[0] && step < 0) {
    api_fail(c, 409, "no_enrollment", NULL,
             "no TOTP enrollment is waiting: POST /api/v1/auth/totp/enroll "
             "first");
    return;
  }
  if (step < 0) {
    api_fail(c, 422, "invalid_totp", "code", "code: wrong or expired");
    return;
  }
  api_json(c, 200, "{\"message\":\"TOTP confirmed: it is needed at every "
                   "login from now on\"}");
}

/* ---- tokens -------------------------------------------------------------- */

static void token_json(dbuf *b, const store_token *t, const char *secret) {
  dbuf_printf(b, "{\"id\":%" PRId64 ",\"name\":", t->id);
  dbuf_json_str(b, t->name);
  dbuf_adds(b, ",\"scope\":");
  dbuf_json_str(b, t->scope);
  dbuf_printf(b, ",\"user_id\":%" PRId64, t->user_id);
  api_time_member(b, "created", t->created);
  api_time_member(b, "expires", t->expires);
  api_time_member(b, "revoked", t->revoked);
  api_time_member(b, "last_used", t->last_used);
  if (secret) {
    dbuf_adds(b, ",\"token\":");
    dbuf_json_str(b, secret);
  }
  dbuf_addc(b, '}');
}

/* The names of the permissions in perms, space-separated, into out. */
static void perms_scope(int perms, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  for (int p = 0; p < PERM_COUNT; p++) {
    if (!(perms & (1 << p)))
      continue;
    int k = snprintf(out + n, cap - n, "%s%s", n ? " " : "",
                     auth_perm_name((enum auth_perm)p));
    if (k < 0 || (size_t)k >= cap - n) {
      out[n] = '\0';
      return;
    }
    n += (size_t)k;
  }
}

/* The scope of a request: a string or a list of permission names.  No
 * scope is every permission of the user, except through a token that has
 * a scope: then it is that token's (a token never makes a wider one). */
static bool scope_of(ctx *c, char *out, size_t cap) {
  out[0] = '\0';
  json_t *v = json_object_get(c->body, "scope");
  if (!v || json_is_null(v)) {
    if (c->via_token && c->tok.scope[0])
      perms_scope(c->perms, out, cap);
    return true;
  }
  dbuf b;
  dbuf_init(&b, cap - 1);
  bool ok = true;
  if (json_is_string(v)) {
    ok = dbuf_adds(&b, json_string_value(v)) == 0;
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      ok = ok && json_is_string(x) &&
           dbuf_printf(&b, "%s%s", i ? " " : "", json_string_value(x)) == 0;
    }
  } else {
    ok = false;
  }
  if (ok && b.ptr)
    snprintf(out, cap, "%s", b.ptr);
  dbuf_release(&b);
  if (!ok || ident_scope_mask(out) < 0) {
    api_fail(c, 422, "invalid", "scope",
             "scope: a list of read, trade, control, users, audit, self");
    return false;
  }
  /* a token never grants more than its user has */
  if (ident_scope_mask(out) & ~c->perms & ((1 << PERM_COUNT) - 1) &&
      out[0]) {
    api_audit(c, "auth.denied", c->q->path, "forbidden",
              "{\"field\":\"scope\"}");
    api_fail(c, 403, "forbidden", "scope",
             "scope: more than this user's role allows");
    return false;
  }
  if (!out[0] && c->via_token && c->tok.scope[0])
    perms_scope(c->perms, out, cap);
  return true;
}

static void r_token_create(ctx *c) {
  static const char *const keys[] = {"name", "expires_days", "scope"};
  const char *name;
  if (!api_keys_ok(c, keys, 3) || !api_str(c, "name", false, 64, &name))
    return;
  int days = c->a->c.token_max_days;
  json_t *d = json_object_get(c->body, "expires_days");
  if (d && !json_is_null(d)) {
    if (!json_is_integer(d)) {
      api_fail(c, 400, "wrong_type", "expires_days",
               "expires_days: expected an integer");
      return;
    }
    json_int_t v = json_integer_value(d);
    if (v < 1 || v > c->a->c.token_max_days) {
      api_fail(c, 422, "invalid", "expires_days",
               "expires_days: 1 to %d", c->a->c.token_max_days);
      return;
    }
    days = (int)v;
  }
  char scope[STORE_SCOPE_MAX + 1];
  if (!scope_of(c, scope, sizeof scope))
    return;
  ident_actor by = {c->actor, c->q->addr};
  store_token t;
  char tok[IDENT_TOKEN_LEN + 1];
  const char *why;
  api_lock(c->a);
  int rc = ident_token_create(c->a->st, &by, c->now, &c->u, name, days,
                              c->a->c.token_max_days, scope, &t, tok, &why);
  api_unlock(c->a);
  if (rc == DTO_EINVAL) {
    api_fail(c, 422, "invalid", NULL, "%s", why);
    return;
  }
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "the token was not kept; try "
                                          "again");
    return;
  }
  dbuf_reset(&c->r->body);
  token_json(&c->r->body, &t, tok);
  c->r->status = 201;
}

typedef struct tok_list {
  dbuf *b;
  size_t n;
} tok_list;

static int tok_one(void *arg, const store_token *t) {
  tok_list *l = arg;
  if (l->n++)
    dbuf_addc(l->b, ',');
  token_json(l->b, t, NULL);
  return 0;
}

static void r_tokens(ctx *c) {
  const char *all = httpd_query(c->q, "all");
  bool everyone = all && !strcmp(all, "true");
  if (everyone && !(c->perms & (1 << PERM_USERS))) {
    api_audit(c, "auth.denied", c->q->path, "forbidden",
              "{\"field\":\"all\"}");
    api_fail(c, 403, "forbidden", "all", "all: only for admins");
    return;
  }
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"tokens\":[");
  tok_list l = {b, 0};
  api_lock(c->a);
  int rc = store_token_list(c->a->st, everyone ? 0 : c->u.id, tok_one, &l);
  api_unlock(c->a);
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  dbuf_adds(b, "]}");
  c->r->status = 200;
}

/* The token of the route's {id}, the caller's own (or any, for an admin). */
static bool own_token(ctx *c, store_token *t) {
  char *end;
  long long id = strtoll(c->param, &end, 10);
  if (*end || id <= 0) {
    api_fail(c, 404, "not_found", "id", "no such token");
    return false;
  }
  api_lock(c->a);
  int rc = store_token_get(c->a->st, id, t);
  api_unlock(c->a);
  if (rc || (t->user_id != c->u.id && !(c->perms & (1 << PERM_USERS)))) {
    api_fail(c, 404, "not_found", "id", "no such token");
    return false;
  }
  return true;
}

static void r_token_revoke(ctx *c) {
  store_token t;
  if (!own_token(c, &t))
    return;
  ident_actor by = {c->actor, c->q->addr};
  api_lock(c->a);
  int rc = ident_token_revoke(c->a->st, &by, c->now, t.id);
  api_unlock(c->a);
  api_tokens_changed(c->a);
  if (rc == DTO_ESTATE) {
    api_fail(c, 409, "conflict", NULL, "the token is already revoked");
    return;
  }
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  api_json(c, 200, "{\"message\":\"token revoked\"}");
}

static void r_token_rotate(ctx *c) {
  store_token t;
  if (!own_token(c, &t))
    return;
  if (t.revoked || t.expires <= c->now) {
    api_fail(c, 409, "conflict", NULL, "the token is revoked or expired");
    return;
  }
  ident_actor by = {c->actor, c->q->addr};
  store_user owner;
  store_token nt;
  char tok[IDENT_TOKEN_LEN + 1];
  const char *why;
  api_lock(c->a);
  int rc = store_user_get_id(c->a->st, t.user_id, &owner);
  if (!rc && c->via_token) {
    /* a token gets no secret for a token that can do more than itself */
    enum auth_role orole;
    int mask = ident_scope_mask(t.scope);
    int can = auth_role_parse(owner.role, &orole)
                  ? 0
                  : role_perms(orole) & (mask < 0 ? 0 : mask);
    if (can & ~c->perms) {
      audit_locked(c, c->actor, "auth.denied", c->q->path, "forbidden",
                   "{\"field\":\"scope\"}");
      api_unlock(c->a);
      api_fail(c, 403, "forbidden", "id",
               "this API token may not rotate a token with more "
               "permissions than its own");
      return;
    }
  }
  if (!rc)
    rc = ident_token_create(c->a->st, &by, c->now, &owner, t.name,
                            c->a->c.token_max_days, c->a->c.token_max_days,
                            t.scope, &nt, tok, &why);
  if (!rc)
    rc = ident_token_revoke(c->a->st, &by, c->now, t.id);
  api_unlock(c->a);
  api_tokens_changed(c->a); /* the old secret ends at once */
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  dbuf_reset(&c->r->body);
  token_json(&c->r->body, &nt, tok);
  c->r->status = 201;
}

/* ---- users --------------------------------------------------------------- */

static int user_one(void *arg, const store_user *u) {
  tok_list *l = arg;
  if (l->n++)
    dbuf_addc(l->b, ',');
  user_json(l->b, u);
  return 0;
}

static void r_users(ctx *c) {
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"users\":[");
  tok_list l = {b, 0};
  api_lock(c->a);
  int rc = store_user_list(c->a->st, user_one, &l);
  api_unlock(c->a);
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  dbuf_adds(b, "]}");
  c->r->status = 200;
}

static void user_answer(ctx *c, int status, const store_user *u,
                        const char *uri) {
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"user\":");
  user_json(b, u);
  if (uri && uri[0]) {
    dbuf_adds(b, ",\"otpauth_uri\":");
    dbuf_json_str(b, uri);
  }
  dbuf_addc(b, '}');
  c->r->status = status;
}

static void r_user_create(ctx *c) {
  static const char *const keys[] = {"username", "password", "role"};
  const char *name, *role;
  if (!api_keys_ok(c, keys, 3) || !api_str(c, "username", true, 64, &name) ||
      !api_str(c, "role", true, 16, &role))
    return;
  json_t *pv = json_object_get(c->body, "password");
  if (!pv || !json_is_string(pv)) {
    api_fail(c, 400, "missing_field", "password",
             "password: required, a string");
    return;
  }
  ident_actor by = {c->actor, c->q->addr};
  store_user u;
  char uri[IDENT_URI_MAX];
  const char *why;
  api_lock(c->a);
  int rc = ident_user_create(c->a->st, &by, c->now, name,
                             json_string_value(pv), json_string_length(pv),
                             role, &u, uri, &why);
  api_unlock(c->a);
  if (rc == DTO_EINVAL) {
    const char *f = !strncmp(why, "username", 8) ? "username"
                    : !strncmp(why, "role", 4)   ? "role"
                                                 : "password";
    api_fail(c, 422, !strcmp(f, "password") ? "weak_password" : "invalid", f,
             "%s%s", !strcmp(f, "password") ? "password: " : "", why);
    return;
  }
  if (rc == DTO_EEXIST) {
    api_fail(c, 409, "conflict", "username", "username: already taken");
    return;
  }
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  user_answer(c, 201, &u, uri);
}

static void r_user_patch(ctx *c) {
  static const char *const keys[] = {"role", "disabled"};
  const char *role;
  bool has_dis, dis = false;
  if (!api_keys_ok(c, keys, 2) || !api_str(c, "role", false, 16, &role) ||
      !api_bool(c, "disabled", &has_dis, &dis))
    return;
  if (!role && !has_dis) {
    api_fail(c, 400, "missing_field", "role", "role or disabled: one at "
                                              "least");
    return;
  }
  if (has_dis && dis && !strcmp(c->param, c->u.name)) {
    api_fail(c, 409, "conflict", "disabled", "disabled: an admin cannot "
                                             "disable their own account");
    return;
  }
  ident_actor by = {c->actor, c->q->addr};
  char uri[IDENT_URI_MAX] = "";
  const char *why = NULL;
  store_user u;
  api_lock(c->a);
  int rc = store_user_get(c->a->st, c->param, &u);
  if (!rc && role)
    rc = ident_user_set_role(c->a->st, &by, c->now, c->param, role, uri, &why);
  if (!rc && has_dis)
    rc = ident_user_disable(c->a->st, &by, c->now, c->param, dis);
  if (!rc)
    rc = store_user_get(c->a->st, c->param, &u);
  api_unlock(c->a);
  api_tokens_changed(c->a);
  if (rc == DTO_ENOENT) {
    api_fail(c, 404, "not_found", NULL, "no such user");
    return;
  }
  if (rc == DTO_EINVAL) {
    api_fail(c, 422, "invalid", "role", "%s", why);
    return;
  }
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  user_answer(c, 200, &u, uri);
}

static void r_user_reset_mfa(ctx *c) {
  ident_actor by = {c->actor, c->q->addr};
  char uri[IDENT_URI_MAX];
  store_user u;
  api_lock(c->a);
  int rc = ident_user_reset_mfa(c->a->st, &by, c->now, c->param, uri);
  if (!rc)
    rc = store_user_get(c->a->st, c->param, &u);
  api_unlock(c->a);
  api_tokens_changed(c->a);
  if (rc == DTO_ENOENT) {
    api_fail(c, 404, "not_found", NULL, "no such user");
    return;
  }
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  user_answer(c, 200, &u, uri);
}

/* ---- the audit log ------------------------------------------------------- */

static int audit_one(void *arg, const store_audit *x) {
  tok_list *l = arg;
  dbuf *b = l->b;
  if (l->n++)
    dbuf_addc(b, ',');
  dbuf_printf(b, "{\"seq\":%" PRId64, x->seq);
  api_time_member(b, "time", x->time);
  const char *k[] = {"actor", "address", "action", "target", "outcome"};
  const char *v[] = {x->actor, x->address, x->action, x->target, x->outcome};
  for (size_t i = 0; i < DTO_ARRAY_LEN(k); i++) {
    dbuf_printf(b, ",\"%s\":", k[i]);
    dbuf_json_str(b, v[i]);
  }
  /* detail is JSON the API wrote */
  dbuf_printf(b, ",\"detail\":%s,\"hash\":\"%s\"}",
              x->detail[0] ? x->detail : "{}", x->hash);
  return 0;
}

static void r_audit(ctx *c) {
  const char *after = httpd_query(c->q, "after");
  const char *lim = httpd_query(c->q, "limit");
  long long a = 0, n = 100;
  char *end;
  if (after && ((a = strtoll(after, &end, 10)) < 0 || *end || !*after)) {
    api_fail(c, 400, "invalid", "after", "after: a record number");
    return;
  }
  if (lim && ((n = strtoll(lim, &end, 10)) < 1 || n > 1000 || *end)) {
    api_fail(c, 400, "invalid", "limit", "limit: 1 to 1000");
    return;
  }
  dbuf *b = &c->r->body;
  dbuf_reset(b);
  dbuf_adds(b, "{\"records\":[");
  tok_list l = {b, 0};
  api_lock(c->a);
  int rc = store_audit_read(c->a->st, a, n, audit_one, &l);
  api_unlock(c->a);
  if (rc) {
    api_fail(c, 503, "unavailable", NULL, "try again");
    return;
  }
  dbuf_adds(b, "]}");
  c->r->status = 200;
}

/* ---- routes -------------------------------------------------------------- */

typedef struct route {
  const char *method, *pattern;
  int perm; /* enum auth_perm; ignored with R_PUBLIC */
  unsigned flags;
  route_fn fn;
} route;

#define V1 "/api/v1"
static const route routes[] = {
    {"POST", V1 "/auth/login", 0, R_PUBLIC | R_BODY, r_login},
    {"POST", V1 "/auth/logout", PERM_SELF, R_SESSION, r_logout},
    {"GET", V1 "/auth/session", PERM_SELF, 0, r_session},
    {"POST", V1 "/auth/password", PERM_SELF, R_SESSION | R_BODY, r_password},
    {"POST", V1 "/auth/totp/enroll", PERM_SELF, R_SESSION, r_totp_enroll},
    {"POST", V1 "/auth/totp/confirm", PERM_SELF, R_SESSION | R_BODY,
     r_totp_confirm},
    {"GET", V1 "/tokens", PERM_SELF, 0, r_tokens},
    {"POST", V1 "/tokens", PERM_SELF, R_BODY, r_token_create},
    {"DELETE", V1 "/tokens/{id}", PERM_SELF, 0, r_token_revoke},
    {"POST", V1 "/tokens/{id}/rotate", PERM_SELF, 0, r_token_rotate},
    {"GET", V1 "/users", PERM_USERS, 0, r_users},
    {"POST", V1 "/users", PERM_USERS, R_BODY, r_user_create},
    {"PATCH", V1 "/users/{id}", PERM_USERS, R_BODY, r_user_patch},
    {"POST", V1 "/users/{id}/reset-mfa", PERM_USERS, 0, r_user_reset_mfa},
    {"GET", V1 "/accounts", PERM_READ, 0, api_r_accounts},
    {"GET", V1 "/positions", PERM_READ, 0, api_r_positions},
    {"GET", V1 "/orders", PERM_READ, 0, api_r_orders},
    {"POST", V1 "/orders", PERM_TRADE, R_BODY, api_r_order_post},
    {"GET", V1 "/orders/{id}", PERM_READ, 0, api_r_order_get},
    {"DELETE", V1 "/orders/{id}", PERM_TRADE, 0, api_r_order_cancel},
    {"PATCH", V1 "/orders/{id}", PERM_TRADE, R_BODY, api_r_order_replace},
    {"GET", V1 "/fills", PERM_READ, 0, api_r_fills},
    {"GET", V1 "/pnl", PERM_READ, 0, api_r_pnl},
    {"GET", V1 "/strategies", PERM_READ, 0, api_r_strategies},
    {"POST", V1 "/strategies/{id}/pause", PERM_CONTROL, 0,
     api_r_strategy_pause},
    {"POST", V1 "/strategies/{id}/resume", PERM_CONTROL, 0,
     api_r_strategy_resume},
    {"GET", V1 "/risk", PERM_READ, 0, api_r_risk},
    {"PATCH", V1 "/risk", PERM_CONTROL, R_BODY, api_r_risk_patch},
    {"POST", V1 "/risk/kill", PERM_CONTROL, 0, api_r_kill_on},
    {"DELETE", V1 "/risk/kill", PERM_CONTROL, 0, api_r_kill_off},
    {"POST", V1 "/flatten", PERM_TRADE, 0, api_r_flatten},
    {"GET", V1 "/market/{id}", PERM_READ, 0, api_r_market},
    {"GET", V1 "/audit", PERM_AUDIT, 0, r_audit},
    {"GET", V1 "/stream", PERM_READ, 0, api_r_stream},
    {"GET", V1 "/openapi.json", 0, R_PUBLIC, api_r_openapi},
    {"GET", V1 "/alerts", PERM_READ, 0, api_r_alerts},
    {"GET", V1 "/alerts/history", PERM_READ, 0, api_r_alert_history},
    {"POST", V1 "/alerts/{id}/ack", PERM_CONTROL, 0, api_r_alert_ack},
    {"GET", V1 "/silences", PERM_READ, 0, api_r_silences},
    {"POST", V1 "/silences", PERM_CONTROL, R_BODY, api_r_silence_post},
    {"DELETE", V1 "/silences/{id}", PERM_CONTROL, 0, api_r_silence_delete},
    {"GET", "/metrics", PERM_READ, R_METRICS, api_r_metrics},
    {"GET", "/healthz", 0, R_PUBLIC | R_NOGATE, api_r_healthz},
    {"GET", "/readyz", 0, R_PUBLIC | R_NOGATE, api_r_readyz},
};

bool api_route_at(size_t i, const char **method, const char **pattern,
                  const char **perm) {
  if (i >= DTO_ARRAY_LEN(routes))
    return false;
  *method = routes[i].method;
  *pattern = routes[i].pattern;
  *perm = routes[i].flags & R_PUBLIC    ? "public"
          : routes[i].flags & R_METRICS ? "public or read"
              : auth_perm_name((enum auth_perm)routes[i].perm);
  return true;
}

/* Does path match pattern?  The {id} segment into *param (at most 128
 * bytes, no '/'). */
static bool match(const char *pattern, const char *path, char *param,
                  size_t cap) {
  const char *brace = strstr(pattern, "{id}");
  if (!brace)
    return !strcmp(pattern, path);
  size_t pre = (size_t)(brace - pattern);
  const char *post = brace + 4;
  if (strncmp(pattern, path, pre))
    return false;
  const char *seg = path + pre, *end = strchr(seg, '/');
  size_t n = end ? (size_t)(end - seg) : strlen(seg);
  if (!n || n >= cap || strcmp(end ? end : "", post))
    return false;
  memcpy(param, seg, n);
  param[n] = '\0';
  return true;
}

static bool is_write(const char *m) {
  return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS");
}

/* The API's threads give way to trading: each lowers its own scheduling
 * priority once (Linux nice values are per thread), so that a flood of
 * requests on a machine with few cores delays answers, not orders. */
static void yield_to_trading(void) {
  static _Thread_local bool done;
  if (done)
    return;
  done = true;
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), API_NICE);
}

static const route *handle(api *a, const httpd_req *q, httpd_resp *r,
                           char *actor, size_t actor_cap);
static const route *handle_ctx(ctx *cp, api *a, const httpd_req *q,
                               httpd_resp *r);

/* The route of a request, without handling it (health bypasses the
 * gate). */
static const route *route_of(const httpd_req *q);

/* At most `gate` requests are handled at once (one core fewer than the
 * machine has, at least one): the engine thread always finds a core, however
 * many clients the API has.  The others wait here, sleeping. */
void api_gate_enter(api *a) {
  pthread_mutex_lock(&a->gate_mu);
  while (a->busy >= a->gate)
    pthread_cond_wait(&a->gate_cv, &a->gate_mu);
  a->busy++;
  pthread_mutex_unlock(&a->gate_mu);
}

void api_gate_leave(api *a) {
  pthread_mutex_lock(&a->gate_mu);
  a->busy--;
  pthread_cond_signal(&a->gate_cv);
  pthread_mutex_unlock(&a->gate_mu);
}

/* The request's id: the client's X-Request-Id when it is 1 to 64 of
 * [A-Za-z0-9._-], else a new one (16 hex digits). */
static void request_id(api *a, const httpd_req *q, char out[65]) {
  const char *h = httpd_header(q, "X-Request-Id");
  size_t n = h ? strlen(h) : 0;
  bool ok = n >= 1 && n <= 64;
  for (size_t i = 0; ok && i < n; i++)
    ok = isalnum((unsigned char)h[i]) || h[i] == '.' || h[i] == '_' ||
         h[i] == '-';
  if (ok) {
    memcpy(out, h, n + 1);
    return;
  }
  uint64_t k = atomic_fetch_add(&a->next_req, 1);
  snprintf(out, 65, "%08x%08llx", a->req_salt, (unsigned long long)k);
}

void api_handle(void *arg, const httpd_req *q, httpd_resp *r) {
  api *a = arg;
  int64_t t0 = clock_mono_ns();
  yield_to_trading();
  char rid[65], actor[STORE_USER_MAX + 8];
  request_id(a, q, rid);
  httpd_resp_header(r, "X-Request-Id", rid);
  const route *pre = route_of(q);
  bool gate = !(pre && (pre->flags & R_NOGATE));
  if (gate)
    api_gate_enter(a);
  const route *rt = handle(a, q, r, actor, sizeof actor);
  if (gate)
    api_gate_leave(a);
  int64_t ns = clock_mono_ns() - t0;
  bool stream = rt && rt->fn == api_r_stream;
  /* a stream's time is its whole life, not a request's */
  if (!stream)
    monitor_http(a->c.monitor, rt ? rt->pattern : "", q->method, r->status,
                 ns);
  log_line l;
  if (log_begin(&l, &a->log,
                r->status >= 500   ? LOG_ERROR
                : r->status >= 400 ? LOG_WARN
                                   : LOG_DEBUG,
                "api.request")) {
    log_str(&l, "request_id", rid);
    log_str(&l, "method", q->method);
    log_str(&l, "route", rt ? rt->pattern : "none");
    log_int(&l, "status", r->status);
    log_int(&l, "us", ns / 1000);
    log_str(&l, "actor", actor);
    log_str(&l, "addr", q->addr);
    log_end(&l);
  }
}

static const route *route_of(const httpd_req *q) {
  char param[129];
  for (size_t i = 0; i < DTO_ARRAY_LEN(routes); i++)
    if (!strcmp(routes[i].method, q->method) &&
        match(routes[i].pattern, q->path, param, sizeof param))
      return &routes[i];
  return NULL;
}

static const route *handle(api *a, const httpd_req *q, httpd_resp *r,
                           char *actor, size_t actor_cap) {
  ctx c;
  memset(&c, 0, sizeof c);
  const route *rt = handle_ctx(&c, a, q, r);
  snprintf(actor, actor_cap, "%s", c.actor);
  return rt;
}

static const route *handle_ctx(ctx *cp, api *a, const httpd_req *q,
                               httpd_resp *r) {
  cp->a = a;
  cp->q = q;
  cp->r = r;
  cp->now = now_of(a);
  snprintf(cp->actor, sizeof cp->actor, "-");
  /* the route */
  char param[129];
  const route *rt = NULL;
  char allow[128] = "";
  for (size_t i = 0; i < DTO_ARRAY_LEN(routes); i++) {
    if (!match(routes[i].pattern, q->path, param, sizeof param))
      continue;
    if (!strcmp(routes[i].method, q->method)) {
      rt = &routes[i];
      break;
    }
    size_t used = strlen(allow);
    snprintf(allow + used, sizeof allow - used, "%s%s", used ? ", " : "",
             routes[i].method);
  }
  if (!rt) {
    if (allow[0]) {
      httpd_resp_header(r, "Allow", allow);
      api_fail(cp, 405, "method_not_allowed", NULL,
               "%s is not allowed here (allowed: %s)", q->method, allow);
    } else {
      api_fail(cp, 404, "not_found", NULL, "no such resource");
    }
    return NULL;
  }
  if (strstr(rt->pattern, "{id}"))
    cp->param = param;
  /* the address's rate */
  int64_t wait = auth_limiter_take(a->iplim, q->addr, clock_mono_ns());
  if (wait) {
    char v[24];
    snprintf(v, sizeof v, "%" PRId64, wait);
    httpd_resp_header(r, "Retry-After", v);
    api_fail(cp, 429, "rate_limited", NULL, "too many requests from this "
                                            "address");
    return rt;
  }
  /* who */
  bool public = (rt->flags & R_PUBLIC) ||
                ((rt->flags & R_METRICS) && !a->c.metrics_token);
  if (!public) {
    const char *authz = httpd_header(q, "Authorization");
    const char *sid = httpd_cookie(q, COOKIE);
    if (authz ? !by_token(cp, authz)
              : sid ? !by_session(cp, sid)
                    : (api_fail(cp, 401, "unauthenticated", NULL,
                                "log in, or send an API token"),
                       true))
      return rt;
    char key[40];
    snprintf(key, sizeof key, "%c%" PRId64, cp->via_token ? 't' : 'u',
             cp->via_token ? cp->tok.id : cp->u.id);
    if ((wait = auth_limiter_take(a->ulim, key, clock_mono_ns()))) {
      char v[24];
      snprintf(v, sizeof v, "%" PRId64, wait);
      httpd_resp_header(r, "Retry-After", v);
      api_fail(cp, 429, "rate_limited", NULL, "too many requests");
      return rt;
    }
    if (!(cp->perms & (1 << rt->perm))) {
      api_audit(cp, "auth.denied", q->path, "forbidden", NULL);
      api_fail(cp, 403, "forbidden", NULL,
               "the role %s may not do this (needs %s)", cp->u.role,
               auth_perm_name((enum auth_perm)rt->perm));
      return rt;
    }
    if ((rt->flags & R_SESSION) && !cp->via_session) {
      api_audit(cp, "auth.denied", q->path, "session_required", NULL);
      api_fail(cp, 403, "forbidden", NULL,
               "this needs a logged-in session, not an API token");
      return rt;
    }
    if (cp->via_session && is_write(q->method)) {
      const char *t = httpd_header(q, "X-CSRF-Token");
      char h[65] = "";
      if (t && strlen(t) == 64)
        auth_sha256_hex(t, 64, h);
      if (!auth_equal(h, cp->ses.csrf_hash)) {
        api_audit(cp, "auth.csrf", q->path, "denied", NULL);
        api_fail(cp, 403, "csrf", NULL,
                 "missing or wrong X-CSRF-Token header");
        return rt;
      }
    }
  }
  /* the body */
  if (rt->flags & R_BODY) {
    const char *ct = httpd_header(q, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) ||
        (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
      api_fail(cp, 415, "unsupported_media_type", NULL,
               "send the body as application/json");
      return rt;
    }
    if (memchr(q->body, '\0', q->body_len)) {
      api_fail(cp, 400, "invalid_json", NULL, "the body holds a NUL byte");
      return rt;
    }
    json_error_t je;
    cp->body = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!cp->body) {
      api_fail(cp, 400, "invalid_json", NULL, "malformed JSON at line %d "
                                              "column %d: %s",
               je.line, je.column, je.text);
      return rt;
    }
    if (!json_is_object(cp->body)) {
      json_decref(cp->body);
      api_fail(cp, 400, "invalid_json", NULL, "expected a JSON object");
      return rt;
    }
  }
  rt->fn(cp);
  json_decref(cp->body);
  return rt;
}

/* ---- lifecycle ----------------------------------------------------------- */

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

int api_start(const cfg_api *conf, const char *store_url, svc *sv, api **out,
              char *err, size_t cap) {
  *out = NULL;
  api *a = xcalloc(1, sizeof *a);
  a->c = *conf;
  a->c.listen = xstrdup(conf->listen ? conf->listen : "127.0.0.1:8080");
  a->c.tls_cert = dup_or_null(conf->tls_cert);
  a->c.tls_key = dup_or_null(conf->tls_key);
  a->sv = sv;
  atomic_init(&a->stopping, false);
  a->clock_file = getenv("DTO_API_CLOCK_FILE");
  clock_real_init(&a->logclock);
  log_init(&a->log, conf->logf, &a->logclock,
           conf->logf ? (enum log_level)conf->log_min : LOG_OFF);
  atomic_init(&a->next_req, 1);
  randombytes_buf(&a->req_salt, sizeof a->req_salt);
  if (conf->strategies_json)
    a->strategies = json_loads(conf->strategies_json, 0, NULL);
  pthread_mutex_init(&a->st_mu, NULL);
  pthread_mutex_init(&a->ord_mu, NULL);
  pthread_mutex_init(&a->tc_mu, NULL);
  pthread_mutex_init(&a->gate_mu, NULL);
  pthread_cond_init(&a->gate_cv, NULL);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  a->gate = ncpu > 1 ? (int)ncpu - 1 : 1;
  a->ulim = auth_limiter_new(conf->rate_per_s, conf->rate_burst, 65536);
  a->iplim = auth_limiter_new(conf->ip_rate_per_s, conf->ip_burst, 65536);
  store_options so;
  memset(&so, 0, sizeof so);
  so.require_current = true;
  char e2[512];
  int rc = store_open(store_url, &so, &a->st, e2, sizeof e2);
  if (rc) {
    dto_seterr(err, cap, "api: cannot open the store: %s", e2);
    api_stop(a);
    return rc;
  }
  struct stat kst;
  if (a->c.tls_key && stat(a->c.tls_key, &kst) == 0 && (kst.st_mode & 077)) {
    /* a private key others can read is a key others may have */
    dto_seterr(err, cap,
               "api.tls_key: %s can be read by other users; chmod 600 it",
               a->c.tls_key);
    api_stop(a);
    return DTO_ECONFIG;
  }
  httpd_conf hc;
  memset(&hc, 0, sizeof hc);
  hc.listen = a->c.listen;
  hc.cert_file = a->c.tls_cert;
  hc.key_file = a->c.tls_key;
  hc.max_connections = (unsigned)conf->max_connections;
  hc.max_per_ip = (unsigned)conf->max_per_ip;
  hc.timeout_s = (unsigned)(conf->timeout / DTO_NS_PER_SEC);
  hc.max_body_bytes = (size_t)conf->max_body;
  rc = conf->detached ? 0
                      : httpd_start(&hc, api_handle, a, &a->http, err, cap);
  if (rc) {
    api_stop(a);
    return rc;
  }
  *out = a;
  return 0;
}

int api_port(const api *a) { return a->http ? httpd_port(a->http) : 0; }

void api_stop(api *a) {
  if (!a)
    return;
  atomic_store(&a->stopping, true);
  httpd_stop(a->http);
  store_close(a->st);
  auth_limiter_free(a->ulim);
  auth_limiter_free(a->iplim);
  pthread_mutex_destroy(&a->st_mu);
  pthread_mutex_destroy(&a->ord_mu);
  pthread_mutex_destroy(&a->tc_mu);
  pthread_mutex_destroy(&a->gate_mu);
  pthread_cond_destroy(&a->gate_cv);
  json_decref(a->strategies);
  free(a->c.listen);
  free(a->c.tls_cert);
  free(a->c.tls_key);
  log_close(&a->log);
  free(a);
}
