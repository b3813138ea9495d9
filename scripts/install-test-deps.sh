#!/usr/bin/env bash
# Installs what the tests talk to, from Debian: curl, the real influxd 1.6.7 and `influx` CLI
# (differential tests), python3-influxdb (a real client library), wrk (load measurements),
# e2fsprogs and mount (the disk-full test's loop ext4), systemd (systemd-analyze verify), and
# PyPI prometheus-client (its text-format parser checks /metrics).
# Idempotent; does nothing when everything is present.
set -euo pipefail
need=()
command -v curl >/dev/null || need+=(curl)
command -v influxd >/dev/null || need+=(influxdb)
command -v influx >/dev/null || need+=(influxdb-client)
/usr/bin/python3 -c 'import influxdb' 2>/dev/null || need+=(python3-influxdb)
command -v wrk >/dev/null || need+=(wrk)
# tz() reads the zoneinfo database (both servers).
[ -f /usr/share/zoneinfo/America/Chicago ] || need+=(tzdata)
# tests/disk_full.rs: a small ext4 on a loop device; tests/shutdown.rs: nothing more.
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v mount >/dev/null || need+=(mount)
# tests/packaging.rs: systemd-analyze verify of packaging/lineshard.service.
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian package starts influxd as a service on 127.0.0.1:8086 on some machines; the tests run
# their own influxd on other ports, so a running service is harmless, but stop it to keep 8086 free.
if command -v systemctl >/dev/null && systemctl is-active --quiet influxdb 2>/dev/null; then
  systemctl stop influxdb || true
fi
# From PyPI, into the python3 the tests call: the Prometheus text parser of the official client
# (prometheus-client, tests/metrics.rs runs it on /metrics); DuckDB and pyarrow (the Parquet
# export tests read the exported files) and moto[server] (a loopback S3 server).
if ! /usr/bin/python3 -c 'import prometheus_client.parser, duckdb, pyarrow, moto' 2>/dev/null \
  || ! command -v moto_server >/dev/null; then
  if ! /usr/bin/python3 -m pip --version >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
  fi
  echo "installing from PyPI: prometheus-client duckdb pyarrow moto[server]"
  /usr/bin/python3 -m pip install -q prometheus-client duckdb pyarrow 'moto[server]' 2>/dev/null \
    || /usr/bin/python3 -m pip install -q --break-system-packages prometheus-client duckdb pyarrow 'moto[server]'
fi
