/* cmd_broker.c - `dto broker check`: a live broker's account, endpoints and
 * instruments checked before trading, without placing an order; `dto
 * broker flatten`: orders canceled and positions closed at the broker
 * itself, for when dto is down. */
#include "cli/cli.h"

#include <getopt.h>

#include "app/config.h"
#include "app/state.h"
#include "broker/alpaca_check.h"
#include "core/alloc.h"
#include "core/error.h"

static const char usage_text[] =
    "usage: dto broker check --config FILE [--json]\n"
    "       dto broker flatten --config FILE [--all] --yes [--json]\n"
    "\n"
    "Checks the broker of the configuration (its alpaca: section) before\n"
    "dto trades through it, and places no order: the API keys\n"
    "(APCA_API_KEY_ID and APCA_API_SECRET_KEY from the environment) and\n"
    "the account (status, blocks, cash, buying power), the market clock,\n"
    "Alpaca's calendar of the next 30 days against dto's (for US\n"
    "equities: a closure or early close dto does not know fails),\n"
    "that every configured instrument is an active, tradable asset\n"
    "(shortable, fractionable), the market data API, and both streams\n"
    "(connect and authenticate).  Each line gives the round-trip time.\n"
    "\n"
    "  -c, --config FILE   the configuration (YAML)\n"
    "      --json          one JSON object per check\n"
    "  -h, --help          this text\n"
    "\n"
    "flatten: at the broker itself, without dto running (dto down, or its\n"
    "books not to be trusted), cancels the open orders and closes the\n"
    "positions of the configured instruments (--all: of the whole account,\n"
    "with Alpaca's cancel-all); Alpaca closes each position with a market\n"
    "order.  It refuses while dto run holds the configuration's state\n"
    "folder (use dto ctl flatten then), and without --yes.\n"
    "\n"
    "      --all           flatten: every order and position of the account\n"
    "      --yes           flatten: do it (it sends market orders)\n"
    "\n"
    "Exit status: 0 every check (action) succeeded, 1 one failed (its\n"
    "line says why), 2 usage or configuration error, or refused.\n";

int cmd_broker(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"json", no_argument, NULL, 'j'},
      {"all", no_argument, NULL, 'a'},
      {"yes", no_argument, NULL, 'y'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    fputs(usage_text, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  bool flatten = !strcmp(argv[1], "flatten");
  if (strcmp(argv[1], "check") && !flatten)
    return cli_usage_error("broker", "unknown subcommand '%s' (expected "
                                     "check or flatten)",
                           argv[1]);
  bool all = false, yes = false;
  argc--;
  argv++;
  const char *config = NULL;
  bool json = false;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      config = optarg;
      break;
    case 'j':
      json = true;
      break;
    case 'a':
      all = true;
      break;
    case 'y':
      yes = true;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    case ':':
      return cli_usage_error("broker", "%s needs a value", argv[optind - 1]);
    default:
      return cli_usage_error("broker", "unknown option '%s'",
                             argv[optind - 1]);
    }
  }
  if (optind < argc)
    return cli_usage_error("broker", "unexpected argument '%s'",
                           argv[optind]);
  if (!config)
    return cli_usage_error("broker", "--config FILE is required");
  dto_config cfg;
  char err[1024];
  if (config_load(config, &cfg, err, sizeof err)) {
    fprintf(stderr, "dto: %s\n", err);
    return 2;
  }
  if (!cfg.alpaca.present) {
    fprintf(stderr, "dto: %s has no alpaca: section: there is no live "
                    "broker to check (see docs/configuration.md)\n",
            config);
    config_release(&cfg);
    return 2;
  }
  alpaca_conf ac;
  if (alpaca_conf_resolve(&cfg.alpaca, NULL, &ac, err, sizeof err)) {
    fprintf(stderr, "dto: %s\n", err);
    config_release(&cfg);
    return 2;
  }
  if (!flatten && (all || yes)) {
    alpaca_conf_wipe(&ac);
    config_release(&cfg);
    return cli_usage_error("broker", "--all and --yes are for flatten");
  }
  if (flatten) {
    /* never behind a running dto's back: it would trade on books the
     * broker no longer has */
    char dir[4096];
    long pid = 0;
    state_dir(&cfg, dir, sizeof dir);
    int lrc = state_lock_holder(dir, &pid, err, sizeof err);
    if ((lrc == 0 && pid > 0) || lrc == DTO_EBUSY) {
      fprintf(stderr,
              "dto: dto run (pid %ld) is running on this configuration's "
              "state folder %s: use 'dto ctl flatten' (or stop it first)\n",
              pid, dir);
      alpaca_conf_wipe(&ac);
      config_release(&cfg);
      return 2;
    }
    if (!yes) {
      fprintf(stderr,
              "dto: this cancels %s and closes %s at %s (%s) with market "
              "orders: add --yes to do it\n",
              all ? "every open order" : "the configured instruments' orders",
              all ? "every position of the account" : "their positions",
              ac.trading_url, ac.live ? "LIVE, real money" : "paper");
      alpaca_conf_wipe(&ac);
      config_release(&cfg);
      return 2;
    }
  }
  size_t n = cfg.instruments.n;
  const char **syms = xcalloc(n ? n : 1, sizeof *syms);
  for (size_t i = 0; i < n; i++)
    syms[i] = cfg.instruments.v[i].symbol;
  /* the calendar of the configured US equities, compared with Alpaca's */
  const calendar *cal = NULL;
  for (size_t i = 0; i < n && !cal; i++)
    if (cfg.instruments.v[i].cal &&
        !strcmp(calendar_name(cfg.instruments.v[i].cal), "us_equity"))
      cal = cfg.instruments.v[i].cal;
  int rc = flatten ? alpaca_flatten(&ac, syms, n, all, stdout, json)
                   : alpaca_check(&ac, syms, n, cal, stdout, json);
  fflush(stdout);
  free(syms);
  alpaca_conf_wipe(&ac);
  config_release(&cfg);
  return rc;
}
