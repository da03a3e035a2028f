/* alpaca_conf.c - resolve the Alpaca connection settings (alpaca_conf.h).
 *
 * Pure functions over strings: a small URL splitter good enough for the
 * base URLs a broker configuration holds (scheme, authority, the rest), the
 * rules on top of it, and the precedence defaults < file < environment.
 */
#include "broker/alpaca_conf.h"
#include "broker/ws.h"

#include <arpa/inet.h>
#include <strings.h>

#include "app/config.h"
#include "broker/http.h"
#include "core/error.h"

#define ENV_KEY_ID "APCA_API_KEY_ID"
#define ENV_SECRET "APCA_API_SECRET_KEY"
#define ENV_BASE_URL "APCA_API_BASE_URL"
#define ENV_DATA_URL "APCA_API_DATA_URL"

const char *alpaca_feed_name(enum alpaca_feed f) {
  return f == ALPACA_FEED_IEX ? "iex" : f == ALPACA_FEED_SIP ? "sip" : "?";
}

const char *alpaca_src_name(enum alpaca_src s) {
  static const char *const names[] = {"default", "config", "env", "derived"};
  return (unsigned)s < DTO_ARRAY_LEN(names) ? names[s] : "?";
}

/* ---- URLs ---------------------------------------------------------------- */

typedef struct url_parts {
  char scheme[8];   /* lower case */
  const char *host; /* not NUL-terminated; without [ ] */
  size_t hostlen;
  const char *after_scheme; /* "host[:port]/..." */
} url_parts;

/* Split url; 0 or DTO_EINVAL with a reason in err. */
static int url_split(const char *url, url_parts *u, char *err, size_t cap) {
  memset(u, 0, sizeof *u);
  const char *sep = strstr(url, "://");
  size_t sl = sep ? (size_t)(sep - url) : 0;
  if (!sep || sl == 0 || sl >= sizeof u->scheme) {
    dto_seterr(err, cap, "'%.200s' is not a URL (scheme://host...)", url);
    return DTO_EINVAL;
  }
  for (size_t i = 0; i < sl; i++) {
    char ch = url[i];
    u->scheme[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  }
  const char *a = sep + 3;
  u->after_scheme = a;
  size_t alen = strcspn(a, "/?#");
  if (memchr(a, '@', alen)) {
    dto_seterr(err, cap,
               "'%.200s': no user name or password in a URL; the keys come "
               "from " ENV_KEY_ID " and " ENV_SECRET,
               url);
    return DTO_EINVAL;
  }
  const char *port = NULL;
  if (alen && a[0] == '[') {
    const char *close = memchr(a, ']', alen);
    if (!close) {
      dto_seterr(err, cap, "'%.200s': unterminated '[' in the host", url);
      return DTO_EINVAL;
    }
    u->host = a + 1;
    u->hostlen = (size_t)(close - a - 1);
    if (close + 1 < a + alen) {
      if (close[1] != ':') {
        dto_seterr(err, cap, "'%.200s': malformed host", url);
        return DTO_EINVAL;
      }
      port = close + 2;
    }
  } else {
    const char *colon = memchr(a, ':', alen);
    u->host = a;
    u->hostlen = colon ? (size_t)(colon - a) : alen;
    if (colon)
      port = colon + 1;
  }
  if (u->hostlen == 0) {
    dto_seterr(err, cap, "'%.200s': no host", url);
    return DTO_EINVAL;
  }
  if (port) {
    long p = 0;
    const char *e = a + alen;
    if (port == e) {
      dto_seterr(err, cap, "'%.200s': empty port", url);
      return DTO_EINVAL;
    }
    for (const char *q = port; q < e; q++) {
      if (*q < '0' || *q > '9' || p > 65535) {
        p = -1;
        break;
      }
      p = p * 10 + (*q - '0');
    }
    if (p < 1 || p > 65535) {
      dto_seterr(err, cap, "'%.200s': the port must be 1 to 65535", url);
      return DTO_EINVAL;
    }
  }
  return 0;
}

static bool host_is(const url_parts *u, const char *name) {
  return u->hostlen == strlen(name) && !strncasecmp(u->host, name, u->hostlen);
}

/* 127.0.0.0/8, ::1 or localhost (the one rule: ws_host_is_loopback). */
static bool host_is_loopback(const url_parts *u) {
  char h[64];
  if (u->hostlen >= sizeof h)
    return false;
  memcpy(h, u->host, u->hostlen);
  h[u->hostlen] = '\0';
  return ws_host_is_loopback(h);
}

int alpaca_url_check(const char *url, enum alpaca_url_kind kind, char *err,
                     size_t cap) {
  url_parts u;
  int rc;
  if (!url || !*url) {
    dto_seterr(err, cap, "empty URL");
    return DTO_EINVAL;
  }
  if (strlen(url) >= ALPACA_URL_MAX) {
    dto_seterr(err, cap, "URL longer than %d characters", ALPACA_URL_MAX - 1);
    return DTO_EINVAL;
  }
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
      dto_seterr(err, cap,
                 "URL with a space, a control or a non-ASCII character");
      return DTO_EINVAL;
    }
  if ((rc = url_split(url, &u, err, cap)))
    return rc;
  const char *tls = kind == ALPACA_URL_REST ? "https" : "wss";
  const char *plain = kind == ALPACA_URL_REST ? "http" : "ws";
  if (!strcmp(u.scheme, plain)) {
    if (!host_is_loopback(&u)) {
      dto_seterr(err, cap,
                 "'%.200s': %s:// (no TLS) is allowed only to a loopback host "
                 "(127.0.0.0/8, ::1, localhost); use %s://",
                 url, plain, tls);
      return DTO_EINVAL;
    }
  } else if (strcmp(u.scheme, tls)) {
    dto_seterr(err, cap, "'%.200s': expected a %s:// URL", url, tls);
    return DTO_EINVAL;
  }
  if (kind == ALPACA_URL_REST && strpbrk(url, "?#")) {
    dto_seterr(err, cap, "'%.200s': a base URL has no query or fragment", url);
    return DTO_EINVAL;
  }
  return 0;
}

