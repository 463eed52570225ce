#!/usr/bin/env bash
# Hot swap under load: wrk keeps keep-alive connections busy while the
# operator sequence USR2 -> ready -> WINCH -> QUIT old runs, to a freshly
# renamed binary each time. Prints wrk's totals and the req/s dip during
# the swaps (responses counted per second by a wrk script, which slows wrk
# itself: compare the seconds, not the totals with other runs); non-2xx
# responses and socket errors must both be 0.
#
# With H2=1 the port speaks TLS (a fresh EC certificate) and the load is
# HTTP/2: h2load -c CONNECTIONS -m 10, run for one second at a time (in -D
# mode h2load stops using a connection that had a GOAWAY and never opens
# another), its per-request logs giving the seconds. Every request h2load started must succeed: a "failed" request
# with start time 0 in its log is one h2load never sent (it does not start
# a stream on a connection that has had a GOAWAY, nor retry it elsewhere),
# so those are counted apart, as "never sent".
#
#   benches/hotswap.sh [ROUNDS] [SECONDS] [CONNECTIONS] [WORKERS]
#   MOLTD=/path/to/moltd benches/hotswap.sh ...   # use that binary, skip cargo
#   H2=1 benches/hotswap.sh ...                   # HTTP/2 over TLS, h2load
set -euo pipefail
ROUNDS=${1:-3}
SECS=${2:-20}
CONNS=${3:-50}
WORKERS=${4:-2}
cd "$(dirname "$0")/.."
H2=${H2:-0}
command -v wrk >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
[ "$H2" = 1 ] && { command -v h2load >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nghttp2-client; }; }
. benches/lib.sh
moltd_binary
upgrade_prefix "$WORKERS"
SCHEME=http
if [ "$H2" = 1 ]; then
    SCHEME=https
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj /CN=localhost -keyout "$PREFIX/conf/key.pem" -out "$PREFIX/conf/cert.pem" 2>/dev/null
    sed -i "s|^listen = \[\"127.0.0.1:$PORT\"\]|listen = [\"127.0.0.1:$PORT ssl\"]\nssl_certificate = \"conf/cert.pem\"\nssl_certificate_key = \"conf/key.pem\"|" \
        "$PREFIX/conf/moltd.toml"
    # h2load never reconnects a connection that reached its request cap.
    sed -i "1i keepalive_requests = 1000000000" "$PREFIX/conf/moltd.toml"
fi
"$PREFIX/sbin/moltd" -p "$PREFIX" &
cleanup() {
    for f in "$PREFIX"/logs/moltd.pid "$PREFIX"/logs/moltd.pid.oldbin; do
        if [ -f "$f" ]; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $PREFIX" >&2; else rm -rf "$PREFIX"; fi
}
trap cleanup EXIT
wait_for 10 "startup" curl -ksf -o /dev/null "$SCHEME://127.0.0.1:$PORT/"

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
if [ "$H2" = 1 ]; then
    (
        end=$((SECONDS + SECS)) n=0
        while [ $SECONDS -lt $end ]; do
            h2load -c"$CONNS" -m10 -t1 -D1 --log-file="$PREFIX/h2.$n.log" "https://127.0.0.1:$PORT/" \
                > "$PREFIX/h2load.$n.out" 2>&1 || echo "h2load run $n failed" >&2
            n=$((n + 1))
        done
    ) &
else
    wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$PREFIX/persec.lua" "http://127.0.0.1:$PORT/" > "$PREFIX/wrk.out" &
fi
WRK=$!
# The swaps start once the load is steady: starting them 2 s in, the
# first swap overlapped wrk's ramp-up (its first whole seconds ran ~15%
# below the rest), which the dip then counted as the swap's.
sleep 5
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
if [ "$H2" = 1 ]; then
    # Per-request logs: start (us since the epoch), status, duration.
    cat "$PREFIX"/h2.*.log > "$PREFIX/h2.log"
    awk '$1 > 0 { n[int($1 / 1e6)]++ } END { for (s in n) printf "SEC %d %d\n", s, n[s] }' "$PREFIX/h2.log" > "$PREFIX/wrk.out"
    echo "h2load: $(ls "$PREFIX"/h2.*.log | wc -l) runs, $(awk '$1 > 0' "$PREFIX/h2.log" | wc -l) requests sent"
else
    grep -v '^SEC ' "$PREFIX/wrk.out"
fi
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
if [ "$H2" = 1 ]; then
    UNSENT=$(awk '$1 == 0' "$PREFIX/h2.log" | wc -l)
    FAILED=$(awk '$1 > 0 && $2 != 200' "$PREFIX/h2.log" | wc -l)
    echo "started and failed (or not 200): $FAILED; never sent by h2load (its connection had a GOAWAY): $UNSENT"
    [ "$FAILED" = 0 ]
    exit
fi
NON2XX=$(grep -oP 'Non-2xx or 3xx responses: \K\d+' "$PREFIX/wrk.out" || echo 0)
SOCKERR=$(grep -oP 'Socket errors: .*' "$PREFIX/wrk.out" || echo "none")
echo "non-2xx: $NON2XX; socket errors: $SOCKERR"
[ "$NON2XX" = 0 ] && [ "$SOCKERR" = none ]
