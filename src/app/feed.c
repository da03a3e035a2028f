/* feed.c - loading market data for a session from files. */
#include "app/feed.h"

#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/timeutil.h"
#include "market/binfile.h"

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

/* ---- streaming ----------------------------------------------------------- */

#define RAW_BATCH 1024 /* records decoded per binstream_read */
#define STREAM_ROOM (2 * RAW_BATCH) /* bars a .dtob's buffer starts with */
/* Bars of the buffer of a .dtob handed out in place (next_one): the run
 * being handed out moves to the front once every 7 batches or so. */
#define IN_PLACE_ROOM (8 * RAW_BATCH)

/* One bar file: a .dtob read as it goes, or a CSV loaded in memory.  Its
 * bars wait in v[i..avail), in (time, instrument) order: each batch read
 * from a .dtob is decoded straight into v, filtered there (window,
 * instruments), and the bars of one time stamp are put in instrument
 * order; the bars of the batch's last time stamp are held back
 * (v[avail..n)) until the next batch shows whether more of that time
 * follow.  Bars before i stay in v while feed_stream_next hands them out
 * (see refill). */
typedef struct stream {
  const char *path; /* not owned (the config's or the caller's) */
  binstream *bs;    /* a .dtob, or NULL */
  sym_id *ids;      /* .dtob symbol -> instrument, SYM_NONE: not one */
  bool same_ids;    /* ids[s] == s for every .dtob symbol: nothing to map */
  bool one_symbol;  /* the .dtob has one symbol: no two bars share a time */
  bar *v;           /* owned buffer (.dtob) or the loaded CSV (mem.v) */
  size_t i, avail, n, cap;
  size_t recno; /* the file's index of the next record read */
  size_t kept, filtered, bad;
  bool ended;  /* no more records wanted (end of file, or `to`) */
  bar_vec mem; /* a CSV's bars, in time order */
} stream;

struct feed_stream {
  const dto_config *cfg;
  dto_time from, to;
  bool skip_bad;
  stream *v;
  size_t n;
  size_t *heap; /* streams with bars left, smallest (time, instrument) first */
  size_t nheap;
  bar last; /* the last bar handed out */
  bool has_last;
  bar *out; /* feed_stream_next's bars merged from several streams */
  size_t out_cap;
  size_t bad_rows;
  uint64_t total;
};

/* Put each run of equal times of v[0..n) in instrument order. */
static void sort_runs(bar *v, size_t n) {
  for (size_t k = 1; k < n; k++) {
    if (v[k].ts != v[k - 1].ts || v[k].sym > v[k - 1].sym)
      continue;
    bar b = v[k];
    size_t j = k;
    while (j > 0 && v[j - 1].ts == b.ts && v[j - 1].sym > b.sym) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = b;
  }
}

/* Read the next batch of a .dtob after the held-back bars: 0 (st->avail
 * may still be st->i when the file has ended) or an error code.  The bars
 * from keep on (keep <= st->i) stay in v, in order, before the new ones:
 * feed_stream_next hands out bars in place, and a run it hands out may span
 * batches.  When the room after v[n] runs short they move to the front of
 * v (keep, i, avail and n shift together); the buffer grows only when the
 * kept bars and a batch do not fit. */
