#!/usr/bin/env bash
# End-to-end benchmark of issue #10: bare axum, Rocket and warp; the tower-sessions stack;
# canister's demo on axum, Rocket and warp (memory and Redis stores), under wrk on 127.0.0.1.
# Then the memory checks: bytes per session in canister's memory store (1 M sessions) and a
# cookieless flood against canister-axum's demo. See bench/README.md.
#
# Usage: bench/run.sh [ROUNDS] [SECS]        (defaults: 5 rounds of 10 s per stack)
#
# Environment:
#   STACKS="bare_axum ts_memory ..."  the stacks to run (default: all of DEFAULT_STACKS below;
#                                     bare_axum is always added, the ratios need it)
#   SESSIONS=1000000                  sessions created by session_memory (0: skip)
#   FLOOD=1000000                     cookieless requests of the flood check (0: skip)
#
# Every server runs with one worker (TOKIO_WORKER_THREADS=1, ROCKET_WORKERS=1 for Rocket's
# runtime, ACTIX_WORKERS=1 for the actix demo; bare_actix has one). A round runs every stack
# once, `wrk -t1 -c64 -d${SECS}s`, the order rotated from round to round; every stack with sessions gets one session cookie first and
# sends it on every request, so each request loads, updates and saves the same session.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECS=${2:-10}
DEFAULT_STACKS="bare_axum bare_rocket bare_warp bare_actix ts_memory ts_redis axum_info axum_warning axum_redis rocket_warning rocket_redis warp_warning warp_redis actix_warning actix_redis"
# Also available: ts_memory_nolog ts_redis_nolog (no TraceLayer), axum_redis_info,
# rocket_info, warp_info, actix_info; minimal and minimal_log (issue #24: the demo's GET / by
# hand on axum, without and with its three log lines; src/bin/minimal_axum.rs);
# trace_canister, trace_layer and trace_layer_ids (issue #19: canister-axum with
# tracing-subscriber's JSON formatter writing to a daily file through tracing-appender's
# non-blocking writer, and canister's `tracing` sink, or tower-http's `TraceLayer`, or
# `TraceLayer` with a request id and the client in its span; src/bin/tracing_axum.rs).
STACKS=${STACKS:-$DEFAULT_STACKS}
[[ " $STACKS " == *" bare_axum "* ]] || STACKS="bare_axum $STACKS"
read -r -a LIST <<< "$STACKS"
SESSIONS=${SESSIONS:-1000000}
FLOOD=${FLOOD:-1000000}
TARGET=${CARGO_TARGET_DIR:-target}

if ! command -v wrk > /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        echo "wrk is missing: installing it (apt-get install -y wrk)" >&2
        apt-get install -y wrk > /dev/null || { apt-get update > /dev/null && apt-get install -y wrk > /dev/null; }
    else
        echo "wrk is missing: sudo apt-get install wrk" >&2
        exit 1
    fi
fi
uses() { [[ " $STACKS " =~ [[:space:]]$1 ]]; } # uses PREFIX: some stack name starts with it
if uses '[a-z]*_redis'; then
    command -v redis-server > /dev/null && command -v redis-cli > /dev/null ||
        { echo "redis-server and redis-cli are needed (apt-get install redis-server)" >&2; exit 1; }
fi

WORK=$(mktemp -d)
stop_all() { # the servers and redis-server this script started (its background jobs)
    local pids
    pids=$(jobs -p)
    [ -z "$pids" ] && return
    kill $pids 2> /dev/null || true
    for _ in $(seq 50); do kill -0 $pids 2> /dev/null || break; sleep 0.1; done
    kill -9 $pids 2> /dev/null || true
}
trap 'stop_all; rm -rf "$WORK"' EXIT

echo "building (release)..." >&2
cargo build -q --release -p canister-bench --bins
BIN=$TARGET/release
# The four demos are all `examples/demo`: copy each aside before building the next.
for fw in axum rocket warp actix; do
    if uses "$fw"_ || { [ "$fw" = axum ] && [ "$FLOOD" != 0 ]; }; then
        cargo build -q --release -p "canister-$fw" --example demo
        cp "$TARGET/release/examples/demo" "$WORK/demo-$fw"
    fi
done

