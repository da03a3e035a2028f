/* ident.c - users and API tokens, for the HTTP API and the CLI. */
#include "api/ident.h"

#include <inttypes.h>

#include "api/audit.h"
#include "core/buf.h"
#include "core/error.h"

bool ident_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n < 1 || n > STORE_USER_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
          c == '-'))
      return false;
  }
  return true;
}

static void note(store *s, const ident_actor *by, dto_time now,
                 const char *action, const char *target, const char *outcome,
                 const char *detail) {
  /* the change is made; an audit record that cannot be written is the
   * store's fault, which the caller's next store call reports */
  (void)audit_record(s, now, by->name, by->address, action, target, outcome,
                     detail);
}

static void role_detail(char *buf, size_t cap, const char *role) {
  dbuf b;
  dbuf_init(&b, cap - 1);
  dbuf_adds(&b, "{\"role\":");
  dbuf_json_str(&b, role);
  dbuf_addc(&b, '}');
  snprintf(buf, cap, "%s", b.ptr ? b.ptr : "{}");
  dbuf_release(&b);
}

static void new_secret(store_user *u, char *uri) {
  char sec[AUTH_TOTP_B32_MAX];
  auth_totp_new_secret(sec);
  snprintf(u->totp_secret, sizeof u->totp_secret, "%s", sec);
  u->totp_pending[0] = '\0';
  u->totp_last_step = 0;
  if (uri && auth_totp_uri(u->name, sec, uri, IDENT_URI_MAX))
    uri[0] = '\0';
  volatile char *v = sec; /* the secret stays only in u */
  for (size_t i = 0; i < sizeof sec; i++)
    v[i] = 0;
}

int ident_user_create(store *s, const ident_actor *by, dto_time now,
                      const char *name, const char *pw, size_t pwlen,
                      const char *role, store_user *out, char *uri,
                      const char **why) {
  enum auth_role r;
  *why = NULL;
  if (uri)
    uri[0] = '\0';
  if (!ident_name_ok(name)) {
    *why = "username: 1 to 64 characters of a-z, A-Z, 0-9, '.', '_', '@' "
           "and '-'";
    return DTO_EINVAL;
  }
  if (auth_role_parse(role, &r)) {
    *why = "role: one of admin, trader, viewer, auditor";
    return DTO_EINVAL;
  }
  enum auth_pw_problem p = auth_password_check(pw, pwlen);
  if (p != AUTH_PW_OK) {
    *why = auth_pw_problem_text(p);
    return DTO_EINVAL;
  }
  store_user u;
  memset(&u, 0, sizeof u);
  snprintf(u.name, sizeof u.name, "%s", name);
  snprintf(u.role, sizeof u.role, "%s", auth_role_name(r));
  char hash[AUTH_HASH_MAX];
  if (auth_password_hash(pw, pwlen, hash))
    return DTO_ENOMEM;
  snprintf(u.password_hash, sizeof u.password_hash, "%s", hash);
  if (auth_role_needs_mfa(r))
    new_secret(&u, uri);
  u.password_changed = u.created = u.updated = now;
  int rc = store_user_add(s, &u);
  char detail[96];
  role_detail(detail, sizeof detail, u.role);
  note(s, by, now, "user.create", name, rc ? "failed" : "ok", detail);
  if (!rc && out)
    *out = u;
  return rc;
}

int ident_user_set_role(store *s, const ident_actor *by, dto_time now,
                        const char *name, const char *role, char *uri,
                        const char **why) {
  enum auth_role r;
  *why = NULL;
  if (uri)
    uri[0] = '\0';
  if (auth_role_parse(role, &r)) {
    *why = "role: one of admin, trader, viewer, auditor";
    return DTO_EINVAL;
  }
  store_user u;
  int rc = store_user_get(s, name, &u);
  if (rc)
    return rc;
  snprintf(u.role, sizeof u.role, "%s", auth_role_name(r));
  if (auth_role_needs_mfa(r) && !u.totp_secret[0])
    new_secret(&u, uri);
  u.updated = now;
  rc = store_user_update(s, &u);
  if (!rc)
    rc = store_session_delete_user(s, u.id, NULL);
  char detail[96];
  role_detail(detail, sizeof detail, u.role);
  note(s, by, now, "user.set_role", name, rc ? "failed" : "ok", detail);
  return rc;
}

