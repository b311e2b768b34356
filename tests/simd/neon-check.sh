#!/bin/sh
# tests/simd/neon-check.sh — the NEON kernels against the scalar reference,
# on an x86 machine: cross-compile the kernels and tests/unit/test_simd.c
# (a plain program: no cmocka, no jansson) for aarch64 with Debian's
# gcc-aarch64-linux-gnu, and run the result under qemu-aarch64.
#
# Without the cross compiler or qemu it says so and exits 0, unless CI=true
# (then the packages are expected: scripts/install-deps.sh --test installs
# gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user).
# QD_SEED and QD_SIMD_ROUNDS are passed through to the test.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)

CC=${AARCH64_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_AARCH64:-qemu-aarch64}
SYSROOT=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}

if ! command -v "$CC" >/dev/null 2>&1 || ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "neon-check: $CC or $QEMU not installed" >&2
    if [ "${CI:-}" = "true" ]; then
        exit 1
    fi
    echo "neon-check: skipped (install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"
    exit 0
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/quantd-neon.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM

# Same warnings as the native build, -ffp-contract=off as every kernel file.
"$CC" -std=c11 -O2 -g -ffp-contract=off -fno-strict-aliasing \
    -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Wno-unused-parameter -Werror \
    -D_POSIX_C_SOURCE=200809L -DQD_TEST_DATA="\"$root/tests/data\"" -I"$root" \
    core/types.c core/ctq.c core/kernels/ref.c core/kernels/ref_legacy.c core/kernels/ref_kquants.c \
    core/kernels/dispatch.c core/kernels/neon.c tests/unit/test_simd.c \
    -o "$out/test_simd" -lm -lpthread

# The emulated scalar reference is slow: fewer random rounds than natively.
QD_SIMD_ROUNDS=${QD_SIMD_ROUNDS:-3} "$QEMU" -L "$SYSROOT" "$out/test_simd" | tee "$out/log"
# The ISA under test must really have been tested, not skipped.
grep -q '^neon: .*identical' "$out/log"
