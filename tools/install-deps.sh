#!/usr/bin/env bash
# Installs the Debian packages gradoracle needs, if any is missing; does nothing when all are
# present (needs root or sudo otherwise).
#   tools/install-deps.sh          what the gate (tools/main.sh) builds with: the compiler,
#                                  CMake, and the libraries the default configure finds
#                                  (GoogleTest included: the tests are configured, not built)
#   tools/install-deps.sh --test   that and what the tests and tools use: PyTorch and numpy
#                                  (/usr/bin/python3), xmllint, valgrind, clang-14 and its
#                                  runtimes (the libFuzzer target), Google Benchmark
set -euo pipefail

gate=(
  build-essential cmake
  libeigen3-dev librapidcheck-dev nlohmann-json3-dev libsimdjson-dev libcli11-dev
  googletest libgtest-dev
)
test=(
  libbenchmark-dev
  python3-torch python3-numpy
  libxml2-utils valgrind
  clang-14 libclang-rt-14-dev
)

case "${1:-}" in
  "") packages=("${gate[@]}") ;;
  --test) packages=("${gate[@]}" "${test[@]}") ;;
  *) echo "usage: tools/install-deps.sh [--test]" >&2; exit 2 ;;
esac

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
