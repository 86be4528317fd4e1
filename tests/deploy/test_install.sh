#!/usr/bin/env bash
# deploy/install.sh into a staging DESTDIR: the expected files appear, the installed config is
# accepted by the installed daemon, a second run keeps an edited config, and the unit passes
# `systemd-analyze verify` when that tool is present.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: test_install.sh BUILD_DIR}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

DESTDIR="$stage" "$top/deploy/install.sh" --build-dir "$build" --prefix /usr/local >/dev/null
for f in usr/local/bin/dsv4d usr/local/bin/dsv4 etc/dsv4d/dsv4d.toml \
    lib/systemd/system/dsv4d.service usr/lib/sysusers.d/dsv4d.conf usr/lib/tmpfiles.d/dsv4d.conf; do
    [ -e "$stage/$f" ] || { echo "missing $f" >&2; exit 1; }
done
"$stage/usr/local/bin/dsv4d" --config "$stage/etc/dsv4d/dsv4d.toml" --print-config >/dev/null
grep -q '^dir = "/var/lib/dsv4d/kv"$' "$stage/etc/dsv4d/dsv4d.toml"
grep -q '^ExecStart=/usr/local/bin/dsv4d --config /etc/dsv4d/dsv4d.toml$' \
    "$stage/lib/systemd/system/dsv4d.service"

echo 'log_level = "debug"' >> "$stage/etc/dsv4d/dsv4d.toml"
DESTDIR="$stage" "$top/deploy/install.sh" --build-dir "$build" >/dev/null
grep -q '^log_level = "debug"$' "$stage/etc/dsv4d/dsv4d.toml" || { echo "config overwritten" >&2; exit 1; }

if command -v systemd-analyze >/dev/null 2>&1; then
    unit="$stage/dsv4d.service"
    sed -e "s|ExecStart=/usr/local/bin/dsv4d|ExecStart=$stage/usr/local/bin/dsv4d|" \
        "$stage/lib/systemd/system/dsv4d.service" > "$unit"
    output=$(systemd-analyze verify "$unit" 2>&1 || true)
    # Only complaints about the unit itself count; a machine without a running systemd also
    # reports on its own units.
    if echo "$output" | grep "dsv4d.service" | grep -v -i "not found\|no such\|cannot access\|bus" ; then
        echo "systemd-analyze verify: $output" >&2
        exit 1
    fi
fi
echo "install test passed"
