#!/usr/bin/env bash
# Write throughput and p99 with and without a /metrics scrape every 100 ms, in alternating
# pairs (both orders) against one release server on loopback. Each run is 8 s of
# `lineshard-load` (4 connections, closed loop); each scrape loop is at most 90 scrapes.
# Usage: cargo build --release -p lineshard -p lineshard-load && bash scripts/scrape-under-load.sh [PAIRS]
set -euo pipefail
cd "$(dirname "$0")/.."
B=target/release
PAIRS=${1:-3}
D=$(mktemp -d)
$B/lineshard --bind 127.0.0.1:0 --data-dir "$D/data" --cores 1 > "$D/out" 2> "$D/err" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 100); do grep -q listening "$D/out" && break; sleep 0.1; done
ADDR=$(sed -n 's/lineshard listening on \([^ ]*\).*/\1/p' "$D/out")
run() {
  $B/lineshard-load --url "http://$ADDR" --db ab --create-db --connections 4 --duration 8 \
    --quiet --json "$D/r.json" > /dev/null 2>&1
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['rows_per_sec']:.0f} rows/s  p99 {r['latency_ms']['p99']} ms\")" "$D/r.json"
}
scraping() {
  ( for _ in $(seq 90); do curl -s -o /dev/null "http://$ADDR/metrics"; sleep 0.1; done ) &
  local s=$!
  echo "scrape  $(run)"
  wait $s
}
curl -s -o /dev/null -w "one scrape: %{size_download} bytes in %{time_total} s\n" "http://$ADDR/metrics"
for pair in $(seq "$PAIRS"); do
  if [ $((pair % 2)) -eq 1 ]; then echo "none    $(run)"; scraping; else scraping; echo "none    $(run)"; fi
done
