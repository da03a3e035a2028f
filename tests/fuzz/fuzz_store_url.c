/* fuzz_store_url.c - libFuzzer harness for the store URL helpers.
 *
 * Store URLs come from the command line and the environment, and their
 * redacted form is printed in messages.  For any input:
 *   - store_url_redact() does not crash, and fails only with DTO_ETOOBIG
 *     leaving "";
 *   - every byte that libpq would read as a password (a small reference
 *     parser below, written from libpq's URI rules) lies inside a range
 *     that store__url_secrets() reports;
 *   - the redacted text is the URL with exactly those ranges replaced by
 *     "***", and a URL without such ranges is left as it is.
 */
#include "core/prelude.h"

#include "core/error.h"
#include "store/store.h"
#include "store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool covered(size_t a, size_t l, const size_t *at, const size_t *len,
                    size_t m) {
  for (size_t i = 0; i < m; i++)
    if (a >= at[i] && a + l <= at[i] + len[i])
      return true;
  return false;
}

static int hex(char h) {
  return h >= '0' && h <= '9'   ? h - '0'
         : h >= 'a' && h <= 'f' ? h - 'a' + 10
         : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                : -1;
}

/* libpq: percent-decode the key of a parameter, compare. */
static bool key_is(const char *p, size_t n, const char *want) {
  char key[64];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)p[i];
    if (c == '%' && i + 2 < n && hex(p[i + 1]) >= 0 && hex(p[i + 2]) >= 0) {
      c = hex(p[i + 1]) * 16 + hex(p[i + 2]);
      i += 2;
    }
    if (k + 1 >= sizeof key)
      return false;
    key[k++] = (char)c;
  }
  key[k] = '\0';
  return !strcmp(key, want);
}

/* Check the reference password ranges against the store's ranges. */
static void check_reference(const char *url, const size_t *at,
                            const size_t *len, size_t m) {
  const char *p;
  if (!strncmp(url, "postgresql://", 13))
    p = url + 13;
  else if (!strncmp(url, "postgres://", 11))
    p = url + 11;
  else
    return;
  /* User info: up to the first '@' before any '/'. */
  const char *q = p + strcspn(p, "@/");
  const char *rest = p;
  if (*q == '@') {
    const char *colon = memchr(p, ':', (size_t)(q - p));
    if (colon && q > colon + 1)
      DTO_ASSERT(covered((size_t)(colon + 1 - url), (size_t)(q - colon - 1), at,
                         len, m));
    rest = q + 1;
  }
  /* Parameters: after the first '?' that follows, split on '&'. */
  const char *qm = strchr(rest, '?');
  if (!qm)
    return;
  for (const char *s = qm + 1;;) {
    size_t n = strcspn(s, "&");
    const char *eq = memchr(s, '=', n);
    if (eq && (key_is(s, (size_t)(eq - s), "password") ||
               key_is(s, (size_t)(eq - s), "sslpassword"))) {
      size_t vl = n - (size_t)(eq + 1 - s);
      if (vl)
        DTO_ASSERT(covered((size_t)(eq + 1 - url), vl, at, len, m));
    }
    if (!s[n])
      break;
    s += n + 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096)
    return 0;
  char url[4097], out[8300];
  memcpy(url, data, size);
  url[size] = '\0'; /* the helpers take C strings: stop at a NUL */
  size_t n = strlen(url);
  size_t at[STORE_URL_SECRETS_MAX], len[STORE_URL_SECRETS_MAX];
  size_t m = store__url_secrets(url, at, len, STORE_URL_SECRETS_MAX);
  int rc = store_url_redact(url, out, sizeof out);
  if (m > STORE_URL_SECRETS_MAX) {
    DTO_ASSERT(rc == DTO_ETOOBIG && out[0] == '\0');
    return 0;
  }
  DTO_ASSERT(rc == 0);
  DTO_ASSERT(store_url_has_password(url) == (m > 0));
  for (size_t i = 0; i < m; i++) {
    DTO_ASSERT(at[i] + len[i] <= n);
    if (i)
      DTO_ASSERT(at[i] > at[i - 1] + len[i - 1]); /* sorted, disjoint */
  }
  check_reference(url, at, len, m);
  /* out is url with the ranges replaced by "***". */
  size_t o = 0, i = 0;
  for (size_t j = 0; j < m; j++) {
    DTO_ASSERT(!memcmp(out + o, url + i, at[j] - i));
    o += at[j] - i;
    DTO_ASSERT(!memcmp(out + o, "***", 3));
    o += 3;
    i = at[j] + len[j];
  }
  DTO_ASSERT(!strcmp(out + o, url + i));
  return 0;
}
