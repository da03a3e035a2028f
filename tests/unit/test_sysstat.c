/* test_sysstat.c - the /proc and statvfs readers.
 *
 * First against prepared files in a temporary /proc root, with every
 * expected figure computed by hand in the comments (a comm holding blanks
 * and ')', a /proc/stat whose intr line is longer than the reader's
 * buffer, old and new /proc/stat cpu lines, malformed files -> DTO_EPARSE,
 * missing ones -> DTO_EIO, and *out left alone on failure); then against
 * the real /proc, compared with sources that do not read the same files:
 * getrlimit, getrusage, clock_gettime, sysinfo, the number of threads this
 * test starts, an open() that must add exactly one descriptor, df(1) for
 * the disk, and /sys/class/net for the loopback counters. */
#include "core/prelude.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "ops/sysstat.h"

/* when main started: this process began a little before */
static time_t main_started;

/* ---- fixtures ------------------------------------------------------------ */

typedef struct fixture {
  char root[64];
} fixture;

static void put(const fixture *F, const char *rel, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", F->root, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void rm(const fixture *F, const char *rel) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", F->root, rel);
  unlink(path);
}

static void mk(const fixture *F, const char *rel) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", F->root, rel);
  mkdir(path, 0700);
}

static void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rm_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

/* A process "(evil) S 1 2 3)": a reader that stops at the first ')' reads
 * " S 1 2 3) S 1 ..." and gets every field wrong.  Fields (1-based):
 *   1 pid 4242, 2 comm, 3 state S, 4 ppid 1, 5 pgrp 4242, 6 session 4242,
 *   7 tty_nr 0, 8 tpgid -1, 9 flags 4194560, 10-13 faults 1000 0 0 0,
 *   14 utime 250, 15 stime 75, 16 cutime 0, 17 cstime 0, 18 priority 20,
 *   19 nice 0, 20 num_threads 7, 21 itrealvalue 0, 22 starttime 123456,
 *   23 vsize 104857600, 24 rss 2560, 25 rsslim, ... */
static const char stat_line[] =
    "4242 (evil) S 1 2 3) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 "
    "20 0 7 0 123456 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 "
    "17663 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

static const char limits_text[] =
    "Limit                     Soft Limit           Hard Limit           "
    "Units     \n"
    "Max cpu time              unlimited            unlimited            "
    "seconds   \n"
    "Max file size             unlimited            unlimited            "
    "bytes     \n"
    "Max processes             63408                63408                "
    "processes \n"
    "Max open files            1024                 524288               "
    "files     \n"
    "Max locked memory         8388608              8388608              "
    "bytes     \n";

/* /proc/stat with an intr line of about 12 KB (longer than the reader's
 * line buffer) before btime. */
static void put_proc_stat(const fixture *F, const char *cpu_line) {
  char *text = malloc(20000);
  assert_non_null(text);
  size_t n = (size_t)snprintf(text, 20000,
                              "%s"
                              "cpu0 50 10 15 400 25 2 2 0 0 0\n"
                              "cpu1 50 10 15 400 25 3 3 0 0 0\n"
                              "intr 123456789",
                              cpu_line);
  for (int i = 0; i < 3000; i++)
    n += (size_t)snprintf(text + n, 20000 - n, " %d", i % 10);
  snprintf(text + n, 20000 - n,
           "\nctxt 987654321\n"
           "btime 1700000000\n"
           "processes 12345\n"
           "procs_running 2\n"
           "procs_blocked 0\n"
           "softirq 1 2 3 4 5 6 7 8 9 10 11\n");
  assert_true(strlen(text) > 6000);
  put(F, "stat", text);
  free(text);
}

static int setup(void **state) {
  fixture *F = calloc(1, sizeof *F);
  if (!F)
    return -1;
  snprintf(F->root, sizeof F->root, "/tmp/dto_test_sysstat_XXXXXX");
  if (!mkdtemp(F->root))
    return -1;
  mk(F, "self");
  mk(F, "self/fd");
  mk(F, "net");
  put(F, "self/stat", stat_line);
  put(F, "self/limits", limits_text);
  /* five descriptors: 0 1 2 7 12 */
  put(F, "self/fd/0", "");
  put(F, "self/fd/1", "");
  put(F, "self/fd/2", "");
  put(F, "self/fd/7", "");
  put(F, "self/fd/12", "");
  put_proc_stat(F, "cpu  100 20 30 800 50 5 5 0 0 0\n");
  *state = F;
  return 0;
}

