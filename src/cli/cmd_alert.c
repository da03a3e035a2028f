/* cmd_alert.c - `dto alert`: the alerting of a configuration, from the
 * command line.
 *
 * `dto alert test CHANNEL` sends a test notification through one channel
 * of the configuration (its own URL, secrets, timeout and retries), on
 * this thread, and says what came of it: an operator runs it after setting
 * a channel up, before trusting it with a real alert.  Nothing here needs
 * the running dto.  The command dispatches on its first argument; each
 * subcommand parses its own options, so others (list, ack, silence) go
 * beside `test` in the table below.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <getopt.h>
#include <time.h>
#include <unistd.h>

#include "app/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "ops/alert.h"
#include "ops/notify.h"

static const char usage_text[] =
    "usage: dto alert test CHANNEL --config FILE\n"
    "       dto alert rules [--config FILE] [--json]\n"
    "\n"
    "Alert channels and alerts of a configuration (the `alerts:` section).\n"
    "\n"
    "  test CHANNEL   check the channel (its URL's scheme, the variables it\n"
    "                 names are set, its recipients) and send it a test\n"
    "                 notification now, with the channel's timeout and\n"
    "                 retries; prints how many attempts it took\n"
    "  rules          the alert rules evaluated: the built-in ones (the\n"
    "                 production checklist's thresholds) and the\n"
    "                 configuration's own; --json for tools\n"
    "\n"
    "  -c, --config FILE   the configuration\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 delivered, 1 refused or not delivered, 2 bad usage.\n";

/* Options every subcommand takes. */
typedef struct alert_opts {
  const char *config;
  bool help;
} alert_opts;

/* Parse the options of a subcommand (argv[0] is its name); operands are
 * left from optind on (getopt permutes them there). */
static int parse(const char *sub, int argc, char **argv, alert_opts *o) {
  static const struct option lo[] = {{"config", required_argument, NULL, 'c'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, ":c:h", lo, NULL)) != -1) {
    switch (ch) {
    case 'c':
      o->config = optarg;
      break;
    case 'h':
      o->help = true;
      break;
    case ':':
      return cli_usage_error("alert", "%s: '%s' needs a value", sub,
                             argv[optind - 1]);
    default:
      return cli_usage_error("alert", "%s: unknown option '%s'", sub,
                             argv[optind - 1]);
    }
  }
  return 0;
}

static int load_config(const alert_opts *o, dto_config *cfg) {
  config_defaults(cfg);
  if (!o->config)
    return cli_usage_error("alert", "give the configuration with --config "
                                    "FILE");
  char err[CFG_ERR_MAX];
  if (config_load(o->config, cfg, err, sizeof err))
    return cli_fail("%s", err);
  return 0;
}

/* The channel called name, or NULL after a message naming the ones there
 * are. */
static const notify_channel *find_channel(const dto_config *cfg,
                                          const char *file, const char *name) {
  for (size_t i = 0; i < cfg->alerts.nchannels; i++)
    if (!strcmp(cfg->alerts.channels[i].name, name))
      return &cfg->alerts.channels[i];
  dbuf names;
  dbuf_init(&names, 4096);
  for (size_t i = 0; i < cfg->alerts.nchannels; i++)
    dbuf_printf(&names, "%s%s", i ? ", " : "", cfg->alerts.channels[i].name);
  cli_fail("%s: no channel '%s' in alerts.channels (%s%s)", file, name,
           names.len ? "configured: " : "none configured",
           names.len ? names.ptr : "");
  dbuf_release(&names);
  return NULL;
}

static dto_time wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (dto_time)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

/* ---- dto alert test ------------------------------------------------------ */

static int alert_test(int argc, char **argv) {
  alert_opts o;
  int rc = parse("test", argc, argv, &o);
  if (rc)
    return rc;
  if (o.help) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (optind >= argc)
    return cli_usage_error("alert", "test: the channel's name is needed");
  if (argc - optind > 1)
    return cli_usage_error("alert", "test: one channel at a time ('%s')",
                           argv[optind + 1]);
  const char *name = argv[optind];
  dto_config cfg;
  if ((rc = load_config(&o, &cfg)))
    return rc;
  const notify_channel *c = find_channel(&cfg, o.config, name);
  if (!c) {
    config_release(&cfg);
    return 1;
  }
  char err[NOTIFY_TEXT_MAX];
  if (notify_channel_check(c, err, sizeof err)) {
    config_release(&cfg);
    return cli_fail("%s", err);
  }
  char host[NOTIFY_NAME_MAX] = "";
  if (cfg.monitor.instance[0])
    snprintf(host, sizeof host, "%s", cfg.monitor.instance);
  else if (gethostname(host, sizeof host - 1))
    host[0] = '\0';
  notify_msg *m = calloc(1, sizeof *m);
  notify_result *r = calloc(1, sizeof *r);
  if (!m || !r) {
    free(m);
    free(r);
    config_release(&cfg);
    return cli_fail("out of memory");
  }
  notify_msg_test(m, host, wall_now());
  rc = notify_send_now_result(c, m, r);
  if (rc) {
    rc = cli_fail("%s: delivery failed: %s", c->name, r->error);
    fprintf(stderr, "dto: %s: %d attempt%s in %lld ms\n", c->name, r->attempts,
            r->attempts == 1 ? "" : "s", (long long)(r->latency / 1000000));
  } else
    printf("dto: test notification delivered to %s (%d attempt%s, %lld ms)\n",
           c->name, r->attempts, r->attempts == 1 ? "" : "s",
           (long long)(r->latency / 1000000));
  free(m);
  free(r);
  config_release(&cfg);
  return rc;
}

