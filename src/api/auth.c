/* auth.c - the HTTP API's security primitives: password policy and argon2id
 * hashes, TOTP (RFC 6238) with base32 secrets, random secrets, SHA-256, the
 * role matrix and token-bucket rate limits.
 *
 * Not for: anything stored or sent.  Sessions, tokens and audit records are
 * api.c's and the store's; HTTP is httpd.c's.  Nothing in here reads a
 * clock: callers pass the time, so tests choose it.
 *
 * Cryptography is libsodium's (argon2id, the CSPRNG, SHA-256, constant-time
 * comparison, SipHash) except HMAC-SHA-1, which libsodium lacks and TOTP
 * requires; that one is GnuTLS's.
 */
#include "api/auth.h"

#include <math.h>
#include <pthread.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>

#include "core/alloc.h"
#include "core/error.h"

_Static_assert(AUTH_HASH_MAX >= crypto_pwhash_STRBYTES,
               "AUTH_HASH_MAX must hold libsodium's encoded hash");
_Static_assert(AUTH_ARGON_MEM >= crypto_pwhash_MEMLIMIT_MIN &&
                   AUTH_ARGON_OPS >= crypto_pwhash_OPSLIMIT_MIN,
               "argon2id parameters below libsodium's minimum");

/* libsodium must be initialised once before its CSPRNG is used; it picks
 * the fastest implementations and opens the random source.  It only fails
 * when the system has no random source at all, and nothing here is safe
 * then. */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void sodium_setup(void) { DTO_ASSERT(sodium_init() >= 0); }

static void need_sodium(void) { pthread_once(&sodium_once, sodium_setup); }

/* ---- passwords ----------------------------------------------------------- */

/* The list generated at build time (scripts/gen-common-passwords.py writes
 * the same two declarations): ASCII-lower-cased, in strcmp() order. */
extern const char *const auth__common_pw[];
extern const size_t auth__common_pw_count;

/* Decode the code point of UTF-8 at s[*pos] (len bytes in all) into *cp and
 * advance *pos.  False for anything RFC 3629 forbids: a stray continuation
 * byte, a truncated sequence, an overlong form, a surrogate, or a value
 * above U+10FFFF.  Overlong forms matter because they would let one
 * password have two byte strings (and so two hashes). */
