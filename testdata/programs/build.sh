#!/usr/bin/env bash
# Rebuilds the benchmark programs in this directory from their C sources.
#
#   ./build.sh           rebuild every .wasm (large.c is regenerated first)
#   ./build.sh --check   build into a temporary directory and fail unless
#                        every committed .wasm matches byte for byte; also
#                        build each program natively with cc and check the
#                        expected checksums in programs.tsv (every runtime
#                        in `make bench` must return those)
#   ./build.sh --bless   the same, rewriting programs.tsv's expected column
#                        (after changing a program or its argument)
#
# Needs clang-14 and lld-14 (apt-get install clang-14 lld-14); no libc and no
# wasi-libc: the programs are freestanding and import nothing, since sbx
# provides no WASI yet. The output is deterministic for a given clang build.
set -euo pipefail
cd "$(dirname "$0")"

CLANG=${CLANG:-clang-14}
CFLAGS=(--target=wasm32-wasi -O2 -nostdlib -ffreestanding -fno-builtin
        -Wall -Wextra -Wno-unused-parameter -Wno-unused-function
        -Wl,--no-entry -Wl,--strip-all -Wl,--export=run
        # 1 MiB of shadow stack is plenty and keeps the memory layout fixed
        -Wl,-z,stack-size=1048576)

PROGRAMS=(lz77 sha256 sort json vm memops)

command -v "$CLANG" >/dev/null || { echo "$CLANG not found (apt-get install clang-14 lld-14)" >&2; exit 2; }
"$CLANG" --version | head -1

# --check builds into a scratch directory and compares; otherwise in place.
out=.
if [[ "${1:-}" == "--check" ]]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi

python3 gen_large.py 2400 > "$out/large.c"

stale=()
for p in "${PROGRAMS[@]}" large; do
    extra=(); [[ $p == large ]] && extra=(-w)  # generated code trips -Wself-assign
    src=$p.c; [[ $p == large ]] && src=$out/large.c
    "$CLANG" "${CFLAGS[@]}" "${extra[@]}" -I. -o "$out/$p.wasm" "$src"
    if command -v wasm-objdump >/dev/null && wasm-objdump -x -j Import "$out/$p.wasm" >/dev/null 2>&1; then
        echo "$p.wasm imports something; the programs must import nothing" >&2
        exit 1
    fi
    if [[ $out != . ]] && ! cmp -s "$out/$p.wasm" "$p.wasm"; then
        stale+=("$p.wasm")
    fi
    printf '%-12s %8d bytes\n' "$p.wasm" "$(stat -c %s "$out/$p.wasm")"
done
if ((${#stale[@]})); then
    echo "stale or missing (rebuild with testdata/programs/build.sh): ${stale[*]}" >&2
    exit 1
fi

# --check / --bless: the expected checksums in programs.tsv, recomputed by
# a native build of each program (cc, any C compiler with a libc).
if [[ "${1:-}" == "--check" || "${1:-}" == "--bless" ]]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp" ${out:+$( [[ $out != . ]] && echo "$out")}' EXIT
    printf '#include <stdio.h>\n#include <stdlib.h>\nlong long run(int);\nint main(int c, char **v) { printf("%%lld\\n", run(atoi(v[1]))); return 0; }\n' > "$tmp/main.c"
    status=0
    while IFS=$'\t' read -r name file export arg expected; do
        if [[ $name == \#* || -z $name ]]; then
            printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$file" "$export" "$arg" "$expected" | sed 's/\t*$//'
            continue
        fi
        src=../../${file%.wasm}.c
        if [[ ! -f $src ]]; then # not one of ours (fib.wasm): keep the recorded value
            printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$file" "$export" "$arg" "$expected"
            continue
        fi
        ${CC:-cc} -O2 -w -o "$tmp/$name" "$src" "$tmp/main.c"
        got=$("$tmp/$name" "$arg")
        if [[ $got != "$expected" ]]; then
            echo "$name($arg): native $got, programs.tsv says $expected" >&2
            status=1
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$file" "$export" "$arg" "$got"
    done < programs.tsv > "$tmp/programs.tsv"
    if [[ $1 == --bless ]]; then
        cp "$tmp/programs.tsv" programs.tsv
        echo "programs.tsv updated"
    elif ((status)); then
        exit 1
    else
        echo "programs.tsv: every checksum matches a native build"
    fi
fi
