/* cmd_user.c - `dto user`, `dto token` and `dto audit`: users, API tokens
 * and the audit log, on the store directly (the first admin, recovery).
 *
 * Passwords come from the terminal (echo off, asked twice) or from stdin
 * with --password-stdin, never from the command line (other users can read
 * command lines).  Tokens and TOTP URIs are printed once and never stored.
 * Every change is in the audit log as "cli:USER" (the Unix user).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/prelude.h"

#include "cli/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "api/audit.h"
#include "api/auth.h"
#include "api/ident.h"
#include "app/config.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "store/store.h"

static const char user_usage[] =
    "usage: dto user add NAME --role ROLE [--password-stdin]\n"
    "       dto user list\n"
    "       dto user disable|enable NAME\n"
    "       dto user reset-mfa NAME\n"
    "       dto user set-role NAME ROLE\n"
    "  (each with --store URL or --config FILE)\n"
    "\n"
    "Manages the HTTP API's users in the store.  Roles: admin, trader,\n"
    "viewer, auditor; admin and trader log in with a TOTP code too: `add`\n"
    "and `reset-mfa` print the otpauth:// URI once (scan it into an\n"
    "authenticator app).  Passwords: 12 to 128 characters, any Unicode,\n"
    "not one of the 10,000 most common.\n"
    "\n"
    "  -r, --role ROLE       the new user's role\n"
    "      --password-stdin  read the password from the first line of\n"
    "                        stdin instead of asking on the terminal\n"
    "  -s, --store URL       the store (default: DTO_STORE_URL)\n"
    "  -c, --config FILE     take the store from the file's run.store\n"
    "  -h, --help            this text\n"
    "\n"
    "exit status: 0 done, 1 refused or the store failed, 2 bad usage.\n";

static const char token_usage[] =
    "usage: dto token create --user NAME [--expires DAYS] [--scope S,...]\n"
    "                        [--name LABEL]\n"
    "       dto token list [--user NAME]\n"
    "       dto token revoke ID\n"
    "  (each with --store URL or --config FILE)\n"
    "\n"
    "API tokens for scripts: `Authorization: Bearer TOKEN`.  The token is\n"
    "printed once; only its hash is kept.  It expires after --expires days\n"
    "(default and most: 90); --scope limits it to some of its user's\n"
    "permissions (read, trade, control, users, audit, self).\n"
    "\n"
    "  -u, --user NAME     whose token\n"
    "  -e, --expires DAYS  1 to 90\n"
    "      --scope LIST    permissions, comma-separated\n"
    "  -n, --name LABEL    a label for the list\n"
    "  -s, --store URL     the store (default: DTO_STORE_URL)\n"
    "  -c, --config FILE   take the store from the file's run.store\n"
    "  -h, --help          this text\n";

static const char audit_usage[] =
    "usage: dto audit verify [--store URL | --config FILE]\n"
    "\n"
    "Checks the audit log's hash chain from its first record: every record\n"
    "must follow the one before it and match its hash.  Names the first\n"
    "broken record.\n"
    "\n"
    "exit status: 0 the chain holds, 1 it is broken or the store failed,\n"
    "2 bad usage.\n";

#define MAX_DAYS 90

/* ---- shared -------------------------------------------------------------- */

typedef struct opts {
  const char *store_url, *config;
  const char *role, *user, *scope, *name;
  int days;
  bool pw_stdin, help;
} opts;