static int teardown(void **state) {
  fixture *F = *state;
  rm_tree(F->root);
  free(F);
  return 0;
}

/* ---- this process, from fixtures ----------------------------------------- */

static void test_proc_fixture(void **state) {
  fixture *F = *state;
  /* Linux reports times in USER_HZ, 100 on every architecture */
  assert_int_equal(sysconf(_SC_CLK_TCK), 100);
  sys_proc p;
  assert_int_equal(sys_read_proc(F->root, &p), 0);
  /* (250 + 75) / 100 */
  assert_true(p.cpu_seconds == 3.25);
  assert_int_equal(p.threads, 7);
  /* btime 1700000000 + 123456 / 100 */
  assert_true(fabs(p.start_time - 1700001234.56) < 1e-6);
  assert_int_equal(p.vsize_bytes, 104857600);
  /* 2560 pages: 10 MiB with 4 KiB pages */
  long page = sysconf(_SC_PAGESIZE);
  if (page == 4096)
    assert_int_equal(p.rss_bytes, 10485760);
  assert_int_equal(p.rss_bytes, 2560 * (uint64_t)page);
  assert_int_equal(p.open_fds, 5);
  assert_int_equal(p.max_fds, 1024);

  /* unlimited */
  char text[sizeof limits_text];
  snprintf(text, sizeof text, "%s", limits_text);
  char *mof = strstr(text, "Max open files");
  memcpy(mof + 26, "unlimited", 9);
  put(F, "self/limits", text);
  assert_int_equal(sys_read_proc(F->root, &p), 0);
  assert_int_equal(p.max_fds, -1);

  /* a high priority (negative) and a long comm of blanks are fine */
  put(F, "self/stat",
      "77 (a b c d e f g h) R 1 77 77 0 -1 0 0 0 0 0 1 2 0 0 -51 -20 3 0 500 "
      "4096 1 0\n");
  assert_int_equal(sys_read_proc(F->root, &p), 0);
  /* (1 + 2) / 100; btime + 500/100 */
  assert_true(fabs(p.cpu_seconds - 0.03) < 1e-12);
  assert_int_equal(p.threads, 3);
  assert_true(p.start_time == 1700000005.0);
  assert_int_equal(p.vsize_bytes, 4096);
}

static void expect_proc_error(fixture *F, int want) {
  sys_proc p;
  memset(&p, 0x5a, sizeof p);
  sys_proc before = p;
  assert_int_equal(sys_read_proc(F->root, &p), want);
  assert_memory_equal(&p, &before, sizeof p); /* untouched */
}

