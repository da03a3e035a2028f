/* instrument.c - the instrument table. */
#include "market/instrument.h"

#include "core/alloc.h"
#include "core/error.h"

void instruments_init(instrument_table *t) {
  t->v = NULL;
  t->n = t->cap = 0;
}

void instruments_release(instrument_table *t) {
  free(t->v);
  instruments_init(t);
}

bool symbol_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= SYMBOL_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == '/'))
      return false;
  }
  return true;
}

int instruments_add(instrument_table *t, const instrument *ins, sym_id *id) {
  if (!symbol_valid(ins->symbol) || ins->tick <= 0 || ins->lot <= 0)
    return DTO_EINVAL;
  if (instruments_find(t, ins->symbol) != SYM_NONE)
    return DTO_EEXIST;
  t->v = xgrow(t->v, &t->cap, t->n + 1, sizeof *t->v);
  t->v[t->n] = *ins;
  if (id)
    *id = (sym_id)t->n;
  t->n++;
  return 0;
}

sym_id instruments_find(const instrument_table *t, const char *symbol) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->v[i].symbol, symbol))
      return (sym_id)i;
  return SYM_NONE;
}

static const char *const class_names[] = {"equity", "crypto"};

const char *asset_class_name(enum asset_class a) {
  return (unsigned)a < ASSET_CLASS_COUNT ? class_names[a] : "?";
}

int asset_class_parse(const char *s, enum asset_class *out) {
  for (int i = 0; i < ASSET_CLASS_COUNT; i++)
    if (!strcmp(s, class_names[i])) {
      *out = (enum asset_class)i;
      return 0;
    }
  return DTO_EINVAL;
}
