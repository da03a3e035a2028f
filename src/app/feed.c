/* feed.c - loading market data for a session from files. */
#include "app/feed.h"

#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/timeutil.h"

int feed_cmp_bar(const void *pa, const void *pb) {
  const bar *a = pa, *b = pb;
  if (a->ts != b->ts)
    return a->ts < b->ts ? -1 : 1;
  if (a->sym != b->sym)
    return a->sym < b->sym ? -1 : 1;
  return 0;
}

/* The symbol a data file's name stands for: its base name up to the first
 * '.', upper-cased (data/aapl.csv -> AAPL), cut to fit buf. */
static void name_symbol(const char *path, char *s, size_t cap) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = 0;
  for (; base[n] && base[n] != '.' && n + 1 < cap; n++) {
    char c = base[n];
    s[n] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
  }
  s[n] = '\0';
}

/* Symbol for a data file without a symbol column: its name's symbol, when
 * that is an instrument (else SYM_NONE). */
static sym_id sym_from_name(const instrument_table *t, const char *path) {
  char s[SYMBOL_MAX];
  name_symbol(path, s, sizeof s);
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

/* "CONFIG:LINE:COL: " for a data entry of the configuration, "" for a
 * file given on the command line. */
static void where(const dto_config *cfg, const cfg_data *d, char *buf,
                  size_t cap) {
  if (d)
    snprintf(buf, cap, "%s:%d:%d: ", cfg->path ? cfg->path : "(config)",
             d->line, d->col);
  else
    buf[0] = '\0';
}

/* The message for a file whose rows would get no instrument. */
static void no_symbol_msg(const char *at, const char *path, const cfg_data *d,
                          char *err, size_t errcap) {
  char s[SYMBOL_MAX];
  name_symbol(path, s, sizeof s);
  snprintf(err, errcap,
           "%s%s: the file has no symbol column and its name ('%s') is not a "
           "configured instrument; add a symbol column%s",
           at, path, s,
           d ? " or name the instrument with 'symbol:' in its data entry"
             : " or name the file after an instrument");
}

/* Defensive: every bar and trade a file gave must index an instrument, or
 * the engine would read past its tables. */
static int check_syms(const dto_config *cfg, const char *at, const char *path,
                      const bar_vec *out, size_t b0, const trade_vec *trades,
                      size_t t0, char *err, size_t errcap) {
  size_t n = cfg->instruments.n;
  for (size_t i = b0; i < out->n; i++)
    if (out->v[i].sym >= n) {
      snprintf(err, errcap,
               "%s%s: bar %zu has no instrument (symbol index %u); refusing "
               "the file",
               at, path, i - b0, (unsigned)out->v[i].sym);
      return DTO_EINVAL;
    }
  for (size_t i = t0; trades && i < trades->n; i++)
    if (trades->v[i].sym >= n) {
      snprintf(err, errcap,
               "%s%s: trade %zu has no instrument (symbol index %u); refusing "
               "the file",
               at, path, i - t0, (unsigned)trades->v[i].sym);
      return DTO_EINVAL;
    }
  return 0;
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
    snprintf(err, errcap,
             "no data: name files under 'data:' in the "
             "configuration or with --data");
    return DTO_ECONFIG;
  }
  for (size_t i = 0; i < n; i++) {
    const char *path;
    const cfg_data *d = NULL;
    char at[CFG_PATH_MAX + 32];
    if (nfiles) {
      path = files[i];
      ro.sym = sym_from_name(&cfg->instruments, path);
    } else {
      d = &cfg->data[i];
      path = d->path;
      ro.sym = d->symbol[0] ? instruments_find(&cfg->instruments, d->symbol)
                            : sym_from_name(&cfg->instruments, path);
    }
    where(cfg, d, at, sizeof at);
    /* A file named in the configuration that cannot be opened (missing,
     * a folder, a FIFO) is reported at its entry in the configuration. */
    if (d) {
      int fd;
      char why[CFG_PATH_MAX + 128];
      int rc = fileio_open_regular(path, &fd, NULL, why, sizeof why);
      if (rc) {
        snprintf(err, errcap, "%sdata file %s", at, why);
        return rc;
      }
      close(fd);
    }
    size_t b0 = out->n, t0 = trades ? trades->n : 0;
    read_result res;
    int rc;
    if (d && d->kind == CFG_DATA_TRADES) {
      if (!trades) {
        snprintf(err, errcap, "%s%s: trade data is not supported here", at,
                 path);
        return DTO_EUNSUPPORTED;
      }
      rc = read_trades_csv(path, &ro, trades, &res);
    } else {
      rc = read_bars_file(path, &ro, out, &res);
    }
    if (rc && res.no_symbol) {
      no_symbol_msg(at, path, d, err, errcap);
      return rc;
    }
    if (rc) {
      snprintf(err, errcap, "%s", res.err[0] ? res.err : dto_strerror(rc));
      return rc;
    }
    if ((rc = check_syms(cfg, at, path, out, b0, trades, t0, err, errcap)))
      return rc;
    *bad_rows += res.bad_rows;
  }
  if (out->n)
    qsort(out->v, out->n, sizeof *out->v, feed_cmp_bar);
  if (trades)
    sort_trades(trades);
  for (size_t i = 1; i < out->n; i++)
    if (out->v[i].ts == out->v[i - 1].ts &&
        out->v[i].sym == out->v[i - 1].sym) {
      char t[40];
      time_format(out->v[i].ts, t, sizeof t);
      snprintf(err, errcap, "two bars for %s at %s (the same data twice?)",
               cfg->instruments.v[out->v[i].sym].symbol, t);
      return DTO_EPARSE;
    }
  return 0;
}
