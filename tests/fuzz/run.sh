#!/bin/sh
# Build the libFuzzer targets with clang (ASan+UBSan, coverage) in build-fuzz/,
# replay the checked-in seed corpora, then fuzz each target for a bounded time.
#
#   tests/fuzz/run.sh                 every target, FUZZ_SECONDS each (default 60)
#   FUZZ_SECONDS=600 tests/fuzz/run.sh fuzz_gguf
#   FUZZ_JOBS=2                       targets fuzzed at the same time (default: 2)
#
# New inputs go to a scratch copy of each corpus (build-fuzz/corpus/), never
# into the checked-in seeds. A crash, leak, timeout or OOM stops with a
# non-zero exit and leaves the input in build-fuzz/artifacts/ (copy it to
# tests/fuzz/crashes/ to keep it; once fixed, into corpus/<target>/ as a
# regression seed). Executions per target are printed at the end.
set -eu
cd "$(dirname "$0")/../.."
SRC=$(pwd)
BUILD=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-2}
ALL="fuzz_gguf fuzz_safetensors fuzz_gguf_roundtrip fuzz_quant fuzz_request fuzz_config"
TARGETS=${*:-$ALL}

CC=${FUZZ_CC:-clang} cmake -S . -B "$BUILD" -DQD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fuzzers >/dev/null

mkdir -p "$BUILD/artifacts" "$BUILD/logs"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

bin() { echo "$BUILD/tests/fuzz/$1"; }

# 1. replay: every seed must pass (regression inputs live there too)
for t in $TARGETS; do
    "$(bin "$t")" -runs=0 "$SRC/tests/fuzz/corpus/$t" >"$BUILD/logs/$t.replay" 2>&1 || {
        echo "FAIL: $t on its seed corpus (log: $BUILD/logs/$t.replay)" >&2
        tail -n 40 "$BUILD/logs/$t.replay" >&2
        exit 1
    }
done
echo "corpus replay: ok ($TARGETS)"

# 2. fuzz: JOBS targets at a time, each for SECONDS_EACH
fuzz_one() {
    t=$1
    work="$BUILD/corpus/$t"
    mkdir -p "$work"
    cp "$SRC/tests/fuzz/corpus/$t/"* "$work/" 2>/dev/null || true
    "$(bin "$t")" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" \
        "$work" >"$BUILD/logs/$t.fuzz" 2>&1
}

status=0
set -- $TARGETS
while [ $# -gt 0 ]; do
    pids=""
    i=0
    while [ $# -gt 0 ] && [ $i -lt "$JOBS" ]; do
        fuzz_one "$1" &
        pids="$pids $!:$1"
        shift
        i=$((i + 1))
    done
    for p in $pids; do
        if ! wait "${p%%:*}"; then
            t=${p#*:}
            echo "FAIL: $t (log: $BUILD/logs/$t.fuzz)" >&2
            grep -E "ERROR|invariant|SUMMARY|Test unit written" "$BUILD/logs/$t.fuzz" >&2 || true
            status=1
        fi
    done
done

for t in $TARGETS; do
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$BUILD/logs/$t.fuzz" | tail -n 1)
    echo "$t: ${runs:-?} executions in ${SECONDS_EACH}s"
done
exit $status
