#!/usr/bin/env bash
# Builds the fuzzers (GGUF reader; JSON parser with request mapping; output parser) with clang
# (libFuzzer, AddressSanitizer, UBSan) and runs each over its committed seed corpus. Exits
# non-zero on any finding.
#
#   tests/fuzz/run-fuzz.sh [RUNS]          run RUNS executions (default 200000)
#   tests/fuzz/run-fuzz.sh --make-corpus   rewrite tests/fuzz/corpus/ from the golden models
#
# Environment: DSV4_FUZZ_DIR (build and work directory, default <repo>/build-fuzz),
# CLANGXX (compiler, default clang++), DSV4_GOLDEN_DIR (golden models, default tests/golden).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${DSV4_FUZZ_DIR:-$root/build-fuzz}
cxx=${CLANGXX:-clang++}
golden=${DSV4_GOLDEN_DIR:-$root/tests/golden}
corpus=$root/tests/fuzz/corpus
mkdir -p "$out"

engine_sources=("$root"/engine/gguf/*.cpp "$root/engine/quant/types.cpp")
common_flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -I"$root" -Wall -Wextra -Werror)

# Rebuilds target from sources when any of them (or a header under engine/) is newer.
build() {
    local target=$1 sanitize=$2
    shift 2
    local newest
    newest=$(find "$@" "$root/engine" -newer "$target" \
        -print -quit 2>/dev/null || true)
    if [[ ! -x $target || -n $newest ]]; then
        echo "building $target"
        "$cxx" "${common_flags[@]}" "$sanitize" -fno-sanitize-recover=all "$@" -o "$target"
    fi
}

if [[ ${1:-} == --make-corpus ]]; then
    build "$out/make_corpus" -fsanitize=address,undefined \
        "$root/tests/fuzz/make_corpus.cpp" "${engine_sources[@]}"
    rm -f "$corpus"/*
    "$out/make_corpus" "$golden" "$corpus"
    exit 0
fi

runs=${1:-200000}
if ! [[ $runs =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [RUNS] | --make-corpus" >&2
    exit 2
fi

# One line per target: name, seed corpus, dictionary (or -), max input bytes, sources.
run_target() {
    local name=$1 seed=$2 dict=$3 max_len=$4
    shift 4
    build "$out/$name" -fsanitize=fuzzer,address,undefined "$root/tests/fuzz/$name.cpp" "$@"
    # New inputs found during the run go to a scratch directory; the committed corpus is read only.
    local work
    work=$(mktemp -d "$out/corpus-run.XXXXXX")
    local dict_flag=()
    [[ $dict != - ]] && dict_flag=(-dict="$dict")
    "$out/$name" -runs="$runs" -seed="${DSV4_FUZZ_SEED:-0}" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$max_len" -print_final_stats=1 "${dict_flag[@]}" \
        -artifact_prefix="$out/artifacts/$name-" "$work" "$seed"
    rm -rf "$work"
    echo "$name: $runs runs, no findings"
}

mkdir -p "$out/artifacts"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

run_target fuzz_gguf "$corpus" "$root/tests/fuzz/gguf.dict" 32768 "${engine_sources[@]}"
run_target fuzz_json "$root/tests/fuzz/corpus-json" - 8192 \
    "$root"/engine/common/json*.cpp "$root"/engine/chat/*.cpp
run_target fuzz_output_parser "$root/tests/fuzz/corpus-output" "$root/tests/fuzz/output_parser.dict" \
    4096 "$root"/engine/common/json*.cpp "$root"/engine/chat/*.cpp
