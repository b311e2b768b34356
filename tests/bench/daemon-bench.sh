#!/usr/bin/env bash
# tests/bench/daemon-bench.sh — the daemon's benchmark (run by hand, not a
# test, not in CI): prints a table.
#
#   1. Upload throughput on loopback: `curl -T` of a generated safetensors
#      file (SIZE, default 1 GiB) to PUT /v1/models/{name}, RUNS times, with
#      the state dir on disk (STATE_DISK, default under /tmp) and on tmpfs
#      (/dev/shm). The time is curl's total: body streamed, hashed, written,
#      then fsynced and the header checked before the 201 — the end-to-end
#      figure a client sees. Target: >= 1 GB/s.
#   2. Latency of GET /v1/jobs/{id} under load, with wrk (Debian package
#      `wrk`): alone, then while 8 uploads stream and 2 jobs run. Target:
#      p99 <= 10 ms.
#
# Usage: tests/bench/daemon-bench.sh [QUANTD] ; environment: SIZE (MiB,
# default 1024), RUNS (default 3), WRK_SECONDS (default 10), THREADS
# (daemon pool, default: CPUs), STATE_DISK (a directory on a disk).
# Needs curl, wrk, python3. Removes everything it made.
set -euo pipefail

QUANTD=${1:-build/quantd}
SIZE=${SIZE:-1024}
RUNS=${RUNS:-3}
WRK_SECONDS=${WRK_SECONDS:-10}
THREADS=${THREADS:-$(nproc)}
STATE_DISK=${STATE_DISK:-/tmp}

for tool in curl wrk python3; do
    command -v "$tool" >/dev/null || { echo "daemon-bench: needs $tool (apt-get install $tool)" >&2; exit 2; }
done
[ -x "$QUANTD" ] || { echo "daemon-bench: no quantd binary at $QUANTD" >&2; exit 2; }
QUANTD=$(cd "$(dirname "$QUANTD")" && pwd)/$(basename "$QUANTD")

WORK=$(mktemp -d /tmp/quantd-bench-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK" /dev/shm/"$(basename "$WORK")"
}
trap cleanup EXIT

# A safetensors file of one F32 tensor [rows, 1024] of random bytes scaled
# to small floats (random bits would include NaN/Inf: fine for uploads, but
# the jobs below quantize it, so use real values).
MODEL=$WORK/model.safetensors
python3 - "$MODEL" "$SIZE" <<'EOF'
import json, os, struct, sys
path, mib = sys.argv[1], int(sys.argv[2])
rows = mib * 1024 * 1024 // (1024 * 4)
n = rows * 1024 * 4
hdr = json.dumps({"__metadata__": {"format": "pt"},
                  "blk.weight": {"dtype": "F32", "shape": [rows, 1024], "data_offsets": [0, n]}})
hdr += " " * (-len(hdr) % 8)
block = bytearray()
import random
random.seed(1)
vals = [random.uniform(-0.1, 0.1) for _ in range(1 << 16)]
block = struct.pack("<%df" % len(vals), *vals)  # 256 KiB
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(hdr)))
    f.write(hdr.encode())
    left = n
    while left:
        k = min(left, len(block))
        f.write(block[:k])
        left -= k
EOF
BYTES=$(stat -c %s "$MODEL")

start_daemon() { # state dir -> sets BASE, pushes the pid
    local dir=$1
    mkdir -p "$dir"
    "$QUANTD" serve --listen 127.0.0.1:0 --state-dir "$dir" --min-free-disk 0 \
        --max-upload-bytes 64G --max-connections 256 --threads "$THREADS" \
        --max-running-jobs 2 --log-level warn 2>"$dir.log" &
    PIDS+=($!)
    DPID=$!
    for _ in $(seq 1 500); do
        [ -s "$dir/port" ] && curl -fsS "http://127.0.0.1:$(cat "$dir/port")/readyz" >/dev/null 2>&1 && break
        sleep 0.02
    done
    BASE=http://127.0.0.1:$(cat "$dir/port")
}

stop_daemon() {
    kill "$DPID"
    wait "$DPID" 2>/dev/null || true
}

