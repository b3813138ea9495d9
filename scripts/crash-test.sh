#!/usr/bin/env bash
# The long crash test: hundreds of kill -9 under load (default 300). CI runs 20 (tests/crash.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
CRASH_KILLS=${1:-300} cargo test --release --test crash -- --nocapture
