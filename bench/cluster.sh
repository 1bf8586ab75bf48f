#!/usr/bin/env bash
# Multi-instance benchmark: a private redis-server and PostgreSQL, two herald-server
# instances `a` and `b` on both; the load generator's clients connect to b, and unicast
# publishes go through a, so every notification crosses instances through Redis.
# Prints the ws_load figures plus Redis commands per notification. Stops what it started.
#
# Usage (as root; PostgreSQL runs as the postgres user):
#   bench/cluster.sh build-rel [ws_load options, e.g. --unicast-rate 5000 --connections 2000]
# PG_SETTINGS="-c synchronous_commit=off" bench/cluster.sh …  passes settings to PostgreSQL
# (the default is durable: every append waits for its WAL flush).
# SERVER_ARGS="--threads 1" bench/cluster.sh …  passes flags to both herald-server instances.
# SAME_INSTANCE=1 bench/cluster.sh …  publishes through b itself: the same store and registry
# work without the relay, to tell the store's share of the latency from the relay's.
set -euo pipefail
build=${1:?usage: bench/cluster.sh BUILD_DIR [ws_load options]}
shift
server=$build/examples/server/herald-server
load=$build/bench/herald_ws_load
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

work=$(mktemp -d /tmp/herald-cluster-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -d "$work/pg/data" ] && runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing listens on port $1" >&2; return 1
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
             --logfile "$work/redis.log" &
pids+=($!)

mkdir "$work/pg" && chown postgres "$work/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres >/dev/null
pg_port=$(free_port)
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
        -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 ${PG_SETTINGS:-}" start >/dev/null
postgres_url="postgresql://postgres@127.0.0.1:$pg_port/postgres"
wait_port "$redis_port"

a_port=$(free_port)
b_port=$(free_port)
# --rate-limit 0: the load generator publishes without a sender from one address (one bucket).
common=(--redis "redis://127.0.0.1:$redis_port" --postgres "$postgres_url" --log-level warn
        --rate-limit 0 ${SERVER_ARGS:-})
"$server" --dev-auth --port "$a_port" --instance-id a "${common[@]}" & a_pid=$!
pids+=("$a_pid")
wait_port "$a_port"
"$server" --dev-auth --port "$b_port" --instance-id b "${common[@]}" & b_pid=$!
pids+=("$b_pid")
wait_port "$b_port"
echo "redis :$redis_port, postgres :$pg_port, instance a :$a_port (pid $a_pid), b :$b_port (pid $b_pid)"

publish_to=(--publish-port "$a_port" --publish-pid "$a_pid")
[ -n "${SAME_INSTANCE:-}" ] && publish_to=()
"$load" --port "$b_port" --server-pid "$b_pid" "${publish_to[@]}" \
        --redis-port "$redis_port" --scenarios unicast "$@"
