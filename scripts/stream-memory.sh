#!/usr/bin/env bash
# A large raw SELECT asked in chunks (read in time windows, written window by window) against
# the same SELECT answered whole: time and the server's peak RSS for each, on the same data.
#
#   scripts/stream-memory.sh [hosts] [points per host]     (default 50 x 60000 = 3 M rows)
#
# Q (environment) is the query, URL-encoded (default 'SELECT+*+FROM+big'), e.g.
# Q='SELECT+*+FROM+big+LIMIT+500000+OFFSET+100'.
# Each answer is read by a fresh server process (started on the same data directory), so that
# its peak RSS (VmHWM) is the query's and not the load's.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${1:-50}
PER=${2:-60000}
cargo build --release -q
BIN=target/release/lineshard
DIR=$(mktemp -d)
PORT=
URL=
PID=
stop() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=
    fi
}
trap 'stop; rm -rf "$DIR"' EXIT
start() {
    # A fresh port each time: the last one may still be held by closing connections.
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    URL=http://127.0.0.1:$PORT
    "$BIN" --bind "127.0.0.1:$PORT" --data-dir "$DIR/data" >"$DIR/log" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "$URL/ping" && return 0
        sleep 0.1
    done
    echo "server did not start" >&2
    exit 1
}
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$PID/status"; }

start
curl -sf -o /dev/null -XPOST "$URL/query?q=CREATE+DATABASE+db"
python3 - "$URL" "$HOSTS" "$PER" <<'EOF'
import sys, urllib.request
url, hosts, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = 1577836800000000000
body = []
for t in range(per):
    for h in range(hosts):
        body.append(f'big,host=h{h} a={t}.25,b={t*h}i,c="some text {t}" {t0 + t * 1000000000}')
    if len(body) >= 25000 or t + 1 == per:
        req = urllib.request.Request(url + "/write?db=db", data="\n".join(body).encode(), method="POST")
        urllib.request.urlopen(req).read()
        body = []
EOF
stop

Q=${Q:-'SELECT+*+FROM+big'}
printf '%-28s %10s %12s %14s\n' "answer" "seconds" "bytes" "peak RSS MB"
for mode in chunked whole; do
    start
    params="db=db&q=$Q"
    [ "$mode" = chunked ] && params="$params&chunked=true"
    start_ns=$(date +%s%N)
    bytes=$(curl -sf "$URL/query?$params" | wc -c)
    end_ns=$(date +%s%N)
    after=$(hwm_kb)
    label="$mode ($((HOSTS * PER)) rows)"
    secs=$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    printf '%-28s %10s %12d %14d\n' "$label" "$secs" "$bytes" "$((after / 1024))"
    stop
done
