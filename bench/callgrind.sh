#!/usr/bin/env bash
# Instructions per request of canister-axum's demo, whole process (every thread: the request
# thread, the log writer, tokio's), counted by callgrind: `log_level = INFO` to a daily file,
# `log_level = WARNING` (nothing logged for a 200), and `log_sink = tracing` (the demo's JSON
# formatter on standard error, redirected to a file). Then the tracing sink beside tower-http's
# `TraceLayer` on one subscriber (tracing-subscriber's JSON formatter to a daily file through
# tracing-appender's non-blocking writer): bench's `tracing_axum --mode canister|trace-layer`.
# Issue #19, item 4.
#
# Usage: bench/callgrind.sh [REQUESTS]     (default 2000)
#        DEMO_ONLY=1 bench/callgrind.sh    (the demo's three rows only: no canister-bench build)
#
# Instruction counts do not depend on what else runs on the machine, unlike wall-clock
# figures; but they are not CPU time either (no cache misses, no system-call cost beyond the
# instructions of the user-space side), and under valgrind the program runs ~50x slower, so
# time-driven work (the writer's 1 ms polls while lines arrive) happens more often per
# request than natively. Read the difference between rows, not the absolute figures.
#
# Each run: start the demo under callgrind, take one session cookie, warm up with 200
# requests, zero the counters, send REQUESTS keep-alive requests `GET /` with the cookie
# (curl's URL globbing: one connection, one request at a time), dump the counters.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
TARGET=${CARGO_TARGET_DIR:-target}
for tool in valgrind callgrind_control curl; do
    command -v "$tool" > /dev/null || { echo "$tool is missing (apt-get install valgrind curl)" >&2; exit 1; }
done
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2> /dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

echo "building (release)..." >&2
cargo build -q --release -p canister-axum --example demo
[ -n "${DEMO_ONLY:-}" ] || cargo build -q --release -p canister-bench --bin tracing_axum
DEMO=$TARGET/release/examples/demo
TRACING_AXUM=$TARGET/release/tracing_axum

run() { # run NAME CONFIG-LINES... (the demo), or run NAME --mode MODE (tracing_axum)
    local name=$1
    shift
    mkdir -p "$WORK/$name/logs"
    local port=18290
    while (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; do port=$((port + 1)); done
    local command
    if [ "$1" = --mode ]; then
        command=("$TRACING_AXUM" "127.0.0.1:$port" --mode "$2" --log-dir "$WORK/$name/logs")
    else
        { echo "[canister]"; printf '%s\n' "$@"; } > "$WORK/$name/canister.ini"
        command=("$DEMO" --config "$WORK/$name/canister.ini" --bind "127.0.0.1:$port")
    fi
    TOKIO_WORKER_THREADS=1 RUST_LOG=info valgrind --tool=callgrind \
        --callgrind-out-file="$WORK/$name/cg.out" "${command[@]}" \
        > "$WORK/$name/stdout" 2> "$WORK/$name/stderr" &
    PID=$!
    for _ in $(seq 600); do grep -q "listening on" "$WORK/$name/stdout" && break; sleep 0.1; done
    local base=http://127.0.0.1:$port
    curl -s -o /dev/null -c "$WORK/$name/jar" "$base/"
    curl -s -o /dev/null -b "$WORK/$name/jar" "$base/?warm=[1-200]"
    callgrind_control -z "$PID" > /dev/null 2>&1
    curl -s -o /dev/null -b "$WORK/$name/jar" "$base/?n=[1-$N]"
    callgrind_control -d "$PID" > /dev/null 2>&1
    kill -INT "$PID"
    wait "$PID" 2> /dev/null || true
    PID=
    # The dump made after zeroing: the file with the highest part number.
    local dump
    dump=$(ls "$WORK/$name"/cg.out.* 2> /dev/null | sort -t. -k3 -n | head -1)
    local ir
    ir=$(grep -m1 '^summary:\|^totals:' "$dump" | awk '{print $2}')
    local lines
    lines=$( (cat "$WORK/$name"/logs/* 2> /dev/null || true) | wc -l)
    [ "$name" = tracing ] && lines=$(grep -c '"target":"canister' "$WORK/$name/stderr" || true)
    awk -v name="$name" -v ir="$ir" -v n="$N" -v lines="$lines" 'BEGIN {
        printf "%-11s %14d Ir  %9.0f Ir/request  (%d log lines or canister events in all)\n",
            name, ir, ir / n, lines }'
}

run warning "log_level = WARNING" "log_path = $WORK/warning/logs"
run info "log_level = INFO" "log_path = $WORK/info/logs"
run tracing "log_level = INFO" "log_sink = tracing"
if [ -z "${DEMO_ONLY:-}" ]; then
    run sink-json --mode canister
    run tracelayer --mode trace-layer
    run tracelayer-ids --mode trace-layer-ids
fi
