#!/usr/bin/env bash
# Installs what the tests talk to, from Debian: curl, the real influxd 1.6.7 and `influx` CLI
# (differential tests), python3-influxdb (a real client library), wrk (load measurements).
# Idempotent; does nothing when everything is present.
set -euo pipefail
need=()
command -v curl >/dev/null || need+=(curl)
command -v influxd >/dev/null || need+=(influxdb)
command -v influx >/dev/null || need+=(influxdb-client)
/usr/bin/python3 -c 'import influxdb' 2>/dev/null || need+=(python3-influxdb)
command -v wrk >/dev/null || need+=(wrk)
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
# Parquet export tests read the exported files with DuckDB and pyarrow and upload to a loopback
# S3 server (moto_server), all from PyPI, into the python3 the tests call.
if ! python3 -c 'import duckdb, pyarrow, moto' 2>/dev/null || ! command -v moto_server >/dev/null; then
  echo "installing from PyPI: duckdb pyarrow moto[server]"
  python3 -m pip install -q duckdb pyarrow 'moto[server]' 2>/dev/null \
    || python3 -m pip install -q --break-system-packages duckdb pyarrow 'moto[server]'
fi
