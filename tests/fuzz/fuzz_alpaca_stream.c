/* fuzz_alpaca_stream.c - libFuzzer harness for the Alpaca stream parsers
 * (broker/alpaca_json.c): trade_updates messages with the report each
 * implies, market data frames, and the execution-id set.
 *
 * The input goes, as exactly its own bytes in a heap copy of that size, to
 * alpaca_stream_parse and alpaca_md_parse.  Nothing may crash or trip the
 * sanitizers; codes are the documented ones; a fill report carries this
 * execution's positive qty and price; a market data frame reports no more
 * messages than its room; a non-empty execution id is seen once, then
 * again as a duplicate.
 */
#include "core/prelude.h"

#include "broker/alpaca_json.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool code_ok(int rc) {
  return rc == 0 || rc == DTO_EPARSE || rc == DTO_ERANGE ||
         rc == DTO_EUNSUPPORTED || rc == DTO_EFULL || rc == DTO_ETOOBIG;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size ? size : 1);
  DTO_ASSERT(s);
  if (size)
    memcpy(s, data, size);
  char err[200] = "";

  alpaca_stream_msg m;
  int rc = alpaca_stream_parse(s, size, &m, err, sizeof err);
  DTO_ASSERT(code_ok(rc) && strnlen(err, sizeof err) < sizeof err);
  if (rc)
    DTO_ASSERT(err[0]);
  if (rc == 0 && m.kind == ALPACA_ST_TRADE_UPDATE) {
    const alpaca_trade_update *u = &m.update;
    DTO_ASSERT((unsigned)u->event < ALPACA_EV_COUNT);
    broker_report r;
    int k = alpaca_event_report(u, &r, err, sizeof err);
    DTO_ASSERT(k == 0 || k == 1 || k == DTO_EPARSE);
    if (k == 1) {
      DTO_ASSERT((unsigned)r.kind < REP_KIND_COUNT);
      DTO_ASSERT(r.id == ORDER_NONE && r.ts == u->timestamp);
      if (r.kind == REP_FILL)
        DTO_ASSERT(r.qty == u->qty && r.qty > 0 && r.price > 0);
    }
    if (u->execution_id[0]) {
      alpaca_exec_seen *seen = alpaca_exec_seen_new(2);
      DTO_ASSERT(alpaca_exec_seen_check(seen, u->execution_id) == 0);
      DTO_ASSERT(alpaca_exec_seen_check(seen, u->execution_id) == 1);
      alpaca_exec_seen_free(seen);
    }
  }

  alpaca_md_msg md[6];
  size_t n = 99;
  rc = alpaca_md_parse(s, size, md, 6, &n, err, sizeof err);
  DTO_ASSERT(code_ok(rc) && strnlen(err, sizeof err) < sizeof err);
  DTO_ASSERT(n <= 6);
  for (size_t i = 0; i < n; i++) {
    DTO_ASSERT((unsigned)md[i].kind < ALPACA_MD_COUNT);
    DTO_ASSERT(memchr(md[i].symbol, '\0', sizeof md[i].symbol));
    DTO_ASSERT(memchr(md[i].msg, '\0', sizeof md[i].msg));
    if (md[i].kind == ALPACA_MD_TRADE)
      DTO_ASSERT(md[i].trade.size >= 0);
  }
  free(s);
  return 0;
}