static void test_proc_malformed(void **state) {
  fixture *F = *state;
  static const char *const bad_stats[] = {
      "",
      "4242 evil S 1 2 3\n", /* no parens */
      "4242 (evil)S 1 4242 4242 0 -1 0 0 0 0 0 250 75 0 0 20 0 7 0 1 2 3\n",
      "4242 (evil) S 1 4242 4242 0 -1 0 0 0 0 0 250 75 0 0 20 0 7 0\n", /* short
                                                                         */
      "4242 (evil) S 1 4242 4242 0 -1 0 0 0 0 0 25x 75 0 0 20 0 7 0 1 2 3\n",
      "4242 (evil) S 1 4242 4242 0 -1 0 0 0 0 0 250 -75 0 0 20 0 7 0 1 2 3\n",
      "4242 (evil) S 1 4242 4242 0 -1 0 0 0 0 0 250 75 0 0 20 0 7 0 1 2\n",
      "4242 (evil) S 1 4242 4242 0 -1 0 0 0 0 0 99999999999999999999 75 0 0 20 "
      "0 7 0 1 2 3\n", /* overflows 64 bits */
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad_stats); i++) {
    put(F, "self/stat", bad_stats[i]);
    expect_proc_error(F, DTO_EPARSE);
  }
  put(F, "self/stat", stat_line);

  /* no btime */
  put(F, "stat", "cpu  1 2 3 4 5 6 7 8\nctxt 5\n");
  expect_proc_error(F, DTO_EPARSE);
  put(F, "stat", "cpu  1 2 3 4 5 6 7 8\nbtime soon\n");
  expect_proc_error(F, DTO_EPARSE);
  put_proc_stat(F, "cpu  100 20 30 800 50 5 5 0 0 0\n");

  /* no Max open files line */
  put(F, "self/limits", "Limit   Soft Limit   Hard Limit   Units\n");
  expect_proc_error(F, DTO_EPARSE);
  put(F, "self/limits", "Max open files            many      many    files\n");
  expect_proc_error(F, DTO_EPARSE);
  put(F, "self/limits", limits_text);

  /* each file missing in turn */
  rm(F, "self/stat");
  expect_proc_error(F, DTO_EIO);
  put(F, "self/stat", stat_line);
  rm(F, "stat");
  expect_proc_error(F, DTO_EIO);
  put_proc_stat(F, "cpu  100 20 30 800 50 5 5 0 0 0\n");
  rm(F, "self/limits");
  expect_proc_error(F, DTO_EIO);
  put(F, "self/limits", limits_text);
  char fd[128];
  snprintf(fd, sizeof fd, "%s/self/fd", F->root);
  rm_tree(fd);
  expect_proc_error(F, DTO_EIO);
  mk(F, "self/fd");
  /* an empty fd folder is 0 descriptors, not an error */
  sys_proc p;
  assert_int_equal(sys_read_proc(F->root, &p), 0);
  assert_int_equal(p.open_fds, 0);
  /* a root that does not exist */
  assert_int_equal(sys_read_proc("/nonexistent/dto/proc", &p), DTO_EIO);
}

/* ---- the machine, from fixtures ------------------------------------------ */

static void test_cpu_fixture(void **state) {
  fixture *F = *state;
  /* A: user 100 nice 20 system 30 idle 800 iowait 50 irq 5 softirq 5
   *    steal 0: busy = 100+20+30+5+5+0 = 160, total = 160+800+50 = 1010 */
  sys_cpu a, b;
  assert_int_equal(sys_read_cpu(F->root, &a), 0);
  assert_int_equal(a.busy, 160);
  assert_int_equal(a.total, 1010);
  /* B: 170 20 40 1090 60 5 15 10 (guest 7 is inside user already):
   *    busy = 170+20+40+5+15+10 = 260, total = 260+1090+60 = 1410 */
  put_proc_stat(F, "cpu  170 20 40 1090 60 5 15 10 7 0\n");
  assert_int_equal(sys_read_cpu(F->root, &b), 0);
  assert_int_equal(b.busy, 260);
  assert_int_equal(b.total, 1410);
  /* (260-160) / (1410-1010) = 100/400 = 25% */
  assert_true(sys_cpu_percent(&a, &b) == 25.0);
  assert_true(isnan(sys_cpu_percent(&b, &b)));
  assert_true(isnan(sys_cpu_percent(&b, &a))); /* backward */
  /* all busy: 100% */
  sys_cpu c = {b.busy + 50, b.total + 50};
  assert_true(sys_cpu_percent(&b, &c) == 100.0);

  /* an old kernel with 4 fields: busy = 1+2+3, total = 6+4 */
  put(F, "stat", "cpu 1 2 3 4\nbtime 1\n");
  assert_int_equal(sys_read_cpu(F->root, &a), 0);
  assert_int_equal(a.busy, 6);
  assert_int_equal(a.total, 10);

  static const char *const bad[] = {
      "",
      "cpu0 1 2 3 4 5 6 7 8\n", /* not the total line */
      "cpu 1 2 3\n",            /* too few */
      "cpu 1 2 x 4 5 6 7 8\n",
      "cpu 1 2 3 4 five\n",
      "intr 1 2 3\ncpu 1 2 3 4 5 6 7 8\n", /* must be the first line */
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    put(F, "stat", bad[i]);
    sys_cpu z = {42, 43};
    assert_int_equal(sys_read_cpu(F->root, &z), DTO_EPARSE);
    assert_int_equal(z.busy, 42);
    assert_int_equal(z.total, 43);
  }
  rm(F, "stat");
  assert_int_equal(sys_read_cpu(F->root, &a), DTO_EIO);
}

