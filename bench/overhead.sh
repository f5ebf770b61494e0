#!/usr/bin/env bash
# canister's own cost per request on each framework, in instructions (callgrind), whole
# process: the bare framework's `GET /` (bench/src/bin/bare_*.rs) against canister's demo on
# the same framework (`GET /` with a session cookie: the session is loaded, incremented and
# saved; memory store; log_level = WARNING, so no line is written for a 200).
#
# Usage: bench/overhead.sh [REQUESTS] [FRAMEWORK...]   (default 2000; axum rocket warp actix)
#
# Instruction counts do not depend on what else runs on the machine, unlike wall-clock
# figures (so this runs on a shared machine); they are not CPU time (no cache misses, no
# kernel side of system calls). Each server runs with one worker. Each run: start under
# callgrind, take a session cookie, warm up with 200 requests, zero the counters, send
# REQUESTS keep-alive requests one at a time (curl's URL globbing), dump the counters.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
[ $# -ge 1 ] && shift
FRAMEWORKS=${*:-axum rocket warp actix}
TARGET=${CARGO_TARGET_DIR:-target}
for tool in valgrind callgrind_control curl; do
    command -v "$tool" > /dev/null || { echo "$tool is missing (apt-get install valgrind curl)" >&2; exit 1; }
done
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2> /dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

echo "building (release)..." >&2
cargo build -q --release -p canister-bench --bins
for fw in $FRAMEWORKS; do
    cargo build -q --release -p "canister-$fw" --example demo
    cp "$TARGET/release/examples/demo" "$WORK/demo-$fw"
done
printf '[canister]\nlog_level = WARNING\n' > "$WORK/warning.ini"

measure() { # measure NAME COMMAND...: instructions per request, printed
    local name=$1 port=18290
    shift
    while (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; do port=$((port + 1)); done
    mkdir -p "$WORK/$name"
    TOKIO_WORKER_THREADS=1 ROCKET_WORKERS=1 ACTIX_WORKERS=1 \
        valgrind --tool=callgrind --callgrind-out-file="$WORK/$name/cg.out" \
        "$@" "127.0.0.1:$port" > "$WORK/$name/stdout" 2> "$WORK/$name/stderr" &
    PID=$!
    for _ in $(seq 900); do grep -q "listening on" "$WORK/$name/stdout" && break; sleep 0.1; done
    grep -q "listening on" "$WORK/$name/stdout" || { echo "$name did not start" >&2; cat "$WORK/$name/stderr" >&2; exit 1; }
    local base=http://127.0.0.1:$port
    curl -s -o /dev/null -c "$WORK/$name/jar" "$base/"
    curl -s -o /dev/null -b "$WORK/$name/jar" "$base/?warm=[1-200]"
    callgrind_control -z "$PID" > /dev/null 2>&1
    curl -s -o /dev/null -b "$WORK/$name/jar" "$base/?n=[1-$N]"
    callgrind_control -d "$PID" > /dev/null 2>&1
    kill -INT "$PID"
    sleep 1
    kill "$PID" 2> /dev/null || true
    wait "$PID" 2> /dev/null || true
    PID=
    local dump ir
    dump=$(ls "$WORK/$name"/cg.out.* 2> /dev/null | sort -t. -k3 -n | head -1)
    ir=$(grep -m1 '^summary:\|^totals:' "$dump" | awk '{print $2}')
    echo $((ir / N))
}

printf '%-8s %14s %16s %14s\n' framework bare_Ir/req canister_Ir/req added_Ir/req
for fw in $FRAMEWORKS; do
    bare=$(measure "bare_$fw" "$TARGET/release/bare_$fw")
    demo=$(measure "demo_$fw" "$WORK/demo-$fw" --config "$WORK/warning.ini" --bind)
    printf '%-8s %14d %16d %14d\n' "$fw" "$bare" "$demo" $((demo - bare))
done
