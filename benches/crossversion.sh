#!/usr/bin/env bash
# Hands over between two releases in both directions under load: the
# handover (MOLTD, MOLTD_READY, MOLTD_PARENT, the readiness report) is a
# protocol between releases, and operators roll forward and back.
#
#   benches/crossversion.sh OLD_BINARY [NEW_BINARY]
#
# NEW_BINARY defaults to a release build of this tree. OLD_BINARY is e.g.
# the last landed main: `git worktree add /tmp/old origin/main && (cd
# /tmp/old && cargo build --release)`. Runs, with keep-alive clients that
# check every response: OLD -> NEW commit, NEW -> OLD rollback, NEW -> OLD
# commit, OLD -> NEW rollback, OLD -> NEW commit. Prints the requests and
# failures; exits 1 on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

[ $# -ge 1 ] || { echo "usage: $0 OLD_BINARY [NEW_BINARY]" >&2; exit 2; }
OLD=$(realpath "$1")
if [ $# -ge 2 ]; then MOLTD=$2; fi
moltd_binary
NEW=$BIN

BIN=$OLD
upgrade_prefix 2
sed -i '1i daemon = true' "$PREFIX/conf/moltd.toml"
cleanup() {
    for f in "$PREFIX"/logs/moltd.pid "$PREFIX"/logs/moltd.pid.oldbin; do
        [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    [ -n "${LOAD:-}" ] && kill "$LOAD" 2>/dev/null || true
}
trap cleanup EXIT

"$PREFIX/sbin/moltd" -p "$PREFIX"
pidof_file() { cat "$PREFIX/logs/$1" 2>/dev/null; }
wait_for 10 "the first master" test -s "$PREFIX/logs/moltd.pid"

python3 - "$PORT" "$PREFIX/html/index.html" "$PREFIX/load.out" <<'PY' &
import http.client, sys, threading, time, os
port, body_path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
want = open(body_path, 'rb').read()
stop = False
ok = bad = 0
lock = threading.Lock()
errors = []
def client():
    global ok, bad
    c = None
    while not stop:
        try:
            if c is None:
                c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
            c.request('GET', '/index.html')
            r = c.getresponse()
            data = r.read()
            good = r.status == 200 and data == want
            with lock:
                if good: ok += 1
                else:
                    bad += 1; errors.append(f'status {r.status}, {len(data)} bytes')
            if r.getheader('connection', '').lower() == 'close':
                c.close(); c = None
        except Exception as e:
            with lock:
                bad += 1; errors.append(repr(e))
            c = None
threads = [threading.Thread(target=client) for _ in range(8)]
for t in threads: t.start()
while not os.path.exists(out + '.stop'): time.sleep(0.1)
stop = True
for t in threads: t.join()
open(out, 'w').write(f'{ok} {bad}\n' + '\n'.join(errors[:20]) + '\n')
PY
LOAD=$!

ready_count() { grep -c 'is ready' "$PREFIX/logs/error.log" || true; }
ready_more() { [ "$(ready_count)" -gt "$1" ]; }
pid_file_names() { [ "$(pidof_file moltd.pid)" = "$1" ]; }
usr2_to() { # binary: install it and upgrade; waits for the ready report
    local before; before=$(ready_count)
    BIN=$1 install_bin
    kill -USR2 "$(pidof_file moltd.pid)"
    wait_for 30 "the ready report" ready_more "$before"
    wait_for 10 "the .oldbin file" test -s "$PREFIX/logs/moltd.pid.oldbin"
}
commit() {
    local old; old=$(pidof_file moltd.pid.oldbin)
    kill -WINCH "$old"; sleep 1; kill -QUIT "$old"
    wait_for 30 "the old master to exit" bash -c "! kill -0 $old 2>/dev/null"
}
rollback() {
    local old new; old=$(pidof_file moltd.pid.oldbin); new=$(pidof_file moltd.pid)
    kill -WINCH "$old"; sleep 1
    kill -HUP "$old"; sleep 1
    kill -QUIT "$new"
    wait_for 30 "the new master to exit" bash -c "! kill -0 $new 2>/dev/null"
    wait_for 10 "the pid file back" pid_file_names "$old"
}
step() { echo "== $*"; sleep 1; }

step "old -> new, commit";     usr2_to "$NEW"; commit
step "new -> old, rollback";   usr2_to "$OLD"; rollback
step "new -> old, commit";     usr2_to "$OLD"; commit
step "old -> new, rollback";   usr2_to "$NEW"; rollback
step "old -> new, commit";     usr2_to "$NEW"; commit
sleep 1
touch "$PREFIX/load.out.stop"
wait "$LOAD"; LOAD=
read -r ok bad < "$PREFIX/load.out"
echo "requests: $ok ok, $bad failed"
masters=$(pgrep -fc "moltd: master process $PREFIX/sbin/moltd" || true)
echo "masters left: $masters (pid file: $(pidof_file moltd.pid))"
if [ "$bad" != 0 ] || [ "$masters" != 1 ]; then
    tail -n +2 "$PREFIX/load.out"
    echo "FAIL"; exit 1
fi
echo "PASS"
