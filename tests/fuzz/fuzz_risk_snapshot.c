/* fuzz_risk_snapshot.c - libFuzzer harness for risk_restore_snapshot().
 *
 * Feeds arbitrary bytes to a gate of 2 accounts, 2 strategies and 2
 * symbols with throttles, the fill-loop guard and the duplicate window on.
 * It must never crash, leak or read out of bounds (ASan); a refusal must
 * be DTO_EINVAL and leave the gate exactly as it was (its snapshot is
 * unchanged); an accepted snapshot must read back as a fixed point
 * (snapshot, restore into a fresh gate, snapshot gives the same bytes).
 * The seeds in corpus/fuzz_risk_snapshot are real snapshots.
 */
#include "core/prelude.h"

#include "core/buf.h"
#include "core/error.h"
#include "engine/risk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static risk *make(void) {
  static const uint32_t sacct[2] = {0, 1};
  risk_order_limits ol[2];
  memset(ol, 0, sizeof ol);
  for (int i = 0; i < 2; i++) {
    ol[i].dup_window = DTO_NS_PER_SEC;
    ol[i].set = RL_DUP_WINDOW;
  }
  risk_account_limits al[2];
  risk_strategy_limits sl[2];
  for (int i = 0; i < 2; i++) {
    risk_account_limits_init(&al[i]);
    al[i].max_orders_per_sec = 3;
    al[i].max_orders_per_min = 10;
    risk_strategy_limits_init(&sl[i]);
    sl[i].max_orders_per_sec = 2;
    sl[i].fill_loop_count = 3;
    sl[i].fill_loop_window = DTO_NS_PER_SEC;
  }
  risk_config c;
  memset(&c, 0, sizeof c);
  c.naccounts = c.nstrategies = c.nsyms = 2;
  c.strategy_account = sacct;
  c.account_orders = ol;
  c.accounts = al;
  c.strategies = sl;
  risk *r = NULL;
  DTO_ASSERT(risk_new(&c, &r) == 0);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  risk *r = make();
  dbuf before, after;
  dbuf_init(&before, SIZE_MAX / 2);
  dbuf_init(&after, SIZE_MAX / 2);
  DTO_ASSERT(risk_snapshot(r, &before) > 0);
  int rc = risk_restore_snapshot(r, data, size);
  DTO_ASSERT(rc == 0 || rc == DTO_EINVAL);
  DTO_ASSERT(risk_snapshot(r, &after) > 0);
  if (rc) {
    DTO_ASSERT(before.len == after.len &&
               !memcmp(before.ptr, after.ptr, before.len));
  } else {
    risk *r2 = make();
    DTO_ASSERT(risk_restore_snapshot(r2, after.ptr, after.len) == 0);
    dbuf again;
    dbuf_init(&again, SIZE_MAX / 2);
    DTO_ASSERT(risk_snapshot(r2, &again) == after.len);
    DTO_ASSERT(!memcmp(again.ptr, after.ptr, after.len));
    dbuf_release(&again);
    risk_free(r2);
  }
  dbuf_release(&before);
  dbuf_release(&after);
  risk_free(r);
  return 0;
}
