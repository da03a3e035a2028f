/* cmd_backup.c - `dto backup` and `dto restore`: full backups of the
 * configuration's SQLite store, their verification, listing, pruning and
 * restore.  Option parsing only; the work is ops/backup.c's. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include "app/backup_jobs.h"
#include "app/config.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/timeutil.h"
#include "ops/backup.h"

static const char backup_usage[] =
    "usage: dto backup full -c CONFIG\n"
    "       dto backup incremental -c CONFIG\n"
    "       dto backup log -c CONFIG\n"
    "       dto backup config -c CONFIG\n"
    "       dto backup verify [ID | --latest | --all] -c CONFIG\n"
    "       dto backup list -c CONFIG\n"
    "       dto backup prune [--dry-run] -c CONFIG\n"
    "\n"
    "Encrypted backups of the store named by run.store (SQLite only),\n"
    "in the folders of the configuration's `backup:` section.  The key is\n"
    "64 hex digits in the variable backup.key_env (DTO_BACKUP_KEY) or in\n"
    "backup.key_file (mode 0600).\n"
    "\n"
    "  full       copy the store online (while dto runs), write\n"
    "             full-YYYYMMDDTHHMMSSZ.dtobak into backup.dir, verify it,\n"
    "             copy it to backup.secondary_dir and verify the copy\n"
    "  incremental  what changed since the newest full or incremental\n"
    "             backup (journal events, changed rows), verified and copied\n"
    "             the same way\n"
    "  log        what changed since the newest backup of any kind: run it\n"
    "             every 15 minutes (backup.log_schedule) and the recovery\n"
    "             point is never older than that\n"
    "  config     the configuration file and backup.config_files (deploy\n"
    "             files; never a key) into backup.dir/config\n"
    "  verify     decrypt, check every checksum, restore the backup (with\n"
    "             its chain) into a scratch folder, run integrity_check and\n"
    "             compare the events and last seq with the manifest; the\n"
    "             newest backup by default\n"
    "  list       the backups of backup.dir: id, kind, time, size, seq\n"
    "             range, what each builds on, the last verification\n"
    "  prune      delete the backups the retention policy does not keep\n"
    "             (--dry-run: only say which)\n"
    "\n"
    "  -c, --config FILE   the configuration\n"
    "      --latest        verify the newest backup (the default)\n"
    "      --all           verify every backup\n"
    "      --dry-run       prune: change nothing\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 bad usage.\n";

static const char restore_usage[] =
    "usage: dto restore --to DIR [--at TIME | --seq N | --backup ID | "
    "--latest]\n"
    "                   [--force] -c CONFIG\n"
    "\n"
    "Restore the store as it was at a point into DIR (created 0700): the\n"
    "full backup of the point's chain is verified and extracted, then each\n"
    "incremental and log backup after it applied in order, and the result\n"
    "checked (integrity_check, events and last seq against the manifest)\n"
    "before it is renamed into DIR under the live store's file name.  The\n"
    "points are the backups themselves: --seq N takes the newest whose\n"
    "journal ends at or before seq N, --at TIME the newest taken at or\n"
    "before TIME; it prints the point reached and the chain applied.\n"
    "Nothing is left in DIR when any check fails.  A store already in DIR\n"
    "(dto.db, store.db) is refused unless --force; a DIR whose dto.pid\n"
    "names a running process always is.\n"
    "\n"
    "  -c, --config FILE   the configuration\n"
    "      --to DIR        where to restore\n"
    "      --backup ID     the backup (an id from 'dto backup list', or a "
    "path)\n"
    "      --latest        the newest point (the default)\n"
    "      --at TIME       the newest point taken at or before TIME\n"
    "                      (2026-12-07T14:05:00Z, UTC)\n"
    "      --seq N         the newest point at or before journal seq N\n"
    "      --force         replace a store in DIR\n"
    "\n"
    "A PostgreSQL store's (full) backup restores into a database you\n"
    "created: --to postgresql://USER@HOST:PORT/DATABASE (pg_restore in one\n"
    "transaction, then checked against the manifest); one that holds a dto\n"
    "store already is refused unless --force.\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 restored, 1 failure, 2 bad usage.\n";

static const char drill_usage[] =
    "usage: dto drill [--keep DIR] [--json] -c CONFIG\n"
    "\n"
    "A disaster-recovery drill: take a full backup of run.store (online,\n"
    "while dto runs), restore it into a scratch folder under backup.dir,\n"
    "check the restored store (integrity_check, the current schema, the\n"
    "latest checkpoint, the manifest's events and last seq) and measure\n"
    "  RTO  seconds from the start of the restore to the end of the checks\n"
    "  RPO  the live journal's events beyond the backup when the drill\n"
    "       ends, and the seconds between the newest of them and the\n"
    "       newest backed-up event\n"
    "The outcome is recorded under \"drill\" in\n"
    "backup.dir/.dto-backup-status.json.  The scratch folder is removed.\n"
    "\n"
    "  -c, --config FILE   the configuration\n"
    "      --keep DIR      restore into DIR (must not exist) and keep it\n"
    "      --json          print one JSON object instead of text\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 the drill passed, 1 a step failed (named in the\n"
    "error), 2 bad usage.\n";

typedef struct bk_opts {
  const char *config, *to, *backup, *keep, *at, *seq;
  bool help, latest, all, dry_run, force, pitr, json;
} bk_opts;

enum {
  O_LATEST = 256,
  O_ALL,
  O_DRY,
  O_TO,
  O_BACKUP,
  O_FORCE,
  O_AT,
  O_SEQ,
  O_KEEP,
  O_JSON
};

static int parse(const char *cmd, int argc, char **argv, bk_opts *o) {
  static const struct option lo[] = {
      {"config", required_argument, NULL, 'c'},
      {"help", no_argument, NULL, 'h'},
      {"latest", no_argument, NULL, O_LATEST},
      {"all", no_argument, NULL, O_ALL},
      {"dry-run", no_argument, NULL, O_DRY},
      {"to", required_argument, NULL, O_TO},
      {"backup", required_argument, NULL, O_BACKUP},
      {"force", no_argument, NULL, O_FORCE},
      {"at", required_argument, NULL, O_AT},
      {"seq", required_argument, NULL, O_SEQ},
      {"keep", required_argument, NULL, O_KEEP},
      {"json", no_argument, NULL, O_JSON},
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
    case O_LATEST:
      o->latest = true;
      break;
    case O_ALL:
      o->all = true;
      break;
    case O_DRY:
      o->dry_run = true;
      break;
    case O_TO:
      o->to = optarg;
      break;
    case O_BACKUP:
      o->backup = optarg;
      break;
    case O_FORCE:
      o->force = true;
      break;
    case O_KEEP:
      o->keep = optarg;
      break;
    case O_JSON:
      o->json = true;
      break;
    case O_AT:
      o->at = optarg;
      o->pitr = true;
      break;
    case O_SEQ:
      o->seq = optarg;
      o->pitr = true;
      break;
    case ':':
      return cli_usage_error(cmd, "'%s' needs a value", argv[optind - 1]);
    default:
      return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  return 0;
}

/* The configuration with its backup section and the key. */
static int setup(const char *cmd, const bk_opts *o, dto_config *cfg,
                 uint8_t key[BACKUP_KEY_BYTES]) {
  config_defaults(cfg);
  if (!o->config)
    return cli_usage_error(cmd, "give the configuration with --config FILE");
  char err[CFG_ERR_MAX];
  if (config_load(o->config, cfg, err, sizeof err))
    return cli_fail("%s", err);
  if (!cfg->backup.present) {
    config_release(cfg);
    return cli_fail("%s: no 'backup:' section (backup.dir is needed)",
                    o->config);
  }
  if (!cfg->run.store) {
    config_release(cfg);
    return cli_fail("%s: no run.store to back up", o->config);
  }
  if (backup_key_load(cfg->backup.key_env, cfg->backup.key_file, key, err,
                      sizeof err)) {
    config_release(cfg);
    return cli_fail("backup key: %s", err);
  }
  return 0;
}

