#!/usr/bin/env python3
"""Runs one of the Python test scripts with each subprocess.run timed: where a slow test spends
its time (docs/performance.md, "Goal 2": the steps of cli.engine under ASan).

Usage: tools/step_times.py [--top N] TEST_SCRIPT ARGS...   (the script's own arguments, as ctest
gives them: see tests/cli/CMakeLists.txt). Prints the script's output, then the N slowest calls
(default 10) and the sum. The script runs under the interpreter given (use /usr/bin/python3 for
the tests that import torch)."""
import os
import runpy
import subprocess
import sys
import time

top = 10
args = sys.argv[1:]
if args[:1] == ["--top"]:
    top, args = int(args[1]), args[2:]
if not args:
    sys.exit(__doc__)
calls = []
_run = subprocess.run


def timed_run(argv, *a, **k):
    t = time.monotonic()
    try:
        return _run(argv, *a, **k)
    finally:
        shown = " ".join(argv) if isinstance(argv, (list, tuple)) else str(argv)
        calls.append((time.monotonic() - t, shown))


subprocess.run = timed_run
script = args[0]
sys.argv = args
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
code = 0
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
print(f"\nstep_times: {len(calls)} subprocess.run calls, {sum(s for s, _ in calls):.2f} s in all; the slowest:")
for seconds, shown in sorted(calls, reverse=True)[:top]:
    print(f"  {seconds:8.2f} s  {shown[:160]}")
sys.exit(code)
