/* sysstat.h - what the process and the machine are doing, from /proc and
 * statvfs (Linux).
 *
 * Plain readers with no state of their own: the caller keeps the previous
 * reading of counters (CPU time, network bytes) and takes differences.
 * The root of /proc is a parameter so tests read prepared files; NULL means
 * "/proc".  Every reader returns 0, or DTO_EIO (the file is missing or
 * unreadable) or DTO_EPARSE (it does not look as expected); *out is written
 * only on success.  No allocation: each reads through a buffer of a few
 * kilobytes on the stack (a line longer than that is skipped; none that is
 * read is ever so long).
 */
#ifndef DTO_OPS_SYSSTAT_H
#define DTO_OPS_SYSSTAT_H

#include "core/prelude.h"

/* This process (/proc/self/stat, /proc/self/fd, /proc/self/limits,
 * /proc/stat's btime).  open_fds counts the entries of /proc/self/fd while
 * it lists them, the listing's own descriptor included (as client_golang's
 * process collector does); CPU time and the start time are in clock ticks
 * of sysconf(_SC_CLK_TCK), rss in pages of sysconf(_SC_PAGESIZE). */
typedef struct sys_proc {
  double cpu_seconds;   /* user + system */
  uint64_t rss_bytes;   /* resident set */
  uint64_t vsize_bytes; /* virtual memory */
  int open_fds;         /* entries of /proc/self/fd */
  int64_t max_fds;      /* the soft limit (-1: unlimited) */
  int threads;
  double start_time;    /* UNIX seconds */
} sys_proc;
int sys_read_proc(const char *proc, sys_proc *out);

/* The machine's CPU time counters (/proc/stat's first line), in ticks. */
typedef struct sys_cpu {
  uint64_t busy;  /* user nice system irq softirq steal */
  uint64_t total; /* busy + idle + iowait */
} sys_cpu;
int sys_read_cpu(const char *proc, sys_cpu *out);
/* Percentage busy between two readings, 0..100; NAN when no tick passed. */
double sys_cpu_percent(const sys_cpu *older, const sys_cpu *newer);
/* Online CPUs (sysconf). */
int sys_ncpu(void);

/* Memory (/proc/meminfo): MemTotal and MemAvailable, bytes. */
typedef struct sys_mem {
  uint64_t total, available;
} sys_mem;
int sys_read_mem(const char *proc, sys_mem *out);
/* (total - available) / total * 100 */
double sys_mem_percent(const sys_mem *m);

/* The file system holding path (statvfs): bytes in all and available to
 * an unprivileged user; used% as df shows it:
 * used / (used + avail) * 100 with used = total - free. */
typedef struct sys_disk {
  uint64_t total, free, avail;
} sys_disk;
int sys_read_disk(const char *path, sys_disk *out);
double sys_disk_percent(const sys_disk *d);

/* Network bytes per interface (/proc/net/dev), loopback included. */
#define SYS_NET_MAX 16
typedef struct sys_net {
  int n;
  struct {
    char name[32];
    uint64_t rx_bytes, tx_bytes, rx_errs, tx_errs;
  } ifs[SYS_NET_MAX];
} sys_net;
int sys_read_net(const char *proc, sys_net *out);

#endif
