/* retention.c - grandfather-father-son retention over backup chains (see
 * retention.h).
 *
 * The plan is made in four passes over index arrays, each O(n) after two
 * sorts: backups sorted by id (duplicates, parent look-up by binary
 * search), chains resolved to their top (a full, or the backup whose parent
 * is unknown) with cycle detection, the own reasons of each backup (recent,
 * calendar windows walked newest first), and the closure over parents.
 */
#include "ops/retention.h"

#include <stdarg.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"

#define NONE SIZE_MAX

const char *ret_kind_name(enum ret_kind k) {
  static const char *const n[RET_KIND_COUNT] = {"full", "incremental", "log"};
  return (unsigned)k < RET_KIND_COUNT ? n[k] : "?";
}

void ret_policy_defaults(ret_policy *p) {
  p->daily = 30;
  p->weekly = 12;
  p->monthly = 12;
  p->keep_recent = 24 * DTO_NS_PER_HOUR;
  p->utc_offset_s = 0;
}

/* ---- calendar buckets -------------------------------------------------- */

/* The local day (days since 1970-01-01) of t, without overflow anywhere in
 * dto_time's range: |off_ns| is below one day. */
static int64_t local_day(dto_time t, int64_t off_ns) {
  int64_t d = floordiv64(t, DTO_NS_PER_DAY);
  int64_t r = t % DTO_NS_PER_DAY; /* d * DAY may not be representable */
  if (r < 0)
    r += DTO_NS_PER_DAY;
  r += off_ns; /* (-1 day, 2 days) */
  if (r >= DTO_NS_PER_DAY)
    d++;
  else if (r < 0)
    d--;
  return d;
}

/* The ISO week of day z, counted in weeks since the Monday 1969-12-29. */
static int64_t week_of_day(int64_t z) { return floordiv64(z + 3, 7); }

/* The month of day z as year * 12 + month - 1. */
static int64_t month_of_day(int64_t z) {
  int y, m, d;
  civil_from_days(z, &y, &m, &d);
  return (int64_t)y * 12 + m - 1;
}

/* True when key lies in the window of `count` buckets ending with cur. */
static bool in_window(int64_t key, int64_t cur, int count) {
  return key <= cur && key > cur - count;
}

/* ---- helpers ----------------------------------------------------------- */

static bool id_ok(const char *s, size_t cap) { return memchr(s, 0, cap); }

static int cmp_id(const void *a, const void *b) {
  const ret_backup *x = *(const ret_backup *const *)a;
  const ret_backup *y = *(const ret_backup *const *)b;
  return strcmp(x->id, y->id);
}

/* Newest first: time descending, then id descending. */
static int cmp_newest(const void *a, const void *b) {
  const ret_backup *x = *(const ret_backup *const *)a;
  const ret_backup *y = *(const ret_backup *const *)b;
  if (x->time != y->time)
    return x->time > y->time ? -1 : 1;
  return -strcmp(x->id, y->id);
}

/* The index of the backup with id `id`, or NONE. */
static size_t find_id(const ret_backup *const *byid, size_t n,
                      const ret_backup *v, const char *id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(byid[mid]->id, id);
    if (c == 0)
      return (size_t)(byid[mid] - v);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NONE;
}

/* True when t is younger than keep_recent at now (or after now). */
static bool is_recent(dto_time t, dto_time now, dto_time keep_recent) {
  if (t > now)
    return true;
  int64_t age;
  if (__builtin_sub_overflow(now, t, &age))
    return false;
  return age < keep_recent;
}

