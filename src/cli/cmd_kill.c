/* cmd_kill.c - `dto kill`: the kill switch, from the command line.
 *
 * Engaging writes the state file first (so the switch holds across a
 * restart even if the process is down) and then signals the running dto
 * (SIGUSR1), which cancels every working order and blocks new ones.
 * Releasing is a person's act: `--release` writes the file and signals
 * SIGUSR2, on which the process re-reads the file.  The running dto is the
 * process that holds the state folder's lock, as the kernel reports it;
 * a pid file is never trusted, so a dead dto's reused pid is never
 * signaled.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include "app/config.h"
#include "app/state.h"
#include "core/fileio.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/timeutil.h"

static const char usage_text[] =
    "usage: dto kill --config FILE [--release] [--reason TEXT] [--status]\n"
    "       dto kill --config FILE --clear-halt SYMBOL|all\n"
    "\n"
    "Engages the kill switch of the dto running with this configuration:\n"
    "every working order is canceled and new orders are refused until a\n"
    "person releases the switch with --release.  The switch is kept in the\n"
    "state folder (run.state_dir, default var/ beside the configuration),\n"
    "so it also holds across restarts and applies to a dto started later.\n"
    "The running dto is the process holding the folder's lock (dto.lock).\n"
    "A damaged state file counts as engaged until it is written again.\n"
    "Sending SIGUSR1 to the process engages it too.\n"
    "\n"
    "  -c, --config FILE   configuration of the running dto\n"
    "  -r, --release       release the switch (a person's decision)\n"
    "      --reason TEXT   recorded with the change\n"
    "  -s, --status        print the switch's state and change nothing\n"
    "      --clear-halt SYMBOL|all\n"
    "                      lift the halt dto put on an instrument after a\n"
    "                      broker report it refused (the kill switch is\n"
    "                      left as it is)\n"
    "  -h, --help          this text\n";

int cmd_kill(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"release", no_argument, NULL, 'r'},
      {"reason", required_argument, NULL, 'R'},
      {"status", no_argument, NULL, 's'},
      {"clear-halt", required_argument, NULL, 'H'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *config = NULL, *reason = "", *clear = NULL;
  bool release = false, status = false;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":c:rsh", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      config = optarg;
      break;
    case 'r':
      release = true;
      break;
    case 'R':
      reason = optarg;
      break;
    case 's':
      status = true;
      break;
    case 'H':
      clear = optarg;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    case ':':
      return cli_usage_error("kill", "%s needs a value", argv[optind - 1]);
    default:
      return cli_usage_error("kill", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return cli_usage_error("kill", "unexpected argument '%s'", argv[optind]);
  if (!config)
    return cli_usage_error("kill", "--config is required");
  if (release && status)
    return cli_usage_error("kill", "--release and --status exclude each other");
  if (clear && (release || status))
    return cli_usage_error("kill", "--clear-halt goes alone");
  if (clear && (!*clear || strlen(clear) > 64 || strchr(clear, '\n')))
    return cli_usage_error("kill", "--clear-halt: expected a symbol or 'all', "
                                   "got '%.40s'",
                           clear);
  dto_config cfg;
  char err[1024], dir[4096];
  if (config_load(config, &cfg, err, sizeof err))
    return cli_fail("%s", err);
  state_dir(&cfg, dir, sizeof dir);
  config_release(&cfg);
  run_state st;
  int rc = state_read(dir, &st, err, sizeof err);
  long pid = 0;
  char lerr[1024];
  int lrc = state_lock_holder(dir, &pid, lerr, sizeof lerr);
  if (status) {
    if (rc)
      printf("kill switch: ENGAGED (the state file is not valid: %s)", err);
    else
      printf("kill switch: %s", st.killed ? "ENGAGED" : "released");
    if (!rc && st.by[0])
      printf(" (by %s at %s%s%s)", st.by, st.at, st.reason[0] ? ": " : "",
             st.reason);
    if (lrc && lrc != DTO_EBUSY)
      printf("\nrunning dto: unknown (%s)\n", lerr);
    else if (lrc == DTO_EBUSY)
      printf("\nrunning dto: yes (pid not visible here)\n");
    else if (pid)
      printf("\nrunning dto: yes (pid %ld)\n", pid);
    else
      printf("\nrunning dto: none found\n");
    return rc ? 1 : 0;
  }
  if (clear) { /* the running dto (or the next start) reads and removes it */
    char path[4200], text[80];
    snprintf(path, sizeof path, "%s/dto.clear", dir);
    int n = snprintf(text, sizeof text, "%s\n", clear);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
      return cli_fail("cannot create the state folder %s: %s", dir,
                      strerror(errno));
    if (fileio_write_atomic(path, text, (size_t)n, 0600, err, sizeof err))
      return cli_fail("%s", err);
    if (pid && kill((pid_t)pid, SIGUSR2) != 0)
      return cli_fail("written, but the running dto (pid %ld) could not be "
                      "signaled: %s",
                      pid, strerror(errno));
    printf("halt of %s cleared%s\n", clear,
           pid ? "; the running dto was told"
               : "; no running dto found (it applies at the next start)");
    return 0;
  }
  memset(&st, 0, sizeof st);
  st.killed = !release;
  const char *user = getenv("USER");
  if (!user || !*user)
    user = getenv("LOGNAME");
  if (user && *user)
    snprintf(st.by, sizeof st.by, "%s", user);
  else
    snprintf(st.by, sizeof st.by, "uid %ld", (long)getuid());
  snprintf(st.reason, sizeof st.reason, "%s", reason);
  dto_clock rc_clock;
  clock_real_init(&rc_clock);
  time_format(clock_now(&rc_clock), st.at, sizeof st.at);
  if (state_write(dir, &st, err, sizeof err))
    return cli_fail("%s", err);
  if (lrc)
    return cli_fail("state written, but the running dto cannot be told "
                    "(%s); it applies at its next start or SIGUSR2",
                    lerr);
  if (pid && kill((pid_t)pid, release ? SIGUSR2 : SIGUSR1) != 0)
    return cli_fail("state written, but the running dto (pid %ld) could not "
                    "be signaled: %s",
                    pid, strerror(errno));
  printf("kill switch %s%s\n", release ? "released" : "ENGAGED",
         pid ? "; the running dto was told"
             : "; no running dto found (it applies at the next start)");
  return 0;
}