int alpaca_url_check_live(const char *url, bool live, char *err, size_t cap) {
  url_parts u;
  int rc = url_split(url, &u, err, cap);
  if (rc)
    return rc;
  if (!live && host_is(&u, ALPACA_LIVE_HOST)) {
    dto_seterr(err, cap,
               "'%.200s' is Alpaca's live trading host (real money) but "
               "'live' is false; set live: true to trade live",
               url);
    return DTO_EINVAL;
  }
  if (live && host_is(&u, ALPACA_PAPER_HOST)) {
    dto_seterr(err, cap,
               "'%.200s' is Alpaca's paper trading host but 'live' is true",
               url);
    return DTO_EINVAL;
  }
  return 0;
}

/* ---- resolution ---------------------------------------------------------- */

static const char *env_get(const char *const *envp, const char *name) {
  const char *v = NULL;
  if (!envp) {
    v = getenv(name);
  } else {
    size_t n = strlen(name);
    for (const char *const *e = envp; *e; e++)
      if (!strncmp(*e, name, n) && (*e)[n] == '=') {
        v = *e + n + 1;
        break;
      }
  }
  return v && *v ? v : NULL;
}

/* Copy url into out (ALPACA_URL_MAX), without trailing '/'s when strip. */
static void url_copy(char out[ALPACA_URL_MAX], const char *url, bool strip) {
  size_t n = strlen(url);
  DTO_ASSERT(n < ALPACA_URL_MAX);
  if (strip) {
    const char *a = strstr(url, "://");
    size_t min = a ? (size_t)(a - url) + 3 : 0;
    while (n > min + 1 && url[n - 1] == '/')
      n--;
  }
  memcpy(out, url, n);
  out[n] = '\0';
}

/* Check one URL and copy it; what names its source in the message. */
static int take_url(char out[ALPACA_URL_MAX], const char *url,
                    enum alpaca_url_kind kind, bool live_rule, bool live,
                    const char *what, char *err, size_t cap) {
  char why[400];
  int rc = alpaca_url_check(url, kind, why, sizeof why);
  if (!rc && live_rule)
    rc = alpaca_url_check_live(url, live, why, sizeof why);
  if (rc) {
    dto_seterr(err, cap, "%s: %s", what, why);
    return rc;
  }
  url_copy(out, url, kind == ALPACA_URL_REST);
  return 0;
}

static int take_key(char out[ALPACA_KEY_MAX], const char *const *envp,
                    const char *name, char *err, size_t cap) {
  const char *v = env_get(envp, name);
  if (!v) {
    dto_seterr(err, cap,
               "%s is not set: the Alpaca API keys come from the environment "
               "(" ENV_KEY_ID " and " ENV_SECRET "), never from the "
               "configuration file",
               name);
    return DTO_ECONFIG;
  }
  size_t n = strlen(v);
  if (n >= ALPACA_KEY_MAX) {
    dto_seterr(err, cap, "%s is longer than %d characters", name,
               ALPACA_KEY_MAX - 1);
    return DTO_ECONFIG;
  }
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f) {
      dto_seterr(err, cap,
                 "%s holds a space, a control or a non-ASCII character "
                 "(character %zu)",
                 name, i + 1);
      return DTO_ECONFIG;
    }
  memcpy(out, v, n + 1);
  return 0;
}

void alpaca_conf_wipe(alpaca_conf *c) { explicit_bzero(c, sizeof *c); }

