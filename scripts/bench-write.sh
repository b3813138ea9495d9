#!/usr/bin/env bash
# Write throughput with wrk, lineshard beside influxd in one run.
#
# Each server runs pinned to core 0 (lineshard --cores 1; influxd with GOMAXPROCS=1); wrk runs
# pinned to core 1 and POSTs pre-built 5000-line TSBS cpu-only bodies (scripts/gen-tsbs-bodies.py,
# a pool of distinct bodies cycled in order) on 4 and 16 connections. Rows/s = 204 answers/s x 5000.
#
# Usage: scripts/bench-write.sh [seconds per run (default 10)] [bodies in the pool (default 100)]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/servers.sh
. scripts/servers.sh
PIDS=()
secs=${1:-10}
pool=${2:-100}
out=${OUT:-target/bench-write}
mkdir -p "$out"
command -v wrk >/dev/null || bash scripts/install-test-deps.sh
cargo build --release --bin lineshard >/dev/null
bodies="$out/bodies"
if [ "$(ls "$bodies" 2>/dev/null | wc -l)" -lt "$pool" ]; then
  python3 scripts/gen-tsbs-bodies.py "$bodies" "$pool" 5000 1000
fi

run_wrk() { # name addr conns
  local name=$1 addr=$2 conns=$3
  curl -s -XPOST "http://$addr/query" --data-urlencode 'q=CREATE DATABASE bench' >/dev/null
  BODY_DIR="$bodies" WRITE_PATH="/write?db=bench" taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --timeout 30s \
    -s scripts/wrk-bodies.lua "http://$addr" >"$out/$name-c$conns.txt" 2>&1 || true
  local rps non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$out/$name-c$conns.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$out/$name-c$conns.txt")
  local total ok
  total=$(awk '/requests in/ {print $1}' "$out/$name-c$conns.txt")
  ok=$(( ${total:-0} - ${non2xx:-0} ))
  python3 - "$name" "$conns" "$ok" "$secs" "$rps" "${non2xx:-0}" <<'PY'
import sys
name, conns, ok, secs, rps, bad = sys.argv[1:]
rows = int(ok) * 5000 / float(secs)
print(f"{name:10s} conns={conns:>3s}  requests/s={float(rps or 0):9.1f}  rows/s={rows:12,.0f}  non-2xx={bad}")
PY
}

results="$out/results.txt"; : >"$results"

# lineshard, with the default --fsync always, then with --fsync never
for fsync in always never; do
  dir=$(mktemp -d); port=$(free_port)
  taskset -c 0 target/release/lineshard --cores 1 --fsync "$fsync" --bind "127.0.0.1:$port" --data-dir "$dir" >"$out/lineshard-$fsync.log" 2>&1 &
  pid=$!
  wait_ping "http://127.0.0.1:$port" "$pid" || { echo "no /ping on 127.0.0.1:$port" >&2; exit 1; }
  for c in 4 16; do run_wrk "ls-$fsync" "127.0.0.1:$port" "$c" | tee -a "$results"; done
  echo "lineshard (fsync $fsync) peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)" | tee -a "$results"
  kill $pid; wait $pid 2>/dev/null || true; rm -rf "$dir"
done

# influxd 1.6.7 (Debian), GOMAXPROCS=1, same core
dir=$(mktemp -d)
start_influxd "$dir" "$out/influxd.log" 0 1 || { echo "influxd did not start" >&2; exit 1; }
pid=$SERVER_PID
for c in 4 16; do run_wrk influxd "$SERVER_ADDR" "$c" | tee -a "$results"; done
echo "influxd peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)" | tee -a "$results"
kill $pid; wait $pid 2>/dev/null || true; rm -rf "$dir"
echo "results in $results"
