#!/usr/bin/env bash
# TSBS query comparison: lineshard vs influxd (1.x), the same TSBS cpu-only data, the six TSBS InfluxQL
# query types, answers checked, p50/p99 per type.
#
#   scripts/compare-query.sh [--quick] [--out DIR] [--server-cores LIST] [--client-cores LIST]
#                            [--hosts N] [--hours H] [--queries N] [--seed S] [--method POST|GET]
#
# Both servers run pinned (taskset) to the same server cores (influxd with GOMAXPROCS = that many,
# lineshard with --cores that many), each with a fresh data directory. lineshard-load writes the
# same rows to each (TSBS cpu-only, --hosts hosts, one row per host every 10 s for --hours hours from
# 2016-01-01T00:00:00Z; one connection, so both get the very same rows) and counts them back
# (--verify). Then scripts/compare_query.py, pinned to the client cores, makes the queries
# (single-groupby-1-1-1, single-groupby-5-1-12, double-groupby-1, high-cpu-1, lastpoint,
# groupby-orderby-limit: the texts of timescale/tsbs, random hosts and windows from --seed, --queries
# per type), has `lineshard-load query-time` send each to both servers in turn and time it, checks
# the answers are the same and prints the table.
# Defaults: 100 hosts x 12 h, 50 queries per type; --quick: 100 hosts x 4 h, 10 queries per type.
# Results (query.json, query.md, query-servers.txt with peak RSS, the load reports and the server
# logs) go to --out (default a new results/compare-DATE); then `lineshard-load report` renders that
# folder's report.md again, so with --out set to the folder of a `scripts/compare.sh` run its
# report gains the query table and query.svg.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/servers.sh
. "$ROOT/scripts/servers.sh"
default_cores
QUICK=0
OUT=""
HOSTS=100
HOURS=""
QUERIES=""
SEED=1
METHOD=POST
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    --server-cores) SERVER_CORES=$2; shift ;;
    --client-cores) LOADER_CORES=$2; shift ;;
    --hosts) HOSTS=$2; shift ;;
    --hours) HOURS=$2; shift ;;
    --queries) QUERIES=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --method) METHOD=$2; shift ;;
    -h|--help) sed -n 2,21p "$0"; exit 0 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then HOURS=${HOURS:-4}; QUERIES=${QUERIES:-10}; else HOURS=${HOURS:-12}; QUERIES=${QUERIES:-50}; fi
SERVER_N=$(count_cores "$SERVER_CORES")
START_S=1451606400 # 2016-01-01T00:00:00Z, as TSBS
END_S=$((START_S + HOURS * 3600))
ROWS=$((HOSTS * HOURS * 360))
DB=benchmark
start_run lineshard-compare-query

# --- binaries ---------------------------------------------------------------------------------------
need_pkg influxd influxdb
LOAD=$(release_bin lineshard-load LOAD_BIN -p lineshard-load)
[ -n "$LOAD" ] || { echo "lineshard-load does not build" >&2; exit 1; }
LINESHARD=$(release_bin lineshard LINESHARD_BIN --bin lineshard)
[ -n "$LINESHARD" ] || { echo "lineshard does not build: influxd only" >&2; LINESHARD=missing; }

load() { # name url
  taskset -c "$LOADER_CORES" "$LOAD" --url "$2" --db "$DB" --create-db --threads 1 --connections 1 \
    --hosts "$HOSTS" --rows "$ROWS" --start-epoch-s "$START_S" --verify --json "$OUT/query-load-$1.json" \
    --quiet > "$OUT/query-load-$1.txt" 2>&1
}

echo "server cores $SERVER_CORES, client cores $LOADER_CORES, $HOSTS hosts x $HOURS h ($ROWS rows), $QUERIES queries per type, results in $OUT" >&2
if ! start_influxd "$WORK/influxd" "$OUT/query-influxd.log" "$SERVER_CORES" "$SERVER_N" "${INFLUXD_PORT:-}" "${INFLUXD_RPC_PORT:-}"; then
  echo "influxd did not start (see $OUT/query-influxd.log)" >&2; exit 1
fi
INFLUXD_PID=$SERVER_PID
INFLUXD_URL="http://$SERVER_ADDR"
if ! load influxd "$INFLUXD_URL"; then
  echo "loading influxd failed (see $OUT/query-load-influxd.txt)" >&2; exit 1
fi

LS_URL=""
if [ -x "$LINESHARD" ] && start_lineshard "$LINESHARD" "$WORK/lineshard" "$OUT/query-lineshard.log" "$SERVER_CORES" "$SERVER_N"; then
  LS_PID=$SERVER_PID
  if load lineshard "http://$SERVER_ADDR"; then
    LS_URL="http://$SERVER_ADDR"
  else
    # Not the same data: its answers would differ for that reason alone.
    echo "loading lineshard failed (see $OUT/query-load-lineshard.txt): influxd only" >&2
    stop "$LS_PID"
  fi
else
  echo "lineshard missing or did not start (see $OUT/query-lineshard.log): influxd only" >&2
fi

taskset -c "$LOADER_CORES" python3 "$ROOT/scripts/compare_query.py" run --load-bin "$LOAD" --influxd "$INFLUXD_URL" \
  ${LS_URL:+--lineshard "$LS_URL"} --db "$DB" --out "$OUT" --hosts "$HOSTS" --start-s "$START_S" --end-s "$END_S" \
  --queries "$QUERIES" --seed "$SEED" --method "$METHOD"
echo "influxd $(peak_rss_mb "$INFLUXD_PID")" > "$OUT/query-servers.txt" # name peak_rss_mb
if [ -n "$LS_URL" ]; then echo "lineshard $(peak_rss_mb "$LS_PID")" >> "$OUT/query-servers.txt"; fi
"$LOAD" report "$OUT" > /dev/null && echo "report: $OUT/report.md" >&2
