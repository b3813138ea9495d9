#!/usr/bin/env bash
# Instructions per TSBS row of the whole server (HTTP, decode, fan-out, apply, WAL, seal), counted
# by callgrind: the same binary gives the same count (within ~0.1%) on every run and every machine
# speed, so an A/B of the write path is a difference of two counts, not of two noisy wall-clock runs.
#
# The release server runs under `valgrind --tool=callgrind` with --cores 1; WARM 5000-line TSBS
# bodies (scripts/gen-tsbs-bodies.py) are POSTed one after another with curl, the counters are
# zeroed, MEASURED more bodies are POSTed, and the counters are dumped. The default 100 measured
# bodies (500,000 rows) hold one seal of the default 64 MiB memtable. Kernel work (copies,
# fsync) is not counted.
#
# Usage: scripts/instr-per-row.sh [BIN (default target/release/lineshard)] [WARM (20)] [MEASURED (100)]
# Prints the total per row and the functions with the most instructions of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/lineshard}
warm=${2:-20}
measured=${3:-100}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
[ "$bin" = target/release/lineshard ] && cargo build --release --bin lineshard >/dev/null
bodies=target/bench-write/bodies
if [ "$(ls "$bodies" 2>/dev/null | wc -l)" -lt 100 ]; then
  python3 scripts/gen-tsbs-bodies.py "$bodies" 100 5000 1000
fi
out=target/instr-per-row
mkdir -p "$out"
rm -f "$out"/callgrind.out*
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" "$bin" --cores 1 \
  --bind "127.0.0.1:$port" --data-dir "$dir" >"$out/valgrind.log" 2>&1 &
vpid=$!
trap 'kill -9 $vpid 2>/dev/null || true; rm -rf "$dir"' EXIT
# valgrind reads a fresh binary's debug info first: that can take minutes.
ready=0
for _ in $(seq 1 600); do
  curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ping" 2>/dev/null | grep -q 204 && { ready=1; break; }
  kill -0 $vpid 2>/dev/null || { cat "$out/valgrind.log" >&2; exit 1; }
  sleep 0.5
done
[ $ready = 1 ] || { echo "the server under valgrind did not answer /ping in 300 s" >&2; exit 1; }
curl -s -XPOST "http://127.0.0.1:$port/query" --data-urlencode 'q=CREATE DATABASE bench' >/dev/null
send() { # first last
  for i in $(seq "$1" "$2"); do
    f=$bodies/body-$(printf %05d $((i % 100))).lp
    code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/write?db=bench" --data-binary "@$f")
    [ "$code" = 204 ] || { echo "body $i: HTTP $code" >&2; exit 1; }
  done
}
send 0 $((warm - 1))
sleep 1
# callgrind_control can fail while a fresh binary is still being read in by valgrind; under
# `set -e` that ended the script with no word. Retry, then say so.
control() { # command
  for _ in $(seq 1 30); do
    callgrind_control "$1" $vpid >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "callgrind_control $1 failed for pid $vpid" >&2
  exit 1
}
control -z
send "$warm" $((warm + measured - 1))
sleep 2
control -d
# The dump can take a few seconds to appear (valgrind is slow to start on a fresh binary).
for _ in $(seq 1 60); do
  compgen -G "$out/callgrind.out.*" >/dev/null && break
  sleep 1
done
sleep 1
dump=$(ls -t "$out"/callgrind.out.* 2>/dev/null | head -1)
[ -n "$dump" ] || { echo "no callgrind dump in $out" >&2; exit 1; }
python3 scripts/callgrind_self.py "$dump" $((measured * 5000)) 30
