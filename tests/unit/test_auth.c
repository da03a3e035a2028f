/* test_auth.c - the API's security primitives against outside oracles: the
 * TOTP vectors of RFC 6238 appendix B, the base32 vectors of RFC 4648
 * section 10, the SHA-256 vectors of FIPS 180-2, a common password picked
 * by hand from python3-zxcvbn's list, argon2id strings in libsodium's
 * standard encoding, and a role matrix written out again by hand.  The
 * limiter runs on an injected clock.  Argon2id costs ~50 ms a hash, so
 * the password cases hash only a handful of times. */
#include "core/prelude.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <time.h>

#include <cmocka.h>

#include "api/auth.h"
#include "core/error.h"

/* The generated list (scripts/gen-common-passwords.py), to check its order
 * and the lookup against it. */
extern const char *const auth__common_pw[];
extern const size_t auth__common_pw_count;

#define SEC DTO_NS_PER_SEC

/* ---- TOTP ---------------------------------------------------------------- */

/* RFC 6238 appendix B uses the ASCII key "12345678901234567890" for SHA-1;
 * its base32 form is the one printed in countless authenticator guides. */
#define RFC_SECRET "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static void test_rfc6238_vectors(void **state) {
  (void)state;
  char b32[AUTH_TOTP_B32_MAX];
  auth_base32_encode((const uint8_t *)"12345678901234567890", 20, b32,
                     sizeof b32);
  assert_string_equal(b32, RFC_SECRET);
  /* Appendix B's 8-digit codes; a 6-digit code is their last 6 digits. */
  static const struct {
    int64_t t;
    const char *code8;
  } v[] = {
      {59, "94287082"},         {1111111109, "07081804"},
      {1111111111, "14050471"}, {1234567890, "89005924"},
      {2000000000, "69279037"}, {20000000000LL, "65353130"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(v); i++) {
    char code[7];
    assert_int_equal(auth_totp_code(RFC_SECRET, v[i].t / 30, code), 0);
    assert_string_equal(code, v[i].code8 + 2);
    /* Lower case and spaces in the secret make no difference. */
    assert_int_equal(auth_totp_code("gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
                                    v[i].t / 30, code),
                     0);
    assert_string_equal(code, v[i].code8 + 2);
    /* Verifying at that very time finds that step. */
    assert_int_equal(auth_totp_verify(RFC_SECRET, v[i].code8 + 2, v[i].t, -1),
                     v[i].t / 30);
  }
}

static void test_totp_window_and_replay(void **state) {
  (void)state;
  const int64_t now = 1111111111; /* step 37037037 */
  const int64_t step = now / 30;
  char c[5][7];
  for (int k = 0; k < 5; k++)
    assert_int_equal(auth_totp_code(RFC_SECRET, step - 2 + k, c[k]), 0);
  /* c[2] is now; c[1] and c[3] one step either side; c[0], c[4] too far. */
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[2], now, 0), step);
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[1], now, 0), step - 1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[3], now, 0), step + 1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[0], now, 0), -1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[4], now, 0), -1);
  /* Replay: a code whose step was already used is refused, and so is an
   * older one once a newer code went through. */
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[2], now, step), -1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[1], now, step), -1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[3], now, step), step + 1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[3], now, step + 1), -1);
  /* The first and last second of the step are the same step. */
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[2], step * 30, -1), step);
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[2], step * 30 + 29, -1),
                   step);
  /* Malformed codes, secrets and times. */
  assert_int_equal(auth_totp_verify(RFC_SECRET, "12345", now, -1), -1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, "1234567", now, -1), -1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, "12a456", now, -1), -1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, "", now, -1), -1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, NULL, now, -1), -1);
  assert_int_equal(auth_totp_verify("not base32!", c[2], now, -1), -1);
  assert_int_equal(auth_totp_verify(RFC_SECRET, c[2], -5, -1), -1);
  char code[7];
  assert_int_equal(auth_totp_code("GEZDGNBV", 1, code), DTO_EINVAL);
  assert_int_equal(auth_totp_code("1111", 1, code), DTO_EINVAL);
  assert_int_equal(auth_totp_code(RFC_SECRET, -1, code), DTO_EINVAL);
}

