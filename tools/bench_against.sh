#!/usr/bin/env bash
# The engine's speed against an earlier revision, side by side: builds engine_bench at REV (in a
# scratch worktree) and at the working tree, runs them alternately ROUNDS times (default 5), and
# prints per case each side's best engine / hand-written-Eigen ratio and their change. Ratios, not
# times, are compared: each is measured against Eigen in the same process, so machine load cancels.
# Usage: tools/bench_against.sh REV [ROUNDS]      (e.g. tools/bench_against.sh 5ffb3c1)
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: tools/bench_against.sh REV [ROUNDS]}
rounds=${2:-5}
tools/install-deps.sh --test
scratch=$(mktemp -d)
trap 'git worktree remove --force "$scratch/src" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git worktree add -q --detach "$scratch/src" "$rev"
build_bench() {  # source dir, build dir
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRADORACLE_BUILD_BENCH=ON -DGRADORACLE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$2" --target engine_bench >/dev/null
}
build_bench "$scratch/src" "$scratch/old"
build_bench . "${GRADORACLE_BENCH_DIR:-build-bench}"
for r in $(seq "$rounds"); do
  "$scratch/old/bench/engine_bench" --benchmark_format=json --benchmark_min_time="${MIN_TIME:-0.2}" >"$scratch/old-$r.json"
  "${GRADORACLE_BENCH_DIR:-build-bench}/bench/engine_bench" --benchmark_format=json --benchmark_min_time="${MIN_TIME:-0.2}" >"$scratch/new-$r.json"
done
/usr/bin/python3 - "$scratch" "$rounds" "$rev" <<'PY'
import json, sys
scratch, rounds, rev = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def ratios(side):
    best = {}
    for r in range(1, rounds + 1):
        runs = {b["name"]: b["real_time"] for b in json.load(open(f"{scratch}/{side}-{r}.json"))["benchmarks"]}
        for name, t in runs.items():
            ref = runs.get(name.replace("/engine", "/eigen"))
            if "/engine" in name and ref:
                case = name.replace("/engine", "")
                best[case] = min(best.get(case, float("inf")), t / ref)
    return best
old, new = ratios("old"), ratios("new")
print(f"{'case (engine / Eigen, best of ' + str(rounds) + ')':44s} {rev[:10]:>10s} {'now':>8s} {'change':>8s}")
for case in old:
    if case in new:
        print(f"{case:44s} {old[case]:10.3f} {new[case]:8.3f} {100 * (new[case] / old[case] - 1):+7.1f}%")
PY
