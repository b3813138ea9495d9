#!/usr/bin/env bash
# Ingest rate with Parquet export on against off, in alternating pairs on the same machine: the
# bundled generator writes TSBS cpu rows to a release server (--cores 1) for SECONDS, once
# without export and once exporting to a local directory (max-age 60s), PAIRS times. Prints
# each run's rows/s and the ratio of the medians (on / off).
# After each "export on" run the server is left running until the export has caught up, so the
# on/off figure is not bought with a backlog: it prints the sealed segment files still waiting
# when the load stopped (/health's export check), how long until none waited, and how long until
# the Parquet files held every acknowledged row (the last memtable is sealed by max-age: up to
# 30 s after its first write). A run that has not caught up 180 s after its load fails.
# Row counts come from the files' footers (pyarrow, scripts/install-test-deps.sh).
# Usage: scripts/export-cost.sh [PAIRS (default 3)] [SECONDS (default 15)]
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-3}
secs=${2:-15}
cargo build --release --workspace >/dev/null
dir=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
# Rows in the Parquet files under $1 (footers only).
exported_rows() {
  /usr/bin/python3 -c '
import pathlib, sys, pyarrow.parquet as pq
print(sum(pq.ParquetFile(p).metadata.num_rows for p in pathlib.Path(sys.argv[1]).rglob("*.parquet")))
' "$1"
}
# Segment files waiting for export, from /health's export check.
waiting() { # port
  curl -s "http://127.0.0.1:$1/health" | python3 -c '
import json, re, sys
c = [c for c in json.load(sys.stdin)["checks"] if c["name"] == "export"][0]
print(re.search(r"(\d+) segment files", c["message"]).group(1))'
}
one() { # on|off
  rm -rf "$dir/data" "$dir/out"
  if [ "$1" = on ]; then
    printf '[export]\npath = "%s"\n' "$dir/out" >"$dir/conf.toml"
  else
    : >"$dir/conf.toml"
  fi
  local port acked rate start pending sealed_s all_s n
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  target/release/lineshard --cores 1 --bind "127.0.0.1:$port" --data-dir "$dir/data" --config "$dir/conf.toml" >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/ping" && break; sleep 0.1; done
  target/release/lineshard-load --url "http://127.0.0.1:$port" --db cost --create-db --duration "${secs}s" --quiet >"$dir/load"
  rate=$(awk '/^throughput/ {print $2}' "$dir/load")
  acked=$(awk '/^rows/ {print $4}' "$dir/load")
  if [ "$1" = on ]; then
    start=$(date +%s.%N)
    pending=$(waiting "$port")
    sealed_s=
    while :; do
      now=$(date +%s.%N)
      if [ -z "$sealed_s" ] && [ "$(waiting "$port")" = 0 ]; then
        sealed_s=$(python3 -c "print(f'{$now - $start:.1f}')")
      fi
      n=$(exported_rows "$dir/out")
      [ "$n" -ge "$acked" ] && break
      if python3 -c "import sys; sys.exit(0 if $now - $start > 180 else 1)"; then
        echo "export did not catch up: $n of $acked rows exported 180 s after the load" >&2
        kill $pid
        return 1
      fi
      sleep 1
    done
    all_s=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
    [ "$n" = "$acked" ] || { echo "$n rows exported, $acked acknowledged" >&2; kill $pid; return 1; }
    echo "$rate $pending ${sealed_s:-0.0} $all_s $acked"
  else
    echo "$rate"
  fi
  kill $pid; wait $pid 2>/dev/null || true
}
on=(); off=()
for i in $(seq 1 "$pairs"); do
  a=$(one off)
  r=$(one on)
  read -r b pending sealed_s all_s acked <<<"$r"
  off+=("$a"); on+=("$b")
  echo "pair $i: export off $a rows/s, export on $b rows/s;" \
    "export caught up: $pending sealed segment files waiting at the end of the load, none after ${sealed_s} s," \
    "all $acked acknowledged rows in Parquet after ${all_s} s"
done
python3 -c "
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]; on = [float(x) for x in sys.argv[2].split()]
print(f'median off {statistics.median(off):.0f}, on {statistics.median(on):.0f} rows/s: on/off = {statistics.median(on)/statistics.median(off):.3f}')
" "${off[*]}" "${on[*]}"