static int refill(feed_stream *fs, stream *st, size_t keep, char *err,
                  size_t errcap) {
  size_t base = st->avail; /* the first bar not yet available */
  while (!st->ended) {
    if (st->cap - st->n < RAW_BATCH && keep > 0) {
      memmove(st->v, st->v + keep, (st->n - keep) * sizeof *st->v);
      st->i -= keep;
      st->avail -= keep;
      st->n -= keep;
      base -= keep;
      keep = 0;
    }
    if (st->cap - st->n < RAW_BATCH)
      st->v = xgrow(st->v, &st->cap, st->n + RAW_BATCH, sizeof *st->v);
    bar *raw = st->v + st->n;
    long k = binstream_read(st->bs, raw, RAW_BATCH, err, errcap);
    if (k < 0)
      return (int)k;
    if (k == 0) {
      st->ended = true;
      if (st->kept == 0 && st->filtered == 0) {
        dto_seterr(err, errcap, "%s: no valid rows (%zu bad)", st->path,
                   st->bad);
        return DTO_EPARSE;
      }
      break;
    }
    /* The file is in time order: the bars before `from` are a prefix
     * raw[0..lo), and the first bar at or after `to` (raw[hi], if any)
     * ends the file. */
    size_t m = (size_t)k, lo = 0, hi = m, w = 0;
    while (lo < m && raw[lo].ts < fs->from)
      lo++;
    if (lo < m && raw[m - 1].ts >= fs->to)
      for (hi = lo; raw[hi].ts < fs->to;)
        hi++;
    st->filtered += lo;
    if (lo == 0 && st->same_ids) {
      w = hi; /* every symbol index is its instrument's already */
    } else {
      for (size_t j = lo; j < hi; j++) {
        sym_id id = st->ids[raw[j].sym];
        if (id == SYM_NONE) {
          const binfile *h = binstream_header(st->bs);
          dto_seterr(err, errcap,
                     "%s: record %zu: symbol '%s' is not in the instrument "
                     "table",
                     st->path, st->recno + j, binfile_symbol(h, raw[j].sym));
          if (!fs->skip_bad)
            return DTO_EPARSE;
          err[0] = '\0';
          st->bad++;
          fs->bad_rows++;
          continue;
        }
        if (w != j)
          raw[w] = raw[j];
        raw[w++].sym = id;
      }
    }
    st->recno += m;
    if (hi < m) {
      st->filtered++;
      st->ended = true;
    }
    st->kept += w;
    st->n += w;
    if (st->n == base)
      continue;
    /* hold back the last time stamp's bars unless the file has ended */
    size_t h = st->n;
    if (!st->ended)
      while (h > base && st->v[h - 1].ts == st->v[st->n - 1].ts)
        h--;
    if (h > base) {
      st->avail = h;
      break;
    }
  }
  if (st->ended)
    st->avail = st->n;
  if (!st->one_symbol)
    sort_runs(st->v + base, st->avail - base);
  return 0;
}

static inline bool head_less(const feed_stream *fs, size_t a, size_t b) {
  const bar *x = &fs->v[a].v[fs->v[a].i], *y = &fs->v[b].v[fs->v[b].i];
  return x->ts != y->ts ? x->ts < y->ts : x->sym < y->sym;
}

static void sift_down(feed_stream *fs, size_t i) {
  size_t n = fs->nheap;
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < n && head_less(fs, fs->heap[l], fs->heap[m]))
      m = l;
    if (l + 1 < n && head_less(fs, fs->heap[l + 1], fs->heap[m]))
      m = l + 1;
    if (m == i)
      return;
    size_t t = fs->heap[i];
    fs->heap[i] = fs->heap[m];
    fs->heap[m] = t;
    i = m;
  }
}

/* Make sure the stream has a bar waiting: 1, 0 when it has ended, or an
 * error code.  The bars from keep on stay in the buffer (refill). */
static int ready(feed_stream *fs, stream *st, size_t keep, char *err,
                 size_t errcap) {
  if (st->i < st->avail)
    return 1;
  if (!st->bs || (st->ended && st->avail == st->n))
    return 0;
  int rc = refill(fs, st, keep, err, errcap);
  if (rc)
    return rc;
  return st->i < st->avail;
}

/* Open data file i of the configuration (or of files) as a stream, or load
 * it into trades. */
