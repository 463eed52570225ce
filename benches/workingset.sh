#!/usr/bin/env bash
# A working set larger than the open-file cache (issue 15): FILES random
# 512-byte files (12000), each server caching CACHE of them (10000), wrk
# asking for a uniformly random file on every request (a Lua script: with
# no hot set, the best any replacement policy can do is CACHE/FILES hits;
# a policy that empties the cache when it fills does far worse).
#
#   moltd: open_file_cache = CACHE; open_file_cache_valid = VALID ("60s")
#   nginx: open_file_cache max=CACHE inactive=60s; open_file_cache_valid 60s;
#          sendfile on; tcp_nopush on; keepalive_requests 1000000;
#
# One worker each, access log off, the servers pinned to cpu 0 and wrk
# (-t1 -c50) to cpu 1, measured in ROUNDS interleaved rounds after a
# warm-up that fills both caches. Per server it prints the median req/s,
# server CPU per request (utime+stime of the master and every descendant,
# from /proc/PID/stat), the worker's peak RSS (VmHWM), errors, and the
# medians of the per-round ratios moltd/nginx.
#
#   benches/workingset.sh
#
# Environment: MOLTD=/path/to/moltd (skip cargo build --release), ROUNDS (3),
# DURATION (10), WARMUP (5 s each), FILES (12000), CACHE (10000),
# VALID (moltd's open_file_cache_valid, "60s"), CONNS (50), KEEP=1,
# BEFORE=/path/to/another/moltd (runs it too, as "before", in the same
# rounds: a change measured against the binary it replaces).
set -euo pipefail
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-5}
NFILES=${FILES:-12000}
CACHE=${CACHE:-10000}
VALID=${VALID:-60s}
CONNS=${CONNS:-50}

cd "$(dirname "$0")/.."
. benches/lib.sh
need wrk wrk
nginx_binary
moltd_binary
pin_cpus

bench_tmp workingset
ROOT=$TMP/www
# --- doc root and wrk script: f00000.bin ... ----------------------------------
mkdir -p "$ROOT" "$TMP/nginx/logs" "$TMP/nginx/tmp"
python3 - "$ROOT" "$NFILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(15)
for i in range(n):
    with open(os.path.join(root, "f%05d.bin" % i), "wb") as f:
        f.write(rng.randbytes(512))
PY
# Files are written before the servers start: older than moltd's 2 s settle
# rule by the time the warm-up ends, so both servers may keep them.
cat > "$TMP/random.lua" <<LUA
local n = $NFILES
local paths = {}
for i = 0, n - 1 do paths[i + 1] = string.format("/f%05d.bin", i) end
math.randomseed(os.time())
request = function() return wrk.format("GET", paths[math.random(n)]) end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %d %d %d %d\n", summary.requests, summary.duration,
        e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

# --- servers ---------------------------------------------------------------------
SERVERS="moltd nginx"
declare -A PORT PIDFILE
start_moltd() { # name binary
    mkdir -p "$TMP/$1/conf" "$TMP/$1/logs"
    PORT[$1]=$(free_port)
    PIDFILE[$1]=$TMP/$1/logs/moltd.pid
    cat > "$TMP/$1/conf/moltd.toml" <<CONF
worker_processes = 1
error_log = "logs/error.log"
open_file_cache = $CACHE
open_file_cache_valid = "$VALID"

[[server]]
listen = ["127.0.0.1:${PORT[$1]}"]
root = "$ROOT"
access_log = "off"
CONF
    env -u MOLTD "${SRV_PIN[@]}" "$2" -p "$TMP/$1" > "$TMP/$1/logs/stdout" 2>&1 &
}
start_moltd moltd "$BIN"
if [ -n "${BEFORE:-}" ]; then start_moltd before "$(realpath "$BEFORE")"; SERVERS="before moltd nginx"; fi
NPORT=$(free_port)
cat > "$TMP/nginx/conf.nginx" <<CONF
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=$CACHE inactive=60s;
    open_file_cache_valid 60s;
$(nginx_temp_paths)
    server { listen 127.0.0.1:$NPORT; root $ROOT; }
}
CONF
"${SRV_PIN[@]}" "$NGINX" -p "$TMP/nginx/" -c conf.nginx -e logs/error.log -g 'daemon off;' \
    > "$TMP/nginx/logs/stdout" 2>&1 &
PORT[nginx]=$NPORT
PIDFILE[nginx]=$TMP/nginx/logs/nginx.pid

