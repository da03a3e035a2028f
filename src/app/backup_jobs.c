/* backup_jobs.c - the backup jobs of `dto run` (see backup_jobs.h). */
#define _POSIX_C_SOURCE 200809L
#include "app/backup_jobs.h"

#include <sodium.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "ops/backup.h"

enum bj_kind {
  BJ_FULL,
  BJ_INCR,
  BJ_LOG,
  BJ_CONFIG,
  BJ_VERIFY,
  BJ_VFULL,
  BJ_DRILL,
  BJ__N
};

static const char *const bj_names[BJ__N] = {
    "backup_full",   "backup_incremental", "backup_log",  "backup_config",
    "backup_verify", "backup_verify_full", "backup_drill"};

typedef struct bj_ctx {
  backup_jobs *b;
  enum bj_kind kind;
} bj_ctx;

struct backup_jobs {
  jobs *j;
  const dto_config *cfg;
  monitor *mon;
  bj_ctx ctx[BJ__N];
};

static dto_time wall(void) {
  dto_clock c;
  clock_real_init(&c);
  return clock_now(&c);
}

static void report(backup_jobs *b, const char *kind, int rc, const char *id,
                   const char *err) {
  log_line l;
  if (log_begin(&l, jobs_log(b->j), rc ? LOG_ERROR : LOG_INFO,
                rc ? "backup.failed" : "backup.done")) {
    log_str(&l, "kind", kind);
    if (id && id[0])
      log_str(&l, "id", id);
    if (rc)
      log_str(&l, "error", err);
    log_end(&l);
  }
  (void)backup_record_outcome(b->cfg->run.store, kind, rc == 0, wall(), id,
                              err);
}

/* Verify the backup at path and note it. */
static int verify_one(backup_jobs *b, const uint8_t *key, const char *path,
                      char *err, size_t cap) {
  const cfg_backup *bc = &b->cfg->backup;
  int rc = backup_verify_one(path, key, bc->dir, NULL, err, cap);
  (void)backup_verified_note(bc->dir, path, rc == 0, wall(), err);
  const char *id = strrchr(path, '/');
  report(b, "verify", rc, id ? id + 1 : path, err);
  return rc;
}

/* The weekly sample: the BACKUP_VERIFY_SAMPLE backups verified longest ago
 * (never verified first, then oldest verification; ties by age). */
static int verify_sample(backup_jobs *b, const uint8_t *key, char *err,
                         size_t cap) {
  const cfg_backup *bc = &b->cfg->backup;
  backup_info *v;
  size_t n;
  int rc = backup_list(bc->dir, key, &v, &n, err, cap);
  if (rc)
    return rc;
  dto_time *last = xcalloc(n ? n : 1, sizeof *last);
  for (size_t i = 0; i < n; i++) {
    bool ok;
    if (backup_verified_read(bc->dir, v[i].id, &last[i], &ok))
      last[i] = INT64_MIN;
  }
  int bad = 0;
  for (int k = 0; k < BACKUP_VERIFY_SAMPLE; k++) {
    size_t best = n;
    for (size_t i = 0; i < n; i++)
      if (last[i] != INT64_MAX && (best == n || last[i] < last[best]))
        best = i;
    if (best == n)
      break;
    last[best] = INT64_MAX; /* taken */
    char e2[BACKUP_ERR_MAX];
    if (verify_one(b, key, v[best].path, e2, sizeof e2) && !bad) {
      bad = DTO_EPARSE;
      dto_seterr(err, cap, "%s", e2);
    }
  }
  free(last);
  free(v);
  return bad;
}

