/* main.c - dto's entry point: git-style dispatch to subcommands. */
#include "cli/cli.h"

#include <stdarg.h>

static const struct command {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} commands[] = {
    {"backtest", cmd_backtest, "run strategies over historical data"},
    {"run", cmd_run, "run the orchestrator (paper exchange, live feed)"},
    {"indicators", cmd_indicators, "compute indicators over a data file"},
    {"data", cmd_data, "generate, convert and inspect market data"},
    {"kill", cmd_kill, "engage or release the kill switch"},
    {"ctl", cmd_ctl, "control the running dto (status, kill, cancel, ...)"},
    {"broker", cmd_broker, "check a live broker's account and endpoints"},
    {"migrate", cmd_migrate, "show or migrate the database schema"},
    {"user", cmd_user, "manage the HTTP API's users"},
    {"token", cmd_token, "manage API tokens"},
    {"audit", cmd_audit, "verify the audit log's hash chain"},
    {"alert", cmd_alert, "test alert channels"},
    {"backup", cmd_backup, "take, verify, list and prune backups"},
    {"restore", cmd_restore, "restore a backup into a folder"},
    {"drill", cmd_drill, "rehearse a restore: backup, restore, check, RTO/RPO"},
    {"version", cmd_version, "print version information"},
};

int cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("dto: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "dto %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nsee 'dto %s --help'\n", cmd);
  va_end(ap);
  return 2;
}

static void usage(FILE *f) {
  fprintf(f, "usage: dto <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < DTO_ARRAY_LEN(commands); i++)
    fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n'dto <command> --help' describes a command.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(name, "--version"))
    name = "version";
  for (size_t i = 0; i < DTO_ARRAY_LEN(commands); i++)
    if (!strcmp(commands[i].name, name))
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "dto: '%s' is not a dto command; see 'dto --help'\n", name);
  return 2;
}
