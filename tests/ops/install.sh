#!/bin/sh
# tests/ops/install.sh — the container's layout without a container engine:
# stage `cmake --install` with the image's prefix (/usr), check where the
# files land and that the Dockerfile's runtime packages cover the binary's
# libraries, then run the staged binary as an unprivileged user (nobody)
# with only a scratch state directory writable, configured the way the
# image is (QUANTD_* environment), and drive it: /livez, /readyz, an
# authenticated upload quantized to Q4_K_M whose artifact must be
# byte-identical to llama-quantize's, `quantd health`, JSON log lines, and
# a clean exit 0 on SIGTERM.
set -eu
. "$(dirname "$0")/lib.sh"
scratch

[ -x "$QUANTD" ] || fail "no $QUANTD: build first"
S=$T/stage
DESTDIR=$S cmake --install "$BUILD" --prefix /usr >"$T/install.log" 2>&1 ||
    { cat "$T/install.log" >&2; fail "cmake --install"; }

# ---- where things land --------------------------------------------------
for f in usr/bin/quantd etc/quantd/quantd.conf etc/quantd/quantd.conf.dist \
         usr/lib/systemd/system/quantd.service usr/lib/systemd/system/quantd.socket \
         usr/share/man/man1/quantd.1 \
         usr/share/doc/quantd/openapi.yaml usr/share/doc/quantd/operations.md; do
    [ -f "$S/$f" ] || fail "missing $f in the staged install"
done
[ -x "$S/usr/bin/quantd" ] || fail "usr/bin/quantd is not executable"
U=$S/usr/lib/systemd/system/quantd.service
grep -q '^ExecStart=/usr/bin/quantd serve --config /etc/quantd/quantd.conf ' "$U" ||
    fail "the installed unit does not run /usr/bin/quantd with /etc/quantd/quantd.conf"
grep -q '^LoadCredential=tokens:/etc/quantd/tokens$' "$U" || fail "unit: LoadCredential path"
cmp -s "$ROOT/config/quantd.conf" "$S/etc/quantd/quantd.conf" || fail "quantd.conf differs"
W=$(groff -man -Tutf8 -ww -z "$S/usr/share/man/man1/quantd.1" 2>&1) || true
[ -z "$W" ] || fail "man page warnings: $W"
# A reinstall keeps the operator's quantd.conf.
echo "# local edit" >>"$S/etc/quantd/quantd.conf"
DESTDIR=$S cmake --install "$BUILD" --prefix /usr >/dev/null 2>&1
grep -q '^# local edit$' "$S/etc/quantd/quantd.conf" || fail "reinstall replaced quantd.conf"
cp "$ROOT/config/quantd.conf" "$S/etc/quantd/quantd.conf"
say "staged install layout OK"

# ---- the image: runtime packages and directives -------------------------
D=$ROOT/Dockerfile
PKGS=$(sed -n 's/^ARG QD_RUNTIME_PKGS="\(.*\)"$/\1/p' "$D")
[ -n "$PKGS" ] || fail "no ARG QD_RUNTIME_PKGS in the Dockerfile"
for lib in $(readelf -d "$S/usr/bin/quantd" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    case $lib in libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) continue ;; esac
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|AArch64|64bit/ {print $NF; exit}')
    [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1) ||
        pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
    [ -n "$pkg" ] || fail "cannot tell which package ships $lib"
    case " $PKGS " in *" $pkg "*) ;; *) fail "Dockerfile runtime stage lacks $pkg (for $lib)" ;; esac
done
for d in '^FROM debian:12 AS build' '^FROM debian:12-slim' '^USER 10001' \
         '^VOLUME /var/lib/quantd' '^EXPOSE 8080' '^STOPSIGNAL SIGTERM' \
         'CMD \["quantd", "health"\]' 'QUANTD_LISTEN=0.0.0.0:8080' \
         'QUANTD_STATE_DIR=/var/lib/quantd' 'install-deps.sh' 'ctest'; do
    grep -q "$d" "$D" || fail "Dockerfile: nothing matches '$d'"
done
say "Dockerfile runtime packages cover: $(readelf -d "$S/usr/bin/quantd" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"

# ---- run it as the image does -------------------------------------------
# Only $T/state is writable by the daemon's user; the staged tree is root's.
chmod 0755 "$T"
mkdir -m 0700 "$T/state"
TOKEN=ops-test-token-$$
printf '# test tokens\n%s\n' "$TOKEN" >"$T/tokens"
RUNAS=
if [ "$(id -u)" = 0 ]; then
    chown 65534:65534 "$T/state" "$T/tokens"
    chmod 0400 "$T/tokens"
    RUNAS="setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --"
else
    say "not root: running as $(id -un) instead of nobody"
