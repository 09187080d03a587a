#!/usr/bin/env python3
"""The gate's throughput scripts, run in a tiny configuration, their printed lines checked.

  test_gate_tools.py kinds BUILD_DIR SOURCE_DIR   tools/gate_kinds.sh: its table is summary.by_kind
  test_gate_tools.py steps BUILD_DIR SOURCE_DIR   tools/step_times.py over a script of three calls
  test_gate_tools.py torch BUILD_DIR SOURCE_DIR   tools/gate_vs_torch.sh over three ops: its table,
      its overall lines, its --profile, and the gradoracle command it prints, run again, giving
      the same cases"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_helpers import check, failures  # noqa: E402

mode, build, src = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
exe = os.path.join(build, "gradoracle")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


def gate_json(args):
    with tempfile.TemporaryDirectory() as ce:
        r = run([exe, "check", "--json", *args, "--counterexamples", ce])
    return json.loads(r.stdout) if r.stdout.strip() else {}


if mode == "kinds":
    args = ["--cases", "2", "--seed", "4"]
    with tempfile.TemporaryDirectory() as ce:  # no case saved by another test is re-run first
        r = run([os.path.join(src, "tools", "gate_kinds.sh"), build, *args], env={**os.environ, "GRADORACLE_COUNTEREXAMPLE_DIR": ce})
    check(r.returncode == 0, f"tools/gate_kinds.sh passes, exit 0 (got {r.returncode}: {r.stderr[-500:]})")
    check(re.match(r"commit \S+, load [\d.]+ [\d.]+ [\d.]+, \d+ cores\n", r.stdout), "it states the commit and the load")
    rows = dict(re.findall(r"^\| (\w+) \| (\d+ \| [\d,]+) \|", r.stdout, re.M))
    by_kind = gate_json(args).get("summary", {}).get("by_kind", {})
    check(by_kind and {k: f"{v['tasks']} | {v['cases']:,}" for k, v in by_kind.items()} == {k: v for k, v in rows.items() if k != "all"},
          f"its rows are the run's summary.by_kind: tasks and cases ({rows})")
    check("all" in rows, "and a total row")
elif mode == "steps":
    # tools/step_times.py over a script of three calls: each is listed, the slowest first, with
    # the sum; the script's output and exit status come through.
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "three_calls.py")
        with open(script, "w") as f:
            f.write("import subprocess, sys\n"
                    f"subprocess.run([{exe!r}, '--version'], capture_output=True)\n"
                    f"subprocess.run([{exe!r}, 'ops'], capture_output=True)\n"
                    "subprocess.run([sys.executable, '-c', 'import time; time.sleep(0.3)'])\n"
                    "print('three calls made', sys.argv[1:])\n"
                    "sys.exit(3)\n")
        r = run([sys.executable, os.path.join(src, "tools", "step_times.py"), "--top", "2", script, "an-arg"])
    out = r.stdout
    check(r.returncode == 3 and "three calls made ['an-arg']" in out, f"the script runs with its arguments, its exit kept ({r.returncode}: {out[-300:]})")
    listed = re.findall(r"^  +([\d.]+) s  (.*)$", out, re.M)
    check(re.search(r"^step_times: 3 subprocess\.run calls, [\d.]+ s in all; the slowest:$", out, re.M) and len(listed) == 2
          and "time.sleep(0.3)" in listed[0][1] and float(listed[0][0]) >= 0.3 and float(listed[0][0]) >= float(listed[1][0]),
          f"the two slowest calls, the slowest (the 0.3 s sleep) first, and the count ({listed})")
else:
    ops = ["exp", "softmax", "cat"]
    r = run([os.path.join(src, "tools", "gate_vs_torch.sh"), build, "--ops", ",".join(ops), "--cases", "6", "--repeat", "2", "--profile", "5"])
    out = r.stdout
    check(r.returncode == 0, f"tools/gate_vs_torch.sh passes, exit 0 (got {r.returncode}: {r.stderr[-1000:]})")
    check(re.match(r"commit \S+, \w+ build \S+, \d+ cores\n", out), "it states the commit and the build")
    check(re.search(r"^torch 1\.13\S*: .* best of 2 interleaved runs; load [\d.]+ [\d.]+ [\d.]+$", out, re.M),
          "it states torch's version, the repeats and the load")
    rows = {m[0]: m for m in re.findall(r"^\| (\w+) \| ([\w., ]+) \| (\d+) \| ([\d.]+) \| ([\d,]+) \| (\d+) \| ([\d.]+) \| ([\d,]+) \| ([\d.]+)x \|$", out, re.M)}
    check(sorted(rows) == sorted(ops), f"one full row per op: torch's samples and gradoracle's cases, sizes and rates ({sorted(rows)})")
    # The printed gradoracle command, run again: the same tasks and cases.
    line = re.search(r"^gradoracle: (.*)  \(and --counterexamples in a new empty folder\)$", out, re.M)
    cmd = shlex.split(line.group(1)) if line else []
    check(cmd[:2] == [exe, "check"] and "--json" in cmd, f"it prints the gradoracle command it ran ({cmd[:3]})")
    rep = gate_json(cmd[2:]) if cmd else {}
    tasks = {t["op"]: t for t in rep.get("tasks", [])}
    check(sorted(tasks) == sorted(ops) and all(rows.get(op, [0] * 6)[5] == str(tasks[op]["cases"]) for op in tasks),
          "the command, run again, checks the same ops and as many cases as the table says")
    kind = rep.get("summary", {}).get("by_kind", {}).get("op", {})
    check(re.search(rf"^gradoracle's op kind in its best run \(summary\.by_kind\.op\): {kind.get('tasks')} tasks, "
                    rf"{kind.get('cases')} cases in [\d.]+ s, [\d,]+ cases/s$", out, re.M),
          "its op-kind line has the command's summary.by_kind.op tasks and cases")
    total = re.search(r"^  gradoracle: (\d+) cases in [\d.]+ s, [\d,]+ cases/s, ([\d.]+) input elements/case", out, re.M)
    check(total and int(total.group(1)) == kind.get("cases"), "the overall gradoracle line counts the same cases")
    check(re.search(r"^  torch: (\d+) cases in [\d.]+ s, [\d,]+ cases/s, [\d.]+ input elements/case, [\d,]+ input elements/s$", out, re.M)
          and re.search(r"^  ratio in cases/s: [\d.]+x over all torch's cases, [\d.]+x over its small ones$", out, re.M)
          and re.search(r"^  ratio in input elements/s: [\d.]+x over all torch's cases, [\d.]+x over its small ones$", out, re.M),
          "the overall torch line and the ratios, per case and per input element")
    check(re.search(r"^  in CPU time \(best pass of each; torch: its gradcheck calls; gradoracle: its whole process\): torch [\d.]+ s "
                    r"\([\d.]+ s for the small ones\), gradoracle [\d.]+ s: ratio in cases/s [\d.]+x over all torch's cases, "
                    r"[\d.]+x over its small ones; in input elements/s [\d.]+x, [\d.]+x$", out, re.M),
          "the ratios in CPU time")
    prof = out.split("torch's side once more under cProfile (times inflated by the profiler; not in the figures above):\n")
    check(len(prof) == 2 and "torch/autograd/gradcheck.py" in prof[1] and "Ordered by: cumulative time" in prof[1],
          "--profile: torch's side profiled once more, after the figures")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
