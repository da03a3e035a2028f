# dto - top-level Makefile.
#
#   make            build build/release/dto
#   make check      install deps, build with -Werror + ASan/UBSan, run every test
#   make demo       install deps, build, backtest the built-in strategies on sample data
#   make bench      build optimised, run the benchmarks (results: bench/README.md)
#   make fuzz       run the libFuzzer harnesses for longer (FUZZ_SECONDS each)
#   make install PREFIX=/usr/local
#
# Sources are found by wildcard: every src/<module>/*.c goes into libdto.a,
# src/cli/*.c into the dto binary, every tests/unit/test_*.c is one cmocka
# test program, every tests/fuzz/fuzz_*.c one libFuzzer harness.

PREFIX ?= /usr/local
# V=1 shows full commands
ifeq ($(V),1)
  Q :=
else
  Q := @
endif
CC ?= cc
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_RUNS ?= 20000

WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wvla -fno-common
DEFS := -D_GNU_SOURCE
INC := -Isrc $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
LIBS := -lyaml -ljansson -lsqlite3 -lpq -lxxhash -lsystemd -lcurl -lwebsockets \
        -lmicrohttpd -lgnutls -lsodium -lzstd -lm -lpthread

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GITREV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DEFS += -DDTO_VERSION=\"$(VERSION)\" -DDTO_GITREV=\"$(GITREV)\"

LIB_SRC := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC := $(wildcard bench/bench_*.c)

# Build modes: release (default), check (sanitizers, -Werror), tsan
# (ThreadSanitizer, -Werror; the threaded code's tests), bench.
MODE ?= release
ifeq ($(MODE),check)
  CFLAGS_MODE := -O1 -g -Werror -fsanitize=address,undefined \
                 -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  LDFLAGS_MODE := -fsanitize=address,undefined
else ifeq ($(MODE),tsan)
  CFLAGS_MODE := -O1 -g -Werror -fsanitize=thread -fno-omit-frame-pointer
  LDFLAGS_MODE := -fsanitize=thread
else ifeq ($(MODE),bench)
  CFLAGS_MODE := -O3 -g -DNDEBUG
  LDFLAGS_MODE :=
else
  CFLAGS_MODE := -O2 -g
  LDFLAGS_MODE :=
endif

# BUILD: the build folder (several checkouts or agents may build side by side)
BUILD ?= build
B := $(BUILD)/$(MODE)
ALL_CFLAGS := $(WARN) $(DEFS) $(INC) $(CFLAGS_MODE) $(CFLAGS) -MMD -MP
ALL_LDFLAGS := $(LDFLAGS_MODE) $(LDFLAGS)

# The common-password list is generated into each build folder (see
# "generated sources" below) and is one more object of libdto.a.
# Generated sources (below): the common-password list and the OpenAPI JSON.
GEN_NAMES := common_passwords openapi_json
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o) $(GEN_NAMES:%=$(B)/obj/gen/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all dto check unit tsan test-store-pg integration fuzz-smoke fuzz demo bench install deps clean format lint
.DEFAULT_GOAL := all
# keep the objects of pattern chains (fuzz harnesses) between runs
.SECONDARY:

all: $(B)/dto

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<  [$(MODE)]")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libdto.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(B)/dto: $(CLI_OBJ) $(B)/libdto.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(B)/libdto.a $(LIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libdto.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(B)/libdto.a $(ALL_LDFLAGS) -lcmocka $(LIBS)

$(B)/bench/%: bench/%.c $(B)/libdto.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libdto.a $(ALL_LDFLAGS) $(LIBS)

deps:
	@scripts/deps.sh

# ---- generated sources ---------------------------------------------------
# The 10,000 common passwords auth_password_check() refuses come from
# python3-zxcvbn at build time and are never committed (the package owns the
# list).  Each build folder generates its own copy (the pattern's stem is
# the folder: $(B) or $(FB)), rebuilt when the script changes, and compiles
# it with that folder's compiler and flags.
PYTHON ?= /usr/bin/python3
GEN_PW := scripts/gen-common-passwords.py

%/gen/common_passwords.c: $(GEN_PW)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)$(PYTHON) $(GEN_PW) $@

# docs/openapi.yaml, served as JSON at /api/v1/openapi.json: converted at
# build time (python3-yaml), so the document people edit is the one served.
GEN_OPENAPI := scripts/openapi-json.py
%/gen/openapi_json.c: $(GEN_OPENAPI) docs/openapi.yaml
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)$(PYTHON) $(GEN_OPENAPI) docs/openapi.yaml $@