free_port() { # a TCP port nothing listens on, from 18190 up
    local port=${1:-18190}
    while (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; do port=$((port + 1)); done
    echo "$port"
}

REDIS_PORT=
if uses '[a-z]*_redis'; then
    REDIS_PORT=$(free_port 18390)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
        --daemonize no > "$WORK/redis.log" 2>&1 &
    echo $! > "$WORK/redis.pid"
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping > /dev/null 2>&1 && break; sleep 0.1; done
fi
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
redis_stats() { # "cmd calls" per line, every command redis-server ran (script bodies included)
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
        awk -F'[:=,]' '/^cmdstat_/ && !/^cmdstat_info:/ {sub(/^cmdstat_/, "", $1); print $1, $3}'
}

printf '[canister]\nCORS = *\nlog_level = WARNING\n' > "$WORK/warning.ini"

start() { # name port: starts the stack's server, waits for "listening on"
    local s=$1 port=$2 addr=127.0.0.1:$2 cmd
    case $s in
        bare_*) cmd=("$BIN/$s" "$addr") ;;
        minimal) cmd=("$BIN/minimal_axum" "$addr") ;;
        minimal_log) cmd=("$BIN/minimal_axum" "$addr" --log "$WORK/logs-$s") ;;
        trace_canister | trace_layer | trace_layer_ids)
            local mode=canister
            [ "$s" = trace_layer ] && mode=trace-layer
            [ "$s" = trace_layer_ids ] && mode=trace-layer-ids
            cmd=("$BIN/tracing_axum" "$addr" --mode "$mode" --log-dir "$WORK/logs-$s")
            ;;
        ts_*)
            cmd=("$BIN/tower_sessions_axum" "$addr")
            [[ $s == *_redis* ]] && cmd+=(--redis "$REDIS_URL")
            [[ $s == *_nolog ]] || cmd+=(--log-dir "$WORK/logs-$s")
            ;;
        axum_* | rocket_* | warp_* | actix_* | flood)
            local fw=${s%%_*} config=$WORK/warning.ini
            [ "$s" = flood ] && fw=axum
            if [[ $s == *_info ]]; then
                config=$WORK/$s.ini
                printf '[canister]\nCORS = *\nlog_level = INFO\nlog_path = %s\n' "$WORK/logs-$s" > "$config"
            fi
            cmd=("$WORK/demo-$fw" --config "$config" --bind "$addr")
            [[ $s == *_redis* ]] && cmd+=(--redis "$REDIS_URL")
            ;;
        *) echo "unknown stack $s" >&2; exit 1 ;;
    esac
    TOKIO_WORKER_THREADS=1 ROCKET_WORKERS=1 ACTIX_WORKERS=1 "${cmd[@]}" > "$WORK/$s.out" 2> "$WORK/$s.err" &
    echo $! > "$WORK/$s.pid"
    for _ in $(seq 150); do grep -q "listening on" "$WORK/$s.out" 2> /dev/null && return; sleep 0.1; done
    echo "$s did not start: ${cmd[*]}" >&2; cat "$WORK/$s.err" >&2; exit 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

declare -A PORT=() COOKIE=() TOTAL=()
port=18190
for s in "${LIST[@]}"; do
    port=$(free_port "$port")
    PORT[$s]=$port
    start "$s" "$port"
    COOKIE[$s]=
    TOTAL[$s]=0
    if [[ $s != bare_* ]]; then # first visit: the session and its cookie
        pair=$(curl -s -o /dev/null -D - "http://127.0.0.1:$port/" | tr -d '\r' |
            sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1) || true
        [ -n "$pair" ] || { echo "$s: no session cookie on GET / (port $port)" >&2; exit 1; }
        COOKIE[$s]="Cookie: $pair"
    fi
    port=$((port + 1))
done

