#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds, and runs the gate.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
build=${GRADORACLE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)"
"$build"/engine_tutorial "$@"
