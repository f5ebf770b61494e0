#!/usr/bin/env bash
# A long load run per adapter: each demo (release, memory store, CORS = *, INFO logging to a
# daily file, one worker) under `wrk -t1 -c64` on 127.0.0.1 for SECS seconds (default 60),
# every request loading and updating one session. Prints requests, non-2xx responses,
# socket errors and the server's RSS every 10 s; fails when a response is not 2xx, a socket
# error occurs, or RSS grows by more than 4 MiB between the first sample and the last.
#
# Usage: hardening/load.sh [SECS] [axum] [rocket] [warp]   (default: 60 s, all three)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
ADAPTERS=("$@")
[[ ${#ADAPTERS[@]} -gt 0 ]] || ADAPTERS=(axum rocket warp)
command -v wrk >/dev/null || apt-get install -y wrk
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
for a in "${ADAPTERS[@]}"; do
    cargo build -q --release -p "canister-$a" --example demo
    # The three demos share target/release/examples/demo: keep each build.
    cp target/release/examples/demo "$WORK/demo-$a"
done
status=0
port=18600
for a in "${ADAPTERS[@]}"; do
    port=$((port + 1))
    mkdir -p "$WORK/logs-$a"
    printf '[canister]\nCORS = *\nlog_level = INFO\nlog_path = %s/logs-%s\n' "$WORK" "$a" > "$WORK/$a.ini"
    TOKIO_WORKER_THREADS=1 ROCKET_WORKERS=1 "$WORK/demo-$a" --config "$WORK/$a.ini" \
        --bind "127.0.0.1:$port" > "$WORK/$a.out" 2> "$WORK/$a.err" &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$WORK/$a.out" 2>/dev/null && break; sleep 0.1; done
    cookie=$(curl -s -i "http://127.0.0.1:$port/" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')
    wrk -t1 -c64 -d"${SECS}s" -H "Cookie: $cookie" "http://127.0.0.1:$port/" > "$WORK/$a.wrk" &
    wrk_pid=$!
    samples=()
    for _ in $(seq $((SECS / 10))); do
        sleep 10
        samples+=("$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")")
    done
    wait "$wrk_pid"
    requests=$(awk '/requests in/ {print $1}' "$WORK/$a.wrk")
    non2xx=$(awk -F: '/Non-2xx/ {gsub(/ /, "", $2); print $2}' "$WORK/$a.wrk")
    errors=$(grep -c "Socket errors" "$WORK/$a.wrk" || true)
    counter=$(curl -s -H "Cookie: $cookie" "http://127.0.0.1:$port/" | sed -n 's/.*"counter":\([0-9]*\).*/\1/p')
    first=${samples[0]}
    last=${samples[${#samples[@]}-1]}
    growth=$((last - first))
    echo "$a: ${SECS} s, $requests requests, non-2xx ${non2xx:-0}, socket-error lines $errors," \
        "counter $counter, RSS KiB every 10 s: ${samples[*]} (growth $growth KiB)"
    panics=$(grep -c panicked "$WORK/$a.err" || true)
    if [[ -n "${non2xx}" || "$errors" != 0 || "$panics" != 0 || $growth -gt 4096 ]]; then
        echo "$a: FAILED (non-2xx, socket errors, a panic, or RSS growth over 4 MiB)"
        status=1
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
exit $status
