/* config.h - dto's configuration: the YAML file, loaded and validated.
 *
 * config_load() reads one YAML file (libyaml), checks every key, type, range
 * and cross-reference, and produces a dto_config of plain values that the
 * rest of start-up wires into the engine.  Every error is one line
 * "FILE:LINE:COLUMN: message" pointing at the offending key or value, so an
 * operator can fix a file without reading the source.  The loader is strict:
 * unknown keys, duplicate keys, duplicate ids and dangling references are
 * errors, never warnings.
 *
 * This module is not for secrets: the file never holds credentials (later
 * keys ending in _env name environment variables instead).  It does not open
 * data files or create directories either; it only resolves their paths.
 *
 * The full schema, with every default and range, is docs/configuration.md.
 */
#ifndef DTO_APP_CONFIG_H
#define DTO_APP_CONFIG_H

#include "broker/alpaca_conf.h"
#include "core/fx.h"
#include "core/prelude.h"
#include "engine/match.h"
#include "engine/param.h"
#include "engine/risk.h"
#include "engine/strategy.h"
#include "market/calendar.h"
#include "market/instrument.h"
#include "ops/alert.h"
#include "ops/notify.h"

#define CFG_ID_MAX 32              /* account and strategy ids, with NUL */
#define CFG_FILE_MAX (1024 * 1024) /* bytes; larger files are refused */
#define CFG_DEPTH_MAX 32           /* YAML nesting levels */
#define CFG_PATH_MAX 4096          /* bytes of a path in the file */
#define CFG_ERR_MAX 512            /* a comfortable size for err buffers */

/* Which broker an account trades through: the built-in paper exchange, or
 * Alpaca (the `alpaca:` section; every account of a configuration trades
 * through the same one). */
enum cfg_broker { BROKER_PAPER, BROKER_ALPACA };

typedef struct cfg_account {
  char id[CFG_ID_MAX];
  enum cfg_broker broker; /* `broker:`; the paper exchange by default */
  fx cash; /* starting cash, >= 0 */
  bool allow_short;
  bool allow_extended_hours;
} cfg_account;

enum cfg_data_kind { CFG_DATA_BARS, CFG_DATA_TRADES };

typedef struct cfg_data {
  char *path; /* owned; resolved against the config file's folder */
  char symbol[SYMBOL_MAX]; /* "" = the file has a symbol column */
  enum cfg_data_kind kind;
  int line, col; /* of the path in the configuration file, for messages */
} cfg_data;

typedef struct cfg_strategy {
  char id[CFG_ID_MAX];
  const strategy_def *def; /* static registry entry, not owned */
  size_t account;          /* index into dto_config.accounts */
  sym_id *syms;            /* owned; indexes into the instrument table */
  size_t nsyms;            /* >= 1, no duplicates */
  fx allocation;           /* > 0 and <= the account's cash */
  param_value *params;     /* owned; def->nparams values, defaults applied */
  bool enabled;
} cfg_strategy;

/* enum fill_model and enum latency_kind come from engine/match.h. */
typedef struct cfg_fill {
  enum fill_model model;
  fx slippage_bps;     /* 0..1000 */
  fx max_volume_share; /* (0, 1]: share of a bar's volume one order may take */
  enum latency_kind latency_kind;
  dto_time latency;     /* 0..60 s; for random: the lower bound */
  dto_time latency_max; /* random only: upper bound, latency..60 s */
  uint64_t seed;        /* for random latency */
} cfg_fill;

typedef struct cfg_fees {
  fx per_share;     /* >= 0, per unit of quantity filled */
  fx per_order;     /* >= 0, once per order, on its first fill */
  fx bps;           /* >= 0, basis points of the filled value */
  fx min_per_order; /* >= 0, floor of an order's first-fill fee */
  fx max_pct;       /* 0..100, cap as percent of a fill's value; 0 = no cap */
} cfg_fees;

typedef struct cfg_backtest {
  dto_time from, to; /* [from, to); INT64_MIN / INT64_MAX when unset */
  char *out_dir;     /* owned; NULL = "backtest-out" in the current folder */
  dto_time bar_interval; /* bars built from trade data; 0 = 1 minute */
  bool sort_input; /* CSV bar files may be out of time order: load and sort
                      each in memory (else such a file is refused) */
  /* equity.csv resolution: > 0 one row per interval (the first sample at
   * or after each multiple), 0 every sample, CFG_EQUITY_AUTO (the default)
   * every sample when the data files hold at most CFG_EQUITY_AUTO_BARS
   * bars and events, else CFG_EQUITY_AUTO_LONG */
  dto_time equity_interval;
} cfg_backtest;

