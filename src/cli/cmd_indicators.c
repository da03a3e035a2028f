/* cmd_indicators.c - `dto indicators`: compute indicators over a bar file.
 *
 * Reads bars with market/reader (CSV or dto's binary format), feeds them to
 * the indicators named on the command line (market/indicators specs) and
 * prints one row per bar as CSV or JSON lines.  It is a tool for looking at
 * data and checking strategies' inputs, not part of the trading path.
 */
#include "core/prelude.h"

#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "market/indicators.h"
#include "market/instrument.h"
#include "market/reader.h"

#define MAX_INDICATORS 64
#define ROW_MAX (1u << 20) /* bytes of one output row; far above any need */
/* Symbol given to the rows of a CSV without a symbol column. */
#define DEFAULT_SYMBOL "DATA"

static const char usage_text[] =
    "usage: dto indicators --data FILE --indicator SPEC [--indicator SPEC]...\n"
    "           [--symbol SYM] [--format csv|json] [--skip-bad-rows]\n"
    "\n"
    "Compute technical indicators over the bars in FILE and print one row\n"
    "per bar: the bar's start time, then one column per indicator output,\n"
    "in the order the indicators are given.\n"
    "\n"
    "options:\n"
    "  -d, --data FILE       bars: CSV with a header\n"
    "                        (time,open,high,low,close,volume[,symbol])\n"
    "                        or dto's binary format\n"
    "  -i, --indicator SPEC  an indicator to compute; repeat for more\n"
    "                        (at most 64)\n"
    "  -s, --symbol SYM      the symbol to use when FILE holds several\n"
    "  -f, --format FMT      csv (default) or json; json is JSON lines:\n"
    "                        one object per bar, {\"time\":...,\n"
    "                        \"<output>\": number or null, ...}\n"
    "      --skip-bad-rows   skip malformed rows (counted on stderr)\n"
    "                        instead of stopping at the first\n"
    "  -h, --help            print this help and exit\n"
    "\n"
    "indicator specs (PERIOD 1..1000) and their output columns:\n"
    "  sma:PERIOD   sma_PERIOD   simple moving average of the close\n"
    "  ema:PERIOD   ema_PERIOD   exponential MA, alpha 2/(PERIOD+1),\n"
    "                            seeded with the SMA\n"
    "  rsi:PERIOD   rsi_PERIOD   Wilder RSI (50 on a flat series)\n"
    "  atr:PERIOD   atr_PERIOD   Wilder average true range\n"
    "  bb:PERIOD:K  bb_lower_PERIOD_K, bb_middle_PERIOD_K,\n"
    "               bb_upper_PERIOD_K: SMA -/+ K population std devs\n"
    "  macd:FAST:SLOW:SIGNAL\n"
    "               macd_F_S_G, macd_signal_F_S_G, macd_hist_F_S_G\n"
    "  vwap:PERIOD  vwap_PERIOD  close-weighted VWAP of the last PERIOD bars\n"
    "  svwap        svwap        session VWAP of the typical price\n"
    "                            (H+L+C)/3; sessions are UTC days\n"
    "\n"
    "output: the time is ISO-8601 UTC, or just YYYY-MM-DD for bars that\n"
    "start at midnight UTC.  While an output warms up its cell is empty\n"
    "(csv) or null (json).  Numbers have the fewest significant digits\n"
    "(15 to 17) that read back as exactly the same double.\n"
    "\n"
    "exit status: 0 success, 1 the file could not be read, 2 bad usage.\n";

typedef struct opts {
  const char *data;
  const char *symbol;
  const char *spec[MAX_INDICATORS];
  size_t nspec;
  bool json;
  bool skip_bad_rows;
} opts;

