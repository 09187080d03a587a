#!/usr/bin/env bash
# The main job: installs the missing Debian packages the gate needs (tools/install-deps.sh),
# builds `gradoracle`, and runs the gate, `gradoracle check`: the tutorial fixtures (embedded),
# every op's gradcheck in both dtypes, random programs and the structural properties.
# Arguments go to `check`, e.g.
#   tools/main.sh --seed 7 --time 30 --shard 0/4 --junit gate.xml
# Exit status: the gate's — 0 pass, 1 a gradient is wrong, 2 bad input or usage — or 3 when the
# gate could not be set up (installing packages, configuring or building failed; nothing checked).
# GRADORACLE_BUILD_DIR: the build directory (default build).
set -uo pipefail
cd "$(dirname "$0")/.."
setup_failed() {
  echo "main.sh: $1 failed (exit $2): the gate did not run; exit 3" >&2
  exit 3
}
tools/install-deps.sh || setup_failed "installing the packages (tools/install-deps.sh)" $?
build=${GRADORACLE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null || setup_failed "configuring $build (cmake)" $?
cmake --build "$build" -j"$(nproc)" --target gradoracle || setup_failed "building $build/gradoracle" $?
exec "$build"/gradoracle check "$@"
