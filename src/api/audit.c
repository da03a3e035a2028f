/* audit.c - the hash-chained audit log. */
#include "api/audit.h"

#include <inttypes.h>

#include "api/auth.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/utf8.h"

static const char zeros[65] =
    "0000000000000000000000000000000000000000000000000000000000000000";

void audit_hash(const store_audit *a, char out[65]) {
  dbuf b;
  dbuf_init(&b, 64 * 1024);
  dbuf_printf(&b, "%s\n%" PRId64 "\n%" PRId64 "\n", a->prev_hash, a->seq,
              a->time);
  const char *f[] = {a->actor,  a->address, a->action,
                     a->target, a->outcome, a->detail};
  for (size_t i = 0; i < DTO_ARRAY_LEN(f); i++) {
    dbuf_adds(&b, f[i]);
    if (i + 1 < DTO_ARRAY_LEN(f))
      dbuf_addc(&b, '\n');
  }
  auth_sha256_hex(b.ptr, b.len, out);
  dbuf_release(&b);
}

static int chain(void *arg, const store_audit *prev, store_audit *a) {
  (void)arg;
  snprintf(a->prev_hash, sizeof a->prev_hash, "%s", prev ? prev->hash : zeros);
  audit_hash(a, a->hash);
  return 0;
}

/* Copy src into dst (cap bytes), cut between characters. */
static void put(char *dst, size_t cap, const char *src) {
  utf8_cut(dst, cap, src ? src : "", cap - 1);
}

int audit_record(store *s, dto_time now, const char *actor,
                 const char *address, const char *action, const char *target,
                 const char *outcome, const char *detail) {
  store_audit a;
  memset(&a, 0, sizeof a);
  a.time = now;
  put(a.actor, sizeof a.actor, actor && *actor ? actor : "-");
  put(a.address, sizeof a.address, address);
  put(a.action, sizeof a.action, action);
  put(a.target, sizeof a.target, target);
  put(a.outcome, sizeof a.outcome, outcome);
  if (!detail || strlen(detail) > STORE_DETAIL_MAX)
    detail = "{}"; /* a detail too long to keep is not kept half */
  put(a.detail, sizeof a.detail, detail);
  return store_audit_append(s, &a, chain, NULL);
}

typedef struct walk {
  audit_check *c;
  char prev[65];
  int64_t seq;
} walk;

static int check_one(void *arg, const store_audit *a) {
  walk *w = arg;
  w->c->records++;
  char h[65];
  if (a->seq != w->seq + 1)
    snprintf(w->c->why, sizeof w->c->why,
             "record %" PRId64 " follows record %" PRId64
             " (records missing or reordered)",
             a->seq, w->seq);
  else if (strcmp(a->prev_hash, w->prev))
    snprintf(w->c->why, sizeof w->c->why,
             "record %" PRId64 " does not point at the hash of the record "
             "before it",
             a->seq);
  else if (audit_hash(a, h), strcmp(h, a->hash))
    snprintf(w->c->why, sizeof w->c->why,
             "record %" PRId64 " does not match its hash (changed)", a->seq);
  else {
    w->seq = a->seq;
    memcpy(w->prev, a->hash, sizeof w->prev);
    return 0;
  }
  w->c->bad_seq = a->seq;
  return 1; /* stop at the first broken record */
}

int audit_verify(store *s, audit_check *c) {
  memset(c, 0, sizeof c[0]);
  walk w = {c, "", 0};
  memcpy(w.prev, zeros, sizeof w.prev);
  int rc = store_audit_read(s, 0, 0, check_one, &w);
  return rc == 1 ? 0 : rc;
}
