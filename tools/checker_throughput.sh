#!/usr/bin/env bash
# Checker throughput: `gradoracle gradcheck` over a directory of random-program fixtures
# against torch.autograd.gradcheck on the same files, in the same run; prints both times and
# the ratio (tools/checker_throughput.py). The fixtures are written by torch
# (tools/torch_fixture.py random-programs, float64) once and kept under the build directory.
# Usage: tools/checker_throughput.sh [--fast] [--repeat R] [--baseline BIN]   env: N (300), SEED (1)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh --test
build=${GRADORACLE_BENCH_DIR:-build-bench}
n=${N:-300}
seed=${SEED:-1}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGRADORACLE_BUILD_BENCH=ON -DGRADORACLE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target gradoracle >/dev/null
dir="$build/throughput-fixtures/float64-s$seed-n$n"
if [ ! -f "$dir/.done" ]; then
  rm -rf "$dir"
  /usr/bin/python3 tools/torch_fixture.py random-programs "$n" --seed "$seed" --dtype float64 --out "$dir" >/dev/null
  touch "$dir/.done"
fi
exec /usr/bin/python3 tools/checker_throughput.py --gradoracle "$build/gradoracle" "$@" "$dir"
