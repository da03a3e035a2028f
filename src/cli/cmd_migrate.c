/* cmd_migrate.c - `dto migrate`: show or move a store's schema version.
 *
 *   dto migrate [status] --store URL   the version and what is pending
 *   dto migrate up --store URL         apply every pending migration
 *   dto migrate --to N --store URL     apply the migrations up to N
 *
 * The migrations are embedded in the binary (src/store/migrations/).  Each
 * runs in its own transaction and records its version, so an interrupted
 * run leaves the schema at the last complete version.  There are no
 * downgrades.  A PostgreSQL password is taken from PGPASSWORD or from the
 * URL in DTO_STORE_URL, never from the command line (other users can read
 * command lines), and is never printed.
 */
#include "core/prelude.h"

#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>

#include "core/error.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: dto migrate [status|up] [--to N] [--store URL]\n"
    "\n"
    "Shows or changes the schema version of a dto database.  dto refuses to\n"
    "trade on a database whose schema is older or newer than it knows.\n"
    "\n"
    "  status              show the schema version and the pending\n"
    "                      migrations (the default)\n"
    "  up                  apply every pending migration\n"
    "  -t, --to N          apply the migrations up to version N (no\n"
    "                      downgrades)\n"
    "  -s, --store URL     sqlite:PATH (or a plain PATH) or\n"
    "                      postgresql://USER@HOST[:PORT]/DB[?sslmode=...];\n"
    "                      default: the environment variable DTO_STORE_URL.\n"
    "                      A PostgreSQL password comes from PGPASSWORD or\n"
    "                      DTO_STORE_URL, never from the command line.\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 done, 1 the database could not be read or migrated,\n"
    "2 bad usage.\n";

static void on_applied(void *arg, const store_migration *m) {
  DTO_UNUSED(arg);
  printf("applied %s\n", m->name);
  fflush(stdout);
}

static int print_status(store *s) {
  int v, latest = store_latest_version(s);
  if (store_schema_version(s, &v)) {
    char msg[STORE_ERR_MAX];
    return cli_fail("cannot read the schema version: %s",
                    store_errmsg(s, msg, sizeof msg));
  }
  printf("schema version: %d\nlatest known: %d\n", v, latest);
  if (v > latest)
    return cli_fail("database schema version %d is newer than this dto "
                    "knows (%d)",
                    v, latest);
  if (v == latest) {
    printf("up to date\n");
    return 0;
  }
  const store_migration *m = store_migrations(s);
  for (int i = v; i < latest; i++)
    printf("pending: %s\n", m[i].name);
  return 0;
}

int cmd_migrate(int argc, char **argv) {
  static const struct option opts[] = {{"to", required_argument, NULL, 't'},
                                       {"store", required_argument, NULL, 's'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *url = NULL;
  int to = -1;
  bool have_to = false;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":t:s:h", opts, NULL)) != -1) {
    switch (c) {
    case 't': {
      char *end;
      errno = 0;
      long n = strtol(optarg, &end, 10);
      if (end == optarg || *end || errno || n < 0 || n > INT_MAX)
        return cli_usage_error("migrate",
                               "--to: '%.40s' is not a version number", optarg);
      to = (int)n;
      have_to = true;
      break;
    }
    case 's':
      url = optarg;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    case ':':
      return cli_usage_error("migrate", "%s needs a value", argv[optind - 1]);
    default:
      return cli_usage_error("migrate", "unknown option '%.40s'",
                             argv[optind - 1]);
    }
  }
  const char *sub = optind < argc ? argv[optind++] : NULL;
  if (optind < argc)
    return cli_usage_error("migrate", "unexpected argument '%.40s'",
                           argv[optind]);
  bool up;
  if (!sub)
    up = have_to;
  else if (!strcmp(sub, "up"))
    up = true;
  else if (!strcmp(sub, "status"))
    up = false;
  else
    return cli_usage_error(
        "migrate", "unknown subcommand '%.40s' (use status or up)", sub);
  if (!up && have_to)
    return cli_usage_error("migrate", "--to applies migrations: use it with "
                                      "'up' or alone, not with 'status'");
  if (url) {
    if (store_url_has_password(url))
      return cli_usage_error(
          "migrate", "--store: the URL holds a password; put it in "
                     "PGPASSWORD or DTO_STORE_URL instead (command lines are "
                     "visible to other users)");
  } else {
    url = getenv("DTO_STORE_URL");
    if (!url || !*url)
      return cli_usage_error("migrate",
                             "--store is required (or set DTO_STORE_URL)");
  }

  char shown[STORE_URL_MAX + 1];
  if (store_url_redact(url, shown, sizeof shown))
    snprintf(shown, sizeof shown, "(store URL too long to show)");
  store_options o = {.create = up,
                     .pg_pool_min = 1,
                     .pg_pool_max = 1,
                     .statement_timeout_ms = -1}; /* migrations may be slow */
  store *s = NULL;
  char err[STORE_ERR_MAX + STORE_URL_MAX];
  int rc = store_open(url, &o, &s, err, sizeof err);
  if (rc == DTO_EINVAL || rc == DTO_EUNSUPPORTED || rc == DTO_ETOOBIG)
    return cli_usage_error("migrate", "%s", err);
  if (rc)
    return cli_fail("%s", err);
  printf("store: %s\n", shown);
  if (!up) {
    int status = print_status(s);
    store_close(s);
    return status;
  }
  int before = 0;
  rc = store_schema_version(s, &before);
  if (!rc)
    rc = store_migrate_to(s, have_to ? to : -1, on_applied, NULL);
  if (rc) {
    char msg[STORE_ERR_MAX];
    store_errmsg(s, msg, sizeof msg);
    int latest = store_latest_version(s);
    store_close(s);
    if (rc == DTO_ERANGE)
      return cli_usage_error("migrate",
                             "--to: version %d is beyond the latest this dto "
                             "knows (%d)",
                             to, latest);
    return cli_fail("%s", msg);
  }
  int after = 0;
  rc = store_schema_version(s, &after);
  int latest = store_latest_version(s);
  store_close(s);
  if (rc)
    return cli_fail("cannot read the schema version after migrating");
  if (after == before)
    printf("nothing to apply\n");
  printf("schema version: %d", after);
  if (after == latest)
    printf(" (up to date)\n");
  else
    printf(" (latest known: %d)\n", latest);
  return 0;
}
