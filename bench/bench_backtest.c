/* bench_backtest.c - backtest throughput and event-to-order latency.
 *
 * Builds N in-memory 1-minute bars (a seeded random walk on a 24/7
 * calendar), then:
 *   1. the ceiling: a bare C loop over the same bars computing the same
 *      moving-average crossover signals (two SMAs of closes, sign changes);
 *   2. the engine path: every bar through the engine (strategy host with
 *      the built-in ma_crossover, risk gate, OMS, paper exchange,
 *      portfolio);
 *   3. the runner path: the loop `dto backtest` runs, in this process:
 *      backtest_run() on the same bars written to a .dtob file (streamed,
 *      checked and decoded, the runner's equity and day bookkeeping, every
 *      report written);
 *   4. latency: for every bar that makes an order, the time from handing
 *      the bar to the engine to the order reaching the paper broker.
 * Prints bars/s for 1 to 3, their ratios, and latency percentiles.
 *
 * With --process DTO it measures instead the whole `dto backtest` process
 * on the .dtob file (bars/s by wall time, and CPU time of all its threads
 * and peak RSS from wait4's rusage), next to a bare C loop that reads the
 * same file from disk (pread, fixed-width loads) on one thread and computes
 * the same signals.
 *
 * usage: bench_backtest [N_BARS] [--file PATH.dtob] [--keep]
 *                       [--only bare|engine|runner] [--process DTO]
 * (default 10000000 bars; the file defaults to /tmp/dto-bench-N.dtob and is
 * removed at the end unless --keep; an existing file of the right size is
 * reused)
 */
#include "core/prelude.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "app/backtest.h"
#include "broker/paper.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "market/binfile.h"
#include "market/calendar.h"

#define FAST 10
#define SLOW 30

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* The random walk, one bar at a time (the in-memory bars and the file hold
 * the same bars). */
typedef struct walk {
  uint64_t s;
  int64_t cents;
  dto_time t;
} walk;

static void walk_init(walk *w) {
  w->s = 42;
  w->cents = 10000; /* 100.00 */
  w->t = 1735689600LL * DTO_NS_PER_SEC; /* 2025-01-01 */
}

static bar walk_next(walk *w) {
  int64_t step = (int64_t)(rng_next(&w->s) % 21) - 10;
  if (w->cents + step < 100)
    step = -step;
  int64_t o = w->cents, c = w->cents + step;
  int64_t hi = (o > c ? o : c) + (int64_t)(rng_next(&w->s) % 5);
  int64_t lo = (o < c ? o : c) - (int64_t)(rng_next(&w->s) % 5);
  bar b = {w->t, 60 * DTO_NS_PER_SEC, o * 1000000, hi * 1000000,
           lo * 1000000, c * 1000000,
           (fx)(50000 + rng_next(&w->s) % 450000) * FX_ONE, 0};
  w->cents = c;
  w->t += 60 * DTO_NS_PER_SEC;
  return b;
}

static bar *make_bars(size_t n) {
  bar *v = xcalloc(n, sizeof *v);
  walk w;
  walk_init(&w);
  for (size_t i = 0; i < n; i++)
    v[i] = walk_next(&w);
  return v;
}

/* ---- the .dtob file ------------------------------------------------------ */

static void put_le64(unsigned char *p, uint64_t v) {
  v = htole64(v);
  memcpy(p, &v, 8);
}

static void put_le32(unsigned char *p, uint32_t v) {
  v = htole32(v);
  memcpy(p, &v, 4);
}

static void write_all(int fd, const void *p, size_t n) {
  const unsigned char *q = p;
  while (n) {
    ssize_t k = write(fd, q, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      perror("bench_backtest: write");
      exit(1);
    }
    q += k;
    n -= (size_t)k;
  }
}

static uint64_t file_size(size_t n) {
  size_t nblocks = (n + BINFILE_BLOCK_RECORDS - 1) / BINFILE_BLOCK_RECORDS;
  return BINFILE_HEADER_SIZE + BINFILE_SYMBOL_SIZE +
         (uint64_t)n * BINFILE_RECORD_SIZE +
         (uint64_t)nblocks * BINFILE_CHECKSUM_SIZE;
}

