#!/bin/sh
# tests/ops/notify.sh — the sd_notify protocol as systemd's Type=notify
# sees it: the daemon started with NOTIFY_SOCKET pointing at a datagram
# socket this test owns must send READY=1 once /livez answers, STATUS=
# with the queue figures, and STOPPING=1 after SIGTERM, then exit 0. Run
# twice: with a filesystem socket and with an abstract one ('@name').
set -eu
. "$(dirname "$0")/lib.sh"
scratch
[ -x "$QUANTD" ] || fail "no $QUANTD: build first"
for kind in path abstract; do
    mkdir -p "$T/$kind"
    python3 "$ROOT/tests/ops/notify_check.py" "$kind" "$QUANTD" "$T/$kind" ||
        fail "notify protocol ($kind socket)"
done
say "READY=1, STATUS=, STOPPING=1 and exit 0 (path and abstract sockets)"
