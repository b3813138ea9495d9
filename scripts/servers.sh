# Shell functions shared by scripts/compare.sh, scripts/compare-query.sh and scripts/bench-write.sh
# (sourced, not run): the default core split, starting lineshard and influxd pinned to cores on
# loopback, stopping them.
#
# The start_* functions append each server they start to the array PIDS; start_run sets it up with
# the results folder OUT and a scratch folder WORK, and stops those servers and removes WORK on exit.

# start_run NAME: OUT (default results/compare-DATE under ROOT), WORK (/tmp/NAME.XXXXXX), PIDS; on
# exit, Ctrl-C or TERM every server in PIDS is stopped and WORK removed.
start_run() {
  OUT=${OUT:-$ROOT/results/compare-$(date +%Y%m%d-%H%M%S)}
  mkdir -p "$OUT"
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap end_run EXIT
  trap 'exit 130' INT TERM
}
end_run() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}

# release_bin NAME VAR CARGO_ARGS...: the path of a release binary: $VAR when set, else
# ROOT/target/release/NAME built with `cargo build --release -q CARGO_ARGS` (empty when that fails).
release_bin() {
  local name=$1 var=$2; shift 2
  if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
  if (cd "$ROOT" && cargo build --release -q "$@" >&2); then echo "$ROOT/target/release/$name"; fi
}

# Servers get the first half of the cores and the loader/client the second; on 2-3 cores, core 0
# and core 1.
default_cores() {
  local n
  n=$(nproc)
  if [ "$n" -ge 4 ]; then
    SERVER_CORES="0-$((n / 2 - 1))"; LOADER_CORES="$((n / 2))-$((n - 1))"
  elif [ "$n" -ge 2 ]; then
    SERVER_CORES=0; LOADER_CORES=1
  else
    SERVER_CORES=0; LOADER_CORES=0
  fi
}

