#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds `gradoracle`, and runs the gate,
# `gradoracle check`: the tutorial fixtures (embedded), every op's gradcheck in both dtypes,
# random programs and the structural properties. Arguments go to `check`, e.g.
#   tools/main.sh --seed 7 --time 30 --shard 0/4 --junit gate.xml
# Exit status: 0 pass, 1 a gradient is wrong, 2 bad input or usage.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
build=${GRADORACLE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target gradoracle
exec "$build"/gradoracle check "$@"