#define CFG_EQUITY_AUTO (-1)
#define CFG_EQUITY_AUTO_BARS 1000000
#define CFG_EQUITY_AUTO_LONG DTO_NS_PER_HOUR

/* Where `dto run` takes market data: a file replayed, generated bars, or
 * Alpaca's live stream (the default, and the only choice, for accounts
 * with broker alpaca). */
enum cfg_feed { FEED_REPLAY, FEED_GENERATE, FEED_ALPACA };
/* What a stop before the end of the feed does with working orders. */
enum cfg_on_stop { ON_STOP_CANCEL, ON_STOP_KEEP };

/* run.idle_spin when not given. */
#define RUN_IDLE_SPIN_DEFAULT (50 * 1000)

typedef struct cfg_run {
  enum cfg_feed feed;
  double speed;      /* replay speed multiplier; 0 = as fast as possible */
  uint64_t gen_seed; /* feed generate: random seed */
  int gen_days;      /* feed generate: trading days, 1..366 */
  bool adopt_unknown; /* reconciliation: keep the broker's unknown orders
                         (true) or cancel them (false, the default) */
  fx position_tolerance; /* reconciliation: largest |ours - broker's| */
  char *store;       /* owned; "sqlite:PATH" (resolved) or a postgresql://
                        URL without password; NULL: no store */
  char *state_dir;   /* owned; resolved path of the folder for dto.pid and
                        dto.state (kill switch); NULL: "var" beside the
                        configuration file */
  enum cfg_on_stop on_stop; /* cancel working day orders, or keep them
                               for a restart; when not given: keep with a
                               store, cancel without */
  char *ctl_socket;  /* owned; resolved path of `dto ctl`'s socket; NULL:
                        dto.sock in the state folder */
  dto_time drain_timeout; /* how long a stop may take before the process
                             exits non-zero anyway; default 10 s */
  uint32_t queue_capacity; /* the engine's inbound queue, events; 0:
                              the default (8192) */
  char *status_log;        /* owned; schedule of the status report job
                              (src/ops/sched.h syntax); NULL: none */
  dto_time idle_spin;      /* the engine spins this long for the next event
                              before it sleeps; default 50 us, 0: never */
} cfg_run;

/* Risk limits (see engine/risk.h), indexed like the configuration's
 * accounts, strategies (all of them, enabled or not) and instruments. */
typedef struct cfg_risk {
  risk_order_limits defaults;
  risk_order_limits *account_orders;  /* owned, naccounts */
  risk_account_limits *accounts;      /* owned, naccounts */
  risk_order_limits *strategy_orders; /* owned, nstrategies */
  risk_strategy_limits *strategies;   /* owned, nstrategies */
  risk_order_limits *symbol_orders;   /* owned, instruments.n */
} cfg_risk;

/* The `alpaca:` section: the Alpaca broker's endpoints, timeouts and
 * limits, as written (broker/alpaca_conf.h resolves them with the
 * environment).  Never the API keys: they come from APCA_API_KEY_ID and
 * APCA_API_SECRET_KEY, and a key in the file is refused. */
typedef struct cfg_alpaca {
  bool present;          /* the file has an `alpaca:` section */
  bool live;             /* trade real money at api.alpaca.markets */
  char *trading_url;     /* owned; NULL: the paper or live default */
  char *data_url;        /* owned; NULL: https://data.alpaca.markets */
  char *stream_url;      /* owned; NULL: derived from the trading URL */
  char *data_stream_url; /* owned; NULL: wss://stream.data.alpaca.markets/v2/FEED */
  enum alpaca_feed feed; /* iex by default */
  dto_time connect_timeout, request_timeout;
  int retries;           /* extra attempts of idempotent requests */
  dto_time backoff, max_backoff;
  int rate_limit_per_min;
  dto_time reconcile_interval; /* books checked against Alpaca's this often
                                  (also at start and after reconnects);
                                  default 60 s */
  dto_time stale_after; /* an instrument without any event this long while
                           its market is open is stale (an alert); 120 s */
  int warmup_bars; /* minute bars of history per instrument played to the
                      strategies (no orders) before a new session trades;
                      default 390, 0: none */
} cfg_alpaca;

