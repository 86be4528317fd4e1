#!/usr/bin/env bash
# Installs every Debian package dsv4d needs to build, test and benchmark.
# Idempotent and non-interactive; uses sudo when not run as root.
set -euo pipefail

packages=(
    build-essential g++ cmake ninja-build pkg-config
    libgtest-dev libgmock-dev googletest libbenchmark-dev
    clang libclang-rt-dev ccache
    libboost1.81-dev libtomlplusplus-dev liblmdb-dev lmdb-utils
    curl
)
# The openai SDK client tests need Node.js with npm; machines that already have them (often
# from nodesource, whose nodejs conflicts with Debian's npm) keep theirs.
if ! command -v node >/dev/null 2>&1; then packages+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -q
    "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "install-deps: all packages present"
fi