static void test_totp_new_secret(void **state) {
  (void)state;
  char a[AUTH_TOTP_B32_MAX], b[AUTH_TOTP_B32_MAX];
  auth_totp_new_secret(a);
  auth_totp_new_secret(b);
  assert_int_equal(strlen(a), 32);
  assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32);
  assert_string_not_equal(a, b);
  uint8_t key[64];
  size_t n = 0;
  assert_int_equal(auth_base32_decode(a, key, sizeof key, &n), 0);
  assert_int_equal(n, AUTH_TOTP_SECRET_BYTES);
  /* A new secret works with the code functions end to end. */
  char code[7];
  assert_int_equal(auth_totp_code(a, 1000, code), 0);
  assert_int_equal(auth_totp_verify(a, code, 1000 * 30 + 7, 999), 1000);
}

static void test_totp_uri(void **state) {
  (void)state;
  char out[256];
  assert_int_equal(auth_totp_uri("ann", RFC_SECRET, out, sizeof out), 0);
  assert_string_equal(out, "otpauth://totp/dto:ann?secret=" RFC_SECRET
                           "&issuer=dto&algorithm=SHA1&digits=6&period=30");
  /* Everything but the unreserved characters is percent-encoded. */
  assert_int_equal(
      auth_totp_uri("a b:c&d?é~x_y.z-1", RFC_SECRET, out, sizeof out), 0);
  assert_string_equal(out, "otpauth://totp/dto:a%20b%3Ac%26d%3F%C3%A9~x_y.z-1"
                           "?secret=" RFC_SECRET
                           "&issuer=dto&algorithm=SHA1&digits=6&period=30");
  /* Too small a buffer: DTO_ENOSPC, and the buffer holds an empty string;
   * exactly big enough fits. */
  size_t need = strlen("otpauth://totp/dto:ann?secret=" RFC_SECRET
                       "&issuer=dto&algorithm=SHA1&digits=6&period=30") +
                1;
  assert_int_equal(auth_totp_uri("ann", RFC_SECRET, out, need - 1), DTO_ENOSPC);
  assert_string_equal(out, "");
  assert_int_equal(auth_totp_uri("ann", RFC_SECRET, out, need), 0);
  assert_int_equal(auth_totp_uri("ann", RFC_SECRET, out, 0), DTO_ENOSPC);
}

/* ---- base32 -------------------------------------------------------------- */

