#!/usr/bin/env bash
# The gate's tasks, cases and seconds per task kind (fixture, op, program, second_order,
# structural), from one `gradoracle check --json` run. Usage: tools/gate_kinds.sh [BUILD_DIR] [check args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
"$build"/gradoracle check --json "$@" 2>/dev/null | /usr/bin/python3 -c '
import collections, json, sys
r = json.load(sys.stdin)
agg = collections.defaultdict(lambda: [0, 0, 0.0])
for t in r["tasks"]:
    a = agg[t["kind"]]; a[0] += 1; a[1] += t["cases"]; a[2] += t["seconds"]
print(f"| kind | tasks | cases | seconds |\n|---|---:|---:|---:|")
for k in sorted(agg): print(f"| {k} | {agg[k][0]} | {agg[k][1]:,} | {agg[k][2]:.2f} |")
'
