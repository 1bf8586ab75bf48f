#!/usr/bin/env bash
# Installs what herald needs to build and test on Debian 12, only if it is missing.
# Usage: scripts/deps.sh            (as root, or with sudo available)
set -euo pipefail

# redis-server, postgresql and nginx-light are for the tests (they start private instances
# on free loopback ports); python3 for scripts/check-install.sh; the rest builds herald.
packages=(g++ cmake make pkgconf python3 libasio-dev nlohmann-json3-dev doctest-dev
          libwebsocketpp-dev libhttp-parser-dev libcli11-dev libspdlog-dev libsimdjson-dev
          libhiredis-dev redis-server libpq-dev postgresql libsqlite3-dev nginx-light libjwt-dev
          libssl-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "herald: installing missing packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
