#!/usr/bin/env bash
# tools/main.sh keeps the gate's exit codes (0 pass, 1 a gradient is wrong, 2 bad input) for
# the gate: a build directory that cannot be configured (under a regular file) is exit 3,
# named on stderr, and runs nothing.
# Usage: main_setup_failure_test.sh SOURCE_DIR
set -uo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/file"
GRADORACLE_BUILD_DIR="$tmp/file/build" "$src/tools/main.sh" --cases 1 >"$tmp/out" 2>"$tmp/err"
rc=$?
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1" >&2; fail=1; fi; }
check "a configure failure is exit 3 (got $rc)" "[[ $rc == 3 ]]"
check "stderr names the step and the build dir" "grep -q 'main.sh: configuring $tmp/file/build (cmake) failed' '$tmp/err'"
check "the gate did not run" "! grep -q 'gradoracle check' '$tmp/out'"
cat "$tmp/err"
exit $fail
