#!/usr/bin/env bash
# Engine against hand-written Eigen, in one run: prints each benchmark and the ratio
# engine / hand-written per case. Usage: tools/bench.sh [--benchmark_min_time=0.5]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh --test
build=${GRADORACLE_BENCH_DIR:-build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGRADORACLE_BUILD_BENCH=ON -DGRADORACLE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target engine_bench >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$build"/bench/engine_bench --benchmark_format=json --benchmark_min_time="${MIN_TIME:-0.3}" "$@" >"$out"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
runs = {b["name"]: b["real_time"] for b in json.load(open(sys.argv[1]))["benchmarks"]}
print(f"{'case':40s} {'engine':>12s} {'eigen':>12s} {'ratio':>7s}")
for name, t in runs.items():
    if "/engine" not in name:
        continue
    ref = runs.get(name.replace("/engine", "/eigen"))
    if ref:
        print(f"{name.replace('/engine', ''):40s} {t:10.0f}ns {ref:10.0f}ns {t / ref:7.2f}")
PY
