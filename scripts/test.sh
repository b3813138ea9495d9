#!/usr/bin/env bash
# The test command: installs the test dependencies (Debian packages) if missing, builds the
# workspace and runs every test against real processes on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# tests/hostile.rs opens 10,000 idle connections: raise the soft fd limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --workspace --all-targets
cargo test --workspace
# Parquet export to S3 (feature `s3`) against a loopback moto_server.
cargo test --features s3 --test export_s3
