#!/usr/bin/env bash
# Renders a moltd autoindex listing full of tricky file names with headless
# Chromium, and checks it end to end:
#   - every href in the listing (and in a sub-directory's listing) resolves
#     to 200 relative to the listing URL, and a file link serves that file;
#   - the listing's Content-Type declares charset=utf-8;
#   - the DOM Chromium renders shows every name exactly (UTF-8 intact, HTML
#     escapes decoded; names over 50 characters cut like nginx's "..>");
#   - a screenshot of the page is written (path printed at the end).
#
# Usage: scripts/listing-screenshot.sh
#   MOLTD=/path/to/moltd   server binary (default: target/release/moltd,
#                          built with `cargo build --release` if missing)
#   LISTING_PNG=/path.png  where to write the screenshot
#                          (default: $TMPDIR/moltd-listing-screenshot.png)
# Prints PASS/FAIL lines; exits non-zero if any check fails.
set -uo pipefail
export LC_ALL=C.UTF-8

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
png=${LISTING_PNG:-${TMPDIR:-/tmp}/moltd-listing-screenshot.png}
failures=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }
die() { printf 'FAIL %s\n' "$*"; exit 1; }

# --- 1. Chromium -----------------------------------------------------------
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq chromium >/dev/null 2>&1 || die "apt-get install chromium"
fi
# Chromium's dependencies bring no CJK font: without one, 日本語 renders as
# boxes in the screenshot (the DOM check still passes). Best effort.
if command -v fc-list >/dev/null 2>&1 && [[ -z $(fc-list :lang=ja 2>/dev/null) ]]; then
    echo "installing a CJK font (fonts-wqy-zenhei)..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null 2>&1 ||
        echo "note: no CJK font; CJK names will show as boxes in the screenshot"
fi
command -v curl >/dev/null 2>&1 || die "curl is needed"

# --- 3a. The server binary ------------------------------------------------
moltd=${MOLTD:-$repo/target/release/moltd}
if [[ ! -x $moltd ]]; then
    if [[ -z ${MOLTD:-} ]]; then
        echo "building $moltd..."
        (cd "$repo" && cargo build --release) || die "cargo build --release"
    fi
    [[ -x $moltd ]] || die "no server binary at $moltd"
fi

# --- 2. The temp prefix ----------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/moltd-listing.XXXXXX")
prefix=$work/prefix
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$prefix/html" "$prefix/logs" "$prefix/conf"
long='a-very-long-name-ünï-that-keeps-going-and-going-well-past-fifty-characters.txt'
subdir='sub dir #1 ü'
files=(
    'plain.txt'
    'with space.txt'
    '100% done.txt'
    '%41 not A.txt'
    'what?.txt'
    'hash#tag.txt'
    'a <b>&c.txt'
    'say "hi".txt'
    "it's.txt"
    'time 12:30.txt'
    'c++ notes.txt'
    'ünï cødé.txt'
    '日本語.txt'
    "$long"
)
subfiles=('inner ?.txt' 'x&y <z>.txt' 'ñ.txt')
for f in "${files[@]}"; do printf '%s' "$f" >"$prefix/html/$f"; done
mkdir "$prefix/html/$subdir"
for f in "${subfiles[@]}"; do printf '%s' "$f" >"$prefix/html/$subdir/$f"; done

# --- 3b. Start the server on a free port -----------------------------------
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    else
        echo $((20000 + RANDOM % 40000))
    fi
}
base=
for attempt in 1 2 3 4 5; do
    port=$(free_port)
    cat >"$prefix/conf/moltd.toml" <<EOF
worker_processes = 1
error_log = "logs/error.log"
[[server]]
listen = ["127.0.0.1:$port"]
root = "html"
autoindex = true
EOF
    rm -f "$prefix/logs/moltd.pid"
    "$moltd" -p "$prefix" >"$work/server.out" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        kill -0 "$server_pid" 2>/dev/null || break
        if [[ -s $prefix/logs/moltd.pid ]] && curl -s -o /dev/null "http://127.0.0.1:$port/"; then
            base="http://127.0.0.1:$port"
            break
        fi
        sleep 0.1
    done
    [[ -n $base ]] && break
    kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=
done
if [[ -z $base ]]; then
    cat "$work/server.out" "$prefix/logs/error.log" 2>/dev/null | tail -20
    die "server did not start"
fi
# The pid file names the master (the process we started).
server_pid=$(cat "$prefix/logs/moltd.pid")
pass "server $moltd listening on $base (pid $server_pid)"

