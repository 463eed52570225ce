#!/usr/bin/env bash
# Multi-worker balance (issue 15): moltd and nginx with the same number of
# workers (2) answer index.html to wrk -c100 keep-alive, in interleaved
# rounds; per round and server it prints each worker's share of the
# requests, the busier worker's share and the connections each worker held.
#
# Requests per worker: nginx logs "$pid" in its access log (counted exactly);
# moltd has no such field, so its workers are counted from /proc/PID/io
# syscw (write-family syscalls: one writev per index.html response). nginx's
# syscw share is printed beside its log share, to show how close the proxy
# is. Connections per worker: its socket fds midway through the run, minus
# its listening socket(s); CPU ticks: its utime+stime over the run (unpinned,
# a worker that shares a core with wrk gets less of it, whatever it holds).
#
#   benches/balance.sh [--rounds N] [--duration S] [--conns N] [--workers N]
#                      [--pin] [--log on|off]
#
#   --pin    servers on core 0, wrk on core 1 (as compare.sh); default:
#            no pinning, the scheduler places the workers and wrk
#   --log    on: moltd writes its access log too (nginx always does, it is
#            the count); default off
# Environment: MOLTD=/path/to/moltd (skip cargo build --release),
# SERVERS ("moltd nginx"), KEEP=1 (keep the temp directory).
set -euo pipefail

ROUNDS=5 DURATION=10 CONNS=100 WORKERS=2 PIN=0 LOG=off
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --conns) CONNS=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --pin) PIN=1 ;;
        --log) LOG=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
SERVERS=${SERVERS:-moltd nginx}

cd "$(dirname "$0")/.."
. benches/lib.sh
need wrk wrk
nginx_binary
moltd_binary
SRV_PIN=() WRK_PIN=()
if [ "$PIN" = 1 ]; then SRV_PIN=(taskset -c 0) WRK_PIN=(taskset -c 1); fi

bench_tmp balance
mkdir -p "$TMP/www"
python3 - "$TMP/www/index.html" <<'PY'
import sys
body = "".join("<li>item %02d of the benchmark page</li>\n" % i for i in range(11))
open(sys.argv[1], "w").write("<!DOCTYPE html>\n<html>\n<head>\n<title>moltd benchmark</title>\n</head>\n"
    "<body>\n<h1>moltd benchmark</h1>\n<ul>\n%s</ul>\n</body>\n</html>\n" % body)
PY

declare -A PORT PIDFILE
start_moltd() {
    local p=$TMP/moltd log=off
    mkdir -p "$p/conf" "$p/logs"
    PORT[moltd]=$(free_port) PIDFILE[moltd]=$p/logs/moltd.pid
    [ "$LOG" = on ] && log=logs/access.log
    cat > "$p/conf/moltd.toml" <<CONF
worker_processes = $WORKERS
error_log = "logs/error.log"
[[server]]
listen = ["127.0.0.1:${PORT[moltd]}"]
root = "$TMP/www"
access_log = "$log"
CONF
    env -u MOLTD "${SRV_PIN[@]}" "$BIN" -p "$p" > "$p/logs/stdout" 2>&1 &
}
start_nginx() {
    local p=$TMP/nginx
    mkdir -p "$p/conf" "$p/logs" "$p/tmp"
    PORT[nginx]=$(free_port) PIDFILE[nginx]=$p/logs/nginx.pid
    cat > "$p/conf/nginx.conf" <<CONF
worker_processes $WORKERS;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 1024; }
http {
    types { text/html html; }
    log_format bypid '\$pid';
    access_log logs/access.log bypid buffer=64k flush=1s;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
$(nginx_temp_paths)
    server { listen 127.0.0.1:${PORT[nginx]}; root $TMP/www; }
}
CONF
    "${SRV_PIN[@]}" "$NGINX" -p "$p/" -c conf/nginx.conf -e logs/error.log -g 'daemon off;' \
        > "$p/logs/stdout" 2>&1 &
}
workers() { pgrep -P "$(cat "${PIDFILE[$1]}")" | sort -n | tr '\n' ' ' || true; }
nworkers_ready() { [ "$(workers "$1" | wc -w)" -ge "$WORKERS" ]; }
syscw() { awk '/^syscw/ { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }
ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }

for s in $SERVERS; do "start_$s"; done
for s in $SERVERS; do
    wait_for 10 "$s pid file" test -s "${PIDFILE[$s]}"
    wait_for 10 "$s to answer" curl -sf -o /dev/null "http://127.0.0.1:${PORT[$s]}/index.html"
    wait_for 10 "$s workers" nworkers_ready "$s"
done

SHARES=$TMP/shares
: > "$SHARES"
run() { # round, server
    local r=$1 s=$2 w ws before=() after=() idle=() held=() out i=0 log cpu0=() cpu=()
    ws=($(workers "$s"))
    log=$TMP/$s/logs/access.log
    for w in "${ws[@]}"; do before+=("$(syscw "$w")") idle+=("$(sockets "$w")") cpu0+=("$(ticks "$w")"); done
    [ "$s" = nginx ] && kill -USR1 "$(cat "${PIDFILE[$s]}")" && sleep 0.3 && : > "$log"
    "${WRK_PIN[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:${PORT[$s]}/index.html" \
        > "$TMP/wrk.out" 2>&1 &
    sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"
    for w in "${ws[@]}"; do held+=("$(( $(sockets "$w") - ${idle[$i]} ))"); i=$((i + 1)); done
    wait $!
    for w in "${ws[@]}"; do after+=("$(syscw "$w")"); done
    for i in "${!ws[@]}"; do cpu+=("$(( $(ticks "${ws[$i]}") - ${cpu0[$i]} ))"); done
    out="round $r $s: $(awk '/requests in/ { print $1 }' "$TMP/wrk.out") requests"
    local counts=() total=0
    for i in "${!ws[@]}"; do counts+=("$(( ${after[$i]} - ${before[$i]} ))"); done
    if [ "$s" = nginx ]; then
        sleep 1.2   # the buffered log's flush
        local viaio=("${counts[@]}") iot=0 c
        for c in "${viaio[@]}"; do iot=$((iot + c)); done
        counts=()
        for w in "${ws[@]}"; do counts+=("$(grep -cx "$w" "$log" || true)"); done
        out+=" (syscw shares:$(for c in "${viaio[@]}"; do awk -v c="$c" -v t="$iot" 'BEGIN { printf " %.1f%%", 100 * c / t }'; done))"
    fi
    for c in "${counts[@]}"; do total=$((total + c)); done
    local shares="" max=0
    for i in "${!ws[@]}"; do
        shares+=$(awk -v c="${counts[$i]}" -v t="$total" 'BEGIN { printf " %.1f%%", 100 * c / t }')
        [ "${counts[$i]}" -gt "$max" ] && max=${counts[$i]}
    done
    local busiest
    busiest=$(awk -v c="$max" -v t="$total" 'BEGIN { printf "%.1f", 100 * c / t }')
    echo "$out; per worker:$shares, busiest $busiest%, connections held: ${held[*]}, CPU ticks: ${cpu[*]}"
    printf '%s\t%s\n' "$s" "$busiest" >> "$SHARES"
}

echo "moltd $("$BIN" -v 2>&1 | sed 's/.*moltd\///') ($BIN) vs $("$NGINX" -v 2>&1 | sed 's/.*: //')"
echo "index.html keep-alive, $WORKERS workers, wrk -t1 -c$CONNS, $ROUNDS round(s) x ${DURATION}s," \
     "$([ "$PIN" = 1 ] && echo "servers on cpu 0, wrk on cpu 1" || echo unpinned), $(nproc) cores"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do for s in $SERVERS; do run "$r" "$s"; done; done
echo
python3 - "$SHARES" "$SERVERS" <<'PY'
import statistics, sys
from collections import defaultdict
b = defaultdict(list)
for line in open(sys.argv[1]):
    s, v = line.split()
    b[s].append(float(v))
for s in sys.argv[2].split():
    v = b[s]
    print("%-6s busiest worker's share: median %.1f%%, worst %.1f%%, best %.1f%% over %d rounds"
          % (s, statistics.median(v), max(v), min(v), len(v)))
PY