static bool utf8_next(const uint8_t *s, size_t len, size_t *pos, uint32_t *cp) {
  size_t i = *pos;
  uint8_t b = s[i];
  uint32_t v, min;
  size_t more;
  if (b < 0x80) {
    *cp = b;
    *pos = i + 1;
    return true;
  }
  if ((b & 0xE0) == 0xC0) {
    v = b & 0x1F;
    more = 1;
    min = 0x80;
  } else if ((b & 0xF0) == 0xE0) {
    v = b & 0x0F;
    more = 2;
    min = 0x800;
  } else if ((b & 0xF8) == 0xF0) {
    v = b & 0x07;
    more = 3;
    min = 0x10000;
  } else {
    return false; /* a continuation byte, or 0xF8..0xFF */
  }
  if (len - i - 1 < more)
    return false;
  for (size_t k = 1; k <= more; k++) {
    uint8_t c = s[i + k];
    if ((c & 0xC0) != 0x80)
      return false;
    v = v << 6 | (c & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
    return false;
  *cp = v;
  *pos = i + 1 + more;
  return true;
}

/* Control characters (C0 with NUL, DEL, C1) cannot be typed reliably, are
 * often mangled by terminals and forms, and a NUL would cut the password
 * short in any C string API further down.  Everything else, spaces and
 * emoji included, is allowed (NIST SP 800-63B 5.1.1.2). */
static bool is_control(uint32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

/* Bisection over the generated list.  pw is at most AUTH_PW_MAX code points
 * (the length check comes first), so it fits the buffer; the lowered copy
 * is wiped because it is the password. */
static bool is_common(const char *pw, size_t len) {
  char low[AUTH_PW_MAX * 4 + 1];
  if (len >= sizeof low)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = pw[i];
    low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  low[len] = '\0';
  size_t lo = 0, hi = auth__common_pw_count;
  bool found = false;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(low, auth__common_pw[mid]);
    if (c == 0) {
      found = true;
      break;
    }
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  sodium_memzero(low, sizeof low);
  return found;
}

enum auth_pw_problem auth_password_check(const char *pw, size_t len) {
  const uint8_t *s = (const uint8_t *)pw;
  size_t points = 0;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    if (!utf8_next(s, len, &i, &cp) || is_control(cp))
      return AUTH_PW_NOT_UTF8;
    points++;
  }
  if (points < AUTH_PW_MIN)
    return AUTH_PW_TOO_SHORT;
  if (points > AUTH_PW_MAX)
    return AUTH_PW_TOO_LONG;
  if (is_common(pw, len))
    return AUTH_PW_COMMON;
  return AUTH_PW_OK;
}

const char *auth_pw_problem_text(enum auth_pw_problem p) {
  switch (p) {
  case AUTH_PW_OK:
    return "the password is acceptable";
  case AUTH_PW_NOT_UTF8:
    return "the password must be valid UTF-8 text without control characters";
  case AUTH_PW_TOO_SHORT:
    return "the password must be at least 12 characters long";
  case AUTH_PW_TOO_LONG:
    return "the password must be at most 128 characters long";
  case AUTH_PW_COMMON:
    return "the password is one of the most common passwords; choose another";
  }
  return "the password is not acceptable";
}

int auth_password_hash(const char *pw, size_t len, char out[AUTH_HASH_MAX]) {
  need_sodium();
  /* crypto_pwhash_str_alg draws a random 16-byte salt itself and takes the
   * whole byte string: nothing is truncated (unlike bcrypt's 72 bytes). */
  if (crypto_pwhash_str_alg(out, pw ? pw : "", len, AUTH_ARGON_OPS,
                            AUTH_ARGON_MEM,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    out[0] = '\0';
    return DTO_ENOMEM; /* the only failure: 19 MiB not available */
  }
  return 0;
}

int auth_password_verify(const char *hash, const char *pw, size_t len) {
  if (!hash || strnlen(hash, AUTH_HASH_MAX) == AUTH_HASH_MAX)
    return 0; /* not a string we could have written */
  need_sodium();
  /* The parameters are read from the string, so hashes made with older
   * settings still verify. */
  return crypto_pwhash_str_verify(hash, pw ? pw : "", len) == 0;
}

/* The dummy hash: computed on first use (the cost of one argon2id run),
 * then only read, so one once-flag is all the locking it needs. */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[AUTH_HASH_MAX];

static void dummy_setup(void) {
  static const char pw[] = "dto dummy password, never a real one";
  if (auth_password_hash(pw, sizeof pw - 1, dummy_hash) != 0)
    dummy_hash[0] = '\0';
}

void auth_password_dummy(const char *pw, size_t len) {
  pthread_once(&dummy_once, dummy_setup);
  if (dummy_hash[0]) {
    (void)auth_password_verify(dummy_hash, pw, len);
  } else {
    /* The first hash ran out of memory: a fresh hash costs the same as a
     * verification, so an unknown user still cannot be told apart. */
    char tmp[AUTH_HASH_MAX];
    (void)auth_password_hash(pw, len, tmp);
  }
}

/* ---- base32 (RFC 4648, section 6) ---------------------------------------- */

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* out must hold ceil(8n / 5) characters and the NUL; a smaller cap is the
 * caller's bug (every caller sizes it from a constant). */
void auth_base32_encode(const uint8_t *in, size_t n, char *out, size_t cap) {
  DTO_ASSERT(n <= (SIZE_MAX - 5) / 8);
  DTO_ASSERT(out && cap >= (n * 8 + 4) / 5 + 1);
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc = (acc << 8 | in[i]) & 0xFFF; /* never more than 12 bits kept */
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[o++] = B32[(acc >> bits) & 31];
    }
  }
  if (bits > 0)
    out[o++] = B32[(acc << (5 - bits)) & 31];
  out[o] = '\0';
}

static int b32_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a';
  if (c >= '2' && c <= '7')
    return c - '2' + 26;
  return -1;
}

/* Lenient where people copy secrets by hand (case, '=' padding, the spaces
 * of "ABCD EFGH" groups), strict where the text cannot be an encoding: a
 * final group of 1, 3 or 6 characters leaves 5 or more bits, which no byte
 * string encodes to, so the secret was cut short.  DTO_ETOOBIG when the
 * bytes do not fit cap. */
