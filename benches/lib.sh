# Shared by the bench scripts (source it after `cd` to the repo root).
#   moltd_binary       sets BIN: $MOLTD if given, else a release build; then
#                      unsets MOLTD, which moltd itself reads as the list of
#                      inherited sockets (a stray value would make it refuse USR2)
#   free_port          prints a free 127.0.0.1 port
#   wait_for S WHAT CMD...   polls CMD every 50 ms for S seconds, or exits 1
#   upgrade_prefix W   makes PREFIX (sbin/moltd copy, html/index.html, conf
#                      with W workers on PORT) and defines install_bin, which
#                      renames a fresh copy of BIN over sbin/moltd
#   need CMD PKG       installs Debian's PKG when CMD is missing
#   nginx_binary       sets NGINX (installing Debian's nginx if needed)
#   bench_tmp NAME     makes TMP (/tmp/moltd-NAME.*, readable by nginx's
#                      workers) and a trap that stops every server whose pid
#                      file is TMP/*/logs/*.pid and removes TMP (KEEP=1 keeps it)
#   tree_pids PID      PID and all its descendants
#   tree_cpu_ticks PID utime+stime (+cutime+cstime: reaped children) of the tree
#   nginx_temp_paths   nginx's temp directories under its prefix, one per line
#   pin_cpus           sets CLK_TCK, and SRV_PIN/WRK_PIN (taskset to core 0 / 1
#                      on a machine with two cores or more, else nothing)

moltd_binary() {
    if [ -n "${MOLTD:-}" ]; then
        BIN=$(realpath "$MOLTD")
    else
        cargo build --release --quiet
        BIN=$PWD/target/release/moltd
    fi
    unset MOLTD
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

wait_for() { # seconds, description, command...
    local end=$((SECONDS + $1)) what=$2; shift 2
    until "$@"; do
        [ $SECONDS -ge $end ] && { echo "timed out waiting for $what" >&2; exit 1; }
        sleep 0.05
    done
}

upgrade_prefix() { # workers
    PREFIX=$(mktemp -d /tmp/moltd-bench.XXXXXX)
    PORT=$(free_port)
    mkdir -p "$PREFIX"/{conf,html,sbin,logs}
    head -c 600 /dev/urandom | base64 > "$PREFIX/html/index.html"
    cat > "$PREFIX/conf/moltd.toml" <<CONF
worker_processes = $1
[[server]]
listen = ["127.0.0.1:$PORT"]
root = "html"
CONF
    install_bin
}

install_bin() { cp "$BIN" "$PREFIX/sbin/moltd.new" && mv "$PREFIX/sbin/moltd.new" "$PREFIX/sbin/moltd"; }

need() { command -v "$1" >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$2"; }; }

nginx_binary() {
    [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need nginx nginx
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

bench_tmp() { # name
    TMP=$(mktemp -d "/tmp/moltd-$1.XXXXXX")
    chmod 755 "$TMP"   # nginx's workers (nobody, when started as root) read the root
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local f
    for f in "$TMP"/*/logs/*.pid; do
        if [ -f "$f" ]; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}

tree_pids() { local c; echo "$1"; for c in $(pgrep -P "$1" || true); do tree_pids "$c"; done; }

tree_cpu_ticks() { # pid
    local stats=() p
    for p in $(tree_pids "$1"); do stats+=("/proc/$p/stat"); done
    cat "${stats[@]}" 2>/dev/null |
        awk '{ sub(/.*\) /, ""); s += $12 + $13 + $14 + $15 } END { print s + 0 }' || true
}

nginx_temp_paths() {
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do
        echo "    ${t}_temp_path tmp/${t/client_body/body};"
    done
}

pin_cpus() {
    CLK_TCK=$(getconf CLK_TCK)
    if [ "$(nproc)" -ge 2 ]; then SRV_PIN=(taskset -c 0) WRK_PIN=(taskset -c 1); else SRV_PIN=() WRK_PIN=(); fi
}
