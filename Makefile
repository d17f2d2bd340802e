# easel - one plain Makefile. `make help` lists the targets.
#
# Sources are found by wildcard: every pkg/<module>/*.c goes into
# build/libeasel.a, cmd/easel/*.c links it into build/easel, and every
# tests/{unit,integration}/test_*.c becomes one test program.

BUILD    ?= build
CC       ?= cc
SANITIZE ?=
V        ?= 0

# libvips is compiled against but not linked: pkg/imaging/vips_dl.c loads it
# when a mode that handles pixels starts (see vips_dl.h for why).
PKGS     := libcurl libcjson yaml-0.1 hiredis libpq libwebsockets openssl
VIPSPKG  := vips
TESTPKGS := cmocka

ifeq ($(V),0)
Q := @
else
Q :=
endif

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

# pkg-config is evaluated lazily, after deps are installed.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(VIPSPKG) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# tests and benches that call libvips themselves link it as usual
VIPS_LIBS  = $(shell pkg-config --libs $(VIPSPKG) 2>/dev/null)
VIPS_SONAME = $(eval VIPS_SONAME := $$(shell objdump -p "$$(pkg-config --variable=libdir $(VIPSPKG) 2>/dev/null)/libvips.so" 2>/dev/null | awk '/SONAME/{print $$$$2}'))$(VIPS_SONAME)
TEST_LIBS  = $(shell pkg-config --libs $(TESTPKGS) 2>/dev/null)

CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
            -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wno-missing-field-initializers
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -MMD -MP \
             -DEASEL_VERSION='"$(VERSION)"' -DEASEL_COMMIT='"$(COMMIT)"' \
             $(if $(VIPS_SONAME),-DEASEL_VIPS_SONAME='"$(VIPS_SONAME)"') \
             $(PKG_CFLAGS) -pthread
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN      := -fsanitize=address,undefined
endif
LDFLAGS  ?=
LDLIBS   = $(PKG_LIBS) -ldl -pthread -lm

