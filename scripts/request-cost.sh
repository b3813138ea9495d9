#!/usr/bin/env bash
# Throughput by body size, closed loop: one server core, the generator on another, 16 connections,
# `--fsync always` (the default). For each body size, lineshard (BIN) and, with --base, a previous
# binary run in alternating pairs (base, new, base, new, ...), each on a fresh data dir; then the
# peers (the generator's discard server, VictoriaMetrics when installed) in the same run.
#
# Usage: scripts/request-cost.sh [--bin BIN] [--base BIN] [--pairs N (2)] [--duration S (8)]
#          [--sizes "10 100 1000 5000 5000gz"] [--peers "discard victoria-metrics"] [--fsync MODE]
# Prints one line per run (name, body, requests/s, rows/s, p50 ms) and, per body size and binary,
# the median of its runs. Results (the generator's JSON) go to results/request-cost-DATE.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/servers.sh
source "$ROOT/scripts/servers.sh"
BIN=""
BASE=""
PAIRS=2
DURATION=8
SIZES="10 100 1000 5000 5000gz"
PEERS="discard victoria-metrics"
FSYNC=always
CONNECTIONS=16
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift ;;
    --base) BASE=$2; shift ;;
    --pairs) PAIRS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --peers) PEERS=$2; shift ;;
    --fsync) FSYNC=$2; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
default_cores
OUT=${OUT:-$ROOT/results/request-cost-$(date +%Y%m%d-%H%M%S)}
start_run lineshard-request-cost
LOAD=$(release_bin lineshard-load LOAD_BIN -p lineshard-load)
[ -n "$LOAD" ] || { echo "lineshard-load does not build" >&2; exit 1; }
[ -n "$BIN" ] || BIN=$(release_bin lineshard LINESHARD_BIN --bin lineshard)
[ -n "$BIN" ] || { echo "lineshard does not build" >&2; exit 1; }

# load NAME URL SIZE [flags...]: one closed-loop run; prints "NAME SIZE req/s rows/s p50".
load() {
  local name=$1 url=$2 size=$3 lines gz=()
  shift 3
  lines=${size%gz}
  [ "$lines" != "$size" ] && gz=(--gzip)
  local json="$OUT/$name-$size-$RANDOM.json"
  taskset -c "$LOADER_CORES" "$LOAD" --url "$url" --threads 1 --connections "$CONNECTIONS" \
    --batch-size "$lines" --duration "$DURATION" --json "$json" --quiet "${gz[@]}" "$@" \
    > "$json.txt" 2>&1 || true
  python3 - "$json" "$name" "$size" <<'PY'
import json, sys
path, name, size = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception:
    print(f"{name:10} {size:>7} failed"); sys.exit(0)
rps = r["requests"] / r["elapsed_s"] if r["elapsed_s"] else 0
print(f"{name:10} {size:>7} {rps:10.0f} req/s {r['rows_per_sec'] / 1e6:7.3f} M rows/s p50 {r['latency_ms']['p50']:.3f} ms errors {r['error_count']}")
PY
}

run_lineshard() { # name bin size
  local dir
  dir=$(mktemp -d "$WORK/ls.XXXXXX")
  mkdir -p "$dir/data"
  # Made here, not by the background job's redirection: the address is read from it at once.
  : > "$dir/log"
  taskset -c "$SERVER_CORES" "$2" --bind 127.0.0.1:0 --data-dir "$dir/data" --cores 1 --fsync "$FSYNC" \
    > "$dir/log" 2>&1 &
  local pid=$! addr="" i
  PIDS+=("$pid")
  for i in $(seq 1 300); do
    addr=$(sed -n 's/^lineshard listening on \([^ ]*\).*$/\1/p' "$dir/log" | head -1)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "$1 did not start" >&2; stop "$pid"; return; }
  load "$1" "http://$addr" "$3" --db bench --create-db
  stop "$pid"
  rm -rf "$dir"
}

run_discard() { # size
  local port
  port=$(free_port)
  "$LOAD" discard-server --bind "127.0.0.1:$port" --core "${SERVER_CORES%%-*}" --lifetime-s 600 \
    > "$WORK/discard.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_ping "http://127.0.0.1:$port" "$pid" || sleep 1
  load discard "http://127.0.0.1:$port" "$1" --db bench
  stop "$pid"
}

run_vm() { # size
  command -v victoria-metrics > /dev/null || return 0
  local d port
  d=$(mktemp -d "$WORK/vm.XXXXXX")
  port=$(free_port)
  taskset -c "$SERVER_CORES" env GOMAXPROCS=1 victoria-metrics -httpListenAddr "127.0.0.1:$port" \
    -storageDataPath "$d" -retentionPeriod 100y > "$d.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_ping "http://127.0.0.1:$port" "$pid" || { stop "$pid"; return; }
  load victoria "http://127.0.0.1:$port" "$1" --db bench
  stop "$pid"
  rm -rf "$d"
}

echo "server core $SERVER_CORES, loader core $LOADER_CORES, $CONNECTIONS connections, fsync $FSYNC, $DURATION s a run; $OUT" >&2
for size in $SIZES; do
  for _ in $(seq 1 "$PAIRS"); do
    [ -n "$BASE" ] && run_lineshard base "$BASE" "$size"
    run_lineshard lineshard "$BIN" "$size"
  done
  for peer in $PEERS; do
    case "$peer" in
      discard) run_discard "$size" ;;
      victoria-metrics) run_vm "$size" ;;
    esac
  done
done | tee "$OUT/runs.txt"
echo "medians:"
python3 - "$OUT/runs.txt" <<'PY'
import sys, statistics, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) > 6 and f[3] == "req/s":
        runs[(f[1], f[0])].append((float(f[2]), float(f[4])))
for (size, name), v in runs.items():
    print(f"{size:>7} {name:10} {statistics.median(x[0] for x in v):10.0f} req/s "
          f"{statistics.median(x[1] for x in v):7.3f} M rows/s ({len(v)} runs)")
PY
