#!/usr/bin/env bash
# How long a large /query holds up the other requests of its core.
#
# lineshard runs with --cores 1 pinned to core 0 and is given BODIES 5000-line TSBS bodies (140:
# 700,000 rows of 500,000 distinct points, one 64 MiB memtable sealed into segment files, the
# rest in the memtable); then `SELECT * FROM cpu` (~70 MB of JSON) runs while a client on core 1
# sends /ping every 5 ms for 3 s. Prints the query's wall time and the /ping latencies (p50, max): the max is
# how long the core was held by the query's work on its thread.
#
# Usage: scripts/query-stall.sh [BIN (default target/release/lineshard)] [BODIES (default 140)]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/lineshard}
nbodies=${2:-140}
[ "$bin" = target/release/lineshard ] && cargo build --release --bin lineshard >/dev/null
bodies=target/bench-write/bodies
if [ "$(ls "$bodies" 2>/dev/null | wc -l)" -lt 100 ]; then
  python3 scripts/gen-tsbs-bodies.py "$bodies" 100 5000 1000
fi
out=target/query-stall
mkdir -p "$out"
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$bin" --cores 1 --bind "127.0.0.1:$port" --data-dir "$dir" >"$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/ping" && break
  sleep 0.1
done
curl -s -XPOST "http://127.0.0.1:$port/query" --data-urlencode 'q=CREATE DATABASE bench' >/dev/null
for i in $(seq 0 $((nbodies - 1))); do
  f=$bodies/body-$(printf %05d $((i % 100))).lp
  code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/write?db=bench" --data-binary "@$f")
  [ "$code" = 204 ] || { echo "body $i: HTTP $code" >&2; exit 1; }
done
sleep 2 # let a seal finish
echo "segment files: $(find "$dir" -name '*.seg' | wc -l)"
curl -s -o "$out/answer.json" -w '%{time_total}' -G "http://127.0.0.1:$port/query" \
  --data-urlencode db=bench --data-urlencode 'q=SELECT * FROM cpu' >"$out/query-time.txt" &
qpid=$!
sleep 0.05
taskset -c 1 python3 - "$port" <<'PY'
import sys, time, urllib.request
port = sys.argv[1]
lat = []
end = time.time() + 3
while time.time() < end:
    t = time.time()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=30).read()
    lat.append((time.time() - t) * 1000)
    time.sleep(0.005)
lat.sort()
print(f"/ping during the query: {len(lat)} answers, p50 {lat[len(lat) // 2]:.2f} ms, max {lat[-1]:.1f} ms")
PY
wait $qpid
echo "query: $(cat "$out/query-time.txt") s, $(wc -c <"$out/answer.json") bytes of JSON"
