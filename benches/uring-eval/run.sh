#!/usr/bin/env bash
# Does io_uring's batching across connections cut the kernel CPU per request
# below an equally minimal epoll loop's? Keep-alive, one 557-byte file, wrk
# -t1 -c50 on cpu 1, every server one thread on cpu 0, measured in interleaved
# rounds (order rotated each round so drift and position cancel).
#
# Per round and server: CPU from /proc/PID/stat (utime+stime, split, of the
# process and its children: nginx's worker, io_uring's io-wq threads are in
# the process's own count) before/after the wrk run, divided by wrk's requests.
# Table: median us/request (total, user, sys) per server, and the medians of
# the paired per-round ratios (uring floor / the epoll floor with the same
# statx setting, and each / nginx) with k/n: rounds on the median's side of 1.
#
#   benches/uring-eval/run.sh            (ROUNDS=5 DURATION=5 WARMUP=1)
#   SERVERS="epoll uring-a ..." STRACE=0 PERF=0 OUT=/dir benches/uring-eval/run.sh
#
# STRACE=1 (default): one extra untimed wrk run per server under strace -c -f
#   (syscalls per request). PERF=1: perf record -g of the floors (OUT/perf-*.txt).
# Run it under the shared lock: flock /tmp/cpu.lock benches/uring-eval/run.sh
set -euo pipefail
cd "$(dirname "$0")"
# free_port, nginx_binary, nginx_temp_paths
source ../lib.sh
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5} WARMUP=${WARMUP:-1}
STRACE=${STRACE:-1} PERF=${PERF:-0}
ALL="epoll uring-a uring-b epoll-co100 uring-b-co100 epoll-statx uring-a-statx uring-b-statx uring-b-ustatx nginx"
# also: uring-a-defer uring-ms (the two halves of b)
SERVERS=${SERVERS:-$ALL}
declare -A ARGS=(
    [epoll]="floor-epoll"
    [uring-a]="floor-uring"
    [uring-a-defer]="floor-uring --defer"
    [uring-ms]="floor-uring --multishot"
    [uring-b]="floor-uring --multishot --defer"
    [epoll-co100]="floor-epoll --wait 0:100"
    [uring-b-co100]="floor-uring --multishot --defer --wait 1000:100"
    [epoll-statx]="floor-epoll --statx sync"
    [uring-a-statx]="floor-uring --statx sync"
    [uring-b-statx]="floor-uring --multishot --defer --statx sync"
    [uring-b-ustatx]="floor-uring --multishot --defer --statx uring"
)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/../../target/uring-eval}
cargo build --release --quiet
BIN=$CARGO_TARGET_DIR/release
[ -n "${NGINX:-}" ] || nginx_binary
CLK_TCK=$(getconf CLK_TCK)

TMP=$(mktemp -d /tmp/uring-eval.XXXXXX)
chmod 755 "$TMP"   # nginx's worker (nobody) reads the root
OUT=${OUT:-$TMP}
mkdir -p "$OUT"
declare -A PID PORT
cleanup() {
    for s in "${!PID[@]}"; do kill "${PID[$s]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# The 557-byte page of benches/compare.sh.
mkdir -p "$TMP/www"
python3 - "$TMP/www/index.html" <<'PY'
import sys
body = "".join("<li>item %02d of the benchmark page</li>\n" % i for i in range(11))
page = ("<!DOCTYPE html>\n<html>\n<head>\n<title>moltd benchmark</title>\n</head>\n"
        "<body>\n<h1>moltd benchmark</h1>\n<ul>\n%s</ul>\n</body>\n</html>\n" % body)
open(sys.argv[1], "w").write(page)
PY
FILE=$TMP/www/index.html

start_nginx() {
    local p=$TMP/nginx
    mkdir -p "$p/conf" "$p/logs" "$p/tmp"
    cat > "$p/conf/nginx.conf" <<CONF
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 1024; }
http {
    types { text/html html; }
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
$(nginx_temp_paths)
    server { listen 127.0.0.1:${PORT[nginx]}; root $TMP/www; }
}
CONF
    taskset -c 0 "$NGINX" -p "$p/" -c conf/nginx.conf -e logs/error.log -g 'daemon off;' > "$p/stdout" 2>&1 &
    PID[nginx]=$!
}
for s in $SERVERS; do
    PORT[$s]=$(free_port)
    if [ "$s" = nginx ]; then start_nginx; continue; fi
    read -r bin args <<< "${ARGS[$s]}"
    # taskset execs the server: $! is the server's own pid.
    # shellcheck disable=SC2086
    taskset -c 0 "$BIN/$bin" "127.0.0.1:${PORT[$s]}" "$FILE" $args > "$TMP/$s.log" 2>&1 &
    PID[$s]=$!
