#!/usr/bin/env bash
# moltd vs nginx, side by side with wrk (issue 5). Same doc root, same worker
# count, 127.0.0.1 only. Three servers run at once and are measured in
# interleaved rounds (moltd, nginx-default, nginx-tuned, moltd, ...) so that
# machine drift cancels; on a machine with 2+ cores the servers are pinned to
# core 0 and wrk (-t1 -c50) to core 1.
#
#   nginx-default: sendfile on; tcp_nopush on; keepalive_requests 1000000;
#                  (moltd too: keepalive_requests = 1000000)
#   nginx-tuned:   the same + open_file_cache max=10000 inactive=60s;
#                  open_file_cache_valid 60s; (and, with the log on, a
#                  buffered access log: buffer=64k flush=1s, as moltd's)
#   hyper-floor:   (opt-in: SERVERS="... hyper-floor") examples/hyper_floor.rs,
#                  bare hyper on tokio answering the files from memory: what
#                  the stack moltd is built on costs by itself (no listing)
#
#   --tls:         every server listens with "ssl" on the same self-signed
#                  EC P-256 certificate (made here with openssl), TLS 1.2 and
#                  1.3 only (nginx: ssl_protocols TLSv1.2 TLSv1.3, its
#                  OpenSSL's default TLS 1.3 suites, and the AEAD-only TLS 1.2
#                  list rustls offers), HTTP/2 by ALPN; wrk speaks HTTPS/1.1
#                  keep-alive (with --close: one full handshake per request).
#   --h2:          (implies --tls) h2load -c CONNS -m STREAMS (10) -t1 for
#                  DURATION over HTTP/2 instead of wrk; p50 is h2load's mean
#                  and p99 its max request time.
#
# Per server and file it prints the median over rounds of req/s, MB/s
# (10^6 bytes, headers included), p50/p99 latency and server CPU per request
# (utime+stime of the master and every descendant, from /proc/PID/stat), the
# peak RSS of a worker (VmHWM, reset before each run), errors (socket errors
# + non-2xx, summed over rounds), and the median of the paired per-round
# ratios to nginx-tuned with "k/n": in how many rounds that ratio was on the
# same side of 1 as the median. With --workers 2 or more, each round and the
# end also give the busiest worker's share of the write syscalls (/proc/PID/io
# syscw; about its share of the requests for small files, as benches/balance.sh).
#
#   benches/compare.sh [--quick] [--close] [--workers N] [--log on|off]
#                      [--files "index.html 1k.bin ..."] [--rounds N]
#                      [--duration SECONDS] [--tls] [--h2]
#
# Environment (flags win): MOLTD=/path/to/moltd (skip cargo build --release),
# ROUNDS (5), DURATION (10), WORKERS (1), LOG (off), CLOSE (0), FILES (all:
# index.html 1k.bin 16k.bin 100k.bin 1m.bin 10m.bin dir/), CONNS (50),
# THREADS (1), STREAMS (10, with --h2), TIMEOUT (wrk --timeout, 10s: 50 x 10 MiB in flight take
# seconds each), WARMUP (1 s per server and file before round 1, 0 = none),
# SERVERS ("moltd moltd-tuned nginx-default nginx-tuned"), SERVER_CPUS (0), WRK_CPUS (1),
# KEEP=1 (keep the temp directory).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WORKERS=${WORKERS:-1}
LOG=${LOG:-off}
CLOSE=${CLOSE:-0}
CONNS=${CONNS:-50}
TIMEOUT=${TIMEOUT:-10s}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-1}
SERVERS=${SERVERS:-moltd moltd-tuned nginx-default nginx-tuned}
TLS=${TLS:-0}
H2=${H2:-0}
STREAMS=${STREAMS:-10}
ALL_FILES="index.html 1k.bin 16k.bin 100k.bin 1m.bin 10m.bin dir/"
FILES=${FILES:-$ALL_FILES}
while [ $# -gt 0 ]; do
    case $1 in
        --quick) ROUNDS=1 DURATION=3 WARMUP=0 ;;
        --close) CLOSE=1 ;;
        --keepalive) CLOSE=0 ;;
        --tls) TLS=1 ;;
        --h2) H2=1 TLS=1 ;;
        --workers) WORKERS=$2; shift ;;
        --log) LOG=$2; shift ;;
        --files) FILES=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $LOG in on|off) ;; *) echo "--log must be on or off" >&2; exit 2 ;; esac
