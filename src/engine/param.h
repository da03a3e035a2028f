/* param.h - typed, range-checked strategy parameters.
 *
 * A strategy declares its parameters as a table of param_spec; the config
 * loader parses each value with param_parse() (and reports the file, line
 * and column itself), then the strategy reads them by index.  Parsing is the
 * only place text becomes a parameter value, so every strategy gets the same
 * checks and the same error messages.
 */
#ifndef DTO_ENGINE_PARAM_H
#define DTO_ENGINE_PARAM_H

#include "core/fx.h"
#include "core/prelude.h"

enum param_type {
  PARAM_INT,      /* integer, range [min, max] */
  PARAM_FX,       /* decimal as fx, range [min, max] in units */
  PARAM_DOUBLE,   /* real, range [min, max] */
  PARAM_BOOL,     /* true/false */
  PARAM_ENUM,     /* one of choices; value is the index */
  PARAM_DURATION, /* "5m", "30s"... or a bare "0"; range [min, max] in
                     seconds */
  PARAM_TYPE_COUNT
};

typedef struct param_spec {
  const char *name;
  enum param_type type;
  const char *def; /* default, as text; NULL means required */
  double min, max; /* inclusive range for numeric types */
  const char *const *choices; /* PARAM_ENUM: NULL-terminated list */
  const char *help;           /* one line for docs and --help */
} param_spec;

typedef struct param_value {
  union {
    int64_t i;
    fx f;
    double d;
    bool b;
    int e;
    dto_time dur;
  } u;
  bool set; /* given in the config (false: default applied) */
} param_value;

/* Parse text (NUL-terminated, no surrounding blanks) for spec into *out and
 * set out->set.  On failure returns DTO_EPARSE (malformed: "expected an
 * integer", "expected one of: a b c"...), DTO_ERANGE (well-formed but out of
 * [min, max], also when too large to represent: "must be between 1 and 500")
 * or DTO_EINVAL (bad spec type), writes that reason, without the parameter's
 * name, into reason_buf (reason_cap bytes, truncated to fit), and leaves *out
 * zeroed. */
int param_parse(const param_spec *spec, const char *text, param_value *out,
                char *reason_buf, size_t reason_cap);

/* Fill vals[0..n) with the defaults of specs; returns the index of the first
 * required parameter without a default, or -1 when all are set. */
int param_defaults(const param_spec *specs, size_t n, param_value *vals);

/* Index of name in specs, or -1. */
int param_find(const param_spec *specs, size_t n, const char *name);

const char *param_type_name(enum param_type t);

#endif