static void test_mem_fixture(void **state) {
  fixture *F = *state;
  put(F, "meminfo",
      "MemTotal:       16318480 kB\n"
      "MemFree:         1234567 kB\n"
      "MemAvailable:   12238860 kB\n"
      "Buffers:          456789 kB\n"
      "Cached:          9876543 kB\n");
  sys_mem m;
  assert_int_equal(sys_read_mem(F->root, &m), 0);
  /* 16318480 * 1024, 12238860 * 1024 */
  assert_int_equal(m.total, 16710123520ull);
  assert_int_equal(m.available, 12532592640ull);
  /* (16318480 - 12238860) / 16318480 = 4079620 / 16318480 = 1/4 */
  assert_true(sys_mem_percent(&m) == 25.0);
  sys_mem zero = {0, 0};
  assert_true(isnan(sys_mem_percent(&zero)));

  static const char *const bad[] = {
      "",
      "MemTotal:       16318480 kB\nMemFree:         1234567 kB\n",
      "MemFree:         1234567 kB\nMemAvailable:   12238860 kB\n",
      "MemTotal:       lots kB\nMemAvailable:   12238860 kB\n",
      "MemTotal:       16318480 MB\nMemAvailable:   12238860 kB\n",
      "MemTotal:       100 kB\nMemAvailable:   200 kB\n", /* avail > total */
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    put(F, "meminfo", bad[i]);
    sys_mem z = {7, 8};
    assert_int_equal(sys_read_mem(F->root, &z), DTO_EPARSE);
    assert_int_equal(z.total, 7);
    assert_int_equal(z.available, 8);
  }
  rm(F, "meminfo");
  assert_int_equal(sys_read_mem(F->root, &m), DTO_EIO);
}

static const char net_head[] =
    "Inter-|   Receive                                                |  "
    "Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes "
    "   packets errs drop fifo colls carrier compressed\n";