static void test_base32_rfc4648(void **state) {
  (void)state;
  static const struct {
    const char *raw, *b32;
  } v[] = {
      {"", ""},
      {"f", "MY"},
      {"fo", "MZXQ"},
      {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"},
      {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(v); i++) {
    char enc[32];
    size_t n = strlen(v[i].raw);
    auth_base32_encode((const uint8_t *)v[i].raw, n, enc, sizeof enc);
    assert_string_equal(enc, v[i].b32);
    uint8_t dec[16];
    size_t m = 99;
    assert_int_equal(auth_base32_decode(v[i].b32, dec, sizeof dec, &m), 0);
    assert_int_equal(m, n);
    assert_memory_equal(dec, v[i].raw, n);
  }
  /* The RFC's padded forms, lower case and spaces decode the same. */
  uint8_t dec[16];
  size_t m = 0;
  assert_int_equal(auth_base32_decode("MZXW6YQ=", dec, sizeof dec, &m), 0);
  assert_int_equal(m, 4);
  assert_memory_equal(dec, "foob", 4);
  assert_int_equal(
      auth_base32_decode("mzxw 6ytb oi======", dec, sizeof dec, &m), 0);
  assert_int_equal(m, 6);
  assert_memory_equal(dec, "foobar", 6);
  /* Characters outside the alphabet (0, 1, 8, 9 are not in it). */
  assert_int_equal(auth_base32_decode("MZXW0YTB", dec, sizeof dec, &m),
                   DTO_EINVAL);
  assert_int_equal(auth_base32_decode("MZXW1YTB", dec, sizeof dec, &m),
                   DTO_EINVAL);
  assert_int_equal(auth_base32_decode("MZ-XW", dec, sizeof dec, &m),
                   DTO_EINVAL);
  /* Lengths no byte string encodes to (1, 3 or 6 characters in the last
   * group): a secret cut short. */
  assert_int_equal(auth_base32_decode("M", dec, sizeof dec, &m), DTO_EINVAL);
  assert_int_equal(auth_base32_decode("MZX", dec, sizeof dec, &m), DTO_EINVAL);
  assert_int_equal(auth_base32_decode("MZXW6Y", dec, sizeof dec, &m),
                   DTO_EINVAL);
  /* The output cap is respected. */
  assert_int_equal(auth_base32_decode("MZXW6YTBOI", dec, 5, &m), DTO_ETOOBIG);
  assert_int_equal(auth_base32_decode("MZXW6YTBOI", dec, 6, &m), 0);
}

/* ---- random, hashes, comparison ------------------------------------------ */

static void test_random_and_sha256(void **state) {
  (void)state;
  char a[65], b[65];
  auth_random_hex(32, a);
  auth_random_hex(32, b);
  assert_int_equal(strlen(a), 64);
  assert_int_equal(strspn(a, "0123456789abcdef"), 64);
  assert_string_not_equal(a, b);
  char big[2 * 100 + 1]; /* more than one internal chunk */
  memset(big, 'X', sizeof big);
  auth_random_hex(100, big);
  assert_int_equal(strlen(big), 200);
  assert_int_equal(strspn(big, "0123456789abcdef"), 200);
  char none[1] = {'X'};
  auth_random_hex(0, none);
  assert_string_equal(none, "");
  /* FIPS 180-2 vectors. */
  char h[65];
  auth_sha256_hex("abc", 3, h);
  assert_string_equal(
      h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auth_sha256_hex("", 0, h);
  assert_string_equal(
      h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_equal(void **state) {
  (void)state;
  assert_true(auth_equal("abc", "abc"));
  assert_true(auth_equal("", ""));
  assert_false(auth_equal("abc", "abd"));
  assert_false(auth_equal("abc", "ab"));
  assert_false(auth_equal("ab", "abc"));
  assert_false(auth_equal(NULL, "a"));
  assert_false(auth_equal("a", NULL));
}

/* ---- passwords ----------------------------------------------------------- */

static enum auth_pw_problem check(const char *s) {
  return auth_password_check(s, strlen(s));
}

/* n copies of the UTF-8 unit u. */
static char *repeat(const char *u, size_t n) {
  size_t k = strlen(u);
  char *s = malloc(k * n + 1);
  assert_non_null(s);
  for (size_t i = 0; i < n; i++)
    memcpy(s + i * k, u, k);
  s[k * n] = '\0';
  return s;
}

static void test_password_length(void **state) {
  (void)state;
  assert_int_equal(check("kq7Zp2mVx9L"), AUTH_PW_TOO_SHORT); /* 11 */
  assert_int_equal(check("kq7Zp2mVx9Lr"), AUTH_PW_OK);       /* 12 */
  assert_int_equal(check(""), AUTH_PW_TOO_SHORT);
  char *s = repeat("a", 128);
  assert_int_equal(check(s), AUTH_PW_OK);
  free(s);
  s = repeat("a", 129);
  assert_int_equal(check(s), AUTH_PW_TOO_LONG);
  free(s);
  /* Code points, not bytes: 12 emoji (48 bytes) are enough, 11 (44 bytes)
   * are not, 128 (512 bytes) are allowed and 129 are not. */
  const char *emoji = "\xF0\x9F\x98\x80"; /* U+1F600 */
  s = repeat(emoji, 12);
  assert_int_equal(strlen(s), 48);
  assert_int_equal(check(s), AUTH_PW_OK);
  free(s);
  s = repeat(emoji, 11);
  assert_int_equal(check(s), AUTH_PW_TOO_SHORT);
  free(s);
  s = repeat(emoji, 128);
  assert_int_equal(check(s), AUTH_PW_OK);
  free(s);
  s = repeat(emoji, 129);
  assert_int_equal(check(s), AUTH_PW_TOO_LONG);
  free(s);
  /* Two- and three-byte characters count once each too. */
  assert_int_equal(check("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                         "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC"
                         "\xE2\x82\xAC\xE2\x82\xAC"),
                   AUTH_PW_OK);
  /* Spaces are characters like any other. */
  assert_int_equal(check("correct horse battery staple"), AUTH_PW_OK);
  assert_int_equal(check("            "), AUTH_PW_OK);
  for (int p = AUTH_PW_OK; p <= AUTH_PW_COMMON; p++)
    assert_true(strlen(auth_pw_problem_text((enum auth_pw_problem)p)) > 10);
}

static void test_password_utf8(void **state) {
  (void)state;
  static const char *const bad[] = {
      "kq7Zp2mVx9Lr\xFF",             /* never valid */
      "kq7Zp2mVx9Lr\x80",             /* stray continuation byte */
      "kq7Zp2mVx9Lr\xC0\xAF",         /* overlong '/' */
      "kq7Zp2mVx9Lr\xE0\x80\xAF",     /* overlong '/', 3 bytes */
      "kq7Zp2mVx9Lr\xF0\x80\x80\xAF", /* overlong '/', 4 bytes */
      "kq7Zp2mVx9Lr\xED\xA0\x80",     /* surrogate U+D800 */
      "kq7Zp2mVx9Lr\xF4\x90\x80\x80", /* U+110000 */
      "kq7Zp2mVx9Lr\xE2\x82",         /* truncated euro sign */
      "kq7Zp2\xE2\x82mVx9Lr",         /* truncated in the middle */
      "kq7Zp2mVx9Lr\x01",             /* C0 control */
      "kq7Zp2mV\tx9Lr",               /* tab */
      "kq7Zp2mVx9Lr\x7F",             /* DEL */
      "kq7Zp2mVx9Lr\xC2\x85",         /* C1 control (NEL) */
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++)
    assert_int_equal(check(bad[i]), AUTH_PW_NOT_UTF8);
  /* A NUL inside the counted length. */
  assert_int_equal(auth_password_check("kq7Zp2\0mVx9Lr", 13), AUTH_PW_NOT_UTF8);
  /* The largest code point and the ones around the surrogates are fine. */
  assert_int_equal(
      check("kq7Zp2mVx9Lr\xF4\x8F\xBF\xBF\xED\x9F\xBF\xEE\x80\x80"),
      AUTH_PW_OK);
}

static void test_password_common(void **state) {
  (void)state;
  /* Picked by hand from python3-zxcvbn's list (rank < 10,000, 12
   * characters): refused in any ASCII case. */
  assert_int_equal(check("qwerty123456"), AUTH_PW_COMMON);
  assert_int_equal(check("QWERTY123456"), AUTH_PW_COMMON);
  assert_int_equal(check("QwErTy123456"), AUTH_PW_COMMON);
  assert_int_equal(check("1qaz2wsx3edc"), AUTH_PW_COMMON);
  assert_int_equal(check("LeaveMeAlone"), AUTH_PW_COMMON);
  /* A neighbour of a list entry is not in the list. */
  assert_int_equal(check("qwerty1234567"), AUTH_PW_OK);
  assert_int_equal(check("qwerty12345"), AUTH_PW_TOO_SHORT);
  /* The generated list: 10,000 entries, strictly in strcmp() order (so the
   * bisection can find each), all lower case; every entry long enough to
   * pass the length check is refused, in upper case too. */
  assert_int_equal(auth__common_pw_count, 10000);
  size_t long_ones = 0;
  for (size_t i = 0; i < auth__common_pw_count; i++) {
    const char *e = auth__common_pw[i];
    if (i > 0)
      assert_true(strcmp(auth__common_pw[i - 1], e) < 0);
    size_t n = strlen(e);
    char up[64];
    assert_true(n < sizeof up);
    for (size_t k = 0; k <= n; k++) {
      assert_false(e[k] >= 'A' && e[k] <= 'Z');
      up[k] = (e[k] >= 'a' && e[k] <= 'z') ? (char)(e[k] - 32) : e[k];
    }
    if (n >= AUTH_PW_MIN) {
      long_ones++;
      assert_int_equal(check(e), AUTH_PW_COMMON);
      assert_int_equal(check(up), AUTH_PW_COMMON);
    }
  }
  assert_true(long_ones >= 50);
}

static void test_password_hash(void **state) {
  (void)state;
  const char *pw = "correct horse battery staple";
  char h[AUTH_HASH_MAX];
  assert_int_equal(auth_password_hash(pw, strlen(pw), h), 0);
  const char *prefix = "$argon2id$v=19$m=19456,t=2,p=1$";
  assert_memory_equal(h, prefix, strlen(prefix));
  assert_int_equal(auth_password_verify(h, pw, strlen(pw)), 1);
  assert_int_equal(auth_password_verify(h, "correct horse battery stapl", 27),
                   0);
  /* A second hash of the same password has its own salt. */
  char h2[AUTH_HASH_MAX];
  assert_int_equal(auth_password_hash(pw, strlen(pw), h2), 0);
  assert_string_not_equal(h, h2);
  /* Malformed hashes verify nothing (and cost no argon2 run). */
  assert_int_equal(auth_password_verify("", pw, strlen(pw)), 0);
  assert_int_equal(
      auth_password_verify("$argon2id$v=19$garbage", pw, strlen(pw)), 0);
  assert_int_equal(auth_password_verify(NULL, pw, strlen(pw)), 0);
}

/* No truncation anywhere: bcrypt would compare only the first 72 bytes. */
static void test_password_not_truncated(void **state) {
  (void)state;
  char a[101], b[101];
  memset(a, 'p', 100);
  memcpy(b, a, 100);
  a[99] = 'A';
  b[99] = 'B';
  a[100] = b[100] = '\0';
  char ha[AUTH_HASH_MAX], hb[AUTH_HASH_MAX];
  assert_int_equal(auth_password_hash(a, 100, ha), 0);
  assert_int_equal(auth_password_hash(b, 100, hb), 0);
  assert_int_equal(auth_password_verify(ha, b, 100), 0);
  assert_int_equal(auth_password_verify(hb, a, 100), 0);
  assert_int_equal(auth_password_verify(ha, a, 100), 1);
  /* A prefix of the password is not the password. */
  assert_int_equal(auth_password_verify(ha, a, 99), 0);
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void *dummy_thread(void *arg) {
  (void)arg;
  auth_password_dummy("someone's guess", 15);
  return NULL;
}

/* The dummy does the work of a real verification.  Timing is compared
 * loosely (the best of two runs, a factor of 4) so a loaded machine does
 * not fail it; what it catches is a dummy that does no argon2 at all. */
static void test_password_dummy(void **state) {
  (void)state;
  /* First use from several threads at once: one lazy set-up. */
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, dummy_thread, NULL), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  char h[AUTH_HASH_MAX];
  assert_int_equal(auth_password_hash("right password", 14, h), 0);
  int64_t best_dummy = INT64_MAX, best_verify = INT64_MAX;
  for (int i = 0; i < 2; i++) {
    int64_t t0 = mono_ns();
    auth_password_dummy("wrong password", 14);
    int64_t t1 = mono_ns();
    assert_int_equal(auth_password_verify(h, "wrong password", 14), 0);
    int64_t t2 = mono_ns();
    best_dummy = t1 - t0 < best_dummy ? t1 - t0 : best_dummy;
    best_verify = t2 - t1 < best_verify ? t2 - t1 : best_verify;
  }
  print_message("dummy %lld us, verify %lld us\n",
                (long long)(best_dummy / 1000),
                (long long)(best_verify / 1000));
  assert_true(best_dummy * 4 >= best_verify);
}

/* ---- roles --------------------------------------------------------------- */

static void test_roles(void **state) {
  (void)state;
  /* The matrix of docs/api.md, written out again: rows are roles, columns
   * READ TRADE CONTROL USERS AUDIT SELF. */
  static const bool want[ROLE_COUNT][PERM_COUNT] = {
      [ROLE_ADMIN] = {1, 1, 1, 1, 1, 1},
      [ROLE_TRADER] = {1, 1, 1, 0, 0, 1},
      [ROLE_VIEWER] = {1, 0, 0, 0, 0, 1},
      [ROLE_AUDITOR] = {1, 0, 0, 0, 1, 1},
  };
  for (int r = 0; r < ROLE_COUNT; r++)
    for (int p = 0; p < PERM_COUNT; p++)
      assert_int_equal(auth_role_can((enum auth_role)r, (enum auth_perm)p),
                       want[r][p]);
  /* Spot checks by name, the way a route reads. */
  assert_false(auth_role_can(ROLE_TRADER, PERM_USERS));
  assert_false(auth_role_can(ROLE_VIEWER, PERM_TRADE));
  assert_false(auth_role_can(ROLE_AUDITOR, PERM_CONTROL));
  assert_true(auth_role_can(ROLE_AUDITOR, PERM_AUDIT));
  assert_false(auth_role_can(ROLE_COUNT, PERM_READ));
  assert_false(auth_role_can(ROLE_ADMIN, PERM_COUNT));
  assert_true(auth_role_needs_mfa(ROLE_ADMIN));
  assert_true(auth_role_needs_mfa(ROLE_TRADER));
  assert_false(auth_role_needs_mfa(ROLE_VIEWER));
  assert_false(auth_role_needs_mfa(ROLE_AUDITOR));
  static const char *const names[] = {"admin", "trader", "viewer", "auditor"};
  for (int r = 0; r < ROLE_COUNT; r++) {
    enum auth_role got = ROLE_COUNT;
    assert_string_equal(auth_role_name((enum auth_role)r), names[r]);
    assert_int_equal(auth_role_parse(names[r], &got), 0);
    assert_int_equal(got, r);
  }
  enum auth_role got;
  assert_int_equal(auth_role_parse("root", &got), DTO_EINVAL);
  assert_int_equal(auth_role_parse("Admin", &got), DTO_EINVAL);
  assert_int_equal(auth_role_parse("", &got), DTO_EINVAL);
  assert_string_equal(auth_perm_name(PERM_READ), "read");
  assert_string_equal(auth_perm_name(PERM_SELF), "self");
  assert_string_equal(auth_perm_name(PERM_COUNT), "unknown");
}

/* ---- limiter ------------------------------------------------------------- */

static void test_limiter_burst_and_refill(void **state) {
  (void)state;
  auth_limiter *l = auth_limiter_new(1.0, 3, 100);
  assert_non_null(l);
  int64_t t = 1000 * SEC;
  for (int i = 0; i < 3; i++)
    assert_int_equal(auth_limiter_take(l, "ann", t), 0);
  assert_int_equal(auth_limiter_take(l, "ann", t), 1);
  /* Half a second later half a token has come back: still a wait of 1 s
   * (whole seconds, rounded up, never 0). */
  assert_int_equal(auth_limiter_take(l, "ann", t + SEC / 2), 1);
  /* A whole second after the burst: exactly one token. */
  assert_int_equal(auth_limiter_take(l, "ann", t + SEC), 0);
  assert_int_equal(auth_limiter_take(l, "ann", t + SEC), 1);
  /* Another key is independent of the first. */
  assert_int_equal(auth_limiter_take(l, "bob", t + SEC), 0);
  /* A long pause refills only up to the burst. */
  t += 100 * SEC;
  for (int i = 0; i < 3; i++)
    assert_int_equal(auth_limiter_take(l, "ann", t), 0);
  assert_int_equal(auth_limiter_take(l, "ann", t), 1);
  /* A clock that goes back gives nothing. */
  assert_int_equal(auth_limiter_take(l, "ann", t - 50 * SEC), 1);
  auth_limiter_free(l);

  /* A slow rate: one token per 10 s, so the wait is 10 s, then less. */
  l = auth_limiter_new(0.1, 1, 10);
  assert_int_equal(auth_limiter_take(l, "k", 0), 0);
  assert_int_equal(auth_limiter_take(l, "k", 0), 10);
  assert_int_equal(auth_limiter_take(l, "k", 4 * SEC), 6);
  assert_int_equal(auth_limiter_take(l, "k", 9 * SEC + SEC / 2), 1);
  /* Exactly the advertised wait is enough (no rounding error). */
  assert_int_equal(auth_limiter_take(l, "k", 10 * SEC), 0);
  auth_limiter_free(l);
}

static void test_limiter_eviction(void **state) {
  (void)state;
  auth_limiter *l = auth_limiter_new(0.001, 1, 2);
  assert_int_equal(auth_limiter_take(l, "a", 0), 0);
  assert_true(auth_limiter_take(l, "a", 0) >= 1);
  assert_int_equal(auth_limiter_take(l, "b", 0), 0);
  /* a was used more recently than b, so a third key pushes b out. */
  assert_true(auth_limiter_take(l, "a", 0) >= 1);
  assert_int_equal(auth_limiter_take(l, "c", 0), 0);
  assert_true(auth_limiter_take(l, "a", 0) >= 1); /* a kept its state */
  /* b comes back as a new, full bucket, pushing out c (older than a). */
  assert_int_equal(auth_limiter_take(l, "b", 0), 0);
  assert_true(auth_limiter_take(l, "a", 0) >= 1);
  assert_int_equal(auth_limiter_take(l, "c", 0), 0);
  auth_limiter_free(l);

  /* Many keys through a small table: the table stays correct. */
  l = auth_limiter_new(0.001, 2, 64);
  char key[32];
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < 1000; i++) {
      snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
      assert_int_equal(auth_limiter_take(l, key, 0), 0);
    }
  /* The last 64 keys are still in: each has one token left, then none. */
  for (int i = 1000 - 64; i < 1000; i++) {
    snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
    assert_int_equal(auth_limiter_take(l, key, 0), 0);
    assert_true(auth_limiter_take(l, key, 0) >= 1);
  }
  auth_limiter_free(l);
}

static void test_limiter_bad_params(void **state) {
  (void)state;
  assert_null(auth_limiter_new(0, 1, 10));
  assert_null(auth_limiter_new(-1, 1, 10));
  assert_null(auth_limiter_new(1, 0.5, 10));
  assert_null(auth_limiter_new(1, 1, 0));
  auth_limiter_free(NULL);
}

#define NTHREADS 4
#define TAKES 2000

struct taker {
  auth_limiter *l;
  int allowed;
};

static void *taker_thread(void *arg) {
  struct taker *tk = arg;
  char key[16];
  for (int i = 0; i < TAKES; i++) {
    /* One shared key, and one key per thread visit to churn the table. */
    if (auth_limiter_take(tk->l, "shared", 0) == 0)
      tk->allowed++;
    snprintf(key, sizeof key, "k%d", i % 50);
    (void)auth_limiter_take(tk->l, key, 0);
  }
  return NULL;
}

/* Threads share a table (run under ThreadSanitizer too): with no time
 * passing, exactly burst takes of the shared key succeed in all. */
static void test_limiter_threads(void **state) {
  (void)state;
  auth_limiter *l = auth_limiter_new(1, 100, 1000);
  pthread_t t[NTHREADS];
  struct taker tk[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    tk[i] = (struct taker){l, 0};
    assert_int_equal(pthread_create(&t[i], NULL, taker_thread, &tk[i]), 0);
  }
  int allowed = 0;
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join(t[i], NULL);
    allowed += tk[i].allowed;
  }
  assert_int_equal(allowed, 100);
  auth_limiter_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc6238_vectors),
      cmocka_unit_test(test_totp_window_and_replay),
      cmocka_unit_test(test_totp_new_secret),
      cmocka_unit_test(test_totp_uri),
      cmocka_unit_test(test_base32_rfc4648),
      cmocka_unit_test(test_random_and_sha256),
      cmocka_unit_test(test_equal),
      cmocka_unit_test(test_password_length),
      cmocka_unit_test(test_password_utf8),
      cmocka_unit_test(test_password_common),
      cmocka_unit_test(test_password_hash),
      cmocka_unit_test(test_password_not_truncated),
      cmocka_unit_test(test_password_dummy),
      cmocka_unit_test(test_roles),
      cmocka_unit_test(test_limiter_burst_and_refill),
      cmocka_unit_test(test_limiter_eviction),
      cmocka_unit_test(test_limiter_bad_params),
      cmocka_unit_test(test_limiter_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