for f in $FILES; do
    case " $ALL_FILES dir " in *" $f "*) ;; *) echo "unknown file $f (one of: $ALL_FILES)" >&2; exit 2 ;; esac
done

cd "$(dirname "$0")/.."
. benches/lib.sh
need wrk wrk
[ "$H2" = 1 ] && need h2load nghttp2-client
[ "$TLS" = 1 ] && need openssl openssl
if [ "$TLS" = 1 ] && [[ " $SERVERS " == *" hyper-floor "* ]]; then
    echo "hyper-floor speaks plain HTTP only: left out with --tls" >&2
    SERVERS=$(tr ' ' '\n' <<< "$SERVERS" | grep -vx hyper-floor | xargs)
fi
nginx_binary
if [ -z "${MOLTD:-}" ]; then
    cargo build --release --quiet
    MOLTD=$PWD/target/release/moltd
fi
if [ "$WORKERS" != 1 ] && [[ " $SERVERS " == *" hyper-floor "* ]]; then
    echo "hyper-floor has one thread: left out with --workers $WORKERS" >&2
    SERVERS=$(tr ' ' '\n' <<< "$SERVERS" | grep -vx hyper-floor | xargs)
fi
case " $SERVERS " in
    *" hyper-floor "*)
        cargo build --release --quiet --example hyper_floor
        FLOOR=$PWD/target/release/examples/hyper_floor ;;
esac
MOLTD=$(realpath "$MOLTD")
CLK_TCK=$(getconf CLK_TCK)

if [ "$(nproc)" -ge 2 ]; then
    SERVER_CPUS=${SERVER_CPUS:-0}
    WRK_CPUS=${WRK_CPUS:-1}
    SRV_PIN=(taskset -c "$SERVER_CPUS")
    WRK_PIN=(taskset -c "$WRK_CPUS")
else
    SERVER_CPUS=all WRK_CPUS=all SRV_PIN=() WRK_PIN=()
fi

bench_tmp compare
ROOT=$TMP/www
RESULTS=$TMP/results.tsv
: > "$RESULTS"
SHARES=$TMP/shares.tsv   # server, file, busiest worker's % of write syscalls (--workers 2+)
: > "$SHARES"


# --- deterministic doc root -------------------------------------------------
mkdir -p "$ROOT/dir"
python3 - "$ROOT" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(5)
for name, size in [("1k.bin", 1 << 10), ("16k.bin", 16 << 10), ("100k.bin", 100 << 10),
                   ("1m.bin", 1 << 20), ("10m.bin", 10 << 20)]:
    with open(os.path.join(root, name), "wb") as f:
        f.write(rng.randbytes(size))
body = "".join("<li>item %02d of the benchmark page</li>\n" % i for i in range(11))
page = ("<!DOCTYPE html>\n<html>\n<head>\n<title>moltd benchmark</title>\n</head>\n"
        "<body>\n<h1>moltd benchmark</h1>\n<ul>\n%s</ul>\n</body>\n</html>\n" % body)
with open(os.path.join(root, "index.html"), "w") as f:
    f.write(page)
for i in range(200):
    with open(os.path.join(root, "dir", "file-%03d.txt" % i), "w") as f:
        f.write("file %d\n" % i)
PY

SCHEME=http
if [ "$TLS" = 1 ]; then
    SCHEME=https
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
    chmod 644 "$TMP/key.pem"
fi

