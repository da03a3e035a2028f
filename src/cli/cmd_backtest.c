/* cmd_backtest.c - `dto backtest`. */
#include "cli/cli.h"

#include <getopt.h>

#include "app/backtest.h"
#include "app/config.h"
#include "core/error.h"
#include "core/timeutil.h"

static const char usage_text[] =
    "usage: dto backtest --config FILE [--data FILE]... [--from TIME]\n"
    "                    [--to TIME] [--out DIR] [--skip-bad-rows] [--quiet]\n"
    "\n"
    "Runs the configured strategies over historical bars through the paper\n"
    "exchange, prints a summary and writes summary.json, trades.csv,\n"
    "orders.csv, fills.csv, equity.csv and events.jsonl into the output folder.  The\n"
    "same inputs give byte-identical files.\n"
    "\n"
    "  -c, --config FILE    configuration (YAML); see docs/configuration.md\n"
    "  -d, --data FILE      bars file (CSV or .dtob), repeatable; replaces\n"
    "                       the config's data.  A file without a symbol\n"
    "                       column is named after its symbol (aapl.csv)\n"
    "      --from TIME      first bar time (ISO-8601 or epoch), inclusive\n"
    "      --to TIME        end time, exclusive\n"
    "  -o, --out DIR        output folder (default: the config's\n"
    "                       backtest.out_dir, else ./backtest-out)\n"
    "      --skip-bad-rows  skip and count malformed rows instead of failing\n"
    "  -q, --quiet          no progress display\n"
    "  -h, --help           this text\n";

int cmd_backtest(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"data", required_argument, NULL, 'd'},
      {"from", required_argument, NULL, 'F'},
      {"to", required_argument, NULL, 'T'},
      {"out", required_argument, NULL, 'o'},
      {"skip-bad-rows", no_argument, NULL, 'S'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *config = NULL;
  const char *data[256];
  backtest_opts bo;
  backtest_opts_init(&bo);
  bo.data = data;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":c:d:o:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      config = optarg;
      break;
    case 'd':
      if (bo.ndata == DTO_ARRAY_LEN(data))
        return cli_usage_error("backtest", "--data: at most %zu files",
                               DTO_ARRAY_LEN(data));
      data[bo.ndata++] = optarg;
      break;
    case 'F':
    case 'T': {
      dto_time t;
      if (time_parse_cstr(optarg, &t))
        return cli_usage_error("backtest",
                               "--%s: '%.40s' is not a time (use ISO-8601 "
                               "such as 2025-01-06 or 2025-01-06T14:30:00Z)",
                               c == 'F' ? "from" : "to", optarg);
      if (c == 'F')
        bo.from = t;
      else
        bo.to = t;
      break;
    }
    case 'o':
      bo.out_dir = optarg;
      break;
    case 'S':
      bo.skip_bad_rows = true;
      break;
    case 'q':
      bo.quiet = true;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    case ':':
      return cli_usage_error("backtest", "%s needs a value", argv[optind - 1]);
    default:
      return cli_usage_error("backtest", "unknown option '%s'",
                             argv[optind - 1]);
    }
  }
  if (optind < argc)
    return cli_usage_error("backtest", "unexpected argument '%s'",
                           argv[optind]);
  if (!config)
    return cli_usage_error("backtest", "--config is required");
  dto_config cfg;
  char err[1024];
  int rc = config_load(config, &cfg, err, sizeof err);
  if (rc)
    return cli_fail("%s", err);
  rc = backtest_run(&cfg, &bo, err, sizeof err);
  config_release(&cfg);
  if (rc)
    return cli_fail("%s", err);
  return 0;
}
