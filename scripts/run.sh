#!/usr/bin/env bash
# Installs what is missing, builds herald and runs its main program on the embedded default
# (in-memory backends, no external servers). Until herald-server exists this is the
# embedding example, which publishes a notification and receives it in process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target herald_embed
exec ./build/examples/herald_embed
