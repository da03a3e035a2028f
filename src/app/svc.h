/* svc.h - the service's one command path and its read snapshots.
 *
 * Everything that changes trading from outside the engine (an operator
 * with `dto ctl`, the HTTP API, a signal) is an svc_cmd.  Any thread
 * hands one to svc_submit(), which puts it on the engine's inbound queue
 * and waits for the answer; the engine thread executes it between two
 * events (validate, act, journal who/when/what/outcome, answer).  No
 * other road changes trading.
 *
 * After each batch of events the engine thread publishes a read snapshot
 * (svc_snap): an immutable picture of the lifecycle state, accounts,
 * positions, working orders, strategies, risk and counters.  Readers on any
 * thread take a reference with svc_snap_get() and drop it with
 * svc_snap_put(); they never touch engine state, and the engine never
 * waits for them (the pointer swap and the reference count share a spin
 * lock held for a few instructions; a snapshot is freed by whoever drops
 * the last reference).
 *
 * Not for: parsing requests (ctl.c and the HTTP API turn their own wire
 * format into an svc_cmd), executing them (session.c, on the engine
 * thread), or the engine's rules.
 */
#ifndef DTO_APP_SVC_H
#define DTO_APP_SVC_H

#include <pthread.h>
#include <stdatomic.h>

#include "app/inq.h"
#include "core/buf.h"
#include "core/fx.h"
#include "core/prelude.h"
#include "engine/order.h"
#include "engine/risk.h"
#include "market/event.h"

/* The operations.  Names (svc_op_name) are the wire names of `dto ctl`
 * and of the journal's command events. */
#define SVC_OP_MAP(X)                                                          \
  X(STATUS, "status")           /* read the snapshot; changes nothing */      \
  X(KILL, "kill")               /* engage the kill switch */                  \
  X(RELEASE, "release")         /* release it */                              \
  X(CANCEL, "cancel")           /* cancel one order (order) */                \
  X(CANCEL_ALL, "cancel_all")   /* account/strategy/symbol filters */         \
  X(FLATTEN, "flatten")         /* close positions; same filters */           \
  X(PAUSE, "pause")             /* strategy: no new entries */                \
  X(RESUME, "resume")           /* strategy: entries again */                 \
  X(SET_LIMIT, "set_limit")     /* limit = value, for account/strategy */     \
  X(MAINTENANCE_ON, "maintenance_on")   /* no new entries anywhere */         \
  X(MAINTENANCE_OFF, "maintenance_off") /* back to ready */                   \
  X(RELOAD, "reload")           /* re-read the configuration's limits */      \
  X(STOP, "stop")               /* drain and stop, as SIGTERM */            \
  X(STATE_FILE, "state_file")   /* re-read the kill switch's state file */ \
  X(ORDER, "order")             /* a person's order, in a strategy's name */\
  X(REPLACE, "replace")         /* cancel/replace one order (order) */     \
  X(SET_MODE, "set_mode")       /* value: a risk mode, for an account or a \
                                   strategy */

enum svc_op {
#define DTO__SVC_OP_ENUM(name, str) SVC_##name,
  SVC_OP_MAP(DTO__SVC_OP_ENUM)
#undef DTO__SVC_OP_ENUM
      SVC_OP_COUNT
};

const char *svc_op_name(enum svc_op op);
/* DTO_EINVAL for an unknown name. */
int svc_op_parse(const char *s, enum svc_op *out);

#define SVC_WHO_MAX 64
#define SVC_REASON_MAX 200
#define SVC_NAME_MAX 64

