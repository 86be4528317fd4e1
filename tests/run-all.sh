#!/usr/bin/env bash
# Builds dsv4d with tests and benchmarks, runs the whole test suite, then a CI-sized fuzz run.
# Usage: tests/run-all.sh [build-dir]   (env DSV4_FUZZ_RUNS overrides the fuzz executions)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
jobs=${DSV4_JOBS:-2}

cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"

if [ -x "$top/tests/fuzz/run-fuzz.sh" ]; then
    "$top/tests/fuzz/run-fuzz.sh" "${DSV4_FUZZ_RUNS:-200000}"
fi
echo "run-all: all tests passed"
