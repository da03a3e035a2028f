/* cmd_data.c - `dto data`: generate, convert and inspect market data files.
 *
 *   dto data generate  synthetic bars (market/gen) as CSV files or .dtob
 *   dto data convert   CSV (or .dtob) files into one .dtob file
 *   dto data info      what a bar file holds
 *
 * Files are written atomically (a temporary file renamed over the target),
 * so an interrupted run never leaves half a file behind.  This command only
 * moves data between formats; it never trades or touches a store.
 */
#include "core/prelude.h"

#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/fx.h"
#include "core/progress.h"
#include "core/timeutil.h"
#include "market/binfile.h"
#include "market/calendar.h"
#include "market/gen.h"
#include "market/instrument.h"
#include "market/reader.h"

#define MAX_INPUTS 1024
#define MAX_SYMBOLS 1000
#define PATH_CAP 4096

static const char usage_data[] =
    "usage: dto data <subcommand> [options]\n"
    "\n"
    "subcommands:\n"
    "  generate   write a deterministic synthetic feed of 1-minute bars\n"
    "  convert    convert CSV bar files into one binary .dtob file\n"
    "  info       show what a bar file (CSV or .dtob) holds\n"
    "\n"
    "'dto data <subcommand> --help' describes a subcommand.\n";

static const char usage_generate[] =
    "usage: dto data generate --out DIR [--symbols SYM,SYM,...] [--days N]\n"
    "                         [--start YYYY-MM-DD] [--seed N]\n"
    "                         [--calendar us_equity|crypto|fx]\n"
    "                         [--format csv|bin] [--quiet]\n"
    "\n"
    "Writes synthetic 1-minute bars for the regular sessions of a trading\n"
    "calendar: U-shaped volume, volatility clustering, opening gaps, trending\n"
    "and mean-reverting stretches.  The same options give byte-identical\n"
    "files on every machine.  The data is made up; never trade on it.\n"
    "\n"
    "  -o, --out DIR         output folder (created if missing)\n"
    "  -s, --symbols LIST    comma-separated symbols\n"
    "                        (default AAPL,MSFT,SPY,QQQ,NVDA)\n"
    "  -n, --days N          trading days (default 5, at most 10000)\n"
    "      --start DATE      first day; the first session on or after it\n"
    "                        (default 2025-01-06)\n"
    "      --seed N          random seed, 0..2^64-1 (default 42)\n"
    "      --calendar NAME   us_equity (default), crypto or fx\n"
    "  -f, --format FMT      csv (default): DIR/SYMBOL.csv per symbol with\n"
    "                        time,open,high,low,close,volume;\n"
    "                        bin: one file DIR/bars.dtob\n"
    "  -q, --quiet           no progress display\n"
    "  -h, --help            this text\n";

static const char usage_convert[] =
    "usage: dto data convert --in FILE [--in FILE]... --out FILE.dtob\n"
    "                        [--symbol SYM] [--skip-bad-rows] [--quiet]\n"
    "\n"
    "Reads bar files (CSV with a header time,open,high,low,close,volume\n"
    "[,symbol], or .dtob), checks every row, merges them in time order and\n"
    "writes one binary file (format version 2, with checksums) that dto\n"
    "replays without parsing.  All inputs must have the same bar length.\n"
    "A version 1 .dtob (no checksums) is accepted as input here, and only\n"
    "here: converting it is how it is upgraded.  The output must not be one\n"
    "of the inputs.\n"
    "\n"
    "  -i, --in FILE         an input file; repeat for more (at most 1024)\n"
    "  -o, --out FILE        the binary file to write\n"
    "  -s, --symbol SYM      symbol for CSV files without a symbol column\n"
    "                        (default: the file's name without extension,\n"
    "                        upper-cased: aapl.csv -> AAPL)\n"
    "      --skip-bad-rows   skip malformed rows (counted on stderr) instead\n"
    "                        of stopping at the first\n"
    "  -q, --quiet           no progress display\n"
    "  -h, --help            this text\n";