static void draw(void *ctx, uint64_t done, uint64_t total) {
  progress *p = ctx;
  if (total)
    p->total = total;
  progress_update(p, done);
}

static dto_time now_wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (dto_time)ts.tv_sec * DTO_NS_PER_SEC + ts.tv_nsec;
}

/* The outcome into the store's backup_log (best effort). */
static void record(const dto_config *cfg, const char *kind, int rc,
                   const char *id, const char *err) {
  (void)backup_record_outcome(cfg->run.store, kind, rc == 0, now_wall(), id,
                              err);
}

/* The end of a backup of kind: noted in the status file (the metrics and
 * the BackupFailed / BackupOverdue rules) and the store, the id printed,
 * the exit status. */
static int finish(const dto_config *cfg, const char *kind, int rc,
                  const char *id, const char *err) {
  (void)backup_status_note_kind(cfg->backup.dir, kind, rc == 0, now_wall(),
                                err);
  record(cfg, kind, rc, id, err);
  if (rc == BACKUP_ESECONDARY) {
    printf("%s\n", id);
    return cli_fail("backup %s written, but a copy failed: %s", id, err);
  }
  if (rc)
    return cli_fail("%s", err);
  printf("%s\n", id);
  return 0;
}

static int do_full(const bk_opts *o, dto_config *cfg, const uint8_t *key) {
  backup_secondary sec;
  char id[RET_ID_MAX + 1] = "", err[BACKUP_ERR_MAX];
  progress p;
  progress_init(&p, "backup", 0, !isatty(STDERR_FILENO));
  int rc =
      backup_full(cfg->run.store, cfg->backup.dir,
                  backup_secondary_of(&cfg->backup, &sec), cfg->backup.level,
                  key, o->config, draw, &p, id, sizeof id, err, sizeof err);
  progress_done(&p);
  return finish(cfg, "full", rc, id, err);
}

