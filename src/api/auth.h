/* auth.h - the HTTP API's security primitives: passwords, TOTP, random
 * secrets, hashes, roles and rate limits.  Pure functions over memory: no
 * store, no network, no clock of their own (time is passed in).
 *
 * Not for: sessions, tokens and the audit log as records (api.c and the
 * store), HTTP (httpd.c).
 */
#ifndef DTO_API_AUTH_H
#define DTO_API_AUTH_H

#include "core/prelude.h"

/* ---- passwords ----------------------------------------------------------- */

#define AUTH_PW_MIN 12  /* characters (Unicode code points) */
#define AUTH_PW_MAX 128
/* argon2id parameters: at least 19 MiB and 2 passes (OWASP) */
#define AUTH_ARGON_MEM (19u * 1024 * 1024)
#define AUTH_ARGON_OPS 2
#define AUTH_HASH_MAX 256 /* an encoded "$argon2id$..." string, NUL included */

/* Why a password is refused, or AUTH_PW_OK. */
enum auth_pw_problem {
  AUTH_PW_OK,
  AUTH_PW_NOT_UTF8,  /* not valid UTF-8, or holds a NUL or control char */
  AUTH_PW_TOO_SHORT, /* fewer than AUTH_PW_MIN code points */
  AUTH_PW_TOO_LONG,  /* more than AUTH_PW_MAX code points */
  AUTH_PW_COMMON     /* in the list of the 10,000 most common passwords */
};
/* Check a candidate password of len bytes: no composition rules, any
 * Unicode (spaces and emoji included), nothing truncated.  The common list
 * is compared case-insensitively (ASCII). */
enum auth_pw_problem auth_password_check(const char *pw, size_t len);
/* A sentence for a person ("must be at least 12 characters"). */
const char *auth_pw_problem_text(enum auth_pw_problem p);

/* Hash pw (len bytes) with argon2id (AUTH_ARGON_OPS passes, AUTH_ARGON_MEM
 * bytes) into out (AUTH_HASH_MAX): the standard "$argon2id$v=19$m=...,
 * t=...,p=1$SALT$HASH" string.  0 or DTO_ENOMEM. */
int auth_password_hash(const char *pw, size_t len, char out[AUTH_HASH_MAX]);
/* 1 when pw matches hash, 0 when not (or hash is malformed). */
int auth_password_verify(const char *hash, const char *pw, size_t len);
/* Do the work of one verification against a fixed dummy hash (for an
 * unknown user: the same time as a wrong password). */
void auth_password_dummy(const char *pw, size_t len);

/* ---- TOTP (RFC 6238: HMAC-SHA-1, 30 s steps, 6 digits) ------------------- */

#define AUTH_TOTP_SECRET_BYTES 20
#define AUTH_TOTP_B32_MAX 40 /* base32 of 20 bytes is 32 chars; NUL incl. */

/* A new random secret, base32 (RFC 4648, no padding) into out. */
void auth_totp_new_secret(char out[AUTH_TOTP_B32_MAX]);
/* The 6-digit code of secret (base32) at time step `step` (unix seconds /
 * 30) into code (7 bytes).  0; DTO_EINVAL for a bad secret (not base32, or
 * shorter than the 128 bits RFC 4226 requires) or a negative step;
 * DTO_EUNSUPPORTED when GnuTLS refuses HMAC-SHA-1 (a FIPS policy). */
int auth_totp_code(const char *secret_b32, int64_t step, char code[7]);
/* Check code against secret at unix time `now_s`, one step either side.
 * Returns the matching step (> last_step: each code is accepted once), or
 * -1 when it does not match or its step is not after last_step. */
int64_t auth_totp_verify(const char *secret_b32, const char *code,
                         int64_t now_s, int64_t last_step);
/* "otpauth://totp/dto:NAME?secret=...&issuer=dto&algorithm=SHA1&digits=6&
 * period=30" into out (cap bytes); DTO_ENOSPC when it does not fit. */
int auth_totp_uri(const char *user, const char *secret_b32, char *out,
                  size_t cap);
/* RFC 4648 base32 without padding.  encode: out must hold ceil(8n / 5)
 * characters and the NUL (a smaller cap is a broken invariant: it
 * asserts).  decode: bytes into out (cap), length into *n; DTO_EINVAL for
 * a bad character (case-insensitive, '=' and spaces ignored) or a length
 * no byte string encodes to (a secret cut short), DTO_ETOOBIG when the
 * bytes do not fit cap. */
void auth_base32_encode(const uint8_t *in, size_t n, char *out, size_t cap);
int auth_base32_decode(const char *in, uint8_t *out, size_t cap, size_t *n);

/* ---- random secrets and hashes ------------------------------------------- */

/* bytes random bytes (libsodium's CSPRNG) as lower-case hex (2 * bytes + 1
 * with the NUL) into out. */
void auth_random_hex(size_t bytes, char *out);
/* SHA-256 of n bytes as lower-case hex (65 bytes with the NUL). */
void auth_sha256_hex(const void *in, size_t n, char out[65]);
/* Constant-time comparison of two NUL-terminated strings of equal length
 * (different lengths compare unequal). */
bool auth_equal(const char *a, const char *b);

/* ---- roles and permissions ----------------------------------------------- */

enum auth_role { ROLE_ADMIN, ROLE_TRADER, ROLE_VIEWER, ROLE_AUDITOR,
                 ROLE_COUNT };
/* Permissions, one per kind of route. */
enum auth_perm {
  PERM_READ,        /* accounts, positions, orders, fills, pnl, strategies,
                       risk, market, stream */
  PERM_TRADE,       /* place, cancel, replace orders; flatten */
  PERM_CONTROL,     /* pause and resume strategies, risk limits and mode,
                       kill switch */
  PERM_USERS,       /* manage users */
  PERM_AUDIT,       /* read the audit log */
  PERM_SELF,        /* own session, password, TOTP and tokens */
  PERM_COUNT
};
const char *auth_role_name(enum auth_role r);
/* DTO_EINVAL for an unknown name. */
int auth_role_parse(const char *s, enum auth_role *out);
/* The permission matrix (written out over the table in auth.c, and in
 * docs/api.md): does role r have p?  False for values out of range. */
bool auth_role_can(enum auth_role r, enum auth_perm p);
/* Roles that must use TOTP (admin, trader; true for an unknown value). */
bool auth_role_needs_mfa(enum auth_role r);
const char *auth_perm_name(enum auth_perm p);

/* ---- rate limits (token buckets) ----------------------------------------- */

/* A table of buckets keyed by a string (a user, a token id, an address),
 * each refilled at rate per second up to burst; thread-safe.  A new key
 * starts with a full bucket.  At most max_keys keys are kept: when full,
 * the least recently used key is forgotten (it has most likely refilled,
 * and a full bucket is the same as none). */
typedef struct auth_limiter auth_limiter;
/* NULL for parameters that make no sense: rate <= 0, burst < 1, max_keys 0
 * or above 2^20.  Free with auth_limiter_free(). */
auth_limiter *auth_limiter_new(double rate_per_s, double burst, size_t max_keys);
void auth_limiter_free(auth_limiter *l);
/* Take one token for key at monotonic time now_ns: 0 when allowed, else
 * the whole seconds to wait (>= 1, rounded up) for the next token; a
 * refused call takes nothing.  A clock that goes back adds no tokens. */
int64_t auth_limiter_take(auth_limiter *l, const char *key, int64_t now_ns);

#endif
