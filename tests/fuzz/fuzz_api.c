/* fuzz_api.c - libFuzzer harness for the HTTP API's request handling:
 * routing, the Authorization header, the session cookie, X-CSRF-Token,
 * Idempotency-Key, Content-Type, Last-Event-ID, query arguments and JSON
 * bodies, through api_handle on a detached API (no server) with a real
 * SQLite store in a temporary folder.
 *
 * The input is a request in a small text form:
 *
 *   METHOD\n PATH\n
 *   h NAME: VALUE\n     a header      (any number, in any order)
 *   c NAME=VALUE\n      a cookie
 *   q NAME=VALUE\n      a query argument
 *   \n BODY             the rest
 *
 * The values $TOKEN, $SID and $CSRF are replaced by a valid API token,
 * session id and CSRF token of an admin, so that the fuzzer reaches what
 * lies behind authentication.  The commands a request would send find the
 * service closed (answered at once, "stopping"), and no snapshot is
 * published (reads answer 503): the harness is about input handling.
 * Logins, password changes and user creation are skipped: each costs an
 * argon2id hash of 19 MiB, which would make the harness too slow to find
 * anything.
 *
 * Every answer must be one of the documented statuses, carry a JSON body
 * (or a stream) and, for an error, the {"error":{"code","message","field"}}
 * shape; nothing may crash, leak or read past the input.
 */
#include "core/prelude.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/httpd.h"
#include "api/ident.h"
#include "app/inq.h"
#include "app/svc.h"
#include "core/alloc.h"
#include "core/error.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static api *A;
static inq *Q;
static svc SV;
static char TOKEN[IDENT_TOKEN_LEN + 1], SID[65], CSRF[65];

static void cleanup(void) {
  api_stop(A);
  svc_release(&SV);
  inq_free(Q);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char dir[] = "/tmp/dto-fuzz-api-XXXXXX";
  if (!mkdtemp(dir))
    abort();
  char url[128], err[512];
  snprintf(url, sizeof url, "sqlite:%s/api.db", dir);
  store_options so;
  memset(&so, 0, sizeof so);
  so.create = true;
  store *s;
  if (store_open(url, &so, &s, err, sizeof err) ||
      store_migrate_to(s, store_latest_version(s), NULL, NULL))
    abort();
  ident_actor by = {"fuzz", ""};
  store_user u;
  char uri[IDENT_URI_MAX];
  const char *why;
  if (ident_user_create(s, &by, 1, "admin", "fuzz harness password", 21,
                        "admin", &u, uri, &why))
    abort();
  store_token t;
  if (ident_token_create(s, &by, 1, &u, "fuzz", 90, 90, "", &t, TOKEN, &why))
    abort();
  /* the token was made at time 1: its expiry is long past for the real
   * clock; make one that lives */
  t.expires = INT64_MAX;
  if (store_token_update(s, &t))
    abort();
  store_session ses;
  memset(&ses, 0, sizeof ses);
  auth_random_hex(32, SID);
  auth_random_hex(32, CSRF);
  auth_sha256_hex(SID, 64, ses.id_hash);
  auth_sha256_hex(CSRF, 64, ses.csrf_hash);
  ses.user_id = u.id;
  ses.created = ses.last_seen = INT64_MAX / 2;
  ses.expires = INT64_MAX;
  if (store_session_put(s, &ses))
    abort();
  store_close(s);
  inq_config qc = {64, 0, 1, false};
  if (inq_new(&qc, &Q))
    abort();
  svc_init(&SV, Q);
  svc_close(&SV); /* commands answer at once */
  cfg_api c;
  config_api_defaults(&c);
  c.present = true;
  c.detached = true;
  c.rate_per_s = c.ip_rate_per_s = 1000000;
  c.rate_burst = c.ip_burst = 1000000;
  if (api_start(&c, url, &SV, &A, err, sizeof err))
    abort();
  atexit(cleanup);
  return 0;
}

/* The next line of [*p, end) into a NUL-terminated copy (caller frees). */
static char *line(const char **p, const char *end) {
  const char *e = memchr(*p, '\n', (size_t)(end - *p));
  size_t n = e ? (size_t)(e - *p) : (size_t)(end - *p);
  char *s = xmalloc(n + 1);
  memcpy(s, *p, n);
  s[n] = '\0';
  *p = e ? e + 1 : end;
  return s;
}

static const char *subst(const char *v) {
  if (!strcmp(v, "$TOKEN"))
    return TOKEN;
  if (!strcmp(v, "$SID"))
    return SID;
  if (!strcmp(v, "$CSRF"))
    return CSRF;
  if (!strcmp(v, "Bearer $TOKEN")) {
    static char b[IDENT_TOKEN_LEN + 8];
    snprintf(b, sizeof b, "Bearer %s", TOKEN);
    return b;
  }
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data, *end = p + size;
  char *method = line(&p, end), *path = line(&p, end);
  httpd_kv kv[16];
  char *lines[16];
  size_t nkv = 0;
  while (p < end && *p != '\n' && nkv < 16) {
    char *l = line(&p, end);
    lines[nkv] = l;
    char *sep = l[0] && l[1] == ' ' ? strpbrk(l + 2, l[0] == 'h' ? ":" : "=")
                                    : NULL;
    if (!sep || (l[0] != 'h' && l[0] != 'c' && l[0] != 'q')) {
      free(l);
      continue;
    }
    *sep = '\0';
    const char *v = sep + 1;
    while (*v == ' ')
      v++;
    kv[nkv] = (httpd_kv){l[0], l + 2, subst(v)};
    nkv++;
  }
  if (p < end && *p == '\n')
    p++;
  size_t blen = (size_t)(end - p);
  char *body = xmalloc(blen + 1); /* httpd gives bodies NUL-terminated */
  memcpy(body, p, blen);
  body[blen] = '\0';
  bool slow = strstr(path, "/auth/login") || strstr(path, "/auth/password") ||
              (strstr(path, "/users") && strcmp(method, "GET"));
  if (!slow) {
    httpd_req q = {method, path, "127.0.0.1", body, blen, false, NULL,
                   kv,     nkv};
    httpd_resp r;
    memset(&r, 0, sizeof r);
    dbuf_init(&r.body, 64u << 20);
    api_handle(A, &q, &r);
    static const int ok[] = {200, 201, 400, 401, 403, 404, 405, 409,
                             413, 415, 422, 429, 503};
    bool known = false;
    for (size_t i = 0; i < DTO_ARRAY_LEN(ok); i++)
      known = known || r.status == ok[i];
    DTO_ASSERT(known);
    if (r.stream) { /* an event stream: one turn of it, then its end */
      char buf[4096];
      (void)r.stream(r.stream_ctx, buf, sizeof buf);
      r.stream_free(r.stream_ctx);
    } else {
      json_t *j = json_loadb(r.body.ptr ? r.body.ptr : "", r.body.len, 0,
                             NULL);
      DTO_ASSERT(j && json_is_object(j));
      if (r.status >= 400) {
        json_t *e = json_object_get(j, "error");
        DTO_ASSERT(e && json_is_string(json_object_get(e, "code")) &&
                   json_is_string(json_object_get(e, "message")) &&
                   json_object_get(e, "field"));
      }
      json_decref(j);
    }
    dbuf_release(&r.body);
  }
  for (size_t i = 0; i < nkv; i++)
    free(lines[i]);
  free(body);
  free(method);
  free(path);
  return 0;
}
