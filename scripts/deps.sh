#!/usr/bin/env bash
# Installs what herald needs to build and test on Debian 12, only if it is missing.
# Usage: scripts/deps.sh            (as root, or with sudo available)
set -euo pipefail

packages=(g++ cmake make libasio-dev nlohmann-json3-dev doctest-dev
          libwebsocketpp-dev libhttp-parser-dev libcli11-dev libspdlog-dev
          pkgconf python3)  # the last two for scripts/check-install.sh

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