/* Write the walk's n bars as a version 2 .dtob (format: binfile.h), one
 * block at a time (binfile_write needs every bar in memory; 100 M bars do
 * not fit).  binstream checks every checksum and record when dto reads it. */
static void write_dtob(const char *path, size_t n) {
  struct stat st;
  if (stat(path, &st) == 0 && (uint64_t)st.st_size == file_size(n))
    return; /* made by an earlier run: the same bars */
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror(tmp);
    exit(1);
  }
  unsigned char h[BINFILE_HEADER_SIZE + BINFILE_SYMBOL_SIZE];
  memset(h, 0, sizeof h);
  memcpy(h, BINFILE_MAGIC, BINFILE_MAGIC_LEN);
  put_le32(h + 8, BINFILE_VERSION);
  put_le32(h + 12, BINFILE_RECORD_SIZE);
  put_le64(h + 16, n);
  put_le64(h + 24, (uint64_t)(60 * DTO_NS_PER_SEC));
  put_le32(h + 32, 1);
  put_le32(h + 36, BINFILE_BLOCK_RECORDS);
  put_le64(h + 40, BINFILE_HEADER_SIZE + BINFILE_SYMBOL_SIZE);
  memcpy(h + BINFILE_HEADER_SIZE, "BENCH", 5);
  uint64_t seed = XXH3_64bits(h, 56);
  put_le64(h + 56, XXH3_64bits_withSeed(h + BINFILE_HEADER_SIZE,
                                        BINFILE_SYMBOL_SIZE, seed));
  write_all(fd, h, sizeof h);
  size_t nblocks = (n + BINFILE_BLOCK_RECORDS - 1) / BINFILE_BLOCK_RECORDS;
  unsigned char *sums = xcalloc(nblocks ? nblocks : 1, 8);
  unsigned char *buf = xmalloc(BINFILE_BLOCK_RECORDS * BINFILE_RECORD_SIZE);
  walk w;
  walk_init(&w);
  for (size_t k = 0; k < nblocks; k++) {
    size_t m = n - k * BINFILE_BLOCK_RECORDS;
    if (m > BINFILE_BLOCK_RECORDS)
      m = BINFILE_BLOCK_RECORDS;
    memset(buf, 0, m * BINFILE_RECORD_SIZE);
    for (size_t j = 0; j < m; j++) {
      bar b = walk_next(&w);
      unsigned char *r = buf + j * BINFILE_RECORD_SIZE;
      put_le64(r, (uint64_t)b.ts);
      put_le64(r + 8, (uint64_t)b.open);
      put_le64(r + 16, (uint64_t)b.high);
      put_le64(r + 24, (uint64_t)b.low);
      put_le64(r + 32, (uint64_t)b.close);
      put_le64(r + 40, (uint64_t)b.volume);
    }
    put_le64(sums + k * 8, XXH3_64bits_withSeed(buf, m * BINFILE_RECORD_SIZE,
                                                (uint64_t)k));
    write_all(fd, buf, m * BINFILE_RECORD_SIZE);
  }
  write_all(fd, sums, nblocks * 8);
  free(buf);
  free(sums);
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    perror(path);
    exit(1);
  }
}

/* The ceiling: the same signals with no engine -- what a hand-written C
 * loop would do: exact integer running sums of the closes over two rings,
 * compared by cross-multiplication, counting crossovers. */
static uint64_t bare_loop(const bar *v, size_t n) {
  static fx rf[FAST], rs[SLOW];
  int64_t sf = 0, ss = 0;
  int last = 0;
  uint64_t crosses = 0;
  for (size_t i = 0; i < n; i++) {
    fx c = v[i].close;
    sf += c - (i >= FAST ? rf[i % FAST] : 0);
    ss += c - (i >= SLOW ? rs[i % SLOW] : 0);
    rf[i % FAST] = c;
    rs[i % SLOW] = c;
    if (i + 1 < SLOW)
      continue;
    __int128 l = (__int128)sf * SLOW, r = (__int128)ss * FAST;
    int sign = (l > r) - (l < r);
    if (sign != last && sign != 0 && last != 0)
      crosses++;
    if (sign != 0) /* a tie keeps the last sign, as ma_crossover does */
      last = sign;
  }
  return crosses;
}

