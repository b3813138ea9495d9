#!/usr/bin/env bash
# Scale-out on an existing engine: two lineshard nodes on loopback (own ports, data dirs and node
# names) export Parquet to one directory and, when moto_server (PyPI moto[server]) is installed
# and the build has S3 support, to one bucket of a loopback S3 server. Each node takes TSBS cpu
# rows from the bundled generator (node 1 the first day, node 2 the next). Then DuckDB queries all
# the exported data at once and prints per-host counts and a GROUP BY time aggregate, and checks
# both against what the nodes answer through /query.
# Usage: scripts/scale-out-demo.sh [rows per node (default 200000)] [hosts (default 100)]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-200000}
hosts=${2:-100}
features=()
if command -v moto_server >/dev/null; then features=(--features s3); fi
cargo build --release --workspace "${features[@]}" >/dev/null
dir=$(mktemp -d)
pids=()
# start_node runs in a command substitution (a subshell): its nodes' pids go to a file.
trap 'for p in "${pids[@]}" $(cat "$dir/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

s3=""
if [ ${#features[@]} -gt 0 ]; then
  s3port=$(free_port)
  moto_server -H 127.0.0.1 -p "$s3port" >"$dir/moto.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$s3port"
  export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
  /usr/bin/python3 -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$s3port', region_name='us-east-1').create_bucket(Bucket='lake')"
  s3="http://127.0.0.1:$s3port"
fi

start_node() { # name, export path
  local name=$1 path=$2 port
  port=$(free_port)
  printf '[export]\npath = "%s"\nmax-age = "2s"\nnode = "%s"\ns3-endpoint = "%s"\n' "$path" "$name" "$s3" >"$dir/$name-$3.toml"
  target/release/lineshard --bind "127.0.0.1:$port" --data-dir "$dir/$name-$3-data" --config "$dir/$name-$3.toml" >"$dir/$name-$3.log" 2>&1 &
  echo $! >>"$dir/pids"
  wait_http "http://127.0.0.1:$port/ping"
  echo "$port"
}

run() { # export root, label
  local root=$1 label=$2 p1 p2
  p1=$(start_node node1 "$root" "$label")
  p2=$(start_node node2 "$root" "$label")
  echo "== $label: node1 on :$p1, node2 on :$p2, exporting to $root"
  target/release/lineshard-load --url "http://127.0.0.1:$p1" --db demo --create-db --rows "$rows" --hosts "$hosts" --start-epoch-s 1451606400 --quiet >/dev/null
  target/release/lineshard-load --url "http://127.0.0.1:$p2" --db demo --create-db --rows "$rows" --hosts "$hosts" --start-epoch-s 1451692800 --quiet >/dev/null
  /usr/bin/python3 scripts/scale-out-query.py "$root" "$s3" "$((2 * rows))" "http://127.0.0.1:$p1" "http://127.0.0.1:$p2"
}

run "$dir/lake" local
if [ -n "$s3" ]; then run "s3://lake/demo" s3; else echo "(moto_server not installed: S3 part skipped)"; fi
