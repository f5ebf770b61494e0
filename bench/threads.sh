#!/usr/bin/env bash
# Splits a server's CPU per request by thread and by user/system time: bare axum, and
# canister-axum's demo (memory store, CORS = *) at WARNING and at INFO to a daily file.
# One 10 s `wrk -t1 -c64` run each (session cookie for the demo), ROUNDS times.
# BENCHMARKS.md ("Where the CPU goes") quotes it.
#
# Usage: bench/threads.sh [ROUNDS]        (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
TARGET=${CARGO_TARGET_DIR:-target}
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$WORK"' EXIT
cargo build -q --release -p canister-bench --bin bare_axum
cargo build -q --release -p canister-axum --example demo
cp "$TARGET/release/examples/demo" "$WORK/demo-axum"
printf '[canister]\nCORS = *\nlog_level = WARNING\n' > "$WORK/warning.ini"
printf '[canister]\nCORS = *\nlog_level = INFO\nlog_path = %s\n' "$WORK/logs" > "$WORK/info.ini"

run() { # name port cmd...: one round, per-thread user/system microseconds per request
    local name=$1 port=$2
    shift 2
    TOKIO_WORKER_THREADS=1 "$@" > "$WORK/out" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$WORK/out" 2> /dev/null && break; sleep 0.1; done
    local header=()
    if [ "$name" != bare_axum ]; then
        local pair
        pair=$(curl -s -o /dev/null -D - "http://127.0.0.1:$port/" | tr -d '\r' |
            sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1)
        header=(-H "Cookie: $pair")
    fi
    snap() { for t in /proc/"$pid"/task/*; do echo "$(tr ' ' _ < "$t/comm") $(awk '{print $14, $15}' "$t/stat")"; done | sort; }
    snap > "$WORK/s0"
    local out n
    out=$(wrk -t1 -c64 -d10s "${header[@]}" "http://127.0.0.1:$port/")
    snap > "$WORK/s1"
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$name: $n requests, $(echo "$out" | awk '/Requests\/sec/ {print $2}') req/s"
    join "$WORK/s0" "$WORK/s1" | awk -v n="$n" -v hz="$(getconf CLK_TCK)" '
        { u = ($4 - $2) / hz * 1e6 / n; s = ($5 - $3) / hz * 1e6 / n
          if (u + s > 0) printf "  %-16s user %5.2f  system %5.2f  µs/request\n", $1, u, s }'
    kill "$pid"
    wait "$pid" 2> /dev/null || true
}

for round in $(seq "$ROUNDS"); do
    echo "round $round"
    run bare_axum 18901 "$TARGET/release/bare_axum" 127.0.0.1:18901
    run axum_warning 18902 "$WORK/demo-axum" --config "$WORK/warning.ini" --bind 127.0.0.1:18902
    run axum_info 18903 "$WORK/demo-axum" --config "$WORK/info.ini" --bind 127.0.0.1:18903
done