/* The same signals over the bars of a .dtob file read from disk: what a
 * hand-written C program would do with the file: pread a block of records
 * at a time into one buffer, load each close with one fixed-width load. */
static uint64_t bare_file_loop(const char *path, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    perror(path);
    exit(1);
  }
  const size_t chunk = BINFILE_BLOCK_RECORDS;
  unsigned char *buf = xmalloc(chunk * BINFILE_RECORD_SIZE);
  fx rf[FAST], rs[SLOW];
  int64_t sf = 0, ss = 0;
  int last = 0;
  uint64_t crosses = 0;
  off_t off = BINFILE_HEADER_SIZE + BINFILE_SYMBOL_SIZE;
  for (size_t i = 0; i < n;) {
    size_t m = n - i < chunk ? n - i : chunk;
    size_t len = m * BINFILE_RECORD_SIZE, got = 0;
    while (got < len) {
      ssize_t k = pread(fd, buf + got, len - got, off + (off_t)got);
      if (k <= 0) {
        perror("bench_backtest: pread");
        exit(1);
      }
      got += (size_t)k;
    }
    off += (off_t)len;
    for (size_t j = 0; j < m; j++, i++) {
      uint64_t u;
      memcpy(&u, buf + j * BINFILE_RECORD_SIZE + 32, 8);
      fx c = (fx)le64toh(u);
      sf += c - (i >= FAST ? rf[i % FAST] : 0);
      ss += c - (i >= SLOW ? rs[i % SLOW] : 0);
      rf[i % FAST] = c;
      rs[i % SLOW] = c;
      if (i + 1 < SLOW)
        continue;
      __int128 l = (__int128)sf * SLOW, r = (__int128)ss * FAST;
      int sign = (l > r) - (l < r);
      if (sign != last && sign != 0 && last != 0)
        crosses++;
      if (sign != 0)
        last = sign;
    }
  }
  free(buf);
  close(fd);
  return crosses;
}

/* The configuration of the runner and process passes: the engine pass's
 * strategy, account and fees, on the .dtob file. */
static void write_config(const char *cfgpath, const char *data,
                         const char *out) {
  FILE *f = fopen(cfgpath, "w");
  if (!f) {
    perror(cfgpath);
    exit(1);
  }
  fprintf(f,
          "log_level: warn\n"
          "accounts:\n  - id: bench\n    cash: 10000000\n"
          "instruments:\n  - {symbol: BENCH, asset_class: crypto, tick: "
          "0.01, lot: 1}\n"
          "data:\n  - path: %s\n"
          "strategies:\n  - id: mac\n    type: ma_crossover\n"
          "    symbols: [BENCH]\n    allocation: 10000000\n"
          "    params: {fast: %d, slow: %d, kind: sma, exit_before_close: "
          "0s}\n"
          "fees:\n  per_share: 0.005\n"
          "backtest:\n  out_dir: %s\n",
          data, FAST, SLOW, out);
  if (fclose(f) != 0) {
    perror(cfgpath);
    exit(1);
  }
}

/* The runner path: backtest_run() in this process (time in seconds). */
static double run_runner(const char *cfgpath) {
  dto_config cfg;
  char err[1024];
  if (config_load(cfgpath, &cfg, err, sizeof err) != 0) {
    fprintf(stderr, "bench_backtest: %s\n", err);
    exit(1);
  }
  backtest_opts o;
  backtest_opts_init(&o);
  o.quiet = true;
  o.summary_out = NULL;
  int64_t t0 = clock_mono_ns();
  int rc = backtest_run(&cfg, &o, err, sizeof err);
  double secs = (double)(clock_mono_ns() - t0) / 1e9;
  config_release(&cfg);
  if (rc) {
    fprintf(stderr, "bench_backtest: backtest: %s\n", err);
    exit(1);
  }
  return secs;
}

/* The whole process: dto backtest --config cfgpath; wall time, the
 * child's peak RSS (KiB) and its CPU time, user and system, of all its
 * threads (s). */
