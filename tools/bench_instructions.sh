#!/usr/bin/env bash
# The engine's cost against an earlier revision in instructions, which machine load does not
# change: bench/engine_steps.cpp (the tutorial step and the MLP step of engine_bench) is built
# against the engine of REV (in a scratch worktree) and of the working tree, each runs under
# valgrind's callgrind for N and 2N steps, and the difference (setup cancels) gives instructions
# per step. Prints both and their change. Usage: tools/bench_instructions.sh REV [N]
# Needs valgrind (tools/install-deps.sh --test installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: tools/bench_instructions.sh REV [N]}
n=${2:-2000}
tools/install-deps.sh --test
scratch=$(mktemp -d)
trap 'git worktree remove --force "$scratch/src" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git worktree add -q --detach "$scratch/src" "$rev"
build_steps() {  # source dir, build dir: the engine library at that source, engine_steps from this tree
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRADORACLE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$2" --target gradoracle_engine >/dev/null
  "${CXX:-c++}" -std=c++20 -O3 -DNDEBUG -I"$1/engine/include" -I/usr/include/eigen3 bench/engine_steps.cpp \
    "$2/engine/libgradoracle_engine.a" -o "$2/engine_steps" -pthread
}
build_steps "$scratch/src" "$scratch/old"
build_steps . "$scratch/new"
count() {  # binary, step, steps: instructions executed
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-10s %14s %14s %8s\n' step "$(printf '%.10s' "$rev")" now change
for step in tutorial mlp; do
  steps=$n
  [ "$step" = mlp ] && steps=$((n / 20))  # an MLP step costs ~1000 tutorial steps' worth: fewer
  per() { echo $(( ($(count "$1" "$step" $((2 * steps))) - $(count "$1" "$step" "$steps")) / steps )); }
  old=$(per "$scratch/old/engine_steps")
  new=$(per "$scratch/new/engine_steps")
  /usr/bin/python3 -c "import sys; o, n = int(sys.argv[2]), int(sys.argv[3]); print(f'{sys.argv[1]:10s} {o:14,d} {n:14,d} {100 * (n / o - 1):+7.1f}%')" "$step" "$old" "$new"
done
