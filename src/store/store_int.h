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
int store__pg_open(const char *url, const char *shown,
                   const store_options *opt, const store_ops **ops, void **ctx,
                   char *err, size_t cap);

/* Write a formatted message into e (which may be NULL) and return code. */
int store__fail(store_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy the NUL-terminated src into the array dst of dcap bytes, truncating
 * (back-ends read columns that the wrappers capped on the way in). */
void store__copy(char *dst, size_t dcap, const char *src, size_t srclen);

/* Parse a whole decimal int64 (PostgreSQL text results). */
int store__parse_i64(const char *s, int64_t *out);

#endif