static double run_process(const char *dto, const char *cfgpath,
                          long *maxrss_kib, double *cpu_s) {
  int64_t t0 = clock_mono_ns();
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0)
      dup2(null, 1);
    execl(dto, dto, "backtest", "--config", cfgpath, "--quiet", (char *)NULL);
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bench_backtest: dto backtest failed\n");
    exit(1);
  }
  *maxrss_kib = ru.ru_maxrss;
  *cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return (double)(clock_mono_ns() - t0) / 1e9;
}

/* A broker wrapper that timestamps submits, for the latency pass. */
typedef struct timed {
  matcher *m;
  int64_t last_submit;
} timed;

static int t_submit(void *ctx, const order *o) {
  timed *t = ctx;
  t->last_submit = clock_mono_ns();
  return matcher_submit(t->m, o);
}
static int t_cancel(void *ctx, order_id id) {
  return matcher_cancel(((timed *)ctx)->m, id);
}
static int t_replace(void *ctx, order_id id, const order *o) {
  return matcher_replace(((timed *)ctx)->m, id, o);
}
static void t_bar(void *ctx, const bar *b) { matcher_on_bar(((timed *)ctx)->m, b); }
static void t_time(void *ctx, dto_time t) { matcher_on_time(((timed *)ctx)->m, t); }
static size_t t_poll(void *ctx, broker_report *out, size_t max) {
  return matcher_poll(((timed *)ctx)->m, out, max);
}
static bool t_idle(void *ctx) {
  return matcher_model(((timed *)ctx)->m) == FILL_BAR_CLOSE;
}
static const broker_ops timed_ops = {.name = "timed-paper",
                                     .submit = t_submit,
                                     .cancel = t_cancel,
                                     .replace = t_replace,
                                     .on_bar = t_bar,
                                     .on_time = t_time,
                                     .poll = t_poll,
                                     .sync_reports = true,
                                     .needs_idle_bars = t_idle};

#define RUNS 5

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return v[n / 2];
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

typedef struct run_result {
  double secs;
  uint64_t orders, fills;
  int64_t *lat;
  size_t nlat;
} run_result;

static void run_engine(const bar *v, size_t n, bool measure, run_result *out) {
  instrument_table ins;
  instruments_init(&ins);
  instrument in = {0};
  snprintf(in.symbol, sizeof in.symbol, "BENCH");
  in.asset_class = ASSET_CRYPTO;
  in.tick = FX_ONE / 100;
  in.lot = FX_ONE;
  snprintf(in.currency, sizeof in.currency, "USD");
  in.cal = calendar_crypto();
  instruments_add(&ins, &in, NULL);
  sim_clock sc;
  dto_clock clk;
  clock_sim_init(&clk, &sc, v[0].ts);
  match_config mc;
  match_config_init(&mc);
  matcher *m = matcher_new(&mc, &ins, &clk);
  timed td = {m, 0};
  engine_account acct = {"bench", fx_from_int(10000000)};
  engine_config ec = {0};
  ec.instruments = &ins;
  ec.clock = &clk;
  ec.broker = measure ? &timed_ops : &paper_broker_ops;
  ec.broker_ctx = measure ? (void *)&td : paper_ctx(m);
  ec.fees.per_share = FX_ONE / 200;
  ec.accounts = &acct;
  ec.naccounts = 1;
  engine *e = engine_new(&ec);
  const strategy_def *def = strategy_find("ma_crossover");
  param_value pv[16];
  param_defaults(def->params, def->nparams, pv);
  char rb[128];
  param_parse(&def->params[param_find(def->params, def->nparams, "exit_before_close")],
              "0s", &pv[param_find(def->params, def->nparams, "exit_before_close")],
              rb, sizeof rb);
  sym_id sym = 0;
  engine_strategy es = {def, "mac", 0, &sym, 1, fx_from_int(10000000), pv};
  engine_add_strategy(e, &es);
  engine_start(e);
  out->lat = measure ? xcalloc(n / 4 + 16, sizeof *out->lat) : NULL;
  out->nlat = 0;
  int64_t t0 = clock_mono_ns();
  if (!measure) {
    for (const bar *b = v, *end = v + n; b < end; b++)
      engine_bar(e, b, &sc); /* as runner_bar */
  } else {
    for (size_t i = 0; i < n; i++) {
      const bar *b = &v[i];
      sim_clock_set(&sc, b->ts);
      engine_bar_open(e, b);
      sim_clock_set(&sc, bar_end(b));
      td.last_submit = 0;
      int64_t s = clock_mono_ns();
      engine_on_bar(e, b);
      if (td.last_submit && out->nlat < n / 4 + 16)
        out->lat[out->nlat++] = td.last_submit - s;
    }
  }
  out->secs = (double)(clock_mono_ns() - t0) / 1e9;
  out->orders = oms_count(engine_oms(e));
  out->fills = engine_fill_count(e);
  engine_free(e);
  matcher_free(m);
  instruments_release(&ins);
}

