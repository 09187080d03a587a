#!/usr/bin/env python3
"""`check --engine` through PyTorch 1.13 (label torch). Usage: test_engine_torch.py GRADORACLE
REPO_ROOT PYTHON3.

The whole gate runs through tools/torch_fixture.py serve at a few cases per property and
passes; a planted broken adapter (tests/cli/engines/planted_torch.py: softmax's backward 1.5
times too large) fails it, shrinks to a program drawing softmax, and every command the failure
prints fails again through the same adapter."""
import os
import re
import shlex
import subprocess
import sys
import tempfile

from cli_helpers import check, failures

GRADORACLE, ROOT, PYTHON = sys.argv[1], sys.argv[2], sys.argv[3]
TORCH = f"{shlex.quote(PYTHON)} {shlex.quote(os.path.join(ROOT, 'tools', 'torch_fixture.py'))} serve"
PLANTED = f"{shlex.quote(PYTHON)} {shlex.quote(os.path.join(ROOT, 'tests', 'cli', 'engines', 'planted_torch.py'))}"


def gate(*args, timeout=900):
    r = subprocess.run([GRADORACLE, "check", "--no-progress", *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


with tempfile.TemporaryDirectory() as tmp:
    code, out, err = gate("--engine", TORCH, "--cases", "3", "--counterexamples", os.path.join(tmp, "torch"))
    check(code == 0 and "engine: pytorch 1.13" in out and " 0 failed" in out,
          f"the whole gate passes through PyTorch's adapter (exit {code}): {out[-800:]} {err[-300:]}")

    code, out, err = gate("--engine", PLANTED, "--task", "program/float64", "--cases", "300",
                          "--counterexamples", os.path.join(tmp, "planted"))
    shown = re.findall(r"^    (\S*gradoracle\S* .*)$", out, re.M)
    # gradcheck, replay (the shrunk case's finite-difference grads as expects), and two check lines
    check(code == 1 and "FAILED program/float64" in out and "softmax(" in out.split("shrunk case:")[-1] and len(shown) == 4
          and any(" replay " in line for line in shown),
          f"the planted wrong softmax backward fails the gate, shrunk to a program with softmax (exit {code}): {out[-900:]}")
    for line in shown:
        # A printed --reproduce line names no --counterexamples: keep what it saves out of the build tree.
        r = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=600,
                           env={**os.environ, "GRADORACLE_COUNTEREXAMPLE_DIR": os.path.join(tmp, "reproduced")})
        check(r.returncode == 1, f"printed `{line[:100]}...` fails again through the planted adapter (exit {r.returncode})")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
