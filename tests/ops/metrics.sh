#!/bin/sh
# tests/ops/metrics.sh — GET /metrics after some traffic (a probe, a 404, a
# finished Q8_0 job) must pass `promtool check metrics` (format and naming
# lint: _total counters, base units) and carry the series operators alert on
# (docs/operations.md).
set -eu
. "$(dirname "$0")/lib.sh"
scratch
command -v promtool >/dev/null || fail "no promtool (Debian package prometheus)"
[ -x "$QUANTD" ] || fail "no $QUANTD: build first"
mkdir "$T/state"
start_daemon "$T/state"
B=http://127.0.0.1:$PORT
curl -fsS -o /dev/null "$B/readyz"
curl -sS -o /dev/null "$B/no-such-thing"
curl -fsS -o "$T/job.json" -T "$MODEL" -X POST "$B/v1/jobs?scheme=Q8_0&wait=120" ||
    fail "POST /v1/jobs"
curl -fsS -D "$T/headers" -o "$T/metrics.txt" "$B/metrics" || fail "GET /metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/headers" ||
    fail "/metrics content type: $(grep -i '^content-type' "$T/headers")"
stop_daemon

if ! promtool check metrics <"$T/metrics.txt" >"$T/promtool.txt" 2>&1; then
    cat "$T/promtool.txt" >&2
    fail "promtool check metrics"
fi
[ ! -s "$T/promtool.txt" ] || { cat "$T/promtool.txt" >&2; fail "promtool lint output"; }
for s in quantd_build_info quantd_start_time_seconds quantd_http_requests_total \
         quantd_http_request_duration_seconds_bucket quantd_jobs \
         quantd_job_queue_depth quantd_jobs_submitted_total quantd_jobs_finished_total \
         quantd_job_duration_seconds_count quantd_disk_free_bytes quantd_draining; do
    grep -q "^$s[ {]" "$T/metrics.txt" || fail "no series $s"
done
grep -q '^quantd_jobs_finished_total{scheme="Q8_0",state="succeeded"} 1$' "$T/metrics.txt" ||
    fail "the finished job is not counted: $(grep finished_total "$T/metrics.txt")"
say "promtool check metrics: OK ($(grep -c '^quantd_' "$T/metrics.txt") samples); key series present"
