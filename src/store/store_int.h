/* store_int.h - what the store's back-ends share; not for users of store.h.
 *
 * The back-ends (sqlite.c, postgres.c, faulty.c) see only their own context
 * and these helpers; store.c parses URLs, checks inputs and dispatches.
 */
#ifndef DTO_STORE_INT_H
#define DTO_STORE_INT_H

#include "core/prelude.h"

#include "store/store.h"

/* The embedded migrations (migrations_gen.c), ending with version 0. */
extern const store_migration store__sqlite_migrations[];
extern const store_migration store__pg_migrations[];

/* Open a back-end.  opt has its defaults filled in.  On success *ops and
 * *ctx describe it (the caller wraps them with store_new()).  On failure
 * err (cap bytes) says why, naming `shown` (the URL without its password),
 * and nothing is left open. */
int store__sqlite_open(const char *path, const char *shown,
                       const store_options *opt, const store_ops **ops,
                       void **ctx, char *err, size_t cap);
int store__pg_open(const char *url, const char *shown, const store_options *opt,
                   const store_ops **ops, void **ctx, char *err, size_t cap);

/* The table and context behind s (the fault wrapper calls its inner store's
 * back-end directly: inputs were checked by the outer wrapper). */
const store_ops *store__ops(const store *s);
void *store__ctx(const store *s);

/* The byte ranges of url that may hold a password (user info, and the
 * values of password= / sslpassword= parameters), sorted and merged, at
 * most max of them into at[] / len[].  Returns how many there are, which
 * is more than max when they did not fit.  A superset of what libpq reads
 * as a password (store_url_redact() masks these). */
#define STORE_URL_SECRETS_MAX 16
size_t store__url_secrets(const char *url, size_t *at, size_t *len, size_t max);

/* Copy msg into out (cap bytes) with every occurrence of url's password
 * text replaced by "***": libpq quotes parts of a bad connection string in
 * its messages. */
void store__scrub(const char *url, const char *msg, char *out, size_t cap);

/* The order states store_list_orders() leaves out with open_only, as an SQL
 * list (static text in both back-ends' statements; store.h names them). */
#define STORE__TERMINAL_STATES_SQL                                             \
  "('filled', 'canceled', 'rejected', 'expired', 'replaced')"

/* Write a formatted message into e (which may be NULL) and return code. */
int store__fail(store_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy the NUL-terminated src into the array dst of dcap bytes, truncating
 * (back-ends read columns that the wrappers capped on the way in). */
void store__copy(char *dst, size_t dcap, const char *src, size_t srclen);

/* Parse a whole decimal int64 (PostgreSQL text results). */
int store__parse_i64(const char *s, int64_t *out);

#endif
