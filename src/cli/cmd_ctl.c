/* cmd_ctl.c - `dto ctl`: talk to the running dto over its control socket.
 *
 * One request, one answer: the arguments become one JSON request line
 * (app/ctl.h has the protocol), ctl_call sends it and reads the answer,
 * and the answer is printed as it came (--json) or as text for a person.
 * All policy (who may, what a command does) lives in the server and the
 * engine; this file only parses options and prints.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <inttypes.h>
#include <jansson.h>
#include <unistd.h>

#include "app/config.h"
#include "app/ctl.h"
#include "app/svc.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"

#define CTL_CLI_TIMEOUT (15 * DTO_NS_PER_SEC)

static const char usage_text[] =
    "usage: dto ctl (-c CONFIG | --socket PATH) [--json] [--reason TEXT]\n"
    "               COMMAND [ARGS]\n"
    "\n"
    "Sends one command to the running dto (dto run) over its control socket\n"
    "and prints the answer.  Every change is journaled with who sent it\n"
    "(uid and pid) and the reason.  Only the user running dto (or root) may\n"
    "use the socket.\n"
    "\n"
    "commands:\n"
    "  status                  state, clock, kill switch, maintenance,\n"
    "                          accounts, positions, working orders,\n"
    "                          strategies, instruments and counters\n"
    "  kill                    engage the kill switch: cancel every working\n"
    "                          order and refuse new ones\n"
    "  release                 release the kill switch (a person's decision)\n"
    "  cancel ORDER            cancel one order (dto's order id or its client\n"
    "                          order id)\n"
    "  cancel-all [--account A] [--strategy S] [--symbol Y]\n"
    "                          cancel the working orders that match every\n"
    "                          filter given (all of them with none)\n"
    "  flatten [--account A] [--strategy S] [--symbol Y]\n"
    "                          close the positions that match, as cancel-all\n"
    "  pause STRATEGY          no new entries from the strategy (its exits\n"
    "                          still run)\n"
    "  resume STRATEGY         entries again\n"
    "  set-limit NAME VALUE [--account A | --strategy S]\n"
    "                          set a risk limit (VALUE a decimal, or 'off'),\n"
    "                          for an account or a strategy when given\n"
    "  maintenance on|off      on: no new entries anywhere; off: back to "
    "ready\n"
    "  reload                  re-read the configuration's risk limits\n"
    "  stop                    drain and stop, as SIGTERM\n"
    "  alerts                  the alerts held: pending, firing, resolved\n"
    "                          in the last hour (with their ids)\n"
    "  ack ID                  acknowledge a firing alert (and its group):\n"
    "                          no more repeats nor escalation\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration of the running dto: its socket is\n"
    "                      run.ctl_socket, default dto.sock in the state\n"
    "                      folder (run.state_dir)\n"
    "      --socket PATH   the control socket itself, instead of -c\n"
    "      --json          print the answer line as it came (JSON)\n"
    "      --reason TEXT   recorded with the change in the journal\n"
    "  -h, --help          this text\n"
    "\n"
    "A negative VALUE may be given as is (set-limit max_loss -500) or after\n"
    "'--'.  Exit status: 0 done, 1 the command was refused or failed, 2 bad\n"
    "usage, 3 the socket cannot be reached (dto run is not running).\n";

/* Filters a command takes. */
enum { F_ACC = 1, F_STRAT = 2, F_SYM = 4 };

static const struct ctl_verb {
  const char *name; /* as typed; '-' or '_' */
  enum svc_op op;
  int nargs;
  unsigned filters;
  const char *args; /* wire names of the positional arguments */
} verbs[] = {
    {"status", SVC_STATUS, 0, 0, NULL},
    {"kill", SVC_KILL, 0, 0, NULL},
    {"release", SVC_RELEASE, 0, 0, NULL},
    {"cancel", SVC_CANCEL, 1, 0, "order"},
    {"cancel-all", SVC_CANCEL_ALL, 0, F_ACC | F_STRAT | F_SYM, NULL},
    {"flatten", SVC_FLATTEN, 0, F_ACC | F_STRAT | F_SYM, NULL},
    {"pause", SVC_PAUSE, 1, 0, "strategy"},
    {"resume", SVC_RESUME, 1, 0, "strategy"},
    {"set-limit", SVC_SET_LIMIT, 2, F_ACC | F_STRAT, "limit value"},
    {"maintenance", SVC_MAINTENANCE_ON, 1, 0, NULL}, /* on|off */
    {"reload", SVC_RELOAD, 0, 0, NULL},
    {"stop", SVC_STOP, 0, 0, NULL},
};