static int open_one(feed_stream *fs, const char *path, const cfg_data *d,
                    sym_id sym, bool quiet, bool sort, trade_vec *trades,
                    char *err, size_t errcap) {
  const dto_config *cfg = fs->cfg;
  char at[CFG_PATH_MAX + 32];
  where(cfg, d, at, sizeof at);
  if (d) { /* as feed_load: reported at the configuration's entry */
    int fd;
    char why[CFG_PATH_MAX + 128];
    int rc = fileio_open_regular(path, &fd, NULL, why, sizeof why);
    if (rc) {
      snprintf(err, errcap, "%sdata file %s", at, why);
      return rc;
    }
    close(fd);
  }
  read_opts ro;
  read_opts_init(&ro);
  ro.instruments = &cfg->instruments;
  ro.sym = sym;
  ro.from = fs->from;
  ro.to = fs->to;
  ro.skip_bad_rows = fs->skip_bad;
  ro.quiet = quiet;
  read_result res;
  int rc;
  if (d && d->kind == CFG_DATA_TRADES) {
    size_t t0 = trades->n;
    rc = read_trades_csv(path, &ro, trades, &res);
    if (rc && res.no_symbol) {
      no_symbol_msg(at, path, d, err, errcap);
      return rc;
    }
    if (rc) {
      snprintf(err, errcap, "%s", res.err[0] ? res.err : dto_strerror(rc));
      return rc;
    }
    bar_vec none = {0};
    if ((rc = check_syms(cfg, at, path, &none, 0, trades, t0, err, errcap)))
      return rc;
    fs->bad_rows += res.bad_rows;
    return 0;
  }
  fs->v = xreallocarray(fs->v, fs->n + 1, sizeof *fs->v);
  stream *st = &fs->v[fs->n++];
  memset(st, 0, sizeof *st);
  st->path = path;
  if (read_file_is_binary(path)) {
    if ((rc = binstream_open(path, 0, &st->bs, err, errcap)))
      return rc;
    const binfile *h = binstream_header(st->bs);
    size_t nsym = binfile_nsymbols(h);
    if (binfile_count(h) == 0) {
      snprintf(err, errcap, "%s: no rows", path);
      return DTO_EPARSE;
    }
    fs->total += binfile_count(h);
    st->ids = xmalloc(nsym * sizeof *st->ids);
    st->same_ids = true;
    for (size_t i = 0; i < nsym; i++) {
      st->ids[i] = instruments_find(&cfg->instruments, binfile_symbol(h, i));
      st->same_ids &= st->ids[i] == i;
    }
    /* one symbol: its times strictly increase (binstream checks it) */
    st->one_symbol = nsym == 1;
    st->v = xgrow(NULL, &st->cap, STREAM_ROOM, sizeof *st->v);
    /* the first batch: errors of the first block show before the run */
    return refill(fs, st, 0, err, errcap);
  } else {
    ro.ordered = !sort;
    rc = read_bars_file(path, &ro, &st->mem, &res);
    if (rc && res.no_symbol) {
      no_symbol_msg(at, path, d, err, errcap);
      return rc;
    }
    if (rc) {
      snprintf(err, errcap, "%s%s", res.err[0] ? res.err : dto_strerror(rc),
               res.unordered ? "; sort the file by time, or set "
                               "backtest.sort_input: true to have it sorted "
                               "in memory"
                             : "");
      return rc;
    }
    if ((rc = check_syms(cfg, at, path, &st->mem, 0, NULL, 0, err, errcap)))
      return rc;
    if (sort && st->mem.n)
      qsort(st->mem.v, st->mem.n, sizeof *st->mem.v, feed_cmp_bar);
    else
      sort_runs(st->mem.v, st->mem.n); /* in time order: the readers' */
    fs->bad_rows += res.bad_rows;
    fs->total += st->mem.n;
    st->v = st->mem.v;
    st->n = st->avail = st->mem.n;
    st->ended = true;
  }
  return 0;
}

int feed_stream_open(const dto_config *cfg, const char *const *files,
                     size_t nfiles, dto_time from, dto_time to,
                     bool skip_bad_rows, bool quiet, bool sort,
                     trade_vec *trades, feed_stream **out, char *err,
                     size_t errcap) {
  *out = NULL;
  size_t n = nfiles ? nfiles : cfg->ndata;
  if (n == 0) {
    snprintf(err, errcap,
             "no data: name files under 'data:' in the "
             "configuration or with --data");
    return DTO_ECONFIG;
  }
  feed_stream *fs = xcalloc(1, sizeof *fs);
  fs->cfg = cfg;
  fs->from = from;
  fs->to = to;
  fs->skip_bad = skip_bad_rows;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (nfiles) {
      rc = open_one(fs, files[i], NULL,
                    sym_from_name(&cfg->instruments, files[i]), quiet, sort,
                    trades, err, errcap);
    } else {
      const cfg_data *d = &cfg->data[i];
      sym_id sym = d->symbol[0] ? instruments_find(&cfg->instruments, d->symbol)
                                : sym_from_name(&cfg->instruments, d->path);
      rc = open_one(fs, d->path, d, sym, quiet, sort, trades, err, errcap);
    }
  }
  if (rc == 0) {
    sort_trades(trades);
    fs->heap = xcalloc(fs->n ? fs->n : 1, sizeof *fs->heap);
    for (size_t i = 0; i < fs->n && rc == 0; i++) {
      rc = ready(fs, &fs->v[i], fs->v[i].i, err, errcap);
      if (rc == 1) {
        fs->heap[fs->nheap++] = i;
        rc = 0;
      }
    }
    for (size_t i = fs->nheap / 2; rc == 0 && i-- > 0;)
      sift_down(fs, i);
  }
  if (rc) {
    feed_stream_free(fs);
    return rc;
  }
  *out = fs;
  return 0;
}

