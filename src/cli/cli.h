/* cli.h - the dto subcommands.
 *
 * Each command is `int cmd_NAME(int argc, char **argv)` with argv[0] the
 * command name; it returns the process exit status: 0 success, 1 a runtime
 * error (message on stderr, prefixed "dto: "), 2 bad usage (message naming
 * the option, then "see 'dto NAME --help'").  `--help` prints the usage to
 * stdout and returns 0.
 */
#ifndef DTO_CLI_H
#define DTO_CLI_H

#include "core/prelude.h"

int cmd_backtest(int argc, char **argv);
int cmd_indicators(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_broker(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_alert(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_drill(int argc, char **argv);

/* Print "dto: <message>\n" to stderr; returns 1 (runtime error status). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "dto <cmd>: <message>\nsee 'dto <cmd> --help'\n"; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
