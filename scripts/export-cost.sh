#!/usr/bin/env bash
# Ingest rate with Parquet export on against off, in alternating pairs on the same machine: the
# bundled generator writes TSBS cpu rows to a release server (--cores 1) for SECONDS, once
# without export and once exporting to a local directory (max-age 60s), PAIRS times. Prints
# each run's rows/s and the ratio of the medians (on / off).
# Usage: scripts/export-cost.sh [PAIRS (default 3)] [SECONDS (default 15)]
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-3}
secs=${2:-15}
cargo build --release --workspace >/dev/null
dir=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
one() { # on|off
  rm -rf "$dir/data" "$dir/out"
  if [ "$1" = on ]; then
    printf '[export]\npath = "%s"\n' "$dir/out" >"$dir/conf.toml"
  else
    : >"$dir/conf.toml"
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  target/release/lineshard --cores 1 --bind "127.0.0.1:$port" --data-dir "$dir/data" --config "$dir/conf.toml" >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/ping" && break; sleep 0.1; done
  target/release/lineshard-load --url "http://127.0.0.1:$port" --db cost --create-db --duration "${secs}s" --quiet |
    awk '/^throughput/ {print $2}'
  kill $pid; wait $pid 2>/dev/null || true
}
on=(); off=()
for i in $(seq 1 "$pairs"); do
  a=$(one off); b=$(one on)
  off+=("$a"); on+=("$b")
  echo "pair $i: export off $a rows/s, export on $b rows/s"
done
python3 -c "
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]; on = [float(x) for x in sys.argv[2].split()]
print(f'median off {statistics.median(off):.0f}, on {statistics.median(on):.0f} rows/s: on/off = {statistics.median(on)/statistics.median(off):.3f}')
" "${off[*]}" "${on[*]}"
