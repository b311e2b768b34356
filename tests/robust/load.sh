#!/bin/sh
# tests/robust/load.sh — hold N concurrent uploads and jobs against a real
# daemon on 127.0.0.1 and report what was held. Not run in CI (minutes, and
# the figures depend on the machine); its figures are in docs/robustness.md.
#
#   tests/robust/load.sh [QUANTD] [-- load.py options]
#     --clients N     clients uploading/submitting at once (default 8)
#     --seconds S     length of the loaded phase (default 20)
#     --burst M       simultaneous uploads on an empty queue (default 48)
#     --max-queued Q  the daemon's max_queued_jobs (default 16)
#
# Reports requests/s, p50 and p99 of status endpoints (wrk, idle and while
# the uploads and jobs run), how many uploads were in flight when one was
# accepted, how many of a burst were held before 429/503, and that nothing
# was lost: every accepted job ends succeeded with the reference artifact
# (tests/data/models/manifest.json). Needs wrk (Debian package `wrk`) and
# python3. Loopback only; bounded by `timeout`.
set -eu
cd "$(dirname "$0")/../.."
QUANTD=${1:-build/quantd}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
command -v wrk >/dev/null || { echo "load.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
[ -x "$QUANTD" ] || { echo "load.sh: no daemon at $QUANTD (build first)" >&2; exit 2; }
exec timeout 900 python3 tests/robust/load.py "$QUANTD" tests/data "$@"