int auth_base32_decode(const char *in, uint8_t *out, size_t cap, size_t *n) {
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (const char *p = in; *p; p++) {
    if (*p == '=' || *p == ' ')
      continue;
    int v = b32_value(*p);
    if (v < 0)
      return DTO_EINVAL;
    acc = (acc << 5 | (uint32_t)v) & 0xFFF; /* never more than 12 bits kept */
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      if (o == cap)
        return DTO_ETOOBIG;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  if (bits >= 5)
    return DTO_EINVAL;
  *n = o;
  return 0;
}

/* ---- TOTP (RFC 6238 over RFC 4226) --------------------------------------- */

#define TOTP_STEP_S 30
#define TOTP_DIGITS 6
/* RFC 4226 R6: a shared secret of at least 128 bits.  The upper bound is
 * only a buffer size (a SHA-1 key longer than its 64-byte block is hashed
 * down anyway). */
#define TOTP_KEY_MIN 16
#define TOTP_KEY_MAX 64

void auth_totp_new_secret(char out[AUTH_TOTP_B32_MAX]) {
  uint8_t key[AUTH_TOTP_SECRET_BYTES];
  need_sodium();
  randombytes_buf(key, sizeof key);
  auth_base32_encode(key, sizeof key, out, AUTH_TOTP_B32_MAX);
  sodium_memzero(key, sizeof key);
}

/* HOTP value of key at counter `step`: HMAC-SHA-1 of the big-endian
 * counter, dynamic truncation (RFC 4226 5.3), the last 6 decimal digits. */
static int hotp(const uint8_t *key, size_t klen, uint64_t step, char code[7]) {
  uint8_t msg[8], mac[20];
  for (int i = 7; i >= 0; i--, step >>= 8)
    msg[i] = (uint8_t)(step & 0xFF);
  if (gnutls_hmac_fast(GNUTLS_MAC_SHA1, key, klen, msg, sizeof msg, mac) < 0)
    return DTO_EUNSUPPORTED; /* SHA-1 disabled (a FIPS policy) */
  unsigned off = mac[19] & 0x0F;
  uint32_t bin = (uint32_t)(mac[off] & 0x7F) << 24 |
                 (uint32_t)mac[off + 1] << 16 | (uint32_t)mac[off + 2] << 8 |
                 (uint32_t)mac[off + 3];
  uint32_t v = bin % 1000000u;
  for (int i = TOTP_DIGITS - 1; i >= 0; i--, v /= 10)
    code[i] = (char)('0' + v % 10);
  code[TOTP_DIGITS] = '\0';
  sodium_memzero(mac, sizeof mac);
  return 0;
}

/* The secret's bytes into key (TOTP_KEY_MAX); DTO_EINVAL for a secret that
 * is not base32 or is shorter than 128 bits. */
static int totp_key(const char *secret_b32, uint8_t key[TOTP_KEY_MAX],
                    size_t *klen) {
  if (!secret_b32 ||
      auth_base32_decode(secret_b32, key, TOTP_KEY_MAX, klen) != 0 ||
      *klen < TOTP_KEY_MIN) {
    sodium_memzero(key, TOTP_KEY_MAX);
    return DTO_EINVAL;
  }
  return 0;
}

int auth_totp_code(const char *secret_b32, int64_t step, char code[7]) {
  uint8_t key[TOTP_KEY_MAX];
  size_t klen;
  code[0] = '\0';
  if (step < 0)
    return DTO_EINVAL;
  int rc = totp_key(secret_b32, key, &klen);
  if (rc == 0)
    rc = hotp(key, klen, (uint64_t)step, code);
  sodium_memzero(key, sizeof key);
  return rc;
}

static bool six_digits(const char *code) {
  if (!code || strnlen(code, TOTP_DIGITS + 1) != TOTP_DIGITS)
    return false;
  for (int i = 0; i < TOTP_DIGITS; i++)
    if (code[i] < '0' || code[i] > '9')
      return false;
  return true;
}

/* One step either side allows for clock drift and for a code typed just
 * as it changed.  All three candidates are computed and compared in
 * constant time whatever matches, so the time taken does not tell an
 * attacker how close a guess was.  A step at or before last_step has been
 * used already: refusing it makes each code single-use (RFC 6238 5.2). */
int64_t auth_totp_verify(const char *secret_b32, const char *code,
                         int64_t now_s, int64_t last_step) {
  uint8_t key[TOTP_KEY_MAX];
  size_t klen;
  if (now_s < 0 || !six_digits(code) || totp_key(secret_b32, key, &klen))
    return -1;
  int64_t now = now_s / TOTP_STEP_S, found = -1;
  for (int64_t s = now - 1; s <= now + 1; s++) {
    char want[7];
    if (s < 0 || hotp(key, klen, (uint64_t)s, want) != 0)
      continue;
    bool same = sodium_memcmp(want, code, TOTP_DIGITS) == 0;
    if (same && s > last_step && found < 0)
      found = s;
    sodium_memzero(want, sizeof want);
  }
  sodium_memzero(key, sizeof key);
  return found;
}

/* A bounded writer for the URI: once something does not fit, the rest is
 * dropped and the caller reports DTO_ENOSPC. */
struct uri_out {
  char *p;
  size_t cap, len;
  bool full;
};

static void uri_put(struct uri_out *o, char c) {
  if (o->len + 1 >= o->cap) {
    o->full = true;
    return;
  }
  o->p[o->len++] = c;
}

static void uri_puts(struct uri_out *o, const char *s) {
  while (*s)
    uri_put(o, *s++);
}

/* RFC 3986 percent-encoding: only the unreserved characters stay as they
 * are, so a ':' in a user name cannot pose as the issuer separator and a
 * '&' or '?' cannot start a parameter. */
static void uri_put_encoded(struct uri_out *o, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      uri_put(o, (char)c);
    } else {
      uri_put(o, '%');
      uri_put(o, hex[c >> 4]);
      uri_put(o, hex[c & 15]);
    }
  }
}

