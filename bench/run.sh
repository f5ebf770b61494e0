#!/usr/bin/env bash
# End-to-end benchmark: bare axum vs canister-axum's demo (memory store with INFO file
# logging, memory store with WARNING, Redis store with WARNING), under wrk on 127.0.0.1.
#
# Each server runs with one tokio worker (TOKIO_WORKER_THREADS=1). Rounds alternate between
# the stacks; each round is `wrk -t1 -c64 -d${SECS}s`. For each round the script prints
# req/s, the ratio to bare axum in the same round, p99 latency, server CPU per request (from
# /proc/PID/stat) and the server's peak RSS (VmHWM).
#
# Usage: bench/run.sh [ROUNDS] [SECS]   (defaults 5 rounds of 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECS=${2:-10}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build -q --release -p canister-bench --bin bare_axum
cargo build -q --release -p canister-axum --example demo
BARE=target/release/bare_axum
DEMO=target/release/examples/demo
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

printf '[canister]\nCORS = *\nlog_level = INFO\nlog_path = %s/logs\n' "$WORK" > "$WORK/info.ini"
printf '[canister]\nCORS = *\nlog_level = WARNING\n' > "$WORK/warning.ini"

start() { # name port cmd...
    local name=$1 port=$2; shift 2
    TOKIO_WORKER_THREADS=1 "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
    echo $! > "$WORK/$name.pid"
    for _ in $(seq 100); do grep -q "listening on" "$WORK/$name.out" 2>/dev/null && return; sleep 0.1; done
    echo "$name did not start" >&2; cat "$WORK/$name.err" >&2; exit 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

REDIS_PORT=18193
redis-server --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" --daemonize no > "$WORK/redis.log" 2>&1 &
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis_calls() { # total commands executed by redis-server, script bodies included
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | awk -F'[=,]' '/^cmdstat_/ && !/cmdstat_info/ {n += $2} END {print n}'
}
redis_evalsha() { # EVALSHA calls: the store's round trips (each operation is one script)
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | awk -F'[=,]' '/^cmdstat_evalsha:/ {n += $2} END {print n + 0}'
}

start bare 127.0.0.1:18190 "$BARE" 127.0.0.1:18190
start info 127.0.0.1:18191 "$DEMO" --config "$WORK/info.ini" --bind 127.0.0.1:18191
start warning 127.0.0.1:18192 "$DEMO" --config "$WORK/warning.ini" --bind 127.0.0.1:18192
start redis 127.0.0.1:18194 "$DEMO" --config "$WORK/warning.ini" --bind 127.0.0.1:18194 --redis "redis://127.0.0.1:$REDIS_PORT/"
declare -A PORT=([bare]=18190 [info]=18191 [warning]=18192 [redis]=18194)
declare -A COOKIE=([bare]="")
for s in info warning redis; do
    id=$(curl -s -i "http://127.0.0.1:${PORT[$s]}/" | tr -d '\r' | sed -n 's/^set-cookie: session_id=\([^;]*\).*/\1/p')
    COOKIE[$s]="Cookie: session_id=$id"
done
HZ=$(getconf CLK_TCK)

echo "stack,round,req_per_s,ratio_to_bare,p99,cpu_us_per_req,peak_rss_kib,redis_cmds_per_req,redis_scripts_per_req"
for round in $(seq "$ROUNDS"); do
    declare -A RPS=()
    for s in bare info warning redis; do
        pid=$(cat "$WORK/$s.pid")
        before=$(cpu_ticks "$pid")
        calls_before=$(redis_calls)
        eval_before=$(redis_evalsha)
        args=(-t1 -c64 -d"${SECS}s" --latency "http://127.0.0.1:${PORT[$s]}/")
        if [ -n "${COOKIE[$s]}" ]; then args=(-H "${COOKIE[$s]}" "${args[@]}"); fi
        out=$(wrk "${args[@]}")
        after=$(cpu_ticks "$pid")
        calls_after=$(redis_calls)
        eval_after=$(redis_evalsha)
        reqs=$(echo "$out" | awk '/requests in/ {print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
        non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
        [ -z "$non2xx" ] || { echo "$s: $non2xx non-2xx responses" >&2; exit 1; }
        cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
        rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
        RPS[$s]=$rps
        ratio=$(awk -v a="$rps" -v b="${RPS[bare]}" 'BEGIN {printf "%.2f", a / b}')
        cmds=$(awk -v c=$((calls_after - calls_before)) -v n="$reqs" 'BEGIN {printf "%.2f", c / n}')
        trips=$(awk -v c=$((eval_after - eval_before)) -v n="$reqs" 'BEGIN {printf "%.2f", c / n}')
        echo "$s,$round,$rps,$ratio,$p99,$cpu,$rss,$cmds,$trips"
    done
done
# The session must have counted every request of the read+update runs.
for s in info warning redis; do
    curl -s -H "${COOKIE[$s]}" "http://127.0.0.1:${PORT[$s]}/" | sed "s/^/$s final: /" | cut -c1-120
done
