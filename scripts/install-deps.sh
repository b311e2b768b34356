#!/bin/sh
# Install the Debian 12 packages quantd needs to build, run and test.
# Installs only what is missing; uses sudo when not root.
set -eu

PKGS="build-essential cmake pkg-config libjansson-dev libmicrohttpd-dev libuv1-dev \
libssl-dev libinih-dev libcmocka-dev libcurl4-openssl-dev curl python3"
[ "${1:-}" = "--test" ] && PKGS="$PKGS clang libclang-rt-14-dev"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing:$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