static int do_delta(const char *sub, dto_config *cfg, const uint8_t *key) {
  backup_secondary sec;
  char id[RET_ID_MAX + 1] = "", err[BACKUP_ERR_MAX];
  int rc = backup_delta(cfg->run.store, cfg->backup.dir,
                        backup_secondary_of(&cfg->backup, &sec),
                        cfg->backup.level, key, !strcmp(sub, "incremental"), id,
                        sizeof id, err, sizeof err);
  return finish(cfg, sub, rc, id, err);
}

static int do_config(const bk_opts *o, dto_config *cfg, const uint8_t *key) {
  backup_secondary sec;
  char id[RET_ID_MAX + 1] = "", err[BACKUP_ERR_MAX];
  int rc =
      backup_config(o->config, (const char *const *)cfg->backup.config_files,
                    cfg->backup.nconfig_files, cfg->backup.dir,
                    backup_secondary_of(&cfg->backup, &sec), key, id, sizeof id,
                    err, sizeof err);
  return finish(cfg, "config", rc, id, err);
}

static int verify_path(const dto_config *cfg, const char *path,
                       const uint8_t *key, const char *scratch) {
  char err[BACKUP_ERR_MAX];
  json_t *m = NULL;
  progress p;
  progress_init(&p, "verify", 0, !isatty(STDERR_FILENO));
  backup_set_progress(draw, &p);
  int rc = backup_verify_one(path, key, scratch, &m, err, sizeof err);
  backup_set_progress(NULL, NULL);
  progress_done(&p);
  (void)backup_verified_note(scratch, path, rc == 0, now_wall(), err);
  const char *base = strrchr(path, '/');
  record(cfg, "verify", rc, base ? base + 1 : path, err);
  if (rc)
    return cli_fail("%s", err);
  printf("ok %s (seq %lld..%lld, %lld events)\n", path,
         (long long)json_integer_value(json_object_get(m, "seq_first")),
         (long long)json_integer_value(json_object_get(m, "seq_last")),
         (long long)json_integer_value(json_object_get(m, "events")));
  json_decref(m);
  return 0;
}

