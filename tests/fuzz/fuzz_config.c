/* fuzz_config.c - libFuzzer harness for the YAML configuration loader.
 *
 * Feeds arbitrary bytes to config_load_mem().  It must never crash, leak
 * (LeakSanitizer runs at exit) or loop; on failure it must write exactly one
 * line that starts with the file name, and on success the config must be
 * internally consistent (strategy references in range).
 */
#include "core/prelude.h"

#include "app/config.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dto_config cfg;
  char err[CFG_ERR_MAX];
  int rc = config_load_mem("fuzz.yaml", (const char *)data, size, "/base", &cfg,
                           err, sizeof err);
  if (rc == 0) {
    DTO_ASSERT(cfg.naccounts >= 1);
    for (size_t i = 0; i < cfg.nstrategies; i++) {
      const cfg_strategy *s = &cfg.strategies[i];
      DTO_ASSERT(s->def != NULL && s->account < cfg.naccounts);
      DTO_ASSERT(s->nsyms >= 1);
      for (size_t k = 0; k < s->nsyms; k++)
        DTO_ASSERT(s->syms[k] < cfg.instruments.n);
      DTO_ASSERT(s->allocation > 0 &&
                 s->allocation <= cfg.accounts[s->account].cash);
    }
    for (size_t i = 0; i < cfg.ndata; i++)
      DTO_ASSERT(cfg.data[i].path && cfg.data[i].path[0]);
    config_release(&cfg);
  } else {
    DTO_ASSERT(rc == DTO_ECONFIG);
    DTO_ASSERT(!strncmp(err, "fuzz.yaml:", 10));
    for (const char *p = err; *p; p++)
      DTO_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
    DTO_ASSERT(cfg.accounts == NULL && cfg.path == NULL);
  }
  return 0;
}
