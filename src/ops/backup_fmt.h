/* backup_fmt.h - dto's backup archive: named byte streams, compressed
 * (zstd) and encrypted (libsodium's secretstream, XChaCha20-Poly1305) into
 * one file, and read back only after every byte has been authenticated.
 *
 * This is the container of the `dto backup` commands and nothing more: it
 * knows no store, journal or configuration.  The caller decides which files
 * go in (a consistent copy of the store, say) and what the manifest's extra
 * fields say; this module packs them, checks them and unpacks them.  Every
 * path streams through fixed buffers: no file is ever held in memory whole.
 *
 * ---- archive layout (format version 1; integers little-endian) ----------
 *
 * A fixed plaintext header of BACKUP_HEADER_BYTES (56) bytes:
 *
 *   offset size
 *    0      8   magic "DTOBAK1\0"
 *    8      2   format version, 1
 *   10      2   flags, 0 (any other value: not supported)
 *   12      4   chunk size CS: plaintext bytes per chunk,
 *               BACKUP_CHUNK_MIN..BACKUP_CHUNK_MAX (the writer's default is
 *               65536)
 *   16      8   key id: the first 8 bytes of SHA-256(key), so a wrong key
 *               is told apart from a damaged archive (the key itself cannot
 *               be recovered from it: it is 256 random bits)
 *   24     24   the secretstream header (crypto_secretstream_xchacha20poly
 *               1305_init_push's nonce)
 *   48      8   header check: the first 8 bytes of SHA-256(bytes 0..47),
 *               so a damaged header is told apart from a wrong key
 *
 * then chunks 0, 1, ... N-1, each exactly CS + 17 bytes (secretstream's
 * ABYTES): crypto_secretstream_xchacha20poly1305_push of exactly CS
 * plaintext bytes, with additional data = the 56 header bytes followed by
 * the chunk's index as 8 bytes (u64), and tag TAG_MESSAGE on every chunk
 * but the last, which has TAG_FINAL.  Nothing follows the final chunk.
 * Hence:
 *   - a chunk moved, swapped or taken from another archive fails
 *     authentication (index and header are bound to it);
 *   - a file cut short ends inside a chunk (its size is not
 *     56 + k * (CS + 17)) or before the TAG_FINAL chunk: "truncated";
 *   - every header byte is covered twice: by the header check and, through
 *     the additional data, by every chunk.
 *
 * The plaintext stream (the chunks' plaintexts, concatenated) is a sequence
 * of records, each "type (1 byte) | length L (u32) | L bytes":
 *
 *   'M' manifest (first record, exactly once; L <= BACKUP_MANIFEST_MAX):
 *       compact JSON {"format":1, "kind":K, "created":"YYYY-MM-DDTHH:MM:SSZ"
 *       (UTC, whole seconds), "dto_version":V, ...the caller's extra
 *       fields}
 *   then for each file, in the order added:
 *   'F' file start (9 <= L <= 8 + BACKUP_NAME_MAX): the file's size (u64)
 *       then its name (L - 8 bytes, see backup_name_ok)
 *   'D' data (1 <= L <= BACKUP_DATA_MAX), zero or more: the next bytes of
 *       the file's compressed form, one zstd frame in all (written with
 *       the size pledged, no zstd checksum: the SHA-256 below covers it)
 *   'E' file end (L = 40): the size again (u64) and the SHA-256 of the
 *       file's uncompressed bytes (32 bytes); the frame must be complete
 *   and last:
 *   'T' trailer (L <= 16 + BACKUP_TRAILER_ENTRY_MAX * the number of F
 *       records): compact JSON {"files":[{"name":N, "size":S,
 *       "sha256":"64 lowercase hex digits"}, ...]}, one entry per file in
 *       archive order, equal to the F/E records
 *
 * The trailer ends in the final chunk, and the rest of that chunk is zero
 * bytes (padding, checked).  The table of files is known only at the end,
 * which is why it is a trailer: a reader that wants the whole manifest
 * reads the whole archive (backup_read_manifest decrypts every chunk).
 *
 * ---- limits against a hostile archive ------------------------------------
 * Every length read from an archive is checked against its limit (the
 * constants below; the trailer's grows with the files actually read)
 * before anything is allocated or read for it, and JSON records grow in
 * memory only as their authenticated bytes arrive; the trailer may hold no
 * more JSON values than its files need.  A file's decompressed bytes may
 * not pass its declared size, which may not pass opts->max_file_size;
 * zstd's window is capped at 8 MiB (BACKUP_WINDOW_LOG_MAX).  A reader
 * therefore holds some 25 MiB at most whatever the archive says (far less
 * for a normal one), and its work is bounded by the archive's length and
 * the declared sizes.
 *
 * ---- errors ---------------------------------------------------------------
 * Functions return 0 or a DTO_E* code, and err (cap bytes, may be NULL when
 * cap is 0) gets one line for an operator, "backup PATH: ...":
 *   DTO_EPARSE      not a dto backup; header damaged; truncated (chunk K
 *                   missing / cut short; the archive ends early); chunk K
 *                   failed authentication (corrupt or tampered); data after
 *                   the final chunk; file 'NAME' checksum mismatch;
 *                   malformed contents (authenticated but not this format:
 *                   a bug, or someone holding the key)
 *   DTO_EREJECT     wrong key (key id X, the archive's is Y)
 *   DTO_EUNSUPPORTED a format version, flags or chunk size this dto does not
 *                   read
 *   DTO_ETOOBIG     a declared length or size above a limit
 *   DTO_EEXIST      the archive (writer) or an extracted file exists
 *                   already; a name added twice
 *   DTO_EINVAL      a bad argument (name, level, extra JSON, key text)
 *   DTO_ESTATE      a writer used after an earlier failure
 *   DTO_EAGAIN      a source file changed while the writer read it
 *   others          an I/O error, mapped from errno
 * No message ever contains key material.
 *
 * Thread-safety: nothing is shared between calls; a writer is used by one
 * thread at a time, and reads may run in parallel.
 */
