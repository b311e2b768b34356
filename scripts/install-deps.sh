#!/bin/sh
# Install the Debian 12 packages quantd needs to build, run and test.
# Installs only what is missing; uses sudo when not root.
set -eu

PKGS="build-essential cmake pkg-config libjansson-dev libmicrohttpd-dev libuv1-dev \
libssl-dev libinih-dev libcmocka-dev libcurl4-openssl-dev curl python3"
# --test: clang for the fuzzers; the aarch64 cross compiler and qemu-user for
# the NEON kernels' equivalence test (tests/simd/neon-check.sh).
[ "${1:-}" = "--test" ] && PKGS="$PKGS clang libclang-rt-14-dev \
gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
# --test, for tests/ops/: systemd-analyze (systemd), promtool (prometheus),
# groff for the man page, npx for the OpenAPI validator (nodejs and npm,
# unless a node with npx is already installed).
if [ "${1:-}" = "--test" ]; then
    PKGS="$PKGS systemd prometheus groff-base"
    command -v npx >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
fi

# --test, for tests/lint/run.sh (issue 6): the static analysers.
[ "${1:-}" = "--test" ] && PKGS="$PKGS cppcheck clang-tidy"
# --test, for `make test-tsan` (issue 6): gcc's ThreadSanitizer runtime (the
# fault and crash tests need only python3; tests/robust/load.sh, not run in
# CI, needs wrk).
[ "${1:-}" = "--test" ] && PKGS="$PKGS libtsan2"

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