/* Parse argv into *o.  Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, opts *o) {
  enum { OPT_SKIP = 256 };
  static const struct option longopts[] = {
      {"data", required_argument, NULL, 'd'},
      {"indicator", required_argument, NULL, 'i'},
      {"symbol", required_argument, NULL, 's'},
      {"format", required_argument, NULL, 'f'},
      {"skip-bad-rows", no_argument, NULL, OPT_SKIP},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  memset(o, 0, sizeof *o);
  optind = 0; /* glibc: start afresh, whatever parsed argv before */
  opterr = 0; /* our own messages */
  while ((c = getopt_long(argc, argv, ":d:i:s:f:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'd':
      if (o->data)
        return cli_usage_error("indicators", "--data given twice");
      o->data = optarg;
      break;
    case 'i':
      if (o->nspec == MAX_INDICATORS)
        return cli_usage_error(
            "indicators", "--indicator: too many (at most %d)", MAX_INDICATORS);
      o->spec[o->nspec++] = optarg;
      break;
    case 's':
      if (o->symbol)
        return cli_usage_error("indicators", "--symbol given twice");
      if (!symbol_valid(optarg))
        return cli_usage_error("indicators",
                               "--symbol '%.*s': not a valid symbol (1-15 of "
                               "A-Z, 0-9, '.', '-', '/')",
                               SYMBOL_MAX, optarg);
      o->symbol = optarg;
      break;
    case 'f':
      if (!strcmp(optarg, "csv"))
        o->json = false;
      else if (!strcmp(optarg, "json"))
        o->json = true;
      else
        return cli_usage_error(
            "indicators", "--format '%.*s': must be csv or json", 32, optarg);
      break;
    case OPT_SKIP:
      o->skip_bad_rows = true;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    case ':':
      return cli_usage_error("indicators", "option '%.*s' needs a value", 64,
                             argv[optind - 1]);
    default:
      if (optopt && optopt < 256)
        return cli_usage_error("indicators", "unknown option '-%c'", optopt);
      return cli_usage_error("indicators", "unknown option '%.*s'", 64,
                             argv[optind - 1]);
    }
  }
  if (optind < argc)
    return cli_usage_error("indicators", "unexpected argument '%.*s'", 64,
                           argv[optind]);
  if (!o->data)
    return cli_usage_error("indicators", "--data is required");
  if (o->nspec == 0)
    return cli_usage_error("indicators",
                           "at least one --indicator is required");
  return -1;
}

/* Append d in the shortest "%.Ng" (N = 15..17) that reads back exactly. */
static int add_number(dbuf *b, double d) {
  char tmp[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (prec == 17 || strtod(tmp, NULL) == d)
      break;
  }
  return dbuf_adds(b, tmp);
}

static int add_time(dbuf *b, dto_time t) {
  char tmp[40];
  if (t % DTO_NS_PER_DAY == 0)
    time_format_date(t, tmp, sizeof tmp);
  else
    time_format(t, tmp, sizeof tmp);
  return dbuf_adds(b, tmp);
}

/* The header (csv) or nothing (json); names[] gets every output's name. */
static int add_header(dbuf *b, const opts *o, char (*names)[IND_NAME_MAX],
                      size_t nnames) {
  int rc = 0;
  if (o->json)
    return 0;
  rc |= dbuf_adds(b, "time");
  for (size_t i = 0; i < nnames; i++) {
    rc |= dbuf_addc(b, ',');
    rc |= dbuf_adds(b, names[i]);
  }
  rc |= dbuf_addc(b, '\n');
  return rc;
}

static int add_row(dbuf *b, const opts *o, const bar *bar_in,
                   const indicator *ind, size_t nind,
                   char (*names)[IND_NAME_MAX]) {
  int rc = 0;
  size_t col = 0;
  if (o->json)
    rc |= dbuf_adds(b, "{\"time\":\"");
  rc |= add_time(b, bar_in->ts);
  if (o->json)
    rc |= dbuf_addc(b, '"');
  for (size_t k = 0; k < nind; k++) {
    for (size_t i = 0; i < indicator_outputs(&ind[k]); i++, col++) {
      double v;
      bool have = indicator_value(&ind[k], i, &v) && isfinite(v);
      if (o->json) {
        rc |= dbuf_addc(b, ',');
        rc |= dbuf_json_str(b, names[col]);
        rc |= dbuf_addc(b, ':');
        rc |= have ? add_number(b, v) : dbuf_adds(b, "null");
      } else {
        rc |= dbuf_addc(b, ',');
        if (have)
          rc |= add_number(b, v);
      }
    }
  }
  rc |= dbuf_adds(b, o->json ? "}\n" : "\n");
  return rc;
}

