/* fuzz_checkpoint.c - libFuzzer harness for the engine's checkpoint reader
 * (engine_restore_snapshot), which reads what the journal's store holds.
 *
 * A damaged store must never crash dto or make it trade on garbage: every
 * input either is refused with a message, or restores an engine that then
 * snapshots again without error.  The seed (corpus/fuzz_checkpoint/) is a
 * real checkpoint of the configuration below after a traded session.
 */
#include "core/prelude.h"

#include "app/config.h"
#include "app/runner.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char yaml[] = "log_level: error\n"
                           "accounts:\n"
                           "  - id: main\n"
                           "    cash: 1000000\n"
                           "instruments:\n"
                           "  - symbol: AAA\n"
                           "    calendar: us_equity\n"
                           "  - symbol: BBB\n"
                           "    calendar: us_equity\n"
                           "strategies:\n"
                           "  - id: mac\n"
                           "    type: ma_crossover\n"
                           "    symbols: [AAA, BBB]\n"
                           "    params: {fast: 2, slow: 5}\n"
                           "  - id: orb\n"
                           "    type: orb\n"
                           "    symbols: [AAA, BBB]\n"
                           "    params: {range: 5m}\n";

static dto_config cfg;
static bool loaded;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  if (!loaded) {
    DTO_ASSERT(config_load_mem("f.yaml", yaml, strlen(yaml), NULL, &cfg,
                               err, sizeof err) == 0);
    loaded = true;
  }
  runner r;
  DTO_ASSERT(runner_init_session(&r, &cfg, NULL, 0, NULL, err,
                                 sizeof err) == 0);
  err[0] = '\0';
  int rc = engine_restore_snapshot(r.e, data, size, err, sizeof err);
  if (rc) {
    DTO_ASSERT(err[0] != '\0');
  } else {
    dbuf b;
    dbuf_init(&b, SIZE_MAX / 2);
    DTO_ASSERT(engine_snapshot(r.e, &b) == 0);
    dbuf_release(&b);
  }
  runner_release(&r);
  return 0;
}
