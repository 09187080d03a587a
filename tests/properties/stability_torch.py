#!/usr/bin/env python3
"""The stability promises the registry declares (OpSpec::stability: finite values and grads at
the declared magnitudes) hold in PyTorch 1.13: every large-magnitude case the gate's stability
property draws, written by stability_cases, runs in torch (tools/torch_fixture.py's engine) with
finite values and grads wherever the op's value is defined at all (a mean over no elements is
NaN at any magnitude: the property skips those too).

usage: stability_torch.py STABILITY_CASES SOURCE_DIR"""
import math
import subprocess
import sys
import tempfile
from pathlib import Path

exe, src = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, str(src / "tools"))
import torch  # noqa: E402,F401
from torch_side.parse import load_fixture  # noqa: E402
from torch_side.run import execute  # noqa: E402


def finite(t):
    return t is None or bool(torch.isfinite(t).all())


with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([exe, tmp], check=True, capture_output=True, text=True)
    files = sorted(Path(tmp).glob("*.json"))
    bad, skipped = [], 0
    for file in files:
        fx = load_fixture(file)
        outcome = execute(fx)
        if outcome.failures:
            bad.append(f"{fx.name}: {outcome.failures[0].message}")
            continue
        env = outcome.env
        if any(t.numel() == 0 for t in env.values()) and not all(finite(t.detach()) for t in env.values()):
            skipped += 1  # an op over no elements (mean): undefined at every magnitude
            continue
        for name, t in env.items():
            if not finite(t.detach()):
                bad.append(f"{fx.name}: {name} is not finite in torch")
            elif t.requires_grad and t.is_leaf and not finite(t.grad):
                bad.append(f"{fx.name}: the grad of {name} is not finite in torch")
    print(f"{len(files)} stability cases run in torch, {skipped} over no elements, {len(bad)} not finite")
    for line in bad[:20]:
        print("   ", line)
    if not files or bad:
        sys.exit(1)
