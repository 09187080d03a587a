#!/usr/bin/env bash
# The gate's op tasks (float64) against torch.autograd.gradcheck over PyTorch 1.13's OpInfo
# samples of the same ops, side by side in one run: cases/s and input elements per case per op
# and overall, and gradoracle's op kind (summary.by_kind.op). What each side times: the header of
# tools/gate_vs_torch.py. Needs PyTorch 1.13 (Debian's python3-torch, under /usr/bin/python3, or
# $GRADORACLE_TORCH_PYTHON) and a built gradoracle (tools/main.sh builds build/gradoracle).
# Usage: tools/gate_vs_torch.sh [BUILD_DIR] [--ops a,b] [--cases N] [--repeat R] [--no-sizes] [--profile N]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [[ $# -gt 0 && $1 != --* ]]; then build=$1; shift; fi
if [[ ! -x $build/gradoracle ]]; then
  echo "tools/gate_vs_torch.sh: no $build/gradoracle; build it first (tools/main.sh)" >&2
  exit 2
fi
type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), ${type:-unknown} build $build, $(nproc) cores"
exec "${GRADORACLE_TORCH_PYTHON:-/usr/bin/python3}" tools/gate_vs_torch.py --gradoracle "$build/gradoracle" "$@"