/* The sym id to keep, or SYM_NONE after printing why there is none. */
static sym_id pick_symbol(const opts *o, const instrument_table *syms) {
  if (o->symbol) {
    sym_id id = instruments_find(syms, o->symbol);
    if (id == SYM_NONE)
      cli_fail("%s: no bars for symbol %s", o->data, o->symbol);
    return id;
  }
  if (syms->n == 1)
    return 0;
  char list[5 * (SYMBOL_MAX + 2) + 8] = "";
  size_t len = 0;
  for (size_t i = 0; i < syms->n && i < 5; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                            i ? ", " : "", syms->v[i].symbol);
  snprintf(list + len, sizeof list - len, "%s", syms->n > 5 ? ", ..." : "");
  cli_fail("%s holds %zu symbols (%s); choose one with --symbol", o->data,
           syms->n, list);
  return SYM_NONE;
}

int cmd_indicators(int argc, char **argv) {
  opts o;
  int status = parse_args(argc, argv, &o);
  if (status >= 0)
    return status;

  /* Parse every spec before touching the file: usage errors come first. */
  indicator *ind = xcalloc(o.nspec, sizeof *ind);
  char(*names)[IND_NAME_MAX] =
      xcalloc(o.nspec * IND_MAX_OUTPUTS, sizeof *names);
  size_t nnames = 0;
  instrument_table syms;
  bar_vec bars = {0};
  dbuf out;
  instruments_init(&syms);
  dbuf_init(&out, ROW_MAX);
  for (size_t k = 0; k < o.nspec; k++) {
    char err[160];
    if (indicator_parse(o.spec[k], &ind[k], err, sizeof err) != 0) {
      status = cli_usage_error("indicators", "--indicator '%.*s': %s",
                               IND_SPEC_MAX, o.spec[k], err);
      goto done;
    }
    for (size_t i = 0; i < indicator_outputs(&ind[k]); i++) {
      indicator_output_name(&ind[k], i, names[nnames], IND_NAME_MAX);
      for (size_t j = 0; j < nnames; j++)
        if (!strcmp(names[j], names[nnames])) {
          status = cli_usage_error("indicators",
                                   "--indicator '%.*s': output %s is already "
                                   "computed",
                                   IND_SPEC_MAX, o.spec[k], names[nnames]);
          goto done;
        }
      nnames++;
    }
  }

  read_opts ro;
  read_result res;
  read_opts_init(&ro);
  ro.skip_bad_rows = o.skip_bad_rows;
  memset(&res, 0, sizeof res);
  if (read_bars_file_learn(o.data, &ro, o.symbol ? o.symbol : DEFAULT_SYMBOL,
                           &syms, &bars, &res) != 0) {
    status = cli_fail("%s", res.err);
    goto done;
  }
  if (res.bad_rows)
    fprintf(stderr, "dto: skipped %zu bad row%s; the first: %s\n", res.bad_rows,
            res.bad_rows == 1 ? "" : "s", res.err);
  sym_id sym = SYM_NONE;
  if (bars.n && (sym = pick_symbol(&o, &syms)) == SYM_NONE) {
    status = 1;
    goto done;
  }

  if (add_header(&out, &o, names, nnames) != 0)
    goto toobig;
  fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout);
  int64_t day = INT64_MIN;
  for (size_t r = 0; r < bars.n; r++) {
    const bar *b = &bars.v[r];
    if (b->sym != sym)
      continue;
    int64_t d = floordiv64(b->ts, DTO_NS_PER_DAY);
    for (size_t k = 0; k < o.nspec; k++) {
      if (d != day)
        indicator_session_start(&ind[k]);
      indicator_update(&ind[k], b);
    }
    day = d;
    dbuf_reset(&out);
    if (add_row(&out, &o, b, ind, o.nspec, names) != 0)
      goto toobig;
    fwrite(out.ptr, 1, out.len, stdout);
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    status = cli_fail("cannot write the output: %s", strerror(errno));
    goto done;
  }
  status = 0;
  goto done;

toobig:
  /* Unreachable with MAX_INDICATORS outputs; a guard, not a feature. */
  status = cli_fail("output row longer than %u bytes", ROW_MAX);
done:
  dbuf_release(&out);
  bar_vec_release(&bars);
  instruments_release(&syms);
  free(names);
  free(ind);
  return status;
}
