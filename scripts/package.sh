#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (installed first if missing): a release build of
# lineshard, /etc/lineshard/lineshard.toml (a conffile), the systemd unit (enabled, not
# started), and maintainer scripts that create the lineshard user and /var/lib/lineshard.
# The binary is stripped (the release profile keeps some debug info for profiling; a panic's
# message and place need none). Prints the .deb's path. Slow (a release build): not part of
# every test run. Extra arguments go to cargo deb (e.g. --no-build after a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install cargo-deb --locked
fi
cargo deb -p lineshard --strip "$@"
ls -1t target/debian/lineshard_*.deb | head -1
