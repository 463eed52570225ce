#!/usr/bin/env bash
# Hot swap under load: wrk keeps keep-alive connections busy while the
# operator sequence USR2 -> ready -> WINCH -> QUIT old runs, to a freshly
# renamed binary each time. Prints wrk's totals and the req/s dip during
# the swaps (responses counted per second by a wrk script, which slows wrk
# itself: compare the seconds, not the totals with other runs); non-2xx
# responses and socket errors must both be 0.
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

# Responses per wall-clock second, summed over wrk's threads.
cat > "$PREFIX/persec.lua" <<'LUA'
counts = {}
local threads = {}
setup = function(thread) table.insert(threads, thread) end
response = function(status, headers, body)
    local s = os.time()
    counts[s] = (counts[s] or 0) + 1
end
done = function(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for sec, n in pairs(t:get("counts")) do total[sec] = (total[sec] or 0) + n end
    end
    for sec, n in pairs(total) do io.write(string.format("SEC %d %d\n", sec, n)) end
end
LUA
wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$PREFIX/persec.lua" "http://127.0.0.1:$PORT/" > "$PREFIX/wrk.out" &
WRK=$!
sleep 2
: > "$PREFIX/swaps"
for i in $(seq 1 "$ROUNDS"); do
    OLD=$(cat "$PREFIX/logs/moltd.pid")
    START=$(date +%s)
    install_bin
    kill -USR2 "$OLD"
    wait_for 10 "new binary ready" grep -q "$OLD#0: new binary process [0-9]* is ready" "$PREFIX/logs/error.log"
    kill -WINCH "$OLD"
    wait_for 30 "old workers gone" bash -c "! pgrep -P $OLD -f 'worker process' >/dev/null"
    kill -QUIT "$OLD"
    wait_for 10 "old master gone" bash -c "! kill -0 $OLD 2>/dev/null"
    echo "round $i: $OLD -> $(cat "$PREFIX/logs/moltd.pid")"
    echo "$START $(date +%s)" >> "$PREFIX/swaps"
done
wait $WRK
grep -v '^SEC ' "$PREFIX/wrk.out"
# The dip: the slowest whole second during a swap against the median of
# the whole seconds outside them (the first and last are partial).
python3 - "$PREFIX/wrk.out" "$PREFIX/swaps" <<'PY'
import statistics, sys
secs = sorted((int(a), int(b)) for a, b in
              (l.split()[1:3] for l in open(sys.argv[1]) if l.startswith("SEC ")))[1:-1]
swaps = [tuple(map(int, l.split())) for l in open(sys.argv[2]) if l.strip()]
during = lambda t: any(a <= t <= b for a, b in swaps)
calm = [n for t, n in secs if not during(t)]
busy = [n for t, n in secs if during(t)]
if calm and busy:
    base = statistics.median(calm)
    low = min(busy)
    print("req/s per second: median %d outside the swaps, lowest %d during one (dip %.0f%%)"
          % (base, low, 100 * (1 - low / base)))
else:
    print("req/s per second: not enough whole seconds to compare (run longer)")
PY
NON2XX=$(grep -oP 'Non-2xx or 3xx responses: \K\d+' "$PREFIX/wrk.out" || echo 0)
SOCKERR=$(grep -oP 'Socket errors: .*' "$PREFIX/wrk.out" || echo "none")
echo "non-2xx: $NON2XX; socket errors: $SOCKERR"
[ "$NON2XX" = 0 ] && [ "$SOCKERR" = none ]
