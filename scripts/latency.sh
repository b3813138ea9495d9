#!/usr/bin/env bash
# Requests/s and rows/s by body size, and latency at shares of capacity: lineshard, influxd,
# VictoriaMetrics and the discard server, one server core each, in one run.
#
#   scripts/latency.sh [--quick] [--out DIR] [--server-core N] [--loader-cores LIST]
#                      [--only "lineshard influxd victoria-metrics discard"]
#
# Each server runs pinned (taskset) to ONE core (lineshard --cores 1 --fsync always; influxd and
# VictoriaMetrics GOMAXPROCS=1, VictoriaMetrics with -retentionPeriod 100y for the 2016
# timestamps; lineshard-load discard-server), the loader pinned to the others. Per server:
#   closed loop, 16 connections, tsbs-cpu bodies of 10, 100, 1000 and 5000 lines and 5000 gzipped;
#   open loop, 16 connections, 1000-line bodies, uniform arrivals, at 25%, 50% and 75% of that
#   server's 1000-line closed-loop rows/s (latency from the intended send time).
# STEP seconds a run (default 10, --quick 3): about 9 x STEP s a server.
# Results go to --out (default results/latency-DATE): latency/<server>/closed-b10.json ...,
# open-025pct.json ..., latency/servers.txt (peak RSS), meta.json, and report.md with the table and
# latency.svg, drawn by `lineshard-load report DIR` (which prints the markdown).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/servers.sh
. "$ROOT/scripts/servers.sh"
default_cores
QUICK=0
OUT=""
ONLY="lineshard influxd victoria-metrics discard"
SERVER_CORE=${SERVER_CORES%%[-,]*}
ARGS="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    --server-core) SERVER_CORE=$2; shift ;;
    --loader-cores) LOADER_CORES=$2; shift ;;
    --only) ONLY=$2; shift ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
SERVER_CORES=$SERVER_CORE
LOADER_N=$(count_cores "$LOADER_CORES")
if [ "$QUICK" = 1 ]; then STEP=${STEP:-3}; else STEP=${STEP:-10}; fi
CONNECTIONS=16
OUT=${OUT:-$ROOT/results/latency-$(date +%Y%m%d-%H%M%S)}
start_run lineshard-latency
mkdir -p "$OUT/latency"

[[ " $ONLY " == *" influxd "* ]] && need_pkg influxd influxdb
[[ " $ONLY " == *" victoria-metrics "* ]] && need_pkg victoria-metrics victoria-metrics
LOAD=$(release_bin lineshard-load LOAD_BIN -p lineshard-load)
[ -n "$LOAD" ] || { echo "lineshard-load does not build" >&2; exit 1; }
LINESHARD=missing
if [[ " $ONLY " == *" lineshard "* ]]; then
  LINESHARD=$(release_bin lineshard LINESHARD_BIN --bin lineshard)
  [ -n "$LINESHARD" ] || { echo "lineshard does not build: skipped" >&2; LINESHARD=missing; }
fi

step() { # server label flags...
  local name=$1 label=$2; shift 2
  mkdir -p "$OUT/latency/$name"
  taskset -c "$LOADER_CORES" "$LOAD" --threads "$LOADER_N" --connections "$CONNECTIONS" --duration "$STEP" \
    --json "$OUT/latency/$name/$label.json" --quiet "$@" > "$OUT/latency/$name/$label.txt" 2>&1 || true
}

# measure NAME URL [flags...]: the closed-loop bodies, then the open loop at shares of capacity.
measure() {
  local name=$1 url=$2; shift 2
  local b cap p
  for b in 10 100 1000 5000; do step "$name" "closed-b$b" --url "$url" --batch-size "$b" "$@"; done
  step "$name" closed-b5000gz --url "$url" --batch-size 5000 --gzip "$@"
  cap=$(json_field "$OUT/latency/$name/closed-b1000.json" rows_per_sec)
  for p in 25 50 75; do
    step "$name" "open-0${p}pct" --url "$url" --batch-size 1000 --arrivals uniform \
      --rate "$(python3 -c "print(max(1.0, $cap * $p / 100))")" "$@"
  done
  echo "$name $(peak_rss_mb "$SERVER_PID") -" >> "$OUT/latency/servers.txt"
  echo "$name: done" >&2
}

: > "$OUT/latency/servers.txt"
echo "server core $SERVER_CORES, loader cores $LOADER_CORES, $STEP s a step, results in $OUT" >&2
for s in $ONLY; do
  case "$s" in
    lineshard)
      [ -x "$LINESHARD" ] || continue
      if start_lineshard "$LINESHARD" "$WORK/lineshard" "$OUT/latency/lineshard.log" "$SERVER_CORES" 1 --fsync always; then
        meta_server lineshard "$("$LINESHARD" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))" "--cores 1, --fsync always"
        measure lineshard "http://$SERVER_ADDR" --db bench --create-db
        stop "$SERVER_PID"
      fi ;;
    influxd)
      if start_influxd "$WORK/influxd" "$OUT/latency/influxd.log" "$SERVER_CORES" 1; then
        meta_server influxd "$(influxd_version)" "GOMAXPROCS=1, default WAL (no fsync per write)"
        measure influxd "http://$SERVER_ADDR" --db bench --create-db
        stop "$SERVER_PID"
      fi ;;
    victoria-metrics)
      if start_vm "$WORK/vm" "$OUT/latency/victoria-metrics.log" "$SERVER_CORES" 1; then
        meta_server victoria-metrics "$(vm_version)" "GOMAXPROCS=1, -retentionPeriod 100y"
        measure victoria-metrics "http://$SERVER_ADDR" --db bench
        stop "$SERVER_PID"
      fi ;;
    discard)
      if start_discard "$LOAD" "$OUT/latency/discard.log" "$SERVER_CORES"; then
        meta_server discard "$("$LOAD" --version)" "reads and drops bodies, answers 204"
        measure discard "http://$SERVER_ADDR"
        stop "$SERVER_PID"
      fi ;;
    *) echo "unknown server $s" >&2 ;;
  esac
done
write_meta "scripts/latency.sh $ARGS"
"$LOAD" report "$OUT" | tee "$OUT/table.md"
