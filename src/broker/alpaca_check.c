/* alpaca_check.c - `dto broker check` for Alpaca. */
#include "broker/alpaca_check.h"

#include <jansson.h>

#include "broker/alpaca_json.h"
#include "broker/http.h"
#include "broker/ws.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/timeutil.h"

typedef struct report {
  FILE *out;
  bool json;
  int failed;
} report;

/* One line: what was checked, ok or not, the detail, the time taken. */
static void line(report *r, const char *what, bool ok, const char *detail,
                 double ms) {
  r->failed += !ok;
  if (r->json) {
    dbuf b;
    dbuf_init(&b, 4096);
    dbuf_adds(&b, "{\"check\":");
    dbuf_json_str(&b, what);
    dbuf_printf(&b, ",\"ok\":%s,\"detail\":", ok ? "true" : "false");
    dbuf_json_str(&b, detail);
    if (ms >= 0)
      dbuf_printf(&b, ",\"ms\":%.1f", ms);
    dbuf_adds(&b, "}\n");
    fwrite(b.ptr, 1, b.len, r->out);
    dbuf_release(&b);
  } else if (ms >= 0) {
    fprintf(r->out, "%-5s %-16s %s (%.1f ms)\n", ok ? "ok" : "FAIL", what,
            detail, ms);
  } else {
    fprintf(r->out, "%-5s %-16s %s\n", ok ? "ok" : "FAIL", what, detail);
  }
}

static double ms_since(int64_t t0) {
  return (double)(clock_mono_ns() - t0) / 1e6;
}


/* Why an answer is not a success: its status and Alpaca's error message
 * ({"code":..., "message":"..."}) when the body has one. */
static void status_why(const http_response *resp, char *why, size_t cap) {
  json_error_t je;
  json_t *e = json_loadb(resp->body, resp->len, 0, &je);
  const char *m = e ? json_string_value(json_object_get(e, "message")) : NULL;
  snprintf(why, cap, "HTTP %d%s%.200s", resp->status, m ? ": " : "",
           m ? m : "");
  json_decref(e);
}

/* A GET on cl; *doc the parsed JSON body of a 2xx answer (NULL else).
 * Returns the status, or 0 with the reason in why when there was no
 * answer. */
static int get(http_client *cl, const char *path, json_t **doc, double *ms,
               char *why, size_t cap) {
  http_response resp;
  memset(&resp, 0, sizeof resp);
  *doc = NULL;
  int64_t t0 = clock_mono_ns();
  int rc = http_request(cl, HTTP_GET, path, NULL, &resp, why, cap);
  *ms = ms_since(t0);
  if (rc)
    return 0;
  int st = resp.status;
  if (st >= 200 && st < 300) {
    json_error_t je;
    *doc = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, &je);
    if (!*doc)
      snprintf(why, cap, "the answer is not JSON (%s)", je.text);
  } else {
    status_why(&resp, why, cap);
  }
  http_response_release(&resp);
  return st;
}

/* Connect to a stream, read what it says first when it greets, send the
 * authentication and read the answer. */
static void stream_check(report *r, const char *what, const char *url,
                         const alpaca_conf *c, bool greets) {
  char err[512], detail[1400];
  ws_opts o = {c->connect_timeout, 1u << 20, NULL};
  ws_conn *w = NULL;
  int64_t t0 = clock_mono_ns();
  if (ws_open(url, &o, &w, err, sizeof err)) {
    line(r, what, false, err, ms_since(t0));
    return;
  }
  dbuf m;
  dbuf_init(&m, 1u << 20);
  bool bin;
  int64_t wait = c->request_timeout;
  int rc = greets ? ws_recv(w, &m, &bin, wait) : 0;
  /* the trading stream's documented form; the data stream's is
   * {"action":"auth","key":..,"secret":..} */
  json_t *auth =
      greets ? json_pack("{s:s,s:s,s:s}", "action", "auth", "key", c->key_id,
                         "secret", c->secret)
             : json_pack("{s:s,s:{s:s,s:s}}", "action", "authenticate", "data",
                         "key_id", c->key_id, "secret_key", c->secret);
  char *text = auth ? json_dumps(auth, JSON_COMPACT) : NULL;
  json_decref(auth);
  if (!rc && text)
    rc = ws_send(w, text, strlen(text), false, wait);
  if (text) { /* it holds the secret */
    memset(text, 0, strlen(text));
    free(text);
  }
  if (!rc)
    rc = ws_recv(w, &m, &bin, wait);
  double ms = ms_since(t0);
  if (rc) {
    snprintf(detail, sizeof detail, "%s: %s", url,
             rc == DTO_EAGAIN ? "no answer to the authentication"
                              : ws_error(w));
    line(r, what, false, detail, ms);
  } else {
    dbuf_addc(&m, '\0');
    bool ok = strstr(m.ptr, "\"authorized\"") || strstr(m.ptr, "\"authenticated\"");
    snprintf(detail, sizeof detail, "%s: %s", url,
             ok ? "authenticated" : "authentication refused");
    line(r, what, ok, detail, ms);
  }
  dbuf_release(&m);
  ws_close(w);
}

