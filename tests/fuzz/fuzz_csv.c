/* fuzz_csv.c - libFuzzer harness for the CSV bar and trade readers.
 *
 * Feeds arbitrary bytes to read_bars_csv_mem() and read_trades_csv_mem(),
 * with and without skip_bad_rows, without an instrument table and with a
 * small one, and with read_opts.sym naming an instrument, none (SYM_NONE)
 * or an index past the table; symbol columns in the input name instruments
 * or not.  It must never crash, leak or read past the input (the bytes are
 * copied into a buffer of exactly their size).  On success every bar and
 * trade is consistent, within the value bound, in order per symbol and has
 * an instrument (an index into the table, or o->sym without one, never
 * SYM_NONE); on failure the output is untouched and the message is one
 * printable line that starts with the name.
 */
#include "core/prelude.h"

#include "core/alloc.h"
#include "core/error.h"
#include "market/bounds.h"
#include "market/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const char *err) {
  size_t n = strnlen(err, 512);
  DTO_ASSERT(n < 512);
  for (size_t i = 0; i < n; i++)
    DTO_ASSERT((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
}

/* Is sym a valid instrument for a row read with o (nsyms in the table)? */
static bool sym_ok(sym_id sym, const read_opts *o, size_t nsyms) {
  if (o->instruments)
    return sym < nsyms;
  return sym == o->sym && sym != SYM_NONE;
}

static void run_bars(const char *buf, size_t size, const read_opts *o,
                     size_t nsyms) {
  bar_vec v = {0};
  read_result r;
  int rc = read_bars_csv_mem("fuzz.csv", buf, size, o, &v, &r);
  check_msg(r.err);
  if (rc == 0) {
    DTO_ASSERT(r.rows == v.n);
    DTO_ASSERT(r.bad_rows == 0 || o->skip_bad_rows);
    DTO_ASSERT(r.err[0] == '\0' || !strncmp(r.err, "fuzz.csv:", 9));
    for (size_t i = 0; i < v.n; i++) {
      const bar *b = &v.v[i];
      DTO_ASSERT(bar_check(b) == NULL);
      DTO_ASSERT(market_bar_over(b) == NULL);
      DTO_ASSERT(b->dur > 0);
      DTO_ASSERT(sym_ok(b->sym, o, nsyms));
      DTO_ASSERT(b->ts >= o->from && b->ts < o->to);
      for (size_t j = i; j-- > 0;)
        if (v.v[j].sym == b->sym) {
          DTO_ASSERT(v.v[j].ts < b->ts);
          break;
        }
    }
    DTO_ASSERT(!r.no_symbol);
  } else {
    DTO_ASSERT(rc < 0 && v.n == 0 && r.rows == 0);
    DTO_ASSERT(!strncmp(r.err, "fuzz.csv:", 9));
    DTO_ASSERT(!r.no_symbol || rc == DTO_EINVAL);
  }
  bar_vec_release(&v);
}

static void run_trades(const char *buf, size_t size, const read_opts *o,
                       size_t nsyms) {
  trade_vec v = {0};
  read_result r;
  int rc = read_trades_csv_mem("fuzz.csv", buf, size, o, &v, &r);
  check_msg(r.err);
  if (rc == 0) {
    DTO_ASSERT(r.rows == v.n);
    for (size_t i = 0; i < v.n; i++) {
      DTO_ASSERT(v.v[i].price > 0 && v.v[i].size > 0);
      DTO_ASSERT(v.v[i].price <= MARKET_VALUE_MAX &&
                 v.v[i].size <= MARKET_VALUE_MAX);
      DTO_ASSERT(sym_ok(v.v[i].sym, o, nsyms));
    }
  } else {
    DTO_ASSERT(v.n == 0 && !strncmp(r.err, "fuzz.csv:", 9));
  }
  trade_vec_release(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = xmalloc(size ? size : 1);
  if (size)
    memcpy(buf, data, size);

  instrument_table t;
  instruments_init(&t);
  static const char *const names[] = {"AAPL", "MSFT", "BTC/USD"};
  for (size_t i = 0; i < DTO_ARRAY_LEN(names); i++) {
    instrument ins;
    memset(&ins, 0, sizeof ins);
    memcpy(ins.symbol, names[i], strlen(names[i]) + 1);
    ins.tick = 1;
    ins.lot = 1;
    instruments_add(&t, &ins, NULL);
  }

  /* o.sym for files without a symbol column: instruments, and not. */
  static const sym_id syms[] = {0, 2, SYM_NONE, 3};
  for (int mode = 0; mode < 4; mode++)
    for (size_t k = 0; k < DTO_ARRAY_LEN(syms); k++) {
      read_opts o;
      read_opts_init(&o);
      o.quiet = true;
      o.skip_bad_rows = mode & 1;
      o.sym = syms[k];
      if (mode & 2) {
        o.instruments = &t;
        o.from = 1704067200LL * DTO_NS_PER_SEC; /* 2024-01-01 */
        o.to = 1767225600LL * DTO_NS_PER_SEC;   /* 2026-01-01 */
      }
      run_bars(buf, size, &o, t.n);
      run_trades(buf, size, &o, t.n);
    }
  instruments_release(&t);
  free(buf);
  return 0;
}