/* One command, as every edge fills it.  Empty strings mean "not given". */
typedef struct svc_cmd {
  enum svc_op op;
  char who[SVC_WHO_MAX];         /* "ctl uid=1000", "api alice", "signal" */
  char reason[SVC_REASON_MAX];   /* free text for the journal */
  char order[SVC_NAME_MAX];      /* CANCEL: dto's order id or client id */
  char account[SVC_NAME_MAX];    /* filters: an account id */
  char strategy[SVC_NAME_MAX];   /* a strategy id (PAUSE, RESUME: needed) */
  char symbol[SVC_NAME_MAX];     /* an instrument */
  char limit[SVC_NAME_MAX];      /* SET_LIMIT: the limit's name */
  char value[SVC_NAME_MAX];      /* SET_LIMIT: a decimal, or "off" */
  /* ORDER: strategy, symbol, side, type, qty, tif and the prices its type
   * needs; REPLACE: order, and qty, price and stop (one at least) */
  char side[8];                  /* "buy", "sell" */
  char type[16];                 /* "market", "limit", "stop", ... */
  char tif[8];                   /* "day", "gtc", ... (default day) */
  char qty[SVC_NAME_MAX];        /* decimals */
  char price[SVC_NAME_MAX];      /* limit price */
  char stop[SVC_NAME_MAX];       /* stop price */
} svc_cmd;

/* Outcomes of a command; the wire names follow the HTTP API's errors. */
enum svc_status {
  SVC_OK,
  SVC_BAD_REQUEST, /* malformed, unknown op, a missing or wrong field */
  SVC_NOT_FOUND,   /* no such order, account, strategy or instrument */
  SVC_CONFLICT,    /* not possible in the current state */
  SVC_REFUSED,     /* the risk gate or the broker said no */
  SVC_BUSY,        /* the engine did not take it in time */
  SVC_STATUS_COUNT
};
const char *svc_status_name(enum svc_status s);

typedef struct svc_answer {
  enum svc_status status;
  char field[SVC_NAME_MAX]; /* the field at fault, or "" */
  char message[256];        /* for a person; never internal detail */
  int64_t count;            /* orders canceled or sent, when it applies */
  char ref[96];             /* ORDER, REPLACE: the new order's client
                               order id (CLOID_MAX), or "" */
} svc_answer;

