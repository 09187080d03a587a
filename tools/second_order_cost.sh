#!/usr/bin/env bash
# Second order against first order on the same programs (issue 18, goal 5), side by side in one
# run. The programs: N random float64 fixtures written by PyTorch (tools/torch_fixture.py
# random-programs, as tools/checker_throughput.sh; kept under the build directory). Prints:
#  1. bench/second_order_cost: per program, fixtures::gradcheck_fixture (first order),
#     oracle::gradgradcheck of the same function, and the gate's second-order fixture form of it
#     (an upstream leaf, grad_of with create_graph, a backward of each gradient), CPU time, best
#     of R interleaved runs; totals, ratios, per-program median and 90th percentile ratios;
#  2. the same three as instructions (callgrind, reading and setup not counted; skip: --no-callgrind);
#  3. the CLI: `gradoracle gradcheck --jobs 1` over the first-order files against the
#     second-order files (written by step 1), whole process, user+system CPU time (getrusage), best of R
#     interleaved runs;
#  4. the gate: CPU time per case of its op2/* and program2/* tasks against op/* and program/*
#     (`gradoracle check --task`, whole process less the start-up of a one-fixture run), each
#     the best of up to 3 interleaved runs.
# Usage: tools/second_order_cost.sh [--repeat R] [--no-callgrind]   env: N (300), SEED (1),
# GRADORACLE_BENCH_DIR (build-bench). PyTorch (for the fixtures) runs under /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=5
callgrind=1
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat=$2; shift 2 ;;
    --no-callgrind) callgrind=0; shift ;;
    *) echo "usage: tools/second_order_cost.sh [--repeat R] [--no-callgrind]" >&2; exit 2 ;;
  esac
done
tools/install-deps.sh --test
build=${GRADORACLE_BENCH_DIR:-build-bench}
n=${N:-300}
seed=${SEED:-1}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGRADORACLE_BUILD_BENCH=ON -DGRADORACLE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target gradoracle second_order_cost >/dev/null
dir="$build/throughput-fixtures/float64-s$seed-n$n"
if [ ! -f "$dir/.done" ]; then
  rm -rf "$dir"
  /usr/bin/python3 tools/torch_fixture.py random-programs "$n" --seed "$seed" --dtype float64 --out "$dir" >/dev/null
  touch "$dir/.done"
fi
second="$build/throughput-fixtures/second-order-float64-s$seed-n$n"
rm -rf "$second"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (modified)'); load:$(uptime | sed 's/.*load average//')"
echo
echo "== 1. in process, CPU time"
"$build"/bench/second_order_cost "$dir" --repeat "$repeat" --write-second-order "$second"
if [ "$callgrind" = 1 ]; then
  echo
  echo "== 2. in process, instructions (callgrind)"
  first=""
  for kind in first second fixture2; do
    ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no --toggle-collect='*measured_kind*' \
      "$build"/bench/second_order_cost "$dir" --only "$kind" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    first=${first:-$ir}
    /usr/bin/python3 -c "import sys; k, i, f = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]); print(f'{k:9s} {i:15,d} {i / f:6.2f}x')" "$kind" "$ir" "$first"
  done
fi
echo
echo "== 3. gradoracle gradcheck --jobs 1, whole process, user+system CPU time"
/usr/bin/python3 - "$build/gradoracle" "$dir" "$second" "$repeat" <<'EOF'
import resource, subprocess, sys
exe, first, second, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# getrusage, not os.times: times() counts in clock ticks (10 ms here), a third of a 30 ms run.
def children_cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime
best = {}
for r in range(repeat):
    for name, d in ([("first order", first), ("second order", second)][:: 1 if r % 2 == 0 else -1]):
        before = children_cpu()
        p = subprocess.run([exe, "gradcheck", "--jobs", "1", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu = children_cpu() - before
        best[name] = min(best.get(name, 1e9), cpu)
        if p.returncode not in (0, 1):
            sys.exit(f"gradoracle gradcheck {d} exited {p.returncode}")
print(f"first order   {1e3 * best['first order']:8.1f} ms")
print(f"second order  {1e3 * best['second order']:8.1f} ms  {best['second order'] / best['first order']:.2f}x")
EOF
echo
gate_runs=$((repeat < 3 ? repeat : 3))
echo "== 4. the gate: CPU time per case by task set, each the best of $gate_runs interleaved \`gradoracle check --task\` runs"
/usr/bin/python3 - "$build/gradoracle" "$gate_runs" <<'EOF'
import json, resource, subprocess, sys
exe, runs = sys.argv[1], int(sys.argv[2])
def children_cpu():  # getrusage's microseconds (os.times counts 10 ms ticks)
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime
sets = {"start": "fixture/tutorial/1-simple-example", "op": "op/*", "op2": "op2/*", "program": "program/*", "program2": "program2/*"}
best, cases = {}, {}
for r in range(runs):
    for name, pattern in list(sets.items())[:: 1 if r % 2 == 0 else -1]:
        before = children_cpu()
        out = subprocess.run([exe, "check", "--json", "--task", pattern], capture_output=True, text=True).stdout
        cpu = children_cpu() - before
        best[name] = min(best.get(name, 1e9), cpu)
        cases[name] = json.loads(out)["summary"]["cases"]
per = {k: (best[k] - best["start"]) / cases[k] for k in sets if k != "start"}  # start-up (reading the corpus) taken off
for first, second in (("op", "op2"), ("program", "program2")):
    print(f"{second:9s} first order {1e6 * per[first]:7.0f} us/case, second order {1e6 * per[second]:7.0f} us/case: {per[second] / per[first]:.2f}x")
EOF
