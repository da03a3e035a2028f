/* cmd_run.c - `dto run`: the long-running orchestrator.
 *
 * Option parsing only; the session (signals, feed, journal and recovery,
 * the loop, stopping, reports) is src/app/session.c.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>

#include "app/session.h"
#include "core/alloc.h"

static const char usage_text[] =
    "usage: dto run --config FILE [--speed X] [--max-bars N] [--log FILE]\n"
    "               [--out DIR] [--at-bar N:ACTION]...\n"
    "\n"
    "Runs the configured strategies against the paper exchange, fed by the\n"
    "config's data replayed (run.feed: replay) or by a generated synthetic\n"
    "feed (run.feed: generate).  Time is simulated: it follows the feed,\n"
    "and the process waits between bars as real time would pass at\n"
    "--speed times (0: as fast as possible).  Every order and fill is logged\n"
    "as one JSON line.  With run.store every order, fill and position is\n"
    "journaled first, and a restart resumes from the journal.\n"
    "\n"
    "With accounts[].broker: alpaca it trades through Alpaca (paper unless\n"
    "alpaca.live is true; keys from APCA_API_KEY_ID and APCA_API_SECRET_KEY)\n"
    "on Alpaca's live market data (run.feed: alpaca), until stopped.  It\n"
    "reconciles with Alpaca before the first order, after every reconnect\n"
    "and every alpaca.reconcile_interval; see docs/operations.md.\n"
    "\n"
    "SIGINT or SIGTERM (or --max-bars) stops: working orders are kept for\n"
    "the restart (run.on_stop: keep, the default with a store) or day orders\n"
    "canceled (cancel, the default without one); the end of the feed always\n"
    "cancels them.  Then the log is flushed, a summary printed, exit 0.\n"
    "SIGUSR1 engages the kill switch, SIGUSR2 re-reads it (dto kill), SIGHUP\n"
    "reloads the risk limits.\n"
    "\n"
    "  -c, --config FILE   configuration (YAML); see docs/configuration.md\n"
    "  -s, --speed X       replay speed multiplier, 0 to 1e9 (default:\n"
    "                      run.speed)\n"
    "  -n, --max-bars N    stop after N bars (default: the whole feed)\n"
    "  -l, --log FILE      structured log, appended (default: stderr)\n"
    "  -o, --out DIR       reports of this process: orders.csv (finished\n"
    "                      orders as they finish, then working ones),\n"
    "                      fills.csv, positions.csv and summary.json\n"
    "      --at-bar N:ACTION\n"
    "                      before the feed's bar N (from 0, over the whole\n"
    "                      feed), act as an operator would: kill, release\n"
    "                      (as dto kill [--release]), reload or reload=FILE\n"
    "                      (as SIGHUP), stop (as SIGTERM), stall=MS (the\n"
    "                      loop stands still: a watchdog drill);\n"
    "                      repeatable, for tests and drills that must\n"
    "                      repeat exactly\n"
    "  -h, --help          this text\n";

int cmd_run(int argc, char **argv) {
  enum { OPT_AT_BAR = 256 };
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"speed", required_argument, NULL, 's'},
      {"max-bars", required_argument, NULL, 'n'},
      {"log", required_argument, NULL, 'l'},
      {"out", required_argument, NULL, 'o'},
      {"at-bar", required_argument, NULL, OPT_AT_BAR},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  session_opts so;
  session_opts_init(&so);
  session_action *acts = NULL;
  size_t nacts = 0, actcap = 0;
  char err[1024];
  int c, rc = 0;
  optind = 1;
  opterr = 0;
  while (!rc &&
         (c = getopt_long(argc, argv, ":c:s:n:l:o:h", opts, NULL)) != -1) {
    char *end;
    switch (c) {
    case 'c':
      so.config = optarg;
      break;
    case 's':
      errno = 0;
      so.speed = strtod(optarg, &end);
      if (end == optarg || *end || errno || !isfinite(so.speed) ||
          so.speed < 0 || so.speed > 1e9)
        rc = cli_usage_error("run",
                             "--speed: expected a number from 0 to "
                             "1e9, got '%.40s'",
                             optarg);
      break;
    case 'n': {
      errno = 0;
      unsigned long long v = strtoull(optarg, &end, 10);
      if (*end || errno || optarg[0] == '-' || v == 0)
        rc = cli_usage_error("run",
                             "--max-bars: expected a positive "
                             "integer, got '%.40s'",
                             optarg);
      so.max_bars = v;
      break;
    }
    case 'l':
      so.log_path = optarg;
      break;
    case 'o':
      so.out_dir = optarg;
      break;
    case OPT_AT_BAR:
      acts = xgrow(acts, &actcap, nacts + 1, sizeof *acts);
      if (session_action_parse(optarg, &acts[nacts], err, sizeof err))
        rc = cli_usage_error("run", "--at-bar: %s", err);
      nacts++;
      break;
    case 'h':
      fputs(usage_text, stdout);
      free(acts);
      return 0;
    case ':':
      rc = cli_usage_error("run", "%s needs a value", argv[optind - 1]);
      break;
    default:
      rc = cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (!rc && optind < argc)
    rc = cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
  if (!rc && !so.config)
    rc = cli_usage_error("run", "--config is required");
  if (!rc) {
    so.actions = acts;
    so.nactions = nacts;
    if (session_run(&so, err, sizeof err))
      rc = cli_fail("%s", err);
  }
  free(acts);
  return rc;
}
