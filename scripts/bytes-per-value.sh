#!/usr/bin/env bash
# Bytes per stored value after sealing: writes TSBS cpu-only rows with lineshard-load into a
# lineshard with a 16 MiB memtable bound, waits for the seals, and divides the bytes of the
# sealed segment files by the values they hold (rows in segments x 10 fields). The same seals are
# exported as Parquet (max-age 7 days: only the seals of the memtable bound are exported), and
# the Parquet files' bytes are divided by the values they hold in the same way (pyarrow reads the
# row counts).
# Usage: scripts/bytes-per-value.sh [rows (default 2000000)]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-2000000}
cargo build --release --workspace --examples >/dev/null
dir=$(mktemp -d)
printf '[data]\nmemtable-max-bytes = 16777216\n[export]\npath = "%s"\nmax-age = "168h"\n' "$dir/parquet" >"$dir/conf.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/lineshard --cores 1 --bind "127.0.0.1:$port" --data-dir "$dir/data" --config "$dir/conf.toml" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/ping" && break; sleep 0.1; done
target/release/lineshard-load --url "http://127.0.0.1:$port" --db bpv --create-db --rows "$rows" --quiet >/dev/null
sleep 3
echo "rows written: $rows (lineshard-load tsbs-cpu: 10 integer fields, uniform random 0..100)"
target/release/examples/segment_stats "$dir/data"
/usr/bin/python3 - "$dir/parquet" <<'PY'
import glob, os, sys, time
import pyarrow.parquet as pq
time.sleep(2)
files = glob.glob(os.path.join(sys.argv[1], "**", "*.parquet"), recursive=True)
rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
size = sum(os.path.getsize(f) for f in files)
if rows:
    print(f"parquet: {len(files)} files, {rows} rows, {size} bytes, {size / (rows * 10):.3f} bytes per value")
PY
