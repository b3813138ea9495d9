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
#          [LINES (5000)]
# LINES sets the body size: small bodies (10, 100 lines) show the cost of a request rather than
# of a row (the requests are sent one after another, so each has a WAL flush of its own).
# LINESHARD_ARGS (environment) is passed to the server, e.g. "--config export.toml".
# THREADS=separate counts each thread on its own (the cores' against the Parquet exporter's).
# SETTLE (environment, seconds, default 2) is the wait between the last measured body and the
# dump: long enough, it puts all of the last seal (and, with export on, the Parquet export of
# its segment file) in the count; under valgrind a 500,000-row seal takes ~10 s.
# Prints the total per row and per request, and the functions with the most instructions of
# their own.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/lineshard}
warm=${2:-20}
measured=${3:-100}
lines=${4:-5000}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
[ "$bin" = target/release/lineshard ] && cargo build --release --bin lineshard >/dev/null
bodies=target/bench-write/bodies
[ "$lines" = 5000 ] || bodies=target/bench-write/bodies-$lines
if [ "$(ls "$bodies" 2>/dev/null | wc -l)" -lt 100 ]; then
  python3 scripts/gen-tsbs-bodies.py "$bodies" 100 "$lines" 1000
fi
out=target/instr-per-row
mkdir -p "$out"
rm -f "$out"/callgrind.out*
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Under valgrind 3.19 (Debian 12's) the server can stop for good, the valgrind process at 0%
# CPU, before it listens or on a later request: valgrind runs one thread at a time, and the
# executor thread keeps that turn while it sleeps in io_uring_enter waiting for a completion
# that glommio's blocking-pool thread (spawn_blocking: partition open at start-up, seals) can
# then never run to post. On a loaded machine every run stopped at start-up. valgrind 3.24
# (Debian 13's package) does not stop: put its valgrind and callgrind_control first in PATH
# (callgrind_control runs the vgdb beside it; Debian 12's vgdb works with it, 3.24's needs a
# newer glibc).
# Each run is watched: a server that answers nothing for 120 s while its CPU time does not move
# is killed and the whole run started again, up to 5 times.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
vpid=
trap 'kill -9 $vpid 2>/dev/null || true; rm -rf "$dir"' EXIT
stalled() { echo "the server under valgrind stopped ($1) at $(cpu_ticks $vpid) CPU ticks" >&2; return 1; }
# curl with a bound; on a timeout, whether valgrind was busy (a slow answer: wait longer) decides.
ask() { # curl args...
  local before
  for _ in 1 2 3 4 5; do
    before=$(cpu_ticks $vpid)
    curl -s --max-time 120 "$@" && return 0
    [ "$(cpu_ticks $vpid)" = "$before" ] && return 1
  done
  return 1
}
send() { # first last
  local i f code
  for i in $(seq "$1" "$2"); do
    f=$bodies/body-$(printf %05d $((i % 100))).lp
    code=$(ask -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/write?db=bench" --data-binary "@$f") || return 1
    [ "$code" = 204 ] || { echo "body $i: HTTP $code" >&2; exit 1; }
  done
}
# callgrind_control can fail while a fresh binary is still being read in by valgrind. Retry.
control() { # command
  for _ in $(seq 1 30); do
    callgrind_control "$1" $vpid >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "callgrind_control $1 failed for pid $vpid" >&2
  return 1
}
run() {
  rm -rf "$dir" "$out"/callgrind.out* && mkdir -p "$dir"
  # shellcheck disable=SC2086 # LINESHARD_ARGS is a list of words
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    --separate-threads="$([ "${THREADS:-}" = separate ] && echo yes || echo no)" "$bin" --cores 1 \
    --bind "127.0.0.1:$port" --data-dir "$dir" ${LINESHARD_ARGS:-} >"$out/valgrind.log" 2>&1 &
  vpid=$!
  # valgrind reads a fresh binary's debug info first: that takes a while, with the CPU busy.
  local last=-1 still=0 now
  until curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ping" 2>/dev/null | grep -q 204; do
    kill -0 $vpid 2>/dev/null || { cat "$out/valgrind.log" >&2; exit 1; }
    now=$(cpu_ticks $vpid)
    if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; last=$now; fi
    [ $still -ge 40 ] && { stalled "before answering /ping"; return 1; }
    sleep 0.5
  done
  ask -o /dev/null -XPOST "http://127.0.0.1:$port/query" --data-urlencode 'q=CREATE DATABASE bench' ||
    { stalled "on CREATE DATABASE"; return 1; }
  send 0 $((warm - 1)) || { stalled "on a warm-up write"; return 1; }
  sleep 1
  control -z || return 1
  send "$warm" $((warm + measured - 1)) || { stalled "on a measured write"; return 1; }
  sleep "${SETTLE:-2}"
  control -d || return 1
  # The dump can take a few seconds to appear.
  for _ in $(seq 1 60); do
    compgen -G "$out/callgrind.out.*" >/dev/null && break
    sleep 1
  done
  sleep 1
}
done_ok=0
for attempt in 1 2 3 4 5; do
  if run; then done_ok=1; break; fi
  echo "attempt $attempt failed; starting again" >&2
  kill -9 $vpid 2>/dev/null || true
  wait $vpid 2>/dev/null || true
done
[ $done_ok = 1 ] || { echo "no callgrind run finished in 5 attempts" >&2; exit 1; }
dump=$(ls -t "$out"/callgrind.out.* 2>/dev/null | head -1)
[ -n "$dump" ] || { echo "no callgrind dump in $out" >&2; exit 1; }
if [ "${THREADS:-}" = separate ]; then
  # One dump per thread (callgrind.out.<pid>-<thread>): the instructions per row of each.
  total=0
  for d in "$out"/callgrind.out.*-*; do
    n=$(awk '/^(totals|summary):/ {print $2; exit}' "$d")
    total=$((total + n))
    echo "$(basename "$d"): $((n / (measured * lines))) instructions per row"
  done
  echo "all threads: $((total / (measured * lines))) instructions per row"
  exit 0
fi
python3 scripts/callgrind_self.py "$dump" $((measured * lines)) 30
python3 scripts/callgrind_self.py "$dump" "$measured" 0 | sed 's/per row/per request/; s/ rows)/ requests)/'
