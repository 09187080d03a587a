#!/usr/bin/env bash
# Cost growth of the gradient checker with the input size N (f = sum(x·x), float64), full and
# fast mode, N = 10 … 100 000, in one run; prints a table with the evaluations of f per check,
# the time per evaluation, and the log-log slope of time against N between successive sizes
# (full: 2 → N evaluations of O(N) each; fast: 1 → a fixed count of evaluations). Times are
# CPU times of the single-threaded check (wall time on a shared machine counts the neighbours).
# Usage: tools/cost_growth.sh [--benchmark_filter=...]   (full mode at 100 000: ~30 s of CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh --test
build=${GRADORACLE_BENCH_DIR:-build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGRADORACLE_BUILD_BENCH=ON -DGRADORACLE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target cost_growth_bench >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$build"/bench/cost_growth_bench --benchmark_format=json --benchmark_min_time="${MIN_TIME:-0.3}" "$@" >"$out"
/usr/bin/python3 - "$out" <<'PY'
import json, math, sys
rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    _, mode, n = b["name"].split("/")
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
    rows.setdefault(mode, {})[int(n)] = (b["cpu_time"] * scale, b["evals"])  # CPU time: the machine is shared
print(f"{'N':>7s} | {'full':>10s} {'evals':>7s} {'per eval':>9s} {'slope':>5s} | "
      f"{'fast':>9s} {'evals':>5s} {'per eval':>9s} {'slope':>5s}")
sizes = sorted(set().union(*[set(r) for r in rows.values()]))
def cells(mode, n, prev):
    if n not in rows.get(mode, {}):
        return None
    t, e = rows[mode][n]
    slope = ""
    if prev in rows.get(mode, {}):
        slope = f"{math.log(t / rows[mode][prev][0]) / math.log(n / prev):.2f}"
    show = f"{t:8.3f} s" if t >= 1 else f"{t * 1e3:7.2f} ms"
    return show, f"{e:.0f}", f"{t / e * 1e6:7.1f}µs", slope
prev = None
for n in sizes:
    line = f"{n:7d} |"
    for mode, w in (("full", (10, 7, 9, 5)), ("fast", (9, 5, 9, 5))):
        c = cells(mode, n, prev) or ("-",) * 4
        line += " " + " ".join(f"{v:>{k}s}" for v, k in zip(c, w)) + " |"
    print(line.rstrip(" |"))
    prev = n
print("slope: d log(time) / d log(N) from the size above (full ≈ 2, fast ≈ 1 once O(N) work dominates)")
PY