static int do_verify(const bk_opts *o, int argc, char **argv, dto_config *cfg,
                     const uint8_t *key) {
  char err[BACKUP_ERR_MAX], path[4096];
  const char *ref = optind < argc ? argv[optind] : NULL;
  if (o->all) {
    backup_info *v;
    size_t n;
    if (backup_list(cfg->backup.dir, key, &v, &n, err, sizeof err))
      return cli_fail("%s", err);
    if (!n) {
      free(v);
      return cli_fail("no backups in %s", cfg->backup.dir);
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++)
      bad |= verify_path(cfg, v[i].path, key, cfg->backup.dir);
    free(v);
    return bad ? 1 : 0;
  }
  if (backup_find(cfg->backup.dir, key, ref, path, sizeof path, err,
                  sizeof err))
    return cli_fail("%s", err);
  return verify_path(cfg, path, key, cfg->backup.dir);
}

static int do_list(dto_config *cfg, const uint8_t *key) {
  char err[BACKUP_ERR_MAX], t[40], vt[64];
  backup_info *v;
  size_t n;
  if (backup_list(cfg->backup.dir, key, &v, &n, err, sizeof err))
    return cli_fail("%s", err);
  printf("%-36s %-11s %-20s %12s  %-15s %-36s %s\n", "ID", "KIND", "TIME",
         "BYTES", "SEQ", "BUILDS ON", "VERIFIED");
  for (size_t i = 0; i < n; i++) {
    time_format(v[i].time, t, sizeof t);
    dto_time vat;
    bool vok;
    if (backup_verified_read(cfg->backup.dir, v[i].id, &vat, &vok) == 0) {
      char when[40];
      time_format(vat, when, sizeof when);
      snprintf(vt, sizeof vt, "%s %s", vok ? "ok" : "FAILED", when);
    } else
      snprintf(vt, sizeof vt, "never");
    if (v[i].ok) {
      char seq[48];
      snprintf(seq, sizeof seq, "%lld..%lld", (long long)v[i].seq_first,
               (long long)v[i].seq_last);
      printf("%-36s %-11s %-20s %12llu  %-15s %-36s %s\n", v[i].id, v[i].kind,
             t, (unsigned long long)v[i].size, seq,
             v[i].parent[0] ? v[i].parent : "-", vt);
    } else
      printf("%-36s %-11s %-20s %12llu  unreadable: %s\n", v[i].id, "?", t,
             (unsigned long long)v[i].size, v[i].err);
  }
  free(v);
  return 0;
}

static int do_prune(const bk_opts *o, dto_config *cfg, const uint8_t *key) {
  char err[BACKUP_ERR_MAX];
  ret_policy p;
  ret_policy_defaults(&p);
  p.daily = cfg->backup.daily;
  p.weekly = cfg->backup.weekly;
  p.monthly = cfg->backup.monthly;
  p.keep_recent = cfg->backup.keep_recent;
  dto_time now = now_wall();
  if (backup_prune(cfg->backup.dir, key, &p, now, o->dry_run, stdout, err,
                   sizeof err))
    return cli_fail("%s", err);
  if (cfg->backup.secondary_dir &&
      backup_prune(cfg->backup.secondary_dir, key, &p, now, o->dry_run, stdout,
                   err, sizeof err))
    return cli_fail("%s", err);
  /* the configuration backups, in their own folders */
  char cdir[4200];
  snprintf(cdir, sizeof cdir, "%s/config", cfg->backup.dir);
  if (backup_prune(cdir, key, &p, now, o->dry_run, stdout, err, sizeof err))
    return cli_fail("%s", err);
  if (cfg->backup.secondary_dir) {
    snprintf(cdir, sizeof cdir, "%s/config", cfg->backup.secondary_dir);
    if (backup_prune(cdir, key, &p, now, o->dry_run, stdout, err, sizeof err))
      return cli_fail("%s", err);
  }
  return 0;
}