# --- servers -----------------------------------------------------------------
declare -A PORT PIDFILE
start_moltd() { # name, tuned (0|1)
    local name=$1 tuned=$2 p=$TMP/$1 log cache=""
    mkdir -p "$p/conf" "$p/logs"
    PORT[$name]=$(free_port)
    PIDFILE[$name]=$p/logs/moltd.pid
    [ "$LOG" = on ] && log=logs/access.log || log=off
    # moltd-tuned: the open-file cache trusts a stat for 60 s, as
    # nginx-tuned's open_file_cache_valid does (moltd's default re-stats
    # every request so a change on disk shows at once).
    [ "$tuned" = 1 ] && cache='open_file_cache_valid = "60s"'
    local ssl="" tls=""
    if [ "$TLS" = 1 ]; then
        ssl=" ssl"
        tls=$(printf 'ssl_certificate = "%s"\nssl_certificate_key = "%s"' "$TMP/cert.pem" "$TMP/key.pem")
    fi
    cat > "$p/conf/moltd.toml" <<CONF
worker_processes = $WORKERS
error_log = "logs/error.log"
keepalive_requests = 1000000
$cache

[[server]]
listen = ["127.0.0.1:${PORT[$name]}$ssl"]
root = "$ROOT"
access_log = "$log"
$tls

[[server.location]]
prefix = "/dir/"
autoindex = true
CONF
    # moltd reads MOLTD from its environment as the inherited-socket list (binary
    # upgrade, like nginx's NGINX): never pass our MOLTD=/path/to/binary to it.
    env -u MOLTD "${SRV_PIN[@]}" "$MOLTD" -p "$p" > "$p/logs/stdout" 2>&1 &
}
start_nginx() { # name, tuned (0|1)
    local name=$1 tuned=$2 p=$TMP/$1 log cache=""
    mkdir -p "$p/conf" "$p/logs" "$p/tmp"
    PORT[$name]=$(free_port)
    PIDFILE[$name]=$p/logs/nginx.pid
    if [ "$LOG" = off ]; then log="access_log off;"
    elif [ "$tuned" = 1 ]; then log="access_log logs/access.log combined buffer=64k flush=1s;"
    else log="access_log logs/access.log combined;"; fi
    [ "$tuned" = 1 ] && cache="open_file_cache max=10000 inactive=60s; open_file_cache_valid 60s;"
    local ssl="" tls=""
    if [ "$TLS" = 1 ]; then
        ssl=" ssl http2"
        tls="ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;"
    fi
    cat > "$p/conf/nginx.conf" <<CONF
worker_processes $WORKERS;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 1024; }
http {
    types { text/html html; }
    default_type application/octet-stream;
    $log
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    $cache
$(nginx_temp_paths)
    server {
        listen 127.0.0.1:${PORT[$name]}$ssl;
        $tls
        root $ROOT;
        location /dir/ { autoindex on; }
    }
}
CONF
    "${SRV_PIN[@]}" "$NGINX" -p "$p/" -c conf/nginx.conf -e logs/error.log -g 'daemon off;' \
        > "$p/logs/stdout" 2>&1 &
}

start_floor() { # name
    local name=$1 p=$TMP/$1
    mkdir -p "$p/logs"
    PORT[$name]=$(free_port)
    PIDFILE[$name]=$p/logs/floor.pid
    "${SRV_PIN[@]}" "$FLOOR" "127.0.0.1:${PORT[$name]}" "$ROOT" "${PIDFILE[$name]}" \
        > "$p/logs/stdout" 2>&1 &
}
# The floor is one process: it is its own worker.
is_floor() { [ "$1" = hyper-floor ]; }
skip() { is_floor "$1" && [ "$2" = /dir/ ]; } # server, path: the floor lists nothing

master() { cat "${PIDFILE[$1]}"; }
workers() {
    if is_floor "$1"; then master "$1"; return; fi
    pgrep -P "$(master "$1")" | sort -n | tr '\n' ' ' || true
}
cpu_ticks() { tree_cpu_ticks "$(master "$1")"; }
reset_rss() { local w; for w in $(workers "$1"); do echo 5 > "/proc/$w/clear_refs" 2>/dev/null || true; done; }
peak_rss_kb() { # largest VmHWM among the workers
    local w m=0 v
    for w in $(workers "$1"); do
        v=$(awk '/^VmHWM/ { print $2 }' "/proc/$w/status" 2>/dev/null || echo 0)
        if [ "${v:-0}" -gt "$m" ]; then m=$v; fi
    done
    echo "$m"
}
alive() { [ -f "${PIDFILE[$1]}" ] && kill -0 "$(master "$1")" 2>/dev/null; }
syscw() { awk '/^syscw/ { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }
busiest_share() { # "w1:n1 w2:n2 ..." before, after: the largest worker's % of write syscalls
    python3 - "$1" "$2" <<'PY'
import sys
b = dict(x.split(":") for x in sys.argv[1].split())
d = [int(n) - int(b.get(w, 0)) for w, n in (x.split(":") for x in sys.argv[2].split())]
print("%.1f" % (100 * max(d) / sum(d)) if d and sum(d) > 0 else "-")
PY
}
writes() { local w; for w in $(workers "$1"); do printf '%s:%s ' "$w" "$(syscw "$w")"; done; }
nworkers_ready() { is_floor "$1" || [ "$(workers "$1" | wc -w)" -ge "$WORKERS" ]; }

for s in $SERVERS; do
    case $s in
        moltd) start_moltd moltd 0 ;;
        moltd-tuned) start_moltd moltd-tuned 1 ;;
        nginx-default) start_nginx nginx-default 0 ;;
        nginx-tuned) start_nginx nginx-tuned 1 ;;
        hyper-floor) start_floor hyper-floor ;;
        *) echo "unknown server $s" >&2; exit 2 ;;
    esac
