# The single entry point: `make` builds the libraries, `make test` runs every
# test, `make demo` shows sbx at work, `make bench` compares it with peers.

SHELL := /bin/bash
CARGO ?= cargo
GO ?= go
# Cargo's target directory lives outside the clone so that rebuilds are
# incremental across fresh clones; nothing depends on it existing.
CARGO_TARGET_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sbx/target
export CARGO_TARGET_DIR
RELEASE := $(CARGO_TARGET_DIR)/release
BUILD := build

.PHONY: all deps lib header fixtures test test-rust test-fixtures test-c test-asan test-go demo bench bench-smoke clean

all: lib

# Release static and shared libraries, copied to build/lib (for C, with
# build/lib/pkgconfig/sbx.pc and CMake) and go/lib (for cgo).
lib:
	$(CARGO) build --release --lib
	mkdir -p $(BUILD)/lib go/lib
	cp $(RELEASE)/libsbx.a $(RELEASE)/libsbx.so $(BUILD)/lib/
	cp $(RELEASE)/libsbx.a go/lib/libsbx.a
	mkdir -p $(BUILD)/include $(BUILD)/lib/pkgconfig $(BUILD)/lib/cmake/sbx
	cp include/sbx.h include/sbx.hpp $(BUILD)/include/
	version=$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1); \
	sed -e 's|@SBX_PREFIX@|$${pcfiledir}/../..|' -e 's|@SBX_PC_LIBDIR@|$${prefix}/lib|' \
	    -e 's|@SBX_PC_INCLUDEDIR@|$${prefix}/include|' -e "s|@SBX_VERSION@|$$version|" \
	    cmake/sbx.pc.in > $(BUILD)/lib/pkgconfig/sbx.pc; \
	sed -e 's|@SBX_CMAKE_LIBDIR@|$${_sbx_prefix}/lib|' -e 's|@SBX_CMAKE_INCLUDEDIR@|$${_sbx_prefix}/include|' \
	    -e "s|@SBX_VERSION@|$$version|" cmake/sbxConfig.cmake.in > $(BUILD)/lib/cmake/sbx/sbxConfig.cmake

# Debian packages the tests need beyond Rust, Go and gcc (installed if missing).
deps:
	.ci/install-deps

header:
	SBX_BLESS=1 $(CARGO) test --test header

fixtures:
	SBX_BLESS=1 $(CARGO) test --test fixtures

test: deps lib test-rust test-fixtures test-c test-asan test-go
	@echo "make test: all suites passed"

test-rust:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --lib --tests
	$(CARGO) bench --no-run

# Compiled guests must match their sources: the .wat set is checked by
# `cargo test --test fixtures`, the C programs by rebuilding them here.
test-fixtures:
	testdata/wasi/build.sh --check
	testdata/programs/build.sh --check

test-c: lib
	cmake -S tests/c -B $(BUILD)/c -DCMAKE_BUILD_TYPE=Release -DSBX_LIB_DIR=$(abspath $(BUILD)/lib)
	cmake --build $(BUILD)/c -j2
	ctest --test-dir $(BUILD)/c --output-on-failure

# The C tests again, with AddressSanitizer, against a debug build of sbx.
test-asan:
	$(CARGO) build --lib
	cmake -S tests/c -B $(BUILD)/c-asan -DCMAKE_BUILD_TYPE=Debug -DSBX_ASAN=ON -DSBX_LIB_DIR=$(CARGO_TARGET_DIR)/debug
	cmake --build $(BUILD)/c-asan -j2
	ctest --test-dir $(BUILD)/c-asan --output-on-failure

test-go: lib
	cd go && test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	@# Go's build cache ignores the header and the library: stamp them into CGO_CFLAGS.
	cd go && CGO_CFLAGS="-O2 -g -DSBX_LIB_STAMP=$$(stat -c %Y_%s lib/libsbx.a ../include/sbx.h | paste -sd_)" $(GO) vet ./...
	cd go && CGO_CFLAGS="-O2 -g -DSBX_LIB_STAMP=$$(stat -c %Y_%s lib/libsbx.a ../include/sbx.h | paste -sd_)" $(GO) test -count=1 ./...
	cd go && CGO_CFLAGS="-O2 -g -DSBX_LIB_STAMP=$$(stat -c %Y_%s lib/libsbx.a ../include/sbx.h | paste -sd_)" $(GO) test -count=1 -race ./...
	cd go && CGO_CFLAGS="-O2 -g -DSBX_LIB_STAMP=$$(stat -c %Y_%s lib/libsbx.a ../include/sbx.h | paste -sd_)" GOGC=1 GODEBUG=cgocheck=1 $(GO) test -count=1 ./...

demo: lib
	cd go && CGO_CFLAGS="-O2 -g -DSBX_LIB_STAMP=$$(stat -c %Y_%s lib/libsbx.a ../include/sbx.h | paste -sd_)" $(GO) run ./cmd/sbx demo --testdata ../testdata

bench: lib
	./bench/run

bench-smoke: lib
	./bench/run --smoke

clean:
	rm -rf $(BUILD) go/lib