static void test_net_fixture(void **state) {
  fixture *F = *state;
  char text[4096];
  snprintf(text, sizeof text,
           "%s"
           "    lo: 1234567    8901    0    0    0     0          0         0  "
           "1234567    8901    0    0    0     0       0          0\n"
           "  eth0: 987654321  123456    7    1    0     0          0       12 "
           "123456789   65432    3    0    0     0       0          0\n"
           /* old kernels glue large counters to the colon */
           "wlan0:18446744073709551615 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n",
           net_head);
  put(F, "net/dev", text);
  sys_net n;
  assert_int_equal(sys_read_net(F->root, &n), 0);
  assert_int_equal(n.n, 3);
  assert_string_equal(n.ifs[0].name, "lo");
  assert_int_equal(n.ifs[0].rx_bytes, 1234567);
  assert_int_equal(n.ifs[0].tx_bytes, 1234567);
  assert_int_equal(n.ifs[0].rx_errs, 0);
  assert_int_equal(n.ifs[0].tx_errs, 0);
  assert_string_equal(n.ifs[1].name, "eth0");
  assert_int_equal(n.ifs[1].rx_bytes, 987654321);
  assert_int_equal(n.ifs[1].rx_errs, 7);
  assert_int_equal(n.ifs[1].tx_bytes, 123456789);
  assert_int_equal(n.ifs[1].tx_errs, 3);
  assert_string_equal(n.ifs[2].name, "wlan0");
  assert_int_equal(n.ifs[2].rx_bytes, UINT64_MAX);
  assert_int_equal(n.ifs[2].rx_errs, 2);
  assert_int_equal(n.ifs[2].tx_bytes, 8);
  assert_int_equal(n.ifs[2].tx_errs, 10);

  /* no interfaces at all */
  put(F, "net/dev", net_head);
  assert_int_equal(sys_read_net(F->root, &n), 0);
  assert_int_equal(n.n, 0);

  /* 20 interfaces: the first SYS_NET_MAX are kept */
  size_t len = (size_t)snprintf(text, sizeof text, "%s", net_head);
  for (int i = 0; i < 20; i++)
    len += (size_t)snprintf(text + len, sizeof text - len,
                            "veth%d: %d 0 0 0 0 0 0 0 %d 0 0 0 0 0 0 0\n", i,
                            i * 10, i * 100);
  put(F, "net/dev", text);
  assert_int_equal(sys_read_net(F->root, &n), 0);
  assert_int_equal(n.n, SYS_NET_MAX);
  assert_string_equal(n.ifs[15].name, "veth15");
  assert_int_equal(n.ifs[15].rx_bytes, 150);
  assert_int_equal(n.ifs[15].tx_bytes, 1500);

  static const char *const bad_lines[] = {
      "  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", /* no colon */
      "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n",   /* 15 numbers */
      "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n", /* not a number */
      "    : 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",  /* no name */
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad_lines); i++) {
    snprintf(text, sizeof text, "%s%s", net_head, bad_lines[i]);
    put(F, "net/dev", text);
    n.n = 99;
    assert_int_equal(sys_read_net(F->root, &n), DTO_EPARSE);
    assert_int_equal(n.n, 99);
  }
  put(F, "net/dev", "");
  assert_int_equal(sys_read_net(F->root, &n), DTO_EPARSE);
  put(F, "net/dev",
      "lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"); /* no header */
  assert_int_equal(sys_read_net(F->root, &n), DTO_EPARSE);
  rm(F, "net/dev");
  assert_int_equal(sys_read_net(F->root, &n), DTO_EIO);
}

static void test_disk_percent(void **state) {
  (void)state;
  /* used = 1000 - 300 = 700 (of which 100 reserved for root: free 300,
   * avail 200); df: 700 / (700 + 200) = 77.78% */
  sys_disk d = {1000, 300, 200};
  assert_true(fabs(sys_disk_percent(&d) - 700.0 / 900.0 * 100) < 1e-12);
  sys_disk full = {1000, 100, 0};
  assert_true(sys_disk_percent(&full) == 100.0);
  sys_disk empty = {0, 0, 0};
  assert_true(isnan(sys_disk_percent(&empty)));
  assert_int_equal(sys_read_disk("/nonexistent/dto/disk", &d), DTO_EIO);
  assert_int_equal(d.total, 1000); /* untouched */
}

/* ---- the real /proc ------------------------------------------------------ */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void *wait_gate(void *arg) {
  (void)arg;
  pthread_mutex_lock(&gate_mu);
  while (!gate_open)
    pthread_cond_wait(&gate_cv, &gate_mu);
  pthread_mutex_unlock(&gate_mu);
  return NULL;
}

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

static void test_real_threads(void **state) {
  (void)state;
  sys_proc p0, p;
  assert_int_equal(sys_read_proc(NULL, &p0), 0);
  pthread_t t[2];
  gate_open = false;
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, wait_gate, NULL), 0);
  assert_int_equal(sys_read_proc(NULL, &p), 0);
  assert_true(p.threads >= 3);
  /* at least two more (a sanitizer may start a helper thread of its own
   * at the first pthread_create) */
  assert_true(p.threads >= p0.threads + 2);
  /* the kernel's list of tasks, another file */
  assert_int_equal(p.threads, count_dir("/proc/self/task"));
  pthread_mutex_lock(&gate_mu);
  gate_open = true;
  pthread_cond_broadcast(&gate_cv);
  pthread_mutex_unlock(&gate_mu);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
}