/* "HH:MM" into minutes after midnight, or -1. */
static int hhmm(const char *s) {
  if (!s || strlen(s) != 5 || s[2] != ':')
    return -1;
  for (int i = 0; i < 5; i++)
    if (i != 2 && (s[i] < '0' || s[i] > '9'))
      return -1;
  int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
  return h < 24 && m < 60 ? h * 60 + m : -1;
}

/* Alpaca's calendar against dto's, day by day, from the day of now. */
static void calendar_check(report *r, http_client *cl, const calendar *cal,
                           dto_time now) {
  enum { N = ALPACA_CHECK_CALENDAR_DAYS };
  int64_t d0 = calendar_local_day(cal, now);
  int y, m, d;
  char path[128], a[16], b[16], why[512], detail[512];
  civil_from_days(d0, &y, &m, &d);
  snprintf(a, sizeof a, "%04d-%02d-%02d", y, m, d);
  civil_from_days(d0 + N - 1, &y, &m, &d);
  snprintf(b, sizeof b, "%04d-%02d-%02d", y, m, d);
  snprintf(path, sizeof path, "/v2/calendar?start=%s&end=%s", a, b);
  json_t *doc;
  double ms;
  get(cl, path, &doc, &ms, why, sizeof why);
  if (!doc) {
    line(r, "calendar", false, why, ms);
    return;
  }
  /* theirs[k]: open and close minutes of day d0 + k, or -1 (closed) */
  int open[N], close[N];
  for (int k = 0; k < N; k++)
    open[k] = close[k] = -1;
  size_t i;
  json_t *v;
  bool bad = !json_is_array(doc);
  json_array_foreach(doc, i, v) {
    const char *ds = json_string_value(json_object_get(v, "date"));
    int o = hhmm(json_string_value(json_object_get(v, "open")));
    int cmin = hhmm(json_string_value(json_object_get(v, "close")));
    if (!ds || strlen(ds) != 10 || sscanf(ds, "%4d-%2d-%2d", &y, &m, &d) != 3 ||
        !civil_valid(y, m, d) || o < 0 || cmin < 0) {
      snprintf(detail, sizeof detail,
               "the calendar answer is malformed: [%zu] needs date "
               "YYYY-MM-DD, open and close HH:MM",
               i);
      line(r, "calendar", false, detail, ms);
      json_decref(doc);
      return;
    }
    int64_t k = days_from_civil(y, m, d) - d0;
    if (k >= 0 && k < N) {
      open[k] = o;
      close[k] = cmin;
    }
  }
  json_decref(doc);
  if (bad) {
    line(r, "calendar", false, "the calendar answer is not a list", ms);
    return;
  }
  size_t used = 0, diffs = 0;
  detail[0] = '\0';
  for (int k = 0; k < N; k++) {
    session s;
    bool ours = calendar_session(cal, d0 + k, &s);
    int oo = ours ? calendar_minute_of_day(cal, s.open) : -1;
    int oc = ours ? calendar_minute_of_day(cal, s.close) : -1;
    if (oo == open[k] && oc == close[k])
      continue;
    diffs++;
    civil_from_days(d0 + k, &y, &m, &d);
    char one[128];
    if (open[k] < 0)
      snprintf(one, sizeof one, "%04d-%02d-%02d Alpaca closed, dto open",
               y, m, d);
    else if (!ours)
      snprintf(one, sizeof one, "%04d-%02d-%02d Alpaca open, dto closed",
               y, m, d);
    else
      snprintf(one, sizeof one,
               "%04d-%02d-%02d Alpaca %02d:%02d-%02d:%02d, dto "
               "%02d:%02d-%02d:%02d",
               y, m, d, open[k] / 60, open[k] % 60, close[k] / 60,
               close[k] % 60, oo / 60, oo % 60, oc / 60, oc % 60);
    if (used + strlen(one) + 3 < sizeof detail - 40)
      used += (size_t)snprintf(detail + used, sizeof detail - used, "%s%s",
                               diffs > 1 ? "; " : "", one);
  }
  if (diffs) {
    char msg[1024];
    snprintf(msg, sizeof msg,
             "%zu day(s) from %s disagree with dto's %s calendar: %s (dto "
             "would trade on a closed day or miss an open one: update dto or "
             "do not run on those days)",
             diffs, a, calendar_name(cal), detail);
    line(r, "calendar", false, msg, ms);
  } else {
    snprintf(detail, sizeof detail,
             "%s to %s agrees with dto's %s calendar (sessions, opens, "
             "closes)",
             a, b, calendar_name(cal));
    line(r, "calendar", true, detail, ms);
  }
}

