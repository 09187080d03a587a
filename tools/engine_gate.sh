#!/usr/bin/env bash
# The gate through an outside engine, against the gate in process, side by side in one run:
# tasks, cases and cases per second by task kind for each, and the tasks the engine fails.
# Usage: tools/engine_gate.sh [BUILD_DIR] --engine CMD [check args...]   e.g.
#   tools/engine_gate.sh build --engine "/usr/bin/python3 tools/torch_fixture.py serve" --time 600
# (the in-process run gets the same arguments without --engine, and its own counterexample dir).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [[ $# -gt 0 && $1 != --* ]]; then build=$1; shift; fi
args=("$@")
inproc=()
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --engine|--engine-timeout) i=$((i + 1)) ;;
    *) inproc+=("${args[i]}") ;;
  esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build"/gradoracle check --json --counterexamples "$tmp/in" "${inproc[@]}" > "$tmp/in.json" 2>/dev/null || true
"$build"/gradoracle check --json --counterexamples "$tmp/out" "${args[@]}" > "$tmp/out.json" 2> "$tmp/out.txt" || true
grep -m1 '^engine:' "$tmp/out.txt" || true
/usr/bin/python3 - "$tmp/in.json" "$tmp/out.json" <<'PY'
import json, sys
runs = [json.load(open(p)) for p in sys.argv[1:3]]
# check --json's summary: by_kind (tasks, cases, seconds summed, cases_per_second), and the totals.
a, b = (r["summary"]["by_kind"] for r in runs)
none = {"tasks": 0, "cases": 0, "seconds": 0.0}
rate = lambda v: f"{v['cases'] / v['seconds']:,.0f}" if v["seconds"] > 0 else "-"
print("| kind | tasks in process | cases | cases/s | tasks through the engine | cases | cases/s |")
print("|---|---:|---:|---:|---:|---:|---:|")
for k in sorted(set(a) | set(b)):
    x, y = a.get(k, none), b.get(k, none)
    print(f"| {k} | {x['tasks']} | {x['cases']:,} | {rate(x)} | {y['tasks']} | {y['cases']:,} | {rate(y)} |")
tot = lambda agg: {f: sum(v[f] for v in agg.values()) for f in none}
x, y = tot(a), tot(b)
print(f"| all | {x['tasks']} | {x['cases']:,} | {rate(x)} | {y['tasks']} | {y['cases']:,} | {rate(y)} |")
failed = [t["id"] for t in runs[1]["tasks"] if t["status"] == "fail"]
print(f"exit codes: in process {runs[0]['exit_code']}, through the engine {runs[1]['exit_code']}; "
      f"failed through the engine: {', '.join(failed) if failed else 'none'}")
PY