#ifndef DTO_OPS_BACKUP_FMT_H
#define DTO_OPS_BACKUP_FMT_H

#include <jansson.h>

#include "core/buf.h"
#include "core/prelude.h"

#define BACKUP_KEY_BYTES 32
#define BACKUP_KEY_ID_BYTES 8
#define BACKUP_HEADER_BYTES 56
#define BACKUP_FORMAT_VERSION 1
#define BACKUP_CHUNK_MIN 256
#define BACKUP_CHUNK_MAX 65536
#define BACKUP_CHUNK_DEFAULT 65536
#define BACKUP_NAME_MAX 128             /* bytes of a file's name */
#define BACKUP_FILES_MAX 10000          /* files in one archive */
#define BACKUP_MANIFEST_MAX (64u << 10) /* bytes of the 'M' record */
#define BACKUP_TRAILER_ENTRY_MAX 256u   /* per file in the 'T' record */
#define BACKUP_TRAILER_MAX (16u + BACKUP_TRAILER_ENTRY_MAX * BACKUP_FILES_MAX)
#define BACKUP_DATA_MAX (128u << 10)      /* bytes of one 'D' record */
#define BACKUP_FILE_SIZE_MAX (1ull << 40) /* default max_file_size: 1 TiB */
#define BACKUP_WINDOW_LOG_MAX 23          /* zstd window: 8 MiB */
#define BACKUP_LEVEL_DEFAULT 3
#define BACKUP_LEVEL_MAX 19 /* higher zstd levels need larger windows */

/* Progress of a long operation: done of total bytes (total 0: unknown).
 * Called from the working thread at most every 250 ms, and once more with
 * the final figures when the operation succeeds; it must return quickly
 * (the caller draws it, e.g. with core/progress.h). */
typedef void backup_progress_fn(void *ctx, uint64_t done, uint64_t total);

/* Options; a NULL pointer or a zeroed struct means every default. */
typedef struct backup_opts {
  int level;              /* writer: zstd level 1..19; 0 = 3 */
  uint32_t chunk_size;    /* writer: CS, 256..65536; 0 = 65536 */
  dto_time created;       /* writer: the manifest's time; 0 = the real clock */
  uint64_t total;         /* writer: bytes the caller will add, for progress */
  uint64_t max_file_size; /* readers: refuse a larger file; 0 = 1 TiB */
  backup_progress_fn *progress; /* NULL: none */
  void *progress_ctx;
} backup_opts;

/* ---- keys ---------------------------------------------------------------- */

/* Load the 32-byte key: from the environment variable env_name when it is
 * set and not empty (exactly 64 hexadecimal digits), else from file (64
 * hexadecimal digits, optionally one "\n"), which must be a regular file of
 * mode 0600 or stricter: a file readable or writable by group or others is
 * refused ("FILE: readable or writable by group or others (mode 0644)
 * ...").  Either
 * name may be NULL.  Errors: DTO_ENOENT when neither gives a key, DTO_EINVAL
 * for bad text or a lax mode, an I/O code for an unreadable file; the
 * message names the variable or the file, never its content. */
int backup_key_load(const char *env_name, const char *file,
                    uint8_t key[BACKUP_KEY_BYTES], char *err, size_t cap);

/* Create file holding a new random key (64 hex digits and "\n"), mode 0600,
 * fsynced along with its folder.  Refuses to replace anything (DTO_EEXIST:
 * an existing key may be the only way to read old backups).  key, when not
 * NULL, receives the new key.  On failure nothing is left behind. */
int backup_key_generate(const char *file, uint8_t key[BACKUP_KEY_BYTES],
                        char *err, size_t cap);

/* The key id as 16 lowercase hex digits and a NUL (what the header holds;
 * safe to show and log). */
void backup_key_id_hex(const uint8_t key[BACKUP_KEY_BYTES], char out[17]);

