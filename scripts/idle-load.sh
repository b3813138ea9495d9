#!/usr/bin/env bash
# A writer's rate with 10,000 idle connections and 50 slowloris clients against its rate without
# them, on a release build (tests/hostile.rs measures, this script judges): passes when one of up
# to 5 A-B-A measurements keeps at least 90% of the rate. Usage: scripts/idle-load.sh [ATTEMPTS]
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
attempts="${1:-5}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
HOSTILE_ATTEMPTS="$attempts" cargo test --release --test hostile idle_connections -- --nocapture 2>&1 | tee "$log"
python3 - "$log" <<'PY'
import re, sys
ratios = [float(m) for m in re.findall(r"slowloris \(([0-9.]+)%\)", open(sys.argv[1]).read())]
if not ratios:
    sys.exit("no measurement found")
best = max(ratios)
print(f"rate with the load: {', '.join(f'{r:.1f}%' for r in ratios)} of the rate without (best {best:.1f}%)")
sys.exit(0 if best >= 90.0 else "below 90% in every attempt")
PY
