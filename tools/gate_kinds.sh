#!/usr/bin/env bash
# The gate's tasks, cases, seconds and cases/s per task kind (fixture, op, program, second_order,
# structural), as one `gradoracle check --json` run reports them in summary.by_kind, with the
# commit and the load. Usage: tools/gate_kinds.sh [BUILD_DIR] [check args...]
# Exit: the gate's own code (0 pass, 1 fail, 2 bad usage, 5 nothing checked).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
out=$(mktemp)
trap 'rm -f "$out"' EXIT
code=0
"$build"/gradoracle check --json "$@" >"$out" 2>/dev/null || code=$?
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load$(cut -d' ' -f1-3 /proc/loadavg | sed 's/^/ /'), $(nproc) cores"
python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
print("| kind | tasks | cases | seconds | cases/s |\n|---|---:|---:|---:|---:|")
for kind, k in s["by_kind"].items():
    rate = "-" if k["cases_per_second"] is None else f"{k['cases_per_second']:,.0f}"
    print(f"| {kind} | {k['tasks']} | {k['cases']:,} | {k['seconds']:.2f} | {rate} |")
print(f"| all | {s['tasks']} | {s['cases']:,} | {s['seconds']:.2f} (elapsed) | {s['cases'] / s['seconds']:,.0f} |")
PY
exit "$code"