/* True for a name a file may have in an archive: 1..BACKUP_NAME_MAX bytes
 * of [A-Za-z0-9._-], not starting with '.'.  Flat on purpose: names become
 * file names on extraction, so none can climb out of the folder. */
bool backup_name_ok(const char *name, size_t len);

/* ---- writing ------------------------------------------------------------- */

typedef struct backup_writer backup_writer;

/* Start an archive at path, which must not exist (DTO_EEXIST): nothing
 * appears there until backup_writer_close succeeds, as the bytes go to a
 * temporary file "PATH.tmp.XXXXXX" (core/fileio.h), mode 0600.  kind is a
 * short label ("full", ...); extra_json (may be NULL) is a JSON object whose
 * members are added to the manifest, and may not use the names format,
 * kind, created, dto_version or files (DTO_EINVAL); the manifest may take
 * BACKUP_MANIFEST_MAX bytes (DTO_ETOOBIG).  key is copied.  On success
 * *out is the caller's, to be closed or aborted. */
int backup_writer_open(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                       const char *kind, const char *extra_json,
                       const backup_opts *opts, backup_writer **out, char *err,
                       size_t cap);

/* Add the regular file src_path under name, streamed.  Its size is taken
 * when it is opened; a file that grows or shrinks while being read fails
 * ("changed while being read": back up a stable copy).  An error found
 * before anything was written (a bad or duplicate name, a missing source)
 * leaves the writer usable; any later one fails the writer (every call
 * after it returns DTO_ESTATE, and close removes the temporary file). */
int backup_writer_add_file(backup_writer *w, const char *name,
                           const char *src_path, char *err, size_t cap);

/* Add n bytes at p (the caller's, only read) under name; as add_file. */
int backup_writer_add_bytes(backup_writer *w, const char *name, const void *p,
                            size_t n, char *err, size_t cap);

/* Finish: the trailer and the final chunk, then fsync, rename onto path,
 * fsync the folder.  Frees w whatever happens; on failure the temporary
 * file is removed and no archive is at path.  Write errors (a full disk)
 * are found here at the latest. */
int backup_writer_close(backup_writer *w, char *err, size_t cap);

/* Give up: remove the temporary file and free w.  NULL does nothing. */
void backup_writer_abort(backup_writer *w);

/* ---- reading --------------------------------------------------------------
 * Each function reads the whole archive and succeeds only when every chunk
 * authenticated, the final chunk was reached and the records made sense.
 * On success *manifest (when manifest is not NULL) is a new reference the
 * caller must json_decref: the 'M' object with "files" set to the trailer's
 * table.  On failure *manifest is NULL. */

/* Decrypt every chunk and return the manifest, without decompressing the
 * files or checking their SHA-256 (cheaper than backup_verify: the
 * authenticated trailer is trusted for sizes and checksums). */
int backup_read_manifest(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                         const backup_opts *opts, json_t **manifest, char *err,
                         size_t cap);

/* The manifest alone (without "files"): the header and only the chunks the
 * 'M' record spans are read and authenticated, so it costs the same for
 * any archive size.  Damage further on is not noticed: for listing, never
 * for trusting the contents (backup_verify, backup_extract). */
int backup_read_head(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                     json_t **manifest, char *err, size_t cap);

/* Full check without writing anything: decrypt, decompress, and compare
 * each file's size and SHA-256 with what the writer recorded. */
int backup_verify(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                  const backup_opts *opts, json_t **manifest, char *err,
                  size_t cap);

/* Verify and unpack into dest_dir, which must exist.  The files are
 * written (mode 0600, each fsynced) into a new folder
 * dest_dir/.partial-XXXXXX (no archived name starts with '.') and renamed
 * into dest_dir only once the whole archive verified, then dest_dir is
 * fsynced; a name that exists in dest_dir already is not replaced
 * (DTO_EEXIST, checked before any rename, and the rename itself refuses
 * to replace).  On any failure everything this call wrote is removed. */
int backup_extract(const char *path, const uint8_t key[BACKUP_KEY_BYTES],
                   const char *dest_dir, const backup_opts *opts,
                   json_t **manifest, char *err, size_t cap);

/* ---- for tests and the fuzz harness -------------------------------------- */

/* backup_verify of an archive held in memory (messages say "(memory)"). */
int backup__verify_mem(const void *data, size_t len,
                       const uint8_t key[BACKUP_KEY_BYTES],
                       const backup_opts *opts, json_t **manifest, char *err,
                       size_t cap);

/* Seal an arbitrary plaintext stream (len bytes at plain) as an archive
 * with chunk size cs (256..65536; asserted), appending it to out (out->max
 * must allow it, else DTO_ETOOBIG): the header, the chunks, the last one
 * zero-padded and TAG_FINAL.  Lets tests and the fuzzer build archives
 * whose records are wrong but whose cryptography is right. */
int backup__seal_mem(const uint8_t key[BACKUP_KEY_BYTES], uint32_t cs,
                     const void *plain, size_t len, dbuf *out);

#endif
