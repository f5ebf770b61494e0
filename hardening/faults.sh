#!/usr/bin/env bash
# Builds canister-axum's demo (release) and runs hardening/faults.py against it.
# Usage: hardening/faults.sh [redis-kill] [redis-slow] [log-full]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk redis-server; do
    command -v "$tool" >/dev/null || apt-get install -y "$tool"
done
cargo build -q --release -p canister-axum --example demo
BIN=$(mktemp)
trap 'rm -f "$BIN"' EXIT
# The three demos share target/release/examples/demo: keep this build's.
cp target/release/examples/demo "$BIN"
chmod +x "$BIN"
python3 hardening/faults.py "$BIN" "$@"
