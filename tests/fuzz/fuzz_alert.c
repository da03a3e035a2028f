/* fuzz_alert.c - libFuzzer harness for alert rule expressions and the
 * Prometheus text a metric set renders.
 *
 * The input's first line is an alert expression for alert_rule_expr; the
 * rest is label values.  The parser may only succeed or say DTO_EPARSE
 * with a message, never crash, and leaves the rule as it was on failure.
 * A parsed rule is evaluated against a set whose samples carry the input's
 * label values (escaped on output): the rendered text has as many sample
 * lines as samples, each one line, and the manager's listing is valid
 * enough to hold every alert it made.
 */
#include "core/prelude.h"

#include <math.h>

#include "core/buf.h"
#include "core/error.h"
#include "ops/alert.h"
#include "ops/prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_notify(void *ctx, const char *ch, const notify_msg *m) {
  (void)ch;
  DTO_ASSERT(m->nalerts >= 1 && m->nalerts <= NOTIFY_MAX_ALERTS);
  (*(int *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096)
    return 0;
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  char *nl = memchr(s, '\n', size);
  char *rest = nl ? nl + 1 : s + size;
  if (nl)
    *nl = '\0';
  alert_rule r, keep;
  memset(&r, 0x5a, sizeof r);
  keep = r;
  char err[256] = "";
  int rc = alert_rule_expr(&r, s, err, sizeof err);
  DTO_ASSERT(rc == 0 || rc == DTO_EPARSE);
  if (rc) {
    DTO_ASSERT(err[0] && !memcmp(&r, &keep, sizeof r));
    free(s);
    return 0;
  }
  snprintf(r.name, sizeof r.name, "Fuzz");
  r.for_ = 0;
  r.sev = SEV_CRITICAL;
  r.nl = 0;
  r.summary[0] = '\0';
  /* a set of the rule's metric with the rest's lines as label values */
  mset *m = mset_new();
  mset_family(m, r.metric, MT_GAUGE, "fuzz");
  int n = 0;
  for (char *p = rest; n < 16;) {
    char *e = strchr(p, '\n');
    if (e)
      *e = '\0';
    double v = (double)(n * 37 % 11) - 3;
    if (n == 5)
      v = NAN;
    /* a matcher's label name when it is one a sample may carry */
    const char *k2 = n < r.nm && strncmp(r.m[n].key, "__", 2) &&
                             strcmp(r.m[n].key, "k")
                         ? r.m[n].key
                         : "other";
    mset_add(m, v, "k", p, k2, n < r.nm ? r.m[n].val : p, NULL);
    n++;
    if (!e)
      break;
    p = e + 1;
  }
  dbuf b;
  dbuf_init(&b, 1u << 22);
  mset_render(m, &b);
  size_t lines = 0;
  for (size_t i = 0; i < b.len; i++)
    lines += b.ptr[i] == '\n';
  DTO_ASSERT(lines == (size_t)n + 2); /* HELP, TYPE, one line a sample */
  alert_conf c;
  alert_conf_defaults(&c);
  c.rules = &r;
  c.nrules = 1;
  snprintf(c.routes[SEV_CRITICAL].ch[0], NOTIFY_NAME_MAX, "x");
  c.routes[SEV_CRITICAL].nch = 1;
  int sent = 0;
  alert_sink sk = {.notify = on_notify, .ctx = &sent};
  alert_mgr *a = alert_mgr_new(&c, &sk);
  alert_eval(a, 1000 * DTO_NS_PER_SEC, m);
  alert_counts ac;
  alert_counts_get(a, &ac);
  DTO_ASSERT(ac.firing[SEV_CRITICAL] <= n);
  DTO_ASSERT((ac.firing[SEV_CRITICAL] > 0) == (sent > 0));
  dbuf_reset(&b);
  alert_list_json(a, 1000 * DTO_NS_PER_SEC, &b);
  DTO_ASSERT(b.len >= 2 && b.ptr[0] == '[');
  alert_mgr_free(a);
  dbuf_release(&b);
  mset_free(m);
  free(s);
  return 0;
}
