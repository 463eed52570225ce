# Shared by the bench scripts (source it after `cd` to the repo root).
#   moltd_binary       sets BIN: $MOLTD if given, else a release build; then
#                      unsets MOLTD, which moltd itself reads as the list of
#                      inherited sockets (a stray value would make it refuse USR2)
#   free_port          prints a free 127.0.0.1 port
#   wait_for S WHAT CMD...   polls CMD every 50 ms for S seconds, or exits 1
#   upgrade_prefix W   makes PREFIX (sbin/moltd copy, html/index.html, conf
#                      with W workers on PORT) and defines install_bin, which
#                      renames a fresh copy of BIN over sbin/moltd

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
