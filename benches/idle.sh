#!/usr/bin/env bash
# Memory per idle keep-alive connection, moltd beside nginx: N connections
# each send one request, read the answer and stay open; the worker's RSS
# before and after, divided by N. One worker each, access log off. nginx
# allocates its connection table for worker_connections when the worker
# starts, before the first client: that share is measured too (the worker's
# RSS beside a second nginx with worker_connections 512) and printed with
# it, and the ratio is given both ways.
#
#   benches/idle.sh [CONNECTIONS=8000]
#   MOLTD=/path/to/moltd benches/idle.sh ...   # use that binary, skip cargo
set -euo pipefail
N=${1:-8000}
cd "$(dirname "$0")/.."
. benches/lib.sh
moltd_binary
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || {
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ulimit -n $((N * 2 + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d /tmp/moltd-idle.XXXXXX)
chmod 755 "$TMP"
mkdir -p "$TMP"/www "$TMP"/moltd/{conf,logs} "$TMP"/nginx/logs
echo "idle benchmark" > "$TMP/www/index.html"
cleanup() {
    for f in "$TMP"/moltd/logs/moltd.pid "$TMP"/nginx/logs/nginx.pid; do
        [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

MPORT=$(free_port); NPORT=$(free_port)
cat > "$TMP/moltd/conf/moltd.toml" <<CONF
daemon = true
worker_processes = 1
worker_connections = $((N + 100))
[[server]]
listen = ["127.0.0.1:$MPORT"]
root = "$TMP/www"
access_log = "off"
CONF
"$BIN" -p "$TMP/moltd"
cat > "$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $((N * 2 + 1024));
pid $TMP/nginx/logs/nginx.pid;
error_log $TMP/nginx/logs/error.log;
events { worker_connections $((N + 100)); }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$NPORT; root $TMP/www; }
}
CONF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf"
wait_for 10 "both servers" bash -c "curl -sf http://127.0.0.1:$MPORT/ >/dev/null && curl -sf http://127.0.0.1:$NPORT/ >/dev/null"

worker_rss() { # master pid file -> the worker's VmRSS in kB
    local m; m=$(cat "$1")
    local w; w=$(pgrep -P "$m" | head -1)
    awk '/VmRSS/{print $2}' "/proc/$w/status"
}

measure() { # name port pidfile
    local before after
    before=$(worker_rss "$3")
    python3 - "$2" "$N" <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conns.append(s)
for s in conns:
    got = b""
    while b"idle benchmark" not in got:
        got += s.recv(4096)
time.sleep(3)
PY
    local client=$!
    sleep 2
    while kill -0 "$client" 2>/dev/null && [ "$(ss -tn state established "( sport = :$2 )" | wc -l)" -lt "$N" ]; do sleep 0.2; done
    sleep 0.5
    after=$(worker_rss "$3")
    wait "$client" || true
    PER=$(python3 -c "print(($after - $before) / $N)")
    python3 -c "print(f'{\"$1\":<6} worker RSS $before kB -> $after kB with $N idle connections: {$PER:.2f} KB each')"
}

# nginx's connection table, allocated at start: its worker's RSS with
# worker_connections N+100 against the same with 512.
nginx_table() {
    mkdir -p "$TMP/small/logs"
    sed -e "s/worker_connections $((N + 100))/worker_connections 512/" \
        -e "s|$TMP/nginx/logs|$TMP/small/logs|g" -e "s/:$NPORT;/:$SPORT;/" \
        "$TMP/nginx/nginx.conf" > "$TMP/small/nginx.conf"
    "$NGINX" -p "$TMP/small" -c "$TMP/small/nginx.conf"
    wait_for 10 "nginx (512)" curl -sf "http://127.0.0.1:$SPORT/" -o /dev/null
    curl -sf "http://127.0.0.1:$NPORT/" -o /dev/null
    local big small
    big=$(worker_rss "$TMP/nginx/logs/nginx.pid")
    small=$(worker_rss "$TMP/small/logs/nginx.pid")
    kill -TERM "$(cat "$TMP/small/logs/nginx.pid")"
    python3 -c "print(max(0, $big - $small) / ($N + 100 - 512))"
}

SPORT=$(free_port)
measure moltd "$MPORT" "$TMP/moltd/logs/moltd.pid"
MOLTD_KB=$PER
TABLE_KB=$(nginx_table)
measure nginx "$NPORT" "$TMP/nginx/logs/nginx.pid"
python3 - "$MOLTD_KB" "$PER" "$TABLE_KB" <<'PY'
import sys
m, n, t = map(float, sys.argv[1:])
print(f"nginx  + {t:.2f} KB each allocated at start for worker_connections: {n + t:.2f} KB each in all")
ratio = lambda a, b: f"{a / b:.1f}x" if b > 0 else "n/a"
print(f"moltd/nginx per idle connection: {ratio(m, n + t)} (nginx's start-up table counted), {ratio(m, n)} (growth only)")
PY