static int run_job(void *vctx, const sched_firing *f) {
  (void)f;
  bj_ctx *c = vctx;
  backup_jobs *b = c->b;
  const dto_config *cfg = b->cfg;
  const cfg_backup *bc = &cfg->backup;
  uint8_t key[BACKUP_KEY_BYTES];
  char err[BACKUP_ERR_MAX] = "", id[RET_ID_MAX + 1] = "";
  const char *kind = "full";
  backup_secondary sec;
  int rc = backup_key_load(bc->key_env, bc->key_file, key, err, sizeof err);
  switch (c->kind) {
  case BJ_FULL:
    if (!rc)
      rc = backup_full(cfg->run.store, bc->dir, backup_secondary_of(bc, &sec),
                       bc->level, key, cfg->path, NULL, NULL, id, sizeof id,
                       err, sizeof err);
    break;
  case BJ_INCR:
  case BJ_LOG:
    kind = c->kind == BJ_INCR ? "incremental" : "log";
    if (!rc)
      rc = backup_delta(cfg->run.store, bc->dir, backup_secondary_of(bc, &sec),
                        bc->level, key, c->kind == BJ_INCR, id, sizeof id, err,
                        sizeof err);
    if (rc == DTO_ENOENT || rc == DTO_ESTATE) {
      /* nothing to build on yet (a new deployment, before the first full
       * backup), or a chain that no longer fits the store (migrated,
       * replaced): a full backup, which the next one builds on */
      log_line l;
      if (log_begin(&l, jobs_log(b->j), LOG_INFO, "backup.promoted")) {
        log_str(&l, "kind", kind);
        log_str(&l, "why", err);
        log_end(&l);
      }
      kind = "full";
      err[0] = '\0';
      rc = backup_full(cfg->run.store, bc->dir, backup_secondary_of(bc, &sec),
                       bc->level, key, cfg->path, NULL, NULL, id, sizeof id,
                       err, sizeof err);
    }
    break;
  case BJ_CONFIG:
    kind = "config";
    if (!rc)
      rc = backup_config(cfg->path, (const char *const *)bc->config_files,
                         bc->nconfig_files, bc->dir,
                         backup_secondary_of(bc, &sec), key, id, sizeof id, err,
                         sizeof err);
    break;
  case BJ_VERIFY:
    if (!rc)
      rc = verify_sample(b, key, err, sizeof err);
    sodium_memzero(key, sizeof key);
    monitor_wake(b->mon);
    return 0;
  case BJ_VFULL: {
    backup_info *v = NULL;
    size_t n = 0;
    if (!rc)
      rc = backup_list(bc->dir, key, &v, &n, err, sizeof err);
    const backup_info *full = NULL;
    for (size_t i = n; !rc && i-- > 0 && !full;)
      if (v[i].ok && !strcmp(v[i].kind, "full"))
        full = &v[i];
    if (!rc && !full) {
      dto_seterr(err, sizeof err, "%s: no readable full backup", bc->dir);
      rc = DTO_ENOENT;
    }
    if (!rc)
      (void)verify_one(b, key, full->path, err, sizeof err);
    else
      report(b, "verify", rc, NULL, err);
    free(v);
    sodium_memzero(key, sizeof key);
    monitor_wake(b->mon);
    return 0;
  }
  case BJ_DRILL: {
    backup_drill d;
    memset(&d, 0, sizeof d);
    d.at = wall();
    if (rc)
      snprintf(d.error, sizeof d.error, "backup: %.200s", err);
    else
      (void)backup_drill_run(cfg->run.store, bc->dir,
                             backup_secondary_of(bc, &sec), bc->level, key,
                             cfg->path, NULL, &d);
    sodium_memzero(key, sizeof key);
    (void)backup_drill_finish(cfg->run.store, bc->dir, &d);
    log_line l;
    if (log_begin(&l, jobs_log(b->j), d.ok ? LOG_INFO : LOG_ERROR,
                  d.ok ? "drill.passed" : "drill.failed")) {
      log_int(&l, "rto_ms", (int64_t)(d.rto_s * 1000));
      log_int(&l, "rpo_ms", (int64_t)(d.rpo_s * 1000));
      if (!d.ok)
        log_str(&l, "error", d.error);
      log_end(&l);
    }
    monitor_wake(b->mon);
    return 0;
  }
  case BJ__N:
    break;
  }
  sodium_memzero(key, sizeof key);
  (void)backup_status_note_kind(bc->dir, kind, rc == 0, wall(), err);
  report(b, kind, rc, id, err);
  monitor_wake(b->mon);
  return 0;
}

backup_jobs *backup_jobs_add(jobs *j, const dto_config *cfg, monitor *mon,
                             char *err, size_t cap) {
  backup_jobs *b = xcalloc(1, sizeof *b);
  b->j = j;
  b->cfg = cfg;
  b->mon = mon;
  if (!cfg->backup.present)
    return b;
  const cfg_backup *bc = &cfg->backup;
  if ((bc->incremental_schedule || bc->log_schedule) && cfg->run.store &&
      (!strncmp(cfg->run.store, "postgres://", 11) ||
       !strncmp(cfg->run.store, "postgresql://", 13))) {
    snprintf(err, cap,
             "backup.%s: a PostgreSQL store has no incremental or log "
             "backups in dto (its WAL archiving is its point-in-time "
             "recovery); keep backup.schedule for full backups",
             bc->log_schedule ? "log_schedule" : "incremental_schedule");
    free(b);
    return NULL;
  }
  const char *const exprs[BJ__N] = {
      bc->schedule,        bc->incremental_schedule, bc->log_schedule,
      bc->config_schedule, bc->verify_schedule,      bc->verify_full_schedule,
      bc->drill_schedule};
  for (int k = 0; k < BJ__N; k++) {
    b->ctx[k] = (bj_ctx){.b = b, .kind = (enum bj_kind)k};
    if (exprs[k] &&
        jobs_add(j, bj_names[k], exprs[k], run_job, &b->ctx[k], err, cap)) {
      free(b);
      return NULL;
    }
  }
  return b;
}

void backup_jobs_free(backup_jobs *b) { free(b); }

const backup_secondary *backup_secondary_of(const cfg_backup *bc,
                                            backup_secondary *out) {
  memset(out, 0, sizeof *out);
  out->dir = bc->secondary_dir;
  out->upload = bc->upload_command;
  out->fetch = bc->fetch_command;
  out->timeout_s = bc->command_timeout_s;
  return out->dir || out->upload ? out : NULL;
}