static const char usage_info[] =
    "usage: dto data info FILE\n"
    "\n"
    "Prints the format, number of bars, symbols (with their bar counts),\n"
    "first and last bar times and the bar length of a bar file (CSV or\n"
    ".dtob).  A CSV file is fully read and checked.\n"
    "\n"
    "  -h, --help            this text\n";

/* ---- helpers ----------------------------------------------------------- */

/* "1m", "5m", "1h", "1d", "30s", "250ms": the shortest exact unit. */
static void format_dur(dto_time d, char *buf, size_t cap) {
  static const struct {
    int64_t ns;
    const char *unit;
  } units[] = {{DTO_NS_PER_DAY, "d"}, {DTO_NS_PER_HOUR, "h"},
               {DTO_NS_PER_MIN, "m"}, {DTO_NS_PER_SEC, "s"},
               {1000000, "ms"},       {1000, "us"}};
  for (size_t i = 0; i < DTO_ARRAY_LEN(units); i++)
    if (d > 0 && d % units[i].ns == 0) {
      snprintf(buf, cap, "%lld%s", (long long)(d / units[i].ns),
               units[i].unit);
      return;
    }
  snprintf(buf, cap, "%lldns", (long long)d);
}

/* mkdir -p. */
static int make_dirs(const char *path, char *err, size_t errcap) {
  char p[PATH_CAP];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof p) {
    snprintf(err, errcap, "'%.80s': not a usable folder name", path);
    return DTO_EINVAL;
  }
  memcpy(p, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0')
      continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      int e = errno;
      snprintf(err, errcap, "%s: cannot create folder: %s", p, strerror(e));
      return dto_from_errno(e);
    }
    p[i] = c;
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errcap, "%s: not a folder", path);
    return DTO_EINVAL;
  }
  return 0;
}

/* Write the bars of symbol sym (from a time-ordered vector) as a CSV file,
 * atomically.  pg counts rows written across calls. */
static int write_csv(const char *path, const bar_vec *v, sym_id sym,
                     progress *pg, uint64_t *done, char *err, size_t errcap) {
  fileio_atomic *f;
  int rc = fileio_atomic_open(path, 0644, &f, err, errcap);
  if (rc)
    return rc;
  static const char header[] = "time,open,high,low,close,volume\n";
  fileio_atomic_write(f, header, sizeof header - 1);
  for (size_t i = 0; i < v->n; i++) {
    const bar *b = &v->v[i];
    if (b->sym != sym)
      continue;
    char line[32 + 5 * FX_STRLEN + 8];
    size_t k = time_format(b->ts, line, 32);
    const fx vals[5] = {b->open, b->high, b->low, b->close, b->volume};
    for (int j = 0; j < 5; j++) {
      line[k++] = ',';
      k += fx_format(vals[j], line + k, FX_STRLEN);
    }
    line[k++] = '\n';
    fileio_atomic_write(f, line, k);
    progress_update(pg, ++*done);
  }
  return fileio_atomic_commit(f, err, errcap);
}