static void usage(void) {
  fprintf(stderr, "usage: bench_backtest [N_BARS >= 1000] [--file PATH.dtob] "
                  "[--keep] [--only bare|engine|runner] [--process DTO]\n");
  exit(2);
}

/* --process: the whole dto backtest next to the bare loop over the file. */
static int process_mode(const char *dto, const char *path, const char *cfgpath,
                        size_t n) {
  double bare_t[3], proc_t[3], cpu_t[3];
  long rss[3];
  uint64_t crosses = 0;
  (void)bare_file_loop(path, n); /* warm up: the file in the page cache */
  for (int k = 0; k < 3; k++) {
    int64_t t0 = clock_mono_ns();
    crosses = bare_file_loop(path, n);
    bare_t[k] = (double)(clock_mono_ns() - t0) / 1e9;
    proc_t[k] = run_process(dto, cfgpath, &rss[k], &cpu_t[k]);
  }
  long maxrss = rss[0];
  for (int k = 1; k < 3; k++)
    maxrss = rss[k] > maxrss ? rss[k] : maxrss;
  double bare = median(bare_t, 3), proc = median(proc_t, 3),
         cpu = median(cpu_t, 3);
  printf("bars                         %zu in %s (%.0f MiB)\n", n, path,
         (double)file_size(n) / 1048576.0);
  printf("bare loop over the file      %.1f M bars/s  (median of 3: %.3f s; "
         "%" PRIu64 " crossovers)\n",
         (double)n / bare / 1e6, bare, crosses);
  printf("dto backtest, whole process  %.1f M bars/s  (median of 3: %.3f s)"
         "\n",
         (double)n / proc / 1e6, proc);
  printf("ratio process/bare           %.2f of the bare loop's rate  (aim: "
         ">= 0.25; budget >= 20 M bars/s)\n",
         bare / proc);
  /* dto reads a large file ahead on a second thread (binstream): its CPU
   * time, both threads, next to the bare loop's one thread */
  printf("dto backtest, CPU time       %.1f M bars/s of CPU  (median of 3: "
         "%.3f s, all threads; %.2f CPUs while it ran)\n",
         (double)n / cpu / 1e6, cpu, cpu / proc);
  printf("peak RSS of dto backtest     %.1f MiB  (%.1f bytes per bar)\n",
         (double)maxrss / 1024.0, (double)maxrss * 1024.0 / (double)n);
  return 0;
}