ms() { # wrk's latency (850.00us, 1.23ms, 1.01s) in ms
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

HEADER="stack,round,req_per_s,ratio_to_bare,p99_ms,cpu_us_per_req,peak_rss_kib,non2xx,socket_errors,redis_cmds_per_req,redis_scripts_per_req,redis_cpu_us_per_req"
echo "$HEADER"
: > "$WORK/rows.csv"
FAILED=0
N=${#LIST[@]}
for round in $(seq "$ROUNDS"); do
    declare -A ROW=() RPS=()
    for i in $(seq 0 $((N - 1))); do
        s=${LIST[$(((i + round - 1) % N))]}
        pid=$(cat "$WORK/$s.pid")
        redis=$([[ $s == *_redis* ]] && echo 1 || echo 0)
        before=$(cpu_ticks "$pid")
        if [ "$redis" = 1 ]; then
            redis_before=$(cpu_ticks "$(cat "$WORK/redis.pid")")
            redis_stats > "$WORK/cmds.before"
        fi
        args=(-t1 -c64 -d"${SECS}s" --latency "http://127.0.0.1:${PORT[$s]}/")
        if [ -n "${COOKIE[$s]}" ]; then args=(-H "${COOKIE[$s]}" "${args[@]}"); fi
        out=$(wrk "${args[@]}")
        after=$(cpu_ticks "$pid")
        reqs=$(echo "$out" | awk '/requests in/ {print $1}')
        TOTAL[$s]=$((TOTAL[$s] + reqs))
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        p99=$(ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
        non2xx=$(echo "$out" | awk '/Non-2xx/ {n = $NF} END {print n + 0}')
        sockerr=$(echo "$out" | awk '/Socket errors/ {gsub(/,/, ""); for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) n += $i} END {print n + 0}')
        if [ "$non2xx" != 0 ] || [ "$sockerr" != 0 ]; then
            echo "$s, round $round: $non2xx non-2xx responses, $sockerr socket errors" >&2
            FAILED=1
        fi
        cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
        rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
        cmds=- scripts=- rcpu=-
        if [ "$redis" = 1 ]; then
            redis_after=$(cpu_ticks "$(cat "$WORK/redis.pid")")
            redis_stats > "$WORK/cmds.after"
            # per-command calls per request over this run, e.g. "evalsha 2.00"
            awk -v n="$reqs" 'NR == FNR {b[$1] = $2; next} {d = ($2 - b[$1]) / n; if (d >= 0.005) printf "%s %.2f\n", $1, d}' \
                "$WORK/cmds.before" "$WORK/cmds.after" > "$WORK/cmds.$s"
            cmds=$(awk '{n += $2} END {printf "%.2f", n}' "$WORK/cmds.$s")
            scripts=$(awk '$1 == "evalsha" || $1 == "eval" {n += $2} END {printf "%.2f", n}' "$WORK/cmds.$s")
            rcpu=$(awk -v t=$((redis_after - redis_before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
        fi
        RPS[$s]=$rps
        ROW[$s]="$p99,$cpu,$rss,$non2xx,$sockerr,$cmds,$scripts,$rcpu"
    done
    for s in "${LIST[@]}"; do
        ratio=$(awk -v a="${RPS[$s]}" -v b="${RPS[bare_axum]}" 'BEGIN {printf "%.2f", a / b}')
        echo "$s,$round,${RPS[$s]},$ratio,${ROW[$s]}" | tee -a "$WORK/rows.csv"
    done
done

median() { # column number: median of that column of $WORK/rows.csv for stack $s
    awk -F, -v s="$s" -v c="$1" '$1 == s {print $c}' "$WORK/rows.csv" | sort -g |
        awk '{v[NR] = $1} END {if (v[1] == "-") print "-"; else if (NR % 2) print v[(NR + 1) / 2];
             else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
echo
echo "Medians over $ROUNDS round(s) of ${SECS}s (wrk -t1 -c64, one server worker):"
FMT="%-16s %10s %7s %9s %9s %10s %8s %11s %10s\n"
printf "$FMT" stack req/s ratio p99_ms cpu_us/req peak_rss_MiB redis_cmd redis_script redis_cpu_us
for s in "${LIST[@]}"; do
    rss=$(awk -v k="$(median 7)" 'BEGIN {printf "%.1f", k / 1024}')
    printf "$FMT" "$s" "$(median 3)" "$(median 4)" "$(median 5)" "$(median 6)" "$rss" \
        "$(median 10)" "$(median 11)" "$(median 12)"
done

echo
echo "Session counter after the runs (GET / with the cookie; no increment lost if counter > counted):"
for s in "${LIST[@]}"; do
    [ -n "${COOKIE[$s]}" ] || continue
    counter=$(curl -s -H "${COOKIE[$s]}" "http://127.0.0.1:${PORT[$s]}/" | grep -o '"counter":[0-9]*' | cut -d: -f2)
    # first visit: 0; then +1 per request, this one included: no update lost if
    # counter >= counted + 1 (requests still in flight when wrk stopped come on top)
    echo "  $s: counter ${counter:-?}, wrk counted ${TOTAL[$s]} responses"
done
for s in "${LIST[@]}"; do
    if [ -f "$WORK/cmds.$s" ]; then
        echo "Redis commands per request, $s (last round): $(sort "$WORK/cmds.$s" | tr '\n' ' ')"
    fi
done

if [ "$SESSIONS" != 0 ]; then
    echo
    echo "Memory per session ($SESSIONS sessions holding {\"counter\": i}; bench/src/bin/session_memory.rs):"
    "$BIN/session_memory" "$SESSIONS" | sed 's/^/  /'
fi

if [ "$FLOOD" != 0 ]; then
    # A fresh canister-axum demo (memory, WARNING); GET /hi?foo=a&bar=b never touches the
    # session (docs/ADAPTERS.md), and no cookie is sent.
    echo
    port=$(free_port "$port")
    start flood "$port"
    pid=$(cat "$WORK/flood.pid")
    url="http://127.0.0.1:$port/hi?foo=a&bar=b"
    cookies=$(curl -s -o /dev/null -D - "$url" | grep -ci '^set-cookie' || true)
    rss_of() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
    warm=$(wrk -t1 -c64 -d2s "$url")
    rate=$(echo "$warm" | awk '/Requests\/sec/ {print $2}')
    secs=$(awk -v f="$FLOOD" -v r="$rate" 'BEGIN {s = int(f / r + 0.999); print (s < 1 ? 1 : s)}')
    rss0=$(rss_of)
    line="Cookieless flood, canister-axum demo, GET /hi (Set-Cookie headers on it: $cookies): RSS $rss0 KiB after a 2 s warm-up"
    for pass in 1 2; do
        out=$(wrk -t1 -c64 -d"${secs}s" "$url")
        n=$(echo "$out" | awk '/requests in/ {print $1}')
        bad=$(echo "$out" | awk '/Non-2xx/ {n = $NF} END {print n + 0}')
        [ "$bad" = 0 ] || { echo "flood: $bad non-2xx responses" >&2; FAILED=1; }
        line="$line, $(rss_of) KiB after $n more requests"
    done
    echo "$line"
fi
exit "$FAILED"
