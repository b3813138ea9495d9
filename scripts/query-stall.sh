#!/usr/bin/env bash
# How long a large /query holds up the other requests of its core.
#
# lineshard runs with --cores 1 pinned to core 0, a 16 MiB memtable bound (so that seals go on
# during the query), and is given BODIES 5000-line TSBS bodies (140: 700,000 rows of 500,000
# distinct points). Then `SELECT * FROM cpu` (~70 MB of JSON) runs twice:
# 1. while a client on core 1 sends /ping every 5 ms for 3 s: the longest /ping is how long the
#    core was held by the query's work on its thread;
# 2. while wrk on core 1 writes 5000-line bodies on 4 connections for 8 s (the query starts after
#    2 s): the writes' latency and count (writes go on sealing memtables during the query).
# Between the two, a selective query (one field, one host) shows what the pruned read costs.
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
printf '[data]\nmemtable-max-bytes = 16777216\n' >"$out/config.toml"
taskset -c 0 "$bin" --cores 1 --config "$out/config.toml" --bind "127.0.0.1:$port" \
  --data-dir "$dir" >"$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
ready=0
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/ping" && { ready=1; break; }
  sleep 0.1
done
[ $ready = 1 ] || { cat "$out/server.log" >&2; echo "lineshard did not answer /ping in 10 s" >&2; exit 1; }
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
# A selective query (one field of ten, one host of 100): reads one column block of one series a
# file, not the files.
t=$(curl -s -o "$out/selective.json" -w '%{time_total}' -G "http://127.0.0.1:$port/query" \
  --data-urlencode db=bench --data-urlencode "q=SELECT usage_user FROM cpu WHERE hostname = 'host_7'")
echo "selective query (one field, one host): $t s, $(wc -c <"$out/selective.json") bytes of JSON"
command -v wrk >/dev/null || bash scripts/install-test-deps.sh
(
  sleep 2
  curl -s -o /dev/null -w 'query during the writes: %{time_total} s\n' -G "http://127.0.0.1:$port/query" \
    --data-urlencode db=bench --data-urlencode 'q=SELECT * FROM cpu'
) &
qpid=$!
BODY_DIR="$bodies" WRITE_PATH="/write?db=bench" taskset -c 1 wrk -t1 -c4 -d8s --timeout 30s --latency \
  -s scripts/wrk-bodies.lua "http://127.0.0.1:$port" >"$out/wrk.txt" 2>&1 || true
echo "writes during the query: $(awk '/requests in/ {print $1, "requests in", $4}' "$out/wrk.txt")" \
  "latency max $(awk '/^ *Latency / {print $4}' "$out/wrk.txt"), p99 $(awk '/ 99%/ {print $2}' "$out/wrk.txt")," \
  "non-2xx $(awk '/Non-2xx/ {print $5}' "$out/wrk.txt" | grep . || echo 0)"
wait $qpid
