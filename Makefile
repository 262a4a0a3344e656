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
HOST_TARGET := $(shell rustc -vV | sed -n 's/^host: //p')
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# make install PREFIX=... [DESTDIR=...]
PREFIX ?= /usr/local

# The Go package finds sbx through pkg-config (#cgo pkg-config: sbx): in the
# repository that is build/lib/pkgconfig/sbx.pc, written by `make lib`.
# Go's build cache does not track the library or the header, so every go
# command also gets a stamp of them in CGO_CFLAGS.
GO_ENV = PKG_CONFIG_PATH=$(abspath $(1)/lib/pkgconfig) \
	CGO_CFLAGS="-O2 -g -DSBX_LIB_STAMP=$$(stat -c %Y_%s $(1)/lib/libsbx.a $(1)/include/sbx.h | paste -sd_)"
# Recipes run go from go/, so the paths are absolute.
GO_HOST = $(call GO_ENV,$(abspath $(BUILD)))

# arm64 Linux, cross-built (Debian's gcc-aarch64-linux-gnu) and run under
# qemu-aarch64 with the Debian arm64 sysroot.
ARM64 := aarch64-unknown-linux-gnu
ARM64_BUILD := $(BUILD)/$(ARM64)
ARM64_RUN := qemu-aarch64 -L /usr/aarch64-linux-gnu
space := $() $()
ARM64_CARGO := CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$(ARM64_RUN)" \
	CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
	CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++ $(CARGO)

.PHONY: all deps lib lib-arm64 header fixtures test test-rust test-fixtures test-c test-asan test-go \
	check-apple test-arm64 install dist test-dist test-go-consumer demo bench bench-smoke clean \
	diff stress stress-go stress-asan stress-tsan soak fuzz fuzz-smoke fuzz-build

all: lib

# Release static and shared libraries, the header, sbx.pc and the CMake
# package in build/ (lib/, include/), laid out as an install prefix.
lib:
	$(CARGO) build --release --lib
	scripts/stage $(HOST_TARGET) $(RELEASE) $(BUILD) '$${pcfiledir}/../..'

# With --tests: the dev-dependencies change the features of crates Wasmtime
# uses (memchr, indexmap), so a plain --lib build and the tests' build would
# each compile Wasmtime for arm64 (~8 min on 2 cores); this way it is once.
lib-arm64:
	$(ARM64_CARGO) build --release --target $(ARM64) --lib --tests
	scripts/stage $(ARM64) $(CARGO_TARGET_DIR)/$(ARM64)/release $(ARM64_BUILD) '$${pcfiledir}/../..'

# Installs lib/libsbx.{a,so}, include/sbx.h, lib/pkgconfig/sbx.pc and
# lib/cmake/sbx under $(DESTDIR)$(PREFIX), without debug info.
install: lib
	scripts/stage --strip $(HOST_TARGET) $(RELEASE) $(DESTDIR)$(PREFIX) $(PREFIX)

# Release tarballs for x86_64 and aarch64 Linux in build/dist: what a C
# project needs to link sbx without Rust.
dist: lib lib-arm64
	scripts/dist $(HOST_TARGET) $(RELEASE) $(BUILD)/dist
	scripts/dist $(ARM64) $(CARGO_TARGET_DIR)/$(ARM64)/release $(BUILD)/dist

# Debian packages the tests need beyond Rust, Go and gcc (installed if missing).
deps:
	.ci/install-deps

header:
	SBX_BLESS=1 $(CARGO) test --test header

fixtures:
	SBX_BLESS=1 $(CARGO) test --test fixtures

test: deps lib test-rust test-fixtures test-c test-asan test-go check-apple test-arm64 test-dist test-go-consumer fuzz-smoke
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

# staticcheck, pinned, installed through the Go module proxy into the cache
# outside the clone: a fresh machine installs it once, later runs reuse it.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sbx/tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck

$(STATICCHECK):
	GOBIN=$(@D) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