int auth_totp_uri(const char *user, const char *secret_b32, char *out,
                  size_t cap) {
  if (cap == 0)
    return DTO_ENOSPC;
  struct uri_out o = {out, cap, 0, false};
  uri_puts(&o, "otpauth://totp/dto:");
  uri_put_encoded(&o, user);
  uri_puts(&o, "?secret=");
  uri_put_encoded(&o, secret_b32);
  uri_puts(&o, "&issuer=dto&algorithm=SHA1&digits=6&period=30");
  out[o.full ? 0 : o.len] = '\0';
  return o.full ? DTO_ENOSPC : 0;
}

/* ---- random secrets and hashes ------------------------------------------- */

void auth_random_hex(size_t bytes, char *out) {
  uint8_t chunk[32];
  need_sodium();
  out[0] = '\0';
  /* In chunks, so any length works without a heap copy of the secret. */
  for (size_t done = 0; done < bytes;) {
    size_t k = bytes - done < sizeof chunk ? bytes - done : sizeof chunk;
    randombytes_buf(chunk, k);
    sodium_bin2hex(out + 2 * done, 2 * k + 1, chunk, k);
    done += k;
  }
  sodium_memzero(chunk, sizeof chunk);
}

void auth_sha256_hex(const void *in, size_t n, char out[65]) {
  uint8_t h[crypto_hash_sha256_BYTES];
  need_sodium();
  crypto_hash_sha256(h, in, n);
  sodium_bin2hex(out, 65, h, sizeof h);
}

/* The lengths are compared in ordinary time: the strings compared here
 * (token hashes, codes) have a public, fixed length. */
bool auth_equal(const char *a, const char *b) {
  if (!a || !b)
    return false;
  size_t la = strlen(a), lb = strlen(b);
  if (la != lb)
    return false;
  return la == 0 || sodium_memcmp(a, b, la) == 0;
}

/* ---- roles and permissions ----------------------------------------------- */

/* The permission matrix (docs/api.md carries the same table):
 *
 *              READ  TRADE  CONTROL  USERS  AUDIT  SELF   MFA
 *   admin       x      x      x        x      x     x     required
 *   trader      x      x      x                     x     required
 *   viewer      x                                   x
 *   auditor     x                             x     x
 *
 * Only an admin manages users; an auditor reads the audit log but cannot
 * move money or change the engine; every role manages its own session,
 * password, TOTP and tokens.  Those who can trade or administer must use a
 * second factor. */
#define P(p) (1u << (p))
static const struct {
  const char *name;
  unsigned perms;
  bool mfa;
} ROLES[ROLE_COUNT] = {
    [ROLE_ADMIN] = {"admin",
                    P(PERM_READ) | P(PERM_TRADE) | P(PERM_CONTROL) |
                        P(PERM_USERS) | P(PERM_AUDIT) | P(PERM_SELF),
                    true},
    [ROLE_TRADER] = {"trader",
                     P(PERM_READ) | P(PERM_TRADE) | P(PERM_CONTROL) |
                         P(PERM_SELF),
                     true},
    [ROLE_VIEWER] = {"viewer", P(PERM_READ) | P(PERM_SELF), false},
    [ROLE_AUDITOR] = {"auditor", P(PERM_READ) | P(PERM_AUDIT) | P(PERM_SELF),
                      false},
};
#undef P

