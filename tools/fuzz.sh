#!/usr/bin/env bash
# Fuzzes the fixture reader, interpreter and tiny-program gradcheck (fuzz/fixture_fuzz.cpp) with
# libFuzzer under ASan + UBSan, seeded with every .json under corpus/ (bad/ and tutorial/
# included), for SECONDS (default 60). Builds build-fuzz/ with clang-14.
#
#   tools/fuzz.sh [SECONDS] [extra libFuzzer flags, e.g. -jobs=2 -workers=2]
#
# New inputs go to build-fuzz/corpus/, a crash, leak or timeout to build-fuzz/artifacts/ (the
# run then exits non-zero). Each finding becomes a regression fixture: corpus/bad/NAME.json
# (the input, minimised with -minimize_crash=1) and NAME.expected (the error the CLI must print).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
tools/install-deps.sh --test
build=${GRADORACLE_FUZZ_BUILD_DIR:-build-fuzz}
cxx=${GRADORACLE_FUZZ_CXX:-clang++-14}
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGRADORACLE_FUZZ=ON -DGRADORACLE_BUILD_TESTS=OFF -DGRADORACLE_BUILD_CLI=OFF -DGRADORACLE_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target fixture_fuzz
mkdir -p "$build/corpus" "$build/artifacts"
seeds=(corpus)  # read recursively: bad/, tutorial/, nonfinite/, ...
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
set -o pipefail
"$build/fuzz/fixture_fuzz" -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
  -dict=fuzz/fixture.dict -artifact_prefix="$build/artifacts/" -print_final_stats=1 "$@" \
  "$build/corpus" "${seeds[@]}" 2>&1 | tee "$build/fuzz.log" | grep -E "^#|INFO: seed|ERROR|SUMMARY|stat::|Done|==[0-9]+==" | tail -40