/* Fill *a: status, field and a printf-style message. */
void svc_answer_set(svc_answer *a, enum svc_status st, const char *field,
                    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- read snapshots ------------------------------------------------------ */

typedef struct svc_snap_account {
  char id[SVC_NAME_MAX];
  fx cash, equity, day_pnl, realized, fees;
  fx exposure;    /* gross: sum of |qty x last| of its positions */
  int day_trades; /* in the last 5 trading days (pattern day trading) */
  const char *mode; /* risk_mode_name: static */
  risk_account_limits lim; /* its account limits */
  risk_order_limits olim;  /* its own order limits (olim.set: which) */
} svc_snap_account;

typedef struct svc_snap_position {
  uint32_t account;
  uint32_t sym;
  fx qty, cost, realized, unrealized, last;
} svc_snap_position;

typedef struct svc_snap_order {
  uint64_t id;
  char cloid[96]; /* CLOID_MAX */
  uint32_t account, strategy, sym;
  const char *side, *type, *tif, *state; /* static names */
  fx qty, filled, price, stop;
  dto_time created;
} svc_snap_order;

typedef struct svc_snap_strategy {
  char id[SVC_NAME_MAX];
  uint32_t account;
  fx equity, realized, day_pnl, fees;
  const char *mode; /* risk mode */
  bool paused;
  risk_strategy_limits lim; /* its strategy limits */
  risk_order_limits olim;   /* its own order limits (olim.set: which) */
} svc_snap_strategy;

typedef struct svc_snap_instrument {
  char symbol[32];
  dto_time last_event; /* exchange time of its last market event; 0: none */
  bar last_bar;         /* its last bar (ts 0: none) */
  quote last_quote;     /* its last quote (ts 0: none) */
  fx last;             /* its last price */
  bool halted;
} svc_snap_instrument;

typedef struct svc_snap {
  atomic_int refs;
  uint64_t seq;        /* 1, 2, ... in publishing order */
  dto_time now;        /* the engine's clock at publishing */
  dto_time real_now;   /* the real clock at publishing */
  const char *clock;   /* "simulated" or "real" */
  const char *state;   /* lifecycle state name */
  bool killed, maintenance, store_fault, unreconciled;
  /* counters */
  uint64_t events, bars, trades, quotes, reports, commands;
  uint64_t orders, fills, refusals, working;
  uint64_t conflated, queue_depth, queue_timeouts;
  uint64_t order_states[OS_COUNT]; /* transitions into each order state */
  uint64_t refusal_by[RISK_REASON_COUNT]; /* risk refusals by reason */
  size_t naccounts, npositions, norders, nstrategies, ninstruments;
  svc_snap_account *accounts;
  svc_snap_position *positions;
  svc_snap_order *orders_v;
  svc_snap_strategy *strategies;
  svc_snap_instrument *instruments;
  risk_order_limits order_defaults; /* order limits of every order */
  /* everything above lives in one allocation with the struct */
} svc_snap;

/* What the engine thread knows beside the runner when it publishes. */
struct runner;
typedef struct svc_snap_in {
  const struct runner *r;
  const char *state, *clock;
  bool maintenance;
  const bool *paused;        /* per strategy; may be NULL */
  const dto_time *last_event; /* per instrument; may be NULL */
  const bar *last_bar;        /* per instrument; may be NULL */
  const quote *last_quote;    /* per instrument; may be NULL */
  dto_time now_real;
  uint64_t events, bars, trades, quotes, reports, commands;
  const inq *q;              /* for its counters; may be NULL */
} svc_snap_in;

/* Build a snapshot of the runner's engine (engine thread only): one
 * allocation, refs 0 until published. */
svc_snap *svc_snap_build(const svc_snap_in *in);

/* JSON of a snapshot (one object, no newline), into b. */
void svc_snap_json(const svc_snap *s, dbuf *b);

/* ---- the service's shared part ------------------------------------------ */

/* What edges hold: the queue into the engine and the current snapshot. */
typedef struct svc {
  inq *q;                  /* not owned */
  atomic_flag lock;        /* guards cur during a swap or a get */
  svc_snap *cur;           /* the latest snapshot, or NULL */
  uint64_t next_seq;
  atomic_uint_fast64_t next_cmd; /* command ids */
  atomic_uint_fast64_t overflows; /* commands the queue would not take */
  int64_t submit_timeout_ns; /* how long a producer waits on a full queue */
  atomic_bool closed;       /* the engine takes no more commands */
  atomic_int stop_asked;    /* stops on their way: the engine plays no
                               more market data, only commands, until it
                               takes the stop itself */
} svc;

void svc_init(svc *s, inq *q);
/* The engine thread takes no more commands (its loop has ended): every
 * svc_submit waiting or to come answers SVC_CONFLICT "stopping" at once,
 * so edge threads can be joined without waiting out their timeouts.
 * Commands still queued must be finished by the engine's owner (drain the
 * queue and svc_req_finish each). */
void svc_close(svc *s);
/* Drops the current snapshot (readers keep theirs until they put it). */
void svc_release(svc *s);

/* A command on its way: shared by the submitter and the engine thread
 * (two references; freed by the last svc_req_put). */
typedef struct svc_req {
  svc_cmd cmd;
  svc_answer ans;
  atomic_int refs;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
} svc_req;

/* Submit cmd from any thread but the engine's and wait up to timeout_ns
 * for the answer into *ans.  STATUS is answered here without the engine
 * (ans says ok; read the snapshot with svc_snap_get).  When the queue stays
 * full past svc.submit_timeout_ns the answer is SVC_BUSY and
 * svc.overflows counts it (the caller's owner halts trading with a
 * queue_overflow alert); when the engine does not answer within timeout_ns
 * the answer is SVC_BUSY too, but the command may still run later. */
void svc_submit(svc *s, const svc_cmd *cmd, svc_answer *ans,
                int64_t timeout_ns);
/* Has a stop been submitted (engine thread: market data queued before it
 * is no longer played)? */
bool svc_stop_asked(svc *s);

/* Engine thread: the request of an INQ_COMMAND event (ev->u.command.req),
 * and the end of it (the answer in req->ans is final; the submitter
 * wakes). */
void svc_req_finish(svc_req *r);

/* Engine thread: publish a new snapshot (ownership passes to svc). */
void svc_publish(svc *s, svc_snap *snap);
/* Any thread: the current snapshot with a reference (NULL before the
 * first one); drop it with svc_snap_put. */
svc_snap *svc_snap_get(svc *s);
void svc_snap_put(svc_snap *snap);

#endif