static const char *const PERM_NAMES[PERM_COUNT] = {
    [PERM_READ] = "read",   [PERM_TRADE] = "trade", [PERM_CONTROL] = "control",
    [PERM_USERS] = "users", [PERM_AUDIT] = "audit", [PERM_SELF] = "self",
};

static bool role_ok(enum auth_role r) {
  return (unsigned)r < (unsigned)ROLE_COUNT;
}

const char *auth_role_name(enum auth_role r) {
  return role_ok(r) ? ROLES[r].name : "unknown";
}

/* Exact, lower-case names only: a role is configuration, not user input to
 * be forgiving about. */
int auth_role_parse(const char *s, enum auth_role *out) {
  for (int r = 0; s && r < ROLE_COUNT; r++) {
    if (strcmp(s, ROLES[r].name) == 0) {
      *out = (enum auth_role)r;
      return 0;
    }
  }
  return DTO_EINVAL;
}

bool auth_role_can(enum auth_role r, enum auth_perm p) {
  if (!role_ok(r) || (unsigned)p >= (unsigned)PERM_COUNT)
    return false; /* deny what is not in the table */
  return (ROLES[r].perms & (1u << p)) != 0;
}

bool auth_role_needs_mfa(enum auth_role r) {
  return role_ok(r) ? ROLES[r].mfa : true; /* unknown: the stricter answer */
}

const char *auth_perm_name(enum auth_perm p) {
  return (unsigned)p < (unsigned)PERM_COUNT ? PERM_NAMES[p] : "unknown";
}

/* ---- rate limits (token buckets) ----------------------------------------- */

/* Beyond this many keys the table would mostly cost memory: a caller that
 * needs more has a design problem, not a limit to raise. */
#define LIM_KEYS_MAX (1u << 20)
#define NIL UINT32_MAX
/* Refill is computed in floating point; a client that waits exactly the
 * advertised seconds must not be refused for a rounding error. */
#define LIM_EPS 1e-9

/* One bucket.  Buckets live in one array and link by index: into the chain
 * of their hash slot, and into the recency list that picks the victim when
 * the table is full. */
struct lim_entry {
  char *key; /* owned */
  uint64_t hash;
  double tokens;
  int64_t last_ns; /* when tokens was last brought up to date */
  uint32_t chain;  /* next entry in the same hash slot */
  uint32_t newer, older;
};

struct auth_limiter {
  pthread_mutex_t mu;
  double rate, burst;
  uint32_t max;    /* max_keys */
  uint32_t used;   /* entries in use: 0..max */
  uint32_t cap;    /* entries allocated (grows up to max) */
  uint32_t mask;   /* slots - 1; slots is a power of two >= max */
  uint32_t *slots; /* head entry of each chain, or NIL */
  struct lim_entry *e;
  uint32_t newest, oldest;
  /* SipHash key, random per table: keys are chosen by clients (addresses,
   * user names), so a known hash would let them pile up one chain. */
  uint8_t sipkey[crypto_shorthash_KEYBYTES];
};

auth_limiter *auth_limiter_new(double rate_per_s, double burst,
                               size_t max_keys) {
  if (!(rate_per_s > 0) || !isfinite(rate_per_s) || !(burst >= 1) ||
      !isfinite(burst) || max_keys == 0 || max_keys > LIM_KEYS_MAX)
    return NULL;
  need_sodium();
  auth_limiter *l = xcalloc(1, sizeof *l);
  if (pthread_mutex_init(&l->mu, NULL) != 0) {
    free(l);
    return NULL;
  }
  l->rate = rate_per_s;
  l->burst = burst;
  l->max = (uint32_t)max_keys;
  uint32_t slots = 16;
  while (slots < l->max)
    slots *= 2;
  l->mask = slots - 1;
  l->slots = xmalloc(slots * sizeof *l->slots);
  for (uint32_t i = 0; i < slots; i++)
    l->slots[i] = NIL;
  l->newest = l->oldest = NIL;
  randombytes_buf(l->sipkey, sizeof l->sipkey);
  return l;
}

