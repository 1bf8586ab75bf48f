#!/usr/bin/env bash
# Installs what is missing, builds herald-server and runs it on the embedded default: the
# store in SQLite at ./herald.db (kept across restarts; --store memory for a throwaway one),
# in-memory broker and registry, development authentication, http://127.0.0.1:8080
# (WebSocket at /ws).
# Extra arguments go to herald-server (see herald-server --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_BUILD_TESTS=OFF \
      -DHERALD_WITH_REDIS=ON -DHERALD_WITH_POSTGRES=ON -DHERALD_WITH_SQLITE=ON >/dev/null
cmake --build build -j"$(nproc)" --target herald_server
exec ./build/examples/server/herald-server --dev-auth "$@"
