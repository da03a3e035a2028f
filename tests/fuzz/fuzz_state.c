/* fuzz_state.c - libFuzzer harness for the run state file parser
 * (state_parse, which state_read runs on dto.state).
 *
 * It must never crash, leak or read past the input.  A file that does not
 * parse fails closed (engaged, with a one-line printable message starting
 * with the name); one that parses survives a round trip: state_format of
 * the result parses back to the same state, and formatting that again
 * gives the same text.
 */
#include "core/prelude.h"

#include "app/state.h"
#include "core/alloc.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const run_state *a, const run_state *b) {
  return a->killed == b->killed && !strcmp(a->by, b->by) &&
         !strcmp(a->at, b->at) && !strcmp(a->reason, b->reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = xmalloc(size ? size : 1);
  if (size)
    memcpy(buf, data, size);
  run_state st;
  char err[512];
  int rc = state_parse("fuzz.state", buf, size, &st, err, sizeof err);
  if (rc == 0) {
    char text[512], again[512];
    size_t n = state_format(&st, text, sizeof text);
    DTO_ASSERT(n > 0);
    run_state back;
    DTO_ASSERT(state_parse("x", text, n, &back, err, sizeof err) == 0);
    DTO_ASSERT(same(&st, &back));
    size_t m = state_format(&back, again, sizeof again);
    DTO_ASSERT(m == n && !memcmp(text, again, n));
  } else {
    DTO_ASSERT(rc == DTO_EPARSE);
    DTO_ASSERT(st.killed); /* fail closed */
    DTO_ASSERT(!strncmp(err, "fuzz.state", 10));
    size_t len = strnlen(err, sizeof err);
    DTO_ASSERT(len < sizeof err);
    for (size_t i = 0; i < len; i++)
      DTO_ASSERT((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
  }
  free(buf);
  return 0;
}