done
for s in $SERVERS; do
    wait_for 10 "$s pid file" test -s "${PIDFILE[$s]}"
    wait_for 10 "$s to answer" curl -ksf -o /dev/null "$SCHEME://127.0.0.1:${PORT[$s]}/index.html"
    wait_for 10 "$s workers" nworkers_ready "$s"
    if [ "$SERVER_CPUS" != all ]; then
        for p in $(tree_pids "$(master "$s")"); do taskset -a -cp "$SERVER_CPUS" "$p" > /dev/null; done
    fi
done

url_path() { case $1 in dir|dir/) echo /dir/ ;; *) echo "/$1" ;; esac; }

# Every server must answer every file with 200 and the same body.
for f in $FILES; do
    path=$(url_path "$f")
    for s in $SERVERS; do
        skip "$s" "$path" && continue
        read -r code size hdr < <(curl -ks -o "$TMP/body" -w '%{http_code} %{size_download} %{size_header}\n' \
            "$SCHEME://127.0.0.1:${PORT[$s]}$path")
        if [ "$code" != 200 ]; then echo "$s $path: HTTP $code" >&2; exit 1; fi
        if [ "$path" != /dir/ ] && ! cmp -s "$TMP/body" "$ROOT/$f"; then
            echo "$s $path: body differs from the file" >&2; exit 1
        fi
        if [ "$path" = /dir/ ]; then
            n=$(grep -c 'file-[0-9]*\.txt</a>' "$TMP/body" || true)
            [ "$n" = 200 ] || { echo "$s /dir/: listing shows $n files, not 200" >&2; exit 1; }
        fi
        if [ "$f" = "${FILES%% *}" ]; then echo "check $s: $path 200, header $hdr bytes, body $size bytes"; fi
        if [ "$path" = /dir/ ]; then echo "check $s: /dir/ listing $size bytes"; fi
    done
done

# --- wrk ----------------------------------------------------------------------
cat > "$TMP/report.lua" <<'LUA'
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n",
        summary.requests, summary.bytes, summary.duration,
        latency:percentile(50), latency:percentile(99),
        e.connect, e.read, e.write, e.timeout, e.status))
end
LUA
WRK_ARGS=(-t"$THREADS" -c"$CONNS" --timeout "$TIMEOUT" --latency -s "$TMP/report.lua")
[ "$CLOSE" = 1 ] && WRK_ARGS+=(-H "Connection: close")

# h2load's summary as wrk's RESULT line: requests (succeeded), bytes,
# duration, mean and max request time as p50/p99, errors (failed+errored
# as read, timeout) and non-2xx.
H2_REPORT='
/^finished in/ { secs = $3 + 0 }
/^traffic:/ { v = $3; gsub(/[()]/, "", v); bytes = v }
/^requests:/ { ok = $8; err = $10 + $12; tmo = $14 }
/^status codes:/ { bad = $5 + $7 + $9 }
function us(v) { return v ~ /ms$/ ? v * 1000 : v ~ /us$/ ? v + 0 : v * 1e6 }
/^time for request:/ { mx = us($5); mean = us($6) }
END { printf "RESULT %d %d %d %d %d 0 %d 0 %d %d\n", ok, bytes, secs * 1e6, mean, mx, err, tmo, bad }'
load() { # seconds, url: prints a RESULT line
    if [ "$H2" = 1 ]; then
        local out
        out=$("${WRK_PIN[@]}" h2load -c"$CONNS" -m"$STREAMS" -t1 -D"$1" "$2" 2>&1) || { echo "$out"; return 1; }
        awk "$H2_REPORT" <<< "$out"
    else
        "${WRK_PIN[@]}" wrk "${WRK_ARGS[@]}" -d"$1s" "$2"
    fi
}