static void test_real_fds(void **state) {
  (void)state;
  sys_proc a, b, c;
  assert_int_equal(sys_read_proc(NULL, &a), 0);
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(sys_read_proc(NULL, &b), 0);
  close(fd);
  assert_int_equal(sys_read_proc(NULL, &c), 0);
  assert_int_equal(b.open_fds, a.open_fds + 1);
  assert_int_equal(c.open_fds, a.open_fds);
  /* at least stdin, stdout, stderr and the listing's own */
  assert_true(a.open_fds >= 4);

  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur == RLIM_INFINITY)
    assert_int_equal(a.max_fds, -1);
  else
    assert_int_equal(a.max_fds, (int64_t)rl.rlim_cur);
  /* lower the soft limit: the reader follows */
  struct rlimit lower = {rl.rlim_cur > 900 ? 900 : rl.rlim_cur, rl.rlim_max};
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &lower), 0);
  assert_int_equal(sys_read_proc(NULL, &b), 0);
  assert_int_equal(b.max_fds, (int64_t)lower.rlim_cur);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static double tv_s(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void test_real_memory_cpu_start(void **state) {
  (void)state;
  /* burn some CPU so there is something to measure */
  volatile double x = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  do {
    for (int i = 0; i < 100000; i++)
      x += sqrt((double)i);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
  } while ((double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 <
           0.3);

  struct rusage before, after;
  assert_int_equal(getrusage(RUSAGE_SELF, &before), 0);
  sys_proc p;
  assert_int_equal(sys_read_proc(NULL, &p), 0);
  assert_int_equal(getrusage(RUSAGE_SELF, &after), 0);

  /* CPU: between the two getrusage readings, give or take a tick of each
   * of user and system time (the kernel samples differently for each) */
  double lo = tv_s(before.ru_utime) + tv_s(before.ru_stime);
  double hi = tv_s(after.ru_utime) + tv_s(after.ru_stime);
  assert_true(p.cpu_seconds >= 0.3 - 0.05);
  if (!(p.cpu_seconds >= lo - 0.05 && p.cpu_seconds <= hi + 0.05))
    fail_msg("cpu %.3f not within [%.3f, %.3f]", p.cpu_seconds, lo, hi);

  /* RSS: at most the peak (ru_maxrss, kB, counted by the kernel apart),
   * with a little slack for per-thread counters not yet folded in */
  uint64_t peak = (uint64_t)after.ru_maxrss * 1024;
  assert_true(p.rss_bytes > 1024 * 1024);
  if (!(p.rss_bytes <= peak + 4 * 1024 * 1024))
    fail_msg("rss %llu above peak %llu", (unsigned long long)p.rss_bytes,
             (unsigned long long)peak);
  assert_true(p.vsize_bytes >= p.rss_bytes);

  /* start: a little before main(); btime is whole seconds, so allow 1 s */
  time_t now = time(NULL);
  if (!(p.start_time <= (double)main_started + 1.5 &&
        p.start_time >= (double)main_started - 60))
    fail_msg("start %.2f, main at %lld", p.start_time, (long long)main_started);
  assert_true(p.start_time <= (double)now + 1);
}

static void test_real_machine(void **state) {
  (void)state;
  sys_cpu a, b;
  assert_int_equal(sys_read_cpu(NULL, &a), 0);
  assert_true(a.busy <= a.total);
  assert_true(a.total > 0);
  /* spin for 50 ms of wall time: ticks pass */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  volatile double x = 0;
  do {
    x += 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
  } while ((double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 <
           0.05);
  assert_int_equal(sys_read_cpu(NULL, &b), 0);
  assert_true(b.total > a.total);
  assert_true(b.busy >= a.busy);
  double pct = sys_cpu_percent(&a, &b);
  assert_true(pct >= 0 && pct <= 100);

  /* the CPU lines of /proc/stat are the online CPUs */
  FILE *f = fopen("/proc/stat", "r");
  assert_non_null(f);
  char line[512];
  int cpus = 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "cpu", 3) && line[3] >= '0' && line[3] <= '9')
      cpus++;
  fclose(f);
  assert_int_equal(sys_ncpu(), cpus);

  /* MemTotal is sysinfo's totalram: both count the same pages */
  sys_mem m;
  assert_int_equal(sys_read_mem(NULL, &m), 0);
  struct sysinfo si;
  assert_int_equal(sysinfo(&si), 0);
  assert_int_equal(m.total, (uint64_t)si.totalram * si.mem_unit);
  assert_true(m.available > 0 && m.available <= m.total);
  double mp = sys_mem_percent(&m);
  assert_true(mp >= 0 && mp < 100);
}

/* df -P -B1 PATH: the sizes in bytes, from an independent program. */
static bool df_bytes(const char *path, uint64_t *size, uint64_t *used,
                     uint64_t *avail, int *pct) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "df -P -B1 '%s' 2>/dev/null", path);
  FILE *f = popen(cmd, "r");
  if (!f)
    return false;
  char line[1024];
  bool ok = false;
  if (fgets(line, sizeof line, f) && fgets(line, sizeof line, f)) {
    char fs[512];
    unsigned long long s, u, a;
    ok = sscanf(line, "%511s %llu %llu %llu %d%%", fs, &s, &u, &a, pct) == 5;
    *size = s;
    *used = u;
    *avail = a;
  }
  pclose(f);
  return ok;
}

