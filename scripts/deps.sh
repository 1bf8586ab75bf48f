#!/usr/bin/env bash
# Installs what herald needs to build and test on Debian 12, only if it is missing.
# Usage: scripts/deps.sh [--tests]    (as root, or with sudo available)
#   --tests: also what the client tests need (Chromium, Node.js, their npm packages) and
#            what the fuzz targets need (clang-14, libclang-rt-14-dev)
set -euo pipefail

# redis-server, postgresql and nginx-light are for the tests (they start private instances
# on free loopback ports); python3 for scripts/check-install.sh; the rest builds herald.
packages=(g++ cmake make pkgconf python3 libasio-dev nlohmann-json3-dev doctest-dev
          libwebsocketpp-dev libhttp-parser-dev libcli11-dev libspdlog-dev libsimdjson-dev
          libhiredis-dev redis-server libpq-dev postgresql libsqlite3-dev nginx-light libjwt-dev
          libssl-dev)

# The client tests (tests/clients, HERALD_CLIENT_TESTS): chromium, and Node 20+ with npm.
# A node or npm already on PATH (e.g. NodeSource's, which brings npm) is kept.
# The fuzz targets (scripts/fuzz.sh, HERALD_FUZZ): clang 14 and its libFuzzer runtime.
tests=false
[ "${1:-}" = "--tests" ] && tests=true
if $tests; then
  packages+=(chromium clang-14 libclang-rt-14-dev)
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "herald: installing missing packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The client tests' npm packages, pinned by their lock file: installed when missing or
# older than the lock.
clients="$(dirname "$0")/../tests/clients"
if $tests && { [ ! -d "$clients/node_modules" ] || [ "$clients/package-lock.json" -nt "$clients/node_modules" ]; }; then
  echo "herald: npm ci --prefix tests/clients"
  npm ci --prefix "$clients" --no-audit --no-fund >/dev/null
  touch "$clients/node_modules"
fi