/* Parse a whole unsigned decimal; false on anything else or overflow. */
static bool parse_u64(const char *s, uint64_t *out) {
  if (!*s)
    return false;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return false;
    uint64_t d = (uint64_t)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* ---- generate ---------------------------------------------------------- */

static int data_generate(int argc, char **argv) {
  static const char cmd[] = "data generate";
  static const struct option opts[] = {
      {"out", required_argument, NULL, 'o'},
      {"symbols", required_argument, NULL, 's'},
      {"days", required_argument, NULL, 'n'},
      {"start", required_argument, NULL, 'S'},
      {"seed", required_argument, NULL, 'e'},
      {"calendar", required_argument, NULL, 'c'},
      {"format", required_argument, NULL, 'f'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *out_dir = NULL, *symbols_arg = "AAPL,MSFT,SPY,QQQ,NVDA";
  const char *cal_name = "us_equity";
  bool quiet = false, bin = false;
  gen_opts g;
  gen_opts_init(&g);
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":o:s:n:f:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'o':
      out_dir = optarg;
      break;
    case 's':
      symbols_arg = optarg;
      break;
    case 'n': {
      uint64_t d;
      if (!parse_u64(optarg, &d) || d < 1 || d > GEN_MAX_DAYS)
        return cli_usage_error(cmd, "--days: '%.40s' is not a number of days "
                                    "from 1 to %d",
                               optarg, GEN_MAX_DAYS);
      g.days = (int)d;
      break;
    }
    case 'S': {
      dto_time t;
      if (strlen(optarg) != 10 || time_parse_cstr(optarg, &t) != 0)
        return cli_usage_error(cmd, "--start: '%.40s' is not a date "
                                    "(YYYY-MM-DD)",
                               optarg);
      g.start_day = floordiv64(t, DTO_NS_PER_DAY);
      break;
    }
    case 'e':
      if (!parse_u64(optarg, &g.seed))
        return cli_usage_error(cmd, "--seed: '%.40s' is not a whole number "
                                    "from 0 to 18446744073709551615",
                               optarg);
      break;
    case 'c':
      cal_name = optarg;
      break;
    case 'f':
      if (!strcmp(optarg, "csv"))
        bin = false;
      else if (!strcmp(optarg, "bin"))
        bin = true;
      else
        return cli_usage_error(cmd, "--format: '%.40s' is not csv or bin",
                               optarg);
      break;
    case 'q':
      quiet = true;
      break;
    case 'h':
      fputs(usage_generate, stdout);
      return 0;
    case ':':
      return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
    default:
      return cli_usage_error(cmd, "unknown option '%.40s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return cli_usage_error(cmd, "unexpected argument '%.40s'", argv[optind]);
  if (!out_dir)
    return cli_usage_error(cmd, "--out is required");
  if (!(g.cal = calendar_by_name(cal_name)))
    return cli_usage_error(cmd, "--calendar: '%.40s' is not us_equity, "
                                "crypto or fx",
                           cal_name);

  /* Split --symbols. */
  int status = 0;
  char *list = xstrdup(symbols_arg);
  const char **syms = xmalloc(MAX_SYMBOLS * sizeof *syms);
  size_t nsyms = 0;
  for (char *p = list;;) {
    char *comma = strchr(p, ',');
    if (comma)
      *comma = '\0';
    if (nsyms == MAX_SYMBOLS) {
      status = cli_usage_error(cmd, "--symbols: at most %d symbols",
                               MAX_SYMBOLS);
      goto done;
    }
    if (!symbol_valid(p)) {
      status = cli_usage_error(cmd,
                               "--symbols: '%.40s' is not a symbol (1-15 of "
                               "A-Z, 0-9, '.', '-', '/')",
                               p);
      goto done;
    }
    if (!bin && strchr(p, '/')) {
      status = cli_usage_error(cmd,
                               "--symbols: '%s' cannot be a file name; use "
                               "--format bin",
                               p);
      goto done;
    }
    for (size_t i = 0; i < nsyms; i++)
      if (!strcmp(syms[i], p)) {
        status = cli_usage_error(cmd, "--symbols: '%s' is listed twice", p);
        goto done;
      }
    syms[nsyms++] = p;
    if (!comma)
      break;
    p = comma + 1;
  }
  g.symbols = syms;
  g.nsymbols = nsyms;

  char err[PATH_CAP + 256];
  if (make_dirs(out_dir, err, sizeof err) != 0) {
    status = cli_fail("%s", err);
    goto done;
  }
  if (!calendar_covers(g.cal, g.start_day))
    fprintf(stderr, "dto: warning: the %s calendar has no holiday table for "
                    "the start date; only weekends are skipped\n",
            calendar_name(g.cal));
  bar_vec v = {0};
  int rc = gen_bars(&g, &v);
  if (rc == DTO_ETOOBIG) {
    status = cli_fail("too many bars (more than %d); use fewer --days or "
                      "--symbols",
                      GEN_MAX_BARS);
    goto done_bars;
  } else if (rc == DTO_ERANGE) {
    status = cli_fail("the %s calendar has no sessions after --start",
                      calendar_name(g.cal));
    goto done_bars;
  } else if (rc) {
    status = cli_fail("cannot generate bars: %s", dto_strerror(rc));
    goto done_bars;
  }

  char path[PATH_CAP];
  if (bin) {
    snprintf(path, sizeof path, "%s/bars.dtob", out_dir);
    if (binfile_write(path, v.v, v.n, syms, nsyms, err, sizeof err) != 0) {
      status = cli_fail("%s", err);
      goto done_bars;
    }
  } else {
    progress pg;
    uint64_t done = 0;
    progress_init(&pg, "writing", v.n, quiet);
    for (size_t s = 0; s < nsyms && status == 0; s++) {
      snprintf(path, sizeof path, "%s/%s.csv", out_dir, syms[s]);
      if (write_csv(path, &v, (sym_id)s, &pg, &done, err, sizeof err) != 0)
        status = 1;
    }
    progress_done(&pg);
    if (status) {
      status = cli_fail("%s", err);
      goto done_bars;
    }
  }
  if (v.n) {
    char first[40], last[40];
    time_format_date(v.v[0].ts, first, sizeof first);
    time_format_date(v.v[v.n - 1].ts, last, sizeof last);
    printf("wrote %zu bars (%zu symbol%s, %d day%s, %s to %s) to %s\n", v.n,
           nsyms, nsyms == 1 ? "" : "s", g.days, g.days == 1 ? "" : "s",
           first, last, bin ? path : out_dir);
  }
done_bars:
  bar_vec_release(&v);
done:
  free(syms);
  free(list);
  return status;
}

/* ---- convert ----------------------------------------------------------- */

static int cmp_bar_time_sym(const void *pa, const void *pb) {
  const bar *a = pa, *b = pb;
  if (a->ts != b->ts)
    return a->ts < b->ts ? -1 : 1;
  if (a->sym != b->sym)
    return a->sym < b->sym ? -1 : 1;
  return 0;
}

/* "data/aapl.csv" -> "AAPL" (false when that is not a valid symbol). */
static bool symbol_from_path(const char *path, char *out, size_t cap) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
  if (n == 0 || n >= cap)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = base[i];
    out[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
  }
  out[n] = '\0';
  return symbol_valid(out);
}

/* Is out the same file as in?  Compares the files (device and inode) when
 * both exist, which sees through links, and the resolved paths otherwise. */
static bool same_file(const char *in, const char *out) {
  struct stat si, so;
  if (stat(in, &si) == 0 && stat(out, &so) == 0)
    return si.st_dev == so.st_dev && si.st_ino == so.st_ino;
  char *ri = realpath(in, NULL);
  if (!ri)
    return false;
  /* out may not exist yet: resolve its folder and append its name */
  const char *slash = strrchr(out, '/');
  char *dir = slash ? xstrndup(out, (size_t)(slash - out + (slash == out)))
                    : xstrdup(".");
  const char *base = slash ? slash + 1 : out;
  char *rd = realpath(dir, NULL);
  bool same = false;
  if (rd) {
    size_t n = strlen(rd), bn = strlen(base);
    char *cand = xmalloc(n + bn + 2);
    memcpy(cand, rd, n);
    if (n == 0 || rd[n - 1] != '/')
      cand[n++] = '/';
    memcpy(cand + n, base, bn + 1);
    same = !strcmp(ri, cand);
    free(cand);
  }
  free(rd);
  free(dir);
  free(ri);
  return same;
}

static int data_convert(int argc, char **argv) {
  static const char cmd[] = "data convert";
  static const struct option opts[] = {
      {"in", required_argument, NULL, 'i'},
      {"out", required_argument, NULL, 'o'},
      {"symbol", required_argument, NULL, 's'},
      {"skip-bad-rows", no_argument, NULL, 'S'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char **in = xmalloc(MAX_INPUTS * sizeof *in);
  size_t nin = 0;
  const char *out = NULL, *symbol = NULL;
  bool skip = false, quiet = false;
  int c, status = 0;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":i:o:s:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'i':
      if (nin == MAX_INPUTS) {
        status = cli_usage_error(cmd, "--in: at most %d files", MAX_INPUTS);
        goto out_free;
      }
      in[nin++] = optarg;
      break;
    case 'o':
      out = optarg;
      break;
    case 's':
      if (!symbol_valid(optarg)) {
        status = cli_usage_error(cmd,
                                 "--symbol: '%.40s' is not a symbol (1-15 of "
                                 "A-Z, 0-9, '.', '-', '/')",
                                 optarg);
        goto out_free;
      }
      symbol = optarg;
      break;
    case 'S':
      skip = true;
      break;
    case 'q':
      quiet = true;
      break;
    case 'h':
      fputs(usage_convert, stdout);
      goto out_free;
    case ':':
      status = cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
      goto out_free;
    default:
      status =
          cli_usage_error(cmd, "unknown option '%.40s'", argv[optind - 1]);
      goto out_free;
    }
  }
  if (optind < argc) {
    status = cli_usage_error(cmd, "unexpected argument '%.40s'", argv[optind]);
    goto out_free;
  }
  if (nin == 0) {
    status = cli_usage_error(cmd, "--in is required");
    goto out_free;
  }
  if (!out) {
    status = cli_usage_error(cmd, "--out is required");
    goto out_free;
  }
  for (size_t k = 0; k < nin; k++)
    if (same_file(in[k], out)) {
      status = cli_usage_error(cmd,
                               "--out %.200s is the input %.200s; converting "
                               "would replace it: choose another output",
                               out, in[k]);
      goto out_free;
    }

  instrument_table syms;
  instruments_init(&syms);
  bar_vec v = {0};
  read_opts ro;
  read_opts_init(&ro);
  ro.skip_bad_rows = skip;
  ro.quiet = quiet;
  ro.binfile_v1 = true; /* converting is how a version 1 file is upgraded */
  dto_time dur = 0;
  size_t dur_file = 0;
  for (size_t k = 0; k < nin; k++) {
    char guess[SYMBOL_MAX];
    const char *def = symbol;
    if (!def && symbol_from_path(in[k], guess, sizeof guess))
      def = guess;
    read_result res;
    size_t n0 = v.n;
    int rc = read_bars_file_learn(in[k], &ro, def, &syms, &v, &res);
    if (rc && res.no_symbol && !def) {
      status = cli_fail("%s: has no symbol column and its name is not a "
                        "symbol; name it with --symbol",
                        in[k]);
      goto done;
    }
    if (rc) {
      status = cli_fail("%s", res.err);
      goto done;
    }
    if (res.bad_rows)
      fprintf(stderr, "dto: %s: skipped %zu bad row%s; the first: %s\n",
              in[k], res.bad_rows, res.bad_rows == 1 ? "" : "s", res.err);
    if (v.n > n0) {
      if (dur == 0) {
        dur = v.v[n0].dur;
        dur_file = k;
      } else if (v.v[n0].dur != dur) {
        char a[24], b[24];
        format_dur(v.v[n0].dur, a, sizeof a);
        format_dur(dur, b, sizeof b);
        status = cli_fail("%s has %s bars but %s has %s bars; convert them "
                          "into separate files",
                          in[k], a, in[dur_file], b);
        goto done;
      }
    }
  }
  if (v.n == 0) {
    status = cli_fail("no bars to write (every row is outside the inputs' "
                      "range or was skipped)");
    goto done;
  }
  qsort(v.v, v.n, sizeof *v.v, cmp_bar_time_sym);
  for (size_t i = 1; i < v.n; i++)
    if (v.v[i].ts == v.v[i - 1].ts && v.v[i].sym == v.v[i - 1].sym) {
      char t[40];
      time_format(v.v[i].ts, t, sizeof t);
      status = cli_fail("two bars for %s at %s (the same symbol in two input "
                        "files?)",
                        syms.v[v.v[i].sym].symbol, t);
      goto done;
    }
  {
    const char **names = xmalloc(syms.n * sizeof *names);
    for (size_t i = 0; i < syms.n; i++)
      names[i] = syms.v[i].symbol;
    char err[PATH_CAP + 256];
    int rc = binfile_write(out, v.v, v.n, names, syms.n, err, sizeof err);
    free(names);
    if (rc) {
      status = cli_fail("%s", err);
      goto done;
    }
  }
  printf("wrote %zu bars (%zu symbol%s) to %s\n", v.n, syms.n,
         syms.n == 1 ? "" : "s", out);
done:
  bar_vec_release(&v);
  instruments_release(&syms);
out_free:
  free(in);
  return status;
}

/* ---- info -------------------------------------------------------------- */

static int data_info(int argc, char **argv) {
  static const char cmd[] = "data info";
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    if (c == 'h') {
      fputs(usage_info, stdout);
      return 0;
    }
    return cli_usage_error(cmd, "unknown option '%.40s'", argv[optind - 1]);
  }
  if (optind >= argc)
    return cli_usage_error(cmd, "which file? (dto data info FILE)");
  if (optind + 1 < argc)
    return cli_usage_error(cmd, "unexpected argument '%.40s'",
                           argv[optind + 1]);
  const char *path = argv[optind];

  /* Both formats go through the reader, so a CSV is checked the same way
   * a backtest would read it. */
  instrument_table syms;
  instruments_init(&syms);
  bar_vec v = {0};
  read_opts ro;
  read_opts_init(&ro);
  read_result res;
  char guess[SYMBOL_MAX];
  const char *def = symbol_from_path(path, guess, sizeof guess) ? guess
                                                                 : "DATA";
  int status = 0;
  bool bin = read_file_is_binary(path);
  if (read_bars_file_learn(path, &ro, def, &syms, &v, &res) != 0) {
    status = cli_fail("%s", res.err);
    goto done;
  }
  size_t *count = xcalloc(syms.n, sizeof *count);
  dto_time first = INT64_MAX, last = INT64_MIN;
  for (size_t i = 0; i < v.n; i++) {
    count[v.v[i].sym]++;
    if (v.v[i].ts < first)
      first = v.v[i].ts;
    if (v.v[i].ts > last)
      last = v.v[i].ts;
  }
  char t1[40], t2[40], d[24];
  time_format(first, t1, sizeof t1);
  time_format(last, t2, sizeof t2);
  format_dur(v.n ? v.v[0].dur : 0, d, sizeof d);
  printf("file:      %s\n", path);
  if (bin)
    printf("format:    dto binary (version %d, checksums verified)\n",
           BINFILE_VERSION);
  else
    printf("format:    csv\n");
  printf("bars:      %zu\n", v.n);
  printf("symbols:   %zu:", syms.n);
  for (size_t i = 0; i < syms.n; i++)
    printf(" %s (%zu)%s", syms.v[i].symbol, count[i],
           i + 1 < syms.n ? "," : "");
  printf("\nfirst:     %s\nlast:      %s\nbar:       %s%s\n", t1, t2, d,
         bin ? "" : " (inferred)");
  free(count);
done:
  bar_vec_release(&v);
  instruments_release(&syms);
  return status;
}

/* ---- dispatch ---------------------------------------------------------- */

int cmd_data(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_data, stderr);
    return 2;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
    fputs(usage_data, stdout);
    return 0;
  }
  if (!strcmp(sub, "generate"))
    return data_generate(argc - 1, argv + 1);
  if (!strcmp(sub, "convert"))
    return data_convert(argc - 1, argv + 1);
  if (!strcmp(sub, "info"))
    return data_info(argc - 1, argv + 1);
  return cli_usage_error("data", "'%.40s' is not a data subcommand "
                                 "(generate, convert, info)",
                         sub);
}