int alpaca_check(const alpaca_conf *c, const char *const *symbols,
                 size_t nsymbols, const calendar *cal, FILE *out, bool json) {
  report r = {out, json, 0};
  char why[512], detail[1400];
  double ms;
  http_conf hc;
  http_client *tcl = NULL, *dcl = NULL;
  alpaca_http_conf(c, false, &hc);
  if (http_client_new(&hc, &tcl, why, sizeof why)) {
    line(&r, "trading API", false, why, -1);
    return 1;
  }
  alpaca_http_conf(c, true, &hc);
  if (http_client_new(&hc, &dcl, why, sizeof why)) {
    line(&r, "data API", false, why, -1);
    http_client_free(tcl);
    return 1;
  }
  snprintf(detail, sizeof detail, "%s, %s, key %s", c->trading_url,
           c->live ? "LIVE (real money)" : "paper", c->key_id);
  line(&r, "endpoint", true, detail, -1);

  json_t *doc;
  int st = get(tcl, "/v2/account", &doc, &ms, why, sizeof why);
  /* Each answer is read by the same parsers the adapter uses: an answer
   * they refuse is a failed check that says which field and why. */
  alpaca_account acc;
  char perr[256];
  if (doc && alpaca_account_from_json(doc, &acc, perr, sizeof perr)) {
    snprintf(detail, sizeof detail, "the account answer is malformed: %s",
             perr);
    line(&r, "account", false, detail, ms);
  } else if (doc) {
    bool blocked = acc.trading_blocked || acc.account_blocked;
    char cash[FX_STRLEN], bp[FX_STRLEN];
    fx_format(acc.cash, cash, sizeof cash);
    fx_format(acc.buying_power, bp, sizeof bp);
    snprintf(detail, sizeof detail,
             "account %s, status %s%s, cash %s, buying power %s%s",
             acc.account_number, acc.status,
             blocked ? ", TRADING BLOCKED" : "", cash, bp,
             acc.pattern_day_trader ? ", pattern day trader" : "");
    line(&r, "account", !strcmp(acc.status, "ACTIVE") && !blocked, detail,
         ms);
  } else {
    snprintf(detail, sizeof detail, "%s%s", why,
             st == 401 || st == 403 ? " (check APCA_API_KEY_ID and "
                                      "APCA_API_SECRET_KEY)"
                                    : "");
    line(&r, "account", false, detail, ms);
  }
  json_decref(doc);

  get(tcl, "/v2/clock", &doc, &ms, why, sizeof why);
  alpaca_clock clk;
  bool have_clock = false;
  if (doc && alpaca_clock_from_json(doc, &clk, perr, sizeof perr)) {
    snprintf(detail, sizeof detail, "the clock answer is malformed: %s",
             perr);
    line(&r, "clock", false, detail, ms);
  } else if (doc) {
    char no[48], nc[48];
    time_format(clk.next_open, no, sizeof no);
    time_format(clk.next_close, nc, sizeof nc);
    snprintf(detail, sizeof detail, "market %s, next open %s, next close %s",
             clk.is_open ? "open" : "closed", no, nc);
    line(&r, "clock", true, detail, ms);
    have_clock = true;
  } else {
    line(&r, "clock", false, why, ms);
  }
  json_decref(doc);
  if (cal) {
    dto_clock wall;
    clock_real_init(&wall);
    calendar_check(&r, tcl, cal, have_clock ? clk.timestamp : clock_now(&wall));
  }

  for (size_t i = 0; i < nsymbols; i++) {
    char path[128], what[64];
    snprintf(path, sizeof path, "/v2/assets/%s", symbols[i]);
    snprintf(what, sizeof what, "asset %s", symbols[i]);
    st = get(tcl, path, &doc, &ms, why, sizeof why);
    alpaca_asset as;
    if (doc && alpaca_asset_from_json(doc, &as, perr, sizeof perr)) {
      snprintf(detail, sizeof detail, "the asset answer is malformed: %s",
               perr);
      line(&r, what, false, detail, ms);
    } else if (doc) {
      snprintf(detail, sizeof detail, "%s, %s%s%s",
               as.active ? "active" : "inactive",
               as.tradable ? "tradable" : "NOT TRADABLE",
               as.shortable ? ", shortable" : ", not shortable",
               as.fractionable ? ", fractionable" : "");
      line(&r, what, as.tradable && as.active, detail, ms);
    } else {
      line(&r, what, false, st == 404 ? "unknown to Alpaca" : why, ms);
    }
    json_decref(doc);
  }

  if (nsymbols) {
    char path[160];
    snprintf(path, sizeof path,
             "/v2/stocks/%s/bars?timeframe=1Min&limit=1&feed=%s", symbols[0],
             alpaca_feed_name(c->feed));
    get(dcl, path, &doc, &ms, why, sizeof why);
    snprintf(detail, sizeof detail, "%s: %s", c->data_url,
             doc ? "answers" : why);
    line(&r, "data API", doc != NULL, detail, ms);
    json_decref(doc);
  }

  stream_check(&r, "trading stream", c->stream_url, c, false);
  stream_check(&r, "data stream", c->data_stream_url, c, true);
  http_client_free(tcl);
  http_client_free(dcl);
  return r.failed ? 1 : 0;
}

