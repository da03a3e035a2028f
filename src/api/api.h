/* api.h - the HTTP API under /api/v1 (docs/api.md): users, sessions,
 * tokens, roles and the audit log over the service's one command path and
 * its read snapshots.
 *
 * Every request: the route (404, 405 with Allow), the address's rate limit,
 * who is asking (a session cookie __Host-dto_session, or Authorization:
 * Bearer with an API token), their rate limit, the role's permission for
 * the route (one table, api_routes), the CSRF token of a cookie session on
 * a state-changing request, then the route.  Commands go through svc_submit
 * (as "api NAME"); reads come from svc snapshots and the store.  Every
 * login, failure, lockout, MFA event, token and user change and command is
 * in the hash-chained audit log (audit.h).
 *
 * The API's clock is the real one; a test may shift it forward: the
 * environment variable DTO_API_CLOCK_FILE names a file holding a number of
 * seconds added to it (for idle and absolute session timeouts, lockouts,
 * token expiry).
 *
 * Not for: HTTP itself (httpd.h), the primitives (auth.h), executing
 * commands (the engine thread).
 */
#ifndef DTO_API_API_H
#define DTO_API_API_H

#include "app/config.h"
#include "app/svc.h"

typedef struct api api;

/* Start serving conf on its own threads, with users, sessions, tokens and
 * the audit log in the store at store_url (opened here, a connection of
 * its own; the schema must be current).  0 and *out, or an error with a
 * message naming the setting. */
int api_start(const cfg_api *conf, const char *store_url, svc *sv, api **out,
              char *err, size_t cap);
/* Answer one request without the server (fuzzers and tests: start the
 * API with conf->detached, and give requests with conn NULL and their
 * headers, cookies and query in kv).  resp->body must be initialised. */
struct httpd_req;
struct httpd_resp;
void api_handle(void *api_, const struct httpd_req *q, struct httpd_resp *r);

/* The port it listens on. */
int api_port(const api *a);
/* Stop serving (streams end) and free.  NULL does nothing. */
void api_stop(api *a);

/* The routes, for docs and the test that keeps docs/openapi.yaml in step:
 * METHOD and path pattern ("{id}" for a parameter) of route i, false past
 * the last. */
bool api_route_at(size_t i, const char **method, const char **pattern,
                  const char **perm);

#endif