/* "two bars for SYM at TIME" when b repeats the last bar handed out. */
static int check_dup(feed_stream *fs, const bar *b, char *err, size_t errcap) {
  if (fs->has_last && b->ts == fs->last.ts && b->sym == fs->last.sym) {
    char t[40];
    time_format(b->ts, t, sizeof t);
    snprintf(err, errcap, "two bars for %s at %s (the same data twice?)",
             fs->cfg->instruments.v[b->sym].symbol, t);
    return DTO_EPARSE;
  }
  return 0;
}

/* The rest of feed_stream_next when one stream is left: its bars in place
 * (a stream's own bars never repeat: the readers refuse a symbol's time
 * twice).  The run handed out, v[i - k..i), stays in the buffer through
 * the refills that extend it, so a run of max bars spans batches as the
 * merged path's do. */
static long next_one(feed_stream *fs, size_t max, const bar **out, char *err,
                     size_t errcap) {
  stream *st = &fs->v[fs->heap[0]];
  if (st->bs && st->cap < IN_PLACE_ROOM)
    st->v = xgrow(st->v, &st->cap, IN_PLACE_ROOM, sizeof *st->v);
  size_t k = 0;
  while (k < max && fs->nheap) {
    int rc = check_dup(fs, &st->v[st->i], err, errcap);
    if (rc)
      return rc;
    size_t m = st->avail - st->i;
    if (m > max - k)
      m = max - k;
    st->i += m;
    k += m;
    fs->last = st->v[st->i - 1];
    fs->has_last = true;
    rc = ready(fs, st, st->i - k, err, errcap);
    if (rc < 0)
      return rc;
    if (rc == 0)
      fs->nheap = 0;
  }
  *out = st->v + st->i - k;
  return (long)k;
}

long feed_stream_next(feed_stream *fs, size_t max, const bar **out, char *err,
                      size_t errcap) {
  *out = NULL;
  if (fs->nheap == 1)
    return next_one(fs, max, out, err, errcap);
  if (fs->out_cap < max)
    fs->out = xgrow(fs->out, &fs->out_cap, max, sizeof *fs->out);
  bar *o = fs->out;
  size_t k = 0;
  while (k < max && fs->nheap) {
    stream *st = &fs->v[fs->heap[0]];
    int rc;
    if (fs->nheap == 1) {
      /* one stream left: its bars in bulk (a stream's own bars never
       * repeat: the readers refuse a symbol's time twice) */
      if ((rc = check_dup(fs, &st->v[st->i], err, errcap)))
        return rc;
      size_t m = st->avail - st->i;
      if (m > max - k)
        m = max - k;
      memcpy(o + k, st->v + st->i, m * sizeof *o);
      st->i += m;
      k += m;
    } else {
      if ((rc = check_dup(fs, &st->v[st->i], err, errcap)))
        return rc;
      o[k++] = st->v[st->i++];
    }
    fs->last = o[k - 1];
    fs->has_last = true;
    rc = ready(fs, st, st->i, err, errcap);
    if (rc < 0)
      return rc;
    if (rc == 0)
      fs->heap[0] = fs->heap[--fs->nheap];
    if (fs->nheap > 1)
      sift_down(fs, 0);
  }
  if (k)
    *out = o;
  return (long)k;
}

size_t feed_stream_bad_rows(const feed_stream *fs) { return fs->bad_rows; }
uint64_t feed_stream_total(const feed_stream *fs) { return fs->total; }

void feed_stream_free(feed_stream *fs) {
  if (!fs)
    return;
  for (size_t i = 0; i < fs->n; i++) {
    stream *st = &fs->v[i];
    binstream_free(st->bs);
    free(st->ids);
    if (st->bs)
      free(st->v);
    bar_vec_release(&st->mem);
  }
  free(fs->v);
  free(fs->heap);
  free(fs->out);
  free(fs);
}