/* ---- dto broker flatten --------------------------------------------------- */

/* A DELETE on cl: the status, or 0 with the reason in why. */
static int del(http_client *cl, const char *path, double *ms, char *why,
               size_t cap) {
  http_response resp;
  memset(&resp, 0, sizeof resp);
  int64_t t0 = clock_mono_ns();
  int rc = http_request(cl, HTTP_DELETE, path, NULL, &resp, why, cap);
  *ms = ms_since(t0);
  if (rc)
    return 0;
  int st = resp.status;
  if (st < 200 || st >= 300)
    status_why(&resp, why, cap);
  http_response_release(&resp);
  return st;
}

static bool in_list(const char *s, const char *const *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(s, v[i]))
      return true;
  return false;
}

int alpaca_flatten(const alpaca_conf *c, const char *const *symbols,
                   size_t nsymbols, bool all, FILE *out, bool json) {
  report r = {out, json, 0};
  char why[512], detail[600], path[200];
  http_conf hc;
  http_client *cl = NULL;
  alpaca_http_conf(c, false, &hc);
  if (http_client_new(&hc, &cl, why, sizeof why)) {
    line(&r, "trading API", false, why, -1);
    return 1;
  }
  double ms;
  json_t *doc;
  int st;
  /* the orders first: a working order could reopen what is closed */
  if (all) {
    st = del(cl, "/v2/orders", &ms, why, sizeof why);
    line(&r, "cancel all", st >= 200 && st < 300,
         st >= 200 && st < 300 ? "every open order of the account (DELETE "
                                 "/v2/orders)"
                               : why,
         ms);
  } else {
    st = get(cl, "/v2/orders?status=open&limit=500&nested=false", &doc, &ms,
             why, sizeof why);
    if (!doc) {
      line(&r, "open orders", false, why, ms);
    } else {
      size_t i, n = 0;
      json_t *v;
      json_array_foreach(doc, i, v) {
        const char *sym = json_string_value(json_object_get(v, "symbol"));
        const char *id = json_string_value(json_object_get(v, "id"));
        if (!sym || !id || !in_list(sym, symbols, nsymbols) ||
            strlen(id) > 64)
          continue;
        n++;
        snprintf(path, sizeof path, "/v2/orders/%s", id);
        st = del(cl, path, &ms, why, sizeof why);
        snprintf(detail, sizeof detail, "%s %s: %s", sym, id,
                 st >= 200 && st < 300 ? "canceled" : why);
        line(&r, "cancel", st >= 200 && st < 300, detail, ms);
      }
      json_decref(doc);
      if (!n)
        line(&r, "open orders", true,
             "none of the configured instruments", -1);
    }
  }
  /* then each position: Alpaca cancels what holds it and closes it with a
   * market order */
  st = get(cl, "/v2/positions", &doc, &ms, why, sizeof why);
  if (!doc) {
    line(&r, "positions", false, why, ms);
  } else {
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(doc, i, v) {
      const char *sym = json_string_value(json_object_get(v, "symbol"));
      const char *qty = json_string_value(json_object_get(v, "qty"));
      if (!sym || strlen(sym) > 32 ||
          (!all && !in_list(sym, symbols, nsymbols)))
        continue;
      n++;
      snprintf(path, sizeof path, "/v2/positions/%s", sym);
      st = del(cl, path, &ms, why, sizeof why);
      snprintf(detail, sizeof detail, "%s %s: %s", sym, qty ? qty : "?",
               st >= 200 && st < 300 ? "closing (a market order sent)" : why);
      line(&r, "close", st >= 200 && st < 300, detail, ms);
    }
    json_decref(doc);
    if (!n)
      line(&r, "positions", true,
           all ? "none in the account" : "none of the configured instruments",
           -1);
  }
  http_client_free(cl);
  return r.failed ? 1 : 0;
}