/* Append ", " (unless first) and the formatted part to buf. */
static void why_add(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_add(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strlen(buf);
  if (len && len + 2 < cap) {
    memcpy(buf + len, ", ", 3);
    len += 2;
  }
  if (len + 1 >= cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

static void why_format(ret_why *w, const ret_backup *v, size_t i, unsigned mask,
                       int64_t off_ns, size_t top, size_t by) {
  char *t = w->text;
  size_t cap = sizeof w->text;
  int y, m, d;
  int64_t z = local_day(v[i].time, off_ns);
  w->mask = mask;
  t[0] = '\0';
  if (mask & RET_WHY_RECENT)
    why_add(t, cap, "recent");
  if (mask & RET_WHY_NEWEST)
    why_add(t, cap, "newest full");
  if (mask & RET_WHY_LATEST)
    why_add(t, cap, "latest backup");
  if (mask & RET_WHY_DAILY) {
    civil_from_days(z, &y, &m, &d);
    why_add(t, cap, "daily %04d-%02d-%02d", y, m, d);
  }
  if (mask & RET_WHY_WEEKLY) {
    /* The ISO week-year is the year of the week's Thursday. */
    int64_t thu = week_of_day(z) * 7;
    civil_from_days(thu, &y, &m, &d);
    int64_t wk = (thu - days_from_civil(y, 1, 1)) / 7 + 1;
    why_add(t, cap, "weekly %04d-W%02d", y, (int)wk);
  }
  if (mask & RET_WHY_MONTHLY) {
    civil_from_days(z, &y, &m, &d);
    why_add(t, cap, "monthly %04d-%02d", y, m);
  }
  if (mask & RET_WHY_UNKNOWN)
    why_add(t, cap, "unknown parent %s", v[top].parent);
  if (mask & RET_WHY_NEEDED)
    why_add(t, cap, "needed by %s", v[by].id);
}

/* ---- the plan ---------------------------------------------------------- */

static int check_policy(const ret_policy *p, char *err, size_t cap) {
  if (!p) {
    dto_seterr(err, cap, "retention: no policy");
    return DTO_EINVAL;
  }
  if (p->daily < 0 || p->weekly < 0 || p->monthly < 0) {
    dto_seterr(err, cap,
               "retention: negative count (daily %d, weekly %d, monthly %d)",
               p->daily, p->weekly, p->monthly);
    return DTO_EINVAL;
  }
  if (p->keep_recent < 0) {
    dto_seterr(err, cap, "retention: negative keep_recent");
    return DTO_EINVAL;
  }
  if (p->utc_offset_s < -RET_OFFSET_MAX || p->utc_offset_s > RET_OFFSET_MAX) {
    dto_seterr(err, cap, "retention: utc offset %d s beyond +-%d s",
               p->utc_offset_s, RET_OFFSET_MAX);
    return DTO_EINVAL;
  }
  return 0;
}

/* Check each backup on its own. */
static int check_backup(const ret_backup *b, size_t i, char *err, size_t cap) {
  if (!id_ok(b->id, sizeof b->id)) {
    dto_seterr(err, cap, "backup %zu: id not terminated within %d bytes", i,
               RET_ID_MAX);
    return DTO_EINVAL;
  }
  if (!b->id[0]) {
    dto_seterr(err, cap, "backup %zu: empty id", i);
    return DTO_EINVAL;
  }
  if (!id_ok(b->parent, sizeof b->parent)) {
    dto_seterr(err, cap, "backup '%s': parent not terminated within %d bytes",
               b->id, RET_ID_MAX);
    return DTO_EINVAL;
  }
  if ((unsigned)b->kind >= RET_KIND_COUNT) {
    dto_seterr(err, cap, "backup '%s': unknown kind %d", b->id, (int)b->kind);
    return DTO_EINVAL;
  }
  if (b->kind == RET_FULL && b->parent[0]) {
    dto_seterr(err, cap, "backup '%s': a full backup with parent '%s'", b->id,
               b->parent);
    return DTO_EINVAL;
  }
  if (b->kind != RET_FULL && !b->parent[0]) {
    dto_seterr(err, cap, "backup '%s': %s backup without a parent", b->id,
               ret_kind_name(b->kind));
    return DTO_EINVAL;
  }
  return 0;
}

/* Resolve every chain to its top: top[i] is the full backup of i's chain,
 * or the backup of it whose parent is unknown.  state: 0 not seen, 1 on the
 * path being walked, 2 resolved.  DTO_EINVAL on a cycle. */
static int resolve_chains(const ret_backup *v, size_t n, const size_t *par,
                          size_t *top, size_t *path, char *err, size_t cap) {
  unsigned char *state = xcalloc(n ? n : 1, 1);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    size_t len = 0, j = i, t;
    for (;;) {
      if (state[j] == 2) {
        t = top[j];
        break;
      }
      if (state[j] == 1) {
        dto_seterr(err, cap,
                   "backup '%s': dependency cycle (its parent is '%s')",
                   v[j].id, v[j].parent);
        rc = DTO_EINVAL;
        break;
      }
      state[j] = 1;
      path[len++] = j;
      if (par[j] == NONE) {
        t = j;
        break;
      }
      j = par[j];
    }
    if (rc)
      break;
    while (len) {
      size_t k = path[--len];
      top[k] = t;
      state[k] = 2;
    }
  }
  free(state);
  return rc;
}

int ret_plan(const ret_backup *v, size_t n, const ret_policy *p, dto_time now,
             bool *keep, ret_why *why, char *err, size_t cap) {
  int rc = check_policy(p, err, cap);
  if (rc)
    return rc;
  if (n == 0)
    return 0;
  if (!v || !keep) {
    dto_seterr(err, cap, "retention: no backups or no keep array");
    return DTO_EINVAL;
  }
  for (size_t i = 0; i < n; i++)
    if ((rc = check_backup(&v[i], i, err, cap)) != 0)
      return rc;

  const ret_backup **byid = xcalloc(n, sizeof *byid);
  const ret_backup **order = xcalloc(n, sizeof *order);
  size_t *par = xcalloc(n, sizeof *par);
  size_t *top = xcalloc(n, sizeof *top);
  size_t *by = xcalloc(n, sizeof *by); /* also the path of resolve_chains */
  unsigned char *mask = xcalloc(n, 1);
  int unknown = 0;

  /* Ids: sorted, unique; parents found by binary search. */
  for (size_t i = 0; i < n; i++)
    byid[i] = order[i] = &v[i];
  qsort(byid, n, sizeof *byid, cmp_id);
  for (size_t i = 1; i < n; i++)
    if (!strcmp(byid[i - 1]->id, byid[i]->id)) {
      dto_seterr(err, cap, "backup '%s': duplicate id", byid[i]->id);
      rc = DTO_EINVAL;
      goto out;
    }
  for (size_t i = 0; i < n; i++) {
    par[i] = v[i].kind == RET_FULL ? NONE : find_id(byid, n, v, v[i].parent);
    if (v[i].kind != RET_FULL && par[i] == NONE && unknown < INT32_MAX)
      unknown++;
  }
  if ((rc = resolve_chains(v, n, par, top, by, err, cap)) != 0)
    goto out;

  /* Own reasons.  Newest first, so the first full met in a bucket is the
   * newest of that bucket; bucket keys never increase along the order. */
  qsort(order, n, sizeof *order, cmp_newest);
  int64_t off_ns = (int64_t)p->utc_offset_s * DTO_NS_PER_SEC;
  int64_t cur_d = local_day(now, off_ns);
  int64_t cur_w = week_of_day(cur_d), cur_m = month_of_day(cur_d);
  int64_t last_d = INT64_MAX, last_w = INT64_MAX, last_m = INT64_MAX;
  bool newest_seen = false;
  for (size_t k = 0; k < n; k++) {
    size_t i = (size_t)(order[k] - v);
    if (is_recent(v[i].time, now, p->keep_recent))
      mask[i] |= RET_WHY_RECENT;
    if (k == 0 && v[i].kind != RET_FULL)
      mask[i] |= RET_WHY_LATEST;
    if (v[i].kind != RET_FULL) {
      if (v[top[i]].kind != RET_FULL)
        mask[i] |= RET_WHY_UNKNOWN;
      continue;
    }
    if (!newest_seen) {
      mask[i] |= RET_WHY_NEWEST;
      newest_seen = true;
    }
    int64_t z = local_day(v[i].time, off_ns);
    int64_t w = week_of_day(z), m = month_of_day(z);
    if (z != last_d && in_window(z, cur_d, p->daily))
      mask[i] |= RET_WHY_DAILY;
    if (w != last_w && in_window(w, cur_w, p->weekly))
      mask[i] |= RET_WHY_WEEKLY;
    if (m != last_m && in_window(m, cur_m, p->monthly))
      mask[i] |= RET_WHY_MONTHLY;
    last_d = z;
    last_w = w;
    last_m = m;
  }

  /* Closure: walk up from each kept backup until a kept one.  Each step of
   * a walk keeps a new backup, so all walks together are O(n). */
  for (size_t i = 0; i < n; i++) {
    keep[i] = mask[i] != 0;
    by[i] = NONE;
  }
  for (size_t k = 0; k < n; k++) {
    size_t c = (size_t)(order[k] - v);
    if (!keep[c])
      continue;
    for (size_t j = par[c]; j != NONE && !keep[j]; c = j, j = par[j]) {
      keep[j] = true;
      mask[j] = RET_WHY_NEEDED;
      by[j] = c;
    }
  }
  for (size_t i = 0; i < n; i++)
    DTO_ASSERT(!keep[i] || par[i] == NONE || keep[par[i]]);

  if (why)
    for (size_t i = 0; i < n; i++)
      why_format(&why[i], v, i, mask[i], off_ns, top[i], by[i]);
  rc = unknown;
out:
  free(mask);
  free(by);
  free(top);
  free(par);
  free(order);
  free(byid);
  return rc;
}
