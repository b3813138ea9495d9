#!/usr/bin/env bash
# The long crash tests: hundreds of kill -9 under load (default 300 each): 200-line requests,
# 16 writers of 5-line requests on a new connection each (group commit across cores), ~1 MB
# requests sealing onto recycled WAL segments, compaction, and Parquet export on (DuckDB must then
# read every acknowledged point exactly once). CI runs 20 of each (tests/crash.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
CRASH_KILLS=${1:-300} cargo test --release --test crash -- --nocapture