int main(int argc, char **argv) {
  size_t n = 10000000;
  const char *only = NULL; /* "bare", "engine" or "runner": one pass */
  const char *dto = NULL, *file = NULL;
  bool keep = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
      if (strcmp(only, "bare") && strcmp(only, "engine") &&
          strcmp(only, "runner"))
        usage();
      continue;
    }
    if (!strcmp(argv[i], "--process") && i + 1 < argc) {
      dto = argv[++i];
      continue;
    }
    if (!strcmp(argv[i], "--file") && i + 1 < argc) {
      file = argv[++i];
      continue;
    }
    if (!strcmp(argv[i], "--keep")) {
      keep = true;
      continue;
    }
    char *end;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (*end || v < 1000)
      usage();
    n = (size_t)v;
  }
  char path[4096], cfgpath[4200], outdir[4200];
  if (file)
    snprintf(path, sizeof path, "%s", file);
  else
    snprintf(path, sizeof path, "/tmp/dto-bench-%zu.dtob", n);
  snprintf(cfgpath, sizeof cfgpath, "%s.yaml", path);
  snprintf(outdir, sizeof outdir, "%s.out", path);
  bool need_file = dto || !only || !strcmp(only, "runner");
  if (need_file) {
    write_dtob(path, n);
    write_config(cfgpath, path, outdir);
  }
  int rc = 0;
  if (dto) {
    rc = process_mode(dto, path, cfgpath, n);
    goto out;
  }
  if (only && !strcmp(only, "runner")) {
    double secs = run_runner(cfgpath);
    printf("runner path %.3f s\n", secs);
    goto out;
  }
  bar *v = make_bars(n);
  if (only) { /* a single pass, e.g. under callgrind to count instructions */
    run_result r = {0};
    if (!strcmp(only, "bare"))
      printf("%" PRIu64 " crossovers\n", bare_loop(v, n));
    else {
      run_engine(v, n, false, &r);
      printf("%" PRIu64 " orders\n", r.orders);
    }
    free(v);
    return 0;
  }
  /* warm up: page in the bars */
  volatile uint64_t sink = bare_loop(v, n);
  (void)sink;

  /* Each figure is the median of RUNS runs; the machine is shared. */
  double bare_t[RUNS], eng_t[RUNS], run_t[RUNS];
  uint64_t crosses = 0;
  run_result full = {0}, lat;
  for (int k = 0; k < RUNS; k++) {
    int64_t t0 = clock_mono_ns();
    crosses = bare_loop(v, n);
    bare_t[k] = (double)(clock_mono_ns() - t0) / 1e9;
    run_engine(v, n, false, &full);
    eng_t[k] = full.secs;
    run_t[k] = run_runner(cfgpath);
  }
  run_engine(v, n, true, &lat);
  qsort(lat.lat, lat.nlat, sizeof *lat.lat, cmp_i64);
  double bare = median(bare_t, RUNS), eng = median(eng_t, RUNS),
         run = median(run_t, RUNS);
  double bare_rate = (double)n / bare, eng_rate = (double)n / eng,
         run_rate = (double)n / run;
  printf("bars                         %zu (1-minute, one symbol, "
         "ma_crossover %d/%d SMA)\n",
         n, FAST, SLOW);
  printf("bare loop (ceiling)          %.1f M bars/s  (median of %d: %.3f s; "
         "%" PRIu64 " crossovers)\n",
         bare_rate / 1e6, RUNS, bare, crosses);
  printf("engine, full path            %.1f M bars/s  (median of %d: %.3f s; "
         "%" PRIu64 " orders, %" PRIu64 " fills)\n",
         eng_rate / 1e6, RUNS, eng, full.orders, full.fills);
  printf("runner path (backtest_run)   %.1f M bars/s  (median of %d: %.3f s; "
         "from the .dtob, with every report)\n",
         run_rate / 1e6, RUNS, run);
  printf("ratio bare/engine            %.2fx  (budget: engine >= 20 M bars/s; "
         "aim: ratio <= 3x)\n",
         bare_rate / eng_rate);
  printf("ratio runner/engine          %.2fx by time  (aim: <= 1.5x)\n",
         run / eng);
  printf("engine time per bar          %.1f ns (bare loop %.1f ns, runner "
         "%.1f ns)\n",
         eng * 1e9 / (double)n, bare * 1e9 / (double)n, run * 1e9 / (double)n);
  if (lat.nlat) {
    printf("event->order latency         p50 %" PRId64 " ns, p99 %" PRId64
           " ns, p99.9 %" PRId64 " ns  (%zu orders; budget p50 <= 1000, "
           "p99 <= 5000)\n",
           lat.lat[lat.nlat / 2], lat.lat[lat.nlat * 99 / 100],
           lat.lat[lat.nlat * 999 / 1000], lat.nlat);
  }
  free(lat.lat);
  free(v);
out:
  if (need_file && !keep) {
    unlink(path);
    unlink(cfgpath);
  }
  return rc;
}