test-go: lib $(STATICCHECK)
	cd go && test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	cd go && $(GO_HOST) $(GO) vet ./...
	cd go && $(GO_HOST) $(STATICCHECK) ./...
	cd go && $(GO_HOST) $(GO) test -count=1 ./...
	cd go && $(GO_HOST) $(GO) test -count=1 -race ./...
	cd go && $(GO_HOST) GOGC=1 GODEBUG=cgocheck=1 $(GO) test -count=1 ./...

# The crate type-checks for macOS on arm64 and x86_64 (no macOS here to
# link or run on).
check-apple:
	scripts/check-apple

# arm64 Linux for real: the Rust tests, the C tests and the Go tests, all
# under qemu-aarch64. The Rust tests run in the release profile that
# lib-arm64 built them in.
# Skipped under qemu-user, run natively in test-rust: the fault tests that
# re-run their own binary in a child process (to set rlimits there; the
# child would need the emulator too), and the soak and chaos runs, whose
# cycle counts and deadline budgets are sized for native speed.
ARM64_SKIP := --skip cache_dir_full --skip deadline_thread_spawn_fails --skip mmap_fails \
	--skip soak_short --skip chaos

test-arm64: lib-arm64
	$(ARM64_CARGO) test --release --target $(ARM64) --lib --tests -- $(ARM64_SKIP)
	cmake -S tests/c -B $(ARM64_BUILD)/c -DCMAKE_BUILD_TYPE=Release \
	    -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
	    -DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ \
	    "-DCMAKE_CROSSCOMPILING_EMULATOR=$(subst $(space),;,$(ARM64_RUN))" \
	    -DSBX_LIB_DIR=$(abspath $(ARM64_BUILD)/lib)
	cmake --build $(ARM64_BUILD)/c -j2
	ctest --test-dir $(ARM64_BUILD)/c --output-on-failure
	cd go && $(call GO_ENV,$(abspath $(ARM64_BUILD))) GOARCH=arm64 CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc \
	    $(GO) test -count=1 -short -exec '$(ARM64_RUN)' ./...

# Each tarball of make dist, unpacked in a clean directory, links the C
# consumer through its sbx.pc and through its CMake package.
test-dist: dist
	scripts/test-dist $(BUILD)/dist/sbx-$(VERSION)-$(HOST_TARGET).tar.gz \
	    $(BUILD)/dist/sbx-$(VERSION)-$(ARM64).tar.gz

# A new Go user: sbx installed to a prefix, a module outside the repository
# that imports the package, built, run and vendored.
test-go-consumer: lib
	scripts/test-go-consumer

demo: lib
	cd go && $(GO_HOST) $(GO) run ./cmd/sbx demo --testdata ../testdata

bench: lib
	$(GO_HOST) ./bench/run

bench-smoke: lib
	$(GO_HOST) ./bench/run --smoke

# Proving the sandbox (issue 9). `make test` runs short versions of each
# through `cargo test` and `go test`; these run them long, in release.
DIFF_SEEDS ?= 5000
STRESS_SECONDS ?= 60
STRESS_OVERSHOOT_MS ?= 250
# Sanitized debug builds run several times slower: deadlines are still
# checked, against a wider budget.
SANITIZER_OVERSHOOT_MS ?= 5000
SANITIZER_TARGET_DIR := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sbx/target-
NIGHTLY_ENV = CARGO_TARGET_DIR=$(SANITIZER_TARGET_DIR)$(1) RUSTFLAGS=-Zsanitizer=$(1) \
	RUSTDOCFLAGS=-Zsanitizer=$(1) STRESS_SECONDS=$(STRESS_SECONDS) STRESS_OVERSHOOT_MS=$(SANITIZER_OVERSHOOT_MS)

# wasm-smith modules through sbx and through raw Wasmtime: DIFF_SEEDS seeds.
diff:
	SBX_DIFF_SEEDS=$(DIFF_SEEDS) $(CARGO) test --release --test differential -- --nocapture

# The chaos program for STRESS_SECONDS, then its Go twin under -race.
stress: stress-go
	STRESS_SECONDS=$(STRESS_SECONDS) STRESS_OVERSHOOT_MS=$(STRESS_OVERSHOOT_MS) \
	    $(CARGO) test --release --test stress -- --nocapture

