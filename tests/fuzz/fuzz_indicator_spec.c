/* fuzz_indicator_spec.c - libFuzzer harness for indicator_parse().
 *
 * Specs come from the command line and strategy configs.  The first bytes
 * (up to a NUL) are the spec; what follows drives a few bars.  Parsing must
 * never crash; an error must come with a printable one-line reason; a
 * success must give a consistent indicator (named outputs, values exactly
 * when the warm-up says so, finite values for positive prices).
 */
#include "core/prelude.h"

#include "core/error.h"
#include "market/indicators.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char spec[IND_SPEC_MAX * 2];
  size_t n = 0;
  while (n < size && n < sizeof spec - 1 && data[n])
    n++;
  memcpy(spec, data, n);
  spec[n] = '\0';
  const uint8_t *rest = data + n;
  size_t nrest = size - n;

  indicator *ind = malloc(sizeof *ind);
  char err[128];
  DTO_ASSERT(ind != NULL);
  int rc = indicator_parse(spec, ind, err, sizeof err);
  if (rc != 0) {
    DTO_ASSERT(rc == DTO_EPARSE || rc == DTO_ERANGE || rc == DTO_ETOOBIG);
    DTO_ASSERT(err[0] != '\0');
    for (const char *p = err; *p; p++)
      DTO_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
    free(ind);
    return 0;
  }
  size_t outs = indicator_outputs(ind);
  char name[IND_NAME_MAX];
  DTO_ASSERT(outs >= 1 && outs <= IND_MAX_OUTPUTS);
  for (size_t i = 0; i < outs; i++) {
    DTO_ASSERT(indicator_output_name(ind, i, name, sizeof name) == name);
    DTO_ASSERT(strlen(name) < sizeof name - 1 && name[0]);
  }
  /* Bars: every byte is a price 1..256 with volume 1 (so VWAPs warm up). */
  for (size_t k = 0; k < nrest; k++) {
    bar b;
    memset(&b, 0, sizeof b);
    b.close = b.open = (fx)(rest[k] + 1) * FX_ONE;
    b.high = b.close + FX_ONE;
    b.low = b.close - FX_ONE / 2;
    b.volume = FX_ONE;
    indicator_update(ind, &b);
    for (size_t i = 0; i < outs; i++) {
      double v;
      bool ready = indicator_value(ind, i, &v);
      DTO_ASSERT(ready == ((int)k + 1 >= indicator_warmup(ind, i)));
      if (ready)
        DTO_ASSERT(isfinite(v));
    }
  }
  free(ind);
  return 0;
}