int cmd_backup(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(backup_usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "full") && strcmp(sub, "incremental") && strcmp(sub, "log") &&
      strcmp(sub, "config") && strcmp(sub, "verify") && strcmp(sub, "list") &&
      strcmp(sub, "prune"))
    return cli_usage_error("backup", "unknown subcommand '%s'", sub);
  bk_opts o;
  int rc = parse("backup", argc - 1, argv + 1, &o);
  if (rc)
    return rc;
  if (o.help) {
    fputs(backup_usage, stdout);
    return 0;
  }
  argc--;
  argv++;
  bool verify = !strcmp(sub, "verify");
  if (o.to || o.backup || o.force || o.pitr || o.keep || o.json ||
      ((o.latest || o.all) && !verify) || (o.dry_run && strcmp(sub, "prune")))
    return cli_usage_error("backup", "%s: an option it does not take", sub);
  if (verify && (o.latest + o.all + (optind < argc) > 1))
    return cli_usage_error("backup", "verify: ID, --latest or --all, one");
  if (argc - optind > (verify ? 1 : 0))
    return cli_usage_error("backup", "%s: unexpected '%s'", sub,
                           argv[argc - 1]);
  dto_config cfg;
  uint8_t key[BACKUP_KEY_BYTES];
  if ((rc = setup("backup", &o, &cfg, key)))
    return rc;
  if (!strcmp(sub, "full"))
    rc = do_full(&o, &cfg, key);
  else if (!strcmp(sub, "incremental") || !strcmp(sub, "log"))
    rc = do_delta(sub, &cfg, key);
  else if (!strcmp(sub, "config"))
    rc = do_config(&o, &cfg, key);
  else if (verify)
    rc = do_verify(&o, argc, argv, &cfg, key);
  else if (!strcmp(sub, "list"))
    rc = do_list(&cfg, key);
  else
    rc = do_prune(&o, &cfg, key);
  sodium_memzero(key, sizeof key);
  config_release(&cfg);
  return rc;
}

int cmd_restore(int argc, char **argv) {
  bk_opts o;
  int rc = parse("restore", argc, argv, &o);
  if (rc)
    return rc;
  if (o.help) {
    fputs(restore_usage, stdout);
    return 0;
  }
  if (!o.to)
    return cli_usage_error("restore", "give the destination with --to DIR");
  if ((o.backup != NULL) + o.latest + (o.at != NULL) + (o.seq != NULL) > 1)
    return cli_usage_error("restore",
                           "--at, --seq, --backup or --latest: one of them");
  if (o.all || o.dry_run || o.keep || o.json || optind < argc)
    return cli_usage_error("restore", "unexpected argument");
  int64_t seq = INT64_MAX;
  dto_time at = INT64_MAX;
  if (o.seq) {
    char *end;
    errno = 0;
    long long v = strtoll(o.seq, &end, 10);
    if (errno || end == o.seq || *end || v < 0)
      return cli_usage_error("restore",
                             "--seq: '%s' is not a journal seq (an integer "
                             ">= 0)",
                             o.seq);
    seq = v;
  }
  if (o.at && time_parse_cstr(o.at, &at))
    return cli_usage_error(
        "restore", "--at: '%s' is not a time (2026-12-07T14:05:00Z)", o.at);
  dto_config cfg;
  uint8_t key[BACKUP_KEY_BYTES];
  if ((rc = setup("restore", &o, &cfg, key)))
    return rc;
  char err[BACKUP_ERR_MAX], done[4200];
  if (!strncmp(o.to, "postgres://", 11) ||
      !strncmp(o.to, "postgresql://", 13)) {
    /* a PostgreSQL full backup into an existing database */
    char path[4096];
    progress p;
    progress_init(&p, "restore", 0, !isatty(STDERR_FILENO));
    backup_set_progress(draw, &p);
    int prc = backup_pick(cfg.backup.dir, key, o.backup, seq, at, path,
                          sizeof path, err, sizeof err);
    if (!prc)
      prc = backup_restore_pg(path, key, o.to, o.force, err, sizeof err);
    backup_set_progress(NULL, NULL);
    progress_done(&p);
    if (prc)
      rc = cli_fail("%s", err);
    else
      printf("restored %s into the database of %s\n", path, o.to);
    sodium_memzero(key, sizeof key);
    config_release(&cfg);
    return rc;
  }
  backup_point pt;
  progress p;
  progress_init(&p, "restore", 0, !isatty(STDERR_FILENO));
  backup_set_progress(draw, &p);
  int rrc = backup_restore_at(cfg.backup.dir, key, o.backup, seq, at, o.to,
                              o.force, &pt, done, sizeof done, err, sizeof err);
  backup_set_progress(NULL, NULL);
  progress_done(&p);
  if (rrc)
    rc = cli_fail("%s", err);
  else {
    char t[40];
    time_format(pt.time, t, sizeof t);
    printf("restored %s into %s\n", pt.id, done);
    printf("point    seq %lld, backup taken %s\n", (long long)pt.seq, t);
    printf("chain    %s\n", pt.chain);
  }
  sodium_memzero(key, sizeof key);
  config_release(&cfg);
  return rc;
}

