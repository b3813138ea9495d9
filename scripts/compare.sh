#!/usr/bin/env bash
# One-command peer comparison: lineshard vs influxd (1.x) vs VictoriaMetrics, same workload, one run.
#
#   scripts/compare.sh [--quick] [--sweep] [--out DIR] [--server-cores LIST] [--loader-cores LIST]
#                      [--only "lineshard influxd victoria-metrics"] [-- extra lineshard-load flags]
#
# Each server runs pinned (taskset) to the same server cores, the loader pinned to the others; influxd
# gets GOMAXPROCS = number of server cores. After each run the script checks the data landed (lineshard
# and influxd: lineshard-load --verify; VictoriaMetrics: a count_over_time query), records the server's
# peak RSS (VmHWM), stops it, and at the end prints the table (scripts/compare_table.py).
# Results (one JSON and one SVG per server, logs, table.txt) go to --out (default results/compare-DATE).
# --sweep: after each server's closed-loop run, open-loop runs (--rate, uniform arrivals, latency
# from the intended send time) at 10/25/50/75/90/100% of that server's rows/s and at the absolute
# rates SWEEP_RATES (rows/s, default 20000,50000) below 90% of it, STEP s each (default 20, --quick
# 8): sweep/<server>/<step>.json. Then report.md and SVG charts (latency against throughput,
# percentiles at a common rate, throughput and RSS bars) from `lineshard-load report DIR`, which
# also re-renders a folder later. --quick --sweep takes about 5 minutes on 2 cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/servers.sh
. "$ROOT/scripts/servers.sh"
default_cores
QUICK=0
SWEEP=0
OUT=""
ARGS="$*"
ONLY="lineshard influxd victoria-metrics"
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --sweep) SWEEP=1 ;;
    --out) OUT=$2; shift ;;
    --server-cores) SERVER_CORES=$2; shift ;;
    --loader-cores) LOADER_CORES=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n 2,20p "$0"; exit 0 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done

SERVER_N=$(count_cores "$SERVER_CORES")
LOADER_N=$(count_cores "$LOADER_CORES")
if [ "$QUICK" = 1 ]; then DURATION=${DURATION:-5}; STEP=${STEP:-8}; else DURATION=${DURATION:-30}; STEP=${STEP:-20}; fi
SWEEP_RATES=${SWEEP_RATES:-20000,50000}
CONNECTIONS=${CONNECTIONS:-4}
start_run lineshard-compare

# --- binaries ---------------------------------------------------------------------------------------
[[ " $ONLY " == *" influxd "* ]] && need_pkg influxd influxdb
[[ " $ONLY " == *" victoria-metrics "* ]] && need_pkg victoria-metrics victoria-metrics
LOAD=$(release_bin lineshard-load LOAD_BIN -p lineshard-load)
[ -n "$LOAD" ] || { echo "lineshard-load does not build" >&2; exit 1; }
LINESHARD=missing
if [[ " $ONLY " == *" lineshard "* ]]; then
  LINESHARD=$(release_bin lineshard LINESHARD_BIN --bin lineshard)
  [ -n "$LINESHARD" ] || { echo "lineshard does not build: skipped" >&2; LINESHARD=missing; }
fi

load() { # name url [flags...]
  local name=$1 url=$2; shift 2
  taskset -c "$LOADER_CORES" "$LOAD" --url "$url" --threads "$LOADER_N" --connections "$CONNECTIONS" \
    --duration "$DURATION" --json "$OUT/$name.json" --plot "$OUT/$name.svg" --quiet "$@" "${EXTRA[@]}" \
    > "$OUT/$name.load.txt" 2>&1
}
note() { echo "$1 $2 $3" >> "$OUT/servers.txt"; } # name peak_rss_mb verify

# sweep NAME URL [flags...]: the open-loop ladder of one server, from its closed-loop rows/s.
sweep() {
  [ "$SWEEP" = 1 ] || return 0
  local name=$1 url=$2; shift 2
  local cap batch label rate
  cap=$(json_field "$OUT/$name.json" rows_per_sec)
  batch=$(json_field "$OUT/$name.json" batch_size)
  mkdir -p "$OUT/sweep/$name"
  "$LOAD" ladder --capacity "$cap" --absolute "$SWEEP_RATES" --batch-size "${batch:-5000}" \
    --connections "$CONNECTIONS" --duration "$STEP" > "$OUT/sweep/$name/ladder.txt" || return 0
  while read -r label rate; do
    taskset -c "$LOADER_CORES" "$LOAD" --url "$url" --threads "$LOADER_N" --connections "$CONNECTIONS" \
      --duration "$STEP" --rate "$rate" --arrivals uniform --json "$OUT/sweep/$name/$label.json" --quiet \
      "$@" "${EXTRA[@]}" > "$OUT/sweep/$name/$label.txt" 2>&1 || true
    echo "$name $label: offered $rate rows/s" >&2
  done < "$OUT/sweep/$name/ladder.txt"
}