/* The `api:` section: the HTTP API (src/api).  Off unless the section is
 * there; it needs run.store (users, sessions, tokens and the audit log
 * live in the store).  Never a secret: TLS keys are files (0600). */
typedef struct cfg_api {
  bool present;
  char *listen;    /* owned; default "127.0.0.1:8080" */
  char *tls_cert;  /* owned; PEM; NULL: plain HTTP (loopback only) */
  char *tls_key;   /* owned; PEM, mode 0600 or stricter */
  int max_connections, max_per_ip; /* 512, 64 */
  dto_time timeout;               /* idle or slow connection: 30 s */
  int max_body;                   /* bytes: 65536 */
  dto_time idle_timeout;          /* session idle: 15 min (5 to 30) */
  dto_time absolute_timeout;      /* session whole life: 12 h */
  int lockout_failures;           /* consecutive failures: 5 */
  dto_time lockout_time;          /* 15 min */
  int rate_per_s, rate_burst;     /* per user or token: 50/s, 100 */
  int ip_rate_per_s, ip_burst;    /* per address: 100/s, 200 */
  int token_max_days;             /* API tokens expire: 90 */
  int token_warn_days;            /* older tokens get a warning: 30 */
  bool detached; /* no server: requests only through api_handle (tests,
                    fuzzers; never from a configuration file) */
  /* filled by `dto run`, never from the file: the strategies' static
   * description (type, account, symbols, allocation, parameters) as a JSON
   * object by strategy id, for GET /api/v1/strategies; not owned */
  const char *strategies_json;
  /* filled by `dto run`: the monitor behind /metrics, /healthz, /readyz
   * and the alert routes (NULL: those answer 404); not owned */
  struct monitor *monitor;
  bool metrics_token; /* monitoring.metrics_token */
  FILE *logf;         /* filled by `dto run`: the log (NULL: none) */
  int log_min;        /* and its level (enum log_level) */
} cfg_api;

/* Where the structured log goes (the `log:` section). */
enum cfg_log_output { LOG_OUT_STDERR, LOG_OUT_FILE, LOG_OUT_JOURNAL };

typedef struct cfg_log {
  enum cfg_log_output output; /* stderr unless said (or --log FILE) */
  char *file;                 /* owned; resolved; LOG_OUT_FILE */
} cfg_log;

/* The `monitoring:` section: metrics, health and the alert evaluator
 * (src/app/monitor.c).  Metrics and health are routes of the HTTP API, so
 * they exist when `api:` does; alerts are evaluated whenever `alerts:` is
 * there. */
typedef struct cfg_monitor {
  bool present;
  bool metrics_token;    /* GET /metrics needs an API token (read) */
  dto_time interval;     /* alert evaluation: 1 s */
  dto_time stale_after;  /* market data older than this while the market
                            is open is stale: 120 s (alpaca.stale_after
                            for live feeds) */
  char *disk_data, *disk_log, *disk_backup; /* owned; watched for disk %;
                                               NULL: the state folder */
  char instance[NOTIFY_NAME_MAX]; /* in notifications; "": host name */
} cfg_monitor;

/* The `alerts:` section: rules, handling and channels. */
typedef struct cfg_alerts {
  bool present;
  bool default_rules;   /* the built-in rules (true) */
  alert_rule *rules;    /* owned: the file's own, nrules */
  size_t nrules;
  alert_conf conf;      /* handling; conf.rules unset (monitor.c joins the
                           defaults and the file's rules) */
  notify_channel *channels; /* owned; strings in chstr */
  size_t nchannels;
  char **chstr;         /* owned strings the channels point into */
  size_t nchstr;
} cfg_alerts;

/* The `backup:` section (dto backup / dto restore).  Never a secret: the
 * key comes from the variable key_env names, or from key_file (0600). */