stress-go: lib
	cd go && $(GO_HOST) SBX_GO_STRESS_SECONDS=$(STRESS_SECONDS) \
	    $(GO) test -count=1 -race -run TestStressChaos -v ./wasm/

# AddressSanitizer with LeakSanitizer, and ThreadSanitizer: nightly Rust,
# std rebuilt with the sanitizer (-Zbuild-std), each in its own target dir.
stress-asan:
	rustup component add rust-src --toolchain nightly
	$(call NIGHTLY_ENV,address) ASAN_OPTIONS=detect_leaks=1 $(CARGO) +nightly test -Zbuild-std \
	    --target $(HOST_TARGET) --test stress -- --nocapture

# report_signal_unsafe=0: Wasmtime's trap handler allocates (the Trap box)
# inside the SIGILL/SIGSEGV handler of a trapping guest, which TSan reports.
stress-tsan:
	rustup component add rust-src --toolchain nightly
	$(call NIGHTLY_ENV,thread) TSAN_OPTIONS="halt_on_error=1 report_signal_unsafe=0" $(CARGO) +nightly test -Zbuild-std \
	    --target $(HOST_TARGET) --test stress -- --nocapture

# 1,000,000 load/call/close and 100,000 host create/close cycles, with
# RSS, fds, mappings and threads sampled at 10k, 100k and 1M.
soak:
	$(CARGO) test --release --test soak -- --ignored --nocapture soak_full

# Coverage-guided fuzzing of the C ABI (fuzz/, cargo-fuzz on nightly) and of
# the Go package (go test -fuzz). `make fuzz` runs each target for
# FUZZ_SECONDS; `make fuzz-smoke` for 30 s each. The fuzz build has its own
# target directory: its sanitizer and coverage flags would rebuild the main
# one. New inputs go to a work corpus there too; fuzz/corpus/ holds the
# committed seeds (and every input that found a bug), read only.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := load call ops cache wasi diff
FUZZ_GO_TARGETS := FuzzLoadModule FuzzCallWithTimeout
FUZZ_DIR := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sbx/fuzz-target
# Full runs: AddressSanitizer, one codegen unit. The smoke build trades both
# for build time (see the README, "Fuzzing").
FUZZ_FLAGS ?=
FUZZ_SMOKE_FLAGS := --sanitizer none --codegen-units 16
# $(1): the build's own target directory (the smoke build's flags differ).
FUZZ_CARGO = cd fuzz && CARGO_TARGET_DIR=$(1) \
	LSAN_OPTIONS=suppressions=$(abspath fuzz/lsan.supp) cargo +nightly fuzz
# -rss_limit_mb: a guest may use its 64 MiB plus Wasmtime's reservations.
# -len_control=0: the structured targets run a few execs a second, too few
# for libFuzzer to grow its length limit from 4 bytes in a short run.
FUZZ_RUN = for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t && \
	  ($(call FUZZ_CARGO,$(3)) run $(1) $$t $(FUZZ_DIR)/corpus/$$t corpus/$$t -- \
	    -max_total_time=$(2) -timeout=60 -rss_limit_mb=4096 -len_control=0 -max_len=4096 \
	    -print_final_stats=1) || exit 1; \
	done
# -fuzzminimizetime: Go minimizes each new input for up to 60 s by default,
# which would eat a 30 s smoke run.
FUZZ_GO = cd go && for t in $(FUZZ_GO_TARGETS); do \
	  $(GO_HOST) $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(1)s -fuzzminimizetime 100x ./wasm/ || exit 1; \
	done

fuzz-build:
	$(call FUZZ_CARGO,$(FUZZ_DIR)) build $(FUZZ_FLAGS)

fuzz: lib
	$(call FUZZ_RUN,$(FUZZ_FLAGS),$(FUZZ_SECONDS),$(FUZZ_DIR))
	$(call FUZZ_GO,$(FUZZ_SECONDS))

fuzz-smoke: lib
	$(call FUZZ_RUN,$(FUZZ_SMOKE_FLAGS),30,$(FUZZ_DIR)/smoke)
	$(call FUZZ_GO,30)

clean:
	rm -rf $(BUILD)
