#!/usr/bin/env bash
# Installs dsv4d as a systemd service from a build directory:
#   deploy/install.sh [--build-dir build] [--prefix /usr/local] [--enable]
# Honours DESTDIR (staged installs). Idempotent; keeps an existing /etc/dsv4d/dsv4d.toml.
# Starts nothing unless --enable is given (then: sysusers, tmpfiles, daemon-reload, enable --now).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
prefix=/usr/local
enable=0
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --enable) enable=1; shift ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
dest=${DESTDIR:-}

for binary in dsv4d dsv4; do
    if [ ! -x "$build/$binary" ]; then
        echo "install.sh: $build/$binary not found; build first (cmake --build $build)" >&2
        exit 1
    fi
done

install -d "$dest$prefix/bin" "$dest/etc/dsv4d" "$dest/lib/systemd/system" \
    "$dest/usr/lib/sysusers.d" "$dest/usr/lib/tmpfiles.d"
install -m 0755 "$build/dsv4d" "$build/dsv4" "$dest$prefix/bin/"
if [ ! -e "$dest/etc/dsv4d/dsv4d.toml" ]; then
    # The service keeps its persistent prefix store in its state directory.
    sed -e '/^\[kv\]/,/^\[/ s|^dir = ""|dir = "/var/lib/dsv4d/kv"|' "$top/config/dsv4d.toml" \
        > "$dest/etc/dsv4d/dsv4d.toml"
    chmod 0644 "$dest/etc/dsv4d/dsv4d.toml"
fi
sed -e "s|/usr/local/bin/dsv4d|$prefix/bin/dsv4d|" "$top/deploy/dsv4d.service" \
    > "$dest/lib/systemd/system/dsv4d.service"
install -m 0644 "$top/deploy/dsv4d.sysusers" "$dest/usr/lib/sysusers.d/dsv4d.conf"
install -m 0644 "$top/deploy/dsv4d.tmpfiles" "$dest/usr/lib/tmpfiles.d/dsv4d.conf"
echo "install.sh: installed under ${dest:-/} (binaries in $prefix/bin, config /etc/dsv4d/dsv4d.toml)"

if [ "$enable" -eq 1 ]; then
    if [ -n "$dest" ]; then echo "install.sh: --enable ignored with DESTDIR" >&2; exit 0; fi
    systemd-sysusers /usr/lib/sysusers.d/dsv4d.conf
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/dsv4d.conf
    systemctl daemon-reload
    systemctl enable --now dsv4d.service
    echo "install.sh: dsv4d enabled; set model.path in /etc/dsv4d/dsv4d.toml, then systemctl restart dsv4d"
fi