typedef struct cfg_backup {
  bool present;
  char *dir;           /* owned; the primary destination (required) */
  char *secondary_dir; /* owned; a copy of every archive; NULL: none */
  char key_env[129];   /* variable holding 64 hex digits: DTO_BACKUP_KEY */
  char *key_file;      /* owned; 64 hex digits, mode 0600; NULL: none */
  int level;           /* zstd level 1..19: 3 */
  int daily, weekly, monthly; /* retention: 30, 12, 12 */
  dto_time keep_recent;       /* retention: 24 h */
  char *schedule;   /* owned; full backups inside `dto run` (the job
                       scheduler's syntax: "0 2 * * * UTC"); NULL: none */
  /* owned; the other jobs of `dto run`, same syntax; NULL: off */
  char *incremental_schedule; /* every 4 hours in the example */
  char *log_schedule;         /* "every 15m" */
  char *config_schedule;      /* "0 3 * * * UTC": config and deploy files */
  char *verify_schedule;      /* a rotating sample: "0 4 * * 0 UTC" */
  char *verify_full_schedule; /* the latest full: "0 5 1 * * UTC" */
  char *drill_schedule;       /* dto drill */
  char **config_files;        /* owned; files added to a config backup */
  /* owned NULL-terminated argvs: an upload of every archive beside (or
   * instead of) secondary_dir, and the command that fetches a copy back
   * for verification; NULL: none */
  char **upload_command, **fetch_command;
  int command_timeout_s; /* 600 */
  size_t nconfig_files;
  dto_time overdue_after; /* no full backup this long: overdue (26 h) */
  dto_time log_overdue_after; /* no log backup this long, when
                                 log_schedule is set: overdue (45 m) */
} cfg_backup;

typedef struct dto_config {
  char *path; /* owned; the name given to config_load / config_load_mem */
  char *dir;  /* owned; folder that relative paths were resolved against */
  cfg_account *accounts;
  size_t naccounts;
  instrument_table instruments;
  cfg_data *data;
  size_t ndata;
  cfg_strategy *strategies;
  size_t nstrategies;
  cfg_fill fill;
  cfg_fees fees;
  cfg_backtest backtest;
  cfg_run run;
  int log_level; /* enum log_level from core/log.h */
  cfg_risk risk;
  cfg_alpaca alpaca;
  cfg_api api;
  cfg_log log;
  cfg_monitor monitor;
  cfg_alerts alerts;
  cfg_backup backup;
} dto_config;

/* Load and validate the YAML file at path.  cfg need not be initialised.
 * On success returns 0 and the caller owns *cfg (free it with
 * config_release).  On failure returns DTO_ECONFIG (bad content, or a file
 * over CFG_FILE_MAX bytes) or DTO_EIO (the file cannot be read), writes one
 * line "FILE:LINE:COLUMN: message" (FILE as given; "FILE: message" for I/O
 * errors) into err (may be NULL when errcap is 0; truncated to errcap), and
 * leaves *cfg released: nothing to free.  Relative paths inside the file are
 * resolved against path's folder. */
int config_load(const char *path, dto_config *cfg, char *err, size_t errcap);

/* The same for len bytes of text already in memory.  name is used in
 * messages and kept as cfg->path; dir is the folder relative paths are
 * resolved against (NULL or "." leaves them as written).  text need not be
 * NUL-terminated.  Returns 0 or DTO_ECONFIG, as config_load. */
int config_load_mem(const char *name, const char *text, size_t len,
                    const char *dir, dto_config *cfg, char *err, size_t errcap);

/* Free everything cfg owns and reset it to config_defaults().  Safe to call
 * twice, and on a config from config_defaults(). */
void config_release(dto_config *cfg);

/* Fill cfg with an empty configuration holding every default: no accounts,
 * instruments, data or strategies.  Allocates nothing. */
void config_defaults(dto_config *cfg);

/* Fill a with the defaults of the `alpaca:` section (paper trading, iex,
 * the ALPACA_*_DEFAULT values of broker/alpaca_conf.h).  Allocates
 * nothing. */
void config_alpaca_defaults(cfg_alpaca *a);
/* The defaults of the `api:` section (present false).  Allocates
 * nothing. */
void config_api_defaults(cfg_api *a);

/* Names for messages and reports ("random", "replay", "trades"); "?" for
 * values out of range.  fill_model_name() is in engine/match.h. */
const char *latency_kind_name(enum latency_kind k);
const char *cfg_feed_name(enum cfg_feed f);
const char *cfg_data_kind_name(enum cfg_data_kind k);

#endif
