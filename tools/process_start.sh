#!/usr/bin/env bash
# Process start (issue 18): `gradoracle --version` against a C++ hello world built with the
# same compiler and Release flags, 200 interleaved starts each; prints both times (best and
# median) and the difference (tools/process_start.py). Uses the checker-throughput build.
# Usage: tools/process_start.sh [--repeat R] [GRADORACLE_ARGS...]   env: GRADORACLE_BENCH_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=${GRADORACLE_BENCH_DIR:-build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGRADORACLE_BUILD_BENCH=ON -DGRADORACLE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target gradoracle >/dev/null
hello="$build/process-start/hello"
mkdir -p "$(dirname "$hello")"
printf '#include <iostream>\nint main() { std::cout << "hello world\\n"; }\n' >"$hello.cpp"
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:FILEPATH=//p' "$build/CMakeCache.txt")
flags=$(sed -n 's/^CMAKE_CXX_FLAGS_RELEASE:STRING=//p' "$build/CMakeCache.txt")
# shellcheck disable=SC2086
"$cxx" -std=c++20 $flags "$hello.cpp" -o "$hello"
exec /usr/bin/python3 tools/process_start.py --gradoracle "$build/gradoracle" --hello "$hello" "$@"
