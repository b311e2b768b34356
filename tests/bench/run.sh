#!/bin/sh
# tests/bench/run.sh [BUILD_DIR] — the benchmark table (docs/benchmarks.md).
#
# 1. Kernel throughput per type and ISA (bench_kernels), with this machine's
#    single-core memcpy bandwidth as the ceiling.
# 2. File to file: `quantd quantize` of a generated ~1.5 GB F32 llama-shaped
#    GGUF (tests/bench/make-model.py, written under /tmp, never committed) at
#    1 and 2 threads for Q8_0, Q4_0, Q4_K_M, Q6_K with metrics on, page cache
#    warm, wall time and peak RSS from /usr/bin/time -v; against llama.cpp's
#    own quantizer (llama_model_quantize in libllama.so from the npm package
#    @node-llama-cpp/linux-x64, installed under /tmp, driven by
#    llama_quantize_driver) on the same file in the same run; quantd also with
#    --no-sync (no fsync of the output, as llama.cpp).
# Prints tables; asserts nothing about time.
#   QD_BENCH_DIR   scratch folder (default /tmp/quantd-bench): model, outputs, npm
#   LIBLLAMA       path of libllama*.so (default: installed with npm in QD_BENCH_DIR)
#   QD_BENCH_SKIP_KERNELS=1 / QD_BENCH_SKIP_FILES=1 to run one half
#   QD_BENCH_BIG=1 also times quantd alone on a ~1.9 GB model (10 layers) at 2 threads
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
dir=${QD_BENCH_DIR:-/tmp/quantd-bench}
mkdir -p "$dir"

cmake --build "$build" --target bench_kernels llama_quantize_driver quantd >/dev/null

echo "# quantd benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs," \
     "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "isa chosen: $("$build/quantd" version | sed 's/.*isa: \(.*\))/\1/')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if [ "${QD_BENCH_SKIP_KERNELS:-}" != 1 ]; then
    echo "## Kernels (one thread, 64 MiB of F32, best of several runs)"
    echo
    "$build/tests/bench/bench_kernels" --mib 64 --min-ms 300
    echo
fi

[ "${QD_BENCH_SKIP_FILES:-}" = 1 ] && exit 0

model="$dir/bench-f32.gguf"
[ -f "$model" ] || python3 tests/bench/make-model.py "$model"

lib=${LIBLLAMA:-}
if [ -z "$lib" ]; then
    lib=$(find "$dir/npm/node_modules/@node-llama-cpp" -name 'libllama*.so' 2>/dev/null | head -n 1)
    if [ -z "$lib" ] && command -v npm >/dev/null 2>&1; then
        mkdir -p "$dir/npm"
        (cd "$dir/npm" && npm install --no-audit --no-fund --silent @node-llama-cpp/linux-x64 >/dev/null)
        lib=$(find "$dir/npm/node_modules/@node-llama-cpp" -name 'libllama*.so' | head -n 1)
    fi
fi
[ -x /usr/bin/time ] || { echo "need /usr/bin/time (apt package time)" >&2; exit 1; }

# Warm the page cache, as both quantizers will find it.
cat "$model" >/dev/null

# measure LABEL CMD...: prints "seconds peak_rss_kib" of one run.
measure() {
    /usr/bin/time -v "$@" >/dev/null 2>"$dir/time.log" || { tail -5 "$dir/time.log" >&2; echo "- -"; return; }
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0;
                    for (i = 1; i <= n; i++) s = s * 60 + p[i]; t = s}
                /Maximum resident set size/ {r = $2}
                END {printf "%.2f %d\n", t, r}' "$dir/time.log"
}

echo "## File to file: $(du -hL "$model" | cut -f1) F32 GGUF, metrics on, page cache warm"
echo
echo "(quantd fsyncs its output by default; llama.cpp does not. \"no-sync\" is quantd --no-sync,"
echo " which leaves the output to the page cache as llama.cpp does.)"
echo
printf '%-7s %3s %10s %12s %10s %10s %12s %8s %8s\n' type thr "quantd s" "quantd RSS" "no-sync s" \
    "llama.cpp s" "llama RSS" "speedup" "no-sync"
for type in Q8_0 Q4_0 Q4_K_M Q6_K; do
    case $type in Q8_0) ft=7 ;; Q4_0) ft=2 ;; Q4_K_M) ft=15 ;; Q6_K) ft=18 ;; esac
    for j in 1 2; do
        set -- $(measure "$build/quantd" quantize -t "$type" -j "$j" "$model" "$dir/out-quantd.gguf")
        qs=$1 qr=$2
        set -- $(measure "$build/quantd" quantize --no-sync -t "$type" -j "$j" "$model" "$dir/out-quantd.gguf")
        ns=$1
        if [ -n "$lib" ]; then
            set -- $(LD_LIBRARY_PATH=$(dirname "$lib") measure "$build/tests/bench/llama_quantize_driver" \
                "$lib" "$model" "$dir/out-llama.gguf" "$ft" "$j")
            ls=$1 lr=$2
        else
            ls=- lr=-
        fi
        ratio=$(awk -v a="$qs" -v b="$ls" 'BEGIN {if (a > 0 && b > 0) printf "%.1fx", b / a; else print "-"}')
        nratio=$(awk -v a="$ns" -v b="$ls" 'BEGIN {if (a > 0 && b > 0) printf "%.1fx", b / a; else print "-"}')
        printf '%-7s %3s %10s %9s MiB %10s %10s %9s MiB %8s %8s\n' "$type" "$j" "$qs" "$((qr / 1024))" \
            "$ns" "$ls" "$(if [ "$lr" = - ]; then echo -; else echo $((lr / 1024)); fi)" "$ratio" "$nratio"
    done
done

# Optional: the ~1.9 GB model (make-model.py --layers 10), quantd alone at 2
# threads: wall time and peak RSS (QD_BENCH_BIG=1). The file is deleted after.
if [ "${QD_BENCH_BIG:-}" = 1 ]; then
    big="$dir/bench-f32-big.gguf"
    [ -f "$big" ] || python3 tests/bench/make-model.py "$big" --layers 10
    cat "$big" >/dev/null
    echo
    echo "## $(du -hL "$big" | cut -f1) F32 GGUF (10 layers), quantd at 2 threads, metrics on, page cache warm"
    echo
    printf '%-7s %10s %12s\n' type "quantd s" "quantd RSS"
    for type in Q8_0 Q4_0 Q4_K_M; do
        set -- $(measure "$build/quantd" quantize -t "$type" -j 2 "$big" "$dir/out-quantd.gguf")
        printf '%-7s %10s %9s MiB\n' "$type" "$1" "$(($2 / 1024))"
    done
    rm -f "$big"
fi
rm -f "$dir/out-quantd.gguf" "$dir/out-llama.gguf" "$dir/time.log"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
