#!/usr/bin/env bash
# A fleet behind a load balancer: HAProxy (health checks on each
# instance's `health` location) in front of two moltd instances, wrk
# through HAProxy, and a rolling upgrade of both with `moltd -s upgrade`;
# then the same with a new binary whose probe fails (each instance rolls
# itself back). Both runs must show 0 non-2xx and 0 socket errors.
#
#   benches/fleet.sh [SECONDS_PER_RUN]
#   MOLTD=/path/to/moltd benches/fleet.sh    # use that binary, skip cargo
set -euo pipefail
SECS=${1:-20}
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v haproxy >/dev/null || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi
. benches/lib.sh
moltd_binary
WORK=$(mktemp -d /tmp/moltd-fleet.XXXXXX)
HAPROXY_PID=
cleanup() {
    [ -n "$HAPROXY_PID" ] && kill "$HAPROXY_PID" 2>/dev/null || true
    for f in "$WORK"/*/logs/moltd.pid "$WORK"/*/logs/moltd.pid.oldbin; do
        if [ -f "$f" ]; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

instance() { # name port
    local p=$WORK/$1
    mkdir -p "$p"/{conf,html,html2,sbin,logs}
    head -c 600 /dev/urandom | base64 > "$p/html/index.html"
    echo "a different site" > "$p/html2/index.html"
    cat > "$p/conf/moltd.toml" <<CONF
daemon = true
worker_processes = 2
shutdown_delay = "1s"
[[server]]
listen = ["127.0.0.1:$2"]
root = "html"
[[server.location]]
exact = "/healthz"
health = true
CONF
    sed 's/root = "html"/root = "html2"/' "$p/conf/moltd.toml" > "$p/conf/broken.toml"
    cp "$BIN" "$p/sbin/moltd"
    "$p/sbin/moltd" -p "$p"
    wait_for 10 "instance $1" curl -sf -o /dev/null "http://127.0.0.1:$2/"
}
PA=$(free_port); PB=$(free_port); FPORT=$(free_port)
mkdir -p "$WORK"
instance a "$PA" & instance b "$PB" & wait
# Daemonized masters: they write their pid files; nothing of ours holds them.
cat > "$WORK/haproxy.cfg" <<CFG
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
frontend fe
    bind 127.0.0.1:$FPORT
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    server a 127.0.0.1:$PA check inter 300ms fall 1 rise 2
    server b 127.0.0.1:$PB check inter 300ms fall 1 rise 2
CFG
haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
wait_for 10 "haproxy" curl -sf -o /dev/null "http://127.0.0.1:$FPORT/"

run() { # title, what to install as each instance's new binary
    echo "== $1"
    wrk -t2 -c20 -d"${SECS}s" "http://127.0.0.1:$FPORT/" > "$WORK/wrk.out" &
    local wrk=$! code
    sleep 2
    for i in a b; do
        "$2" "$WORK/$i"
        set +e
        "$BIN" -p "$WORK/$i" -s upgrade --canary 2s --json > "$WORK/$i.json" 2> "$WORK/$i.err"
        code=$?
        set -e
        echo "instance $i: -s upgrade exit $code: $(cat "$WORK/$i.json")"
        sleep 1
    done
    wait "$wrk"
    grep -E 'requests in|Requests/sec|Non-2xx|Socket errors' "$WORK/wrk.out" || true
    NON2XX=$(grep -oP 'Non-2xx or 3xx responses: \K\d+' "$WORK/wrk.out" || echo 0)
    SOCKERR=$(grep -oP 'Socket errors: .*' "$WORK/wrk.out" || echo "none")
    echo "non-2xx: $NON2XX; socket errors: $SOCKERR"
    [ "$NON2XX" = 0 ] && [ "$SOCKERR" = none ]
}
good() { cp "$BIN" "$1/sbin/moltd.new" && mv "$1/sbin/moltd.new" "$1/sbin/moltd"; }
broken() { # a binary that serves another site: its probe of / differs
    cp "$BIN" "$1/sbin/moltd.real"
    printf '#!/bin/sh\nexec "%s" "$@" -c "%s"\n' "$1/sbin/moltd.real" "$1/conf/broken.toml" > "$1/sbin/moltd.new"
    chmod 755 "$1/sbin/moltd.new" && mv "$1/sbin/moltd.new" "$1/sbin/moltd"
}
run "rolling upgrade of both instances with a good binary" good
run "rolling upgrade with a binary whose probe fails (each instance rolls back)" broken
for i in a b; do
    echo "instance $i: master $(cat "$WORK/$i/logs/moltd.pid"), .oldbin: $([ -e "$WORK/$i/logs/moltd.pid.oldbin" ] && echo present || echo none)"
done
echo PASS
