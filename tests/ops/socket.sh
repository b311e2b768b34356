#!/bin/sh
# tests/ops/socket.sh — socket activation (systemd/quantd.socket): the
# protocol checks of socket_check.py (this test owns the socket and plays
# the service manager), then the same start through systemd's own
# systemd-socket-activate, which binds, waits for the first connection and
# execs the daemon with the socket, as PID 1 does for quantd.socket.
set -eu
. "$(dirname "$0")/lib.sh"
scratch
[ -x "$QUANTD" ] || fail "no $QUANTD: build first"
python3 "$ROOT/tests/ops/socket_check.py" "$QUANTD" "$MODEL" "$T" || {
    tail -n 5 "$T/daemon.log" >&2
    fail "socket activation protocol"
}

command -v systemd-socket-activate >/dev/null ||
    fail "no systemd-socket-activate (Debian package systemd)"
P=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
systemd-socket-activate -l "127.0.0.1:$P" "$QUANTD" serve --listen 127.0.0.1:0 \
    --state-dir "$T/sa" --min-free-disk 0 --threads 2 2>"$T/daemon.log" &
DAEMON_PID=$!
# its "Listening on" line says the socket is bound; the first request starts quantd
_n=0
until grep -q "Listening on" "$T/daemon.log" 2>/dev/null; do
    _n=$((_n + 1)); [ "$_n" -le 200 ] || fail "systemd-socket-activate did not listen"; sleep 0.1
done
wait_http "http://127.0.0.1:$P/livez" 20 || fail "no answer on the activated socket"
[ "$(cat "$T/sa/port")" = "$P" ] || fail "port file $(cat "$T/sa/port") != $P"
grep -q '"socket_activation":true' "$T/daemon.log" || fail "no socket_activation in the log"
stop_daemon
say "protocol checks passed; systemd-socket-activate on port $P: answered, exit 0 on SIGTERM"
