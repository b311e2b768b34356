#!/usr/bin/env bash
# smoke.sh QUANTD_BINARY MODEL DOC.md [SECTION] — start the daemon on an
# ephemeral port, run the commands of DOC's ```sh blocks verbatim (only those
# under the heading "## SECTION" when given: the README's API section), check
# that each succeeds, stop with SIGTERM (exit 0). Lines that set QUANTD= or
# MODEL= are the document telling the reader what the test sets itself.
set -euo pipefail
BIN=$1 MODEL=$2 DOC=$3 SECTION=${4:-}
WORK=$(mktemp -d /tmp/quantd-smoke-XXXXXX)
"$BIN" serve --listen 127.0.0.1:0 --state-dir "$WORK/var" --min-free-disk 0 2>"$WORK/log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 500); do  # poll readiness (up to 10 s)
  if [ -s "$WORK/var/port" ] && curl -sf "http://127.0.0.1:$(cat "$WORK/var/port")/readyz" >/dev/null; then break; fi
  sleep 0.02
done
export QUANTD="http://127.0.0.1:$(cat "$WORK/var/port")" MODEL
cd "$WORK"
# Every curl of the document must get a 2xx (a .curlrc the commands do not
# show), except the one that demonstrates an error.
printf 'fail-with-body\n' > "$WORK/.curlrc"
export CURL_HOME="$WORK"
awk -v sec="$SECTION" '
  /^## / { in_sec = (sec == "" || $0 == "## " sec) }
  !in_sec && sec != "" { next }
  /^```sh$/ { f = 1; next }
  /^```$/ { f = 0 }
  f && !/^(QUANTD|MODEL)=/' "$DOC" > commands.sh
[ -s commands.sh ] || { echo "no commands found in $DOC ${SECTION:+(section $SECTION)}"; exit 1; }
n=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  n=$((n + 1))
  echo "+ $line"
  case "$line" in
    *Q9_9*) out=$(eval "$line") && { echo "expected an error: $line"; exit 1; } ;;
    *) out=$(eval "$line") || { echo "FAILED: $line"; exit 1; } ;;
  esac
  case "$line" in
    *Q9_9*) grep -q '"type": "unknown-scheme"' <<<"$out" || { echo "expected a problem"; exit 1; } ;;
    *"scheme=Q4_K_M&wait=60"*) grep -q '"state": "succeeded"' job.json || { echo "job not done"; exit 1; } ;;
  esac
  case "$line" in JOB=*) eval "$line"; [ -n "$JOB" ] || { echo "no job id"; exit 1; } ;; esac
done < commands.sh
sha=$(sha256sum model-Q4_K_M.gguf | cut -d' ' -f1)
[ "$sha" = e3f97bd4850bdbd3dacad78bd144423a49faa2b857c5efc6d8c942de459609cb ] || { echo "artifact differs: $sha"; exit 1; }
kill -TERM $PID
wait $PID
echo "smoke: $n commands, 1 passed, 0 failed"