static void drill_print(const bk_opts *o, const backup_drill *d) {
  if (o->json) {
    json_t *j =
        json_pack("{s:b,s:s,s:f,s:I,s:f,s:f,s:f,s:s?}", "ok", d->ok, "backup",
                  d->backup_id, "rto_seconds", d->rto_s, "rpo_events",
                  (json_int_t)d->rpo_events, "rpo_seconds", d->rpo_s,
                  "restore_seconds", d->restore_s, "verify_seconds",
                  d->verify_s, "error", d->ok ? NULL : d->error);
    if (j && d->ok)
      json_object_set_new(j, "error", json_null());
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text)
      printf("%s\n", text);
    free(text);
    json_decref(j);
    return;
  }
  printf("drill    %s\n", d->ok ? "passed" : "FAILED");
  printf("backup   %s\n", d->backup_id[0] ? d->backup_id : "-");
  printf("restore  %.3f s\n", d->restore_s);
  printf("verify   %.3f s\n", d->verify_s);
  printf("RTO      %.3f s\n", d->rto_s);
  printf("RPO      %lld events, %.3f s\n", (long long)d->rpo_events, d->rpo_s);
  if (!d->ok)
    printf("error    %s\n", d->error);
}

int cmd_drill(int argc, char **argv) {
  bk_opts o;
  int rc = parse("drill", argc, argv, &o);
  if (rc)
    return rc;
  if (o.help) {
    fputs(drill_usage, stdout);
    return 0;
  }
  if (o.to || o.backup || o.force || o.pitr || o.latest || o.all || o.dry_run ||
      optind < argc)
    return cli_usage_error("drill", "unexpected argument");
  if (!o.config)
    return cli_usage_error("drill",
                           "give the configuration with --config FILE");
  dto_config cfg;
  config_defaults(&cfg);
  char err[CFG_ERR_MAX];
  if (config_load(o.config, &cfg, err, sizeof err))
    return cli_fail("%s", err);
  if (!cfg.backup.present) {
    config_release(&cfg);
    return cli_fail("%s: no 'backup:' section (backup.dir is needed)",
                    o.config);
  }
  backup_drill d;
  backup_secondary sec;
  memset(&d, 0, sizeof d);
  d.at = now_wall();
  uint8_t key[BACKUP_KEY_BYTES];
  if (!cfg.run.store) {
    snprintf(d.error, sizeof d.error, "backup: %s: no run.store to back up",
             o.config);
  } else if (backup_key_load(cfg.backup.key_env, cfg.backup.key_file, key, err,
                             sizeof err)) {
    snprintf(d.error, sizeof d.error, "backup: backup key: %.200s", err);
  } else {
    (void)backup_drill_run(cfg.run.store, cfg.backup.dir,
                           backup_secondary_of(&cfg.backup, &sec),
                           cfg.backup.level, key, o.config, o.keep, &d);
    sodium_memzero(key, sizeof key);
  }
  drill_print(&o, &d);
  if (backup_drill_finish(cfg.run.store, cfg.backup.dir, &d))
    fprintf(stderr, "dto: drill: cannot record the outcome in %s\n",
            cfg.backup.dir);
  rc = d.ok ? 0 : cli_fail("drill failed at %s", d.error);
  config_release(&cfg);
  return rc;
}