# --- helpers ----------------------------------------------------------------
# Percent-decodes $1 (bytes, so UTF-8 sequences come back whole).
urldecode() { local s=${1//\\/\\\\}; printf '%b' "${s//%/\\x}"; }
# Percent-encodes a path segment (every byte but unreserved ones).
urlencode() {
    local LC_ALL=C s=$1 out= c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in [A-Za-z0-9._~-]) out+=$c ;; *) out+=$(printf '%%%02X' "'$c") ;; esac
    done
    printf '%s' "$out"
}
# Rendered text of a serialized DOM: tags stripped, entities decoded.
dom_text() {
    sed -e 's/<[^>]*>//g' \
        -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&quot;/"/g' -e "s/&#39;/'/g" \
        -e 's/&nbsp;/ /g' -e 's/&amp;/\&/g'
}
# What the listing shows for a name: cut to 47 characters + "..>" past 50.
# (Character counts: the script runs under a UTF-8 locale.)
shown_name() {
    local n=$1
    if ((${#n} > 50)); then printf '%s..>' "${n:0:47}"; else printf '%s' "$n"; fi
}

# --- 4. Links and Content-Type via curl --------------------------------------
# check_listing URL NAME... : every href resolves; names match the entries.
check_listing() {
    local url=$1; shift
    local expected=("$@") body headers ctype href target code got n found
    headers=$work/headers; body=$work/body
    code=$(curl -s -D "$headers" -o "$body" -w '%{http_code}' "$url")
    [[ $code == 200 ]] || { fail "listing $url -> $code"; return; }
    ctype=$(grep -i '^content-type:' "$headers" | tr -d '\r')
    if grep -qiE 'charset="?utf-8' <<<"$ctype"; then
        pass "listing $url: $ctype"
    else
        fail "listing $url: Content-Type lacks charset=utf-8 ($ctype)"
    fi
    mapfile -t hrefs < <(grep -o 'href="[^"]*"' "$body" | sed 's/^href="//; s/"$//')
    ((${#hrefs[@]} == ${#expected[@]} + 1)) ||
        fail "listing $url: ${#hrefs[@]} links for ${#expected[@]} entries + ../"
    local decoded=()
    for href in "${hrefs[@]}"; do
        target=$url$href
        code=$(curl -s -o "$work/got" -w '%{http_code}' "$target")
        if [[ $code != 200 ]]; then
            fail "link href=\"$href\" -> $target -> $code"
            continue
        fi
        n=$(urldecode "$href")
        decoded+=("$n")
        # A file link must serve that very file (each holds its own name).
        if [[ $href != */ ]]; then
            got=$(cat "$work/got")
            if [[ $got == "$n" ]]; then
                pass "link href=\"$href\" -> 200, serves \"$n\""
            else
                fail "link href=\"$href\" -> 200 but serves \"$got\", not \"$n\""
            fi
        else
            pass "link href=\"$href\" -> 200"
        fi
    done
    for n in "${expected[@]}"; do
        found=
        for href in "${decoded[@]}"; do [[ $href == "$n" ]] && found=1; done
        [[ -n $found ]] || fail "listing $url: no working link for \"$n\""
    done
}
root_names=("$subdir/" "${files[@]}")
sub_url="$base/$(urlencode "$subdir")/"
check_listing "$base/" "${root_names[@]}"
sub_names=("${subfiles[@]}")
check_listing "$sub_url" "${sub_names[@]}"

# --- 5. Render with headless Chromium ---------------------------------------
chrome() {
    local profile
    profile=$(mktemp -d "$work/chrome.XXXXXX")
    timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$profile" "$@" 2>>"$work/chromium.log"
}
# check_dom URL NAME... : Chromium's rendered text shows each name exactly.
check_dom() {
    local url=$1; shift
    local n want text
    if ! chrome --dump-dom "$url" >"$work/dom.html" || ! [[ -s $work/dom.html ]]; then
        fail "chromium --dump-dom $url"; tail -5 "$work/chromium.log"; return
    fi
    text=$(dom_text <"$work/dom.html")
    for n in "$@"; do
        want=$(shown_name "$n")
        if [[ $text == *"$want"* ]]; then
            pass "rendered text shows \"$want\""
        else
            fail "rendered text lacks \"$want\""
        fi
    done
}
check_dom "$base/" "${root_names[@]}"
check_dom "$sub_url" "${sub_names[@]}"

rm -f "$png"
if chrome --screenshot="$png" --window-size=1200,800 "$base/" >/dev/null && [[ -s $png ]]; then
    pass "screenshot written"
else
    fail "chromium --screenshot"; tail -5 "$work/chromium.log"
fi

# --- 6. Result (the EXIT trap stops the server and removes the prefix) -----
echo "screenshot: $png"
if ((failures)); then
    echo "FAIL: $failures check(s) failed"
    exit 1
fi
echo "PASS: all checks"
