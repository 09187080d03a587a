#!/usr/bin/env bash
# Checker throughput: `gradoracle gradcheck` over a directory of random-program fixtures
# against torch.autograd.gradcheck on the same files, in the same run; prints both times and
# the ratio (tools/checker_throughput.py). The fixtures are written by torch
# (tools/torch_fixture.py random-programs, float64) once and kept under the build directory.
# --read: then the reader over the same files (bench/fixture_read_bench, best of 10 interleaved
# repetitions): the reader's time against simdjson's raw parse and against the event reader on
# nlohmann's lexer (what reads text simdjson does not parse).
# Usage: tools/checker_throughput.sh [--fast] [--repeat R] [--baseline BIN] [--read]   env: N (300), SEED (1)
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
read=0
args=()
for a in "$@"; do
  if [ "$a" = --read ]; then read=1; else args+=("$a"); fi
done
status=0
/usr/bin/python3 tools/checker_throughput.py --gradoracle "$build/gradoracle" "${args[@]}" "$dir" || status=$?
if [ "$read" = 1 ]; then
  cmake --build "$build" -j"$(nproc)" --target fixture_read_bench >/dev/null
  GRADORACLE_READ_BENCH_DIR="$dir" "$build/bench/fixture_read_bench" --benchmark_repetitions=10 \
    --benchmark_enable_random_interleaving=true --benchmark_format=csv 2>/dev/null |
    awk -F, '/^"BM_/ && !/_(mean|median|stddev|cv)"/ {
        n = $1; gsub(/"/, "", n); t = $3
        if (!(n in best) || t < best[n]) best[n] = t }
      END {
        r = best["BM_ParseFixtureText"]; s = best["BM_SimdjsonParse"]; l = best["BM_ParseFixtureTextNlohmannEvents"]
        printf "reading the files (best of 10): parse_fixture_text %.2f ms, simdjson parse alone %.3f ms, the event reader on nlohmann'"'"'s lexer %.2f ms\n", r, s, l
        printf "reader / simdjson parse: %.1fx; event reader on nlohmann / reader: %.2fx\n", r / s, l / r }'
fi
exit "$status"