int alpaca_conf_resolve(const struct cfg_alpaca *c, const char *const *envp,
                        alpaca_conf *out, char *err, size_t cap) {
  cfg_alpaca def;
  const char *v;
  int rc;

  if (err && cap)
    err[0] = '\0';
  if (!c) {
    config_alpaca_defaults(&def);
    c = &def;
  }
  memset(out, 0, sizeof *out);
  out->live = c->live;
  out->feed = c->feed;
  out->connect_timeout = c->connect_timeout;
  out->request_timeout = c->request_timeout;
  out->retries = c->retries;
  out->backoff = c->backoff;
  out->max_backoff = c->max_backoff;
  out->rate_limit_per_min = c->rate_limit_per_min;
  if ((unsigned)c->feed >= ALPACA_FEED_COUNT || c->connect_timeout <= 0 ||
      c->request_timeout < c->connect_timeout || c->retries < 0 ||
      c->retries > 10 || c->backoff < 0 || c->max_backoff < c->backoff ||
      c->rate_limit_per_min <= 0) {
    dto_seterr(err, cap, "alpaca: settings out of range");
    rc = DTO_EINVAL;
    goto fail;
  }

  /* trading REST: env > file > paper or live default */
  if ((v = env_get(envp, ENV_BASE_URL))) {
    out->trading_src = ALPACA_SRC_ENV;
    rc = take_url(out->trading_url, v, ALPACA_URL_REST, true, c->live,
                  ENV_BASE_URL, err, cap);
  } else if (c->trading_url) {
    out->trading_src = ALPACA_SRC_CONFIG;
    rc = take_url(out->trading_url, c->trading_url, ALPACA_URL_REST, true,
                  c->live, "alpaca.trading_url", err, cap);
  } else {
    out->trading_src = ALPACA_SRC_DEFAULT;
    rc =
        take_url(out->trading_url, c->live ? ALPACA_LIVE_URL : ALPACA_PAPER_URL,
                 ALPACA_URL_REST, true, c->live, "default", err, cap);
  }
  if (rc)
    goto fail;

  /* market data REST: env > file > default */
  if ((v = env_get(envp, ENV_DATA_URL))) {
    out->data_src = ALPACA_SRC_ENV;
    rc = take_url(out->data_url, v, ALPACA_URL_REST, false, c->live,
                  ENV_DATA_URL, err, cap);
  } else {
    out->data_src = c->data_url ? ALPACA_SRC_CONFIG : ALPACA_SRC_DEFAULT;
    rc = take_url(out->data_url, c->data_url ? c->data_url : ALPACA_DATA_URL,
                  ALPACA_URL_REST, false, c->live, "alpaca.data_url", err, cap);
  }
  if (rc)
    goto fail;

  /* trading stream: the file, else the trading URL with wss and /stream */
  if (c->stream_url) {
    out->stream_src = ALPACA_SRC_CONFIG;
    rc = take_url(out->stream_url, c->stream_url, ALPACA_URL_STREAM, true,
                  c->live, "alpaca.stream_url", err, cap);
  } else {
    char d[ALPACA_URL_MAX + 16];
    const char *rest = strstr(out->trading_url, "://") + 3;
    bool tls = !strncasecmp(out->trading_url, "https:", 6);
    snprintf(d, sizeof d, "%s://%s/stream", tls ? "wss" : "ws", rest);
    out->stream_src = ALPACA_SRC_DERIVED;
    rc = take_url(out->stream_url, d, ALPACA_URL_STREAM, true, c->live,
                  "the trading stream URL derived from the trading URL", err,
                  cap);
  }
  if (rc)
    goto fail;

  /* market data stream: the file, else Alpaca's for the feed */
  if (c->data_stream_url) {
    out->data_stream_src = ALPACA_SRC_CONFIG;
    rc = take_url(out->data_stream_url, c->data_stream_url, ALPACA_URL_STREAM,
                  false, c->live, "alpaca.data_stream_url", err, cap);
  } else {
    char d[ALPACA_URL_MAX];
    snprintf(d, sizeof d, ALPACA_DATA_STREAM_BASE "/%s",
             alpaca_feed_name(c->feed));
    out->data_stream_src = ALPACA_SRC_DERIVED;
    rc = take_url(out->data_stream_url, d, ALPACA_URL_STREAM, false, c->live,
                  "default", err, cap);
  }
  if (rc)
    goto fail;

  if ((rc = take_key(out->key_id, envp, ENV_KEY_ID, err, cap)) ||
      (rc = take_key(out->secret, envp, ENV_SECRET, err, cap)))
    goto fail;
  return 0;

fail:
  alpaca_conf_wipe(out);
  return rc;
}

void alpaca_http_conf(const alpaca_conf *c, bool data, struct http_conf *h) {
  memset(h, 0, sizeof *h);
  h->base_url = data ? c->data_url : c->trading_url;
  h->headers[0] = (http_header){"APCA-API-KEY-ID", c->key_id};
  h->headers[1] = (http_header){"APCA-API-SECRET-KEY", c->secret};
  h->nheaders = 2;
  h->connect_timeout = c->connect_timeout;
  h->request_timeout = c->request_timeout;
  h->retries = c->retries;
  h->backoff = c->backoff;
  h->max_backoff = c->max_backoff;
  h->rate_limit_per_min = c->rate_limit_per_min;
}