count_cores() { # "0-3,6" -> 5
  local n=0 part parts
  IFS=, read -ra parts <<< "$1"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then n=$((n + ${part#*-} - ${part%-*} + 1)); else n=$((n + 1)); fi
  done
  echo "$n"
}

need_pkg() { # command package
  if ! command -v "$1" > /dev/null; then
    echo "installing $2 from Debian" >&2
    apt-get install -y "$2" > "$OUT/apt-$2.log" 2>&1 || { apt-get update > /dev/null 2>&1 && apt-get install -y "$2" > "$OUT/apt-$2.log" 2>&1; }
  fi
}

free_port() { # a loopback TCP port free right now
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ping() { # url pid
  local i
  for i in $(seq 1 300); do
    kill -0 "$2" 2>/dev/null || return 1
    if curl -fs -o /dev/null "$1/ping" 2>/dev/null || curl -fs -o /dev/null "$1/health" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
peak_rss_mb() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_lineshard BIN DATA_DIR LOG CORES N [FLAGS...]: sets SERVER_PID and SERVER_ADDR (host:port);
# returns 1 (server stopped) when it does not announce its address within 30 s.
start_lineshard() {
  local bin=$1 dir=$2 log=$3 cores=$4 n=$5 i
  shift 5
  mkdir -p "$dir"
  taskset -c "$cores" "$bin" --bind 127.0.0.1:0 --data-dir "$dir" --cores "$n" "$@" > "$log" 2>&1 &
  SERVER_PID=$!
  SERVER_ADDR=""
  PIDS+=("$SERVER_PID")
  for i in $(seq 1 300); do
    SERVER_ADDR=$(sed -n 's/^lineshard listening on \([^ ]*\).*$/\1/p' "$log" | head -1)
    [ -n "$SERVER_ADDR" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  stop "$SERVER_PID"
  return 1
}

# start_influxd DIR LOG CORES N [PORT [RPC_PORT]]: influxd 1.x with GOMAXPROCS = N, no limits on
# series or tag values, no monitor, subscriber or continuous queries, on the given ports or free
# ones; sets SERVER_PID and SERVER_ADDR. Ready when this process has logged that it listens on its
# address (another influxd already on the port must not pass for it) and answers /ping; returns 1
# (stopped) when not within 30 s.
start_influxd() {
  local d=$1 log=$2 cores=$3 n=$4 port=${5:-} rpc=${6:-} i
  [ -n "$port" ] || port=$(free_port)
  [ -n "$rpc" ] || rpc=$(free_port)
  mkdir -p "$d"
  cat > "$d/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$d/meta"
[data]
  dir = "$d/data"
  wal-dir = "$d/wal"
  query-log-enabled = false
  max-series-per-database = 0
  max-values-per-tag = 0
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
CONF
  GOMAXPROCS=$n taskset -c "$cores" influxd run -config "$d/influxdb.conf" > "$log" 2>&1 &
  SERVER_PID=$!
  SERVER_ADDR=127.0.0.1:$port
  PIDS+=("$SERVER_PID")
  for i in $(seq 1 300); do
    grep -q "Listening on HTTP.*addr=$SERVER_ADDR" "$log" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q "Listening on HTTP.*addr=$SERVER_ADDR" "$log" || ! wait_ping "http://$SERVER_ADDR" "$SERVER_PID"; then
    stop "$SERVER_PID"
    return 1
  fi
}

# start_vm DIR LOG CORES N: VictoriaMetrics with GOMAXPROCS = N on a free port, retention 100 years
# (the workload's timestamps start in 2016, as TSBS's); sets SERVER_PID and SERVER_ADDR; returns 1
# (stopped) when it does not answer within 30 s.
start_vm() {
  local d=$1 log=$2 cores=$3 n=$4 port=${VM_PORT:-$(free_port)}
  mkdir -p "$d"
  taskset -c "$cores" env GOMAXPROCS="$n" victoria-metrics -httpListenAddr "127.0.0.1:$port" \
    -storageDataPath "$d" -retentionPeriod 100y > "$log" 2>&1 &
  SERVER_PID=$!
  SERVER_ADDR=127.0.0.1:$port
  PIDS+=("$SERVER_PID")
  if ! wait_ping "http://$SERVER_ADDR" "$SERVER_PID"; then stop "$SERVER_PID"; return 1; fi
}

# start_discard LOAD_BIN LOG CORE: lineshard-load's discard server (reads and drops bodies, answers
# 204) pinned to CORE; sets SERVER_PID and SERVER_ADDR.
start_discard() {
  local i
  taskset -c "$3" "$1" discard-server --bind 127.0.0.1:0 --core "$3" --lifetime-s 2h > "$2" 2>&1 &
  SERVER_PID=$!
  SERVER_ADDR=""
  PIDS+=("$SERVER_PID")
  for i in $(seq 1 300); do
    SERVER_ADDR=$(sed -n 's/^discard-server listening on \([^ ]*\).*$/\1/p' "$2" | head -1)
    [ -n "$SERVER_ADDR" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  stop "$SERVER_PID"
  return 1
}

# meta_server NAME VERSION SETTINGS: notes a server for meta.json (write_meta).
meta_server() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$OUT/.meta-servers.tsv"; }

# write_meta COMMAND: OUT/meta.json with the machine (CPU model, cores, kernel), the date, the core
# split, the command and the servers noted by meta_server (lineshard-load report reads it).
write_meta() {
  touch "$OUT/.meta-servers.tsv"
  python3 - "$OUT" "$1" "${SERVER_CORES:-}" "${LOADER_CORES:-}" <<'PY'
import json, os, platform, sys, time
out, command, server_cores, loader_cores = sys.argv[1:5]
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
servers = {}
for line in open(os.path.join(out, ".meta-servers.tsv")):
    name, version, settings = (line.rstrip("\n").split("\t") + ["", ""])[:3]
    servers[name] = {"version": version, "settings": settings}
meta = {
    "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()},
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "command": command, "server_cores": server_cores, "loader_cores": loader_cores,
    "servers": servers,
}
json.dump(meta, open(os.path.join(out, "meta.json"), "w"), indent=1)
PY
  rm -f "$OUT/.meta-servers.tsv"
}

# Versions of the peers, one short line each.
influxd_version() { influxd version 2>/dev/null | head -1 || echo unknown; }
vm_version() { dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null || victoria-metrics -version 2>/dev/null | head -1 || echo unknown; }

# json_field FILE KEY: a top-level number of a lineshard-load --json report (0 when missing).
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or 0)' "$1" "$2" 2>/dev/null || echo 0; }