fi
(cd "$T/state" && exec $(echo $RUNAS) env -i PATH=/usr/bin:/bin HOME=/nonexistent \
    QUANTD_CONFIG="$S/etc/quantd/quantd.conf" QUANTD_LISTEN=127.0.0.1:0 \
    QUANTD_STATE_DIR="$T/state" QUANTD_MIN_FREE_DISK=0 QUANTD_THREADS=2 \
    QUANTD_TOKEN_FILE="$T/tokens" "$S/usr/bin/quantd" serve) 2>"$T/daemon.log" &
DAEMON_PID=$!
wait_file "$T/state/port" 20 || fail "no state/port after 20s: $(tail -n 3 "$T/daemon.log")"
PORT=$(cat "$T/state/port")
B=http://127.0.0.1:$PORT
wait_http "$B/livez" 20 || fail "/livez"
wait_http "$B/readyz" 20 || fail "/readyz not 200: $(curl -sS "$B/readyz")"
[ "$(stat -c %u "$T/state/port")" = "$(stat -c %u "$T/state")" ] || fail "state files not owned by the daemon's user"

# Authentication from the token file.
code=$(curl -sS -o /dev/null -w '%{http_code}' "$B/v1/capabilities")
[ "$code" = 401 ] || fail "no token: status $code (want 401)"
AUTH="Authorization: Bearer $TOKEN"

# Quantize the tiny model through the API; the artifact must be byte-
# identical to llama-quantize's Q4_K_M.
curl -fsS -H "$AUTH" -T "$MODEL" -X POST "$B/v1/jobs?scheme=Q4_K_M&wait=120" >"$T/job.json" ||
    fail "POST /v1/jobs"
URL=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="succeeded", j["state"]; print(j["artifacts"][0]["url"])' "$T/job.json") ||
    fail "job did not succeed: $(head -c 400 "$T/job.json")"
curl -fsS -H "$AUTH" -o "$T/out.gguf" "$B$URL" || fail "GET $URL"
want=$(golden_sha Q4_K_M)
got=$(sha256sum "$T/out.gguf" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "artifact sha256 $got, llama-quantize's is $want"
say "API quantize Q4_K_M as $( [ -n "$RUNAS" ] && echo nobody || id -un ): sha256 matches llama-quantize"

# The README's API example, against this daemon.
python3 - "$ROOT/README.md" >"$T/readme.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for block in re.findall(r"```sh\n(.*?)```", text, re.S):
    cmd = block.replace("\\\n", " ")
    for line in cmd.splitlines():
        if line.strip().startswith("curl") and "127.0.0.1:8080" in line:
            print(line.strip())
PY
[ -s "$T/readme.sh" ] || fail "no curl example against 127.0.0.1:8080 in README.md"
n=0
while IFS= read -r cmd; do
    n=$((n + 1))
    cmd=$(printf '%s' "$cmd" | sed "s/127\.0\.0\.1:8080/127.0.0.1:$PORT/g; s/^curl /curl -f -H \"\$AUTH\" /")
    (cd "$ROOT" && AUTH=$AUTH eval "$cmd") >"$T/readme.out" 2>&1 ||
        fail "README example failed: $cmd: $(head -c 300 "$T/readme.out")"
done <"$T/readme.sh"
say "README curl examples ($n) answered"

# quantd health, as the image's HEALTHCHECK runs it.
$(echo $RUNAS) env -i PATH=/usr/bin:/bin QUANTD_LISTEN=0.0.0.0:$PORT "$S/usr/bin/quantd" health >/dev/null ||
    fail "quantd health: exit $?"
if $(echo $RUNAS) env -i PATH=/usr/bin:/bin QUANTD_LISTEN=127.0.0.1:1 "$S/usr/bin/quantd" health 2>/dev/null; then
    fail "quantd health succeeded against a closed port"
fi
say "quantd health: 0 when up, non-zero when down"

stop_daemon
# Logs: one JSON object per line with ts, level, msg.
python3 - "$T/daemon.log" <<'PY' || fail "log lines are not JSON objects with ts, level, msg"
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert isinstance(o, dict) and {"ts", "level", "msg"} <= o.keys(), line
    n += 1
assert n > 0
PY
# Nothing but the state directory was written.
[ -z "$(find "$S" -newer "$T/tokens" -type f ! -path "$S/etc/quantd/quantd.conf" | head -n 1)" ] ||
    fail "the daemon wrote into the installed tree"
if [ -n "$RUNAS" ]; then
    stray=$(find /tmp /var/tmp /dev/shm -xdev -user 65534 -newer "$T/tokens" 2>/dev/null |
            grep -v "^$T/" | head -n 3)
    [ -z "$stray" ] || fail "the daemon wrote outside its state directory: $stray"
fi
say "SIGTERM: exit 0; logs are JSON lines"
