/* fuzz_ctl.c - libFuzzer harness for the control channel's request parser
 * (ctl_parse, which the server runs on every line a client sends) and its
 * answer writer (ctl_answer_json).
 *
 * It must never crash, leak or read past the input (held in a buffer of
 * exactly its size, not NUL-terminated).  A refused line leaves the
 * command all zero and a bad_request answer with a message; an accepted
 * one has only bounded, control-free strings, its required fields, and
 * survives a round trip: the command written back as a request (by
 * jansson, an independent writer) parses to the same command.  Either way
 * the answer line is valid JSON that gives the id back.
 */
#include "core/prelude.h"

#include <jansson.h>

#include "app/ctl.h"
#include "core/alloc.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t cap) {
  size_t n = strnlen(s, cap);
  DTO_ASSERT(n < cap);
  for (size_t i = 0; i < n; i++)
    DTO_ASSERT((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void put(json_t *o, const char *key, const char *v) {
  if (v[0])
    DTO_ASSERT(json_object_set_new(o, key, json_string(v)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = xmalloc(size ? size : 1);
  if (size)
    memcpy(buf, data, size);
  svc_cmd cmd;
  svc_answer ans;
  char id[SVC_NAME_MAX];
  int rc = ctl_parse(buf, size, &cmd, &ans, id, sizeof id);
  check_str(id, sizeof id);
  if (rc == 0) {
    DTO_ASSERT((unsigned)cmd.op < SVC_OP_COUNT);
    DTO_ASSERT(cmd.who[0] == '\0');
    check_str(cmd.order, sizeof cmd.order);
    check_str(cmd.account, sizeof cmd.account);
    check_str(cmd.strategy, sizeof cmd.strategy);
    check_str(cmd.symbol, sizeof cmd.symbol);
    check_str(cmd.limit, sizeof cmd.limit);
    check_str(cmd.value, sizeof cmd.value);
    check_str(cmd.reason, sizeof cmd.reason);
    if (cmd.op == SVC_CANCEL)
      DTO_ASSERT(cmd.order[0]);
    if (cmd.op == SVC_PAUSE || cmd.op == SVC_RESUME)
      DTO_ASSERT(cmd.strategy[0]);
    if (cmd.op == SVC_SET_LIMIT)
      DTO_ASSERT(cmd.limit[0] && cmd.value[0] &&
                 !(cmd.account[0] && cmd.strategy[0]));

    json_t *o = json_object();
    put(o, "cmd", svc_op_name(cmd.op));
    put(o, "id", id);
    put(o, "order", cmd.order);
    put(o, "account", cmd.account);
    put(o, "strategy", cmd.strategy);
    put(o, "symbol", cmd.symbol);
    put(o, "limit", cmd.limit);
    put(o, "value", cmd.value);
    put(o, "reason", cmd.reason);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    DTO_ASSERT(text);
    svc_cmd back;
    svc_answer ans2;
    char id2[SVC_NAME_MAX];
    DTO_ASSERT(ctl_parse(text, strlen(text), &back, &ans2, id2, sizeof id2) ==
               0);
    DTO_ASSERT(!memcmp(&back, &cmd, sizeof cmd));
    DTO_ASSERT(!strcmp(id, id2));
    free(text);
    svc_answer_set(&ans, SVC_OK, NULL, "ok");
  } else {
    DTO_ASSERT(rc == DTO_EINVAL);
    DTO_ASSERT(ans.status == SVC_BAD_REQUEST);
    DTO_ASSERT(ans.message[0]);
    svc_cmd zero;
    memset(&zero, 0, sizeof zero);
    DTO_ASSERT(!memcmp(&cmd, &zero, sizeof cmd));
  }

  dbuf b;
  dbuf_init(&b, 64 * 1024);
  ctl_answer_json(id, &ans, &b);
  DTO_ASSERT(b.len > 0 && b.ptr[b.len - 1] == '\n');
  DTO_ASSERT(!memchr(b.ptr, '\n', b.len - 1));
  json_error_t je;
  json_t *a = json_loadb(b.ptr, b.len, 0, &je);
  DTO_ASSERT(a != NULL);
  DTO_ASSERT(json_is_boolean(json_object_get(a, "ok")));
  json_t *jid = json_object_get(a, "id");
  if (id[0])
    DTO_ASSERT(json_is_string(jid) && !strcmp(json_string_value(jid), id));
  else
    DTO_ASSERT(json_is_null(jid));
  json_decref(a);
  dbuf_release(&b);
  free(buf);
  return 0;
}
