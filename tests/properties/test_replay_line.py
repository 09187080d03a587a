#!/usr/bin/env python3
"""The replay line a failing property prints (expect_passes) runs as printed, from any
directory, and fails again on the same shrunk case.

usage: test_replay_line.py PLANTED_PROPERTY_PROGRAM"""
import os
import re
import subprocess
import sys
import tempfile

exe = sys.argv[1]
env = {k: v for k, v in os.environ.items() if k != "RC_PARAMS"}


def shrunk(text):
    m = re.search(r"^shrunk case:\n(.*?)\n(?:fixture|replay):", text, re.S | re.M)
    return m.group(1) if m else None


first = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=60)
lines = [l for l in first.stdout.splitlines() if l.startswith("replay: ")]
ok = first.returncode == 1 and len(lines) == 1 and shrunk(first.stdout)
if ok:
    with tempfile.TemporaryDirectory() as elsewhere:  # not the build directory: the line names its program
        again = subprocess.run(["bash", "-c", lines[0][len("replay: "):]], capture_output=True, text=True,
                               env=env, cwd=elsewhere, timeout=60)
    ok = again.returncode == 1 and shrunk(again.stdout) == shrunk(first.stdout) and "1 FAILED TEST" in again.stdout
    print(f"`{lines[0]}` exits {again.returncode}, shrunk case {shrunk(again.stdout)!r} "
          f"(first run: {shrunk(first.stdout)!r})")
else:
    print(f"the planted property did not fail with one replay line (exit {first.returncode}):\n{first.stdout[-2000:]}")
print("ok" if ok else "FAIL")
sys.exit(0 if ok else 1)
