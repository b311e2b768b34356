# tests/ops/lib.sh — helpers for the operations checks (sourced, POSIX sh).
# Every wait has a deadline; nothing sleeps a fixed time hoping for the best.

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
QUANTD=${QUANTD:-$BUILD/quantd}
MODEL=$ROOT/tests/data/models/tiny-llama-f32.gguf
MANIFEST=$ROOT/tests/data/models/manifest.json
NAME=$(basename "$0" .sh)

say()  { printf '%s: %s\n' "$NAME" "$*"; }
fail() { printf '%s: FAIL: %s\n' "$NAME" "$*" >&2; exit 1; }
skip() { printf '%s: SKIP: %s\n' "$NAME" "$*"; exit 77; }

# The sha256 of llama-quantize's output for TYPE on the tiny model.
golden_sha() {
    python3 - "$MANIFEST" "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
want = "tiny-llama-%s.gguf" % sys.argv[2]
print(next(f["sha256"] for f in m["files"] if f["name"] == want))
PY
}

# wait_file PATH SECONDS: until PATH exists and is non-empty.
wait_file() {
    _n=0
    while [ ! -s "$1" ]; do
        _n=$((_n + 1))
        [ "$_n" -le $(($2 * 10)) ] || return 1
        sleep 0.1
    done
}

# wait_http URL SECONDS: until URL answers 200.
wait_http() {
    _n=0
    until curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; do
        _n=$((_n + 1))
        [ "$_n" -le $(($2 * 10)) ] || return 1
        sleep 0.1
    done
}

# wait_exit PID SECONDS: until our child PID exits (a zombie, on Linux),
# then reap it and set EXIT_RC. Fails if it is still running at the deadline.
wait_exit() {
    _n=0
    while [ -r "/proc/$1/stat" ]; do
        read -r _pid _comm _st _rest <"/proc/$1/stat" || break
        [ "$_st" != Z ] || break
        _n=$((_n + 1))
        [ "$_n" -le $(($2 * 10)) ] || return 1
        sleep 0.1
    done
    EXIT_RC=0
    wait "$1" || EXIT_RC=$?
}

# A scratch directory removed on exit; DAEMON_PID is killed if still up.
scratch() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/quantd-ops.XXXXXX")
    DAEMON_PID=
    trap 'cleanup' EXIT INT TERM
}
cleanup() {
    if [ -n "${DAEMON_PID:-}" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -KILL "$DAEMON_PID" 2>/dev/null
        [ -n "${T:-}" ] && [ -s "$T/daemon.log" ] && tail -n 20 "$T/daemon.log" >&2
    fi
    [ -n "${T:-}" ] && rm -rf "$T"
}

# start_daemon STATE_DIR [ARGS...]: quantd serve on an ephemeral loopback
# port, logs in $T/daemon.log; sets DAEMON_PID and PORT, waits for /livez.
start_daemon() {
    _state=$1; shift
    "$QUANTD" serve --listen 127.0.0.1:0 --state-dir "$_state" --min-free-disk 0 \
        --threads 2 "$@" 2>"$T/daemon.log" &
    DAEMON_PID=$!
    wait_file "$_state/port" 20 || fail "no $_state/port after 20s (log: $(tail -n 3 "$T/daemon.log"))"
    PORT=$(cat "$_state/port")
    wait_http "http://127.0.0.1:$PORT/livez" 20 || fail "/livez did not answer"
}

# stop_daemon: SIGTERM, then the exit status must be 0 within 30s.
stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait_exit "$DAEMON_PID" 30 || fail "still running 30s after SIGTERM"
    DAEMON_PID=
    [ "$EXIT_RC" = 0 ] || fail "exit status $EXIT_RC after SIGTERM (want 0)"
}