master() { cat "${PIDFILE[$1]}"; }
workers() { pgrep -P "$(master "$1")" || true; }
cpu_ticks() { tree_cpu_ticks "$(master "$1")"; }
peak_rss_kb() {
    local w m=0 v
    for w in $(workers "$1"); do
        v=$(awk '/^VmHWM/ { print $2 }' "/proc/$w/status" 2>/dev/null || echo 0)
        if [ "${v:-0}" -gt "$m" ]; then m=$v; fi
    done
    echo "$m"
}
for s in $SERVERS; do
    wait_for 10 "$s pid file" test -s "${PIDFILE[$s]}"
    wait_for 10 "$s to answer" curl -sf -o /dev/null "http://127.0.0.1:${PORT[$s]}/f00000.bin"
    wait_for 10 "$s worker" bash -c "[ -n \"\$(pgrep -P $(master "$s"))\" ]"
    if [ "$(nproc)" -ge 2 ]; then
        for p in $(tree_pids "$(master "$s")"); do taskset -a -cp 0 "$p" > /dev/null; done
    fi
    curl -s -o "$TMP/body" "http://127.0.0.1:${PORT[$s]}/f00042.bin"
    cmp -s "$TMP/body" "$ROOT/f00042.bin" || { echo "$s: body differs from the file" >&2; exit 1; }
done

RESULTS=$TMP/results.tsv
: > "$RESULTS"
run() { # round server seconds
    local out res before after
    kill -0 "$(master "$2")" 2>/dev/null || { echo "$2 is not running any more" >&2; exit 1; }
    for w in $(workers "$2"); do echo 5 > "/proc/$w/clear_refs" 2>/dev/null || true; done
    before=$(cpu_ticks "$2")
    out=$("${WRK_PIN[@]}" wrk -t1 -c"$CONNS" -d"$3s" -s "$TMP/random.lua" "http://127.0.0.1:${PORT[$2]}/" 2>&1) ||
        { echo "wrk failed: $out" >&2; exit 1; }
    after=$(cpu_ticks "$2")
    res=$(grep '^RESULT ' <<< "$out" | cut -d' ' -f2-) || { echo "no wrk result: $out" >&2; exit 1; }
    [ "$1" -gt 0 ] || return 0
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${res// /$'\t'}" "$((after - before))" "$(peak_rss_kb "$2")" >> "$RESULTS"
    awk -v r="$1" -v s="$2" -v t="$((after - before))" -v k="$CLK_TCK" \
        '{ printf "  round %d %-6s %7.0f req/s  %5.2f us/req  errors %d\n", r, s, $1 / $2 * 1e6, t / k * 1e6 / $1, $3 + $4 }' <<< "$res"
}

echo "moltd $("$BIN" -v 2>&1 | sed 's/.*moltd\///') ($BIN) vs $("$NGINX" -v 2>&1 | sed 's/.*: //')"
echo "$NFILES files of 512 B, uniform random, cache $CACHE entries (moltd valid $VALID), 1 worker," \
     "wrk -t1 -c$CONNS, $ROUNDS round(s) x ${DURATION}s, $(nproc) cores, CLK_TCK $CLK_TCK"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $SERVERS; do run 0 "$s" "$WARMUP"; done
for r in $(seq 1 "$ROUNDS"); do for s in $SERVERS; do run "$r" "$s" "$DURATION"; done; done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RESULTS" "$CLK_TCK" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(dict)
for line in open(sys.argv[1]):
    r, s, req, dur, sock, status, ticks, rss = line.split("\t")
    req, dur = int(req), int(dur)
    runs[s][int(r)] = dict(rps=req / dur * 1e6, cpu=int(ticks) / int(sys.argv[2]) * 1e6 / req,
                           rss=int(rss) / 1024, err=int(sock) + int(status))
med = statistics.median
print("\nserver  req/s    CPU us/req  RSS MiB  errors")
for s in [s for s in ("before", "moltd", "nginx") if s in runs]:
    rr = list(runs[s].values())
    print("%-6s %7.0f  %10.2f  %7.1f  %6d" % (s, med([x["rps"] for x in rr]), med([x["cpu"] for x in rr]),
                                             max(x["rss"] for x in rr), sum(x["err"] for x in rr)))
n = runs["nginx"]
for s in [s for s in ("before", "moltd") if s in runs]:
    m = runs[s]
    for key, name in (("rps", "req/s"), ("cpu", "CPU/req"), ("rss", "RSS")):
        rs = [m[r][key] / n[r][key] for r in sorted(m) if r in n and n[r][key]]
        print("%s/nginx %-8s %.2f  (per round: %s)" % (s, name, med(rs), " ".join("%.2f" % x for x in rs)))
PY
