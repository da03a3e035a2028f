/* fuzz_backup.c - libFuzzer harness for the backup archive reader
 * (ops/backup_fmt.h).
 *
 * The first input byte says what the rest is:
 *   even: a whole archive, verified with a fixed key (the header, chunk
 *         framing, truncation, authentication);
 *   odd:  a plaintext record stream, sealed with the fixed key first
 *         (backup__seal_mem, chunk size 256) and then verified, so the
 *         record parser, the JSON, zstd and the checksums see arbitrary
 *         but authenticated bytes, which random archives never reach.
 * Neither may crash, trip a sanitizer, return a code the header does not
 * document, give a manifest on failure or none on success, or quote the
 * key in a message (unless the input holds the key's hex, say as a file
 * name a message quotes: the fuzzer learns it from this very check), or
 * hold much memory: max_file_size is 64 KiB here so a zstd bomb stays
 * cheap, and the reader's own caps bound the rest (run with
 * -malloc_limit_mb=32 to check).
 *
 * Seeds (tests/fuzz/corpus/fuzz_backup/) come from test_backup_fmt run
 * with DTO_BACKUP_SEED_DIR set, with the same key.
 */
#include "core/prelude.h"

#include <jansson.h>

#include "core/buf.h"
#include "core/error.h"
#include "ops/backup_fmt.h"

#define FUZZ_KEY(i) ((uint8_t)((i)*7 + 1)) /* as test_backup_fmt.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *a, size_t n, const uint8_t key[32],
                  const char *key_hex, bool echo_ok) {
  backup_opts o = {.max_file_size = 64 * 1024};
  json_t *m = (json_t *)1;
  char err[512] = "";
  int rc = backup__verify_mem(a, n, key, &o, &m, err, sizeof err);
  DTO_ASSERT(rc == 0 || rc == DTO_EPARSE || rc == DTO_EREJECT ||
             rc == DTO_EUNSUPPORTED || rc == DTO_ETOOBIG);
  if (rc) {
    DTO_ASSERT(m == NULL);
    DTO_ASSERT(strncmp(err, "backup (memory): ", 17) == 0);
    /* (unless the input itself carries it, say as a file's name, which a
     * message may quote) */
    DTO_ASSERT(strstr(err, key_hex) == NULL || echo_ok);
    return;
  }
  DTO_ASSERT(m != NULL);
  json_t *files = json_object_get(m, "files");
  DTO_ASSERT(json_is_array(files));
  DTO_ASSERT(json_array_size(files) <= BACKUP_FILES_MAX);
  json_decref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t key[BACKUP_KEY_BYTES];
  char key_hex[2 * BACKUP_KEY_BYTES + 1];
  for (int i = 0; i < BACKUP_KEY_BYTES; i++) {
    key[i] = FUZZ_KEY(i);
    snprintf(key_hex + 2 * i, 3, "%02x", key[i]);
  }
  bool echo_ok = memmem(data, size, key_hex, 2 * BACKUP_KEY_BYTES) != NULL;
  /* A heap copy of exactly the input, so ASan sees any read past it. */
  size_t n = size - 1;
  uint8_t *rest = malloc(n ? n : 1);
  DTO_ASSERT(rest);
  if (n)
    memcpy(rest, data + 1, n);
  if ((data[0] & 1) == 0) {
    check(rest, n, key, key_hex, echo_ok);
  } else {
    dbuf sealed;
    dbuf_init(&sealed, 1u << 20);
    DTO_ASSERT(backup__seal_mem(key, 256, rest, n, &sealed) == 0);
    check((const uint8_t *)sealed.ptr, sealed.len, key, key_hex, echo_ok);
    dbuf_release(&sealed);
  }
  free(rest);
  return 0;
}