upload_runs() { # label, state dir
    local label=$1 dir=$2 best=0 sum=0
    start_daemon "$dir"
    for i in $(seq 1 "$RUNS"); do
        local t
        t=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -T "$MODEL" "$BASE/v1/models/up$i")
        local code=${t%% *} secs=${t##* }
        [ "$code" = 201 ] || { echo "upload answered $code" >&2; exit 1; }
        local gbs
        gbs=$(python3 -c "print(f'{$BYTES / $secs / 1e9:.2f}')")
        printf '| %-22s | %3d | %8.1f | %8.3f | %6s |\n' "$label" "$i" "$(python3 -c "print($BYTES/2**20)")" "$secs" "$gbs"
        curl -sS -o /dev/null -X DELETE "$BASE/v1/models/up$i"
    done
    stop_daemon
}

echo "quantd daemon benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, pool threads $THREADS"
echo "$("$QUANTD" version); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## Upload throughput (curl -T, loopback, PUT /v1/models/{name}: stream + SHA-256 + write + fsync + header check)"
echo
echo "| state dir              | run |      MiB |        s |   GB/s |"
echo "|------------------------|-----|----------|----------|--------|"
upload_runs "disk ($STATE_DISK)" "$WORK/state-disk"
SHM=/dev/shm/$(basename "$WORK")
if [ -d /dev/shm ]; then
    upload_runs "tmpfs (/dev/shm)" "$SHM/state"
fi

echo
echo "## GET /v1/jobs/{id} latency (wrk, ${WRK_SECONDS}s, 2 threads, 16 connections)"
echo
start_daemon "$WORK/state-load"
curl -fsS -o /dev/null -T "$MODEL" "$BASE/v1/models/m"
# a finished job to poll
JOB=$(curl -fsS -H 'Content-Type: application/json' \
    -d '{"model": "m", "scheme": "Q8_0", "dry_run": true}' "$BASE/v1/jobs?wait=60" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

wrk_line() { # label -> "p50 p99 req/s"
    local out
    out=$(wrk -t2 -c16 -d"${WRK_SECONDS}s" --latency "$BASE/v1/jobs/$JOB")
    local p50 p99 rps
    p50=$(awk '$1=="50%"{print $2}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    printf '| %-44s | %8s | %8s | %9s |\n' "$1" "$p50" "$p99" "$rps"
}

echo "| load                                         |      p50 |      p99 |     req/s |"
echo "|----------------------------------------------|----------|----------|-----------|"
wrk_line "idle"

# load: 2 jobs (int4 of the generated model: CPU-bound, re-submitted while
# wrk runs) and 8 uploads streaming in a loop
submit() {
    curl -fsS -H 'Content-Type: application/json' -d '{"model": "m", "scheme": "int4"}' \
        "$BASE/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
LOADFLAG=$WORK/load.on
touch "$LOADFLAG"
for k in 1 2; do
    ( while [ -e "$LOADFLAG" ]; do
          id=$(submit) || break
          curl -fsS -o /dev/null "$BASE/v1/jobs/$id?wait=600" 2>/dev/null ||
              while [ -e "$LOADFLAG" ] && curl -fsS "$BASE/v1/jobs/$id" | grep -q '"state": "\(queued\|running\)"'; do sleep 0.2; done
      done ) &
    PIDS+=($!)
done
for k in $(seq 1 8); do
    ( while [ -e "$LOADFLAG" ]; do
          curl -sS -o /dev/null -T "$MODEL" "$BASE/v1/models/load$k" || true
      done ) &
    PIDS+=($!)
done
sleep 2
RUNNING=$(curl -fsS "$BASE/metrics" | awk '/^quantd_jobs\{state="running"/{s+=$2} END{print s+0}')
wrk_line "8 uploads streaming + 2 jobs running"
RUNNING2=$(curl -fsS "$BASE/metrics" | awk '/^quantd_jobs\{state="running"/{s+=$2} END{print s+0}')
UPLOADS=$(curl -fsS "$BASE/metrics" | awk '/^quantd_http_connections /{print $2}')
rm -f "$LOADFLAG"
echo
echo "(jobs running at the start / end of the loaded run: $RUNNING / $RUNNING2; open connections at the end: ${UPLOADS:-?}; load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
stop_daemon
