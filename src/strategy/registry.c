/* registry.c - the built-in strategies, by name. */
#include "core/prelude.h"

#include "engine/strategy.h"

extern const strategy_def strategy_ma_crossover;
extern const strategy_def strategy_orb;
extern const strategy_def strategy_vwap_reversion;

static const strategy_def *const all[] = {
    &strategy_ma_crossover,
    &strategy_orb,
    &strategy_vwap_reversion,
};

const strategy_def *strategy_find(const char *name) {
  for (size_t i = 0; i < DTO_ARRAY_LEN(all); i++)
    if (!strcmp(all[i]->name, name))
      return all[i];
  return NULL;
}

const char *strategy_names(void) { return "ma_crossover, orb, vwap_reversion"; }

const strategy_def *const *strategy_all(size_t *n) {
  *n = DTO_ARRAY_LEN(all);
  return all;
}
