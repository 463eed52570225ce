#!/usr/bin/env bash
# Hot swap under load: wrk keeps keep-alive connections busy while the
# operator sequence USR2 -> ready -> WINCH -> QUIT old runs, to a freshly
# renamed binary each time. Prints wrk's totals; non-2xx responses and
# socket errors must both be 0.
#
#   benches/hotswap.sh [ROUNDS] [SECONDS] [CONNECTIONS] [WORKERS]
#   MOLTD=/path/to/moltd benches/hotswap.sh ...   # use that binary, skip cargo
set -euo pipefail
ROUNDS=${1:-3}
SECS=${2:-20}
CONNS=${3:-50}
WORKERS=${4:-2}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
. benches/lib.sh
moltd_binary
upgrade_prefix "$WORKERS"
"$PREFIX/sbin/moltd" -p "$PREFIX" &
cleanup() {
    for f in "$PREFIX"/logs/moltd.pid "$PREFIX"/logs/moltd.pid.oldbin; do
        if [ -f "$f" ]; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
wait_for 10 "startup" curl -sf -o /dev/null "http://127.0.0.1:$PORT/"

wrk -t2 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$PORT/" > "$PREFIX/wrk.out" &
WRK=$!
sleep 2
for i in $(seq 1 "$ROUNDS"); do
    OLD=$(cat "$PREFIX/logs/moltd.pid")
    install_bin
    kill -USR2 "$OLD"
    wait_for 10 "new binary ready" grep -q "$OLD#0: new binary process [0-9]* is ready" "$PREFIX/logs/error.log"
    kill -WINCH "$OLD"
    wait_for 30 "old workers gone" bash -c "! pgrep -P $OLD -f 'worker process' >/dev/null"
    kill -QUIT "$OLD"
    wait_for 10 "old master gone" bash -c "! kill -0 $OLD 2>/dev/null"
    echo "round $i: $OLD -> $(cat "$PREFIX/logs/moltd.pid")"
done
wait $WRK
cat "$PREFIX/wrk.out"
NON2XX=$(grep -oP 'Non-2xx or 3xx responses: \K\d+' "$PREFIX/wrk.out" || echo 0)
SOCKERR=$(grep -oP 'Socket errors: .*' "$PREFIX/wrk.out" || echo "none")
echo "non-2xx: $NON2XX; socket errors: $SOCKERR"
[ "$NON2XX" = 0 ] && [ "$SOCKERR" = none ]
