#!/usr/bin/env bash
# Fuzz the HTTP framing, the line-protocol decoder and the InfluxQL parser and planner with
# cargo-fuzz (libFuzzer, nightly).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 60 s, every target)
#
# Targets live in fuzz/fuzz_targets/. Corpora grow in fuzz/corpus/<target> (seeded on first run),
# crashes land in fuzz/artifacts/<target>. Prints the execution count of each run.
# The end-to-end counterpart (arbitrary request bytes against a real server process) is a proptest:
#   PROPTEST_CASES=20000 cargo test --test hostile arbitrary -- --nocapture
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(http_framing lineproto_decode influxql)
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "cargo-fuzz needs a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

seed() {
    local dir=fuzz/corpus/$1
    mkdir -p "$dir"
    [ -n "$(ls -A "$dir")" ] && return
    case $1 in
    http_framing)
        printf '\x05POST /write?db=db HTTP/1.1\r\nContent-Length: 8\r\n\r\ncpu v=1\n' >"$dir/cl"
        printf '\x03POST /write?db=db HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\ncpu v=1\n\r\n0\r\nX-T: 1\r\n\r\n' >"$dir/chunked"
        printf '\x00POST /w HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 20\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x4b\x2e\x28\x55\x28\x4b\xb5\x35\xe4\x02\x00' >"$dir/gzip"
        ;;
    lineproto_decode)
        printf '\x00cpu,host=a,region=b v=1,s="x y",b=t,i=3i 1700000000000000000\n# c\n\nm\\ x,t\\,k=v\\=w f=-1.5e3\n' >"$dir/lines"
        printf '\x04m u=3u,i=-9223372036854775808i 1\nm f=1 -9223372036854775806\n' >"$dir/edges"
        ;;
    influxql)
        printf 'SELECT mean("v"), max(i) FROM "m" WHERE ("host" =~ /^(a|b)$/) AND time >= 0ms and time <= 1000ms GROUP BY time(1m), "host" fill(linear)' >"$dir/grafana"
        printf 'SELECT derivative(sum(v), 1s) FROM (SELECT v FROM m WHERE v > 1) WHERE time > now() - 1h GROUP BY time(10s, 3s), * fill(previous) ORDER BY time DESC LIMIT 3 SLIMIT 2' >"$dir/nested"
        printf 'SELECT top(v, host, 2), * FROM /m/; SELECT percentile(v, 99.5) FROM m' >"$dir/selectors"
        ;;
    esac
}

for t in "${targets[@]}"; do
    seed "$t"
    log=$(mktemp)
    # -rss_limit_mb bounds memory; -max_len keeps inputs in the range the targets cap bodies at.
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tee "$log" | grep -E '^(INFO|==|Done)|ERROR|panicked' || true
    runs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    echo "fuzz $t: $runs executions in ${secs}s"
    if grep -q 'ERROR: libFuzzer' "$log"; then
        echo "fuzz $t: CRASH, see fuzz/artifacts/$t" >&2
        exit 1
    fi
done