static void test_real_disk(void **state) {
  (void)state;
  sys_disk d;
  assert_int_equal(sys_read_disk("/", &d), 0);
  /* by hand from statvfs */
  struct statvfs v;
  assert_int_equal(statvfs("/", &v), 0);
  assert_int_equal(d.total, (uint64_t)v.f_blocks * v.f_frsize);
  assert_true(d.free <= d.total && d.avail <= d.free);
  double pct = sys_disk_percent(&d);
  assert_true(pct >= 0 && pct <= 100);

  /* and from df, which computes its own (other builds write to this disk
   * meanwhile: used and avail within 256 MiB) */
  uint64_t size, used, avail;
  int dfpct;
  if (!df_bytes("/", &size, &used, &avail, &dfpct)) {
    print_message("df not available: skipped the comparison\n");
    return;
  }
  assert_int_equal(size, d.total);
  uint64_t our_used = d.total - d.free;
  uint64_t slack = 256ull << 20;
  assert_true(our_used + slack >= used && used + slack >= our_used);
  assert_true(d.avail + slack >= avail && avail + slack >= d.avail);
  /* df rounds its percentage up */
  assert_true(fabs(pct - dfpct) <= 1.5);
}

/* /sys/class/net/IF/statistics/NAME as a number, or -1. */
static long long sys_counter(const char *ifname, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", ifname, name);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  long long v = -1;
  if (fscanf(f, "%lld", &v) != 1)
    v = -1;
  fclose(f);
  return v;
}

static void test_real_net(void **state) {
  (void)state;
  long long rx0 = sys_counter("lo", "rx_bytes");
  long long tx0 = sys_counter("lo", "tx_bytes");
  sys_net n;
  assert_int_equal(sys_read_net(NULL, &n), 0);
  long long rx1 = sys_counter("lo", "rx_bytes");
  long long tx1 = sys_counter("lo", "tx_bytes");
  int lo = -1;
  for (int i = 0; i < n.n; i++)
    if (!strcmp(n.ifs[i].name, "lo"))
      lo = i;
  if (lo < 0 || rx0 < 0) {
    print_message("no loopback interface here: skipped\n");
    return;
  }
  /* the counters only grow: ours lies between the readings around it */
  assert_true((long long)n.ifs[lo].rx_bytes >= rx0 &&
              (long long)n.ifs[lo].rx_bytes <= rx1);
  assert_true((long long)n.ifs[lo].tx_bytes >= tx0 &&
              (long long)n.ifs[lo].tx_bytes <= tx1);
}

int main(void) {
  main_started = time(NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_proc_fixture, setup, teardown),
      cmocka_unit_test_setup_teardown(test_proc_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cpu_fixture, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mem_fixture, setup, teardown),
      cmocka_unit_test_setup_teardown(test_net_fixture, setup, teardown),
      cmocka_unit_test(test_disk_percent),
      cmocka_unit_test(test_real_threads),
      cmocka_unit_test(test_real_fds),
      cmocka_unit_test(test_real_memory_cpu_start),
      cmocka_unit_test(test_real_machine),
      cmocka_unit_test(test_real_disk),
      cmocka_unit_test(test_real_net),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
