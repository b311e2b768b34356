#!/bin/sh
# Static analysis: cppcheck and clang-tidy (config: .clang-tidy) over the
# project's C sources, using build-lint/compile_commands.json.
#
#   tests/lint/run.sh                  cppcheck gates; clang-tidy reports
#   LINT_TIDY_STRICT=1 tests/lint/run.sh   clang-tidy findings fail too
#   LINT_TIDY=0 tests/lint/run.sh      cppcheck only (clang-tidy takes ~2 min)
#
# A finding is fixed, or suppressed in place with a comment saying why
# (cppcheck: `// cppcheck-suppress id`, clang-tidy: `// NOLINT(check)`).
# clang-tidy is not gating yet: its open findings (mostly the analyzer not
# seeing that qcore_error_set returns its non-zero code argument) are listed
# in the robustness report for their owners; set LINT_TIDY_STRICT=1 in CI
# once they are triaged.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${LINT_BUILD:-build-lint}
JOBS=$(nproc)

cmake -S . -B "$BUILD" -DQD_BUILD_TESTS=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null

status=0
echo "cppcheck: core/ api/ config/ server/"
if ! cppcheck --project="$BUILD/compile_commands.json" --enable=warning,portability,performance \
    --error-exitcode=1 --inline-suppr --quiet -j"$JOBS" --suppress=missingIncludeSystem \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    -i "$BUILD" -i tests; then
    echo "cppcheck: findings above" >&2
    status=1
fi

if [ "${LINT_TIDY:-1}" = 1 ]; then
    if ! command -v clang-tidy >/dev/null; then
        echo "clang-tidy not installed (scripts/install-deps.sh --test)" >&2
        exit 1
    fi
    files=$(ls core/*.c core/formats/*.c core/kernels/*.c api/*.c config/*.c server/*.c 2>/dev/null |
        grep -v serve_stub.c)
    out="$BUILD/clang-tidy.txt"
    # shellcheck disable=SC2086
    printf '%s\n' $files | xargs -P"$JOBS" -n4 clang-tidy -p "$BUILD" --quiet >"$out" 2>/dev/null || true
    findings=$(grep -cE '(warning|error):' "$out" || true)
    echo "clang-tidy: $findings findings (full text: $out)"
    grep -E '(warning|error):' "$out" | sed "s|$(pwd)/||" | sort -u || true
    if [ "$findings" -gt 0 ] && [ "${LINT_TIDY_STRICT:-0}" = 1 ]; then
        status=1
    fi
fi
exit $status
