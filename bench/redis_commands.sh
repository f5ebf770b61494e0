#!/bin/bash
# usage: bench/redis_commands.sh DEMO_BINARY LABEL [throttle]
# Counts the Redis commands (INFO commandstats: calls and Redis's own usec_per_call) of 100
# read-only and 100 read+update requests of a logged-in session, and of 100 logins, through a
# demo (`cargo build -p canister-axum --example demo`), on a private redis-server. With
# `throttle`, the demo runs with auth_throttle = 5/60 and auth_throttle_ip = 1000/60, and 100
# Basic requests with the right password are counted too (each attempt counted, then refunded).
# Needs redis-server, redis-cli and curl.
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
DEMO=$1; LABEL=$2; MODE=$3
RP=$((20000 + RANDOM % 10000)); HP=$((30000 + RANDOM % 10000))
redis-server --port $RP --save "" --appendonly no >/dev/null 2>&1 &
RPID=$!
sleep 0.5
printf '[canister]\nlog_level = DISABLED\nauth_basic_username = alice\nauth_basic_password = my-secret\n' > $DIR/c.ini
if [ "$MODE" = throttle ]; then
  printf 'auth_throttle = 5/60\nauth_throttle_ip = 1000/60\n' >> $DIR/c.ini
fi
$DEMO --config $DIR/c.ini --bind 127.0.0.1:$HP --redis redis://127.0.0.1:$RP >/dev/null 2>&1 &
DPID=$!
for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$HP/hi?foo=x && break; sleep 0.2; done
J=$DIR/jar
curl -s -c $J -b $J -o /dev/null -d 'username=alice&password=my-secret' http://127.0.0.1:$HP/login
N=100
stats() {
  redis-cli -p $RP INFO commandstats | grep -E '^cmdstat_' \
    | sed 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=[0-9]*,usec_per_call=\([0-9.]*\),.*/\1 \2 calls, \3 us\/call/' \
    | tr -d '\r' | sort
}
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
for i in $(seq $N); do curl -s -b $J -o /dev/null http://127.0.0.1:$HP/secret; done
echo "== $LABEL: $N read-only requests (GET /secret, logged-in session)"; stats
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
for i in $(seq $N); do curl -s -b $J -o /dev/null http://127.0.0.1:$HP/; done
echo "== $LABEL: $N read+update requests (GET /, counter)"; stats
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
for i in $(seq $N); do
  curl -s -c $DIR/j$i -b $DIR/j$i -o /dev/null http://127.0.0.1:$HP/
  curl -s -c $DIR/j$i -b $DIR/j$i -o /dev/null -d 'username=alice&password=my-secret' http://127.0.0.1:$HP/login
done
echo "== $LABEL: $N logins (GET / making a session, then POST /login)"; stats
if [ "$MODE" = throttle ]; then
  redis-cli -p $RP CONFIG RESETSTAT >/dev/null
  for i in $(seq $N); do curl -s -u alice:my-secret -o /dev/null http://127.0.0.1:$HP/secret; done
  echo "== $LABEL: $N Basic requests with the right password (GET /secret, no cookie)"; stats
fi
kill $DPID; kill $RPID; wait 2>/dev/null
