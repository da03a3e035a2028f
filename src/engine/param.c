/* param.c - parsing and range checks for strategy parameters. */
#include "engine/param.h"

#include <errno.h>
#include <math.h>

#include "core/error.h"
#include "core/timeutil.h"

static const char *const type_names[] = {"integer", "decimal", "number",
                                         "boolean", "choice", "duration"};

const char *param_type_name(enum param_type t) {
  return (unsigned)t < PARAM_TYPE_COUNT ? type_names[t] : "?";
}

static int range_err(const param_spec *s, char *buf, size_t cap) {
  snprintf(buf, cap, "must be between %.15g and %.15g", s->min, s->max);
  return DTO_ERANGE;
}

/* strtoll and strtod skip leading white space; dto's parsers do not. */
static bool starts_blank(const char *s) {
  return *s == ' ' || (*s >= '\t' && *s <= '\r');
}

int param_parse(const param_spec *spec, const char *text, param_value *out,
                char *buf, size_t cap) {
  memset(out, 0, sizeof *out);
  if (!text) {
    snprintf(buf, cap, "missing value");
    return DTO_EPARSE;
  }
  switch (spec->type) {
  case PARAM_INT: {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || starts_blank(text) || (errno && errno != ERANGE)) {
      snprintf(buf, cap, "expected an integer");
      return DTO_EPARSE;
    }
    if (errno == ERANGE) /* well-formed but beyond 64 bits */
      return range_err(spec, buf, cap);
    if ((double)v < spec->min || (double)v > spec->max)
      return range_err(spec, buf, cap);
    out->u.i = v;
    break;
  }
  case PARAM_FX: {
    fx v;
    int rc = fx_parse_cstr(text, &v);
    if (rc == DTO_EOVERFLOW)
      return range_err(spec, buf, cap);
    if (rc) {
      snprintf(buf, cap, "expected a decimal number");
      return DTO_EPARSE;
    }
    double d = fx_to_double(v);
    if (d < spec->min || d > spec->max)
      return range_err(spec, buf, cap);
    out->u.f = v;
    break;
  }
  case PARAM_DOUBLE: {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || starts_blank(text) || errno || !isfinite(v)) {
      snprintf(buf, cap, "expected a number");
      return DTO_EPARSE;
    }
    if (v < spec->min || v > spec->max)
      return range_err(spec, buf, cap);
    out->u.d = v;
    break;
  }
  case PARAM_BOOL:
    if (!strcmp(text, "true"))
      out->u.b = true;
    else if (!strcmp(text, "false"))
      out->u.b = false;
    else {
      snprintf(buf, cap, "expected true or false");
      return DTO_EPARSE;
    }
    break;
  case PARAM_ENUM: {
    int i;
    for (i = 0; spec->choices && spec->choices[i]; i++)
      if (!strcmp(text, spec->choices[i]))
        break;
    if (!spec->choices || !spec->choices[i]) {
      size_t n = (size_t)snprintf(buf, cap, "expected one of:");
      for (int k = 0; spec->choices && spec->choices[k] && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, " %s", spec->choices[k]);
      return DTO_EPARSE;
    }
    out->u.e = i;
    break;
  }
  case PARAM_DURATION: {
    /* A bare 0 needs no unit: "exit_before_close: 0" reads as YAML writes
     * it.  Any other number without a unit is ambiguous and refused. */
    dto_time d = 0;
    int rc = strcmp(text, "0") ? duration_parse(text, &d) : 0;
    if (rc && rc != DTO_ERANGE) {
      snprintf(buf, cap, "expected a duration such as 30s, 5m or 1h");
      return DTO_EPARSE;
    }
    double secs = (double)d / 1e9;
    if (rc || secs < spec->min || secs > spec->max) {
      snprintf(buf, cap, "must be between %.15gs and %.15gs", spec->min,
               spec->max);
      return DTO_ERANGE;
    }
    out->u.dur = d;
    break;
  }
  default:
    snprintf(buf, cap, "unknown parameter type");
    return DTO_EINVAL;
  }
  out->set = true;
  return 0;
}

int param_defaults(const param_spec *specs, size_t n, param_value *vals) {
  char buf[128];
  int missing = -1;
  for (size_t i = 0; i < n; i++) {
    memset(&vals[i], 0, sizeof vals[i]);
    if (!specs[i].def) {
      if (missing < 0)
        missing = (int)i;
      continue;
    }
    int rc = param_parse(&specs[i], specs[i].def, &vals[i], buf, sizeof buf);
    DTO_ASSERT(rc == 0); /* a built-in default must be valid */
    vals[i].set = false;
  }
  return missing;
}

int param_find(const param_spec *specs, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(specs[i].name, name))
      return (int)i;
  return -1;
}
