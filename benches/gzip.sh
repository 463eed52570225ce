#!/usr/bin/env bash
# On-the-fly compression, moltd vs nginx (issue 15, item 5): a 100 KB
# JavaScript file (generated, text-like: functions, identifiers from a
# vocabulary, strings, comments; deterministic) requested with
# `Accept-Encoding: gzip` over keep-alive by wrk (-t1 -c50).
#
#   nginx:  gzip on; gzip_types application/javascript; gzip_comp_level 1;
#           (+ sendfile, tcp_nopush, open_file_cache as compare.sh's
#           nginx-tuned, access_log off): it compresses every response.
#   moltd:  gzip = true, gzip_types = ["application/javascript"] (level 1,
#           access_log off): it compresses once per file version and keeps
#           the result in the open-file cache.
#
# Both run one worker pinned to core 0, wrk on core 1, measured in
# interleaved rounds. Printed per server: the median over rounds of req/s
# and server CPU per request (utime+stime of the master and its workers,
# from /proc), the bytes of one response on the wire (headers + body, as
# wrk counted them) and of its compressed body (curl); then the CPU and
# bytes ratios moltd/nginx. Before measuring, each server's response is
# checked to decompress to the file.
#
#   benches/gzip.sh [--quick] [--rounds N] [--duration SECONDS]
#
# Environment (flags win): MOLTD=/path/to/moltd (skip cargo build
# --release), ROUNDS (5), DURATION (5), CONNS (50), KEEP=1 (keep the temp
# directory).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
while [ $# -gt 0 ]; do
    case $1 in
        --quick) ROUNDS=1 DURATION=3 ;;
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

cd "$(dirname "$0")/.."
. benches/lib.sh
need wrk wrk
nginx_binary
moltd_binary
pin_cpus

bench_tmp gzip
ROOT=$TMP/www
mkdir -p "$ROOT"
declare -A PORT PIDFILE

# --- a text-like JavaScript file of 100 KB -----------------------------------
python3 - "$ROOT/app.js" <<'PY'
import random, sys
rng = random.Random(15)
words = ("user item list value count index data result config options state event "
         "handler element node request response cache token session query filter "
         "render update create remove fetch parse format validate merge").split()
def ident():
    a, b = rng.choice(words), rng.choice(words)
    return a + b[0].upper() + b[1:]
out, n = [], 0
while n < 100 * 1024:
    name, args = ident(), ", ".join(ident() for _ in range(rng.randint(0, 3)))
    body = ["/**", " * %s the %s of a %s." % (rng.choice(words).capitalize(), rng.choice(words),
                                             rng.choice(words)), " */",
            "export function %s(%s) {" % (name, args)]
    for _ in range(rng.randint(2, 8)):
        v = ident()
        body.append(rng.choice([
            "  const %s = %s.%s(%d);" % (v, ident(), rng.choice(words), rng.randint(0, 999)),
            "  if (%s === null || %s.length > %d) {\n    return \"%s\";\n  }" % (
                v, v, rng.randint(1, 64), " ".join(rng.choice(words) for _ in range(3))),
            "  for (let i = 0; i < %s.length; i++) {\n    %s[i] = %s(%s[i]);\n  }" % (v, v, ident(), v),
            "  let %s = { %s: %d, %s: '%s' };" % (v, rng.choice(words), rng.randint(0, 9999),
                                              rng.choice(words), rng.choice(words)),
        ]))
    body.append("  return %s;\n}\n" % ident())
    text = "\n".join(body) + "\n"
    out.append(text)
    n += len(text)
data = "".join(out)[:100 * 1024]
open(sys.argv[1], "w").write(data)
PY
# Settled (moltd keeps nothing for a file written in the last 2 s).
touch -d '1 minute ago' "$ROOT/app.js"

