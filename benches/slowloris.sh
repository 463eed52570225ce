#!/usr/bin/env bash
# Slow-client attacks: slowhttptest runs in turn in slowloris (-H), slow
# read (-X) and range (-R) mode against one worker with worker_connections
# = CONNS and 10 s header/send/keep-alive timeouts, at CONNS connections for
# ~30 s each. Meanwhile a normal client (curl every 0.5 s, --max-time 5)
# must keep getting 200s. Prints, per attack, the normal client's
# successes/failures and slowhttptest's final "service available" verdict;
# exits non-zero if the normal client saw a failure or moltd died.
#
#   benches/slowloris.sh [CONNS=1000]
#   ATTACK_SECS=30 RATE=CONNS/10 ...           # attack length, connections/s
#   MOLTD=/path/to/moltd benches/slowloris.sh ...   # use that binary, skip cargo
set -euo pipefail
CONNS=${1:-1000}
ATTACK_SECS=${ATTACK_SECS:-30}
cd "$(dirname "$0")/.."
command -v slowhttptest >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slowhttptest; }
. benches/lib.sh
moltd_binary

# The worker and slowhttptest each hold CONNS sockets plus a few files:
# raise the soft fd limit if we may, else attack with fewer connections.
WANT=$((CONNS + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$WANT" ]; then
    HARD=$(ulimit -Hn)
    if [ "$HARD" = unlimited ] || [ "$HARD" -ge "$WANT" ]; then ulimit -n "$WANT"; else ulimit -n "$HARD"; fi
    if [ "$(ulimit -n)" -lt "$WANT" ]; then
        echo "ulimit -n is $(ulimit -n): lowering CONNS from $CONNS to $(($(ulimit -n) - 256))" >&2
        CONNS=$(($(ulimit -n) - 256))
    fi
fi
# New attack connections per second (RATE=... overrides): CONNS open
# within ~10 s, i.e. all of them by the time the first header times out.
RATE=${RATE:-$((CONNS / 10 > 50 ? CONNS / 10 : 50))}

PREFIX=$(mktemp -d /tmp/moltd-slowloris.XXXXXX)
PORT=$(free_port)
mkdir -p "$PREFIX"/{conf,html,sbin,logs}
echo "hello from moltd" > "$PREFIX/html/index.html"
head -c $((1 << 20)) /dev/urandom > "$PREFIX/html/1m.bin"
head -c $((10 << 20)) /dev/urandom > "$PREFIX/html/10m.bin"
cat > "$PREFIX/conf/moltd.toml" <<CONF
worker_processes = 1
worker_connections = $CONNS
client_header_timeout = "10s"
send_timeout = "10s"
keepalive_timeout = "10s"
[[server]]
listen = ["127.0.0.1:$PORT"]
root = "html"
access_log = "off"
CONF
cp "$BIN" "$PREFIX/sbin/moltd"
"$PREFIX/sbin/moltd" -p "$PREFIX" &
PASSED=
cleanup() {
    local p
    touch "$PREFIX/stop"
    if [ -f "$PREFIX/logs/moltd.pid" ]; then
        p=$(cat "$PREFIX/logs/moltd.pid")
        kill -TERM "$p" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    if [ -n "$PASSED" ]; then rm -rf "$PREFIX"; fi
}
trap cleanup EXIT
URL=http://127.0.0.1:$PORT
started() { [ -s "$PREFIX/logs/moltd.pid" ] && curl -sf -o /dev/null "$URL/"; }
wait_for 10 "startup" started
MASTER=$(cat "$PREFIX/logs/moltd.pid")
workers() { pgrep -P "$MASTER" | xargs; }   # by parent pid, never by name
WORKER0=$(workers)

# One line per request: "HTTP_CODE SECONDS" (000 = no response).
normal_client() { # output file; runs until $PREFIX/stop exists
    while [ ! -e "$PREFIX/stop" ]; do
        curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 5 "$URL/" >> "$1" || true
        sleep 0.5
    done
}

FAIL=()
SUMMARY=()
attack() { # name, slowhttptest args...
    local name=$1 out=$PREFIX/$1; shift
    rm -f "$PREFIX/stop"
    : > "$out.normal"
    normal_client "$out.normal" &
    local client=$!
    echo "== $name: slowhttptest $* -c $CONNS -r $RATE -l $ATTACK_SECS -p 3 -u ..."
    slowhttptest "$@" -c "$CONNS" -r "$RATE" -l "$ATTACK_SECS" -p 3 2>&1 |
        sed 's/\x1b\[[0-9;]*[A-Za-z]//g' > "$out.slowhttptest" || true
    touch "$PREFIX/stop"
    wait "$client" || true
    local ok bad slow verdict conns closed
    ok=$(grep -c '^200 ' "$out.normal" || true)
    bad=$(grep -vc '^200 ' "$out.normal" || true)
    slow=$(awk '$2 > m { m = $2 } END { printf "%.2f", m }' "$out.normal")
    verdict=$(grep -oP 'service available:\s*\K\S+' "$out.slowhttptest" | tail -1 || true)
    conns=$(grep -oP 'connected:\s*\K\d+' "$out.slowhttptest" | sort -n | tail -1 || true)
    closed=$(grep -oP 'closed:\s*\K\d+' "$out.slowhttptest" | tail -1 || true)
    SUMMARY+=("$(printf '%-10s normal client: %3d ok, %d failed (slowest %ss); slowhttptest: max %s connected, %s closed at end, service available: %s' \
        "$name" "$ok" "$bad" "$slow" "${conns:-?}" "${closed:-?}" "${verdict:-?}")")
    echo "${SUMMARY[-1]}"
    [ "$ok" -gt 0 ] || FAIL+=("$name: normal client made no successful request")
    [ "$bad" = 0 ] || FAIL+=("$name: normal client failed $bad times: $(grep -v '^200 ' "$out.normal" | sort | uniq -c | xargs)")
    kill -0 "$MASTER" 2>/dev/null || { FAIL+=("$name: master $MASTER died"); return; }
    [ -n "$(workers)" ] || FAIL+=("$name: no worker alive")
    # Let the server shed the attack's leftovers before the next one.
    wait_for 30 "server idle after $name" curl -sf --max-time 2 -o /dev/null "$URL/"
}

attack slowloris -H -i 10 -u "$URL/"
attack slowread  -X -w 512 -y 1024 -n 5 -z 32 -k 3 -u "$URL/10m.bin"
# slowhttptest's range attack sends HEAD by default, which ignores Range
# (RFC 9110): GET makes moltd parse and answer the overlapping ranges.
attack range     -R -t GET -a 10 -b 3000 -u "$URL/1m.bin"

WORKERN=$(workers)
ERRS=$(grep -E '\[(error|crit|alert|emerg)\]' "$PREFIX/logs/error.log" | sed 's/^[0-9/: ]*//' | sort | uniq -c | sort -rn | head -5 || true)
echo "== slowloris: CONNS=$CONNS (ulimit -n $(ulimit -n)), $ATTACK_SECS s per attack"
printf '%s\n' "${SUMMARY[@]}"
echo "worker pid(s): $WORKER0 at start, $WORKERN at end"
[ "$WORKER0" = "$WORKERN" ] || FAIL+=("worker changed ($WORKER0 -> $WORKERN): it died and was respawned")
if [ -n "$ERRS" ]; then echo "error-log lines at [error] or worse:"; echo "$ERRS"; fi
if [ ${#FAIL[@]} -gt 0 ]; then
    printf 'FAIL: %s\n' "${FAIL[@]}" >&2
    echo "outputs kept in $PREFIX" >&2
    exit 1
fi
echo "PASS"
PASSED=1