done
tree() { local c; echo "$1"; for c in $(pgrep -P "$1" || true); do tree "$c"; done; }
for s in $SERVERS; do
    for _ in $(seq 100); do curl -sf -o "$TMP/body" "http://127.0.0.1:${PORT[$s]}/index.html" && break; sleep 0.05; done
    cmp -s "$TMP/body" "$FILE" || { echo "$s does not answer the file" >&2; exit 1; }
    for p in $(tree "${PID[$s]}"); do taskset -a -cp 0 "$p" > /dev/null; done
done
ticks() { # "user sys" ticks of the server's process tree (children reaped: cutime/cstime)
    local f=() p
    for p in $(tree "${PID[$1]}"); do f+=("/proc/$p/stat"); done
    cat "${f[@]}" | awk '{ sub(/.*\) /, ""); u += $12 + $14; s += $13 + $15 } END { print u, s }'
}
wrk_run() { # server seconds: prints "requests errors"
    taskset -c 1 wrk -t1 -c50 -d"$2"s "http://127.0.0.1:${PORT[$1]}/index.html" > "$TMP/wrk.out"
    awk '/requests in/ { r = $1 } /Socket errors/ { gsub(",", ""); e += $4 + $6 + $8 + $10 }
         /Non-2xx/ { e += $NF } END { print r, e + 0 }' "$TMP/wrk.out"
}

echo "$(uname -r), $(nproc) cores, CLK_TCK $CLK_TCK, $ROUNDS rounds x ${DURATION}s, wrk -t1 -c50 on cpu 1, servers on cpu 0"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $SERVERS; do [ "$WARMUP" -gt 0 ] && wrk_run "$s" "$WARMUP" > /dev/null; done
RES=$TMP/results.tsv; : > "$RES"
cpu0() { # busy and steal ticks of cpu 0: busy - the server's = others on the server's core
    awk '$1 == "cpu0" { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat
}
read -ra order <<< "$SERVERS"
for r in $(seq 1 "$ROUNDS"); do
    for s in "${order[@]}"; do
        read -r u0 s0 <<< "$(ticks "$s")"; read -r b0 t0 <<< "$(cpu0)"
        read -r req err <<< "$(wrk_run "$s" "$DURATION")"
        read -r u1 s1 <<< "$(ticks "$s")"; read -r b1 t1 <<< "$(cpu0)"
        srv=$((u1 - u0 + s1 - s0))
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$req" "$err" $((u1 - u0)) $((s1 - s0)) \
            $((b1 - b0 - srv)) $((t1 - t0)) >> "$RES"
        printf 'round %d %-15s %7d req/s %d errors %6.2f us/req  cpu0: server %3d%% other %3d%% steal %d%%\n' \
            "$r" "$s" $((req / DURATION)) "$err" "$(echo "$srv * 1000000 / $CLK_TCK / $req" | bc -l)" \
            $((srv * 100 / CLK_TCK / DURATION)) $(((b1 - b0 - srv) * 100 / CLK_TCK / DURATION)) \
            $(((t1 - t0) * 100 / CLK_TCK / DURATION))
    done
    order=("${order[@]:1}" "${order[0]}")   # rotate
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RES" "$CLK_TCK" "$SERVERS" "$DURATION" <<'PY'
import statistics as st, sys
from collections import defaultdict
path, clk, servers, dur = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), int(sys.argv[4])
d = defaultdict(dict)
for line in open(path):
    r, s, req, err, u, y, other, steal = map(lambda x: int(x) if x.lstrip("-").isdigit() else x, line.split())
    d[s][r] = dict(err=err, rps=req / dur, u=u / clk * 1e6 / req, s=y / clk * 1e6 / req,
                   t=(u + y) / clk * 1e6 / req, busy=(u + y) / clk / dur, other=other / clk / dur)