run() { # round, server, file, seconds; appends a line to $RESULTS (round 0 = warm-up, not kept)
    local round=$1 s=$2 f=$3 secs=$4 url before after rss w0 w1 out
    skip "$s" "$(url_path "$f")" && return 0
    url=$SCHEME://127.0.0.1:${PORT[$s]}$(url_path "$f")
    alive "$s" || { echo "$s is not running any more" >&2; tail -5 "$TMP/$s/logs/error.log" >&2; exit 1; }
    w0=$(workers "$s")
    reset_rss "$s"
    local wr0 share=""
    wr0=$(writes "$s")
    before=$(cpu_ticks "$s")
    out=$(load "$secs" "$url" 2>&1) || { echo "load failed: $out" >&2; exit 1; }
    after=$(cpu_ticks "$s")
    if [ "$WORKERS" -gt 1 ] && ! is_floor "$s"; then
        share=$(busiest_share "$wr0" "$(writes "$s")")
        [ "$round" -gt 0 ] && printf '%s\t%s\t%s\n' "$s" "$f" "$share" >> "$SHARES"
        share=", busiest worker $share%"
    fi
    rss=$(peak_rss_kb "$s")
    w1=$(workers "$s")
    local res
    res=$(grep '^RESULT ' <<< "$out" | cut -d' ' -f2-) || { echo "no wrk result: $out" >&2; exit 1; }
    if [ "$w0" != "$w1" ]; then
        echo "warning: $s workers changed during $f (round $round): [$w0] -> [$w1]" >&2
    fi
    if [ "$round" -gt 0 ]; then
        # round server file requests bytes dur_us p50_us p99_us connect read write timeout status ticks rss_kb respawned
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$s" "$f" "${res// /$'\t'}" \
            "$((after - before))" "$rss" "$([ "$w0" = "$w1" ] && echo 0 || echo 1)" >> "$RESULTS"
        printf '  round %d %-13s %-10s %s\n' "$round" "$s" "$f" \
            "$(awk '{ printf "%.0f req/s, errors: connect %d read %d write %d timeout %d non-2xx %d",
                    $1 / $3 * 1e6, $6, $7, $8, $9, $10 }' <<< "$res")$share"
    fi
    if [ "$LOG" = on ]; then : > "$TMP/$s/logs/access.log"; fi   # keep the disk use bounded
}

mode=$([ "$CLOSE" = 1 ] && echo "Connection: close" || echo keep-alive)
if [ "$H2" = 1 ]; then mode="HTTP/2 over TLS (h2load -c$CONNS -m$STREAMS -t1)"
elif [ "$TLS" = 1 ]; then mode="HTTPS/1.1, $mode"; fi
echo "moltd $("$MOLTD" -v 2>&1 | sed 's/.*moltd\///') ($MOLTD) vs $("$NGINX" -v 2>&1 | sed 's/.*: //')"
echo "$mode, $WORKERS worker(s), access log $LOG, wrk -t$THREADS -c$CONNS, $ROUNDS round(s) x ${DURATION}s," \
     "servers on cpu $SERVER_CPUS, wrk on cpu $WRK_CPUS, $(nproc) cores, CLK_TCK $CLK_TCK"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the server's core skew req/s more than CPU/request)"
if [ "$WARMUP" -gt 0 ]; then
    for f in $FILES; do for s in $SERVERS; do run 0 "$s" "$f" "$WARMUP"; done; done
fi
for r in $(seq 1 "$ROUNDS"); do
    for f in $FILES; do for s in $SERVERS; do run "$r" "$s" "$f" "$DURATION"; done; done
done

