#!/bin/sh
# tests/ops/systemd.sh — the unit as installed: `systemd-analyze verify`
# must be silent (it needs ExecStart's binary and the man page to exist, so
# the check installs into a scratch prefix), and `systemd-analyze security
# --offline=yes` must rate its exposure at most QD_MAX_EXPOSURE (2.0).
set -eu
. "$(dirname "$0")/lib.sh"
scratch
MAX=${QD_MAX_EXPOSURE:-2.0}
command -v systemd-analyze >/dev/null || fail "no systemd-analyze (Debian package systemd)"
P=$T/prefix
cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1 ||
    { cat "$T/install.log" >&2; fail "cmake --install --prefix $P"; }
U=$P/lib/systemd/system/quantd.service
grep -q "^ExecStart=$P/bin/quantd " "$U" || fail "installed unit does not run $P/bin/quantd"

# verify: exit 0 and no output at all (warnings included). MANPATH lets it
# find Documentation=man:quantd(1).
out=$(MANPATH="$P/share/man" SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$U" 2>&1) ||
    fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
say "systemd-analyze verify: clean"
# The optional socket unit, installed beside it, starts that service.
S=$P/lib/systemd/system/quantd.socket
[ -f "$S" ] || fail "no $S installed"
out=$(MANPATH="$P/share/man" SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$S" 2>&1) ||
    fail "systemd-analyze verify quantd.socket: $out"
[ -z "$out" ] || fail "systemd-analyze verify quantd.socket warns: $out"
[ "$(grep -c '^ListenStream=' "$S")" = 1 ] || fail "quantd.socket: one ListenStream= expected"
say "systemd-analyze verify quantd.socket: clean"

# security: the last line reads "→ Overall exposure level for quantd.service: 0.9 SAFE".
systemd-analyze security --offline=yes --no-pager "$U" >"$T/security.txt" 2>&1 ||
    { cat "$T/security.txt" >&2; fail "systemd-analyze security"; }
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$T/security.txt")
[ -n "$score" ] || { cat "$T/security.txt" >&2; fail "no exposure score in the output"; }
awk -v s="$score" -v m="$MAX" 'BEGIN { exit !(s + 0 <= m + 0) }' || {
    grep '✗' "$T/security.txt" >&2 || true
    fail "exposure $score > $MAX"
}
say "systemd-analyze security: exposure $score (<= $MAX)"

# The checked-in unit, not only the installed copy, carries the contract.
for d in '^Type=notify$' '^DynamicUser=yes$' '^StateDirectory=quantd$' \
         '^LoadCredential=tokens:' '%d/tokens' '^ProtectSystem=strict$' \
         '^CapabilityBoundingSet=$' '^SystemCallFilter=@system-service$' \
         '^MemoryMax=' '^TasksMax=' '^LimitNOFILE=' '^TimeoutStopSec='; do
    grep -q -- "$d" "$ROOT/systemd/quantd.service" || fail "systemd/quantd.service: no $d"
done
# Stopping must outlast the drain: TimeoutStopSec > drain_timeout.
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$ROOT/systemd/quantd.service")
drain=$(sed -n 's/^drain_timeout = \([0-9]*\)s\{0,1\}$/\1/p' "$ROOT/config/quantd.conf")
[ -n "$stop" ] && [ -n "$drain" ] && [ "$stop" -gt "$drain" ] ||
    fail "TimeoutStopSec ($stop) must exceed drain_timeout ($drain)"
say "unit directives OK (TimeoutStopSec ${stop}s > drain_timeout ${drain}s)"
