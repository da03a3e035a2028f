/* feed.c - loading market data for a session from files. */
#include "app/feed.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timeutil.h"


int feed_cmp_bar(const void *pa, const void *pb) {
  const bar *a = pa, *b = pb;
  if (a->ts != b->ts)
    return a->ts < b->ts ? -1 : 1;
  if (a->sym != b->sym)
    return a->sym < b->sym ? -1 : 1;
  return 0;
}

/* Symbol for a data file without a symbol column: its base name, upper-cased
 * and without extension, when that is an instrument. */
static sym_id sym_from_name(const instrument_table *t, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char s[SYMBOL_MAX];
  size_t n = 0;
  for (; base[n] && base[n] != '.' && n + 1 < sizeof s; n++) {
    char c = base[n];
    s[n] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
  }
  s[n] = '\0';
  return instruments_find(t, s);
}

/* Trades of several files sorted by (time, instrument), keeping the file
 * order of trades with equal keys (several trades share a timestamp). */
typedef struct tkey {
  dto_time ts;
  sym_id sym;
  size_t idx;
} tkey;

static int cmp_tkey(const void *pa, const void *pb) {
  const tkey *a = pa, *b = pb;
  if (a->ts != b->ts)
    return a->ts < b->ts ? -1 : 1;
  if (a->sym != b->sym)
    return a->sym < b->sym ? -1 : 1;
  return (a->idx > b->idx) - (a->idx < b->idx);
}

static void sort_trades(trade_vec *t) {
  tkey *k = xcalloc(t->n ? t->n : 1, sizeof *k);
  for (size_t i = 0; i < t->n; i++)
    k[i] = (tkey){t->v[i].ts, t->v[i].sym, i};
  if (t->n)
    qsort(k, t->n, sizeof *k, cmp_tkey);
  trade *v = xcalloc(t->n ? t->n : 1, sizeof *v);
  for (size_t i = 0; i < t->n; i++)
    v[i] = t->v[k[i].idx];
  free(t->v);
  free(k);
  t->v = v;
  t->cap = t->n;
}

int feed_load(const dto_config *cfg, const char *const *files, size_t nfiles,
              dto_time from, dto_time to, bool skip_bad_rows, bool quiet,
              bar_vec *out, trade_vec *trades, size_t *bad_rows, char *err,
              size_t errcap) {
  read_opts ro;
  read_opts_init(&ro);
  ro.instruments = &cfg->instruments;
  ro.from = from;
  ro.to = to;
  ro.skip_bad_rows = skip_bad_rows;
  ro.quiet = quiet;
  size_t n = nfiles ? nfiles : cfg->ndata;
  if (n == 0) {
    snprintf(err, errcap, "no data: name files under 'data:' in the "
                          "configuration or with --data");
    return DTO_ECONFIG;
  }
  for (size_t i = 0; i < n; i++) {
    const char *path;
    if (nfiles) {
      path = files[i];
      ro.sym = sym_from_name(&cfg->instruments, path);
    } else {
      const cfg_data *d = &cfg->data[i];
      path = d->path;
      ro.sym = d->symbol[0] ? instruments_find(&cfg->instruments, d->symbol)
                            : sym_from_name(&cfg->instruments, path);
      if (d->kind == CFG_DATA_TRADES) {
        if (!trades) {
          snprintf(err, errcap, "%s: trade data is not supported here", path);
          return DTO_EUNSUPPORTED;
        }
        read_result res;
        int rc = read_trades_csv(path, &ro, trades, &res);
        if (rc) {
          snprintf(err, errcap, "%s", res.err[0] ? res.err : dto_strerror(rc));
          return rc;
        }
        *bad_rows += res.bad_rows;
        continue;
      }
    }
    read_result res;
    int rc = read_bars_file(path, &ro, out, &res);
    if (rc) {
      snprintf(err, errcap, "%s", res.err[0] ? res.err : dto_strerror(rc));
      return rc;
    }
    *bad_rows += res.bad_rows;
  }
  if (out->n)
    qsort(out->v, out->n, sizeof *out->v, feed_cmp_bar);
  if (trades)
    sort_trades(trades);
  for (size_t i = 1; i < out->n; i++)
    if (out->v[i].ts == out->v[i - 1].ts && out->v[i].sym == out->v[i - 1].sym) {
      char t[40];
      time_format(out->v[i].ts, t, sizeof t);
      snprintf(err, errcap, "two bars for %s at %s (the same data twice?)",
               cfg->instruments.v[out->v[i].sym].symbol, t);
      return DTO_EPARSE;
    }
  return 0;
}