PKG_SRC   := $(sort $(wildcard pkg/*/*.c))
CMD_SRC   := $(sort $(wildcard cmd/easel/*.c))
TLIB_SRC  := $(sort $(wildcard tests/lib/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
INT_SRC   := $(sort $(wildcard tests/integration/test_*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))

PKG_OBJ   := $(PKG_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/openapi.o
CMD_OBJ   := $(CMD_SRC:%.c=$(BUILD)/obj/%.o)
TLIB_OBJ  := $(TLIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INT_BIN   := $(INT_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
# Each fuzz target is linked twice: with replay_main.c by the normal
# compiler (make test replays its corpus and regressions), and with
# libFuzzer by clang (make fuzz, in build-fuzz/).
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 60
FUZZ_CC   ?= clang

LIB := $(BUILD)/libeasel.a
BIN := $(BUILD)/easel
DEPS_STAMP := $(BUILD)/.deps-ok

.DEFAULT_GOAL := all
# object files of tests are intermediates of a chain; keep them between runs
.SECONDARY:

.PHONY: all help deps test test-build test-unit test-integration test-e2e test-asan \
        demo bench clean checksrc docs-check fuzz fuzz-build

all: $(BIN) ## Build build/easel (the default)

# every target meant to be typed has a "## what it does" on its rule line
help: ## List the targets with a line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: $(DEPS_STAMP) ## Install missing Debian packages (hack/install-deps.sh)

# Runs the installer only when something is missing; the stamp records that
# everything was found so later builds skip the check.
$(DEPS_STAMP): hack/install-deps.sh
	$(Q)mkdir -p $(@D)
	$(Q)if ! pkg-config --exists $(PKGS) $(VIPSPKG) $(TESTPKGS) || ! command -v redis-server >/dev/null \
	     || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	     || ! /usr/bin/python3 -c 'import PIL, scipy.fftpack' 2>/dev/null; then \
	       echo "  DEPS   installing missing packages"; ./hack/install-deps.sh; fi
	$(Q)touch $@

# the interpreter's kernels are loops the compiler vectorises at -O3
$(BUILD)/obj/pkg/pose/%.o: ALL_CFLAGS += -O3 -ffp-contract=fast -Wno-psabi

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	$(Q)mkdir -p $(@D)
	@if [ "$(V)" = 0 ]; then echo "  CC     $<"; fi
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# docs/openapi.json is served by GET /openapi.json: built in as a byte array
$(BUILD)/gen/openapi.c: docs/openapi.json
	$(Q)mkdir -p $(@D)
	@if [ "$(V)" = 0 ]; then echo "  GEN    $@"; fi
	$(Q){ echo '/* generated from docs/openapi.json by the Makefile */'; \
	  echo '#include <stddef.h>'; echo 'const char easel_openapi_json[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0x00};'; \
	  echo 'const size_t easel_openapi_json_len = sizeof(easel_openapi_json) - 1;'; } >$@.tmp
	$(Q)mv $@.tmp $@

$(BUILD)/obj/gen/openapi.o: $(BUILD)/gen/openapi.c
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-variable-declarations -c -o $@ $<

$(LIB): $(PKG_OBJ)
	$(Q)mkdir -p $(@D)
	@if [ "$(V)" = 0 ]; then echo "  AR     $@"; fi
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(CMD_OBJ) $(LIB)
	@if [ "$(V)" = 0 ]; then echo "  LINK   $@"; fi
	$(Q)$(CC) $(LDSAN) $(LDFLAGS) -o $@ $(CMD_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(TLIB_OBJ) $(LIB)
	$(Q)mkdir -p $(@D)
	@if [ "$(V)" = 0 ]; then echo "  LINK   $@"; fi
	$(Q)$(CC) $(LDSAN) $(LDFLAGS) -o $@ $< $(TLIB_OBJ) $(LIB) $(LDLIBS) $(VIPS_LIBS) $(TEST_LIBS)

$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o $(TLIB_OBJ) $(LIB)
	$(Q)mkdir -p $(@D)
	@if [ "$(V)" = 0 ]; then echo "  LINK   $@"; fi
	$(Q)$(CC) $(LDSAN) $(LDFLAGS) -o $@ $< $(TLIB_OBJ) $(LIB) $(LDLIBS) $(VIPS_LIBS) $(TEST_LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(TLIB_OBJ) $(LIB)
	$(Q)mkdir -p $(@D)
	@if [ "$(V)" = 0 ]; then echo "  LINK   $@"; fi
	$(Q)$(CC) $(LDSAN) $(LDFLAGS) -o $@ $< $(TLIB_OBJ) $(LIB) $(LDLIBS) $(VIPS_LIBS)

$(BUILD)/tests/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay_main.o $(LIB)
	$(Q)mkdir -p $(@D)
	@if [ "$(V)" = 0 ]; then echo "  LINK   $@"; fi
	$(Q)$(CC) $(LDSAN) $(LDFLAGS) -o $@ $< $(BUILD)/obj/tests/fuzz/replay_main.o $(LIB) $(LDLIBS)

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(LIB)
	$(Q)mkdir -p $(@D)
	@if [ "$(V)" = 0 ]; then echo "  LINK   $@ (libFuzzer)"; fi
	$(Q)$(CC) -fsanitize=fuzzer,address,undefined $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

test-build: $(BIN) $(UNIT_BIN) $(INT_BIN) $(FUZZ_REPLAY) ## Build easel and every test program (unit, integration, fuzz replay), run nothing

test: test-build ## Run every test (unit, integration, e2e) against real Redis and PostgreSQL
	$(Q)./hack/checksrc.sh
	$(Q)EASEL_BIN=$(BUILD)/easel ./hack/gen-config-doc.sh --check
	$(Q)BUILD=$(BUILD) ./hack/run-tests.sh all

test-unit: test-build ## Run the unit tests only
	$(Q)BUILD=$(BUILD) ./hack/run-tests.sh unit

test-integration: test-build ## Run the integration tests (starts Redis and PostgreSQL)
	$(Q)BUILD=$(BUILD) ./hack/run-tests.sh integration

test-e2e: test-build ## Run the end-to-end scenarios through the binary
	$(Q)BUILD=$(BUILD) ./hack/run-tests.sh e2e

test-asan: ## Run every test under AddressSanitizer and UndefinedBehaviorSanitizer
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=1 CFLAGS="-O1 -g" test

demo: $(BIN) ## Run real jobs end to end on local Redis and PostgreSQL
	$(Q)BUILD=$(BUILD) ./hack/demo.sh

bench: $(BIN) $(BENCH_BIN) ## Print queue, image-variant, Kubernetes dispatch, HTTP API, SSE fan-out and /metrics figures beside their peers
	$(Q)BUILD=$(BUILD) ./hack/bench.sh

fuzz: ## Build the libFuzzer targets with clang and run each FUZZ_TIME s (60); FUZZ_TARGETS=, FUZZ_RUNS=
	$(Q)./hack/install-deps.sh fuzz
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) SANITIZE=1 \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link" fuzz-build
	$(Q)BUILD=$(FUZZ_BUILD) FUZZ_TIME=$(FUZZ_TIME) ./hack/fuzz.sh $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BIN) ## Link the libFuzzer targets in $(BUILD)/fuzz (make fuzz runs it in build-fuzz/ with clang)

docs-check: $(BIN) ## Check docs/configuration.md against the flag tables
	$(Q)EASEL_BIN=$(BIN) ./hack/gen-config-doc.sh --check

checksrc: ## Check C sources: banned calls, unchecked snprintf, exit() in pkg/, whitespace
	$(Q)./hack/checksrc.sh

clean: ## Remove build outputs
	$(Q)rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
