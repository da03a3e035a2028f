/* cmd_version.c - `dto version`. */
#include "cli/cli.h"

int cmd_version(int argc, char **argv) {
  if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    printf("usage: dto version\n\nPrints dto's version and source revision.\n");
    return 0;
  }
  if (argc > 1)
    return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
  printf("dto %s (%s)\n", DTO_VERSION, DTO_GITREV);
  return 0;
}
