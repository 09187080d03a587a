#!/usr/bin/env bash
# Installs missing Debian packages, then builds and runs every test (ctest), twice:
#   release  build/       Release, -Werror: the whole suite (valgrind.cli included)
#   asan     build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer (-fno-sanitize-recover=all,
#                         halt_on_error, leak checks): the whole suite again but valgrind (the
#                         fuzz target replays all of fixtures/ there: fuzz.replay_corpus)
# and, on request, a third way:
#   fuzz     build-fuzz/  clang-14 libFuzzer target over the fixture reader and interpreter, ASan +
#                         UBSan: the smoke run (ctest -L fuzz, 4,000 inputs from fixtures/)
# A step that fails stops the script (non-zero exit).
# Usage: tools/test.sh [extra ctest args, given to every ctest]
#   GRADORACLE_BUILD_DIR / GRADORACLE_ASAN_BUILD_DIR / GRADORACLE_FUZZ_BUILD_DIR: the build dirs
#   GRADORACLE_TEST_STAGES: which of "release asan fuzz" to run (default "release asan"; the
#   fuzz stage costs ~3 more minutes on 2 cores, tools/fuzz.sh runs the real fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh --test
jobs=$(nproc)
stages=${GRADORACLE_TEST_STAGES:-release asan}
has() { [[ " $stages " == *" $1 "* ]]; }
stamp() { echo "test.sh: $* ($SECONDS s)" >&2; }

if has release; then
  build=${GRADORACLE_BUILD_DIR:-build}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGRADORACLE_WERROR=ON >/dev/null
  cmake --build "$build" -j"$jobs"
  ctest --test-dir "$build" --output-on-failure -j"$jobs" "$@"
  stamp "release build and tests passed"
fi

if has asan; then
  # Sanitizer runtime options: stop at the first report, leaks at exit, stack traces.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:strict_init_order=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
  asan=${GRADORACLE_ASAN_BUILD_DIR:-build-asan}
  # -O1 -g1: quick to compile, line numbers in reports; no NDEBUG, so Eigen's and our asserts run.
  cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DGRADORACLE_SANITIZE=ON -DGRADORACLE_WERROR=ON >/dev/null
  cmake --build "$asan" -j"$jobs"
  ctest --test-dir "$asan" --output-on-failure -j"$jobs" "$@"
  stamp "sanitizer build and tests passed"
fi

if has fuzz; then
  if command -v clang++-14 >/dev/null; then
    fuzz=${GRADORACLE_FUZZ_BUILD_DIR:-build-fuzz}
    cmake -S . -B "$fuzz" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DGRADORACLE_FUZZ=ON -DGRADORACLE_BUILD_TESTS=OFF -DGRADORACLE_BUILD_CLI=OFF -DGRADORACLE_WERROR=ON >/dev/null
    cmake --build "$fuzz" -j"$jobs" --target fixture_fuzz
    ctest --test-dir "$fuzz" --output-on-failure -L fuzz "$@"
    stamp "fuzz smoke passed"
  else
    stamp "clang++-14 not found: fuzz smoke skipped"
  fi
fi