void auth_limiter_free(auth_limiter *l) {
  if (!l)
    return;
  for (uint32_t i = 0; i < l->used; i++)
    free(l->e[i].key);
  free(l->e);
  free(l->slots);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static void lru_unlink(auth_limiter *l, uint32_t i) {
  struct lim_entry *x = &l->e[i];
  if (x->newer != NIL)
    l->e[x->newer].older = x->older;
  else
    l->newest = x->older;
  if (x->older != NIL)
    l->e[x->older].newer = x->newer;
  else
    l->oldest = x->newer;
}

static void lru_push(auth_limiter *l, uint32_t i) {
  struct lim_entry *x = &l->e[i];
  x->newer = NIL;
  x->older = l->newest;
  if (l->newest != NIL)
    l->e[l->newest].newer = i;
  else
    l->oldest = i;
  l->newest = i;
}

static uint32_t lim_find(const auth_limiter *l, const char *key, uint64_t h) {
  for (uint32_t i = l->slots[h & l->mask]; i != NIL; i = l->e[i].chain)
    if (l->e[i].hash == h && strcmp(l->e[i].key, key) == 0)
      return i;
  return NIL;
}

static void chain_unlink(auth_limiter *l, uint32_t i) {
  uint32_t *link = &l->slots[l->e[i].hash & l->mask];
  while (*link != i)
    link = &l->e[*link].chain;
  *link = l->e[i].chain;
}

/* A new, full bucket for key.  When the table is full the least recently
 * used bucket gives way: it is the one most likely to have refilled, and
 * a full bucket is the same as no bucket, so forgetting it loses nothing. */
static uint32_t lim_insert(auth_limiter *l, const char *key, uint64_t h,
                           int64_t now_ns) {
  uint32_t i;
  if (l->used == l->max) {
    i = l->oldest;
    lru_unlink(l, i);
    chain_unlink(l, i);
    free(l->e[i].key);
  } else {
    if (l->used == l->cap) {
      size_t cap = l->cap;
      l->e = xgrow(l->e, &cap, (size_t)l->used + 1, sizeof *l->e);
      l->cap = cap > l->max ? l->max : (uint32_t)cap;
    }
    i = l->used++;
  }
  struct lim_entry *x = &l->e[i];
  x->key = xstrdup(key);
  x->hash = h;
  x->tokens = l->burst;
  x->last_ns = now_ns;
  x->chain = l->slots[h & l->mask];
  l->slots[h & l->mask] = i;
  lru_push(l, i);
  return i;
}

/* Refill x for the time since it was last seen, then take a token or say
 * how long until there is one.  A clock that goes backwards adds nothing. */
static int64_t lim_spend(const auth_limiter *l, struct lim_entry *x,
                         int64_t now_ns) {
  if (now_ns > x->last_ns) {
    uint64_t dt = (uint64_t)now_ns - (uint64_t)x->last_ns;
    x->tokens += (double)dt / (double)DTO_NS_PER_SEC * l->rate;
    if (x->tokens > l->burst)
      x->tokens = l->burst;
    x->last_ns = now_ns;
  }
  if (x->tokens >= 1.0 - LIM_EPS) {
    x->tokens = x->tokens - 1.0 < 0 ? 0 : x->tokens - 1.0;
    return 0;
  }
  /* The same tolerance the other way: 6.000000001 s is a wait of 6. */
  double wait = ceil((1.0 - x->tokens) / l->rate - LIM_EPS);
  if (wait < 1)
    return 1;
  return wait > 1e9 ? (int64_t)1e9 : (int64_t)wait;
}

int64_t auth_limiter_take(auth_limiter *l, const char *key, int64_t now_ns) {
  DTO_ASSERT(l && key);
  uint8_t hb[crypto_shorthash_BYTES];
  crypto_shorthash(hb, (const unsigned char *)key, strlen(key), l->sipkey);
  uint64_t h;
  memcpy(&h, hb, sizeof h);
  pthread_mutex_lock(&l->mu);
  uint32_t i = lim_find(l, key, h);
  if (i == NIL) {
    i = lim_insert(l, key, h, now_ns);
  } else {
    lru_unlink(l, i);
    lru_push(l, i);
  }
  int64_t wait = lim_spend(l, &l->e[i], now_ns);
  pthread_mutex_unlock(&l->mu);
  return wait;
}