/* Command names compare with '_' and '-' as the same character, so the
 * wire names (cancel_all) work too. */
static bool same_name(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
    if (x != y)
      return false;
  }
  return *a == *b;
}

/* A string member; false when text is not UTF-8 (jansson refuses it). */
static bool put_str(json_t *o, const char *key, const char *text) {
  json_t *v = json_string(text);
  return v && json_object_set_new(o, key, v) == 0;
}

/* ---- printing -------------------------------------------------------------
 */

/* The answer's text, with control characters made harmless for a
 * terminal. */
static void put_clean(FILE *f, const char *s) {
  for (; *s; s++)
    fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

static const char *jstr(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static bool jtrue(const json_t *o, const char *key) {
  return json_is_true(json_object_get(o, key));
}

/* A table printed with columns as wide as their widest cell. */
#define TCOLS 12
typedef struct table {
  size_t ncols, nrows, cap;
  const char *head[TCOLS];
  bool right[TCOLS]; /* numbers: right-aligned */
  char **cells;      /* nrows * ncols, owned */
} table;

static void t_cols(table *t, size_t n, const char *const *head,
                   const bool *right) {
  memset(t, 0, sizeof *t);
  t->ncols = n < TCOLS ? n : TCOLS;
  for (size_t i = 0; i < t->ncols; i++) {
    t->head[i] = head[i];
    t->right[i] = right[i];
  }
}

static void t_row(table *t, const char *const *cells) {
  if (t->nrows == t->cap / (t->ncols ? t->ncols : 1)) {
    size_t c = t->cap ? t->cap * 2 : t->ncols * 8;
    t->cells = xreallocarray(t->cells, c, sizeof *t->cells);
    t->cap = c;
  }
  for (size_t i = 0; i < t->ncols; i++) {
    char *s = xstrdup(cells[i] ? cells[i] : "");
    for (char *p = s; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        *p = '?';
    t->cells[t->nrows * t->ncols + i] = s;
  }
  t->nrows++;
}

static void t_print(table *t, const char *title) {
  if (!t->nrows) {
    printf("%s: none\n", title);
    return;
  }
  printf("%s:\n", title);
  size_t w[TCOLS];
  for (size_t i = 0; i < t->ncols; i++) {
    w[i] = strlen(t->head[i]);
    for (size_t r = 0; r < t->nrows; r++) {
      size_t n = strlen(t->cells[r * t->ncols + i]);
      if (n > w[i])
        w[i] = n;
    }
  }
  for (size_t r = 0; r <= t->nrows; r++) {
    fputs(" ", stdout);
    for (size_t i = 0; i < t->ncols; i++) {
      const char *s = r ? t->cells[(r - 1) * t->ncols + i] : t->head[i];
      bool last = i + 1 == t->ncols;
      if (t->right[i])
        printf(" %*s", (int)w[i], s);
      else
        printf(" %-*s", last ? 0 : (int)w[i], s); /* no trailing blanks */
    }
    fputc('\n', stdout);
  }
  for (size_t k = 0; k < t->nrows * t->ncols; k++)
    free(t->cells[k]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}

/* "350ms", "4.2s", "3m05s", "2h10m" from milliseconds. */
static void fmt_age(const json_t *v, char *buf, size_t cap) {
  if (!json_is_integer(v)) {
    snprintf(buf, cap, "-");
    return;
  }
  long long ms = json_integer_value(v);
  if (ms < 0)
    snprintf(buf, cap, "%lldms", ms); /* an event ahead of the clock */
  else if (ms < 1000)
    snprintf(buf, cap, "%lldms", ms);
  else if (ms < 60000)
    snprintf(buf, cap, "%lld.%llds", ms / 1000, ms % 1000 / 100);
  else if (ms < 3600000)
    snprintf(buf, cap, "%lldm%02llds", ms / 60000, ms % 60000 / 1000);
  else
    snprintf(buf, cap, "%lldh%02lldm", ms / 3600000, ms % 3600000 / 60000);
}

static void print_status(const json_t *r) {
  printf("state:        ");
  put_clean(stdout, jstr(r, "state"));
  printf("\nclock:        ");
  put_clean(stdout, jstr(r, "clock"));
  if (*jstr(r, "now")) {
    printf(", now ");
    put_clean(stdout, jstr(r, "now"));
  }
  printf("\nkill switch:  %s\n",
         jtrue(r, "kill_switch") ? "ENGAGED" : "released");
  printf("maintenance:  %s\n", jtrue(r, "maintenance") ? "ON" : "off");
  if (jtrue(r, "store_fault"))
    printf("store:        FAULT (the journal cannot be written)\n");
  if (jtrue(r, "unreconciled"))
    printf("broker:       NOT RECONCILED\n");
  printf("\n");

  table t;
  size_t i;
  json_t *o;
  {
    static const char *const h[] = {"ACCOUNT",  "CASH", "EQUITY", "DAY P&L",
                                    "REALIZED", "FEES", "MODE"};
    static const bool rt[] = {false, true, true, true, true, true, false};
    t_cols(&t, 7, h, rt);
    json_array_foreach(json_object_get(r, "accounts"), i, o) {
      const char *c[] = {jstr(o, "id"),       jstr(o, "cash"),
                         jstr(o, "equity"),   jstr(o, "day_pnl"),
                         jstr(o, "realized"), jstr(o, "fees"),
                         jstr(o, "mode")};
      t_row(&t, c);
    }
    t_print(&t, "accounts");
  }
  {
    static const char *const h[] = {"ACCOUNT", "SYMBOL",     "QTY",     "COST",
                                    "LAST",    "UNREALIZED", "REALIZED"};
    static const bool rt[] = {false, false, true, true, true, true, true};
    t_cols(&t, 7, h, rt);
    json_array_foreach(json_object_get(r, "positions"), i, o) {
      const char *c[] = {jstr(o, "account"), jstr(o, "symbol"),
                         jstr(o, "qty"),     jstr(o, "cost"),
                         jstr(o, "last"),    jstr(o, "unrealized"),
                         jstr(o, "realized")};
      t_row(&t, c);
    }
    t_print(&t, "positions");
  }
  {
    static const char *const h[] = {
        "ID",   "CLIENT ID", "ACCOUNT", "STRATEGY", "SYMBOL", "SIDE",
        "TYPE", "QTY",       "FILLED",  "PRICE",    "STOP",   "STATE"};
    static const bool rt[] = {true,  false, false, false, false, false,
                              false, true,  true,  true,  true,  false};
    t_cols(&t, 12, h, rt);
    json_array_foreach(json_object_get(r, "orders"), i, o) {
      char id[32];
      json_t *idv = json_object_get(o, "id");
      snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT,
               json_is_integer(idv) ? json_integer_value(idv) : 0);
      const char *c[] = {id,
                         jstr(o, "client_order_id"),
                         jstr(o, "account"),
                         jstr(o, "strategy"),
                         jstr(o, "symbol"),
                         jstr(o, "side"),
                         jstr(o, "type"),
                         jstr(o, "qty"),
                         jstr(o, "filled"),
                         jstr(o, "price"),
                         jstr(o, "stop"),
                         jstr(o, "state")};
      t_row(&t, c);
    }
    t_print(&t, "working orders");
  }
  {
    static const char *const h[] = {"STRATEGY", "ACCOUNT", "EQUITY", "DAY P&L",
                                    "REALIZED", "FEES",    "MODE",   "PAUSED"};
    static const bool rt[] = {false, false, true,  true,
                              true,  true,  false, false};
    t_cols(&t, 8, h, rt);
    json_array_foreach(json_object_get(r, "strategies"), i, o) {
      const char *c[] = {
          jstr(o, "id"),       jstr(o, "account"),
          jstr(o, "equity"),   jstr(o, "day_pnl"),
          jstr(o, "realized"), jstr(o, "fees"),
          jstr(o, "mode"),     jtrue(o, "paused") ? "yes" : "no"};
      t_row(&t, c);
    }
    t_print(&t, "strategies");
  }
  {
    static const char *const h[] = {"SYMBOL", "LAST", "LAST EVENT", "AGE",
                                    "HALTED"};
    static const bool rt[] = {false, true, false, true, false};
    t_cols(&t, 5, h, rt);
    json_array_foreach(json_object_get(r, "instruments"), i, o) {
      char age[32];
      fmt_age(json_object_get(o, "age_ms"), age, sizeof age);
      const char *ev = jstr(o, "last_event");
      const char *c[] = {jstr(o, "symbol"), jstr(o, "last"), *ev ? ev : "-",
                         age, jtrue(o, "halted") ? "HALTED" : "no"};
      t_row(&t, c);
    }
    t_print(&t, "instruments");
  }
  const char *key;
  json_t *v;
  int col = 0;
  printf("counters:\n ");
  json_object_foreach(json_object_get(r, "counters"), key, v) {
    if (!json_is_integer(v))
      continue;
    char item[96];
    int n = snprintf(item, sizeof item, " %s %" JSON_INTEGER_FORMAT, key,
                     json_integer_value(v));
    if (n < 0)
      continue;
    if (col && col + n > 76) {
      printf("\n ");
      col = 0;
    }
    put_clean(stdout, item);
    col += n;
  }
  printf("\n");
}

static void print_alerts(const json_t *v) {
  static const char *const h[] = {"ID",      "ALERT",  "STATE", "SEVERITY",
                                  "STARTED", "ACKED",  "SUMMARY"};
  static const bool rt[] = {true, false, false, false, false, false, false};
  table t;
  t_cols(&t, 7, h, rt);
  size_t i;
  json_t *o;
  json_array_foreach(v, i, o) {
    char id[24];
    snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(o, "id")));
    const char *acked = jstr(o, "acked_by");
    const char *c[] = {id,
                       jstr(o, "name"),
                       jstr(o, "state"),
                       jstr(o, "severity"),
                       *jstr(o, "started") ? jstr(o, "started") : "-",
                       *acked ? acked : "-",
                       jstr(o, "summary")};
    t_row(&t, c);
  }
  t_print(&t, "alerts");
}

/* ---- the command ----------------------------------------------------------
 */

typedef struct ctl_opts {
  const char *config, *socket, *reason;
  const char *account, *strategy, *symbol;
  bool json;
  const char *pos[4]; /* COMMAND and its arguments */
  int npos;
} ctl_opts;

/* Options may stand anywhere; an argument that looks like a negative
 * number ("-500", "-.5") is an argument, not an option, so that set-limit
 * takes negative values without '--'.  Returns 0, 2 after a usage error,
 * or -1 after --help. */
static int parse_args(int argc, char **argv, ctl_opts *o) {
  static const struct {
    const char *lng;
    char shrt;
    size_t off; /* of the const char * in ctl_opts; SIZE_MAX: a flag */
  } opts[] = {
      {"config", 'c', offsetof(ctl_opts, config)},
      {"socket", 0, offsetof(ctl_opts, socket)},
      {"reason", 0, offsetof(ctl_opts, reason)},
      {"account", 0, offsetof(ctl_opts, account)},
      {"strategy", 0, offsetof(ctl_opts, strategy)},
      {"symbol", 0, offsetof(ctl_opts, symbol)},
      {"json", 0, SIZE_MAX},
      {"help", 'h', SIZE_MAX},
  };
  bool only_args = false;
  for (int k = 1; k < argc; k++) {
    const char *a = argv[k];
    bool number = a[0] == '-' && (a[1] == '.' || (a[1] >= '0' && a[1] <= '9'));
    if (only_args || a[0] != '-' || a[1] == '\0' || number) {
      if (o->npos == (int)DTO_ARRAY_LEN(o->pos))
        return cli_usage_error("ctl", "unexpected argument '%s'", a);
      o->pos[o->npos++] = a;
      continue;
    }
    if (!strcmp(a, "--")) {
      only_args = true;
      continue;
    }
    const char *val = NULL;
    size_t which = DTO_ARRAY_LEN(opts);
    if (a[1] == '-') {
      const char *eq = strchr(a + 2, '=');
      size_t n = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
      for (size_t j = 0; j < DTO_ARRAY_LEN(opts); j++)
        if (strlen(opts[j].lng) == n && !strncmp(a + 2, opts[j].lng, n))
          which = j;
      if (eq)
        val = eq + 1;
    } else {
      for (size_t j = 0; j < DTO_ARRAY_LEN(opts); j++)
        if (opts[j].shrt && opts[j].shrt == a[1])
          which = j;
      if (which < DTO_ARRAY_LEN(opts) && a[2])
        val = a + 2; /* -cFILE */
    }
    if (which == DTO_ARRAY_LEN(opts))
      return cli_usage_error("ctl", "unknown option '%s'", a);
    if (opts[which].off == SIZE_MAX) {
      if (val)
        return cli_usage_error("ctl", "%s takes no value", a);
      if (opts[which].shrt == 'h') {
        fputs(usage_text, stdout);
        return -1;
      }
      o->json = true;
      continue;
    }
    if (!val) {
      if (k + 1 >= argc)
        return cli_usage_error("ctl", "%s needs a value", a);
      val = argv[++k];
    }
    *(const char **)((char *)o + opts[which].off) = val;
  }
  return 0;
}

/* The request for o as a JSON object into *out (the caller frees it).
 * Returns 0, or 2 after a usage error. */
static int build_request(const ctl_opts *o, json_t **out) {
  const char *name = o->pos[0];
  if (same_name(name, "alerts") || same_name(name, "ack")) {
    /* the monitor's, not the engine's */
    bool ack = same_name(name, "ack");
    if (o->npos - 1 != (ack ? 1 : 0))
      return cli_usage_error("ctl", ack ? "ack takes 1 argument (an alert id)"
                                        : "alerts takes no argument");
    if (o->account || o->strategy || o->symbol)
      return cli_usage_error("ctl", "%s takes no filter", name);
    json_t *req = json_object();
    char id[32];
    snprintf(id, sizeof id, "ctl-%ld", (long)getpid());
    bool good = put_str(req, "cmd", ack ? "alert_ack" : "alerts") &&
                put_str(req, "id", id) &&
                (!ack || put_str(req, "alert", o->pos[1])) &&
                (!o->reason || put_str(req, "reason", o->reason));
    if (!good) {
      json_decref(req);
      return cli_usage_error("ctl", "not valid UTF-8 text");
    }
    *out = req;
    return 0;
  }
  const struct ctl_verb *vb = NULL;
  for (size_t i = 0; i < DTO_ARRAY_LEN(verbs) && !vb; i++)
    if (same_name(name, verbs[i].name))
      vb = &verbs[i];
  if (!vb)
    return cli_usage_error("ctl", "unknown command '%s'", name);
  if (o->npos - 1 != vb->nargs)
    return cli_usage_error("ctl", "%s takes %d argument%s, got %d", vb->name,
                           vb->nargs, vb->nargs == 1 ? "" : "s", o->npos - 1);
  if ((o->account && !(vb->filters & F_ACC)) ||
      (o->strategy && !(vb->filters & F_STRAT)) ||
      (o->symbol && !(vb->filters & F_SYM)))
    return cli_usage_error("ctl", "%s takes no %s", vb->name,
                           o->account && !(vb->filters & F_ACC) ? "--account"
                           : o->strategy && !(vb->filters & F_STRAT)
                               ? "--strategy"
                               : "--symbol");
  if (vb->op == SVC_SET_LIMIT && o->account && o->strategy)
    return cli_usage_error("ctl", "set-limit: --account and --strategy "
                                  "exclude each other");
  enum svc_op op = vb->op;
  if (op == SVC_MAINTENANCE_ON) {
    if (!strcmp(o->pos[1], "off"))
      op = SVC_MAINTENANCE_OFF;
    else if (strcmp(o->pos[1], "on"))
      return cli_usage_error("ctl",
                             "maintenance: expected on or off, got "
                             "'%.40s'",
                             o->pos[1]);
  }
  json_t *req = json_object();
  char id[32];
  snprintf(id, sizeof id, "ctl-%ld", (long)getpid());
  bool good = put_str(req, "cmd", svc_op_name(op)) && put_str(req, "id", id);
  const char *bad = NULL;
  if (good && vb->args) { /* "order" or "strategy" or "limit value" */
    char names[32];
    snprintf(names, sizeof names, "%s", vb->args);
    char *sp = strchr(names, ' ');
    if (sp)
      *sp = '\0';
    if (!put_str(req, names, o->pos[1]))
      bad = o->pos[1];
    else if (sp && !put_str(req, sp + 1, o->pos[2]))
      bad = o->pos[2];
  }
  if (!bad && o->reason && !put_str(req, "reason", o->reason))
    bad = "--reason";
  if (!bad && o->account && !put_str(req, "account", o->account))
    bad = "--account";
  if (!bad && o->strategy && !put_str(req, "strategy", o->strategy))
    bad = "--strategy";
  if (!bad && o->symbol && !put_str(req, "symbol", o->symbol))
    bad = "--symbol";
  if (!good || bad) {
    json_decref(req);
    return cli_usage_error("ctl", "%.40s: not valid UTF-8 text",
                           bad ? bad : "command");
  }
  *out = req;
  return 0;
}

int cmd_ctl(int argc, char **argv) {
  ctl_opts o;
  memset(&o, 0, sizeof o);
  int rc = parse_args(argc, argv, &o);
  if (rc)
    return rc < 0 ? 0 : rc;
  if (o.npos == 0)
    return cli_usage_error("ctl", "a command is required");
  if (!o.config && !o.socket)
    return cli_usage_error("ctl", "--config or --socket is required");
  if (o.config && o.socket)
    return cli_usage_error("ctl", "--config and --socket exclude each other");
  json_t *req = NULL;
  if ((rc = build_request(&o, &req)))
    return rc;

  char path[CFG_PATH_MAX + 16], err[1024];
  if (o.socket) {
    snprintf(path, sizeof path, "%s", o.socket);
  } else {
    dto_config cfg;
    if (config_load(o.config, &cfg, err, sizeof err)) {
      json_decref(req);
      return cli_fail("%s", err);
    }
    ctl_default_path(&cfg, path, sizeof path);
    config_release(&cfg);
  }

  char *text = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  if (!text)
    return cli_fail("cannot encode the request");
  dbuf line;
  dbuf_init(&line, CTL_LINE_MAX + 1);
  int trc = dbuf_adds(&line, text) || dbuf_addc(&line, '\n');
  free(text);
  if (trc) {
    dbuf_release(&line);
    return cli_usage_error("ctl", "the request is longer than %d bytes",
                           CTL_LINE_MAX);
  }
  dbuf ans;
  dbuf_init(&ans, CTL_ANSWER_MAX);
  rc = ctl_call(path, line.ptr, line.len, &ans, CTL_CLI_TIMEOUT, err,
                sizeof err);
  dbuf_release(&line);
  if (rc == DTO_EIO) {
    dbuf_release(&ans);
    fprintf(stderr, "dto ctl: cannot connect to %s: is dto run running? (%s)\n",
            path, err);
    return 3;
  }
  if (rc == DTO_EAGAIN) {
    dbuf_release(&ans);
    return cli_fail("ctl: %s: %s; the command may still be carried out "
                    "(see 'dto ctl status')",
                    path, err);
  }
  if (rc) {
    dbuf_release(&ans);
    return cli_fail("ctl: %s: %s", path, err);
  }

  json_error_t je;
  json_t *a = json_loadb(ans.ptr, ans.len, 0, &je);
  json_t *okv = a ? json_object_get(a, "ok") : NULL;
  if (!json_is_boolean(okv)) {
    if (o.json)
      printf("%s\n", ans.ptr);
    dbuf_release(&ans);
    json_decref(a);
    return cli_fail("ctl: the answer is not a dto ctl answer");
  }
  bool ok = json_is_true(okv);
  if (o.json) {
    fwrite(ans.ptr, 1, ans.len, stdout);
    fputc('\n', stdout);
  } else if (ok) {
    json_t *res = json_object_get(a, "result");
    if (json_object_get(res, "state")) {
      print_status(res);
    } else if (json_is_array(json_object_get(res, "alerts"))) {
      print_alerts(json_object_get(res, "alerts"));
    } else {
      fputs("ok: ", stdout);
      put_clean(stdout, jstr(res, "message"));
      fputc('\n', stdout);
    }
  } else {
    json_t *e = json_object_get(a, "error");
    fputs("error (", stderr);
    put_clean(stderr, jstr(e, "code"));
    fputs("): ", stderr);
    put_clean(stderr, jstr(e, "message"));
    if (*jstr(e, "field")) {
      fputs(" [field ", stderr);
      put_clean(stderr, jstr(e, "field"));
      fputc(']', stderr);
    }
    fputc('\n', stderr);
  }
  json_decref(a);
  dbuf_release(&ans);
  return ok ? 0 : 1;
}
