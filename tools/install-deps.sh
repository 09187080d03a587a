#!/usr/bin/env bash
# Installs the Debian packages gradoracle builds and tests with, if any is missing
# (clang-14 and its runtimes for the libFuzzer target, valgrind for tools/valgrind.sh).
# Usage: tools/install-deps.sh          (needs root or sudo; does nothing when all are present)
set -euo pipefail

packages=(
  build-essential cmake
  libeigen3-dev librapidcheck-dev googletest libgtest-dev nlohmann-json3-dev
  libcli11-dev libbenchmark-dev
  python3-torch python3-numpy
  libxml2-utils valgrind
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) != 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
