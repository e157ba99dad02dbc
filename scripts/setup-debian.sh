#!/usr/bin/env bash
# Installs the Debian 12 packages convlayer's build, tests and demos need, when missing.
# Usage: scripts/setup-debian.sh [extra-package ...]
set -euo pipefail
packages=(cmake g++ libeigen3-dev libgtest-dev libbenchmark-dev doxygen zlib1g-dev libpng-dev dataset-fashion-mnist clang libclang-rt-14-dev libomp-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup-debian: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
