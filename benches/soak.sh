#!/usr/bin/env bash
# Upgrade soak: wrk keeps keep-alive connections busy for the whole run
# while the master is upgraded UPGRADES times in a row (USR2 -> "new binary
# process N is ready" -> WINCH old -> old workers gone -> QUIT old -> old
# master gone), each time to a freshly copied-and-renamed binary. Checks:
#   - wrk: 0 non-2xx responses, 0 socket errors, and it ran throughout;
#   - exactly 1 master and WORKERS workers alive at the end;
#   - the master's open fds and RSS after the last upgrade vs after the
#     first (both measured on a fresh master whose old master has just
#     exited): fds equal, RSS within +2 MiB;
#   - no zombie whose parent is a moltd process.
# Exits non-zero, naming the failed checks, if any fails.
#
#   benches/soak.sh [UPGRADES=50] [WORKERS=2]
#   MOLTD=/path/to/moltd benches/soak.sh ...   # use that binary, skip cargo
set -euo pipefail
UPGRADES=${1:-50}
WORKERS=${2:-2}
RSS_TOLERANCE_KB=2048
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
. benches/lib.sh
moltd_binary
upgrade_prefix "$WORKERS"
"$PREFIX/sbin/moltd" -p "$PREFIX" &
WRK=
PASSED=
cleanup() {
    local f p pids=
    if [ -n "$WRK" ]; then kill -INT "$WRK" 2>/dev/null || true; fi
    for f in "$PREFIX"/logs/moltd.pid "$PREFIX"/logs/moltd.pid.oldbin; do
        if [ -f "$f" ]; then p=$(cat "$f"); pids="$pids $p"; kill -TERM "$p" 2>/dev/null || true; fi
    done
    # Upgraded masters are not our children: wait for them by pid.
    for p in $pids; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    done
    wait 2>/dev/null || true
    if [ -n "$PASSED" ]; then rm -rf "$PREFIX"; fi
}
trap cleanup EXIT
# Process helpers, by /proc and parent pid (never by name).
title() { tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline" | sed 's/ *$//'; }
state() { awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null; }
# PIDs of live children of $1 whose title starts with $2.
children() {
    local c t
    for c in $(pgrep -P "$1" || true); do
        t=$(title "$c")
        [ "${t#"$2"}" != "$t" ] && [ "$(state "$c")" != Z ] && echo "$c"
    done
    return 0
}
no_workers() { [ -z "$(children "$1" 'moltd: worker process')" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
started() { [ -s "$PREFIX/logs/moltd.pid" ] && curl -sf -o /dev/null "http://127.0.0.1:$PORT/"; }
fds() { ls "/proc/$1/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
wait_for 10 "startup" started

# Long enough to outlast the whole sequence; stopped with SIGINT (wrk then
# prints its summary) once the last upgrade is committed.
WRK_SECS=$((600 + UPGRADES * 30))
wrk -t2 -c50 -d"${WRK_SECS}s" "http://127.0.0.1:$PORT/" > "$PREFIX/wrk.out" 2>&1 &
WRK=$!
sleep 2
T0=$SECONDS
for i in $(seq 1 "$UPGRADES"); do
    OLD=$(cat "$PREFIX/logs/moltd.pid")
    install_bin
    kill -USR2 "$OLD"
    wait_for 30 "new binary ready (round $i)" \
        grep -q "\] $OLD#0: new binary process [0-9]* is ready" "$PREFIX/logs/error.log"
    NEW=$(grep -oP "\] $OLD#0: new binary process \K[0-9]+(?= is ready)" "$PREFIX/logs/error.log" | tail -1)
    kill -WINCH "$OLD"
    wait_for 60 "old workers gone (round $i)" no_workers "$OLD"
    kill -QUIT "$OLD"
    wait_for 30 "old master gone (round $i)" gone "$OLD"
    [ "$(cat "$PREFIX/logs/moltd.pid")" = "$NEW" ] || { echo "pid file does not name new master $NEW" >&2; exit 1; }
    if [ "$i" = 1 ]; then FD1=$(fds "$NEW"); RSS1=$(rss_kb "$NEW"); fi
    if [ "$i" = "$UPGRADES" ]; then FDN=$(fds "$NEW"); RSSN=$(rss_kb "$NEW"); fi
    echo "round $i/$UPGRADES: $OLD -> $NEW (${SECONDS}s)"
done
ELAPSED=$((SECONDS - T0))
sleep 1
WRK_RAN=yes
kill -0 "$WRK" 2>/dev/null || WRK_RAN=no
kill -INT "$WRK" 2>/dev/null || true
wait "$WRK" || true
WRK=
cat "$PREFIX/wrk.out"

FAIL=()
TOTAL=$(grep -oP '^\s*\K\d+(?= requests in)' "$PREFIX/wrk.out" || echo 0)
NON2XX=$(grep -oP 'Non-2xx or 3xx responses: \K\d+' "$PREFIX/wrk.out" || echo 0)
SOCKERR=$(grep -oP 'Socket errors: \K.*' "$PREFIX/wrk.out" || echo none)
[ "$WRK_RAN" = yes ] || FAIL+=("wrk exited before the upgrades ended")
[ "$TOTAL" -gt 0 ] || FAIL+=("wrk made no requests")
[ "$NON2XX" = 0 ] || FAIL+=("non-2xx responses: $NON2XX")
[ "$SOCKERR" = none ] || FAIL+=("socket errors: $SOCKERR")

# Every process: "PID<TAB>PPID<TAB>STATE<TAB>TITLE".
procs() {
    local p st
    for p in /proc/[0-9]*; do
        st=$(cat "$p/stat" 2>/dev/null) || continue
        st=${st##*) }
        printf '%s\t%s\t%s\t%s\n' "${p#/proc/}" "$(echo "$st" | cut -d' ' -f2)" "${st%% *}" "$(title "${p#/proc/}")"
    done
}
# Exactly one master of this prefix, with WORKERS workers; nothing else.
MASTER=$(cat "$PREFIX/logs/moltd.pid")
MASTERS=$(procs | awk -F'\t' -v t="moltd: master process $PREFIX/" '$3 != "Z" && index($4, t) == 1 { print $1 }' | xargs)
NMASTERS=$(echo $MASTERS | wc -w)
NWORKERS=$(children "$MASTER" 'moltd: worker process' | wc -l)
STRAYS=$(for m in $MASTERS; do children "$m" moltd; done | grep -vxF -f <(children "$MASTER" 'moltd: worker process'; echo x) | xargs || true)
[ "$NMASTERS" = 1 ] && [ "$MASTERS" = "$MASTER" ] || FAIL+=("masters alive: $NMASTERS ($MASTERS), pid file: $MASTER")
[ "$NWORKERS" = "$WORKERS" ] || FAIL+=("workers alive: $NWORKERS, expected $WORKERS")
[ -z "$STRAYS" ] || FAIL+=("other moltd children: $STRAYS")
[ ! -e "$PREFIX/logs/moltd.pid.oldbin" ] || FAIL+=("moltd.pid.oldbin left behind")

[ "$FDN" = "$FD1" ] || FAIL+=("master fds grew: $FD1 -> $FDN")
[ $((RSSN - RSS1)) -le $RSS_TOLERANCE_KB ] || FAIL+=("master RSS grew: ${RSS1} kB -> ${RSSN} kB")

# Zombies whose parent is a moltd process (any prefix: "moltd: " titles).
# One may exist for an instant before its reap: look twice, a second apart.
zombies() {
    procs | awk -F'\t' '{ pp[$1] = $2; st[$1] = $3; ti[$1] = $4 }
        END { for (p in st) if (st[p] == "Z" && index(ti[pp[p]], "moltd: ") == 1) printf "%s(parent %s) ", p, pp[p] }'
}
Z=$(zombies)
if [ -n "$Z" ]; then sleep 1; Z=$(zombies); fi
[ -z "$Z" ] || FAIL+=("zombies: $Z")
ERRS=$(grep -cE '\[(error|crit|alert|emerg)\]' "$PREFIX/logs/error.log" || true)

echo "== soak: $UPGRADES upgrades, $WORKERS workers, ${ELAPSED}s of upgrades under wrk -t2 -c50"
echo "requests: $TOTAL; non-2xx: $NON2XX; socket errors: $SOCKERR"
echo "alive at end: $NMASTERS master(s) [$MASTERS], $NWORKERS worker(s)"
echo "master fds: $FD1 after upgrade 1, $FDN after upgrade $UPGRADES"
echo "master RSS: $RSS1 kB after upgrade 1, $RSSN kB after upgrade $UPGRADES"
echo "zombies: ${Z:-none}; error-log lines at [error] or worse: $ERRS"
if [ ${#FAIL[@]} -gt 0 ]; then
    printf 'FAIL: %s\n' "${FAIL[@]}" >&2
    echo "logs kept in $PREFIX/logs" >&2
    exit 1
fi
echo "PASS"
PASSED=1
