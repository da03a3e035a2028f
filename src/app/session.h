/* session.h - one `dto run` session, from start-up to the summary.
 *
 * A session is everything `dto run` does between parsing its options and
 * exiting: it blocks the signals it takes, loads the configuration and the
 * feed, opens the journal's store and reads it (recovery) before the
 * writer thread owns it, builds the runner, restores the books, follows the
 * kill switch's state file, plays the feed in simulated real time while
 * handling signals (and scripted operator actions, for tests and drills),
 * stops, writes the optional reports (--out) and prints the summary.  The
 * command itself (src/cli/cmd_run.c) only parses options.
 *
 * Signals are taken synchronously: session_open() blocks SIGINT, SIGTERM,
 * SIGUSR1, SIGUSR2 and SIGHUP in the calling thread, and the loop waits for
 * them with sigtimedwait() as its sleep, so there is no handler and no
 * global flag.  They stay blocked after session_close() (pending ones are
 * left pending): a session is meant to be the last thing a process does.
 *
 * Stopping.  The end of the feed always finishes the session: strategies
 * stop and working orders that are not GTC are canceled.  A stop before
 * the end (SIGINT or SIGTERM, --max-bars) follows run.on_stop: `cancel`
 * does the same as the end of the feed, `keep` leaves every working order
 * working, journaled, so that a restart restores it and the session goes on
 * as if it had never stopped.
 *
 * Not for: the trading rules (engine), the journal's format (store,
 * jhooks), what a restart restores (recovery).
 */
#ifndef DTO_APP_SESSION_H
#define DTO_APP_SESSION_H

#include "app/runner.h"

/* Why a session stopped. */
enum session_stop {
  SESSION_END_OF_FEED, /* every bar of the feed was played */
  SESSION_MAX_BARS,    /* --max-bars bars were played, the feed goes on */
  SESSION_SIGNAL,      /* SIGINT or SIGTERM (or a scripted stop) */
  SESSION_STOP_COUNT
};
/* "end_of_feed", "max_bars", "signal" (the log's and summary's names). */
const char *session_stop_name(enum session_stop s);

/* A scripted operator action (dto run --at-bar N:ACTION), applied before
 * the feed's bar `at` (0-based over the whole feed, restarts included: a
 * restarted session skips actions before the bar it resumes at), at the
 * same point of the loop where signals are handled.  They make a session
 * with operator actions repeatable, so that it can be compared with
 * itself stopped and restarted. */
enum session_act {
  SESSION_ACT_KILL,    /* engage the kill switch, as SIGUSR1 does */
  SESSION_ACT_RELEASE, /* release it, as `dto kill --release` does */
  SESSION_ACT_RELOAD,  /* reload the risk limits, as SIGHUP does */
  SESSION_ACT_STOP,    /* stop, as SIGTERM does */
  SESSION_ACT_STALL,   /* a drill: the loop stands still for `ms` (the
                          watchdog pings stop, as for a hung engine) */
  SESSION_ACT_COUNT
};

typedef struct session_action {
  uint64_t at;
  enum session_act act;
  const char *file; /* RELOAD: the configuration to read (NULL: the
                       session's own); not owned */
  int64_t ms;       /* STALL: how long, 1 to 600000 */
} session_action;

/* Parse "N:kill", "N:release", "N:stop", "N:reload", "N:reload=FILE" or
 * "N:stall=MS"
 * (FILE points into s afterwards).  DTO_EPARSE with a message in err. */
int session_action_parse(const char *s, session_action *out, char *err,
                         size_t cap);

typedef struct session_opts {
  const char *config;   /* the configuration file; required */
  double speed;         /* < 0: the configuration's run.speed */
  uint64_t max_bars;    /* bars to play before stopping; UINT64_MAX: all */
  const char *log_path; /* the structured log (appended); NULL: stderr */
  const char *out_dir;  /* report folder (created); NULL: none */
  const session_action *actions; /* not owned; any order */
  size_t nactions;
  FILE *summary_out; /* the summary lines (stdout); may be NULL */
  FILE *msg_out;     /* warnings that do not stop the session (stderr) */
} session_opts;

void session_opts_init(session_opts *o);

typedef struct run_session run_session;

/* Start a session: everything up to the first bar (see the top of this
 * file), in this order: signals blocked; configuration; log; feed; store
 * opened and read; runner built; books restored and reconciled; the kill
 * switch's state file applied; pid file; report files opened; the
 * `session.start` log event.  On failure returns a negative code with a
 * one-line message in err and leaves nothing behind (no session).  The
 * caller owns *out and ends it with session_close(). */
int session_open(const session_opts *o, run_session **out, char *err,
                 size_t cap);

/* Play the feed until its end, opts.max_bars bars, or SIGINT/SIGTERM.
 * Returns why it stopped. */
enum session_stop session_play(run_session *s);

/* The runner, for tests that look at the engine (valid until close). */
const runner *session_runner(const run_session *s);
/* The first feed index this session plays (0, or where a restart
 * resumed). */
size_t session_first_bar(const run_session *s);

/* End the session: finish or keep working orders (see the top of this
 * file; a session closed without session_play counts as stopped by a
 * signal), log `session.stop`, write the reports of opts.out_dir, print
 * the summary, remove the pid file, close the journal, free everything (s
 * is gone afterwards, even on failure).  Returns 0, or a negative code
 * with a message in err when a report or the journal could not be written
 * completely. */
int session_close(run_session *s, char *err, size_t cap);

/* session_open, session_play, session_close. */
int session_run(const session_opts *o, char *err, size_t cap);

/* The report files of --out (streamed ones are renamed into place at
 * close; a killed session leaves only their .tmp files). */
#define SESSION_ORDERS_CSV "orders.csv"
#define SESSION_FILLS_CSV "fills.csv"
#define SESSION_POSITIONS_CSV "positions.csv"
#define SESSION_SUMMARY_JSON "summary.json"

#endif