$(B)/obj/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<  [$(MODE)]")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# The SQL migrations are embedded in the binary through a generated source
# file that is committed (so every build sees it through the wildcard above)
# and regenerated whenever a migration changes; test_store checks it is in
# sync with the .sql files.
src/store/migrations_gen.c: scripts/embed-migrations.sh $(wildcard src/store/migrations/*/*.sql)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)scripts/embed-migrations.sh $@

# ---- tests -------------------------------------------------------------
check: deps
	@$(MAKE) --no-print-directory MODE=check $(BUILD)/check/dto unit-bins
	@$(MAKE) --no-print-directory MODE=check unit
	@$(MAKE) --no-print-directory tsan
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory MODE=check test-store-pg
	@$(MAKE) --no-print-directory MODE=check integration

unit-bins: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

# The unit tests of threaded code again under ThreadSanitizer, in their own
# build folder $(BUILD)/tsan; add a test's name to TSAN_TESTS to have it
# run there too.  halt_on_error makes any report fail the program.
TSAN_TESTS ?= test_inq test_ctl test_session_svc test_bridge test_http test_alpaca_md test_alpaca_trade \
              test_auth test_httpd test_notify test_alert test_prom test_binfile
TSAN_BIN := $(TSAN_TESTS:%=$(BUILD)/tsan/tests/%)
tsan:
	@$(MAKE) --no-print-directory MODE=tsan $(TSAN_BIN)
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 $${TSAN_OPTIONS:-}" \
	  scripts/run-unit.sh $(TSAN_BIN)

# The storage conformance suite and the journal tests (the writer, and dto
# run's journal path through a full disk) against one throwaway PostgreSQL
# server (scripts/pg-test.sh), stopped afterwards whether they pass or not.
# Each program also runs its SQLite cases again here; they are quick.
PG_TESTS := $(B)/tests/test_store $(B)/tests/test_journal \
            $(B)/tests/test_runner_store $(B)/tests/test_checkpoint
test-store-pg: $(PG_TESTS)
	@scripts/pg-test.sh run scripts/run-unit.sh $(abspath $(PG_TESTS))

integration: $(B)/dto
	DTO_BIN=$(abspath $(B)/dto) DTO_SHARED=$(abspath ../shared) \
	  /usr/bin/python3 -m pytest -q tests/integration

# ---- soak: the long crash loop (200 SIGKILLs of dto run with a journal) --
SOAK_KILLS ?= 200
soak: deps
	@$(MAKE) --no-print-directory MODE=check $(BUILD)/check/dto
	DTO_BIN=$(abspath $(BUILD)/check/dto) DTO_SOAK_KILLS=$(SOAK_KILLS) \
	  /usr/bin/python3 -m pytest -q tests/integration/test_recovery.py

# ---- fuzzing (clang + libFuzzer) ----------------------------------------
FB := $(BUILD)/fuzz
FUZZ_CFLAGS := $(WARN) $(DEFS) $(INC) -O1 -g -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FB)/obj/%.o) $(GEN_NAMES:%=$(FB)/obj/gen/%.o)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/%)

$(FB)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<  [fuzz]")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FB)/obj/gen/%.o: $(FB)/gen/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<  [fuzz]")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FB)/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LIBS)

fuzz-smoke: $(FUZZ_BIN)
	@FUZZ_DIR=$(FB) scripts/run-fuzz.sh smoke $(FUZZ_SMOKE_RUNS) $(FUZZ_BIN)

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@FUZZ_DIR=$(FB) scripts/run-fuzz.sh long $(FUZZ_SECONDS) $(FUZZ_BIN)

# ---- demo and bench -----------------------------------------------------
demo: deps
	@$(MAKE) --no-print-directory MODE=release $(BUILD)/release/dto
	@scripts/demo.sh $(BUILD)/release/dto

bench: deps
	@$(MAKE) --no-print-directory MODE=bench $(BUILD)/bench/dto $(BENCH_SRC:bench/%.c=$(BUILD)/bench/bench/%)
	@scripts/bench.sh $(BUILD)/bench

install: $(B)/dto
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/dto/config
	install -m 0755 $(B)/dto $(DESTDIR)$(PREFIX)/bin/dto
	install -m 0644 config/dto.example.yaml $(DESTDIR)$(PREFIX)/share/dto/config/

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'bench/*.c')

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d)