med = st.median
print("\n%-15s %7s %6s %6s %5s %8s %6s %6s %6s" % ("server", "us/req", "user", "sys", "sys%", "req/s", "cpu0", "other", "errors"))
for s in servers:
    v = d[s].values()
    t, u, y = med(x["t"] for x in v), med(x["u"] for x in v), med(x["s"] for x in v)
    print("%-15s %7.3f %6.3f %6.3f %4.0f%% %8.0f %5.0f%% %5.0f%% %6d" % (s, t, u, y, 100 * y / t,
          med(x["rps"] for x in v), 100 * med(x["busy"] for x in v), 100 * med(x["other"] for x in v),
          sum(x["err"] for x in v)))
def ratio(a, b, key):
    rs = [d[a][r][key] / d[b][r][key] for r in d[a] if r in d[b]]
    m = med(rs)
    k = sum((x < 1) == (m < 1) for x in rs)
    return "%.3f (%d/%d)" % (m, k, len(rs))
# Each uring variant against the epoll floor doing the same per-request work.
base = lambda s: "epoll-statx" if "statx" in s else "epoll-co100" if "co100" in s else "epoll"
print("\npaired ratios (median, k/n rounds on the same side of 1): total | sys")
for s in servers:
    if s.startswith("uring") and base(s) in d:
        print("  %-15s / %-12s %s | %s" % (s, base(s), ratio(s, base(s), "t"), ratio(s, base(s), "s")))
if "nginx" in d:
    for s in servers:
        if s != "nginx":
            print("  %-15s / %-12s %s | %s" % (s, "nginx", ratio(s, "nginx", "t"), ratio(s, "nginx", "s")))
PY

if [ "$STRACE" = 1 ]; then
    echo; echo "syscalls per request (strace -c -f over one untimed 3 s wrk run; strace slows the server)"
    for s in $SERVERS; do
        target=${PID[$s]}; [ "$s" = nginx ] && target=$(pgrep -P "${PID[nginx]}" | head -1)
        strace -c -f -p "$target" -o "$TMP/strace.$s" & sp=$!
        sleep 0.5
        read -r req _ <<< "$(wrk_run "$s" 3)"
        kill -INT "$sp"; wait "$sp" 2>/dev/null || true
        awk -v req="$req" -v s="$s" '$1 ~ /^[0-9.]+$/ && NF >= 5 { n[$NF] = $4 }
            END { line = ""; tot = 0
                  for (k in n) { if (k == "total") continue; tot += n[k]; if (n[k] / req >= 0.01) line = line sprintf(" %s %.3f", k, n[k] / req) }
                  printf "  %-15s %.3f per request:%s\n", s, tot / req, line }' "$TMP/strace.$s"
    done
fi

if [ "$PERF" = 1 ]; then
    for s in $SERVERS; do
        case $s in nginx) continue ;; esac
        perf record -e cpu-clock -g -p "${PID[$s]}" -o "$TMP/perf.data" -- sleep 3 > /dev/null 2>&1 & pp=$!
        wrk_run "$s" 3 > /dev/null; wait "$pp" || true
        perf report -i "$TMP/perf.data" --no-children --stdio -g none --percent-limit 0.5 2>/dev/null |
            grep -v -e '^#' -e '^$' | head -20 > "$OUT/perf-$s.txt" || true
        echo "perf top-20 of $s: $OUT/perf-$s.txt"
    done
fi