# --- lineshard --------------------------------------------------------------------------------------
run_lineshard() {
  if [ ! -x "$LINESHARD" ]; then note lineshard 0 missing; return; fi
  if ! start_lineshard "$LINESHARD" "$WORK/lineshard" "$OUT/lineshard.log" "$SERVER_CORES" "$SERVER_N"; then
    note lineshard 0 did-not-start; return
  fi
  local pid=$SERVER_PID addr=$SERVER_ADDR
  local v=ok
  meta_server lineshard "$("$LINESHARD" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))" "--cores $SERVER_N, fsync always (default)"
  load lineshard "http://$addr" --db bench --create-db --verify || v=FAILED
  sweep lineshard "http://$addr" --db bench
  note lineshard "$(peak_rss_mb "$pid")" "$v"
  stop "$pid"
}

# --- influxd ----------------------------------------------------------------------------------------
run_influxd() {
  if ! start_influxd "$WORK/influxd" "$OUT/influxd.log" "$SERVER_CORES" "$SERVER_N" "${INFLUXD_PORT:-}" "${INFLUXD_RPC_PORT:-}"; then
    note influxd 0 did-not-start; return
  fi
  local pid=$SERVER_PID
  local v=ok
  meta_server influxd "$(influxd_version)" "GOMAXPROCS=$SERVER_N, default WAL (no fsync per write)"
  load influxd "http://$SERVER_ADDR" --db bench --create-db --verify || v=FAILED
  sweep influxd "http://$SERVER_ADDR" --db bench
  note influxd "$(peak_rss_mb "$pid")" "$v"
  stop "$pid"
}

# --- VictoriaMetrics --------------------------------------------------------------------------------
run_vm() {
  local d=$WORK/vm port=${VM_PORT:-$(free_port)}
  mkdir -p "$d"
  # The workload's timestamps start in 2016 (TSBS); keep them inside retention.
  taskset -c "$SERVER_CORES" env GOMAXPROCS="$SERVER_N" victoria-metrics -httpListenAddr "127.0.0.1:$port" \
    -storageDataPath "$d" -retentionPeriod 100y > "$OUT/victoria-metrics.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  if ! wait_ping "http://127.0.0.1:$port" "$pid"; then note victoria-metrics 0 did-not-start; stop "$pid"; return; fi
  local v=ok
  meta_server victoria-metrics "$(vm_version)" "GOMAXPROCS=$SERVER_N, -retentionPeriod 100y"
  load victoria-metrics "http://127.0.0.1:$port" --db bench || v=FAILED
  if [ "$v" = ok ]; then
    curl -fs "http://127.0.0.1:$port/internal/force_flush" > /dev/null || true
    v=$(python3 "$ROOT/scripts/compare_vm_check.py" "http://127.0.0.1:$port" "$OUT/victoria-metrics.json" \
      2> "$OUT/victoria-metrics.verify.txt") || v=FAILED
  fi
  sweep victoria-metrics "http://127.0.0.1:$port" --db bench
  note victoria-metrics "$(peak_rss_mb "$pid")" "$v"
  stop "$pid"
}

: > "$OUT/servers.txt"
echo "server cores $SERVER_CORES, loader cores $LOADER_CORES, $DURATION s per server, results in $OUT" >&2
for s in $ONLY; do
  case "$s" in
    lineshard) run_lineshard ;;
    influxd) run_influxd ;;
    victoria-metrics) run_vm ;;
    *) echo "unknown server $s" >&2 ;;
  esac
done
python3 "$ROOT/scripts/compare_table.py" "$OUT" | tee "$OUT/table.txt"
write_meta "scripts/compare.sh $ARGS"
if [ "$SWEEP" = 1 ]; then
  "$LOAD" report "$OUT" > /dev/null && echo "report: $OUT/report.md" >&2
else
  "$LOAD" report "$OUT" > /dev/null || true
fi
