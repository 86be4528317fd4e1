#!/usr/bin/env bash
# Runs the openai npm SDK tests against the dsv4d binary given as the first argument.
# Installs the pinned SDK (package-lock.json) into tests/client/node_modules when missing.
set -euo pipefail
daemon=${1:?usage: tests/client/run.sh PATH/TO/dsv4d}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if [ ! -f node_modules/openai/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
DSV4D=$(realpath "$daemon") node --test --test-concurrency=1 openai_sdk.test.mjs
