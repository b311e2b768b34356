#!/bin/sh
# tests/integration/test_hostile.sh — every hostile upload against a running daemon.
#
#   tests/integration/test_hostile.sh [BUILD_DIR]      (default: build)
#
# Starts `quantd serve` on an ephemeral loopback port with a fresh state dir
# and max_upload_bytes=128K, then, while good jobs run at the same time,
# POSTs every file of tests/data/hostile/ (see its manifest.json) to
# /v1/jobs?scheme=Q8_0 and checks: the expected status; for a rejection an
# application/problem+json body whose `type` is the manifest's; /livez still
# answers 200 after each upload. At the end: every good job succeeded and its
# artifact is byte-identical to `quantd quantize` of the same model; no
# temp file is left in the spool (tmp/ empty, no upload-*, no *.tmp); the
# daemon exits 0 on SIGTERM. Needs curl and python3. Exit 0 = pass.
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
QUANTD="$BUILD/quantd"
CORPUS=tests/data/hostile
[ -x "$QUANTD" ] || { echo "no $QUANTD (build first)" >&2; exit 2; }
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "needs curl, python3" >&2; exit 2; }

WORK=$(mktemp -d)
STATE="$WORK/state"
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
fail=0
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }

mkdir -p "$STATE"
"$QUANTD" serve --listen 127.0.0.1:0 --state-dir "$STATE" --max-upload-bytes 128K \
    --min-free-disk 0 --threads 2 --log-level warn >"$WORK/daemon.log" 2>&1 &
PID=$!

# readiness: the port file, then /livez (bounded: 10 s)
i=0
while [ ! -s "$STATE/port" ] && [ $i -lt 200 ]; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/daemon.log" >&2; echo "daemon died" >&2; exit 1; }
    sleep 0.05
    i=$((i + 1))
done
PORT=$(cat "$STATE/port" 2>/dev/null)
[ -n "$PORT" ] || { cat "$WORK/daemon.log" >&2; echo "no port file" >&2; exit 1; }
URL="http://127.0.0.1:$PORT"
CURL="curl -s --max-time 30"
[ "$($CURL -o /dev/null -w '%{http_code}' "$URL/livez")" = 200 ] || { echo "no /livez" >&2; exit 1; }

# good jobs, started in the background as the hostile uploads go
python3 tests/hostile/make-corpus.py --good "$WORK/good.gguf" >/dev/null
"$QUANTD" quantize --type Q8_0 "$WORK/good.gguf" "$WORK/expect.gguf" >/dev/null 2>&1 ||
    { echo "quantd quantize failed on the good model" >&2; exit 1; }
good_job() {
    $CURL -o "$WORK/good-$1.json" -H 'Content-Type: application/octet-stream' \
        --data-binary @"$WORK/good.gguf" "$URL/v1/jobs?scheme=Q8_0" >/dev/null
}

n=0
GPIDS=""
python3 -c "import json; [print(c['file'], c['status'], c['type'] or '-') for c in json.load(open('$CORPUS/manifest.json'))['cases']]" >"$WORK/cases"
while read -r file status type; do
    n=$((n + 1))
    if [ $((n % 20)) -eq 1 ]; then
        good_job "$n" &
        GPIDS="$GPIDS $!"
    fi
    got=$($CURL -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' \
        -H 'Content-Type: application/octet-stream' --data-binary @"$CORPUS/$file" \
        "$URL/v1/jobs?scheme=Q8_0")
    if [ "$got" != "$status" ]; then
        bad "$file: status $got, expected $status: $(head -c 300 "$WORK/body")"
    elif [ "$type" != "-" ]; then
        grep -qi '^content-type: application/problem+json' "$WORK/headers" ||
            bad "$file: not problem+json"
        t=$(json "$WORK/body" "d['type']")
        [ "$t" = "$type" ] || bad "$file: type '$t', expected '$type'"
    fi
    [ "$($CURL -o /dev/null -w '%{http_code}' "$URL/livez")" = 200 ] || bad "/livez down after $file"
done <"$WORK/cases"
for p in $GPIDS; do wait "$p"; done
echo "hostile uploads tried: $n"

# every good job succeeded with the CLI's bytes
expect=$(sha256sum "$WORK/expect.gguf" | cut -d' ' -f1)
goods=0
for g in "$WORK"/good-*.json; do
    [ -e "$g" ] || continue
    goods=$((goods + 1))
    id=$(json "$g" "d['id']")
    [ -n "$id" ] || { bad "good job not accepted: $(cat "$g")"; continue; }
    state=""
    i=0
    while [ $i -lt 300 ]; do
        $CURL -o "$WORK/job.json" "$URL/v1/jobs/$id"
        state=$(json "$WORK/job.json" "d['state']")
        case "$state" in succeeded | failed | canceled) break ;; esac
        sleep 0.1
        i=$((i + 1))
    done
    [ "$state" = succeeded ] || { bad "good job $id: $state $(cat "$WORK/job.json")"; continue; }
    art=$(json "$WORK/job.json" "d['artifacts'][0]['url']")
    $CURL -o "$WORK/art" "$URL$art"
    got=$(sha256sum "$WORK/art" | cut -d' ' -f1)
    [ "$got" = "$expect" ] || bad "good job $id: artifact sha256 $got, quantd quantize gives $expect"
done
[ $goods -ge 3 ] || bad "only $goods good jobs ran"
echo "good jobs alongside: $goods"

# nothing half-written left behind
left=$(find "$STATE/tmp" -mindepth 1 2>/dev/null; find "$STATE" -name 'upload-*' -o -name '*.tmp' 2>/dev/null)
[ -z "$left" ] || bad "temp files left in the spool: $left"

kill -TERM "$PID"
wait "$PID"
rc=$?
PID=""
[ $rc -eq 0 ] || bad "daemon exit status $rc on SIGTERM"
if [ $fail -ne 0 ]; then
    echo "--- daemon log" >&2
    tail -n 30 "$WORK/daemon.log" >&2
    echo "test_hostile: $fail failures" >&2
    exit 1
fi
echo "test_hostile: ok"
