#!/usr/bin/env bash
# The scaling curve: herald-server (memory store) at each --threads count, driven by
# herald_ws_load's broadcast burst and unicast scenarios. Prints per thread count the burst
# deliveries/s and server CPU per delivery, and the unicast server CPU per publish, then a
# table. Stops what it started (by PID).
#
# Usage:
#   bench/scaling.sh BUILD_DIR [THREADS...]            e.g. bench/scaling.sh build-rel 1 2
# Environment:
#   SERVER_CPUS=0-7 LOAD_CPUS=8-15   pin the server and the generator to their own cores
#                                    (taskset lists; on a larger machine give the generator
#                                    cores of its own, else it competes with the server)
#   RUNS=3                           runs per thread count (each line is printed)
#   LOAD_ARGS="--connections 5000"   more herald_ws_load options (they come last and win;
#                                    the burst is 1,000 broadcasts: 2,000,000 deliveries;
#                                    "--read-every-ms 100": a cheaper, lazier reader)
# On this 2-vCPU VM the generator shares the server's cores: read docs/performance.md.
set -euo pipefail
build=${1:?usage: bench/scaling.sh BUILD_DIR [THREADS...]}
shift
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 "$(nproc)")
server=$build/examples/server/herald-server
load=$build/bench/herald_ws_load
runs=${RUNS:-1}
server_pin=(); [ -n "${SERVER_CPUS:-}" ] && server_pin=(taskset -c "$SERVER_CPUS")
load_pin=(); [ -n "${LOAD_CPUS:-}" ] && load_pin=(taskset -c "$LOAD_CPUS")

pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing listens on port $1" >&2; return 1
}

summary=()
for t in "${threads[@]}"; do
  for run in $(seq "$runs"); do
    port=$(free_port)
    "${server_pin[@]}" "$server" --dev-auth --port "$port" --log-level warn --rate-limit 0 \
        --store memory --threads "$t" 2>/dev/null &
    pid=$!
    wait_port "$port"
    # shellcheck disable=SC2086  # LOAD_ARGS is a list of options
    out=$("${load_pin[@]}" "$load" --port "$port" --server-pid "$pid" --connections 2000 \
          --burst-messages 1000 --scenarios burst,unicast ${LOAD_ARGS:-})
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    echo "== threads $t, run $run"
    echo "$out" | grep -E '^(broadcast burst|unicast:)'
    rate=$(echo "$out" | sed -n 's/^broadcast burst:.* = \([0-9]*\)\/s.*/\1/p')
    per=$(echo "$out" | sed -n 's/^broadcast burst:.* = \([0-9.]*\) us\/delivery.*/\1/p')
    uni=$(echo "$out" | sed -n 's/^unicast: .*server CPU \([0-9.]*\) us per publish.*/\1/p')
    summary+=("$t | $run | $rate | $per | $uni")
  done
done
echo
echo "| threads | run | burst deliveries/s | server CPU per delivery (µs) | unicast server CPU per publish (µs) |"
echo "|---|---|---|---|---|"
for line in "${summary[@]}"; do echo "| $line |"; done
