#!/bin/bash
# usage: bench/redis_commands.sh DEMO_BINARY LABEL
# Counts the Redis commands (INFO commandstats) of 100 read-only and 100 read+update requests
# of a logged-in session through a demo (`cargo build -p canister-axum --example demo`), on a
# private redis-server. Needs redis-server, redis-cli and curl.
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
DEMO=$1; LABEL=$2
RP=$((20000 + RANDOM % 10000)); HP=$((30000 + RANDOM % 10000))
redis-server --port $RP --save "" --appendonly no >/dev/null 2>&1 &
RPID=$!
sleep 0.5
printf '[canister]\nlog_level = DISABLED\nauth_basic_username = alice\nauth_basic_password = my-secret\n' > $DIR/c.ini
$DEMO --config $DIR/c.ini --bind 127.0.0.1:$HP --redis redis://127.0.0.1:$RP >/dev/null 2>&1 &
DPID=$!
for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$HP/hi?foo=x && break; sleep 0.2; done
J=$DIR/jar
curl -s -c $J -b $J -o /dev/null -d 'username=alice&password=my-secret' http://127.0.0.1:$HP/login
N=100
stats() { redis-cli -p $RP INFO commandstats | grep -E '^cmdstat_' | sed 's/:calls=\([0-9]*\),.*/ \1/' | tr -d '\r' | sort; }
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
for i in $(seq $N); do curl -s -b $J -o /dev/null http://127.0.0.1:$HP/secret; done
echo "== $LABEL: $N read-only requests (GET /secret, logged-in session)"; stats
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
for i in $(seq $N); do curl -s -b $J -o /dev/null http://127.0.0.1:$HP/; done
echo "== $LABEL: $N read+update requests (GET /, counter)"; stats
kill $DPID; kill $RPID; wait 2>/dev/null