# --- servers -------------------------------------------------------------------
start_moltd() {
    local p=$TMP/moltd
    mkdir -p "$p/conf" "$p/logs"
    PORT[moltd]=$(free_port)
    PIDFILE[moltd]=$p/logs/moltd.pid
    cat > "$p/conf/moltd.toml" <<CONF
worker_processes = 1
error_log = "logs/error.log"
[[server]]
listen = ["127.0.0.1:${PORT[moltd]}"]
root = "$ROOT"
access_log = "off"
gzip = true
gzip_types = ["application/javascript"]
CONF
    "${SRV_PIN[@]}" "$BIN" -p "$p" > "$p/logs/stdout" 2>&1 &
}
start_nginx() {
    local p=$TMP/nginx
    mkdir -p "$p/conf" "$p/logs" "$p/tmp"
    PORT[nginx]=$(free_port)
    PIDFILE[nginx]=$p/logs/nginx.pid
    cat > "$p/conf/nginx.conf" <<CONF
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 1024; }
http {
    types { application/javascript js; }
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    gzip on;
    gzip_types application/javascript;
    gzip_comp_level 1;
$(nginx_temp_paths)
    server {
        listen 127.0.0.1:${PORT[nginx]};
        root $ROOT;
    }
}
CONF
    "${SRV_PIN[@]}" "$NGINX" -p "$p/" -c conf/nginx.conf -e logs/error.log -g 'daemon off;' \
        > "$p/logs/stdout" 2>&1 &
}
SERVERS="moltd nginx"
start_moltd
start_nginx
cpu_ticks() { tree_cpu_ticks "$(cat "${PIDFILE[$1]}")"; }
URL() { echo "http://127.0.0.1:${PORT[$1]}/app.js"; }
for s in $SERVERS; do
    wait_for 10 "$s pid file" test -s "${PIDFILE[$s]}"
    wait_for 10 "$s to answer" curl -sf -o /dev/null "$(URL "$s")"
    # Every process of the server on core 0 (workers forked before the pin).
    if [ ${#SRV_PIN[@]} -gt 0 ]; then
        for p in $(tree_pids "$(cat "${PIDFILE[$s]}")"); do taskset -a -cp 0 "$p" > /dev/null; done
    fi
done

# --- checks ---------------------------------------------------------------------
declare -A BODY
for s in $SERVERS; do
    read -r code size < <(curl -s -H 'Accept-Encoding: gzip' -o "$TMP/$s.gz" \
        -w '%{http_code} %{size_download}\n' "$(URL "$s")")
    [ "$code" = 200 ] || { echo "$s: HTTP $code" >&2; exit 1; }
    gzip -dc < "$TMP/$s.gz" | cmp -s - "$ROOT/app.js" || { echo "$s: body does not gunzip to the file" >&2; exit 1; }
    BODY[$s]=$size
done

# --- load -------------------------------------------------------------------------
cat > "$TMP/report.lua" <<'LUA'
done = function(summary, latency, requests)
    io.write(string.format("RESULT %d %d %d %d\n", summary.requests, summary.bytes,
        summary.duration, summary.errors.status + summary.errors.read + summary.errors.timeout))
end
LUA
RESULTS=$TMP/results
: > "$RESULTS"
run() { # round, server
    local before after out
    before=$(cpu_ticks "$2")
    out=$("${WRK_PIN[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" -H 'Accept-Encoding: gzip' \
        -s "$TMP/report.lua" "$(URL "$2")")
    after=$(cpu_ticks "$2")
    echo "$1 $2 $(grep '^RESULT' <<< "$out" | cut -d' ' -f2-) $((after - before))" >> "$RESULTS"
}
echo "moltd ($BIN) vs $("$NGINX" -v 2>&1 | sed 's/.*: //'), 100 KB app.js, Accept-Encoding: gzip,"
echo "wrk -t1 -c$CONNS keep-alive, $ROUNDS round(s) x ${DURATION}s, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $SERVERS; do run 0 "$s"; done   # warm-up, not kept
for r in $(seq 1 "$ROUNDS"); do for s in $SERVERS; do run "$r" "$s"; done; done

python3 - "$RESULTS" "$CLK_TCK" "${BODY[moltd]}" "${BODY[nginx]}" <<'PY'
import statistics, sys
path, clk, body = sys.argv[1], int(sys.argv[2]), {"moltd": int(sys.argv[3]), "nginx": int(sys.argv[4])}
runs = {}
for line in open(path):
    r, s, req, byt, dur, err, ticks = line.split()
    if r == "0":
        continue
    req = int(req)
    runs.setdefault(s, []).append(dict(r=int(r), rps=req / int(dur) * 1e6, wire=int(byt) / req,
                                       cpu=int(ticks) / clk * 1e6 / req, err=int(err)))
med = statistics.median
print("%-6s %9s %12s %11s %11s %7s" % ("server", "req/s", "CPU us/req", "wire B/resp", "gzip body B", "errors"))
for s in ("moltd", "nginx"):
    x = runs[s]
    print("%-6s %9.0f %12.1f %11.0f %11d %7d" % (s, med(v["rps"] for v in x), med(v["cpu"] for v in x),
          med(v["wire"] for v in x), body[s], sum(v["err"] for v in x)))
cpu = med(m["cpu"] / n["cpu"] for m, n in zip(runs["moltd"], runs["nginx"]))
wire = med(v["wire"] for v in runs["moltd"]) / med(v["wire"] for v in runs["nginx"])
print("\nCPU per request moltd/nginx: %.3fx (median of per-round ratios; goal <= 0.30x)" % cpu)
print("bytes on the wire moltd/nginx: %.3fx (body %d vs %d bytes)" % (wire, body["moltd"], body["nginx"]))
PY
