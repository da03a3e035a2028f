/* ident.h - users and API tokens: what the HTTP API and the CLI (`dto user`,
 * `dto token`) both do to them, each change in the audit log.
 *
 * Not for: sessions and requests (api.c), the primitives (auth.h), rows
 * (store.h).
 */
#ifndef DTO_API_IDENT_H
#define DTO_API_IDENT_H

#include "api/auth.h"
#include "store/store.h"

#define IDENT_TOKEN_PREFIX "dto_"
#define IDENT_TOKEN_LEN (4 + 64) /* "dto_" + 64 hex; without the NUL */
#define IDENT_URI_MAX 512

/* Who does it and from where, for the audit log. */
typedef struct ident_actor {
  const char *name;    /* a user name, "cli:USER" */
  const char *address; /* a client address, "" for the CLI */
} ident_actor;

/* Is name a valid user name (1 to 64 of a-z A-Z 0-9 . _ @ -)? */
bool ident_name_ok(const char *name);

/* Create a user: name valid and free, password by auth_password_check,
 * role known.  Roles with MFA get a TOTP secret at once; its otpauth URI
 * goes into uri (IDENT_URI_MAX; "" for roles without).  0; DTO_EINVAL with
 * *why set (a sentence naming the field) for bad input; DTO_EEXIST for a
 * name taken; the store's error. */
int ident_user_create(store *s, const ident_actor *by, dto_time now,
                      const char *name, const char *pw, size_t pwlen,
                      const char *role, store_user *out, char *uri,
                      const char **why);
/* Set a user's role (sessions end; a role with MFA and no secret yet gets
 * one, its URI in uri, else uri is ""). */
int ident_user_set_role(store *s, const ident_actor *by, dto_time now,
                        const char *name, const char *role, char *uri,
                        const char **why);
/* Disable (sessions end) or enable a user. */
int ident_user_disable(store *s, const ident_actor *by, dto_time now,
                       const char *name, bool disabled);
/* A new TOTP secret for a user whose role needs MFA (its URI into uri),
 * or none for the others ("" in uri); sessions end. */
int ident_user_reset_mfa(store *s, const ident_actor *by, dto_time now,
                         const char *name, char *uri);

/* A new API token for user u: expires in days (1..max_days), scope a
 * space-separated list of permission names (auth_perm_name) or "" for all
 * the role has.  The token itself goes into token (IDENT_TOKEN_LEN + 1)
 * and is never stored.  DTO_EINVAL with *why for a bad scope or days. */
int ident_token_create(store *s, const ident_actor *by, dto_time now,
                       const store_user *u, const char *name, int days,
                       int max_days, const char *scope, store_token *out,
                       char *token, const char **why);
/* Revoke token id (DTO_ENOENT when none, DTO_ESTATE when revoked). */
int ident_token_revoke(store *s, const ident_actor *by, dto_time now,
                       int64_t id);
/* The permissions a scope string grants (a bit per enum auth_perm), or
 * -1 for an unknown name; "" grants every permission. */
int ident_scope_mask(const char *scope);

#endif
