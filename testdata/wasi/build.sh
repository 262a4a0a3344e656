#!/usr/bin/env bash
# Rebuilds the WASI (preview 1) test programs in this directory from C.
#
#   ./build.sh           rebuild every .wasm beside its .c
#   ./build.sh --check   build into a temporary directory and compare byte for
#                        byte with the committed .wasm files; exits 1 naming
#                        the stale (or missing) files; 2 if clang-14 (or
#                        another part of the toolchain below) is absent
#
# Needs Debian's clang-14, lld-14 (wasm-ld-14), wasi-libc and
# libclang-rt-14-dev-wasm32. The output is deterministic for given versions
# of clang-14 and wasi-libc (see README.md for the ones used); no build path
# is embedded, since there is no debug info and the link strips everything.
set -euo pipefail
cd "$(dirname "$0")"

CLANG=${CLANG:-clang-14}
# Debian's wasi-libc: headers in /usr/include/wasm32-wasi, libraries and crt1
# objects in /usr/lib/wasm32-wasi (which clang-14 finds by itself).
WASI_INCLUDE=${WASI_INCLUDE:-/usr/include/wasm32-wasi}
WASI_LIB=${WASI_LIB:-/usr/lib/wasm32-wasi}

COMMANDS=(hello cat escape write_ro exit3 echo_stdin env_args spin)
REACTORS=(plugin)

mode=build
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! command -v "$CLANG" >/dev/null; then
  echo "build.sh: $CLANG not found; install it with:" >&2
  echo "  apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32" >&2
  exit 2
fi
if ! command -v wasm-ld-14 >/dev/null; then
  echo "build.sh: wasm-ld-14 not found; apt-get install lld-14" >&2
  exit 2
fi
for f in "$WASI_INCLUDE/stdio.h" "$WASI_LIB/libc.a" "$WASI_LIB/crt1-reactor.o" \
         "$("$CLANG" --target=wasm32-wasi -print-libgcc-file-name)"; do
  if [[ ! -e $f ]]; then
    echo "build.sh: $f not found; apt-get install wasi-libc libclang-rt-14-dev-wasm32" >&2
    exit 2
  fi
done

echo "toolchain: $("$CLANG" --version | head -1)"
if command -v dpkg-query >/dev/null; then
  dpkg-query -W -f='${Package} ${Version}\n' clang-14 lld-14 wasi-libc \
    libclang-rt-14-dev-wasm32 2>/dev/null | sed 's/^/package: /' || true
fi

# Only the wasi-libc headers and clang's own (stddef.h, ...): never the host's
# /usr/include or /usr/local/include, which clang-14 would search otherwise.
CFLAGS=(--target=wasm32-wasi -std=c11 -O2 -Wall -Wextra -Werror
        -nostdlibinc -idirafter "$WASI_INCLUDE")
# Linked in a separate step without -O: given -O at link time, clang runs
# wasm-opt if it happens to be on PATH, which would make the output depend
# on the machine. --strip-all drops the name and producers sections.
LDFLAGS=(--target=wasm32-wasi -fuse-ld=lld -L"$WASI_LIB" -Wl,--strip-all)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ $mode == check ]]; then out=$tmp/out; mkdir "$out"; else out=.; fi

build() { # name, extra link flags...
  local name=$1; shift
  "$CLANG" "${CFLAGS[@]}" -c -o "$tmp/$name.o" "$name.c"
  "$CLANG" "${LDFLAGS[@]}" "$@" -o "$out/$name.wasm" "$tmp/$name.o"
  if [[ $mode == build ]]; then
    printf '%-16s %7d bytes\n' "$name.wasm" "$(stat -c %s "$name.wasm")"
  fi
}

for p in "${COMMANDS[@]}"; do build "$p" -mexec-model=command; done
for p in "${REACTORS[@]}"; do build "$p" -mexec-model=reactor; done

if [[ $mode == check ]]; then
  stale=()
  for p in "${COMMANDS[@]}" "${REACTORS[@]}"; do
    if [[ ! -f $p.wasm ]]; then
      stale+=("$p.wasm (missing)")
    elif ! cmp -s "$out/$p.wasm" "$p.wasm"; then
      stale+=("$p.wasm")
    fi
  done
  if ((${#stale[@]})); then
    echo "build.sh --check: stale wasm in testdata/wasi (rebuild with testdata/wasi/build.sh and commit):" >&2
    printf '  %s\n' "${stale[@]}" >&2
    echo "(a different clang-14 or wasi-libc version than in README.md also causes this)" >&2
    exit 1
  fi
  echo "build.sh --check: all $((${#COMMANDS[@]} + ${#REACTORS[@]})) .wasm files are up to date"
fi
