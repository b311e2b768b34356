#!/bin/sh
# tests/ops/run.sh — the operations checks of issue 7, run by .ci/run after
# `make test` (which builds ./build). Each check is a script here; all run,
# then the summary. Exit status 1 if any failed (77 from a script: skipped).
#   BUILD=build-x tests/ops/run.sh           another build tree
#   tests/ops/run.sh notify metrics          some of them
set -u
cd "$(dirname "$0")/../.."
CHECKS=${*:-install notify socket systemd metrics openapi}
failed="" skipped="" passed=""
for c in $CHECKS; do
    echo "== ops: $c"
    sh "tests/ops/$c.sh"
    case $? in
        0) passed="$passed $c" ;;
        77) skipped="$skipped $c" ;;
        *) failed="$failed $c" ;;
    esac
done
echo "== ops: passed:${passed:- none}; skipped:${skipped:- none}; failed:${failed:- none}"
[ -z "$failed" ]