static int parse(const char *cmd, int argc, char **argv, opts *o) {
  enum { O_PWSTDIN = 1000, O_SCOPE };
  static const struct option lo[] = {
      {"store", required_argument, NULL, 's'},
      {"config", required_argument, NULL, 'c'},
      {"role", required_argument, NULL, 'r'},
      {"user", required_argument, NULL, 'u'},
      {"expires", required_argument, NULL, 'e'},
      {"name", required_argument, NULL, 'n'},
      {"scope", required_argument, NULL, O_SCOPE},
      {"password-stdin", no_argument, NULL, O_PWSTDIN},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->days = MAX_DAYS;
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "s:c:r:u:e:n:h", lo, NULL)) != -1) {
    char *end;
    switch (ch) {
    case 's':
      o->store_url = optarg;
      break;
    case 'c':
      o->config = optarg;
      break;
    case 'r':
      o->role = optarg;
      break;
    case 'u':
      o->user = optarg;
      break;
    case 'n':
      o->name = optarg;
      break;
    case O_SCOPE:
      o->scope = optarg;
      break;
    case 'e':
      o->days = (int)strtol(optarg, &end, 10);
      if (*end || o->days < 1 || o->days > MAX_DAYS)
        return cli_usage_error(cmd, "--expires: 1 to %d days", MAX_DAYS);
      break;
    case O_PWSTDIN:
      o->pw_stdin = true;
      break;
    case 'h':
      o->help = true;
      break;
    default:
      return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  return 0;
}

/* The store of --store, --config's run.store or DTO_STORE_URL. */
static int open_store(const char *cmd, const opts *o, store **out) {
  const char *url = o->store_url;
  dto_config cfg;
  config_defaults(&cfg);
  char err[1024];
  if (!url && o->config) {
    if (config_load(o->config, &cfg, err, sizeof err))
      return cli_fail("%s", err);
    url = cfg.run.store;
    if (!url) {
      config_release(&cfg);
      return cli_fail("%s: no run.store in the configuration", o->config);
    }
  }
  if (!url)
    url = getenv("DTO_STORE_URL");
  if (!url) {
    config_release(&cfg);
    return cli_usage_error(cmd, "give --store URL or --config FILE (or set "
                                "DTO_STORE_URL)");
  }
  store_options so;
  memset(&so, 0, sizeof so);
  so.require_current = true;
  int rc = store_open(url, &so, out, err, sizeof err);
  config_release(&cfg);
  if (rc)
    return cli_fail("%s", err);
  return 0;
}

static dto_time wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (dto_time)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

static void actor_of(char *buf, size_t cap) {
  struct passwd *pw = getpwuid(geteuid());
  snprintf(buf, cap, "cli:%.40s", pw && pw->pw_name ? pw->pw_name : "?");
}

static int store_fail(store *s, const char *what) {
  char msg[STORE_ERR_MAX];
  return cli_fail("%s: %s", what, store_errmsg(s, msg, sizeof msg));
}

/* One line of at most cap - 1 bytes from f (the newline dropped); false
 * at EOF or for a line too long. */
static bool read_line(FILE *f, char *buf, size_t cap) {
  if (!fgets(buf, (int)cap, f))
    return false;
  size_t n = strlen(buf);
  if (n && buf[n - 1] == '\n')
    buf[--n] = '\0';
  else if (!feof(f))
    return false; /* longer than the buffer: never cut a password */
  if (n && buf[n - 1] == '\r')
    buf[--n] = '\0';
  return true;
}

/* Ask on the terminal with echo off. */
static bool ask(FILE *tty, const char *prompt, char *buf, size_t cap) {
  struct termios old, quiet;
  int fd = fileno(tty);
  bool saved = tcgetattr(fd, &old) == 0;
  if (saved) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  fputs(prompt, stderr);
  fflush(stderr);
  bool ok = read_line(tty, buf, cap);
  if (saved)
    tcsetattr(fd, TCSAFLUSH, &old);
  fputc('\n', stderr);
  return ok;
}

static int get_password(const opts *o, char *buf, size_t cap) {
  if (o->pw_stdin) {
    if (!read_line(stdin, buf, cap))
      return cli_fail("no password on stdin (one line, at most %d bytes)",
                      (int)cap - 1);
    return 0;
  }
  FILE *tty = fopen("/dev/tty", "r+");
  if (!tty)
    return cli_fail("no terminal to ask the password on: use "
                    "--password-stdin");
  char again[1024];
  bool ok = ask(tty, "password: ", buf, cap) &&
            ask(tty, "again: ", again, sizeof again);
  fclose(tty);
  if (!ok)
    return cli_fail("no password given");
  if (strcmp(buf, again))
    return cli_fail("the two passwords differ");
  return 0;
}

/* ---- dto user ------------------------------------------------------------ */

static int print_user(void *arg, const store_user *u) {
  (void)arg;
  char created[48];
  time_format(u->created, created, sizeof created);
  printf("%-24s %-8s mfa=%-3s %s created %s\n", u->name, u->role,
         u->totp_secret[0] ? "yes" : "no", u->disabled ? "disabled" : "active",
         created);
  return 0;
}

static int user_run(const char *sub, int argc, char **argv, const opts *o,
                    store *s) {
  char actor[64];
  actor_of(actor, sizeof actor);
  ident_actor by = {actor, ""};
  dto_time now = wall_now();
  char uri[IDENT_URI_MAX];
  const char *why = NULL;
  int rc;
  if (!strcmp(sub, "list")) {
    if ((rc = store_user_list(s, print_user, NULL)))
      return store_fail(s, "cannot list users");
    return 0;
  }
  if (argc < 1)
    return cli_usage_error("user", "%s: a user name is needed", sub);
  const char *name = argv[0];
  if (!strcmp(sub, "add")) {
    if (!o->role)
      return cli_usage_error("user", "add: --role is needed");
    char pw[1024];
    if ((rc = get_password(o, pw, sizeof pw)))
      return rc;
    store_user u;
    rc = ident_user_create(s, &by, now, name, pw, strlen(pw), o->role, &u,
                           uri, &why);
    memset(pw, 0, sizeof pw);
    if (rc == DTO_EINVAL)
      return cli_fail("%s", why);
    if (rc == DTO_EEXIST)
      return cli_fail("user %s already exists", name);
    if (rc)
      return store_fail(s, "cannot add the user");
    printf("user %s added (role %s)\n", u.name, u.role);
    if (uri[0])
      printf("TOTP (scan into an authenticator app; shown once):\n%s\n", uri);
    return 0;
  }
  if (!strcmp(sub, "disable") || !strcmp(sub, "enable")) {
    rc = ident_user_disable(s, &by, now, name, !strcmp(sub, "disable"));
    if (rc == DTO_ENOENT)
      return cli_fail("no user %s", name);
    if (rc)
      return store_fail(s, "cannot change the user");
    printf("user %s %sd\n", name, sub);
    return 0;
  }
  if (!strcmp(sub, "reset-mfa")) {
    rc = ident_user_reset_mfa(s, &by, now, name, uri);
    if (rc == DTO_ENOENT)
      return cli_fail("no user %s", name);
    if (rc)
      return store_fail(s, "cannot reset the user's TOTP");
    if (uri[0])
      printf("new TOTP for %s (shown once):\n%s\n", name, uri);
    else
      printf("TOTP of %s removed (the role does not need one)\n", name);
    return 0;
  }
  if (!strcmp(sub, "set-role")) {
    if (argc < 2)
      return cli_usage_error("user", "set-role: NAME ROLE");
    rc = ident_user_set_role(s, &by, now, name, argv[1], uri, &why);
    if (rc == DTO_EINVAL)
      return cli_fail("%s", why);
    if (rc == DTO_ENOENT)
      return cli_fail("no user %s", name);
    if (rc)
      return store_fail(s, "cannot change the role");
    printf("user %s is now %s; their sessions ended\n", name, argv[1]);
    if (uri[0])
      printf("TOTP (the role needs one; shown once):\n%s\n", uri);
    return 0;
  }
  return cli_usage_error("user", "unknown subcommand '%s'", sub);
}

/* getopt permutes argv: options may come anywhere, and the subcommand and
 * its arguments end up from optind on. */
static int run_sub(const char *cmd, int argc, char **argv, const char *usage,
                   int (*fn)(const char *, int, char **, const opts *,
                             store *)) {
  opts o;
  int rc = parse(cmd, argc, argv, &o);
  if (rc)
    return rc;
  if (o.help || optind >= argc) {
    fputs(usage, o.help ? stdout : stderr);
    return o.help ? 0 : 2;
  }
  store *s = NULL;
  if ((rc = open_store(cmd, &o, &s)))
    return rc;
  rc = fn(argv[optind], argc - optind - 1, argv + optind + 1, &o, s);
  store_close(s);
  return rc;
}

int cmd_user(int argc, char **argv) {
  return run_sub("user", argc, argv, user_usage, user_run);
}

/* ---- dto token ----------------------------------------------------------- */

static int print_token(void *arg, const store_token *t) {
  (void)arg;
  char exp[48], rev[48] = "";
  time_format(t->expires, exp, sizeof exp);
  if (t->revoked)
    time_format(t->revoked, rev, sizeof rev);
  printf("%-6" PRId64 " user=%-6" PRId64 " %-20s scope=%-20s expires %s%s%s\n",
         t->id, t->user_id, t->name[0] ? t->name : "-",
         t->scope[0] ? t->scope : "(all)", exp, t->revoked ? " revoked " : "",
         rev);
  return 0;
}

static int token_run(const char *sub, int argc, char **argv, const opts *o,
                     store *s) {
  char actor[64];
  actor_of(actor, sizeof actor);
  ident_actor by = {actor, ""};
  dto_time now = wall_now();
  int rc;
  if (!strcmp(sub, "create")) {
    if (!o->user)
      return cli_usage_error("token", "create: --user is needed");
    store_user u;
    if ((rc = store_user_get(s, o->user, &u)))
      return rc == DTO_ENOENT ? cli_fail("no user %s", o->user)
                              : store_fail(s, "cannot read the user");
    char scope[STORE_SCOPE_MAX + 1] = "";
    if (o->scope) {
      snprintf(scope, sizeof scope, "%s", o->scope);
      for (char *p = scope; *p; p++)
        if (*p == ',')
          *p = ' ';
    }
    store_token t;
    char tok[IDENT_TOKEN_LEN + 1];
    const char *why;
    rc = ident_token_create(s, &by, now, &u, o->name, o->days, MAX_DAYS,
                            scope, &t, tok, &why);
    if (rc == DTO_EINVAL)
      return cli_fail("%s", why);
    if (rc)
      return store_fail(s, "cannot create the token");
    char exp[48];
    time_format(t.expires, exp, sizeof exp);
    printf("token %" PRId64 " for %s, expires %s (shown once):\n%s\n", t.id,
           u.name, exp, tok);
    return 0;
  }
  if (!strcmp(sub, "list")) {
    int64_t uid = 0;
    if (o->user) {
      store_user u;
      if (store_user_get(s, o->user, &u))
        return cli_fail("no user %s", o->user);
      uid = u.id;
    }
    if ((rc = store_token_list(s, uid, print_token, NULL)))
      return store_fail(s, "cannot list tokens");
    return 0;
  }
  if (!strcmp(sub, "revoke")) {
    if (argc < 1)
      return cli_usage_error("token", "revoke: the token's id is needed");
    char *end;
    long long id = strtoll(argv[0], &end, 10);
    if (*end || id <= 0)
      return cli_usage_error("token", "revoke: '%s' is not a token id",
                             argv[0]);
    rc = ident_token_revoke(s, &by, now, id);
    if (rc == DTO_ENOENT)
      return cli_fail("no token %lld", id);
    if (rc == DTO_ESTATE)
      return cli_fail("token %lld is already revoked", id);
    if (rc)
      return store_fail(s, "cannot revoke the token");
    printf("token %lld revoked\n", id);
    return 0;
  }
  return cli_usage_error("token", "unknown subcommand '%s'", sub);
}

int cmd_token(int argc, char **argv) {
  return run_sub("token", argc, argv, token_usage, token_run);
}

/* ---- dto audit ----------------------------------------------------------- */

static int audit_run(const char *sub, int argc, char **argv, const opts *o,
                     store *s) {
  (void)argc;
  (void)argv;
  (void)o;
  if (strcmp(sub, "verify"))
    return cli_usage_error("audit", "unknown subcommand '%s'", sub);
  audit_check c;
  int rc = audit_verify(s, &c);
  if (rc)
    return store_fail(s, "cannot read the audit log");
  if (c.bad_seq)
    return cli_fail("audit log broken at record %" PRId64 ": %s", c.bad_seq,
                    c.why);
  printf("audit log: %" PRId64 " records, the chain holds\n", c.records);
  return 0;
}

int cmd_audit(int argc, char **argv) {
  return run_sub("audit", argc, argv, audit_usage, audit_run);
}