int ident_user_disable(store *s, const ident_actor *by, dto_time now,
                       const char *name, bool disabled) {
  store_user u;
  int rc = store_user_get(s, name, &u);
  if (rc)
    return rc;
  u.disabled = disabled;
  u.updated = now;
  rc = store_user_update(s, &u);
  if (!rc && disabled)
    rc = store_session_delete_user(s, u.id, NULL);
  note(s, by, now, disabled ? "user.disable" : "user.enable", name,
       rc ? "failed" : "ok", NULL);
  return rc;
}

int ident_user_reset_mfa(store *s, const ident_actor *by, dto_time now,
                         const char *name, char *uri) {
  store_user u;
  if (uri)
    uri[0] = '\0';
  int rc = store_user_get(s, name, &u);
  if (rc)
    return rc;
  enum auth_role r = ROLE_VIEWER;
  (void)auth_role_parse(u.role, &r);
  if (auth_role_needs_mfa(r)) {
    new_secret(&u, uri);
  } else {
    u.totp_secret[0] = u.totp_pending[0] = '\0';
    u.totp_last_step = 0;
  }
  u.updated = now;
  rc = store_user_update(s, &u);
  if (!rc)
    rc = store_session_delete_user(s, u.id, NULL);
  note(s, by, now, "mfa.reset", name, rc ? "failed" : "ok", NULL);
  return rc;
}

int ident_scope_mask(const char *scope) {
  if (!scope || !scope[0])
    return (1 << PERM_COUNT) - 1;
  int mask = 0;
  const char *p = scope;
  while (*p) {
    while (*p == ' ' || *p == ',')
      p++;
    if (!*p)
      break;
    const char *e = p;
    while (*e && *e != ' ' && *e != ',')
      e++;
    int found = -1;
    for (int k = 0; k < PERM_COUNT && found < 0; k++) {
      const char *nm = auth_perm_name((enum auth_perm)k);
      if (strlen(nm) == (size_t)(e - p) && !memcmp(nm, p, (size_t)(e - p)))
        found = k;
    }
    if (found < 0)
      return -1;
    mask |= 1 << found;
    p = e;
  }
  return mask ? mask : -1;
}

int ident_token_create(store *s, const ident_actor *by, dto_time now,
                       const store_user *u, const char *name, int days,
                       int max_days, const char *scope, store_token *out,
                       char *token, const char **why) {
  *why = NULL;
  if (days < 1 || days > max_days) {
    *why = "expires_days: 1 to the configured maximum (api.token_max_days)";
    return DTO_EINVAL;
  }
  if (!scope)
    scope = "";
  if (strlen(scope) > STORE_SCOPE_MAX || ident_scope_mask(scope) < 0) {
    *why = "scope: permission names among read, trade, control, users, "
           "audit, self";
    return DTO_EINVAL;
  }
  if (!name)
    name = "";
  if (strlen(name) > STORE_TOKEN_NAME_MAX) {
    *why = "name: at most 64 bytes";
    return DTO_EINVAL;
  }
  char hex[65];
  auth_random_hex(32, hex);
  snprintf(token, IDENT_TOKEN_LEN + 1, IDENT_TOKEN_PREFIX "%s", hex);
  store_token t;
  memset(&t, 0, sizeof t);
  auth_sha256_hex(token, strlen(token), t.hash);
  t.user_id = u->id;
  snprintf(t.name, sizeof t.name, "%s", name);
  snprintf(t.scope, sizeof t.scope, "%s", scope);
  t.created = now;
  t.expires = now + (dto_time)days * 86400 * DTO_NS_PER_SEC;
  int rc = store_token_add(s, &t);
  char detail[160];
  snprintf(detail, sizeof detail, "{\"id\":%" PRId64 ",\"days\":%d}", t.id,
           days);
  note(s, by, now, "token.create", u->name, rc ? "failed" : "ok", detail);
  if (rc) {
    token[0] = '\0';
    return rc;
  }
  if (out)
    *out = t;
  return 0;
}

int ident_token_revoke(store *s, const ident_actor *by, dto_time now,
                       int64_t id) {
  store_token t;
  int rc = store_token_get(s, id, &t);
  if (rc)
    return rc;
  if (t.revoked)
    return DTO_ESTATE;
  t.revoked = now;
  rc = store_token_update(s, &t);
  char target[32];
  snprintf(target, sizeof target, "token %" PRId64, id);
  note(s, by, now, "token.revoke", target, rc ? "failed" : "ok", NULL);
  return rc;
}