/* ---- rules ---------------------------------------------------------------- */

/* `dto alert rules [--config FILE] [--json]`: the rules a configuration
 * evaluates (the built-in ones unless alerts.default_rules is false, with
 * the file's own in place of a built-in one of the same name), or the
 * built-in ones alone without --config.  deploy/prometheus/dto-rules.yml
 * is checked against this list. */
static int alert_rules(int argc, char **argv) {
  const char *config = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      json = true;
    else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) &&
             i + 1 < argc)
      config = argv[++i];
    else if (!strncmp(argv[i], "--config=", 9))
      config = argv[i] + 9;
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(usage_text, stdout);
      return 0;
    } else
      return cli_usage_error("alert", "rules: unexpected argument '%s'",
                             argv[i]);
  }
  dto_config cfg;
  config_defaults(&cfg);
  char err[CFG_ERR_MAX];
  if (config && config_load(config, &cfg, err, sizeof err))
    return cli_fail("%s", err);
  size_t nd = 0;
  const alert_rule *d =
      cfg.alerts.default_rules ? alert_default_rules(&nd) : NULL;
  size_t n = 0;
  const alert_rule **v = xcalloc(nd + cfg.alerts.nrules + 1, sizeof *v);
  for (size_t i = 0; i < nd; i++) {
    bool over = false;
    for (size_t k = 0; k < cfg.alerts.nrules && !over; k++)
      over = !strcmp(cfg.alerts.rules[k].name, d[i].name);
    if (!over)
      v[n++] = &d[i];
  }
  for (size_t k = 0; k < cfg.alerts.nrules; k++)
    v[n++] = &cfg.alerts.rules[k];
  dbuf b;
  dbuf_init(&b, 1u << 24);
  if (json)
    dbuf_adds(&b, "{\"rules\":[");
  for (size_t i = 0; i < n; i++) {
    const alert_rule *r = v[i];
    if (json) {
      dbuf_adds(&b, i ? ",{\"name\":" : "{\"name\":");
      dbuf_json_str(&b, r->name);
      dbuf_adds(&b, ",\"expr\":");
      dbuf_json_str(&b, r->expr);
      dbuf_printf(&b, ",\"for\":%lld,\"severity\":",
                  (long long)(r->for_ / DTO_NS_PER_SEC));
      dbuf_json_str(&b, alert_sev_name(r->sev));
      dbuf_adds(&b, ",\"labels\":{");
      for (int k = 0; k < r->nl; k++) {
        if (k)
          dbuf_addc(&b, ',');
        dbuf_json_str(&b, r->lkeys[k]);
        dbuf_addc(&b, ':');
        dbuf_json_str(&b, r->lvals[k]);
      }
      dbuf_adds(&b, "},\"summary\":");
      dbuf_json_str(&b, r->summary);
      dbuf_addc(&b, '}');
    } else {
      dbuf_printf(&b, "%-24s %-8s for %6llds  %s\n", r->name,
                  alert_sev_name(r->sev),
                  (long long)(r->for_ / DTO_NS_PER_SEC), r->expr);
    }
  }
  if (json)
    dbuf_adds(&b, "]}\n");
  if (b.ptr)
    fputs(b.ptr, stdout);
  dbuf_release(&b);
  free(v);
  config_release(&cfg);
  return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

static const struct alert_sub {
  const char *name;
  int (*fn)(int argc, char **argv); /* argv[0] is the subcommand */
} subs[] = {
    {"test", alert_test},
    {"rules", alert_rules},
};

int cmd_alert(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_text, stderr);
    return 2;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
    fputs(usage_text, stdout);
    return 0;
  }
  for (size_t i = 0; i < DTO_ARRAY_LEN(subs); i++)
    if (!strcmp(subs[i].name, sub))
      return subs[i].fn(argc - 1, argv + 1);
  return cli_usage_error("alert", "unknown subcommand '%s'", sub);
}
