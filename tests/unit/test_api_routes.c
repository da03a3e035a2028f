/* test_api_routes.c - docs/openapi.yaml (embedded as JSON at build time)
 * and the API's router describe the same routes: every route the router
 * has is in the document with its method, every path and method of the
 * document is a route, and the document's security matches the route's
 * (public routes say `security: []`). */
#include "core/prelude.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <strings.h>

#include <cmocka.h>

#include "api/api.h"

extern const char dto_openapi_json[];

static json_t *doc(void) {
  json_error_t e;
  json_t *d = json_loads(dto_openapi_json, 0, &e);
  if (!d)
    fail_msg("the embedded OpenAPI document is not JSON: %s", e.text);
  return d;
}

static void lower(const char *in, char *out, size_t cap) {
  size_t i = 0;
  for (; in[i] && i + 1 < cap; i++)
    out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' : in[i]);
  out[i] = '\0';
}

static void test_router_in_document(void **state) {
  (void)state;
  json_t *d = doc(), *paths = json_object_get(d, "paths");
  assert_non_null(paths);
  const char *m, *p, *perm;
  size_t n = 0;
  for (size_t i = 0; api_route_at(i, &m, &p, &perm); i++, n++) {
    json_t *item = json_object_get(paths, p);
    if (!item)
      fail_msg("route %s %s is not in docs/openapi.yaml", m, p);
    char lm[16];
    lower(m, lm, sizeof lm);
    json_t *op = json_object_get(item, lm);
    if (!op)
      fail_msg("route %s %s: the document has no '%s' for it", m, p, lm);
    json_t *sec = json_object_get(op, "security");
    bool pub = sec && json_is_array(sec) && json_array_size(sec) == 0;
    /* [{}, {token: []}]: public unless configured otherwise (/metrics) */
    bool optional = false;
    for (size_t k = 0; sec && k < json_array_size(sec); k++)
      optional = optional || (json_is_object(json_array_get(sec, k)) &&
                              !json_object_size(json_array_get(sec, k)));
    if (!strcmp(perm, "public or read")) {
      if (!optional)
        fail_msg("route %s %s is %s but the document does not say so", m, p,
                 perm);
    } else if (pub != !strcmp(perm, "public"))
      fail_msg("route %s %s is %s but the document says %s", m, p, perm,
               pub ? "public" : "authenticated");
  }
  assert_true(n >= 30);
  json_decref(d);
}

static void test_document_in_router(void **state) {
  (void)state;
  json_t *d = doc(), *paths = json_object_get(d, "paths");
  const char *path;
  json_t *item;
  size_t ops = 0;
  json_object_foreach(paths, path, item) {
    const char *key;
    json_t *op;
    json_object_foreach(item, key, op) {
      if (!strcmp(key, "parameters"))
        continue;
      ops++;
      bool found = false;
      const char *m, *p, *perm;
      for (size_t i = 0; !found && api_route_at(i, &m, &p, &perm); i++)
        found = !strcmp(p, path) && !strcasecmp(m, key);
      if (!found)
        fail_msg("docs/openapi.yaml has %s %s, the router does not", key,
                 path);
    }
  }
  assert_true(ops >= 30);
  json_decref(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_router_in_document),
      cmocka_unit_test(test_document_in_router),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
