#!/bin/sh
# tests/ops/openapi.sh — api/openapi.yaml through a real OpenAPI validator:
# Redocly CLI's `lint` (structure against the OpenAPI 3 schema, plus the
# "recommended" rules). Errors fail the check; warnings are printed only.
# The version is pinned: 1.25.0 is the newest 1.x whose engines accept
# Debian 12's nodejs 18.13 / npm 9.2. Needs the npm registry (npx fetches
# it once into ~/.npm).
set -eu
. "$(dirname "$0")/lib.sh"
REDOCLY=${REDOCLY:-@redocly/cli@1.25.0}
SPEC=$ROOT/api/openapi.yaml
command -v npx >/dev/null || fail "no npx (Debian packages nodejs, npm)"
[ -f "$SPEC" ] || fail "no api/openapi.yaml"
out=$(cd "$ROOT" && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1 \
      npx --yes "$REDOCLY" lint --format=stylish api/openapi.yaml 2>&1) && rc=0 || rc=$?
if [ "$rc" != 0 ]; then
    printf '%s\n' "$out" | grep -E ' error |failed|ERR' >&2 || printf '%s\n' "$out" >&2
    fail "$REDOCLY lint api/openapi.yaml (exit $rc)"
fi
warn=$(printf '%s\n' "$out" | grep -c ' warning ' || true)
say "$REDOCLY lint: valid ($warn warnings)"
