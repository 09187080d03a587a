#!/usr/bin/env python3
"""The engine against PyTorch through fixtures, both ways:
  0. the corpus the gate embeds (tutorial, examples, semantics, nonfinite, second_order) replayed in torch;
  1. `gradoracle generate` (every op, random programs, float64 and float32) replayed in torch;
  2. `torch_fixture.py random-programs` (recorded by torch; a quarter second order) replayed and gradchecked by
     gradoracle.

usage: torch_crosscheck.py GRADORACLE SOURCE_DIR [PROGRAMS_PER_SIDE]"""
import os
import subprocess
import sys
import tempfile

exe, src = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 160
torch_fixture = os.path.join(src, "tools", "torch_fixture.py")
python = sys.executable


def run(cmd, what):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = (r.stdout + r.stderr).splitlines()
    bad = [l for l in lines if not l.startswith("PASS") and l.strip()]
    print(f"{what}: exit {r.returncode}, {sum(l.startswith('PASS') for l in lines)} PASS lines")
    for l in bad[:20]:
        print("   ", l)
    return r.returncode


try:
    import torch  # noqa: F401
except ImportError:
    print("python3-torch is missing: the cross-check cannot run (tools/install-deps.sh --test installs it)")
    sys.exit(1)

status = 0
# The corpus the gate embeds (cli/CMakeLists.txt), every expect PyTorch's: torch replays it as recorded.
corpus = [os.path.join(src, "corpus", d) for d in ("tutorial", "examples", "semantics", "nonfinite", "second_order")]
status |= run([python, torch_fixture, "replay", *corpus], "torch replays the gate's embedded corpus")
with tempfile.TemporaryDirectory() as tmp:
    for dtype, seed in (("float64", 1000), ("float32", 2000)):
        out = os.path.join(tmp, "engine-" + dtype)
        status |= run([exe, "generate", "--all", "--programs", str(n // 2), "--seed", str(seed), "--dtype", dtype,
                       "--out", out], f"gradoracle generate ({dtype})")
        status |= run([python, torch_fixture, "replay", out], f"torch replays the engine's {dtype} fixtures")
        # Every op's reference inputs (kinks with their pinned subgradient, ties, large magnitudes):
        # what the gate holds the engine to, held against PyTorch.
        refs = os.path.join(tmp, "references-" + dtype)
        status |= run([exe, "generate", "--references", "--dtype", dtype, "--out", refs],
                      f"gradoracle generate --references ({dtype})")
        status |= run([python, torch_fixture, "replay", refs], f"torch replays the {dtype} reference inputs")
    for dtype, seed in (("float64", 3000), ("float32", 4000)):
        out = os.path.join(tmp, "torch-" + dtype)
        # A quarter of them second order: a grad_of with create_graph, then a backward of a function of its result.
        status |= run([python, torch_fixture, "random-programs", str(n // 2), "--seed", str(seed), "--dtype", dtype,
                       "--second-order", "0.25", "--out", out], f"torch_fixture.py random-programs ({dtype})")
        status |= run([exe, "replay", out], f"gradoracle replays torch's {dtype} fixtures")
        status |= run([exe, "gradcheck", out], f"gradoracle gradchecks torch's {dtype} fixtures")
sys.exit(1 if status else 0)