# --- table --------------------------------------------------------------------
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" "$CLK_TCK" "$FILES" "$SERVERS" <<'PY'
import statistics, sys
from collections import defaultdict
path, clk, files, servers = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
runs = defaultdict(dict)  # (server, file) -> round -> metrics
for line in open(path):
    r, s, f, req, byt, dur, p50, p99, ec, er, ew, et, es, ticks, rss, resp = line.split("\t")
    req, dur = int(req), int(dur)
    runs[s, f][int(r)] = dict(
        rps=req / dur * 1e6, mbps=int(byt) / dur, p50=int(p50), p99=int(p99),
        cpu=int(ticks) / clk * 1e6 / req if req else float("nan"), rss=int(rss),
        connect=int(ec), read=int(er), write=int(ew), timeout=int(et),
        sock=int(ec) + int(er) + int(ew) + int(et), status=int(es), resp=int(resp))
med = lambda xs: statistics.median(xs) if xs else float("nan")
def lat(us):
    return "%dus" % us if us < 1000 else "%.1fms" % (us / 1000) if us < 100000 else "%.2fs" % (us / 1e6)
def ratio(s, f, key):
    if "nginx-tuned" not in servers:
        return "-"
    if s == "nginx-tuned":
        return "1"
    a, b = runs[s, f], runs["nginx-tuned", f]
    rs = [a[r][key] / b[r][key] for r in sorted(a) if r in b and b[r][key]]
    if not rs:
        return "-"
    m = med(rs)
    same = sum(1 for x in rs if (x > 1) == (m > 1) and x != 1)
    return "%.2f %d/%d" % (m, same, len(rs))
head = ("server", "file", "req/s", "MB/s", "p50", "p99", "CPU us/req", "RSS MiB", "errors", "req/s x", "CPU x")
rows, notes = [head], []
for f in files:
    for s in servers:
        rr = list(runs[s, f].values())
        if not rr:
            continue
        sock, status = sum(x["sock"] for x in rr), sum(x["status"] for x in rr)
        err = "%d" % (sock + status) if not sock or not status else "%d+%d" % (sock, status)
        if sock:
            notes.append("%s %s: socket errors %s" % (s, f, ", ".join(
                "%s %d" % (k, sum(x[k] for x in rr)) for k in ("connect", "read", "write", "timeout")
                if sum(x[k] for x in rr))))
        if any(x["resp"] for x in rr):
            err += " (respawn)"
        rows.append((s, f, "%.0f" % med([x["rps"] for x in rr]), "%.1f" % med([x["mbps"] for x in rr]),
                     lat(med([x["p50"] for x in rr])), lat(med([x["p99"] for x in rr])),
                     "%.1f" % med([x["cpu"] for x in rr]), "%.1f" % (max(x["rss"] for x in rr) / 1024),
                     err, ratio(s, f, "rps"), ratio(s, f, "cpu")))
w = [max(len(r[i]) for r in rows) for i in range(len(head))]
for i, r in enumerate(rows):
    print("  ".join(c.ljust(w[j]) if j < 2 else c.rjust(w[j]) for j, c in enumerate(r)).rstrip())
    if i == 0:
        print("  ".join("-" * x for x in w))
print("\nmedians over rounds; errors = socket errors + non-2xx (summed); RSS = largest worker VmHWM;")
print("x = median of per-round ratios to nginx-tuned, k/n = rounds on the same side of 1 as the median")
for n in notes:
    print(n)
PY
if [ -s "$SHARES" ]; then
    echo
    python3 - "$SHARES" <<'PY'
import statistics, sys
from collections import defaultdict
v = defaultdict(list)
for line in open(sys.argv[1]):
    s, f, x = line.split("\t")
    if x.strip() != "-":
        v[s, f].append(float(x))
for (s, f), xs in v.items():
    print("%-13s %-10s busiest worker's share of write syscalls (~requests): median %.1f%%, worst %.1f%%"
          % (s, f, statistics.median(xs), max(xs)))
PY
fi

for s in $SERVERS; do
    n=$(grep -cE '\[(alert|crit|emerg)\]' "$TMP/$s/logs/error.log" 2>/dev/null || true)
    if [ "${n:-0}" -gt 0 ]; then
        echo "$s error.log: $n alert/crit/emerg lines, last:"
        grep -E '\[(alert|crit|emerg)\]' "$TMP/$s/logs/error.log" | tail -3
    fi
done
exit 0
